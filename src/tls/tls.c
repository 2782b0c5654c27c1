/* tls/tls.c : see tls.h. */
#include "tls/tls.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* ---- process-wide state ------------------------------------------------------ */

struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
};

#define TICKET_KEYS 3 /* [0] seals; all open */

static struct {
    pthread_mutex_t lock;
    struct ticket_key keys[TICKET_KEYS];
    size_t key_cnt;
    X509 *generated_cert;
    EVP_PKEY *generated_key;
    SSL_CTX *client; /* for backends */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int ex_pass_cert = -1; /* SSL_CTX ex data: non-NULL: pass the client certificate on */

static void err_text(char *err, size_t err_len, const char *what)
{
    unsigned long e = ERR_get_error();
    char detail[256] = "";
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    snprintf(err, err_len, "%s%s%s", what, detail[0] ? ": " : "", detail);
}

static bool new_ticket_key(struct ticket_key *k)
{
    return RAND_bytes(k->name, sizeof(k->name)) == 1 && RAND_bytes(k->aes, sizeof(k->aes)) == 1 &&
           RAND_bytes(k->hmac, sizeof(k->hmac)) == 1;
}

void alb_tls_rotate_ticket_keys(void)
{
    struct ticket_key k;
    if (!new_ticket_key(&k))
        return; /* keep sealing with the current one */
    pthread_mutex_lock(&g.lock);
    memmove(&g.keys[1], &g.keys[0], sizeof(g.keys[0]) * (TICKET_KEYS - 1));
    g.keys[0] = k;
    if (g.key_cnt < TICKET_KEYS)
        g.key_cnt++;
    pthread_mutex_unlock(&g.lock);
    OPENSSL_cleanse(&k, sizeof(k));
}

/* A self-signed certificate for listeners without one: clients that do not
 * check (or pin) can still talk TLS, and the others get a clear failure. */
static int generate_certificate(char *err, size_t err_len)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    bool ok = key && x && name && RAND_bytes(serial, sizeof(serial)) == 1;
    if (ok) {
        serial[0] &= 0x7f; /* positive */
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) && X509_set_version(x, 2) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -86400) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"ALB default certificate", -1,
                                        -1, 0) &&
             X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) && X509_set_pubkey(x, key) &&
             X509_sign(x, key, EVP_sha256()) > 0;
    }
    BN_free(bn);
    X509_NAME_free(name);
    if (!ok) {
        err_text(err, err_len, "generating the default certificate");
        X509_free(x);
        EVP_PKEY_free(key);
        return -1;
    }
    g.generated_cert = x;
    g.generated_key = key;
    return 0;
}

int alb_tls_init(char *err, size_t err_len)
{
    if (g.generated_cert)
        return 0;
    if (OPENSSL_init_ssl(0, NULL) != 1 ||
        (ex_pass_cert < 0 && (ex_pass_cert = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0)) {
        err_text(err, err_len, "initialising OpenSSL");
        return -1;
    }
    alb_tls_rotate_ticket_keys();
    if (g.key_cnt == 0) {
        err_text(err, err_len, "making a session ticket key");
        return -1;
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX *client = SSL_CTX_new(TLS_client_method());
    if (!client || !SSL_CTX_set_min_proto_version(client, TLS1_2_VERSION) ||
        SSL_CTX_set_alpn_protos(client, alpn, sizeof(alpn) - 1) != 0) {
        err_text(err, err_len, "setting up TLS to backends");
        SSL_CTX_free(client);
        return -1;
    }
    SSL_CTX_set_verify(client, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_options(client, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(client, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(client, 1);
    g.client = client;
    return generate_certificate(err, err_len);
}

/* Seals and opens session tickets with the shared keys (RFC 5077 layout,
 * AES-256-CBC and HMAC-SHA256). Returns 1 (sealed), 2 (opened: resume and
 * issue a new ticket), 0 for an unknown key (a full handshake), -1. */
static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
                     int enc)
{
    (void)s;
    struct ticket_key k;
    int found = -1;
    pthread_mutex_lock(&g.lock);
    for (size_t i = 0; i < g.key_cnt && found < 0; i++)
        if (enc ? i == 0 : !memcmp(key_name, g.keys[i].name, 16))
            found = (int)i;
    if (found >= 0)
        k = g.keys[found];
    pthread_mutex_unlock(&g.lock);
    if (found < 0)
        return 0;
    int rc;
    if (enc) {
        memcpy(key_name, k.name, 16);
        rc = RAND_bytes(iv, 16) == 1 && EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
    } else {
        rc = EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
    }
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
                           OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_construct_end()};
    rc = rc && EVP_MAC_CTX_set_params(hctx, params) == 1;
    OPENSSL_cleanse(&k, sizeof(k));
    if (!rc)
        return -1;
    /* An opened ticket is always renewed: a TLS 1.3 client uses a ticket
     * once, so without a new one every other connection would be a full
     * handshake. */
    return enc ? 1 : 2;
}

/* ---- policies ------------------------------------------------------------------ */

/* ALB's system policies (docs/config.md lists them). TLS 1.0 and 1.1 sign
 * with MD5-SHA1, which OpenSSL 3 allows only at security level 0. */
static const char ALB_CIPHERS[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
    "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA:DES-CBC3-SHA";
static const char ALB_STRICT_CIPHERS[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA";
static const char TLS13_SUITES[] = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

static const struct {
    int min, max;
    const char *ciphers;
    int seclevel;
} policies[] = {
    [ALB_TLS_POLICY_1_0] = {TLS1_VERSION, TLS1_2_VERSION, ALB_CIPHERS, 0},
    [ALB_TLS_POLICY_1_1] = {TLS1_1_VERSION, TLS1_2_VERSION, ALB_CIPHERS, 0},
    [ALB_TLS_POLICY_1_2] = {TLS1_2_VERSION, TLS1_2_VERSION, ALB_CIPHERS, 0},
    [ALB_TLS_POLICY_1_2_STRICT] = {TLS1_2_VERSION, TLS1_2_VERSION, ALB_STRICT_CIPHERS, 1},
    [ALB_TLS_POLICY_1_2_STRICT_WITH_1_3] = {TLS1_2_VERSION, TLS1_3_VERSION, ALB_STRICT_CIPHERS, 1},
};

static const unsigned char ALPN_H2[] = "\x02h2\x08http/1.1", ALPN_H1[] = "\x08http/1.1";

/* <arg>: what we offer, ALPN_H2 or ALPN_H1, in our order of preference */
static int select_alpn(SSL *s, const unsigned char **out, unsigned char *out_len, const unsigned char *in,
                       unsigned int in_len, void *arg)
{
    (void)s;
    const unsigned char *ours = arg;
    unsigned int ours_len = ours == ALPN_H2 ? sizeof(ALPN_H2) - 1 : sizeof(ALPN_H1) - 1;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, out_len, ours, ours_len, in, in_len) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no common protocol: go on without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *new_ctx(enum alb_tls_policy p, char *err, size_t err_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    char ciphers[sizeof(ALB_CIPHERS) + 16];
    snprintf(ciphers, sizeof(ciphers), "%s:@SECLEVEL=%d", policies[p].ciphers, policies[p].seclevel);
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, policies[p].min) ||
        !SSL_CTX_set_max_proto_version(ctx, policies[p].max) || !SSL_CTX_set_cipher_list(ctx, ciphers) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES)) {
        err_text(err, err_len, "setting up TLS");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1); /* one read per burst of records, not two per record */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* tickets: no shared cache, no lock */
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_timeout(ctx, 2 * 3600); /* tickets outlive two rotations at most */
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"alb", 3); /* resumption with client certificates */
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)ALPN_H1);
    return ctx;
}

/* ---- certificates ----------------------------------------------------------------- */

/* Loads the certificate, its chain and key from PEM into <ctx>. */
static int use_pem(SSL_CTX *ctx, const char *cert_pem, const char *key_pem, char *err, size_t err_len)
{
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *leaf = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int rc = -1;
    if (!leaf)
        err_text(err, err_len, "the certificate does not parse");
    else if (!key)
        err_text(err, err_len, "the private key does not parse");
    else if (X509_check_private_key(leaf, key) != 1)
        err_text(err, err_len, "the private key does not match the certificate");
    else if (SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
        err_text(err, err_len, "the certificate or key is not usable");
    else
        rc = 0;
    for (X509 *chain; rc == 0 && (chain = PEM_read_bio_X509(cb, NULL, NULL, NULL));)
        if (SSL_CTX_add0_chain_cert(ctx, chain) != 1) {
            X509_free(chain);
            err_text(err, err_len, "the chain is not usable");
            rc = -1;
        }
    ERR_clear_error(); /* the end of the chain reads as an error */
    X509_free(leaf);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

static char *lower_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    for (size_t i = 0; d && i < n; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    if (d)
        d[n] = '\0';
    return d;
}

static bool add_name(struct alb_cert_info *info, const char *s, size_t n)
{
    if (n == 0 || n > 253 || memchr(s, '\0', n))
        return true; /* not a name: skipped */
    char **v = realloc(info->names, (info->name_cnt + 1) * sizeof(*v));
    if (!v)
        return false;
    info->names = v;
    return (info->names[info->name_cnt] = lower_dup(s, n)) && ++info->name_cnt;
}

static bool names_of(X509 *x, struct alb_cert_info *info)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    bool ok = true;
    for (int i = 0; ok && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS)
            ok = add_name(info, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
                          (size_t)ASN1_STRING_length(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    if (ok && info->name_cnt == 0) { /* no DNS names: the CN, as clients did before SANs */
        char cn[256];
        int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
        if (n > 0)
            ok = add_name(info, cn, (size_t)n);
    }
    return ok;
}

void alb_cert_info_free(struct alb_cert_info *info)
{
    for (size_t i = 0; i < info->name_cnt; i++)
        free(info->names[i]);
    free(info->names);
    memset(info, 0, sizeof(*info));
}

int alb_tls_check_pair(const char *cert_pem, const char *key_pem, struct alb_cert_info *info, char *err,
                       size_t err_len)
{
    memset(info, 0, sizeof(*info));
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        err_text(err, err_len, "out of memory");
        return -1;
    }
    int rc = use_pem(ctx, cert_pem, key_pem, err, err_len);
    X509 *leaf = rc == 0 ? SSL_CTX_get0_certificate(ctx) : NULL;
    if (leaf) {
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
            info->not_after = timegm(&tm);
        if (!names_of(leaf, info)) {
            snprintf(err, err_len, "out of memory");
            rc = -1;
        }
    }
    SSL_CTX_free(ctx);
    if (rc < 0)
        alb_cert_info_free(info);
    return rc;
}

int alb_tls_check_ca(const char *pem, char *err, size_t err_len)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    size_t cnt = 0;
    for (X509 *x; b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)); cnt++)
        X509_free(x);
    ERR_clear_error();
    BIO_free(b);
    if (!cnt)
        snprintf(err, err_len, "no certificate parses");
    return cnt ? 0 : -1;
}

bool alb_cert_covers(char *const *names, size_t name_cnt, const char *host)
{
    const char *dot = strchr(host, '.');
    for (size_t i = 0; i < name_cnt; i++) {
        const char *n = names[i];
        if (!strcasecmp(n, host))
            return true;
        if (n[0] == '*' && n[1] == '.' && dot && dot != host && !strcasecmp(n + 1, dot))
            return true;
    }
    return false;
}

/* ---- client certificates ------------------------------------------------------------ */

static int accept_any(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1; /* optional_no_ca: the result is told to the backend, not enforced */
}

/* Asks for, and checks, client certificates on <ctx> as <a> says. */
static int use_client_auth(SSL_CTX *ctx, const struct alb_client_auth *a, char *err, size_t err_len)
{
    if (a->verify == ALB_CLIENT_VERIFY_OFF)
        return 0;
    if (a->ca_pem) {
        X509_STORE *store = X509_STORE_new();
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        BIO *b = BIO_new_mem_buf(a->ca_pem, -1);
        size_t cnt = 0;
        for (X509 *x; store && names && b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)); cnt++) {
            X509_NAME *dup = X509_NAME_dup(X509_get_subject_name(x));
            if (X509_STORE_add_cert(store, x) != 1 || !dup || !sk_X509_NAME_push(names, dup))
                X509_NAME_free(dup);
            X509_free(x);
        }
        ERR_clear_error();
        BIO_free(b);
        if (!cnt) {
            X509_STORE_free(store);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            snprintf(err, err_len, "client_auth.ca_pem: no certificate parses");
            return -1;
        }
        SSL_CTX_set_cert_store(ctx, store);
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    int mode = SSL_VERIFY_PEER | (a->verify == ALB_CLIENT_VERIFY_ON ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(ctx, mode, a->verify == ALB_CLIENT_VERIFY_OPTIONAL_NO_CA ? accept_any : NULL);
    SSL_CTX_set_verify_depth(ctx, (int)a->depth);
    SSL_CTX_set_ex_data(ctx, ex_pass_cert, a->pass_certificate ? (void *)&ex_pass_cert : NULL);
    return 0;
}

bool alb_tls_client_auth(const struct alb_tls_conn *c)
{
    return (SSL_get_verify_mode((const SSL *)c) & SSL_VERIFY_PEER) != 0;
}

bool alb_tls_pass_client_cert(const struct alb_tls_conn *c)
{
    return SSL_CTX_get_ex_data(SSL_get_SSL_CTX((const SSL *)c), ex_pass_cert) != NULL;
}

void alb_tls_client_verify(const struct alb_tls_conn *c, char *buf, size_t len)
{
    const SSL *s = (const SSL *)c;
    long rc = SSL_get_verify_result(s);
    if (!SSL_get0_peer_certificate(s))
        snprintf(buf, len, "NONE");
    else if (rc == X509_V_OK)
        snprintf(buf, len, "SUCCESS");
    else
        snprintf(buf, len, "FAILED:%s", X509_verify_cert_error_string(rc));
}

/* <name> as RFC 2253 text into buf ("" when none). */
static void dn_text(const X509_NAME *name, char *buf, size_t len)
{
    buf[0] = '\0';
    BIO *b = name ? BIO_new(BIO_s_mem()) : NULL;
    if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(b, buf, (int)len - 1);
        buf[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

void alb_tls_client_subject(const struct alb_tls_conn *c, char *buf, size_t len)
{
    X509 *x = SSL_get0_peer_certificate((const SSL *)c);
    dn_text(x ? X509_get_subject_name(x) : NULL, buf, len);
}

void alb_tls_client_issuer(const struct alb_tls_conn *c, char *buf, size_t len)
{
    X509 *x = SSL_get0_peer_certificate((const SSL *)c);
    dn_text(x ? X509_get_issuer_name(x) : NULL, buf, len);
}

void alb_tls_client_fingerprint(const struct alb_tls_conn *c, char *buf, size_t len)
{
    X509 *x = SSL_get0_peer_certificate((const SSL *)c);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    buf[0] = '\0';
    if (!x || X509_digest(x, EVP_sha1(), md, &n) != 1)
        return;
    for (unsigned i = 0; i < n && 2 * i + 2 < len; i++)
        snprintf(buf + 2 * i, 3, "%02x", md[i]);
}

void alb_tls_client_cert_escaped(const struct alb_tls_conn *c, char *buf, size_t len)
{
    X509 *x = SSL_get0_peer_certificate((const SSL *)c);
    BIO *b = x ? BIO_new(BIO_s_mem()) : NULL;
    buf[0] = '\0';
    if (b && PEM_write_bio_X509(b, x) == 1) {
        char *pem;
        long n = BIO_get_mem_data(b, &pem);
        size_t w = 0;
        for (long i = 0; i < n && w + 4 < len; i++) { /* URL-escaped, as nginx's $ssl_client_escaped_cert */
            unsigned char ch = (unsigned char)pem[i];
            if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')
                buf[w++] = (char)ch;
            else
                w += (size_t)snprintf(buf + w, len - w, "%%%02X", ch);
        }
        buf[w] = '\0';
    }
    BIO_free(b);
}

/* ---- listener contexts -------------------------------------------------------------- */

static char generated_marker; /* the app data of contexts with the generated certificate */

struct sni {
    char *host;   /* owned; exact, or ".example.com" for "*.example.com" */
    SSL_CTX *ctx; /* borrowed from the state */
};

struct alb_tls_state {
    SSL_CTX *base;      /* the default certificate's; every connection starts here */
    SSL_CTX **ctxs;     /* one reference each: a context per certificate, then the generated one if used */
    size_t ctx_cnt;
    SSL_CTX *generated; /* borrowed; the generated certificate's context, or NULL */
    struct sni *exact, *wild;
    size_t exact_cnt, wild_cnt;
};

static int cmp_sni(const void *a, const void *b) { return strcmp(((const struct sni *)a)->host, ((const struct sni *)b)->host); }

static SSL_CTX *sni_find(const struct sni *v, size_t n, const char *host)
{
    struct sni key = {(char *)host, NULL};
    const struct sni *hit = n ? bsearch(&key, v, n, sizeof(*v), cmp_sni) : NULL;
    return hit ? hit->ctx : NULL;
}

static int on_servername(SSL *s, int *alert, void *arg)
{
    (void)alert;
    const struct alb_tls_state *st = arg;
    const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    size_t n = name ? strlen(name) : 0;
    if (!n || n > 253)
        return SSL_TLSEXT_ERR_OK; /* the default certificate */
    char host[254];
    for (size_t i = 0; i <= n; i++)
        host[i] = (char)tolower((unsigned char)name[i]);
    if (host[n - 1] == '.')
        host[n - 1] = '\0';
    SSL_CTX *ctx = sni_find(st->exact, st->exact_cnt, host);
    const char *dot = strchr(host, '.');
    if (!ctx && dot && dot != host)
        ctx = sni_find(st->wild, st->wild_cnt, dot);
    if (ctx && ctx != st->base) {
        SSL_set_SSL_CTX(s, ctx);
        /* the new context's client certificate settings: SSL_set_SSL_CTX keeps the old ones */
        SSL_set_verify(s, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
        SSL_set_verify_depth(s, SSL_CTX_get_verify_depth(ctx));
    }
    return SSL_TLSEXT_ERR_OK;
}

static void state_free(struct alb_tls_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->ctx_cnt; i++)
        SSL_CTX_free(st->ctxs[i]);
    free(st->ctxs);
    for (size_t i = 0; i < st->exact_cnt; i++)
        free(st->exact[i].host);
    for (size_t i = 0; i < st->wild_cnt; i++)
        free(st->wild[i].host);
    free(st->exact);
    free(st->wild);
    free(st);
}

/* Adds <host> (lower-case) for <ctx>; the first certificate to claim a host keeps it. */
static bool sni_add(struct alb_tls_state *st, const char *host, SSL_CTX *ctx)
{
    bool wild = host[0] == '*' && host[1] == '.';
    struct sni **v = wild ? &st->wild : &st->exact;
    size_t *n = wild ? &st->wild_cnt : &st->exact_cnt;
    const char *key = wild ? host + 1 : host;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].host, key))
            return true;
    struct sni *nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv)
        return false;
    *v = nv;
    nv[*n] = (struct sni){strdup(key), ctx};
    return nv[(*n)++].host != NULL;
}

static struct alb_tls_state *build(const struct alb_listener_tls *t, char *err, size_t err_len)
{
    struct alb_tls_state *st = calloc(1, sizeof(*st));
    if (!st || !(st->ctxs = calloc(t->cert_cnt + 1, sizeof(*st->ctxs)))) {
        free(st);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < t->cert_cnt; i++) {
        const struct alb_certificate *c = &t->certs[i];
        char why[400] = "";
        SSL_CTX *ctx = new_ctx(t->policy, why, sizeof(why));
        const struct alb_client_auth *auth =
            c->client_auth.verify != ALB_CLIENT_VERIFY_OFF ? &c->client_auth : &t->client_auth;
        if (!ctx || use_pem(ctx, c->cert_pem, c->key_pem, why, sizeof(why)) < 0 ||
            use_client_auth(ctx, auth, why, sizeof(why)) < 0) {
            snprintf(err, err_len, "certificates[%zu] (%.100s): %s", i, c->name, why);
            SSL_CTX_free(ctx);
            state_free(st);
            return NULL;
        }
        st->ctxs[st->ctx_cnt++] = ctx;
        bool ok = true;
        if (c->host_cnt) {
            for (size_t h = 0; h < c->host_cnt && ok; h++)
                ok = sni_add(st, c->hosts[h], ctx);
        } else { /* the certificate's own names */
            struct alb_cert_info info = {0};
            ok = names_of(SSL_CTX_get0_certificate(ctx), &info);
            for (size_t h = 0; h < info.name_cnt && ok; h++)
                ok = sni_add(st, info.names[h], ctx);
            alb_cert_info_free(&info);
        }
        if (!ok) {
            snprintf(err, err_len, "out of memory");
            state_free(st);
            return NULL;
        }
    }
    if (t->default_cert >= 0) {
        st->base = st->ctxs[t->default_cert];
    } else {
        char why[400] = "";
        SSL_CTX *ctx = new_ctx(t->policy, why, sizeof(why));
        if (!ctx || SSL_CTX_use_certificate(ctx, g.generated_cert) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, g.generated_key) != 1 || use_client_auth(ctx, &t->client_auth, why, sizeof(why)) < 0) {
            if (ctx && !why[0])
                err_text(why, sizeof(why), "the generated certificate");
            snprintf(err, err_len, "%s", why);
            SSL_CTX_free(ctx);
            state_free(st);
            return NULL;
        }
        st->ctxs[st->ctx_cnt++] = ctx;
        st->base = st->generated = ctx;
        SSL_CTX_set_app_data(ctx, &generated_marker);
    }
    for (size_t i = 0; t->http2 && i < st->ctx_cnt; i++)
        SSL_CTX_set_alpn_select_cb(st->ctxs[i], select_alpn, (void *)ALPN_H2);
    if (st->exact_cnt > 1)
        qsort(st->exact, st->exact_cnt, sizeof(*st->exact), cmp_sni);
    if (st->wild_cnt > 1)
        qsort(st->wild, st->wild_cnt, sizeof(*st->wild), cmp_sni);
    SSL_CTX_set_tlsext_servername_callback(st->base, on_servername);
    SSL_CTX_set_tlsext_servername_arg(st->base, st);
    return st;
}

int alb_tls_compile(struct alb_config *cfg, char *err, size_t err_len)
{
    cfg->tls_free = state_free;
    for (size_t i = 0; i < cfg->listener_cnt; i++) {
        struct alb_listener_cfg *l = &cfg->listeners[i];
        if (!l->https || l->tls.state)
            continue;
        char why[600];
        if (!g.generated_cert && alb_tls_init(why, sizeof(why)) < 0) {
            snprintf(err, err_len, "%s", why);
            return -1;
        }
        l->tls.state = build(&l->tls, why, sizeof(why));
        if (!l->tls.state) {
            snprintf(err, err_len, "listeners[%zu].tls.%s", i, why);
            return -1;
        }
    }
    return 0;
}

/* ---- connections -------------------------------------------------------------------- */

struct alb_tls_conn *alb_tls_accept(const struct alb_listener_cfg *l, int fd)
{
    SSL *s = SSL_new(l->tls.state->base);
    if (!s || SSL_set_fd(s, fd) != 1) {
        SSL_free(s);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(s);
    return (struct alb_tls_conn *)s;
}

struct alb_tls_conn *alb_tls_connect(int fd, const char *sni, bool h2)
{
    SSL *s = g.client ? SSL_new(g.client) : NULL;
    if (!s || SSL_set_fd(s, fd) != 1 || (sni && sni[0] && SSL_set_tlsext_host_name(s, sni) != 1) ||
        (h2 && SSL_set_alpn_protos(s, ALPN_H2, 3) != 0)) {
        SSL_free(s);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_connect_state(s);
    return (struct alb_tls_conn *)s;
}

/* The outcome of an SSL_read or SSL_write that moved no byte. */
static ssize_t stalled(SSL *s, int rc, bool *want_write)
{
    int e = SSL_get_error(s, rc);
    *want_write = e == SSL_ERROR_WANT_WRITE;
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return ALB_TLS_EOF;
    case SSL_ERROR_SYSCALL:
        if (errno == EINTR || errno == EAGAIN) {
            ERR_clear_error();
            return 0;
        }
        ERR_clear_error();
        return errno == 0 ? ALB_TLS_EOF : ALB_TLS_FAILED;
    default:
        ERR_clear_error(); /* a handshake failure, a bad record: the connection ends */
        return ALB_TLS_FAILED;
    }
}

static ssize_t outcome(SSL *s, int n, bool *want_write)
{
    if (n > 0) {
        *want_write = false;
        return n;
    }
    return stalled(s, n, want_write);
}

static int clamp(size_t len) { return len > INT32_MAX ? INT32_MAX : (int)len; }

ssize_t alb_tls_read(struct alb_tls_conn *c, void *buf, size_t len, bool *want_write)
{
    errno = 0;
    return outcome((SSL *)c, SSL_read((SSL *)c, buf, clamp(len)), want_write);
}

ssize_t alb_tls_write(struct alb_tls_conn *c, const void *buf, size_t len, bool *want_write)
{
    errno = 0;
    return outcome((SSL *)c, SSL_write((SSL *)c, buf, clamp(len)), want_write);
}

void alb_tls_send_close_notify(struct alb_tls_conn *c)
{
    SSL *s = (SSL *)c;
    if (SSL_is_init_finished(s) && !(SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN))
        SSL_shutdown(s); /* without waiting for the peer's */
    ERR_clear_error();
}

void alb_tls_close(struct alb_tls_conn *c)
{
    if (!c)
        return;
    alb_tls_send_close_notify(c);
    SSL_free((SSL *)c);
}

bool alb_tls_named_certificate(const struct alb_tls_conn *c)
{
    return SSL_CTX_get_app_data(SSL_get_SSL_CTX((const SSL *)c)) != &generated_marker;
}

bool alb_tls_resumed(const struct alb_tls_conn *c) { return SSL_session_reused((SSL *)c) == 1; }

bool alb_tls_alpn_h2(const struct alb_tls_conn *c)
{
    const unsigned char *p;
    unsigned int n;
    SSL_get0_alpn_selected((const SSL *)c, &p, &n);
    return n == 2 && p[0] == 'h' && p[1] == '2';
}
