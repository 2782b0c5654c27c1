/* proxy/h2.c : see h2.h. */
#include "proxy/h2.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bytequeue.h"
#include "core/log.h"
#include "http/h1.h"
#include "proxy/session.h"
#include "proxy/side.h"
#include "proxy/worker.h"

#define MAX_STREAM_ERRORS 64 /* streams refused or reset for errors before the connection is cut */
#define MAX_KICKS 256   /* streams run per pass */

enum body { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

struct stream {
    struct alb_h2 *h;
    int32_t id;
    struct alb_client *vc;        /* the client running its request; NULL once closed */
    struct stream *prev, *next;   /* the connection's streams */
    bool closing;                 /* nghttp2 closed it: its client is being closed */
    bool kicked;                  /* in h->kicks: it runs on the next pass */
    /* the request */
    char *method, *path, *authority, *scheme; /* in <text>, or owned when it had no room */
    char text[192];               /* the pseudo-headers of most requests, without an allocation each */
    size_t text_used;
    bool line_done;               /* the request line and Host are in <in>: fields follow them there */
    struct alb_bytequeue cookie;          /* cookie fields joined with "; " (RFC 9113 §8.2.3) */
    struct alb_bytequeue req_trailers;    /* "name: value\r\n", for a chunked request body */
    bool has_length;
    bool chunked;                 /* the body goes to the client chunked */
    bool ended;                   /* END_STREAM came */
    struct alb_bytequeue in;              /* HTTP/1.1 bytes for the client to read */
    size_t unconsumed;            /* DATA bytes in <in> not yet given back to flow control */
    /* the response */
    struct alb_bytequeue raw;             /* bytes from the client not parsed yet */
    bool head_done, resp_end, deferred;
    enum body body;
    uint64_t remaining;
    struct alb_h1_chunked ch;
    struct alb_bytequeue out;             /* body bytes for DATA frames */
    struct alb_bytequeue framing;         /* chunked framing since the last data: at the end, the trailer section */
    nghttp2_nv *trailers;                 /* owned: parsed from <framing> when the body ends */
    size_t trailer_cnt;
};

struct alb_h2 {
    struct alb_client *conn;
    nghttp2_session *ng;
    struct stream *streams;       /* open ones */
    size_t stream_cnt;
    size_t stream_errors;         /* the peer's: refused streams, malformed requests */
    size_t block_bytes;           /* of the header block being read */
    int32_t kicks[MAX_KICKS];     /* streams to run: ids */
    size_t kick_cnt;
    struct alb_bytequeue pend;            /* frames not yet taken by the socket */
    struct alb_deferred flush_at_end;     /* alb_h2_flush_later() */
    bool flush_queued;                    /* flush_at_end is queued: it frees <h> if closed meanwhile */
    bool closed;                          /* alb_h2_free() ran while a flush was queued */
    bool draining, failed;
    bool cut;                             /* it sent (or meant to send) a GOAWAY with an error */
};

/* The connection is the session's client; these are the two things h2 uses of it. */
struct alb_side *alb__session_side(struct alb_client *c);
struct alb_worker *alb__session_worker(struct alb_client *c);

/* The peer abuses the connection: GOAWAY (ENHANCE_YOUR_CALM) is queued
 * and what nghttp2 is reading fails, so the connection is cut. */
static int cut(struct alb_h2 *h)
{
    h->cut = true;
    nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static void kick(struct stream *s)
{
    struct alb_h2 *h = s->h;
    if (!s->kicked && h->kick_cnt < MAX_KICKS) {
        h->kicks[h->kick_cnt++] = s->id;
        s->kicked = true;
    }
}

/* ---- the stream's side: what its client reads and writes ---------------------------- */

static ssize_t vread(void *ctx, struct alb_side *side, char *buf, size_t len)
{
    (void)side;
    struct stream *s = ctx;
    size_t n = alb_bq_avail(&s->in);
    if (n > len)
        n = len;
    if (!n)
        return 0;
    memcpy(buf, alb_bq_head(&s->in), n);
    alb_bq_consume(&s->in, n);
    /* the window opens as the body is taken (framing bytes count too: a
     * little early, never late) */
    size_t give = n < s->unconsumed ? n : s->unconsumed;
    if (give) {
        nghttp2_session_consume(s->h->ng, s->id, give);
        s->unconsumed -= give;
    }
    return (ssize_t)n;
}

static void put_body(struct stream *s, const char *p, size_t n)
{
    if (n && !alb_bq_put(&s->out, p, n))
        s->resp_end = true; /* out of memory: the response ends short */
    if (s->deferred && (n || s->resp_end)) {
        s->deferred = false;
        nghttp2_session_resume_data(s->h->ng, s->id);
    }
}

bool alb_h2_connection_specific(struct alb_str n)
{
    return alb_str_is_ci(n, "connection") || alb_str_is_ci(n, "keep-alive") || alb_str_is_ci(n, "proxy-connection") ||
           alb_str_is_ci(n, "transfer-encoding") || alb_str_is_ci(n, "upgrade");
}

static ssize_t data_source(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                           nghttp2_data_source *src, void *ud);

/* The response head <m>, parsed from what the stream's client wrote:
 * HEADERS. False when it cannot be sent (the stream ends). */
static bool submit_head(struct stream *s, const struct alb_h1_msg *m)
{
    static _Thread_local char names[ALB_H1_MAX_HEADERS][128];
    nghttp2_nv nv[ALB_H1_MAX_HEADERS + 1];
    char status[4];
    snprintf(status, sizeof(status), "%03d", m->status);
    nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
    size_t n = 1;
    for (size_t i = 0; i < m->hdr_cnt; i++) {
        struct alb_str name = m->hdrs[i].name;
        if (alb_h2_connection_specific(name) || name.len >= sizeof(names[0]) ||
            (s->body == BODY_CHUNKED && alb_str_is_ci(name, "content-length")))
            continue;
        char *lower = names[n];
        alb_lower_copy(lower, name.p, name.len);
        nv[n] = (nghttp2_nv){(uint8_t *)lower, (uint8_t *)m->hdrs[i].value.p, name.len, m->hdrs[i].value.len,
                             NGHTTP2_NV_FLAG_NONE};
        n++;
    }
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = data_source};
    return nghttp2_submit_response(s->h->ng, s->id, nv, n, s->body == BODY_NONE ? NULL : &prd) == 0;
}

/* The trailer section of a chunked body, from the framing after its last
 * data ("\r\n" ending the last chunk, "0[;ext]\r\n", fields, "\r\n"), as
 * fields for a trailing HEADERS frame. The chunked decoder validated it. */
static void parse_trailers(struct stream *s)
{
    char *p = s->framing.p ? s->framing.p + s->framing.off : NULL;
    char *end = p ? p + alb_bq_avail(&s->framing) : NULL;
    if (p && end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;
    char *eol = p ? memchr(p, '\n', (size_t)(end - p)) : NULL; /* the last-chunk line */
    if (!eol)
        return;
    size_t cap = 0;
    for (char *q = eol + 1; q < end; q++)
        cap += *q == '\n';
    if (!cap || !(s->trailers = calloc(cap, sizeof(*s->trailers))))
        return;
    for (char *line = eol + 1; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl || nl - line < 2)
            break; /* the empty line that ends the section */
        char *colon = memchr(line, ':', (size_t)(nl - line));
        if (colon) {
            char *v = colon + 1, *ve = nl - 1; /* before "\r" */
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            alb_lower_copy(line, line, (size_t)(colon - line));
            struct alb_str name = {line, (size_t)(colon - line)};
            if (!alb_h2_connection_specific(name) && !alb_str_is_ci(name, "content-length"))
                s->trailers[s->trailer_cnt++] = (nghttp2_nv){(uint8_t *)line, (uint8_t *)v, name.len,
                                                             (size_t)(ve - v), NGHTTP2_NV_FLAG_NONE};
        }
        line = nl + 1;
    }
}

/* Turns what the client wrote (HTTP/1.1) into HEADERS and body bytes.
 * Returns how many of p[0..len) it took: the rest is an incomplete head,
 * to be joined with what follows. After the response's end, everything is
 * taken (and dropped). */
static size_t take_response(struct stream *s, const char *start, size_t len)
{
    static _Thread_local struct alb_h1_msg m;
    const char *p = start;
    size_t n = len;
#define TAKE(k) (p += (k), n -= (k))
    while (n && !s->resp_end) {
        if (!s->head_done) {
            size_t scanned = 0;
            enum alb_h1_result r = alb_h1_parse_response(p, n, &scanned, &m);
            if (r == ALB_H1_MORE)
                return (size_t)(p - start);
            if (r == ALB_H1_ERROR) {
                nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
                s->resp_end = true;
                return len;
            }
            TAKE(m.head_len);
            if (m.status < 200)
                continue; /* interim: not passed on */
            bool head_req = s->method && !strcmp(s->method, "HEAD");
            if (head_req || m.status == 204 || m.status == 304)
                s->body = BODY_NONE;
            else if (m.flags & ALB_H1_F_CHUNKED)
                s->body = BODY_CHUNKED;
            else if (m.flags & ALB_H1_F_HAS_CL)
                s->body = m.content_length ? BODY_LENGTH : BODY_NONE;
            else
                s->body = BODY_EOF;
            s->remaining = m.content_length;
            alb_h1_chunked_init(&s->ch);
            s->head_done = true;
            if (!submit_head(s, &m)) {
                s->resp_end = true;
                return len;
            }
            if (s->body == BODY_NONE)
                s->resp_end = true;
            continue;
        }
        switch (s->body) {
        case BODY_LENGTH: {
            size_t take = n < s->remaining ? n : (size_t)s->remaining;
            s->remaining -= take;
            s->resp_end = s->remaining == 0;
            put_body(s, p, take);
            TAKE(take);
            break;
        }
        case BODY_EOF:
            put_body(s, p, n);
            TAKE(n);
            break;
        case BODY_CHUNKED: {
            size_t used;
            bool is_data;
            enum alb_h1_result r = alb_h1_chunked_step(&s->ch, p, n, &used, &is_data);
            if (r == ALB_H1_ERROR) {
                nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
                s->resp_end = true;
                return len;
            }
            if (is_data)
                alb_bq_clear(&s->framing);
            else if (!alb_bq_put(&s->framing, p, used))
                r = ALB_H1_DONE; /* out of memory: the trailers are lost, the body ends */
            if (r == ALB_H1_DONE) {
                parse_trailers(s);
                s->resp_end = true;
            }
            put_body(s, is_data ? p : NULL, is_data ? used : 0);
            TAKE(used);
            if (!used && r != ALB_H1_DONE)
                return (size_t)(p - start);
            break;
        }
        case BODY_NONE:
            TAKE(n); /* nothing may follow a bodiless response */
            break;
        }
    }
#undef TAKE
    if (s->resp_end)
        put_body(s, NULL, 0); /* the end itself resumes a deferred stream */
    return len;
}

static ssize_t vwritev(void *ctx, struct alb_side *side, const struct iovec *iov, int cnt)
{
    (void)side;
    struct stream *s = ctx;
    if (alb_bq_avail(&s->out) >= ALB_H2_STREAM_BUFFER)
        return 0; /* its window is closed: its backend waits */
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        const char *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        if (alb_bq_avail(&s->raw)) { /* an incomplete head waits: these bytes follow it */
            if (!alb_bq_put(&s->raw, p, n))
                break;
            alb_bq_consume(&s->raw, take_response(s, alb_bq_head(&s->raw), alb_bq_avail(&s->raw)));
        } else { /* most often: taken where they are, not copied first */
            size_t used = take_response(s, p, n);
            if (used < n && !alb_bq_put(&s->raw, p + used, n - used))
                break;
        }
        total += n;
    }
    return (ssize_t)total;
}

static const struct alb_vside_ops stream_ops = {vread, vwritev};

static ssize_t data_source(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                           nghttp2_data_source *src, void *ud)
{
    (void)ud;
    struct stream *s = src->ptr;
    size_t n = alb_bq_avail(&s->out);
    if (n > length)
        n = length;
    if (n)
        memcpy(buf, alb_bq_head(&s->out), n);
    alb_bq_consume(&s->out, n);
    if (n && s->vc)
        kick(s); /* room again: its client may write more */
    if (!alb_bq_avail(&s->out) && s->resp_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->trailer_cnt && nghttp2_submit_trailer(ng, id, s->trailers, s->trailer_cnt) == 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM; /* the trailers end the stream */
        return (ssize_t)n;
    }
    if (!n) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* ---- nghttp2's callbacks: the request ------------------------------------------------ */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct alb_h2 *h = ud;
    h->block_bytes = 0;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (h->stream_cnt >= ALB_H2_MAX_STREAMS || h->draining) {
        if (++h->stream_errors > MAX_STREAM_ERRORS)
            return cut(h); /* it keeps ignoring the limit */
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    s->h = h;
    s->id = f->hd.stream_id;
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->stream_cnt++;
    nghttp2_session_set_stream_user_data(ng, s->id, s);
    return 0;
}

/* A NUL-terminated copy of a pseudo-header's value: in the stream's text
 * when it fits, else allocated. */
static char *keep_text(struct stream *s, const uint8_t *p, size_t n)
{
    char *d;
    if (n < sizeof(s->text) - s->text_used) {
        d = s->text + s->text_used;
        s->text_used += n + 1;
    } else {
        d = malloc(n + 1);
    }
    if (d) {
        if (n)
            memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static void drop_text(struct stream *s, char *p)
{
    if (p && (p < s->text || p >= s->text + sizeof(s->text)))
        free(p);
}

/* The request line, and Host from :authority, into the stream's input:
 * its fields go straight after. False when the request has no method or
 * path (it is refused) or out of memory. */
static bool put_request_line(struct stream *s)
{
    struct alb_bytequeue *b = &s->in;
    s->line_done = true;
    if (!s->method || !s->path)
        return false;
    bool ok = alb_bq_put(b, s->method, strlen(s->method)) && alb_bq_put(b, " ", 1) &&
              alb_bq_put(b, s->path, strlen(s->path)) && alb_bq_put(b, " HTTP/1.1\r\n", 11);
    if (ok && s->authority)
        ok = alb_bq_put(b, "Host: ", 6) && alb_bq_put(b, s->authority, strlen(s->authority)) &&
             alb_bq_put(b, "\r\n", 2);
    return ok;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    struct alb_h2 *h = ud;
    /* HPACK bombs and oversized blocks: every header block (a request's,
     * trailers, a refused stream's) is bounded as an HTTP/1.1 head is;
     * over it, the connection is cut */
    h->block_bytes += namelen + valuelen + 32;
    if (h->block_bytes > ALB_H2_MAX_HEADER_LIST)
        return cut(h);
    struct stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s)
        return 0; /* refused */
    if (f->headers.cat == NGHTTP2_HCAT_HEADERS) { /* trailers: a chunked body carries them */
        bool ok = !s->chunked || !s->vc || (namelen && name[0] == ':') ||
                  (alb_bq_put(&s->req_trailers, name, namelen) && alb_bq_put(&s->req_trailers, ": ", 2) &&
                   alb_bq_put(&s->req_trailers, value, valuelen) && alb_bq_put(&s->req_trailers, "\r\n", 2));
        return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    char **pseudo = NULL;
    if (namelen && name[0] == ':') {
        if (namelen == 7 && !memcmp(name, ":method", 7))
            pseudo = &s->method;
        else if (namelen == 5 && !memcmp(name, ":path", 5))
            pseudo = &s->path;
        else if (namelen == 10 && !memcmp(name, ":authority", 10))
            pseudo = &s->authority;
        else if (namelen == 7 && !memcmp(name, ":scheme", 7))
            pseudo = &s->scheme;
        else
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* :protocol (extended CONNECT): refused */
        drop_text(s, *pseudo);
        *pseudo = keep_text(s, value, valuelen);
        return *pseudo ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (namelen == 6 && !memcmp(name, "cookie", 6)) {
        bool ok = (!alb_bq_avail(&s->cookie) || alb_bq_put(&s->cookie, "; ", 2)) &&
                  alb_bq_put(&s->cookie, value, valuelen);
        return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (namelen == 2 && !memcmp(name, "te", 2))
        return 0; /* "trailers" only (nghttp2 checks): it means nothing to HTTP/1.1 backends */
    /* the pseudo-headers came first (nghttp2 checks): the head starts here */
    if (!s->line_done && !put_request_line(s))
        return s->method && s->path ? NGHTTP2_ERR_CALLBACK_FAILURE : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (namelen == 4 && !memcmp(name, "host", 4)) {
        if (s->authority)
            return 0; /* :authority wins */
        s->authority = keep_text(s, value, valuelen);
    }
    s->has_length |= namelen == 14 && !memcmp(name, "content-length", 14);
    bool ok = alb_bq_put(&s->in, name, namelen) && alb_bq_put(&s->in, ": ", 2) && alb_bq_put(&s->in, value, valuelen) &&
              alb_bq_put(&s->in, "\r\n", 2);
    return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* The request head, as HTTP/1.1, for the stream's client; and the client. */
static bool start_stream(struct stream *s, bool ended)
{
    if (!s->method || !s->path || !s->scheme || !strcmp(s->method, "CONNECT"))
        return false; /* RFC 9113 §8.3.1; CONNECT is not proxied */
    s->ended = ended;
    s->chunked = !ended && !s->has_length;
    struct alb_bytequeue *b = &s->in;
    bool ok = s->line_done || put_request_line(s);
    if (ok && alb_bq_avail(&s->cookie))
        ok = alb_bq_put(b, "Cookie: ", 8) && alb_bq_put(b, alb_bq_head(&s->cookie), alb_bq_avail(&s->cookie)) &&
             alb_bq_put(b, "\r\n", 2);
    if (ok && s->chunked)
        ok = alb_bq_put(b, "Transfer-Encoding: chunked\r\n", 28);
    ok = ok && alb_bq_put(b, "\r\n", 2);
    alb_bq_free(&s->cookie);
    if (!ok || !(s->vc = alb_session_open_stream(s->h->conn, &stream_ops, s)))
        return false;
    kick(s);
    return true;
}

static void end_request(struct stream *s)
{
    if (s->ended)
        return;
    s->ended = true;
    if (s->chunked && !(alb_bq_put(&s->in, "0\r\n", 3) &&
                        alb_bq_put(&s->in, alb_bq_head(&s->req_trailers), alb_bq_avail(&s->req_trailers)) &&
                        alb_bq_put(&s->in, "\r\n", 2)))
        alb_session_stream_close(s->vc); /* out of memory: the request cannot end */
    kick(s);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    struct stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s)
        return 0;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (!start_stream(s, end))
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
    } else if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && end && s->vc) {
        end_request(s);
    }
    return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
    (void)flags;
    (void)ud;
    struct stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s || !s->vc || s->ended) {
        nghttp2_session_consume(ng, id, len); /* nobody takes it: the window must not stay shut */
        return 0;
    }
    char line[20];
    bool ok = !s->chunked || alb_bq_put(&s->in, line, (size_t)snprintf(line, sizeof(line), "%zx\r\n", len));
    ok = ok && alb_bq_put(&s->in, data, len) && (!s->chunked || alb_bq_put(&s->in, "\r\n", 2));
    if (!ok)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    s->unconsumed += len;
    kick(s);
    return 0;
}

/* nghttp2's own defences (rapid reset, floods) and protocol errors end
 * the connection with a GOAWAY that carries an error. */
static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ng;
    struct alb_h2 *h = ud;
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR)
        h->cut = true;
    return 0;
}

/* A frame nghttp2 refused: streams over the limit before the peer took
 * our SETTINGS, malformed requests. A peer that keeps at it is cut. */
static int on_invalid_frame(nghttp2_session *ng, const nghttp2_frame *f, int error, void *ud)
{
    (void)ng;
    (void)f;
    (void)error;
    struct alb_h2 *h = ud;
    return ++h->stream_errors > MAX_STREAM_ERRORS ? cut(h) : 0;
}

static void free_stream(struct stream *s)
{
    struct alb_h2 *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h->stream_cnt--;
    drop_text(s, s->method);
    drop_text(s, s->path);
    drop_text(s, s->authority);
    drop_text(s, s->scheme);
    alb_bq_free(&s->cookie);
    alb_bq_free(&s->in);
    alb_bq_free(&s->raw);
    alb_bq_free(&s->out);
    alb_bq_free(&s->framing);
    alb_bq_free(&s->req_trailers);
    free(s->trailers);
    free(s);
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error, void *ud)
{
    (void)error;
    (void)ud;
    struct stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s)
        return 0;
    s->closing = true;
    if (s->vc)
        alb_session_stream_close(s->vc); /* a reset, or done: its client (and backend request) ends */
    free_stream(s);
    return 0;
}

void alb_h2_stream_closed(void *stream_ctx)
{
    struct stream *s = stream_ctx;
    s->vc = NULL;
    if (s->closing || s->resp_end)
        return;
    if (s->head_done && s->body == BODY_EOF) {
        s->resp_end = true; /* the response ended with its client */
        put_body(s, NULL, 0);
        return;
    }
    s->resp_end = true; /* cut short */
    nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
}

/* ---- the connection -------------------------------------------------------------- */

struct alb_h2 *alb_h2_start(struct alb_client *conn)
{
    struct alb_h2 *h = calloc(1, sizeof(*h));
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    if (!h || nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0) {
        free(h);
        nghttp2_session_callbacks_del(cb);
        return NULL;
    }
    h->conn = conn;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_option_set_no_auto_window_update(opt, 1); /* the window opens as bodies are taken */
    nghttp2_option_set_max_outbound_ack(opt, 64);      /* SETTINGS and PING floods */
    nghttp2_option_set_max_settings(opt, 16);
    nghttp2_option_set_stream_reset_rate_limit(opt, 200, 50); /* rapid reset (CVE-2023-44487) */
    nghttp2_option_set_max_continuations(opt, 8);            /* CONTINUATION floods */
    int rc = nghttp2_session_server_new2(&h->ng, cb, h, opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, ALB_H2_MAX_STREAMS},
                                   {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, ALB_H2_MAX_HEADER_LIST},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, NGHTTP2_INITIAL_WINDOW_SIZE}};
    if (rc != 0 || nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0) {
        nghttp2_session_del(h->ng);
        free(h);
        return NULL;
    }
    return h;
}

struct alb_tls_conn *alb_h2_tls(const struct alb_h2 *h) { return alb__session_side(h->conn)->tls; }

bool alb_h2_was_cut(const struct alb_h2 *h) { return h->cut; }

/* Runs the streams that have something to read or room to write. */
static void run_kicked(struct alb_h2 *h)
{
    for (int pass = 0; pass < 4 && h->kick_cnt; pass++) {
        int32_t ids[MAX_KICKS];
        size_t n = h->kick_cnt;
        memcpy(ids, h->kicks, n * sizeof(ids[0]));
        h->kick_cnt = 0;
        for (size_t i = 0; i < n; i++) {
            struct stream *s = nghttp2_session_get_stream_user_data(h->ng, ids[i]);
            if (s)
                s->kicked = false;
            if (s && s->vc)
                alb_session_stream_run(s->vc, true, alb_bq_avail(&s->out) < ALB_H2_STREAM_BUFFER);
        }
    }
}

bool alb_h2_send_frames(nghttp2_session *ng, struct alb_bytequeue *pend, struct alb_side *s,
                        bool (*refill)(void *), void *arg, bool *moved)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        while (alb_bq_avail(pend) < ALB_H2_SEND_BATCH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(ng, &data);
            if (n < 0)
                return false;
            if (n == 0) {
                if (!refill || !refill(arg))
                    break;
                continue;
            }
            if (!alb_bq_put(pend, data, (size_t)n))
                return false;
        }
        if (!alb_bq_avail(pend))
            return true;
        struct iovec iov = {(void *)alb_bq_head(pend), alb_bq_avail(pend)};
        ssize_t w = alb_side_io_writev(s, &iov, 1);
        if (w < 0)
            return false;
        alb_bq_consume(pend, (size_t)w);
        *moved |= w > 0;
        if (alb_bq_avail(pend))
            return true; /* the socket is full: on the writable edge */
    }
    return true;
}

/* Streams that got room make more frames: false when none was waiting. */
static bool run_waiting_streams(void *arg)
{
    struct alb_h2 *h = arg;
    if (!h->kick_cnt)
        return false;
    run_kicked(h);
    return true;
}

/* Frames out to the client's socket. False when the connection failed. */
static bool send_frames(struct alb_h2 *h, bool *moved)
{
    return alb_h2_send_frames(h->ng, &h->pend, alb__session_side(h->conn), run_waiting_streams, h, moved);
}

/* Whether a request runs: a stream whose head is incomplete, or whose
 * response only waits for the peer's window, does not keep the
 * connection from its idle timeout. */
static bool serving(const struct alb_h2 *h)
{
    for (const struct stream *s = h->streams; s; s = s->next)
        if (s->vc)
            return true;
    return false;
}

/* After frames moved: the connection's end, or its idle timer. */
static bool settle(struct alb_h2 *h, bool ok)
{
    if (!ok || h->failed || (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng) &&
                             !alb_bq_avail(&h->pend)) ||
        (h->draining && !h->stream_cnt && !alb_bq_avail(&h->pend))) {
        h->failed = true;
        alb_session_h2_done(h->conn);
        return false;
    }
    bool idle = !serving(h);
    if (idle && !alb_bq_avail(&h->pend))
        alb_bq_free(&h->pend); /* an idle connection holds no frame buffer of ours */
    alb_session_h2_idle(h->conn, idle);
    return true;
}

bool alb_h2_step(struct alb_h2 *h)
{
    struct alb_client *conn = h->conn;
    struct alb_side *side = alb__session_side(conn);
    struct alb_worker *w = alb__session_worker(conn);
    bool moved = false;
    /* frames are read only while what they answer can leave: a peer that
     * does not read its acknowledgements stalls itself, not us */
    ssize_t r = alb_bq_avail(&h->pend) ? 0 : alb_side_read(side, &w->bufs);
    if (r == ALB_SIDE_GOT_EOF || r == ALB_SIDE_FAILED) {
        h->failed = true;
        settle(h, false);
        return false;
    }
    if (side->in && !alb_buf_is_empty(side->in)) {
        ssize_t n = nghttp2_session_mem_recv(h->ng, (const uint8_t *)alb_buf_head(side->in), alb_buf_len(side->in));
        if (n < 0) {
            alb_log_debug("action=\"reading HTTP/2\": %s: the connection is cut", nghttp2_strerror((int)n));
            bool ignored = false;
            send_frames(h, &ignored); /* the GOAWAY, if it can go */
            settle(h, false);
            return false;
        }
        alb_buf_consume(side->in, (size_t)n);
        alb_side_release_if_empty(side, &w->bufs);
        moved = true;
    }
    run_kicked(h);
    bool ok = send_frames(h, &moved);
    return settle(h, ok) && (moved || r > 0);
}

void alb_h2_flush(struct alb_h2 *h)
{
    if (h->failed)
        return;
    run_kicked(h);
    bool moved = false;
    settle(h, send_frames(h, &moved));
}

static void free_h2(struct alb_h2 *h);

static void flush_at_end(struct alb_deferred *d)
{
    struct alb_h2 *h = (struct alb_h2 *)((char *)d - offsetof(struct alb_h2, flush_at_end));
    h->flush_queued = false;
    if (h->closed)
        free_h2(h);
    else
        alb_h2_flush(h);
}

void alb_h2_flush_later(struct alb_h2 *h)
{
    if (h->flush_queued || h->failed)
        return;
    h->flush_queued = true;
    alb_loop_defer(&alb__session_worker(h->conn)->loop, &h->flush_at_end, flush_at_end);
}

void alb_h2_drain(struct alb_h2 *h)
{
    if (h->draining)
        return;
    h->draining = true;
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
                          NULL, 0);
    alb_h2_flush(h);
}

void alb_h2_timeout(struct alb_h2 *h)
{
    /* idle with no stream: say so, and go */
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
                          NULL, 0);
    bool moved = false;
    send_frames(h, &moved);
    h->failed = true;
    settle(h, false);
}

void alb_h2_free(struct alb_h2 *h)
{
    if (!h)
        return;
    while (h->streams) {
        struct stream *s = h->streams;
        s->closing = true;
        if (s->vc)
            alb_session_stream_close(s->vc);
        free_stream(s);
    }
    if (h->flush_queued)
        h->closed = true; /* flush_at_end() frees it */
    else
        free_h2(h);
}

static void free_h2(struct alb_h2 *h)
{
    nghttp2_session_del(h->ng);
    alb_bq_free(&h->pend);
    free(h);
}
