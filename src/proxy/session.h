/* proxy/session.h : the HTTP/1.1 proxy session of one client connection.
 * See session.c for the state machine. Worker thread only. */
#ifndef ALB_PROXY_SESSION_H
#define ALB_PROXY_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

struct alb_wlistener;
struct alb_worker;
struct alb_client;

/* alb_session_accept() : takes ownership of the accepted socket <fd>. */
void alb_session_accept(struct alb_wlistener *l, int fd, const struct sockaddr *peer);

/* alb_session_drain() : the worker began a graceful stop: idle connections
 * close now, busy ones after their current response. */
void alb_session_drain(struct alb_worker *w);

/* alb_session_close_all() : the drain deadline passed: close everything. */
void alb_session_close_all(struct alb_worker *w);

/* alb_session_listener_retired() : listener <l> left the config: its idle
 * connections close now, busy ones after their current response. */
void alb_session_listener_retired(struct alb_worker *w, struct alb_wlistener *l);

/* alb__worker_listener_conn_closed() : a connection of <l> closed (worker.c
 * frees a retired listener with its last connection). */
void alb__worker_listener_conn_closed(struct alb_wlistener *l);

/* alb__session_on_upstream() : epoll <events> on the upstream connection
 * attached to <c>. */
void alb__session_on_upstream(struct alb_client *c, uint32_t events);

#endif
