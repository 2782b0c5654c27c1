/* fuzz/watch_fuzz.c : what a Kubernetes API server streams on a watch
 * (outside input): JSON lines, each applied to a kind's store as the
 * informers apply them (source/watch.c). Besides memory safety it checks
 * the store's invariants after every event: each entry is an object of the
 * kind, filed under its own namespace/name, with no managedFields; a
 * DELETED object is gone; the resourceVersion kept is the event's. */
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
    json_t *objects = json_object();
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
        unsigned changes = 0;
        const char *type = json_string_value(json_object_get(ev, "type"));
        char key[600];
        json_t *obj = json_object_get(ev, "object");
        const char *okind = json_string_value(json_object_get(obj, "kind"));
        /* an object of another kind is not ours to delete */
        bool ours = !json_object_get(obj, "kind") || (okind && !strcmp(okind, "Ingress"));
        bool keyed = json_is_object(obj) && ours && alb_watch_key(obj, key, sizeof(key));
        enum alb_watch_outcome out =
            alb_watch_apply(objects, "Ingress", "networking.k8s.io/v1", ev, rv, sizeof(rv), &changes);
        assert(out == ALB_WATCH_GO_ON || out == ALB_WATCH_GONE || out == ALB_WATCH_FAILED);
        assert(!(changes &
                 ~(ALB_MANIFEST_CHANGED_ENDPOINTS | ALB_MANIFEST_CHANGED_OTHER | ALB_MANIFEST_CHANGED_STATUS)));
        assert(strlen(rv) < sizeof(rv));
        if (out != ALB_WATCH_GO_ON)
            assert(!changes);
        if (out == ALB_WATCH_GO_ON && type && !strcmp(type, "DELETED") && keyed)
            assert(!json_object_get(objects, key));
        if (out == ALB_WATCH_GONE)
            assert(!strcmp(before, rv));
        check_store(objects);
        json_decref(ev);
    }
    json_decref(objects);
    return 0;
}
