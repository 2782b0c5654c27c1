/* core/str.h : (ptr, len) slices into buffers owned by someone else. */
#ifndef ALB_CORE_STR_H
#define ALB_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

struct alb_str {
    const char *p; /* borrowed */
    size_t len;
};

/* A header field as parsed: both slices point into the message buffer. */
struct alb_header {
    struct alb_str name;
    struct alb_str value; /* without leading and trailing whitespace */
};

#define ALB_STR_LIT(s) ((struct alb_str){(s), sizeof(s) - 1})

static inline bool alb_str_eq_ci(struct alb_str a, const char *lit, size_t lit_len)
{
    return a.len == lit_len && strncasecmp(a.p, lit, lit_len) == 0;
}

#define alb_str_is_ci(s, lit) alb_str_eq_ci((s), (lit), sizeof(lit) - 1)

#endif
