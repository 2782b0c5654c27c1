"""Bodies stream in both directions with backpressure and bounded memory;
an Upgrade becomes a tunnel. The 1 GiB runs use the optimised binary so the
RSS figures mean what they say (the sanitizer build's allocator and shadow
memory would dominate them); the same code paths run under the sanitizers
with 64 MiB."""
import asyncio
import os
import socket
import threading
import time

import pytest
import websockets

from conftest import ALB_OPT_BIN, free_port, read_response, simple_config

GIB = 1 << 30
BLOCK = b"u" * (1 << 20)


def upload(port, n):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % n)
    left = n
    while left:
        k = min(left, len(BLOCK))
        s.sendall(BLOCK[:k])
        left -= k
    status, _, body, _ = read_response(s)
    s.close()
    return status, int(body)


def download(port, n):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"GET /download?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % n)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: %d" % n in head
    got = len(rest)
    mv = bytearray(1 << 20)
    while got < n:
        r = s.recv_into(mv)
        assert r > 0, "connection closed early"
        got += r
    s.close()
    return got


@pytest.mark.parametrize("size", [64 << 20])
def test_large_bodies_under_sanitizers(alb, size):
    assert upload(alb.port, size) == (200, size)
    assert download(alb.port, size) == size


def test_one_gib_up_and_down_with_bounded_rss(start_alb, backend):
    a = start_alb(simple_config(free_port(), {"web": [backend]}), binary=ALB_OPT_BIN)
    assert download(a.port, 1 << 20) == 1 << 20  # warm up pools and threads
    base = a.hwm_kib()
    t0 = time.monotonic()
    assert upload(a.port, GIB) == (200, GIB)
    assert download(a.port, GIB) == GIB
    elapsed = time.monotonic() - t0
    growth_mib = (a.hwm_kib() - base) / 1024
    print(f"\n1 GiB up + 1 GiB down in {elapsed:.1f} s; peak RSS grew {growth_mib:.1f} MiB")
    assert growth_mib < 16


def test_slow_reader_applies_backpressure(start_alb, backend):
    """A client that does not read must not make ALB buffer the response."""
    a = start_alb(simple_config(free_port(), {"web": [backend]}), binary=ALB_OPT_BIN)
    s = socket.create_connection(("127.0.0.1", a.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    base = a.rss_kib()
    s.sendall(b"GET /download?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % (256 << 20))
    time.sleep(1.0)  # let ALB fill every buffer it would fill
    assert (a.rss_kib() - base) < 8 * 1024
    got = 0
    mv = bytearray(1 << 20)
    while got < 256 << 20:
        r = s.recv_into(mv)
        assert r > 0
        got += r
    s.close()


class WsEcho:
    """A real WebSocket server (python3-websockets) on its own loop thread."""

    def __init__(self):
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def echo(ws, path=None):
            async for m in ws:
                await ws.send(m)

        async def main():
            self.server = await websockets.serve(echo, "127.0.0.1", self.port)
            self.ready.set()
            await self.server.wait_closed()

        self.loop.run_until_complete(main())

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(5)


def test_websocket_tunnel(start_alb):
    ws_server = WsEcho()
    try:
        a = start_alb(simple_config(free_port(), {"ws": [ws_server.port]}))

        async def client():
            async with websockets.connect(f"ws://127.0.0.1:{a.port}/chat") as ws:
                for i in range(50):
                    await ws.send(f"message {i}")
                    assert await ws.recv() == f"message {i}"
                big = os.urandom(512 << 10)  # under the library's 1 MiB default max_size
                await ws.send(big)
                assert await ws.recv() == big

        asyncio.run(asyncio.wait_for(client(), 30))
    finally:
        ws_server.stop()


def test_raw_upgrade_tunnel_half_close(alb):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    status, headers, _, rest = read_response(s)
    assert status == 101 and headers["upgrade"] == ["websocket"] and headers["connection"] == ["upgrade"]
    s.sendall(b"ping-bytes")
    got = rest
    while len(got) < 10:
        got += s.recv(100)
    assert got == b"ping-bytes"
    s.shutdown(socket.SHUT_WR)
    assert s.recv(100) == b""  # the backend saw EOF and closed; ALB passed it on
    s.close()


def test_upgrade_without_connection_upgrade_is_plain_request(alb, backend):
    s = socket.create_connection(("127.0.0.1", alb.port), timeout=5)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")
    status, _, body, _ = read_response(s)
    assert status == 200 and b"websocket" not in body.lower()
    s.close()
