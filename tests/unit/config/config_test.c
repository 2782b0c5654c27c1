/* tests/unit/config/config_test.c : the strict config loader, rule sets
 * shared between snapshots, and snapshots with new endpoints only. */
#include <jansson.h>

#include "config/config.h"
#include "config/publish.h"
#include "test.h"

static char err[1024];

static struct alb_config *load(const char *json)
{
    err[0] = 0;
    return alb_config_parse(json, strlen(json), "127.0.0.1", err, sizeof(err));
}

static void expect_error(const char *json, const char *needle)
{
    struct alb_config *c = load(json);
    CHECK(c == NULL);
    if (!strstr(err, needle))
        fprintf(stderr, "  error \"%s\" does not contain \"%s\"\n", err, needle);
    CHECK(strstr(err, needle) != NULL);
    alb_config_free(c);
}

#define BACKENDS "\"backends\":[{\"name\":\"web\",\"endpoints\":[{\"address\":\"127.0.0.1\",\"port\":9000}]}]"

static void test_valid(void)
{
    struct alb_config *c = load("{\"version\":1,\"listeners\":[{\"port\":8080,\"timeouts\":{\"idle_ms\":5000},"
                                "\"limits\":{\"max_body_bytes\":1024},\"rules\":[{\"match\":{\"hosts\":[\"Foo.COM\"],"
                                "\"path\":{\"type\":\"Exact\",\"value\":\"/x\"}},\"actions\":[{\"type\":\"forward\","
                                "\"backend\":\"web\"}]}]}]," BACKENDS "}");
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_EQ_INT(c->listener_cnt, 1);
    CHECK_EQ_INT(c->listeners[0].port, 8080);
    CHECK_EQ_INT(c->listeners[0].idle_timeout_ms, 5000);
    CHECK_EQ_INT(c->listeners[0].client_header_timeout_ms, ALB_DEFAULT_CLIENT_HEADER_TIMEOUT_MS);
    CHECK_EQ_INT(c->listeners[0].max_body_bytes, 1024);
    CHECK_EQ_STR(c->listeners[0].rules[0].hosts[0], strlen(c->listeners[0].rules[0].hosts[0]), "foo.com");
    CHECK_EQ_INT(c->listeners[0].rules[0].path_match, ALB_PATH_EXACT);
    CHECK(c->listeners[0].rules[0].final->groups[0].backend == 0);
    CHECK_EQ_STR(c->backends[0].eps[0].text, strlen(c->backends[0].eps[0].text), "127.0.0.1:9000");
    CHECK_EQ_INT(c->backends[0].connect_timeout_ms, ALB_DEFAULT_CONNECT_TIMEOUT_MS);
    alb_config_free(c);
}

static void test_errors_name_the_json_path(void)
{
    expect_error("{", "line 1");
    expect_error("{\"listeners\":[]}", "version: required field missing");
    expect_error("{\"version\":2,\"listeners\":[]}", "version: expected an integer from 1 to 1");
    expect_error("{\"version\":1,\"listeners\":[],\"extra\":1}", "extra: unknown field");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":0}]}", "listeners[0].port: expected an integer from 1 to 65535");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":\"80\"}]}", "listeners[0].port");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"forwarding\":{\"x_forwarded_for\":\"add\"}}]}",
                 "listeners[0].forwarding.x_forwarded_for: expected append, remove or keep");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"forwarding\":{\"slb_id\":\"a\\r\\nX: y\"}}]}",
                 "listeners[0].forwarding.slb_id: expected 1-253 characters without control characters");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"forwarding\":{\"x_real_ip\":1}}]}",
                 "listeners[0].forwarding.x_real_ip");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"forwarding\":{\"xff\":true}}]}",
                 "listeners[0].forwarding.xff: unknown field");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"timeouts\":{\"idle\":1}}]}",
                 "listeners[0].timeouts.idle: unknown field");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80},{\"port\":80}]}",
                 "listeners[1]: listener on the same address and port as listeners[0]");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"address\":\"localhost\"}]}",
                 "listeners[0].address: expected a numeric IPv4 or IPv6 address");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"rules\":[{\"actions\":[{\"type\":\"forward\","
                 "\"backend\":\"nope\"}]}]}]," BACKENDS "}",
                 "listeners[0].rules[0].actions[0].backend: no backend named \"nope\"");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"rules\":[{\"actions\":[{\"type\":\"teleport\"}]}]}]}",
                 "listeners[0].rules[0].actions[0].type: unknown action type");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"rules\":[{\"match\":{\"path\":{\"type\":\"Glob\","
                 "\"value\":\"/\"}},\"actions\":[]}]}]}",
                 "listeners[0].rules[0].match.path.type: expected one of Exact, Prefix, Regex");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"rules\":[{\"match\":{\"path\":{\"type\":\"Prefix\","
                 "\"value\":\"x\"}},\"actions\":[]}]}]}",
                 "listeners[0].rules[0].match.path.value: a path must start with '/'");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"rules\":[{\"match\":{\"hosts\":[\"a b\"]},"
                 "\"actions\":[]}]}]}",
                 "listeners[0].rules[0].match.hosts[0]: invalid character");
    expect_error("{\"version\":1,\"listeners\":[],\"backends\":[{\"name\":\"a\",\"endpoints\":[{\"address\":"
                 "\"127.0.0.1\",\"port\":1,\"weight\":101}]}]}",
                 "backends[0].endpoints[0].weight: expected an integer from 0 to 100");
    expect_error("{\"version\":1,\"listeners\":[],\"backends\":[{\"name\":\"a\"},{\"name\":\"a\"}]}",
                 "backends[1]: duplicate backend name");
    expect_error("{\"version\":1,\"listeners\":[],\"backends\":[{\"name\":\"a\",\"algorithm\":\"random\"}]}",
                 "backends[0].algorithm: unsupported algorithm");
    expect_error("{\"version\":1,\"version\":1,\"listeners\":[]}", "duplicate");
}

/* Rules of the routing engine: each error names where it is. */
#define L0 "{\"version\":1,\"backends\":[{\"name\":\"web\"}],\"listeners\":[{\"port\":80,\"rules\":["
#define END "]}]}"
#define FWD "{\"type\":\"forward\",\"backend\":\"web\"}"

static void test_rule_errors(void)
{
    expect_error(L0 "{\"match\":{\"path\":{\"type\":\"Regex\",\"value\":\"/(a\"}},\"actions\":[" FWD "]}" END,
                 "listeners[0].rules[0].match.path.value: invalid regular expression: missing closing parenthesis");
    expect_error(L0 "{\"order\":0,\"actions\":[" FWD "]}" END, "listeners[0].rules[0].order: expected an integer from 1 to 1000");
    expect_error(L0 "{\"match\":{\"hosts\":[\"*a.com\"]},\"actions\":[" FWD "]}" END,
                 "listeners[0].rules[0].match.hosts[0]: invalid character '*'");
    expect_error(L0 "{\"match\":{\"conditions\":[{\"type\":\"geo\",\"values\":[\"x\"]}]},\"actions\":[" FWD "]}" END,
                 "listeners[0].rules[0].match.conditions[0].type: unknown condition type");
    expect_error(L0 "{\"match\":{\"conditions\":[{\"type\":\"header\",\"values\":[\"x\"]}]},\"actions\":[" FWD "]}" END,
                 "listeners[0].rules[0].match.conditions[0].name: required for a header condition");
    expect_error(L0 "{\"match\":{\"conditions\":[{\"type\":\"source_ip\",\"values\":[\"10.0.0.0/33\"]}]},"
                 "\"actions\":[" FWD "]}" END,
                 "listeners[0].rules[0].match.conditions[0].values[0]: expected an IPv4 or IPv6 CIDR");
    expect_error(L0 "{\"match\":{\"conditions\":[{\"type\":\"cookie\",\"name\":\"a\",\"values\":[\"x\"],"
                 "\"regex\":true}]},\"actions\":[" FWD "]}" END,
                 "listeners[0].rules[0].match.conditions[0].regex: a boolean, and true only for header conditions");
    expect_error(L0 "{\"actions\":[]}" END, "listeners[0].rules[0].actions: expected exactly one final action");
    expect_error(L0 "{\"actions\":[" FWD "," FWD "]}" END,
                 "listeners[0].rules[0].actions[0]: the final action (forward, redirect, fixed_response) must come last");
    expect_error(L0 "{\"actions\":[{\"type\":\"redirect\",\"code\":305}]}" END,
                 "listeners[0].rules[0].actions[0].code: expected 301, 302, 303, 307 or 308");
    expect_error(L0 "{\"actions\":[{\"type\":\"redirect\",\"path\":\"/${nope}\"}]}" END,
                 "listeners[0].rules[0].actions[0].path: unknown variable");
    expect_error(L0 "{\"actions\":[{\"type\":\"redirect\",\"body\":\"x\"}]}" END,
                 "listeners[0].rules[0].actions[0].body: not a field of a redirect action");
    expect_error(L0 "{\"actions\":[{\"type\":\"request_header\",\"op\":\"insert\",\"name\":\"Content-Length\","
                 "\"value\":\"5\"}," FWD "]}" END,
                 "listeners[0].rules[0].actions[0].name: Content-Length is managed by ALB");
    expect_error(L0 "{\"actions\":[{\"type\":\"response_header\",\"op\":\"insert\",\"name\":\"X-A\","
                 "\"value\":\"a\\r\\nInjected: 1\"}," FWD "]}" END,
                 "listeners[0].rules[0].actions[0].value: control characters are not allowed");
    expect_error(L0 "{\"actions\":[{\"type\":\"request_header\",\"op\":\"remove\",\"name\":\"X-A\","
                 "\"value\":\"1\"}," FWD "]}" END,
                 "listeners[0].rules[0].actions[0].value: not used by remove");
    expect_error(L0 "{\"actions\":[{\"type\":\"forward\",\"backends\":[{\"name\":\"web\",\"weight\":0}]}]}" END,
                 "listeners[0].rules[0].actions[0].backends: the weights add up to 0");
    expect_error(L0 "{\"actions\":[{\"type\":\"forward\",\"backends\":[{\"name\":\"nope\"}]}]}" END,
                 "listeners[0].rules[0].actions[0].backends[0].name: no backend named \"nope\"");
    expect_error(L0 "{\"actions\":[{\"type\":\"mirror\",\"backend\":\"web\"},{\"type\":\"fixed_response\"}]}" END,
                 "listeners[0].rules[0].actions: a mirror goes with a forward");
    expect_error(L0 "{\"actions\":[{\"type\":\"traffic_limit\"}," FWD "]}" END,
                 "listeners[0].rules[0].actions[0]: a traffic_limit sets qps, qps_per_ip or both");
    expect_error(L0 "{\"actions\":[{\"type\":\"cors\",\"allow_origins\":[\"example.com\"]}," FWD "]}" END,
                 "listeners[0].rules[0].actions[0].allow_origins[0]: expected \"*\" or scheme://host[:port]");
    expect_error(L0 "{\"actions\":[{\"type\":\"rewrite\"}," FWD "]}" END,
                 "listeners[0].rules[0].actions[0]: a rewrite sets at least one of host, path, query");
}

static void test_backend_specs(void)
{
    struct alb_config *c = load("{\"version\":1,\"listeners\":[],\"backends\":[{\"name\":\"a\",\"health_check\":{},"
                                "\"session_persistence\":{\"type\":\"server_cookie\",\"cookie_name\":\"sid\"},"
                                "\"endpoints\":[{\"address\":\"127.0.0.1\",\"port\":1,\"ready\":false}]}]}");
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    const struct alb_backend *b = &c->backends[0];
    /* ALB's defaults */
    CHECK_EQ_STR(b->health_check.path, strlen(b->health_check.path), "/");
    CHECK_EQ_INT(b->health_check.interval_ms, 2000);
    CHECK_EQ_INT(b->health_check.timeout_ms, 5000);
    CHECK_EQ_INT(b->health_check.healthy_threshold, 3);
    CHECK(!b->health_check.method_get);
    CHECK_EQ_INT(b->health_check.codes, 2);
    CHECK(b->session.server_cookie);
    CHECK_EQ_INT(b->session.timeout_s, 1000);
    CHECK(!b->eps[0].ready);
    char *json = alb_config_to_json(c);
    CHECK(json && strstr(json, "\"cookie_name\": \"sid\"") && strstr(json, "\"ready\": false"));
    free(json);
    alb_config_free(c);
    expect_error("{\"version\":1,\"listeners\":[],\"backends\":[{\"name\":\"a\",\"health_check\":{\"interval_ms\":60000}}]}",
                 "backends[0].health_check.interval_ms: expected an integer from 1000 to 50000");
    expect_error("{\"version\":1,\"listeners\":[],\"backends\":[{\"name\":\"a\",\"health_check\":{\"codes\":[\"2xx\",\"200\"]}}]}",
                 "backends[0].health_check.codes[1]: expected 1xx, 2xx, 3xx, 4xx or 5xx");
    expect_error("{\"version\":1,\"listeners\":[],\"backends\":[{\"name\":\"a\",\"session_persistence\":"
                 "{\"type\":\"server_cookie\"}}]}",
                 "backends[0].session_persistence.cookie_name: a cookie name (a token) is required with server_cookie");
    expect_error("{\"version\":1,\"listeners\":[],\"backends\":[{\"name\":\"a\",\"endpoints\":[{\"address\":"
                 "\"127.0.0.1\",\"port\":1,\"ready\":\"yes\"}]}]}",
                 "backends[0].endpoints[0].ready: expected a boolean");
}

/* Found by fuzz/config_fuzz.c: a non-string host left the rule's host
 * count set over a NULL array, and freeing the refused config crashed. */
static void test_bug_non_string_host_crashed_free(void)
{
    expect_error(L0 "{\"match\":{\"hosts\":[\"a.com\",{\"x\":1}]},\"actions\":[" FWD "]}" END,
                 "listeners[0].rules[0].match.hosts[1]: expected a string");
    expect_error(L0 "{\"match\":{\"conditions\":[{\"type\":\"method\",\"values\":[\"GET\",7]}]},\"actions\":[" FWD "]}" END,
                 "listeners[0].rules[0].match.conditions[0].values[1]: expected a string");
}

static void test_listener_acl(void)
{
    struct alb_config *c = load("{\"version\":1,\"listeners\":[{\"port\":80,\"acl\":{\"type\":\"allow\",\"cidrs\":"
                                "[\"10.1.2.3/8\",\"2001:db8::1/32\"]}}]}");
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->listeners[0].acl_allow);
    CHECK_EQ_INT(c->listeners[0].acl_cnt, 2);
    char *json = alb_config_to_json(c);
    CHECK(json && strstr(json, "\"10.0.0.0/8\"") && strstr(json, "\"2001:db8::/32\"")); /* host bits cleared */
    free(json);
    alb_config_free(c);
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"acl\":{\"type\":\"white\",\"cidrs\":[\"10.0.0.0/8\"]}}]}",
                 "listeners[0].acl.type: expected allow or deny");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"acl\":{\"type\":\"deny\",\"cidrs\":[\"10.0.0.0/8\",\"x\"]}}]}",
                 "listeners[0].acl.cidrs[1]: expected an IPv4 or IPv6 CIDR");
    expect_error("{\"version\":1,\"listeners\":[{\"port\":80,\"acl\":{\"type\":\"deny\",\"cidrs\":[]}}]}",
                 "listeners[0].acl.cidrs: at least one CIDR");
}

static json_t *doc_with_backends(const char *const *names, size_t n)
{
    json_t *bs = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(bs, json_pack("{s:s,s:[{s:s,s:i}]}", "name", names[i], "endpoints", "address",
                                            "127.0.0.1", "port", 9000 + (int)i));
    return json_pack("{s:i,s:[{s:i}],s:o}", "version", 1, "listeners", "port", 8080, "backends", bs);
}

static json_t *forward_rule(const char *path, const char *backend)
{
    return json_pack("[{s:{s:{s:s,s:s}},s:[{s:s,s:s}]}]", "match", "path", "type", "Prefix", "value", path, "actions",
                     "type", "forward", "backend", backend);
}

/* A rule set parsed once serves in the next snapshot too: backends keep
 * their positions while used, freed ones go to new names. */
static void test_rule_sets_across_snapshots(void)
{
    struct alb_config_builder b;
    alb_config_builder_init(&b);
    json_t *r1 = forward_rule("/a", "one"), *r2 = forward_rule("/b", "two");
    struct alb_rule_set *s1 = alb_rule_set_parse(&b, r1, err, sizeof(err));
    struct alb_rule_set *s2 = alb_rule_set_parse(&b, r2, err, sizeof(err));
    CHECK(s1 && s2);
    const char *both[] = {"two", "one"};
    json_t *doc = doc_with_backends(both, 2);
    struct alb_rule_set *const list1[] = {s1, s2};
    struct alb_rule_set *const *lists[] = {list1};
    size_t cnts[] = {2};
    struct alb_config *c1 = alb_config_assemble(&b, doc, "127.0.0.1", lists, cnts, 1, err, sizeof(err));
    CHECK(c1 != NULL);
    if (!c1 || !s1 || !s2)
        return;
    CHECK_EQ_INT(c1->listeners[0].rule_cnt, 2);
    CHECK_EQ_INT(c1->listeners[0].rules[1].index, 1);
    size_t pos_one = s1->rules[0].final->groups[0].backend;
    CHECK(!strcmp(alb_config_backend(c1, pos_one)->name, "one"));
    CHECK_EQ_INT(alb_config_backend(c1, pos_one)->eps[0].port, 9001);
    json_decref(doc);

    /* "two" goes, "three" comes; "one" stays put */
    json_t *r3 = forward_rule("/c", "three");
    const char *next[] = {"one", "three"};
    doc = doc_with_backends(next, 2);
    struct alb_rule_set *s3 = alb_rule_set_parse(&b, r3, err, sizeof(err));
    struct alb_rule_set *const list2[] = {s1, s3};
    struct alb_rule_set *const *lists2[] = {list2};
    struct alb_config *c2 = alb_config_assemble(&b, doc, "127.0.0.1", lists2, cnts, 1, err, sizeof(err));
    CHECK(c2 != NULL);
    if (c2) {
        CHECK(c2->listeners[0].rules[0].actions == s1->rules[0].actions); /* shared, not parsed again */
        CHECK(!strcmp(alb_config_backend(c2, pos_one)->name, "one"));
        CHECK_EQ_INT(alb_config_backend(c2, pos_one)->eps[0].port, 9000);
        size_t pos_three = s3->rules[0].final->groups[0].backend;
        CHECK(!strcmp(alb_config_backend(c2, pos_three)->name, "three"));
        char *text = alb_config_to_json(c2);
        CHECK(text && strstr(text, "\"name\": \"three\"") && !strstr(text, "\"two\""));
        free(text);
    }
    /* "two"'s position was freed with c2: the next new name takes it */
    size_t pos_two = s2->rules[0].final->groups[0].backend;
    CHECK_EQ_INT(alb_config_builder_position(&b, "four"), pos_two);
    json_decref(doc);

    /* a set naming a backend the document lacks is refused, naming it */
    const char *only_one[] = {"one"};
    doc = doc_with_backends(only_one, 1);
    struct alb_config *c3 = alb_config_assemble(&b, doc, "127.0.0.1", lists2, cnts, 1, err, sizeof(err));
    CHECK(c3 == NULL);
    CHECK(strstr(err, "listeners[0].rules[1]") && strstr(err, "\"three\", which is not in backends"));
    json_decref(doc);

    alb_config_free(c1);
    alb_config_free(c2);
    alb_rule_set_unref(s1); /* the snapshots held their own references */
    alb_rule_set_unref(s2);
    alb_rule_set_unref(s3);
    json_decref(r1);
    json_decref(r2);
    json_decref(r3);
    alb_config_builder_deinit(&b);
}

/* New endpoints on the same routes: shared listeners, own endpoints;
 * invalid endpoints or a backend left out refuse the version. */
static void test_with_endpoints(void)
{
    struct alb_config *base = load("{\"version\":1,\"listeners\":[{\"port\":8080,\"rules\":[{\"actions\":[{"
                                   "\"type\":\"forward\",\"backend\":\"web\"}]}]}]," BACKENDS "}");
    CHECK(base != NULL);
    if (!base)
        return;
    json_t *eps = json_pack("{s:[{s:s,s:i},{s:s,s:i,s:b}]}", "web", "address", "127.0.0.2", "port", 9100, "address",
                            "::1", "port", 9101, "ready", 0);
    struct alb_config *next = alb_config_with_endpoints(base, eps, err, sizeof(err));
    CHECK(next != NULL);
    if (next) {
        CHECK(next->listeners == base->listeners);
        CHECK_EQ_INT(next->backends[0].ep_cnt, 2);
        CHECK(!strcmp(next->backends[0].eps[1].text, "[::1]:9101") && !next->backends[0].eps[1].ready);
        CHECK_EQ_INT(base->backends[0].eps[0].port, 9000); /* the serving one is untouched */
        /* one more step derives from the same base */
        struct alb_config *third = alb_config_with_endpoints(next, eps, err, sizeof(err));
        CHECK(third && third->base == base);
        alb_config_unref(third);
    }
    json_decref(eps);
    eps = json_pack("{s:[{s:s,s:i}]}", "web", "address", "example.com", "port", 80);
    CHECK(alb_config_with_endpoints(base, eps, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "backends[0].endpoints[0].address") != NULL);
    json_decref(eps);
    eps = json_object();
    CHECK(alb_config_with_endpoints(base, eps, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "no endpoints for backend web") != NULL);
    json_decref(eps);
    alb_config_unref(next);
    alb_config_free(base);
}

/* Two versions of an object that differ only in status and resourceVersion
 * are the same to translation; anything else, on either side, is not. */
static void test_equal_but_status(void)
{
    static const char *const pairs[][3] = {
        /* a, b, equal */
        {"{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"},\"spec\":{\"x\":1}}",
         "{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"2\"},\"spec\":{\"x\":1},\"status\":{\"y\":2}}", "1"},
        {"{\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":1},\"status\":{}}",
         "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":2},\"status\":{}}", ""},
        {"{\"metadata\":{\"name\":\"a\"},\"spec\":{}}", "{\"metadata\":{\"name\":\"a\"},\"spec\":{},\"extra\":1}",
         ""},
        {"{\"metadata\":{\"name\":\"a\"},\"status\":{}}", "{\"metadata\":{\"name\":\"a\"},\"spec\":{}}", ""},
        {"{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}",
         "{\"metadata\":{\"name\":\"a\",\"labels\":{\"l\":\"1\"}}}", ""},
        {"{\"metadata\":{\"name\":\"a\"}}", "{\"metadata\":\"a\"}", ""},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        json_t *a = json_loads(pairs[i][0], 0, NULL), *b = json_loads(pairs[i][1], 0, NULL);
        CHECK(a && b);
        bool want = pairs[i][2][0] != '\0';
        CHECK(alb_object_equal_but_status(a, b) == want);
        CHECK(alb_object_equal_but_status(b, a) == want);
        json_decref(a);
        json_decref(b);
    }
}

TEST_MAIN(TEST_ENTRY(test_equal_but_status), TEST_ENTRY(test_rule_sets_across_snapshots), TEST_ENTRY(test_with_endpoints), TEST_ENTRY(test_valid), TEST_ENTRY(test_bug_non_string_host_crashed_free), TEST_ENTRY(test_listener_acl), TEST_ENTRY(test_errors_name_the_json_path), TEST_ENTRY(test_rule_errors),
          TEST_ENTRY(test_backend_specs))
