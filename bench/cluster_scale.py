#!/usr/bin/env python3
"""bench/cluster_scale.py : cluster mode at scale, against the stand-in API
server of the tests. The same objects as manifests_scale.py (10,000
Ingresses with 10 paths each, 1,000 Services and EndpointSlices) are put in
the API, then it reports:
  - time from start to the first request served (every kind listed, in
    pages of 500, then translated);
  - time until the leader has written every Ingress's status;
  - time from replacing one Ingress through the API to its new route
    answering (watch event, debounce, translation);
  - time from changing one EndpointSlice to the new endpoint answering;
  - ALB's RSS, and how long a 410 Gone relist of everything takes to settle;
  - with --state-dir: the saved state's size, and per save the control
    thread's time encoding it and the writer thread's writing and syncing.
A benchmark: it prints numbers and asserts nothing. The stand-in server is
Python: its share of the times is in them.
Usage: cluster_scale.py [INGRESSES] [--state-dir]"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
from backend import Backend  # noqa: E402
from fake_apiserver import FakeApiServer  # noqa: E402
from manifests_scale import ALB, SVCS, get, ingress, slice_, wait_until  # noqa: E402
from peers import free_port  # noqa: E402

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
N = int(ARGS[0]) if ARGS else 10000
STATE = "--state-dir" in sys.argv


def metric(admin, name):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
    c.request("GET", "/metrics")
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main():
    work = tempfile.mkdtemp(prefix="alb-cluster-scale-")
    b1, b2 = Backend("one"), Backend("two")
    port = free_port()
    api = FakeApiServer()
    s = api.store
    s.create(("alibabacloud.com", "v1", "albconfigs"), "", {
        "metadata": {"name": "lb"}, "spec": {"listeners": [{"port": port, "protocol": "HTTP"}]}})
    s.create(("networking.k8s.io", "v1", "ingressclasses"), "", {
        "metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.alibabacloud/alb",
                                              "parameters": {"apiGroup": "alibabacloud.com", "kind": "AlbConfig",
                                                             "name": "lb"}}})
    for j in range(SVCS):
        s.create(("", "v1", "services"), "default", {"metadata": {"name": f"s{j}", "namespace": "default"},
                                                    "spec": {"ports": [{"name": "http", "port": 80}]}})
        s.create(("discovery.k8s.io", "v1", "endpointslices"), "default", slice_(j, b1.port))
    for i in range(N):
        s.create(("networking.k8s.io", "v1", "ingresses"), "default", ingress(i, lambda i, k: (i * 10 + k) % SVCS))
    print(f"cluster_scale: {N} Ingresses, {N * 10} paths, {SVCS} Services/EndpointSlices in the stand-in API")
    kc = api.kubeconfig(os.path.join(work, "kubeconfig"))
    admin = free_port()
    log = open(os.path.join(work, "alb.log"), "w+")
    t0 = time.monotonic()
    state = ("--state-dir", os.path.join(work, "state")) if STATE else ()
    if STATE:
        os.mkdir(state[1])
    proc = subprocess.Popen([ALB, "serve", "--kubeconfig", kc, "--listen-address", "127.0.0.1", "--admin",
                             f"127.0.0.1:{admin}", "--publish-status-address", "203.0.113.9", *state],
                            stdout=log, stderr=log)
    try:
        up = wait_until(lambda: b"hello from one" in get(port, "h5.example.com", "/p3"), 300)
        fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        print(f"  first request served {up:.2f} s after start ({int(metric(admin, 'alb_kube_list_pages_total'))} "
              f"list pages; ALB's own CPU time {cpu:.2f} s, the rest is the stand-in server)")
        def all_written():
            time.sleep(0.1)
            return metric(admin, "alb_status_writes_total") >= N
        dt = wait_until(all_written, 300)
        print(f"  status of all {N} Ingresses written {up + dt:.1f} s after start" if dt else "  status: not all written")
        time.sleep(2)  # the status writes' own watch events settle
        ing = api.get("networking.k8s.io", "v1", "ingresses", "ing7")
        s.create(("", "v1", "services"), "default", {"metadata": {"name": "moved", "namespace": "default"},
                                                    "spec": {"ports": [{"name": "http", "port": 80}]}})
        moved = slice_("moved", b2.port)
        moved["metadata"]["labels"]["kubernetes.io/service-name"] = "moved"
        s.create(("discovery.k8s.io", "v1", "endpointslices"), "default", moved)
        time.sleep(1)
        ing["spec"]["rules"][0]["http"]["paths"][3]["backend"]["service"]["name"] = "moved"
        t0 = time.monotonic()
        s.update(("networking.k8s.io", "v1", "ingresses"), "default", "ing7", ing)
        dt = wait_until(lambda: b"hello from two" in get(port, "h7.example.com", "/p3"))
        print(f"  one changed Ingress serving after {dt * 1000:.0f} ms" if dt else "  changed Ingress: not seen")
        t0 = time.monotonic()
        api.put("discovery.k8s.io", "v1", "endpointslices", slice_(3, b2.port))
        dt = wait_until(lambda: b"hello from two" in get(port, "h0.example.com", "/p3"))
        print(f"  one endpoint change serving after {dt * 1000:.0f} ms" if dt else "  endpoint change: not seen")
        rss = [line for line in open(f"/proc/{proc.pid}/status") if line.startswith("VmRSS")][0].split()[1]
        print(f"  ALB RSS with {N * 10} rules: {int(rss) / 1024:.0f} MiB")
        gen = metric(admin, "alb_config_generation")
        t0 = time.monotonic()
        api.expire()
        api.put("discovery.k8s.io", "v1", "endpointslices", slice_(4, b2.port))
        dt = wait_until(lambda: b"hello from two" in get(port, "h0.example.com", "/p4"), 120)
        print(f"  410 Gone on every watch: relisted and a change made meanwhile serving after {dt * 1000:.0f} ms "
              f"({int(metric(admin, 'alb_config_generation') - gen)} versions published)" if dt else "  relist: not seen")
        if STATE:
            # one more save, after one changed Ingress: what a save costs once the state is known
            names = ("alb_state_saves_total", "alb_state_encode_seconds_total", "alb_state_write_seconds_total")
            before = [metric(admin, n) for n in names]
            ing = api.get("networking.k8s.io", "v1", "ingresses", "ing8")
            ing["metadata"].setdefault("labels", {})["touched"] = "1"
            s.update(("networking.k8s.io", "v1", "ingresses"), "default", "ing8", ing)
            # the save is counted before its rename, its write time after: wait for both
            wait_until(lambda: metric(admin, names[0]) > before[0] and metric(admin, names[2]) > before[2], 30)
            after = [metric(admin, n) for n in names]
            print(f"  saved state: {metric(admin, 'alb_state_bytes') / 2**20:.1f} MiB; {before[0]:.0f} saves until "
                  f"then, {before[1] * 1000:.0f} ms encoding in all (the first encodes everything); after one "
                  f"changed Ingress {(after[1] - before[1]) * 1000:.1f} ms encoding (control thread) and "
                  f"{(after[2] - before[2]) * 1000:.0f} ms writing and syncing (writer thread)")
    finally:
        proc.terminate()
        proc.wait(30)
        api.stop()
        b1.stop()
        b2.stop()


if __name__ == "__main__":
    main()
