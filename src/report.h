/* Reports, checks and trace export for a run directory.
 *
 * A run directory (DESIGN.md "Run directory and trace", a contract) holds:
 *   config.ini        the resolved configuration
 *   run.json          what the supervisor saw (written at the end of a run):
 *       { "algorithm": "centralized", "nodes": 5, "seed": 42, "name": "...",
 *         "run_id": "1a2b3c4d", "duration_s": 1.23,        (actual length)
 *         "workload_done": true, "stop_reason": "workload done"|"duration"|"signal",
 *         "started": true,            (false: start-up failed, nothing to verify)
 *         "coordinator": 1, "coordinator_competes": false,
 *         "requests_per_node": 100, "cs_time_ms": 5.0, "msgsize": 1024,
 *         "counter_final": 400, "resource_entries": 400,
 *         "resource_violations": 0, "resource_fenced": 0,
 *         "per_node": [ {"node":1,"sent":..,"recv":..,"malformed":..,
 *                        "queue_full":..,"backlog_hwm":..,"dropped":..,
 *                        "incarnations":1,"crashes":0,"restart_given_up":false}, ... ],
 *         "restarts_given_up": [3],   (crash loops the supervisor gave up)
 *         "supervisor_malformed": 0, "false_done_claims": 0, "started": true,
 *         "faults": [ {"at_ms":..,"action":"kill","target":"coordinator","node":1}, ...],
 *         "workload_start_us": 30062, "stop_us": 8030360 }   (on the trace's clock)
 *     (run.json's faults[].at_ms is the experiment's `at`, counted from the
 *     workload start; t_ms is when it fired, on the same workload clock.)
 *   (without run.json - a killed launcher - the report is rebuilt from
 *   config.ini and the traces, and says what it could not judge)
 *   trace/n<node>.<incarnation>.bin   binary traces (ipc/trace.h)
 *   report.json, report.txt           written by report_write()
 *
 * Trace semantics used by the metrics:
 *   - TR_REQUEST (node) starts a CS request; the next TR_ENTER of that node
 *     ends it (response time); TR_EXIT ends the CS interval.
 *   - Algorithm messages are TR_SEND records whose type is outside the runtime
 *     range (type >= 0x100); supervisor/runtime control messages are not
 *     counted as algorithm messages.
 *   - TR_CRASH (written by the supervisor, node = the crashed node; b = its
 *     last heartbeat stamp, 0 if unknown) ends any open request of that
 *     node, which then does not count against liveness, and its open CS
 *     interval at its last sign of life: the later of its last own trace
 *     record of that incarnation and b.
 *
 * report.json (DESIGN.md lists the contract keys; these are kept and
 * extended). One clock: every time in a report is on the trace's clock,
 * milliseconds since the run started (t_us / 1000), and says so in
 * "time_base"; "workload_start_ms" is when the workload (and the faults'
 * `at`) started on it. Durations are differences on that clock.
 *   faults[]: every fault, in time order:
 *       at_ms        when it fired, on the trace's clock (for one that
 *                    never fired: when it was due, on the same clock)
 *       action, target, node
 *       source       "schedule" ([fault.N]), "command" (a supervisor fault
 *                    record without a number: `distlab restart`) or
 *                    "external" (a crash, pause, resume or stop that no
 *                    fault record asked for: `kill -9`, `distlab kill`)
 *       number, scheduled_ms   schedule only: N and the configured `at`
 *       signal       external only
 *       skipped      why it did not act (then also a warnings[] line)
 *       outcome      one line: was the node inside, who was elected and
 *                    when, when a token was regenerated and its generation,
 *                    how long the others waited with nobody inside
 *       elected {node, term, at_ms}, regenerated {node, gen, at_ms},
 *       stall_ms     the parts of the outcome as numbers, when they apply
 *       occurrence   the occurrence of a repeated fault (1, 2, ...), and
 *       label        "fault.N", or "fault.N #K" for a fault that repeats
 *       undo         true: the automatic undo of that occurrence (its `for`):
 *                    action resume, heal or net
 *     Network faults (partition, heal, net; TR_LINK records say which links
 *     each changed): target is those links as netspec_describe says them
 *     ("1,2 | 3,4,5", "1->3", "all links"; target_spec keeps the
 *     configured text), links, links_changed; a partition adds links_cut,
 *     lost {messages, by_type} (drops with reason partition on the links it
 *     cut), lasted_ms, ended_ms (null: in force to the end, then until_end),
 *     ended_by (the label of the fault that healed it); a heal adds
 *     links_restored; a net fault adds set {loss, delay_ms, jitter_ms} (each
 *     that it changed, when every link got the same) and lost (drops with reason loss
 *     on links whose settings it made), lasted_ms, ended_ms, ended_by.
 *   dropped: every message drop by reason {partition, loss, and any other
 *       reason seen: network, stale_incarnation, send_refused, ...}.
 *   retransmit: [cluster] retransmit as run.json or config.ini says it
 *       (null: neither tells).
 *   waiting_at_end: [{node, since_ms}] requests of live nodes still open.
 *   stall (only when some request was still waiting): waiting [{node,
 *       since_ms, lost, messages [{at_ms, type, from, to, reason, cut |
 *       loss, fault, number, text, count}], text}], retransmit, note: for
 *       each waiting node, the messages to or from it lost to a cut or to
 *       loss after its request (messages alike - type, sender, receiver,
 *       reason, fault - as one entry: the first, and how many), and what
 *       that means for the algorithm.
 *   warnings[]: strings (faults that never fired or were skipped).
 *   Mutual exclusion, two levels: properties[] "mutual_exclusion" is
 *       judged on the enter/exit intervals (as the nodes believed it),
 *       "resource" on the shared resource. Each property has "verdict":
 *       "pass", "fail" or "fenced" (did not hold as believed, but fencing
 *       refused the stale side of every overlap); "held" is true only for
 *       "pass". "safe" counts fenced overlaps as safe and then sets
 *       "rests_on_fencing": true. safety.overlaps (pairs of intervals),
 *       safety.overlaps_fenced, safety.overlap_ms (time with two or more
 *       inside); cs_writes_refused (exits whose write fencing refused).
 *   Liveness holds only when every request of a live node was granted and
 *       counted: none pending at the end (whatever stopped the run), none
 *       answered by an entry or a write that fencing refused.
 *   Fairness: fairness_jain (entries per requesting node), and
 *       waiting_ms {granted, mean, max, node_mean_min, node_mean_max,
 *       longest {node, ms, requested_at_ms, granted}}, overtakes (entries
 *       granted to a later requester while an earlier request waited,
 *       counted per waiting request), overtakes_max_per_request, and per
 *       node wait_ms {mean, max} and overtaken.
 *   stop_reason: run.json's, except "deadlock" for a simulated run that
 *       ended with nothing left to happen.
 *
 * Raft runs (src/report_raft.c), from the traces: clients are processes
 * n+1 .. n+clients (`client: K` in `distlab trace`).
 *   elections (terms with a candidate or a leader), elections_won,
 *   terms_without_leader, split_votes [{term, candidates, at_ms}] (two or
 *   more candidates and no leader), leaders [{term, node, at_ms}] (each
 *   node's first leader record of a term, in time order),
 *   max_leaders_per_term;
 *   failover_ms [..] and failovers [{cause, kind, source, fault, node,
 *   term, at_ms, new_leader, new_term, elected_at_ms, failover_ms, ended,
 *   ended_at_ms}]: the current leader (the highest-term leader that is up)
 *   lost - a kill, pause, terminate or restart fault aimed at it (from the
 *   fault record), its crash, pause or stop with no fault record, or a
 *   partition that cut it off from a majority (from the fault record) -
 *   until the first leader record of a higher term; ended says why one
 *   ended without (it resumed, the partition healed, the traces ended);
 *   commits (indexes applied somewhere), last_applied_index, commit_index
 *   (the highest commit record), applies;
 *   ops {invoked, ok, failed, timeout, pending}, commit_latency_ms {p50,
 *   p95, p99, max} (a client's invoke to its ok), throughput_ops_per_s over
 *   throughput_window_ms (the first invoke to the last ok);
 *   acknowledged_lost, logs_agree; messages, messages_per_commit,
 *   messages_by_type {name: {messages}};
 *   story [lines], story_omitted: what happened, in time order;
 *   properties: election_safety, log_matching, state_machine_safety,
 *   leader_completeness, acknowledged_not_lost, apply_order, applied_once,
 *   failed_not_applied
 *   (and simulator_invariant for a simulated run); violation_list
 *   [{property, at_ms, nodes, index, term, text}] (at most
 *   violations_listed_max of them; "violations" counts them all).
 */
#ifndef DL_SRC_REPORT_H
#define DL_SRC_REPORT_H

#include <stdio.h>

#include <jansson.h>

/* Build the report object (report.json's content) from a run directory.
 * Returns 0, or a negative code with errbuf (DL_ERRLEN) filled. */
int report_build(const char *rundir, json_t **out, char *errbuf);

/* Build the report and write RUNDIR/report.json and RUNDIR/report.txt. If
 * rep is not NULL, the built report is returned (caller json_decref's it). */
int report_write(const char *rundir, json_t **rep, char *errbuf);

/* The human-readable report (what report.txt holds and `run` prints). */
void report_print_text(const json_t *rep, FILE *f);

/* `distlab check RUNDIR`: print each safety property with its verdict to f.
 * Returns 0 when all held, 1 when one did not, 2 on bad input or when the
 * evidence cannot support a verdict (src/evidence.h). */
int report_check(const char *rundir, FILE *f);

/* `distlab trace RUNDIR`: every event as one JSON object per line, in time
 * order. Returns 0, or 2 on bad input (message on stderr). */
int report_trace_json(const char *rundir, FILE *f);

#endif
