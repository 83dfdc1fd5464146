/* `distlab report --compare RUNDIR...`: several runs side by side.
 *
 * Each run's report is built (report_build) and reduced to one row: the
 * algorithm and N, messages per critical section (per commit for a
 * replicated log) against the algorithm's theory, throughput, the response
 * time (a replicated log's commit latency) at p50 and p99, the
 * synchronization delay and the safety verdict. The rows print as one
 * aligned table, as a JSON array (the keys below), and as an SVG chart of
 * messages per operation and response time against N, one series per
 * algorithm.
 *
 * A row (JSON object), keys stable:
 *   run                the label the table shows: the run's name, or its
 *                      directory's last component when names repeat, or
 *                      the directory as given when those repeat too
 *   rundir             the directory as given
 *   name, algorithm, nodes, simulated     from the report
 *   per                "cs" (mutual exclusion) or "commit" (replicated log)
 *   messages_per_op    report.json's messages_per_cs, or messages_per_commit
 *   theory_messages_per_op  the formula's figure for this run (token
 *                      algorithms: the lower bound, under full load)
 *   theory_unbounded   true for token algorithms: idle passes have no bound
 *   theory             the theory as the table prints it: "3", "8", "1..∞"
 *   throughput_per_s   throughput_cs_per_s, or throughput_ops_per_s
 *   throughput_unit    "CS/s" or "commits/s"
 *   latency            "response" (request -> entry) or "commit" (a
 *                      client's invoke -> its ok)
 *   latency_p50_ms, latency_p99_ms
 *   sync_delay_p50_ms  one node leaves -> the next waiting one enters
 *   verdict            "safe", "UNSAFE", "cannot verify", or "no report"
 *   safe               true / false, null when not judged
 *   error              why the report could not be built, else null
 * A figure a run does not have is null (the table prints "-"). */
#ifndef DL_SRC_COMPARE_H
#define DL_SRC_COMPARE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* Does this `distlab report` command line ask for a comparison (--compare
 * or --plot among its arguments)? */
bool compare_wanted(int argc, char **argv);

/* `distlab report --compare RUNDIR... [--json] [--plot FILE.svg]`: the
 * whole command. Returns the exit status: 0 shown, 1 shown but some run's
 * report could not be built, 2 usage error, a RUNDIR that is not a run
 * directory (nothing shown), or a plot that could not be written. */
int compare_cmd(int argc, char **argv);

/* One row from a built report (rep NULL: the report could not be built,
 * err says why). Returns a new object, or NULL when out of memory. */
json_t *compare_row(const char *rundir, const json_t *rep, const char *err);

/* Give every row its "run" label (see above). Returns 0 or -1 (memory). */
int compare_label(json_t *rows);

/* The table, with its notes, to f. */
void compare_print_table(const json_t *rows, FILE *f);

/* The chart as one standalone SVG document to f. Returns 0, or -1 when
 * writing failed (errno set). */
int compare_plot_svg(const json_t *rows, FILE *f);

#endif
