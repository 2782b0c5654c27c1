"""What clients and backends observe through ALB for well-formed traffic:
forwarding headers, hop-by-hop handling, keep-alive, pipelining, HEAD,
1xx, HTTP/1.0, upstream pooling and ALB's own responses."""
import http.client
import json
import socket
import subprocess

from conftest import free_port, raw_exchange, read_response, simple_config


def get_json(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, json.loads(body)


def header(seen, name):
    return [v for k, v in seen["headers"] if k.lower() == name.lower()]


def test_forwarding_headers_added(alb, backend):
    r, seen = get_json(alb.port, "/echo?q=1", {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "6.6.6.6",
                                                "X-Forwarded-Proto": "https", "X-Forwarded-Port": "1"})
    assert r.status == 200
    assert seen["target"] == "/echo?q=1"
    assert header(seen, "X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"]
    assert header(seen, "X-Real-IP") == ["127.0.0.1"]
    assert header(seen, "X-Forwarded-Proto") == ["http"]
    assert header(seen, "X-Forwarded-Host") == [f"127.0.0.1:{alb.port}"]
    assert header(seen, "X-Forwarded-Port") == [str(alb.port)]
    assert header(seen, "Host") == [f"127.0.0.1:{alb.port}"]
    rid = header(seen, "X-Request-ID")
    assert len(rid) == 1 and len(rid[0]) == 32 and int(rid[0], 16) >= 0


def test_forwarding_settings_of_the_listener(start_alb, backend):
    """ALB's xForwardedForConfig, as the listener's "forwarding": a header
    that is on replaces what the client sent; one that is off passes as
    sent; SLB-ID and the client's source port are added when asked."""
    port = free_port()
    a = start_alb(simple_config(port, {"web": [backend]}, forwarding={
        "x_forwarded_for": "remove", "x_forwarded_proto": False, "x_forwarded_host": False,
        "x_forwarded_client_srcport": True, "slb_id": "lb-1"}))
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n"
              b"X-Forwarded-Host: spoofed\r\nSLB-ID: spoofed\r\nX-Forwarded-Client-srcport: 1\r\n\r\n")
    status, _, body, _ = read_response(s)
    seen = json.loads(body)
    assert status == 200
    assert header(seen, "X-Forwarded-For") == []
    assert header(seen, "X-Forwarded-Proto") == ["https"]      # off: as the client sent it
    assert header(seen, "X-Forwarded-Host") == ["spoofed"]
    assert header(seen, "X-Forwarded-Port") == [str(port)]     # on by default
    assert header(seen, "X-Real-IP") == ["127.0.0.1"]
    assert header(seen, "SLB-ID") == ["lb-1"]
    assert header(seen, "X-Forwarded-Client-srcport") == [str(s.getsockname()[1])]
    s.close()
    cfg = json.loads(a.admin_get("/config")[1])
    assert cfg["listeners"][0]["forwarding"] == {
        "x_forwarded_for": "remove", "x_forwarded_proto": False, "x_forwarded_port": True,
        "x_forwarded_host": False, "x_real_ip": True, "x_forwarded_client_srcport": True, "slb_id": "lb-1"}

    # keep: X-Forwarded-For passes untouched, no address appended
    cfg["listeners"][0]["forwarding"] = {"x_forwarded_for": "keep"}
    del cfg["generation"]
    a.write_config(cfg)
    a.wait_generation(2)
    r, seen = get_json(port, "/echo", {"X-Forwarded-For": "203.0.113.7"})
    assert header(seen, "X-Forwarded-For") == ["203.0.113.7"]
    assert header(seen, "X-Forwarded-Proto") == ["http"]


def test_request_id_kept_and_xff_fields_joined(alb):
    req = (b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Request-ID: abc-123\r\nX-Forwarded-For: 1.1.1.1\r\n"
           b"X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\nConnection: close\r\n\r\n")
    out, closed = raw_exchange(alb.port, req)
    body = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert header(body, "X-Request-ID") == ["abc-123"]
    assert header(body, "X-Forwarded-For") == ["1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"]
    assert closed


def test_hop_by_hop_headers_removed(alb):
    req = (b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\n"
           b"Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(req)
    status, headers, body, _ = read_response(s)
    s.close()
    seen = json.loads(body)
    names = {k.lower() for k, _ in seen["headers"]}
    assert status == 200
    assert not names & {"connection", "x-private", "keep-alive", "te", "proxy-connection"}
    assert header(seen, "X-Kept") == ["yes"]


def test_date_and_server_added_content_length_kept(alb):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers, body, _ = read_response(s)
    s.close()
    assert status == 200
    assert headers["server"] == ["alb"]
    assert len(headers["date"]) == 1 and headers["date"][0].endswith("GMT")
    assert headers["content-length"] == [str(len(body))]
    assert "transfer-encoding" not in headers
    assert body == b"hello from b1 /hello\n"


def test_keepalive_and_pipelining_answer_in_order(alb, backend):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    reqs = b"".join(f"GET /p{i} HTTP/1.1\r\nHost: a\r\n\r\n".encode() for i in range(5))
    s.sendall(reqs)
    rest = b""
    for i in range(5):
        status, headers, body, rest = read_response(s, rest)
        assert status == 200
        assert body == f"hello from b1 /p{i}\n".encode()
    # the same connection still serves, and the upstream connection was reused
    s.sendall(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, body, _ = read_response(s, rest)
    assert body == b"hello from b1 /again\n"
    s.close()
    assert backend.rec.connections == 1


def test_head_204_304_have_no_body(alb):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"HEAD /download?n=100 HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers, body, rest = read_response(s, head_request=True)
    assert status == 200 and headers["content-length"] == ["100"] and body == b""
    for code in (204, 304):
        s.sendall(f"GET /status?code={code} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        status, headers, body, rest = read_response(s, rest)
        assert status == code and body == b""
    # after bodiless responses the connection is still in sync
    s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, body, rest = read_response(s, rest)
    assert status == 200 and body == b"hello from b1 /x\n" and rest == b""
    s.close()


def test_interim_responses_forwarded(alb):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"GET /interim HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers, _, rest = read_response(s)
    assert status == 103 and headers["link"] == ["</s.css>; rel=preload"]
    status, _, body, _ = read_response(s, rest)
    assert status == 200 and body == b"final"
    s.close()


def test_expect_100_continue(alb):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"PUT /continue HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
    status, _, _, rest = read_response(s)
    assert status == 100
    s.sendall(b"hello world")
    status, _, body, _ = read_response(s, rest)
    assert status == 200 and body == b"11"
    s.close()


def test_curl_expect_continue_upload(alb, tmp_path):
    f = tmp_path / "up.bin"
    f.write_bytes(b"z" * 200000)
    out = subprocess.run(["curl", "-s", "-T", str(f), f"http://127.0.0.1:{alb.port}/continue"],
                         capture_output=True, timeout=20)
    assert out.stdout == b"200000"


def test_http10_client(alb):
    out, closed = raw_exchange(alb.port, b"GET /hello HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nConnection: close\r\n" in out
    assert out.endswith(b"hello from b1 /hello\n") and closed


def test_http10_keepalive(alb):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, headers, body, rest = read_response(s)
    assert headers["connection"] == ["keep-alive"] and body == b"hello from b1 /a\n"
    s.sendall(b"GET /b HTTP/1.0\r\n\r\n")
    status, headers, body, rest = read_response(s, rest)
    assert headers["connection"] == ["close"]
    s.close()


def test_chunked_response_to_http10_is_dechunked(alb):
    out, closed = raw_exchange(alb.port, b"GET /chunked HTTP/1.0\r\n\r\n")
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding" not in head
    assert body == b"hello world" and closed


def test_chunked_response_and_trailers_pass_through(alb):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers, body, _ = read_response(s)
    assert body == b"hello world"
    assert headers["_trailers"] == ["X-Checksum: 42"]
    s.close()


def test_chunked_request_body_streams(alb, backend):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(10):
        s.sendall(b"400\r\n" + b"a" * 1024 + b"\r\n")
    s.sendall(b"0\r\nX-Sum: 1\r\n\r\n")
    status, _, body, _ = read_response(s)
    assert status == 200 and body == b"10240"
    s.close()


def test_close_delimited_response(alb):
    out, closed = raw_exchange(alb.port, b"GET /close-delimited HTTP/1.1\r\nHost: a\r\n\r\n")
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"Connection: close" in head and body == b"until close" and closed


def test_absolute_form_becomes_origin_form(alb, backend):
    req = b"GET http://Example.com/echo?x HTTP/1.1\r\nHost: ignored\r\nConnection: close\r\n\r\n"
    out, _ = raw_exchange(alb.port, req)
    seen = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert seen["target"] == "/echo?x"
    assert header(seen, "Host") == ["Example.com"]


def test_backend_sees_target_as_sent_routing_uses_normalised_path(start_alb, backend, backend2):
    rules = [{"match": {"path": {"type": "Prefix", "value": "/api"}}, "actions": [{"type": "forward", "backend": "api"}]},
             {"match": {"path": {"type": "Prefix", "value": "/"}}, "actions": [{"type": "forward", "backend": "web"}]}]
    a = start_alb(simple_config(free_port(), {"web": [backend], "api": [backend2]}, rules))
    out, _ = raw_exchange(a.port, b"GET /x/../%61pi/./v HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert b"X-Backend: b2" in out
    assert backend2.requests[-1][1] == "/x/../%61pi/./v"
    out, _ = raw_exchange(a.port, b"GET /api/../other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert b"X-Backend: b1" in out


def test_host_routing_and_404(start_alb, backend, backend2):
    rules = [{"match": {"hosts": ["foo.example.com"], "path": {"type": "Prefix", "value": "/"}},
              "actions": [{"type": "forward", "backend": "foo"}]},
             {"match": {"path": {"type": "Exact", "value": "/only"}}, "actions": [{"type": "forward", "backend": "any"}]}]
    a = start_alb(simple_config(free_port(), {"foo": [backend], "any": [backend2]}, rules))
    out, _ = raw_exchange(a.port, b"GET /x HTTP/1.1\r\nHost: FOO.example.com:80\r\nConnection: close\r\n\r\n")
    assert b"X-Backend: b1" in out
    out, _ = raw_exchange(a.port, b"GET /only HTTP/1.1\r\nHost: bar\r\nConnection: close\r\n\r\n")
    assert b"X-Backend: b2" in out
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"GET /nothing HTTP/1.1\r\nHost: bar\r\n\r\n")
    status, headers, body, _ = read_response(s)
    assert status == 404 and headers["server"] == ["alb"] and "date" in headers
    assert headers["content-length"] == [str(len(body))]
    # a 404 without a body keeps the connection
    s.sendall(b"GET /only HTTP/1.1\r\nHost: bar\r\n\r\n")
    status, _, _, _ = read_response(s)
    assert status == 200
    s.close()


def test_round_robin_across_endpoints(start_alb, backend, backend2):
    a = start_alb(simple_config(free_port(), {"web": [backend, backend2]}), workers=1)
    seen = set()
    for _ in range(4):
        out, _ = raw_exchange(a.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        seen.add(out.split(b"X-Backend: ")[1][:2])
    assert seen == {b"b1", b"b2"}


def test_refused_upstream_is_502(start_alb):
    dead = free_port()
    a = start_alb(simple_config(free_port(), {"web": [dead]}))
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers, body, _ = read_response(s)
    assert status == 502 and headers["server"] == ["alb"]
    s.close()


def test_backend_without_endpoints_is_503(start_alb):
    cfg = simple_config(free_port(), {"web": []})
    a = start_alb(cfg)
    out, _ = raw_exchange(a.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 503 ")


def test_malformed_upstream_response_is_502_and_not_reused(alb, backend):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"GET /malformed HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, _, rest = read_response(s)
    assert status == 502
    s.sendall(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, body, _ = read_response(s, rest)
    assert status == 200 and body == b"hello from b1 /ok\n"
    s.close()
    assert backend.rec.connections == 2


def test_upstream_response_timeout_is_504(start_alb, backend):
    cfg = simple_config(free_port(), {"web": [backend]}, backend_timeouts={"response_ms": 300})
    a = start_alb(cfg)
    out, closed = raw_exchange(a.port, b"GET /slow?ms=3000 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 504 ") and closed


def test_upstream_connect_timeout_is_504(start_alb):
    # A listener that never accepts, with its backlog full: further SYNs are
    # dropped, so connecting to it hangs.
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(0)
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(trap.getsockname())
        except BlockingIOError:
            pass
        fillers.append(f)
    try:
        cfg = simple_config(free_port(), {"web": [trap.getsockname()[1]]}, backend_timeouts={"connect_ms": 300})
        a = start_alb(cfg)
        out, _ = raw_exchange(a.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", timeout=10)
        assert out.startswith(b"HTTP/1.1 504 ")
    finally:
        for f in fillers:
            f.close()
        trap.close()


def test_early_response_closes_connection(alb):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + b"a" * 1000)
    status, headers, body, rest = read_response(s)
    assert status == 200 and body == b"early"
    assert headers["connection"] == ["close"]
    s.close()


def test_request_retried_once_when_pooled_connection_was_dropped(alb, backend):
    """A reused upstream connection closed by the server before answering:
    a request whose body has not left is sent again on a fresh connection.
    One client connection, so both requests are served by the same worker
    and therefore the same upstream pool."""
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    for _ in range(2):
        s.sendall(b"GET /drop-second HTTP/1.1\r\nHost: a\r\n\r\n")
        status, _, body, _ = read_response(s)
        assert status == 200 and body == b"hello from b1 /drop-second\n"
    s.close()
    assert backend.rec.dropped == 1
    assert backend.rec.connections == 2


def test_request_with_sent_body_not_retried(alb, backend):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"POST /drop-second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
    assert read_response(s)[0] == 200
    s.sendall(b"POST /drop-second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
    assert read_response(s)[0] == 502
    s.close()
    assert backend.rec.dropped == 1


def test_endpoints_not_ready_get_no_requests(start_alb, backend, backend2):
    cfg = simple_config(free_port(), {"web": [backend, backend2]})
    cfg["backends"][0]["endpoints"][0]["ready"] = False
    a = start_alb(cfg)
    assert {raw_exchange(a.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")[0].split(b"X-Backend: ")[1][:2]
            for _ in range(8)} == {b"b2"}
    assert backend.requests == []
    cfg["backends"][0]["endpoints"][1]["ready"] = False
    tmp = a.config_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cfg))
    import os
    os.replace(tmp, a.config_path)
    a.wait_generation(2)
    out, _ = raw_exchange(a.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 503 ")
