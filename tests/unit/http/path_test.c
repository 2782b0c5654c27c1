/* tests/unit/http/path_test.c : routing path normalisation. */
#include "http/path.h"
#include "test.h"

static void expect(const char *in, const char *out)
{
    char buf[256];
    long n = alb_path_normalize(in, strlen(in), buf, sizeof(buf));
    if (n < 0) {
        fprintf(stderr, "  %s rejected\n", in);
        CHECK(n >= 0);
        return;
    }
    CHECK_EQ_STR(buf, (size_t)n, out);
}

static void expect_reject(const char *in)
{
    char buf[256];
    CHECK_EQ_INT(alb_path_normalize(in, strlen(in), buf, sizeof(buf)), -1);
}

static void test_plain(void)
{
    expect("/", "/");
    expect("/a/b", "/a/b");
    expect("/a/b?x=/../y", "/a/b");
    expect("/a//b", "/a//b");
}

/* RFC 3986 §5.2.4 and §5.4 examples, as absolute paths. */
static void test_dot_segments(void)
{
    expect("/a/b/c/./../../g", "/a/g");
    expect("/mid/content=5/../6", "/mid/6");
    expect("/a/./b", "/a/b");
    expect("/a/.", "/a/");
    expect("/a/..", "/");
    expect("/..", "/");
    expect("/../../x", "/x");
    expect("/a/b/..", "/a/");
    expect("/a/b/../", "/a/");
    expect("/a/...", "/a/...");
    expect("/a/.b", "/a/.b");
    expect("/admin/../public", "/public");
}

static void test_decoding(void)
{
    expect("/%61%62%63", "/abc");
    expect("/a%2fb", "/a%2Fb"); /* '/' stays encoded: it is not a separator */
    expect("/%7e%2D%5f%2E", "/~-_.");
    expect("/a/%2e%2E/b", "/b"); /* encoded dot segments are dot segments */
    expect("/%20", "/%20");
    expect("/%c3%a9", "/%C3%A9");
}

static void test_rejects(void)
{
    expect_reject("/%00");
    expect_reject("/%");
    expect_reject("/%4");
    expect_reject("/%zz");
    expect_reject("/a%g0");
}

TEST_MAIN(TEST_ENTRY(test_plain), TEST_ENTRY(test_dot_segments), TEST_ENTRY(test_decoding), TEST_ENTRY(test_rejects))
