/* core/bytequeue.c : see bytequeue.h. */
#include "core/bytequeue.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 4096

bool alb_bq_put(struct alb_bytequeue *q, const void *data, size_t n)
{
    if (!n)
        return true;
    if (q->off == q->len)
        q->off = q->len = 0;
    if (q->len + n > q->cap && q->off) { /* slide the live bytes down first */
        memmove(q->p, q->p + q->off, q->len - q->off);
        q->len -= q->off;
        q->off = 0;
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : FIRST_CAP;
        while (cap < q->len + n)
            cap *= 2;
        char *p = realloc(q->p, cap);
        if (!p)
            return false;
        q->p = p;
        q->cap = cap;
    }
    memcpy(q->p + q->len, data, n);
    q->len += n;
    return true;
}

void alb_bq_free(struct alb_bytequeue *q)
{
    free(q->p);
    q->p = NULL;
    q->off = q->len = q->cap = 0;
}
