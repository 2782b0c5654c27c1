/* source/informer.c : see informer.h. */
#include "source/informer.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "source/files.h"
#include "source/watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 500
#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 30000u
#define DEFAULT_WATCH_TIMEOUT_S 300u

struct kind_def {
    const char *kind, *api_version;
    const char *prefix; /* the group version's path */
    const char *plural;
    bool namespaced;
};

enum { K_INGRESS, K_CLASS, K_SERVICE, K_SLICE, K_SECRET, K_CONFIGMAP, K_ALBCONFIG, K_COUNT };

static const struct kind_def kinds[K_COUNT] = {
    {"Ingress", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1", "ingresses", true},
    {"IngressClass", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1", "ingressclasses", false},
    {"Service", "v1", "/api/v1", "services", true},
    {"EndpointSlice", "discovery.k8s.io/v1", "/apis/discovery.k8s.io/v1", "endpointslices", true},
    {"Secret", "v1", "/api/v1", "secrets", true},
    {"ConfigMap", "v1", "/api/v1", "configmaps", true},
    {"AlbConfig", "alibabacloud.com/v1", "/apis/alibabacloud.com/v1", "albconfigs", false},
};

struct kind_state {
    struct alb_informers *inf;
    const struct kind_def *def;
    char collection[512]; /* the path listed and watched */
    char selector[700];   /* "&fieldSelector=..." or "" */
    char ns[256];         /* the one namespace watched; "": all */
    pthread_t thread;
    bool started;
    bool disabled;        /* nothing to watch (no ConfigMap named) */
    /* under inf->lock */
    json_t *pending;      /* "namespace/name" -> object or null (deleted): changes not yet taken */
    bool listed;
    bool streaming;       /* in sync: listed, or a watch is open, since the last failure */
    double lost_at;       /* when it last stopped streaming (monotonic seconds) */
    /* the thread's own */
    json_t *versions;     /* "namespace/name" -> the resourceVersion passed on */
    char rv[64];          /* the version seen last */
    struct alb_kube_conn conn; /* for LISTs (a watch has its own) */
    bool relist;          /* the server forgot <rv> */
    bool failed;          /* the watch ended on an error event or a malformed one */
    uint64_t seen;        /* events of the current watch */
    unsigned seed;
    /* the control thread's own (alb_informers_objects()) */
    json_t *objects;      /* "namespace/name" -> object */
};

struct alb_informers {
    struct alb_kube *k;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_bool stop;
    int fd;
    unsigned watch_timeout_s;
    /* under lock */
    uint64_t lists, relists, watch_restarts, events;
    struct kind_state ks[K_COUNT];
};

static void notify(struct alb_informers *inf) { alb_eventfd_ring(inf->fd); }

/* Sleeps <ms>, or until stopped. */
static void pause_ms(struct alb_informers *inf, unsigned ms)
{
    struct timespec until = alb_clock_deadline(ms);
    pthread_mutex_lock(&inf->lock);
    while (!atomic_load(&inf->stop) && pthread_cond_timedwait(&inf->cond, &inf->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&inf->lock);
}

/* The next backoff after <prev> ms, and the wait it means (±25% jitter). */
static unsigned backoff(struct kind_state *ks, unsigned *prev)
{
    unsigned next = *prev ? *prev * 2 : BACKOFF_MIN_MS;
    if (next > BACKOFF_MAX_MS)
        next = BACKOFF_MAX_MS;
    *prev = next;
    return next * 3 / 4 + (unsigned)rand_r(&ks->seed) % (next / 2 + 1);
}

static void set_streaming(struct kind_state *ks, bool on)
{
    pthread_mutex_lock(&ks->inf->lock);
    if (ks->streaming && !on)
        ks->lost_at = alb_clock_now_s();
    ks->streaming = on;
    pthread_mutex_unlock(&ks->inf->lock);
}

/* ---- LIST ------------------------------------------------------------------------ */

/* Lists the kind page by page and passes on what differs from what was
 * passed on before. Returns 0, 1 when the server has no such resource, or
 * -1 (logged by the caller through err[]). */
static int list_kind(struct kind_state *ks, char *err, size_t err_len)
{
    struct alb_informers *inf = ks->inf;
    json_t *fresh = json_object();
    char cont[2048] = "", path[4096], esc[1536];
    bool missing = false;
    for (;;) {
        if (cont[0] && !alb_kube_escape(cont, esc, sizeof(esc))) {
            snprintf(err, err_len, "the continue token is too long");
            json_decref(fresh);
            return -1;
        }
        snprintf(path, sizeof(path), "%s?limit=%d%s%s%s", ks->collection, PAGE_SIZE, cont[0] ? "&continue=" : "",
                 cont[0] ? esc : "", ks->selector);
        json_t *page = NULL;
        int status = alb_kube_call(inf->k, &ks->conn, "GET", path, NULL, NULL, &page, &inf->stop, err, err_len);
        if (status == 404 && !cont[0]) {
            missing = true; /* the resource does not exist here (a CRD not installed) */
            json_decref(page);
            break;
        }
        if (status == 410 && cont[0]) {
            /* the snapshot paged through expired: start again */
            json_decref(page);
            json_object_clear(fresh);
            cont[0] = '\0';
            continue;
        }
        if (status != 200 || !json_is_array(json_object_get(page, "items"))) {
            if (status == 200)
                snprintf(err, err_len, "GET %.500s: the answer has no items", path);
            json_decref(page);
            json_decref(fresh);
            return -1;
        }
        json_t *items = json_object_get(page, "items"), *o;
        size_t i;
        char key[600];
        json_array_foreach(items, i, o)
        {
            if (!json_is_object(o) || !alb_watch_key(o, key, sizeof(key)))
                continue;
            alb_watch_prepare(o, ks->def->kind, ks->def->api_version);
            json_object_set(fresh, key, o);
        }
        json_t *md = json_object_get(page, "metadata");
        const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
        const char *next = json_string_value(json_object_get(md, "continue"));
        snprintf(ks->rv, sizeof(ks->rv), "%s", rv ? rv : "");
        snprintf(cont, sizeof(cont), "%s", next ? next : "");
        json_decref(page);
        pthread_mutex_lock(&inf->lock);
        inf->lists++;
        pthread_mutex_unlock(&inf->lock);
        if (!cont[0])
            break;
    }
    /* the difference, passed on */
    alb_watch_relisted(ks->versions, fresh);
    bool changed = json_object_size(fresh) > 0;
    pthread_mutex_lock(&inf->lock);
    json_object_update(ks->pending, fresh);
    json_decref(fresh); /* under the lock: the control thread takes what it held only after */
    bool first = !ks->listed;
    ks->listed = true;
    ks->streaming = true; /* current as of now; the watch that follows keeps it so */
    pthread_mutex_unlock(&inf->lock);
    if (changed || first)
        notify(inf);
    return missing ? 1 : 0;
}

/* ---- WATCH ------------------------------------------------------------------------ */

static bool on_event(void *ctx, json_t *ev)
{
    struct kind_state *ks = ctx;
    struct alb_informers *inf = ks->inf;
    if (!ev) {
        set_streaming(ks, true);
        return true;
    }
    ks->seen++;
    struct alb_watch_change change;
    enum alb_watch_outcome out =
        alb_watch_decode(ks->versions, ks->def->kind, ks->def->api_version, ev, ks->rv, sizeof(ks->rv), &change);
    pthread_mutex_lock(&inf->lock);
    if (out == ALB_WATCH_CHANGED)
        json_object_set_new(ks->pending, change.key, change.object ? change.object : json_null());
    inf->events++;
    pthread_mutex_unlock(&inf->lock);
    if (out == ALB_WATCH_CHANGED)
        notify(inf);
    ks->relist = out == ALB_WATCH_GONE;
    ks->failed = out == ALB_WATCH_FAILED;
    return out == ALB_WATCH_GO_ON || out == ALB_WATCH_CHANGED;
}

static void *kind_thread(void *p)
{
    struct kind_state *ks = p;
    struct alb_informers *inf = ks->inf;
    unsigned prev_backoff = 0;
    bool need_list = true;
    char err[1024], path[4096];
    while (!atomic_load(&inf->stop)) {
        if (need_list) {
            int rc = list_kind(ks, err, sizeof(err));
            if (rc < 0) {
                set_streaming(ks, false);
                if (!atomic_load(&inf->stop)) {
                    alb_log_warn("action=\"listing %s\" %s", ks->def->plural, err);
                    pause_ms(inf, backoff(ks, &prev_backoff));
                }
                continue;
            }
            if (rc == 1) {
                /* not served by this API server: ask again later */
                set_streaming(ks, true);
                pause_ms(inf, BACKOFF_MAX_MS);
                continue;
            }
            need_list = false;
        }
        unsigned timeout = inf->watch_timeout_s + (unsigned)rand_r(&ks->seed) % (inf->watch_timeout_s / 4 + 1);
        snprintf(path, sizeof(path), "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s",
                 ks->collection, ks->rv, timeout, ks->selector);
        ks->relist = ks->failed = false;
        ks->seen = 0;
        json_t *status = NULL;
        double started = alb_clock_now_s();
        int rc = alb_kube_watch(inf->k, path, on_event, ks, &status, &inf->stop, err, sizeof(err));
        bool gone = ks->relist || rc == 410 || json_integer_value(json_object_get(status, "code")) == 410;
        json_decref(status);
        if (atomic_load(&inf->stop))
            break;
        if (gone) {
            /* the server forgot the version: list again and apply the difference */
            pthread_mutex_lock(&inf->lock);
            inf->relists++;
            pthread_mutex_unlock(&inf->lock);
            need_list = true;
            prev_backoff = 0;
            continue;
        }
        /* The server ended the watch (its timeout): watch on at once. One
         * that ends at once without a word, or on an error event, is a
         * failure like any other: backing off keeps a sick server from
         * being asked in a tight loop. */
        if (rc >= 200 && rc < 300 && !ks->failed && (ks->seen > 0 || alb_clock_now_s() - started >= 1.0)) {
            prev_backoff = 0;
            continue;
        }
        if (rc >= 200 && rc < 300)
            snprintf(err, sizeof(err), "the watch ended %s", ks->failed ? "on an error event" : "at once");
        set_streaming(ks, false);
        pthread_mutex_lock(&inf->lock);
        inf->watch_restarts++;
        pthread_mutex_unlock(&inf->lock);
        alb_log_warn("action=\"watching %s\" %s", ks->def->plural, err);
        pause_ms(inf, backoff(ks, &prev_backoff));
    }
    alb_kube_conn_close(&ks->conn);
    return NULL;
}

/* ---- the informers ------------------------------------------------------------------ */

struct alb_informers *alb_informers_start(struct alb_kube *k, const struct alb_informer_opts *o)
{
    struct alb_informers *inf = calloc(1, sizeof(*inf));
    if (!inf)
        return NULL;
    inf->k = k;
    inf->watch_timeout_s = o->watch_timeout_s ? o->watch_timeout_s : DEFAULT_WATCH_TIMEOUT_S;
    inf->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&inf->lock, NULL);
    alb_clock_cond_init(&inf->cond);
    const char *wns = o->watch_namespace && o->watch_namespace[0] ? o->watch_namespace : NULL;
    double t0 = alb_clock_now_s();
    for (int i = 0; i < K_COUNT; i++) {
        struct kind_state *ks = &inf->ks[i];
        ks->inf = inf;
        ks->def = &kinds[i];
        ks->objects = json_object();
        ks->pending = json_object();
        ks->versions = json_object();
        ks->lost_at = t0;
        ks->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(i * 7919);
        const char *ns = ks->def->namespaced ? wns : NULL;
        char value[600];
        if (i == K_SECRET) {
            alb_kube_escape("type=kubernetes.io/tls", value, sizeof(value));
            snprintf(ks->selector, sizeof(ks->selector), "&fieldSelector=%s", value);
        } else if (i == K_CONFIGMAP) {
            const char *slash = o->configmap ? strchr(o->configmap, '/') : NULL;
            char fs[400];
            if (!slash) {
                ks->disabled = true;
            } else {
                snprintf(fs, sizeof(fs), "metadata.name=%s", slash + 1);
                alb_kube_escape(fs, value, sizeof(value));
                snprintf(ks->selector, sizeof(ks->selector), "&fieldSelector=%s", value);
                snprintf(ks->ns, sizeof(ks->ns), "%.*s", (int)(slash - o->configmap), o->configmap);
                ns = ks->ns;
            }
        }
        if (ns)
            snprintf(ks->collection, sizeof(ks->collection), "%s/namespaces/%s/%s", ks->def->prefix, ns,
                     ks->def->plural);
        else
            snprintf(ks->collection, sizeof(ks->collection), "%s/%s", ks->def->prefix, ks->def->plural);
        if (ks->disabled) {
            ks->listed = ks->streaming = true;
        }
    }
    if (inf->fd == -1) {
        alb_informers_stop(inf);
        return NULL;
    }
    for (int i = 0; i < K_COUNT; i++) {
        struct kind_state *ks = &inf->ks[i];
        if (ks->disabled)
            continue;
        if (pthread_create(&ks->thread, NULL, kind_thread, ks) != 0) {
            alb_informers_stop(inf);
            return NULL;
        }
        ks->started = true;
    }
    return inf;
}

void alb_informers_stop(struct alb_informers *inf)
{
    if (!inf)
        return;
    pthread_mutex_lock(&inf->lock);
    atomic_store(&inf->stop, true);
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->lock);
    for (int i = 0; i < K_COUNT; i++) {
        if (inf->ks[i].started)
            pthread_join(inf->ks[i].thread, NULL);
        json_decref(inf->ks[i].objects);
        json_decref(inf->ks[i].pending);
        json_decref(inf->ks[i].versions);
    }
    if (inf->fd != -1)
        close(inf->fd);
    pthread_cond_destroy(&inf->cond);
    pthread_mutex_destroy(&inf->lock);
    free(inf);
}

int alb_informers_fd(const struct alb_informers *inf) { return inf->fd; }

json_t *alb_informers_objects(struct alb_informers *inf, unsigned *changes)
{
    alb_eventfd_drain(inf->fd); /* the caller takes what is pending now */
    json_t *taken[K_COUNT];
    pthread_mutex_lock(&inf->lock);
    for (int i = 0; i < K_COUNT; i++) {
        taken[i] = inf->ks[i].pending;
        inf->ks[i].pending = json_object();
    }
    pthread_mutex_unlock(&inf->lock);
    unsigned bits = 0;
    json_t *all = json_array();
    for (int i = 0; i < K_COUNT; i++) {
        struct kind_state *ks = &inf->ks[i];
        const char *key;
        json_t *o;
        json_object_foreach(taken[i], key, o)
        {
            bits |= alb_watch_store(ks->objects, key, o);
        }
        json_decref(taken[i]);
        json_object_foreach(ks->objects, key, o)
        {
            json_array_append(all, o);
        }
    }
    *changes = bits;
    return all;
}

void alb_informers_stats(struct alb_informers *inf, struct alb_informer_stats *out)
{
    double now = alb_clock_now_s();
    pthread_mutex_lock(&inf->lock);
    *out = (struct alb_informer_stats){.synced = true, .lists = inf->lists, .relists = inf->relists,
                                       .watch_restarts = inf->watch_restarts, .events = inf->events};
    for (int i = 0; i < K_COUNT; i++) {
        struct kind_state *ks = &inf->ks[i];
        out->synced &= ks->listed;
        if (!ks->streaming && now - ks->lost_at > out->sync_age_s)
            out->sync_age_s = now - ks->lost_at;
    }
    pthread_mutex_unlock(&inf->lock);
}
