/* `distlab sim`: an experiment's configuration on the deterministic
 * simulator (nodes/sim.h), across many seeds or one recorded seed. */
#ifndef DL_SRC_SIMCMD_H
#define DL_SRC_SIMCMD_H

#include <stdint.h>

#include "nodes/sim.h"
#include "src/config.h"

/* What a simulator configuration points into; lives as long as it. */
struct simcmd_bufs {
    struct sim_fault faults[2 * CONFIG_MAX_FAULTS]; /* a restart fault takes two */
    bool requesters[CONFIG_MAX_NODES + 1];
    int64_t initial_clock[CONFIG_MAX_NODES + 1];
};

/* Translate a validated configuration into a simulator configuration for
 * one seed. Returns 0 or -EINVAL (err says why). */
int simcmd_build(const struct config *c, uint64_t seed, struct sim_config *sc,
                 struct simcmd_bufs *b, char *err);

/* What the command line added to the file, for the replay command. */
struct simcmd_args {
    const char *const *sets; /* every --set, in order */
    int nsets;
};

/* Run one seed and write a run directory (config.ini, run.json, trace/,
 * report.json, report.txt) that report, check and trace read. run.json
 * says why the schedule stopped (stop_reason: "workload done", "deadlock",
 * "duration", "step limit"), which requests of live nodes were pending
 * (pending_requests [{node, since_ms, waited_ms}]), the simulator's own
 * verdicts (simulator_safe, simulator_liveness: "live", "not live",
 * "undecided") and the command that replays it (replay). Returns 0 when
 * the schedule was safe and live, 1 when not (or undecided), 2 on error. */
int simcmd_record(const struct config *c, uint64_t seed, const char *outdir, int print_json,
                  const struct simcmd_args *args);

int cmd_sim(int argc, char **argv);

#endif
