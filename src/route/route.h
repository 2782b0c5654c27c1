/* route/route.h : the compiled match tables of a listener, and matching.
 *
 * Which rule serves a request (docs/config.md, "Which rule serves"):
 *  1. host tier: rules naming the request host exactly, then rules with a
 *     one-label wildcard matching it ("*.example.com" matches
 *     "a.example.com", not "example.com" nor "a.b.example.com"), then rules
 *     without hosts; a tier is tried only when no rule of the one before
 *     matched;
 *  2. within a tier, rules by `order`, smaller first;
 *  3. within one order, Kubernetes precedence: the longest rule path first
 *     (a Prefix's trailing '/' does not count; a Regex counts its pattern
 *     length); at equal length Exact, then Prefix, then Regex; then the
 *     declared order;
 *  4. the first rule whose path matches and whose conditions all hold wins.
 *
 * Cost: a hash lookup per host tier, then per order group one hash probe
 * per path element (the path's '/'-separated prefixes), plus the regex rules
 * of that group, if any. Independent of the number of rules otherwise.
 * Tested against a naive reference (tests/unit/route/route_test.c).
 */
#ifndef ALB_ROUTE_ROUTE_H
#define ALB_ROUTE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config/config.h"
#include "config/regex.h"
#include "core/str.h"

/* What matching looks at. Every slice is borrowed. */
struct alb_route_req {
    const char *host; /* lower-case, port and trailing dot removed; may be empty */
    size_t host_len;
    const char *path; /* normalised (http/path.h) */
    size_t path_len;
    struct alb_str method;
    const struct alb_header *hdrs;
    size_t hdr_cnt;
    struct alb_str query; /* after '?', raw; may be empty */
    const struct sockaddr *peer;
};

struct alb_route_result {
    const struct alb_rule *rule;
    struct alb_regex_caps caps; /* the path regex's groups; cnt 0 for Exact/Prefix */
};

/* alb_route_compile() : builds the tables of every listener of <cfg>
 * (listeners[].router) and sets cfg->router_free. Returns 0, or -1 with
 * err[] when out of memory. Control thread, before publishing. */
int alb_route_compile(struct alb_config *cfg, char *err, size_t err_len);

/* alb_route_match() : the rule serving <q> on <l>, false when none does
 * (a 404). <scratch> is the calling thread's regex space. Any thread. */
bool alb_route_match(const struct alb_listener_cfg *l, const struct alb_route_req *q,
                     struct alb_regex_scratch *scratch, struct alb_route_result *out);

/* alb_route_conditions_hold() : whether every condition of <r> holds for
 * <q> (exposed for the reference matcher in the tests). */
bool alb_route_conditions_hold(const struct alb_rule *r, const struct alb_route_req *q,
                               struct alb_regex_scratch *scratch);

/* alb_route_prefix_matches() : element-wise Prefix match of <path> by rule
 * path <prefix> (a trailing '/' of the prefix ignored). */
bool alb_route_prefix_matches(const char *prefix, size_t prefix_len, const char *path, size_t path_len);

/* alb_route_host_tier() : 0 when <r> names <host> exactly, 1 when one of its
 * wildcards matches it, 2 when <r> has no hosts, -1 when it does not apply. */
int alb_route_host_tier(const struct alb_rule *r, const char *host, size_t host_len);

/* alb_route_cidr_contains() : whether <sa>'s address is in <c> (an
 * IPv4-mapped IPv6 address counts as IPv4). */
bool alb_route_cidr_contains(const struct alb_cidr *c, const struct sockaddr *sa);

/* alb_route_acl_admits() : whether the listener's ACL lets <peer> connect. */
bool alb_route_acl_admits(const struct alb_listener_cfg *l, const struct sockaddr *peer);

#endif
