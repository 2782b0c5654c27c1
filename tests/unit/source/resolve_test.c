/* tests/unit/source/resolve_test.c : the resolver thread answers the names
 * it is asked for, tells through its eventfd, and forgets names no longer
 * wanted. ("localhost" resolves from /etc/hosts, without DNS.) */
#include <poll.h>
#include <stdbool.h>

#include "source/resolve.h"
#include "test.h"

static bool wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 10000) == 1;
}

static void test_answers_and_forgets(void)
{
    struct alb_resolver *r = alb_resolver_start(60000);
    CHECK(r != NULL);
    if (!r)
        return;
    json_t *names = json_pack("[s,s]", "localhost", "name-that-does-not-exist.invalid");
    alb_resolver_want(r, names);
    json_t *answers = NULL;
    for (int i = 0; i < 20 && json_object_size(answers) < 2; i++) {
        CHECK(wait_readable(alb_resolver_fd(r)));
        json_decref(answers);
        answers = alb_resolver_answers(r);
    }
    json_t *local = json_object_get(answers, "localhost");
    bool has_loopback = false;
    for (size_t i = 0; i < json_array_size(local); i++)
        has_loopback |= !strcmp(json_string_value(json_array_get(local, i)), "127.0.0.1") ||
                        !strcmp(json_string_value(json_array_get(local, i)), "::1");
    CHECK(has_loopback);
    CHECK(json_is_array(json_object_get(answers, "name-that-does-not-exist.invalid")));
    CHECK_EQ_INT(json_array_size(json_object_get(answers, "name-that-does-not-exist.invalid")), 0);
    json_decref(answers);
    /* the same names again: nothing to do; fewer: the others are forgotten */
    alb_resolver_want(r, names);
    json_decref(names);
    names = json_pack("[s]", "localhost");
    alb_resolver_want(r, names);
    answers = alb_resolver_answers(r);
    CHECK(json_object_get(answers, "name-that-does-not-exist.invalid") == NULL);
    json_decref(answers);
    json_decref(names);
    alb_resolver_stop(r);
}

TEST_MAIN(TEST_ENTRY(test_answers_and_forgets))
