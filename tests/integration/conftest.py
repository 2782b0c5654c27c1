"""Fixtures: backends, and ALB started from a config dict.

ALB is the real binary (ALB_BIN, the sanitizer build under `make test`).
Start-up is synchronised on its "serving" log line; on teardown it gets
SIGTERM, must exit 0 and must not have printed a sanitizer report."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from backend import Backend  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The sanitizer build by default, so a direct pytest run checks as much as
# `make test` does.
ALB_BIN = os.environ.get("ALB_BIN") or next(
    (p for p in (os.path.join(ROOT, "build", "asan", "alb"), os.path.join(ROOT, "build", "alb")) if os.path.exists(p)))
ALB_OPT_BIN = os.environ.get("ALB_OPT_BIN", os.path.join(ROOT, "build", "alb"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Alb:
    """ALB serving <config> (a dict, written to a file), or, with
    <manifests> (a folder), in standalone mode on that folder."""

    def __init__(self, tmp_path, config=None, binary=ALB_BIN, workers=2, extra_args=(), manifests=None, port=None,
                 kubeconfig=None, env=None, ready=True):
        self.admin_port = free_port()
        if kubeconfig is not None:
            self.port = port
            source = ["--kubeconfig", str(kubeconfig), "--listen-address", "127.0.0.1"]
        elif config is None and manifests is None:  # in a "pod": the environment says where the API is
            self.port = port
            source = ["--listen-address", "127.0.0.1"]
        elif manifests is None:
            self.port = config["listeners"][0]["port"]
            self.config_path = tmp_path / "alb.json"
            self.config_path.write_text(json.dumps(config))
            source = ["--config", str(self.config_path)]
        else:
            self.port = port
            source = ["--manifests", str(manifests), "--listen-address", "127.0.0.1"]
        self.log_path = tmp_path / f"alb-{self.admin_port}.log"
        self.log = open(self.log_path, "w+")
        env = dict(os.environ, **(env or {}))
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.proc = subprocess.Popen([binary, "serve", *source, "--workers", str(workers),
                                      "--drain-timeout-ms", "5000", "--admin", f"127.0.0.1:{self.admin_port}",
                                      *extra_args],
                                     stdout=self.log, stderr=self.log, env=env)
        if ready:
            self.wait_ready()

    def write_config(self, cfg):
        """Replaces the config file atomically, as editors and kubectl do."""
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cfg))
        os.replace(tmp, self.config_path)

    def admin_get(self, path, timeout=5):
        """(status, body) of GET <path> on the admin API."""
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def wait_ready(self, timeout=10):
        """Start-up is done when /readyz answers 200: every worker serves."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alb exited {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if self.admin_get("/readyz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"alb not ready:\n{self.log_path.read_text()}")

    def generation(self):
        return json.loads(self.admin_get("/config")[1])["generation"]

    def metrics(self):
        """The /metrics samples as {name{labels}: value}."""
        out = {}
        for line in self.admin_get("/metrics")[1].decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def adopted_generation(self):
        """The oldest generation any worker still routes new requests with."""
        m = self.metrics()
        return min(int(v) for k, v in m.items() if k.startswith("alb_worker_config_generation"))

    def wait_generation(self, gen, timeout=10):
        """Waits until every worker has adopted generation <gen>."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.adopted_generation() >= gen:
                return
            time.sleep(0.005)
        raise TimeoutError(f"generation {gen} not adopted:\n{self.log_path.read_text()[-3000:]}")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def hwm_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("alb did not stop within 20 s of SIGTERM")
        log = self.log_path.read_text()
        self.log.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log and "LeakSanitizer" not in log, log
        assert "ThreadSanitizer" not in log, log
        assert self.proc.returncode == 0, f"alb exited {self.proc.returncode}:\n{log}"


def simple_config(port, backends, rules=None, **listener):
    """One listener on <port>; <backends> maps name -> list of Backend or port."""
    bl = []
    for name, eps in backends.items():
        bl.append({"name": name, "endpoints": [{"address": "127.0.0.1", "port": e if isinstance(e, int) else e.port}
                                                for e in eps],
                   **({"timeouts": listener.pop("backend_timeouts")} if "backend_timeouts" in listener else {})})
    if rules is None:
        first = next(iter(backends))
        rules = [{"match": {"path": {"type": "Prefix", "value": "/"}}, "actions": [{"type": "forward", "backend": first}]}]
    l = {"address": "127.0.0.1", "port": port, "rules": rules}
    l.update(listener)
    return {"version": 1, "listeners": [l], "backends": bl}


@pytest.fixture
def backend():
    b = Backend("b1")
    yield b
    b.stop()


@pytest.fixture
def backend2():
    b = Backend("b2")
    yield b
    b.stop()


@pytest.fixture
def start_alb(tmp_path):
    started = []

    def start(config=None, **kw):
        a = Alb(tmp_path, config, **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


@pytest.fixture
def alb(start_alb, backend):
    return start_alb(simple_config(free_port(), {"web": [backend]}))


def raw_exchange(port, data, timeout=5.0):
    """Sends <data> on a new connection and reads until the server closes
    (or <timeout>). Returns (bytes received, closed_by_server)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True
            if not d:
                return out, True
            out += d
    finally:
        s.close()


def read_response(sock, buf=b"", head_request=False):
    """Reads one response (Content-Length or chunked or no body for 1xx/204/304)
    from <sock>. Returns (status, headers dict lower-case -> list, body, rest)."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise ConnectionError(f"eof before response head: {buf!r}")
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    if status < 200 or status in (204, 304) or head_request:
        return status, headers, b"", buf
    if "content-length" in headers:
        n = int(headers["content-length"][0])
        while len(buf) < n:
            d = sock.recv(65536)
            if not d:
                raise ConnectionError("eof in body")
            buf += d
        return status, headers, buf[:n], buf[n:]
    if "chunked" in headers.get("transfer-encoding", [""])[0]:
        body = b""
        while True:
            while b"\r\n" not in buf:
                buf += sock.recv(65536)
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n\r\n" not in (b"\r\n" + buf):
                    buf += sock.recv(65536)
                idx = (b"\r\n" + buf).index(b"\r\n\r\n")
                headers["_trailers"] = [t for t in (b"\r\n" + buf)[2:idx + 2].decode().split("\r\n") if t]
                buf = (b"\r\n" + buf)[idx + 4:]
                return status, headers, body, buf
            while len(buf) < size + 2:
                buf += sock.recv(65536)
            body += buf[:size]
            buf = buf[size + 2:]
    body = buf
    while True:
        d = sock.recv(65536)
        if not d:
            return status, headers, body, b""
        body += d
