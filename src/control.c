#include "src/control.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/mq.h"
#include "ipc/proc.h"
#include "ipc/util.h"
#include "nodes/algo.h"
#include "src/cli.h"

#define MAX_RUNS 256

static bool run_matches(const struct shm_run *r, const char *which)
{
    char id[16];
    snprintf(id, sizeof id, "%08x", r->run_id);
    if (strcmp(which, id) == 0 || strcmp(which, r->name) == 0)
        return true;
    const char *base = strrchr(r->rundir, '/');
    if (base && strcmp(which, base + 1) == 0)
        return true;
    char real[PATH_MAX];
    return realpath(which, real) && strcmp(real, r->rundir) == 0;
}

static const char *phase_name(int ph)
{
    static const char *const phases[] = {"starting", "running", "stopping", "done"};
    return ph >= 0 && ph < (int)(sizeof phases / sizeof phases[0]) ? phases[ph] : "?";
}

struct run_ref {
    uint32_t id;
    int64_t start_real_us;
};

static int newest_first(const void *a, const void *b)
{
    const struct run_ref *x = a, *y = b;
    if (x->start_real_us != y->start_real_us)
        return x->start_real_us > y->start_real_us ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The live runs (of this build's segment version) that `which` names (NULL:
 * all), newest first. Returns how many went to runs (up to cap). */
static int live_runs(const char *which, struct run_ref *runs, int cap)
{
    uint32_t ids[MAX_RUNS];
    int n = shm_list_runs(ids, MAX_RUNS), live = 0;
    for (int i = 0; i < n && live < cap; i++) {
        char name[64];
        struct shm_handle t;
        shm_name(name, sizeof name, ids[i]);
        if (shm_attach(&t, name, false, NULL) < 0)
            continue;
        if (shm_run_alive(t.run) && (!which || run_matches(t.run, which)))
            runs[live++] = (struct run_ref){ids[i], t.run->start_real_us};
        shm_detach(&t);
    }
    qsort(runs, (size_t)live, sizeof runs[0], newest_first);
    return live;
}

/* control_find_run for command `cmd` (named in the note about several
 * runs). */
static int find_run(const char *cmd, const char *which, struct shm_handle *h, bool writable)
{
    struct run_ref runs[MAX_RUNS];
    int live = live_runs(which, runs, MAX_RUNS);
    if (live == 0) {
        if (which)
            fprintf(stderr, "distlab: no live run named '%s' (see `distlab status --all`)\n",
                    which);
        else
            fprintf(stderr, "distlab: no live run (start one with `distlab run CONFIG.ini`)\n");
        return -1;
    }
    char name[64], err[DL_ERRLEN];
    shm_name(name, sizeof name, runs[0].id);
    if (shm_attach(h, name, writable, err) < 0) {
        fprintf(stderr, "distlab: %s\n", err);
        return -1;
    }
    if (live > 1 && !which)
        fprintf(stderr, "distlab: %d live runs; using the newest, %08x (%s); name one: distlab %s RUN\n",
                live, runs[0].id, h->run->name, cmd);
    else if (live > 1)
        fprintf(stderr,
                "distlab: %d live runs match '%s'; using the newest, %08x (%s); name one by its "
                "id or directory (distlab status --all lists them)\n",
                live, which, runs[0].id, h->run->rundir);
    return 0;
}

int control_find_run(const char *which, struct shm_handle *h, bool writable)
{
    return find_run("status", which, h, writable);
}

/* ---- status ---- */

/* What identifies a run: the head of `status --json`, an element of
 * `status --all --json`. */
static json_t *run_json(const struct shm_run *r)
{
    char id[16];
    snprintf(id, sizeof id, "%08x", r->run_id);
    int64_t t = dl_mono_us() - r->start_mono_us;
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:f}", "run_id", id, "name", r->name,
                     "algorithm", r->algorithm, "nodes", (int)r->n, "phase",
                     phase_name(atomic_load(&r->phase)), "run_dir", r->rundir, "elapsed_s",
                     (double)t / 1e6);
}

static json_t *status_json(const struct shm_run *r)
{
    json_t *nodes = json_array();
    for (uint32_t k = 1; k <= r->n; k++) {
        const struct shm_node *sn = &r->node[k];
        json_array_append_new(
            nodes,
            json_pack("{s:i, s:i, s:s, s:s, s:I, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
                      "node", (int)k, "pid", (int)atomic_load(&sn->pid), "state",
                      shm_node_state_name(atomic_load(&sn->state)), "role",
                      algo_role_name(atomic_load(&sn->role)), "term",
                      (json_int_t)atomic_load(&sn->term), "incarnation",
                      (int)atomic_load(&sn->incarnation), "in_cs", atomic_load(&sn->in_cs) != 0,
                      "cs_done", (json_int_t)atomic_load(&sn->requests_done), "sent",
                      (json_int_t)atomic_load(&sn->cnt[CNT_SENT]), "recv",
                      (json_int_t)atomic_load(&sn->cnt[CNT_RECV]), "queue_full",
                      (json_int_t)atomic_load(&sn->cnt[CNT_QUEUE_FULL]), "backlog",
                      (json_int_t)atomic_load(&sn->cnt[CNT_BACKLOG_NOW]), "malformed",
                      (json_int_t)atomic_load(&sn->cnt[CNT_MALFORMED]), "workload_done",
                      atomic_load(&sn->workload_done) != 0));
    }
    json_t *o = run_json(r);
    json_object_set_new(o, "occupant",
                        json_integer(SHM_HOLDER_NODE(atomic_load(&r->res.holder))));
    json_object_set_new(o, "counter", json_integer((json_int_t)atomic_load(&r->res.counter)));
    json_object_set_new(o, "violations",
                        json_integer((json_int_t)atomic_load(&r->res.violations)));
    json_object_set_new(o, "nodes_table", nodes);
    return o;
}

/* One line per run: the head of `status`, a line of `status --all`. */
static void run_line(const struct shm_run *r, FILE *f)
{
    fprintf(f, "run %08x  %s  %s, %u nodes, %s, %.1fs  (%s)\n", r->run_id, r->name,
            r->algorithm, r->n, phase_name(atomic_load(&r->phase)),
            (double)(dl_mono_us() - r->start_mono_us) / 1e6, r->rundir);
}

static void status_text(const struct shm_run *r, FILE *f)
{
    run_line(r, f);
    int occ = SHM_HOLDER_NODE(atomic_load(&r->res.holder));
    char cs[32];
    if (occ)
        snprintf(cs, sizeof cs, "node %d", occ);
    else
        snprintf(cs, sizeof cs, "free");
    fprintf(f, "critical section: %s  counter %lld  violations %llu\n", cs,
            (long long)atomic_load(&r->res.counter),
            (unsigned long long)atomic_load(&r->res.violations));
    fprintf(f, "%4s %8s %-8s %-12s %6s %4s %7s %9s %9s %6s %7s %5s\n", "node", "pid", "state",
            "role", "term", "inc", "cs_done", "sent", "recv", "qfull", "backlog", "bad");
    for (uint32_t k = 1; k <= r->n; k++) {
        const struct shm_node *sn = &r->node[k];
        fprintf(f, "%4u %8d %-8s %-12s %6lld %4d %7lld %9llu %9llu %6llu %7llu %5llu%s\n", k,
                (int)atomic_load(&sn->pid), shm_node_state_name(atomic_load(&sn->state)),
                algo_role_name(atomic_load(&sn->role)), (long long)atomic_load(&sn->term),
                (int)atomic_load(&sn->incarnation), (long long)atomic_load(&sn->requests_done),
                (unsigned long long)atomic_load(&sn->cnt[CNT_SENT]),
                (unsigned long long)atomic_load(&sn->cnt[CNT_RECV]),
                (unsigned long long)atomic_load(&sn->cnt[CNT_QUEUE_FULL]),
                (unsigned long long)atomic_load(&sn->cnt[CNT_BACKLOG_NOW]),
                (unsigned long long)atomic_load(&sn->cnt[CNT_MALFORMED]),
                atomic_load(&sn->in_cs) ? "  [in CS]" : "");
    }
}

/* `status --all [RUN]`: every live run (that RUN names), newest first, one
 * line each or a JSON array. */
static void status_all(const char *which, bool json, bool watch)
{
    struct run_ref runs[MAX_RUNS];
    int live = live_runs(which, runs, MAX_RUNS);
    json_t *arr = json ? json_array() : NULL;
    if (!json && watch)
        fputs("\033[H\033[2J", stdout);
    if (!json && live == 0) {
        if (which)
            printf("no live run named '%s'\n", which);
        else
            printf("no live run\n");
    }
    for (int i = 0; i < live; i++) {
        char name[64];
        struct shm_handle t;
        shm_name(name, sizeof name, runs[i].id);
        if (shm_attach(&t, name, false, NULL) < 0)
            continue; /* ended meanwhile */
        if (json)
            json_array_append_new(arr, run_json(t.run));
        else
            run_line(t.run, stdout);
        shm_detach(&t);
    }
    if (json) {
        json_dumpf(arr, stdout, watch ? JSON_COMPACT : JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(arr);
    }
    fflush(stdout);
}

int cmd_status(int argc, char **argv)
{
    bool watch = false, json = false, all = false;
    static const struct option opts[] = {
        {"watch", no_argument, NULL, 'w'}, {"json", no_argument, NULL, 'j'},
        {"all", no_argument, NULL, 'a'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "wjah", opts, NULL)) != -1) {
        if (c == 'w')
            watch = true;
        else if (c == 'j')
            json = true;
        else if (c == 'a')
            all = true;
        else if (c == 'h') {
            cli_usage("status", stdout);
            return 0;
        } else {
            cli_usage("status", stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        cli_usage("status", stderr);
        return 2;
    }
    const char *which = optind < argc ? argv[optind] : NULL;
    struct timespec refresh = {.tv_sec = 0, .tv_nsec = 500 * 1000000L};
    if (all) {
        /* --watch: until interrupted (runs come and go). */
        do {
            status_all(which, json, watch);
        } while (watch && nanosleep(&refresh, NULL) == 0);
        return 0;
    }
    struct shm_handle h;
    if (find_run("status", which, &h, false) < 0)
        return 1;
    for (;;) {
        if (json) {
            json_t *o = status_json(h.run);
            json_dumpf(o, stdout, watch ? JSON_COMPACT : JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(o);
        } else {
            if (watch)
                fputs("\033[H\033[2J", stdout);
            status_text(h.run, stdout);
        }
        fflush(stdout);
        if (!watch || !shm_run_alive(h.run))
            break;
        nanosleep(&refresh, NULL); /* a display refresh, not a wait for an event */
    }
    shm_detach(&h);
    return 0;
}

/* ---- pid and signals ---- */

static int role_flag(const char *arg)
{
    if (strcmp(arg, "--coordinator") == 0)
        return ROLE_COORDINATOR;
    if (strcmp(arg, "--leader") == 0)
        return ROLE_LEADER;
    if (strcmp(arg, "--token-holder") == 0)
        return ROLE_TOKEN_HOLDER;
    return -1;
}

/* Parse "[RUN] NODE|--coordinator|--leader|--token-holder" into a node of a
 * live run. Returns the node (>= 1), or -1 after printing an error. */
static int pick_node(const char *cmd, int argc, char **argv, struct shm_handle *h, bool writable)
{
    const char *which = NULL, *sel = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage(cmd, stdout);
            exit(0);
        }
    }
    if (argc == 2) {
        sel = argv[1];
    } else if (argc == 3) {
        which = argv[1];
        sel = argv[2];
    } else {
        cli_usage(cmd, stderr);
        return -2;
    }
    if (find_run(cmd, which, h, writable) < 0)
        return -1;
    int role = role_flag(sel);
    if (role >= 0) {
        int k = shm_find_role(h->run, role);
        if (k)
            return k;
        fprintf(stderr, "distlab: no live node is %s now\n", algo_role_name(role));
        shm_detach(h);
        return -1;
    }
    if (sel[0] == '-') {
        fprintf(stderr, "distlab %s: unknown option '%s'\n", cmd, sel);
        cli_usage(cmd, stderr);
        shm_detach(h);
        return -2;
    }
    char *end;
    long k = strtol(sel, &end, 10);
    if (*end || k < 1 || k > (long)h->run->n) {
        fprintf(stderr, "distlab %s: '%s' is not a node of this run (1..%u)\n", cmd, sel,
                h->run->n);
        shm_detach(h);
        return -2;
    }
    return (int)k;
}

/* The pid of the node picked by "[RUN] NODE|--role", or -1 (message
 * printed) with *code set to the exit status to return. */
static int picked_pid(const char *cmd, int argc, char **argv, int *node, int *code)
{
    struct shm_handle h;
    int k = pick_node(cmd, argc, argv, &h, false);
    if (k < 0) {
        *code = k == -2 ? 2 : 1;
        return -1;
    }
    int pid = atomic_load(&h.run->node[k].pid);
    shm_detach(&h);
    *node = k;
    if (pid <= 0) {
        fprintf(stderr, "distlab: node %d is not running\n", k);
        *code = 1;
        return -1;
    }
    return pid;
}

int cmd_pid(int argc, char **argv)
{
    int k, code;
    int pid = picked_pid("pid", argc, argv, &k, &code);
    if (pid < 0)
        return code;
    printf("%d\n", pid);
    return 0;
}

static int signal_node(const char *cmd, int sig, int argc, char **argv)
{
    int k, code;
    int pid = picked_pid(cmd, argc, argv, &k, &code);
    if (pid < 0)
        return code;
    if (kill(pid, sig) < 0) {
        fprintf(stderr, "distlab: kill %d: %s\n", pid, strerror(errno));
        return 1;
    }
    printf("node %d (pid %d): sent %s\n", k, pid, proc_signame(sig));
    return 0;
}

/* `distlab restart [RUN] NODE`: a crash and a start, whatever the restart
 * policy, done by the supervisor (which alone starts nodes): flag the node
 * in the cluster table and wake the supervisor with SIGUSR2. A node that
 * is down is simply started. */
int cmd_restart(int argc, char **argv)
{
    struct shm_handle h;
    int k = pick_node("restart", argc, argv, &h, true);
    if (k < 0)
        return k == -2 ? 2 : 1;
    atomic_store(&h.run->node[k].restart_asked, 1);
    int launcher = h.run->launcher_pid;
    shm_detach(&h);
    if (kill(launcher, SIGUSR2) < 0) {
        fprintf(stderr, "distlab: cannot reach the supervisor (pid %d): %s\n", launcher,
                strerror(errno));
        return 1;
    }
    printf("node %d: restart asked of the supervisor (pid %d)\n", k, launcher);
    return 0;
}

int cmd_kill(int argc, char **argv) { return signal_node("kill", SIGKILL, argc, argv); }
int cmd_pause(int argc, char **argv) { return signal_node("pause", SIGSTOP, argc, argv); }
int cmd_resume(int argc, char **argv) { return signal_node("resume", SIGCONT, argc, argv); }

/* ---- clean ---- */

/* A run's IPC objects are removed only when its launcher is gone. Liveness
 * comes from the layout-stable prefix (struct shm_prefix), so a live run of
 * another build (another SHM_VERSION or size, which shm_attach rejects) is
 * never taken for a stale one. A segment without the magic is stale only
 * when older than this: the launcher writes the header microseconds after
 * creating it. */
#define CLEAN_NO_MAGIC_AGE_S 10

int control_clean(bool verbose)
{
    uint32_t ids[MAX_RUNS];
    int n = shm_list_runs(ids, MAX_RUNS);
    int removed = 0;
    uid_t me = geteuid();
    for (int i = 0; i < n; i++) {
        uint32_t id = ids[i], uid = 0;
        struct shm_prefix p;
        int64_t mtime = 0;
        int rc = shm_read_prefix(id, &p, &mtime, &uid);
        if (rc == -ENOENT)
            continue; /* gone meanwhile */
        if (rc == -EACCES || rc == -EPERM || (rc >= 0 && me != 0 && uid != (uint32_t)me)) {
            fprintf(stderr, "distlab clean: not yours: /dev/shm/" SHM_PREFIX "%08x, skipped\n",
                    id);
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "distlab clean: /dev/shm/" SHM_PREFIX "%08x: %s, skipped\n", id,
                    strerror(-rc));
            continue;
        }
        int nq;
        if (rc == 1) {
            if (proc_alive(p.launcher_pid, p.launcher_start))
                continue; /* live, whatever its version */
            nq = (p.n >= 1 && p.n <= DL_MAX_NODES ? (int)p.n : DL_MAX_NODES) + 1;
        } else {
            if ((int64_t)time(NULL) - mtime <= CLEAN_NO_MAGIC_AGE_S)
                continue; /* perhaps being created right now */
            nq = DL_MAX_NODES + 1; /* unknown size: every queue a run can have */
        }
        /* The queues first: a queue never outlives its segment (ipc/shm.h). */
        int q = 0;
        for (int k = 0; k < nq; k++)
            if (mq_unlink_queue(id, k) == 0)
                q++;
        int e = shm_unlink_run(id);
        if (e == 0) {
            removed++;
            if (verbose)
                printf("removed stale run %08x (%d queues and its shared memory)\n", id, q);
        } else if (e == -EACCES || e == -EPERM) {
            fprintf(stderr, "distlab clean: not yours: /dev/shm/" SHM_PREFIX "%08x, skipped\n",
                    id);
        } else if (e != -ENOENT) {
            fprintf(stderr, "distlab clean: cannot remove /dev/shm/" SHM_PREFIX "%08x: %s\n", id,
                    strerror(-e));
        }
    }
    return removed;
}

int cmd_clean(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            cli_usage("clean", stdout);
            return 0;
        }
        cli_usage("clean", stderr);
        return 2;
    }
    int n = control_clean(true);
    if (n == 0)
        printf("nothing to clean\n");
    return 0;
}
