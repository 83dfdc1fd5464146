/* The Raft core (nodes/raft*.c): rules fed by hand to one node, and whole
 * clusters on a small deterministic network in this file (a seeded event
 * loop delivering the actions of N server cores and client cores, instant
 * storage that answers with EV_PERSISTED, optional loss, partitions and
 * crash-restarts from the kept durable image), with the core's own
 * invariant checked after every step. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/algo.h"
#include "nodes/raft_int.h"
#include "nodes/rng.h"

#define OPS  (&algo_raft)
#define COPS (&algo_raft_client)
#define MAXP 16

/* ---- counting memory: what a core holds, through its algo_mem ---- */

struct memcount {
    size_t now, peak;
};

static void *count_realloc(void *ctx, void *p, size_t size)
{
    struct memcount *mc = ctx;
    size_t old = 0;
    if (p) {
        p = (char *)p - 16;
        old = *(size_t *)p;
    }
    if (size == 0) {
        free(p);
        mc->now -= old;
        return NULL;
    }
    void *q = realloc(p, size + 16);
    if (!q)
        return NULL;
    *(size_t *)q = size;
    mc->now = mc->now - old + size;
    if (mc->now > mc->peak)
        mc->peak = mc->now;
    return (char *)q + 16;
}

/* ---- the durable image of one server (instant storage) ---- */

struct sent {
    int64_t term;
    uint32_t len;
    uint8_t *data;
};

struct image {
    bool any;
    int64_t term, vote;
    int64_t snap_index, snap_term;
    uint8_t *snap;
    uint32_t snap_len;
    int64_t first; /* entries first .. first + count - 1 */
    struct sent *e;
    int64_t count, cap;
};

static void image_truncate(struct image *im, int64_t from)
{
    while (im->count > 0 && im->first + im->count - 1 >= from) {
        im->count--;
        free(im->e[im->count].data);
    }
}

static void image_append(struct image *im, int64_t index, const struct algo_entry *e)
{
    ck_assert_int_eq(index, im->first + im->count);
    if (im->count == im->cap) {
        im->cap = im->cap ? 2 * im->cap : 64;
        im->e = realloc(im->e, (size_t)im->cap * sizeof *im->e);
        ck_assert_ptr_nonnull(im->e);
    }
    struct sent *s = &im->e[im->count++];
    s->term = e->term;
    s->len = e->len;
    s->data = malloc(e->len ? e->len : 1);
    if (e->len)
        memcpy(s->data, e->data, e->len);
}

static void image_snapshot(struct image *im, int64_t index, int64_t term, const uint8_t *p,
                           uint32_t len)
{
    free(im->snap);
    im->snap = malloc(len ? len : 1);
    memcpy(im->snap, p, len);
    im->snap_len = len;
    im->snap_index = index;
    im->snap_term = term;
    /* Drop the entries the snapshot covers. */
    int64_t drop = 0;
    while (drop < im->count && im->first + drop <= index)
        free(im->e[drop++].data);
    memmove(im->e, im->e + drop, (size_t)(im->count - drop) * sizeof *im->e);
    im->count -= drop;
    if (im->count == 0 || im->first + drop > index + 1) {
        if (im->count == 0)
            im->first = index + 1;
        else
            im->first += drop;
    } else {
        im->first += drop;
    }
}

static void image_free(struct image *im)
{
    image_truncate(im, 0);
    free(im->e);
    free(im->snap);
    memset(im, 0, sizeof *im);
    im->first = 1;
}

static bool image_entry(const void *ctx, int64_t index, struct algo_entry *e)
{
    const struct image *im = ctx;
    if (index < im->first || index >= im->first + im->count)
        return false;
    const struct sent *s = &im->e[index - im->first];
    e->term = s->term;
    e->len = s->len;
    e->data = s->data;
    return true;
}

static int64_t image_last(const struct image *im)
{
    return im->count ? im->first + im->count - 1 : im->snap_index;
}

static int64_t image_last_term(const struct image *im)
{
    return im->count ? im->e[im->count - 1].term : im->snap_term;
}

/* ---- the network ---- */

enum { Q_MSG = 1, Q_PERSISTED, Q_COMMAND };

struct qitem {
    int64_t at, seq;
    int kind, to;
    struct algo_msg msg;
    uint8_t *payload;
};

struct net {
    int n, clients, total;
    struct algo_env env[MAXP + 1];
    void *st[MAXP + 1];
    struct algo_actions out[MAXP + 1];
    bool up[MAXP + 1];
    int incarnation[MAXP + 1];
    int64_t timer[MAXP + 1][ALGO_MAX_TIMERS]; /* -1: unarmed */
    struct image im[MAXP + 1];
    struct memcount mem[MAXP + 1];
    struct algo_mem amem[MAXP + 1];
    struct dl_rng rng;
    int64_t now, seq;
    struct qitem *q;
    int nq, capq;
    /* faults */
    int drop_pct;
    int group[MAXP + 1]; /* messages cross only within a group */
    int64_t delay_us, jitter_us;
    /* counters */
    int64_t sent[RAFT_MSG_LAST - MSG_RANGE_RAFT + 1];
    int64_t server_msgs, steps, malformed;
    /* what was applied: per index its command hash, and per node the order */
    uint64_t *applied_hash;
    int64_t applied_cap;
    int64_t applied_max[MAXP + 1];
    int64_t apply_count[MAXP + 1];
    int64_t snapshots[MAXP + 1];
    /* client workload: commands per client, outcomes */
    int64_t ops_target, ops_issued[MAXP + 1], ops_ok[MAXP + 1], ops_fail[MAXP + 1],
        ops_timeout[MAXP + 1];
    int64_t cmd_gap_us;
    int64_t leader_changes;
};

static uint64_t hash_cmd(const void *p, uint32_t len)
{
    return raft_hash_bytes(0x1234, p, len);
}

static void q_push(struct net *w, int64_t at, int kind, int to, const struct algo_msg *m)
{
    if (w->nq == w->capq) {
        w->capq = w->capq ? 2 * w->capq : 256;
        w->q = realloc(w->q, (size_t)w->capq * sizeof *w->q);
        ck_assert_ptr_nonnull(w->q);
    }
    struct qitem *it = &w->q[w->nq++];
    memset(it, 0, sizeof *it);
    it->at = at;
    it->seq = w->seq++;
    it->kind = kind;
    it->to = to;
    if (m) {
        it->msg = *m;
        if (m->len) {
            it->payload = malloc(m->len);
            memcpy(it->payload, m->payload, m->len);
        }
        it->msg.payload = it->payload;
    }
}

static void net_start_node(struct net *w, int p);

static struct net *net_new(int n, int clients, uint64_t seed, void (*tune)(struct algo_env *))
{
    struct net *w = calloc(1, sizeof *w);
    ck_assert_ptr_nonnull(w);
    w->n = n;
    w->clients = clients;
    w->total = n + clients;
    ck_assert_int_le(w->total, MAXP);
    dl_rng_seed(&w->rng, seed);
    w->delay_us = 1000;
    w->jitter_us = 500;
    w->cmd_gap_us = 100;
    for (int p = 1; p <= w->total; p++) {
        w->amem[p] = (struct algo_mem){count_realloc, &w->mem[p]};
        struct algo_env *e = &w->env[p];
        memset(e, 0, sizeof *e);
        e->id = p;
        e->n = n;
        e->clients = clients;
        e->seed = seed * 1000 + (uint64_t)p;
        e->mem = &w->amem[p];
        e->max_inline = 8192;
        if (tune)
            tune(e);
        ck_assert_int_eq(algo_actions_init(&w->out[p], w->total), 0);
        w->im[p].first = 1;
        for (int t = 0; t < ALGO_MAX_TIMERS; t++)
            w->timer[p][t] = -1;
    }
    for (int p = 1; p <= w->total; p++)
        net_start_node(w, p);
    return w;
}

static const struct algo_ops *ops_of(const struct net *w, int p)
{
    return p <= w->n ? OPS : COPS;
}

static void net_apply(struct net *w, int p);

static void net_step(struct net *w, int p, const struct algo_event *ev)
{
    algo_actions_clear(&w->out[p]);
    ops_of(w, p)->step(w->st[p], ev, &w->out[p]);
    w->steps++;
    ck_assert_int_eq(w->out[p].overflow, 0);
    w->malformed += w->out[p].malformed;
    net_apply(w, p);
    if (p <= w->n) {
        const void *cores[MAXP + 1] = {0};
        for (int k = 1; k <= w->n; k++)
            cores[k] = w->up[k] ? w->st[k] : NULL;
        char why[256];
        if (!OPS->invariant(cores, w->n, why, sizeof why))
            ck_abort_msg("invariant after a step of node %d at %lld: %s", p, (long long)w->now,
                         why);
    }
}

static int64_t insp_applied(const void *st)
{
    struct algo_inspect in;
    OPS->inspect(st, &in);
    return in.applied_index;
}

static void net_start_node(struct net *w, int p)
{
    struct algo_env *e = &w->env[p];
    e->incarnation = ++w->incarnation[p];
    struct algo_stored st;
    const struct image *im = &w->im[p];
    e->stored = NULL;
    if (p <= w->n && im->any) {
        st = (struct algo_stored){.term = im->term,
                                  .vote = im->vote,
                                  .snap_index = im->snap_index,
                                  .snap_term = im->snap_term,
                                  .snap = im->snap,
                                  .snap_len = im->snap_len,
                                  .first_index = im->first,
                                  .last_index = im->first + im->count - 1,
                                  .entry = image_entry,
                                  .ctx = im};
        e->stored = &st;
    }
    w->st[p] = calloc(1, ops_of(w, p)->state_size);
    ck_assert_ptr_nonnull(w->st[p]);
    ck_assert_int_eq(ops_of(w, p)->init(w->st[p], e), 0);
    e->stored = NULL;
    w->up[p] = true;
    if (p <= w->n)
        w->applied_max[p] = insp_applied(w->st[p]);
    struct algo_event ev = {.kind = EV_START, .now_us = w->now};
    net_step(w, p, &ev);
}

static void net_crash(struct net *w, int p)
{
    ops_of(w, p)->fini(w->st[p]);
    free(w->st[p]);
    w->st[p] = NULL;
    w->up[p] = false;
    for (int t = 0; t < ALGO_MAX_TIMERS; t++)
        w->timer[p][t] = -1;
    ck_assert_int_eq(w->mem[p].now, 0); /* the core gave back all it held */
}

static bool cut(const struct net *w, int a, int b)
{
    return w->group[a] != w->group[b];
}

static void record_apply(struct net *w, int p, const struct algo_action *a)
{
    /* Applies come in order, one index after another (a snapshot install
     * may jump ahead: the commit action tells). */
    ck_assert_int_eq(a->index, w->applied_max[p] + 1);
    w->applied_max[p] = a->index;
    w->apply_count[p]++;
    if (a->index >= w->applied_cap) {
        int64_t cap = w->applied_cap ? w->applied_cap : 1024;
        while (cap <= a->index)
            cap *= 2;
        w->applied_hash = realloc(w->applied_hash, (size_t)cap * sizeof *w->applied_hash);
        memset(w->applied_hash + w->applied_cap, 0,
               (size_t)(cap - w->applied_cap) * sizeof *w->applied_hash);
        w->applied_cap = cap;
    }
    uint64_t h = hash_cmd(a->msg.payload, a->msg.len) | 1;
    if (w->applied_hash[a->index] == 0)
        w->applied_hash[a->index] = h;
    else
        ck_assert_msg(w->applied_hash[a->index] == h, "node %d applied another command at %lld",
                      p, (long long)a->index);
}

static void submit(struct net *w, int c, int64_t at)
{
    if (w->ops_issued[c] >= w->ops_target)
        return;
    q_push(w, at, Q_COMMAND, c, NULL);
}

static void net_apply(struct net *w, int p)
{
    struct algo_actions *o = &w->out[p];
    bool stored = false;
    for (int i = 0; i < o->n; i++) {
        const struct algo_action *a = &o->a[i];
        struct image *im = &w->im[p];
        switch (a->kind) {
        case ACT_SEND: {
            ck_assert_int_ge(a->msg.type, MSG_RANGE_RAFT + 1);
            ck_assert_int_le(a->msg.type, RAFT_MSG_LAST);
            ck_assert_int_eq(a->msg.from, p);
            ck_assert_int_le(a->msg.len, ALGO_MAX_PAYLOAD);
            w->sent[a->msg.type - MSG_RANGE_RAFT]++;
            int to = a->msg.to;
            ck_assert_int_ge(to, 1);
            ck_assert_int_le(to, w->total);
            if (p <= w->n && to <= w->n)
                w->server_msgs++;
            if (cut(w, p, to) || (w->drop_pct && (int)dl_rng_below(&w->rng, 100) < w->drop_pct))
                break;
            int64_t d = w->delay_us + (int64_t)dl_rng_below(&w->rng, (uint64_t)w->jitter_us + 1);
            q_push(w, w->now + d, Q_MSG, to, &a->msg);
            break;
        }
        case ACT_SET_TIMER:
            ck_assert_int_ge(a->timer_id, 0);
            ck_assert_int_lt(a->timer_id, ALGO_MAX_TIMERS);
            ck_assert_int_ge(a->after_us, 0);
            w->timer[p][a->timer_id] = w->now + a->after_us;
            break;
        case ACT_CANCEL_TIMER:
            w->timer[p][a->timer_id] = -1;
            break;
        case ACT_STORE_TERM_VOTE:
            ck_assert_int_ge(a->term, im->term);
            im->any = true;
            im->term = a->term;
            im->vote = a->vote;
            stored = true;
            break;
        case ACT_STORE_TRUNCATE:
            image_truncate(im, a->index);
            stored = true;
            break;
        case ACT_STORE_APPEND: {
            im->any = true;
            image_truncate(im, a->index);
            const uint8_t *q = a->msg.payload, *end = q + a->msg.len;
            struct algo_entry e;
            for (int k = 0; k < a->count; k++) {
                ck_assert(algo_entries_next(&q, end, &e));
                image_append(im, a->index + k, &e);
            }
            ck_assert_ptr_eq(q, end);
            stored = true;
            break;
        }
        case ACT_STORE_SNAPSHOT:
            im->any = true;
            image_snapshot(im, a->index, a->term, a->msg.payload, a->msg.len);
            stored = true;
            /* An installed snapshot moves the applied mark (its own comes
             * after the applies it covers). */
            if (a->index > w->applied_max[p])
                w->applied_max[p] = a->index;
            w->snapshots[p]++;
            break;
        case ACT_APPLY:
            record_apply(w, p, a);
            break;
        case ACT_ROLE:
            if (a->role == ROLE_LEADER)
                w->leader_changes++;
            break;
        case ACT_CLIENT:
            if (a->outcome == ALGO_OP_OK)
                w->ops_ok[p]++;
            else if (a->outcome == ALGO_OP_FAIL)
                w->ops_fail[p]++;
            else if (a->outcome == ALGO_OP_TIMEOUT)
                w->ops_timeout[p]++;
            if (a->outcome != ALGO_OP_INVOKE)
                submit(w, p, w->now + w->cmd_gap_us);
            break;
        default:
            break;
        }
    }
    if (stored)
        q_push(w, w->now, Q_PERSISTED, p, NULL);
}

/* Run one event (the earliest message, persist report, command or timer).
 * false when there is none before until. */
static bool net_next(struct net *w, int64_t until)
{
    int best = -1;
    for (int i = 0; i < w->nq; i++)
        if (best < 0 || w->q[i].at < w->q[best].at ||
            (w->q[i].at == w->q[best].at && w->q[i].seq < w->q[best].seq))
            best = i;
    int tp = 0, tt = 0;
    int64_t tat = INT64_MAX;
    for (int p = 1; p <= w->total; p++)
        for (int t = 0; t < ALGO_MAX_TIMERS; t++)
            if (w->timer[p][t] >= 0 && w->timer[p][t] < tat) {
                tat = w->timer[p][t];
                tp = p;
                tt = t;
            }
    int64_t qat = best >= 0 ? w->q[best].at : INT64_MAX;
    int64_t at = qat <= tat ? qat : tat;
    if (at == INT64_MAX || at > until)
        return false;
    w->now = at;
    if (qat <= tat) {
        struct qitem it = w->q[best];
        w->q[best] = w->q[--w->nq];
        if (w->up[it.to]) {
            struct algo_event ev = {.now_us = w->now};
            if (it.kind == Q_MSG) {
                ev.kind = EV_MESSAGE;
                ev.msg = it.msg;
                net_step(w, it.to, &ev);
            } else if (it.kind == Q_PERSISTED) {
                ev.kind = EV_PERSISTED;
                ev.index = image_last(&w->im[it.to]);
                ev.term = image_last_term(&w->im[it.to]);
                net_step(w, it.to, &ev);
            } else if (it.kind == Q_COMMAND) {
                int c = it.to;
                int64_t op = ++w->ops_issued[c];
                char cmd[32];
                int len = snprintf(cmd, sizeof cmd, "c%d-op%lld", c, (long long)op);
                ev.kind = EV_COMMAND;
                ev.msg.f[0] = op;
                ev.msg.payload = (const uint8_t *)cmd;
                ev.msg.len = (uint32_t)len;
                net_step(w, c, &ev);
            }
        }
        free(it.payload);
    } else {
        w->timer[tp][tt] = -1;
        struct algo_event ev = {.kind = EV_TIMER, .now_us = w->now, .timer_id = tt};
        net_step(w, tp, &ev);
    }
    return true;
}

static void net_run(struct net *w, int64_t until)
{
    while (net_next(w, until))
        ;
    w->now = until;
}

/* Run until pred holds (checked after every event) or until; true if it held. */
static bool net_run_until(struct net *w, bool (*pred)(struct net *), int64_t until)
{
    while (!pred(w))
        if (!net_next(w, until))
            return pred(w);
    return true;
}

static struct algo_inspect insp(const struct net *w, int p)
{
    struct algo_inspect in;
    OPS->inspect(w->st[p], &in);
    return in;
}

static int leader_of(const struct net *w)
{
    int l = 0;
    int64_t term = -1;
    for (int p = 1; p <= w->n; p++)
        if (w->up[p]) {
            struct algo_inspect in = insp(w, p);
            if (in.role == ROLE_LEADER && in.term > term) {
                l = p;
                term = in.term;
            }
        }
    return l;
}

static bool has_leader(struct net *w) { return leader_of(w) != 0; }

static bool clients_done(struct net *w)
{
    for (int c = w->n + 1; c <= w->total; c++)
        if (w->ops_ok[c] + w->ops_fail[c] + w->ops_timeout[c] < w->ops_target)
            return false;
    return true;
}

static void net_free(struct net *w)
{
    for (int p = 1; p <= w->total; p++) {
        if (w->up[p])
            net_crash(w, p);
        algo_actions_free(&w->out[p]);
        image_free(&w->im[p]);
    }
    for (int i = 0; i < w->nq; i++)
        free(w->q[i].payload);
    free(w->q);
    free(w->applied_hash);
    free(w);
}

/* Every live server applied the same commands up to the least commit. */
static void check_same_applies(struct net *w)
{
    for (int p = 1; p <= w->n; p++)
        if (w->up[p])
            for (int q = p + 1; q <= w->n; q++)
                if (w->up[q]) {
                    struct algo_inspect a = insp(w, p), b = insp(w, q);
                    int64_t m = a.applied_index < b.applied_index ? a.applied_index
                                                                   : b.applied_index;
                    uint64_t ha, hb;
                    const struct raft_state *sa = w->st[p], *sb = w->st[q];
                    if (raft_log_hash(&sa->log, m, &ha) && raft_log_hash(&sb->log, m, &hb))
                        ck_assert(ha == hb);
                }
}

/* ---- cluster tests ---- */

START_TEST(test_cluster_elects_leader)
{
    struct net *w = net_new(3, 0, 1, NULL);
    ck_assert(net_run_until(w, has_leader, 2 * 1000 * 1000));
    int l = leader_of(w);
    int64_t term = insp(w, l).term;
    /* Stable without failures: the same leader a few seconds later, all
     * followers know it, and the no-op is committed everywhere. */
    net_run(w, w->now + 3 * 1000 * 1000);
    ck_assert_int_eq(leader_of(w), l);
    ck_assert_int_eq(insp(w, l).term, term);
    for (int p = 1; p <= 3; p++) {
        struct algo_inspect in = insp(w, p);
        ck_assert_int_eq(in.leader, l);
        ck_assert_int_eq(in.term, term);
        ck_assert_int_ge(in.commit_index, 1);
        ck_assert_int_eq(in.commit_index, in.last_index);
    }
    ck_assert_int_eq(w->malformed, 0);
    net_free(w);
}
END_TEST

START_TEST(test_cluster_commands_commit_everywhere)
{
    struct net *w = net_new(5, 1, 7, NULL);
    w->ops_target = 100;
    submit(w, 6, 0);
    ck_assert(net_run_until(w, clients_done, 20 * 1000 * 1000));
    ck_assert_int_eq(w->ops_ok[6], 100);
    net_run(w, w->now + 500 * 1000); /* heartbeats carry the last commit */
    int64_t cmds = 0;
    for (int64_t i = 1; i <= w->applied_max[1]; i++)
        cmds += w->applied_hash[i] != (hash_cmd(NULL, 0) | 1);
    ck_assert_int_eq(cmds, 100);
    for (int p = 1; p <= 5; p++) {
        ck_assert_int_eq(w->applied_max[p], w->applied_max[1]);
        ck_assert_int_eq(insp(w, p).applied_index, w->applied_max[1]);
    }
    check_same_applies(w);
    ck_assert_int_eq(w->malformed, 0);
    net_free(w);
}
END_TEST

static void quiet_env(struct algo_env *e)
{
    (void)e;
}

START_TEST(test_cluster_message_budget)
{
    /* A failure-free 3-node cluster elects a leader and commits 10
     * commands from one client: count the server-to-server messages. */
    struct net *w = net_new(3, 1, 3, quiet_env);
    ck_assert(net_run_until(w, has_leader, 2 * 1000 * 1000));
    int64_t elect = w->server_msgs;
    w->ops_target = 10;
    submit(w, 4, w->now);
    ck_assert(net_run_until(w, clients_done, w->now + 5 * 1000 * 1000));
    ck_assert_int_eq(w->ops_ok[4], 10);
    int64_t total = w->server_msgs;
    /* 6.824's bar: <= 30 RPCs to elect, <= 42 to commit 10 more. Ours:
     * 2 RequestVote + 2 answers + the no-op's 2 appends + 2 answers, then
     * 4 per command (a heartbeat or two in between at most). */
    ck_assert_int_le(elect, 8);
    ck_assert_int_le(total, 60);
    fprintf(stderr, "raft message budget: election %lld, election + 10 commands %lld\n",
            (long long)elect, (long long)total);
    net_free(w);
}
END_TEST

static bool all_applied_10(struct net *w)
{
    for (int p = 1; p <= w->n; p++)
        if (!w->up[p] || insp(w, p).applied_index < 11)
            return false;
    return true;
}

START_TEST(test_cluster_crash_restart_restores)
{
    struct net *w = net_new(3, 1, 11, NULL);
    w->ops_target = 10;
    submit(w, 4, 0);
    ck_assert(net_run_until(w, clients_done, 10 * 1000 * 1000));
    ck_assert(net_run_until(w, all_applied_10, w->now + 1000 * 1000));
    /* Crash a follower, and the leader; restart both from their images. */
    int l = leader_of(w);
    int f = l % 3 + 1;
    struct algo_inspect before = insp(w, f);
    net_crash(w, f);
    net_start_node(w, f);
    struct algo_inspect after = insp(w, f);
    ck_assert_int_eq(after.term, before.term);
    ck_assert_int_eq(after.last_index, before.last_index);
    ck_assert_int_eq(after.role, ROLE_FOLLOWER);
    net_crash(w, l);
    ck_assert(net_run_until(w, has_leader, w->now + 3 * 1000 * 1000));
    net_start_node(w, l);
    w->ops_target = 20;
    submit(w, 4, w->now);
    ck_assert(net_run_until(w, clients_done, w->now + 10 * 1000 * 1000));
    ck_assert_int_eq(w->ops_ok[4], 20);
    net_run(w, w->now + 1000 * 1000);
    check_same_applies(w);
    for (int p = 1; p <= 3; p++)
        ck_assert_int_eq(insp(w, p).commit_index, insp(w, leader_of(w)).commit_index);
    net_free(w);
}
END_TEST

static Suite *raft_suite(void)
{
    Suite *s = suite_create("raft");
    TCase *cl = tcase_create("cluster");
    tcase_set_timeout(cl, 30);
    tcase_add_test(cl, test_cluster_elects_leader);
    tcase_add_test(cl, test_cluster_commands_commit_everywhere);
    tcase_add_test(cl, test_cluster_message_budget);
    tcase_add_test(cl, test_cluster_crash_restart_restores);
    suite_add_tcase(s, cl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(raft_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
