/* `distlab sim`: an experiment's configuration on the deterministic
 * simulator (nodes/sim.h), across many seeds or one recorded seed. */
#ifndef DL_SRC_SIMCMD_H
#define DL_SRC_SIMCMD_H

#include <stdint.h>

#include "nodes/sim.h"
#include "src/config.h"

/* Translate a validated configuration into a simulator configuration for
 * one seed. faults must have room for CONFIG_MAX_FAULTS + 1 entries (a
 * restart fault adds one). Returns 0 or -EINVAL (err says why). */
int simcmd_build(const struct config *c, uint64_t seed, struct sim_config *sc,
                 struct sim_fault *faults, char *err);

/* Run one seed and write a run directory (config.ini, run.json, trace/,
 * report.json, report.txt) that report, check and trace read. Returns 0
 * when the schedule was safe and live, 1 when not, 2 on error. */
int simcmd_record(const struct config *c, uint64_t seed, const char *outdir, int print_json);

int cmd_sim(int argc, char **argv);

#endif
