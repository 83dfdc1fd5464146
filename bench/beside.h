/* Shared by the benchmarks: the distlab program built beside them. */
#ifndef DL_BENCH_BESIDE_H
#define DL_BENCH_BESIDE_H

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The distlab in the directory above this program's (bench/..) into exe
 * (cap bytes). -1 if this program's own path is unknown. */
static int bench_distlab_beside(char *exe, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(exe, cap, "%.4000s/distlab", self);
    return 0;
}

/* More for the benchmarks to share. Every function is static inline so that a
 * benchmark that does not use one is not warned about it. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mqueue.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A "Field:   N kB" line of /proc/PID/status, in KiB; -1 if unknown (the
 * process is gone, say). */
static inline long bench_status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* The peak resident set (VmHWM, KiB) of process pid, or -1 if it is gone. */
static inline long bench_vmhwm_kib(pid_t pid)
{
    return bench_status_kib(pid, "VmHWM");
}

/* Starts process pid's VmHWM afresh from its current resident set (clear_refs
 * 5). -1 if it cannot be done (another user's process, an old kernel). */
static inline int bench_vmhwm_reset(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int rc = write(fd, "5", 1) == 1 ? 0 : -1;
    close(fd);
    return rc;
}

static inline int bench_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf path, without a shell. */
static inline int bench_rmtree(const char *path)
{
    return nftw(path, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT ? -1 : 0;
}

/* The raw replicated commit: the floor of what one sequential client of a
 * replicated log can reach on this machine, with no protocol at all.
 *
 * A leader and `followers` processes, POSIX message queues between them.
 * Per operation the leader sends APPEND(i) to every follower and writes the
 * record (rec_bytes) into its own file, each follower writes it into its
 * own, with fdatasync when do_sync; the operation commits once a majority of
 * the members (the leader and (followers + 1) / 2 followers) have the record.
 * Late acknowledgments are drained, not waited for. The files are
 * preallocated, as a write-ahead log's segments are, so that fdatasync
 * flushes data only, not a size change through the filesystem's journal.
 * The files go into dir and are removed at the end.
 *
 * Flags. BENCH_REPL_CLIENT: the operations come from a client process: it sends
 * REQUEST(i) to the leader and waits for DONE(i), which the leader sends
 * once i commits, and the figures are the client's (from its first
 * request to its last answer; latency from request to answer). Those are
 * two more queue hops per operation, as for every system whose clients
 * are processes of their own: the floor such a system is measured against.
 * BENCH_REPL_LAZY_LEADER: the leader writes its record without fdatasync
 * (it syncs its file every 5 ms) and an operation commits once followers
 * alone make a majority of the members ((followers + 1) / 2 + 1 of them):
 * the commit of a Raft leader that leaves its own write off the path, as
 * distlab's does when its followers alone make a majority.
 *
 * Creates followers + 1 message queues (+ 2 with a client) of 10 small
 * messages each, and forks: run it where the caller may do both, with no
 * other thread running. */
struct bench_repl {
    double commits_per_s, p50_us, p99_us, max_us;
};

struct bench_repl_msg {
    long idx;
    int from;
};

#define BENCH_REPL_MAX_FOLLOWERS 16

static inline void bench_repl_qname(char *buf, size_t cap, int owner, int k)
{
    snprintf(buf, cap, "/distlab-repl.%d.%d", owner, k);
}

static inline int bench_repl_log(const char *path, long ops, size_t rec_bytes)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (posix_fallocate(fd, 0, (off_t)ops * (off_t)rec_bytes) != 0 || fsync(fd) < 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

static inline int bench_repl_append(int fd, const char *rec, size_t n, off_t *off, int do_sync)
{
    if (pwrite(fd, rec, n, *off) != (ssize_t)n)
        return -1;
    *off += (off_t)n;
    return do_sync && fdatasync(fd) < 0 ? -1 : 0;
}

static inline int bench_repl_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The client: REQUEST(i), wait for DONE(i), for i < ops; the latencies into
 * lat[0..ops), the time from the first request to the last answer (ns)
 * into lat[ops]. */
static inline void bench_repl_client(int owner, int followers, long ops, int64_t *lat, int ready)
{
    char name[64];
    bench_repl_qname(name, sizeof name, owner, followers + 1);
    mqd_t req = mq_open(name, O_WRONLY);
    bench_repl_qname(name, sizeof name, owner, followers + 2);
    mqd_t done = mq_open(name, O_RDONLY);
    if (req == (mqd_t)-1 || done == (mqd_t)-1 || write(ready, "c", 1) != 1)
        _exit(1);
    close(ready);
    struct bench_repl_msg m;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < ops; i++) {
        int64_t s = bench_now_ns();
        m.idx = i;
        m.from = -1;
        if (mq_send(req, (const char *)&m, sizeof m, 0) < 0 ||
            mq_receive(done, (char *)&m, sizeof m, NULL) != (ssize_t)sizeof m || m.idx != i)
            _exit(1);
        lat[i] = bench_now_ns() - s;
    }
    lat[ops] = bench_now_ns() - t0;
    _exit(0);
}

/* A follower: append what comes, acknowledge it, until idx < 0. */
static inline void bench_repl_follower(int owner, int k, long ops, int do_sync, const char *dir,
                                       size_t rec_bytes, int ready)
{
    char name[64], path[PATH_MAX];
    bench_repl_qname(name, sizeof name, owner, k);
    mqd_t in = mq_open(name, O_RDONLY);
    bench_repl_qname(name, sizeof name, owner, 0);
    mqd_t out = mq_open(name, O_WRONLY);
    snprintf(path, sizeof path, "%.4000s/follower%d.log", dir, k);
    int fd = bench_repl_log(path, ops, rec_bytes);
    char *rec = malloc(rec_bytes);
    if (in == (mqd_t)-1 || out == (mqd_t)-1 || fd < 0 || !rec)
        _exit(1);
    memset(rec, 'r', rec_bytes);
    if (write(ready, "r", 1) != 1)
        _exit(1);
    close(ready);
    off_t off = 0;
    int rc = 0;
    struct bench_repl_msg m;
    while (mq_receive(in, (char *)&m, sizeof m, NULL) == (ssize_t)sizeof m && m.idx >= 0) {
        if (bench_repl_append(fd, rec, rec_bytes, &off, do_sync) < 0) {
            rc = 1;
            break;
        }
        m.from = k;
        if (mq_send(out, (const char *)&m, sizeof m, 0) < 0) {
            rc = 1;
            break;
        }
    }
    close(fd);
    unlink(path);
    _exit(rc);
}

#define BENCH_REPL_CLIENT      1
#define BENCH_REPL_LAZY_LEADER 2
#define BENCH_REPL_LAZY_NS     5000000 /* the lazy leader's sync interval */

static inline int bench_replicate_client(int followers, long ops, int do_sync, const char *dir,
                                         size_t rec_bytes, int flags, struct bench_repl *out)
{
    if (followers < 1 || followers > BENCH_REPL_MAX_FOLLOWERS || ops < 1 || rec_bytes < 1)
        return -1;
    bool client = flags & BENCH_REPL_CLIENT, lazy = flags & BENCH_REPL_LAZY_LEADER;
    /* Acknowledgments for a majority of followers + 1 members: with the
     * leader's copy, or (lazy) without it. */
    int need = lazy ? (followers + 1) / 2 + 1 : (followers + 1) / 2;
    if (need > followers)
        return -1; /* one follower cannot make a majority of two alone */
    int owner = (int)getpid(), rc = -1, made = 0, started = 0;
    int64_t synced_ns = 0;
    int nq = followers + 1 + (client ? 2 : 0), nkids = followers + (client ? 1 : 0);
    int ready[2] = {-1, -1}, fd = -1;
    pid_t kids[BENCH_REPL_MAX_FOLLOWERS + 1];
    mqd_t q[BENCH_REPL_MAX_FOLLOWERS + 3];
    char name[64], path[PATH_MAX];
    /* Shared with the client, which writes its latencies and time here. */
    size_t lat_bytes = (size_t)(ops + 1) * sizeof(int64_t);
    int64_t *lat = mmap(NULL, lat_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *rec = malloc(rec_bytes);
    snprintf(path, sizeof path, "%.4000s/leader.log", dir);
    if (lat == MAP_FAILED)
        lat = NULL;
    if (!lat || !rec || pipe2(ready, O_CLOEXEC) < 0)
        goto out;
    memset(rec, 'r', rec_bytes);
    struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = sizeof(struct bench_repl_msg)};
    for (made = 0; made < nq; made++) {
        /* The leader reads its acknowledgments (0) and requests
         * (followers + 1), and writes the rest. */
        bool reads = made == 0 || made == followers + 1;
        bench_repl_qname(name, sizeof name, owner, made);
        mq_unlink(name);
        q[made] = mq_open(name, (reads ? O_RDONLY : O_WRONLY) | O_CREAT | O_EXCL | O_CLOEXEC, 0600,
                          &attr);
        if (q[made] == (mqd_t)-1)
            goto out;
    }
    for (started = 0; started < nkids; started++) {
        kids[started] = fork();
        if (kids[started] < 0)
            goto out;
        if (kids[started] == 0 && started == followers)
            bench_repl_client(owner, followers, ops, lat, ready[1]);
        if (kids[started] == 0)
            bench_repl_follower(owner, started + 1, ops, do_sync, dir, rec_bytes, ready[1]);
    }
    /* Only the children hold the write end now: one that fails before it is
     * ready ends the wait below instead of hanging it. */
    close(ready[1]);
    ready[1] = -1;
    fd = bench_repl_log(path, ops, rec_bytes);
    if (fd < 0)
        goto out;
    for (int k = 0; k < nkids; k++) {
        char c;
        if (read(ready[0], &c, 1) != 1)
            goto out;
    }
    struct timespec limit;
    off_t off = 0;
    long pending = 0; /* acknowledgments still to come for earlier operations */
    struct bench_repl_msg m;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < ops; i++) {
        if (client) {
            clock_gettime(CLOCK_REALTIME, &limit);
            limit.tv_sec += 10;
            if (mq_timedreceive(q[followers + 1], (char *)&m, sizeof m, NULL, &limit) !=
                (ssize_t)sizeof m)
                goto out;
        }
        int64_t s = bench_now_ns();
        int got = 0;
        for (int k = 1; k <= followers; k++) {
            /* A follower more than a queue behind the majority: its queue
             * is full, and it waits to send acknowledgments that nobody
             * reads while we wait to send to it. Drain them meanwhile. */
            for (;;) {
                struct timespec soon;
                clock_gettime(CLOCK_REALTIME, &soon);
                soon.tv_nsec += 1000000;
                if (soon.tv_nsec >= 1000000000) {
                    soon.tv_sec++;
                    soon.tv_nsec -= 1000000000;
                }
                m.idx = i;
                m.from = 0;
                if (mq_timedsend(q[k], (const char *)&m, sizeof m, 0, &soon) == 0)
                    break;
                if (errno != ETIMEDOUT)
                    goto out;
                while (mq_timedreceive(q[0], (char *)&m, sizeof m, NULL, &soon) ==
                       (ssize_t)sizeof m) {
                    pending--;
                    got += m.idx == i;
                }
            }
            pending++;
        }
        bool sync_now = do_sync && (!lazy || bench_now_ns() - synced_ns >= BENCH_REPL_LAZY_NS);
        if (bench_repl_append(fd, rec, rec_bytes, &off, sync_now) < 0)
            goto out;
        if (sync_now)
            synced_ns = bench_now_ns();
        while (got < need) {
            clock_gettime(CLOCK_REALTIME, &limit);
            limit.tv_sec += 10; /* a follower that died does not hang the benchmark */
            if (mq_timedreceive(q[0], (char *)&m, sizeof m, NULL, &limit) != (ssize_t)sizeof m)
                goto out;
            pending--;
            if (m.idx == i)
                got++;
        }
        if (client) {
            m.idx = i;
            m.from = 0;
            if (mq_send(q[followers + 2], (const char *)&m, sizeof m, 0) < 0)
                goto out;
        } else {
            lat[i] = bench_now_ns() - s;
        }
    }
    double elapsed = (double)(bench_now_ns() - t0) / 1e9;
    while (pending-- > 0) {
        clock_gettime(CLOCK_REALTIME, &limit);
        limit.tv_sec += 10;
        if (mq_timedreceive(q[0], (char *)&m, sizeof m, NULL, &limit) < 0)
            break;
    }
    if (client) {
        /* The client's own figures, once it is done. */
        int status = 0;
        if (waitpid(kids[followers], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
            kids[followers] = -1;
            goto out;
        }
        kids[followers] = -1;
        elapsed = (double)lat[ops] / 1e9;
    }
    qsort(lat, (size_t)ops, sizeof *lat, bench_repl_cmp);
    out->commits_per_s = (double)ops / elapsed;
    out->p50_us = (double)lat[ops / 2] / 1e3;
    out->p99_us = (double)lat[(long)((double)ops * 0.99)] / 1e3;
    out->max_us = (double)lat[ops - 1] / 1e3;
    rc = 0;
out:;
    /* On failure a follower may be gone and its queue full: kill rather
     * than tell them to stop. */
    struct bench_repl_msg stop = {-1, 0};
    for (int k = 0; k < started; k++)
        if (kids[k] > 0 && (rc < 0 || k == followers))
            kill(kids[k], SIGKILL);
        else if (kids[k] > 0)
            mq_send(q[k + 1], (const char *)&stop, sizeof stop, 0);
    for (int k = 0; k < started; k++) {
        int status = 0;
        if (kids[k] > 0 &&
            (waitpid(kids[k], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) &&
            rc == 0)
            rc = -1;
    }
    for (int k = 0; k < made; k++) {
        mq_close(q[k]);
        bench_repl_qname(name, sizeof name, owner, k);
        mq_unlink(name);
    }
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    if (ready[0] >= 0)
        close(ready[0]);
    if (ready[1] >= 0)
        close(ready[1]);
    if (lat)
        munmap(lat, lat_bytes);
    free(rec);
    return rc;
}

static inline int bench_replicate(int followers, long ops, int do_sync, const char *dir,
                                  size_t rec_bytes, struct bench_repl *out)
{
    return bench_replicate_client(followers, ops, do_sync, dir, rec_bytes, 0, out);
}

#endif
