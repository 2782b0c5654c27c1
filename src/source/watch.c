/* source/watch.c : see watch.h. */
#include "source/watch.h"

#include "config/config.h"
#include "source/files.h"

#include <stdio.h>
#include <string.h>

void alb_watch_prepare(json_t *o, const char *kind, const char *api_version)
{
    if (!json_is_string(json_object_get(o, "kind")))
        json_object_set_new(o, "kind", json_string(kind)); /* a list's items are of its kind */
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

static bool same_version(const char *a, const char *b) { return a && b && !strcmp(a, b); }

unsigned alb_watch_change_of(json_t *was, json_t *now)
{
    if (was && now && same_version(rv_of(was), rv_of(now)))
        return 0;
    if (was && now && alb_object_equal_but_status(was, now))
        return ALB_MANIFEST_CHANGED_STATUS;
    return alb_manifest_change_of(now ? now : was);
}

enum alb_watch_outcome alb_watch_decode(json_t *versions, const char *kind, const char *api_version, json_t *ev,
                                        char *rv, size_t rv_len, struct alb_watch_change *change)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *o = json_object_get(ev, "object");
    if (!type || !json_is_object(o))
        return ALB_WATCH_FAILED;
    if (!strcmp(type, "ERROR"))
        return json_integer_value(json_object_get(o, "code")) == 410 ? ALB_WATCH_GONE : ALB_WATCH_FAILED;
    bool deleted = !strcmp(type, "DELETED");
    if (!deleted && strcmp(type, "ADDED") && strcmp(type, "MODIFIED") && strcmp(type, "BOOKMARK"))
        return ALB_WATCH_FAILED; /* a type the API does not send */
    const char *v = rv_of(o);
    if (v && strlen(v) < rv_len)
        snprintf(rv, rv_len, "%s", v);
    if (!strcmp(type, "BOOKMARK"))
        return ALB_WATCH_GO_ON;
    json_t *okind = json_object_get(o, "kind");
    if ((okind && (!json_is_string(okind) || strcmp(json_string_value(okind), kind))) ||
        !alb_watch_key(o, change->key, sizeof(change->key)))
        return ALB_WATCH_GO_ON; /* not an object of this kind (a kind that is no string is none): nothing to keep */
    const char *known = json_string_value(json_object_get(versions, change->key));
    if (deleted) {
        if (!known)
            return ALB_WATCH_GO_ON;
        json_object_del(versions, change->key);
        change->object = NULL;
        return ALB_WATCH_CHANGED;
    }
    if (same_version(known, v))
        return ALB_WATCH_GO_ON;
    json_object_set_new(versions, change->key, json_string(v ? v : ""));
    alb_watch_prepare(o, kind, api_version);
    change->object = json_incref(o);
    json_object_del(ev, "object"); /* <ev> lets go of it */
    return ALB_WATCH_CHANGED;
}

void alb_watch_relisted(json_t *versions, json_t *fresh)
{
    const char *key;
    json_t *known, *o, *listed = json_object();
    void *tmp;
    json_object_foreach(versions, key, known)
    {
        if (!json_object_get(fresh, key))
            json_object_set_new(fresh, key, json_null());
    }
    json_object_foreach_safe(fresh, tmp, key, o)
    {
        if (json_is_null(o))
            continue;
        const char *v = rv_of(o);
        json_object_set_new(listed, key, json_string(v ? v : ""));
        if (same_version(json_string_value(json_object_get(versions, key)), v))
            json_object_del(fresh, key); /* passed on already */
    }
    json_object_clear(versions);
    json_object_update(versions, listed);
    json_decref(listed);
}

unsigned alb_watch_store(json_t *objects, const char *key, json_t *object)
{
    if (json_is_null(object))
        object = NULL;
    json_t *was = json_object_get(objects, key);
    if (!was && !object)
        return 0;
    unsigned bits = alb_watch_change_of(was, object);
    if (!bits)
        return 0;
    if (object)
        json_object_set(objects, key, object);
    else
        json_object_del(objects, key);
    return bits;
}
