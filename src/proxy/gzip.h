/* proxy/gzip.h : gzip compression of responses (a listener's "gzip";
 * ALB's gzipEnabled).
 *
 * What is compressed (docs/config.md): a response to a request whose
 * Accept-Encoding takes gzip, not to HEAD, with status 200, 403 or 404, no
 * Content-Encoding, no "Cache-Control: no-transform", a Content-Type of
 * text (html, plain, css, xml, javascript), JSON, JavaScript, XML, RSS,
 * Atom or SVG, and a Content-Length (when it has one) of at least
 * ALB_GZIP_MIN_LENGTH. The body streams: each piece that arrives is
 * compressed and flushed at once, so nothing waits for the end.
 *
 * zlib's state takes about 256 KiB per compressing response, held only
 * while it streams; at most ALB_GZIP_MAX_PER_WORKER at once per worker (the
 * others go uncompressed). This is the one place of the request path that
 * allocates. Worker thread.
 */
#ifndef ALB_PROXY_GZIP_H
#define ALB_PROXY_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"
#include "http/h1.h"

#define ALB_GZIP_MIN_LENGTH 1024
#define ALB_GZIP_MAX_PER_WORKER 64
#define ALB_GZIP_LEVEL 1 /* as nginx's default: the CPU per byte matters more than the last percent */

struct alb_gzip;

/* alb_gzip_accepted() : whether request <m>'s Accept-Encoding takes gzip
 * (a "gzip" or "x-gzip" coding whose q is not 0). */
bool alb_gzip_accepted(const struct alb_h1_msg *m);

/* alb_gzip_eligible() : whether response <m> may be compressed (status,
 * Content-Encoding, Cache-Control, Content-Type, Content-Length). */
bool alb_gzip_eligible(const struct alb_h1_msg *m);

/* alb_gzip_start() : a compressor, or NULL when out of memory. */
struct alb_gzip *alb_gzip_start(void);
void alb_gzip_end(struct alb_gzip *z);

/* alb_gzip_step() : compresses what fits of in[0..len) into <out>, framed
 * as HTTP/1.1 chunks when <chunked>, and flushes it so the client can
 * decode what was sent. With <last> (no more input will come), once every
 * byte is taken, ends the gzip stream (and the chunked body). Returns the
 * input bytes taken; *finished tells that the end was written. -1 on a
 * zlib error. */
ssize_t alb_gzip_step(struct alb_gzip *z, const char *in, size_t len, bool last, bool chunked, struct alb_buf *out,
                      bool *finished);

#endif
