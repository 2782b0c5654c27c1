/* proxy/worker.h : a worker thread: its own event loop, its own
 * SO_REUSEPORT listening sockets, buffer pool, upstream connection pools and
 * round-robin positions. Nothing here is shared with another worker; the
 * main thread only reads the config (immutable) and asks a worker to stop
 * through its eventfd.
 */
#ifndef ALB_PROXY_WORKER_H
#define ALB_PROXY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/loop.h"
#include "http/h1.h"

struct alb_worker;
struct alb_client;
struct alb_upstream;

struct alb_wlistener {
    struct alb_io io;                   /* the listening socket */
    struct alb_worker *w;
    const struct alb_listener_cfg *cfg; /* borrowed from the config */
    uint32_t conn_cnt;                  /* open client connections of this worker */
    uint32_t max_conn;                  /* this worker's share of max_connections */
};

/* Idle keep-alive connections to one endpoint, keyed by its address text so
 * the pool outlives any one config snapshot. Allocated once and never moved. */
struct alb_upool {
    char key[64];
    struct alb_upstream *idle; /* owned list, most recently used first */
    uint32_t idle_cnt;
};

/* At most this many idle connections per endpoint per worker: enough for
 * a busy backend, bounded so a burst does not pin thousands of sockets. */
#define ALB_UPOOL_MAX_IDLE 256
/* An idle pooled connection is closed after this long. */
#define ALB_UPOOL_IDLE_TIMEOUT_MS 60000u

struct alb_worker {
    unsigned id;
    pthread_t thread;
    struct alb_loop loop;
    struct alb_bufpool bufs;
    const struct alb_config *cfg; /* borrowed; outlives the worker */
    struct alb_wlistener *listeners; /* owned array, one per config listener */
    size_t listener_cnt;
    struct alb_io wake;           /* eventfd the main thread writes to */
    atomic_bool stop_requested;   /* written by the main thread */
    bool draining;
    uint32_t drain_timeout_ms;
    uint64_t drain_deadline_ms;
    struct alb_client *clients;   /* open client connections (list heads are borrowed by the loop) */
    size_t client_cnt;
    struct alb_upool **pools;     /* owned open-addressed table of owned pools */
    size_t pool_cap;
    size_t pool_cnt;
    uint32_t *rr_next;            /* owned; round-robin position per backend index */
    uint64_t rng[2];              /* xorshift128+ for request ids */
    uint64_t next_conn_id;
    struct alb_http_date date;
    struct alb_h1_msg msg;        /* scratch parse result, used within one call */
};

/* alb_worker_init() : prepares worker <id> for <cfg> and binds its listening
 * sockets. Returns 0, or -errno with err[] naming the listener. Main thread. */
int alb_worker_init(struct alb_worker *w, unsigned id, unsigned worker_cnt, const struct alb_config *cfg,
                    uint32_t drain_timeout_ms, char *err, size_t err_len);
/* alb_worker_start() : runs the worker's loop in a new thread. 0 or -errno. */
int alb_worker_start(struct alb_worker *w);
/* alb_worker_request_stop() : asks for a graceful stop: stop accepting, close
 * idle connections, finish in-flight requests for up to drain_timeout_ms.
 * Async-signal-unsafe; any thread. */
void alb_worker_request_stop(struct alb_worker *w);
void alb_worker_join(struct alb_worker *w);
void alb_worker_deinit(struct alb_worker *w);

/* alb_worker_pool_of() : the pool for <key>, created on first use; NULL when
 * out of memory. Worker thread. */
struct alb_upool *alb_worker_pool_of(struct alb_worker *w, const char *key);

/* alb_worker_random() : 64 random bits (not for secrets). Worker thread. */
uint64_t alb_worker_random(struct alb_worker *w);

#endif
