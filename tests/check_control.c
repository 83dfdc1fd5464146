/* The control commands against fake runs: segments this test process makes
 * in /dev/shm (with shm_create, or byte by byte for another build's
 * version), whose "launcher" is the test process itself (alive: it maps the
 * segment, as a launcher does), a child that has already exited (dead), or
 * an unrelated process (a planted pid). Fake nodes are this program started
 * again as `distlab-node K /distlab.<id> 1` (it then only waits), children
 * of the fake launcher as real nodes are. The distlab binary is run as a
 * child on them: clean, pid, kill, pause, restart, status. The commands
 * the supervisor carries out (kill, pause, resume, terminate, restart,
 * partition, heal, net) are posted to the run's command mailbox: the test
 * process answers them as a supervisor would (serve_commands).
 *
 * Every fake segment has an id of the form <base><k> (base: 24 random bits
 * chosen in main, k: one byte per use), so the runner removes them all, and
 * their queues, whatever a failed test left: in each TCase's unchecked
 * teardown and at exit. `distlab clean` is run under the "clean" lock that
 * tests/check_process.c takes, so neither removes the other's stale run
 * under its feet. */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/mq.h"
#include "ipc/proc.h"
#include "ipc/shm.h"
#include "ipc/util.h"
#include "nodes/algo.h"
#include "src/progress.h"
#include "tests/helpers.h"

#define TCASE_TIMEOUT 120
#define CMD_TIMEOUT 30.0
#define LOCK_TIMEOUT 60.0

#define FAKE_IDS 16   /* k = 0 .. FAKE_IDS - 1 */
#define FAKE_QUEUES 9 /* queues n0 .. n8 removed by the cleanup */

static uint32_t fake_base; /* set in main, inherited by the forked tests */
static pid_t runner_pid;

static uint32_t fake_id(int k)
{
    return fake_base | (uint32_t)k;
}

static void fake_hex(char *buf, size_t cap, uint32_t id)
{
    snprintf(buf, cap, "%08x", id);
}

static void fake_cleanup(void)
{
    for (int k = 0; k < FAKE_IDS; k++) {
        for (int q = 0; q < FAKE_QUEUES; q++)
            mq_unlink_queue(fake_id(k), q);
        shm_unlink_run(fake_id(k));
    }
}

static void fake_cleanup_at_exit(void)
{
    if (getpid() == runner_pid) /* not in the forked tests */
        fake_cleanup();
}

static void setup(void)
{
    h_root_setup();
}

static void teardown(void)
{
    fake_cleanup();
    h_root_teardown();
}

/* ---- fake segments ---- */

static void path_of(char *buf, size_t cap, uint32_t id)
{
    snprintf(buf, cap, "/dev/shm/" SHM_PREFIX "%08x", id);
}

/* Write raw bytes as segment id (created, or overwritten from offset 0),
 * `size` bytes long. */
static void raw_segment(uint32_t id, const void *bytes, size_t len, size_t size)
{
    char path[64];
    path_of(path, sizeof path, id);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    if (len)
        ck_assert_int_eq(pwrite(fd, bytes, len, 0), (ssize_t)len);
    close(fd);
}

/* Set the segment's modification time age_s seconds back. */
static void age_segment(uint32_t id, int age_s)
{
    char path[64];
    path_of(path, sizeof path, id);
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= age_s;
    t[1] = t[0];
    ck_assert_msg(utimensat(AT_FDCWD, path, t, 0) == 0, "utimensat %s: %s", path,
                  strerror(errno));
}

/* Queue k of run id, given to uid unless that is -1. */
static void make_queue_of(uint32_t id, int k, int uid)
{
    char name[64];
    mq_queue_name(name, sizeof name, id, k);
    struct mq_attr a = {.mq_maxmsg = 1, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_CREAT | O_RDWR | O_CLOEXEC, 0600, &a);
    ck_assert_msg(q != (mqd_t)-1, "mq_open %s: %s", name, strerror(errno));
    if (uid >= 0)
        ck_assert_msg(fchown((int)q, (uid_t)uid, (gid_t)uid) == 0, "fchown %s: %s", name,
                      strerror(errno));
    mq_close(q);
}

static void make_queue(uint32_t id, int k)
{
    make_queue_of(id, k, -1);
}

/* A pid that has just ended (reaped). */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        _exit(0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return pid;
}

/* Map segment id (len bytes) as a launcher does: proof that this process
 * holds it. */
static void *map_segment(uint32_t id, size_t len)
{
    char path[64];
    path_of(path, sizeof path, id);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    ck_assert_msg(p != MAP_FAILED, "mmap %s: %s", path, strerror(errno));
    return p;
}

/* A child that dies with this process: `sleep 600` (an unrelated process
 * whose pid a planted segment names), or, with node > 0, this program as
 * `distlab-node NODE /distlab.<id> 1` (a fake node). With grandchild, the
 * sleep is started by an intermediate child (which waits), so its parent is
 * not this process. Returns the pid of the sleep or node. */
static char self_exe[PATH_MAX];

static pid_t spawn_waiter(int node, uint32_t id, bool grandchild)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(pfd[0]);
        if (grandchild) {
            pid_t me = getpid(), g = fork();
            if (g < 0)
                _exit(1);
            if (g > 0) {
                (void)!write(pfd[1], &g, sizeof g);
                for (;;)
                    pause();
            }
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != me)
                _exit(1);
        } else {
            pid_t self = getpid();
            (void)!write(pfd[1], &self, sizeof self);
        }
        close(pfd[1]);
        if (node > 0) {
            char k[16], seg[64];
            snprintf(k, sizeof k, "%d", node);
            shm_name(seg, sizeof seg, id);
            setenv("CHECK_CONTROL_FAKE_NODE", "1", 1);
            execl(self_exe, "distlab-node", k, seg, "1", (char *)NULL);
        } else {
            execlp("sleep", "sleep", "600", (char *)NULL);
        }
        _exit(127);
    }
    close(pfd[1]);
    pid_t got = 0;
    ck_assert_int_eq(read(pfd[0], &got, sizeof got), (ssize_t)sizeof got);
    close(pfd[0]);
    /* Wait for the exec: the command line is what the checks read. */
    const char *want = node > 0 ? "distlab-node" : "sleep";
    for (int i = 0; i < 2000; i++) {
        char buf[256];
        int n = proc_cmdline(got, buf, sizeof buf);
        if (n > 0 && strcmp(buf, want) == 0)
            return got;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("process %d did not exec %s", (int)got, want);
    return -1;
}

/* The state letter of pid in /proc (R, S, T, ...), or 0 when it is gone. */
static char proc_state(pid_t pid)
{
    struct proc_info pi;
    return proc_info(pid, &pi) == 0 ? pi.state : 0;
}

static bool is_stopped(void *pid)
{
    return proc_state(*(pid_t *)pid) == 'T';
}

/* Has pid a signal pending (SigPnd or ShdPnd of /proc/PID/status)? */
static bool signal_pending(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *text = h_slurp(path);
    if (!text)
        return false;
    bool pending = false;
    for (const char *k = text; (k = strstr(k, "Pnd:\t")) != NULL; k += 5)
        pending = pending || strtoull(k + 5, NULL, 16) != 0;
    free(text);
    return pending;
}

/* pid is alive, not stopped, and has no signal on its way. A signal is
 * pending until the process takes it, and it stops or dies as it takes it
 * (under one lock), so this order of reads misses nothing that was sent. */
static void assert_untouched(pid_t pid, const char *what, const char *after)
{
    ck_assert_msg(!signal_pending(pid), "%s (pid %d) after %s: a signal is pending", what,
                  (int)pid, after);
    char st = proc_state(pid);
    ck_assert_msg(st == 'S' || st == 'R', "%s (pid %d) after %s: state '%c' (%s)", what,
                  (int)pid, after, st ? st : '-', st ? "stopped?" : "gone: signalled");
}

/* Does text hold anything a terminal would act on: a control character
 * other than newline, DEL, or a C1 control (raw or UTF-8)? */
static bool has_raw_control(const char *text)
{
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; u[i]; i++) {
        if ((u[i] < 0x20 && u[i] != '\n') || u[i] == 0x7f || (u[i] >= 0x80 && u[i] < 0xa0 &&
                                                                (i == 0 || u[i - 1] != 0xc2)))
            return true;
        if (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] < 0xa0)
            return true;
    }
    return false;
}

/* A live run of this version made by shm_create: this process is its
 * launcher. start_offset_s moves its start (newest = largest). */
static void fake_run_of(struct shm_handle *h, uint32_t id, int n, int clients,
                        const char *algorithm, const char *name, double start_offset_s)
{
    char err[DL_ERRLEN];
    ck_assert_msg(shm_create_clients(h, id, n, clients, err) == 0, "shm_create: %s", err);
    struct shm_run *r = h->run;
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->algorithm, sizeof r->algorithm, "%s", algorithm);
    snprintf(r->rundir, sizeof r->rundir, "/nonexistent/%s-%08x", name, id);
    r->start_mono_us = dl_mono_us();
    r->start_real_us = dl_real_us() + (int64_t)(start_offset_s * 1e6);
    atomic_store(&r->phase, RUN_RUNNING);
}

static void fake_run(struct shm_handle *h, uint32_t id, int n, const char *name,
                     double start_offset_s)
{
    fake_run_of(h, id, n, 0, "centralized", name, start_offset_s);
}

static void set_node(struct shm_run *r, int k, int state, int role, int64_t term, int pid)
{
    atomic_store(&r->node[k].state, state);
    atomic_store(&r->node[k].role, role);
    atomic_store(&r->node[k].term, term);
    atomic_store(&r->node[k].pid, pid);
}

/* ---- a fake supervisor: the test process answers the mailbox ---- */

struct served {
    int count;    /* commands answered */
    int op, node; /* the last one */
    char arg[256];
};
static struct served served;

/* Answer a posted command as the supervisor does: with act, signal the
 * node the table names (the fake run's table is what this supervisor
 * knows of its children) and answer 0; else refuse it (ESRCH). */
static void serve_one(struct shm_run *r, bool act)
{
    struct shm_cmd *m = &r->cmd;
    served.count++;
    served.op = m->op;
    served.node = m->node;
    memcpy(served.arg, m->arg, sizeof served.arg);
    served.arg[sizeof served.arg - 1] = '\0';
    int sig = m->op == CMD_KILL        ? SIGKILL
              : m->op == CMD_PAUSE     ? SIGSTOP
              : m->op == CMD_RESUME    ? SIGCONT
              : m->op == CMD_TERMINATE ? SIGTERM
                                       : 0;
    int k = m->node;
    if (act && sig && k >= 1 && k <= (int)r->n) {
        kill(atomic_load(&r->node[k].pid), sig);
        snprintf(m->answer, sizeof m->answer, "node %d: done (fake supervisor)", k);
        m->result = 0;
    } else if (act) {
        snprintf(m->answer, sizeof m->answer, "done (fake supervisor)");
        m->result = 0;
    } else {
        snprintf(m->answer, sizeof m->answer, "node %d is not running (fake supervisor)", k);
        m->result = ESRCH;
    }
    atomic_store(&m->state, CMD_ANSWERED);
    syscall(SYS_futex, (uint32_t *)&m->state, FUTEX_WAKE, 1, NULL, NULL, 0);
}

struct serving {
    struct h_proc *p;
    struct shm_run *r;
    bool act;
};

/* The command ended; meanwhile answer what it posts. */
static bool served_until_end(void *arg)
{
    struct serving *sv = arg;
    if (sv->r && atomic_load(&sv->r->cmd.state) == CMD_POSTED)
        serve_one(sv->r, sv->act);
    return h_ended(sv->p);
}

/* `distlab A0 A1 A2 A3` (NULL ends them early) with its posted commands
 * answered (r: the fake run, NULL for none); its output, stdout then
 * stderr, to *text (nothing raw in it). Returns its exit code. */
static int run_served5(const char *dir, char **text, struct shm_run *r, bool act, const char *a0,
                       const char *a1, const char *a2, const char *a3, const char *a4)
{
    struct h_proc p;
    h_start(&p, dir, a0, a0, a1, a2, a3, a4, NULL);
    struct serving sv = {&p, r, act};
    ck_assert_msg(h_poll(served_until_end, &sv, CMD_TIMEOUT), "`distlab %s` did not end", a0);
    int rc = h_wait(&p, CMD_TIMEOUT);
    char *out = h_out(&p), *err = h_err(&p);
    size_t n = strlen(out) + strlen(err) + 2;
    *text = malloc(n);
    snprintf(*text, n, "%s\n%s", out, err);
    free(out);
    free(err);
    ck_assert_msg(!has_raw_control(*text),
                  "`distlab %s %s %s` printed a raw control character:\n%s", a0, a1 ? a1 : "",
                  a2 ? a2 : "", *text);
    if (r)
        ck_assert_msg(atomic_load(&r->cmd.state) == CMD_FREE,
                      "`distlab %s` left the mailbox in state %u", a0,
                      (unsigned)atomic_load(&r->cmd.state));
    return rc;
}

static int run_served(const char *dir, char **text, struct shm_run *r, bool act, const char *a0,
                      const char *a1, const char *a2, const char *a3)
{
    return run_served5(dir, text, r, act, a0, a1, a2, a3, NULL);
}

static int run_clean(const char *dir, char **out, char **err)
{
    struct h_proc p;
    int rc = h_run(&p, dir, "clean", CMD_TIMEOUT, "clean", NULL);
    *out = h_out(&p);
    *err = h_err(&p);
    return rc;
}

/* ---- TCase clean ---- */

START_TEST(test_clean_live_other_version)
{
    char *dir = h_tmpdir();
    uint32_t id = fake_id(1);
    char hex[16], removed[64];
    fake_hex(hex, sizeof hex, id);
    snprintf(removed, sizeof removed, "removed stale run %s", hex);

    /* Another build's segment (version 999, a size shm_attach rejects),
     * whose launcher (this process) is alive, with one of its queues; old
     * enough that the previous rule took it for stale. */
    struct shm_prefix p = {.magic = SHM_MAGIC,
                           .version = 999,
                           .run_id = id,
                           .n = 3,
                           .launcher_pid = getpid(),
                           .launcher_start = proc_start_time(getpid())};
    ck_assert(p.launcher_start != 0);
    raw_segment(id, &p, sizeof p, 4096);
    age_segment(id, 60);
    make_queue(id, 2);
    void *held = map_segment(id, 4096); /* as its launcher does */

    int lock = h_lock("clean", LOCK_TIMEOUT);
    char *out, *err;
    int rc = run_clean(dir, &out, &err);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(strstr(out, hex) == NULL, "clean named the live run %s:\n%s", hex, out);
    ck_assert_msg(h_shm_exists(hex), "clean removed the live run %s of another version", hex);
    ck_assert_msg(h_queue_exists(hex, 2), "clean removed a queue of the live run %s", hex);
    free(out);
    free(err);

    /* The launcher is gone: now it is stale, whatever its version. */
    munmap(held, 4096);
    p.launcher_pid = dead_pid();
    raw_segment(id, &p, sizeof p, 4096);
    rc = run_clean(dir, &out, &err);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(strstr(out, removed) != NULL, "clean did not say '%s':\n%s", removed, out);
    ck_assert_msg(!h_shm_exists(hex), "clean left the stale run %s", hex);
    ck_assert_msg(!h_queue_exists(hex, 2), "clean left the queue of the stale run %s", hex);
    free(out);
    free(err);
    h_unlock(lock);

    h_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_clean_no_magic)
{
    char *dir = h_tmpdir();
    uint32_t id = fake_id(2);
    char hex[16], removed[64];
    fake_hex(hex, sizeof hex, id);
    snprintf(removed, sizeof removed, "removed stale run %s", hex);

    /* Empty: a segment being created right now looks like this. */
    raw_segment(id, NULL, 0, 0);
    int lock = h_lock("clean", LOCK_TIMEOUT);
    char *out, *err;
    int rc = run_clean(dir, &out, &err);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(h_shm_exists(hex), "clean removed %s, without a header but 0 s old", hex);
    ck_assert_msg(strstr(out, hex) == NULL, "clean named %s:\n%s", hex, out);
    free(out);
    free(err);

    /* Older than 10 s: stale. */
    age_segment(id, 30);
    rc = run_clean(dir, &out, &err);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(strstr(out, removed) != NULL, "clean did not say '%s':\n%s", removed, out);
    ck_assert_msg(!h_shm_exists(hex), "clean left %s, without a header and 30 s old", hex);
    free(out);
    free(err);
    h_unlock(lock);

    h_rmtree(dir);
    free(dir);
}
END_TEST

/* A stale run with clients: their queues, after the nodes', go with it
 * (the layout-stable prefix does not say how many clients it had). */
START_TEST(test_clean_stale_clients)
{
    char *dir = h_tmpdir();
    struct shm_handle h;
    uint32_t id = fake_id(14);
    char hex[16], removed[64];
    fake_hex(hex, sizeof hex, id);
    snprintf(removed, sizeof removed, "removed stale run %s (6 queues", hex);
    fake_run_of(&h, id, 3, 2, "raft", "ctl-stale", 0);
    h.run->launcher_pid = dead_pid(); /* its launcher is gone */
    shm_detach(&h);
    for (int k = 0; k <= 5; k++)
        make_queue(id, k);
    int lock = h_lock("clean", LOCK_TIMEOUT);
    char *out, *err;
    int rc = run_clean(dir, &out, &err);
    h_unlock(lock);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(strstr(out, removed) != NULL, "clean did not say '%s':\n%s", removed, out);
    ck_assert_msg(!h_shm_exists(hex), "clean left the segment of %s", hex);
    for (int k = 0; k <= 5; k++)
        ck_assert_msg(!h_queue_exists(hex, k), "clean left queue n%d of %s", k, hex);
    free(out);
    free(err);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- TCase roles ---- */

static char *pid_of(const char *dir, const char *hex, const char *flag, int *rc)
{
    struct h_proc p;
    *rc = h_run(&p, dir, "pid", CMD_TIMEOUT, "pid", hex, flag, NULL);
    return h_out(&p);
}

static void expect_pid(const char *dir, const char *hex, const char *flag, int want,
                       const char *why)
{
    int rc;
    char *out = pid_of(dir, hex, flag, &rc);
    ck_assert_msg(rc == 0, "`distlab pid %s %s` exited %d (%s)", hex, flag, rc, why);
    ck_assert_msg(atoi(out) == want, "`distlab pid %s %s` printed '%s', expected %d (%s)", hex,
                  flag, out, want, why);
    free(out);
}

START_TEST(test_pid_role)
{
    char *dir = h_tmpdir();
    struct shm_handle h;
    uint32_t id = fake_id(3);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    fake_run(&h, id, 4, "ctl-role", 0);
    struct shm_run *r = h.run;
    pid_t pid[5];
    for (int k = 1; k <= 4; k++)
        pid[k] = spawn_waiter(k, id, false);

    /* The old coordinator 1 is paused (with the highest term it saw); 2, 3
     * and 4 claim the role after it, 3 and 4 in a newer epoch. */
    set_node(r, 1, NODE_PAUSED, ROLE_COORDINATOR, 9, pid[1]);
    set_node(r, 2, NODE_UP, ROLE_COORDINATOR, 1, pid[2]);
    set_node(r, 3, NODE_UP, ROLE_COORDINATOR, 4, pid[3]);
    set_node(r, 4, NODE_UP, ROLE_COORDINATOR, 4, pid[4]);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 3);
    expect_pid(dir, hex, "--coordinator", pid[3], "UP, highest term, lowest id");
    expect_pid(dir, hex, "2", pid[2], "by number");

    atomic_store(&r->node[3].state, NODE_DOWN);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 4);
    expect_pid(dir, hex, "--coordinator", pid[4], "3 is down");

    atomic_store(&r->node[4].state, NODE_STOPPED);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 2);
    expect_pid(dir, hex, "--coordinator", pid[2], "UP before PAUSED, whatever the term");

    atomic_store(&r->node[2].state, NODE_DOWN);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 1);
    expect_pid(dir, hex, "--coordinator", pid[1], "only the paused one is left");

    /* Nobody. */
    atomic_store(&r->node[1].role, ROLE_CLIENT);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 0);
    int rc;
    char *out = pid_of(dir, hex, "--coordinator", &rc);
    ck_assert_msg(rc == 1, "`distlab pid --coordinator` exited %d without a coordinator", rc);
    free(out);

    /* Another role, the same rule. */
    set_node(r, 2, NODE_PAUSED, ROLE_TOKEN_HOLDER, 7, pid[2]);
    set_node(r, 4, NODE_UP, ROLE_TOKEN_HOLDER, 3, pid[4]);
    expect_pid(dir, hex, "--token-holder", pid[4], "UP token holder before a paused one");

    /* An option that names no role is a usage error. */
    out = pid_of(dir, hex, "--chief", &rc);
    ck_assert_msg(rc == 2 && out[0] == '\0', "`distlab pid %s --chief` exited %d, printed '%s'",
                  hex, rc, out);
    free(out);

    /* The node commands ask the supervisor (this process, which answers
     * the mailbox) for the node the role names: pause and resume node 4. */
    signal(SIGUSR2, SIG_IGN);
    char *text;
    rc = run_served(dir, &text, r, true, "pause", hex, "--token-holder", NULL);
    ck_assert_msg(rc == 0 && served.op == CMD_PAUSE && served.node == 4,
                  "`distlab pause %s --token-holder` exited %d, posted op %d node %d:\n%s", hex, rc,
                  served.op, served.node, text);
    ck_assert_msg(strstr(text, "node 4: done (fake supervisor)\n") == text,
                  "the answer is not printed on stdout:\n%s", text);
    free(text);
    /* A stop takes effect when the process next runs: wait for it. */
    ck_assert_msg(h_poll(is_stopped, &pid[4], 10.0), "node 4 (pid %d) is not stopped: '%c'",
                  (int)pid[4], proc_state(pid[4]));
    rc = run_served(dir, &text, r, true, "resume", hex, "4", NULL);
    ck_assert_msg(rc == 0 && served.op == CMD_RESUME, "`distlab resume %s 4` exited %d:\n%s", hex,
                  rc, text);
    free(text);
    assert_untouched(pid[4], "node 4", "resume");
    rc = run_served(dir, &text, r, true, "kill", hex, "4", NULL);
    ck_assert_msg(rc == 0 && served.op == CMD_KILL, "`distlab kill %s 4` exited %d:\n%s", hex, rc,
                  text);
    free(text);
    int st;
    ck_assert_int_eq(waitpid(pid[4], &st, 0), pid[4]);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "node 4 was not SIGKILLed");
    rc = run_served(dir, &text, r, true, "terminate", hex, "1", NULL);
    ck_assert_msg(rc == 0 && served.op == CMD_TERMINATE && served.node == 1,
                  "`distlab terminate %s 1` exited %d:\n%s", hex, rc, text);
    free(text);
    ck_assert_int_eq(waitpid(pid[1], &st, 0), pid[1]);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "node 1 was not sent SIGTERM");

    /* A refusal is said on stderr, exit 1. */
    rc = run_served(dir, &text, r, false, "kill", hex, "2", NULL);
    ck_assert_msg(rc == 1 && text[0] == '\n' &&
                      strstr(text, "distlab kill: node 2 is not running (fake supervisor)"),
                  "a refused kill exited %d:\n%s", rc, text);
    free(text);
    /* A node the run does not have: refused before anything is posted. */
    int before = served.count;
    rc = run_served(dir, &text, r, true, "kill", hex, "9", NULL);
    ck_assert_msg(rc == 2 && strstr(text, "'9' is not a node of this run (1..4)") &&
                      served.count == before,
                  "`distlab kill %s 9` exited %d:\n%s", hex, rc, text);
    free(text);

    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST


/* Raft: `pid --leader` names the leader of the highest term, whatever the
 * state of an older one (cut off, it still believes it leads); UP before
 * PAUSED only within a term; none: exit 1 with a message. */
START_TEST(test_pid_leader)
{
    char *dir = h_tmpdir();
    struct shm_handle h;
    uint32_t id = fake_id(12);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    fake_run_of(&h, id, 5, 2, "raft", "ctl-leader", 0);
    struct shm_run *r = h.run;
    pid_t pid[6];
    for (int k = 1; k <= 5; k++) {
        pid[k] = spawn_waiter(k, id, false);
        set_node(r, k, NODE_UP, ROLE_FOLLOWER, 5, pid[k]);
    }
    /* Node 1 led term 3 and was cut off; node 4 leads term 5. */
    set_node(r, 1, NODE_UP, ROLE_LEADER, 3, pid[1]);
    set_node(r, 4, NODE_UP, ROLE_LEADER, 5, pid[4]);
    ck_assert_int_eq(shm_find_leader(r, ROLE_LEADER), 4);
    expect_pid(dir, hex, "--leader", pid[4], "the highest term's leader");
    /* Paused, it still outranks the stale one. */
    atomic_store(&r->node[4].state, NODE_PAUSED);
    expect_pid(dir, hex, "--leader", pid[4], "a paused leader of a later term");
    /* Two of the same term (one UP): the UP one. */
    set_node(r, 2, NODE_UP, ROLE_LEADER, 5, pid[2]);
    expect_pid(dir, hex, "--leader", pid[2], "UP before PAUSED within a term");
    /* Down: the next. */
    atomic_store(&r->node[2].state, NODE_DOWN);
    atomic_store(&r->node[4].state, NODE_DOWN);
    expect_pid(dir, hex, "--leader", pid[1], "only the stale leader is left");
    /* A candidate is no leader. */
    atomic_store(&r->node[1].role, ROLE_CANDIDATE);
    struct h_proc p;
    int rc = h_run(&p, dir, "pid", CMD_TIMEOUT, "pid", hex, "--leader", NULL);
    char *out = h_out(&p), *err = h_err(&p);
    ck_assert_msg(rc == 1 && out[0] == '\0' && strstr(err, "no live node is leader now"),
                  "`distlab pid %s --leader` without a leader exited %d:\n%s\n%s", hex, rc, out,
                  err);
    free(out);
    free(err);
    /* A client's id is not a node's. */
    rc = h_run(&p, dir, "pid", CMD_TIMEOUT, "pid", hex, "6", NULL);
    err = h_err(&p);
    ck_assert_msg(rc == 2 && strstr(err, "'6' is not a node of this run (1..5)"),
                  "`distlab pid %s 6` exited %d: %s", hex, rc, err);
    free(err);
    free(h_out(&p));
    for (int k = 1; k <= 5; k++) {
        kill(pid[k], SIGKILL);
        waitpid(pid[k], NULL, 0);
    }
    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- TCase planted: segments and pids that are not what they claim ---- */

/* Run `distlab ARGS` (up to 4; NULL ends them early); the output, stdout
 * then stderr, goes to *text, which must hold nothing raw. */
static int run_cmd(const char *dir, char **text, const char *a0, const char *a1, const char *a2,
                   const char *a3)
{
    struct h_proc p;
    int rc = h_run(&p, dir, a0, CMD_TIMEOUT, a0, a1, a2, a3, NULL);
    char *out = h_out(&p), *err = h_err(&p);
    size_t n = strlen(out) + strlen(err) + 2;
    *text = malloc(n);
    snprintf(*text, n, "%s\n%s", out, err);
    free(out);
    free(err);
    ck_assert_msg(!has_raw_control(*text),
                  "`distlab %s %s %s` printed a raw control character:\n%s", a0, a1 ? a1 : "", a2 ? a2 : "", *text);
    return rc;
}

/* What another user can write into a segment: a hostile name and run
 * directory (terminal escapes, a C1 CSI, a byte that is not UTF-8). */
#define EVIL_NAME "evil\033]0;owned\007\033[2J\302\233x\377"
#define EVIL_DIR "/tmp/\033[31mred"

static void plant_strings(struct shm_run *r)
{
    memset(r->name, 'A', sizeof r->name); /* no NUL at all */
    memcpy(r->name, EVIL_NAME, strlen(EVIL_NAME));
    snprintf(r->rundir, sizeof r->rundir, "%s", EVIL_DIR);
}

/* Every node command against run hex's node 1 and its coordinator (restart
 * too unless the launcher is genuine, when asking it is right): each must
 * fail (exit 1 or 2) and print nothing raw, and victim must be untouched. */
static void expect_refused(const char *dir, const char *hex, pid_t victim, const char *why,
                           bool restart, struct shm_run *serve)
{
    static const char *const cmds[] = {"kill", "pause", "terminate", "pid", "restart"};
    static const char *const sels[] = {"1", "--coordinator"};
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0] - !restart; c++)
        for (size_t s = 0; s < 2; s++) {
            char *text;
            int rc = run_served(dir, &text, serve, false, cmds[c], hex, sels[s], NULL);
            ck_assert_msg(rc == 1 || rc == 2, "`distlab %s %s %s` exited %d (%s):\n%s", cmds[c],
                          hex, sels[s], rc, why, text);
            ck_assert_msg(text[0] == '\n', "`distlab %s %s %s` printed on stdout (%s):\n%s",
                          cmds[c], hex, sels[s], why, text);
            free(text);
            char after[64];
            snprintf(after, sizeof after, "distlab %s %s", cmds[c], sels[s]);
            assert_untouched(victim, "the unrelated process", after);
        }
}

/* A segment of ours whose "launcher" is an unrelated live process (right pid
 * and start time, but it does not hold the segment): not a live run. */
START_TEST(test_planted_launcher)
{
    char *dir = h_tmpdir();
    uint32_t id = fake_id(7);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    pid_t launcher = spawn_waiter(0, 0, false), victim = spawn_waiter(0, 0, true);
    struct shm_handle h;
    fake_run(&h, id, 3, "ctl-planted", 36000); /* starts in the future: "newest" */
    struct shm_run *r = h.run;
    r->launcher_pid = launcher;
    r->launcher_start = proc_start_time(launcher);
    plant_strings(r);
    set_node(r, 1, NODE_UP, ROLE_COORDINATOR, 1, victim);
    shm_detach(&h); /* this process holds it no more */

    expect_refused(dir, hex, victim, "the launcher does not hold the segment", true, NULL);
    assert_untouched(launcher, "the planted launcher", "distlab restart");
    char *text;
    int rc = run_cmd(dir, &text, "status", hex, NULL, NULL);
    ck_assert_msg(rc == 1, "`distlab status %s` exited %d:\n%s", hex, rc, text);
    free(text);
    rc = run_cmd(dir, &text, "status", "--all", NULL, NULL);
    ck_assert_msg(rc == 0 && !strstr(text, hex), "`status --all` lists %s:\n%s", hex, text);
    free(text);

    /* Not live, so stale: clean removes it and its queue, and signals
     * nobody; a queue of its name that another user made (root can test
     * that) stays. */
    make_queue(id, 1);
    bool root = geteuid() == 0;
    if (root)
        make_queue_of(id, 2, 65534);
    int lock = h_lock("clean", LOCK_TIMEOUT);
    rc = run_cmd(dir, &text, "clean", NULL, NULL, NULL);
    h_unlock(lock);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d:\n%s", rc, text);
    ck_assert_msg(!h_shm_exists(hex), "clean left %s, whose launcher does not hold it:\n%s", hex,
                  text);
    ck_assert_msg(!h_queue_exists(hex, 1), "clean left the queue of the stale run %s", hex);
    if (root) {
        ck_assert_msg(h_queue_exists(hex, 2), "clean removed uid 65534's queue of %s", hex);
        ck_assert_msg(strstr(text, "not yours: queue"), "clean did not say so:\n%s", text);
    }
    free(text);
    assert_untouched(launcher, "the planted launcher", "distlab clean");
    assert_untouched(victim, "the unrelated process", "distlab clean");

    h_rmtree(dir);
    free(dir);
}
END_TEST

/* A live run of ours (this process is its launcher and holds it) whose
 * table names processes that are not its nodes: a child of the launcher
 * that is not `distlab-node` (sleep), and a `sleep` that is not its child. */
START_TEST(test_planted_pids)
{
    char *dir = h_tmpdir();
    uint32_t id = fake_id(8);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    pid_t child = spawn_waiter(0, 0, false), other = spawn_waiter(0, 0, true);
    signal(SIGUSR2, SIG_IGN); /* this process is the launcher restart asks */
    struct shm_handle h;
    fake_run(&h, id, 3, "ctl-pids", 0);
    struct shm_run *r = h.run;
    plant_strings(r);

    set_node(r, 1, NODE_UP, ROLE_COORDINATOR, 1, child);
    /* The tools signal no node: they ask the supervisor (this process,
     * which refuses), whatever the table says. */
    expect_refused(dir, hex, child, "a child of the launcher, but not distlab-node", false, r);
    set_node(r, 1, NODE_UP, ROLE_COORDINATOR, 1, other);
    expect_refused(dir, hex, other, "not a child of the launcher", false, r);
    /* A pid that is no process at all. */
    set_node(r, 1, NODE_UP, ROLE_COORDINATOR, 1, dead_pid());
    char *text;
    int rc = run_cmd(dir, &text, "pid", hex, "1", NULL);
    ck_assert_msg(rc == 1, "`distlab pid %s 1` of a dead pid exited %d:\n%s", hex, rc, text);
    free(text);

    /* The run itself is real: status shows it, its strings escaped. */
    rc = run_cmd(dir, &text, "status", hex, NULL, NULL);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d:\n%s", hex, rc, text);
    ck_assert_msg(strstr(text, "evil\\x1b]0;owned\\x07\\x1b[2J\\xc2\\x9bx\\xffAAAA") != NULL,
                  "the name is not shown escaped:\n%s", text);
    ck_assert_msg(strstr(text, "/tmp/\\x1b[31mred") != NULL, "the directory is not escaped:\n%s",
                  text);
    free(text);
    rc = run_cmd(dir, &text, "status", "--all", NULL, NULL);
    ck_assert_msg(rc == 0 && strstr(text, hex), "`status --all` does not list %s:\n%s", hex,
                  text);
    free(text);
    struct h_proc p;
    rc = h_run(&p, dir, "json", CMD_TIMEOUT, "status", hex, "--json", NULL);
    ck_assert_msg(rc == 0, "`distlab status %s --json` exited %d", hex, rc);
    json_t *o = h_json_file(p.out);
    ck_assert_msg(strncmp(h_jstr(o, "name"), "evil\\x1b]0;", 10) == 0, "JSON name '%s'",
                  h_jstr(o, "name"));
    json_decref(o);

    /* restart asks the real launcher (this process), never a planted pid. */
    rc = run_served(dir, &text, r, true, "restart", hex, "2", NULL);
    ck_assert_msg(rc == 0 && served.op == CMD_RESTART && served.node == 2,
                  "`distlab restart %s 2` exited %d (op %d, node %d):\n%s", hex, rc, served.op,
                  served.node, text);
    free(text);

    assert_untouched(child, "the launcher's other child", "all commands");
    assert_untouched(other, "the unrelated process", "all commands");
    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Segments the caller does not own alone: mode 0660 (anyone of the group
 * could have written it), and, when the test runs as root, one owned by
 * nobody. Each names a genuine-looking fake node of a genuine launcher
 * (this process), so only the ownership check stands between the command
 * and the node. */
START_TEST(test_not_yours)
{
    char *dir = h_tmpdir();
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && geteuid() != 0)
            break; /* another uid needs root to make; the mode case ran */
        uint32_t id = fake_id(9 + pass);
        char hex[16], path[64];
        fake_hex(hex, sizeof hex, id);
        path_of(path, sizeof path, id);
        struct shm_handle h;
        fake_run(&h, id, 2, "ctl-foreign", 36000);
        plant_strings(h.run);
        pid_t node = spawn_waiter(1, id, false);
        set_node(h.run, 1, NODE_UP, ROLE_COORDINATOR, 1, node);
        const char *why;
        if (pass == 0) {
            ck_assert_int_eq(chmod(path, 0660), 0);
            why = "mode 0660";
        } else {
            ck_assert_int_eq(chown(path, 65534, 65534), 0);
            why = "owned by uid 65534";
        }
        expect_refused(dir, hex, node, why, true, NULL);
        char *text;
        int rc = run_cmd(dir, &text, "status", hex, NULL, NULL);
        ck_assert_msg(rc == 1 && strstr(text, "not yours"),
                      "`distlab status %s` (%s) exited %d:\n%s", hex, why, rc, text);
        free(text);
        rc = run_cmd(dir, &text, "status", "--all", NULL, NULL);
        ck_assert_msg(rc == 0 && !strstr(text, hex), "`status --all` lists %s (%s):\n%s", hex,
                      why, text);
        free(text);

        if (pass == 1) {
            /* Its launcher gone: still not ours to remove, even for root. */
            shm_detach(&h);
            int lock = h_lock("clean", LOCK_TIMEOUT);
            rc = run_cmd(dir, &text, "clean", NULL, NULL, NULL);
            h_unlock(lock);
            ck_assert_msg(rc == 0 && strstr(text, "not yours"), "`distlab clean` exited %d:\n%s",
                          rc, text);
            ck_assert_msg(h_shm_exists(hex), "root's clean removed uid 65534's segment %s", hex);
            free(text);
        } else {
            shm_detach(&h);
        }
        assert_untouched(node, "the fake node", why);
        kill(node, SIGKILL);
        waitpid(node, NULL, 0);
        shm_unlink_run(id);
    }
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Anyone can create files in /dev/shm: hundreds named like segments and
 * owned by another user must not hide the caller's live run from status,
 * pid and status --all (a fixed table of runs filled with them did). */
START_TEST(test_crowded_by_foreign)
{
    if (geteuid() != 0)
        return; /* files of another uid need root to make */
    char *dir = h_tmpdir();
    uint32_t id = fake_id(11);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    struct shm_handle h;
    fake_run(&h, id, 2, "ctl-crowded", 0);
    pid_t node = spawn_waiter(1, id, false);
    set_node(h.run, 1, NODE_UP, ROLE_COORDINATOR, 1, node);
    /* Made after the run's segment, so a directory listing meets them
     * first or last, whichever order it keeps; never a fake id (those
     * differ in bits 16..30). */
    enum { PLANTED = 600 };
    static bool made[PLANTED];
    for (int i = 0; i < PLANTED; i++) {
        char path[64];
        path_of(path, sizeof path, (fake_base ^ 0x5a5a0000u) + (uint32_t)i);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        made[i] = fd >= 0;
        if (fd >= 0) {
            ck_assert_int_eq(fchown(fd, 65534, 65534), 0);
            close(fd);
        }
    }
    char *status, *all, *pid;
    int rc_status = run_cmd(dir, &status, "status", hex, NULL, NULL);
    int rc_all = run_cmd(dir, &all, "status", "--all", NULL, NULL);
    int rc_pid = run_cmd(dir, &pid, "pid", hex, "1", NULL);
    for (int i = 0; i < PLANTED; i++) {
        char path[64];
        path_of(path, sizeof path, (fake_base ^ 0x5a5a0000u) + (uint32_t)i);
        if (made[i])
            unlink(path);
    }
    ck_assert_msg(rc_status == 0 && strstr(status, hex),
                  "`distlab status %s` among planted files exited %d:\n%s", hex, rc_status, status);
    ck_assert_msg(rc_all == 0 && strstr(all, hex),
                  "`distlab status --all` among planted files does not list %s:\n%s", hex, all);
    char want[32];
    snprintf(want, sizeof want, "%d\n", (int)node);
    ck_assert_msg(rc_pid == 0 && strncmp(pid, want, strlen(want)) == 0,
                  "`distlab pid %s 1` among planted files exited %d:\n%s", hex, rc_pid, pid);
    free(status);
    free(all);
    free(pid);
    shm_detach(&h);
    kill(node, SIGKILL);
    waitpid(node, NULL, 0);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- TCase status ---- */

START_TEST(test_status_text)
{
    char *dir = h_tmpdir();
    struct shm_handle h;
    uint32_t id = fake_id(4);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    fake_run(&h, id, 3, "ctl-text", 0);
    set_node(h.run, 1, NODE_UP, ROLE_COORDINATOR, 1, 2001);

    struct h_proc p;
    int rc = h_run(&p, dir, "status", CMD_TIMEOUT, "status", hex, NULL);
    char *out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d", hex, rc);
    ck_assert_msg(strstr(out, "critical section: free ") != NULL && !strstr(out, "free0"),
                  "a free critical section:\n%s", out);
    ck_assert_msg(strstr(out, "running") != NULL, "no phase:\n%s", out);
    free(out);

    atomic_store(&h.run->res.holder, 2u | (1u << 16));
    rc = h_run(&p, dir, "status", CMD_TIMEOUT, "status", hex, NULL);
    out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d", hex, rc);
    ck_assert_msg(strstr(out, "critical section: node 2 ") != NULL,
                  "node 2 in the critical section:\n%s", out);
    free(out);

    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Raft's table: role, term, the log's indexes and the leader each node
 * knows; the clients' progress; the same in --json. */
START_TEST(test_status_raft)
{
    char *dir = h_tmpdir();
    struct shm_handle h;
    uint32_t id = fake_id(13);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    fake_run_of(&h, id, 3, 2, "raft", "ctl-raft", 0);
    struct shm_run *r = h.run;
    r->params.requests = 7; /* client 1: 4, client 2: 3 */
    r->params.clients = 2;
    for (int k = 1; k <= 3; k++) {
        set_node(r, k, NODE_UP, k == 2 ? ROLE_LEADER : ROLE_FOLLOWER, 4, 3000 + k);
        atomic_store(&r->node[k].commit_index, 10 + k);
        atomic_store(&r->node[k].last_index, 20 + k);
        atomic_store(&r->node[k].applied_index, 30 + k);
        atomic_store(&r->node[k].leader, k == 3 ? 0 : 2);
    }
    atomic_store(&r->node[4].state, NODE_UP);
    atomic_store(&r->node[4].pid, 3004);
    atomic_store(&r->node[4].requests_done, 4);
    atomic_store(&r->node[4].ops_ok, 3);
    atomic_store(&r->node[4].ops_timeout, 1);
    atomic_store(&r->node[4].workload_done, 1);
    atomic_store(&r->node[5].state, NODE_DOWN);
    atomic_store(&r->node[5].requests_done, 1);
    atomic_store(&r->node[5].ops_fail, 1);

    struct h_proc p;
    int rc = h_run(&p, dir, "status", CMD_TIMEOUT, "status", hex, NULL);
    char *out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d", hex, rc);
    static const char *const want[] = {
        "raft, 3 nodes and 2 clients, running",
        "leader: node 2 (term 4)\n",
        "node      pid state    role         term  inc   commit     last  applied leader",
        "   1     3001 up       follower        4    0       11       21       31      2",
        "   2     3002 up       leader          4    0       12       22       32      2",
        "   3     3003 up       follower        4    0       13       23       33      -",
        "client   id      pid state         done/quota       ok   fail timeout",
        "     1    4     3004 up                   4/4        3      0       1  [done]",
        "     2    5        0 down                 1/3        0      1       0\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "no '%s' in:\n%s", want[i], out);
    ck_assert_msg(!strstr(out, "critical section"), "a mutex line in a raft status:\n%s", out);
    free(out);

    rc = h_run(&p, dir, "status", CMD_TIMEOUT, "status", hex, "--json", NULL);
    out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab status %s --json` exited %d", hex, rc);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    ck_assert_msg(o != NULL, "not JSON (%s):\n%s", je.text, out);
    ck_assert_int_eq(h_jint(o, "clients"), 2);
    json_t *nodes = json_object_get(o, "nodes_table");
    ck_assert_int_eq(json_array_size(nodes), 3);
    json_t *n2 = json_array_get(nodes, 1);
    ck_assert_str_eq(h_jstr(n2, "role"), "leader");
    ck_assert_int_eq(h_jint(n2, "term"), 4);
    ck_assert_int_eq(h_jint(n2, "commit_index"), 12);
    ck_assert_int_eq(h_jint(n2, "last_index"), 22);
    ck_assert_int_eq(h_jint(n2, "applied_index"), 32);
    ck_assert_int_eq(h_jint(n2, "leader"), 2);
    ck_assert(json_is_null(json_object_get(json_array_get(nodes, 2), "leader")));
    json_t *cl = json_object_get(o, "clients_table");
    ck_assert_int_eq(json_array_size(cl), 2);
    json_t *c1 = json_array_get(cl, 0), *c2 = json_array_get(cl, 1);
    ck_assert_int_eq(h_jint(c1, "id"), 4);
    ck_assert_int_eq(h_jint(c1, "quota"), 4);
    ck_assert_int_eq(h_jint(c1, "ok"), 3);
    ck_assert_int_eq(h_jint(c1, "timeout"), 1);
    ck_assert(json_is_true(json_object_get(c1, "workload_done")));
    ck_assert_int_eq(h_jint(c2, "quota"), 3);
    ck_assert_int_eq(h_jint(c2, "fail"), 1);
    ck_assert_str_eq(h_jstr(c2, "state"), "down");
    json_decref(o);
    free(out);

    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Where runs a and b are in a `status --all --json` array (-1: absent). */
static void ids_of(const json_t *arr, const char *a, const char *b, int *ia, int *ib)
{
    *ia = *ib = -1;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *id = h_jstr(v, "run_id");
        if (strcmp(id, a) == 0)
            *ia = (int)i;
        if (strcmp(id, b) == 0)
            *ib = (int)i;
    }
}

START_TEST(test_several_runs)
{
    char *dir = h_tmpdir();
    char name[64];
    snprintf(name, sizeof name, "ctl-multi-%d", (int)getpid());
    /* Both started "in the future", so they are the newest live runs on the
     * machine even while other tests run; b is the newer. */
    struct shm_handle ha, hb;
    uint32_t a = fake_id(5), b = fake_id(6);
    char ahex[16], bhex[16];
    fake_hex(ahex, sizeof ahex, a);
    fake_hex(bhex, sizeof bhex, b);
    fake_run(&ha, a, 2, name, 3600);
    fake_run(&hb, b, 3, name, 7200);

    /* Two fake nodes, one per run, that a wrong pick would signal. */
    pid_t na = spawn_waiter(1, a, false), nb = spawn_waiter(1, b, false);
    set_node(ha.run, 1, NODE_UP, ROLE_COORDINATOR, 1, na);
    set_node(hb.run, 1, NODE_UP, ROLE_COORDINATOR, 1, nb);

    /* No RUN: refused, whatever command, and both runs listed. */
    static const char *const cmds[][2] = {
        {"pid", "--coordinator"}, {"kill", "1"}, {"pause", "--coordinator"},
        {"restart", "1"},         {"status", NULL}};
    char want[256], la[160], lb[160];
    snprintf(la, sizeof la, "run %s  %s  centralized, 2 nodes, running", ahex, name);
    snprintf(lb, sizeof lb, "run %s  %s  centralized, 3 nodes, running", bhex, name);
    struct h_proc p;
    int rc;
    char *out, *err;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        rc = h_run(&p, dir, cmds[i][0], CMD_TIMEOUT, cmds[i][0], cmds[i][1], NULL);
        out = h_out(&p);
        err = h_err(&p);
        ck_assert_msg(rc == 2, "`distlab %s` with several live runs exited %d:\n%s%s", cmds[i][0],
                      rc, out, err);
        ck_assert_msg(out[0] == '\0', "`distlab %s` printed on stdout:\n%s", cmds[i][0], out);
        snprintf(want, sizeof want, "live runs; name one: distlab %s RUN", cmds[i][0]);
        ck_assert_msg(strstr(err, want) && strstr(err, la) && strstr(err, lb),
                      "stderr does not say '%s' and list both runs:\n%s", want, err);
        free(out);
        free(err);
        /* The same with the name both runs have. */
        rc = h_run(&p, dir, "named", CMD_TIMEOUT, cmds[i][0], name, cmds[i][1], NULL);
        out = h_out(&p);
        err = h_err(&p);
        ck_assert_msg(rc == 2, "`distlab %s %s` exited %d:\n%s%s", cmds[i][0], name, rc, out, err);
        ck_assert_msg(out[0] == '\0', "`distlab %s %s` printed on stdout:\n%s", cmds[i][0], name,
                      out);
        snprintf(want, sizeof want, "2 live runs match '%s'; name one by its id", name);
        ck_assert_msg(strstr(err, want) && strstr(err, la) && strstr(err, lb),
                      "stderr does not say '%s' and list both runs:\n%s", want, err);
        free(out);
        free(err);
    }
    assert_untouched(na, "run a's node 1", "refused commands");
    assert_untouched(nb, "run b's node 1", "refused commands");
    ck_assert_int_eq(atomic_load(&ha.run->node[1].restart_asked), 0);
    ck_assert_int_eq(atomic_load(&hb.run->node[1].restart_asked), 0);

    /* By id: that run, no note. */
    rc = h_run(&p, dir, "byid", CMD_TIMEOUT, "status", ahex, NULL);
    err = h_err(&p);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d: %s", ahex, rc, err);
    ck_assert_msg(err[0] == '\0', "a note for a run named by id:\n%s", err);
    free(err);
    expect_pid(dir, bhex, "--coordinator", nb, "run b named by id");
    expect_pid(dir, ahex, "1", na, "run a named by id");

    /* --all: one line each. */
    rc = h_run(&p, dir, "all", CMD_TIMEOUT, "status", "--all", NULL);
    out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab status --all` exited %d", rc);
    ck_assert_msg(strstr(out, la) && strstr(out, lb), "`status --all` lacks '%s' or '%s':\n%s",
                  la, lb, out);
    ck_assert_msg(strstr(out, lb) < strstr(out, la), "not newest first:\n%s", out);
    ck_assert_msg(!strstr(out, "critical section"), "not one line per run:\n%s", out);
    free(out);

    /* --all --json: an array. */
    rc = h_run(&p, dir, "alljson", CMD_TIMEOUT, "status", "--all", "--json", NULL);
    ck_assert_msg(rc == 0, "`distlab status --all --json` exited %d", rc);
    json_t *arr = h_json_file(p.out);
    ck_assert_msg(json_is_array(arr), "`status --all --json` is not an array");
    int ia, ib;
    ids_of(arr, ahex, bhex, &ia, &ib);
    ck_assert_msg(ia >= 0 && ib >= 0 && ib < ia, "runs %s (at %d) and %s (at %d) in the array",
                  bhex, ib, ahex, ia);
    json_t *ea = json_array_get(arr, (size_t)ia);
    ck_assert_str_eq(h_jstr(ea, "name"), name);
    ck_assert_str_eq(h_jstr(ea, "algorithm"), "centralized");
    ck_assert_int_eq(h_jint(ea, "nodes"), 2);
    ck_assert_str_eq(h_jstr(ea, "phase"), "running");
    ck_assert(h_jnum(ea, "elapsed_s") >= 0);
    ck_assert_msg(strstr(h_jstr(ea, "run_dir"), ahex) != NULL, "run_dir");
    json_decref(arr);

    /* --all RUN: only those. */
    rc = h_run(&p, dir, "allname", CMD_TIMEOUT, "status", "--all", "--json", name, NULL);
    ck_assert_msg(rc == 0, "`distlab status --all --json %s` exited %d", name, rc);
    arr = h_json_file(p.out);
    ck_assert_int_eq(json_array_size(arr), 2);
    ck_assert_str_eq(h_jstr(json_array_get(arr, 0), "run_id"), bhex);
    ck_assert_str_eq(h_jstr(json_array_get(arr, 1), "run_id"), ahex);
    json_decref(arr);

    shm_detach(&ha);
    shm_detach(&hb);
    shm_unlink_run(a);
    shm_unlink_run(b);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- TCase help: each command's help lists exactly what it accepts ---- */

/* The options a help text names ("--out", "-o"), each once, into opts;
 * whether each takes a value (a word follows it in the usage line) into
 * arg. */
static int help_options(const char *help, char opts[][32], bool *arg, int cap)
{
    int n = 0;
    for (const char *q = help; *q; q++) {
        if (*q != '-' || (q > help && !strchr(" [{|(,\n", q[-1])))
            continue;
        const char *e = q + 1;
        if (*e == '-')
            e++;
        if (!islower((unsigned char)*e))
            continue;
        while (islower((unsigned char)*e) || *e == '-')
            e++;
        char o[32];
        snprintf(o, sizeof o, "%.*s", (int)(e - q), q);
        q = e - 1;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0)
            continue;
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = strcmp(opts[i], o) == 0;
        if (seen || n == cap)
            continue;
        /* In the usage line (the first), a value follows an option. */
        const char *nl = strchr(help, '\n');
        arg[n] = (!nl || q < nl) && e[0] == ' ' && (isalpha((unsigned char)e[1]));
        snprintf(opts[n++], 32, "%s", o);
    }
    return n;
}

static char *capture(const char *dir, const char *tag, int *rc, const char *a0, const char *a1,
                     const char *a2, const char *a3, const char *a4, char **err)
{
    struct h_proc p;
    *rc = h_run(&p, dir, tag, CMD_TIMEOUT, a0, a1, a2, a3, a4, NULL);
    *err = h_err(&p);
    return h_out(&p);
}

START_TEST(test_help_lists_what_works)
{
    char *dir = h_tmpdir();
    int rc;
    char *err, *top = capture(dir, "help", &rc, "--help", NULL, NULL, NULL, NULL, &err);
    ck_assert_int_eq(rc, 0);
    free(err);

    /* The commands: the "  name  summary" lines of `distlab --help`. */
    char cmds[32][16];
    int ncmds = 0;
    for (char *line = strtok(top, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] == ' ' && line[1] == ' ' && islower((unsigned char)line[2]) && ncmds < 32)
            sscanf(line + 2, "%15s", cmds[ncmds++]);
    free(top);
    ck_assert_msg(ncmds >= 10, "`distlab --help` lists %d commands", ncmds);

    /* Every option any help names, and some that none should. */
    char helps[32][4096];
    char pool[128][32];
    bool pool_arg[128];
    int npool = 0;
    static const char *const extra[] = {"--leader", "--follow", "--all", "--watch", "--json",
                                        "--out", "--seed", "--seeds", "--set", "--quiet",
                                        "-o", "-j", "-w", "-a", "-q", "-s", "-S", "-n"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        snprintf(pool[npool], 32, "%s", extra[i]);
        pool_arg[npool++] = false;
    }
    for (int c = 0; c < ncmds; c++) {
        char *h = capture(dir, cmds[c], &rc, cmds[c], "--help", NULL, NULL, NULL, &err);
        ck_assert_msg(rc == 0 && strncmp(h, "usage: distlab ", 15) == 0,
                      "`distlab %s --help` exited %d:\n%s%s", cmds[c], rc, h, err);
        snprintf(helps[c], sizeof helps[c], "%s", h);
        free(h);
        free(err);
        char o[32][32];
        bool a[32];
        int n = help_options(helps[c], o, a, 32);
        for (int i = 0; i < n; i++) {
            int j = 0;
            while (j < npool && strcmp(pool[j], o[i]) != 0)
                j++;
            if (j == npool && npool < 128)
                memcpy(pool[npool++], o[i], sizeof pool[0]);
            if (j < 128)
                pool_arg[j] = pool_arg[j] || a[i];
        }
    }

    /* Each command with each option of the pool, alone, on arguments that
     * name nothing (no such run, file or directory): an option its help
     * names must be taken (no usage error); any other must be refused
     * with a usage error (exit 2). */
    for (int c = 0; c < ncmds; c++) {
        if (strcmp(cmds[c], "clean") == 0)
            continue; /* below: it takes nothing */
        char o[32][32];
        bool a[32];
        int n = help_options(helps[c], o, a, 32);
        /* The operand: a run id that is not live for the run commands, a
         * file or directory that does not exist for the others. */
        const char *operand = "/nonexistent/x.ini";
        if (strstr(helps[c], "[RUN]"))
            operand = "0000dead";
        else if (strstr(helps[c], "RUNDIR"))
            operand = "/nonexistent/rundir";
        for (int j = 0; j < npool; j++) {
            bool listed = false;
            for (int i = 0; i < n && !listed; i++)
                listed = strcmp(o[i], pool[j]) == 0;
            const char *value = pool_arg[j] ? "1" : NULL;
            /* Watching needs something to end: only with a run. */
            char *out = capture(dir, "opt", &rc, cmds[c], operand, pool[j], value, NULL, &err);
            bool usage = strstr(err, "usage: distlab") != NULL;
            if (listed)
                ck_assert_msg(!usage,
                              "`distlab %s %s %s` (an option its help lists) exited %d:\n%s",
                              cmds[c], operand, pool[j], rc, err);
            else
                ck_assert_msg(usage && rc == 2,
                              "`distlab %s %s %s` (an option its help does not list) exited "
                              "%d without a usage error:\n%s%s",
                              cmds[c], operand, pool[j], rc, out, err);
            free(out);
            free(err);
        }
    }
    /* clean: no option at all (a real clean runs only if one is taken). */
    int lock = h_lock("clean", LOCK_TIMEOUT);
    for (int j = 0; j < npool; j++) {
        char *out = capture(dir, "clean", &rc, "clean", pool[j], NULL, NULL, NULL, &err);
        ck_assert_msg(rc == 2 && strstr(err, "usage: distlab clean"),
                      "`distlab clean %s` exited %d:\n%s%s", pool[j], rc, out, err);
        free(out);
        free(err);
    }
    h_unlock(lock);

    /* Every command the design names is in this version: diagram, the
     * last to arrive, is listed. */
    bool diagram = false;
    for (int c = 0; c < ncmds; c++)
        diagram = diagram || strcmp(cmds[c], "diagram") == 0;
    ck_assert_msg(diagram, "`distlab --help` does not list diagram");
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- TCase mailbox: the tool's side of the command mailbox ---- */

static bool has(const char *text, const char *want)
{
    return strstr(text, want) != NULL;
}

/* The arguments of the network commands reach the supervisor as typed,
 * after the tool checked them against the run's size; a mailbox a dead
 * tool left claimed is taken over. */
START_TEST(test_mailbox_commands)
{
    char *dir = h_tmpdir();
    uint32_t id = fake_id(12);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    signal(SIGUSR2, SIG_IGN);
    struct shm_handle h;
    fake_run(&h, id, 5, "ctl-mailbox", 0);
    struct shm_run *r = h.run;
    char *text;

    int rc = run_served(dir, &text, r, true, "partition", hex, "1,2/3,4,5", NULL);
    ck_assert_msg(rc == 0 && served.op == CMD_PARTITION && strcmp(served.arg, "1,2/3,4,5") == 0,
                  "`distlab partition %s 1,2/3,4,5` exited %d (op %d, arg '%s'):\n%s", hex, rc,
                  served.op, served.arg, text);
    free(text);
    rc = run_served5(dir, &text, r, true, "net", hex, "loss=0.1", "delay=5ms", "1->3");
    ck_assert_msg(
        rc == 0 && served.op == CMD_NET && strcmp(served.arg, "loss=0.1 delay=5ms 1->3") == 0,
        "`distlab net` exited %d (op %d, arg '%s'):\n%s", rc, served.op, served.arg, text);
    free(text);
    rc = run_served(dir, &text, r, true, "heal", hex, NULL, NULL);
    ck_assert_msg(rc == 0 && served.op == CMD_HEAL, "`distlab heal` exited %d:\n%s", rc, text);
    free(text);

    /* Refused by the tool, nothing posted: exit 2 and what was wrong. */
    int before = served.count;
    static const struct {
        const char *a1, *a2, *a3, *want;
    } bad[] = {
        {"1,2/9", NULL, NULL, "bad spec '1,2/9': node 9 is not in 1..5"},
        {"1->", NULL, NULL, "bad spec '1->'"},
        {"loss=2", NULL, NULL, "loss"},
        {"delay=soon", NULL, NULL, "delay"},
        {"1->3", NULL, NULL, "nothing to set"},
        {"loss=0.1", "1->7", NULL, "bad links '1->7'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *cmd = i < 2 ? "partition" : "net";
        rc = run_served(dir, &text, r, true, cmd, hex, bad[i].a1, bad[i].a2);
        ck_assert_msg(rc == 2 && has(text, bad[i].want) && text[0] == '\n',
                      "`distlab %s %s %s %s` exited %d, expected 2 and '%s':\n%s", cmd, hex,
                      bad[i].a1, bad[i].a2 ? bad[i].a2 : "", rc, bad[i].want, text);
        free(text);
    }
    ck_assert_int_eq(served.count, before);

    /* Claimed by a tool that died: taken over. */
    atomic_store(&r->cmd.tool_pid, dead_pid());
    atomic_store(&r->cmd.state, CMD_CLAIMED);
    rc = run_served(dir, &text, r, true, "heal", hex, NULL, NULL);
    ck_assert_msg(rc == 0 && served.count == before + 1,
                  "`distlab heal` with a dead tool's claim exited %d:\n%s", rc, text);
    free(text);
    /* An answer a dead tool never collected: taken over too. */
    atomic_store(&r->cmd.tool_pid, dead_pid());
    atomic_store(&r->cmd.state, CMD_ANSWERED);
    rc = run_served(dir, &text, r, true, "heal", hex, NULL, NULL);
    ck_assert_msg(rc == 0 && served.count == before + 2,
                  "`distlab heal` with a dead tool's answer exited %d:\n%s", rc, text);
    free(text);
    /* Claimed by a tool that died before writing its pid: taken over
     * after a second. */
    atomic_store(&r->cmd.tool_pid, 0);
    atomic_store(&r->cmd.state, CMD_CLAIMED);
    rc = run_served(dir, &text, r, true, "heal", hex, NULL, NULL);
    ck_assert_msg(rc == 0 && served.count == before + 3,
                  "`distlab heal` with an orphaned claim exited %d:\n%s", rc, text);
    free(text);

    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* A supervisor that does not answer: the tool gives up after 5 s, exit 1,
 * saying so; a live tool's claim is never taken. */
START_TEST(test_mailbox_no_answer)
{
    char *dir = h_tmpdir();
    uint32_t id = fake_id(13);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    signal(SIGUSR2, SIG_IGN);
    struct shm_handle h;
    fake_run(&h, id, 5, "ctl-silent", 0);
    struct shm_run *r = h.run;
    char *text;
    double t0 = h_now();
    int rc = run_cmd(dir, &text, "heal", hex, NULL, NULL);
    double took = h_now() - t0;
    ck_assert_msg(rc == 1 && has(text, "did not answer within 5s") && took >= 4.5,
                  "`distlab heal` of a silent supervisor exited %d after %.1f s:\n%s", rc, took,
                  text);
    free(text);
    ck_assert_int_eq(atomic_load(&r->cmd.state), CMD_POSTED);

    /* Held by a live process (this one): busy, nothing taken. */
    atomic_store(&r->cmd.tool_pid, getpid());
    atomic_store(&r->cmd.state, CMD_CLAIMED);
    uint32_t seq = atomic_load(&r->cmd.seq);
    rc = run_cmd(dir, &text, "kill", hex, "1", NULL);
    ck_assert_msg(rc == 1 && has(text, "mailbox of run") && has(text, "is busy"),
                  "`distlab kill` with the mailbox held exited %d:\n%s", rc, text);
    free(text);
    ck_assert_int_eq(atomic_load(&r->cmd.state), CMD_CLAIMED);
    ck_assert_int_eq(atomic_load(&r->cmd.tool_pid), getpid());
    ck_assert_int_eq(atomic_load(&r->cmd.seq), seq);

    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* The progress line on a terminal that shrinks between two draws: the
 * spaces over the longer line before never reach the new last column
 * (there they would wrap, and leave a line behind at every draw). */
static void set_cols(int fd, int cols)
{
    struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
    ck_assert(ioctl(fd, TIOCSWINSZ, &ws) == 0);
}

START_TEST(test_progress_shrunk_terminal)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    ck_assert(slave >= 0);
    struct shm_run *r = calloc(1, sizeof *r);
    ck_assert(r != NULL);
    r->n = 3;
    struct progress p;
    progress_init(&p, slave, true);
    ck_assert(p.on);
    progress_fault(&p, "partition", 2, false);
    set_cols(master, 120);
    progress_draw(&p, r, 1000000, 0, 20000000);
    size_t wide = p.shown;
    ck_assert_uint_gt(wide, 40);
    set_cols(master, 30);
    progress_draw(&p, r, 2000000, 0, 20000000);
    ck_assert_uint_le(p.shown, 29);
    /* A pty passes writes on asynchronously: read until both draws are
     * in and the terminal has nothing more for a moment (5 s at most). */
    char buf[4096];
    size_t got = 0;
    int crs = 0;
    for (double end = h_now() + 5.0; h_now() < end && got < sizeof buf - 1;) {
        struct pollfd pf = {.fd = master, .events = POLLIN};
        int ready = poll(&pf, 1, crs >= 2 ? 100 : 500);
        if (ready <= 0) {
            if (crs >= 2)
                break;
            continue;
        }
        ssize_t n = read(master, buf + got, sizeof buf - 1 - got);
        ck_assert(n > 0);
        for (ssize_t i = 0; i < n; i++)
            crs += buf[got + (size_t)i] == '\r';
        got += (size_t)n;
    }
    buf[got] = '\0';
    ck_assert_msg(crs >= 2, "the terminal got %d draws: '%s'", crs, buf);
    /* Two draws, each "\r" and what follows it. */
    char *second = strrchr(buf, '\r');
    ck_assert(second && second != buf);
    ck_assert_msg(strlen(second + 1) <= 29, "the second draw writes %zu columns on 30: '%s'",
                  strlen(second + 1), second + 1);
    progress_clear(&p);
    free(r);
    close(slave);
    close(master);
}
END_TEST

static Suite *control_suite(void)
{
    Suite *s = suite_create("control");
    struct {
        const char *name;
        const TTest *tests[4];
    } cases[] = {
        {"clean", {test_clean_live_other_version, test_clean_no_magic, test_clean_stale_clients}},
        {"roles", {test_pid_role, test_pid_leader}},
        {"status", {test_status_text, test_several_runs, test_status_raft}},
        {"planted",
         {test_planted_launcher, test_planted_pids, test_not_yours, test_crowded_by_foreign}},
        {"help", {test_help_lists_what_works}},
        {"mailbox", {test_mailbox_commands, test_mailbox_no_answer}},
        {"progress", {test_progress_shrunk_terminal}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, TCASE_TIMEOUT);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        for (int k = 0; k < 4 && cases[i].tests[k]; k++)
            tcase_add_test(tc, cases[i].tests[k]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(int argc, char **argv)
{
    /* Started as a fake node (spawn_waiter): wait to be killed, or to die
     * with the test that started it. */
    if (getenv("CHECK_CONTROL_FAKE_NODE")) {
        (void)argc;
        (void)argv;
        for (;;)
            pause();
    }
    if (proc_self_exe(self_exe, sizeof self_exe) < 0) {
        fprintf(stderr, "check_control: cannot find its own executable\n");
        return EXIT_FAILURE;
    }
    /* 24 random bits for the fake run ids; none may be in use already. */
    runner_pid = getpid();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint32_t seed = (uint32_t)now.tv_nsec ^ ((uint32_t)getpid() << 12);
    for (int tries = 0;; tries++) {
        seed = seed * 1664525u + 1013904223u;
        fake_base = (seed >> 8) << 8;
        bool free_ = true;
        for (int k = 0; k < FAKE_IDS && free_; k++) {
            char path[64];
            path_of(path, sizeof path, fake_id(k));
            free_ = access(path, F_OK) != 0;
        }
        if (free_)
            break;
        if (tries > 100) {
            fprintf(stderr, "check_control: no free fake run ids\n");
            return EXIT_FAILURE;
        }
    }
    atexit(fake_cleanup_at_exit);

    SRunner *sr = srunner_create(control_suite());
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, default normal */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
