/* route/route.h : picks the rule that serves a request on a listener.
 *
 * Order: a rule whose host equals the request host beats a rule with no
 * host; then the longest matching path; for equal paths Exact beats Prefix;
 * then the rule declared first. Prefix matches element-wise (Kubernetes
 * Ingress semantics: "/foo" matches "/foo", "/foo/" and "/foo/bar", not
 * "/foobar"; a trailing '/' on the rule is ignored).
 *
 * This first version scans the listener's rules; the compiled tables of the
 * routing-engine issue replace it behind the same call.
 */
#ifndef ALB_ROUTE_ROUTE_H
#define ALB_ROUTE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* alb_route_match() : the rule serving <host> (lower-case, port stripped;
 * may be empty) and the normalised <path>, or NULL when none does (404).
 * Pure; any thread. */
const struct alb_rule *alb_route_match(const struct alb_listener_cfg *l, const char *host, size_t host_len,
                                       const char *path, size_t path_len);

/* alb_route_prefix_matches() : element-wise Prefix match of <path> by rule
 * path <prefix>. */
bool alb_route_prefix_matches(const char *prefix, size_t prefix_len, const char *path, size_t path_len);

#endif
