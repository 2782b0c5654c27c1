/* main.c : flags, wiring, signals, and the control thread.
 *
 * The main thread is the control thread. It loads the config, publishes it,
 * starts the workers (each binds its own listening sockets), then runs its
 * own event loop for:
 *   - the config file: inotify on its folder (editors replace files by
 *     rename), debounced; each valid version is published as the next
 *     generation and the workers are woken to adopt it; an invalid one is
 *     logged with its JSON path and changes nothing;
 *   - signals (signalfd): SIGTERM/SIGINT start a graceful stop, SIGHUP
 *     reloads the config now;
 *   - the admin API (admin/).
 * Nothing here runs on the request path.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/admin.h"
#include "cluster.h"
#include "config/config.h"
#include "config/publish.h"
#include "core/addr.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "net/sock.h"
#include "proxy/metrics.h"
#include "proxy/worker.h"
#include "route/route.h"
#include "source/files.h"
#include "source/resolve.h"
#include "tls/tls.h"
#include "translate/translate.h"

#ifndef ALB_VERSION
#define ALB_VERSION "0.1.0-dev"
#endif

#define DEFAULT_DRAIN_TIMEOUT_MS 30000u
#define DEFAULT_ADMIN "127.0.0.1:10254"
#define MAX_WORKERS 256
/* A burst of writes to the config (file or folder) is published once: when
 * no write came for the quiet time, or the burst has lasted the maximum. */
#define RELOAD_QUIET_MS 10u
#define RELOAD_MAX_DELAY_MS 250u
/* The same for bursts of watch events from the API server. */
#define KUBE_QUIET_MS 100u
#define KUBE_MAX_DELAY_MS 500u

struct options {
    const char *config_path;
    const char *manifests_dir;
    bool cluster;                /* objects from the Kubernetes API */
    const char *kubeconfig;      /* NULL: in-cluster credentials */
    const char *watch_namespace;
    const char *state_dir;
    const char *publish_service;
    const char *publish_address;
    const char *election_id;
    const char *controller;
    const char *configmap;
    const char *access_log;      /* NULL or "off": none */
    enum alb_log_format log_format;
    const char *listen_address;
    const char *admin;
    unsigned workers;
    uint32_t drain_timeout_ms;
    enum alb_log_level log_level;
};

struct control {
    const struct options *o;
    struct alb_loop loop;
    struct alb_publisher pub;
    struct alb_worker *workers; /* owned array */
    unsigned worker_cnt;
    struct alb_io sig;           /* signalfd */
    struct alb_io ino;           /* inotify on the config file's folder */
    char config_dir[PATH_MAX];
    char config_base[NAME_MAX + 1];
    struct alb_timer debounce;
    struct alb_timer ticket_keys;  /* rotates the TLS session ticket keys */
    uint64_t burst_start_ms;     /* when the first write of the pending burst was seen */
    struct alb_admin admin;
    struct alb_manifests manifests; /* --manifests: each file's last good objects */
    struct alb_translate_memo *memo; /* --manifests: what the last translation kept */
    struct alb_resolver *resolver;   /* --manifests: keeps ExternalName Services' names resolved */
    struct alb_io dns;               /* its eventfd */
    struct alb_cluster_opts cluster_opts;
    struct alb_cluster cluster;      /* cluster mode: API client, informers, status thread */
    struct alb_io kube_ev;           /* the informers' eventfd */
    unsigned kube_changes;           /* ALB_MANIFEST_CHANGED_* taken from the informers, not yet served */
    bool synced;                     /* cluster: a version from complete lists is serving */
    bool from_state;                 /* cluster: the version serving came from --state-dir */
    json_t *resolved;                /* its answers, as last taken */
    bool dns_changed;                /* they changed since the serving version */
    uint64_t publishes;
    uint64_t endpoint_publishes;  /* of them, endpoints only (routes shared with the one before) */
    uint64_t refused;
    double last_build_seconds;
    bool stopping;
};

static void usage(FILE *f)
{
    fprintf(f, "usage:\n"
               "  alb serve (--manifests DIR | --config FILE | [--kubeconfig FILE]) [--listen-address ADDR]\n"
               "            [--admin ADDR:PORT|off]\n"
               "            cluster: [--watch-namespace NS] [--state-dir DIR] [--election-id NAME]\n"
               "                     [--publish-service NAMESPACE/NAME | --publish-status-address ADDR[,ADDR]]\n"
               "            [--workers N] [--drain-timeout-ms MS] [--log-level error|warn|info|debug]\n"
               "            [--controller-class NAME] [--configmap NAMESPACE/NAME]\n"
               "            [--access-log PATH|off] [--log-format text|json]\n"
               "  alb translate --manifests DIR     print the data-plane config; diagnostics on stderr\n"
               "  alb check (--manifests DIR | --config FILE)\n"
               "  alb version\n");
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return false;
    *out = v;
    return true;
}

/* Returns 0, or 2 after printing a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->workers = ncpu > 0 ? (unsigned)ncpu : 1;
    o->drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT_MS;
    o->log_level = ALB_LOG_INFO;
    o->admin = DEFAULT_ADMIN;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long n;
        /* --flag=value, as Kubernetes manifests usually spell arguments */
        char flag[64];
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof(flag)) {
            snprintf(flag, sizeof(flag), "%.*s", (int)(eq - a), a);
            a = flag;
            v = eq + 1;
            i--; /* the value is not the next argument */
        }
        if (!v) {
            fprintf(stderr, "alb: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--config") == 0) {
            o->config_path = v;
        } else if (strcmp(a, "--manifests") == 0) {
            o->manifests_dir = v;
        } else if (strcmp(a, "--kubeconfig") == 0) {
            o->kubeconfig = v;
        } else if (strcmp(a, "--watch-namespace") == 0) {
            o->watch_namespace = v;
        } else if (strcmp(a, "--state-dir") == 0) {
            o->state_dir = v;
        } else if (strcmp(a, "--election-id") == 0) {
            o->election_id = v;
        } else if (strcmp(a, "--publish-service") == 0) {
            if (!strchr(v, '/')) {
                fprintf(stderr, "alb: --publish-service takes NAMESPACE/NAME\n");
                return 2;
            }
            o->publish_service = v;
        } else if (strcmp(a, "--publish-status-address") == 0) {
            o->publish_address = v;
        } else if (strcmp(a, "--controller-class") == 0) {
            o->controller = v;
        } else if (strcmp(a, "--access-log") == 0) {
            o->access_log = v;
        } else if (strcmp(a, "--log-format") == 0) {
            if (strcmp(v, "text") && strcmp(v, "json")) {
                fprintf(stderr, "alb: --log-format takes text or json\n");
                return 2;
            }
            o->log_format = strcmp(v, "json") ? ALB_LOG_TEXT : ALB_LOG_JSON;
        } else if (strcmp(a, "--configmap") == 0) {
            if (!strchr(v, '/')) {
                fprintf(stderr, "alb: --configmap takes NAMESPACE/NAME\n");
                return 2;
            }
            o->configmap = v;
        } else if (strcmp(a, "--listen-address") == 0) {
            o->listen_address = v;
        } else if (strcmp(a, "--admin") == 0) {
            o->admin = v;
        } else if (strcmp(a, "--workers") == 0) {
            if (!parse_uint(v, MAX_WORKERS, &n) || n == 0) {
                fprintf(stderr, "alb: --workers takes a number from 1 to %d\n", MAX_WORKERS);
                return 2;
            }
            o->workers = (unsigned)n;
        } else if (strcmp(a, "--drain-timeout-ms") == 0) {
            if (!parse_uint(v, 3600000, &n)) {
                fprintf(stderr, "alb: --drain-timeout-ms takes milliseconds from 0 to 3600000\n");
                return 2;
            }
            o->drain_timeout_ms = (uint32_t)n;
        } else if (strcmp(a, "--log-level") == 0) {
            static const char *const names[] = {"error", "warn", "info", "debug"};
            bool ok = false;
            for (int k = 0; k < 4; k++)
                if (strcmp(v, names[k]) == 0) {
                    o->log_level = (enum alb_log_level)k;
                    ok = true;
                }
            if (!ok) {
                fprintf(stderr, "alb: --log-level takes error, warn, info or debug\n");
                return 2;
            }
        } else {
            fprintf(stderr, "alb: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    const char *in_cluster = getenv("KUBERNETES_SERVICE_HOST");
    o->cluster = o->kubeconfig || (!o->config_path && !o->manifests_dir && in_cluster && in_cluster[0]);
    if ((o->config_path != NULL) + (o->manifests_dir != NULL) + o->cluster != 1) {
        fprintf(stderr, "alb: exactly one of --manifests DIR, --config FILE and --kubeconfig FILE is required "
                        "(in a pod, the service account is used without --kubeconfig)\n");
        usage(stderr);
        return 2;
    }
    if (!o->controller)
        o->controller = ALB_DEFAULT_CONTROLLER;
    if (!o->election_id)
        o->election_id = "alb-leader";
    static char own_configmap[300];
    const char *pod_ns = getenv("POD_NAMESPACE");
    /* standalone: the default namespace; in a cluster, ALB's own (DESIGN.md) */
    snprintf(own_configmap, sizeof(own_configmap), "%s/alb-config",
             o->cluster && pod_ns && pod_ns[0] ? pod_ns : "default");
    if (!o->configmap)
        o->configmap = own_configmap;
    return 0;
}

/* Every connection is a descriptor: take all the kernel allows us. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- publishing ------------------------------------------------------------ */

/* Listeners the serving config does not have yet must be bindable, or the
 * whole version is refused (one worker failing to bind would serve a port
 * partially). */
static int check_new_listeners(struct control *c, const struct alb_config *next, char *err, size_t err_len)
{
    uint64_t gen;
    struct alb_config *cur = alb_publisher_acquire(&c->pub, &gen);
    int rc = 0;
    for (size_t i = 0; i < next->listener_cnt && rc == 0; i++) {
        const struct alb_listener_cfg *l = &next->listeners[i];
        bool exists = false;
        for (size_t j = 0; cur && j < cur->listener_cnt && !exists; j++)
            exists = alb_listener_same_bind(&cur->listeners[j], l);
        if (exists)
            continue;
        int r = alb_sock_probe_bind((const struct sockaddr *)&l->addr, l->addr_len);
        if (r < 0) {
            snprintf(err, err_len, "listeners[%zu] (%s port %u): %s", i, l->address, (unsigned)l->port, strerror(-r));
            rc = r;
        }
    }
    alb_config_unref(cur);
    return rc;
}

static void report_manifest_problem(void *ctx, const char *line)
{
    (void)ctx;
    alb_log_error("action=\"reading manifests\" %s", line);
}

static void print_manifest_problem(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "error: %s\n", line);
}

/* Diagnostics in the words Kubernetes users know (ALB Ingress's reasons). */
static void format_diag(const struct alb_diag *d, char *out, size_t len)
{
    snprintf(out, len, "%s %s %s %s%s%s: %s", alb_diag_event_type(d->level), alb_diag_reason(d->level), d->kind,
             d->ns[0] ? d->ns : "", d->ns[0] ? "/" : "", d->name, d->message);
}

/* What reading the manifests again can take from the serving version. */
struct reuse {
    struct alb_config *serving;       /* borrowed; NULL: nothing is served yet */
    struct alb_translate_memo *memo;  /* borrowed; what the last translation kept */
    json_t *resolved;                 /* borrowed; DNS answers for ExternalName Services */
    bool dns_changed;                 /* the answers changed since the serving version */
    bool endpoints_only;              /* out: the version read shares the serving one's routes */
};

/* read_config() : the config of the configured source: the file, or the
 * manifests folder translated. <m> keeps manifest files' last good objects;
 * <report> receives file problems. With <r> (may be NULL), unchanged
 * Ingresses are not translated again, and when only endpoints changed since
 * the serving version, only they are. Diagnostics go to <d>. NULL with
 * err[] when no config can be built. */
/* translate_objects() : the config <objects> (borrowed; from <origin>, for
 * messages) say, given that <changes> (ALB_MANIFEST_CHANGED_*) is what
 * changed since the serving version. Otherwise as read_config(). */
static struct alb_config *translate_objects(const struct options *o, json_t *objects, unsigned changes,
                                            const char *origin, struct reuse *r, struct alb_diags *d, char *err,
                                            size_t err_len)
{
    char inner[1024];
    json_t *sources = r && r->memo ? alb_translate_memo_sources(r->memo) : NULL;
    changes |= r && r->dns_changed ? ALB_MANIFEST_CHANGED_ENDPOINTS : 0;
    changes &= ~ALB_MANIFEST_CHANGED_STATUS; /* translation never reads a status */
    if (r && r->serving && sources && changes == ALB_MANIFEST_CHANGED_ENDPOINTS) {
        json_t *eps = objects ? alb_translate_endpoints(objects, sources, r->resolved, d) : NULL;
        struct alb_config *cfg = eps ? alb_config_with_endpoints(r->serving, eps, inner, sizeof(inner)) : NULL;
        json_decref(eps);
        if (!cfg)
            snprintf(err, err_len, "%.200s: the new endpoints are invalid: %.700s", origin,
                     eps ? inner : "out of memory");
        r->endpoints_only = cfg != NULL;
        return cfg;
    }
    const char *pod_ns = getenv("POD_NAMESPACE");
    struct alb_translate_opts to = {o->controller, o->listen_address, o->configmap, r ? r->resolved : NULL,
                                    pod_ns && pod_ns[0] ? pod_ns : "default", time(NULL)};
    struct alb_config *cfg = objects ? alb_translate(objects, &to, d, r ? r->memo : NULL, inner, sizeof(inner)) : NULL;
    if (!cfg)
        snprintf(err, err_len, "%.200s: %.700s", origin, objects ? inner : "out of memory");
    return cfg;
}

static struct alb_config *read_config(const struct options *o, struct alb_manifests *m,
                                      alb_manifest_report_fn *report, struct reuse *r, struct alb_diags *d,
                                      char *err, size_t err_len)
{
    if (o->config_path)
        return alb_config_load_file(o->config_path, o->listen_address, err, err_len);
    int rc = alb_manifests_load(m, o->manifests_dir, report, NULL);
    if (rc < 0) {
        snprintf(err, err_len, "%s: %s", o->manifests_dir, strerror(-rc));
        return NULL;
    }
    json_t *objects = alb_manifests_objects(m);
    struct alb_config *cfg = translate_objects(o, objects, m->changes, o->manifests_dir, r, d, err, err_len);
    json_decref(objects);
    return cfg;
}

/* ---- publishing from a source ----------------------------------------------------------- */

/* publish_from() : reads the config file, the manifests, or (in a cluster)
 * <given> objects, else the informers' when they have listed everything; a
 * valid version becomes the next generation. Returns 0 (also when there is
 * nothing to publish yet), or -1 after logging why the version was refused
 * (the serving one stays). */
static int publish_from(struct control *c, json_t *given)
{
    char err[1024];
    double t0 = alb_clock_now_s();
    struct alb_diags d = {0};
    uint64_t serving_gen;
    json_t *objects = NULL; /* cluster: what was translated */
    bool from_informers = false;
    if (c->o->cluster && !given) {
        struct alb_informer_stats st;
        alb_informers_stats(c->cluster.informers, &st);
        if (!st.synced)
            return 0; /* a partial view is never served */
        unsigned taken = 0;
        objects = alb_informers_objects(c->cluster.informers, &taken);
        c->kube_changes |= taken;
        if (!c->synced)
            c->kube_changes |= ALB_MANIFEST_CHANGED_OTHER;
        if (c->kube_changes == ALB_MANIFEST_CHANGED_STATUS) {
            /* only statuses changed (ours, mostly): nothing to translate or publish */
            uint64_t gen;
            struct alb_config *serving = alb_publisher_acquire(&c->pub, &gen);
            if (serving)
                alb_cluster_statuses_changed(&c->cluster, objects, serving, c->memo);
            alb_config_unref(serving);
            json_decref(objects);
            c->kube_changes = 0;
            return 0;
        }
        from_informers = true;
    } else if (given) {
        objects = json_incref(given);
    }
    struct reuse r = {.serving = alb_publisher_acquire(&c->pub, &serving_gen), .memo = c->memo,
                      .resolved = c->resolved, .dns_changed = c->dns_changed};
    struct alb_config *cfg =
        c->o->cluster ? translate_objects(c->o, objects, given ? ALB_MANIFEST_CHANGED_OTHER : c->kube_changes,
                                          c->cluster.kube ? alb_kube_server(c->cluster.kube) : "the cluster", &r,
                                          &d, err, sizeof(err))
                      : read_config(c->o, &c->manifests, report_manifest_problem, &r, &d, err, sizeof(err));
    if (cfg && !r.endpoints_only && c->resolver && alb_translate_memo_external_names(c->memo))
        alb_resolver_want(c->resolver, alb_translate_memo_external_names(c->memo));
    alb_config_unref(r.serving);
    for (size_t i = 0; i < d.cnt; i++) {
        char line[1400];
        format_diag(&d.v[i], line, sizeof(line));
        if (d.v[i].level == ALB_DIAG_INFO)
            alb_log_info("%s", line);
        else
            alb_log_warn("%s", line);
    }
    if (c->o->cluster)
        alb_cluster_report(&c->cluster, &d, objects);
    alb_diags_deinit(&d);
    if (cfg && !r.endpoints_only &&
        (alb_route_compile(cfg, err, sizeof(err)) < 0 || alb_tls_compile(cfg, err, sizeof(err)) < 0 ||
         check_new_listeners(c, cfg, err, sizeof(err)) < 0)) {
        alb_config_free(cfg);
        cfg = NULL;
    }
    if (!cfg) {
        c->refused++;
        alb_log_error("action=\"loading config\" refused, generation %llu keeps serving: %s",
                      (unsigned long long)alb_publisher_generation(&c->pub), err);
        json_decref(objects);
        return -1;
    }
    /* what is served now is what the manifests (or the cluster, and DNS) say */
    c->manifests.changes = 0;
    c->kube_changes = 0;
    c->dns_changed = false;
    if (from_informers) {
        if (!c->synced)
            alb_log_info("cluster: every kind listed; serving what %s says", alb_kube_server(c->cluster.kube));
        c->synced = true;
        c->from_state = false;
        alb_cluster_published(&c->cluster, objects, cfg, c->memo, r.endpoints_only);
    }
    json_decref(objects);
    if (r.endpoints_only)
        c->endpoint_publishes++;
    c->last_build_seconds = alb_clock_now_s() - t0;
    uint64_t gen = alb_publisher_publish(&c->pub, cfg);
    c->publishes++;
    for (unsigned i = 0; i < c->worker_cnt; i++)
        alb_worker_wake(&c->workers[i]);
    alb_log_info("config generation %llu published (%zu listeners, %zu backends, %s in %.3f ms)",
                 (unsigned long long)gen, cfg->listener_cnt, cfg->backend_cnt,
                 r.endpoints_only ? "endpoints only, built" : "built", c->last_build_seconds * 1000);
    /* Building freed large temporary trees (translation, JSON); give the
     * memory back instead of keeping the peak for good. Control thread. */
    if (!r.endpoints_only)
        malloc_trim(0);
    return 0;
}

static int load_and_publish(struct control *c) { return publish_from(c, NULL); }

static void on_ticket_keys(struct alb_timer *t)
{
    struct control *c = (struct control *)((char *)t - offsetof(struct control, ticket_keys));
    alb_tls_rotate_ticket_keys();
    if (alb_loop_arm(&c->loop, &c->ticket_keys, ALB_TLS_TICKET_ROTATE_MS) < 0)
        alb_log_warn("action=\"rotating TLS ticket keys\" out of memory: the current key stays");
}

static void on_debounce(struct alb_timer *t)
{
    struct control *c = (struct control *)((char *)t - offsetof(struct control, debounce));
    if (!c->stopping)
        load_and_publish(c);
}

/* A change was seen: publish when none came for <quiet_ms>, or when the
 * burst has lasted <max_ms>. */
static void schedule_reload(struct control *c, uint64_t quiet_ms, uint64_t max_ms)
{
    uint64_t now = c->loop.now_ms;
    if (!alb_timer_is_armed(&c->debounce))
        c->burst_start_ms = now;
    uint64_t waited = now - c->burst_start_ms;
    uint64_t after = waited >= max_ms ? 0 : max_ms - waited < quiet_ms ? max_ms - waited : quiet_ms;
    if (alb_loop_arm(&c->loop, &c->debounce, after) < 0)
        load_and_publish(c);
}

static void on_inotify(struct alb_io *io, uint32_t events)
{
    struct control *c = (struct control *)((char *)io - offsetof(struct control, ino));
    (void)events;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool ours = false;
    for (;;) {
        ssize_t n = read(io->fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->len && (c->o->manifests_dir ? alb_manifest_is_file_name(ev->name) : strcmp(ev->name, c->config_base) == 0))
                ours = true;
            p += sizeof(*ev) + ev->len;
        }
    }
    if (ours)
        schedule_reload(c, RELOAD_QUIET_MS, RELOAD_MAX_DELAY_MS);
}

/* The informers' store changed: publish once the burst is over. */
static void on_kube_event(struct alb_io *io, uint32_t events)
{
    struct control *c = (struct control *)((char *)io - offsetof(struct control, kube_ev));
    (void)events;
    alb_eventfd_drain(io->fd); /* the changes are taken when the timer fires */
    schedule_reload(c, KUBE_QUIET_MS, KUBE_MAX_DELAY_MS);
}

static int watch_config(struct control *c)
{
    char tmp[PATH_MAX];
    if (c->o->manifests_dir) {
        snprintf(c->config_dir, sizeof(c->config_dir), "%s", c->o->manifests_dir);
    } else {
        snprintf(tmp, sizeof(tmp), "%s", c->o->config_path);
        snprintf(c->config_dir, sizeof(c->config_dir), "%s", dirname(tmp));
        snprintf(tmp, sizeof(tmp), "%s", c->o->config_path);
        snprintf(c->config_base, sizeof(c->config_base), "%s", basename(tmp));
    }
    c->ino.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (c->ino.fd == -1)
        return -errno;
    if (inotify_add_watch(c->ino.fd, c->config_dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE) == -1)
        return -errno;
    c->ino.fn = on_inotify;
    return alb_loop_add(&c->loop, &c->ino, EPOLLIN);
}

/* ---- admin handlers --------------------------------------------------------- */

static bool admin_is_ready(void *ctx)
{
    struct control *c = ctx;
    if (c->stopping)
        return false;
    /* in a cluster: once every kind was listed, or the saved state serves */
    if (c->o->cluster && !c->synced && !c->from_state)
        return false;
    for (unsigned i = 0; i < c->worker_cnt; i++)
        if (atomic_load_explicit(&c->workers[i].adopted_gen, memory_order_acquire) == 0)
            return false;
    return true;
}

static bool admin_config_json(void *ctx, struct alb_sbuf *out)
{
    struct control *c = ctx;
    uint64_t gen;
    struct alb_config *cfg = alb_publisher_acquire(&c->pub, &gen);
    if (!cfg)
        return false;
    char *text = alb_config_to_json(cfg);
    alb_config_unref(cfg);
    if (!text)
        return false;
    alb_sbuf_add(out, text, strlen(text));
    alb_sbuf_add(out, "\n", 1);
    free(text);
    return true;
}

static void admin_metrics(void *ctx, struct alb_sbuf *out)
{
    struct control *c = ctx;
    alb_proxy_metrics_render(c->workers, c->worker_cnt, out);
    alb_sbuf_printf(out,
                    "# HELP alb_config_generation Generation of the published configuration.\n"
                    "# TYPE alb_config_generation gauge\nalb_config_generation %llu\n"
                    "# HELP alb_config_publishes_total Configuration versions published.\n"
                    "# TYPE alb_config_publishes_total counter\nalb_config_publishes_total %llu\n"
                    "# HELP alb_config_endpoint_publishes_total Versions published for endpoint changes alone, "
                    "sharing the routes of the version before.\n"
                    "# TYPE alb_config_endpoint_publishes_total counter\nalb_config_endpoint_publishes_total %llu\n"
                    "# HELP alb_config_refused_total Configuration versions refused as invalid.\n"
                    "# TYPE alb_config_refused_total counter\nalb_config_refused_total %llu\n"
                    "# HELP alb_config_build_seconds Time to load and validate the last published version.\n"
                    "# TYPE alb_config_build_seconds gauge\nalb_config_build_seconds %.6f\n"
                    "# HELP alb_workers Worker threads.\n# TYPE alb_workers gauge\nalb_workers %u\n",
                    (unsigned long long)alb_publisher_generation(&c->pub), (unsigned long long)c->publishes,
                    (unsigned long long)c->endpoint_publishes, (unsigned long long)c->refused, c->last_build_seconds, c->worker_cnt);
    if (c->o->cluster)
        alb_cluster_metrics(&c->cluster, c->from_state, out);
    alb_sbuf_printf(out, "# HELP alb_worker_config_generation Generation each worker has adopted.\n"
                         "# TYPE alb_worker_config_generation gauge\n");
    for (unsigned i = 0; i < c->worker_cnt; i++)
        alb_sbuf_printf(out, "alb_worker_config_generation{worker=\"%u\"} %llu\n", i,
                        (unsigned long long)atomic_load_explicit(&c->workers[i].adopted_gen, memory_order_acquire));
}

/* "ADDR:PORT" or "[ADDR6]:PORT" -> listening socket, or -errno. */
static int open_admin_socket(const char *spec, char *err, size_t err_len)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!alb_addr_parse_hostport(spec, &ss, &len)) {
        snprintf(err, err_len, "--admin %s: expected a numeric ADDR:PORT (or off)", spec);
        return -EINVAL;
    }
    int fd = alb_sock_listen((const struct sockaddr *)&ss, len, 64);
    if (fd < 0)
        snprintf(err, err_len, "--admin %s: %s", spec, strerror(-fd));
    return fd;
}

/* ---- signals and the loop ------------------------------------------------------ */

/* New DNS answers for ExternalName Services: a version with new endpoints. */
static void on_dns(struct alb_io *io, uint32_t events)
{
    struct control *c = (struct control *)((char *)io - offsetof(struct control, dns));
    (void)events;
    json_t *answers = alb_resolver_answers(c->resolver);
    if (!answers || json_equal(answers, c->resolved)) {
        json_decref(answers);
        return;
    }
    json_decref(c->resolved);
    c->resolved = answers;
    c->dns_changed = true;
    if (!c->stopping)
        load_and_publish(c);
}

static void on_signal(struct alb_io *io, uint32_t events)
{
    struct control *c = (struct control *)((char *)io - offsetof(struct control, sig));
    (void)events;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            alb_log_info("SIGHUP: reloading %s", c->o->config_path   ? c->o->config_path
                                                 : c->o->manifests_dir ? c->o->manifests_dir
                                                                       : "the objects of the cluster");
            load_and_publish(c);
        } else if (!c->stopping) {
            alb_log_info("signal %u: draining (timeout %u ms)", si.ssi_signo, c->o->drain_timeout_ms);
            c->stopping = true;
        }
    }
}

/* alb check / alb translate: diagnostics on stderr; exit 1 when an object
 * was rejected or the result does not load. */
static int cmd_check(const struct options *o, bool print)
{
    char err[1024];
    struct alb_manifests m = {0};
    struct alb_diags d = {0};
    struct alb_config *cfg = read_config(o, &m, print_manifest_problem, NULL, &d, err, sizeof(err));
    for (size_t i = 0; i < d.cnt; i++) {
        char line[1400];
        format_diag(&d.v[i], line, sizeof(line));
        fprintf(stderr, "%s\n", line);
    }
    size_t rejected = d.errors;
    alb_diags_deinit(&d);
    if (!cfg) {
        alb_manifests_deinit(&m);
        fprintf(stderr, "alb: %s\n", err);
        return 1;
    }
    if (print) {
        char *text = alb_config_to_json(cfg);
        if (text) {
            printf("%s\n", text);
            free(text);
        }
        alb_manifests_deinit(&m);
        alb_config_free(cfg);
        return rejected ? 1 : 0;
    }
    alb_manifests_deinit(&m);
    if (alb_route_compile(cfg, err, sizeof(err)) < 0 || alb_tls_compile(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "alb: %s\n", err);
        alb_config_free(cfg);
        return 1;
    }
    printf("%s: %s (%zu listeners, %zu backends)\n", o->config_path ? o->config_path : o->manifests_dir,
           rejected ? "objects rejected" : "ok", cfg->listener_cnt, cfg->backend_cnt);
    alb_config_free(cfg);
    return rejected ? 1 : 0;
}

/* start_cluster() : the API client; the saved state served at once when
 * there is one (else nothing until every kind is listed); then the
 * informers and the status writer. Returns 0, or -1 after printing why. */
static int start_cluster(struct control *c)
{
    const struct options *o = c->o;
    char err[1024];
    c->cluster_opts = (struct alb_cluster_opts){o->kubeconfig,      o->watch_namespace, o->configmap,  o->state_dir,
                                                o->publish_service, o->publish_address, o->election_id};
    if (alb_cluster_connect(&c->cluster, &c->cluster_opts, &c->loop, err, sizeof(err)) < 0) {
        fprintf(stderr, "alb: %s\n", err);
        return -1;
    }
    json_t *saved = alb_cluster_saved_objects(&c->cluster);
    if (saved && publish_from(c, saved) == 0) {
        c->from_state = true;
        alb_log_info("cluster: serving the state saved in %s until the API server is listed", o->state_dir);
    }
    json_decref(saved);
    if (!c->from_state) {
        json_t *none = json_array();
        int rc = publish_from(c, none); /* nothing served until every kind is listed */
        json_decref(none);
        if (rc < 0)
            return -1;
    }
    c->kube_ev.fd = alb_cluster_start(&c->cluster, err, sizeof(err));
    c->kube_ev.fn = on_kube_event;
    if (c->kube_ev.fd < 0 || alb_loop_add(&c->loop, &c->kube_ev, EPOLLIN) < 0) {
        fprintf(stderr, "alb: %s\n", c->kube_ev.fd < 0 ? err : strerror(errno));
        c->kube_ev.fd = -1;
        return -1;
    }
    return 0;
}

static int cmd_serve(const struct options *o)
{
    char err[1024];
    alb_log_set_level(o->log_level);
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);

    /* Signals are read from a signalfd by the control loop: block them
     * before any worker exists so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    static struct control ctl; /* the control thread's state; referenced by callbacks */
    struct control *c = &ctl;
    c->o = o;
    int access_fd = -1;
    c->sig.fd = c->ino.fd = c->admin.io.fd = c->kube_ev.fd = -1;
    int rc = 1;
    unsigned ready = 0, started = 0;
    if (alb_publisher_init(&c->pub) < 0) {
        fprintf(stderr, "alb: eventfd: %s\n", strerror(errno));
        goto out_pub;
    }
    if ((o->manifests_dir || o->cluster) && (!(c->memo = alb_translate_memo_new()) || !(c->resolved = json_object()))) {
        fprintf(stderr, "alb: out of memory\n");
        goto out_pub;
    }
    if (alb_loop_init(&c->loop) < 0) {
        fprintf(stderr, "alb: epoll: %s\n", strerror(errno));
        goto out_pub;
    }
    alb_timer_init(&c->debounce, on_debounce);
    alb_timer_init(&c->ticket_keys, on_ticket_keys);
    if (alb_tls_init(err, sizeof(err)) < 0) {
        fprintf(stderr, "alb: TLS: %s\n", err);
        goto out_loop;
    }
    if (alb_loop_arm(&c->loop, &c->ticket_keys, ALB_TLS_TICKET_ROTATE_MS) < 0) {
        fprintf(stderr, "alb: out of memory\n");
        goto out_loop;
    }
    int reaper = alb_publisher_start_reaper(&c->pub);
    if (reaper < 0) {
        fprintf(stderr, "alb: cannot start the reaper thread: %s\n", strerror(-reaper));
        goto out_loop;
    }
    if (o->manifests_dir || o->cluster) {
        c->resolver = alb_resolver_start(ALB_RESOLVE_REFRESH_MS);
        c->dns.fd = c->resolver ? alb_resolver_fd(c->resolver) : -1;
        c->dns.fn = on_dns;
        if (!c->resolver || alb_loop_add(&c->loop, &c->dns, EPOLLIN) < 0) {
            fprintf(stderr, "alb: cannot start the DNS resolver thread\n");
            goto out_loop;
        }
    }
    if (o->cluster) {
        if (start_cluster(c) < 0)
            goto out_loop; /* the reason was printed */
    } else if (load_and_publish(c) < 0) {
        goto out_loop; /* the reason was logged */
    }
    c->workers = calloc(o->workers, sizeof(*c->workers));
    if (!c->workers) {
        fprintf(stderr, "alb: out of memory\n");
        goto out_loop;
    }
    c->worker_cnt = o->workers;
    for (; ready < o->workers; ready++) {
        if (alb_worker_init(&c->workers[ready], ready, o->workers, &c->pub, o->drain_timeout_ms, err, sizeof(err)) <
            0) {
            fprintf(stderr, "alb: %s\n", err);
            alb_worker_deinit(&c->workers[ready]);
            goto out_workers;
        }
    }
    if (o->access_log && strcmp(o->access_log, "off") != 0) {
        access_fd = open(o->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (access_fd == -1) {
            fprintf(stderr, "alb: --access-log %s: %s\n", o->access_log, strerror(errno));
            goto out_workers;
        }
        for (unsigned i = 0; i < ready; i++) {
            if (alb_worker_set_access_log(&c->workers[i], access_fd, o->log_format) < 0) {
                fprintf(stderr, "alb: out of memory\n");
                goto out_workers;
            }
        }
    }
    if (strcmp(o->admin, "off") != 0) {
        int fd = open_admin_socket(o->admin, err, sizeof(err));
        if (fd < 0) {
            fprintf(stderr, "alb: %s\n", err);
            goto out_workers;
        }
        struct alb_admin_handlers h = {c, admin_is_ready, admin_config_json, admin_metrics};
        if (alb_admin_start(&c->admin, &c->loop, fd, &h) < 0) {
            close(fd);
            fprintf(stderr, "alb: admin: %s\n", strerror(errno));
            goto out_workers;
        }
    }
    c->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    c->sig.fn = on_signal;
    if (c->sig.fd == -1 || alb_loop_add(&c->loop, &c->sig, EPOLLIN) < 0) {
        fprintf(stderr, "alb: signalfd: %s\n", strerror(errno));
        goto out_workers;
    }
    if (!o->cluster && watch_config(c) < 0)
        alb_log_warn("action=\"watching %s\": %s; changes apply on SIGHUP only", c->config_dir, strerror(errno));
    for (; started < ready; started++) {
        if (alb_worker_start(&c->workers[started]) < 0) {
            fprintf(stderr, "alb: cannot start worker thread\n");
            goto out_stop;
        }
    }
    alb_log_info("alb %s serving %zu listeners with %u workers, admin %s (pid %d)", ALB_VERSION,
                 c->pub.current->listener_cnt, o->workers, o->admin, (int)getpid());
    while (!c->stopping) {
        if (alb_loop_run_once(&c->loop, -1) < 0)
            break;
    }
    rc = 0;
out_stop:
    alb_cluster_stop(&c->cluster); /* the Lease first, so that another replica takes over at once */
    for (unsigned i = 0; i < started; i++)
        alb_worker_request_stop(&c->workers[i]);
    for (unsigned i = 0; i < started; i++)
        alb_worker_join(&c->workers[i]);
out_workers:
    for (unsigned i = 0; i < ready; i++)
        alb_worker_deinit(&c->workers[i]);
    free(c->workers);
    if (access_fd != -1)
        close(access_fd);
    alb_admin_stop(&c->admin);
    if (c->sig.fd != -1)
        close(c->sig.fd);
    if (c->ino.fd != -1)
        close(c->ino.fd);
out_loop:
    alb_loop_deinit(&c->loop);
out_pub:
    alb_cluster_deinit(&c->cluster);
    alb_publisher_deinit(&c->pub);
    alb_manifests_deinit(&c->manifests);
    alb_resolver_stop(c->resolver);
    json_decref(c->resolved);
    alb_translate_memo_free(c->memo);
    if (rc == 0)
        alb_log_info("stopped");
    return rc;
}

int main(int argc, char **argv)
{
    /* glibc's fastbins make every larger allocation walk and merge them
     * first; building a snapshot of 100k rules spent a third of its time
     * there. The request path hardly allocates, and tcache still serves
     * small sizes. */
    mallopt(M_MXFAST, 0);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("alb %s\n", ALB_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    struct options o = {0};
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "translate") != 0) {
        fprintf(stderr, "alb: unknown command %s\n", cmd);
        usage(stderr);
        return 2;
    }
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc;
    if (strcmp(cmd, "serve") != 0 && o.cluster) {
        fprintf(stderr, "alb: %s reads --manifests DIR or --config FILE, not a cluster\n", cmd);
        return 2;
    }
    if (strcmp(cmd, "translate") == 0 && !o.manifests_dir) {
        fprintf(stderr, "alb: translate needs --manifests DIR\n");
        return 2;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&o);
    return cmd_check(&o, strcmp(cmd, "translate") == 0);
}
