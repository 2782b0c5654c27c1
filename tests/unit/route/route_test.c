/* tests/unit/route/route_test.c : rule selection. The Kubernetes path
 * table, precedence, wildcard hosts and conditions by example; then the
 * compiled matcher against a naive reference (every rule checked, the best
 * by the documented order) over thousands of random rule sets and requests. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "route/route.h"
#include "test.h"

static char err[1024];
static struct alb_regex_scratch *scratch;

/* Builds a one-listener config whose rules are <rules_json> (a JSON array),
 * all forwarding to backend "b". */
static struct alb_config *load(const char *rules_json)
{
    static char text[1 << 20];
    snprintf(text, sizeof(text),
             "{\"version\":1,\"backends\":[{\"name\":\"b\"}],\"listeners\":[{\"port\":80,\"rules\":%s}]}", rules_json);
    struct alb_config *c = alb_config_parse(text, strlen(text), "127.0.0.1", err, sizeof(err));
    if (!c) {
        fprintf(stderr, "  config: %s\n", err);
        return NULL;
    }
    if (alb_route_compile(c, err, sizeof(err)) < 0) {
        alb_config_free(c);
        return NULL;
    }
    return c;
}

static struct sockaddr_in peer4;

static long match(struct alb_config *c, const char *host, const char *path, const char *method,
                  const struct alb_header *hdrs, size_t hdr_cnt, const char *query)
{
    struct alb_route_req q = {host, strlen(host), path, strlen(path), {method, strlen(method)}, hdrs, hdr_cnt,
                              {query, strlen(query)}, (const struct sockaddr *)&peer4};
    struct alb_route_result r;
    if (!alb_route_match(&c->listeners[0], &q, scratch, &r))
        return -1;
    return (long)r.rule->index;
}

static long m(struct alb_config *c, const char *host, const char *path)
{
    return match(c, host, path, "GET", NULL, 0, "");
}

#define FWD ",\"actions\":[{\"type\":\"forward\",\"backend\":\"b\"}]}"

/* https://kubernetes.io/docs/concepts/services-networking/ingress/#examples */
static void test_kubernetes_path_table(void)
{
    static const struct {
        const char *type, *rule, *req;
        bool matches;
    } t[] = {
        {"Prefix", "/", "/anything", true},     {"Exact", "/foo", "/foo", true},
        {"Exact", "/foo", "/bar", false},       {"Exact", "/foo", "/foo/", false},
        {"Exact", "/foo/", "/foo", false},      {"Prefix", "/foo", "/foo", true},
        {"Prefix", "/foo", "/foo/", true},      {"Prefix", "/foo/", "/foo", true},
        {"Prefix", "/foo/", "/foo/", true},     {"Prefix", "/aaa/bb", "/aaa/bbb", false},
        {"Prefix", "/aaa/bbb", "/aaa/bbb", true}, {"Prefix", "/aaa/bbb/", "/aaa/bbb", true},
        {"Prefix", "/aaa/bbb", "/aaa/bbb/", true}, {"Prefix", "/aaa/bbb", "/aaa/bbb/ccc", true},
        {"Prefix", "/aaa/bbb", "/aaa/bbbxyz", false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char rules[256];
        snprintf(rules, sizeof(rules), "[{\"match\":{\"path\":{\"type\":\"%s\",\"value\":\"%s\"}}" FWD "]", t[i].type,
                 t[i].rule);
        struct alb_config *c = load(rules);
        CHECK(c != NULL);
        if (!c)
            continue;
        bool got = m(c, "x", t[i].req) == 0;
        if (got != t[i].matches)
            fprintf(stderr, "  %s %s vs %s: got %d\n", t[i].type, t[i].rule, t[i].req, got);
        CHECK(got == t[i].matches);
        alb_config_free(c);
    }
}

static void test_precedence(void)
{
    struct alb_config *c = load("["
                                "{\"match\":{\"path\":{\"type\":\"Prefix\",\"value\":\"/\"}}" FWD ","
                                "{\"match\":{\"path\":{\"type\":\"Prefix\",\"value\":\"/aaa\"}}" FWD ","
                                "{\"match\":{\"path\":{\"type\":\"Prefix\",\"value\":\"/aaa/bbb\"}}" FWD ","
                                "{\"match\":{\"path\":{\"type\":\"Exact\",\"value\":\"/aaa/bbb\"}}" FWD ","
                                "{\"match\":{\"hosts\":[\"foo.com\"]}" FWD ","
                                "{\"match\":{\"hosts\":[\"*.foo.com\"],\"path\":{\"type\":\"Prefix\",\"value\":\"/x\"}}" FWD ","
                                "{\"order\":1,\"match\":{\"path\":{\"type\":\"Prefix\",\"value\":\"/z\"}}" FWD ","
                                "{\"match\":{\"path\":{\"type\":\"Regex\",\"value\":\"/aaa/b.*\"}}" FWD
                                "]");
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_EQ_INT(m(c, "x", "/aaa/bbb"), 3);    /* Exact before Prefix at equal length */
    CHECK_EQ_INT(m(c, "x", "/aaa/bbb/c"), 2);  /* the longest prefix */
    CHECK_EQ_INT(m(c, "x", "/aaa/bz"), 7);     /* a regex of 8 beats the prefix /aaa of 4 */
    CHECK_EQ_INT(m(c, "x", "/aaa/ccc"), 1);
    CHECK_EQ_INT(m(c, "x", "/z/zz"), 6);       /* order 1 first, though / of order 10 matches too */
    CHECK_EQ_INT(m(c, "x", "/zzz"), 0);        /* element-wise: /z does not match /zzz */
    CHECK_EQ_INT(m(c, "x", "/q"), 0);
    CHECK_EQ_INT(m(c, "foo.com", "/aaa/bbb"), 4); /* the exact host tier beats host-less rules */
    CHECK_EQ_INT(m(c, "a.foo.com", "/x/1"), 5);   /* wildcard, one label */
    CHECK_EQ_INT(m(c, "a.foo.com", "/y"), 0);     /* wildcard tier has no match: host-less tier */
    CHECK_EQ_INT(m(c, "a.b.foo.com", "/x"), 0);   /* two labels: not the wildcard */
    alb_config_free(c);
}

static void test_conditions(void)
{
    struct alb_config *c = load(
        "["
        "{\"match\":{\"conditions\":[{\"type\":\"header\",\"name\":\"X-Env\",\"values\":[\"canary\",\"beta\"]},"
        "{\"type\":\"method\",\"values\":[\"GET\"]}]}" FWD ","
        "{\"match\":{\"conditions\":[{\"type\":\"cookie\",\"name\":\"user\",\"values\":[\"vip\"]}]}" FWD ","
        "{\"match\":{\"conditions\":[{\"type\":\"query\",\"name\":\"v\",\"values\":[\"2 x\"]}]}" FWD ","
        "{\"match\":{\"conditions\":[{\"type\":\"source_ip\",\"values\":[\"10.0.0.0/8\",\"192.168.1.7\"]}]}" FWD ","
        "{\"match\":{\"conditions\":[{\"type\":\"header\",\"name\":\"x-ua\",\"values\":[\"curl/.*\"],\"regex\":true}]}" FWD
        ","
        "{\"match\":{}" FWD "]");
    CHECK(c != NULL);
    if (!c)
        return;
    struct alb_header h1[] = {{ALB_STR_LIT("x-env"), ALB_STR_LIT("beta")}};
    CHECK_EQ_INT(match(c, "h", "/", "GET", h1, 1, ""), 0);
    CHECK_EQ_INT(match(c, "h", "/", "POST", h1, 1, ""), 5); /* AND: the method fails */
    struct alb_header h2[] = {{ALB_STR_LIT("Cookie"), ALB_STR_LIT("a=1; user=vip; b=2")}};
    CHECK_EQ_INT(match(c, "h", "/", "GET", h2, 1, ""), 1);
    struct alb_header h3[] = {{ALB_STR_LIT("Cookie"), ALB_STR_LIT("user=vipx")}};
    CHECK_EQ_INT(match(c, "h", "/", "GET", h3, 1, ""), 5);
    CHECK_EQ_INT(match(c, "h", "/", "GET", NULL, 0, "a=1&v=2+x"), 2);
    CHECK_EQ_INT(match(c, "h", "/", "GET", NULL, 0, "v=2%20x"), 2);
    CHECK_EQ_INT(match(c, "h", "/", "GET", NULL, 0, "v=3"), 5);
    peer4.sin_family = AF_INET;
    inet_pton(AF_INET, "10.1.2.3", &peer4.sin_addr);
    CHECK_EQ_INT(m(c, "h", "/"), 3);
    inet_pton(AF_INET, "192.168.1.8", &peer4.sin_addr);
    CHECK_EQ_INT(m(c, "h", "/"), 5);
    inet_pton(AF_INET, "192.168.1.7", &peer4.sin_addr);
    CHECK_EQ_INT(m(c, "h", "/"), 3);
    inet_pton(AF_INET, "127.0.0.1", &peer4.sin_addr);
    struct alb_header h4[] = {{ALB_STR_LIT("X-UA"), ALB_STR_LIT("curl/8.0")}};
    CHECK_EQ_INT(match(c, "h", "/", "GET", h4, 1, ""), 4);
    struct alb_header h5[] = {{ALB_STR_LIT("X-UA"), ALB_STR_LIT("xcurl/8.0")}};
    CHECK_EQ_INT(match(c, "h", "/", "GET", h5, 1, ""), 5); /* regex values match the whole value */
    alb_config_free(c);
}

static void test_regex_captures_and_case(void)
{
    struct alb_config *c = load("[{\"match\":{\"path\":{\"type\":\"Regex\",\"value\":\"/API/(v[0-9]+)/(.*)\","
                                "\"case_sensitive\":false}}" FWD "]");
    CHECK(c != NULL);
    if (!c)
        return;
    struct alb_route_req q = {"h", 1, "/api/v2/users", 13, ALB_STR_LIT("GET"), NULL, 0, {"", 0}, NULL};
    struct alb_route_result r;
    CHECK(alb_route_match(&c->listeners[0], &q, scratch, &r));
    CHECK_EQ_INT(r.caps.cnt, 3);
    CHECK_EQ_STR(q.path + r.caps.start[1], r.caps.end[1] - r.caps.start[1], "v2");
    CHECK_EQ_STR(q.path + r.caps.start[2], r.caps.end[2] - r.caps.start[2], "users");
    CHECK_EQ_INT(m(c, "h", "/x/api/v2/"), -1); /* anchored at the start */
    alb_config_free(c);
}

/* ---- randomized comparison with a naive reference ------------------------ */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static size_t ref_len(const struct alb_rule *r)
{
    size_t n = r->path_len;
    if (r->path_match == ALB_PATH_PREFIX)
        while (n > 1 && r->path[n - 1] == '/')
            n--;
    return n;
}

/* Every rule, the best by (tier, order, longer, kind, declared). */
static long reference(const struct alb_listener_cfg *l, const struct alb_route_req *q)
{
    long best = -1;
    int bt = 0;
    for (size_t i = 0; i < l->rule_cnt; i++) {
        const struct alb_rule *r = &l->rules[i];
        int tier = alb_route_host_tier(r, q->host, q->host_len);
        if (tier < 0)
            continue;
        bool pm = r->path_match == ALB_PATH_EXACT
                      ? (r->path_len == q->path_len && !memcmp(r->path, q->path, q->path_len))
                  : r->path_match == ALB_PATH_PREFIX
                      ? alb_route_prefix_matches(r->path, r->path_len, q->path, q->path_len)
                      : alb_regex_match(r->path_re, scratch, q->path, q->path_len, NULL);
        if (!pm || !alb_route_conditions_hold(r, q, scratch))
            continue;
        if (best >= 0) {
            const struct alb_rule *b = &l->rules[best];
            int kind_r = r->path_match == ALB_PATH_EXACT ? 0 : r->path_match == ALB_PATH_PREFIX ? 1 : 2;
            int kind_b = b->path_match == ALB_PATH_EXACT ? 0 : b->path_match == ALB_PATH_PREFIX ? 1 : 2;
            bool better = tier != bt ? tier < bt
                          : r->order != b->order ? r->order < b->order
                          : ref_len(r) != ref_len(b) ? ref_len(r) > ref_len(b)
                          : kind_r != kind_b ? kind_r < kind_b
                                             : r->index < b->index;
            if (!better)
                continue;
        }
        best = (long)i;
        bt = tier;
    }
    return best;
}

static void test_random_against_reference(void)
{
    static const char *const hosts[] = {"a.com", "b.com", "x.a.com", "*.a.com", "*.b.com", "*.x.a.com"};
    static const char *const paths[] = {"/", "/a", "/a/", "/a/b", "/ab", "/a/b/c", "/b", "/a//b"};
    static const char *const regexes[] = {"/a.*", "/a/b", "/[ab]+", "/.*c", "/a/?"};
    static const char *const types[] = {"Exact", "Prefix", "Regex"};
    static const char *const req_hosts[] = {"a.com", "b.com", "x.a.com", "y.b.com", "z.x.a.com", "c.com", "", "a.x.a.com"};
    static const char *const req_paths[] = {"/", "/a", "/a/", "/a/b", "/a/bc", "/ab", "/a/b/c", "/b", "/c", "/a//b"};
    static char rules[1 << 16];
    size_t compared = 0, matched = 0;
    for (int set = 0; set < 2000; set++) {
        size_t n = 0;
        int rule_cnt = 1 + (int)rnd(12);
        n += (size_t)snprintf(rules + n, sizeof(rules) - n, "[");
        for (int i = 0; i < rule_cnt; i++) {
            const char *type = types[rnd(3)];
            const char *path = type[0] == 'R' ? regexes[rnd(5)] : paths[rnd(8)];
            n += (size_t)snprintf(rules + n, sizeof(rules) - n, "%s{\"order\":%d,\"match\":{\"hosts\":[", i ? "," : "",
                                  (int[]){1, 5, 10}[rnd(3)]);
            int hc = (int)rnd(3);
            for (int h = 0; h < hc; h++)
                n += (size_t)snprintf(rules + n, sizeof(rules) - n, "%s\"%s\"", h ? "," : "", hosts[rnd(6)]);
            n += (size_t)snprintf(rules + n, sizeof(rules) - n, "],\"path\":{\"type\":\"%s\",\"value\":\"%s\"}", type,
                                  path);
            if (rnd(4) == 0)
                n += (size_t)snprintf(rules + n, sizeof(rules) - n,
                                      ",\"conditions\":[{\"type\":\"header\",\"name\":\"x-env\",\"values\":[\"canary\"]}]");
            else if (rnd(6) == 0)
                n += (size_t)snprintf(rules + n, sizeof(rules) - n,
                                      ",\"conditions\":[{\"type\":\"method\",\"values\":[\"POST\"]}]");
            n += (size_t)snprintf(rules + n, sizeof(rules) - n, "}" FWD);
        }
        snprintf(rules + n, sizeof(rules) - n, "]");
        struct alb_config *c = load(rules);
        CHECK(c != NULL);
        if (!c)
            return;
        for (int k = 0; k < 40; k++) {
            const char *host = req_hosts[rnd(8)], *path = req_paths[rnd(10)];
            struct alb_header h = {ALB_STR_LIT("X-Env"), ALB_STR_LIT("canary")};
            const char *method = rnd(2) ? "GET" : "POST";
            size_t hc = rnd(2);
            struct alb_route_req q = {host, strlen(host), path, strlen(path), {method, strlen(method)}, &h, hc,
                                      {"", 0}, NULL};
            struct alb_route_result r;
            long got = alb_route_match(&c->listeners[0], &q, scratch, &r) ? (long)r.rule->index : -1;
            long want = reference(&c->listeners[0], &q);
            compared++;
            matched += want >= 0;
            if (got != want) {
                fprintf(stderr, "  host %s path %s method %s header %zu: compiled %ld, reference %ld\n  rules %s\n",
                        host, path, method, hc, got, want, rules);
                CHECK_EQ_INT(got, want);
                alb_config_free(c);
                return;
            }
        }
        alb_config_free(c);
    }
    CHECK(compared == 80000);
    CHECK(matched > compared / 4); /* the random sets do exercise matches */
}

static void test_setup(void)
{
    scratch = alb_regex_scratch_new();
    CHECK(scratch != NULL);
    peer4.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &peer4.sin_addr);
}

static void test_teardown(void) { alb_regex_scratch_free(scratch); }

TEST_MAIN(TEST_ENTRY(test_setup), TEST_ENTRY(test_kubernetes_path_table), TEST_ENTRY(test_precedence),
          TEST_ENTRY(test_conditions), TEST_ENTRY(test_regex_captures_and_case),
          TEST_ENTRY(test_random_against_reference), TEST_ENTRY(test_teardown))
