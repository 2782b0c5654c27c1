"""Every rule action and condition of the routing engine, as a client and
a backend observe them through the real binary."""
import collections
import json
import socket
import time

from conftest import free_port, raw_exchange, read_response, simple_config


def rule(match=None, actions=None, order=None):
    r = {"match": match or {}, "actions": actions}
    if order is not None:
        r["order"] = order
    return r


def fwd(name):
    return {"type": "forward", "backend": name}


def start(start_alb, rules, backends):
    return start_alb(simple_config(free_port(), backends, rules))


def request(port, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(raw)
    status, headers, body, _ = read_response(s)
    s.close()
    return status, headers, body


def get(port, path, host="a", extra=b""):
    return request(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n" + extra + b"\r\n")


def seen_header(seen, name):
    return [v for k, v in seen["headers"] if k.lower() == name.lower()]


def test_weighted_forward(start_alb, backend, backend2):
    a = start(start_alb, [rule(actions=[{"type": "forward", "backends": [{"name": "one", "weight": 75},
                                                                        {"name": "two", "weight": 25}]}]),
                          ], {"one": [backend], "two": [backend2]})
    counts = collections.Counter(get(a.port, "/")[1]["x-backend"][0] for _ in range(400))
    assert counts["b1"] + counts["b2"] == 400
    assert 230 <= counts["b1"] <= 370, counts  # 300 expected; generous bounds for randomness


def test_weight_zero_group_gets_nothing(start_alb, backend, backend2):
    a = start(start_alb, [rule(actions=[{"type": "forward", "backends": [{"name": "one", "weight": 100},
                                                                        {"name": "two", "weight": 0}]}])],
              {"one": [backend], "two": [backend2]})
    assert {get(a.port, "/")[1]["x-backend"][0] for _ in range(50)} == {"b1"}


def test_redirect_defaults_and_templates(start_alb, backend):
    a = start(start_alb, [
        rule({"path": {"type": "Prefix", "value": "/old"}}, [{"type": "redirect"}]),
        rule({"path": {"type": "Regex", "value": "/docs/(.*)"}},
             [{"type": "redirect", "code": 308, "scheme": "https", "host": "docs.example.com", "path": "/v2/${1}",
               "query": "from=${host}&${query}"}]),
        rule({"path": {"type": "Prefix", "value": "/tls"}}, [{"type": "redirect", "code": 302, "scheme": "https",
                                                             "port": "443"}]),
    ], {"web": [backend]})
    status, headers, body = get(a.port, "/old/page?x=1", host="Shop.Example.com")
    assert status == 301
    assert headers["location"] == [f"http://shop.example.com:{a.port}/old/page?x=1"]
    assert headers["content-length"] == ["0"]
    status, headers, _ = get(a.port, "/docs/guide/intro?lang=en", host="shop.example.com")
    assert status == 308
    # an unset port is ${port}, the listener's (ALB's default), even when the scheme changes
    assert headers["location"] == [f"https://docs.example.com:{a.port}/v2/guide/intro?from=shop.example.com&lang=en"]
    status, headers, _ = get(a.port, "/tls/x", host="h")
    assert status == 302 and headers["location"] == ["https://h/tls/x"]  # default port of the scheme left out
    assert backend.requests == []


def test_fixed_response(start_alb, backend):
    a = start(start_alb, [rule({"path": {"type": "Exact", "value": "/maintenance"}},
                               [{"type": "fixed_response", "status": 503, "content_type": "application/json",
                                 "body": "{\"down\":true}"}]),
                          rule(actions=[fwd("web")])], {"web": [backend]})
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"GET /maintenance HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers, body, rest = read_response(s)
    assert status == 503 and headers["content-type"] == ["application/json"] and body == b'{"down":true}'
    assert headers["server"] == ["alb"]
    s.sendall(b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n")  # keep-alive: the connection goes on
    assert read_response(s, rest)[0] == 200
    s.close()
    assert [r[1] for r in backend.requests] == ["/other"]


def test_rewrite_path_host_query_with_captures(start_alb, backend):
    a = start(start_alb, [
        rule({"path": {"type": "Regex", "value": "/api/(v[0-9]+)/(.*)"}},
             [{"type": "rewrite", "path": "/echo/${2}", "host": "internal.${1}.svc"}, fwd("web")]),
        rule({"path": {"type": "Prefix", "value": "/q"}}, [{"type": "rewrite", "path": "/echo", "query": "a=${query}&b=2"},
                                                           fwd("web")]),
    ], {"web": [backend]})
    status, _, body = get(a.port, "/api/v3/users/7?debug=1", host="pub.example.com")
    seen = json.loads(body)
    assert status == 200
    assert seen["target"] == "/echo/users/7?debug=1"  # the query is kept unless rewritten
    assert seen_header(seen, "Host") == ["internal.v3.svc"]
    assert seen_header(seen, "X-Forwarded-Host") == ["pub.example.com"]
    seen = json.loads(get(a.port, "/q/x?z=9")[2])
    assert seen["target"] == "/echo?a=z=9&b=2"


def test_request_and_response_header_ops(start_alb, backend):
    a = start(start_alb, [rule(actions=[
        {"type": "request_header", "op": "insert", "name": "X-Canary", "value": "1"},
        {"type": "request_header", "op": "replace", "name": "User-Agent", "value": "alb-test"},
        {"type": "request_header", "op": "remove", "name": "X-Secret"},
        {"type": "response_header", "op": "insert", "name": "X-Frame-Options", "value": "DENY"},
        {"type": "response_header", "op": "replace", "name": "X-Backend", "value": "hidden"},
        {"type": "response_header", "op": "remove", "name": "Content-Type"},
        fwd("web")])], {"web": [backend]})
    status, headers, body = get(a.port, "/echo", extra=b"User-Agent: curl\r\nX-Secret: s\r\nX-Canary: 0\r\n")
    seen = json.loads(body)
    assert seen_header(seen, "X-Canary") == ["0", "1"]  # insert keeps what was there
    assert seen_header(seen, "User-Agent") == ["alb-test"]
    assert seen_header(seen, "X-Secret") == []
    assert headers["x-frame-options"] == ["DENY"]
    assert headers["x-backend"] == ["hidden"]
    assert "content-type" not in headers


def test_conditions_end_to_end(start_alb, backend, backend2):
    def cond_rule(cond):
        return rule({"conditions": [cond]}, [fwd("two")])
    a = start(start_alb, [
        cond_rule({"type": "header", "name": "X-Env", "values": ["canary"]}),
        cond_rule({"type": "cookie", "name": "beta", "values": ["yes"]}),
        cond_rule({"type": "query", "name": "v", "values": ["2"]}),
        cond_rule({"type": "method", "values": ["DELETE"]}),
        cond_rule({"type": "source_ip", "values": ["10.0.0.0/8"]}),
        rule(actions=[fwd("one")]),
    ], {"one": [backend], "two": [backend2]})
    assert get(a.port, "/")[1]["x-backend"] == ["b1"]
    assert get(a.port, "/", extra=b"X-Env: canary\r\n")[1]["x-backend"] == ["b2"]
    assert get(a.port, "/", extra=b"Cookie: a=b; beta=yes\r\n")[1]["x-backend"] == ["b2"]
    assert get(a.port, "/?x=1&v=2")[1]["x-backend"] == ["b2"]
    assert request(a.port, b"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n")[1]["x-backend"] == ["b2"]
    assert get(a.port, "/?v=3", extra=b"X-Env: prod\r\n")[1]["x-backend"] == ["b1"]


def test_source_ip_condition_matches_loopback(start_alb, backend, backend2):
    a = start(start_alb, [rule({"conditions": [{"type": "source_ip", "values": ["127.0.0.0/8"]}]}, [fwd("two")]),
                          rule(actions=[fwd("one")])], {"one": [backend], "two": [backend2]})
    assert get(a.port, "/")[1]["x-backend"] == ["b2"]


def test_wildcard_hosts_and_order(start_alb, backend, backend2):
    a = start(start_alb, [
        rule({"hosts": ["*.foo.com"]}, [fwd("two")]),
        rule({"hosts": ["foo.com"]}, [fwd("one")]),
        rule({"path": {"type": "Prefix", "value": "/"}}, [{"type": "fixed_response", "status": 404, "body": "none"}]),
        rule({"path": {"type": "Prefix", "value": "/pinned"}}, [fwd("two")], order=1),
    ], {"one": [backend], "two": [backend2]})
    assert get(a.port, "/", host="bar.foo.com")[1]["x-backend"] == ["b2"]
    assert get(a.port, "/", host="foo.com")[1]["x-backend"] == ["b1"]
    status, _, body = get(a.port, "/", host="baz.bar.foo.com")  # two labels: not the wildcard
    assert status == 404 and body == b"none"
    assert get(a.port, "/pinned", host="nothing.example")[1]["x-backend"] == ["b2"]


def test_regex_path_case_insensitive(start_alb, backend):
    a = start(start_alb, [rule({"path": {"type": "Regex", "value": "/IMG/.*\\.png", "case_sensitive": False}},
                               [fwd("web")])], {"web": [backend]})
    assert get(a.port, "/img/a.PNG")[0] == 200
    assert get(a.port, "/x/img/a.png")[0] == 404  # anchored at the start


def test_cors_any_origin_and_preflight(start_alb, backend):
    a = start(start_alb, [rule(actions=[{"type": "cors"}, fwd("web")])], {"web": [backend]})
    status, headers, _ = get(a.port, "/x", extra=b"Origin: https://app.example.com\r\n")
    assert status == 200
    assert headers["access-control-allow-origin"] == ["*"]  # the literal "*", as ingress-nginx
    assert headers["access-control-allow-credentials"] == ["true"]
    assert headers["access-control-allow-methods"] == ["GET, PUT, POST, DELETE, PATCH, OPTIONS"]
    assert headers["access-control-max-age"] == ["1728000"]
    before = len(backend.requests)
    status, headers, body = request(a.port, b"OPTIONS /x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n"
                                            b"Access-Control-Request-Method: PUT\r\n\r\n")
    assert status == 204 and body == b""
    assert "content-length" not in headers
    assert headers["access-control-allow-origin"] == ["*"]
    assert len(backend.requests) == before  # a preflight is answered by ALB


def test_cors_origin_list(start_alb, backend):
    a = start(start_alb, [rule(actions=[{"type": "cors", "allow_origins": ["https://*.example.com", "http://localhost:3000"],
                                         "allow_credentials": False, "expose_headers": "X-Total",
                                         "max_age": 600}, fwd("web")])], {"web": [backend]})
    _, headers, _ = get(a.port, "/", extra=b"Origin: https://app.example.com\r\n")
    assert headers["access-control-allow-origin"] == ["https://app.example.com"]
    assert headers["vary"] == ["Origin"] and headers["access-control-expose-headers"] == ["X-Total"]
    assert headers["access-control-max-age"] == ["600"] and "access-control-allow-credentials" not in headers
    assert get(a.port, "/", extra=b"Origin: http://localhost:3000\r\n")[1]["access-control-allow-origin"] == \
        ["http://localhost:3000"]
    for bad in (b"https://a.b.example.com", b"https://evil.com", b"http://localhost:3001", b"http://app.example.com"):
        _, headers, _ = get(a.port, "/", extra=b"Origin: " + bad + b"\r\n")
        assert "access-control-allow-origin" not in headers, bad
    # an OPTIONS from a disallowed origin is proxied, not answered
    before = len(backend.requests)
    status, headers, _ = request(a.port, b"OPTIONS / HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.com\r\n\r\n")
    assert status == 200 and len(backend.requests) == before + 1


def test_traffic_limit_rule_qps(start_alb, backend):
    a = start(start_alb, [rule({"path": {"type": "Prefix", "value": "/limited"}},
                               [{"type": "traffic_limit", "qps": 5}, fwd("web")]),
                          rule(actions=[fwd("web")])], {"web": [backend]})
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    statuses = []
    rest = b""
    t0 = time.monotonic()
    for _ in range(20):  # far faster than 5 per second
        s.sendall(b"GET /limited HTTP/1.1\r\nHost: a\r\n\r\n")
        status, _, _, rest = read_response(s, rest)
        statuses.append(status)
    # a full bucket (5) plus what refilled while the loop ran
    allowed = 5 + int((time.monotonic() - t0) * 5)
    assert 5 <= statuses.count(200) <= allowed and statuses.count(200) + statuses.count(503) == 20
    # other rules are not limited, and the connection stays usable
    s.sendall(b"GET /free HTTP/1.1\r\nHost: a\r\n\r\n")
    assert read_response(s, rest)[0] == 200
    s.close()
    m = a.metrics()
    assert sum(v for k, v in m.items() if k.startswith("alb_requests_total") and 'class="5xx"' in k) == \
        statuses.count(503)


def test_traffic_limit_per_ip_across_connections(start_alb, backend):
    """The per-IP budget holds whichever worker each connection lands on."""
    a = start(start_alb, [rule(actions=[{"type": "traffic_limit", "qps_per_ip": 4}, fwd("web")])], {"web": [backend]})
    t0 = time.monotonic()
    statuses = [get(a.port, "/")[0] for _ in range(16)]  # a new connection each time
    allowed = 4 + int((time.monotonic() - t0) * 4)
    assert 4 <= statuses.count(200) <= allowed, statuses


def wait_for(pred, timeout=5):
    """Polls <pred> until true (a mirror arrives on its own schedule)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_mirror_copies_requests(start_alb, backend, backend2):
    a = start(start_alb, [rule(actions=[{"type": "mirror", "backend": "shadow"}, fwd("main")])],
              {"main": [backend], "shadow": [backend2]})
    status, headers, body = get(a.port, "/hello?x=1", extra=b"X-Trace: t1\r\n")
    assert status == 200 and headers["x-backend"] == ["b1"] and body == b"hello from b1 /hello\n"
    assert wait_for(lambda: len(backend2.requests) == 1)
    method, target, hdrs, _ = backend2.requests[0]
    assert (method, target) == ("GET", "/hello?x=1")
    assert ("X-Trace", "t1") in hdrs and ("Connection", "close") in hdrs
    # a body is copied as it streams; this one fits the mirror's lag
    # allowance (256 KiB) even if all of it leaves before the mirror connects
    payload = b"m" * 200000
    s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
    status, _, body, _ = read_response(s)
    s.close()
    assert status == 200 and body == b"200000"
    assert wait_for(lambda: any(r[1] == "/upload" and r[3] == 200000 for r in backend2.requests))


def test_dead_or_stuck_mirror_never_affects_client(start_alb, backend):
    stuck = socket.socket()  # accepts (the kernel does) but never reads or answers
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(16)
    dead = free_port()
    try:
        for port in (dead, stuck.getsockname()[1]):
            a = start(start_alb, [rule(actions=[{"type": "mirror", "backend": "shadow"}, fwd("main")])],
                      {"main": [backend], "shadow": [port]})
            payload = b"z" * (2 << 20)  # far more than a mirror may lag behind
            t0 = time.monotonic()
            s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
            for _ in range(3):
                s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
                status, _, body, _ = read_response(s)
                assert status == 200 and body == str(len(payload)).encode()
            s.close()
            assert time.monotonic() - t0 < 10
            assert get(a.port, "/")[0] == 200
    finally:
        stuck.close()
