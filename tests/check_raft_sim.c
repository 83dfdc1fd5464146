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

#include "nodes/rng.h"
#include "nodes/kv.h"
#include "nodes/sim.h"
#include "src/config.h"
#include "src/simcmd.h"

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
            /* The client and op are in the command's tag, "c<K>-<op>". */
            char buf[FL_CMD_MAX + 1];
            struct kv_cmd kc;
            ck_assert(kv_decode(e.data, e.len, &kc));
            memcpy(buf, kc.tag, kc.tlen);
            buf[kc.tlen] = '\0';
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
                /* Room first: batch[] points into the log. */
                if (m->f[3] < 0 || m->f[3] > FL_BATCH || fl_grow(s, prev + m->f[3]) < 0)
                    return;
                while (algo_entries_next(&p, end, &e)) {
                    ck_assert_uint_le(e.len, FL_CMD_MAX);
                    i++;
                    if (i <= s->last)
                        continue; /* have it (one leader: the same entry) */
                    ck_assert_int_le(i, s->cap);
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
    struct kv_cmd kc;
    if (r->ev == TR_INVOKE && !rc->first_invoke[0] && kv_decode(data, len, &kc) &&
        kc.tlen < sizeof rc->first_invoke)
        memcpy(rc->first_invoke, kc.tag, kc.tlen); /* its token */
    rec_add(user, r);
}

static int rec_count(const struct recs *rc, int ev)
{
    int k = 0;
    for (size_t i = 0; i < rc->n; i++)
        k += rc->r[i].ev == ev;
    return k;
}

static void raft_safe(const struct sim_config *c, const struct sim_result *r);

/* src/simcmd.c's command refers to the program's usage text (src/main.c). */
void cli_usage(const char *name, FILE *f);
void cli_usage(const char *name, FILE *f)
{
    fprintf(f, "usage: distlab %s\n", name);
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
    /* Puts only: short commands, each entry one of FL_CMD_MAX bytes. */
    c->kv_mix[KV_PUT] = 1;
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
    f[0] = (struct sim_fault){.at_us = 200, .kind = SIM_PARTITION, .role = ROLE_LEADER,
                              .isolate = true};
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

START_TEST(test_fl_isolate_with)
{
    /* The leader and one more node (the lowest other id) on one side: a
     * majority of 3, so commands still commit; node 3 alone is cut off. */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 200, .kind = SIM_PARTITION, .role = ROLE_LEADER,
                              .isolate = true, .with = 1};
    struct sim_config c;
    fl_config(&c, 4, 3, 1, 5);
    c.faults = f;
    c.nfaults = 1;
    struct recs rc = {0};
    c.on_record = rec_add;
    c.user = &rc;
    struct sim_result r;
    ck_assert_int_eq(sim_run(&c, &r), 0);
    expect_clean(&c, &r);
    int cuts = 0;
    for (size_t i = 0; i < rc.n; i++) {
        const struct trace_rec *x = &rc.r[i];
        if (x->ev == TR_LINK && x->t_us == 200) {
            ck_assert(x->peer == 3 || x->key == 3);
            cuts++;
        }
        if (x->ev == TR_APPLY && x->t_us > 200)
            ck_assert_int_ne(x->node, 3);
    }
    ck_assert_int_eq(cuts, 4); /* 3 <-> 1, 3 <-> 2 */
    free(rc.r);
}
END_TEST

START_TEST(test_simcmd_role_partition)
{
    /* `distlab sim` on conf/raft-split-brain.ini with its partition by
     * role (--set fault.1.target=leader+1, for 3 s): one isolating
     * partition and a heal; the old leader, in the minority, rolls back
     * what it took meanwhile. */
    const char *dir = getenv("DISTLAB_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/conf/raft-split-brain.ini", dir ? dir : ".");
    struct config *cf = malloc(sizeof *cf);
    char *err = malloc(CONFIG_ERRLEN);
    ck_assert(cf && err);
    const char *sets[] = {"fault.1.target=leader+1"};
    ck_assert_msg(config_load_with_sets(cf, path, sets, 1, NULL, CONFIG_FOR_SIM, err) == 0, "%s",
                  err);
    struct simcmd_bufs b = {0};
    struct sim_config sc;
    ck_assert_int_eq(simcmd_build(cf, cf->seed, &sc, &b, err), 0);
    int parts = 0, heals = 0;
    for (int i = 0; i < sc.nfaults; i++) {
        parts += sc.faults[i].kind == SIM_PARTITION && sc.faults[i].isolate &&
                 sc.faults[i].with == 1 && sc.faults[i].role == ROLE_LEADER;
        heals += sc.faults[i].kind == SIM_HEAL;
    }
    ck_assert_int_eq(parts, 1);
    ck_assert_int_eq(heals, 1);
    ck_assert_ptr_nonnull(sc.ops->client);
    ck_assert_int_gt(sc.env.clients, 0);
    int rolled = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        ck_assert_int_eq(simcmd_build(cf, seed, &sc, &b, err), 0);
        struct sim_result r;
        ck_assert_int_eq(sim_run(&sc, &r), 0);
        raft_safe(&sc, &r);
        ck_assert_msg(r.live, "%s", r.violation);
        rolled += r.log.truncated > 0;
    }
    ck_assert_int_gt(rolled, 10);
    simcmd_bufs_free(&b);
    free(cf);
    free(err);
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
    tcase_add_test(tc, test_fl_isolate_with);
    tcase_add_test(tc, test_simcmd_role_partition);
    suite_add_tcase(s, tc);
    return s;
}

/* ---- part two: Raft ----
 *
 * Each scenario runs SEEDS seeds on the machine timing model, with
 * Raft's own invariant (election safety, log matching, leader
 * completeness) checked after every step and the simulator's (one leader
 * per term, state machine safety, no acknowledged command lost, logs
 * agree) at every step and at the end. Timeouts as in the paper: election
 * 150-300 ms, heartbeat 50 ms; fsync on. */

/* 1,000 seeds each in the normal build. A sanitizer build is there to
 * catch memory and undefined-behaviour errors on these paths, which a
 * tenth of the schedules exercise as well at a tenth of the (four times
 * slower) cost: CI runs both builds. */
#if defined(__SANITIZE_ADDRESS__)
#define SEEDS 100
#else
#define SEEDS 1000
#endif
#define MS 1000LL

static void raft_config(struct sim_config *c, uint64_t seed, int n, int clients, int requests)
{
    sim_config_defaults(c);
    c->ops = &algo_raft;
    c->env.n = n;
    c->env.clients = clients;
    c->env.raft_election_min_us = 150 * MS;
    c->env.raft_election_max_us = 300 * MS;
    c->env.raft_heartbeat_us = 50 * MS;
    c->seed = seed;
    c->requests = requests;
    c->fsync = true;
    c->max_time_us = 3000 * MS;
}

/* What every Raft schedule must show. */
static void raft_safe(const struct sim_config *c, const struct sim_result *r)
{
    ck_assert_msg(r->safe, "seed %llu: %s", (unsigned long long)c->seed, r->violation);
    ck_assert_int_le(r->log.max_leaders_per_term, 1);
    ck_assert_uint_eq(r->log.acked_lost, 0);
    ck_assert_msg(r->log.logs_agree, "seed %llu", (unsigned long long)c->seed);
    ck_assert_int_ne(r->end, SIM_END_ERROR);
}

static void raft_run(const struct sim_config *c, struct sim_result *r)
{
    ck_assert_int_eq(sim_run(c, r), 0);
    raft_safe(c, r);
}

/* Every operation ended, and the run is live. */
static void raft_all_ended(const struct sim_config *c, const struct sim_result *r)
{
    ck_assert_msg(r->live, "seed %llu: %s", (unsigned long long)c->seed, r->violation);
    ck_assert_msg(r->end == SIM_END_DONE, "seed %llu: %s", (unsigned long long)c->seed,
                  sim_end_name(r->end));
    ck_assert_uint_eq(r->log.ok + r->log.failed + r->log.timed_out, (uint64_t)c->requests);
    ck_assert_uint_eq(r->log.invoked, (uint64_t)c->requests);
}

static double t_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *name, double t0, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static void say(const char *name, double t0, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("raft sim: %s: %d seeds in %.2f s: %s\n", name, SEEDS, t_now() - t0, buf);
}

/* Records of one run that the scenarios look at. */
struct seen {
    int64_t crash_at;        /* the first TR_CRASH */
    int crashed;
    int64_t leader_after;    /* the first leader after crash_at (-1 none) */
    int64_t old_term, new_term;
    int64_t last_term_leader; /* term of the latest leader */
    int last_leader;          /* ... and who it was */
    int leader_when_crashed;
    int64_t commit_window;   /* highest commit index inside [w0, w1] */
    int64_t commit_before;   /* highest commit index before w0 */
    int64_t w0, w1;
    int ok_after_w1;
    int64_t ok_index[256];
    int nok;
};

static void seen_rec(void *user, const struct trace_rec *r)
{
    struct seen *s = user;
    switch (r->ev) {
    case TR_CRASH:
        if (!s->crashed) {
            s->crashed = r->node;
            s->crash_at = r->t_us;
            s->old_term = s->last_term_leader;
            s->leader_when_crashed = s->last_leader;
        }
        break;
    case TR_ROLE:
        if (r->aux != ROLE_LEADER)
            break;
        s->last_term_leader = r->key;
        s->last_leader = r->node;
        if (s->crashed && s->leader_after < 0 && r->t_us > s->crash_at) {
            s->leader_after = r->t_us;
            s->new_term = r->key;
        }
        break;
    case TR_COMMIT:
        if (r->t_us < s->w0 && r->a > s->commit_before)
            s->commit_before = r->a;
        if (r->t_us >= s->w0 && r->t_us <= s->w1 && r->a > s->commit_window)
            s->commit_window = r->a;
        break;
    case TR_OK:
        if (r->t_us > s->w1)
            s->ok_after_w1++;
        if (s->nok < 256)
            s->ok_index[s->nok++] = r->a;
        break;
    default:
        break;
    }
}

static void seen_init(struct seen *s, int64_t w0, int64_t w1)
{
    memset(s, 0, sizeof *s);
    s->leader_after = -1;
    s->w0 = w0;
    s->w1 = w1;
}

START_TEST(test_raft_initial_election)
{
    /* 3 servers, no fault: a leader within 1 s, and no other leader after
     * it (the term stays). */
    double t0 = t_now();
    int64_t worst = 0, sum = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 3, 0, 0);
        c.max_time_us = 1500 * MS;
        struct sim_result r;
        raft_run(&c, &r);
        ck_assert(r.live);
        ck_assert_int_eq(r.end, SIM_END_DURATION);
        ck_assert_msg(r.log.first_leader_us >= 0 && r.log.first_leader_us < 1000 * MS,
                      "seed %llu: first leader at %lld us", (unsigned long long)seed,
                      (long long)r.log.first_leader_us);
        ck_assert_uint_eq(r.log.elections, 1);
        ck_assert_int_ne(r.log.leader_at_end, 0);
        ck_assert_int_eq(r.log.leader_term_at_end, r.log.max_term);
        sum += r.log.first_leader_us;
        if (r.log.first_leader_us > worst)
            worst = r.log.first_leader_us;
    }
    say("initial election", t0, "first leader after %.0f ms on average, %.0f ms at most",
        (double)sum / SEEDS / 1e3, (double)worst / 1e3);
}
END_TEST

START_TEST(test_raft_reelection)
{
    /* The leader crashes at 1 s: another is elected, in a higher term,
     * within 1 s; the old one restarts at 2 s and the cluster keeps one
     * leader. */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 1000 * MS, .kind = SIM_CRASH, .role = ROLE_LEADER};
    f[1] = (struct sim_fault){.at_us = 2000 * MS, .kind = SIM_RESTART, .of = 1};
    double t0 = t_now();
    int64_t worst = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 3, 0, 0);
        c.faults = f;
        c.nfaults = 2;
        struct seen sn;
        seen_init(&sn, 0, 0);
        c.on_record = seen_rec;
        c.user = &sn;
        struct sim_result r;
        raft_run(&c, &r);
        ck_assert(r.live);
        /* The fault by role hit the leader. */
        ck_assert_int_ne(sn.crashed, 0);
        ck_assert_int_eq(sn.crashed, sn.leader_when_crashed);
        ck_assert_msg(sn.leader_after > 0 && sn.leader_after - sn.crash_at < 1000 * MS,
                      "seed %llu: no new leader within 1 s", (unsigned long long)seed);
        ck_assert_int_gt(sn.new_term, sn.old_term);
        ck_assert_int_ne(r.log.leader_at_end, 0);
        if (sn.leader_after - sn.crash_at > worst)
            worst = sn.leader_after - sn.crash_at;
    }
    say("re-election", t0, "a new leader at most %.0f ms after the crash", (double)worst / 1e3);
}
END_TEST

START_TEST(test_raft_many_elections)
{
    /* 7 servers; six rounds of 250 ms, each cutting 3 random servers off
     * (each alone), then all healed: safe throughout, and a leader 2 s
     * after the heal. (Without pre-vote, the servers that were cut off
     * come back with higher terms and stale logs, and their campaigns
     * can delay the next leader by several election timeouts.) */
    static struct sim_fault f[16];
    double t0 = t_now();
    uint64_t elections = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct dl_rng rng;
        dl_rng_seed(&rng, seed * 7 + 1);
        int nf = 0;
        for (int round = 0; round < 6; round++) {
            struct sim_fault *p = &f[nf++];
            memset(p, 0, sizeof *p);
            p->at_us = (500 + 250 * round) * MS;
            p->kind = SIM_PARTITION;
            for (int cut = 1; cut <= 3;) {
                int k = 1 + (int)dl_rng_below(&rng, 7);
                if (p->group[k])
                    continue;
                p->group[k] = (uint8_t)cut++;
            }
        }
        f[nf++] = (struct sim_fault){.at_us = 2000 * MS, .kind = SIM_HEAL};
        struct sim_config c;
        raft_config(&c, seed, 7, 0, 0);
        c.max_time_us = 4000 * MS;
        c.faults = f;
        c.nfaults = nf;
        struct sim_result r;
        raft_run(&c, &r);
        ck_assert(r.live);
        ck_assert_msg(r.log.leader_at_end != 0, "seed %llu: no leader 2 s after the heal",
                      (unsigned long long)seed);
        elections += r.log.elections;
    }
    say("many elections (7 servers)", t0, "%.1f leaders elected per schedule",
        (double)elections / SEEDS);
}
END_TEST

START_TEST(test_raft_basic_agreement)
{
    /* 3 or 5 servers, one client, 10 commands: each answered OK, applied
     * at its index everywhere it was applied; distinct schedules per
     * seed. */
    double t0 = t_now();
    static uint64_t sched[SEEDS];
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, seed % 2 ? 3 : 5, 1, 10);
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ck_assert_uint_eq(r.log.ok, 10);
        ck_assert_int_ge(r.log.commit_index, 10);
        sched[seed - 1] = r.schedule;
    }
    /* How many different interleavings the seeds gave. */
    int distinct = 0;
    for (int i = 0; i < SEEDS; i++) {
        bool again = false;
        for (int j = 0; j < i && !again; j++)
            again = sched[j] == sched[i];
        distinct += !again;
    }
    ck_assert_int_ge(distinct, SEEDS * 99 / 100);
    say("basic agreement", t0, "%d distinct schedules", distinct);
}
END_TEST

START_TEST(test_raft_follower_disconnect)
{
    /* A follower is cut off from 600 ms to 1.2 s while a client submits
     * 30 commands at 20 per second: the other two commit without it, and
     * it catches up after the heal. */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 600 * MS, .kind = SIM_PARTITION, .role = ROLE_FOLLOWER,
                              .isolate = true};
    f[1] = (struct sim_fault){.at_us = 1200 * MS, .kind = SIM_HEAL};
    double t0 = t_now();
    uint64_t ok = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 3, 1, 30);
        c.rate = 20;
        c.faults = f;
        c.nfaults = 2;
        struct seen sn;
        seen_init(&sn, 620 * MS, 1190 * MS);
        c.on_record = seen_rec;
        c.user = &sn;
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ck_assert_msg(sn.commit_window > sn.commit_before, "seed %llu: no commit while cut off",
                      (unsigned long long)seed);
        ck_assert_uint_eq(r.log.ok, 30);
        ok += r.log.ok;
    }
    say("agreement despite a follower disconnect", t0, "%.1f of 30 commands OK per schedule",
        (double)ok / SEEDS);
}
END_TEST

START_TEST(test_raft_no_majority)
{
    /* 5 servers split 1/1/1/2 from 600 ms to 1.2 s: no side has a
     * majority, so nothing new commits (after what was under way); after
     * the heal commands are answered again. */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 600 * MS, .kind = SIM_PARTITION};
    for (int k = 1; k <= 5; k++)
        f[0].group[k] = (uint8_t)(k <= 3 ? k : 4);
    f[1] = (struct sim_fault){.at_us = 1200 * MS, .kind = SIM_HEAL};
    double t0 = t_now();
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 5, 1, 30);
        c.rate = 20;
        c.faults = f;
        c.nfaults = 2;
        struct seen sn;
        seen_init(&sn, 620 * MS, 1200 * MS);
        c.on_record = seen_rec;
        c.user = &sn;
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ck_assert_msg(sn.commit_window <= sn.commit_before,
                      "seed %llu: index %lld committed without a majority (before: %lld)",
                      (unsigned long long)seed, (long long)sn.commit_window,
                      (long long)sn.commit_before);
        ck_assert_int_gt(sn.ok_after_w1, 0);
    }
    say("no agreement without a majority", t0, "no commit while split, answers after the heal");
}
END_TEST

START_TEST(test_raft_concurrent_clients)
{
    /* 5 clients, 10 commands each, at once: all OK, each at its own
     * index. */
    double t0 = t_now();
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 3, 5, 50);
        struct seen sn;
        seen_init(&sn, 0, 0);
        c.on_record = seen_rec;
        c.user = &sn;
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ck_assert_uint_eq(r.log.ok, 50);
        ck_assert_int_eq(sn.nok, 50);
        bool twice = false;
        for (int i = 0; i < sn.nok; i++)
            for (int j = 0; j < i; j++)
                twice = twice || sn.ok_index[i] == sn.ok_index[j];
        ck_assert_msg(!twice, "seed %llu: two operations answered at one index",
                      (unsigned long long)seed);
    }
    say("concurrent commands (5 clients)", t0, "50 of 50 OK at distinct indexes");
}
END_TEST

START_TEST(test_raft_partitioned_leader_rejoins)
{
    /* The leader is cut off from 500 ms to 1 s while two clients submit
     * commands (20 a second each, for 1.5 s); it may take some (it still believes it leads) that never
     * commit. The others elect a leader and commit; at the heal the old
     * leader's uncommitted entries are replaced. */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 500 * MS, .kind = SIM_PARTITION, .role = ROLE_LEADER,
                              .isolate = true};
    f[1] = (struct sim_fault){.at_us = 1000 * MS, .kind = SIM_HEAL};
    double t0 = t_now();
    int rolled = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 3, 2, 60);
        c.rate = 20;
        c.faults = f;
        c.nfaults = 2;
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ck_assert_uint_gt(r.log.ok, 0);
        ck_assert_uint_ge(r.log.elections, 2);
        rolled += r.log.truncated > 0;
    }
    ck_assert_int_gt(rolled, SEEDS / 2);
    say("rejoin of a partitioned leader", t0,
        "the old leader's uncommitted entries rolled back in %d schedules", rolled);
}
END_TEST

START_TEST(test_raft_backup_50)
{
    /* Fast back-up: 50 clients, each submitting a command every 200 ms;
     * the leader, cut off alone from 500 ms to 1 s, takes the next one of
     * each (uncommitted), while the other four elect a leader and commit
     * the retries. After the heal the old leader drops its whole
     * conflicting tail at once. */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 500 * MS, .kind = SIM_PARTITION, .role = ROLE_LEADER,
                              .isolate = true};
    f[1] = (struct sim_fault){.at_us = 1000 * MS, .kind = SIM_HEAL};
    double t0 = t_now();
    int big = 0;
    int64_t most = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 5, 50, 200);
        c.rate = 5;
        c.max_time_us = 4000 * MS;
        c.faults = f;
        c.nfaults = 2;
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        big += r.log.max_truncate >= 50;
        if (r.log.max_truncate > most)
            most = r.log.max_truncate;
    }
    ck_assert_int_gt(big, SEEDS * 9 / 10);
    say("fast back-up over 50 conflicting entries", t0,
        "%d schedules rolled back 50 or more at once (at most %lld)", big, (long long)most);
}
END_TEST

START_TEST(test_raft_persistence)
{
    /* Crash and restart all servers, the leader, or a follower (by seed)
     * while a client submits 20 commands at 20 per second: nothing
     * acknowledged is lost, and the run goes on. */
    static struct sim_fault f[6];
    double t0 = t_now();
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        int nf = 0;
        int64_t at = 400 * MS + (int64_t)(seed % 97) * MS;
        switch (seed % 3) {
        case 0:
            for (int k = 1; k <= 3; k++)
                f[nf++] = (struct sim_fault){.at_us = at, .kind = SIM_CRASH, .node = k};
            for (int k = 1; k <= 3; k++)
                f[nf++] = (struct sim_fault){.at_us = at + 200 * MS, .kind = SIM_RESTART,
                                             .node = k};
            break;
        case 1:
            f[nf++] = (struct sim_fault){.at_us = at, .kind = SIM_CRASH, .role = ROLE_LEADER};
            f[nf++] = (struct sim_fault){.at_us = at + 200 * MS, .kind = SIM_RESTART, .of = 1};
            break;
        default:
            f[nf++] = (struct sim_fault){.at_us = at, .kind = SIM_CRASH, .role = ROLE_FOLLOWER};
            f[nf++] = (struct sim_fault){.at_us = at + 200 * MS, .kind = SIM_RESTART, .of = 1};
            break;
        }
        struct sim_config c;
        raft_config(&c, seed, 3, 1, 20);
        c.rate = 20;
        c.faults = f;
        c.nfaults = nf;
        struct seen sn;
        seen_init(&sn, 0, at + 200 * MS);
        c.on_record = seen_rec;
        c.user = &sn;
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ck_assert_uint_ge(r.restarts, 1);
        ck_assert_msg(sn.ok_after_w1 > 0, "seed %llu: no answer after the restart",
                      (unsigned long long)seed);
    }
    say("persistence (crash of all, the leader, a follower)", t0, "nothing acknowledged lost");
}
END_TEST

/* Figure 8: leaders crash (often just after appending) and come back, a
 * majority up at any time. */
static int figure8_faults(struct sim_fault *f, uint64_t seed)
{
    struct dl_rng rng;
    dl_rng_seed(&rng, seed * 31 + 7);
    int nf = 0;
    int64_t t = 300 * MS;
    for (int i = 0; i < 6; i++) {
        t += (int64_t)(100 + dl_rng_below(&rng, 200)) * MS;
        f[nf] = (struct sim_fault){.at_us = t, .kind = SIM_CRASH, .role = ROLE_LEADER};
        nf++;
        f[nf] = (struct sim_fault){.at_us = t + (int64_t)(10 + dl_rng_below(&rng, 250)) * MS,
                                   .kind = SIM_RESTART,
                                   .of = nf};
        nf++;
    }
    return nf;
}

/* Long reordering: now and then a link holds its messages back 200 ms to
 * 2.2 s (each drawn), for 300 ms, then is back to the run's loss and
 * jitter. */
static int reorder_faults(struct sim_fault *f, struct net_change *ch, uint64_t seed)
{
    struct dl_rng rng;
    dl_rng_seed(&rng, seed * 17 + 3);
    int nf = 0;
    for (int i = 0; i < 4; i++) {
        int a = 1 + (int)dl_rng_below(&rng, 5), b = 1 + (int)dl_rng_below(&rng, 4);
        b += b >= a;
        int64_t at = (int64_t)(300 + dl_rng_below(&rng, 1500)) * MS;
        ch[2 * i] = (struct net_change){.from = (uint16_t)a, .to = (uint16_t)b,
                                        .loss_ppm = NET_PPM / 10, .delay_us = 200 * MS,
                                        .jitter_us = 2000 * MS};
        ch[2 * i + 1] = (struct net_change){.from = (uint16_t)a, .to = (uint16_t)b,
                                            .loss_ppm = NET_PPM / 10, .jitter_us = 27 * MS};
        f[nf++] = (struct sim_fault){.at_us = at, .kind = SIM_NET, .net = &ch[2 * i], .nnet = 1};
        f[nf++] = (struct sim_fault){.at_us = at + 300 * MS, .kind = SIM_NET,
                                     .net = &ch[2 * i + 1], .nnet = 1};
    }
    return nf;
}

static void figure8(const char *name, bool unreliable)
{
    static struct sim_fault f[32];
    static struct net_change ch[8];
    double t0 = t_now();
    uint64_t ok = 0, crashes = 0, lost = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 5, 1, 40);
        c.rate = 20;
        c.max_time_us = 8000 * MS;
        c.nfaults = figure8_faults(f, seed);
        c.faults = f;
        if (unreliable) {
            c.loss = 0.1;
            c.jitter_us = 27 * MS;
            c.nfaults += reorder_faults(f + c.nfaults, ch, seed);
        }
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ok += r.log.ok;
        crashes += r.crashes;
        lost += r.dropped_loss;
    }
    ck_assert_uint_ge(ok, (uint64_t)SEEDS * 40 * 95 / 100);
    say(name, t0, "%.1f leader crashes and %.1f OK of 40 per schedule, %.0f lost messages",
        (double)crashes / SEEDS, (double)ok / SEEDS, (double)lost / SEEDS);
}

START_TEST(test_raft_figure8)
{
    figure8("Figure 8", false);
}
END_TEST

START_TEST(test_raft_figure8_unreliable)
{
    figure8("Figure 8, unreliable network (10% loss, 0-27 ms jitter, links holding messages "
            "back 0.2-2.2 s)",
            true);
}
END_TEST

START_TEST(test_raft_churn)
{
    /* Crashes, restarts and partitions at random for 2 s, 3 clients
     * throughout; then everything healed and up: every command a client
     * saw acknowledged is in the final logs (the simulator's check). */
    static struct sim_fault f[32];
    double t0 = t_now();
    uint64_t ok = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct dl_rng rng;
        dl_rng_seed(&rng, seed * 13 + 5);
        int nf = 0;
        for (int64_t t = 300 * MS; t < 2300 * MS; t += (int64_t)(100 + dl_rng_below(&rng, 200)) * MS) {
            struct sim_fault *p = &f[nf++];
            memset(p, 0, sizeof *p);
            p->at_us = t;
            switch (dl_rng_below(&rng, 3)) {
            case 0:
                p->kind = SIM_CRASH;
                p->node = 1 + (int)dl_rng_below(&rng, 5);
                f[nf] = (struct sim_fault){.at_us = t + (int64_t)(50 + dl_rng_below(&rng, 300)) * MS,
                                           .kind = SIM_RESTART,
                                           .of = nf};
                nf++;
                break;
            case 1:
                p->kind = SIM_PARTITION;
                for (int k = 1; k <= 5; k++)
                    p->group[k] = (uint8_t)dl_rng_below(&rng, 2);
                break;
            default:
                p->kind = SIM_HEAL;
                break;
            }
            if (nf >= 28)
                break;
        }
        f[nf++] = (struct sim_fault){.at_us = 2500 * MS, .kind = SIM_HEAL};
        for (int k = 1; k <= 5; k++)
            f[nf++] = (struct sim_fault){.at_us = 2500 * MS, .kind = SIM_RESTART, .node = k};
        ck_assert_int_le(nf, 32);
        struct sim_config c;
        raft_config(&c, seed, 5, 3, 60);
        c.rate = 20;
        c.max_time_us = 6000 * MS;
        c.faults = f;
        c.nfaults = nf;
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ok += r.log.ok;
    }
    ck_assert_uint_ge(ok, (uint64_t)SEEDS * 60 * 95 / 100);
    say("churn", t0, "%.1f of 60 OK per schedule, none lost", (double)ok / SEEDS);
}
END_TEST

START_TEST(test_raft_snapshots_lagging)
{
    /* A snapshot every 10 entries; a follower is down from 300 to 700 ms
     * while 60 commands commit (40 a second): it comes back behind the leader's
     * snapshot and is sent one. Memory stays bounded. */
    static struct sim_fault f[2];
    f[0] = (struct sim_fault){.at_us = 300 * MS, .kind = SIM_CRASH, .role = ROLE_FOLLOWER};
    f[1] = (struct sim_fault){.at_us = 700 * MS, .kind = SIM_RESTART, .of = 1};
    double t0 = t_now();
    int installed = 0;
    size_t peak = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 3, 1, 60);
        c.env.raft_snapshot_entries = 10;
        c.rate = 40;
        c.faults = f;
        c.nfaults = 2;
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        ck_assert_uint_gt(r.log.snapshots, 0);
        installed += r.log.snap_installs > 0;
        if (r.peak_mem > peak)
            peak = r.peak_mem;
    }
    ck_assert_int_gt(installed, SEEDS / 2);
    say("snapshots with a lagging follower", t0,
        "a snapshot sent to the follower in %d schedules; peak core memory %.1f KiB", installed,
        (double)peak / 1024);
}
END_TEST

START_TEST(test_raft_storage_faults)
{
    /* A client that submits its 150 commands back to back, so that
     * writes are always under way; torn tails (a crash keeps part of the
     * unsynced writes) with three crashes of the leader, and failed writes
     * (1% of storage actions; the node stops and restarts from its durable
     * image 50 ms later). */
    static struct sim_fault f[16];
    double t0 = t_now();
    uint64_t torn = 0, failures = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct sim_config c;
        raft_config(&c, seed, 5, 1, 150);
        c.max_time_us = 6000 * MS;
        if (seed % 2) {
            c.torn_writes = true;
            struct dl_rng rng;
            dl_rng_seed(&rng, seed);
            int nf = 0;
            for (int64_t t = 200 * MS; nf < 6; nf += 2) {
                t += (int64_t)dl_rng_below(&rng, 150) * MS;
                f[nf] = (struct sim_fault){.at_us = t, .kind = SIM_CRASH, .role = ROLE_LEADER};
                t += (int64_t)(20 + dl_rng_below(&rng, 80)) * MS;
                f[nf + 1] = (struct sim_fault){.at_us = t, .kind = SIM_RESTART, .of = nf + 1};
            }
            c.nfaults = nf;
            c.faults = f;
        } else {
            c.store_fail = 0.01;
            c.restart_after_us = 50 * MS;
        }
        struct sim_result r;
        raft_run(&c, &r);
        raft_all_ended(&c, &r);
        torn += r.log.torn;
        failures += r.log.store_failures;
    }
    ck_assert_uint_gt(torn, SEEDS / 10);
    ck_assert_uint_gt(failures, SEEDS / 10);
    say("storage faults", t0, "%llu torn tails, %llu failed writes, nothing acknowledged lost",
        (unsigned long long)torn, (unsigned long long)failures);
}
END_TEST

START_TEST(test_raft_pipelined_rate)
{
    /* A pipelining client with a rate keeps to its schedule, as the
     * client processes of a real run do (pace.h): its timers fire late
     * (the machine model), and each late submission lets the next follow
     * sooner, so that over a stretch it submits at the rate, not at
     * 1 / (interval + lateness). Before the first election it falls
     * behind and catches up; the last 2,000 operations are past that. */
    struct sim_config c;
    raft_config(&c, 3, 3, 1, 4000);
    c.rate = 5000; /* one every 200 us */
    c.env.client_window = 8;
    c.fsync = false;
    struct recs rc = {0};
    c.on_record = rec_add;
    c.user = &rc;
    struct sim_result r;
    raft_run(&c, &r);
    ck_assert_uint_eq(r.log.ok, 4000);
    int64_t *inv = calloc(4001, sizeof *inv);
    ck_assert_ptr_nonnull(inv);
    int n = 0;
    for (size_t i = 0; i < rc.n; i++)
        if (rc.r[i].ev == TR_INVOKE && n < 4001)
            inv[n++] = rc.r[i].t_us;
    ck_assert_int_eq(n, 4000);
    double span = (double)(inv[3999] - inv[1999]), sched = 1999 * 200.0;
    ck_assert_msg(span >= 0.97 * sched && span <= 1.03 * sched,
                  "the last 2000 submissions took %.1f ms, the schedule %.1f ms", span / 1000,
                  sched / 1000);
    free(inv);
    free(rc.r);
}
END_TEST

START_TEST(test_raft_memory_bounded)
{
    /* With a snapshot every 50 entries, a node's core holds no more after
     * 1,000 commands than after 400: the log is compacted. (400, not 200:
     * entries carry a client's floor too, and 200 commands do not always
     * reach the log's steady size.) A cap of 128 KiB would fail the run
     * loudly if it grew. */
    double t0 = t_now();
    size_t peak[2] = {0, 0};
    for (uint64_t seed = 1; seed <= 100; seed++) {
        for (int k = 0; k < 2; k++) {
            struct sim_config c;
            raft_config(&c, seed, 3, 2, k ? 1000 : 400);
            c.env.raft_snapshot_entries = 50;
            c.max_time_us = 10000 * MS;
            c.mem_cap = 128 << 10;
            struct sim_result r;
            raft_run(&c, &r);
            raft_all_ended(&c, &r);
            ck_assert(!r.mem_over);
            if (r.peak_mem > peak[k])
                peak[k] = r.peak_mem;
        }
    }
    ck_assert_uint_le(peak[1], peak[0] + 4096);
    printf("raft sim: memory: 100 seeds twice in %.2f s: peak core memory %.1f KiB after 400 "
           "commands, %.1f KiB after 1,000\n",
           t_now() - t0, (double)peak[0] / 1024, (double)peak[1] / 1024);
}
END_TEST

static Suite *raft_suite(void)
{
    Suite *s = suite_create("raft_sim");
    TCase *tc = tcase_create("scenarios");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_raft_initial_election);
    tcase_add_test(tc, test_raft_reelection);
    tcase_add_test(tc, test_raft_many_elections);
    tcase_add_test(tc, test_raft_basic_agreement);
    tcase_add_test(tc, test_raft_follower_disconnect);
    tcase_add_test(tc, test_raft_no_majority);
    tcase_add_test(tc, test_raft_concurrent_clients);
    tcase_add_test(tc, test_raft_partitioned_leader_rejoins);
    tcase_add_test(tc, test_raft_backup_50);
    tcase_add_test(tc, test_raft_persistence);
    tcase_add_test(tc, test_raft_figure8);
    tcase_add_test(tc, test_raft_figure8_unreliable);
    tcase_add_test(tc, test_raft_churn);
    tcase_add_test(tc, test_raft_snapshots_lagging);
    tcase_add_test(tc, test_raft_storage_faults);
    tcase_add_test(tc, test_raft_memory_bounded);
    tcase_add_test(tc, test_raft_pipelined_rate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(machinery_suite());
    srunner_add_suite(sr, raft_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
