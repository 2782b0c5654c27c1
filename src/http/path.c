/* http/path.c : see path.h. One pass to decode, one to remove dot segments. */
#include "http/path.h"

#include "core/str.h"

#include <stdbool.h>

static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Removes dot segments in place from p[0..n); returns the new length. The
 * output is always at most as long as the input. */
static size_t remove_dot_segments(char *p, size_t n)
{
    size_t r = 0, w = 0;
    while (r < n) {
        /* p[r] is at the start of a segment, right after a '/' or at 0 */
        if (p[r] == '/') {
            size_t seg = r + 1, e = seg;
            while (e < n && p[e] != '/')
                e++;
            size_t seg_len = e - seg;
            if (seg_len == 1 && p[seg] == '.') {
                r = e;
                if (r == n)
                    p[w++] = '/';
                continue;
            }
            if (seg_len == 2 && p[seg] == '.' && p[seg + 1] == '.') {
                while (w > 0 && p[w - 1] != '/')
                    w--;
                if (w > 0)
                    w--; /* drop the '/' before the removed segment */
                r = e;
                if (r == n)
                    p[w++] = '/';
                continue;
            }
            for (size_t i = r; i < e; i++)
                p[w++] = p[i];
            r = e;
        } else {
            /* a relative first segment (not produced by origin-form) */
            while (r < n && p[r] != '/')
                p[w++] = p[r++];
        }
    }
    if (w == 0 && n > 0)
        p[w++] = '/';
    return w;
}

long alb_path_normalize(const char *in, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    if (cap < len + 1)
        return -1;
    size_t w = 0;
    for (size_t i = 0; i < len && in[i] != '?'; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c != '%') {
            out[w++] = (char)c;
            continue;
        }
        if (i + 2 >= len)
            return -1;
        int hi = alb_hex_digit((unsigned char)in[i + 1]), lo = alb_hex_digit((unsigned char)in[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        unsigned char d = (unsigned char)(hi * 16 + lo);
        if (d == 0)
            return -1; /* an encoded NUL truncates paths in C backends */
        if (is_unreserved(d)) {
            out[w++] = (char)d;
        } else {
            out[w++] = '%';
            out[w++] = hex[hi];
            out[w++] = hex[lo];
        }
        i += 2;
    }
    return (long)remove_dot_segments(out, w);
}
