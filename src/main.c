/* main.c : flags, wiring and signals.
 *
 * The main thread loads the configuration, binds every worker's listening
 * sockets (so a bad port fails start-up before anything serves), starts the
 * workers and then only waits for SIGTERM/SIGINT, which start a graceful
 * stop: workers stop accepting, finish in-flight requests within the drain
 * timeout and exit; the process exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "proxy/worker.h"

#ifndef ALB_VERSION
#define ALB_VERSION "0.1.0-dev"
#endif

#define DEFAULT_DRAIN_TIMEOUT_MS 30000u
#define MAX_WORKERS 256

struct options {
    const char *config_path;
    const char *listen_address;
    unsigned workers;
    uint32_t drain_timeout_ms;
    enum alb_log_level log_level;
};

static void usage(FILE *f)
{
    fprintf(f, "usage:\n"
               "  alb serve --config FILE [--listen-address ADDR] [--workers N]\n"
               "            [--drain-timeout-ms MS] [--log-level error|warn|info|debug]\n"
               "  alb check --config FILE\n"
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
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long n;
        if (!v) {
            fprintf(stderr, "alb: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--config") == 0) {
            o->config_path = v;
        } else if (strcmp(a, "--listen-address") == 0) {
            o->listen_address = v;
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
    if (!o->config_path) {
        fprintf(stderr, "alb: --config FILE is required\n");
        usage(stderr);
        return 2;
    }
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

static int cmd_check(const struct options *o)
{
    char err[1024];
    struct alb_config *cfg = alb_config_load_file(o->config_path, o->listen_address, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "alb: %s\n", err);
        return 1;
    }
    printf("%s: ok (%zu listeners, %zu backends)\n", o->config_path, cfg->listener_cnt, cfg->backend_cnt);
    alb_config_free(cfg);
    return 0;
}

static int cmd_serve(const struct options *o)
{
    char err[1024];
    alb_log_set_level(o->log_level);
    struct alb_config *cfg = alb_config_load_file(o->config_path, o->listen_address, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "alb: %s\n", err);
        return 1;
    }
    raise_fd_limit();

    /* Signals go to the main thread's sigwait only: block them before any
     * worker exists so the workers inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct alb_worker *workers = calloc(o->workers, sizeof(*workers));
    if (!workers) {
        fprintf(stderr, "alb: out of memory\n");
        alb_config_free(cfg);
        return 1;
    }
    unsigned ready = 0;
    int rc = 0;
    for (; ready < o->workers; ready++) {
        if (alb_worker_init(&workers[ready], ready, o->workers, cfg, o->drain_timeout_ms, err, sizeof(err)) < 0) {
            fprintf(stderr, "alb: %s\n", err);
            alb_worker_deinit(&workers[ready]);
            rc = 1;
            break;
        }
    }
    unsigned started = 0;
    for (; rc == 0 && started < ready; started++) {
        if (alb_worker_start(&workers[started]) < 0) {
            fprintf(stderr, "alb: cannot start worker thread\n");
            rc = 1;
            break;
        }
    }
    if (rc == 0) {
        alb_log_info("alb %s serving %zu listeners with %u workers (pid %d)", ALB_VERSION, cfg->listener_cnt,
                     o->workers, (int)getpid());
        for (;;) {
            int sig;
            if (sigwait(&set, &sig) != 0)
                continue;
            if (sig == SIGHUP) {
                alb_log_info("SIGHUP ignored: configuration changes are applied live by the routing-engine issue");
                continue;
            }
            alb_log_info("signal %d: draining (timeout %u ms)", sig, o->drain_timeout_ms);
            break;
        }
    }
    for (unsigned i = 0; i < started; i++)
        alb_worker_request_stop(&workers[i]);
    for (unsigned i = 0; i < started; i++)
        alb_worker_join(&workers[i]);
    for (unsigned i = 0; i < ready; i++)
        alb_worker_deinit(&workers[i]);
    free(workers);
    alb_config_free(cfg);
    if (rc == 0)
        alb_log_info("stopped");
    return rc;
}

int main(int argc, char **argv)
{
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
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "check") != 0) {
        fprintf(stderr, "alb: unknown command %s\n", cmd);
        usage(stderr);
        return 2;
    }
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc;
    return strcmp(cmd, "serve") == 0 ? cmd_serve(&o) : cmd_check(&o);
}
