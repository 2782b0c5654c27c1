/* proxy/h2up.h : HTTP/2 to a backend (gRPC: backend protocol h2c or h2).
 *
 * The session speaks HTTP/1.1 to every upstream. On an HTTP/2 upstream
 * connection these ops stand between it and the socket: the request it
 * writes (head, then a Content-Length or chunked body) leaves as HEADERS
 * and DATA on a new stream; the response comes back as HTTP/1.1 bytes,
 * always chunked, so that trailers (grpc-status) follow the body; a
 * trailers-only response (HEADERS ending the stream) comes back with no
 * body and its fields in the head. One stream at a time per connection:
 * once a stream is closed cleanly the connection returns to its pool like
 * an HTTP/1.1 one. Bodies are bounded both ways by HTTP/2 flow control
 * and by what the session takes. Worker thread.
 */
#ifndef ALB_PROXY_H2UP_H
#define ALB_PROXY_H2UP_H

#include <stdbool.h>

struct alb_h2up;
struct alb_vside_ops;

/* alb_h2up_new() : the HTTP/2 client side of one backend connection;
 * <tls>: the :scheme is https. NULL when out of memory. */
struct alb_h2up *alb_h2up_new(bool tls);

void alb_h2up_free(struct alb_h2up *u);

/* alb_h2up_reusable() : no stream open, no GOAWAY, no error: it may carry
 * the next request. */
bool alb_h2up_reusable(const struct alb_h2up *u);

extern const struct alb_vside_ops alb_h2up_ops;

#endif
