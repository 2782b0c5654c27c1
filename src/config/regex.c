/* config/regex.c : see regex.h. */
#include "config/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

struct alb_regex {
    pcre2_code *code; /* owned */
};

struct alb_regex_scratch {
    pcre2_match_data *md;      /* owned */
    pcre2_match_context *mctx; /* owned: bounds backtracking (ReDoS) */
};

/* Backtracking budget per match: ample for routing patterns, and a hostile
 * pattern-and-subject pair costs at most this, not exponential time. */
#define REGEX_MATCH_LIMIT 100000u
#define REGEX_DEPTH_LIMIT 10000u

struct alb_regex *alb_regex_compile(const char *pattern, bool caseless, bool whole, char *err, size_t err_len)
{
    int code;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_ANCHORED | PCRE2_UTF | (caseless ? PCRE2_CASELESS : 0) |
                    (whole ? PCRE2_ENDANCHORED : 0);
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
    if (!c) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, err_len, "invalid regular expression: %s at offset %zu", (const char *)msg, (size_t)off);
        return NULL;
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* without JIT it still works, slower */
    struct alb_regex *re = malloc(sizeof(*re));
    if (!re) {
        pcre2_code_free(c);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    re->code = c;
    return re;
}

void alb_regex_free(struct alb_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re);
}

struct alb_regex_scratch *alb_regex_scratch_new(void)
{
    struct alb_regex_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->md = pcre2_match_data_create(ALB_REGEX_MAX_CAPS, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->md || !s->mctx) {
        alb_regex_scratch_free(s);
        return NULL;
    }
    pcre2_set_match_limit(s->mctx, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(s->mctx, REGEX_DEPTH_LIMIT);
    return s;
}

void alb_regex_scratch_free(struct alb_regex_scratch *s)
{
    if (!s)
        return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    free(s);
}

bool alb_regex_match(const struct alb_regex *re, struct alb_regex_scratch *scratch, const char *s, size_t len,
                     struct alb_regex_caps *caps)
{
    /* Subjects come from the network: PCRE2_UTF checks them, and invalid
     * UTF-8 simply does not match. */
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, scratch->md, scratch->mctx);
    if (rc <= 0)
        return false;
    if (caps) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(scratch->md);
        size_t n = (size_t)rc < ALB_REGEX_MAX_CAPS ? (size_t)rc : ALB_REGEX_MAX_CAPS;
        caps->cnt = n;
        for (size_t i = 0; i < ALB_REGEX_MAX_CAPS; i++) {
            bool set = i < n && ov[2 * i] != PCRE2_UNSET;
            caps->start[i] = set ? ov[2 * i] : (size_t)-1;
            caps->end[i] = set ? ov[2 * i + 1] : (size_t)-1;
        }
    }
    return true;
}
