#include "src/control.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int control_find_run(const char *which, struct shm_handle *h, bool writable)
{
    uint32_t ids[MAX_RUNS];
    int n = shm_list_runs(ids, MAX_RUNS);
    int64_t best_start = -1;
    uint32_t best = 0;
    int live = 0;
    for (int i = 0; i < n; i++) {
        char name[64];
        struct shm_handle t;
        shm_name(name, sizeof name, ids[i]);
        if (shm_attach(&t, name, false, NULL) < 0)
            continue;
        bool ok = shm_run_alive(t.run) && (!which || run_matches(t.run, which));
        if (ok) {
            live++;
            if (t.run->start_real_us > best_start) {
                best_start = t.run->start_real_us;
                best = ids[i];
            }
        }
        shm_detach(&t);
    }
    if (best_start < 0) {
        if (which)
            fprintf(stderr, "distlab: no live run named '%s' (see `distlab status`)\n", which);
        else
            fprintf(stderr, "distlab: no live run (start one with `distlab run CONFIG.ini`)\n");
        return -1;
    }
    char name[64], err[DL_ERRLEN];
    shm_name(name, sizeof name, best);
    if (shm_attach(h, name, writable, err) < 0) {
        fprintf(stderr, "distlab: %s\n", err);
        return -1;
    }
    (void)live;
    return 0;
}

bool control_is_run(const char *arg)
{
    struct shm_handle h;
    uint32_t ids[MAX_RUNS];
    int n = shm_list_runs(ids, MAX_RUNS);
    for (int i = 0; i < n; i++) {
        char name[64];
        shm_name(name, sizeof name, ids[i]);
        if (shm_attach(&h, name, false, NULL) < 0)
            continue;
        bool m = run_matches(h.run, arg);
        shm_detach(&h);
        if (m)
            return true;
    }
    return false;
}

/* ---- status ---- */

static json_t *status_json(const struct shm_run *r)
{
    char id[16];
    snprintf(id, sizeof id, "%08x", r->run_id);
    static const char *const phases[] = {"starting", "running", "stopping", "done"};
    int ph = atomic_load(&r->phase);
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
    int64_t t = dl_mono_us() - r->start_mono_us;
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:f, s:i, s:I, s:I, s:o}", "run_id", id,
                     "name", r->name, "algorithm", r->algorithm, "nodes", (int)r->n, "phase",
                     ph >= 0 && ph < 4 ? phases[ph] : "?", "run_dir", r->rundir, "elapsed_s",
                     (double)t / 1e6, "occupant", SHM_HOLDER_NODE(atomic_load(&r->res.holder)), "counter",
                     (json_int_t)atomic_load(&r->res.counter), "violations",
                     (json_int_t)atomic_load(&r->res.violations), "nodes_table", nodes);
}

static void status_text(const struct shm_run *r, FILE *f)
{
    static const char *const phases[] = {"starting", "running", "stopping", "done"};
    int ph = atomic_load(&r->phase);
    fprintf(f, "run %08x  %s  %s, %u nodes, %s, %.1fs  (%s)\n", r->run_id, r->name,
            r->algorithm, r->n, ph >= 0 && ph < 4 ? phases[ph] : "?",
            (double)(dl_mono_us() - r->start_mono_us) / 1e6, r->rundir);
    int occ = SHM_HOLDER_NODE(atomic_load(&r->res.holder));
    fprintf(f, "critical section: %s%d  counter %lld  violations %llu\n",
            occ ? "node " : "free", occ ? occ : 0, (long long)atomic_load(&r->res.counter),
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

int cmd_status(int argc, char **argv)
{
    bool watch = false, json = false;
    static const struct option opts[] = {
        {"watch", no_argument, NULL, 'w'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "wjh", opts, NULL)) != -1) {
        if (c == 'w')
            watch = true;
        else if (c == 'j')
            json = true;
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
    struct shm_handle h;
    if (control_find_run(which, &h, false) < 0)
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
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 500 * 1000000L};
        nanosleep(&ts, NULL); /* a display refresh, not a wait for an event */
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
    if (control_find_run(which, h, writable) < 0)
        return -1;
    int role = role_flag(sel);
    if (role >= 0) {
        for (uint32_t k = 1; k <= h->run->n; k++) {
            const struct shm_node *sn = &h->run->node[k];
            int st = atomic_load(&sn->state);
            if ((st == NODE_UP || st == NODE_PAUSED) && atomic_load(&sn->role) == role)
                return (int)k;
        }
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

int cmd_kill(int argc, char **argv) { return signal_node("kill", SIGKILL, argc, argv); }
int cmd_pause(int argc, char **argv) { return signal_node("pause", SIGSTOP, argc, argv); }
int cmd_resume(int argc, char **argv) { return signal_node("resume", SIGCONT, argc, argv); }

/* ---- clean ---- */

static bool stale_invalid(uint32_t id)
{
    /* A segment without a valid header: stale unless it is being created
     * right now (the header is written microseconds after creation). */
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/" SHM_PREFIX "%08x", id);
    struct stat st;
    if (stat(path, &st) < 0)
        return false;
    return time(NULL) - st.st_mtime > 10;
}

int control_clean(bool verbose)
{
    uint32_t ids[MAX_RUNS];
    int n = shm_list_runs(ids, MAX_RUNS);
    int removed = 0;
    for (int i = 0; i < n; i++) {
        char name[64];
        struct shm_handle h;
        shm_name(name, sizeof name, ids[i]);
        int nq = -1;
        if (shm_attach(&h, name, false, NULL) == 0) {
            bool alive = shm_run_alive(h.run);
            nq = (int)h.run->n + 1;
            shm_detach(&h);
            if (alive)
                continue;
        } else if (!stale_invalid(ids[i])) {
            continue;
        }
        /* Unknown size: try every queue number a run can have. */
        if (nq < 0)
            nq = DL_MAX_NODES + 1;
        int q = 0;
        for (int k = 0; k < nq; k++)
            if (mq_unlink_queue(ids[i], k) == 0)
                q++;
        shm_unlink_run(ids[i]);
        removed++;
        if (verbose)
            printf("removed stale run %08x (%d queues and its shared memory)\n", ids[i], q);
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
