/* proxy/side.h : one end of a proxied exchange (the client's socket or an
 * upstream's): its fd, its incoming buffer and what we know of its state.
 *
 * Sockets are registered edge-triggered for both directions once, so the
 * readiness bits below are our memory of the last edges: READABLE is cleared
 * when a read would block, WRITABLE when a write would block, and the next
 * edge sets them again.
 *
 * Over TLS (s->tls set) the same calls move plaintext. A TLS read that
 * needs the socket writable (a handshake message) leaves READABLE set so
 * that the next writable edge retries it; a short TLS read does not mean
 * the socket is drained (records may wait in OpenSSL), so only "want read"
 * clears READABLE.
 */
#ifndef ALB_PROXY_SIDE_H
#define ALB_PROXY_SIDE_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/loop.h"

#define ALB_SIDE_READABLE (1u << 0) /* a read may return data or EOF */
#define ALB_SIDE_WRITABLE (1u << 1) /* a write may make progress */
#define ALB_SIDE_RDHUP (1u << 2)    /* peer shut its write side: read to EOF, no short-read shortcut */
#define ALB_SIDE_EOF (1u << 3)      /* read returned 0 */
#define ALB_SIDE_ERROR (1u << 4)    /* a socket error; nothing more goes through */
#define ALB_SIDE_SHUT_WR (1u << 5)  /* we sent FIN */

struct alb_tls_conn;

/* Ops that stand between a side's users and its bytes: an HTTP/2 stream
 * seen as an HTTP/1.1 connection (proxy/h2.c; no socket, io.fd is -1), or
 * an HTTP/1.1 exchange carried to a backend over HTTP/2 (proxy/h2up.c; the
 * socket is the side's, reached with alb_side_io_read/_writev). read: as
 * alb_side_io_read (bytes, 0 when none now, ALB_SIDE_GOT_EOF,
 * ALB_SIDE_FAILED); writev: bytes taken, 0 when none now, ALB_SIDE_FAILED.
 * With a socket the ops keep READABLE and WRITABLE true to it. */
struct alb_side;
struct alb_vside_ops {
    ssize_t (*read)(void *ctx, struct alb_side *s, char *buf, size_t len);
    ssize_t (*writev)(void *ctx, struct alb_side *s, const struct iovec *iov, int cnt);
};

struct alb_side {
    struct alb_io io;
    struct alb_buf *in;       /* owned; NULL while nothing is buffered */
    struct alb_tls_conn *tls; /* owned; NULL: plain TCP */
    const struct alb_vside_ops *vops; /* set: these move the bytes */
    void *vctx;
    uint32_t flags;
};

/* alb_side_on_events() : records epoll <events> as readiness bits. */
void alb_side_on_events(struct alb_side *s, uint32_t events);

/* alb_side_read() : reads what fits into s->in, taking a buffer from <pool>
 * when it has none. Returns bytes read (> 0); 0 when nothing was read (would
 * block, buffer full, not readable); ALB_SIDE_GOT_EOF at end of stream;
 * ALB_SIDE_FAILED on an error or when no buffer could be had. An empty buffer
 * is given back to the pool before returning. */
#define ALB_SIDE_GOT_EOF (-1)
#define ALB_SIDE_FAILED (-2)
ssize_t alb_side_read(struct alb_side *s, struct alb_bufpool *pool);

/* alb_side_writev() : one writev. Returns bytes written, 0 when it would
 * block (WRITABLE cleared) or nothing was given, ALB_SIDE_FAILED on error
 * (ERROR set). */
ssize_t alb_side_writev(struct alb_side *s, const struct iovec *iov, int cnt);

/* alb_side_io_read(), alb_side_io_writev() : the socket's own bytes (TLS
 * or plain), under any ops; results as alb_side_read() and
 * alb_side_writev(), into <buf>. */
ssize_t alb_side_io_read(struct alb_side *s, char *buf, size_t len);
ssize_t alb_side_io_writev(struct alb_side *s, const struct iovec *iov, int cnt);

/* alb_side_release_if_empty() : gives an empty s->in back to <pool>. */
void alb_side_release_if_empty(struct alb_side *s, struct alb_bufpool *pool);

#endif
