/* proxy/h2.h : HTTP/2 toward clients, with nghttp2 (the only user of it).
 *
 * A client connection that starts with the HTTP/2 preface (after ALPN chose
 * h2, or on a listener that takes h2c) becomes an HTTP/2 connection. Each
 * stream runs as a client of its own without a socket (proxy/session.h):
 * its request is handed over as HTTP/1.1 bytes (the head, then the body,
 * chunked when its length is not known) and its response comes back the
 * same way and leaves as HEADERS and DATA frames. So every stream is routed
 * on its own and goes through the same routing, actions and upstream pools
 * as HTTP/1.1. Bodies stream both ways under HTTP/2 flow control: the
 * window opens as the request body is taken, and a response waits while its
 * stream's window is closed.
 *
 * Defences (each cuts the abusive connection, other clients go on): rapid
 * reset (RST_STREAM beyond a token bucket), CONTINUATION floods, SETTINGS
 * and PING floods (unanswered acknowledgements), HPACK bombs and header
 * blocks beyond the request head limit, and streams opened over the
 * concurrency limit again and again. Worker thread.
 */
#ifndef ALB_PROXY_H2_H
#define ALB_PROXY_H2_H

#include <stdbool.h>

#define ALB_H2_MAX_STREAMS 128          /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define ALB_H2_MAX_HEADER_LIST 16384    /* bytes of a request's fields, as the HTTP/1.1 head limit */
#define ALB_H2_STREAM_BUFFER 65536      /* response bytes a stream holds before its backend is paused */

#include "core/str.h"

#define ALB_H2_SEND_BATCH 65536 /* frames gathered for one write: one run of TLS records, one syscall */

struct alb_bytequeue;
struct alb_client;
struct alb_h2;
struct alb_side;
struct alb_tls_conn;
struct nghttp2_session;

/* alb_h2_start() : <conn> speaks HTTP/2 from now on; what it read so far
 * (the preface first) is in conn->side.in. NULL when out of memory. */
struct alb_h2 *alb_h2_start(struct alb_client *conn);

/* alb_h2_step() : frames in, streams run, frames out. Closes the
 * connection (alb_session_h2_done()) when it ends. True when something
 * moved. */
bool alb_h2_step(struct alb_h2 *h);

/* alb_h2_flush() : sends what streams made since (after a stream ran on
 * its own: a backend event, a timer). */
void alb_h2_flush(struct alb_h2 *h);

/* alb_h2_flush_later() : alb_h2_flush() at the end of this loop turn, once
 * however many streams made frames in it: their frames leave together. */
void alb_h2_flush_later(struct alb_h2 *h);

/* alb_h2_drain() : no new streams (GOAWAY); the connection closes when the
 * ones in flight are done. */
void alb_h2_drain(struct alb_h2 *h);

/* alb_h2_timeout() : the connection's timer: idle with no stream. */
void alb_h2_timeout(struct alb_h2 *h);

/* alb_h2_free() : closes every stream and frees; the socket is the caller's. */
void alb_h2_free(struct alb_h2 *h);

/* alb_h2_was_cut() : whether the connection ended with an error GOAWAY
 * (an attack, a protocol error): for the metrics. */
bool alb_h2_was_cut(const struct alb_h2 *h);

/* alb_h2_tls() : the TLS of the connection (NULL: h2c). */
struct alb_tls_conn *alb_h2_tls(const struct alb_h2 *h);

/* ---- shared with HTTP/2 to backends (proxy/h2up.c) ----------------------------- */

/* alb_h2_connection_specific() : fields that never go in HTTP/2 (RFC 9113
 * §8.2.2): Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
 * Upgrade. */
bool alb_h2_connection_specific(struct alb_str name);

/* alb_h2_send_frames() : the frames nghttp2 has for <ng>, gathered in
 * <pend> (nghttp2 hands them out one at a time) up to ALB_H2_SEND_BATCH and
 * written to <s>'s socket together. When nghttp2 has none, <refill>(<arg>),
 * if set, may make more (true when it tried). What the socket does not take
 * stays in <pend> for its writable edge. *moved is set when bytes left.
 * False when the connection failed. */
bool alb_h2_send_frames(struct nghttp2_session *ng, struct alb_bytequeue *pend, struct alb_side *s,
                        bool (*refill)(void *), void *arg, bool *moved);

/* alb_h2_stream_closed() : the stream's client closed (<stream_ctx> is the
 * vctx of its side). */
void alb_h2_stream_closed(void *stream_ctx);

#endif
