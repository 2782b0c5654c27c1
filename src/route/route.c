/* route/route.c : see route.h.
 *
 * Layout of a listener's router:
 *   exact hosts  --hash-->  host_routes
 *   wildcard ".example.com" (the part after "*")  --hash-->  host_routes
 *   host-less rules:  one host_routes
 * host_routes: priority groups sorted by order; a group has one hash table
 * of Exact and Prefix rule lists keyed by (kind, path), and its Regex rules
 * sorted by precedence. Built once per snapshot on the control thread;
 * immutable afterwards, so workers read it without locks.
 */
#include "route/route.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_EXACT = 0, KIND_PREFIX = 1, KIND_REGEX = 2 };

/* ---- a small open-addressing table from byte strings to rule lists ---- */

struct slot {
    uint64_t hash;
    const char *key; /* borrowed from the rules; NULL: empty slot */
    uint32_t key_len;
    uint8_t kind;
    void *value;     /* struct host_routes * or struct rule_list * */
};

struct table {
    struct slot *slots; /* owned */
    size_t cap;         /* power of two */
    size_t cnt;
};

struct rule_list {
    uint32_t *idx; /* owned; rule indices, declared order */
    uint32_t cnt;
    uint32_t cap;
};

struct group {
    uint32_t order;
    struct table paths;      /* (kind, path) -> struct rule_list */
    uint32_t *regex;         /* owned; rule indices by precedence */
    uint32_t regex_cnt;
};

struct host_routes {
    struct group *groups; /* owned; by order */
    uint32_t cnt;
};

struct alb_router {
    struct table exact;    /* host -> struct host_routes */
    struct table wildcard; /* ".domain" -> struct host_routes */
    struct host_routes any;
};

static uint64_t hash_bytes(uint8_t kind, const char *p, size_t n)
{
    /* FNV-1a, 64 bit: keys are short and this is off the hot path's critical cost */
    uint64_t h = 14695981039346656037ull ^ kind;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static struct slot *table_find(const struct table *t, uint8_t kind, const char *key, size_t len, uint64_t h)
{
    if (!t->cap)
        return NULL;
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        struct slot *s = &t->slots[i];
        if (!s->key)
            return NULL;
        if (s->hash == h && s->kind == kind && s->key_len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static bool table_grow(struct table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 8;
    struct slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        struct slot *s = &t->slots[i];
        if (!s->key)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

/* The value stored under (kind, key), created by <make> on first use. */
static void *table_get_or_add(struct table *t, uint8_t kind, const char *key, size_t len, size_t value_size)
{
    uint64_t h = hash_bytes(kind, key, len);
    struct slot *s = table_find(t, kind, key, len, h);
    if (s)
        return s->value;
    if ((t->cnt + 1) * 4 > t->cap * 3 && !table_grow(t))
        return NULL;
    void *v = calloc(1, value_size);
    if (!v)
        return NULL;
    size_t i = h & (t->cap - 1);
    while (t->slots[i].key)
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = (struct slot){h, key, (uint32_t)len, kind, v};
    t->cnt++;
    return v;
}

static bool list_add(struct rule_list *l, uint32_t idx)
{
    if (l->cnt == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 2;
        uint32_t *p = realloc(l->idx, cap * sizeof(*p));
        if (!p)
            return false;
        l->idx = p;
        l->cap = cap;
    }
    l->idx[l->cnt++] = idx;
    return true;
}

/* ---- precedence ---------------------------------------------------------- */

static size_t prefix_key_len(const char *p, size_t n)
{
    while (n > 1 && p[n - 1] == '/')
        n--;
    return n;
}

static int rule_kind(const struct alb_rule *r)
{
    return r->path_match == ALB_PATH_EXACT ? KIND_EXACT : r->path_match == ALB_PATH_PREFIX ? KIND_PREFIX : KIND_REGEX;
}

/* Regex rule indices by precedence: longer pattern first, then declared. */
static int cmp_regex(const void *a, const void *b, void *ctx)
{
    const struct alb_rule *rules = ctx;
    const struct alb_rule *x = &rules[*(const uint32_t *)a], *y = &rules[*(const uint32_t *)b];
    if (x->path_len != y->path_len)
        return x->path_len > y->path_len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* ---- building ------------------------------------------------------------- */

static struct group *group_of(struct host_routes *hr, uint32_t order)
{
    for (uint32_t i = 0; i < hr->cnt; i++)
        if (hr->groups[i].order == order)
            return &hr->groups[i];
    struct group *g = realloc(hr->groups, (hr->cnt + 1) * sizeof(*g));
    if (!g)
        return NULL;
    hr->groups = g;
    uint32_t at = hr->cnt;
    while (at > 0 && g[at - 1].order > order) {
        g[at] = g[at - 1];
        at--;
    }
    memset(&g[at], 0, sizeof(g[at]));
    g[at].order = order;
    hr->cnt++;
    return &g[at];
}

static bool add_rule(struct host_routes *hr, const struct alb_rule *r)
{
    struct group *g = group_of(hr, r->order);
    if (!g)
        return false;
    if (r->path_match == ALB_PATH_REGEX) {
        uint32_t *p = realloc(g->regex, (g->regex_cnt + 1) * sizeof(*p));
        if (!p)
            return false;
        g->regex = p;
        g->regex[g->regex_cnt++] = (uint32_t)r->index;
        return true;
    }
    size_t len = r->path_match == ALB_PATH_PREFIX ? prefix_key_len(r->path, r->path_len) : r->path_len;
    struct rule_list *l = table_get_or_add(&g->paths, (uint8_t)rule_kind(r), r->path, len, sizeof(*l));
    return l && list_add(l, (uint32_t)r->index);
}

static void free_host_routes(struct host_routes *hr)
{
    for (uint32_t i = 0; i < hr->cnt; i++) {
        struct group *g = &hr->groups[i];
        for (size_t k = 0; k < g->paths.cap; k++) {
            struct rule_list *l = g->paths.slots[k].value;
            if (g->paths.slots[k].key) {
                free(l->idx);
                free(l);
            }
        }
        free(g->paths.slots);
        free(g->regex);
    }
    free(hr->groups);
}

static void free_host_table(struct table *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].key) {
            free_host_routes(t->slots[i].value);
            free(t->slots[i].value);
        }
    }
    free(t->slots);
}

static void router_free(struct alb_router *r)
{
    if (!r)
        return;
    free_host_table(&r->exact);
    free_host_table(&r->wildcard);
    free_host_routes(&r->any);
    free(r);
}

static void sort_regex(struct host_routes *hr, const struct alb_rule *rules)
{
    for (uint32_t i = 0; i < hr->cnt; i++)
        if (hr->groups[i].regex_cnt > 1)
            qsort_r(hr->groups[i].regex, hr->groups[i].regex_cnt, sizeof(uint32_t), cmp_regex, (void *)rules);
}

static void sort_table_regex(struct table *t, const struct alb_rule *rules)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key)
            sort_regex(t->slots[i].value, rules);
}

static struct alb_router *build(const struct alb_listener_cfg *l)
{
    struct alb_router *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return NULL;
    for (size_t i = 0; i < l->rule_cnt; i++) {
        const struct alb_rule *r = &l->rules[i];
        if (r->host_cnt == 0 && !add_rule(&rt->any, r))
            goto fail;
        for (size_t h = 0; h < r->host_cnt; h++) {
            const char *host = r->hosts[h];
            bool wild = host[0] == '*';
            struct table *t = wild ? &rt->wildcard : &rt->exact;
            const char *key = wild ? host + 1 : host; /* ".example.com" */
            struct host_routes *hr = table_get_or_add(t, 0, key, strlen(key), sizeof(*hr));
            if (!hr || !add_rule(hr, r))
                goto fail;
        }
    }
    sort_table_regex(&rt->exact, l->rules);
    sort_table_regex(&rt->wildcard, l->rules);
    sort_regex(&rt->any, l->rules);
    return rt;
fail:
    router_free(rt);
    return NULL;
}

int alb_route_compile(struct alb_config *cfg, char *err, size_t err_len)
{
    cfg->router_free = router_free;
    for (size_t i = 0; i < cfg->listener_cnt; i++) {
        cfg->listeners[i].router = build(&cfg->listeners[i]);
        if (!cfg->listeners[i].router) {
            if (err_len)
                strncpy(err, "out of memory compiling routes", err_len - 1), err[err_len - 1] = '\0';
            return -1;
        }
    }
    return 0;
}

/* ---- conditions ------------------------------------------------------------ */

static bool value_in(const struct alb_condition *cd, const char *v, size_t n, struct alb_regex_scratch *scratch)
{
    for (size_t i = 0; i < cd->value_cnt; i++) {
        if (cd->regex) {
            if (alb_regex_match(cd->res[i], scratch, v, n, NULL))
                return true;
        } else if (cd->value_lens[i] == n && memcmp(cd->values[i], v, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Percent-decodes (and '+' as space) s[0..n) into out; returns the length,
 * or (size_t)-1 when it does not fit or an escape is invalid. */
static size_t form_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w == cap)
            return (size_t)-1;
        char ch = s[i];
        if (ch == '+') {
            out[w++] = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n)
                return (size_t)-1;
            int hi = alb_hex_digit((unsigned char)s[i + 1]), lo = alb_hex_digit((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return (size_t)-1;
            out[w++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[w++] = ch;
        }
    }
    return w;
}

static bool query_holds(const struct alb_condition *cd, struct alb_str q, struct alb_regex_scratch *scratch)
{
    size_t i = 0;
    while (i < q.len) {
        size_t j = i;
        while (j < q.len && q.p[j] != '&')
            j++;
        const char *eq = memchr(q.p + i, '=', j - i);
        size_t klen = eq ? (size_t)(eq - (q.p + i)) : j - i;
        char key[256], val[1024];
        size_t kd = form_decode(q.p + i, klen, key, sizeof(key));
        if (kd == cd->key_len && memcmp(key, cd->key, kd) == 0) {
            size_t vd = eq ? form_decode(eq + 1, (size_t)(q.p + j - eq - 1), val, sizeof(val)) : 0;
            if (vd != (size_t)-1 && value_in(cd, val, vd, scratch))
                return true;
        }
        i = j + 1;
    }
    return false;
}

static bool cookie_holds(const struct alb_condition *cd, const struct alb_route_req *q,
                         struct alb_regex_scratch *scratch)
{
    for (size_t h = 0; h < q->hdr_cnt; h++) {
        if (!alb_str_is_ci(q->hdrs[h].name, "cookie"))
            continue;
        struct alb_str v = q->hdrs[h].value;
        size_t i = 0;
        while (i < v.len) {
            while (i < v.len && (v.p[i] == ' ' || v.p[i] == ';'))
                i++;
            size_t j = i;
            while (j < v.len && v.p[j] != ';')
                j++;
            const char *eq = memchr(v.p + i, '=', j - i);
            if (eq && (size_t)(eq - (v.p + i)) == cd->key_len && memcmp(v.p + i, cd->key, cd->key_len) == 0) {
                const char *val = eq + 1;
                size_t vl = (size_t)(v.p + j - val);
                while (vl && val[vl - 1] == ' ')
                    vl--;
                if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
                    val++;
                    vl -= 2;
                }
                if (value_in(cd, val, vl, scratch))
                    return true;
            }
            i = j;
        }
    }
    return false;
}

bool alb_route_cidr_contains(const struct alb_cidr *c, const struct sockaddr *sa)
{
    const uint8_t *a;
    sa_family_t fam = sa->sa_family;
    if (fam == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (fam == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            fam = AF_INET;
            a = &a6->s6_addr[12];
        } else {
            a = a6->s6_addr;
        }
    } else {
        return false;
    }
    if (fam != c->family)
        return false;
    size_t full = c->prefix_len / 8, rest = c->prefix_len % 8;
    if (memcmp(a, c->addr, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ c->addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

bool alb_route_conditions_hold(const struct alb_rule *r, const struct alb_route_req *q,
                               struct alb_regex_scratch *scratch)
{
    for (size_t i = 0; i < r->cond_cnt; i++) {
        const struct alb_condition *cd = &r->conds[i];
        bool ok = false;
        switch (cd->type) {
        case ALB_COND_HEADER:
            for (size_t h = 0; h < q->hdr_cnt && !ok; h++)
                ok = alb_str_eq_ci(q->hdrs[h].name, cd->key, cd->key_len) &&
                     value_in(cd, q->hdrs[h].value.p, q->hdrs[h].value.len, scratch);
            break;
        case ALB_COND_COOKIE:
            ok = cookie_holds(cd, q, scratch);
            break;
        case ALB_COND_QUERY:
            ok = query_holds(cd, q->query, scratch);
            break;
        case ALB_COND_METHOD:
            ok = value_in(cd, q->method.p, q->method.len, scratch);
            break;
        case ALB_COND_SOURCE_IP:
            for (size_t k = 0; k < cd->cidr_cnt && !ok; k++)
                ok = q->peer && alb_route_cidr_contains(&cd->cidrs[k], q->peer);
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* ---- matching ------------------------------------------------------------- */

bool alb_route_prefix_matches(const char *prefix, size_t prefix_len, const char *path, size_t path_len)
{
    prefix_len = prefix_key_len(prefix, prefix_len);
    if (prefix_len == 1)
        return true; /* "/" matches every path */
    if (path_len < prefix_len || memcmp(prefix, path, prefix_len) != 0)
        return false;
    return path_len == prefix_len || path[prefix_len] == '/';
}

int alb_route_host_tier(const struct alb_rule *r, const char *host, size_t host_len)
{
    if (r->host_cnt == 0)
        return 2;
    int best = -1;
    for (size_t i = 0; i < r->host_cnt; i++) {
        const char *h = r->hosts[i];
        size_t n = strlen(h);
        if (h[0] == '*') {
            const char *dot = memchr(host, '.', host_len);
            if (dot && dot != host && (size_t)(host + host_len - dot) == n - 1 && memcmp(dot, h + 1, n - 1) == 0 &&
                best != 0)
                best = 1;
        } else if (n == host_len && memcmp(h, host, n) == 0) {
            best = 0;
        }
    }
    return best;
}

static bool try_rule(const struct alb_rule *r, const struct alb_route_req *q, struct alb_regex_scratch *scratch,
                     struct alb_route_result *out)
{
    out->caps.cnt = 0;
    if (r->path_match == ALB_PATH_REGEX &&
        !alb_regex_match(r->path_re, scratch, q->path, q->path_len, &out->caps))
        return false;
    if (!alb_route_conditions_hold(r, q, scratch))
        return false;
    out->rule = r;
    return true;
}

/* Walks one group: the Exact rule list for the whole path, then Prefix lists
 * for each '/'-separated prefix from the longest, merged with the regex
 * rules by length (non-regex first at equal length). */
static bool match_group(const struct alb_listener_cfg *l, const struct group *g, const struct alb_route_req *q,
                        struct alb_regex_scratch *scratch, struct alb_route_result *out)
{
    uint32_t ri = 0; /* next regex candidate */
    const char *p = q->path;
    size_t n = q->path_len;
    /* candidate lengths, longest first: the full path (Exact), then prefixes */
    size_t cand = n;
    int stage = 0; /* 0: exact on the full path, 1: prefixes */
    for (;;) {
        size_t len;
        uint8_t kind;
        if (stage == 0) {
            len = n;
            kind = KIND_EXACT;
        } else {
            len = prefix_key_len(p, cand);
            kind = KIND_PREFIX;
        }
        /* regex rules longer than this candidate come first */
        while (ri < g->regex_cnt && l->rules[g->regex[ri]].path_len > len) {
            if (try_rule(&l->rules[g->regex[ri]], q, scratch, out))
                return true;
            ri++;
        }
        if (len > 0) {
            const struct slot *s = table_find(&g->paths, kind, p, len, hash_bytes(kind, p, len));
            if (s) {
                const struct rule_list *rl = s->value;
                for (uint32_t k = 0; k < rl->cnt; k++)
                    if (try_rule(&l->rules[rl->idx[k]], q, scratch, out))
                        return true;
            }
        }
        if (stage == 0) {
            stage = 1;
            cand = n;
            continue;
        }
        if (len <= 1)
            break;
        /* next shorter element boundary */
        size_t i = len - 1;
        while (i > 0 && p[i] != '/')
            i--;
        cand = i == 0 ? 1 : i;
    }
    while (ri < g->regex_cnt) {
        if (try_rule(&l->rules[g->regex[ri]], q, scratch, out))
            return true;
        ri++;
    }
    return false;
}

static bool match_host_routes(const struct alb_listener_cfg *l, const struct host_routes *hr,
                              const struct alb_route_req *q, struct alb_regex_scratch *scratch,
                              struct alb_route_result *out)
{
    for (uint32_t i = 0; i < hr->cnt; i++)
        if (match_group(l, &hr->groups[i], q, scratch, out))
            return true;
    return false;
}

bool alb_route_match(const struct alb_listener_cfg *l, const struct alb_route_req *q,
                     struct alb_regex_scratch *scratch, struct alb_route_result *out)
{
    const struct alb_router *rt = l->router;
    out->rule = NULL;
    if (q->host_len) {
        const struct slot *s = table_find(&rt->exact, 0, q->host, q->host_len, hash_bytes(0, q->host, q->host_len));
        if (s && match_host_routes(l, s->value, q, scratch, out))
            return true;
        const char *dot = memchr(q->host, '.', q->host_len);
        if (dot && dot != q->host) {
            size_t n = (size_t)(q->host + q->host_len - dot);
            s = table_find(&rt->wildcard, 0, dot, n, hash_bytes(0, dot, n));
            if (s && match_host_routes(l, s->value, q, scratch, out))
                return true;
        }
    }
    return match_host_routes(l, &rt->any, q, scratch, out);
}

bool alb_route_acl_admits(const struct alb_listener_cfg *l, const struct sockaddr *peer)
{
    if (!l->acl_cnt)
        return true;
    bool listed = false;
    for (size_t i = 0; i < l->acl_cnt && !listed; i++)
        listed = alb_route_cidr_contains(&l->acl[i], peer);
    return listed == l->acl_allow;
}
