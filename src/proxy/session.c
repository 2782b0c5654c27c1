/* proxy/session.c : the HTTP/1.1 proxy session of one client connection.
 *
 * States (c->state, changed only by set_state()):
 *   IDLE    waiting for a request head; holds no buffer when nothing is
 *           buffered (the 100k idle connections target depends on it).
 *   ACTIVE  one request in flight: its head went (or goes) to an upstream
 *           and its response streams back; or ALB answers it itself (LOCAL).
 *   TUNNEL  after a 101 to an Upgrade request: bytes flow both ways as is.
 *   LINGER  the last response is sent and our side is shut: input is read
 *           and dropped until EOF or a short timeout, so the kernel does
 *           not answer unread input with a RST that destroys the response.
 *
 * Bodies are never buffered whole: a body is classified in place in the
 * buffer it arrived in (struct body: how many bytes at the front of the
 * buffer belong to the message) and written out from there with writev,
 * together with the rewritten head, so a proxied request usually costs one
 * read and one write on each socket. When the destination cannot take more,
 * reading from the source stops once its buffer is full (backpressure).
 *
 * Pipelined requests are answered in order: the next head is parsed only
 * after the current response has been fully sent.
 *
 * Every step is driven by run(), which repeats the state's step function
 * until it makes no more progress; epoll is edge-triggered, so a step must
 * never stop while progress is possible.
 */
#include "proxy/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "http/h1.h"
#include "http/path.h"
#include "lb/ratelimit.h"
#include "net/sock.h"
#include "proxy/gzip.h"
#include "proxy/h2.h"
#include "proxy/mirror.h"
#include "proxy/side.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"
#include "route/route.h"
#include "tls/tls.h"

#define LINGER_TIMEOUT_MS 2000u

enum sess_state { S_IDLE, S_ACTIVE, S_TUNNEL, S_LINGER, S_H2, S_CLOSED };

/* how a message body ends (RFC 9112 §6.3) */
enum body_kind {
    B_NONE,    /* no body */
    B_LENGTH,  /* Content-Length bytes */
    B_CHUNKED, /* chunked framing, validated as it passes */
    B_EOF,     /* until the sender closes (responses, tunnels) */
};

/* where the response to the current request stands */
enum resp_phase {
    R_NONE,  /* no request in flight */
    R_HEAD,  /* waiting for the upstream's response head */
    R_BODY,  /* streaming the response body */
    R_LOCAL, /* ALB's own response is in c->out */
};

struct body {
    uint8_t kind;       /* enum body_kind */
    bool dechunk;       /* forward chunk data only (HTTP/1.0 client) */
    bool done;          /* every byte of the message has been classified */
    uint32_t ready;     /* bytes at the front of the source buffer cleared to go */
    uint64_t remaining; /* B_LENGTH: bytes not yet classified */
    uint64_t total;     /* data bytes classified so far */
    struct alb_h1_chunked ch;
};

/* client flags, one bit each */
#define C_CLOSE_AFTER (1u << 0)    /* close once the current response is sent */
#define C_KEEPALIVE_10 (1u << 1)   /* HTTP/1.0 client asked for keep-alive */
#define C_UPGRADE_REQ (1u << 2)    /* request asked for a protocol upgrade */
#define C_HEAD_TIMING (1u << 3)    /* header timeout armed for a partial head */
#define C_BODY_SENT (1u << 4)      /* request body bytes went upstream: no retry */
#define C_RESP_STARTED (1u << 5)   /* a response head arrived: no retry */
#define C_RETRIED (1u << 6)        /* already retried once on a fresh connection */
#define C_REQ_WRITE_FAILED (1u << 7) /* upstream refused more request bytes */
#define C_LOG_PENDING (1u << 8)      /* a request is routed and not logged yet */
#define C_ACCEPTS_GZIP (1u << 9)     /* the listener compresses and this request takes gzip */
#define C_GZIP_FINISHED (1u << 10)   /* the compressed body is complete in c->out */
#define C_VIRTUAL (1u << 11)         /* an HTTP/2 stream: no socket, one request (proxy/h2.c) */
#define C_SERVED (1u << 12)          /* a request came on this connection (HTTP/2 starts only first) */
#define C_GRPC (1u << 13)            /* the request is a gRPC call: ALB's own errors answer as gRPC */

struct alb_client {
    struct alb_side side; /* first: the epoll pointer is the client */
    struct alb_worker *w;
    struct alb_wlistener *lst;
    struct alb_client *prev, *next; /* worker's list of clients */
    struct alb_timer timer;
    struct alb_deferred defer;
    struct alb_buf *out;    /* owned: response head or ALB's own response */
    struct alb_buf *uphead; /* owned: rewritten request head, kept for one retry */
    uint32_t uphead_len;
    struct alb_upstream *up; /* owned while attached */
    struct alb_listener_stats *stats;    /* borrowed from the worker, fixed at accept */
    struct alb_snap_hold *hold;          /* one user while a request is routed: the
                                            snapshot backend and endpoint belong to */
    const struct alb_rule *rule;         /* borrowed from hold's config */
    const struct alb_action *cors;       /* the rule's cors action when the Origin passed */
    char *cors_origin;                   /* owned; the Origin to echo, NULL for "*" */
    struct alb_mirror *mirror;           /* the request's mirror while its body is copied */
    struct alb_gzip *gz;                 /* owned: compressing the response (proxy/gzip.h) */
    struct alb_h2 *h2;                   /* S_H2: owned, the connection's HTTP/2; a stream: its connection's */
    uint64_t max_body_bytes;             /* the request's limit (rule, else listener); 0: none */
    struct alb_access_rec *log;          /* owned; the access log's record, when logging is on */
    uint64_t log_bytes;                  /* ALB's own response body, for the log */
    uint16_t status;                     /* the current response's status, for the log */
    const struct alb_backend *backend;   /* borrowed from hold's config */
    const struct alb_endpoint *endpoint; /* borrowed from hold's config */
    uint64_t id;
    uint32_t flags;
    uint8_t state;      /* enum sess_state */
    uint8_t resp_phase; /* enum resp_phase */
    uint8_t method_id;  /* enum alb_h1_method of the current request */
    uint8_t minor;      /* HTTP/1.<minor> of the current request */
    size_t scanned;     /* request head scan position */
    struct body req, resp;
    char ip[INET6_ADDRSTRLEN];
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer; /* for source_ip conditions */
};

static const char *action_name(const struct alb_client *c)
{
    switch (c->state) {
    case S_IDLE: return "reading request head";
    case S_ACTIVE:
        return c->resp_phase == R_HEAD ? "waiting for upstream response"
               : c->resp_phase == R_LOCAL ? "sending local response" : "proxying response";
    case S_TUNNEL: return "tunnelling";
    case S_LINGER: return "closing";
    default: return "closed";
    }
}

static void run(struct alb_client *c);

/* ---- lifecycle ------------------------------------------------------------ */

static void free_client(struct alb_deferred *d)
{
    struct alb_client *c = (struct alb_client *)((char *)d - offsetof(struct alb_client, defer));
    free(c);
}

/* log_request() : the access log line of the current request, once. A
 * request that ends without a response (the client gave up) is logged
 * with 499, as nginx does. */
static void log_request(struct alb_client *c)
{
    if (!(c->flags & C_LOG_PENDING) || !c->log)
        return;
    c->flags &= ~C_LOG_PENDING;
    uint64_t bytes = c->resp_phase == R_LOCAL ? c->log_bytes : c->resp.total;
    alb_accesslog_line(&c->w->alog, c->log, c->ip, c->status ? c->status : 499, bytes,
                       c->endpoint ? c->endpoint->text : NULL, c->w->loop.now_ms);
}

/* The request ends without having been sent whole: so does its mirror. */
static void drop_mirror(struct alb_client *c)
{
    if (c->mirror)
        alb_mirror_abort(c->mirror); /* clears c->mirror */
}

static void stop_gzip(struct alb_client *c)
{
    if (c->gz) {
        alb_gzip_end(c->gz);
        c->gz = NULL;
        c->w->gzip_cnt--;
    }
}

static void clear_cors(struct alb_client *c)
{
    if (c->cors_origin) { /* rare: skip a call per request */
        free(c->cors_origin);
        c->cors_origin = NULL;
    }
    c->cors = NULL;
}

/* What a client holds beyond its socket: buffers, its request's log line,
 * CORS, mirror, compressor and connection-limit hold. */
static void release_client(struct alb_client *c)
{
    struct alb_worker *w = c->w;
    alb_bufpool_put(&w->bufs, c->side.in);
    alb_bufpool_put(&w->bufs, c->out);
    alb_bufpool_put(&w->bufs, c->uphead);
    c->side.in = c->out = c->uphead = NULL;
    log_request(c);
    free(c->log);
    c->log = NULL;
    clear_cors(c);
    drop_mirror(c);
    stop_gzip(c);
    if (c->hold) {
        alb_worker_hold_release(w, c->hold);
        c->hold = NULL;
    }
}

static void close_client(struct alb_client *c)
{
    if (c->state == S_CLOSED)
        return;
    struct alb_worker *w = c->w;
    bool was_h2 = c->state == S_H2;
    c->state = S_CLOSED;
    if (c->up) {
        alb_upstream_close(c->up);
        c->up = NULL;
    }
    alb_loop_disarm(&w->loop, &c->timer);
    if (c->flags & C_VIRTUAL) { /* an HTTP/2 stream: no socket, not listed */
        release_client(c);
        alb_h2_stream_closed(c->side.vctx);
        alb_loop_defer(&w->loop, &c->defer, free_client);
        return;
    }
    if (was_h2) {
        if (alb_h2_was_cut(c->h2))
            alb_stat_add(&c->stats->h2_cut, 1);
        alb_h2_free(c->h2); /* closes its streams */
        c->h2 = NULL;
    }
    alb_tls_close(c->side.tls);
    c->side.tls = NULL;
    close(c->side.io.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->client_cnt--;
    release_client(c);
    atomic_fetch_sub_explicit(&c->stats->active, 1, memory_order_relaxed);
    alb__worker_listener_conn_closed(c->lst); /* may free a retired listener */
    alb_loop_defer(&w->loop, &c->defer, free_client);
}

static void set_timer(struct alb_client *c, uint32_t ms)
{
    if (alb_loop_arm(&c->w->loop, &c->timer, ms) < 0)
        close_client(c); /* no memory to watch it: do not keep it unwatched */
}

/* ---- writing heads ------------------------------------------------------- */

/* Appends to a buffer, remembering if anything did not fit. */
struct out {
    struct alb_buf *b;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (n == 0)
        return; /* an empty slice may have a NULL pointer: memcpy forbids it */
    if (o->overflow || alb_buf_room(o->b) < n) {
        o->overflow = true;
        return;
    }
    memcpy(alb_buf_tail(o->b), s, n);
    o->b->end += (uint32_t)n;
}

static void put_str(struct out *o, struct alb_str s) { put(o, s.p, s.len); }
#define put_lit(o, lit) put((o), "" lit, sizeof(lit) - 1) /* "" lit: only a string literal compiles */
static void put_cstr(struct out *o, const char *s) { put(o, s, strlen(s)); }

/* Decimal and hex writers: snprintf was the largest user-space cost of a
 * proxied request. */
static void put_uint(struct out *o, unsigned v)
{
    char tmp[10];
    size_t n = sizeof(tmp);
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n);
    put(o, tmp + n, sizeof(tmp) - n);
}

static void put_hex64(struct out *o, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    for (int i = 15; i >= 0; i--, v >>= 4)
        tmp[i] = digits[v & 15];
    put(o, tmp, sizeof(tmp));
}

static void put_header(struct out *o, struct alb_str name, struct alb_str value)
{
    put_str(o, name);
    put_lit(o, ": ");
    put_str(o, value);
    put_lit(o, "\r\n");
}

static const char *reason_of(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 429: return "Too Many Requests";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

static void count_response(struct alb_client *c, int status)
{
    c->status = (uint16_t)status;
    int cls = status / 100 - 1;
    if (cls >= 0 && cls < ALB_STATUS_CLASSES)
        alb_stat_add(&c->stats->requests[cls], 1);
}

/* ensure_out() : c->out, taken from the pool if needed; NULL when memory is
 * exhausted. */
static struct alb_buf *ensure_out(struct alb_client *c)
{
    if (!c->out)
        c->out = alb_bufpool_try_get(&c->w->bufs);
    return c->out;
}

static void release_uphead(struct alb_client *c)
{
    alb_bufpool_put(&c->w->bufs, c->uphead);
    c->uphead = NULL;
    c->uphead_len = 0;
}

/* The CORS response headers of c->cors (ingress-nginx's set). */
static void put_cors(struct out *o, const struct alb_client *c)
{
    const struct alb_action *a = c->cors;
    if (!a)
        return;
    put_lit(o, "Access-Control-Allow-Origin: ");
    if (c->cors_origin)
        put_cstr(o, c->cors_origin);
    else
        put_lit(o, "*");
    put_lit(o, "\r\n");
    if (a->allow_credentials)
        put_lit(o, "Access-Control-Allow-Credentials: true\r\n");
    put_lit(o, "Access-Control-Allow-Methods: ");
    put_cstr(o, a->allow_methods);
    put_lit(o, "\r\nAccess-Control-Allow-Headers: ");
    put_cstr(o, a->allow_headers);
    put_lit(o, "\r\n");
    if (a->max_age >= 0) {
        put_lit(o, "Access-Control-Max-Age: ");
        put_uint(o, (unsigned)a->max_age);
        put_lit(o, "\r\n");
    }
    if (a->expose_headers[0]) {
        put_lit(o, "Access-Control-Expose-Headers: ");
        put_cstr(o, a->expose_headers);
        put_lit(o, "\r\n");
    }
    if (c->cors_origin)
        put_lit(o, "Vary: Origin\r\n");
}

/* Whether <origin> is allowed by entry <e>: equal ignoring case, or with a
 * "*." one-label wildcard ([A-Za-z0-9-]+) in the host; the port must match. */
static bool origin_allowed(const char *e, struct alb_str origin)
{
    const char *star = strstr(e, "*.");
    if (!star)
        return alb_str_eq_ci(origin, e, strlen(e));
    size_t pre = (size_t)(star - e), suf = strlen(star + 1);
    if (origin.len <= pre + suf || strncasecmp(origin.p, e, pre) != 0 ||
        strncasecmp(origin.p + origin.len - suf, star + 1, suf) != 0)
        return false;
    for (size_t i = pre; i < origin.len - suf; i++) {
        char ch = origin.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return false;
    }
    return true;
}

/* The TLS the request came over: the connection's, or for an HTTP/2
 * stream its connection's; NULL: plain TCP. */
static struct alb_tls_conn *tls_of(const struct alb_client *c)
{
    return c->side.tls ? c->side.tls : (c->flags & C_VIRTUAL) ? alb_h2_tls(c->h2) : NULL;
}

/* Strict-Transport-Security, when the listener sets it and the connection
 * presents one of its certificates (not the generated one). */
static void put_hsts(struct out *o, const struct alb_client *c)
{
    const char *hsts = c->lst->cfg->tls.hsts;
    if (hsts && tls_of(c) && alb_tls_named_certificate(tls_of(c))) {
        put_lit(o, "Strict-Transport-Security: ");
        put_cstr(o, hsts);
        put_lit(o, "\r\n");
    }
}

/* local_reply_as() : ALB answers the current request itself: <status>,
 * <extra> header lines (each ending in CRLF; may be empty), and a body;
 * the metrics and the access log count it as <counted> (a gRPC error goes
 * out as 200 but counts as the failure it reports). The upstream, if any,
 * is dropped. The connection closes afterwards when <close> is set or the
 * request body was not read. */
static void local_reply_as(struct alb_client *c, int status, int counted, const char *extra, size_t extra_len,
                           const char *type, const char *body, size_t body_len, bool close)
{
    struct alb_worker *w = c->w;
    if (c->up) {
        alb_upstream_release(c->up, false);
        c->up = NULL;
    }
    release_uphead(c);
    drop_mirror(c);
    if (!c->req.done)
        close = true; /* the unread body would be taken for the next request */
    if (close)
        c->flags |= C_CLOSE_AFTER;
    c->state = S_ACTIVE;
    c->resp_phase = R_LOCAL;
    count_response(c, counted);
    if (!ensure_out(c)) {
        close_client(c);
        return;
    }
    alb_buf_compact(c->out);
    alb_http_date_refresh(&w->date);
    struct out o = {c->out, false};
    char line[64];
    put(&o, line, (size_t)snprintf(line, sizeof(line), "HTTP/1.1 %d ", status));
    put_cstr(&o, reason_of(status));
    put_lit(&o, "\r\nServer: alb\r\nDate: ");
    put(&o, w->date.text, ALB_HTTP_DATE_LEN);
    put_lit(&o, "\r\n");
    if (status >= 200 && status != 204 && status != 304) {
        /* RFC 9110 §8.6: no Content-Length on 1xx and 204 */
        put_lit(&o, "Content-Type: ");
        put_cstr(&o, type);
        put_lit(&o, "\r\nContent-Length: ");
        put_uint(&o, (unsigned)body_len);
        put_lit(&o, "\r\n");
    } else {
        body_len = 0;
    }
    put(&o, extra, extra_len);
    put_cors(&o, c);
    put_hsts(&o, c);
    if (c->flags & C_CLOSE_AFTER)
        put_lit(&o, "Connection: close\r\n");
    put_lit(&o, "\r\n");
    if (c->method_id != ALB_H1_M_HEAD)
        put(&o, body, body_len);
    c->log_bytes = c->method_id != ALB_H1_M_HEAD ? body_len : 0;
    if (o.overflow)
        close_client(c);
}

/* The gRPC status for an HTTP status, as gRPC maps them
 * (doc/http-grpc-status-mapping.md in grpc/grpc). */
static int grpc_status_of(int status)
{
    switch (status) {
    case 400: return 13; /* INTERNAL */
    case 401: return 16; /* UNAUTHENTICATED */
    case 403: return 7;  /* PERMISSION_DENIED */
    case 404: return 12; /* UNIMPLEMENTED */
    case 429: case 502: case 503: case 504: return 14; /* UNAVAILABLE */
    default: return 2;   /* UNKNOWN */
    }
}

static void local_reply_with(struct alb_client *c, int status, const char *extra, size_t extra_len,
                             const char *type, const char *body, size_t body_len, bool close)
{
    local_reply_as(c, status, status, extra, extra_len, type, body, body_len, close);
}

/* local_reply() : ALB's own error page for <status>; for a gRPC call, a
 * gRPC error (200, no body, grpc-status and grpc-message), which clients
 * report as the call's status. */
static void local_reply(struct alb_client *c, int status, bool close)
{
    if ((c->flags & C_GRPC) && status >= 400) {
        char extra[128];
        int n = snprintf(extra, sizeof(extra), "grpc-status: %d\r\ngrpc-message: ALB: %d %s\r\n",
                         grpc_status_of(status), status, reason_of(status));
        local_reply_as(c, 200, status, extra, (size_t)n, "application/grpc", "", 0, close);
        return;
    }
    char body[96];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, reason_of(status));
    local_reply_with(c, status, "", 0, "text/plain; charset=utf-8", body, (size_t)n, close);
}

/* Lower-cases the host part of an authority (port and one trailing dot
 * dropped) into out[0..cap). Returns its length. */
static size_t route_host(struct alb_str auth, char *out, size_t cap)
{
    size_t n = auth.len;
    if (n == 0)
        return 0; /* HTTP/1.0 without Host: only host-less rules match */
    if (auth.p[0] == '[') {
        const char *rb = memchr(auth.p, ']', n);
        n = rb ? (size_t)(rb - auth.p) + 1 : n;
    } else {
        const char *colon = memchr(auth.p, ':', n);
        if (colon)
            n = (size_t)(colon - auth.p);
    }
    if (n && auth.p[n - 1] == '.')
        n--;
    if (n >= cap)
        n = cap - 1;
    alb_lower_copy(out, auth.p, n);
    return n;
}

/* A forward's backend: by weight when there are several; as the request's
 * snapshot has it (its endpoints). */
static const struct alb_backend *pick_backend(struct alb_client *c, const struct alb_action *fwd)
{
    size_t pick = fwd->group_cnt - 1;
    if (fwd->group_cnt > 1) {
        uint32_t r = (uint32_t)(alb_worker_random(c->w) % fwd->weight_total);
        for (size_t i = 0; i < fwd->group_cnt; i++) {
            if (r < fwd->groups[i].weight) {
                pick = i;
                break;
            }
            r -= fwd->groups[i].weight;
        }
    }
    return alb_config_backend(c->hold->cfg, fwd->groups[pick].backend);
}

/* Round robin over the ready endpoints with a weight. The positions belong to the
 * worker's current snapshot; a request routed with an older one (a
 * connection on a listener that was removed) starts at a random place. */
static const struct alb_endpoint *pick_endpoint(struct alb_client *c, const struct alb_backend *b)
{
    struct alb_worker *w = c->w;
    uint32_t scratch = (uint32_t)alb_worker_random(w);
    uint32_t *pos = c->hold == w->cur ? &w->rr_next[b->index] : &scratch;
    for (size_t i = 0; i < b->ep_cnt; i++) {
        size_t idx = (*pos)++ % b->ep_cnt;
        if (b->eps[idx].weight > 0 && b->eps[idx].ready)
            return &b->eps[idx];
    }
    return NULL;
}

/* What templates of redirect and rewrite actions may refer to. */
struct tmpl_ctx {
    const char *protocol; /* "http" or "https" */
    struct alb_str host;  /* the request host, without port */
    struct alb_str path;  /* the path as sent, without query */
    struct alb_str query; /* without '?' */
    unsigned port;        /* the listener's */
    const char *subject;  /* what the path regex ran on (the normalised path) */
    const struct alb_regex_caps *caps;
};

/* expand() : appends <t> with its ${...} variables replaced. Unknown names
 * cannot occur: the config loader refused them. */
static void expand(struct out *o, const struct alb_template *t, const struct tmpl_ctx *x)
{
    const char *p = t->text, *end = t->text + t->len;
    while (p < end) {
        const char *v = strstr(p, "${");
        if (!v || v >= end) {
            put(o, p, (size_t)(end - p));
            return;
        }
        put(o, p, (size_t)(v - p));
        const char *close = memchr(v, '}', (size_t)(end - v));
        struct alb_str name = {v + 2, (size_t)(close - v - 2)};
        if (name.len == 1) {
            size_t g = (size_t)(name.p[0] - '0');
            if (x->caps && g < x->caps->cnt && x->caps->start[g] != (size_t)-1)
                put(o, x->subject + x->caps->start[g], x->caps->end[g] - x->caps->start[g]);
        } else if (alb_str_is_ci(name, "host")) {
            put_str(o, x->host);
        } else if (alb_str_is_ci(name, "path")) {
            put_str(o, x->path);
        } else if (alb_str_is_ci(name, "query")) {
            put_str(o, x->query);
        } else if (alb_str_is_ci(name, "port")) {
            put_uint(o, x->port);
        } else if (alb_str_is_ci(name, "protocol")) {
            put_cstr(o, x->protocol);
        }
        p = close + 1;
    }
}

/* The request as rewritten by the rule's rewrite action, if any. */
struct rewrite {
    struct alb_str target; /* path and query to send; empty: as received */
    struct alb_str host;   /* Host to send; empty: as received */
};

/* Whether header <name> is named by a remove or replace op of <r>. */
static bool header_op_drops(const struct alb_rule *r, enum alb_action_type type, struct alb_str name)
{
    for (size_t i = 0; r && i < r->action_cnt; i++) {
        const struct alb_action *a = &r->actions[i];
        if (a->type == type && a->op != ALB_HDR_INSERT && alb_str_eq_ci(name, a->name, a->name_len))
            return true;
    }
    return false;
}

static void put_header_ops(struct out *o, const struct alb_rule *r, enum alb_action_type type)
{
    for (size_t i = 0; r && i < r->action_cnt; i++) {
        const struct alb_action *a = &r->actions[i];
        if (a->type == type && a->op != ALB_HDR_REMOVE)
            put_header(o, (struct alb_str){a->name, a->name_len}, (struct alb_str){a->value, a->value_len});
    }
}

/* Whether ALB sets header <name> on this listener, so that what the client
 * sent under that name is not passed on. */
static bool is_client_cert_header(const struct alb_forwarding *f, struct alb_str name)
{
    const char *names[] = {f->cc_subject, f->cc_issuer, f->cc_fingerprint, f->cc_verify};
    for (size_t i = 0; i < 4; i++)
        if (names[i] && alb_str_eq_ci(name, names[i], strlen(names[i])))
            return true;
    return false;
}

static bool set_by_alb(const struct alb_forwarding *f, struct alb_str name)
{
    if (f->cc_subject || f->cc_issuer || f->cc_fingerprint || f->cc_verify) {
        if (is_client_cert_header(f, name))
            return true;
    }
    /* ingress-nginx's client-certificate headers are ALB's to set, never the client's */
    if (name.len >= 15 && (name.p[0] | 0x20) == 's' && !strncasecmp(name.p, "ssl-client-", 11))
        return true;
    if (name.len < 6 || (name.p[0] | 0x20) != 'x') /* all but SLB-ID start with X-; a quick no */
        return f->slb_id && alb_str_is_ci(name, "slb-id");
    return (f->xff != ALB_XFF_KEEP && alb_str_is_ci(name, "x-forwarded-for")) ||
           (f->proto && alb_str_is_ci(name, "x-forwarded-proto")) ||
           (f->host && alb_str_is_ci(name, "x-forwarded-host")) || (f->port && alb_str_is_ci(name, "x-forwarded-port")) ||
           (f->real_ip && alb_str_is_ci(name, "x-real-ip")) ||
           (f->client_port && alb_str_is_ci(name, "x-forwarded-client-srcport"));
}

static uint16_t peer_port(const struct alb_client *c)
{
    return ntohs(c->peer.sa.sa_family == AF_INET6 ? c->peer.in6.sin6_port : c->peer.in4.sin_port);
}

/* The client certificate, to the backend: ingress-nginx's ssl-client-*
 * headers, and ALB's under the names the listener gives. */
static void put_client_cert(struct out *o, const struct alb_client *c, const struct alb_forwarding *f)
{
    char text[8192];
    struct {
        const char *nginx; /* the ingress-nginx header, or NULL */
        const char *alb;   /* the listener's name for ALB's, or NULL */
        void (*fill)(const struct alb_tls_conn *, char *, size_t);
    } h[] = {{"ssl-client-verify", f->cc_verify, alb_tls_client_verify},
             {"ssl-client-subject-dn", f->cc_subject, alb_tls_client_subject},
             {"ssl-client-issuer-dn", f->cc_issuer, alb_tls_client_issuer},
             {NULL, f->cc_fingerprint, alb_tls_client_fingerprint},
             {alb_tls_pass_client_cert(tls_of(c)) ? "ssl-client-cert" : NULL, NULL, alb_tls_client_cert_escaped}};
    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
        if (!h[i].nginx && !h[i].alb)
            continue;
        h[i].fill(tls_of(c), text, sizeof(text));
        struct alb_str value = {text, strlen(text)};
        if (h[i].nginx && value.len)
            put_header(o, (struct alb_str){h[i].nginx, strlen(h[i].nginx)}, value);
        if (h[i].alb && value.len)
            put_header(o, (struct alb_str){h[i].alb, strlen(h[i].alb)}, value);
    }
}

/* build_request_head() : the head sent upstream: the request line and
 * fields as the client sent them, less hop-by-hop fields (RFC 9110 §7.6.1),
 * plus the forwarding headers of DESIGN.md section 2 as the listener's
 * forwarding settings say. */
static bool build_request_head(struct alb_client *c, const struct alb_h1_msg *m, const struct rewrite *rw,
                               struct alb_buf *b)
{
    struct out o = {b, false};
    bool upgrade = c->flags & C_UPGRADE_REQ;
    bool absolute = m->flags & ALB_H1_F_ABSOLUTE_FORM;
    bool new_host = absolute || rw->host.len;
    put_str(&o, m->method);
    put_lit(&o, " ");
    put_str(&o, rw->target.len ? rw->target : absolute ? m->path : m->target);
    put_lit(&o, " HTTP/1.1\r\n");
    const struct alb_forwarding *f = &c->lst->cfg->forwarding;
    bool has_request_id = false;
    size_t xff_cnt = 0;
    for (size_t i = 0; i < m->hdr_cnt; i++) {
        struct alb_str n = m->hdrs[i].name;
        if (alb_h1_header_is_hop_by_hop(m, n) || (alb_str_is_ci(n, "upgrade") && !upgrade))
            continue;
        if (set_by_alb(f, n)) {
            xff_cnt += alb_str_is_ci(n, "x-forwarded-for");
            continue;
        }
        if (new_host && alb_str_is_ci(n, "host"))
            continue;
        if (header_op_drops(c->rule, ALB_ACT_REQUEST_HEADER, n))
            continue;
        if (alb_str_is_ci(n, "x-request-id"))
            has_request_id = true;
        put_header(&o, n, m->hdrs[i].value);
    }
    put_header_ops(&o, c->rule, ALB_ACT_REQUEST_HEADER);
    if (new_host || !(m->flags & ALB_H1_F_HAS_HOST)) {
        put_lit(&o, "Host: ");
        if (rw->host.len)
            put_str(&o, rw->host);
        else if (m->authority.len)
            put_str(&o, m->authority);
        else
            put_cstr(&o, c->endpoint->text);
        put_lit(&o, "\r\n");
    }
    /* X-Forwarded-For: the client address appended to what came in, as ALB
     * Ingress does; several incoming fields are joined in order. */
    if (f->xff == ALB_XFF_APPEND) {
        put_lit(&o, "X-Forwarded-For: ");
        for (size_t i = 0; i < m->hdr_cnt && xff_cnt; i++) {
            if (alb_str_is_ci(m->hdrs[i].name, "x-forwarded-for") && m->hdrs[i].value.len) {
                put_str(&o, m->hdrs[i].value);
                put_lit(&o, ", ");
            }
        }
        put_cstr(&o, c->ip);
        put_lit(&o, "\r\n");
    }
    if (f->proto)
        put_cstr(&o, tls_of(c) ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
    if (f->host && m->authority.len) {
        put_lit(&o, "X-Forwarded-Host: ");
        put_str(&o, m->authority);
        put_lit(&o, "\r\n");
    }
    if (f->port) {
        put_lit(&o, "X-Forwarded-Port: ");
        put_uint(&o, c->lst->cfg->port);
        put_lit(&o, "\r\n");
    }
    if (f->real_ip) {
        put_lit(&o, "X-Real-IP: ");
        put_cstr(&o, c->ip);
        put_lit(&o, "\r\n");
    }
    if (f->client_port) {
        put_lit(&o, "X-Forwarded-Client-srcport: ");
        put_uint(&o, peer_port(c));
        put_lit(&o, "\r\n");
    }
    if (f->slb_id) {
        put_lit(&o, "SLB-ID: ");
        put_cstr(&o, f->slb_id);
        put_lit(&o, "\r\n");
    }
    if (tls_of(c) && alb_tls_client_auth(tls_of(c)))
        put_client_cert(&o, c, f);
    if (!has_request_id) {
        put_lit(&o, "X-Request-ID: ");
        const char *id = alb_buf_tail(o.b);
        put_hex64(&o, alb_worker_random(c->w));
        put_hex64(&o, alb_worker_random(c->w));
        if (c->log && !o.overflow) /* the access log names the id the backend saw */
            alb_access_rec_fill_id(c->log, id, 32);
        put_lit(&o, "\r\n");
    }
    if (upgrade)
        put_lit(&o, "Connection: upgrade\r\n");
    put_lit(&o, "\r\n");
    return !o.overflow;
}

/* build_response_head() : the head sent to the client for upstream response
 * <m>: hop-by-hop fields removed, Date and Server added when missing, and
 * the connection's fate stated. */
static bool build_response_head(struct alb_client *c, const struct alb_h1_msg *m, struct alb_buf *b)
{
    struct out o = {b, false};
    bool informational = m->status < 200;
    bool switching = m->status == 101;
    char line[16];
    snprintf(line, sizeof(line), "HTTP/1.1 %03d ", m->status);
    put(&o, line, 13);
    put_str(&o, m->reason);
    put_lit(&o, "\r\n");
    bool has_date = false, has_server = false, has_hsts = false;
    for (size_t i = 0; i < m->hdr_cnt; i++) {
        struct alb_str n = m->hdrs[i].name;
        if (alb_h1_header_is_hop_by_hop(m, n) || (alb_str_is_ci(n, "upgrade") && !switching))
            continue;
        if ((c->resp.dechunk || c->gz) && alb_str_is_ci(n, "transfer-encoding"))
            continue;
        if (c->gz && alb_str_is_ci(n, "content-length"))
            continue;
        if (c->gz && alb_str_is_ci(n, "etag") && !(m->hdrs[i].value.len > 1 && m->hdrs[i].value.p[0] == 'W')) {
            put_lit(&o, "ETag: W/"); /* the bytes differ from the origin's: a weak validator */
            put_str(&o, m->hdrs[i].value);
            put_lit(&o, "\r\n");
            continue;
        }
        if (!informational && header_op_drops(c->rule, ALB_ACT_RESPONSE_HEADER, n))
            continue;
        has_date |= alb_str_is_ci(n, "date");
        has_server |= alb_str_is_ci(n, "server");
        has_hsts |= alb_str_is_ci(n, "strict-transport-security");
        put_header(&o, n, m->hdrs[i].value);
    }
    if (switching) {
        put_lit(&o, "Connection: upgrade\r\n");
    } else if (!informational) {
        put_header_ops(&o, c->rule, ALB_ACT_RESPONSE_HEADER);
        put_cors(&o, c);
        if (!has_date) {
            alb_http_date_refresh(&c->w->date);
            put_lit(&o, "Date: ");
            put(&o, c->w->date.text, ALB_HTTP_DATE_LEN);
            put_lit(&o, "\r\n");
        }
        if (!has_server)
            put_lit(&o, "Server: alb\r\n");
        if (!has_hsts)
            put_hsts(&o, c);
        if (c->gz) {
            put_lit(&o, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
            if (c->minor == 1)
                put_lit(&o, "Transfer-Encoding: chunked\r\n");
        }
        if (c->flags & C_CLOSE_AFTER)
            put_lit(&o, "Connection: close\r\n");
        else if (c->minor == 0)
            put_lit(&o, "Connection: keep-alive\r\n");
    }
    put_lit(&o, "\r\n");
    return !o.overflow;
}

/* ---- bodies -------------------------------------------------------------- */

static void body_init(struct body *b, enum body_kind kind, uint64_t len)
{
    memset(b, 0, sizeof(*b));
    b->kind = (uint8_t)kind;
    b->remaining = len;
    b->done = kind == B_NONE || (kind == B_LENGTH && len == 0);
    alb_h1_chunked_init(&b->ch);
}

/* classify() : extends b->ready over the bytes of <src> that belong to the
 * message. Returns 0, -1 on invalid chunked framing, -2 when the body
 * exceeds <max_total> (0: no limit). */
static int classify(struct body *b, struct alb_buf *src, uint64_t max_total)
{
    if (b->done || !src)
        return 0;
    size_t len = alb_buf_len(src);
    switch (b->kind) {
    case B_LENGTH: {
        uint64_t n = len - b->ready;
        if (n > b->remaining)
            n = b->remaining;
        b->ready += (uint32_t)n;
        b->remaining -= n;
        b->total += n;
        b->done = b->remaining == 0;
        break;
    }
    case B_EOF:
        b->total += len - b->ready;
        b->ready = (uint32_t)len;
        break;
    case B_CHUNKED:
        while (!b->done) {
            size_t used;
            bool is_data;
            enum alb_h1_result r;
            if (b->dechunk) {
                /* Framing is dropped in place; data waits at the front. */
                if (b->ready || alb_buf_is_empty(src))
                    break;
                r = alb_h1_chunked_step(&b->ch, alb_buf_head(src), alb_buf_len(src), &used, &is_data);
                if (r == ALB_H1_ERROR)
                    return -1;
                if (is_data) {
                    b->ready = (uint32_t)used;
                    b->total += used;
                } else {
                    alb_buf_consume(src, used);
                }
            } else {
                if (b->ready >= alb_buf_len(src))
                    break;
                r = alb_h1_chunked_step(&b->ch, alb_buf_head(src) + b->ready, alb_buf_len(src) - b->ready, &used,
                                        &is_data);
                if (r == ALB_H1_ERROR)
                    return -1;
                b->ready += (uint32_t)used;
                if (is_data)
                    b->total += used;
            }
            if (r == ALB_H1_DONE)
                b->done = true;
            if (used == 0)
                break;
        }
        break;
    default:
        b->done = true;
        break;
    }
    if (max_total && b->total > max_total)
        return -2;
    return 0;
}

/* pump() : writes the pending bytes of <head> then the ready bytes of <b>
 * from <src> to <dst> in one writev. Returns bytes written (*body_len of them
 * from the body), 0 when nothing could be written, ALB_SIDE_FAILED. */
static ssize_t pump(struct alb_side *dst, struct alb_buf *head, struct alb_buf *src, struct body *b,
                    size_t *body_len)
{
    struct iovec iov[2];
    int cnt = 0;
    size_t head_len = head ? alb_buf_len(head) : 0;
    *body_len = 0;
    if (head_len)
        iov[cnt++] = (struct iovec){alb_buf_head(head), head_len};
    if (b && b->ready)
        iov[cnt++] = (struct iovec){alb_buf_head(src), b->ready};
    ssize_t n = alb_side_writev(dst, iov, cnt);
    if (n <= 0)
        return n;
    size_t k = (size_t)n;
    size_t from_head = k < head_len ? k : head_len;
    if (from_head)
        alb_buf_consume(head, from_head);
    k -= from_head;
    if (k) {
        alb_buf_consume(src, k);
        b->ready -= (uint32_t)k;
        *body_len = k;
    }
    return n;
}

/* ---- request start ------------------------------------------------------ */

static void set_state_idle(struct alb_client *c)
{
    c->state = S_IDLE;
    c->resp_phase = R_NONE;
    c->flags &= C_CLOSE_AFTER | C_SERVED;
    c->scanned = 0;
    c->backend = NULL;
    c->endpoint = NULL;
    if (c->side.in && !alb_buf_is_empty(c->side.in)) {
        c->flags |= C_HEAD_TIMING;
        set_timer(c, c->lst->cfg->client_header_timeout_ms);
    } else {
        alb_side_release_if_empty(&c->side, &c->w->bufs);
        set_timer(c, c->lst->cfg->idle_timeout_ms);
    }
    if (c->out && alb_buf_is_empty(c->out)) {
        alb_bufpool_put(&c->w->bufs, c->out);
        c->out = NULL;
    }
}

/* connect_upstream() : attaches an upstream connection to c->endpoint.
 * Returns false after answering the client (502) when none can be had. */
static bool connect_upstream(struct alb_client *c, bool allow_pooled, const char *host)
{
    int err = 0;
    c->up = alb_upstream_get(c->w, c->endpoint, c->backend->tls ? host : NULL, c->backend->h2, c, allow_pooled, &err);
    if (!c->up) {
        alb_log_warn("conn=%" PRIu64 " action=\"connecting to %s\": %s", c->id, c->endpoint->text, strerror(err));
        local_reply(c, err == ENOMEM ? 503 : 502, false);
        return false;
    }
    set_timer(c, (c->up->flags & ALB_UP_CONNECTING) ? c->backend->connect_timeout_ms
                                                      : c->backend->response_timeout_ms);
    return true;
}

/* start_request() : a complete head <m> is at the front of c->side.in. */
static void start_request(struct alb_client *c, const struct alb_h1_msg *m)
{
    const struct alb_listener_cfg *lc = c->lst->cfg;
    /* The request keeps the snapshot it is routed with until it ends, even
     * if a newer one is adopted meanwhile. */
    c->hold = alb_worker_hold_use(c->lst->hold);
    c->state = S_ACTIVE;
    c->status = 0;
    if (c->flags & C_VIRTUAL) /* gRPC needs HTTP/2 */
        for (size_t i = 0; i < m->hdr_cnt; i++)
            if (alb_str_is_ci(m->hdrs[i].name, "content-type") && m->hdrs[i].value.len >= 16 &&
                !strncasecmp(m->hdrs[i].value.p, "application/grpc", 16))
                c->flags |= C_GRPC;
    if (c->w->alog.fd >= 0 && (c->log || (c->log = malloc(sizeof(*c->log))))) {
        struct alb_str ua = {NULL, 0}, rid = {NULL, 0};
        for (size_t i = 0; i < m->hdr_cnt; i++) {
            if (alb_str_is_ci(m->hdrs[i].name, "user-agent"))
                ua = m->hdrs[i].value;
            else if (alb_str_is_ci(m->hdrs[i].name, "x-request-id"))
                rid = m->hdrs[i].value;
        }
        const char *protocol = (c->flags & C_VIRTUAL) ? "HTTP/2.0" : m->minor ? "HTTP/1.1" : "HTTP/1.0";
        alb_access_rec_fill(c->log, c->w->loop.now_ms, m->method, m->target, m->authority, ua, rid, protocol);
        c->flags |= C_LOG_PENDING;
    }
    c->flags = (c->flags & ~C_HEAD_TIMING) | C_SERVED;
    c->method_id = (uint8_t)m->method_id;
    c->minor = (uint8_t)m->minor;
    if (c->lst->cfg->gzip && m->method_id != ALB_H1_M_HEAD && alb_gzip_accepted(m))
        c->flags |= C_ACCEPTS_GZIP;
    if (m->minor == 0) {
        if (m->flags & ALB_H1_F_CONN_KEEPALIVE)
            c->flags |= C_KEEPALIVE_10;
        else
            c->flags |= C_CLOSE_AFTER;
    } else if (m->flags & ALB_H1_F_CONN_CLOSE) {
        c->flags |= C_CLOSE_AFTER;
    }
    if (m->flags & ALB_H1_F_CHUNKED)
        body_init(&c->req, B_CHUNKED, 0);
    else
        body_init(&c->req, (m->flags & ALB_H1_F_HAS_CL) ? B_LENGTH : B_NONE, m->content_length);
    body_init(&c->resp, B_NONE, 0);
    c->resp.done = false;

    if ((m->flags & ALB_H1_F_CONN_UPGRADE) && (m->flags & ALB_H1_F_HAS_UPGRADE))
        c->flags |= C_UPGRADE_REQ;

    /* Headers are in the buffer; the body (if any) follows them. */
    size_t head_len = m->head_len;


    char host[256];
    size_t host_len = route_host(m->authority, host, sizeof(host));
    char path[ALB_H1_MAX_TARGET_LEN + 1];
    long path_len = 1;
    path[0] = '/';
    if (!(m->flags & ALB_H1_F_ASTERISK_FORM))
        path_len = alb_path_normalize(m->path.p, m->path.len, path, sizeof(path));
    if (path_len < 0) {
        alb_buf_consume(c->side.in, head_len);
        local_reply(c, 400, true);
        return;
    }
    struct alb_str orig_path = m->path, query = {NULL, 0};
    const char *qmark = memchr(m->path.p, '?', m->path.len);
    if (qmark) {
        orig_path.len = (size_t)(qmark - m->path.p);
        query = (struct alb_str){qmark + 1, (size_t)(m->path.p + m->path.len - qmark - 1)};
    }
    struct alb_route_req q = {host, host_len, path, (size_t)path_len, m->method, m->hdrs, m->hdr_cnt, query, &c->peer.sa};
    struct alb_route_result res;
    if (!alb_route_match(lc, &q, c->w->regex, &res)) {
        alb_buf_consume(c->side.in, head_len);
        local_reply(c, 404, false);
        return;
    }
    const struct alb_rule *rule = res.rule;
    c->rule = rule;
    c->max_body_bytes = rule->max_body_bytes >= 0 ? (uint64_t)rule->max_body_bytes : lc->max_body_bytes;
    if (c->max_body_bytes && (m->flags & ALB_H1_F_HAS_CL) && m->content_length > c->max_body_bytes) {
        alb_buf_consume(c->side.in, head_len);
        local_reply(c, 413, true); /* before anything is forwarded */
        return;
    }
    for (size_t i = 0; i < rule->action_cnt; i++) {
        const struct alb_action *act = &rule->actions[i];
        if (act->type == ALB_ACT_TRAFFIC_LIMIT &&
            ((act->qps && !alb_bucket_take(act->bucket, act->qps, c->w->loop.now_ms)) ||
             (act->qps_per_ip && !alb_ip_bucket_take(act->ip_buckets, act->qps_per_ip, &c->peer.sa, c->w->loop.now_ms)))) {
            alb_buf_consume(c->side.in, head_len);
            local_reply(c, 503, false);
            return;
        }
        if (act->type == ALB_ACT_CORS) {
            struct alb_str origin = {NULL, 0};
            for (size_t h = 0; h < m->hdr_cnt; h++)
                if (alb_str_is_ci(m->hdrs[h].name, "origin"))
                    origin = m->hdrs[h].value;
            bool ok = act->any_origin;
            for (size_t k = 0; !ok && origin.len && k < act->origin_cnt; k++)
                ok = origin_allowed(act->origins[k], origin);
            if (ok) {
                c->cors = act;
                if (!act->any_origin && !(c->cors_origin = strndup(origin.p, origin.len))) {
                    alb_buf_consume(c->side.in, head_len);
                    local_reply(c, 503, true);
                    return;
                }
                if (m->method_id == ALB_H1_M_OPTIONS) {
                    /* A preflight: answered here, never proxied. */
                    alb_buf_consume(c->side.in, head_len);
                    local_reply_with(c, 204, "", 0, "", "", 0, false);
                    return;
                }
            }
        }
    }
    struct tmpl_ctx x = {tls_of(c) ? "https" : "http", {host, host_len}, orig_path, query, lc->port, path, &res.caps};
    /* Templates expand into this buffer; the head builder reads from it. */
    struct alb_buf *scratch = alb_bufpool_try_get(&c->w->bufs);
    if (!scratch) {
        alb_buf_consume(c->side.in, head_len);
        local_reply(c, 503, true);
        return;
    }
    struct out so = {scratch, false};
    struct rewrite rw = {{NULL, 0}, {NULL, 0}};
    const struct alb_action *fin = rule->final;
    for (size_t i = 0; i < rule->action_cnt; i++) {
        const struct alb_action *act = &rule->actions[i];
        if (act->type != ALB_ACT_REWRITE)
            continue;
        if (act->path.text || act->query.text) {
            const char *start = alb_buf_tail(scratch);
            if (act->path.text)
                expand(&so, &act->path, &x);
            else
                put_str(&so, orig_path);
            size_t before_q = (size_t)(alb_buf_tail(scratch) - start);
            put_lit(&so, "?");
            if (act->query.text)
                expand(&so, &act->query, &x);
            else
                put_str(&so, query);
            size_t len = (size_t)(alb_buf_tail(scratch) - start);
            rw.target = (struct alb_str){start, len == before_q + 1 ? before_q : len}; /* no empty '?' */
        }
        if (act->host.text) {
            const char *start = alb_buf_tail(scratch);
            expand(&so, &act->host, &x);
            rw.host = (struct alb_str){start, (size_t)(alb_buf_tail(scratch) - start)};
        }
    }
    if (fin->type == ALB_ACT_REDIRECT) {
        /* Location: scheme://host[:port]path[?query], each part from its
         * template or the request (ALB's defaults: ${protocol} ${host}
         * ${port} ${path} ${query}). The default port of the scheme is left out. */
        struct alb_buf *lb = alb_bufpool_try_get(&c->w->bufs);
        if (lb) {
            struct out lo = {lb, false};
            put_lit(&lo, "Location: ");
            const char *scheme_at = alb_buf_tail(lb);
            if (fin->scheme.text)
                expand(&lo, &fin->scheme, &x);
            else
                put_cstr(&lo, x.protocol);
            bool https = alb_buf_tail(lb) - scheme_at == 5 && !memcmp(scheme_at, "https", 5);
            put_lit(&lo, "://");
            if (fin->host.text)
                expand(&lo, &fin->host, &x);
            else
                put_str(&lo, x.host);
            const char *port = alb_buf_tail(scratch);
            if (fin->port.text)
                expand(&so, &fin->port, &x);
            else
                put_uint(&so, lc->port);
            size_t pl = (size_t)(alb_buf_tail(scratch) - port);
            if (pl && !(pl == 3 && https && !memcmp(port, "443", 3)) && !(pl == 2 && !https && !memcmp(port, "80", 2))) {
                put_lit(&lo, ":");
                put(&lo, port, pl);
            }
            if (fin->path.text)
                expand(&lo, &fin->path, &x);
            else
                put_str(&lo, orig_path);
            const char *q_at = alb_buf_tail(lb);
            put_lit(&lo, "?");
            if (fin->query.text)
                expand(&lo, &fin->query, &x);
            else
                put_str(&lo, query);
            if (alb_buf_tail(lb) - q_at == 1)
                lb->end--; /* no query: no '?' */
            put_lit(&lo, "\r\n");
            alb_buf_consume(c->side.in, head_len);
            if (lo.overflow)
                local_reply(c, 500, true);
            else
                local_reply_with(c, fin->code, alb_buf_head(lb), alb_buf_len(lb), "text/plain; charset=utf-8", "", 0,
                                 false);
            alb_bufpool_put(&c->w->bufs, lb);
        } else {
            alb_buf_consume(c->side.in, head_len);
            local_reply(c, 503, true);
        }
        alb_bufpool_put(&c->w->bufs, scratch);
        return;
    }
    if (fin->type == ALB_ACT_FIXED_RESPONSE) {
        alb_buf_consume(c->side.in, head_len);
        local_reply_with(c, fin->code, "", 0, fin->content_type, fin->body, fin->body_len, false);
        alb_bufpool_put(&c->w->bufs, scratch);
        return;
    }
    c->backend = pick_backend(c, fin);
    c->endpoint = pick_endpoint(c, c->backend);
    if (!c->endpoint || so.overflow) {
        alb_buf_consume(c->side.in, head_len);
        local_reply(c, so.overflow ? 414 : 503, so.overflow);
        alb_bufpool_put(&c->w->bufs, scratch);
        return;
    }
    c->uphead = alb_bufpool_try_get(&c->w->bufs);
    bool built = c->uphead && build_request_head(c, m, &rw, c->uphead);
    alb_bufpool_put(&c->w->bufs, scratch);
    if (!built) {
        alb_buf_consume(c->side.in, head_len);
        local_reply(c, c->uphead ? 431 : 503, true);
        return;
    }
    c->uphead_len = (uint32_t)alb_buf_len(c->uphead);
    for (size_t i = 0; i < rule->action_cnt && !(c->flags & C_UPGRADE_REQ); i++) {
        const struct alb_action *act = &rule->actions[i];
        if (act->type != ALB_ACT_MIRROR)
            continue;
        const struct alb_backend *mb = pick_backend(c, act);
        const struct alb_endpoint *mep = mb->ep_cnt ? &mb->eps[alb_worker_random(c->w) % mb->ep_cnt] : NULL;
        if (mep && mep->weight && mep->ready && !mb->tls && !mb->h2) /* mirrors speak plain HTTP/1.1 only */
            c->mirror = alb_mirror_start(c->w, mep, alb_buf_head(c->uphead), c->uphead_len, mb->response_timeout_ms,
                                         &c->mirror);
    }
    alb_buf_consume(c->side.in, head_len);
    c->resp_phase = R_HEAD;
    connect_upstream(c, true, host);
}

/* ---- responses ------------------------------------------------------------ */

/* fail_upstream() : the upstream failed before a response head arrived. A
 * stale pooled connection is replaced once when nothing of the request body
 * has left yet (the head is kept for that); otherwise the client gets
 * <status>. */
static void fail_upstream(struct alb_client *c, int status, const char *why)
{
    bool may_retry = c->up && (c->up->flags & ALB_UP_REUSED) &&
                     !(c->flags & (C_BODY_SENT | C_RESP_STARTED | C_RETRIED)) && c->uphead;
    char sni[sizeof(c->up->sni)] = "";
    if (c->up)
        memcpy(sni, c->up->sni, sizeof(sni)); /* the host the request asked for */
    if (c->up) {
        alb_upstream_release(c->up, false);
        c->up = NULL;
    }
    if (may_retry) {
        c->flags |= C_RETRIED;
        c->flags &= ~C_REQ_WRITE_FAILED;
        c->uphead->start = 0; /* the head bytes are still in place */
        c->uphead->end = c->uphead_len;
        connect_upstream(c, false, sni);
        return;
    }
    alb_log_warn("conn=%" PRIu64 " action=\"%s\" upstream=%s: %s", c->id, action_name(c),
                 c->endpoint ? c->endpoint->text : "-", why);
    local_reply(c, status, false);
}

/* on_response_head() : parses the head at the front of the upstream buffer.
 * Returns true when something changed. */
static bool on_response_head(struct alb_client *c)
{
    struct alb_upstream *up = c->up;
    struct alb_h1_msg *m = &c->w->msg;
    enum alb_h1_result r = alb_h1_parse_response(alb_buf_head(up->side.in), alb_buf_len(up->side.in), &up->scanned, m);
    if (r == ALB_H1_MORE)
        return false;
    if (r == ALB_H1_ERROR) {
        up->flags |= ALB_UP_NO_REUSE;
        c->flags |= C_RESP_STARTED; /* the server did answer: no retry */
        fail_upstream(c, 502, m->error);
        return true;
    }
    c->flags |= C_RESP_STARTED;
    up->scanned = 0;
    if (!ensure_out(c)) {
        close_client(c);
        return true;
    }
    alb_buf_compact(c->out);
    if (m->status < 200) {
        if (m->status == 101) {
            if (!(c->flags & C_UPGRADE_REQ)) {
                up->flags |= ALB_UP_NO_REUSE;
                fail_upstream(c, 502, "101 to a request that asked for no upgrade");
                return true;
            }
            if (!build_response_head(c, m, c->out)) {
                close_client(c);
                return true;
            }
            c->status = 101;
            alb_buf_consume(up->side.in, m->head_len);
            alb_side_release_if_empty(&up->side, &c->w->bufs);
            up->flags |= ALB_UP_NO_REUSE;
            release_uphead(c);
            c->state = S_TUNNEL;
            c->resp_phase = R_BODY;
            body_init(&c->req, B_EOF, 0);
            body_init(&c->resp, B_EOF, 0);
            set_timer(c, c->lst->cfg->tunnel_idle_timeout_ms);
            return true;
        }
        /* 100 Continue and other interim responses go to HTTP/1.1 clients;
         * an HTTP/1.0 client would not understand them (RFC 9110 §15.2). */
        if (c->minor == 1 && !build_response_head(c, m, c->out)) {
            close_client(c);
            return true;
        }
        alb_buf_consume(up->side.in, m->head_len);
        alb_side_release_if_empty(&up->side, &c->w->bufs);
        return true;
    }

    count_response(c, m->status);
    if (!alb_h1_response_has_body(m, (enum alb_h1_method)c->method_id)) {
        body_init(&c->resp, B_NONE, 0);
    } else if (m->flags & ALB_H1_F_CHUNKED) {
        body_init(&c->resp, B_CHUNKED, 0);
        if (c->minor == 0) {
            /* HTTP/1.0 has no chunked coding: send the data, end by closing. */
            c->resp.dechunk = true;
            c->flags |= C_CLOSE_AFTER;
        }
    } else if (m->flags & ALB_H1_F_HAS_TE) {
        body_init(&c->resp, B_EOF, 0); /* RFC 9112 §6.3 rule 4: read until close */
        up->flags |= ALB_UP_NO_REUSE;
        c->flags |= C_CLOSE_AFTER;
    } else if (m->flags & ALB_H1_F_HAS_CL) {
        body_init(&c->resp, B_LENGTH, m->content_length);
    } else {
        body_init(&c->resp, B_EOF, 0);
        up->flags |= ALB_UP_NO_REUSE;
        c->flags |= C_CLOSE_AFTER;
    }
    if ((m->flags & ALB_H1_F_CONN_CLOSE) || (m->minor == 0 && !(m->flags & ALB_H1_F_CONN_KEEPALIVE)))
        up->flags |= ALB_UP_NO_REUSE;
    if ((c->flags & C_ACCEPTS_GZIP) && c->resp.kind != B_NONE && c->w->gzip_cnt < ALB_GZIP_MAX_PER_WORKER &&
        alb_gzip_eligible(m) && (c->gz = alb_gzip_start())) {
        c->w->gzip_cnt++;
        c->resp.dechunk = true; /* data only: the compressed body is framed anew */
        if (c->minor == 0)
            c->flags |= C_CLOSE_AFTER; /* an HTTP/1.0 client learns the end by the close */
    }
    /* A request body still unsent when the answer comes cannot be resynced. */
    if (!c->req.done || c->w->draining || c->lst->retired)
        c->flags |= C_CLOSE_AFTER;
    if (!build_response_head(c, m, c->out)) {
        up->flags |= ALB_UP_NO_REUSE;
        local_reply(c, 502, true);
        return true;
    }
    alb_buf_consume(up->side.in, m->head_len);
    alb_side_release_if_empty(&up->side, &c->w->bufs);
    c->resp_phase = R_BODY;
    set_timer(c, c->backend->response_timeout_ms);
    return true;
}

/* ---- completion ---------------------------------------------------------- */

static void start_linger(struct alb_client *c)
{
    if (c->flags & C_VIRTUAL) { /* a stream ends with its one request */
        close_client(c);
        return;
    }
    if (c->side.tls)
        alb_tls_send_close_notify(c->side.tls);
    if (shutdown(c->side.io.fd, SHUT_WR) == -1) {
        close_client(c);
        return;
    }
    c->side.flags |= ALB_SIDE_SHUT_WR;
    c->state = S_LINGER;
    set_timer(c, LINGER_TIMEOUT_MS);
}

static void finish_request(struct alb_client *c)
{
    /* A request not sent whole cannot be resynchronised: both sides close. */
    bool req_sent = c->req.done && c->req.ready == 0 && !(c->uphead && alb_buf_len(c->uphead));
    bool reusable = req_sent && c->resp.done && c->resp.kind != B_EOF && !(c->flags & C_REQ_WRITE_FAILED);
    if (c->up) {
        alb_upstream_release(c->up, reusable);
        c->up = NULL;
    }
    release_uphead(c);
    log_request(c);
    c->rule = NULL;
    clear_cors(c);
    drop_mirror(c);
    if (c->hold) {
        alb_worker_hold_release(c->w, c->hold);
        c->hold = NULL;
    }
    if ((c->flags & C_CLOSE_AFTER) || !req_sent || c->w->draining || c->lst->retired) {
        start_linger(c);
        return;
    }
    set_state_idle(c);
}

/* ---- steps --------------------------------------------------------------- */

/* Whether a connection's first bytes start HTTP/2: its preface, after
 * ALPN chose h2 (TLS) or on a listener that takes h2c by prior knowledge. */
static bool wants_h2(const struct alb_client *c)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n";
    size_t n = alb_buf_len(c->side.in);
    const char *p = alb_buf_head(c->side.in);
    if (p[0] != 'P' || (c->flags & C_SERVED))
        return false;
    bool tls_h2 = c->side.tls && alb_tls_alpn_h2(c->side.tls);
    if (!tls_h2 && !c->lst->cfg->h2c)
        return false;
    return !memcmp(p, preface, n < sizeof(preface) - 1 ? n : sizeof(preface) - 1) && n >= sizeof(preface) - 1;
}

static bool step_idle(struct alb_client *c)
{
    struct alb_worker *w = c->w;
    bool progress = false;
    ssize_t r = alb_side_read(&c->side, &w->bufs);
    if (r == ALB_SIDE_GOT_EOF || r == ALB_SIDE_FAILED) {
        close_client(c); /* a partial head is abandoned with the connection */
        return false;
    }
    if (r > 0) {
        progress = true;
        if (!(c->flags & C_HEAD_TIMING)) {
            /* Slowloris: the header timeout runs from the first byte and is
             * not extended by later ones. */
            c->flags |= C_HEAD_TIMING;
            set_timer(c, c->lst->cfg->client_header_timeout_ms);
        }
    }
    if (!c->side.in || alb_buf_is_empty(c->side.in))
        return progress;
    if (!(c->flags & C_VIRTUAL) && wants_h2(c)) {
        c->h2 = alb_h2_start(c);
        if (!c->h2) {
            close_client(c);
            return false;
        }
        c->state = S_H2;
        alb_stat_add(&c->stats->h2_connections, 1);
        c->flags &= ~C_HEAD_TIMING;
        alb_loop_disarm(&w->loop, &c->timer);
        return true;
    }
    struct alb_h1_msg *m = &w->msg;
    enum alb_h1_result pr = alb_h1_parse_request(alb_buf_head(c->side.in), alb_buf_len(c->side.in), &c->scanned, m);
    if (pr == ALB_H1_MORE)
        return progress;
    if (pr == ALB_H1_ERROR) {
        alb_log_debug("conn=%" PRIu64 " action=\"reading request head\": %d %s", c->id, m->error_status, m->error);
        c->req.done = false;
        c->method_id = ALB_H1_M_OTHER;
        c->flags &= ~C_HEAD_TIMING;
        local_reply(c, m->error_status, true);
        return true;
    }
    start_request(c, m);
    return true;
}

/* compress_body() : moves the response body's ready bytes from <src>
 * through the compressor into c->out, as much as fits. 0, or -1 when the
 * compressor fails (the client is then closed: its body is cut). */
static int compress_body(struct alb_client *c, struct alb_buf *src)
{
    if (!c->gz)
        return 0; /* finished, or cut */
    if (!ensure_out(c))
        return -1;
    for (;;) {
        size_t ready = src ? c->resp.ready : 0;
        bool finished;
        ssize_t took = alb_gzip_step(c->gz, ready ? alb_buf_head(src) : NULL, ready, c->resp.done, c->minor == 1,
                                     c->out, &finished);
        if (took < 0)
            return -1;
        if (took) {
            alb_buf_consume(src, (size_t)took);
            c->resp.ready -= (uint32_t)took;
        }
        if (finished) {
            c->flags |= C_GZIP_FINISHED;
            stop_gzip(c);
            return 0;
        }
        if (!took || !src || c->resp.ready == 0)
            return 0; /* no room left, or nothing more to take now */
    }
}

static bool step_active(struct alb_client *c)
{
    struct alb_worker *w = c->w;
    bool progress = false;
    size_t body_len;

    ssize_t r = alb_side_read(&c->side, &w->bufs);
    if (r > 0) {
        progress = true;
    } else if (r == ALB_SIDE_FAILED || (r == ALB_SIDE_GOT_EOF && !c->req.done && c->resp_phase != R_LOCAL)) {
        close_client(c); /* the client gave up mid-request */
        return false;
    } else if (r == ALB_SIDE_GOT_EOF) {
        c->flags |= C_CLOSE_AFTER;
        progress = true;
    }

    struct alb_upstream *up = c->up;
    if (up && !(up->flags & ALB_UP_CONNECTING) && !(c->flags & C_REQ_WRITE_FAILED)) {
        int rc = classify(&c->req, c->side.in, c->max_body_bytes);
        if (rc < 0) {
            if (c->flags & C_RESP_STARTED) {
                close_client(c);
                return false;
            }
            up->flags |= ALB_UP_NO_REUSE;
            local_reply(c, rc == -2 ? 413 : 400, true);
            return true;
        }
        const char *body_at = c->side.in ? alb_buf_head(c->side.in) : NULL;
        ssize_t n = pump(&up->side, c->uphead, c->side.in, &c->req, &body_len);
        if (n > 0) {
            progress = true;
            if (body_len)
                c->flags |= C_BODY_SENT;
            /* the bytes just sent are still in place: consuming only moved
             * the buffer's start */
            if (body_len && c->mirror)
                alb_mirror_feed(c->mirror, body_at, body_len);
            if (c->uphead && alb_buf_is_empty(c->uphead) && (c->flags & C_RESP_STARTED))
                release_uphead(c);
        }
        if (c->mirror && c->req.done && c->req.ready == 0)
            alb_mirror_finish(c->mirror); /* everything was copied: it goes on alone */
        if (n == ALB_SIDE_FAILED) {
            /* Keep reading: the server may have answered before closing. */
            c->flags |= C_REQ_WRITE_FAILED;
            up->flags |= ALB_UP_NO_REUSE;
            progress = true;
        }
    }

    if (up) {
        r = alb_side_read(&up->side, &w->bufs);
        if (r > 0) {
            progress = true;
        } else if (r == ALB_SIDE_GOT_EOF || r == ALB_SIDE_FAILED) {
            up->flags |= ALB_UP_NO_REUSE;
            if (c->resp_phase == R_HEAD) {
                bool partial = up->side.in && !alb_buf_is_empty(up->side.in);
                if (!partial || r == ALB_SIDE_FAILED) {
                    fail_upstream(c, 502, r == ALB_SIDE_FAILED ? "connection reset" : "connection closed before response");
                    return true;
                }
            } else if (c->resp_phase == R_BODY && c->resp.kind == B_EOF) {
                classify(&c->resp, up->side.in, 0);
                c->resp.done = true;
                progress = true;
            } else if (c->resp_phase == R_BODY) {
                classify(&c->resp, up->side.in, 0);
                if (!c->resp.done) {
                    /* Truncated: closing is the only way to tell the client. */
                    alb_log_warn("conn=%" PRIu64 " action=\"%s\" upstream=%s: response truncated", c->id,
                                 action_name(c), c->endpoint->text);
                    c->flags |= C_CLOSE_AFTER;
                    c->resp.done = true;
                    c->resp.kind = B_EOF;
                    if (c->gz) { /* never end the gzip stream of a truncated body: the client must see it cut */
                        stop_gzip(c);
                        c->flags |= C_GZIP_FINISHED;
                    }
                }
                progress = true;
            }
        }
        if (c->resp_phase == R_HEAD && up->side.in && !alb_buf_is_empty(up->side.in)) {
            if (on_response_head(c))
                return true;
            if (up->side.flags & ALB_SIDE_EOF) {
                fail_upstream(c, 502, "connection closed inside the response head");
                return true;
            }
        }
        if (c->resp_phase == R_BODY && classify(&c->resp, up->side.in, 0) < 0) {
            alb_log_warn("conn=%" PRIu64 " action=\"%s\" upstream=%s: invalid chunked framing", c->id,
                         action_name(c), c->endpoint->text);
            close_client(c);
            return false;
        }
    }

    struct alb_buf *src = up && c->resp_phase == R_BODY ? up->side.in : NULL;
    if ((c->flags & C_ACCEPTS_GZIP) && (c->gz || (c->flags & C_GZIP_FINISHED)) && c->resp_phase == R_BODY) {
        if (compress_body(c, src) < 0) {
            close_client(c);
            return false;
        }
        src = NULL; /* what goes out is in c->out */
    }
    ssize_t n = pump(&c->side, c->out, src, src ? &c->resp : NULL, &body_len);
    if (n == ALB_SIDE_FAILED) {
        close_client(c);
        return false;
    }
    if (n > 0)
        progress = true;
    if (up && up->side.in)
        alb_side_release_if_empty(&up->side, &w->bufs);
    bool out_empty = !c->out || alb_buf_is_empty(c->out);
    if (out_empty && c->resp_phase == R_LOCAL) {
        finish_request(c);
        return true;
    }
    if (out_empty && c->resp_phase == R_BODY && c->resp.done && c->resp.ready == 0 && !c->gz) {
        finish_request(c); /* it closes if the request was not sent whole */
        return true;
    }
    if (progress && c->resp_phase != R_LOCAL && c->backend && !(up && (up->flags & ALB_UP_CONNECTING)))
        set_timer(c, c->backend->response_timeout_ms);
    return progress;
}

static void shut_wr(struct alb_side *s)
{
    if (!(s->flags & ALB_SIDE_SHUT_WR)) {
        shutdown(s->io.fd, SHUT_WR);
        s->flags |= ALB_SIDE_SHUT_WR;
    }
}

static bool step_tunnel(struct alb_client *c)
{
    struct alb_worker *w = c->w;
    struct alb_upstream *up = c->up;
    bool progress = false;
    size_t body_len;
    ssize_t r = alb_side_read(&c->side, &w->bufs);
    if (r == ALB_SIDE_FAILED) {
        close_client(c);
        return false;
    }
    progress |= r != 0;
    classify(&c->req, c->side.in, 0);
    ssize_t n = pump(&up->side, NULL, c->side.in, &c->req, &body_len);
    if (n == ALB_SIDE_FAILED) {
        close_client(c);
        return false;
    }
    progress |= n > 0;
    if ((c->side.flags & ALB_SIDE_EOF) && c->req.ready == 0)
        shut_wr(&up->side);

    r = alb_side_read(&up->side, &w->bufs);
    if (r == ALB_SIDE_FAILED) {
        close_client(c);
        return false;
    }
    progress |= r != 0;
    classify(&c->resp, up->side.in, 0);
    n = pump(&c->side, c->out, up->side.in, &c->resp, &body_len);
    if (n == ALB_SIDE_FAILED) {
        close_client(c);
        return false;
    }
    progress |= n > 0;
    bool out_empty = !c->out || alb_buf_is_empty(c->out);
    if ((up->side.flags & ALB_SIDE_EOF) && c->resp.ready == 0 && out_empty)
        shut_wr(&c->side);
    alb_side_release_if_empty(&c->side, &w->bufs);
    alb_side_release_if_empty(&up->side, &w->bufs);
    if ((c->side.flags & ALB_SIDE_SHUT_WR) && (up->side.flags & ALB_SIDE_SHUT_WR)) {
        close_client(c);
        return false;
    }
    if (progress)
        set_timer(c, c->lst->cfg->tunnel_idle_timeout_ms);
    return progress;
}

static bool step_linger(struct alb_client *c)
{
    ssize_t r = alb_side_read(&c->side, &c->w->bufs);
    if (r == ALB_SIDE_GOT_EOF || r == ALB_SIDE_FAILED) {
        close_client(c);
        return false;
    }
    if (c->side.in)
        alb_buf_consume(c->side.in, alb_buf_len(c->side.in));
    alb_side_release_if_empty(&c->side, &c->w->bufs);
    return r > 0;
}

static void run(struct alb_client *c)
{
    bool progress = true;
    while (progress) {
        switch (c->state) {
        case S_IDLE: progress = step_idle(c); break;
        case S_ACTIVE: progress = step_active(c); break;
        case S_TUNNEL: progress = step_tunnel(c); break;
        case S_LINGER: progress = step_linger(c); break;
        case S_H2: progress = alb_h2_step(c->h2); break;
        default: return;
        }
    }
}

/* ---- events ---------------------------------------------------------------- */

static void on_client_io(struct alb_io *io, uint32_t events)
{
    struct alb_client *c = (struct alb_client *)io;
    if (c->state == S_CLOSED)
        return;
    alb_side_on_events(&c->side, events);
    run(c);
}

static void upstream_event(struct alb_client *c, uint32_t events);

void alb__session_on_upstream(struct alb_client *c, uint32_t events)
{
    upstream_event(c, events);
    if (c->flags & C_VIRTUAL) /* what the stream made goes out on its connection */
        alb_h2_flush_later(c->h2);
}

static void upstream_event(struct alb_client *c, uint32_t events)
{
    struct alb_upstream *up = c->up;
    if (c->state == S_CLOSED || !up)
        return;
    alb_side_on_events(&up->side, events);
    if ((up->flags & ALB_UP_CONNECTING) && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = alb_sock_error(up->side.io.fd);
        if (err) {
            up->flags &= ~ALB_UP_REUSED;
            alb_log_warn("conn=%" PRIu64 " action=\"connecting to %s\": %s", c->id, c->endpoint->text, strerror(err));
            fail_upstream(c, 502, strerror(err));
            run(c);
            return;
        }
        up->flags &= ~ALB_UP_CONNECTING;
        set_timer(c, c->backend->response_timeout_ms);
    }
    run(c);
}

static void timeout(struct alb_client *c);

static void on_timeout(struct alb_timer *t)
{
    struct alb_client *c = (struct alb_client *)((char *)t - offsetof(struct alb_client, timer));
    timeout(c);
    if (c->flags & C_VIRTUAL)
        alb_h2_flush_later(c->h2);
}

static void timeout(struct alb_client *c)
{
    switch (c->state) {
    case S_IDLE:
        /* 408 for a head that is too slow; a connection that sent nothing
         * is closed silently (as nginx does: it may be a preconnect). */
        if ((c->flags & C_HEAD_TIMING) && c->side.in && !alb_buf_is_empty(c->side.in)) {
            c->req.done = false;
            c->flags &= ~C_HEAD_TIMING;
            local_reply(c, 408, true);
            run(c);
        } else {
            close_client(c);
        }
        return;
    case S_ACTIVE:
        if (c->resp_phase == R_HEAD) {
            bool connecting = c->up && (c->up->flags & ALB_UP_CONNECTING);
            alb_log_warn("conn=%" PRIu64 " action=\"%s\" upstream=%s: %s timed out", c->id, action_name(c),
                         c->endpoint ? c->endpoint->text : "-", connecting ? "connect" : "response");
            c->flags |= C_RETRIED | C_CLOSE_AFTER;
            local_reply(c, 504, true);
            run(c);
            return;
        }
        close_client(c);
        return;
    case S_H2:
        alb_h2_timeout(c->h2);
        return;
    default:
        close_client(c);
        return;
    }
}

struct alb_client *alb_session_open_stream(struct alb_client *conn, const struct alb_vside_ops *ops, void *ctx)
{
    struct alb_worker *w = conn->w;
    struct alb_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->side.io.fd = -1;
    c->side.vops = ops;
    c->side.vctx = ctx;
    c->side.flags = ALB_SIDE_READABLE | ALB_SIDE_WRITABLE;
    c->w = w;
    c->lst = conn->lst;
    c->stats = conn->stats;
    c->h2 = conn->h2;
    c->id = ++w->next_conn_id;
    c->state = S_IDLE;
    c->flags = C_VIRTUAL | C_CLOSE_AFTER;
    memcpy(c->ip, conn->ip, sizeof(c->ip));
    c->peer = conn->peer;
    alb_timer_init(&c->timer, on_timeout);
    return c;
}

void alb_session_stream_run(struct alb_client *c, bool readable, bool writable)
{
    if (c->state == S_CLOSED)
        return;
    c->side.flags |= (readable ? ALB_SIDE_READABLE : 0) | (writable ? ALB_SIDE_WRITABLE : 0);
    run(c);
}

struct alb_side *alb__session_side(struct alb_client *c) { return &c->side; }
struct alb_worker *alb__session_worker(struct alb_client *c) { return c->w; }

void alb_session_stream_close(struct alb_client *c)
{
    close_client(c);
}

void alb_session_h2_done(struct alb_client *conn)
{
    close_client(conn);
}

void alb_session_h2_idle(struct alb_client *conn, bool idle)
{
    if (idle)
        set_timer(conn, conn->lst->cfg->idle_timeout_ms);
    else
        alb_loop_disarm(&conn->w->loop, &conn->timer);
}

void alb_session_accept(struct alb_wlistener *l, int fd, const struct sockaddr *peer)
{
    struct alb_worker *w = l->w;
    struct alb_client *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->side.io.fd = fd;
    c->side.io.fn = on_client_io;
    c->side.flags = ALB_SIDE_WRITABLE;
    c->w = w;
    c->lst = l;
    c->id = ++w->next_conn_id;
    c->state = S_IDLE;
    alb_sock_format_ip(peer, c->ip, sizeof(c->ip));
    memcpy(&c->peer, peer, peer->sa_family == AF_INET6 ? sizeof(c->peer.in6) : sizeof(c->peer.in4));
    alb_sock_set_nodelay(fd);
    alb_timer_init(&c->timer, on_timeout);
    if (l->cfg->https && !(c->side.tls = alb_tls_accept(l->cfg, fd))) {
        close(fd);
        free(c);
        return;
    }
    if (alb_loop_add(&w->loop, &c->side.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) < 0) {
        alb_tls_close(c->side.tls);
        close(fd);
        free(c);
        return;
    }
    c->next = w->clients;
    if (w->clients)
        w->clients->prev = c;
    w->clients = c;
    w->client_cnt++;
    l->conn_cnt++;
    c->stats = l->stats;
    atomic_fetch_add_explicit(&c->stats->active, 1, memory_order_relaxed);
    /* A new connection must send its head within the header timeout. */
    c->flags |= C_HEAD_TIMING;
    set_timer(c, l->cfg->client_header_timeout_ms);
}

/* Closes the idle connections of listener <l> (NULL: of every listener) and
 * lets the busy ones close after their current response. */
static void wind_down(struct alb_worker *w, const struct alb_wlistener *l)
{
    struct alb_client *c = w->clients;
    while (c) {
        struct alb_client *next = c->next;
        if (!l || c->lst == l) {
            if (c->state == S_H2)
                alb_h2_drain(c->h2);
            else if (c->state == S_IDLE && (!c->side.in || alb_buf_is_empty(c->side.in)))
                close_client(c);
            else
                c->flags |= C_CLOSE_AFTER;
        }
        c = next;
    }
}

void alb_session_drain(struct alb_worker *w) { wind_down(w, NULL); }

void alb_session_listener_retired(struct alb_worker *w, struct alb_wlistener *l) { wind_down(w, l); }

void alb_session_close_all(struct alb_worker *w)
{
    while (w->clients)
        close_client(w->clients);
}
