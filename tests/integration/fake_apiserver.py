"""A stand-in Kubernetes API server for the tests (no kube-apiserver package
exists here), following the API conventions closely enough for ALB's client
and for kubectl:

- discovery (/api, /apis, /api/v1, /apis/GROUP/VERSION, /version);
- LIST with limit/continue (a consistent snapshot per paginated list),
  label and field selectors (equality), resourceVersion in list metadata;
- WATCH (chunked JSON lines) from a resourceVersion, with BOOKMARK events
  when asked, timeoutSeconds, and a 410 Expired ERROR event when the
  version asked for is older than the compacted history;
- create (201, 409 AlreadyExists, generateName), update with optimistic
  concurrency (409 Conflict on a stale resourceVersion), merge patches
  (RFC 7386; strategic merge patches are treated as merge patches), delete;
  the status subresource (updates to the object keep its status, updates
  to /status change only the status);
- errors as Status objects.

Test controls: stop() drops every connection and stops listening (the API
is away); start() listens again on the same port with the same data;
expire() compacts the history and ends every watch with 410 Gone. Every
request is recorded as (method, path, query, token) in `requests`.
"""
import base64
import copy
import datetime
import json
import os
import random
import socket
import ssl
import string
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (group, version, plural) -> (kind, namespaced, has status subresource)
RESOURCES = {
    ("", "v1", "namespaces"): ("Namespace", False, True),
    ("", "v1", "services"): ("Service", True, True),
    ("", "v1", "endpoints"): ("Endpoints", True, False),
    ("", "v1", "secrets"): ("Secret", True, False),
    ("", "v1", "configmaps"): ("ConfigMap", True, False),
    ("", "v1", "events"): ("Event", True, False),
    ("", "v1", "pods"): ("Pod", True, True),
    ("networking.k8s.io", "v1", "ingresses"): ("Ingress", True, True),
    ("networking.k8s.io", "v1", "ingressclasses"): ("IngressClass", False, False),
    ("discovery.k8s.io", "v1", "endpointslices"): ("EndpointSlice", True, False),
    ("coordination.k8s.io", "v1", "leases"): ("Lease", True, False),
    ("events.k8s.io", "v1", "events"): ("Event", True, False),
    ("alibabacloud.com", "v1", "albconfigs"): ("AlbConfig", False, True),
    ("", "v1", "serviceaccounts"): ("ServiceAccount", True, False),
    ("apps", "v1", "deployments"): ("Deployment", True, True),
    ("policy", "v1", "poddisruptionbudgets"): ("PodDisruptionBudget", True, True),
    ("rbac.authorization.k8s.io", "v1", "clusterroles"): ("ClusterRole", False, False),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"): ("ClusterRoleBinding", False, False),
    ("rbac.authorization.k8s.io", "v1", "roles"): ("Role", True, False),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"): ("RoleBinding", True, False),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"): ("CustomResourceDefinition", False, True),
}
SHORT = {"ingresses": ["ing"], "services": ["svc"], "endpointslices": [], "configmaps": ["cm"],
         "namespaces": ["ns"], "events": ["ev"], "albconfigs": []}


def api_version(group, version):
    return f"{group}/{version}" if group else version


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def status_obj(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
         "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


class ApiError(Exception):
    def __init__(self, code, reason, message):
        super().__init__(message)
        self.status = status_obj(code, reason, message)


def field_of(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def selected(obj, label_sel, field_sel):
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (label_sel or "").split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k) != v:
                return False
        elif term not in labels:
            return False
    for term in filter(None, (field_sel or "").split(",")):
        neg = "!=" in term
        k, v = term.split("!=" if neg else "=", 1)
        k = k.rstrip("=")
        have = field_of(obj, k)
        if (str(have) == v) == neg:
            return False
    return True


class Store:
    """Objects by resource and (namespace, name); one resourceVersion
    counter; the history watches read."""

    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 1
        self.objects = {r: {} for r in RESOURCES}
        self.history = []  # (rv, resource, type, object), in rv order
        self.compacted = 1  # watches from before this get 410
        self.expire_gen = 0
        self.snapshots = {}  # continue token id -> items

    def since(self, rv):
        """The history after version <rv> (bisected: watches ask often)."""
        lo, hi = 0, len(self.history)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.history[mid][0] <= rv:
                lo = mid + 1
            else:
                hi = mid
        return self.history[lo:]

    def _record(self, res, typ, obj):
        self.history.append((self.rv, res, typ, copy.deepcopy(obj)))
        if len(self.history) > 10000:
            self.compacted = self.history[5000][0] - 1
            del self.history[:5000]
        self.lock.notify_all()

    def create(self, res, ns, obj):
        kind, namespaced, _ = RESOURCES[res]
        md = obj.setdefault("metadata", {})
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        name = md.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{kind} is invalid: metadata.name: Required value: name or generateName is required")
        if namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        with self.lock:
            key = (ns if namespaced else "", name)
            if key in self.objects[res]:
                raise ApiError(409, "AlreadyExists", f'{res[2]} "{name}" already exists')
            self.rv += 1
            md.update(uid=f"uid-{self.rv}-{name}", resourceVersion=str(self.rv), creationTimestamp=now_iso(), generation=1)
            obj["kind"] = kind
            obj["apiVersion"] = api_version(res[0], res[1])
            self.objects[res][key] = obj
            self._record(res, "ADDED", obj)
            return copy.deepcopy(obj)

    def get(self, res, ns, name):
        with self.lock:
            obj = self.objects[res].get((ns, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{res[2]}.{res[0] or "core"} "{name}" not found')
            return copy.deepcopy(obj)

    def update(self, res, ns, name, obj, subresource=None):
        kind, _, has_status = RESOURCES[res]
        with self.lock:
            cur = self.objects[res].get((ns, name))
            if cur is None:
                raise ApiError(404, "NotFound", f'{res[2]}.{res[0] or "core"} "{name}" not found')
            md = obj.get("metadata") or {}
            if md.get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
            want_rv = md.get("resourceVersion")
            if want_rv and want_rv != cur["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {res[2]}.{res[0] or "core"} "{name}": the object '
                               "has been modified; please apply your changes to the latest version and try again")
            new = copy.deepcopy(cur)
            if subresource == "status":
                new["status"] = obj.get("status")
            else:
                status = cur.get("status")
                new = copy.deepcopy(obj)
                new.setdefault("metadata", {})
                for k in ("uid", "creationTimestamp", "namespace", "generation"):
                    if k in cur["metadata"]:
                        new["metadata"][k] = cur["metadata"][k]
                new["metadata"]["name"] = name
                new["kind"], new["apiVersion"] = cur["kind"], cur["apiVersion"]
                if has_status:
                    if status is None:
                        new.pop("status", None)
                    else:
                        new["status"] = status
                if {k: v for k, v in new.items() if k not in ("metadata", "status")} != \
                        {k: v for k, v in cur.items() if k not in ("metadata", "status")}:
                    new["metadata"]["generation"] = cur["metadata"].get("generation", 1) + 1
            if new == cur:
                return copy.deepcopy(cur)
            self.rv += 1
            new["metadata"]["resourceVersion"] = str(self.rv)
            self.objects[res][(ns, name)] = new
            self._record(res, "MODIFIED", new)
            return copy.deepcopy(new)

    def delete(self, res, ns, name):
        with self.lock:
            cur = self.objects[res].pop((ns, name), None)
            if cur is None:
                raise ApiError(404, "NotFound", f'{res[2]}.{res[0] or "core"} "{name}" not found')
            self.rv += 1
            cur["metadata"]["resourceVersion"] = str(self.rv)
            self._record(res, "DELETED", cur)
            return copy.deepcopy(cur)

    def list(self, res, ns):
        with self.lock:
            items = [copy.deepcopy(o) for (n, _), o in sorted(self.objects[res].items()) if ns is None or n == ns]
            return items, self.rv

    def expire(self):
        """Forgets the history: every watch ends with 410 Gone."""
        with self.lock:
            self.rv += 1
            self.compacted = self.rv
            self.history.clear()
            self.expire_gen += 1
            self.lock.notify_all()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"
    # headers and body leave in two writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK (40 ms a request). Go's server, as
    # kube-apiserver's, sets it too.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing ----
    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        """Every request's body is read, used or not, so the connection can
        carry the next one."""
        n = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(n) if n else b""

    def body(self):
        raw = self.raw_body
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "BadRequest", "the body is not JSON")

    def handle_one_request(self):
        fake = self.server.fake
        if fake.down:
            self.close_connection = True
            return
        with fake.conns_lock:
            fake.conns.add(self.connection)
        try:
            super().handle_one_request()
        finally:
            with fake.conns_lock:
                fake.conns.discard(self.connection)

    def route(self, method):
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        self.read_body()
        with fake.requests_lock:
            fake.requests.append((method, url.path, q, token, self.headers.get("Content-Type")))
        try:
            if fake.token is not None and token not in fake.tokens_accepted():
                raise ApiError(401, "Unauthorized", "Unauthorized")
            hook = fake.hooks.get((method, url.path))
            if hook:
                code, obj = hook(q)
                if code:
                    return self.send_json(code, obj)
            self.dispatch(method, url.path, q)
        except ApiError as e:
            self.send_json(e.status["code"], e.status)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    do_GET = lambda self: self.route("GET")
    do_POST = lambda self: self.route("POST")
    do_PUT = lambda self: self.route("PUT")
    do_PATCH = lambda self: self.route("PATCH")
    do_DELETE = lambda self: self.route("DELETE")

    # ---- the API ----
    def dispatch(self, method, path, q):
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake", "platform": "linux/amd64"})
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = sorted({(g, v) for g, v, _ in RESOURCES if g})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                 "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups]})
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            res = [(p, k) for (g, v, p), k in RESOURCES.items() if g == group and v == version]
            if not res:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                        "groupVersion": api_version(group, version), "resources": [
                {"name": p, "singularName": k[0].lower(), "namespaced": k[1], "kind": k[0],
                 "shortNames": SHORT.get(p, []),
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]} for p, k in res] + [
                {"name": p + "/status", "singularName": "", "namespaced": k[1], "kind": k[0],
                 "verbs": ["get", "patch", "update"]} for p, k in res if k[2]]})
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        res = (group, version, rest[0])
        if res not in RESOURCES:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        kind, namespaced, has_status = RESOURCES[res]
        if namespaced and ns is None and len(rest) > 1:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        key_ns = ns if namespaced else ""
        store = self.server.fake.store
        if len(rest) == 1:
            if method == "GET":
                if q.get("watch") in ("1", "true"):
                    return self.watch(res, ns if namespaced else None, q)
                return self.list(res, ns if namespaced else None, q)
            if method == "POST":
                obj = self.body()
                if not isinstance(obj, dict):
                    raise ApiError(400, "BadRequest", "the body must be an object")
                return self.send_json(201, store.create(res, key_ns, obj))
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        name, sub = rest[1], rest[2] if len(rest) > 2 else None
        if sub and (sub != "status" or not has_status):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            return self.send_json(200, store.get(res, key_ns, name))
        if method == "PUT":
            obj = self.body()
            if not isinstance(obj, dict):
                raise ApiError(400, "BadRequest", "the body must be an object")
            return self.send_json(200, store.update(res, key_ns, name, obj, sub))
        if method == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0]
            if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                raise ApiError(415, "UnsupportedMediaType", f"the media type {ctype} is not supported here")
            patch = self.body()
            for _ in range(10):
                cur = store.get(res, key_ns, name)
                new = merge_patch(cur, patch)
                if not (isinstance(patch, dict) and (patch.get("metadata") or {}).get("resourceVersion")):
                    new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
                try:
                    return self.send_json(200, store.update(res, key_ns, name, new, sub))
                except ApiError as e:
                    if e.status["code"] != 409 or (patch.get("metadata") or {}).get("resourceVersion"):
                        raise
            raise ApiError(409, "Conflict", "too many concurrent changes")
        if method == "DELETE":
            obj = store.delete(res, key_ns, name)
            return self.send_json(200, obj)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed")

    def list(self, res, ns, q):
        kind = RESOURCES[res][0]
        store = self.server.fake.store
        limit = int(q.get("limit") or 0)
        token = q.get("continue")
        if token:
            try:
                snap_id, start = json.loads(base64.b64decode(token))
                items, rv = store.snapshots[snap_id]
            except (ValueError, KeyError, TypeError):
                raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent "
                                               "list result. You can start a new list without the continue parameter.")
        else:
            all_items, rv = store.list(res, ns)
            items = [o for o in all_items if selected(o, q.get("labelSelector"), q.get("fieldSelector"))]
            start = 0
        md = {"resourceVersion": str(rv)}
        page = items[start:start + limit] if limit else items[start:]
        if limit and start + limit < len(items):
            snap_id = f"{rv}-{id(items)}"
            store.snapshots[snap_id] = (items, rv)
            md["continue"] = base64.b64encode(json.dumps([snap_id, start + limit]).encode()).decode()
            md["remainingItemCount"] = len(items) - start - limit
        out = []
        for o in page:
            o = copy.deepcopy(o)
            if res[0] != "alibabacloud.com":  # built-in lists leave kind and apiVersion out of items
                o.pop("kind", None)
                o.pop("apiVersion", None)
            out.append(o)
        self.server.fake.lists += 1
        self.send_json(200, {"kind": kind + "List", "apiVersion": api_version(res[0], res[1]), "metadata": md,
                             "items": out})

    def watch(self, res, ns, q):
        fake = self.server.fake
        store = fake.store
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        timeout = min(float(q.get("timeoutSeconds") or 1800), 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True

        def send(ev):
            data = json.dumps(ev).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def visible(o):
            return (ns is None or o["metadata"].get("namespace") == ns) and \
                selected(o, q.get("labelSelector"), q.get("fieldSelector"))

        rv_s = q.get("resourceVersion") or "0"
        try:
            with store.lock:
                expire_gen = store.expire_gen
                if rv_s == "0":
                    since = store.rv
                    initial = [copy.deepcopy(o) for o in store.objects[res].values() if visible(o)]
                else:
                    since = int(rv_s)
                    initial = []
                    if since < store.compacted:
                        initial = None
            if initial is None:
                send({"type": "ERROR", "object": status_obj(410, "Expired", f"too old resource version: {since} ({store.compacted})")})
                fake.watch_gone += 1
                return self.end_stream()
            for o in initial:
                send({"type": "ADDED", "object": o})
            fake.watches_open += 1
            deadline = time.monotonic() + timeout
            last_bookmark = time.monotonic()
            while not fake.down and time.monotonic() < deadline:
                evs = []
                with store.lock:
                    if store.expire_gen != expire_gen:
                        evs = None
                    else:
                        # the version the events are complete up to: a bookmark may say no more
                        cur_rv = store.rv
                        evs = [(rv, t, o) for rv, r, t, o in store.since(since) if r == res and visible(o)]
                        if not evs:
                            store.lock.wait(0.2)
                if evs is None:
                    send({"type": "ERROR", "object": status_obj(410, "Expired", "too old resource version")})
                    fake.watch_gone += 1
                    break
                for rv, t, o in evs:
                    send({"type": t, "object": o})
                    since = rv
                if bookmarks and time.monotonic() - last_bookmark >= fake.bookmark_interval:
                    kind = RESOURCES[res][0]
                    since = max(since, cur_rv)
                    send({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version(res[0], res[1]),
                                                         "metadata": {"resourceVersion": str(since)}}})
                    last_bookmark = time.monotonic()
            if not fake.down:
                self.end_stream()
        finally:
            fake.watches_open -= 1 if fake.watches_open > 0 else 0

    def end_stream(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass


class FakeApiServer:
    """The server, on 127.0.0.1:<port> (0: any free), with TLS when
    <certfile>/<keyfile> are given, requiring a bearer token when <token>
    is (any of `extra_tokens` too)."""

    def __init__(self, port=0, certfile=None, keyfile=None, token=None, client_ca=None):
        self.store = Store()
        self.client_ca = client_ca  # with it, TLS clients must present a certificate it signed
        self.port = port
        self.certfile, self.keyfile = certfile, keyfile
        self.token = token
        self.extra_tokens = set()
        self.down = True
        self.conns = set()
        self.conns_lock = threading.Lock()
        self.requests = []
        self.requests_lock = threading.Lock()
        self.hooks = {}
        self.bookmark_interval = 1.0
        self.lists = 0
        self.watches_open = 0
        self.watch_gone = 0
        self.httpd = None
        self.start()

    def tokens_accepted(self):
        return {self.token} | self.extra_tokens

    @property
    def url(self):
        return f"{'https' if self.certfile else 'http'}://127.0.0.1:{self.port}"

    def start(self):
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler, bind_and_activate=False)
        httpd.allow_reuse_address = True
        httpd.daemon_threads = True
        httpd.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        httpd.server_bind()
        httpd.server_activate()
        if self.certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.certfile, self.keyfile)
            ctx.set_alpn_protocols(["http/1.1"])
            if self.client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(self.client_ca)
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        httpd.fake = self
        self.port = httpd.server_address[1]
        self.httpd = httpd
        self.down = False
        self.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        """The API goes away: no more listening, every connection cut."""
        self.down = True
        with self.store.lock:
            self.store.lock.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.conns_lock:
            for c in list(self.conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def expire(self):
        self.store.expire()

    # ---- helpers for tests ----
    def put(self, group, version, plural, obj, ns="default"):
        """Creates or replaces <obj> (the latest version wins)."""
        res = (group, version, plural)
        key_ns = ns if RESOURCES[res][1] else ""
        obj = copy.deepcopy(obj)
        try:
            cur = self.store.get(res, key_ns, obj["metadata"]["name"])
        except ApiError:
            return self.store.create(res, key_ns, obj)
        obj.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
        obj["status"] = cur.get("status")
        if obj["status"] is None:
            obj.pop("status")
        return self.store.update(res, key_ns, obj["metadata"]["name"], obj)

    def get(self, group, version, plural, name, ns="default"):
        res = (group, version, plural)
        return self.store.get(res, ns if RESOURCES[res][1] else "", name)

    def remove(self, group, version, plural, name, ns="default"):
        res = (group, version, plural)
        return self.store.delete(res, ns if RESOURCES[res][1] else "", name)

    def list(self, group, version, plural, ns=None):
        return self.store.list((group, version, plural), ns)[0]

    def requests_matching(self, method, path_part):
        with self.requests_lock:
            return [r for r in self.requests if r[0] == method and path_part in r[1]]

    def kubeconfig(self, path, token=None, ca_file=None, insecure=False, client_cert=None, client_key=None):
        """Writes a kubeconfig for this server (CA inline unless <ca_file>;
        a client certificate and key inline when given)."""
        cluster = {"server": self.url}
        if self.certfile:
            if insecure:
                cluster["insecure-skip-tls-verify"] = True
            elif ca_file:
                cluster["certificate-authority"] = ca_file
            else:
                cluster["certificate-authority-data"] = base64.b64encode(open(self.certfile, "rb").read()).decode()
        user = {"token": token} if token else {}
        if client_cert:
            user["client-certificate-data"] = base64.b64encode(open(client_cert, "rb").read()).decode()
            user["client-key-data"] = base64.b64encode(open(client_key, "rb").read()).decode()
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
               "clusters": [{"name": "fake", "cluster": cluster}],
               "users": [{"name": "u", "user": user}],
               "contexts": [{"name": "other", "context": {"cluster": "nowhere", "user": "u"}},
                            {"name": "test", "context": {"cluster": "fake", "user": "u"}}]}
        with open(path, "w") as f:
            json.dump(cfg, f)
        return str(path)


if __name__ == "__main__":
    import sys
    srv = FakeApiServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(srv.url, flush=True)
    while True:
        time.sleep(3600)
