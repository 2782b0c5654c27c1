/* http/h1.h : strict, zero-copy HTTP/1.1 parsing (RFC 9110, RFC 9112).
 *
 * The head parsers work on a complete head: alb_h1_scan_head() finds its end
 * incrementally (it remembers how far it looked, so feeding bytes one at a
 * time costs linear work), then alb_h1_parse_request()/_response() parse it
 * in one pass. Nothing is allocated; every string is a slice into the
 * caller's buffer, which must outlive the parse result. Feeding a message one
 * byte at a time gives the same result as feeding it whole.
 *
 * Everything that could let two HTTP implementations disagree on where a
 * message ends (request smuggling, RFC 9112 §11.2) is an error rather than
 * something to repair: see the list in h1.c. On ERROR, <status> says what to
 * answer (400, 414, 417, 431, 501, 505) and <error> why, for the log.
 *
 * The chunked decoder is resumable across calls and classifies every byte as
 * chunk data or framing, so a caller can forward the raw framing or only the
 * data.
 */
#ifndef ALB_HTTP_H1_H
#define ALB_HTTP_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define ALB_H1_MAX_HEAD_LEN 16384   /* request line + headers; over it: 431 */
#define ALB_H1_MAX_TARGET_LEN 8192  /* request target; over it: 414 */
#define ALB_H1_MAX_HEADERS 100      /* over it: 431 */
#define ALB_H1_MAX_CONN_TOKENS 8    /* Connection options that name headers */
#define ALB_H1_MAX_TRAILER_LEN 16384

enum alb_h1_result { ALB_H1_DONE, ALB_H1_MORE, ALB_H1_ERROR };

enum alb_h1_method {
    ALB_H1_M_OTHER,
    ALB_H1_M_GET,
    ALB_H1_M_HEAD,
    ALB_H1_M_POST,
    ALB_H1_M_PUT,
    ALB_H1_M_OPTIONS,
    ALB_H1_M_CONNECT,
};

/* Message flags, one bit each. */
#define ALB_H1_F_HAS_CL (1u << 0)         /* a valid Content-Length was present */
#define ALB_H1_F_HAS_TE (1u << 1)         /* Transfer-Encoding present */
#define ALB_H1_F_CHUNKED (1u << 2)        /* final transfer coding is chunked */
#define ALB_H1_F_CONN_CLOSE (1u << 3)     /* Connection: close */
#define ALB_H1_F_CONN_KEEPALIVE (1u << 4) /* Connection: keep-alive */
#define ALB_H1_F_CONN_UPGRADE (1u << 5)   /* Connection: upgrade */
#define ALB_H1_F_HAS_UPGRADE (1u << 6)    /* Upgrade header present */
#define ALB_H1_F_EXPECT_CONTINUE (1u << 7)/* Expect: 100-continue */
#define ALB_H1_F_HAS_HOST (1u << 8)       /* exactly one valid Host header */
#define ALB_H1_F_ABSOLUTE_FORM (1u << 9)  /* target was absolute-form */
#define ALB_H1_F_ASTERISK_FORM (1u << 10) /* OPTIONS * */

struct alb_h1_msg {
    /* request line (requests only) */
    struct alb_str method;
    enum alb_h1_method method_id;
    struct alb_str target;    /* as sent */
    struct alb_str path;      /* origin-form path and query (absolute-form: its path part) */
    struct alb_str authority; /* Host header, or the absolute-form authority */
    /* status line (responses only) */
    int status;
    struct alb_str reason;

    int minor;  /* HTTP/1.<minor>: 0 or 1 */
    uint32_t flags;
    uint64_t content_length; /* valid with ALB_H1_F_HAS_CL */
    size_t head_len;         /* bytes of the head, final CRLF included */
    size_t hdr_cnt;
    struct alb_header hdrs[ALB_H1_MAX_HEADERS];
    size_t conn_token_cnt;   /* Connection options other than close/keep-alive/upgrade */
    struct alb_str conn_tokens[ALB_H1_MAX_CONN_TOKENS];

    int error_status;  /* on ERROR: the status to answer */
    const char *error; /* on ERROR: static text naming the rule broken */
};

/* alb_h1_scan_head() : looks for the end of a head in buf[0..len). <scanned>
 * is the caller's resume point, 0 for a new message; it is advanced.
 * Returns the head length (final empty line included) once found, 0 while
 * incomplete. Leading empty lines before a request line (RFC 9112 §2.2) are
 * part of the returned length. */
size_t alb_h1_scan_head(const char *buf, size_t len, size_t *scanned);

/* alb_h1_parse_request() : parses a request head from buf[0..len).
 * DONE: <m> is filled, m->head_len bytes were the head.
 * MORE: the head is incomplete and still within the limits.
 * ERROR: m->error_status (400, 414, 417, 431, 501, 505) and m->error are set;
 *        the connection must be closed after answering.
 * <scanned> as for alb_h1_scan_head(). */
enum alb_h1_result alb_h1_parse_request(const char *buf, size_t len, size_t *scanned, struct alb_h1_msg *m);

/* alb_h1_parse_response() : the same for a response head; every ERROR is the
 * upstream's fault (the proxy answers 502 and never reuses the connection). */
enum alb_h1_result alb_h1_parse_response(const char *buf, size_t len, size_t *scanned, struct alb_h1_msg *m);

/* alb_h1_response_has_body() : RFC 9112 §6.3 rules 1-2 for a response to a
 * request with <req_method>. */
bool alb_h1_response_has_body(const struct alb_h1_msg *resp, enum alb_h1_method req_method);

/* alb_h1_header_is_hop_by_hop() : RFC 9110 §7.6.1 connection-specific fields
 * that a proxy must not forward (Transfer-Encoding and Upgrade are handled by
 * the caller, which re-frames or tunnels). Also true for fields named by the
 * message's Connection header. */
bool alb_h1_header_is_hop_by_hop(const struct alb_h1_msg *m, struct alb_str name);

struct alb_h1_chunked {
    uint8_t state;
    uint8_t size_digits;
    uint64_t remaining;    /* data bytes left in the current chunk */
    uint32_t trailer_len;  /* trailer bytes seen, bounded */
};

void alb_h1_chunked_init(struct alb_h1_chunked *c);

/* alb_h1_chunked_step() : consumes a prefix of p[0..len) that is either all
 * chunk data (*is_data true) or all framing (chunk sizes, extensions, CRLFs,
 * trailers). *used is set to its length.
 * DONE: the last chunk and its trailer section ended within *used bytes.
 * MORE: *used bytes consumed (may be all of them); call again.
 * ERROR: invalid framing (bad size, overflow, bare LF, bad trailer, trailer
 *        section over ALB_H1_MAX_TRAILER_LEN). */
enum alb_h1_result alb_h1_chunked_step(struct alb_h1_chunked *c, const char *p, size_t len, size_t *used,
                                       bool *is_data);

/* alb_h1_chunked_is_done() : true once the message's last byte was seen. */
bool alb_h1_chunked_is_done(const struct alb_h1_chunked *c);

#endif
