/* core/loop.h : one epoll event loop per thread.
 *
 * A turn of the loop reads top to bottom as its phases:
 *   1. wait for I/O (epoll_wait, edge-triggered), bounded by the next timer;
 *   2. refresh the cached clock;
 *   3. dispatch every ready I/O object;
 *   4. fire due timers;
 *   5. run deferred destructions.
 * A callback never frees the object it runs on: it calls alb_loop_defer() and
 * the object is freed in phase 5, so a later event of the same batch still
 * points at valid (closed) memory.
 *
 * File descriptors are registered once for both directions (EPOLLIN |
 * EPOLLOUT | EPOLLRDHUP | EPOLLET). Owners remember readiness themselves, so
 * the request path does not call epoll_ctl.
 */
#ifndef ALB_CORE_LOOP_H
#define ALB_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/timer.h"

struct alb_io;
typedef void alb_io_fn(struct alb_io *io, uint32_t events);

struct alb_io {
    int fd;
    alb_io_fn *fn;
};

struct alb_deferred;
typedef void alb_deferred_fn(struct alb_deferred *d);

struct alb_deferred {
    struct alb_deferred *next;
    alb_deferred_fn *fn;
};

struct alb_loop {
    int epfd;
    uint64_t now_ms; /* cached monotonic clock, refreshed each turn */
    struct alb_timer_heap timers;
    struct alb_deferred *deferred; /* run at the end of the turn */
};

/* alb_loop_init() : returns 0 or -errno. */
int alb_loop_init(struct alb_loop *l);
void alb_loop_deinit(struct alb_loop *l);

/* alb_loop_add() : registers <io->fd> edge-triggered for <events>. 0 or -errno. */
int alb_loop_add(struct alb_loop *l, struct alb_io *io, uint32_t events);
/* alb_loop_del() : unregisters <io->fd> (closing the fd does it too). */
void alb_loop_del(struct alb_loop *l, struct alb_io *io);

/* alb_loop_defer() : runs <fn(d)> at the end of this turn. <d> must stay
 * valid until then and must not be deferred twice. */
void alb_loop_defer(struct alb_loop *l, struct alb_deferred *d, alb_deferred_fn *fn);

/* alb_loop_arm() : arms <t> to fire <after_ms> from the cached now.
 * Returns 0 or -ENOMEM. */
__attribute__((warn_unused_result))
int alb_loop_arm(struct alb_loop *l, struct alb_timer *t, uint64_t after_ms);
void alb_loop_disarm(struct alb_loop *l, struct alb_timer *t);

/* alb_loop_run_once() : one turn, waiting at most <max_wait_ms> (-1: until
 * an event or timer). Returns the number of I/O events, or -errno. */
int alb_loop_run_once(struct alb_loop *l, int max_wait_ms);

/* An eventfd as a doorbell between threads: alb_eventfd_ring() makes it
 * readable (any thread; the counter only saturates), alb_eventfd_drain()
 * makes it quiet again (the thread that watches it). */
void alb_eventfd_ring(int fd);
void alb_eventfd_drain(int fd);

#endif
