/* `distlab run`: the launcher, then the supervisor of the run.
 *
 * It creates the run directory, the shared segment and the queues, forks and
 * execs the nodes (`ps` shows `distlab-node K ...`), starts the workload once
 * every node is up, plays the fault schedule (config_fault_timeline:
 * repetitions and automatic undos; node faults with signals, network faults
 * in the segment's link matrix), answers the commands posted to the
 * segment's mailbox (SIGUSR2), keeps the network state, reaps children through a
 * signalfd (so a `kill -9` from another shell is seen exactly like a
 * scheduled crash), restarts crashed nodes per policy, stops at `duration` or
 * when the workload is done, writes run.json and the report, and removes
 * every IPC object. */
#ifndef DL_SRC_LAUNCHER_H
#define DL_SRC_LAUNCHER_H

#include <stdbool.h>

#include "src/config.h"

struct run_opts {
    const char *out_dir; /* --out DIR, or NULL for runs/<name>-<stamp> */
    bool json;           /* print report.json instead of the text report */
    bool quiet;          /* print only the run directory */
    const char *node_exe; /* the program started as the nodes (NULL: this one, as
                             /proc/self/exe names it); a program linking the
                             launcher that is not distlab itself names distlab */
};

/* Returns the process exit code: 0 completed and safe, 1 unsafe, 2 set-up
 * error, 3 interrupted (report still written). */
int launcher_run(const struct config *cfg, const struct run_opts *opts);

#endif
