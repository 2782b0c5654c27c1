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

#include "config/config.h"
#include "config/regex.h"
#include "tls/tls.h"
#include "translate/certs.h"
#include "core/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ANN_ALB "alb.ingress.kubernetes.io/"
#define ANN_NGINX "nginx.ingress.kubernetes.io/"
#define DEFAULT_BACKEND_ORDER 1000 /* after every Ingress rule of any order */

/* ---- diagnostics ------------------------------------------------------------ */

static char *xdup(const char *s) { return strdup(s ? s : ""); }

const char *alb_diag_event_type(enum alb_diag_level level) { return level == ALB_DIAG_INFO ? "Normal" : "Warning"; }

const char *alb_diag_reason(enum alb_diag_level level)
{
    return level == ALB_DIAG_ERROR ? "FailedBuildModel" : level == ALB_DIAG_WARNING ? "Degraded" : "Info";
}

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


struct list {
    json_t **v; /* borrowed from the objects array */
    size_t cnt;
};

/* The objects of each kind the translator reads, found in one pass. */
struct kinds {
    struct list classes, albconfigs, ingresses; /* sorted by namespace/name (stable output) */
    struct list services, slices, endpoints, configmaps, secrets;
};

struct sort_key {
    const char *ns, *name;
    json_t *o;
};

static int cmp_keys(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    return c ? c : strcmp(x->name, y->name);
}

static void sort_list(struct list *l)
{
    struct sort_key *keys = calloc(l->cnt + 1, sizeof(*keys));
    if (!keys || l->cnt < 2) {
        free(keys);
        return;
    }
    for (size_t i = 0; i < l->cnt; i++)
        keys[i] = (struct sort_key){ns_of(l->v[i]), meta(l->v[i], "name"), l->v[i]};
    qsort(keys, l->cnt, sizeof(*keys), cmp_keys);
    for (size_t i = 0; i < l->cnt; i++)
        l->v[i] = keys[i].o;
    free(keys);
}

static void kinds_free(struct kinds *k)
{
    struct list *all[] = {&k->classes, &k->albconfigs, &k->ingresses, &k->services, &k->slices, &k->endpoints,
                          &k->configmaps, &k->secrets};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]->v);
}

/* Named objects of the kinds we read, sorted when <sorted>; false when out
 * of memory. */
static bool kinds_of(json_t *objects, struct kinds *k, bool sorted)
{
    static const char *const names[] = {"IngressClass", "AlbConfig", "Ingress", "Service", "EndpointSlice",
                                        "Endpoints", "ConfigMap", "Secret"};
    struct list *lists[] = {&k->classes, &k->albconfigs, &k->ingresses, &k->services, &k->slices, &k->endpoints,
                            &k->configmaps, &k->secrets};
    size_t n = json_array_size(objects);
    memset(k, 0, sizeof(*k));
    bool ok = true;
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        ok &= (lists[i]->v = calloc(n + 1, sizeof(json_t *))) != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *o = json_array_get(objects, i);
        const char *kind = str_at(o, "kind");
        if (!kind || !meta(o, "name"))
            continue;
        for (size_t t = 0; t < sizeof(names) / sizeof(names[0]); t++)
            if (!strcmp(kind, names[t])) {
                lists[t]->v[lists[t]->cnt++] = o;
                break;
            }
    }
    if (sorted) {
        sort_list(&k->classes);
        sort_list(&k->albconfigs);
        sort_list(&k->ingresses);
    }
    if (!ok)
        kinds_free(k);
    return ok;
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

/* ---- values of annotations and ConfigMap keys ------------------------------------------- */

/* The global options of the ConfigMap (ingress-nginx's keys), and what an
 * Ingress's annotations make of them. */
struct globals {
    bool ssl_redirect;       /* nginx ssl-redirect for hosts with TLS; ALB's default: off */
    bool force_ssl_redirect;
    int64_t body_size;       /* -1: the listener's */
    json_int_t connect_ms, read_ms; /* 0: the backend default */
    bool ssl_redirect_set;   /* the ConfigMap says; else Ingresses with nginx annotations redirect, as ingress-nginx */
    bool hsts, hsts_subdomains, hsts_preload;
    json_int_t hsts_max_age;
    char hsts_value[96];     /* what HTTPS listeners send; "" when off */
};

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true"))
        *out = true;
    else if (!strcasecmp(v, "false"))
        *out = false;
    else
        return -1;
    return 0;
}

/* nginx sizes: digits and an optional b, k, m or g (any case); 0: no limit. */
static int parse_size(const char *v, int64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)v[0]))
        return -1;
    unsigned long long n = strtoull(v, &end, 10);
    int shift = 0;
    if (*end) {
        char u = (char)tolower((unsigned char)*end);
        shift = u == 'b' ? 0 : u == 'k' ? 10 : u == 'm' ? 20 : u == 'g' ? 30 : -1;
        if (shift < 0 || end[1])
            return -1;
    }
    if (n > ((1ull << 40) >> shift))
        return -1; /* at most 1 TiB: what the data plane accepts, without overflow */
    *out = (int64_t)(n << shift);
    return 0;
}

/* Whole seconds, 1..<max>: the ranges the data plane accepts (a value it
 * would refuse must be refused here, or one Ingress fails the document). */
static int parse_seconds_max(const char *v, long max, json_int_t *ms)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!isdigit((unsigned char)v[0]) || *end || n < 1 || n > max)
        return -1;
    *ms = (json_int_t)n * 1000;
    return 0;
}

static int parse_seconds(const char *v, json_int_t *ms) { return parse_seconds_max(v, 86400, ms); }
static int parse_connect_seconds(const char *v, json_int_t *ms) { return parse_seconds_max(v, 3600, ms); }

/* nginx rewrite-target ("$1") into ALB's template form ("${1}"); any other
 * '$' is refused: nginx variables are not interpreted here. */
static bool nginx_target(const char *in, char *out, size_t cap)
{
    size_t w = 0;
    for (const char *p = in; *p; p++) {
        if (w + 5 >= cap)
            return false;
        if (*p == '$') {
            if (p[1] < '0' || p[1] > '9')
                return false;
            w += (size_t)snprintf(out + w, cap - w, "${%c}", p[1]);
            p++;
        } else {
            out[w++] = *p;
        }
    }
    out[w] = '\0';
    return w > 0 && out[0] == '/';
}

/* ---- AlbConfig listeners ------------------------------------------------------------ */

struct lst {
    const char *albconfig; /* borrowed */
    const char *protocol;  /* HTTP, HTTPS (served); QUIC */
    int port;
    json_int_t request_ms; /* requestTimeout; 0: the default */
    json_t *doc; /* the listener's document, one reference */
    size_t index;          /* in the AlbConfig's spec.listeners, for diagnostics */
    json_t *albconfig_certs; /* borrowed: HTTPS: the AlbConfig's certificates[] */
    const char *default_cert_id; /* borrowed: HTTPS: defaultCertificate.certificateId */
};

/* A backend an Ingress's path uses, as backend_key() found it. */
struct backend_use {
    const char *name, *field, *service, *port_name; /* in text; port_name NULL: by number */
    json_int_t port_number;
    const char *protocol; /* a literal: the backend's "protocol"; NULL: http */
    json_int_t connect_ms, read_ms;
    size_t position; /* the backend's, in the builder */
    char *text;      /* owned */
};

struct backend_uses {
    struct backend_use *v; /* owned */
    size_t cnt, cap;
};

static void backend_uses_clear(struct backend_uses *u)
{
    for (size_t i = 0; i < u->cnt; i++)
        free(u->v[i].text);
    free(u->v);
    memset(u, 0, sizeof(*u));
}

static void backend_uses_add(struct backend_uses *u, const char *name, const char *field, const char *service,
                             const char *port_name, json_int_t port_number, json_int_t connect_ms, json_int_t read_ms,
                             const char *protocol, size_t position)
{
    if (u->cnt == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 4;
        struct backend_use *v = realloc(u->v, cap * sizeof(*v));
        if (!v)
            return;
        u->v = v;
        u->cap = cap;
    }
    size_t ln = strlen(name) + 1, lf = strlen(field) + 1, ls = strlen(service) + 1;
    size_t lp = port_name ? strlen(port_name) + 1 : 0;
    char *t = malloc(ln + lf + ls + lp);
    if (!t)
        return;
    struct backend_use *x = &u->v[u->cnt++];
    *x = (struct backend_use){memcpy(t, name, ln), memcpy(t + ln, field, lf), memcpy(t + ln + lf, service, ls),
                              port_name ? memcpy(t + ln + lf + ls, port_name, lp) : NULL, port_number, protocol,
                              connect_ms, read_ms, position, t};
}

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
    json_t *sources;   /* backend name -> its Service reference */
    json_t *resolved;  /* DNS name -> addresses (borrowed); NULL: names are not resolved */
    json_t *external_names; /* the DNS names of ExternalName Services used (a set); NULL: not wanted */
    json_t *said;      /* certificate diagnostics given in this call: each once, not once per listener */
    const struct list *secrets; /* every Secret */
    struct backend_uses *uses; /* the backends the Ingress being translated uses (backend_key()) */
    struct alb_config_builder *builder;
    uint8_t *ensured;      /* by backend position: ensure_backend() did it in this call */
    size_t ensured_cap;
    struct globals *g;
};

/* Whether <t> is 1..max visible ASCII characters (a header value as is). */
static bool printable(const char *t, size_t max)
{
    size_t n = 0;
    for (; t[n]; n++)
        if ((unsigned char)t[n] <= 0x20 || (unsigned char)t[n] >= 0x7f)
            return false;
    return n > 0 && n <= max;
}

/* XForwardedForClientCert<What>Enabled (and <What>Alias) into the
 * listener's forwarding: the header name the client certificate's <What>
 * goes under (ALB's, unless the alias names another). */
static void add_client_cert_header(struct state *s, const char *ac, size_t i, json_t *xff, const char *key, json_t *fw)
{
    static const struct {
        const char *what, *field, *header;
    } parts[] = {{"SubjectDN", "client_cert_subject_dn", "X-Forwarded-Clientcert-subjectdn"},
                 {"IssuerDN", "client_cert_issuer_dn", "X-Forwarded-Clientcert-issuerdn"},
                 {"Fingerprint", "client_cert_fingerprint", "X-Forwarded-Clientcert-fingerprint"},
                 {"ClientVerify", "client_cert_verify", "X-Forwarded-Clientcert-clientverify"}};
    const char *rest = key + 23; /* after XForwardedForClientCert */
    for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
        size_t n = strlen(parts[k].what);
        if (strncmp(rest, parts[k].what, n))
            continue;
        if (!strcmp(rest + n, "Alias"))
            return; /* read with its Enabled key */
        if (strcmp(rest + n, "Enabled"))
            break;
        json_t *on = json_object_get(xff, key);
        if (!json_is_boolean(on)) {
            diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", ac,
                 "spec.listeners[%zu].xForwardedForConfig.%s: expected true or false, ignored", i, key);
            return;
        }
        char alias_key[96];
        snprintf(alias_key, sizeof(alias_key), "XForwardedForClientCert%sAlias", parts[k].what);
        const char *alias = str_at(xff, alias_key);
        bool token = alias && alias[0] && strlen(alias) <= 64;
        for (const char *p = alias; token && *p; p++)
            token = isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p);
        if (alias && !token)
            diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", ac, "spec.listeners[%zu].xForwardedForConfig.%s: not a "
                 "header name, using %s", i, alias_key, parts[k].header);
        if (json_is_true(on))
            json_object_set_new(fw, parts[k].field, json_string(token ? alias : parts[k].header));
        return;
    }
    diag(s->d, ALB_DIAG_INFO, "AlbConfig", "", ac, "spec.listeners[%zu].xForwardedForConfig.%s: not supported yet, ignored",
         i, key);
}

/* ALB's xForwardedForConfig into the listener's "forwarding". A key left
 * out keeps ALB's default for what backends see (DESIGN.md); a value of the
 * wrong type is ignored with a warning. */
static void add_forwarding(struct state *s, const char *ac, size_t i, json_t *xff, json_t *listener)
{
    static const struct {
        const char *key, *field;
    } flags[] = {{"XForwardedForProtoEnabled", "x_forwarded_proto"},
                 {"XForwardedForSLBPortEnabled", "x_forwarded_port"},
                 {"XForwardedForHostEnabled", "x_forwarded_host"},
                 {"XForwardedForClientSrcPortEnabled", "x_forwarded_client_srcport"}};
    json_t *fw = json_object();
    if (!json_is_object(xff)) {
        diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", ac, "spec.listeners[%zu].xForwardedForConfig: expected an object, "
             "ignored", i);
        json_decref(fw);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(xff, key, v)
    {
        bool known = false;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]) && !known; k++)
            if (!strcmp(key, flags[k].key)) {
                known = true;
                if (json_is_boolean(v))
                    json_object_set(fw, flags[k].field, v);
                else
                    diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", ac,
                         "spec.listeners[%zu].xForwardedForConfig.%s: expected true or false, ignored", i, key);
            }
        if (known)
            continue;
        if (!strcmp(key, "XForwardedForEnabled") || !strcmp(key, "XForwardedForSLBIdEnabled")) {
            if (!json_is_boolean(v))
                diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", ac,
                     "spec.listeners[%zu].xForwardedForConfig.%s: expected true or false, ignored", i, key);
            else if (!strcmp(key, "XForwardedForSLBIdEnabled") && json_is_true(v) && printable(ac, 253))
                json_object_set_new(fw, "slb_id", json_string(ac)); /* the instance is the AlbConfig */
            else if (!strcmp(key, "XForwardedForEnabled") && json_is_false(v))
                json_object_set_new(fw, "x_forwarded_for", json_string("keep"));
        } else if (!strcmp(key, "XForwardedForProcessingMode")) {
            const char *mode = json_string_value(v);
            if (mode && (!strcasecmp(mode, "append") || !strcasecmp(mode, "remove"))) {
                if (!json_object_get(fw, "x_forwarded_for"))
                    json_object_set_new(fw, "x_forwarded_for", json_string(strcasecmp(mode, "append") ? "remove" : "append"));
            } else {
                diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", ac,
                     "spec.listeners[%zu].xForwardedForConfig.%s: expected append or remove, ignored", i, key);
            }
        } else if (!strncmp(key, "XForwardedForClientCert", 23)) {
            add_client_cert_header(s, ac, i, xff, key, fw);
        } else {
            diag(s->d, ALB_DIAG_INFO, "AlbConfig", "", ac,
                 "spec.listeners[%zu].xForwardedForConfig.%s: not supported yet, ignored", i, key);
        }
    }
    /* XForwardedForEnabled false wins over a processing mode */
    if (json_is_false(json_object_get(xff, "XForwardedForEnabled")))
        json_object_set_new(fw, "x_forwarded_for", json_string("keep"));
    if (json_object_size(fw))
        json_object_set_new(listener, "forwarding", fw);
    else
        json_decref(fw);
}

/* The Secret a CertificateId names: "ns/name", or a name in ALB's namespace. */
static void certificate_id(const struct state *s, const char *cid, char *id, size_t len)
{
    if (strchr(cid, '/'))
        snprintf(id, len, "%s", cid);
    else
        snprintf(id, len, "%s/%s", s->o->alb_namespace ? s->o->alb_namespace : "default", cid);
}

/* The CA certificates in key ca.crt of Secret ns/name, checked; NULL with
 * *why. The caller frees them. */
static char *ca_of_secret(const struct state *s, const char *ns, const char *name, char *why, size_t why_len)
{
    for (size_t i = 0; i < s->secrets->cnt; i++) {
        json_t *o = s->secrets->v[i];
        if (strcmp(ns_of(o), ns) || strcmp(meta(o, "name"), name))
            continue;
        const char *problem = NULL;
        char *pem = cert_secret_value(o, "ca.crt", &problem);
        if (!pem) {
            snprintf(why, why_len, "Secret %.200s/%.200s: %.200s", ns, name, problem);
            return NULL;
        }
        char err[300];
        if (alb_tls_check_ca(pem, err, sizeof(err)) < 0) {
            snprintf(why, why_len, "Secret %.200s/%.200s: ca.crt: %.200s", ns, name, err);
            free(pem);
            return NULL;
        }
        return pem;
    }
    snprintf(why, why_len, "Secret %.200s/%.200s not found", ns, name);
    return NULL;
}

/* An HTTPS listener's "tls", but for its certificates, which come once the
 * Ingresses on it are known (add_certificates()). */
/* caEnabled: every CA of caCertificates[] (CertificateIds naming Secrets
 * with ca.crt, in ALB's namespace) must verify client certificates. False
 * after an error diagnostic. */
static bool add_listener_ca(struct state *s, const char *ac, size_t i, json_t *l, json_t *tls)
{
    json_t *cas = arr_at(l, "caCertificates");
    char *all = NULL;
    size_t len = 0;
    bool ok = json_array_size(cas) > 0;
    for (size_t j = 0; ok && j < json_array_size(cas); j++) {
        const char *cid = str_at(json_array_get(cas, j), "CertificateId");
        char id[600], why[700];
        if (!cid || !cid[0]) {
            snprintf(why, sizeof(why), "CertificateId required");
            ok = false;
        } else {
            certificate_id(s, cid, id, sizeof(id));
            char *slash = strchr(id, '/');
            *slash = '\0';
            char *pem = ca_of_secret(s, id, slash + 1, why, sizeof(why));
            char *grown = pem ? realloc(all, len + strlen(pem) + 2) : NULL;
            ok = grown != NULL;
            if (ok) {
                all = grown;
                len += (size_t)sprintf(all + len, "%s\n", pem);
            }
            free(pem);
        }
        if (!ok)
            diag(s->d, ALB_DIAG_ERROR, "AlbConfig", "", ac, "spec.listeners[%zu].caCertificates[%zu]: %s: the listener "
                 "is not served", i, j, why);
    }
    if (json_array_size(cas) == 0)
        diag(s->d, ALB_DIAG_ERROR, "AlbConfig", "", ac, "spec.listeners[%zu].caEnabled: true without caCertificates: "
             "the listener is not served", i);
    if (ok)
        json_object_set_new(tls, "client_auth", json_pack("{s:s,s:s}", "verify", "on", "ca_pem", all));
    free(all);
    return ok;
}

static void add_tls(struct state *s, const char *ac, size_t i, json_t *l, struct lst *L)
{
    json_t *tls = json_object();
    const char *policy = str_at(l, "securityPolicyId");
    bool known = false;
    for (size_t k = 0; policy && k < 5; k++)
        known |= !strcmp(policy, alb_tls_policy_names[k]);
    if (policy && !known)
        diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", ac, "spec.listeners[%zu].securityPolicyId: \"%.64s\" is not one of "
             "ALB's system policies (custom policies are cloud objects): using tls_cipher_policy_1_0", i, policy);
    json_object_set_new(tls, "policy", json_string(known ? policy : alb_tls_policy_names[0]));
    json_t *h2 = json_object_get(l, "http2Enabled");
    if (h2 && !json_is_boolean(h2))
        diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", ac, "spec.listeners[%zu].http2Enabled: expected true or false, "
             "using true", i);
    json_object_set_new(tls, "http2", json_boolean(!json_is_false(h2)));
    if (s->g->hsts_value[0])
        json_object_set_new(tls, "hsts", json_string(s->g->hsts_value));
    json_object_set_new(L->doc, "tls", tls);
    L->albconfig_certs = arr_at(l, "certificates");
    L->default_cert_id = str_at(obj_at(l, "defaultCertificate"), "certificateId");
    if (json_is_true(json_object_get(l, "caEnabled")) && !add_listener_ca(s, ac, i, l, tls)) {
        json_decref(L->doc); /* refusing to serve is safer than serving without the client check */
        L->doc = NULL;
    }
}

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
        *L = (struct lst){name, !strcmp(proto, "HTTP") ? "HTTP" : !strcmp(proto, "HTTPS") ? "HTTPS" : "QUIC", p, 0, NULL,
                          i, NULL, NULL};
        if (!strcmp(proto, "QUIC")) {
            diag(s->d, ALB_DIAG_INFO, "AlbConfig", "", name,
                 "spec.listeners[%zu]: QUIC is accepted and not served yet (the QUIC issue)", i);
            continue;
        }
        bool https = !strcmp(proto, "HTTPS");
        char lname[300];
        snprintf(lname, sizeof(lname), "%s-%s-%d", name, https ? "https" : "http", p);
        L->doc = json_pack("{s:s,s:s,s:i,s:s,s:[]}", "name", lname, "address",
                           s->o->listen_address ? s->o->listen_address : "0.0.0.0", "port", p, "protocol", L->protocol,
                           "rules");
        if (https)
            add_tls(s, name, i, l, L);
        json_t *idle = json_object_get(l, "idleTimeout");
        if (json_is_integer(idle) && json_integer_value(idle) >= 1 && json_integer_value(idle) <= 86400)
            json_object_set_new(L->doc, "timeouts", json_pack("{s:I}", "idle_ms", json_integer_value(idle) * 1000));
        static const char *const read_fields[] = {"port",           "protocol",        "idleTimeout",
                                                  "requestTimeout", "aclConfig",       "description",
                                                  "xForwardedForConfig", "gzipEnabled", "securityPolicyId",
                                                  "http2Enabled",   "certificates",    "defaultCertificate",
                                                  "caEnabled",      "caCertificates"};
        const char *lkey;
        json_t *lval;
        json_object_foreach(l, lkey, lval)
        {
            bool known = false;
            for (size_t k = 0; k < sizeof(read_fields) / sizeof(read_fields[0]); k++)
                known |= !strcmp(lkey, read_fields[k]);
            if (!known)
                diag(s->d, ALB_DIAG_INFO, "AlbConfig", "", name, "spec.listeners[%zu].%s: not supported yet, ignored", i,
                     lkey);
        }
        /* gzipEnabled: on unless false, as in ALB */
        json_t *gz = json_object_get(l, "gzipEnabled");
        if (gz && !json_is_boolean(gz))
            diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", name,
                 "spec.listeners[%zu].gzipEnabled: expected true or false, using true", i);
        json_object_set_new(L->doc, "gzip", json_boolean(!json_is_false(gz)));
        json_t *xff = json_object_get(l, "xForwardedForConfig");
        if (xff)
            add_forwarding(s, name, i, xff, L->doc);
        json_t *rt = json_object_get(l, "requestTimeout");
        if (rt && (!json_is_integer(rt) || json_integer_value(rt) < 1 || json_integer_value(rt) > 180))
            diag(s->d, ALB_DIAG_WARNING, "AlbConfig", "", name, "spec.listeners[%zu].requestTimeout: expected 1-180 s, "
                 "using 60", i);
        else if (rt)
            L->request_ms = json_integer_value(rt) * 1000;
        json_t *acl = obj_at(l, "aclConfig");
        const char *acl_type = str_at(acl, "aclType");
        if (acl && acl_type && acl_type[0]) {
            json_t *entries = arr_at(acl, "aclEntries");
            bool entries_ok = json_array_size(entries) > 0;
            for (size_t k = 0; entries_ok && k < json_array_size(entries); k++) {
                struct alb_cidr cidr;
                json_t *e = json_array_get(entries, k);
                entries_ok = json_is_string(e) && alb_cidr_parse(json_string_value(e), &cidr);
            }
            if ((strcmp(acl_type, "White") && strcmp(acl_type, "Black")) || !entries_ok) {
                /* refusing to serve is safer than serving without the ACL */
                diag(s->d, ALB_DIAG_ERROR, "AlbConfig", "", name,
                     "spec.listeners[%zu].aclConfig: expected aclType White or Black and aclEntries of CIDRs; the "
                     "listener is not served", i);
                json_decref(L->doc);
                L->doc = NULL;
                continue;
            }
            json_object_set_new(L->doc, "acl", json_pack("{s:s,s:O}", "type", strcmp(acl_type, "White") ? "deny" : "allow",
                                                         "cidrs", entries));
            if (json_object_get(acl, "aclIds"))
                diag(s->d, ALB_DIAG_INFO, "AlbConfig", "", name,
                     "spec.listeners[%zu].aclConfig.aclIds: cloud ACL ids are not resolved here; aclEntries apply", i);
        }
    }
}

static void read_configmap(struct state *s, const struct list *configmaps, const char *ref)
{
    struct globals *g = s->g;
    if (!ref)
        return;
    char ns[256], name[256];
    const char *slash = strchr(ref, '/');
    if (!slash || (size_t)(slash - ref) >= sizeof(ns)) {
        return;
    }
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - ref), ref);
    snprintf(name, sizeof(name), "%s", slash + 1);
    for (size_t i = 0; i < configmaps->cnt; i++) {
        json_t *o = configmaps->v[i];
        if (strcmp(meta(o, "name"), name) || strcmp(ns_of(o), ns))
            continue;
        const char *key;
        json_t *v;
        json_object_foreach(obj_at(o, "data"), key, v)
        {
            const char *val = json_string_value(v);
            int bad = !val;
            if (bad)
                ;
            else if (!strcmp(key, "ssl-redirect"))
                bad = parse_bool(val, &g->ssl_redirect), g->ssl_redirect_set = !bad;
            else if (!strcmp(key, "hsts"))
                bad = parse_bool(val, &g->hsts);
            else if (!strcmp(key, "hsts-include-subdomains"))
                bad = parse_bool(val, &g->hsts_subdomains);
            else if (!strcmp(key, "hsts-preload"))
                bad = parse_bool(val, &g->hsts_preload);
            else if (!strcmp(key, "hsts-max-age"))
                bad = parse_seconds_max(val, 1000000000L, &g->hsts_max_age);
            else if (!strcmp(key, "force-ssl-redirect"))
                bad = parse_bool(val, &g->force_ssl_redirect);
            else if (!strcmp(key, "proxy-body-size"))
                bad = parse_size(val, &g->body_size);
            else if (!strcmp(key, "proxy-connect-timeout"))
                bad = parse_connect_seconds(val, &g->connect_ms);
            else if (!strcmp(key, "proxy-read-timeout") || !strcmp(key, "proxy-send-timeout")) {
                json_int_t ms = 0;
                bad = parse_seconds(val, &ms);
                if (!bad && ms > g->read_ms)
                    g->read_ms = ms; /* one inactivity timeout: the larger */
            } else {
                diag(s->d, ALB_DIAG_INFO, "ConfigMap", ns, name, "data.%s: not supported yet, ignored", key);
                continue;
            }
            if (bad)
                diag(s->d, ALB_DIAG_WARNING, "ConfigMap", ns, name, "data.%s: invalid value, ignored", key);
        }
    }
}

/* ---- backends ------------------------------------------------------------------- */

static json_t *find_named(json_t *index, const char *ns, const char *name)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    return json_object_get(index, key);
}

/* Indexes <objects> by "ns/name" (or, for slices, "ns/service"). */
static json_t *index_of(const struct list *objects, bool by_service)
{
    json_t *idx = json_object();
    for (size_t i = 0; idx && i < objects->cnt; i++) {
        json_t *o = objects->v[i];
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

/* Endpoint addresses are numeric IPs; anything else is skipped (names are
 * never resolved on the data path). */
static bool add_endpoint(json_t *eps, const char *addr, json_int_t port, bool ready)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!alb_addr_parse(addr, (uint16_t)port, &ss, &len) || port < 1 || port > 65535)
        return false;
    for (size_t i = 0; i < json_array_size(eps); i++) {
        json_t *e = json_array_get(eps, i);
        if (!strcmp(str_at(e, "address"), addr) && json_integer_value(json_object_get(e, "port")) == port)
            return true; /* listed by two slices */
    }
    json_array_append_new(eps, json_pack("{s:s,s:I,s:b}", "address", addr, "port", port, "ready", ready));
    return true;
}

enum service_problem {
    SERVICE_OK,
    SERVICE_MISSING,
    SERVICE_NO_PORT,
    SERVICE_EXTERNAL_INVALID,     /* externalName is not a DNS name or an IP address */
    SERVICE_EXTERNAL_LOOPBACK,    /* localhost or a loopback address: refused, as ingress-nginx does */
    SERVICE_EXTERNAL_PENDING,     /* not looked up yet */
    SERVICE_EXTERNAL_UNRESOLVED,  /* the name does not resolve */
    SERVICE_EXTERNAL_NOT_SERVING, /* alb translate / check: names are resolved only when serving */
};

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a))
        return a->s6_addr[12] == 127;
    return IN6_IS_ADDR_LOOPBACK(a);
}

/* An ExternalName Service's endpoints: its externalName (an IP address, or
 * a DNS name as the resolver answered it) on the Service port's target port
 * (a number), else its port, else the port the Ingress names. */
static enum service_problem external_endpoints(struct state *s, json_t *service, json_t *sp, json_t *pnum, json_t *eps)
{
    const char *host = str_at(obj_at(service, "spec"), "externalName");
    json_t *target = json_object_get(sp, "targetPort");
    json_int_t port = !sp ? (json_is_integer(pnum) ? json_integer_value(pnum) : -1)
                      : json_is_integer(target) && json_integer_value(target) > 0 ? json_integer_value(target)
                                                                                  : json_integer_value(json_object_get(sp, "port"));
    if (port < 1 || port > 65535)
        return SERVICE_NO_PORT;
    struct sockaddr_storage ss;
    socklen_t len;
    if (host && alb_addr_parse(host, (uint16_t)port, &ss, &len)) {
        if (is_loopback(&ss))
            return SERVICE_EXTERNAL_LOOPBACK;
        add_endpoint(eps, host, port, true);
        return SERVICE_OK;
    }
    if (!host || host[0] == '*' || !valid_host(host))
        return SERVICE_EXTERNAL_INVALID;
    size_t n = strlen(host);
    if (!strcasecmp(host, "localhost") || (n > 10 && !strcasecmp(host + n - 10, ".localhost")))
        return SERVICE_EXTERNAL_LOOPBACK;
    if (s->external_names)
        json_object_set_new(s->external_names, host, json_true());
    if (!s->resolved)
        return SERVICE_EXTERNAL_NOT_SERVING;
    json_t *addrs = json_object_get(s->resolved, host);
    if (!addrs)
        return SERVICE_EXTERNAL_PENDING;
    for (size_t i = 0; i < json_array_size(addrs); i++)
        add_endpoint(eps, json_string_value(json_array_get(addrs, i)), port, true);
    return json_array_size(eps) ? SERVICE_OK : SERVICE_EXTERNAL_UNRESOLVED;
}

/* Appends to <eps> the endpoints behind port <port_ref> ({"number": N} or
 * {"name": S}) of Service ns/svc, from its EndpointSlices, else its
 * Endpoints. Addresses that are not IPs are diagnosed on their object. */
static enum service_problem service_endpoints(struct state *s, const char *ns, const char *svc, json_t *port_ref,
                                              json_t *eps)
{
    json_t *pnum = json_object_get(port_ref, "number");
    const char *pname = str_at(port_ref, "name");
    json_t *service = find_named(s->services, ns, svc);
    if (!service)
        return SERVICE_MISSING;
    /* the Service port the Ingress means */
    json_t *sp = NULL;
    json_t *ports = arr_at(obj_at(service, "spec"), "ports");
    for (size_t i = 0; i < json_array_size(ports) && !sp; i++) {
        json_t *p = json_array_get(ports, i);
        if ((json_is_integer(pnum) && json_integer_value(json_object_get(p, "port")) == json_integer_value(pnum)) ||
            (pname && str_at(p, "name") && !strcmp(str_at(p, "name"), pname)))
            sp = p;
    }
    const char *stype = str_at(obj_at(service, "spec"), "type");
    if (stype && !strcmp(stype, "ExternalName"))
        return external_endpoints(s, service, sp, pnum, eps);
    if (!sp)
        return SERVICE_NO_PORT;
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
            for (size_t a = 0; a < json_array_size(addrs); a++) {
                json_t *av = json_array_get(addrs, a);
                if (!json_is_string(av) || !add_endpoint(eps, json_string_value(av), port, ok))
                    diag(s->d, ALB_DIAG_WARNING, "EndpointSlice", ns_of(sl), meta(sl, "name"),
                         "endpoints[%zu].addresses[%zu]: not an IP address, skipped", k, a);
            }
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
                    if (!str_at(json_array_get(addrs, a), "ip") ||
                        !add_endpoint(eps, str_at(json_array_get(addrs, a), "ip"), port, r == 0))
                        diag(s->d, ALB_DIAG_WARNING, "Endpoints", ns, svc, "subsets[%zu].%s[%zu].ip: not an IP address, skipped",
                             i, kinds[r], a);
            }
        }
    }
    return SERVICE_OK;
}

/* The name of the backend for (ns, service, port by number or name) with
 * an Ingress's timeouts, into key[]; the use is recorded in s->uses, for
 * ensure_backend(). False (diagnosed) when the port is invalid. */
static bool backend_key(struct state *s, json_t *ing, const char *field, const char *ns, const char *svc,
                        json_t *port_ref, json_int_t connect_ms, json_int_t read_ms, const char *protocol, char *key,
                        size_t len)
{
    json_t *pnum = json_object_get(port_ref, "number");
    const char *pname = str_at(port_ref, "name");
    if (json_is_integer(pnum))
        snprintf(key, len, "%s/%s:%lld", ns, svc, (long long)json_integer_value(pnum));
    else if (pname)
        snprintf(key, len, "%s/%s:%s", ns, svc, pname);
    else {
        diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, meta(ing, "name"), "%s.port: a number or a name is required", field);
        return false;
    }
    /* Ingresses may want other timeouts for the same Service: each set of
     * timeouts is its own backend (same endpoints, same upstream pools). */
    if (connect_ms) {
        size_t n = strlen(key);
        snprintf(key + n, len - n, "~connect=%llds", (long long)(connect_ms / 1000));
    }
    if (read_ms) {
        size_t n = strlen(key);
        snprintf(key + n, len - n, "%sread=%llds", connect_ms ? "," : "~", (long long)(read_ms / 1000));
    }
    if (protocol) { /* and the protocol: its own backend and pools */
        size_t n = strlen(key);
        snprintf(key + n, len - n, "%s%s", connect_ms || read_ms ? "," : "~", protocol);
    }
    backend_uses_add(s->uses, key, field, svc, json_is_integer(pnum) ? NULL : pname,
                     json_is_integer(pnum) ? json_integer_value(pnum) : 0, connect_ms, read_ms, protocol,
                     alb_config_builder_position(s->builder, key));
    return true;
}

/* Creates, on first use, the backend an Ingress's path uses (<use>, as
 * backend_key() recorded it), with its endpoints as the Service says now,
 * and keeps where they come from in s->sources. */
static void ensure_backend(struct state *s, const char *ns, const char *ing_name, const struct backend_use *use)
{
    if (use->position >= s->ensured_cap) {
        size_t cap = s->ensured_cap ? s->ensured_cap : 1024;
        while (cap <= use->position)
            cap *= 2;
        uint8_t *e = realloc(s->ensured, cap);
        if (!e)
            return;
        memset(e + s->ensured_cap, 0, cap - s->ensured_cap);
        s->ensured = e;
        s->ensured_cap = cap;
    }
    if (s->ensured[use->position])
        return;
    s->ensured[use->position] = 1;
    const char *key = use->name, *field = use->field, *svc = use->service;
    json_int_t connect_ms = use->connect_ms, read_ms = use->read_ms;
    json_t *port_ref = use->port_name ? json_pack("{s:s}", "name", use->port_name)
                                      : json_pack("{s:I}", "number", use->port_number);
    json_t *eps = json_array();
    json_t *b = json_pack("{s:s,s:o}", "name", key, "endpoints", eps);
    if (use->protocol)
        json_object_set_new(b, "protocol", json_string(use->protocol));
    if (connect_ms || read_ms) {
        json_t *t = json_object();
        if (connect_ms)
            json_object_set_new(t, "connect_ms", json_integer(connect_ms));
        if (read_ms)
            json_object_set_new(t, "response_ms", json_integer(read_ms));
        json_object_set_new(b, "timeouts", t);
    }
    json_object_set_new(s->backends, key, b);
    json_object_set_new(s->sources, key, json_pack("{s:s,s:s,s:O}", "namespace", ns, "service", svc, "port", port_ref));
    enum service_problem problem = service_endpoints(s, ns, svc, port_ref, eps);
    switch (problem) {
    case SERVICE_MISSING:
        diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, ing_name,
             "%s.name: Service %s/%s not found: its requests get 503 until it exists", field, ns, svc);
        break;
    case SERVICE_EXTERNAL_INVALID:
    case SERVICE_EXTERNAL_LOOPBACK:
    case SERVICE_EXTERNAL_PENDING:
    case SERVICE_EXTERNAL_UNRESOLVED:
    case SERVICE_EXTERNAL_NOT_SERVING: {
        static const char *const why[] = {
            [SERVICE_EXTERNAL_INVALID] = "is not a DNS name or an IP address",
            [SERVICE_EXTERNAL_LOOPBACK] = "is a loopback address, refused as ingress-nginx does",
            [SERVICE_EXTERNAL_PENDING] = "is being resolved",
            [SERVICE_EXTERNAL_UNRESOLVED] = "does not resolve",
            [SERVICE_EXTERNAL_NOT_SERVING] = "is resolved by DNS only when serving",
        };
        json_t *service = find_named(s->services, ns, svc);
        const char *host = str_at(obj_at(service, "spec"), "externalName");
        diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, ing_name, "%s.name: Service %s/%s is an ExternalName whose name "
             "\"%.253s\" %s: 503 until it has an address", field, ns, svc, host ? host : "", why[problem]);
        break;
    }
    case SERVICE_NO_PORT:
        diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, ing_name, "%s.port: Service %s/%s has no such port: 503", field, ns,
             svc);
        break;
    case SERVICE_OK:
        break;
    }
    json_decref(port_ref);
}

/* ---- Ingresses ---------------------------------------------------------------------- */

/* An IngressClass as Ingresses see it. */
struct class_info {
    const char *name;      /* borrowed */
    bool is_default;
    const char *albconfig; /* borrowed; NULL: another controller's class, or invalid (diagnosed) */
};

static struct class_info *read_classes(struct state *s, const struct list *classes)
{
    struct class_info *v = calloc(classes->cnt + 1, sizeof(*v));
    for (size_t i = 0; v && i < classes->cnt; i++) {
        json_t *c = classes->v[i];
        const char *def = annotation(c, "ingressclass.kubernetes.io/is-default-class");
        v[i] = (struct class_info){meta(c, "name"), def && !strcmp(def, "true"), NULL};
        const char *ctrl = str_at(obj_at(c, "spec"), "controller");
        if (!ctrl || strcmp(ctrl, s->o->controller))
            continue; /* another controller's class */
        json_t *params = obj_at(obj_at(c, "spec"), "parameters");
        const char *kind = str_at(params, "kind"), *group = str_at(params, "apiGroup"), *name = str_at(params, "name");
        if (!params || !kind || strcmp(kind, "AlbConfig") || !group || strcmp(group, "alibabacloud.com") || !name)
            diag(s->d, ALB_DIAG_ERROR, "IngressClass", "", v[i].name,
                 "spec.parameters: expected apiGroup alibabacloud.com, kind AlbConfig and a name");
        else
            v[i].albconfig = name;
    }
    return v;
}

/* The AlbConfig that serves <ing>, or NULL when it is not ours. */
static const char *albconfig_of(json_t *ing, const struct class_info *classes, size_t cnt)
{
    const char *cls = str_at(obj_at(ing, "spec"), "ingressClassName");
    if (!cls || !cls[0])
        cls = annotation(ing, "kubernetes.io/ingress.class");
    if (cls && !cls[0])
        cls = NULL; /* an empty class is no class: the default class adopts it */
    const struct class_info *ic = NULL;
    for (size_t i = 0; i < cnt; i++)
        if (cls ? !strcmp(classes[i].name, cls) : classes[i].is_default)
            ic = &classes[i];
    return ic ? ic->albconfig : NULL;
}

/* Every ${...} names a variable the data plane knows (docs/config.md). */
static bool valid_template(const char *t)
{
    for (const char *p = strstr(t, "${"); p; p = strstr(p + 2, "${")) {
        const char *e = strchr(p, '}');
        size_t n = e ? (size_t)(e - p - 2) : 0;
        bool ok = e && ((n == 1 && isdigit((unsigned char)p[2])) || (n == 4 && !strncmp(p + 2, "host", 4)) ||
                        (n == 4 && !strncmp(p + 2, "path", 4)) || (n == 4 && !strncmp(p + 2, "port", 4)) ||
                        (n == 5 && !strncmp(p + 2, "query", 5)));
        if (!ok)
            return false;
    }
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static bool host_has_tls(json_t *ing, const char *host)
{
    json_t *tls = arr_at(obj_at(ing, "spec"), "tls");
    for (size_t i = 0; host && i < json_array_size(tls); i++) {
        json_t *hosts = arr_at(json_array_get(tls, i), "hosts");
        for (size_t k = 0; k < json_array_size(hosts); k++)
            if (json_is_string(json_array_get(hosts, k)) && !strcasecmp(json_string_value(json_array_get(hosts, k)), host))
                return true;
    }
    return false;
}

/* What one Ingress's annotations ask for. */
struct ing_opts {
    struct globals g;    /* ConfigMap defaults, overridden by nginx annotations */
    bool alb_regex;      /* ALB: Prefix paths are (case-sensitive) regexes */
    bool nginx_regex;    /* nginx: Prefix and ImplementationSpecific paths are case-insensitive regexes */
    bool alb_redirect;   /* ALB ssl-redirect */
    int https_port;      /* where ALB's redirect goes */
    char rewrite_path[1024]; /* template; "" when no rewrite */
    char rewrite_query[1024];
    bool has_rewrite_query;
    const char *backend_protocol; /* backend-protocol as a backend "protocol" (a literal); NULL: http */
};

static bool has_nginx_annotations(json_t *ing)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj_at(obj_at(ing, "metadata"), "annotations"), key, v)
    {
        if (!strncmp(key, ANN_NGINX, strlen(ANN_NGINX)))
            return true;
    }
    return false;
}

/* Reads the Ingress's annotations into <io>. Returns false after a
 * diagnostic when one is invalid (the Ingress is then left out). */
static bool read_annotations(struct state *s, json_t *ing, const char *albconfig, struct ing_opts *io)
{
    const char *ns = ns_of(ing), *name = meta(ing, "name"), *v;
    char target[1024];
    memset(io, 0, sizeof(*io));
    io->g = *s->g;
    io->https_port = 0;
    for (size_t k = 0; k < s->lst_cnt; k++)
        if (!io->https_port && !strcmp(s->lsts[k].albconfig, albconfig) && !strcmp(s->lsts[k].protocol, "HTTPS"))
            io->https_port = s->lsts[k].port;
    struct {
        const char *key;
        bool *flag;
    } bools[] = {{ANN_ALB "use-regex", &io->alb_regex},
                 {ANN_ALB "ssl-redirect", &io->alb_redirect},
                 {ANN_NGINX "use-regex", &io->nginx_regex},
                 {ANN_NGINX "ssl-redirect", &io->g.ssl_redirect},
                 {ANN_NGINX "force-ssl-redirect", &io->g.force_ssl_redirect}};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        if ((v = annotation(ing, bools[i].key)) && parse_bool(v, bools[i].flag) < 0) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "metadata.annotations[%s]: expected true or false, got \"%.64s\"",
                 bools[i].key, v);
            return false;
        }
    }
    /* ingress-nginx redirects hosts with TLS by default; ALB Ingress does
     * not: an Ingress written for nginx (it has nginx annotations) gets
     * nginx's default unless the ConfigMap says otherwise */
    if (!s->g->ssl_redirect_set && !annotation(ing, ANN_NGINX "ssl-redirect") && has_nginx_annotations(ing))
        io->g.ssl_redirect = true;
    if ((v = annotation(ing, ANN_ALB "rewrite-target"))) {
        bool nginx_style = false;
        for (const char *p = strchr(v, '$'); p; p = strchr(p + 1, '$'))
            nginx_style |= isdigit((unsigned char)p[1]);
        if (nginx_style || v[0] != '/' || !valid_template(v) || strlen(v) >= sizeof(target)) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
                 "metadata.annotations[" ANN_ALB "rewrite-target]: expected a path starting with '/' with ${1}-style "
                 "captures%s", nginx_style ? " (ALB writes ${1} where nginx writes $1)" : "");
            return false;
        }
        snprintf(target, sizeof(target), "%s", v);
        io->alb_regex = true; /* as ALB Ingress: a rewrite makes Prefix paths regexes */
    } else if ((v = annotation(ing, ANN_NGINX "rewrite-target"))) {
        if (!nginx_target(v, target, sizeof(target))) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
                 "metadata.annotations[" ANN_NGINX "rewrite-target]: expected a path starting with '/' with $1-style "
                 "captures; nginx variables are not supported");
            return false;
        }
        io->nginx_regex = true; /* as ingress-nginx: rewrite-target turns regex on */
    } else {
        target[0] = '\0';
    }
    if (target[0]) {
        char *q = strchr(target, '?');
        io->has_rewrite_query = q != NULL;
        if (q)
            *q++ = '\0';
        snprintf(io->rewrite_path, sizeof(io->rewrite_path), "%s", target);
        snprintf(io->rewrite_query, sizeof(io->rewrite_query), "%s", q ? q : "");
    } else {
        io->rewrite_path[0] = '\0';
    }
    io->backend_protocol = NULL;
    if ((v = annotation(ing, ANN_ALB "backend-protocol")) && strcmp(v, "http")) {
        io->backend_protocol = !strcmp(v, "https") ? "https" : !strcmp(v, "grpc") ? "h2c" : NULL;
        if (!io->backend_protocol) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "metadata.annotations[" ANN_ALB "backend-protocol]: %s",
                 "expected http, https or grpc (ALB Ingress would silently use http)");
            return false;
        }
    }
    if ((v = annotation(ing, ANN_NGINX "backend-protocol")) && strcasecmp(v, "HTTP") && strcasecmp(v, "AUTO_HTTP")) {
        io->backend_protocol = !strcasecmp(v, "HTTPS")  ? "https"
                               : !strcasecmp(v, "GRPC")  ? "h2c"
                               : !strcasecmp(v, "GRPCS") ? "h2"
                                                         : NULL;
        if (!io->backend_protocol) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "metadata.annotations[" ANN_NGINX "backend-protocol]: %s",
                 "expected HTTP, HTTPS, AUTO_HTTP, GRPC or GRPCS (FCGI is not supported)");
            return false;
        }
    }
    if ((v = annotation(ing, ANN_NGINX "auth-tls-verify-client")) && strcmp(v, "on") && strcmp(v, "off") &&
        strcmp(v, "optional") && strcmp(v, "optional_no_ca")) {
        diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "metadata.annotations[" ANN_NGINX "auth-tls-verify-client]: "
             "expected on, off, optional or optional_no_ca, got \"%.64s\"", v);
        return false;
    }
    if ((v = annotation(ing, ANN_NGINX "auth-tls-verify-depth")) && (strlen(v) != 1 || v[0] < '1' || v[0] > '9')) {
        diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
             "metadata.annotations[" ANN_NGINX "auth-tls-verify-depth]: expected 1-9, got \"%.64s\"", v);
        return false;
    }
    bool pass_cert;
    if ((v = annotation(ing, ANN_NGINX "auth-tls-pass-certificate-to-upstream")) && parse_bool(v, &pass_cert) < 0) {
        diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "metadata.annotations[" ANN_NGINX
             "auth-tls-pass-certificate-to-upstream]: expected true or false, got \"%.64s\"", v);
        return false;
    }
    if ((v = annotation(ing, ANN_NGINX "proxy-body-size")) && parse_size(v, &io->g.body_size) < 0) {
        diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
             "metadata.annotations[" ANN_NGINX "proxy-body-size]: expected a size like 8k, 10m or 0, got \"%.64s\"", v);
        return false;
    }
    if ((v = annotation(ing, ANN_NGINX "proxy-connect-timeout")) && parse_connect_seconds(v, &io->g.connect_ms) < 0) {
        diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
             "metadata.annotations[" ANN_NGINX "proxy-connect-timeout]: expected whole seconds 1-3600, got \"%.64s\"", v);
        return false;
    }
    const char *timeouts[] = {ANN_NGINX "proxy-read-timeout", ANN_NGINX "proxy-send-timeout"};
    json_int_t read_ms = 0;
    for (int i = 0; i < 2; i++) {
        json_int_t ms;
        if ((v = annotation(ing, timeouts[i]))) {
            if (parse_seconds(v, &ms) < 0) {
                diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
                     "metadata.annotations[%s]: expected whole seconds, got \"%.64s\"", timeouts[i], v);
                return false;
            }
            if (ms > read_ms)
                read_ms = ms; /* one inactivity timeout covers both directions */
        }
    }
    if (read_ms)
        io->g.read_ms = read_ms;
    if (io->alb_redirect && !io->https_port) {
        diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, name,
             "metadata.annotations[" ANN_ALB "ssl-redirect]: AlbConfig %s has no HTTPS listener: redirecting to 443",
             albconfig);
        io->https_port = 443;
    }
    return true;
}

/* The actions of one path: a rewrite (if any) and the forward; and in
 * *redirect, when the path redirects to HTTPS, what HTTP listeners do
 * instead (NULL: the same). NULL after a diagnostic. */
static json_t *path_actions(struct state *s, json_t *ing, const struct ing_opts *io, const char *host, const char *field,
                            json_t *svc, json_t **redirect)
{
    bool nginx_redirect = io->g.force_ssl_redirect || (io->g.ssl_redirect && host_has_tls(ing, host));
    *redirect = NULL;
    if (io->alb_redirect || nginx_redirect) {
        char port[16];
        snprintf(port, sizeof(port), "%d", io->alb_redirect ? io->https_port : 443);
        *redirect = json_pack("[{s:s,s:i,s:s,s:s}]", "type", "redirect", "code", 308, "scheme", "https", "port", port);
    }
    char bf[160], bname[512];
    snprintf(bf, sizeof(bf), "%s.backend.service", field);
    if (!backend_key(s, ing, bf, ns_of(ing), str_at(svc, "name"), obj_at(svc, "port"), io->g.connect_ms, io->g.read_ms,
                     io->backend_protocol, bname, sizeof(bname))) {
        json_decref(*redirect);
        *redirect = NULL;
        return NULL;
    }
    json_t *actions = json_array();
    if (io->rewrite_path[0]) {
        json_t *rw = json_pack("{s:s,s:s}", "type", "rewrite", "path", io->rewrite_path);
        if (io->has_rewrite_query)
            json_object_set_new(rw, "query", json_string(io->rewrite_query));
        json_array_append_new(actions, rw);
    }
    json_array_append_new(actions, json_pack("{s:s,s:s}", "type", "forward", "backend", bname));
    return actions;
}

/* Annotations this translator reads (docs/annotations.md). */
static bool is_supported_annotation(const char *key)
{
    static const char *const supported[] = {
        ANN_ALB "order",         ANN_ALB "listen-ports",          ANN_ALB "rewrite-target",
        ANN_ALB "use-regex",     ANN_ALB "ssl-redirect",          ANN_ALB "backend-protocol",
        ANN_NGINX "rewrite-target", ANN_NGINX "use-regex",        ANN_NGINX "ssl-redirect",
        ANN_NGINX "force-ssl-redirect", ANN_NGINX "backend-protocol", ANN_NGINX "proxy-body-size",
        ANN_NGINX "auth-tls-secret", ANN_NGINX "auth-tls-verify-client", ANN_NGINX "auth-tls-verify-depth",
        ANN_NGINX "auth-tls-pass-certificate-to-upstream",
        ANN_NGINX "proxy-connect-timeout", ANN_NGINX "proxy-read-timeout", ANN_NGINX "proxy-send-timeout",
    };
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
        bool ours = !strncmp(key, ANN_ALB, strlen(ANN_ALB)) || !strncmp(key, ANN_NGINX, strlen(ANN_NGINX));
        if (ours && !is_supported_annotation(key))
            diag(s->d, ALB_DIAG_INFO, "Ingress", ns_of(ing), meta(ing, "name"),
                 "metadata.annotations[%s]: not supported yet, ignored", key);
    }
}

/* The rules of one Ingress, parsed: sets[0] for HTTP listeners, sets[1]
 * for HTTPS ones (they differ when paths redirect to HTTPS), both NULL when
 * it has none; in *on_mask the listeners (bits of s->lsts) that serve them.
 * False when it is rejected: on any error the whole Ingress is left out,
 * as one invalid object must not half-serve. Diagnostics go to s->d,
 * backends used to s->uses. */
static bool translate_ingress(struct state *s, json_t *ing, const char *albconfig, uint64_t *on_mask,
                              struct alb_rule_set *sets[2])
{
    *on_mask = 0;
    sets[0] = sets[1] = NULL;
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
            return NULL;
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
                    return NULL;
                }
            }
        }
        json_decref(v);
        if (!ok) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name,
                 "metadata.annotations[" ANN_ALB "listen-ports]: expected JSON like [{\"HTTP\":80},{\"HTTPS\":443}]");
            return NULL;
        }
    } else {
        for (size_t k = 0; k < s->lst_cnt && k < 64; k++)
            on[k] = !strcmp(s->lsts[k].albconfig, albconfig) && strcmp(s->lsts[k].protocol, "QUIC");
    }
    for (size_t k = 0; k < s->lst_cnt && k < 64; k++)
        on_cnt += on[k] && s->lsts[k].doc;
    struct ing_opts io;
    if (!read_annotations(s, ing, albconfig, &io))
        return NULL;
    /* the listeners' requestTimeout, when neither annotation nor ConfigMap set one */
    for (size_t k = 0; k < s->lst_cnt && k < 64 && !io.g.read_ms; k++)
        if (on[k] && s->lsts[k].request_ms)
            io.g.read_ms = s->lsts[k].request_ms;

    json_t *rules = json_array(), *tls_rules = json_array(); /* HTTP listeners', HTTPS listeners' */
    bool any_redirect = false; /* else both are the same */
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
            bool exact = !strcmp(type, "Exact");
            bool regex = !exact && (io.alb_regex || io.nginx_regex);
            if (regex) {
                /* validated here: a bad pattern rejects this Ingress, not the whole document */
                char rerr[200];
                struct alb_regex *re = alb_regex_compile(path, io.nginx_regex, false, rerr, sizeof(rerr));
                if (!re) {
                    diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "%s.path: %s", field, rerr);
                    goto reject;
                }
                alb_regex_free(re);
            }
            json_t *match = json_pack("{s:{s:s,s:s}}", "path", "type", exact ? "Exact" : regex ? "Regex" : "Prefix",
                                      "value", path);
            if (regex)
                json_object_set_new(json_object_get(match, "path"), "case_sensitive", json_boolean(!io.nginx_regex));
            if (host && host[0])
                json_object_set_new(match, "hosts", json_pack("[s]", host));
            json_t *be = obj_at(p, "backend"), *svc = obj_at(be, "service");
            json_t *actions, *redirect = NULL;
            if (svc && str_at(svc, "name")) {
                actions = path_actions(s, ing, &io, host, field, svc, &redirect);
                if (!actions) {
                    json_decref(match);
                    goto reject;
                }
            } else if (obj_at(be, "resource")) {
                diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, name,
                     "%s.backend.resource: resource backends are not served: 404", field);
                actions = json_pack("[{s:s,s:i}]", "type", "fixed_response", "status", 404);
            } else {
                diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "%s.backend: a service or a resource is required", field);
                json_decref(match);
                goto reject;
            }
            json_t *rule = json_pack("{s:I,s:O,s:o}", "order", order, "match", match, "actions", actions);
            json_t *plain = redirect ? json_pack("{s:I,s:o,s:o}", "order", order, "match", match, "actions", redirect)
                                     : json_incref(rule);
            if (!redirect)
                json_decref(match);
            if (io.g.body_size >= 0) {
                json_object_set_new(rule, "max_body_bytes", json_integer(io.g.body_size));
                json_object_set_new(plain, "max_body_bytes", json_integer(io.g.body_size));
            }
            any_redirect |= redirect != NULL;
            json_array_append_new(rules, plain);
            json_array_append_new(tls_rules, rule);
        }
    }
    json_t *db = obj_at(obj_at(spec, "defaultBackend"), "service");
    if (db && str_at(db, "name")) {
        char bname[512];
        if (!backend_key(s, ing, "spec.defaultBackend.service", ns, str_at(db, "name"), obj_at(db, "port"),
                         io.g.connect_ms, io.g.read_ms, io.backend_protocol, bname, sizeof(bname)))
            goto reject;
        json_t *rule = json_pack("{s:i,s:{},s:[{s:s,s:s}]}", "order", DEFAULT_BACKEND_ORDER, "match", "actions", "type",
                                 "forward", "backend", bname);
        if (io.g.body_size >= 0)
            json_object_set_new(rule, "max_body_bytes", json_integer(io.g.body_size));
        json_array_append(rules, rule);
        json_array_append_new(tls_rules, rule);
    }
    if (on_cnt == 0 && json_array_size(rules))
        diag(s->d, ALB_DIAG_WARNING, "Ingress", ns, name, "AlbConfig %s has no HTTP listener for it: not served",
             albconfig);
    if (json_array_size(rules)) {
        char err[1024];
        sets[0] = alb_rule_set_parse(s->builder, rules, err, sizeof(err));
        sets[1] = !sets[0] ? NULL
                  : any_redirect ? alb_rule_set_parse(s->builder, tls_rules, err, sizeof(err))
                                 : alb_rule_set_ref(sets[0]);
        if (!sets[0] || !sets[1]) {
            diag(s->d, ALB_DIAG_ERROR, "Ingress", ns, name, "spec: its rules translate to an invalid config: rules%s",
                 err);
            alb_rule_set_unref(sets[0]);
            sets[0] = NULL;
            goto reject;
        }
    }
    for (size_t k = 0; k < s->lst_cnt && k < 64; k++)
        if (on[k] && s->lsts[k].doc)
            *on_mask |= 1ull << k;
    json_decref(rules);
    json_decref(tls_rules);
    return true;
reject:
    json_decref(rules);
    json_decref(tls_rules);
    backend_uses_clear(s->uses); /* a rejected Ingress needs no backends */
    return false;
}

/* ---- the memo ----------------------------------------------------------------------- */

/* One Ingress as last translated. Its result depends on the Ingress and on
 * the world (classes, AlbConfigs, global options, translation options), not
 * on Services or endpoints: those only fill in backends (ensure_backend()). */
struct ing_memo {
    char *ns, *name;          /* owned (one allocation): the Ingress's identity */
    json_t *ing;              /* one reference: the object translated */
    char *albconfig;          /* owned */
    uint64_t on;              /* bit k: served on s->lsts[k] */
    struct alb_rule_set *sets[2]; /* one reference each: for HTTP, for HTTPS listeners; NULL: nothing to serve */
    struct alb_diags diags;   /* what translating it said */
    struct backend_uses uses; /* the backends it uses, in order */
};

struct alb_translate_memo {
    struct alb_config_builder builder;
    json_t *world;            /* what every Ingress's translation depended on */
    struct ing_memo *v;       /* owned; by namespace/name, as Ingresses are translated */
    size_t cnt;
    size_t next;              /* while translating: the first entry not passed yet */
    json_t *sources;          /* backend name -> its Service reference */
    json_t *external_names;   /* the DNS names ExternalName Services use */
    struct cert_store *certs; /* Secrets with TLS pairs, checked */
};

json_t *alb_translate_memo_served(const struct alb_translate_memo *m)
{
    json_t *out = json_object();
    char key[600];
    for (size_t i = 0; m && i < m->cnt; i++) {
        if (!m->v[i].on || !m->v[i].sets[0])
            continue;
        snprintf(key, sizeof(key), "%s/%s", m->v[i].ns, m->v[i].name);
        json_object_set_new(out, key, json_true());
    }
    return out;
}

struct alb_translate_memo *alb_translate_memo_new(void)
{
    struct alb_translate_memo *m = calloc(1, sizeof(*m));
    if (m)
        alb_config_builder_init(&m->builder);
    if (m && !(m->certs = cert_store_new())) {
        alb_config_builder_deinit(&m->builder);
        free(m);
        return NULL;
    }
    return m;
}

static void ing_memo_deinit(struct ing_memo *e)
{
    free(e->ns);
    json_decref(e->ing);
    free(e->albconfig);
    alb_rule_set_unref(e->sets[0]);
    alb_rule_set_unref(e->sets[1]);
    alb_diags_deinit(&e->diags);
    backend_uses_clear(&e->uses);
}

static void memo_drop_ingresses(struct alb_translate_memo *m)
{
    for (size_t i = 0; i < m->cnt; i++)
        ing_memo_deinit(&m->v[i]);
    free(m->v);
    m->v = NULL;
    m->cnt = 0;
}

void alb_translate_memo_free(struct alb_translate_memo *m)
{
    if (!m)
        return;
    memo_drop_ingresses(m);
    json_decref(m->world);
    json_decref(m->sources);
    json_decref(m->external_names);
    cert_store_free(m->certs);
    alb_config_builder_deinit(&m->builder);
    free(m);
}

json_t *alb_translate_memo_sources(const struct alb_translate_memo *m) { return m->sources; }

json_t *alb_translate_memo_external_names(const struct alb_translate_memo *m) { return m->external_names; }

/* What every Ingress's translation depends on besides the Ingress itself. */
static json_t *world_of(const struct alb_translate_opts *o, const struct kinds *k)
{
    const struct list *classes = &k->classes, *albconfigs = &k->albconfigs;
    json_t *w = json_pack("[s,s,s]", o->controller, o->listen_address ? o->listen_address : "",
                          o->configmap ? o->configmap : "");
    for (size_t i = 0; i < classes->cnt; i++)
        json_array_append(w, classes->v[i]);
    for (size_t i = 0; i < albconfigs->cnt; i++)
        json_array_append(w, albconfigs->v[i]);
    for (size_t i = 0; o->configmap && i < k->configmaps.cnt; i++) {
        json_t *cm = k->configmaps.v[i];
        char id[600];
        snprintf(id, sizeof(id), "%s/%s", ns_of(cm), meta(cm, "name") ? meta(cm, "name") : "");
        if (!strcmp(id, o->configmap))
            json_array_append(w, cm);
    }
    return w;
}

static void copy_diags(struct alb_diags *to, const struct alb_diags *from)
{
    for (size_t i = 0; i < from->cnt; i++) {
        const struct alb_diag *x = &from->v[i];
        diag(to, x->level, x->kind, x->ns, x->name, "%s", x->message);
    }
}

static int cmp_identity(const char *ns1, const char *name1, const char *ns2, const char *name2)
{
    int c = strcmp(ns1, ns2);
    return c ? c : strcmp(name1, name2);
}

/* The memo of <ing> (identity ns/name) from the last call, taken out of
 * <m>, when it still holds: same world, same AlbConfig, same object.
 * Ingresses come in the order the memo was made in, so a walk finds it. */
static bool take_memo(struct alb_translate_memo *m, bool same_world, json_t *ing, const char *albconfig,
                      const char *ns, const char *name, struct ing_memo *out)
{
    while (m->next < m->cnt && (!m->v[m->next].ing || cmp_identity(m->v[m->next].ns, m->v[m->next].name, ns, name) < 0))
        m->next++;
    if (!same_world || m->next == m->cnt)
        return false;
    struct ing_memo *e = &m->v[m->next];
    if (cmp_identity(e->ns, e->name, ns, name) || strcmp(e->albconfig, albconfig) ||
        !alb_object_equal_but_status(e->ing, ing))
        return false;
    *out = *e;
    memset(e, 0, sizeof(*e)); /* taken */
    m->next++;
    json_decref(out->ing);
    out->ing = json_incref(ing);
    return true;
}

/* A new memo entry for <ing>, not translated yet. */
static struct ing_memo new_memo(json_t *ing, const char *ns, const char *name, const char *albconfig)
{
    size_t ln = strlen(ns) + 1, lm = strlen(name) + 1;
    char *id = malloc(ln + lm);
    if (id) {
        memcpy(id, ns, ln);
        memcpy(id + ln, name, lm);
    }
    return (struct ing_memo){.ns = id, .name = id ? id + ln : NULL, .ing = json_incref(ing), .albconfig = xdup(albconfig)};
}

/* ---- certificates of HTTPS listeners ---------------------------------------------- */

struct lists_of_sets {
    struct alb_rule_set ***sets; /* per listener */
    size_t *cnt;
};

/* Adds Secret <id> ("ns/name") to the listener's certificates (<by_id>),
 * for <hosts> (an array; NULL: the certificate's own names). Diagnoses on
 * the object that names it; false when the Secret has no usable pair. */
/* A certificate diagnostic, once per object and field in a translation. */
__attribute__((format(printf, 6, 7)))
static void cert_diag(struct state *s, const char *kind, const char *ns, const char *name, const char *field,
                      const char *fmt, ...)
{
    char key[800], msg[900];
    snprintf(key, sizeof(key), "%s/%s/%s/%s", kind, ns, name, field);
    if (json_object_get(s->said, key))
        return;
    json_object_set_new(s->said, key, json_true());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag(s->d, ALB_DIAG_WARNING, kind, ns, name, "%s: %s", field, msg);
}

static bool use_secret(struct state *s, struct cert_store *certs, json_t *by_id, const char *id, json_t *hosts,
                       const char *kind, const char *ns, const char *name, const char *field)
{
    char sns[256], sname[256];
    const char *slash = strchr(id, '/');
    snprintf(sns, sizeof(sns), "%.*s", slash ? (int)(slash - id) : 0, id);
    snprintf(sname, sizeof(sname), "%s", slash ? slash + 1 : id);
    struct cert_pair pair;
    const char *problem;
    if (!cert_store_get(certs, sns, sname, &pair, &problem)) {
        cert_diag(s, kind, ns, name, field, "Secret %s: %s: its hosts get the listener's default certificate", id, problem);
        return false;
    }
    if (problem)
        cert_diag(s, kind, ns, name, field, "Secret %s: %s: it keeps serving its last good certificate", id, problem);
    if (s->o->now && pair.not_after && pair.not_after < s->o->now)
        cert_diag(s, kind, ns, name, field, "Secret %s: the certificate has expired", id);
    json_t *c = json_object_get(by_id, id);
    if (!c) {
        c = json_pack("{s:s,s:[],s:s,s:s}", "name", id, "hosts", "cert_pem", pair.cert_pem, "key_pem", pair.key_pem);
        json_object_set_new(by_id, id, c);
    }
    json_t *have = json_object_get(c, "hosts");
    json_t *own = NULL;
    if (!hosts) { /* the certificate's own names */
        own = hosts = json_array();
        for (size_t i = 0; i < pair.name_cnt; i++)
            json_array_append_new(own, json_string(pair.names[i]));
    }
    for (size_t i = 0; i < json_array_size(hosts); i++) {
        const char *h = json_string_value(json_array_get(hosts, i));
        if (!h || !valid_host(h))
            continue;
        char lower[254];
        snprintf(lower, sizeof(lower), "%s", h);
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        bool dup = false;
        for (size_t k = 0; k < json_array_size(have) && !dup; k++)
            dup = !strcmp(json_string_value(json_array_get(have, k)), lower);
        if (!dup)
            json_array_append_new(have, json_string(lower));
    }
    json_decref(own);
    return true;
}

static int cmp_by_name(const void *a, const void *b);

/* Client certificates for the handshakes that present certificate <c>:
 * the first Ingress to ask decides; another that asks otherwise is told. */
static void set_client_auth(struct state *s, json_t *c, json_t *auth, const char *ns, const char *name)
{
    json_t *had = json_object_get(c, "client_auth");
    if (!auth || (had && json_equal(had, auth)))
        return;
    if (had) {
        cert_diag(s, "Ingress", ns, name, "metadata.annotations[" ANN_NGINX "auth-tls-secret]",
                  "certificate %s already checks client certificates otherwise (for another Ingress): that applies",
                  json_string_value(json_object_get(c, "name")));
        return;
    }
    json_object_set(c, "client_auth", auth);
}

/* The certificates of HTTPS listener k: the AlbConfig's, then those of the
 * spec.tls of every Ingress served on it; and its default certificate. */
/* nginx's auth-tls-* annotations of <ing> as a data-plane client_auth
 * (one new reference), NULL when it asks for none. With a CA Secret that
 * cannot be used, NULL and *unusable: its hosts must not be served
 * without the check. (The annotations' syntax was checked with the rest.) */
static json_t *ingress_client_auth(struct state *s, json_t *ing, bool *unusable)
{
    const char *secret = annotation(ing, ANN_NGINX "auth-tls-secret");
    const char *verify = annotation(ing, ANN_NGINX "auth-tls-verify-client");
    const char *depth = annotation(ing, ANN_NGINX "auth-tls-verify-depth");
    const char *pass = annotation(ing, ANN_NGINX "auth-tls-pass-certificate-to-upstream");
    *unusable = false;
    if (!secret || (verify && !strcmp(verify, "off")))
        return NULL;
    char ns[256], why[700];
    const char *slash = strchr(secret, '/');
    snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - secret) : 255, slash ? secret : ns_of(ing));
    char *pem = ca_of_secret(s, ns, slash ? slash + 1 : secret, why, sizeof(why));
    if (!pem) {
        cert_diag(s, "Ingress", ns_of(ing), meta(ing, "name"), "metadata.annotations[" ANN_NGINX "auth-tls-secret]",
                  "%s: its hosts are not served on HTTPS listeners until it can be used", why);
        *unusable = true;
        return NULL;
    }
    bool pass_cert = false;
    parse_bool(pass ? pass : "false", &pass_cert);
    json_t *a = json_pack("{s:s,s:s,s:i,s:b}", "verify", verify ? verify : "on", "ca_pem", pem, "depth",
                          depth ? atoi(depth) : 1, "pass_certificate", pass_cert);
    free(pem);
    return a;
}

static void add_certificates(struct state *s, struct alb_translate_memo *memo, size_t k, struct lists_of_sets *per_lst)
{
    struct lst *L = &s->lsts[k];
    json_t *by_id = json_object();
    char field[200], id[600], default_id[600] = "", first_id[600] = "";
    for (size_t j = 0; j < json_array_size(L->albconfig_certs); j++) {
        json_t *c = json_array_get(L->albconfig_certs, j);
        const char *cid = str_at(c, "CertificateId");
        json_t *is_default = json_object_get(c, "IsDefault");
        snprintf(field, sizeof(field), "spec.listeners[%zu].certificates[%zu]", L->index, j);
        if (!cid || !cid[0]) {
            cert_diag(s, "AlbConfig", "", L->albconfig, field, "CertificateId: required, ignored");
            continue;
        }
        if (is_default && !json_is_boolean(is_default))
            cert_diag(s, "AlbConfig", "", L->albconfig, field,
                      "IsDefault: expected true or false (ALB Ingress fails to decode a string)");
        certificate_id(s, cid, id, sizeof(id));
        strncat(field, ".CertificateId", sizeof(field) - strlen(field) - 1);
        if (!use_secret(s, memo->certs, by_id, id, NULL, "AlbConfig", "", L->albconfig, field))
            continue;
        if (!first_id[0])
            snprintf(first_id, sizeof(first_id), "%s", id);
        if (json_is_true(is_default) && !default_id[0])
            snprintf(default_id, sizeof(default_id), "%s", id);
    }
    if (L->default_cert_id) { /* defaultCertificate wins over IsDefault, as in ALB Ingress */
        certificate_id(s, L->default_cert_id, id, sizeof(id));
        snprintf(field, sizeof(field), "spec.listeners[%zu].defaultCertificate.certificateId", L->index);
        if (use_secret(s, memo->certs, by_id, id, NULL, "AlbConfig", "", L->albconfig, field))
            snprintf(default_id, sizeof(default_id), "%s", id);
    }
    if (!default_id[0])
        snprintf(default_id, sizeof(default_id), "%s", first_id);
    for (size_t i = 0; i < memo->cnt; i++) {
        const struct ing_memo *e = &memo->v[i];
        if (!(e->on & (1ull << k)) || !e->sets[0])
            continue; /* not on this listener, or rejected */
        const char *ns = ns_of(e->ing), *name = meta(e->ing, "name");
        json_t *tls = arr_at(obj_at(e->ing, "spec"), "tls");
        bool unusable;
        json_t *auth = ingress_client_auth(s, e->ing, &unusable);
        if (unusable) { /* off this listener */
            size_t w = 0; /* in order: the declared order of the others stays */
            for (size_t r = 0; r < per_lst->cnt[k]; r++)
                if (per_lst->sets[k][r] != e->sets[1])
                    per_lst->sets[k][w++] = per_lst->sets[k][r];
            per_lst->cnt[k] = w;
            continue;
        }
        if (auth && !json_array_size(tls))
            cert_diag(s, "Ingress", ns, name, "metadata.annotations[" ANN_NGINX "auth-tls-secret]",
                      "no spec.tls names its hosts: client certificates are checked only for hosts with a certificate");
        for (size_t t = 0; t < json_array_size(tls); t++) {
            json_t *entry = json_array_get(tls, t), *hosts = arr_at(entry, "hosts");
            const char *secret = str_at(entry, "secretName");
            if (secret && secret[0]) {
                snprintf(id, sizeof(id), "%s/%s", ns, secret);
                snprintf(field, sizeof(field), "spec.tls[%zu].secretName", t);
                if (use_secret(s, memo->certs, by_id, id, hosts, "Ingress", ns, name, field)) /* no hosts: its own names */
                    set_client_auth(s, json_object_get(by_id, id), auth, ns, name);
                continue;
            }
            for (size_t h = 0; h < json_array_size(hosts); h++) {
                const char *host = json_string_value(json_array_get(hosts, h));
                snprintf(field, sizeof(field), "spec.tls[%zu].hosts[%zu]", t, h);
                if (!host || !cert_store_discover(memo->certs, host, ns, id, sizeof(id))) {
                    cert_diag(s, "Ingress", ns, name, field, "no TLS Secret's certificate is valid for \"%.253s\": it "
                              "gets the listener's default certificate", host ? host : "");
                    continue;
                }
                json_t *one = json_pack("[s]", host);
                if (use_secret(s, memo->certs, by_id, id, one, "Ingress", ns, name, field))
                    set_client_auth(s, json_object_get(by_id, id), auth, ns, name);
                json_decref(one);
            }
        }
        json_decref(auth);
    }
    /* by name, for stable output */
    size_t n = json_object_size(by_id), cnt = 0;
    json_t **sorted = calloc(n + 1, sizeof(*sorted));
    const char *key;
    json_t *c;
    json_object_foreach(by_id, key, c)
    {
        if (sorted)
            sorted[cnt++] = c;
    }
    json_t *tls = json_object_get(L->doc, "tls"), *list = json_array();
    if (sorted)
        qsort(sorted, cnt, sizeof(*sorted), cmp_by_name);
    for (size_t i = 0; i < cnt; i++)
        json_array_append(list, sorted[i]);
    free(sorted);
    json_object_set_new(tls, "certificates", list);
    /* the one marked, else the AlbConfig's first; with none, the generated one */
    if (default_id[0] && json_object_get(by_id, default_id))
        json_object_set_new(tls, "default_certificate", json_string(default_id));
    else if (cnt)
        json_object_set_new(tls, "default_certificate", json_null());
    json_decref(by_id);
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(str_at(*(json_t *const *)a, "name"), str_at(*(json_t *const *)b, "name"));
}

static void index_services(struct state *s, const struct kinds *k)
{
    s->services = index_of(&k->services, false);
    s->slices = index_of(&k->slices, true);
    s->endpoints = index_of(&k->endpoints, false);
}

static void drop_service_indexes(struct state *s)
{
    json_decref(s->services);
    json_decref(s->slices);
    json_decref(s->endpoints);
}

json_t *alb_translate_endpoints(json_t *objects, json_t *sources, json_t *resolved, struct alb_diags *d)
{
    struct state s = {.d = d, .objects = objects, .resolved = resolved};
    struct kinds k;
    if (!kinds_of(objects, &k, false))
        return NULL;
    index_services(&s, &k);
    kinds_free(&k);
    json_t *out = json_object();
    const char *name;
    json_t *src;
    json_object_foreach(sources, name, src)
    {
        json_t *eps = json_array();
        const char *ns = str_at(src, "namespace"), *svc = str_at(src, "service");
        if (service_endpoints(&s, ns, svc, json_object_get(src, "port"), eps) == SERVICE_EXTERNAL_UNRESOLVED)
            diag(d, ALB_DIAG_WARNING, "Service", ns, svc, "spec.externalName: \"%.253s\" does not resolve: 503",
                 str_at(obj_at(find_named(s.services, ns, svc), "spec"), "externalName"));
        json_object_set_new(out, name, eps);
    }
    drop_service_indexes(&s);
    return out;
}

struct alb_config *alb_translate(json_t *objects, const struct alb_translate_opts *o, struct alb_diags *d,
                                 struct alb_translate_memo *memo, char *err, size_t err_len)
{
    struct alb_translate_memo *own = memo ? NULL : alb_translate_memo_new();
    if (!memo && !(memo = own)) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    /* ALB Ingress's defaults: no redirect unless asked; ingress-nginx's HSTS */
    struct globals g = {.body_size = -1, .hsts = true, .hsts_subdomains = true, .hsts_max_age = 31536000000};
    struct state s = {.o = o, .d = d, .objects = objects, .backends = json_object(), .sources = json_object(),
                      .resolved = o->resolved, .external_names = json_object(), .said = json_object(),
                      .builder = &memo->builder, .g = &g};
    struct kinds kinds;
    if (!kinds_of(objects, &kinds, true)) {
        json_decref(s.backends);
        json_decref(s.sources);
        json_decref(s.external_names);
        alb_translate_memo_free(own);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    struct list classes = kinds.classes, ingresses = kinds.ingresses;
    read_configmap(&s, &kinds.configmaps, o->configmap);
    if (g.hsts)
        snprintf(g.hsts_value, sizeof(g.hsts_value), "max-age=%lld%s%s", (long long)(g.hsts_max_age / 1000),
                 g.hsts_subdomains ? "; includeSubDomains" : "", g.hsts_preload ? "; preload" : "");
    index_services(&s, &kinds);
    s.secrets = &kinds.secrets;
    cert_store_update(memo->certs, kinds.secrets.v, kinds.secrets.cnt);
    for (size_t i = 0; i < kinds.albconfigs.cnt; i++)
        add_albconfig(&s, kinds.albconfigs.v[i]);
    json_t *world = world_of(o, &kinds);
    bool same_world = memo->world && json_array_size(memo->world) == json_array_size(world);
    for (size_t i = 0; same_world && i < json_array_size(world); i++)
        same_world = alb_object_equal_but_status(json_array_get(memo->world, i), json_array_get(world, i));

    struct ing_memo *next = calloc(ingresses.cnt + 1, sizeof(*next));
    size_t next_cnt = 0;
    memo->next = 0;
    struct class_info *class_infos = read_classes(&s, &classes);
    struct lists_of_sets per_lst = {calloc(s.lst_cnt + 1, sizeof(*per_lst.sets)), calloc(s.lst_cnt + 1, sizeof(size_t))};
    for (size_t k = 0; k < s.lst_cnt && per_lst.sets; k++)
        per_lst.sets[k] = calloc(ingresses.cnt + 1, sizeof(**per_lst.sets));
    for (size_t i = 0; next && per_lst.sets && per_lst.cnt && class_infos && i < ingresses.cnt; i++) {
        json_t *ing = ingresses.v[i];
        const char *ns = ns_of(ing), *name = meta(ing, "name");
        const char *ac = albconfig_of(ing, class_infos, classes.cnt);
        if (!ac)
            continue; /* another class: not ours */
        bool exists = false;
        for (size_t k = 0; k < s.lst_cnt; k++)
            exists |= !strcmp(s.lsts[k].albconfig, ac);
        if (!exists) {
            diag(d, ALB_DIAG_WARNING, "Ingress", ns, name,
                 "its IngressClass names AlbConfig %s, which has no listeners here: not served", ac);
            continue;
        }
        struct ing_memo *e = &next[next_cnt];
        if (!take_memo(memo, same_world, ing, ac, ns, name, e)) {
            *e = new_memo(ing, ns, name, ac);
            if (!e->ns || !e->albconfig) {
                ing_memo_deinit(e);
                continue;
            }
            s.d = &e->diags;
            s.uses = &e->uses;
            translate_ingress(&s, ing, ac, &e->on, e->sets);
            s.d = d;
        }
        next_cnt++;
        /* what it says, the backends it uses as the Services are now, and its rules on its listeners */
        copy_diags(d, &e->diags);
        for (size_t u = 0; u < e->uses.cnt; u++)
            ensure_backend(&s, ns, name, &e->uses.v[u]);
        for (size_t k = 0; e->sets[0] && k < s.lst_cnt && k < 64; k++)
            if (e->on & (1ull << k))
                per_lst.sets[k][per_lst.cnt[k]++] = e->sets[strcmp(s.lsts[k].protocol, "HTTPS") ? 0 : 1];
    }
    memo_drop_ingresses(memo); /* what was not taken: Ingresses gone or changed */
    memo->v = next;
    memo->cnt = next_cnt;
    free(class_infos);
    for (size_t k = 0; k < s.lst_cnt && k < 64; k++)
        if (s.lsts[k].doc && !strcmp(s.lsts[k].protocol, "HTTPS"))
            add_certificates(&s, memo, k, &per_lst);
    json_decref(memo->world);
    memo->world = world;

    /* the document of listeners and backends; the rules come as sets */
    json_t *listeners = json_array(), *backends = json_array();
    struct alb_rule_set *const **sets = calloc(s.lst_cnt + 1, sizeof(*sets));
    size_t *set_cnt = calloc(s.lst_cnt + 1, sizeof(*set_cnt)), lists = 0;
    for (size_t k = 0; sets && set_cnt && per_lst.sets && per_lst.cnt && k < s.lst_cnt; k++)
        if (s.lsts[k].doc) {
            json_array_append_new(listeners, s.lsts[k].doc);
            sets[lists] = per_lst.sets[k];
            set_cnt[lists++] = per_lst.cnt[k];
        }
    size_t n = json_object_size(s.backends), cnt = 0;
    json_t **sorted = calloc(n + 1, sizeof(json_t *));
    const char *key;
    json_t *b;
    json_object_foreach(s.backends, key, b)
    {
        if (sorted)
            sorted[cnt++] = b;
    }
    if (sorted) {
        qsort(sorted, cnt, sizeof(json_t *), cmp_by_name);
        for (size_t i = 0; i < cnt; i++)
            json_array_append(backends, sorted[i]);
    }
    free(sorted);
    json_t *doc = json_pack("{s:i,s:o,s:o}", "version", 1, "listeners", listeners, "backends", backends);
    struct alb_config *cfg = NULL;
    if (doc && sets && set_cnt && next && per_lst.sets && per_lst.cnt && lists == json_array_size(listeners)) {
        char inner[1024];
        cfg = alb_config_assemble(&memo->builder, doc, o->listen_address, sets, set_cnt, lists, inner, sizeof(inner));
        if (!cfg)
            snprintf(err, err_len, "the translated config is invalid: %.900s", inner);
    } else {
        snprintf(err, err_len, "out of memory");
    }
    json_decref(doc);
    json_decref(memo->sources);
    memo->sources = s.sources;
    json_decref(memo->external_names);
    memo->external_names = json_array();
    const char *host;
    json_t *yes;
    json_object_foreach(s.external_names, host, yes)
    {
        json_array_append_new(memo->external_names, json_string(host));
    }
    json_decref(s.external_names);
    for (size_t k = 0; per_lst.sets && k < s.lst_cnt; k++)
        free(per_lst.sets[k]);
    free(per_lst.sets);
    free(per_lst.cnt);
    free(sets);
    free(set_cnt);
    json_decref(s.backends);
    json_decref(s.said);
    free(s.ensured);
    free(s.lsts);
    kinds_free(&kinds);
    drop_service_indexes(&s);
    alb_translate_memo_free(own);
    return cfg;
}
