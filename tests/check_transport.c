/* The transport over real POSIX message queues and shared memory: bursts into
 * a depth-10 queue, two-way full queues, junk on the wire, bulk payloads
 * through shared memory, the byte budget and cut links.
 *
 * Every test runs in its own run (random run id, its own segment and queues).
 * The checked fixture creates the run in the forked test process and its
 * teardown removes it there and asserts nothing is left. Check skips a checked
 * teardown when the test failed (the test process _exits), so every run id is
 * also recorded in a registry shared with the runner process, whose unchecked
 * teardown removes whatever a failed test left behind. Helper processes never
 * call ck_assert: they report through their exit status. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mqueue.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/loop.h"
#include "ipc/mq.h"
#include "ipc/shm.h"
#include "ipc/trace.h"
#include "ipc/transport.h"
#include "ipc/util.h"
#include "ipc/wire.h"
#include "nodes/runtime.h"

#define DEADLINE_US (30 * 1000000LL) /* a deadlock becomes a failure, not a hang */
#define MAX_KIDS 16

/* ---- registry of live runs, shared with the runner process ---------------- */

#define REG_MAX 32
struct reg_entry {
    _Atomic uint32_t id; /* 0: free */
    _Atomic int32_t nq;  /* queues n0 .. n<nq-1> may exist */
};
static struct reg_entry *reg; /* MAP_SHARED, mapped in main() before any fork */

static void reg_add(uint32_t id, int nq)
{
    for (int i = 0; i < REG_MAX; i++) {
        uint32_t free_id = 0;
        if (atomic_compare_exchange_strong(&reg[i].id, &free_id, id)) {
            atomic_store(&reg[i].nq, nq);
            return;
        }
    }
    ck_abort_msg("run registry full");
}

static void reg_del(uint32_t id)
{
    for (int i = 0; i < REG_MAX; i++)
        if (atomic_load(&reg[i].id) == id)
            atomic_store(&reg[i].id, 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The run directory of a test that runs real nodes in run `id`. */
static void rt_dir(char *buf, size_t cap, uint32_t id)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, cap, "%s/check_transport.%08x", tmp && *tmp ? tmp : P_tmpdir, id);
}

static void rt_dir_remove(uint32_t id)
{
    char dir[1024];
    rt_dir(dir, sizeof dir, id);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Unchecked teardown, in the runner process: remove what a failed test left. */
static void sweep(void)
{
    for (int i = 0; i < REG_MAX; i++) {
        uint32_t id = atomic_load(&reg[i].id);
        if (!id)
            continue;
        for (int k = 0; k < atomic_load(&reg[i].nq); k++)
            mq_unlink_queue(id, k);
        shm_unlink_run(id);
        rt_dir_remove(id);
        fprintf(stderr, "check_transport: removed the IPC objects of run %08x (failed test)\n",
                id);
        atomic_store(&reg[i].id, 0);
    }
}

/* ---- small helpers --------------------------------------------------------- */

static uint32_t random_id(void)
{
    uint32_t id = 0;
    while (id == 0)
        ck_assert_int_eq(getrandom(&id, sizeof id, 0), (ssize_t)sizeof id);
    return id;
}

/* Polling interval while waiting for a condition. */
static void nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static uint64_t cnt(const struct shm_run *r, int k, int c)
{
    return atomic_load(&r->node[k].cnt[c]);
}

static bool queue_gone(uint32_t id, int k)
{
    char name[64];
    mq_queue_name(name, sizeof name, id, k);
    mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK);
    if (q != (mqd_t)-1) {
        mq_close(q);
        return false;
    }
    return errno == ENOENT;
}

static bool segment_gone(uint32_t id)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/" SHM_PREFIX "%08x", id);
    return stat(path, &st) < 0 && errno == ENOENT;
}

/* ---- the run fixture ------------------------------------------------------- */

static struct {
    struct shm_handle h;
    struct shm_run *r;
    uint32_t id;
    int n;
    int procs; /* n + clients */
    bool live;
    pid_t kids[MAX_KIDS]; /* 0 once reaped */
    int nkids;
} fx;

static void run_create_clients(int n, int clients)
{
    char err[DL_ERRLEN] = "";
    memset(&fx, 0, sizeof fx);
    fx.n = n;
    fx.procs = n + clients;
    for (int tries = 0;; tries++) {
        fx.id = random_id();
        reg_add(fx.id, n + clients + 1);
        int rc = shm_create_clients(&fx.h, fx.id, n, clients, err);
        if (rc == 0)
            break;
        reg_del(fx.id); /* not ours: never remove another run's objects */
        ck_assert_msg(rc == -EEXIST && tries < 5, "shm_create: %s", err);
    }
    fx.live = true;
    fx.r = fx.h.run;
    fx.r->msgsize = (uint32_t)mq_msgsize_for(fx.procs);
    fx.r->maxmsg = MQ_DEPTH;
    for (int k = 0; k <= fx.procs; k++) {
        int rc = mq_create_queue(fx.id, k, fx.r->msgsize, fx.procs + 1, err);
        ck_assert_msg(rc == 0, "mq_create_queue(n%d): %s", k, err);
    }
}

static void run_create(int n) { run_create_clients(n, 0); }

static void setup_n2(void) { run_create(2); }
static void setup_n3(void) { run_create(3); }
static void setup_n3_c2(void) { run_create_clients(3, 2); }
static void setup_n9(void) { run_create(9); }

/* Checked teardown. Idempotent: in CK_FORK=no mode a failed assertion here
 * jumps back into Check, which runs the teardown again. */
static void run_destroy(void)
{
    if (!fx.live)
        return;
    fx.live = false;
    for (int i = 0; i < fx.nkids; i++) {
        if (fx.kids[i] > 0) {
            kill(fx.kids[i], SIGKILL);
            waitpid(fx.kids[i], NULL, 0);
            fx.kids[i] = 0;
        }
    }
    int unlinked[DL_MAX_PROCS + 1];
    for (int k = 0; k <= fx.procs; k++)
        unlinked[k] = mq_unlink_queue(fx.id, k);
    shm_detach(&fx.h);
    int seg = shm_unlink_run(fx.id);
    reg_del(fx.id);

    for (int k = 0; k <= fx.procs; k++)
        ck_assert_msg(unlinked[k] == 0, "mq_unlink_queue(n%d): %s", k, strerror(-unlinked[k]));
    ck_assert_msg(seg == 0, "shm_unlink_run: %s", strerror(-seg));
    ck_assert_msg(segment_gone(fx.id), "/dev/shm/distlab.%08x still exists", fx.id);
    for (int k = 0; k <= fx.procs; k++)
        ck_assert_msg(queue_gone(fx.id, k), "queue n%d of run %08x still opens", k, fx.id);
}

/* ---- helper processes ------------------------------------------------------ */

/* Fork a helper that runs fn(arg) and _exits with its result (0 = success).
 * It dies with the test process (PR_SET_PDEATHSIG) and never touches Check. */
static pid_t spawn(int (*fn)(void *), void *arg)
{
    ck_assert_int_lt(fx.nkids, MAX_KIDS);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(99);
        _exit(fn(arg));
    }
    fx.kids[fx.nkids++] = pid;
    return pid;
}

/* Reap pid before the deadline: its wait status, or -1 on timeout. */
static int wait_kid(pid_t pid, int64_t deadline)
{
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            for (int i = 0; i < fx.nkids; i++)
                if (fx.kids[i] == pid)
                    fx.kids[i] = 0;
            return st;
        }
        if (w < 0 && errno != EINTR)
            return -1;
        if (dl_mono_us() > deadline)
            return -1;
        nap();
    }
}

static void assert_exit0(pid_t pid, int st, const char *who)
{
    ck_assert_msg(st != -1, "%s (pid %d) did not finish before the deadline", who, (int)pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s (pid %d) %s %d", who, (int)pid,
                  WIFEXITED(st) ? "exited with" : "was killed by signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Block until the start pipe's write end is closed by the test process. */
static int wait_go(int fd)
{
    char c;
    ssize_t r;
    do {
        r = read(fd, &c, 1);
    } while (r < 0 && errno == EINTR);
    close(fd);
    return r == 0 ? 0 : -1;
}

/* ---- 1. burst: 8 senders into one depth-10 queue ------------------------- */

#define BURST_SENDERS 8
#define BURST_MSGS 1000
#define BURST_RECEIVER 9
#define BURST_TYPE 0x0100

struct burst_kid {
    int self;
    int go_rd, go_wr;
};

/* Exit codes of a burst sender. */
enum { K_GO = 2, K_LOOP, K_OPEN, K_SEND, K_ONCE, K_DRAIN };

static int burst_sender(void *arg)
{
    struct burst_kid *b = arg;
    char err[DL_ERRLEN];
    close(b->go_wr);
    if (wait_go(b->go_rd) < 0)
        return K_GO;
    struct loop l;
    struct transport t;
    if (loop_init(&l, err) < 0)
        return K_LOOP;
    if (transport_open(&t, &l, fx.r, b->self, err) < 0)
        return K_OPEN;
    for (int seq = 0; seq < BURST_MSGS; seq++) {
        struct wire_hdr h = {.type = BURST_TYPE, .to = BURST_RECEIVER};
        h.f[0] = seq;
        h.f[1] = b->self;
        if (transport_send(&t, &h, NULL) != 0)
            return K_SEND;
    }
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    while (transport_backlog(&t) > 0) {
        if (loop_once(&l, 100) < 0)
            return K_ONCE;
        if (dl_mono_us() > deadline)
            return K_DRAIN;
    }
    transport_close(&t);
    loop_fini(&l);
    return 0;
}

struct burst_rx {
    struct transport *t;
    int64_t next[BURST_SENDERS + 1]; /* next expected sequence per sender */
    int total;
    bool bad;
    char why[256];
};

static void burst_on_in(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    struct burst_rx *s = w->arg;
    for (;;) {
        struct wire_hdr h;
        const uint8_t *p;
        int rc = transport_recv(s->t, &h, &p);
        if (rc == 0)
            return;
        if (rc != 1) {
            if (!s->bad)
                snprintf(s->why, sizeof s->why, "transport_recv returned %d (%s)", rc,
                         wire_err_name(s->t->last_err));
            s->bad = true;
            return;
        }
        s->total++;
        if (h.from < 1 || h.from > BURST_SENDERS || h.type != BURST_TYPE || h.f[1] != h.from ||
            h.len != 0 || h.f[0] != s->next[h.from]) {
            if (!s->bad)
                snprintf(s->why, sizeof s->why,
                         "message #%d: from %u type %#x f[0] %lld f[1] %lld, expected seq %lld",
                         s->total, h.from, h.type, (long long)h.f[0], (long long)h.f[1],
                         h.from >= 1 && h.from <= BURST_SENDERS ? (long long)s->next[h.from]
                                                                : -1LL);
            s->bad = true;
            continue;
        }
        s->next[h.from]++;
    }
}

START_TEST(test_burst_fifo)
{
    struct shm_run *r = fx.r;
    char err[DL_ERRLEN];
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    struct burst_kid kids[BURST_SENDERS];
    pid_t pids[BURST_SENDERS];
    for (int i = 0; i < BURST_SENDERS; i++) {
        kids[i] = (struct burst_kid){.self = i + 1, .go_rd = go[0], .go_wr = go[1]};
        pids[i] = spawn(burst_sender, &kids[i]);
    }
    close(go[0]);

    struct loop l;
    struct transport t;
    ck_assert_msg(loop_init(&l, err) == 0, "%s", err);
    ck_assert_msg(transport_open(&t, &l, r, BURST_RECEIVER, err) == 0, "%s", err);
    struct burst_rx s = {.t = &t};
    struct loop_watch in = {0};
    ck_assert_int_eq(loop_add(&l, &in, t.inbox, EPOLLIN, burst_on_in, &s), 0);

    /* Start all senders at once, then let the queue fill: receive only once
     * every sender has made its first 100 sends (sent or backlogged). */
    close(go[1]);
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    for (int k = 1; k <= BURST_SENDERS; k++) {
        while (cnt(r, k, CNT_SENT) + cnt(r, k, CNT_QUEUE_FULL) < 100) {
            ck_assert_msg(dl_mono_us() < deadline,
                          "sender %d made only %llu sends before the deadline", k,
                          (unsigned long long)(cnt(r, k, CNT_SENT) + cnt(r, k, CNT_QUEUE_FULL)));
            int st;
            ck_assert_msg(waitpid(pids[k - 1], &st, WNOHANG) == 0,
                          "sender %d exited early (status %#x)", k, st);
            nap();
        }
    }

    while (s.total < BURST_SENDERS * BURST_MSGS && !s.bad) {
        ck_assert_msg(dl_mono_us() < deadline,
                      "deadlock? %d of %d messages received before the deadline", s.total,
                      BURST_SENDERS * BURST_MSGS);
        ck_assert_int_ge(loop_once(&l, 100), 0);
    }
    ck_assert_msg(!s.bad, "%s", s.why);

    for (int i = 0; i < BURST_SENDERS; i++) {
        char who[32];
        snprintf(who, sizeof who, "sender %d", i + 1);
        assert_exit0(pids[i], wait_kid(pids[i], deadline), who);
    }
    /* Every sender is gone: nothing more may arrive (no duplicates). */
    struct wire_hdr h;
    const uint8_t *p;
    ck_assert_int_eq(transport_recv(&t, &h, &p), 0);
    ck_assert_int_eq(s.total, BURST_SENDERS * BURST_MSGS);
    for (int k = 1; k <= BURST_SENDERS; k++)
        ck_assert_int_eq(s.next[k], BURST_MSGS);

    uint64_t full = 0, hwm = 0;
    for (int k = 1; k <= BURST_SENDERS; k++) {
        ck_assert_uint_eq(cnt(r, k, CNT_SENT), BURST_MSGS);
        ck_assert_uint_eq(cnt(r, k, CNT_BACKLOG_NOW), 0);
        ck_assert_uint_eq(cnt(r, k, CNT_DROPPED), 0);
        full += cnt(r, k, CNT_QUEUE_FULL);
        hwm += cnt(r, k, CNT_BACKLOG_HWM);
    }
    ck_assert_uint_gt(full, 0);
    ck_assert_uint_gt(hwm, 0);
    ck_assert_uint_eq(cnt(r, BURST_RECEIVER, CNT_MALFORMED), 0);
    ck_assert_uint_eq(cnt(r, BURST_RECEIVER, CNT_DROPPED), 0);

    loop_del(&l, &in);
    transport_close(&t);
    loop_fini(&l);
}
END_TEST

/* ---- 2. two-way full queues ---------------------------------------------- */

#define TWO_MSGS 5000
#define TWO_CHUNK 100 /* > MQ_DEPTH: the first chunk alone fills the peer queue */
#define TWO_TYPE 0x0101

struct two_node {
    int self, peer;
    int go_rd, go_wr; /* -1 in the test process */
    struct transport t;
    int64_t expect;
    bool bad;
};

static void two_on_in(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    struct two_node *s = w->arg;
    struct wire_hdr h;
    const uint8_t *p;
    int rc;
    while ((rc = transport_recv(&s->t, &h, &p)) == 1) {
        int64_t echo = 0;
        if (h.len == sizeof echo)
            memcpy(&echo, p, sizeof echo);
        if (h.from != s->peer || h.type != TWO_TYPE || h.f[0] != s->expect ||
            h.len != sizeof echo || echo != ~s->expect)
            s->bad = true;
        s->expect++;
    }
    if (rc != 0)
        s->bad = true;
}

/* One node: send TWO_MSGS in chunks, receiving between chunks, until all
 * are sent and received and the backlog is empty. 0 on success. */
static int two_way_node(void *arg)
{
    struct two_node *s = arg;
    char err[DL_ERRLEN];
    if (s->go_wr >= 0)
        close(s->go_wr);
    if (s->go_rd >= 0 && wait_go(s->go_rd) < 0)
        return 20;
    struct loop l;
    if (loop_init(&l, err) < 0)
        return 21;
    if (transport_open(&s->t, &l, fx.r, s->self, err) < 0)
        return 22;
    struct loop_watch in = {0};
    if (loop_add(&l, &in, s->t.inbox, EPOLLIN, two_on_in, s) < 0)
        return 23;
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    int sent = 0;
    while (sent < TWO_MSGS || s->expect < TWO_MSGS || transport_backlog(&s->t) > 0) {
        for (int i = 0; i < TWO_CHUNK && sent < TWO_MSGS; i++, sent++) {
            struct wire_hdr h = {.type = TWO_TYPE, .to = (uint16_t)s->peer};
            int64_t echo = ~(int64_t)sent;
            h.f[0] = sent;
            h.len = sizeof echo;
            if (transport_send(&s->t, &h, &echo) != 0)
                return 24;
        }
        if (loop_once(&l, sent < TWO_MSGS ? 0 : 100) < 0)
            return 25;
        if (s->bad)
            return 26;
        if (dl_mono_us() > deadline)
            return 27;
    }
    if (s->expect != TWO_MSGS)
        return 28;
    loop_del(&l, &in);
    transport_close(&s->t);
    loop_fini(&l);
    return 0;
}

START_TEST(test_two_way_no_deadlock)
{
    struct shm_run *r = fx.r;
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    struct two_node b = {.self = 2, .peer = 1, .go_rd = go[0], .go_wr = go[1]};
    pid_t pid = spawn(two_way_node, &b);
    close(go[0]);
    struct two_node a = {.self = 1, .peer = 2, .go_rd = -1, .go_wr = -1};
    close(go[1]); /* both start now */
    int rc = two_way_node(&a);
    int st = wait_kid(pid, dl_mono_us() + DEADLINE_US);
    ck_assert_msg(rc == 0, "node 1 failed with %d after receiving %lld (backlog %llu)", rc,
                  (long long)a.expect, (unsigned long long)transport_backlog(&a.t));
    assert_exit0(pid, st, "node 2");
    ck_assert_int_eq(a.expect, TWO_MSGS);
    for (int k = 1; k <= 2; k++) {
        ck_assert_uint_eq(cnt(r, k, CNT_SENT), TWO_MSGS);
        ck_assert_uint_eq(cnt(r, k, CNT_BACKLOG_NOW), 0);
        ck_assert_uint_eq(cnt(r, k, CNT_MALFORMED), 0);
        ck_assert_uint_eq(cnt(r, k, CNT_DROPPED), 0);
    }
    /* Nobody receives before sending a first chunk of 100, so whoever
     * receives first has already found the other's queue full. */
    ck_assert_uint_gt(cnt(r, 1, CNT_QUEUE_FULL) + cnt(r, 2, CNT_QUEUE_FULL), 0);
}
END_TEST

/* ---- 3. junk on the wire ------------------------------------------------- */

/* A valid header from node 1 to node 2 of this run, as it would be encoded. */
static struct wire_hdr good_hdr(void)
{
    struct wire_hdr h = {.magic = WIRE_MAGIC, .version = WIRE_VERSION, .type = 0x0100,
                         .run_id = fx.id, .from = 1, .to = 2};
    return h;
}

static void raw_send(mqd_t q, const void *buf, size_t len)
{
    ck_assert_msg(mq_send(q, buf, len, 0) == 0, "mq_send: %s", strerror(errno));
}

START_TEST(test_junk_rejected)
{
    struct shm_run *r = fx.r;
    char err[DL_ERRLEN];
    struct loop l;
    struct transport t;
    ck_assert_msg(loop_init(&l, err) == 0, "%s", err);
    ck_assert_msg(transport_open(&t, &l, r, 2, err) == 0, "%s", err);
    char name[64];
    mq_queue_name(name, sizeof name, fx.id, 2);
    mqd_t q = mq_open(name, O_WRONLY | O_NONBLOCK);
    ck_assert_msg(q != (mqd_t)-1, "mq_open %s: %s", name, strerror(errno));

    /* A real bulk slot of node 1 addressed to node 2, to aim a descriptor
     * with the wrong sequence number at. */
    struct shm_bulk_slot *slot = shm_bulk(r, 1, 3);
    slot->len = 100;
    atomic_store(&slot->to, 2);
    atomic_store(&slot->to_incarnation, 0);
    atomic_store(&slot->seq, 77);

    enum { NCASE = 11 };
    uint8_t buf[NCASE][256];
    size_t len[NCASE];
    int want[NCASE];
    const char *what[NCASE];
    int c = 0;
    struct wire_hdr h;
    struct wire_bulk d;

    what[c] = "64 random bytes";
    ck_assert_int_eq(getrandom(buf[c], 64, 0), 64);
    if (memcmp(buf[c], &(uint32_t){WIRE_MAGIC}, 4) == 0)
        buf[c][0] ^= 0xff;
    len[c] = 64, want[c++] = WIRE_ERR_MAGIC;

    what[c] = "10 bytes";
    memset(buf[c], 0x44, 10);
    len[c] = 10, want[c++] = WIRE_ERR_SHORT;

    what[c] = "wrong magic";
    h = good_hdr(), h.magic ^= 0x01000000u;
    memcpy(buf[c], &h, sizeof h), len[c] = sizeof h, want[c++] = WIRE_ERR_MAGIC;

    what[c] = "wrong version";
    h = good_hdr(), h.version = WIRE_VERSION + 1;
    memcpy(buf[c], &h, sizeof h), len[c] = sizeof h, want[c++] = WIRE_ERR_VERSION;

    what[c] = "wrong run id";
    h = good_hdr(), h.run_id = fx.id ^ 0x80000000u;
    memcpy(buf[c], &h, sizeof h), len[c] = sizeof h, want[c++] = WIRE_ERR_RUN;

    what[c] = "from 99";
    h = good_hdr(), h.from = 99;
    memcpy(buf[c], &h, sizeof h), len[c] = sizeof h, want[c++] = WIRE_ERR_FROM;

    what[c] = "to 3";
    h = good_hdr(), h.to = 3;
    memcpy(buf[c], &h, sizeof h), len[c] = sizeof h, want[c++] = WIRE_ERR_TO;

    what[c] = "length 5, 3 bytes sent";
    h = good_hdr(), h.len = 5;
    memcpy(buf[c], &h, sizeof h);
    memcpy(buf[c] + sizeof h, "abc", 3);
    len[c] = sizeof h + 3, want[c++] = WIRE_ERR_LEN;

    what[c] = "unknown flag";
    h = good_hdr(), h.flags = 0x80;
    memcpy(buf[c], &h, sizeof h), len[c] = sizeof h, want[c++] = WIRE_ERR_FLAGS;

    what[c] = "bulk descriptor for slot 999";
    h = good_hdr(), h.flags = WIRE_F_BULK, h.len = sizeof d;
    d = (struct wire_bulk){.slot = 999, .len = 100, .seq = 77};
    memcpy(buf[c], &h, sizeof h), memcpy(buf[c] + sizeof h, &d, sizeof d);
    len[c] = sizeof h + sizeof d, want[c++] = WIRE_ERR_FLAGS;

    what[c] = "bulk descriptor with the wrong seq";
    h = good_hdr(), h.flags = WIRE_F_BULK, h.len = sizeof d;
    d = (struct wire_bulk){.slot = 3, .len = 100, .seq = 78};
    memcpy(buf[c], &h, sizeof h), memcpy(buf[c] + sizeof h, &d, sizeof d);
    len[c] = sizeof h + sizeof d, want[c++] = WIRE_ERR_BULK;
    ck_assert_int_eq(c, NCASE);

    uint64_t kinds[WIRE_ERR_COUNT] = {0};
    for (int i = 0; i < NCASE; i++) {
        raw_send(q, buf[i], len[i]);
        const uint8_t *p;
        t.last_err = WIRE_OK;
        int rc = transport_recv(&t, &h, &p);
        ck_assert_msg(rc == 2, "%s: transport_recv returned %d, not 2", what[i], rc);
        ck_assert_msg(t.last_err == want[i], "%s: rejected as %s, not %s", what[i],
                      wire_err_name(t.last_err), wire_err_name(want[i]));
        kinds[want[i]]++;
    }
    /* The mismatched descriptor left the real slot alone. */
    ck_assert_uint_eq(atomic_load(&slot->seq), 77);

    /* Then a valid message, encoded by wire_encode. */
    h = (struct wire_hdr){.type = 0x0100, .run_id = fx.id, .from = 1, .to = 2, .len = 5};
    h.f[0] = 42;
    uint8_t ok[128];
    int n = wire_encode(ok, sizeof ok, &h, "hello");
    ck_assert_int_eq(n, (int)sizeof h + 5);
    raw_send(q, ok, (size_t)n);
    struct wire_hdr got;
    const uint8_t *p;
    ck_assert_int_eq(transport_recv(&t, &got, &p), 1);
    ck_assert_uint_eq(got.from, 1);
    ck_assert_uint_eq(got.to, 2);
    ck_assert_uint_eq(got.type, 0x0100);
    ck_assert_uint_eq(got.len, 5);
    ck_assert_int_eq(got.f[0], 42);
    ck_assert_mem_eq(p, "hello", 5);
    ck_assert_int_eq(transport_recv(&t, &got, &p), 0);

    ck_assert_uint_eq(cnt(r, 2, CNT_MALFORMED), NCASE);
    for (int k = 0; k < WIRE_ERR_COUNT; k++)
        ck_assert_msg(atomic_load(&r->node[2].malformed_kind[k]) == kinds[k],
                      "malformed_kind[%s] = %llu, expected %llu", wire_err_name(k),
                      (unsigned long long)atomic_load(&r->node[2].malformed_kind[k]),
                      (unsigned long long)kinds[k]);
    ck_assert_uint_eq(kinds[WIRE_ERR_MAGIC], 2);
    ck_assert_uint_eq(kinds[WIRE_ERR_FLAGS], 2);
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), 0);

    mq_close(q);
    transport_close(&t);
    loop_fini(&l);
}
END_TEST

/* ---- 4. bulk payloads through shared memory ------------------------------ */

struct pair {
    struct loop l1, l2;
    struct transport t1, t2; /* nodes 1 and 2 of the fixture's run */
};

static void pair_open(struct pair *pr)
{
    char err[DL_ERRLEN];
    ck_assert_msg(loop_init(&pr->l1, err) == 0, "%s", err);
    ck_assert_msg(loop_init(&pr->l2, err) == 0, "%s", err);
    ck_assert_msg(transport_open(&pr->t1, &pr->l1, fx.r, 1, err) == 0, "%s", err);
    ck_assert_msg(transport_open(&pr->t2, &pr->l2, fx.r, 2, err) == 0, "%s", err);
}

static void pair_close(struct pair *pr)
{
    transport_close(&pr->t1);
    transport_close(&pr->t2);
    loop_fini(&pr->l1);
    loop_fini(&pr->l2);
}

static int slots_in_use(struct shm_run *r, int from)
{
    int used = 0;
    for (int i = 0; i < SHM_BULK_SLOTS; i++)
        used += atomic_load(&shm_bulk(r, from, i)->seq) != 0;
    return used;
}

static void pattern(uint8_t *buf, size_t len, uint32_t salt)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((i * 131u + (i >> 8) * 7u + salt) & 0xff);
}

/* Send len patterned bytes 1 -> 2; check how they travel and that they arrive. */
static void send_and_check(struct pair *pr, size_t len, bool bulk)
{
    struct shm_run *r = fx.r;
    uint8_t *out = malloc(len), *copy = malloc(len);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(copy);
    pattern(out, len, (uint32_t)len);
    memcpy(copy, out, len);
    struct wire_hdr h = {.type = 0x0102, .to = 2, .len = (uint32_t)len};
    h.f[0] = (int64_t)len;
    ck_assert_int_eq(transport_send(&pr->t1, &h, out), 0);
    memset(out, 0, len); /* the transport must have copied it */
    ck_assert_int_eq(slots_in_use(r, 1), bulk ? 1 : 0);

    struct wire_hdr got;
    const uint8_t *p;
    ck_assert_int_eq(transport_recv(&pr->t2, &got, &p), 1);
    ck_assert_uint_eq(got.from, 1);
    ck_assert_uint_eq(got.flags, 0);
    ck_assert_uint_eq(got.len, len);
    ck_assert_int_eq(got.f[0], (int64_t)len);
    ck_assert_msg(memcmp(p, copy, len) == 0, "payload of %zu bytes corrupted", len);
    ck_assert_int_eq(slots_in_use(r, 1), 0); /* freed: every seq is 0 again */
    free(out);
    free(copy);
}

START_TEST(test_bulk_payload)
{
    struct shm_run *r = fx.r;
    ck_assert_uint_eq(r->msgsize, 1024);
    struct pair pr;
    pair_open(&pr);

    send_and_check(&pr, 20000, true);
    /* The boundaries: the largest inline payload, the smallest bulk one,
     * the largest bulk one, and another 20,000 bytes into the next slot. */
    send_and_check(&pr, 1024 - sizeof(struct wire_hdr), false);
    send_and_check(&pr, 1024 - sizeof(struct wire_hdr) + 1, true);
    send_and_check(&pr, SHM_BULK_MAX, true);
    send_and_check(&pr, 20000, true);

    /* The raw queue message of a bulk send is only a header and a descriptor. */
    uint8_t *big = calloc(1, SHM_BULK_MAX + 1);
    ck_assert_ptr_nonnull(big);
    struct wire_hdr h = {.type = 0x0102, .to = 2, .len = 20000};
    ck_assert_int_eq(transport_send(&pr.t1, &h, big), 0);
    uint8_t raw[1024];
    ssize_t n = mq_receive(pr.t2.inbox, (char *)raw, sizeof raw, NULL);
    ck_assert_int_eq(n, (ssize_t)(sizeof(struct wire_hdr) + sizeof(struct wire_bulk)));
    struct wire_hdr rh;
    struct wire_bulk d;
    memcpy(&rh, raw, sizeof rh);
    memcpy(&d, raw + sizeof rh, sizeof d);
    ck_assert_uint_eq(rh.flags, WIRE_F_BULK);
    ck_assert_uint_eq(d.len, 20000);
    ck_assert_uint_lt(d.slot, SHM_BULK_SLOTS);
    ck_assert_uint_eq(atomic_load(&shm_bulk(r, 1, (int)d.slot)->seq), d.seq);
    atomic_store(&shm_bulk(r, 1, (int)d.slot)->seq, 0);

    /* Too big even for a slot. */
    h = (struct wire_hdr){.type = 0x0102, .to = 2, .len = (uint32_t)SHM_BULK_MAX + 1};
    ck_assert_int_eq(transport_send(&pr.t1, &h, big), -EMSGSIZE);
    ck_assert_int_eq(slots_in_use(r, 1), 0);
    struct wire_hdr got;
    const uint8_t *p;
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 0);
    ck_assert_uint_eq(cnt(r, 2, CNT_MALFORMED), 0);
    free(big);
    pair_close(&pr);
}
END_TEST

/* ---- 5. the message-queue byte budget ------------------------------------ */

#define BUDGET_LIMIT 20000
#define BUDGET_TRIES 8
#define BUDGET_NQUEUES 6

struct budget_result {
    int rc;      /* of the failing mq_create_queue (0 if none failed) */
    int created; /* queues created before it */
    int unlinked;
    char err[DL_ERRLEN];
};

struct budget_arg {
    uint32_t id;
    struct budget_result *res; /* MAP_SHARED */
};

static int budget_child(void *arg)
{
    struct budget_arg *a = arg;
    struct budget_result *res = a->res;
    struct rlimit rl;
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) < 0)
        return 30;
    rl.rlim_cur = BUDGET_LIMIT; /* the hard limit stays */
    if (setrlimit(RLIMIT_MSGQUEUE, &rl) < 0)
        return 31;
    for (int k = 0; k < BUDGET_TRIES; k++) {
        int rc = mq_create_queue(a->id, k, 1024, BUDGET_NQUEUES, res->err);
        if (rc < 0) {
            res->rc = rc;
            break;
        }
        res->created++;
    }
    for (int k = 0; k < res->created; k++)
        res->unlinked += mq_unlink_queue(a->id, k) == 0;
    return 0;
}

START_TEST(test_budget_error)
{
    struct budget_result *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(res, MAP_FAILED);
    memset(res, 0, sizeof *res);
    struct budget_arg a = {.id = random_id(), .res = res};
    reg_add(a.id, BUDGET_TRIES);
    pid_t pid = spawn(budget_child, &a);
    int st = wait_kid(pid, dl_mono_us() + DEADLINE_US);
    /* Whatever happened, nothing of this run may remain. */
    for (int k = 0; k < BUDGET_TRIES; k++)
        mq_unlink_queue(a.id, k);
    reg_del(a.id);
    for (int k = 0; k < BUDGET_TRIES; k++)
        ck_assert_msg(queue_gone(a.id, k), "queue n%d of run %08x still opens", k, a.id);
    assert_exit0(pid, st, "budget child");

    ck_assert_msg(res->rc != 0, "%d queues of 10 x 1024 B fit in %d bytes", BUDGET_TRIES,
                  BUDGET_LIMIT);
    ck_assert_int_eq(res->rc, -EMFILE);
    ck_assert_int_lt(res->created, 2); /* 10 x 1 KiB + overhead: at most one fits */
    ck_assert_int_eq(res->unlinked, res->created);
    char want[64];
    ck_assert_msg(strstr(res->err, "RLIMIT_MSGQUEUE"), "no limit named: %s", res->err);
    ck_assert_msg(strstr(res->err, "distlab clean"), "no advice: %s", res->err);
    snprintf(want, sizeof want, "%d queues", BUDGET_NQUEUES);
    ck_assert_msg(strstr(res->err, want), "no queue count: %s", res->err);
    snprintf(want, sizeof want, "%d", BUDGET_LIMIT);
    ck_assert_msg(strstr(res->err, want), "no budget in bytes: %s", res->err);
    munmap(res, sizeof *res);
}
END_TEST

START_TEST(test_sizing)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_MSGQUEUE, &rl), 0);
    ck_assert_msg(rl.rlim_cur == 819200 || rl.rlim_cur == RLIM_INFINITY,
                  "these figures assume the default RLIMIT_MSGQUEUE, not %llu",
                  (unsigned long long)rl.rlim_cur);
    ck_assert_uint_eq(mq_msgsize_for(3), 1024);
    ck_assert_uint_eq(mq_msgsize_for(5), 1024);
    ck_assert_uint_eq(mq_msgsize_for(64), 256);
    ck_assert_uint_lt(mq_bytes_for(65, mq_msgsize_for(64)), 819200); /* 64 nodes fit */
    ck_assert_uint_le(2 * mq_bytes_for(6, mq_msgsize_for(5)), 819200); /* two runs of 5 */
    /* The size never grows with N. */
    for (int n = 2; n < DL_MAX_NODES; n++)
        ck_assert_uint_le(mq_msgsize_for(n + 1), mq_msgsize_for(n));
}
END_TEST

/* ---- 6. cut links -------------------------------------------------------- */

START_TEST(test_cut_link)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    struct wire_hdr h, got;
    const uint8_t *p;

    atomic_store(&r->cut[1][2], 1);
    h = (struct wire_hdr){.type = 0x0100, .to = 2};
    h.f[0] = 1;
    ck_assert_int_eq(transport_send(&pr.t1, &h, NULL), 0);
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 3);
    ck_assert_uint_eq(got.from, 1);
    ck_assert_int_eq(got.f[0], 1);
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), 1);
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 0);

    /* The cut is one-way: 2 -> 1 still arrives. */
    h = (struct wire_hdr){.type = 0x0100, .to = 1};
    h.f[0] = 2;
    ck_assert_int_eq(transport_send(&pr.t2, &h, NULL), 0);
    ck_assert_int_eq(transport_recv(&pr.t1, &got, &p), 1);
    ck_assert_int_eq(got.f[0], 2);

    /* A bulk payload across the cut is dropped too, and its slot freed. */
    uint8_t big[5000];
    pattern(big, sizeof big, 5);
    h = (struct wire_hdr){.type = 0x0100, .to = 2, .len = sizeof big};
    ck_assert_int_eq(transport_send(&pr.t1, &h, big), 0);
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 3);
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), 2);
    ck_assert_int_eq(slots_in_use(r, 1), 0);

    atomic_store(&r->cut[1][2], 0);
    h = (struct wire_hdr){.type = 0x0100, .to = 2};
    h.f[0] = 3;
    ck_assert_int_eq(transport_send(&pr.t1, &h, NULL), 0);
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 1);
    ck_assert_uint_eq(got.from, 1);
    ck_assert_int_eq(got.f[0], 3);
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), 2);
    ck_assert_uint_eq(cnt(r, 2, CNT_MALFORMED), 0);
    pair_close(&pr);
}
END_TEST


/* ---- 8. the critical resource -------------------------------------------- */

static int64_t fenced_gen(const struct shm_run *r)
{
    return SHM_HOLDER_GEN(atomic_load(&r->res.holder));
}

static int holder_node(const struct shm_run *r)
{
    return SHM_HOLDER_NODE(atomic_load(&r->res.holder));
}

/* Two nodes inside at once, without fencing: one violation, counted at the
 * second entry, not again when the displaced first node leaves; both
 * writes land, so the counter shows the lost update. */
START_TEST(test_resource_overlap_counted_once)
{
    struct shm_run *r = fx.r;
    int64_t c1, c2;
    ck_assert_int_eq(shm_resource_enter(r, 1, -1, false, &c1), RES_OK);
    ck_assert_int_eq(shm_resource_enter(r, 2, -1, false, &c2), RES_VIOLATION);
    ck_assert_int_eq(holder_node(r), 2);
    ck_assert_int_eq(shm_resource_exit(r, 1, -1, false, c1), RES_VIOLATION);
    ck_assert_int_eq(holder_node(r), 2);
    ck_assert_int_eq(shm_resource_exit(r, 2, -1, false, c2), RES_OK);
    ck_assert_int_eq(holder_node(r), 0);
    ck_assert_uint_eq(atomic_load(&r->res.violations), 1);
    ck_assert_uint_eq(atomic_load(&r->res.entries), 2);
    ck_assert_int_eq(atomic_load(&r->res.counter), 1); /* two CS, one update */
}
END_TEST

/* Fencing: an older generation is refused and never becomes the holder; a
 * newer one supersedes the holder, whose write is then refused; the fenced
 * generation survives the holder's exit. */
START_TEST(test_resource_fencing)
{
    struct shm_run *r = fx.r;
    int64_t c1, c2, c3;
    ck_assert_int_eq(shm_resource_enter(r, 1, 5, true, &c1), RES_OK);
    ck_assert_int_eq(shm_resource_predict_enter(r, 2, 3, true), RES_FENCED);
    ck_assert_int_eq(shm_resource_enter(r, 2, 3, true, &c2), RES_FENCED);
    ck_assert_int_eq(holder_node(r), 1);
    ck_assert_int_eq(shm_resource_predict_enter(r, 3, 7, true), RES_SUPERSEDED);
    ck_assert_int_eq(shm_resource_enter(r, 3, 7, true, &c3), RES_SUPERSEDED);
    ck_assert_int_eq(holder_node(r), 3);
    ck_assert_int_eq(fenced_gen(r), 7);
    ck_assert_int_eq(shm_resource_predict_exit(r, 1, 5, true), RES_FENCED);
    ck_assert_int_eq(shm_resource_exit(r, 1, 5, true, c1), RES_FENCED);
    ck_assert_int_eq(atomic_load(&r->res.counter), 0);
    ck_assert_int_eq(shm_resource_predict_exit(r, 3, 7, true), RES_OK);
    ck_assert_int_eq(shm_resource_exit(r, 3, 7, true, c3), RES_OK);
    ck_assert_int_eq(atomic_load(&r->res.counter), 1);
    ck_assert_int_eq(holder_node(r), 0);
    ck_assert_int_eq(fenced_gen(r), 7);
    ck_assert_int_eq(shm_resource_enter(r, 1, 6, true, &c1), RES_FENCED);
    ck_assert_uint_eq(atomic_load(&r->res.fenced), 3);
    ck_assert_uint_eq(atomic_load(&r->res.superseded), 1);
    ck_assert_uint_eq(atomic_load(&r->res.violations), 0);
}
END_TEST

/* Processes hammer the resource with fencing on and unique generations
 * drawn from one shared counter, some held back a while before they are
 * used (stale). With unique generations nothing may be a violation: of two
 * concurrent entries the newer supersedes, the older is refused. Checked:
 * no violation; a refused entry never holds the resource; the fenced
 * generation never decreases (a watcher samples it); every accepted write
 * was made under an intact lease, so the counter equals the writes that
 * succeeded (a stale write landing after a newer holder read the counter
 * would lose an update). */
#define HAMMER_PROCS 4
#define HAMMER_US 1000000

struct hammer_shared {
    _Atomic int64_t next_gen;
    _Atomic uint64_t written; /* exits that returned RES_OK */
    _Atomic int go;
};

static struct hammer_shared *hammer_sh;

static int hammer_node(void *arg)
{
    int self = (int)(intptr_t)arg;
    struct shm_run *r = fx.r;
    while (!atomic_load(&hammer_sh->go))
        ;
    uint64_t rng = (uint64_t)self * 0x9e3779b97f4a7c15ull + 1;
    int64_t end = dl_mono_us() + HAMMER_US;
    int64_t held = -1;
    while (dl_mono_us() < end) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        /* A fresh generation, or (one time in four) the one held back. */
        int64_t gen = held >= 0 && rng % 4 == 0 ? held : atomic_fetch_add(&hammer_sh->next_gen, 1);
        held = rng % 3 == 0 ? atomic_fetch_add(&hammer_sh->next_gen, 1) : held;
        int64_t c;
        int rc = shm_resource_enter(r, self, gen, true, &c);
        if (rc == RES_VIOLATION)
            return 10;
        if (rc == RES_FENCED) {
            if (holder_node(r) == self)
                return 11; /* a refused entry became the holder */
            continue;
        }
        for (volatile int spin = 0; spin < (int)(rng % 64); spin++)
            ;
        rc = shm_resource_exit(r, self, gen, true, c);
        if (rc == RES_VIOLATION)
            return 12;
        if (rc == RES_OK)
            atomic_fetch_add(&hammer_sh->written, 1);
        if (holder_node(r) == self)
            return 13; /* left, but still the holder */
    }
    return 0;
}

static int hammer_watch(void *arg)
{
    (void)arg;
    struct shm_run *r = fx.r;
    while (!atomic_load(&hammer_sh->go))
        ;
    int64_t end = dl_mono_us() + HAMMER_US, last = -1;
    while (dl_mono_us() < end) {
        int64_t g = fenced_gen(r);
        if (g < last)
            return 20;
        last = g;
    }
    return 0;
}

START_TEST(test_resource_hammer)
{
    struct shm_run *r = fx.r;
    hammer_sh = mmap(NULL, sizeof *hammer_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    ck_assert(hammer_sh != MAP_FAILED);
    pid_t pids[HAMMER_PROCS + 1];
    for (int i = 0; i < HAMMER_PROCS; i++)
        pids[i] = spawn(hammer_node, (void *)(intptr_t)(i + 1));
    pids[HAMMER_PROCS] = spawn(hammer_watch, NULL);
    atomic_store(&hammer_sh->go, 1);
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    for (int i = 0; i <= HAMMER_PROCS; i++) {
        int st = wait_kid(pids[i], deadline);
        ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "%s %d failed: status %#x (10 violation at entry, 11 refused entry holds, "
                      "12 violation at exit, 13 holder after exit, 20 fenced generation "
                      "decreased)",
                      i < HAMMER_PROCS ? "node" : "watcher", i + 1, st);
    }
    ck_assert_uint_eq(atomic_load(&r->res.violations), 0);
    ck_assert_uint_gt(atomic_load(&r->res.superseded) + atomic_load(&r->res.fenced), 0);
    ck_assert_int_eq(holder_node(r), 0);
    ck_assert_int_eq(atomic_load(&r->res.counter), (int64_t)atomic_load(&hammer_sh->written));
    munmap(hammer_sh, sizeof *hammer_sh);
}
END_TEST

/* The supervisor's shm_resource_drop after a holder was killed: the node's
 * trace is the resource's write-ahead log. */
static void drop_case(int last_ev, bool torn, int64_t want_counter, uint64_t want_recovered)
{
    struct shm_run *r = fx.r;
    char err[DL_ERRLEN];
    char dir[] = "/tmp/distlab-drop.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(r->rundir, sizeof r->rundir, "%s", dir);
    atomic_store(&r->node[2].incarnation, 1);
    atomic_store(&r->res.counter, 41);
    struct trace_writer tw;
    ck_assert_msg(trace_open(&tw, dir, 2, 1, dl_mono_us(), err) == 0, "%s", err);
    int64_t c;
    struct trace_rec e = {.node = 2, .ev = TR_ENTER, .b = 9};
    trace_emit(&tw, &e);
    ck_assert_int_eq(shm_resource_enter(r, 2, 9, true, &c), RES_OK);
    ck_assert_int_eq(c, 41);
    if (last_ev == TR_EXIT) {
        struct trace_rec x = {.node = 2, .ev = TR_EXIT, .a = c + 1, .b = 9};
        struct trace_rec *rec = trace_emit(&tw, &x);
        if (torn)
            rec->mark = 0; /* killed in the middle of writing the record */
    }
    /* The node dies here: its exit write never happens. */
    shm_resource_drop(r, 2);
    ck_assert_int_eq(holder_node(r), 0);
    ck_assert_int_eq(atomic_load(&r->res.counter), want_counter);
    ck_assert_uint_eq(atomic_load(&r->res.recovered), want_recovered);
    ck_assert_int_eq(fenced_gen(r), 9);
    /* Another node's death changes nothing. */
    shm_resource_drop(r, 3);
    ck_assert_int_eq(atomic_load(&r->res.counter), want_counter);
    trace_close(&tw);
    char path[200];
    snprintf(path, sizeof path, "%s/trace/n2.1.bin", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/trace", dir);
    rmdir(path);
    rmdir(dir);
    r->rundir[0] = '\0';
}

START_TEST(test_resource_drop_redoes_traced_exit) { drop_case(TR_EXIT, false, 42, 1); }
END_TEST
START_TEST(test_resource_drop_without_exit) { drop_case(TR_ENTER, false, 41, 0); }
END_TEST
START_TEST(test_resource_drop_torn_exit) { drop_case(TR_EXIT, true, 41, 0); }
END_TEST

/* ---- 9. backlog budgets and drops ----------------------------------------- */

struct drops {
    int n;
    int err[4096];
    int to[4096];
    int64_t f0[4096];
};

static void on_drop(void *arg, const struct wire_hdr *h, int err)
{
    struct drops *d = arg;
    if (d->n < 4096) {
        d->err[d->n] = err;
        d->to[d->n] = h->to;
        d->f0[d->n] = h->f[0];
    }
    d->n++;
}

/* A 100-byte payload to `to`, numbered seq. */
static int send_seq(struct transport *t, int to, int64_t seq)
{
    uint8_t payload[100];
    memset(payload, (int)seq, sizeof payload);
    struct wire_hdr h = {.type = 0x0100, .to = (uint16_t)to, .len = sizeof payload};
    h.f[0] = seq;
    return transport_send(t, &h, payload);
}

/* Receive everything waiting for t (driving the sender's loop so its
 * backlog drains); check the numbers from `from` arrive as 0, 1, 2, ...
 * Returns how many arrived. */
static int64_t receive_in_order(struct pair *pr, struct transport *rx, int from)
{
    int64_t next = 0;
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    for (;;) {
        struct wire_hdr h;
        const uint8_t *p;
        int rc = transport_recv(rx, &h, &p);
        if (rc == 1) {
            ck_assert_int_eq(h.from, from);
            ck_assert_int_eq(h.f[0], next);
            next++;
            continue;
        }
        ck_assert_int_eq(rc, 0);
        if (transport_backlog(&pr->t1) == 0)
            return next;
        ck_assert_int_ge(loop_once(&pr->l1, 10), 0);
        ck_assert_msg(dl_mono_us() < deadline, "the backlog never drained");
    }
}

/* A peer that does not read: its backlog stops at the per-peer budget; what
 * does not fit is dropped at the tail (the first messages keep their
 * order), counted and reported to the hook; what was kept arrives in order
 * once the peer reads, and the buffer is given back. */
START_TEST(test_backlog_peer_budget)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    struct drops *d = calloc(1, sizeof *d);
    transport_set_drop_hook(&pr.t1, on_drop, d);
    pr.t1.peer_budget = 8192;
    int sent = 0, refused = 0;
    for (int64_t seq = 0; seq < 200; seq++) {
        int rc = send_seq(&pr.t1, 2, seq);
        ck_assert(rc == 0 || rc == -ENOBUFS);
        if (rc == 0) {
            ck_assert_int_eq(refused, 0); /* tail drop: nothing accepted after a drop */
            sent++;
        } else {
            refused++;
        }
        ck_assert_uint_le(transport_backlog_bytes(&pr.t1), 8192);
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_int_gt(sent, MQ_DEPTH);
    ck_assert_int_eq(d->n, refused);
    for (int i = 0; i < d->n; i++) {
        ck_assert_int_eq(d->err[i], -ENOBUFS);
        ck_assert_int_eq(d->to[i], 2);
        ck_assert_int_eq(d->f0[i], sent + i);
    }
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), (uint64_t)refused);
    ck_assert_uint_eq(cnt(r, 1, CNT_DROPPED), (uint64_t)refused);
    ck_assert_int_eq(receive_in_order(&pr, &pr.t2, 1), sent);
    ck_assert_uint_eq(cnt(r, 1, CNT_SENT), (uint64_t)sent);
    ck_assert_uint_eq(cnt(r, 1, CNT_BACKLOG_NOW), 0);
    ck_assert_uint_le(transport_backlog_bytes(&pr.t1), TRANSPORT_BACKLOG_MIN);
    free(d);
    pair_close(&pr);
}
END_TEST

/* Two peers that do not read share the node's budget: together they never
 * hold more than it. */
START_TEST(test_backlog_node_budget)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    struct drops *d = calloc(1, sizeof *d);
    transport_set_drop_hook(&pr.t1, on_drop, d);
    pr.t1.peer_budget = 16384;
    pr.t1.node_budget = 20480;
    int refused[4] = {0};
    for (int64_t seq = 0; seq < 300; seq++)
        for (int to = 2; to <= 3; to++)
            if (send_seq(&pr.t1, to, seq) == -ENOBUFS)
                refused[to]++;
    ck_assert_uint_le(transport_backlog_bytes(&pr.t1), 20480);
    ck_assert_int_gt(refused[2], 0);
    ck_assert_int_gt(refused[3], 0);
    ck_assert_int_eq(d->n, refused[2] + refused[3]);
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), (uint64_t)d->n);
    free(d);
    pair_close(&pr);
}
END_TEST

/* Messages for a peer: kept while it is merely slow or suspected (its slot
 * says UP: the failure detector cannot tell a paused node from a dead one);
 * dropped once it is known gone (DOWN, or restarted since), by the next
 * tick, and a send that finds a gone peer's queue full is dropped at once. */
START_TEST(test_backlog_peer_gone)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    struct drops *d = calloc(1, sizeof *d);
    transport_set_drop_hook(&pr.t1, on_drop, d);
    atomic_store(&r->node[2].state, NODE_UP);
    atomic_store(&r->node[2].incarnation, 1);
    atomic_store(&r->node[3].state, NODE_STARTING);
    atomic_store(&r->node[3].incarnation, 0); /* not started yet */
    for (int64_t seq = 0; seq < MQ_DEPTH + 5; seq++) {
        ck_assert_int_eq(send_seq(&pr.t1, 2, seq), 0);
        ck_assert_int_eq(send_seq(&pr.t1, 3, seq), 0);
    }
    ck_assert_uint_eq(transport_backlog(&pr.t1), 10);
    /* Node 3 starts: what waited is for its first life. */
    atomic_store(&r->node[3].state, NODE_UP);
    atomic_store(&r->node[3].incarnation, 1);
    transport_tick(&pr.t1); /* both up (or only suspected): kept */
    ck_assert_uint_eq(transport_backlog(&pr.t1), 10);
    ck_assert_int_eq(d->n, 0);

    atomic_store(&r->node[2].state, NODE_DOWN);  /* crashed */
    atomic_store(&r->node[3].incarnation, 2);    /* restarted: a new life */
    transport_tick(&pr.t1);
    ck_assert_uint_eq(transport_backlog(&pr.t1), 0);
    ck_assert_int_eq(d->n, 10);
    for (int i = 0; i < d->n; i++)
        ck_assert_int_eq(d->err[i], -EHOSTDOWN);
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), 10);
    /* Node 2's queue is still full and node 2 is down: no backlog. */
    ck_assert_int_eq(send_seq(&pr.t1, 2, 99), -EHOSTDOWN);
    ck_assert_uint_eq(transport_backlog(&pr.t1), 0);
    ck_assert_int_eq(d->n, 11);
    free(d);
    pair_close(&pr);
}
END_TEST

/* The EPOLLOUT registration fails (here: the loop's epoll descriptor is
 * broken for a moment): the backlog is not stuck, the tick moves it. */
START_TEST(test_backlog_watch_failure)
{
    struct pair pr;
    pair_open(&pr);
    int epfd = pr.l1.epfd;
    pr.l1.epfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(pr.l1.epfd, 0);
    for (int64_t seq = 0; seq < MQ_DEPTH + 3; seq++)
        ck_assert_int_eq(send_seq(&pr.t1, 2, seq), 0);
    ck_assert_uint_eq(transport_backlog(&pr.t1), 3);
    ck_assert_uint_gt(pr.t1.watch_failures, 0);
    close(pr.l1.epfd);
    pr.l1.epfd = epfd;
    /* The peer reads what its queue held; nothing tells node 1 (no watch). */
    int64_t next = 0;
    struct wire_hdr h;
    const uint8_t *p;
    while (transport_recv(&pr.t2, &h, &p) == 1)
        ck_assert_int_eq(h.f[0], next++);
    ck_assert_int_eq(next, MQ_DEPTH);
    transport_tick(&pr.t1);
    ck_assert_uint_eq(transport_backlog(&pr.t1), 0);
    while (transport_recv(&pr.t2, &h, &p) == 1)
        ck_assert_int_eq(h.f[0], next++);
    ck_assert_int_eq(next, MQ_DEPTH + 3);
    pair_close(&pr);
}
END_TEST

/* ---- 9b. the simulated network: cut, loss, delay, jitter ------------------ */

static void set_link(struct shm_run *r, int a, int b, uint32_t loss_ppm, uint32_t delay_us,
                     uint32_t jitter_us)
{
    atomic_store(&r->link[a][b].loss_ppm, loss_ppm);
    atomic_store(&r->link[a][b].delay_us, delay_us);
    atomic_store(&r->link[a][b].jitter_us, jitter_us);
    atomic_fetch_add(&r->net_version, 1);
}

static int send_f0(struct transport *t, int to, int64_t f0)
{
    struct wire_hdr h = {.type = 0x0100, .to = (uint16_t)to};
    h.f[0] = f0;
    return transport_send(t, &h, NULL);
}

/* Open node `self` of the fixture's run on its own loop. */
static void node_open(struct loop *l, struct transport *t, int self)
{
    char err[DL_ERRLEN];
    ck_assert_msg(loop_init(l, err) == 0, "%s", err);
    ck_assert_msg(transport_open(t, l, fx.r, self, err) == 0, "%s", err);
}

static void node_close(struct loop *l, struct transport *t)
{
    transport_close(t);
    loop_fini(l);
}

/* Drive the sender's loop and receive at rx until `want` messages arrived
 * (their f[0] in got[], arrival times in at[] when not NULL) or the
 * deadline passed. Anything but a message or an empty inbox fails. */
static int pump(struct loop *sl, struct transport *rx, int want, int64_t *got, int64_t *at)
{
    int n = 0;
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    while (n < want) {
        struct wire_hdr h;
        const uint8_t *p;
        int rc = transport_recv(rx, &h, &p);
        if (rc == 1) {
            if (got)
                got[n] = h.f[0];
            if (at)
                at[n] = dl_mono_us();
            n++;
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_msg(dl_mono_us() < deadline, "%d of %d messages arrived", n, want);
        ck_assert_int_ge(loop_once(sl, 10), 0);
    }
    return n;
}

/* A cut link drops at the receiver: what was sent before the cut began and
 * is still in flight is lost too. One way only; the supervisor's links are
 * never cut nor lossy. */
START_TEST(test_net_cut_at_receiver)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    struct loop l0;
    struct transport t0;
    node_open(&l0, &t0, 0);
    struct wire_hdr got;
    const uint8_t *p;

    /* In flight when the cut begins. */
    ck_assert_int_eq(send_f0(&pr.t1, 2, 1), 0);
    ck_assert_int_eq(send_f0(&pr.t1, 2, 2), 0);
    atomic_store(&r->cut[1][2], 1);
    atomic_fetch_add(&r->net_version, 1);
    for (int64_t k = 1; k <= 2; k++) {
        pr.t2.last_drop = 0;
        ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 3);
        ck_assert_int_eq(pr.t2.last_drop, WIRE_DROP_PARTITION);
        ck_assert_uint_eq(got.from, 1);
        ck_assert_int_eq(got.f[0], k);
    }
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), 2);
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), 0); /* the receiver's drop, not the sender's */

    /* One-way: 2 -> 1 still arrives; 1 -> 2 sent during the cut is lost. */
    ck_assert_int_eq(send_f0(&pr.t2, 1, 3), 0);
    ck_assert_int_eq(transport_recv(&pr.t1, &got, &p), 1);
    ck_assert_int_eq(got.f[0], 3);
    ck_assert_int_eq(send_f0(&pr.t1, 2, 4), 0);
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 3);
    ck_assert_uint_eq(cnt(r, 1, CNT_DROPPED), 0);

    /* The supervisor's links: cut, lossy and slow in the matrix, and yet
     * never faulty. */
    atomic_store(&r->cut[0][2], 1);
    atomic_store(&r->cut[2][0], 1);
    set_link(r, 0, 2, 1000000, 1000000, 1000000);
    set_link(r, 2, 0, 1000000, 1000000, 1000000);
    for (int64_t k = 0; k < 20; k++) {
        ck_assert_int_eq(send_f0(&t0, 2, 100 + k), 0);
        ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 1);
        ck_assert_int_eq(got.f[0], 100 + k);
        ck_assert_int_eq(send_f0(&pr.t2, 0, 200 + k), 0);
        ck_assert_uint_eq(transport_held_count(&pr.t2), 0);
        ck_assert_int_eq(transport_recv(&t0, &got, &p), 1);
        ck_assert_int_eq(got.f[0], 200 + k);
    }

    /* Healed: 1 -> 2 arrives again. */
    atomic_store(&r->cut[1][2], 0);
    ck_assert_int_eq(send_f0(&pr.t1, 2, 5), 0);
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 1);
    ck_assert_int_eq(got.f[0], 5);
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), 3);
    ck_assert_uint_eq(cnt(r, 0, CNT_DROPPED), 0);
    ck_assert_uint_eq(cnt(r, 2, CNT_MALFORMED), 0);
    node_close(&l0, &t0);
    pair_close(&pr);
}
END_TEST

/* ---- 7. client processes ------------------------------------------------- */

/* A run of 3 nodes and 2 clients (ids 4 and 5): a client talks to every
 * node both ways, inline and through its own bulk area; nothing goes to an
 * id past the last client; the nodes' link matrix never touches a client
 * (a partition is between servers). */
START_TEST(test_clients_talk)
{
    struct shm_run *r = fx.r;
    ck_assert_uint_eq(r->n, 3);
    ck_assert_uint_eq(r->clients, 2);
    ck_assert_uint_eq(r->procs, 5);
    ck_assert_uint_eq(r->msgsize, mq_msgsize_for(5));
    struct loop l1, l4, l5;
    struct transport t1, t4, t5;
    node_open(&l1, &t1, 1);
    node_open(&l4, &t4, 4);
    node_open(&l5, &t5, 5);
    ck_assert_int_eq(t4.procs, 5);
    ck_assert_int_eq(t4.n, 3);
    struct wire_hdr got;
    const uint8_t *p;

    /* Client -> node, node -> client, client -> client. */
    ck_assert_int_eq(send_f0(&t4, 1, 41), 0);
    ck_assert_int_eq(transport_recv(&t1, &got, &p), 1);
    ck_assert_uint_eq(got.from, 4);
    ck_assert_int_eq(got.f[0], 41);
    ck_assert_int_eq(send_f0(&t1, 5, 15), 0);
    ck_assert_int_eq(transport_recv(&t5, &got, &p), 1);
    ck_assert_uint_eq(got.from, 1);
    ck_assert_int_eq(send_f0(&t5, 4, 54), 0);
    ck_assert_int_eq(transport_recv(&t4, &got, &p), 1);
    ck_assert_uint_eq(got.from, 5);

    /* A command too big for one queue message: client 5's bulk area. */
    size_t len = r->msgsize * 3;
    uint8_t *big = malloc(len);
    ck_assert_ptr_nonnull(big);
    pattern(big, len, 9);
    struct wire_hdr h = {.type = 0x0100, .to = 2, .len = (uint32_t)len};
    struct loop l2;
    struct transport t2;
    node_open(&l2, &t2, 2);
    ck_assert_int_eq(transport_send(&t5, &h, big), 0);
    ck_assert_int_eq(slots_in_use(r, 5), 1);
    ck_assert_int_eq(transport_recv(&t2, &got, &p), 1);
    ck_assert_uint_eq(got.from, 5);
    ck_assert_uint_eq(got.len, len);
    ck_assert_msg(memcmp(p, big, len) == 0, "bulk payload from a client corrupted");
    ck_assert_int_eq(slots_in_use(r, 5), 0);
    free(big);

    /* No process 6. */
    ck_assert_int_eq(send_f0(&t1, 6, 1), -EINVAL);
    ck_assert_int_eq(send_f0(&t4, 6, 1), -EINVAL);

    /* Every link between nodes cut: a client still reaches them all, and
     * they it. */
    for (int a = 1; a <= 3; a++)
        for (int b = 1; b <= 3; b++)
            if (a != b)
                atomic_store(&r->cut[a][b], 1);
    atomic_fetch_add(&r->net_version, 1);
    ck_assert_int_eq(send_f0(&t1, 2, 12), 0);
    ck_assert_int_eq(transport_recv(&t2, &got, &p), 3); /* between nodes: cut */
    ck_assert_int_eq(send_f0(&t4, 2, 42), 0);
    ck_assert_int_eq(transport_recv(&t2, &got, &p), 1);
    ck_assert_int_eq(got.f[0], 42);
    ck_assert_int_eq(send_f0(&t2, 4, 24), 0);
    ck_assert_int_eq(transport_recv(&t4, &got, &p), 1);
    ck_assert_int_eq(got.f[0], 24);
    ck_assert_uint_eq(cnt(r, 4, CNT_DROPPED), 0);
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), 1);
    ck_assert_uint_eq(cnt(r, 4, CNT_MALFORMED), 0);
    ck_assert_uint_eq(cnt(r, 1, CNT_MALFORMED), 0);
    node_close(&l2, &t2);
    node_close(&l5, &t5);
    node_close(&l4, &t4);
    node_close(&l1, &t1);
}
END_TEST

/* The queue size comes from every queue of the run, clients' included, and
 * the largest run (DL_MAX_PROCS processes) still fits the default budget. */
START_TEST(test_sizing_with_clients)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_MSGQUEUE, &rl), 0);
    ck_assert_msg(rl.rlim_cur == 819200 || rl.rlim_cur == RLIM_INFINITY,
                  "these figures assume the default RLIMIT_MSGQUEUE, not %llu",
                  (unsigned long long)rl.rlim_cur);
    /* 5 nodes + 1 client: 7 queues of 1 KiB, 960 bytes inline. */
    ck_assert_uint_eq(mq_msgsize_for(5 + 1), 1024);
    ck_assert_uint_eq(mq_msgsize_for(5 + 1) - sizeof(struct wire_hdr), 960);
    /* 16 nodes and 16 clients: a quarter of the budget holds 33 queues of
     * 512 bytes, not of 1 KiB. */
    ck_assert_uint_eq(mq_msgsize_for(32), 512);
    ck_assert_uint_lt(mq_bytes_for(DL_MAX_PROCS + 1, mq_msgsize_for(DL_MAX_PROCS)), 819200);
    ck_assert_uint_eq(mq_msgsize_for(DL_MAX_PROCS), MQ_MSGSIZE_MIN);
}
END_TEST

#define LOSS_N 2000

/* Receive LOSS_N messages 1 -> 2 one at a time; pattern[i] = 1 if the i-th
 * was lost. Returns the losses. */
static int loss_run(struct pair *pr, uint8_t *pattern)
{
    int lost = 0;
    for (int i = 0; i < LOSS_N; i++) {
        ck_assert_int_eq(send_f0(&pr->t1, 2, i), 0);
        struct wire_hdr got;
        const uint8_t *p;
        int rc = transport_recv(&pr->t2, &got, &p);
        ck_assert_msg(rc == 1 || rc == 3, "recv: %d", rc);
        ck_assert_int_eq(got.f[0], i);
        pattern[i] = rc == 3;
        if (rc == 3) {
            ck_assert_int_eq(pr->t2.last_drop, WIRE_DROP_LOSS);
            lost++;
        }
    }
    return lost;
}

/* Loss 0.3 over 2000 messages lands near 600; the run's seed decides the
 * pattern (the same seed, node and incarnation: the same drops). */
START_TEST(test_net_loss_seeded)
{
    struct shm_run *r = fx.r;
    r->params.seed = 12345;
    atomic_store(&r->node[2].incarnation, 1);
    set_link(r, 1, 2, 300000, 0, 0);
    static uint8_t a[LOSS_N], b[LOSS_N], c[LOSS_N];
    struct pair pr;
    pair_open(&pr);
    int lost = loss_run(&pr, a);
    /* mean 600, sd ~20.5: a band of more than 7 sd each side */
    ck_assert_msg(lost >= 450 && lost <= 750, "lost %d of %d at loss 0.3", lost, LOSS_N);
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), (uint64_t)lost);
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), 0);

    /* Node 2 again, same seed and incarnation: the same pattern. */
    transport_close(&pr.t2);
    char err[DL_ERRLEN];
    ck_assert_msg(transport_open(&pr.t2, &pr.l2, r, 2, err) == 0, "%s", err);
    ck_assert_int_eq(loss_run(&pr, b), lost);
    ck_assert_msg(memcmp(a, b, sizeof a) == 0, "the same seed gave another drop pattern");

    /* Another run seed: another pattern; so does another life. */
    transport_close(&pr.t2);
    r->params.seed = 12346;
    ck_assert_msg(transport_open(&pr.t2, &pr.l2, r, 2, err) == 0, "%s", err);
    loss_run(&pr, c);
    ck_assert_msg(memcmp(a, c, sizeof a) != 0, "another seed gave the same drop pattern");
    transport_seed(&pr.t2, transport_net_seed(12345, 2, 2));
    loss_run(&pr, c);
    ck_assert_msg(memcmp(a, c, sizeof a) != 0, "another incarnation gave the same pattern");
    transport_seed(&pr.t2, transport_net_seed(12345, 2, 1));
    loss_run(&pr, c);
    ck_assert_msg(memcmp(a, c, sizeof a) == 0, "transport_seed does not reproduce the open");

    /* No loss: nothing dropped, no draw needed. */
    set_link(r, 1, 2, 0, 0, 0);
    ck_assert_int_eq(loss_run(&pr, c), 0);
    pair_close(&pr);
}
END_TEST

/* A delayed message is held by the sender, not receivable before its
 * delay, and arrives once the timer fires; its header keeps the time it was
 * sent. A bulk payload takes its slot only when released. */
START_TEST(test_net_delay)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    const int64_t delay = 50000;
    set_link(r, 1, 2, 0, (uint32_t)delay, 0);
    struct wire_hdr h = {.type = 0x0100, .to = 2, .send_us = 777};
    h.f[0] = 1;
    int64_t sent = dl_mono_us();
    ck_assert_int_eq(transport_send(&pr.t1, &h, NULL), 0);
    ck_assert_uint_eq(transport_held_count(&pr.t1), 1);
    ck_assert_uint_eq(cnt(r, 1, CNT_SENT), 0);
    struct wire_hdr got;
    const uint8_t *p;
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 0);
    int64_t at;
    pump(&pr.l1, &pr.t2, 1, NULL, &at);
    ck_assert_msg(at - sent >= delay, "arrived after %lld us, delay %lld",
                  (long long)(at - sent), (long long)delay);
    ck_assert_uint_eq(transport_held_count(&pr.t1), 0);
    ck_assert_uint_eq(cnt(r, 1, CNT_SENT), 1);

    /* The header as sent: the receiver's TR_RECV shows the delay. */
    h = (struct wire_hdr){.type = 0x0100, .to = 2, .send_us = 777};
    h.f[0] = 2;
    ck_assert_int_eq(transport_send(&pr.t1, &h, NULL), 0);
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    int rc;
    while ((rc = transport_recv(&pr.t2, &got, &p)) == 0) {
        ck_assert(dl_mono_us() < deadline);
        ck_assert_int_ge(loop_once(&pr.l1, 10), 0);
    }
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(got.send_us, 777);
    ck_assert_int_eq(got.f[0], 2);

    /* A bulk payload: no slot while held; intact on arrival; slot freed. */
    static uint8_t big[20000], copy[20000];
    pattern(big, sizeof big, 9);
    memcpy(copy, big, sizeof big);
    h = (struct wire_hdr){.type = 0x0100, .to = 2, .len = sizeof big};
    h.f[0] = 3;
    ck_assert_int_eq(transport_send(&pr.t1, &h, big), 0);
    memset(big, 0, sizeof big); /* the transport must have copied it */
    ck_assert_int_eq(slots_in_use(r, 1), 0);
    deadline = dl_mono_us() + DEADLINE_US;
    while (slots_in_use(r, 1) == 0) {
        ck_assert(dl_mono_us() < deadline);
        ck_assert_int_ge(loop_once(&pr.l1, 10), 0);
    }
    ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 1);
    ck_assert_uint_eq(got.len, sizeof copy);
    ck_assert_int_eq(got.f[0], 3);
    ck_assert_msg(memcmp(p, copy, sizeof copy) == 0, "delayed bulk payload corrupted");
    ck_assert_int_eq(slots_in_use(r, 1), 0);

    /* The other direction has no delay: sent at once. */
    ck_assert_int_eq(send_f0(&pr.t2, 1, 4), 0);
    ck_assert_uint_eq(transport_held_count(&pr.t2), 0);
    ck_assert_int_eq(transport_recv(&pr.t1, &got, &p), 1);
    ck_assert_uint_eq(cnt(r, 2, CNT_MALFORMED), 0);
    pair_close(&pr);
}
END_TEST

/* Without jitter a link is FIFO even when its delay is lowered (or taken
 * away) mid-stream: later messages wait behind earlier ones. */
START_TEST(test_net_delay_fifo)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    set_link(r, 1, 2, 0, 40000, 0);
    for (int64_t k = 0; k < 5; k++)
        ck_assert_int_eq(send_f0(&pr.t1, 2, k), 0);
    set_link(r, 1, 2, 0, 1000, 0);
    for (int64_t k = 5; k < 10; k++)
        ck_assert_int_eq(send_f0(&pr.t1, 2, k), 0);
    set_link(r, 1, 2, 0, 0, 0); /* no delay, but older messages still held */
    for (int64_t k = 10; k < 25; k++)
        ck_assert_int_eq(send_f0(&pr.t1, 2, k), 0);
    ck_assert_uint_eq(transport_held_count(&pr.t1), 25);
    int64_t got[25];
    pump(&pr.l1, &pr.t2, 25, got, NULL);
    for (int k = 0; k < 25; k++)
        ck_assert_msg(got[k] == k, "arrival %d is message %lld", k, (long long)got[k]);
    /* Nothing held any more: the next send is direct again. */
    ck_assert_int_eq(send_f0(&pr.t1, 2, 25), 0);
    ck_assert_uint_eq(transport_held_count(&pr.t1), 0);
    ck_assert_uint_eq(cnt(r, 1, CNT_SENT), 26);
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), 0);
    pair_close(&pr);
}
END_TEST

/* Jitter reorders (with this seed, at least once in 200 messages); every
 * message still arrives, through the backlog when the queue is full. */
START_TEST(test_net_jitter_reorders)
{
    struct shm_run *r = fx.r;
    r->params.seed = 7;
    struct pair pr;
    pair_open(&pr);
    set_link(r, 1, 2, 0, 0, 3000);
    enum { N = 200 };
    for (int64_t k = 0; k < N; k++)
        ck_assert_int_eq(send_f0(&pr.t1, 2, k), 0);
    int64_t got[N];
    pump(&pr.l1, &pr.t2, N, got, NULL);
    int inversions = 0;
    bool seen[N] = {false};
    for (int k = 0; k < N; k++) {
        ck_assert(got[k] >= 0 && got[k] < N && !seen[got[k]]);
        seen[got[k]] = true;
        inversions += k > 0 && got[k] < got[k - 1];
    }
    ck_assert_msg(inversions > 0, "jitter 3 ms never reordered %d messages", N);
    ck_assert_uint_eq(transport_held_count(&pr.t1), 0);
    ck_assert_uint_eq(cnt(r, 1, CNT_SENT), N);
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), 0);
    pair_close(&pr);
}
END_TEST

/* Held messages are bounded in bytes: past the delay budget a send is
 * dropped at once (-ENOBUFS, counted, reported to the hook); what was held
 * still arrives. */
START_TEST(test_net_delay_budget)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    struct drops *d = calloc(1, sizeof *d);
    transport_set_drop_hook(&pr.t1, on_drop, d);
    pr.t1.delay_budget = 4096;
    set_link(r, 1, 2, 0, 20000, 0);
    int held = 0, refused = 0;
    for (int64_t seq = 0; seq < 100; seq++) {
        int rc = send_seq(&pr.t1, 2, seq); /* 100-byte payloads */
        ck_assert(rc == 0 || rc == -ENOBUFS);
        if (rc == 0) {
            ck_assert_int_eq(refused, 0);
            held++;
        } else {
            refused++;
        }
        ck_assert_uint_le(pr.t1.delay_bytes, 4096);
    }
    ck_assert_int_gt(held, 0);
    ck_assert_int_gt(refused, 0);
    ck_assert_uint_eq(transport_held_count(&pr.t1), (uint64_t)held);
    /* A payload bigger than the whole budget. */
    static uint8_t big[5000];
    struct wire_hdr h = {.type = 0x0100, .to = 2, .len = sizeof big};
    h.f[0] = 1000;
    ck_assert_int_eq(transport_send(&pr.t1, &h, big), -ENOBUFS);
    ck_assert_int_eq(d->n, refused + 1);
    for (int i = 0; i < d->n; i++) {
        ck_assert_int_eq(d->err[i], -ENOBUFS);
        ck_assert_int_eq(d->to[i], 2);
        ck_assert_int_eq(d->f0[i], i < refused ? held + i : 1000);
    }
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), (uint64_t)d->n);
    ck_assert_uint_eq(cnt(r, 1, CNT_DROPPED), (uint64_t)d->n);
    int64_t got[100];
    pump(&pr.l1, &pr.t2, held, got, NULL);
    for (int k = 0; k < held; k++)
        ck_assert_int_eq(got[k], k);
    /* Released: the pool's buffers are reused, within the budget. */
    ck_assert_uint_eq(transport_held_count(&pr.t1), 0);
    ck_assert_int_eq(send_seq(&pr.t1, 2, 0), 0);
    ck_assert_uint_le(pr.t1.delay_bytes, 4096);
    free(d);
    pair_close(&pr);
}
END_TEST

/* Flush at a graceful stop: what is due within the timeout is released and
 * delivered; what is not is left, dropped with -ETIMEDOUT and reported. */
START_TEST(test_net_flush)
{
    struct shm_run *r = fx.r;
    struct pair pr;
    pair_open(&pr);
    struct loop l3;
    struct transport t3;
    node_open(&l3, &t3, 3);
    struct drops *d = calloc(1, sizeof *d);
    transport_set_drop_hook(&pr.t1, on_drop, d);
    set_link(r, 1, 2, 0, 20000, 0);
    set_link(r, 1, 3, 0, 60000000, 0); /* a minute */
    for (int64_t k = 0; k < 3; k++)
        ck_assert_int_eq(send_f0(&pr.t1, 2, k), 0);
    for (int64_t k = 10; k < 12; k++)
        ck_assert_int_eq(send_f0(&pr.t1, 3, k), 0);
    ck_assert_uint_eq(transport_held_count(&pr.t1), 5);
    int64_t t0 = dl_mono_us();
    ck_assert_uint_eq(transport_flush(&pr.t1, 1000), 2);
    ck_assert_int_ge(dl_mono_us() - t0, 20000);
    ck_assert_uint_eq(transport_held_count(&pr.t1), 0);
    ck_assert_int_eq(d->n, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(d->err[i], -ETIMEDOUT);
        ck_assert_int_eq(d->to[i], 3);
        ck_assert_int_eq(d->f0[i], 10 + i);
    }
    ck_assert_uint_eq(cnt(r, 1, CNT_SEND_DROPPED), 2);
    struct wire_hdr got;
    const uint8_t *p;
    for (int64_t k = 0; k < 3; k++) {
        ck_assert_int_eq(transport_recv(&pr.t2, &got, &p), 1);
        ck_assert_int_eq(got.f[0], k);
    }
    ck_assert_int_eq(transport_recv(&t3, &got, &p), 0);
    free(d);
    node_close(&l3, &t3);
    pair_close(&pr);
}
END_TEST

/* ---- 9c. the network fault model in real node processes ------------------- */

struct rt_kid {
    int id;
    char seg[64];
    char log[1200];
};

/* A node process: the real runtime, its log in the run directory. */
static int rt_node(void *arg)
{
    struct rt_kid *k = arg;
    int fd = open(k->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
    struct runtime_args a = {.id = k->id, .incarnation = 1};
    snprintf(a.segment, sizeof a.segment, "%s", k->seg);
    return runtime_main(&a);
}

struct rt {
    char dir[1024];
    struct loop l0;
    struct transport t0; /* the test plays the supervisor */
    struct rt_kid kid[3];
    pid_t pid[3];
};

/* A centralized run of the fixture's two nodes (coordinator 1, node 2
 * requests) with whatever faults the caller set: start both, answer their
 * READY and start the run. */
static void rt_begin(struct rt *rt, int64_t failure_timeout_us)
{
    struct shm_run *r = fx.r;
    rt_dir(rt->dir, sizeof rt->dir, fx.id); /* removed by sweep() if the test fails */
    ck_assert_msg(mkdir(rt->dir, 0700) == 0, "mkdir %s: %s", rt->dir, strerror(errno));
    snprintf(r->algorithm, sizeof r->algorithm, "centralized");
    snprintf(r->rundir, sizeof r->rundir, "%s", rt->dir);
    r->start_mono_us = dl_mono_us();
    r->start_real_us = dl_real_us();
    r->params = (struct shm_params){
        .seed = 99,
        .requests = 3,
        .coordinator = 1,
        .failure_timeout_us = failure_timeout_us,
        .election_timeout_us = failure_timeout_us,
        .token_timeout_us = failure_timeout_us,
    };
    r->params.requester[2] = 1;
    node_open(&rt->l0, &rt->t0, 0);
    for (int k = 1; k <= 2; k++) {
        atomic_store(&r->node[k].state, NODE_STARTING);
        atomic_store(&r->node[k].incarnation, 1);
        rt->kid[k].id = k;
        snprintf(rt->kid[k].seg, sizeof rt->kid[k].seg, "%s", fx.h.name);
        snprintf(rt->kid[k].log, sizeof rt->kid[k].log, "%s/n%d.log", rt->dir, k);
        rt->pid[k] = spawn(rt_node, &rt->kid[k]);
    }
    int ready = 0;
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    while (ready < 2) {
        struct wire_hdr h;
        const uint8_t *p;
        int rc = transport_recv(&rt->t0, &h, &p);
        if (rc == 1 && h.type == MSG_RT_READY)
            ready++;
        else
            ck_assert_int_eq(rc, 0);
        ck_assert_msg(dl_mono_us() < deadline, "the nodes never said they were ready");
        if (rc == 0)
            nap();
    }
    atomic_store(&r->phase, RUN_RUNNING);
    for (int k = 1; k <= 2; k++) {
        struct wire_hdr h = {.type = MSG_RT_START, .to = (uint16_t)k};
        ck_assert_int_eq(transport_send(&rt->t0, &h, NULL), 0);
    }
}

/* Stop both nodes gracefully (both must exit 0) and load their traces. */
static void rt_end(struct rt *rt, struct trace_rec **recs, size_t *n)
{
    for (int k = 1; k <= 2; k++)
        kill(rt->pid[k], SIGTERM);
    for (int k = 1; k <= 2; k++)
        assert_exit0(rt->pid[k], wait_kid(rt->pid[k], dl_mono_us() + DEADLINE_US), "node");
    node_close(&rt->l0, &rt->t0);
    char err[DL_ERRLEN];
    ck_assert_msg(trace_load(rt->dir, recs, n, err) == 0, "%s", err);
    rt_dir_remove(fx.id);
}

/* A delayed link in a real run: node 1 receives node 2's messages at least
 * the delay after node 2 sent them (its TR_RECV says so), and the run
 * completes. */
START_TEST(test_net_runtime_delay)
{
    struct shm_run *r = fx.r;
    const int64_t delay = 30000;
    set_link(r, 2, 1, 0, (uint32_t)delay, 0);
    struct rt rt;
    rt_begin(&rt, 2000000);
    int64_t deadline = dl_mono_us() + DEADLINE_US;
    while (!atomic_load(&r->node[2].workload_done)) {
        ck_assert_msg(dl_mono_us() < deadline, "node 2 never finished its 3 requests");
        nap();
    }
    ck_assert_int_eq(atomic_load(&r->node[2].requests_done), 3);
    struct trace_rec *recs;
    size_t n;
    rt_end(&rt, &recs, &n);
    int delayed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct trace_rec *e = &recs[i];
        if (e->ev == TR_RECV && e->node == 1 && e->peer == 2) {
            ck_assert_msg(e->t_us - e->a >= delay, "received %lld us after it was sent",
                          (long long)(e->t_us - e->a));
            delayed++;
        }
        ck_assert_msg(e->ev != TR_DROP, "a drop in a run without loss or cuts");
    }
    ck_assert_int_ge(delayed, 3); /* a request per CS (and its release) */
    free(recs);
}
END_TEST

/* A one-way cut in a real run (2 -> 1 cut, 1 -> 2 whole): node 1 drops
 * node 2's request, traced as a partition drop, and believes 2 down (it
 * sees none of its heartbeat stamps); node 2 still sees node 1's stamps and
 * never believes it down. */
START_TEST(test_net_runtime_one_way_cut)
{
    struct shm_run *r = fx.r;
    const int64_t timeout = 200000;
    atomic_store(&r->cut[2][1], 1);
    struct rt rt;
    rt_begin(&rt, timeout);
    /* Watch the traces until node 1 has dropped the request and declared
     * node 2 down, then for 5 more failure timeouts. */
    int64_t deadline = dl_mono_us() + DEADLINE_US, until = 0;
    for (;;) {
        struct trace_rec *recs;
        size_t n;
        char err[DL_ERRLEN];
        ck_assert_msg(trace_load(rt.dir, &recs, &n, err) == 0, "%s", err);
        bool dropped = false, down = false;
        for (size_t i = 0; i < n; i++) {
            const struct trace_rec *e = &recs[i];
            dropped |= e->ev == TR_DROP && e->node == 1 && e->peer == 2 &&
                       e->aux == WIRE_DROP_PARTITION && e->type >= 0x0100;
            down |= e->ev == TR_PEER_DOWN && e->node == 1 && e->peer == 2;
        }
        free(recs);
        if (dropped && down && !until)
            until = dl_mono_us() + 5 * timeout;
        if (until && dl_mono_us() > until)
            break;
        ck_assert_msg(dl_mono_us() < deadline, "node 1 never dropped a request of node 2 "
                      "(%d) nor believed it down (%d)", dropped, down);
        nap();
    }
    ck_assert_uint_ge(cnt(r, 1, CNT_DROPPED), 1);
    ck_assert_uint_eq(cnt(r, 2, CNT_DROPPED), 0);
    struct trace_rec *recs;
    size_t n;
    rt_end(&rt, &recs, &n);
    for (size_t i = 0; i < n; i++) {
        const struct trace_rec *e = &recs[i];
        ck_assert_msg(!(e->ev == TR_PEER_DOWN && e->node == 2),
                      "node 2 believed %d down across a cut in the other direction", e->peer);
        ck_assert_msg(!(e->ev == TR_DROP && e->node == 2), "node 2 dropped a message");
    }
    free(recs);
}
END_TEST

/* ---- 10. deadlines near 2^63 ---------------------------------------------- */

START_TEST(test_deadline_saturates)
{
    ck_assert_int_eq(runtime_deadline(100, 50), 150);
    ck_assert_int_eq(runtime_deadline(100, 0), 100);
    ck_assert_int_eq(runtime_deadline(100, -5), 100);
    ck_assert_int_eq(runtime_deadline(100, INT64_MAX), INT64_MAX);
    ck_assert_int_eq(runtime_deadline(INT64_MAX - 5, 10), INT64_MAX);
    ck_assert_int_eq(runtime_deadline(dl_mono_us(), INT64_MAX - 1), INT64_MAX);
    /* A saturated deadline arms the timer for "never", not for the past. */
    char err[DL_ERRLEN];
    int fd = loop_timerfd_create(err);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(loop_timerfd_arm(fd, runtime_deadline(dl_mono_us(), INT64_MAX)), 0);
    nap();
    uint64_t expirations;
    ck_assert_int_eq(read(fd, &expirations, sizeof expirations), -1);
    ck_assert_int_eq(errno, EAGAIN);
    close(fd);
}
END_TEST

/* ---- 11. the shared segment is reserved ----------------------------------- */

/* In a child: make /dev/shm small - a private 4 MiB tmpfs in a new mount
 * namespace where that is allowed, else a file-size limit - and create a
 * segment that does not fit. It must fail at once, naming /dev/shm and the
 * size needed (a sparse segment would be created and fail later, as a
 * SIGBUS in whichever process first touched a page that did not fit). */
static int small_shm_kid(void *arg)
{
    (void)arg;
    bool ns = false;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(uid == 0 ? CLONE_NEWNS : CLONE_NEWUSER | CLONE_NEWNS) == 0) {
        if (uid != 0) {
            char map[64];
            int fd = open("/proc/self/setgroups", O_WRONLY);
            if (fd >= 0) {
                (void)!write(fd, "deny", 4);
                close(fd);
            }
            snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
            fd = open("/proc/self/uid_map", O_WRONLY);
            if (fd >= 0) {
                (void)!write(fd, map, strlen(map));
                close(fd);
            }
            snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
            fd = open("/proc/self/gid_map", O_WRONLY);
            if (fd >= 0) {
                (void)!write(fd, map, strlen(map));
                close(fd);
            }
        }
        ns = mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
             mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=4m") == 0;
    }
    if (!ns) {
        struct rlimit rl = {1 << 20, 1 << 20};
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            return 30;
    }
    struct shm_handle h;
    char err[DL_ERRLEN] = "";
    uint32_t id = 0;
    while (id == 0)
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
            return 34;
    int rc = shm_create(&h, id, 3, err);
    if (rc == 0) {
        /* Created sparse: the first node to touch a page past 4 MiB would
         * die of SIGBUS. */
        shm_detach(&h);
        shm_unlink_run(id);
        return 31;
    }
    char size[32];
    snprintf(size, sizeof size, "%llu", (unsigned long long)(4096 * ((sizeof(struct shm_run) + 4095) / 4096) +
                                                             4ull * SHM_BULK_SLOTS * SHM_BULK_SLOT));
    if (!strstr(err, "/dev/shm") || !strstr(err, size)) {
        fprintf(stderr, "unclear error: %s (expected /dev/shm and %s bytes)\n", err, size);
        return 32;
    }
    return segment_gone(id) ? 0 : 33;
}

START_TEST(test_segment_reserved)
{
    pid_t pid = spawn(small_shm_kid, NULL);
    int st = wait_kid(pid, dl_mono_us() + DEADLINE_US);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "status %#x (31: a segment larger than /dev/shm was created, 32: the error "
                  "does not name /dev/shm and the size, 33: left behind)",
                  st);
}
END_TEST

/* ---- suite --------------------------------------------------------------- */

static TCase *tcase(const char *name, void (*setup)(void))
{
    TCase *tc = tcase_create(name);
    if (setup)
        tcase_add_checked_fixture(tc, setup, run_destroy);
    tcase_add_unchecked_fixture(tc, NULL, sweep);
    tcase_set_timeout(tc, 60);
    return tc;
}

static Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase("burst", setup_n9);
    tcase_add_test(tc, test_burst_fifo);
    suite_add_tcase(s, tc);

    tc = tcase("two_way", setup_n2);
    tcase_add_test(tc, test_two_way_no_deadlock);
    suite_add_tcase(s, tc);

    tc = tcase("junk", setup_n3);
    tcase_add_test(tc, test_junk_rejected);
    suite_add_tcase(s, tc);

    tc = tcase("bulk", setup_n3);
    tcase_add_test(tc, test_bulk_payload);
    suite_add_tcase(s, tc);

    tc = tcase("budget", NULL);
    tcase_add_test(tc, test_budget_error);
    tcase_add_test(tc, test_sizing);
    suite_add_tcase(s, tc);

    tc = tcase("cut", setup_n3);
    tcase_add_test(tc, test_cut_link);
    suite_add_tcase(s, tc);

    tc = tcase("clients", setup_n3_c2);
    tcase_add_test(tc, test_clients_talk);
    suite_add_tcase(s, tc);
    tc = tcase("clients_sizing", NULL);
    tcase_add_test(tc, test_sizing_with_clients);
    suite_add_tcase(s, tc);

    tc = tcase("backlog", setup_n3);
    tcase_add_test(tc, test_backlog_peer_budget);
    tcase_add_test(tc, test_backlog_node_budget);
    tcase_add_test(tc, test_backlog_peer_gone);
    tcase_add_test(tc, test_backlog_watch_failure);
    suite_add_tcase(s, tc);

    tc = tcase("netfault", setup_n3);
    tcase_add_test(tc, test_net_cut_at_receiver);
    tcase_add_test(tc, test_net_loss_seeded);
    tcase_add_test(tc, test_net_delay);
    tcase_add_test(tc, test_net_delay_fifo);
    tcase_add_test(tc, test_net_jitter_reorders);
    tcase_add_test(tc, test_net_delay_budget);
    tcase_add_test(tc, test_net_flush);
    suite_add_tcase(s, tc);

    tc = tcase("netfault_runtime", setup_n2);
    tcase_add_test(tc, test_net_runtime_delay);
    tcase_add_test(tc, test_net_runtime_one_way_cut);
    suite_add_tcase(s, tc);

    tc = tcase("limits", NULL);
    tcase_add_test(tc, test_deadline_saturates);
    tcase_add_test(tc, test_segment_reserved);
    suite_add_tcase(s, tc);

    tc = tcase("resource", setup_n3);
    tcase_add_test(tc, test_resource_overlap_counted_once);
    tcase_add_test(tc, test_resource_fencing);
    tcase_add_test(tc, test_resource_hammer);
    tcase_add_test(tc, test_resource_drop_redoes_traced_exit);
    tcase_add_test(tc, test_resource_drop_without_exit);
    tcase_add_test(tc, test_resource_drop_torn_exit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    reg = mmap(NULL, REG_MAX * sizeof *reg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (reg == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    SRunner *sr = srunner_create(transport_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    sweep();
    munmap(reg, REG_MAX * sizeof *reg);
    return failed ? 1 : 0;
}
