/* tests/unit/core/base64_test.c : base64 as Secrets carry it. */
#include "core/base64.h"
#include "test.h"

static ssize_t dec(const char *in, unsigned char *out) { return alb_base64_decode(in, strlen(in), out, 64); }

static void test_decode(void)
{
    unsigned char out[64];
    CHECK_EQ_INT(dec("aGVsbG8=", out), 5);
    CHECK(!memcmp(out, "hello", 5));
    CHECK_EQ_INT(dec("aGVsbG8h", out), 6);
    CHECK_EQ_INT(dec("aGk=\n", out), 2);
    CHECK_EQ_INT(dec("aG\nVsbG8=", out), 5);
    CHECK_EQ_INT(dec("", out), 0);
    CHECK_EQ_INT(dec("aGVsbG8", out), -1);    /* not a whole quantum */
    CHECK_EQ_INT(dec("aGk=aGk=", out), -1);   /* data after padding */
    CHECK_EQ_INT(dec("a===", out), -1);
    CHECK_EQ_INT(dec("aG!s", out), -1);
    CHECK_EQ_INT(alb_base64_decode("aGVsbG8=", 8, out, 4), -1); /* no room */
}

TEST_MAIN(TEST_ENTRY(test_decode))
