/* fuzz/watch_fuzz.c : what a Kubernetes API server streams on a watch
 * (outside input): JSON lines, each applied to a kind's store as the
 * informers apply them (source/watch.c). Besides memory safety it checks
 * the store's invariants after every event: each entry is an object of the
 * kind, filed under its own namespace/name, with no managedFields; a
 * DELETED object is gone; the resourceVersion kept is the event's; an
 * object passed on is handed over whole (no one else holds it), and the
 * control thread's store agrees with the informer's record of versions. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "source/files.h"
#include "source/watch.h"

static void check_store(json_t *objects)
{
    const char *key;
    json_t *o;
    char k2[600];
    json_object_foreach(objects, key, o)
    {
        assert(json_is_object(o));
        assert(!strcmp(json_string_value(json_object_get(o, "kind")), "Ingress"));
        assert(alb_watch_key(o, k2, sizeof(k2)) && !strcmp(k2, key));
        assert(!json_object_get(json_object_get(o, "metadata"), "managedFields"));
        assert(!json_object_get(json_object_get(json_object_get(o, "metadata"), "annotations"),
                                "kubectl.kubernetes.io/last-applied-configuration"));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    json_t *versions = json_object(), *objects = json_object();
    char rv[64] = "";
    const char *p = (const char *)d, *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_error_t je;
        json_t *ev = json_loadb(p, len, 0, &je);
        p += len + (nl ? 1 : 0);
        if (!ev)
            continue;
        char before[64];
        memcpy(before, rv, sizeof(rv));
        const char *type = json_string_value(json_object_get(ev, "type"));
        bool deleted = type && !strcmp(type, "DELETED");
        struct alb_watch_change change;
        enum alb_watch_outcome out =
            alb_watch_decode(versions, "Ingress", "networking.k8s.io/v1", ev, rv, sizeof(rv), &change);
        assert(out == ALB_WATCH_GO_ON || out == ALB_WATCH_CHANGED || out == ALB_WATCH_GONE ||
               out == ALB_WATCH_FAILED);
        assert(strlen(rv) < sizeof(rv));
        if (out == ALB_WATCH_GONE)
            assert(!strcmp(before, rv));
        if (out == ALB_WATCH_CHANGED) {
            if (deleted) {
                assert(!change.object && !json_object_get(versions, change.key));
            } else {
                char k2[600];
                /* handed over whole: no one else holds it */
                assert(change.object && change.object->refcount == 1 && !json_object_get(ev, "object"));
                assert(alb_watch_key(change.object, k2, sizeof(k2)) && !strcmp(k2, change.key));
            }
            unsigned bits = alb_watch_store(objects, change.key, change.object);
            assert(bits && !(bits & ~(ALB_MANIFEST_CHANGED_ENDPOINTS | ALB_MANIFEST_CHANGED_OTHER |
                                      ALB_MANIFEST_CHANGED_STATUS)));
            json_decref(change.object);
        }
        check_store(objects);
        /* the informer's record and the control thread's store agree */
        assert(json_object_size(versions) == json_object_size(objects));
        const char *key;
        json_t *o;
        json_object_foreach(objects, key, o)
        {
            const char *v = json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
            assert(!strcmp(json_string_value(json_object_get(versions, key)), v ? v : ""));
        }
        json_decref(ev);
    }
    json_decref(objects);
    json_decref(versions);
    return 0;
}
