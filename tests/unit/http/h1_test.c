/* tests/unit/http/h1_test.c : the HTTP/1.1 parser: accepted forms, every
 * rejection rule, and the same result whether a message arrives whole or
 * one byte at a time. */
#include "http/h1.h"
#include "test.h"

static struct alb_h1_msg msg;

/* Feeds <s> whole. */
static enum alb_h1_result parse_req(const char *s)
{
    size_t scanned = 0;
    return alb_h1_parse_request(s, strlen(s), &scanned, &msg);
}

/* Feeds <s> one byte more per call, as a slow client would. Returns the
 * result of the first non-MORE call (or MORE) and checks it matches the
 * whole parse, head length and status included. */
static enum alb_h1_result parse_req_bytewise(const char *s)
{
    size_t len = strlen(s), scanned = 0;
    enum alb_h1_result r = ALB_H1_MORE;
    static struct alb_h1_msg m2;
    size_t i;
    for (i = 1; i <= len; i++) {
        r = alb_h1_parse_request(s, i, &scanned, &m2);
        if (r != ALB_H1_MORE)
            break;
    }
    enum alb_h1_result whole = parse_req(s);
    CHECK_EQ_INT(r, whole);
    if (r == ALB_H1_DONE) {
        CHECK_EQ_INT(m2.head_len, msg.head_len);
        CHECK_EQ_INT(m2.hdr_cnt, msg.hdr_cnt);
        CHECK_EQ_INT(m2.flags, msg.flags);
    }
    if (r == ALB_H1_ERROR)
        CHECK_EQ_INT(m2.error_status, msg.error_status);
    return r;
}

static void expect_reject(const char *s, int status)
{
    enum alb_h1_result r = parse_req_bytewise(s);
    if (r != ALB_H1_ERROR || msg.error_status != status)
        fprintf(stderr, "  request %.60s... gave %d/%d, expected ERROR/%d\n", s, r, msg.error_status, status);
    CHECK_EQ_INT(r, ALB_H1_ERROR);
    CHECK_EQ_INT(msg.error_status, status);
}

static void test_simple_get(void)
{
    const char *s = "GET /a/b?x=1 HTTP/1.1\r\nHost: Example.com:8080\r\nUser-Agent:  curl \r\n\r\nNEXT";
    CHECK_EQ_INT(parse_req_bytewise(s), ALB_H1_DONE);
    CHECK_EQ_INT(msg.head_len, strlen(s) - 4);
    CHECK_EQ_STR(msg.method.p, msg.method.len, "GET");
    CHECK_EQ_INT(msg.method_id, ALB_H1_M_GET);
    CHECK_EQ_STR(msg.target.p, msg.target.len, "/a/b?x=1");
    CHECK_EQ_STR(msg.authority.p, msg.authority.len, "Example.com:8080");
    CHECK_EQ_INT(msg.minor, 1);
    CHECK_EQ_INT(msg.hdr_cnt, 2);
    CHECK_EQ_STR(msg.hdrs[1].value.p, msg.hdrs[1].value.len, "curl");
    CHECK(msg.flags & ALB_H1_F_HAS_HOST);
}

static void test_incomplete_is_more(void)
{
    CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nHost: a\r\n"), ALB_H1_MORE);
    CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nHost: a\r\n\r"), ALB_H1_MORE);
}

static void test_leading_empty_lines_skipped(void)
{
    CHECK_EQ_INT(parse_req_bytewise("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), ALB_H1_DONE);
    CHECK_EQ_STR(msg.method.p, msg.method.len, "GET");
}

static void test_body_framing(void)
{
    CHECK_EQ_INT(parse_req_bytewise("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n"), ALB_H1_DONE);
    CHECK(msg.flags & ALB_H1_F_HAS_CL);
    CHECK_EQ_INT(msg.content_length, 42);
    CHECK_EQ_INT(parse_req_bytewise("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n\r\n"), ALB_H1_DONE);
    CHECK_EQ_INT(msg.content_length, 7);
    CHECK_EQ_INT(parse_req_bytewise("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n"),
                 ALB_H1_DONE);
    CHECK_EQ_INT(parse_req_bytewise("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"),
                 ALB_H1_DONE);
    CHECK(msg.flags & ALB_H1_F_CHUNKED);
}

static void test_connection_options(void)
{
    CHECK_EQ_INT(parse_req_bytewise("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n\r\n"),
                 ALB_H1_DONE);
    CHECK(msg.flags & ALB_H1_F_CONN_CLOSE);
    CHECK(alb_h1_header_is_hop_by_hop(&msg, ALB_STR_LIT("x-secret")));
    CHECK(alb_h1_header_is_hop_by_hop(&msg, ALB_STR_LIT("Keep-Alive")));
    CHECK(!alb_h1_header_is_hop_by_hop(&msg, ALB_STR_LIT("Host")));
    /* Trailer and Proxy-Authenticate are end-to-end unless Connection names them */
    CHECK(!alb_h1_header_is_hop_by_hop(&msg, ALB_STR_LIT("Trailer")));
    CHECK(!alb_h1_header_is_hop_by_hop(&msg, ALB_STR_LIT("Proxy-Authenticate")));
    CHECK_EQ_INT(parse_req_bytewise("GET / HTTP/1.1\r\nHost: a\r\nConnection: trailer, proxy-authenticate\r\n\r\n"),
                 ALB_H1_DONE);
    CHECK(alb_h1_header_is_hop_by_hop(&msg, ALB_STR_LIT("Trailer")));
    CHECK(alb_h1_header_is_hop_by_hop(&msg, ALB_STR_LIT("proxy-authenticate")));
    CHECK_EQ_INT(parse_req_bytewise("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
                 ALB_H1_DONE);
    CHECK(msg.flags & ALB_H1_F_CONN_UPGRADE);
    CHECK(msg.flags & ALB_H1_F_HAS_UPGRADE);
}

static void test_forms_of_target(void)
{
    CHECK_EQ_INT(parse_req_bytewise("GET http://Example.com:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n"), ALB_H1_DONE);
    CHECK(msg.flags & ALB_H1_F_ABSOLUTE_FORM);
    CHECK_EQ_STR(msg.authority.p, msg.authority.len, "Example.com:81");
    CHECK_EQ_STR(msg.path.p, msg.path.len, "/p?q");
    CHECK_EQ_INT(parse_req_bytewise("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n"), ALB_H1_DONE);
    CHECK_EQ_STR(msg.path.p, msg.path.len, "/");
    CHECK_EQ_INT(parse_req_bytewise("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), ALB_H1_DONE);
    CHECK(msg.flags & ALB_H1_F_ASTERISK_FORM);
    expect_reject("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_reject("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_reject("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 400);
    expect_reject("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_reject("GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_http10(void)
{
    CHECK_EQ_INT(parse_req_bytewise("GET / HTTP/1.0\r\n\r\n"), ALB_H1_DONE);
    CHECK_EQ_INT(msg.minor, 0);
    expect_reject("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    expect_reject("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    expect_reject("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    expect_reject("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
}

/* Request smuggling and desync vectors (RFC 9112 §11.2). */
static void test_smuggling_rejected(void)
{
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
    /* obs-fold */
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    /* whitespace before the colon */
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400);
    expect_reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n", 400);
    /* bare LF and bare CR */
    expect_reject("GET / HTTP/1.1\nHost: a\n\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", 400);
}

static void test_invalid_bytes_rejected(void)
{
    expect_reject("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    expect_reject("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7f\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nX\x01A: 1\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nX[A]: 1\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\n: novalue\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
    {
        static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n";
        size_t scanned = 0;
        CHECK_EQ_INT(alb_h1_parse_request(nul, sizeof(nul) - 1, &scanned, &msg), ALB_H1_ERROR);
        CHECK_EQ_INT(msg.error_status, 400);
    }
    /* obs-text is allowed in values */
    CHECK_EQ_INT(parse_req_bytewise("GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n"), ALB_H1_DONE);
}

static void test_host_rules(void)
{
    expect_reject("GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: \r\n\r\n", 400);
    CHECK_EQ_INT(parse_req_bytewise("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), ALB_H1_DONE);
    CHECK_EQ_INT(parse_req_bytewise("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), ALB_H1_DONE);
}

static void test_expect(void)
{
    CHECK_EQ_INT(parse_req_bytewise("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"),
                 ALB_H1_DONE);
    CHECK(msg.flags & ALB_H1_F_EXPECT_CONTINUE);
    expect_reject("PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417);
}

static char big[70000];

static void test_limits(void)
{
    /* a target over 8 KiB: 414 */
    size_t n = (size_t)sprintf(big, "GET /");
    memset(big + n, 'a', 9000);
    n += 9000;
    n += (size_t)sprintf(big + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    big[n] = 0;
    expect_reject(big, 414);
    /* a request line that never ends: 414 once past the limit */
    memset(big, 'a', 10000);
    memcpy(big, "GET /", 5);
    big[10000] = 0;
    expect_reject(big, 414);
    /* headers over 16 KiB in total: 431 */
    n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 20; i++) {
        n += (size_t)sprintf(big + n, "X-%d: ", i);
        memset(big + n, 'v', 1000);
        n += 1000;
        n += (size_t)sprintf(big + n, "\r\n");
    }
    sprintf(big + n, "\r\n");
    expect_reject(big, 431);
    /* more than 100 header fields: 431 */
    n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(big + n, "X-%d: 1\r\n", i);
    sprintf(big + n, "\r\n");
    expect_reject(big, 431);
    /* exactly 100 fields is fine */
    n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 99; i++)
        n += (size_t)sprintf(big + n, "X-%d: 1\r\n", i);
    sprintf(big + n, "\r\n");
    CHECK_EQ_INT(parse_req(big), ALB_H1_DONE);
}

static enum alb_h1_result parse_resp(const char *s)
{
    size_t scanned = 0;
    return alb_h1_parse_response(s, strlen(s), &scanned, &msg);
}

static void test_responses(void)
{
    CHECK_EQ_INT(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), ALB_H1_DONE);
    CHECK_EQ_INT(msg.status, 200);
    CHECK_EQ_INT(msg.content_length, 5);
    CHECK_EQ_STR(msg.reason.p, msg.reason.len, "OK");
    CHECK_EQ_INT(parse_resp("HTTP/1.1 204\r\n\r\n"), ALB_H1_DONE);
    CHECK_EQ_INT(msg.status, 204);
    CHECK_EQ_INT(parse_resp("HTTP/1.0 200 Fine\r\nServer: x\r\n\r\n"), ALB_H1_DONE);
    CHECK_EQ_INT(msg.minor, 0);
    CHECK_EQ_INT(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), ALB_H1_DONE);
    CHECK(msg.flags & ALB_H1_F_CHUNKED);
    CHECK(!alb_h1_response_has_body(&msg, ALB_H1_M_HEAD));
    CHECK(alb_h1_response_has_body(&msg, ALB_H1_M_GET));
    CHECK_EQ_INT(parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), ALB_H1_DONE);
    CHECK(!alb_h1_response_has_body(&msg, ALB_H1_M_GET));
    static const char *const bad[] = {
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 600 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 1\n\n",
        "HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
        "garbage\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum alb_h1_result r = parse_resp(bad[i]);
        if (r != ALB_H1_ERROR)
            fprintf(stderr, "  response %zu accepted\n", i);
        CHECK_EQ_INT(r, ALB_H1_ERROR);
        CHECK_EQ_INT(msg.error_status, 502);
    }
}

/* Runs the chunked decoder over <s> in pieces of <step> bytes; returns the
 * result and collects the data bytes into <data>. */
static enum alb_h1_result dechunk(const char *s, size_t len, size_t step, char *data, size_t *data_len, size_t *consumed)
{
    struct alb_h1_chunked c;
    alb_h1_chunked_init(&c);
    size_t off = 0;
    *data_len = 0;
    enum alb_h1_result r = ALB_H1_MORE;
    while (off < len) {
        size_t avail = len - off < step ? len - off : step;
        size_t pos = 0;
        while (pos < avail) {
            size_t used;
            bool is_data;
            r = alb_h1_chunked_step(&c, s + off + pos, avail - pos, &used, &is_data);
            if (r == ALB_H1_ERROR) {
                *consumed = off + pos + used;
                return r;
            }
            if (is_data) {
                memcpy(data + *data_len, s + off + pos, used);
                *data_len += used;
            }
            pos += used;
            if (r == ALB_H1_DONE) {
                *consumed = off + pos;
                return r;
            }
        }
        off += avail;
    }
    *consumed = off;
    return r;
}

static void test_chunked(void)
{
    static const char body[] = "5\r\nhello\r\n6;ext=1;q=\"x\"\r\n world\r\n0\r\nTrailer-A: 1\r\nB: 2\r\n\r\nNEXT";
    size_t total = strlen(body) - 4;
    for (size_t step = 1; step <= sizeof(body); step++) {
        char data[64];
        size_t dl, consumed;
        enum alb_h1_result r = dechunk(body, strlen(body), step, data, &dl, &consumed);
        CHECK_EQ_INT(r, ALB_H1_DONE);
        CHECK_EQ_INT(consumed, total);
        CHECK_EQ_STR(data, dl, "hello world");
    }
    static const char *const bad[] = {
        "x\r\n",                       /* not hex */
        "\r\n",                        /* empty size */
        "5\nhello\r\n0\r\n\r\n",       /* bare LF after size */
        "5\r\nhelloX\r\n",             /* data longer than the size */
        "5\r\nhello\n0\r\n\r\n",       /* bare LF after data */
        "fffffffffffffffff\r\n",       /* overflow */
        "5 x\r\n",                     /* junk after size */
        "0\r\n folded: 1\r\n\r\n",     /* trailer obs-fold */
        "0\r\nBad Name: 1\r\n\r\n",    /* space in trailer name */
        "0\r\nX: \x01\r\n\r\n",        /* control byte in trailer */
        "0\r\n\rX",                    /* bare CR at the end */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char data[64];
        size_t dl, consumed;
        enum alb_h1_result r = dechunk(bad[i], strlen(bad[i]), 1, data, &dl, &consumed);
        if (r != ALB_H1_ERROR)
            fprintf(stderr, "  chunked case %zu accepted\n", i);
        CHECK_EQ_INT(r, ALB_H1_ERROR);
    }
    /* BWS before an extension is allowed */
    char data[64];
    size_t dl, consumed;
    CHECK_EQ_INT(dechunk("1 ;a\r\nx\r\n0\r\n\r\n", 14, 3, data, &dl, &consumed), ALB_H1_DONE);
}

TEST_MAIN(TEST_ENTRY(test_simple_get), TEST_ENTRY(test_incomplete_is_more), TEST_ENTRY(test_leading_empty_lines_skipped),
          TEST_ENTRY(test_body_framing), TEST_ENTRY(test_connection_options), TEST_ENTRY(test_forms_of_target),
          TEST_ENTRY(test_http10), TEST_ENTRY(test_smuggling_rejected), TEST_ENTRY(test_invalid_bytes_rejected),
          TEST_ENTRY(test_host_rules), TEST_ENTRY(test_expect), TEST_ENTRY(test_limits), TEST_ENTRY(test_responses),
          TEST_ENTRY(test_chunked))
