/* proxy/gzip.c : see gzip.h. */
#include "proxy/gzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct alb_gzip {
    z_stream zs;
    bool ended; /* deflate() returned Z_STREAM_END */
};

/* ---- which messages ------------------------------------------------------- */

static bool is_space(char c) { return c == ' ' || c == '\t'; }

static struct alb_str trim(const char *p, const char *e)
{
    while (p < e && is_space(*p))
        p++;
    while (e > p && is_space(e[-1]))
        e--;
    return (struct alb_str){p, (size_t)(e - p)};
}

/* Whether the parameters after a coding ("; q=0.5") leave its weight above 0. */
static bool weight_above_zero(const char *p, const char *e)
{
    while (p < e) {
        const char *semi = memchr(p, ';', (size_t)(e - p));
        const char *end = semi ? semi : e;
        struct alb_str param = trim(p, end);
        if (param.len >= 2 && (param.p[0] | 0x20) == 'q' && param.p[1] == '=') {
            for (size_t i = 2; i < param.len; i++)
                if (param.p[i] != '0' && param.p[i] != '.')
                    return true; /* a non-zero digit */
            return false;        /* q=0, q=0.0, q=0.000 */
        }
        p = semi ? semi + 1 : e;
    }
    return true;
}

bool alb_gzip_accepted(const struct alb_h1_msg *m)
{
    int gzip = -1, any = -1; /* -1: not listed; 0: listed with q=0; 1: accepted */
    for (size_t i = 0; i < m->hdr_cnt; i++) {
        if (!alb_str_is_ci(m->hdrs[i].name, "accept-encoding"))
            continue;
        const char *p = m->hdrs[i].value.p, *e = p + m->hdrs[i].value.len;
        while (p < e) {
            const char *comma = memchr(p, ',', (size_t)(e - p));
            const char *end = comma ? comma : e;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            struct alb_str coding = trim(p, semi ? semi : end);
            int ok = weight_above_zero(semi ? semi + 1 : end, end);
            if (alb_str_is_ci(coding, "gzip") || alb_str_is_ci(coding, "x-gzip"))
                gzip = gzip == 1 ? 1 : ok;
            else if (alb_str_is_ci(coding, "*"))
                any = ok;
            p = comma ? comma + 1 : e;
        }
    }
    return gzip == 1 || (gzip == -1 && any == 1);
}

static bool compressible_type(struct alb_str v)
{
    static const char *const types[] = {"text/html",
                                        "text/plain",
                                        "text/css",
                                        "text/xml",
                                        "text/javascript",
                                        "application/javascript",
                                        "application/x-javascript",
                                        "application/json",
                                        "application/xml",
                                        "application/rss+xml",
                                        "application/atom+xml",
                                        "image/svg+xml"};
    const char *semi = memchr(v.p, ';', v.len);
    struct alb_str media = trim(v.p, semi ? semi : v.p + v.len);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (alb_str_eq_ci(media, types[i], strlen(types[i])))
            return true;
    return false;
}

static bool has_token_ci(struct alb_str v, const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; i + n <= v.len; i++)
        if (strncasecmp(v.p + i, token, n) == 0)
            return true;
    return false;
}

bool alb_gzip_eligible(const struct alb_h1_msg *m)
{
    if (m->status != 200 && m->status != 403 && m->status != 404)
        return false;
    if ((m->flags & ALB_H1_F_HAS_CL) && m->content_length < ALB_GZIP_MIN_LENGTH)
        return false;
    bool typed = false;
    for (size_t i = 0; i < m->hdr_cnt; i++) {
        struct alb_str n = m->hdrs[i].name, v = m->hdrs[i].value;
        if (alb_str_is_ci(n, "content-encoding") && v.len && !alb_str_is_ci(v, "identity"))
            return false; /* already encoded */
        if (alb_str_is_ci(n, "cache-control") && has_token_ci(v, "no-transform"))
            return false;
        if (alb_str_is_ci(n, "content-range"))
            return false;
        if (alb_str_is_ci(n, "content-type"))
            typed = compressible_type(v);
    }
    return typed;
}

/* ---- compressing ---------------------------------------------------------- */

struct alb_gzip *alb_gzip_start(void)
{
    struct alb_gzip *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    /* windowBits 15 + 16: a gzip wrapper (RFC 1952), as browsers expect */
    if (deflateInit2(&z->zs, ALB_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void alb_gzip_end(struct alb_gzip *z)
{
    if (!z)
        return;
    deflateEnd(&z->zs);
    free(z);
}

#define CHUNK_LINE 6 /* "hhhh\r\n": at most 0xffff bytes, more than a buffer holds */
_Static_assert(ALB_BUF_CAP <= 0xffff, "a chunk of a buffer's size needs four hex digits");
#define LAST_CHUNK "0\r\n\r\n"

ssize_t alb_gzip_step(struct alb_gzip *z, const char *in, size_t len, bool last, bool chunked, struct alb_buf *out,
                      bool *finished)
{
    *finished = false;
    size_t frame = chunked ? CHUNK_LINE + 2 + sizeof(LAST_CHUNK) - 1 : 0;
    size_t room = alb_buf_room(out);
    if (z->ended) {
        *finished = true;
        return 0;
    }
    if (room <= frame + 16)
        return 0; /* no room: the caller sends what is there first */
    char *start = alb_buf_tail(out) + (chunked ? CHUNK_LINE : 0);
    z->zs.next_in = (Bytef *)(uintptr_t)in;
    z->zs.avail_in = (uInt)len;
    z->zs.next_out = (Bytef *)start;
    z->zs.avail_out = (uInt)(room - frame);
    /* Everything taken: end the stream if nothing more comes, else flush so
     * the client sees the data now; input left over (no room) waits. */
    int rc = deflate(&z->zs, last ? Z_FINISH : Z_SYNC_FLUSH);
    if (rc == Z_STREAM_ERROR)
        return -1;
    size_t taken = len - z->zs.avail_in;
    size_t produced = (size_t)((char *)z->zs.next_out - start);
    z->ended = rc == Z_STREAM_END;
    if (chunked && produced) {
        static const char hex[] = "0123456789abcdef";
        char *line = alb_buf_tail(out); /* produced < ALB_BUF_CAP: four hex digits */
        for (int d = 0; d < 4; d++)
            line[d] = hex[(produced >> (12 - 4 * d)) & 0xf];
        line[4] = '\r';
        line[5] = '\n';
        memcpy(start + produced, "\r\n", 2);
        out->end += (uint32_t)(CHUNK_LINE + produced + 2);
    } else if (produced) {
        out->end += (uint32_t)produced;
    }
    if (z->ended) {
        if (chunked) {
            memcpy(alb_buf_tail(out), LAST_CHUNK, sizeof(LAST_CHUNK) - 1);
            out->end += (uint32_t)(sizeof(LAST_CHUNK) - 1);
        }
        *finished = true;
    }
    return (ssize_t)taken;
}
