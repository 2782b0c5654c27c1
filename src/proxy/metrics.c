/* proxy/metrics.c : see metrics.h. */
#include "proxy/metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/worker.h"

struct row {
    const char *name; /* borrowed from a worker's stats entry (never freed while it runs) */
    uint64_t requests[ALB_STATUS_CLASSES];
    int64_t active;
    int64_t h2_connections, h2_cut; /* counters; int64_t as <active>, for one renderer */
};

void alb_metrics_label_escape(struct alb_sbuf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            alb_sbuf_add(out, "\\", 1);
        if (*s == '\n')
            alb_sbuf_add(out, "\\n", 2);
        else
            alb_sbuf_add(out, s, 1);
    }
}

void alb_proxy_metrics_render(struct alb_worker *workers, unsigned worker_cnt, struct alb_sbuf *out)
{
    struct row *rows = calloc((size_t)worker_cnt * ALB_MAX_LISTENER_STATS, sizeof(*rows));
    size_t row_cnt = 0;
    if (!rows) {
        out->failed = true;
        return;
    }
    for (unsigned w = 0; w < worker_cnt; w++) {
        size_t cnt = atomic_load_explicit(&workers[w].stats_cnt, memory_order_acquire);
        for (size_t i = 0; i < cnt; i++) {
            struct alb_listener_stats *st = &workers[w].stats[i];
            size_t r = 0;
            while (r < row_cnt && strcmp(rows[r].name, st->name) != 0)
                r++;
            if (r == row_cnt)
                rows[row_cnt++].name = st->name;
            for (int k = 0; k < ALB_STATUS_CLASSES; k++)
                rows[r].requests[k] += atomic_load_explicit(&st->requests[k], memory_order_relaxed);
            rows[r].active += atomic_load_explicit(&st->active, memory_order_relaxed);
            rows[r].h2_connections += atomic_load_explicit(&st->h2_connections, memory_order_relaxed);
            rows[r].h2_cut += atomic_load_explicit(&st->h2_cut, memory_order_relaxed);
        }
    }
    alb_sbuf_printf(out, "# HELP alb_requests_total Requests answered, by listener and status class.\n"
                         "# TYPE alb_requests_total counter\n");
    for (size_t r = 0; r < row_cnt; r++) {
        for (int k = 0; k < ALB_STATUS_CLASSES; k++) {
            alb_sbuf_printf(out, "alb_requests_total{listener=\"");
            alb_metrics_label_escape(out, rows[r].name);
            alb_sbuf_printf(out, "\",class=\"%dxx\"} %" PRIu64 "\n", k + 1, rows[r].requests[k]);
        }
    }
    static const struct {
        const char *name, *type, *help;
        size_t field; /* of struct row: an int64_t */
    } per_listener[] = {
        {"alb_active_connections", "gauge", "Open client connections, by listener.", offsetof(struct row, active)},
        {"alb_http2_connections_total", "counter", "Client connections that spoke HTTP/2, by listener.",
         offsetof(struct row, h2_connections)},
        {"alb_http2_connections_cut_total", "counter",
         "HTTP/2 connections ended with an error GOAWAY (floods, rapid reset, oversized header blocks, protocol "
         "errors), by listener.",
         offsetof(struct row, h2_cut)},
    };
    for (size_t m = 0; m < sizeof(per_listener) / sizeof(per_listener[0]); m++) {
        alb_sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", per_listener[m].name, per_listener[m].help,
                        per_listener[m].name, per_listener[m].type);
        for (size_t r = 0; r < row_cnt; r++) {
            int64_t v;
            memcpy(&v, (const char *)&rows[r] + per_listener[m].field, sizeof(v));
            alb_sbuf_printf(out, "%s{listener=\"", per_listener[m].name);
            alb_metrics_label_escape(out, rows[r].name);
            alb_sbuf_printf(out, "\"} %" PRId64 "\n", v);
        }
    }
    free(rows);
}
