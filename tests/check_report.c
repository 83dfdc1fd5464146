/* Tests of src/report.c: metrics, safety verdicts and the trace export,
 * computed from synthetic run directories.
 *
 * Each test writes a run directory by hand: run.json with jansson and the
 * binary traces with the real trace writer, every record stamped with an
 * explicit time, so every expected number below is exact. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/trace.h"
#include "ipc/util.h"
#include "ipc/wire.h"
#include "nodes/algo.h"
#include "nodes/runtime.h"
#include "src/evidence.h"
#include "src/report.h"
#include "tests/helpers.h"

/* The centralized algorithm's message types (private to nodes/centralized.c). */
enum { T_REQUEST = MSG_RANGE_CENTRALIZED + 1, T_GRANT, T_RELEASE };

#define MAXN 8
#define MAXINC 3
#define COORD 1

/* ---- fixture: one temporary directory per TCase, removed afterwards ---- */

static char base[64];

static void base_setup(void)
{
    char *d = h_tmpdir();
    ck_assert_uint_lt(strlen(d), sizeof base);
    strcpy(base, d);
    free(d);
}

static void base_teardown(void) { h_rmtree(base); }

/* ---- building a run directory ---- */

struct run {
    char dir[128];
    struct trace_writer w[MAXN + 1][MAXINC + 1];
    bool open[MAXN + 1][MAXINC + 1];
    bool ended[MAXN + 1][MAXINC + 1]; /* a crash or stop of that life is recorded */
    int64_t t_max;                     /* the latest time written */
    bool sup_done;                     /* the supervisor's file is written (cut_trace) */
    bool no_trace;                     /* run_finish writes no trace at all */
};

static void run_new(struct run *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s/run.XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
}

/* The trace file of node (0 = supervisor) in incarnation inc. */
static struct trace_writer *writer(struct run *r, int node, int inc)
{
    ck_assert_int_le(node, MAXN);
    ck_assert_int_le(inc, MAXINC);
    if (!r->open[node][inc]) {
        char err[DL_ERRLEN];
        ck_assert_msg(trace_open(&r->w[node][inc], r->dir, node, inc, 0, err) == 0, "%s", err);
        r->open[node][inc] = true;
    }
    return &r->w[node][inc];
}

/* A record written by node (in its own file); b = gen for an entry or an
 * exit (-1: an algorithm without generations). */
static void ev_gen(struct run *r, int node, int inc, int64_t t, int kind, int peer, int type,
                   int64_t key, int aux, int64_t a, int64_t b)
{
    struct trace_rec rec = {.t_us = t, .node = (uint16_t)node, .ev = (uint16_t)kind,
                            .peer = (uint16_t)peer, .type = (uint16_t)type, .key = key,
                            .aux = aux, .a = a, .b = b};
    trace_emit(writer(r, node, inc), &rec);
    if (t > r->t_max && t <= TRACE_T_MAX)
        r->t_max = t;
    if (kind == TR_STOP || kind == TR_CRASH)
        r->ended[node][inc] = true;
}

static void ev(struct run *r, int node, int inc, int64_t t, int kind, int peer, int type,
               int64_t key, int aux, int64_t a)
{
    ev_gen(r, node, inc, t, kind, peer, type, key, aux, a, -1);
}

/* A record written by the supervisor about node (crash, fault, ...); b: a
 * crash's last heartbeat stamp (0: unknown). */
static void sup_b(struct run *r, int64_t t, int kind, int node, int peer, int aux, int64_t a,
                  int64_t b)
{
    struct trace_rec rec = {.t_us = t, .node = (uint16_t)node, .ev = (uint16_t)kind,
                            .peer = (uint16_t)peer, .aux = aux, .a = a, .b = b};
    trace_emit(writer(r, 0, 1), &rec);
    if (t > r->t_max && t <= TRACE_T_MAX)
        r->t_max = t;
    /* The supervisor's record of a crash or a stop names the life it ended
     * (incarnation 1 unless the record says otherwise). */
    if ((kind == TR_CRASH || kind == TR_STOP) && node >= 1 && node <= MAXN)
        r->ended[node][rec.incarnation > 0 && rec.incarnation <= MAXINC ? rec.incarnation : 1] =
            true;
}

static void sup(struct run *r, int64_t t, int kind, int node, int peer, int aux, int64_t a)
{
    sup_b(r, t, kind, node, peer, aux, a, 0);
}

/* One centralized critical section of node (incarnation 1): request, the
 * three messages with their receipts, entry and exit. */
static void cs_cycle(struct run *r, int node, int64_t t_req, int64_t t_enter, int64_t t_exit,
                     int64_t seq, int64_t counter)
{
    ev(r, node, 1, t_req, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(r, node, 1, t_req + 1, TR_SEND, COORD, T_REQUEST, seq, 0, 0);
    ev(r, COORD, 1, t_req + 2, TR_RECV, node, T_REQUEST, seq, 0, t_req + 1);
    ev(r, COORD, 1, t_enter - 2, TR_SEND, node, T_GRANT, seq, 0, 0);
    ev(r, node, 1, t_enter - 1, TR_RECV, COORD, T_GRANT, seq, 0, t_enter - 2);
    ev(r, node, 1, t_enter, TR_ENTER, 0, 0, seq, 0, 0);
    ev(r, node, 1, t_exit, TR_EXIT, 0, 0, seq, 0, counter);
    ev(r, node, 1, t_exit + 1, TR_SEND, COORD, T_RELEASE, seq, 0, 0);
    ev(r, COORD, 1, t_exit + 2, TR_RECV, node, T_RELEASE, seq, 0, t_exit + 1);
}

/* run.json for an n-node centralized run that finished its workload. */
static json_t *run_json(int n, json_int_t counter_final)
{
    json_t *per = json_array();
    for (int k = 1; k <= n; k++)
        json_array_append_new(
            per, json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "node", k, "sent", 0,
                           "recv", 0, "malformed", 0, "queue_full", 10 * k, "backlog_hwm", k,
                           "dropped", 0, "incarnations", 1, "crashes", 0));
    json_t *o = json_pack(
        "{s:s, s:i, s:i, s:s, s:s, s:f, s:b, s:s, s:i, s:b, s:i, s:f, s:I, s:i, s:i, s:i, s:o, "
        "s:[]}",
        "algorithm", "centralized", "nodes", n, "seed", 42, "name", "unit", "run_id", "1a2b3c4d",
        "duration_s", 2.0, "workload_done", 1, "stop_reason", "workload done", "coordinator",
        COORD, "coordinator_competes", 0, "requests_per_node", 2, "cs_time_ms", 1.0,
        "counter_final", counter_final, "resource_entries", 4, "resource_violations", 0,
        "resource_fenced", 0, "per_node", per, "faults");
    ck_assert_ptr_nonnull(o);
    return o;
}

static void run_finish(struct run *r, json_t *rj)
{
    /* As a real run ends: every life still running writes its stop record
     * (every node of run.json's first life at least), and the supervisor
     * its own - so a trace is complete evidence (evidence.c). */
    json_int_t n = json_integer_value(json_object_get(rj, "nodes"));
    int64_t t_end = r->t_max + 1;
    for (int k = 1; k <= MAXN && !r->no_trace; k++)
        for (int i = 1; i <= MAXINC; i++)
            if ((r->open[k][i] || (i == 1 && k <= n)) && !r->ended[k][i])
                ev(r, k, i, t_end, TR_STOP, 0, 0, 0, 0, 0);
    if (!r->sup_done && !r->no_trace)
        sup(r, t_end, TR_STOP, 0, 0, 0, 0);
    for (int k = 0; k <= MAXN; k++)
        for (int i = 0; i <= MAXINC; i++)
            if (r->open[k][i])
                trace_close(&r->w[k][i]);
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", r->dir);
    ck_assert_int_eq(json_dump_file(rj, path, JSON_INDENT(2)), 0);
    json_decref(rj);
}

/* The basic run: 3 nodes, coordinator 1 only coordinates; nodes 2 and 3
 * each do two critical sections (4 CS, 12 algorithm messages). Response
 * times 100, 600, 200, 500 us; sync delays 100 us (node 3 waiting since 1500
 * when node 2 left at 2000) and 300 us. */
static void basic_run(struct run *r, json_int_t counter_final)
{
    run_new(r);
    sup(r, 10, TR_START, 0, 0, 4242, 0);
    cs_cycle(r, 2, 1000, 1100, 2000, 1, 1);
    cs_cycle(r, 3, 1500, 2100, 3000, 1, 2);
    cs_cycle(r, 2, 3500, 3700, 4000, 2, 3);
    cs_cycle(r, 3, 3800, 4300, 5000, 2, 4);
    /* Runtime control messages are not algorithm messages. */
    ev(r, 2, 1, 4100, TR_SEND, 0, MSG_RT_DONE, 2, 0, 0);
    ev(r, 3, 1, 5100, TR_SEND, 0, MSG_RT_DONE, 2, 0, 0);
    ev(r, 1, 1, 5200, TR_RECV, 0, MSG_RT_DONE, 0, 0, 5150);
    run_finish(r, run_json(3, counter_final));
}

static json_t *build(const char *dir)
{
    char err[DL_ERRLEN] = "";
    json_t *rep = NULL;
    ck_assert_msg(report_build(dir, &rep, err) == 0, "report_build: %s", err);
    ck_assert_ptr_nonnull(rep);
    return rep;
}

static const json_t *get(const json_t *o, const char *path)
{
    /* "a.b": nested objects. */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *cur = o;
    for (char *save, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        cur = json_object_get(cur, tok);
        ck_assert_msg(cur != NULL, "report has no %s", path);
    }
    return cur;
}

static json_int_t geti(const json_t *o, const char *path)
{
    const json_t *v = get(o, path);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return json_integer_value(v);
}

static double getd(const json_t *o, const char *path)
{
    const json_t *v = get(o, path);
    ck_assert_msg(json_is_number(v), "%s is not a number", path);
    return json_number_value(v);
}

static bool getb(const json_t *o, const char *path)
{
    const json_t *v = get(o, path);
    ck_assert_msg(json_is_boolean(v), "%s is not a boolean", path);
    return json_is_true(v);
}

static const json_t *prop(const json_t *rep, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rep, "properties"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
            return p;
    }
    ck_abort_msg("no property %s", name);
    return NULL;
}

static const char *detail(const json_t *rep, const char *name)
{
    return json_string_value(json_object_get(prop(rep, name), "detail"));
}

static const json_t *node_of(const json_t *rep, int k)
{
    const json_t *n = json_array_get(json_object_get(rep, "per_node"), (size_t)k - 1);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(geti(n, "node"), k);
    return n;
}

/* Run f into a string (caller frees). */
static char *capture_check(const char *dir, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    *rc = report_check(dir, f);
    fclose(f);
    return buf;
}

/* Capture what fn writes to stderr (fd 2). */
static char *capture_stderr(int (*fn)(const char *, FILE *), const char *dir, FILE *out, int *rc)
{
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    *rc = fn(dir, out);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long len = ftell(tmp);
    rewind(tmp);
    char *text = calloc(1, (size_t)len + 1);
    ck_assert_int_eq((long)fread(text, 1, (size_t)len, tmp), len);
    fclose(tmp);
    return text;
}

/* ---- metrics ---- */

START_TEST(test_counts_and_cost)
{
    struct run r;
    basic_run(&r, 4);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "algorithm")), "centralized");
    ck_assert_int_eq(geti(rep, "nodes"), 3);
    ck_assert_int_eq(geti(rep, "seed"), 42);
    ck_assert_str_eq(json_string_value(get(rep, "stop_reason")), "workload done");
    ck_assert_int_eq(geti(rep, "cs_entries"), 4);
    ck_assert_int_eq(geti(rep, "requests"), 4);
    ck_assert_int_eq(geti(rep, "messages"), 12);
    ck_assert_double_eq(getd(rep, "messages_per_cs"), 3.0);
    ck_assert_double_eq(getd(rep, "theory_messages_per_cs"), 3.0);
    ck_assert_int_eq(geti(rep, "counter_expected"), 4);
    ck_assert_int_eq(geti(rep, "counter_final"), 4);
    ck_assert_double_eq_tol(getd(rep, "throughput_cs_per_s"), 2.0, 1e-12);
    ck_assert(getb(rep, "safe"));
    ck_assert_int_eq(geti(rep, "violations"), 0);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    ck_assert_int_eq(geti(rep, "safety.requests_pending_at_end"), 0);
    ck_assert_int_eq(geti(rep, "safety.crashes"), 0);
    json_decref(rep);
}
END_TEST

START_TEST(test_per_node)
{
    struct run r;
    basic_run(&r, 4);
    json_t *rep = build(r.dir);
    ck_assert_int_eq(json_array_size(get(rep, "per_node")), 3);
    /* The coordinator sent 4 grants and received 4 requests + 4 releases
     * (the runtime STOP it received does not count): 12 of 24. */
    const json_t *n1 = node_of(rep, 1);
    ck_assert_int_eq(geti(n1, "cs_entries"), 0);
    ck_assert_int_eq(geti(n1, "messages_sent"), 4);
    ck_assert_int_eq(geti(n1, "messages_received"), 8);
    ck_assert_double_eq_tol(getd(n1, "share_of_messages"), 0.5, 1e-12);
    const json_t *n3 = node_of(rep, 3);
    ck_assert_int_eq(geti(n3, "cs_entries"), 2);
    ck_assert_int_eq(geti(n3, "requests"), 2);
    ck_assert_int_eq(geti(n3, "messages_sent"), 4);
    ck_assert_int_eq(geti(n3, "messages_received"), 2);
    ck_assert_double_eq_tol(getd(n3, "share_of_messages"), 0.25, 1e-12);
    /* run.json's counters merged in. */
    ck_assert_int_eq(geti(n3, "queue_full"), 30);
    ck_assert_int_eq(geti(n3, "backlog_hwm"), 3);
    ck_assert_int_eq(geti(n3, "incarnations"), 1);
    ck_assert_int_eq(geti(n3, "crashes"), 0);
    json_decref(rep);
}
END_TEST

START_TEST(test_response_and_sync_delay)
{
    struct run r;
    basic_run(&r, 4);
    json_t *rep = build(r.dir);
    /* Samples 0.1, 0.2, 0.5, 0.6 ms: nearest rank 2 of 4, then 4 of 4. */
    ck_assert_double_eq_tol(getd(rep, "response_ms.p50"), 0.2, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "response_ms.p95"), 0.6, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "response_ms.p99"), 0.6, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "response_ms.max"), 0.6, 1e-9);
    /* Sync delays 0.1 and 0.3 ms (node 2's second request came after the
     * exit before it, so that entry is not a sample). */
    ck_assert_double_eq_tol(getd(rep, "sync_delay_ms.p50"), 0.1, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "sync_delay_ms.mean"), 0.2, 1e-9);
    json_decref(rep);
}
END_TEST

/* k sequential CS of node 2 with response times 1..k ms. */
static json_t *sequential_run(struct run *r, int k)
{
    run_new(r);
    int64_t t = 1000;
    for (int i = 1; i <= k; i++) {
        cs_cycle(r, 2, t, t + 1000 * i, t + 1000 * i + 100, i, i);
        t += 1000 * i + 1000;
    }
    run_finish(r, run_json(2, k));
    return build(r->dir);
}

START_TEST(test_percentiles_nearest_rank)
{
    /* 20 samples: ranks 10, 19, 20 (interpolation would give 10.5, ...). */
    struct run r;
    json_t *rep = sequential_run(&r, 20);
    ck_assert_double_eq_tol(getd(rep, "response_ms.p50"), 10.0, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "response_ms.p95"), 19.0, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "response_ms.p99"), 20.0, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "response_ms.max"), 20.0, 1e-9);
    /* Nobody was ever waiting when someone left. */
    ck_assert(json_is_null(get(rep, "sync_delay_ms.p50")));
    ck_assert(json_is_null(get(rep, "sync_delay_ms.mean")));
    json_decref(rep);
}
END_TEST

START_TEST(test_percentiles_round_up)
{
    /* 11 samples: p50 is rank ceil(5.5) = 6 and p95 rank ceil(10.45) = 11
     * (rounding to the nearest rank would give 10). */
    struct run r;
    json_t *rep = sequential_run(&r, 11);
    ck_assert_double_eq_tol(getd(rep, "response_ms.p50"), 6.0, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "response_ms.p95"), 11.0, 1e-9);
    json_decref(rep);
}
END_TEST

START_TEST(test_sync_delay_excludes_failover)
{
    /* Node 2 leaves at 300; node 3, waiting, enters at 400 (sample 100 us)
     * and crashes inside; node 4, waiting since 160, enters only at 900
     * after the crash: that wait is failover, not a sync delay. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 150, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 4, 1, 160, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 1, 200, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 2, 1, 300, TR_EXIT, 0, 0, 1, 0, 1);
    ev(&r, 3, 1, 400, TR_ENTER, 0, 0, 1, 0, 0);
    sup(&r, 500, TR_CRASH, 3, 0, SIGKILL, 0);
    ev(&r, 4, 1, 900, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 4, 1, 1000, TR_EXIT, 0, 0, 1, 0, 2);
    run_finish(&r, run_json(4, 2));
    json_t *rep = build(r.dir);
    ck_assert_double_eq_tol(getd(rep, "sync_delay_ms.p50"), 0.1, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "sync_delay_ms.mean"), 0.1, 1e-9);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    ck_assert(getb(rep, "safe"));
    json_decref(rep);
}
END_TEST

START_TEST(test_no_entries)
{
    struct run r;
    run_new(&r);
    sup(&r, 10, TR_START, 0, 0, 4242, 0);
    run_finish(&r, run_json(3, 0));
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "cs_entries"), 0);
    ck_assert(json_is_null(get(rep, "messages_per_cs")));
    ck_assert(json_is_null(get(rep, "response_ms.p50")));
    ck_assert(json_is_null(get(rep, "response_ms.max")));
    ck_assert(json_is_null(get(rep, "fairness_jain")));
    ck_assert(getb(rep, "safe"));
    json_decref(rep);
}
END_TEST

/* ---- fairness ---- */

START_TEST(test_fairness_equal)
{
    /* Nodes 2 and 3 got 2 each; the coordinator does not compete, so its 0
     * does not count (with it the index would be 2/3). */
    struct run r;
    basic_run(&r, 4);
    json_t *rep = build(r.dir);
    ck_assert_double_eq_tol(getd(rep, "fairness_jain"), 1.0, 1e-12);
    json_decref(rep);
}
END_TEST

START_TEST(test_fairness_skewed)
{
    /* The coordinator competes: entries 1, 2, 3 -> 36 / (3 * 14). */
    struct run r;
    run_new(&r);
    int64_t t = 1000, seq = 0, counter = 0;
    for (int node = 1; node <= 3; node++)
        for (int i = 0; i < node; i++) {
            ev(&r, node, 1, t, TR_REQUEST, 0, 0, 0, 0, 0);
            ev(&r, node, 1, t + 10, TR_ENTER, 0, 0, ++seq, 0, 0);
            ev(&r, node, 1, t + 50, TR_EXIT, 0, 0, seq, 0, ++counter);
            t += 100;
        }
    json_t *rj = run_json(3, 6);
    json_object_set_new(rj, "coordinator_competes", json_true());
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    ck_assert_double_eq_tol(getd(rep, "fairness_jain"), 36.0 / 42.0, 1e-12);
    ck_assert_double_eq_tol(getd(rep, "theory_messages_per_cs"), 2.0, 1e-12);
    ck_assert_int_eq(geti(rep, "cs_entries"), 6);
    ck_assert(getb(rep, "safe"));
    json_decref(rep);
}
END_TEST

/* ---- safety ---- */

START_TEST(test_overlap_detected)
{
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 1, 1000, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 3, 1, 1200, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 1500, TR_ENTER, 0, 0, 1, 1, 0);
    ev(&r, 2, 1, 2000, TR_EXIT, 0, 0, 1, 0, 1);
    ev(&r, 3, 1, 2500, TR_EXIT, 0, 0, 1, 0, 1);
    json_t *rj = run_json(3, 1); /* a lost update: 1, not 2 */
    json_object_set_new(rj, "resource_violations", json_integer(1));
    run_finish(&r, rj);

    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 1);
    ck_assert_int_eq(geti(rep, "counter_expected"), 2);
    /* overlap + resource violation + counter mismatch */
    ck_assert_int_eq(geti(rep, "violations"), 3);
    ck_assert(!getb(rep, "safe"));
    ck_assert(!json_is_true(json_object_get(prop(rep, "mutual_exclusion"), "held")));
    ck_assert(!json_is_true(json_object_get(prop(rep, "resource"), "held")));
    ck_assert_ptr_nonnull(strstr(detail(rep, "mutual_exclusion"),
                                 "node 3 entered at 1.500 ms while node 2 was inside"));
    ck_assert_ptr_nonnull(strstr(detail(rep, "mutual_exclusion"), "for 0.500 ms"));
    json_decref(rep);

    int rc;
    char *out = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_nonnull(strstr(out, "FAIL mutual_exclusion: node 3 entered"));
    ck_assert_ptr_nonnull(strstr(out, "FAIL counter: "));
    size_t len = strlen(out);
    ck_assert(len >= 7 && strcmp(out + len - 7, "UNSAFE\n") == 0);
    free(out);
}
END_TEST

START_TEST(test_counter_mismatch)
{
    struct run r;
    basic_run(&r, 3);
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "counter_expected"), 4);
    ck_assert_int_eq(geti(rep, "counter_final"), 3);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    ck_assert_int_eq(geti(rep, "violations"), 1);
    ck_assert(!getb(rep, "safe"));
    ck_assert(!json_is_true(json_object_get(prop(rep, "counter"), "held")));
    ck_assert(json_is_true(json_object_get(prop(rep, "mutual_exclusion"), "held")));
    json_decref(rep);
    int rc;
    char *out = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_nonnull(strstr(out, "PASS mutual_exclusion: "));
    ck_assert_ptr_nonnull(strstr(out, "FAIL counter: final counter 3 but 4"));
    free(out);
}
END_TEST

START_TEST(test_safe_run_checks_clean)
{
    struct run r;
    basic_run(&r, 4);
    int rc;
    char *out = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(out, "PASS mutual_exclusion: "));
    ck_assert_ptr_nonnull(strstr(out, "PASS resource: "));
    ck_assert_ptr_nonnull(strstr(out, "PASS counter: "));
    ck_assert_ptr_nonnull(strstr(out, "PASS liveness: "));
    ck_assert_ptr_null(strstr(out, "FAIL"));
    size_t len = strlen(out);
    ck_assert(len >= 5 && strcmp(out + len - 5, "safe\n") == 0);
    free(out);
}
END_TEST

START_TEST(test_crash_in_cs)
{
    struct run r;
    run_new(&r);
    /* Node 2 dies inside the CS; the supervisor records it at 1500. */
    ev(&r, 2, 1, 1000, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 1, 1100, TR_ENTER, 0, 0, 1, 0, 0);
    /* Node 4 dies while waiting. */
    ev(&r, 4, 1, 1300, TR_REQUEST, 0, 0, 0, 0, 0);
    sup(&r, 1400, TR_CRASH, 4, 0, SIGKILL, 0);
    sup(&r, 1500, TR_CRASH, 2, 0, SIGKILL, 0);
    /* Node 3 enters after the crash: no overlap. */
    ev(&r, 3, 1, 1200, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 1600, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 3, 1, 2000, TR_EXIT, 0, 0, 1, 0, 1);
    /* Node 2 restarts and does one more CS as incarnation 2. */
    sup(&r, 2500, TR_RESTART, 2, 0, 0, 2);
    ev(&r, 2, 2, 3000, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 2, 3100, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 2, 2, 3200, TR_EXIT, 0, 0, 1, 0, 2);
    run_finish(&r, run_json(4, 2));

    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    ck_assert_int_eq(geti(rep, "safety.crashes"), 2);
    ck_assert_int_eq(geti(rep, "safety.requests_pending_at_end"), 0);
    ck_assert_int_eq(geti(rep, "cs_entries"), 3);
    ck_assert_int_eq(geti(rep, "counter_expected"), 2);
    ck_assert_int_eq(geti(node_of(rep, 2), "cs_entries"), 2);
    ck_assert(getb(rep, "safe"));
    ck_assert(json_is_true(json_object_get(prop(rep, "liveness"), "held")));
    /* Responses: 100 (node 2), 400 (node 3), 100 (node 2 again). */
    ck_assert_double_eq_tol(getd(rep, "response_ms.max"), 0.4, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "response_ms.p50"), 0.1, 1e-9);
    /* Node 3 was waiting, but the last holder crashed: no sync sample. */
    ck_assert(json_is_null(get(rep, "sync_delay_ms.p50")));
    json_decref(rep);
}
END_TEST

START_TEST(test_stale_incarnation_not_pending)
{
    /* Node 2's first incarnation requested and vanished without a crash
     * record; its second incarnation's request replaces that one. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 1000, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 2, 2000, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 2, 2300, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 2, 2, 2400, TR_EXIT, 0, 0, 1, 0, 1);
    run_finish(&r, run_json(2, 1));
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "requests"), 2);
    ck_assert_int_eq(geti(rep, "safety.requests_pending_at_end"), 0);
    ck_assert_double_eq_tol(getd(rep, "response_ms.max"), 0.3, 1e-9);
    json_decref(rep);
}
END_TEST

START_TEST(test_same_microsecond_handover)
{
    /* Node 3 records its exit and node 2 its entry in the same microsecond:
     * both are recorded before acting, so this is not an overlap. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 500, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 600, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 1000, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 2, 1, 2000, TR_ENTER, 0, 0, 1, 0, 0); /* sorts before node 3's exit */
    ev(&r, 3, 1, 2000, TR_EXIT, 0, 0, 1, 0, 1);
    ev(&r, 2, 1, 2500, TR_EXIT, 0, 0, 1, 0, 2);
    run_finish(&r, run_json(3, 2));
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    ck_assert(getb(rep, "safe"));
    json_decref(rep);
}
END_TEST

START_TEST(test_fenced_entry)
{
    /* Node 3's entry is refused by fencing while node 2 is inside: not an
     * entry, not an overlap, and its exit writes no counter update. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 1, 1000, TR_ENTER, 0, 0, 5, 0, 0);
    ev(&r, 3, 1, 1100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 1500, TR_ENTER, 0, 0, 4, 2, 0);
    ev(&r, 3, 1, 1600, TR_EXIT, 0, 0, 4, 0, 0);
    ev(&r, 2, 1, 2000, TR_EXIT, 0, 0, 5, 0, 1);
    /* Node 3 then gets in properly: that exit counts. */
    ev(&r, 3, 1, 2050, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 2100, TR_ENTER, 0, 0, 6, 0, 0);
    ev(&r, 3, 1, 2200, TR_EXIT, 0, 0, 6, 0, 2);
    run_finish(&r, run_json(3, 2));
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "cs_entries"), 2);
    ck_assert_int_eq(geti(rep, "cs_fenced"), 1);
    ck_assert_int_eq(geti(rep, "counter_expected"), 2);
    /* Node 3 believed it was inside while node 2 was: an overlap as the
     * nodes believed it, which fencing kept from the resource. */
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 1);
    ck_assert_int_eq(geti(rep, "safety.overlaps_fenced"), 1);
    ck_assert_str_eq(json_string_value(get(prop(rep, "mutual_exclusion"), "verdict")), "fenced");
    ck_assert_int_eq(geti(rep, "safety.requests_pending_at_end"), 0);
    ck_assert(getb(rep, "safe"));
    ck_assert(getb(rep, "rests_on_fencing"));
    /* The refused entry was not counted: liveness did not hold. */
    ck_assert(!json_is_true(json_object_get(prop(rep, "liveness"), "held")));
    json_decref(rep);
}
END_TEST

/* Node 3 requests and is never granted. */
static void pending_run(struct run *r, const char *stop, bool done)
{
    run_new(r);
    cs_cycle(r, 2, 1000, 1100, 2000, 1, 1);
    ev(r, 3, 1, 1900, TR_REQUEST, 0, 0, 0, 0, 0);
    json_t *rj = run_json(3, 1);
    json_object_set_new(rj, "stop_reason", json_string(stop));
    json_object_set_new(rj, "workload_done", json_boolean(done));
    run_finish(r, rj);
}

START_TEST(test_pending_at_duration)
{
    struct run r;
    pending_run(&r, "duration", false);
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "safety.requests_pending_at_end"), 1);
    /* Not granted is not live, whenever the run was cut off; the detail
     * says how long it had waited. */
    ck_assert(!json_is_true(json_object_get(prop(rep, "liveness"), "held")));
    ck_assert_str_eq(detail(rep, "liveness"),
                     "1 request of live nodes was never granted, still waiting when the run "
                     "stopped at its duration (the longest: node 3, since 1.900 ms, 0.103 ms)");
    ck_assert(getb(rep, "safe"));
    json_decref(rep);
}
END_TEST

START_TEST(test_pending_after_workload_done)
{
    struct run r;
    pending_run(&r, "workload done", true);
    json_t *rep = build(r.dir);
    ck_assert(!json_is_true(json_object_get(prop(rep, "liveness"), "held")));
    /* Liveness is reported, not part of `safe`. */
    ck_assert(getb(rep, "safe"));
    json_decref(rep);
    int rc;
    char *out = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(out, "FAIL liveness: 1 request of live nodes was never granted"));
    free(out);
}
END_TEST

/* ---- two levels of mutual exclusion ---- */

static const char *verdict(const json_t *rep, const char *name)
{
    return json_string_value(json_object_get(prop(rep, name), "verdict"));
}

static bool any_note_has(const json_t *rep, const char *text)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(rep, "notes"), i, n)
    {
        if (strstr(json_string_value(n), text))
            return true;
    }
    return false;
}

static char *text_of(const json_t *rep)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    report_print_text(rep, f);
    fclose(f);
    return buf;
}

START_TEST(test_two_tokens_without_fault)
{
    /* No fault at all: node 3 enters with a regenerated generation 6 while
     * node 2 is still inside with generation 5 (the resource: superseded);
     * node 2's write is then refused. 1 of 2 entries counts. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    ev_gen(&r, 2, 1, 1000, TR_ENTER, 0, 0, 5, 0, 0, 5);
    ev(&r, 3, 1, 1100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev_gen(&r, 3, 1, 1200, TR_ENTER, 0, 0, 6, 3, 0, 6);
    ev_gen(&r, 3, 1, 1400, TR_EXIT, 0, 0, 6, 0, 1, 6);
    ev_gen(&r, 2, 1, 1500, TR_EXIT, 0, 0, 5, 2, 0, 5);
    json_t *rj = run_json(3, 1);
    json_object_set_new(rj, "fencing", json_true());
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "cs_entries"), 2);
    ck_assert_int_eq(geti(rep, "cs_superseded"), 1);
    ck_assert_int_eq(geti(rep, "cs_writes_refused"), 1);
    ck_assert_int_eq(geti(rep, "counter_expected"), 1);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 1);
    ck_assert_int_eq(geti(rep, "safety.overlaps_fenced"), 1);
    ck_assert_double_eq_tol(getd(rep, "safety.overlap_ms"), 0.2, 1e-9);
    ck_assert_str_eq(verdict(rep, "mutual_exclusion"), "fenced");
    ck_assert(!json_is_true(json_object_get(prop(rep, "mutual_exclusion"), "held")));
    ck_assert_msg(strstr(detail(rep, "mutual_exclusion"),
                         "node 3 (generation 6) entered at 1.200 ms while node 2 (generation 5) "
                         "was still inside") != NULL,
                  "%s", detail(rep, "mutual_exclusion"));
    ck_assert_ptr_nonnull(strstr(detail(rep, "mutual_exclusion"), "rests on fencing"));
    ck_assert_str_eq(verdict(rep, "resource"), "pass");
    /* The resource stayed safe, and the verdict says what it rests on. */
    ck_assert(getb(rep, "safe"));
    ck_assert(getb(rep, "rests_on_fencing"));
    ck_assert_int_eq(geti(rep, "violations"), 0);
    ck_assert(any_note_has(rep, "with no fault before it"));
    /* The refused write was not counted: not live. */
    ck_assert_str_eq(verdict(rep, "liveness"), "fail");
    ck_assert_ptr_nonnull(strstr(detail(rep, "liveness"), "1 critical section whose write"));
    char *txt = text_of(rep);
    ck_assert_ptr_nonnull(strstr(txt, "\nSAFE at the resource, by fencing: two nodes believed"));
    ck_assert_ptr_nonnull(strstr(txt, "FENCED mutual_exclusion: "));
    free(txt);
    json_decref(rep);
    int rc;
    char *out = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(out, "FENCED mutual_exclusion: "));
    free(out);
}
END_TEST

/* Node 2 dies inside the CS; its last own record is at 1100, the supervisor
 * reaps it only at 5000 (stamp: its last heartbeat, 0 if unknown). Node 3
 * enters at 1300. */
static json_t *late_reap_run(struct run *r, int64_t stamp)
{
    run_new(r);
    ev(r, 2, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(r, 2, 1, 1000, TR_ENTER, 0, 0, 1, 0, 0);
    ev(r, 2, 1, 1100, TR_SEND, COORD, T_REQUEST, 9, 0, 0);
    ev(r, 3, 1, 1250, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(r, 3, 1, 1300, TR_ENTER, 0, 0, 2, 0, 0);
    ev(r, 3, 1, 1400, TR_EXIT, 0, 0, 2, 0, 1);
    sup_b(r, 5000, TR_CRASH, 2, 0, SIGKILL, 0, stamp);
    run_finish(r, run_json(3, 1));
    return build(r->dir);
}

START_TEST(test_dead_node_interval_ends_at_last_sign)
{
    struct run r;
    /* Last sign of life 1100 (its own record; no stamp): no overlap. */
    json_t *rep = late_reap_run(&r, 0);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    ck_assert_str_eq(verdict(rep, "mutual_exclusion"), "pass");
    ck_assert(getb(rep, "safe"));
    json_decref(rep);
    /* A heartbeat stamp before its last record changes nothing. */
    rep = late_reap_run(&r, 1050);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    json_decref(rep);
    /* Its heartbeat at 1350 says it was alive (and inside) when node 3
     * entered at 1300: an overlap of 50 us. */
    rep = late_reap_run(&r, 1350);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 1);
    ck_assert_double_eq_tol(getd(rep, "safety.overlap_ms"), 0.05, 1e-9);
    ck_assert_str_eq(verdict(rep, "mutual_exclusion"), "fail");
    ck_assert(!getb(rep, "safe"));
    json_decref(rep);
}
END_TEST

/* A token ring: node 1 holds generation 257 inside the CS and is paused
 * for 2 ms (failure timeout 1 ms); node 3 enters with 514 over it, then
 * node 4; node 1 resumes and its write is refused. */
static void paused_holder_run(struct run *r, bool ricart)
{
    run_new(r);
    int64_t g1 = ricart ? -1 : 257, g2 = ricart ? -1 : 514;
    int res2 = ricart ? 1 : 3; /* without generations: a violation */
    ev(r, 1, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    ev_gen(r, 1, 1, 1000, TR_ENTER, 0, 0, 1, 0, 0, g1);
    sup(r, 1050, TR_FAULT, 0, 1, 1 /* pause */, 1);
    sup(r, 1100, TR_PAUSE, 1, 0, SIGSTOP, 0);
    ev(r, 3, 1, 1500, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(r, 4, 1, 1600, TR_REQUEST, 0, 0, 0, 0, 0);
    ev_gen(r, 3, 1, 2000, TR_ENTER, 0, 0, 2, res2, 0, g2);
    ev_gen(r, 3, 1, 2100, TR_EXIT, 0, 0, 2, 0, 1, g2);
    ev_gen(r, 4, 1, 2200, TR_ENTER, 0, 0, 2, 0, 0, g2);
    ev_gen(r, 4, 1, 2300, TR_EXIT, 0, 0, 2, 0, 2, g2);
    sup(r, 3050, TR_FAULT, 0, 1, 2 /* resume */, 2);
    sup(r, 3100, TR_RESUME, 1, 0, SIGCONT, 0);
    ev_gen(r, 1, 1, 3150, TR_EXIT, 0, 0, 1, ricart ? 0 : 2, ricart ? 3 : 0, g1);
    json_t *rj = run_json(4, ricart ? 3 : 2);
    json_object_set_new(rj, "algorithm", json_string(ricart ? "ricart_agrawala" : "token_ring"));
    json_object_set_new(rj, "fencing", json_true());
    json_object_set_new(rj, "failure_timeout_ms", json_real(1.0));
    json_object_set_new(rj, "resource_violations", json_integer(ricart ? 1 : 0));
    run_finish(r, rj);
}

START_TEST(test_paused_holder_superseded)
{
    struct run r;
    paused_holder_run(&r, false);
    json_t *rep = build(r.dir);
    /* Node 1 believed it was inside from 1000 to 3150: with node 3 (2000 to
     * 2100) and node 4 (2200 to 2300). */
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 2);
    ck_assert_int_eq(geti(rep, "safety.overlaps_fenced"), 2);
    ck_assert_double_eq_tol(getd(rep, "safety.overlap_ms"), 0.2, 1e-9);
    ck_assert_str_eq(verdict(rep, "mutual_exclusion"), "fenced");
    ck_assert_ptr_null(strstr(detail(rep, "mutual_exclusion"), "no two nodes"));
    ck_assert(getb(rep, "safe"));
    ck_assert(getb(rep, "rests_on_fencing"));
    /* The pause note says what happened in this run. */
    ck_assert(any_note_has(rep, "safety rested on fencing"));
    ck_assert(!any_note_has(rep, "with no fault before it"));
    /* Nobody recorded node 1 down in this trace: the note may not say
     * that the others went on without it. */
    ck_assert(any_note_has(rep, "yet no other node declared the paused node down"));
    json_decref(rep);
}
END_TEST

START_TEST(test_ricart_pause_note_fits)
{
    /* The same schedule under Ricart-Agrawala (no generations) with
     * fencing on: unsafe, and no note may say fencing saved it. */
    struct run r;
    paused_holder_run(&r, true);
    json_t *rep = build(r.dir);
    ck_assert(!any_note_has(rep, "rests on fencing"));
    ck_assert(!any_note_has(rep, "rested on fencing"));
    ck_assert(any_note_has(rep, "carry no generation"));
    ck_assert(!getb(rep, "safe"));
    ck_assert(!getb(rep, "rests_on_fencing"));
    ck_assert_str_eq(verdict(rep, "mutual_exclusion"), "fail");
    ck_assert_ptr_nonnull(strstr(detail(rep, "resource"), "carry no generation"));
    json_decref(rep);
}
END_TEST

/* Ricart-Agrawala's (timestamp, id) order across a restart. Node 2 asks
 * with timestamp 10 and holds node 3's reply; node 3 then crashes and
 * starts again with its clock back at 0, and asks with timestamp 1 before
 * node 2 enters. Node 3's new life says nothing about node 2's request, so
 * node 2's entry is in order. The same low timestamp from a node that did
 * not restart is out of order. */
static void ricart_restart_run(struct run *r, bool restarted)
{
    run_new(r);
    const int req = MSG_RANGE_RICART + 1;
    ev(r, 2, 1, 100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(r, 2, 1, 110, TR_SEND, 3, req, 10, 0, 0);
    int inc3 = restarted ? 2 : 1;
    if (restarted) {
        ev(r, 3, 1, 50, TR_START, 0, 0, 0, 555, 0);
        sup(r, 300, TR_CRASH, 3, 0, SIGKILL, 0);
        sup(r, 400, TR_RESTART, 3, 0, 0, 2);
        ev(r, 3, 2, 500, TR_START, 0, 0, 0, 556, 0);
    }
    ev(r, 3, inc3, 600, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(r, 3, inc3, 610, TR_SEND, 2, req, 1, 0, 0);
    ev(r, 2, 1, 700, TR_ENTER, 0, 0, 10, 0, 0);
    ev(r, 2, 1, 800, TR_EXIT, 0, 0, 10, 0, 1);
    ev(r, 3, inc3, 900, TR_ENTER, 0, 0, 1, 0, 0);
    ev(r, 3, inc3, 1000, TR_EXIT, 0, 0, 1, 0, 2);
    json_t *rj = run_json(3, 2);
    json_object_set_new(rj, "algorithm", json_string("ricart_agrawala"));
    json_object_set_new(rj, "resource_entries", json_integer(2));
    run_finish(r, rj);
}

START_TEST(test_ricart_order_across_restart)
{
    struct run r;
    ricart_restart_run(&r, true);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(verdict(rep, "grant_order"), "pass");
    json_decref(rep);
    ricart_restart_run(&r, false);
    rep = build(r.dir);
    ck_assert_str_eq(verdict(rep, "grant_order"), "fail");
    json_decref(rep);
}
END_TEST

START_TEST(test_liveness_needs_counted_entries)
{
    /* Fault-free; node 3's only entry is refused by fencing (after node 2
     * left, so no overlap) and nothing is pending at the end. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    ev_gen(&r, 2, 1, 1000, TR_ENTER, 0, 0, 5, 0, 0, 5);
    ev_gen(&r, 2, 1, 1100, TR_EXIT, 0, 0, 5, 0, 1, 5);
    ev(&r, 3, 1, 1150, TR_REQUEST, 0, 0, 0, 0, 0);
    ev_gen(&r, 3, 1, 1200, TR_ENTER, 0, 0, 4, 2, 0, 4);
    ev_gen(&r, 3, 1, 1300, TR_EXIT, 0, 0, 4, 0, 0, 4);
    json_t *rj = run_json(3, 1);
    json_object_set_new(rj, "fencing", json_true());
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "safety.requests_pending_at_end"), 0);
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    ck_assert(getb(rep, "safe"));
    ck_assert_str_eq(verdict(rep, "liveness"), "fail");
    ck_assert_ptr_nonnull(strstr(detail(rep, "liveness"), "1 entry refused by fencing"));
    json_decref(rep);
}
END_TEST

START_TEST(test_simulated_deadlock_not_live)
{
    /* A replayed simulator run that ended with nothing left to happen:
     * its run.json says "duration", the simulator said deadlock. */
    struct run r;
    pending_run(&r, "duration", false);
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", r.dir);
    json_t *rj = json_load_file(path, 0, NULL);
    json_object_set_new(rj, "simulated", json_true());
    json_array_append_new(json_object_get(rj, "faults"),
                          json_pack("{s:f, s:f, s:s, s:s, s:n, s:i}", "at_ms", 1.95, "t_ms",
                                    1.95, "action", "partition", "target", "1,2/3", "node",
                                    "number", 1));
    json_object_set_new(rj, "simulator_violation",
                        json_string("t=300.000ms seed=1: nothing left to happen with 1 requests "
                                    "pending at live nodes (deadlock)"));
    ck_assert_int_eq(json_dump_file(rj, path, 0), 0);
    json_decref(rj);
    /* The partition that caused it, at 1950 us. */
    char err[DL_ERRLEN];
    struct trace_writer w;
    ck_assert(trace_open(&w, r.dir, 0, 2, 0, err) == 0);
    struct trace_rec fr = {.t_us = 1950, .node = 0, .ev = TR_FAULT, .aux = 5 /* partition */,
                           .a = 1};
    trace_emit(&w, &fr);
    trace_close(&w);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "stop_reason")), "deadlock");
    /* Node 3 waits from 1900; node 2 leaves at 2000; nobody gets in again
     * until the simulated run ends at 2 s. */
    const json_t *f = json_array_get(get(rep, "faults"), 0);
    ck_assert_double_eq_tol(getd(f, "at_ms"), 1.95, 1e-9);
    ck_assert_double_eq_tol(getd(f, "stall_ms"), 1998.0, 1e-9);
    ck_assert_msg(strstr(json_string_value(get(f, "outcome")),
                         "nobody inside from 2.000 ms until the run ended at 2000.000 ms"),
                  "%s", json_string_value(get(f, "outcome")));
    ck_assert_str_eq(verdict(rep, "liveness"), "fail");
    ck_assert_ptr_nonnull(strstr(detail(rep, "liveness"), "(deadlock)"));
    char *txt = text_of(rep);
    ck_assert_ptr_nonnull(strstr(txt, "stopped: deadlock"));
    ck_assert_ptr_null(strstr(txt, "PASS liveness"));
    free(txt);
    json_decref(rep);
}
END_TEST

/* ---- fairness beyond Jain ---- */

START_TEST(test_waits_and_overtakes)
{
    /* Requests: node 2 at 100, node 3 at 200, node 4 at 300; granted in the
     * reverse order: 4 at 400 (overtakes 2 and 3), 3 at 600 (overtakes 2),
     * 2 at 800. Each node did one CS: Jain says 1.000 all the same. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 200, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 4, 1, 300, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 4, 1, 400, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 4, 1, 500, TR_EXIT, 0, 0, 1, 0, 1);
    ev(&r, 3, 1, 600, TR_ENTER, 0, 0, 2, 0, 0);
    ev(&r, 3, 1, 700, TR_EXIT, 0, 0, 2, 0, 2);
    ev(&r, 2, 1, 800, TR_ENTER, 0, 0, 3, 0, 0);
    ev(&r, 2, 1, 900, TR_EXIT, 0, 0, 3, 0, 3);
    run_finish(&r, run_json(4, 3));
    json_t *rep = build(r.dir);
    ck_assert_double_eq_tol(getd(rep, "fairness_jain"), 1.0, 1e-12);
    ck_assert_int_eq(geti(rep, "overtakes"), 3);
    ck_assert_int_eq(geti(rep, "overtakes_max_per_request"), 2);
    ck_assert_int_eq(geti(node_of(rep, 2), "overtaken"), 2);
    ck_assert_int_eq(geti(node_of(rep, 3), "overtaken"), 1);
    ck_assert_int_eq(geti(node_of(rep, 4), "overtaken"), 0);
    ck_assert_double_eq_tol(getd(node_of(rep, 2), "wait_ms.mean"), 0.7, 1e-9);
    ck_assert_double_eq_tol(getd(node_of(rep, 4), "wait_ms.max"), 0.1, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "waiting_ms.mean"), 0.4, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "waiting_ms.max"), 0.7, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "waiting_ms.node_mean_min"), 0.1, 1e-9);
    ck_assert_double_eq_tol(getd(rep, "waiting_ms.node_mean_max"), 0.7, 1e-9);
    ck_assert_int_eq(geti(rep, "waiting_ms.longest.node"), 2);
    ck_assert_double_eq_tol(getd(rep, "waiting_ms.longest.requested_at_ms"), 0.1, 1e-9);
    ck_assert(getb(rep, "waiting_ms.longest.granted"));
    char *txt = text_of(rep);
    ck_assert_ptr_nonnull(
        strstr(txt, "longest wait       0.700 ms: node 2, requested at 0.100 ms"));
    ck_assert_ptr_nonnull(strstr(txt, "overtakes          3 "));
    free(txt);
    json_decref(rep);
}
END_TEST

/* ---- one clock, and what each fault did ---- */

static const json_t *fault_at(const json_t *rep, size_t i)
{
    const json_t *f = json_array_get(json_object_get(rep, "faults"), i);
    ck_assert_msg(f != NULL, "no faults[%zu]", i);
    return f;
}

/* A run whose workload started at 30 ms: fault 1 (pause node 2, `at` 500
 * ms) fired at 530.31 ms on the trace's clock; fault 2 (resume, `at` 9 s)
 * never fired. */
static void clock_run(struct run *r, bool with_start)
{
    run_new(r);
    cs_cycle(r, 2, 100000, 100100, 100200, 1, 1);
    sup(r, 530310, TR_FAULT, 0, 2, 1 /* pause */, 1);
    sup(r, 530400, TR_PAUSE, 2, 0, SIGSTOP, 0);
    json_t *rj = run_json(3, 1);
    json_t *faults = json_object_get(rj, "faults");
    json_array_append_new(faults, json_pack("{s:f, s:f, s:s, s:s, s:i, s:i}", "at_ms", 500.0,
                                            "t_ms", 500.31, "action", "pause", "target", "2",
                                            "node", 2, "number", 1));
    json_array_append_new(faults,
                          json_pack("{s:f, s:n, s:s, s:s, s:n, s:i, s:s}", "at_ms", 9000.0,
                                    "t_ms", "action", "resume", "target", "token_holder",
                                    "node", "number", 2, "skipped",
                                    "the run ended before it was due"));
    if (with_start) {
        json_object_set_new(rj, "workload_start_us", json_integer(30000));
        json_object_set_new(rj, "stop_us", json_integer(2030000));
    }
    run_finish(r, rj);
}

START_TEST(test_one_clock)
{
    for (int with_start = 1; with_start >= 0; with_start--) {
        struct run r;
        clock_run(&r, with_start);
        json_t *rep = build(r.dir);
        ck_assert_ptr_nonnull(strstr(json_string_value(get(rep, "time_base")),
                                     "since the run started"));
        ck_assert_double_eq_tol(getd(rep, "workload_start_ms"), 30.0, 1e-9);
        ck_assert_int_eq(json_array_size(get(rep, "faults")), 2);
        const json_t *f = fault_at(rep, 0);
        ck_assert_double_eq_tol(getd(f, "at_ms"), 530.31, 1e-9);
        ck_assert_double_eq_tol(getd(f, "scheduled_ms"), 500.0, 1e-9);
        ck_assert_str_eq(json_string_value(get(f, "source")), "schedule");
        ck_assert_int_eq(geti(f, "node"), 2);
        /* The unfired one, at its due time on the same clock, and a warning. */
        f = fault_at(rep, 1);
        ck_assert_double_eq_tol(getd(f, "at_ms"), 9030.0, 1e-9);
        ck_assert_str_eq(json_string_value(get(f, "skipped")), "the run ended before it was due");
        const json_t *w = get(rep, "warnings");
        ck_assert_int_eq(json_array_size(w), 1);
        ck_assert_str_eq(json_string_value(json_array_get(w, 0)),
                         "fault 2 (resume token_holder at 9030.000 ms) did not act: the run "
                         "ended before it was due");
        char *txt = text_of(rep);
        ck_assert_ptr_nonnull(strstr(txt, "warning: fault 2 (resume token_holder"));
        ck_assert_ptr_nonnull(strstr(txt, "at 530.310 ms: pause node 2, fault 1 scheduled 500 ms"));
        free(txt);
        json_decref(rep);
    }
}
END_TEST

START_TEST(test_fault_sources_and_election)
{
    /* Centralized: node 1 coordinates (term 0). It is killed from outside
     * at 1000 (no fault record); node 2 waits from 900; node 3 is elected
     * (term 1) at 1500; node 2 enters at 1600. Then `distlab restart 2`
     * (a fault record without a number) crashes and restarts node 2. */
    struct run r;
    run_new(&r);
    ev(&r, 1, 1, 50, TR_ROLE, 0, 0, 0, ROLE_COORDINATOR, 0);
    ev(&r, 2, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    sup(&r, 1000, TR_CRASH, 1, 0, SIGKILL, 0);
    ev(&r, 3, 1, 1500, TR_ROLE, 0, 0, 1, ROLE_COORDINATOR, 0);
    ev(&r, 2, 1, 1600, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 2, 1, 1700, TR_EXIT, 0, 0, 1, 0, 1);
    sup(&r, 2000, TR_FAULT, 0, 2, 4 /* restart */, 0);
    sup(&r, 2001, TR_CRASH, 2, 0, SIGKILL, 0);
    sup(&r, 2002, TR_RESTART, 2, 0, 0, 2);
    run_finish(&r, run_json(3, 1));
    json_t *rep = build(r.dir);
    ck_assert_int_eq(json_array_size(get(rep, "faults")), 2);
    const json_t *f = fault_at(rep, 0);
    ck_assert_str_eq(json_string_value(get(f, "source")), "external");
    ck_assert_str_eq(json_string_value(get(f, "action")), "kill");
    ck_assert_int_eq(geti(f, "node"), 1);
    ck_assert_double_eq_tol(getd(f, "at_ms"), 1.0, 1e-9);
    ck_assert_int_eq(geti(f, "elected.node"), 3);
    ck_assert_int_eq(geti(f, "elected.term"), 1);
    ck_assert_double_eq_tol(getd(f, "stall_ms"), 0.6, 1e-9);
    const char *out = json_string_value(get(f, "outcome"));
    ck_assert_msg(strstr(out, "node 3 became coordinator (term 1) at 1.500 ms, 0.500 ms later"),
                  "%s", out);
    ck_assert_msg(strstr(out, "nobody inside for up to 0.600 ms (from 1.000 ms)"), "%s", out);
    f = fault_at(rep, 1);
    ck_assert_str_eq(json_string_value(get(f, "source")), "command");
    ck_assert_str_eq(json_string_value(get(f, "action")), "restart");
    ck_assert_ptr_nonnull(strstr(json_string_value(get(f, "outcome")), "restarted at 2.002 ms"));
    json_decref(rep);
}
END_TEST

enum { RING_TOKEN_T = MSG_RANGE_TOKEN_RING + 1 };

START_TEST(test_fault_regeneration)
{
    /* A token ring: node 2 holds generation 257 and is killed by fault 1 at
     * 1000; node 4 regenerates 514 at 1800 and passes it; node 3, waiting
     * since 900, enters at 2000. */
    struct run r;
    run_new(&r);
    ev(&r, 1, 1, 100, TR_SEND, 2, RING_TOKEN_T, 257, 0, 0);
    ev(&r, 2, 1, 200, TR_RECV, 1, RING_TOKEN_T, 257, 0, 100);
    ev(&r, 3, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    sup(&r, 1000, TR_FAULT, 0, 2, 0 /* kill */, 1);
    sup(&r, 1010, TR_CRASH, 2, 0, SIGKILL, 0);
    ev(&r, 4, 1, 1800, TR_SEND, 3, RING_TOKEN_T, 514, 0, 0);
    ev(&r, 3, 1, 1900, TR_RECV, 4, RING_TOKEN_T, 514, 0, 1800);
    ev_gen(&r, 3, 1, 2000, TR_ENTER, 0, 0, 514, 0, 0, 514);
    ev_gen(&r, 3, 1, 2100, TR_EXIT, 0, 0, 514, 0, 1, 514);
    json_t *rj = run_json(4, 1);
    json_object_set_new(rj, "algorithm", json_string("token_ring"));
    json_array_append_new(json_object_get(rj, "faults"),
                          json_pack("{s:f, s:f, s:s, s:s, s:i, s:i}", "at_ms", 1.0, "t_ms", 1.0,
                                    "action", "kill", "target", "token_holder", "node", 2,
                                    "number", 1));
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    ck_assert_int_eq(json_array_size(get(rep, "faults")), 1); /* the crash is fault 1's */
    const json_t *f = fault_at(rep, 0);
    ck_assert_str_eq(json_string_value(get(f, "source")), "schedule");
    ck_assert_int_eq(geti(f, "regenerated.node"), 4);
    ck_assert_int_eq(geti(f, "regenerated.gen"), 514);
    ck_assert_double_eq_tol(getd(f, "stall_ms"), 1.0, 1e-9);
    const char *out = json_string_value(get(f, "outcome"));
    ck_assert_msg(strstr(out, "node 2 was not in the critical section; node 4 regenerated the "
                              "token: generation 514, first seen in its token at 1.800 ms, "
                              "0.800 ms later"),
                  "%s", out);
    json_decref(rep);
}
END_TEST

/* ---- a real run ---- */

/* A token ring whose holder is paused longer than the token timeout: the
 * report's fault times are the trace's, the pause's outcome names the
 * regeneration the trace shows, and mutual exclusion is FENCED exactly
 * when the trace shows an entry over a stale holder. */
/* [trace] record through a real run: the launcher hands it to the nodes,
 * whose runtime leaves the other classes out; a run that leaves out what a
 * safety property needs exits 2 (cannot verify). */
START_TEST(test_real_record)
{
    static const char text[] = "[cluster]\nname = report-record\nnodes = 3\n"
                               "algorithm = centralized\nduration = 10s\nseed = 3\n\n"
                               "[workload]\nrequests = 30\ncs_time = 1ms\nthink_time = 1ms\n";
    char *dir = h_tmpdir();
    char *ini = h_write_ini(dir, "record.ini", text);
    char rundir[PATH_MAX];
    snprintf(rundir, sizeof rundir, "%s/cs", dir);
    struct h_proc p;
    int rc = h_run(&p, dir, "cs", 60.0, "run", ini, "--out", rundir, "--quiet", "--set",
                   "trace.record=cs", NULL);
    ck_assert_msg(rc == 0, "distlab run exited %d: %s", rc, h_err(&p));
    json_t *tr = h_trace(dir, rundir);
    ck_assert_int_eq(h_trace_count(tr, "send", -1, -1), 0);
    ck_assert_int_eq(h_trace_count(tr, "recv", -1, -1), 0);
    ck_assert_int_eq(h_trace_count(tr, "enter", -1, -1), 60); /* nodes 2 and 3, 30 each */
    ck_assert_int_gt(h_trace_count(tr, "start", -1, -1), 0);
    json_decref(tr);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_str_eq(h_jstr(rep, "verdict"), "safe");
    ck_assert_str_eq(h_jstr(rep, "trace_record"), "cs");
    ck_assert(json_is_null(h_jget(rep, "messages_per_cs")));
    ck_assert_int_eq(h_jint(rep, "cs_entries"), 60);
    ck_assert_double_eq_tol(h_jnum(rep, "trace_bytes_per_op"),
                            (double)h_jint(rep, "trace_bytes") / 60.0, 1e-9);
    json_decref(rep);
    rc = h_run(&p, dir, "check", 60.0, "check", rundir, NULL);
    ck_assert_int_eq(rc, 0);
    char *out = h_out(&p);
    ck_assert_msg(strstr(out, "  messages_per_cs not computed: [trace] record omits messages\n"),
                  "%s", out);
    free(out);

    snprintf(rundir, sizeof rundir, "%s/messages", dir);
    rc = h_run(&p, dir, "messages", 60.0, "run", ini, "--out", rundir, "--quiet", "--set",
               "trace.record=messages", NULL);
    ck_assert_msg(rc == 2, "distlab run exited %d: %s", rc, h_err(&p));
    tr = h_trace(dir, rundir);
    ck_assert_int_eq(h_trace_count(tr, "enter", -1, -1), 0);
    ck_assert_int_gt(h_trace_count(tr, "send", -1, -1), 0);
    json_decref(tr);
    rc = h_run(&p, dir, "check2", 60.0, "check", rundir, NULL);
    ck_assert_int_eq(rc, 2);
    out = h_out(&p);
    ck_assert_msg(strstr(out, "mutual_exclusion not checked: [trace] record omits cs (recorded: "
                              "messages)"),
                  "%s", out);
    free(out);
    h_rmtree(dir);
    free(ini);
    free(dir);
}
END_TEST

START_TEST(test_real_pause)
{
    static const char text[] = "[cluster]\nname = report-pause\nnodes = 4\n"
                               "algorithm = token_ring\nduration = 1500ms\nseed = 11\n"
                               "failure_timeout = 100ms\n\n[workload]\nrequests = 100000\n"
                               "cs_time = 20ms\nthink_time = 1ms\n\n[token_ring]\n"
                               "token_timeout = 200ms\n\n[resource]\nfencing = true\n\n"
                               "[fault.1]\nat = 300ms\naction = pause\ntarget = token_holder\n\n"
                               "[fault.2]\nat = 900ms\naction = resume\ntarget = token_holder\n";
    char *dir = h_tmpdir();
    char *ini = h_write_ini(dir, "pause.ini", text);
    char rundir[PATH_MAX];
    snprintf(rundir, sizeof rundir, "%s/run", dir);
    struct h_proc p;
    int rc = h_run(&p, dir, "run", 60.0, "run", ini, "--out", rundir, "--quiet", NULL);
    ck_assert_msg(rc == 0, "distlab run exited %d: %s", rc, h_err(&p));
    json_t *tr = h_trace(dir, rundir);
    json_t *rep = h_json_in(rundir, "report.json");
    /* One clock: the report's fault times are the trace's fault records. */
    json_t *faults = h_jget(rep, "faults");
    ck_assert_int_eq(json_array_size(faults), 2);
    size_t i, nf = 0;
    json_t *o;
    bool superseded = false;
    long long max_gen = 0;
    json_array_foreach(tr, i, o)
    {
        if (h_event_is(o, "fault", -1)) {
            ck_assert_uint_lt(nf, 2);
            json_t *f = json_array_get(faults, nf++);
            ck_assert_double_eq_tol(h_jnum(f, "at_ms") * 1000.0, (double)h_jint(o, "t_us"),
                                    1e-6);
            ck_assert_str_eq(h_jstr(f, "source"), "schedule");
        }
        if (h_event_is(o, "enter", -1)) {
            superseded = superseded || strcmp(h_jstr(o, "resource"), "superseded") == 0;
            if (h_jint(o, "gen") > max_gen)
                max_gen = h_jint(o, "gen");
        }
    }
    ck_assert_int_eq(nf, 2);
    /* The pause outlasted the token timeout: when the paused node held the
     * token (the trace's entries show a generation above the first, 257),
     * the first fault's outcome names that regeneration; when the pause
     * caught the token in flight (the role in the table lags by a hop), no
     * regeneration happened and the outcome must not claim one. */
    json_t *f1 = json_array_get(faults, 0);
    const char *out1 = h_jstr(f1, "outcome");
    if (max_gen > 257) {
        ck_assert_msg(strstr(out1, "regenerated the token"), "%s", out1);
        ck_assert_int_le(h_jint(f1, "regenerated.gen"), max_gen);
        ck_assert_int_gt(h_jint(f1, "regenerated.gen"), 257);
    } else {
        ck_assert_msg(!strstr(out1, "regenerated the token"), "%s", out1);
    }
    json_t *me = NULL;
    json_array_foreach(h_jget(rep, "properties"), i, o)
    {
        if (strcmp(h_jstr(o, "name"), "mutual_exclusion") == 0)
            me = o;
    }
    ck_assert_ptr_nonnull(me);
    ck_assert_str_eq(h_jstr(me, "verdict"), superseded ? "fenced" : "pass");
    ck_assert(h_jbool(rep, "safe"));
    ck_assert(h_jbool(rep, "rests_on_fencing") == superseded);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/report.txt", rundir);
    char *txt = h_slurp(path);
    ck_assert_ptr_nonnull(txt);
    ck_assert_ptr_nonnull(strstr(txt, "times: ms since the run started"));
    free(txt);
    json_decref(rep);
    json_decref(tr);
    h_rmtree(dir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- trace export ---- */

static char *trace_text(const char *dir)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(report_trace_json(dir, f), 0);
    fclose(f);
    return buf;
}

START_TEST(test_trace_json_lines)
{
    struct run r;
    basic_run(&r, 4);
    /* A few more kinds, out of file order. */
    struct run *rp = &r;
    char err[DL_ERRLEN];
    struct trace_writer w;
    ck_assert(trace_open(&w, rp->dir, 0, 2, 0, err) == 0);
    struct trace_rec recs[] = {
        {.t_us = 50, .node = 0, .ev = TR_FAULT, .peer = 2, .aux = 0, .a = 1},
        {.t_us = 60, .node = 2, .ev = TR_CRASH, .aux = 0, .a = 3},
        {.t_us = 70, .node = 3, .ev = TR_DROP, .peer = 1, .type = T_GRANT, .aux = 0},
        {.t_us = 80, .node = 3, .ev = TR_DROP, .aux = WIRE_ERR_MAGIC},
        {.t_us = 90, .node = 1, .ev = TR_ROLE, .aux = ROLE_COORDINATOR, .key = 0},
        {.t_us = 95, .node = 3, .ev = TR_SEND, .peer = 1, .type = 0x01ff},
    };
    for (size_t i = 0; i < sizeof recs / sizeof *recs; i++)
        trace_emit(&w, &recs[i]);
    trace_close(&w);

    char *text = trace_text(r.dir);
    int64_t last = -1;
    int lines = 0, sends = 0, recvs = 0, seen = 0;
    for (char *save, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        ck_assert_msg(o != NULL, "line %d is not JSON: %s (%s)", lines + 1, line, jerr.text);
        lines++;
        ck_assert(json_is_integer(json_object_get(o, "t_us")));
        ck_assert(json_is_integer(json_object_get(o, "node")));
        ck_assert(json_is_integer(json_object_get(o, "incarnation")));
        int64_t t = json_integer_value(json_object_get(o, "t_us"));
        ck_assert_int_ge(t, last);
        last = t;
        const char *evname = json_string_value(json_object_get(o, "ev"));
        ck_assert_ptr_nonnull(evname);
        const char *type = json_string_value(json_object_get(o, "type"));
        if (strcmp(evname, "send") == 0) {
            sends++;
            ck_assert(json_is_integer(json_object_get(o, "to")));
            ck_assert_ptr_nonnull(type);
            ck_assert(json_is_integer(json_object_get(o, "seq")));
            if (t == 1001) {
                ck_assert_str_eq(type, "request");
                ck_assert_int_eq(json_integer_value(json_object_get(o, "to")), 1);
                seen |= 1;
            }
            if (t == 4100) {
                ck_assert_str_eq(type, "done");
                seen |= 2;
            }
            if (t == 95) {
                ck_assert_str_eq(type, "0x01ff");
                seen |= 4;
            }
        } else if (strcmp(evname, "recv") == 0) {
            recvs++;
            ck_assert(json_is_integer(json_object_get(o, "from")));
            ck_assert_ptr_nonnull(type);
            ck_assert(json_is_integer(json_object_get(o, "seq")));
            ck_assert(json_is_integer(json_object_get(o, "sent_us")));
            if (t == 1099) {
                ck_assert_str_eq(type, "grant");
                ck_assert_int_eq(json_integer_value(json_object_get(o, "sent_us")), 1098);
                seen |= 8;
            }
        } else if (strcmp(evname, "enter") == 0) {
            ck_assert(json_is_integer(json_object_get(o, "seq")));
            ck_assert_str_eq(json_string_value(json_object_get(o, "resource")), "ok");
        } else if (strcmp(evname, "exit") == 0) {
            ck_assert(json_is_integer(json_object_get(o, "counter")));
        } else if (strcmp(evname, "fault") == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(o, "action")), "kill");
            ck_assert_int_eq(json_integer_value(json_object_get(o, "target")), 2);
            ck_assert_int_eq(json_integer_value(json_object_get(o, "fault")), 1);
            seen |= 16;
        } else if (strcmp(evname, "crash") == 0) {
            ck_assert(json_is_null(json_object_get(o, "signal")));
            ck_assert_int_eq(json_integer_value(json_object_get(o, "exit_code")), 3);
            seen |= 32;
        } else if (strcmp(evname, "drop") == 0) {
            const char *reason = json_string_value(json_object_get(o, "reason"));
            ck_assert_str_eq(reason, t == 70 ? "network" : "magic");
            /* A malformed message's sender is unknown: null, not node 0. */
            if (t == 70)
                ck_assert_int_eq(json_integer_value(json_object_get(o, "from")), 1);
            else
                ck_assert(json_is_null(json_object_get(o, "from")));
            seen |= 64;
        } else if (strcmp(evname, "role") == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(o, "role")), "coordinator");
            ck_assert(json_is_integer(json_object_get(o, "term")));
            seen |= 128;
        } else if (strcmp(evname, "start") == 0) {
            ck_assert_int_eq(json_integer_value(json_object_get(o, "pid")), 4242);
        }
        json_decref(o);
    }
    /* 4 CS x 9 records, 3 runtime records, the start, the 6 above, and the
     * stops of nodes 1-3 and the supervisor. */
    ck_assert_int_eq(lines, 4 * 9 + 3 + 1 + 6 + 4);
    ck_assert_int_eq(sends, 12 + 2 + 1);
    ck_assert_int_eq(recvs, 12 + 1);
    ck_assert_int_eq(seen, 255);
    free(text);
}
END_TEST

START_TEST(test_trace_json_without_run_json)
{
    /* A run whose supervisor was killed has no run.json: config.ini names
     * the algorithm. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 100, TR_SEND, 1, T_REQUEST, 7, 0, 0);
    for (int k = 0; k <= MAXN; k++)
        if (r.open[k][1])
            trace_close(&r.w[k][1]);
    char path[256];
    snprintf(path, sizeof path, "%s/config.ini", r.dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[cluster]\nname = x\nalgorithm = centralized\n", f);
    fclose(f);
    char *text = trace_text(r.dir);
    json_t *o = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "request");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "seq")), 7);
    json_decref(o);
    free(text);
}
END_TEST

/* ---- output files and text ---- */

START_TEST(test_report_write)
{
    struct run r;
    basic_run(&r, 4);
    char err[DL_ERRLEN];
    json_t *rep = NULL;
    ck_assert_msg(report_write(r.dir, &rep, err) == 0, "%s", err);
    ck_assert_ptr_nonnull(rep);
    char path[256];
    snprintf(path, sizeof path, "%s/report.json", r.dir);
    json_t *back = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(geti(back, "cs_entries"), 4);
    ck_assert_double_eq_tol(getd(back, "response_ms.p50"), 0.2, 1e-12);
    ck_assert(getb(back, "safe"));
    ck_assert(json_equal(json_object_get(back, "per_node"), json_object_get(rep, "per_node")));
    json_decref(back);
    json_decref(rep);
    snprintf(path, sizeof path, "%s/report.txt", r.dir);
    char *txt;
    size_t len;
    ck_assert_int_eq(dl_read_file(path, &txt, &len, err), 0);
    ck_assert_ptr_nonnull(strstr(txt, "unit: centralized, 3 nodes"));
    ck_assert_ptr_nonnull(strstr(txt, "\nSAFE\n"));
    ck_assert_ptr_nonnull(strstr(txt, "PASS mutual_exclusion: "));
    free(txt);
    snprintf(path, sizeof path, "%s/report.json.tmp", r.dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    /* Without an out pointer it just writes. */
    ck_assert_int_eq(report_write(r.dir, NULL, err), 0);
}
END_TEST

START_TEST(test_text_summary)
{
    struct run r;
    basic_run(&r, 3);
    json_t *rep = build(r.dir);
    json_array_append_new(json_object_get(rep, "faults"),
                          json_pack("{s:f, s:s, s:s, s:i}", "at_ms", 2000.0, "action", "kill",
                                    "target", "coordinator", "node", 1));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_print_text(rep, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "UNSAFE (1 violation)"));
    ck_assert_ptr_nonnull(strstr(buf, "3.00 per CS (theory 3.00)"));
    ck_assert_ptr_nonnull(strstr(buf, "p50 0.200"));
    ck_assert_ptr_nonnull(strstr(buf, "final 3, expected 4"));
    ck_assert_ptr_nonnull(strstr(buf, "50.0%"));
    ck_assert_ptr_nonnull(strstr(buf, "at 2000.000 ms: kill coordinator (node 1)"));
    ck_assert_ptr_nonnull(strstr(buf, "FAIL counter: "));
    free(buf);
    json_decref(rep);
}
END_TEST

/* ---- bad input ---- */

START_TEST(test_missing_run_dir)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/no-such-run", base);
    int rc;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    char *err = capture_stderr(report_check, dir, f, &rc);
    fclose(f);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strncmp(err, "distlab check: ", 15) == 0, "stderr: %s", err);
    ck_assert_ptr_nonnull(strstr(err, "run.json"));
    ck_assert_int_eq(len, 0);
    free(err);
    free(out);
    f = open_memstream(&out, &len);
    err = capture_stderr(report_trace_json, dir, f, &rc);
    fclose(f);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strncmp(err, "distlab trace: ", 15) == 0, "stderr: %s", err);
    free(err);
    free(out);
}
END_TEST

START_TEST(test_bad_run_json)
{
    struct run r;
    run_new(&r);
    char path[256], err[DL_ERRLEN];
    snprintf(path, sizeof path, "%s/run.json", r.dir);
    FILE *f = fopen(path, "w");
    fputs("{\"algorithm\": \"centralized\", \"nodes\": ", f);
    fclose(f);
    json_t *rep = NULL;
    ck_assert_int_lt(report_build(r.dir, &rep, err), 0);
    ck_assert_ptr_null(rep);
    ck_assert_ptr_nonnull(strstr(err, "run.json"));
    /* Valid JSON, but no node count. */
    f = fopen(path, "w");
    fputs("{\"algorithm\": \"centralized\"}", f);
    fclose(f);
    ck_assert_int_lt(report_build(r.dir, &rep, err), 0);
    ck_assert_ptr_nonnull(strstr(err, "nodes"));
}
END_TEST

START_TEST(test_missing_trace_dir)
{
    struct run r;
    run_new(&r);
    r.no_trace = true;
    run_finish(&r, run_json(3, 0)); /* no trace file was ever opened */
    char err[DL_ERRLEN];
    json_t *rep = NULL;
    ck_assert_int_lt(report_build(r.dir, &rep, err), 0);
    ck_assert_ptr_nonnull(strstr(err, "/trace"));
    int rc;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    char *text = capture_stderr(report_check, r.dir, f, &rc);
    fclose(f);
    ck_assert_int_eq(rc, 2);
    ck_assert_ptr_nonnull(strstr(text, "/trace"));
    free(text);
    free(out);
}
END_TEST

/* ---- evidence: verdicts only on complete evidence ---- */

/* A filler record that no metric counts (a runtime message received). */
static struct trace_rec filler(int node, int64_t t)
{
    return (struct trace_rec){.t_us = t, .node = (uint16_t)node, .ev = TR_RECV, .type = 1};
}

/* Write node's trace (incarnation 1) in a child whose file cannot grow past
 * its first allocation (a file-size limit of TRACE_INITIAL bytes, as a full
 * disk would): nfill fillers, then recs. The file holds TRACE_INITIAL/64 - 1
 * records and then the writer's cut record. The child dies without closing,
 * as a killed node would. */
static void cut_trace(struct run *r, int node, int nfill, const struct trace_rec *recs,
                      int nrecs)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {TRACE_INITIAL, TRACE_INITIAL};
        char err[DL_ERRLEN];
        struct trace_writer w;
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0 || trace_open(&w, r->dir, node, 1, 0, err) < 0)
            _exit(1);
        for (int i = 0; i < nfill; i++) {
            struct trace_rec f = filler(node, 10 + i);
            trace_emit(&w, &f);
        }
        for (int i = 0; i < nrecs; i++) {
            struct trace_rec x = recs[i];
            trace_emit(&w, &x);
        }
        _exit(w.full ? 0 : 3);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer child status %#x", st);
    /* The file ends with its cut record: nothing more is written to it. */
    if (node == 0)
        r->sup_done = true;
    else
        r->ended[node][1] = true;
}

#define CUT_SLOTS ((int)(TRACE_INITIAL / sizeof(struct trace_rec)) - 1)

/* Nodes 2 and 3 each do two CS (counter_final 4, the truth), but node 3's
 * trace is cut by its full disk after its second entry: its exit at 5000
 * and everything after is lost. With overlap, node 2 enters at 4400,
 * inside node 3's second section (before the cut): a real violation. */
static void cut_run(struct run *r, bool overlap)
{
    run_new(r);
    sup(r, 10, TR_START, 0, 0, 4242, 0);
    cs_cycle(r, 2, 1000, 1100, 2000, 1, 1);
    if (overlap) {
        ev(r, 2, 1, 3500, TR_REQUEST, 0, 0, 0, 0, 0);
        ev(r, 2, 1, 4400, TR_ENTER, 0, 0, 2, 0, 0);
        ev(r, 2, 1, 4600, TR_EXIT, 0, 0, 2, 0, 3);
    } else {
        cs_cycle(r, 2, 5500, 5700, 6000, 2, 4);
    }
    /* Node 3: its records (the coordinator's side is in node 1's file). */
    struct trace_rec n3[] = {
        {.t_us = 1500, .node = 3, .ev = TR_REQUEST},
        {.t_us = 2099, .node = 3, .ev = TR_RECV, .peer = COORD, .type = T_GRANT, .key = 1},
        {.t_us = 2100, .node = 3, .ev = TR_ENTER, .key = 1},
        {.t_us = 3000, .node = 3, .ev = TR_EXIT, .key = 1, .a = 2},
        {.t_us = 3800, .node = 3, .ev = TR_REQUEST},
        {.t_us = 4299, .node = 3, .ev = TR_RECV, .peer = COORD, .type = T_GRANT, .key = 2},
        {.t_us = 4300, .node = 3, .ev = TR_ENTER, .key = 2},
        /* The first record that does not fit: the cut is stamped with its time. */
        {.t_us = 5000, .node = 3, .ev = TR_EXIT, .key = 2, .a = overlap ? 4 : 3},
        {.t_us = 5100, .node = 3, .ev = TR_SEND, .peer = COORD, .type = T_RELEASE, .key = 2},
    };
    /* Fill so that exactly the records up to the second entry fit. */
    cut_trace(r, 3, CUT_SLOTS - 7, n3, 9);
    run_finish(r, run_json(3, 4));
}

START_TEST(test_cut_trace_cannot_verify)
{
    struct run r;
    cut_run(&r, false);
    json_t *rep = build(r.dir);
    /* Before: "FAIL counter" (3 exits in the trace, counter 4) and exit 1. */
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    ck_assert(!getb(rep, "safe"));
    ck_assert_int_eq(geti(rep, "violations"), 0);
    ck_assert(!getb(rep, "evidence.complete"));
    const json_t *cut = json_array_get(get(rep, "evidence.cut"), 0);
    ck_assert_ptr_nonnull(cut);
    ck_assert_int_eq(geti(cut, "node"), 3);
    ck_assert_int_eq(geti(cut, "incarnation"), 1);
    ck_assert(getd(cut, "at_ms") == 5.0);
    ck_assert_int_eq(geti(cut, "records_lost"), 2);
    ck_assert_str_eq(json_string_value(get(cut, "reason")), "the file-size limit was reached");
    /* The counter cannot be judged; the rest still is, and node 3's open
     * section ends at its cut, so node 2's later entry is no overlap. */
    ck_assert(json_is_false(json_object_get(prop(rep, "counter"), "judged")));
    ck_assert(getb(prop(rep, "mutual_exclusion"), "held"));
    ck_assert(getb(prop(rep, "resource"), "held"));
    ck_assert_int_eq(geti(rep, "cs_entries"), 4);
    /* Judged on the traces up to the cut, and says so. */
    ck_assert(getb(prop(rep, "mutual_exclusion"), "partial"));
    ck_assert_str_eq(json_string_value(json_object_get(prop(rep, "mutual_exclusion"), "evidence")),
                     "mutual_exclusion judged up to 0.005 s: node 3's trace was cut at 0.005 s "
                     "(the file-size limit was reached)");
    ck_assert_str_eq(json_string_value(json_array_get(get(rep, "evidence.not_judged"), 0)),
                     "counter");
    char *buf = text_of(rep);
    ck_assert_msg(strstr(buf, "CANNOT VERIFY: no violation found, but the evidence is "
                              "incomplete\n"),
                  "%s", buf);
    ck_assert_msg(strstr(buf, "the trace of node 3 (incarnation 1) was cut at 5.000 ms (the "
                              "file-size limit was reached): its 2 later records were lost"),
                  "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "CANNOT VERIFY counter: "));
    ck_assert_ptr_null(strstr(buf, "FAIL"));
    free(buf);
    json_decref(rep);
    int rc;
    buf = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 2);
    ck_assert_ptr_nonnull(strstr(buf, "cannot verify\n"));
    free(buf);
}
END_TEST

START_TEST(test_cut_trace_violation_still_unsafe)
{
    struct run r;
    cut_run(&r, true);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "unsafe");
    ck_assert(!getb(prop(rep, "mutual_exclusion"), "held"));
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 1);
    /* "node 2 entered at 4.400 ms while node 3 was inside ..." */
    ck_assert_ptr_nonnull(strstr(detail(rep, "mutual_exclusion"), "node 2"));
    ck_assert_ptr_nonnull(strstr(detail(rep, "mutual_exclusion"), "while node 3"));
    json_decref(rep);
    int rc;
    char *buf = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 1);
    free(buf);
}
END_TEST

START_TEST(test_cut_record_in_trace_json)
{
    struct run r;
    cut_run(&r, false);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc;
    char *err = capture_stderr(report_trace_json, r.dir, f, &rc);
    fclose(f);
    ck_assert_int_eq(rc, 0);
    /* The cut is an event of the trace, and stderr says what it means. */
    const char *line = strstr(buf, "\"ev\":\"trace_cut\"");
    ck_assert_msg(line != NULL, "%s", buf);
    json_t *o = NULL;
    for (char *save, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strstr(l, "trace_cut")) {
            o = json_loads(l, 0, NULL);
            break;
        }
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(geti(o, "node"), 3);
    ck_assert_int_eq(geti(o, "t_us"), 5000);
    ck_assert_int_eq(geti(o, "records_lost"), 2);
    ck_assert_str_eq(json_string_value(get(o, "reason")), "the file-size limit was reached");
    json_decref(o);
    ck_assert_msg(strstr(err, "node 3 (incarnation 1) was cut at 5.000 ms"), "%s", err);
    free(err);
    free(buf);
}
END_TEST

START_TEST(test_start_failure_not_started)
{
    /* Start-up failed: the supervisor recorded four node deaths, no
     * workload ran. Before: SAFE, "crashes 4", check exit 0. */
    for (int old = 0; old <= 1; old++) {
        struct run r;
        run_new(&r);
        sup(&r, 10, TR_START, 0, 0, 4242, 0);
        for (int k = 1; k <= 4; k++)
            sup(&r, 100 + k, TR_CRASH, k, 0, 9, 0);
        json_t *rj = run_json(4, 0);
        json_object_set_new(rj, "stop_reason", json_string("start-up failed"));
        json_object_set_new(rj, "workload_done", json_false());
        json_object_set_new(rj, "duration_s", json_real(0));
        if (!old) /* older run.json files have only the stop reason */
            json_object_set_new(rj, "started", json_false());
        run_finish(&r, rj);
        json_t *rep = build(r.dir);
        ck_assert_str_eq(json_string_value(get(rep, "verdict")), "not started");
        ck_assert(!getb(rep, "safe"));
        ck_assert(!getb(rep, "evidence.started"));
        char *buf = text_of(rep);
        ck_assert_msg(strstr(buf, "NOT STARTED: the run did not start; there is nothing to "
                                  "verify\n"),
                      "%s", buf);
        ck_assert_ptr_null(strstr(buf, "\nSAFE"));
        ck_assert_msg(!strstr(buf, "PASS"), "%s", buf); /* nothing was judged */
        free(buf);
        json_decref(rep);
        int rc;
        buf = capture_check(r.dir, &rc);
        ck_assert_int_eq(rc, 2);
        ck_assert_ptr_nonnull(strstr(buf, "not started\n"));
        free(buf);
    }
}
END_TEST

/* The basic run, as a launcher killed before writing run.json leaves it:
 * config.ini and the traces. */
static void run_without_summary(struct run *r, bool overlap)
{
    basic_run(r, 4);
    char path[256], err[DL_ERRLEN];
    snprintf(path, sizeof path, "%s/run.json", r->dir);
    ck_assert_int_eq(unlink(path), 0);
    if (overlap) {
        /* Node 3 is inside from 1500 to 1800 while node 2 is (1100-2000). */
        struct trace_writer w;
        ck_assert_int_eq(trace_open(&w, r->dir, 3, 2, 0, err), 0);
        struct trace_rec e = {.t_us = 1500, .node = 3, .ev = TR_ENTER, .incarnation = 2};
        trace_emit(&w, &e);
        struct trace_rec x = {.t_us = 1800, .node = 3, .ev = TR_EXIT, .incarnation = 2};
        trace_emit(&w, &x);
        trace_close(&w);
    }
    snprintf(path, sizeof path, "%s/config.ini", r->dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[cluster]\nname = unit\nnodes = 3\nalgorithm = centralized\nseed = 42\n"
          "[centralized]\ncoordinator = 1\ncoordinator_competes = false\n",
          f);
    fclose(f);
}

START_TEST(test_report_without_run_json)
{
    struct run r;
    run_without_summary(&r, false);
    /* Before: "run.json: No such file or directory". */
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    ck_assert(!getb(rep, "evidence.run_json"));
    ck_assert_str_eq(json_string_value(get(rep, "algorithm")), "centralized");
    ck_assert_int_eq(geti(rep, "nodes"), 3);
    ck_assert_int_eq(geti(rep, "cs_entries"), 4);
    ck_assert(getb(prop(rep, "mutual_exclusion"), "held"));
    ck_assert(json_is_false(json_object_get(prop(rep, "resource"), "judged")));
    ck_assert(json_is_false(json_object_get(prop(rep, "counter"), "judged")));
    ck_assert_int_eq(geti(rep, "violations"), 0);
    char *buf = text_of(rep);
    ck_assert_msg(strstr(buf, "run.json, the supervisor's summary, is missing"), "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "not judged: resource, counter"));
    free(buf);
    json_decref(rep);
    int rc;
    buf = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 2);
    free(buf);
}
END_TEST

START_TEST(test_report_without_run_json_finds_overlap)
{
    struct run r;
    run_without_summary(&r, true);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "unsafe");
    ck_assert_int_eq(geti(rep, "violations"), 1);
    json_decref(rep);
    int rc;
    char *buf = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 1);
    free(buf);
}
END_TEST

START_TEST(test_torn_record_counted)
{
    struct run r;
    basic_run(&r, 4);
    /* Node 2's incarnation 2 was killed while writing its first record. */
    char path[256];
    snprintf(path, sizeof path, "%s/trace/n2.2.bin", r.dir);
    struct trace_rec half = {.t_us = 6000, .node = 2, .ev = TR_REQUEST, .incarnation = 2};
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(&half, 1, 40, f), 40);
    static const char zeros[24];
    ck_assert_int_eq(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
    fclose(f);
    json_t *rep = build(r.dir);
    /* Nothing is missing: the torn record's action never happened. */
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "safe");
    const json_t *t = json_array_get(get(rep, "evidence.torn"), 0);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(geti(t, "node"), 2);
    ck_assert_int_eq(geti(t, "incarnation"), 2);
    ck_assert_int_eq(geti(t, "records"), 1);
    char *buf = text_of(rep);
    ck_assert_msg(strstr(buf, "1 record torn by a kill mid-write"), "%s", buf);
    free(buf);
    json_decref(rep);
}
END_TEST

START_TEST(test_overwritten_oldest_cannot_verify)
{
    struct run r;
    run_new(&r);
    /* Node 2's file is capped at 1,024 records and 1,500 fillers come
     * first: its oldest 476 records are overwritten. */
    trace_set_max(writer(&r, 2, 1), TRACE_MAX_MIN);
    for (int i = 0; i < 1500; i++)
        ev(&r, 2, 1, 10 + i % 900, TR_RECV, 0, 1, 0, 0, 0);
    cs_cycle(&r, 2, 1000, 1100, 2000, 1, 1);
    cs_cycle(&r, 3, 2500, 2600, 3000, 1, 2);
    run_finish(&r, run_json(3, 2));
    json_t *rep = build(&r.dir[0]);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    const json_t *o = json_array_get(get(rep, "evidence.overwritten"), 0);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(geti(o, "node"), 2);
    /* 1500 fillers, 6 records of the CS, and the stop record. */
    ck_assert_int_eq(geti(o, "records"), 1500 + 6 + 1 - 1024);
    /* The overwritten records may hold exits: the counter cannot be
     * judged, neither passed nor failed. */
    ck_assert(json_is_false(json_object_get(prop(rep, "counter"), "judged")));
    ck_assert(!getb(prop(rep, "counter"), "held"));
    ck_assert_int_eq(geti(rep, "violations"), 0);
    ck_assert_int_eq(geti(rep, "cs_entries"), 2);
    json_decref(rep);
}
END_TEST

START_TEST(test_supervisor_cut_overlap_not_judged)
{
    /* The supervisor's trace is cut at 1000 us; node 2 was killed inside
     * its CS at 1500 (the crash record is lost), and node 3 entered at
     * 2000. An overlap cannot be told from a lost crash. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 1100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 1, 1200, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 3, 1, 1900, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 2000, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 3, 1, 2100, TR_EXIT, 0, 0, 1, 0, 1);
    struct trace_rec recs[] = {{.t_us = 1000, .node = 0, .ev = TR_FAULT}};
    cut_trace(&r, 0, CUT_SLOTS, recs, 1);
    r.ended[2][1] = true; /* killed: no stop record of its own */
    run_finish(&r, run_json(3, 1));
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    ck_assert(json_is_false(json_object_get(prop(rep, "mutual_exclusion"), "judged")));
    ck_assert_int_eq(geti(rep, "violations"), 0);
    json_decref(rep);
}
END_TEST

/* A corrupt record can hold any time. One far outside any run is not
 * evidence: it is skipped and counted (no wait from the far past, no
 * signed overflow in the time arithmetic), and the verdict cannot rest on
 * a trace that held it. */
START_TEST(test_corrupt_times)
{
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, INT64_MIN + 5, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 1, 1000, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 1, 1100, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 2, 1, 2000, TR_EXIT, 0, 0, 1, 0, 1);
    ev(&r, 3, 1, INT64_MAX - 5, TR_ENTER, 0, 0, 1, 0, 0);
    run_finish(&r, run_json(3, 1));
    json_t *rep = build(r.dir);
    ck_assert_double_eq_tol(getd(rep, "response_ms.max"), 0.1, 1e-9);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    ck_assert_int_eq(geti(rep, "violations"), 0);
    char *buf = text_of(rep);
    ck_assert_msg(strstr(buf, "1 record with an impossible time or incarnation"), "%s", buf);
    free(buf);
    json_decref(rep);
}
END_TEST

/* A trace file deleted, emptied or cut short at a record boundary hides
 * what its node did: the counter then exceeds the traced exits, which
 * must read "cannot verify", not a false UNSAFE. */
START_TEST(test_missing_or_short_trace_cannot_verify)
{
    for (int how = 0; how < 3; how++) {
        struct run r;
        basic_run(&r, 4);
        json_t *rep = build(r.dir);
        ck_assert_str_eq(json_string_value(get(rep, "verdict")), "safe");
        json_decref(rep);
        char path[256];
        snprintf(path, sizeof path, "%s/trace/n3.1.bin", r.dir);
        if (how == 0) {
            ck_assert_int_eq(unlink(path), 0);
        } else {
            /* how 1: empty; how 2: its stop and last CS's records gone. */
            struct stat st;
            ck_assert_int_eq(stat(path, &st), 0);
            ck_assert_int_eq(truncate(path, how == 1 ? 0 : 6 * 64), 0);
        }
        rep = build(r.dir);
        ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
        ck_assert_int_eq(geti(rep, "violations"), 0);
        char *buf = text_of(rep);
        ck_assert_msg(strstr(buf, how == 0   ? "the trace of node 3 (incarnation 1) is missing"
                                  : how == 1 ? "the trace of node 3 (incarnation 1) is empty"
                                             : "with neither a stop nor a crash recorded"),
                      "%s", buf);
        free(buf);
        json_decref(rep);
        int rc;
        buf = capture_check(r.dir, &rc);
        ck_assert_int_eq(rc, 2);
        free(buf);
    }
}
END_TEST

/* A damaged run.json: a FIFO in its place is refused at once (no hang),
 * and a negative count of resource violations is no record at all - the
 * resource cannot be judged, not passed. */
START_TEST(test_damaged_run_json)
{
    struct run r;
    basic_run(&r, 4);
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", r.dir);
    json_t *rj = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(rj);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    int rc;
    char *buf = capture_check(r.dir, &rc); /* would block forever on open */
    ck_assert_int_eq(rc, 2);
    free(buf);
    ck_assert_int_eq(unlink(path), 0);
    json_object_set_new(rj, "resource_violations", json_integer(-1));
    ck_assert_int_eq(json_dump_file(rj, path, 0), 0);
    json_decref(rj);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    ck_assert(json_is_false(json_object_get(prop(rep, "resource"), "judged")));
    json_decref(rep);
    buf = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 2);
    free(buf);
}
END_TEST

/* Strings of a run.json reach the terminal in the text report: escape
 * sequences in them are shown escaped, never acted on. */
START_TEST(test_run_json_strings_escaped)
{
    struct run r;
    run_new(&r);
    cs_cycle(&r, 2, 1000, 1100, 2000, 1, 1);
    json_t *rj = run_json(3, 1);
    json_object_set_new(rj, "name", json_string("x\033[2Jy"));
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    char *buf = text_of(rep);
    ck_assert_ptr_null(strchr(buf, '\033'));
    ck_assert_msg(strstr(buf, "x\\x1b[2Jy"), "%s", buf);
    free(buf);
    json_decref(rep);
}
END_TEST

/* ---- network faults ---- */

/* A supervisor record with every field given. */
static void sup_rec(struct run *r, int64_t t, int kind, int node, int peer, int aux, int64_t key,
                    int64_t a, int64_t b, int64_t c)
{
    struct trace_rec rec = {.t_us = t, .node = (uint16_t)node, .ev = (uint16_t)kind,
                            .peer = (uint16_t)peer, .aux = aux, .key = key, .a = a, .b = b,
                            .c = c};
    trace_emit(writer(r, 0, 1), &rec);
    if (t > r->t_max)
        r->t_max = t;
}

enum { A_PAUSE = 1, A_RESUME = 2, A_PARTITION = 5, A_HEAL = 6, A_NET = 7 };

/* The fault record: a = number (0: a command), b = occurrence, c = undo. */
static void fault_rec(struct run *r, int64_t t, int action, int node, int number, int occ,
                      bool undo)
{
    sup_rec(r, t, TR_FAULT, 0, node, action, 0, number, occ, undo);
}

/* The state of link from -> to after a change. */
static void link_rec(struct run *r, int64_t t, int from, int to, bool cut, int64_t loss_ppm,
                     int64_t delay_us, int64_t jitter_us)
{
    sup_rec(r, t, TR_LINK, 0, from, cut, to, loss_ppm, delay_us, jitter_us);
}

/* Cut (or restore) every link between {1, 2} and {3}. */
static void cut_12_3(struct run *r, int64_t t, bool cut)
{
    link_rec(r, t, 1, 3, cut, 0, 0, 0);
    link_rec(r, t, 2, 3, cut, 0, 0, 0);
    link_rec(r, t, 3, 1, cut, 0, 0, 0);
    link_rec(r, t, 3, 2, cut, 0, 0, 0);
}

static void sched_fault(json_t *rj, double at_ms, const char *action, const char *target,
                        int number)
{
    json_array_append_new(json_object_get(rj, "faults"),
                          json_pack("{s:f, s:f, s:s, s:s, s:n, s:i}", "at_ms", at_ms, "t_ms",
                                    at_ms, "action", action, "target", target, "node", "number",
                                    number));
}

/* 3 nodes, centralized (1 coordinates). Node 2 does a CS; fault 1
 * partitions {1,2} | {3} at 3000 us for 500 us. Node 3 requests at 3100:
 * its request is lost to the cut at 1 (3102), and node 3 waits to the end.
 * Node 2's next CS (3200..3400) goes through. */
static json_t *partition_run(struct run *r)
{
    run_new(r);
    cs_cycle(r, 2, 1000, 1100, 2000, 1, 1);
    fault_rec(r, 3000, A_PARTITION, 0, 1, 1, false);
    cut_12_3(r, 3000, true);
    ev(r, 3, 1, 3100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(r, 3, 1, 3101, TR_SEND, 1, T_REQUEST, 1, 0, 0);
    ev(r, 1, 1, 3102, TR_DROP, 3, T_REQUEST, 1, WIRE_DROP_PARTITION, 0);
    cs_cycle(r, 2, 3200, 3300, 3400, 2, 2);
    fault_rec(r, 3500, A_HEAL, 0, 1, 1, true);
    cut_12_3(r, 3500, false);
    json_t *rj = run_json(3, 2);
    json_object_set_new(rj, "stop_reason", json_string("duration"));
    json_object_set_new(rj, "workload_done", json_false());
    sched_fault(rj, 3.0, "partition", "1,2/3", 1);
    return rj;
}

START_TEST(test_partition_fault_line)
{
    struct run r;
    run_finish(&r, partition_run(&r));
    json_t *rep = build(r.dir);
    ck_assert_int_eq(json_array_size(get(rep, "faults")), 2);
    const json_t *f = fault_at(rep, 0);
    ck_assert_str_eq(json_string_value(get(f, "action")), "partition");
    ck_assert_str_eq(json_string_value(get(f, "source")), "schedule");
    /* The target is the links the trace shows it cut; the configured text
     * is kept beside it. */
    ck_assert_str_eq(json_string_value(get(f, "target")), "1,2 | 3");
    ck_assert_str_eq(json_string_value(get(f, "target_spec")), "1,2/3");
    ck_assert(json_is_null(get(f, "node")));
    ck_assert_int_eq(geti(f, "links_cut"), 4);
    ck_assert_int_eq(geti(f, "lost.messages"), 1);
    ck_assert_int_eq(geti(f, "lost.by_type.request"), 1);
    ck_assert_double_eq_tol(getd(f, "lasted_ms"), 0.5, 1e-9);
    ck_assert_double_eq_tol(getd(f, "ended_ms"), 3.5, 1e-9);
    const char *out = json_string_value(get(f, "outcome"));
    ck_assert_msg(strstr(out, "cut 4 links (1,2 | 3); 1 message lost to it (request 1); lasted "
                              "0.500 ms: healed automatically at 3.500 ms"),
                  "%s", out);
    /* The undo is a line of its own. */
    f = fault_at(rep, 1);
    ck_assert_str_eq(json_string_value(get(f, "action")), "heal");
    ck_assert(getb(f, "undo"));
    ck_assert_int_eq(geti(f, "occurrence"), 1);
    ck_assert_int_eq(geti(f, "links_restored"), 4);
    ck_assert_str_eq(json_string_value(get(f, "outcome")),
                     "healed automatically: 4 cut links restored (1,2 | 3)");
    char *txt = text_of(rep);
    ck_assert_msg(strstr(txt, "at 3.000 ms: partition 1,2 | 3, fault 1 scheduled 3 ms after the "
                              "workload start\n      cut 4 links"),
                  "%s", txt);
    ck_assert_msg(strstr(txt, "at 3.500 ms: heal 1,2 | 3, fault.1 healed automatically"), "%s",
                  txt);
    free(txt);
    json_decref(rep);
}
END_TEST

START_TEST(test_drops_by_reason)
{
    struct run r;
    json_t *rj = partition_run(&r);
    /* Two more drops: one to loss, one send the transport refused. */
    ev(&r, 2, 1, 3600, TR_DROP, 1, T_GRANT, 3, WIRE_DROP_LOSS, 0);
    ev(&r, 2, 1, 3700, TR_DROP, 1, T_RELEASE, 3, WIRE_DROP_SEND, 0);
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    ck_assert_int_eq(geti(rep, "dropped.partition"), 1);
    ck_assert_int_eq(geti(rep, "dropped.loss"), 1);
    ck_assert_int_eq(geti(rep, "dropped.send_refused"), 1);
    ck_assert_ptr_null(json_object_get(get(rep, "dropped"), "network"));
    /* The contract keys are still there. */
    ck_assert_int_eq(geti(rep, "messages"), 7);
    char *txt = text_of(rep);
    ck_assert_msg(strstr(txt, "dropped            3 messages: partition 1, loss 1, send_refused 1"),
                  "%s", txt);
    free(txt);
    json_decref(rep);
}
END_TEST

START_TEST(test_stall_names_lost_message)
{
    struct run r;
    run_finish(&r, partition_run(&r));
    json_t *rep = build(r.dir);
    ck_assert_str_eq(verdict(rep, "liveness"), "fail");
    const json_t *w = json_array_get(get(rep, "stall.waiting"), 0);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(json_array_size(get(rep, "stall.waiting")), 1);
    ck_assert_int_eq(geti(w, "node"), 3);
    ck_assert_int_eq(geti(w, "lost"), 1);
    const json_t *m = json_array_get(get(w, "messages"), 0);
    ck_assert_str_eq(json_string_value(get(m, "type")), "request");
    ck_assert_str_eq(json_string_value(get(m, "cut")), "1,2 | 3");
    ck_assert_str_eq(json_string_value(get(m, "fault")), "fault.1");
    ck_assert_str_eq(json_string_value(get(w, "text")),
                     "node 3 has waited since 3.100 ms: its request to node 1 was lost to the "
                     "partition 1,2 | 3 (fault.1) at 3.102 ms");
    const char *note = json_string_value(get(rep, "stall.note"));
    ck_assert_msg(strstr(note, "assume reliable channels") && strstr(note, "retransmit = true"),
                  "%s", note);
    char *txt = text_of(rep);
    ck_assert_msg(strstr(txt, "still waiting at the end:\n  node 3 has waited since 3.100 ms: "
                              "its request to node 1 was lost to the partition"),
                  "%s", txt);
    free(txt);
    json_decref(rep);
}
END_TEST

START_TEST(test_retransmit_from_config)
{
    /* run.json without "retransmit": the run's config.ini tells. */
    for (int on = 0; on <= 1; on++) {
        struct run r;
        run_finish(&r, partition_run(&r));
        char path[256];
        snprintf(path, sizeof path, "%s/config.ini", r.dir);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "[cluster]\nnodes = 3\nalgorithm = centralized\nretransmit = %s\n",
                on ? "true" : "false");
        fclose(f);
        json_t *rep = build(r.dir);
        ck_assert_int_eq(getb(rep, "retransmit"), on);
        const char *note = json_string_value(get(rep, "stall.note"));
        ck_assert_msg(on ? strstr(note, "Retransmission was on") != NULL
                         : strstr(note, "assume reliable channels") != NULL,
                      "%s", note);
        json_decref(rep);
    }
}
END_TEST

START_TEST(test_stall_with_retransmit_and_loss)
{
    /* A net fault (fault 2) sets loss 0.2 on every link at 3000; node 3's
     * grant from node 1 is lost to it at 3210; node 3 waits to the end.
     * Retransmission was on. The fault is undone at 3800. */
    struct run r;
    run_new(&r);
    cs_cycle(&r, 2, 1000, 1100, 2000, 1, 1);
    fault_rec(&r, 3000, A_NET, 0, 2, 1, false);
    for (int a = 1; a <= 3; a++)
        for (int b = 1; b <= 3; b++)
            if (a != b)
                link_rec(&r, 3000, a, b, false, 200000, 0, 0);
    ev(&r, 3, 1, 3100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 3101, TR_SEND, 1, T_REQUEST, 1, 0, 0);
    ev(&r, 1, 1, 3102, TR_RECV, 3, T_REQUEST, 1, 0, 3101);
    ev(&r, 1, 1, 3200, TR_SEND, 3, T_GRANT, 1, 0, 0);
    ev(&r, 3, 1, 3210, TR_DROP, 1, T_GRANT, 1, WIRE_DROP_LOSS, 0);
    ev(&r, 2, 1, 3300, TR_DROP, 1, T_GRANT, 1, WIRE_DROP_LOSS, 0);
    ev(&r, 1, 1, 3400, TR_SEND, 3, T_GRANT, 1, 0, 0);
    ev(&r, 3, 1, 3410, TR_DROP, 1, T_GRANT, 1, WIRE_DROP_LOSS, 0);
    fault_rec(&r, 3800, A_NET, 0, 2, 1, true);
    for (int a = 1; a <= 3; a++)
        for (int b = 1; b <= 3; b++)
            if (a != b)
                link_rec(&r, 3800, a, b, false, 0, 0, 0);
    json_t *rj = run_json(3, 1);
    json_object_set_new(rj, "retransmit", json_true());
    sched_fault(rj, 3.0, "net", "all", 2);
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    const json_t *f = fault_at(rep, 0);
    ck_assert_str_eq(json_string_value(get(f, "action")), "net");
    ck_assert_str_eq(json_string_value(get(f, "target")), "all links");
    ck_assert_double_eq_tol(getd(f, "set.loss"), 0.2, 1e-9);
    ck_assert_int_eq(geti(f, "lost.messages"), 3);
    ck_assert_int_eq(geti(f, "lost.by_type.grant"), 3);
    const char *out = json_string_value(get(f, "outcome"));
    ck_assert_msg(strstr(out, "set loss 0.200 on 6 links (all links); 3 messages "
                              "lost to loss while it was in force (grant 3); "
                              "lasted 0.800 ms: restored automatically at 3.800 ms"),
                  "%s", out);
    f = fault_at(rep, 1);
    ck_assert(getb(f, "undo"));
    ck_assert_msg(strstr(json_string_value(get(f, "outcome")), "restored automatically: 6 links"),
                  "%s", json_string_value(get(f, "outcome")));
    ck_assert_int_eq(geti(rep, "dropped.loss"), 3);
    ck_assert(getb(rep, "retransmit"));
    /* Node 3's two lost grants are one line with a count; node 2's is not
     * node 3's business. */
    const json_t *w = json_array_get(get(rep, "stall.waiting"), 0);
    ck_assert_int_eq(geti(w, "lost"), 2);
    ck_assert_int_eq(json_array_size(get(w, "messages")), 1);
    ck_assert_int_eq(geti(json_array_get(get(w, "messages"), 0), "count"), 2);
    ck_assert_str_eq(json_string_value(get(w, "text")),
                     "node 3 has waited since 3.100 ms: the grant from node 1 was lost to loss "
                     "(0.200 on the link 1->3, set by fault.2) at 3.210 ms (and 1 more like it)");
    ck_assert(getb(rep, "stall.retransmit"));
    const char *note = json_string_value(get(rep, "stall.note"));
    ck_assert_msg(strstr(note, "Retransmission was on"), "%s", note);
    ck_assert_ptr_null(strstr(note, "assume reliable channels"));
    char *txt = text_of(rep);
    ck_assert_ptr_nonnull(strstr(txt, "retransmit         on"));
    ck_assert_msg(strstr(txt, "at 3.800 ms: net all links, fault.2 restored automatically"),
                  "%s", txt);
    free(txt);
    json_decref(rep);
}
END_TEST

START_TEST(test_no_stall_when_nothing_waits)
{
    struct run r;
    basic_run(&r, 4);
    json_t *rep = build(r.dir);
    ck_assert_ptr_null(json_object_get(rep, "stall"));
    ck_assert_int_eq(json_array_size(get(rep, "waiting_at_end")), 0);
    ck_assert_int_eq(geti(rep, "dropped.partition"), 0);
    ck_assert_int_eq(geti(rep, "dropped.loss"), 0);
    char *txt = text_of(rep);
    ck_assert_ptr_null(strstr(txt, "still waiting at the end"));
    ck_assert_ptr_null(strstr(txt, "reliable channels"));
    free(txt);
    json_decref(rep);
}
END_TEST

START_TEST(test_stall_without_lost_messages)
{
    /* A request waits, but nothing of it was lost: the report says so and
     * blames no channel. */
    struct run r;
    pending_run(&r, "duration", false);
    json_t *rep = build(r.dir);
    const json_t *w = json_array_get(get(rep, "stall.waiting"), 0);
    ck_assert_str_eq(json_string_value(get(w, "text")),
                     "node 3 has waited since 1.900 ms; no message to or from it was lost to a "
                     "cut or to loss after its request");
    ck_assert(json_is_null(get(rep, "stall.note")));
    json_decref(rep);
}
END_TEST

START_TEST(test_repetitions_and_undos)
{
    /* Fault 1: partition 1,2/3 every 1000 us for 300 us, twice; fault 2:
     * pause node 2 for 100 us, twice. */
    struct run r;
    run_new(&r);
    cs_cycle(&r, 2, 100, 200, 300, 1, 1);
    for (int k = 1; k <= 2; k++) {
        int64_t t = 1000 * k;
        fault_rec(&r, t, A_PARTITION, 0, 1, k, false);
        cut_12_3(&r, t, true);
        fault_rec(&r, t + 300, A_HEAL, 0, 1, k, true);
        cut_12_3(&r, t + 300, false);
        fault_rec(&r, t + 500, A_PAUSE, 2, 2, k, false);
        sup(&r, t + 501, TR_PAUSE, 2, 0, SIGSTOP, 0);
        fault_rec(&r, t + 600, A_RESUME, 2, 2, k, true);
        sup(&r, t + 601, TR_RESUME, 2, 0, SIGCONT, 0);
    }
    json_t *rj = run_json(3, 1);
    sched_fault(rj, 1.0, "partition", "1,2/3", 1);
    sched_fault(rj, 1.5, "pause", "2", 2);
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    /* Eight fault lines, no external ones: the pauses and resumes are the
     * faults' own. */
    ck_assert_int_eq(json_array_size(get(rep, "faults")), 8);
    const json_t *f = fault_at(rep, 4);
    ck_assert_str_eq(json_string_value(get(f, "label")), "fault.1 #2");
    ck_assert_int_eq(geti(f, "occurrence"), 2);
    ck_assert_str_eq(json_string_value(get(f, "target")), "1,2 | 3");
    ck_assert_msg(strstr(json_string_value(get(f, "outcome")),
                         "lasted 0.300 ms: healed automatically at 2.300 ms"),
                  "%s", json_string_value(get(f, "outcome")));
    f = fault_at(rep, 7);
    ck_assert_str_eq(json_string_value(get(f, "action")), "resume");
    ck_assert_str_eq(json_string_value(get(f, "source")), "schedule");
    ck_assert(getb(f, "undo"));
    ck_assert_msg(strstr(json_string_value(get(f, "outcome")), "resumed automatically"), "%s",
                  json_string_value(get(f, "outcome")));
    char *txt = text_of(rep);
    ck_assert_msg(strstr(txt, "at 1.000 ms: partition 1,2 | 3, fault.1 #1 scheduled 1 ms after "
                              "the workload start"),
                  "%s", txt);
    ck_assert_msg(strstr(txt, "at 2.000 ms: partition 1,2 | 3, fault.1 #2 (a repetition of fault "
                              "1, first scheduled 1 ms after the workload start)"),
                  "%s", txt);
    ck_assert_msg(strstr(txt, "at 2.300 ms: heal 1,2 | 3, fault.1 #2 healed automatically"), "%s",
                  txt);
    ck_assert_msg(strstr(txt, "at 2.600 ms: resume node 2, fault.2 #2 resumed automatically"),
                  "%s", txt);
    free(txt);
    json_decref(rep);
}
END_TEST

START_TEST(test_command_partition)
{
    /* `distlab partition 1->2` then `distlab heal`: fault records without
     * a number. Node 2's grant is lost to the one-way cut. */
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, 900, TR_REQUEST, 0, 0, 0, 0, 0);
    fault_rec(&r, 1000, A_PARTITION, 0, 0, 0, false);
    link_rec(&r, 1000, 1, 2, true, 0, 0, 0);
    ev(&r, 2, 1, 1100, TR_DROP, 1, T_GRANT, 1, WIRE_DROP_PARTITION, 0);
    fault_rec(&r, 1400, A_HEAL, 0, 0, 0, false);
    link_rec(&r, 1400, 1, 2, false, 0, 0, 0);
    run_finish(&r, run_json(3, 0));
    json_t *rep = build(r.dir);
    ck_assert_int_eq(json_array_size(get(rep, "faults")), 2);
    const json_t *f = fault_at(rep, 0);
    ck_assert_str_eq(json_string_value(get(f, "source")), "command");
    ck_assert_str_eq(json_string_value(get(f, "target")), "1->2");
    ck_assert_ptr_null(json_object_get(f, "occurrence"));
    ck_assert_int_eq(geti(f, "lost.by_type.grant"), 1);
    ck_assert_str_eq(json_string_value(get(f, "ended_by")), "a command");
    ck_assert_msg(strstr(json_string_value(get(f, "outcome")),
                         "cut 1 link (1->2); 1 message lost to it (grant 1); lasted 0.400 ms: "
                         "healed at 1.400 ms by heal, a command"),
                  "%s", json_string_value(get(f, "outcome")));
    f = fault_at(rep, 1);
    ck_assert_str_eq(json_string_value(get(f, "action")), "heal");
    ck_assert_str_eq(json_string_value(get(f, "source")), "command");
    ck_assert_str_eq(json_string_value(get(f, "outcome")), "1 cut link restored (1->2)");
    const json_t *w = json_array_get(get(rep, "stall.waiting"), 0);
    ck_assert_str_eq(json_string_value(get(w, "text")),
                     "node 2 has waited since 0.900 ms: the grant from node 1 was lost to the "
                     "partition 1->2 (a command) at 1.100 ms");
    char *txt = text_of(rep);
    ck_assert_msg(strstr(txt, "at 1.000 ms: partition 1->2, commanded\n"), "%s", txt);
    free(txt);
    json_decref(rep);
}
END_TEST

START_TEST(test_partition_without_link_records)
{
    /* A trace from a writer that records no links (and drops with the old
     * reason 0): the report does not guess which links were cut, and the
     * stall names the drop as the network's. */
    struct run r;
    run_new(&r);
    fault_rec(&r, 1000, A_PARTITION, 0, 1, 0, false);
    ev(&r, 3, 1, 1100, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 3, 1, 1101, TR_SEND, 1, T_REQUEST, 1, 0, 0);
    ev(&r, 1, 1, 1102, TR_DROP, 3, T_REQUEST, 1, 0, 0);
    json_t *rj = run_json(3, 0);
    sched_fault(rj, 1.0, "partition", "1,2/3", 1);
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    const json_t *f = fault_at(rep, 0);
    ck_assert_str_eq(json_string_value(get(f, "target")), "1,2/3");
    ck_assert_ptr_null(json_object_get(f, "links_cut"));
    ck_assert_msg(strstr(json_string_value(get(f, "outcome")),
                         "the trace does not record which links it changed"),
                  "%s", json_string_value(get(f, "outcome")));
    ck_assert_int_eq(geti(rep, "dropped.network"), 1);
    ck_assert_int_eq(geti(rep, "dropped.partition"), 0);
    const json_t *w = json_array_get(get(rep, "stall.waiting"), 0);
    ck_assert_str_eq(json_string_value(get(w, "text")),
                     "node 3 has waited since 1.100 ms: its request to node 1 was dropped by the "
                     "network at 1.102 ms");
    json_decref(rep);
}
END_TEST

START_TEST(test_net_fault_replaced)
{
    /* Fault 3 adds 5 ms delay to 1->2 (loss stays at the [network] 0.1);
     * a command then sets loss 0.5 there: fault 3's settings are replaced,
     * and the loss drop after that is the command's, not fault 3's. */
    struct run r;
    run_new(&r);
    link_rec(&r, 10, 1, 2, false, 100000, 0, 0);
    ev(&r, 2, 1, 1100, TR_REQUEST, 0, 0, 0, 0, 0);
    fault_rec(&r, 1000, A_NET, 0, 3, 1, false);
    link_rec(&r, 1000, 1, 2, false, 100000, 5000, 0);
    ev(&r, 2, 1, 1200, TR_DROP, 1, T_GRANT, 1, WIRE_DROP_LOSS, 0);
    fault_rec(&r, 2000, A_NET, 0, 0, 0, false);
    link_rec(&r, 2000, 1, 2, false, 500000, 5000, 0);
    ev(&r, 2, 1, 2100, TR_DROP, 1, T_GRANT, 2, WIRE_DROP_LOSS, 0);
    json_t *rj = run_json(3, 0);
    sched_fault(rj, 1.0, "net", "1->2", 3);
    run_finish(&r, rj);
    json_t *rep = build(r.dir);
    const json_t *f = fault_at(rep, 0);
    ck_assert_str_eq(json_string_value(get(f, "target")), "1->2");
    ck_assert_double_eq_tol(getd(f, "set.delay_ms"), 5.0, 1e-9);
    ck_assert_ptr_null(json_object_get(get(f, "set"), "loss"));
    ck_assert_int_eq(geti(f, "lost.messages"), 1);
    ck_assert_str_eq(json_string_value(get(f, "ended_by")), "a command");
    ck_assert_msg(strstr(json_string_value(get(f, "outcome")),
                         "set delay 5.000 ms on 1 link (1->2); 1 message lost to loss while it "
                         "was in force (grant 1); lasted 1.000 ms: replaced at 2.000 ms by net, "
                         "a command"),
                  "%s", json_string_value(get(f, "outcome")));
    f = fault_at(rep, 1);
    ck_assert_str_eq(json_string_value(get(f, "source")), "command");
    ck_assert_double_eq_tol(getd(f, "set.loss"), 0.5, 1e-9);
    ck_assert_int_eq(geti(f, "lost.messages"), 1);
    ck_assert(getb(f, "until_end"));
    /* Node 2 waits (from 1100): its first grant was lost to the [network]
     * loss, its second to the command's. */
    ck_assert_str_eq(json_string_value(get(json_array_get(get(rep, "stall.waiting"), 0), "text")),
                     "node 2 has waited since 1.100 ms: the grant from node 1 was lost to loss "
                     "(0.100 on the link 1->2, the [network] settings) at 1.200 ms; the grant "
                     "from node 1 was lost to loss (0.500 on the link 1->2, set by a command) at "
                     "2.100 ms");
    json_decref(rep);
}
END_TEST

START_TEST(test_trace_json_network)
{
    struct run r;
    run_new(&r);
    link_rec(&r, 5, 2, 3, false, 250000, 3000, 1000); /* the [network] settings */
    fault_rec(&r, 100, A_PARTITION, 0, 4, 2, false);
    link_rec(&r, 100, 1, 3, true, 0, 0, 0);
    ev(&r, 3, 1, 150, TR_DROP, 1, T_GRANT, 7, WIRE_DROP_PARTITION, 0);
    ev(&r, 3, 1, 160, TR_DROP, 2, T_GRANT, 8, WIRE_DROP_LOSS, 0);
    ev(&r, 2, 1, 170, TR_DROP, 1, T_RELEASE, 9, WIRE_DROP_SEND, 0);
    fault_rec(&r, 200, A_HEAL, 0, 4, 2, true);
    link_rec(&r, 200, 1, 3, false, 0, 0, 0);
    run_finish(&r, run_json(3, 0));
    char *out = trace_text(r.dir);
    int seen = 0;
    for (char *save, *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        ck_assert_msg(o != NULL, "not JSON: %s", line);
        const char *e = json_string_value(json_object_get(o, "ev"));
        json_int_t t = geti(o, "t_us");
        if (strcmp(e, "link") == 0 && t == 5) {
            ck_assert_int_eq(geti(o, "from"), 2);
            ck_assert_int_eq(geti(o, "to"), 3);
            ck_assert(!getb(o, "cut"));
            ck_assert_double_eq_tol(getd(o, "loss"), 0.25, 1e-12);
            ck_assert_int_eq(geti(o, "delay_us"), 3000);
            ck_assert_int_eq(geti(o, "jitter_us"), 1000);
            seen |= 1;
        } else if (strcmp(e, "link") == 0 && t == 100) {
            ck_assert_int_eq(geti(o, "from"), 1);
            ck_assert_int_eq(geti(o, "to"), 3);
            ck_assert(getb(o, "cut"));
            seen |= 2;
        } else if (strcmp(e, "drop") == 0 && t == 150) {
            ck_assert_str_eq(json_string_value(get(o, "reason")), "partition");
            ck_assert_int_eq(geti(o, "from"), 1);
            ck_assert_str_eq(json_string_value(get(o, "type")), "grant");
            seen |= 4;
        } else if (strcmp(e, "drop") == 0 && t == 160) {
            ck_assert_str_eq(json_string_value(get(o, "reason")), "loss");
            ck_assert_int_eq(geti(o, "from"), 2);
            seen |= 8;
        } else if (strcmp(e, "drop") == 0 && t == 170) {
            /* A refused send names where it was going. */
            ck_assert_str_eq(json_string_value(get(o, "reason")), "send_refused");
            ck_assert_int_eq(geti(o, "to"), 1);
            ck_assert_ptr_null(json_object_get(o, "from"));
            seen |= 16;
        } else if (strcmp(e, "fault") == 0 && t == 100) {
            ck_assert_str_eq(json_string_value(get(o, "action")), "partition");
            ck_assert_int_eq(geti(o, "fault"), 4);
            ck_assert_int_eq(geti(o, "occurrence"), 2);
            ck_assert_ptr_null(json_object_get(o, "undo"));
            seen |= 32;
        } else if (strcmp(e, "fault") == 0 && t == 200) {
            ck_assert_str_eq(json_string_value(get(o, "action")), "heal");
            ck_assert(getb(o, "undo"));
            ck_assert_int_eq(geti(o, "occurrence"), 2);
            seen |= 64;
        }
        json_decref(o);
    }
    ck_assert_int_eq(seen, 127);
    free(out);
}
END_TEST

/* ---- [trace] record: what a run left out, and the cost of what it kept ---- */

/* The run's config.ini with a [trace] section (evidence.c reads record and
 * max_size from it). */
static void trace_config(const struct run *r, const char *trace_section)
{
    char path[256];
    snprintf(path, sizeof path, "%s/config.ini", r->dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[cluster]\nname = unit\nnodes = 3\nalgorithm = centralized\n[trace]\n%s\n",
            trace_section);
    ck_assert_int_eq(fclose(f), 0);
}

/* Every file of RUNDIR/trace, by size. */
static long long trace_dir_size(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "cat %s/trace/* | wc -c", dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    long long n = -1;
    ck_assert_int_eq(fscanf(p, "%lld", &n), 1);
    pclose(p);
    return n;
}

static bool has_line(const json_t *arr, const char *line)
{
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)arr, i,
                       v) if (strcmp(json_string_value(v), line) == 0) return true;
    return false;
}

/* The basic run recorded with some classes only: the writers leave the
 * others out, as a node's does with [trace] record. */
static void basic_run_recording(struct run *r, unsigned classes, const char *record)
{
    run_new(r);
    for (int k = 0; k <= 3; k++)
        trace_set_record(writer(r, k, 1), classes);
    trace_config(r, record);
    sup(r, 10, TR_START, 0, 0, 4242, 0);
    cs_cycle(r, 2, 1000, 1100, 2000, 1, 1);
    cs_cycle(r, 3, 1500, 2100, 3000, 1, 2);
    cs_cycle(r, 2, 3500, 3700, 4000, 2, 3);
    cs_cycle(r, 3, 3800, 4300, 5000, 2, 4);
    run_finish(r, run_json(3, 4));
}

START_TEST(test_record_cs_without_messages)
{
    struct run r;
    basic_run_recording(&r, TRACE_CLASS_CS, "record = cs");
    /* Not one send or receive was written. */
    struct trace_rec *recs;
    size_t n;
    char err[DL_ERRLEN];
    ck_assert_int_eq(trace_load(r.dir, &recs, &n, err), 0);
    size_t enters = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(recs[i].ev != TR_SEND && recs[i].ev != TR_RECV, "a %s record",
                      trace_ev_name(recs[i].ev));
        enters += recs[i].ev == TR_ENTER;
    }
    ck_assert_uint_eq(enters, 4);
    free(recs);
    json_t *rep = build(r.dir);
    /* Every safety property is judged from the CS records: safe. */
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "safe");
    ck_assert(getb(prop(rep, "mutual_exclusion"), "held"));
    ck_assert(getb(prop(rep, "counter"), "held"));
    ck_assert_int_eq(geti(rep, "cs_entries"), 4);
    /* The message figures are not computed, and say why. */
    ck_assert(json_is_null(get(rep, "messages")));
    ck_assert(json_is_null(get(rep, "messages_per_cs")));
    ck_assert(
        json_is_null(json_object_get(json_array_get(get(rep, "per_node"), 1), "messages_sent")));
    ck_assert(has_line(get(rep, "not_checked"),
                       "messages_per_cs not computed: [trace] record omits messages"));
    /* What the trace cost. */
    ck_assert_str_eq(json_string_value(get(rep, "trace_record")), "cs");
    long long bytes = trace_dir_size(r.dir);
    ck_assert_int_gt(bytes, 0);
    ck_assert_int_eq(geti(rep, "trace_bytes"), bytes);
    ck_assert(getd(rep, "trace_bytes_per_op") == (double)bytes / 4);
    ck_assert_str_eq(json_string_value(get(rep, "trace_bytes_per_op_unit")), "CS entry");
    char *buf = text_of(rep);
    char want[128];
    snprintf(want, sizeof want, "trace: %.1f MB, %.0f bytes per CS entry (recorded: cs)\n",
             (double)bytes / 1e6, (double)bytes / 4);
    ck_assert_msg(strstr(buf, want), "%s", buf);
    ck_assert_msg(strstr(buf, "    messages_per_cs not computed: [trace] record omits messages\n"),
                  "%s", buf);
    ck_assert_msg(strstr(buf, "SAFE\n"), "%s", buf);
    free(buf);
    json_decref(rep);
}
END_TEST

START_TEST(test_record_without_cs_cannot_verify)
{
    /* Only messages: mutual exclusion has no entries to judge, and the
     * counter (4) above the traced exits (none) is no violation. */
    struct run r;
    basic_run_recording(&r, TRACE_CLASS_MESSAGES, "record = messages");
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    ck_assert_int_eq(evidence_exit_code(rep), 2);
    ck_assert_int_eq(geti(rep, "violations"), 0);
    const json_t *me = prop(rep, "mutual_exclusion");
    ck_assert(json_is_false(json_object_get(me, "judged")));
    ck_assert_str_eq(json_string_value(json_object_get(me, "verdict")), "cannot verify");
    ck_assert_str_eq(json_string_value(json_object_get(me, "evidence")),
                     "mutual_exclusion not checked: [trace] record omits cs (recorded: messages)");
    ck_assert(json_is_false(json_object_get(prop(rep, "counter"), "judged")));
    /* The resource is judged by the resource itself (run.json). */
    ck_assert(getb(prop(rep, "resource"), "held"));
    ck_assert(has_line(get(rep, "evidence.not_judged"), "mutual_exclusion"));
    ck_assert(json_is_null(get(rep, "cs_entries")));
    ck_assert(json_is_null(get(rep, "messages_per_cs")));
    ck_assert(json_is_integer(get(rep, "messages")));
    /* Per CS entry still, counted by the resource. */
    ck_assert_str_eq(json_string_value(get(rep, "trace_bytes_per_op_unit")),
                     "CS entry (the final counter)");
    char *buf = text_of(rep);
    ck_assert_msg(strstr(buf, "CANNOT VERIFY mutual_exclusion: mutual_exclusion not checked: "
                              "[trace] record omits cs (recorded: messages)\n"),
                  "%s", buf);
    ck_assert_msg(strstr(buf, "CANNOT VERIFY: no violation found, but [trace] record left out "
                              "what a property needs\n"),
                  "%s", buf);
    ck_assert_ptr_null(strstr(buf, "FAIL"));
    free(buf);
    json_decref(rep);
}
END_TEST

START_TEST(test_ring_partial_named)
{
    /* Node 2's file is a 64 KiB ring that lost its oldest records: every
     * property reading the nodes' files says it was judged on a partial
     * trace, from when, and why. */
    struct run r;
    run_new(&r);
    trace_config(&r, "max_size = 64KiB");
    trace_set_max(writer(&r, 2, 1), TRACE_MAX_MIN);
    for (int i = 0; i < 1500; i++)
        ev(&r, 2, 1, 10 + i % 900, TR_RECV, 0, 1, 0, 0, 0);
    cs_cycle(&r, 2, 1000, 1100, 2000, 1, 1);
    cs_cycle(&r, 3, 2500, 2600, 3000, 1, 2);
    run_finish(&r, run_json(3, 2));
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    const json_t *me = prop(rep, "mutual_exclusion");
    ck_assert(getb(me, "partial"));
    const char *why = json_string_value(json_object_get(me, "evidence"));
    ck_assert_ptr_nonnull(why);
    /* 1500 fillers, 6 records of the CS, the stop: 483 over 1,024 slots;
     * the oldest kept is a filler of time 10 + 483 % 900. */
    ck_assert_str_eq(why, "mutual_exclusion judged from 0.000 s on: node 2's trace lost its "
                          "oldest 483 records to its 64 KiB cap");
    /* The resource's count is not the traces': no note. */
    ck_assert_ptr_null(json_object_get(prop(rep, "resource"), "partial"));
    char *buf = text_of(rep);
    ck_assert_msg(strstr(buf, "  partial trace: mutual_exclusion judged from "), "%s", buf);
    free(buf);
    json_decref(rep);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    struct {
        const char *name;
        const TTest *tests[10];
    } cases[] = {
        {"metrics",
         {test_counts_and_cost, test_per_node, test_response_and_sync_delay,
          test_percentiles_nearest_rank, test_percentiles_round_up,
          test_sync_delay_excludes_failover, test_no_entries}},
        {"fairness", {test_fairness_equal, test_fairness_skewed}},
        {"safety",
         {test_overlap_detected, test_counter_mismatch, test_safe_run_checks_clean,
          test_crash_in_cs, test_stale_incarnation_not_pending, test_same_microsecond_handover,
          test_fenced_entry}},
        {"liveness",
         {test_pending_at_duration, test_pending_after_workload_done,
          test_liveness_needs_counted_entries, test_simulated_deadlock_not_live}},
        {"two_levels",
         {test_two_tokens_without_fault, test_dead_node_interval_ends_at_last_sign,
          test_paused_holder_superseded, test_ricart_pause_note_fits,
          test_ricart_order_across_restart}},
        {"waits", {test_waits_and_overtakes}},
        {"faults", {test_one_clock, test_fault_sources_and_election, test_fault_regeneration}},
        {"network",
         {test_partition_fault_line, test_drops_by_reason, test_stall_names_lost_message,
          test_stall_with_retransmit_and_loss, test_no_stall_when_nothing_waits,
          test_stall_without_lost_messages, test_repetitions_and_undos, test_command_partition}},
        {"network_old",
         {test_partition_without_link_records, test_trace_json_network, test_net_fault_replaced,
          test_retransmit_from_config}},
        {"trace_json", {test_trace_json_lines, test_trace_json_without_run_json}},
        {"output", {test_report_write, test_text_summary}},
        {"bad_input",
         {test_missing_run_dir, test_bad_run_json, test_missing_trace_dir, test_corrupt_times,
          test_damaged_run_json, test_run_json_strings_escaped}},
        {"evidence",
         {test_cut_trace_cannot_verify, test_cut_trace_violation_still_unsafe,
          test_cut_record_in_trace_json, test_start_failure_not_started,
          test_report_without_run_json, test_report_without_run_json_finds_overlap,
          test_torn_record_counted, test_overwritten_oldest_cannot_verify,
          test_supervisor_cut_overlap_not_judged, test_missing_or_short_trace_cannot_verify}},
        {"trace_record",
         {test_record_cs_without_messages, test_record_without_cs_cannot_verify,
          test_ring_partial_named}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        for (int j = 0; j < 10 && cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
    /* Real processes (run under the IPC lock, like every test that starts
     * a run). */
    TCase *tc = tcase_create("real_run");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_add_test(tc, test_real_pause);
    tcase_add_test(tc, test_real_record);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
