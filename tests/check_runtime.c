/* The node runtime, in process: a node built by hand around a small core
 * (no queues, no shared segment, no timerfd: the runtime's bookkeeping,
 * its storage and its trace only), stepped and served its timers directly.
 *
 * Timers: the last core timer id works; one out of range is never taken,
 * touches no timer of the workload or of the failure detector, and is
 * loud: a BUG line in the node's log and a counter.
 *
 * Storage: the storage actions land in the file in order and come back at
 * the next start; the steps of one turn share ONE sync, after which the
 * held acknowledgements leave and then the core hears EV_PERSISTED; a
 * failed write stops the node and nothing after it (an acknowledgement
 * least of all) is acted on.
 *
 * Send failures reach the core after the step that made the send, never
 * inside it, and a bounded number of them at a time.
 *
 * Clients: the share of each client, the pacing of an open loop, and a
 * closed loop that gets its answers within the submitting step. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/storage.h"
#include "ipc/util.h"
#include "nodes/algo.h"
#include "nodes/kv.h"
#include "nodes/pace.h"
#include "nodes/runtime_int.h"
#include "tests/helpers.h"

/* The tiny core: sets timer ALGO_MAX_TIMERS-1 at start; when a timer
 * fires, notes it and asks for three timers that do not exist. */
struct tiny {
    int fired[ALGO_MAX_TIMERS];
    int fired_bad; /* EV_TIMER with an id out of range: must stay 0 */
};

static int tiny_init(void *state, const struct algo_env *env)
{
    (void)state;
    (void)env;
    return 0;
}

static void tiny_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct tiny *t = state;
    if (ev->kind == EV_START) {
        act_set_timer(out, ALGO_MAX_TIMERS - 1, 1000);
    } else if (ev->kind == EV_TIMER) {
        if (ev->timer_id >= 0 && ev->timer_id < ALGO_MAX_TIMERS)
            t->fired[ev->timer_id]++;
        else
            t->fired_bad++;
        act_set_timer(out, ALGO_MAX_TIMERS, 1);
        act_cancel_timer(out, ALGO_MAX_TIMERS);
        act_set_timer(out, -1, 1);
    }
}

static bool tiny_competes(const struct algo_env *env, int id)
{
    (void)env;
    (void)id;
    return false;
}

static const struct algo_ops tiny_ops = {
    .name = "tiny",
    .range = 0x0e00,
    .key_field = "seq",
    .state_size = sizeof(struct tiny),
    .init = tiny_init,
    .step = tiny_step,
    .competes = tiny_competes,
};

static struct node *fake_node(void)
{
    struct node *nd = calloc(1, sizeof *nd);
    ck_assert_ptr_nonnull(nd);
    nd->run = calloc(1, sizeof *nd->run);
    ck_assert_ptr_nonnull(nd->run);
    nd->run->n = 1;
    nd->args.id = 1;
    nd->args.incarnation = 1;
    nd->me = &nd->run->node[1];
    nd->timerfd = nd->sigfd = -1;
    nd->tr.fd = -1; /* no trace file: records are dropped */
    nd->ops = &tiny_ops;
    nd->core = calloc(1, tiny_ops.state_size);
    ck_assert_ptr_nonnull(nd->core);
    nd->env = (struct algo_env){.id = 1, .n = 1, .incarnation = 1};
    ck_assert_int_eq(algo_actions_init(&nd->acts, 1), 0);
    ck_assert_int_eq(tiny_ops.init(nd->core, &nd->env), 0);
    char err[DL_ERRLEN] = "";
    nd->wl = &rt_workload_mutex;
    ck_assert_msg(nd->wl->init(nd, err) == 0, "%s", err);
    return nd;
}

static void free_node(struct node *nd)
{
    nd->wl->fini(nd);
    algo_actions_free(&nd->acts);
    free(nd->core);
    free(nd->run);
    free(nd);
}

/* The node's log (stderr) goes to a temporary file while f runs. */
static char *capture_log(void (*f)(struct node *), struct node *nd)
{
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    fflush(stderr);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(tmp), 2), 0);
    f(nd);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_int_eq(fseek(tmp, 0, SEEK_END), 0);
    long len = ftell(tmp);
    ck_assert_int_ge(len, 0);
    char *buf = calloc(1, (size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    rewind(tmp);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, tmp), (size_t)len);
    fclose(tmp);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void start(struct node *nd)
{
    struct algo_event ev = {.kind = EV_START, .now_us = rt_now(nd)};
    rt_step(nd, &ev);
}

static void fire_last(struct node *nd) { rt_fire_timers(nd, nd->deadline[ALGO_MAX_TIMERS - 1]); }

START_TEST(test_last_timer_id_fires)
{
    struct node *nd = fake_node();
    struct tiny *t = nd->core;
    char *log = capture_log(start, nd);
    ck_assert_str_eq(log, "");
    free(log);
    ck_assert_int_gt(nd->deadline[ALGO_MAX_TIMERS - 1], 0);
    ck_assert_uint_eq(nd->bad_timers, 0);
    log = capture_log(fire_last, nd);
    ck_assert_int_eq(t->fired[ALGO_MAX_TIMERS - 1], 1);
    ck_assert_int_eq(nd->deadline[ALGO_MAX_TIMERS - 1], 0);
    /* The three bad ids of the timer's step: refused, counted, said once. */
    ck_assert_uint_eq(nd->bad_timers, 3);
    char want[128];
    snprintf(want, sizeof want, "node 1: BUG: tiny set timer id %d, outside 0..%d", ALGO_MAX_TIMERS,
             ALGO_MAX_TIMERS - 1);
    ck_assert_msg(strstr(log, want), "log '%s', wanted '%s'", log, want);
    ck_assert_int_eq(count(log, "BUG"), 1);
    free(log);
    /* Nothing else was armed: not the workload's timers (which follow the
     * core's), not the failure detector's. */
    for (int i = 0; i < RT_NTIMERS; i++)
        ck_assert_msg(nd->deadline[i] == 0, "timer slot %d armed", i);
    ck_assert_int_eq(t->fired_bad, 0);
    free_node(nd);
}
END_TEST

/* The workload's timer slots never reach the core as timer events. */
START_TEST(test_workload_timers_are_not_the_cores)
{
    struct node *nd = fake_node();
    struct tiny *t = nd->core;
    int64_t now = rt_now(nd);
    for (int i = 0; i < RT_WL_TIMERS; i++)
        nd->deadline[RT_TIMER_WL + i] = now;
    rt_fire_timers(nd, now);
    ck_assert_int_eq(t->fired_bad, 0);
    for (int i = 0; i < ALGO_MAX_TIMERS; i++)
        ck_assert_int_eq(t->fired[i], 0);
    ck_assert_uint_eq(nd->bad_timers, 0);
    free_node(nd);
}
END_TEST

/* ---- storage ---- */

/* The log core: a message's f[0] says what to do (see log_step); it
 * records what it hears. */
enum { OP_TERM_VOTE = 1, OP_APPEND, OP_TRUNCATE, OP_SNAPSHOT, OP_BAD_APPEND, OP_SEND,
       OP_COMMIT_APPLY, OP_LAZY_APPEND };

#define LOG_EVENTS 512
struct logcore {
    int ev[LOG_EVENTS]; /* kinds of the events heard, in order */
    int nev;
    int depth, nested; /* a step inside a step: must stay 0 */
    int persisted;
    int64_t p_index, p_term;
    uint32_t held_at_persisted; /* the node's held sends when it heard EV_PERSISTED */
    struct algo_msg failed[LOG_EVENTS];
    int nfailed;
};

static struct node *the_node;                     /* for the core's looks at the node */
static void (*in_step_hook)(struct node *nd);     /* called inside an OP_SEND step */

static int log_init(void *state, const struct algo_env *env)
{
    (void)state;
    (void)env;
    return 0;
}

static void log_entries(struct algo_actions *out, int64_t first, int n, int64_t term)
{
    struct algo_entry e[16];
    char cmd[16][16];
    ck_assert_int_le(n, 16);
    for (int i = 0; i < n; i++) {
        int len = snprintf(cmd[i], sizeof cmd[i], "e%lld", (long long)(first + i));
        e[i] = (struct algo_entry){.term = term, .len = (uint32_t)len, .data = (uint8_t *)cmd[i]};
    }
    ck_assert(act_store_append(out, first, e, n));
}

static void log_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct logcore *c = state;
    if (c->depth++)
        c->nested++;
    if (c->nev < LOG_EVENTS)
        c->ev[c->nev++] = ev->kind;
    const int64_t *f = ev->msg.f;
    struct algo_msg ack = {.type = 0x0e01, .from = 1, .to = 2, .len = 3,
                           .payload = (const uint8_t *)"ack"};
    switch (ev->kind) {
    case EV_MESSAGE:
        switch (f[0]) {
        case OP_TERM_VOTE:
            act_store_term_vote(out, f[1], f[2]);
            ack.f[0] = f[1];
            ck_assert(act_send_ex(out, &ack, true));
            break;
        case OP_APPEND:
            log_entries(out, f[1], (int)f[2], f[3]);
            ack.f[0] = f[1];
            ck_assert(act_send_ex(out, &ack, true));
            break;
        case OP_TRUNCATE:
            act_store_truncate(out, f[1]);
            break;
        case OP_LAZY_APPEND: /* a leader's entries: nothing waits for them */
            log_entries(out, f[1], (int)f[2], f[3]);
            out->a[out->n - 1].lazy = true;
            break;
        case OP_SNAPSHOT:
            ck_assert(act_store_snapshot(out, f[1], f[2], "snap", 4));
            break;
        case OP_BAD_APPEND:
            log_entries(out, f[1], 1, 1); /* not last + 1: the storage refuses it */
            ck_assert(act_send_ex(out, &ack, true));
            act_set_timer(out, 3, 1000);
            break;
        case OP_SEND:
            ack.f[0] = 7;
            ack.f[1] = 8;
            ack.f[2] = 9;
            ack.f[3] = 10;
            ck_assert(act_send_ex(out, &ack, false));
            if (in_step_hook)
                in_step_hook(the_node);
            break;
        case OP_COMMIT_APPLY:
            act_commit(out, f[1], f[2]);
            ck_assert(act_apply(out, f[1], f[2], "e1", 2));
            break;
        }
        break;
    case EV_PERSISTED:
        c->persisted++;
        c->p_index = ev->index;
        c->p_term = ev->term;
        c->held_at_persisted = the_node->held_n;
        break;
    case EV_SEND_FAILED:
        if (c->nfailed < LOG_EVENTS)
            c->failed[c->nfailed++] = ev->msg;
        break;
    default:
        break;
    }
    c->depth--;
}

static const char *log_msg_name(uint16_t type) { return type == 0x0e01 ? "ack" : NULL; }

static const struct algo_ops log_ops = {
    .name = "logcore",
    .range = 0x0e00,
    .key_field = "term",
    .state_size = sizeof(struct logcore),
    .init = log_init,
    .step = log_step,
    .msg_name = log_msg_name,
    .competes = tiny_competes,
};

static char *dir;
static char path[PATH_MAX];

static void dir_setup(void)
{
    dir = h_tmpdir();
    snprintf(path, sizeof path, "%s/n1.log", dir);
}

static void dir_teardown(void)
{
    h_rmtree(dir);
    free(dir);
}

/* A node around the log core with its storage at path; with a trace in
 * dir when traced. */
static struct node *log_node(bool fsync, bool traced)
{
    struct node *nd = fake_node();
    free(nd->core);
    nd->ops = &log_ops;
    nd->core = calloc(1, log_ops.state_size);
    ck_assert_ptr_nonnull(nd->core);
    nd->wl->fini(nd);
    nd->wl = &rt_workload_server;
    char err[DL_ERRLEN] = "";
    ck_assert_msg(nd->wl->init(nd, err) == 0, "%s", err);
    ck_assert_msg(rt_storage_open_path(nd, path, fsync, err) == 0, "%s", err);
    nd->env.stored = rt_storage_stored(nd);
    if (traced)
        ck_assert_msg(trace_open(&nd->tr, dir, 1, 1, dl_mono_us(), err) == 0, "%s", err);
    the_node = nd;
    return nd;
}

static void free_log_node(struct node *nd)
{
    rt_storage_close(nd);
    free(nd->held);
    if (nd->tr.map)
        trace_close(&nd->tr);
    free_node(nd);
    the_node = NULL;
    in_step_hook = NULL;
}

static void msg(struct node *nd, int64_t op, int64_t a, int64_t b, int64_t c)
{
    struct algo_event ev = {.kind = EV_MESSAGE, .now_us = rt_now(nd)};
    ev.msg = (struct algo_msg){.type = 0x0e01, .from = 2, .to = 1, .f = {op, a, b, c}};
    rt_step(nd, &ev);
}

/* Three messages in one turn write a term and vote and five entries and
 * hold three acknowledgements (and a send made after them, which keeps its
 * place): the end of the turn makes ONE sync, sends what was held, then
 * tells the core (once) what is durable. A turn that wrote nothing syncs
 * nothing and tells nothing. */
START_TEST(test_group_commit)
{
    struct node *nd = log_node(true, false);
    struct logcore *c = nd->core;
    msg(nd, OP_TERM_VOTE, 3, 2, 0);
    msg(nd, OP_APPEND, 1, 3, 3);
    msg(nd, OP_APPEND, 4, 2, 3);
    ck_assert_uint_eq(nd->held_n, 3);
    msg(nd, OP_SEND, 0, 0, 0); /* not an ack, but after them: it waits too */
    ck_assert_uint_eq(nd->held_n, 4);
    ck_assert_int_eq(c->persisted, 0);
    uint64_t before = storage_fsync_count();
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 1);
    ck_assert_int_eq(c->persisted, 1);
    ck_assert_int_eq(c->p_index, 5);
    ck_assert_int_eq(c->p_term, 3);
    ck_assert_uint_eq(c->held_at_persisted, 0); /* the acks left first */
    ck_assert_uint_eq(nd->held_n, 0);
    ck_assert_uint_eq(nd->st_syncs, 1);
    /* Nothing written: no sync, no EV_PERSISTED; an acknowledgement with
     * nothing to wait for is not held. */
    msg(nd, OP_SEND, 0, 0, 0);
    before = storage_fsync_count();
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 0);
    ck_assert_int_eq(c->persisted, 1);
    ck_assert_int_eq(c->nested, 0);
    free_log_node(nd);
}
END_TEST

/* Lazy writes alone (algo.h) are not synced at the end of their turn: the
 * runtime's timer syncs them ALGO_LAZY_SYNC_US later, unless a write that
 * is not lazy or a held send comes first, whose sync covers them. Without
 * fsync there is nothing to put off. */
START_TEST(test_lazy_sync)
{
    struct node *nd = log_node(true, false);
    struct logcore *c = nd->core;
    uint64_t before = storage_fsync_count();
    int64_t t = rt_now(nd);
    msg(nd, OP_LAZY_APPEND, 1, 2, 1);
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 0);
    ck_assert_int_eq(c->persisted, 0);
    ck_assert_int_ge(nd->st_lazy_due, t + ALGO_LAZY_SYNC_US);
    ck_assert_int_le(nd->st_lazy_due, rt_now(nd) + ALGO_LAZY_SYNC_US);
    ck_assert_int_eq(nd->deadline[RT_TIMER_RT], nd->st_lazy_due);
    int64_t due = nd->st_lazy_due;
    msg(nd, OP_LAZY_APPEND, 3, 1, 1);
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 0);
    ck_assert_int_eq(nd->st_lazy_due, due); /* from the first of them */
    /* An acknowledged append: one sync for all, at once. */
    msg(nd, OP_APPEND, 4, 1, 1);
    ck_assert_uint_eq(nd->held_n, 1);
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 1);
    ck_assert_int_eq(c->persisted, 1);
    ck_assert_int_eq(c->p_index, 4);
    ck_assert_int_eq(nd->st_lazy_due, 0);
    /* Lazy again, and its time comes (the timer's turn): synced. */
    msg(nd, OP_LAZY_APPEND, 5, 2, 1);
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 1);
    nd->st_lazy_due = rt_now(nd);
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 2);
    ck_assert_int_eq(c->persisted, 2);
    ck_assert_int_eq(c->p_index, 6);
    ck_assert_int_eq(c->nested, 0);
    free_log_node(nd);

    nd = log_node(false, false); /* the same file: entries 1..6 */
    c = nd->core;
    msg(nd, OP_LAZY_APPEND, 7, 2, 1);
    rt_end_turn(nd);
    ck_assert_int_eq(c->persisted, 1);
    ck_assert_int_eq(c->p_index, 8);
    ck_assert_int_eq(nd->st_lazy_due, 0);
    free_log_node(nd);
}
END_TEST

/* With fsync off a turn's writes are reported all the same, with no
 * fdatasync. */
START_TEST(test_group_commit_nosync)
{
    struct node *nd = log_node(false, false);
    struct logcore *c = nd->core;
    msg(nd, OP_APPEND, 1, 2, 1);
    uint64_t before = storage_fsync_count();
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 0);
    ck_assert_int_eq(c->persisted, 1);
    ck_assert_int_eq(c->p_index, 2);
    ck_assert_int_eq(c->p_term, 1);
    free_log_node(nd);
}
END_TEST

/* What was written comes back at the next start, as the storage actions
 * left it: term and vote (a vote of 0 is none), a truncation, a snapshot;
 * a torn tail is dropped, and the log says so. A fresh file gives the
 * core nothing (a first start). */
START_TEST(test_recover)
{
    struct node *nd = log_node(true, false);
    ck_assert_ptr_null(nd->env.stored);
    msg(nd, OP_TERM_VOTE, 4, 0, 0);
    msg(nd, OP_APPEND, 1, 6, 4);
    msg(nd, OP_TRUNCATE, 5, 0, 0);
    msg(nd, OP_SNAPSHOT, 2, 4, 0);
    rt_end_turn(nd);
    ck_assert(!nd->fatal);
    free_log_node(nd);
    /* A torn record after the last good one. */
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    off_t end = lseek(fd, 0, SEEK_END);
    ck_assert_int_gt(end, 0);
    /* The file is preallocated: find the end of the records. */
    struct storage *st;
    char err[DL_ERRLEN];
    ck_assert_int_eq(storage_open(&st, path, NULL, NULL, err), 0);
    off_t used = (off_t)storage_file_size(st);
    storage_close(st);
    ck_assert_int_eq(pwrite(fd, "\x44\x4c\x01\x02garbage", 11, used), 11);
    close(fd);

    nd = fake_node();
    nd->ops = &log_ops;
    char *log = NULL;
    {
        FILE *tmp = tmpfile();
        fflush(stderr);
        int saved = dup(2);
        dup2(fileno(tmp), 2);
        ck_assert_msg(rt_storage_open_path(nd, path, true, err) == 0, "%s", err);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        long len = ftell(tmp);
        log = calloc(1, (size_t)len + 1);
        rewind(tmp);
        ck_assert_uint_eq(fread(log, 1, (size_t)len, tmp), (size_t)len);
        fclose(tmp);
    }
    ck_assert_msg(strstr(log, "dropped the 11 bytes after them"), "log: %s", log);
    free(log);
    const struct algo_stored *s = rt_storage_stored(nd);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->term, 4);
    ck_assert_int_eq(s->vote, 0);
    ck_assert_int_eq(s->snap_index, 2);
    ck_assert_int_eq(s->snap_term, 4);
    ck_assert_uint_eq(s->snap_len, 4);
    ck_assert_mem_eq(s->snap, "snap", 4);
    ck_assert_int_eq(s->first_index, 3);
    ck_assert_int_eq(s->last_index, 4);
    struct algo_entry e;
    ck_assert(s->entry(s->ctx, 3, &e));
    ck_assert_int_eq(e.term, 4);
    ck_assert_uint_eq(e.len, 2);
    ck_assert_mem_eq(e.data, "e3", 2);
    ck_assert(s->entry(s->ctx, 4, &e));
    ck_assert_mem_eq(e.data, "e4", 2);
    ck_assert(!s->entry(s->ctx, 5, &e));
    ck_assert(!s->entry(s->ctx, 2, &e));
    rt_storage_close(nd);
    free_node(nd);
}
END_TEST

static void bad_append(struct node *nd)
{
    msg(nd, OP_TERM_VOTE, 2, 1, 0); /* written, its ack held */
    msg(nd, OP_BAD_APPEND, 9, 0, 0);
}

/* A write the storage refuses stops the node: nothing after it in the step
 * is done, the acknowledgements held so far are never sent, the end of the
 * turn neither syncs nor tells the core anything durable; the log says it
 * loudly. */
START_TEST(test_storage_failure_is_fatal)
{
    struct node *nd = log_node(true, false);
    struct logcore *c = nd->core;
    char *log = capture_log(bad_append, nd);
    ck_assert_msg(strstr(log, "node 1: STORAGE FAILED: appending entries"), "log: %s", log);
    free(log);
    ck_assert(nd->fatal);
    ck_assert(nd->loop.stop);
    ck_assert_int_eq(nd->deadline[3], 0);
    ck_assert_uint_eq(nd->held_n, 0);
    uint64_t before = storage_fsync_count();
    rt_end_turn(nd);
    ck_assert_uint_eq(storage_fsync_count() - before, 0);
    ck_assert_int_eq(c->persisted, 0);
    free_log_node(nd);
}
END_TEST

/* ---- traces of a replicated log ---- */

static const struct trace_rec *find_ev(const struct trace_rec *r, size_t n, int ev, int nth)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].ev == ev && nth-- == 0)
            return &r[i];
    return NULL;
}

/* A commit and an apply are traced with index and term (the apply with its
 * command's hash and length); a held acknowledgement is traced as sent
 * when it leaves, after the sync, not when the core asked. */
START_TEST(test_traces)
{
    struct node *nd = log_node(false, true);
    msg(nd, OP_APPEND, 1, 1, 5);
    int64_t asked = rt_now(nd);
    msg(nd, OP_COMMIT_APPLY, 1, 5, 0);
    msg(nd, OP_APPEND, 2, 3, 6);  /* entries 2..4 of term 6 */
    msg(nd, OP_TRUNCATE, 3, 0, 0); /* 3..4 rolled back */
    msg(nd, OP_TRUNCATE, 9, 0, 0); /* past the end: nothing dropped, no record */
    rt_end_turn(nd);
    trace_close(&nd->tr);
    struct trace_rec *r;
    size_t n;
    char err[DL_ERRLEN];
    ck_assert_msg(trace_load(dir, &r, &n, err) == 0, "%s", err);
    const struct trace_rec *commit = find_ev(r, n, TR_COMMIT, 0);
    const struct trace_rec *apply = find_ev(r, n, TR_APPLY, 0);
    const struct trace_rec *send = find_ev(r, n, TR_SEND, 0);
    ck_assert_ptr_nonnull(commit);
    ck_assert_ptr_nonnull(apply);
    ck_assert_ptr_nonnull(send);
    ck_assert_int_eq(commit->a, 1);
    ck_assert_int_eq(commit->key, 5);
    ck_assert_int_eq(apply->a, 1);
    ck_assert_int_eq(apply->key, 5);
    ck_assert_int_eq(apply->b, trace_hash("e1", 2));
    ck_assert_int_eq(apply->aux, 2);
    /* The ack: after the apply (it waited for the end of the turn). */
    ck_assert_int_ge(send->t_us, asked);
    ck_assert(send > apply);
    ck_assert_int_eq(send->peer, 2);
    /* The rollback: entries 3..4, the first of term 6; written before the
     * storage dropped them. */
    const struct trace_rec *tr = find_ev(r, n, TR_TRUNCATE, 0);
    ck_assert_ptr_nonnull(tr);
    ck_assert_int_eq(tr->a, 3);
    ck_assert_int_eq(tr->b, 4);
    ck_assert_int_eq(tr->key, 6);
    ck_assert_ptr_null(find_ev(r, n, TR_TRUNCATE, 1));
    free(r);
    free_log_node(nd);
}
END_TEST

/* ---- send failures ---- */

static void fail_now(struct node *nd)
{
    struct wire_hdr h = {.type = 0x0e01, .to = 2, .f = {7, 8, 9, 10}};
    rt_send_failed(nd, &h);
}

/* A send refused inside a step (as the transport refuses one while the
 * runtime applies the step's sends) reaches the core after the step, with
 * its header, never inside it. */
START_TEST(test_send_failed_after_step)
{
    struct node *nd = log_node(false, false);
    struct logcore *c = nd->core;
    in_step_hook = fail_now;
    msg(nd, OP_SEND, 0, 0, 0);
    ck_assert_int_eq(c->nested, 0);
    ck_assert_int_eq(c->nfailed, 1);
    ck_assert_int_eq(c->nev, 2);
    ck_assert_int_eq(c->ev[0], EV_MESSAGE);
    ck_assert_int_eq(c->ev[1], EV_SEND_FAILED);
    ck_assert_uint_eq(c->failed[0].type, 0x0e01);
    ck_assert_uint_eq(c->failed[0].to, 2);
    ck_assert_uint_eq(c->failed[0].from, 1);
    ck_assert_uint_eq(c->failed[0].len, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(c->failed[0].f[i], 7 + i);
    ck_assert_int_eq(nd->failq_n, 0);
    free_log_node(nd);
}
END_TEST

/* Refused outside any step (a backlog drained later, a delayed message
 * released): it waits for the runtime's timer, due at once. Bounded: what
 * does not fit is counted and said once; the rest arrives in batches. */
START_TEST(test_send_failed_outside_step)
{
    struct node *nd = log_node(false, false);
    struct logcore *c = nd->core;
    fail_now(nd);
    ck_assert_int_eq(c->nev, 0);
    ck_assert_int_gt(nd->deadline[RT_TIMER_RT], 0);
    rt_fire_timers(nd, nd->deadline[RT_TIMER_RT]);
    ck_assert_int_eq(c->nfailed, 1);
    ck_assert_int_eq(nd->deadline[RT_TIMER_RT], 0);

    c->nfailed = c->nev = 0;
    char *log = NULL;
    {
        FILE *tmp = tmpfile();
        fflush(stderr);
        int saved = dup(2);
        dup2(fileno(tmp), 2);
        for (int i = 0; i < RT_FAILQ + 5; i++)
            fail_now(nd);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        long len = ftell(tmp);
        log = calloc(1, (size_t)len + 1);
        rewind(tmp);
        ck_assert_uint_eq(fread(log, 1, (size_t)len, tmp), (size_t)len);
        fclose(tmp);
    }
    ck_assert_uint_eq(nd->failq_lost, 5);
    ck_assert_int_eq(count(log, "send failures waiting"), 1);
    free(log);
    int rounds = 0;
    while (nd->deadline[RT_TIMER_RT] && rounds < 100) {
        int before = c->nfailed;
        rt_fire_timers(nd, nd->deadline[RT_TIMER_RT]);
        ck_assert_int_le(c->nfailed - before, RT_FAIL_BATCH);
        rounds++;
    }
    ck_assert_int_eq(c->nfailed, RT_FAILQ);
    ck_assert_int_ge(rounds, RT_FAILQ / RT_FAIL_BATCH);
    ck_assert_int_eq(c->nested, 0);
    free_log_node(nd);
}
END_TEST

/* ---- clients ---- */

START_TEST(test_client_share)
{
    int64_t sum = 0;
    for (int k = 1; k <= 3; k++)
        sum += rt_client_share(10, 3, k);
    ck_assert_int_eq(sum, 10);
    ck_assert_int_eq(rt_client_share(10, 3, 1), 4);
    ck_assert_int_eq(rt_client_share(10, 3, 3), 3);
    ck_assert_int_eq(rt_client_share(2, 3, 3), 0);
    ck_assert_int_eq(rt_client_share(2, 3, 4), 0);
    ck_assert_int_eq(rt_client_share(5, 0, 1), 0);
}
END_TEST

/* A sequential client: the next operation when the previous is answered,
 * and with a rate no sooner than its interval after the previous
 * submission; never past its total. */
START_TEST(test_pace)
{
    int64_t next;
    struct pace p = {.next_us = 5000, .interval_us = 1000, .total = 3};
    ck_assert_int_eq(pace_due(&p, 4000, 0, &next), 0); /* not yet */
    ck_assert_int_eq(next, 5000);
    ck_assert_int_eq(pace_due(&p, 5000, 0, &next), 1);
    p.submitted = 1;
    p.next_us = 6000;
    ck_assert_int_eq(pace_due(&p, 9000, 1, &next), 0); /* its answer first */
    ck_assert_int_eq(next, 0);
    ck_assert_int_eq(pace_due(&p, 5500, 0, &next), 0); /* answered early: the rate */
    ck_assert_int_eq(next, 6000);
    ck_assert_int_eq(pace_due(&p, 9000, 0, &next), 1); /* answered late: at once */
    p.submitted = 3;
    ck_assert_int_eq(pace_due(&p, 99000, 0, &next), 0);
    ck_assert_int_eq(next, 0);
    /* No rate: only the answer counts. */
    struct pace c = {.next_us = 0, .interval_us = 0, .total = 2};
    ck_assert_int_eq(pace_due(&c, 10, 0, &next), 1);
    ck_assert_int_eq(pace_due(&c, 10, 1, &next), 0);
    ck_assert_int_eq(next, 0);
}
END_TEST

/* A pipelining client keeps to its schedule: one that fell behind (a busy
 * CPU, a full window) submits back to back until it is on time again, so
 * the load offered is what its rate says; but no more than a second's
 * worth: what fell further behind is dropped from the schedule. A
 * sequential client waits its interval after each submission. */
START_TEST(test_pace_catch_up)
{
    int64_t next;
    struct pace p = {.next_us = 1000, .interval_us = 1000, .total = 1000000, .window = 8};
    /* 20 ms late (20 of its times went by): 20 due at once, the window
     * permitting, then the 21st on time. */
    int64_t now = 21000;
    int due = 0;
    while (pace_due(&p, now, 0, &next)) {
        pace_submitted(&p, now);
        due++;
    }
    ck_assert_int_eq(due, 21);
    ck_assert_int_eq(next, 22000);
    /* The window is a limit of its own: 8 in flight, then the answer. */
    ck_assert_int_eq(pace_due(&p, 30000, 8, &next), 0);
    ck_assert_int_eq(next, 0);
    /* Five seconds without a submission (a cluster without a leader):
     * one second's worth is made up, not five. */
    now = 5000000 + 22000;
    due = 0;
    while (pace_due(&p, now, 0, &next)) {
        pace_submitted(&p, now);
        due++;
    }
    ck_assert_int_eq(due, PACE_MAX_LAG_US / 1000 + 1);
    ck_assert_int_eq(next, now + 1000);
    /* A slow rate and a window of 8: it may still lag a window's worth. */
    struct pace w = {.next_us = 1000000, .interval_us = 1000000, .total = 100, .window = 8};
    now = 100000000;
    due = 0;
    while (pace_due(&w, now, 0, &next)) {
        pace_submitted(&w, now);
        due++;
    }
    ck_assert_int_eq(due, 8);
    /* Sequential: the interval after each submission, late or not. */
    struct pace s = {.next_us = 1000, .interval_us = 1000, .total = 10, .window = 1};
    ck_assert_int_eq(pace_due(&s, 50000, 0, &next), 1);
    pace_submitted(&s, 50000);
    ck_assert_int_eq(pace_due(&s, 50000, 0, &next), 0);
    ck_assert_int_eq(next, 51000);
}
END_TEST

/* A client whose core takes its time: with a rate the client submits one,
 * waits for its answer, then for its interval. */
struct slow {
    int64_t ops[8];
    int n;
};

static void slow_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct slow *q = state;
    if (ev->kind == EV_COMMAND && q->n < 8)
        q->ops[q->n++] = ev->msg.f[0];
    (void)out;
}

static const struct algo_ops slow_ops = {
    .name = "slow",
    .range = 0x0e00,
    .key_field = "op",
    .state_size = sizeof(struct slow),
    .init = tiny_init,
    .step = slow_step,
    .competes = tiny_competes,
};

START_TEST(test_client_rate)
{
    struct node *nd = fake_node();
    nd->wl->fini(nd);
    free(nd->core);
    nd->ops = &slow_ops;
    nd->core = calloc(1, slow_ops.state_size);
    nd->run->n = 3;
    nd->args.id = 4;
    nd->me = &nd->run->node[4];
    nd->env = (struct algo_env){.id = 4, .n = 3, .clients = 1, .incarnation = 1};
    nd->run->params.requests = 2;
    nd->run->params.clients = 1;
    nd->run->params.rate = 0.5; /* one per 2 s: the interval outlasts the test */
    nd->wl = &rt_workload_client;
    char err[DL_ERRLEN] = "";
    ck_assert_msg(nd->wl->init(nd, err) == 0, "%s", err);
    struct slow *q = nd->core;
    int64_t t0 = rt_now(nd);
    nd->wl->cluster_up(nd);
    nd->wl->settle(nd);
    ck_assert_int_eq(q->n, 1);
    ck_assert_int_eq(nd->deadline[RT_TIMER_WL], 0); /* waits for the answer */
    struct algo_action ok = {.kind = ACT_CLIENT, .outcome = ALGO_OP_OK, .key = 1};
    nd->wl->client_outcome(nd, &ok);
    nd->wl->client_outcome(nd, &ok); /* a second answer to the same op: ignored */
    nd->wl->settle(nd);
    ck_assert_int_eq(q->n, 1);
    ck_assert_int_ge(nd->deadline[RT_TIMER_WL], t0 + 2000000);
    ck_assert_int_le(nd->deadline[RT_TIMER_WL], rt_now(nd) + 2000000);
    ck_assert_int_eq(atomic_load(&nd->me->requests_done), 1);
    ck_assert_int_eq(q->ops[0], 1);
    ck_assert_int_eq(atomic_load(&nd->me->workload_done), 0);
    free_node(nd);
}
END_TEST

/* A client core that answers every command within the step: invoke, then
 * ok. */
struct quick {
    int64_t ops[64];
    char cmds[64][64];
    uint32_t lens[64];
    int n;
    int nested, depth;
};

static void quick_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct quick *q = state;
    if (q->depth++)
        q->nested++;
    if (ev->kind == EV_COMMAND && q->n < 64) {
        q->ops[q->n] = ev->msg.f[0];
        ck_assert_uint_lt(ev->msg.len, sizeof q->cmds[0]);
        memcpy(q->cmds[q->n], ev->msg.payload, ev->msg.len);
        q->lens[q->n] = ev->msg.len;
        q->n++;
        ck_assert(act_client(out, ALGO_OP_INVOKE, ev->msg.f[0], 0, 0, 0, ev->msg.payload,
                             ev->msg.len));
        ck_assert(act_client(out, ALGO_OP_OK, ev->msg.f[0], 2, q->n, 1, NULL, 0));
    }
    q->depth--;
}

static const struct algo_ops quick_ops = {
    .name = "quick",
    .range = 0x0e00,
    .key_field = "op",
    .state_size = sizeof(struct quick),
    .init = tiny_init,
    .step = quick_step,
    .competes = tiny_competes,
};

/* Closed loop, answered at once: every op submitted once, in order, with
 * unique command bytes, a bounded number per settle (the rest through the
 * timer), and the client is done when the last is answered. */
START_TEST(test_client_closed_loop)
{
    struct node *nd = fake_node();
    nd->wl->fini(nd);
    free(nd->core);
    nd->ops = &quick_ops;
    nd->core = calloc(1, quick_ops.state_size);
    nd->run->n = 3;
    nd->args.id = 5; /* client 2 of 2 */
    nd->me = &nd->run->node[5];
    nd->env = (struct algo_env){.id = 5, .n = 3, .clients = 2, .incarnation = 1};
    nd->run->params.requests = 81; /* 41 + 40 */
    nd->run->params.clients = 2;
    nd->run->params.rate = 0;
    nd->wl = &rt_workload_client;
    char err[DL_ERRLEN] = "";
    ck_assert_msg(nd->wl->init(nd, err) == 0, "%s", err);
    struct quick *q = nd->core;
    nd->wl->cluster_up(nd);
    nd->wl->settle(nd);
    ck_assert_int_gt(q->n, 0);
    ck_assert_int_lt(q->n, 40); /* bounded: the rest after the loop's other work */
    ck_assert_int_gt(nd->deadline[RT_TIMER_WL], 0);
    for (int i = 0; i < 100 && nd->deadline[RT_TIMER_WL]; i++)
        rt_fire_timers(nd, nd->deadline[RT_TIMER_WL]);
    ck_assert_int_eq(q->n, 40);
    for (int i = 0; i < 40; i++) {
        /* Key-value commands, each tagged with its token (kvload.h). */
        char want[16];
        int wl = snprintf(want, sizeof want, "c2-%d", i + 1);
        ck_assert_int_eq(q->ops[i], i + 1);
        struct kv_cmd kc;
        ck_assert(kv_decode((const uint8_t *)q->cmds[i], q->lens[i], &kc));
        ck_assert_uint_eq(kc.tlen, (uint32_t)wl);
        ck_assert_mem_eq(kc.tag, want, (size_t)wl);
    }
    ck_assert_int_eq(q->nested, 0);
    ck_assert_int_eq(atomic_load(&nd->me->workload_done), 1);
    ck_assert_int_eq(atomic_load(&nd->me->requests_done), 40);
    ck_assert_int_eq(atomic_load(&nd->me->ops_ok), 40);
    ck_assert_int_eq(atomic_load(&nd->me->ops_timeout), 0);
    ck_assert_uint_eq(atomic_load(&nd->me->cnt[CNT_REQUESTS]), 40);
    free_node(nd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("timers");
    tcase_add_test(tc, test_last_timer_id_fires);
    tcase_add_test(tc, test_workload_timers_are_not_the_cores);
    suite_add_tcase(s, tc);
    tc = tcase_create("storage");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_group_commit_nosync);
    tcase_add_test(tc, test_lazy_sync);
    tcase_add_test(tc, test_recover);
    tcase_add_test(tc, test_storage_failure_is_fatal);
    tcase_add_test(tc, test_traces);
    suite_add_tcase(s, tc);
    tc = tcase_create("send_failed");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_send_failed_after_step);
    tcase_add_test(tc, test_send_failed_outside_step);
    suite_add_tcase(s, tc);
    tc = tcase_create("clients");
    tcase_add_test(tc, test_client_share);
    tcase_add_test(tc, test_pace);
    tcase_add_test(tc, test_pace_catch_up);
    tcase_add_test(tc, test_client_closed_loop);
    tcase_add_test(tc, test_client_rate);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
