/* core/timer.h : a min-heap of deadlines, one per worker, for every timeout.
 *
 * Each connection owns one struct alb_timer whose meaning follows its state
 * (header read, idle keep-alive, upstream response, ...). Moving a deadline
 * later is the common case (every read pushes an idle timeout back), so it is
 * lazy: only the field changes, and an entry popped before its real deadline
 * is pushed again. Moving a deadline earlier sifts the entry up at once.
 *
 * Invariant: an armed timer is in the heap at index heap_idx and its heap key
 * (key_ms) is <= deadline_ms. Single-threaded.
 */
#ifndef ALB_CORE_TIMER_H
#define ALB_CORE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct alb_timer;
typedef void alb_timer_fn(struct alb_timer *t);

struct alb_timer {
    uint64_t deadline_ms; /* when the callback is due; valid while armed */
    uint64_t key_ms;      /* position in the heap, <= deadline_ms */
    size_t heap_idx;      /* ALB_TIMER_UNARMED when not in the heap */
    alb_timer_fn *fn;
};

#define ALB_TIMER_UNARMED ((size_t)-1)

struct alb_timer_heap {
    struct alb_timer **items; /* owned array of borrowed timers */
    size_t cnt;
    size_t cap;
};

void alb_timer_init(struct alb_timer *t, alb_timer_fn *fn);
static inline bool alb_timer_is_armed(const struct alb_timer *t) { return t->heap_idx != ALB_TIMER_UNARMED; }

void alb_timer_heap_init(struct alb_timer_heap *h);
void alb_timer_heap_deinit(struct alb_timer_heap *h);

/* alb_timer_heap_arm() : (re)arms <t> to fire at <deadline_ms>. Returns 0, or
 * -ENOMEM when the heap cannot grow (the timer is then left unarmed). */
__attribute__((warn_unused_result))
int alb_timer_heap_arm(struct alb_timer_heap *h, struct alb_timer *t, uint64_t deadline_ms);

/* alb_timer_heap_disarm() : removes <t> if armed. */
void alb_timer_heap_disarm(struct alb_timer_heap *h, struct alb_timer *t);

/* alb_timer_heap_run() : fires every timer due at <now_ms> (each is disarmed
 * before its callback runs, which may re-arm it). Returns the number fired. */
size_t alb_timer_heap_run(struct alb_timer_heap *h, uint64_t now_ms);

/* alb_timer_heap_next_ms() : milliseconds until the earliest heap key, 0 if
 * one is due, -1 when the heap is empty (an epoll_wait timeout). */
int alb_timer_heap_next_ms(const struct alb_timer_heap *h, uint64_t now_ms);

#endif
