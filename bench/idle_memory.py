#!/usr/bin/env python3
"""bench/idle_memory.py : memory per client connection, ALB vs nginx vs
HAProxy. For each proxy and each count N (argv, default 10000 19000):
  idle    N keep-alive connections that each completed one request;
  partial N connections that each sent 3 KB of an unfinished request head.
Prints the proxy's RSS growth per connection (beyond what the kernel holds
for the sockets, which RSS does not count). One process may hold at most
RLIMIT_NOFILE descriptors; counts above the hard limit are skipped with a
note. MODE=https measures TLS 1.3 connections (as bench/peers.py sets the
proxies up); MODE=h2 HTTP/2 over TLS 1.3, where "partial" is a connection
with one POST stream whose body never comes. A benchmark: it prints
numbers and asserts nothing."""
import os
import resource
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settle(pid):
    """RSS after the proxy has processed what was sent: wait until two
    readings 100 ms apart agree (bounded to 5 s)."""
    last = rss_kib(pid)
    for _ in range(50):
        time.sleep(0.1)
        now = rss_kib(pid)
        if now == last:
            return now
        last = now
    return last


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if not peers.TLS:
        return s
    ctx = ssl._create_unverified_context()
    if peers.H2:
        ctx.set_alpn_protocols(["h2"])
    return ctx.wrap_socket(s, server_hostname="bench.example")


def h2_request(s, partial):
    """One GET to its end on an HTTP/2 connection, or (partial) a POST
    whose body never comes. Returns the connection state to keep alive."""
    import h2.connection
    import h2.events
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    hdrs = [(":method", "POST" if partial else "GET"), (":path", "/"), (":scheme", "https"), (":authority", "a")]
    conn.send_headers(1, hdrs, end_stream=not partial)
    s.sendall(conn.data_to_send())
    while not partial:
        events = conn.receive_data(s.recv(65536))
        s.sendall(conn.data_to_send())
        if any(isinstance(e, h2.events.StreamEnded) for e in events):
            break
    return conn


def measure(proxy, n, partial):
    pid = proxy.proc.pid
    warm = connect(proxy.port)
    if peers.H2:
        h2_request(warm, False)
    else:
        warm.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        warm.recv(4096)
    base = settle(pid)
    conns = []
    try:
        for _ in range(n):
            s = connect(proxy.port)
            if peers.H2:
                s.h2 = h2_request(s, partial)
            elif partial:
                s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"p" * 3000)
            else:
                s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                data = b""
                while not data.endswith(b"ok"):
                    data += s.recv(4096)
            conns.append(s)
        grown = settle(pid) - base
        return grown * 1024 / n
    finally:
        for s in conns:
            s.close()
        warm.close()


def main():
    counts = [int(a) for a in sys.argv[1:]] or [10000, 19000]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import subprocess
    import tempfile
    work = tempfile.mkdtemp(prefix="alb-mem-")
    subprocess.run(["gcc", "-O2", "-o", os.path.join(work, "okserver"), os.path.join(peers.ROOT, "bench", "okserver.c")],
                   check=True)
    bport = peers.free_port()
    backend = subprocess.Popen([os.path.join(work, "okserver"), str(bport)])
    peers.wait_port(bport)
    print(f"{peers.MODE}: fd limit {hard}; RSS growth per connection, bytes; fresh proxies for every figure, "
          "so no run reuses memory another one freed")
    try:
        for n in counts:
            if n + 200 > hard:
                print(f"  {n}: skipped, over this machine's RLIMIT_NOFILE hard limit ({hard})")
                continue
            for partial in (False, True):
                proxies = peers.start_proxies(work, bport)
                try:
                    for name, p in proxies.items():
                        if name == "haproxy" and n > 9900:
                            print(f"  {n:6d} connections  haproxy  skipped: maxconn 9900 is all this fd limit allows it")
                            continue
                        per = measure(p, n, partial)
                        what = "stuck mid-header" if partial else "idle keep-alive"
                        print(f"  {n:6d} connections  {name:8s} {what:17s} {per:8.0f}", flush=True)
                finally:
                    for p in proxies.values():
                        p.stop()
    finally:
        backend.terminate()


if __name__ == "__main__":
    main()
