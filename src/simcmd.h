/* `distlab sim`: an experiment's configuration on the deterministic
 * simulator (nodes/sim.h), across many seeds or one recorded seed. */
#ifndef DL_SRC_SIMCMD_H
#define DL_SRC_SIMCMD_H

#include <stdint.h>

#include "nodes/sim.h"
#include "src/config.h"

/* The most link changes one schedule may make (repetitions of network
 * faults on a large cluster): 20 bytes each. */
#define SIMCMD_MAX_LINK_CHANGES (4 * 1024 * 1024)

/* What a simulator configuration points into; lives as long as it. Start
 * it zeroed; simcmd_build may be called again on the same buffers (one
 * seed after another), and simcmd_bufs_free releases what it grew. */
struct simcmd_bufs {
    struct sim_fault *faults; /* the schedule: every occurrence and undo */
    size_t *netoff;           /* [capfaults]: where each SIM_NET's changes start in net */
    int nfaults, capfaults;
    struct net_change *net;   /* every link change of the run, the initial state first */
    size_t nnet, capnet;
    int ninitial;             /* net[0..ninitial): the state at the start */
    struct fault_occ *occ;    /* config_fault_timeline */
    int capocc;
    bool requesters[CONFIG_MAX_NODES + 1];
    int64_t initial_clock[CONFIG_MAX_NODES + 1];
};
void simcmd_bufs_free(struct simcmd_bufs *b);

/* Translate a validated configuration into a simulator configuration for
 * one seed. Returns 0, -EINVAL (err says why) or -ENOMEM.
 *
 * The schedule is config_fault_timeline played through a network state
 * (src/netstate.h), as the supervisor plays it: the network starts with
 * [network]'s loss, delay and jitter on every link (netstate_all: the
 * sim's initial_net, traced as TR_LINK at time 0); a partition is
 * netstate_partition (id: the occurrence) and its `for` undo
 * netstate_unpartition of that id; heal is netstate_heal; net is
 * netstate_net (undoable when it has a `for`) and its undo netstate_unnet.
 * A partition by target (leader, leader+K, a node) is resolved when it
 * happens: one SIM_PARTITION that isolates the target with K more nodes
 * (the lowest other ids), as the supervisor does; its `for` undo, and any
 * heal after it, heal every cut (the supervisor's undo removes only that
 * partition's cuts: the same unless partitions overlap).
 * Each is one SIM_NET fault carrying the links that changed. A pause's
 * undo resumes the node that pause stopped; a random target is drawn for
 * each occurrence from the seed. Each occurrence is recorded as TR_FAULT
 * (node 0, aux = action, peer = target node or 0, a = the fault's number
 * in time order, b = occurrence 1.., c = 1 for an undo, whose aux is then
 * resume, heal or net) followed by a TR_LINK per changed link. kill with
 * [supervisor] restart on-crash restarts the node restart_delay later, and
 * restart starts it 1 us after the crash, without fault records of their
 * own. */
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

/* `distlab sim CONFIG [--seeds N]`: the seeds run on every CPU, in forked
 * workers (DISTLAB_SIM_JOBS=K sets how many; 1: in the process itself);
 * the summary is the same whatever the count. */
int cmd_sim(int argc, char **argv);

#endif
