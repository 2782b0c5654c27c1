/* proxy/upstream.c : see upstream.h. */
#include "proxy/upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "net/sock.h"
#include "proxy/h2up.h"
#include "tls/tls.h"
#include "proxy/session.h"
#include "proxy/worker.h"

static void free_upstream(struct alb_deferred *d)
{
    struct alb_upstream *up = (struct alb_upstream *)((char *)d - offsetof(struct alb_upstream, defer));
    free(up);
}

static void pool_unlink(struct alb_upstream *up)
{
    struct alb_upool *p = up->pool;
    if (up->prev)
        up->prev->next = up->next;
    else if (p->idle == up)
        p->idle = up->next;
    else
        return; /* not in the list */
    if (up->next)
        up->next->prev = up->prev;
    up->prev = up->next = NULL;
    p->idle_cnt--;
}

void alb_upstream_close(struct alb_upstream *up)
{
    if (up->flags & ALB_UP_CLOSED)
        return;
    up->flags |= ALB_UP_CLOSED;
    if (!up->client)
        pool_unlink(up);
    alb_loop_disarm(&up->w->loop, &up->idle_timer);
    alb_tls_close(up->side.tls);
    up->side.tls = NULL;
    alb_h2up_free(up->side.vctx);
    up->side.vctx = NULL;
    up->side.vops = NULL;
    close(up->side.io.fd);
    alb_bufpool_put(&up->w->bufs, up->side.in);
    up->side.in = NULL;
    up->client = NULL;
    alb_loop_defer(&up->w->loop, &up->defer, free_upstream);
}

static void on_idle_timeout(struct alb_timer *t)
{
    struct alb_upstream *up = (struct alb_upstream *)((char *)t - offsetof(struct alb_upstream, idle_timer));
    alb_upstream_close(up);
}

static void on_io(struct alb_io *io, uint32_t events)
{
    struct alb_upstream *up = (struct alb_upstream *)io;
    if (up->flags & ALB_UP_CLOSED)
        return;
    if (up->client) {
        alb__session_on_upstream(up->client, events);
        return;
    }
    /* Pooled: readability means the server closed or sent stray bytes;
     * either way the connection cannot carry a new request. Over TLS it may
     * be a message of TLS itself (a session ticket), which reads as nothing.
     * Over HTTP/2 it may be frames for the connection (a PING, SETTINGS):
     * they are answered and the connection stays, unless one was a GOAWAY. */
    if (up->side.vops && (events & EPOLLIN) && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        char b[64];
        alb_side_on_events(&up->side, events);
        if (up->side.vops->read(up->side.vctx, &up->side, b, sizeof(b)) == 0 && alb_h2up_reusable(up->side.vctx))
            return;
    } else if (up->side.tls && (events & EPOLLIN) && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        char b[64];
        bool want_write;
        if (alb_tls_read(up->side.tls, b, sizeof(b), &want_write) == 0 && !want_write)
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        alb_upstream_close(up);
}

struct alb_upstream *alb_upstream_get(struct alb_worker *w, const struct alb_endpoint *ep, const char *sni, bool h2,
                                      struct alb_client *client, bool allow_pooled, int *err)
{
    char key[sizeof(ep->text) + 8];
    /* TLS and plain, HTTP/2 and HTTP/1.1 connections apart */
    snprintf(key, sizeof(key), "%s%s%s", h2 ? "h2 " : "", sni ? "tls " : "", ep->text);
    struct alb_upool *pool = alb_worker_pool_of(w, key);
    if (!pool) {
        *err = ENOMEM;
        return NULL;
    }
    if (allow_pooled && pool->idle) {
        struct alb_upstream *up = pool->idle;
        pool_unlink(up);
        alb_loop_disarm(&w->loop, &up->idle_timer);
        up->client = client;
        up->flags = ALB_UP_REUSED;
        up->side.flags &= ~(ALB_SIDE_RDHUP | ALB_SIDE_EOF);
        up->scanned = 0;
        return up;
    }
    struct alb_upstream *up = calloc(1, sizeof(*up));
    if (!up) {
        *err = ENOMEM;
        return NULL;
    }
    int fd = alb_sock_connect((const struct sockaddr *)&ep->addr, ep->addr_len);
    if (fd < 0) {
        *err = -fd;
        free(up);
        return NULL;
    }
    up->side.io.fd = fd;
    up->side.io.fn = on_io;
    if ((sni && !(up->side.tls = alb_tls_connect(fd, sni, h2))) ||
        (h2 && !(up->side.vctx = alb_h2up_new(sni != NULL)))) {
        *err = ENOMEM;
        alb_tls_close(up->side.tls);
        close(fd);
        free(up);
        return NULL;
    }
    if (sni)
        snprintf(up->sni, sizeof(up->sni), "%s", sni);
    if (h2)
        up->side.vops = &alb_h2up_ops;
    up->w = w;
    up->client = client;
    up->pool = pool;
    up->flags = ALB_UP_CONNECTING;
    alb_timer_init(&up->idle_timer, on_idle_timeout);
    int rc = alb_loop_add(&w->loop, &up->side.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (rc < 0) {
        *err = -rc;
        alb_tls_close(up->side.tls);
        alb_h2up_free(up->side.vctx);
        close(fd);
        free(up);
        return NULL;
    }
    return up;
}

void alb_upstream_release(struct alb_upstream *up, bool reusable)
{
    struct alb_upool *p = up->pool;
    if (!reusable || (up->flags & (ALB_UP_NO_REUSE | ALB_UP_CONNECTING)) ||
        (up->side.flags & (ALB_SIDE_EOF | ALB_SIDE_ERROR | ALB_SIDE_RDHUP | ALB_SIDE_SHUT_WR)) ||
        (up->side.in && !alb_buf_is_empty(up->side.in)) || p->idle_cnt >= ALB_UPOOL_MAX_IDLE ||
        (up->side.vops && !alb_h2up_reusable(up->side.vctx)) ||
        up->w->draining) {
        alb_upstream_close(up);
        return;
    }
    alb_side_release_if_empty(&up->side, &up->w->bufs);
    up->client = NULL;
    up->flags = 0;
    up->next = p->idle;
    up->prev = NULL;
    if (p->idle)
        p->idle->prev = up;
    p->idle = up;
    p->idle_cnt++;
    if (alb_loop_arm(&up->w->loop, &up->idle_timer, ALB_UPOOL_IDLE_TIMEOUT_MS) < 0)
        alb_upstream_close(up);
}
