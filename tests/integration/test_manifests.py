"""Standalone mode: `alb serve --manifests DIR` serves exactly what the
Kubernetes objects in DIR say, follows their changes, and keeps serving
through broken files and invalid objects. Plus `alb translate` and
`alb check`."""
import ipaddress
import json
import os
import socket
import subprocess
import textwrap
import time

import pytest

from conftest import ALB_BIN, free_port, read_response


def ingress_class(albconfig_name):
    """IngressClass alb, ours, for AlbConfig <albconfig_name>."""
    return textwrap.dedent(f"""\
        apiVersion: networking.k8s.io/v1
        kind: IngressClass
        metadata: {{name: alb}}
        spec:
          controller: ingress.k8s.alibabacloud/alb
          parameters: {{apiGroup: alibabacloud.com, kind: AlbConfig, name: {albconfig_name}}}
        """)


def albconfig(port, name="alb-test", https_port=None):
    return textwrap.dedent(f"""\
        apiVersion: alibabacloud.com/v1
        kind: AlbConfig
        metadata: {{name: {name}}}
        spec:
          config: {{name: {name}, zoneMappings: [{{vSwitchId: vsw-1}}]}}
          listeners:
            - port: {port}
              protocol: HTTP
            - port: {https_port or free_port()}
              protocol: HTTPS
        ---
        """) + ingress_class(name)


def service(name, backend_port, ns="default", ready=True, port_name="http"):
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata: {{name: {name}, namespace: {ns}}}
        spec:
          ports: [{{name: {port_name}, port: 80, targetPort: {backend_port}}}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: {name}-abc
          namespace: {ns}
          labels: {{kubernetes.io/service-name: {name}}}
        addressType: IPv4
        ports: [{{name: {port_name}, port: {backend_port}}}]
        endpoints:
          - addresses: ["127.0.0.1"]
            conditions: {{ready: {str(ready).lower()}}}
        """)


def ingress(name, rules, ns="default", annotations=None, default_backend=None, cls="alb", tls=None):
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
           "spec": {"ingressClassName": cls, "rules": rules}}
    if tls:
        obj["spec"]["tls"] = tls
    if default_backend:
        obj["spec"]["defaultBackend"] = {"service": {"name": default_backend, "port": {"number": 80}}}
    return json.dumps(obj)


def path(p, svc, ptype="Prefix", port=80):
    return {"path": p, "pathType": ptype, "backend": {"service": {"name": svc, "port": {"number": port}}}}


@pytest.fixture
def cluster(tmp_path, start_alb, backend, backend2):
    """A folder with an AlbConfig, IngressClass, Services s1 and s2 (backends
    b1 and b2), and a running ALB on it."""
    d = tmp_path / "manifests"
    d.mkdir()
    port = free_port()
    https_port = free_port()
    (d / "00-albconfig.yaml").write_text(albconfig(port, https_port=https_port))
    (d / "10-services.yaml").write_text(service("s1", backend.port) + "---\n" + service("s2", backend2.port))
    (d / "20-ingress.json").write_text(ingress("web", [{"host": "foo.bar.com", "http": {"paths": [path("/", "s1")]}}]))
    a = start_alb(manifests=d, port=port)
    a.dir = d
    a.https_port = https_port
    return a


def get(port, p, host):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {p} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    status, headers, body, _ = read_response(s)
    s.close()
    return status, headers.get("x-backend", [None])[0]


def replace(a, name, text):
    tmp = a.dir / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, a.dir / name)


def test_serves_what_the_objects_say(cluster):
    assert get(cluster.port, "/x", "foo.bar.com") == (200, "b1")
    assert get(cluster.port, "/x", "other.com")[0] == 404
    log = cluster.log_path.read_text()
    assert "spec.config.zoneMappings: a cloud setting, ignored here" in log


def test_path_matching_table_and_wildcards(cluster):
    """The Kubernetes documentation's matching examples, through ALB."""
    rules = [{"host": "*.foo.com", "http": {"paths": [path("/", "s2")]}},
             {"host": "k8s.io", "http": {"paths": [path("/foo", "s1", "Exact"), path("/aaa/bbb", "s1"),
                                                   path("/aaa", "s2"), path("/bar/", "s2")]}}]
    replace(cluster, "20-ingress.json", ingress("web", rules))
    cluster.wait_generation(2)
    expect = [("/foo", "b1"), ("/foo/", None), ("/bar", "b2"), ("/bar/", "b2"), ("/aaa/bbb", "b1"),
              ("/aaa/bbb/", "b1"), ("/aaa/bbbxyz", "b2"), ("/aaa/ccc", "b2"), ("/zzz", None)]
    for p, want in expect:
        status, got = get(cluster.port, p, "k8s.io")
        assert (got if status == 200 else None) == want, p
    assert get(cluster.port, "/", "bar.foo.com")[1] == "b2"
    assert get(cluster.port, "/", "foo.com")[0] == 404          # the wildcard needs a label
    assert get(cluster.port, "/", "baz.bar.foo.com")[0] == 404  # exactly one label


def test_default_backend_and_order(cluster):
    replace(cluster, "20-ingress.json", ingress("web", [{"host": "a.com", "http": {"paths": [path("/", "s1")]}}],
                                                default_backend="s2"))
    cluster.wait_generation(2)  # one change at a time: the debounce may merge two writes
    (cluster.dir / "21-pinned.json").write_text(
        ingress("pinned", [{"http": {"paths": [path("/special", "s1")]}}], annotations={
            "alb.ingress.kubernetes.io/order": "1"}))
    cluster.wait_generation(3)
    assert get(cluster.port, "/x", "a.com")[1] == "b1"
    assert get(cluster.port, "/x", "unknown.com")[1] == "b2"  # the default backend catches the rest
    assert get(cluster.port, "/special", "b.com")[1] == "b1"


def test_invalid_ingress_is_rejected_and_others_keep_serving(cluster):
    (cluster.dir / "30-broken.json").write_text(
        ingress("broken", [{"host": "x.com", "http": {"paths": [path("nope", "s2")]}}]))
    (cluster.dir / "31-bad-order.json").write_text(
        ingress("badorder", [{"host": "y.com", "http": {"paths": [path("/", "s2")]}}],
                annotations={"alb.ingress.kubernetes.io/order": "0"}))
    cluster.wait_generation(2)
    log = cluster.log_path.read_text()
    assert "Warning FailedBuildModel Ingress default/broken: spec.rules[0].http.paths[0].path: must start with '/'" in log
    assert "Ingress default/badorder: metadata.annotations[alb.ingress.kubernetes.io/order]" in log
    assert get(cluster.port, "/", "foo.bar.com")[1] == "b1"
    assert get(cluster.port, "/", "x.com")[0] == 404 and get(cluster.port, "/", "y.com")[0] == 404


def test_broken_file_keeps_its_last_good_objects(cluster):
    (cluster.dir / "20-ingress.json").write_text('{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", oops')
    deadline = time.monotonic() + 10
    while "keeping the objects of its last good version" not in cluster.log_path.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert "20-ingress.json: line 1 column 62: string or '}' expected near 'oops'" in cluster.log_path.read_text()
    assert get(cluster.port, "/", "foo.bar.com")[1] == "b1"  # still served
    # fixing the file applies the new version
    replace(cluster, "20-ingress.json", ingress("web", [{"host": "foo.bar.com", "http": {"paths": [path("/", "s2")]}}]))
    deadline = time.monotonic() + 10
    while get(cluster.port, "/", "foo.bar.com")[1] != "b2":
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_deleted_file_takes_its_objects(cluster):
    os.unlink(cluster.dir / "20-ingress.json")
    deadline = time.monotonic() + 10
    while get(cluster.port, "/", "foo.bar.com")[0] != 404:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_endpoints_missing_service_and_other_classes(cluster, backend2):
    replace(cluster, "10-services.yaml", service("s1", backend2.port, ready=False) + "---\n" +
            service("s2", backend2.port))
    (cluster.dir / "40-more.json").write_text(
        ingress("more", [{"host": "ghost.com", "http": {"paths": [path("/", "nosuch")]}},
                         {"host": "s2.com", "http": {"paths": [path("/", "s2")]}}]))
    (cluster.dir / "41-nginx.json").write_text(
        ingress("other-class", [{"host": "nginx.com", "http": {"paths": [path("/", "s2")]}}], cls="nginx"))
    cluster.wait_generation(2)
    assert get(cluster.port, "/", "foo.bar.com")[0] == 503  # s1's only endpoint is not ready
    assert get(cluster.port, "/", "ghost.com")[0] == 503    # Service not found
    assert get(cluster.port, "/", "s2.com")[1] == "b2"
    assert get(cluster.port, "/", "nginx.com")[0] == 404   # another controller's Ingress
    assert "Service default/nosuch not found" in cluster.log_path.read_text()


def slice_only(name, backend_port, addresses=("127.0.0.1",), port_name="http"):
    eps = ", ".join(f'{{addresses: ["{a}"]}}' for a in addresses)
    return textwrap.dedent(f"""\
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {{name: {name}-abc, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}
        addressType: IPv4
        ports: [{{name: {port_name}, port: {backend_port}}}]
        endpoints: [{eps}]
        """)


def test_endpoint_changes_share_the_routes(tmp_path, start_alb, backend, backend2):
    """An EndpointSlice change alone is published without translating or
    compiling routes again (a metric counts it), serves the new endpoints,
    and keeps keep-alive connections; an Ingress change after it is a whole
    version again."""
    d = tmp_path / "m"
    d.mkdir()
    port = free_port()
    (d / "00-albconfig.yaml").write_text(albconfig(port))
    (d / "10-services.yaml").write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: s1, namespace: default}
        spec: {ports: [{name: http, port: 80}]}
        """))
    (d / "11-slice.yaml").write_text(slice_only("s1", backend.port))
    (d / "20-ingress.json").write_text(ingress("web", [{"host": "foo.bar.com", "http": {"paths": [path("/", "s1")]}}]))
    a = start_alb(manifests=d, port=port)
    a.dir = d
    keep = socket.create_connection(("127.0.0.1", port), timeout=5)
    keep.sendall(b"GET /k HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
    assert read_response(keep)[0] == 200
    assert a.metrics()["alb_config_endpoint_publishes_total"] == 0

    replace(a, "11-slice.yaml", slice_only("s1", backend2.port))
    a.wait_generation(2)
    assert a.metrics()["alb_config_endpoint_publishes_total"] == 1
    assert get(port, "/", "foo.bar.com") == (200, "b2")
    keep.sendall(b"GET /k HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
    status, headers, _, _ = read_response(keep)
    assert (status, headers["x-backend"][0]) == (200, "b2")
    status, body = a.admin_get("/config")
    assert f'"port": {backend2.port}' in body.decode() and f'"port": {backend.port}' not in body.decode()

    # an endpoint that is not an IP is left out with a warning; the others serve
    replace(a, "11-slice.yaml", slice_only("s1", backend2.port, addresses=("db.example.com", "127.0.0.1")))
    a.wait_generation(3)
    assert a.metrics()["alb_config_endpoint_publishes_total"] == 2
    assert get(port, "/", "foo.bar.com") == (200, "b2")
    assert "endpoints[0].addresses[0]: not an IP address, skipped" in a.log_path.read_text()

    # an Ingress change is a whole version, and still serves the latest endpoints
    replace(a, "20-ingress.json", ingress("web", [{"host": "foo.bar.com", "http": {"paths": [path("/v2", "s1")]}}]))
    a.wait_generation(4)
    assert a.metrics()["alb_config_endpoint_publishes_total"] == 2
    assert get(port, "/v2", "foo.bar.com") == (200, "b2")
    assert get(port, "/", "foo.bar.com")[0] == 404
    keep.sendall(b"GET /v2 HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n")
    assert read_response(keep)[0] == 200
    keep.close()


def test_external_name_services_resolved_by_dns(tmp_path, start_alb, backend):
    """An ExternalName Service is served at the addresses its name resolves
    to (here the machine's host name, which /etc/hosts maps to a loopback
    address), once the resolver answers; localhost is refused as
    ingress-nginx does; a name that stops resolving answers 503."""
    name = socket.gethostname()
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(name, None)}
    except OSError:
        addrs = set()
    if not addrs or not all(ipaddress.ip_address(a).is_loopback for a in addrs):
        pytest.skip(f"host name {name!r} does not resolve to loopback addresses only: {addrs}")
    d = tmp_path / "m"
    d.mkdir()
    port = free_port()
    (d / "00-albconfig.yaml").write_text(albconfig(port))

    def services(external):
        return textwrap.dedent(f"""\
            apiVersion: v1
            kind: Service
            metadata: {{name: ext, namespace: default}}
            spec: {{type: ExternalName, externalName: "{external}", ports: [{{port: 80, targetPort: {backend.port}}}]}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {{name: local, namespace: default}}
            spec: {{type: ExternalName, externalName: localhost, ports: [{{port: 80, targetPort: {backend.port}}}]}}
            """)
    (d / "10-services.yaml").write_text(services(name))
    (d / "20-ingress.json").write_text(ingress("web", [{"host": "ext.com", "http": {"paths": [path("/", "ext")]}},
                                                       {"host": "local.com", "http": {"paths": [path("/", "local")]}}]))
    a = start_alb(manifests=d, port=port)
    a.dir = d
    a.wait_generation(2)  # the resolver's answer, published as an endpoint change
    assert a.metrics()["alb_config_endpoint_publishes_total"] == 1
    assert get(port, "/x", "ext.com") == (200, "b1")
    assert get(port, "/x", "local.com")[0] == 503
    log = a.log_path.read_text()
    assert f'whose name "{name}" is being resolved' in log
    assert 'whose name "localhost" is a loopback address, refused' in log

    replace(a, "10-services.yaml", services("does-not-exist.invalid"))
    deadline = time.monotonic() + 20
    while get(port, "/x", "ext.com")[0] != 503 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert get(port, "/x", "ext.com")[0] == 503
    while "does not resolve" not in a.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert '"does-not-exist.invalid" does not resolve' in a.log_path.read_text()


def test_translate_and_check_commands(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "a.yaml").write_text(albconfig(8080) + "---\n" + service("s1", 9001))
    (d / "b.json").write_text(ingress("good", [{"host": "a.com", "http": {"paths": [path("/", "s1")]}}]))
    out = subprocess.run([ALB_BIN, "translate", "--manifests", str(d)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["listeners"][0]["port"] == 8080 and "generation" not in doc
    assert doc["backends"][0]["name"] == "default/s1:80"
    assert doc["backends"][0]["endpoints"] == [{"address": "127.0.0.1", "port": 9001, "weight": 1, "ready": True}]
    (d / "c.json").write_text(ingress("bad", [{"host": "a b", "http": {"paths": [path("/", "s1")]}}]))
    out = subprocess.run([ALB_BIN, "check", "--manifests", str(d)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert 'Ingress default/bad: spec.rules[0].host: "a b" is not a valid host' in out.stderr
    out = subprocess.run([ALB_BIN, "translate"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 2


def test_quickstart_translates_cleanly():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([ALB_BIN, "check", "--manifests", os.path.join(root, "examples", "quickstart")],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr


def test_annotations_through_the_binary(cluster):
    """ingress-nginx's documented rewrite example, ALB's ssl-redirect, and a
    per-Ingress body limit, as a client sees them."""
    nginx = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
             "metadata": {"name": "rw", "namespace": "default", "annotations": {
                 "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
                 "nginx.ingress.kubernetes.io/proxy-body-size": "1k"}},
             "spec": {"ingressClassName": "alb", "rules": [{"host": "rw.com", "http": {"paths": [
                 {"path": "/something(/|$)(.*)", "pathType": "ImplementationSpecific",
                  "backend": {"service": {"name": "s1", "port": {"number": 80}}}}]}}]}}
    redirect = json.loads(ingress("tls", [{"host": "secure.com", "http": {"paths": [path("/", "s1")]}}],
                                  annotations={"alb.ingress.kubernetes.io/ssl-redirect": "true"}))
    replace(cluster, "20-ingress.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": [nginx, redirect]}))
    cluster.wait_generation(2)
    backend = None
    for sent, want in (("/something", "/"), ("/something/", "/"), ("/something/new?q=1", "/new?q=1"),
                       ("/SOMETHING/x", "/x")):
        s = socket.create_connection(("127.0.0.1", cluster.port), timeout=5)
        s.sendall(f"GET {sent} HTTP/1.1\r\nHost: rw.com\r\n\r\n".encode())
        status, headers, body, _ = read_response(s)
        s.close()
        assert status == 200 and body == f"hello from b1 {want.split('?')[0]}\n".encode(), (sent, body)
    # the body limit of this Ingress: 413 before anything is forwarded
    s = socket.create_connection(("127.0.0.1", cluster.port), timeout=5)
    s.sendall(b"POST /something/up HTTP/1.1\r\nHost: rw.com\r\nContent-Length: 2000\r\n\r\n" + b"x" * 2000)
    assert read_response(s)[0] == 413
    s.close()
    # ALB's ssl-redirect: 308 to the AlbConfig's HTTPS listener port
    s = socket.create_connection(("127.0.0.1", cluster.port), timeout=5)
    s.sendall(b"GET /a/b?c=d HTTP/1.1\r\nHost: secure.com\r\n\r\n")
    status, headers, _, _ = read_response(s)
    s.close()
    assert status == 308 and headers["location"] == [f"https://secure.com:{cluster.https_port}/a/b?c=d"]
