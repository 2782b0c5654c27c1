/* admin/admin.h : the admin HTTP API, served by the control thread's loop,
 * off the request path: GET /healthz, /readyz, /config, /metrics.
 *
 * What the endpoints return is supplied by the owner through handlers, so
 * this layer knows nothing of workers. One request per connection (the
 * response says Connection: close); requests are parsed by the same strict
 * HTTP/1 parser as traffic. Control thread only.
 */
#ifndef ALB_ADMIN_ADMIN_H
#define ALB_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop.h"
#include "core/sbuf.h"

struct alb_admin_handlers {
    void *ctx;
    /* true once the first config serves and while not stopping */
    bool (*is_ready)(void *ctx);
    /* the serving snapshot as JSON; false when there is none (503) */
    bool (*config_json)(void *ctx, struct alb_sbuf *out);
    /* Prometheus text exposition */
    void (*metrics)(void *ctx, struct alb_sbuf *out);
};

struct alb_admin {
    struct alb_io io; /* listening socket; fd -1 when stopped */
    struct alb_loop *loop;
    struct alb_admin_handlers h;
    size_t conn_cnt;
};

/* alb_admin_start() : serves on the listening socket <fd> (taken over).
 * Returns 0 or -errno. */
int alb_admin_start(struct alb_admin *a, struct alb_loop *loop, int fd, const struct alb_admin_handlers *h);

/* alb_admin_stop() : closes the listening socket; open admin connections end
 * by themselves within their timeout. */
void alb_admin_stop(struct alb_admin *a);

#endif
