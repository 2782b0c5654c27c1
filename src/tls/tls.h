/* tls/tls.h : TLS termination with OpenSSL 3, the only user of it.
 *
 * Per HTTPS listener of a snapshot, alb_tls_compile() builds one SSL_CTX per
 * certificate, with the listener's policy, and picks one by SNI: an exact
 * host first, then a one-label wildcard, else the listener's default
 * certificate (a generated self-signed one when it has none). Contexts are
 * shared by every worker and live as long as the snapshot; a connection
 * keeps its own reference, so a new snapshot (a rotated certificate) never
 * closes a connection.
 *
 * Session resumption: tickets sealed with process-wide keys that every
 * worker and every snapshot share, rotated by alb_tls_rotate_ticket_keys()
 * (the newest key seals, the two before it still open). Idle connections
 * give back their record buffers (SSL_MODE_RELEASE_BUFFERS).
 */
#ifndef ALB_TLS_TLS_H
#define ALB_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config/config.h"

#define ALB_TLS_TICKET_ROTATE_MS (3600u * 1000u)

/* alb_tls_init() : process-wide state (ticket keys, the generated default
 * certificate). Once, before anything else here. 0, or -1 with err[]. */
int alb_tls_init(char *err, size_t err_len);

/* alb_tls_rotate_ticket_keys() : a new sealing key; the oldest goes. Any thread. */
void alb_tls_rotate_ticket_keys(void);

/* alb_tls_compile() : the contexts of every HTTPS listener of <cfg>
 * (listeners[].tls.state) and cfg->tls_free. 0, or -1 with err[] naming the
 * listener and certificate (a certificate or key that does not parse, a key
 * that does not match). Control thread, before publishing. */
int alb_tls_compile(struct alb_config *cfg, char *err, size_t err_len);

/* ---- connections (worker threads) ------------------------------------------ */

struct alb_tls_conn;

/* alb_tls_accept() : server side TLS on accepted socket <fd>; NULL when out
 * of memory. */
struct alb_tls_conn *alb_tls_accept(const struct alb_listener_cfg *l, int fd);

/* alb_tls_connect() : client side TLS on connecting socket <fd>, to a
 * backend: SNI <sni> (NULL: none), ALPN http/1.1 (<h2>: h2), TLS 1.2 or
 * 1.3, the server's certificate not verified (pods' certificates rarely
 * name anything a proxy could check). NULL when out of memory. */
struct alb_tls_conn *alb_tls_connect(int fd, const char *sni, bool h2);

/* alb_tls_read() / alb_tls_write() : bytes moved (> 0); 0 when TLS needs the
 * socket readable (*want_write false) or writable (*want_write true) first;
 * ALB_TLS_EOF when the peer closed; ALB_TLS_FAILED on an error. */
#define ALB_TLS_EOF (-1)
#define ALB_TLS_FAILED (-2)
ssize_t alb_tls_read(struct alb_tls_conn *c, void *buf, size_t len, bool *want_write);
ssize_t alb_tls_write(struct alb_tls_conn *c, const void *buf, size_t len, bool *want_write);

/* alb_tls_send_close_notify() : says the connection ends (once; not
 * waiting for the peer's). alb_tls_close() : that, then frees (NULL: no-op). */
void alb_tls_send_close_notify(struct alb_tls_conn *c);
void alb_tls_close(struct alb_tls_conn *c);

/* alb_tls_named_certificate() : whether the connection presents one of the
 * listener's certificates (not the generated one): its host has a
 * certificate, so HSTS applies. */
bool alb_tls_named_certificate(const struct alb_tls_conn *c);

/* Client certificates. alb_tls_client_auth() : whether the handshake asked
 * for one (client_auth not off for the certificate presented);
 * alb_tls_pass_client_cert() : whether it is passed to the backend. The
 * rest write text for the headers backends see: the verification result
 * ("SUCCESS", "NONE", "FAILED:<reason>"), the subject and issuer (RFC
 * 2253), the SHA-1 fingerprint (hex), the PEM URL-escaped. */
bool alb_tls_client_auth(const struct alb_tls_conn *c);
bool alb_tls_pass_client_cert(const struct alb_tls_conn *c);
void alb_tls_client_verify(const struct alb_tls_conn *c, char *buf, size_t len);
void alb_tls_client_subject(const struct alb_tls_conn *c, char *buf, size_t len);
void alb_tls_client_issuer(const struct alb_tls_conn *c, char *buf, size_t len);
void alb_tls_client_fingerprint(const struct alb_tls_conn *c, char *buf, size_t len);
void alb_tls_client_cert_escaped(const struct alb_tls_conn *c, char *buf, size_t len);

/* alb_tls_resumed() : whether the handshake resumed a session. */
bool alb_tls_resumed(const struct alb_tls_conn *c);

/* alb_tls_alpn_h2() : whether ALPN chose HTTP/2. */
bool alb_tls_alpn_h2(const struct alb_tls_conn *c);

/* ---- certificates (control thread) ------------------------------------------ */

struct alb_cert_info {
    char **names;      /* owned: the DNS names of the subjectAltName (lower-case), else the CN */
    size_t name_cnt;
    time_t not_after;
};

/* alb_tls_check_pair() : whether <cert_pem> (a certificate, then its chain)
 * and <key_pem> parse and belong together; fills <info>. 0, or -1 with err[]. */
int alb_tls_check_pair(const char *cert_pem, const char *key_pem, struct alb_cert_info *info, char *err,
                       size_t err_len);
void alb_cert_info_free(struct alb_cert_info *info);

/* alb_tls_check_ca() : whether <pem> holds CA certificates that parse (at
 * least one). 0, or -1 with err[]. */
int alb_tls_check_ca(const char *pem, char *err, size_t err_len);

/* alb_cert_covers() : whether a certificate for <names> is valid for <host>
 * (exact, or a one-label "*." wildcard). */
bool alb_cert_covers(char *const *names, size_t name_cnt, const char *host);

#endif
