/* Tests of the Raft report (src/report_raft.c) and of `distlab trace` on
 * Raft records, from synthetic run directories.
 *
 * Each test writes a run directory by hand: run.json with jansson and the
 * binary traces with the real trace writer (commands through
 * trace_emit_data, so the side files are real too), every record stamped
 * with an explicit time, so every expected number below is exact. Each
 * property is tested with a trace that violates it and with traces that
 * come close without violating it. */
#include <check.h>
#include <inttypes.h>
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
#include "nodes/algo.h"
#include "src/config.h"
#include "src/report.h"
#include "tests/helpers.h"

#define MAXP     8 /* process ids 0..MAXP: nodes and clients */
#define MAXINC   3
#define T_APPEND (MSG_RANGE_RAFT + 1)
#define T_VOTE   (MSG_RANGE_RAFT + 2)

static char base[64];

static void base_setup(void)
{
    char *d = h_tmpdir();
    ck_assert_uint_lt(strlen(d), sizeof base);
    strcpy(base, d);
    free(d);
}

static void base_teardown(void)
{
    h_rmtree(base);
}

/* ---- building a run directory ---- */

struct run {
    char dir[128];
    int n; /* servers 1..n; client K is process n + K */
    struct trace_writer w[MAXP + 1][MAXINC + 1];
    bool open[MAXP + 1][MAXINC + 1];
    bool ended[MAXP + 1][MAXINC + 1];
    int64_t t_max;
    json_t *faults; /* run.json's fault list */
};

static void run_new(struct run *r, int n)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->faults = json_array();
    snprintf(r->dir, sizeof r->dir, "%s/run.XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
}

static struct trace_writer *writer(struct run *r, int p, int inc)
{
    ck_assert_int_le(p, MAXP);
    ck_assert_int_le(inc, MAXINC);
    if (!r->open[p][inc]) {
        char err[DL_ERRLEN];
        ck_assert_msg(trace_open(&r->w[p][inc], r->dir, p, inc, 0, err) == 0, "%s", err);
        r->open[p][inc] = true;
    }
    return &r->w[p][inc];
}

static void emit(struct run *r, int p, int inc, struct trace_rec *rec, const char *cmd)
{
    rec->node = (uint16_t)p;
    rec->incarnation = inc;
    if (cmd)
        trace_emit_data_at(writer(r, p, inc), rec, cmd, (uint32_t)strlen(cmd));
    else
        trace_emit_at(writer(r, p, inc), rec);
    if (rec->t_us > r->t_max)
        r->t_max = rec->t_us;
    if (rec->ev == TR_STOP || rec->ev == TR_CRASH)
        r->ended[p][inc] = true;
}

static void role(struct run *r, int node, int inc, int64_t t, int role, int64_t term)
{
    struct trace_rec rec = {.t_us = t, .ev = TR_ROLE, .aux = role, .key = term};
    emit(r, node, inc, &rec, NULL);
}

static void apply(struct run *r, int node, int inc, int64_t t, int64_t index, int64_t term,
                  const char *cmd)
{
    struct trace_rec rec = {.t_us = t, .ev = TR_APPLY, .a = index, .key = term};
    emit(r, node, inc, &rec, cmd);
}

static void commit(struct run *r, int node, int inc, int64_t t, int64_t index, int64_t term)
{
    struct trace_rec rec = {.t_us = t, .ev = TR_COMMIT, .a = index, .key = term};
    emit(r, node, inc, &rec, NULL);
}

static void send(struct run *r, int from, int64_t t, int to, int type, int64_t term)
{
    struct trace_rec rec = {
        .t_us = t, .ev = TR_SEND, .peer = (uint16_t)to, .type = (uint16_t)type, .key = term};
    emit(r, from, 1, &rec, NULL);
}

static void invoke(struct run *r, int client, int64_t t, int64_t id, const char *cmd)
{
    struct trace_rec rec = {.t_us = t, .ev = TR_INVOKE, .key = id};
    emit(r, r->n + client, 1, &rec, cmd);
}

static void outcome(struct run *r, int client, int64_t t, int ev, int64_t id, int server,
                    int64_t index, int64_t term)
{
    struct trace_rec rec = {
        .t_us = t, .ev = (uint16_t)ev, .key = id, .peer = (uint16_t)server, .a = index, .b = term};
    emit(r, r->n + client, 1, &rec, NULL);
}

/* A record of the supervisor's about node (crash, pause, fault, ...). */
static void sup(struct run *r, int64_t t, int ev, int node, int peer, int aux, int64_t a)
{
    struct trace_rec rec = {
        .t_us = t, .ev = (uint16_t)ev, .peer = (uint16_t)peer, .aux = aux, .a = a};
    struct trace_writer *w = writer(r, 0, 1);
    rec.node = (uint16_t)node;
    rec.incarnation = 1;
    trace_emit_at(w, &rec);
    if (t > r->t_max)
        r->t_max = t;
    if ((ev == TR_CRASH || ev == TR_STOP) && node >= 1 && node <= MAXP)
        r->ended[node][1] = true;
}

static void fault(struct run *r, int64_t t, int action, int target, int number)
{
    sup(r, t, TR_FAULT, 0, target, action, number);
    json_array_append_new(r->faults,
                          json_pack("{s:i, s:f, s:f, s:s, s:s, s:i}", "number", number, "at_ms",
                                    (double)t / 1000.0, "t_ms", (double)t / 1000.0, "action",
                                    fault_action_name(action), "target",
                                    target ? "leader" : "1,2/3", "node", target));
}

static void link_rec(struct run *r, int64_t t, int from, int to, bool cut)
{
    struct trace_rec rec = {
        .t_us = t, .ev = TR_LINK, .peer = (uint16_t)from, .key = to, .aux = cut};
    struct trace_writer *w = writer(r, 0, 1);
    trace_emit_at(w, &rec);
}

/* Close every trace (each life not ended gets its stop record) and write
 * run.json. */
static void run_finish(struct run *r)
{
    int64_t t_end = r->t_max + 1;
    for (int p = 1; p <= MAXP; p++)
        for (int i = 1; i <= MAXINC; i++)
            if ((r->open[p][i] || (i == 1 && p <= r->n)) && !r->ended[p][i]) {
                struct trace_rec rec = {.t_us = t_end, .ev = TR_STOP};
                emit(r, p, i, &rec, NULL);
            }
    sup(r, t_end, TR_STOP, 0, 0, 0, 0);
    json_t *per = json_array();
    for (int k = 1; k <= r->n; k++) {
        int incs = 0;
        for (int i = 1; i <= MAXINC; i++)
            if (r->open[k][i])
                incs = i;
        json_array_append_new(
            per, json_pack("{s:i, s:i, s:i}", "node", k, "incarnations", incs, "crashes", 0));
    }
    json_t *per_client = json_array();
    for (int p = r->n + 1; p <= MAXP; p++)
        if (r->open[p][1])
            json_array_append_new(per_client, json_pack("{s:i, s:i, s:i}", "client", p - r->n, "id",
                                                        p, "incarnations", 1));
    for (int p = 0; p <= MAXP; p++)
        for (int i = 0; i <= MAXINC; i++)
            if (r->open[p][i])
                trace_close(&r->w[p][i]);
    json_t *o = json_pack("{s:s, s:i, s:i, s:s, s:s, s:f, s:b, s:s, s:b, s:I, s:I, s:o, s:o, s:o}",
                          "algorithm", "raft", "nodes", r->n, "seed", 7, "name", "unit", "run_id",
                          "1a2b3c4d", "duration_s", (double)t_end / 1e6, "workload_done", 1,
                          "stop_reason", "workload done", "started", 1, "workload_start_us",
                          (json_int_t)0, "stop_us", (json_int_t)t_end, "per_node", per, "faults",
                          r->faults, "per_client", per_client);
    ck_assert_ptr_nonnull(o);
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", r->dir);
    ck_assert_int_eq(json_dump_file(o, path, JSON_INDENT(2)), 0);
    json_decref(o);
}

/* ---- reading a report ---- */

static json_t *build(const char *dir)
{
    char err[DL_ERRLEN] = "";
    json_t *rep = NULL;
    ck_assert_msg(report_build(dir, &rep, err) == 0, "report_build: %s", err);
    return rep;
}

static const json_t *get(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    ck_assert_msg(v != NULL, "report has no %s", key);
    return v;
}

static json_int_t geti(const json_t *o, const char *key)
{
    const json_t *v = get(o, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

static double getd(const json_t *o, const char *key)
{
    const json_t *v = get(o, key);
    ck_assert_msg(json_is_number(v), "%s is not a number", key);
    return json_number_value(v);
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

static const char *verdict(const json_t *rep, const char *name)
{
    return json_string_value(json_object_get(prop(rep, name), "verdict"));
}

static const char *detail(const json_t *rep, const char *name)
{
    return json_string_value(json_object_get(prop(rep, name), "detail"));
}

/* Every property passes except those named (comma-separated), which fail. */
static void only_failing(const json_t *rep, const char *failing)
{
    static const char *const all[] = {
        "election_safety",       "log_matching", "state_machine_safety", "leader_completeness",
        "acknowledged_not_lost", "apply_order",  "applied_once",         "failed_not_applied"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, ",%s,", all[i]);
        char list[256];
        snprintf(list, sizeof list, ",%s,", failing);
        const char *want = strstr(list, pat) ? "fail" : "pass";
        ck_assert_msg(strcmp(verdict(rep, all[i]), want) == 0, "%s: %s, expected %s (%s)", all[i],
                      verdict(rep, all[i]), want, detail(rep, all[i]));
    }
}

/* The violation of property prop in the list (the first), or NULL. */
static const json_t *violation_of(const json_t *rep, const char *property)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rep, "violation_list"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "property")), property) == 0)
            return v;
    }
    return NULL;
}

static bool has_node(const json_t *v, int node)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(v, "nodes"), i, x)
    {
        if (json_integer_value(x) == node)
            return true;
    }
    return false;
}

static char *capture(int (*fn)(const char *, FILE *), const char *dir, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    *rc = fn(dir, f);
    fclose(f);
    return buf;
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

static bool story_has(const json_t *rep, const char *text)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(rep, "story"), i, l)
    {
        if (strstr(json_string_value(l), text))
            return true;
    }
    return false;
}

/* ---- a healthy run ---- */

/* 3 servers, 2 clients. Node 1 is elected in term 1 at 150 ms; client 1's
 * two commands commit at indexes 1 and 2 and are applied everywhere;
 * client 2's read times out. Latencies 800 us and 600 us. */
static void healthy_run(struct run *r)
{
    run_new(r, 3);
    for (int k = 1; k <= 3; k++)
        role(r, k, 1, 10000 + k, ROLE_FOLLOWER, 0);
    role(r, 1, 1, 100000, ROLE_CANDIDATE, 1);
    send(r, 1, 100010, 2, T_VOTE, 1);
    send(r, 1, 100011, 3, T_VOTE, 1);
    role(r, 2, 1, 100100, ROLE_FOLLOWER, 1);
    role(r, 3, 1, 100100, ROLE_FOLLOWER, 1);
    role(r, 1, 1, 150000, ROLE_LEADER, 1);
    invoke(r, 1, 1000000, 1, "put a 1");
    send(r, 1, 1000100, 2, T_APPEND, 1);
    send(r, 1, 1000101, 3, T_APPEND, 1);
    commit(r, 1, 1, 1000400, 1, 1);
    apply(r, 1, 1, 1000500, 1, 1, "put a 1");
    outcome(r, 1, 1000800, TR_OK, 1, 1, 1, 1);
    invoke(r, 1, 2000000, 2, "put b \"two\"\n");
    send(r, 1, 2000100, 2, T_APPEND, 1);
    commit(r, 1, 1, 2000400, 2, 1);
    apply(r, 1, 1, 2000500, 2, 1, "put b \"two\"\n");
    outcome(r, 1, 2000600, TR_OK, 2, 1, 2, 1);
    for (int k = 2; k <= 3; k++) {
        commit(r, k, 1, 2100000 + k, 2, 1);
        apply(r, k, 1, 2100010 + k, 1, 1, "put a 1");
        apply(r, k, 1, 2100020 + k, 2, 1, "put b \"two\"\n");
    }
    invoke(r, 2, 3000000, 1, "get a");
    outcome(r, 2, 5000000, TR_TIMEOUT, 1, 0, 0, 0);
}

START_TEST(test_healthy_run)
{
    struct run r;
    healthy_run(&r);
    run_finish(&r);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "safe");
    ck_assert_int_eq(geti(rep, "violations"), 0);
    ck_assert_int_eq(geti(rep, "elections"), 1);
    ck_assert_int_eq(geti(rep, "elections_won"), 1);
    ck_assert_int_eq(geti(rep, "max_leaders_per_term"), 1);
    const json_t *l = json_array_get(get(rep, "leaders"), 0);
    ck_assert_int_eq(json_array_size(get(rep, "leaders")), 1);
    ck_assert_int_eq(geti(l, "term"), 1);
    ck_assert_int_eq(geti(l, "node"), 1);
    ck_assert(getd(l, "at_ms") == 150.0);
    ck_assert_int_eq(geti(rep, "commits"), 2);
    ck_assert_int_eq(geti(rep, "applies"), 6);
    ck_assert_int_eq(geti(rep, "commit_index"), 2);
    const json_t *lat = get(rep, "commit_latency_ms");
    ck_assert(getd(lat, "p50") == 0.6);
    ck_assert(getd(lat, "p99") == 0.8);
    ck_assert(getd(lat, "max") == 0.8);
    /* 2 ok over the window from the first invoke to the last ok. */
    ck_assert(getd(rep, "throughput_window_ms") == 1000.6);
    ck_assert(getd(rep, "throughput_ops_per_s") == 2 * 1e6 / 1000600.0);
    const json_t *ops = get(rep, "ops");
    ck_assert_int_eq(geti(ops, "invoked"), 3);
    ck_assert_int_eq(geti(ops, "ok"), 2);
    ck_assert_int_eq(geti(ops, "timeout"), 1);
    ck_assert_int_eq(geti(ops, "failed"), 0);
    ck_assert_int_eq(geti(ops, "pending"), 0);
    ck_assert_int_eq(geti(rep, "acknowledged_lost"), 0);
    ck_assert(json_is_true(get(rep, "logs_agree")));
    ck_assert_int_eq(geti(rep, "messages"), 5);
    ck_assert_int_eq(json_array_size(get(rep, "failover_ms")), 0);
    ck_assert_int_eq(json_array_size(get(rep, "violation_list")), 0);
    only_failing(rep, "");
    ck_assert(story_has(rep, "node 1 became leader of term 1"));
    int rc;
    char *out = capture(report_check, r.dir, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(out, "PASS election_safety") && strstr(out, "\nsafe\n"), "%s", out);
    free(out);
    char *text = text_of(rep);
    ck_assert_msg(strstr(text, "elections          1 term with a candidate or a leader: 1 with "
                               "a leader, 0 without (0 split votes)"),
                  "%s", text);
    ck_assert_msg(strstr(text, "client operations  3 invoked: 2 ok, 0 failed, 1 timed out"), "%s",
                  text);
    ck_assert_msg(strstr(text, "commit latency     p50 0.600 ms, p99 0.800 ms, max 0.800 ms"), "%s",
                  text);
    ck_assert_msg(strstr(text, "   150.000 ms  node 1 became leader of term 1"), "%s", text);
    free(text);
    json_decref(rep);
}
END_TEST

/* ---- election safety ---- */

START_TEST(test_two_leaders_in_a_term)
{
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_CANDIDATE, 2);
    role(&r, 1, 1, 150000, ROLE_LEADER, 2);
    role(&r, 2, 1, 190000, ROLE_CANDIDATE, 2);
    role(&r, 2, 1, 200000, ROLE_LEADER, 2);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "election_safety");
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "unsafe");
    ck_assert_int_eq(geti(rep, "max_leaders_per_term"), 2);
    const json_t *v = violation_of(rep, "election_safety");
    ck_assert_ptr_nonnull(v);
    ck_assert(has_node(v, 1) && has_node(v, 2));
    ck_assert_int_eq(geti(v, "term"), 2);
    ck_assert(getd(v, "at_ms") == 200.0);
    ck_assert_str_eq(json_string_value(get(v, "text")),
                     "term 2 had two leaders: node 1 from 150.000 ms and node 2 from 200.000 ms");
    int rc;
    char *out = capture(report_check, r.dir, &rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(out, "FAIL election_safety") &&
                      strstr(out, "election_safety at 200.000 ms: term 2 had two leaders"),
                  "%s", out);
    free(out);
    json_decref(rep);
}
END_TEST

START_TEST(test_leaders_of_different_terms)
{
    /* One leader per term, the same node leading again in a later term,
     * and a node's leader record repeated in its term: no violation. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    role(&r, 1, 1, 120000, ROLE_LEADER, 1);
    role(&r, 1, 1, 300000, ROLE_FOLLOWER, 2);
    role(&r, 2, 1, 310000, ROLE_LEADER, 2);
    role(&r, 2, 1, 500000, ROLE_FOLLOWER, 3);
    role(&r, 1, 1, 510000, ROLE_LEADER, 3);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "");
    ck_assert_int_eq(geti(rep, "max_leaders_per_term"), 1);
    ck_assert_int_eq(json_array_size(get(rep, "leaders")), 3);
    ck_assert(story_has(rep, "node 1 stopped leading term 1: follower in term 2 (it saw a "
                             "higher term)"));
    json_decref(rep);
}
END_TEST

/* ---- log matching and state machine safety ---- */

START_TEST(test_two_commands_one_index_and_term)
{
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 2);
    apply(&r, 1, 1, 1000000, 3, 2, "put x 1");
    apply(&r, 2, 1, 1100000, 3, 2, "put x 2");
    apply(&r, 3, 1, 1200000, 3, 2, "put x 1");
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "log_matching,state_machine_safety");
    ck_assert(json_is_false(get(rep, "logs_agree")));
    const json_t *v = violation_of(rep, "log_matching");
    ck_assert_int_eq(geti(v, "index"), 3);
    ck_assert_int_eq(geti(v, "term"), 2);
    ck_assert(has_node(v, 1) && has_node(v, 2) && !has_node(v, 3));
    ck_assert(getd(v, "at_ms") == 1100.0);
    char h1[20], h2[20], want[400];
    snprintf(h1, sizeof h1, "%016" PRIx64, (uint64_t)trace_hash("put x 1", 7));
    snprintf(h2, sizeof h2, "%016" PRIx64, (uint64_t)trace_hash("put x 2", 7));
    snprintf(want, sizeof want,
             "index 3, term 2 holds two commands: node 1 applied %s at 1000.000 ms, node 2 "
             "applied %s at 1100.000 ms",
             h1, h2);
    ck_assert_str_eq(json_string_value(get(v, "text")), want);
    /* One violation per index for state machine safety, naming the first
     * disagreement. */
    ck_assert_int_eq(geti(rep, "violations"), 2);
    json_decref(rep);
}
END_TEST

START_TEST(test_index_applied_with_two_terms)
{
    /* Node 2 applies index 3 from term 3 where node 1 applied term 2's
     * entry; no node claimed leadership of term 3, so no leader is to blame
     * for leader completeness. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 2);
    apply(&r, 1, 1, 1000000, 3, 2, "put x 1");
    apply(&r, 2, 1, 3000000, 3, 3, "put y 1");
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "state_machine_safety");
    const json_t *v = violation_of(rep, "state_machine_safety");
    ck_assert_int_eq(geti(v, "index"), 3);
    ck_assert(getd(v, "at_ms") == 3000.0);
    ck_assert(has_node(v, 1) && has_node(v, 2));
    json_decref(rep);
}
END_TEST

START_TEST(test_commit_record_disagrees)
{
    /* A commit record naming another term at an applied index. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 2);
    apply(&r, 1, 1, 1000000, 3, 2, "put x 1");
    commit(&r, 3, 1, 1500000, 3, 1);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "state_machine_safety");
    const json_t *v = violation_of(rep, "state_machine_safety");
    ck_assert_str_eq(json_string_value(get(v, "text")),
                     "index 3: node 1 applied it in term 2 at 1000.000 ms, node 3 committed it in "
                     "term 1 at 1500.000 ms");
    json_decref(rep);
}
END_TEST

START_TEST(test_reapplied_after_restart_agrees)
{
    /* Node 2 applies 1..3, crashes, and its next incarnation applies 1..3
     * again from its log; node 3 applies only 3 after a snapshot. Commit
     * records agree. No violation. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    const char *cmd[] = {"", "put a 1", "put b 2", "put c 3"};
    for (int i = 1; i <= 3; i++) {
        apply(&r, 1, 1, 1000000 + i, i, 1, cmd[i]);
        commit(&r, 2, 1, 1100000 + i, i, 1);
        apply(&r, 2, 1, 1100010 + i, i, 1, cmd[i]);
    }
    sup(&r, 1200000, TR_CRASH, 2, 0, SIGKILL, 0);
    sup(&r, 1300000, TR_RESTART, 2, 0, 0, 2);
    for (int i = 1; i <= 3; i++)
        apply(&r, 2, 2, 1400000 + i, i, 1, cmd[i]);
    apply(&r, 3, 1, 1500000, 3, 1, cmd[3]);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "");
    ck_assert_int_eq(geti(rep, "commits"), 3);
    ck_assert_int_eq(geti(rep, "applies"), 10);
    ck_assert(json_is_true(get(rep, "logs_agree")));
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "safe");
    json_decref(rep);
}
END_TEST

/* ---- leader completeness ---- */

START_TEST(test_leader_without_committed_entry)
{
    /* Index 3 is applied by node 1 in term 2 at 1000 ms; node 2 becomes
     * leader of term 3 at 2000 ms, and index 3 is then applied with term
     * 3's entry: the leader of term 3 lacked a committed entry. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 2);
    apply(&r, 1, 1, 1000000, 3, 2, "put x 1");
    role(&r, 1, 1, 1900000, ROLE_FOLLOWER, 3);
    role(&r, 2, 1, 2000000, ROLE_LEADER, 3);
    apply(&r, 2, 1, 2500000, 3, 3, "put y 1");
    apply(&r, 3, 1, 2600000, 3, 3, "put y 1");
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "state_machine_safety,leader_completeness");
    const json_t *v = violation_of(rep, "leader_completeness");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(geti(v, "index"), 3);
    ck_assert_int_eq(geti(v, "term"), 3);
    ck_assert(has_node(v, 2));
    ck_assert(getd(v, "at_ms") == 2500.0);
    ck_assert_str_eq(json_string_value(get(v, "text")),
                     "node 2 became leader of term 3 at 2000.000 ms without the entry at index 3 "
                     "that node 1 had applied (term 2) at 1000.000 ms: node 2 applied an entry of "
                     "term 3 there at 2500.000 ms");
    /* Both applies of term 3 conflict; each is a leader completeness
     * violation, state machine safety counts the index once. */
    ck_assert_int_eq(geti(rep, "violations"), 3);
    json_decref(rep);
}
END_TEST

START_TEST(test_later_leader_keeps_committed_entry)
{
    /* The leader of term 3 applies index 3 with term 2's entry (it had it)
     * and adds index 4 of its own term: no violation. An entry of a later
     * term at an index nobody had applied before is no violation either. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 2);
    apply(&r, 1, 1, 1000000, 3, 2, "put x 1");
    role(&r, 2, 1, 2000000, ROLE_LEADER, 3);
    apply(&r, 2, 1, 2500000, 3, 2, "put x 1");
    apply(&r, 2, 1, 2600000, 4, 3, "put z 1");
    apply(&r, 1, 1, 2700000, 4, 3, "put z 1");
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "");
    json_decref(rep);
}
END_TEST

/* ---- acknowledged commands ---- */

START_TEST(test_acknowledged_command_replaced)
{
    /* Client 1's "put k v" is acknowledged at index 5, but every node
     * applied "put k w" there. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    invoke(&r, 1, 1000000, 9, "put k v");
    for (int k = 1; k <= 3; k++)
        apply(&r, k, 1, 1000100 + k, 5, 1, "put k w");
    outcome(&r, 1, 1000500, TR_OK, 9, 1, 5, 1);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "acknowledged_not_lost");
    ck_assert_int_eq(geti(rep, "acknowledged_lost"), 1);
    ck_assert(json_is_true(get(rep, "logs_agree")));
    const json_t *v = violation_of(rep, "acknowledged_not_lost");
    ck_assert_int_eq(geti(v, "index"), 5);
    ck_assert(has_node(v, 1));
    char hv[20], hw[20], want[480];
    snprintf(hv, sizeof hv, "%016" PRIx64, (uint64_t)trace_hash("put k v", 7));
    snprintf(hw, sizeof hw, "%016" PRIx64, (uint64_t)trace_hash("put k w", 7));
    snprintf(want, sizeof want,
             "client 1's operation 9 (command %s) was acknowledged by node 1 at 1000.500 ms as "
             "committed at index 5 (term 1), but node 1 applied %s (term 1) there at "
             "1000.101 ms",
             hv, hw);
    ck_assert_str_eq(json_string_value(get(v, "text")), want);
    json_decref(rep);
}
END_TEST

START_TEST(test_acknowledged_never_applied)
{
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    invoke(&r, 1, 1000000, 1, "put k v");
    outcome(&r, 1, 1000500, TR_OK, 1, 1, 6, 1);
    /* A failed and a timed-out operation promise nothing. */
    invoke(&r, 1, 2000000, 2, "put k u");
    outcome(&r, 1, 2000500, TR_FAIL, 2, 2, 0, 0);
    invoke(&r, 1, 3000000, 3, "put k t");
    outcome(&r, 1, 4000000, TR_TIMEOUT, 3, 0, 0, 0);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "acknowledged_not_lost");
    const json_t *v = violation_of(rep, "acknowledged_not_lost");
    ck_assert_msg(strstr(json_string_value(get(v, "text")), "and no node applied index 6"), "%s",
                  json_string_value(get(v, "text")));
    const json_t *ops = get(rep, "ops");
    ck_assert_int_eq(geti(ops, "failed"), 1);
    ck_assert_int_eq(geti(ops, "timeout"), 1);
    json_decref(rep);
}
END_TEST

START_TEST(test_acknowledged_without_invoke_cannot_verify)
{
    /* An answer whose invoke record is not in the traces cannot be
     * checked: no violation, and no "safe". */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    apply(&r, 1, 1, 1000100, 1, 1, "put k v");
    outcome(&r, 1, 1000500, TR_OK, 1, 1, 1, 1);
    run_finish(&r);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(verdict(rep, "acknowledged_not_lost"), "cannot verify");
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    ck_assert_int_eq(geti(rep, "violations"), 0);
    int rc;
    char *out = capture(report_check, r.dir, &rc);
    ck_assert_int_eq(rc, 2);
    free(out);
    json_decref(rep);
}
END_TEST

/* ---- apply order ---- */

START_TEST(test_index_applied_twice_in_one_life)
{
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    apply(&r, 1, 1, 1000000, 1, 1, "put a 1");
    apply(&r, 1, 1, 1000100, 2, 1, "put a 2");
    apply(&r, 1, 1, 1000200, 2, 1, "put a 2");
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "apply_order");
    const json_t *v = violation_of(rep, "apply_order");
    ck_assert_str_eq(json_string_value(get(v, "text")),
                     "node 1 (incarnation 1) applied index 2 at 1000.200 ms after it had applied "
                     "index 2");
    json_decref(rep);
}
END_TEST

START_TEST(test_missing_client_trace_cannot_verify)
{
    /* run.json lists client 1; its trace is gone: its invokes and answers
     * are unknown, so no verdict can say "safe". */
    struct run r;
    healthy_run(&r);
    run_finish(&r);
    char path[256];
    snprintf(path, sizeof path, "%s/trace/n4.1.bin", r.dir);
    ck_assert_int_eq(unlink(path), 0);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "cannot verify");
    const json_t *gaps = json_object_get(get(rep, "evidence"), "gaps");
    bool found = false;
    size_t i;
    json_t *g;
    json_array_foreach(gaps, i, g)
    {
        found |=
            strcmp(json_string_value(g), "the trace of client 1 (incarnation 1) is missing") == 0;
    }
    ck_assert_msg(found, "no gap names client 1's trace");
    json_decref(rep);
}
END_TEST

/* ---- each command applied once ---- */

START_TEST(test_command_applied_twice)
{
    /* Client 1's command applied at index 2 and again at index 4 (a retry
     * not recognised); client 2 submits "put k v" twice, which lands at
     * two indexes: two commands that look alike, no violation. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    invoke(&r, 1, 1000000, 1, "c1-1");
    invoke(&r, 2, 1000001, 1, "put k v");
    invoke(&r, 2, 1000002, 2, "put k v");
    apply(&r, 1, 1, 1000100, 1, 1, "");
    apply(&r, 1, 1, 1000200, 2, 1, "c1-1");
    apply(&r, 1, 1, 1000300, 3, 1, "put k v");
    apply(&r, 1, 1, 1000400, 4, 1, "c1-1");
    apply(&r, 1, 1, 1000500, 5, 1, "put k v");
    /* A retry recognised as one: applied as nothing at its second index. */
    apply(&r, 1, 1, 1000600, 6, 1, "");
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "applied_once");
    const json_t *v = violation_of(rep, "applied_once");
    ck_assert_int_eq(geti(v, "index"), 4);
    ck_assert(getd(v, "at_ms") == 1000.4);
    char h[20], want[300];
    snprintf(h, sizeof h, "%016" PRIx64, (uint64_t)trace_hash("c1-1", 4));
    snprintf(want, sizeof want,
             "command %s was applied at two indexes: 2 (node 1 at 1000.200 ms) and 4 (node 1 "
             "at 1000.400 ms)",
             h);
    ck_assert_str_eq(json_string_value(get(v, "text")), want);
    ck_assert_int_eq(geti(rep, "violations"), 1);
    json_decref(rep);
}
END_TEST

START_TEST(test_failed_but_applied)
{
    /* Client 1's operation 3 is answered "failed" (definitely not
     * applied), yet its command was applied at index 2. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    invoke(&r, 1, 1000000, 3, "c1-3");
    apply(&r, 1, 1, 1000200, 2, 1, "c1-3");
    outcome(&r, 1, 1000300, TR_FAIL, 3, 1, 0, 0);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "failed_not_applied");
    const json_t *v = violation_of(rep, "failed_not_applied");
    char h[20], want[300];
    snprintf(h, sizeof h, "%016" PRIx64, (uint64_t)trace_hash("c1-3", 4));
    snprintf(want, sizeof want,
             "client 1's operation 3 (command %s) failed at 1000.300 ms, but node 1 applied it "
             "at index 2 at 1000.200 ms",
             h);
    ck_assert_str_eq(json_string_value(get(v, "text")), want);
    json_decref(rep);
}
END_TEST

static void truncate_rec(struct run *r, int node, int64_t t, int64_t from, int64_t to,
                         int64_t term)
{
    struct trace_rec rec = {.t_us = t, .ev = TR_TRUNCATE, .a = from, .b = to, .key = term};
    emit(r, node, 1, &rec, NULL);
}

START_TEST(test_rollback_of_uncommitted_and_committed)
{
    /* Node 3 rolls back entries 2..4 of term 1 that nobody committed: a
     * story line, no violation. Then node 2 rolls back entry 1 of term 1,
     * which node 1 had applied: committed_not_rolled_back fails, naming
     * both nodes, the index, the term and the time. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    apply(&r, 1, 1, 1000100, 1, 1, "c1-1");
    truncate_rec(&r, 3, 1500000, 2, 4, 1);
    run_finish(&r);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(verdict(rep, "committed_not_rolled_back"), "pass");
    ck_assert_int_eq(geti(rep, "rollbacks"), 1);
    ck_assert_int_eq(geti(rep, "rolled_back_entries"), 3);
    ck_assert(story_has(rep, "node 3 rolled back its log entries 2..4 (from term 1)"));
    json_decref(rep);

    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    apply(&r, 1, 1, 1000100, 1, 1, "c1-1");
    truncate_rec(&r, 2, 1500000, 1, 1, 1);
    run_finish(&r);
    rep = build(r.dir);
    only_failing(rep, "committed_not_rolled_back");
    const json_t *v = violation_of(rep, "committed_not_rolled_back");
    ck_assert(has_node(v, 2) && has_node(v, 1));
    ck_assert_int_eq(geti(v, "index"), 1);
    ck_assert_str_eq(json_string_value(get(v, "text")),
                     "node 2 rolled back its entry 1 (term 1) at 1500.000 ms, which node 1 "
                     "applied at 1000.100 ms");
    json_decref(rep);
}
END_TEST

/* ---- failovers and the story ---- */

START_TEST(test_failover_after_kill)
{
    /* Fault 1 kills leader node 1 (term 1) at 2 s; node 2 is elected in
     * term 2 180 ms later. A later crash of a follower is no failover. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    fault(&r, 2000000, FAULT_KILL, 1, 1);
    sup(&r, 2000300, TR_CRASH, 1, 0, SIGKILL, 0);
    role(&r, 2, 1, 2150000, ROLE_CANDIDATE, 2);
    role(&r, 3, 1, 2151000, ROLE_FOLLOWER, 2);
    role(&r, 2, 1, 2180000, ROLE_LEADER, 2);
    sup(&r, 3000000, TR_CRASH, 3, 0, SIGKILL, 0);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "");
    ck_assert_int_eq(json_array_size(get(rep, "failover_ms")), 1);
    ck_assert(json_number_value(json_array_get(get(rep, "failover_ms"), 0)) == 180.0);
    const json_t *fo = json_array_get(get(rep, "failovers"), 0);
    ck_assert_str_eq(json_string_value(get(fo, "kind")), "kill");
    ck_assert_str_eq(json_string_value(get(fo, "source")), "schedule");
    ck_assert_str_eq(json_string_value(get(fo, "fault")), "fault.1");
    ck_assert_int_eq(geti(fo, "node"), 1);
    ck_assert_int_eq(geti(fo, "term"), 1);
    ck_assert_int_eq(geti(fo, "new_leader"), 2);
    ck_assert_int_eq(geti(fo, "new_term"), 2);
    ck_assert(getd(fo, "elected_at_ms") == 2180.0);
    ck_assert(story_has(rep, "fault.1: kill node 1, leader of term 1"));
    ck_assert(story_has(rep, "node 1, leader of term 1, crashed (SIGKILL)"));
    ck_assert(story_has(rep, "node 2 became leader of term 2, 180.000 ms after the kill of node 1 "
                             "(leader of term 1)"));
    /* The fault's outcome says the node was the leader, and who followed. */
    const json_t *f = json_array_get(get(rep, "faults"), 0);
    const char *out = json_string_value(get(f, "outcome"));
    ck_assert_msg(strstr(out, "node 1 was the leader (term 1); node 2 became leader (term 2) at "
                              "2180.000 ms, 180.000 ms later") &&
                      !strstr(out, "critical section"),
                  "%s", out);
    f = json_array_get(get(rep, "faults"), 1);
    ck_assert_str_eq(json_string_value(get(f, "source")), "external");
    ck_assert_str_eq(json_string_value(get(f, "outcome")), "node 3 was not the current leader");
    char *text = text_of(rep);
    ck_assert_msg(strstr(text, "failover           kill of leader node 1 (fault.1) at 2000.000 ms: "
                               "node 2 leader of term 2 at 2180.000 ms, 180.000 ms later"),
                  "%s", text);
    free(text);
    json_decref(rep);
}
END_TEST

START_TEST(test_failover_external_crash_and_pause)
{
    /* kill -9 from outside (a crash record only), then a pause of the next
     * leader; the paused leader resumes and steps down on a higher term. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    sup(&r, 1000000, TR_CRASH, 1, 0, SIGKILL, 0);
    role(&r, 2, 1, 1250000, ROLE_LEADER, 2);
    sup(&r, 2000000, TR_PAUSE, 2, 0, SIGSTOP, 0);
    role(&r, 3, 1, 2200000, ROLE_CANDIDATE, 3);
    role(&r, 3, 1, 2300000, ROLE_LEADER, 3);
    sup(&r, 3000000, TR_RESUME, 2, 0, SIGCONT, 0);
    role(&r, 2, 1, 3000100, ROLE_FOLLOWER, 3);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "");
    const json_t *ms = get(rep, "failover_ms");
    ck_assert_int_eq(json_array_size(ms), 2);
    ck_assert(json_number_value(json_array_get(ms, 0)) == 250.0);
    ck_assert(json_number_value(json_array_get(ms, 1)) == 300.0);
    const json_t *f0 = json_array_get(get(rep, "failovers"), 0);
    const json_t *f1 = json_array_get(get(rep, "failovers"), 1);
    ck_assert_str_eq(json_string_value(get(f0, "kind")), "crash");
    ck_assert_str_eq(json_string_value(get(f0, "source")), "external");
    ck_assert_str_eq(json_string_value(get(f1, "kind")), "pause");
    ck_assert(story_has(rep, "node 2, leader of term 2, was paused (SIGSTOP)"));
    ck_assert(story_has(rep, "node 2 stopped leading term 2: follower in term 3 (it saw a higher "
                             "term)"));
    json_decref(rep);
}
END_TEST

START_TEST(test_failover_by_partition_and_split_vote)
{
    /* A partition cuts leader node 1 off at 1 s; term 2 is a split vote
     * between nodes 2 and 3; node 3 wins term 3. Node 1, alone, stands in
     * terms 2 to 4 and is never elected. */
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    fault(&r, 1000000, FAULT_PARTITION, 0, 1);
    link_rec(&r, 1000000, 1, 2, true);
    link_rec(&r, 1000000, 2, 1, true);
    link_rec(&r, 1000000, 1, 3, true);
    link_rec(&r, 1000000, 3, 1, true);
    role(&r, 2, 1, 1200000, ROLE_CANDIDATE, 2);
    role(&r, 3, 1, 1200500, ROLE_CANDIDATE, 2);
    role(&r, 3, 1, 1400000, ROLE_CANDIDATE, 3);
    role(&r, 3, 1, 1450000, ROLE_LEADER, 3);
    role(&r, 1, 1, 1500000, ROLE_CANDIDATE, 4);
    role(&r, 1, 1, 1700000, ROLE_CANDIDATE, 5);
    role(&r, 1, 1, 1900000, ROLE_CANDIDATE, 6);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "");
    const json_t *fo = json_array_get(get(rep, "failovers"), 0);
    ck_assert_str_eq(json_string_value(get(fo, "kind")), "partition");
    ck_assert(getd(fo, "failover_ms") == 450.0);
    ck_assert_int_eq(geti(fo, "new_leader"), 3);
    const json_t *sv = json_array_get(get(rep, "split_votes"), 0);
    ck_assert_int_eq(json_array_size(get(rep, "split_votes")), 1);
    ck_assert_int_eq(geti(sv, "term"), 2);
    ck_assert_int_eq(json_array_size(get(sv, "candidates")), 2);
    ck_assert_int_eq(geti(rep, "elections"), 6);
    ck_assert_int_eq(geti(rep, "elections_won"), 2);
    ck_assert_int_eq(geti(rep, "terms_without_leader"), 4);
    ck_assert(story_has(rep, "fault.1: a partition cut node 1, leader of term 1, off from a "
                             "majority"));
    ck_assert(story_has(rep, "term 2: a split vote: 2 candidates (nodes 2 and 3), nobody was "
                             "elected"));
    ck_assert(story_has(rep, "terms 4 to 6: node 1 stood for election alone in each (3 terms) "
                             "and was never elected"));
    json_decref(rep);
}
END_TEST

START_TEST(test_no_new_leader)
{
    struct run r;
    run_new(&r, 3);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    fault(&r, 1000000, FAULT_PAUSE, 1, 1);
    sup(&r, 1000100, TR_PAUSE, 1, 0, SIGSTOP, 0);
    role(&r, 2, 1, 1300000, ROLE_CANDIDATE, 2);
    run_finish(&r);
    json_t *rep = build(r.dir);
    ck_assert_int_eq(json_array_size(get(rep, "failover_ms")), 0);
    const json_t *fo = json_array_get(get(rep, "failovers"), 0);
    ck_assert(json_is_null(get(fo, "failover_ms")));
    ck_assert(json_is_null(get(fo, "new_leader")));
    ck_assert(story_has(rep, "no leader of a term above 1 was elected after the pause of node 1 "
                             "at 1000.000 ms"));
    char *text = text_of(rep);
    ck_assert_msg(strstr(text, "pause of leader node 1 (fault.1) at 1000.000 ms: no new leader to "
                               "the end of the traces (at 1300.001 ms)"),
                  "%s", text);
    free(text);
    json_decref(rep);
}
END_TEST

/* ---- a simulated run ---- */

/* Mark the run directory's run.json as a simulated run's, with the
 * simulator's violation (NULL: none). */
static void simulated(struct run *r, const char *violation)
{
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", r->dir);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(o);
    json_object_set_new(o, "simulated", json_true());
    if (violation)
        json_object_set_new(o, "simulator_violation", json_string(violation));
    ck_assert_int_eq(json_dump_file(o, path, JSON_INDENT(2)), 0);
    json_decref(o);
}

START_TEST(test_simulator_invariant)
{
    /* The simulator checks the logs themselves, which the traces do not
     * hold: its violation makes the run unsafe even when the traces agree. */
    struct run r;
    healthy_run(&r);
    run_finish(&r);
    simulated(&r, NULL);
    json_t *rep = build(r.dir);
    ck_assert_str_eq(verdict(rep, "simulator_invariant"), "pass");
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "safe");
    json_decref(rep);
    simulated(&r, "t=993.390ms seed=3: node 1's log differs at committed index 2 (term 1)");
    rep = build(r.dir);
    ck_assert_str_eq(verdict(rep, "simulator_invariant"), "fail");
    ck_assert_str_eq(detail(rep, "simulator_invariant"),
                     "the simulator's check of the cluster's state after every step failed: "
                     "t=993.390ms seed=3: node 1's log differs at committed index 2 (term 1)");
    ck_assert_str_eq(json_string_value(get(rep, "verdict")), "unsafe");
    ck_assert_int_eq(geti(rep, "violations"), 1);
    json_decref(rep);
    /* A deadlock is not a safety violation. */
    simulated(&r, "t=5000.000ms seed=3: nothing left to happen (deadlock)");
    rep = build(r.dir);
    ck_assert_str_eq(verdict(rep, "simulator_invariant"), "pass");
    json_decref(rep);
}
END_TEST

START_TEST(test_leader_kept_or_back_in_time)
{
    /* 5 nodes. A partition that cuts leader node 1 from node 5 only leaves
     * it a majority: no failover. One that cuts it off alone and heals
     * before anyone else is elected, and a pause that ends before, are no
     * failovers either: the leader was back in time. */
    struct run r;
    run_new(&r, 5);
    role(&r, 1, 1, 100000, ROLE_LEADER, 1);
    fault(&r, 1000000, FAULT_PARTITION, 0, 1);
    link_rec(&r, 1000000, 1, 5, true);
    link_rec(&r, 1000000, 5, 1, true);
    fault(&r, 1100000, FAULT_HEAL, 0, 2);
    link_rec(&r, 1100000, 1, 5, false);
    link_rec(&r, 1100000, 5, 1, false);
    fault(&r, 2000000, FAULT_PARTITION, 0, 3);
    for (int k = 2; k <= 5; k++) {
        link_rec(&r, 2000000, 1, k, true);
        link_rec(&r, 2000000, k, 1, true);
    }
    fault(&r, 2100000, FAULT_HEAL, 0, 4);
    for (int k = 2; k <= 5; k++) {
        link_rec(&r, 2100000, 1, k, false);
        link_rec(&r, 2100000, k, 1, false);
    }
    send(&r, 1, 2100500, 2, T_APPEND, 1);
    fault(&r, 3000000, FAULT_PAUSE, 1, 5);
    sup(&r, 3000100, TR_PAUSE, 1, 0, SIGSTOP, 0);
    sup(&r, 3080000, TR_RESUME, 1, 0, SIGCONT, 0);
    run_finish(&r);
    json_t *rep = build(r.dir);
    only_failing(rep, "");
    ck_assert_int_eq(json_array_size(get(rep, "failover_ms")), 0);
    const json_t *fos = get(rep, "failovers");
    ck_assert_int_eq(json_array_size(fos), 2);
    const json_t *f0 = json_array_get(fos, 0), *f1 = json_array_get(fos, 1);
    ck_assert_str_eq(json_string_value(get(f0, "kind")), "partition");
    ck_assert(getd(f0, "at_ms") == 2000.0);
    ck_assert_str_eq(json_string_value(get(f0, "ended")),
                     "healed before another leader was elected");
    ck_assert(getd(f0, "ended_at_ms") == 2100.0);
    ck_assert_str_eq(json_string_value(get(f1, "kind")), "pause");
    ck_assert_str_eq(json_string_value(get(f1, "ended")),
                     "resumed before another leader was elected");
    ck_assert(story_has(rep, "node 1, still leader of term 1, could reach a majority again before "
                             "another leader was elected"));
    ck_assert(story_has(rep, "node 1 resumed, still leader of term 1, before another leader was "
                             "elected"));
    json_decref(rep);
}
END_TEST

/* ---- `distlab trace` on Raft records ---- */

static json_t *trace_lines(const char *dir)
{
    int rc;
    char *text = capture(report_trace_json, dir, &rc);
    ck_assert_int_eq(rc, 0);
    json_t *arr = json_array();
    for (char *save, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        ck_assert_msg(o != NULL, "not JSON: %s (%s)", line, jerr.text);
        json_array_append_new(arr, o);
    }
    free(text);
    return arr;
}

static const json_t *line_of(const json_t *lines, const char *ev, int64_t t)
{
    size_t i;
    json_t *o;
    json_array_foreach(lines, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "ev")), ev) == 0 &&
            json_integer_value(json_object_get(o, "t_us")) == t)
            return o;
    }
    ck_abort_msg("no %s line at %lld", ev, (long long)t);
    return NULL;
}

START_TEST(test_trace_json_raft)
{
    struct run r;
    healthy_run(&r);
    /* A command that is not UTF-8. */
    apply(&r, 3, 1, 2200000, 3, 1, "put k \xff\xfe");
    commit(&r, 2, 1, 2300000, 3, 1);
    run_finish(&r);
    json_t *lines = trace_lines(r.dir);

    const json_t *o = line_of(lines, "apply", 2000500);
    ck_assert_int_eq(geti(o, "node"), 1);
    ck_assert_int_eq(geti(o, "index"), 2);
    ck_assert_int_eq(geti(o, "term"), 1);
    ck_assert_str_eq(json_string_value(get(o, "cmd")), "put b \"two\"\n");
    /* Not parsed into op, key and value: it holds a control character. */
    ck_assert_ptr_null(json_object_get(o, "op"));
    ck_assert_int_eq(geti(o, "cmd_len"), 12);
    char h[20];
    snprintf(h, sizeof h, "%016" PRIx64, (uint64_t)trace_hash("put b \"two\"\n", 12));
    ck_assert_str_eq(json_string_value(get(o, "cmd_hash")), h);

    o = line_of(lines, "apply", 1000500);
    ck_assert_str_eq(json_string_value(get(o, "op")), "put");
    ck_assert_str_eq(json_string_value(get(o, "key")), "a");
    ck_assert_str_eq(json_string_value(get(o, "value")), "1");

    o = line_of(lines, "apply", 2200000);
    ck_assert(json_is_true(get(o, "cmd_escaped")));
    ck_assert_str_eq(json_string_value(get(o, "cmd")), "put k \\xff\\xfe");

    /* A commit line names the command its node applied at that index... */
    o = line_of(lines, "commit", 1000400);
    ck_assert_int_eq(geti(o, "index"), 1);
    ck_assert_int_eq(geti(o, "term"), 1);
    ck_assert_str_eq(json_string_value(get(o, "cmd")), "put a 1");
    /* ... and nothing when the node never applied it. */
    o = line_of(lines, "commit", 2300000);
    ck_assert_int_eq(geti(o, "index"), 3);
    ck_assert_ptr_null(json_object_get(o, "cmd"));

    /* Clients are `client: K`, not node n + K. */
    o = line_of(lines, "invoke", 1000000);
    ck_assert_int_eq(geti(o, "client"), 1);
    ck_assert_ptr_null(json_object_get(o, "node"));
    ck_assert_int_eq(geti(o, "id"), 1);
    ck_assert_str_eq(json_string_value(get(o, "cmd")), "put a 1");
    ck_assert_str_eq(json_string_value(get(o, "op")), "put");
    ck_assert_str_eq(json_string_value(get(o, "key")), "a");
    ck_assert_str_eq(json_string_value(get(o, "value")), "1");

    o = line_of(lines, "invoke", 3000000);
    ck_assert_int_eq(geti(o, "client"), 2);
    ck_assert_str_eq(json_string_value(get(o, "op")), "get");
    ck_assert_str_eq(json_string_value(get(o, "key")), "a");
    ck_assert_ptr_null(json_object_get(o, "value"));

    o = line_of(lines, "ok", 1000800);
    ck_assert_int_eq(geti(o, "client"), 1);
    ck_assert_int_eq(geti(o, "id"), 1);
    ck_assert_int_eq(geti(o, "server"), 1);
    ck_assert_int_eq(geti(o, "index"), 1);
    ck_assert_int_eq(geti(o, "term"), 1);

    o = line_of(lines, "timeout", 5000000);
    ck_assert_int_eq(geti(o, "client"), 2);
    ck_assert_int_eq(geti(o, "id"), 1);

    o = line_of(lines, "role", 150000);
    ck_assert_str_eq(json_string_value(get(o, "role")), "leader");
    ck_assert_int_eq(geti(o, "term"), 1);
    json_decref(lines);

    /* Without the side files, commands are null and the hashes stay. */
    char path[256];
    snprintf(path, sizeof path, "%s/trace/n1.1.dat", r.dir);
    ck_assert_int_eq(unlink(path), 0);
    lines = trace_lines(r.dir);
    o = line_of(lines, "apply", 2000500);
    ck_assert(json_is_null(get(o, "cmd")));
    ck_assert_str_eq(json_string_value(get(o, "cmd_hash")), h);
    json_decref(lines);
}
END_TEST

static Suite *raft_report_suite(void)
{
    Suite *s = suite_create("report_raft");
    struct {
        const char *name;
        const TTest *tests[8];
    } cases[] = {
        {"metrics", {test_healthy_run}},
        {"election_safety", {test_two_leaders_in_a_term, test_leaders_of_different_terms}},
        {"logs",
         {test_two_commands_one_index_and_term, test_index_applied_with_two_terms,
          test_commit_record_disagrees, test_reapplied_after_restart_agrees}},
        {"leader_completeness",
         {test_leader_without_committed_entry, test_later_leader_keeps_committed_entry}},
        {"acknowledged",
         {test_acknowledged_command_replaced, test_acknowledged_never_applied,
          test_acknowledged_without_invoke_cannot_verify, test_missing_client_trace_cannot_verify}},
        {"apply_order",
         {test_index_applied_twice_in_one_life, test_command_applied_twice,
          test_failed_but_applied, test_rollback_of_uncommitted_and_committed}},
        {"failover",
         {test_failover_after_kill, test_failover_external_crash_and_pause,
          test_failover_by_partition_and_split_vote, test_no_new_leader,
          test_leader_kept_or_back_in_time}},
        {"trace_json", {test_trace_json_raft}},
        {"simulated", {test_simulator_invariant}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        for (int j = 0; j < 8 && cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(raft_report_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
