/* translate/translate.h : Kubernetes objects -> the data-plane config.
 *
 * A pure function: no I/O, no clock. The objects (JSON values of any kind;
 * unknown kinds are ignored) become the config of docs/config.md, loaded by
 * the same strict loader as a config file, so both paths are validated
 * alike. An object that is invalid is left out
 * with an error diagnostic naming its kind, namespace/name and field; every
 * other object keeps serving. Control thread.
 */
#ifndef ALB_TRANSLATE_TRANSLATE_H
#define ALB_TRANSLATE_TRANSLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config/config.h"

#define ALB_DEFAULT_CONTROLLER "ingress.k8s.alibabacloud/alb"

struct alb_translate_opts {
    const char *controller;     /* IngressClass spec.controller that is ours */
    const char *listen_address; /* address listeners bind; NULL: 0.0.0.0 */
    const char *configmap;      /* "namespace/name" of the global options; NULL: none */
    json_t *resolved;           /* DNS name -> array of addresses, for ExternalName Services (a name
                                   absent: not looked up yet; []: does not resolve); NULL: not resolved
                                   here (alb translate, alb check) */
    const char *alb_namespace;  /* ALB's own: AlbConfig CertificateIds name Secrets there; NULL: "default" */
    time_t now;                 /* for certificate expiry warnings; 0: none */
};

enum alb_diag_level { ALB_DIAG_INFO, ALB_DIAG_WARNING, ALB_DIAG_ERROR };

struct alb_diag {
    enum alb_diag_level level; /* ERROR: the object (or that part of it) is rejected */
    char *kind, *ns, *name;    /* owned */
    char *message;             /* owned; starts with the field, e.g. "spec.rules[0].host: ..." */
};

struct alb_diags {
    struct alb_diag *v; /* owned */
    size_t cnt, cap;
    size_t errors;
};

void alb_diags_deinit(struct alb_diags *d);

/* alb_diag_event_type(), alb_diag_reason() : a diagnostic in the words
 * Kubernetes users know, for logs and Events alike: the Event type (Normal,
 * Warning) and the reason (ALB Ingress's FailedBuildModel for a rejection;
 * Degraded, Info). */
const char *alb_diag_event_type(enum alb_diag_level level);
const char *alb_diag_reason(enum alb_diag_level level);

/* What alb_translate() keeps from one call to the next so as to do less
 * work: each Ingress's rules, parsed (reused while the Ingress and what it
 * depends on are unchanged), backend positions, and where each backend's
 * endpoints come from. The result never depends on it. Control thread. */
struct alb_translate_memo;
struct alb_translate_memo *alb_translate_memo_new(void);
void alb_translate_memo_free(struct alb_translate_memo *m);

/* alb_translate_memo_sources() : backend name -> where its endpoints come
 * from, as of the last alb_translate(), for alb_translate_endpoints().
 * Borrowed; NULL before the first. */
json_t *alb_translate_memo_sources(const struct alb_translate_memo *m);

/* alb_translate_memo_external_names() : the DNS names of the ExternalName
 * Services the last alb_translate() used (an array; borrowed; NULL before
 * the first): what to keep resolved. */
json_t *alb_translate_memo_external_names(const struct alb_translate_memo *m);

/* alb_translate_memo_served() : the Ingresses the last alb_translate()
 * put on at least one listener, as an object "namespace/name" -> true.
 * One new reference. */
json_t *alb_translate_memo_served(const struct alb_translate_memo *m);

/* alb_translate() : the snapshot <objects> (an array) describe, built with
 * the same strict loader as a config file (routes not compiled yet);
 * diagnostics are appended to <d>. <memo> may be NULL. With a memo, objects
 * are immutable once passed: a changed object is a new one (the memo knows
 * an unchanged Ingress by its pointer first). NULL with err[] only when the
 * result does not load (a bug in the translator) or when out of memory. */
struct alb_config *alb_translate(json_t *objects, const struct alb_translate_opts *o, struct alb_diags *d,
                                 struct alb_translate_memo *memo, char *err, size_t err_len);

/* alb_translate_endpoints() : the endpoints of every backend in <sources>
 * (alb_translate_memo_sources()) as <objects> now say: an object mapping
 * backend name to its "endpoints" array, exactly as alb_translate() would
 * build them when only EndpointSlices, Endpoints or the DNS answers
 * <resolved> changed. One new reference. */
json_t *alb_translate_endpoints(json_t *objects, json_t *sources, json_t *resolved, struct alb_diags *d);

#endif
