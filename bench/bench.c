/* distlab-bench: distlab's centralized mutex against a raw POSIX-queue
 * baseline of the same shape, measured in the same run.
 *
 * Baseline: one coordinator process and C client processes doing
 * request -> grant -> release directly over message queues with blocking
 * calls, cs_time 0, no tracing, no checks: the floor of what the machine
 * can do. distlab: `distlab run` with the centralized algorithm, the same
 * shape, cs_time = think_time = 0, full tracing and the critical resource.
 * Each is run `--reps` times; the median is reported, with the ratio.
 *
 *   bench/distlab-bench [--seconds S] [--reps R] [--clients C] [--distlab PATH] [--all]
 *
 * --all adds every algorithm at N = 5 and N = 17 with cs_time 0: CS/s (and
 * its ratio to the raw baseline of the same run), messages per CS and
 * response-time p50/p99.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <mqueue.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench/beside.h"

#include "ipc/util.h"

#define MAX_CLIENTS 64

struct shared {
    _Atomic int stop;
    _Atomic long entries;
};

enum { B_REQ = 1, B_GRANT, B_RELEASE };
struct bmsg {
    int type, from;
};

static void qname(char *buf, size_t cap, int k)
{
    snprintf(buf, cap, "/distlab-bench.%d.%d", (int)getpid(), k);
}

static mqd_t qopen(int owner_pid, int k, int flags)
{
    char name[64];
    snprintf(name, sizeof name, "/distlab-bench.%d.%d", owner_pid, k);
    return mq_open(name, flags);
}

static void coordinator(int owner, int clients, struct shared *sh)
{
    mqd_t in = qopen(owner, 0, O_RDONLY);
    mqd_t out[MAX_CLIENTS + 1];
    for (int k = 1; k <= clients; k++)
        out[k] = qopen(owner, k, O_WRONLY);
    int fifo[MAX_CLIENTS + 1], head = 0, len = 0, holder = 0;
    struct bmsg m;
    while (mq_receive(in, (char *)&m, sizeof m, NULL) >= 0) {
        if (m.type == B_REQ) {
            if (!holder) {
                holder = m.from;
                struct bmsg g = {B_GRANT, 0};
                mq_send(out[holder], (char *)&g, sizeof g, 0);
            } else {
                fifo[(head + len++) % (MAX_CLIENTS + 1)] = m.from;
            }
        } else if (m.type == B_RELEASE) {
            holder = 0;
            if (len) {
                holder = fifo[head];
                head = (head + 1) % (MAX_CLIENTS + 1);
                len--;
                struct bmsg g = {B_GRANT, 0};
                mq_send(out[holder], (char *)&g, sizeof g, 0);
            }
        } else {
            break; /* B_RELEASE with from < 0: the end */
        }
    }
    (void)sh;
    _exit(0);
}

static void client(int owner, int k, struct shared *sh)
{
    mqd_t coord = qopen(owner, 0, O_WRONLY);
    mqd_t in = qopen(owner, k, O_RDONLY);
    long mine = 0;
    struct bmsg m;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        struct bmsg r = {B_REQ, k};
        mq_send(coord, (char *)&r, sizeof r, 0);
        if (mq_receive(in, (char *)&m, sizeof m, NULL) < 0)
            break;
        mine++; /* in the critical section: cs_time 0 */
        struct bmsg rel = {B_RELEASE, k};
        mq_send(coord, (char *)&rel, sizeof rel, 0);
    }
    atomic_fetch_add(&sh->entries, mine);
    _exit(0);
}

/* Critical sections per second of the raw baseline. */
static double raw_baseline(int clients, double seconds)
{
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return -1;
    atomic_store(&sh->stop, 0);
    atomic_store(&sh->entries, 0);
    struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = sizeof(struct bmsg)};
    for (int k = 0; k <= clients; k++) {
        char name[64];
        qname(name, sizeof name, k);
        mq_unlink(name);
        mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
        if (q == (mqd_t)-1) {
            perror("mq_open");
            return -1;
        }
        mq_close(q);
    }
    int owner = (int)getpid();
    pid_t pids[MAX_CLIENTS + 1];
    pids[0] = fork();
    if (pids[0] == 0)
        coordinator(owner, clients, sh);
    int64_t t0 = dl_mono_us();
    for (int k = 1; k <= clients; k++) {
        pids[k] = fork();
        if (pids[k] == 0)
            client(owner, k, sh);
    }
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL); /* the measurement window */
    atomic_store(&sh->stop, 1);
    for (int k = 1; k <= clients; k++)
        waitpid(pids[k], NULL, 0);
    int64_t t1 = dl_mono_us();
    mqd_t coord = qopen(owner, 0, O_WRONLY);
    struct bmsg end = {0, -1};
    mq_send(coord, (char *)&end, sizeof end, 0);
    mq_close(coord);
    waitpid(pids[0], NULL, 0);
    for (int k = 0; k <= clients; k++) {
        char name[64];
        qname(name, sizeof name, k);
        mq_unlink(name);
    }
    double rate = (double)atomic_load(&sh->entries) / ((double)(t1 - t0) / 1e6);
    munmap(sh, sizeof *sh);
    return rate;
}

struct dl_figures {
    double cs_per_s, msgs_per_cs, p50_ms, p99_ms;
};

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

/* One `distlab run` of algorithm with n nodes, cs_time 0: its figures. */
static int distlab_figures(const char *exe, const char *algorithm, int n, double seconds,
                           struct dl_figures *out)
{
    char dir[] = "/tmp/distlab-bench.XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    char ini[PATH_MAX], outdir[PATH_MAX + 8];
    snprintf(ini, sizeof ini, "%s/bench.ini", dir);
    snprintf(outdir, sizeof outdir, "%s/run", dir);
    FILE *f = fopen(ini, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[cluster]\nname = bench\nnodes = %d\nalgorithm = %s\nduration = %dms\n"
            "seed = 1\n[workload]\nrequests = 1000000000\ncs_time = 0\nthink_time = 0\n",
            n, algorithm, (int)(seconds * 1000));
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        execl(exe, "distlab", "run", ini, "--out", outdir, "--quiet", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    char rep[PATH_MAX + 32];
    snprintf(rep, sizeof rep, "%s/report.json", outdir);
    json_error_t je;
    json_t *j = json_load_file(rep, 0, &je);
    int rc = -1;
    if (j) {
        out->cs_per_s = num(j, "throughput_cs_per_s");
        out->msgs_per_cs = num(j, "messages_per_cs");
        out->p50_ms = num(json_object_get(j, "response_ms"), "p50");
        out->p99_ms = num(json_object_get(j, "response_ms"), "p99");
        if (!json_is_true(json_object_get(j, "safe")))
            fprintf(stderr, "bench: the distlab run (%s, %d nodes) was not safe!\n", algorithm,
                    n);
        json_decref(j);
        rc = 0;
    } else {
        fprintf(stderr, "bench: no report from %s (exit status %d)\n", exe, status);
    }
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
    return rc;
}

/* Critical sections per second of `distlab run`, centralized. */
static double distlab_run(const char *exe, int clients, double seconds)
{
    struct dl_figures fig;
    return distlab_figures(exe, "centralized", clients + 1, seconds, &fig) < 0 ? -1
                                                                                : fig.cs_per_s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    int reps = 3, clients = 4, all = 0;
    char exe[PATH_MAX] = "";
    static const struct option opts[] = {
        {"seconds", required_argument, NULL, 's'}, {"reps", required_argument, NULL, 'r'},
        {"clients", required_argument, NULL, 'c'}, {"distlab", required_argument, NULL, 'd'},
        {"all", no_argument, NULL, 'a'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:r:c:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': seconds = atof(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'c': clients = atoi(optarg); break;
        case 'd': snprintf(exe, sizeof exe, "%s", optarg); break;
        case 'a': all = 1; break;
        default:
            printf("usage: distlab-bench [--seconds S] [--reps R] [--clients C] "
                   "[--distlab PATH] [--all]\n"
                   "  --all  also every algorithm at N = 5 and N = 17 (cs_time 0)\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (seconds <= 0 || reps < 1 || reps > 99 || clients < 1 || clients > MAX_CLIENTS) {
        fprintf(stderr, "distlab-bench: bad arguments\n");
        return 2;
    }
    if (!exe[0]) {
        /* The distlab built beside this benchmark (bench/..). */
        if (bench_distlab_beside(exe, sizeof exe) < 0)
            return 2;
    }
    printf("centralized mutex, 1 coordinator + %d clients, cs_time 0, %.1fs x %d runs each\n",
           clients, seconds, reps);
    double raw[99], dl[99];
    for (int i = 0; i < reps; i++) {
        /* Interleaved, so drift on a shared machine hits both alike. */
        raw[i] = raw_baseline(clients, seconds);
        dl[i] = distlab_run(exe, clients, seconds);
        printf("  run %d: raw %.0f CS/s, distlab %.0f CS/s\n", i + 1, raw[i], dl[i]);
        fflush(stdout);
    }
    double r = median(raw, reps), d = median(dl, reps);
    printf("raw POSIX-queue baseline: %10.0f CS/s (median)\n", r);
    printf("distlab centralized:      %10.0f CS/s (median)\n", d);
    printf("ratio distlab/raw:        %10.2f  (target >= 0.50)\n", r > 0 ? d / r : 0.0);
    if (all) {
        static const char *const algs[] = {"centralized", "ricart_agrawala", "token_ring",
                                           "two_level_ring"};
        static const int sizes[] = {5, 17};
        printf("\nevery algorithm, cs_time 0, think_time 0, %.1fs each; raw baseline above = %.0f "
               "CS/s\n",
               seconds, r);
        printf("%-16s %3s %10s %8s %10s %9s %9s\n", "algorithm", "N", "CS/s", "vs raw",
               "msgs/CS", "p50 ms", "p99 ms");
        for (size_t a = 0; a < sizeof algs / sizeof *algs; a++)
            for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
                struct dl_figures fig;
                if (distlab_figures(exe, algs[a], sizes[k], seconds, &fig) < 0) {
                    printf("%-16s %3d %10s\n", algs[a], sizes[k], "failed");
                    continue;
                }
                printf("%-16s %3d %10.0f %8.2f %10.2f %9.3f %9.3f\n", algs[a], sizes[k],
                       fig.cs_per_s, r > 0 ? fig.cs_per_s / r : 0.0, fig.msgs_per_cs,
                       fig.p50_ms, fig.p99_ms);
                fflush(stdout);
            }
    }
    return d > 0 && r > 0 ? 0 : 1;
}
