/* tests/unit/route/route_test.c : rule selection, including the Kubernetes
 * Ingress path matching table, checked against a naive reference. */
#include "route/route.h"
#include "test.h"

static struct alb_rule rules[8];
static struct alb_listener_cfg lst;
static char *hosts_foo[] = {"foo.com"};

static void set_rules(size_t n) { lst.rules = rules, lst.rule_cnt = n; }

static struct alb_rule mk(char **hosts, size_t hc, enum alb_path_match m, char *path)
{
    return (struct alb_rule){.hosts = hosts, .host_cnt = hc, .path_match = m, .path = path, .path_len = strlen(path)};
}

static const struct alb_rule *match(const char *host, const char *path)
{
    return alb_route_match(&lst, host, strlen(host), path, strlen(path));
}

/* The table of https://kubernetes.io/docs/concepts/services-networking/ingress/#examples */
static void test_kubernetes_path_table(void)
{
    struct {
        enum alb_path_match m;
        char *rule;
        const char *req;
        bool matches;
    } t[] = {
        {ALB_PATH_PREFIX, "/", "/anything", true},
        {ALB_PATH_EXACT, "/foo", "/foo", true},
        {ALB_PATH_EXACT, "/foo", "/bar", false},
        {ALB_PATH_EXACT, "/foo", "/foo/", false},
        {ALB_PATH_EXACT, "/foo/", "/foo", false},
        {ALB_PATH_PREFIX, "/foo", "/foo", true},
        {ALB_PATH_PREFIX, "/foo", "/foo/", true},
        {ALB_PATH_PREFIX, "/foo/", "/foo", true},
        {ALB_PATH_PREFIX, "/foo/", "/foo/", true},
        {ALB_PATH_PREFIX, "/aaa/bb", "/aaa/bbb", false},
        {ALB_PATH_PREFIX, "/aaa/bbb", "/aaa/bbb", true},
        {ALB_PATH_PREFIX, "/aaa/bbb/", "/aaa/bbb", true},
        {ALB_PATH_PREFIX, "/aaa/bbb", "/aaa/bbb/", true},
        {ALB_PATH_PREFIX, "/aaa/bbb", "/aaa/bbb/ccc", true},
        {ALB_PATH_PREFIX, "/aaa/bbb", "/aaa/bbbxyz", false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        rules[0] = mk(NULL, 0, t[i].m, t[i].rule);
        set_rules(1);
        bool got = match("x", t[i].req) != NULL;
        if (got != t[i].matches)
            fprintf(stderr, "  rule %s request %s: got %d\n", t[i].rule, t[i].req, got);
        CHECK(got == t[i].matches);
    }
}

static void test_precedence(void)
{
    rules[0] = mk(NULL, 0, ALB_PATH_PREFIX, "/");
    rules[1] = mk(NULL, 0, ALB_PATH_PREFIX, "/aaa");
    rules[2] = mk(NULL, 0, ALB_PATH_PREFIX, "/aaa/bbb");
    rules[3] = mk(NULL, 0, ALB_PATH_EXACT, "/aaa/bbb");
    rules[4] = mk(hosts_foo, 1, ALB_PATH_PREFIX, "/");
    set_rules(5);
    CHECK(match("x", "/aaa/bbb") == &rules[3]);   /* Exact before Prefix at equal length */
    CHECK(match("x", "/aaa/bbb/c") == &rules[2]); /* longest prefix */
    CHECK(match("x", "/aaa/ccc") == &rules[1]);
    CHECK(match("x", "/zzz") == &rules[0]);
    CHECK(match("foo.com", "/aaa/bbb") == &rules[4]); /* a host rule beats host-less rules */
    set_rules(4);
    lst.rules = &rules[1];
    CHECK(match("x", "/zzz") == NULL);
}

TEST_MAIN(TEST_ENTRY(test_kubernetes_path_table), TEST_ENTRY(test_precedence))
