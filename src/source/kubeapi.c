/* source/kubeapi.c : see kubeapi.h. The only file that includes curl. */
#include "source/kubeapi.h"

#include "core/base64.h"
#include "source/yaml.h"

#include <curl/curl.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ALB_VERSION
#define ALB_VERSION "0.1.0-dev"
#endif

#define CONNECT_TIMEOUT_MS 5000L
#define CALL_TIMEOUT_MS 30000L
#define MAX_CREDENTIAL_FILE (1u << 20)

struct blob {
    unsigned char *p; /* owned; NULL: none */
    size_t len;
};

struct alb_kube {
    char *server;             /* owned; no trailing slash */
    struct blob ca;           /* the CA bundle (PEM), or */
    char *ca_file;            /* owned; a file with it */
    bool insecure;            /* insecure-skip-tls-verify */
    char *token;              /* owned; a bearer token, or */
    char *token_file;         /* owned; a file read before each request */
    struct blob cert, key;    /* client certificate and key (PEM), or */
    char *cert_file, *key_file; /* owned; files with them */
};

static void blob_free(struct blob *b)
{
    free(b->p);
    b->p = NULL;
}

void alb_kube_free(struct alb_kube *k)
{
    if (!k)
        return;
    free(k->server);
    blob_free(&k->ca);
    free(k->ca_file);
    free(k->token);
    free(k->token_file);
    blob_free(&k->cert);
    blob_free(&k->key);
    free(k->cert_file);
    free(k->key_file);
    free(k);
}

const char *alb_kube_server(const struct alb_kube *k) { return k->server; }

/* Reads a small file whole (NUL-terminated); NULL with errno. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = malloc(MAX_CREDENTIAL_FILE + 1);
    size_t n = p ? fread(p, 1, MAX_CREDENTIAL_FILE + 1, f) : 0;
    bool bad = !p || ferror(f) || n > MAX_CREDENTIAL_FILE;
    fclose(f);
    if (bad) {
        free(p);
        errno = EFBIG;
        return NULL;
    }
    p[n] = '\0';
    if (len)
        *len = n;
    return p;
}

static bool curl_ready;

static void init_curl_once(void) { curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

/* libcurl is initialised once, by whichever thread calls first (the
 * informers start together). */
static bool init_curl(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_curl_once);
    return curl_ready;
}

/* ---- kubeconfig ---------------------------------------------------------------- */

/* The entry named <name> of the kubeconfig list <list> ("clusters", ...),
 * its <inner> member ("cluster", ...). */
static json_t *named(json_t *cfg, const char *list, const char *name, const char *inner)
{
    json_t *l = json_object_get(cfg, list);
    for (size_t i = 0; name && i < json_array_size(l); i++) {
        json_t *e = json_array_get(l, i);
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && !strcmp(n, name))
            return json_object_get(e, inner);
    }
    return NULL;
}

/* A path as kubectl resolves it: relative to the kubeconfig's folder. */
static char *path_from(const char *dir, const char *p)
{
    if (!p || !p[0])
        return NULL;
    char buf[PATH_MAX];
    if (p[0] == '/' || snprintf(buf, sizeof(buf), "%s/%s", dir, p) >= (int)sizeof(buf))
        return strdup(p);
    return strdup(buf);
}

/* A *-data field: base64 of PEM. */
static bool decode_data(json_t *v, struct blob *out)
{
    const char *s = json_string_value(v);
    if (!s)
        return true;
    size_t len = strlen(s);
    out->p = malloc(len / 4 * 3 + 4);
    ssize_t n = out->p ? alb_base64_decode(s, len, out->p, len / 4 * 3 + 4) : -1;
    if (n < 0) {
        blob_free(out);
        return false;
    }
    out->len = (size_t)n;
    return true;
}

struct alb_kube *alb_kube_from_kubeconfig(const char *path, char *err, size_t err_len)
{
    size_t len;
    char *text = slurp(path, &len);
    if (!text) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char yerr[256];
    json_t *docs = alb_yaml_load(text, len, yerr, sizeof(yerr));
    free(text);
    if (!docs) {
        snprintf(err, err_len, "%s: %s", path, yerr);
        return NULL;
    }
    json_t *cfg = json_array_get(docs, 0);
    const char *ctx_name = json_string_value(json_object_get(cfg, "current-context"));
    json_t *ctx = named(cfg, "contexts", ctx_name, "context");
    const char *cluster_name = json_string_value(json_object_get(ctx, "cluster"));
    const char *user_name = json_string_value(json_object_get(ctx, "user"));
    json_t *cluster = named(cfg, "clusters", cluster_name, "cluster");
    json_t *user = named(cfg, "users", user_name, "user");
    const char *server = json_string_value(json_object_get(cluster, "server"));
    struct alb_kube *k = NULL;
    if (!ctx_name || !ctx) {
        snprintf(err, err_len, "%s: current-context %s%s", path, ctx_name ? ctx_name : "",
                 ctx_name ? " is not among the contexts" : "is not set");
    } else if (!cluster || !server || (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))) {
        snprintf(err, err_len, "%s: context %s: cluster %s has no http(s) server", path, ctx_name,
                 cluster_name ? cluster_name : "(none)");
    } else if (!(k = calloc(1, sizeof(*k)))) {
        snprintf(err, err_len, "out of memory");
    } else {
        char dirbuf[PATH_MAX];
        snprintf(dirbuf, sizeof(dirbuf), "%s", path);
        const char *dir = dirname(dirbuf);
        k->server = strdup(server);
        size_t sl = k->server ? strlen(k->server) : 0;
        while (sl > 0 && k->server[sl - 1] == '/')
            k->server[--sl] = '\0';
        k->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
        k->ca_file = path_from(dir, json_string_value(json_object_get(cluster, "certificate-authority")));
        const char *token = json_string_value(json_object_get(user, "token"));
        k->token = token ? strdup(token) : NULL;
        k->token_file = path_from(dir, json_string_value(json_object_get(user, "tokenFile")));
        k->cert_file = path_from(dir, json_string_value(json_object_get(user, "client-certificate")));
        k->key_file = path_from(dir, json_string_value(json_object_get(user, "client-key")));
        const char *bad = NULL;
        if (!decode_data(json_object_get(cluster, "certificate-authority-data"), &k->ca))
            bad = "certificate-authority-data";
        else if (!decode_data(json_object_get(user, "client-certificate-data"), &k->cert))
            bad = "client-certificate-data";
        else if (!decode_data(json_object_get(user, "client-key-data"), &k->key))
            bad = "client-key-data";
        if (bad) {
            snprintf(err, err_len, "%s: %s is not base64", path, bad);
        } else if (!k->server) {
            snprintf(err, err_len, "out of memory");
            bad = "";
        } else if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
            snprintf(err, err_len, "%s: user %s: exec and auth-provider credentials are not supported", path,
                     user_name ? user_name : "");
            bad = "";
        }
        if (bad) {
            alb_kube_free(k);
            k = NULL;
        }
    }
    json_decref(docs);
    return k;
}

struct alb_kube *alb_kube_in_cluster(const char *sa_dir, char *err, size_t err_len)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !host[0]) {
        snprintf(err, err_len, "KUBERNETES_SERVICE_HOST is not set: not in a cluster (use --kubeconfig)");
        return NULL;
    }
    struct alb_kube *k = calloc(1, sizeof(*k));
    char url[512];
    /* an IPv6 address in a URL is bracketed */
    snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
             port && port[0] ? port : "443");
    char token[PATH_MAX], ca[PATH_MAX];
    snprintf(token, sizeof(token), "%s/token", sa_dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", sa_dir);
    if (!k || !(k->server = strdup(url)) || !(k->token_file = strdup(token)) || !(k->ca_file = strdup(ca))) {
        alb_kube_free(k);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    char *t = slurp(token, NULL);
    if (!t) {
        snprintf(err, err_len, "%s: %s", token, strerror(errno));
        alb_kube_free(k);
        return NULL;
    }
    free(t);
    return k;
}

bool alb_kube_escape(const char *s, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                     ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (o + (plain ? 1 : 3) >= len)
            return false;
        if (plain) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    if (o >= len)
        return false;
    out[o] = '\0';
    return true;
}

/* ---- requests -------------------------------------------------------------------- */

struct xfer {
    CURL *h;
    const atomic_bool *stop;
    /* a whole body */
    char *buf;
    size_t len, cap, max;
    bool too_big;
    /* a watch: lines go to fn once the status is 2xx */
    alb_kube_event_fn *fn;
    void *ctx;
    bool ended_by_fn;
    bool bad_line;
    bool opened; /* fn was told the stream is open */
};

static int on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    struct xfer *x = p;
    return x->stop && atomic_load(x->stop) ? 1 : 0;
}

static bool append(struct xfer *x, const char *data, size_t n)
{
    if (x->len + n > x->max) {
        x->too_big = true;
        return false;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b)
            return false;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return true;
}

static bool status_ok(CURL *h)
{
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code >= 200 && code < 300;
}

/* Hands every complete line in the buffer to the watch's fn. */
static bool deliver_lines(struct xfer *x)
{
    size_t start = 0;
    for (size_t i = 0; i < x->len; i++) {
        if (x->buf[i] != '\n')
            continue;
        if (i > start) {
            json_error_t je;
            json_t *ev = json_loadb(x->buf + start, i - start, 0, &je);
            if (!ev) {
                x->bad_line = true;
                return false;
            }
            bool go_on = x->fn(x->ctx, ev);
            json_decref(ev);
            if (!go_on) {
                x->ended_by_fn = true;
                return false;
            }
        }
        start = i + 1;
    }
    memmove(x->buf, x->buf + start, x->len - start);
    x->len -= start;
    return true;
}

/* The end of a watch's response head: tells fn the stream is open (2xx). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *p)
{
    struct xfer *x = p;
    size_t n = size * nmemb;
    if ((n == 2 && data[0] == '\r' && data[1] == '\n') || (n == 1 && data[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300 && !x->opened) {
            x->opened = true;
            if (!x->fn(x->ctx, NULL)) {
                x->ended_by_fn = true;
                return 0;
            }
        }
    }
    return n;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *p)
{
    struct xfer *x = p;
    size_t n = size * nmemb;
    if (!append(x, data, n))
        return 0;
    if (x->fn && status_ok(x->h) && !deliver_lines(x))
        return 0;
    return n;
}

void alb_kube_conn_close(struct alb_kube_conn *c)
{
    if (c->h)
        curl_easy_cleanup(c->h);
    c->h = NULL;
}

/* The handle for one request, credentials set: <conn>'s (reset, its
 * connection kept), or a new one when <conn> is NULL. NULL with err[]. */
static CURL *make_handle(struct alb_kube *k, struct alb_kube_conn *conn, const char *path, struct curl_slist **hdrs,
                         struct xfer *x, char *err, size_t err_len)
{
    if (!init_curl()) {
        snprintf(err, err_len, "libcurl did not initialise");
        return NULL;
    }
    CURL *h = conn && conn->h ? conn->h : curl_easy_init();
    if (!h) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (conn && conn->h)
        curl_easy_reset(h); /* options back to defaults; the open connection stays */
    else if (conn)
        conn->h = h;
    size_t ul = strlen(k->server) + strlen(path) + 1;
    char *url = malloc(ul);
    if (!url) {
        if (!conn)
            curl_easy_cleanup(h);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    snprintf(url, ul, "%s%s", k->server, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url); /* libcurl copies strings */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "alb/" ALB_VERSION);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    if (k->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (k->ca.p) {
        struct curl_blob b = {k->ca.p, k->ca.len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (k->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, k->ca_file);
    }
    if (k->cert.p) {
        struct curl_blob b = {k->cert.p, k->cert.len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (k->cert_file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, k->cert_file);
    }
    if (k->key.p) {
        struct curl_blob b = {k->key.p, k->key.len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (k->key_file) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, k->key_file);
    }
    char *file_token = k->token_file ? slurp(k->token_file, NULL) : NULL;
    const char *token = file_token ? file_token : k->token;
    *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
    if (token) {
        size_t tl = strlen(token);
        while (tl > 0 && (token[tl - 1] == '\n' || token[tl - 1] == '\r' || token[tl - 1] == ' '))
            tl--;
        char *line = malloc(tl + 32);
        if (line) {
            snprintf(line, tl + 32, "Authorization: Bearer %.*s", (int)tl, token);
            *hdrs = curl_slist_append(*hdrs, line);
            free(line);
        }
    }
    free(file_token);
    return h;
}

static int finish(CURL *h, CURLcode rc, struct xfer *x, char *err, size_t err_len)
{
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK || ((rc == CURLE_WRITE_ERROR || rc == CURLE_RECV_ERROR) && x->ended_by_fn))
        return (int)code;
    if (x->too_big)
        snprintf(err, err_len, "the response is larger than %zu bytes", x->max);
    else if (x->bad_line)
        snprintf(err, err_len, "a watch event is not JSON");
    else if (rc == CURLE_ABORTED_BY_CALLBACK)
        snprintf(err, err_len, "stopped");
    else
        snprintf(err, err_len, "%s", curl_easy_strerror(rc));
    return -1;
}

int alb_kube_call(struct alb_kube *k, struct alb_kube_conn *conn, const char *method, const char *path, json_t *body,
                  const char *content_type, json_t **out, const atomic_bool *stop, char *err, size_t err_len)
{
    *out = NULL;
    struct xfer x = {.stop = stop, .max = ALB_KUBE_MAX_BODY};
    struct curl_slist *hdrs = NULL;
    CURL *h = x.h = make_handle(k, conn, path, &hdrs, &x, err, err_len);
    if (!h)
        return -1;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char ct[128];
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "application/json");
    if (text) {
        hdrs = curl_slist_append(hdrs, ct);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "GET"))
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, conn && conn->timeout_ms > 0 ? conn->timeout_ms : CALL_TIMEOUT_MS);
    CURLcode rc = curl_easy_perform(h);
    int status = finish(h, rc, &x, err, err_len);
    if (status > 0 && x.len) {
        json_error_t je;
        *out = json_loadb(x.buf, x.len, 0, &je);
    }
    if (status > 0 && (status < 200 || status >= 300)) {
        const char *msg = json_string_value(json_object_get(*out, "message"));
        snprintf(err, err_len, "%s %s: HTTP %d%s%.400s", method, path, status, msg ? ": " : "", msg ? msg : "");
    }
    curl_slist_free_all(hdrs);
    if (!conn)
        curl_easy_cleanup(h);
    else if (status < 0)
        alb_kube_conn_close(conn); /* the connection may be what failed */
    free(text);
    free(x.buf);
    return status;
}

int alb_kube_watch(struct alb_kube *k, const char *path, alb_kube_event_fn *fn, void *ctx, json_t **status_out,
                   const atomic_bool *stop, char *err, size_t err_len)
{
    if (status_out)
        *status_out = NULL;
    struct xfer x = {.stop = stop, .max = ALB_KUBE_MAX_EVENT, .fn = fn, .ctx = ctx};
    struct curl_slist *hdrs = NULL;
    CURL *h = x.h = make_handle(k, NULL, path, &hdrs, &x, err, err_len);
    if (!h)
        return -1;
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    /* no overall timeout: the server ends a watch after its timeoutSeconds;
     * a peer that went silent is found by TCP keepalive */
    CURLcode rc = curl_easy_perform(h);
    int status = finish(h, rc, &x, err, err_len);
    if (status > 0 && (status < 200 || status >= 300)) {
        json_error_t je;
        json_t *st = x.len ? json_loadb(x.buf, x.len, 0, &je) : NULL;
        const char *msg = json_string_value(json_object_get(st, "message"));
        snprintf(err, err_len, "watch %s: HTTP %d%s%.400s", path, status, msg ? ": " : "", msg ? msg : "");
        if (status_out)
            *status_out = st;
        else
            json_decref(st);
    } else if (status > 0 && x.len && !x.ended_by_fn) {
        /* a last line without its newline */
        append(&x, "\n", 1);
        deliver_lines(&x);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(x.buf);
    return status;
}
