/* config/publish.c : see publish.h. */
#include "config/publish.h"

void alb_publisher_init(struct alb_publisher *p)
{
    pthread_mutex_init(&p->lock, NULL);
    p->current = NULL;
    atomic_init(&p->generation, 0);
}

void alb_publisher_deinit(struct alb_publisher *p)
{
    alb_config_unref(p->current);
    p->current = NULL;
    pthread_mutex_destroy(&p->lock);
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
