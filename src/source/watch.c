/* source/watch.c : see watch.h. */
#include "source/watch.h"

#include "config/config.h"
#include "source/files.h"

#include <stdio.h>
#include <string.h>

void alb_watch_prepare(json_t *o, const char *kind, const char *api_version)
{
    if (!json_object_get(o, "kind"))
        json_object_set_new(o, "kind", json_string(kind));
    if (!json_object_get(o, "apiVersion"))
        json_object_set_new(o, "apiVersion", json_string(api_version));
    json_t *md = json_object_get(o, "metadata");
    json_object_del(md, "managedFields");
    /* a copy of the whole object as last applied: as large as the object, never read here */
    json_object_del(json_object_get(md, "annotations"), "kubectl.kubernetes.io/last-applied-configuration");
}

bool alb_watch_key(json_t *o, char *out, size_t len)
{
    json_t *md = json_object_get(o, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    if (!name || !name[0])
        return false;
    snprintf(out, len, "%s/%s", ns ? ns : "", name);
    return true;
}

static const char *rv_of(json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
}

bool alb_watch_same_version(json_t *a, json_t *b)
{
    const char *ra = rv_of(a), *rb = rv_of(b);
    return ra && rb && !strcmp(ra, rb);
}

unsigned alb_watch_change_of(json_t *was, json_t *now)
{
    if (was && now && alb_watch_same_version(was, now))
        return 0;
    if (was && now && alb_object_equal_but_status(was, now))
        return ALB_MANIFEST_CHANGED_STATUS;
    return alb_manifest_change_of(now ? now : was);
}

enum alb_watch_outcome alb_watch_apply(json_t *objects, const char *kind, const char *api_version, json_t *ev,
                                       char *rv, size_t rv_len, unsigned *changes)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *o = json_object_get(ev, "object");
    if (!type || !json_is_object(o))
        return ALB_WATCH_FAILED;
    if (!strcmp(type, "ERROR"))
        return json_integer_value(json_object_get(o, "code")) == 410 ? ALB_WATCH_GONE : ALB_WATCH_FAILED;
    const char *v = rv_of(o);
    if (v && strlen(v) < rv_len)
        snprintf(rv, rv_len, "%s", v);
    if (!strcmp(type, "BOOKMARK"))
        return ALB_WATCH_GO_ON;
    const char *okind = json_string_value(json_object_get(o, "kind"));
    char key[600];
    if ((okind && strcmp(okind, kind)) || !alb_watch_key(o, key, sizeof(key)))
        return ALB_WATCH_GO_ON; /* not an object of this kind: nothing to keep */
    alb_watch_prepare(o, kind, api_version);
    json_t *was = json_object_get(objects, key);
    if (!strcmp(type, "DELETED")) {
        if (was) {
            *changes |= alb_watch_change_of(was, NULL);
            json_object_del(objects, key);
        }
    } else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
        unsigned bit = alb_watch_change_of(was, o);
        if (bit) {
            *changes |= bit;
            json_object_set(objects, key, o);
        }
    } else {
        return ALB_WATCH_FAILED; /* a type the API does not send */
    }
    return ALB_WATCH_GO_ON;
}
