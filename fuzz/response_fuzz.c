/* fuzz/response_fuzz.c : the response head parser and the chunked decoder
 * on arbitrary upstream bytes. The chunked decoder must classify every byte
 * exactly once, give the same data however the input is split, and never
 * report more data than there was input. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "http/h1.h"
#include "proxy/gzip.h"

static struct alb_h1_msg msg;

/* Runs the decoder over d[0..n) in pieces of <step>; returns the result and
 * the number of data bytes, and how many bytes were consumed. */
static enum alb_h1_result run_chunked(const uint8_t *d, size_t n, size_t step, size_t *data, size_t *consumed)
{
    struct alb_h1_chunked c;
    alb_h1_chunked_init(&c);
    size_t off = 0;
    *data = 0;
    enum alb_h1_result r = ALB_H1_MORE;
    while (off < n) {
        size_t end = off + step < n ? off + step : n;
        while (off < end) {
            size_t used;
            bool is_data;
            r = alb_h1_chunked_step(&c, (const char *)d + off, end - off, &used, &is_data);
            assert(used <= end - off);
            if (is_data)
                *data += used;
            off += used;
            if (r != ALB_H1_MORE) {
                *consumed = off;
                return r;
            }
            if (used == 0)
                break;
        }
        if (off < end)
            break; /* decoder made no progress without an error: a bug */
    }
    *consumed = off;
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    size_t scanned = 0;
    enum alb_h1_result r = alb_h1_parse_response((const char *)d, n, &scanned, &msg);
    if (r == ALB_H1_DONE) {
        assert(msg.head_len <= n && msg.status >= 100 && msg.status <= 599);
        (void)alb_gzip_eligible(&msg); /* the headers that decide compression */
    }
    else if (r == ALB_H1_ERROR)
        assert(msg.error_status == 502);

    size_t data1, data2, used1, used2;
    enum alb_h1_result c1 = run_chunked(d, n, n ? n : 1, &data1, &used1);
    enum alb_h1_result c2 = run_chunked(d, n, 1, &data2, &used2);
    assert(c1 == c2);
    assert(used1 <= n);
    if (c1 != ALB_H1_ERROR) {
        assert(data1 == data2 && used1 == used2);
        assert(c1 == ALB_H1_DONE || used1 == n);
    }
    assert(data1 <= n);
    return 0;
}
