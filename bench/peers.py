#!/usr/bin/env python3
"""bench/peers.py : ALB side by side with nginx and HAProxy, in one run.

Each proxy runs one worker pinned to PROXY_CPU, with upstream keep-alive and
no access log, in front of bench/okserver.c; the load generator and the
backend share LOAD_CPU. Proxies are alternated (A B C A B C) over ROUNDS.
For each it reports:
  - saturating req/s and p99 (wrk -t1 -cCONNS, keep-alive, small GET);
  - at a fixed offered rate (h2load --h1 --rps, RATE req/s in total): p99 and
    proxy CPU microseconds per request, from /proc/PID/stat;
  - system calls per proxied request (strace -c -f, once per proxy);
then the ratios ALB/nginx and ALB/HAProxy. A benchmark, not a test: it
prints numbers and asserts nothing.

MODE: http (default); https: TLS 1.3 (ECDSA P-256 certificate, AES-128-GCM
on all three) with keep-alive, HTTP/1.1 inside; handshake: every request
on a new TLS 1.3 connection (a full handshake each: wrk does not resume),
where the fixed-rate part is skipped and CPU per request comes from the
saturating run; h2: HTTP/2 over TLS 1.3 (ALPN h2) toward the proxy,
HTTP/1.1 keep-alive behind it, h2load with STREAMS (10) concurrent
streams per connection in place of wrk.

Environment: DUR (s, 10), ROUNDS (2), CONNS (50), RATE (30000),
PROXY_CPU (1), LOAD_CPU (0), SKIP_STRACE (unset), BUILD (build/alb), MODE,
STREAMS (10, MODE=h2)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DUR = int(os.environ.get("DUR", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
CONNS = int(os.environ.get("CONNS", "50"))
RATE = int(os.environ.get("RATE", "30000"))
PROXY_CPU = os.environ.get("PROXY_CPU", "1")
LOAD_CPU = os.environ.get("LOAD_CPU", "0")
ALB = os.environ.get("BUILD", os.path.join(ROOT, "build", "alb"))
MODE = os.environ.get("MODE", "http")
TLS = MODE in ("https", "handshake", "h2")
H2 = MODE == "h2"
STREAMS = int(os.environ.get("STREAMS", "10"))
H2LOAD_PROTO = [] if H2 else ["--h1"]
SCHEME = "https" if TLS else "http"
TLS13_SUITE = "TLS_AES_128_GCM_SHA256"  # ALB's first choice; set on nginx and HAProxy too, so all do the same work
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def pinned(cpu, argv):
    return ["taskset", "-c", cpu, *argv]


class Proxy:
    def __init__(self, name, argv, port, work):
        self.name, self.port = name, port
        self.log = open(os.path.join(work, f"{name}.log"), "w")
        self.proc = subprocess.Popen(pinned(PROXY_CPU, argv), stdout=self.log, stderr=self.log)
        wait_port(port)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def start_proxies(work, backend_port):
    proxies = {}
    try:
        return start_each(work, backend_port, proxies)
    except Exception:
        for p in proxies.values():
            p.stop()
        raise


def make_cert(work):
    """An ECDSA P-256 certificate and key (and both in one file, for HAProxy)."""
    crt, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=bench.example",
                    "-addext", "subjectAltName=DNS:bench.example"], check=True, capture_output=True)
    with open(os.path.join(work, "both.pem"), "w") as f:
        f.write(open(crt).read() + open(key).read())
    return crt, key


def start_each(work, backend_port, proxies):
    crt, key = make_cert(work) if TLS else (None, None)
    # ALB
    port = free_port()
    lst = {"address": "127.0.0.1", "port": port, "timeouts": {"idle_ms": 600000},
           "rules": [{"actions": [{"type": "forward", "backend": "ok"}]}]}
    if TLS:
        lst.update({"protocol": "HTTPS", "tls": {"policy": "tls_cipher_policy_1_2_strict_with_1_3", "certificates": [
            {"name": "bench", "cert_pem": open(crt).read(), "key_pem": open(key).read()}]}})
    cfg = {"version": 1, "listeners": [lst],
           "backends": [{"name": "ok", "endpoints": [{"address": "127.0.0.1", "port": backend_port}]}]}
    path = os.path.join(work, "alb.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    proxies["alb"] = Proxy("alb", [ALB, "serve", "--config", path, "--workers", "1", "--log-level", "error"], port, work)
    # nginx: one process, upstream keep-alive, no access log
    port = free_port()
    conf = f"""
daemon off; master_process off; worker_processes 1; pid {work}/nginx.pid;
error_log {work}/nginx-error.log error;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000; keepalive_timeout 600s;
  upstream ok {{ server 127.0.0.1:{backend_port}; keepalive 128; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port}{" ssl" if TLS else ""}{" http2" if H2 else ""};
    {f"ssl_certificate {crt}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3; "
     f"ssl_conf_command Ciphersuites {TLS13_SUITE};" if TLS else ""}
    location / {{ proxy_pass http://ok; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    os.makedirs(os.path.join(work, "nginx-tmp"), exist_ok=True)
    proxies["nginx"] = Proxy("nginx", ["nginx", "-p", work, "-c", path, "-e", f"{work}/nginx-error.log"], port, work)
    # HAProxy: one thread, reuse idle server connections
    port = free_port()
    conf = f"""
global
  nbthread 1
  ssl-default-bind-ciphersuites {TLS13_SUITE}
  # HAProxy reserves two descriptors per connection: 9900 fits the 20000
  # RLIMIT_NOFILE of the machines this was written on
  maxconn 9900
defaults
  mode http
  timeout connect 5s
  timeout client 600s
  timeout server 600s
  timeout http-keep-alive 600s
  http-reuse always
frontend fe
  bind 127.0.0.1:{port}{f" ssl crt {work}/both.pem" if TLS else ""}{" alpn h2,http/1.1" if H2 else ""}
  default_backend be
backend be
  server s1 127.0.0.1:{backend_port}
"""
    path = os.path.join(work, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    proxies["haproxy"] = Proxy("haproxy", ["haproxy", "-db", "-f", path], port, work)
    return proxies


def run_saturating(proxy, work):
    """(req/s, p99 us, errors, proxy CPU us per request) of a saturating run."""
    return run_h2load_saturating(proxy, work) if H2 else run_wrk(proxy)


def p99_of(log):
    lat = sorted(int(l.split()[2]) for l in open(log) if l.strip())
    return lat[int(len(lat) * 0.99) - 1] if lat else 0


def run_h2load_saturating(proxy, work):
    log = os.path.join(work, f"h2load-sat-{proxy.name}.log")
    t0 = cpu_ticks(proxy.proc.pid)
    out = subprocess.run(pinned(LOAD_CPU, ["h2load", "-t1", f"-c{CONNS}", f"-m{STREAMS}", f"-D{DUR}",
                                           f"--log-file={log}", f"{SCHEME}://127.0.0.1:{proxy.port}/"]),
                         capture_output=True, text=True, timeout=DUR + 30).stdout
    t1 = cpu_ticks(proxy.proc.pid)
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    done, failed = int(m.group(1)), int(m.group(3))
    if "h2" not in out.split("Application protocol:", 1)[-1][:8]:
        sys.exit(f"bench: {proxy.name} did not speak h2:\n{out[-600:]}")
    return done / DUR, p99_of(log), str(failed), (t1 - t0) / TICK * 1e6 / max(done, 1)


def run_wrk(proxy):
    close = ["-H", "Connection: close"] if MODE == "handshake" else []
    t0 = cpu_ticks(proxy.proc.pid)
    out = subprocess.run(pinned(LOAD_CPU, ["wrk", "-t1", f"-c{CONNS}", f"-d{DUR}s", "--latency", *close,
                                           f"{SCHEME}://127.0.0.1:{proxy.port}/"]),
                         capture_output=True, text=True, timeout=DUR + 30).stdout
    t1 = cpu_ticks(proxy.proc.pid)
    done = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_us = float(m.group(1)) * {"us": 1, "ms": 1000, "s": 1e6}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(r"Socket errors: (.*)", out)
    cpu_us = (t1 - t0) / TICK * 1e6 / max(done, 1)
    return rps, p99_us, (errors.group(1) if errors else "0") + (f" ({sock_err.group(1)})" if sock_err else ""), cpu_us


def run_fixed(proxy, work):
    log = os.path.join(work, f"h2load-{proxy.name}.log")
    per_conn = max(1, RATE // CONNS)
    t0 = cpu_ticks(proxy.proc.pid)
    out = subprocess.run(pinned(LOAD_CPU, ["h2load", *H2LOAD_PROTO, "-t1", f"-c{CONNS}", f"--rps={per_conn}",
                                           f"-D{DUR}", f"--log-file={log}", f"{SCHEME}://127.0.0.1:{proxy.port}/"]),
                         capture_output=True, text=True, timeout=DUR + 30).stdout
    t1 = cpu_ticks(proxy.proc.pid)
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
    p99 = p99_of(log)
    cpu_us = (t1 - t0) / TICK * 1e6 / max(done, 1)
    return done / DUR, p99, cpu_us


def syscalls_per_request(proxy, work):
    if os.environ.get("SKIP_STRACE") or not shutil.which("strace") or MODE == "handshake":
        return None
    n = 20000
    out_file = os.path.join(work, f"strace-{proxy.name}.txt")
    st = subprocess.Popen(["strace", "-c", "-f", "-o", out_file, "-p", str(proxy.proc.pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # strace attaches asynchronously; no event tells when it is done
    subprocess.run(pinned(LOAD_CPU, ["h2load", *H2LOAD_PROTO, "-t1", f"-c{CONNS}", f"-n{n}", f"--rps={max(1, 10000 // CONNS)}",
                                     f"{SCHEME}://127.0.0.1:{proxy.port}/"]), capture_output=True, timeout=120)
    st.send_signal(signal.SIGINT)
    st.wait(10)
    total = 0
    for line in open(out_file):
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
        if m and m.group(2) != "total":
            total += int(m.group(1))
    return total / n


def main():
    for tool in ("wrk", "h2load", "nginx", "haproxy", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (make bench installs it)")
    if not os.path.exists(ALB):
        sys.exit(f"bench: {ALB} is missing (run make)")
    work = tempfile.mkdtemp(prefix="alb-bench-")
    subprocess.run(["gcc", "-O2", "-o", os.path.join(work, "okserver"), os.path.join(ROOT, "bench", "okserver.c")],
                   check=True)
    backend_port = free_port()
    backend = subprocess.Popen(pinned(LOAD_CPU, [os.path.join(work, "okserver"), str(backend_port)]))
    wait_port(backend_port)
    try:
        proxies = start_proxies(work, backend_port)
    except Exception:
        backend.terminate()
        raise
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"bench: {MODE}, commit {commit}, {os.cpu_count()} CPUs, proxy on cpu {PROXY_CPU}, load+backend on cpu {LOAD_CPU}, "
          f"{ROUNDS} rounds x {DUR}s, {CONNS} connections, fixed rate {RATE} req/s")
    results = {name: {"rps": [], "p99": [], "fixed_p99": [], "cpu_us": [], "sat_cpu_us": [], "errors": []}
               for name in proxies}
    try:
        for r in range(ROUNDS):
            for name, p in proxies.items():
                rps, p99, errs, sat_cpu = run_saturating(p, work)
                frate, fp99, cpu_us = run_fixed(p, work) if MODE != "handshake" else (0, 0, sat_cpu)
                res = results[name]
                res["rps"].append(rps)
                res["p99"].append(p99)
                res["fixed_p99"].append(fp99)
                res["cpu_us"].append(cpu_us)
                res["sat_cpu_us"].append(sat_cpu)
                res["errors"].append(errs)
                print(f"  round {r + 1} {name:8s} saturating {rps:9.0f} req/s p99 {p99:7.0f} us (non-2xx {errs}), "
                      f"{sat_cpu:6.2f} us CPU/request | fixed {frate:7.0f} req/s p99 {fp99:6d} us, "
                      f"{cpu_us:5.2f} us CPU/request", flush=True)
        sc = {name: syscalls_per_request(p, work) for name, p in proxies.items()}
    finally:
        for p in proxies.values():
            p.stop()
        backend.terminate()
        backend.wait()

    def mean(v):
        """The median: one round disturbed by the host must not move the
        summary (rounds here vary by up to 15%)."""
        v = sorted(v)
        mid = len(v) // 2
        return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2

    print(f"\nmedians over {ROUNDS} rounds ({MODE})")
    print("proxy     sat req/s   sat p99 us   sat CPU us/req   fixed p99 us   CPU us/req   syscalls/req")
    for name, res in results.items():
        s = sc.get(name)
        print(f"{name:8s} {mean(res['rps']):10.0f} {mean(res['p99']):12.0f} {mean(res['sat_cpu_us']):16.2f} "
              f"{mean(res['fixed_p99']):14.0f} {mean(res['cpu_us']):12.2f} {('%.1f' % s) if s is not None else '-':>14s}")
    a = results["alb"]
    for peer in ("nginx", "haproxy"):
        b = results[peer]
        fixed = "" if MODE == "handshake" else (
            f", CPU per request at {RATE} req/s x{mean(a['cpu_us']) / mean(b['cpu_us']):.2f}, "
            f"p99 at that rate x{mean(a['fixed_p99']) / max(mean(b['fixed_p99']), 1):.2f}")
        print(f"ALB/{peer}: saturating req/s x{mean(a['rps']) / mean(b['rps']):.2f}, "
              f"CPU per request saturated x{mean(a['sat_cpu_us']) / mean(b['sat_cpu_us']):.2f}{fixed}")


if __name__ == "__main__":
    main()
