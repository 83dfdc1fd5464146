/* Every mutual-exclusion algorithm as real processes (real queues, real
 * signals): a 5-node run is safe with the counter right; a node killed with
 * SIGKILL from outside mid-run does not stop the others; 64 nodes complete
 * with no deadlock at queue depth 10; every example with faults lives long
 * enough for all of them to happen. The simulator tests prove the
 * algorithms; these prove the whole system runs them. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tests/helpers.h"

#define TCASE_TIMEOUT 240
#define RUN_TIMEOUT   120.0
#define CMD_TIMEOUT   30.0
#define WAIT_TIMEOUT  30.0

static const char *const algorithms[] = {"centralized", "ricart_agrawala", "token_ring",
                                         "two_level_ring"};
#define NALG (sizeof algorithms / sizeof algorithms[0])

static char *write_ini(const char *dir, const char *alg, int nodes, const char *duration,
                       long requests, const char *cs_time, const char *think)
{
    char text[2048], name[64];
    snprintf(text, sizeof text,
             "[cluster]\nname = %s\nnodes = %d\nalgorithm = %s\nduration = %s\nseed = 7\n"
             "failure_timeout = 150ms\n"
             "[workload]\nrequests = %ld\ncs_time = %s\nthink_time = %s\n"
             "[token_ring]\nidle_hold = 1ms\n"
             "[two_level_ring]\ngroups = 2\nidle_hold = 1ms\n",
             alg, nodes, alg, duration, requests, cs_time, think);
    snprintf(name, sizeof name, "%s-%d.ini", alg, nodes);
    return h_write_ini(dir, name, text);
}

static void expect_exit(struct h_proc *p, int rc, int want)
{
    if (rc == want)
        return;
    char *err = h_err(p);
    ck_abort_msg("`%s` exited %d, expected %d; stderr:\n%.3000s", p->what, rc, want, err);
}

/* A complete 5-node run: safe, every request granted, counter right, and
 * the exact textbook message count where there is one. */
START_TEST(test_five_nodes)
{
    const char *alg = algorithms[_i];
    char *dir = h_tmpdir();
    char *ini = write_ini(dir, alg, 5, "30s", 30, "1ms", "2ms");
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    expect_exit(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), 0);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_str_eq(h_jstr(rep, "algorithm"), alg);
    ck_assert_msg(h_jbool(rep, "safe"), "%s: not safe", alg);
    ck_assert_int_eq(h_jint(rep, "violations"), 0);
    ck_assert_msg(h_jbool(rep, "workload_done"), "%s: the workload did not finish", alg);
    long long entries = h_jint(rep, "cs_entries");
    int competing = strcmp(alg, "centralized") == 0 ? 4 : 5;
    ck_assert_int_eq(entries, 30LL * competing);
    ck_assert_int_eq(h_jint(rep, "counter_final"), entries);
    ck_assert_int_eq(h_jint(rep, "counter_expected"), entries);
    double mpc = h_jnum(rep, "messages_per_cs");
    if (strcmp(alg, "centralized") == 0)
        ck_assert_double_eq(mpc, 3.0);
    else if (strcmp(alg, "ricart_agrawala") == 0)
        ck_assert_double_eq(mpc, 8.0); /* 2(N-1) */
    else
        ck_assert_double_gt(mpc, 0.0);
    json_decref(rep);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* The same run with [cluster] retransmit = true, as real processes: the
 * cores' retransmit timers and the new message types (token_ack,
 * token_probe) go through the runtime; safe, every request granted once,
 * and the rings pay one acknowledgement per token hop. */
START_TEST(test_five_nodes_retransmit)
{
    const char *alg = algorithms[_i];
    char *dir = h_tmpdir();
    char text[2048];
    snprintf(text, sizeof text,
             "[cluster]\nname = %s-rx\nnodes = 5\nalgorithm = %s\nduration = 30s\nseed = 7\n"
             "failure_timeout = 150ms\nretransmit = true\n"
             "[workload]\nrequests = 30\ncs_time = 1ms\nthink_time = 2ms\n"
             "[token_ring]\nidle_hold = 1ms\n"
             "[two_level_ring]\ngroups = 2\nidle_hold = 1ms\n",
             alg, alg);
    char *ini = h_write_ini(dir, "rx.ini", text);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    expect_exit(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), 0);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_msg(h_jbool(rep, "safe"), "%s: not safe", alg);
    ck_assert_int_eq(h_jint(rep, "violations"), 0);
    ck_assert_msg(h_jbool(rep, "workload_done"), "%s: the workload did not finish", alg);
    long long entries = h_jint(rep, "cs_entries");
    int competing = strcmp(alg, "centralized") == 0 ? 4 : 5;
    ck_assert_int_eq(entries, 30LL * competing);
    ck_assert_int_eq(h_jint(rep, "counter_final"), entries);
    double mpc = h_jnum(rep, "messages_per_cs");
    if (strcmp(alg, "centralized") == 0)
        ck_assert_double_ge(mpc, 3.0);
    else if (strcmp(alg, "ricart_agrawala") == 0)
        ck_assert_double_ge(mpc, 8.0);
    else
        ck_assert_double_ge(mpc, 2.0); /* every hop acknowledged */
    json_decref(rep);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

struct live {
    const char *dir, *rundir;
    struct h_proc *launcher;
    int node;
    int pid;
    bool ended;
};

/* Node l->node is up, has done a critical section, and printed its pid. */
static bool working(void *arg)
{
    struct live *l = arg;
    if (h_ended(l->launcher)) {
        l->ended = true;
        return true;
    }
    return h_node_busy(l->dir, l->rundir, l->node, 0, &l->pid, NULL, 0) && l->pid > 0;
}

/* kill -9 of node 3 mid-run: recorded as a crash, and the others keep
 * entering the critical section. */
START_TEST(test_kill_one)
{
    const char *alg = algorithms[_i];
    char *dir = h_tmpdir();
    char *ini = write_ini(dir, alg, 5, "3s", 1000000, "1ms", "2ms");
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p, .node = 3};
    ck_assert_msg(h_poll(working, &l, WAIT_TIMEOUT), "%s: node 3 never worked", alg);
    ck_assert_msg(!l.ended, "%s: the run ended early", alg);
    ck_assert_int_eq(kill(l.pid, SIGKILL), 0);
    expect_exit(&p, h_wait(&p, RUN_TIMEOUT), 0);

    json_t *tr = h_trace(dir, rundir);
    json_t *crash = h_trace_find(tr, "crash", 3);
    ck_assert_msg(crash != NULL, "%s: no crash of node 3 in the trace", alg);
    ck_assert_str_eq(h_jstr(crash, "signal"), "SIGKILL");
    long long t = h_jint(crash, "t_us");
    /* The survivors must go on: each enters again after the crash (after
     * the failure detector's timeout at the latest). */
    for (int k = 1; k <= 5; k++) {
        if (k == 3 || (k == 1 && strcmp(alg, "centralized") == 0))
            continue;
        ck_assert_msg(h_trace_count(tr, "enter", k, t) > 0,
                      "%s: node %d never entered after node 3 was killed", alg, k);
    }
    json_decref(tr);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_msg(h_jbool(rep, "safe"), "%s: not safe after a crash", alg);
    ck_assert_int_eq(h_jint(h_jnode(rep, "per_node", 3), "crashes"), 1);
    json_decref(rep);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* `distlab restart DIR NODE` from the shell: the supervisor kills and
 * starts the node again whatever the restart policy (never, here), and the
 * new incarnation works. */
START_TEST(test_restart_from_shell)
{
    char *dir = h_tmpdir();
    char *ini = write_ini(dir, "ricart_agrawala", 5, "3s", 1000000, "1ms", "2ms");
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p, .node = 3};
    ck_assert_msg(h_poll(working, &l, WAIT_TIMEOUT), "node 3 never worked");
    ck_assert(!l.ended);
    struct h_proc r;
    int rc = h_run(&r, dir, "restart", CMD_TIMEOUT, "restart", rundir, "3", NULL);
    char *out = h_out(&r);
    ck_assert_msg(rc == 0, "`distlab restart` exited %d: %s", rc, out);
    free(out);
    expect_exit(&p, h_wait(&p, RUN_TIMEOUT), 0);
    json_t *tr = h_trace(dir, rundir);
    ck_assert_int_eq(h_trace_count(tr, "crash", 3, -1), 1);
    ck_assert_int_eq(h_trace_count(tr, "restart", 3, -1), 1);
    int inc2 = 0;
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (h_event_is(o, "enter", 3) && h_jint(o, "incarnation") == 2)
            inc2++;
    }
    ck_assert_msg(inc2 > 0, "the restarted node 3 never entered the critical section");
    json_decref(tr);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert(h_jbool(rep, "safe"));
    json_decref(rep);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* 64 nodes: 65 queues of depth 10 within the byte budget, bursts that fill
 * them (Ricart-Agrawala: 126 messages per entry), and no deadlock. */
START_TEST(test_sixty_four)
{
    const char *alg = algorithms[_i];
    char *dir = h_tmpdir();
    char *ini = write_ini(dir, alg, 64, "60s", 3, "0", "1ms");
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    /* This test is about queues at depth 10, not failure detection: 64
     * processes on a small (or sanitizer-slowed) machine can miss a short
     * heartbeat deadline, so the detector is given a generous one. */
    expect_exit(&p,
                h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, "--set",
                      "cluster.failure_timeout=2s", NULL),
                0);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_msg(h_jbool(rep, "safe"), "%s: 64 nodes: not safe", alg);
    ck_assert_msg(h_jbool(rep, "workload_done"), "%s: 64 nodes: the workload did not finish", alg);
    int competing = strcmp(alg, "centralized") == 0 ? 63 : 64;
    ck_assert_int_eq(h_jint(rep, "cs_entries"), 3LL * competing);
    if (strcmp(alg, "ricart_agrawala") == 0)
        ck_assert_double_eq(h_jnum(rep, "messages_per_cs"), 126.0);
    json_decref(rep);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* Every example in conf/ with a fault schedule, on real processes: the run
 * lasts until each fault is due, so each one happens (an example whose
 * fault is "skipped: the run ended before it was due" teaches nothing).
 * Exit 0 or 1: the pause examples are unsafe on purpose, and other tests
 * judge verdicts. An example with a network fault (partition, heal, net)
 * also runs on the simulator: with retransmit every schedule must be safe
 * and live; without it the centralized and Ricart-Agrawala ones must stall
 * (their lesson), on real processes too, and the other setting of
 * retransmit must show the other side of the lesson. */
/* Schedules per example on the simulator: fewer in a sanitizer build,
 * whose simulator is several times slower (the figures of a sweep are the
 * normal build's to show). */
#if defined(__SANITIZE_ADDRESS__)
#define EXAMPLE_SEEDS "10"
#else
#define EXAMPLE_SEEDS "200"
#endif

START_TEST(test_examples_faults_happen)
{
    char confdir[PATH_MAX];
    snprintf(confdir, sizeof confdir, "%s/conf", h_srcdir());
    DIR *d = opendir(confdir);
    ck_assert_msg(d != NULL, "cannot open %s", confdir);
    int examples = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".ini") != 0)
            continue;
        char *ini = h_path(confdir, e->d_name);
        char *text = h_slurp(ini);
        ck_assert_ptr_nonnull(text);
        int scheduled = 0;
        for (const char *p = text; (p = strstr(p, "\n[fault.")) != NULL; p++)
            scheduled++;
        bool network = strstr(text, "action = partition") || strstr(text, "action = heal") ||
                       strstr(text, "action = net");
        /* The *-partition.ini examples teach retransmission: the
         * centralized and Ricart-Agrawala ones stall without it. */
        bool stalls =
            strstr(e->d_name, "-partition.ini") && (strstr(text, "algorithm = centralized") ||
                                                    strstr(text, "algorithm = ricart_agrawala"));
        bool retransmit = strstr(text, "retransmit = true") != NULL;
        /* kv-stale-read.ini teaches why reads go through the log: unsafe
         * with local reads, safe without. */
        bool unsafe_lesson = strstr(text, "local_reads = true") != NULL;
        free(text);
        if (scheduled == 0) {
            free(ini);
            continue;
        }
        examples++;
        if (network) {
            char *dir = h_tmpdir();
            struct h_proc p;
            int rc = h_run(&p, dir, "sim", RUN_TIMEOUT, "sim", ini, "--seeds", EXAMPLE_SEEDS, NULL);
            char *out = h_out(&p);
            if (unsafe_lesson) {
                ck_assert_msg(rc == 1 && strstr(out, "UNSAFE") && strstr(out, "not linearizable"),
                              "%s on the simulator: exit %d\n%.2000s", e->d_name, rc, out);
                free(out);
                rc = h_run(&p, dir, "sim", RUN_TIMEOUT, "sim", ini, "--seeds", EXAMPLE_SEEDS,
                           "--set", "raft.local_reads=false", NULL);
                out = h_out(&p);
                ck_assert_msg(rc == 0,
                              "%s with local_reads=false on the simulator: exit %d\n%.2000s",
                              e->d_name, rc, out);
                free(out);
                h_rmtree(dir);
                free(dir);
                free(ini);
                continue;
            }
            ck_assert_msg(retransmit || stalls ? rc == (retransmit ? 0 : 1)
                                               : (rc == 0 || rc == 1) && !strstr(out, "UNSAFE"),
                          "%s on the simulator: exit %d\n%.2000s", e->d_name, rc, out);
            free(out);
            if (stalls) {
                rc = h_run(
                    &p, dir, "sim", RUN_TIMEOUT, "sim", ini, "--seeds", EXAMPLE_SEEDS, "--set",
                    retransmit ? "cluster.retransmit=false" : "cluster.retransmit=true", NULL);
                out = h_out(&p);
                ck_assert_msg(retransmit ? rc == 1 && strstr(out, " 0 finished the workload")
                                         : rc == 0,
                              "%s with retransmit %s: exit %d\n%.2000s", e->d_name,
                              retransmit ? "off" : "on", rc, out);
                free(out);
            }
            h_rmtree(dir);
            free(dir);
        }
        char *dir = h_tmpdir();
        char *rundir = h_path(dir, "run");
        struct h_proc p;
        int rc = h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, "--quiet", NULL);
        if (rc != 0 && rc != 1)
            expect_exit(&p, rc, 0);
        json_t *rep = h_json_in(rundir, "report.json");
        json_t *faults = h_jget(rep, "faults");
        ck_assert_msg(json_is_array(faults), "%s: no faults in the report", e->d_name);
        size_t i;
        json_t *f;
        int fired = 0;
        json_array_foreach(faults, i, f)
        {
            json_t *skipped = json_object_get(f, "skipped");
            ck_assert_msg(skipped == NULL, "%s: fault %zu was skipped: %s", e->d_name, i + 1,
                          json_string_value(skipped));
            if (json_is_true(json_object_get(f, "undo")))
                continue; /* the automatic end of a `for` */
            fired++;
            const char *action = json_string_value(json_object_get(f, "action"));
            bool net = action && (strcmp(action, "partition") == 0 || strcmp(action, "heal") == 0 ||
                                  strcmp(action, "net") == 0);
            ck_assert_msg(net || json_is_integer(json_object_get(f, "node")),
                          "%s: fault %zu hit no node", e->d_name, i + 1);
        }
        ck_assert_int_eq(fired, scheduled);
        /* A textbook algorithm that lost a message to a cut stalls: that
         * example's lesson, which its report explains. */
        bool stalled = network && stalls && !retransmit;
        ck_assert_msg(h_jbool(rep, "workload_done") != stalled, "%s: the workload %s", e->d_name,
                      stalled ? "finished, but the lesson is a stall" : "did not finish");
        if (stalled)
            ck_assert_msg(json_array_size(h_jget(rep, "stall.waiting")) > 0 &&
                              h_jint(rep, "stall.waiting.0.lost") > 0,
                          "%s: the report does not explain the stall", e->d_name);
        json_decref(rep);
        h_assert_no_leftovers(rundir);
        h_rmtree(dir);
        free(rundir);
        free(dir);
        free(ini);
    }
    closedir(d);
    ck_assert_int_ge(examples, 1);
}
END_TEST

static Suite *algorithms_suite(void)
{
    Suite *s = suite_create("algorithms");
    TCase *five = tcase_create("five_nodes");
    tcase_add_loop_test(five, test_five_nodes, 0, (int)NALG);
    tcase_add_loop_test(five, test_five_nodes_retransmit, 0, (int)NALG);
    TCase *kill1 = tcase_create("kill_one");
    tcase_add_loop_test(kill1, test_kill_one, 0, (int)NALG);
    tcase_add_test(kill1, test_restart_from_shell);
    TCase *big = tcase_create("sixty_four");
    tcase_add_loop_test(big, test_sixty_four, 0, (int)NALG);
    TCase *examples = tcase_create("examples");
    tcase_add_test(examples, test_examples_faults_happen);
    TCase *all[] = {five, kill1, big, examples};
    for (size_t i = 0; i < 4; i++) {
        tcase_set_timeout(all[i], TCASE_TIMEOUT);
        tcase_add_unchecked_fixture(all[i], h_root_setup, h_root_teardown);
        suite_add_tcase(s, all[i]);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(algorithms_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
