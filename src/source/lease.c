/* source/lease.c : see lease.h. */
#include "source/lease.h"

#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void alb_lease_init(struct alb_lease *l, const char *ns, const char *name, const char *identity)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->ns, sizeof(l->ns), "%s", ns);
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->identity, sizeof(l->identity), "%s", identity);
}

void alb_micro_time(char *out, size_t len, bool micro)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (micro)
        snprintf(out, len, "%s.%06ldZ", base, ts.tv_nsec / 1000);
    else
        snprintf(out, len, "%sZ", base);
}

static const char *spec_str(json_t *lease, const char *field)
{
    return json_string_value(json_object_get(json_object_get(lease, "spec"), field));
}

/* PUTs <lease> with its spec saying this replica holds it from now. */
static int put_held(struct alb_lease *l, struct alb_kube *k, struct alb_kube_conn *conn, json_t *lease, bool taking,
                    const atomic_bool *stop)
{
    char now[64], path[700], err[512];
    alb_micro_time(now, sizeof(now), true);
    json_t *spec = json_object_get(lease, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(lease, "spec", spec);
    }
    json_object_set_new(spec, "holderIdentity", json_string(l->identity));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(ALB_LEASE_DURATION_S));
    json_object_set_new(spec, "renewTime", json_string(now));
    if (taking) {
        json_object_set_new(spec, "acquireTime", json_string(now));
        json_object_set_new(spec, "leaseTransitions",
                            json_integer(json_integer_value(json_object_get(spec, "leaseTransitions")) + 1));
    }
    snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->ns, l->name);
    json_t *out = NULL;
    int status = alb_kube_call(k, conn, "PUT", path, lease, NULL, &out, stop, err, sizeof(err));
    json_decref(out);
    if (status != 200 && status != 409)
        alb_log_warn("action=\"renewing lease %s/%s\" %s", l->ns, l->name, err);
    return status;
}

static bool became(struct alb_lease *l, bool leader, double now)
{
    if (leader) {
        l->renewed_at = now;
        if (!l->leader) {
            l->acquired++;
            alb_log_info("leader election: %s now holds lease %s/%s", l->identity, l->ns, l->name);
        }
    } else if (l->leader) {
        alb_log_warn("leader election: %s no longer holds lease %s/%s", l->identity, l->ns, l->name);
    }
    l->leader = leader;
    return leader;
}

bool alb_lease_step(struct alb_lease *l, struct alb_kube *k, struct alb_kube_conn *conn, const atomic_bool *stop,
                    double now)
{
    char path[700], err[512];
    snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->ns, l->name);
    json_t *lease = NULL;
    int status = alb_kube_call(k, conn, "GET", path, NULL, NULL, &lease, stop, err, sizeof(err));
    bool ok = false;
    if (status == 404) {
        char at[64];
        alb_micro_time(at, sizeof(at), true);
        json_t *fresh = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:i,s:s,s:s,s:i}}", "apiVersion",
                                  "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", l->name, "namespace",
                                  l->ns, "spec", "holderIdentity", l->identity, "leaseDurationSeconds",
                                  ALB_LEASE_DURATION_S, "acquireTime", at, "renewTime", at, "leaseTransitions", 0);
        char coll[600];
        snprintf(coll, sizeof(coll), "/apis/coordination.k8s.io/v1/namespaces/%s/leases", l->ns);
        json_t *out = NULL;
        status = fresh ? alb_kube_call(k, conn, "POST", coll, fresh, NULL, &out, stop, err, sizeof(err)) : -1;
        json_decref(out);
        json_decref(fresh);
        ok = status == 201 || status == 200;
    } else if (status == 200 && json_is_object(lease)) {
        const char *holder = spec_str(lease, "holderIdentity"), *renew = spec_str(lease, "renewTime");
        json_int_t dur = json_integer_value(json_object_get(json_object_get(lease, "spec"), "leaseDurationSeconds"));
        if (dur <= 0)
            dur = ALB_LEASE_DURATION_S;
        if (strcmp(l->seen_holder, holder ? holder : "") || strcmp(l->seen_renew, renew ? renew : "")) {
            snprintf(l->seen_holder, sizeof(l->seen_holder), "%s", holder ? holder : "");
            snprintf(l->seen_renew, sizeof(l->seen_renew), "%s", renew ? renew : "");
            l->seen_at = now;
        }
        bool mine = holder && !strcmp(holder, l->identity);
        bool free_now = !holder || !holder[0] || now - l->seen_at >= (double)dur;
        if (mine || free_now)
            ok = put_held(l, k, conn, lease, !mine, stop) == 200;
        else
            ok = false;
        if (!mine && !free_now) {
            json_decref(lease);
            return became(l, false, now);
        }
    } else if (status > 0) {
        alb_log_warn("action=\"reading lease %s/%s\" %s", l->ns, l->name, err);
    }
    json_decref(lease);
    if (ok)
        return became(l, true, now);
    /* could not renew: still leader until the renew deadline */
    if (l->leader && now - l->renewed_at < ALB_LEASE_RENEW_DEADLINE_S)
        return true;
    return became(l, false, now);
}

void alb_lease_release(struct alb_lease *l, struct alb_kube *k, struct alb_kube_conn *conn)
{
    if (!l->leader)
        return;
    char path[700], err[512], now[64];
    snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->ns, l->name);
    json_t *lease = NULL;
    if (alb_kube_call(k, conn, "GET", path, NULL, NULL, &lease, NULL, err, sizeof(err)) == 200 &&
        !strcmp(spec_str(lease, "holderIdentity") ? spec_str(lease, "holderIdentity") : "", l->identity)) {
        alb_micro_time(now, sizeof(now), true);
        json_t *spec = json_object_get(lease, "spec");
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
        json_object_set_new(spec, "renewTime", json_string(now));
        json_t *out = NULL;
        if (alb_kube_call(k, conn, "PUT", path, lease, NULL, &out, NULL, err, sizeof(err)) == 200)
            alb_log_info("leader election: %s released lease %s/%s", l->identity, l->ns, l->name);
        json_decref(out);
    }
    json_decref(lease);
    l->leader = false;
}
