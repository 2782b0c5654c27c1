/* cluster.c : see cluster.h. */
#include "cluster.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* This replica's name, as Lease holder and event source. */
static void replica_identity(char *out, size_t len)
{
    const char *pod = getenv("POD_NAME");
    if (pod && pod[0]) {
        snprintf(out, len, "%s", pod);
        return;
    }
    char host[256] = "alb";
    gethostname(host, sizeof(host) - 1);
    snprintf(out, len, "%.200s_%d", host, (int)getpid());
}

/* Where the pod's service account is mounted; $ALB_SERVICE_ACCOUNT_DIR
 * elsewhere (running outside a pod as if in one, and the tests). */
static const char *service_account_dir(void)
{
    const char *d = getenv("ALB_SERVICE_ACCOUNT_DIR");
    return d && d[0] ? d : ALB_KUBE_SA_DIR;
}

static void on_save(struct alb_timer *t)
{
    struct alb_cluster *cl = (struct alb_cluster *)((char *)t - offsetof(struct alb_cluster, save));
    if (!cl->writer)
        return;
    if (cl->to_save)
        alb_state_writer_put(cl->writer, cl->to_save);
    json_decref(cl->to_save);
    cl->to_save = NULL;
    if (alb_state_writer_step(cl->writer, ALB_CLUSTER_SAVE_STEP_MS / 1000.0)) {
        /* more to encode: on a later turn (a timer of 0 ms would fire again in this one) */
        if (alb_loop_arm(cl->loop, &cl->save, 1) < 0)
            alb_state_writer_step(cl->writer, 0);
    }
}

int alb_cluster_connect(struct alb_cluster *cl, const struct alb_cluster_opts *o, struct alb_loop *loop, char *err,
                        size_t err_len)
{
    memset(cl, 0, sizeof(*cl));
    cl->o = o;
    cl->loop = loop;
    alb_timer_init(&cl->save, on_save);
    cl->kube = o->kubeconfig ? alb_kube_from_kubeconfig(o->kubeconfig, err, err_len)
                             : alb_kube_in_cluster(service_account_dir(), err, err_len);
    return cl->kube ? 0 : -1;
}

json_t *alb_cluster_saved_objects(struct alb_cluster *cl)
{
    char err[1024];
    json_t *saved = cl->o->state_dir ? alb_state_load(cl->o->state_dir, err, sizeof(err)) : NULL;
    if (!saved && cl->o->state_dir && err[0])
        alb_log_warn("action=\"reading the saved state\" %s; starting without it", err);
    return saved;
}

int alb_cluster_start(struct alb_cluster *cl, char *err, size_t err_len)
{
    const struct alb_cluster_opts *o = cl->o;
    struct alb_informer_opts io = {o->watch_namespace, o->configmap, 0};
    cl->informers = alb_informers_start(cl->kube, &io);
    if (!cl->informers) {
        snprintf(err, err_len, "cannot start the informer threads");
        return -1;
    }
    char identity[256];
    replica_identity(identity, sizeof(identity));
    const char *pod_ns = getenv("POD_NAMESPACE");
    struct alb_status_opts so = {o->publish_service, o->publish_address, pod_ns && pod_ns[0] ? pod_ns : "default",
                                 o->election_id, identity};
    cl->status = alb_status_start(cl->kube, &so);
    if (!cl->status) {
        snprintf(err, err_len, "cannot start the status thread");
        return -1;
    }
    if (o->state_dir && !(cl->writer = alb_state_writer_start(o->state_dir))) {
        snprintf(err, err_len, "cannot start the state writer thread");
        return -1;
    }
    alb_log_info("cluster: watching %s%s%s as %s", alb_kube_server(cl->kube), o->watch_namespace ? ", namespace " : "",
                 o->watch_namespace ? o->watch_namespace : "", identity);
    return alb_informers_fd(cl->informers);
}

/* ---- what a version tells the cluster ------------------------------------------------- */

static void post_event(struct alb_cluster *cl, json_t *obj, const char *kind, const char *ns, const char *name,
                       const char *type, const char *reason, const char *message)
{
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    struct alb_event e = {kind, api ? api : "v1", ns, name, uid, type, reason, message};
    alb_status_event(cl->status, &e);
}

/* objects by "kind/namespace/name" */
static json_t *index_objects(json_t *objects)
{
    json_t *index = json_object();
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        json_t *md = json_object_get(o, "metadata");
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        char key[800];
        if (kind && name) {
            snprintf(key, sizeof(key), "%s/%s/%s", kind, ns ? ns : "", name);
            json_object_set(index, key, o);
        }
    }
    return index;
}

void alb_cluster_report(struct alb_cluster *cl, const struct alb_diags *d, json_t *objects)
{
    if (!cl->status || !d->cnt)
        return;
    json_t *index = index_objects(objects);
    for (size_t i = 0; i < d->cnt; i++) {
        const struct alb_diag *g = &d->v[i];
        char key[800];
        snprintf(key, sizeof(key), "%s/%s/%s", g->kind, g->ns, g->name);
        json_t *obj = json_object_get(index, key);
        if (obj)
            post_event(cl, obj, g->kind, g->ns, g->name, alb_diag_event_type(g->level), alb_diag_reason(g->level),
                       g->message);
    }
    json_decref(index);
}

/* What the status writer should keep: each Ingress served (or showing an
 * address while no longer served), each AlbConfig's listeners; and an
 * Event for each Ingress that started serving. */
static void tell_status(struct alb_cluster *cl, json_t *objects, const struct alb_config *cfg,
                        const struct alb_translate_memo *memo)
{
    json_t *served = alb_translate_memo_served(memo);
    json_t *ingresses = json_object(), *albconfigs = json_object();
    json_t *listeners = alb_status_albconfig_listeners(cfg);
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        json_t *md = json_object_get(o, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        if (!kind || !name)
            continue;
        json_t *lb = json_object_get(json_object_get(o, "status"), "loadBalancer");
        if (!strcmp(kind, "Ingress") && ns) {
            char key[600];
            snprintf(key, sizeof(key), "%s/%s", ns, name);
            bool on = json_object_get(served, key) != NULL;
            json_t *current = json_object_get(lb, "ingress");
            /* copies: the status thread must not share the store's objects (see alb_watch_apply()) */
            if (on || json_array_size(current))
                json_object_set_new(ingresses, key, json_pack("{s:b,s:o}", "served", on, "current",
                                                              current ? json_deep_copy(current) : json_null()));
            if (on && !json_object_get(cl->served, key))
                post_event(cl, o, "Ingress", ns, name, "Normal", "SuccessfullyReconciled",
                           "Successfully reconciled: serving");
        } else if (!strcmp(kind, "AlbConfig")) {
            json_t *mine = json_object_get(listeners, name);
            json_object_set_new(albconfigs, name,
                                json_pack("{s:o,s:o}", "listeners", mine ? json_incref(mine) : json_array(), "current",
                                          lb ? json_deep_copy(lb) : json_null()));
        }
    }
    json_decref(listeners);
    json_decref(cl->served);
    cl->served = served;
    alb_status_set_ingresses(cl->status, ingresses);
    alb_status_set_albconfigs(cl->status, albconfigs);
}

void alb_cluster_published(struct alb_cluster *cl, json_t *objects, const struct alb_config *cfg,
                           const struct alb_translate_memo *memo, bool endpoints_only)
{
    if (cl->status && !endpoints_only)
        tell_status(cl, objects, cfg, memo);
    if (!cl->writer)
        return;
    json_decref(cl->to_save);
    cl->to_save = json_incref(objects);
    unsigned delay = endpoints_only ? ALB_CLUSTER_SAVE_ENDPOINTS_MS : ALB_CLUSTER_SAVE_MS;
    if (alb_timer_is_armed(&cl->save) && cl->save.deadline_ms <= cl->loop->now_ms + delay)
        return; /* written no later than that already */
    if (alb_loop_arm(cl->loop, &cl->save, delay) < 0) /* sooner: a re-arm moves it earlier */
        on_save(&cl->save);
}

void alb_cluster_statuses_changed(struct alb_cluster *cl, json_t *objects, const struct alb_config *serving,
                                  const struct alb_translate_memo *memo)
{
    if (cl->status)
        tell_status(cl, objects, serving, memo);
}

static void state_metrics(struct alb_state_writer *w, struct alb_sbuf *out)
{
    struct alb_state_stats st;
    alb_state_writer_stats(w, &st);
    alb_sbuf_printf(out,
                    "# HELP alb_state_saves_total State files written (--state-dir).\n"
                    "# TYPE alb_state_saves_total counter\nalb_state_saves_total %llu\n"
                    "# HELP alb_state_save_failures_total State files that could not be written.\n"
                    "# TYPE alb_state_save_failures_total counter\nalb_state_save_failures_total %llu\n"
                    "# HELP alb_state_encode_seconds_total Control-thread time spent encoding the state.\n"
                    "# TYPE alb_state_encode_seconds_total counter\nalb_state_encode_seconds_total %.6f\n"
                    "# HELP alb_state_write_seconds_total Writer-thread time spent writing and syncing the state.\n"
                    "# TYPE alb_state_write_seconds_total counter\nalb_state_write_seconds_total %.6f\n"
                    "# HELP alb_state_bytes The size of the last state file written.\n"
                    "# TYPE alb_state_bytes gauge\nalb_state_bytes %llu\n",
                    (unsigned long long)st.saves, (unsigned long long)st.failures, st.encode_s, st.write_s,
                    (unsigned long long)st.bytes);
}

void alb_cluster_metrics(struct alb_cluster *cl, bool serving_saved_state, struct alb_sbuf *out)
{
    if (cl->informers) {
        struct alb_informer_stats st;
        alb_informers_stats(cl->informers, &st);
        alb_sbuf_printf(out,
                        "# HELP alb_kube_synced Whether every kind was listed from the API server.\n"
                        "# TYPE alb_kube_synced gauge\nalb_kube_synced %d\n"
                        "# HELP alb_kube_sync_age_seconds Since when a watch has not been streaming (0: all are).\n"
                        "# TYPE alb_kube_sync_age_seconds gauge\nalb_kube_sync_age_seconds %.3f\n"
                        "# HELP alb_kube_list_pages_total LIST pages read from the API server.\n"
                        "# TYPE alb_kube_list_pages_total counter\nalb_kube_list_pages_total %llu\n"
                        "# HELP alb_kube_relists_total Lists again because the API server forgot the version "
                        "watched from (410 Gone).\n"
                        "# TYPE alb_kube_relists_total counter\nalb_kube_relists_total %llu\n"
                        "# HELP alb_kube_watch_restarts_total Watches that failed and were started again.\n"
                        "# TYPE alb_kube_watch_restarts_total counter\nalb_kube_watch_restarts_total %llu\n"
                        "# HELP alb_kube_watch_events_total Watch events applied.\n"
                        "# TYPE alb_kube_watch_events_total counter\nalb_kube_watch_events_total %llu\n"
                        "# HELP alb_kube_serving_saved_state Whether the version serving came from --state-dir.\n"
                        "# TYPE alb_kube_serving_saved_state gauge\nalb_kube_serving_saved_state %d\n",
                        st.synced, st.sync_age_s, (unsigned long long)st.lists, (unsigned long long)st.relists,
                        (unsigned long long)st.watch_restarts, (unsigned long long)st.events, serving_saved_state);
    }
    if (cl->status) {
        struct alb_status_stats st;
        alb_status_stats(cl->status, &st);
        alb_sbuf_printf(out,
                        "# HELP alb_leader Whether this replica holds the leader Lease.\n"
                        "# TYPE alb_leader gauge\nalb_leader %d\n"
                        "# HELP alb_leader_acquired_total Times this replica became the leader.\n"
                        "# TYPE alb_leader_acquired_total counter\nalb_leader_acquired_total %llu\n"
                        "# HELP alb_status_writes_total Status subresource writes that succeeded.\n"
                        "# TYPE alb_status_writes_total counter\nalb_status_writes_total %llu\n"
                        "# HELP alb_status_write_failures_total Status subresource writes that failed.\n"
                        "# TYPE alb_status_write_failures_total counter\nalb_status_write_failures_total %llu\n"
                        "# HELP alb_events_posted_total Events posted.\n"
                        "# TYPE alb_events_posted_total counter\nalb_events_posted_total %llu\n"
                        "# HELP alb_events_dropped_total Events dropped by the rate limit.\n"
                        "# TYPE alb_events_dropped_total counter\nalb_events_dropped_total %llu\n",
                        st.leader, (unsigned long long)st.leader_acquired, (unsigned long long)st.status_writes,
                        (unsigned long long)st.status_failures, (unsigned long long)st.events_posted,
                        (unsigned long long)st.events_dropped);
    }
    if (cl->writer)
        state_metrics(cl->writer, out);
}

void alb_cluster_stop(struct alb_cluster *cl)
{
    if (!cl->o)
        return; /* never connected */
    alb_status_stop(cl->status);
    cl->status = NULL;
    alb_informers_stop(cl->informers);
    cl->informers = NULL;
    if (alb_timer_is_armed(&cl->save))
        alb_loop_disarm(cl->loop, &cl->save);
    if (cl->writer) {
        if (cl->to_save)
            alb_state_writer_put(cl->writer, cl->to_save);
        alb_state_writer_step(cl->writer, 0); /* the latest objects, whole */
    }
    json_decref(cl->to_save);
    cl->to_save = NULL;
    alb_state_writer_stop(cl->writer); /* after writing them */
    cl->writer = NULL;
}

void alb_cluster_deinit(struct alb_cluster *cl)
{
    alb_cluster_stop(cl);
    alb_kube_free(cl->kube);
    cl->kube = NULL;
    json_decref(cl->served);
    cl->served = NULL;
    json_decref(cl->to_save);
    cl->to_save = NULL;
}
