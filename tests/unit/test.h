/* tests/unit/test.h : a minimal test harness. Each test file defines
 * TESTS(...) and gets a main() that runs them all and prints the closing
 * "N passed, N failed" line. A failed check reports file:line and the
 * expression, and the test continues so one run shows every failure. */
#ifndef ALB_TEST_H
#define ALB_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_in_current;

#define CHECK(cond)                                                                                    \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                 \
            test_failures_in_current++;                                                                \
        }                                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                             \
    do {                                                                                               \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                          \
        if (va_ != vb_) {                                                                              \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, va_, \
                    #b, vb_);                                                                          \
            test_failures_in_current++;                                                                \
        }                                                                                              \
    } while (0)

#define CHECK_EQ_STR(a, alen, b)                                                                       \
    do {                                                                                               \
        size_t la_ = (alen), lb_ = strlen(b);                                                          \
        if (la_ != lb_ || memcmp((a), (b), la_) != 0) {                                                \
            fprintf(stderr, "  %s:%d: %s is \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
                    (int)la_, (const char *)(a), (b));                                                 \
            test_failures_in_current++;                                                                \
        }                                                                                              \
    } while (0)

struct test_case {
    const char *name;
    void (*fn)(void);
};

static inline int test_run_all(const struct test_case *cases, size_t n)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        test_failures_in_current = 0;
        cases[i].fn();
        if (test_failures_in_current) {
            fprintf(stderr, "FAIL %s\n", cases[i].name);
            failed++;
        } else {
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define TEST_ENTRY(fn) {#fn, fn}
#define TEST_MAIN(...)                                                                                 \
    int main(void)                                                                                     \
    {                                                                                                  \
        static const struct test_case cases_[] = {__VA_ARGS__};                                        \
        return test_run_all(cases_, sizeof(cases_) / sizeof(cases_[0]));                              \
    }

#endif
