/* proxy/metrics.h : Prometheus text for the workers' counters, summed over
 * workers by listener name. Control thread; reads the single-writer
 * counters of running workers without stopping them. */
#ifndef ALB_PROXY_METRICS_H
#define ALB_PROXY_METRICS_H

#include "core/sbuf.h"

struct alb_worker;

void alb_proxy_metrics_render(struct alb_worker *workers, unsigned worker_cnt, struct alb_sbuf *out);

/* alb_metrics_label_escape() : appends <s> as a Prometheus label value
 * (backslash, double quote and newline escaped). */
void alb_metrics_label_escape(struct alb_sbuf *out, const char *s);

#endif
