/* source/resolve.h : the DNS names of ExternalName Services, kept resolved.
 *
 * getaddrinfo() blocks, so a thread of its own resolves: the control thread
 * says which names it wants (alb_resolver_want()), is told through an
 * eventfd when an answer changed, and takes the answers as JSON
 * (alb_resolver_answers()). Names are resolved at once when first wanted,
 * then again every refresh period (getaddrinfo does not tell TTLs). Nothing
 * on the request path waits for DNS.
 */
#ifndef ALB_SOURCE_RESOLVE_H
#define ALB_SOURCE_RESOLVE_H

#include <jansson.h>

#define ALB_RESOLVE_REFRESH_MS 30000u

struct alb_resolver;

/* alb_resolver_start() : starts the thread; NULL when it cannot. */
struct alb_resolver *alb_resolver_start(unsigned refresh_ms);

/* alb_resolver_stop() : stops the thread (waiting for a lookup under way)
 * and frees everything. */
void alb_resolver_stop(struct alb_resolver *r);

/* alb_resolver_fd() : readable when answers changed since the last
 * alb_resolver_answers(). */
int alb_resolver_fd(const struct alb_resolver *r);

/* alb_resolver_want() : the names to keep resolved from now on (<names>, an
 * array of strings; borrowed). Answers for names no longer wanted go. */
void alb_resolver_want(struct alb_resolver *r, json_t *names);

/* alb_resolver_answers() : name -> array of numeric addresses, sorted ([]:
 * the name does not resolve); a name not looked up yet is absent. One new
 * reference, the caller's own copy. */
json_t *alb_resolver_answers(struct alb_resolver *r);

#endif
