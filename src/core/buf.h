/* core/buf.h : fixed-size I/O buffers and a per-worker pool of them.
 *
 * A buffer holds the bytes in flight on one side of a connection. It is taken
 * from the worker's pool only while bytes are in flight and returned as soon as
 * it is empty, so an idle keep-alive connection holds no buffer (the 100k idle
 * connections target depends on it). The pool is used by one thread only.
 *
 * Invariant: 0 <= start <= end <= ALB_BUF_CAP; the live bytes are
 * data[start..end).
 */
#ifndef ALB_CORE_BUF_H
#define ALB_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 16 KiB: a request head (request line and headers) must fit in one buffer,
 * which is the 16 KiB head limit of the HTTP/1 layer. */
#define ALB_BUF_CAP 16384

struct alb_buf {
    struct alb_buf *next_free; /* link while in the pool's free list */
    uint32_t start;
    uint32_t end;
    char data[ALB_BUF_CAP];
};

struct alb_bufpool {
    struct alb_buf *free_list; /* owned */
    size_t free_cnt;
    size_t max_free_cnt; /* buffers kept for reuse; the rest are freed */
    size_t out_cnt;      /* buffers handed out and not yet returned */
};

void alb_bufpool_init(struct alb_bufpool *p, size_t max_free_cnt);
void alb_bufpool_deinit(struct alb_bufpool *p);

/* alb_bufpool_try_get() : an empty buffer, or NULL when memory is exhausted.
 * The data path answers NULL with a 503 or a close, never an abort. */
__attribute__((warn_unused_result))
struct alb_buf *alb_bufpool_try_get(struct alb_bufpool *p);

/* alb_bufpool_put() : returns <b> (may be NULL) to the pool. */
void alb_bufpool_put(struct alb_bufpool *p, struct alb_buf *b);

static inline size_t alb_buf_len(const struct alb_buf *b) { return b->end - b->start; }
static inline bool alb_buf_is_empty(const struct alb_buf *b) { return b->start == b->end; }
static inline char *alb_buf_head(struct alb_buf *b) { return b->data + b->start; }
static inline char *alb_buf_tail(struct alb_buf *b) { return b->data + b->end; }
static inline size_t alb_buf_room(const struct alb_buf *b) { return ALB_BUF_CAP - b->end; }

/* alb_buf_consume() : drops <len> bytes from the front; an emptied buffer is
 * rewound so the whole capacity is free again. */
void alb_buf_consume(struct alb_buf *b, size_t len);

/* alb_buf_compact() : moves the live bytes to the front of the buffer. */
void alb_buf_compact(struct alb_buf *b);

#endif
