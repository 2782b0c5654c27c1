#!/usr/bin/env python3
"""bench/manifests_scale.py : standalone mode at scale. Writes 10,000
Ingresses with 10 paths each (100,000 paths, 1,000 Services with
EndpointSlices) into a folder, then reports:
  - `alb translate` wall time for the whole folder;
  - the serve start-up publish ("built in" from the log);
  - time from rewriting one Ingress to its new route answering;
  - time from changing one EndpointSlice to the new endpoint answering.
A benchmark: it prints numbers and asserts nothing. Usage: manifests_scale.py [INGRESSES]"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
from backend import Backend  # noqa: E402
from peers import free_port  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ALB = os.environ.get("BUILD", os.path.join(ROOT, "build", "alb"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
SVCS = 1000


def ingress(i, svc_of):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": f"ing{i}", "namespace": "default"},
            "spec": {"ingressClassName": "alb", "rules": [{"host": f"h{i}.example.com", "http": {"paths": [
                {"path": f"/p{k}", "pathType": "Prefix",
                 "backend": {"service": {"name": f"s{svc_of(i, k)}", "port": {"number": 80}}}} for k in range(10)]}}]}}


def slice_(j, port):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"s{j}-1", "namespace": "default", "labels": {"kubernetes.io/service-name": f"s{j}"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]}


def get(port, host, path):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        return data
    except OSError:
        return b""


def wait_until(pred, limit=30):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.002)
    return None


def main():
    work = tempfile.mkdtemp(prefix="alb-scale-")
    d = os.path.join(work, "m")
    os.mkdir(d)
    b1, b2 = Backend("one"), Backend("two")
    port = free_port()
    with open(os.path.join(d, "00-lb.json"), "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "alibabacloud.com/v1", "kind": "AlbConfig", "metadata": {"name": "lb"},
             "spec": {"listeners": [{"port": port, "protocol": "HTTP"}]}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "alb"},
             "spec": {"controller": "ingress.k8s.alibabacloud/alb",
                      "parameters": {"apiGroup": "alibabacloud.com", "kind": "AlbConfig", "name": "lb"}}}]}, f)
    items = []
    for j in range(SVCS):
        items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{j}", "namespace": "default"},
                      "spec": {"ports": [{"name": "http", "port": 80}]}})
    with open(os.path.join(d, "10-services.json"), "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
    for j in range(SVCS):
        with open(os.path.join(d, f"20-slice-{j:04d}.json"), "w") as f:
            json.dump(slice_(j, b1.port), f)
    per_file = 100
    for start in range(0, N, per_file):
        with open(os.path.join(d, f"30-ing-{start // per_file:04d}.json"), "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List",
                       "items": [ingress(i, lambda i, k: (i * 10 + k) % SVCS) for i in range(start, min(N, start + per_file))]}, f)
    print(f"manifests_scale: {N} Ingresses, {N * 10} paths, {SVCS} Services/EndpointSlices")

    t0 = time.monotonic()
    out = subprocess.run([ALB, "translate", "--manifests", d], capture_output=True, timeout=300)
    print(f"  alb translate (read + translate + validate + print): {time.monotonic() - t0:.2f} s, "
          f"{len(out.stdout) / 1e6:.0f} MB of JSON, exit {out.returncode}")

    log = open(os.path.join(work, "alb.log"), "w+")
    admin = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([ALB, "serve", "--manifests", d, "--listen-address", "127.0.0.1", "--admin",
                             f"127.0.0.1:{admin}", "--log-level", "info"], stdout=log, stderr=log)
    try:
        up = wait_until(lambda: b"hello from one" in get(port, "h5.example.com", "/p3"), 120)
        text = open(log.name).read()
        built = re.findall(r"built in ([\d.]+) ms", text)
        print(f"  serve: first request served {up:.2f} s after start; publish reported built in {built[0]} ms")

        # one Ingress changes: h7's /p3 now goes to a Service on backend two
        path7 = os.path.join(d, "30-ing-0000.json")
        doc = json.load(open(path7))
        doc["items"][7]["spec"]["rules"][0]["http"]["paths"][3]["backend"]["service"]["name"] = "moved"
        doc["items"].append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "moved", "namespace": "default"},
                             "spec": {"ports": [{"name": "http", "port": 80}]}})
        doc["items"].append(slice_("moved-x", b2.port) | {"metadata": {"name": "moved-1", "namespace": "default",
                                                                        "labels": {"kubernetes.io/service-name": "moved"}}})
        t0 = time.monotonic()
        tmp = path7 + ".tmp"
        json.dump(doc, open(tmp, "w"))
        os.replace(tmp, path7)
        dt = wait_until(lambda: b"hello from two" in get(port, "h7.example.com", "/p3"))
        print(f"  one changed Ingress serving after {dt * 1000:.0f} ms" if dt else "  changed Ingress: not seen")

        # one endpoint changes: Service s3's slice moves to backend two
        sl = os.path.join(d, "20-slice-0003.json")
        t0 = time.monotonic()
        json.dump(slice_(3, b2.port), open(sl + ".tmp", "w"))
        os.replace(sl + ".tmp", sl)
        # which host/path uses s3: i*10+k == 3 mod 1000 -> i=0,k=3
        dt = wait_until(lambda: b"hello from two" in get(port, "h0.example.com", "/p3"))
        print(f"  one endpoint change serving after {dt * 1000:.0f} ms" if dt else "  endpoint change: not seen")
        rss = [l for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS")][0].split()[1]
        print(f"  ALB RSS with {N * 10} rules: {int(rss) / 1024:.0f} MiB")
    finally:
        proc.terminate()
        proc.wait(30)
        b1.stop()
        b2.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
