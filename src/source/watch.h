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
    ALB_WATCH_GO_ON,  /* applied (or a bookmark, or an event about nothing we keep) */
    ALB_WATCH_GONE,   /* an ERROR event with code 410: the version is forgotten, list again */
    ALB_WATCH_FAILED, /* an ERROR event of another code, or an event that is not one */
};

/* alb_watch_prepare() : <o> as a store keeps it: its kind and apiVersion
 * set when missing (list items come without); managedFields and kubectl's
 * last-applied-configuration annotation dropped (each can be as large as
 * the object, and nothing here reads them). */
void alb_watch_prepare(json_t *o, const char *kind, const char *api_version);

/* alb_watch_key() : "namespace/name" of <o> into out[]; false when it has
 * no name. */
bool alb_watch_key(json_t *o, char *out, size_t len);

/* alb_watch_same_version() : whether <a> and <b> carry the same
 * metadata.resourceVersion. */
bool alb_watch_same_version(json_t *a, json_t *b);

/* alb_watch_change_of() : the ALB_MANIFEST_CHANGED_* bit of <was> (NULL:
 * none) becoming <now> (NULL: deleted): 0 for the same resourceVersion,
 * ALB_MANIFEST_CHANGED_STATUS when only the status (and the version)
 * differ, else the bit of the kind. */
unsigned alb_watch_change_of(json_t *was, json_t *now);

/* alb_watch_apply() : applies event <ev> ({"type", "object"}) to <objects>
 * ("namespace/name" -> object) of <kind>. ADDED and MODIFIED store the
 * object (prepared; unless the stored one has its resourceVersion),
 * DELETED removes it. rv[] receives the resourceVersion the event brings
 * (bookmarks included), left as is when it brings none; *changes gains the
 * ALB_MANIFEST_CHANGED_* bits of what changed. <ev>'s object may be
 * modified and stored. */
enum alb_watch_outcome alb_watch_apply(json_t *objects, const char *kind, const char *api_version, json_t *ev,
                                       char *rv, size_t rv_len, unsigned *changes);

#endif
