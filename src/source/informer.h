/* source/informer.h : the objects of a cluster, kept current by LIST and
 * WATCH.
 *
 * One thread per kind (Ingress, IngressClass, Service, EndpointSlice,
 * Secret of type kubernetes.io/tls, the global ConfigMap, AlbConfig) lists
 * it page by page, then watches from the list's resourceVersion with
 * bookmarks, so a watch that ends resumes where it was. When the server
 * says the version is gone (410, as a status or as an ERROR event) the kind
 * is listed again and the difference applied. A failed request is retried
 * after a backoff that doubles from 250 ms to 30 s with jitter, and resets
 * once a watch is streaming. A kind whose resource the server does not have
 * (the AlbConfig CRD not installed) counts as listed and empty, and is
 * asked for again after the longest backoff.
 *
 * A thread keeps only the resourceVersion it passed on for each
 * namespace/name; each new version (or deletion) is handed over, under
 * the lock, to a per-kind map of pending changes, where later ones replace
 * earlier ones for the same key, and the thread keeps no reference to the
 * object (see struct alb_watch_change). The control thread is told through
 * an eventfd; alb_informers_objects() takes the pending changes into the
 * store, which is the control thread's alone: one map per kind keyed
 * namespace/name whose objects are never changed (a new version is a new
 * value), so translation can reuse by pointer what did not change.
 * Nothing here is on the request path.
 */
#ifndef ALB_SOURCE_INFORMER_H
#define ALB_SOURCE_INFORMER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "source/kubeapi.h"

struct alb_informers;

struct alb_informer_opts {
    const char *watch_namespace; /* NULL or "": every namespace */
    const char *configmap;       /* "namespace/name" of the global options; NULL: none */
    unsigned watch_timeout_s;    /* asked of the server per watch (jittered up to +25%); 0: 300 */
};

struct alb_informer_stats {
    bool synced;              /* every kind was listed once */
    double sync_age_s;        /* 0 while every kind is in sync (listed, its watch streaming); else since the
                                 first kind fell out of sync */
    uint64_t lists;           /* LIST calls that succeeded (pages) */
    uint64_t relists;         /* lists again because the server forgot the version watched from */
    uint64_t watch_restarts;  /* watches that ended for a reason other than their timeout */
    uint64_t events;          /* watch events applied */
};

/* alb_informers_start() : starts the threads on client <k> (borrowed; it
 * must outlive the informers). NULL when they cannot start. */
struct alb_informers *alb_informers_start(struct alb_kube *k, const struct alb_informer_opts *o);

/* alb_informers_stop() : stops the threads (within about a second) and frees
 * everything. */
void alb_informers_stop(struct alb_informers *inf);

/* alb_informers_fd() : readable when changes are pending since the last
 * alb_informers_objects(). */
int alb_informers_fd(const struct alb_informers *inf);

/* alb_informers_objects() : takes the pending changes into the store and
 * returns every object in it, one new reference to a new array (the
 * objects are the store's, not copies; only the one thread that calls this
 * may hold them). *changes receives the ALB_MANIFEST_CHANGED_* bits of what
 * changed since the last call. */
json_t *alb_informers_objects(struct alb_informers *inf, unsigned *changes);

void alb_informers_stats(struct alb_informers *inf, struct alb_informer_stats *out);

#endif
