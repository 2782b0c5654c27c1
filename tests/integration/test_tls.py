"""HTTPS listeners: TLS termination with real clients (Python's ssl,
openssl s_client, curl): certificate selection by SNI, the generated
default certificate, ALB's TLS policies, ALPN, session resumption across
workers, what backends see, HSTS, and certificates rotated under load
without a failed request or a closed connection."""
import json
import socket
import ssl
import subprocess
import threading
import time

import pytest

from backend import Backend
from conftest import free_port, read_response, simple_config


def make_cert(d, name, cn, sans):
    """A self-signed certificate (it is its own trust anchor) and key."""
    crt, key = d / f"{name}.crt", d / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", "30", "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans)],
                   check=True, capture_output=True)
    return {"name": name, "cert_pem": crt.read_text(), "key_pem": key.read_text(), "file": str(crt)}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    return {"foo": make_cert(d, "foo", "foo.bar.com", ["foo.bar.com", "*.wild.com"]),
            "other": make_cert(d, "other", "b.example.com", ["b.example.com"]),
            "foo2": make_cert(d, "foo2", "foo.bar.com", ["foo.bar.com"])}


def tls_listener(certs, default=None, policy=None, hsts=None):
    tls = {"certificates": [{k: c[k] for k in ("name", "cert_pem", "key_pem")} for c in certs]}
    for key, value in (("default_certificate", default), ("policy", policy), ("hsts", hsts)):
        if value:
            tls[key] = value
    return {"protocol": "HTTPS", "tls": tls}


def start_https(start_alb, backend, certs, **kw):
    port = free_port()
    cfg = simple_config(port, {"web": [backend]})
    cfg["listeners"][0].update(tls_listener(certs, **kw))
    return start_alb(cfg)


def client_ctx(cafile=None, **kw):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def peer_cn(port, server_name, ctx=None):
    """The CN of the certificate served for <server_name> (None: no SNI)."""
    ctx = ctx or client_ctx()
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            der = s.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der, capture_output=True,
                         check=True).stdout.decode()
    return out.split("CN = ", 1)[1].strip() if "CN = " in out else out.strip()


def https_get(port, host, path="/echo", cafile=None):
    """(status, headers, body) of GET <path> with SNI and Host <host>;
    with <cafile>, the certificate must verify for <host>."""
    ctx = client_ctx(cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status, headers, body, _ = read_response(s)
    return status, headers, body


def test_sni_selects_exact_then_wildcard_then_default(start_alb, backend, certs):
    a = start_https(start_alb, backend, [certs["foo"], certs["other"]], default="other")
    assert peer_cn(a.port, "foo.bar.com") == "foo.bar.com"
    assert peer_cn(a.port, "FOO.bar.com") == "foo.bar.com"          # case does not matter
    assert peer_cn(a.port, "x.wild.com") == "foo.bar.com"           # one label under the wildcard
    assert peer_cn(a.port, "a.b.wild.com") == "b.example.com"       # two labels: not the wildcard
    assert peer_cn(a.port, "wild.com") == "b.example.com"
    assert peer_cn(a.port, None) == "b.example.com"                 # no SNI: the default
    # the certificate served verifies for the conformance host, end to end
    status, _, body = https_get(a.port, "foo.bar.com", cafile=certs["foo"]["file"])
    seen = json.loads(body)
    assert status == 200
    assert dict((k.lower(), v) for k, v in seen["headers"])["x-forwarded-proto"] == "https"


def test_generated_default_certificate_and_no_hsts_for_it(start_alb, backend, certs):
    a = start_https(start_alb, backend, [], hsts="max-age=31536000; includeSubDomains")
    assert peer_cn(a.port, "anything.example") == "ALB default certificate"
    status, headers, _ = https_get(a.port, "anything.example")
    assert status == 200 and "strict-transport-security" not in headers
    a2 = start_https(start_alb, backend, [certs["foo"]], hsts="max-age=31536000; includeSubDomains")
    status, headers, _ = https_get(a2.port, "foo.bar.com", cafile=certs["foo"]["file"])
    assert headers["strict-transport-security"] == ["max-age=31536000; includeSubDomains"]


def handshake(port, **kw):
    ctx = client_ctx()
    ctx.check_hostname = False
    for k, v in kw.items():
        setattr(ctx, k, v)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="foo.bar.com") as s:
            return s.version(), s.selected_alpn_protocol()


def test_policies(start_alb, backend, certs):
    a = start_https(start_alb, backend, [certs["foo"]], policy="tls_cipher_policy_1_2")
    assert handshake(a.port)[0] == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        handshake(a.port, minimum_version=ssl.TLSVersion.TLSv1_3)
    b = start_https(start_alb, backend, [certs["foo"]], policy="tls_cipher_policy_1_2_strict_with_1_3")
    assert handshake(b.port)[0] == "TLSv1.3"
    # ALB's default policy, 1_0: TLS 1.0 to 1.2, never 1.3
    c = start_https(start_alb, backend, [certs["foo"]])
    assert handshake(c.port)[0] == "TLSv1.2"
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{c.port}", "-tls1", "-cipher",
                          "DEFAULT:@SECLEVEL=0", "-servername", "foo.bar.com"], input=b"", capture_output=True,
                         timeout=10)
    assert b"Protocol  : TLSv1\n" in out.stdout or b"TLSv1, Cipher" in out.stdout, out.stdout[-600:]
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{b.port}", "-tls1_1", "-cipher",
                          "DEFAULT:@SECLEVEL=0"], input=b"", capture_output=True, timeout=10)
    assert b"Cipher is (NONE)" in out.stdout or out.returncode != 0   # 1_2_strict_with_1_3 refuses TLS 1.1


def test_alpn_prefers_h2_and_takes_http11(start_alb, backend, certs):
    a = start_https(start_alb, backend, [certs["foo"]])
    ctx = client_ctx()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="foo.bar.com") as s:
            assert s.selected_alpn_protocol() == "h2"
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="foo.bar.com") as s:
            assert s.selected_alpn_protocol() == "http/1.1"
    out = subprocess.run(["curl", "-sk", "--http1.1", "--resolve", f"foo.bar.com:{a.port}:127.0.0.1",
                          f"https://foo.bar.com:{a.port}/x", "-o", "/dev/null", "-w", "%{http_code}"],
                         capture_output=True, timeout=10)
    assert out.stdout == b"200"


def test_sessions_resume_across_workers(start_alb, backend, certs):
    """Tickets are sealed with keys every worker shares: each of 20 new
    connections (spread over both workers by SO_REUSEPORT) resumes, and
    gets a new ticket for the next."""
    a = start_https(start_alb, backend, [certs["foo"]], policy="tls_cipher_policy_1_2_strict_with_1_3")
    ctx = client_ctx()
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="foo.bar.com") as s:
            s.sendall(b"GET /x HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
            read_response(s)  # TLS 1.3 tickets arrive after the handshake
            session = s.session
    resumed = renewed = 0
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="foo.bar.com", session=session) as s:
                resumed += s.session_reused
                s.sendall(b"GET /x HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
                read_response(s)
                # a resumed handshake brings a new ticket: TLS 1.3 clients use one once
                renewed += s.session.id != session.id
                session = s.session
    assert resumed == 20 and renewed == 20


def test_invalid_certificate_refuses_the_version(start_alb, backend, certs):
    a = start_https(start_alb, backend, [certs["foo"]])
    cfg = json.loads(a.config_path.read_text())
    cfg["listeners"][0]["tls"]["certificates"][0]["key_pem"] = certs["other"]["key_pem"]
    a.write_config(cfg)
    deadline = time.monotonic() + 10
    while "does not match" not in a.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    log = a.log_path.read_text()
    assert "listeners[0].tls.certificates[0] (foo): the private key does not match the certificate" in log
    assert peer_cn(a.port, "foo.bar.com") == "foo.bar.com"   # the serving version stays


def test_plain_http_to_tls_port_is_closed_and_others_served(start_alb, backend, certs):
    a = start_https(start_alb, backend, [certs["foo"]])
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not a TLS record: an alert, then the close
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    s.close()
    assert https_get(a.port, "foo.bar.com", cafile=certs["foo"]["file"])[0] == 200


def test_certificate_rotated_under_load(start_alb, backend, certs):
    """Keep-alive clients loop over requests while the certificate changes:
    no request fails, no connection is closed, and new handshakes get the
    new certificate."""
    a = start_https(start_alb, backend, [certs["foo"]])
    stop = threading.Event()
    results = {"ok": 0, "failed": 0, "reconnects": 0}
    lock = threading.Lock()

    def client():
        ctx = client_ctx()
        ctx.check_hostname = False
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", a.port), timeout=10), server_hostname="foo.bar.com")
        buf = b""
        n = 0
        while not stop.is_set() and n < 5000:
            n += 1
            try:
                s.sendall(b"GET /x HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
                status, headers, _, buf = read_response(s, buf)
                ok = status == 200 and "close" not in headers.get("connection", [""])[0]
            except (OSError, ConnectionError):
                ok = False
            with lock:
                results["ok" if ok else "failed"] += 1
            if not ok:
                return
        s.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    while results["ok"] < 200:
        time.sleep(0.01)
    cfg = json.loads(a.config_path.read_text())
    cfg["listeners"][0]["tls"]["certificates"][0].update({"cert_pem": certs["foo2"]["cert_pem"],
                                                          "key_pem": certs["foo2"]["key_pem"]})
    a.write_config(cfg)
    a.wait_generation(2)
    before = results["ok"]
    while results["ok"] < before + 200 and all(t.is_alive() for t in threads):
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(30)
    assert results["failed"] == 0 and results["ok"] >= before + 200
    # new handshakes get the new certificate: foo2 names foo.bar.com only
    ctx = client_ctx(certs["foo2"]["file"])
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="foo.bar.com") as s:
            assert s.getpeercert()["subjectAltName"] == (("DNS", "foo.bar.com"),)


def test_https_backend(start_alb, certs):
    """A backend with "protocol": "https": ALB speaks TLS to it, with the
    request's host as SNI, and pools the connection."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["foo"]["file"], certs["foo"]["file"].replace(".crt", ".key"))
    b = Backend("tls-backend", tls=ctx)
    try:
        port = free_port()
        cfg = simple_config(port, {"web": [b]})
        cfg["backends"][0]["protocol"] = "https"
        a = start_alb(cfg, workers=1)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        for _ in range(3):
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: foo.bar.com:8080\r\n\r\n")
            status, headers, body, _ = read_response(s)
            assert status == 200 and headers["x-backend"] == ["tls-backend"]
        s.close()
        assert b.sni == ["foo.bar.com"]          # one handshake: the connection was reused
        assert b.rec.connections == 1
        assert json.loads(a.admin_get("/config")[1])["backends"][0]["protocol"] == "https"
    finally:
        b.stop()


def make_ca_and_client(d, name):
    """A CA, and a client certificate it signed: (ca_file, client_cert_file, client_key_file)."""
    ca_key, ca_crt = d / f"{name}-ca.key", d / f"{name}-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "30", "-subj", f"/CN={name} CA"],
                   check=True, capture_output=True)
    key, csr, crt = d / f"{name}-client.key", d / f"{name}-client.csr", d / f"{name}-client.crt"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(csr), "-subj", f"/O=Acme/CN={name} client"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                    "-CAcreateserial", "-out", str(crt), "-days", "30"], check=True, capture_output=True)
    return str(ca_crt), str(crt), str(key)


def mtls_get(port, cert=None, key=None, headers=b""):
    ctx = client_ctx()
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="foo.bar.com") as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: foo.bar.com\r\n" + headers + b"\r\n")
            status, _, body, _ = read_response(s)
    seen = json.loads(body)
    return status, {k.lower(): v for k, v in seen["headers"]}


def test_client_certificates(start_alb, backend, certs, tmp_path):
    ca, client, client_key = make_ca_and_client(tmp_path, "good")
    _, stranger, stranger_key = make_ca_and_client(tmp_path, "other")
    ca_pem = open(ca).read()

    def start(verify, **extra):
        port = free_port()
        cfg = simple_config(port, {"web": [backend]})
        cfg["listeners"][0].update(tls_listener([certs["foo"]], policy="tls_cipher_policy_1_2"))
        cfg["listeners"][0]["tls"]["client_auth"] = {"verify": verify, "ca_pem": ca_pem, **extra}
        cfg["listeners"][0]["forwarding"] = {"client_cert_subject_dn": "X-Forwarded-Clientcert-subjectdn",
                                             "client_cert_fingerprint": "X-Forwarded-Clientcert-fingerprint"}
        return start_alb(cfg)

    on = start("on", pass_certificate=True)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        mtls_get(on.port)                                            # none sent: refused
    with pytest.raises((ssl.SSLError, ConnectionError)):
        mtls_get(on.port, stranger, stranger_key)                    # another CA: refused
    status, h = mtls_get(on.port, client, client_key, b"ssl-client-verify: SPOOFED\r\n")
    assert status == 200 and h["ssl-client-verify"] == "SUCCESS"     # the client's own header is dropped
    assert h["ssl-client-subject-dn"] == "CN=good client,O=Acme"
    assert h["ssl-client-issuer-dn"] == "CN=good CA"
    assert h["x-forwarded-clientcert-subjectdn"] == "CN=good client,O=Acme"
    fp = subprocess.run(["openssl", "x509", "-in", client, "-noout", "-fingerprint", "-sha1"], capture_output=True,
                        text=True).stdout.split("=", 1)[1].strip().replace(":", "").lower()
    assert h["x-forwarded-clientcert-fingerprint"] == fp
    assert "BEGIN%20CERTIFICATE" in h["ssl-client-cert"]

    optional = start("optional")
    assert mtls_get(optional.port)[1]["ssl-client-verify"] == "NONE"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        mtls_get(optional.port, stranger, stranger_key)
    assert "ssl-client-cert" not in mtls_get(optional.port, client, client_key)[1]

    no_ca = start("optional_no_ca")
    verdict = mtls_get(no_ca.port, stranger, stranger_key)[1]["ssl-client-verify"]
    assert verdict.startswith("FAILED:")

    # without client certificates, nobody can claim one
    plain = start_https(start_alb, backend, [certs["foo"]])
    status, h = mtls_get(plain.port, headers=b"ssl-client-verify: SUCCESS\r\nssl-client-subject-dn: CN=admin\r\n")
    assert status == 200 and "ssl-client-verify" not in h and "ssl-client-subject-dn" not in h
