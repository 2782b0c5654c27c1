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

/* alb_lower_copy() : <n> bytes of <src> into <dst>, ASCII letters
 * lower-cased (<dst> may be <src>). */
static inline void alb_lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + 32) : src[i];
}

/* alb_hex_digit() : the value of hex digit <c>, or -1. */
static inline int alb_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#define alb_str_is_ci(s, lit) alb_str_eq_ci((s), (lit), sizeof(lit) - 1)

#endif
