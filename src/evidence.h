/* What a verdict can rest on.
 *
 * A report judges a run from two witnesses: the supervisor's summary
 * (run.json: the shared resource's counters, the fault log, why the run
 * stopped) and the traces. Either can be incomplete: a trace file cut
 * because it could not grow (a full disk), a ring that overwrote its oldest
 * records (`[trace] max_size`), a run.json never written (the launcher was
 * killed), a run that never started. This module says which, and turns the
 * properties into one verdict:
 *
 *   "not started"    the workload never started: nothing to verify (exit 2)
 *   "unsafe"         a violation was found in the evidence that exists (1)
 *   "cannot verify"  none was found, but evidence a property needs is
 *                    missing, so "safe" would not be literally true (2)
 *   "safe"           every property was judged on complete evidence (0)
 *
 * report.json gets "verdict" and an "evidence" object; "safe" is true only
 * for the verdict "safe".
 *
 * Records left out on purpose (`[trace] record`) count as missing evidence
 * for the properties that need them: such a property is not judged, and
 * the verdict is "cannot verify" (exit 2) - a run that leaves out what a
 * safety property needs cannot be called safe. What the experimenter kept
 * decides: Raft's properties need log and clients (roles are always
 * recorded), mutual exclusion needs cs (Ricart-Agrawala's grant order
 * also messages: a request's timestamp travels in its message), so record
 * = log,clients (Raft) or cs (the other mutex algorithms) still gives
 * "safe"; only the message figures are then not
 * computed (report.json "not_checked"). */
#ifndef DL_SRC_EVIDENCE_H
#define DL_SRC_EVIDENCE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "ipc/trace.h"

struct evidence {
    bool run_json;     /* the supervisor's summary was there */
    bool started;      /* the workload started */
    bool traces_complete; /* no file cut, overwritten or with records missing */
    bool sup_cut;      /* the supervisor's own trace is incomplete ... */
    int64_t sup_cut_t_us; /* ... from this time on (INT64_MIN: overwritten, so at any
                             time): a crash then may be missing from the trace */
    json_t *json;      /* report.json's "evidence" (owned until evidence_take_json) */
    /* [trace] of the run's config.ini (evidence_trace_config): the classes
     * of events recorded (TRACE_CLASS_ bits; all until told otherwise) and
     * each file's size cap in bytes (0: not known). */
    unsigned record;
    int64_t max_size;
};

/* For a run directory without run.json: the run as its config.ini
 * describes it, in run.json's keys, with what only the supervisor knew
 * (counters, stop reason, duration) absent. */
int evidence_run_from_config(const char *rundir, json_t **out, char *errbuf);

/* Describe the evidence of a run: its traces (as loaded) and its run.json
 * (NULL if missing; then run is the one built from config.ini). Returns 0
 * or -ENOMEM. */
int evidence_scan(struct evidence *e, const struct trace_set *ts, const json_t *run,
                  bool have_run_json);
void evidence_free(struct evidence *e);

/* Read [trace] record and max_size from RUNDIR/config.ini into e (after
 * evidence_scan). A run whose config.ini does not name them (an older
 * build) recorded everything; without a readable config.ini too. */
void evidence_trace_config(struct evidence *e, const char *rundir);

/* Did the run record every class in classes? */
static inline bool evidence_recorded(const struct evidence *e, unsigned classes)
{
    return !e || (e->record & classes) == classes;
}

/* What the trace cost and what it could not show, added to a built report
 * (after the algorithm's part, before evidence_verdict):
 *   "trace_record"   what was recorded ("all", "log,clients");
 *   "trace_bytes"    the run's trace files and data side files together;
 *   "trace_bytes_per_op"  per committed command (Raft: "commits"; without
 *                    log records, per acknowledged command) or per CS entry
 *                    (mutex: "cs_entries"; without cs records, the final
 *                    counter), "trace_bytes_per_op_unit" saying which; null
 *                    when there was none;
 *   "not_checked"    one line per property and figure the records left out
 *                    made impossible to judge ("messages_per_cs not
 *                    computed: [trace] record omits messages").
 * A property whose classes were not recorded becomes "judged": false
 * (verdict "cannot verify") with its "evidence" saying why; a figure made
 * from them becomes null. A property judged on files that lost records (a
 * ring's oldest overwritten, a cut, records missing) gets "partial": true
 * and an "evidence" line naming the window it was judged on and why
 * ("judged from 12.300 s on: node 2's trace lost its oldest 1,204 records
 * to its 4MiB cap"). Returns 0 or -ENOMEM. */
int evidence_trace_scope(json_t *rep, const struct evidence *e, const struct trace_set *ts,
                         const char *rundir);

/* The text report's trace line ("trace: 12.3 MB, 187 bytes per committed
 * command (recorded: all)") and what was not checked. */
void evidence_print_trace(const json_t *rep, FILE *f);
/* The lines of "not_checked", each indented by two spaces. */
void evidence_print_not_checked(const json_t *rep, FILE *f);

/* Why a trace file could not grow, in words ("no space left on the
 * device"); buf holds other errors' text. */
const char *evidence_cut_reason(int err, char *buf, size_t cap);

/* Set "verdict", "safe", "evidence" (and "safety.safe") in a built report
 * from its "violations", its properties (one with "judged": false was not
 * judged) and the evidence. Returns 0 or -ENOMEM. */
int evidence_verdict(json_t *rep, struct evidence *e);

/* The verdict's exit status for `check` and `run`: 0 safe, 1 unsafe, 2
 * cannot verify or not started. */
int evidence_exit_code(const json_t *rep);

/* The verdict line of the text report ("SAFE", "UNSAFE (2 violations)",
 * "CANNOT VERIFY: ...") and, when something is missing, what. */
void evidence_print_verdict(const json_t *rep, FILE *f);
void evidence_print(const json_t *rep, FILE *f);

#endif
