"""gzip of responses (a listener's "gzip", ALB's gzipEnabled): what is
compressed, what is not, that bodies stream (each piece is flushed as it
comes), and that the result decodes to exactly what the backend sent."""
import http.client
import socket
import zlib

from conftest import free_port, raw_exchange, read_response, simple_config


def text(n):
    return b"".join(f"{i:08d} some compressible text\n".encode() for i in range(n // 30 + 1))[:n]


def get(conn, path, headers=None, method="GET"):
    conn.request(method, path, headers={"Accept-Encoding": "gzip", **(headers or {})})
    r = conn.getresponse()
    return r, r.read()


def gunzip(data):
    return zlib.decompress(data, 16 + zlib.MAX_WBITS)


def start(start_alb, backend, gzip=True):
    port = free_port()
    a = start_alb(simple_config(port, {"web": [backend]}, gzip=gzip))
    return a, http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def test_compressed_by_length_and_chunked_and_large(start_alb, backend):
    a, conn = start(start_alb, backend)
    for path, n in (("/text?n=20000", 20000), ("/text?n=9000&chunked=1", 9000), ("/text?n=3000000", 3000000),
                    ("/text?n=2000&type=application/json;%20charset=utf-8&etag=%22v1%22", 2000)):
        r, body = get(conn, path)  # one keep-alive connection throughout
        assert r.status == 200, path
        assert r.getheader("Content-Encoding") == "gzip", path
        assert r.getheader("Vary") == "Accept-Encoding"
        assert r.getheader("Content-Length") is None and r.getheader("Transfer-Encoding") == "chunked"
        assert gunzip(body) == text(n), path
        assert len(body) < n / 3
    assert r.getheader("ETag") == 'W/"v1"'  # the bytes differ from the origin's
    conn.close()


def test_not_compressed_when_it_should_not_be(start_alb, backend):
    a, conn = start(start_alb, backend)
    cases = [
        ("/text?n=20000", {"Accept-Encoding": "identity"}, "GET"),
        ("/text?n=20000", {"Accept-Encoding": "br, gzip;q=0"}, "GET"),
        ("/text?n=20000", {}, "HEAD"),
        ("/text?n=500", {}, "GET"),                                   # under 1 KiB
        ("/text?n=20000&type=image/png", {}, "GET"),
        ("/text?n=20000&encoding=br", {}, "GET"),                     # already encoded
        ("/text?n=20000&cc=public,%20no-transform", {}, "GET"),
        ("/text?n=20000&status=500", {}, "GET"),
        ("/status?code=204", {}, "GET"),
    ]
    for path, headers, method in cases:
        r, body = get(conn, path, headers, method)
        assert r.getheader("Content-Encoding") in (None, "br"), (path, headers, method)
        if method == "GET" and path.startswith("/text") and "encoding" not in path:
            assert body == text(int(path.split("n=")[1].split("&")[0])), path
    conn.close()
    a2, conn2 = start(start_alb, backend, gzip=False)
    r, body = get(conn2, "/text?n=20000")
    assert r.getheader("Content-Encoding") is None and body == text(20000)
    conn2.close()


def test_accept_encoding_forms(start_alb, backend):
    a, conn = start(start_alb, backend)
    for ae, yes in (("gzip", True), ("deflate, GZIP;q=0.5", True), ("*", True), ("x-gzip", True),
                    ("*;q=0", False), ("gzip;q=0.000, *", False), ("br", False)):
        r, body = get(conn, "/text?n=5000", {"Accept-Encoding": ae})
        assert (r.getheader("Content-Encoding") == "gzip") == yes, ae
        assert (gunzip(body) if yes else body) == text(5000)
    conn.close()


def test_http10_client_gets_a_close_delimited_gzip_body(start_alb, backend):
    a, _ = start(start_alb, backend)
    data, closed = raw_exchange(a.port, b"GET /text?n=50000&chunked=1 HTTP/1.0\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n")
    assert closed
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"content-encoding: gzip" in head.lower() and b"transfer-encoding" not in head.lower()
    assert gunzip(body) == text(50000)


def test_pieces_are_flushed_as_they_come(start_alb, backend):
    """The backend sends its first 4000 bytes and waits: they must reach
    the client, decodable, before the rest exists."""
    a, _ = start(start_alb, backend)
    s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    s.sendall(b"GET /text?n=12000&hold=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    buf, got = b"", b""
    try:
        while len(got) < 4000:
            buf += s.recv(65536)
            if b"\r\n\r\n" not in buf:
                continue
            head, rest = buf.split(b"\r\n\r\n", 1)
            # de-chunk what is complete so far
            out, pos = b"", 0
            while True:
                nl = rest.find(b"\r\n", pos)
                if nl < 0:
                    break
                size = int(rest[pos:nl], 16)
                if len(rest) < nl + 2 + size + 2:
                    break
                out += rest[nl + 2:nl + 2 + size]
                pos = nl + 2 + size + 2
            got = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(out)
        assert got == text(12000)[:4000]
    finally:
        backend.release.set()
    status, headers, body, _ = read_response(s, buf)
    s.close()
    assert status == 200
    assert d.decompress(body) == text(12000)
