/* core/bytequeue.h : a growable FIFO of bytes for the request path where
 * a bounded pool buffer does not fit: what a mirror has not sent yet, an
 * HTTP/2 stream's bytes in each direction. The live bytes are
 * p[off, len); they slide down before the queue grows. */
#ifndef ALB_CORE_BYTEQUEUE_H
#define ALB_CORE_BYTEQUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct alb_bytequeue {
    char *p; /* owned */
    size_t off, len, cap;
};

static inline size_t alb_bq_avail(const struct alb_bytequeue *q) { return q->len - q->off; }
static inline const char *alb_bq_head(const struct alb_bytequeue *q) { return q->p + q->off; }
static inline void alb_bq_consume(struct alb_bytequeue *q, size_t n) { q->off += n; }
static inline void alb_bq_clear(struct alb_bytequeue *q) { q->off = q->len = 0; }

/* alb_bq_put() : appends <n> bytes (<data> may be NULL when <n> is 0).
 * False when out of memory (nothing is appended). */
bool alb_bq_put(struct alb_bytequeue *q, const void *data, size_t n);

/* alb_bq_free() : frees the bytes; the queue is empty and usable again. */
void alb_bq_free(struct alb_bytequeue *q);

#endif
