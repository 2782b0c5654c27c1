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

#include "core/log.h"
#include "net/sock.h"
#include "proxy/session.h"
#include "proxy/upstream.h"

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
        alb_session_accept(l, fd, (const struct sockaddr *)&peer);
    }
    /* The batch ran out with more maybe queued. Edge-triggered: re-arming
     * raises a new event if the queue is still non-empty, so the rest is
     * accepted next turn, after other connections had their share. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = io};
    epoll_ctl(l->w->loop.epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

static void start_drain(struct alb_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_deadline_ms = w->loop.now_ms + w->drain_timeout_ms;
    for (size_t i = 0; i < w->listener_cnt; i++) {
        if (w->listeners[i].io.fd != -1) {
            close(w->listeners[i].io.fd);
            w->listeners[i].io.fd = -1;
        }
    }
    alb_session_drain(w);
}

static void on_wake(struct alb_io *io, uint32_t events)
{
    struct alb_worker *w = (struct alb_worker *)((char *)io - offsetof(struct alb_worker, wake));
    uint64_t v;
    (void)events;
    while (read(io->fd, &v, sizeof(v)) > 0) {
    }
    if (atomic_load(&w->stop_requested))
        start_drain(w);
}

static void *worker_main(void *arg)
{
    struct alb_worker *w = arg;
    for (;;) {
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
        if (n < 0) {
            alb_log_error("worker=%u action=\"waiting for events\": %s", w->id, strerror(-n));
            break;
        }
    }
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

int alb_worker_init(struct alb_worker *w, unsigned id, unsigned worker_cnt, const struct alb_config *cfg,
                    uint32_t drain_timeout_ms, char *err, size_t err_len)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->cfg = cfg;
    w->drain_timeout_ms = drain_timeout_ms;
    w->wake.fd = -1;
    atomic_init(&w->stop_requested, false);
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
    w->rr_next = calloc(cfg->backend_cnt ? cfg->backend_cnt : 1, sizeof(*w->rr_next));
    w->listeners = calloc(cfg->listener_cnt ? cfg->listener_cnt : 1, sizeof(*w->listeners));
    if (!w->rr_next || !w->listeners) {
        snprintf(err, err_len, "worker %u: out of memory", id);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->backend_cnt; i++)
        w->rr_next[i] = (uint32_t)(alb_worker_random(w) % (cfg->backends[i].ep_cnt ? cfg->backends[i].ep_cnt : 1));
    w->listener_cnt = cfg->listener_cnt;
    for (size_t i = 0; i < cfg->listener_cnt; i++)
        w->listeners[i].io.fd = -1;
    for (size_t i = 0; i < cfg->listener_cnt; i++) {
        const struct alb_listener_cfg *lc = &cfg->listeners[i];
        struct alb_wlistener *l = &w->listeners[i];
        l->w = w;
        l->cfg = lc;
        l->max_conn = (lc->max_connections + worker_cnt - 1) / worker_cnt;
        int fd = alb_sock_listen((const struct sockaddr *)&lc->addr, lc->addr_len, LISTEN_BACKLOG);
        if (fd < 0) {
            snprintf(err, err_len, "listener %s (port %u): %s", lc->name, (unsigned)lc->port, strerror(-fd));
            return fd;
        }
        l->io.fd = fd;
        l->io.fn = on_accept;
        rc = alb_loop_add(&w->loop, &l->io, EPOLLIN);
        if (rc < 0) {
            snprintf(err, err_len, "listener %s: epoll: %s", lc->name, strerror(-rc));
            return rc;
        }
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
    return 0;
}

int alb_worker_start(struct alb_worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    return rc ? -rc : 0;
}

void alb_worker_request_stop(struct alb_worker *w)
{
    atomic_store(&w->stop_requested, true);
    uint64_t one = 1;
    ssize_t n = write(w->wake.fd, &one, sizeof(one));
    (void)n; /* the counter only saturates; the flag is what matters */
}

void alb_worker_join(struct alb_worker *w) { pthread_join(w->thread, NULL); }

void alb_worker_deinit(struct alb_worker *w)
{
    alb_session_close_all(w);
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
    for (size_t i = 0; i < w->listener_cnt; i++)
        if (w->listeners[i].io.fd != -1)
            close(w->listeners[i].io.fd);
    free(w->listeners);
    free(w->rr_next);
    if (w->wake.fd != -1)
        close(w->wake.fd);
    alb_bufpool_deinit(&w->bufs);
}
