/* source/watch.h : one Kubernetes watch event applied to a kind's objects.
 *
 * Pure (no I/O, no locks), so that the decoder of what the API server
 * streams can be fuzzed alone (fuzz/watch_fuzz.c). The caller holds
 * whatever lock guards <objects>.
 */
#ifndef ALB_SOURCE_WATCH_H
#define ALB_SOURCE_WATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum alb_watch_outcome {
    ALB_WATCH_GO_ON,   /* nothing to pass on: a bookmark, a version passed on already, an object not ours */
    ALB_WATCH_CHANGED, /* a change to pass on */
    ALB_WATCH_GONE,    /* an ERROR event with code 410: the version is forgotten, list again */
    ALB_WATCH_FAILED,  /* an ERROR event of another code, or an event that is not one */
};

/* What an informer passes on to the control thread for one key: the
 * object now under "namespace/name" <key>, or that it was deleted.
 *
 * Objects are handed over, never shared: once passed on, the informer
 * holds no reference to one. jansson counts references atomically but
 * reads the count unguarded in json_incref() and releases the last one
 * without an acquire barrier, so two threads that both hold an object
 * race (ThreadSanitizer sees it). */
struct alb_watch_change {
    char key[600];
    json_t *object; /* one reference, owned by the change; NULL: deleted */
};

/* alb_watch_prepare() : <o> as a store keeps it: its kind set when
 * missing or not a string, its apiVersion when missing (list items come
 * without); managedFields and kubectl's
 * last-applied-configuration annotation dropped (each can be as large as
 * the object, and nothing here reads them). */
void alb_watch_prepare(json_t *o, const char *kind, const char *api_version);

/* alb_watch_key() : "namespace/name" of <o> into out[]; false when it has
 * no name. */
bool alb_watch_key(json_t *o, char *out, size_t len);

/* alb_watch_change_of() : the ALB_MANIFEST_CHANGED_* bit of <was> (NULL:
 * none) becoming <now> (NULL: deleted): 0 for the same resourceVersion,
 * ALB_MANIFEST_CHANGED_STATUS when only the status (and the version)
 * differ, else the bit of the kind. */
unsigned alb_watch_change_of(json_t *was, json_t *now);

/* alb_watch_decode() : reads event <ev> ({"type", "object"}) of <kind>
 * against <versions> ("namespace/name" -> the resourceVersion last passed
 * on; the informer's own record, updated here). ADDED or MODIFIED of a
 * version not passed on yet, and DELETED of a key in <versions>, fill
 * *change and return ALB_WATCH_CHANGED; the object is prepared and taken
 * out of <ev>. rv[] receives the resourceVersion the event brings
 * (bookmarks included), left as is when it brings none. */
enum alb_watch_outcome alb_watch_decode(json_t *versions, const char *kind, const char *api_version, json_t *ev,
                                        char *rv, size_t rv_len, struct alb_watch_change *change);

/* alb_watch_relisted() : turns <fresh> ("namespace/name" -> object, a new
 * LIST of the kind) into the changes it brings over <versions>: objects of
 * a version already passed on leave it, and each key of <versions> it
 * lacks is added as json null (deleted). <versions> becomes the list's. */
void alb_watch_relisted(json_t *versions, json_t *fresh);

/* alb_watch_store() : puts <object> (borrowed; NULL or json null: deleted)
 * under <key> in <objects>, a kind's objects as the control thread keeps
 * them. Returns the ALB_MANIFEST_CHANGED_* bits of the change (0: the
 * version kept already). */
unsigned alb_watch_store(json_t *objects, const char *key, json_t *object);

#endif
