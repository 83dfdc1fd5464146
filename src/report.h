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
 *         "supervisor_malformed": 0, "false_done_claims": 0,
 *         "faults": [ {"at_ms":..,"action":"kill","target":"coordinator","node":1}, ...] }
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
 *   - TR_CRASH (written by the supervisor, node = the crashed node) ends any
 *     open CS interval and any open request of that node, which then does
 *     not count against liveness. Its b is the node's last heartbeat stamp
 *     (run-relative us, 0 if unknown): the supervisor may reap a death long
 *     after it happened (it was stopped or busy), so a dead node's interval
 *     ends at its last sign of life, not at the record's t_us.
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
