"""A test backend that speaks HTTP/1.1 over raw sockets and records what it
receives, so tests can assert exactly what ALB forwarded (or that nothing
arrived). It can also misbehave on purpose. Paths:

  /echo            200, JSON of the request it saw (method, target, headers, body length)
  /upload          reads the body (Content-Length or chunked) and answers its length
  /download?n=N    answers N bytes (Content-Length)
  /chunked         answers a chunked body with a trailer
  /close-delimited answers without length, then closes (HTTP/1.0 style)
  /malformed       answers a malformed status line
  /slow?ms=M       waits M ms before answering
  /continue        sends 100 Continue, reads the body, answers its length
  /early?n=N       answers 200 at once without reading the N-byte body, then closes
  /status?code=C   answers status C (204, 304: without body)
  /interim         sends 103 Early Hints then 200
  /ws              101 Switching Protocols, then echoes bytes raw
  /drop-second     answers the first request of a connection; closes the
                   connection without answering any later one (a keep-alive
                   connection the server dropped just as it was reused)

Run standalone as the demo backend: python3 backend.py PORT NAME
"""
import json
import socket
import sys
import threading
import time
import urllib.parse


class Recorded:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []   # (method, target, headers list, body bytes length)
        self.connections = 0
        self.dropped = 0     # connections closed on purpose by /drop-second

    def add(self, req):
        with self.lock:
            self.requests.append(req)


def read_head(sock, buf):
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def read_exact(sock, buf, n, sink=None):
    """Reads n body bytes (buf first). Returns the leftover after them."""
    got = min(len(buf), n)
    if sink is not None:
        sink.append(buf[:got])
    rest = buf[got:]
    n -= got
    mv = bytearray(1 << 20)
    while n > 0:
        r = sock.recv_into(mv, min(len(mv), n))
        if r == 0:
            raise ConnectionError("eof in body")
        if sink is not None:
            sink.append(bytes(mv[:r]))
        n -= r
    return rest


def read_line(sock, buf):
    while b"\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("eof in chunked body")
        buf += data
    line, rest = buf.split(b"\r\n", 1)
    return line, rest


def read_chunked(sock, buf):
    """Decodes a chunked body; returns (length, trailers, leftover)."""
    total = 0
    while True:
        line, buf = read_line(sock, buf)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            trailers = []
            while True:
                line, buf = read_line(sock, buf)
                if line == b"":
                    return total, trailers, buf
                trailers.append(line.decode("latin-1"))
        buf = read_exact(sock, buf, size)
        total += size
        crlf, buf = read_line(sock, buf)
        assert crlf == b""


class Backend:
    """<tls>: an ssl.SSLContext: connections are TLS; the SNI names each
    handshake sent are in .sni."""

    def __init__(self, name="backend", port=0, tls=None):
        self.name = name
        self.tls = tls
        self.sni = []
        if tls:
            tls.sni_callback = lambda sock, server_name, ctx: self.sni.append(server_name) and None
        self.rec = Recorded()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.release = threading.Event()  # /text?hold=1 waits for it
        self.clients = set()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        with self.rec.lock:
            return list(self.rec.requests)

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in list(self.clients):
            try:
                c.close()
            except OSError:
                pass

    def _accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.rec.lock:
                self.rec.connections += 1
            self.clients.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        served = 0
        try:
            if self.tls:
                c = self.tls.wrap_socket(c, server_side=True)
            while True:
                head, buf = read_head(c, buf)
                if head is None:
                    return
                if served and head.split(b" ", 2)[1].startswith(b"/drop-second"):
                    with self.rec.lock:
                        self.rec.dropped += 1
                    return
                served += 1
                keep = self._handle(c, head, buf)
                if keep is None:
                    return
                buf = keep
        except (ConnectionError, OSError, ValueError, AssertionError):  # ssl.SSLError is an OSError
            return
        finally:
            self.clients.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def _respond(self, c, status, body=b"", headers=(), reason="OK"):
        h = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", f"X-Backend: {self.name}"]
        h += list(headers)
        c.sendall(("\r\n".join(h) + "\r\n\r\n").encode() + body)

    def _handle(self, c, head, buf):
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = []
        for l in lines[1:]:
            k, v = l.split(":", 1)
            headers.append((k, v.strip()))
        hmap = {}
        for k, v in headers:
            hmap.setdefault(k.lower(), []).append(v)
        url = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        chunked = "chunked" in ",".join(hmap.get("transfer-encoding", [])).lower()
        cl = int(hmap["content-length"][0]) if "content-length" in hmap else 0

        if path == "/early":
            self.rec.add((method, target, headers, -1))
            self._respond(c, 200, b"early", ["Connection: close"])
            return None
        if path == "/continue":
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body_len, trailers = 0, []
        if chunked:
            body_len, trailers, buf = read_chunked(c, buf)
        elif cl:
            buf = read_exact(c, buf, cl)
            body_len = cl
        self.rec.add((method, target, headers, body_len))

        if path == "/echo" or path.startswith("/echo/"):
            body = json.dumps({"method": method, "target": target, "version": version, "headers": headers,
                               "body_len": body_len, "trailers": trailers, "backend": self.name}).encode()
            self._respond(c, 200, body, ["Content-Type: application/json"])
        elif path in ("/upload", "/continue"):
            self._respond(c, 200, str(body_len).encode())
        elif path == "/download":
            n = int(q.get("n", "0"))
            c.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n".encode())
            if method == "HEAD":
                n = 0
            block = b"x" * (1 << 20)
            while n > 0:
                k = min(n, len(block))
                c.sendall(block[:k])
                n -= k
        elif path == "/text":
            # a compressible body: n bytes of Content-Type <type>, by
            # Content-Length or in chunks; with hold=1 the first chunk goes
            # out and the rest waits for self.release
            n = int(q.get("n", "0"))
            body = b"".join(f"{i:08d} some compressible text\n".encode() for i in range(n // 30 + 1))[:n]
            extra = [f"Content-Type: {q.get('type', 'text/plain')}"]
            for key, name in (("etag", "ETag"), ("encoding", "Content-Encoding"), ("cc", "Cache-Control")):
                if key in q:
                    extra.append(f"{name}: {q[key]}")
            status = int(q.get("status", "200"))
            if q.get("chunked") or q.get("hold"):
                c.sendall((f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n" + "".join(e + "\r\n" for e in extra)
                           + "\r\n").encode())
                for i in range(0, len(body), 4000):
                    piece = body[i:i + 4000]
                    c.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    if i == 0 and q.get("hold"):
                        self.release.wait(10)
                c.sendall(b"0\r\n\r\n")
            else:
                self._respond(c, status, body if method != "HEAD" else b"", extra)
        elif path == "/chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                      b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n")
        elif path == "/close-delimited":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
            return None
        elif path == "/malformed":
            c.sendall(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n")
            return None
        elif path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000)
            self._respond(c, 200, b"slow")
        elif path == "/status":
            code = int(q.get("code", "200"))
            if code in (204, 304):
                c.sendall(f"HTTP/1.1 {code} X\r\nX-Backend: {self.name}\r\n\r\n".encode())
            else:
                self._respond(c, code, b"status", reason="X")
        elif path == "/interim":
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
            self._respond(c, 200, b"final")
        elif path == "/ws":
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            if buf:
                c.sendall(buf)
            while True:
                data = c.recv(65536)
                if not data:
                    return None
                c.sendall(data)
        else:
            self._respond(c, 200, f"hello from {self.name} {path}\n".encode(), ["Content-Type: text/plain"])
        return buf


if __name__ == "__main__":
    port = int(sys.argv[1])
    b = Backend(sys.argv[2] if len(sys.argv) > 2 else "demo", port)
    print(f"demo backend {b.name} on 127.0.0.1:{b.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
