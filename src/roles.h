/* The role that steers a run's algorithm, and the node that holds it now:
 * shared by `distlab status`, `distlab pid --leader` (src/control.c) and
 * the live progress line of `distlab run` (src/progress.c). Kept apart
 * from control.c so that the launcher does not link the command line. */
#ifndef DL_SRC_ROLES_H
#define DL_SRC_ROLES_H

#include "ipc/shm.h"

/* ROLE_LEADER (raft), ROLE_TOKEN_HOLDER (token_ring; two_level_ring's
 * global token), ROLE_COORDINATOR (centralized), ROLE_NONE
 * (ricart_agrawala, or an algorithm this build does not know). */
int roles_key(const struct shm_run *r);
/* The node that holds role in run r now (shm_find_leader for ROLE_LEADER,
 * shm_find_role otherwise); 0 if none. */
int roles_holder(const struct shm_run *r, int role);

#endif
