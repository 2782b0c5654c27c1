/* proxy/session.h : the HTTP/1.1 proxy session of one client connection.
 * See session.c for the state machine. Worker thread only. */
#ifndef ALB_PROXY_SESSION_H
#define ALB_PROXY_SESSION_H

#include <stdbool.h>
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

/* ---- HTTP/2 streams (proxy/h2.c) ----------------------------------------------
 * A stream runs as a client of its own without a socket: its request comes
 * as HTTP/1.1 bytes through <ops>, its response leaves the same way, and
 * it serves that one request. */
struct alb_vside_ops;
struct alb_client *alb_session_open_stream(struct alb_client *conn, const struct alb_vside_ops *ops, void *ctx);
/* alb_session_stream_run() : the stream has new bytes to read or room to write. */
void alb_session_stream_run(struct alb_client *stream, bool readable, bool writable);
/* alb_session_stream_close() : the stream went away: its client closes (it calls alb_h2_stream_closed()). */
void alb_session_stream_close(struct alb_client *stream);
/* alb_session_h2_done() : the HTTP/2 connection ends: the client closes. */
void alb_session_h2_done(struct alb_client *conn);
/* alb_session_h2_idle() : no request runs on the connection (its idle timeout runs), or some do. */
void alb_session_h2_idle(struct alb_client *conn, bool idle);

#endif
