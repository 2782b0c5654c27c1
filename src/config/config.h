/* config/config.h : the data-plane configuration snapshot.
 *
 * A snapshot is built and validated whole on the control thread, then only
 * read: workers never modify it. It is documented for users in
 * docs/config.md (format version 1), which is the contract; this header is
 * its in-memory form. All strings and arrays are owned by the snapshot and
 * freed with it; pointers between its parts (rule -> backend) are borrowed
 * within the same snapshot.
 */
#ifndef ALB_CONFIG_CONFIG_H
#define ALB_CONFIG_CONFIG_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ALB_CONFIG_VERSION 1

/* Defaults, in the units of their names. Listener ones follow ALB listeners
 * (15 s idle keep-alive); backend ones follow ALB's requestTimeout (60 s). */
#define ALB_DEFAULT_CLIENT_HEADER_TIMEOUT_MS 10000u
#define ALB_DEFAULT_IDLE_TIMEOUT_MS 15000u
#define ALB_DEFAULT_TUNNEL_IDLE_TIMEOUT_MS 3600000u
#define ALB_DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define ALB_DEFAULT_RESPONSE_TIMEOUT_MS 60000u
#define ALB_DEFAULT_MAX_CONNECTIONS 100000u
#define ALB_MAX_WEIGHT 100u

struct alb_endpoint {
    char *address;   /* owned; the numeric address as configured */
    uint16_t port;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char text[64];   /* "ip:port" or "[ip6]:port", for logs and pool keys */
    uint32_t weight; /* 0..ALB_MAX_WEIGHT; 0 takes no new requests */
    bool ready;      /* false: takes no new requests (not ready, or terminating) */
};

/* Active health checking of a backend's endpoints (ALB's healthcheck-*
 * annotations, their ranges and defaults). Validated and kept now; the
 * health-check issue gives it its mechanism. */
struct alb_health_check {
    bool enabled;
    char *path;          /* owned; starts with '/' */
    uint16_t port;       /* 0: the endpoint's port */
    bool method_get;     /* GET, else HEAD (ALB's default) */
    uint32_t interval_ms;
    uint32_t timeout_ms;
    uint32_t healthy_threshold;
    uint32_t unhealthy_threshold;
    uint8_t codes;       /* bit k: (k+1)xx is healthy; default 2xx */
};

/* Session persistence (ALB's sticky-session annotations). Validated and
 * kept now; applied by the session-persistence issue. */
struct alb_session_persistence {
    bool enabled;
    bool server_cookie;   /* Server: follow the application's cookie; else Insert ALB's own */
    char *cookie_name;    /* owned; required with server_cookie */
    uint32_t timeout_s;   /* Insert cookie lifetime */
};
struct alb_backend {
    char *name;                  /* owned; NULL: this position is unused (see struct alb_config_builder) */
    struct alb_endpoint *eps;    /* owned array */
    size_t ep_cnt;
    uint32_t connect_timeout_ms;
    uint32_t response_timeout_ms; /* from request sent to response head, and between reads */
    bool tls;                    /* "protocol" "https" or "h2": TLS to the endpoints (SNI: the request host; not verified) */
    bool h2;                     /* "protocol" "h2c" or "h2": HTTP/2 to the endpoints (gRPC) */
    size_t index;                /* position in alb_config.backends, the same in every snapshot of a builder */
    struct alb_health_check health_check;
    struct alb_session_persistence session;
};

enum alb_path_match { ALB_PATH_PREFIX, ALB_PATH_EXACT, ALB_PATH_REGEX };

struct alb_regex; /* config/regex.h */
struct alb_router; /* route/route.h: the listener's compiled match tables */

#define ALB_DEFAULT_ORDER 10u
#define ALB_MAX_ORDER 1000u

enum alb_cond_type {
    ALB_COND_HEADER,    /* a request header equals (or matches) one of the values */
    ALB_COND_COOKIE,    /* a cookie <key> has one of the values */
    ALB_COND_QUERY,     /* a query parameter <key> has one of the values */
    ALB_COND_METHOD,    /* the method is one of the values */
    ALB_COND_SOURCE_IP, /* the client address is in one of the CIDRs */
};

struct alb_cidr {
    sa_family_t family;
    uint8_t prefix_len;
    uint8_t addr[16]; /* network byte order; bits past prefix_len are zero */
};

struct alb_condition {
    enum alb_cond_type type;
    char *key;                 /* owned; header name (lower-case), cookie name or query key */
    size_t key_len;
    bool regex;                /* header values are regexes (anchored, whole value) */
    char **values;             /* owned strings; OR-ed */
    size_t *value_lens;        /* owned */
    struct alb_regex **res;    /* owned, with regex */
    size_t value_cnt;
    struct alb_cidr *cidrs;    /* owned, source_ip */
    size_t cidr_cnt;
};

/* Actions. A rule has at most one traffic_limit, any number of modifiers
 * (rewrite, request/response header, cors, mirror), and exactly one final
 * action (forward, redirect or fixed_response); they run in that order. */
enum alb_action_type {
    ALB_ACT_FORWARD,
    ALB_ACT_REDIRECT,
    ALB_ACT_FIXED_RESPONSE,
    ALB_ACT_REWRITE,
    ALB_ACT_REQUEST_HEADER,
    ALB_ACT_RESPONSE_HEADER,
    ALB_ACT_CORS,
    ALB_ACT_TRAFFIC_LIMIT,
    ALB_ACT_MIRROR,
};

/* A token bucket shared by every worker: one 64-bit word, updated with
 * compare-and-swap, holding the last refill time (ms, 36 bits, wrapping) and
 * the tokens in thousandths (28 bits). Mutable runtime state inside an
 * otherwise immutable snapshot; it starts full with each snapshot. */
struct alb_bucket {
    _Atomic uint64_t state;
};

/* Per-client-IP buckets: a fixed table, one slot per IP hash. A slot taken
 * by another address starts over for the newcomer (bounded memory at the
 * cost of some leniency under very many clients). */
#define ALB_IP_BUCKETS 4096
struct alb_ip_bucket {
    atomic_flag lock;  /* held for a few instructions */
    uint64_t ip_key;
    uint64_t last_ms;
    uint32_t tokens_milli;
};

enum alb_header_op { ALB_HDR_INSERT, ALB_HDR_REPLACE, ALB_HDR_REMOVE };

struct alb_weighted_backend {
    size_t backend;  /* position in the snapshot's backends: see alb_config_backend() */
    uint32_t weight; /* 0..100 */
};

/* A template with ${host} ${path} ${port} ${protocol} ${query} and ${1}..${9}
 * (regex captures of the path), expanded when the rule runs. */
struct alb_template {
    char *text; /* owned; NULL: not set */
    size_t len;
};

struct alb_action {
    enum alb_action_type type;
    /* forward, mirror */
    struct alb_weighted_backend *groups; /* owned */
    size_t group_cnt;
    uint32_t weight_total;
    /* redirect (scheme, host, port, path, query), rewrite (host, path, query) */
    struct alb_template scheme, host, port, path, query;
    uint16_t code; /* redirect 301/302/303/307/308, fixed_response 100..599 */
    /* fixed_response */
    char *content_type; /* owned */
    char *body;         /* owned */
    size_t body_len;
    /* cors */
    char **origins;      /* owned; "*" or "scheme://host[:port]" with an optional "*." label */
    size_t origin_cnt;
    bool any_origin;     /* origins has "*" */
    char *allow_methods; /* owned */
    char *allow_headers; /* owned */
    char *expose_headers; /* owned; "" when none */
    bool allow_credentials;
    int64_t max_age;     /* seconds; -1: not sent */
    /* traffic_limit: 0 means no limit of that kind; the buckets live as
     * long as the rule set, so snapshots sharing it share its limits */
    uint32_t qps;
    uint32_t qps_per_ip;
    struct alb_bucket *bucket;        /* owned, with qps */
    struct alb_ip_bucket *ip_buckets; /* owned array of ALB_IP_BUCKETS, with qps_per_ip */
    /* request_header, response_header */
    enum alb_header_op op;
    char *name;  /* owned */
    size_t name_len;
    char *value; /* owned */
    size_t value_len;
};

struct alb_rule {
    size_t index;     /* position in the listener's rules: the declared order */
    uint32_t order;   /* priority, 1..1000: smaller first */
    char **hosts;     /* owned; lower-case; "*.example.com" is a one-label wildcard; empty: any host */
    size_t host_cnt;
    enum alb_path_match path_match;
    char *path;       /* owned; Exact/Prefix: starts with '/'; Regex: the pattern */
    size_t path_len;
    bool case_sensitive;      /* Regex only */
    struct alb_regex *path_re; /* owned, Regex only */
    struct alb_condition *conds; /* owned; AND-ed */
    size_t cond_cnt;
    struct alb_action *actions;  /* owned; modifiers first, the final action last */
    size_t action_cnt;
    const struct alb_action *final; /* borrowed from actions */
    int64_t max_body_bytes;      /* -1: the listener's limit; 0: none; else this */
};

/* Rules parsed once (from one source object, or one listener's "rules")
 * and shared by every snapshot that serves them: a changed Ingress does not
 * make the unchanged ones parse again. Immutable once parsed. */
struct alb_rule_set {
    atomic_uint refcnt;
    struct alb_rule *rules; /* owned, with everything the rules own */
    size_t cnt;
};

/* What the listener tells backends about the client (ALB's
 * xForwardedForConfig). A header that is on is set by ALB, replacing what
 * the client sent; one that is off passes as the client sent it. */
enum alb_xff_mode {
    ALB_XFF_APPEND, /* the client address appended to the incoming X-Forwarded-For */
    ALB_XFF_REMOVE, /* the field removed */
    ALB_XFF_KEEP,   /* passed as it came */
};

struct alb_forwarding {
    enum alb_xff_mode xff;
    bool proto;       /* X-Forwarded-Proto */
    bool port;        /* X-Forwarded-Port: the listener's port */
    bool host;        /* X-Forwarded-Host */
    bool real_ip;     /* X-Real-IP */
    bool client_port; /* X-Forwarded-Client-srcport: the client's source port */
    char *slb_id;     /* owned; SLB-ID: this value; NULL: not sent */
    /* ALB's client-certificate headers (HTTPS listeners asking for client
     * certificates): the header names to send them under; NULL: not sent */
    char *cc_subject, *cc_issuer, *cc_fingerprint, *cc_verify; /* owned */
};

/* TLS of an HTTPS listener (docs/config.md, "tls"). */
enum alb_tls_policy { /* ALB's system policies */
    ALB_TLS_POLICY_1_0,
    ALB_TLS_POLICY_1_1,
    ALB_TLS_POLICY_1_2,
    ALB_TLS_POLICY_1_2_STRICT,
    ALB_TLS_POLICY_1_2_STRICT_WITH_1_3,
};
extern const char *const alb_tls_policy_names[5]; /* "tls_cipher_policy_1_0", ... */

/* Client certificates (ALB's caEnabled; nginx's auth-tls-*). */
enum alb_client_verify {
    ALB_CLIENT_VERIFY_OFF,
    ALB_CLIENT_VERIFY_ON,            /* a certificate from one of the CAs is required */
    ALB_CLIENT_VERIFY_OPTIONAL,      /* asked for; one that is sent must verify */
    ALB_CLIENT_VERIFY_OPTIONAL_NO_CA /* asked for; not verified, the result is told to the backend */
};

struct alb_client_auth {
    enum alb_client_verify verify;
    char *ca_pem;          /* owned; the CAs; NULL only with OPTIONAL_NO_CA */
    uint32_t depth;        /* the longest chain accepted, 1..10 */
    bool pass_certificate; /* the certificate itself to the backend (ssl-client-cert) */
};

struct alb_certificate {
    char *name;     /* owned */
    char **hosts;   /* owned; lower-case; "*.example.com": one label; none: the certificate's own names */
    size_t host_cnt;
    char *cert_pem; /* owned: the certificate, then its chain */
    char *key_pem;  /* owned */
    struct alb_client_auth client_auth; /* for handshakes that select this certificate; OFF: the listener's */
};

struct alb_tls_state; /* tls/: the compiled contexts */

struct alb_listener_tls {
    enum alb_tls_policy policy;
    bool http2;                    /* offer h2 by ALPN (with HTTP/2; until then only http/1.1 is offered) */
    struct alb_certificate *certs; /* owned */
    size_t cert_cnt;
    long default_cert;             /* index into certs; -1: a generated self-signed certificate */
    char *hsts;                    /* owned; Strict-Transport-Security for hosts with a certificate; NULL: none */
    struct alb_client_auth client_auth; /* the listener's default */
    struct alb_tls_state *state;   /* owned; built by alb_tls_compile() */
};

struct alb_listener_cfg {
    char *name;                  /* owned */
    char *address;               /* owned; the numeric address as configured */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    uint16_t port;
    uint32_t client_header_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t tunnel_idle_timeout_ms;
    uint64_t max_body_bytes;     /* 0: no limit */
    uint32_t max_connections;    /* across all workers */
    struct alb_rule *rules;      /* owned array of copies of its sets' rules, in order; what
                                    they point to belongs to the sets; index renumbered */
    size_t rule_cnt;
    struct alb_rule_set **sets;  /* one reference each */
    size_t set_cnt;
    struct alb_router *router;   /* owned; built by alb_route_compile() */
    /* Who may connect (ALB's aclConfig). acl_cnt 0: everyone. */
    bool acl_allow;              /* true: only these; false: all but these */
    struct alb_cidr *acl;        /* owned */
    size_t acl_cnt;
    struct alb_forwarding forwarding;
    bool gzip;                   /* compress responses for clients that take gzip (ALB's gzipEnabled) */
    bool h2c;                    /* HTTP/2 without TLS, by prior knowledge (the connection preface) */
    bool https;                  /* TLS: <tls> is set */
    struct alb_listener_tls tls;
};

/* Frees a compiled router; set by route/ so that config/ does not depend on it. */
typedef void alb_router_free_fn(struct alb_router *r);
/* Frees compiled TLS contexts; set by tls/ likewise. */
typedef void alb_tls_state_free_fn(struct alb_tls_state *s);

struct alb_config {
    atomic_uint refcnt;                 /* see config/publish.h */
    struct alb_config *base;            /* NULL, or the snapshot whose listeners and backend settings this
                                           one shares (one reference): only the endpoints are its own */
    alb_router_free_fn *router_free;    /* for listeners[].router */
    alb_tls_state_free_fn *tls_free;    /* for listeners[].tls.state */
    uint64_t generation;                /* set when published */
    struct alb_config *retired_next;    /* see alb_publisher_release() */
    struct alb_listener_cfg *listeners; /* owned array */
    size_t listener_cnt;
    struct alb_backend *backends;       /* owned array */
    size_t backend_cnt;
};

/* Assigns backends their positions and keeps them from one snapshot to the
 * next, so that rule sets parsed for one snapshot (which name backends by
 * position) serve unchanged in the next. A name keeps its position while
 * snapshots built by this builder use it; a freed position goes to the next
 * new name. Control thread. */
struct alb_config_builder {
    struct json_t *positions; /* name -> position */
    char **names;             /* owned; by position; NULL: free */
    size_t cnt, cap;
    size_t first_free;        /* every position below is taken */
};

void alb_config_builder_init(struct alb_config_builder *b);
void alb_config_builder_deinit(struct alb_config_builder *b);

/* alb_config_builder_position() : the position of backend <name>, given
 * one if it has none. */
size_t alb_config_builder_position(struct alb_config_builder *b, const char *name);

/* alb_rule_set_parse() : parses <rules>, an array of rules in the config
 * format, into a set with one reference. Backend names get positions from
 * <b> (new names are added). NULL with err[] naming the JSON path, e.g.
 * "[2].actions[0].type: ...". */
struct alb_rule_set *alb_rule_set_parse(struct alb_config_builder *b, struct json_t *rules, char *err,
                                        size_t err_len);
struct alb_rule_set *alb_rule_set_ref(struct alb_rule_set *s);
void alb_rule_set_unref(struct alb_rule_set *s);

/* alb_config_assemble() : a snapshot from <root> (the config format) whose
 * listener i also serves the rule sets sets[i][0..set_cnt[i]), after its own
 * "rules"; <set_lists> must equal the number of listeners (0 and NULL when
 * there are no sets). Every backend a rule names must be in root's
 * backends. On success, positions of names no longer used are freed. */
struct alb_config *alb_config_assemble(struct alb_config_builder *b, struct json_t *root, const char *default_address,
                                       struct alb_rule_set *const *const *sets, const size_t *set_cnt,
                                       size_t set_lists, char *err, size_t err_len);

/* alb_config_parse() : builds a snapshot from JSON text. <default_address>
 * is used for listeners without "address" (NULL: 0.0.0.0). Strict: unknown
 * fields, wrong types, out-of-range values, unknown backend names and two
 * listeners on one address and port are errors.
 * Returns the snapshot, or NULL with err[0..err_len) naming the JSON path,
 * e.g. "listeners[0].port: expected an integer from 1 to 65535". */
struct alb_config *alb_config_parse(const char *text, size_t len, const char *default_address, char *err,
                                    size_t err_len);

/* alb_config_from_json() : the same from a document already parsed (jansson's
 * json_t, e.g. what translate/ builds), without a round trip through text.
 * <root> is borrowed. */
struct json_t;
struct alb_config *alb_config_from_json(struct json_t *root, const char *default_address, char *err, size_t err_len);

/* alb_config_with_endpoints() : a snapshot with the listeners, rules and
 * backend settings of <cur> (shared, not copied: routers are not compiled
 * again) and new endpoints: <endpoints> maps every backend's name to an
 * "endpoints" array as in the config format. Rules name backends by
 * position (alb_config_backend()), so rules shared with the base reach this
 * snapshot's endpoints. NULL with err[] naming the JSON path when an
 * endpoint is invalid or a backend has none listed. */
struct alb_config *alb_config_with_endpoints(struct alb_config *cur, struct json_t *endpoints, char *err,
                                             size_t err_len);

/* alb_object_equal_but_status() : whether Kubernetes objects <a> and <b>
 * are the same but for their status and metadata.resourceVersion: what
 * the API server changes when a controller writes a status, and what
 * translation never reads (source/ tells such changes apart; translate/
 * keeps its memo across them). Values that are not objects: json_equal(). */
bool alb_object_equal_but_status(struct json_t *a, struct json_t *b);

/* alb_config_backend() : the backend at <position> (as a rule names it) as
 * <cfg> has it, with <cfg>'s endpoints. */
static inline const struct alb_backend *alb_config_backend(const struct alb_config *cfg, size_t position)
{
    return &cfg->backends[position];
}

/* alb_config_load_file() : reads <path> and parses it; on error the message
 * starts with the file name. */
struct alb_config *alb_config_load_file(const char *path, const char *default_address, char *err,
                                        size_t err_len);

/* alb_config_free() : frees a snapshot nobody references (see
 * alb_config_unref() for shared ones). */
void alb_config_free(struct alb_config *c);

/* alb_config_to_json() : the snapshot in the format alb_config_parse()
 * reads, with every default made explicit, plus "generation" once it is
 * published. Keys in a stable order. Returns a malloc'd NUL-terminated string, or NULL when out
 * of memory. Any thread holding a reference. */
char *alb_config_to_json(const struct alb_config *c);

/* alb_cidr_parse() : "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32
 * or /128) into *out, host bits cleared. False when invalid. */
bool alb_cidr_parse(const char *text, struct alb_cidr *out);

/* alb_listener_same_bind() : true when two listeners bind the same address
 * and port (the stable identity of a listener across snapshots). */
bool alb_listener_same_bind(const struct alb_listener_cfg *a, const struct alb_listener_cfg *b);

#endif
