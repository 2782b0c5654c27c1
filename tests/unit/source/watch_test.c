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

static void test_apply(void)
{
    json_t *store = json_object();
    char rv[64] = "";
    unsigned changes = 0;
    json_t *ev = obj("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"d\",\"resourceVersion\""
                     ":\"7\",\"managedFields\":[],\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":"
                     "\"{}\",\"keep\":\"1\"}}}}");
    CHECK_EQ_INT(alb_watch_apply(store, "Ingress", "networking.k8s.io/v1", ev, rv, sizeof(rv), &changes), ALB_WATCH_GO_ON);
    CHECK_EQ_INT(changes, ALB_MANIFEST_CHANGED_OTHER);
    CHECK_EQ_STR(rv, strlen(rv), "7");
    json_t *kept = json_object_get(store, "d/a");
    CHECK(kept && !strcmp(json_string_value(json_object_get(kept, "kind")), "Ingress"));
    json_t *md = json_object_get(kept, "metadata");
    CHECK(!json_object_get(md, "managedFields"));
    CHECK(json_object_size(json_object_get(md, "annotations")) == 1);
    json_decref(ev);
    ev = obj("{\"type\":\"ERROR\",\"object\":{\"code\":410}}");
    CHECK_EQ_INT(alb_watch_apply(store, "Ingress", "networking.k8s.io/v1", ev, rv, sizeof(rv), &changes), ALB_WATCH_GONE);
    json_decref(ev);
    ev = obj("{\"type\":\"ERROR\",\"object\":{\"code\":500}}");
    CHECK_EQ_INT(alb_watch_apply(store, "Ingress", "networking.k8s.io/v1", ev, rv, sizeof(rv), &changes), ALB_WATCH_FAILED);
    json_decref(ev);
    changes = 0;
    ev = obj("{\"type\":\"DELETED\",\"object\":{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"a\",\"namespace\":\"d\","
             "\"resourceVersion\":\"9\"}}}");
    CHECK_EQ_INT(alb_watch_apply(store, "Ingress", "networking.k8s.io/v1", ev, rv, sizeof(rv), &changes), ALB_WATCH_GO_ON);
    CHECK(json_object_size(store) == 0 && changes == ALB_MANIFEST_CHANGED_OTHER);
    CHECK_EQ_STR(rv, strlen(rv), "9");
    json_decref(ev);
    json_decref(store);
}

TEST_MAIN(TEST_ENTRY(test_change_of), TEST_ENTRY(test_apply))
