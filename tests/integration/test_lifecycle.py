"""Start-up, graceful stop, and many idle connections."""
import json
import resource
import signal
import socket
import subprocess
import time

from conftest import ALB_BIN, ALB_OPT_BIN, free_port, read_response, simple_config


def test_bad_config_exits_nonzero_naming_file_and_path(tmp_path):
    port = free_port()
    cfg = simple_config(port, {"web": [9]})
    cfg["listeners"][0]["timeouts"] = {"idle_ms": -5}
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg))
    out = subprocess.run([ALB_BIN, "serve", "--config", str(p)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1
    assert str(p) in out.stderr and "listeners[0].timeouts.idle_ms" in out.stderr
    s = socket.socket()
    s.bind(("127.0.0.1", port))  # nothing was bound
    s.close()


def test_syntax_error_names_line(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"version": 1,\n "listeners": [,]}')
    out = subprocess.run([ALB_BIN, "check", "--config", str(p)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "broken.json: line 2" in out.stderr


def test_port_in_use_fails_startup(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    p = tmp_path / "c.json"
    p.write_text(json.dumps(simple_config(busy.getsockname()[1], {"web": [9]})))
    out = subprocess.run([ALB_BIN, "serve", "--config", str(p)], capture_output=True, text=True, timeout=10)
    busy.close()
    assert out.returncode == 1 and "Address already in use" in out.stderr


def test_usage_errors_exit_2():
    assert subprocess.run([ALB_BIN, "serve"], capture_output=True).returncode == 2
    assert subprocess.run([ALB_BIN, "serve", "--config", "x", "--workers", "0"], capture_output=True).returncode == 2
    assert subprocess.run([ALB_BIN, "frobnicate"], capture_output=True).returncode == 2
    out = subprocess.run([ALB_BIN, "version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("alb ")


def test_graceful_stop_finishes_in_flight_request(start_alb, backend):
    a = start_alb(simple_config(free_port(), {"web": [backend]}))
    idle = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert read_response(idle)[0] == 200
    busy = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    busy.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n")
    # wait until the backend has the request, then stop ALB
    deadline = time.monotonic() + 5
    while not any(r[1].startswith("/slow") for r in backend.requests) and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    assert idle.recv(100) == b""  # idle keep-alive connections close at once
    status, headers, body, _ = read_response(busy)
    assert status == 200 and body == b"slow" and headers["connection"] == ["close"]
    assert a.proc.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    try:
        socket.create_connection(("127.0.0.1", a.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused


def test_drain_timeout_bounds_stop(start_alb, backend, tmp_path):
    a = start_alb(simple_config(free_port(), {"web": [backend]}), extra_args=("--drain-timeout-ms", "300"))
    busy = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    busy.sendall(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n")
    deadline = time.monotonic() + 5
    while not backend.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 3
    busy.close()


def test_ten_thousand_idle_keepalive_connections(start_alb, backend):
    n = 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert hard >= n + 500, f"the fd limit ({hard}) is too low for this test"
    a = start_alb(simple_config(free_port(), {"web": [backend]}, timeouts={"idle_ms": 120000}), binary=ALB_OPT_BIN)
    warm = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    warm.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert read_response(warm)[0] == 200
    base = a.rss_kib()
    conns = []
    req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    try:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
            s.sendall(req)
            assert read_response(s)[0] == 200
            conns.append(s)
        per_conn = (a.rss_kib() - base) * 1024 / n
        print(f"\n{n} idle keep-alive connections: {per_conn:.0f} bytes of RSS each")
        assert per_conn < 2048
        # every one of them is still open and still serves; in batches, so
        # that ALB does not (rightly) open 10k upstream connections at once
        # to the one-thread-per-connection test backend
        for start in range(0, n, 500):
            batch = conns[start:start + 500]
            for s in batch:
                s.sendall(req)
            for s in batch:
                s.settimeout(30)
                assert read_response(s)[0] == 200
    finally:
        for s in conns:
            s.close()
        warm.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
