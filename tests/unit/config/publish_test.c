/* tests/unit/config/publish_test.c : snapshots are freed exactly when the
 * last reference goes, including while readers on other threads acquire
 * and release them during publishes (ASan turns a use-after-free or a leak
 * into a failure). */
#include <pthread.h>
#include <unistd.h>

#include "config/publish.h"
#include "test.h"

static const char cfg_text[] = "{\"version\":1,\"listeners\":[{\"port\":8080}]}";

static struct alb_config *make(void)
{
    char err[256];
    struct alb_config *c = alb_config_parse(cfg_text, sizeof(cfg_text) - 1, "127.0.0.1", err, sizeof(err));
    if (!c)
        fprintf(stderr, "  %s\n", err);
    return c;
}

static void test_generations_and_refs(void)
{
    struct alb_publisher p;
    CHECK(alb_publisher_init(&p) == 0);
    uint64_t gen;
    CHECK(alb_publisher_acquire(&p, &gen) == NULL);
    CHECK_EQ_INT(gen, 0);
    CHECK_EQ_INT(alb_publisher_publish(&p, make()), 1);
    struct alb_config *held = alb_publisher_acquire(&p, &gen);
    CHECK_EQ_INT(gen, 1);
    CHECK_EQ_INT(held->generation, 1);
    CHECK_EQ_INT(alb_publisher_publish(&p, make()), 2);
    /* the first snapshot is still usable by its holder */
    CHECK_EQ_INT(atomic_load(&held->refcnt), 1);
    CHECK_EQ_INT(held->listeners[0].port, 8080);
    alb_config_unref(held);
    struct alb_config *cur = alb_publisher_acquire(&p, &gen);
    CHECK_EQ_INT(gen, 2);
    CHECK_EQ_INT(atomic_load(&cur->refcnt), 2);
    alb_config_unref(cur);
    alb_publisher_deinit(&p);
}

static struct alb_publisher shared;
static atomic_bool done;

static void *reader(void *arg)
{
    (void)arg;
    uint64_t last = 0;
    while (!atomic_load(&done)) {
        uint64_t gen;
        struct alb_config *c = alb_publisher_acquire(&shared, &gen);
        if (c) {
            if (gen < last || c->listeners[0].port != 8080)
                test_failures_in_current++;
            last = gen;
            if (gen % 2) /* as a worker does: the last reference retires it */
                alb_publisher_release(&shared, c);
            else
                alb_config_unref(c);
        }
    }
    return NULL;
}

/* A worker's last reference does not free the snapshot: it waits, readable
 * on retire_fd, until the control thread frees it. */
static void test_release_retires(void)
{
    struct alb_publisher p;
    CHECK(alb_publisher_init(&p) == 0);
    uint64_t gen;
    alb_publisher_publish(&p, make());
    struct alb_config *held = alb_publisher_acquire(&p, &gen);
    alb_publisher_publish(&p, make());
    alb_publisher_release(&p, held);
    CHECK(atomic_load(&p.retired) == held);
    CHECK_EQ_INT(held->listeners[0].port, 8080); /* not freed: ASan would object */
    uint64_t n = 0;
    CHECK(read(p.retire_fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && n == 1);
    alb_publisher_free_retired(&p);
    CHECK(atomic_load(&p.retired) == NULL);
    alb_publisher_deinit(&p);
}

static void test_concurrent_readers(void)
{
    CHECK(alb_publisher_init(&shared) == 0);
    atomic_store(&done, false);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (int i = 0; i < 2000; i++) {
        alb_publisher_publish(&shared, make());
        if (i % 64 == 0)
            alb_publisher_free_retired(&shared);
    }
    atomic_store(&done, true);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(alb_publisher_generation(&shared), 2000);
    alb_publisher_deinit(&shared);
}

TEST_MAIN(TEST_ENTRY(test_generations_and_refs), TEST_ENTRY(test_release_retires), TEST_ENTRY(test_concurrent_readers))
