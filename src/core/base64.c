/* core/base64.c : see base64.h. */
#include "core/base64.h"

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

ssize_t alb_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    unsigned quad[4];
    size_t q = 0, n = 0, pad = 0, i = 0;
    for (; i < len && !(pad && q == 0); i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\n' || c == '\r')
            continue;
        if (c == '=') {
            if (q < 2)
                return -1;
            quad[q++] = 0;
            pad++;
        } else {
            int v = value_of(c);
            if (v < 0 || pad)
                return -1; /* not base64, or data after padding */
            quad[q++] = (unsigned)v;
        }
        if (q < 4)
            continue;
        unsigned bits = quad[0] << 18 | quad[1] << 12 | quad[2] << 6 | quad[3];
        size_t take = 3 - pad;
        if (n + take > cap)
            return -1;
        unsigned char b[3] = {(unsigned char)(bits >> 16), (unsigned char)(bits >> 8), (unsigned char)bits};
        for (size_t k = 0; k < take; k++)
            out[n++] = b[k];
        q = 0;
    }
    for (; i < len; i++) /* after the padding: line breaks only */
        if (in[i] != '\n' && in[i] != '\r')
            return -1;
    return q == 0 ? (ssize_t)n : -1;
}
