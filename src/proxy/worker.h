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
#include "config/regex.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/loop.h"
#include "http/h1.h"
#include "proxy/accesslog.h"

struct alb_worker;
struct alb_client;
struct alb_upstream;
struct alb_publisher;
struct alb_mirror;

/* A snapshot this worker uses. The hold owns one reference to the snapshot;
 * <users> counts, without atomics, what in this worker still points into it:
 * the worker's current config, listeners, and requests routed with it. The
 * last user gives the reference back (alb_worker_hold_release()). */
struct alb_snap_hold {
    struct alb_config *cfg; /* one reference, owned */
    uint32_t users;
    struct alb_snap_hold *next;
};

/* Counters of one listener (by name) in one worker. Written only by the
 * worker, read by the control thread for /metrics: single-writer relaxed
 * atomics, so no lock and no locked instruction on the request path.
 * Entries are appended, never removed, so they outlive listener changes. */
#define ALB_STATUS_CLASSES 5 /* 1xx .. 5xx */
struct alb_listener_stats {
    char name[64];
    atomic_uint_fast64_t requests[ALB_STATUS_CLASSES];
    atomic_int_fast64_t active; /* open client connections */
    atomic_uint_fast64_t h2_connections; /* that spoke HTTP/2 */
    atomic_uint_fast64_t h2_cut;         /* of them, cut for abuse or protocol errors (GOAWAY with an error) */
};
#define ALB_MAX_LISTENER_STATS 256

struct alb_wlistener {
    struct alb_io io;                   /* the listening socket; fd -1 once retired */
    struct alb_worker *w;
    const struct alb_listener_cfg *cfg; /* borrowed from hold->cfg */
    struct alb_snap_hold *hold;         /* one user */
    struct alb_listener_stats *stats;
    struct alb_wlistener *next;
    uint32_t conn_cnt;                  /* open client connections of this worker */
    uint32_t max_conn;                  /* this worker's share of max_connections */
    bool retired;                       /* gone from the current config: accepts nothing,
                                           freed when its last connection closes */
    bool matched;                       /* scratch, during adoption */
};

/* Idle keep-alive connections to one endpoint, keyed by its address text so
 * the pool outlives any one config snapshot. Allocated once and never moved. */
struct alb_upool {
    char key[64];
    struct alb_upstream *idle; /* owned list, most recently used first */
    uint32_t idle_cnt;
};

/* At most this many idle connections per endpoint per worker: enough for
 * a busy backend behind HTTP/2 clients (each may run 128 requests at
 * once), bounded so a burst does not pin tens of thousands of sockets. */
#define ALB_UPOOL_MAX_IDLE 1024
/* An idle pooled connection is closed after this long. */
#define ALB_UPOOL_IDLE_TIMEOUT_MS 60000u

struct alb_worker {
    unsigned id;
    unsigned worker_cnt;
    pthread_t thread;
    struct alb_loop loop;
    struct alb_bufpool bufs;
    struct alb_publisher *pub;    /* borrowed; outlives the worker */
    uint64_t gen;                 /* generation of cur */
    atomic_uint_fast64_t adopted_gen; /* gen, for the control thread */
    struct alb_snap_hold *cur;    /* the config new connections and requests use */
    struct alb_snap_hold *holds;  /* owned list of every hold */
    struct alb_wlistener *listeners; /* owned list, retired ones included */
    struct alb_listener_stats *stats; /* owned array of ALB_MAX_LISTENER_STATS */
    atomic_size_t stats_cnt;
    struct alb_io wake;           /* eventfd the control thread writes to */
    atomic_bool stop_requested;   /* written by the control thread */
    bool draining;
    uint32_t drain_timeout_ms;
    uint64_t drain_deadline_ms;
    struct alb_client *clients;   /* open client connections */
    size_t client_cnt;
    struct alb_mirror *mirrors;   /* mirrors in flight (proxy/mirror.c) */
    unsigned gzip_cnt;            /* responses being compressed (proxy/gzip.h) */
    size_t mirror_cnt;
    struct alb_upool **pools;     /* owned open-addressed table of owned pools */
    size_t pool_cap;
    size_t pool_cnt;
    uint32_t *rr_next;            /* owned; round-robin position per backend of cur */
    uint64_t rng[2];              /* xoroshiro128+ for request ids */
    uint64_t next_conn_id;
    struct alb_http_date date;
    struct alb_h1_msg msg;        /* scratch parse result, used within one call */
    struct alb_regex_scratch *regex; /* owned; match space for route regexes */
    struct alb_accesslog alog;    /* fd -1 when off */
};

/* alb_worker_init() : prepares worker <id>, adopts the published config and
 * binds its listening sockets. Returns 0, or -errno with err[] naming the
 * listener. Control thread, before alb_worker_start(). */
int alb_worker_init(struct alb_worker *w, unsigned id, unsigned worker_cnt, struct alb_publisher *pub,
                    uint32_t drain_timeout_ms, char *err, size_t err_len);
/* alb_worker_set_access_log() : log each request to <fd> (borrowed, opened
 * O_APPEND by the caller) in <format>. Before alb_worker_start(). Returns 0
 * or -ENOMEM. */
int alb_worker_set_access_log(struct alb_worker *w, int fd, enum alb_log_format format);

/* alb_worker_start() : runs the worker's loop in a new thread. 0 or -errno. */
int alb_worker_start(struct alb_worker *w);
/* alb_worker_request_stop() : asks for a graceful stop: stop accepting, close
 * idle connections, finish in-flight requests for up to drain_timeout_ms.
 * Async-signal-unsafe; any thread. */
void alb_worker_request_stop(struct alb_worker *w);
void alb_worker_join(struct alb_worker *w);

/* alb_worker_wake() : makes the worker look at the publisher now (after a
 * publish). Any thread. */
void alb_worker_wake(struct alb_worker *w);

/* alb_worker_hold_release() : one user of <h> is done; the last one gives
 * the snapshot reference back. Worker thread. */
void alb_worker_hold_release(struct alb_worker *w, struct alb_snap_hold *h);

/* alb_worker_hold_use() : one more user of <h>. Worker thread. */
static inline struct alb_snap_hold *alb_worker_hold_use(struct alb_snap_hold *h)
{
    h->users++;
    return h;
}

/* alb_stat_add() : single-writer increment of a counter read elsewhere. */
static inline void alb_stat_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
void alb_worker_deinit(struct alb_worker *w);

/* alb_worker_pool_of() : the pool for <key>, created on first use; NULL when
 * out of memory. Worker thread. */
struct alb_upool *alb_worker_pool_of(struct alb_worker *w, const char *key);

/* alb_worker_random() : 64 random bits (not for secrets). Worker thread. */
uint64_t alb_worker_random(struct alb_worker *w);

#endif
