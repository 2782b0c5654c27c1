"""deploy/: the manifests render with kustomize, are well-formed (a
structural CRD schema, least-privilege RBAC, probes on the admin port, a
preStop pause, non-root), are accepted by an API server through kubectl,
and ALB starts with the Deployment's own arguments. The Dockerfile is
multi-stage on Debian 12 slim and runs as non-root."""
import os
import re
import subprocess

import pytest
import yaml

from conftest import ROOT, Alb, free_port
from fake_apiserver import FakeApiServer
from test_cluster import wait_for

DEPLOY = os.path.join(ROOT, "deploy")


@pytest.fixture(scope="module")
def rendered():
    r = subprocess.run(["kubectl", "kustomize", DEPLOY], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def objects(rendered):
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_renders_every_object(objects):
    kinds = {k for k, _ in objects}
    assert kinds == {"Namespace", "CustomResourceDefinition", "IngressClass", "AlbConfig", "ServiceAccount",
                     "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Deployment",
                     "Service", "PodDisruptionBudget"}
    for (kind, name), o in objects.items():
        assert o["apiVersion"] and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), (kind, name)
        cluster_scoped = kind in ("Namespace", "CustomResourceDefinition", "IngressClass", "AlbConfig", "ClusterRole",
                                  "ClusterRoleBinding")
        assert ("namespace" in o["metadata"]) != cluster_scoped, (kind, name)
        if not cluster_scoped:
            assert o["metadata"]["namespace"] == "alb-system"


def structural(schema, path="schema"):
    """The rules of a structural schema that matter here: every node says its
    type (or is int-or-string / preserves unknown fields), all the way down."""
    if not (schema.get("type") or schema.get("x-kubernetes-int-or-string") or
            schema.get("x-kubernetes-preserve-unknown-fields")):
        raise AssertionError(f"{path}: no type")
    for k, sub in (schema.get("properties") or {}).items():
        structural(sub, f"{path}.{k}")
    if "items" in schema:
        structural(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        structural(schema["additionalProperties"], f"{path}.*")


def test_albconfig_crd_is_structural_and_follows_alibaba(objects):
    crd = objects[("CustomResourceDefinition", "albconfigs.alibabacloud.com")]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"]["kind"] == "AlbConfig" and crd["spec"]["group"] == "alibabacloud.com"
    (v1,) = crd["spec"]["versions"]
    assert v1["name"] == "v1" and v1["served"] and v1["storage"] and v1["subresources"] == {"status": {}}
    schema = v1["schema"]["openAPIV3Schema"]
    structural(schema)
    lst = schema["properties"]["spec"]["properties"]["listeners"]["items"]["properties"]
    assert lst["protocol"]["enum"] == ["HTTP", "HTTPS", "QUIC"] and lst["port"]["x-kubernetes-int-or-string"]
    assert set(lst["certificates"]["items"]["properties"]) == {"CertificateId", "IsDefault"}
    status = schema["properties"]["status"]["properties"]["loadBalancer"]["properties"]
    assert set(status) == {"dnsname", "id", "listeners"}


def test_rbac_is_least_privilege(objects):
    rules = objects[("ClusterRole", "alb")]["rules"]
    granted = {}
    for r in rules:
        assert "*" not in r["verbs"] and "*" not in r["resources"] and "*" not in r["apiGroups"]
        for g in r["apiGroups"]:
            for res in r["resources"]:
                granted.setdefault((g, res), set()).update(r["verbs"])
    writes = {k: v - {"get", "list", "watch"} for k, v in granted.items() if v - {"get", "list", "watch"}}
    assert writes == {("networking.k8s.io", "ingresses/status"): {"update", "patch"},
                      ("alibabacloud.com", "albconfigs/status"): {"update", "patch"},
                      ("", "events"): {"create", "patch"}}
    assert granted[("", "secrets")] == {"list", "watch"}  # no get of an arbitrary Secret by name
    for need in [("networking.k8s.io", "ingresses"), ("networking.k8s.io", "ingressclasses"), ("", "services"),
                 ("discovery.k8s.io", "endpointslices"), ("alibabacloud.com", "albconfigs")]:
        assert {"list", "watch"} <= granted[need], need
    role = objects[("Role", "alb")]["rules"]
    leases = [r for r in role if "leases" in r["resources"]]
    assert all(r.get("resourceNames") == ["alb-leader"] or r["verbs"] == ["create"] for r in leases)
    for b in ("ClusterRoleBinding", "RoleBinding"):
        (subject,) = objects[(b, "alb")]["subjects"]
        assert subject == {"kind": "ServiceAccount", "name": "alb", "namespace": "alb-system"}


def test_deployment_probes_drain_and_runs_as_non_root(objects):
    d = objects[("Deployment", "alb")]
    spec = d["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["serviceAccountName"] == "alb" and pod["securityContext"]["runAsNonRoot"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False and c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert "--admin=0.0.0.0:%d" % ports["admin"] in c["args"]
    assert c["lifecycle"]["preStop"] and c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    drain_s = int(next(a for a in c["args"] if a.startswith("--drain-timeout-ms=")).split("=")[1]) / 1000
    assert pod["terminationGracePeriodSeconds"] > drain_s + 5
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    svc = objects[("Service", "alb")]
    assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["selector"] == {"app.kubernetes.io/name": "alb"}
    pdb = objects[("PodDisruptionBudget", "alb")]
    assert pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    assert spec["selector"]["matchLabels"] == svc["spec"]["selector"]
    ic = objects[("IngressClass", "alb")]
    assert ic["spec"]["controller"] == "ingress.k8s.alibabacloud/alb"
    assert ic["spec"]["parameters"] == {"apiGroup": "alibabacloud.com", "kind": "AlbConfig", "name": "alb"}


def test_applied_through_kubectl_and_alb_starts_with_its_arguments(rendered, objects, tmp_path):
    api = FakeApiServer()
    try:
        kc = api.kubeconfig(tmp_path / "kubeconfig")
        r = subprocess.run(["kubectl", "--kubeconfig", kc, "create", "--validate=false", "-f", "-"], input=rendered,
                           capture_output=True, text=True, timeout=60, env=dict(os.environ, HOME=str(tmp_path)))
        assert r.returncode == 0, r.stderr
        assert r.stdout.count(" created") == len(objects)
        assert api.get("apps", "v1", "deployments", "alb", ns="alb-system")["spec"]["replicas"] == 2
        # the sample AlbConfig binds ports 80 and 443; keep this run on loopback test ports
        api.remove("alibabacloud.com", "v1", "albconfigs", "alb")
        (c,) = objects[("Deployment", "alb")]["spec"]["template"]["spec"]["containers"]
        args = [a.replace("$(POD_NAMESPACE)", "alb-system") for a in c["args"][1:]
                if not a.startswith(("--admin=", "--state-dir=", "--drain-timeout-ms="))]
        (tmp_path / "state").mkdir()
        a = Alb(tmp_path, kubeconfig=kc, extra_args=(*args, f"--state-dir={tmp_path / 'state'}"),
                env={"POD_NAME": "alb-abc", "POD_NAMESPACE": "alb-system"})
        try:
            lease = wait_for("the Lease", lambda: next(iter(api.list("coordination.k8s.io", "v1", "leases", "alb-system")), None))
            assert lease["metadata"]["name"] == "alb-leader" and lease["spec"]["holderIdentity"] == "alb-abc"
            assert api.requests_matching("GET", "/api/v1/namespaces/alb-system/configmaps")
        finally:
            a.stop()
    finally:
        api.stop()


def test_dockerfile_is_multi_stage_debian_slim_non_root():
    text = open(os.path.join(DEPLOY, "Dockerfile")).read()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) == 2 and all(f == "debian:12-slim" for f in froms)
    assert "COPY --from=build /src/build/alb" in text
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    # every library the binary links is installed in the runtime stage
    runtime = text.split("FROM debian:12-slim", 2)[2]
    for pkg in ("libjansson4", "libpcre2-8-0", "libyaml-0-2", "zlib1g", "libssl3", "libnghttp2-14", "libcurl4"):
        assert pkg in runtime, pkg
    ldd = subprocess.run(["ldd", os.path.join(ROOT, "build", "alb")], capture_output=True, text=True).stdout
    for lib in ("libjansson", "libpcre2-8", "libyaml", "libz", "libssl", "libnghttp2", "libcurl"):
        assert lib in ldd, lib
