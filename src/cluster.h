/* cluster.h : cluster mode as the control thread runs it: the API client,
 * the informers and the status thread (source/), what each published
 * version tells the cluster (status to keep, Events), the saved state, and
 * the metrics of all of them. main.c decides when to publish; this file
 * knows what that means for the cluster. Control thread.
 */
#ifndef ALB_CLUSTER_H
#define ALB_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>

#include "config/config.h"
#include "core/loop.h"
#include "core/sbuf.h"
#include "core/timer.h"
#include "source/informer.h"
#include "source/kubeapi.h"
#include "source/statefile.h"
#include "source/status.h"
#include "translate/translate.h"

/* The state file is written this long after a version is published
 * (later versions meanwhile join it); endpoint churn can publish every
 * 100 ms, and endpoints matter less to a replica starting blind, so a
 * version that changed only endpoints waits longer. */
#define ALB_CLUSTER_SAVE_MS 1000u
#define ALB_CLUSTER_SAVE_ENDPOINTS_MS 10000u
/* Encoding a large state takes turns of the loop this long at most */
#define ALB_CLUSTER_SAVE_STEP_MS 5u

struct alb_cluster_opts {
    const char *kubeconfig;      /* NULL: the pod's service account */
    const char *watch_namespace; /* NULL: every namespace */
    const char *configmap;       /* "namespace/name" of the global options */
    const char *state_dir;       /* NULL: no saved state */
    const char *publish_service, *publish_address;
    const char *election_id;     /* the Lease's name */
};

struct alb_cluster {
    const struct alb_cluster_opts *o;
    struct alb_loop *loop;
    struct alb_kube *kube;
    struct alb_informers *informers;
    struct alb_status *status;
    json_t *served;              /* the Ingresses served, "namespace/name" -> true */
    struct alb_state_writer *writer; /* --state-dir */
    json_t *to_save;             /* the objects to save next, or NULL */
    struct alb_timer save;
};

/* alb_cluster_connect() : the API client, from the kubeconfig or the
 * service account. Returns 0, or -1 with err[]. */
int alb_cluster_connect(struct alb_cluster *cl, const struct alb_cluster_opts *o, struct alb_loop *loop, char *err,
                        size_t err_len);

/* alb_cluster_saved_objects() : the objects saved in --state-dir (one new
 * reference), or NULL when there are none (a problem is logged). */
json_t *alb_cluster_saved_objects(struct alb_cluster *cl);

/* alb_cluster_start() : starts the informers, the status thread and the
 * state writer.
 * Returns the informers' eventfd (readable when objects changed), or -1
 * with err[]. */
int alb_cluster_start(struct alb_cluster *cl, char *err, size_t err_len);

/* alb_cluster_report() : every diagnostic of <d> as an Event on its object
 * (found in <objects>); the leader posts them. */
void alb_cluster_report(struct alb_cluster *cl, const struct alb_diags *d, json_t *objects);

/* alb_cluster_published() : a version translated from <objects> (by
 * <memo>, into <cfg>) is about to serve: what the status thread should
 * keep (unless <endpoints_only>), Events for Ingresses that started
 * serving, and the objects saved soon. */
void alb_cluster_published(struct alb_cluster *cl, json_t *objects, const struct alb_config *cfg,
                           const struct alb_translate_memo *memo, bool endpoints_only);

/* alb_cluster_statuses_changed() : only the status of some of <objects>
 * changed since <serving> was published from them: the status thread is
 * told what they say now (so it does not write what is already there). */
void alb_cluster_statuses_changed(struct alb_cluster *cl, json_t *objects, const struct alb_config *serving,
                                  const struct alb_translate_memo *memo);

/* alb_cluster_metrics() : the informers', leader's and status writer's
 * metrics; <serving_saved_state> as main.c knows it. */
void alb_cluster_metrics(struct alb_cluster *cl, bool serving_saved_state, struct alb_sbuf *out);

/* alb_cluster_stop() : stops the status thread (giving the Lease up) and
 * the informers, and writes the state pending. Safe to call twice, and on a
 * zeroed struct alb_cluster (alb_cluster_deinit() too). */
void alb_cluster_stop(struct alb_cluster *cl);

void alb_cluster_deinit(struct alb_cluster *cl);

#endif
