/* config/config.c : JSON (jansson) -> struct alb_config, strictly.
 *
 * Every object is checked against the fields it may have, so a typo is an
 * error instead of a silently ignored setting. Errors name the JSON path of
 * the offending value. This is the only file that includes jansson.
 */
#include "config/config.h"

#include "core/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    char *err;
    size_t err_len;
    char path[256]; /* JSON path of the value being read */
    const char *default_address;
};

__attribute__((format(printf, 2, 3)))
static int failf(struct ctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->err_len, "%s: %s", c->path[0] ? c->path : "(top level)", msg);
    return -1;
}

/* Path bookkeeping: push returns the old length so the caller can pop. */
static size_t push_key(struct ctx *c, const char *key)
{
    size_t n = strlen(c->path);
    snprintf(c->path + n, sizeof(c->path) - n, "%s%s", n ? "." : "", key);
    return n;
}

static size_t push_index(struct ctx *c, size_t i)
{
    size_t n = strlen(c->path);
    snprintf(c->path + n, sizeof(c->path) - n, "[%zu]", i);
    return n;
}

static void pop(struct ctx *c, size_t n) { c->path[n] = '\0'; }

/* Rejects any key of <obj> that is not in the NULL-terminated <allowed>. */
static int check_fields(struct ctx *c, json_t *obj, const char *const *allowed)
{
    if (!json_is_object(obj))
        return failf(c, "expected an object");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                ok = true;
        if (!ok) {
            size_t n = push_key(c, key);
            failf(c, "unknown field");
            pop(c, n);
            return -1;
        }
    }
    return 0;
}

/* Reads an optional integer field into *out within [min, max]. */
static int get_uint(struct ctx *c, json_t *obj, const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    size_t n = push_key(c, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max) {
        failf(c, "expected an integer from %llu to %llu", (unsigned long long)min, (unsigned long long)max);
        pop(c, n);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    pop(c, n);
    return 0;
}

static int get_u32(struct ctx *c, json_t *obj, const char *key, uint64_t min, uint64_t max, uint32_t *out)
{
    uint64_t v = *out;
    if (get_uint(c, obj, key, min, max, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Reads a string field; <required> decides whether absence is an error.
 * *out stays NULL when absent. */
static int get_str(struct ctx *c, json_t *obj, const char *key, bool required, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    size_t n = push_key(c, key);
    if (!v) {
        int rc = required ? failf(c, "required field missing") : 0;
        pop(c, n);
        return rc;
    }
    if (!json_is_string(v)) {
        failf(c, "expected a string");
        pop(c, n);
        return -1;
    }
    *out = json_string_value(v);
    pop(c, n);
    return 0;
}

static json_t *get_array(struct ctx *c, json_t *obj, const char *key, bool required, int *rc)
{
    json_t *v = json_object_get(obj, key);
    size_t n = push_key(c, key);
    *rc = 0;
    if (!v) {
        if (required)
            *rc = failf(c, "required field missing");
        pop(c, n);
        return NULL;
    }
    if (!json_is_array(v)) {
        *rc = failf(c, "expected an array");
        pop(c, n);
        return NULL;
    }
    pop(c, n);
    return v;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "alb: out of memory while loading configuration\n");
        abort(); /* control thread, start-up: abort-on-failure is allowed */
    }
    return d;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "alb: out of memory while loading configuration\n");
        abort();
    }
    return p;
}

static int parse_endpoint(struct ctx *c, json_t *o, struct alb_endpoint *ep)
{
    static const char *const fields[] = {"address", "port", "weight", NULL};
    if (check_fields(c, o, fields) < 0)
        return -1;
    const char *addr;
    uint64_t port = 0;
    if (get_str(c, o, "address", true, &addr) < 0)
        return -1;
    if (!json_object_get(o, "port")) {
        size_t n = push_key(c, "port");
        failf(c, "required field missing");
        pop(c, n);
        return -1;
    }
    if (get_uint(c, o, "port", 1, 65535, &port) < 0)
        return -1;
    ep->weight = 1;
    if (get_u32(c, o, "weight", 0, ALB_MAX_WEIGHT, &ep->weight) < 0)
        return -1;
    if (!alb_addr_parse(addr, (uint16_t)port, &ep->addr, &ep->addr_len)) {
        size_t n = push_key(c, "address");
        failf(c, "expected a numeric IPv4 or IPv6 address, got \"%.64s\"", addr);
        pop(c, n);
        return -1;
    }
    ep->address = xstrdup(addr);
    ep->port = (uint16_t)port;
    if (ep->addr.ss_family == AF_INET6)
        snprintf(ep->text, sizeof(ep->text), "[%s]:%u", addr, (unsigned)port);
    else
        snprintf(ep->text, sizeof(ep->text), "%s:%u", addr, (unsigned)port);
    return 0;
}

static int parse_backend(struct ctx *c, json_t *o, struct alb_backend *b)
{
    static const char *const fields[] = {"name", "protocol", "algorithm", "timeouts", "endpoints", NULL};
    static const char *const timeout_fields[] = {"connect_ms", "response_ms", NULL};
    if (check_fields(c, o, fields) < 0)
        return -1;
    const char *name, *proto, *algo;
    if (get_str(c, o, "name", true, &name) < 0 || get_str(c, o, "protocol", false, &proto) < 0 ||
        get_str(c, o, "algorithm", false, &algo) < 0)
        return -1;
    if (name[0] == '\0') {
        size_t n = push_key(c, "name");
        failf(c, "must not be empty");
        pop(c, n);
        return -1;
    }
    b->name = xstrdup(name);
    if (proto && strcmp(proto, "http") != 0) {
        size_t n = push_key(c, "protocol");
        failf(c, "unsupported protocol \"%.32s\" (supported: http)", proto);
        pop(c, n);
        return -1;
    }
    if (algo && strcmp(algo, "round_robin") != 0) {
        size_t n = push_key(c, "algorithm");
        failf(c, "unsupported algorithm \"%.32s\" (supported: round_robin)", algo);
        pop(c, n);
        return -1;
    }
    b->connect_timeout_ms = ALB_DEFAULT_CONNECT_TIMEOUT_MS;
    b->response_timeout_ms = ALB_DEFAULT_RESPONSE_TIMEOUT_MS;
    json_t *t = json_object_get(o, "timeouts");
    if (t) {
        size_t n = push_key(c, "timeouts");
        if (check_fields(c, t, timeout_fields) < 0 ||
            get_u32(c, t, "connect_ms", 1, 3600000, &b->connect_timeout_ms) < 0 ||
            get_u32(c, t, "response_ms", 1, 86400000, &b->response_timeout_ms) < 0)
            return -1;
        pop(c, n);
    }
    int rc;
    json_t *eps = get_array(c, o, "endpoints", false, &rc);
    if (rc < 0)
        return -1;
    b->ep_cnt = eps ? json_array_size(eps) : 0;
    b->eps = xcalloc(b->ep_cnt, sizeof(*b->eps));
    size_t n = push_key(c, "endpoints");
    for (size_t i = 0; i < b->ep_cnt; i++) {
        size_t m = push_index(c, i);
        if (parse_endpoint(c, json_array_get(eps, i), &b->eps[i]) < 0)
            return -1;
        pop(c, m);
    }
    pop(c, n);
    return 0;
}

/* A host as Ingress writes it: a DNS name, compared case-insensitively. */
static int parse_host(struct ctx *c, const char *h, char **out)
{
    size_t len = strlen(h);
    if (len == 0 || len > 253)
        return failf(c, "expected a host name of 1 to 253 characters");
    char *d = xstrdup(h);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)d[i];
        if (!(isalnum(ch) || ch == '-' || ch == '.')) {
            free(d);
            return failf(c, "invalid character '%c' in host \"%.64s\"", isprint(ch) ? ch : '?', h);
        }
        d[i] = (char)tolower(ch);
    }
    *out = d;
    return 0;
}

static struct alb_backend *find_backend(struct alb_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->backend_cnt; i++)
        if (strcmp(cfg->backends[i].name, name) == 0)
            return &cfg->backends[i];
    return NULL;
}

static int parse_rule(struct ctx *c, struct alb_config *cfg, json_t *o, struct alb_rule *r)
{
    static const char *const fields[] = {"match", "actions", NULL};
    static const char *const match_fields[] = {"hosts", "path", NULL};
    static const char *const path_fields[] = {"type", "value", NULL};
    static const char *const action_fields[] = {"type", "backend", NULL};
    if (check_fields(c, o, fields) < 0)
        return -1;
    json_t *m = json_object_get(o, "match");
    r->path = xstrdup("/");
    r->path_len = 1;
    r->path_match = ALB_PATH_PREFIX;
    if (m) {
        size_t n = push_key(c, "match");
        if (check_fields(c, m, match_fields) < 0)
            return -1;
        int rc;
        json_t *hosts = get_array(c, m, "hosts", false, &rc);
        if (rc < 0)
            return -1;
        r->host_cnt = hosts ? json_array_size(hosts) : 0;
        r->hosts = xcalloc(r->host_cnt, sizeof(*r->hosts));
        size_t hn = push_key(c, "hosts");
        for (size_t i = 0; i < r->host_cnt; i++) {
            size_t k = push_index(c, i);
            json_t *h = json_array_get(hosts, i);
            if (!json_is_string(h))
                return failf(c, "expected a string");
            if (parse_host(c, json_string_value(h), &r->hosts[i]) < 0)
                return -1;
            pop(c, k);
        }
        pop(c, hn);
        json_t *p = json_object_get(m, "path");
        if (p) {
            size_t pn = push_key(c, "path");
            if (check_fields(c, p, path_fields) < 0)
                return -1;
            const char *type, *value;
            if (get_str(c, p, "type", true, &type) < 0 || get_str(c, p, "value", true, &value) < 0)
                return -1;
            if (strcmp(type, "Prefix") == 0) {
                r->path_match = ALB_PATH_PREFIX;
            } else if (strcmp(type, "Exact") == 0) {
                r->path_match = ALB_PATH_EXACT;
            } else {
                size_t k = push_key(c, "type");
                return failf(c, "expected one of Exact, Prefix; got \"%.32s\"", type), pop(c, k), -1;
            }
            if (value[0] != '/') {
                size_t k = push_key(c, "value");
                return failf(c, "a path must start with '/'"), pop(c, k), -1;
            }
            free(r->path);
            r->path = xstrdup(value);
            r->path_len = strlen(value);
            pop(c, pn);
        }
        pop(c, n);
    }
    int rc;
    json_t *actions = get_array(c, o, "actions", true, &rc);
    if (rc < 0)
        return -1;
    size_t an = push_key(c, "actions");
    if (json_array_size(actions) != 1)
        return failf(c, "expected exactly one action (a forward)");
    size_t k = push_index(c, 0);
    json_t *a = json_array_get(actions, 0);
    if (check_fields(c, a, action_fields) < 0)
        return -1;
    const char *type, *backend;
    if (get_str(c, a, "type", true, &type) < 0)
        return -1;
    if (strcmp(type, "forward") != 0) {
        size_t t = push_key(c, "type");
        return failf(c, "unknown action type \"%.32s\" (supported: forward)", type), pop(c, t), -1;
    }
    if (get_str(c, a, "backend", true, &backend) < 0)
        return -1;
    r->backend = find_backend(cfg, backend);
    if (!r->backend) {
        size_t t = push_key(c, "backend");
        return failf(c, "no backend named \"%.64s\"", backend), pop(c, t), -1;
    }
    pop(c, k);
    pop(c, an);
    return 0;
}

static int parse_listener(struct ctx *c, struct alb_config *cfg, json_t *o, struct alb_listener_cfg *l)
{
    static const char *const fields[] = {"name", "address", "port", "protocol", "timeouts", "limits", "rules", NULL};
    static const char *const timeout_fields[] = {"client_header_ms", "idle_ms", "tunnel_idle_ms", NULL};
    static const char *const limit_fields[] = {"max_body_bytes", "max_connections", NULL};
    if (check_fields(c, o, fields) < 0)
        return -1;
    const char *name, *addr, *proto;
    uint64_t port = 0;
    if (get_str(c, o, "name", false, &name) < 0 || get_str(c, o, "address", false, &addr) < 0 ||
        get_str(c, o, "protocol", false, &proto) < 0)
        return -1;
    if (!json_object_get(o, "port")) {
        size_t n = push_key(c, "port");
        return failf(c, "required field missing"), pop(c, n), -1;
    }
    if (get_uint(c, o, "port", 1, 65535, &port) < 0)
        return -1;
    l->port = (uint16_t)port;
    if (proto && strcmp(proto, "HTTP") != 0) {
        size_t n = push_key(c, "protocol");
        return failf(c, "unsupported protocol \"%.32s\" (supported: HTTP)", proto), pop(c, n), -1;
    }
    if (!addr)
        addr = c->default_address ? c->default_address : "0.0.0.0";
    if (!alb_addr_parse(addr, l->port, &l->addr, &l->addr_len)) {
        size_t n = push_key(c, "address");
        return failf(c, "expected a numeric IPv4 or IPv6 address, got \"%.64s\"", addr), pop(c, n), -1;
    }
    l->address = xstrdup(addr);
    char defname[32];
    snprintf(defname, sizeof(defname), "http-%u", (unsigned)l->port);
    l->name = xstrdup(name ? name : defname);
    l->client_header_timeout_ms = ALB_DEFAULT_CLIENT_HEADER_TIMEOUT_MS;
    l->idle_timeout_ms = ALB_DEFAULT_IDLE_TIMEOUT_MS;
    l->tunnel_idle_timeout_ms = ALB_DEFAULT_TUNNEL_IDLE_TIMEOUT_MS;
    l->max_connections = ALB_DEFAULT_MAX_CONNECTIONS;
    json_t *t = json_object_get(o, "timeouts");
    if (t) {
        size_t n = push_key(c, "timeouts");
        if (check_fields(c, t, timeout_fields) < 0 ||
            get_u32(c, t, "client_header_ms", 1, 3600000, &l->client_header_timeout_ms) < 0 ||
            get_u32(c, t, "idle_ms", 1, 86400000, &l->idle_timeout_ms) < 0 ||
            get_u32(c, t, "tunnel_idle_ms", 1, 86400000, &l->tunnel_idle_timeout_ms) < 0)
            return -1;
        pop(c, n);
    }
    json_t *lim = json_object_get(o, "limits");
    if (lim) {
        size_t n = push_key(c, "limits");
        if (check_fields(c, lim, limit_fields) < 0 ||
            get_uint(c, lim, "max_body_bytes", 0, UINT64_MAX >> 1, &l->max_body_bytes) < 0 ||
            get_u32(c, lim, "max_connections", 1, 10000000, &l->max_connections) < 0)
            return -1;
        pop(c, n);
    }
    int rc;
    json_t *rules = get_array(c, o, "rules", false, &rc);
    if (rc < 0)
        return -1;
    l->rule_cnt = rules ? json_array_size(rules) : 0;
    l->rules = xcalloc(l->rule_cnt, sizeof(*l->rules));
    size_t n = push_key(c, "rules");
    for (size_t i = 0; i < l->rule_cnt; i++) {
        size_t k = push_index(c, i);
        if (parse_rule(c, cfg, json_array_get(rules, i), &l->rules[i]) < 0)
            return -1;
        pop(c, k);
    }
    pop(c, n);
    return 0;
}

bool alb_listener_same_bind(const struct alb_listener_cfg *a, const struct alb_listener_cfg *b)
{
    return a->port == b->port && a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

static int parse_root(struct ctx *c, json_t *root, struct alb_config *cfg)
{
    static const char *const fields[] = {"version", "listeners", "backends", NULL};
    if (check_fields(c, root, fields) < 0)
        return -1;
    uint64_t version = 0;
    if (!json_object_get(root, "version")) {
        size_t n = push_key(c, "version");
        return failf(c, "required field missing (this build reads version %d)", ALB_CONFIG_VERSION), pop(c, n), -1;
    }
    if (get_uint(c, root, "version", ALB_CONFIG_VERSION, ALB_CONFIG_VERSION, &version) < 0)
        return -1;
    int rc;
    json_t *backends = get_array(c, root, "backends", false, &rc);
    if (rc < 0)
        return -1;
    cfg->backend_cnt = backends ? json_array_size(backends) : 0;
    cfg->backends = xcalloc(cfg->backend_cnt, sizeof(*cfg->backends));
    size_t n = push_key(c, "backends");
    for (size_t i = 0; i < cfg->backend_cnt; i++) {
        size_t k = push_index(c, i);
        cfg->backends[i].index = i;
        if (parse_backend(c, json_array_get(backends, i), &cfg->backends[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->backends[j].name, cfg->backends[i].name) == 0)
                return failf(c, "duplicate backend name \"%.64s\"", cfg->backends[i].name);
        pop(c, k);
    }
    pop(c, n);
    json_t *listeners = get_array(c, root, "listeners", true, &rc);
    if (rc < 0)
        return -1;
    cfg->listener_cnt = json_array_size(listeners);
    cfg->listeners = xcalloc(cfg->listener_cnt, sizeof(*cfg->listeners));
    n = push_key(c, "listeners");
    for (size_t i = 0; i < cfg->listener_cnt; i++) {
        size_t k = push_index(c, i);
        if (parse_listener(c, cfg, json_array_get(listeners, i), &cfg->listeners[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (alb_listener_same_bind(&cfg->listeners[j], &cfg->listeners[i]))
                return failf(c, "listener on the same address and port as listeners[%zu]", j);
        pop(c, k);
    }
    pop(c, n);
    return 0;
}

struct alb_config *alb_config_parse(const char *text, size_t len, const char *default_address, char *err,
                                    size_t err_len)
{
    struct ctx c = {.err = err, .err_len = err_len, .path = "", .default_address = default_address};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, err_len, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    struct alb_config *cfg = xcalloc(1, sizeof(*cfg));
    atomic_init(&cfg->refcnt, 1);
    int rc = parse_root(&c, root, cfg);
    json_decref(root);
    if (rc < 0) {
        alb_config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct alb_config *alb_config_load_file(const char *path, const char *default_address, char *err,
                                        size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > (64u << 20)) {
                snprintf(err, err_len, "%s: larger than 64 MiB", path);
                goto fail;
            }
            char *t = realloc(text, cap);
            if (!t) {
                snprintf(err, err_len, "%s: out of memory", path);
                goto fail;
            }
            text = t;
        }
        size_t r = fread(text + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, err_len, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    char inner[1024];
    struct alb_config *cfg = alb_config_parse(text, len, default_address, inner, sizeof(inner));
    free(text);
    if (!cfg)
        snprintf(err, err_len, "%s: %s", path, inner);
    return cfg;
fail:
    free(text);
    fclose(f);
    return NULL;
}

void alb_config_free(struct alb_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->listener_cnt; i++) {
        struct alb_listener_cfg *l = &c->listeners[i];
        for (size_t j = 0; j < l->rule_cnt; j++) {
            struct alb_rule *r = &l->rules[j];
            for (size_t h = 0; h < r->host_cnt; h++)
                free(r->hosts[h]);
            free(r->hosts);
            free(r->path);
        }
        free(l->rules);
        free(l->name);
        free(l->address);
    }
    free(c->listeners);
    for (size_t i = 0; i < c->backend_cnt; i++) {
        for (size_t j = 0; j < c->backends[i].ep_cnt; j++)
            free(c->backends[i].eps[j].address);
        free(c->backends[i].name);
        free(c->backends[i].eps);
    }
    free(c->backends);
    free(c);
}

/* ---- serialisation -------------------------------------------------------- */

/* json_pack's "s" needs valid UTF-8; every string here was read from JSON
 * or validated as ASCII, so it is. Allocation failures surface as NULL. */
static json_t *listener_to_json(const struct alb_listener_cfg *l)
{
    json_t *rules = json_array();
    for (size_t i = 0; rules && i < l->rule_cnt; i++) {
        const struct alb_rule *r = &l->rules[i];
        json_t *hosts = json_array();
        for (size_t h = 0; hosts && h < r->host_cnt; h++)
            json_array_append_new(hosts, json_string(r->hosts[h]));
        json_array_append_new(
            rules, json_pack("{s:{s:o,s:{s:s,s:s}},s:[{s:s,s:s}]}", "match", "hosts", hosts, "path", "type",
                             r->path_match == ALB_PATH_EXACT ? "Exact" : "Prefix", "value", r->path, "actions",
                             "type", "forward", "backend", r->backend->name));
    }
    return json_pack("{s:s,s:s,s:i,s:s,s:{s:I,s:I,s:I},s:{s:I,s:I},s:o}", "name", l->name, "address", l->address,
                     "port", (int)l->port, "protocol", "HTTP", "timeouts", "client_header_ms",
                     (json_int_t)l->client_header_timeout_ms, "idle_ms", (json_int_t)l->idle_timeout_ms,
                     "tunnel_idle_ms", (json_int_t)l->tunnel_idle_timeout_ms, "limits", "max_body_bytes",
                     (json_int_t)l->max_body_bytes, "max_connections", (json_int_t)l->max_connections, "rules",
                     rules);
}

static json_t *backend_to_json(const struct alb_backend *b)
{
    json_t *eps = json_array();
    for (size_t i = 0; eps && i < b->ep_cnt; i++)
        json_array_append_new(eps, json_pack("{s:s,s:i,s:i}", "address", b->eps[i].address, "port",
                                             (int)b->eps[i].port,
                                             "weight", (int)b->eps[i].weight));
    return json_pack("{s:s,s:s,s:s,s:{s:I,s:I},s:o}", "name", b->name, "protocol", "http", "algorithm",
                     "round_robin", "timeouts", "connect_ms", (json_int_t)b->connect_timeout_ms, "response_ms",
                     (json_int_t)b->response_timeout_ms, "endpoints", eps);
}

char *alb_config_to_json(const struct alb_config *c)
{
    json_t *listeners = json_array(), *backends = json_array();
    for (size_t i = 0; listeners && i < c->listener_cnt; i++)
        json_array_append_new(listeners, listener_to_json(&c->listeners[i]));
    for (size_t i = 0; backends && i < c->backend_cnt; i++)
        json_array_append_new(backends, backend_to_json(&c->backends[i]));
    json_t *root = json_pack("{s:i,s:I,s:o,s:o}", "version", ALB_CONFIG_VERSION, "generation",
                             (json_int_t)c->generation, "listeners", listeners, "backends", backends);
    if (!root)
        return NULL;
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}
