/* Replicated logs on the simulator (nodes/sim.h).
 *
 * Part one tests the simulator's replicated-log machinery with a tiny
 * core of its own, a fixed-leader log (node 1 leads for ever, term 1):
 * payload sends, typed storage with its syncs and crash semantics,
 * after_sync sends, EV_PERSISTED, client processes, the counting
 * allocator, and the checks that must catch a core that acknowledges
 * too early or holds too much. Part two runs Raft (algo_raft) through the
 * MIT 6.824 scenarios, 1,000 seeds each, with the invariants checked
 * after every step. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nodes/sim.h"

/* ---- the fixed-leader log ---- */

#define FL_RANGE 0x0f00
enum { FL_CMD = FL_RANGE + 1, FL_APP, FL_ACK, FL_REPLY };
#define FL_CMD_MAX 32
#define FL_HEARTBEAT 10000 /* us */
#define FL_BATCH 8

struct fl_entry {
    int64_t term;
    uint32_t len;
    uint8_t cmd[FL_CMD_MAX];
    int client;
    int64_t op;
};

struct fl {
    int id, n;
    const struct algo_mem *mem;
    struct fl_entry *log; /* log[i - 1] is index i */
    int64_t last, cap;
    int64_t durable; /* EV_PERSISTED */
    int64_t match[ALGO_MAX_NODES + 1];
    int64_t commit, applied;
    uint64_t send_failed;
};

/* Variants that break the rules, to show the simulator notices. */
static bool fl_ack_early; /* followers acknowledge before their write is durable */
static bool fl_leak;      /* fini forgets the log */

static int fl_grow(struct fl *s, int64_t need)
{
    if (need <= s->cap)
        return 0;
    int64_t cap = s->cap ? 2 * s->cap : 16;
    while (cap < need)
        cap *= 2;
    struct fl_entry *l = algo_realloc(s->mem, s->log, (size_t)cap * sizeof *l);
    if (!l)
        return -1;
    s->log = l;
    s->cap = cap;
    return 0;
}

static int fl_init(void *state, const struct algo_env *env)
{
    struct fl *s = state;
    s->id = env->id;
    s->n = env->n;
    s->mem = env->mem;
    const struct algo_stored *st = env->stored;
    if (st) {
        ck_assert_int_eq(st->snap_index, 0);
        if (fl_grow(s, st->last_index) < 0)
            return -1;
        for (int64_t i = st->first_index; i <= st->last_index; i++) {
            struct algo_entry e;
            ck_assert(st->entry(st->ctx, i, &e));
            ck_assert_uint_le(e.len, FL_CMD_MAX);
            struct fl_entry *x = &s->log[i - 1];
            memset(x, 0, sizeof *x);
            x->term = e.term;
            x->len = e.len;
            memcpy(x->cmd, e.data, e.len);
            /* The client and op are in the command, "c<K>-<op>". */
            char buf[FL_CMD_MAX + 1];
            memcpy(buf, e.data, e.len);
            buf[e.len] = '\0';
            long long k, op;
            ck_assert_int_eq(sscanf(buf, "c%lld-%lld", &k, &op), 2);
            x->client = (int)k + env->n;
            x->op = op;
        }
        s->last = s->durable = st->last_index;
        ck_assert(!st->entry(st->ctx, st->last_index + 1, &(struct algo_entry){0}));
    }
    return 0;
}

static void fl_fini(void *state)
{
    struct fl *s = state;
    if (!fl_leak)
        algo_realloc(s->mem, s->log, 0);
    s->log = NULL;
}

/* Send entries from index `from` (at most FL_BATCH) to k. */
static void fl_send_app(struct fl *s, int k, struct algo_actions *out)
{
    int64_t from = s->match[k] + 1;
    struct algo_entry e[FL_BATCH];
    int m = 0;
    for (int64_t i = from; i <= s->last && m < FL_BATCH; i++, m++)
        e[m] = (struct algo_entry){.term = 1, .len = s->log[i - 1].len, .data = s->log[i - 1].cmd};
    uint8_t buf[FL_BATCH * (ALGO_ENTRY_HDR + FL_CMD_MAX)];
    uint32_t len = algo_entries_encode(buf, sizeof buf, e, m);
    struct algo_msg msg = {.type = FL_APP, .from = (uint16_t)s->id, .to = (uint16_t)k,
                           .f = {1, from - 1, s->commit, m}, .len = len, .payload = buf};
    /* Only what the leader holds durably leaves it: after_sync. */
    act_send_ex(out, &msg, true);
    memset(buf, 0xee, sizeof buf); /* the arena has its copy */
}

static void fl_apply(struct fl *s, struct algo_actions *out)
{
    while (s->applied < s->commit && s->applied < s->last) {
        struct fl_entry *x = &s->log[s->applied++];
        act_apply(out, s->applied, x->term, x->cmd, x->len);
        if (s->id == 1) {
            struct algo_msg r = {.type = FL_REPLY, .from = 1, .to = (uint16_t)x->client,
                                 .f = {x->op, s->applied}};
            act_send_ex(out, &r, false);
        }
    }
}

static void fl_advance(struct fl *s, struct algo_actions *out)
{
    s->match[1] = s->durable;
    for (int64_t i = s->last; i > s->commit; i--) {
        int have = 0;
        for (int k = 1; k <= s->n; k++)
            have += s->match[k] >= i;
        if (have > s->n / 2) {
            s->commit = i;
            act_commit(out, i, 1);
            break;
        }
    }
    fl_apply(s, out);
}

static void fl_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct fl *s = state;
    const struct algo_msg *m = &ev->msg;
    switch (ev->kind) {
    case EV_START:
        act_role(out, s->id == 1 ? ROLE_LEADER : ROLE_FOLLOWER, 1);
        if (s->id == 1)
            act_set_timer(out, 0, FL_HEARTBEAT);
        break;
    case EV_TIMER:
        for (int k = 2; k <= s->n; k++)
            fl_send_app(s, k, out);
        act_set_timer(out, 0, FL_HEARTBEAT);
        break;
    case EV_PERSISTED:
        ck_assert_int_le(ev->index, s->last);
        s->durable = ev->index;
        if (s->id == 1)
            fl_advance(s, out);
        break;
    case EV_SEND_FAILED:
        ck_assert_int_eq(m->len, 0);
        s->send_failed++; /* the heartbeat sends it again */
        break;
    case EV_MESSAGE:
        if (m->type == FL_CMD && s->id == 1) {
            if (m->len > FL_CMD_MAX) {
                act_malformed(out);
                break;
            }
            for (int64_t i = 1; i <= s->last; i++)
                if (s->log[i - 1].client == m->from && s->log[i - 1].op == m->f[0])
                    return; /* a retry: its reply comes when it is applied */
            if (fl_grow(s, s->last + 1) < 0)
                break;
            struct fl_entry *x = &s->log[s->last++];
            memset(x, 0, sizeof *x);
            x->term = 1;
            x->len = m->len;
            memcpy(x->cmd, m->payload, m->len);
            x->client = m->from;
            x->op = m->f[0];
            struct algo_entry e = {.term = 1, .len = x->len, .data = x->cmd};
            act_store_append(out, s->last, &e, 1);
            for (int k = 2; k <= s->n; k++)
                if (s->match[k] == s->last - 1)
                    fl_send_app(s, k, out);
        } else if (m->type == FL_APP && s->id != 1) {
            int64_t prev = m->f[1];
            if (prev <= s->last) {
                const uint8_t *p = m->payload, *end = p + m->len;
                struct algo_entry e;
                int64_t i = prev;
                struct algo_entry batch[FL_BATCH];
                int nb = 0;
                while (algo_entries_next(&p, end, &e)) {
                    ck_assert_uint_le(e.len, FL_CMD_MAX);
                    i++;
                    if (i <= s->last)
                        continue; /* have it (one leader: the same entry) */
                    if (fl_grow(s, i) < 0)
                        return;
                    struct fl_entry *x = &s->log[i - 1];
                    memset(x, 0, sizeof *x);
                    x->term = e.term;
                    x->len = e.len;
                    memcpy(x->cmd, e.data, e.len);
                    s->last = i;
                    batch[nb++] = (struct algo_entry){.term = e.term, .len = x->len,
                                                      .data = x->cmd};
                }
                ck_assert_int_eq(i - prev, m->f[3]);
                if (nb)
                    act_store_append(out, s->last - nb + 1, batch, nb);
                s->commit = m->f[2] < s->last ? m->f[2] : s->last;
                if (s->commit > s->applied)
                    act_commit(out, s->commit, 1);
                fl_apply(s, out);
            }
            struct algo_msg a = {.type = FL_ACK, .from = (uint16_t)s->id, .to = 1,
                                 .f = {1, s->last}};
            act_send_ex(out, &a, !fl_ack_early);
        } else if (m->type == FL_ACK && s->id == 1) {
            if (m->f[1] > s->match[m->from])
                s->match[m->from] = m->f[1];
            else
                s->match[m->from] = m->f[1]; /* it lost its tail: send it again */
            fl_advance(s, out);
        }
        break;
    default:
        break;
    }
}

static bool fl_competes(const struct algo_env *env, int id)
{
    (void)env;
    (void)id;
    return false;
}

static double fl_theory(const struct algo_env *env)
{
    (void)env;
    return 0;
}

static void fl_inspect(const void *state, struct algo_inspect *out)
{
    const struct fl *s = state;
    out->role = s->id == 1 ? ROLE_LEADER : ROLE_FOLLOWER;
    out->term = 1;
    out->commit_index = s->commit;
    out->last_index = s->last;
    out->applied_index = s->applied;
    out->leader = 1;
}

/* Its client: one message per command to node 1, sent again every 20 ms
 * until answered. */
#define FLC_MAX 64
struct flc {
    int id;
    int64_t op[FLC_MAX];
    uint8_t cmd[FLC_MAX][FL_CMD_MAX];
    uint32_t len[FLC_MAX];
    int nops;
};

static int flc_init(void *state, const struct algo_env *env)
{
    struct flc *c = state;
    c->id = env->id;
    ck_assert_int_gt(env->id, env->n);
    ck_assert_ptr_nonnull(env->mem);
    return 0;
}

static void flc_send(struct flc *c, int i, struct algo_actions *out)
{
    struct algo_msg m = {.type = FL_CMD, .from = (uint16_t)c->id, .to = 1, .f = {c->op[i]},
                         .len = c->len[i], .payload = c->cmd[i]};
    act_send_ex(out, &m, false);
}

static void flc_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct flc *c = state;
    switch (ev->kind) {
    case EV_START:
        act_role(out, ROLE_CLIENT, 0);
        act_set_timer(out, 0, 20000);
        break;
    case EV_COMMAND:
        ck_assert_int_lt(c->nops, FLC_MAX);
        ck_assert_uint_le(ev->msg.len, FL_CMD_MAX);
        c->op[c->nops] = ev->msg.f[0];
        memcpy(c->cmd[c->nops], ev->msg.payload, ev->msg.len);
        c->len[c->nops] = ev->msg.len;
        act_client(out, ALGO_OP_INVOKE, ev->msg.f[0], 0, 0, 0, ev->msg.payload, ev->msg.len);
        flc_send(c, c->nops++, out);
        break;
    case EV_TIMER:
        for (int i = 0; i < c->nops; i++)
            flc_send(c, i, out);
        act_set_timer(out, 0, 20000);
        break;
    case EV_MESSAGE:
        if (ev->msg.type != FL_REPLY)
            break;
        for (int i = 0; i < c->nops; i++)
            if (c->op[i] == ev->msg.f[0]) {
                act_client(out, ALGO_OP_OK, c->op[i], ev->msg.from, ev->msg.f[1], 1, NULL, 0);
                c->op[i] = c->op[c->nops - 1];
                memcpy(c->cmd[i], c->cmd[c->nops - 1], FL_CMD_MAX);
                c->len[i] = c->len[c->nops - 1];
                c->nops--;
                break;
            }
        break;
    default:
        break;
    }
}

static const struct algo_ops fl_client_ops = {
    .name = "fixed_log_client",
    .range = FL_RANGE,
    .key_field = "op",
    .state_size = sizeof(struct flc),
    .init = flc_init,
    .step = flc_step,
    .competes = fl_competes,
    .theory_messages_per_cs = fl_theory,
};

static const struct algo_ops fl_ops = {
    .name = "fixed_log",
    .range = FL_RANGE,
    .key_field = "term",
    .state_size = sizeof(struct fl),
    .init = fl_init,
    .step = fl_step,
    .fini = fl_fini,
    .competes = fl_competes,
    .theory_messages_per_cs = fl_theory,
    .inspect = fl_inspect,
    .client = &fl_client_ops,
};

/* ---- records ---- */

struct recs {
    struct trace_rec *r;
    size_t n, cap;
    int data_records;
    bool data_ok; /* every data record's bytes match its hash and length */
    char first_invoke[32];
};

static void rec_add(void *user, const struct trace_rec *r)
{
    struct recs *rc = user;
    if (rc->n == rc->cap) {
        rc->cap = rc->cap ? 2 * rc->cap : 1024;
        rc->r = realloc(rc->r, rc->cap * sizeof *rc->r);
        ck_assert_ptr_nonnull(rc->r);
    }
    rc->r[rc->n++] = *r;
}

static void rec_data(void *user, const struct trace_rec *r, const void *data, uint32_t len)
{
    struct recs *rc = user;
    rc->data_records++;
    if (r->b != trace_hash(data, len) || r->aux != (int32_t)len || r->c != -1)
        rc->data_ok = false;
    if (r->ev == TR_INVOKE && !rc->first_invoke[0] && len < sizeof rc->first_invoke)
        memcpy(rc->first_invoke, data, len);
    rec_add(user, r);
}

static int rec_count(const struct recs *rc, int ev)
{
    int k = 0;
    for (size_t i = 0; i < rc->n; i++)
        k += rc->r[i].ev == ev;
    return k;
}

/* ---- part one: the simulator's machinery ---- */

static void fl_config(struct sim_config *c, uint64_t seed, int n, int clients, int requests)
{
    sim_config_defaults(c);
    c->ops = &fl_ops;
    c->env.n = n;
    c->env.clients = clients;
    c->seed = seed;
    c->requests = requests;
    c->fsync = true;
    c->max_time_us = 2000000;
    fl_ack_early = false;
    fl_leak = false;
}

static void expect_clean(const struct sim_config *c, const struct sim_result *r)
{
    ck_assert_msg(r->safe && r->live, "seed %llu: %s", (unsigned long long)c->seed, r->violation);
    ck_assert_int_eq(r->end, SIM_END_DONE);
    ck_assert_uint_eq(r->log.ok, (uint64_t)c->requests);
    ck_assert_uint_eq(r->log.acked_lost, 0);
    ck_assert(r->log.logs_agree);
}

START_TEST(test_fl_basic)
{
    /* 3 servers, 2 clients, 10 commands: every command answered, every
     * record there, each data record with its bytes. */
    struct sim_config c;
    fl_config(&c, 7, 3, 2, 10);
    struct recs rc = {.data_ok = true};
    c.on_record = rec_add;
    c.on_record_data = rec_data;
    c.user = &rc;
    struct sim_result r;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    expect_clean(&c, &r);
    ck_assert_uint_eq(r.log.invoked, 10);
    ck_assert_int_eq(rec_count(&rc, TR_INVOKE), 10);
    ck_assert_int_eq(rec_count(&rc, TR_OK), 10);
    /* The leader applied the 10 entries before answering; the run ends
     * at the last answer, perhaps before a follower applied it. */
    int applies = rec_count(&rc, TR_APPLY), by_leader = 0;
    for (size_t i = 0; i < rc.n; i++)
        by_leader += rc.r[i].ev == TR_APPLY && rc.r[i].node == 1;
    ck_assert_int_eq(by_leader, 10);
    ck_assert_int_le(applies, 30);
    ck_assert_int_ge(applies, 10 + 2 * 8);
    ck_assert_int_eq(rc.data_records, 10 + applies);
    ck_assert(rc.data_ok);
    ck_assert(strcmp(rc.first_invoke, "c1-1") == 0 || strcmp(rc.first_invoke, "c2-1") == 0);
    ck_assert_int_eq(r.log.commit_index, 10);
    ck_assert_uint_eq(r.log.elections, 1);
    ck_assert_int_eq(r.log.max_leaders_per_term, 1);
    ck_assert_uint_gt(r.log.syncs, 0);
    /* The log lives in env.mem: 16 entries of 56 bytes at the peak. */
    ck_assert_uint_ge(r.peak_mem, 16 * sizeof(struct fl_entry));
    /* Clients' records are theirs: node n + K. */
    for (size_t i = 0; i < rc.n; i++)
        if (rc.r[i].ev == TR_INVOKE || rc.r[i].ev == TR_OK)
            ck_assert(rc.r[i].node == 4 || rc.r[i].node == 5);
    free(rc.r);
}
END_TEST

START_TEST(test_fl_sync_time)
{
    /* With fsync, an acknowledged command waited for syncs (the leader's,
     * then a follower's): in the exact model each takes
     * SIM_SYNC_EXACT_US, so one command takes more than two of them;
     * without fsync, far less. */
    int64_t took[2];
    for (int f = 0; f < 2; f++) {
        struct sim_config c;
        fl_config(&c, 1, 3, 1, 1);
        c.timing = SIM_TIMING_EXACT;
        c.fsync = f == 0;
        struct sim_result r;
        ck_assert_int_eq(sim_run(&c, &r), 0);
        expect_clean(&c, &r);
        took[f] = r.end_us;
    }
    ck_assert_int_gt(took[0], 2 * SIM_SYNC_EXACT_US);
    ck_assert_int_lt(took[1], 2 * SIM_SYNC_EXACT_US); /* a start within 100 us, then hops */
}
END_TEST

START_TEST(test_fl_crashes_keep_acked)
{
    /* 1,000 seeds: followers and the leader crash and restart while
     * commands flow; a restarted node gets its durable log back (fl_init
     * checks it), and nothing acknowledged is lost. With torn writes half
     * of the time. */
    static struct sim_fault f[4];
    uint64_t torn = 0, restarts = 0;
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct sim_config c;
        fl_config(&c, seed, 3, 2, 12);
        c.rate = 400;
        c.torn_writes = seed % 2;
        int victim = 1 + (int)(seed % 3);
        int64_t at = 1000 + (int64_t)(seed * 37 % 8000);
        f[0] = (struct sim_fault){.at_us = at, .kind = SIM_CRASH, .node = victim};
        f[1] = (struct sim_fault){.at_us = at + 3000, .kind = SIM_RESTART, .node = victim};
        c.faults = f;
        c.nfaults = 2;
        struct sim_result r;
        ck_assert_int_eq(sim_run(&c, &r), 0);
        expect_clean(&c, &r);
        torn += r.log.torn;
        restarts += r.restarts;
    }
    ck_assert_uint_eq(restarts, 1000);
    ck_assert_uint_gt(torn, 10);
}
END_TEST

START_TEST(test_fl_early_ack_caught)
{
    /* Followers that acknowledge before their write is durable: the
     * command is answered while on one disk only, and the simulator says
     * so (not durable on a majority at the end, or lost in a crash). */
    int caught = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        struct sim_config c;
        fl_config(&c, seed, 3, 1, 3);
        fl_ack_early = true;
        struct sim_result r;
        ck_assert_int_eq(sim_run(&c, &r), 0);
        if (!r.safe && r.log.acked_lost > 0 && strstr(r.violation, "lost"))
            caught++;
    }
    fl_ack_early = false;
    ck_assert_int_gt(caught, 50);
}
END_TEST

START_TEST(test_fl_store_fail)
{
    /* Storage actions fail now and then: the node stops, comes back from
     * its durable image, and every command is still answered. */
    uint64_t failures = 0;
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct sim_config c;
        fl_config(&c, seed, 3, 1, 8);
        c.store_fail = 0.05;
        c.restart_after_us = 3000;
        struct sim_result r;
        ck_assert_int_eq(sim_run(&c, &r), 0);
        expect_clean(&c, &r);
        failures += r.log.store_failures;
        ck_assert_uint_eq(r.crashes, r.log.store_failures);
    }
    ck_assert_uint_gt(failures, 100);
}
END_TEST

START_TEST(test_fl_send_failed)
{
    /* Sends between servers fail now and then: the core hears of each
     * (EV_SEND_FAILED), sends again, and finishes. None without asking. */
    uint64_t failed = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        struct sim_config c;
        fl_config(&c, seed, 3, 1, 5);
        c.send_fail = seed % 2 ? 0.2 : 0;
        struct sim_result r;
        ck_assert_int_eq(sim_run(&c, &r), 0);
        expect_clean(&c, &r);
        if (seed % 2 == 0)
            ck_assert_uint_eq(r.log.send_failed, 0);
        failed += r.log.send_failed;
    }
    ck_assert_uint_gt(failed, 50);
}
END_TEST

START_TEST(test_fl_mem_cap)
{
    /* 40 commands grow the log to 64 entries (3.5 KiB): a cap of 2 KiB
     * fails the run, naming the node; 8 KiB does not. */
    struct sim_config c;
    fl_config(&c, 3, 3, 1, 40);
    c.mem_cap = 2048;
    struct sim_result r;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    ck_assert(!r.safe);
    ck_assert(r.mem_over);
    ck_assert_msg(strstr(r.violation, "over the cap of 2048"), "%s", r.violation);
    c.mem_cap = 8192;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    expect_clean(&c, &r);
    ck_assert_uint_le(r.peak_mem, 8192);
}
END_TEST

START_TEST(test_fl_leak)
{
    struct sim_config c;
    fl_config(&c, 3, 3, 1, 2);
    fl_leak = true;
    struct sim_result r;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    fl_leak = false;
    ck_assert(!r.safe);
    ck_assert_msg(strstr(r.violation, "after fini"), "%s", r.violation);
    /* What it forgot was given back (a sanitizer build would say if not). */
}
END_TEST

START_TEST(test_fl_unanswered_not_live)
{
    /* Both followers down for good: nothing commits, but the fault is
     * permanent, so the run is not called not live; brought back before
     * the end, the commands are answered. */
    static struct sim_fault f[4];
    f[0] = (struct sim_fault){.at_us = 1, .kind = SIM_CRASH, .node = 2};
    f[1] = (struct sim_fault){.at_us = 1, .kind = SIM_CRASH, .node = 3};
    struct sim_config c;
    fl_config(&c, 5, 3, 1, 3);
    c.max_time_us = 200000;
    c.faults = f;
    c.nfaults = 2;
    struct sim_result r;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    ck_assert(r.safe && r.live);
    ck_assert(r.log.permanent_fault);
    ck_assert_int_eq(r.end, SIM_END_DURATION);
    ck_assert_uint_eq(r.log.unanswered, 1);
    ck_assert_uint_eq(r.log.ok, 0);
    f[2] = (struct sim_fault){.at_us = 100000, .kind = SIM_RESTART, .node = 2};
    c.nfaults = 3;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    expect_clean(&c, &r);
    /* Brought back too late to answer: no fault in force at the end, so
     * the unanswered command is a liveness failure. */
    f[2].at_us = 199000;
    f[3] = (struct sim_fault){.at_us = 199000, .kind = SIM_RESTART, .node = 3};
    c.nfaults = 4;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    ck_assert(r.safe && !r.live);
    ck_assert(!r.log.permanent_fault);
    ck_assert_msg(strstr(r.violation, "unanswered"), "%s", r.violation);
}
END_TEST

START_TEST(test_fl_leader_role_fault)
{
    /* A fault aimed at the leader hits the node whose inspect says so. */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 3000, .kind = SIM_CRASH, .role = ROLE_LEADER};
    f[1] = (struct sim_fault){.at_us = 9000, .kind = SIM_RESTART, .of = 1};
    struct sim_config c;
    fl_config(&c, 9, 3, 1, 6);
    c.rate = 500;
    c.faults = f;
    c.nfaults = 2;
    struct recs rc = {0};
    c.on_record = rec_add;
    c.user = &rc;
    struct sim_result r;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    expect_clean(&c, &r);
    int crashed = 0;
    for (size_t i = 0; i < rc.n; i++)
        if (rc.r[i].ev == TR_CRASH)
            crashed = rc.r[i].node;
    ck_assert_int_eq(crashed, 1);
    free(rc.r);
}
END_TEST

START_TEST(test_fl_isolate_leader)
{
    /* A partition by role cuts the leader off alone: nothing commits
     * until the heal (clients still reach it: their links are never cut). */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 200, .kind = SIM_PARTITION, .role = ROLE_LEADER};
    f[1] = (struct sim_fault){.at_us = 50000, .kind = SIM_HEAL};
    struct sim_config c;
    fl_config(&c, 4, 3, 1, 3);
    c.faults = f;
    c.nfaults = 2;
    struct recs rc = {0};
    c.on_record = rec_add;
    c.user = &rc;
    struct sim_result r;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    expect_clean(&c, &r);
    ck_assert_int_gt(r.end_us, 50000);
    int cuts = 0;
    for (size_t i = 0; i < rc.n; i++) {
        const struct trace_rec *x = &rc.r[i];
        if (x->ev == TR_FAULT && x->t_us == 200)
            ck_assert_int_eq(x->peer, 1);
        if (x->ev == TR_LINK && x->t_us == 200) {
            ck_assert(x->peer == 1 || x->key == 1);
            cuts++;
        }
        if (x->ev == TR_COMMIT)
            ck_assert_int_ge(x->t_us, 50000);
    }
    ck_assert_int_eq(cuts, 4); /* 1 -> 2, 1 -> 3 and back */
    free(rc.r);
}
END_TEST

static Suite *machinery_suite(void)
{
    Suite *s = suite_create("sim_log");
    TCase *tc = tcase_create("machinery");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fl_basic);
    tcase_add_test(tc, test_fl_sync_time);
    tcase_add_test(tc, test_fl_crashes_keep_acked);
    tcase_add_test(tc, test_fl_early_ack_caught);
    tcase_add_test(tc, test_fl_store_fail);
    tcase_add_test(tc, test_fl_send_failed);
    tcase_add_test(tc, test_fl_mem_cap);
    tcase_add_test(tc, test_fl_leak);
    tcase_add_test(tc, test_fl_unanswered_not_live);
    tcase_add_test(tc, test_fl_leader_role_fault);
    tcase_add_test(tc, test_fl_isolate_leader);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(machinery_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
