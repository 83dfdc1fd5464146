/* A SIGKILL at any step of a critical section's entry or exit must leave a
 * run that `distlab check` judges truly: safe, because it was.
 *
 * DISTLAB_TEST_KILL="NODE:PHASE:STEP:CS" (nodes/mutex_runtime.c) makes node 2
 * kill itself at one step of the entry or exit of its second critical
 * section: before the trace record, between the record and the resource,
 * after the resource, after the record's correction, after the algorithm
 * was told. The supervisor restarts it and the run completes. Each run must
 * exit 0 (completed and safe), `distlab check` must agree, and the trace
 * must show that the kill happened where it was asked: for the steps
 * between a record and the write it announces, that record is the node's
 * last. The interesting one is exit step 1: the exit is recorded, the
 * counter write never happens in the node, and only the supervisor's
 * completion of the write (shm_resource_drop) keeps the counter equal to
 * the completed critical sections. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tests/helpers.h"

#define RUN_TIMEOUT 60.0
#define KILLED 2

struct kill_point {
    const char *phase;
    int step;
    const char *last_ev; /* the killed life's last event, NULL: not checked */
};

static const struct kill_point points[] = {
    {"enter", 0, NULL},   {"enter", 1, "enter"}, {"enter", 2, "enter"}, {"enter", 3, "enter"},
    {"exit", 0, "enter"}, {"exit", 1, "exit"},   {"exit", 2, "exit"},   {"exit", 3, "exit"},
    {"exit", 4, NULL},
};
#define NPOINTS (sizeof points / sizeof points[0])

static const char *const algorithms[] = {"token_ring", "centralized"};

/* The last event of node's first life, other than those a dying node
 * cannot have written itself (the supervisor writes crash records with the
 * node's number). */
static const char *last_event(const json_t *trace, int node)
{
    const char *last = NULL;
    size_t i;
    json_t *o;
    json_array_foreach(trace, i, o) {
        if (!h_event_is(o, NULL, node) || h_jint(o, "incarnation") != 1)
            continue;
        const char *ev = h_jstr(o, "ev");
        if (strcmp(ev, "crash") != 0 && strcmp(ev, "restart") != 0)
            last = ev;
    }
    return last;
}

static void kill_at(const char *alg, const struct kill_point *kp)
{
    char *dir = h_tmpdir();
    char text[1024];
    snprintf(text, sizeof text,
             "[cluster]\nname = kill\nnodes = 3\nalgorithm = %s\nduration = 30s\nseed = 5\n"
             "failure_timeout = 60ms\n"
             "[workload]\nrequests = 4\ncs_time = 2ms\nthink_time = 1ms\n"
             "[supervisor]\nrestart = on-crash\nrestart_delay = 20ms\n"
             "[token_ring]\ntoken_timeout = 120ms\nidle_hold = 1ms\n",
             alg);
    char *ini = h_write_ini(dir, "kill.ini", text);
    char *rundir = h_path(dir, "run");
    char spec[64];
    snprintf(spec, sizeof spec, "%d:%s:%d:2", KILLED, kp->phase, kp->step);
    ck_assert_int_eq(setenv("DISTLAB_TEST_KILL", spec, 1), 0);
    struct h_proc p;
    int rc = h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, "--quiet", NULL);
    unsetenv("DISTLAB_TEST_KILL");
    if (rc != 0) {
        char *out = h_out(&p), *err = h_err(&p);
        ck_abort_msg("%s, kill at %s: `distlab run` exited %d\nstdout:\n%.2000s\nstderr:\n%.2000s",
                     alg, spec, rc, out, err);
    }
    struct h_proc c;
    rc = h_run(&c, dir, "check", RUN_TIMEOUT, "check", rundir, NULL);
    if (rc != 0) {
        char *out = h_out(&c);
        ck_abort_msg("%s, kill at %s: `distlab check` exited %d:\n%.2000s", alg, spec, rc, out);
    }
    json_t *tr = h_trace(dir, rundir);
    ck_assert_msg(h_trace_count(tr, "crash", KILLED, -1) == 1,
                  "%s, kill at %s: node %d did not crash exactly once", alg, spec, KILLED);
    ck_assert_str_eq(h_jstr(h_trace_find(tr, "crash", KILLED), "signal"), "SIGKILL");
    if (kp->last_ev) {
        const char *last = last_event(tr, KILLED);
        ck_assert_msg(last && strcmp(last, kp->last_ev) == 0,
                      "%s, kill at %s: the killed life's last event is %s, expected %s", alg,
                      spec, last ? last : "(none)", kp->last_ev);
    }
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert(h_jbool(rep, "safe"));
    ck_assert_int_eq(h_jint(rep, "counter_final"), h_jint(rep, "counter_expected"));
    ck_assert(h_jbool(rep, "workload_done"));
    json_decref(rep);
    json_decref(tr);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}

START_TEST(test_kill_token_ring) { kill_at(algorithms[0], &points[_i]); }
END_TEST

START_TEST(test_kill_centralized) { kill_at(algorithms[1], &points[_i]); }
END_TEST

static Suite *killpoints_suite(void)
{
    Suite *s = suite_create("killpoints");
    TCase *tc = tcase_create("token_ring");
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_kill_token_ring, 0, (int)NPOINTS);
    suite_add_tcase(s, tc);
    tc = tcase_create("centralized");
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_kill_centralized, 0, (int)NPOINTS);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(killpoints_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
