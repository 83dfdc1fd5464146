/* Internal to the report: what src/report.c shares with the files that build
 * one part of a report each (report_mutex.c: the mutual-exclusion scan and
 * its verdicts; report_faults.c: what each fault did; report_text.c: the
 * human-readable rendering of those parts). Not for other modules.
 *
 * Time base: every time a report shows (fault times, violation times,
 * elections, regenerations) is on the trace's clock, microseconds since the
 * run started (t_us), printed in milliseconds. Durations (response times,
 * waits, stalls) are differences on that clock. */
#ifndef DL_SRC_REPORT_INT_H
#define DL_SRC_REPORT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ipc/trace.h"
#include "nodes/algo.h"

struct evidence;

/* run.json, loaded and checked (report.c's load_run). */
struct run_info {
    json_t *run;                        /* run.json (owned) */
    const char *algorithm;              /* points into run */
    int n;                              /* nodes 1..n */
    const struct algo_ops *ops;         /* NULL for an algorithm this build does not know */
    struct algo_env env;                /* n, coordinator, coordinator_competes, groups... */
    bool requester[ALGO_MAX_NODES + 1]; /* nodes the workload made request */
    bool have_run_json;                 /* false: run is built from config.ini (evidence.c) */
    const struct evidence *ev;          /* what the verdicts can rest on (src/evidence.h) */
};

/* Set a key, remembering a failure (a NULL value is an allocation failure). */
static inline void put(json_t *o, const char *key, json_t *v, bool *bad)
{
    if (!o || json_object_set_new(o, key, v) < 0)
        *bad = true;
}

static inline json_t *copy_key(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v ? json_deep_copy(v) : json_null();
}

static inline bool get_int(const json_t *o, const char *key, json_int_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

/* A time or duration from run.json, times scale, in microseconds for
 * arithmetic beside the trace's times: a value no trace could hold (a
 * damaged run.json) is -1, "not known" - never a cast out of range or an
 * overflowing sum. */
static inline int64_t json_time_us(double v, double scale)
{
    double us = v * scale;
    if (!(us >= 0 && us <= (double)TRACE_T_MAX))
        return -1;
    return (int64_t)(us + 0.5);
}

static inline json_t *us_to_ms(int64_t us)
{
    return json_real((double)us / 1000.0);
}

static inline const char *plural(long n)
{
    return n == 1 ? "" : "s";
}

/* The name of a message type: the algorithm's, the runtime's, or hex. */
const char *report_type_name(const struct algo_ops *ops, uint16_t type, char *buf, size_t cap);

/* The run's clock (see above): when the workload started and when the run
 * began to stop, both in trace microseconds; -1 when run.json and the trace
 * cannot tell. */
struct report_clock {
    int64_t workload_start_us;
    int64_t stop_us;
};
void report_clock_find(const struct run_info *ri, const struct trace_rec *r, size_t nrec,
                       struct report_clock *clk);

/* The mutual-exclusion part of a report (report_mutex.c): fills rep with the
 * counts, costs, waits, verdicts and notes. faults is the report's faults
 * array (report_faults_json), read for the notes. */
int report_build_mutex(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                       size_t nrec, const struct report_clock *clk, const json_t *faults,
                       char *errbuf);

/* Every fault of the run (report_faults.c), in time order: scheduled ones
 * from run.json matched with their trace records, commanded ones (a
 * supervisor fault record without a schedule number), and external ones (a
 * crash, pause, resume or stop the supervisor saw with no fault record
 * before it). Each gets at_ms on the trace's clock, source and a one-line
 * outcome. Faults that never fired add a line to warnings. NULL when out
 * of memory. */
json_t *report_faults_json(const struct run_info *ri, const struct trace_rec *recs, size_t nrec,
                           const struct report_clock *clk, json_t *warnings);

/* Text (report_text.c, and the header and properties in report.c). */
static inline const char *fmt_num(const json_t *v, int decimals, char *buf, size_t cap)
{
    if (json_is_integer(v))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, cap, "%.*f", decimals, json_real_value(v));
    else
        snprintf(buf, cap, "-");
    return buf;
}

static inline const char *fmt_key(const json_t *o, const char *key, int decimals, char *buf,
                                  size_t cap)
{
    return fmt_num(json_object_get(o, key), decimals, buf, cap);
}

static inline const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

void report_print_mutex(const json_t *rep, FILE *f);
void report_print_faults(const json_t *rep, FILE *f);

#endif
