/* proxy/worker.c : see worker.h. */
#include "proxy/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/publish.h"
#include "core/log.h"
#include "net/sock.h"
#include "proxy/mirror.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "route/route.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 64 /* accepts per wake-up, so a flood cannot starve I/O */

static void on_accept(struct alb_io *io, uint32_t events)
{
    struct alb_wlistener *l = (struct alb_wlistener *)io;
    (void)events;
    if (l->w->draining)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                alb_log_warn("worker=%u listener=%s action=\"accepting\": %s", l->w->id, l->cfg->name,
                             strerror(errno));
            return;
        }
        if (l->conn_cnt >= l->max_conn) {
            close(fd); /* over the connection cap: shed, do not queue */
            continue;
        }
        if (!alb_route_acl_admits(l->cfg, (const struct sockaddr *)&peer)) {
            close(fd); /* the listener's ACL refuses this client: not a byte is read */
            continue;
        }
        alb_session_accept(l, fd, (const struct sockaddr *)&peer);
    }
    /* The batch ran out with more maybe queued. Edge-triggered: re-arming
     * raises a new event if the queue is still non-empty, so the rest is
     * accepted next turn, after other connections had their share. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = io};
    epoll_ctl(l->w->loop.epfd, EPOLL_CTL_MOD, io->fd, &ev);
}


/* ---- snapshot holds ---------------------------------------------------------- */

void alb_worker_hold_release(struct alb_worker *w, struct alb_snap_hold *h)
{
    if (--h->users)
        return;
    struct alb_snap_hold **pp = &w->holds;
    while (*pp != h)
        pp = &(*pp)->next;
    *pp = h->next;
    alb_publisher_release(w->pub, h->cfg);
    free(h);
}

static struct alb_listener_stats *stats_for(struct alb_worker *w, const char *name)
{
    size_t cnt = atomic_load_explicit(&w->stats_cnt, memory_order_relaxed);
    for (size_t i = 0; i < cnt; i++)
        if (strcmp(w->stats[i].name, name) == 0)
            return &w->stats[i];
    if (cnt == ALB_MAX_LISTENER_STATS)
        return &w->stats[cnt - 1]; /* shared overflow bucket: counted, not named right */
    snprintf(w->stats[cnt].name, sizeof(w->stats[cnt].name), "%s", name);
    /* release: the name is complete before a reader sees the entry */
    atomic_store_explicit(&w->stats_cnt, cnt + 1, memory_order_release);
    return &w->stats[cnt];
}

/* ---- listeners ------------------------------------------------------------- */

static void free_listener(struct alb_worker *w, struct alb_wlistener *l)
{
    struct alb_wlistener **pp = &w->listeners;
    while (*pp != l)
        pp = &(*pp)->next;
    *pp = l->next;
    if (l->io.fd != -1)
        close(l->io.fd);
    alb_worker_hold_release(w, l->hold);
    free(l);
}

static void retire_listener(struct alb_worker *w, struct alb_wlistener *l)
{
    if (l->io.fd != -1) {
        close(l->io.fd); /* closing removes it from epoll */
        l->io.fd = -1;
    }
    l->retired = true;
    if (l->conn_cnt == 0)
        free_listener(w, l);
    else
        alb_session_listener_retired(w, l);
}

void alb__worker_listener_conn_closed(struct alb_wlistener *l)
{
    l->conn_cnt--;
    if (l->retired && l->conn_cnt == 0)
        free_listener(l->w, l);
}

static int open_listener(struct alb_worker *w, const struct alb_listener_cfg *lc, struct alb_snap_hold *h, char *err,
                         size_t err_len)
{
    struct alb_wlistener *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, err_len, "listener %s: out of memory", lc->name);
        return -ENOMEM;
    }
    int fd = alb_sock_listen((const struct sockaddr *)&lc->addr, lc->addr_len, LISTEN_BACKLOG);
    if (fd < 0) {
        snprintf(err, err_len, "listener %s (%s port %u): %s", lc->name, lc->address, (unsigned)lc->port,
                 strerror(-fd));
        free(l);
        return fd;
    }
    l->io.fd = fd;
    l->io.fn = on_accept;
    l->w = w;
    l->cfg = lc;
    l->hold = alb_worker_hold_use(h);
    l->stats = stats_for(w, lc->name);
    l->max_conn = (lc->max_connections + w->worker_cnt - 1) / w->worker_cnt;
    l->matched = true;
    l->next = w->listeners;
    w->listeners = l;
    int rc = alb_loop_add(&w->loop, &l->io, EPOLLIN);
    if (rc < 0) {
        snprintf(err, err_len, "listener %s: epoll: %s", lc->name, strerror(-rc));
        free_listener(w, l);
        return rc;
    }
    return 0;
}

/* adopt() : makes the published snapshot this worker's current one.
 * Listeners are matched to the new config by address and port: a listener
 * that stays keeps its socket (no connection notices), a new one is bound,
 * a removed one stops accepting and lives on until its last connection
 * ends. Requests in flight keep the snapshot they were routed with.
 * Returns 0, or -errno when a new listener could not be bound (err[] says
 * which; the rest of the snapshot is adopted all the same). */
static int adopt(struct alb_worker *w, char *err, size_t err_len)
{
    uint64_t gen;
    struct alb_config *cfg = alb_publisher_acquire(w->pub, &gen);
    if (!cfg || gen == w->gen) {
        alb_publisher_release(w->pub, cfg);
        return 0;
    }
    struct alb_snap_hold *h = calloc(1, sizeof(*h));
    uint32_t *rr = calloc(cfg->backend_cnt ? cfg->backend_cnt : 1, sizeof(*rr));
    if (!h || !rr) {
        free(h);
        free(rr);
        alb_publisher_release(w->pub, cfg);
        snprintf(err, err_len, "worker %u: out of memory adopting generation %llu", w->id, (unsigned long long)gen);
        return -ENOMEM;
    }
    h->cfg = cfg;
    h->next = w->holds;
    w->holds = h;
    alb_worker_hold_use(h); /* the worker's own use as current */
    for (size_t i = 0; i < cfg->backend_cnt; i++)
        rr[i] = (uint32_t)(alb_worker_random(w) % (cfg->backends[i].ep_cnt ? cfg->backends[i].ep_cnt : 1));
    free(w->rr_next);
    w->rr_next = rr;

    for (struct alb_wlistener *l = w->listeners; l; l = l->next)
        l->matched = false;
    int rc = 0;
    for (size_t i = 0; i < cfg->listener_cnt; i++) {
        const struct alb_listener_cfg *lc = &cfg->listeners[i];
        struct alb_wlistener *l = w->listeners;
        while (l && (l->retired || l->matched || !alb_listener_same_bind(l->cfg, lc)))
            l = l->next;
        if (l) {
            struct alb_snap_hold *old = l->hold;
            l->hold = alb_worker_hold_use(h);
            l->cfg = lc;
            l->stats = stats_for(w, lc->name);
            l->max_conn = (lc->max_connections + w->worker_cnt - 1) / w->worker_cnt;
            l->matched = true;
            alb_worker_hold_release(w, old);
        } else if (!w->draining) {
            int r = open_listener(w, lc, h, err, err_len);
            if (r < 0 && rc == 0)
                rc = r;
        }
    }
    struct alb_wlistener *l = w->listeners;
    while (l) {
        struct alb_wlistener *next = l->next;
        if (!l->matched && !l->retired)
            retire_listener(w, l);
        l = next;
    }
    struct alb_snap_hold *old = w->cur;
    w->cur = h;
    w->gen = gen;
    if (old)
        alb_worker_hold_release(w, old);
    atomic_store_explicit(&w->adopted_gen, gen, memory_order_release);
    return rc;
}

static void start_drain(struct alb_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_deadline_ms = w->loop.now_ms + w->drain_timeout_ms;
    for (struct alb_wlistener *l = w->listeners; l; l = l->next) {
        if (l->io.fd != -1) {
            close(l->io.fd);
            l->io.fd = -1;
        }
    }
    alb_session_drain(w);
}

static void on_wake(struct alb_io *io, uint32_t events)
{
    struct alb_worker *w = (struct alb_worker *)((char *)io - offsetof(struct alb_worker, wake));
    (void)events;
    alb_eventfd_drain(io->fd);
    if (atomic_load(&w->stop_requested))
        start_drain(w);
}

static void *worker_main(void *arg)
{
    struct alb_worker *w = arg;
    char err[256];
    for (;;) {
        /* One relaxed load per turn: a new snapshot is adopted before this
         * turn's events are handled. */
        if (alb_publisher_generation(w->pub) != w->gen && adopt(w, err, sizeof(err)) < 0)
            alb_log_error("worker=%u action=\"adopting config generation %llu\": %s", w->id,
                          (unsigned long long)alb_publisher_generation(w->pub), err);
        int wait_ms = -1;
        if (w->draining) {
            if (w->client_cnt == 0)
                break;
            if (w->loop.now_ms >= w->drain_deadline_ms) {
                alb_log_warn("worker=%u action=\"draining\": %zu connections still open at the drain timeout, closing",
                             w->id, w->client_cnt);
                alb_session_close_all(w);
                break;
            }
            wait_ms = (int)(w->drain_deadline_ms - w->loop.now_ms);
        }
        int n = alb_loop_run_once(&w->loop, wait_ms);
        if (w->alog.len)
            alb_accesslog_flush(&w->alog); /* one write per turn for all its requests */
        if (n < 0) {
            alb_log_error("worker=%u action=\"waiting for events\": %s", w->id, strerror(-n));
            break;
        }
    }
    if (w->alog.len)
        alb_accesslog_flush(&w->alog);
    return NULL;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t alb_worker_random(struct alb_worker *w)
{
    /* xoroshiro128+ */
    uint64_t s0 = w->rng[0], s1 = w->rng[1];
    uint64_t r = s0 + s1;
    s1 ^= s0;
    w->rng[0] = rotl(s0, 24) ^ s1 ^ (s1 << 16);
    w->rng[1] = rotl(s1, 37);
    return r;
}

static size_t hash_key(const char *k)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

struct alb_upool *alb_worker_pool_of(struct alb_worker *w, const char *key)
{
    if (w->pool_cap) {
        for (size_t i = hash_key(key) & (w->pool_cap - 1);; i = (i + 1) & (w->pool_cap - 1)) {
            struct alb_upool *p = w->pools[i];
            if (!p)
                break;
            if (strcmp(p->key, key) == 0)
                return p;
        }
    }
    if ((w->pool_cnt + 1) * 2 > w->pool_cap) {
        size_t cap = w->pool_cap ? w->pool_cap * 2 : 64;
        struct alb_upool **t = calloc(cap, sizeof(*t));
        if (!t)
            return NULL;
        for (size_t i = 0; i < w->pool_cap; i++) {
            struct alb_upool *p = w->pools[i];
            if (!p)
                continue;
            size_t j = hash_key(p->key) & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = p;
        }
        free(w->pools);
        w->pools = t;
        w->pool_cap = cap;
    }
    struct alb_upool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    snprintf(p->key, sizeof(p->key), "%s", key);
    size_t j = hash_key(key) & (w->pool_cap - 1);
    while (w->pools[j])
        j = (j + 1) & (w->pool_cap - 1);
    w->pools[j] = p;
    w->pool_cnt++;
    return p;
}


int alb_worker_init(struct alb_worker *w, unsigned id, unsigned worker_cnt, struct alb_publisher *pub,
                    uint32_t drain_timeout_ms, char *err, size_t err_len)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->worker_cnt = worker_cnt;
    w->pub = pub;
    w->drain_timeout_ms = drain_timeout_ms;
    w->wake.fd = -1;
    w->alog.fd = -1;
    atomic_init(&w->stop_requested, false);
    atomic_init(&w->adopted_gen, 0);
    atomic_init(&w->stats_cnt, 0);
    alb_bufpool_init(&w->bufs, 1024);
    int rc = alb_loop_init(&w->loop);
    if (rc < 0) {
        snprintf(err, err_len, "worker %u: epoll: %s", id, strerror(-rc));
        return rc;
    }
    if (getrandom(w->rng, sizeof(w->rng), 0) != (ssize_t)sizeof(w->rng) || (w->rng[0] | w->rng[1]) == 0) {
        w->rng[0] = 0x9e3779b97f4a7c15ull ^ (uint64_t)id;
        w->rng[1] = (uint64_t)getpid() * 0xbf58476d1ce4e5b9ull;
    }
    w->stats = calloc(ALB_MAX_LISTENER_STATS, sizeof(*w->stats));
    w->regex = alb_regex_scratch_new();
    if (!w->stats || !w->regex) {
        snprintf(err, err_len, "worker %u: out of memory", id);
        return -ENOMEM;
    }
    w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake.fd == -1) {
        snprintf(err, err_len, "worker %u: eventfd: %s", id, strerror(errno));
        return -errno;
    }
    w->wake.fn = on_wake;
    rc = alb_loop_add(&w->loop, &w->wake, EPOLLIN);
    if (rc < 0) {
        snprintf(err, err_len, "worker %u: epoll: %s", id, strerror(-rc));
        return rc;
    }
    return adopt(w, err, err_len);
}

int alb_worker_set_access_log(struct alb_worker *w, int fd, enum alb_log_format format)
{
    w->alog.buf = malloc(ALB_ACCESSLOG_BUF);
    if (!w->alog.buf)
        return -ENOMEM;
    w->alog.fd = fd;
    w->alog.format = format;
    return 0;
}

int alb_worker_start(struct alb_worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    return rc ? -rc : 0;
}

void alb_worker_wake(struct alb_worker *w) { alb_eventfd_ring(w->wake.fd); }

void alb_worker_request_stop(struct alb_worker *w)
{
    atomic_store(&w->stop_requested, true);
    alb_worker_wake(w);
}

void alb_worker_join(struct alb_worker *w) { pthread_join(w->thread, NULL); }

void alb_worker_deinit(struct alb_worker *w)
{
    alb_session_close_all(w);
    alb_mirror_close_all(w);
    for (size_t i = 0; i < w->pool_cap; i++) {
        struct alb_upool *p = w->pools[i];
        if (!p)
            continue;
        while (p->idle)
            alb_upstream_close(p->idle);
    }
    alb_loop_deinit(&w->loop); /* runs the deferred frees */
    for (size_t i = 0; i < w->pool_cap; i++)
        free(w->pools[i]);
    free(w->pools);
    while (w->listeners)
        free_listener(w, w->listeners);
    if (w->cur) {
        struct alb_snap_hold *cur = w->cur;
        w->cur = NULL;
        alb_worker_hold_release(w, cur);
    }
    while (w->holds) { /* only if a count went wrong: never leak the config */
        struct alb_snap_hold *h = w->holds;
        w->holds = h->next;
        alb_publisher_release(w->pub, h->cfg);
        free(h);
    }
    free(w->rr_next);
    free(w->stats);
    free(w->alog.buf);
    alb_regex_scratch_free(w->regex);
    if (w->wake.fd != -1)
        close(w->wake.fd);
    alb_bufpool_deinit(&w->bufs);
}
