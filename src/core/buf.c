/* core/buf.c : see buf.h. Single-threaded per pool; no locks. */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

void alb_bufpool_init(struct alb_bufpool *p, size_t max_free_cnt)
{
    memset(p, 0, sizeof(*p));
    p->max_free_cnt = max_free_cnt;
}

void alb_bufpool_deinit(struct alb_bufpool *p)
{
    while (p->free_list) {
        struct alb_buf *b = p->free_list;
        p->free_list = b->next_free;
        free(b);
    }
    p->free_cnt = 0;
}

struct alb_buf *alb_bufpool_try_get(struct alb_bufpool *p)
{
    struct alb_buf *b = p->free_list;
    if (b) {
        p->free_list = b->next_free;
        p->free_cnt--;
    } else {
        b = malloc(sizeof(*b));
        if (!b)
            return NULL;
    }
    b->next_free = NULL;
    b->start = b->end = 0;
    p->out_cnt++;
    return b;
}

void alb_bufpool_put(struct alb_bufpool *p, struct alb_buf *b)
{
    if (!b)
        return;
    p->out_cnt--;
    if (p->free_cnt >= p->max_free_cnt) {
        free(b);
        return;
    }
    b->next_free = p->free_list;
    p->free_list = b;
    p->free_cnt++;
}

void alb_buf_consume(struct alb_buf *b, size_t len)
{
    b->start += (uint32_t)len;
    if (b->start == b->end)
        b->start = b->end = 0;
}

void alb_buf_compact(struct alb_buf *b)
{
    if (b->start == 0)
        return;
    size_t n = alb_buf_len(b);
    memmove(b->data, b->data + b->start, n);
    b->start = 0;
    b->end = (uint32_t)n;
}
