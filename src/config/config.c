/* config/config.c : JSON (jansson) -> struct alb_config, strictly.
 *
 * Every object is checked against the fields it may have, so a typo is an
 * error instead of a silently ignored setting. Errors name the JSON path of
 * the offending value. This is the only file that includes jansson.
 */
#include "config/config.h"
#include "config/publish.h"

#include "config/regex.h"
#include "core/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ctx {
    char *err;
    size_t err_len;
    char path[256]; /* JSON path of the value being read */
    const char *default_address;
    struct alb_config_builder *builder; /* backend positions, for rules */
    bool may_add_backends;              /* a rule may name a backend the builder does not know yet */
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

static int get_bool(struct ctx *c, json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        size_t n = push_key(c, key);
        return failf(c, "expected a boolean"), pop(c, n), -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int parse_endpoint(struct ctx *c, json_t *o, struct alb_endpoint *ep)
{
    static const char *const fields[] = {"address", "port", "weight", "ready", NULL};
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
    ep->ready = true;
    if (get_bool(c, o, "ready", &ep->ready) < 0)
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

/* Reads a required or optional array of strings; *out is owned (NULL-free). */
/* Reads a required or optional array of strings. All or nothing: on success
 * *out (owned, *cnt strings) is set; on failure nothing is allocated and
 * *out is NULL, *cnt 0. */
static int get_strings(struct ctx *c, json_t *obj, const char *key, bool required, char ***out, size_t *cnt)
{
    int rc;
    json_t *arr = get_array(c, obj, key, required, &rc);
    *out = NULL;
    *cnt = 0;
    if (rc < 0 || !arr)
        return rc;
    size_t n = push_key(c, key);
    size_t len = json_array_size(arr);
    for (size_t i = 0; i < len; i++) {
        if (!json_is_string(json_array_get(arr, i))) {
            push_index(c, i);
            return failf(c, "expected a string");
        }
    }
    char **v = xcalloc(len, sizeof(char *));
    for (size_t i = 0; i < len; i++)
        v[i] = xstrdup(json_string_value(json_array_get(arr, i)));
    pop(c, n);
    *out = v;
    *cnt = len;
    return 0;
}

static bool is_token_text(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

/* Field values ALB writes into messages: no control characters. */
static bool is_field_value_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}


static int parse_health_check(struct ctx *c, json_t *o, struct alb_health_check *h)
{
    static const char *const fields[] = {"enabled", "path", "port", "method", "interval_ms", "timeout_ms",
                                         "healthy_threshold", "unhealthy_threshold", "codes", NULL};
    const char *path, *method;
    uint32_t port = 0;
    h->enabled = true;
    h->interval_ms = 2000;
    h->timeout_ms = 5000;
    h->healthy_threshold = h->unhealthy_threshold = 3;
    h->codes = 1u << 1; /* 2xx */
    if (check_fields(c, o, fields) < 0 || get_bool(c, o, "enabled", &h->enabled) < 0 ||
        get_str(c, o, "path", false, &path) < 0 || get_str(c, o, "method", false, &method) < 0 ||
        get_u32(c, o, "port", 0, 65535, &port) < 0 || get_u32(c, o, "interval_ms", 1000, 50000, &h->interval_ms) < 0 ||
        get_u32(c, o, "timeout_ms", 1000, 300000, &h->timeout_ms) < 0 ||
        get_u32(c, o, "healthy_threshold", 2, 10, &h->healthy_threshold) < 0 ||
        get_u32(c, o, "unhealthy_threshold", 2, 10, &h->unhealthy_threshold) < 0)
        return -1;
    h->port = (uint16_t)port;
    if (path && (path[0] != '/' || strlen(path) > 80 || !is_field_value_text(path) || strchr(path, ' '))) {
        size_t n = push_key(c, "path");
        return failf(c, "a path of 1 to 80 characters starting with '/'"), pop(c, n), -1;
    }
    h->path = xstrdup(path ? path : "/");
    if (method && strcmp(method, "GET") && strcmp(method, "HEAD")) {
        size_t n = push_key(c, "method");
        return failf(c, "expected GET or HEAD"), pop(c, n), -1;
    }
    h->method_get = method && !strcmp(method, "GET");
    char **codes;
    size_t cnt;
    if (get_strings(c, o, "codes", false, &codes, &cnt) < 0)
        return -1;
    if (codes) {
        h->codes = 0;
        for (size_t i = 0; i < cnt; i++) {
            const char *v = codes[i];
            bool ok = strlen(v) == 3 && v[0] >= '1' && v[0] <= '5' && v[1] == 'x' && v[2] == 'x';
            if (ok)
                h->codes |= (uint8_t)(1u << (v[0] - '1'));
            free(codes[i]);
            if (!ok) {
                for (size_t j = i + 1; j < cnt; j++)
                    free(codes[j]);
                free(codes);
                size_t n = push_key(c, "codes");
                size_t k = push_index(c, i);
                failf(c, "expected 1xx, 2xx, 3xx, 4xx or 5xx");
                pop(c, k);
                pop(c, n);
                return -1;
            }
        }
        free(codes);
    }
    return 0;
}

static int parse_session(struct ctx *c, json_t *o, struct alb_session_persistence *sp)
{
    static const char *const fields[] = {"enabled", "type", "cookie_name", "timeout_s", NULL};
    const char *type, *cookie;
    sp->enabled = true;
    sp->timeout_s = 1000;
    if (check_fields(c, o, fields) < 0 || get_bool(c, o, "enabled", &sp->enabled) < 0 ||
        get_str(c, o, "type", false, &type) < 0 || get_str(c, o, "cookie_name", false, &cookie) < 0 ||
        get_u32(c, o, "timeout_s", 1, 86400, &sp->timeout_s) < 0)
        return -1;
    if (type && strcmp(type, "insert_cookie") && strcmp(type, "server_cookie")) {
        size_t n = push_key(c, "type");
        return failf(c, "expected insert_cookie or server_cookie"), pop(c, n), -1;
    }
    sp->server_cookie = type && !strcmp(type, "server_cookie");
    if (sp->server_cookie && !(cookie && is_token_text(cookie))) {
        size_t n = push_key(c, "cookie_name");
        return failf(c, "a cookie name (a token) is required with server_cookie"), pop(c, n), -1;
    }
    if (cookie && !sp->server_cookie) {
        size_t n = push_key(c, "cookie_name");
        return failf(c, "only with server_cookie"), pop(c, n), -1;
    }
    sp->cookie_name = cookie ? xstrdup(cookie) : NULL;
    return 0;
}

/* The optional "endpoints" array of backend <o> into b->eps. */
static int parse_endpoints(struct ctx *c, json_t *o, struct alb_backend *b)
{
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

static int parse_backend(struct ctx *c, json_t *o, struct alb_backend *b)
{
    static const char *const fields[] = {"name", "protocol", "algorithm", "timeouts", "endpoints", "health_check",
                                         "session_persistence", NULL};
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
    b->tls = proto && (!strcmp(proto, "https") || !strcmp(proto, "h2"));
    b->h2 = proto && (!strcmp(proto, "h2c") || !strcmp(proto, "h2"));
    if (proto && strcmp(proto, "http") != 0 && !b->tls && !b->h2) {
        size_t n = push_key(c, "protocol");
        failf(c, "unsupported protocol \"%.32s\" (supported: http, https, h2c, h2)", proto);
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
    json_t *hc = json_object_get(o, "health_check");
    if (hc) {
        size_t n = push_key(c, "health_check");
        if (parse_health_check(c, hc, &b->health_check) < 0)
            return -1;
        pop(c, n);
    }
    json_t *sp = json_object_get(o, "session_persistence");
    if (sp) {
        size_t n = push_key(c, "session_persistence");
        if (parse_session(c, sp, &b->session) < 0)
            return -1;
        pop(c, n);
    }
    return parse_endpoints(c, o, b);
}

/* A host as Ingress writes it: a DNS name, compared case-insensitively, or
 * "*." followed by one (a one-label wildcard). */
static int parse_host(struct ctx *c, const char *h, char **out)
{
    size_t len = strlen(h);
    if (len == 0 || len > 253)
        return failf(c, "expected a host name of 1 to 253 characters");
    size_t from = (len > 2 && h[0] == '*' && h[1] == '.') ? 2 : 0;
    char *d = xstrdup(h);
    for (size_t i = from; i < len; i++) {
        unsigned char ch = (unsigned char)d[i];
        if (!(isalnum(ch) || ch == '-' || ch == '.')) {
            free(d);
            return failf(c, "invalid character '%c' in host \"%.64s\" (a wildcard is \"*.\" and a domain)",
                         isprint(ch) ? ch : '?', h);
        }
        d[i] = (char)tolower(ch);
    }
    *out = d;
    return 0;
}

/* ---- TLS of HTTPS listeners ----------------------------------------------- */

const char *const alb_tls_policy_names[5] = {"tls_cipher_policy_1_0", "tls_cipher_policy_1_1",
                                              "tls_cipher_policy_1_2", "tls_cipher_policy_1_2_strict",
                                              "tls_cipher_policy_1_2_strict_with_1_3"};

#define REDACTED_KEY "(redacted)"

/* The optional "client_auth" object of <o>. */
static int parse_client_auth(struct ctx *c, json_t *o, struct alb_client_auth *a)
{
    static const char *const fields[] = {"verify", "ca_pem", "depth", "pass_certificate", NULL};
    static const char *const modes[] = {"off", "on", "optional", "optional_no_ca"};
    json_t *ca = json_object_get(o, "client_auth");
    *a = (struct alb_client_auth){ALB_CLIENT_VERIFY_OFF, NULL, 1, false};
    if (!ca)
        return 0;
    size_t n = push_key(c, "client_auth");
    const char *verify, *pem;
    if (check_fields(c, ca, fields) < 0 || get_str(c, ca, "verify", true, &verify) < 0 ||
        get_str(c, ca, "ca_pem", false, &pem) < 0 || get_u32(c, ca, "depth", 1, 10, &a->depth) < 0 ||
        get_bool(c, ca, "pass_certificate", &a->pass_certificate) < 0)
        return -1;
    size_t m = 0;
    while (m < 4 && strcmp(verify, modes[m]))
        m++;
    if (m == 4) {
        push_key(c, "verify");
        return failf(c, "expected off, on, optional or optional_no_ca");
    }
    a->verify = (enum alb_client_verify)m;
    if (a->verify != ALB_CLIENT_VERIFY_OFF && a->verify != ALB_CLIENT_VERIFY_OPTIONAL_NO_CA &&
        !(pem && strstr(pem, "-----BEGIN CERTIFICATE-----"))) {
        push_key(c, "ca_pem");
        return failf(c, "the CA certificates (PEM) are required to verify");
    }
    a->ca_pem = pem ? xstrdup(pem) : NULL;
    pop(c, n);
    return 0;
}

static int parse_certificate(struct ctx *c, json_t *o, struct alb_certificate *cert)
{
    static const char *const fields[] = {"name", "hosts", "cert_pem", "key_pem", "client_auth", NULL};
    const char *name, *pem, *key;
    char **hosts;
    size_t host_cnt;
    if (check_fields(c, o, fields) < 0 || get_str(c, o, "name", true, &name) < 0 ||
        get_str(c, o, "cert_pem", true, &pem) < 0 || get_str(c, o, "key_pem", true, &key) < 0 ||
        get_strings(c, o, "hosts", false, &hosts, &host_cnt) < 0)
        return -1;
    cert->name = xstrdup(name);
    cert->hosts = xcalloc(host_cnt, sizeof(*cert->hosts));
    cert->host_cnt = host_cnt;
    int rc = 0;
    size_t hn = push_key(c, "hosts");
    for (size_t i = 0; i < host_cnt; i++) {
        size_t k = push_index(c, i);
        if (rc == 0 && (rc = parse_host(c, hosts[i], &cert->hosts[i])) == 0)
            pop(c, k);
        free(hosts[i]);
    }
    free(hosts);
    if (rc < 0)
        return -1;
    pop(c, hn);
    if (!name[0] || !strstr(pem, "-----BEGIN CERTIFICATE-----")) {
        push_key(c, name[0] ? "cert_pem" : "name");
        return failf(c, name[0] ? "expected a PEM certificate" : "must not be empty");
    }
    if (!strcmp(key, REDACTED_KEY) || !strstr(key, "-----BEGIN")) {
        push_key(c, "key_pem");
        return failf(c, "expected a PEM private key%s", strcmp(key, REDACTED_KEY) ? "" : " (/config does not show keys)");
    }
    cert->cert_pem = xstrdup(pem);
    cert->key_pem = xstrdup(key);
    return parse_client_auth(c, o, &cert->client_auth);
}

/* The "tls" object of an HTTPS listener. */
static int parse_tls(struct ctx *c, json_t *o, struct alb_listener_tls *t)
{
    static const char *const fields[] = {"policy", "http2", "certificates", "default_certificate", "hsts",
                                         "client_auth", NULL};
    size_t n = push_key(c, "tls");
    if (!o)
        return failf(c, "required for an HTTPS listener");
    const char *policy, *def, *hsts;
    int rc;
    t->http2 = true;
    t->default_cert = -1;
    /* "default_certificate": null: the generated one, even with certificates */
    bool generated = json_is_null(json_object_get(o, "default_certificate"));
    def = NULL;
    if (check_fields(c, o, fields) < 0 || get_str(c, o, "policy", false, &policy) < 0 ||
        get_bool(c, o, "http2", &t->http2) < 0 ||
        (!generated && get_str(c, o, "default_certificate", false, &def) < 0) ||
        get_str(c, o, "hsts", false, &hsts) < 0)
        return -1;
    t->policy = ALB_TLS_POLICY_1_0; /* ALB's default */
    if (policy) {
        size_t i = 0;
        while (i < 5 && strcmp(policy, alb_tls_policy_names[i]))
            i++;
        if (i == 5) {
            push_key(c, "policy");
            return failf(c, "expected one of tls_cipher_policy_1_0, _1_1, _1_2, _1_2_strict, _1_2_strict_with_1_3");
        }
        t->policy = (enum alb_tls_policy)i;
    }
    if (hsts && (!hsts[0] || strlen(hsts) > 256 || !is_field_value_text(hsts))) {
        push_key(c, "hsts");
        return failf(c, "expected a header value of 1-256 characters");
    }
    t->hsts = hsts ? xstrdup(hsts) : NULL;
    if (parse_client_auth(c, o, &t->client_auth) < 0)
        return -1;
    json_t *certs = get_array(c, o, "certificates", false, &rc);
    if (rc < 0)
        return -1;
    t->cert_cnt = json_array_size(certs);
    t->certs = xcalloc(t->cert_cnt, sizeof(*t->certs));
    size_t cn = push_key(c, "certificates");
    for (size_t i = 0; i < t->cert_cnt; i++) {
        size_t k = push_index(c, i);
        if (parse_certificate(c, json_array_get(certs, i), &t->certs[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->certs[j].name, t->certs[i].name))
                return failf(c, "a second certificate named \"%.64s\"", t->certs[i].name);
        pop(c, k);
    }
    pop(c, cn);
    if (t->cert_cnt && !generated)
        t->default_cert = 0; /* the first, unless one is named */
    if (def) {
        long found = -1;
        for (size_t i = 0; i < t->cert_cnt && found < 0; i++)
            if (!strcmp(t->certs[i].name, def))
                found = (long)i;
        if (found < 0) {
            push_key(c, "default_certificate");
            return failf(c, "no certificate named \"%.64s\"", def);
        }
        t->default_cert = found;
    }
    pop(c, n);
    return 0;
}

static void free_tls(struct alb_listener_tls *t, alb_tls_state_free_fn *state_free)
{
    if (t->state && state_free)
        state_free(t->state);
    for (size_t i = 0; i < t->cert_cnt; i++) {
        free(t->certs[i].name);
        for (size_t h = 0; h < t->certs[i].host_cnt; h++)
            free(t->certs[i].hosts[h]);
        free(t->certs[i].hosts);
        free(t->certs[i].cert_pem);
        free(t->certs[i].key_pem);
        free(t->certs[i].client_auth.ca_pem);
    }
    free(t->certs);
    free(t->hsts);
    free(t->client_auth.ca_pem);
}

/* ---- backend positions ------------------------------------------------------ */

void alb_config_builder_init(struct alb_config_builder *b)
{
    memset(b, 0, sizeof(*b));
    b->positions = json_object();
}

void alb_config_builder_deinit(struct alb_config_builder *b)
{
    for (size_t i = 0; i < b->cnt; i++)
        free(b->names[i]);
    free(b->names);
    json_decref(b->positions);
    memset(b, 0, sizeof(*b));
}

size_t alb_config_builder_position(struct alb_config_builder *b, const char *name)
{
    json_t *p = json_object_get(b->positions, name);
    if (p)
        return (size_t)json_integer_value(p);
    size_t i = b->first_free;
    while (i < b->cnt && b->names[i])
        i++;
    if (i == b->cnt) {
        if (b->cnt == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 16;
            char **n = realloc(b->names, cap * sizeof(*n));
            if (!n)
                abort();
            b->names = n;
            b->cap = cap;
        }
        b->names[b->cnt++] = NULL;
    }
    b->names[i] = xstrdup(name);
    b->first_free = i + 1;
    if (json_object_set_new(b->positions, name, json_integer((json_int_t)i)) < 0)
        abort();
    return i;
}

/* Frees the positions of names <cfg> does not have. */
static void builder_release_unused(struct alb_config_builder *b, const struct alb_config *cfg)
{
    for (size_t i = 0; i < b->cnt; i++) {
        if (!b->names[i] || (i < cfg->backend_cnt && cfg->backends[i].name))
            continue;
        json_object_del(b->positions, b->names[i]);
        free(b->names[i]);
        b->names[i] = NULL;
        if (i < b->first_free)
            b->first_free = i;
    }
}

/* The position of the backend a rule names: known to the builder, or (when
 * parsing a rule set) given one. -1 with the error set when unknown. */
static int backend_position(struct ctx *c, const char *name, size_t *pos)
{
    json_t *p = json_object_get(c->builder->positions, name);
    if (!p && !c->may_add_backends)
        return failf(c, "no backend named \"%.64s\"", name);
    *pos = p ? (size_t)json_integer_value(p) : alb_config_builder_position(c->builder, name);
    return 0;
}

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). */
bool alb_cidr_parse(const char *text, struct alb_cidr *out)
{
    char ip[64];
    const char *slash = strchr(text, '/');
    size_t iplen = slash ? (size_t)(slash - text) : strlen(text);
    if (iplen == 0 || iplen >= sizeof(ip))
        return false;
    memcpy(ip, text, iplen);
    ip[iplen] = '\0';
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!alb_addr_parse(ip, 0, &ss, &sl))
        return false;
    memset(out, 0, sizeof(*out));
    out->family = ss.ss_family;
    size_t bytes = ss.ss_family == AF_INET ? 4 : 16;
    memcpy(out->addr, ss.ss_family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                                               : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr, bytes);
    unsigned long plen = bytes * 8;
    if (slash) {
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            return false;
        plen = strtoul(slash + 1, &end, 10);
        if (*end || plen > bytes * 8)
            return false;
    }
    out->prefix_len = (uint8_t)plen;
    for (size_t bit = plen; bit < bytes * 8; bit++)
        out->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    return true;
}

static int parse_condition(struct ctx *c, json_t *o, struct alb_condition *cd)
{
    static const char *const fields[] = {"type", "name", "values", "regex", NULL};
    if (check_fields(c, o, fields) < 0)
        return -1;
    const char *type, *name;
    if (get_str(c, o, "type", true, &type) < 0 || get_str(c, o, "name", false, &name) < 0)
        return -1;
    static const struct {
        const char *name;
        enum alb_cond_type type;
        bool keyed;
    } types[] = {{"header", ALB_COND_HEADER, true}, {"cookie", ALB_COND_COOKIE, true}, {"query", ALB_COND_QUERY, true},
                 {"method", ALB_COND_METHOD, false}, {"source_ip", ALB_COND_SOURCE_IP, false}};
    size_t t = 0;
    while (t < sizeof(types) / sizeof(types[0]) && strcmp(types[t].name, type) != 0)
        t++;
    if (t == sizeof(types) / sizeof(types[0])) {
        size_t k = push_key(c, "type");
        return failf(c, "unknown condition type \"%.32s\" (header, cookie, query, method, source_ip)", type), pop(c, k), -1;
    }
    cd->type = types[t].type;
    if (types[t].keyed && (!name || !name[0])) {
        size_t k = push_key(c, "name");
        return failf(c, "required for a %s condition", type), pop(c, k), -1;
    }
    if (!types[t].keyed && name) {
        size_t k = push_key(c, "name");
        return failf(c, "not used by a %s condition", type), pop(c, k), -1;
    }
    json_t *rx = json_object_get(o, "regex");
    if (rx && (!json_is_boolean(rx) || (json_is_true(rx) && cd->type != ALB_COND_HEADER))) {
        size_t k = push_key(c, "regex");
        return failf(c, "a boolean, and true only for header conditions"), pop(c, k), -1;
    }
    cd->regex = rx && json_is_true(rx);
    if (name) {
        if (cd->type == ALB_COND_HEADER && !is_token_text(name)) {
            size_t k = push_key(c, "name");
            return failf(c, "not a valid header name"), pop(c, k), -1;
        }
        cd->key = xstrdup(name);
        cd->key_len = strlen(name);
        if (cd->type == ALB_COND_HEADER)
            for (char *p = cd->key; *p; p++)
                *p = (char)tolower((unsigned char)*p);
    }
    if (get_strings(c, o, "values", true, &cd->values, &cd->value_cnt) < 0)
        return -1;
    size_t vn = push_key(c, "values");
    if (cd->value_cnt == 0)
        return failf(c, "at least one value"), -1;
    cd->value_lens = xcalloc(cd->value_cnt, sizeof(size_t));
    if (cd->regex)
        cd->res = xcalloc(cd->value_cnt, sizeof(*cd->res));
    if (cd->type == ALB_COND_SOURCE_IP)
        cd->cidrs = xcalloc(cd->value_cnt, sizeof(*cd->cidrs));
    for (size_t i = 0; i < cd->value_cnt; i++) {
        size_t k = push_index(c, i);
        cd->value_lens[i] = strlen(cd->values[i]);
        if (cd->type == ALB_COND_SOURCE_IP) {
            if (!alb_cidr_parse(cd->values[i], &cd->cidrs[cd->cidr_cnt]))
                return failf(c, "expected an IPv4 or IPv6 CIDR, got \"%.64s\"", cd->values[i]), -1;
            cd->cidr_cnt++;
        } else if (cd->type == ALB_COND_METHOD && !is_token_text(cd->values[i])) {
            return failf(c, "not a valid method"), -1;
        } else if (cd->regex) {
            char rerr[200];
            cd->res[i] = alb_regex_compile(cd->values[i], false, true, rerr, sizeof(rerr));
            if (!cd->res[i])
                return failf(c, "%s", rerr), -1;
        }
        pop(c, k);
    }
    pop(c, vn);
    return 0;
}

static int get_template(struct ctx *c, json_t *o, const char *key, struct alb_template *t)
{
    const char *v;
    if (get_str(c, o, key, false, &v) < 0)
        return -1;
    if (!v)
        return 0;
    if (!is_field_value_text(v)) {
        size_t k = push_key(c, key);
        return failf(c, "control characters are not allowed"), pop(c, k), -1;
    }
    /* every ${...} must name a known variable */
    for (const char *p = strstr(v, "${"); p; p = strstr(p + 2, "${")) {
        const char *e = strchr(p, '}');
        size_t n = e ? (size_t)(e - p - 2) : 0;
        bool ok = e && ((n == 1 && p[2] >= '0' && p[2] <= '9') || (n == 4 && !strncmp(p + 2, "host", 4)) ||
                        (n == 4 && !strncmp(p + 2, "path", 4)) || (n == 4 && !strncmp(p + 2, "port", 4)) ||
                        (n == 5 && !strncmp(p + 2, "query", 5)) || (n == 8 && !strncmp(p + 2, "protocol", 8)));
        if (!ok) {
            size_t k = push_key(c, key);
            return failf(c, "unknown variable in \"%.64s\" (${host} ${path} ${port} ${protocol} ${query} ${0}..${9})",
                         v), pop(c, k), -1;
        }
    }
    t->text = xstrdup(v);
    t->len = strlen(v);
    return 0;
}

static int parse_action(struct ctx *c, json_t *o, struct alb_action *a)
{
    static const char *const fields[] = {"type", "backend", "backends", "code", "scheme", "host", "port", "path",
                                         "query", "status", "content_type", "body", "op", "name", "value",
                                         "allow_origins", "allow_methods", "allow_headers", "expose_headers",
                                         "allow_credentials", "max_age", "qps", "qps_per_ip", NULL};
    if (check_fields(c, o, fields) < 0)
        return -1;
    const char *type;
    if (get_str(c, o, "type", true, &type) < 0)
        return -1;
    /* fields each type may use */
    static const struct {
        const char *name;
        enum alb_action_type type;
        const char *const allowed[9];
    } types[] = {
        {"forward", ALB_ACT_FORWARD, {"type", "backend", "backends"}},
        {"redirect", ALB_ACT_REDIRECT, {"type", "code", "scheme", "host", "port", "path", "query"}},
        {"fixed_response", ALB_ACT_FIXED_RESPONSE, {"type", "status", "content_type", "body"}},
        {"rewrite", ALB_ACT_REWRITE, {"type", "host", "path", "query"}},
        {"request_header", ALB_ACT_REQUEST_HEADER, {"type", "op", "name", "value"}},
        {"response_header", ALB_ACT_RESPONSE_HEADER, {"type", "op", "name", "value"}},
        {"cors", ALB_ACT_CORS, {"type", "allow_origins", "allow_methods", "allow_headers", "expose_headers",
                                "allow_credentials", "max_age"}},
        {"traffic_limit", ALB_ACT_TRAFFIC_LIMIT, {"type", "qps", "qps_per_ip"}},
        {"mirror", ALB_ACT_MIRROR, {"type", "backend", "backends"}},
    };
    size_t t = 0;
    while (t < sizeof(types) / sizeof(types[0]) && strcmp(types[t].name, type) != 0)
        t++;
    if (t == sizeof(types) / sizeof(types[0])) {
        size_t k = push_key(c, "type");
        return failf(c, "unknown action type \"%.32s\" (forward, redirect, fixed_response, rewrite, request_header, "
                        "response_header, cors, traffic_limit, mirror)", type), pop(c, k), -1;
    }
    a->type = types[t].type;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool ok = false;
        for (size_t i = 0; types[t].allowed[i]; i++)
            ok |= strcmp(types[t].allowed[i], key) == 0;
        if (!ok) {
            size_t k = push_key(c, key);
            return failf(c, "not a field of a %s action", type), pop(c, k), -1;
        }
    }
    switch (a->type) {
    case ALB_ACT_FORWARD:
    case ALB_ACT_MIRROR: {
        const char *one;
        if (get_str(c, o, "backend", false, &one) < 0)
            return -1;
        json_t *many = json_object_get(o, "backends");
        if (!!one == !!many)
            return failf(c, "a %s names \"backend\" or \"backends\", exactly one of them", type);
        if (one) {
            a->groups = xcalloc(1, sizeof(*a->groups));
            a->group_cnt = 1;
            a->groups[0].weight = 100;
            size_t k = push_key(c, "backend");
            if (backend_position(c, one, &a->groups[0].backend) < 0)
                return -1;
            pop(c, k);
        } else {
            size_t k = push_key(c, "backends");
            if (!json_is_array(many) || json_array_size(many) == 0)
                return failf(c, "expected a non-empty array"), -1;
            a->group_cnt = json_array_size(many);
            a->groups = xcalloc(a->group_cnt, sizeof(*a->groups));
            for (size_t i = 0; i < a->group_cnt; i++) {
                static const char *const gf[] = {"name", "weight", NULL};
                size_t ki = push_index(c, i);
                json_t *g = json_array_get(many, i);
                const char *name;
                a->groups[i].weight = 100;
                if (check_fields(c, g, gf) < 0 || get_str(c, g, "name", true, &name) < 0 ||
                    get_u32(c, g, "weight", 0, ALB_MAX_WEIGHT, &a->groups[i].weight) < 0)
                    return -1;
                size_t kn = push_key(c, "name");
                if (backend_position(c, name, &a->groups[i].backend) < 0)
                    return -1;
                pop(c, kn);
                a->weight_total += a->groups[i].weight;
                pop(c, ki);
            }
            if (a->weight_total == 0)
                return failf(c, "the weights add up to 0"), -1;
            pop(c, k);
        }
        if (one)
            a->weight_total = 100;
        break;
    }
    case ALB_ACT_REDIRECT: {
        uint64_t code = 301;
        if (get_uint(c, o, "code", 301, 308, &code) < 0)
            return -1;
        if (code > 303 && code < 307) {
            size_t k = push_key(c, "code");
            return failf(c, "expected 301, 302, 303, 307 or 308"), pop(c, k), -1;
        }
        a->code = (uint16_t)code;
        if (get_template(c, o, "scheme", &a->scheme) < 0 || get_template(c, o, "host", &a->host) < 0 ||
            get_template(c, o, "port", &a->port) < 0 || get_template(c, o, "path", &a->path) < 0 ||
            get_template(c, o, "query", &a->query) < 0)
            return -1;
        if (a->scheme.text && strcmp(a->scheme.text, "http") && strcmp(a->scheme.text, "https") &&
            strcmp(a->scheme.text, "${protocol}")) {
            size_t k = push_key(c, "scheme");
            return failf(c, "expected http, https or ${protocol}"), pop(c, k), -1;
        }
        break;
    }
    case ALB_ACT_FIXED_RESPONSE: {
        uint64_t status = 200;
        const char *ct, *body;
        if (get_uint(c, o, "status", 200, 599, &status) < 0 || get_str(c, o, "content_type", false, &ct) < 0 ||
            get_str(c, o, "body", false, &body) < 0)
            return -1;
        if (ct && !is_field_value_text(ct)) {
            size_t k = push_key(c, "content_type");
            return failf(c, "control characters are not allowed"), pop(c, k), -1;
        }
        a->code = (uint16_t)status;
        a->content_type = xstrdup(ct ? ct : "text/plain; charset=utf-8");
        a->body = xstrdup(body ? body : "");
        a->body_len = strlen(a->body);
        if (a->body_len > 4096) {
            size_t k = push_key(c, "body");
            return failf(c, "at most 4096 bytes"), pop(c, k), -1;
        }
        break;
    }
    case ALB_ACT_REWRITE:
        if (get_template(c, o, "host", &a->host) < 0 || get_template(c, o, "path", &a->path) < 0 ||
            get_template(c, o, "query", &a->query) < 0)
            return -1;
        if (!a->host.text && !a->path.text && !a->query.text)
            return failf(c, "a rewrite sets at least one of host, path, query");
        if (a->path.text && a->path.text[0] != '/' && a->path.text[0] != '$') {
            size_t k = push_key(c, "path");
            return failf(c, "a path starts with '/'"), pop(c, k), -1;
        }
        break;
    case ALB_ACT_CORS: {
        /* defaults: ingress-nginx's cors-* annotation defaults */
        const char *methods, *headers, *expose;
        int64_t max_age = 1728000;
        if (get_strings(c, o, "allow_origins", false, &a->origins, &a->origin_cnt) < 0 ||
            get_str(c, o, "allow_methods", false, &methods) < 0 || get_str(c, o, "allow_headers", false, &headers) < 0 ||
            get_str(c, o, "expose_headers", false, &expose) < 0)
            return -1;
        if (!a->origins) {
            a->origins = xcalloc(1, sizeof(char *));
            a->origins[0] = xstrdup("*");
            a->origin_cnt = 1;
        }
        for (size_t i = 0; i < a->origin_cnt; i++) {
            const char *v = a->origins[i];
            bool ok = !strcmp(v, "*") || ((!strncmp(v, "http://", 7) || !strncmp(v, "https://", 8)) &&
                                          is_field_value_text(v) && !strchr(v, ',') && !strchr(v, ' '));
            if (!ok) {
                size_t k = push_key(c, "allow_origins");
                size_t ki = push_index(c, i);
                failf(c, "expected \"*\" or scheme://host[:port], got \"%.64s\"", v);
                pop(c, ki);
                pop(c, k);
                return -1;
            }
            a->any_origin |= !strcmp(v, "*");
        }
        const char *const *texts[] = {&methods, &headers, &expose};
        const char *const names[] = {"allow_methods", "allow_headers", "expose_headers"};
        for (int i = 0; i < 3; i++) {
            if (*texts[i] && !is_field_value_text(*texts[i])) {
                size_t k = push_key(c, names[i]);
                return failf(c, "control characters are not allowed"), pop(c, k), -1;
            }
        }
        a->allow_methods = xstrdup(methods ? methods : "GET, PUT, POST, DELETE, PATCH, OPTIONS");
        a->allow_headers = xstrdup(headers ? headers
                                           : "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,"
                                             "Cache-Control,Content-Type,Range,Authorization");
        a->expose_headers = xstrdup(expose ? expose : "");
        a->allow_credentials = true;
        if (get_bool(c, o, "allow_credentials", &a->allow_credentials) < 0)
            return -1;
        json_t *ma = json_object_get(o, "max_age");
        if (ma) {
            if (!json_is_integer(ma) || json_integer_value(ma) < -1 || json_integer_value(ma) > 31536000) {
                size_t k = push_key(c, "max_age");
                return failf(c, "expected seconds from -1 (not sent) to 31536000"), pop(c, k), -1;
            }
            max_age = json_integer_value(ma);
        }
        a->max_age = max_age;
        break;
    }
    case ALB_ACT_TRAFFIC_LIMIT:
        if (get_u32(c, o, "qps", 1, 100000, &a->qps) < 0 || get_u32(c, o, "qps_per_ip", 1, 100000, &a->qps_per_ip) < 0)
            return -1;
        if (!a->qps && !a->qps_per_ip)
            return failf(c, "a traffic_limit sets qps, qps_per_ip or both");
        if (a->qps) {
            a->bucket = xcalloc(1, sizeof(*a->bucket));
            atomic_init(&a->bucket->state, 0);
        }
        if (a->qps_per_ip) {
            a->ip_buckets = xcalloc(ALB_IP_BUCKETS, sizeof(*a->ip_buckets));
            for (size_t i = 0; i < ALB_IP_BUCKETS; i++)
                atomic_flag_clear(&a->ip_buckets[i].lock);
        }
        break;
    case ALB_ACT_REQUEST_HEADER:
    case ALB_ACT_RESPONSE_HEADER: {
        const char *op, *name, *value;
        if (get_str(c, o, "op", true, &op) < 0 || get_str(c, o, "name", true, &name) < 0 ||
            get_str(c, o, "value", false, &value) < 0)
            return -1;
        if (!strcmp(op, "insert"))
            a->op = ALB_HDR_INSERT;
        else if (!strcmp(op, "replace"))
            a->op = ALB_HDR_REPLACE;
        else if (!strcmp(op, "remove"))
            a->op = ALB_HDR_REMOVE;
        else {
            size_t k = push_key(c, "op");
            return failf(c, "expected insert, replace or remove"), pop(c, k), -1;
        }
        if (!is_token_text(name)) {
            size_t k = push_key(c, "name");
            return failf(c, "not a valid header name"), pop(c, k), -1;
        }
        /* Fields that frame the message or the connection are ALB's to
         * write: letting a rule set them would let a config desynchronise
         * ALB and a backend (request smuggling). Host has rewrite. */
        static const char *const framing[] = {"content-length", "transfer-encoding", "connection", "keep-alive",
                                              "te", "trailer", "upgrade", "proxy-connection", "host", NULL};
        for (const char *const *f = framing; *f; f++) {
            if (strcasecmp(name, *f) == 0) {
                size_t k = push_key(c, "name");
                return failf(c, "%s is managed by ALB and cannot be changed by a rule", name), pop(c, k), -1;
            }
        }
        if ((a->op == ALB_HDR_REMOVE) == (value != NULL)) {
            size_t k = push_key(c, "value");
            return failf(c, a->op == ALB_HDR_REMOVE ? "not used by remove" : "required for insert and replace"),
                   pop(c, k), -1;
        }
        if (value && !is_field_value_text(value)) {
            size_t k = push_key(c, "value");
            return failf(c, "control characters are not allowed"), pop(c, k), -1;
        }
        a->name = xstrdup(name);
        a->name_len = strlen(name);
        a->value = xstrdup(value ? value : "");
        a->value_len = strlen(a->value);
        break;
    }
    }
    return 0;
}

static bool is_final(enum alb_action_type t)
{
    return t == ALB_ACT_FORWARD || t == ALB_ACT_REDIRECT || t == ALB_ACT_FIXED_RESPONSE;
}

static int parse_rule(struct ctx *c, json_t *o, struct alb_rule *r)
{
    static const char *const fields[] = {"name", "order", "match", "actions", "max_body_bytes", NULL};
    static const char *const match_fields[] = {"hosts", "path", "conditions", NULL};
    static const char *const path_fields[] = {"type", "value", "case_sensitive", NULL};
    if (check_fields(c, o, fields) < 0)
        return -1;
    r->order = ALB_DEFAULT_ORDER;
    if (get_u32(c, o, "order", 1, ALB_MAX_ORDER, &r->order) < 0)
        return -1;
    r->max_body_bytes = -1;
    if (json_object_get(o, "max_body_bytes")) {
        uint64_t v;
        if (get_uint(c, o, "max_body_bytes", 0, UINT64_MAX >> 2, &v) < 0)
            return -1;
        r->max_body_bytes = (int64_t)v;
    }
    json_t *m = json_object_get(o, "match");
    r->path = xstrdup("/");
    r->path_len = 1;
    r->path_match = ALB_PATH_PREFIX;
    r->case_sensitive = true;
    if (m) {
        size_t n = push_key(c, "match");
        if (check_fields(c, m, match_fields) < 0)
            return -1;
        char **hosts;
        size_t host_cnt;
        if (get_strings(c, m, "hosts", false, &hosts, &host_cnt) < 0)
            return -1;
        r->hosts = xcalloc(host_cnt, sizeof(*r->hosts));
        r->host_cnt = host_cnt;
        size_t hn = push_key(c, "hosts");
        for (size_t i = 0; i < r->host_cnt; i++) {
            size_t k = push_index(c, i);
            int rc = parse_host(c, hosts[i], &r->hosts[i]);
            if (rc < 0) {
                for (size_t j = 0; j < r->host_cnt; j++)
                    free(hosts[j]);
                free(hosts);
                return -1;
            }
            pop(c, k);
        }
        for (size_t j = 0; j < r->host_cnt; j++)
            free(hosts[j]);
        free(hosts);
        pop(c, hn);
        json_t *p = json_object_get(m, "path");
        if (p) {
            size_t pn = push_key(c, "path");
            if (check_fields(c, p, path_fields) < 0)
                return -1;
            const char *type, *value;
            if (get_str(c, p, "type", true, &type) < 0 || get_str(c, p, "value", true, &value) < 0)
                return -1;
            json_t *cs = json_object_get(p, "case_sensitive");
            if (!strcmp(type, "Prefix"))
                r->path_match = ALB_PATH_PREFIX;
            else if (!strcmp(type, "Exact"))
                r->path_match = ALB_PATH_EXACT;
            else if (!strcmp(type, "Regex"))
                r->path_match = ALB_PATH_REGEX;
            else {
                size_t k = push_key(c, "type");
                return failf(c, "expected one of Exact, Prefix, Regex; got \"%.32s\"", type), pop(c, k), -1;
            }
            if (cs && (!json_is_boolean(cs) || r->path_match != ALB_PATH_REGEX)) {
                size_t k = push_key(c, "case_sensitive");
                return failf(c, "a boolean, for Regex paths only"), pop(c, k), -1;
            }
            r->case_sensitive = !cs || json_is_true(cs);
            if (value[0] != '/' && r->path_match != ALB_PATH_REGEX) {
                size_t k = push_key(c, "value");
                return failf(c, "a path must start with '/'"), pop(c, k), -1;
            }
            free(r->path);
            r->path = xstrdup(value);
            r->path_len = strlen(value);
            if (r->path_match == ALB_PATH_REGEX) {
                char rerr[200];
                r->path_re = alb_regex_compile(value, !r->case_sensitive, false, rerr, sizeof(rerr));
                if (!r->path_re) {
                    size_t k = push_key(c, "value");
                    return failf(c, "%s", rerr), pop(c, k), -1;
                }
            }
            pop(c, pn);
        }
        int rc;
        json_t *conds = get_array(c, m, "conditions", false, &rc);
        if (rc < 0)
            return -1;
        r->cond_cnt = conds ? json_array_size(conds) : 0;
        r->conds = xcalloc(r->cond_cnt, sizeof(*r->conds));
        size_t cn = push_key(c, "conditions");
        for (size_t i = 0; i < r->cond_cnt; i++) {
            size_t k = push_index(c, i);
            if (parse_condition(c, json_array_get(conds, i), &r->conds[i]) < 0)
                return -1;
            pop(c, k);
        }
        pop(c, cn);
        pop(c, n);
    }
    int rc;
    json_t *actions = get_array(c, o, "actions", true, &rc);
    if (rc < 0)
        return -1;
    size_t an = push_key(c, "actions");
    r->action_cnt = json_array_size(actions);
    r->actions = xcalloc(r->action_cnt, sizeof(*r->actions));
    size_t finals = 0;
    for (size_t i = 0; i < r->action_cnt; i++) {
        size_t k = push_index(c, i);
        if (parse_action(c, json_array_get(actions, i), &r->actions[i]) < 0)
            return -1;
        if (is_final(r->actions[i].type)) {
            finals++;
            r->final = &r->actions[i];
            if (i + 1 != r->action_cnt)
                return failf(c, "the final action (forward, redirect, fixed_response) must come last"), -1;
        }
        pop(c, k);
    }
    if (finals != 1)
        return failf(c, "expected exactly one final action (forward, redirect or fixed_response)");
    size_t limits = 0, cors = 0, mirrors = 0;
    for (size_t i = 0; i < r->action_cnt; i++) {
        limits += r->actions[i].type == ALB_ACT_TRAFFIC_LIMIT;
        cors += r->actions[i].type == ALB_ACT_CORS;
        mirrors += r->actions[i].type == ALB_ACT_MIRROR;
    }
    if (limits > 1 || cors > 1 || mirrors > 1)
        return failf(c, "at most one traffic_limit, one cors and one mirror action per rule");
    if (mirrors && r->final->type != ALB_ACT_FORWARD)
        return failf(c, "a mirror goes with a forward: it copies what is forwarded");
    pop(c, an);
    return 0;
}

/* The listener's "forwarding" object (may be NULL: the defaults). */
static int parse_forwarding(struct ctx *c, json_t *o, struct alb_forwarding *f)
{
    static const char *const fields[] = {"x_forwarded_for",    "x_forwarded_proto",      "x_forwarded_port",
                                         "x_forwarded_host",   "x_real_ip",              "x_forwarded_client_srcport",
                                         "slb_id",             "client_cert_subject_dn", "client_cert_issuer_dn",
                                         "client_cert_fingerprint", "client_cert_verify", NULL};
    static const char *const cc_keys[] = {"client_cert_subject_dn", "client_cert_issuer_dn", "client_cert_fingerprint",
                                          "client_cert_verify"};
    *f = (struct alb_forwarding){ALB_XFF_APPEND, true, true, true, true, false, NULL, NULL, NULL, NULL, NULL};
    if (!o)
        return 0;
    size_t n = push_key(c, "forwarding");
    const char *xff, *slb_id;
    if (check_fields(c, o, fields) < 0 || get_str(c, o, "x_forwarded_for", false, &xff) < 0 ||
        get_bool(c, o, "x_forwarded_proto", &f->proto) < 0 || get_bool(c, o, "x_forwarded_port", &f->port) < 0 ||
        get_bool(c, o, "x_forwarded_host", &f->host) < 0 || get_bool(c, o, "x_real_ip", &f->real_ip) < 0 ||
        get_bool(c, o, "x_forwarded_client_srcport", &f->client_port) < 0 ||
        get_str(c, o, "slb_id", false, &slb_id) < 0)
        return -1;
    if (xff && !strcmp(xff, "remove"))
        f->xff = ALB_XFF_REMOVE;
    else if (xff && !strcmp(xff, "keep"))
        f->xff = ALB_XFF_KEEP;
    else if (xff && strcmp(xff, "append")) {
        push_key(c, "x_forwarded_for");
        return failf(c, "expected append, remove or keep");
    }
    if (slb_id && (!slb_id[0] || strlen(slb_id) > 253 || !is_field_value_text(slb_id))) {
        push_key(c, "slb_id");
        return failf(c, "expected 1-253 characters without control characters");
    }
    f->slb_id = slb_id ? xstrdup(slb_id) : NULL;
    char **cc[] = {&f->cc_subject, &f->cc_issuer, &f->cc_fingerprint, &f->cc_verify};
    for (size_t i = 0; i < 4; i++) {
        const char *name;
        if (get_str(c, o, cc_keys[i], false, &name) < 0)
            return -1;
        if (name && (!name[0] || strlen(name) > 64 || !is_token_text(name))) {
            push_key(c, cc_keys[i]);
            return failf(c, "expected a header name");
        }
        *cc[i] = name ? xstrdup(name) : NULL;
    }
    pop(c, n);
    return 0;
}

static void free_rule(struct alb_rule *r);

/* Parses the array <rules> into a new set (one reference), or NULL. */
static struct alb_rule_set *parse_rule_set(struct ctx *c, json_t *rules)
{
    struct alb_rule_set *set = xcalloc(1, sizeof(*set));
    atomic_init(&set->refcnt, 1);
    set->cnt = json_array_size(rules);
    set->rules = xcalloc(set->cnt, sizeof(*set->rules));
    for (size_t i = 0; i < set->cnt; i++) {
        size_t k = push_index(c, i);
        if (parse_rule(c, json_array_get(rules, i), &set->rules[i]) < 0) {
            alb_rule_set_unref(set);
            return NULL;
        }
        pop(c, k);
    }
    return set;
}

struct alb_rule_set *alb_rule_set_parse(struct alb_config_builder *b, json_t *rules, char *err, size_t err_len)
{
    struct ctx c = {.err = err, .err_len = err_len, .path = "", .builder = b, .may_add_backends = true};
    if (!json_is_array(rules)) {
        failf(&c, "expected an array of rules");
        return NULL;
    }
    return parse_rule_set(&c, rules);
}

struct alb_rule_set *alb_rule_set_ref(struct alb_rule_set *s)
{
    atomic_fetch_add_explicit(&s->refcnt, 1, memory_order_relaxed);
    return s;
}

void alb_rule_set_unref(struct alb_rule_set *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->cnt; i++)
        free_rule(&s->rules[i]);
    free(s->rules);
    free(s);
}

/* Reads listener <o> into <l>: its own "rules" (as a set), then <extra>. */
static int parse_listener(struct ctx *c, struct alb_config *cfg, json_t *o, struct alb_listener_cfg *l,
                          struct alb_rule_set *const *extra, size_t extra_cnt)
{
    static const char *const fields[] = {"name", "address", "port", "protocol", "timeouts", "limits", "rules", "acl",
                                         "forwarding", "gzip", "tls", "h2c", NULL};
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
    l->https = proto && !strcmp(proto, "HTTPS");
    if (proto && strcmp(proto, "HTTP") != 0 && !l->https) {
        size_t n = push_key(c, "protocol");
        return failf(c, "unsupported protocol \"%.32s\" (supported: HTTP, HTTPS)", proto), pop(c, n), -1;
    }
    if (!l->https && json_object_get(o, "tls")) {
        push_key(c, "tls");
        return failf(c, "only for an HTTPS listener");
    }
    if (l->https && parse_tls(c, json_object_get(o, "tls"), &l->tls) < 0)
        return -1;
    if (!addr)
        addr = c->default_address ? c->default_address : "0.0.0.0";
    if (!alb_addr_parse(addr, l->port, &l->addr, &l->addr_len)) {
        size_t n = push_key(c, "address");
        return failf(c, "expected a numeric IPv4 or IPv6 address, got \"%.64s\"", addr), pop(c, n), -1;
    }
    l->address = xstrdup(addr);
    char defname[32];
    snprintf(defname, sizeof(defname), "%s-%u", l->https ? "https" : "http", (unsigned)l->port);
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
    if (parse_forwarding(c, json_object_get(o, "forwarding"), &l->forwarding) < 0 ||
        get_bool(c, o, "gzip", &l->gzip) < 0 || get_bool(c, o, "h2c", &l->h2c) < 0)
        return -1;
    json_t *acl = json_object_get(o, "acl");
    if (acl) {
        static const char *const acl_fields[] = {"type", "cidrs", NULL};
        size_t n = push_key(c, "acl");
        const char *type;
        char **cidrs;
        size_t cnt;
        if (check_fields(c, acl, acl_fields) < 0 || get_str(c, acl, "type", true, &type) < 0)
            return -1;
        if (strcmp(type, "allow") && strcmp(type, "deny")) {
            size_t k = push_key(c, "type");
            return failf(c, "expected allow or deny"), pop(c, k), -1;
        }
        if (get_strings(c, acl, "cidrs", true, &cidrs, &cnt) < 0)
            return -1;
        l->acl_allow = !strcmp(type, "allow");
        l->acl = xcalloc(cnt, sizeof(*l->acl));
        int bad = -1;
        for (size_t i = 0; i < cnt; i++) {
            if (bad < 0 && !alb_cidr_parse(cidrs[i], &l->acl[i]))
                bad = (int)i;
            free(cidrs[i]);
        }
        free(cidrs);
        l->acl_cnt = cnt;
        if (bad >= 0 || cnt == 0) {
            push_key(c, "cidrs"); /* the error names the path; nothing pops after a failure */
            if (bad >= 0)
                push_index(c, (size_t)bad);
            return failf(c, cnt ? "expected an IPv4 or IPv6 CIDR" : "at least one CIDR"), -1;
        }
        pop(c, n);
    }
    int rc;
    json_t *rules = get_array(c, o, "rules", false, &rc);
    if (rc < 0)
        return -1;
    bool own = rules && json_array_size(rules) > 0;
    l->sets = xcalloc((own ? 1 : 0) + extra_cnt, sizeof(*l->sets));
    if (own) {
        size_t n = push_key(c, "rules");
        if (!(l->sets[l->set_cnt] = parse_rule_set(c, rules)))
            return -1;
        l->set_cnt++;
        pop(c, n);
    }
    for (size_t i = 0; i < extra_cnt; i++)
        l->sets[l->set_cnt++] = alb_rule_set_ref(extra[i]);
    for (size_t i = 0; i < l->set_cnt; i++)
        l->rule_cnt += l->sets[i]->cnt;
    l->rules = xcalloc(l->rule_cnt, sizeof(*l->rules));
    size_t at = 0;
    for (size_t i = 0; i < l->set_cnt; i++)
        for (size_t k = 0; k < l->sets[i]->cnt; k++, at++) {
            l->rules[at] = l->sets[i]->rules[k];
            l->rules[at].index = at;
        }
    /* every backend the rules forward or mirror to is in this snapshot */
    for (size_t i = 0; i < l->rule_cnt; i++)
        for (size_t a = 0; a < l->rules[i].action_cnt; a++)
            for (size_t g = 0; g < l->rules[i].actions[a].group_cnt; g++) {
                size_t pos = l->rules[i].actions[a].groups[g].backend;
                if (pos >= cfg->backend_cnt || !cfg->backends[pos].name) {
                    const char *name = pos < c->builder->cnt ? c->builder->names[pos] : NULL;
                    push_key(c, "rules");
                    push_index(c, i);
                    return failf(c, "forwards to backend \"%.64s\", which is not in backends", name ? name : "?");
                }
            }
    return 0;
}

bool alb_listener_same_bind(const struct alb_listener_cfg *a, const struct alb_listener_cfg *b)
{
    return a->port == b->port && a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

static void free_backend_settings(struct alb_backend *b)
{
    free(b->health_check.path);
    free(b->session.cookie_name);
    free(b->name);
}

static void free_endpoints(struct alb_backend *b)
{
    for (size_t j = 0; j < b->ep_cnt; j++)
        free(b->eps[j].address);
    free(b->eps);
}

/* The backends of <root>, each at its builder position. */
static int parse_backends(struct ctx *c, json_t *root, struct alb_config *cfg)
{
    int rc;
    json_t *backends = get_array(c, root, "backends", false, &rc);
    if (rc < 0)
        return -1;
    size_t cnt = backends ? json_array_size(backends) : 0;
    struct alb_backend *parsed = xcalloc(cnt, sizeof(*parsed));
    size_t n = push_key(c, "backends"), done = 0;
    for (; done < cnt && rc == 0; done++) {
        size_t k = push_index(c, done);
        rc = parse_backend(c, json_array_get(backends, done), &parsed[done]);
        if (rc == 0) {
            parsed[done].index = alb_config_builder_position(c->builder, parsed[done].name);
            pop(c, k);
        }
    }
    if (rc == 0) {
        pop(c, n);
        cfg->backend_cnt = c->builder->cnt;
        cfg->backends = xcalloc(cfg->backend_cnt, sizeof(*cfg->backends));
    }
    for (size_t i = 0; i < done; i++) {
        struct alb_backend *slot = rc == 0 ? &cfg->backends[parsed[i].index] : NULL;
        if (slot && slot->name) {
            push_key(c, "backends");
            push_index(c, i);
            rc = failf(c, "duplicate backend name \"%.64s\"", parsed[i].name);
            slot = NULL;
        }
        if (slot) {
            *slot = parsed[i];
        } else {
            free_backend_settings(&parsed[i]);
            free_endpoints(&parsed[i]);
        }
    }
    free(parsed);
    return rc;
}

static int parse_root(struct ctx *c, json_t *root, struct alb_config *cfg, struct alb_rule_set *const *const *sets,
                      const size_t *set_cnt, size_t set_lists)
{
    /* "generation" is what /config shows; accepted so that its output loads
     * as it is, and ignored: a generation is given by publishing. */
    static const char *const fields[] = {"version", "generation", "listeners", "backends", NULL};
    if (check_fields(c, root, fields) < 0)
        return -1;
    uint64_t ignored = 0;
    if (get_uint(c, root, "generation", 0, UINT64_MAX >> 1, &ignored) < 0)
        return -1;
    uint64_t version = 0;
    if (!json_object_get(root, "version")) {
        size_t n = push_key(c, "version");
        return failf(c, "required field missing (this build reads version %d)", ALB_CONFIG_VERSION), pop(c, n), -1;
    }
    if (get_uint(c, root, "version", ALB_CONFIG_VERSION, ALB_CONFIG_VERSION, &version) < 0)
        return -1;
    if (parse_backends(c, root, cfg) < 0)
        return -1;
    int rc;
    json_t *listeners = get_array(c, root, "listeners", true, &rc);
    if (rc < 0)
        return -1;
    cfg->listener_cnt = json_array_size(listeners);
    if (set_lists && set_lists != cfg->listener_cnt)
        return failf(c, "%zu listeners for %zu lists of rule sets", cfg->listener_cnt, set_lists);
    cfg->listeners = xcalloc(cfg->listener_cnt, sizeof(*cfg->listeners));
    size_t n = push_key(c, "listeners");
    for (size_t i = 0; i < cfg->listener_cnt; i++) {
        size_t k = push_index(c, i);
        if (parse_listener(c, cfg, json_array_get(listeners, i), &cfg->listeners[i], set_lists ? sets[i] : NULL,
                           set_lists ? set_cnt[i] : 0) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (alb_listener_same_bind(&cfg->listeners[j], &cfg->listeners[i]))
                return failf(c, "listener on the same address and port as listeners[%zu]", j);
        pop(c, k);
    }
    pop(c, n);
    return 0;
}

struct alb_config *alb_config_assemble(struct alb_config_builder *b, json_t *root, const char *default_address,
                                       struct alb_rule_set *const *const *sets, const size_t *set_cnt,
                                       size_t set_lists, char *err, size_t err_len)
{
    struct ctx c = {.err = err, .err_len = err_len, .path = "", .default_address = default_address, .builder = b};
    struct alb_config *cfg = xcalloc(1, sizeof(*cfg));
    atomic_init(&cfg->refcnt, 1);
    if (parse_root(&c, root, cfg, sets, set_cnt, set_lists) < 0) {
        alb_config_free(cfg);
        return NULL;
    }
    builder_release_unused(b, cfg);
    return cfg;
}

struct alb_config *alb_config_from_json(json_t *root, const char *default_address, char *err, size_t err_len)
{
    struct alb_config_builder b;
    alb_config_builder_init(&b);
    struct alb_config *cfg = alb_config_assemble(&b, root, default_address, NULL, NULL, 0, err, err_len);
    alb_config_builder_deinit(&b);
    return cfg;
}

struct alb_config *alb_config_parse(const char *text, size_t len, const char *default_address, char *err,
                                    size_t err_len)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, err_len, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    struct alb_config *cfg = alb_config_from_json(root, default_address, err, err_len);
    json_decref(root);
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

static void free_rule(struct alb_rule *r)
{
    for (size_t h = 0; h < r->host_cnt; h++)
        free(r->hosts[h]);
    free(r->hosts);
    free(r->path);
    alb_regex_free(r->path_re);
    for (size_t i = 0; i < r->cond_cnt; i++) {
        struct alb_condition *cd = &r->conds[i];
        for (size_t v = 0; v < cd->value_cnt; v++) {
            if (cd->values)
                free(cd->values[v]);
            if (cd->res)
                alb_regex_free(cd->res[v]);
        }
        free(cd->values);
        free(cd->value_lens);
        free(cd->res);
        free(cd->cidrs);
        free(cd->key);
    }
    free(r->conds);
    for (size_t i = 0; i < r->action_cnt; i++) {
        struct alb_action *a = &r->actions[i];
        free(a->groups);
        free(a->scheme.text);
        free(a->host.text);
        free(a->port.text);
        free(a->path.text);
        free(a->query.text);
        free(a->content_type);
        free(a->body);
        free(a->name);
        free(a->value);
        for (size_t o = 0; o < a->origin_cnt; o++)
            free(a->origins[o]);
        free(a->origins);
        free(a->allow_methods);
        free(a->allow_headers);
        free(a->expose_headers);
        free(a->bucket);
        free(a->ip_buckets);
    }
    free(r->actions);
}

/* The part of a snapshot that is always its own: the endpoints, the
 * backends array and the struct; then its base's reference, if any. */
static void free_endpoints_and_backends(struct alb_config *c)
{
    for (size_t i = 0; i < c->backend_cnt; i++)
        free_endpoints(&c->backends[i]);
    free(c->backends);
    alb_config_unref(c->base);
    free(c);
}

void alb_config_free(struct alb_config *c)
{
    if (!c)
        return;
    if (c->base) { /* listeners and backend settings are the base's */
        free_endpoints_and_backends(c);
        return;
    }
    for (size_t i = 0; i < c->listener_cnt; i++) {
        struct alb_listener_cfg *l = &c->listeners[i];
        if (l->router && c->router_free)
            c->router_free(l->router);
        for (size_t j = 0; j < l->set_cnt; j++)
            alb_rule_set_unref(l->sets[j]);
        free(l->sets);
        free(l->rules);
        free(l->name);
        free(l->address);
        free(l->acl);
        free(l->forwarding.slb_id);
        free(l->forwarding.cc_subject);
        free(l->forwarding.cc_issuer);
        free(l->forwarding.cc_fingerprint);
        free(l->forwarding.cc_verify);
        free_tls(&l->tls, c->tls_free);
    }
    free(c->listeners);
    for (size_t i = 0; i < c->backend_cnt; i++)
        free_backend_settings(&c->backends[i]);
    free_endpoints_and_backends(c);
}

struct alb_config *alb_config_with_endpoints(struct alb_config *cur, json_t *endpoints, char *err, size_t err_len)
{
    struct alb_config *base = cur->base ? cur->base : cur;
    struct ctx c = {.err = err, .err_len = err_len, .path = ""};
    struct alb_config *cfg = xcalloc(1, sizeof(*cfg));
    atomic_init(&cfg->refcnt, 1);
    cfg->router_free = base->router_free;
    cfg->base = alb_config_ref(base);
    cfg->listeners = base->listeners;
    cfg->listener_cnt = base->listener_cnt;
    cfg->backends = xcalloc(base->backend_cnt, sizeof(*cfg->backends));
    cfg->backend_cnt = base->backend_cnt;
    for (size_t i = 0; i < base->backend_cnt; i++) {
        struct alb_backend *b = &cfg->backends[i];
        *b = base->backends[i]; /* settings borrowed from base */
        b->eps = NULL;
        b->ep_cnt = 0;
        if (!b->name)
            continue; /* an unused position */
        size_t n = push_key(&c, "backends");
        size_t m = push_index(&c, i);
        json_t *holder = json_pack("{s:O*}", "endpoints", json_object_get(endpoints, b->name));
        int rc = json_object_get(holder, "endpoints") ? parse_endpoints(&c, holder, b)
                                                      : failf(&c, "no endpoints for backend %.200s", b->name);
        json_decref(holder);
        if (rc < 0) {
            alb_config_unref(cfg);
            return NULL;
        }
        pop(&c, m);
        pop(&c, n);
    }
    return cfg;
}

/* ---- serialisation -------------------------------------------------------- */

/* json_pack's "s" needs valid UTF-8; every string here was read from JSON
 * or validated as ASCII, so it is. Allocation failures surface as NULL. */
static json_t *strings_to_json(char *const *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(v[i]));
    return arr;
}

static json_t *condition_to_json(const struct alb_condition *cd)
{
    static const char *const names[] = {"header", "cookie", "query", "method", "source_ip"};
    json_t *o = json_pack("{s:s}", "type", names[cd->type]);
    if (!o)
        return NULL;
    if (cd->key)
        json_object_set_new(o, "name", json_string(cd->key));
    json_object_set_new(o, "values", strings_to_json(cd->values, cd->value_cnt));
    if (cd->regex)
        json_object_set_new(o, "regex", json_true());
    return o;
}

static void set_template(json_t *o, const char *key, const struct alb_template *t)
{
    if (t->text)
        json_object_set_new(o, key, json_string(t->text));
}

static json_t *action_to_json(const struct alb_config *c, const struct alb_action *a)
{
    static const char *const names[] = {"forward", "redirect", "fixed_response", "rewrite", "request_header",
                                        "response_header", "cors", "traffic_limit", "mirror"};
    static const char *const ops[] = {"insert", "replace", "remove"};
    json_t *o = json_pack("{s:s}", "type", names[a->type]);
    if (!o)
        return NULL;
    switch (a->type) {
    case ALB_ACT_FORWARD:
    case ALB_ACT_MIRROR: {
        json_t *g = json_array();
        for (size_t i = 0; g && i < a->group_cnt; i++)
            json_array_append_new(g, json_pack("{s:s,s:i}", "name", c->backends[a->groups[i].backend].name, "weight",
                                               (int)a->groups[i].weight));
        json_object_set_new(o, "backends", g);
        break;
    }
    case ALB_ACT_REDIRECT:
        json_object_set_new(o, "code", json_integer(a->code));
        set_template(o, "scheme", &a->scheme);
        set_template(o, "host", &a->host);
        set_template(o, "port", &a->port);
        set_template(o, "path", &a->path);
        set_template(o, "query", &a->query);
        break;
    case ALB_ACT_FIXED_RESPONSE:
        json_object_set_new(o, "status", json_integer(a->code));
        json_object_set_new(o, "content_type", json_string(a->content_type));
        json_object_set_new(o, "body", json_stringn(a->body, a->body_len));
        break;
    case ALB_ACT_REWRITE:
        set_template(o, "host", &a->host);
        set_template(o, "path", &a->path);
        set_template(o, "query", &a->query);
        break;
    case ALB_ACT_CORS:
        json_object_set_new(o, "allow_origins", strings_to_json(a->origins, a->origin_cnt));
        json_object_set_new(o, "allow_methods", json_string(a->allow_methods));
        json_object_set_new(o, "allow_headers", json_string(a->allow_headers));
        json_object_set_new(o, "expose_headers", json_string(a->expose_headers));
        json_object_set_new(o, "allow_credentials", json_boolean(a->allow_credentials));
        json_object_set_new(o, "max_age", json_integer(a->max_age));
        break;
    case ALB_ACT_TRAFFIC_LIMIT:
        if (a->qps)
            json_object_set_new(o, "qps", json_integer(a->qps));
        if (a->qps_per_ip)
            json_object_set_new(o, "qps_per_ip", json_integer(a->qps_per_ip));
        break;
    case ALB_ACT_REQUEST_HEADER:
    case ALB_ACT_RESPONSE_HEADER:
        json_object_set_new(o, "op", json_string(ops[a->op]));
        json_object_set_new(o, "name", json_string(a->name));
        if (a->op != ALB_HDR_REMOVE)
            json_object_set_new(o, "value", json_string(a->value));
        break;
    }
    return o;
}

static json_t *rule_to_json(const struct alb_config *c, const struct alb_rule *r)
{
    static const char *const types[] = {"Prefix", "Exact", "Regex"};
    json_t *path = json_pack("{s:s,s:s}", "type", types[r->path_match], "value", r->path);
    if (path && r->path_match == ALB_PATH_REGEX)
        json_object_set_new(path, "case_sensitive", json_boolean(r->case_sensitive));
    json_t *conds = json_array();
    for (size_t i = 0; conds && i < r->cond_cnt; i++)
        json_array_append_new(conds, condition_to_json(&r->conds[i]));
    json_t *actions = json_array();
    for (size_t i = 0; actions && i < r->action_cnt; i++)
        json_array_append_new(actions, action_to_json(c, &r->actions[i]));
    json_t *o = json_pack("{s:i,s:{s:o,s:o,s:o},s:o}", "order", (int)r->order, "match", "hosts",
                          strings_to_json(r->hosts, r->host_cnt), "path", path, "conditions", conds, "actions", actions);
    if (o && r->max_body_bytes >= 0)
        json_object_set_new(o, "max_body_bytes", json_integer(r->max_body_bytes));
    return o;
}

static json_t *cidr_to_json(const struct alb_cidr *c)
{
    char ip[64], text[80];
    inet_ntop(c->family, c->addr, ip, sizeof(ip));
    snprintf(text, sizeof(text), "%s/%u", ip, (unsigned)c->prefix_len);
    return json_string(text);
}

static void client_auth_to_json(json_t *o, const struct alb_client_auth *a)
{
    static const char *const modes[] = {"off", "on", "optional", "optional_no_ca"};
    if (!o || a->verify == ALB_CLIENT_VERIFY_OFF)
        return;
    json_t *j = json_pack("{s:s,s:I,s:b}", "verify", modes[a->verify], "depth", (json_int_t)a->depth,
                          "pass_certificate", a->pass_certificate);
    if (j && a->ca_pem)
        json_object_set_new(j, "ca_pem", json_string(a->ca_pem));
    json_object_set_new(o, "client_auth", j);
}

/* Private keys are never shown: "(redacted)" stands for them. */
static json_t *tls_to_json(const struct alb_listener_tls *t)
{
    json_t *certs = json_array();
    for (size_t i = 0; certs && i < t->cert_cnt; i++) {
        json_t *one = json_pack("{s:s,s:o,s:s,s:s}", "name", t->certs[i].name, "hosts",
                                strings_to_json(t->certs[i].hosts, t->certs[i].host_cnt), "cert_pem",
                                t->certs[i].cert_pem, "key_pem", REDACTED_KEY);
        client_auth_to_json(one, &t->certs[i].client_auth);
        json_array_append_new(certs, one);
    }
    json_t *o = json_pack("{s:s,s:b,s:o}", "policy", alb_tls_policy_names[t->policy], "http2", t->http2,
                          "certificates", certs);
    if (o && t->default_cert >= 0)
        json_object_set_new(o, "default_certificate", json_string(t->certs[t->default_cert].name));
    else if (o && t->cert_cnt)
        json_object_set_new(o, "default_certificate", json_null());
    if (o && t->hsts)
        json_object_set_new(o, "hsts", json_string(t->hsts));
    client_auth_to_json(o, &t->client_auth);
    return o;
}

static json_t *listener_to_json(const struct alb_config *c, const struct alb_listener_cfg *l)
{
    json_t *rules = json_array();
    for (size_t i = 0; rules && i < l->rule_cnt; i++)
        json_array_append_new(rules, rule_to_json(c, &l->rules[i]));
    json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:{s:I,s:I,s:I},s:{s:I,s:I},s:o}", "name", l->name, "address", l->address,
                     "port", (int)l->port, "protocol", l->https ? "HTTPS" : "HTTP", "timeouts", "client_header_ms",
                     (json_int_t)l->client_header_timeout_ms, "idle_ms", (json_int_t)l->idle_timeout_ms,
                     "tunnel_idle_ms", (json_int_t)l->tunnel_idle_timeout_ms, "limits", "max_body_bytes",
                     (json_int_t)l->max_body_bytes, "max_connections", (json_int_t)l->max_connections, "rules",
                     rules);
    if (o && l->acl_cnt) {
        json_t *cidrs = json_array();
        for (size_t i = 0; cidrs && i < l->acl_cnt; i++)
            json_array_append_new(cidrs, cidr_to_json(&l->acl[i]));
        json_object_set_new(o, "acl", json_pack("{s:s,s:o}", "type", l->acl_allow ? "allow" : "deny", "cidrs", cidrs));
    }
    static const char *const xff[] = {"append", "remove", "keep"};
    const struct alb_forwarding *f = &l->forwarding;
    json_t *fw = json_pack("{s:s,s:b,s:b,s:b,s:b,s:b}", "x_forwarded_for", xff[f->xff], "x_forwarded_proto", f->proto,
                           "x_forwarded_port", f->port, "x_forwarded_host", f->host, "x_real_ip", f->real_ip,
                           "x_forwarded_client_srcport", f->client_port);
    if (fw && f->slb_id)
        json_object_set_new(fw, "slb_id", json_string(f->slb_id));
    const char *cc_names[] = {f->cc_subject, f->cc_issuer, f->cc_fingerprint, f->cc_verify};
    static const char *const cc_keys[] = {"client_cert_subject_dn", "client_cert_issuer_dn", "client_cert_fingerprint",
                                          "client_cert_verify"};
    for (size_t i = 0; fw && i < 4; i++)
        if (cc_names[i])
            json_object_set_new(fw, cc_keys[i], json_string(cc_names[i]));
    if (o) {
        json_object_set_new(o, "forwarding", fw);
        json_object_set_new(o, "gzip", json_boolean(l->gzip));
        json_object_set_new(o, "h2c", json_boolean(l->h2c));
        if (l->https)
            json_object_set_new(o, "tls", tls_to_json(&l->tls));
    } else {
        json_decref(fw);
    }
    return o;
}

static json_t *backend_to_json(const struct alb_backend *b)
{
    json_t *eps = json_array();
    for (size_t i = 0; eps && i < b->ep_cnt; i++)
        json_array_append_new(eps, json_pack("{s:s,s:i,s:i,s:b}", "address", b->eps[i].address, "port",
                                             (int)b->eps[i].port, "weight", (int)b->eps[i].weight, "ready",
                                             b->eps[i].ready));
    json_t *o = json_pack("{s:s,s:s,s:s,s:{s:I,s:I},s:o}", "name", b->name, "protocol", b->h2 ? (b->tls ? "h2" : "h2c") : b->tls ? "https" : "http", "algorithm",
                          "round_robin", "timeouts", "connect_ms", (json_int_t)b->connect_timeout_ms, "response_ms",
                          (json_int_t)b->response_timeout_ms, "endpoints", eps);
    const struct alb_health_check *h = &b->health_check;
    if (o && h->path) {
        json_t *codes = json_array();
        for (int k = 0; codes && k < 5; k++)
            if (h->codes & (1u << k)) {
                char cls[4] = {(char)('1' + k), 'x', 'x', 0};
                json_array_append_new(codes, json_string(cls));
            }
        json_object_set_new(o, "health_check",
                            json_pack("{s:b,s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:o}", "enabled", h->enabled, "path", h->path,
                                      "port", (int)h->port, "method", h->method_get ? "GET" : "HEAD", "interval_ms",
                                      (json_int_t)h->interval_ms, "timeout_ms", (json_int_t)h->timeout_ms,
                                      "healthy_threshold", (json_int_t)h->healthy_threshold, "unhealthy_threshold",
                                      (json_int_t)h->unhealthy_threshold, "codes", codes));
    }
    const struct alb_session_persistence *sp = &b->session;
    if (o && sp->timeout_s) {
        json_t *j = json_pack("{s:b,s:s,s:I}", "enabled", sp->enabled, "type",
                              sp->server_cookie ? "server_cookie" : "insert_cookie", "timeout_s",
                              (json_int_t)sp->timeout_s);
        if (j && sp->cookie_name)
            json_object_set_new(j, "cookie_name", json_string(sp->cookie_name));
        json_object_set_new(o, "session_persistence", j);
    }
    return o;
}

static int cmp_backend_names(const void *a, const void *b)
{
    return strcmp((*(const struct alb_backend *const *)a)->name, (*(const struct alb_backend *const *)b)->name);
}

char *alb_config_to_json(const struct alb_config *c)
{
    json_t *listeners = json_array(), *backends = json_array();
    for (size_t i = 0; listeners && i < c->listener_cnt; i++)
        json_array_append_new(listeners, listener_to_json(c, &c->listeners[i]));
    /* by name: positions are an implementation detail with gaps */
    const struct alb_backend **by_name = xcalloc(c->backend_cnt, sizeof(*by_name));
    size_t named = 0;
    for (size_t i = 0; i < c->backend_cnt; i++)
        if (c->backends[i].name)
            by_name[named++] = &c->backends[i];
    qsort(by_name, named, sizeof(*by_name), cmp_backend_names);
    for (size_t i = 0; backends && i < named; i++)
        json_array_append_new(backends, backend_to_json(by_name[i]));
    free(by_name);
    json_t *root = json_pack("{s:i}", "version", ALB_CONFIG_VERSION);
    if (root && c->generation) /* only a published snapshot has one */
        json_object_set_new(root, "generation", json_integer((json_int_t)c->generation));
    if (root) {
        json_object_set_new(root, "listeners", listeners);
        json_object_set_new(root, "backends", backends);
    } else {
        json_decref(listeners);
        json_decref(backends);
    }
    if (!root)
        return NULL;
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

/* ---- comparing Kubernetes objects ------------------------------------------------- */

/* Whether objects <a> and <b> have the same members, <skip> aside, each
 * equal (metadata compared the same way, its resourceVersion aside). With
 * as many members on each side, every one of <a> found in <b> means <b>
 * has no other: one pass compares each member once. */
static bool same_members_but(json_t *a, json_t *b, const char *skip)
{
    if (json_object_size(a) - (json_object_get(a, skip) != NULL) !=
        json_object_size(b) - (json_object_get(b, skip) != NULL))
        return false;
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
        if (strcmp(k, skip) == 0)
            continue;
        json_t *w = json_object_get(b, k);
        bool meta = strcmp(k, "metadata") == 0 && json_is_object(v) && json_is_object(w);
        if (!w || (meta ? !same_members_but(v, w, "resourceVersion") : !json_equal(v, w)))
            return false;
    }
    return true;
}

bool alb_object_equal_but_status(json_t *a, json_t *b)
{
    if (a == b)
        return true;
    if (!json_is_object(a) || !json_is_object(b))
        return json_equal(a, b);
    return same_members_but(a, b, "status");
}

