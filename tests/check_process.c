/* Real-process tests: the distlab binary run as a child, with real node
 * processes, POSIX queues, shared memory and signals (STYLE rule 14).
 *
 * Every test makes a fresh temporary directory, writes its runs there with
 * --out, removes it at the end, and checks that each run left no segment,
 * queue or node process behind. Waits are deadlines on polled conditions
 * (a pid printed, a counter in `distlab status --json`), never bare sleeps.
 * The binary is $DISTLAB (default ./distlab), the source tree
 * $DISTLAB_SRCDIR (default .). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/proc.h"
#include "ipc/shm.h"
#include "ipc/trace.h"
#include "ipc/util.h"
#include "ipc/wire.h"
#include "src/config.h"
#include "src/launcher.h"
#include "tests/helpers.h"

/* Bounds: generous, because machines are shared and noisy. A run's own
 * length is at most a few seconds. */
#define TCASE_TIMEOUT 120
#define RUN_TIMEOUT 60.0 /* a whole `distlab run` */
#define CMD_TIMEOUT 30.0 /* a short command: status, pid, check, clean */
#define WAIT_TIMEOUT 30.0 /* a condition during a run */

/* An experiment of the centralized mutex. `extra` is appended (faults). */
static char *mutex_ini(const char *dir, const char *name, const char *duration, long requests,
                       const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text,
             "; written by tests/check_process.c\n"
             "[cluster]\n"
             "name = %s\n"
             "nodes = 5\n"
             "algorithm = centralized\n"
             "duration = %s\n"
             "seed = 42\n"
             "\n"
             "[workload]\n"
             "requests = %ld\n"
             "cs_time = 1ms\n"
             "think_time = 1ms\n"
             "\n"
             "[centralized]\n"
             "coordinator = 1\n"
             "coordinator_competes = false\n"
             "\n"
             "[supervisor]\n"
             "restart = never\n"
             "%s",
             name, duration, requests, extra ? extra : "");
    char file[128];
    snprintf(file, sizeof file, "%s.ini", name);
    return h_write_ini(dir, file, text);
}

/* Fail with the launcher's stderr, and the properties that failed if the
 * run wrote a report, when the exit code is not the expected one. */
static void expect_run_exit(struct h_proc *p, int rc, int want, const char *rundir)
{
    if (rc == want)
        return;
    char *err = h_err(p);
    char failed[2048] = "";
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/report.json", rundir ? rundir : "");
    json_t *rep = rundir && h_exists(path) ? json_load_file(path, 0, NULL) : NULL;
    size_t i, len = 0;
    json_t *prop;
    json_array_foreach(json_object_get(rep, "properties"), i, prop)
    {
        if (!json_is_false(json_object_get(prop, "held")) || len >= sizeof failed)
            continue;
        len += (size_t)snprintf(failed + len, sizeof failed - len, "FAIL %s: %s\n",
                                json_string_value(json_object_get(prop, "name")),
                                json_string_value(json_object_get(prop, "detail")));
    }
    json_decref(rep);
    ck_abort_msg("`%s` exited %d, expected %d; stderr:\n%.2000s%s", p->what, rc, want, err,
                 failed);
}

static void expect_check_safe(const char *dir, const char *rundir)
{
    struct h_proc p;
    int rc = h_run(&p, dir, "check", CMD_TIMEOUT, "check", rundir, NULL);
    char *out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab check %s` exited %d:\n%s", rundir, rc, out);
    free(out);
}

/* ---- waiting on a live run ---- */

struct live {
    const char *dir;    /* the test's directory (for captured output) */
    const char *rundir; /* RUN argument for status/pid */
    struct h_proc *launcher;
    int node;           /* for pid / cs_done */
    long long min_cs;   /* cs_done must exceed this */
    int pid;            /* out: from `distlab pid` */
    char run_id[16];    /* out: from status */
    bool ended;         /* out: the launcher ended while we waited */
};

/* `distlab pid RUNDIR NODE` printed a pid. */
static bool have_pid(void *arg)
{
    struct live *l = arg;
    if (h_ended(l->launcher)) {
        l->ended = true;
        return true;
    }
    char node[16];
    snprintf(node, sizeof node, "%d", l->node);
    struct h_proc p;
    if (h_run(&p, l->dir, "pid", CMD_TIMEOUT, "pid", l->rundir, node, NULL) != 0)
        return false;
    char *out = h_out(&p);
    l->pid = atoi(out);
    free(out);
    return l->pid > 0;
}

/* The run is in its workload phase and node l->node has done more than
 * l->min_cs critical sections (read from `distlab status RUN --json`). */
static bool node_working(void *arg)
{
    struct live *l = arg;
    if (h_ended(l->launcher)) {
        l->ended = true;
        return true;
    }
    return h_node_busy(l->dir, l->rundir, l->node, l->min_cs, NULL, l->run_id,
                       sizeof l->run_id);
}

static void wait_working(struct live *l, int node)
{
    l->node = node;
    ck_assert_msg(h_poll(node_working, l, WAIT_TIMEOUT),
                  "node %d did no critical section within %.0f s", node, WAIT_TIMEOUT);
    if (l->ended) {
        char *err = h_err(l->launcher);
        ck_abort_msg("the run ended early; stderr:\n%.2000s", err);
    }
}

/* ---- TCase run: complete runs and their outputs ---- */

START_TEST(test_centralized_run)
{
    char *dir = h_tmpdir();
    char *rundir = h_path(dir, "run");
    char ini[4200];
    snprintf(ini, sizeof ini, "%s/conf/default.ini", h_srcdir());
    ck_assert_msg(h_exists(ini), "%s is missing (set DISTLAB_SRCDIR)", ini);

    struct h_proc p;
    int rc = h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, "--set",
                   "cluster.nodes=5", "--set", "cluster.algorithm=centralized", "--set",
                   "workload.requests=50", "--set", "workload.cs_time=1ms", "--set",
                   "workload.think_time=1ms", "--set", "centralized.coordinator=1", "--set",
                   "centralized.coordinator_competes=false", "--set", "supervisor.restart=never",
                   NULL);
    expect_run_exit(&p, rc, 0, rundir);

    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_str_eq(h_jstr(rep, "algorithm"), "centralized");
    ck_assert_int_eq(h_jint(rep, "nodes"), 5);
    ck_assert(h_jbool(rep, "safe"));
    ck_assert_int_eq(h_jint(rep, "violations"), 0);
    /* Four clients of 50 requests each; node 1 only coordinates. */
    ck_assert_int_eq(h_jint(rep, "cs_entries"), 200);
    ck_assert_int_eq(h_jint(rep, "counter_expected"), 200);
    ck_assert_int_eq(h_jint(rep, "counter_final"), 200);
    /* Request, grant, release: exactly 3 messages per critical section. */
    ck_assert_double_eq_tol(h_jnum(rep, "messages_per_cs"), 3.0, 1e-9);
    ck_assert_double_eq_tol(h_jnum(rep, "theory_messages_per_cs"), 3.0, 1e-9);
    ck_assert(h_jbool(rep, "workload_done"));
    json_decref(rep);

    expect_check_safe(dir, rundir);

    json_t *tr = h_trace(dir, rundir);
    ck_assert_int_eq(h_trace_count(tr, "enter", -1, -1), 200);
    ck_assert_int_eq(h_trace_count(tr, "enter", 1, -1), 0);
    for (int k = 2; k <= 5; k++)
        ck_assert_int_eq(h_trace_count(tr, "enter", k, -1), 50);
    json_decref(tr);

    char *cfg = h_path(rundir, "config.ini"), *txt = h_path(rundir, "report.txt");
    ck_assert_msg(h_exists(cfg), "%s is missing", cfg);
    ck_assert_msg(h_exists(txt), "%s is missing", txt);
    free(cfg);
    free(txt);

    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(dir);
}
END_TEST

START_TEST(test_two_runs_at_once)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "pair", "30s", 50, NULL);
    char *ra = h_path(dir, "a"), *rb = h_path(dir, "b");
    struct h_proc a, b;
    h_start(&a, dir, "run-a", "run", ini, "--out", ra, NULL);
    h_start(&b, dir, "run-b", "run", ini, "--out", rb, NULL);
    expect_run_exit(&a, h_wait(&a, RUN_TIMEOUT), 0, ra);
    expect_run_exit(&b, h_wait(&b, RUN_TIMEOUT), 0, rb);

    json_t *ja = h_json_in(ra, "run.json"), *jb = h_json_in(rb, "run.json");
    ck_assert_str_ne(h_jstr(ja, "run_id"), h_jstr(jb, "run_id"));
    json_decref(ja);
    json_decref(jb);
    const char *dirs[] = {ra, rb};
    for (int i = 0; i < 2; i++) {
        json_t *rep = h_json_in(dirs[i], "report.json");
        ck_assert(h_jbool(rep, "safe"));
        ck_assert_int_eq(h_jint(rep, "violations"), 0);
        ck_assert_int_eq(h_jint(rep, "cs_entries"), 200);
        json_decref(rep);
        expect_check_safe(dir, dirs[i]);
        h_assert_no_leftovers(dirs[i]);
    }
    h_rmtree(dir);
    free(ra);
    free(rb);
    free(ini);
    free(dir);
}
END_TEST

/* ---- TCase crash: nodes killed from outside and from the schedule ---- */

/* Kill node 3 with SIGKILL by its pid, as a user would with
 * `kill -9 $(distlab pid 3)`, during a 4 s run; with restart, the
 * supervisor starts it again. */
static void kill_from_outside(bool restart)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "kill", "4s", 100000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    if (restart)
        h_start(&p, dir, "run", "run", ini, "--out", rundir, "--set",
                "supervisor.restart=on-crash", "--set", "supervisor.restart_delay=100ms", NULL);
    else
        h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);

    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p, .node = 3};
    ck_assert_msg(h_poll(have_pid, &l, WAIT_TIMEOUT), "`distlab pid %s 3` printed no pid", rundir);
    ck_assert_msg(!l.ended, "the run ended before node 3 started");
    wait_working(&l, 3);

    /* Make sure the pid is node 3 of this run before killing it. */
    char path[64], cmd[512] = {0};
    snprintf(path, sizeof path, "/proc/%d/cmdline", l.pid);
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ssize_t n = read(fd, cmd, sizeof cmd - 3); /* zeroes after: a short argv reads as "" */
    close(fd);
    ck_assert(n > 0);
    cmd[n] = '\0';
    const char *a1 = cmd + strlen(cmd) + 1, *a2 = a1 + strlen(a1) + 1;
    char seg[32];
    snprintf(seg, sizeof seg, "/distlab.%s", l.run_id);
    ck_assert_msg(strstr(cmd, "distlab-node") && strcmp(a1, "3") == 0 && strcmp(a2, seg) == 0,
                  "pid %d is not `distlab-node 3 %s` (%s %s %s)", l.pid, seg, cmd, a1, a2);
    ck_assert_int_eq(kill(l.pid, SIGKILL), 0);

    expect_run_exit(&p, h_wait(&p, RUN_TIMEOUT), 0, rundir);

    json_t *tr = h_trace(dir, rundir);
    ck_assert_int_eq(h_trace_count(tr, "crash", 3, -1), 1);
    json_t *crash = h_trace_find(tr, "crash", 3);
    ck_assert_str_eq(h_jstr(crash, "signal"), "SIGKILL");
    long long t_crash = h_jint(crash, "t_us");
    int after = 0;
    for (int k = 2; k <= 5; k++)
        if (k != 3)
            after += h_trace_count(tr, "enter", k, t_crash);
    ck_assert_msg(after > 0, "no other client entered the CS after node 3 crashed");
    ck_assert_int_eq(h_trace_count(tr, "crash", -1, -1), 1);

    if (restart) {
        ck_assert_int_eq(h_trace_count(tr, "restart", 3, -1), 1);
        json_t *rs = h_trace_find(tr, "restart", 3);
        ck_assert_int_ge(h_jint(rs, "t_us"), t_crash);
        int inc2 = 0;
        size_t i;
        json_t *o;
        json_array_foreach(tr, i, o)
        {
            if (h_event_is(o, "enter", 3) && h_jint(o, "incarnation") == 2)
                inc2++;
        }
        ck_assert_msg(inc2 > 0, "restarted node 3 (incarnation 2) never entered the CS");
    } else {
        ck_assert_int_eq(h_trace_count(tr, "restart", -1, -1), 0);
    }
    json_decref(tr);

    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert(h_jbool(rep, "safe"));
    json_t *n3 = h_jnode(rep, "per_node", 3);
    ck_assert_msg(n3 != NULL, "report.json per_node has no node 3");
    ck_assert_int_eq(h_jint(n3, "crashes"), 1);
    json_decref(rep);

    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_int_eq(h_jint(run, "per_node.2.node"), 3);
    ck_assert_int_eq(h_jint(run, "per_node.2.crashes"), 1);
    ck_assert_int_eq(h_jint(run, "per_node.2.incarnations"), restart ? 2 : 1);
    json_decref(run);

    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}

START_TEST(test_kill_by_pid) { kill_from_outside(false); }
END_TEST

START_TEST(test_kill_by_pid_restart) { kill_from_outside(true); }
END_TEST

/* Faults from the INI file: kill node 3, pause node 4 and resume it. (Not
 * the coordinator: without coordinator failover, killing it stalls the
 * centralized algorithm in this version.) */
START_TEST(test_scheduled_faults)
{
    static const char faults[] = "\n[fault.1]\nat = 300ms\naction = kill\ntarget = 3\n"
                                 "\n[fault.2]\nat = 600ms\naction = pause\ntarget = 4\n"
                                 "\n[fault.3]\nat = 900ms\naction = resume\ntarget = 4\n";
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "faults", "2s", 100000, faults);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    expect_run_exit(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), 0,
                    rundir);

    json_t *tr = h_trace(dir, rundir);
    static const struct {
        const char *action;
        int target;
    } want[] = {{"kill", 3}, {"pause", 4}, {"resume", 4}};
    ck_assert_int_eq(h_trace_count(tr, "fault", -1, -1), 3);
    long long t_fault[3];
    size_t i, nf = 0;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (!h_event_is(o, "fault", -1))
            continue;
        ck_assert_uint_lt(nf, 3);
        ck_assert_str_eq(h_jstr(o, "action"), want[nf].action);
        ck_assert_int_eq(h_jint(o, "target"), want[nf].target);
        t_fault[nf++] = h_jint(o, "t_us");
    }
    ck_assert_int_le(t_fault[0], t_fault[1]);
    ck_assert_int_le(t_fault[1], t_fault[2]);

    json_t *crash = h_trace_find(tr, "crash", 3);
    ck_assert_msg(crash != NULL, "no crash event for node 3");
    ck_assert_str_eq(h_jstr(crash, "signal"), "SIGKILL");
    json_t *pause = h_trace_find(tr, "pause", 4);
    ck_assert_msg(pause != NULL, "no pause event for node 4");
    ck_assert_str_eq(h_jstr(pause, "signal"), "SIGSTOP");
    json_t *resume = h_trace_find(tr, "resume", 4);
    ck_assert_msg(resume != NULL, "no resume event for node 4");
    ck_assert_str_eq(h_jstr(resume, "signal"), "SIGCONT");
    ck_assert_int_le(h_jint(pause, "t_us"), h_jint(resume, "t_us"));
    /* The resumed node works again (its request must not be lost while it
     * was paused). */
    ck_assert_msg(h_trace_count(tr, "enter", 4, h_jint(resume, "t_us")) > 0,
                  "node 4 never entered the CS again after it was resumed");
    json_decref(tr);

    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert(h_jbool(rep, "safe"));
    json_t *fl = h_jget(rep, "faults");
    ck_assert_msg(json_is_array(fl), "report.json has no faults array");
    ck_assert_int_eq(json_array_size(fl), 3);
    for (size_t k = 0; k < 3; k++) {
        json_t *f = json_array_get(fl, k);
        ck_assert_str_eq(h_jstr(f, "action"), want[k].action);
        ck_assert_int_eq(h_jint(f, "node"), want[k].target);
    }
    ck_assert_int_eq(h_jint(h_jnode(rep, "per_node", 3), "crashes"), 1);
    json_decref(rep);

    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- TCase malformed: junk in a node's queue is counted, never fatal ---- */

static void send_or_wait(mqd_t q, const void *buf, size_t len)
{
    /* The node drains its queue continuously: a full queue is a moment. */
    double deadline = h_now() + WAIT_TIMEOUT;
    while (mq_send(q, buf, len, 0) < 0) {
        ck_assert_msg(errno == EAGAIN || errno == EINTR, "mq_send: %s", strerror(errno));
        ck_assert_msg(h_now() < deadline, "node 2's queue stayed full for %.0f s",
                      WAIT_TIMEOUT);
        struct timespec ts = {0, 2 * 1000 * 1000L};
        nanosleep(&ts, NULL);
    }
}

START_TEST(test_malformed_messages)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "junk", "3s", 100000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_working(&l, 2);

    char qname[64];
    snprintf(qname, sizeof qname, "/distlab.%s.n2", l.run_id);
    mqd_t q = mq_open(qname, O_WRONLY | O_NONBLOCK);
    ck_assert_msg(q != (mqd_t)-1, "mq_open %s: %s", qname, strerror(errno));
    struct mq_attr attr;
    ck_assert_int_eq(mq_getattr(q, &attr), 0);
    size_t msgsize = (size_t)attr.mq_msgsize;
    ck_assert_uint_ge(msgsize, sizeof(struct wire_hdr));
    uint8_t *buf = calloc(1, msgsize);
    ck_assert(buf != NULL);

    /* 20 messages of random bytes and random sizes (a fixed seed). */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int sent = 0;
    for (int m = 0; m < 20; m++) {
        for (size_t i = 0; i < msgsize; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        send_or_wait(q, buf, 1 + (size_t)(x % msgsize));
        sent++;
    }
    send_or_wait(q, "short", 5);
    sent++;

    uint32_t run_id = (uint32_t)strtoul(l.run_id, NULL, 16);
    struct wire_hdr good = {.magic = WIRE_MAGIC, .version = WIRE_VERSION, .type = 0x0101,
                            .run_id = run_id, .from = 3, .to = 2, .len = 0};
    struct wire_hdr h = good;
    h.magic = 0xdeadbeefu;
    send_or_wait(q, &h, sizeof h);
    h = good;
    h.run_id = run_id ^ 0x5a5a5a5au;
    send_or_wait(q, &h, sizeof h);
    h = good;
    h.type = 0x0999; /* valid in every other field, known to no algorithm */
    send_or_wait(q, &h, sizeof h);
    h = good;
    /* Well formed, from node 3's live incarnation, but a request whose
     * sequence number no run reaches: the core refuses the field. */
    h.flags = (uint32_t)1 << WIRE_INC_SHIFT;
    h.f[0] = INT64_MAX;
    send_or_wait(q, &h, sizeof h);
    sent += 4;
    mq_close(q);
    free(buf);

    expect_run_exit(&p, h_wait(&p, RUN_TIMEOUT), 0, rundir);

    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_int_eq(h_jint(run, "per_node.1.node"), 2);
    ck_assert_int_eq(h_jint(run, "per_node.1.crashes"), 0);
    ck_assert_int_eq(h_jint(run, "per_node.1.incarnations"), 1);
    ck_assert_int_ge(h_jint(run, "per_node.1.malformed"), sent);
    json_decref(run);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert(h_jbool(rep, "safe"));
    json_decref(rep);

    /* Each rejection is a "drop" event of node 2 naming its reason. */
    json_t *tr = h_trace(dir, rundir);
    int reasons[5] = {0};
    static const char *const names[5] = {"short", "magic", "run", "type", "field"};
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (!h_event_is(o, "drop", 2))
            continue;
        for (int k = 0; k < 5; k++)
            if (strcmp(h_jstr(o, "reason"), names[k]) == 0)
                reasons[k]++;
    }
    ck_assert_int_ge(reasons[0], 1);       /* the 5-byte one, and random short ones */
    ck_assert_int_ge(reasons[1], 2);       /* random bytes and the wrong magic */
    ck_assert_int_eq(reasons[0] + reasons[1], 22);
    ck_assert_int_eq(reasons[2], 1);
    ck_assert_int_eq(reasons[3], 1);
    ck_assert_int_eq(reasons[4], 1);
    json_decref(tr);

    /* Logged once per kind (short, magic, run, type), counted always. */
    char *logpath = h_path(rundir, "n2.log");
    char *log = h_slurp(logpath);
    ck_assert_msg(log != NULL, "%s is missing", logpath);
    int lines = 0;
    for (char *s = log; (s = strstr(s, "malformed")) != NULL; s++) {
        lines++;
        s = strchr(s, '\n');
        if (!s)
            break;
    }
    ck_assert_msg(lines >= 1 && lines < 10, "n2.log has %d lines about malformed messages",
                  lines);
    free(log);
    free(logpath);

    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- TCase launcher: signals to the launcher itself ---- */

START_TEST(test_sigint_launcher)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "int", "30s", 100000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_working(&l, 2);
    ck_assert_int_eq(kill(p.pid, SIGINT), 0);
    expect_run_exit(&p, h_wait(&p, RUN_TIMEOUT), 3, rundir);

    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_str_eq(h_jstr(rep, "stop_reason"), "signal");
    ck_assert(h_jbool(rep, "safe"));
    json_decref(rep);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_str_eq(h_jstr(run, "run_id"), l.run_id);
    ck_assert_str_eq(h_jstr(run, "stop_reason"), "signal");
    json_decref(run);

    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

struct gone {
    const char *run_id;
};

static bool nodes_gone(void *arg)
{
    const struct gone *g = arg;
    return h_node_procs(g->run_id) == 0;
}

START_TEST(test_sigkill_launcher)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "kill9", "30s", 100000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_working(&l, 2);
    ck_assert_int_eq(h_node_procs(l.run_id), 5);

    /* From the kill to our clean, no other copy of this test may run
     * `distlab clean`: it would remove our stale run before we could. */
    int lock = h_lock("clean", WAIT_TIMEOUT);

    ck_assert_int_eq(kill(p.pid, SIGKILL), 0);
    ck_assert_int_eq(h_wait(&p, CMD_TIMEOUT), 128 + SIGKILL);

    /* PR_SET_PDEATHSIG: the nodes die with their launcher. */
    struct gone g = {l.run_id};
    ck_assert_msg(h_poll(nodes_gone, &g, 10.0),
                  "%d node(s) of run %s outlived their launcher by 10 s",
                  h_node_procs(l.run_id), l.run_id);
    /* Nobody removed the IPC objects: that is `distlab clean`'s job. */
    ck_assert_msg(h_shm_exists(l.run_id), "the segment of the killed run %s is gone", l.run_id);

    struct h_proc c;
    int rc = h_run(&c, dir, "clean", CMD_TIMEOUT, "clean", NULL);
    char *out = h_out(&c);
    char want[64];
    snprintf(want, sizeof want, "removed stale run %s", l.run_id);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d", rc);
    ck_assert_msg(strstr(out, want) != NULL, "`distlab clean` did not say '%s':\n%s", want, out);
    free(out);
    h_unlock(lock);

    h_assert_no_leftovers_id(l.run_id, 5);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- TCase cli: bad input and the command line ---- */

START_TEST(test_bad_config)
{
    char *dir = h_tmpdir();
    char *out = h_path(dir, "never");
    /* Line 3 is the bad one. */
    char *ini = h_write_ini(dir, "bad.ini",
                            "[cluster]\n"
                            "name = bad\n"
                            "nodes = 0\n"
                            "algorithm = centralized\n");
    struct h_proc p;
    int rc = h_run(&p, dir, "bad", CMD_TIMEOUT, "run", ini, "--out", out, NULL);
    char *err = h_err(&p);
    ck_assert_msg(rc == 2, "exit %d for nodes = 0, expected 2", rc);
    char where[PATH_MAX + 8];
    snprintf(where, sizeof where, "%s:3:", ini);
    ck_assert_msg(strstr(err, where) && strstr(err, "nodes"),
                  "stderr does not name '%s' and 'nodes':\n%s", where, err);
    ck_assert_msg(!h_exists(out), "a run directory was created for a bad configuration");
    free(err);

    char *missing = h_path(dir, "missing.ini");
    rc = h_run(&p, dir, "missing", CMD_TIMEOUT, "run", missing, "--out", out, NULL);
    err = h_err(&p);
    ck_assert_msg(rc == 2, "exit %d for a missing file, expected 2", rc);
    ck_assert_msg(strstr(err, missing) != NULL, "stderr does not name %s:\n%s", missing, err);
    ck_assert_msg(!h_exists(out), "a run directory was created for a missing file");
    free(err);

    /* --out naming a file, or a path through one: said as such, nothing
     * made, the file untouched. */
    char *file = h_write_ini(dir, "afile", "keep\n");
    char *through = h_path(dir, "afile/sub");
    char conf[PATH_MAX];
    snprintf(conf, sizeof conf, "%s/conf/default.ini", h_srcdir());
    const char *outs[] = {file, through};
    for (int i = 0; i < 2; i++) {
        rc = h_run(&p, dir, "outfile", CMD_TIMEOUT, "run", conf, "--out", outs[i], NULL);
        err = h_err(&p);
        ck_assert_msg(rc == 2 && strstr(err, "not a directory") && !strstr(err, "not empty"),
                      "--out %s exited %d:\n%s", outs[i], rc, err);
        free(err);
    }
    char *kept = h_slurp(file);
    ck_assert_str_eq(kept, "keep\n");
    free(kept);
    free(through);
    free(file);

    /* A RUN that names no live run (this directory is not one). */
    rc = h_run(&p, dir, "pid", CMD_TIMEOUT, "pid", dir, "3", NULL);
    ck_assert_int_eq(rc, 1);

    h_rmtree(dir);
    free(missing);
    free(ini);
    free(out);
    free(dir);
}
END_TEST

/* A node is started with SIGXFSZ ignored, so a file-size limit
 * (RLIMIT_FSIZE) reached by its trace is a cut in the evidence, not a
 * crash nobody injected. Checked on a process proc_spawn starts as it
 * starts a node: its SigIgn mask in /proc. */
START_TEST(test_spawn_ignores_sigxfsz)
{
    char *dir = h_tmpdir();
    char *log = h_path(dir, "status.txt");
    char *const argv[] = {"cat", "/proc/self/status", NULL};
    pid_t pid = proc_spawn("/bin/cat", argv, NULL, log);
    ck_assert_int_gt(pid, 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *text = h_slurp(log);
    const char *ign = strstr(text, "SigIgn:");
    ck_assert_msg(ign != NULL, "no SigIgn in:\n%s", text);
    unsigned long long mask = strtoull(ign + 7, NULL, 16);
    ck_assert_msg(mask & (1ULL << (SIGXFSZ - 1)), "SIGXFSZ is not ignored: SigIgn %llx", mask);
    free(text);
    h_rmtree(dir);
    free(log);
    free(dir);
}
END_TEST

START_TEST(test_command_line)
{
    char *dir = h_tmpdir();
    struct h_proc p;
    ck_assert_int_eq(h_run(&p, dir, "version", CMD_TIMEOUT, "--version", NULL), 0);
    char *out = h_out(&p);
    ck_assert_msg(strncmp(out, "distlab ", 8) == 0 && out[8] >= '0' && out[8] <= '9',
                  "--version printed '%s'", out);
    free(out);

    ck_assert_int_eq(h_run(&p, dir, "help", CMD_TIMEOUT, "run", "--help", NULL), 0);
    out = h_out(&p);
    ck_assert_msg(strstr(out, "usage: distlab run") != NULL, "run --help printed '%s'", out);
    free(out);

    ck_assert_int_eq(h_run(&p, dir, "unknown", CMD_TIMEOUT, "no-such-command", NULL), 2);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- TCase crash loop: a node that dies at once ---- */

/* The launcher's stderr has said `text` (or it ended). */
struct said {
    struct h_proc *p;
    const char *text;
};

static bool stderr_says(void *arg)
{
    struct said *w = arg;
    char *err = h_err(w->p);
    bool yes = strstr(err, w->text) != NULL;
    free(err);
    return yes || h_ended(w->p);
}

/* Node 3 of a run with restart = on-crash and no delay is killed, and every
 * later life of it dies at once (its persisted state cannot be read: the
 * file is a directory). The supervisor backs off, doubling, and gives it
 * up after 5 crashes; the run goes on without it. */
START_TEST(test_crash_loop)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "loop", "60s", 100000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, "--set", "supervisor.restart=on-crash",
            "--set", "supervisor.restart_delay=0", NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p, .node = 3};
    wait_working(&l, 3);
    ck_assert_msg(h_poll(have_pid, &l, WAIT_TIMEOUT) && !l.ended, "no pid for node 3");
    char *persist = h_path(rundir, "n3.persist");
    ck_assert_int_eq(mkdir(persist, 0700), 0);
    free(persist);
    ck_assert_int_eq(kill(l.pid, SIGKILL), 0);
    /* However slow the machine, the loop ends well within the run. */
    struct said w = {&p, "distlab: node 3 crashed 5 times within 10s: not restarting it again"};
    bool said = h_poll(stderr_says, &w, WAIT_TIMEOUT) && !h_ended(&p);
    char *err = h_err(&p);
    ck_assert_msg(said, "stderr does not say the crash loop was given up:\n%.2000s", err);
    free(err);
    ck_assert_int_eq(kill(p.pid, SIGINT), 0);
    expect_run_exit(&p, h_wait(&p, RUN_TIMEOUT), 3, rundir);

    json_t *tr = h_trace(dir, rundir);
    ck_assert_int_eq(h_trace_count(tr, "crash", 3, -1), 5);
    ck_assert_int_eq(h_trace_count(tr, "restart", 3, -1), 4);
    /* Each restart waits twice as long as the one before: 0 (restart_delay),
     * then 20, 40, 80 ms (from the 10 ms floor). */
    long long t_crash = -1;
    int restarts = 0;
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (h_event_is(o, "crash", 3))
            t_crash = h_jint(o, "t_us");
        if (!h_event_is(o, "restart", 3))
            continue;
        ck_assert_int_ge(t_crash, 0);
        long long wait = h_jint(o, "t_us") - t_crash;
        long long least = restarts == 0 ? 0 : 10000LL << restarts;
        ck_assert_msg(wait >= least, "restart %d came %lld us after the crash, expected >= %lld",
                      restarts + 1, wait, least);
        restarts++;
    }
    json_decref(tr);

    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_int_eq(json_array_size(h_jget(run, "restarts_given_up")), 1);
    ck_assert_int_eq(h_jint(run, "restarts_given_up.0"), 3);
    ck_assert(h_jbool(run, "per_node.2.restart_given_up"));
    ck_assert(!h_jbool(run, "per_node.1.restart_given_up"));
    ck_assert_int_eq(h_jint(run, "per_node.2.crashes"), 5);
    ck_assert_int_eq(h_jint(run, "per_node.2.incarnations"), 5);
    json_decref(run);

    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* Six kills of node 3 from the fault schedule within half a second: the
 * experiment, not a crash loop. Each is followed by a restart. */
START_TEST(test_scheduled_kills_not_a_loop)
{
    char faults[1024];
    size_t n = 0;
    for (int i = 1; i <= 6; i++)
        n += (size_t)snprintf(faults + n, sizeof faults - n,
                              "\n[fault.%d]\nat = %dms\naction = kill\ntarget = 3\n", i,
                              200 + 100 * i);
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "kills", "2s", 100000, faults);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    int rc = h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, "--set",
                   "supervisor.restart=on-crash", "--set", "supervisor.restart_delay=0", NULL);
    expect_run_exit(&p, rc, 0, rundir);
    char *err = h_err(&p);
    ck_assert_msg(strstr(err, "not restarting it again") == NULL, "%s", err);
    free(err);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_int_eq(json_array_size(h_jget(run, "restarts_given_up")), 0);
    ck_assert(!h_jbool(run, "per_node.2.restart_given_up"));
    json_t *fl = h_jget(run, "faults");
    size_t i;
    json_t *f;
    int killed = 0;
    json_array_foreach(fl, i, f) killed += json_object_get(f, "skipped") == NULL;
    ck_assert_int_eq(h_jint(run, "per_node.2.crashes"), killed);
    ck_assert_int_eq(h_jint(run, "per_node.2.incarnations"), killed + 1);
    ck_assert_int_ge(killed, 5);
    json_decref(run);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- a fault the run never reached ---- */

START_TEST(test_unreached_fault_warned)
{
    static const char fault[] = "\n[fault.1]\nat = 25s\naction = kill\ntarget = 3\n";
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "late", "30s", 20, fault);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    expect_run_exit(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), 0,
                    rundir);
    char *err = h_err(&p);
    ck_assert_msg(strstr(err, "distlab: warning: fault.1 (kill 3 at 25.000s) was not injected: "
                              "the run ended (workload done) before it was due") != NULL,
                  "no warning about the unreached fault:\n%.2000s", err);
    free(err);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_int_eq(json_array_size(h_jget(run, "faults")), 1);
    ck_assert_str_eq(h_jstr(run, "faults.0.skipped"), "the run ended before it was due");
    ck_assert_str_eq(h_jstr(run, "faults.0.action"), "kill");
    ck_assert(json_is_null(h_jget(run, "faults.0.node")));
    json_decref(run);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_int_eq(json_array_size(h_jget(rep, "faults")), 1);
    json_decref(rep);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* A fault whose target is down when it is due is skipped, with a warning
 * and the reason in run.json. */
START_TEST(test_skipped_fault_warned)
{
    static const char faults[] = "\n[fault.1]\nat = 100ms\naction = kill\ntarget = 3\n"
                                 "\n[fault.2]\nat = 700ms\naction = pause\ntarget = 3\n";
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "skip", "1s", 100000, faults);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    expect_run_exit(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), 0,
                    rundir);
    char *err = h_err(&p);
    ck_assert_msg(strstr(err, "distlab: warning: fault.2 (pause 3) was not injected: node 3 is "
                              "down") != NULL,
                  "no warning about the skipped fault:\n%.2000s", err);
    free(err);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_str_eq(h_jstr(run, "faults.1.skipped"), "node 3 is down");
    json_decref(run);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* A fault aimed at a role that nobody holds at its due time (the
 * coordinator killed 100 ms before, no election yet: the failure timeout
 * is 1 s)
 * waits for a holder for 100 ms, then is skipped with the reason - not at
 * once, since a role is often between holders for a moment (a token in
 * flight). */
START_TEST(test_role_fault_waits_for_holder)
{
    static const char text[] = "[cluster]\nname = rolewait\nnodes = 4\nalgorithm = centralized\n"
                               "duration = 2s\nseed = 3\nfailure_timeout = 1s\n\n"
                               "[workload]\nrequests = 100000\ncs_time = 1ms\nthink_time = 1ms\n\n"
                               "[fault.1]\nat = 200ms\naction = kill\ntarget = coordinator\n\n"
                               "[fault.2]\nat = 300ms\naction = pause\ntarget = coordinator\n";
    char *dir = h_tmpdir();
    char *ini = h_write_ini(dir, "rolewait.ini", text);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    expect_run_exit(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), 0,
                    rundir);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_str_eq(h_jstr(run, "faults.1.skipped"), "no node holds the coordinator role now");
    double waited = h_jnum(run, "faults.1.t_ms") - 300.0;
    ck_assert_msg(waited >= 99.0, "fault.2 was given up after %.3f ms", waited);
    json_decref(run);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* Every time at its largest accepted value: the run still ends when its
 * workload is done (a duration that wrapped around ended it at once, with
 * reason "duration"). */
START_TEST(test_run_at_maximum)
{
    static const char fault[] = "\n[fault.1]\nat = 86399999999us\naction = kill\ntarget = 3\n";
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "max", "24h", 20, fault);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    int rc = h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, "--set",
                   "supervisor.restart=on-crash", "--set", "supervisor.restart_delay=1h", "--set",
                   "cluster.failure_timeout=1h", "--set", "centralized.election_timeout=1h",
                   "--set", "workload.think_time=0", NULL);
    expect_run_exit(&p, rc, 0, rundir);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_str_eq(h_jstr(run, "stop_reason"), "workload done");
    ck_assert_str_eq(h_jstr(run, "faults.0.skipped"), "the run ended before it was due");
    json_decref(run);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_int_eq(h_jint(rep, "cs_entries"), 80);
    json_decref(rep);
    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- forged "workload done" on the supervisor's queue ---- */

START_TEST(test_forged_done)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "forge", "60s", 400, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_working(&l, 2);

    char qname[64];
    snprintf(qname, sizeof qname, "/distlab.%s.n0", l.run_id);
    mqd_t q = mq_open(qname, O_WRONLY | O_NONBLOCK);
    ck_assert_msg(q != (mqd_t)-1, "mq_open %s: %s", qname, strerror(errno));
    uint32_t run_id = (uint32_t)strtoul(l.run_id, NULL, 16);
    /* Well formed in every field, from each node's live incarnation, each
     * claiming its whole quota. */
    for (int k = 1; k <= 5; k++) {
        struct wire_hdr h = {.magic = WIRE_MAGIC,
                             .version = WIRE_VERSION,
                             .type = 0x0001,
                             .run_id = run_id,
                             .from = (uint16_t)k,
                             .to = 0,
                             .len = 0,
                             .flags = 1u << WIRE_INC_SHIFT};
        h.f[0] = 400;
        send_or_wait(q, &h, sizeof h);
    }
    mq_close(q);
    expect_run_exit(&p, h_wait(&p, RUN_TIMEOUT), 0, rundir);

    /* The run went on to do every request: no claim stopped it early. */
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_int_eq(h_jint(rep, "cs_entries"), 1600);
    ck_assert(h_jbool(rep, "safe"));
    ck_assert(h_jbool(rep, "workload_done"));
    json_decref(rep);
    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_str_eq(h_jstr(run, "stop_reason"), "workload done");
    ck_assert_int_eq(h_jint(run, "false_done_claims"), 5);
    ck_assert_int_eq(h_jint(run, "supervisor_malformed"), 5);
    json_decref(run);
    char *err = h_err(&p);
    const char *said = strstr(err, "ignored a 'workload done' message");
    ck_assert_msg(said != NULL, "the false claim was not logged:\n%.2000s", err);
    ck_assert_msg(strstr(said + 1, "ignored a 'workload done' message") == NULL,
                  "the false claim was logged more than once:\n%.2000s", err);
    free(err);

    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- signals to the launcher: each ends the run with a report ---- */

/* stops: the signal stops the run; otherwise it is handled (SIGUSR1 prints
 * the status, SIGUSR2 looks for restart requests) or ignored (SIGPIPE,
 * SIGXFSZ: raised by the launcher's own writes), and SIGTERM then stops
 * the run. sig 0 is SIGRTMIN and -1 SIGRTMAX (not constants). */
static const struct {
    int sig;
    const char *name;
    bool stops;
} signal_cases[] = {
    {SIGHUP, "SIGHUP", true},    {SIGINT, "SIGINT", true},       {SIGQUIT, "SIGQUIT", true},
    {SIGTERM, "SIGTERM", true},  {SIGALRM, "SIGALRM", true},     {SIGVTALRM, "SIGVTALRM", true},
    {SIGPROF, "SIGPROF", true},  {SIGXCPU, "SIGXCPU", true},     {SIGIO, "SIGPOLL", true},
    {SIGPWR, "SIGPWR", true},    {SIGSTKFLT, "SIGSTKFLT", true}, {0, "SIGRTMIN", true},
    {-1, "SIGRTMAX", true},      {SIGUSR1, "SIGUSR1", false},    {SIGUSR2, "SIGUSR2", false},
    {SIGPIPE, "SIGPIPE", false}, {SIGXFSZ, "SIGXFSZ", false},
};
#define NSIGNAL_CASES ((int)(sizeof signal_cases / sizeof signal_cases[0]))

START_TEST(test_signal_ends_cleanly)
{
    int sig = signal_cases[_i].sig == 0    ? SIGRTMIN
              : signal_cases[_i].sig == -1 ? SIGRTMAX
                                           : signal_cases[_i].sig;
    char name[32];
    if (sig == SIGRTMAX)
        snprintf(name, sizeof name, "SIGRTMIN+%d", SIGRTMAX - SIGRTMIN);
    else
        snprintf(name, sizeof name, "%s", signal_cases[_i].name);
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "sig", "30s", 100000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_working(&l, 2);
    ck_assert_int_eq(kill(p.pid, sig), 0);
    if (!signal_cases[_i].stops) {
        if (sig == SIGUSR1) {
            /* The status is several writes: wait for its last line. */
            struct said w = {&p, "distlab:   node 5: pid "};
            ck_assert_msg(h_poll(stderr_says, &w, WAIT_TIMEOUT) && !h_ended(&p),
                          "SIGUSR1 printed no status (or not node 5's line)");
            char *err = h_err(&p);
            ck_assert_msg(strstr(err, "distlab: status of run ") != NULL, "%s", err);
            free(err);
        }
        ck_assert_msg(kill(p.pid, SIGTERM) == 0, "the launcher ended on %s", name);
    }
    int rc = h_wait(&p, RUN_TIMEOUT);
    ck_assert_msg(rc == 3, "%s: the launcher exited %d, expected 3 (interrupted)", name, rc);
    char *err = h_err(&p);
    char want[64];
    snprintf(want, sizeof want, "distlab: %s: stopping the run",
             signal_cases[_i].stops ? name : "SIGTERM");
    ck_assert_msg(strstr(err, want) != NULL, "%s: stderr does not say '%s':\n%.2000s", name, want,
                  err);
    snprintf(want, sizeof want, "distlab: %s: stopping", name);
    ck_assert_msg(signal_cases[_i].stops || strstr(err, want) == NULL,
                  "%s stopped the run:\n%.2000s", name, err);
    free(err);

    json_t *run = h_json_in(rundir, "run.json");
    ck_assert_str_eq(h_jstr(run, "stop_reason"), "signal");
    json_decref(run);
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

/* ---- the launcher stopped while a node dies ---- */

struct stamps {
    struct shm_run *run;
    int64_t dead; /* node 3's last heartbeat */
};

/* Node 2 has stamped its heartbeat a second past node 3's last one. */
static bool heartbeat_moved_on(void *arg)
{
    struct stamps *st = arg;
    int64_t live = atomic_load(&st->run->node[2].heartbeat_us);
    st->dead = atomic_load(&st->run->node[3].heartbeat_us);
    return live - st->dead >= 1000000;
}

/* SIGSTOP the launcher, SIGKILL node 3: the supervisor learns of the crash
 * only when it runs again, more than a second later. The crash record
 * still says when node 3 was last alive: its last heartbeat stamp. */
START_TEST(test_crash_while_launcher_stopped)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "stopped", "30s", 100000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p, .node = 3};
    wait_working(&l, 3);
    ck_assert_msg(h_poll(have_pid, &l, WAIT_TIMEOUT) && !l.ended, "no pid for node 3");

    char seg[64], err[DL_ERRLEN];
    snprintf(seg, sizeof seg, "/distlab.%s", l.run_id);
    struct shm_handle shm;
    ck_assert_msg(shm_attach(&shm, seg, false, err) == 0, "%s", err);
    ck_assert_int_eq(kill(p.pid, SIGSTOP), 0);
    ck_assert_int_eq(kill(l.pid, SIGKILL), 0);
    struct stamps st = {shm.run, 0};
    ck_assert_msg(h_poll(heartbeat_moved_on, &st, WAIT_TIMEOUT),
                  "node 2's heartbeat did not move a second past node 3's");
    int64_t last = st.dead;
    shm_detach(&shm);
    ck_assert_int_eq(kill(p.pid, SIGCONT), 0);
    ck_assert_int_eq(kill(p.pid, SIGINT), 0);
    expect_run_exit(&p, h_wait(&p, RUN_TIMEOUT), 3, rundir);

    struct trace_rec *recs = NULL;
    size_t n = 0;
    ck_assert_msg(trace_load(rundir, &recs, &n, err) == 0, "%s", err);
    int crashes = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].ev != TR_CRASH || recs[i].node != 3)
            continue;
        crashes++;
        ck_assert_int_gt(last, 0);
        ck_assert_msg(recs[i].b == last,
                      "the crash record's b is %lld, node 3's last heartbeat %lld",
                      (long long)recs[i].b, (long long)last);
        ck_assert_msg(recs[i].t_us - recs[i].b >= 1000000,
                      "the crash was recorded %lld us after the last heartbeat",
                      (long long)(recs[i].t_us - recs[i].b));
    }
    free(recs);
    ck_assert_int_eq(crashes, 1);

    h_assert_no_leftovers(rundir);
    h_rmtree(dir);
    free(rundir);
    free(ini);
    free(dir);
}
END_TEST

/* ---- a configuration that is not a regular file ---- */

START_TEST(test_run_refuses_special_files)
{
    char *dir = h_tmpdir();
    char *out = h_path(dir, "never");
    char *fifo = h_path(dir, "exp.ini");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    const char *files[] = {fifo, "/dev/urandom", dir};
    const char *kinds[] = {"not a regular file (a FIFO)", "not a regular file (a character device)",
                           "Is a directory"};
    for (int i = 0; i < 3; i++) {
        struct h_proc p;
        int rc = h_run(&p, dir, "special", CMD_TIMEOUT, "run", files[i], "--out", out, NULL);
        char *err = h_err(&p);
        ck_assert_msg(rc == 2, "exit %d for %s, expected 2", rc, files[i]);
        ck_assert_msg(strstr(err, files[i]) && strstr(err, kinds[i]),
                      "stderr does not name %s and say '%s':\n%s", files[i], kinds[i], err);
        ck_assert_msg(!h_exists(out), "a run directory was created for %s", files[i]);
        free(err);
    }
    h_rmtree(dir);
    free(fifo);
    free(out);
    free(dir);
}
END_TEST

/* ---- TCase commands: the supervisor's command mailbox on a real run ---- */

/* `distlab ARGS...` (up to 5; NULL ends them early): exit code, stdout
 * and stderr (malloc'd). */
static int command(const char *dir, char **out, char **err, const char *a0, const char *a1,
                   const char *a2, const char *a3, const char *a4)
{
    struct h_proc p;
    int rc = h_run(&p, dir, a0, CMD_TIMEOUT, a0, a1, a2, a3, a4, NULL);
    *out = h_out(&p);
    *err = h_err(&p);
    return rc;
}

static void expect_command(const char *dir, int want_rc, const char *want_out, const char *want_err,
                           const char *a0, const char *a1, const char *a2, const char *a3,
                           const char *a4)
{
    char *out, *err;
    int rc = command(dir, &out, &err, a0, a1, a2, a3, a4);
    ck_assert_msg(rc == want_rc && (!want_out || strstr(out, want_out)) &&
                      (!want_err || strstr(err, want_err)),
                  "`distlab %s %s %s %s %s` exited %d, printed:\n%s%s\nexpected exit %d, '%s' "
                  "and '%s'",
                  a0, a1 ? a1 : "", a2 ? a2 : "", a3 ? a3 : "", a4 ? a4 : "", rc, out, err, want_rc,
                  want_out ? want_out : "", want_err ? want_err : "");
    free(out);
    free(err);
}

static struct shm_run *attach_run(struct shm_handle *h, const char *run_id)
{
    char name[64], err[DL_ERRLEN];
    snprintf(name, sizeof name, "/distlab.%s", run_id);
    ck_assert_msg(shm_attach(h, name, true, err) == 0, "attach %s: %s", name, err);
    return h->run;
}

static int count_cut(const struct shm_run *r)
{
    int c = 0;
    for (uint32_t a = 1; a <= r->n; a++)
        for (uint32_t b = 1; b <= r->n; b++)
            c += atomic_load(&r->cut[a][b]) != 0;
    return c;
}

/* What a tool would do, by hand, with any content: claim the mailbox,
 * fill it, post it and wake the supervisor; then the answer. */
static bool answered(void *arg)
{
    return atomic_load(&((struct shm_run *)arg)->cmd.state) == CMD_ANSWERED;
}

static bool mailbox_free(void *arg)
{
    return atomic_load(&((struct shm_run *)arg)->cmd.state) == CMD_FREE;
}

static int post_raw(struct shm_run *r, int op, int node, const char *arg, bool terminated,
                    char *answer, size_t cap)
{
    uint32_t want = CMD_FREE;
    ck_assert_msg(atomic_compare_exchange_strong(&r->cmd.state, &want, CMD_CLAIMED),
                  "the mailbox is not free (state %u)", (unsigned)want);
    atomic_store(&r->cmd.tool_pid, getpid());
    r->cmd.op = op;
    r->cmd.node = node;
    if (terminated)
        snprintf(r->cmd.arg, sizeof r->cmd.arg, "%s", arg);
    else
        memset(r->cmd.arg, 'x', sizeof r->cmd.arg);
    atomic_fetch_add(&r->cmd.seq, 1);
    atomic_store(&r->cmd.state, CMD_POSTED);
    ck_assert_int_eq(kill(r->launcher_pid, SIGUSR2), 0);
    ck_assert_msg(h_poll(answered, r, WAIT_TIMEOUT), "the supervisor did not answer op %d", op);
    int result = r->cmd.result;
    snprintf(answer, cap, "%s", r->cmd.answer);
    atomic_store(&r->cmd.tool_pid, 0);
    atomic_store(&r->cmd.state, CMD_FREE);
    return result;
}

/* The records of a supervisor's trace from the first TR_FAULT with this
 * action, fault number and undo flag: checks that `links` TR_LINK records
 * with the given cut follow it. Returns the index after them, or fails. */
static size_t expect_fault_links_ab(const struct trace_rec *r, size_t n, size_t from, int action,
                                    int64_t number, int64_t rep, int64_t undo, int links, int cut,
                                    int64_t want_a, int64_t want_b)
{
    size_t i = from;
    while (i < n && !(r[i].node == 0 && r[i].ev == TR_FAULT && r[i].aux == action &&
                      r[i].a == number && r[i].b == rep && r[i].c == undo))
        i++;
    ck_assert_msg(i < n, "no TR_FAULT %d (fault %lld, occurrence %lld, undo %lld) after record %zu",
                  action, (long long)number, (long long)rep, (long long)undo, from);
    int seen = 0;
    for (i++; i < n; i++) {
        if (r[i].node != 0)
            continue; /* a node's record, interleaved by time */
        if (r[i].ev != TR_LINK)
            break;
        ck_assert_msg(r[i].aux == cut, "TR_LINK %d->%lld after fault %d has cut %d, expected %d",
                      r[i].peer, (long long)r[i].key, action, r[i].aux, cut);
        ck_assert_msg((want_a < 0 || r[i].a == want_a) && (want_b < 0 || r[i].b == want_b),
                      "TR_LINK %d->%lld after fault %d has loss %lld ppm, delay %lld us; "
                      "expected %lld and %lld",
                      r[i].peer, (long long)r[i].key, action, (long long)r[i].a, (long long)r[i].b,
                      (long long)want_a, (long long)want_b);
        seen++;
    }
    ck_assert_msg(seen == links,
                  "fault %d (fault %lld, undo %lld) is followed by %d TR_LINK records, "
                  "expected %d",
                  action, (long long)number, (long long)undo, seen, links);
    return i;
}

static size_t expect_fault_links(const struct trace_rec *r, size_t n, size_t from, int action,
                                 int64_t number, int64_t rep, int64_t undo, int links, int cut)
{
    return expect_fault_links_ab(r, n, from, action, number, rep, undo, links, cut, -1, -1);
}

static struct trace_rec *load_trace(const char *rundir, size_t *n)
{
    struct trace_rec *r = NULL;
    char err[DL_ERRLEN];
    ck_assert_msg(trace_load(rundir, &r, n, err) == 0, "trace_load %s: %s", rundir, err);
    return r;
}

/* partition, net and heal by command on a live run: the answer, the
 * segment's link matrix, status, and the trace (the command, then each
 * changed link); bad input refused with a message; junk in the mailbox
 * refused by the supervisor; a dead tool's claim taken over. */
START_TEST(test_network_commands)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "netcmd", "60s", 10000000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_working(&l, 2);
    struct shm_handle h;
    struct shm_run *r = attach_run(&h, l.run_id);
    ck_assert_int_eq(count_cut(r), 0);
    expect_command(dir, 0, "network: no faults", NULL, "status", l.run_id, NULL, NULL, NULL);

    expect_command(dir, 0, "partitioned 1,2 | 3-5 (12 links cut)\n", NULL, "partition", rundir,
                   "1,2/3,4,5", NULL, NULL);
    ck_assert_int_eq(count_cut(r), 12);
    ck_assert(atomic_load(&r->cut[1][3]) && atomic_load(&r->cut[3][1]) &&
              atomic_load(&r->cut[5][2]));
    ck_assert(!atomic_load(&r->cut[1][2]) && !atomic_load(&r->cut[3][4]));
    uint64_t v1 = atomic_load(&r->net_version);
    ck_assert_uint_gt(v1, 0);
    expect_command(dir, 0, "network: cut 1,2 | 3-5 (12 links)", NULL, "status", l.run_id, NULL,
                   NULL, NULL);

    expect_command(dir, 0, "net: loss 0.5, delay 2ms on 1->3 (1 link changed)", NULL, "net",
                   l.run_id, "loss=0.5", "delay=2ms", "1->3");
    ck_assert_uint_eq(atomic_load(&r->link[1][3].loss_ppm), 500000);
    ck_assert_uint_eq(atomic_load(&r->link[1][3].delay_us), 2000);
    ck_assert_uint_eq(atomic_load(&r->link[3][1].loss_ppm), 0);
    ck_assert_uint_gt(atomic_load(&r->net_version), v1);
    expect_command(dir, 0, "network: loss 0.5, delay 2ms on 1->3", NULL, "status", l.run_id, NULL,
                   NULL, NULL);
    struct h_proc sj;
    ck_assert_int_eq(h_run(&sj, dir, "statusjson", CMD_TIMEOUT, "status", l.run_id, "--json", NULL),
                     0);
    json_t *st = h_json_file(sj.out);
    ck_assert_uint_eq(json_array_size(h_jget(st, "network.cut")), 12);
    ck_assert_int_eq(h_jint(st, "network.links.0.from"), 1);
    ck_assert_int_eq(h_jint(st, "network.links.0.to"), 3);
    ck_assert_int_eq(h_jint(st, "network.links.0.delay_us"), 2000);
    ck_assert(h_jnum(st, "network.links.0.loss") == 0.5);
    json_decref(st);

    expect_command(dir, 0, "healed: 12 links restored\n", NULL, "heal", l.run_id, NULL, NULL, NULL);
    ck_assert_int_eq(count_cut(r), 0);
    ck_assert_uint_eq(atomic_load(&r->link[1][3].loss_ppm), 500000); /* net settings stay */
    expect_command(dir, 0, "net: jitter 3ms on all links (20 links changed)", NULL, "net", l.run_id,
                   "jitter=3ms", NULL, NULL);
    ck_assert_uint_eq(atomic_load(&r->link[4][2].jitter_us), 3000);

    /* Bad input: non-zero, and the message names what was wrong. */
    expect_command(dir, 2, NULL, "bad spec '1,2/9': node 9 is not in 1..5", "partition", l.run_id,
                   "1,2/9", NULL, NULL);
    expect_command(dir, 2, NULL, "'9' is not a node of this run (1..5)", "kill", l.run_id, "9",
                   NULL, NULL);
    expect_command(dir, 2, NULL, "'9' is not a node of this run (1..5)", "terminate", l.run_id, "9",
                   NULL, NULL);
    expect_command(dir, 1, NULL, "no live run of yours named 'no-such-run'", "heal", "no-such-run",
                   NULL, NULL, NULL);
    expect_command(dir, 1, NULL, "no live run of yours named 'no-such-run'", "partition",
                   "no-such-run", "1/2", NULL, NULL);
    expect_command(dir, 2, NULL, "nothing to set", "net", l.run_id, NULL, NULL, NULL);

    /* Junk in the mailbox, as any writer of the segment could leave it:
     * refused, nothing done. */
    char ans[512];
    uint64_t v = atomic_load(&r->net_version);
    ck_assert_int_eq(post_raw(r, 99, 1, "", true, ans, sizeof ans), EINVAL);
    ck_assert_msg(strstr(ans, "unknown command (op 99)"), "answer '%s'", ans);
    ck_assert_int_eq(post_raw(r, CMD_NONE, 1, "", true, ans, sizeof ans), EINVAL);
    ck_assert_int_eq(post_raw(r, CMD_KILL, 9, "", true, ans, sizeof ans), ENOENT);
    ck_assert_msg(strcmp(ans, "node 9: no such node (the run has 5)") == 0, "answer '%s'", ans);
    ck_assert_int_eq(post_raw(r, CMD_PAUSE, -3, "", true, ans, sizeof ans), ENOENT);
    ck_assert_int_eq(post_raw(r, CMD_PARTITION, 0, "", false, ans, sizeof ans), EINVAL);
    ck_assert_msg(strstr(ans, "not terminated"), "answer '%s'", ans);
    ck_assert_int_eq(post_raw(r, CMD_PARTITION, 0, "1,2/../3", true, ans, sizeof ans), EINVAL);
    ck_assert_msg(strstr(ans, "bad partition spec"), "answer '%s'", ans);
    ck_assert_int_eq(post_raw(r, CMD_NET, 0, "loss=7", true, ans, sizeof ans), EINVAL);
    ck_assert_int_eq(post_raw(r, CMD_NET, 0, "1->3", true, ans, sizeof ans), EINVAL);
    ck_assert_uint_eq(atomic_load(&r->net_version), v);
    ck_assert_int_eq(count_cut(r), 0);

    /* An answer nobody collects: the supervisor frees the mailbox after
     * about 5 s. */
    uint32_t want = CMD_FREE;
    ck_assert(atomic_compare_exchange_strong(&r->cmd.state, &want, CMD_CLAIMED));
    atomic_store(&r->cmd.tool_pid, getpid());
    r->cmd.op = CMD_HEAL;
    atomic_store(&r->cmd.state, CMD_POSTED);
    ck_assert_int_eq(kill(r->launcher_pid, SIGUSR2), 0);
    ck_assert_msg(h_poll(answered, r, WAIT_TIMEOUT), "the supervisor did not answer the heal");
    double t_answered = h_now();
    ck_assert_int_eq(r->cmd.result, 0);
    ck_assert_msg(h_poll(mailbox_free, r, WAIT_TIMEOUT), "an uncollected answer was never freed");
    ck_assert_msg(h_now() - t_answered >= 3.0, "the answer was freed after %.1f s only",
                  h_now() - t_answered);
    ck_assert_int_eq(atomic_load(&r->cmd.tool_pid), 0);

    /* A mailbox a dead tool left claimed: the next command takes it over. */
    pid_t dead = fork();
    ck_assert(dead >= 0);
    if (dead == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
    atomic_store(&r->cmd.tool_pid, dead);
    atomic_store(&r->cmd.state, CMD_CLAIMED);
    expect_command(dir, 0, "partitioned 1->3 (1 link cut)", NULL, "partition", l.run_id, "1->3",
                   NULL, NULL);
    ck_assert_int_eq(atomic_load(&r->cut[1][3]), 1);
    ck_assert_int_eq(count_cut(r), 1);
    ck_assert_int_eq(atomic_load(&r->cmd.state), CMD_FREE);
    shm_detach(&h);

    ck_assert_int_eq(kill(p.pid, SIGINT), 0);
    expect_run_exit(&p, h_wait(&p, RUN_TIMEOUT), 3, rundir);

    /* The trace: each command (fault 0) before the links it changed. */
    size_t n;
    struct trace_rec *tr = load_trace(rundir, &n);
    size_t i = expect_fault_links(tr, n, 0, FAULT_PARTITION, 0, 0, 0, 12, 1);
    i = expect_fault_links(tr, n, i, FAULT_NET, 0, 0, 0, 1, 1);
    i = expect_fault_links(tr, n, i, FAULT_HEAL, 0, 0, 0, 12, 0);
    i = expect_fault_links(tr, n, i, FAULT_NET, 0, 0, 0, 20, 0);
    i = expect_fault_links(tr, n, i, FAULT_HEAL, 0, 0, 0, 0, 0); /* nothing was cut */
    i = expect_fault_links(tr, n, i, FAULT_PARTITION, 0, 0, 0, 1, 1);
    int faults = 0;
    for (size_t k = 0; k < n; k++)
        faults += tr[k].ev == TR_FAULT;
    ck_assert_int_eq(faults, 6); /* nothing refused was recorded */
    free(tr);
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

static bool node_down(void *arg)
{
    struct live *l = arg;
    json_t *st = h_status(l->dir, l->rundir);
    if (!st)
        return false;
    json_t *n = h_jnode(st, "nodes_table", l->node);
    bool down = n && strcmp(h_jstr(n, "state"), "down") == 0;
    json_decref(st);
    return down;
}

/* kill and restart by command: the supervisor does them and records each
 * as a command (fault number 0). */
START_TEST(test_command_kill)
{
    char *dir = h_tmpdir();
    char *ini = mutex_ini(dir, "cmdkill", "60s", 10000000, NULL);
    char *rundir = h_path(dir, "run");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_working(&l, 4);
    l.node = 4;
    ck_assert_msg(h_poll(have_pid, &l, WAIT_TIMEOUT) && !l.ended, "no pid for node 4");
    int pid4 = l.pid;
    char want[64];
    snprintf(want, sizeof want, "node 4 (pid %d): killed (SIGKILL)\n", pid4);
    expect_command(dir, 0, want, NULL, "kill", l.run_id, "4", NULL, NULL);
    ck_assert_msg(h_poll(node_down, &l, WAIT_TIMEOUT), "node 4 is not down after the kill");
    expect_command(dir, 1, NULL, "distlab kill: node 4 is not running (down)", "kill", l.run_id,
                   "4", NULL, NULL);
    expect_command(dir, 0, "node 4 was down: starting it\n", NULL, "restart", l.run_id, "4", NULL,
                   NULL);
    l.min_cs = 0;
    wait_working(&l, 4);
    ck_assert_int_eq(kill(p.pid, SIGINT), 0);
    expect_run_exit(&p, h_wait(&p, RUN_TIMEOUT), 3, rundir);

    size_t n;
    struct trace_rec *tr = load_trace(rundir, &n);
    int kills = 0, restarts = 0;
    int64_t t_fault = -1, t_crash = -1;
    for (size_t i = 0; i < n; i++) {
        if (tr[i].node == 0 && tr[i].ev == TR_FAULT && tr[i].aux == FAULT_KILL) {
            ck_assert_int_eq(tr[i].peer, 4);
            ck_assert_int_eq(tr[i].a, 0); /* a command */
            ck_assert_int_eq(tr[i].b, 0);
            kills++;
            t_fault = tr[i].t_us;
        }
        if (tr[i].node == 0 && tr[i].ev == TR_FAULT && tr[i].aux == FAULT_RESTART) {
            ck_assert_int_eq(tr[i].peer, 4);
            ck_assert_int_eq(tr[i].a, 0);
            restarts++;
        }
        if (tr[i].ev == TR_CRASH && tr[i].node == 4 && t_crash < 0)
            t_crash = tr[i].t_us;
    }
    ck_assert_int_eq(kills, 1);
    ck_assert_int_eq(restarts, 1);
    ck_assert_msg(t_fault >= 0 && t_crash >= t_fault,
                  "the kill (%lld) is not recorded before the "
                  "crash (%lld)",
                  (long long)t_fault, (long long)t_crash);
    free(tr);
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

/* A schedule built by hand (the launcher linked in, the nodes the distlab
 * binary): a partition repeated twice, each healed automatically after
 * its `for`; a pause undone the same way; a net fault with its undo. */
START_TEST(test_scheduled_network)
{
    char *dir = h_tmpdir();
    char *rundir = h_path(dir, "run");
    struct config *c = calloc(1, sizeof *c);
    ck_assert(c);
    config_defaults(c);
    snprintf(c->name, sizeof c->name, "schednet");
    c->nodes = 5;
    c->duration_us = 2500000;
    c->requests = 10000000;
    c->cs_time_us = 1000;
    c->think_time_us = 1000;
    c->coordinator = 1;
    c->coordinator_competes = false;
    c->delay_us = 200; /* [network] delay: every link from the start */
    struct fault_spec *f = &c->faults[0];
    *f = (struct fault_spec){.at_us = 300000,
                             .action = FAULT_PARTITION,
                             .target = TARGET_GROUPS,
                             .every_us = 800000,
                             .count = 2,
                             .for_us = 300000};
    snprintf(f->target_text, sizeof f->target_text, "1,2/3,4,5");
    f = &c->faults[1];
    *f = (struct fault_spec){.at_us = 200000,
                             .action = FAULT_PAUSE,
                             .target = TARGET_NODE,
                             .target_node = 3,
                             .for_us = 200000};
    snprintf(f->target_text, sizeof f->target_text, "3");
    f = &c->faults[2];
    *f = (struct fault_spec){.at_us = 100000,
                             .action = FAULT_NET,
                             .target = TARGET_LINKS,
                             .for_us = 1500000,
                             .has_loss = true,
                             .loss = 0.25,
                             .has_delay = true,
                             .delay_us = 1000};
    snprintf(f->target_text, sizeof f->target_text, "all");
    f = &c->faults[3]; /* a short pause, three times: each resumed */
    *f = (struct fault_spec){.at_us = 500000,
                             .action = FAULT_PAUSE,
                             .target = TARGET_NODE,
                             .target_node = 5,
                             .every_us = 400000,
                             .count = 3,
                             .for_us = 2000};
    snprintf(f->target_text, sizeof f->target_text, "5");
    c->nfaults = 4;
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/launcher.out", dir);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || chdir(dir) < 0)
            _exit(99);
        struct run_opts o = {.out_dir = rundir, .quiet = true, .node_exe = h_distlab()};
        _exit(launcher_run(c, &o));
    }
    int status = 0;
    double end = h_now() + RUN_TIMEOUT;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (h_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("the run did not end within %.0f s", RUN_TIMEOUT);
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL); /* waiting for a child to end, not for an event to happen */
    }
    char *log = h_slurp(out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the run exited with status %d:\n%s", status, log ? log : "");
    free(log);

    size_t n;
    struct trace_rec *tr = load_trace(rundir, &n);
    /* [network]: every link, at time 0, before any node started. */
    int initial = 0;
    for (size_t k = 0; k < n && tr[k].t_us == 0; k++) {
        if (tr[k].node != 0 || tr[k].ev != TR_LINK)
            continue;
        ck_assert_msg(tr[k].aux == 0 && tr[k].a == 0 && tr[k].b == 200 && tr[k].c == 0,
                      "initial TR_LINK %d->%lld: cut %d, loss %lld, delay %lld, jitter %lld",
                      tr[k].peer, (long long)tr[k].key, tr[k].aux, (long long)tr[k].a,
                      (long long)tr[k].b, (long long)tr[k].c);
        initial++;
    }
    ck_assert_int_eq(initial, 20);
    size_t i = expect_fault_links_ab(tr, n, 0, FAULT_NET, 3, 1, 0, 20, 0, 250000, 1000);
    i = expect_fault_links(tr, n, 0, FAULT_PARTITION, 1, 1, 0, 12, 1);
    size_t j = expect_fault_links(tr, n, i, FAULT_HEAL, 1, 1, 1, 12, 0);
    /* Undone at its scheduled time plus `for` (250 ms): a partition that
     * fired a little late on a loaded machine lasts a little less. */
    ck_assert_int_ge(tr[j - 1].t_us - tr[i - 1].t_us, 200000);
    i = expect_fault_links(tr, n, j, FAULT_PARTITION, 1, 2, 0, 12, 1);
    j = expect_fault_links(tr, n, i, FAULT_HEAL, 1, 2, 1, 12, 0);
    /* The net fault's undo puts back what [network] set (after both
     * partitions healed: only loss and delay change). */
    expect_fault_links_ab(tr, n, 0, FAULT_NET, 3, 1, 1, 20, 0, 0, 200);
    /* The pause and its automatic resume, of node 3. */
    int paused = 0, resumed = 0;
    for (size_t k = 0; k < n; k++) {
        if (tr[k].ev != TR_FAULT || tr[k].a != 2)
            continue;
        ck_assert_int_eq(tr[k].peer, 3);
        paused += tr[k].aux == FAULT_PAUSE && tr[k].c == 0;
        resumed += tr[k].aux == FAULT_RESUME && tr[k].c == 1;
    }
    ck_assert_int_eq(paused, 1);
    ck_assert_int_eq(resumed, 1);
    int sigcont = 0, sigcont5 = 0, paused5 = 0, resumed5 = 0;
    for (size_t k = 0; k < n; k++) {
        sigcont += tr[k].ev == TR_RESUME && tr[k].node == 3;
        sigcont5 += tr[k].ev == TR_RESUME && tr[k].node == 5;
        if (tr[k].ev == TR_FAULT && tr[k].a == 4 && tr[k].peer == 5) {
            paused5 += tr[k].aux == FAULT_PAUSE && tr[k].c == 0 && tr[k].b == paused5 + 1;
            resumed5 += tr[k].aux == FAULT_RESUME && tr[k].c == 1 && tr[k].b == resumed5 + 1;
        }
    }
    ck_assert_int_eq(sigcont, 1);
    ck_assert_int_eq(paused5, 3);
    ck_assert_int_eq(resumed5, 3);
    /* Each 2 ms stop of node 5 was ended by a SIGCONT (the fault records
     * above); the supervisor sees the stop and the continue only when it
     * reaps them, and a stop already over by then shows as at most the
     * continue. So at most three are observed. */
    ck_assert_int_le(sigcont5, 3);
    free(tr);
    json_t *run = h_json_in(rundir, "run.json");
    /* 8 occurrences, 6 undos */
    ck_assert_uint_eq(json_array_size(h_jget(run, "faults")), 14);
    /* The last: the net fault's undo, at 1.6 s. */
    ck_assert_int_eq(h_jint(run, "faults.13.number"), 3);
    ck_assert(h_jbool(run, "faults.13.undo"));
    ck_assert_int_eq(h_jint(run, "faults.13.occurrence"), 1);
    json_decref(run);
    h_assert_no_leftovers(rundir);
    free(c);
    h_rmtree(dir);
    free(rundir);
    free(dir);
}
END_TEST

static Suite *process_suite(void)
{
    Suite *s = suite_create("process");
    struct {
        const char *name;
        const TTest *tests[8];
    } cases[] = {
        {"run",
         {test_centralized_run, test_two_runs_at_once, test_unreached_fault_warned,
          test_run_at_maximum, test_skipped_fault_warned, test_role_fault_waits_for_holder}},
        {"crash",
         {test_kill_by_pid, test_kill_by_pid_restart, test_scheduled_faults, test_crash_loop,
          test_scheduled_kills_not_a_loop}},
        {"malformed", {test_malformed_messages, test_forged_done}},
        {"launcher",
         {test_sigint_launcher, test_sigkill_launcher, test_crash_while_launcher_stopped}},
        {"commands", {test_network_commands, test_command_kill, test_scheduled_network}},
        {"cli",
         {test_bad_config, test_command_line, test_run_refuses_special_files,
          test_spawn_ignores_sigxfsz}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, TCASE_TIMEOUT);
        tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
        for (int k = 0; k < 8 && cases[i].tests[k]; k++)
            tcase_add_test(tc, cases[i].tests[k]);
        suite_add_tcase(s, tc);
    }
    /* Every signal that could end the launcher, one run each. */
    TCase *tc = tcase_create("signals");
    tcase_set_timeout(tc, TCASE_TIMEOUT);
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_add_loop_test(tc, test_signal_ends_cleanly, 0, NSIGNAL_CASES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(process_suite());
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, default normal */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
