/* bench/okserver.c : the benchmark backend. One thread, epoll, answers every
 * request head (pipelining included) with a fixed 200 and keeps the
 * connection open. It parses nothing but the end of each head, so it costs
 * the proxies under test as little as possible. Usage: okserver PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

struct conn {
    int fd;
    size_t len;
    char buf[8192];
};

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) == -1 || listen(lfd, 4096) == -1) {
        perror("okserver");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    char out[64 * sizeof(resp)];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) != -1) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    c = calloc(1, sizeof(*c));
                    c->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
            if (r <= 0) {
                if (r == -1 && errno == EAGAIN)
                    continue;
                close(c->fd);
                free(c);
                continue;
            }
            c->len += (size_t)r;
            size_t off = 0, cnt = 0;
            char *e;
            while ((e = memmem(c->buf + off, c->len - off, "\r\n\r\n", 4)) && cnt < 64) {
                off = (size_t)(e - c->buf) + 4;
                memcpy(out + cnt * (sizeof(resp) - 1), resp, sizeof(resp) - 1);
                cnt++;
            }
            memmove(c->buf, c->buf + off, c->len - off);
            c->len -= off;
            if (c->len == sizeof(c->buf))
                c->len = 0; /* a head this large is not a benchmark request */
            if (cnt && write(c->fd, out, cnt * (sizeof(resp) - 1)) < 0) {
                close(c->fd);
                free(c);
            }
        }
    }
}
