/* lb/ratelimit.h : token buckets for the traffic_limit action.
 *
 * A bucket holds at most one second's worth of tokens (qps) and refills
 * continuously at qps per second; a request takes one token or is refused.
 * The rule-wide bucket is shared by every worker (compare-and-swap on one
 * word), so a limit of N means N for the whole load balancer, not per
 * worker. Any thread.
 */
#ifndef ALB_LB_RATELIMIT_H
#define ALB_LB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

/* alb_bucket_take() : takes a token from <b> refilled at <qps> up to
 * <now_ms> (a monotonic clock). False when the bucket is empty. */
bool alb_bucket_take(struct alb_bucket *b, uint32_t qps, uint64_t now_ms);

/* alb_ip_bucket_take() : the same for the bucket of <peer>'s address in
 * <table> (ALB_IP_BUCKETS slots). */
bool alb_ip_bucket_take(struct alb_ip_bucket *table, uint32_t qps, const struct sockaddr *peer, uint64_t now_ms);

#endif
