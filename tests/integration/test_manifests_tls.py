"""HTTPS from Kubernetes objects, through the binary in standalone mode:
certificates from the Secrets an Ingress's spec.tls names (or discovered
by the names a certificate is valid for), the AlbConfig's default
certificate, HSTS, redirects on the HTTP listener only, and Secrets
changed live: a rotated certificate serves new handshakes without closing
a connection, and a Secret made invalid keeps its last good certificate."""
import base64
import json
import socket
import ssl
import textwrap

import pytest

from conftest import free_port, read_response
from test_manifests import ingress, ingress_class, path, replace, service
from test_tls import client_ctx, https_get, make_ca_and_client, make_cert, peer_cn


def albconfig(http_port, https_port):
    return textwrap.dedent(f"""\
        apiVersion: alibabacloud.com/v1
        kind: AlbConfig
        metadata: {{name: lb}}
        spec:
          listeners:
            - {{port: {http_port}, protocol: HTTP}}
            - port: {https_port}
              protocol: HTTPS
              securityPolicyId: tls_cipher_policy_1_2_strict_with_1_3
              certificates: [{{CertificateId: fallback, IsDefault: true}}]
        ---
        """) + ingress_class("lb")


def secret(name, cert, ns="default", key=None):
    b64 = lambda t: base64.b64encode(t.encode()).decode()
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Secret
        metadata: {{name: {name}, namespace: {ns}}}
        type: kubernetes.io/tls
        data:
          tls.crt: {b64(cert["cert_pem"])}
          tls.key: {b64(key or cert["key_pem"])}
        """)


def test_https_from_manifests(tmp_path, start_alb, backend):
    certs = tmp_path / "certs"
    certs.mkdir()
    foo = make_cert(certs, "foo", "foo.bar.com", ["foo.bar.com"])
    foo2 = make_cert(certs, "foo2", "foo.bar.com", ["foo.bar.com"])
    wild = make_cert(certs, "wild", "*.wild.org", ["*.wild.org"])
    fallback = make_cert(certs, "fallback", "fallback.example", ["fallback.example"])
    d = tmp_path / "m"
    d.mkdir()
    http_port, https_port = free_port(), free_port()
    (d / "00-lb.yaml").write_text(albconfig(http_port, https_port))
    (d / "10-svc.yaml").write_text(service("s1", backend.port))
    (d / "20-secrets.yaml").write_text(secret("foo-tls", foo) + "---\n" + secret("wild", wild, ns="elsewhere") +
                                       "---\n" + secret("fallback", fallback))
    (d / "30-ing.json").write_text(ingress("web", [{"host": "foo.bar.com", "http": {"paths": [path("/", "s1")]}},
                                                   {"host": "a.wild.org", "http": {"paths": [path("/", "s1")]}}],
                                           annotations={"nginx.ingress.kubernetes.io/proxy-read-timeout": "30"},
                                           tls=[{"hosts": ["foo.bar.com"], "secretName": "foo-tls"},
                                                {"hosts": ["a.wild.org"]}]))
    a = start_alb(manifests=d, port=http_port)
    a.dir = d

    # certificates by SNI: named, discovered in another namespace, the AlbConfig's default
    assert peer_cn(https_port, "foo.bar.com") == "foo.bar.com"
    assert peer_cn(https_port, "a.wild.org") == "*.wild.org"
    assert peer_cn(https_port, "unknown.example") == "fallback.example"
    status, headers, body = https_get(https_port, "foo.bar.com", "/x", cafile=foo["file"])
    assert status == 200 and headers["x-backend"] == ["b1"]
    assert headers["strict-transport-security"] == ["max-age=31536000; includeSubDomains"]
    # an Ingress written for nginx redirects its TLS hosts from HTTP, as ingress-nginx does
    s = socket.create_connection(("127.0.0.1", http_port), timeout=5)
    s.sendall(b"GET /x?q=1 HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
    status, headers, _, _ = read_response(s)
    s.close()
    assert status == 308 and headers["location"] == ["https://foo.bar.com/x?q=1"]

    # the Secret rotates: a connection opened before stays open and served
    ctx = client_ctx(foo["file"])
    keep = ctx.wrap_socket(socket.create_connection(("127.0.0.1", https_port), timeout=5),
                           server_hostname="foo.bar.com")
    keep.sendall(b"GET /k HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
    assert read_response(keep)[0] == 200
    gen = a.adopted_generation()
    replace(a, "20-secrets.yaml", secret("foo-tls", foo2) + "---\n" + secret("wild", wild, ns="elsewhere") +
            "---\n" + secret("fallback", fallback))
    a.wait_generation(gen + 1)
    assert https_get(https_port, "foo.bar.com", "/x", cafile=foo2["file"])[0] == 200
    keep.sendall(b"GET /k HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
    assert read_response(keep)[0] == 200

    # a Secret made invalid keeps serving its last good certificate, with a warning
    replace(a, "20-secrets.yaml", secret("foo-tls", foo2, key=wild["key_pem"]) + "---\n" +
            secret("wild", wild, ns="elsewhere") + "---\n" + secret("fallback", fallback))
    a.wait_generation(gen + 2)
    assert https_get(https_port, "foo.bar.com", "/x", cafile=foo2["file"])[0] == 200
    assert ("spec.tls[0].secretName: Secret default/foo-tls: the private key does not match the certificate"
            in a.log_path.read_text())
    keep.close()


def test_client_certificates_from_annotations(tmp_path, start_alb, backend):
    """nginx's auth-tls-secret (a CA in a Secret's ca.crt) and
    auth-tls-verify-client on: a client without a certificate from that CA
    gets no TLS; one with it is served, and the backend sees who it is."""
    certs = tmp_path / "certs"
    certs.mkdir()
    site = make_cert(certs, "site", "secure.example.com", ["secure.example.com"])
    ca, client, client_key = make_ca_and_client(certs, "corp")
    d = tmp_path / "m"
    d.mkdir()
    http_port, https_port = free_port(), free_port()
    (d / "00-lb.yaml").write_text(albconfig(http_port, https_port))
    (d / "10-svc.yaml").write_text(service("s1", backend.port))
    ca_secret = textwrap.dedent(f"""\
        apiVersion: v1
        kind: Secret
        metadata: {{name: corp-ca, namespace: default}}
        data: {{ca.crt: {base64.b64encode(open(ca, 'rb').read()).decode()}}}
        """)
    (d / "20-secrets.yaml").write_text(secret("site-tls", site) + "---\n" + ca_secret)
    (d / "30-ing.json").write_text(ingress(
        "secure", [{"host": "secure.example.com", "http": {"paths": [path("/", "s1")]}}],
        annotations={"nginx.ingress.kubernetes.io/auth-tls-secret": "default/corp-ca",
                     "nginx.ingress.kubernetes.io/auth-tls-verify-client": "on"},
        tls=[{"hosts": ["secure.example.com"], "secretName": "site-tls"}]))
    start_alb(manifests=d, port=http_port)
    ctx = client_ctx(site["file"])
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="secure.example.com") as s:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: secure.example.com\r\n\r\n")
                read_response(s)
    ctx.load_cert_chain(client, client_key)
    with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="secure.example.com") as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: secure.example.com\r\n\r\n")
            status, _, body, _ = read_response(s)
    seen = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert status == 200 and seen["ssl-client-verify"] == "SUCCESS"
    assert seen["ssl-client-subject-dn"] == "CN=corp client,O=Acme"
