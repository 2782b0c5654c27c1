/* config/regex.h : regular expressions (PCRE2 with JIT). The only place that
 * includes pcre2.h. A compiled regex is immutable and may be used by any
 * number of threads at once; each thread brings its own scratch space. */
#ifndef ALB_CONFIG_REGEX_H
#define ALB_CONFIG_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct alb_regex;
struct alb_regex_scratch;

#define ALB_REGEX_MAX_CAPS 10 /* ${0}..${9} */

struct alb_regex_caps {
    size_t cnt;                      /* groups set, ${0} included */
    size_t start[ALB_REGEX_MAX_CAPS];
    size_t end[ALB_REGEX_MAX_CAPS];  /* start == end == (size_t)-1: group unset */
};

/* alb_regex_compile() : <pattern> anchored at the start of the subject
 * (<whole>: at its end too), case-insensitive with <caseless>, JIT-compiled
 * when the JIT is available. Returns NULL with err[] saying what and where
 * ("missing closing parenthesis at offset 4"). Patterns are bounded by
 * PCRE2's own match and depth limits at run time. */
struct alb_regex *alb_regex_compile(const char *pattern, bool caseless, bool whole, char *err, size_t err_len);
void alb_regex_free(struct alb_regex *re);

/* alb_regex_scratch_new() : per-thread match space; NULL when out of memory. */
struct alb_regex_scratch *alb_regex_scratch_new(void);
void alb_regex_scratch_free(struct alb_regex_scratch *s);

/* alb_regex_match() : true when <re> matches s[0..len). <caps> (may be NULL)
 * receives the groups. A match that hits a resource limit is no match. */
bool alb_regex_match(const struct alb_regex *re, struct alb_regex_scratch *scratch, const char *s, size_t len,
                     struct alb_regex_caps *caps);

#endif
