/* proxy/mirror.h : fire-and-forget copies of requests (the mirror action).
 *
 * A mirror is its own short-lived upstream connection: it is sent the same
 * request head (with Connection: close) and the same body bytes as they
 * leave for the real upstream; its response is read and dropped. It never
 * slows the client: when the mirror falls ALB_MIRROR_MAX_LAG bytes behind
 * (its connect takes a round trip while the body may already flow), or
 * fails, it is dropped, and the client's exchange goes on untouched.
 * Worker thread only.
 */
#ifndef ALB_PROXY_MIRROR_H
#define ALB_PROXY_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct alb_worker;
struct alb_mirror;

/* At most this many mirrors in flight per worker; more are skipped. With
 * the lag bound this caps mirror memory at 64 MiB per worker. */
#define ALB_MIRROR_MAX_INFLIGHT 256
#define ALB_MIRROR_MAX_LAG (256u * 1024u)

/* alb_mirror_start() : connects to <ep> and queues <head> (a complete
 * request head ending in CRLF CRLF), adding Connection: close. Returns the
 * mirror, or NULL when it is skipped (no memory, no socket, too many).
 * *owner is set to NULL whenever the mirror closes while still attached, so
 * the caller's pointer is never left dangling. */
struct alb_mirror *alb_mirror_start(struct alb_worker *w, const struct alb_endpoint *ep, const char *head,
                                    size_t head_len, uint32_t timeout_ms, struct alb_mirror **owner);

/* alb_mirror_feed() : queues body bytes. False when they did not fit or the
 * mirror failed: it has then been dropped (and *owner cleared). */
bool alb_mirror_feed(struct alb_mirror *m, const char *p, size_t n);

/* alb_mirror_finish() : the request is complete; the mirror is detached from
 * its owner (*owner cleared) and finishes alone. */
void alb_mirror_finish(struct alb_mirror *m);

/* alb_mirror_abort() : the request will not complete: drop the mirror. */
void alb_mirror_abort(struct alb_mirror *m);

/* alb_mirror_close_all() : at worker shutdown. */
void alb_mirror_close_all(struct alb_worker *w);

#endif
