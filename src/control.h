/* Finding live runs and acting on them from the shell: status, pid,
 * kill/pause/resume/terminate/restart, partition/heal/net, clean. A run is
 * found in /dev/shm by its segment, and counts only when the segment is the
 * calling user's (mode 0600) and its launcher is alive and maps it. RUN may
 * be its id (8 hex digits), its name, or its run directory; it may be left
 * out only when exactly one run of the calling user is live, and a name
 * that several live runs share is refused (the run id then names one).
 * Nodes and the network are changed by the run's supervisor only: a
 * command is posted to the segment's mailbox (ipc/shm.h struct shm_cmd) and
 * the supervisor, verified as the run's launcher through a pidfd, is woken
 * with SIGUSR2; the tool waits for its answer (a futex on the mailbox's
 * state) up to 5 s. `pid` prints a node's pid only after it is verified to
 * be that run's node. Strings read from shared memory are printed escaped. */
#ifndef DL_SRC_CONTROL_H
#define DL_SRC_CONTROL_H

#include <stdbool.h>

#include "ipc/shm.h"

/* The role options of pid, kill, pause, resume and restart (their usage). */
#define CONTROL_ROLE_OPTIONS "--coordinator | --leader | --token-holder"

/* Attach (read-only unless writable) the live run named by `which` (NULL:
 * the only one). Returns 0; -1 when there is none; -2 when several qualify
 * (listed on stderr). Messages go to stderr. */
int control_find_run(const char *which, struct shm_handle *h, bool writable);

/* Remove the IPC objects of every run of the calling user whose launcher
 * is gone or does not hold the segment (read from the segment's
 * layout-stable prefix, so whatever its version; a segment without a
 * header only when older than 10 s); never another user's segment or
 * queue, even for root (a note on stderr). Print what was removed to
 * stdout when verbose. Returns the number of runs removed. */
int control_clean(bool verbose);

#endif
