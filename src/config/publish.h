/* config/publish.h : the one published snapshot, and how threads take it.
 *
 * The control thread publishes a new validated snapshot; workers notice the
 * generation change at the top of a loop turn (one relaxed atomic load per
 * turn) and take a reference to the new one. The pointer swap and the
 * reference taken by a reader happen under a mutex that is touched only when
 * the generation changes, so a reader never increments the count of a
 * snapshot that is being freed. Reference counts are atomic and change only
 * on publish and adopt, never per request: workers count their own requests
 * locally (see proxy/worker.h, struct alb_snap_hold).
 */
#ifndef ALB_CONFIG_PUBLISH_H
#define ALB_CONFIG_PUBLISH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

struct alb_publisher {
    pthread_mutex_t lock;
    struct alb_config *current; /* one reference owned by the publisher */
    atomic_uint_fast64_t generation; /* grows by one per publish; 0: none yet */
    _Atomic(struct alb_config *) retired; /* snapshots workers let go of last, linked by retired_next */
    int retire_fd; /* eventfd, readable when there are retired snapshots; -1: none (they are freed at once) */
    pthread_t reaper;
    bool reaper_running;
    atomic_bool reaper_stop;
};

/* alb_publisher_init() : 0, or -errno when the eventfd cannot be made. */
int alb_publisher_init(struct alb_publisher *p);
/* alb_publisher_deinit() : drops the publisher's reference and frees what
 * was retired. */
void alb_publisher_deinit(struct alb_publisher *p);

/* alb_publisher_release() : a worker drops its reference to <c>. The last
 * one does not free it there (a snapshot of 100,000 rules takes
 * milliseconds to free, which a worker would take from its requests): it
 * goes to the retired list and retire_fd becomes readable. Any thread. */
void alb_publisher_release(struct alb_publisher *p, struct alb_config *c);

/* alb_publisher_free_retired() : frees the retired snapshots. One thread:
 * the reaper if it runs, else the control thread when retire_fd is
 * readable. */
void alb_publisher_free_retired(struct alb_publisher *p);

/* alb_publisher_start_reaper() : frees retired snapshots on a thread of
 * their own at low priority (nice 10), so that neither the workers nor the
 * control thread (which may be building the next version) spend the time.
 * Stopped by alb_publisher_deinit(). 0, or -errno. */
int alb_publisher_start_reaper(struct alb_publisher *p);

/* alb_publisher_publish() : makes <cfg> current, taking over the caller's
 * reference, and returns the new generation. Control thread. */
uint64_t alb_publisher_publish(struct alb_publisher *p, struct alb_config *cfg);

/* alb_publisher_acquire() : the current snapshot with a new reference for the
 * caller (NULL before the first publish); *gen is its generation. Any thread. */
struct alb_config *alb_publisher_acquire(struct alb_publisher *p, uint64_t *gen);

static inline uint64_t alb_publisher_generation(struct alb_publisher *p)
{
    return atomic_load_explicit(&p->generation, memory_order_acquire);
}

/* alb_config_ref() / alb_config_unref() : the last unref frees. Any thread. */
struct alb_config *alb_config_ref(struct alb_config *c);
void alb_config_unref(struct alb_config *c);

#endif
