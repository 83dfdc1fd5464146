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
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/mq.h"
#include "ipc/proc.h"
#include "ipc/util.h"
#include "nodes/algo.h"
#include "src/cli.h"
#include "src/netspec.h"
#include "src/roles.h"

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

/* The run's clients, bounded (the segment is checked by shm_attach, but a
 * reader never indexes with a field it did not bound itself). */
static uint32_t run_clients(const struct shm_run *r)
{
    return r->clients <= DL_MAX_CLIENTS && r->n <= DL_MAX_NODES ? r->clients : 0;
}

/* A run of a replicated log: its nodes publish commit and log indexes. */
static bool run_is_raft(const struct shm_run *r)
{
    return strncmp(r->algorithm, "raft", sizeof r->algorithm) == 0;
}

/* The workload's clients (the slots after them are `distlab client`'s). */
static uint32_t run_workload_clients(const struct shm_run *r)
{
    uint32_t c = run_clients(r);
    return r->params.clients >= 0 && (uint32_t)r->params.clients < c ? (uint32_t)r->params.clients
                                                                       : c;
}

/* Client K's share of the requests: none for an interactive slot. */
static int64_t client_quota(const struct shm_run *r, uint32_t k)
{
    uint32_t wc = run_workload_clients(r);
    return k <= wc ? shm_client_quota(r->params.requests, (int)wc, (int)k) : 0;
}

/* Client K (1..clients) of run r: its slot, and its share of the requests. */
static const struct shm_node *client_slot(const struct shm_run *r, uint32_t k)
{
    return &r->node[r->n + k];
}

static json_t *clients_json(const struct shm_run *r)
{
    json_t *arr = json_array();
    for (uint32_t k = 1; k <= run_clients(r); k++) {
        const struct shm_node *sn = client_slot(r, k);
        json_array_append_new(
            arr, json_pack("{s:i, s:i, s:i, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
                           "client", (int)k, "id", (int)(r->n + k), "pid",
                           (int)atomic_load(&sn->pid), "state",
                           shm_node_state_name(atomic_load(&sn->state)), "interactive",
                           k > run_workload_clients(r), "quota", (json_int_t)client_quota(r, k),
                           "done", (json_int_t)atomic_load(&sn->requests_done), "ok",
                           (json_int_t)atomic_load(&sn->ops_ok), "fail",
                           (json_int_t)atomic_load(&sn->ops_fail), "timeout",
                           (json_int_t)atomic_load(&sn->ops_timeout), "sent",
                           (json_int_t)atomic_load(&sn->cnt[CNT_SENT]), "recv",
                           (json_int_t)atomic_load(&sn->cnt[CNT_RECV]), "workload_done",
                           atomic_load(&sn->workload_done) != 0));
    }
    return arr;
}

/* What identifies a run: the head of `status --json`, an element of
 * `status --all --json`. */
static json_t *run_json(const struct shm_run *r)
{
    char id[16];
    snprintf(id, sizeof id, "%08x", r->run_id);
    int64_t t = dl_mono_us() - r->start_mono_us;
    struct run_strings rs;
    run_strings(r, &rs);
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:f}", "run_id", id, "name", rs.name,
                     "algorithm", rs.algorithm, "nodes", (int)r->n, "clients",
                     (int)run_clients(r), "phase", phase_name(atomic_load(&r->phase)), "run_dir",
                     rs.rundir, "elapsed_s", (double)t / 1e6);
}

static json_t *network_json(const struct shm_run *r);

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
        if (run_is_raft(r)) {
            json_t *row = json_array_get(nodes, json_array_size(nodes) - 1);
            int leader = atomic_load(&sn->leader);
            json_object_set_new(row, "commit_index",
                                json_integer((json_int_t)atomic_load(&sn->commit_index)));
            json_object_set_new(row, "last_index",
                                json_integer((json_int_t)atomic_load(&sn->last_index)));
            json_object_set_new(row, "applied_index",
                                json_integer((json_int_t)atomic_load(&sn->applied_index)));
            json_object_set_new(row, "leader", leader > 0 ? json_integer(leader) : json_null());
        }
    }
    json_t *o = run_json(r);
    json_object_set_new(o, "clients_table", clients_json(r));
    json_object_set_new(o, "occupant",
                        json_integer(SHM_HOLDER_NODE(atomic_load(&r->res.holder))));
    json_object_set_new(o, "counter", json_integer((json_int_t)atomic_load(&r->res.counter)));
    json_object_set_new(o, "violations",
                        json_integer((json_int_t)atomic_load(&r->res.violations)));
    json_object_set_new(o, "nodes_table", nodes);
    json_object_set_new(o, "network", network_json(r));
    return o;
}

/* ---- the network, as the supervisor wrote it ---- */

struct net_view {
    int n;
    struct net_links cut;
    uint32_t loss[DL_MAX_NODES + 1][DL_MAX_NODES + 1];
    uint32_t delay[DL_MAX_NODES + 1][DL_MAX_NODES + 1];
    uint32_t jitter[DL_MAX_NODES + 1][DL_MAX_NODES + 1];
};

/* A consistent copy of the run's link matrix (read again when the
 * supervisor changed it meanwhile; the last copy after a few tries). */
static void net_view(const struct shm_run *r, struct net_view *v)
{
    int n = r->n <= DL_MAX_NODES ? (int)r->n : DL_MAX_NODES;
    for (int tries = 0; tries < 5; tries++) {
        uint64_t before = atomic_load_explicit(&r->net_version, memory_order_acquire);
        memset(&v->cut, 0, sizeof v->cut);
        v->n = v->cut.n = n;
        for (int a = 1; a <= n; a++)
            for (int b = 1; b <= n; b++) {
                if (a == b)
                    continue;
                v->cut.on[a][b] = atomic_load_explicit(&r->cut[a][b], memory_order_acquire) != 0;
                const struct shm_link *l = &r->link[a][b];
                v->loss[a][b] = atomic_load_explicit(&l->loss_ppm, memory_order_relaxed);
                v->delay[a][b] = atomic_load_explicit(&l->delay_us, memory_order_relaxed);
                v->jitter[a][b] = atomic_load_explicit(&l->jitter_us, memory_order_relaxed);
            }
        if (atomic_load_explicit(&r->net_version, memory_order_acquire) == before)
            break;
    }
}

static bool link_faulty(const struct net_view *v, int a, int b)
{
    return v->loss[a][b] || v->delay[a][b] || v->jitter[a][b];
}

/* "5ms", "250us". */
static const char *fmt_us(uint32_t us, char *buf, size_t cap)
{
    if (us % 1000000 == 0 && us)
        snprintf(buf, cap, "%us", us / 1000000);
    else if (us % 1000 == 0)
        snprintf(buf, cap, "%ums", us / 1000);
    else
        snprintf(buf, cap, "%uus", us);
    return buf;
}

static void link_params(const struct net_view *v, int a, int b, char *buf, size_t cap)
{
    char d[32], j[32];
    size_t len = 0;
    buf[0] = '\0';
    if (v->loss[a][b])
        len += (size_t)snprintf(buf, cap, "loss %g", v->loss[a][b] / 1e6);
    if (v->delay[a][b] && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, "%sdelay %s", len ? ", " : "",
                                fmt_us(v->delay[a][b], d, sizeof d));
    if (v->jitter[a][b] && len < cap)
        snprintf(buf + len, cap - len, "%sjitter %s", len ? ", " : "",
                 fmt_us(v->jitter[a][b], j, sizeof j));
}

#define NET_GROUPS_SHOWN 8

/* The network lines of `status`: what is cut, then each distinct setting
 * of loss / delay / jitter with the links that have it. */
static void status_network(const struct shm_run *r, FILE *f)
{
    struct net_view *v = malloc(sizeof *v);
    struct net_links *same = malloc(sizeof *same);
    bool *done = calloc((size_t)(DL_MAX_NODES + 1) * (DL_MAX_NODES + 1), sizeof *done);
    if (!v || !same || !done) {
        fprintf(f, "network: (out of memory)\n");
        goto out;
    }
    net_view(r, v);
    int n = v->n, ncut = netspec_count(&v->cut), groups = 0, more = 0;
    char desc[512], params[128];
    if (ncut) {
        netspec_describe(&v->cut, desc, sizeof desc);
        fprintf(f, "network: cut %s (%d link%s)\n", desc, ncut, ncut == 1 ? "" : "s");
    }
    for (int a = 1; a <= n; a++)
        for (int b = 1; b <= n; b++) {
            if (a == b || done[a * (DL_MAX_NODES + 1) + b] || !link_faulty(v, a, b))
                continue;
            memset(same, 0, sizeof *same);
            same->n = n;
            int count = 0;
            for (int x = 1; x <= n; x++)
                for (int y = 1; y <= n; y++)
                    if (x != y && v->loss[x][y] == v->loss[a][b] &&
                        v->delay[x][y] == v->delay[a][b] && v->jitter[x][y] == v->jitter[a][b]) {
                        same->on[x][y] = 1;
                        done[x * (DL_MAX_NODES + 1) + y] = true;
                        count++;
                    }
            if (groups++ >= NET_GROUPS_SHOWN) {
                more++;
                continue;
            }
            link_params(v, a, b, params, sizeof params);
            if (count == n * (n - 1))
                snprintf(desc, sizeof desc, "all links");
            else
                netspec_describe(same, desc, sizeof desc);
            fprintf(f, "network: %s on %s\n", params, desc);
        }
    if (more)
        fprintf(f, "network: ... and %d more setting%s (see --json)\n", more, more == 1 ? "" : "s");
    if (!ncut && !groups)
        fprintf(f, "network: no faults\n");
out:
    free(v);
    free(same);
    free(done);
}

static json_t *network_json(const struct shm_run *r)
{
    struct net_view *v = malloc(sizeof *v);
    if (!v)
        return json_null();
    net_view(r, v);
    json_t *cut = json_array(), *links = json_array();
    for (int a = 1; a <= v->n; a++)
        for (int b = 1; b <= v->n; b++) {
            if (a == b)
                continue;
            if (v->cut.on[a][b])
                json_array_append_new(cut, json_pack("[i, i]", a, b));
            if (link_faulty(v, a, b))
                json_array_append_new(links, json_pack("{s:i, s:i, s:f, s:I, s:I}", "from", a, "to",
                                                       b, "loss", v->loss[a][b] / 1e6, "delay_us",
                                                       (json_int_t)v->delay[a][b], "jitter_us",
                                                       (json_int_t)v->jitter[a][b]));
        }
    free(v);
    return json_pack("{s:o, s:o, s:I}", "cut", cut, "links", links, "version",
                     (json_int_t)atomic_load(&r->net_version));
}

/* One line per run: the head of `status`, a line of `status --all`. */
static void run_line(const struct shm_run *r, FILE *f)
{
    struct run_strings rs;
    run_strings(r, &rs);
    char clients[32] = "";
    if (run_clients(r))
        snprintf(clients, sizeof clients, " and %u client%s", run_clients(r),
                 run_clients(r) == 1 ? "" : "s");
    fprintf(f, "run %08x  %s  %s, %u nodes%s, %s, %.1fs  (%s)\n", r->run_id, rs.name,
            rs.algorithm, r->n, clients, phase_name(atomic_load(&r->phase)),
            (double)(dl_mono_us() - r->start_mono_us) / 1e6, rs.rundir);
}

/* A replicated log: per node its role and term, the log's indexes and the
 * leader it knows of; per client its progress. */
static void status_text_raft(const struct shm_run *r, FILE *f)
{
    int leader = roles_holder(r, ROLE_LEADER);
    if (leader)
        fprintf(f, "leader: node %d (term %lld)\n", leader,
                (long long)atomic_load(&r->node[leader].term));
    else
        fprintf(f, "leader: none\n");
    fprintf(f, "%4s %8s %-8s %-10s %6s %4s %8s %8s %8s %6s %9s %9s %5s\n", "node", "pid",
            "state", "role", "term", "inc", "commit", "last", "applied", "leader", "sent",
            "recv", "bad");
    for (uint32_t k = 1; k <= r->n; k++) {
        const struct shm_node *sn = &r->node[k];
        int known = atomic_load(&sn->leader);
        char lead[16];
        if (known > 0)
            snprintf(lead, sizeof lead, "%d", known);
        else
            snprintf(lead, sizeof lead, "-");
        fprintf(f, "%4u %8d %-8s %-10s %6lld %4d %8lld %8lld %8lld %6s %9llu %9llu %5llu\n", k,
                (int)atomic_load(&sn->pid), shm_node_state_name(atomic_load(&sn->state)),
                algo_role_name(atomic_load(&sn->role)), (long long)atomic_load(&sn->term),
                (int)atomic_load(&sn->incarnation), (long long)atomic_load(&sn->commit_index),
                (long long)atomic_load(&sn->last_index),
                (long long)atomic_load(&sn->applied_index), lead,
                (unsigned long long)atomic_load(&sn->cnt[CNT_SENT]),
                (unsigned long long)atomic_load(&sn->cnt[CNT_RECV]),
                (unsigned long long)atomic_load(&sn->cnt[CNT_MALFORMED]));
    }
    uint32_t nc = run_clients(r);
    if (nc == 0)
        return;
    fprintf(f, "%6s %4s %8s %-8s %15s %8s %6s %7s\n", "client", "id", "pid", "state",
            "done/quota", "ok", "fail", "timeout");
    for (uint32_t k = 1; k <= nc; k++) {
        const struct shm_node *sn = client_slot(r, k);
        char prog[40];
        bool inter = k > run_workload_clients(r);
        if (inter)
            snprintf(prog, sizeof prog, "%lld (shell)", (long long)atomic_load(&sn->requests_done));
        else
            snprintf(prog, sizeof prog, "%lld/%lld", (long long)atomic_load(&sn->requests_done),
                     (long long)client_quota(r, k));
        fprintf(f, "%6u %4u %8d %-8s %15s %8lld %6lld %7lld%s\n", k, r->n + k,
                (int)atomic_load(&sn->pid), shm_node_state_name(atomic_load(&sn->state)), prog,
                (long long)atomic_load(&sn->ops_ok), (long long)atomic_load(&sn->ops_fail),
                (long long)atomic_load(&sn->ops_timeout),
                !inter && atomic_load(&sn->workload_done) ? "  [done]" : "");
    }
}

static void status_text(const struct shm_run *r, FILE *f)
{
    run_line(r, f);
    if (run_is_raft(r)) {
        status_text_raft(r, f);
        status_network(r, f);
        return;
    }
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
    status_network(r, f);
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
    {"--leader", ROLE_LEADER},
    {"--token-holder", ROLE_TOKEN_HOLDER},
};

static int role_flag(const char *arg)
{
    for (size_t i = 0; i < sizeof role_flags / sizeof role_flags[0]; i++)
        if (strcmp(arg, role_flags[i].flag) == 0)
            return role_flags[i].role;
    return -1;
}

/* Parse "[RUN] NODE|--coordinator|--leader|--token-holder" into a node of a live
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
        int found = roles_holder(h->run, role);
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

/* ---- commands to the supervisor (the mailbox, ipc/shm.h) ---- */

#define CMD_WAIT_US   (5 * 1000000LL) /* a tool waits this long in all */
#define CMD_ORPHAN_US (1000000LL)     /* a claim without a pid this long is abandoned */

static void futex_wait(_Atomic uint32_t *word, uint32_t val, int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static bool pid_gone(pid_t pid)
{
    return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

/* A pidfd of run r's launcher, verified (launcher_is) after it was opened,
 * or -errno. */
static int launcher_fd(const struct shm_run *r)
{
    pid_t launcher = r->launcher_pid;
    int fd = proc_pidfd_open(launcher), rc = fd;
    if (fd >= 0 && (!launcher_is(launcher, r->launcher_start, r->run_id) ||
                    (rc = proc_pidfd_signal(fd, 0)) < 0))
        rc = rc < 0 ? rc : -ESRCH;
    if (rc < 0 && fd >= 0)
        close(fd);
    return rc < 0 ? rc : fd;
}

/* Claim the mailbox for this process before the deadline: a free one by
 * compare-and-swap, then the pid by compare-and-swap (from 0); one whose
 * holder died (CLAIMED or ANSWERED, its pid gone) by compare-and-swap of
 * the pid. The pid is what owns the mailbox: whoever swaps it in first. */
static int claim(struct shm_cmd *m, int lfd, int64_t deadline)
{
    pid_t me = getpid();
    int64_t orphan_since = 0;
    bool kicked = false;
    for (;;) {
        uint32_t st = atomic_load(&m->state);
        int32_t p = atomic_load(&m->tool_pid);
        if (st == CMD_CLAIMED && p == me)
            return 0;
        if (st == CMD_FREE) {
            uint32_t want = CMD_FREE;
            if (atomic_compare_exchange_strong(&m->state, &want, CMD_CLAIMED)) {
                int32_t zero = 0;
                atomic_compare_exchange_strong(&m->tool_pid, &zero, me);
            }
            continue; /* mine now, or taken by another: look again */
        }
        if (st == CMD_ANSWERED && p == me) {
            uint32_t want = CMD_ANSWERED;
            atomic_compare_exchange_strong(&m->state, &want, CMD_CLAIMED);
            continue;
        }
        if ((st == CMD_CLAIMED || st == CMD_ANSWERED) && p != 0 && p != me && pid_gone(p)) {
            atomic_compare_exchange_strong(&m->tool_pid, &p, me); /* a dead tool's */
            continue;
        }
        if (st == CMD_CLAIMED && p == 0) {
            /* Claimed by a tool that has not written its pid yet, or
             * never will (it died in between). */
            if (!orphan_since)
                orphan_since = dl_mono_us();
            else if (dl_mono_us() - orphan_since >= CMD_ORPHAN_US) {
                atomic_compare_exchange_strong(&m->tool_pid, &p, me);
                continue;
            }
        } else {
            orphan_since = 0;
        }
        if (st == CMD_POSTED && pid_gone(p) && !kicked) {
            /* A dead tool's command: the supervisor answers it, then it
             * can be taken over. */
            proc_pidfd_signal(lfd, SIGUSR2);
            kicked = true;
        }
        int64_t left = deadline - dl_mono_us();
        if (left <= 0)
            return -EBUSY;
        futex_wait(&m->state, st, left < 50000 ? left : 50000);
    }
}

static void release(struct shm_cmd *m)
{
    atomic_store(&m->tool_pid, 0);
    atomic_store_explicit(&m->state, CMD_FREE, memory_order_release);
    futex_wake(&m->state);
}

/* Ask run r's supervisor to do op (on node, with arg) and print its
 * answer: on stdout when done, on stderr when refused. Returns the exit
 * code: 0 done; 1 refused (not running, ...), or no answer; 2 refused as
 * invalid (a node or spec the tool did not catch). */
static int ask_supervisor(const char *cmd, struct shm_run *r, int op, int node, const char *arg)
{
    int64_t deadline = dl_mono_us() + CMD_WAIT_US;
    uint32_t id = r->run_id;
    pid_t launcher = r->launcher_pid;
    int fd = launcher_fd(r);
    if (fd < 0) {
        fprintf(stderr, "distlab %s: the supervisor of run %08x (pid %d) is gone: %s\n", cmd, id,
                (int)launcher, strerror(-fd));
        return 1;
    }
    struct shm_cmd *m = &r->cmd;
    if (claim(m, fd, deadline) < 0) {
        fprintf(stderr,
                "distlab %s: the command mailbox of run %08x is busy (held by pid %d) and was "
                "not freed within %llds; nothing was done\n",
                cmd, id, (int)atomic_load(&m->tool_pid), CMD_WAIT_US / 1000000);
        close(fd);
        return 1;
    }
    m->op = op;
    m->node = node;
    m->result = 0;
    m->answer[0] = '\0';
    snprintf(m->arg, sizeof m->arg, "%s", arg ? arg : "");
    m->posted_us = dl_mono_us() - r->start_mono_us;
    atomic_fetch_add(&m->seq, 1);
    atomic_store_explicit(&m->state, CMD_POSTED, memory_order_release);
    int rc = proc_pidfd_signal(fd, SIGUSR2);
    close(fd);
    if (rc < 0) {
        /* The supervisor died between the check and now. */
        release(m);
        fprintf(stderr, "distlab %s: the supervisor of run %08x (pid %d) is gone: %s\n", cmd, id,
                (int)launcher, strerror(-rc));
        return 1;
    }
    uint32_t st;
    while ((st = atomic_load_explicit(&m->state, memory_order_acquire)) == CMD_POSTED) {
        int64_t left = deadline - dl_mono_us();
        if (left <= 0)
            break;
        futex_wait(&m->state, CMD_POSTED, left);
    }
    if (st != CMD_ANSWERED || atomic_load(&m->tool_pid) != getpid()) {
        /* Left POSTED: the supervisor answers it when it can, and frees
         * the answer nobody collects. */
        fprintf(stderr,
                "distlab %s: the supervisor of run %08x (pid %d) did not answer within %llds "
                "(is it stopped?); the command may still be carried out\n",
                cmd, id, (int)launcher, CMD_WAIT_US / 1000000);
        return 1;
    }
    int result = m->result;
    char answer[PRINTABLE_CAP(sizeof m->answer)];
    dl_printable(answer, sizeof answer, m->answer, sizeof m->answer);
    release(m);
    if (result == 0) {
        printf("%s\n", answer);
        return 0;
    }
    fprintf(stderr, "distlab %s: %s\n", cmd, answer);
    return result == EINVAL || result == ENOENT ? 2 : 1;
}

static int node_command(const char *cmd, int op, int argc, char **argv)
{
    struct shm_handle h;
    int k = pick_node(cmd, argc, argv, &h, true);
    if (k < 0)
        return k == -2 ? 2 : 1;
    int code = ask_supervisor(cmd, h.run, op, k, NULL);
    shm_detach(&h);
    return code;
}

/* `distlab restart [RUN] NODE`: a crash and a start, whatever the restart
 * policy, done by the supervisor (which alone starts nodes). A node that
 * is down is simply started. */
int cmd_restart(int argc, char **argv)
{
    return node_command("restart", CMD_RESTART, argc, argv);
}
int cmd_kill(int argc, char **argv)
{
    return node_command("kill", CMD_KILL, argc, argv);
}
int cmd_pause(int argc, char **argv)
{
    return node_command("pause", CMD_PAUSE, argc, argv);
}
int cmd_resume(int argc, char **argv)
{
    return node_command("resume", CMD_RESUME, argc, argv);
}
int cmd_terminate(int argc, char **argv)
{
    return node_command("terminate", CMD_TERMINATE, argc, argv);
}

static bool help_asked(const char *cmd, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage(cmd, stdout);
            return true;
        }
    return false;
}

/* An argument that looks like an option where none is taken. */
static bool refuse_option(const char *cmd, const char *arg)
{
    if (arg[0] != '-' || arg[1] == '\0')
        return false;
    fprintf(stderr, "distlab %s: unknown option '%s'\n", cmd, arg);
    cli_usage(cmd, stderr);
    return true;
}

/* `distlab partition [RUN] SPEC` */
int cmd_partition(int argc, char **argv)
{
    if (help_asked("partition", argc, argv))
        return 0;
    if (argc < 2 || argc > 3) {
        cli_usage("partition", stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (refuse_option("partition", argv[i]))
            return 2;
    const char *which = argc == 3 ? argv[1] : NULL, *spec = argv[argc - 1];
    char shown[PRINTABLE_CAP(256)];
    dl_printable(shown, sizeof shown, spec, 256);
    if (strlen(spec) >= sizeof((struct shm_cmd *)0)->arg) {
        fprintf(stderr, "distlab partition: the spec is too long (at most %zu bytes)\n",
                sizeof((struct shm_cmd *)0)->arg - 1);
        return 2;
    }
    char rest[sizeof shown + 2];
    snprintf(rest, sizeof rest, " %s", shown);
    struct shm_handle h;
    int rc = find_run("partition", rest, which, &h, true);
    if (rc < 0)
        return rc == -2 ? 2 : 1;
    struct net_links *links = malloc(sizeof *links);
    char err[NETSPEC_ERRLEN];
    int code = 2;
    if (!links) {
        fprintf(stderr, "distlab partition: out of memory\n");
    } else if (netspec_partition(spec, (int)h.run->n, links, err) < 0) {
        char e[PRINTABLE_CAP(NETSPEC_ERRLEN)];
        fprintf(stderr,
                "distlab partition: bad spec '%s': %s\n"
                "(sides '1,2/3,4,5', or links '1->3', '1<->3', '3->*', '1->3,2<->4'; nodes "
                "1..%u%s)\n",
                shown, dl_printable(e, sizeof e, err, sizeof err), h.run->n,
                spec[0] && spec[strlen(spec) - 1] == '-'
                    ? "; quote a spec with '>' in it: the shell takes > as a redirection"
                    : "");
    } else {
        code = ask_supervisor("partition", h.run, CMD_PARTITION, 0, spec);
    }
    free(links);
    shm_detach(&h);
    return code;
}

/* `distlab heal [RUN]` */
int cmd_heal(int argc, char **argv)
{
    if (help_asked("heal", argc, argv))
        return 0;
    if (argc > 2 || (argc == 2 && refuse_option("heal", argv[1]))) {
        if (argc > 2)
            cli_usage("heal", stderr);
        return 2;
    }
    struct shm_handle h;
    int rc = find_run("heal", "", argc == 2 ? argv[1] : NULL, &h, true);
    if (rc < 0)
        return rc == -2 ? 2 : 1;
    int code = ask_supervisor("heal", h.run, CMD_HEAL, 0, NULL);
    shm_detach(&h);
    return code;
}

/* `distlab net [RUN] loss=0.1 delay=5ms jitter=2ms [LINKS]`: RUN when the
 * first argument is not an assignment, LINKS the last one when it is
 * not. */
int cmd_net(int argc, char **argv)
{
    if (help_asked("net", argc, argv))
        return 0;
    for (int i = 1; i < argc; i++)
        if (refuse_option("net", argv[i]))
            return 2;
    int first = 1, last = argc - 1;
    const char *which = NULL, *links_text = NULL;
    if (argc > 1 && !strchr(argv[1], '='))
        which = argv[first++];
    if (last >= first && !strchr(argv[last], '='))
        links_text = argv[last--];
    if (first > last) {
        fprintf(stderr, "distlab net: nothing to set: give loss=P, delay=D or jitter=D\n");
        cli_usage("net", stderr);
        return 2;
    }
    char arg[sizeof((struct shm_cmd *)0)->arg];
    size_t len = 0;
    struct net_params p;
    memset(&p, 0, sizeof p);
    for (int i = first; i <= last; i++) {
        char err[NETSPEC_ERRLEN], e[PRINTABLE_CAP(NETSPEC_ERRLEN)], shown[PRINTABLE_CAP(256)];
        int rc = strchr(argv[i], '=') ? netspec_assign(argv[i], &p, err) : -ENOENT;
        if (rc < 0) {
            dl_printable(shown, sizeof shown, argv[i], 256);
            if (rc == -ENOENT)
                fprintf(stderr,
                        "distlab net: '%s' is not an assignment (loss=P, delay=D, "
                        "jitter=D); the links come last\n",
                        shown);
            else
                fprintf(stderr, "distlab net: %s\n", dl_printable(e, sizeof e, err, sizeof err));
            return 2;
        }
        len += (size_t)snprintf(arg + len, len < sizeof arg ? sizeof arg - len : 0, "%s%s",
                                len ? " " : "", argv[i]);
    }
    if (links_text)
        len +=
            (size_t)snprintf(arg + len, len < sizeof arg ? sizeof arg - len : 0, " %s", links_text);
    if (len >= sizeof arg) {
        fprintf(stderr, "distlab net: the arguments are too long (at most %zu bytes)\n",
                sizeof arg - 1);
        return 2;
    }
    struct shm_handle h;
    int rc = find_run("net", "", which, &h, true);
    if (rc < 0)
        return rc == -2 ? 2 : 1;
    int code = 2;
    struct net_links *links = malloc(sizeof *links);
    char err[NETSPEC_ERRLEN];
    if (!links) {
        fprintf(stderr, "distlab net: out of memory\n");
    } else if (netspec_links(links_text ? links_text : "all", (int)h.run->n, links, err) < 0) {
        char e[PRINTABLE_CAP(NETSPEC_ERRLEN)], shown[PRINTABLE_CAP(256)];
        fprintf(stderr,
                "distlab net: bad links '%s': %s\n"
                "('all', or links '1->3', '1<->3', '3->*', '1->3,2<->4'; nodes 1..%u%s)\n",
                dl_printable(shown, sizeof shown, links_text, 256),
                dl_printable(e, sizeof e, err, sizeof err), h.run->n,
                links_text && links_text[0] && links_text[strlen(links_text) - 1] == '-'
                    ? "; quote links with '>' in them: the shell takes > as a redirection"
                    : "");
    } else {
        code = ask_supervisor("net", h.run, CMD_NET, 0, arg);
    }
    free(links);
    shm_detach(&h);
    return code;
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
            /* The nodes' queues, then as many clients' as a run can have
             * (the layout-stable prefix does not say how many it had). */
            nq = (p.n >= 1 && p.n <= DL_MAX_NODES ? (int)p.n : DL_MAX_NODES) + 1 +
                 DL_MAX_CLIENTS;
        } else {
            if ((int64_t)time(NULL) - mtime <= CLEAN_NO_MAGIC_AGE_S)
                continue; /* perhaps being created right now */
            nq = DL_MAX_PROCS + 1; /* unknown size: every queue a run can have */
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
