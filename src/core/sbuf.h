/* core/sbuf.h : a growable text buffer for the control thread (admin
 * responses, metrics). Not for the request path: it allocates. */
#ifndef ALB_CORE_SBUF_H
#define ALB_CORE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct alb_sbuf {
    char *p;        /* owned, NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    bool failed;    /* an allocation failed; the content is incomplete */
};

void alb_sbuf_init(struct alb_sbuf *b);
void alb_sbuf_deinit(struct alb_sbuf *b);
void alb_sbuf_add(struct alb_sbuf *b, const char *s, size_t n);

__attribute__((format(printf, 2, 3)))
void alb_sbuf_printf(struct alb_sbuf *b, const char *fmt, ...);

#endif
