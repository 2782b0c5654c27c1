/* tests/unit/translate/translate_test.c : translating again with a memo
 * gives exactly what a fresh translation gives (config and diagnostics),
 * whatever changed in between, and reuses the parsed rules of Ingresses that
 * did not change. */
#include <jansson.h>

#include "config/config.h"
#include "config/publish.h"
#include "translate/translate.h"
#include "test.h"

static const struct alb_translate_opts opts = {ALB_DEFAULT_CONTROLLER, "127.0.0.1", "default/alb-config", NULL,
                                                "default", 0};

/* A folder's worth of objects: an AlbConfig, our class, two Services with
 * slices, and Ingresses "a" and "b". */
static json_t *base_objects(void)
{
    json_error_t e;
    json_t *o = json_loads(
        "["
        "{\"apiVersion\":\"alibabacloud.com/v1\",\"kind\":\"AlbConfig\",\"metadata\":{\"name\":\"lb\"},"
        " \"spec\":{\"listeners\":[{\"port\":8080,\"protocol\":\"HTTP\"}]}},"
        "{\"kind\":\"IngressClass\",\"metadata\":{\"name\":\"alb\"},\"spec\":{\"controller\":\"ingress.k8s."
        "alibabacloud/alb\",\"parameters\":{\"apiGroup\":\"alibabacloud.com\",\"kind\":\"AlbConfig\",\"name\":\"lb\"}}},"
        "{\"kind\":\"Service\",\"metadata\":{\"name\":\"tea\",\"namespace\":\"default\"},"
        " \"spec\":{\"ports\":[{\"name\":\"http\",\"port\":80}]}},"
        "{\"kind\":\"Service\",\"metadata\":{\"name\":\"coffee\",\"namespace\":\"default\"},"
        " \"spec\":{\"ports\":[{\"name\":\"http\",\"port\":80}]}},"
        "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"tea-1\",\"namespace\":\"default\","
        " \"labels\":{\"kubernetes.io/service-name\":\"tea\"}},\"addressType\":\"IPv4\","
        " \"ports\":[{\"name\":\"http\",\"port\":9001}],\"endpoints\":[{\"addresses\":[\"127.0.0.1\"]}]},"
        "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"coffee-1\",\"namespace\":\"default\","
        " \"labels\":{\"kubernetes.io/service-name\":\"coffee\"}},\"addressType\":\"IPv4\","
        " \"ports\":[{\"name\":\"http\",\"port\":9002}],\"endpoints\":[{\"addresses\":[\"127.0.0.2\"]}]},"
        "{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"a\",\"namespace\":\"default\"},"
        " \"spec\":{\"ingressClassName\":\"alb\",\"rules\":[{\"host\":\"a.example.com\",\"http\":{\"paths\":["
        "  {\"path\":\"/tea\",\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"tea\",\"port\":{\"number\":80}}}},"
        "  {\"path\":\"/coffee\",\"pathType\":\"Exact\",\"backend\":{\"service\":{\"name\":\"coffee\","
        "   \"port\":{\"name\":\"http\"}}}}]}}]}},"
        "{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"b\",\"namespace\":\"default\"},"
        " \"spec\":{\"ingressClassName\":\"alb\",\"rules\":[{\"host\":\"b.example.com\",\"http\":{\"paths\":["
        "  {\"path\":\"/\",\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"coffee\",\"port\":{\"number\":80}}}}"
        "  ]}}]}}"
        "]",
        0, &e);
    if (!o)
        fprintf(stderr, "  test objects: line %d: %s\n", e.line, e.text);
    return o;
}

/* The object of <kind> named <name> in <objects> (borrowed). */
static json_t *find(json_t *objects, const char *kind, const char *name)
{
    for (size_t i = 0; i < json_array_size(objects); i++) {
        json_t *o = json_array_get(objects, i);
        if (!strcmp(json_string_value(json_object_get(o, "kind")), kind) &&
            !strcmp(json_string_value(json_object_get(json_object_get(o, "metadata"), "name")), name))
            return o;
    }
    return NULL;
}

/* Objects passed to alb_translate() are not modified afterwards (the memo
 * knows an unchanged object by its pointer): a change is a new object.
 * Puts a copy of <kind> <name> in its place and returns it, to be changed. */
static json_t *replace(json_t *objects, const char *kind, const char *name)
{
    json_t *old = find(objects, kind, name);
    for (size_t i = 0; old && i < json_array_size(objects); i++)
        if (json_array_get(objects, i) == old) {
            json_t *copy = json_deep_copy(old);
            json_array_set_new(objects, i, copy);
            return copy;
        }
    return NULL;
}

/* Diagnostics as one text, for comparing. */
static char *diag_text(const struct alb_diags *d)
{
    size_t cap = 64 + d->cnt * 1400, n = 0;
    char *t = calloc(1, cap);
    for (size_t i = 0; t && i < d->cnt; i++)
        n += (size_t)snprintf(t + n, cap - n, "%d %s %s/%s %s\n", (int)d->v[i].level, d->v[i].kind, d->v[i].ns,
                              d->v[i].name, d->v[i].message);
    return t;
}

/* Translates <objects> with <memo> and fresh, checks both alike, and
 * returns the memo's result. */
static struct alb_config *translate_both(json_t *objects, struct alb_translate_memo *memo)
{
    char err[1024];
    struct alb_diags d1 = {0}, d2 = {0};
    struct alb_config *with = alb_translate(objects, &opts, &d1, memo, err, sizeof(err));
    struct alb_config *fresh = alb_translate(objects, &opts, &d2, NULL, err, sizeof(err));
    CHECK(with && fresh);
    char *t1 = with ? alb_config_to_json(with) : NULL, *t2 = fresh ? alb_config_to_json(fresh) : NULL;
    CHECK(t1 && t2 && !strcmp(t1, t2));
    char *x1 = diag_text(&d1), *x2 = diag_text(&d2);
    CHECK(x1 && x2 && !strcmp(x1, x2));
    if (x1 && x2 && strcmp(x1, x2))
        fprintf(stderr, "  with the memo:\n%s  fresh:\n%s", x1, x2);
    free(t1);
    free(t2);
    free(x1);
    free(x2);
    alb_diags_deinit(&d1);
    alb_diags_deinit(&d2);
    alb_config_free(fresh);
    return with;
}

/* The rule set listener 0 serves the rules of host <host> from. */
static const struct alb_rule_set *set_of(const struct alb_config *c, const char *host)
{
    const struct alb_listener_cfg *l = &c->listeners[0];
    for (size_t i = 0; i < l->set_cnt; i++)
        if (l->sets[i]->cnt && l->sets[i]->rules[0].host_cnt && !strcmp(l->sets[i]->rules[0].hosts[0], host))
            return l->sets[i];
    return NULL;
}

static void test_unchanged_ingresses_are_reused(void)
{
    json_t *objects = base_objects();
    struct alb_translate_memo *memo = alb_translate_memo_new();
    struct alb_config *c1 = translate_both(objects, memo);
    /* Ingress b changes; a does not (a new but equal object, as a re-read file gives) */
    json_t *a2 = json_deep_copy(find(objects, "Ingress", "a"));
    for (size_t i = 0; i < json_array_size(objects); i++)
        if (json_array_get(objects, i) == find(objects, "Ingress", "a"))
            json_array_set_new(objects, i, a2);
    json_t *b = replace(objects, "Ingress", "b");
    json_t *path = json_array_get(
        json_object_get(json_object_get(json_array_get(json_object_get(json_object_get(b, "spec"), "rules"), 0), "http"),
                        "paths"),
        0);
    json_object_set_new(path, "path", json_string("/v2"));
    struct alb_config *c2 = translate_both(objects, memo);
    CHECK(c1 && c2 && set_of(c1, "a.example.com") && set_of(c1, "a.example.com") == set_of(c2, "a.example.com"));
    CHECK(c1 && c2 && set_of(c2, "b.example.com") && set_of(c1, "b.example.com") != set_of(c2, "b.example.com"));
    CHECK(c2 && !strcmp(set_of(c2, "b.example.com")->rules[0].path, "/v2"));
    alb_config_free(c1);
    alb_config_free(c2);
    alb_translate_memo_free(memo);
    json_decref(objects);
}

/* Every kind of change, one after another, through one memo. */
static void test_every_change_matches_a_fresh_translation(void)
{
    json_t *objects = base_objects();
    struct alb_translate_memo *memo = alb_translate_memo_new();
    alb_config_free(translate_both(objects, memo));

    /* the Service loses the port Ingress a names: a diagnostic, 503 */
    json_t *tea = replace(objects, "Service", "tea");
    json_object_set_new(json_array_get(json_object_get(json_object_get(tea, "spec"), "ports"), 0), "port",
                        json_integer(81));
    alb_config_free(translate_both(objects, memo));

    /* an endpoint moves */
    json_t *slice = replace(objects, "EndpointSlice", "coffee-1");
    json_array_set_new(json_object_get(json_array_get(json_object_get(slice, "endpoints"), 0), "addresses"), 0,
                       json_string("127.0.0.3"));
    alb_config_free(translate_both(objects, memo));

    /* Ingress a goes, c comes with an invalid annotation (rejected), d with a default backend */
    for (size_t i = 0; i < json_array_size(objects); i++)
        if (json_array_get(objects, i) == find(objects, "Ingress", "a"))
            json_array_remove(objects, i);
    json_error_t e;
    json_array_append_new(objects, json_loads("{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"c\",\"namespace\":\"x\","
                                              "\"annotations\":{\"alb.ingress.kubernetes.io/order\":\"0\"}},"
                                              "\"spec\":{\"ingressClassName\":\"alb\"}}",
                                              0, &e));
    json_array_append_new(objects, json_loads("{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"d\",\"namespace\":\"default\"},"
                                              "\"spec\":{\"ingressClassName\":\"alb\",\"defaultBackend\":{\"service\":"
                                              "{\"name\":\"missing\",\"port\":{\"number\":80}}}}}",
                                              0, &e));
    alb_config_free(translate_both(objects, memo));

    /* the world changes: an idle timeout on the listener, then the class goes to another controller */
    json_t *lst = json_array_get(json_object_get(json_object_get(replace(objects, "AlbConfig", "lb"), "spec"), "listeners"), 0);
    json_object_set_new(lst, "idleTimeout", json_integer(30));
    alb_config_free(translate_both(objects, memo));
    json_object_set_new(json_object_get(replace(objects, "IngressClass", "alb"), "spec"), "controller",
                        json_string("example.com/other"));
    struct alb_config *none = translate_both(objects, memo);
    CHECK(none && none->listener_cnt == 1 && none->listeners[0].rule_cnt == 0);
    alb_config_free(none);

    alb_translate_memo_free(memo);
    json_decref(objects);
}

/* Only EndpointSlices changed: the endpoints computed from the memo's
 * sources are the ones a whole translation would give. */
static void test_endpoints_alone(void)
{
    json_t *objects = base_objects();
    struct alb_translate_memo *memo = alb_translate_memo_new();
    char err[1024];
    struct alb_diags d = {0};
    struct alb_config *c1 = alb_translate(objects, &opts, &d, memo, err, sizeof(err));
    json_t *slice = replace(objects, "EndpointSlice", "tea-1");
    json_array_append_new(json_object_get(slice, "endpoints"),
                          json_pack("{s:[s],s:{s:b}}", "addresses", "127.0.0.9", "conditions", "ready", 0));
    json_t *eps = alb_translate_endpoints(objects, alb_translate_memo_sources(memo), NULL, &d);
    struct alb_config *c2 = c1 && eps ? alb_config_with_endpoints(c1, eps, err, sizeof(err)) : NULL;
    struct alb_config *fresh = alb_translate(objects, &opts, &d, NULL, err, sizeof(err));
    char *t2 = c2 ? alb_config_to_json(c2) : NULL, *tf = fresh ? alb_config_to_json(fresh) : NULL;
    CHECK(t2 && tf && !strcmp(t2, tf));
    CHECK(c2 && c2->listeners == c1->listeners); /* routes shared, not rebuilt */
    free(t2);
    free(tf);
    json_decref(eps);
    alb_config_free(fresh);
    alb_config_unref(c2); /* holds c1 as its base */
    alb_config_free(c1);
    alb_diags_deinit(&d);
    alb_translate_memo_free(memo);
    json_decref(objects);
}

TEST_MAIN(TEST_ENTRY(test_unchanged_ingresses_are_reused), TEST_ENTRY(test_every_change_matches_a_fresh_translation),
          TEST_ENTRY(test_endpoints_alone))
