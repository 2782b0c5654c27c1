/* translate/translate.h : Kubernetes objects -> the data-plane config.
 *
 * A pure function: no I/O, no clock. The objects (JSON values of any kind;
 * unknown kinds are ignored) become the config document of docs/config.md,
 * which the caller loads with the same strict loader as a config file, so
 * both paths are validated alike. An object that is invalid is left out
 * with an error diagnostic naming its kind, namespace/name and field; every
 * other object keeps serving. Control thread.
 */
#ifndef ALB_TRANSLATE_TRANSLATE_H
#define ALB_TRANSLATE_TRANSLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ALB_DEFAULT_CONTROLLER "ingress.k8s.alibabacloud/alb"

struct alb_translate_opts {
    const char *controller;     /* IngressClass spec.controller that is ours */
    const char *listen_address; /* address listeners bind; NULL: 0.0.0.0 */
    const char *configmap;      /* "namespace/name" of the global options; NULL: none */
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

/* alb_translate() : the config document for <objects> (an array), one new
 * reference; diagnostics are appended to <d>. NULL only when out of memory. */
json_t *alb_translate(json_t *objects, const struct alb_translate_opts *o, struct alb_diags *d);

#endif
