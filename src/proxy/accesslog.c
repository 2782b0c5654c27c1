/* proxy/accesslog.c : see accesslog.h. */
#include "proxy/accesslog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void copy_str(char *dst, size_t cap, struct alb_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

void alb_access_rec_fill(struct alb_access_rec *r, uint64_t now_ms, struct alb_str method, struct alb_str target,
                         struct alb_str host, struct alb_str user_agent, struct alb_str request_id, const char *protocol)
{
    r->start_ms = now_ms;
    r->start_wall = (int64_t)time(NULL);
    copy_str(r->method, sizeof(r->method), method);
    copy_str(r->target, sizeof(r->target), target);
    copy_str(r->host, sizeof(r->host), host);
    copy_str(r->user_agent, sizeof(r->user_agent), user_agent);
    copy_str(r->request_id, sizeof(r->request_id), request_id);
    r->protocol = protocol;
}

void alb_access_rec_fill_id(struct alb_access_rec *r, const char *id, size_t len)
{
    copy_str(r->request_id, sizeof(r->request_id), (struct alb_str){id, len});
}

/* Appends <s> escaped for a quoted field: '"' and '\\' escaped, bytes
 * outside printable ASCII as \xHH (text) or \u00HH (JSON, so the line is
 * valid JSON whatever the client sent). */
static size_t esc(char *out, size_t cap, const char *s, bool json)
{
    static const char hex[] = "0123456789abcdef";
    size_t w = 0;
    for (; *s && w + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[w++] = '\\';
            out[w++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            const char *pre = json ? "\\u00" : "\\x";
            for (const char *p = pre; *p; p++)
                out[w++] = *p;
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        } else {
            out[w++] = (char)c;
        }
    }
    out[w] = '\0';
    return w;
}

void alb_accesslog_flush(struct alb_accesslog *l)
{
    size_t off = 0;
    while (off < l->len) {
        ssize_t n = write(l->fd, l->buf + off, l->len - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n == -1 && errno == EINTR) {
            continue;
        } else {
            l->dropped++; /* a full disk must not stop the proxy */
            break;
        }
    }
    l->len = 0;
}

void alb_accesslog_line(struct alb_accesslog *l, const struct alb_access_rec *r, const char *client_ip, int status,
                        uint64_t body_bytes, const char *upstream, uint64_t now_ms)
{
    if (l->fd < 0)
        return;
    char target[2100], host[520], ua[1030], id[260], when[40];
    bool json = l->format == ALB_LOG_JSON;
    esc(target, sizeof(target), r->target, json);
    esc(host, sizeof(host), r->host, json);
    esc(ua, sizeof(ua), r->user_agent, json);
    esc(id, sizeof(id), r->request_id, json);
    struct tm tm;
    time_t t = (time_t)r->start_wall;
    gmtime_r(&t, &tm);
    double secs = (double)(now_ms - r->start_ms) / 1000.0;
    if (l->len > ALB_ACCESSLOG_BUF - 4096)
        alb_accesslog_flush(l);
    int n;
    if (json) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        n = snprintf(l->buf + l->len, ALB_ACCESSLOG_BUF - l->len,
                     "{\"time\":\"%s\",\"client\":\"%s\",\"method\":\"%s\",\"target\":\"%s\",\"protocol\":\"%s\","
                     "\"status\":%d,\"bytes\":%llu,\"host\":\"%s\",\"user_agent\":\"%s\",\"duration_s\":%.3f,"
                     "\"upstream\":\"%s\",\"request_id\":\"%s\"}\n",
                     when, client_ip, r->method, target, r->protocol, status, (unsigned long long)body_bytes, host,
                     ua, secs, upstream ? upstream : "", id);
    } else {
        strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
        n = snprintf(l->buf + l->len, ALB_ACCESSLOG_BUF - l->len,
                     "%s - - [%s] \"%s %s %s\" %d %llu \"%s\" \"%s\" %.3f %s %s\n", client_ip, when, r->method,
                     target, r->protocol, status, (unsigned long long)body_bytes, host, ua, secs,
                     upstream ? upstream : "-", id[0] ? id : "-");
    }
    if (n > 0 && (size_t)n < ALB_ACCESSLOG_BUF - l->len)
        l->len += (size_t)n;
}
