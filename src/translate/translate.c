/* translate/translate.c : see translate.h.
 *
 * Steps: index the objects by kind and namespace/name; our IngressClasses
 * name AlbConfigs; each AlbConfig's HTTP listeners become listeners; each
 * Ingress of one of our classes becomes rules on its listeners; each
 * (namespace, Service, port) an Ingress uses becomes a backend whose
 * endpoints come from the Service's EndpointSlices (or Endpoints). Output
 * order is stable (sorted names), so the document diffs well.
 */
#include "translate/translate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ANN_ALB "alb.ingress.kubernetes.io/"
#define DEFAULT_BACKEND_ORDER 1000 /* after every Ingress rule of any order */

/* ---- diagnostics ------------------------------------------------------------ */

static char *xdup(const char *s) { return strdup(s ? s : ""); }

__attribute__((format(printf, 6, 7)))
static void diag(struct alb_diags *d, enum alb_diag_level lvl, const char *kind, const char *ns, const char *name,
                 const char *fmt, ...)
{
    if (d->cnt == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct alb_diag *v = realloc(d->v, cap * sizeof(*v));
        if (!v)
            return;
        d->v = v;
        d->cap = cap;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    d->v[d->cnt++] = (struct alb_diag){lvl, xdup(kind), xdup(ns), xdup(name), xdup(msg)};
    d->errors += lvl == ALB_DIAG_ERROR;
}

void alb_diags_deinit(struct alb_diags *d)
{
    for (size_t i = 0; i < d->cnt; i++) {
        free(d->v[i].kind);
        free(d->v[i].ns);
        free(d->v[i].name);
        free(d->v[i].message);
    }
    free(d->v);
    memset(d, 0, sizeof(*d));
}

/* ---- reading objects ----------------------------------------------------------- */

static const char *str_at(json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *obj_at(json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

static json_t *arr_at(json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_array(v) ? v : NULL;
}

static const char *meta(json_t *o, const char *key) { return str_at(obj_at(o, "metadata"), key); }
static const char *ns_of(json_t *o) { return meta(o, "namespace") ? meta(o, "namespace") : "default"; }

static const char *annotation(json_t *o, const char *key)
{
    return str_at(obj_at(obj_at(o, "metadata"), "annotations"), key);
}

static bool is_kind(json_t *o, const char *kind) { return str_at(o, "kind") && !strcmp(str_at(o, "kind"), kind); }

/* Objects of one kind, sorted by namespace/name (stable output). */
static int cmp_objects(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(ns_of(x), ns_of(y));
    return c ? c : strcmp(meta(x, "name") ? meta(x, "name") : "", meta(y, "name") ? meta(y, "name") : "");
}

struct list {
    json_t **v; /* borrowed from the objects array */
    size_t cnt;
};

static struct list of_kind(json_t *objects, const char *kind)
{
    struct list l = {calloc(json_array_size(objects) + 1, sizeof(json_t *)), 0};
    for (size_t i = 0; l.v && i < json_array_size(objects); i++) {
        json_t *o = json_array_get(objects, i);
        if (is_kind(o, kind) && meta(o, "name"))
            l.v[l.cnt++] = o;
    }
    if (l.cnt > 1)
        qsort(l.v, l.cnt, sizeof(json_t *), cmp_objects);
    return l;
}

/* A host as Ingress allows: DNS labels, or "*." and labels. */
static bool valid_host(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 253)
        return false;
    size_t i = (n > 2 && h[0] == '*' && h[1] == '.') ? 2 : 0;
    for (; i < n; i++)
        if (!(isalnum((unsigned char)h[i]) || h[i] == '-' || h[i] == '.'))
            return false;
    return true;
}

/* ---- AlbConfig listeners ------------------------------------------------------------ */

struct lst {
    const char *albconfig; /* borrowed */
    const char *protocol;  /* HTTP (served) */
    int port;
    json_t *doc; /* the listener's document, one reference */
};

struct state {
    const struct alb_translate_opts *o;
    struct alb_diags *d;
    json_t *objects;
    struct lst *lsts;
    size_t lst_cnt;
    json_t *backends;  /* key "ns/svc:port" -> backend document */
    json_t *services;  /* index "ns/name" -> Service */
    json_t *endpoints; /* index "ns/name" -> Endpoints */
    json_t *slices;    /* index "ns/service" -> array of its EndpointSlices */
};

static void add_albconfig(struct state *s, json_t *ac)
{
    const char *name = meta(ac, "name");
    json_t *ls = arr_at(obj_at(ac, "spec"), "listeners");
    if (!ls) {
        diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", name, "spec.listeners: none: this load balancer serves nothing");
        return;
    }
    const char *cloud_only[] = {"zoneMappings", "billingConfig", "edition", "addressType", "addressAllocatedMode",
                                "deletionProtectionEnabled", "accessLogConfig", "tags", "name", "id"};
    json_t *config = obj_at(obj_at(ac, "spec"), "config");
    for (size_t i = 0; config && i < sizeof(cloud_only) / sizeof(cloud_only[0]); i++)
        if (json_object_get(config, cloud_only[i]))
            diag(s->d, ALB_DIAG_INFO, "AlbConfig", "", name, "spec.config.%s: a cloud setting, ignored here",
                 cloud_only[i]);
    for (size_t i = 0; i < json_array_size(ls); i++) {
        json_t *l = json_array_get(ls, i);
        json_t *port = json_object_get(l, "port");
        const char *proto = str_at(l, "protocol") ? str_at(l, "protocol") : "HTTP";
        if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535) {
            diag(s->d, ALB_DIAG_ERROR, "AlbConfig", "", name, "spec.listeners[%zu].port: expected 1-65535", i);
            continue;
        }
        int p = (int)json_integer_value(port);
        if (strcmp(proto, "HTTP") && strcmp(proto, "HTTPS") && strcmp(proto, "QUIC")) {
            diag(s->d, ALB_DIAG_ERROR, "AlbConfig", "", name,
                 "spec.listeners[%zu].protocol: expected HTTP, HTTPS or QUIC, got \"%s\"", i, proto);
            continue;
        }
        bool taken = false;
        for (size_t k = 0; k < s->lst_cnt; k++)
            taken |= s->lsts[k].port == p;
        if (taken) {
            diag(s->d, ALB_DIAG_ERROR, "AlbConfig", "", name, "spec.listeners[%zu].port: %d is already a listener", i, p);
            continue;
        }
        struct lst *n = realloc(s->lsts, (s->lst_cnt + 1) * sizeof(*n));
        if (!n)
            return;
        s->lsts = n;
        struct lst *L = &s->lsts[s->lst_cnt++];
        *L = (struct lst){name, !strcmp(proto, "HTTP") ? "HTTP" : !strcmp(proto, "HTTPS") ? "HTTPS" : "QUIC", p, NULL};
        if (strcmp(proto, "HTTP")) {
            diag(s->d, ALB_DIAG_INFO, "AlbConfig", "", name,
                 "spec.listeners[%zu]: %s is accepted and not served yet (the TLS and QUIC issues)", i, proto);
            continue;
        }
        char lname[300];
        snprintf(lname, sizeof(lname), "%s-http-%d", name, p);
        L->doc = json_pack("{s:s,s:s,s:i,s:s,s:[]}", "name", lname, "address",
                           s->o->listen_address ? s->o->listen_address : "0.0.0.0", "port", p, "protocol", "HTTP",
                           "rules");
        json_t *idle = json_object_get(l, "idleTimeout");
        if (json_is_integer(idle) && json_integer_value(idle) >= 1 && json_integer_value(idle) <= 86400)
            json_object_set_new(L->doc, "timeouts", json_pack("{s:I}", "idle_ms", json_integer_value(idle) * 1000));
    }
}

/* ---- backends ------------------------------------------------------------------- */

static json_t *find_named(json_t *index, const char *ns, const char *name)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    return json_object_get(index, key);
}

/* Indexes <objects> of <kind> by "ns/name" (or, for slices, "ns/service"). */
static json_t *index_of(json_t *objects, const char *kind, bool by_service)
{
    json_t *idx = json_object();
    for (size_t i = 0; idx && i < json_array_size(objects); i++) {
        json_t *o = json_array_get(objects, i);
        if (!is_kind(o, kind) || !meta(o, "name"))
            continue;
        const char *name = by_service ? str_at(obj_at(obj_at(o, "metadata"), "labels"), "kubernetes.io/service-name")
                                      : meta(o, "name");
        if (!name)
            continue;
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", ns_of(o), name);
        if (!by_service) {
            json_object_set(idx, key, o);
            continue;
        }
        json_t *arr = json_object_get(idx, key);
        if (!arr) {
            arr = json_array();
            json_object_set_new(idx, key, arr);
        }
        json_array_append(arr, o);
    }
    return idx;
}

static void add_endpoint(json_t *eps, const char *addr, json_int_t port, bool ready)
{
    for (size_t i = 0; i < json_array_size(eps); i++) {
        json_t *e = json_array_get(eps, i);
        if (!strcmp(str_at(e, "address"), addr) && json_integer_value(json_object_get(e, "port")) == port)
            return; /* listed by two slices */
    }
    json_array_append_new(eps, json_pack("{s:s,s:I,s:b}", "address", addr, "port", port, "ready", ready));
}

/* The backend for (ns, service, port by number or name); created on first
 * use. Returns its name, or NULL (diagnosed) when the port is invalid. */
static const char *backend_for(struct state *s, json_t *ing, const char *field, const char *ns, const char *svc,
                               json_t *port_ref)
{
    json_t *pnum = json_object_get(port_ref, "number");
    const char *pname = str_at(port_ref, "name");
    char key[512];
    if (json_is_integer(pnum))
        snprintf(key, sizeof(key), "%s/%s:%lld", ns, svc, (long long)json_integer_value(pnum));
    else if (pname)
        snprintf(key, sizeof(key), "%s/%s:%s", ns, svc, pname);
    else {
        diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, meta(ing, "name"), "%s.port: a number or a name is required", field);
        return NULL;
    }
    json_t *b = json_object_get(s->backends, key);
    if (b)
        return json_string_value(json_object_get(b, "name"));
    json_t *eps = json_array();
    b = json_pack("{s:s,s:o}", "name", key, "endpoints", eps);
    json_object_set_new(s->backends, key, b);
    json_t *service = find_named(s->services, ns, svc);
    if (!service) {
        diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, meta(ing, "name"),
             "%s.name: Service %s/%s not found: its requests get 503 until it exists", field, ns, svc);
        return json_string_value(json_object_get(b, "name"));
    }
    /* the Service port the Ingress means */
    json_t *sp = NULL;
    json_t *ports = arr_at(obj_at(service, "spec"), "ports");
    for (size_t i = 0; i < json_array_size(ports) && !sp; i++) {
        json_t *p = json_array_get(ports, i);
        if ((json_is_integer(pnum) && json_integer_value(json_object_get(p, "port")) == json_integer_value(pnum)) ||
            (pname && str_at(p, "name") && !strcmp(str_at(p, "name"), pname)))
            sp = p;
    }
    if (!sp) {
        diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, meta(ing, "name"), "%s.port: Service %s/%s has no such port: 503",
             field, ns, svc);
        return json_string_value(json_object_get(b, "name"));
    }
    const char *sp_name = str_at(sp, "name") ? str_at(sp, "name") : "";
    json_t *target = json_object_get(sp, "targetPort");
    json_t *own_slices = find_named(s->slices, ns, svc);
    bool found_slice = json_array_size(own_slices) > 0;
    for (size_t i = 0; i < json_array_size(own_slices); i++) {
        json_t *sl = json_array_get(own_slices, i);
        const char *at = str_at(sl, "addressType");
        if (at && strcmp(at, "IPv4") && strcmp(at, "IPv6"))
            continue; /* FQDN slices are not addresses to connect to */
        json_int_t port = -1;
        json_t *slports = arr_at(sl, "ports");
        for (size_t k = 0; k < json_array_size(slports); k++) {
            json_t *p = json_array_get(slports, k);
            const char *n = str_at(p, "name") ? str_at(p, "name") : "";
            if (!strcmp(n, sp_name) && json_is_integer(json_object_get(p, "port")))
                port = json_integer_value(json_object_get(p, "port"));
        }
        if (port < 1 || port > 65535)
            continue;
        json_t *list = arr_at(sl, "endpoints");
        for (size_t k = 0; k < json_array_size(list); k++) {
            json_t *e = json_array_get(list, k);
            json_t *cond = obj_at(e, "conditions");
            json_t *ready = json_object_get(cond, "ready"), *term = json_object_get(cond, "terminating");
            bool ok = (!ready || json_is_null(ready) || json_is_true(ready)) && !json_is_true(term);
            json_t *addrs = arr_at(e, "addresses");
            for (size_t a = 0; a < json_array_size(addrs); a++)
                if (json_is_string(json_array_get(addrs, a)))
                    add_endpoint(eps, json_string_value(json_array_get(addrs, a)), port, ok);
        }
    }
    if (!found_slice) {
        /* core/v1 Endpoints, for clusters and folders without slices */
        json_t *ep = find_named(s->endpoints, ns, svc);
        json_t *subsets = arr_at(ep, "subsets");
        for (size_t i = 0; i < json_array_size(subsets); i++) {
            json_t *sub = json_array_get(subsets, i);
            json_int_t port = -1;
            json_t *sports = arr_at(sub, "ports");
            for (size_t k = 0; k < json_array_size(sports); k++) {
                json_t *p = json_array_get(sports, k);
                const char *n = str_at(p, "name") ? str_at(p, "name") : "";
                if (!strcmp(n, sp_name) || json_array_size(sports) == 1)
                    port = json_integer_value(json_object_get(p, "port"));
            }
            if (port < 1 || port > 65535) {
                if (json_is_integer(target))
                    port = json_integer_value(target);
                else
                    continue;
            }
            const char *kinds[] = {"addresses", "notReadyAddresses"};
            for (int r = 0; r < 2; r++) {
                json_t *addrs = arr_at(sub, kinds[r]);
                for (size_t a = 0; a < json_array_size(addrs); a++)
                    if (str_at(json_array_get(addrs, a), "ip"))
                        add_endpoint(eps, str_at(json_array_get(addrs, a), "ip"), port, r == 0);
            }
        }
    }
    return json_string_value(json_object_get(b, "name"));
}

/* ---- Ingresses ---------------------------------------------------------------------- */

/* The AlbConfig that serves <ing>, or NULL when it is not ours. */
static const char *albconfig_of(struct state *s, json_t *ing, struct list *classes)
{
    const char *cls = str_at(obj_at(ing, "spec"), "ingressClassName");
    if (!cls || !cls[0])
        cls = annotation(ing, "kubernetes.io/ingress.class");
    if (cls && !cls[0])
        cls = NULL; /* an empty class is no class: the default class adopts it */
    json_t *ic = NULL;
    for (size_t i = 0; i < classes->cnt; i++) {
        json_t *c = classes->v[i];
        bool is_default = annotation(c, "ingressclass.kubernetes.io/is-default-class") &&
                          !strcmp(annotation(c, "ingressclass.kubernetes.io/is-default-class"), "true");
        if (cls ? !strcmp(meta(c, "name"), cls) : is_default)
            ic = c;
    }
    if (!ic)
        return NULL;
    const char *ctrl = str_at(obj_at(ic, "spec"), "controller");
    if (!ctrl || strcmp(ctrl, s->o->controller))
        return NULL; /* another controller's class */
    json_t *params = obj_at(obj_at(ic, "spec"), "parameters");
    const char *kind = str_at(params, "kind"), *group = str_at(params, "apiGroup"), *name = str_at(params, "name");
    if (!params || !kind || strcmp(kind, "AlbConfig") || !group || strcmp(group, "alibabacloud.com") || !name) {
        diag(s->d, ALB_DIAG_ERROR, "IngressClass", "", meta(ic, "name"),
             "spec.parameters: expected apiGroup alibabacloud.com, kind AlbConfig and a name");
        return NULL;
    }
    return name;
}

/* Builds the rules of one Ingress; on any error the whole Ingress is left
 * out (its earlier rules too), as one invalid object must not half-serve. */
/* Annotations this translator reads (docs/annotations.md). */
static bool is_supported_annotation(const char *key)
{
    static const char *const supported[] = {ANN_ALB "order", ANN_ALB "listen-ports"};
    for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++)
        if (!strcmp(key, supported[i]))
            return true;
    return false;
}

static void report_unsupported_annotations(struct state *s, json_t *ing)
{
    json_t *anns = obj_at(obj_at(ing, "metadata"), "annotations");
    const char *key;
    json_t *v;
    json_object_foreach(anns, key, v)
    {
        bool ours = !strncmp(key, ANN_ALB, strlen(ANN_ALB)) || !strncmp(key, "nginx.ingress.kubernetes.io/", 28);
        if (ours && !is_supported_annotation(key))
            diag(s->d, ALB_DIAG_INFO, "Ingress", ns_of(ing), meta(ing, "name"),
                 "metadata.annotations[%s]: not supported yet, ignored", key);
    }
}

static void add_ingress(struct state *s, json_t *ing, const char *albconfig)
{
    const char *ns = ns_of(ing), *name = meta(ing, "name");
    json_t *spec = obj_at(ing, "spec");
    report_unsupported_annotations(s, ing);
    json_int_t order = 10;
    const char *ord = annotation(ing, ANN_ALB "order");
    if (ord) {
        char *end;
        long v = strtol(ord, &end, 10);
        if (*end || end == ord || v < 1 || v > 1000) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
                 "metadata.annotations[" ANN_ALB "order]: expected 1-1000, got \"%s\"", ord);
            return;
        }
        order = v;
    }
    /* listeners: listen-ports, else every HTTP and HTTPS listener of the AlbConfig */
    bool on[64] = {false};
    size_t on_cnt = 0;
    const char *lp = annotation(ing, ANN_ALB "listen-ports");
    if (lp) {
        json_error_t je;
        json_t *v = json_loads(lp, 0, &je);
        bool ok = json_is_array(v) && json_array_size(v) > 0;
        for (size_t i = 0; ok && i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            const char *proto;
            json_t *port;
            ok = json_is_object(e) && json_object_size(e) == 1;
            if (!ok)
                break;
            json_object_foreach(e, proto, port)
            {
                bool found = false;
                for (size_t k = 0; k < s->lst_cnt && k < 64; k++) {
                    struct lst *L = &s->lsts[k];
                    if (!strcmp(L->albconfig, albconfig) && !strcasecmp(L->protocol, proto) && json_is_integer(port) &&
                        json_integer_value(port) == L->port) {
                        on[k] = true;
                        found = true;
                    }
                }
                if (!found) {
                    diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
                         "metadata.annotations[" ANN_ALB "listen-ports]: AlbConfig %s has no %s listener on that port",
                         albconfig, proto);
                    json_decref(v);
                    return;
                }
            }
        }
        json_decref(v);
        if (!ok) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
                 "metadata.annotations[" ANN_ALB "listen-ports]: expected JSON like [{\"HTTP\":80},{\"HTTPS\":443}]");
            return;
        }
    } else {
        for (size_t k = 0; k < s->lst_cnt && k < 64; k++)
            on[k] = !strcmp(s->lsts[k].albconfig, albconfig) && strcmp(s->lsts[k].protocol, "QUIC");
    }
    for (size_t k = 0; k < s->lst_cnt && k < 64; k++)
        on_cnt += on[k] && s->lsts[k].doc;

    json_t *rules = json_array();
    json_t *rs = arr_at(spec, "rules");
    char field[128];
    for (size_t i = 0; i < json_array_size(rs); i++) {
        json_t *r = json_array_get(rs, i);
        const char *host = str_at(r, "host");
        if (host && host[0] && !valid_host(host)) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "spec.rules[%zu].host: \"%s\" is not a valid host", i, host);
            goto reject;
        }
        json_t *paths = arr_at(obj_at(r, "http"), "paths");
        for (size_t j = 0; j < json_array_size(paths); j++) {
            json_t *p = json_array_get(paths, j);
            const char *path = str_at(p, "path") ? str_at(p, "path") : "/";
            const char *type = str_at(p, "pathType");
            snprintf(field, sizeof(field), "spec.rules[%zu].http.paths[%zu]", i, j);
            if (!type || (strcmp(type, "Exact") && strcmp(type, "Prefix") && strcmp(type, "ImplementationSpecific"))) {
                diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
                     "%s.pathType: expected Exact, Prefix or ImplementationSpecific", field);
                goto reject;
            }
            if (path[0] != '/') {
                diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "%s.path: must start with '/'", field);
                goto reject;
            }
            json_t *match = json_pack("{s:{s:s,s:s}}", "path", "type", !strcmp(type, "Exact") ? "Exact" : "Prefix",
                                      "value", path);
            if (host && host[0])
                json_object_set_new(match, "hosts", json_pack("[s]", host));
            json_t *be = obj_at(p, "backend"), *svc = obj_at(be, "service");
            json_t *action;
            if (svc && str_at(svc, "name")) {
                char bf[160];
                snprintf(bf, sizeof(bf), "%s.backend.service", field);
                const char *bname = backend_for(s, ing, bf, ns, str_at(svc, "name"), obj_at(svc, "port"));
                if (!bname) {
                    json_decref(match);
                    goto reject;
                }
                action = json_pack("{s:s,s:s}", "type", "forward", "backend", bname);
            } else if (obj_at(be, "resource")) {
                diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, name,
                     "%s.backend.resource: resource backends are not served: 404", field);
                action = json_pack("{s:s,s:i}", "type", "fixed_response", "status", 404);
            } else {
                diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "%s.backend: a service or a resource is required", field);
                json_decref(match);
                goto reject;
            }
            json_array_append_new(rules, json_pack("{s:I,s:o,s:[o]}", "order", order, "match", match, "actions", action));
        }
    }
    json_t *db = obj_at(obj_at(spec, "defaultBackend"), "service");
    if (db && str_at(db, "name")) {
        const char *bname = backend_for(s, ing, "spec.defaultBackend.service", ns, str_at(db, "name"), obj_at(db, "port"));
        if (!bname)
            goto reject;
        json_array_append_new(rules, json_pack("{s:i,s:{},s:[{s:s,s:s}]}", "order", DEFAULT_BACKEND_ORDER, "match",
                                               "actions", "type", "forward", "backend", bname));
    }
    if (on_cnt == 0 && json_array_size(rules))
        diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, name, "AlbConfig %s has no HTTP listener for it: not served",
             albconfig);
    for (size_t k = 0; k < s->lst_cnt && k < 64; k++)
        if (on[k] && s->lsts[k].doc)
            json_array_extend(json_object_get(s->lsts[k].doc, "rules"), rules);
    json_decref(rules);
    return;
reject:
    json_decref(rules);
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(str_at(*(json_t *const *)a, "name"), str_at(*(json_t *const *)b, "name"));
}

json_t *alb_translate(json_t *objects, const struct alb_translate_opts *o, struct alb_diags *d)
{
    struct state s = {.o = o, .d = d, .objects = objects, .backends = json_object()};
    struct list classes = of_kind(objects, "IngressClass"), albconfigs = of_kind(objects, "AlbConfig"),
                ingresses = of_kind(objects, "Ingress");
    s.services = index_of(objects, "Service", false);
    s.slices = index_of(objects, "EndpointSlice", true);
    s.endpoints = index_of(objects, "Endpoints", false);
    for (size_t i = 0; i < albconfigs.cnt; i++)
        add_albconfig(&s, albconfigs.v[i]);
    for (size_t i = 0; i < ingresses.cnt; i++) {
        json_t *ing = ingresses.v[i];
        const char *ac = albconfig_of(&s, ing, &classes);
        if (!ac)
            continue; /* another class: not ours */
        bool exists = false;
        for (size_t k = 0; k < s.lst_cnt; k++)
            exists |= !strcmp(s.lsts[k].albconfig, ac);
        if (!exists) {
            diag(d, ALB_DIAG_WARNING, "Ingress", ns_of(ing), meta(ing, "name"),
                 "its IngressClass names AlbConfig %s, which has no listeners here: not served", ac);
            continue;
        }
        add_ingress(&s, ing, ac);
    }
    json_t *listeners = json_array(), *backends = json_array();
    for (size_t k = 0; k < s.lst_cnt; k++)
        if (s.lsts[k].doc)
            json_array_append_new(listeners, s.lsts[k].doc);
    /* backends sorted by name, for stable output */
    size_t n = json_object_size(s.backends), k = 0;
    json_t **sorted = calloc(n + 1, sizeof(json_t *));
    const char *key;
    json_t *b;
    json_object_foreach(s.backends, key, b)
    {
        if (sorted)
            sorted[k++] = b;
    }
    if (sorted) {
        qsort(sorted, k, sizeof(json_t *), cmp_by_name);
        for (size_t i = 0; i < k; i++)
            json_array_append(backends, sorted[i]);
    }
    free(sorted);
    json_decref(s.backends);
    free(s.lsts);
    free(classes.v);
    free(albconfigs.v);
    free(ingresses.v);
    json_decref(s.services);
    json_decref(s.slices);
    json_decref(s.endpoints);
    return json_pack("{s:i,s:o,s:o}", "version", 1, "listeners", listeners, "backends", backends);
}
