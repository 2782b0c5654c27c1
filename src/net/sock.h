/* net/sock.h : socket set-up for listeners and upstream connections. */
#ifndef ALB_NET_SOCK_H
#define ALB_NET_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* alb_sock_listen() : a non-blocking listening socket bound to <addr> with
 * SO_REUSEADDR and SO_REUSEPORT, so each worker can bind its own socket on
 * the same port and the kernel spreads connections between them.
 * Returns the fd, or -errno. */
int alb_sock_listen(const struct sockaddr *addr, socklen_t addr_len, int backlog);

/* alb_sock_probe_bind() : whether a listener on <addr> could be bound now,
 * by binding (with the same options, without listening) and closing at once.
 * Returns 0 or -errno (-EADDRINUSE when another process holds the port). */
int alb_sock_probe_bind(const struct sockaddr *addr, socklen_t addr_len);

/* alb_sock_connect() : starts a non-blocking connect to <addr>. Returns the
 * fd (connected or in progress: completion shows as writability, and
 * alb_sock_error() then tells the outcome), or -errno. */
int alb_sock_connect(const struct sockaddr *addr, socklen_t addr_len);

/* alb_sock_set_nodelay() : disables Nagle's algorithm: every write is a
 * whole response or request head, so waiting to coalesce only adds latency. */
void alb_sock_set_nodelay(int fd);

/* alb_sock_error() : the pending SO_ERROR of <fd> as a positive errno, 0. */
int alb_sock_error(int fd);

/* alb_sock_format_ip() : the numeric address of <sa> into out (for
 * X-Forwarded-For and X-Real-IP); returns its length. An IPv4-mapped IPv6
 * address is written as IPv4. */
size_t alb_sock_format_ip(const struct sockaddr *sa, char *out, size_t cap);

#endif
