/* The network fault state of a cluster, as the supervisor keeps it (and
 * the simulator's schedule builder replays it): which links are cut and
 * each link's loss, delay and jitter. Pure: operations return the list of
 * links whose state changed (struct net_change), which the caller traces
 * (TR_LINK) and applies (the shared segment, or the simulator).
 *
 * Cuts are the union of the partitions in force: each partition is kept
 * with its id, so undoing one (a fault's `for`) restores exactly its links
 * that no other partition in force also cuts. heal ends every partition.
 * A net fault sets loss / delay / jitter on its links and remembers what
 * they were, so undoing it puts them back. */
#ifndef DL_SRC_NETSTATE_H
#define DL_SRC_NETSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "nodes/netfault.h"
#include "src/netspec.h"

struct netstate;

/* A cluster of n nodes (1..DL_MAX_NODES) whose every link starts with
 * the given [network] settings and no cut. NULL when out of memory. */
struct netstate *netstate_new(int n, double loss, int64_t delay_us, int64_t jitter_us);
void netstate_free(struct netstate *ns);

/* Every operation returns the number of links it changed and points
 * *changes at them (owned by ns, valid until the next operation), or
 * -ENOMEM. ids name a fault occurrence (any value unique per occurrence). */

/* Every link whose state differs from a perfect network (no cut, no loss,
 * delay or jitter), as changes: the initial state to trace and apply. */
int netstate_all(struct netstate *ns, const struct net_change **changes);
int netstate_partition(struct netstate *ns, int64_t id, const struct net_links *cut,
                       const struct net_change **changes);
/* Undo partition id (no change if it is no longer in force). */
int netstate_unpartition(struct netstate *ns, int64_t id, const struct net_change **changes);
int netstate_heal(struct netstate *ns, const struct net_change **changes);
/* With undoable, what the links had before is kept for netstate_unnet. */
int netstate_net(struct netstate *ns, int64_t id, bool undoable, const struct net_links *links,
                 const struct net_params *p, const struct net_change **changes);
/* Undo net fault id (given undoable): its links get back what they had
 * before it. */
int netstate_unnet(struct netstate *ns, int64_t id, const struct net_change **changes);

/* The network part of one occurrence of a scheduled fault f (a partition,
 * a heal or a net fault, or the automatic undo of a partition or a net
 * fault), played on ns the same way by the supervisor and the simulator:
 * the occurrence's id is config_occurrence_id(index, rep), a partition's
 * undo ends that partition only, a net fault keeps what it replaced when it
 * has a `for`. scratch is room for a parsed spec. *action gets what the
 * occurrence does (an undo: FAULT_HEAL or FAULT_NET). Returns as the other
 * operations, -EINVAL with err (NETSPEC_ERRLEN) when the target does not
 * parse for n nodes, or -ENOTSUP when f has no network part. */
struct fault_spec;
int netstate_occurrence(struct netstate *ns, const struct fault_spec *f, int n, int64_t id,
                        bool undo, struct net_links *scratch, int *action,
                        const struct net_change **changes, char *err);
/* The id of occurrence rep (1, 2, ...) of fault index. */
static inline int64_t netstate_occurrence_id(int index, int rep)
{
    return (int64_t)index << 32 | (int64_t)(uint32_t)rep;
}

/* The current state of link a -> b. */
void netstate_link(const struct netstate *ns, int a, int b, struct net_change *out);
/* Partitions in force. */
int netstate_partitions(const struct netstate *ns);

#endif
