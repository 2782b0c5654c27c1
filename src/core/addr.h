/* core/addr.h : numeric socket addresses. */
#ifndef ALB_CORE_ADDR_H
#define ALB_CORE_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* alb_addr_parse() : <ip> (numeric IPv4, or IPv6 without brackets) and
 * <port> into *ss. False when <ip> is not a numeric address; names are
 * never resolved here. */
bool alb_addr_parse(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

/* alb_addr_parse_hostport() : "ADDR:PORT" or "[ADDR6]:PORT", port 1-65535. */
bool alb_addr_parse_hostport(const char *spec, struct sockaddr_storage *ss, socklen_t *len);

#endif
