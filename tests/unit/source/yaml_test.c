/* tests/unit/source/yaml_test.c : YAML manifests into JSON values. */
#include <stdlib.h>

#include "source/yaml.h"
#include "test.h"

static char err[512];

static json_t *load(const char *y)
{
    err[0] = 0;
    return alb_yaml_load(y, strlen(y), err, sizeof(err));
}

static char *dump(json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

static void expect(const char *yaml, const char *json)
{
    json_t *v = load(yaml);
    CHECK(v != NULL);
    if (!v) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    char *got = dump(v);
    if (strcmp(got, json))
        fprintf(stderr, "  yaml %s\n  gave %s\n  want %s\n", yaml, got, json);
    CHECK(strcmp(got, json) == 0);
    free(got);
    json_decref(v);
}

static void expect_error(const char *yaml, const char *needle)
{
    json_t *v = load(yaml);
    CHECK(v == NULL);
    if (!strstr(err, needle))
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, needle);
    CHECK(strstr(err, needle) != NULL);
    json_decref(v);
}

static void test_core_schema_scalars(void)
{
    expect("a: 80\nb: true\nc: null\nd: ~\ne: \"80\"\nf: 'true'\ng: 0x1F\nh: 1.5\ni: yes\nj: -3\nk:\n",
           "[{\"a\":80,\"b\":true,\"c\":null,\"d\":null,\"e\":\"80\",\"f\":\"true\",\"g\":31,\"h\":1.5,\"i\":\"yes\","
           "\"j\":-3,\"k\":null}]");
    expect("v: !!str 42\n", "[{\"v\":\"42\"}]");
    expect("s: |\n  line1\n  line2\n", "[{\"s\":\"line1\\nline2\\n\"}]");
}

static void test_documents_and_json(void)
{
    expect("---\na: 1\n---\n---\nb: [1, 2]\n...\n", "[{\"a\":1},{\"b\":[1,2]}]");
    expect("{\"kind\": \"Service\", \"spec\": {\"ports\": [{\"port\": 80}]}}",
           "[{\"kind\":\"Service\",\"spec\":{\"ports\":[{\"port\":80}]}}]");
    expect("", "[]");
}

static void test_anchors_aliases_merge(void)
{
    expect("base: &b {x: 1, y: 2}\nuse: *b\nmerged:\n  <<: *b\n  y: 3\n",
           "[{\"base\":{\"x\":1,\"y\":2},\"use\":{\"x\":1,\"y\":2},\"merged\":{\"y\":3,\"x\":1}}]");
}

static void test_billion_laughs_refused(void)
{
    expect_error("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                 "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
                 "too many values");
}

static void test_errors_have_positions(void)
{
    expect_error("a: 1\nb: [1, 2\n", "line 3");
    expect_error("a: 1\na: 2\n", "line 2 column 1: duplicate mapping key");
    expect_error("? [complex, key]\n: 1\n", "a mapping key must be a scalar");
    expect_error("a: *nothing\n", "line 1 column 4");
}

TEST_MAIN(TEST_ENTRY(test_core_schema_scalars), TEST_ENTRY(test_documents_and_json), TEST_ENTRY(test_anchors_aliases_merge),
          TEST_ENTRY(test_billion_laughs_refused), TEST_ENTRY(test_errors_have_positions))
