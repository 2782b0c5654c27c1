/* proxy/h2up.c : see h2up.h. */
#include "proxy/h2up.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytequeue.h"
#include "http/h1.h"
#include "proxy/h2.h"
#include "proxy/side.h"

#define MAX_HEAD 65536       /* request head bytes (the session sends far less) */
#define BODY_QUEUE 65536     /* request body held for DATA frames before the session is paused */
#define MAX_RESP_FIELDS 65536 /* a response header block, as HTTP/1.1 text */

enum req_body { RB_NONE, RB_LENGTH, RB_CHUNKED };

struct alb_h2up {
    nghttp2_session *ng;
    bool tls;
    bool failed;                 /* protocol error, or a stream that did not end cleanly */
    bool goaway;                 /* the server is going away: no new request */
    bool eof;                    /* the socket's end came */
    int32_t sid;                 /* the stream in flight; 0: none */
    /* the request, as the session writes it */
    struct alb_bytequeue head;   /* until the head is complete */
    size_t scanned;
    bool head_done, req_end, deferred;
    enum req_body rbody;
    uint64_t remaining;
    struct alb_h1_chunked ch;
    struct alb_bytequeue body;   /* request body bytes for DATA frames */
    /* the response, as the session reads it */
    struct alb_bytequeue resp;   /* HTTP/1.1 bytes */
    size_t unconsumed;           /* DATA bytes in <resp> not yet given back to flow control */
    struct alb_bytequeue fields; /* the header block being read, "name: value\r\n" */
    int status;
    char length[24];             /* the block's content-length ("": none): kept only without a body */
    bool resp_started;           /* the final head went out */
    /* frames for the socket */
    struct alb_bytequeue pend;
};

/* ---- the request: HTTP/1.1 in, HEADERS and DATA out ------------------------------- */

static ssize_t body_source(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                           nghttp2_data_source *src, void *ud)
{
    (void)ng;
    (void)id;
    (void)src;
    struct alb_h2up *u = ud;
    size_t n = alb_bq_avail(&u->body);
    if (n > length)
        n = length;
    if (n)
        memcpy(buf, alb_bq_head(&u->body), n);
    alb_bq_consume(&u->body, n);
    if (!alb_bq_avail(&u->body) && u->req_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (!n) {
        u->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* Fields that do not go in HTTP/2, TE (te: trailers is sent anyway) and
 * Host (it is :authority). */
static bool not_forwarded(struct alb_str n)
{
    return alb_h2_connection_specific(n) || alb_str_is_ci(n, "te") || alb_str_is_ci(n, "host");
}

static bool submit_request(struct alb_h2up *u, const struct alb_h1_msg *m)
{
    static _Thread_local char names[ALB_H1_MAX_HEADERS][128];
    nghttp2_nv nv[ALB_H1_MAX_HEADERS + 5];
    size_t n = 0;
#define NV(name, value, len) \
    (nghttp2_nv){(uint8_t *)(name), (uint8_t *)(value), strlen(name), (len), NGHTTP2_NV_FLAG_NONE}
    nv[n++] = NV(":method", m->method.p, m->method.len);
    nv[n++] = NV(":scheme", u->tls ? "https" : "http", u->tls ? 5 : 4);
    nv[n++] = NV(":authority", m->authority.p, m->authority.len);
    nv[n++] = NV(":path", m->target.p, m->target.len);
    nv[n++] = NV("te", "trailers", 8); /* gRPC servers require it */
#undef NV
    for (size_t i = 0; i < m->hdr_cnt; i++) {
        struct alb_str name = m->hdrs[i].name;
        if (not_forwarded(name) || name.len >= sizeof(names[0]))
            continue;
        char *lower = names[i];
        alb_lower_copy(lower, name.p, name.len);
        nv[n++] = (nghttp2_nv){(uint8_t *)lower, (uint8_t *)m->hdrs[i].value.p, name.len, m->hdrs[i].value.len,
                               NGHTTP2_NV_FLAG_NONE};
    }
    if (m->flags & ALB_H1_F_CHUNKED)
        u->rbody = RB_CHUNKED;
    else if ((m->flags & ALB_H1_F_HAS_CL) && m->content_length)
        u->rbody = RB_LENGTH;
    else
        u->rbody = RB_NONE;
    u->remaining = m->content_length;
    alb_h1_chunked_init(&u->ch);
    u->req_end = u->rbody == RB_NONE;
    nghttp2_data_provider prd = {.read_callback = body_source};
    int32_t sid = nghttp2_submit_request(u->ng, NULL, nv, n, u->rbody == RB_NONE ? NULL : &prd, u);
    if (sid < 0)
        return false;
    u->sid = sid;
    return true;
}

/* Request body bytes (framing removed) into the DATA queue. False when
 * they are not a valid body. */
static bool take_body(struct alb_h2up *u, const char *p, size_t n)
{
    while (n && !u->req_end) {
        size_t used = n;
        if (u->rbody == RB_LENGTH) {
            if (used > u->remaining)
                used = (size_t)u->remaining;
            u->remaining -= used;
            u->req_end = u->remaining == 0;
            if (!alb_bq_put(&u->body, p, used))
                return false;
        } else {
            bool is_data;
            enum alb_h1_result r = alb_h1_chunked_step(&u->ch, p, n, &used, &is_data);
            if (r == ALB_H1_ERROR || (is_data && !alb_bq_put(&u->body, p, used)))
                return false;
            u->req_end = r == ALB_H1_DONE; /* request trailers are not carried */
            if (!used && !u->req_end)
                break;
        }
        p += used;
        n -= used;
    }
    if (u->deferred && (alb_bq_avail(&u->body) || u->req_end)) {
        u->deferred = false;
        nghttp2_session_resume_data(u->ng, u->sid);
    }
    return true;
}

/* A new request's bytes: its head, then its body. */
static bool take_head(struct alb_h2up *u, const char *p, size_t n)
{
    static _Thread_local struct alb_h1_msg m;
    if (alb_bq_avail(&u->head) + n > MAX_HEAD || !alb_bq_put(&u->head, p, n))
        return false;
    enum alb_h1_result r = alb_h1_parse_request(alb_bq_head(&u->head), alb_bq_avail(&u->head), &u->scanned, &m);
    if (r == ALB_H1_MORE)
        return true;
    if (r == ALB_H1_ERROR || !submit_request(u, &m))
        return false;
    u->head_done = true;
    size_t rest = alb_bq_avail(&u->head) - m.head_len;
    bool ok = take_body(u, alb_bq_head(&u->head) + m.head_len, rest);
    alb_bq_clear(&u->head);
    u->scanned = 0;
    return ok;
}

/* ---- frames to the socket ---------------------------------------------------------- */

static bool flush(struct alb_h2up *u, struct alb_side *s)
{
    bool moved = false;
    return alb_h2_send_frames(u->ng, &u->pend, s, NULL, NULL, &moved);
}

static ssize_t up_writev(void *ctx, struct alb_side *s, const struct iovec *iov, int cnt)
{
    struct alb_h2up *u = ctx;
    if (u->failed)
        return ALB_SIDE_FAILED;
    if (u->head_done && alb_bq_avail(&u->body) >= BODY_QUEUE)
        return flush(u, s) ? 0 : ALB_SIDE_FAILED; /* the stream's window is shut: the session waits */
    ssize_t total = 0;
    for (int i = 0; i < cnt; i++) {
        const char *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        bool ok = u->head_done ? take_body(u, p, n) : take_head(u, p, n);
        if (!ok) {
            u->failed = true;
            return ALB_SIDE_FAILED;
        }
        total += (ssize_t)n;
    }
    if (!flush(u, s)) {
        u->failed = true;
        return ALB_SIDE_FAILED;
    }
    return total;
}

/* ---- the response: frames in, HTTP/1.1 out ----------------------------------------- */

static bool emit(struct alb_h2up *u, const char *p, size_t n) { return alb_bq_put(&u->resp, p, n); }

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ng;
    (void)f;
    struct alb_h2up *u = ud;
    alb_bq_clear(&u->fields);
    u->status = 0;
    u->length[0] = '\0';
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)ng;
    (void)flags;
    struct alb_h2up *u = ud;
    if (f->hd.stream_id != u->sid)
        return 0;
    if (alb_bq_avail(&u->fields) + namelen + valuelen + 4 > MAX_RESP_FIELDS)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset: a 502 */
    if (namelen == 7 && !memcmp(name, ":status", 7)) {
        u->status = valuelen == 3 ? atoi((const char *)value) : 0;
        return 0;
    }
    if (namelen && name[0] == ':')
        return 0;
    if (namelen == 14 && !memcmp(name, "content-length", 14)) {
        snprintf(u->length, sizeof(u->length), "%.*s", (int)(valuelen < 20 ? valuelen : 20), (const char *)value);
        return 0; /* the body goes chunked */
    }
    bool ok = alb_bq_put(&u->fields, name, namelen) && alb_bq_put(&u->fields, ": ", 2) &&
              alb_bq_put(&u->fields, value, valuelen) && alb_bq_put(&u->fields, "\r\n", 2);
    return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ng;
    struct alb_h2up *u = ud;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        u->goaway = true;
        u->failed |= f->goaway.last_stream_id < u->sid; /* ours was not taken */
        return 0;
    }
    if (f->hd.stream_id != u->sid || !u->sid)
        return 0;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    bool ok = true;
    if (f->hd.type == NGHTTP2_HEADERS && !u->resp_started) {
        if (u->status < 100 || u->status > 999)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        char line[48];
        int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", u->status, u->status < 200 ? "Continue" : "OK");
        ok = emit(u, line, (size_t)n) && emit(u, alb_bq_head(&u->fields), alb_bq_avail(&u->fields));
        if (u->status < 200) {
            ok = ok && emit(u, "\r\n", 2); /* interim */
        } else {
            u->resp_started = true;
            if (end) { /* no body: a trailers-only response keeps its fields in the head */
                char cl[48];
                int k = snprintf(cl, sizeof(cl), "Content-Length: %s\r\n\r\n", u->length[0] ? u->length : "0");
                ok = ok && emit(u, cl, (size_t)k);
            } else
                ok = ok && emit(u, "Transfer-Encoding: chunked\r\n\r\n", 30);
        }
    } else if (f->hd.type == NGHTTP2_HEADERS) { /* trailers */
        ok = emit(u, "0\r\n", 3) && emit(u, alb_bq_head(&u->fields), alb_bq_avail(&u->fields)) && emit(u, "\r\n", 2);
    } else if (f->hd.type == NGHTTP2_DATA && end) {
        ok = emit(u, "0\r\n\r\n", 5);
    }
    return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
    (void)flags;
    struct alb_h2up *u = ud;
    if (id != u->sid || !u->resp_started) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    char line[20];
    int n = snprintf(line, sizeof(line), "%zx\r\n", len);
    if (!len)
        return 0;
    bool ok = emit(u, line, (size_t)n) && emit(u, (const char *)data, len) && emit(u, "\r\n", 2);
    u->unconsumed += len;
    return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error, void *ud)
{
    (void)ng;
    struct alb_h2up *u = ud;
    if (id != u->sid)
        return 0;
    u->sid = 0;
    if (error != NGHTTP2_NO_ERROR || !u->resp_started)
        u->failed = true; /* reset, or closed before answering: the session sees an error */
    /* ready for the next request */
    u->head_done = u->req_end = u->deferred = u->resp_started = false;
    alb_bq_clear(&u->body);
    return 0;
}

static ssize_t up_read(void *ctx, struct alb_side *s, char *buf, size_t len)
{
    static _Thread_local char raw[16384];
    struct alb_h2up *u = ctx;
    while (!u->failed && !u->eof && alb_bq_avail(&u->resp) < len) {
        ssize_t n = alb_side_io_read(s, raw, sizeof(raw));
        if (n == 0)
            break;
        if (n == ALB_SIDE_GOT_EOF) {
            u->eof = true;
            break;
        }
        if (n < 0 || nghttp2_session_mem_recv(u->ng, (const uint8_t *)raw, (size_t)n) != n)
            u->failed = true;
    }
    if (!u->failed && !flush(u, s))
        u->failed = true;
    if (alb_bq_avail(&u->body) < BODY_QUEUE)
        s->flags |= ALB_SIDE_WRITABLE; /* frames went: the session may write the body on */
    size_t n = alb_bq_avail(&u->resp);
    if (n > len)
        n = len;
    if (n) {
        memcpy(buf, alb_bq_head(&u->resp), n);
        alb_bq_consume(&u->resp, n);
        size_t give = n < u->unconsumed ? n : u->unconsumed;
        if (give) {
            if (u->sid)
                nghttp2_session_consume(u->ng, u->sid, give);
            else
                nghttp2_session_consume_connection(u->ng, give);
            u->unconsumed -= give;
        }
        return (ssize_t)n;
    }
    if (u->failed)
        return ALB_SIDE_FAILED;
    return u->eof ? ALB_SIDE_GOT_EOF : 0;
}

const struct alb_vside_ops alb_h2up_ops = {up_read, up_writev};

/* ---- life ---------------------------------------------------------------------- */

struct alb_h2up *alb_h2up_new(bool tls)
{
    struct alb_h2up *u = calloc(1, sizeof(*u));
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    if (!u || nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0) {
        free(u);
        nghttp2_session_callbacks_del(cb);
        return NULL;
    }
    u->tls = tls;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_option_set_no_auto_window_update(opt, 1); /* the window opens as the client takes the body */
    nghttp2_option_set_max_outbound_ack(opt, 64);
    nghttp2_option_set_max_continuations(opt, 8);
    int rc = nghttp2_session_client_new2(&u->ng, cb, u, opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_RESP_FIELDS}};
    if (rc != 0 || nghttp2_submit_settings(u->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0) {
        if (rc == 0)
            nghttp2_session_del(u->ng);
        free(u);
        return NULL;
    }
    return u;
}

void alb_h2up_free(struct alb_h2up *u)
{
    if (!u)
        return;
    nghttp2_session_del(u->ng);
    alb_bq_free(&u->head);
    alb_bq_free(&u->body);
    alb_bq_free(&u->resp);
    alb_bq_free(&u->fields);
    alb_bq_free(&u->pend);
    free(u);
}

bool alb_h2up_reusable(const struct alb_h2up *u)
{
    return !u->failed && !u->goaway && !u->eof && !u->sid && !alb_bq_avail(&u->resp) && !alb_bq_avail(&u->pend) &&
           nghttp2_session_want_read(u->ng);
}
