/* distlab-failover: how long a Raft cluster of real processes is without a
 * leader after its leader is killed with SIGKILL.
 *
 * One `distlab run` of algorithm raft (3 nodes by default, election timeouts
 * 150-300 ms, heartbeats every 50 ms, one client submitting commands, crashed
 * nodes restarted after 200 ms) in which the leader is killed T times (20 by
 * default), one kill every --every ms (1,517 by default). Each failover is read from the run's
 * report (report.json "failovers", built from the traces): from the kill to
 * the first TR_ROLE record of a leader of a higher term, both on the run's
 * one clock.
 *
 * Two ways to kill:
 *   default     a scheduled fault ([fault.1] action = kill, target = leader,
 *               every, count): the supervisor records the kill the moment it
 *               sends SIGKILL, so the failover starts exactly at the kill;
 *   --external  the benchmark itself runs `kill -9 $(distlab pid RUN
 *               --leader)`, as someone at a shell would; the failover then
 *               starts at the supervisor's crash record, written when it
 *               reaps the killed process (it learns of the death through
 *               signalfd, typically well under a millisecond later).
 *
 *   bench/distlab-failover [--trials T] [--nodes N] [--every MS] [--min MS] [--max MS]
 *                          [--heartbeat MS] [--external] [--distlab PATH] [--keep]
 *                          [--from RUNDIR]
 *
 * --from reads a finished run's directory instead of running one (the
 * options must then say how that run was made). Each failover is broken
 * down from the traces: when the new leader last heard from the old one
 * before the kill, how long after that it stood for election (its election
 * timeout as it ran) and how long its election took - failover = timeout -
 * time since heard + election.
 *
 * For reference, etcd 3.4 (3 members, election timeout 150 ms, heartbeat
 * 30 ms) measured a median of 164 ms and a maximum of 298 ms over 20 kills
 * on this kind of machine. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench/beside.h"

struct opts {
    int trials, nodes, every_ms, min_ms, max_ms, heartbeat_ms;
    int external, keep;
    char exe[PATH_MAX];
    char from[PATH_MAX]; /* a finished run's directory to read instead of running */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* `distlab ARGS...` with its stdout into out (cap bytes; NULL: discarded).
 * Returns its exit status, or -1. */
static int distlab(const char *exe, char *out, size_t cap, char *const argv[])
{
    int fds[2];
    if (out && pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(out ? fds[1] : devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        if (out) {
            close(fds[0]);
            close(fds[1]);
        }
        execv(exe, argv);
        _exit(127);
    }
    size_t len = 0;
    if (out) {
        close(fds[1]);
        ssize_t k;
        while (len + 1 < cap && (k = read(fds[0], out + len, cap - 1 - len)) > 0)
            len += (size_t)k;
        out[len] = '\0';
        close(fds[0]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The external mode: while the run lives, kill its leader every every_ms. */
static int kill_leaders(const struct opts *o, const char *name, pid_t run)
{
    int killed = 0;
    sleep_ms(1500); /* the cluster starts and elects its first leader */
    while (killed < o->trials) {
        int status;
        if (waitpid(run, &status, WNOHANG) == run) {
            fprintf(stderr, "distlab-failover: the run ended after %d kills\n", killed);
            return -1;
        }
        char out[64];
        char *argv[] = {"distlab", "pid", (char *)name, "--leader", NULL};
        long pid = 0;
        if (distlab(o->exe, out, sizeof out, argv) == 0)
            pid = strtol(out, NULL, 10);
        if (pid <= 1) {
            sleep_ms(20); /* no leader just now (an election): ask again */
            continue;
        }
        if (kill((pid_t)pid, SIGKILL) == 0)
            killed++;
        sleep_ms(o->every_ms);
    }
    return 0;
}

/* What the traces say of one failover, in microseconds (-1: not found):
 * how long before the kill the new leader last heard from the old one (a
 * heartbeat or an append), how long after that it stood for election (its
 * election timeout, as it ran), and how long its election took. */
struct parts {
    int64_t since_heard, timeout, election;
};

struct trace_view {
    json_t *lines; /* the run's `distlab trace`, one object per event */
};

static int load_trace(const char *exe, const char *outdir, const char *dir, struct trace_view *tv)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/trace.jsonl", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(fd, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        execl(exe, "distlab", "trace", outdir, (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    tv->lines = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        const char *ev = json_string_value(json_object_get(o, "ev"));
        /* Only what the breakdown needs: receipts and role changes. */
        if (o && ev && (strcmp(ev, "recv") == 0 || strcmp(ev, "role") == 0))
            json_array_append_new(tv->lines, o);
        else
            json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
}

static json_int_t ival(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static struct parts breakdown(const struct trace_view *tv, int old, int winner, int64_t kill_us,
                              int64_t elected_us)
{
    struct parts p = {-1, -1, -1};
    int64_t heard = -1, stood = -1;
    size_t i;
    json_t *o;
    json_array_foreach(tv->lines, i, o)
    {
        int64_t t = ival(o, "t_us");
        if (ival(o, "node") != winner || !json_object_get(o, "node"))
            continue;
        const char *ev = json_string_value(json_object_get(o, "ev"));
        if (strcmp(ev, "recv") == 0 && ival(o, "from") == old && t <= kill_us)
            heard = t;
        else if (strcmp(ev, "role") == 0 && t > kill_us && t <= elected_us && stood < 0 &&
                 strcmp(json_string_value(json_object_get(o, "role")), "candidate") == 0)
            stood = t;
    }
    if (heard >= 0)
        p.since_heard = kill_us - heard;
    if (heard >= 0 && stood >= 0)
        p.timeout = stood - heard;
    if (stood >= 0)
        p.election = elected_us - stood;
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    /* One kill every 1,517 ms: not a multiple of the heartbeat, so that
     * the kills fall at every phase of the heartbeat cycle. (A period that
     * is a multiple of it kills at the same phase each time - always just
     * after a heartbeat, say - and biases every failover alike.) */
    struct opts o = {.trials = 20,
                     .nodes = 3,
                     .every_ms = 1517,
                     .min_ms = 150,
                     .max_ms = 300,
                     .heartbeat_ms = 50};
    static const struct option lopts[] = {
        {"trials", required_argument, NULL, 't'}, {"nodes", required_argument, NULL, 'n'},
        {"every", required_argument, NULL, 'e'},  {"min", required_argument, NULL, 'm'},
        {"max", required_argument, NULL, 'M'},    {"heartbeat", required_argument, NULL, 'b'},
        {"external", no_argument, NULL, 'x'},     {"distlab", required_argument, NULL, 'd'},
        {"keep", no_argument, NULL, 'k'},         {"from", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "t:n:e:h", lopts, NULL)) != -1) {
        switch (c) {
        case 't': o.trials = atoi(optarg); break;
        case 'n': o.nodes = atoi(optarg); break;
        case 'e': o.every_ms = atoi(optarg); break;
        case 'm': o.min_ms = atoi(optarg); break;
        case 'M': o.max_ms = atoi(optarg); break;
        case 'b': o.heartbeat_ms = atoi(optarg); break;
        case 'x': o.external = 1; break;
        case 'd': snprintf(o.exe, sizeof o.exe, "%s", optarg); break;
        case 'k': o.keep = 1; break;
        case 'f': snprintf(o.from, sizeof o.from, "%s", optarg); break;
        default:
            printf("usage: distlab-failover [--trials T] [--nodes N] [--every MS] [--min MS] "
                   "[--max MS] [--heartbeat MS] [--external] [--distlab PATH] [--keep] "
                   "[--from RUNDIR]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (o.trials < 1 || o.trials > 1000 || o.nodes < 3 || o.nodes > 64 || o.every_ms < 500 ||
        o.min_ms < 1 || o.max_ms < o.min_ms || o.heartbeat_ms < 1 || o.heartbeat_ms >= o.min_ms) {
        fprintf(stderr, "distlab-failover: bad arguments (trials 1-1000, nodes 3-64, every >= "
                        "500 ms, heartbeat < min <= max)\n");
        return 2;
    }
    if (!o.exe[0]) {
        /* The distlab built beside this benchmark (bench/..). */
        if (bench_distlab_beside(o.exe, sizeof o.exe) < 0)
            return 2;
    }
    char dir[] = "/tmp/distlab-failover.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("distlab-failover: mkdtemp");
        return 2;
    }
    char ini[PATH_MAX], outdir[PATH_MAX], name[64];
    snprintf(ini, sizeof ini, "%s/failover.ini", dir);
    snprintf(outdir, sizeof outdir, "%s/run", dir);
    snprintf(name, sizeof name, "failover-%d", (int)getpid());
    FILE *f = fopen(ini, "w");
    if (!f) {
        perror("distlab-failover: config");
        return 2;
    }
    int duration_ms = 1500 + o.trials * o.every_ms + 1500;
    fprintf(f,
            "[cluster]\nname = %s\nnodes = %d\nalgorithm = raft\nduration = %dms\nseed = %d\n"
            "[workload]\nclients = 1\nrequests = 1000000\nrate = 20\n"
            "[raft]\nelection_timeout_min = %dms\nelection_timeout_max = %dms\n"
            "heartbeat = %dms\n"
            "[supervisor]\nrestart = on-crash\nrestart_delay = 200ms\n",
            name, o.nodes, duration_ms, (int)getpid(), o.min_ms, o.max_ms, o.heartbeat_ms);
    if (!o.external)
        fprintf(f,
                "[fault.1]\nat = 1500ms\naction = kill\ntarget = leader\nevery = %dms\n"
                "count = %d\n",
                o.every_ms, o.trials);
    fclose(f);
    printf("raft, %d nodes, election timeout %d-%d ms, heartbeat %d ms: %d kills of the leader "
           "(%s), one every %d ms\n",
           o.nodes, o.min_ms, o.max_ms, o.heartbeat_ms, o.trials,
           o.external ? "kill -9 from outside" : "SIGKILL by a scheduled fault", o.every_ms);
    fflush(stdout);
    int status = 0;
    if (o.from[0]) {
        snprintf(outdir, sizeof outdir, "%s", o.from);
        goto read;
    }
    pid_t run = fork();
    if (run == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        execl(o.exe, "distlab", "run", ini, "--out", outdir, "--quiet", (char *)NULL);
        _exit(127);
    }
    if (run < 0) {
        perror("distlab-failover: fork");
        return 2;
    }
    if (o.external && kill_leaders(&o, name, run) < 0)
        kill(run, SIGTERM);
    while (waitpid(run, &status, 0) < 0 && errno == EINTR) {
    }
read:;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/report.json", outdir);
    json_error_t je;
    json_t *rep = json_load_file(path, 0, &je);
    if (!rep) {
        fprintf(stderr, "distlab-failover: no report (%s; run exit status %d); the run is in %s\n",
                je.text, WIFEXITED(status) ? WEXITSTATUS(status) : -1, dir);
        return 1;
    }
    const char *want = o.external ? "crash" : "kill";
    struct trace_view tv = {NULL};
    if (load_trace(o.exe, outdir, dir, &tv) < 0)
        fprintf(stderr, "distlab-failover: could not read the run's trace: no breakdown\n");
    double v[1000], heard[1000], tmo[1000], elect[1000];
    int nv = 0, rounds = 0, none = 0, nparts = 0;
    size_t i;
    json_t *fo;
    json_array_foreach(json_object_get(rep, "failovers"), i, fo)
    {
        const char *kind = json_string_value(json_object_get(fo, "kind"));
        if (!kind || strcmp(kind, want) != 0)
            continue;
        const json_t *ms = json_object_get(fo, "failover_ms");
        json_int_t term = json_integer_value(json_object_get(fo, "term"));
        if (!json_is_number(ms)) {
            none++;
            printf("  kill %2d at %9.3f ms: leader node %lld (term %lld), no new leader\n",
                   nv + none, json_number_value(json_object_get(fo, "at_ms")),
                   (long long)json_integer_value(json_object_get(fo, "node")), (long long)term);
            continue;
        }
        json_int_t nterm = json_integer_value(json_object_get(fo, "new_term"));
        if (nterm > term + 1)
            rounds++;
        if (nv < 1000)
            v[nv++] = json_number_value(ms);
        printf("  kill %2d at %9.3f ms: leader node %lld (term %lld) -> node %lld leads term "
               "%lld after %7.3f ms%s\n",
               nv + none, json_number_value(json_object_get(fo, "at_ms")),
               (long long)json_integer_value(json_object_get(fo, "node")), (long long)term,
               (long long)json_integer_value(json_object_get(fo, "new_leader")), (long long)nterm,
               json_number_value(ms), nterm > term + 1 ? " (more than one election round)" : "");
        if (tv.lines) {
            int64_t kill_us =
                (int64_t)(json_number_value(json_object_get(fo, "at_ms")) * 1e3 + 0.5);
            int64_t el_us =
                (int64_t)(json_number_value(json_object_get(fo, "elected_at_ms")) * 1e3 + 0.5);
            struct parts pt = breakdown(&tv, (int)json_integer_value(json_object_get(fo, "node")),
                                        (int)json_integer_value(json_object_get(fo, "new_leader")),
                                        kill_us, el_us);
            if (pt.since_heard >= 0 && pt.timeout >= 0 && pt.election >= 0 && nparts < 1000) {
                heard[nparts] = (double)pt.since_heard / 1e3;
                tmo[nparts] = (double)pt.timeout / 1e3;
                elect[nparts++] = (double)pt.election / 1e3;
                printf("           node %lld last heard from node %lld %.3f ms before the kill, "
                       "stood %.3f ms after that, won %.3f ms later\n",
                       (long long)json_integer_value(json_object_get(fo, "new_leader")),
                       (long long)json_integer_value(json_object_get(fo, "node")),
                       heard[nparts - 1], tmo[nparts - 1], elect[nparts - 1]);
            }
        }
    }
    json_decref(tv.lines);
    const char *verdict = json_string_value(json_object_get(rep, "verdict"));
    if (nv > 0) {
        qsort(v, (size_t)nv, sizeof *v, cmp_double);
        double med = nv % 2 ? v[nv / 2] : (v[nv / 2 - 1] + v[nv / 2]) / 2;
        printf("failover over %d kill%s: median %.3f ms, max %.3f ms, min %.3f ms; %d needed more "
               "than one election round%s\n",
               nv, nv == 1 ? "" : "s", med, v[nv - 1], v[0], rounds,
               o.external ? " (from the supervisor's crash record)" : "");
        printf("reference: median <= 160 ms, max <= 300 ms (etcd, 3 members: 164 ms median, "
               "298 ms max)\n");
    }
    if (nparts > 0) {
        /* failover = timeout - time since heard + election, kill by kill. */
        qsort(heard, (size_t)nparts, sizeof *heard, cmp_double);
        qsort(tmo, (size_t)nparts, sizeof *tmo, cmp_double);
        qsort(elect, (size_t)nparts, sizeof *elect, cmp_double);
        printf("medians: the new leader last heard from the old one %.3f ms before the kill, "
               "stood %.3f ms after that (its election timeout: %d-%d ms), and won %.3f ms "
               "later\n",
               heard[nparts / 2], tmo[nparts / 2], o.min_ms, o.max_ms, elect[nparts / 2]);
    }
    if (nv + none < o.trials)
        printf("only %d of %d kills found a leader to kill (see %s/report.txt)\n", nv + none,
               o.trials, outdir);
    printf("run verdict: %s\n", verdict ? verdict : "?");
    json_decref(rep);
    if (o.keep) {
        printf("run directory kept: %s\n", outdir);
    } else {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "distlab-failover: could not remove %s\n", dir);
    }
    return nv > 0 && none == 0 ? 0 : 1;
}
