/* proxy/mirror.c : see mirror.h. */
#include "proxy/mirror.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/bytequeue.h"
#include "net/sock.h"
#include "proxy/side.h"
#include "proxy/worker.h"

struct alb_mirror {
    struct alb_side side; /* first: the epoll pointer is the mirror */
    struct alb_worker *w;
    struct alb_bytequeue q; /* bytes not yet sent */
    struct alb_timer timer;
    struct alb_deferred defer;
    struct alb_mirror *prev, *next; /* the worker's list */
    struct alb_mirror **owner;      /* the session's pointer to it, cleared on close; NULL once detached */
    bool connecting;
    bool closed;
};

static void free_mirror(struct alb_deferred *d)
{
    free((struct alb_mirror *)((char *)d - offsetof(struct alb_mirror, defer)));
}

static void close_mirror(struct alb_mirror *m)
{
    if (m->closed)
        return;
    struct alb_worker *w = m->w;
    m->closed = true;
    if (m->owner)
        *m->owner = NULL; /* the session never sees a closed mirror */
    alb_loop_disarm(&w->loop, &m->timer);
    close(m->side.io.fd);
    alb_bq_free(&m->q);
    if (m->prev)
        m->prev->next = m->next;
    else
        w->mirrors = m->next;
    if (m->next)
        m->next->prev = m->prev;
    w->mirror_cnt--;
    alb_loop_defer(&w->loop, &m->defer, free_mirror);
}

/* Appends to the queue, up to ALB_MIRROR_MAX_LAG. */
static bool enqueue(struct alb_mirror *m, const char *p, size_t n)
{
    return alb_bq_avail(&m->q) + n <= ALB_MIRROR_MAX_LAG && alb_bq_put(&m->q, p, n);
}

static void flush(struct alb_mirror *m)
{
    while (!m->connecting && alb_bq_avail(&m->q)) {
        struct iovec iov = {(void *)alb_bq_head(&m->q), alb_bq_avail(&m->q)};
        ssize_t n = alb_side_writev(&m->side, &iov, 1);
        if (n < 0) {
            close_mirror(m);
            return;
        }
        if (n == 0)
            return;
        alb_bq_consume(&m->q, (size_t)n);
    }
}

static void on_io(struct alb_io *io, uint32_t events)
{
    struct alb_mirror *m = (struct alb_mirror *)io;
    if (m->closed)
        return;
    alb_side_on_events(&m->side, events);
    if (m->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        if (alb_sock_error(m->side.io.fd)) {
            close_mirror(m);
            return;
        }
        m->connecting = false;
    }
    flush(m);
    if (m->closed || m->connecting)
        return;
    /* The response is not wanted: read it away until the server closes
     * (the request said Connection: close). */
    char sink[4096];
    for (;;) {
        ssize_t n = read(m->side.io.fd, sink, sizeof(sink));
        if (n > 0)
            continue;
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close_mirror(m); /* EOF or error: done */
        return;
    }
}

static void on_timeout(struct alb_timer *t)
{
    close_mirror((struct alb_mirror *)((char *)t - offsetof(struct alb_mirror, timer)));
}

struct alb_mirror *alb_mirror_start(struct alb_worker *w, const struct alb_endpoint *ep, const char *head,
                                    size_t head_len, uint32_t timeout_ms, struct alb_mirror **owner)
{
    static const char close_hdr[] = "Connection: close\r\n\r\n";
    if (w->mirror_cnt >= ALB_MIRROR_MAX_INFLIGHT || head_len < 4 || w->draining)
        return NULL;
    struct alb_mirror *m = calloc(1, sizeof(*m));
    /* the head without its last CRLF, then Connection: close */
    if (!m || !enqueue(m, head, head_len - 2) || !enqueue(m, close_hdr, sizeof(close_hdr) - 1))
        goto fail;
    int fd = alb_sock_connect((const struct sockaddr *)&ep->addr, ep->addr_len);
    if (fd < 0)
        goto fail;
    m->side.io.fd = fd;
    m->side.io.fn = on_io;
    m->w = w;
    m->owner = owner;
    m->connecting = true;
    alb_timer_init(&m->timer, on_timeout);
    if (alb_loop_add(&w->loop, &m->side.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) < 0 ||
        alb_loop_arm(&w->loop, &m->timer, timeout_ms) < 0) {
        close(fd);
        goto fail;
    }
    m->next = w->mirrors;
    if (w->mirrors)
        w->mirrors->prev = m;
    w->mirrors = m;
    w->mirror_cnt++;
    return m;
fail:
    if (m)
        alb_bq_free(&m->q);
    free(m);
    return NULL;
}

bool alb_mirror_feed(struct alb_mirror *m, const char *p, size_t n)
{
    if (m->closed)
        return false;
    if (!enqueue(m, p, n)) {
        close_mirror(m); /* fell behind: drop it rather than slow the client */
        return false;
    }
    flush(m);
    return !m->closed;
}

void alb_mirror_finish(struct alb_mirror *m)
{
    if (m->owner)
        *m->owner = NULL;
    m->owner = NULL;
}

void alb_mirror_abort(struct alb_mirror *m) { close_mirror(m); }

void alb_mirror_close_all(struct alb_worker *w)
{
    while (w->mirrors)
        close_mirror(w->mirrors);
}
