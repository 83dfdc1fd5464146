/* Raft with real processes: each scenario of conf/raft-*.ini run by the
 * distlab binary (nodes and clients as processes, real queues, shared
 * memory, signals and storage), and what it is there to show asserted from
 * the traces, the report and the live table: a leader is elected and
 * commands commit; a killed leader is replaced in a higher term and, once
 * restarted, catches up; a split vote leaves a term without a leader and a
 * later one elects; a leader cut off with a minority commits nothing while
 * the majority elects another, and steps down at the heal; a paused leader
 * is replaced and rejoins as a follower; a cluster crashed whole comes back
 * from its storage with nothing acknowledged lost; Pre-Vote keeps a lone
 * node's term still; check-quorum makes a lone leader step down. Each run
 * must end safe (`distlab check`) and leave no segment, queue, node or
 * client process behind; `distlab pid --leader` must name a live process
 * that is the leader in the table.
 *
 * Waits are deadlines on polled conditions, never bare sleeps. The binary
 * is $DISTLAB (default ./distlab), the source tree $DISTLAB_SRCDIR. It
 * creates queues: do not run two copies of it at once. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "nodes/kv.h"
#include "tests/helpers.h"

#define TCASE_TIMEOUT 240
#define RUN_TIMEOUT 90.0 /* a whole `distlab run` of a few seconds */
#define CMD_TIMEOUT 30.0
#define WAIT_TIMEOUT 30.0
/* A message read just before a cut was written may still be acted on
 * after the fault's record: what happens this long after it is the
 * partition's doing. */
#define SETTLE_US 100000LL

static char *conf(const char *name)
{
    char *p = NULL;
    ck_assert(asprintf(&p, "%s/conf/%s", h_srcdir(), name) > 0);
    ck_assert_msg(h_exists(p), "%s is missing (set DISTLAB_SRCDIR)", p);
    return p;
}

/* ---- the trace, Raft's way: a process is a node or a client ---- */

static long long jint_or(const json_t *o, const char *key, long long dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static const char *jstr_or(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Is o event ev of node (< 0: any node; clients never match)? */
static bool is_ev(const json_t *o, const char *ev, int node)
{
    if (strcmp(jstr_or(o, "ev"), ev) != 0)
        return false;
    long long k = jint_or(o, "node", -1);
    return k >= 0 && (node < 0 || k == node);
}

static long long t_of(const json_t *o) { return jint_or(o, "t_us", -1); }

/* Role records: is o node `node` (any: < 0) becoming `role` (NULL: any)? */
static bool is_role(const json_t *o, int node, const char *role)
{
    return is_ev(o, "role", node) && (!role || strcmp(jstr_or(o, "role"), role) == 0);
}

/* The first record of ev (and node) at or after t_us; NULL if none. */
static const json_t *first_after(const json_t *tr, const char *ev, int node, long long t_us)
{
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o) if (is_ev(o, ev, node) && t_of(o) >= t_us) return o;
    return NULL;
}

/* The highest index node committed within [from, to). -1 if none. */
static long long max_commit(const json_t *tr, int node, long long from, long long to)
{
    long long best = -1;
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (!is_ev(o, "commit", node) || t_of(o) < from || t_of(o) >= to)
            continue;
        if (jint_or(o, "index", -1) > best)
            best = jint_or(o, "index", -1);
    }
    return best;
}

/* The term of node's last role record before t_us, and that role. */
static long long role_before(const json_t *tr, int node, long long t_us, const char **role)
{
    long long term = -1;
    *role = "";
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (t_of(o) >= t_us)
            break;
        if (is_role(o, node, NULL)) {
            term = jint_or(o, "term", -1);
            *role = jstr_or(o, "role");
        }
    }
    return term;
}

/* The node that became leader last before t_us (0 if none), its term. */
static int leader_before(const json_t *tr, long long t_us, long long *term)
{
    int who = 0;
    *term = -1;
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (t_of(o) >= t_us)
            break;
        if (is_role(o, -1, "leader")) {
            who = (int)jint_or(o, "node", 0);
            *term = jint_or(o, "term", -1);
        }
    }
    return who;
}

/* Client operations answered ok at or after t_us. */
static int oks_after(const json_t *tr, long long t_us)
{
    int n = 0;
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o) n += strcmp(jstr_or(o, "ev"), "ok") == 0 &&
                                      json_is_integer(json_object_get(o, "client")) &&
                                      t_of(o) >= t_us;
    return n;
}

/* The fault record of fault number `num` (and its undo if undo). */
static const json_t *fault_rec(const json_t *tr, int num, bool undo)
{
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (!is_ev(o, "fault", 0) || jint_or(o, "fault", 0) != num)
            continue;
        bool u = json_is_true(json_object_get(o, "undo")) ||
                 strcmp(jstr_or(o, "action"), "heal") == 0 ||
                 strcmp(jstr_or(o, "action"), "resume") == 0;
        if (u == undo)
            return o;
    }
    return NULL;
}

/* ---- running a scenario ---- */

/* distlab-client processes of run_id still alive. */
static int client_procs(const char *run_id)
{
    char seg[128];
    snprintf(seg, sizeof seg, "/distlab.%s", run_id);
    DIR *d = opendir("/proc");
    ck_assert_msg(d != NULL, "/proc: %s", strerror(errno));
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        bool client = strstr(buf, "distlab-client") != NULL, ours = false;
        for (char *a = buf; a < buf + n; a += strlen(a) + 1)
            ours = ours || strcmp(a, seg) == 0;
        count += client && ours;
    }
    closedir(d);
    return count;
}

/* The run left nothing: no segment, no queue of a node or a client, no
 * node or client process. */
static void assert_clean(const char *rundir)
{
    json_t *run = h_json_in(rundir, "run.json");
    const char *id = h_jstr(run, "run_id");
    int procs = (int)(h_jint(run, "nodes") + h_jint(run, "clients"));
    h_assert_no_leftovers_id(id, procs);
    ck_assert_msg(client_procs(id) == 0, "run %s left distlab-client processes", id);
    json_decref(run);
}

/* The run ended with exit 0 (completed, and check passed on it); if not,
 * say why with its stderr and the properties that failed. */
static void expect_ok(struct h_proc *p, int rc, const char *rundir)
{
    if (rc == 0)
        return;
    char *err = h_err(p);
    char failed[2048] = "";
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/report.json", rundir);
    json_t *rep = h_exists(path) ? json_load_file(path, 0, NULL) : NULL;
    size_t i, len = 0;
    json_t *prop;
    json_array_foreach(json_object_get(rep, "properties"), i, prop)
    {
        if (!json_is_false(json_object_get(prop, "held")) || len >= sizeof failed)
            continue;
        len += (size_t)snprintf(failed + len, sizeof failed - len, "FAIL %s: %s\n",
                                jstr_or(prop, "name"), jstr_or(prop, "detail"));
    }
    json_decref(rep);
    ck_abort_msg("`%s` exited %d; stderr:\n%.2000s%s", p->what, rc, err, failed);
}

/* What every Raft run must show: safe by the report and by `distlab
 * check`, leaders elected, commands acknowledged and none lost, the logs
 * in agreement. Returns the report. */
static json_t *expect_safe_report(const char *dir, const char *rundir)
{
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert_str_eq(h_jstr(rep, "algorithm"), "raft");
    ck_assert(h_jbool(rep, "safe"));
    ck_assert_int_eq(h_jint(rep, "violations"), 0);
    ck_assert_int_eq(h_jint(rep, "max_leaders_per_term"), 1);
    ck_assert_int_ge(json_array_size(h_jget(rep, "leaders")), 1);
    ck_assert_int_gt(h_jint(rep, "ops.ok"), 0);
    ck_assert_int_gt(h_jint(rep, "commits"), 0);
    ck_assert_int_eq(h_jint(rep, "acknowledged_lost"), 0);
    ck_assert(h_jbool(rep, "logs_agree"));
    /* The clients' key-value history, checked for linearizability. */
    ck_assert_msg(json_is_true(h_jget(rep, "linearizable")), "linearizable: %s",
                  jstr_or(h_jget(rep, "linearizability"), "detail"));
    ck_assert_int_gt(h_jint(rep, "client_ops.ok"), 0);
    ck_assert_int_gt(h_jint(rep, "linearizability.ops_checked"), 0);
    struct h_proc p;
    int rc = h_run(&p, dir, "check", CMD_TIMEOUT, "check", rundir, NULL);
    char *out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab check %s` exited %d:\n%s", rundir, rc, out);
    free(out);
    return rep;
}

/* ---- the live table ---- */

struct live {
    const char *dir, *rundir;
    struct h_proc *launcher;
    bool ended;
    /* out */
    int leader, pid, leaders;
    long long term, old_term;
    int old_leader;
    char run_id[16];
};

/* The leaders in a `status --json` table: how many, the one of the
 * highest term (its node, pid and term), and another of a lower term. */
static int table_leaders(const json_t *st, int *node, int *pid, long long *term, int *old,
                         long long *old_term)
{
    int count = 0;
    *node = *pid = *old = 0;
    *term = *old_term = -1;
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(st, "nodes_table"), i, n)
    {
        const char *state = jstr_or(n, "state");
        if (strcmp(jstr_or(n, "role"), "leader") != 0 ||
            (strcmp(state, "up") != 0 && strcmp(state, "paused") != 0))
            continue;
        count++;
        long long t = jint_or(n, "term", -1);
        if (t > *term) {
            if (*node) {
                *old = *node;
                *old_term = *term;
            }
            *node = (int)jint_or(n, "node", 0);
            *pid = (int)jint_or(n, "pid", 0);
            *term = t;
        } else {
            *old = (int)jint_or(n, "node", 0);
            *old_term = t;
        }
    }
    return count;
}

/* `distlab pid RUNDIR --leader` printed a pid that is, in the table read
 * right after, the leader of the highest term; and that pid is a live
 * `distlab-node K /distlab.<run>` process. (Polled: an election may be
 * under way between the two reads.) */
static bool leader_pid_agrees(void *arg)
{
    struct live *l = arg;
    if (h_ended(l->launcher)) {
        l->ended = true;
        return true;
    }
    struct h_proc p;
    if (h_run(&p, l->dir, "pid", CMD_TIMEOUT, "pid", l->rundir, "--leader", NULL) != 0) {
        free(h_out(&p));
        return false;
    }
    char *out = h_out(&p);
    int pid = atoi(out);
    free(out);
    json_t *st = h_status(l->dir, l->rundir);
    if (!st || pid <= 0) {
        json_decref(st);
        return false;
    }
    snprintf(l->run_id, sizeof l->run_id, "%s", h_jstr(st, "run_id"));
    int node, tpid, old;
    long long term, old_term;
    l->leaders = table_leaders(st, &node, &tpid, &term, &old, &old_term);
    json_decref(st);
    if (!node || tpid != pid)
        return false;
    /* The process itself: alive, and node `node` of this run. */
    char path[64], cmd[512] = {0}, want[16], seg[32];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, cmd, sizeof cmd - 3);
    close(fd);
    if (n <= 0)
        return false;
    const char *a1 = cmd + strlen(cmd) + 1, *a2 = a1 + strlen(a1) + 1;
    snprintf(want, sizeof want, "%d", node);
    snprintf(seg, sizeof seg, "/distlab.%s", l->run_id);
    ck_assert_msg(strstr(cmd, "distlab-node") && strcmp(a1, want) == 0 && strcmp(a2, seg) == 0,
                  "pid %d (the leader, node %d) is `%s %s %s`, not `distlab-node %d %s`", pid,
                  node, cmd, a1, a2, node, seg);
    ck_assert_int_eq(kill(pid, 0), 0);
    l->leader = node;
    l->pid = pid;
    l->term = term;
    return true;
}

static void wait_leader(struct live *l, const char *what)
{
    l->leader = 0;
    ck_assert_msg(h_poll(leader_pid_agrees, l, WAIT_TIMEOUT),
                  "%s: `distlab pid --leader` never named the table's leader within %.0f s", what,
                  WAIT_TIMEOUT);
    if (l->ended) {
        char *err = h_err(l->launcher);
        ck_abort_msg("%s: the run ended early; stderr:\n%.2000s", what, err);
    }
}

/* Two leaders in the table, of different terms (a split brain). */
static bool two_leaders(void *arg)
{
    struct live *l = arg;
    if (h_ended(l->launcher)) {
        l->ended = true;
        return true;
    }
    json_t *st = h_status(l->dir, l->rundir);
    if (!st)
        return false;
    int node, pid, old;
    long long term, old_term;
    l->leaders = table_leaders(st, &node, &pid, &term, &old, &old_term);
    json_decref(st);
    if (l->leaders != 2 || old_term >= term)
        return false;
    l->leader = node;
    l->pid = pid;
    l->term = term;
    l->old_leader = old;
    l->old_term = old_term;
    return true;
}

/* Node `node` restarted (incarnation 2, up), and its last index reached
 * the leader's commit index in the same snapshot of the table, past
 * `past` (what the cluster had committed before it came back). */
struct catch_up {
    struct live *l;
    int node;
    long long past;
    long long last, leader_commit;
};

static bool caught_up(void *arg)
{
    struct catch_up *c = arg;
    if (h_ended(c->l->launcher)) {
        c->l->ended = true;
        return true;
    }
    json_t *st = h_status(c->l->dir, c->l->rundir);
    if (!st)
        return false;
    json_t *me = h_jnode(st, "nodes_table", c->node);
    int leader = 0, pid, old;
    long long term, old_term;
    table_leaders(st, &leader, &pid, &term, &old, &old_term);
    json_t *ld = leader ? h_jnode(st, "nodes_table", leader) : NULL;
    bool ok = me && ld && leader != c->node && jint_or(me, "incarnation", 0) == 2 &&
              strcmp(jstr_or(me, "state"), "up") == 0;
    if (ok) {
        c->last = jint_or(me, "last_index", -1);
        c->leader_commit = jint_or(ld, "commit_index", -1);
        ok = c->last >= c->leader_commit && c->last > c->past;
    }
    json_decref(st);
    return ok;
}

/* ---- the scenarios ---- */

/* conf/raft-5.ini: a leader elected, commands committed; the leader
 * SIGKILLed at 2 s, a new leader in a higher term; the old one restarted
 * at 4 s catches up. */
START_TEST(test_raft5_leader_killed)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("raft-5.ini");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_leader(&l, "before the kill");
    int first = l.leader;
    long long first_term = l.term;
    ck_assert_int_eq(l.leaders, 1);

    /* After the kill: another node leads, in a higher term. */
    struct live l2 = l;
    for (double t0 = h_now(); h_now() - t0 < WAIT_TIMEOUT;) {
        wait_leader(&l2, "after the kill");
        if (l2.leader != first)
            break;
        l2.leader = 0;
    }
    ck_assert_msg(l2.leader && l2.leader != first, "node %d still leads after its kill", first);
    ck_assert_int_gt(l2.term, first_term);

    /* The restarted node catches up with what was committed meanwhile. */
    json_t *st = h_status(dir, rundir);
    ck_assert_ptr_nonnull(st);
    long long past = jint_or(h_jnode(st, "nodes_table", l2.leader), "commit_index", -1);
    json_decref(st);
    struct catch_up c = {.l = &l, .node = first, .past = past};
    ck_assert_msg(h_poll(caught_up, &c, WAIT_TIMEOUT),
                  "restarted node %d did not catch up (last index %lld, leader's commit %lld, "
                  "%lld committed before)",
                  first, c.last, c.leader_commit, past);
    ck_assert_msg(!l.ended, "the run ended before node %d came back", first);

    expect_ok(&p, h_wait(&p, RUN_TIMEOUT), rundir);
    json_t *rep = expect_safe_report(dir, rundir);
    ck_assert_int_eq(h_jint(rep, "leaders.0.node"), first);
    ck_assert_int_ge(json_array_size(h_jget(rep, "failover_ms")), 1);
    ck_assert_int_gt(h_jint(rep, "leaders.1.term"), h_jint(rep, "leaders.0.term"));
    ck_assert_int_ne(h_jint(rep, "leaders.1.node"), first);
    ck_assert_int_eq(h_jint(rep, "ops.timeout"), 0); /* 2 s of client timeout cover it */
    json_decref(rep);

    json_t *tr = h_trace(dir, rundir);
    const json_t *crash = first_after(tr, "crash", first, 0);
    ck_assert_msg(crash != NULL, "no crash of node %d in the trace", first);
    ck_assert_str_eq(jstr_or(crash, "signal"), "SIGKILL");
    const json_t *restart = first_after(tr, "restart", first, t_of(crash));
    ck_assert_msg(restart != NULL, "node %d was not restarted", first);
    ck_assert_int_ge(t_of(restart) - t_of(crash), 1900000); /* restart_delay 2 s */
    /* Its second life commits past everything the cluster had committed
     * when it came back. */
    long long before = -1;
    for (int k = 1; k <= 5; k++)
        if (k != first && max_commit(tr, k, 0, t_of(restart)) > before)
            before = max_commit(tr, k, 0, t_of(restart));
    long long after = max_commit(tr, first, t_of(restart), INT64_MAX);
    ck_assert_msg(after > before, "node %d committed up to %lld after its restart, the others "
                  "had %lld", first, after, before);
    ck_assert_int_gt(oks_after(tr, t_of(crash)), 0);
    json_decref(tr);

    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* conf/raft-4-split-vote.ini: term 1 has two candidates and no leader (the
 * votes split 2-2); a later term elects one, and commands commit. */
START_TEST(test_split_vote)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("raft-4-split-vote.ini");
    struct h_proc p;
    expect_ok(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), rundir);
    json_t *rep = expect_safe_report(dir, rundir);
    ck_assert_int_ge(h_jint(rep, "terms_without_leader"), 1);
    ck_assert_int_gt(h_jint(rep, "leaders.0.term"), 1);
    json_decref(rep);

    json_t *tr = h_trace(dir, rundir);
    int candidates = 0, leaders = 0;
    bool who[5] = {false};
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o)
    {
        if (!is_role(o, -1, NULL) || jint_or(o, "term", 0) != 1)
            continue;
        if (strcmp(jstr_or(o, "role"), "candidate") == 0) {
            candidates++;
            who[jint_or(o, "node", 0) & 3] = true;
        }
        leaders += strcmp(jstr_or(o, "role"), "leader") == 0;
    }
    ck_assert_msg(candidates == 2 && who[1] && who[2] && leaders == 0,
                  "term 1: %d candidates (1: %d, 2: %d), %d leaders; expected nodes 1 and 2 "
                  "splitting the vote",
                  candidates, who[1], who[2], leaders);
    long long term;
    ck_assert_int_ne(leader_before(tr, INT64_MAX, &term), 0);
    ck_assert_int_gt(term, 1);
    json_decref(tr);

    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* conf/raft-split-brain.ini, its partition made by role (leader+1: the
 * leader of the moment and one more cut off from three, whoever leads):
 * two leaders of different terms for a while (and `pid --leader` names
 * the later one), the old one commits nothing, and steps down at the
 * heal. */
START_TEST(test_split_brain)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("raft-split-brain.ini");
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, "--set", "fault.1.target=leader+1",
            NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    ck_assert_msg(h_poll(two_leaders, &l, WAIT_TIMEOUT), "never two leaders in the table");
    ck_assert_msg(!l.ended, "the run ended before the split brain");
    int old = l.old_leader, new = l.leader;
    /* `pid --leader`: the leader of the highest term. */
    struct live lp = l;
    wait_leader(&lp, "during the partition");
    ck_assert_msg(lp.leader == new || lp.leaders < 2,
                  "`distlab pid --leader` named node %d, not node %d of the higher term",
                  lp.leader, new);
    expect_ok(&p, h_wait(&p, RUN_TIMEOUT), rundir);
    json_decref(expect_safe_report(dir, rundir));

    json_t *tr = h_trace(dir, rundir);
    const json_t *cut = fault_rec(tr, 1, false), *heal = fault_rec(tr, 1, true);
    ck_assert_msg(cut && heal, "the partition or its heal is not in the trace");
    ck_assert_int_eq(jint_or(cut, "target", 0), old);
    ck_assert_str_eq(jstr_or(cut, "target_spec"), "leader+1");
    long long t_cut = t_of(cut), t_heal = t_of(heal);
    /* The old leader commits nothing new while cut off... */
    long long had = max_commit(tr, old, 0, t_cut + SETTLE_US);
    long long during = max_commit(tr, old, t_cut + SETTLE_US, t_heal);
    ck_assert_msg(during <= had, "node %d, cut off with a minority, committed %lld (had %lld)",
                  old, during, had);
    /* ...while the majority's leader does. */
    ck_assert_int_gt(max_commit(tr, new, t_cut, t_heal), had);
    /* At the heal it becomes a follower of the newer term. */
    const char *role;
    long long term = role_before(tr, old, t_heal, &role);
    ck_assert_str_eq(role, "leader");
    ck_assert_int_lt(term, l.term);
    const json_t *o;
    bool stepped = false;
    for (long long t = t_heal; (o = first_after(tr, "role", old, t)) != NULL; t = t_of(o) + 1)
        if (strcmp(jstr_or(o, "role"), "follower") == 0 && jint_or(o, "term", 0) >= l.term) {
            stepped = true;
            break;
        }
    ck_assert_msg(stepped, "old leader %d never followed term %lld after the heal", old, l.term);
    json_decref(tr);

    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* conf/raft-pause.ini: the leader stopped for 1 s is replaced in a higher
 * term, and rejoins as a follower of it. */
START_TEST(test_pause)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("raft-pause.ini");
    struct h_proc p;
    expect_ok(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), rundir);
    json_decref(expect_safe_report(dir, rundir));

    json_t *tr = h_trace(dir, rundir);
    const json_t *pause = fault_rec(tr, 1, false), *resume = fault_rec(tr, 1, true);
    ck_assert_msg(pause && resume, "the pause or its resume is not in the trace");
    int k = (int)jint_or(pause, "target", 0);
    long long term0;
    ck_assert_int_eq(leader_before(tr, t_of(pause), &term0), k);
    long long term1;
    int next = leader_before(tr, t_of(resume), &term1);
    ck_assert_msg(next != k && term1 > term0,
                  "no new leader while node %d was paused (last: node %d, term %lld)", k, next,
                  term1);
    /* Resumed, it steps down, and catches up with the term it missed. It
     * reads its mailbox oldest first, so it may pass through a term it
     * slept through (a vote request of term 2 before the term-3
     * leader's append): a follower all along, until term1 or later. */
    const json_t *back = NULL, *o;
    size_t i;
    json_array_foreach(tr, i, o)
    {
        if (!is_role(o, k, NULL) || t_of(o) < t_of(resume))
            continue;
        ck_assert_msg(strcmp(jstr_or(o, "role"), "follower") == 0,
                      "node %d, resumed, was %s in term %lld before it learnt of term %lld", k,
                      jstr_or(o, "role"), jint_or(o, "term", 0), term1);
        if (jint_or(o, "term", 0) >= term1) {
            back = o;
            break;
        }
    }
    ck_assert_msg(back != NULL, "node %d, resumed, never reached term %lld as a follower", k,
                  term1);
    ck_assert_int_gt(max_commit(tr, next, t_of(pause), t_of(resume)),
                     max_commit(tr, k, 0, t_of(pause)));
    json_decref(tr);

    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* conf/raft-crash-all.ini: all five SIGKILLed at once and restarted from
 * their storage: a leader of a higher term, commits again, nothing
 * acknowledged lost. */
START_TEST(test_crash_all)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("raft-crash-all.ini");
    struct h_proc p;
    expect_ok(&p, h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL), rundir);
    json_decref(expect_safe_report(dir, rundir));

    json_t *tr = h_trace(dir, rundir);
    long long last_restart = 0, first_crash = INT64_MAX;
    for (int k = 1; k <= 5; k++) {
        const json_t *c = first_after(tr, "crash", k, 0);
        ck_assert_msg(c != NULL, "node %d did not crash", k);
        const json_t *r = first_after(tr, "restart", k, t_of(c));
        ck_assert_msg(r != NULL, "node %d was not restarted", k);
        if (t_of(c) < first_crash)
            first_crash = t_of(c);
        if (t_of(r) > last_restart)
            last_restart = t_of(r);
    }
    long long before_term, after_term;
    ck_assert_int_ne(leader_before(tr, first_crash, &before_term), 0);
    ck_assert_int_ne(leader_before(tr, INT64_MAX, &after_term), 0);
    ck_assert_int_gt(after_term, before_term);
    /* Commits again past what was committed before the crash. */
    long long before = -1, after = -1;
    for (int k = 1; k <= 5; k++) {
        long long b = max_commit(tr, k, 0, first_crash), a = max_commit(tr, k, last_restart,
                                                                         INT64_MAX);
        before = b > before ? b : before;
        after = a > after ? a : after;
    }
    ck_assert_msg(after > before, "committed up to %lld after the restart, %lld before", after,
                  before);
    ck_assert_int_gt(oks_after(tr, last_restart), 0);
    json_decref(tr);

    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* The partition of fault.1 in tr: the node cut off alone (from its TR_LINK
 * records: the one every cut link touches), the times of cut and heal. */
static void partition_of(const json_t *tr, long long *t_cut, long long *t_heal)
{
    const json_t *cut = fault_rec(tr, 1, false), *heal = fault_rec(tr, 1, true);
    ck_assert_msg(cut && heal, "the partition or its heal is not in the trace");
    *t_cut = t_of(cut);
    *t_heal = t_of(heal);
}

/* The highest term any node recorded within [from, to). */
static long long max_term(const json_t *tr, int node, long long from, long long to)
{
    long long best = -1;
    size_t i;
    json_t *o;
    json_array_foreach(tr, i, o) if (is_role(o, node, NULL) && t_of(o) >= from && t_of(o) < to &&
                                     jint_or(o, "term", -1) > best) best = jint_or(o, "term", -1);
    return best;
}

/* conf/raft-prevote.ini, with Pre-Vote and without: a follower alone for
 * 3 s (by role: the leader and three others on one side, whoever leads).
 * With it, no term moves and nobody is elected after the cut; without it,
 * the lone node's term climbs, and at the heal it forces an election. */
static void prevote_case(bool prevote)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("raft-prevote.ini");
    struct h_proc p;
    expect_ok(&p,
              h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, "--set",
                    prevote ? "raft.prevote=true" : "raft.prevote=false", "--set",
                    "fault.1.target=leader+3", NULL),
              rundir);
    json_decref(expect_safe_report(dir, rundir));
    json_t *tr = h_trace(dir, rundir);
    long long t_cut, t_heal, term0;
    partition_of(tr, &t_cut, &t_heal);
    int leader = leader_before(tr, t_cut, &term0);
    ck_assert_int_ne(leader, 0);
    ck_assert_int_eq(jint_or(fault_rec(tr, 1, false), "target", 0), leader);
    long long top = max_term(tr, -1, t_cut, INT64_MAX);
    if (prevote) {
        ck_assert_msg(top <= term0, "with Pre-Vote a term rose to %lld (leader's: %lld)", top,
                      term0);
        ck_assert_ptr_null(first_after(tr, "role", leader, t_cut));
    } else {
        long long lone = max_term(tr, -1, t_cut, t_heal);
        ck_assert_msg(lone >= term0 + 2, "without Pre-Vote the lone node's term reached only "
                      "%lld (leader's %lld)", lone, term0);
        long long after;
        leader_before(tr, INT64_MAX, &after);
        ck_assert_msg(after > term0, "no election after the heal (last leader's term %lld)",
                      after);
    }
    json_decref(tr);
    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}

START_TEST(test_prevote_on) { prevote_case(true); }
END_TEST

START_TEST(test_prevote_off) { prevote_case(false); }
END_TEST

/* conf/raft-check-quorum.ini, with check-quorum and without: the leader cut
 * off alone (by role, whoever leads; the file's own partition relies on
 * its seed). With it, it becomes a follower before the heal; without it,
 * it stays a leader (of its old term) until the heal. */
static void check_quorum_case(bool on)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("raft-check-quorum.ini");
    struct h_proc p;
    expect_ok(&p,
              h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, "--set",
                    on ? "raft.check_quorum=true" : "raft.check_quorum=false", "--set",
                    "fault.1.target=leader", NULL),
              rundir);
    json_decref(expect_safe_report(dir, rundir));
    json_t *tr = h_trace(dir, rundir);
    long long t_cut, t_heal, term0;
    partition_of(tr, &t_cut, &t_heal);
    int old = leader_before(tr, t_cut, &term0);
    ck_assert_int_eq(jint_or(fault_rec(tr, 1, false), "target", 0), old);
    const json_t *o = first_after(tr, "role", old, t_cut);
    if (on) {
        ck_assert_msg(o && t_of(o) < t_heal && strcmp(jstr_or(o, "role"), "follower") == 0,
                      "with check-quorum, leader %d did not step down while cut off", old);
    } else {
        ck_assert_msg(!o || t_of(o) >= t_heal,
                      "without check-quorum, leader %d changed role (%s) while cut off", old,
                      o ? jstr_or(o, "role") : "");
    }
    /* Either way the others elected a leader of a higher term meanwhile. */
    long long term1;
    int next = leader_before(tr, t_heal, &term1);
    ck_assert_msg(next != old && term1 > term0, "no new leader while node %d was cut off", old);
    json_decref(tr);
    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}

START_TEST(test_check_quorum_on) { check_quorum_case(true); }
END_TEST

START_TEST(test_check_quorum_off) { check_quorum_case(false); }
END_TEST

/* The queue budget, with clients: a run whose queues (nodes', clients' and
 * the supervisor's) do not fit RLIMIT_MSGQUEUE stops before anything
 * starts, says which limit and what to do, and leaves nothing. */
START_TEST(test_queue_budget_with_clients)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("raft-5.ini");
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_MSGQUEUE, &rl), 0);
    rl.rlim_cur = 20000; /* five queues of 10 x 256 B at most: the run needs ten (two for
                          * commands from a shell) */
    ck_assert_int_eq(setrlimit(RLIMIT_MSGQUEUE, &rl), 0);
    struct h_proc p;
    int rc = h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL);
    char *err = h_err(&p);
    ck_assert_msg(rc == 2, "`%s` exited %d:\n%s", p.what, rc, err);
    ck_assert_msg(strstr(err, "RLIMIT_MSGQUEUE") && strstr(err, "distlab clean") &&
                      strstr(err, "10 queues"),
                  "the budget error does not name the limit, the queues and the remedy:\n%s",
                  err);
    /* Nothing of it is left: its id is in its message. */
    const char *q = strstr(err, "/distlab.");
    ck_assert_ptr_nonnull(q);
    char id[9];
    memcpy(id, q + 9, 8);
    id[8] = '\0';
    h_assert_no_leftovers_id(id, 9);
    ck_assert_int_eq(client_procs(id), 0);
    free(err);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* `distlab client` from a shell: commands typed into a live cluster are
 * answered by the leader with their index and term, a get reads what a put
 * wrote, cas succeeds only from the value it names, a key or value over the
 * limit is refused before anything is sent, a command still goes through
 * after `kill -9 $(distlab pid --leader)`, and every one of them is in the
 * run's checked history. */
static char *client_cmd(const char *dir, const char *rundir, int want_rc, const char *op,
                        const char *a, const char *b, const char *c)
{
    struct h_proc p;
    int rc = h_run(&p, dir, "client", CMD_TIMEOUT, "client", rundir, op, a, b, c, NULL);
    char *out = h_out(&p), *err = h_err(&p);
    ck_assert_msg(rc == want_rc, "`%s` exited %d, not %d:\n%s%s", p.what, rc, want_rc, out, err);
    free(err);
    return out;
}

START_TEST(test_client_from_shell)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run");
    char *ini = h_path(dir, "kv.ini");
    FILE *f = fopen(ini, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[cluster]\nname = kv-shell\nnodes = 3\nalgorithm = raft\nduration = 8s\n"
          "[workload]\nclients = 1\nrequests = 100\nrate = 20\n",
          f);
    fclose(f);
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_leader(&l, "before the first command");

    char *out = client_cmd(dir, rundir, 0, "put", "greeting", "hello world", NULL);
    ck_assert_str_eq(out, "ok\n");
    free(out);
    out = client_cmd(dir, rundir, 0, "get", "greeting", NULL, NULL);
    ck_assert_str_eq(out, "\"hello world\"\n");
    free(out);
    out = client_cmd(dir, rundir, 1, "cas", "greeting", "hi", "bye");
    ck_assert_str_eq(out, "mismatch: the value is \"hello world\"\n");
    free(out);
    /* --json: the answer, who gave it, and where it committed. */
    struct h_proc q;
    ck_assert_int_eq(h_run(&q, dir, "client", CMD_TIMEOUT, "client", rundir, "--json", "cas",
                           "greeting", "hello world", "bye", NULL),
                     0);
    out = h_out(&q);
    json_t *o = json_loads(out, 0, NULL);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    ck_assert_str_eq(jstr_or(o, "status"), "ok");
    ck_assert_str_eq(jstr_or(o, "op"), "cas");
    ck_assert_int_ge(jint_or(o, "server", 0), 1);
    ck_assert_int_le(jint_or(o, "server", 0), 3);
    ck_assert_int_gt(jint_or(o, "index", 0), 0);
    ck_assert_int_gt(jint_or(o, "term", 0), 0);
    json_decref(o);
    free(out);
    out = client_cmd(dir, rundir, 1, "get", "nothing-here", NULL, NULL);
    ck_assert_str_eq(out, "(not found)\n");
    free(out);
    /* Too large: refused before it is sent, not truncated. */
    char big[4098];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct h_proc b;
    ck_assert_int_eq(h_run(&b, dir, "client", CMD_TIMEOUT, "client", rundir, "put", "k", big,
                           NULL),
                     2);
    char *err = h_err(&b);
    ck_assert_msg(strstr(err, "4096") && strstr(err, "refused"), "%s", err);
    free(err);
    /* The longest value there is comes back whole (it was printed cut
     * at 195 bytes, with no sign of it). */
    big[KV_MAX_VALUE] = '\0';
    out = client_cmd(dir, rundir, 0, "put", "big", big, NULL);
    free(out);
    out = client_cmd(dir, rundir, 0, "get", "big", NULL, NULL);
    ck_assert_uint_eq(strlen(out), KV_MAX_VALUE + 1);
    ck_assert_int_eq(strncmp(out, big, KV_MAX_VALUE), 0);
    free(out);

    /* Kill the leader from the shell; the next command finds the new one. */
    struct h_proc k;
    ck_assert_int_eq(h_run(&k, dir, "pid", CMD_TIMEOUT, "pid", rundir, "--leader", NULL), 0);
    char *pid = h_out(&k);
    ck_assert_int_eq(kill((pid_t)atoi(pid), SIGKILL), 0);
    free(pid);
    out = client_cmd(dir, rundir, 0, "append", "greeting", "!", NULL);
    free(out);
    out = client_cmd(dir, rundir, 0, "get", "greeting", NULL, NULL);
    ck_assert_str_eq(out, "bye!\n");
    free(out);
    expect_ok(&p, h_wait(&p, RUN_TIMEOUT), rundir);
    json_t *rep = expect_safe_report(dir, rundir);
    /* The workload's 100 and the 7 typed, 5 of which took effect or read. */
    ck_assert_int_ge(h_jint(rep, "linearizability.ops_checked"), 100 + 6);
    json_decref(rep);
    json_t *tr = h_trace(dir, rundir);
    int typed = 0;
    size_t i;
    json_t *e;
    json_array_foreach(tr, i, e)
    {
        if (strcmp(jstr_or(e, "ev"), "ok") == 0 && jint_or(e, "client", 0) >= 2 &&
            strcmp(jstr_or(e, "key"), "greeting") == 0)
            typed++;
    }
    ck_assert_int_eq(typed, 6);
    json_decref(tr);
    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* conf/kv-stale-read.ini: leaders that answer reads from their own state
 * (local_reads) serve stale values once the leader is cut off, and the
 * whole pipeline - traces, report, check - says so: the run is UNSAFE, the
 * history not linearizable, with a window on key k1 that holds a read. */
START_TEST(test_stale_reads_caught)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("kv-stale-read.ini");
    struct h_proc p;
    int rc = h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--out", rundir, NULL);
    char *err = h_err(&p);
    ck_assert_msg(rc == 1, "`%s` exited %d, not 1 (unsafe):\n%s", p.what, rc, err);
    free(err);
    json_t *rep = h_json_in(rundir, "report.json");
    ck_assert(json_is_false(h_jget(rep, "safe")));
    ck_assert(json_is_false(h_jget(rep, "linearizable")));
    ck_assert_int_eq(h_jint(rep, "acknowledged_lost"), 0); /* reads lose nothing */
    const json_t *v = h_jget(rep, "linearizability.violations.0");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(jstr_or(v, "key"), "k1");
    const json_t *win = json_object_get(v, "window");
    ck_assert_int_ge(json_array_size(win), 2);
    bool read = false;
    size_t i;
    json_t *line;
    json_array_foreach(win, i, line)
        read = read || strstr(json_string_value(line), ": get ") != NULL;
    ck_assert_msg(read, "no read in the window");
    json_decref(rep);
    struct h_proc c;
    ck_assert_int_eq(h_run(&c, dir, "check", CMD_TIMEOUT, "check", rundir, NULL), 1);
    char *out = h_out(&c);
    ck_assert_msg(strstr(out, "FAIL linearizable"), "%s", out);
    free(out);
    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* conf/kv.ini with clients pipelining 8 operations each: the leader
 * killed, a node paused, the leader cut off - and still every operation
 * answered or timed out, nothing acknowledged lost, the history
 * linearizable; commands and answers travelled in batches. */
START_TEST(test_pipelined_clients)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run"), *ini = conf("kv.ini");
    struct h_proc p;
    int rc = h_run(&p, dir, "run", RUN_TIMEOUT, "run", ini, "--set", "workload.pipeline=8",
                   "--set", "workload.keys=100", "--out", rundir, NULL);
    expect_ok(&p, rc, rundir);
    json_t *rep = expect_safe_report(dir, rundir);
    ck_assert_int_eq(h_jint(rep, "client_ops.ok") + h_jint(rep, "client_ops.timeout") +
                         h_jint(rep, "client_ops.fail"),
                     20000);
    json_decref(rep);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/report.txt", rundir);
    char *txt = h_slurp(path);
    ck_assert_ptr_nonnull(txt);
    ck_assert_msg(strstr(txt, "client_batch") && strstr(txt, "client_answers"), "%s", txt);
    free(txt);
    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

/* A command waiting (no majority) when its run ends stops with it, long
 * before its hour of timeout. */
START_TEST(test_client_ends_with_run)
{
    char *dir = h_tmpdir(), *rundir = h_path(dir, "run");
    char *ini = h_path(dir, "kv.ini");
    FILE *f = fopen(ini, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[cluster]\nname = kv-late\nnodes = 3\nalgorithm = raft\nduration = 4s\n"
          "[workload]\nclients = 0\nrequests = 0\n[supervisor]\nrestart = never\n",
          f);
    fclose(f);
    struct h_proc p;
    h_start(&p, dir, "run", "run", ini, "--out", rundir, NULL);
    struct live l = {.dir = dir, .rundir = rundir, .launcher = &p};
    wait_leader(&l, "before the kills");
    char *err;
    /* No majority left, and a command that would wait an hour: it ends
     * with the run (it waited out its whole timeout). Killed, not paused:
     * the supervisor wakes paused nodes at the end so they can stop, and
     * one could then still acknowledge the write, which would rightly be
     * answered "ok". */
    for (int node = 1; node <= 2; node++) {
        char id[8];
        snprintf(id, sizeof id, "%d", node);
        struct h_proc ps;
        int rc = h_run(&ps, dir, "kill", CMD_TIMEOUT, "kill", rundir, id, NULL);
        err = h_err(&ps);
        ck_assert_msg(rc == 0, "kill %s: exit %d: %s", id, rc, err);
        free(err);
        free(h_out(&ps));
    }
    struct h_proc late;
    ck_assert_int_eq(h_run(&late, dir, "late", CMD_TIMEOUT, "client", rundir, "put", "late", "x",
                           "--timeout", "1h", "--json", NULL),
                     3);
    err = h_err(&late);
    ck_assert_msg(strstr(err, "stopped before an answer came"), "%s", err);
    free(err);
    /* --json says so on stdout too: an unknown outcome is an outcome. */
    char *out = h_out(&late);
    json_t *o = json_loads(out, 0, NULL);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    ck_assert_str_eq(jstr_or(o, "outcome"), "stopped");
    ck_assert_str_eq(jstr_or(o, "key"), "late");
    json_decref(o);
    free(out);

    expect_ok(&p, h_wait(&p, RUN_TIMEOUT), rundir);
    assert_clean(rundir);
    h_rmtree(dir);
    free(ini);
    free(rundir);
    free(dir);
}
END_TEST

static Suite *raft_process_suite(void)
{
    Suite *s = suite_create("raft_process");
    struct {
        const char *name;
        const TTest *tests[4];
    } cases[] = {
        {"failover", {test_raft5_leader_killed, test_pause, test_crash_all}},
        {"elections", {test_split_vote, test_split_brain}},
        {"prevote", {test_prevote_on, test_prevote_off}},
        {"check_quorum", {test_check_quorum_on, test_check_quorum_off}},
        {"budget", {test_queue_budget_with_clients}},
        {"shell", {test_client_from_shell, test_client_ends_with_run}},
        {"stale_reads", {test_stale_reads_caught}},
        {"pipeline", {test_pipelined_clients}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, TCASE_TIMEOUT);
        tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
        for (int k = 0; k < 4 && cases[i].tests[k]; k++)
            tcase_add_test(tc, cases[i].tests[k]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(raft_process_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
