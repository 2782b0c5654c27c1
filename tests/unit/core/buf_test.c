/* tests/unit/core/buf_test.c : buffers and their pool. */
#include "core/buf.h"
#include "test.h"

static void test_consume_rewinds(void)
{
    struct alb_bufpool p;
    alb_bufpool_init(&p, 2);
    struct alb_buf *b = alb_bufpool_try_get(&p);
    CHECK(b != NULL);
    memcpy(alb_buf_tail(b), "hello", 5);
    b->end += 5;
    alb_buf_consume(b, 2);
    CHECK_EQ_STR(alb_buf_head(b), alb_buf_len(b), "llo");
    alb_buf_compact(b);
    CHECK_EQ_INT(b->start, 0);
    CHECK_EQ_STR(alb_buf_head(b), alb_buf_len(b), "llo");
    alb_buf_consume(b, 3);
    CHECK(alb_buf_is_empty(b));
    CHECK_EQ_INT(alb_buf_room(b), ALB_BUF_CAP);
    alb_bufpool_put(&p, b);
    alb_bufpool_deinit(&p);
}

static void test_pool_bounds_what_it_keeps(void)
{
    struct alb_bufpool p;
    alb_bufpool_init(&p, 2);
    struct alb_buf *b[4];
    for (int i = 0; i < 4; i++)
        b[i] = alb_bufpool_try_get(&p);
    CHECK_EQ_INT(p.out_cnt, 4);
    for (int i = 0; i < 4; i++)
        alb_bufpool_put(&p, b[i]);
    CHECK_EQ_INT(p.out_cnt, 0);
    CHECK_EQ_INT(p.free_cnt, 2);
    struct alb_buf *again = alb_bufpool_try_get(&p);
    CHECK(again == b[1]); /* the last one kept is reused first */
    CHECK_EQ_INT(alb_buf_len(again), 0);
    alb_bufpool_put(&p, again);
    alb_bufpool_put(&p, NULL);
    alb_bufpool_deinit(&p);
}

TEST_MAIN(TEST_ENTRY(test_consume_rewinds), TEST_ENTRY(test_pool_bounds_what_it_keeps))
