/* source/kubeapi.h : a Kubernetes API client (libcurl, JSON by jansson).
 *
 * Credentials come from a kubeconfig file, read as kubectl reads it (the
 * current context; its cluster's server, CA data or file, or
 * insecure-skip-tls-verify; its user's token or tokenFile, or client
 * certificate and key, data or file), or from the service account a pod
 * runs as (KUBERNETES_SERVICE_HOST/_PORT, the mounted token and CA). A token
 * file is read again before each request, so a rotated token is used as
 * soon as the kubelet writes it.
 *
 * A client is immutable once made and may be used by several threads at
 * once; a call uses the caller's connection (struct alb_kube_conn, one per
 * thread) or makes its own. Never on the request path.
 */
#ifndef ALB_SOURCE_KUBEAPI_H
#define ALB_SOURCE_KUBEAPI_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define ALB_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* The largest response read whole (a LIST page) and the longest watch event
 * line: Kubernetes objects are at most 1.5 MiB, a page is 500 of them. */
#define ALB_KUBE_MAX_BODY (256u << 20)
#define ALB_KUBE_MAX_EVENT (8u << 20)

struct alb_kube;

/* alb_kube_from_kubeconfig() : a client for the current context of the
 * kubeconfig at <path>. NULL with err[] naming the file and what is wrong. */
struct alb_kube *alb_kube_from_kubeconfig(const char *path, char *err, size_t err_len);

/* alb_kube_in_cluster() : a client for the pod's own service account, the
 * files under <sa_dir> (ALB_KUBE_SA_DIR in a pod). NULL with err[]. */
struct alb_kube *alb_kube_in_cluster(const char *sa_dir, char *err, size_t err_len);

void alb_kube_free(struct alb_kube *k);

/* alb_kube_server() : the API server's URL, for logs. */
const char *alb_kube_server(const struct alb_kube *k);

/* A connection kept between calls of one thread (zero-initialise; close
 * with alb_kube_conn_close()): a Lease renewed every 2 s, or thousands of
 * status writes, then cost one TLS handshake, not one each. */
struct alb_kube_conn {
    void *h;         /* the libcurl handle; NULL: none yet */
    long timeout_ms; /* a call's limit, connecting included; 0: 30 s */
};

void alb_kube_conn_close(struct alb_kube_conn *c);

/* alb_kube_call() : <method> <path> (from the server's root, query
 * included), with <body> (may be NULL) sent as <content_type> (NULL:
 * application/json), over <conn>'s connection (NULL: a connection of its
 * own; a failed call closes <conn>'s). Returns the HTTP status, with the parsed response
 * body in *out when it is JSON (one reference; NULL otherwise); or -1
 * when no response came, with err[] saying why. <stop> (may be NULL)
 * aborts the call within a second once set. */
int alb_kube_call(struct alb_kube *k, struct alb_kube_conn *conn, const char *method, const char *path, json_t *body,
                  const char *content_type, json_t **out, const atomic_bool *stop, char *err, size_t err_len);

/* alb_kube_watch() : GET <path> (a watch) and hand each event (one JSON
 * line) to <fn> as it arrives, and NULL first, once the response head says
 * 2xx (the stream is open); <fn> returning false ends the watch. Returns
 * the HTTP status once the server ended the stream (a non-2xx status's body
 * is not passed to <fn>; its Status goes to *status_out, which may be
 * NULL), or -1 with err[] when the connection failed or was cut. */
typedef bool alb_kube_event_fn(void *ctx, json_t *event);
int alb_kube_watch(struct alb_kube *k, const char *path, alb_kube_event_fn *fn, void *ctx, json_t **status_out,
                   const atomic_bool *stop, char *err, size_t err_len);

/* alb_kube_escape() : <s> percent-encoded for a query value, into out[];
 * false when it does not fit. */
bool alb_kube_escape(const char *s, char *out, size_t len);

#endif
