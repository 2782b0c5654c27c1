/* tests/unit/source/watch_test.c : what kind of change a watch event is,
 * so that a status written by ALB itself does not cost a translation, and
 * what the store keeps. */
#include "source/files.h"
#include "source/watch.h"
#include "test.h"

static json_t *obj(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    CHECK(o != NULL);
    return o;
}

#define ING(rv, host, status)                                                                                     \
    "{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"a\",\"namespace\":\"d\",\"resourceVersion\":\"" rv "\"},"     \
    "\"spec\":{\"rules\":[{\"host\":\"" host "\"}]}" status "}"

static void test_change_of(void)
{
    json_t *a = obj(ING("1", "x", "")), *same = obj(ING("1", "y", ""));
    json_t *status = obj(ING("2", "x", ",\"status\":{\"loadBalancer\":{}}"));
    json_t *spec = obj(ING("3", "y", ",\"status\":{\"loadBalancer\":{}}"));
    json_t *slice = obj("{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"s\",\"resourceVersion\":\"4\"}}");
    CHECK_EQ_INT(alb_watch_change_of(a, same), 0); /* the same version: nothing */
    CHECK_EQ_INT(alb_watch_change_of(a, status), ALB_MANIFEST_CHANGED_STATUS);
    CHECK_EQ_INT(alb_watch_change_of(status, a), ALB_MANIFEST_CHANGED_STATUS);
    CHECK_EQ_INT(alb_watch_change_of(status, spec), ALB_MANIFEST_CHANGED_OTHER);
    CHECK_EQ_INT(alb_watch_change_of(NULL, a), ALB_MANIFEST_CHANGED_OTHER);
    CHECK_EQ_INT(alb_watch_change_of(a, NULL), ALB_MANIFEST_CHANGED_OTHER);
    CHECK_EQ_INT(alb_watch_change_of(NULL, slice), ALB_MANIFEST_CHANGED_ENDPOINTS);
    json_t *labelled = obj("{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"a\",\"namespace\":\"d\",\"resourceVersion\":"
                           "\"5\",\"labels\":{\"x\":\"1\"}},\"spec\":{\"rules\":[{\"host\":\"x\"}]}}");
    CHECK_EQ_INT(alb_watch_change_of(a, labelled), ALB_MANIFEST_CHANGED_OTHER); /* metadata is not status */
    json_decref(a), json_decref(same), json_decref(status), json_decref(spec), json_decref(slice), json_decref(labelled);
}

static enum alb_watch_outcome decode(json_t *versions, const char *text, char *rv, struct alb_watch_change *c)
{
    json_t *ev = obj(text);
    enum alb_watch_outcome out = alb_watch_decode(versions, "Ingress", "networking.k8s.io/v1", ev, rv, 64, c);
    if (out == ALB_WATCH_CHANGED && c->object)
        CHECK(!json_object_get(ev, "object")); /* handed over: the event no longer holds it */
    json_decref(ev);
    return out;
}

static void test_decode(void)
{
    json_t *versions = json_object();
    char rv[64] = "";
    struct alb_watch_change c;
    CHECK_EQ_INT(decode(versions,
                        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"d\","
                        "\"resourceVersion\":\"7\",\"managedFields\":[],\"annotations\":{\"kubectl.kubernetes.io/"
                        "last-applied-configuration\":\"{}\",\"keep\":\"1\"}}}}",
                        rv, &c),
                 ALB_WATCH_CHANGED);
    CHECK_EQ_STR(rv, strlen(rv), "7");
    CHECK_EQ_STR(c.key, strlen(c.key), "d/a");
    CHECK(c.object && !strcmp(json_string_value(json_object_get(c.object, "kind")), "Ingress"));
    CHECK(c.object->refcount == 1); /* the change's own reference, and no other */
    json_t *md = json_object_get(c.object, "metadata");
    CHECK(!json_object_get(md, "managedFields"));
    CHECK(json_object_size(json_object_get(md, "annotations")) == 1);
    json_decref(c.object);
    /* the version passed on already: nothing */
    CHECK_EQ_INT(decode(versions, "{\"type\":\"MODIFIED\",\"object\":" ING("7", "y", "") "}", rv, &c),
                 ALB_WATCH_GO_ON);
    CHECK_EQ_INT(decode(versions, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"8\"}}}",
                        rv, &c),
                 ALB_WATCH_GO_ON);
    CHECK_EQ_STR(rv, strlen(rv), "8");
    CHECK_EQ_INT(decode(versions, "{\"type\":\"ERROR\",\"object\":{\"code\":410}}", rv, &c), ALB_WATCH_GONE);
    CHECK_EQ_INT(decode(versions, "{\"type\":\"ERROR\",\"object\":{\"code\":500}}", rv, &c), ALB_WATCH_FAILED);
    CHECK_EQ_INT(decode(versions, "{\"type\":\"PATCHED\",\"object\":" ING("9", "y", "") "}", rv, &c),
                 ALB_WATCH_FAILED);
    /* a kind that is no string is no kind of ours (the fuzzer's find) */
    CHECK_EQ_INT(decode(versions,
                        "{\"type\":\"ADDED\",\"object\":{\"kind\":{},\"metadata\":{\"name\":\"b\","
                        "\"namespace\":\"d\",\"resourceVersion\":\"9\"}}}",
                        rv, &c),
                 ALB_WATCH_GO_ON);
    CHECK(!json_object_get(versions, "d/b"));
    /* a list's item is of the list's kind, whatever it says */
    json_t *item = obj("{\"kind\":5,\"metadata\":{\"name\":\"i\"}}");
    alb_watch_prepare(item, "Ingress", "networking.k8s.io/v1");
    CHECK(!strcmp(json_string_value(json_object_get(item, "kind")), "Ingress"));
    json_decref(item);
    /* another kind's object is not ours to delete */
    CHECK_EQ_INT(decode(versions,
                        "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\","
                        "\"namespace\":\"d\",\"resourceVersion\":\"9\"}}}",
                        rv, &c),
                 ALB_WATCH_GO_ON);
    CHECK_EQ_INT(decode(versions, "{\"type\":\"DELETED\",\"object\":" ING("9", "y", "") "}", rv, &c),
                 ALB_WATCH_CHANGED);
    CHECK(c.object == NULL && json_object_size(versions) == 0);
    CHECK_EQ_STR(rv, strlen(rv), "9");
    /* the deletion of something never passed on: nothing */
    CHECK_EQ_INT(decode(versions, "{\"type\":\"DELETED\",\"object\":" ING("10", "y", "") "}", rv, &c),
                 ALB_WATCH_GO_ON);
    json_decref(versions);
}

/* A new LIST passes on only what is new, changed or gone. */
static void test_relisted(void)
{
    json_t *versions = obj("{\"d/same\":\"1\",\"d/changed\":\"2\",\"d/gone\":\"3\"}");
    json_t *fresh = json_object();
    json_object_set_new(fresh, "d/same", obj(ING("1", "x", "")));
    json_object_set_new(fresh, "d/changed", obj(ING("4", "y", "")));
    json_object_set_new(fresh, "d/new", obj(ING("5", "y", "")));
    alb_watch_relisted(versions, fresh);
    CHECK(json_object_size(fresh) == 3);
    CHECK(!json_object_get(fresh, "d/same"));
    CHECK(json_is_object(json_object_get(fresh, "d/changed")) && json_is_object(json_object_get(fresh, "d/new")));
    CHECK(json_is_null(json_object_get(fresh, "d/gone")));
    json_t *want = obj("{\"d/same\":\"1\",\"d/changed\":\"4\",\"d/new\":\"5\"}");
    CHECK(json_equal(versions, want));
    json_decref(want);
    json_decref(fresh);
    json_decref(versions);
}

/* The control thread's store: the bits of each change, and the same
 * pointer kept for a version it has. */
static void test_store(void)
{
    json_t *objects = json_object();
    json_t *a = obj(ING("1", "x", "")), *again = obj(ING("1", "x", ""));
    json_t *status = obj(ING("2", "x", ",\"status\":{\"loadBalancer\":{}}"));
    CHECK_EQ_INT(alb_watch_store(objects, "d/a", a), ALB_MANIFEST_CHANGED_OTHER);
    CHECK_EQ_INT(alb_watch_store(objects, "d/a", again), 0);
    CHECK(json_object_get(objects, "d/a") == a);
    CHECK_EQ_INT(alb_watch_store(objects, "d/a", status), ALB_MANIFEST_CHANGED_STATUS);
    CHECK(json_object_get(objects, "d/a") == status);
    CHECK_EQ_INT(alb_watch_store(objects, "d/a", json_null()), ALB_MANIFEST_CHANGED_OTHER);
    CHECK(json_object_size(objects) == 0);
    CHECK_EQ_INT(alb_watch_store(objects, "d/a", NULL), 0);
    json_decref(a), json_decref(again), json_decref(status);
    json_decref(objects);
}

TEST_MAIN(TEST_ENTRY(test_change_of), TEST_ENTRY(test_decode), TEST_ENTRY(test_relisted), TEST_ENTRY(test_store))
