/* http/path.h : the normalised path used for routing.
 *
 * The backend always receives the target as the client sent it; only the
 * route lookup uses this form, so that "/a/%62" and "/a/./b/../b" reach the
 * same route as "/a/b" and "/admin/../public" cannot sneak past a route on
 * "/public" (or into one on "/admin").
 */
#ifndef ALB_HTTP_PATH_H
#define ALB_HTTP_PATH_H

#include <stddef.h>

/* alb_path_normalize() : normalises the path of an origin-form target
 * in[0..len) (a query, from '?', is ignored) into out[0..cap):
 *  - %XX of an unreserved character (RFC 3986 §2.3) is decoded; other
 *    escapes are kept, with upper-case hex digits (RFC 3986 §6.2.2.1);
 *  - dot segments are removed (RFC 3986 §5.2.4), including those spelled
 *    with %2E.
 * Returns the normalised length, or -1 for an invalid escape or an encoded
 * NUL (the request is then a 400). Needs cap >= len + 1; never writes a NUL. */
long alb_path_normalize(const char *in, size_t len, char *out, size_t cap);

#endif
