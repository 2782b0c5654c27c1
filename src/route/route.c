/* route/route.c : see route.h. */
#include "route/route.h"

#include <string.h>

bool alb_route_prefix_matches(const char *prefix, size_t prefix_len, const char *path, size_t path_len)
{
    while (prefix_len > 1 && prefix[prefix_len - 1] == '/')
        prefix_len--; /* "/foo/" is the prefix "/foo" */
    if (prefix_len == 1)
        return true; /* "/" matches every path */
    if (path_len < prefix_len || memcmp(prefix, path, prefix_len) != 0)
        return false;
    return path_len == prefix_len || path[prefix_len] == '/';
}

static bool host_matches(const struct alb_rule *r, const char *host, size_t host_len, bool *exact)
{
    if (r->host_cnt == 0) {
        *exact = false;
        return true;
    }
    for (size_t i = 0; i < r->host_cnt; i++) {
        if (strlen(r->hosts[i]) == host_len && memcmp(r->hosts[i], host, host_len) == 0) {
            *exact = true;
            return true;
        }
    }
    return false;
}

const struct alb_rule *alb_route_match(const struct alb_listener_cfg *l, const char *host, size_t host_len,
                                       const char *path, size_t path_len)
{
    const struct alb_rule *best = NULL;
    bool best_exact_host = false;
    size_t best_len = 0;
    bool best_exact_path = false;
    for (size_t i = 0; i < l->rule_cnt; i++) {
        const struct alb_rule *r = &l->rules[i];
        bool exact_host;
        if (!host_matches(r, host, host_len, &exact_host))
            continue;
        bool exact_path = r->path_match == ALB_PATH_EXACT;
        if (exact_path) {
            if (r->path_len != path_len || memcmp(r->path, path, path_len) != 0)
                continue;
        } else if (!alb_route_prefix_matches(r->path, r->path_len, path, path_len)) {
            continue;
        }
        size_t len = r->path_len;
        if (best) {
            if (best_exact_host != exact_host) {
                if (best_exact_host)
                    continue;
            } else if (len < best_len || (len == best_len && (best_exact_path || !exact_path))) {
                continue;
            }
        }
        best = r;
        best_exact_host = exact_host;
        best_len = len;
        best_exact_path = exact_path;
    }
    return best;
}
