/* distlab-kvbench: distlab's replicated key-value service beside an etcd
 * cluster on loopback and the raw replicated commit, in the same run, with
 * the same client pattern.
 *
 * For each cluster size N (3 and 5 by default):
 *   1. one sequential client, fsync on: commits/s, latency p50/p99;
 *   2. C concurrent clients (16), fsync off, each with K operations in
 *      flight for each K of --pipeline (8 and 64): commits/s; a system's
 *      peak is its best K. distlab's peak is measured again with every
 *      message traced, for what tracing costs;
 *   3. offered load from 1x to 10x that peak: L clients (by default the C
 *      of row 2, with the K of the system's peak) each paced at level x
 *      peak / L operations per second (a sequential client submits no
 *      sooner than 1/rate after its previous submission, and never before
 *      its previous operation is answered; a pipelining one keeps to a
 *      schedule of one every 1/rate and catches up when behind, its window
 *      permitting, as distlab's clients do); the throughput (a good system
 *      stays within 10% of its peak), the leader's peak resident set
 *      (VmHWM, which counts the pages of distlab's mapped trace) and its
 *      anonymous memory (RssAnon: the heap).
 * Every measurement of the sequential and concurrent rows submits the same
 * number of operations (--ops) to both systems; the peak and load rows
 * submit enough to last --seconds (5) at the system's peak, --ops at least;
 * the value of operation i of client K is "c<K>-<i>", the bytes distlab's
 * clients submit as their commands. etcd stores it under the key "c<K>".
 *
 * One measurement of a row swings by 10-40% on a shared machine (a
 * neighbour's burst on the disk or the CPUs), so the sequential, peak and
 * load rows are measured --repeat times (3) and the table shows the median
 * one, with every measurement listed under it; memory figures are the
 * highest of all. The sequential row goes in rounds (raw baseline,
 * distlab, etcd; etcd is started for its turn and stopped after it), so
 * that a slow spell falls on all three alike, and the ratios of each round
 * are listed too. The load rows go in rounds of every level.
 *
 * distlab: `distlab run` of a generated configuration (algorithm raft, no
 * faults) with --set overrides, then its report.json (commit_latency_ms)
 * and its trace. The runs record `[trace] record = clients,log` by default
 * (--trace-record): what the verdict needs - the client history for the
 * linearizability check, applies and commits for Raft's properties - and
 * not every message, which etcd has no counterpart of; the peak is
 * measured once more with `record = all`. Throughput, for both systems, is
 * acknowledgments per second from the first acknowledgment to the last:
 * distlab's clients start before the first election is over, and etcd's
 * after it. The leader's VmHWM and RssAnon are sampled while the run lasts
 * (`distlab pid RUN --leader`).
 * --distlab-set KEY=VALUE passes more --set options to every run (after the
 * benchmark's own, so they win), e.g. --distlab-set workload.keys=10.
 *
 * etcd: N members on 127.0.0.1 (free ports, data directories in a fresh
 * temporary directory), with --unsafe-no-fsync for "fsync off" when this
 * etcd has it (checked with `etcd --unsafe-no-fsync --version`; if not, the
 * output says those figures are with fsync). Clients are threads, each with
 * one connection to the leader (found with /v3/maintenance/status) and one
 * call at a time on it: gRPC KV/Put over cleartext HTTP/2 (bench/grpc.c),
 * etcd's own protocol, or with --etcd-http POST /v3/kv/put through
 * the JSON gateway on an HTTP/1.1 keep-alive connection.
 * Every member is stopped (SIGTERM, SIGKILL after 10 s) and its data removed
 * at the end, on errors and on SIGINT/SIGTERM. Without an etcd binary the
 * etcd columns say so and distlab is measured alone.
 *
 * --pipeline K[,K...]: every client of the concurrent and load rows keeps
 * up to K operations in flight (the sequential row stays one operation at
 * a time); the concurrent row is measured for each K, on both systems, so
 * that each is compared at its own best.
 * distlab's clients get `[workload] pipeline = K` (their commands and
 * answers then travel K at a time in one message where they can); each
 * etcd client becomes K threads, each with its own connection and one
 * request in flight, sharing the client's operations, key and pace (1/K
 * of its rate each): K puts in flight per client on both sides.
 *
 * Raw baseline: the bare replicated commit (bench/beside.h), one
 * sequential client, N - 1 follower processes, with and without fdatasync;
 * with fdatasync also with the operations coming from a client process of
 * its own (two more queue hops per operation), the floor of any system
 * whose clients are processes, as distlab's are; and (N >= 3) with a
 * client process and a lazy leader, which syncs its own copy every 5 ms
 * and commits on the followers' copies alone, as distlab's leader does
 * when its followers make a majority by themselves.
 *
 * distlab runs and the baseline create POSIX message queues. Either run the
 * whole benchmark under the machine's IPC lock (flock LOCKFILE
 * bench/distlab-kvbench) or name the lock file in DISTLAB_BENCH_LOCK: the
 * benchmark then takes it (flock(2)) for each distlab run and baseline only,
 * not while etcd is measured. Not both: the lock is not recursive.
 *
 *   bench/distlab-kvbench [--quick] [--nodes 3,5] [--ops N] [--seq-ops N]
 *       [--clients C] [--load-clients L] [--levels 1,2,5,10]
 *       [--pipeline K,...] [--seconds S] [--repeat R] [--sequential-only]
 *       [--trace-record LIST]
 *       [--distlab PATH]
 *       [--etcd PATH] [--no-etcd] [--etcd-http] [--distlab-set KEY=VALUE]...
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>

#include "bench/beside.h"
#include "bench/grpc.h"

#define MAX_NODES    9
#define MAX_CLIENTS  64 /* distlab's [workload] clients limit */
#define MAX_LEVELS   10
#define MAX_SETS     32
#define MAX_PIPELINE 64 /* distlab's [workload] pipeline limit */
#define MAX_PIPES    4  /* depths in one --pipeline list */
#define MAX_REPEAT   9  /* --repeat */

struct opts {
    int nodes[4], nnodes;
    long ops, seq_ops;
    int clients, load_clients;
    int pipes[MAX_PIPES], npipes; /* operations in flight per client (concurrent rows) */
    const char *record;           /* distlab's [trace] record */
    double seconds;               /* the peak and load rows last at least this long */
    int repeat;                   /* measurements of the sequential, peak and load rows */
    bool seq_only;                /* --sequential-only */
    double levels[MAX_LEVELS];
    int nlevels;
    bool no_etcd;
    bool etcd_http; /* --etcd-http: etcd's JSON gateway instead of gRPC */
    char exe[PATH_MAX], etcd[PATH_MAX];
    const char *sets[MAX_SETS];
    int nsets;
    const char *lock;   /* DISTLAB_BENCH_LOCK, or NULL */
    char tmp[PATH_MAX]; /* this run's temporary directory */
};

/* One measurement of either system. */
struct result {
    bool ok;
    long acked, failed;
    double ops_per_s, p50_ms, p99_ms;
    long hwm_kib;              /* the leader's VmHWM, -1 if unknown */
    long anon_kib;             /* its RssAnon: distlab's highest sample, etcd's at the end */
    bool unsafe;               /* distlab's check failed */
    bool unverified;           /* its check found no violation but could not judge all */
    double trace_bytes_per_op; /* distlab's, 0 if unknown */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal cuts it short: callers check interrupted */
}

static int lock_take(const struct opts *o)
{
    if (!o->lock)
        return -1;
    int fd = open(o->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        fprintf(stderr, "kvbench: %s: %s\n", o->lock, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) < 0 && errno == EINTR && !interrupted) {
    }
    return fd;
}

static void lock_drop(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the only descriptor releases the lock */
}

/* fork + exec argv with stdout to out_fd (-1: /dev/null) and stderr to
 * err_path (NULL: /dev/null). */
static pid_t spawn(char *const argv[], int out_fd, const char *err_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int devnull = open("/dev/null", O_RDWR);
    int err = err_path ? open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600) : devnull;
    dup2(devnull, STDIN_FILENO);
    dup2(out_fd >= 0 ? out_fd : devnull, STDOUT_FILENO);
    dup2(err >= 0 ? err : devnull, STDERR_FILENO);
    execv(argv[0], argv);
    _exit(127);
}

/* argv's stdout into out (cap bytes), its exit status, or -1. */
static int capture(char *const argv[], char *out, size_t cap)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = spawn(argv, fds[1], NULL);
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fds[0], out + len, cap - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
    }
    out[len] = '\0';
    close(fds[0]);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---------------------------------------------------------------- distlab */

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

/* Acknowledgments in a run's trace (`distlab trace`: one JSON object per
 * line, client operations answered with "ev":"ok"): how many, and the
 * times of the first and the last. */
static int trace_acks(const struct opts *o, const char *rundir, long *acks, int64_t *first,
                      int64_t *last)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    char *argv[] = {(char *)o->exe, "trace", (char *)rundir, NULL};
    pid_t pid = spawn(argv, fds[1], NULL);
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    if (!f) {
        close(fds[0]);
        return -1;
    }
    *acks = 0;
    *first = INT64_MAX;
    *last = INT64_MIN;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"ev\":\"ok\""))
            continue;
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            continue;
        if (json_object_get(j, "client") && json_is_integer(json_object_get(j, "t_us"))) {
            int64_t t = (int64_t)json_integer_value(json_object_get(j, "t_us"));
            (*acks)++;
            *first = t < *first ? t : *first;
            *last = t > *last ? t : *last;
        }
        json_decref(j);
    }
    fclose(f);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        return -1;
    return 0;
}

/* The pid of the run's leader, 0 if none now. */
static pid_t distlab_leader_pid(const struct opts *o, const char *run)
{
    char out[64];
    char *argv[] = {(char *)o->exe, "pid", (char *)run, "--leader", NULL};
    if (capture(argv, out, sizeof out) != 0)
        return 0;
    return (pid_t)atol(out);
}

/* One `distlab run`: nodes, clients each at rate (0: as fast as it can)
 * with pipeline operations in flight, ops operations in total, fsync on or
 * off. */
static int distlab_measure(const struct opts *o, int nodes, int clients, int pipeline, double rate,
                           long ops, bool fsync, const char *record, struct result *r)
{
    static int serial;
    memset(r, 0, sizeof *r);
    r->hwm_kib = r->anon_kib = -1;
    if (interrupted)
        return -1;
    char dir[PATH_MAX], ini[PATH_MAX + 16], rundir[PATH_MAX + 16], errlog[PATH_MAX + 16];
    char name[64];
    snprintf(dir, sizeof dir, "%.3000s/distlab-%d", o->tmp, ++serial);
    snprintf(ini, sizeof ini, "%s/kv.ini", dir);
    snprintf(rundir, sizeof rundir, "%s/run", dir);
    snprintf(errlog, sizeof errlog, "%s/stderr", dir);
    /* The run's name is how `distlab pid` finds it: unique per benchmark. */
    snprintf(name, sizeof name, "kvbench-%d", (int)getpid());
    if (mkdir(dir, 0700) < 0)
        return -1;
    FILE *f = fopen(ini, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[cluster]\nname = %s\nnodes = %d\nalgorithm = raft\nduration = 120s\nseed = 1\n"
            "[workload]\nclients = %d\nrequests = %ld\nrate = %.3f\n",
            name, nodes, clients, ops, rate);
    if (pipeline > 1) /* (an older distlab knows no such key: only when asked) */
        fprintf(f, "pipeline = %d\n", pipeline);
    fprintf(f, "[raft]\nfsync = %s\n[trace]\nrecord = %s\n", fsync ? "true" : "false", record);
    fclose(f);

    char *argv[8 + 2 * MAX_SETS];
    int a = 0;
    argv[a++] = (char *)o->exe;
    argv[a++] = "run";
    argv[a++] = ini;
    for (int i = 0; i < o->nsets; i++) {
        argv[a++] = "--set";
        argv[a++] = (char *)o->sets[i];
    }
    argv[a++] = "--out";
    argv[a++] = rundir;
    argv[a++] = "--quiet";
    argv[a] = NULL;

    int lk = lock_take(o);
    pid_t pid = spawn(argv, -1, errlog);
    if (pid < 0) {
        lock_drop(lk);
        return -1;
    }
    /* While it runs: the leader's VmHWM, sampled. A node's VmHWM only grows,
     * so the last sample of the last leader is its peak but for the last
     * tens of milliseconds. */
    pid_t leader = 0;
    int status = 0, tick = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        if (interrupted)
            kill(pid, SIGINT);
        if (tick++ % 4 == 0) {
            pid_t l = distlab_leader_pid(o, name);
            if (l > 0)
                leader = l;
        }
        if (leader > 0) {
            long kib = bench_vmhwm_kib(leader);
            if (kib > 0)
                r->hwm_kib = kib;
            kib = bench_status_kib(leader, "RssAnon");
            if (kib > r->anon_kib)
                r->anon_kib = kib;
        }
        sleep_ms(50);
    }
    lock_drop(lk);

    char rep[PATH_MAX + 32];
    snprintf(rep, sizeof rep, "%s/report.json", rundir);
    json_t *j = json_load_file(rep, 0, NULL);
    if (!j) {
        fprintf(stderr, "kvbench: distlab run (exit status %d) left no report; its errors:\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        char *cat[] = {"/bin/cat", errlog, NULL};
        pid_t c = spawn(cat, STDERR_FILENO, NULL);
        if (c > 0)
            waitpid(c, NULL, 0);
        return -1;
    }
    const json_t *lat = json_object_get(j, "commit_latency_ms");
    r->p50_ms = num(lat, "p50");
    r->p99_ms = num(lat, "p99");
    const json_t *opsj = json_object_get(j, "ops");
    r->failed = (long)(num(opsj, "failed") + num(opsj, "timeout"));
    r->unsafe = !json_is_true(json_object_get(j, "safe"));
    if (r->unsafe && num(j, "violations") == 0) {
        /* Incomplete evidence (the linearizability search gave up on a
         * key with many concurrent operations): not a violation. */
        r->unsafe = false;
        r->unverified = true;
    }
    double report_rate = num(j, "throughput_ops_per_s");
    r->trace_bytes_per_op = num(j, "trace_bytes_per_op");
    /* Per-operation figures of a key-value workload, when the report has
     * them: shown as they are. */
    char *client_ops = json_object_get(j, "client_ops")
                           ? json_dumps(json_object_get(j, "client_ops"), JSON_COMPACT)
                           : NULL;
    json_decref(j);

    long acks;
    int64_t first, last;
    if (trace_acks(o, rundir, &acks, &first, &last) == 0 && acks > 1 && last > first) {
        r->acked = acks;
        r->ops_per_s = (double)(acks - 1) * 1e6 / (double)(last - first);
    } else {
        fprintf(stderr, "kvbench: no acknowledgments in the trace; the report's figure\n");
        r->ops_per_s = report_rate;
    }
    r->ok = r->ops_per_s > 0;
    fprintf(stderr,
            "  distlab N=%d clients=%d pipeline=%d rate=%.1f/s fsync=%d record=%s: %.0f ops/s "
            "(report: %.0f, from the first submission), p50 %.3f p99 %.3f ms, leader VmHWM %ld "
            "KiB, trace %.0f bytes/op, %ld failed%s%s%s\n",
            nodes, clients, pipeline, rate, fsync, record, r->ops_per_s, report_rate, r->p50_ms,
            r->p99_ms, r->hwm_kib, r->trace_bytes_per_op, r->failed,
            client_ops ? ", client_ops " : "", client_ops ? client_ops : "",
            r->unverified ? " (check: not all judged)" : "");
    free(client_ops);
    if (r->unsafe)
        fprintf(stderr, "kvbench: the distlab run (%d nodes) was not safe, see `distlab check`\n",
                nodes);
    bench_rmtree(dir);
    return r->ok ? 0 : -1;
}

/* ------------------------------------------------------------------- etcd */

struct conn {
    int fd, port;
    char buf[16384];
};

static int conn_open(struct conn *c, int port)
{
    c->port = port;
    c->fd = bench_loopback_connect(port);
    return c->fd < 0 ? -1 : 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* One request on a keep-alive connection (opened if it is not): the
 * response's status, its body in c->buf (NUL-terminated), or -1. */
static int http(struct conn *c, const char *method, const char *path, const char *body)
{
    if (c->fd < 0 && conn_open(c, c->port) < 0)
        return -1;
    char req[2048];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, c->port, blen, body ? body : "");
    if (n < 0 || (size_t)n >= sizeof req)
        return -1;
    for (int off = 0; off < n;) {
        ssize_t w = send(c->fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto broken;
        off += (int)w;
    }
    size_t len = 0;
    char *head_end = NULL;
    while (!head_end) {
        ssize_t got = recv(c->fd, c->buf + len, sizeof c->buf - 1 - len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            goto broken;
        len += (size_t)got;
        c->buf[len] = '\0';
        head_end = strstr(c->buf, "\r\n\r\n");
        if (!head_end && len + 1 >= sizeof c->buf)
            goto broken;
    }
    int status = 0;
    if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
        goto broken;
    *head_end = '\0';
    const char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (!cl) /* the gateway always sends one; chunked bodies are not read here */
        goto broken;
    size_t want = (size_t)strtoul(cl + 17, NULL, 10);
    size_t head = (size_t)(head_end - c->buf) + 4;
    if (head + want + 1 > sizeof c->buf)
        goto broken;
    while (len < head + want) {
        ssize_t got = recv(c->fd, c->buf + len, head + want - len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            goto broken;
        len += (size_t)got;
    }
    memmove(c->buf, c->buf + head, want);
    c->buf[want] = '\0';
    return status;
broken:
    conn_close(c);
    return -1;
}

static void base64(const char *in, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), i = 0;
    const unsigned char *s = (const unsigned char *)in;
    for (; i + 2 < n; i += 3) {
        *out++ = tab[s[i] >> 2];
        *out++ = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        *out++ = tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
        *out++ = tab[s[i + 2] & 63];
    }
    if (i < n) {
        *out++ = tab[s[i] >> 2];
        if (i + 1 < n) {
            *out++ = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
            *out++ = tab[(s[i + 1] & 15) << 2];
        } else {
            *out++ = tab[(s[i] & 3) << 4];
            *out++ = '=';
        }
        *out++ = '=';
    }
    *out = '\0';
}

struct etcd {
    int n, leader; /* leader: 0..n-1 */
    bool http;     /* clients over the JSON gateway, not gRPC */
    pid_t pid[MAX_NODES];
    int cport[MAX_NODES], pport[MAX_NODES];
    char dir[PATH_MAX];
};

/* Every etcd started and not yet stopped, for the exit paths. */
static struct etcd *live_etcd;

/* 2n distinct free loopback ports: all bound at once, then released. */
static int free_ports(int *ports, int count)
{
    int fds[2 * MAX_NODES], rc = 0;
    for (int i = 0; i < count; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof sa;
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0 ||
            getsockname(fds[i], (struct sockaddr *)&sa, &sl) < 0)
            rc = -1;
        ports[i] = ntohs(sa.sin_port);
    }
    for (int i = 0; i < count; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

static void etcd_stop(struct etcd *e)
{
    for (int k = 0; k < e->n; k++)
        if (e->pid[k] > 0)
            kill(e->pid[k], SIGTERM);
    for (int k = 0; k < e->n; k++) {
        if (e->pid[k] <= 0)
            continue;
        int64_t deadline = bench_now_ns() + INT64_C(10000000000);
        while (waitpid(e->pid[k], NULL, WNOHANG) == 0) {
            if (bench_now_ns() > deadline) {
                kill(e->pid[k], SIGKILL);
                waitpid(e->pid[k], NULL, 0);
                break;
            }
            sleep_ms(20);
        }
        e->pid[k] = 0;
    }
    if (e->dir[0] && bench_rmtree(e->dir) < 0)
        fprintf(stderr, "kvbench: could not remove %s\n", e->dir);
    e->dir[0] = '\0';
    if (live_etcd == e)
        live_etcd = NULL;
}

/* Starts an n-member cluster, waits until every member is healthy and
 * finds the leader. */
static int etcd_start(const struct opts *o, struct etcd *e, int n, bool nofsync)
{
    static int serial;
    memset(e, 0, sizeof *e);
    e->n = n;
    e->http = o->etcd_http;
    if (interrupted)
        return -1;
    snprintf(e->dir, sizeof e->dir, "%.3000s/etcd-%d", o->tmp, ++serial);
    if (mkdir(e->dir, 0700) < 0)
        return -1;
    live_etcd = e;
    int ports[2 * MAX_NODES];
    if (free_ports(ports, 2 * n) < 0)
        return -1;
    char cluster[2048] = "";
    for (int k = 0; k < n; k++) {
        e->cport[k] = ports[2 * k];
        e->pport[k] = ports[2 * k + 1];
        size_t len = strlen(cluster);
        snprintf(cluster + len, sizeof cluster - len, "%sm%d=http://127.0.0.1:%d", k ? "," : "",
                 k + 1, e->pport[k]);
    }
    for (int k = 0; k < n; k++) {
        char name[16], data[PATH_MAX + 16], log[PATH_MAX + 16], curl[64], purl[64], token[64];
        snprintf(name, sizeof name, "m%d", k + 1);
        snprintf(data, sizeof data, "%.3000s/m%d", e->dir, k + 1);
        snprintf(log, sizeof log, "%.3000s/m%d.log", e->dir, k + 1);
        snprintf(curl, sizeof curl, "http://127.0.0.1:%d", e->cport[k]);
        snprintf(purl, sizeof purl, "http://127.0.0.1:%d", e->pport[k]);
        snprintf(token, sizeof token, "kvbench-%d-%d", (int)getpid(), serial);
        char *argv[] = {(char *)o->etcd,
                        "--name",
                        name,
                        "--data-dir",
                        data,
                        "--listen-client-urls",
                        curl,
                        "--advertise-client-urls",
                        curl,
                        "--listen-peer-urls",
                        purl,
                        "--initial-advertise-peer-urls",
                        purl,
                        "--initial-cluster",
                        cluster,
                        "--initial-cluster-state",
                        "new",
                        "--initial-cluster-token",
                        token,
                        "--logger",
                        "zap",
                        "--log-outputs",
                        "stderr",
                        "--log-level",
                        "warn",
                        nofsync ? "--unsafe-no-fsync" : NULL,
                        NULL};
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            /* Should the benchmark die without cleaning up, so do its members. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int devnull = open("/dev/null", O_RDWR);
            int lf = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(lf >= 0 ? lf : devnull, STDERR_FILENO);
            execv(argv[0], argv);
            _exit(127);
        }
        e->pid[k] = pid;
    }
    /* Healthy, then the leader: the member whose id the status names as
     * leader. */
    int64_t deadline = bench_now_ns() + INT64_C(30000000000);
    struct conn c = {.fd = -1};
    for (int k = 0; k < n; k++) {
        c.fd = -1;
        c.port = e->cport[k];
        while (http(&c, "GET", "/health", NULL) != 200 || !strstr(c.buf, "\"true\"")) {
            if (interrupted || bench_now_ns() > deadline ||
                waitpid(e->pid[k], NULL, WNOHANG) != 0) {
                fprintf(stderr, "kvbench: etcd member %d did not become healthy (see its log)\n",
                        k + 1);
                conn_close(&c);
                return -1;
            }
            conn_close(&c);
            sleep_ms(100);
        }
        conn_close(&c);
    }
    while (!interrupted && bench_now_ns() < deadline) {
        char ids[MAX_NODES][32], leader[32] = "";
        for (int k = 0; k < n; k++) {
            ids[k][0] = '\0';
            c.fd = -1;
            c.port = e->cport[k];
            if (http(&c, "POST", "/v3/maintenance/status", "{}") == 200) {
                json_t *j = json_loads(c.buf, 0, NULL);
                const char *id =
                    json_string_value(json_object_get(json_object_get(j, "header"), "member_id"));
                const char *l = json_string_value(json_object_get(j, "leader"));
                snprintf(ids[k], sizeof ids[k], "%s", id ? id : "");
                if (l && strcmp(l, "0") != 0)
                    snprintf(leader, sizeof leader, "%s", l);
                json_decref(j);
            }
            conn_close(&c);
        }
        for (int k = 0; k < n; k++)
            if (leader[0] && strcmp(ids[k], leader) == 0) {
                e->leader = k;
                return 0;
            }
        sleep_ms(100);
    }
    fprintf(stderr, "kvbench: the etcd cluster elected no leader in time\n");
    return -1;
}

struct eclient {
    int port, k;
    bool http; /* the JSON gateway, not gRPC */
    long share;
    long first_i, stride; /* its operations: first_i + 1, first_i + 1 + stride, ... */
    double rate;
    pthread_barrier_t *start;
    int64_t *lat;
    long acked, failed;
    int64_t first, last;
};

static void *eclient_run(void *arg)
{
    struct eclient *ec = arg;
    struct conn c = {.fd = -1, .port = ec->port};
    struct grpc_conn g = {.fd = -1, .port = ec->port};
    if (ec->http)
        conn_open(&c, ec->port);
    else
        grpc_open(&g, ec->port);
    pthread_barrier_wait(ec->start);
    int64_t interval = ec->rate > 0 ? (int64_t)(1e9 / ec->rate) : 0, next = bench_now_ns();
    ec->first = INT64_MAX;
    ec->last = INT64_MIN;
    char key[32], value[48], k64[48], v64[72], body[256];
    uint8_t msg[128];
    snprintf(key, sizeof key, "c%d", ec->k);
    base64(key, k64);
    for (long i = 0; i < ec->share && !interrupted; i++) {
        if (interval) {
            int64_t now = bench_now_ns();
            if (next > now) {
                struct timespec ts = {(time_t)(next / 1000000000), (long)(next % 1000000000)};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            } else {
                next = now;
            }
            next += interval;
        }
        snprintf(value, sizeof value, "c%d-%ld", ec->k, ec->first_i + i * ec->stride + 1);
        bool ok;
        int64_t t0, t1;
        if (ec->http) {
            base64(value, v64);
            snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
            t0 = bench_now_ns();
            int st = http(&c, "POST", "/v3/kv/put", body);
            t1 = bench_now_ns();
            ok = st == 200 && strstr(c.buf, "\"header\"");
        } else {
            /* A PutResponse always holds its header: never empty. */
            size_t len = grpc_etcd_put(msg, key, strlen(key), value, strlen(value));
            t0 = bench_now_ns();
            ok = grpc_unary(&g, "/etcdserverpb.KV/Put", msg, len) > 0;
            t1 = bench_now_ns();
        }
        if (ok) {
            ec->lat[ec->acked++] = t1 - t0;
            ec->first = t1 < ec->first ? t1 : ec->first;
            ec->last = t1;
        } else {
            ec->failed++;
            /* HTTP: reconnects on the next operation. gRPC: a failed call
             * leaves the connection as it is (grpc_unary closes a broken
             * one), so a refused put costs etcd no new connection. */
            conn_close(&c);
        }
    }
    conn_close(&c);
    grpc_close(&g);
    return NULL;
}

/* clients clients at rate each (0: as fast as they can), each with
 * pipeline puts in flight (pipeline threads of one request each), ops in
 * total, against the leader; the leader's VmHWM over the measurement. */
static int etcd_measure(struct etcd *e, int clients, int pipeline, double rate, long ops,
                        struct result *r)
{
    memset(r, 0, sizeof *r);
    pid_t leader = e->pid[e->leader];
    bench_vmhwm_reset(leader);
    int threads = clients * pipeline;
    struct eclient ec[MAX_CLIENTS * MAX_PIPELINE];
    pthread_t th[MAX_CLIENTS * MAX_PIPELINE];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    int started = 0;
    for (int t = 0; t < threads; t++) {
        /* Shares as distlab splits requests: the remainder to the first;
         * a client's share split among its threads the same way. */
        int k = t / pipeline, j = t % pipeline;
        long share = ops / clients + (k < ops % clients);
        ec[t] = (struct eclient){.port = e->cport[e->leader],
                                 .http = e->http,
                                 .k = k + 1,
                                 .share = share / pipeline + (j < share % pipeline),
                                 .first_i = j,
                                 .stride = pipeline,
                                 .rate = rate / pipeline,
                                 .start = &start};
        ec[t].lat = malloc((size_t)(ec[t].share + 1) * sizeof *ec[t].lat);
    }
    for (int t = 0; t < threads; t++) {
        if (!ec[t].lat || pthread_create(&th[t], NULL, eclient_run, &ec[t]) != 0)
            break;
        started++;
    }
    if (started < threads) {
        /* The barrier would never open: nothing can be measured. */
        fprintf(stderr, "kvbench: could not start %d client threads\n", threads);
        etcd_stop(e);
        exit(1);
    }
    clients = threads; /* below: per thread */
    for (int k = 0; k < clients; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&start);
    int64_t first = INT64_MAX, last = INT64_MIN;
    long n = 0;
    for (int k = 0; k < clients; k++) {
        r->acked += ec[k].acked;
        r->failed += ec[k].failed;
        if (ec[k].acked) {
            first = ec[k].first < first ? ec[k].first : first;
            last = ec[k].last > last ? ec[k].last : last;
        }
    }
    int64_t *all = malloc((size_t)(r->acked + 1) * sizeof *all);
    for (int k = 0; k < clients; k++) {
        if (all)
            for (long i = 0; i < ec[k].acked; i++)
                all[n++] = ec[k].lat[i];
        free(ec[k].lat);
    }
    if (all && n > 0) {
        qsort(all, (size_t)n, sizeof *all, cmp_i64);
        r->p50_ms = (double)all[n / 2] / 1e6;
        r->p99_ms = (double)all[(long)((double)n * 0.99)] / 1e6;
    }
    free(all);
    if (r->acked > 1 && last > first)
        r->ops_per_s = (double)(r->acked - 1) * 1e9 / (double)(last - first);
    r->hwm_kib = bench_vmhwm_kib(leader);
    r->anon_kib = bench_status_kib(leader, "RssAnon");
    r->ok = r->ops_per_s > 0;
    fprintf(stderr,
            "  etcd    N=%d clients=%d pipeline=%d rate=%.1f/s: %.0f ops/s, p50 %.3f p99 %.3f "
            "ms, leader VmHWM %ld KiB\n",
            e->n, threads / pipeline, pipeline, rate, r->ops_per_s, r->p50_ms, r->p99_ms,
            r->hwm_kib);
    if (r->failed)
        fprintf(stderr, "kvbench: etcd: %ld of %ld operations failed\n", r->failed, ops);
    return r->ok ? 0 : -1;
}

/* ------------------------------------------------------------------ table */

/* Each row measured --repeat times keeps every measurement (the *_r
 * arrays, in the order taken) and shows the median one. */
struct figures {
    int n;
    bool have_base;
    struct bench_repl base_sync, base_nosync;
    struct bench_repl base_r[MAX_REPEAT];                     /* base_sync is their median */
    int nbase;                                                /* rounds with a baseline */
    struct bench_repl base_client, base_client_r[MAX_REPEAT]; /* with a client process */
    int nbase_client;
    struct bench_repl base_lazy, base_lazy_r[MAX_REPEAT]; /* and the leader's write lazy */
    int nbase_lazy;
    struct result dl_seq, et_seq, dl_conc[MAX_PIPES], et_conc[MAX_PIPES], dl_conc_all;
    struct result dl_seq_r[MAX_REPEAT], et_seq_r[MAX_REPEAT];
    int dl_best, et_best;           /* the index in pipes of each system's peak */
    struct result dl_peak, et_peak; /* the best K again, for --seconds */
    struct result dl_peak_r[MAX_REPEAT], et_peak_r[MAX_REPEAT];
    long dl_ops, et_ops; /* operations of the peak and load rows */
    struct result dl_load[MAX_LEVELS], et_load[MAX_LEVELS];
    struct result dl_load_r[MAX_LEVELS][MAX_REPEAT], et_load_r[MAX_LEVELS][MAX_REPEAT];
    int nseq, ndl_peak, net_peak, ndl_load, net_load; /* measurements taken of each */
};

/* The median of n measurements by throughput (the lower middle one of an
 * even number; failed ones count as slowest), with the highest memory
 * figures of them all: a bound holds for every measurement, not the
 * median one. */
static struct result median_result(const struct result *r, int n)
{
    int idx[MAX_REPEAT];
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort, failed first */
        for (int j = i; j > 0; j--) {
            const struct result *a = &r[idx[j - 1]], *b = &r[idx[j]];
            double va = a->ok ? a->ops_per_s : -1, vb = b->ok ? b->ops_per_s : -1;
            if (va <= vb)
                break;
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    struct result m = r[idx[(n - 1) / 2]];
    for (int i = 0; i < n && m.ok; i++) {
        if (r[i].ok && r[i].hwm_kib > m.hwm_kib)
            m.hwm_kib = r[i].hwm_kib;
        if (r[i].ok && r[i].anon_kib > m.anon_kib)
            m.anon_kib = r[i].anon_kib;
        m.unsafe |= r[i].unsafe;
        m.unverified |= r[i].unverified;
    }
    return m;
}

/* The median of n baselines by commits/s (lower middle). */
static struct bench_repl median_repl(const struct bench_repl *b, int n)
{
    struct bench_repl s[MAX_REPEAT];
    memcpy(s, b, (size_t)n * sizeof *b);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && s[j - 1].commits_per_s > s[j].commits_per_s; j--) {
            struct bench_repl t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    return s[(n - 1) / 2];
}

static void cell(char *buf, size_t cap, const struct result *r, int what)
{
    if (!r->ok) {
        snprintf(buf, cap, "-");
        return;
    }
    switch (what) {
    case 0:
        snprintf(buf, cap, "%.0f%s", r->ops_per_s, r->unsafe ? "!" : r->unverified ? "?" : "");
        break;
    case 1: snprintf(buf, cap, "%.3f", r->p50_ms); break;
    case 2: snprintf(buf, cap, "%.3f", r->p99_ms); break;
    default: {
        long kib = what == 3 ? r->hwm_kib : r->anon_kib;
        if (kib > 0)
            snprintf(buf, cap, "%.1f", (double)kib / 1024.0);
        else
            snprintf(buf, cap, "-");
    }
    }
}

static double value(const struct result *r, int what)
{
    if (!r->ok)
        return 0;
    switch (what) {
    case 0: return r->ops_per_s;
    case 1: return r->p50_ms;
    case 2: return r->p99_ms;
    case 3: return (double)r->hwm_kib;
    default: return (double)r->anon_kib;
    }
}

static void row(const char *label, const struct result *d, const struct result *e, int what,
                const char *base)
{
    char a[32], b[32], ratio[32] = "-";
    cell(a, sizeof a, d, what);
    cell(b, sizeof b, e, what);
    double x = value(d, what), y = value(e, what);
    if (x > 0 && y > 0)
        snprintf(ratio, sizeof ratio, "%.2f", x / y);
    printf("  %-34s %12s %12s %9s   %s\n", label, a, b, ratio, base ? base : "");
}

/* "a b c" of n measurements' throughput, each as a percentage of `of`
 * when of > 0, into buf. */
static void list_of(char *buf, size_t cap, const struct result *r, int n, double of)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        int w;
        if (!r[i].ok)
            w = snprintf(buf + used, cap - used, "%s-", i ? " " : "");
        else if (of > 0)
            w = snprintf(buf + used, cap - used, "%s%.0f%%", i ? " " : "",
                         100 * r[i].ops_per_s / of);
        else
            w = snprintf(buf + used, cap - used, "%s%.0f", i ? " " : "", r[i].ops_per_s);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Append "<what>a b c" of n baselines' commits/s to buf at *used. */
static void list_repl(char *buf, size_t cap, size_t *used, const char *what,
                      const struct bench_repl *b, int n)
{
    for (int r = 0; r < n; r++) {
        int w = snprintf(buf + *used, cap - *used, "%s%.0f", r ? " " : what, b[r].commits_per_s);
        if (w > 0 && (size_t)w < cap - *used)
            *used += (size_t)w;
    }
}

/* Every measurement of a repeated row, under it: distlab's, then etcd's. */
static void repeats(const char *what, const struct result *d, int nd, const struct result *e,
                    int ne, double dof, double eof)
{
    char a[160], b[160];
    list_of(a, sizeof a, d, nd, dof);
    list_of(b, sizeof b, e, ne, eof);
    printf("      %s: distlab %s%s%s\n", what, a, ne ? "; etcd " : "", ne ? b : "");
}

static void print_table(const struct opts *o, const struct figures *fig, int nfig,
                        const char *etcd_note, bool etcd_nofsync)
{
    printf("\ndistlab-kvbench: distlab Raft KV vs etcd on loopback, same clients, same ops\n");
    printf("  ops: %ld sequential (1 client), %ld concurrent and per load level; value "
           "\"c<K>-<i>\"\n",
           o->seq_ops, o->ops);
    printf("  pipeline: K operations in flight per client in the concurrent rows (etcd: K "
           "threads per client);\n  a system's peak is its best K, and its load rows use that "
           "K\n");
    printf("  throughput: acknowledgments/s from the first to the last; latency: submit to "
           "acknowledgment\n");
    printf("  etcd: %s\n", etcd_note);
    printf("  clients: distlab's are processes of its run, etcd's threads of this program\n");
    if (!etcd_nofsync && !o->no_etcd)
        printf("  NOTE: this etcd has no --unsafe-no-fsync: its \"fsync off\" rows ran WITH "
               "fsync\n");
    printf("  raw: bare replicated commit, 1 sequential client, N-1 follower processes over "
           "POSIX queues;\n  \"with a client process\": the operations come from another "
           "process, as distlab's and etcd's do;\n  \"a lazy leader\": the leader syncs its "
           "own copy every 5 ms, commits on the followers' (as distlab's does)\n");
    if (o->repeat > 1)
        printf("  the sequential, peak and load rows: the median of %d measurements, each "
               "listed under it\n  (the sequential row in rounds of raw, distlab, etcd)\n",
               o->repeat);
    for (int i = 0; i < nfig; i++) {
        const struct figures *f = &fig[i];
        char base[128], label[96];
        printf("\nN = %d                                    distlab         etcd  "
               "dl/etcd   raw baseline\n",
               f->n);
        if (f->have_base && f->nbase_client)
            snprintf(base, sizeof base, "%.0f commits/s (fdatasync); %.0f with a client process",
                     f->base_sync.commits_per_s, f->base_client.commits_per_s);
        else if (f->have_base)
            snprintf(base, sizeof base, "%.0f commits/s (fdatasync)", f->base_sync.commits_per_s);
        else
            snprintf(base, sizeof base, "failed");
        row("1 client, fsync on: commits/s", &f->dl_seq, &f->et_seq, 0, base);
        if (f->have_base)
            snprintf(base, sizeof base, "%.3f ms; %.3f ms with a client", f->base_sync.p50_us / 1e3,
                     f->base_client.p50_us / 1e3);
        row("  latency p50 ms", &f->dl_seq, &f->et_seq, 1, f->have_base ? base : NULL);
        if (f->have_base)
            snprintf(base, sizeof base, "%.3f ms; %.3f ms with a client", f->base_sync.p99_us / 1e3,
                     f->base_client.p99_us / 1e3);
        row("  latency p99 ms", &f->dl_seq, &f->et_seq, 2, f->have_base ? base : NULL);
        if (f->nbase_lazy)
            printf("      raw with a client process and a lazy leader: %.0f commits/s, p50 %.3f "
                   "p99 %.3f ms\n",
                   f->base_lazy.commits_per_s, f->base_lazy.p50_us / 1e3,
                   f->base_lazy.p99_us / 1e3);
        if (f->nseq > 1) {
            bool et = f->et_seq_r[0].ok || f->et_seq_r[f->nseq - 1].ok;
            repeats("rounds, commits/s", f->dl_seq_r, f->nseq, f->et_seq_r, et ? f->nseq : 0, 0, 0);
            char rs[160] = "", bs[160] = "";
            size_t ru = 0, bu = 0;
            for (int r = 0; r < f->nseq; r++) {
                const struct result *d = &f->dl_seq_r[r], *e = &f->et_seq_r[r];
                int w = d->ok && e->ok ? snprintf(rs + ru, sizeof rs - ru, "%s%.2f", r ? " " : "",
                                                  d->ops_per_s / e->ops_per_s)
                                       : snprintf(rs + ru, sizeof rs - ru, "%s-", r ? " " : "");
                if (w > 0 && (size_t)w < sizeof rs - ru)
                    ru += (size_t)w;
            }
            list_repl(bs, sizeof bs, &bu, "", f->base_r, f->nbase);
            list_repl(bs, sizeof bs, &bu, "; with a client ", f->base_client_r, f->nbase_client);
            list_repl(bs, sizeof bs, &bu, "; lazy leader ", f->base_lazy_r, f->nbase_lazy);
            if (et)
                printf("      rounds, distlab/etcd: %s\n", rs);
            if (f->nbase)
                printf("      rounds, raw baseline commits/s: %s\n", bs);
        }
        if (o->seq_only)
            continue;
        if (f->have_base)
            snprintf(base, sizeof base, "%.0f commits/s (1 client, no fsync)",
                     f->base_nosync.commits_per_s);
        for (int k = 0; k < o->npipes; k++) {
            snprintf(label, sizeof label, "%d clients x%d, fsync off: ops/s", o->clients,
                     o->pipes[k]);
            row(label, &f->dl_conc[k], &f->et_conc[k], 0, k == 0 && f->have_base ? base : NULL);
        }
        const struct result *dpk = &f->dl_peak, *epk = &f->et_peak;
        if (epk->ok)
            snprintf(base, sizeof base, "distlab at x%d, etcd at x%d", o->pipes[f->dl_best],
                     o->pipes[f->et_best]);
        else
            snprintf(base, sizeof base, "distlab at x%d", o->pipes[f->dl_best]);
        snprintf(label, sizeof label, "  peak, best K, %gs or more", o->seconds);
        row(label, dpk, epk, 0, base);
        char dops[24] = "-", eops[24] = "-";
        if (dpk->ok)
            snprintf(dops, sizeof dops, "%ld", f->dl_ops);
        if (epk->ok)
            snprintf(eops, sizeof eops, "%ld", f->et_ops);
        printf("  %-34s %12s %12s\n", "    (operations)", dops, eops);
        if (f->ndl_peak > 1 || f->net_peak > 1)
            repeats("measured, ops/s", f->dl_peak_r, f->ndl_peak, f->et_peak_r, f->net_peak, 0, 0);
        if (dpk->ok && dpk->trace_bytes_per_op > 0) {
            snprintf(label, sizeof label, "  trace (%s): bytes/op", o->record);
            printf("  %-34s %12.0f\n", label, dpk->trace_bytes_per_op);
        }
        if (f->dl_conc_all.ok) {
            static const struct result none;
            snprintf(base, sizeof base, "%.0f bytes/op; %.0f%% of the peak",
                     f->dl_conc_all.trace_bytes_per_op,
                     dpk->ok ? 100 * f->dl_conc_all.ops_per_s / dpk->ops_per_s : 0);
            row("  peak, trace record = all", &f->dl_conc_all, &none, 0, base);
        }
        for (int l = 0; l < o->nlevels; l++) {
            const struct result *d = &f->dl_load[l], *e = &f->et_load[l];
            char pd[32] = "-", pe[32] = "-", note[96];
            if (d->ok && dpk->ok)
                snprintf(pd, sizeof pd, "%.0f%%", 100 * d->ops_per_s / dpk->ops_per_s);
            if (e->ok && epk->ok)
                snprintf(pe, sizeof pe, "%.0f%%", 100 * e->ops_per_s / epk->ops_per_s);
            snprintf(note, sizeof note, "of its peak: distlab %s, etcd %s", pd, pe);
            snprintf(label, sizeof label, "load %gx (%d clients): ops/s", o->levels[l],
                     o->load_clients);
            row(label, d, e, 0, note);
            if (f->ndl_load > 1 || f->net_load > 1)
                repeats("measured, of the peak", f->dl_load_r[l], f->ndl_load, f->et_load_r[l],
                        f->net_load, dpk->ok ? dpk->ops_per_s : 0, epk->ok ? epk->ops_per_s : 0);
            row("  leader VmHWM MiB", d, e, 3,
                l == 0 ? "resident peak, with the trace's mapped pages" : NULL);
            row("  leader RssAnon MiB", d, e, 4,
                l == 0 ? "heap: distlab's peak, etcd's at the end" : NULL);
            if (l == 0 && (f->ndl_load > 1 || f->net_load > 1))
                printf("      (memory: the highest of every measurement of the row)\n");
        }
    }
    printf("\n  \"!\": distlab's check failed on that run; \"?\": it found no violation but "
           "could not judge all\n  (the linearizability search gave up on a key); \"-\": not "
           "measured or failed\n");
}

/* ------------------------------------------------------------------- main */

/* Operations for the peak and load rows of a system whose best concurrent
 * row was r: --ops, or more for the rows to last --seconds at r's pace (a
 * run of a second or two is at the mercy of one stall of a shared machine). */
static long run_ops(const struct opts *o, const struct result *r)
{
    double want = r->ok ? r->ops_per_s * o->seconds : 0;
    if (want > 1e8)
        want = 1e8;
    return want > (double)o->ops ? (long)want : o->ops;
}

/* The index of the highest throughput of n (0 if none was measured). */
static int best_of(const struct result *r, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (r[i].ok && (!r[best].ok || r[i].ops_per_s > r[best].ops_per_s))
            best = i;
    return best;
}

static int parse_list(const char *s, double *v, int cap)
{
    int n = 0;
    char *end;
    while (*s && n < cap) {
        v[n++] = strtod(s, &end);
        if (end == s)
            return -1;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return *s ? -1 : n; /* more than cap */
}

/* A list of at most cap whole numbers, each in lo..hi: how many, or -1. */
static int parse_ints(const char *s, int *out, int cap, int lo, int hi)
{
    double v[MAX_LEVELS];
    int n = parse_list(s, v, cap < MAX_LEVELS ? cap : MAX_LEVELS);
    for (int i = 0; i < n; i++) {
        if (!(v[i] >= lo && v[i] <= hi) || v[i] != (int)v[i])
            return -1;
        out[i] = (int)v[i];
    }
    return n;
}

/* etcd on PATH, into out. */
static bool find_in_path(const char *prog, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(out, cap, "%.*s/%s", (int)len, path, prog);
        if (len && access(out, X_OK) == 0)
            return true;
        path += len + (colon ? 1 : 0);
    }
    return false;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: distlab-kvbench [--quick] [--nodes 3,5] [--ops N] [--seq-ops N]\n"
               "           [--clients C] [--load-clients L] [--levels 1,2,5,10]\n"
               "           [--pipeline K,...] [--seconds S] [--repeat R] [--sequential-only]\n"
               "           [--trace-record LIST] [--distlab PATH] [--etcd PATH] [--no-etcd]\n"
               "           [--etcd-http]\n"
               "           [--distlab-set K=V]...\n"
               "  --quick          500 sequential and 20000 other operations, levels 1,10,\n"
               "                   each measured once\n"
               "  --load-clients L clients of the load rows, default the --clients C\n"
               "  --seconds S      the peak and load rows submit enough operations to last\n"
               "                   S s at the peak (default 5; 1 with --quick), --ops at least\n"
               "  --repeat R       the sequential, peak and load rows are measured R times\n"
               "                   (default 3) and the median shown; the sequential row\n"
               "                   in rounds of raw, distlab, etcd\n"
               "  --sequential-only only the sequential rows\n"
               "  --trace-record   distlab's [trace] record, default clients,log (what the\n"
               "                   verdict needs); distlab's peak is also run with all\n"
               "  --distlab-set    one more --set for every distlab run (repeatable)\n"
               "  --pipeline K,... K operations in flight per client in the concurrent\n"
               "                   rows, each K measured, default 8,64; the load rows use\n"
               "                   the best (distlab: [workload] pipeline; etcd: K threads\n"
               "                   and connections per client)\n"
               "  --etcd-http      etcd's clients use its JSON gateway (HTTP/1.1) instead of\n"
               "                   gRPC, etcd's own protocol (the default)\n"
               "  Run it under the IPC lock (flock FILE distlab-kvbench), or set\n"
               "  DISTLAB_BENCH_LOCK=FILE for it to take the lock around each distlab run.\n");
}

int main(int argc, char **argv)
{
    struct opts o = {.ops = 200000,
                     .seq_ops = 2000,
                     .clients = 16,
                     .load_clients = 0,
                     .pipes = {8, 64},
                     .npipes = 2,
                     .record = "clients,log",
                     .seconds = 5,
                     .repeat = 3};
    o.nodes[0] = 3;
    o.nodes[1] = 5;
    o.nnodes = 2;
    double levels[] = {1, 2, 5, 10};
    memcpy(o.levels, levels, sizeof levels);
    o.nlevels = 4;
    bool ops_set = false, seq_set = false, levels_set = false, seconds_set = false,
         repeat_set = false;
    static const struct option longopts[] = {{"quick", no_argument, NULL, 'q'},
                                             {"nodes", required_argument, NULL, 'n'},
                                             {"ops", required_argument, NULL, 'o'},
                                             {"seq-ops", required_argument, NULL, 's'},
                                             {"clients", required_argument, NULL, 'c'},
                                             {"load-clients", required_argument, NULL, 'L'},
                                             {"levels", required_argument, NULL, 'l'},
                                             {"pipeline", required_argument, NULL, 'p'},
                                             {"trace-record", required_argument, NULL, 'r'},
                                             {"seconds", required_argument, NULL, 'T'},
                                             {"repeat", required_argument, NULL, 'R'},
                                             {"sequential-only", no_argument, NULL, 'Q'},
                                             {"distlab", required_argument, NULL, 'd'},
                                             {"etcd", required_argument, NULL, 'e'},
                                             {"no-etcd", no_argument, NULL, 'E'},
                                             {"etcd-http", no_argument, NULL, 'H'},
                                             {"distlab-set", required_argument, NULL, 'S'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    bool quick = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'q': quick = true; break;
        case 'n':
            if ((o.nnodes = parse_ints(optarg, o.nodes, 4, 1, MAX_NODES)) < 1)
                goto bad;
            break;
        case 'o':
            o.ops = atol(optarg);
            ops_set = true;
            break;
        case 's':
            o.seq_ops = atol(optarg);
            seq_set = true;
            break;
        case 'c': o.clients = atoi(optarg); break;
        case 'L': o.load_clients = atoi(optarg); break;
        case 'p':
            if ((o.npipes = parse_ints(optarg, o.pipes, MAX_PIPES, 1, MAX_PIPELINE)) < 1)
                goto bad;
            break;
        case 'r': o.record = optarg; break;
        case 'T':
            o.seconds = strtod(optarg, NULL);
            seconds_set = true;
            if (!(o.seconds >= 0 && o.seconds <= 3600))
                goto bad;
            break;
        case 'Q': o.seq_only = true; break;
        case 'R':
            if (parse_ints(optarg, &o.repeat, 1, 1, MAX_REPEAT) != 1)
                goto bad;
            repeat_set = true;
            break;
        case 'l':
            o.nlevels = parse_list(optarg, o.levels, MAX_LEVELS);
            if (o.nlevels < 1)
                goto bad;
            levels_set = true;
            break;
        case 'd': snprintf(o.exe, sizeof o.exe, "%s", optarg); break;
        case 'e': snprintf(o.etcd, sizeof o.etcd, "%s", optarg); break;
        case 'E': o.no_etcd = true; break;
        case 'H': o.etcd_http = true; break;
        case 'S':
            if (o.nsets == MAX_SETS || !strchr(optarg, '='))
                goto bad;
            o.sets[o.nsets++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (quick) {
        if (!ops_set)
            o.ops = 20000;
        if (!seq_set)
            o.seq_ops = 500;
        if (!seconds_set)
            o.seconds = 1;
        if (!repeat_set)
            o.repeat = 1;
        if (!levels_set) {
            o.levels[0] = 1;
            o.levels[1] = 10;
            o.nlevels = 2;
        }
    }
    if (o.load_clients == 0)
        o.load_clients = o.clients;
    if (optind != argc || !*o.record || strpbrk(o.record, "\n[]") || o.ops < 2 || o.seq_ops < 2 ||
        o.clients < 1 || o.clients > MAX_CLIENTS || o.load_clients < 1 ||
        o.load_clients > MAX_CLIENTS)
        goto bad;
    for (int l = 0; l < o.nlevels; l++)
        if (!(o.levels[l] > 0))
            goto bad;
    if (!o.exe[0] && bench_distlab_beside(o.exe, sizeof o.exe) < 0) {
        fprintf(stderr, "kvbench: where is distlab? Use --distlab PATH\n");
        return 2;
    }
    o.lock = getenv("DISTLAB_BENCH_LOCK");
    if (o.lock && !*o.lock)
        o.lock = NULL;

    char etcd_note[256];
    bool nofsync = false;
    if (!o.no_etcd && !o.etcd[0] && !find_in_path("etcd", o.etcd, sizeof o.etcd)) {
        o.no_etcd = true;
        snprintf(etcd_note, sizeof etcd_note, "not found on PATH: skipped (--etcd PATH)");
    } else if (o.no_etcd) {
        snprintf(etcd_note, sizeof etcd_note, "skipped (--no-etcd)");
    } else {
        char out[256];
        char *ver[] = {o.etcd, "--version", NULL};
        if (capture(ver, out, sizeof out) != 0) {
            o.no_etcd = true;
            snprintf(etcd_note, sizeof etcd_note, "%.200s does not run: skipped", o.etcd);
        } else {
            char *nl = strchr(out, '\n');
            if (nl)
                *nl = '\0';
            char *probe[] = {o.etcd, "--unsafe-no-fsync", "--version", NULL};
            nofsync = capture(probe, out + 128, 128) == 0;
            snprintf(etcd_note, sizeof etcd_note, "%.100s, clients -> the leader %s", out,
                     o.etcd_http ? "over its JSON gateway, HTTP/1.1 keep-alive, POST /v3/kv/put"
                                 : "over gRPC (HTTP/2, a connection each), KV/Put");
        }
    }

    const char *tmpdir = getenv("TMPDIR");
    snprintf(o.tmp, sizeof o.tmp, "%s/distlab-kvbench.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(o.tmp)) {
        fprintf(stderr, "kvbench: mkdtemp %s: %s\n", o.tmp, strerror(errno));
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    struct figures fig[4];
    memset(fig, 0, sizeof fig);
    int nfig = 0, rc = 0;
    for (int i = 0; i < o.nnodes && !interrupted; i++) {
        struct figures *f = &fig[nfig++];
        int n = f->n = o.nodes[i];
        /* The sequential row in rounds, each of the three systems in turn,
         * so that a slow spell of the machine's disk falls on all of them
         * alike; etcd is started for its turn only, not left idling beside
         * the others. */
        int nr = 0;
        for (; nr < o.repeat && !interrupted; nr++) {
            fprintf(stderr, "kvbench: N = %d: one sequential client, round %d of %d\n", n, nr + 1,
                    o.repeat);
            if (n > 1) {
                int lk = lock_take(&o);
                long bops = o.seq_ops < 5000 ? o.seq_ops : 5000;
                if (bench_replicate(n - 1, bops, 1, o.tmp, 16, &f->base_r[f->nbase]) == 0)
                    f->nbase++;
                if (bench_replicate_client(n - 1, bops, 1, o.tmp, 16, BENCH_REPL_CLIENT,
                                           &f->base_client_r[f->nbase_client]) == 0)
                    f->nbase_client++;
                if (n > 2 && bench_replicate_client(n - 1, bops, 1, o.tmp, 16,
                                                    BENCH_REPL_CLIENT | BENCH_REPL_LAZY_LEADER,
                                                    &f->base_lazy_r[f->nbase_lazy]) == 0)
                    f->nbase_lazy++;
                if (nr == 0)
                    f->have_base = bench_replicate(n - 1, bops, 0, o.tmp, 16, &f->base_nosync) == 0;
                lock_drop(lk);
            }
            bool dl_failed =
                distlab_measure(&o, n, 1, 1, 0, o.seq_ops, true, o.record, &f->dl_seq_r[nr]) < 0;
            if (!o.no_etcd && !interrupted) {
                struct etcd e;
                if (etcd_start(&o, &e, n, false) == 0)
                    etcd_measure(&e, 1, 1, 0, o.seq_ops, &f->et_seq_r[nr]);
                else
                    rc = 1;
                etcd_stop(&e);
            }
            /* A run that failed here (a bad --distlab-set, say) fails the
             * same way again: no more of them. */
            if (dl_failed) {
                nr++;
                break;
            }
        }
        f->nseq = nr;
        f->dl_seq = median_result(f->dl_seq_r, nr);
        f->et_seq = median_result(f->et_seq_r, nr);
        f->have_base = f->have_base && f->nbase > 0;
        if (f->nbase)
            f->base_sync = median_repl(f->base_r, f->nbase);
        if (f->nbase_client)
            f->base_client = median_repl(f->base_client_r, f->nbase_client);
        if (f->nbase_lazy)
            f->base_lazy = median_repl(f->base_lazy_r, f->nbase_lazy);

        if (o.seq_only)
            continue;
        fprintf(stderr, "kvbench: N = %d: distlab\n", n);
        for (int k = 0; k < o.npipes && !interrupted && f->dl_seq.ok; k++)
            distlab_measure(&o, n, o.clients, o.pipes[k], 0, o.ops, false, o.record,
                            &f->dl_conc[k]);
        f->dl_best = best_of(f->dl_conc, o.npipes);
        int dk = o.pipes[f->dl_best];
        f->dl_ops = run_ops(&o, &f->dl_conc[f->dl_best]);
        /* The peak at the best K, --repeat times (the first is the
         * concurrent row itself when that was long enough). */
        int np = 0;
        for (; np < o.repeat && !interrupted && f->dl_conc[f->dl_best].ok; np++) {
            if (np == 0 && f->dl_ops <= o.ops)
                f->dl_peak_r[0] = f->dl_conc[f->dl_best];
            else
                distlab_measure(&o, n, o.clients, dk, 0, f->dl_ops, false, o.record,
                                &f->dl_peak_r[np]);
        }
        f->ndl_peak = np;
        f->dl_peak = median_result(f->dl_peak_r, np);
        const struct result *dpk = &f->dl_peak;
        if (!interrupted && dpk->ok && strcmp(o.record, "all") != 0)
            distlab_measure(&o, n, o.clients, dk, 0, f->dl_ops, false, "all", &f->dl_conc_all);
        /* The load rows in rounds: every level once per round. */
        int nl = 0;
        for (; nl < o.repeat && !interrupted && dpk->ok; nl++)
            for (int l = 0; l < o.nlevels && !interrupted; l++) {
                double rate = o.levels[l] * dpk->ops_per_s / o.load_clients;
                distlab_measure(&o, n, o.load_clients, dk, rate, f->dl_ops, false, o.record,
                                &f->dl_load_r[l][nl]);
            }
        f->ndl_load = nl;
        for (int l = 0; l < o.nlevels; l++)
            f->dl_load[l] = median_result(f->dl_load_r[l], nl);
        if (o.no_etcd || interrupted)
            continue;
        struct etcd e;
        fprintf(stderr, "kvbench: N = %d: etcd, %s\n", n,
                nofsync ? "--unsafe-no-fsync" : "fsync on (no --unsafe-no-fsync)");
        if (etcd_start(&o, &e, n, nofsync) == 0) {
            fprintf(stderr, "kvbench: etcd leader: member %d\n", e.leader + 1);
            for (int k = 0; k < o.npipes && !interrupted; k++)
                etcd_measure(&e, o.clients, o.pipes[k], 0, o.ops, &f->et_conc[k]);
            f->et_best = best_of(f->et_conc, o.npipes);
            int ek = o.pipes[f->et_best];
            f->et_ops = run_ops(&o, &f->et_conc[f->et_best]);
            int ep = 0;
            for (; ep < o.repeat && !interrupted && f->et_conc[f->et_best].ok; ep++) {
                if (ep == 0 && f->et_ops <= o.ops)
                    f->et_peak_r[0] = f->et_conc[f->et_best];
                else
                    etcd_measure(&e, o.clients, ek, 0, f->et_ops, &f->et_peak_r[ep]);
            }
            f->net_peak = ep;
            f->et_peak = median_result(f->et_peak_r, ep);
            const struct result *epk = &f->et_peak;
            int el = 0;
            for (; el < o.repeat && !interrupted && epk->ok; el++)
                for (int l = 0; l < o.nlevels && !interrupted; l++) {
                    double rate = o.levels[l] * epk->ops_per_s / o.load_clients;
                    etcd_measure(&e, o.load_clients, ek, rate, f->et_ops, &f->et_load_r[l][el]);
                }
            f->net_load = el;
            for (int l = 0; l < o.nlevels; l++)
                f->et_load[l] = median_result(f->et_load_r[l], el);
        } else {
            rc = 1;
        }
        etcd_stop(&e);
    }
    if (live_etcd)
        etcd_stop(live_etcd);
    bench_rmtree(o.tmp);
    print_table(&o, fig, nfig, etcd_note, nofsync);
    if (interrupted) {
        fprintf(stderr, "kvbench: interrupted\n");
        return 130;
    }
    for (int i = 0; i < nfig; i++)
        if (!fig[i].dl_seq.ok || (!o.seq_only && !fig[i].dl_peak.ok))
            rc = 1;
    return rc;
bad:
    usage(stderr);
    return 2;
}
