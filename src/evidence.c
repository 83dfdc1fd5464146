/* What a verdict can rest on (see evidence.h). */
#include "src/evidence.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ipc/util.h"
#include "nodes/algo.h"
#include "src/config.h"

/* ---- a run without run.json ---- */

int evidence_run_from_config(const char *rundir, json_t **out, char *errbuf)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.ini", rundir);
    struct config *c = malloc(sizeof *c);
    char *err = malloc(CONFIG_ERRLEN);
    int rc = 0;
    if (!c || !err) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory");
        goto out;
    }
    if (config_load(c, path, err) < 0) {
        rc = dl_seterr(errbuf, EINVAL, "%.400s", err);
        goto out;
    }
    bool in[CONFIG_MAX_NODES + 1];
    json_t *req = json_array();
    if (req && config_node_list(c->requesters, c->nodes, in) == 0)
        for (int k = 1; k <= c->nodes; k++)
            if (in[k])
                json_array_append_new(req, json_integer(k));
    /* Only what the configuration says: the supervisor's counters, the
     * resource, the stop reason and the duration are left out, and the
     * report says it could not judge what needs them. */
    json_t *o = json_pack("{s:s, s:i, s:I, s:s, s:i, s:b, s:i, s:i, s:s, s:o, s:b, s:f, s:b}",
                          "algorithm", c->algorithm, "nodes", c->nodes, "seed",
                          (json_int_t)c->seed, "name", c->name, "coordinator", c->coordinator,
                          "coordinator_competes", c->coordinator_competes, "groups", c->groups,
                          "local_rounds", c->local_rounds, "members", c->members, "requesters",
                          req, "fencing", c->fencing, "failure_timeout_ms",
                          (double)c->failure_timeout_us / 1e3, "simulated", false);
    if (!o) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory");
        goto out;
    }
    json_object_set_new(o, "stop_reason",
                        json_string("unknown: run.json is missing (the supervisor did not "
                                    "finish the run)"));
    *out = o;
out:
    free(c);
    free(err);
    return rc;
}

/* ---- describing the evidence ---- */

const char *evidence_cut_reason(int err, char *buf, size_t cap)
{
    if (err == ENOSPC)
        return "no space left on the device";
    if (err == EFBIG)
        return "the file-size limit was reached";
    if (err == EDQUOT)
        return "the disk quota was exceeded";
    snprintf(buf, cap, "%s", strerror(err));
    return buf;
}

static const char *who(int node, int inc, char *buf, size_t cap)
{
    if (node == 0)
        snprintf(buf, cap, "the supervisor");
    else
        snprintf(buf, cap, "node %d (incarnation %d)", node, inc);
    return buf;
}

static void gap(json_t *gaps, bool *bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void gap(json_t *gaps, bool *bad, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (json_array_append_new(gaps, json_string(line)) < 0)
        *bad = true;
}

static void append(json_t *arr, json_t *v, bool *bad)
{
    if (!v || json_array_append_new(arr, v) < 0)
        *bad = true;
}

static void put_key(json_t *o, const char *key, json_t *v, bool *bad)
{
    if (!v || json_object_set_new(o, key, v) < 0)
        *bad = true;
}

/* Did the workload start? run.json says so (or, from older builds, says
 * "start-up failed"); without it, any sign of work in the traces. */
static bool run_started(const struct trace_set *ts, const json_t *run, bool have_run_json)
{
    if (have_run_json) {
        const json_t *s = json_object_get(run, "started");
        if (json_is_boolean(s))
            return json_is_true(s);
        const char *stop = json_string_value(json_object_get(run, "stop_reason"));
        return !stop || strcmp(stop, "start-up failed") != 0;
    }
    for (size_t i = 0; i < ts->n; i++) {
        const struct trace_rec *r = &ts->recs[i];
        if (r->node >= 1 && (r->ev == TR_REQUEST || r->ev == TR_ENTER || r->ev == TR_DONE ||
                             r->ev == TR_INVOKE || r->ev == TR_APPLY || r->ev == TR_COMMIT ||
                             (r->ev == TR_SEND && r->type >= MSG_RANGE_SIZE)))
            return true;
    }
    return false;
}

/* Did (node, inc) end on the record: its own stop, the supervisor's crash or
 * stop record for it, or its writer's cut record? */
static bool life_ended(const struct trace_set *ts, int node, int inc)
{
    for (size_t i = ts->n; i-- > 0;) {
        const struct trace_rec *r = &ts->recs[i];
        if (r->node == node && r->incarnation == inc &&
            (r->ev == TR_STOP || r->ev == TR_CRASH || r->ev == TR_CUT))
            return true;
    }
    return false;
}

/* Every life of every node the supervisor started (run.json's per_node
 * incarnations) has its trace file, and every node's file ends on the
 * record: a deleted file, or one truncated at a record boundary, would
 * otherwise pass for a node that did less than it did - a false "unsafe"
 * (a counter above the traced exits) or a false "safe". A life that
 * crashed before it could open its trace is the one file that may be
 * absent: the supervisor recorded its end, and it did nothing. */
static bool lives_accounted(const struct trace_set *ts, const json_t *run, json_t *gaps,
                            bool *bad)
{
    bool ok = true;
    bool sup = false;
    for (size_t f = 0; f < ts->nfiles; f++)
        sup |= ts->files[f].node == 0 && ts->files[f].records > 0;
    /* A real run's supervisor always writes its trace; the simulator
     * writes one only when it has faults to record. */
    if (!sup && !json_is_true(json_object_get(run, "simulated"))) {
        ok = false;
        gap(gaps, bad, "the supervisor's trace (node 0) is missing: its fault and crash "
                       "records are not known");
    }
    size_t i;
    const json_t *pn;
    /* The nodes' lives, then the client processes' (a replicated log's
     * clients: "id" is their process id, n+K). */
    json_t *lives = json_array();
    if (!lives) {
        *bad = true;
        return false;
    }
    json_array_extend(lives, json_object_get(run, "per_node"));
    json_array_extend(lives, json_object_get(run, "per_client"));
    json_array_foreach(lives, i, pn)
    {
        bool client = json_object_get(pn, "client") != NULL;
        json_int_t node = json_integer_value(json_object_get(pn, client ? "id" : "node"));
        json_int_t incs = json_integer_value(json_object_get(pn, "incarnations"));
        if (node < 1 || node > 65535 || incs < 0 || incs > 1000000)
            continue;
        for (json_int_t inc = 1; inc <= incs; inc++) {
            const struct trace_file_info *fi = NULL;
            for (size_t f = 0; f < ts->nfiles && !fi; f++)
                if (ts->files[f].node == node && ts->files[f].incarnation == inc)
                    fi = &ts->files[f];
            bool ended = life_ended(ts, (int)node, (int)inc);
            char name[64];
            if (client)
                snprintf(name, sizeof name, "client %lld",
                         (long long)json_integer_value(json_object_get(pn, "client")));
            else
                snprintf(name, sizeof name, "node %lld", (long long)node);
            if (!fi || fi->records == 0) {
                if (!ended) {
                    ok = false;
                    gap(gaps, bad, "the trace of %s (incarnation %lld) is %s", name,
                        (long long)inc, fi ? "empty" : "missing");
                }
            } else if (!ended) {
                ok = false;
                gap(gaps, bad,
                    "the trace of %s (incarnation %lld) ends at %.3f ms with neither "
                    "a stop nor a crash recorded: later records are missing",
                    name, (long long)inc, (double)fi->last_t_us / 1e3);
            }
        }
    }
    json_decref(lives);
    return ok;
}

int evidence_scan(struct evidence *e, const struct trace_set *ts, const json_t *run,
                  bool have_run_json)
{
    memset(e, 0, sizeof *e);
    e->record = TRACE_CLASS_ALL;
    e->run_json = have_run_json;
    e->started = run_started(ts, run, have_run_json);
    e->traces_complete = true;
    bool bad = false;
    json_t *cut = json_array(), *over = json_array(), *missing = json_array(),
           *torn = json_array(), *gaps = json_array();
    uint64_t records = 0, bytes = 0;
    for (size_t i = 0; i < ts->nfiles; i++) {
        const struct trace_file_info *fi = &ts->files[i];
        char w[64], why[128];
        records += fi->records;
        bytes += fi->bytes;
        who(fi->node, fi->incarnation, w, sizeof w);
        if (fi->cut) {
            e->traces_complete = false;
            if (fi->node == 0 && (!e->sup_cut || fi->cut_t_us < e->sup_cut_t_us)) {
                e->sup_cut = true;
                e->sup_cut_t_us = fi->cut_t_us;
            }
            append(cut,
                   json_pack("{s:i, s:i, s:f, s:s, s:I}", "node", fi->node, "incarnation",
                             fi->incarnation, "at_ms", (double)fi->cut_t_us / 1e3, "reason",
                             evidence_cut_reason(fi->cut_errno, why, sizeof why), "records_lost",
                             (json_int_t)fi->cut_lost),
                   &bad);
            gap(gaps, &bad,
                "the trace of %s was cut at %.3f ms (%s): its %lld later record%s were lost",
                w, (double)fi->cut_t_us / 1e3, evidence_cut_reason(fi->cut_errno, why, sizeof why),
                (long long)fi->cut_lost, fi->cut_lost == 1 ? "" : "s");
        }
        if (fi->overwritten) {
            e->traces_complete = false;
            /* The supervisor's oldest records (crashes among them) are
             * gone: no crash can be ruled out at any time. */
            if (fi->node == 0) {
                e->sup_cut = true;
                e->sup_cut_t_us = INT64_MIN;
            }
            append(over,
                   json_pack("{s:i, s:i, s:I, s:f}", "node", fi->node, "incarnation",
                             fi->incarnation, "records", (json_int_t)fi->overwritten,
                             "kept_from_ms", (double)fi->first_t_us / 1e3),
                   &bad);
            gap(gaps, &bad,
                "the trace of %s reached its size cap ([trace] max_size): its oldest %llu "
                "record%s were overwritten, it starts at %.3f ms",
                w, (unsigned long long)fi->overwritten, fi->overwritten == 1 ? "" : "s",
                (double)fi->first_t_us / 1e3);
        }
        if (fi->missing) {
            e->traces_complete = false;
            append(missing,
                   json_pack("{s:i, s:i, s:I}", "node", fi->node, "incarnation",
                             fi->incarnation, "records", (json_int_t)fi->missing),
                   &bad);
            gap(gaps, &bad, "the trace of %s lacks %llu record%s between its first and last", w,
                (unsigned long long)fi->missing, fi->missing == 1 ? "" : "s");
        }
        if (fi->corrupt) {
            e->traces_complete = false;
            gap(gaps, &bad,
                "the trace of %s has %llu record%s with an impossible time or incarnation (corrupt; "
                "skipped)", w,
                (unsigned long long)fi->corrupt, fi->corrupt == 1 ? "" : "s");
        }
        if (fi->torn) {
            /* A process killed while writing a record leaves that one
             * incomplete: its action never took effect (records are
             * written first), so nothing is missing from the evidence. */
            append(torn,
                   json_pack("{s:i, s:i, s:I}", "node", fi->node, "incarnation",
                             fi->incarnation, "records", (json_int_t)fi->torn),
                   &bad);
            if (fi->torn > 1) {
                e->traces_complete = false;
                gap(gaps, &bad, "the trace of %s has %llu damaged records", w,
                    (unsigned long long)fi->torn);
            }
        }
    }
    if (e->started && have_run_json && run && !lives_accounted(ts, run, gaps, &bad))
        e->traces_complete = false;
    if (!have_run_json)
        gap(gaps, &bad,
            "run.json, the supervisor's summary, is missing (the launcher did not finish the "
            "run, or could not write the file): the shared resource's count of violations, the final counter, the per-node "
            "queue counters and why and when the run stopped are not known, so the resource "
            "and counter properties cannot be judged; the report is rebuilt from config.ini "
            "and the traces");
    e->json = json_pack("{s:b, s:b, s:b, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "complete",
                        have_run_json && e->traces_complete, "run_json", have_run_json,
                        "started", e->started, "trace_files", (json_int_t)ts->nfiles, "records",
                        (json_int_t)records, "bytes", (json_int_t)bytes, "cut", cut,
                        "overwritten", over, "missing", missing, "torn", torn, "gaps", gaps);
    if (!e->json || bad)
        return -ENOMEM;
    return 0;
}

void evidence_free(struct evidence *e)
{
    json_decref(e->json);
    e->json = NULL;
}

/* ---- what was recorded, what it cost, what it could not show ---- */

void evidence_trace_config(struct evidence *e, const char *rundir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.ini", rundir);
    struct config *c = malloc(sizeof *c);
    char *err = malloc(CONFIG_ERRLEN);
    if (c && err && config_load(c, path, err) == 0) {
        e->record = c->trace_record ? c->trace_record & TRACE_CLASS_ALL : TRACE_CLASS_ALL;
        e->max_size = c->trace_max_size;
    }
    free(c);
    free(err);
}

/* Whose trace files a property reads. */
enum { W_NODES = 1, W_CLIENTS = 2, W_SUP = 4 };

/* What each property the reports judge reads: the classes of records and
 * whose files hold them. A property not listed here (a newer one) is taken
 * to need every class and every file: left unjudged rather than passed on
 * evidence it may not have had. */
static const struct needs {
    const char *name;
    unsigned classes;
    unsigned who;
} prop_needs[] = {
    /* Raft (report_raft.c): roles are always recorded. */
    {"election_safety", 0, W_NODES},
    {"log_matching", TRACE_CLASS_LOG, W_NODES},
    {"state_machine_safety", TRACE_CLASS_LOG, W_NODES},
    {"leader_completeness", TRACE_CLASS_LOG, W_NODES},
    {"apply_order", TRACE_CLASS_LOG, W_NODES},
    {"committed_not_rolled_back", TRACE_CLASS_LOG, W_NODES},
    {"acknowledged_not_lost", TRACE_CLASS_LOG | TRACE_CLASS_CLIENTS, W_NODES | W_CLIENTS},
    {"applied_once", TRACE_CLASS_LOG | TRACE_CLASS_CLIENTS, W_NODES | W_CLIENTS},
    {"failed_not_applied", TRACE_CLASS_LOG | TRACE_CLASS_CLIENTS, W_NODES | W_CLIENTS},
    /* The clients' histories (invokes and answers, with their commands). */
    {"linearizable", TRACE_CLASS_CLIENTS, W_CLIENTS},
    /* The simulator's own check of the cores' states: no trace needed. */
    {"simulator_invariant", 0, 0},
    /* Mutual exclusion (report_mutex.c). A dead node's interval ends at
     * its last sign of life, which the supervisor's crash record gives. */
    {"mutual_exclusion", TRACE_CLASS_CS, W_NODES | W_SUP},
    {"resource", 0, 0}, /* run.json's count, from the resource itself */
    {"counter", TRACE_CLASS_CS, W_NODES},
    /* A request's timestamp is the one its request message carried. */
    {"grant_order", TRACE_CLASS_CS | TRACE_CLASS_MESSAGES, W_NODES},
    {"liveness", TRACE_CLASS_CS, W_NODES | W_SUP},
};

/* The figures made from one class or more: null when one was not
 * recorded (a 0 would read as a measurement). */
static const struct {
    const char *key;
    unsigned classes;
} figure_needs[] = {
    {"messages", TRACE_CLASS_MESSAGES},
    {"messages_per_cs", TRACE_CLASS_MESSAGES | TRACE_CLASS_CS},
    {"messages_per_commit", TRACE_CLASS_MESSAGES | TRACE_CLASS_LOG},
    {"messages_by_type", TRACE_CLASS_MESSAGES},
    {"token_passes_unused", TRACE_CLASS_MESSAGES | TRACE_CLASS_CS},
    {"cs_entries", TRACE_CLASS_CS},
    {"cs_fenced", TRACE_CLASS_CS},
    {"cs_superseded", TRACE_CLASS_CS},
    {"cs_writes_refused", TRACE_CLASS_CS},
    {"requests", TRACE_CLASS_CS},
    {"counter_expected", TRACE_CLASS_CS},
    {"throughput_cs_per_s", TRACE_CLASS_CS},
    {"response_ms", TRACE_CLASS_CS},
    {"sync_delay_ms", TRACE_CLASS_CS},
    {"fairness_jain", TRACE_CLASS_CS},
    {"waiting_ms", TRACE_CLASS_CS},
    {"overtakes", TRACE_CLASS_CS},
    {"overtakes_max_per_request", TRACE_CLASS_CS},
    {"commits", TRACE_CLASS_LOG},
    {"last_applied_index", TRACE_CLASS_LOG},
    {"commit_index", TRACE_CLASS_LOG},
    {"applies", TRACE_CLASS_LOG},
    {"logs_agree", TRACE_CLASS_LOG},
    {"rollbacks", TRACE_CLASS_LOG},
    {"rolled_back_entries", TRACE_CLASS_LOG},
    {"commit_latency_ms", TRACE_CLASS_CLIENTS},
    {"throughput_ops_per_s", TRACE_CLASS_CLIENTS},
    {"throughput_window_ms", TRACE_CLASS_CLIENTS},
    {"ops", TRACE_CLASS_CLIENTS},
    {"acknowledged_lost", TRACE_CLASS_LOG | TRACE_CLASS_CLIENTS},
    {"client_ops", TRACE_CLASS_CLIENTS},
    {"linearizable", TRACE_CLASS_CLIENTS},
    {"linearizability", TRACE_CLASS_CLIENTS},
};

/* "messages", "log and clients", "messages, cs and log". */
static void class_list(unsigned classes, char *buf, size_t cap)
{
    int total = 0, done = 0;
    for (int i = 0; i < TRACE_CLASS_COUNT; i++)
        total += (classes >> i) & 1;
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < TRACE_CLASS_COUNT && len < cap; i++) {
        if (!((classes >> i) & 1))
            continue;
        done++;
        int k = snprintf(buf + len, cap - len, "%s%s",
                         done == 1       ? ""
                         : done == total ? " and "
                                         : ", ",
                         trace_class_name(i));
        if (k < 0)
            return;
        len += (size_t)k;
    }
}

/* 1204 -> "1,204". */
static const char *grouped(uint64_t v, char *buf, size_t cap)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* A size cap as the report says it: "4 MiB", "64 KiB", "1000 bytes". */
static const char *cap_text(int64_t v, char *buf, size_t cap)
{
    static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; i++) {
        int shift = 40 - 10 * i;
        if (v > 0 && v % ((int64_t)1 << shift) == 0) {
            snprintf(buf, cap, "%" PRId64 " %s", v >> shift, names[i]);
            return buf;
        }
    }
    snprintf(buf, cap, "%" PRId64 " bytes", v);
    return buf;
}

static unsigned file_kind(int node, int n)
{
    return node == 0 ? W_SUP : node <= n ? W_NODES : W_CLIENTS;
}

/* "node 2's trace", "client 1's trace (incarnation 2)". */
static const char *file_name(const struct trace_file_info *fi, int n, char *buf, size_t cap)
{
    char inc[32] = "";
    if (fi->incarnation > 1)
        snprintf(inc, sizeof inc, " (incarnation %d)", fi->incarnation);
    if (fi->node == 0)
        snprintf(buf, cap, "the supervisor's trace%s", inc);
    else if (fi->node <= n)
        snprintf(buf, cap, "node %d's trace%s", fi->node, inc);
    else
        snprintf(buf, cap, "client %d's trace%s", fi->node - n, inc);
    return buf;
}

#define PARTIAL_LISTED 3 /* files named in one property's note */

/* What a file lost, in words ("node 2's trace lost its oldest 1,204
 * records to its 4 MiB cap"), or "" when it lost nothing. */
static void file_loss(const struct evidence *e, const struct trace_file_info *fi, int n, char *one,
                      size_t cap)
{
    char name[96], num[32], c[160], r[128];
    one[0] = '\0';
    file_name(fi, n, name, sizeof name);
    size_t l = 0;
    if (fi->overwritten) {
        if (e->max_size > 0)
            snprintf(c, sizeof c, "its %s cap", cap_text(e->max_size, r, sizeof r));
        else
            snprintf(c, sizeof c, "its size cap");
        snprintf(one, cap, "%s lost its oldest %s record%s to %s", name,
                 grouped(fi->overwritten, num, sizeof num), fi->overwritten == 1 ? "" : "s", c);
        l = strlen(one);
    }
    if (fi->cut) {
        snprintf(one + l, cap - l, "%s%s was cut at %.3f s (%s)", l ? "; " : "", l ? "it" : name,
                 (double)fi->cut_t_us / 1e6, evidence_cut_reason(fi->cut_errno, r, sizeof r));
        l = strlen(one);
    }
    if (fi->missing || fi->corrupt || fi->torn > 1) {
        uint64_t k = fi->missing + fi->corrupt + (fi->torn > 1 ? fi->torn : 0);
        snprintf(one + l, cap - l, "%s%s lacks %s record%s between its first and last",
                 l ? "; " : "", l ? "it" : name, grouped(k, num, sizeof num), k == 1 ? "" : "s");
    }
}

/* The partial-trace note of a property reading the files of kinds who;
 * false when none of them lost records. */
static bool partial_note(const struct evidence *e, const struct trace_set *ts, int n, unsigned who,
                         char *out, size_t cap)
{
    int64_t from = -1, to = -1;
    for (size_t i = 0; i < ts->nfiles; i++) {
        const struct trace_file_info *fi = &ts->files[i];
        if (!(file_kind(fi->node, n) & who))
            continue;
        if (fi->overwritten && fi->first_t_us > from)
            from = fi->first_t_us;
        if (fi->cut && (to < 0 || fi->cut_t_us < to))
            to = fi->cut_t_us;
    }
    char why[1200] = "";
    size_t len = 0;
    int listed = 0, more = 0;
    /* The files that set the window first, then the others. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ts->nfiles; i++) {
            const struct trace_file_info *fi = &ts->files[i];
            bool sets =
                (fi->overwritten && fi->first_t_us == from) || (fi->cut && fi->cut_t_us == to);
            if (!(file_kind(fi->node, n) & who) || sets != (pass == 0))
                continue;
            char one[400];
            file_loss(e, fi, n, one, sizeof one);
            if (!one[0])
                continue;
            if (listed == PARTIAL_LISTED) {
                more++;
                continue;
            }
            listed++;
            int k = snprintf(why + len, sizeof why - len, "%s%s", len ? "; " : "", one);
            if (k > 0)
                len = len + (size_t)k < sizeof why ? len + (size_t)k : sizeof why - 1;
        }
    }
    if (!listed)
        return false;
    char head[128];
    if (from >= 0 && to >= 0)
        snprintf(head, sizeof head, "judged from %.3f s to %.3f s", (double)from / 1e6,
                 (double)to / 1e6);
    else if (from >= 0)
        snprintf(head, sizeof head, "judged from %.3f s on", (double)from / 1e6);
    else if (to >= 0)
        snprintf(head, sizeof head, "judged up to %.3f s", (double)to / 1e6);
    else
        snprintf(head, sizeof head, "judged on a partial trace");
    char tail[64] = "";
    if (more)
        snprintf(tail, sizeof tail, "; and %d more file%s", more, more == 1 ? "" : "s");
    snprintf(out, cap, "%s: %s%s", head, why, tail);
    return true;
}

/* The bytes of the run's trace files (*.bin) and data side files (*.dat). */
static uint64_t trace_dir_bytes(const char *rundir)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/trace", rundir);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 ||
            (strcmp(de->d_name + l - 4, ".bin") != 0 && strcmp(de->d_name + l - 4, ".dat") != 0))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

int evidence_trace_scope(json_t *rep, const struct evidence *e, const struct trace_set *ts,
                         const char *rundir)
{
    bool bad = false;
    unsigned rec = e->record & TRACE_CLASS_ALL;
    int n = (int)json_integer_value(json_object_get(rep, "nodes"));
    bool raft = json_object_get(rep, "elections") != NULL;
    json_t *not_checked = json_array();
    if (!not_checked)
        return -ENOMEM;
    char recorded[64], what[96], line[1600];
    trace_classes_format(rec, recorded, sizeof recorded);

    /* The properties: not judged without their records, partial on files
     * that lost some. */
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rep, "properties"), i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        if (!name)
            continue;
        unsigned need = TRACE_CLASS_ALL, who = W_NODES | W_CLIENTS | W_SUP;
        for (size_t k = 0; k < sizeof prop_needs / sizeof *prop_needs; k++)
            if (strcmp(prop_needs[k].name, name) == 0) {
                need = prop_needs[k].classes;
                who = prop_needs[k].who;
                break;
            }
        /* Without its records a property has nothing to find a violation
         * in: whatever it says is an artifact of their absence (the
         * reports do not count such a one as a violation either: see
         * evidence_recorded in report_mutex.c and report_raft.c). */
        unsigned omitted = need & ~rec;
        if (omitted) {
            class_list(omitted, what, sizeof what);
            snprintf(line, sizeof line, "%s not checked: [trace] record omits %s (recorded: %s)",
                     name, what, recorded);
            append(not_checked, json_string(line), &bad);
            if (json_object_set_new(p, "judged", json_false()) < 0 ||
                json_object_set_new(p, "held", json_false()) < 0 ||
                json_object_set_new(p, "verdict", json_string("cannot verify")) < 0 ||
                json_object_set_new(p, "detail", json_string(line)) < 0 ||
                json_object_set_new(p, "evidence", json_string(line)) < 0)
                bad = true;
            continue;
        }
        if (who && partial_note(e, ts, n, who, line, sizeof line)) {
            char full[1700];
            snprintf(full, sizeof full, "%s %s", name, line);
            if (json_object_set_new(p, "partial", json_true()) < 0 ||
                json_object_set_new(p, "evidence", json_string(full)) < 0)
                bad = true;
        }
    }

    /* The figures made from records that were not kept. */
    for (size_t k = 0; k < sizeof figure_needs / sizeof *figure_needs; k++) {
        unsigned omitted = figure_needs[k].classes & ~rec;
        if (!omitted || !json_object_get(rep, figure_needs[k].key))
            continue;
        class_list(omitted, what, sizeof what);
        snprintf(line, sizeof line, "%s not computed: [trace] record omits %s", figure_needs[k].key,
                 what);
        append(not_checked, json_string(line), &bad);
        if (json_object_set_new(rep, figure_needs[k].key, json_null()) < 0)
            bad = true;
    }

    /* The same figures per node (mutex: report.json "per_node"). */
    static const struct {
        const char *key;
        unsigned classes;
    } per_node_needs[] = {
        {"messages_sent", TRACE_CLASS_MESSAGES},
        {"messages_received", TRACE_CLASS_MESSAGES},
        {"share_of_messages", TRACE_CLASS_MESSAGES},
        {"cs_entries", TRACE_CLASS_CS},
        {"wait_ms", TRACE_CLASS_CS},
        {"overtaken", TRACE_CLASS_CS},
    };
    json_t *pn;
    json_array_foreach(json_object_get(rep, "per_node"), i, pn)
    {
        for (size_t k = 0; k < sizeof per_node_needs / sizeof *per_node_needs; k++) {
            const char *key = per_node_needs[k].key;
            if ((per_node_needs[k].classes & ~rec) && json_object_get(pn, key) &&
                json_object_set_new(pn, key, json_null()) < 0)
                bad = true;
        }
    }

    /* What the trace cost, per unit of work. */
    uint64_t bytes = trace_dir_bytes(rundir);
    const char *unit = raft ? "committed command" : "CS entry";
    const json_t *ops = json_object_get(rep, raft ? "commits" : "cs_entries");
    if (!json_is_integer(ops) && raft) {
        ops = json_object_get(json_object_get(rep, "ops"), "ok");
        unit = "acknowledged command";
    } else if (!json_is_integer(ops)) {
        ops = json_object_get(rep, "counter_final");
        unit = "CS entry (the final counter)";
    }
    json_int_t nops = json_is_integer(ops) ? json_integer_value(ops) : 0;
    put_key(rep, "trace_record", json_string(recorded), &bad);
    put_key(rep, "trace_bytes", json_integer((json_int_t)bytes), &bad);
    put_key(rep, "trace_bytes_per_op",
            nops > 0 ? json_real((double)bytes / (double)nops) : json_null(), &bad);
    put_key(rep, "trace_bytes_per_op_unit", json_string(unit), &bad);
    put_key(rep, "not_checked", not_checked, &bad);
    return bad ? -ENOMEM : 0;
}

void evidence_print_trace(const json_t *rep, FILE *f)
{
    const json_t *bytes = json_object_get(rep, "trace_bytes");
    if (!json_is_integer(bytes))
        return;
    double mb = (double)json_integer_value(bytes) / 1e6;
    const json_t *per = json_object_get(rep, "trace_bytes_per_op");
    const char *rec = json_string_value(json_object_get(rep, "trace_record"));
    const char *unit = json_string_value(json_object_get(rep, "trace_bytes_per_op_unit"));
    if (json_is_number(per))
        fprintf(f, "trace: %.1f MB, %.0f bytes per %s (recorded: %s)\n", mb, json_number_value(per),
                unit ? unit : "operation", rec ? rec : "all");
    else
        fprintf(f, "trace: %.1f MB (recorded: %s)\n", mb, rec ? rec : "all");
}

void evidence_print_not_checked(const json_t *rep, FILE *f)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rep, "not_checked"), i, v)
        fprintf(f, "  %s\n", json_string_value(v));
}

/* ---- the verdict ---- */

int evidence_verdict(json_t *rep, struct evidence *e)
{
    bool bad = false;
    json_int_t violations = json_integer_value(json_object_get(rep, "violations"));
    json_t *not_judged = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rep, "properties"), i, p)
    {
        /* A run that never started has nothing any property could be
         * judged on: "0 entries, no overlap" is not a pass. */
        if (!e->started && json_object_set_new(p, "judged", json_false()) < 0)
            bad = true;
        const json_t *j = json_object_get(p, "judged");
        if (json_is_false(j))
            append(not_judged, json_copy(json_object_get(p, "name")), &bad);
    }
    bool complete = e->run_json && e->traces_complete && json_array_size(not_judged) == 0;
    const char *verdict = !e->started ? "not started"
                          : violations > 0 ? "unsafe"
                          : !complete      ? "cannot verify"
                                           : "safe";
    bool safe = strcmp(verdict, "safe") == 0;
    if (json_object_set_new(e->json, "complete", json_boolean(complete)) < 0 ||
        json_object_set_new(e->json, "not_judged", not_judged) < 0)
        bad = true;
    if (!e->started &&
        json_array_append_new(json_object_get(e->json, "gaps"),
                              json_string("the run did not start (start-up failed): no "
                                          "workload ran, there is nothing to verify")) < 0)
        bad = true;
    if (json_object_set_new(rep, "verdict", json_string(verdict)) < 0 ||
        json_object_set_new(rep, "safe", json_boolean(safe)) < 0 ||
        json_object_set_new(rep, "evidence", e->json) < 0)
        bad = true;
    e->json = NULL;
    json_t *safety = json_object_get(rep, "safety");
    if (safety && json_object_set_new(safety, "safe", json_boolean(safe)) < 0)
        bad = true;
    return bad ? -ENOMEM : 0;
}

int evidence_exit_code(const json_t *rep)
{
    const char *v = json_string_value(json_object_get(rep, "verdict"));
    if (v && strcmp(v, "safe") == 0)
        return 0;
    if (v && strcmp(v, "unsafe") == 0)
        return 1;
    return 2;
}

/* Was some property left unjudged because its records were not recorded
 * (rather than lost)? */
static bool omitted_property(const json_t *rep)
{
    bool lost = json_array_size(json_object_get(json_object_get(rep, "evidence"), "gaps")) > 0;
    size_t i;
    json_t *p;
    bool omitted = false;
    json_array_foreach(json_object_get(rep, "properties"), i, p)
    {
        const char *why = json_string_value(json_object_get(p, "evidence"));
        if (json_is_false(json_object_get(p, "judged")) && why &&
            strstr(why, " not checked: [trace] record omits "))
            omitted = true;
    }
    return omitted && !lost;
}

void evidence_print_verdict(const json_t *rep, FILE *f)
{
    const char *v = json_string_value(json_object_get(rep, "verdict"));
    json_int_t viol = json_integer_value(json_object_get(rep, "violations"));
    bool complete = json_is_true(json_object_get(json_object_get(rep, "evidence"), "complete"));
    if (!v)
        v = json_is_true(json_object_get(rep, "safe")) ? "safe" : "unsafe";
    if (strcmp(v, "safe") == 0 && json_is_true(json_object_get(rep, "rests_on_fencing")))
        fprintf(f, "SAFE at the resource, by fencing: two nodes believed they were in the "
                   "critical section at once\n");
    else if (strcmp(v, "safe") == 0)
        fprintf(f, "SAFE\n");
    else if (strcmp(v, "unsafe") == 0)
        fprintf(f, "UNSAFE (%lld violation%s%s)\n", (long long)viol, viol == 1 ? "" : "s",
                complete ? "" : ", found in incomplete evidence");
    else if (strcmp(v, "not started") == 0)
        fprintf(f, "NOT STARTED: the run did not start; there is nothing to verify\n");
    else if (omitted_property(rep))
        fprintf(f, "CANNOT VERIFY: no violation found, but [trace] record left out what a "
                   "property needs\n");
    else
        fprintf(f, "CANNOT VERIFY: no violation found, but the evidence is incomplete\n");
}

void evidence_print(const json_t *rep, FILE *f)
{
    const json_t *e = json_object_get(rep, "evidence");
    if (!e)
        return;
    const json_t *gaps = json_object_get(e, "gaps");
    const json_t *nj = json_object_get(e, "not_judged");
    const json_t *torn = json_object_get(e, "torn");
    fprintf(f, "evidence           %s: %lld records in %lld trace files%s\n",
            !json_is_true(json_object_get(e, "started"))  ? "none (the run did not start)"
            : json_is_true(json_object_get(e, "complete")) ? "complete"
                                                           : "INCOMPLETE",
            (long long)json_integer_value(json_object_get(e, "records")),
            (long long)json_integer_value(json_object_get(e, "trace_files")),
            json_is_true(json_object_get(e, "run_json")) ? "" : ", no run.json");
    size_t i;
    json_t *v;
    json_array_foreach(gaps, i, v)
        fprintf(f, "  - %s\n", json_string_value(v));
    long ntorn = 0;
    json_array_foreach(torn, i, v)
        ntorn += (long)json_integer_value(json_object_get(v, "records"));
    if (ntorn)
        fprintf(f, "  %ld record%s torn by a kill mid-write (skipped; the action it "
                   "recorded never took effect)\n",
                ntorn, ntorn == 1 ? "" : "s");
    if (json_array_size(json_object_get(rep, "not_checked"))) {
        fprintf(f, "  not checked (left out by [trace] record):\n");
        json_array_foreach(json_object_get(rep, "not_checked"), i, v)
            fprintf(f, "    %s\n", json_string_value(v));
    }
    if (json_array_size(nj)) {
        fprintf(f, "  not judged:");
        json_array_foreach(nj, i, v)
            fprintf(f, "%s %s", i ? "," : "", json_string_value(v));
        fputc('\n', f);
    }
}
