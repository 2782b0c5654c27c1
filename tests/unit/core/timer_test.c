/* tests/unit/core/timer_test.c : the timer heap against a naive reference
 * (an array scanned for due deadlines) under random arm/re-arm/disarm. */
#include "core/timer.h"
#include "test.h"

#define N 200

static struct alb_timer timers[N];
static uint64_t ref_deadline[N]; /* 0: not armed */
static bool fired[N];

static void on_fire(struct alb_timer *t) { fired[t - timers] = true; }

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_against_reference(void)
{
    struct alb_timer_heap h;
    alb_timer_heap_init(&h);
    for (int i = 0; i < N; i++)
        alb_timer_init(&timers[i], on_fire);
    uint64_t now = 1000;
    for (int round = 0; round < 20000; round++) {
        int i = (int)(next_rand() % N);
        switch (next_rand() % 4) {
        case 0:
        case 1: { /* arm or move, earlier or later */
            uint64_t d = now + next_rand() % 500;
            CHECK_EQ_INT(alb_timer_heap_arm(&h, &timers[i], d), 0);
            ref_deadline[i] = d;
            break;
        }
        case 2:
            alb_timer_heap_disarm(&h, &timers[i]);
            ref_deadline[i] = 0;
            break;
        case 3: {
            now += next_rand() % 50;
            memset(fired, 0, sizeof(fired));
            alb_timer_heap_run(&h, now);
            for (int k = 0; k < N; k++) {
                bool due = ref_deadline[k] && ref_deadline[k] <= now;
                if (due != fired[k])
                    fprintf(stderr, "  timer %d: due=%d fired=%d\n", k, due, fired[k]);
                CHECK(due == fired[k]);
                if (due)
                    ref_deadline[k] = 0;
                CHECK(alb_timer_is_armed(&timers[k]) == (ref_deadline[k] != 0));
            }
            break;
        }
        }
        if (test_failures_in_current)
            break;
    }
    alb_timer_heap_deinit(&h);
}

static void test_next_ms(void)
{
    struct alb_timer_heap h;
    struct alb_timer t;
    alb_timer_heap_init(&h);
    alb_timer_init(&t, on_fire);
    CHECK_EQ_INT(alb_timer_heap_next_ms(&h, 0), -1);
    CHECK_EQ_INT(alb_timer_heap_arm(&h, &t, 150), 0);
    CHECK_EQ_INT(alb_timer_heap_next_ms(&h, 100), 50);
    CHECK_EQ_INT(alb_timer_heap_next_ms(&h, 200), 0);
    alb_timer_heap_deinit(&h);
}

TEST_MAIN(TEST_ENTRY(test_against_reference), TEST_ENTRY(test_next_ms))
