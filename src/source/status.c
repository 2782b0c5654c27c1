/* source/status.c : see status.h. */
#include "source/status.h"

#include "core/clock.h"
#include "core/log.h"
#include "source/lease.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADDRESS_TTL_S 10.0      /* the publish Service's addresses are read again after this */
#define REWRITE_AFTER_S 10.0    /* a status written is not written again sooner, while the watch catches up */
#define MAX_QUEUED_EVENTS 10000 /* beyond this, events wait for nobody: dropped */
#define RELEASE_TIMEOUT_MS 2000L /* each call giving the Lease up on the way out */

struct alb_status {
    struct alb_kube *k;
    struct alb_lease lease;
    struct alb_kube_conn conn;      /* the thread's connection: Lease, status, events */
    char publish_service[512];
    json_t *publish_address;  /* the addresses from the flag, as status lists them; NULL: none */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_bool stop;
    /* under lock */
    json_t *ingresses, *albconfigs; /* as set; NULL: nothing new */
    json_t *events;                 /* queued: array of event objects with their dedup key */
    bool wake;
    struct alb_status_stats stats;
    /* the thread's own */
    json_t *want_ingresses, *want_albconfigs; /* what it keeps */
    json_t *written;                /* "kind/ns/name" -> [what, when] written last */
    json_t *posted;                 /* event key -> when posted */
    json_t *addresses;              /* cached, with addresses_at */
    double addresses_at;
    double tokens, tokens_at;
};

/* "10.0.0.1,lb.example.com" -> [{"ip": ...}, {"hostname": ...}] */
static json_t *addresses_of_list(const char *list)
{
    json_t *out = json_array();
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *a = strtok_r(buf, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        while (*a == ' ')
            a++;
        if (!*a)
            continue;
        unsigned char bin[16];
        bool ip = inet_pton(AF_INET, a, bin) == 1 || inet_pton(AF_INET6, a, bin) == 1;
        json_array_append_new(out, json_pack("{s:s}", ip ? "ip" : "hostname", a));
    }
    return out;
}

/* The addresses to publish: the flag's, or the publish Service's (its load
 * balancer's, else its ClusterIP). NULL when unknown. Borrowed. */
static json_t *addresses(struct alb_status *s, double now)
{
    if (s->publish_address)
        return s->publish_address;
    if (!s->publish_service[0])
        return NULL;
    if (s->addresses && now - s->addresses_at < ADDRESS_TTL_S)
        return s->addresses;
    char path[700], err[512];
    const char *slash = strchr(s->publish_service, '/');
    snprintf(path, sizeof(path), "/api/v1/namespaces/%.*s/services/%s", (int)(slash - s->publish_service),
             s->publish_service, slash + 1);
    json_t *svc = NULL;
    int status = alb_kube_call(s->k, &s->conn, "GET", path, NULL, NULL, &svc, &s->stop, err, sizeof(err));
    if (status != 200) {
        alb_log_warn("action=\"reading the publish Service %s\" %s", s->publish_service, err);
        json_decref(svc);
        return s->addresses; /* the last known, if any */
    }
    json_t *lb = json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"), "ingress");
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(lb, i, e)
    {
        const char *ip = json_string_value(json_object_get(e, "ip"));
        const char *host = json_string_value(json_object_get(e, "hostname"));
        if (ip)
            json_array_append_new(out, json_pack("{s:s}", "ip", ip));
        else if (host)
            json_array_append_new(out, json_pack("{s:s}", "hostname", host));
    }
    const char *cip = json_string_value(json_object_get(json_object_get(svc, "spec"), "clusterIP"));
    if (!json_array_size(out) && cip && cip[0] && strcmp(cip, "None"))
        json_array_append_new(out, json_pack("{s:s}", "ip", cip));
    json_decref(svc);
    json_decref(s->addresses);
    s->addresses = out;
    s->addresses_at = now;
    return out;
}

/* Whether <key>'s status was written as <what> a moment ago. */
static bool just_written(struct alb_status *s, const char *key, json_t *what, double now)
{
    json_t *w = json_object_get(s->written, key);
    return w && json_equal(json_array_get(w, 0), what) && now - json_real_value(json_array_get(w, 1)) < REWRITE_AFTER_S;
}

/* What was written longer ago than REWRITE_AFTER_S no longer matters: kept,
 * the map would grow with every Ingress name ever written (deleted ones
 * included). */
static void forget_old_writes(struct alb_status *s, double now)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(s->written, tmp, k, v)
    {
        if (now - json_real_value(json_array_get(v, 1)) >= REWRITE_AFTER_S)
            json_object_del(s->written, k);
    }
}

static void patch_status(struct alb_status *s, const char *key, const char *path, json_t *status_patch, double now)
{
    char err[1024];
    json_t *body = json_pack("{s:O}", "status", status_patch), *out = NULL;
    int rc = body ? alb_kube_call(s->k, &s->conn, "PATCH", path, body, "application/merge-patch+json", &out,
                                  &s->stop, err, sizeof(err))
                  : -1;
    json_decref(body);
    json_decref(out);
    pthread_mutex_lock(&s->lock);
    if (rc == 200)
        s->stats.status_writes++;
    else
        s->stats.status_failures++;
    pthread_mutex_unlock(&s->lock);
    if (rc == 200)
        json_object_set_new(s->written, key, json_pack("[O,f]", status_patch, now));
    else if (rc != 404) /* a 404: the object went meanwhile */
        alb_log_warn("action=\"writing status\" %s", err);
}

static void write_ingresses(struct alb_status *s, json_t *addrs, double now)
{
    const char *key;
    json_t *e;
    json_object_foreach(s->want_ingresses, key, e)
    {
        if (atomic_load(&s->stop))
            return;
        json_t *current = json_object_get(e, "current");
        json_t *want = NULL;
        if (json_is_true(json_object_get(e, "served"))) {
            want = json_incref(addrs);
        } else {
            /* no longer ours: clear what we wrote, leave anybody else's */
            bool ours = false;
            size_t i, j;
            json_t *a, *b;
            json_array_foreach(current, i, a)
            {
                json_array_foreach(addrs, j, b)
                {
                    ours |= json_equal(a, b);
                }
            }
            if (ours)
                want = json_array();
        }
        bool same = want && (json_equal(want, current ? current : json_null()) ||
                             (!json_array_size(want) && !json_array_size(current)));
        if (!want || same) {
            json_decref(want);
            continue; /* nothing to write: most Ingresses, on most passes */
        }
        json_t *patch = json_pack("{s:{s:O}}", "loadBalancer", "ingress", want);
        char wkey[700];
        snprintf(wkey, sizeof(wkey), "Ingress/%s", key);
        const char *slash = strchr(key, '/');
        char ns[256], name[256], ens[800], ename[800], path[1800];
        snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
        snprintf(name, sizeof(name), "%s", slash + 1);
        if (patch && !just_written(s, wkey, patch, now) && alb_kube_escape(ns, ens, sizeof(ens)) &&
            alb_kube_escape(name, ename, sizeof(ename))) {
            snprintf(path, sizeof(path), "/apis/networking.k8s.io/v1/namespaces/%s/ingresses/%s/status", ens, ename);
            patch_status(s, wkey, path, patch, now);
        }
        json_decref(patch);
        json_decref(want);
    }
}

static void write_albconfigs(struct alb_status *s, json_t *addrs, double now)
{
    const char *name;
    json_t *e;
    json_object_foreach(s->want_albconfigs, name, e)
    {
        if (atomic_load(&s->stop))
            return;
        json_t *first = json_array_get(addrs, 0);
        const char *dns = json_string_value(json_object_get(first, "hostname"));
        if (!dns)
            dns = json_string_value(json_object_get(first, "ip"));
        json_t *want = json_pack("{s:s,s:s,s:O}", "dnsname", dns ? dns : "", "id", name, "listeners",
                                 json_object_get(e, "listeners"));
        json_t *current = json_object_get(e, "current");
        json_t *patch = json_pack("{s:O}", "loadBalancer", want);
        char wkey[700];
        snprintf(wkey, sizeof(wkey), "AlbConfig/%s", name);
        char ename[800], path[1000];
        if (want && patch && !json_equal(want, current ? current : json_null()) && !just_written(s, wkey, patch, now) &&
            alb_kube_escape(name, ename, sizeof(ename))) {
            snprintf(path, sizeof(path), "/apis/alibabacloud.com/v1/albconfigs/%s/status", ename);
            patch_status(s, wkey, path, patch, now);
        }
        json_decref(patch);
        json_decref(want);
    }
}

/* Posts the queued events, deduplicated and rate-limited. */
static void post_events(struct alb_status *s, json_t *events, double now)
{
    s->tokens += (now - s->tokens_at) * ALB_EVENT_RATE;
    if (s->tokens > ALB_EVENT_BURST)
        s->tokens = ALB_EVENT_BURST;
    s->tokens_at = now;
    size_t i;
    json_t *q;
    json_array_foreach(events, i, q)
    {
        if (atomic_load(&s->stop))
            return;
        const char *key = json_string_value(json_array_get(q, 0));
        json_t *ev = json_array_get(q, 1);
        json_t *when = json_object_get(s->posted, key);
        if (when && now - json_real_value(when) < ALB_EVENT_REPEAT_S)
            continue;
        if (s->tokens < 1.0) {
            pthread_mutex_lock(&s->lock);
            s->stats.events_dropped++;
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        s->tokens -= 1.0;
        char path[1000], err[1024], ts[64];
        alb_micro_time(ts, sizeof(ts), false);
        json_object_set_new(ev, "firstTimestamp", json_string(ts));
        json_object_set_new(ev, "lastTimestamp", json_string(ts));
        const char *ns = json_string_value(json_object_get(json_object_get(ev, "metadata"), "namespace"));
        char ens[800];
        if (!alb_kube_escape(ns ? ns : "default", ens, sizeof(ens)))
            continue;
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ens);
        json_t *out = NULL;
        int rc = alb_kube_call(s->k, &s->conn, "POST", path, ev, NULL, &out, &s->stop, err, sizeof(err));
        json_decref(out);
        if (rc == 201 || rc == 200) {
            json_object_set_new(s->posted, key, json_real(now));
            pthread_mutex_lock(&s->lock);
            s->stats.events_posted++;
            pthread_mutex_unlock(&s->lock);
        } else {
            alb_log_warn("action=\"posting an event\" %s", err);
        }
    }
    /* forget what is too old to matter */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(s->posted, tmp, k, v)
    {
        if (now - json_real_value(v) >= ALB_EVENT_REPEAT_S)
            json_object_del(s->posted, k);
    }
}

static void *status_thread(void *p)
{
    struct alb_status *s = p;
    double next_try = 0;
    while (!atomic_load(&s->stop)) {
        double now = alb_clock_now_s();
        bool leader = s->lease.leader;
        if (now >= next_try) {
            leader = alb_lease_step(&s->lease, s->k, &s->conn, &s->stop, now);
            next_try = now + ALB_LEASE_RETRY_S;
            pthread_mutex_lock(&s->lock);
            s->stats.leader = leader;
            s->stats.leader_acquired = s->lease.acquired;
            pthread_mutex_unlock(&s->lock);
        }
        pthread_mutex_lock(&s->lock);
        if (s->ingresses) {
            json_decref(s->want_ingresses);
            s->want_ingresses = s->ingresses;
            s->ingresses = NULL;
        }
        if (s->albconfigs) {
            json_decref(s->want_albconfigs);
            s->want_albconfigs = s->albconfigs;
            s->albconfigs = NULL;
        }
        json_t *events = s->events;
        s->events = json_array();
        s->wake = false;
        pthread_mutex_unlock(&s->lock);
        if (leader) {
            json_t *addrs = addresses(s, now);
            if (addrs) {
                write_ingresses(s, addrs, now);
                write_albconfigs(s, addrs, now);
                forget_old_writes(s, now);
            }
            post_events(s, events, now);
        }
        json_decref(events);
        /* until the next try, or something new */
        double wait = next_try - alb_clock_now_s();
        if (wait <= 0)
            continue;
        struct timespec until = alb_clock_deadline((uint64_t)(wait * 1000) + 1);
        pthread_mutex_lock(&s->lock);
        while (!s->wake && !atomic_load(&s->stop) && pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&s->lock);
    }
    /* giving the Lease up must not hold the drain back when the API is slow or away */
    s->conn.timeout_ms = RELEASE_TIMEOUT_MS;
    alb_lease_release(&s->lease, s->k, &s->conn);
    alb_kube_conn_close(&s->conn);
    return NULL;
}

/* Frees <s> and all it holds; its thread is not running. */
static void destroy(struct alb_status *s)
{
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    json_decref(s->ingresses);
    json_decref(s->albconfigs);
    json_decref(s->events);
    json_decref(s->want_ingresses);
    json_decref(s->want_albconfigs);
    json_decref(s->written);
    json_decref(s->posted);
    json_decref(s->addresses);
    json_decref(s->publish_address);
    free(s);
}

struct alb_status *alb_status_start(struct alb_kube *k, const struct alb_status_opts *o)
{
    struct alb_status *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->k = k;
    alb_lease_init(&s->lease, o->lease_ns, o->lease_name, o->identity);
    snprintf(s->publish_service, sizeof(s->publish_service), "%s", o->publish_service ? o->publish_service : "");
    if (!strchr(s->publish_service, '/'))
        s->publish_service[0] = '\0';
    s->publish_address = o->publish_address && o->publish_address[0] ? addresses_of_list(o->publish_address) : NULL;
    s->events = json_array();
    s->want_ingresses = json_object();
    s->want_albconfigs = json_object();
    s->written = json_object();
    s->posted = json_object();
    s->tokens = ALB_EVENT_BURST;
    s->tokens_at = alb_clock_now_s();
    pthread_mutex_init(&s->lock, NULL);
    alb_clock_cond_init(&s->cond);
    if (pthread_create(&s->thread, NULL, status_thread, s) != 0) {
        destroy(s);
        return NULL;
    }
    return s;
}

void alb_status_stop(struct alb_status *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stop, true);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    destroy(s);
}

static void wake(struct alb_status *s)
{
    s->wake = true;
    pthread_cond_signal(&s->cond);
}

/* Hands <v> to the thread through <slot> (one of the "as set" fields). */
static void hand_over(struct alb_status *s, json_t **slot, json_t *v)
{
    pthread_mutex_lock(&s->lock);
    json_decref(*slot);
    *slot = v;
    wake(s);
    pthread_mutex_unlock(&s->lock);
}

void alb_status_set_ingresses(struct alb_status *s, json_t *ingresses) { hand_over(s, &s->ingresses, ingresses); }

void alb_status_set_albconfigs(struct alb_status *s, json_t *albconfigs) { hand_over(s, &s->albconfigs, albconfigs); }

void alb_status_event(struct alb_status *s, const struct alb_event *e)
{
    char key[2048], name[300], message[ALB_EVENT_MESSAGE_MAX + 1];
    /* Events are small objects: a long diagnostic is cut (whole UTF-8 characters) */
    size_t ml = strlen(e->message);
    if (ml > ALB_EVENT_MESSAGE_MAX) {
        ml = ALB_EVENT_MESSAGE_MAX;
        while (ml > 0 && ((unsigned char)e->message[ml] & 0xC0) == 0x80)
            ml--;
    }
    snprintf(message, sizeof(message), "%.*s", (int)ml, e->message);
    snprintf(key, sizeof(key), "%s/%s/%s/%s/%s", e->kind, e->ns, e->name, e->reason, e->message);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* named as client-go names them: the object's name and a unique suffix */
    snprintf(name, sizeof(name), "%.200s.%llx", e->name,
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    const char *ns = e->ns && e->ns[0] ? e->ns : "default";
    json_t *involved = json_pack("{s:s,s:s,s:s}", "kind", e->kind, "apiVersion", e->api_version, "name", e->name);
    if (e->ns && e->ns[0])
        json_object_set_new(involved, "namespace", json_string(e->ns));
    if (e->uid && e->uid[0])
        json_object_set_new(involved, "uid", json_string(e->uid));
    pthread_mutex_lock(&s->lock);
    json_t *ev = json_pack("{s:s,s:s,s:{s:s,s:s},s:o,s:s,s:s,s:s,s:{s:s,s:s},s:i,s:s,s:s}", "apiVersion", "v1",
                           "kind", "Event", "metadata", "name", name, "namespace", ns, "involvedObject", involved,
                           "type", e->type, "reason", e->reason, "message", message, "source", "component", "alb",
                           "host", s->lease.identity, "count", 1, "reportingComponent", "alb",
                           "reportingInstance", s->lease.identity);
    if (ev && json_array_size(s->events) < MAX_QUEUED_EVENTS)
        json_array_append_new(s->events, json_pack("[s,o]", key, ev));
    else {
        json_decref(ev);
        s->stats.events_dropped++;
    }
    wake(s);
    pthread_mutex_unlock(&s->lock);
}

void alb_status_stats(struct alb_status *s, struct alb_status_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

json_t *alb_status_albconfig_listeners(const struct alb_config *cfg)
{
    json_t *out = json_object();
    for (size_t i = 0; i < cfg->listener_cnt; i++) {
        const struct alb_listener_cfg *l = &cfg->listeners[i];
        /* translate/ names a listener "<albconfig>-http-<port>" or "<albconfig>-https-<port>" */
        const char *name = l->name;
        const char *suffix = strstr(name, l->https ? "-https-" : "-http-");
        const char *last = suffix;
        while (last && (suffix = strstr(last + 1, l->https ? "-https-" : "-http-")))
            last = suffix;
        if (!last)
            continue;
        char ac[256];
        snprintf(ac, sizeof(ac), "%.*s", (int)(last - name), name);
        json_t *lst = json_object_get(out, ac);
        if (!lst) {
            lst = json_array();
            json_object_set_new(out, ac, lst);
        }
        char pp[32];
        snprintf(pp, sizeof(pp), "%u/%s", (unsigned)l->port, l->https ? "HTTPS" : "HTTP");
        json_t *certs = json_array();
        for (size_t c = 0; l->https && c < l->tls.cert_cnt; c++)
            json_array_append_new(certs, json_pack("{s:s,s:b}", "certificateId", l->tls.certs[c].name, "isDefault",
                                                   (long)c == l->tls.default_cert));
        json_array_append_new(lst, json_pack("{s:s,s:o}", "portAndProtocol", pp, "certificates", certs));
    }
    return out;
}
