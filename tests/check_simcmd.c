/* `distlab sim`, end to end: the binary as a child process, every output
 * under a temporary directory. The simulator's own semantics are proven in
 * check_sim.c; these prove the command around it: sweeps over seeds report
 * safe/unsafe with the right exit status and the first bad seed, that seed
 * replays into a run directory that report, check and trace read, a
 * recording is byte-for-byte reproducible, and bad input is exit 2. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "ipc/wire.h"
#include "src/config.h"
#include "src/simcmd.h"
#include "tests/helpers.h"

#define TCASE_TIMEOUT 120
#define CMD_TIMEOUT   60.0

static char *conf(const char *name)
{
    char *p = NULL;
    ck_assert(asprintf(&p, "%s/conf/%s", h_srcdir(), name) > 0);
    ck_assert_msg(h_exists(p), "%s is missing (set DISTLAB_SRCDIR)", p);
    return p;
}

static void expect_exit(struct h_proc *p, int rc, int want)
{
    if (rc == want)
        return;
    char *out = h_out(p), *err = h_err(p);
    ck_abort_msg("`%s` exited %d, expected %d; stdout:\n%.2000s\nstderr:\n%.2000s", p->what, rc,
                 want, out, err);
}

static void expect_out(const struct h_proc *p, const char *text)
{
    char *out = h_out(p);
    if (!strstr(out, text))
        ck_abort_msg("`%s` did not print \"%s\"; stdout:\n%.3000s", p->what, text, out);
    free(out);
}

/* ---- 1. a safe sweep ---- */

START_TEST(test_default_safe)
{
    char *dir = h_tmpdir();
    char *ini = conf("default.ini");
    struct h_proc p;
    expect_exit(&p, h_run(&p, dir, "sim", CMD_TIMEOUT, "sim", ini, "--seeds", "200", NULL), 0);
    expect_out(&p, "200 schedules");
    expect_out(&p, "safe and live");
    expect_out(&p, "safety (mutual exclusion, counter, tokens): 0 of 200 schedules violated");
    expect_out(&p, "200 live, 0 not live, 0 undecided");
    expect_out(&p, "ended: 200 finished the workload");
    /* Seeds explore: every schedule a different interleaving. */
    expect_out(&p, "200 distinct interleavings of events");
    char *out = h_out(&p);
    ck_assert_msg(!strstr(out, "UNSAFE") && !strstr(out, "first: seed"), "%s", out);
    free(out);
    h_rmtree(dir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- 2. an unsafe sweep, its first seed replayed ---- */

/* The seed of the sweep's "first: seed N: ..." line. */
static unsigned long long first_seed(const struct h_proc *p)
{
    char *out = h_out(p);
    const char *f = strstr(out, "first: seed ");
    ck_assert_msg(f != NULL, "`%s` printed no \"first: seed\" line:\n%.3000s", p->what, out);
    char *end;
    unsigned long long seed = strtoull(f + strlen("first: seed "), &end, 10);
    ck_assert_msg(end != f + strlen("first: seed ") && *end == ':',
                  "unreadable first-seed line: %.200s", f);
    free(out);
    return seed;
}

static int count_bin(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s is not a directory", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".bin") == 0;
    }
    closedir(d);
    return n;
}

START_TEST(test_unsafe_replay)
{
    char *dir = h_tmpdir();
    char *ini = conf("ricart-agrawala-pause.ini");
    struct h_proc p;
    expect_exit(&p, h_run(&p, dir, "sweep", CMD_TIMEOUT, "sim", ini, "--seeds", "300", NULL), 1);
    expect_out(&p, "300 schedules");
    expect_out(&p, "UNSAFE");
    unsigned long long seed = first_seed(&p);
    char seedtxt[32];
    snprintf(seedtxt, sizeof seedtxt, "%llu", seed);

    /* The replay: the same verdict, and a complete run directory. */
    char *rundir = h_path(dir, "replay");
    expect_exit(
        &p,
        h_run(&p, dir, "replay", CMD_TIMEOUT, "sim", ini, "--seed", seedtxt, "--out", rundir, NULL),
        1);
    expect_out(&p, "run directory: ");
    static const char *const files[] = {"config.ini", "run.json", "report.json", "report.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *f = h_path(rundir, files[i]);
        char *text = h_slurp(f);
        ck_assert_msg(text && text[0], "%s is missing or empty", f);
        free(text);
        free(f);
    }
    char *trace = h_path(rundir, "trace");
    ck_assert_int_ge(count_bin(trace), 4); /* one file per node at least */
    free(trace);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_int_eq(h_jint(run, "seed"), (long long)seed);
    ck_assert(h_jbool(run, "simulated"));
    ck_assert_str_eq(h_jstr(run, "algorithm"), "ricart_agrawala");
    json_decref(run);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_msg(!h_jbool(rep, "safe"), "the replayed seed %llu reports safe", seed);
    json_decref(rep);

    /* `distlab check` agrees (exit 1: a property failed). */
    expect_exit(&p, h_run(&p, dir, "check", CMD_TIMEOUT, "check", rundir, NULL), 1);
    expect_out(&p, "FAIL mutual_exclusion");

    /* `distlab trace`: JSON lines in time order (h_trace checks both), with
     * the schedule's faults in it. */
    json_t *tr = h_trace(dir, rundir);
    ck_assert_int_gt((int)json_array_size(tr), 100);
    ck_assert_int_eq(h_trace_count(tr, "pause", 2, -1), 1);
    ck_assert_int_eq(h_trace_count(tr, "resume", 2, -1), 1);
    ck_assert_int_gt(h_trace_count(tr, "enter", -1, -1), 0);
    json_t *pause = h_trace_find(tr, "pause", 2);
    ck_assert_int_eq(h_jint(pause, "t_us"), 300000); /* [fault.1] at = 300ms */
    json_decref(tr);

    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- 3. determinism end to end ---- */

static char *trace_text(const char *dir, const char *rundir, const char *tag)
{
    struct h_proc p;
    expect_exit(&p, h_run(&p, dir, tag, CMD_TIMEOUT, "trace", rundir, NULL), 0);
    char *out = h_out(&p);
    ck_assert_msg(strlen(out) > 1000, "`%s` printed almost nothing", p.what);
    return out;
}

START_TEST(test_record_twice_identical)
{
    char *dir = h_tmpdir();
    char *ini = conf("ricart-agrawala-pause.ini");
    char *a = h_path(dir, "a"), *b = h_path(dir, "b"), *c = h_path(dir, "c");
    struct h_proc p;
    /* Exit 0 or 1 (this schedule may be unsafe): what matters is the trace. */
    int rc = h_run(&p, dir, "rec-a", CMD_TIMEOUT, "sim", ini, "--seed", "17", "--out", a, NULL);
    ck_assert_msg(rc == 0 || rc == 1, "`%s` exited %d", p.what, rc);
    int rc2 = h_run(&p, dir, "rec-b", CMD_TIMEOUT, "sim", ini, "--seed", "17", "--out", b, NULL);
    ck_assert_int_eq(rc2, rc);
    rc = h_run(&p, dir, "rec-c", CMD_TIMEOUT, "sim", ini, "--seed", "18", "--out", c, NULL);
    ck_assert_msg(rc == 0 || rc == 1, "`%s` exited %d", p.what, rc);
    char *ta = trace_text(dir, a, "trace-a"), *tb = trace_text(dir, b, "trace-b"),
         *tc = trace_text(dir, c, "trace-c");
    ck_assert_msg(strcmp(ta, tb) == 0, "seed 17 recorded twice gave different traces");
    ck_assert_msg(strcmp(ta, tc) != 0, "seeds 17 and 18 gave the same trace");
    /* The reports agree too, but for the directory they name. */
    json_t *ra = h_json_in(a, "report.json"), *rb = h_json_in(b, "report.json");
    const char *keys[] = {"safe", "cs_entries", "messages", "counter_final", "requests"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(json_equal(h_jget(ra, keys[i]), h_jget(rb, keys[i])),
                      "report.json %s differs between two recordings of seed 17", keys[i]);
    json_decref(ra);
    json_decref(rb);
    free(ta);
    free(tb);
    free(tc);
    h_rmtree(dir);
    free(a);
    free(b);
    free(c);
    free(ini);
    free(dir);
}
END_TEST

/* A recorded unsafe schedule: the resource saw the overlaps that the
 * simulator saw, and the report says so (run.json once claimed none). */
START_TEST(test_record_unsafe_resource)
{
    char *dir = h_tmpdir();
    char *ini = conf("ricart-agrawala-pause.ini");
    char *a = h_path(dir, "a");
    struct h_proc p;
    int rc = h_run(&p, dir, "rec", CMD_TIMEOUT, "sim", ini, "--seed", "5", "--out", a, NULL);
    ck_assert_msg(rc == 1, "`%s` exited %d (this schedule is unsafe)", p.what, rc);
    json_t *run = h_json_in(a, "run.json"), *rep = h_json_in(a, "report.json");
    ck_assert_int_gt(h_jint(run, "resource_violations"), 0);
    json_t *props = h_jget(rep, "properties");
    size_t i;
    json_t *pr;
    bool seen = false;
    json_array_foreach(props, i, pr)
    {
        if (strcmp(h_jstr(pr, "name"), "resource") == 0) {
            ck_assert_str_eq(h_jstr(pr, "verdict"), "fail");
            seen = true;
        }
    }
    ck_assert(seen);
    json_decref(run);
    json_decref(rep);
    h_rmtree(dir);
    free(a);
    free(ini);
    free(dir);
}
END_TEST

/* ---- 4. fencing decides the token ring's pause ---- */

/* 30 requests per node finish within the run, so these schedules are
 * judged on liveness too (a workload cut off by the duration leaves it
 * undecided: see test_summary_truthful). */
START_TEST(test_token_ring_fencing)
{
    char *dir = h_tmpdir();
    char *ini = conf("token-ring-pause.ini");
    struct h_proc p;
    expect_exit(&p,
                h_run(&p, dir, "fenced", CMD_TIMEOUT, "sim", ini, "--seeds", "100", "--set",
                      "workload.requests=30", NULL),
                0);
    expect_out(&p, "100 live, 0 not live, 0 undecided");
    expect_out(&p, "safe and live");
    expect_exit(&p,
                h_run(&p, dir, "unfenced", CMD_TIMEOUT, "sim", ini, "--seeds", "100", "--set",
                      "resource.fencing=false", "--set", "workload.requests=30", NULL),
                1);
    expect_out(&p, "UNSAFE");
    first_seed(&p);
    h_rmtree(dir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- 4b. the replay command reproduces the failing schedule ---- */

/* The line of the output that starts with `prefix` (malloc'd, without the
 * newline), or NULL. */
static char *line_starting(const struct h_proc *p, const char *prefix)
{
    char *out = h_out(p);
    char *line = NULL;
    for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, prefix, strlen(prefix)) == 0) {
            size_t len = strcspn(l, "\n");
            line = strndup(l, len);
            break;
        }
    }
    free(out);
    return line;
}

/* Run a shell command line in dir, with `distlab` meaning the binary under
 * test; stdout and stderr to dir/<tag>.out and .err. Returns the exit code. */
static int sh_run(const char *dir, const char *tag, const char *cmdline)
{
    char *cmd = NULL;
    ck_assert(asprintf(&cmd,
                       "cd '%s' && distlab() { '%s' \"$@\"; } && %s >'%s.out' 2>'%s.err' "
                       "</dev/null",
                       dir, h_distlab(), cmdline, tag, tag) > 0);
    int st = system(cmd);
    free(cmd);
    ck_assert_msg(st != -1 && WIFEXITED(st), "the shell did not run `%s`", cmdline);
    return WEXITSTATUS(st);
}

/* A configuration that is only unsafe with an override: the sweep's replay
 * command must carry it (and every other --set), so that running the
 * command as printed fails the same way. */
START_TEST(test_replay_reproduces)
{
    char *dir = h_tmpdir();
    char *ini = conf("token-ring-pause.ini");
    struct h_proc p;
    expect_exit(&p,
                h_run(&p, dir, "sweep", CMD_TIMEOUT, "sim", ini, "--seeds", "50", "--set",
                      "workload.requests=30", "--set", "resource.fencing=false", NULL),
                1);
    expect_out(&p, "UNSAFE");
    unsigned long long seed = first_seed(&p);
    char *first = line_starting(&p, "    first: seed ");
    ck_assert_ptr_nonnull(first);
    const char *violation = strchr(first + strlen("    first: seed "), ':') + 2;
    char *hint = line_starting(&p, "replay");
    ck_assert_msg(hint != NULL, "no replay line");
    char *cmd = strstr(hint, "distlab sim ");
    ck_assert_msg(cmd != NULL, "no command in: %s", hint);
    char seedarg[64];
    snprintf(seedarg, sizeof seedarg, "--seed %llu --out DIR", seed);
    size_t len = strlen(cmd);
    ck_assert_msg(len > 3 && strcmp(cmd + len - 3, "DIR") == 0 && strstr(cmd, seedarg),
                  "unexpected replay command: %s", cmd);
    cmd[len - 3] = '\0';
    char *full = NULL;
    ck_assert(asprintf(&full, "%sreplay", cmd) > 0);
    /* As printed: the same verdict, and the same first violation. */
    ck_assert_msg(sh_run(dir, "replay", full) == 1, "`%s` did not fail as the sweep said", full);
    char *outpath = h_path(dir, "replay.out");
    char *out = h_slurp(outpath);
    char *want = NULL;
    ck_assert(asprintf(&want, "simulator: %s\n", violation) > 0);
    ck_assert_msg(out && strstr(out, want),
                  "the replay did not fail the same way: expected "
                  "\"%s\" in:\n%.3000s",
                  want, out ? out : "");
    ck_assert_msg(strstr(cmd, "--set workload.requests=30 --set resource.fencing=false"),
                  "the replay command reordered the overrides: %s", cmd);
    char *rundir = h_path(dir, "replay");
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert(!h_jbool(rep, "safe"));
    json_decref(rep);
    /* The run directory names the command that replays it. */
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_msg(strstr(h_jstr(run, "replay"), "--set resource.fencing=false"), "%s",
                  h_jstr(run, "replay"));
    json_decref(run);
    free(rundir);
    free(want);
    free(out);
    free(outpath);
    free(full);
    free(hint);
    free(first);
    h_rmtree(dir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- 4c. the summary counts what happened ---- */

/* RA with a failure detector faster than the network's jitter: a request
 * of the killed node can arrive after its peers declared it down, and
 * they wait for it for good. Some schedules deadlock. */
static const char deadlock_ini[] =
    "[cluster]\nname = ra-deadlock\nnodes = 3\nalgorithm = ricart_agrawala\nduration = 2s\n"
    "seed = 1\nfailure_timeout = 5ms\n"
    "[workload]\nrequests = 50\ncs_time = 1ms\nthink_time = 1ms\n"
    "[supervisor]\nrestart = never\n"
    "[fault.1]\nat = 20ms\naction = kill\ntarget = 3\n"
    "[network]\njitter = 10ms\n";

#define LIVENESS_LINE "  liveness (every request of a live node granted): "
#define ENDED_LINE    "  ended: "

/* The sweep's liveness counts. */
static void liveness_counts(const struct h_proc *p, long *live, long *notlive, long *undecided)
{
    char *line = line_starting(p, LIVENESS_LINE);
    ck_assert_msg(line != NULL, "no liveness line");
    ck_assert_msg(sscanf(line + strlen(LIVENESS_LINE), "%ld live, %ld not live, %ld undecided",
                         live, notlive, undecided) == 3,
                  "unreadable: %s", line);
    free(line);
}

/* The sweep's counts of how schedules ended. */
static void ended_counts(const struct h_proc *p, long *done, long *deadlocked, long *duration,
                         long *steps)
{
    char *line = line_starting(p, ENDED_LINE);
    ck_assert_msg(line != NULL, "no ended line");
    ck_assert_msg(sscanf(line + strlen(ENDED_LINE),
                         "%ld finished the workload, %ld deadlocked (no event left), %ld cut off "
                         "by the duration, %ld at the step limit",
                         done, deadlocked, duration, steps) == 4,
                  "unreadable: %s", line);
    free(line);
}

START_TEST(test_summary_truthful)
{
    char *dir = h_tmpdir();
    struct h_proc p;
    long live, notlive, undecided, done, deadlocked, duration, steps;
    /* Cut off by the duration with requests pending: not "safe and live".
     * (200 x 5 critical sections of 20 ms do not fit in 8 s.) */
    char *ini = conf("token-ring-pause.ini");
    expect_exit(&p,
                h_run(&p, dir, "cutoff", CMD_TIMEOUT, "sim", ini, "--seeds", "50", "--set",
                      "workload.requests=200", "--set", "cluster.duration=8s", "--set",
                      "workload.cs_time=20ms", NULL),
                1);
    char *out = h_out(&p);
    ck_assert_msg(!strstr(out, "safe and live"), "cut-off schedules called live:\n%s", out);
    free(out);
    liveness_counts(&p, &live, &notlive, &undecided);
    ck_assert_int_eq(live + notlive + undecided, 50);
    ck_assert_int_eq(undecided, 50);
    ended_counts(&p, &done, &deadlocked, &duration, &steps);
    ck_assert_int_eq(duration, 50);
    expect_out(&p, "safe; liveness undecided in 50 of 50 schedules");

    /* Deadlocks: counted as such, not live, and the exit status says so. */
    char *dl = h_write_ini(dir, "deadlock.ini", deadlock_ini);
    expect_exit(&p, h_run(&p, dir, "deadlock", CMD_TIMEOUT, "sim", dl, "--seeds", "200", NULL), 1);
    liveness_counts(&p, &live, &notlive, &undecided);
    ended_counts(&p, &done, &deadlocked, &duration, &steps);
    ck_assert_int_eq(live + notlive + undecided, 200);
    ck_assert_int_eq(done + deadlocked + duration + steps, 200);
    ck_assert_int_gt(deadlocked, 0);
    ck_assert_int_eq(notlive, deadlocked); /* every deadlock here left requests pending */
    ck_assert_int_eq(live, done);
    expect_out(&p, "safe, but not live");
    free(dl);
    h_rmtree(dir);
    free(ini);
    free(dir);
}
END_TEST

/* A deadlocked schedule's run directory says so: stop_reason "deadlock"
 * (not "duration"), which requests were pending, and each pending
 * request's node ends its trace with the request unanswered and a stop. */
START_TEST(test_deadlock_run_dir)
{
    char *dir = h_tmpdir();
    struct h_proc p;
    char *dl = h_write_ini(dir, "deadlock.ini", deadlock_ini);
    expect_exit(&p, h_run(&p, dir, "deadlock", CMD_TIMEOUT, "sim", dl, "--seeds", "200", NULL), 1);
    unsigned long long seed = first_seed(&p);
    char seedtxt[32];
    snprintf(seedtxt, sizeof seedtxt, "%llu", seed);
    char *rundir = h_path(dir, "run");
    expect_exit(
        &p,
        h_run(&p, dir, "record", CMD_TIMEOUT, "sim", dl, "--seed", seedtxt, "--out", rundir, NULL),
        1);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_str_eq(h_jstr(run, "stop_reason"), "deadlock");
    ck_assert(!h_jbool(run, "workload_done"));
    ck_assert_str_eq(h_jstr(run, "simulator_liveness"), "not live");
    json_t *pending = h_jget(run, "pending_requests");
    ck_assert_msg(json_is_array(pending) && json_array_size(pending) > 0, "no pending requests");
    double end_ms = h_jnum(run, "duration_s") * 1e3;
    ck_assert_double_lt(end_ms, 2000.0); /* it stopped long before its duration */
    json_t *tr = h_trace(dir, rundir);
    size_t i;
    json_t *pr;
    json_array_foreach(pending, i, pr)
    {
        int node = (int)h_jint(pr, "node");
        double since = h_jnum(pr, "since_ms");
        /* The node's last request is at since_ms, nothing enters after it,
         * and its trace ends with its stop at the end of the run. */
        long long last_req = -1, last_enter = -1;
        const char *last_ev = NULL;
        long long last_t = -1;
        size_t j;
        json_t *e;
        json_array_foreach(tr, j, e)
        {
            if (h_jint(e, "node") != node)
                continue;
            const char *ev = h_jstr(e, "ev");
            long long t = h_jint(e, "t_us");
            if (strcmp(ev, "request") == 0)
                last_req = t;
            if (strcmp(ev, "enter") == 0)
                last_enter = t;
            last_ev = ev;
            last_t = t;
        }
        ck_assert_int_eq(last_req, (long long)(since * 1000.0 + 0.5));
        ck_assert_int_lt(last_enter, last_req);
        ck_assert_str_eq(last_ev, "stop");
        ck_assert_int_eq(last_t, (long long)(end_ms * 1000.0 + 0.5));
    }
    json_decref(tr);
    json_decref(run);
    free(rundir);
    free(dl);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- 5. bad input ---- */

static const char partition_ini[] =
    "[cluster]\nname = part\nnodes = 5\nalgorithm = centralized\nduration = 2s\nseed = 3\n"
    "failure_timeout = 50ms\n"
    "[workload]\nrequests = 100\ncs_time = 1ms\nthink_time = 1ms\n"
    "[fault.1]\nat = 10ms\naction = partition\ntarget = 1,2/3,4,5\n"
    "[fault.2]\nat = 150ms\naction = heal\n";

START_TEST(test_bad_input)
{
    char *dir = h_tmpdir();
    struct h_proc p;
    char *missing = h_path(dir, "no-such.ini");
    expect_exit(&p, h_run(&p, dir, "missing", CMD_TIMEOUT, "sim", missing, NULL), 2);
    char *ini = conf("default.ini");
    expect_exit(&p, h_run(&p, dir, "zero", CMD_TIMEOUT, "sim", ini, "--seeds", "0", NULL), 2);
    expect_exit(&p, h_run(&p, dir, "neg", CMD_TIMEOUT, "sim", ini, "--seed", "-3", NULL), 2);
    expect_exit(&p, h_run(&p, dir, "noconf", CMD_TIMEOUT, "sim", NULL), 2);
    char *out = h_path(dir, "out");
    expect_exit(
        &p, h_run(&p, dir, "both", CMD_TIMEOUT, "sim", ini, "--seeds", "5", "--out", out, NULL), 2);
    ck_assert_msg(!h_exists(out), "a refused command wrote %s", out);
    expect_exit(
        &p, h_run(&p, dir, "badset", CMD_TIMEOUT, "sim", ini, "--set", "cluster.nodes=0", NULL), 2);

    /* A partition and a heal. */
    char *part = h_write_ini(dir, "partition.ini", partition_ini);
    int rc = h_run(&p, dir, "simpart", CMD_TIMEOUT, "sim", part, "--seeds", "20", NULL);
    ck_assert_msg(rc == 0 || rc == 1, "`%s` exited %d (the partition was refused?)", p.what, rc);
    expect_out(&p, "20 schedules");
    char *rundir = h_path(dir, "partrun");
    rc = h_run(&p, dir, "simpart1", CMD_TIMEOUT, "sim", part, "--seed", "3", "--out", rundir, NULL);
    ck_assert_msg(rc == 0 || rc == 1, "`%s` exited %d", p.what, rc);
    json_t *tr = h_trace(dir, rundir);
    ck_assert_int_eq(h_trace_count(tr, "fault", 0, -1), 2);
    ck_assert_msg(h_trace_count(tr, "drop", -1, -1) > 0, "the partition dropped nothing");
    /* 1,2 | 3,4,5 cuts 12 links; the heal restores them. */
    ck_assert_int_eq(h_trace_count(tr, "link", 0, -1), 24);
    json_decref(tr);
    h_rmtree(dir);
    free(rundir);
    free(part);
    free(out);
    free(ini);
    free(missing);
    free(dir);
}
END_TEST

/* ---- 6. help, and --json ---- */

START_TEST(test_help)
{
    char *dir = h_tmpdir();
    struct h_proc p;
    expect_exit(&p, h_run(&p, dir, "help", CMD_TIMEOUT, "sim", "--help", NULL), 0);
    expect_out(&p, "usage: distlab sim");
    expect_out(&p, "--seeds");
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Every seed a sweep runs is one --seed accepts again: a sweep that would
 * pass the largest seed is refused; the largest seed alone runs. */
START_TEST(test_seed_range)
{
    char *dir = h_tmpdir();
    char *ini = conf("token-ring.ini");
    struct h_proc p;
    expect_exit(&p,
                h_run(&p, dir, "past", CMD_TIMEOUT, "sim", ini, "--seeds", "2", "--seed",
                      "9223372036854775807", NULL),
                2);
    char *err = h_err(&p);
    ck_assert_msg(strstr(err, "go past the largest seed"), "%s", err);
    free(err);
    expect_exit(&p,
                h_run(&p, dir, "last", CMD_TIMEOUT, "sim", ini, "--seeds", "2", "--seed",
                      "9223372036854775806", NULL),
                0);
    expect_out(&p, "seeds 9223372036854775806..9223372036854775807");
    h_rmtree(dir);
    free(ini);
    free(dir);
}
END_TEST

START_TEST(test_json_replay)
{
    char *dir = h_tmpdir();
    char *ini = conf("default.ini");
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    expect_exit(&p,
                h_run(&p, dir, "json", CMD_TIMEOUT, "sim", ini, "--seed", "42", "--out", rundir,
                      "--json", "--set", "workload.requests=100", NULL),
                0);
    json_t *rep = h_json_file(p.out);
    ck_assert(h_jbool(rep, "safe"));
    ck_assert(h_jbool(rep, "simulated"));
    ck_assert_int_eq(h_jint(rep, "seed"), 42);
    ck_assert_int_eq(h_jint(rep, "cs_entries"), 400); /* 4 clients x 100 requests */
    ck_assert_double_eq(h_jnum(rep, "messages_per_cs"), 3.0);
    const char *rd = h_jstr(rep, "run_dir");
    ck_assert_msg(strstr(rd, "/run") != NULL, "run_dir %s", rd);
    json_decref(rep);
    expect_exit(&p, h_run(&p, dir, "check", CMD_TIMEOUT, "check", rundir, NULL), 0);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- 6b. [trace]: what a recording leaves out, and a capped file ---- */

START_TEST(test_trace_record_and_cap)
{
    char *dir = h_tmpdir();
    char *ini = conf("raft-5.ini");
    char *a = h_path(dir, "a"), *b = h_path(dir, "b");
    struct h_proc p;
    /* record = log,clients: no message records; every Raft property is
     * still judged (from roles, commits, applies and the clients'
     * operations), the message figures are not computed. */
    expect_exit(&p,
                h_run(&p, dir, "rec", CMD_TIMEOUT, "sim", ini, "--seed", "3", "--out", a, "--set",
                      "trace.record=log,clients", NULL),
                0);
    json_t *tr = h_trace(dir, a);
    ck_assert_int_eq(h_trace_count(tr, "send", -1, -1), 0);
    ck_assert_int_eq(h_trace_count(tr, "recv", -1, -1), 0);
    ck_assert_int_gt(h_trace_count(tr, "apply", -1, -1), 1000);
    ck_assert_int_gt(h_trace_count(tr, "ok", -1, -1), 1000);
    ck_assert_int_gt(h_trace_count(tr, "role", -1, -1), 0);
    json_decref(tr);
    expect_exit(&p, h_run(&p, dir, "check-a", CMD_TIMEOUT, "check", a, NULL), 0);
    expect_out(&p, "PASS state_machine_safety");
    expect_out(&p, "  messages_per_commit not computed: [trace] record omits messages\n");
    json_t *rep = h_json_in(a, "report.json");
    ck_assert_str_eq(h_jstr(rep, "trace_record"), "log,clients");
    ck_assert_str_eq(h_jstr(rep, "verdict"), "safe");
    ck_assert(json_is_null(h_jget(rep, "messages_per_commit")));
    ck_assert_int_gt(h_jint(rep, "trace_bytes"), 0);
    ck_assert_double_eq_tol(h_jnum(rep, "trace_bytes_per_op"),
                            (double)h_jint(rep, "trace_bytes") / (double)h_jint(rep, "commits"),
                            1e-6);
    json_decref(rep);

    /* A 64 KiB cap: each node's file keeps its newest records. The
     * simulator's verdict is its own, on the whole run (exit 0); check,
     * judging the files, cannot verify and names the partial trace of
     * every property. */
    expect_exit(&p,
                h_run(&p, dir, "cap", CMD_TIMEOUT, "sim", ini, "--seed", "3", "--out", b, "--set",
                      "trace.max_size=64KiB", NULL),
                0);
    expect_out(&p, "CANNOT VERIFY");
    expect_exit(&p, h_run(&p, dir, "check-b", CMD_TIMEOUT, "check", b, NULL), 2);
    expect_out(&p, "  partial trace: state_machine_safety judged from ");
    expect_out(&p, " records to its 64 KiB cap");
    expect_out(&p, "its oldest");
    rep = h_json_in(b, "report.json");
    ck_assert_str_eq(h_jstr(rep, "verdict"), "cannot verify");
    size_t i;
    json_t *o;
    int partial = 0;
    json_array_foreach(h_jget(rep, "properties"), i, o) partial +=
        json_is_true(json_object_get(o, "partial"));
    ck_assert_int_ge(partial, 8);
    json_decref(rep);
    h_rmtree(dir);
    free(a);
    free(b);
    free(ini);
    free(dir);
}
END_TEST

/* ---- 7. the schedule: the fault timeline through the network state ---- */

/* simcmd.c's command line prints usage through main.c, which a test does
 * not link; the schedule tests never reach it. */
#include "src/cli.h"
void cli_usage(const char *name, FILE *f)
{
    fprintf(f, "usage: distlab %s\n", name);
}

struct recs {
    struct trace_rec *r;
    size_t n, cap;
};

static void on_rec(void *user, const struct trace_rec *r)
{
    struct recs *rc = user;
    if (rc->n == rc->cap) {
        rc->cap = rc->cap ? 2 * rc->cap : 4096;
        rc->r = realloc(rc->r, rc->cap * sizeof *rc->r);
        ck_assert_ptr_nonnull(rc->r);
    }
    rc->r[rc->n++] = *r;
}

static int count_recs(const struct recs *rc, int ev, int node, int peer, int aux)
{
    int c = 0;
    for (size_t i = 0; i < rc->n; i++) {
        const struct trace_rec *r = &rc->r[i];
        c += r->ev == ev && (node < 0 || r->node == node) && (peer < 0 || r->peer == peer) &&
             (aux < 0 || r->aux == aux);
    }
    return c;
}

/* A configuration from --set assignments over the defaults, validated. */
static struct config *config_of(const char *const *sets)
{
    struct config *c = malloc(sizeof *c);
    char err[CONFIG_ERRLEN];
    config_defaults(c);
    for (int i = 0; sets[i]; i++)
        ck_assert_msg(config_set(c, sets[i], err) == 0, "%s: %s", sets[i], err);
    ck_assert_msg(config_validate(c, err) == 0, "%s", err);
    return c;
}

/* Build and run one seed, recording everything. */
static void run_schedule(const struct config *c, uint64_t seed, struct simcmd_bufs *b,
                         struct sim_config *sc, struct sim_result *res, struct recs *rc)
{
    char err[256];
    ck_assert_msg(simcmd_build(c, seed, sc, b, err) == 0, "%s", err);
    rc->n = 0;
    sc->on_record = on_rec;
    sc->user = rc;
    ck_assert_msg(sim_run(sc, res) == 0, "%s", res->violation);
}

/* A partition repeated three times with `for`: each occurrence cuts the
 * 12 links between the sides and its undo restores them (TR_FAULT with
 * b = occurrence and c = 1, aux heal), so the network is whole between the
 * occurrences and at the end; messages are lost only across the cut, with
 * reason partition; the failure detector sees each one. */
START_TEST(test_schedule_repeated_partition)
{
    static const char *const sets[] = {
        "cluster.duration=2s", "cluster.failure_timeout=50ms", "cluster.retransmit=true",
        "workload.requests=1000", "workload.cs_time=1ms", "workload.think_time=1ms",
        "fault.1.at=100ms", "fault.1.action=partition", "fault.1.target=1,2/3-5",
        "fault.1.every=400ms", "fault.1.count=3", "fault.1.for=200ms", NULL};
    struct config *c = config_of(sets);
    struct simcmd_bufs *b = calloc(1, sizeof *b);
    struct sim_config sc;
    struct sim_result res;
    struct recs rc = {0};
    run_schedule(c, 3, b, &sc, &res, &rc);
    ck_assert_int_eq(sc.nfaults, 6);
    ck_assert_int_eq(sc.ninitial_net, 0);
    for (int i = 0; i < 6; i++) {
        const struct sim_fault *f = &sc.faults[i];
        ck_assert_int_eq(f->kind, SIM_NET);
        ck_assert_int_eq(f->at_us, 100000 + (i / 2) * 400000 + (i % 2) * 200000);
        ck_assert_int_eq(f->nnet, 12);
        ck_assert_int_eq(f->undo, i % 2);
        ck_assert_int_eq(f->occurrence, i / 2 + 1);
        ck_assert_int_eq(f->label, i % 2 ? FAULT_HEAL : FAULT_PARTITION);
        for (int k = 0; k < f->nnet; k++) {
            ck_assert_int_eq(f->net[k].cut, i % 2 == 0);
            ck_assert_int_ne((f->net[k].from <= 2), (f->net[k].to <= 2));
        }
    }
    /* The records: each fault, then its 12 links, at the same time. */
    int faults = 0;
    for (size_t i = 0; i < rc.n; i++) {
        const struct trace_rec *r = &rc.r[i];
        if (r->ev != TR_FAULT)
            continue;
        ck_assert_int_eq(r->node, 0);
        ck_assert_int_eq(r->peer, 0);
        ck_assert_int_eq(r->a, 1);
        ck_assert_int_eq(r->b, faults / 2 + 1);
        ck_assert_int_eq(r->c, faults % 2);
        ck_assert_int_eq(r->aux, faults % 2 ? FAULT_HEAL : FAULT_PARTITION);
        ck_assert(i + 12 < rc.n);
        for (size_t j = i + 1; j <= i + 12; j++) {
            ck_assert_int_eq(rc.r[j].ev, TR_LINK);
            ck_assert_int_eq(rc.r[j].node, 0);
            ck_assert_int_eq(rc.r[j].t_us, r->t_us);
            ck_assert_int_eq(rc.r[j].aux, faults % 2 == 0);
        }
        faults++;
    }
    ck_assert_int_eq(faults, 6);
    ck_assert_int_eq(count_recs(&rc, TR_LINK, 0, -1, -1), 72);
    /* Drops: all across the cut while it held (a cut acts at delivery). */
    int drops = 0;
    for (size_t i = 0; i < rc.n; i++) {
        const struct trace_rec *r = &rc.r[i];
        if (r->ev != TR_DROP)
            continue;
        ck_assert_int_eq(r->aux, WIRE_DROP_PARTITION);
        ck_assert_int_ne(r->node <= 2, r->peer <= 2);
        int64_t t = r->t_us;
        bool in = (t >= 100000 && t < 300000) || (t >= 500000 && t < 700000) ||
                  (t >= 900000 && t < 1100000);
        ck_assert_msg(in, "a drop at %lld, with no cut in force", (long long)t);
        drops++;
    }
    ck_assert_int_gt(drops, 0);
    ck_assert_uint_eq(res.dropped_cut, (uint64_t)drops);
    /* Each side loses the other three times (50 ms < 200 ms), and hears
     * it again each time. */
    ck_assert_int_eq(count_recs(&rc, TR_PEER_DOWN, 1, 3, -1), 3);
    ck_assert_int_eq(count_recs(&rc, TR_PEER_DOWN, 5, 2, -1), 3);
    ck_assert_int_eq(count_recs(&rc, TR_PEER_UP, 4, 1, -1), 3);
    ck_assert_int_eq(count_recs(&rc, TR_PEER_DOWN, 1, 2, -1), 0);
    ck_assert_int_eq(count_recs(&rc, TR_PEER_DOWN, 3, 4, -1), 0);
    free(rc.r);
    simcmd_bufs_free(b);
    free(b);
    free(c);
}
END_TEST

/* A net fault: loss 1 on 1 <-> 2 for 300 ms. Its messages are dropped at
 * the receiver with reason loss, only then; the undo puts back the
 * [network] settings, which are every link's initial state (TR_LINK at 0). */
START_TEST(test_schedule_net_loss)
{
    static const char *const sets[] = {
        "cluster.duration=2s", "cluster.retransmit=true", "network.delay=1ms",
        "workload.requests=1000", "workload.cs_time=1ms", "workload.think_time=1ms",
        "fault.1.at=100ms", "fault.1.action=net", "fault.1.target=1<->2", "fault.1.loss=1",
        "fault.1.jitter=2ms", "fault.1.for=300ms", NULL};
    struct config *c = config_of(sets);
    struct simcmd_bufs *b = calloc(1, sizeof *b);
    struct sim_config sc;
    struct sim_result res;
    struct recs rc = {0};
    run_schedule(c, 9, b, &sc, &res, &rc);
    /* The initial state: every link delayed 1 ms. */
    ck_assert_int_eq(sc.ninitial_net, 20);
    ck_assert_int_eq(sc.delay_us, 0);
    int initial = 0;
    for (size_t i = 0; i < rc.n && rc.r[i].t_us == 0; i++)
        if (rc.r[i].ev == TR_LINK) {
            ck_assert_int_eq(rc.r[i].b, 1000);
            initial++;
        }
    ck_assert_int_eq(initial, 20);
    ck_assert_int_eq(sc.nfaults, 2);
    ck_assert_int_eq(sc.faults[0].nnet, 2);
    ck_assert_int_eq(sc.faults[1].nnet, 2);
    ck_assert_uint_eq(sc.faults[0].net[0].loss_ppm, NET_PPM);
    ck_assert_uint_eq(sc.faults[0].net[0].jitter_us, 2000);
    ck_assert_uint_eq(sc.faults[0].net[0].delay_us, 1000);
    ck_assert_uint_eq(sc.faults[1].net[1].loss_ppm, 0);
    ck_assert_uint_eq(sc.faults[1].net[1].jitter_us, 0);
    ck_assert_int_eq(sc.faults[1].label, FAULT_NET);
    ck_assert_int_eq(sc.faults[1].undo, 1);
    int lost = 0;
    for (size_t i = 0; i < rc.n; i++) {
        const struct trace_rec *r = &rc.r[i];
        if (r->ev != TR_DROP)
            continue;
        ck_assert_int_eq(r->aux, WIRE_DROP_LOSS);
        ck_assert((r->node == 1 && r->peer == 2) || (r->node == 2 && r->peer == 1));
        ck_assert(r->t_us >= 100000 && r->t_us < 400000);
        lost++;
    }
    ck_assert_int_gt(lost, 0);
    ck_assert_uint_eq(res.dropped_loss, (uint64_t)lost);
    ck_assert_uint_eq(res.dropped_cut, 0);
    free(rc.r);
    simcmd_bufs_free(b);
    free(b);
    free(c);
}
END_TEST

/* A pause of a random node, repeated with `for`: each occurrence draws its
 * node from the seed, and its undo resumes that same node. A kill under
 * restart on-crash restarts the node it killed with no fault record of its
 * own. */
START_TEST(test_schedule_pause_for_random)
{
    static const char *const sets[] = {
        "cluster.duration=3s", "workload.requests=1000", "workload.cs_time=1ms",
        "workload.think_time=1ms", "supervisor.restart=on-crash",
        "supervisor.restart_delay=50ms", "fault.1.at=100ms", "fault.1.action=pause",
        "fault.1.target=random", "fault.1.every=200ms", "fault.1.count=8", "fault.1.for=100ms",
        "fault.2.at=2500ms", "fault.2.action=kill", "fault.2.target=coordinator", NULL};
    struct config *c = config_of(sets);
    struct simcmd_bufs *b = calloc(1, sizeof *b);
    struct sim_config sc;
    struct sim_result res;
    struct recs rc = {0};
    bool differ = false;
    int first[8] = {0};
    for (uint64_t seed = 1; seed <= 20; seed++) {
        run_schedule(c, seed, b, &sc, &res, &rc);
        ck_assert_int_eq(sc.nfaults, 18);
        int paused = 0, occ = 0;
        for (size_t i = 0; i < rc.n; i++) {
            const struct trace_rec *r = &rc.r[i];
            if (r->ev != TR_FAULT || r->a != 1)
                continue;
            if (r->c == 0) {
                ck_assert_int_eq(r->aux, FAULT_PAUSE);
                ck_assert(r->peer >= 1 && r->peer <= 5);
                paused = r->peer;
                if (seed == 1)
                    first[occ] = paused;
                else
                    differ |= first[occ] != paused;
                occ++;
                ck_assert_int_eq(r->b, occ);
            } else {
                ck_assert_int_eq(r->aux, FAULT_RESUME);
                ck_assert_int_eq(r->peer, paused); /* the node that occurrence paused */
                ck_assert_int_eq(r->b, occ);
            }
        }
        ck_assert_int_eq(occ, 8);
        ck_assert_int_eq(count_recs(&rc, TR_PAUSE, -1, -1, -1), 8);
        ck_assert_int_eq(count_recs(&rc, TR_RESUME, -1, -1, -1), 8);
        /* The kill: one fault record, a crash and a restart 50 ms later. */
        ck_assert_int_eq(count_recs(&rc, TR_FAULT, 0, -1, FAULT_KILL), 1);
        ck_assert_int_eq(count_recs(&rc, TR_FAULT, 0, -1, -1), 17);
        ck_assert_int_eq(count_recs(&rc, TR_CRASH, 1, -1, -1), 1);
        ck_assert_int_eq(count_recs(&rc, TR_RESTART, 1, -1, -1), 1);
    }
    ck_assert_msg(differ, "20 seeds drew the same random nodes");
    free(rc.r);
    simcmd_bufs_free(b);
    free(b);
    free(c);
}
END_TEST

static uint64_t recs_hash(const struct recs *rc)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < rc->n; i++) {
        const unsigned char *p = (const unsigned char *)&rc->r[i];
        for (size_t j = 0; j < sizeof rc->r[i]; j++)
            h = (h ^ p[j]) * 1099511628211ULL;
    }
    return h;
}

/* The same seed gives the same schedule and the same records; different
 * seeds give different schedules. */
START_TEST(test_schedule_deterministic)
{
    static const char *const sets[] = {
        /* Faults on links the centralized algorithm does not use (two
         * clients), so that no message it needs is lost. */
        "cluster.duration=1s", "network.jitter=200us", "workload.requests=200",
        "workload.cs_time=1ms", "workload.think_time=1ms", "fault.1.at=50ms",
        "fault.1.action=partition", "fault.1.target=2<->4", "fault.1.every=150ms",
        "fault.1.for=50ms", "fault.2.at=80ms", "fault.2.action=net", "fault.2.loss=0.3",
        "fault.2.target=3->5", "fault.2.every=200ms", "fault.2.for=20ms", "fault.3.at=100ms",
        "fault.3.action=pause", "fault.3.target=random", "fault.3.every=300ms",
        "fault.3.for=30ms", NULL};
    struct config *c = config_of(sets);
    struct simcmd_bufs *b = calloc(1, sizeof *b);
    struct sim_config sc;
    struct sim_result r1, r2;
    struct recs a = {0}, d = {0};
    uint64_t sched[8];
    for (uint64_t seed = 0; seed < 8; seed++) {
        run_schedule(c, seed, b, &sc, &r1, &a);
        run_schedule(c, seed, b, &sc, &r2, &d);
        ck_assert_uint_eq(r1.schedule, r2.schedule);
        ck_assert_uint_eq(r1.entry_order, r2.entry_order);
        ck_assert_uint_eq(a.n, d.n);
        ck_assert_uint_eq(recs_hash(&a), recs_hash(&d));
        ck_assert_uint_gt(r1.cs_entries, 100);
        /* 7 + 6 undos (the last at the end: left out), 5 + 5, 3 + 3 */
        ck_assert_int_eq(count_recs(&a, TR_FAULT, 0, -1, -1), 29);
        sched[seed] = r1.schedule;
    }
    int distinct = 0;
    for (int i = 0; i < 8; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= sched[j] == sched[i];
        distinct += !seen;
    }
    ck_assert_msg(distinct == 8, "8 seeds gave %d distinct schedules", distinct);
    free(a.r);
    free(d.r);
    simcmd_bufs_free(b);
    free(b);
    free(c);
}
END_TEST

/* A schedule whose link changes pass what the simulator keeps is refused
 * with a reason, not run out of memory. */
START_TEST(test_schedule_too_many_changes)
{
    static const char *const sets[] = {
        "cluster.nodes=128", "cluster.duration=10s", "fault.1.at=0",
        "fault.1.action=partition", "fault.1.target=1-64/65-128", "fault.1.every=1ms",
        "fault.1.for=500us", NULL};
    struct config *c = config_of(sets);
    struct simcmd_bufs *b = calloc(1, sizeof *b);
    struct sim_config sc;
    char err[256] = "";
    ck_assert_int_eq(simcmd_build(c, 1, &sc, b, err), -EINVAL);
    ck_assert_msg(strstr(err, "changes links more than"), "%s", err);
    simcmd_bufs_free(b);
    free(b);
    free(c);
}
END_TEST

static Suite *simcmd_suite(void)
{
    Suite *s = suite_create("simcmd");
    TCase *tc = tcase_create("simcmd");
    tcase_set_timeout(tc, TCASE_TIMEOUT);
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_add_test(tc, test_default_safe);
    tcase_add_test(tc, test_unsafe_replay);
    tcase_add_test(tc, test_record_twice_identical);
    tcase_add_test(tc, test_record_unsafe_resource);
    tcase_add_test(tc, test_token_ring_fencing);
    tcase_add_test(tc, test_replay_reproduces);
    tcase_add_test(tc, test_summary_truthful);
    tcase_add_test(tc, test_deadlock_run_dir);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_seed_range);
    tcase_add_test(tc, test_json_replay);
    tcase_add_test(tc, test_trace_record_and_cap);
    suite_add_tcase(s, tc);
    TCase *sch = tcase_create("schedule");
    tcase_set_timeout(sch, TCASE_TIMEOUT);
    tcase_add_test(sch, test_schedule_repeated_partition);
    tcase_add_test(sch, test_schedule_net_loss);
    tcase_add_test(sch, test_schedule_pause_for_random);
    tcase_add_test(sch, test_schedule_deterministic);
    tcase_add_test(sch, test_schedule_too_many_changes);
    suite_add_tcase(s, sch);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(simcmd_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
