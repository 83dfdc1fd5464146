/* Finding live runs and acting on them from the shell: status, pid,
 * kill/pause/resume, clean. A run is found in /dev/shm by its segment;
 * RUN may be its id (8 hex digits), its name, or its run directory, and
 * defaults to the newest live run. */
#ifndef DL_SRC_CONTROL_H
#define DL_SRC_CONTROL_H

#include <stdbool.h>

#include "ipc/shm.h"

/* Attach (read-only unless writable) the run named by `which` (NULL: any).
 * When several live runs qualify, the newest is used and a note on stderr
 * says so. Returns 0 or -1 with a message on stderr. */
int control_find_run(const char *which, struct shm_handle *h, bool writable);

/* Remove the IPC objects of every run whose launcher is gone (read from the
 * segment's layout-stable prefix, so whatever its version; a segment
 * without a header only when older than 10 s); never another user's (a note
 * on stderr). Print what was removed to stdout when verbose. Returns the
 * number of runs removed. */
int control_clean(bool verbose);

#endif
