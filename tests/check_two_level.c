/* The two-level token ring core: hand-fed events (group split, the local
 * token moving only under the global token, the local_rounds cap, stale
 * tokens, regeneration at each level), then thousands of seeded schedules on
 * the simulator, failure-free, with crashes and with a paused token holder.
 *
 * The simulator checks "at most one live token of the newest generation"
 * across all groups. That is the right check for this design, where the only
 * live local token is the one of the group holding the global token (so the
 * count is the one privilege). The per-level invariant of REFERENCE.md (one
 * global token; one local token per group) is checked here, after every
 * trace record, through the cores' inspect (see struct watch). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/algo.h"
#include "nodes/rng.h"
#include "nodes/sim.h"

extern const struct algo_ops algo_two_level_ring;
#define TL algo_two_level_ring

#define N_MAX 16
#define LBITS 20 /* gen = global_gen << 20 | local_gen */

enum { LOCAL = MSG_RANGE_TWO_LEVEL + 1, GLOBAL, ACK, PROBE };
enum { T_LOCAL = 0, T_GLOBAL = 1, T_IDLE = 2, T_RETX = 3 };
enum { GOT = 0, MISSING = 1, UNKNOWN = 2 }; /* what an ACK says */

/* The split the core documents, written independently: the first n % g
 * groups get one member more; group_of wins when set for every node. */
static int expected_group(int n, int g, int k)
{
    int q = n / g, r = n % g;
    for (int j = 1, first = 1; j <= g; j++) {
        int size = q + (j <= r);
        if (k < first + size)
            return j;
        first += size;
    }
    return 0;
}

/* ---- a hand-driven cluster: FIFO delivery, no timers unless fired ---- */

struct hand {
    int n;
    void *st[N_MAX + 1];
    struct algo_env env[N_MAX + 1];
    struct algo_msg q[512];
    int qh, qt;
    bool greedy[N_MAX + 1]; /* asks again right after each release */
    int entries[N_MAX + 1];
    int globals; /* global tokens sent */
    int64_t last_gen;
    bool timer_local[N_MAX + 1]; /* T_LOCAL armed by this node */
    bool down[N_MAX + 1];        /* left out of the checks */
    int malformed;               /* messages the cores counted as malformed */
    char log[8192];
};

static void hand_feed(struct hand *h, int id, struct algo_event ev);

static void hand_apply(struct hand *h, int id, struct algo_actions *out)
{
    int n = out->n;
    struct algo_action acts[n > 0 ? n : 1];
    memcpy(acts, out->a, (size_t)n * sizeof *acts);
    ck_assert_int_eq(out->overflow, 0);
    char *end = h->log + strlen(h->log);
    size_t room = sizeof h->log - (size_t)(end - h->log);
    for (int i = 0; i < n; i++) {
        struct algo_action *a = &acts[i];
        if (a->kind == ACT_SEND) {
            ck_assert_int_lt(h->qt, 512);
            h->q[h->qt++] = a->msg;
            h->globals += a->msg.type == GLOBAL;
            h->last_gen = a->msg.f[0];
            int w =
                snprintf(end, room, "%c%d>%d ", a->msg.type == LOCAL ? 'L' : 'G', id, a->msg.to);
            end += w;
            room -= (size_t)w;
        } else if (a->kind == ACT_ENTER_CS) {
            for (int k = 1; k <= h->n; k++) {
                struct algo_inspect in;
                TL.inspect(h->st[k], &in);
                ck_assert_msg(k == id || !in.in_cs, "%d entered while %d is in", id, k);
            }
            h->entries[id]++;
            int w = snprintf(end, room, "E%d ", id);
            end += w;
            room -= (size_t)w;
        } else if (a->kind == ACT_SET_TIMER && a->timer_id == T_LOCAL) {
            h->timer_local[id] = true;
        }
    }
    for (int i = 0; i < n; i++) /* leave at once; the greedy ask again */
        if (acts[i].kind == ACT_ENTER_CS) {
            hand_feed(h, id, (struct algo_event){.kind = EV_RELEASE});
            if (h->greedy[id])
                hand_feed(h, id, (struct algo_event){.kind = EV_REQUEST});
        }
}

static void hand_feed(struct hand *h, int id, struct algo_event ev)
{
    struct algo_actions out;
    ck_assert_int_eq(algo_actions_init(&out, h->n), 0);
    TL.step(h->st[id], &ev, &out);
    h->malformed += out.malformed;
    hand_apply(h, id, &out);
    algo_actions_free(&out);
}

static void hand_init(struct hand *h, int n, int groups, int rounds, const uint8_t *group_of)
{
    memset(h, 0, sizeof *h);
    h->n = n;
    for (int k = 1; k <= n; k++) {
        h->st[k] = calloc(1, TL.state_size);
        ck_assert_ptr_nonnull(h->st[k]);
        h->env[k] = (struct algo_env){.id = k,
                                      .n = n,
                                      .incarnation = 1,
                                      .groups = groups,
                                      .local_rounds = rounds,
                                      .token_timeout_us = 1000};
        if (group_of)
            memcpy(h->env[k].group_of, group_of, (size_t)n + 1);
        ck_assert_int_eq(TL.init(h->st[k], &h->env[k]), 0);
    }
}

static void hand_start(struct hand *h)
{
    for (int k = 1; k <= h->n; k++)
        hand_feed(h, k, (struct algo_event){.kind = EV_START});
}

static void hand_fini(struct hand *h)
{
    for (int k = 1; k <= h->n; k++)
        free(h->st[k]);
}

/* One privilege (a local token, or the global token between coordinators)
 * and one global token; a local token in flight belongs to a lap whose
 * coordinator holds the global token. */
static void hand_check(struct hand *h)
{
    int privilege = 0, global = 0;
    for (int k = 1; k <= h->n; k++) {
        struct algo_inspect in;
        if (h->down[k])
            continue;
        TL.inspect(h->st[k], &in);
        privilege += in.holds_token;
        global += in.role == ROLE_TOKEN_HOLDER;
    }
    for (int i = h->qh; i < h->qt; i++) {
        const struct algo_msg *m = &h->q[i];
        privilege++;
        global += m->type == GLOBAL;
        if (m->type == LOCAL) {
            struct algo_inspect c;
            ck_assert(m->f[1] >= 1 && m->f[1] <= h->n);
            TL.inspect(h->st[m->f[1]], &c);
            ck_assert_msg(c.role == ROLE_TOKEN_HOLDER,
                          "a local token of %d moves without the global token", (int)m->f[1]);
        }
    }
    ck_assert_int_eq(privilege, 1);
    ck_assert_int_eq(global, 1);
}

/* Deliver in order until `globals` global tokens were sent (or max). */
static void hand_run(struct hand *h, int globals, int max)
{
    for (int i = 0; i < max && h->qh < h->qt && h->globals < globals; i++) {
        hand_check(h);
        struct algo_msg m = h->q[h->qh++];
        hand_feed(h, m.to, (struct algo_event){.kind = EV_MESSAGE, .msg = m});
    }
    hand_check(h);
}

/* The ring walk for a shape, nobody wanting, one round of the global token. */
static void walk(int n, int groups, const uint8_t *group_of, const char *expected)
{
    struct hand h;
    int globals = 0;
    for (const char *p = expected; *p; p++)
        globals += *p == 'G';
    hand_init(&h, n, groups, 1, group_of);
    hand_start(&h);
    hand_run(&h, globals, 1000);
    ck_assert_str_eq(h.log, expected);
    hand_fini(&h);
}

START_TEST(test_group_split)
{
    walk(6, 2, NULL, "L1>2 L2>3 L3>1 G1>4 L4>5 L5>6 L6>4 G4>1 ");
    walk(6, 0, NULL, "L1>2 L2>3 L3>1 G1>4 L4>5 L5>6 L6>4 G4>1 "); /* default G = 2 */
    walk(7, 3, NULL, "L1>2 L2>3 L3>1 G1>4 L4>5 L5>4 G4>6 L6>7 L7>6 G6>1 ");
    uint8_t of[N_MAX + 1] = {0, 2, 1, 2, 1, 2, 1}; /* {2,4,6} and {1,3,5} */
    walk(6, 0, of, "L1>3 L3>5 L5>1 G1>2 L2>4 L4>6 L6>2 G2>1 ");
    of[4] = 0; /* not set for every node: the derived split again */
    walk(6, 2, of, "L1>2 L2>3 L3>1 G1>4 L4>5 L5>6 L6>4 G4>1 ");
    /* The walk and the independent rule agree on every shape. */
    for (int n = 2; n <= 12; n++)
        for (int g = 1; g <= n && g <= 4; g++) {
            char want[512] = "", *p = want;
            for (int j = 1, first = 1; j <= g; j++) {
                int last = first;
                while (last < n && expected_group(n, g, last + 1) == j)
                    last++;
                for (int k = first; k < last; k++)
                    p += sprintf(p, "L%d>%d ", k, k + 1);
                if (last > first)
                    p += sprintf(p, "L%d>%d ", last, first);
                int next = last == n ? 1 : last + 1;
                if (g > 1)
                    p += sprintf(p, "G%d>%d ", first, next);
                first = last + 1;
            }
            struct hand h;
            hand_init(&h, n, g, 1, NULL);
            hand_start(&h);
            hand_run(&h, g > 1 ? g : 1, g > 1 ? 1000 : n);
            ck_assert_msg(strncmp(h.log, want, strlen(want)) == 0, "n=%d g=%d: %s vs %s", n, g,
                          h.log, want);
            hand_fini(&h);
        }
    /* Impossible shapes are refused. */
    void *st = calloc(1, TL.state_size);
    ck_assert_ptr_nonnull(st);
    struct algo_env env = {.id = 1, .n = 6, .groups = 7};
    ck_assert_int_lt(TL.init(st, &env), 0);
    env.groups = 1;
    memcpy(env.group_of, (uint8_t[]){0, 1, 2, 1, 2, 1, 2}, 7);
    ck_assert_int_lt(TL.init(st, &env), 0); /* group 2 > groups */
    free(st);
}
END_TEST

START_TEST(test_local_token_needs_global)
{
    /* The walks above check after each delivery that a local token only
     * moves while its lap's coordinator holds the global token. Here: a
     * coordinator without the global token drops the end of a lap. */
    struct hand h;
    hand_init(&h, 6, 2, 1, NULL);
    hand_start(&h);  /* node 1 holds the global token */
    h.qh = h.qt = 0; /* forget node 1's lap */
    hand_feed(&h, 4, (struct algo_event){.kind = EV_REQUEST});
    struct algo_event ev = {.kind = EV_MESSAGE};
    ev.msg = (struct algo_msg){.type = LOCAL, .from = 6, .to = 4, .f = {h.last_gen, 4, 0, 0}};
    hand_feed(&h, 4, ev);
    ck_assert_int_eq(h.qt, 0);
    ck_assert_int_eq(h.entries[4], 0);
    ck_assert(!h.timer_local[4]);
    /* Its T_LOCAL firing regenerates nothing either. */
    hand_feed(&h, 4, (struct algo_event){.kind = EV_TIMER, .timer_id = T_LOCAL});
    ck_assert_int_eq(h.qt, 0);
    /* A member whose lap's coordinator went down drops the token after its
     * turn instead of sending it to the dead. */
    hand_feed(&h, 6, (struct algo_event){.kind = EV_PEER_DOWN, .peer = 4});
    hand_feed(&h, 6, (struct algo_event){.kind = EV_REQUEST});
    ev.msg = (struct algo_msg){.type = LOCAL, .from = 5, .to = 6, .f = {h.last_gen, 4, 0, 0}};
    hand_feed(&h, 6, ev);
    ck_assert_int_eq(h.entries[6], 1);
    ck_assert_int_eq(h.qt, 0);
    /* Only a lap's coordinator arms T_LOCAL. */
    ck_assert(h.timer_local[1]);
    for (int k = 2; k <= 6; k++)
        ck_assert(!h.timer_local[k]);
    hand_fini(&h);
}
END_TEST

START_TEST(test_local_rounds_bound)
{
    for (int rounds = 1; rounds <= 3; rounds++) {
        /* Everyone always wants: each visit is exactly `rounds` laps, each
         * member entering once a lap, then the global token moves. */
        struct hand h;
        hand_init(&h, 6, 2, rounds, NULL);
        for (int k = 1; k <= 6; k++) {
            h.greedy[k] = true;
            hand_feed(&h, k, (struct algo_event){.kind = EV_REQUEST});
        }
        hand_start(&h);
        hand_run(&h, 1, 1000);
        for (int k = 1; k <= 6; k++)
            ck_assert_int_eq(h.entries[k], k <= 3 ? rounds : 0);
        hand_run(&h, 2, 1000);
        for (int k = 1; k <= 6; k++)
            ck_assert_int_eq(h.entries[k], rounds);
        char want[256] = "", *p = want;
        for (int r = 0; r < rounds; r++)
            p += sprintf(p, "E1 L1>2 E2 L2>3 E3 L3>1 ");
        p += sprintf(p, "G1>4 ");
        ck_assert_msg(strncmp(h.log, want, strlen(want)) == 0, "%s", h.log);
        hand_fini(&h);
    }
    /* A lap without entries ends the visit early: 3 rounds allowed, node 5
     * wants once, so group 2 does one lap with it and one without. */
    struct hand h;
    hand_init(&h, 6, 2, 3, NULL);
    hand_start(&h);
    hand_run(&h, 1, 1000);
    hand_feed(&h, 5, (struct algo_event){.kind = EV_REQUEST});
    h.log[0] = '\0';
    hand_run(&h, 2, 1000);
    ck_assert_str_eq(h.log, "L4>5 E5 L5>6 L6>4 L4>5 L5>6 L6>4 G4>1 ");
    hand_fini(&h);
}
END_TEST

START_TEST(test_stale_token_discarded)
{
    struct hand h;
    hand_init(&h, 6, 2, 1, NULL);
    hand_start(&h);
    int64_t gen = h.last_gen;
    h.qh = h.qt = 0;
    /* Node 2 sees generation gen + 1 (a regenerated token) and passes it. */
    struct algo_event ev = {.kind = EV_MESSAGE};
    ev.msg = (struct algo_msg){.type = LOCAL, .from = 1, .to = 2, .f = {gen + 1, 1, 0, 0}};
    hand_feed(&h, 2, ev);
    ck_assert_str_eq(h.log, "L1>2 L2>3 ");
    /* The older token reaches it later: dropped, even though 2 wants. */
    hand_feed(&h, 2, (struct algo_event){.kind = EV_REQUEST});
    ev.msg.f[0] = gen;
    hand_feed(&h, 2, ev);
    ck_assert_int_eq(h.entries[2], 0);
    ck_assert_str_eq(h.log, "L1>2 L2>3 ");
    /* A stale global token starts no visit. */
    ev.msg = (struct algo_msg){.type = GLOBAL, .from = 1, .to = 2, .f = {gen}};
    hand_feed(&h, 2, ev);
    ck_assert_str_eq(h.log, "L1>2 L2>3 ");
    /* A newer token while 2 is inside is kept until it leaves, then passed
     * on with the new generation (stepped by hand: no automatic release). */
    struct algo_actions out;
    ck_assert_int_eq(algo_actions_init(&out, 6), 0);
    ev.msg = (struct algo_msg){.type = LOCAL, .from = 1, .to = 2, .f = {gen + 1, 1, 0, 0}};
    TL.step(h.st[2], &ev, &out);
    ck_assert_int_eq(out.n, 1);
    ck_assert_int_eq(out.a[0].kind, ACT_ENTER_CS);
    ck_assert_int_eq(out.a[0].gen, gen + 1);
    algo_actions_clear(&out);
    ev.msg.f[0] = gen + 2;
    TL.step(h.st[2], &ev, &out);
    for (int i = 0; i < out.n; i++)
        ck_assert(out.a[i].kind != ACT_SEND && out.a[i].kind != ACT_ENTER_CS);
    algo_actions_clear(&out);
    TL.step(h.st[2], &(struct algo_event){.kind = EV_RELEASE}, &out);
    ck_assert_int_eq(out.n, 1);
    ck_assert_int_eq(out.a[0].kind, ACT_SEND);
    ck_assert_int_eq(out.a[0].msg.to, 3);
    ck_assert_int_eq(out.a[0].msg.f[0], gen + 2);
    algo_actions_free(&out);
    hand_fini(&h);
}
END_TEST

START_TEST(test_local_regeneration)
{
    for (int rounds = 1; rounds <= 2; rounds++) {
        struct hand h;
        hand_init(&h, 6, 2, rounds, NULL);
        hand_start(&h); /* L1>2, lost */
        int64_t gen = h.last_gen;
        h.qh = h.qt = 0;
        h.log[0] = '\0';
        hand_feed(&h, 1, (struct algo_event){.kind = EV_TIMER, .timer_id = T_LOCAL});
        /* One generation up; the lost lap counts toward local_rounds. */
        ck_assert_int_eq(h.last_gen, gen + 1);
        ck_assert_str_eq(h.log, rounds == 1 ? "G1>4 " : "L1>2 ");
        hand_fini(&h);
    }
}
END_TEST

START_TEST(test_global_regeneration)
{
    struct hand h;
    hand_init(&h, 6, 2, 1, NULL);
    hand_start(&h);
    int64_t gen = h.last_gen, gt = 2 * 2 * 1000; /* (rounds + 1) * G * timeout */
    ck_assert_int_eq(gen, (int64_t)(1 << 8 | 1) << LBITS);
    h.qh = h.qt = 0;
    h.log[0] = '\0';
    /* Node 1 (holding the global token) is down; only the lowest node up
     * mints a new one, with a higher epoch and its own id. */
    h.down[1] = true;
    for (int k = 2; k <= 6; k++)
        hand_feed(&h, k, (struct algo_event){.kind = EV_PEER_DOWN, .peer = 1});
    for (int k = 3; k <= 6; k++)
        hand_feed(&h, k,
                  (struct algo_event){.kind = EV_TIMER, .timer_id = T_GLOBAL, .now_us = 5 * gt});
    /* Node 2 accepted no token since its start at 0: nothing before T_GLOBAL. */
    hand_feed(&h, 2, (struct algo_event){.kind = EV_TIMER, .timer_id = T_GLOBAL, .now_us = gt - 1});
    ck_assert_str_eq(h.log, "");
    hand_feed(&h, 2, (struct algo_event){.kind = EV_TIMER, .timer_id = T_GLOBAL, .now_us = 5 * gt});
    ck_assert_str_eq(h.log, "L2>3 ");
    int64_t g2 = h.last_gen >> LBITS;
    ck_assert_int_eq(g2 & 0xff, 2);
    ck_assert_int_ge(g2 >> 8, 5 + 1); /* at least now / T_GLOBAL + 1 */
    ck_assert_int_gt(h.last_gen, gen);
    hand_run(&h, 1, 100); /* 2 -> 3 -> 2, then the global token to 4 */
    ck_assert_str_eq(h.log, "L2>3 L3>2 G2>4 ");
    /* A restarted node 1 (fresh state, second life) mints nothing at start. */
    h.env[1].incarnation = 2;
    ck_assert_int_eq(TL.init(h.st[1], &h.env[1]), 0);
    hand_feed(&h, 1, (struct algo_event){.kind = EV_START, .now_us = 5 * gt});
    ck_assert_int_eq(h.qt - h.qh, 1);
    hand_fini(&h);
}
END_TEST

static struct algo_event hmsg(int type, int from, int to, int64_t gen, int64_t coord,
                               int64_t entries, int64_t now)
{
    struct algo_event ev = {.kind = EV_MESSAGE, .now_us = now};
    ev.msg = (struct algo_msg){.type = (uint16_t)type, .from = (uint16_t)from,
                               .to = (uint16_t)to, .f = {gen, coord, entries, 0}};
    return ev;
}

static struct algo_event htimer(int id, int64_t now)
{
    return (struct algo_event){.kind = EV_TIMER, .timer_id = id, .now_us = now};
}

/* The first local lap runs while members are still starting (its token
 * waits in the queue of one that has not started). Without a staged start
 * the coordinator takes that for a lost token after one timeout and mints
 * gen + 1 while the first token is alive: the two tokens of the 64-node
 * runs with no fault. With one, nothing times out before EV_CLUSTER_UP. */
START_TEST(test_start_up_is_not_a_lost_token)
{
    for (int staged = 0; staged <= 1; staged++) {
        struct hand h;
        hand_init(&h, 6, 2, 1, NULL);
        for (int k = 1; k <= 6; k++) {
            h.env[k].staged_start = staged;
            ck_assert_int_eq(TL.init(h.st[k], &h.env[k]), 0);
        }
        hand_start(&h);
        ck_assert_str_eq(h.log, "L1>2 "); /* node 2 has not started: not delivered */
        int64_t gen = h.last_gen;
        hand_feed(&h, 1, htimer(T_LOCAL, 1000));
        if (!staged) {
            ck_assert_str_eq(h.log, "L1>2 G1>4 ");
            ck_assert_int_eq(h.last_gen, gen + 1);
            hand_fini(&h);
            continue;
        }
        for (int64_t t = 2000; t <= 20000; t += 1000) {
            hand_feed(&h, 1, htimer(T_LOCAL, t));
            for (int k = 1; k <= 6; k++)
                hand_feed(&h, k, htimer(T_GLOBAL, t));
        }
        ck_assert_str_eq(h.log, "L1>2 ");
        ck_assert_int_eq(h.qt - h.qh, 1);
        /* Everyone is up: the lap now has a timeout to come back in. */
        h.timer_local[1] = false;
        for (int k = 1; k <= 6; k++)
            hand_feed(&h, k, (struct algo_event){.kind = EV_CLUSTER_UP, .now_us = 20500});
        ck_assert(h.timer_local[1]);
        hand_run(&h, 1, 100); /* delivered: L2>3, L3>1, then the global token */
        ck_assert_str_eq(h.log, "L1>2 L2>3 L3>1 G1>4 ");
        ck_assert_int_eq(h.last_gen, gen);
        hand_fini(&h);
    }
}
END_TEST

/* Fields out of range are malformed: counted, and they change nothing. A
 * generation at the top of the range is used, and what is minted above it
 * (a local gen + 1, a new global epoch) is accepted by the next node. */
START_TEST(test_extreme_generations)
{
    struct hand h;
    hand_init(&h, 6, 2, 1, NULL);
    hand_start(&h);
    h.qh = h.qt = 0;
    h.log[0] = '\0';
    int64_t now = 5000, top = algo_counter_limit(now), g = (int64_t)(1 << 8 | 1) << LBITS;
    struct algo_event bad[] = {
        hmsg(LOCAL, 1, 2, INT64_MAX, 1, 0, now), hmsg(LOCAL, 1, 2, top + 1, 1, 0, now),
        hmsg(LOCAL, 1, 2, 0, 1, 0, now),         hmsg(LOCAL, 1, 2, -g, 1, 0, now),
        hmsg(LOCAL, 1, 2, g, 4, 0, now),         hmsg(LOCAL, 1, 2, g, 0, 0, now),
        hmsg(LOCAL, 1, 2, g, 1, INT64_MAX, now), hmsg(LOCAL, 4, 2, g, 1, 0, now),
        hmsg(GLOBAL, 1, 4, INT64_MAX, 0, 0, now), hmsg(GLOBAL, 1, 4, -1, 0, 0, now),
        hmsg(GLOBAL, 2, 2, g, 0, 0, now),        hmsg(GLOBAL + 7, 1, 4, g, 0, 0, now),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int before = h.malformed;
        hand_feed(&h, bad[i].msg.to, bad[i]);
        ck_assert_msg(h.malformed == before + 1, "message %zu not counted as malformed", i);
        ck_assert_str_eq(h.log, "");
    }
    /* Node 2 gets a local token at the top of the range and passes it. */
    hand_feed(&h, 2, hmsg(LOCAL, 1, 2, top, 1, 0, now));
    ck_assert_int_eq(h.malformed, 12);
    ck_assert_str_eq(h.log, "L2>3 ");
    ck_assert_int_eq(h.last_gen, top);
    /* It is lost, and so is node 1: node 2, now the lowest up, mints a new
     * global token above it, which node 4 accepts a while later. */
    hand_feed(&h, 2, (struct algo_event){.kind = EV_PEER_DOWN, .peer = 1});
    int64_t gt = 2 * 2 * 1000, later = now + gt;
    hand_feed(&h, 2, htimer(T_GLOBAL, later));
    ck_assert_str_eq(h.log, "L2>3 L2>3 ");
    int64_t minted = h.last_gen;
    ck_assert_int_gt(minted, top);
    ck_assert_int_eq((minted >> LBITS) & 0xff, 2);
    h.log[0] = '\0';
    hand_feed(&h, 4, hmsg(GLOBAL, 2, 4, minted, 0, 0, later + 1));
    ck_assert_int_eq(h.malformed, 12);
    ck_assert_str_eq(h.log, "L4>5 ");
    /* A local regeneration at the top: gen + 1, accepted by the next group. */
    hand_feed(&h, 4, (struct algo_event){.kind = EV_PEER_DOWN, .peer = 1});
    hand_feed(&h, 4, htimer(T_LOCAL, later + 1001));
    ck_assert_str_eq(h.log, "L4>5 G4>2 ");
    ck_assert_int_eq(h.last_gen, minted + 1);
    hand_feed(&h, 2, hmsg(GLOBAL, 4, 2, minted + 1, 0, 0, later + 1002));
    ck_assert_int_eq(h.malformed, 12);
    ck_assert_str_eq(h.log, "L4>5 G4>2 L2>3 ");
    /* The end of the limit's growth: minting above it cannot overflow. */
    int64_t end = INT64_MAX / 2;
    top = algo_counter_limit(end);
    ck_assert_int_lt(top, INT64_C(1) << 62);
    hand_feed(&h, 3, (struct algo_event){.kind = EV_PEER_DOWN, .peer = 1});
    hand_feed(&h, 3, (struct algo_event){.kind = EV_PEER_DOWN, .peer = 2});
    hand_feed(&h, 3, hmsg(LOCAL, 2, 3, top, 2, 0, end));
    ck_assert_int_eq(h.malformed, 12);
    hand_feed(&h, 3, htimer(T_GLOBAL, end + 10 * gt));
    ck_assert_int_gt(h.last_gen, top);
    ck_assert_int_eq((h.last_gen >> LBITS) & 0xff, 3);
    hand_fini(&h);
}
END_TEST

START_TEST(test_idle_hold)
{
    /* A holder that does not want the CS keeps the token idle_hold: it
     * enters at once if asked meanwhile, else passes it when the hold ends. */
    struct hand h;
    hand_init(&h, 6, 2, 1, NULL);
    for (int k = 1; k <= 6; k++) {
        h.env[k].token_idle_hold_us = 500;
        ck_assert_int_eq(TL.init(h.st[k], &h.env[k]), 0);
    }
    hand_start(&h);
    ck_assert_str_eq(h.log, ""); /* node 1 keeps the first token */
    hand_feed(&h, 1, (struct algo_event){.kind = EV_REQUEST});
    ck_assert_str_eq(h.log, "E1 L1>2 "); /* entered at once; passed after its CS */
    hand_run(&h, 1, 1);
    ck_assert_str_eq(h.log, "E1 L1>2 "); /* node 2 keeps it */
    hand_feed(&h, 2, (struct algo_event){.kind = EV_TIMER, .timer_id = T_IDLE});
    ck_assert_str_eq(h.log, "E1 L1>2 L2>3 ");
    hand_feed(&h, 2, (struct algo_event){.kind = EV_TIMER, .timer_id = T_IDLE});
    ck_assert_str_eq(h.log, "E1 L1>2 L2>3 "); /* a late timer: nothing held */
    hand_fini(&h);
}
END_TEST

START_TEST(test_theory)
{
    struct algo_env env = {.n = 6, .groups = 2, .local_rounds = 1};
    ck_assert_double_eq_tol(TL.theory_messages_per_cs(&env), 8.0 / 6, 1e-9);
    env.local_rounds = 2;
    ck_assert_double_eq_tol(TL.theory_messages_per_cs(&env), 14.0 / 12, 1e-9);
    env = (struct algo_env){.n = 7, .groups = 3};
    ck_assert_double_eq_tol(TL.theory_messages_per_cs(&env), 10.0 / 7, 1e-9);
    env = (struct algo_env){.n = 4, .groups = 4, .local_rounds = 3}; /* all alone */
    ck_assert_double_eq_tol(TL.theory_messages_per_cs(&env), 1.0, 1e-9);
    env.token_idle_hold_us = 1000; /* a lone member keeps it for its next lap */
    ck_assert_double_eq_tol(TL.theory_messages_per_cs(&env), 4.0 / 12, 1e-9);
    env = (struct algo_env){.n = 5, .groups = 1}; /* one ring: no global hop */
    ck_assert_double_eq_tol(TL.theory_messages_per_cs(&env), 1.0, 1e-9);
    env = (struct algo_env){.n = 4, .groups = 3, .group_of = {0, 3, 1, 3, 1}}; /* 2 empty */
    ck_assert_double_eq_tol(TL.theory_messages_per_cs(&env), (2 + 2 + 2.0) / 4, 1e-9);
    ck_assert_str_eq(TL.msg_name(LOCAL), "local_token");
    ck_assert_str_eq(TL.msg_name(GLOBAL), "global_token");
}
END_TEST

/* ---- the simulator, with a per-level watch over the cores ---- */

static void *states[N_MAX + 1]; /* each node's core, for inspect */

static int watched_init(void *state, const struct algo_env *env)
{
    states[env->id] = state;
    return TL.init(state, env);
}

static struct algo_ops watched_ops;

struct flight {
    int type, from, to;
    int64_t gen;
};

struct watch {
    int n, groups, rounds;
    bool strict; /* failure-free: stronger checks */
    int group[N_MAX + 1], size[N_MAX + 1];
    bool down[N_MAX + 1];
    struct flight fly[256];
    int nfly;
    int64_t newest_global, newest_local[N_MAX + 1];
    int visit_entries[N_MAX + 1], entries[N_MAX + 1];
    int64_t max_gen;
    int local_regens, global_regens, local_msgs, global_msgs;
    /* Under full load: counts up to the first node finishing its workload. */
    int full_local, full_global, full_entries;
    bool full_over;
    char err[256];
};

static void watch_fail(struct watch *w, const struct trace_rec *r, const char *what, int x)
{
    if (!w->err[0])
        snprintf(w->err, sizeof w->err, "t=%lld node %d: %s (%d)", (long long)r->t_us, r->node,
                 what, x);
}

/* One global token and one local token per group, of the newest
 * generation of their level, held (by a node not down) or in flight. In
 * flight = sent and not yet received or dropped: right with loss = 0 (the
 * simulator loses those without a record), which every run here uses. */
static void watch_levels(struct watch *w, const struct trace_rec *r)
{
    struct algo_inspect in[N_MAX + 1];
    for (int k = 1; k <= w->n; k++) {
        in[k] = (struct algo_inspect){.role = ROLE_NONE};
        if (states[k] && !w->down[k])
            TL.inspect(states[k], &in[k]);
    }
    for (int pass = 0; pass < 2; pass++) { /* newest first, then count */
        int globals = 0, locals[N_MAX + 1] = {0};
        for (int k = 1; k <= w->n; k++) {
            int64_t gg = in[k].term, lg = in[k].token_gen;
            int g = w->group[k];
            if (in[k].role == ROLE_TOKEN_HOLDER && pass == 0 && gg > w->newest_global)
                w->newest_global = gg;
            if (in[k].holds_token && pass == 0 && lg > w->newest_local[g])
                w->newest_local[g] = lg;
            globals += pass && in[k].role == ROLE_TOKEN_HOLDER && gg == w->newest_global;
            locals[g] += pass && in[k].holds_token && lg == w->newest_local[g];
        }
        for (int i = 0; i < w->nfly; i++) {
            const struct flight *f = &w->fly[i];
            int g = w->group[f->from];
            if (f->type == GLOBAL) {
                if (pass == 0 && f->gen >> LBITS > w->newest_global)
                    w->newest_global = f->gen >> LBITS;
                globals += pass && f->gen >> LBITS == w->newest_global;
            } else {
                if (pass == 0 && f->gen > w->newest_local[g])
                    w->newest_local[g] = f->gen;
                locals[g] += pass && f->gen == w->newest_local[g];
            }
        }
        if (globals > 1)
            watch_fail(w, r, "global tokens of the newest generation", globals);
        for (int g = 1; g <= w->groups; g++)
            if (locals[g] > 1)
                watch_fail(w, r, "local tokens of the newest generation in group", g);
    }
}

static void watch_record(void *user, const struct trace_rec *r)
{
    struct watch *w = user;
    bool token = r->type == LOCAL || r->type == GLOBAL;
    switch (r->ev) {
    case TR_SEND:
        if (!token)
            break;
        if (w->nfly < 256)
            w->fly[w->nfly++] = (struct flight){r->type, r->node, r->peer, r->key};
        else
            watch_fail(w, r, "too many tokens in flight to watch", w->nfly);
        if (w->max_gen && r->key > w->max_gen) /* a higher gen only comes from a regeneration */
            *(r->key >> LBITS > w->max_gen >> LBITS ? &w->global_regens : &w->local_regens) += 1;
        if (r->key > w->max_gen)
            w->max_gen = r->key;
        if (r->type == LOCAL) {
            w->local_msgs++;
            /* Strict: the sender's group holds the global token of this gen. */
            bool held = false;
            for (int k = 1; k <= w->n && w->strict; k++) {
                struct algo_inspect in;
                if (!states[k])
                    continue;
                TL.inspect(states[k], &in);
                held |= w->group[k] == w->group[r->node] && in.role == ROLE_TOKEN_HOLDER &&
                        in.term == r->key >> LBITS;
            }
            if (w->strict && !held)
                watch_fail(w, r, "local token sent without its group's global token", 0);
        } else {
            w->global_msgs++;
            int g = w->group[r->node];
            if (w->strict && w->visit_entries[g] > w->rounds * w->size[g])
                watch_fail(w, r, "entries in one visit above local_rounds * size",
                           w->visit_entries[g]);
            w->visit_entries[g] = 0;
        }
        break;
    case TR_RECV:
    case TR_DROP:
        for (int i = 0; token && i < w->nfly; i++) {
            struct flight *f = &w->fly[i];
            if (f->type == r->type && f->from == r->peer && f->to == r->node && f->gen == r->key) {
                *f = w->fly[--w->nfly];
                break;
            }
        }
        break;
    case TR_ENTER:
        w->entries[r->node]++;
        w->visit_entries[w->group[r->node]]++;
        break;
    case TR_DONE:
        if (!w->full_over) {
            int entries = 0;
            for (int k = 1; k <= w->n; k++)
                entries += w->entries[k];
            w->full_over = true;
            w->full_local = w->local_msgs;
            w->full_global = w->global_msgs;
            w->full_entries = entries;
        }
        break;
    case TR_CRASH: w->down[r->node] = true; break;
    case TR_START: w->down[r->node] = false; break;
    default: break;
    }
    /* Records written before a step (request, exit, recv, drop, peer
     * up/down) find the cores as the previous check did. */
    if (r->ev == TR_SEND || r->ev == TR_ENTER || r->ev == TR_ROLE || r->ev == TR_START)
        watch_levels(w, r);
}

/* A random shape and workload for one seed (its own PRNG, so the choice of
 * shape does not depend on the simulator's draws). */
static void shape(struct sim_config *c, struct watch *w, uint64_t seed)
{
    struct dl_rng r;
    dl_rng_seed(&r, seed ^ 0x2c0ffee);
    sim_config_defaults(c);
    watched_ops = TL;
    watched_ops.init = watched_init;
    c->ops = &watched_ops;
    c->seed = seed;
    c->env.n = 4 + (int)dl_rng_below(&r, 9);
    c->env.groups = 2 + (int)dl_rng_below(&r, 3);
    c->env.local_rounds = 1 + (int)dl_rng_below(&r, 3);
    c->env.token_timeout_us = 20000; /* > a lap (<= 6 members * 1.75 ms) */
    c->env.token_idle_hold_us = seed % 3 == 0 ? 300 : 0;
    c->requests = 1 + (int)dl_rng_below(&r, 8);
    c->cs_time_us = 1000;
    c->think_time_us = (int64_t)dl_rng_below(&r, 3000);
    c->delay_us = 50 + (int64_t)dl_rng_below(&r, 100);
    c->jitter_us = (int64_t)dl_rng_below(&r, 300);
    c->fifo = false;
    memset(w, 0, sizeof *w);
    w->n = c->env.n;
    w->groups = c->env.groups;
    w->rounds = c->env.local_rounds;
    /* Every 4th seed: explicit, interleaved membership (a group may be empty). */
    for (int k = 1; k <= w->n; k++) {
        if (seed % 4 == 0)
            c->env.group_of[k] = (uint8_t)(1 + dl_rng_below(&r, (uint64_t)w->groups));
        w->group[k] = seed % 4 == 0 ? c->env.group_of[k] : expected_group(w->n, w->groups, k);
        w->size[w->group[k]]++;
    }
    c->on_record = watch_record;
    c->user = w;
    memset(states, 0, sizeof states);
}

static void run(const struct sim_config *c, struct watch *w, struct sim_result *res)
{
    memset(states, 0, sizeof states);
    ck_assert_int_eq(sim_run(c, res), 0);
    ck_assert_msg(!w->err[0], "seed %llu: per-level invariant: %s", (unsigned long long)c->seed,
                  w->err);
    ck_assert_msg(res->max_valid_tokens <= 1, "seed %llu: %s", (unsigned long long)c->seed,
                  res->violation);
}

#define SEED_MSG                                                                                   \
    "seed %llu (n=%d G=%d R=%d): %s", (unsigned long long)seed, c.env.n, c.env.groups,             \
        c.env.local_rounds, res.violation

START_TEST(test_sim_failure_free)
{
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct sim_config c;
        struct watch w;
        struct sim_result res;
        shape(&c, &w, seed);
        w.strict = true;
        run(&c, &w, &res);
        ck_assert_msg(res.safe && res.live && res.completed, SEED_MSG);
        ck_assert_msg(res.fenced == 0 && w.local_regens + w.global_regens == 0, SEED_MSG);
        /* No group starves: every node of every group got all its turns. */
        for (int k = 1; k <= c.env.n; k++)
            ck_assert_msg(w.entries[k] == c.requests, "seed %llu: node %d entered %d of %d",
                          (unsigned long long)seed, k, w.entries[k], c.requests);
    }
}
END_TEST

START_TEST(test_sim_messages_full_load)
{
    /* Everyone asks again as soon as it leaves; counted until the first
     * node is done (after that a singleton group, served once a visit,
     * still has work while the others idle: no longer full load). Each
     * level against its share of the formula per round of the global token
     * (R*m local hops for R*m entries per group of m >= 2; a lone member 1
     * entry, R if it holds the token idle_hold, since its next request comes
     * meanwhile; 1 global hop per non-empty group, none if only one). Slack: one
     * round, for the laps before the first requests and the round cut short
     * at the end. */
    double worst = 0;
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct sim_config c;
        struct watch w;
        struct sim_result res;
        shape(&c, &w, seed);
        c.think_time_us = 0;
        c.requests = 10 + (int)(seed % 11);
        run(&c, &w, &res);
        ck_assert_msg(res.safe && res.live && res.completed, SEED_MSG);
        ck_assert_uint_eq(res.messages, (uint64_t)(w.local_msgs + w.global_msgs));
        int R = c.env.local_rounds, round_entries = 0, round_local = 0, hops = 0;
        for (int g = 1; g <= w.groups; g++) {
            int m = w.size[g]; /* an empty group is skipped: no hop */
            hops += m > 0;
            round_local += m > 1 ? R * m : 0;
            round_entries += m > 1 || c.env.token_idle_hold_us ? R * m : m;
        }
        hops = hops > 1 ? hops : 0; /* one group: its visits follow each other */
        double theory = TL.theory_messages_per_cs(&c.env), e = w.full_entries;
        ck_assert_double_eq_tol(theory, (double)(round_local + hops) / round_entries, 1e-9);
        double dl =
            (w.full_local - e * round_local / round_entries) / (round_local ? round_local : 1);
        double dg = (w.full_global - e * hops / round_entries) / (hops ? hops : 1);
        ck_assert_msg(dl >= -1 && dl <= 1, "seed %llu: %d local hops for %g entries (%+.2f rounds)",
                      (unsigned long long)seed, w.full_local, e, dl);
        ck_assert_msg(dg >= -1 && dg <= 1,
                      "seed %llu: %d global hops for %g entries (%+.2f rounds)",
                      (unsigned long long)seed, w.full_global, e, dg);
        double r = (w.full_local + w.full_global) / e / theory;
        worst = r > worst ? r : worst;
    }
    fprintf(stderr, "full load: messages per CS at most %.3f x theory\n", worst);
}
END_TEST

static void crash_runs(bool restart)
{
    int local_regens = 0, global_regens = 0, crashes = 0;
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct sim_config c;
        struct watch w;
        struct sim_result res;
        shape(&c, &w, seed);
        c.requests += 4;
        c.crash_prob = 0.03;
        c.failure_timeout_us = 5000;
        c.restart_after_us = restart ? 1000 + (int64_t)(seed * 7919 % 50000) : 0;
        run(&c, &w, &res);
        /* No fencing: the algorithm alone keeps the CS exclusive. */
        ck_assert_msg(res.safe && res.live && res.completed, SEED_MSG);
        local_regens += w.local_regens;
        global_regens += w.global_regens;
        crashes += (int)res.crashes;
    }
    fprintf(stderr, "crashes%s: %d crashes, %d local and %d global regenerations\n",
            restart ? " with restart" : "", crashes, local_regens, global_regens);
    ck_assert_int_gt(crashes, 100);
    ck_assert_int_gt(local_regens, 10);
    ck_assert_int_gt(global_regens, 10);
}

START_TEST(test_sim_crashes)
{
    crash_runs(false);
}
END_TEST

START_TEST(test_sim_crashes_restart)
{
    crash_runs(true);
}
END_TEST

struct probe {
    int want, seen, node;
    int64_t t;
};

static void probe_record(void *user, const struct trace_rec *r)
{
    struct probe *p = user;
    if (r->ev == TR_ENTER && ++p->seen == p->want) {
        p->node = r->node;
        p->t = r->t_us;
    }
}

START_TEST(test_sim_paused_holder)
{
    /* Pause a node in the CS beyond both timeouts: peers take it for dead
     * and regenerate (a local token by token_timeout, a global one by
     * T_GLOBAL after the last token the minter saw, which is before the
     * pause); when it wakes it still believes it is inside. A first run
     * without faults finds when the k-th entry happens and who makes it. */
    int fenced = 0, unsafe = 0;
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct sim_config c;
        struct watch w;
        struct sim_result res;
        shape(&c, &w, seed);
        c.requests += 4;
        c.failure_timeout_us = 5000;
        struct probe p = {.want = 2 + (int)(seed % 10)};
        c.on_record = probe_record;
        c.user = &p;
        c.max_steps = 5000;
        ck_assert_int_eq(sim_run(&c, &res), 0);
        ck_assert_msg(p.node > 0, "seed %llu: no entry %d", (unsigned long long)seed, p.want);
        int64_t gt = (int64_t)(c.env.local_rounds + 1) * c.env.groups * c.env.token_timeout_us;
        int64_t pause = p.t + c.cs_time_us / 2, resume = pause + gt + 2 * c.env.token_timeout_us;
        struct sim_fault f[2] = {{.at_us = pause, .kind = SIM_PAUSE, .node = p.node},
                                 {.at_us = resume, .kind = SIM_RESUME, .node = p.node}};
        c.faults = f;
        c.nfaults = 2;
        c.max_steps = 10 * 1000 * 1000;
        c.on_record = watch_record;
        c.user = &w;
        c.fencing = true;
        run(&c, &w, &res);
        ck_assert_msg(res.safe && res.live && res.completed, SEED_MSG);
        fenced += res.fenced > 0;
        /* Without fencing, up to a little after the resume. */
        c.on_record = NULL;
        c.fencing = false;
        c.max_time_us = resume + c.env.token_timeout_us;
        ck_assert_int_eq(sim_run(&c, &res), 0);
        unsafe += !res.safe;
    }
    fprintf(stderr, "paused holder: fenced on %d seeds, unsafe without fencing on %d\n", fenced,
            unsafe);
    ck_assert_int_gt(fenced, 0);
    ck_assert_int_gt(unsafe, 0);
}
END_TEST

/* ---- retransmission (env.retransmit) ---- */

#define RX_US 20000 /* retransmit_us in the hand-fed tests */

/* One core of a 6-node, 2-group cluster ({1,2,3} {4,5,6}) with retransmit,
 * stepped by hand. */
struct rxnode {
    void *st;
    struct algo_actions out;
};

static void rx_init(struct rxnode *t, int id, int64_t start)
{
    t->st = calloc(1, TL.state_size);
    ck_assert_ptr_nonnull(t->st);
    ck_assert_int_eq(algo_actions_init(&t->out, 6), 0);
    struct algo_env env = {.id = id,
                           .n = 6,
                           .incarnation = 1,
                           .groups = 2,
                           .local_rounds = 1,
                           .token_timeout_us = 1000000,
                           .retransmit = true,
                           .retransmit_us = RX_US};
    ck_assert_int_eq(TL.init(t->st, &env), 0);
    env.retransmit_us = 0;
    void *bad = calloc(1, TL.state_size);
    ck_assert_int_eq(TL.init(bad, &env), -1); /* a retransmit timeout is required */
    free(bad);
    algo_actions_clear(&t->out);
    TL.step(t->st, &(struct algo_event){.kind = EV_START, .now_us = start}, &t->out);
}

static void rx_fini(struct rxnode *t)
{
    free(t->st);
    algo_actions_free(&t->out);
}

static void rx_feed(struct rxnode *t, struct algo_event ev)
{
    algo_actions_clear(&t->out);
    TL.step(t->st, &ev, &t->out);
    ck_assert_int_eq(t->out.overflow, 0);
}

static struct algo_event rx_msg(int type, int from, int to, int64_t now, int64_t f0, int64_t f1,
                                int64_t f2, int64_t f3)
{
    struct algo_event ev = {.kind = EV_MESSAGE, .now_us = now};
    ev.msg = (struct algo_msg){
        .type = (uint16_t)type, .from = (uint16_t)from, .to = (uint16_t)to, .f = {f0, f1, f2, f3}};
    return ev;
}

static int rx_count(const struct rxnode *t, int kind, int type)
{
    int c = 0;
    for (int i = 0; i < t->out.n; i++)
        c += (int)t->out.a[i].kind == kind && (kind != ACT_SEND || t->out.a[i].msg.type == type);
    return c;
}

static const struct algo_msg *rx_only(const struct rxnode *t, int type, int to)
{
    ck_assert_int_eq(rx_count(t, ACT_SEND, type), 1);
    for (int i = 0; i < t->out.n; i++)
        if (t->out.a[i].kind == ACT_SEND && t->out.a[i].msg.type == type) {
            ck_assert_int_eq(t->out.a[i].msg.to, to);
            return &t->out.a[i].msg;
        }
    return NULL;
}

/* Copies of either token, fed by hand: acknowledged, used once, passed on
 * once; probes answered from what the node has seen. */
START_TEST(test_rx_duplicate_tokens)
{
    int64_t gen = (INT64_C(1) << 8 | 1) << LBITS;
    struct rxnode m;
    rx_init(&m, 2, 0);
    rx_feed(&m, (struct algo_event){.kind = EV_REQUEST, .now_us = 10});
    struct algo_event tok = rx_msg(LOCAL, 1, 2, 100, gen, 1, 0, 5);
    rx_feed(&m, tok);
    ck_assert_int_eq(rx_count(&m, ACT_ENTER_CS, 0), 1);
    const struct algo_msg *ack = rx_only(&m, ACK, 1);
    ck_assert(ack->f[0] == gen && ack->f[1] == 5 && ack->f[2] == GOT);
    tok.now_us = 200;
    rx_feed(&m, tok);
    ck_assert_int_eq(rx_count(&m, ACT_ENTER_CS, 0), 0);
    ck_assert_int_eq(rx_count(&m, ACT_SEND, LOCAL), 0);
    rx_only(&m, ACK, 1);
    rx_feed(&m, (struct algo_event){.kind = EV_RELEASE, .now_us = 300});
    const struct algo_msg *next = rx_only(&m, LOCAL, 3);
    ck_assert(next->f[0] == gen && next->f[3] == 6);
    tok.now_us = 400;
    rx_feed(&m, tok); /* after it left: not taken up again */
    ck_assert_int_eq(rx_count(&m, ACT_SEND, LOCAL), 0);
    ck_assert_int_eq(rx_count(&m, ACT_ENTER_CS, 0), 0);
    rx_feed(&m, rx_msg(PROBE, 1, 2, 500, gen, 5, 50, 1));
    ck_assert_int_eq(rx_only(&m, ACK, 1)->f[2], GOT);
    rx_feed(&m, rx_msg(PROBE, 1, 2, 500, gen, 9, 50, 2));
    ack = rx_only(&m, ACK, 1);
    ck_assert(ack->f[2] == MISSING && ack->f[3] == 2);
    rx_fini(&m);

    /* A coordinator gets the global token twice: one visit. */
    struct rxnode c;
    rx_init(&c, 4, 0);
    rx_feed(&c, (struct algo_event){.kind = EV_REQUEST, .now_us = 10});
    struct algo_event g = rx_msg(GLOBAL, 1, 4, 100, gen, 0, 0, 7);
    rx_feed(&c, g);
    ck_assert_int_eq(rx_count(&c, ACT_ENTER_CS, 0), 1);
    rx_only(&c, ACK, 1);
    g.now_us = 150;
    rx_feed(&c, g);
    ck_assert_int_eq(rx_count(&c, ACT_ENTER_CS, 0), 0);
    ck_assert_int_eq(c.out.n, 1);
    rx_fini(&c);

    /* A node that started after the handoff cannot tell; fields out of
     * range are malformed. */
    struct rxnode r;
    rx_init(&r, 3, 1000);
    rx_feed(&r, rx_msg(PROBE, 2, 3, 1100, gen, 6, 300, 1));
    ck_assert_int_eq(rx_only(&r, ACK, 2)->f[2], UNKNOWN);
    struct algo_event bad[] = {
        rx_msg(ACK, 2, 3, 1100, gen, -1, GOT, 0),  rx_msg(ACK, 2, 3, 1100, gen, 5, 3, 0),
        rx_msg(ACK, 2, 3, 1100, gen, 5, GOT, -1),  rx_msg(PROBE, 2, 3, 1100, gen, 5, -1, 1),
        rx_msg(PROBE, 2, 3, 1100, 0, 5, 10, 1),    rx_msg(LOCAL, 2, 3, 1100, gen, 1, 0, -1),
        rx_msg(GLOBAL, 4, 3, 1100, gen, 0, 0, -1),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rx_feed(&r, bad[i]);
        ck_assert_msg(r.out.malformed == 1 && r.out.n == 0, "message %zu accepted", i);
    }
    rx_fini(&r);
}
END_TEST

/* The sender's side: no acknowledgement -> a probe; MISSING -> the same
 * token again (once per probe sent after it last went out); GOT -> done. */
START_TEST(test_rx_handoff)
{
    struct rxnode a;
    rx_init(&a, 1, 0); /* mints the first token and starts a lap: 1 -> 2 */
    const struct algo_msg *t = rx_only(&a, LOCAL, 2);
    int64_t gen = t->f[0], hop = t->f[3];
    ck_assert_int_eq(hop, 1);
    rx_feed(&a, (struct algo_event){.kind = EV_TIMER, .timer_id = T_RETX, .now_us = RX_US});
    const struct algo_msg *p = rx_only(&a, PROBE, 2);
    ck_assert(p->f[0] == gen && p->f[1] == hop && p->f[3] == 1);
    rx_feed(&a, rx_msg(ACK, 2, 1, RX_US + 5, gen, hop, MISSING, 1));
    t = rx_only(&a, LOCAL, 2);
    ck_assert(t->f[0] == gen && t->f[1] == 1 && t->f[3] == hop);
    rx_feed(&a, rx_msg(ACK, 2, 1, RX_US + 6, gen, hop, MISSING, 1)); /* void now */
    ck_assert_int_eq(a.out.n, 0);
    rx_feed(&a, rx_msg(ACK, 2, 1, RX_US + 7, gen, hop, GOT, 0));
    rx_feed(&a, (struct algo_event){.kind = EV_TIMER, .timer_id = T_RETX, .now_us = 2 * RX_US});
    ck_assert_int_eq(a.out.n, 0);
    rx_fini(&a);
}
END_TEST

#ifndef RX_SEEDS
#define RX_SEEDS 200 /* per sweep; -DRX_SEEDS=N for a longer hunt */
#endif

/* shape()'s clusters with retransmit on or off (timeout as the
 * configuration computes it), token_timeout as given (0: the derived
 * default). Half the runs have no failure detector, the others one slower
 * than any partition below. */
static void rx_shape(struct sim_config *c, struct watch *w, uint64_t seed, bool retx,
                     int64_t token_timeout)
{
    shape(c, w, seed);
    c->env.token_timeout_us = token_timeout;
    c->env.token_idle_hold_us = 100 + (int64_t)(seed * 7919 % 900);
    c->jitter_us += 1;
    c->failure_timeout_us = seed % 2 ? 0 : 50000;
    c->fencing = true;
    c->env.retransmit = retx;
    int64_t net = 2 * (c->delay_us + c->jitter_us) + 10000;
    c->env.retransmit_us = c->failure_timeout_us > net ? c->failure_timeout_us : net;
}

static void rx_partition(struct sim_fault f[2], uint64_t seed, int n)
{
    struct dl_rng pick;
    dl_rng_seed(&pick, seed ^ 0x9a27ULL);
    memset(f, 0, 2 * sizeof *f);
    f[0].at_us = 500 + (int64_t)dl_rng_below(&pick, 2500);
    f[0].kind = SIM_PARTITION;
    int first = 1 + (int)dl_rng_below(&pick, (uint64_t)n);
    for (int k = 1; k <= n; k++)
        f[0].group[k] = k == first ? 1 : (uint8_t)(1 + dl_rng_below(&pick, 2));
    f[0].group[first % n + 1] = 2;
    f[1].at_us = f[0].at_us + 2000 + (int64_t)dl_rng_below(&pick, 6000);
    f[1].kind = SIM_HEAL;
}

/* Everything granted, safely, one token of each level. Unless `regenerated`
 * is given, no entry refused either (see test_rx_loss). */
static void rx_expect_done(const struct sim_config *c, const struct sim_result *res, uint64_t seed,
                           const char *what, int *regenerated)
{
    ck_assert_msg(res->safe && res->live && res->completed && res->pending == 0,
                  "%s, seed %llu (n %d): %s", what, (unsigned long long)seed, c->env.n,
                  res->violation);
    ck_assert_int_eq(res->counter, (int64_t)res->exits);
    ck_assert_int_le(res->max_valid_tokens, 1);
    uint64_t all = (uint64_t)c->env.n * (uint64_t)c->requests;
    if (regenerated)
        *regenerated += res->fenced > 0;
    ck_assert_msg(res->requests == all && res->exits + res->fenced == all &&
                      (res->fenced == 0 ? res->cs_entries == all : regenerated != NULL),
                  "%s, seed %llu (n %d): %llu requests, %llu entries, %llu exits, %llu fenced",
                  what, (unsigned long long)seed, c->env.n, (unsigned long long)res->requests,
                  (unsigned long long)res->cs_entries, (unsigned long long)res->exits,
                  (unsigned long long)res->fenced);
}

/* The lesson, as for the token ring: a partition shorter than the failure
 * timeout swallows a token (a local one inside a group cut in two, or the
 * global one). With token_timeout 1 s the two-level ring's own remedy
 * (T_LOCAL, T_GLOBAL: seconds) comes after the end of a 500 ms run;
 * with retransmit the lost handoff is probed and sent again after the heal
 * and the same schedules finish, each level keeping one token (the watch's
 * per-level check). */
START_TEST(test_rx_partition)
{
    int stalled = 0, swallowed = 0;
    for (uint64_t seed = 1; seed <= RX_SEEDS; seed++) {
        for (int retx = 0; retx <= 1; retx++) {
            struct sim_config c;
            struct watch w;
            struct sim_fault f[2];
            rx_shape(&c, &w, seed, retx, 1000000);
            rx_partition(f, seed, c.env.n);
            c.faults = f;
            c.nfaults = 2;
            c.max_time_us = 500000;
            struct sim_result res;
            run(&c, &w, &res);
            ck_assert_msg(res.safe, "seed %llu: %s", (unsigned long long)seed, res.violation);
            if (retx)
                rx_expect_done(&c, &res, seed, "partition, retransmit", NULL);
            else
                stalled += !res.completed;
            swallowed += retx && res.dropped > 0;
        }
    }
    /* Found: 179 of 200 stall (the cut swallowed a message in 181; in the
     * others the run was over, or between handoffs); 4,410 of 5,000. */
    ck_assert_int_ge(stalled, RX_SEEDS * 8 / 10);
    ck_assert_int_ge(swallowed, stalled);
}
END_TEST

/* 10% of all messages lost, default timeouts: with retransmit every
 * schedule finishes. As in the token ring, a handoff whose probes keep
 * being lost can outlast T_LOCAL or T_GLOBAL: the ring regenerates and the
 * resource refuses the entry the new generation superseded. */
START_TEST(test_rx_loss)
{
    int regenerated = 0;
    for (uint64_t seed = 1; seed <= RX_SEEDS; seed++) {
        struct sim_config c;
        struct watch w;
        rx_shape(&c, &w, seed, true, 0);
        c.on_record = NULL; /* the watch needs loss-free runs */
        c.loss = 0.1;
        struct sim_result res;
        ck_assert_int_eq(sim_run(&c, &res), 0);
        rx_expect_done(&c, &res, seed, "10% loss, retransmit", &regenerated);
    }
    /* Found: 2 of 200 schedules, 32 of 5,000. */
    ck_assert_int_le(regenerated, RX_SEEDS / 10);
}
END_TEST

/* Crashes and restarts on top of 5% loss, with retransmit: safe, live. */
START_TEST(test_rx_loss_and_crashes)
{
    for (uint64_t seed = 1; seed <= RX_SEEDS; seed++) {
        struct sim_config c;
        struct watch w;
        rx_shape(&c, &w, seed, true, 0);
        c.on_record = NULL;
        c.failure_timeout_us = c.delay_us + c.jitter_us + 1 + (int64_t)(seed * 31 % 3000);
        c.loss = 0.05;
        c.crash_prob = 0.05;
        c.restart_after_us = 1 + (int64_t)(seed * 7919 % 8000);
        struct sim_result res;
        ck_assert_int_eq(sim_run(&c, &res), 0);
        ck_assert_msg(res.safe && res.live && res.completed, "seed %llu (n %d): %s",
                      (unsigned long long)seed, c.env.n, res.violation);
        ck_assert_int_eq(res.counter, (int64_t)res.exits);
        ck_assert_int_le(res.max_valid_tokens, 1);
    }
}
END_TEST

static Suite *two_level_suite(void)
{
    Suite *s = suite_create("two_level_ring");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_group_split);
    tcase_add_test(tc, test_local_token_needs_global);
    tcase_add_test(tc, test_local_rounds_bound);
    tcase_add_test(tc, test_stale_token_discarded);
    tcase_add_test(tc, test_local_regeneration);
    tcase_add_test(tc, test_global_regeneration);
    tcase_add_test(tc, test_idle_hold);
    tcase_add_test(tc, test_start_up_is_not_a_lost_token);
    tcase_add_test(tc, test_extreme_generations);
    tcase_add_test(tc, test_theory);
    suite_add_tcase(s, tc);
    TCase *sim = tcase_create("sim");
    tcase_add_test(sim, test_sim_failure_free);
    tcase_add_test(sim, test_sim_messages_full_load);
    tcase_add_test(sim, test_sim_crashes);
    tcase_add_test(sim, test_sim_crashes_restart);
    tcase_add_test(sim, test_sim_paused_holder);
    tcase_set_timeout(sim, 120);
    suite_add_tcase(s, sim);
    TCase *rx = tcase_create("retransmit");
    tcase_add_test(rx, test_rx_duplicate_tokens);
    tcase_add_test(rx, test_rx_handoff);
    tcase_add_test(rx, test_rx_partition);
    tcase_add_test(rx, test_rx_loss);
    tcase_add_test(rx, test_rx_loss_and_crashes);
    tcase_set_timeout(rx, 120);
    suite_add_tcase(s, rx);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(two_level_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
