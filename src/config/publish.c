/* config/publish.c : see publish.h. */
#include "config/publish.h"

#include "core/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

int alb_publisher_init(struct alb_publisher *p)
{
    pthread_mutex_init(&p->lock, NULL);
    p->current = NULL;
    atomic_init(&p->generation, 0);
    atomic_init(&p->retired, NULL);
    p->reaper_running = false;
    atomic_init(&p->reaper_stop, false);
    p->retire_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return p->retire_fd == -1 ? -errno : 0;
}

static void *reap(void *arg)
{
    struct alb_publisher *p = arg;
    setpriority(PRIO_PROCESS, (id_t)gettid(), 10); /* this thread only; best effort */
    while (!atomic_load_explicit(&p->reaper_stop, memory_order_acquire)) {
        struct pollfd pfd = {.fd = p->retire_fd, .events = POLLIN};
        if (poll(&pfd, 1, -1) > 0)
            alb_publisher_free_retired(p);
    }
    return NULL;
}

int alb_publisher_start_reaper(struct alb_publisher *p)
{
    if (p->retire_fd == -1)
        return -EBADF;
    int rc = pthread_create(&p->reaper, NULL, reap, p);
    p->reaper_running = rc == 0;
    return -rc;
}

void alb_publisher_deinit(struct alb_publisher *p)
{
    if (p->reaper_running) {
        atomic_store_explicit(&p->reaper_stop, true, memory_order_release);
        alb_eventfd_ring(p->retire_fd);
        pthread_join(p->reaper, NULL);
        p->reaper_running = false;
    }
    alb_config_unref(p->current);
    p->current = NULL;
    alb_publisher_free_retired(p);
    if (p->retire_fd != -1)
        close(p->retire_fd);
    p->retire_fd = -1;
    pthread_mutex_destroy(&p->lock);
}

void alb_publisher_release(struct alb_publisher *p, struct alb_config *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    if (p->retire_fd == -1) {
        alb_config_free(c);
        return;
    }
    struct alb_config *head = atomic_load_explicit(&p->retired, memory_order_relaxed);
    do
        c->retired_next = head;
    while (!atomic_compare_exchange_weak_explicit(&p->retired, &head, c, memory_order_release, memory_order_relaxed));
    if (!head)
        alb_eventfd_ring(p->retire_fd);
}

void alb_publisher_free_retired(struct alb_publisher *p)
{
    if (p->retire_fd != -1)
        alb_eventfd_drain(p->retire_fd);
    struct alb_config *c = atomic_exchange_explicit(&p->retired, NULL, memory_order_acquire);
    while (c) {
        struct alb_config *next = c->retired_next;
        alb_config_free(c);
        c = next;
    }
}

uint64_t alb_publisher_publish(struct alb_publisher *p, struct alb_config *cfg)
{
    pthread_mutex_lock(&p->lock);
    struct alb_config *old = p->current;
    p->current = cfg;
    uint64_t gen = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    cfg->generation = gen;
    atomic_store_explicit(&p->generation, gen, memory_order_release);
    pthread_mutex_unlock(&p->lock);
    alb_config_unref(old);
    return gen;
}

struct alb_config *alb_publisher_acquire(struct alb_publisher *p, uint64_t *gen)
{
    pthread_mutex_lock(&p->lock);
    struct alb_config *c = p->current ? alb_config_ref(p->current) : NULL;
    *gen = c ? c->generation : 0;
    pthread_mutex_unlock(&p->lock);
    return c;
}

struct alb_config *alb_config_ref(struct alb_config *c)
{
    atomic_fetch_add_explicit(&c->refcnt, 1, memory_order_relaxed);
    return c;
}

void alb_config_unref(struct alb_config *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refcnt, 1, memory_order_acq_rel) == 1)
        alb_config_free(c);
}
