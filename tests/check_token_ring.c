/* The token ring core: fed events by hand, then run on the deterministic
 * simulator (nodes/sim.h) over many seeds, failure-free, with crashes, and
 * with a paused token holder (the fencing-token lesson). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/algo.h"
#include "nodes/rng.h"
#include "nodes/sim.h"
#include "tests/rx_sweep.h"

extern const struct algo_ops algo_token_ring;

#define OPS        (&algo_token_ring)
#define TIMEOUT_US (20 * 1000)
#define ID_BITS    8

enum { TOKEN = MSG_RANGE_TOKEN_RING + 1, NEWGEN, ACK, PROBE, RING_TOKEN_UNKNOWN_TYPE };
enum { TIMER_LOST = 0, TIMER_IDLE = 1, TIMER_RETX = 2 };
enum { GOT = 0, MISSING = 1, UNKNOWN = 2 }; /* what an ACK says */

static int64_t make_gen(int64_t epoch, int id)
{
    return (epoch << ID_BITS) | id;
}

/* ---- unit tests: one node, events by hand ---- */

struct tnode {
    void *state;
    struct algo_actions out;
    struct algo_env env;
};

static void tnode_init(struct tnode *t, int id, int n)
{
    t->state = calloc(1, OPS->state_size);
    ck_assert_ptr_nonnull(t->state);
    ck_assert_int_eq(algo_actions_init(&t->out, n), 0);
    t->env = (struct algo_env){.id = id, .n = n, .seed = 1, .token_timeout_us = TIMEOUT_US};
    ck_assert_int_eq(OPS->init(t->state, &t->env), 0);
}

static void tnode_fini(struct tnode *t)
{
    free(t->state);
    algo_actions_free(&t->out);
}

static void feed(struct tnode *t, struct algo_event ev)
{
    algo_actions_clear(&t->out);
    OPS->step(t->state, &ev, &t->out);
    ck_assert_int_eq(t->out.overflow, 0);
}

static struct algo_event ev_at(enum algo_event_kind kind, int64_t now)
{
    return (struct algo_event){.kind = kind, .now_us = now};
}

static struct algo_event token(int from, int to, int64_t gen, int64_t now)
{
    struct algo_event ev = {.kind = EV_MESSAGE, .now_us = now};
    ev.msg.type = TOKEN;
    ev.msg.from = (uint16_t)from;
    ev.msg.to = (uint16_t)to;
    ev.msg.f[0] = gen;
    return ev;
}

static struct algo_event timer_at(int id, int64_t now)
{
    return (struct algo_event){.kind = EV_TIMER, .timer_id = id, .now_us = now};
}

static struct algo_event peer(enum algo_event_kind kind, int p)
{
    return (struct algo_event){.kind = kind, .peer = p};
}

static int count_kind(const struct tnode *t, int kind)
{
    int c = 0;
    for (int i = 0; i < t->out.n; i++)
        c += (int)t->out.a[i].kind == kind;
    return c;
}

static int count_sends(const struct tnode *t, int type)
{
    int c = 0;
    for (int i = 0; i < t->out.n; i++)
        c += t->out.a[i].kind == ACT_SEND && t->out.a[i].msg.type == type;
    return c;
}

/* The only TOKEN of the last step, checked for its destination. */
static const struct algo_msg *only_token(const struct tnode *t, int to)
{
    ck_assert_int_eq(count_sends(t, TOKEN), 1);
    for (int i = 0; i < t->out.n; i++)
        if (t->out.a[i].kind == ACT_SEND && t->out.a[i].msg.type == TOKEN) {
            ck_assert_int_eq(t->out.a[i].msg.to, to);
            return &t->out.a[i].msg;
        }
    return NULL;
}

static const struct algo_action *find(const struct tnode *t, int kind)
{
    for (int i = 0; i < t->out.n; i++)
        if ((int)t->out.a[i].kind == kind)
            return &t->out.a[i];
    return NULL;
}

static struct algo_inspect inspect(const struct tnode *t)
{
    struct algo_inspect in;
    OPS->inspect(t->state, &in);
    return in;
}

START_TEST(test_ops_table)
{
    struct tnode t;
    tnode_init(&t, 1, 4);
    ck_assert_str_eq(OPS->name, "token_ring");
    ck_assert_int_eq(OPS->range, MSG_RANGE_TOKEN_RING);
    ck_assert_str_eq(OPS->key_field, "gen");
    ck_assert_str_eq(OPS->msg_name(TOKEN), "token");
    ck_assert_ptr_null(OPS->msg_name(MSG_RANGE_CENTRALIZED + 1));
    ck_assert(OPS->competes(&t.env, 3));
    ck_assert_double_eq(OPS->theory_messages_per_cs(&t.env), 1.0);
    struct algo_msg m = {.type = TOKEN, .f = {777}};
    int64_t g = 0;
    ck_assert(OPS->token_msg(&m, &g));
    ck_assert_int_eq(g, 777);
    m.type = NEWGEN;
    ck_assert(!OPS->token_msg(&m, &g));
    /* Bad parameters are refused. */
    struct algo_env bad = t.env;
    bad.id = 5;
    ck_assert_int_lt(OPS->init(t.state, &bad), 0);
    tnode_fini(&t);
}
END_TEST

START_TEST(test_holder_enters_when_it_wants)
{
    struct tnode t;
    tnode_init(&t, 2, 3);
    feed(&t, ev_at(EV_START, 0));
    feed(&t, ev_at(EV_REQUEST, 10));
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 0); /* no token yet */
    ck_assert(inspect(&t).wanting);
    int64_t g = make_gen(1, 1);
    feed(&t, token(1, 2, g, 20));
    const struct algo_action *e = find(&t, ACT_ENTER_CS);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->term, g); /* the key shown in traces */
    ck_assert_int_eq(e->gen, g);  /* the fencing token */
    ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
    const struct algo_action *r = find(&t, ACT_ROLE);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->role, ROLE_TOKEN_HOLDER);
    struct algo_inspect in = inspect(&t);
    ck_assert(in.in_cs && in.holds_token);
    ck_assert_int_eq(in.token_gen, g);
    ck_assert_int_eq(in.role, ROLE_TOKEN_HOLDER);
    /* A second request while inside changes nothing. */
    feed(&t, ev_at(EV_REQUEST, 25));
    ck_assert_int_eq(t.out.n, 0);
    /* On release the token goes to the successor, with the same gen. */
    feed(&t, ev_at(EV_RELEASE, 30));
    const struct algo_msg *m = only_token(&t, 3);
    ck_assert_int_eq(m->f[0], g);
    ck_assert_int_eq(m->f[1], 0); /* this pass was used */
    ck_assert_int_eq(find(&t, ACT_ROLE)->role, ROLE_NONE);
    in = inspect(&t);
    ck_assert(!in.in_cs && !in.wanting && !in.holds_token);
    ck_assert_int_eq(in.role, ROLE_NONE);
    tnode_fini(&t);
}
END_TEST

START_TEST(test_idle_holder_passes_on)
{
    struct tnode t;
    tnode_init(&t, 4, 4);
    feed(&t, ev_at(EV_START, 0));
    int64_t g = make_gen(1, 1);
    struct algo_event ev = token(3, 4, g, 5);
    ev.msg.f[1] = 2; /* two idle passes before us */
    feed(&t, ev);
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 0);
    const struct algo_msg *m = only_token(&t, 1); /* 4 -> 1 closes the ring */
    ck_assert_int_eq(m->f[0], g);
    ck_assert_int_eq(m->f[1], 3);
    ck_assert(!inspect(&t).holds_token);
    /* Two role changes (take, pass): pid --token-holder can follow the token. */
    ck_assert_int_eq(count_kind(&t, ACT_ROLE), 2);
    tnode_fini(&t);
}
END_TEST

START_TEST(test_skips_down_successors)
{
    struct tnode t;
    tnode_init(&t, 2, 4);
    feed(&t, ev_at(EV_START, 0));
    int64_t g = make_gen(1, 1);
    feed(&t, peer(EV_PEER_DOWN, 3));
    feed(&t, token(1, 2, g, 10));
    only_token(&t, 4);
    feed(&t, peer(EV_PEER_DOWN, 4));
    feed(&t, token(1, 2, g, 20));
    only_token(&t, 1);
    feed(&t, peer(EV_PEER_UP, 3));
    ck_assert_int_eq(t.out.n, 0);
    feed(&t, token(1, 2, g, 30));
    only_token(&t, 3);
    /* Alone in the ring: the holder keeps the token, and passes it when a
     * peer comes back. */
    feed(&t, peer(EV_PEER_DOWN, 1));
    feed(&t, peer(EV_PEER_DOWN, 3));
    feed(&t, token(1, 2, g, 40));
    ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
    ck_assert(inspect(&t).holds_token);
    feed(&t, ev_at(EV_REQUEST, 41)); /* the lone holder enters at once */
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 1);
    feed(&t, ev_at(EV_RELEASE, 42));
    ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
    feed(&t, peer(EV_PEER_UP, 4));
    only_token(&t, 4);
    ck_assert(!inspect(&t).holds_token);
    tnode_fini(&t);
}
END_TEST

START_TEST(test_stale_token_discarded)
{
    struct tnode t;
    tnode_init(&t, 3, 5);
    feed(&t, ev_at(EV_START, 0));
    int64_t old = make_gen(1, 1), cur = make_gen(2, 4);
    feed(&t, token(2, 3, cur, 10));
    only_token(&t, 4);
    feed(&t, ev_at(EV_REQUEST, 11));
    /* A token of an older generation (a paused holder resumed): never
     * used, never passed on, not held; its sender learns the newest gen. */
    feed(&t, token(2, 3, old, 12));
    ck_assert_int_eq(t.out.n, 2);
    ck_assert_int_eq(count_sends(&t, NEWGEN), 2);
    ck_assert_int_eq(t.out.a[0].msg.to, 2); /* its sender */
    ck_assert_int_eq(t.out.a[1].msg.to, 1); /* its maker */
    ck_assert_int_eq(t.out.a[0].msg.f[0], cur);
    ck_assert_int_eq(t.out.a[1].msg.f[0], cur);
    struct algo_inspect in = inspect(&t);
    ck_assert(!in.holds_token && !in.in_cs && in.wanting);
    /* A concurrent regenerator's lower generation of the same epoch loses
     * to the higher one too. */
    feed(&t, token(2, 3, make_gen(2, 1), 13));
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 0);
    ck_assert_int_eq(count_sends(&t, TOKEN), 0);
    /* Learning of a newer generation makes the current one stale as well;
     * a NEWGEN is never answered. */
    struct algo_event ng = token(1, 3, make_gen(3, 1), 14);
    ng.msg.type = NEWGEN;
    feed(&t, ng);
    ck_assert_int_eq(t.out.n, 0);
    feed(&t, ng);
    ck_assert_int_eq(t.out.n, 0);
    feed(&t, token(2, 3, cur, 15));
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 0);
    ck_assert_int_eq(count_sends(&t, TOKEN), 0);
    feed(&t, token(2, 3, make_gen(3, 1), 16));
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 1);
    ck_assert_int_eq(find(&t, ACT_ENTER_CS)->gen, make_gen(3, 1));
    tnode_fini(&t);
}
END_TEST

START_TEST(test_holder_drops_its_token_for_a_newer_one)
{
    struct tnode t;
    tnode_init(&t, 2, 4);
    feed(&t, ev_at(EV_START, 0));
    int64_t g1 = make_gen(1, 1), g2 = make_gen(2, 3);
    feed(&t, ev_at(EV_REQUEST, 1));
    feed(&t, token(1, 2, g1, 2));
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 1);
    /* While inside, a token of a newer generation arrives: it replaces
     * ours and is passed (once) on release; nobody enters behind us early. */
    feed(&t, token(1, 2, g2, 3));
    ck_assert_int_eq(t.out.n, count_kind(&t, ACT_ROLE));
    ck_assert_int_eq(inspect(&t).token_gen, g2);
    feed(&t, ev_at(EV_RELEASE, 4));
    ck_assert_int_eq(only_token(&t, 3)->f[0], g2);
    /* Inside again with g2, it hears of g3: it drops g2 and passes nothing. */
    feed(&t, ev_at(EV_REQUEST, 5));
    feed(&t, token(1, 2, g2, 6));
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 1);
    struct algo_event ng = token(4, 2, make_gen(3, 4), 7);
    ng.msg.type = NEWGEN;
    feed(&t, ng);
    ck_assert(!inspect(&t).holds_token);
    ck_assert(inspect(&t).in_cs);
    feed(&t, ev_at(EV_RELEASE, 8));
    ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
    tnode_fini(&t);
}
END_TEST

START_TEST(test_regeneration_after_timeout)
{
    struct tnode a, b;
    tnode_init(&a, 1, 4);
    tnode_init(&b, 2, 4);
    feed(&a, ev_at(EV_START, 0));
    ck_assert_int_eq(find(&a, ACT_SET_TIMER)->after_us, TIMEOUT_US);
    feed(&b, ev_at(EV_START, 0));
    /* Early firing (a lazily re-armed deadline) regenerates nothing. */
    feed(&a, timer_at(TIMER_LOST, TIMEOUT_US / 2));
    ck_assert_int_eq(count_kind(&a, ACT_SEND), 0);
    ck_assert_int_eq(find(&a, ACT_SET_TIMER)->after_us, TIMEOUT_US / 2);
    /* The first token is node 1's regeneration of one that never existed:
     * epoch 1, no announcement (no older generation is known). */
    feed(&a, timer_at(TIMER_LOST, TIMEOUT_US));
    int64_t g1 = only_token(&a, 2)->f[0];
    ck_assert_int_eq(g1, make_gen(1, 1));
    ck_assert_int_eq(count_sends(&a, NEWGEN), 0);
    /* Node 2 is not the lowest live id: it only waits again. */
    feed(&b, timer_at(TIMER_LOST, TIMEOUT_US));
    ck_assert_int_eq(count_kind(&b, ACT_SEND), 0);
    ck_assert_int_eq(count_kind(&b, ACT_SET_TIMER), 1);
    /* Node 1 sees a later token then nothing for a timeout: exactly one new
     * token, of a higher generation, and the announcement to each peer. */
    int64_t seen = make_gen(4, 3);
    feed(&a, token(4, 1, seen, 1000));
    only_token(&a, 2);
    feed(&a, timer_at(TIMER_LOST, 1000 + TIMEOUT_US - 1));
    ck_assert_int_eq(count_kind(&a, ACT_SEND), 0);
    feed(&a, ev_at(EV_REQUEST, 1000 + TIMEOUT_US));
    feed(&a, timer_at(TIMER_LOST, 1000 + TIMEOUT_US));
    /* Though it wants the CS, the new token first makes a lap. */
    ck_assert_int_eq(count_kind(&a, ACT_ENTER_CS), 0);
    int64_t g2 = only_token(&a, 2)->f[0];
    ck_assert_int_eq(g2, make_gen(5, 1));
    ck_assert_int_gt(g2, seen);
    ck_assert_int_eq(count_sends(&a, NEWGEN), 3);
    /* Back from its lap, it is used. */
    feed(&a, token(4, 1, g2, 1200 + TIMEOUT_US));
    ck_assert_int_eq(count_kind(&a, ACT_ENTER_CS), 1);
    ck_assert_int_eq(find(&a, ACT_ENTER_CS)->gen, g2);
    ck_assert_int_eq(inspect(&a).token_gen, g2);
    /* A lone regenerator has nobody to check its token: it uses it. */
    feed(&a, peer(EV_PEER_DOWN, 2));
    feed(&a, peer(EV_PEER_DOWN, 3));
    feed(&a, peer(EV_PEER_DOWN, 4));
    feed(&a, ev_at(EV_RELEASE, 1300 + TIMEOUT_US));
    ck_assert_int_eq(count_kind(&a, ACT_SEND), 0); /* it keeps it */
    tnode_fini(&a);
    tnode_init(&a, 1, 4);
    feed(&a, ev_at(EV_START, 0));
    feed(&a, peer(EV_PEER_DOWN, 2));
    feed(&a, peer(EV_PEER_DOWN, 3));
    feed(&a, peer(EV_PEER_DOWN, 4));
    feed(&a, ev_at(EV_REQUEST, 1));
    feed(&a, timer_at(TIMER_LOST, TIMEOUT_US));
    ck_assert_int_eq(count_kind(&a, ACT_ENTER_CS), 1);
    ck_assert_int_eq(count_kind(&a, ACT_SEND), 0);
    /* Node 2 regenerates once it believes node 1 down; its generation
     * beats node 1's of the same epoch. */
    feed(&b, peer(EV_PEER_DOWN, 1));
    feed(&b, token(4, 2, make_gen(4, 3), 2000));
    only_token(&b, 3);
    feed(&b, timer_at(TIMER_LOST, 2000 + TIMEOUT_US));
    int64_t gb = only_token(&b, 3)->f[0];
    ck_assert_int_eq(gb, make_gen(5, 2));
    ck_assert_int_gt(gb, g2);
    ck_assert_int_eq(count_sends(&b, NEWGEN), 2); /* not to node 1: down */
    tnode_fini(&a);
    tnode_fini(&b);
}
END_TEST

START_TEST(test_holder_never_suspects_itself)
{
    /* Node 1, the regenerator, inside a CS longer than the timeout: its
     * token is not lost, so the timer only waits again. */
    struct tnode t;
    tnode_init(&t, 1, 3);
    feed(&t, ev_at(EV_START, 0));
    feed(&t, ev_at(EV_REQUEST, 1));
    feed(&t, token(3, 1, make_gen(1, 1), 2));
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 1);
    for (int i = 1; i <= 3; i++) {
        feed(&t, timer_at(TIMER_LOST, 2 + i * TIMEOUT_US));
        ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
        ck_assert_int_eq(count_kind(&t, ACT_SET_TIMER), 1);
        ck_assert_int_eq(inspect(&t).token_gen, make_gen(1, 1));
    }
    feed(&t, ev_at(EV_RELEASE, 2 + 4 * TIMEOUT_US));
    ck_assert_int_eq(only_token(&t, 2)->f[0], make_gen(1, 1));
    tnode_fini(&t);
}
END_TEST

/* The first token's lap runs while the other processes are still starting,
 * each hop waiting in the queue of a node that has not started yet (64
 * processes take most of a second). Node 1 cannot tell that from a lost
 * token: without a staged start it regenerates after one timeout, while the
 * first token is alive (the cause of two tokens at N = 64 with no fault).
 * With a staged start no time counts until EV_CLUSTER_UP. */
static int64_t first_regeneration(bool staged, int64_t up_at)
{
    struct tnode a;
    tnode_init(&a, 1, 4);
    a.env.incarnation = 1;
    a.env.staged_start = staged;
    ck_assert_int_eq(OPS->init(a.state, &a.env), 0);
    feed(&a, ev_at(EV_START, 0));
    ck_assert_int_eq(only_token(&a, 2)->f[0], make_gen(1, 1));
    int64_t at = -1;
    for (int64_t t = TIMEOUT_US / 2; t <= 20 * TIMEOUT_US && at < 0; t += TIMEOUT_US / 2) {
        if (t == up_at) {
            feed(&a, ev_at(EV_CLUSTER_UP, t));
            ck_assert_int_eq(a.out.n, 0);
        }
        feed(&a, timer_at(TIMER_LOST, t));
        if (count_sends(&a, TOKEN)) {
            at = t;
            ck_assert_int_eq(count_sends(&a, NEWGEN), 3); /* the first token is superseded */
        } else {
            ck_assert_int_eq(count_kind(&a, ACT_SEND), 0);
        }
    }
    tnode_fini(&a);
    return at;
}

START_TEST(test_start_up_is_not_a_lost_token)
{
    ck_assert_int_eq(first_regeneration(false, -1), TIMEOUT_US);
    /* Staged: the cluster is up at 5 timeouts; one timeout later, if the
     * token has still not come back, it is lost. */
    ck_assert_int_eq(first_regeneration(true, 5 * TIMEOUT_US), 6 * TIMEOUT_US);
    /* A token that comes back in time is not regenerated; a second
     * EV_CLUSTER_UP (a driver that sends it twice) restarts nothing. */
    struct tnode a;
    tnode_init(&a, 1, 4);
    a.env.incarnation = 1;
    a.env.staged_start = true;
    ck_assert_int_eq(OPS->init(a.state, &a.env), 0);
    feed(&a, ev_at(EV_START, 0));
    feed(&a, timer_at(TIMER_LOST, 3 * TIMEOUT_US));
    ck_assert_int_eq(count_kind(&a, ACT_SEND), 0);
    feed(&a, ev_at(EV_CLUSTER_UP, 3 * TIMEOUT_US));
    feed(&a, token(4, 1, make_gen(1, 1), 3 * TIMEOUT_US + 10));
    only_token(&a, 2);
    feed(&a, ev_at(EV_CLUSTER_UP, 4 * TIMEOUT_US));
    feed(&a, timer_at(TIMER_LOST, 4 * TIMEOUT_US + 10));
    ck_assert_int_eq(count_sends(&a, TOKEN), 1);
    ck_assert_int_eq(only_token(&a, 2)->f[0], make_gen(2, 1));
    tnode_fini(&a);
}
END_TEST

static struct algo_event newgen(int from, int to, int64_t gen, int64_t now)
{
    struct algo_event ev = token(from, to, gen, now);
    ev.msg.type = NEWGEN;
    return ev;
}

/* Generations out of range are malformed: counted, and they change
 * nothing. One at the top of the range is used, and the regeneration above
 * it neither overflows nor is refused by the next node. */
START_TEST(test_extreme_generations)
{
    struct tnode a, b;
    tnode_init(&a, 1, 4);
    tnode_init(&b, 2, 4);
    feed(&a, ev_at(EV_START, 0));
    feed(&b, ev_at(EV_START, 0));
    int64_t now = 1000, top = algo_counter_limit(now);
    struct algo_event bad[] = {
        token(2, 1, INT64_MAX, now), token(2, 1, top + 1, now), token(2, 1, 0, now),
        token(2, 1, -5, now),        newgen(2, 1, INT64_MAX, now), newgen(3, 1, -1, now),
        token(1, 1, 257, now),       token(5, 1, 257, now),        token(0, 1, 257, now),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        feed(&a, bad[i]);
        ck_assert_msg(a.out.malformed == 1, "message %zu not counted as malformed", i);
        ck_assert_int_eq(a.out.n, 0);
        ck_assert_int_eq(inspect(&a).term, 0); /* no generation seen */
    }
    struct algo_event idle = token(2, 1, 257, now);
    idle.msg.f[1] = INT64_MAX; /* idle hops: one more would overflow */
    feed(&a, idle);
    ck_assert_int_eq(a.out.malformed, 1);
    idle.msg.type = RING_TOKEN_UNKNOWN_TYPE;
    feed(&a, idle);
    ck_assert_int_eq(a.out.malformed, 1);
    /* At the top of the range: accepted and passed on. */
    feed(&a, token(4, 1, top, now));
    ck_assert_int_eq(a.out.malformed, 0);
    ck_assert_int_eq(only_token(&a, 2)->f[0], top);
    /* Lost: node 1 regenerates above it, and node 2 accepts the new one. */
    int64_t later = now + TIMEOUT_US;
    feed(&a, timer_at(TIMER_LOST, later));
    int64_t g = only_token(&a, 2)->f[0];
    ck_assert_int_gt(g, top);
    ck_assert_int_eq(g & 0xff, 1);
    feed(&b, token(1, 2, g, later + 1));
    ck_assert_int_eq(b.out.malformed, 0);
    ck_assert_int_eq(only_token(&b, 3)->f[0], g);
    /* At the end of the limit's growth, regeneration still cannot wrap. */
    tnode_fini(&a);
    tnode_init(&a, 1, 4);
    int64_t end = INT64_MAX - 2 * TIMEOUT_US;
    top = algo_counter_limit(end);
    ck_assert_int_lt(top, INT64_C(1) << 62);
    feed(&a, ev_at(EV_START, end));
    feed(&a, token(4, 1, top, end));
    ck_assert_int_eq(a.out.malformed, 0);
    feed(&a, timer_at(TIMER_LOST, end + TIMEOUT_US));
    ck_assert_int_gt(only_token(&a, 2)->f[0], top);
    tnode_fini(&a);
    tnode_fini(&b);
}
END_TEST

START_TEST(test_idle_hold)
{
    struct tnode t;
    tnode_init(&t, 2, 3);
    t.env.token_idle_hold_us = 1000;
    ck_assert_int_eq(OPS->init(t.state, &t.env), 0);
    feed(&t, ev_at(EV_START, 0));
    int64_t g = make_gen(1, 1);
    /* Nobody here wants it: the holder keeps it idle_hold, sending nothing. */
    feed(&t, token(1, 2, g, 10));
    ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
    const struct algo_action *a = find(&t, ACT_SET_TIMER);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->timer_id, TIMER_IDLE);
    ck_assert_int_eq(a->after_us, 1000);
    ck_assert(inspect(&t).holds_token);
    /* Asked meanwhile, it enters at once; on release it passes. */
    feed(&t, ev_at(EV_REQUEST, 500));
    ck_assert_int_eq(count_kind(&t, ACT_ENTER_CS), 1);
    ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
    feed(&t, timer_at(TIMER_IDLE, 1010)); /* a hold cancelled by the entry */
    ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
    feed(&t, ev_at(EV_RELEASE, 1500));
    ck_assert_int_eq(only_token(&t, 3)->f[1], 0);
    /* Held idle until the timer, then passed as one more unused pass. */
    struct algo_event ev = token(1, 2, g, 2000);
    ev.msg.f[1] = 4;
    feed(&t, ev);
    ck_assert_int_eq(count_kind(&t, ACT_SEND), 0);
    feed(&t, timer_at(TIMER_IDLE, 3000));
    ck_assert_int_eq(only_token(&t, 3)->f[1], 5);
    feed(&t, timer_at(TIMER_IDLE, 4000)); /* not holding: nothing */
    ck_assert_int_eq(t.out.n, 0);
    tnode_fini(&t);
}
END_TEST

START_TEST(test_default_timeout)
{
    struct tnode t;
    tnode_init(&t, 1, 4);
    t.env.token_timeout_us = 0;
    ck_assert_int_eq(OPS->init(t.state, &t.env), 0);
    feed(&t, ev_at(EV_START, 0));
    ck_assert_int_eq(find(&t, ACT_SET_TIMER)->after_us, 200 * 1000);
    /* With an idle hold, the default grows by two idle laps. */
    t.env.token_idle_hold_us = 1000;
    ck_assert_int_eq(OPS->init(t.state, &t.env), 0);
    feed(&t, ev_at(EV_START, 0));
    ck_assert_int_eq(find(&t, ACT_SET_TIMER)->after_us, 200 * 1000 + 2 * 4 * 1000);
    t.env.token_idle_hold_us = -1;
    ck_assert_int_lt(OPS->init(t.state, &t.env), 0);
    tnode_fini(&t);
}
END_TEST

/* ---- the simulator ---- */

/* What a run's trace showed. */
struct obs {
    int64_t first_gen, max_gen; /* generations of accepted entries */
    int64_t max_epoch;
    int in_cs[ALGO_MAX_NODES + 1];
    int paused, paused_in_cs; /* the node paused, and was it inside */
    /* ME3: entries of others while a node waits (at most N-1 in a ring). */
    bool waiting[ALGO_MAX_NODES + 1];
    int overtaken[ALGO_MAX_NODES + 1];
    int max_overtaken;
    /* Probe: the k-th entry (node, time). */
    int want_entry, entries;
    int entries_of[ALGO_MAX_NODES + 1];
    int stale_entries; /* entries with a generation older than an earlier entry's */
    bool amnesia;      /* several nodes may restart: see random_crashes() */
    int probe_node;
    int64_t probe_t;
};

static void on_rec(void *user, const struct trace_rec *r)
{
    struct obs *o = user;
    switch (r->ev) {
    case TR_REQUEST:
        o->waiting[r->node] = true;
        o->overtaken[r->node] = 0;
        break;
    case TR_ENTER:
        o->in_cs[r->node] = 1;
        o->waiting[r->node] = false;
        if (r->b < o->max_gen)
            o->stale_entries++;
        if (r->aux == 2)
            break; /* refused by the resource */
        for (int k = 1; k <= ALGO_MAX_NODES; k++)
            if (o->waiting[k] && ++o->overtaken[k] > o->max_overtaken)
                o->max_overtaken = o->overtaken[k];
        if (!o->first_gen)
            o->first_gen = r->b;
        if (r->b > o->max_gen)
            o->max_gen = r->b;
        if ((r->b >> ID_BITS) > o->max_epoch)
            o->max_epoch = r->b >> ID_BITS;
        o->entries_of[r->node]++;
        if (++o->entries == o->want_entry) {
            o->probe_node = r->node;
            o->probe_t = r->t_us;
        }
        break;
    case TR_EXIT: o->in_cs[r->node] = 0; break;
    case TR_CRASH:
        o->in_cs[r->node] = 0;
        o->waiting[r->node] = false;
        break;
    case TR_PAUSE:
        o->paused = r->node;
        o->paused_in_cs = o->in_cs[r->node];
        break;
    default: break;
    }
}

static void base_config(struct sim_config *cfg, uint64_t seed, int n)
{
    sim_config_defaults(cfg);
    cfg->ops = OPS;
    cfg->env.n = n;
    cfg->env.token_timeout_us = TIMEOUT_US;
    cfg->seed = seed;
    cfg->requests = 8;
    cfg->cs_time_us = 500;
    cfg->delay_us = 50;
    cfg->jitter_us = 200;
    cfg->max_time_us = 20 * 1000 * 1000;
    cfg->on_record = on_rec;
}

static void run(struct sim_config *cfg, struct sim_result *res, struct obs *o)
{
    cfg->user = o;
    int rc = sim_run(cfg, res);
    ck_assert_msg(rc == 0, "seed %llu: sim_run failed: %s", (unsigned long long)cfg->seed,
                  res->violation);
    /* A stale token is never used: entries' generations never go back. */
    ck_assert_msg(o->amnesia || o->stale_entries == 0,
                  "seed %llu: %d entries with a stale generation", (unsigned long long)cfg->seed,
                  o->stale_entries);
}

#define CHECK_RUN(ok, seed, res)                                                                   \
    ck_assert_msg(ok, "seed %llu: %s (safe %d live %d completed %d tokens %d)",                    \
                  (unsigned long long)(seed), (res).violation, (res).safe, (res).live,             \
                  (res).completed, (res).max_valid_tokens)

START_TEST(test_sim_failure_free_full_load)
{
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        int n = 2 + (int)(seed % 8);
        struct sim_config cfg;
        base_config(&cfg, seed, n);
        cfg.think_time_us = 0;
        cfg.cs_time_us = 100 + (int64_t)(seed % 5) * 200;
        cfg.env.token_timeout_us = seed % 10 == 0 ? 0 : TIMEOUT_US; /* some use the default */
        cfg.env.token_idle_hold_us = seed % 3 == 0 ? 1000 : 0;      /* never idle: no effect */
        struct sim_result res;
        struct obs o = {0};
        run(&cfg, &res, &o);
        CHECK_RUN(res.safe && res.live && res.completed && res.max_valid_tokens == 1, seed, res);
        ck_assert_uint_eq(res.cs_entries, (uint64_t)n * 8);
        ck_assert_int_eq(res.counter, (int64_t)res.cs_entries);
        /* Every node always wants the CS: each hop is used, so one message
         * per CS (the last release's pass included), plus at most one idle
         * lap of the first token, which node 1 makes at its first start,
         * before the applications ask. The only token ever is node 1's. */
        ck_assert_msg(res.messages >= res.cs_entries &&
                          res.messages <= res.cs_entries + (uint64_t)n,
                      "seed %llu: %llu messages for %llu CS",
                      (unsigned long long)seed, (unsigned long long)res.messages,
                      (unsigned long long)res.cs_entries);
        ck_assert_int_eq(o.first_gen, make_gen(1, 1));
        ck_assert_int_eq(o.max_gen, make_gen(1, 1));
        /* Ring order: a waiter sees at most N-1 other entries first. */
        ck_assert_int_le(o.max_overtaken, n - 1);
        ck_assert_int_eq(o.max_overtaken, n - 1); /* and under full load, exactly that */
    }
}
END_TEST

START_TEST(test_sim_failure_free_light_load)
{
    int idle_runs = 0;
    uint64_t cs = 0, msgs = 0, msgs_held = 0;
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        int n = 2 + (int)(seed % 8);
        struct sim_config cfg;
        base_config(&cfg, seed, n);
        /* Think much longer than a lap (N hops of 50-250 us plus a short CS). */
        cfg.think_time_us = 5000 + (int64_t)(seed % 4) * 5000;
        cfg.cs_time_us = 200;
        cfg.requests = 5;
        cfg.fifo = seed % 2 == 0;
        uint64_t messages[2];
        /* The same schedule with the token passed at once, then held idle. */
        for (int hold = 0; hold < 2; hold++) {
            cfg.env.token_idle_hold_us = hold ? 1000 : 0;
            struct sim_result res;
            struct obs o = {0};
            run(&cfg, &res, &o);
            CHECK_RUN(res.safe && res.live && res.completed && res.max_valid_tokens == 1, seed,
                      res);
            ck_assert_uint_eq(res.cs_entries, (uint64_t)n * 5);
            ck_assert_int_eq(o.max_gen, make_gen(1, 1)); /* no false regeneration */
            ck_assert_int_le(o.max_overtaken, n - 1);
            /* Every release passes the token; idle passes come on top. */
            ck_assert_uint_ge(res.messages, res.cs_entries);
            messages[hold] = res.messages;
            if (!hold) {
                idle_runs += res.messages > res.cs_entries;
                cs += res.cs_entries;
            }
        }
        /* Holding an idle token (1 ms) cuts the idle traffic (hops of
         * 50-250 us), even where the timings differ. */
        ck_assert_msg(messages[1] < messages[0], "seed %llu: %llu messages held, %llu not",
                      (unsigned long long)seed, (unsigned long long)messages[1],
                      (unsigned long long)messages[0]);
        msgs += messages[0];
        msgs_held += messages[1];
    }
    /* Unlike under full load, the token also travels when nobody wants it. */
    fprintf(stderr,
            "token_ring: light load: idle passes in %d of 1000 runs; %.1f messages per CS, "
            "%.1f with a 1 ms idle hold\n",
            idle_runs, (double)msgs / (double)cs, (double)msgs_held / (double)cs);
    ck_assert_int_eq(idle_runs, 1000);
}
END_TEST

enum restart { NO_RESTART, QUICK_RESTART, LATE_RESTART };

/* Crash the node found inside the CS at the k-th entry of a failure-free
 * probe run with the same seed (the runs agree up to the crash); maybe
 * restart it, before or after the others noticed. */
static void crash_holder(uint64_t seed, enum restart restart)
{
    int n = 3 + (int)(seed % 7);
    struct sim_config cfg;
    base_config(&cfg, seed, n);
    cfg.requests = restart == NO_RESTART ? 8 : 20;
    cfg.think_time_us = (int64_t)(seed % 3) * 1000;
    cfg.failure_timeout_us = 10 * 1000 + (int64_t)(seed % 4) * 5 * 1000;
    cfg.fifo = seed % 2 == 0;
    cfg.env.token_idle_hold_us = seed % 3 == 0 ? 500 : 0;
    struct sim_result res;
    struct obs probe = {.want_entry = 2 + (int)(seed % (uint64_t)(3 * n))};
    run(&cfg, &res, &probe);
    ck_assert(probe.probe_node > 0);
    int64_t crash_at = probe.probe_t + 1;
    int64_t back =
        restart == QUICK_RESTART ? cfg.failure_timeout_us / 2 : cfg.failure_timeout_us + 5000;
    struct sim_fault f[2] = {
        {.at_us = crash_at, .kind = SIM_CRASH, .node = probe.probe_node},
        {.at_us = crash_at + back, .kind = SIM_RESTART, .node = probe.probe_node},
    };
    cfg.faults = f;
    cfg.nfaults = restart == NO_RESTART ? 1 : 2;
    struct obs o = {0};
    run(&cfg, &res, &o);
    CHECK_RUN(res.safe && res.live && res.completed && res.max_valid_tokens == 1, seed, res);
    ck_assert_uint_eq(res.crashes, 1);
    ck_assert_int_eq(o.in_cs[probe.probe_node], 0);
    /* The token died with its holder: a later epoch was made and used. */
    ck_assert_msg(o.max_epoch >= 2 || (o.max_gen == make_gen(1, 1) && probe.probe_node == 1),
                  "seed %llu: no regenerated token was used", (unsigned long long)seed);
    /* Every other node did all its requests. */
    for (int k = 1; k <= n; k++)
        if (k != probe.probe_node)
            ck_assert_int_eq(o.entries_of[k], cfg.requests);
    if (restart == NO_RESTART) {
        ck_assert_int_gt(o.max_gen, o.first_gen);
        ck_assert_int_lt(o.entries_of[probe.probe_node], cfg.requests);
    } else {
        /* The restarted node did its remaining requests too; the entry it
         * died in counts, but its write never happened. */
        ck_assert_uint_eq(res.restarts, 1);
        ck_assert_int_eq(o.entries_of[probe.probe_node], cfg.requests + 1);
        ck_assert_uint_eq(res.exits, (uint64_t)(n * cfg.requests));
    }
}

START_TEST(test_sim_crash_holder)
{
    for (uint64_t seed = 1; seed <= 1000; seed++)
        crash_holder(seed, NO_RESTART);
}
END_TEST

START_TEST(test_sim_crash_holder_quick_restart)
{
    for (uint64_t seed = 1; seed <= 1000; seed++)
        crash_holder(seed, QUICK_RESTART);
}
END_TEST

START_TEST(test_sim_crash_holder_late_restart)
{
    for (uint64_t seed = 1; seed <= 1000; seed++)
        crash_holder(seed, LATE_RESTART);
}
END_TEST

/* Random crashes (any node, any time), without restarts or with restarts
 * before (quick) or after (late) the failure detector noticed. */
static void random_crashes(enum restart restart)
{
    int regenerated = 0, crashed = 0, stale = 0;
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        int n = 2 + (int)(seed % 8);
        struct sim_config cfg;
        base_config(&cfg, seed, n);
        cfg.think_time_us = (int64_t)(seed % 3) * 1000;
        cfg.crash_prob = 0.05;
        cfg.failure_timeout_us = 5 * 1000 + (int64_t)(seed % 3) * 20 * 1000;
        if (restart == QUICK_RESTART)
            cfg.restart_after_us = cfg.failure_timeout_us / 2;
        else if (restart == LATE_RESTART)
            cfg.restart_after_us = cfg.failure_timeout_us + (int64_t)(seed % 7) * 10 * 1000;
        cfg.fifo = seed % 4 == 0;
        cfg.env.token_idle_hold_us = seed % 3 == 0 ? 500 : 0;
        struct sim_result res;
        /* Without persistence, a restarted node forgets every generation.
         * When a restarted node regenerates and the nodes its token meets
         * first restarted too, none knows better and an older generation is
         * used again: harmless to mutual exclusion (the maker regenerated
         * because the newest token was lost), refused by a fencing
         * resource, and only counted here. */
        struct obs o = {.amnesia = restart != NO_RESTART};
        run(&cfg, &res, &o);
        CHECK_RUN(res.safe && res.live && res.completed && res.max_valid_tokens <= 1, seed, res);
        ck_assert_int_eq(res.counter, (int64_t)res.exits);
        crashed += res.crashes > 0;
        regenerated += o.max_epoch >= 2;
        stale += o.stale_entries > 0;
    }
    /* Not every crash hits the holder, but many must have. */
    ck_assert_int_gt(crashed, 500);
    ck_assert_int_gt(regenerated, 100);
    if (restart != NO_RESTART)
        fprintf(stderr, "token_ring: %s restarts: %d of 1000 runs reused an older generation\n",
                restart == QUICK_RESTART ? "quick" : "late", stale);
}

START_TEST(test_sim_random_crashes)
{
    random_crashes(NO_RESTART);
}
END_TEST

START_TEST(test_sim_random_crashes_quick_restart)
{
    random_crashes(QUICK_RESTART);
}
END_TEST

START_TEST(test_sim_random_crashes_late_restart)
{
    random_crashes(LATE_RESTART);
}
END_TEST

/* Pause the node inside the CS longer than the token and failure timeouts,
 * then resume it. Returns the result; *was_in_cs says the pause hit the CS. */
static void pause_holder(uint64_t seed, bool fencing, struct sim_result *res, bool *was_in_cs)
{
    int n = 3 + (int)(seed % 6);
    struct sim_config cfg;
    base_config(&cfg, seed, n);
    cfg.think_time_us = (int64_t)(seed % 3) * 500;
    cfg.cs_time_us = 2000;
    cfg.failure_timeout_us = 15 * 1000;
    cfg.fencing = fencing;
    cfg.fifo = seed % 2 == 0;
    cfg.env.token_idle_hold_us = seed % 3 == 0 ? 500 : 0;
    struct obs probe = {.want_entry = 2 + (int)(seed % (uint64_t)(2 * n))};
    run(&cfg, res, &probe);
    ck_assert(probe.probe_node > 0);
    int64_t at = probe.probe_t + cfg.cs_time_us / 2;
    int64_t len = TIMEOUT_US + cfg.failure_timeout_us + 20 * 1000 + (int64_t)(seed % 4) * 10000;
    struct sim_fault f[2] = {
        {.at_us = at, .kind = SIM_PAUSE, .node = probe.probe_node},
        {.at_us = at + len, .kind = SIM_RESUME, .node = probe.probe_node},
    };
    cfg.faults = f;
    cfg.nfaults = 2;
    struct obs o = {0};
    run(&cfg, res, &o);
    *was_in_cs = o.paused == probe.probe_node && o.paused_in_cs;
    /* Either way the token was regenerated while the holder slept. */
    ck_assert_msg(o.max_epoch >= 2, "seed %llu: no regeneration", (unsigned long long)seed);
}

START_TEST(test_sim_pause_holder_fencing)
{
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct sim_result res;
        bool in_cs;
        pause_holder(seed, true, &res, &in_cs);
        ck_assert_msg(in_cs, "seed %llu: the paused node was not in the CS",
                      (unsigned long long)seed);
        CHECK_RUN(res.safe && res.live && res.completed && res.max_valid_tokens == 1, seed, res);
        /* The resource refused the stale holder's write, and nothing else:
         * nobody entered with the stale token after it resumed. */
        ck_assert_msg(res.fenced == 1, "seed %llu: %llu fenced", (unsigned long long)seed,
                      (unsigned long long)res.fenced);
        ck_assert_int_eq(res.counter, (int64_t)res.exits);
    }
}
END_TEST

START_TEST(test_sim_pause_holder_no_fencing)
{
    int unsafe = 0;
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct sim_result res;
        bool in_cs;
        pause_holder(seed, false, &res, &in_cs);
        ck_assert(in_cs);
        /* The core keeps one token of the newest generation even so... */
        ck_assert_msg(res.max_valid_tokens == 1, "seed %llu: %s", (unsigned long long)seed,
                      res.violation);
        /* ...but a timeout cannot tell slow from dead: the resumed holder
         * is still inside while the new token's holder enters. */
        unsafe += !res.safe;
    }
    ck_assert_int_gt(unsafe, 0);
    fprintf(stderr, "token_ring: without fencing %d of 1000 paused-holder runs were unsafe\n",
            unsafe);
}
END_TEST

/* ---- retransmission (env.retransmit) ---- */

#define RX_US 20000 /* retransmit_us in the hand-fed tests */

static void tnode_init_rx(struct tnode *t, int id, int n)
{
    tnode_init(t, id, n);
    t->env.incarnation = 1;
    t->env.retransmit = true;
    t->env.retransmit_us = RX_US;
    ck_assert_int_eq(OPS->init(t->state, &t->env), 0);
}

static struct algo_event rmsg(int type, int from, int to, int64_t now, int64_t f0, int64_t f1,
                              int64_t f2, int64_t f3)
{
    struct algo_event ev = {.kind = EV_MESSAGE, .now_us = now};
    ev.msg.type = (uint16_t)type;
    ev.msg.from = (uint16_t)from;
    ev.msg.to = (uint16_t)to;
    ev.msg.f[0] = f0;
    ev.msg.f[1] = f1;
    ev.msg.f[2] = f2;
    ev.msg.f[3] = f3;
    return ev;
}

/* The only message of this type in the last step, to `to`. */
static const struct algo_msg *only(const struct tnode *t, int type, int to)
{
    ck_assert_int_eq(count_sends(t, type), 1);
    for (int i = 0; i < t->out.n; i++)
        if (t->out.a[i].kind == ACT_SEND && t->out.a[i].msg.type == type) {
            ck_assert_int_eq(t->out.a[i].msg.to, to);
            return &t->out.a[i].msg;
        }
    return NULL;
}

/* A copy of a token, fed by hand: acknowledged, never used twice, never
 * passed on twice; probes are answered from what the node has seen. */
START_TEST(test_rx_duplicate_token)
{
    struct tnode b;
    tnode_init_rx(&b, 2, 3);
    feed(&b, ev_at(EV_START, 0));
    feed(&b, ev_at(EV_REQUEST, 10));
    int64_t g = make_gen(1, 1);
    struct algo_event tok = rmsg(TOKEN, 1, 2, 100, g, 0, 5, 0);
    feed(&b, tok);
    ck_assert_int_eq(count_kind(&b, ACT_ENTER_CS), 1);
    const struct algo_msg *ack = only(&b, ACK, 1);
    ck_assert(ack->f[0] == g && ack->f[1] == 5 && ack->f[2] == GOT);
    tok.now_us = 200;
    feed(&b, tok); /* a copy while inside */
    ck_assert_int_eq(count_kind(&b, ACT_ENTER_CS), 0);
    ck_assert_int_eq(count_sends(&b, TOKEN), 0);
    only(&b, ACK, 1);
    feed(&b, ev_at(EV_RELEASE, 300));
    const struct algo_msg *next = only_token(&b, 3);
    ck_assert(next->f[0] == g && next->f[2] == 6); /* one hop further */
    ck_assert_int_eq(find(&b, ACT_SET_TIMER)->timer_id, TIMER_RETX);
    tok.now_us = 400;
    feed(&b, tok); /* a copy after it left: not taken up again */
    ck_assert_int_eq(count_sends(&b, TOKEN), 0);
    ck_assert(!inspect(&b).holds_token);
    only(&b, ACK, 1);
    /* Probes: (g, 5) arrived; (g, 9) never did; a node restarted since the
     * handoff cannot tell. */
    feed(&b, rmsg(PROBE, 1, 2, 500, g, 5, 50, 1));
    ck_assert_int_eq(only(&b, ACK, 1)->f[2], GOT);
    feed(&b, rmsg(PROBE, 1, 2, 500, g, 9, 50, 2));
    ack = only(&b, ACK, 1);
    ck_assert(ack->f[2] == MISSING && ack->f[3] == 2);
    feed(&b, rmsg(PROBE, 1, 2, 500, make_gen(0, 3), 9, 50, 3)); /* an older generation */
    ck_assert_int_eq(only(&b, ACK, 1)->f[2], GOT);
    struct tnode r;
    tnode_init_rx(&r, 2, 3);
    feed(&r, ev_at(EV_START, 1000));
    feed(&r, rmsg(PROBE, 1, 2, 1100, g, 9, 500, 1));
    ck_assert_int_eq(only(&r, ACK, 1)->f[2], UNKNOWN);
    /* Fields out of range are malformed. */
    struct algo_event bad[] = {
        rmsg(ACK, 1, 2, 1100, g, -1, GOT, 0), rmsg(ACK, 1, 2, 1100, g, 5, 3, 0),
        rmsg(ACK, 1, 2, 1100, g, 5, GOT, -1), rmsg(PROBE, 1, 2, 1100, g, 5, -1, 1),
        rmsg(PROBE, 1, 2, 1100, 0, 5, 10, 1), rmsg(TOKEN, 1, 2, 1100, g, 0, -1, 0),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        feed(&r, bad[i]);
        ck_assert_msg(r.out.malformed == 1 && r.out.n == 0, "message %zu accepted", i);
    }
    tnode_fini(&r);
    tnode_fini(&b);
}
END_TEST

/* The sender's side: no acknowledgement in time -> a probe; MISSING -> the
 * same token again, once per probe sent after it last went out; GOT -> done. */
START_TEST(test_rx_handoff)
{
    struct tnode a;
    tnode_init_rx(&a, 1, 3);
    feed(&a, ev_at(EV_START, 0)); /* node 1 makes the first token and passes it */
    const struct algo_msg *t = only_token(&a, 2);
    int64_t g = t->f[0], hop = t->f[2];
    ck_assert_int_eq(hop, 1);
    feed(&a, timer_at(TIMER_RETX, RX_US));
    const struct algo_msg *p = only(&a, PROBE, 2);
    ck_assert(p->f[0] == g && p->f[1] == hop && p->f[2] == 0 && p->f[3] == 1);
    feed(&a, peer(EV_PEER_UP, 2)); /* too soon after the token went out: no probe */
    ck_assert_int_eq(a.out.n, 0);
    feed(&a, timer_at(TIMER_RETX, 2 * RX_US)); /* a second probe, unanswered so far */
    ck_assert_int_eq(only(&a, PROBE, 2)->f[3], 2);
    feed(&a, rmsg(ACK, 2, 1, 2 * RX_US + 5, g, hop, MISSING, 1));
    t = only_token(&a, 2);
    ck_assert(t->f[0] == g && t->f[2] == hop);
    ck_assert(!inspect(&a).holds_token);
    /* The answer to the second probe, sent before the token went out
     * again, is void: no third copy. */
    feed(&a, rmsg(ACK, 2, 1, 2 * RX_US + 6, g, hop, MISSING, 2));
    ck_assert_int_eq(a.out.n, 0);
    feed(&a, rmsg(ACK, 2, 1, 2 * RX_US + 7, g, hop, GOT, 0));
    feed(&a, timer_at(TIMER_RETX, 3 * RX_US));
    ck_assert_int_eq(a.out.n, 0);
    tnode_fini(&a);

    /* Without retransmit the token carries no hop and nothing is armed. */
    struct tnode o;
    tnode_init(&o, 1, 3);
    o.env.incarnation = 1;
    ck_assert_int_eq(OPS->init(o.state, &o.env), 0);
    feed(&o, ev_at(EV_START, 0));
    ck_assert_int_eq(only_token(&o, 2)->f[2], 0);
    for (int i = 0; i < o.out.n; i++)
        ck_assert(o.out.a[i].kind != ACT_SET_TIMER || o.out.a[i].timer_id != TIMER_RETX);
    tnode_fini(&o);
}
END_TEST

/* A random shape with retransmit on or off (timeout as the configuration
 * computes it): 3..7 nodes, an idle hold, a reordering network. Half the
 * runs have no failure detector, the others one slower than any partition
 * below. token_timeout 0 is the derived default (200 ms and idle laps). */
static void rx_shape(struct sim_config *cfg, struct dl_rng *pick, uint64_t seed, bool retx,
                     int64_t token_timeout)
{
    sim_config_defaults(cfg);
    cfg->ops = OPS;
    cfg->seed = seed;
    cfg->env.n = 3 + (int)dl_rng_below(pick, 5);
    cfg->env.token_timeout_us = token_timeout;
    cfg->env.token_idle_hold_us = 100 + (int64_t)dl_rng_below(pick, 900);
    cfg->requests = 4 + (int)dl_rng_below(pick, 5);
    cfg->cs_time_us = 200 + (int64_t)dl_rng_below(pick, 800);
    cfg->think_time_us = (int64_t)dl_rng_below(pick, 1000);
    cfg->delay_us = 10 + (int64_t)dl_rng_below(pick, 200);
    cfg->jitter_us = 1 + (int64_t)dl_rng_below(pick, 300);
    cfg->fencing = true;
    rx_retransmit(cfg, seed, retx);
}

/* Everything granted once, safely, one token. Unless `regenerated` is
 * given, no stale entry either; with it, an entry the resource refused (a
 * regeneration superseded its token: refused on entry or its write refused)
 * is allowed and the run counted there. */
static void ring_expect_done(const struct sim_config *cfg, const struct sim_result *res,
                           uint64_t seed, const char *what, int *regenerated)
{
    ck_assert_msg(res->safe && res->live && res->completed && res->pending == 0,
                  "%s, seed %llu (n %d): %s", what, (unsigned long long)seed, cfg->env.n,
                  res->violation);
    ck_assert_int_eq(res->counter, (int64_t)res->exits);
    ck_assert_int_le(res->max_valid_tokens, 1);
    if (regenerated)
        *regenerated += res->fenced > 0;
    uint64_t all = (uint64_t)cfg->env.n * (uint64_t)cfg->requests;
    ck_assert_msg(res->requests == all && res->exits + res->fenced == all &&
                      (res->fenced == 0 ? res->cs_entries == all : regenerated != NULL),
                  "%s, seed %llu (n %d): %llu requests, %llu entries, %llu exits, %llu fenced",
                  what, (unsigned long long)seed, cfg->env.n, (unsigned long long)res->requests,
                  (unsigned long long)res->cs_entries, (unsigned long long)res->exits,
                  (unsigned long long)res->fenced);
}

/* The lesson. A partition shorter than the failure timeout swallows the
 * token. The ring's own remedy is regeneration after token_timeout; with a
 * token_timeout of 1 s and a run of 500 ms, without retransmit the run does
 * not finish; with it, the handoff is probed and the token sent again after
 * the heal, and the same schedules finish. With the default timeout both
 * finish, the retransmitting ring much sooner. Found (200 schedules): 198
 * stall with the long timeout (in two the cut fell between handoffs);
 * with the default one the runs end after 229 ms on average without
 * retransmit, 56 ms with it. */
START_TEST(test_rx_partition)
{
    int stalled = 0;
    int64_t end_without = 0, end_with = 0;
    for (uint64_t seed = 1; seed <= RX_SEEDS; seed++) {
        for (int variant = 0; variant < 4; variant++) {
            bool retx = variant & 1, long_timeout = variant < 2;
            struct dl_rng pick;
            dl_rng_seed(&pick, seed ^ 0x9a27ULL);
            struct sim_config cfg;
            struct sim_fault f[2];
            rx_shape(&cfg, &pick, seed, retx, long_timeout ? 1000000 : 0);
            rx_partition(f, &pick, cfg.env.n);
            cfg.faults = f;
            cfg.nfaults = 2;
            if (long_timeout)
                cfg.max_time_us = 500000;
            struct sim_result res;
            ck_assert_int_eq(sim_run(&cfg, &res), 0);
            ck_assert_msg(res.safe, "seed %llu: %s", (unsigned long long)seed, res.violation);
            if (retx)
                ring_expect_done(&cfg, &res, seed, "partition, retransmit", NULL);
            else if (long_timeout)
                stalled += !res.completed;
            else
                ck_assert_msg(res.completed, "seed %llu: %s", (unsigned long long)seed,
                              res.violation);
            if (!long_timeout)
                *(retx ? &end_with : &end_without) += res.end_us;
        }
    }
    ck_assert_int_ge(stalled, RX_SEEDS * 9 / 10);
    ck_assert_int_lt(end_with * 2, end_without);
}
END_TEST

/* 10% of all messages lost, default token timeout (about 200 ms): with
 * retransmit every schedule finishes, with one token. A handoff whose
 * probes or answers are lost round after round can outlast the lost-token
 * timeout (with a failure detector the retransmit timeout is 50 ms here, a
 * quarter of it): then the ring regenerates, as it would without
 * retransmit, and the resource refuses the write of the entry the new
 * generation superseded. Found: 3 of 200 schedules (23 of 5,000), all
 * with the 50 ms retransmit timeout. */
START_TEST(test_rx_loss)
{
    int regenerated = 0;
    for (uint64_t seed = 1; seed <= RX_SEEDS; seed++) {
        struct dl_rng pick;
        dl_rng_seed(&pick, seed ^ 0x1055ULL);
        struct sim_config cfg;
        rx_shape(&cfg, &pick, seed, true, 0);
        cfg.loss = 0.1;
        struct sim_result res;
        ck_assert_int_eq(sim_run(&cfg, &res), 0);
        int before = regenerated;
        ring_expect_done(&cfg, &res, seed, "10% loss, retransmit", &regenerated);
        ck_assert(regenerated == before || cfg.failure_timeout_us > 0);
    }
    ck_assert_int_le(regenerated, RX_SEEDS / 10);
}
END_TEST

/* Crashes and restarts on top of 5% loss, with retransmit: safe, live. */
START_TEST(test_rx_loss_and_crashes)
{
    for (uint64_t seed = 1; seed <= RX_SEEDS; seed++) {
        struct dl_rng pick;
        dl_rng_seed(&pick, seed ^ 0xc4a5ULL);
        struct sim_config cfg;
        rx_shape(&cfg, &pick, seed, true, 0);
        cfg.failure_timeout_us =
            cfg.delay_us + cfg.jitter_us + 1 + (int64_t)dl_rng_below(&pick, 3000);
        cfg.loss = 0.05;
        cfg.crash_prob = 0.05;
        cfg.restart_after_us = 1 + (int64_t)dl_rng_below(&pick, 8000);
        struct sim_result res;
        ck_assert_int_eq(sim_run(&cfg, &res), 0);
        ck_assert_msg(res.safe && res.live && res.completed, "seed %llu (n %d): %s",
                      (unsigned long long)seed, cfg.env.n, res.violation);
        ck_assert_int_eq(res.counter, (int64_t)res.exits);
        ck_assert_int_le(res.max_valid_tokens, 1);
    }
}
END_TEST

static Suite *token_ring_suite(void)
{
    Suite *s = suite_create("token_ring");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ops_table);
    tcase_add_test(tc, test_holder_enters_when_it_wants);
    tcase_add_test(tc, test_idle_holder_passes_on);
    tcase_add_test(tc, test_skips_down_successors);
    tcase_add_test(tc, test_stale_token_discarded);
    tcase_add_test(tc, test_holder_drops_its_token_for_a_newer_one);
    tcase_add_test(tc, test_regeneration_after_timeout);
    tcase_add_test(tc, test_holder_never_suspects_itself);
    tcase_add_test(tc, test_idle_hold);
    tcase_add_test(tc, test_default_timeout);
    tcase_add_test(tc, test_start_up_is_not_a_lost_token);
    tcase_add_test(tc, test_extreme_generations);
    suite_add_tcase(s, tc);
    TCase *ff = tcase_create("sim_failure_free");
    tcase_add_test(ff, test_sim_failure_free_full_load);
    tcase_add_test(ff, test_sim_failure_free_light_load);
    tcase_set_timeout(ff, 60);
    suite_add_tcase(s, ff);
    TCase *cr = tcase_create("sim_crashes");
    tcase_add_test(cr, test_sim_crash_holder);
    tcase_add_test(cr, test_sim_crash_holder_quick_restart);
    tcase_add_test(cr, test_sim_random_crashes);
    tcase_add_test(cr, test_sim_random_crashes_quick_restart);
    tcase_add_test(cr, test_sim_crash_holder_late_restart);
    tcase_add_test(cr, test_sim_random_crashes_late_restart);
    tcase_set_timeout(cr, 60);
    suite_add_tcase(s, cr);
    TCase *pz = tcase_create("sim_pause");
    tcase_add_test(pz, test_sim_pause_holder_fencing);
    tcase_add_test(pz, test_sim_pause_holder_no_fencing);
    tcase_set_timeout(pz, 60);
    suite_add_tcase(s, pz);
    TCase *rx = tcase_create("retransmit");
    tcase_add_test(rx, test_rx_duplicate_token);
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
    SRunner *sr = srunner_create(token_ring_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
