/* tests/unit/lb/ratelimit_test.c : token buckets against a simple model,
 * with a controlled clock; the shared bucket under concurrent takers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

#include "lb/ratelimit.h"
#include "test.h"

static void test_bucket_refills_at_rate(void)
{
    struct alb_bucket b;
    atomic_init(&b.state, 0);
    uint64_t t = 5000;
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += alb_bucket_take(&b, 10, t);
    CHECK_EQ_INT(ok, 10); /* a full bucket is one second's worth */
    CHECK(!alb_bucket_take(&b, 10, t + 50)); /* 0.5 token after 50 ms */
    CHECK(alb_bucket_take(&b, 10, t + 100)); /* 1 token after 100 ms */
    CHECK(!alb_bucket_take(&b, 10, t + 100));
    /* over a long run: the rate, not more */
    ok = 0;
    for (uint64_t ms = 0; ms < 10000; ms++)
        ok += alb_bucket_take(&b, 10, t + 100 + ms);
    CHECK(ok >= 99 && ok <= 101);
    /* a clock read slightly earlier by another thread refills nothing */
    CHECK(!alb_bucket_take(&b, 10, t + 100 + 9998));
    /* after idling it is full again, not more */
    ok = 0;
    for (int i = 0; i < 30; i++)
        ok += alb_bucket_take(&b, 10, t + 60000);
    CHECK_EQ_INT(ok, 10);
}

static void test_ip_buckets_are_per_address(void)
{
    static struct alb_ip_bucket table[ALB_IP_BUCKETS];
    for (size_t i = 0; i < ALB_IP_BUCKETS; i++)
        atomic_flag_clear(&table[i].lock);
    struct sockaddr_in a = {.sin_family = AF_INET}, b = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.0.0.1", &a.sin_addr);
    inet_pton(AF_INET, "10.0.0.2", &b.sin_addr);
    int ok_a = 0, ok_b = 0;
    for (int i = 0; i < 10; i++) {
        ok_a += alb_ip_bucket_take(table, 3, (struct sockaddr *)&a, 1000);
        ok_b += alb_ip_bucket_take(table, 3, (struct sockaddr *)&b, 1000);
    }
    CHECK_EQ_INT(ok_a, 3);
    CHECK_EQ_INT(ok_b, 3);
    CHECK(alb_ip_bucket_take(table, 3, (struct sockaddr *)&a, 1334));
    /* IPv4-mapped IPv6 is the same client */
    struct sockaddr_in6 m = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.0.0.2", &m.sin6_addr);
    CHECK(!alb_ip_bucket_take(table, 3, (struct sockaddr *)&m, 1000));
}

static struct alb_bucket shared;
static atomic_int granted;

static void *taker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        if (alb_bucket_take(&shared, 1000, 777))
            atomic_fetch_add(&granted, 1);
    return NULL;
}

static void test_shared_bucket_never_over_grants(void)
{
    atomic_init(&shared.state, 0);
    atomic_init(&granted, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, taker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(atomic_load(&granted), 1000); /* exactly the bucket, at a frozen clock */
}

TEST_MAIN(TEST_ENTRY(test_bucket_refills_at_rate), TEST_ENTRY(test_ip_buckets_are_per_address),
          TEST_ENTRY(test_shared_bucket_never_over_grants))
