/* source/lease.h : leader election with a coordination.k8s.io/v1 Lease, as
 * client-go's leaderelection does it.
 *
 * Every replica tries every retry period (2 s). A replica holds the Lease
 * while it renews it; another takes it over once it has seen the same
 * holder and renewTime for a whole lease duration (15 s) by its own clock
 * (clocks of different machines are never compared), or at once when the
 * holder released it on its way out. A leader that could not renew for the
 * renew deadline (10 s) stops acting as leader before its lease can have
 * been taken. Updates carry the resourceVersion read, so two replicas
 * never both win (the API answers the loser 409 Conflict).
 */
#ifndef ALB_SOURCE_LEASE_H
#define ALB_SOURCE_LEASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "source/kubeapi.h"

#define ALB_LEASE_DURATION_S 15
#define ALB_LEASE_RENEW_DEADLINE_S 10.0
#define ALB_LEASE_RETRY_S 2.0

struct alb_lease {
    char ns[254], name[254], identity[254];
    bool leader;
    double renewed_at;       /* when it last renewed (monotonic seconds) */
    /* the record last seen, and when it was first seen like that */
    char seen_holder[254], seen_renew[64];
    double seen_at;
    uint64_t acquired;       /* times it became leader */
};

/* alb_lease_init() : Lease <ns>/<name>, held as <identity>. */
void alb_lease_init(struct alb_lease *l, const char *ns, const char *name, const char *identity);

/* alb_lease_step() : one try at acquiring or renewing at time <now>
 * (monotonic seconds), over <conn> (may be NULL). Returns whether this replica is the leader now. */
bool alb_lease_step(struct alb_lease *l, struct alb_kube *k, struct alb_kube_conn *conn, const atomic_bool *stop,
                    double now);

/* alb_lease_release() : when leader, gives the Lease up, so that another
 * replica takes over at its next try instead of after the lease duration. */
void alb_lease_release(struct alb_lease *l, struct alb_kube *k, struct alb_kube_conn *conn);

/* alb_micro_time() : the UTC time now as Kubernetes MicroTime
 * ("2006-01-02T15:04:05.000000Z"); <micro> false: as Time (seconds). */
void alb_micro_time(char *out, size_t len, bool micro);

#endif
