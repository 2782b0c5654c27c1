/* core/loop.c : see loop.h. */
#include "core/loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/clock.h"

#define LOOP_MAX_EVENTS 256

int alb_loop_init(struct alb_loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd == -1)
        return -errno;
    l->now_ms = alb_clock_now_ms();
    alb_timer_heap_init(&l->timers);
    l->deferred = NULL;
    return 0;
}

static void run_deferred(struct alb_loop *l)
{
    /* Destructions may defer more work; drain until empty. */
    while (l->deferred) {
        struct alb_deferred *d = l->deferred;
        l->deferred = NULL;
        while (d) {
            struct alb_deferred *next = d->next;
            d->fn(d);
            d = next;
        }
    }
}

void alb_loop_deinit(struct alb_loop *l)
{
    run_deferred(l);
    alb_timer_heap_deinit(&l->timers);
    if (l->epfd != -1)
        close(l->epfd);
    l->epfd = -1;
}

int alb_loop_add(struct alb_loop *l, struct alb_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) == -1)
        return -errno;
    return 0;
}

void alb_loop_del(struct alb_loop *l, struct alb_io *io)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void alb_loop_defer(struct alb_loop *l, struct alb_deferred *d, alb_deferred_fn *fn)
{
    d->fn = fn;
    d->next = l->deferred;
    l->deferred = d;
}

int alb_loop_arm(struct alb_loop *l, struct alb_timer *t, uint64_t after_ms)
{
    return alb_timer_heap_arm(&l->timers, t, l->now_ms + after_ms);
}

void alb_loop_disarm(struct alb_loop *l, struct alb_timer *t)
{
    alb_timer_heap_disarm(&l->timers, t);
}

int alb_loop_run_once(struct alb_loop *l, int max_wait_ms)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int wait_ms = alb_timer_heap_next_ms(&l->timers, l->now_ms);
    if (max_wait_ms >= 0 && (wait_ms < 0 || wait_ms > max_wait_ms))
        wait_ms = max_wait_ms;
    int n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, wait_ms);
    int err = n == -1 ? errno : 0;
    l->now_ms = alb_clock_now_ms();
    for (int i = 0; i < n; i++) {
        struct alb_io *io = evs[i].data.ptr;
        io->fn(io, evs[i].events);
    }
    alb_timer_heap_run(&l->timers, l->now_ms);
    run_deferred(l);
    if (n == -1)
        return err == EINTR ? 0 : -err;
    return n;
}

void alb_eventfd_ring(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n; /* EAGAIN: the counter is full, the reader will wake all the same */
}

void alb_eventfd_drain(int fd)
{
    uint64_t cnt;
    while (read(fd, &cnt, sizeof(cnt)) > 0) {
    }
}
