/* proxy/side.c : see side.h. EINTR and EAGAIN are handled here and nowhere
 * else on the data path. */
#include "proxy/side.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

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
    for (;;) {
        ssize_t n = read(s->io.fd, alb_buf_tail(s->in), room);
        if (n > 0) {
            s->in->end += (uint32_t)n;
            /* A short read drained the socket: Linux raises a new edge for
             * data that arrives later. Not after RDHUP: the FIN raised no
             * edge of its own, so read on until EOF is seen. */
            if ((size_t)n < room && !(s->flags & ALB_SIDE_RDHUP))
                s->flags &= ~ALB_SIDE_READABLE;
            return n;
        }
        if (n == 0) {
            s->flags = (s->flags | ALB_SIDE_EOF) & ~ALB_SIDE_READABLE;
            alb_side_release_if_empty(s, pool);
            return ALB_SIDE_GOT_EOF;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s->flags &= ~ALB_SIDE_READABLE;
            alb_side_release_if_empty(s, pool);
            return 0;
        }
        s->flags = (s->flags | ALB_SIDE_ERROR) & ~ALB_SIDE_READABLE;
        alb_side_release_if_empty(s, pool);
        return ALB_SIDE_FAILED;
    }
}

ssize_t alb_side_writev(struct alb_side *s, const struct iovec *iov, int cnt)
{
    if (cnt == 0 || !(s->flags & ALB_SIDE_WRITABLE))
        return 0;
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
