/* proxy/accesslog.h : the access log (--access-log PATH, --log-format).
 *
 * One line per request, written by the worker that served it into its own
 * buffer and flushed with one write(2) per loop turn (or when the buffer
 * fills). The file is opened O_APPEND, so whole-line writes from several
 * workers never interleave. What a line needs from the request is copied
 * at routing time into a record the connection keeps (allocated only when
 * logging is on), because the request's bytes are gone when it ends.
 * Worker thread only.
 */
#ifndef ALB_PROXY_ACCESSLOG_H
#define ALB_PROXY_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

enum alb_log_format { ALB_LOG_TEXT, ALB_LOG_JSON };

#define ALB_ACCESSLOG_BUF 65536

struct alb_accesslog {
    int fd;                       /* borrowed; -1: off */
    enum alb_log_format format;
    size_t len;
    uint64_t dropped;             /* lines lost to write errors */
    char *buf;                    /* owned, ALB_ACCESSLOG_BUF */
};

/* What one request contributes to its line. */
struct alb_access_rec {
    uint64_t start_ms;       /* monotonic */
    int64_t start_wall;      /* seconds since the epoch */
    char method[16];
    char target[512];        /* truncated */
    char host[128];
    char user_agent[256];
    char request_id[64];
    const char *protocol; /* a literal: "HTTP/1.1", "HTTP/2.0" */
};

/* alb_access_rec_fill() : copies the fields of a request (slices are
 * truncated to fit); <protocol> is a literal, kept as it is. */
void alb_access_rec_fill(struct alb_access_rec *r, uint64_t now_ms, struct alb_str method, struct alb_str target,
                         struct alb_str host, struct alb_str user_agent, struct alb_str request_id, const char *protocol);

/* alb_access_rec_fill_id() : the request id ALB generated. */
void alb_access_rec_fill_id(struct alb_access_rec *r, const char *id, size_t len);

/* alb_accesslog_line() : appends the line of a finished request. */
void alb_accesslog_line(struct alb_accesslog *l, const struct alb_access_rec *r, const char *client_ip, int status,
                        uint64_t body_bytes, const char *upstream, uint64_t now_ms);

/* alb_accesslog_flush() : writes what is buffered. */
void alb_accesslog_flush(struct alb_accesslog *l);

#endif
