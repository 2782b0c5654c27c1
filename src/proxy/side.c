/* proxy/side.c : see side.h. EINTR and EAGAIN are handled here and nowhere
 * else on the data path. */
#include "proxy/side.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls/tls.h"

void alb_side_on_events(struct alb_side *s, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->flags |= ALB_SIDE_READABLE;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->flags |= ALB_SIDE_RDHUP;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        s->flags |= ALB_SIDE_WRITABLE;
}

void alb_side_release_if_empty(struct alb_side *s, struct alb_bufpool *pool)
{
    if (s->in && alb_buf_is_empty(s->in)) {
        alb_bufpool_put(pool, s->in);
        s->in = NULL;
    }
}

static ssize_t tls_read(struct alb_side *s, char *buf, size_t len)
{
    bool want_write;
    ssize_t n = alb_tls_read(s->tls, buf, len, &want_write);
    if (n > 0)
        return n;
    if (n == 0) {
        if (want_write)
            s->flags &= ~ALB_SIDE_WRITABLE; /* READABLE stays: retried on the writable edge */
        else
            s->flags &= ~ALB_SIDE_READABLE;
        return 0;
    }
    if (n == ALB_TLS_EOF) {
        s->flags = (s->flags | ALB_SIDE_EOF) & ~ALB_SIDE_READABLE;
        return ALB_SIDE_GOT_EOF;
    }
    s->flags = (s->flags | ALB_SIDE_ERROR) & ~ALB_SIDE_READABLE;
    return ALB_SIDE_FAILED;
}

ssize_t alb_side_io_read(struct alb_side *s, char *buf, size_t len)
{
    if (!(s->flags & ALB_SIDE_READABLE) || (s->flags & (ALB_SIDE_EOF | ALB_SIDE_ERROR)) || !len)
        return 0;
    if (s->tls)
        return tls_read(s, buf, len);
    for (;;) {
        ssize_t n = read(s->io.fd, buf, len);
        if (n > 0) {
            /* A short read drained the socket: Linux raises a new edge for
             * data that arrives later. Not after RDHUP: the FIN raised no
             * edge of its own, so read on until EOF is seen. */
            if ((size_t)n < len && !(s->flags & ALB_SIDE_RDHUP))
                s->flags &= ~ALB_SIDE_READABLE;
            return n;
        }
        if (n == 0) {
            s->flags = (s->flags | ALB_SIDE_EOF) & ~ALB_SIDE_READABLE;
            return ALB_SIDE_GOT_EOF;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s->flags &= ~ALB_SIDE_READABLE;
            return 0;
        }
        s->flags = (s->flags | ALB_SIDE_ERROR) & ~ALB_SIDE_READABLE;
        return ALB_SIDE_FAILED;
    }
}

/* Through the side's ops: an HTTP/2 stream, or HTTP/2 to a backend. */
static ssize_t ops_read(struct alb_side *s, char *buf, size_t len)
{
    ssize_t n = s->vops->read(s->vctx, s, buf, len);
    if (n == ALB_SIDE_GOT_EOF)
        s->flags = (s->flags | ALB_SIDE_EOF) & ~ALB_SIDE_READABLE;
    else if (n == ALB_SIDE_FAILED)
        s->flags = (s->flags | ALB_SIDE_ERROR) & ~ALB_SIDE_READABLE;
    else if (n == 0 && s->io.fd < 0)
        s->flags &= ~ALB_SIDE_READABLE; /* no socket: the ops say when there is more */
    return n;
}

ssize_t alb_side_read(struct alb_side *s, struct alb_bufpool *pool)
{
    if (!(s->flags & ALB_SIDE_READABLE) || (s->flags & (ALB_SIDE_EOF | ALB_SIDE_ERROR)))
        return 0;
    if (!s->in) {
        s->in = alb_bufpool_try_get(pool);
        if (!s->in) {
            s->flags |= ALB_SIDE_ERROR;
            return ALB_SIDE_FAILED;
        }
    }
    if (alb_buf_room(s->in) == 0)
        alb_buf_compact(s->in);
    size_t room = alb_buf_room(s->in);
    if (room == 0)
        return 0;
    ssize_t n = s->vops ? ops_read(s, alb_buf_tail(s->in), room) : alb_side_io_read(s, alb_buf_tail(s->in), room);
    if (n > 0) {
        s->in->end += (uint32_t)n;
        return n;
    }
    alb_side_release_if_empty(s, pool);
    return n;
}

/* One TLS write of <len> bytes. */
static ssize_t tls_write(struct alb_side *s, const void *p, size_t len)
{
    bool want_write;
    ssize_t n = alb_tls_write(s->tls, p, len, &want_write);
    if (n > 0)
        return n;
    if (n == 0) {
        if (want_write)
            s->flags &= ~ALB_SIDE_WRITABLE;
        return 0; /* wants a read: the next readable edge retries */
    }
    s->flags |= ALB_SIDE_ERROR;
    return ALB_SIDE_FAILED;
}

/* Over TLS, small pieces (a head and the start of a body) go as one
 * record: one copy, against a record and a syscall each. */
static ssize_t tls_writev(struct alb_side *s, const struct iovec *iov, int cnt)
{
    static _Thread_local char bounce[ALB_BUF_CAP];
    size_t sum = 0;
    for (int i = 0; i < cnt; i++)
        sum += iov[i].iov_len;
    if (cnt > 1 && sum <= sizeof(bounce)) {
        size_t at = 0;
        for (int i = 0; i < cnt; i++) {
            memcpy(bounce + at, iov[i].iov_base, iov[i].iov_len);
            at += iov[i].iov_len;
        }
        return tls_write(s, bounce, sum);
    }
    ssize_t total = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        ssize_t n = tls_write(s, iov[i].iov_base, iov[i].iov_len);
        if (n <= 0)
            return total ? total : n;
        total += n;
        if ((size_t)n < iov[i].iov_len)
            break;
    }
    return total;
}

ssize_t alb_side_io_writev(struct alb_side *s, const struct iovec *iov, int cnt)
{
    if (cnt == 0 || !(s->flags & ALB_SIDE_WRITABLE))
        return 0;
    if (s->tls)
        return tls_writev(s, iov, cnt);
    for (;;) {
        /* sendmsg for MSG_NOSIGNAL: a peer that closed is an error, not a
         * process-killing SIGPIPE. */
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
        ssize_t n = sendmsg(s->io.fd, &mh, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s->flags &= ~ALB_SIDE_WRITABLE;
            return 0;
        }
        s->flags |= ALB_SIDE_ERROR;
        return ALB_SIDE_FAILED;
    }
}

ssize_t alb_side_writev(struct alb_side *s, const struct iovec *iov, int cnt)
{
    if (cnt == 0)
        return 0;
    if (!s->vops)
        return alb_side_io_writev(s, iov, cnt);
    ssize_t n = s->vops->writev(s->vctx, s, iov, cnt);
    if (n == 0 && s->io.fd < 0)
        s->flags &= ~ALB_SIDE_WRITABLE; /* no socket: the ops say when there is room */
    else if (n == ALB_SIDE_FAILED)
        s->flags |= ALB_SIDE_ERROR;
    return n;
}
