"""HTTP/2 toward clients: h2 by ALPN on HTTPS listeners and h2c by prior
knowledge, with real clients (curl, nghttp, python3-h2) and, for the
attacks, frames built by hand (hyperframe, hpack): every stream is routed
and proxied like an HTTP/1.1 request, bodies stream both ways under flow
control, a stalled stream does not hold up the others, and abusive
connections are cut while other clients are served."""
import json
import signal
import socket
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hyperframe.frame as hf
import pytest

from conftest import free_port, simple_config
from test_accesslog import lines
from test_tls import certs, start_https  # noqa: F401  (the module's certificates)


def start_h2c(start_alb, backend, **kw):
    return start_alb(simple_config(free_port(), {"web": [backend]}, h2c=True, **kw))


def curl(url, *args, timeout=20):
    out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_version} %{http_code}", *args, url],
                         capture_output=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    body, _, tail = out.stdout.rpartition(b"\n")
    version, code = tail.decode().split()
    return version, int(code), body


class Client:
    """A python3-h2 client connection on a socket (TLS with ALPN h2 when <tls>)."""

    def __init__(self, port, tls=False, window=None):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            ctx = ssl._create_unverified_context()
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="foo.bar.com")
            assert raw.selected_alpn_protocol() == "h2"
        self.sock = raw
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.sock.sendall(self.conn.data_to_send())
        self.responses = {}   # stream id -> {"headers": dict, "body": bytearray, "ended": bool, "reset": code}
        self.ended = None     # ConnectionTerminated
        self.auto_ack = set()  # streams whose received data is given back to flow control

    def request(self, path, method="GET", headers=(), body=None, end=True, ack=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"), (":authority", "h2.example"), *headers]
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        if body is not None:
            self.send_body(sid, body, end)
        self.sock.sendall(self.conn.data_to_send())
        self.responses[sid] = {"headers": None, "body": bytearray(), "ended": False, "reset": None, "trailers": None}
        if ack:
            self.auto_ack.add(sid)
        return sid

    def send_body(self, sid, body, end=True):
        """Sends <body> as the window allows, reading (and so taking window
        updates) while it waits."""
        view = memoryview(body)
        while view:
            n = min(len(view), self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if n == 0:
                self.sock.sendall(self.conn.data_to_send())
                self.pump()
                continue
            self.conn.send_data(sid, bytes(view[:n]))
            view = view[n:]
        if end:
            self.conn.end_stream(sid)
        self.sock.sendall(self.conn.data_to_send())

    def pump(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("closed by the server")
        for ev in self.conn.receive_data(data):
            r = self.responses.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                r["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                r["body"] += ev.data
                # the connection's window always opens; a stream's only when acked
                if ev.flow_controlled_length:
                    self.conn.increment_flow_control_window(ev.flow_controlled_length)
                if ev.stream_id in self.auto_ack and ev.flow_controlled_length:
                    try:
                        self.conn.increment_flow_control_window(ev.flow_controlled_length, ev.stream_id)
                    except h2.exceptions.StreamClosedError:
                        pass   # it ended in this same read
            elif isinstance(ev, h2.events.TrailersReceived):
                r["trailers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                r["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                if r is not None:
                    r["reset"] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.ended = ev
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def wait(self, *sids, timeout=20):
        deadline = time.monotonic() + timeout
        while not all(self.responses[s]["ended"] or self.responses[s]["reset"] is not None for s in sids):
            assert time.monotonic() < deadline, "responses did not finish"
            self.pump()
        return [self.responses[s] for s in sids]

    def get(self, path, **kw):
        r, = self.wait(self.request(path, **kw))
        return int(r["headers"][":status"]), r["headers"], bytes(r["body"])

    def close(self):
        self.sock.close()


def test_h2c_request_reaches_backend_as_http11(start_alb, backend):
    a = start_h2c(start_alb, backend)
    version, code, body = curl(f"http://127.0.0.1:{a.port}/echo?x=1", "--http2-prior-knowledge", "-H", "X-Test: 1")
    assert (version, code) == ("2", 200)
    seen = json.loads(body)
    assert seen["version"] == "HTTP/1.1" and seen["target"] == "/echo?x=1"
    headers = {k.lower(): v for k, v in seen["headers"]}
    assert headers["host"] == f"127.0.0.1:{a.port}"
    assert headers["x-test"] == "1" and headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    # without prior knowledge a plain HTTP/1.1 client is still served there
    assert curl(f"http://127.0.0.1:{a.port}/echo", "--http1.1")[:2] == ("1.1", 200)


def test_h2c_is_off_unless_the_listener_takes_it(start_alb, backend):
    a = start_alb(simple_config(free_port(), {"web": [backend]}))
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{a.port}/echo"],
                         capture_output=True, timeout=10)
    assert out.returncode != 0           # the preface is not an HTTP/1.1 request: 400 and closed
    assert backend.requests == []


def test_https_offers_h2_by_alpn(start_alb, backend, certs):  # noqa: F811
    a = start_https(start_alb, backend, [certs["foo"]], hsts="max-age=600")
    url = f"https://foo.bar.com:{a.port}/echo"
    resolve = ["--resolve", f"foo.bar.com:{a.port}:127.0.0.1", "--cacert", certs["foo"]["file"]]
    version, code, body = curl(url, "--http2", *resolve, "-D", "/dev/stderr")
    assert (version, code) == ("2", 200)
    headers = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert headers["x-forwarded-proto"] == "https"
    c = Client(a.port, tls=True)
    status, h, _ = c.get("/echo")
    assert status == 200 and h["strict-transport-security"] == "max-age=600"
    c.close()
    # http2: false on the listener: ALPN chooses http/1.1
    b = start_https(start_alb, backend, [certs["foo"]])
    cfg = json.loads(b.config_path.read_text())
    cfg["listeners"][0]["tls"]["http2"] = False
    gen = b.generation()
    b.write_config(cfg)
    b.wait_generation(gen + 1)
    assert curl(f"https://foo.bar.com:{b.port}/echo", "--http2", *[x.replace(str(a.port), str(b.port))
                                                                    for x in resolve])[:2] == ("1.1", 200)


def test_bodies_both_ways(start_alb, backend):
    a = start_h2c(start_alb, backend)
    c = Client(a.port)
    big = bytes(range(256)) * 12000   # 3 MB: many windows' worth
    status, _, body = c.get("/upload", method="POST", headers=[("content-length", str(len(big)))], body=big)
    assert (status, body) == (200, str(len(big)).encode())
    status, _, body = c.get("/upload", method="POST", body=big)   # no length: chunked to the backend
    assert (status, body) == (200, str(len(big)).encode())
    status, h, body = c.get("/download?n=5000000")
    assert status == 200 and len(body) == 5000000 and h["content-length"] == "5000000"
    status, h, body = c.get("/chunked")
    assert status == 200 and body == b"hello world" and "transfer-encoding" not in h
    status, h, body = c.get("/close-delimited")
    assert status == 200 and body and "connection" not in h
    status, h, body = c.get("/download?n=1000", method="HEAD")
    assert status == 200 and body == b"" and h["content-length"] == "1000"
    for code in (204, 304):
        assert c.get(f"/status?code={code}")[::2] == (code, b"")
    status, _, _ = c.get("/interim")
    assert status == 200
    # a path too long for the stream's inline text
    long_path = "/echo/" + "p" * 3000
    status, _, body = c.get(long_path)
    assert status == 200 and json.loads(body)["target"] == long_path
    # cookies split over fields reach the backend as one field
    status, _, body = c.get("/echo", headers=[("cookie", "a=1"), ("cookie", "b=2")])
    headers = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert headers["cookie"] == "a=1; b=2"
    c.close()


def test_trailers_pass_both_ways(start_alb, backend):
    a = start_h2c(start_alb, backend)
    c = Client(a.port)
    r, = c.wait(c.request("/chunked"))
    assert bytes(r["body"]) == b"hello world" and r["trailers"] == {"x-checksum": "42"}
    # a request body without content-length goes chunked, its trailers with it
    sid = c.request("/echo", method="POST", body=b"abc", end=False)
    c.conn.send_headers(sid, [("x-sum", "7")], end_stream=True)
    c.sock.sendall(c.conn.data_to_send())
    r, = c.wait(sid)
    seen = json.loads(bytes(r["body"]))
    assert seen["body_len"] == 3 and seen["trailers"] == ["x-sum: 7"]
    c.close()


def test_many_streams_on_one_connection(start_alb, backend):
    a = start_h2c(start_alb, backend)
    c = Client(a.port)
    sids = [c.request(f"/echo/{i}") for i in range(100)]
    for i, r in enumerate(c.wait(*sids)):
        assert r["headers"][":status"] == "200"
        assert json.loads(bytes(r["body"]))["target"] == f"/echo/{i}"
    c.close()
    out = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "20", f"http://127.0.0.1:{a.port}/echo"],
                         capture_output=True, timeout=60)
    assert b"2000 succeeded" in out.stdout, out.stdout[-800:]


def test_a_stalled_stream_does_not_hold_up_the_others(start_alb, backend):
    """Stream 1's window is never reopened: its response waits (its backend
    is paused), while other streams on the same connection are served, and
    the stalled one finishes once its window opens."""
    a = start_h2c(start_alb, backend)
    c = Client(a.port)
    stalled = c.request("/download?n=4000000", ack=False)
    deadline = time.monotonic() + 10
    while len(c.responses[stalled]["body"]) < 65535:
        assert time.monotonic() < deadline
        c.pump()
    for i in range(20):
        status, _, body = c.get(f"/echo/{i}")
        assert status == 200 and json.loads(body)["target"] == f"/echo/{i}"
    assert len(c.responses[stalled]["body"]) == 65535 and not c.responses[stalled]["ended"]
    c.auto_ack.add(stalled)
    c.conn.increment_flow_control_window(65535, stalled)
    c.sock.sendall(c.conn.data_to_send())
    r, = c.wait(stalled)
    assert r["ended"] and len(r["body"]) == 4000000
    c.close()


def test_config_change_keeps_the_connection(start_alb, backend, backend2):
    a = start_h2c(start_alb, backend)
    c = Client(a.port)
    assert c.get("/echo")[1]["x-backend"] == "b1"
    cfg = simple_config(a.port, {"web": [backend2]}, h2c=True)
    gen = a.generation()
    a.write_config(cfg)
    a.wait_generation(gen + 1)
    status, h, _ = c.get("/echo")
    assert status == 200 and h["x-backend"] == "b2" and c.ended is None
    c.close()


def test_graceful_stop_sends_goaway_and_finishes_streams(start_alb, backend):
    a = start_h2c(start_alb, backend)
    client = subprocess.Popen(["nghttp", "-nv", f"http://127.0.0.1:{a.port}/slow?ms=700"], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not backend.requests:          # the request reached the backend
        assert time.monotonic() < deadline
        time.sleep(0.01)
    a.proc.send_signal(signal.SIGTERM)
    out = client.communicate(timeout=10)[0].decode()
    assert client.returncode == 0, out
    assert "recv GOAWAY frame" in out and "error_code=NO_ERROR" in out, out
    assert ":status: 200" in out and "recv DATA frame" in out and "END_STREAM" in out.split("recv GOAWAY")[1], out
    assert a.proc.wait(timeout=10) == 0


def test_idle_connection_gets_goaway_and_closes(start_alb, backend):
    """No request runs: the listener's idle timeout ends the connection,
    also when a stream's head never completes."""
    a = start_h2c(start_alb, backend, timeouts={"idle_ms": 300})
    c = Client(a.port)
    assert c.get("/echo")[0] == 200
    t0 = time.monotonic()
    with pytest.raises(ConnectionError):
        while True:
            c.pump()                      # until the server closes
    assert c.ended is not None and c.ended.error_code == 0
    assert 0.2 < time.monotonic() - t0 < 5
    c.close()
    goaway, closed = attack(a.port, [hf.HeadersFrame(1, data=headers_block()[:5])])   # no END_HEADERS
    assert closed and goaway == 0


def test_access_log_names_http2(start_alb, backend, tmp_path):
    log = tmp_path / "access.log"
    a = start_alb(simple_config(free_port(), {"web": [backend]}, h2c=True), extra_args=("--access-log", str(log)))
    assert curl(f"http://127.0.0.1:{a.port}/echo?q=1", "--http2-prior-knowledge")[:2] == ("2", 200)
    got = lines(log, 1)
    assert '"GET /echo?q=1 HTTP/2.0" 200 ' in got[0], got


def test_reset_stream_ends_its_backend_request(start_alb, backend, tmp_path):
    """The request of a stream the client resets ends at once (logged 499,
    as a client that went away), not when its backend answers; the
    connection goes on."""
    log = tmp_path / "access.log"
    a = start_alb(simple_config(free_port(), {"web": [backend]}, h2c=True), extra_args=("--access-log", str(log)))
    c = Client(a.port)
    sid = c.request("/slow?ms=5000")
    deadline = time.monotonic() + 10
    while not backend.requests:          # it reached the backend
        assert time.monotonic() < deadline
        time.sleep(0.01)
    t0 = time.monotonic()
    c.conn.reset_stream(sid)
    c.sock.sendall(c.conn.data_to_send())
    got = lines(log, 1)
    assert '"GET /slow?ms=5000 HTTP/2.0" 499 ' in got[0] and time.monotonic() - t0 < 3
    status, _, _ = c.get("/echo")
    assert status == 200 and c.ended is None
    c.close()


# ---- attacks: frames by hand --------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def headers_block(path="/echo", extra=()):
    return hpack.Encoder().encode([(":method", "GET"), (":path", path), (":scheme", "http"),
                                   (":authority", "h2.example"), *extra])


def attack(port, frames, timeout=10):
    """Sends the preface, SETTINGS and <frames> (tolerating the server
    closing mid-way) and reads until it closes. Returns (GOAWAY error
    code or None, the server closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(PREFACE + hf.SettingsFrame(0).serialize())
            for f in frames:
                s.sendall(f if isinstance(f, bytes) else f.serialize())
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf, goaway, deadline = b"", None, time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                d = s.recv(1 << 16)
            except socket.timeout:
                return goaway, False
            except ConnectionResetError:
                return goaway, True
            if not d:
                return goaway, True
            buf += d
            while len(buf) >= 9:
                length = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + length:
                    break
                frame, _ = hf.Frame.parse_frame_header(memoryview(buf[:9]))
                frame.parse_body(memoryview(buf[9:9 + length]))
                buf = buf[9 + length:]
                if isinstance(frame, hf.GoAwayFrame):
                    goaway = frame.error_code
        return goaway, False
    finally:
        s.close()


def still_serving(port):
    assert curl(f"http://127.0.0.1:{port}/echo", "--http2-prior-knowledge")[:2] == ("2", 200)


def cut_count(a):
    return a.metrics().get(f'alb_http2_connections_cut_total{{listener="http-{a.port}"}}', 0)


def test_rapid_reset_is_cut(start_alb, backend):
    a = start_h2c(start_alb, backend)
    block = headers_block("/slow?ms=1000")
    frames = []
    for i in range(1000):
        sid = 1 + 2 * i
        frames.append(hf.HeadersFrame(sid, data=block, flags=["END_HEADERS", "END_STREAM"]).serialize() +
                      hf.RstStreamFrame(sid, error_code=8).serialize())
    goaway, closed = attack(a.port, [b"".join(frames)])
    assert closed and goaway is not None and goaway != 0
    still_serving(a.port)
    assert len(backend.requests) < 1000
    m = a.metrics()
    assert m[f'alb_http2_connections_cut_total{{listener="http-{a.port}"}}'] == 1
    assert m[f'alb_http2_connections_total{{listener="http-{a.port}"}}'] == 2   # the attack, and curl


def test_continuation_flood_is_cut(start_alb, backend):
    a = start_h2c(start_alb, backend)
    frames = [hf.HeadersFrame(1, data=headers_block()[:10])]
    frames += [hf.ContinuationFrame(1, data=b"\x00") for _ in range(200)]
    goaway, closed = attack(a.port, frames)
    assert closed and goaway not in (None, 0)
    still_serving(a.port)
    assert cut_count(a) == 1


def test_hpack_bomb_is_cut(start_alb, backend):
    """A small block that decodes to far more than the header limit: one
    big field indexed, then referenced many times."""
    a = start_h2c(start_alb, backend)
    enc = hpack.Encoder()
    block = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x"),
                        ("x-bomb", "a" * 3000)])
    block += enc.encode([("x-bomb", "a" * 3000)]) * 100     # one byte each: the indexed field again
    assert len(block) < 4000
    goaway, closed = attack(a.port, [hf.HeadersFrame(1, data=block, flags=["END_HEADERS", "END_STREAM"])])
    assert closed and goaway == 11   # ENHANCE_YOUR_CALM
    assert backend.requests == []
    still_serving(a.port)
    assert cut_count(a) == 1


def test_streams_over_the_limit_are_refused_then_cut(start_alb, backend):
    a = start_h2c(start_alb, backend)
    block_for = [headers_block(f"/slow?ms=3000&i={i}") for i in range(300)]
    frames = [hf.HeadersFrame(1 + 2 * i, data=b, flags=["END_HEADERS", "END_STREAM"]).serialize()
              for i, b in enumerate(block_for)]
    goaway, closed = attack(a.port, [b"".join(frames)])
    assert closed and goaway == 11   # ENHANCE_YOUR_CALM
    still_serving(a.port)


@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_ack_flood_does_not_grow_memory(start_alb, backend, kind):
    """PINGs or SETTINGS sent without reading the acknowledgements: ALB
    stops reading while its answers cannot leave, so the flood stalls its
    sender."""
    a = start_h2c(start_alb, backend)
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(PREFACE + hf.SettingsFrame(0).serialize())
    ping = (hf.PingFrame(0, opaque_data=b"12345678") if kind == "ping"
            else hf.SettingsFrame(0, settings={hf.SettingsFrame.INITIAL_WINDOW_SIZE: 65535})).serialize()
    s.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 10
    while sent < 64 << 20 and time.monotonic() < deadline:
        try:
            sent += s.send(ping * 1000)
        except BlockingIOError:
            break
        except (BrokenPipeError, ConnectionResetError):
            break
    assert sent < 64 << 20          # the sender was stalled (or cut), not absorbed
    assert a.rss_kib() < 200 * 1024
    still_serving(a.port)
    s.close()


def test_malformed_requests_are_reset_and_the_connection_goes_on(start_alb, backend):
    """Fields HTTP/2 forbids (Transfer-Encoding, Connection), a body longer
    than its content-length, and an uppercase field name: each stream is
    reset (PROTOCOL_ERROR) and nothing reaches the backend; a valid stream
    on the same connection is served."""
    a = start_h2c(start_alb, backend)
    bad = [headers_block("/te", [("transfer-encoding", "chunked")]),
           headers_block("/conn", [("connection", "close")]),
           headers_block("/upper", [("X-Upper", "1")])]
    frames = [hf.HeadersFrame(1 + 2 * i, data=b, flags=["END_HEADERS", "END_STREAM"]) for i, b in enumerate(bad)]
    frames.append(hf.HeadersFrame(7, data=headers_block("/len", [("content-length", "2")]), flags=["END_HEADERS"]))
    frames.append(hf.DataFrame(7, data=b"toolong", flags=["END_STREAM"]))
    frames.append(hf.HeadersFrame(9, data=headers_block("/echo/ok"), flags=["END_HEADERS", "END_STREAM"]))
    s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    s.sendall(PREFACE + hf.SettingsFrame(0).serialize() + b"".join(f.serialize() for f in frames))
    resets, ok, buf = {}, False, b""
    deadline = time.monotonic() + 10
    while not (ok and len(resets) == 4):
        assert time.monotonic() < deadline, (resets, ok)
        buf += s.recv(65536)
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            length = int.from_bytes(buf[:3], "big")
            frame, _ = hf.Frame.parse_frame_header(memoryview(buf[:9]))
            frame.parse_body(memoryview(buf[9:9 + length]))
            buf = buf[9 + length:]
            if isinstance(frame, hf.RstStreamFrame):
                resets[frame.stream_id] = frame.error_code
            elif isinstance(frame, hf.HeadersFrame) and frame.stream_id == 9:
                ok = True
            assert not isinstance(frame, hf.GoAwayFrame)
    s.close()
    assert resets == {1: 1, 3: 1, 5: 1, 7: 1}      # PROTOCOL_ERROR
    assert [r[1] for r in backend.requests if r[1] != "/len"] == ["/echo/ok"]


def test_settings_frame_with_too_many_entries_is_cut(start_alb, backend):
    a = start_h2c(start_alb, backend)
    body = b"".join((4).to_bytes(2, "big") + (65535 + i).to_bytes(4, "big") for i in range(100))
    raw = len(body).to_bytes(3, "big") + b"\x04\x00" + (0).to_bytes(4, "big") + body   # SETTINGS, 100 entries
    goaway, closed = attack(a.port, [raw])
    assert closed and goaway == 11   # ENHANCE_YOUR_CALM
    still_serving(a.port)
    assert cut_count(a) == 1


def test_header_block_over_the_limit_is_cut(start_alb, backend):
    """Not a bomb: one literal field of 20 KB, over the 16 KiB limit."""
    a = start_h2c(start_alb, backend)
    enc = hpack.Encoder()
    block = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x"),
                        ("x-big", "b" * 20000)], huffman=False)
    frames = [hf.HeadersFrame(1, data=block[:16000]), hf.ContinuationFrame(1, data=block[16000:], flags=["END_HEADERS"])]
    goaway, closed = attack(a.port, frames)
    assert closed and goaway == 11
    assert backend.requests == []
    still_serving(a.port)


def test_host_field_without_authority(start_alb, backend):
    """RFC 9113 §8.3.1: a request may carry Host instead of :authority."""
    a = start_h2c(start_alb, backend)
    block = hpack.Encoder().encode([(":method", "GET"), (":path", "/echo/h"), (":scheme", "http"),
                                    ("x-before", "1"), ("host", "named.example")])
    s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    s.sendall(PREFACE + hf.SettingsFrame(0).serialize() +
              hf.HeadersFrame(1, data=block, flags=["END_HEADERS", "END_STREAM"]).serialize())
    deadline = time.monotonic() + 10
    while not backend.requests:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    s.close()
    method, target, headers, _ = backend.requests[0]
    assert target == "/echo/h" and ("Host", "named.example") in [(k.capitalize() if k == "host" else k, v)
                                                                 for k, v in headers]
