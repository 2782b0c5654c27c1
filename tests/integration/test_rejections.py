"""Bad input: every malformed request gets its 4xx and a close, nothing of
it reaches a backend, and the worker keeps serving everyone else. Each case
names the attack or rule it covers."""
import socket
import time

import pytest

from conftest import free_port, raw_exchange, read_response, simple_config

H = b"Host: a\r\n"

REJECTED = [
    # request smuggling / desync (RFC 9112 §6.1, §6.3, §11.2)
    ("cl_and_te", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_and_cl", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400),
    ("differing_cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400),
    ("cl_list_differs", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4, 5\r\n\r\nabcde", 400),
    ("cl_not_digits", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4a\r\n\r\nabcd", 400),
    ("cl_negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("te_not_final_chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, identity\r\n\r\n", 400),
    ("te_gzip_only", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    ("te_chunked_twice", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("te_on_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_obfuscated_vtab", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n continued\r\n\r\n", 400),
    ("obs_fold_te", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
    ("space_before_colon", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("tab_before_colon", b"POST / HTTP/1.1\r\n" + H + b"Content-Length\t: 0\r\n\r\n", 400),
    ("bare_lf", b"GET / HTTP/1.1\n" + b"Host: a\n\n", 400),
    ("bare_cr", b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
    # invalid bytes
    ("ctl_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    ("nul_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("del_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n", 400),
    ("ctl_in_name", b"GET / HTTP/1.1\r\n" + H + b"X\x01A: 1\r\n\r\n", 400),
    ("separator_in_name", b"GET / HTTP/1.1\r\n" + H + b"X(A): 1\r\n\r\n", 400),
    ("ctl_in_target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("non_ascii_target", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("space_in_target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("encoded_nul_in_path", b"GET /a%00b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("invalid_escape_in_path", b"GET /a%zz HTTP/1.1\r\n" + H + b"\r\n", 400),
    # Host
    ("missing_host", b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400),
    ("repeated_host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("invalid_host", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    # target forms
    ("authority_form", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 400),
    ("relative_target", b"GET a/b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("asterisk_not_options", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
    # versions and framing of the request line
    ("http2_version", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("garbage_version", b"GET / HTTX/1.1\r\n" + H + b"\r\n", 400),
    ("double_space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("unsupported_expectation", b"GET / HTTP/1.1\r\n" + H + b"Expect: teapot\r\n\r\n", 417),
    # limits
    ("uri_over_8k", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("head_over_16k", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(17)) + b"\r\n", 431),
    ("over_100_headers", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: 1\r\n" % i for i in range(100)) + b"\r\n", 431),
    # chunked body framing (the head is valid, the body is not)
    ("bad_chunk_size", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk_size_overflow", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
    ("chunk_bare_lf", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
    ("chunk_data_overrun", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", 400),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    import conftest
    b = conftest.Backend("rej")
    a = conftest.Alb(tmp_path_factory.mktemp("rej"), simple_config(free_port(), {"web": [b]},
                                                                 limits={"max_body_bytes": 1000}))
    yield a, b
    a.stop()
    b.stop()


@pytest.mark.parametrize("name,request_bytes,status", REJECTED, ids=[r[0] for r in REJECTED])
def test_rejected(shared, name, request_bytes, status):
    a, b = shared
    # A well-behaved client with a keep-alive connection, served before and after.
    good = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    good.sendall(b"GET /before HTTP/1.1\r\nHost: a\r\n\r\n")
    assert read_response(good)[0] == 200
    seen_before = len(b.requests)

    out, closed = raw_exchange(a.port, request_bytes)
    assert out.startswith(b"HTTP/1.1 %d " % status), out[:200]
    head = out.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nConnection: close\r\n" in head + b"\r\n"
    assert b"\r\nServer: alb" in head and b"\r\nDate: " in head and b"\r\nContent-Length: " in head
    assert closed
    if name.startswith(("bad_chunk", "chunk_")):
        # the head was valid and went upstream, but the broken body did not
        # complete a request there
        assert all(r[3] != 3 for r in b.requests[seen_before:])
    else:
        assert len(b.requests) == seen_before, f"backend saw {b.requests[seen_before:]}"

    good.sendall(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
    assert read_response(good)[0] == 200
    good.close()


def test_body_over_limit_is_413_before_forwarding(shared):
    a, b = shared
    before = len(b.requests)
    out, closed = raw_exchange(a.port, b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001)
    assert out.startswith(b"HTTP/1.1 413 ") and closed
    time.sleep(0)  # nothing to wait for: the backend is checked below
    assert len(b.requests) == before


def test_body_at_limit_passes(shared):
    a, b = shared
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000)
    status, _, body, _ = read_response(s)
    assert status == 200 and body == b"1000"
    s.close()


def test_chunked_body_over_limit_is_cut(shared):
    a, b = shared
    req = b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + (b"200\r\n" + b"y" * 512 + b"\r\n") * 3
    out, closed = raw_exchange(a.port, req + b"0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ") and closed
    assert all(r[3] != 1536 for r in b.requests)


def test_slow_header_gets_408(start_alb, backend):
    a = start_alb(simple_config(free_port(), {"web": [backend]}, timeouts={"client_header_ms": 300}))
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")  # never finished
    t0 = time.monotonic()
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    assert out.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in out
    assert 0.25 < time.monotonic() - t0 < 3
    assert backend.requests == []


def test_slowloris_trickle_does_not_extend_header_timeout(start_alb, backend):
    a = start_alb(simple_config(free_port(), {"web": [backend]}, timeouts={"client_header_ms": 500}))
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\n")
    t0 = time.monotonic()
    s.settimeout(0.1)
    out = b""
    while time.monotonic() - t0 < 4:
        try:
            s.sendall(b"X: y\r\n")
        except OSError:
            break
        try:
            d = s.recv(4096)
            if not d:
                break
            out += d
        except socket.timeout:
            pass
    assert out.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - t0 < 3


def test_idle_keepalive_closed(start_alb, backend):
    a = start_alb(simple_config(free_port(), {"web": [backend]}, timeouts={"idle_ms": 300}))
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, _, rest = read_response(s)
    assert status == 200
    t0 = time.monotonic()
    assert s.recv(100) == b""  # closed by ALB, silently
    assert 0.25 < time.monotonic() - t0 < 3


def test_connection_cap_sheds_excess(start_alb, backend):
    a = start_alb(simple_config(free_port(), {"web": [backend]}, limits={"max_connections": 4}), workers=1)
    held = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(s)[0] == 200
        held.append(s)
    extra = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    try:
        extra.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert extra.recv(100) == b""
    except ConnectionResetError:
        pass
    held[0].close()
    for s in held[1:]:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(s)[0] == 200
        s.close()


def refused(port):
    """True when the listener closes the connection without answering."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def test_listener_acl(start_alb, backend):
    """ALB's aclConfig: an allow list admits only its CIDRs, a deny list
    refuses its CIDRs; a refused client is closed before a byte is read."""
    cases = [({"type": "allow", "cidrs": ["10.0.0.0/8"]}, True),
             ({"type": "deny", "cidrs": ["127.0.0.0/8", "::1/128"]}, True),
             ({"type": "allow", "cidrs": ["192.168.0.0/16", "127.0.0.1/32"]}, False),
             ({"type": "deny", "cidrs": ["10.0.0.0/8"]}, False)]
    for acl, is_refused in cases:
        a = start_alb(simple_config(free_port(), {"web": [backend]}, acl=acl))
        assert refused(a.port) == is_refused, acl
    assert len(backend.requests) == 2  # only the admitted clients reached it
