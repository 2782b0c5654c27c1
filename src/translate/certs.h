/* translate/certs.h : the certificates of HTTPS listeners, from Secrets.
 *
 * A Secret holding a TLS pair (data "tls.crt" and "tls.key", base64; or
 * stringData) is checked once per version of it: the pair parses and
 * belongs together. The last good pair of each Secret is kept, so a Secret
 * that turns bad keeps serving what it served (with a diagnostic). Part of
 * the translation memo. Control thread.
 */
#ifndef ALB_TRANSLATE_CERTS_H
#define ALB_TRANSLATE_CERTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct cert_store;

struct cert_store *cert_store_new(void);
void cert_store_free(struct cert_store *cs);

/* cert_store_update() : the Secrets now (<secrets>, cnt of them, borrowed):
 * new versions are checked, Secrets gone are forgotten. */
void cert_store_update(struct cert_store *cs, json_t *const *secrets, size_t cnt);

struct cert_pair {
    const char *cert_pem, *key_pem; /* the pair to present: the last good one */
    char *const *names;             /* what it is valid for (subjectAltName DNS names, else CN) */
    size_t name_cnt;
    time_t not_after;
    const char *problem; /* why the Secret as it is now is not what is presented; NULL: it is */
};

/* cert_store_get() : Secret ns/name's pair. False when it has none that was
 * ever good; *problem then says why (missing, not a TLS pair, ...). */
bool cert_store_get(struct cert_store *cs, const char *ns, const char *name, struct cert_pair *out,
                    const char **problem);

/* cert_store_discover() : a Secret of type kubernetes.io/tls, good now,
 * whose certificate is valid for <host>: in namespace <ns> first, then in
 * any, in namespace/name order. Writes "ns/name" into id[]; false: none. */
bool cert_store_discover(struct cert_store *cs, const char *host, const char *ns, char *id, size_t id_len);

/* cert_secret_value() : the value of key <k> of Secret <secret> (stringData
 * as is, else data decoded from base64); NULL with *why when there is none
 * or it is not text. The caller frees it. */
char *cert_secret_value(json_t *secret, const char *k, const char **why);

#endif
