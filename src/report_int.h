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
struct report_net;

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
    int retransmit;                     /* [cluster] retransmit: 1, 0, -1 unknown */
    bool raft;                          /* a replicated log (no critical section) */
    const char *rundir;                 /* the run directory (its data side files) */
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
/* The name of the yes/no field a send or receive record carries in b (a
 * vote's "granted"), or NULL: none for its type, or a trace from before
 * it was recorded. */
const char *report_msg_flag(const struct algo_ops *ops, const struct trace_rec *r);

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

/* The Raft part of a report (report_raft.c): elections and leaders,
 * failovers, commits, client operations and their latency, messages, the
 * story of the run and the Raft properties. faults is the report's faults
 * array: the outcome of a fault that took the leader away says so. */
int report_build_raft(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                      size_t nrec, const struct report_clock *clk, json_t *faults,
                      char *errbuf);

/* Every fault of the run (report_faults.c), in time order: scheduled ones
 * from run.json matched with their trace records, commanded ones (a
 * supervisor fault record without a schedule number), and external ones (a
 * crash, pause, resume or stop the supervisor saw with no fault record
 * before it). Each gets at_ms on the trace's clock, source and a one-line
 * outcome. Faults that never fired add a line to warnings. NULL when out
 * of memory. */
json_t *report_faults_json(const struct run_info *ri, const struct trace_rec *recs, size_t nrec,
                           const struct report_clock *clk, const struct report_net *net,
                           json_t *warnings);

/* ---- the network (report_faults.c) ----
 *
 * Network faults leave a supervisor TR_FAULT record (partition, heal, net,
 * or an automatic undo) followed by one TR_LINK record per directed link
 * whose state it changed; TR_LINK records before any fault are the run's
 * [network] settings. Receivers trace what a cut or loss took as TR_DROP
 * with reason WIRE_DROP_PARTITION or WIRE_DROP_LOSS (node = receiver,
 * peer = sender). report_net_scan replays those records: which links each
 * network fault changed, how long its effect lasted, which fault each lost
 * message is owed to. */

/* A lost message's type and how many of that type. */
struct net_lost {
    uint16_t type;
    long n;
};

/* One link change that followed a fault record. */
struct net_link_change {
    uint16_t from, to;
    bool cut, was_cut;
    uint32_t loss_ppm, delay_us, jitter_us;
    uint32_t was_loss_ppm, was_delay_us, was_jitter_us; /* its settings before */
    long prev_set_by;  /* who owned the link's settings before (-1: none) */
    long prev_loss_by; /* who set its loss before (-1: none) */
};

struct net_fault {
    size_t rec;  /* its TR_FAULT record */
    int64_t t;
    int action;  /* enum fault_action (of the record: heal/resume/net for an undo) */
    int number;  /* [fault.N]; 0: a command */
    int occurrence; /* 1, 2, ...; 0 for a command */
    bool undo;   /* the automatic undo of occurrence `occurrence` */
    struct net_link_change *link; /* the links it changed */
    size_t nlinks, caplinks;
    int ncut, nrestored, nparams;   /* links it cut, un-cut, re-parametrised */
    int remaining;   /* of its cuts and settings, how many are still in force */
    int64_t ended_t; /* when the last of them was undone or replaced; -1: never */
    long ended_by;   /* the net_fault that ended it, -1 */
    long lost_partition, lost_loss;
    struct net_lost *lost; /* by type */
    int nlost, caplost;
};

/* A message lost to a cut or to loss. */
struct net_drop {
    size_t rec;  /* its TR_DROP record */
    long fault;  /* the net_fault it is owed to; -1: the run's [network] settings */
    bool partition; /* a cut; else loss (or, with network, a drop of an older trace) */
    bool network;   /* reason 0: dropped by the network, cut or loss not told apart */
    uint32_t loss_ppm; /* loss: the link's loss then */
    long loss_by;      /* loss: the net_fault that set that loss; -1: the [network] settings */
};

struct report_net {
    struct net_fault *f;
    size_t n, cap;
    struct net_drop *d;
    size_t nd, capd;
    bool any; /* any network record at all (a TR_LINK, a network fault or drop) */
    bool link_records; /* any TR_LINK: the trace says which links each fault changed */
    uint8_t repeated[256]; /* [fault number]: some record of it has occurrence > 1 */
};

int report_net_scan(struct report_net *net, const struct run_info *ri,
                    const struct trace_rec *recs, size_t nrec);
void report_net_free(struct report_net *net);
/* The net_fault of record index rec, or NULL. */
const struct net_fault *report_net_fault_at(const struct report_net *net, size_t rec);
/* "fault.2 #3" (a fault some of whose records have occurrence > 1),
 * "fault.2", or "a command" (number 0). */
const char *report_fault_label(const struct report_net *net, int number, int occurrence,
                               char *buf, size_t cap);
/* The same for net_fault i (-1: "the [network] settings"). */
const char *report_net_label(const struct report_net *net, long i, char *buf, size_t cap);
/* The links net_fault f changed, as netspec_describe says them ("1,2 |
 * 3,4,5", "1->3"); cut_only: only those it cut. */
void report_net_describe(const struct net_fault *f, int n, bool cut_only, char *buf, size_t cap);

/* Every message drop of the run by reason ({"partition": N, "loss": N,
 * ...}; partition and loss always present). NULL when out of memory. */
json_t *report_drops_json(const struct trace_rec *recs, size_t nrec);
/* The name of a TR_DROP reason (aux) in `distlab trace` and reports. */
const char *report_drop_reason(int aux);

/* Why requests were still waiting at the end: adds report.json "stall"
 * from the report's waiting_at_end and the lost messages (nothing when
 * nothing waited). retransmit: 1 on, 0 off, -1 unknown. Returns 0, or -1
 * when out of memory. */
int report_stall(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                 const struct report_net *net, int retransmit);

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
void report_print_raft(const json_t *rep, FILE *f);
void report_print_faults(const json_t *rep, FILE *f);
void report_print_stall(const json_t *rep, FILE *f);

/* report_kv.c: the clients' key-value history (client_ops, linearizable,
 * linearizability into rep) and its verdict for the properties. */
struct kv_verdict {
    bool any;         /* there were key-value operations to judge */
    bool judged, held;
    long violations;  /* keys whose history is not linearizable */
    char detail[1400];
};
int report_kv_build(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                    size_t nrec, struct kv_verdict *out, char *errbuf);

#endif
