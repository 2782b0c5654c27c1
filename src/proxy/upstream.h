/* proxy/upstream.h : connections from a worker to backend endpoints.
 *
 * An upstream connection is attached to at most one client session at a
 * time. Once a response has completed cleanly it may go back to its
 * endpoint's pool; a connection that saw an error, a malformed or
 * close-delimited response, "Connection: close", or unexpected bytes is never
 * reused. A pooled connection that shows any activity (the server closing it,
 * or sending bytes nobody asked for) is closed.
 */
#ifndef ALB_PROXY_UPSTREAM_H
#define ALB_PROXY_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/loop.h"
#include "core/timer.h"
#include "proxy/side.h"

struct alb_worker;
struct alb_client;
struct alb_upool;

#define ALB_UP_CONNECTING (1u << 0) /* connect() in progress */
#define ALB_UP_REUSED (1u << 1)     /* came from the pool: may be stale */
#define ALB_UP_NO_REUSE (1u << 2)   /* must be closed after this exchange */
#define ALB_UP_CLOSED (1u << 3)     /* fd closed; memory freed at end of turn */

struct alb_upstream {
    struct alb_side side;
    struct alb_worker *w;
    struct alb_client *client;   /* borrowed while attached; NULL while pooled */
    struct alb_upool *pool;      /* its endpoint's pool (stable) */
    struct alb_upstream *prev, *next; /* pool list links */
    struct alb_timer idle_timer; /* armed while pooled */
    struct alb_deferred defer;
    uint32_t flags;
    size_t scanned;              /* response head scan position */
    char sni[254];               /* TLS: the name it was opened for ("": plain TCP) */
};

/* alb_upstream_get() : an idle pooled connection to <ep>, or a new one
 * (connecting); over TLS when <sni> is set (the name to send; "" for
 * none), speaking HTTP/2 when <h2> (proxy/h2up.h: the session still
 * writes and reads HTTP/1.1), pooled apart from the others. Returns NULL with *err set
 * (positive errno) when no socket could be made; ECONNREFUSED and friends
 * from an immediate connect failure show up here too. The result is
 * attached to <client>. */
struct alb_upstream *alb_upstream_get(struct alb_worker *w, const struct alb_endpoint *ep, const char *sni, bool h2,
                                      struct alb_client *client, bool allow_pooled, int *err);

/* alb_upstream_release() : detaches <up> from its client; pools it when it
 * is clean and reusable, else closes it. */
void alb_upstream_release(struct alb_upstream *up, bool reusable);

/* alb_upstream_close() : closes the socket and frees <up> at the end of the
 * loop turn. Idempotent. */
void alb_upstream_close(struct alb_upstream *up);

#endif
