/* source/status.h : what ALB tells the cluster: Ingress and AlbConfig
 * status, and Events. Only the leader writes (source/lease.h).
 *
 * A thread of its own: it runs the leader election every retry period, and
 * as leader it writes through the /status subresource (merge patches):
 *   - Ingress status.loadBalancer.ingress: the published addresses for
 *     every Ingress ALB serves, [] for one it stopped serving that still
 *     shows them; nothing is written when the status is already so;
 *   - AlbConfig status.loadBalancer: dnsname, id, and per listener
 *     ("80/HTTP") the certificates it serves, as ALB Ingress writes it;
 * and it posts core v1 Events. An event repeated (same object, reason and
 * message) within ALB_EVENT_REPEAT_S is not posted again, and at most
 * ALB_EVENT_BURST are posted at once, refilled at ALB_EVENT_RATE per
 * second; those over it are dropped and counted. A replica that is not the
 * leader discards events.
 *
 * The control thread hands in what should be (alb_status_set_*(),
 * alb_status_event()) and never waits for the API.
 */
#ifndef ALB_SOURCE_STATUS_H
#define ALB_SOURCE_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "source/kubeapi.h"

#define ALB_EVENT_REPEAT_S 600.0
#define ALB_EVENT_BURST 100.0
#define ALB_EVENT_RATE 10.0
#define ALB_EVENT_MESSAGE_MAX 1024 /* bytes of a diagnostic an Event carries */

struct alb_status_opts {
    const char *publish_service; /* "namespace/name": addresses from its LoadBalancer status or ClusterIP */
    const char *publish_address; /* comma-separated IPs or host names; used when no publish_service */
    const char *lease_ns, *lease_name;
    const char *identity;        /* this replica, as Lease holder and event source */
};

struct alb_status_stats {
    bool leader;
    uint64_t leader_acquired;
    uint64_t status_writes, status_failures;
    uint64_t events_posted, events_dropped;
};

struct alb_status;

/* alb_status_start() : starts the thread on client <k> (borrowed). NULL
 * when it cannot. */
struct alb_status *alb_status_start(struct alb_kube *k, const struct alb_status_opts *o);

/* alb_status_stop() : stops the thread, giving the Lease up when held. */
void alb_status_stop(struct alb_status *s);

/* alb_status_set_ingresses() : the Ingresses to keep the status of: an
 * object "namespace/name" -> {"served": bool, "current": the Ingress's
 * status.loadBalancer.ingress as last seen, or null}. Takes the reference. */
void alb_status_set_ingresses(struct alb_status *s, json_t *ingresses);

/* alb_status_set_albconfigs() : an object AlbConfig name -> {"listeners":
 * [...] as the status lists them, "current": its status.loadBalancer as
 * last seen, or null}. Takes the reference. */
void alb_status_set_albconfigs(struct alb_status *s, json_t *albconfigs);

/* alb_status_albconfig_listeners() : AlbConfig name -> the listeners of
 * <cfg> made from it, as AlbConfig status lists them ({"portAndProtocol":
 * "443/HTTPS", "certificates": [{"certificateId", "isDefault"}]}). One new
 * reference. */
json_t *alb_status_albconfig_listeners(const struct alb_config *cfg);

struct alb_event {
    const char *kind, *api_version, *ns, *name, *uid; /* the object it is about; ns "" when cluster-scoped */
    const char *type;                                 /* Normal or Warning */
    const char *reason, *message;
};

/* alb_status_event() : an Event to post (copied). */
void alb_status_event(struct alb_status *s, const struct alb_event *e);

void alb_status_stats(struct alb_status *s, struct alb_status_stats *out);

#endif
