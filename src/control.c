#include "src/control.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* ---- strings from shared memory ---- */

#define PRINTABLE_CAP(cap) DL_PRINTABLE_CAP(cap)

struct run_strings {
    char name[PRINTABLE_CAP(sizeof((struct shm_run *)0)->name)];
    char algorithm[PRINTABLE_CAP(sizeof((struct shm_run *)0)->algorithm)];
    char rundir[PRINTABLE_CAP(sizeof((struct shm_run *)0)->rundir)];
};

static void run_strings(const struct shm_run *r, struct run_strings *rs)
{
    dl_printable(rs->name, sizeof rs->name, r->name, sizeof r->name);
    dl_printable(rs->algorithm, sizeof rs->algorithm, r->algorithm, sizeof r->algorithm);
    dl_printable(rs->rundir, sizeof rs->rundir, r->rundir, sizeof r->rundir);
}

/* ---- which processes are a run's ---- */

static void segment_path(char *buf, size_t cap, uint32_t id)
{
    snprintf(buf, cap, "/dev/shm/" SHM_PREFIX "%08x", id);
}

/* Is pid the launcher of run id: alive with the start time the segment
 * records (not a reused pid), running as the calling user, and mapping the
 * segment itself? A pid written into a segment by anyone else names some
 * other process, which fails the last test. */
static bool launcher_is(pid_t pid, uint64_t start, uint32_t id)
{
    struct proc_info pi;
    if (pid <= 0 || start == 0 || proc_info(pid, &pi) < 0)
        return false;
    if (pi.start_time != start || pi.ruid != geteuid() || pi.euid != geteuid())
        return false;
    char path[64];
    segment_path(path, sizeof path, id);
    return proc_maps_path(pid, path);
}

static bool run_alive(const struct shm_run *r)
{
    return launcher_is(r->launcher_pid, r->launcher_start, r->run_id);
}

/* Is pid node k of run r, as its slot says: a live process of the calling
 * user whose arguments end in `distlab-node K /distlab.<id> INC` (argv[0]
 * may be a path to the program, as under valgrind), whose parent is the
 * run's launcher, and which started after it? Writes why not into why. */
static bool node_is(const struct shm_run *r, int k, pid_t pid, char *why, size_t cap)
{
    struct proc_info pi;
    int rc = proc_info(pid, &pi);
    if (rc < 0) {
        snprintf(why, cap, "%s", rc == -ESRCH ? "it has ended" : strerror(-rc));
        return false;
    }
    if (pi.ruid != geteuid() || pi.euid != geteuid()) {
        snprintf(why, cap, "it runs as uid %u", (unsigned)pi.ruid);
        return false;
    }
    if (pi.ppid != r->launcher_pid || pi.start_time < r->launcher_start) {
        snprintf(why, cap, "it is not a child of the run's launcher (pid %d)",
                 (int)r->launcher_pid);
        return false;
    }
    char buf[4096];
    int n = proc_cmdline(pid, buf, sizeof buf);
    const char *args[64];
    int argc = 0;
    for (int i = 0; n > 0 && i < n && argc < 64; i += (int)strlen(buf + i) + 1)
        args[argc++] = buf + i;
    char want_k[16], want_seg[64];
    snprintf(want_k, sizeof want_k, "%d", k);
    shm_name(want_seg, sizeof want_seg, r->run_id);
    bool ok = n > 0 && argc >= 4;
    if (ok) {
        const char *a0 = args[argc - 4], *base = strrchr(a0, '/');
        base = base ? base + 1 : a0;
        char *end;
        long inc = strtol(args[argc - 1], &end, 10);
        ok = strncmp(base, "distlab", 7) == 0 && strcmp(args[argc - 3], want_k) == 0 &&
             strcmp(args[argc - 2], want_seg) == 0 && !*end && end != args[argc - 1] && inc >= 1;
    }
    if (!ok) {
        snprintf(why, cap, "its command line is not distlab-node %d %s INC", k, want_seg);
        return false;
    }
    return true;
}

/* ---- finding runs ---- */

/* The ids of the segments in /dev/shm that can be the calling user's runs:
 * regular files of that user named distlab.<8 hex digits>, at most cap.
 * Anyone may create files in /dev/shm, so those of other users are skipped
 * before they are counted: however many another user plants, they never
 * crowd the caller's runs out of the first cap. *foreign (if not NULL) gets
 * how many were skipped for that, and their ids go to foreign_ids (up to
 * foreign_cap). */
static int own_run_ids(uint32_t *ids, int cap, int *foreign, uint32_t *foreign_ids, int foreign_cap)
{
    int n = 0, nf = 0;
    DIR *d = opendir("/dev/shm");
    if (d) {
        uid_t me = geteuid();
        size_t pl = strlen(SHM_PREFIX);
        struct dirent *e;
        while (n < cap && (e = readdir(d)) != NULL) {
            const char *hex = e->d_name + pl;
            if (strncmp(e->d_name, SHM_PREFIX, pl) != 0 || strlen(hex) != 8 ||
                !isxdigit((unsigned char)hex[0]))
                continue;
            char *end;
            unsigned long v = strtoul(hex, &end, 16);
            if (*end)
                continue;
            struct stat st;
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue; /* gone meanwhile */
            if (st.st_uid != me) {
                if (nf < foreign_cap)
                    foreign_ids[nf] = (uint32_t)v;
                nf++;
            } else if (S_ISREG(st.st_mode)) {
                ids[n++] = (uint32_t)v;
            }
        }
        closedir(d);
    }
    if (foreign)
        *foreign = nf;
    return n;
}

static bool is_run_id(const char *s)
{
    if (strlen(s) != 8)
        return false;
    for (int i = 0; i < 8; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool run_matches(const struct shm_run *r, const char *which)
{
    char id[16];
    snprintf(id, sizeof id, "%08x", r->run_id);
    if (strcasecmp(which, id) == 0)
        return true;
    if (strnlen(r->name, sizeof r->name) < sizeof r->name && strcmp(which, r->name) == 0)
        return true;
    if (strnlen(r->rundir, sizeof r->rundir) == sizeof r->rundir)
        return false;
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

/* Attach segment id when it is a live run of the calling user: a segment
 * shm_attach trusts (ours, mode 0600, this version), that says it is run
 * id, whose launcher is verified. */
static int attach_live(uint32_t id, struct shm_handle *h, bool writable, char *err)
{
    char name[64];
    shm_name(name, sizeof name, id);
    int rc = shm_attach(h, name, writable, err);
    if (rc < 0)
        return rc;
    if (h->run->run_id != id || !run_alive(h->run)) {
        shm_detach(h);
        if (err)
            snprintf(err, DL_ERRLEN,
                     "run %08x has ended (its launcher is gone; `distlab clean` removes what "
                     "it left)",
                     id);
        return -ESRCH;
    }
    return 0;
}

/* The live runs of the calling user that `which` names (NULL: all), newest
 * first. A run named by its id is that run alone, whatever other runs are
 * called. Returns how many went to runs (up to cap). */
static int live_runs(const char *which, struct run_ref *runs, int cap)
{
    uint32_t ids[MAX_RUNS];
    int n = own_run_ids(ids, MAX_RUNS, NULL, NULL, 0), live = 0;
    for (int i = 0; i < n && live < cap; i++) {
        struct shm_handle t;
        if (attach_live(ids[i], &t, false, NULL) < 0)
            continue;
        if (!which || run_matches(t.run, which))
            runs[live++] = (struct run_ref){ids[i], t.run->start_real_us};
        shm_detach(&t);
    }
    if (which && is_run_id(which)) {
        uint32_t want = (uint32_t)strtoul(which, NULL, 16);
        for (int i = 0; i < live; i++)
            if (runs[i].id == want) {
                runs[0] = runs[i];
                return 1;
            }
    }
    qsort(runs, (size_t)live, sizeof runs[0], newest_first);
    return live;
}

static void run_line(const struct shm_run *r, FILE *f);

/* List runs (one line each, indented) on stderr. */
static void list_runs(const struct run_ref *runs, int n)
{
    for (int i = 0; i < n; i++) {
        struct shm_handle t;
        if (attach_live(runs[i].id, &t, false, NULL) < 0)
            continue; /* ended meanwhile */
        fputs("  ", stderr);
        run_line(t.run, stderr);
        shm_detach(&t);
    }
}

/* control_find_run for command `cmd`, whose arguments after RUN are
 * `rest` (for the hint in a refusal). */
static int find_run(const char *cmd, const char *rest, const char *which, struct shm_handle *h,
                    bool writable)
{
    struct run_ref runs[MAX_RUNS];
    int live = live_runs(which, runs, MAX_RUNS);
    char err[DL_ERRLEN];
    if (live == 0) {
        if (!which) {
            fprintf(stderr, "distlab: no live run of yours (start one with `distlab run "
                            "CONFIG.ini`)\n");
            return -1;
        }
        char shown[PRINTABLE_CAP(256)];
        dl_printable(shown, sizeof shown, which, 256);
        /* Say why a segment of that id does not count. */
        struct shm_handle t;
        if (is_run_id(which) &&
            attach_live((uint32_t)strtoul(which, NULL, 16), &t, false, err) < 0 &&
            !strstr(err, "cannot open"))
            fprintf(stderr, "distlab: %s\n", err);
        else
            fprintf(stderr, "distlab: no live run of yours named '%s' (see `distlab status "
                            "--all`)\n",
                    shown);
        return -1;
    }
    if (live > 1) {
        if (which) {
            char shown[PRINTABLE_CAP(256)];
            dl_printable(shown, sizeof shown, which, 256);
            fprintf(stderr, "distlab %s: %d live runs match '%s'; name one by its id: distlab "
                            "%s RUN_ID%s\n",
                    cmd, live, shown, cmd, rest);
        } else {
            fprintf(stderr, "distlab %s: %d live runs; name one: distlab %s RUN%s\n", cmd, live,
                    cmd, rest);
        }
        list_runs(runs, live);
        return -2;
    }
    if (attach_live(runs[0].id, h, writable, err) < 0) {
        fprintf(stderr, "distlab: %s\n", err);
        return -1;
    }
    return 0;
}

int control_find_run(const char *which, struct shm_handle *h, bool writable)
{
    return find_run("status", "", which, h, writable);
}

/* ---- status ---- */

/* What identifies a run: the head of `status --json`, an element of
 * `status --all --json`. */
static json_t *run_json(const struct shm_run *r)
{
    char id[16];
    snprintf(id, sizeof id, "%08x", r->run_id);
    int64_t t = dl_mono_us() - r->start_mono_us;
    struct run_strings rs;
    run_strings(r, &rs);
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:f}", "run_id", id, "name", rs.name,
                     "algorithm", rs.algorithm, "nodes", (int)r->n, "phase",
                     phase_name(atomic_load(&r->phase)), "run_dir", rs.rundir, "elapsed_s",
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
    struct run_strings rs;
    run_strings(r, &rs);
    fprintf(f, "run %08x  %s  %s, %u nodes, %s, %.1fs  (%s)\n", r->run_id, rs.name,
            rs.algorithm, r->n, phase_name(atomic_load(&r->phase)),
            (double)(dl_mono_us() - r->start_mono_us) / 1e6, rs.rundir);
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
        char shown[PRINTABLE_CAP(256)];
        if (which)
            printf("no live run of yours named '%s'\n", dl_printable(shown, sizeof shown, which, 256));
        else
            printf("no live run of yours\n");
    }
    for (int i = 0; i < live; i++) {
        struct shm_handle t;
        if (attach_live(runs[i].id, &t, false, NULL) < 0)
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
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
    int rc = find_run("status", "", which, &h, false);
    if (rc < 0)
        return rc == -2 ? 2 : 1;
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
        if (!watch || !run_alive(h.run))
            break;
        nanosleep(&refresh, NULL); /* a display refresh, not a wait for an event */
    }
    shm_detach(&h);
    return 0;
}

/* ---- pid and signals ---- */

/* The role options of pid, kill, pause, resume and restart: exactly those
 * listed in CONTROL_ROLE_OPTIONS (their usage), and only roles that an
 * algorithm of this version takes. */
static const struct {
    const char *flag;
    int role;
} role_flags[] = {
    {"--coordinator", ROLE_COORDINATOR},
    {"--token-holder", ROLE_TOKEN_HOLDER},
};

static int role_flag(const char *arg)
{
    for (size_t i = 0; i < sizeof role_flags / sizeof role_flags[0]; i++)
        if (strcmp(arg, role_flags[i].flag) == 0)
            return role_flags[i].role;
    return -1;
}

/* Parse "[RUN] NODE|--coordinator|--token-holder" into a node of a live
 * run, checking the arguments before looking for the run. Returns the node
 * (>= 1), or -1 (no such run: exit 1) or -2 (usage, or RUN needed: exit 2)
 * after printing an error. */
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
    } else if (argc == 3 && argv[1][0] != '-') {
        which = argv[1];
        sel = argv[2];
    } else {
        if (argc == 3)
            fprintf(stderr, "distlab %s: unknown option '%s'\n", cmd, argv[1]);
        cli_usage(cmd, stderr);
        return -2;
    }
    int role = role_flag(sel);
    long k = 0;
    if (role < 0) {
        char *end;
        if (sel[0] == '-' && !isdigit((unsigned char)sel[1])) {
            fprintf(stderr, "distlab %s: unknown option '%s'\n", cmd, sel);
            cli_usage(cmd, stderr);
            return -2;
        }
        k = strtol(sel, &end, 10);
        if (*end || end == sel || k < 1 || k > DL_MAX_NODES) {
            fprintf(stderr, "distlab %s: '%s' is not a node number\n", cmd, sel);
            cli_usage(cmd, stderr);
            return -2;
        }
    }
    char rest[64];
    snprintf(rest, sizeof rest, " %s", sel); /* a role option or a number: checked above */
    int rc = find_run(cmd, rest, which, h, writable);
    if (rc < 0)
        return rc;
    if (role >= 0) {
        int found = shm_find_role(h->run, role);
        if (found)
            return found;
        fprintf(stderr, "distlab: no live node is %s now\n", algo_role_name(role));
        shm_detach(h);
        return -1;
    }
    if (k > (long)h->run->n) {
        fprintf(stderr, "distlab %s: '%s' is not a node of this run (1..%u)\n", cmd, sel,
                h->run->n);
        shm_detach(h);
        return -2;
    }
    return (int)k;
}

/* Node k of run r, verified (node_is) through a pidfd, then sent sig (0:
 * nothing). The pidfd is opened first and checked alive after the /proc
 * reads, so what was verified is the process the descriptor names: a pid
 * that is reused meanwhile is never signalled. Returns the pid, or -1 after
 * printing why nothing was done. */
static int node_signal(const char *cmd, const struct shm_run *r, int k, int sig)
{
    const struct shm_node *sn = &r->node[k];
    pid_t pid = atomic_load(&sn->pid);
    int st = atomic_load(&sn->state);
    if (pid <= 0 || st == NODE_EMPTY || st == NODE_DOWN || st == NODE_STOPPED) {
        fprintf(stderr, "distlab %s: node %d is not running (%s)\n", cmd, k,
                shm_node_state_name(st));
        return -1;
    }
    int fd = proc_pidfd_open(pid);
    if (fd < 0) {
        fprintf(stderr, "distlab %s: node %d (pid %d) is not running: %s\n", cmd, k, (int)pid,
                strerror(-fd));
        return -1;
    }
    char why[160];
    int rc = 0;
    if (!node_is(r, k, pid, why, sizeof why)) {
        fprintf(stderr,
                "distlab %s: pid %d is not node %d of run %08x (%s); nothing was signalled\n",
                cmd, (int)pid, k, r->run_id, why);
        rc = -1;
    } else if ((rc = proc_pidfd_signal(fd, 0)) < 0 ||
               (sig && (rc = proc_pidfd_signal(fd, sig)) < 0)) {
        fprintf(stderr, "distlab %s: node %d (pid %d): %s\n", cmd, k, (int)pid,
                rc == -ESRCH ? "it has ended" : strerror(-rc));
        rc = -1;
    }
    close(fd);
    return rc < 0 ? -1 : (int)pid;
}

int cmd_pid(int argc, char **argv)
{
    struct shm_handle h;
    int k = pick_node("pid", argc, argv, &h, false);
    if (k < 0)
        return k == -2 ? 2 : 1;
    int pid = node_signal("pid", h.run, k, 0);
    shm_detach(&h);
    if (pid < 0)
        return 1;
    printf("%d\n", pid);
    return 0;
}

static int signal_node(const char *cmd, int sig, int argc, char **argv)
{
    struct shm_handle h;
    int k = pick_node(cmd, argc, argv, &h, false);
    if (k < 0)
        return k == -2 ? 2 : 1;
    int pid = node_signal(cmd, h.run, k, sig);
    shm_detach(&h);
    if (pid < 0)
        return 1;
    printf("node %d (pid %d): sent %s\n", k, pid, proc_signame(sig));
    return 0;
}

/* `distlab restart [RUN] NODE`: a crash and a start, whatever the restart
 * policy, done by the supervisor (which alone starts nodes): flag the node
 * in the cluster table and wake the supervisor with SIGUSR2, through a
 * pidfd of the verified launcher. A node that is down is simply started. */
int cmd_restart(int argc, char **argv)
{
    struct shm_handle h;
    int k = pick_node("restart", argc, argv, &h, true);
    if (k < 0)
        return k == -2 ? 2 : 1;
    struct shm_run *r = h.run;
    pid_t launcher = r->launcher_pid;
    int fd = proc_pidfd_open(launcher), rc = fd;
    if (fd >= 0 && (!launcher_is(launcher, r->launcher_start, r->run_id) ||
                    (rc = proc_pidfd_signal(fd, 0)) < 0))
        rc = rc < 0 ? rc : -ESRCH;
    if (rc >= 0) {
        atomic_store(&r->node[k].restart_asked, 1);
        rc = proc_pidfd_signal(fd, SIGUSR2);
    }
    if (fd >= 0)
        close(fd);
    uint32_t id = r->run_id;
    shm_detach(&h);
    if (rc < 0) {
        fprintf(stderr, "distlab restart: the supervisor of run %08x (pid %d) is gone: %s\n", id,
                (int)launcher, strerror(-rc));
        return 1;
    }
    printf("node %d: restart asked of the supervisor (pid %d)\n", k, (int)launcher);
    return 0;
}

int cmd_kill(int argc, char **argv) { return signal_node("kill", SIGKILL, argc, argv); }
int cmd_pause(int argc, char **argv) { return signal_node("pause", SIGSTOP, argc, argv); }
int cmd_resume(int argc, char **argv) { return signal_node("resume", SIGCONT, argc, argv); }
int cmd_terminate(int argc, char **argv)
{
    return signal_node("terminate", SIGTERM, argc, argv);
}

/* ---- clean ---- */

/* A run's IPC objects are removed only when they are the calling user's
 * (whoever that is, root included) and its launcher is gone. Liveness comes
 * from the layout-stable prefix (struct shm_prefix), so a live run of
 * another build (another SHM_VERSION or size, which shm_attach rejects) is
 * never taken for a stale one; a launcher counts only when it maps the
 * segment (launcher_is), so a pid written into a segment that no launcher
 * holds does not keep it. A segment without the magic is stale only when
 * older than this: the launcher writes the header microseconds after
 * creating it. */
#define CLEAN_NO_MAGIC_AGE_S 10

int control_clean(bool verbose)
{
    uint32_t ids[MAX_RUNS], foreign_ids[8];
    int foreign;
    int n = own_run_ids(ids, MAX_RUNS, &foreign, foreign_ids, 8);
    int removed = 0;
    uid_t me = geteuid();
    for (int i = 0; i < foreign && i < 8; i++)
        fprintf(stderr, "distlab clean: not yours: /dev/shm/" SHM_PREFIX "%08x, skipped\n",
                foreign_ids[i]);
    if (foreign > 8)
        fprintf(stderr, "distlab clean: not yours: %d more in /dev/shm, skipped\n", foreign - 8);
    for (int i = 0; i < n; i++) {
        uint32_t id = ids[i], uid = 0;
        struct shm_prefix p;
        int64_t mtime = 0;
        int rc = shm_read_prefix(id, &p, &mtime, &uid);
        if (rc == -ENOENT)
            continue; /* gone meanwhile */
        if (rc == -EACCES || rc == -EPERM || (rc >= 0 && uid != (uint32_t)me)) {
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
            if (launcher_is(p.launcher_pid, p.launcher_start, id))
                continue; /* live, whatever its version */
            nq = (p.n >= 1 && p.n <= DL_MAX_NODES ? (int)p.n : DL_MAX_NODES) + 1;
        } else {
            if ((int64_t)time(NULL) - mtime <= CLEAN_NO_MAGIC_AGE_S)
                continue; /* perhaps being created right now */
            nq = DL_MAX_NODES + 1; /* unknown size: every queue a run can have */
        }
        /* The queues first: a queue never outlives its segment (ipc/shm.h).
         * Only ours: a queue of that name made by someone else stays. */
        int q = 0;
        for (int k = 0; k < nq; k++) {
            uint32_t quid = 0;
            int orc = mq_queue_owner(id, k, &quid);
            if (orc == -ENOENT)
                continue;
            if (orc < 0 || quid != (uint32_t)me) {
                fprintf(stderr,
                        "distlab clean: not yours: queue /" SHM_PREFIX "%08x.n%d, skipped\n", id,
                        k);
                continue;
            }
            if (mq_unlink_queue(id, k) == 0)
                q++;
        }
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
