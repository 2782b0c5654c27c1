/* admin/admin.c : see admin.h. Small and deliberately simple: responses are
 * built whole in memory (the largest is /config) and written as the socket
 * takes them. */
#include "admin/admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/h1.h"

#define ADMIN_MAX_CONNS 64          /* the admin port is for probes and scrapes */
#define ADMIN_TIMEOUT_MS 5000u
#define ADMIN_MAX_HEAD 8192

struct admin_conn {
    struct alb_io io;
    struct alb_admin *a;
    struct alb_timer timer;
    struct alb_deferred defer;
    struct alb_sbuf out; /* the whole response */
    size_t out_off;
    size_t in_len;
    size_t scanned;
    bool responded;
    bool closed;
    char in[ADMIN_MAX_HEAD];
};

static void free_conn(struct alb_deferred *d)
{
    struct admin_conn *c = (struct admin_conn *)((char *)d - offsetof(struct admin_conn, defer));
    alb_sbuf_deinit(&c->out);
    free(c);
}

static void close_conn(struct admin_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    alb_loop_disarm(c->a->loop, &c->timer);
    close(c->io.fd);
    c->a->conn_cnt--;
    alb_loop_defer(c->a->loop, &c->defer, free_conn);
}

static void respond(struct admin_conn *c, int status, const char *type, const char *body, size_t body_len)
{
    static const char *const reasons[] = {[200] = "OK", [400] = "Bad Request", [404] = "Not Found",
                                          [405] = "Method Not Allowed", [503] = "Service Unavailable"};
    struct alb_http_date date = {0};
    alb_http_date_refresh(&date);
    alb_sbuf_printf(&c->out,
                    "HTTP/1.1 %d %s\r\nServer: alb\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                    "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                    status, reasons[status] ? reasons[status] : "Error", date.text, type, body_len);
    alb_sbuf_add(&c->out, body, body_len);
    c->responded = true;
}

static void respond_text(struct admin_conn *c, int status, const char *text)
{
    respond(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void route(struct admin_conn *c, const struct alb_h1_msg *m)
{
    const struct alb_admin_handlers *h = &c->a->h;
    struct alb_str path = m->path;
    const char *q = memchr(path.p, '?', path.len);
    if (q)
        path.len = (size_t)(q - path.p);
    if (m->method_id != ALB_H1_M_GET && m->method_id != ALB_H1_M_HEAD) {
        respond_text(c, 405, "only GET\n");
        return;
    }
    if (alb_str_is_ci(path, "/healthz")) {
        respond_text(c, 200, "ok\n");
    } else if (alb_str_is_ci(path, "/readyz")) {
        bool ready = h->is_ready(h->ctx);
        respond_text(c, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
    } else if (alb_str_is_ci(path, "/config")) {
        struct alb_sbuf body;
        alb_sbuf_init(&body);
        if (!h->config_json(h->ctx, &body) || body.failed)
            respond_text(c, 503, "no configuration\n");
        else
            respond(c, 200, "application/json", body.p, body.len);
        alb_sbuf_deinit(&body);
    } else if (alb_str_is_ci(path, "/metrics")) {
        struct alb_sbuf body;
        alb_sbuf_init(&body);
        h->metrics(h->ctx, &body);
        respond(c, body.failed ? 503 : 200, "text/plain; version=0.0.4; charset=utf-8", body.p ? body.p : "",
                body.len);
        alb_sbuf_deinit(&body);
    } else {
        respond_text(c, 404, "not found\n");
    }
    if (m->method_id == ALB_H1_M_HEAD) {
        /* HEAD: the same head, no body */
        char *end = strstr(c->out.p, "\r\n\r\n");
        if (end)
            c->out.len = (size_t)(end + 4 - c->out.p);
    }
}

static void on_conn_io(struct alb_io *io, uint32_t events)
{
    struct admin_conn *c = (struct admin_conn *)io;
    if (c->closed)
        return;
    if (!c->responded && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        for (;;) {
            ssize_t n = read(c->io.fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
            if (n > 0) {
                c->in_len += (size_t)n;
                if (c->in_len < sizeof(c->in))
                    continue;
            } else if (n == -1 && errno == EINTR) {
                continue;
            } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                close_conn(c);
                return;
            }
            break;
        }
        struct alb_h1_msg m;
        enum alb_h1_result r = alb_h1_parse_request(c->in, c->in_len, &c->scanned, &m);
        if (r == ALB_H1_ERROR)
            respond_text(c, 400, "bad request\n");
        else if (r == ALB_H1_DONE)
            route(c, &m);
        if (c->out.failed) {
            close_conn(c);
            return;
        }
    }
    while (c->responded && c->out_off < c->out.len) {
        ssize_t n = send(c->io.fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n == -1 && errno == EINTR) {
            continue;
        } else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            close_conn(c);
            return;
        }
    }
    if (c->responded)
        close_conn(c);
}

static void on_timeout(struct alb_timer *t)
{
    close_conn((struct admin_conn *)((char *)t - offsetof(struct admin_conn, timer)));
}

static void on_accept(struct alb_io *io, uint32_t events)
{
    struct alb_admin *a = (struct alb_admin *)io;
    (void)events;
    for (;;) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        struct admin_conn *c = a->conn_cnt < ADMIN_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            close(fd);
            continue;
        }
        c->io.fd = fd;
        c->io.fn = on_conn_io;
        c->a = a;
        alb_sbuf_init(&c->out);
        alb_timer_init(&c->timer, on_timeout);
        if (alb_loop_add(a->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) < 0 ||
            alb_loop_arm(a->loop, &c->timer, ADMIN_TIMEOUT_MS) < 0) {
            close(fd);
            free(c);
            continue;
        }
        a->conn_cnt++;
    }
}

int alb_admin_start(struct alb_admin *a, struct alb_loop *loop, int fd, const struct alb_admin_handlers *h)
{
    a->io.fd = fd;
    a->io.fn = on_accept;
    a->loop = loop;
    a->h = *h;
    a->conn_cnt = 0;
    return alb_loop_add(loop, &a->io, EPOLLIN);
}

void alb_admin_stop(struct alb_admin *a)
{
    if (a->io.fd != -1)
        close(a->io.fd);
    a->io.fd = -1;
}
