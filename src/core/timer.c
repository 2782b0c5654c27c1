/* core/timer.c : binary min-heap keyed by key_ms; see timer.h for the lazy
 * re-arm rule. */
#include "core/timer.h"

#include <errno.h>
#include <stdlib.h>

void alb_timer_init(struct alb_timer *t, alb_timer_fn *fn)
{
    t->deadline_ms = 0;
    t->key_ms = 0;
    t->heap_idx = ALB_TIMER_UNARMED;
    t->fn = fn;
}

void alb_timer_heap_init(struct alb_timer_heap *h)
{
    h->items = NULL;
    h->cnt = h->cap = 0;
}

void alb_timer_heap_deinit(struct alb_timer_heap *h)
{
    for (size_t i = 0; i < h->cnt; i++)
        h->items[i]->heap_idx = ALB_TIMER_UNARMED;
    free(h->items);
    alb_timer_heap_init(h);
}

static void place(struct alb_timer_heap *h, size_t i, struct alb_timer *t)
{
    h->items[i] = t;
    t->heap_idx = i;
}

static void sift_up(struct alb_timer_heap *h, size_t i)
{
    struct alb_timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->key_ms <= t->key_ms)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct alb_timer_heap *h, size_t i)
{
    struct alb_timer *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->cnt)
            break;
        if (child + 1 < h->cnt && h->items[child + 1]->key_ms < h->items[child]->key_ms)
            child++;
        if (h->items[child]->key_ms >= t->key_ms)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

static void remove_at(struct alb_timer_heap *h, size_t i)
{
    struct alb_timer *t = h->items[i];
    t->heap_idx = ALB_TIMER_UNARMED;
    h->cnt--;
    if (i == h->cnt)
        return;
    struct alb_timer *moved = h->items[h->cnt];
    place(h, i, moved);
    sift_down(h, i);
    sift_up(h, moved->heap_idx);
}

int alb_timer_heap_arm(struct alb_timer_heap *h, struct alb_timer *t, uint64_t deadline_ms)
{
    t->deadline_ms = deadline_ms;
    if (alb_timer_is_armed(t)) {
        if (deadline_ms >= t->key_ms)
            return 0; /* lazy: re-keyed when popped early */
        t->key_ms = deadline_ms;
        sift_up(h, t->heap_idx);
        return 0;
    }
    if (h->cnt == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct alb_timer **items = realloc(h->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    t->key_ms = deadline_ms;
    place(h, h->cnt++, t);
    sift_up(h, t->heap_idx);
    return 0;
}

void alb_timer_heap_disarm(struct alb_timer_heap *h, struct alb_timer *t)
{
    if (alb_timer_is_armed(t))
        remove_at(h, t->heap_idx);
}

size_t alb_timer_heap_run(struct alb_timer_heap *h, uint64_t now_ms)
{
    size_t fired = 0;
    while (h->cnt > 0 && h->items[0]->key_ms <= now_ms) {
        struct alb_timer *t = h->items[0];
        if (t->deadline_ms > now_ms) {
            /* Pushed back lazily since it was keyed: re-key in place. */
            t->key_ms = t->deadline_ms;
            sift_down(h, 0);
            continue;
        }
        remove_at(h, 0);
        fired++;
        t->fn(t);
    }
    return fired;
}

int alb_timer_heap_next_ms(const struct alb_timer_heap *h, uint64_t now_ms)
{
    if (h->cnt == 0)
        return -1;
    uint64_t key = h->items[0]->key_ms;
    if (key <= now_ms)
        return 0;
    uint64_t d = key - now_ms;
    return d > 60000 ? 60000 : (int)d;
}
