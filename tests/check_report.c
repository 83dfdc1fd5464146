/* Tests of src/report.c: metrics, safety verdicts and the trace export,
 * computed from synthetic run directories.
 *
 * Each test writes a run directory by hand: run.json with jansson and the
 * binary traces with the real trace writer, every record stamped with an
 * explicit time, so every expected number below is exact. */
#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/trace.h"
#include "ipc/util.h"
#include "ipc/wire.h"
#include "nodes/algo.h"
#include "nodes/runtime.h"
#include "src/report.h"

/* The centralized algorithm's message types (private to nodes/centralized.c). */
enum { T_REQUEST = MSG_RANGE_CENTRALIZED + 1, T_GRANT, T_RELEASE };

#define MAXN 8
#define MAXINC 3
#define COORD 1

/* ---- fixture: one temporary directory per TCase, removed afterwards ---- */

static char base[64];

static void base_setup(void)
{
    snprintf(base, sizeof base, "/tmp/check_report.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void base_teardown(void) { nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- building a run directory ---- */

struct run {
    char dir[128];
    struct trace_writer w[MAXN + 1][MAXINC + 1];
    bool open[MAXN + 1][MAXINC + 1];
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

/* A record written by node (in its own file). */
static void ev(struct run *r, int node, int inc, int64_t t, int kind, int peer, int type,
               int64_t key, int aux, int64_t a)
{
    struct trace_rec rec = {.t_us = t, .node = (uint16_t)node, .ev = (uint16_t)kind,
                            .peer = (uint16_t)peer, .type = (uint16_t)type, .key = key,
                            .aux = aux, .a = a};
    trace_emit(writer(r, node, inc), &rec);
}

/* A record written by the supervisor about node (crash, fault, ...). */
static void sup(struct run *r, int64_t t, int kind, int node, int peer, int aux, int64_t a)
{
    struct trace_rec rec = {.t_us = t, .node = (uint16_t)node, .ev = (uint16_t)kind,
                            .peer = (uint16_t)peer, .aux = aux, .a = a};
    trace_emit(writer(r, 0, 1), &rec);
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
    ck_assert_ptr_nonnull(strstr(detail(rep, "mutual_exclusion"), "nodes 2 and 3"));
    ck_assert_ptr_nonnull(strstr(detail(rep, "mutual_exclusion"), "1.500 ms"));
    json_decref(rep);

    int rc;
    char *out = capture_check(r.dir, &rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_nonnull(strstr(out, "FAIL mutual_exclusion: nodes 2 and 3"));
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
    ck_assert_int_eq(geti(rep, "safety.overlaps"), 0);
    ck_assert_int_eq(geti(rep, "safety.requests_pending_at_end"), 0);
    ck_assert(getb(rep, "safe"));
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
    ck_assert(json_is_true(json_object_get(prop(rep, "liveness"), "held")));
    ck_assert_str_eq(detail(rep, "liveness"),
                     "1 request still pending when the run stopped at its duration");
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
    ck_assert_ptr_nonnull(strstr(out, "FAIL liveness: 1 request was never granted"));
    free(out);
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
    /* 4 CS x 9 records, 3 runtime records, the start, and the 6 above. */
    ck_assert_int_eq(lines, 4 * 9 + 3 + 1 + 6);
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
    ck_assert_ptr_nonnull(strstr(buf, "at 2000 ms: kill coordinator (node 1)"));
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

/* A corrupt record can hold any time: a wait that began in the far past is
 * the longest there is, not a negative one (nor a signed overflow). */
START_TEST(test_corrupt_times)
{
    struct run r;
    run_new(&r);
    ev(&r, 2, 1, INT64_MIN + 5, TR_REQUEST, 0, 0, 0, 0, 0);
    ev(&r, 2, 1, 1100, TR_ENTER, 0, 0, 1, 0, 0);
    ev(&r, 2, 1, 2000, TR_EXIT, 0, 0, 1, 0, 1);
    run_finish(&r, run_json(3, 1));
    json_t *rep = build(r.dir);
    ck_assert_double_gt(getd(rep, "response_ms.max"), 1e15);
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
        {"liveness", {test_pending_at_duration, test_pending_after_workload_done}},
        {"trace_json", {test_trace_json_lines, test_trace_json_without_run_json}},
        {"output", {test_report_write, test_text_summary}},
        {"bad_input",
         {test_missing_run_dir, test_bad_run_json, test_missing_trace_dir, test_corrupt_times}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        for (int j = 0; j < 10 && cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
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
