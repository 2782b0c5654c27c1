"""Live configuration: every valid version of the config file is published
as the next generation and adopted in place; nothing reloads, no connection
is closed because configuration changed; an invalid version is refused and
the serving one stays. Plus the admin API that shows it."""
import asyncio
import json
import os
import socket
import threading
import time

import pytest
import websockets

from conftest import free_port, read_response, simple_config
from test_streaming import WsEcho



def get(port, path, host="a", conn=None):
    s = conn or socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    status, headers, body, _ = read_response(s)
    if conn is None:
        s.close()
    return status, headers, body


def test_admin_endpoints(alb):
    assert alb.admin_get("/healthz") == (200, b"ok\n")
    assert alb.admin_get("/readyz") == (200, b"ready\n")
    status, body = alb.admin_get("/config")
    cfg = json.loads(body)
    assert status == 200 and cfg["generation"] == 1 and cfg["version"] == 1
    assert cfg["listeners"][0]["port"] == alb.port
    assert cfg["listeners"][0]["timeouts"]["idle_ms"] == 15000  # defaults made explicit
    for i in range(3):
        assert get(alb.port, "/x")[0] == 200
    assert get(alb.port, "/status?code=503")[0] == 503
    m = alb.metrics()
    name = cfg["listeners"][0]["name"]
    assert m[f'alb_requests_total{{listener="{name}",class="2xx"}}'] == 3
    assert m[f'alb_requests_total{{listener="{name}",class="5xx"}}'] == 1
    assert m["alb_config_generation"] == 1 and m["alb_config_publishes_total"] == 1
    assert m["alb_config_refused_total"] == 0
    assert f'alb_active_connections{{listener="{name}"}}' in m
    assert alb.admin_get("/nope")[0] == 404
    s = socket.create_connection(("127.0.0.1", alb.admin_port), timeout=5)
    s.sendall(b"POST /config HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
    assert read_response(s)[0] == 405
    s.close()


def test_config_json_round_trips(alb, tmp_path):
    """What /config shows is a valid config that means the same thing."""
    shown = json.loads(alb.admin_get("/config")[1])
    del shown["generation"]
    p = tmp_path / "again.json"
    p.write_text(json.dumps(shown))
    import subprocess
    from conftest import ALB_BIN
    out = subprocess.run([ALB_BIN, "check", "--config", str(p)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr


def test_route_change_applies_to_open_keepalive_connection(start_alb, backend, backend2):
    port = free_port()
    cfg = simple_config(port, {"one": [backend], "two": [backend2]})
    a = start_alb(cfg)
    keep = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert get(port, "/api/x", conn=keep)[1]["x-backend"] == ["b1"]
    cfg["listeners"][0]["rules"].insert(0, {"match": {"path": {"type": "Prefix", "value": "/api"}},
                                            "actions": [{"type": "forward", "backend": "two"}]})
    a.write_config(cfg)
    a.wait_generation(2)
    assert get(port, "/api/x", conn=keep)[1]["x-backend"] == ["b2"]  # same connection, new routes
    assert get(port, "/other", conn=keep)[1]["x-backend"] == ["b1"]
    keep.close()
    assert backend2.rec.connections == 1


def test_invalid_version_is_refused_and_serving_one_stays(start_alb, backend):
    port = free_port()
    cfg = simple_config(port, {"web": [backend]})
    a = start_alb(cfg)
    keep = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert get(port, "/", conn=keep)[0] == 200
    bad = json.loads(json.dumps(cfg))
    bad["listeners"][0]["rules"][0]["actions"][0]["backend"] = "missing"
    a.write_config(bad)
    deadline = time.monotonic() + 10
    while a.metrics()["alb_config_refused_total"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert a.metrics()["alb_config_refused_total"] == 1
    assert a.generation() == 1
    assert "listeners[0].rules[0].actions[0].backend" in a.log_path.read_text()
    assert get(port, "/", conn=keep)[0] == 200  # nothing noticed
    (a.config_path).write_text("{ not json")
    deadline = time.monotonic() + 10
    while a.metrics()["alb_config_refused_total"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert get(port, "/", conn=keep)[0] == 200
    a.write_config(cfg)
    a.wait_generation(2)
    assert get(port, "/", conn=keep)[0] == 200
    keep.close()


def test_listener_added_then_removed(start_alb, backend):
    port, port2 = free_port(), free_port()
    cfg = simple_config(port, {"web": [backend]})
    a = start_alb(cfg)
    second = json.loads(json.dumps(cfg["listeners"][0]))
    second.update(port=port2, name="second")
    cfg["listeners"].append(second)
    a.write_config(cfg)
    a.wait_generation(2)
    assert get(port2, "/")[0] == 200
    # a request in flight on the listener when it is removed finishes; the
    # connection then closes; new connections are refused
    busy = socket.create_connection(("127.0.0.1", port2), timeout=10)
    busy.sendall(b"GET /slow?ms=800 HTTP/1.1\r\nHost: a\r\n\r\n")
    deadline = time.monotonic() + 5
    while not any(r[1].startswith("/slow") for r in backend.requests) and time.monotonic() < deadline:
        time.sleep(0.01)
    cfg["listeners"].pop()
    a.write_config(cfg)
    a.wait_generation(3)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port2), timeout=2)
    status, headers, body, _ = read_response(busy)
    assert status == 200 and body == b"slow" and headers["connection"] == ["close"]
    assert busy.recv(10) == b""
    busy.close()
    assert get(port, "/")[0] == 200


def test_new_listener_on_busy_port_refuses_whole_version(start_alb, backend):
    port = free_port()
    cfg = simple_config(port, {"web": [backend]})
    a = start_alb(cfg)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    extra = json.loads(json.dumps(cfg["listeners"][0]))
    extra.update(port=squatter.getsockname()[1], name="taken")
    cfg["listeners"].append(extra)
    a.write_config(cfg)
    deadline = time.monotonic() + 10
    while a.metrics()["alb_config_refused_total"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    squatter.close()
    assert a.generation() == 1
    assert "Address already in use" in a.log_path.read_text()


def test_sighup_reloads(start_alb, backend, backend2):
    import signal
    port = free_port()
    cfg = simple_config(port, {"web": [backend]})
    a = start_alb(cfg)
    cfg["backends"][0]["endpoints"] = [{"address": "127.0.0.1", "port": backend2.port}]
    a.config_path.write_text(json.dumps(cfg))  # inotify sees this too; SIGHUP must not break anything
    a.proc.send_signal(signal.SIGHUP)
    a.wait_generation(2)
    assert get(port, "/")[1]["x-backend"] == ["b2"]


def test_hot_swap_under_load(start_alb, tmp_path):
    """The acceptance scenario: 4 clients send keep-alive requests non-stop,
    50 idle keep-alive connections and a WebSocket tunnel are held open, and
    the config is rewritten 100 times (routes added and removed, weights
    changed, endpoints added and removed, a listener added and later
    removed). Zero failed requests, every idle connection still carries a
    request, the tunnel still echoes, and the generation grew by 100."""
    import conftest
    backends = [conftest.Backend(f"hs{i}") for i in range(3)]
    ws_server = WsEcho()
    port, extra_port = free_port(), free_port()

    def version(i):
        eps = [{"address": "127.0.0.1", "port": b.port, "weight": 1 + (i * 7 + k) % 100}
               for k, b in enumerate(backends[: 1 + i % 3])]
        rules = [{"match": {"path": {"type": "Prefix", "value": "/ws"}},
                  "actions": [{"type": "forward", "backend": "ws"}]}]
        for r in range(i % 5):
            rules.append({"match": {"hosts": [f"h{r}.example.com"], "path": {"type": "Prefix", "value": f"/r{r}"}},
                          "actions": [{"type": "forward", "backend": "web"}]})
        rules.append({"match": {"path": {"type": "Prefix", "value": "/"}},
                      "actions": [{"type": "forward", "backend": "web"}]})
        listeners = [{"name": "main", "address": "127.0.0.1", "port": port, "rules": rules,
                      "timeouts": {"idle_ms": 120000}}]
        if 30 <= i < 70:
            listeners.append({"name": "extra", "address": "127.0.0.1", "port": extra_port, "rules": rules})
        return {"version": 1, "listeners": listeners,
                "backends": [{"name": "web", "endpoints": eps},
                             {"name": "ws", "endpoints": [{"address": "127.0.0.1", "port": ws_server.port}]}]}

    a = start_alb(version(0))
    stop = threading.Event()
    counts = {"ok": 0, "failed": []}
    lock = threading.Lock()

    def hammer():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        rest = b""
        while not stop.is_set():
            try:
                s.sendall(b"GET /hammer HTTP/1.1\r\nHost: a\r\n\r\n")
                status, _, _, rest = read_response(s, rest)
                with lock:
                    if status == 200:
                        counts["ok"] += 1
                    else:
                        counts["failed"].append(status)
            except Exception as e:  # any failure is a failed request
                with lock:
                    counts["failed"].append(repr(e))
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                rest = b""
        s.close()

    idle = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert get(port, "/", conn=s)[0] == 200
        idle.append(s)

    loop = asyncio.new_event_loop()

    async def ws_connect():
        return await websockets.connect(f"ws://127.0.0.1:{port}/ws")

    ws = loop.run_until_complete(ws_connect())
    loop.run_until_complete(ws.send("before"))
    assert loop.run_until_complete(ws.recv()) == "before"

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(1, 101):
            a.write_config(version(i))
            a.wait_generation(1 + i)
            if i == 50:
                assert get(extra_port, "/")[0] == 200  # the added listener serves
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    try:
        assert counts["failed"] == [], counts["failed"][:10]
        assert counts["ok"] > 100
        assert a.generation() == 101
        for s in idle:
            assert get(port, "/", conn=s)[0] == 200
            s.close()
        loop.run_until_complete(ws.send("after"))
        assert loop.run_until_complete(asyncio.wait_for(ws.recv(), 10)) == "after"
        loop.run_until_complete(ws.close())
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", extra_port), timeout=2)
        print(f"\n{counts['ok']} requests during 100 config versions, 0 failed")
    finally:
        loop.close()
        ws_server.stop()
        for b in backends:
            b.stop()
