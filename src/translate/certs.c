/* translate/certs.c : see certs.h. */
#include "translate/certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "tls/tls.h"

/* At most this much PEM per Secret value, as the folder source bounds files. */
#define MAX_PEM (1u << 20)

struct secret {
    char *ns, *name;        /* owned (one allocation) */
    json_t *obj;            /* one reference: the version last checked */
    bool tls_type;          /* type kubernetes.io/tls */
    char *cert_pem, *key_pem; /* owned; the last good pair, NULL: never good */
    struct alb_cert_info info; /* of the last good pair */
    char *problem;          /* owned; why the version now is not presented; NULL: it is */
    bool taken;             /* during an update: moved to the new list (its identity stays, for the search) */
};

struct cert_store {
    struct secret *v; /* owned; sorted by namespace, name */
    size_t cnt;
};

struct cert_store *cert_store_new(void) { return calloc(1, sizeof(struct cert_store)); }

static void secret_free(struct secret *s)
{
    free(s->ns);
    json_decref(s->obj);
    free(s->cert_pem);
    free(s->key_pem);
    alb_cert_info_free(&s->info);
    free(s->problem);
}

void cert_store_free(struct cert_store *cs)
{
    if (!cs)
        return;
    for (size_t i = 0; i < cs->cnt; i++)
        secret_free(&cs->v[i]);
    free(cs->v);
    free(cs);
}

static const char *str_of(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int cmp_id(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
    int c = strcmp(ns1, ns2);
    return c ? c : strcmp(n1, n2);
}

static int cmp_secrets(const void *a, const void *b)
{
    const struct secret *x = a, *y = b;
    return cmp_id(x->ns, x->name, y->ns, y->name);
}

static struct secret *find(struct cert_store *cs, const char *ns, const char *name)
{
    struct secret key = {.ns = (char *)ns, .name = (char *)name};
    return cs->cnt ? bsearch(&key, cs->v, cs->cnt, sizeof(*cs->v), cmp_secrets) : NULL;
}

/* The value of key <k> of the Secret: stringData as is, else data decoded.
 * NULL with *why when absent or not base64. */
char *cert_secret_value(json_t *secret, const char *k, const char **why)
{
    const char *plain = str_of(json_object_get(secret, "stringData"), k);
    if (plain)
        return strlen(plain) <= MAX_PEM ? strdup(plain) : (*why = "a value is larger than 1 MiB", NULL);
    const char *b64 = str_of(json_object_get(secret, "data"), k);
    if (!b64) {
        *why = strcmp(k, "ca.crt") ? "it has no tls.crt and tls.key" : "it has no ca.crt";
        return NULL;
    }
    size_t len = strlen(b64);
    if (len / 4 * 3 > MAX_PEM) {
        *why = "a value is larger than 1 MiB";
        return NULL;
    }
    char *out = malloc(len / 4 * 3 + 1);
    ssize_t n = out ? alb_base64_decode(b64, len, (unsigned char *)out, len / 4 * 3) : -1;
    if (n < 0 || memchr(out, '\0', (size_t)n)) {
        free(out);
        *why = "a value of data is not base64 text";
        return NULL;
    }
    out[n] = '\0';
    return out;
}

/* Checks the Secret's pair; on success it becomes the last good one. */
static void check(struct secret *s)
{
    const char *why = NULL;
    char *cert = cert_secret_value(s->obj, "tls.crt", &why);
    char *key = cert ? cert_secret_value(s->obj, "tls.key", &why) : NULL;
    char err[400];
    struct alb_cert_info info;
    free(s->problem);
    s->problem = NULL;
    if (cert && key && alb_tls_check_pair(cert, key, &info, err, sizeof(err)) == 0) {
        free(s->cert_pem);
        free(s->key_pem);
        alb_cert_info_free(&s->info);
        s->cert_pem = cert;
        s->key_pem = key;
        s->info = info;
        return;
    }
    s->problem = strdup(why ? why : err);
    free(cert);
    free(key);
}

void cert_store_update(struct cert_store *cs, json_t *const *secrets, size_t cnt)
{
    struct secret *next = calloc(cnt + 1, sizeof(*next));
    size_t n = 0;
    for (size_t i = 0; next && i < cnt; i++) {
        json_t *o = secrets[i];
        json_t *md = json_object_get(o, "metadata");
        const char *name = str_of(md, "name"), *ns = str_of(md, "namespace");
        const char *type = str_of(o, "type");
        ns = ns ? ns : "default";
        json_t *data = json_object_get(o, "data"), *sdata = json_object_get(o, "stringData");
        bool has_pair = json_object_get(data, "tls.crt") || json_object_get(sdata, "tls.crt");
        bool tls_type = type && !strcmp(type, "kubernetes.io/tls");
        if (!name || (!has_pair && !tls_type))
            continue; /* not a certificate */
        struct secret *old = find(cs, ns, name);
        struct secret *s = &next[n];
        if (old && !old->taken) {
            *s = *old;
            old->taken = true;
        } else {
            size_t ln = strlen(ns) + 1, lm = strlen(name) + 1;
            if (!(s->ns = malloc(ln + lm)))
                continue;
            memcpy(s->ns, ns, ln);
            s->name = memcpy(s->ns + ln, name, lm);
        }
        s->tls_type = tls_type;
        if (s->obj != o && !(s->obj && json_equal(s->obj, o))) {
            json_decref(s->obj);
            s->obj = json_incref(o);
            check(s);
        }
        n++;
    }
    if (!next)
        return; /* out of memory: keep what was known */
    for (size_t i = 0; i < cs->cnt; i++)
        if (!cs->v[i].taken)
            secret_free(&cs->v[i]); /* Secrets gone */
    free(cs->v);
    cs->v = next;
    cs->cnt = n;
    /* two objects with one identity: the later ones are dropped */
    qsort(cs->v, cs->cnt, sizeof(*cs->v), cmp_secrets);
    size_t w = 0;
    for (size_t i = 0; i < cs->cnt; i++) {
        if (w && !cmp_secrets(&cs->v[w - 1], &cs->v[i]))
            secret_free(&cs->v[i]);
        else
            cs->v[w++] = cs->v[i];
    }
    cs->cnt = w;
}

bool cert_store_get(struct cert_store *cs, const char *ns, const char *name, struct cert_pair *out,
                    const char **problem)
{
    struct secret *s = find(cs, ns, name);
    *problem = !s ? "not found, or not a TLS Secret" : s->problem;
    if (!s || !s->cert_pem)
        return false;
    *out = (struct cert_pair){s->cert_pem, s->key_pem, s->info.names, s->info.name_cnt, s->info.not_after, s->problem};
    return true;
}

bool cert_store_discover(struct cert_store *cs, const char *host, const char *ns, char *id, size_t id_len)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < cs->cnt; i++) {
            const struct secret *s = &cs->v[i];
            if (!s->tls_type || s->problem || !s->cert_pem || (pass == 0) != !strcmp(s->ns, ns))
                continue;
            if (alb_cert_covers(s->info.names, s->info.name_cnt, host)) {
                snprintf(id, id_len, "%s/%s", s->ns, s->name);
                return true;
            }
        }
    return false;
}
