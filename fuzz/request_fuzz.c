/* fuzz/request_fuzz.c : the request head parser on arbitrary bytes.
 * Checks, besides memory safety: parsing the input whole and one byte at a
 * time agree, a DONE head lies within the input, and its slices point into
 * it. The path normaliser runs on every parsed path, the Accept-Encoding
 * reader (proxy/gzip.c) on every parsed head. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "http/h1.h"
#include "http/path.h"
#include "proxy/gzip.h"

static struct alb_h1_msg whole, bytewise;

static void check_slice(const uint8_t *d, size_t n, struct alb_str s)
{
    if (s.len == 0 || s.p == NULL)
        return;
    /* "/" for an absolute-form target without path is a literal */
    if (s.len == 1 && s.p[0] == '/' && ((const uint8_t *)s.p < d || (const uint8_t *)s.p >= d + n))
        return;
    assert((const uint8_t *)s.p >= d && (const uint8_t *)s.p + s.len <= d + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    const char *p = (const char *)d;
    size_t scanned = 0;
    enum alb_h1_result r = alb_h1_parse_request(p, n, &scanned, &whole);
    size_t scanned2 = 0;
    enum alb_h1_result r2 = ALB_H1_MORE;
    for (size_t i = 1; i <= n; i++) {
        r2 = alb_h1_parse_request(p, i, &scanned2, &bytewise);
        if (r2 != ALB_H1_MORE)
            break;
    }
    assert(r == r2);
    if (r == ALB_H1_DONE) {
        assert(whole.head_len <= n && whole.head_len == bytewise.head_len);
        assert(whole.hdr_cnt == bytewise.hdr_cnt && whole.flags == bytewise.flags);
        check_slice(d, n, whole.method);
        check_slice(d, n, whole.target);
        check_slice(d, n, whole.path);
        check_slice(d, n, whole.authority);
        for (size_t i = 0; i < whole.hdr_cnt; i++) {
            check_slice(d, n, whole.hdrs[i].name);
            check_slice(d, n, whole.hdrs[i].value);
        }
        static char out[ALB_H1_MAX_TARGET_LEN + 2];
        long len = alb_path_normalize(whole.path.p, whole.path.len, out, sizeof(out));
        assert(len <= (long)whole.path.len);
        (void)alb_gzip_accepted(&whole);
    } else if (r == ALB_H1_ERROR) {
        assert(whole.error_status >= 400 && whole.error_status < 600 && whole.error);
        assert(whole.error_status == bytewise.error_status);
    }
    return 0;
}
