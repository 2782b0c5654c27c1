"""The access log: one line per request, text (nginx-like) or JSON."""
import json
import socket
import time

from conftest import free_port, read_response, simple_config


def lines(path, n, timeout=10):
    """The log's lines once there are at least <n> (workers flush each loop turn)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        got = [l for l in text.splitlines() if l]
        if len(got) >= n:
            return got
        time.sleep(0.01)
    raise TimeoutError(f"{len(got)} lines in the access log, waiting for {n}")


def send(port, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(raw)
    r = read_response(s)
    s.close()
    return r


def test_text_access_log(start_alb, backend, tmp_path):
    log = tmp_path / "access.log"
    a = start_alb(simple_config(free_port(), {"web": [backend]}), extra_args=("--access-log", str(log)))
    send(a.port, b"GET /hello?x=1 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: curl/8 \"quoted\"\xe9\r\n\r\n")
    send(a.port, b"GET /status?code=404 HTTP/1.1\r\nHost: a\r\nX-Request-ID: req-7\r\n\r\n")
    got = lines(log, 2)
    assert got[0].startswith('127.0.0.1 - - [')
    assert '"GET /hello?x=1 HTTP/1.1" 200 21 "shop.example.com" "curl/8 \\"quoted\\"\\xe9"' in got[0]
    # the upstream, and the request id ALB generated, which the backend received
    seen_id = [v for k, v in backend.requests[0][2] if k == "X-Request-ID"][0]
    assert got[0].endswith(f" 127.0.0.1:{backend.port} {seen_id}")
    assert '"GET /status?code=404 HTTP/1.1" 404 6 "a" ""' in got[1] and got[1].endswith(" req-7")


def test_json_access_log_and_local_answers(start_alb, backend, tmp_path):
    log = tmp_path / "access.json"
    rules = [{"match": {"path": {"type": "Exact", "value": "/down"}},
              "actions": [{"type": "fixed_response", "status": 503, "body": "down"}]},
             {"match": {"path": {"type": "Prefix", "value": "/"}}, "actions": [{"type": "forward", "backend": "web"}]}]
    a = start_alb(simple_config(free_port(), {"web": [backend]}, rules),
                  extra_args=("--access-log", str(log), "--log-format", "json"))
    send(a.port, b"GET /down HTTP/1.1\r\nHost: a\r\n\r\n")
    send(a.port, b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
    # a client that gives up mid-request is logged with 499
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
    deadline = time.monotonic() + 5
    while not a.metrics().get('alb_active_connections{listener="http-%d"}' % a.port) and time.monotonic() < deadline:
        time.sleep(0.01)
    s.close()
    got = [json.loads(l) for l in lines(log, 3)]
    assert got[0]["status"] == 503 and got[0]["bytes"] == 4 and got[0]["upstream"] == ""
    assert got[1]["method"] == "POST" and got[1]["status"] == 200 and got[1]["target"] == "/upload"
    assert got[1]["upstream"] == f"127.0.0.1:{backend.port}" and len(got[1]["request_id"]) == 32
    assert got[2]["status"] == 499
    for g in got:
        assert g["client"] == "127.0.0.1" and g["time"].endswith("Z") and g["duration_s"] >= 0


def test_no_access_log_by_default(alb, tmp_path):
    send(alb.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert "access" not in " ".join(p.name for p in tmp_path.iterdir())
