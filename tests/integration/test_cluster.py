"""Cluster mode: ALB against a Kubernetes API server (the stand-in of
fake_apiserver.py, over TLS with a bearer token, as a kubeconfig names
them). Routing follows objects created, replaced and deleted with kubectl;
endpoints churn; a 410 Gone forces a relist; the API away for 10 s costs no
request and a change made meanwhile applies when it returns; a restart
during an outage serves the saved state; two replicas elect one leader,
which alone writes status and events, and the other takes over when it
stops."""
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import Alb, free_port, read_response
from fake_apiserver import FakeApiServer
from backend import Backend

TOKEN = "t0ken-a"


def wait_for(what, fn, timeout=15, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


# ---- objects ---------------------------------------------------------------------

def albconfig(port, name="lb"):
    return {"apiVersion": "alibabacloud.com/v1", "kind": "AlbConfig", "metadata": {"name": name},
            "spec": {"config": {"name": name}, "listeners": [{"port": port, "protocol": "HTTP"}]}}


def ingress_class(albconfig_name="lb"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "alb"},
            "spec": {"controller": "ingress.k8s.alibabacloud/alb",
                     "parameters": {"apiGroup": "alibabacloud.com", "kind": "AlbConfig", "name": albconfig_name}}}


def service(name, ns="default"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}], "clusterIP": "10.0.0.9"}}


def slice_(name, ports, ns="default"):
    """EndpointSlice of Service <name>: every port of <ports> on 127.0.0.1 (the
    slice's one port number, so one backend per slice)."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-abc", "namespace": ns, "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": ports[0], "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]}


def ingress(name, host, svc, path="/", ns="default", cls="alb", annotations=None):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
            "spec": {"ingressClassName": cls, "rules": [{"host": host, "http": {"paths": [
                {"path": path, "pathType": "Prefix",
                 "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}}


CORE, NET, DISC, ALB = ("", "v1"), ("networking.k8s.io", "v1"), ("discovery.k8s.io", "v1"), ("alibabacloud.com", "v1")


def seed(api, port, backend):
    """An AlbConfig listening on <port>, class alb, Service web -> <backend>,
    Ingress web for a.example.com."""
    api.put(*ALB, "albconfigs", albconfig(port))
    api.put(*NET, "ingressclasses", ingress_class())
    api.put(*CORE, "services", service("web"))
    api.put(*DISC, "endpointslices", slice_("web", [backend.port]))
    api.put(*NET, "ingresses", ingress("web", "a.example.com", "web"))


def get(port, path, host, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        return r.status, r.read(), r.getheader("X-Backend")
    finally:
        c.close()


def get_or_none(port, path, host):
    try:
        return get(port, path, host)
    except OSError:
        return None


# ---- fixtures ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("apicert")
    crt, key = d / "api.crt", d / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=kube-apiserver",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return str(crt), str(key)


@pytest.fixture
def api(api_cert):
    srv = FakeApiServer(certfile=api_cert[0], keyfile=api_cert[1], token=TOKEN)
    yield srv
    if not srv.down:
        srv.stop()


@pytest.fixture
def cluster_alb(tmp_path, api):
    started = []

    def start(token=TOKEN, name="alb-0", extra_args=(), ready=True, sub=None, **kw):
        d = tmp_path / (sub or name)
        d.mkdir(exist_ok=True)
        kc = api.kubeconfig(d / "kubeconfig", token=token)
        a = Alb(d, kubeconfig=kc, extra_args=("--publish-status-address", "203.0.113.7", *extra_args),
                env={"POD_NAME": name, "POD_NAMESPACE": "kube-system"}, ready=ready, **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


def kubectl(api, tmp_path, *args, input=None, check=True):
    kc = api.kubeconfig(tmp_path / "kubectl-config", token=TOKEN)
    r = subprocess.run(["kubectl", "--kubeconfig", kc, *args], input=input, capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, HOME=str(tmp_path)))
    if check:
        assert r.returncode == 0, r.stderr
    return r


# ---- the stand-in, checked with the real kubectl ------------------------------------------

def test_kubectl_drives_the_stand_in(api, tmp_path):
    doc = json.dumps(ingress("web", "a.example.com", "web"))
    assert "created" in kubectl(api, tmp_path, "create", "--validate=false", "-f", "-", input=doc).stdout
    again = kubectl(api, tmp_path, "create", "--validate=false", "-f", "-", input=doc, check=False)
    assert again.returncode != 0 and "AlreadyExists" in again.stderr
    got = json.loads(kubectl(api, tmp_path, "get", "ingress", "web", "-o", "json").stdout)
    assert got["spec"]["rules"][0]["host"] == "a.example.com" and got["metadata"]["resourceVersion"]
    watch = subprocess.Popen(["kubectl", "--kubeconfig", str(tmp_path / "kubectl-config"), "get", "ingress", "-w",
                              "--output-watch-events", "-o", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, HOME=str(tmp_path)))
    try:
        wait_for("the watch", lambda: api.watches_open > 0)
        changed = ingress("web", "b.example.com", "web")
        assert "replaced" in kubectl(api, tmp_path, "replace", "--validate=false", "-f", "-",
                                     input=json.dumps(changed)).stdout
        assert api.get(*NET, "ingresses", "web")["spec"]["rules"][0]["host"] == "b.example.com"
        # a stale resourceVersion is refused
        stale = dict(changed, metadata=dict(changed["metadata"], resourceVersion=got["metadata"]["resourceVersion"]))
        r = kubectl(api, tmp_path, "replace", "--validate=false", "-f", "-", input=json.dumps(stale), check=False)
        assert r.returncode != 0 and "modified" in r.stderr
        assert "deleted" in kubectl(api, tmp_path, "delete", "ingress", "web").stdout
        r = kubectl(api, tmp_path, "get", "ingress", "web", check=False)
        assert r.returncode != 0 and "NotFound" in r.stderr
    finally:
        time.sleep(0.5)
        watch.terminate()
        text = watch.communicate(timeout=10)[0]
    events, dec, i = [], json.JSONDecoder(), 0
    while text[i:].strip():
        ev, n = dec.raw_decode(text[i:].lstrip())
        i = len(text) - len(text[i:].lstrip()) + n
        events.append((ev["type"], ev["object"]["metadata"]["name"]))
    assert events == [("ADDED", "web"), ("MODIFIED", "web"), ("DELETED", "web")]


def test_stand_in_pages_and_expires(api):
    for i in range(7):
        api.put(*CORE, "services", service(f"s{i}"))
    conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=__import__("ssl")._create_unverified_context())
    hdrs = {"Authorization": f"Bearer {TOKEN}"}
    names, cont = [], ""
    while True:
        conn.request("GET", f"/api/v1/services?limit=3{'&continue=' + cont if cont else ''}", headers=hdrs)
        page = json.loads(conn.getresponse().read())
        names += [o["metadata"]["name"] for o in page["items"]]
        cont = page["metadata"].get("continue")
        if not cont:
            break
    assert names == [f"s{i}" for i in range(7)]
    conn.request("GET", "/api/v1/services", headers={"Authorization": "Bearer wrong"})
    r = conn.getresponse()
    assert r.status == 401 and json.loads(r.read())["kind"] == "Status"
    rv = page["metadata"]["resourceVersion"]
    api.expire()
    conn.request("GET", f"/api/v1/services?watch=1&resourceVersion={rv}", headers=hdrs)
    r = conn.getresponse()
    ev = json.loads(r.readline())
    assert ev["type"] == "ERROR" and ev["object"]["code"] == 410


# ---- ALB in a cluster ------------------------------------------------------------------------

def test_routing_follows_kubectl(api, cluster_alb, backend, backend2, tmp_path):
    port = free_port()
    seed(api, port, backend)
    a = cluster_alb(port=port)
    assert get(port, "/", "a.example.com")[0] == 200
    m = a.metrics()
    assert m["alb_kube_synced"] == 1 and m["alb_kube_sync_age_seconds"] == 0
    # create: a second Service and an Ingress for it, through kubectl
    docs = [service("api"), slice_("api", [backend2.port]), ingress("api", "b.example.com", "api")]
    for d in docs:
        kubectl(api, tmp_path, "create", "--validate=false", "-f", "-", input=json.dumps(d))
    wait_for("b.example.com served", lambda: (get_or_none(port, "/", "b.example.com") or (0,))[0] == 200)
    assert get(port, "/", "b.example.com")[2] == "b2"
    # replace: another host
    kubectl(api, tmp_path, "replace", "--validate=false", "-f", "-",
            input=json.dumps(ingress("api", "c.example.com", "api")))
    wait_for("c.example.com served", lambda: get(port, "/", "c.example.com")[0] == 200)
    assert get(port, "/", "b.example.com")[0] == 404
    # delete
    kubectl(api, tmp_path, "delete", "ingress", "api")
    wait_for("c.example.com gone", lambda: get(port, "/", "c.example.com")[0] == 404)
    assert get(port, "/", "a.example.com")[0] == 200


def test_endpoint_churn_loses_no_request(api, cluster_alb):
    backends = [Backend(f"e{i}") for i in range(3)]
    try:
        port = free_port()
        seed(api, port, backends[0])
        a = cluster_alb(port=port)
        wait_for("the status written", lambda: (api.get(*NET, "ingresses", "web").get("status") or {}).get("loadBalancer"))
        gen = a.generation()
        statuses = []
        for round_ in range(12):
            b = backends[round_ % 3]
            api.put(*DISC, "endpointslices", slice_("web", [b.port]))
            # every request is answered, by the old endpoint until the new one serves
            while True:
                status, _, who = get(port, "/", "a.example.com")
                statuses.append(status)
                if who == b.name or len(statuses) > 5000:
                    break
                time.sleep(0.01)
        assert statuses == [200] * len(statuses)
        m = a.metrics()
        assert a.generation() > gen + 10 and m["alb_config_endpoint_publishes_total"] >= 10
    finally:
        a.stop()  # before the backends: they wait for its pooled connections to close
        for b in backends:
            b.stop()


def test_gone_watch_forces_a_relist(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    a = cluster_alb(port=port)
    lists = api.lists
    api.expire()  # every watch ends with 410; its version is forgotten
    api.put(*NET, "ingresses", ingress("late", "late.example.com", "web"))
    wait_for("late.example.com served", lambda: get(port, "/", "late.example.com")[0] == 200)
    assert a.metrics()["alb_kube_relists_total"] >= 1 and api.lists > lists


def test_api_away_costs_no_request(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    a = cluster_alb(port=port)
    failures, done, count = [], threading.Event(), [0]

    def traffic():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        deadline = time.monotonic() + 40
        while not done.is_set() and time.monotonic() < deadline:
            try:
                conn.request("GET", "/", headers={"Host": "a.example.com"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    failures.append(r.status)
                count[0] += 1
            except OSError as e:
                failures.append(repr(e))
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            time.sleep(0.005)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        api.stop()
        t0 = time.monotonic()
        api.put(*NET, "ingresses", ingress("meanwhile", "new.example.com", "web"))  # made while ALB cannot see
        wait_for("the sync age to grow", lambda: a.metrics()["alb_kube_sync_age_seconds"] > 1)
        while time.monotonic() - t0 < 10:
            assert a.admin_get("/readyz")[0] == 200
            time.sleep(0.5)
        assert get(port, "/", "new.example.com")[0] == 404
        api.start()
        wait_for("the change made meanwhile", lambda: get(port, "/", "new.example.com")[0] == 200, timeout=40)
        wait_for("the watches back", lambda: a.metrics()["alb_kube_sync_age_seconds"] == 0, timeout=40)
    finally:
        done.set()
        t.join()
    assert failures == [] and count[0] > 100


def test_restart_during_outage_serves_saved_state(api, cluster_alb, backend, tmp_path):
    port = free_port()
    seed(api, port, backend)
    state = tmp_path / "state"
    state.mkdir()
    a = cluster_alb(port=port, extra_args=("--state-dir", str(state)))
    assert get(port, "/", "a.example.com")[0] == 200
    a.stop()
    saved = state / "objects.json"
    assert saved.exists() and oct(saved.stat().st_mode & 0o777) == "0o600"
    api.stop()
    b = cluster_alb(port=port, name="alb-1", extra_args=("--state-dir", str(state)))
    assert get(port, "/", "a.example.com")[0] == 200
    assert b.metrics()["alb_kube_serving_saved_state"] == 1 and b.metrics()["alb_kube_synced"] == 0
    api.start()
    wait_for("served from the API", lambda: b.metrics()["alb_kube_serving_saved_state"] == 0, timeout=40)
    assert b.metrics()["alb_kube_synced"] == 1 and get(port, "/", "a.example.com")[0] == 200


def test_state_writes_wait_for_endpoints_and_flush_on_stop(api, cluster_alb, backend, backend2, tmp_path):
    """A version that changes only endpoints is saved 10 s later (endpoint
    churn would write the whole state every second), a changed Ingress
    within about a second, and whatever is pending when ALB stops."""
    port = free_port()
    seed(api, port, backend)
    state = tmp_path / "state"
    state.mkdir()
    saved = state / "objects.json"
    a = cluster_alb(port=port, extra_args=("--state-dir", str(state)))
    wait_for("the first save", lambda: saved.exists() and a.metrics()["alb_state_bytes"] == saved.stat().st_size)
    m = a.metrics()
    assert m["alb_state_saves_total"] >= 1 and m["alb_state_encode_seconds_total"] > 0
    assert m["alb_state_save_failures_total"] == 0
    api.put(*NET, "ingresses", ingress("more", "more.example.com", "web"))
    wait_for("the new Ingress saved", lambda: '"more.example.com"' in saved.read_text(), timeout=5)
    saves = a.metrics()["alb_state_saves_total"]  # counted before the file is renamed into place
    api.put(*DISC, "endpointslices", slice_("web", [backend2.port]))
    wait_for("the new endpoint", lambda: get(port, "/", "a.example.com")[2] == backend2.name)
    def saved_port():
        return [o for o in json.loads(saved.read_text())
                if o["kind"] == "EndpointSlice"][0]["ports"][0]["port"]
    time.sleep(2)  # twice what a changed Ingress waits: nothing written yet (10 s after endpoints alone)
    assert a.metrics()["alb_state_saves_total"] == saves
    assert saved_port() == backend.port
    a.stop()
    assert saved_port() == backend2.port  # written on the way out
    api.stop()
    b = cluster_alb(port=port, name="alb-1", extra_args=("--state-dir", str(state)))
    assert get(port, "/", "a.example.com")[2] == backend2.name


def test_not_ready_until_listed(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    api.stop()
    a = cluster_alb(port=port, ready=False)
    wait_for("the admin API", lambda: get_or_none(a.admin_port, "/healthz", "x"))
    time.sleep(1)  # the informers keep retrying: still nothing listed
    assert a.admin_get("/readyz")[0] == 503
    api.start()
    a.wait_ready(timeout=40)
    assert get(port, "/", "a.example.com")[0] == 200


def leaders(albs):
    return [a for a in albs if a.metrics().get("alb_leader") == 1]


def test_one_leader_writes_status_and_fails_over(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    api.extra_tokens = {"t0ken-b"}
    first = cluster_alb(port=port, name="alb-0", token=TOKEN)
    second = cluster_alb(port=port, name="alb-1", token="t0ken-b")
    both = [first, second]
    lead = wait_for("one leader", lambda: leaders(both) if len(leaders(both)) == 1 else None)[0]
    other = second if lead is first else first
    lead_token = TOKEN if lead is first else "t0ken-b"
    lease = api.get("coordination.k8s.io", "v1", "leases", "alb-leader", ns="kube-system")
    assert lease["spec"]["holderIdentity"] == ("alb-0" if lead is first else "alb-1")
    wait_for("status written", lambda: (api.get(*NET, "ingresses", "web").get("status") or {}).get("loadBalancer"))
    assert api.get(*NET, "ingresses", "web")["status"]["loadBalancer"]["ingress"] == [{"ip": "203.0.113.7"}]
    ac = wait_for("AlbConfig status", lambda: (api.get(*ALB, "albconfigs", "lb").get("status") or {}).get("loadBalancer"))
    assert ac["dnsname"] == "203.0.113.7" and ac["listeners"] == [{"portAndProtocol": f"{port}/HTTP", "certificates": []}]
    writers = {r[3] for r in api.requests_matching("PATCH", "/status")} | \
        {r[3] for r in api.requests_matching("POST", "/events")}
    assert writers == {lead_token}
    assert len(leaders(both)) == 1
    # the leader stops (SIGTERM releases the Lease): the other takes over, well within the lease time
    t0 = time.monotonic()
    lead.stop()
    wait_for("failover", lambda: other.metrics().get("alb_leader") == 1, timeout=15)
    assert time.monotonic() - t0 < 15
    lease = api.get("coordination.k8s.io", "v1", "leases", "alb-leader", ns="kube-system")
    assert lease["spec"]["holderIdentity"] == ("alb-1" if other is second else "alb-0")
    assert lease["spec"]["leaseTransitions"] >= 1
    # the new leader writes: an Ingress made now gets its status from it
    api.put(*NET, "ingresses", ingress("after", "after.example.com", "web"))
    wait_for("status by the new leader",
             lambda: (api.get(*NET, "ingresses", "after").get("status") or {}).get("loadBalancer"))
    other_token = "t0ken-b" if lead_token == TOKEN else TOKEN
    assert any(r[3] == other_token and "/ingresses/after/status" in r[1] for r in api.requests_matching("PATCH", "/status"))


def test_status_cleared_when_no_longer_served(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    a = cluster_alb(port=port)
    wait_for("status written", lambda: (api.get(*NET, "ingresses", "web").get("status") or {}).get("loadBalancer"))
    # the status ALB wrote comes back as a watch event: nothing to translate or publish
    wait_for("the AlbConfig's too", lambda: (api.get(*ALB, "albconfigs", "lb").get("status") or {}).get("loadBalancer"))
    publishes = a.metrics()["alb_config_publishes_total"]
    time.sleep(1.5)
    assert a.metrics()["alb_config_publishes_total"] == publishes
    api.put(*NET, "ingresses", ingress("web", "a.example.com", "web", cls="other"))
    wait_for("status cleared", lambda: api.get(*NET, "ingresses", "web")["status"]["loadBalancer"]["ingress"] == [])
    writes = len(api.requests_matching("PATCH", "/ingresses/web/status"))
    time.sleep(3)  # a settled status is not written again
    assert len(api.requests_matching("PATCH", "/ingresses/web/status")) == writes


def test_invalid_ingress_gets_a_warning_event(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    cluster_alb(port=port)
    bad = ingress("bad", "bad.example.com", "web", annotations={"alb.ingress.kubernetes.io/healthcheck-enabled": "yes"})
    bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Sideways"
    api.put(*NET, "ingresses", bad)

    def events_on(name):
        return [e for e in api.list(*CORE, "events") if e["involvedObject"]["name"] == name]

    ev = wait_for("a Warning event", lambda: [e for e in events_on("bad") if e["type"] == "Warning"])[0]
    assert ev["reason"] == "FailedBuildModel" and "pathType" in ev["message"]
    assert ev["involvedObject"]["kind"] == "Ingress" and ev["involvedObject"]["uid"]
    assert ev["metadata"]["namespace"] == "default" and ev["source"]["component"] == "alb"
    ok = wait_for("SuccessfullyReconciled", lambda: [e for e in events_on("web") if e["reason"] == "SuccessfullyReconciled"])
    assert ok[0]["type"] == "Normal"
    assert get(port, "/", "a.example.com")[0] == 200
    # the same diagnostic again (another change elsewhere) is not posted again
    posted = len(events_on("bad"))
    api.put(*CORE, "services", service("other"))
    time.sleep(2)
    assert len(events_on("bad")) == posted


def test_sigterm_drains_in_flight_requests(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    a = cluster_alb(port=port)
    busy = socket.create_connection(("127.0.0.1", port), timeout=10)
    busy.sendall(b"GET /slow?ms=800 HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
    wait_for("the request at the backend", lambda: any(r[1].startswith("/slow") for r in backend.requests))
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    status, _, body, _ = read_response(busy)
    assert status == 200 and body == b"slow"
    assert a.proc.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 5  # the drain timeout is 5 s here


def test_token_file_is_read_again(api, tmp_path, backend):
    port = free_port()
    seed(api, port, backend)
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    kc = tmp_path / "kc.json"
    api.kubeconfig(kc, token=None)
    cfg = json.loads(kc.read_text())
    cfg["users"][0]["user"] = {"tokenFile": "token"}  # relative to the kubeconfig's folder
    kc.write_text(json.dumps(cfg))
    a = Alb(tmp_path, kubeconfig=kc)
    try:
        assert get(port, "/", "a.example.com")[0] == 200
        # the token rotates: the old one stops working, the new file is used
        token.write_text("r0tated")
        api.token, api.extra_tokens = "r0tated", set()
        api.put(*NET, "ingresses", ingress("rot", "rot.example.com", "web"))
        api.expire()  # watches restart with the new token
        wait_for("served after rotation", lambda: get(port, "/", "rot.example.com")[0] == 200, timeout=30)
    finally:
        a.stop()


def test_bad_kubeconfig_is_a_clear_error(tmp_path):
    from conftest import ALB_BIN
    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: nope\ncontexts: []\n")
    r = subprocess.run([ALB_BIN, "serve", "--kubeconfig", str(kc), "--admin", "off"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1 and str(kc) in r.stderr and "nope" in r.stderr


def test_leader_crash_fails_over_within_the_lease(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    both = [cluster_alb(port=port, name="alb-0"), cluster_alb(port=port, name="alb-1")]
    lead = wait_for("one leader", lambda: leaders(both) if len(leaders(both)) == 1 else None)[0]
    other = both[1] if lead is both[0] else both[0]
    t0 = time.monotonic()
    lead.proc.kill()  # no release: the others must wait out the lease
    lead.proc.wait()
    both.remove(lead)
    wait_for("takeover", lambda: other.metrics().get("alb_leader") == 1, timeout=25)
    took = time.monotonic() - t0
    assert 10 < took < 15 + 2 * 2 + 1, took  # the lease duration, plus at most a retry period or two
    lead.stop = lambda: None  # killed on purpose: no clean exit to check


def test_watch_namespace_limits_what_is_read(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    for ns in ("team-a", "team-b"):
        api.put(*CORE, "services", service("web", ns=ns), ns=ns)
        api.put(*DISC, "endpointslices", slice_("web", [backend.port], ns=ns), ns=ns)
        api.put(*NET, "ingresses", ingress("web", f"{ns}.example.com", "web", ns=ns), ns=ns)
    cluster_alb(port=port, extra_args=("--watch-namespace", "team-a"))
    assert get(port, "/", "team-a.example.com")[0] == 200
    assert get(port, "/", "team-b.example.com")[0] == 404
    assert get(port, "/", "a.example.com")[0] == 404  # the default namespace is not watched either
    for kind in ("ingresses", "services", "endpointslices", "secrets"):
        reads = [r[1] for r in api.requests if r[0] == "GET" and r[1].endswith("/" + kind)]
        assert reads and all("/namespaces/team-a/" in p for p in reads), (kind, reads)


def test_lists_page_by_page(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    for i in range(1100):
        api.store.create(("", "v1", "services"), "default", service(f"filler-{i:04d}"))
    api.put(*CORE, "services", service("zz-last"))  # sorted last: on the third page
    api.put(*DISC, "endpointslices", slice_("zz-last", [backend.port]))
    api.put(*NET, "ingresses", ingress("last", "last.example.com", "zz-last"))
    a = cluster_alb(port=port)
    assert get(port, "/", "last.example.com")[0] == 200
    pages = [r for r in api.requests if r[0] == "GET" and r[1] == "/api/v1/services" and "watch" not in r[2]]
    assert len(pages) == 3 and all(r[2]["limit"] == "500" for r in pages) and "continue" in pages[2][2]
    assert a.metrics()["alb_kube_list_pages_total"] >= 3


def test_a_failing_watch_backs_off(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    broken = {"on": False}

    def sick(q):
        if broken["on"] and q.get("watch"):
            return 200, {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd is sick"}}
        return None, None

    api.hooks[("GET", "/apis/networking.k8s.io/v1/ingresses")] = sick
    a = cluster_alb(port=port)
    broken["on"] = True
    api.expire()  # every watch ends; the Ingress watch now fails each time
    before = len(api.requests_matching("GET", "/apis/networking.k8s.io/v1/ingresses"))
    time.sleep(4)
    tries = len(api.requests_matching("GET", "/apis/networking.k8s.io/v1/ingresses")) - before
    assert 2 <= tries <= 8, (tries, [(r[1], r[2]) for r in api.requests_matching("GET", "/apis/networking.k8s.io/v1/ingresses")][-6:])  # 250 ms doubling, with jitter: a handful, not a tight loop
    assert get(port, "/", "a.example.com")[0] == 200 and a.admin_get("/readyz")[0] == 200
    broken["on"] = False
    api.put(*NET, "ingresses", ingress("back", "back.example.com", "web"))
    wait_for("served once the watch works", lambda: get(port, "/", "back.example.com")[0] == 200, timeout=40)


@pytest.mark.parametrize("how", ["client-certificate", "ca-file", "insecure-skip-tls-verify"])
def test_kubeconfig_credentials(api_cert, tmp_path, backend, how):
    """Each way a kubeconfig authenticates the server and ALB, against a
    server that checks it (a client certificate signed by its CA, or the
    token)."""
    client_crt, client_key = tmp_path / "client.crt", tmp_path / "client.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(client_key), "-out", str(client_crt), "-days", "2", "-subj", "/CN=alb"],
                   check=True, capture_output=True)
    mtls = how == "client-certificate"
    api = FakeApiServer(certfile=api_cert[0], keyfile=api_cert[1], token=None if mtls else TOKEN,
                        client_ca=str(client_crt) if mtls else None)
    try:
        port = free_port()
        seed(api, port, backend)
        kc = api.kubeconfig(tmp_path / "kc", token=None if mtls else TOKEN, ca_file=api_cert[0] if how == "ca-file" else None,
                            insecure=how == "insecure-skip-tls-verify",
                            client_cert=client_crt if mtls else None, client_key=client_key if mtls else None)
        a = Alb(tmp_path, kubeconfig=kc, port=port)
        try:
            assert get(port, "/", "a.example.com")[0] == 200
        finally:
            a.stop()
    finally:
        api.stop()


def test_untrusted_server_is_refused(api, tmp_path):
    """A kubeconfig whose CA did not sign the server's certificate: no
    objects are read (not ready), and the reason is logged."""
    other = tmp_path / "other.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "other.key"), "-out", str(other), "-days", "2", "-subj", "/CN=other"],
                   check=True, capture_output=True)
    kc = api.kubeconfig(tmp_path / "kc", token=TOKEN, ca_file=str(other))
    a = Alb(tmp_path, kubeconfig=kc, ready=False)
    try:
        wait_for("a certificate error logged", lambda: "certificate" in a.log_path.read_text().lower(), timeout=15)
        # the informers start before the admin listener: the error can come first
        wait_for("the admin API", lambda: get_or_none(a.admin_port, "/healthz", "x"))
        assert a.admin_get("/readyz")[0] == 503 and not api.requests
    finally:
        a.stop()


def test_status_from_the_publish_service(api, tmp_path, backend):
    port = free_port()
    seed(api, port, backend)
    svc = service("alb", ns="kube-system")
    svc["spec"]["clusterIP"] = "10.96.0.50"
    api.put(*CORE, "services", svc, ns="kube-system")
    a = Alb(tmp_path, kubeconfig=api.kubeconfig(tmp_path / "kc", token=TOKEN), port=port,
            extra_args=("--publish-service", "kube-system/alb"), env={"POD_NAMESPACE": "kube-system"})
    try:
        def lb():
            return ((api.get(*NET, "ingresses", "web").get("status") or {}).get("loadBalancer") or {}).get("ingress")
        assert wait_for("the ClusterIP", lambda: lb() == [{"ip": "10.96.0.50"}])
        # the Service gets a load balancer: its addresses replace the ClusterIP (read again within 10 s)
        cur = api.get(*CORE, "services", "alb", ns="kube-system")
        cur["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}, {"hostname": "lb.example.net"}]}}
        api.store.update(("", "v1", "services"), "kube-system", "alb", cur, "status")
        api.put(*NET, "ingresses", ingress("web", "a.example.com", "web", annotations={"touch": "1"}))
        assert wait_for("the load balancer's addresses",
                        lambda: lb() == [{"ip": "198.51.100.1"}, {"hostname": "lb.example.net"}], timeout=20)
    finally:
        a.stop()


def test_events_are_rate_limited(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    for i in range(150):
        bad = ingress(f"bad{i:03d}", f"bad{i}.example.com", "web")
        bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Sideways"
        api.store.create(("networking.k8s.io", "v1", "ingresses"), "default", bad)
    a = cluster_alb(port=port)
    m = wait_for("events dropped", lambda: (lambda m: m if m.get("alb_events_dropped_total", 0) > 0 else None)(a.metrics()))
    assert 100 <= m["alb_events_posted_total"] < 150
    assert get(port, "/", "a.example.com")[0] == 200


def test_in_cluster_service_account(api, api_cert, tmp_path, backend):
    """No flag: KUBERNETES_SERVICE_HOST/_PORT and the mounted service account
    (its token read again when the kubelet rotates it)."""
    port = free_port()
    seed(api, port, backend)
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(TOKEN)
    (sa / "ca.crt").write_text(open(api_cert[0]).read())
    (sa / "namespace").write_text("kube-system")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port),
           "ALB_SERVICE_ACCOUNT_DIR": str(sa), "POD_NAMESPACE": "kube-system", "POD_NAME": "alb-pod"}
    a = Alb(tmp_path, port=port, env=env)
    try:
        assert get(port, "/", "a.example.com")[0] == 200
        wait_for("the Lease", lambda: api.list("coordination.k8s.io", "v1", "leases", "kube-system"))
        # the kubelet rotates the token: the old one is refused from now on
        tmp = sa / "token.new"
        tmp.write_text("r0tated-token")
        os.replace(tmp, sa / "token")
        api.token, api.extra_tokens = "r0tated-token", set()
        api.expire()
        api.put(*NET, "ingresses", ingress("rot", "rot.example.com", "web"))
        wait_for("served with the new token", lambda: get(port, "/", "rot.example.com")[0] == 200, timeout=30)
    finally:
        a.stop()


def test_store_drops_what_is_never_read(api, cluster_alb, backend, tmp_path):
    """kubectl apply keeps a copy of the whole object in an annotation: the
    store (and the saved state) go without it."""
    port = free_port()
    seed(api, port, backend)
    state = tmp_path / "state"
    state.mkdir()
    cluster_alb(port=port, extra_args=("--state-dir", str(state)))
    kubectl(api, tmp_path, "apply", "--validate=false", "-f", "-",
            input=json.dumps(ingress("applied", "applied.example.com", "web")))
    assert "last-applied-configuration" in json.dumps(api.get(*NET, "ingresses", "applied"))
    wait_for("served", lambda: get(port, "/", "applied.example.com")[0] == 200)
    saved = wait_for("saved", lambda: (lambda t: t if '"applied"' in t else None)(
        (state / "objects.json").read_text() if (state / "objects.json").exists() else ""))
    assert "last-applied-configuration" not in saved and '"applied.example.com"' in saved


def test_albconfig_status_lists_listeners_and_certificates(api, cluster_alb, backend, tmp_path):
    from test_tls import make_cert
    import base64
    cert = make_cert(tmp_path, "web", "a.example.com", ["a.example.com"])
    port, tls_port = free_port(), free_port()
    seed(api, port, backend)
    ac = albconfig(port)
    ac["spec"]["listeners"].append({"port": tls_port, "protocol": "HTTPS"})
    api.put(*ALB, "albconfigs", ac)
    api.put(*CORE, "secrets", {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                               "metadata": {"name": "web-tls", "namespace": "default"},
                               "data": {"tls.crt": base64.b64encode(cert["cert_pem"].encode()).decode(),
                                        "tls.key": base64.b64encode(cert["key_pem"].encode()).decode()}})
    ing = ingress("web", "a.example.com", "web")
    ing["spec"]["tls"] = [{"hosts": ["a.example.com"], "secretName": "web-tls"}]
    api.put(*NET, "ingresses", ing)
    cluster_alb(port=port)
    status = wait_for("AlbConfig status", lambda: (lambda lb: lb if lb and len(lb.get("listeners", [])) == 2 else None)(
        (api.get(*ALB, "albconfigs", "lb").get("status") or {}).get("loadBalancer")))
    by_port = {l["portAndProtocol"]: l["certificates"] for l in status["listeners"]}
    assert by_port[f"{port}/HTTP"] == []
    certs = by_port[f"{tls_port}/HTTPS"]
    assert len(certs) == 1 and "web-tls" in certs[0]["certificateId"], certs
    assert status["dnsname"] == "203.0.113.7" and status["id"] == "lb"


def test_leader_stops_promptly_with_the_api_away(api, cluster_alb, backend):
    port = free_port()
    seed(api, port, backend)
    a = cluster_alb(port=port)
    wait_for("leader", lambda: a.metrics().get("alb_leader") == 1)
    # the API hangs (accepts, never answers): giving the Lease up must not hold the stop back
    api.hooks[("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/alb-leader")] = \
        lambda q: (time.sleep(20), (None, None))[1]
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(timeout=15) == 0
    assert time.monotonic() - t0 < 6, time.monotonic() - t0
