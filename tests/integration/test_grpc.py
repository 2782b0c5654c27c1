"""gRPC end to end: real gRPC clients and servers (python3-grpcio) with ALB
between them, HTTP/2 on both sides: to the backend in cleartext (protocol
h2c, the GRPC backend protocol) or over TLS with ALPN h2 (h2, GRPCS).
Trailers (grpc-status, trailing metadata), errors, deadlines, streaming
both ways, and ALB's own failures reported as gRPC statuses."""
import queue
import threading
import time

import grpc
import pytest

from conftest import free_port
from grpc_echo import EchoServer
from test_h2 import Client
from test_tls import certs, start_https  # noqa: F401  (the module's certificates)


def grpc_config(port, backend_port, protocol="h2c", listener=None):
    eps = [] if backend_port is None else [{"address": "127.0.0.1", "port": backend_port}]
    lst = {"address": "127.0.0.1", "port": port, "h2c": True,
           "rules": [{"actions": [{"type": "forward", "backend": "g"}]}]}
    lst.update(listener or {})
    return {"version": 1, "listeners": [lst], "backends": [{"name": "g", "protocol": protocol, "endpoints": eps}]}


@pytest.fixture
def echo():
    s = EchoServer()
    yield s
    s.stop()


@pytest.fixture
def channel(start_alb, echo):
    a = start_alb(grpc_config(free_port(), echo.port))
    ch = grpc.insecure_channel(f"127.0.0.1:{a.port}")
    yield ch
    ch.close()


def test_unary_with_trailers_and_errors(channel):
    unary = channel.unary_unary("/echo.Echo/Unary")
    reply, call = unary.with_call(b"hello", timeout=10)
    assert reply == b"hello" and call.code() == grpc.StatusCode.OK
    assert ("x-trailer", "t1") in [(m.key, m.value) for m in call.trailing_metadata()]
    with pytest.raises(grpc.RpcError) as e:
        unary(b"fail", timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and e.value.details() == "no such thing"
    big = bytes(range(256)) * 12000   # 3 MB each way: many flow-control windows
    assert unary(big, timeout=20) == big


def test_streaming_both_ways(channel):
    """Each reply comes before the next message is sent: the call is full
    duplex through ALB, not buffered."""
    chat = channel.stream_stream("/echo.Echo/Chat")
    outbox = queue.Queue()

    def messages():
        while True:
            m = outbox.get(timeout=10)
            if m is None:
                return
            yield m

    replies = chat(messages(), timeout=20)
    for i in range(20):
        outbox.put(f"msg{i}".encode())
        assert next(replies) == f"MSG{i}".encode()
    outbox.put(None)
    assert list(replies) == []
    sink = channel.stream_unary("/echo.Echo/Sink")
    assert sink(iter([b"x" * 1000] * 500), timeout=20) == b"500 500000"


def test_deadline_reaches_the_backend(channel):
    slow = channel.unary_unary("/echo.Echo/Slow")
    with pytest.raises(grpc.RpcError) as e:
        slow(b"3000", timeout=0.3)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert slow(b"10", timeout=10) == b"done"


def test_concurrent_calls_on_one_channel(channel):
    unary = channel.unary_unary("/echo.Echo/Unary")
    results, errors = [], []

    def worker(i):
        try:
            for k in range(20):
                results.append(unary(f"{i}-{k}".encode(), timeout=10) == f"{i}-{k}".encode())
        except grpc.RpcError as e:   # noqa: PERF203
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(results) == 160 and all(results)


def test_albs_own_failures_are_grpc_statuses(start_alb):
    """No endpoint: UNAVAILABLE (14) as a trailers-only response, which
    gRPC clients report as the call's status."""
    a = start_alb(grpc_config(free_port(), None))
    ch = grpc.insecure_channel(f"127.0.0.1:{a.port}")
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/echo.Echo/Unary")(b"x", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "503" in e.value.details()
    ch.close()
    c = Client(a.port)
    status, headers, body = c.get("/echo.Echo/Unary", method="POST", headers=[("content-type", "application/grpc")],
                                  body=b"\x00\x00\x00\x00\x01x")
    assert status == 200 and headers["grpc-status"] == "14" and body == b""
    assert headers["content-type"] == "application/grpc"
    # a plain HTTP/2 request gets the ordinary error page
    status, _, body = c.get("/x")
    assert status == 503 and b"503" in body
    c.close()
    # the metrics count the failures ALB reported as gRPC errors as what they were
    m = a.metrics()
    assert m[f'alb_requests_total{{listener="http-{a.port}",class="5xx"}}'] == 3
    assert m[f'alb_requests_total{{listener="http-{a.port}",class="2xx"}}'] == 0


def test_grpcs_backend_over_tls(start_alb, certs):  # noqa: F811
    srv = EchoServer(cert=certs["foo"]["cert_pem"].encode(), key=certs["foo"]["key_pem"].encode())
    try:
        a = start_alb(grpc_config(free_port(), srv.port, protocol="h2"))
        ch = grpc.insecure_channel(f"127.0.0.1:{a.port}")
        reply, call = ch.unary_unary("/echo.Echo/Unary").with_call(b"over tls", timeout=10)
        assert reply == b"over tls" and call.code() == grpc.StatusCode.OK
        ch.close()
    finally:
        srv.stop()


def test_grpc_client_over_https_listener(start_alb, echo, certs):  # noqa: F811
    a = start_https(start_alb, echo, [certs["foo"]])
    cfg = grpc_config(a.port, echo.port, listener={"protocol": "HTTPS", "h2c": False,
                                                   "tls": {"certificates": [
                                                       {k: certs["foo"][k] for k in ("name", "cert_pem", "key_pem")}]}})
    gen = a.generation()
    a.write_config(cfg)
    a.wait_generation(gen + 1)
    creds = grpc.ssl_channel_credentials(root_certificates=certs["foo"]["cert_pem"].encode())
    ch = grpc.secure_channel(f"127.0.0.1:{a.port}", creds, options=(("grpc.ssl_target_name_override", "foo.bar.com"),))
    assert ch.unary_unary("/echo.Echo/Unary")(b"tls both sides", timeout=10) == b"tls both sides"
    ch.close()


def test_grpc_ingress_from_manifests(tmp_path, start_alb, echo):
    """An Ingress written for ingress-nginx with backend-protocol GRPC,
    unchanged: gRPC clients reach the pods through the HTTPS listener."""
    from test_manifests import ingress, path, service
    from test_manifests_tls import albconfig, secret
    from test_tls import make_cert
    cdir = tmp_path / "certs"
    cdir.mkdir()
    cert = make_cert(cdir, "g", "grpc.example.com", ["grpc.example.com"])
    d = tmp_path / "m"
    d.mkdir()
    http_port, https_port = free_port(), free_port()
    (d / "00-lb.yaml").write_text(albconfig(http_port, https_port))
    (d / "10-svc.yaml").write_text(service("echo", echo.port))
    (d / "20-secret.yaml").write_text(secret("g-tls", cert) + "---\n" + secret("fallback", cert))
    (d / "30-ing.json").write_text(ingress("grpc", [{"host": "grpc.example.com", "http": {"paths": [path("/", "echo")]}}],
                                           annotations={"nginx.ingress.kubernetes.io/backend-protocol": "GRPC"},
                                           tls=[{"hosts": ["grpc.example.com"], "secretName": "g-tls"}]))
    start_alb(manifests=d, port=http_port)
    creds = grpc.ssl_channel_credentials(root_certificates=cert["cert_pem"].encode())
    ch = grpc.secure_channel(f"127.0.0.1:{https_port}", creds,
                             options=(("grpc.ssl_target_name_override", "grpc.example.com"),))
    reply, call = ch.unary_unary("/echo.Echo/Unary").with_call(b"from manifests", timeout=10)
    assert reply == b"from manifests" and ("x-trailer", "t1") in [(m.key, m.value) for m in call.trailing_metadata()]
    ch.close()


class PingingH2Server:
    """A bare HTTP/2 backend (python3-h2) that answers every request with
    "ok" and then PINGs the connection, which ALB has pooled by then."""

    def __init__(self):
        import socket as sk
        self.sock = sk.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections, self.requests, self.ping_acks = 0, 0, 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        import h2.config
        import h2.connection
        import h2.events
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        c.sendall(conn.data_to_send())
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    conn.send_headers(ev.stream_id, [(":status", "200"), ("content-length", "2")])
                    conn.send_data(ev.stream_id, b"ok", end_stream=True)
                    with self.lock:
                        self.requests += 1
                    c.sendall(conn.data_to_send())
                    time.sleep(0.05)           # ALB has pooled the connection by now
                    conn.ping(b"12345678")
                elif isinstance(ev, h2.events.PingAckReceived):
                    with self.lock:
                        self.ping_acks += 1
            c.sendall(conn.data_to_send())

    def stop(self):
        self.sock.close()


def test_pooled_h2_backend_connection_answers_pings(start_alb):
    srv = PingingH2Server()
    try:
        a = start_alb(grpc_config(free_port(), srv.port))
        c = Client(a.port)
        for i in range(3):
            status, _, body = c.get(f"/r{i}")
            assert (status, body) == (200, b"ok")
            deadline = time.monotonic() + 10
            while srv.ping_acks < i + 1:      # the pooled connection answered the PING
                assert time.monotonic() < deadline
                time.sleep(0.01)
        c.close()
        assert srv.connections == 1 and srv.requests == 3
    finally:
        srv.stop()
