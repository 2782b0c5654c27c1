/* lb/ratelimit.c : see ratelimit.h. */
#include "lb/ratelimit.h"

#include <netinet/in.h>
#include <string.h>

#define TIME_BITS 36
#define TOKEN_BITS 28
#define TIME_MASK ((UINT64_C(1) << TIME_BITS) - 1)
#define TOKEN_MASK ((UINT64_C(1) << TOKEN_BITS) - 1)
#define STATE_EMPTY UINT64_C(0) /* never written: a fresh, full bucket */

/* Refills <tokens> (thousandths) over <elapsed_ms> at <qps>: qps tokens per
 * second are exactly qps thousandths per millisecond. */
static uint64_t refill(uint64_t tokens, uint64_t elapsed_ms, uint32_t qps)
{
    uint64_t cap = (uint64_t)qps * 1000;
    uint64_t add = elapsed_ms > cap ? cap : elapsed_ms * qps; /* no overflow */
    return tokens + add > cap ? cap : tokens + add;
}

bool alb_bucket_take(struct alb_bucket *b, uint32_t qps, uint64_t now_ms)
{
    uint64_t now = now_ms & TIME_MASK;
    uint64_t old = atomic_load_explicit(&b->state, memory_order_relaxed);
    for (;;) {
        uint64_t tokens, when = now;
        if (old == STATE_EMPTY) {
            tokens = (uint64_t)qps * 1000;
        } else {
            uint64_t last = old >> TOKEN_BITS;
            uint64_t elapsed = (now - last) & TIME_MASK;
            /* Another thread may have stored a slightly later clock: a
             * "negative" interval refills nothing and keeps its time. */
            if (elapsed >= (UINT64_C(1) << (TIME_BITS - 1))) {
                elapsed = 0;
                when = last;
            }
            tokens = refill(old & TOKEN_MASK, elapsed, qps);
        }
        if (tokens < 1000)
            return false;
        tokens -= 1000;
        /* a state equal to STATE_EMPTY would read as full: never store it */
        uint64_t next = (when << TOKEN_BITS) | tokens;
        if (next == STATE_EMPTY)
            next = 1;
        if (atomic_compare_exchange_weak_explicit(&b->state, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
}

static uint64_t ip_key(const struct sockaddr *sa)
{
    /* FNV-1a over the address bytes; IPv4-mapped IPv6 as IPv4 */
    const uint8_t *p;
    size_t n;
    if (sa->sa_family == AF_INET) {
        p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        n = 4;
    } else {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        p = IN6_IS_ADDR_V4MAPPED(a6) ? &a6->s6_addr[12] : a6->s6_addr;
        n = IN6_IS_ADDR_V4MAPPED(a6) ? 4 : 16;
    }
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h | 1; /* 0 marks a free slot */
}

bool alb_ip_bucket_take(struct alb_ip_bucket *table, uint32_t qps, const struct sockaddr *peer, uint64_t now_ms)
{
    uint64_t key = ip_key(peer);
    struct alb_ip_bucket *s = &table[key % ALB_IP_BUCKETS];
    while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire)) {
    }
    if (s->ip_key != key) {
        s->ip_key = key; /* a new (or evicted) client starts with a full bucket */
        s->last_ms = now_ms;
        s->tokens_milli = qps * 1000u;
    } else {
        uint64_t elapsed = now_ms > s->last_ms ? now_ms - s->last_ms : 0;
        s->tokens_milli = (uint32_t)refill(s->tokens_milli, elapsed, qps);
        s->last_ms = now_ms;
    }
    bool ok = s->tokens_milli >= 1000;
    if (ok)
        s->tokens_milli -= 1000;
    atomic_flag_clear_explicit(&s->lock, memory_order_release);
    return ok;
}
