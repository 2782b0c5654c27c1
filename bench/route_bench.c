/* bench/route_bench.c : route matching at 10, 1k, 10k and 100k rules.
 * Rules: hosts with 10 paths each (Prefix and Exact, 2-4 segments deep),
 * 10k hosts at 100k rules, plus one host-less catch-all. Requests: a random
 * existing host and a path 1-5 segments deep (some match deeper prefixes,
 * some miss). Reports the median and p99 of single lookups, the time to
 * parse + validate the JSON and to compile the tables, and the RSS they
 * take. A benchmark: it prints numbers and asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <time.h>

#include "config/config.h"
#include "config/regex.h"
#include "route/route.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run(size_t hosts, size_t paths_per_host)
{
    size_t rules = hosts * paths_per_host;
    size_t cap = rules * 200 + 4096;
    char *text = malloc(cap);
    size_t n = (size_t)snprintf(text, cap, "{\"version\":1,\"backends\":[{\"name\":\"b\"}],\"listeners\":[{\"port\":80,"
                                           "\"rules\":[");
    for (size_t h = 0; h < hosts; h++)
        for (size_t p = 0; p < paths_per_host; p++)
            n += (size_t)snprintf(text + n, cap - n,
                                  "{\"match\":{\"hosts\":[\"host%zu.example.com\"],\"path\":{\"type\":\"%s\","
                                  "\"value\":\"/svc%zu/api/v%zu\"}},\"actions\":[{\"type\":\"forward\","
                                  "\"backend\":\"b\"}]},",
                                  h, p % 3 ? "Prefix" : "Exact", p, p % 4);
    n += (size_t)snprintf(text + n, cap - n, "{\"actions\":[{\"type\":\"forward\",\"backend\":\"b\"}]}]}]}");
    char err[512];
    long rss0 = rss_kib();
    size_t heap0 = mallinfo2().uordblks;
    double t0 = now_s();
    struct alb_config *cfg = alb_config_parse(text, n, "127.0.0.1", err, sizeof(err));
    double t1 = now_s();
    free(text);
    if (!cfg || alb_route_compile(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "route_bench: %s\n", err);
        exit(1);
    }
    double t2 = now_s();
    long rss_peak = rss_kib();
    malloc_trim(0); /* give back what the JSON parser freed */
    long rss1 = rss_kib();
    size_t heap1 = mallinfo2().uordblks;

    struct alb_regex_scratch *scratch = alb_regex_scratch_new();
    enum { LOOKUPS = 200000 };
    static uint64_t ns[LOOKUPS];
    static char reqs[LOOKUPS][2][64];
    for (size_t i = 0; i < LOOKUPS; i++) {
        /* mostly a rule's own path, sometimes deeper, sometimes a miss */
        snprintf(reqs[i][0], 64, "host%u.example.com", rnd((uint32_t)hosts));
        uint32_t p = rnd((uint32_t)paths_per_host), kind = rnd(10);
        int k = snprintf(reqs[i][1], 64, "/svc%u/api/v%u", p, kind < 8 ? p % 4 : (p + 1) % 4);
        if (kind % 2)
            snprintf(reqs[i][1] + k, 64 - (size_t)k, "/users/42");
    }
    size_t matched = 0;
    for (size_t i = 0; i < LOOKUPS; i++) {
        struct alb_route_req q = {reqs[i][0], strlen(reqs[i][0]), reqs[i][1], strlen(reqs[i][1]),
                                  {"GET", 3}, NULL, 0, {"", 0}, NULL};
        struct alb_route_result r;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        bool ok = alb_route_match(&cfg->listeners[0], &q, scratch, &r);
        clock_gettime(CLOCK_MONOTONIC, &b);
        matched += ok && r.rule->host_cnt; /* a host rule, not the catch-all */
        ns[i] = (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
    }
    qsort(ns, LOOKUPS, sizeof(ns[0]), cmp_u64);
    printf("%7zu rules %6zu hosts: match median %4llu ns, p99 %5llu ns (%2.0f%% by a host rule) | "
           "parse+validate %6.1f ms, compile %5.1f ms, heap kept %6.1f MiB, RSS %6.1f MiB (peak %6.1f)\n",
           rules, hosts, (unsigned long long)ns[LOOKUPS / 2], (unsigned long long)ns[LOOKUPS * 99 / 100],
           100.0 * (double)matched / LOOKUPS, (t1 - t0) * 1000, (t2 - t1) * 1000, (double)(heap1 - heap0) / 1048576, (double)(rss1 - rss0) / 1024,
           (double)(rss_peak - rss0) / 1024);
    alb_regex_scratch_free(scratch);
    alb_config_free(cfg);
}

int main(void)
{
    printf("route_bench: single lookups timed with CLOCK_MONOTONIC (includes ~20 ns of clock overhead)\n");
    run(1, 10);
    run(100, 10);
    run(1000, 10);
    run(10000, 10);
    return 0;
}
