/* The centralized coordinator core, fed events by hand and by a small
 * seeded in-process cluster (no processes, no clock). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/algo.h"
#include "nodes/rng.h"

#define N_MAX 16

enum { REQ = MSG_RANGE_CENTRALIZED + 1, GRANT, RELEASE };

/* A node under test and the actions of its last step. */
struct tnode {
    void *state;
    struct algo_actions out;
    struct algo_env env;
};

static void tnode_init(struct tnode *t, int id, int n, int coord, bool competes)
{
    t->state = calloc(1, algo_centralized.state_size);
    ck_assert_ptr_nonnull(t->state);
    ck_assert_int_eq(algo_actions_init(&t->out, n), 0);
    t->env = (struct algo_env){.id = id, .n = n, .seed = 1, .coordinator = coord,
                               .coordinator_competes = competes};
    ck_assert_int_eq(algo_centralized.init(t->state, &t->env), 0);
}

static void tnode_fini(struct tnode *t)
{
    free(t->state);
    algo_actions_free(&t->out);
}

static void feed(struct tnode *t, struct algo_event ev)
{
    algo_actions_clear(&t->out);
    algo_centralized.step(t->state, &ev, &t->out);
    ck_assert_int_eq(t->out.overflow, 0);
}

static struct algo_event msg(int type, int from, int to, int64_t seq)
{
    struct algo_event ev = {.kind = EV_MESSAGE};
    ev.msg.type = (uint16_t)type;
    ev.msg.from = (uint16_t)from;
    ev.msg.to = (uint16_t)to;
    ev.msg.f[0] = seq;
    return ev;
}

static int count_kind(const struct tnode *t, int kind)
{
    int c = 0;
    for (int i = 0; i < t->out.n; i++)
        c += (int)t->out.a[i].kind == kind;
    return c;
}

/* The only send of the last step, checked for type and destination. */
static const struct algo_msg *only_send(const struct tnode *t, int type, int to)
{
    ck_assert_int_eq(count_kind(t, ACT_SEND), 1);
    for (int i = 0; i < t->out.n; i++)
        if (t->out.a[i].kind == ACT_SEND) {
            ck_assert_int_eq(t->out.a[i].msg.type, type);
            ck_assert_int_eq(t->out.a[i].msg.to, to);
            return &t->out.a[i].msg;
        }
    return NULL;
}

START_TEST(test_roles)
{
    struct tnode c, k;
    tnode_init(&c, 1, 3, 1, false);
    tnode_init(&k, 2, 3, 1, false);
    feed(&c, (struct algo_event){.kind = EV_START});
    ck_assert_int_eq(c.out.a[0].kind, ACT_ROLE);
    ck_assert_int_eq(c.out.a[0].role, ROLE_COORDINATOR);
    feed(&k, (struct algo_event){.kind = EV_START});
    ck_assert_int_eq(k.out.a[0].role, ROLE_CLIENT);
    ck_assert(algo_centralized.competes(&k.env, 2));
    ck_assert(!algo_centralized.competes(&c.env, 1));
    ck_assert_double_eq(algo_centralized.theory_messages_per_cs(&c.env), 3.0);
    c.env.coordinator_competes = true;
    ck_assert_double_eq_tol(algo_centralized.theory_messages_per_cs(&c.env), 2.0, 1e-9);
    tnode_fini(&c);
    tnode_fini(&k);
}
END_TEST

START_TEST(test_fifo_grants_after_release_only)
{
    struct tnode c;
    tnode_init(&c, 1, 5, 1, false);
    /* Requests arrive from 3, then 2, then 5, then 4. */
    feed(&c, msg(REQ, 3, 1, 1));
    ck_assert_int_eq(only_send(&c, GRANT, 3)->f[0], 1);
    int order[] = {2, 5, 4};
    for (int i = 0; i < 3; i++) {
        feed(&c, msg(REQ, order[i], 1, 1));
        ck_assert_int_eq(count_kind(&c, ACT_SEND), 0); /* nobody is granted while 3 holds it */
    }
    /* A release from a node that does not hold the CS grants nothing. */
    feed(&c, msg(RELEASE, 2, 1, 1));
    ck_assert_int_eq(count_kind(&c, ACT_SEND), 0);
    /* A stale release (old seq) from the holder grants nothing either. */
    feed(&c, msg(RELEASE, 3, 1, 0));
    ck_assert_int_eq(count_kind(&c, ACT_SEND), 0);
    int holder = 3;
    for (int i = 0; i < 3; i++) {
        feed(&c, msg(RELEASE, holder, 1, 1));
        only_send(&c, GRANT, order[i]);
        holder = order[i];
    }
    feed(&c, msg(RELEASE, holder, 1, 1));
    ck_assert_int_eq(count_kind(&c, ACT_SEND), 0);
    tnode_fini(&c);
}
END_TEST

START_TEST(test_client_side)
{
    struct tnode k;
    tnode_init(&k, 2, 3, 1, false);
    feed(&k, (struct algo_event){.kind = EV_REQUEST});
    int64_t seq = only_send(&k, REQ, 1)->f[0];
    /* A second request while one is outstanding sends nothing. */
    feed(&k, (struct algo_event){.kind = EV_REQUEST});
    ck_assert_int_eq(k.out.n, 0);
    /* A grant for another seq is handed back, not used. */
    feed(&k, msg(GRANT, 1, 2, seq + 7));
    ck_assert_int_eq(count_kind(&k, ACT_ENTER_CS), 0);
    only_send(&k, RELEASE, 1);
    feed(&k, msg(GRANT, 1, 2, seq));
    ck_assert_int_eq(count_kind(&k, ACT_ENTER_CS), 1);
    feed(&k, (struct algo_event){.kind = EV_RELEASE});
    ck_assert_int_eq(only_send(&k, RELEASE, 1)->f[0], seq);
    tnode_fini(&k);
}
END_TEST

START_TEST(test_holder_down_releases)
{
    struct tnode c;
    tnode_init(&c, 1, 4, 1, false);
    feed(&c, msg(REQ, 2, 1, 1));
    only_send(&c, GRANT, 2);
    feed(&c, msg(REQ, 3, 1, 1));
    feed(&c, msg(REQ, 4, 1, 1));
    /* 3 goes down while waiting, then the holder 2 goes down: 4 is next. */
    feed(&c, (struct algo_event){.kind = EV_PEER_DOWN, .peer = 3});
    ck_assert_int_eq(count_kind(&c, ACT_SEND), 0);
    feed(&c, (struct algo_event){.kind = EV_PEER_DOWN, .peer = 2});
    only_send(&c, GRANT, 4);
    tnode_fini(&c);
}
END_TEST

START_TEST(test_coordinator_competes)
{
    struct tnode c;
    tnode_init(&c, 1, 3, 1, true);
    feed(&c, (struct algo_event){.kind = EV_REQUEST});
    ck_assert_int_eq(count_kind(&c, ACT_ENTER_CS), 1);
    ck_assert_int_eq(count_kind(&c, ACT_SEND), 0);
    feed(&c, msg(REQ, 2, 1, 1));
    ck_assert_int_eq(count_kind(&c, ACT_SEND), 0);
    feed(&c, (struct algo_event){.kind = EV_RELEASE});
    only_send(&c, GRANT, 2);
    tnode_fini(&c);
}
END_TEST

/* ---- a seeded in-process cluster: random delivery order ---- */

struct cluster {
    struct tnode node[N_MAX + 1];
    int n;
    struct algo_msg *q; /* messages in flight */
    int qlen, qcap;
    int in_cs, entries, sends;
    int left[N_MAX + 1];
    bool wanting[N_MAX + 1];
};

static void collect(struct cluster *cl, int id)
{
    struct tnode *t = &cl->node[id];
    for (int i = 0; i < t->out.n; i++) {
        struct algo_action *a = &t->out.a[i];
        if (a->kind == ACT_SEND) {
            if (cl->qlen == cl->qcap) {
                cl->qcap = cl->qcap ? cl->qcap * 2 : 64;
                cl->q = realloc(cl->q, (size_t)cl->qcap * sizeof *cl->q);
                ck_assert_ptr_nonnull(cl->q);
            }
            cl->q[cl->qlen++] = a->msg;
            cl->sends++;
        } else if (a->kind == ACT_ENTER_CS) {
            /* The safety invariant, checked at every step. */
            ck_assert_msg(cl->in_cs == 0, "node %d entered while node %d is in the CS", id,
                          cl->in_cs);
            ck_assert_msg(cl->wanting[id], "node %d entered without asking", id);
            cl->in_cs = id;
            cl->entries++;
        }
    }
}

static void run_cluster(int n, int requests, uint64_t seed, bool competes)
{
    struct cluster cl;
    memset(&cl, 0, sizeof cl);
    cl.n = n;
    struct dl_rng rng;
    dl_rng_seed(&rng, seed);
    int expected = 0;
    for (int i = 1; i <= n; i++) {
        tnode_init(&cl.node[i], i, n, 1, competes);
        feed(&cl.node[i], (struct algo_event){.kind = EV_START});
        cl.left[i] = algo_centralized.competes(&cl.node[i].env, i) ? requests : 0;
        expected += cl.left[i];
    }
    for (int steps = 0; steps < 1000000; steps++) {
        /* Choose an event: deliver a random in-flight message, release the
         * CS, or make a new request. */
        int choice = (int)dl_rng_below(&rng, 3);
        if (choice == 0 && cl.qlen > 0) {
            int i = (int)dl_rng_below(&rng, (uint64_t)cl.qlen);
            struct algo_msg m = cl.q[i];
            cl.q[i] = cl.q[--cl.qlen];
            struct algo_event ev = {.kind = EV_MESSAGE, .msg = m};
            feed(&cl.node[m.to], ev);
            collect(&cl, m.to);
        } else if (choice == 1 && cl.in_cs) {
            int id = cl.in_cs;
            cl.in_cs = 0;
            cl.wanting[id] = false;
            cl.left[id]--;
            feed(&cl.node[id], (struct algo_event){.kind = EV_RELEASE});
            collect(&cl, id);
        } else {
            int id = 1 + (int)dl_rng_below(&rng, (uint64_t)n);
            if (cl.left[id] > 0 && !cl.wanting[id]) {
                cl.wanting[id] = true;
                feed(&cl.node[id], (struct algo_event){.kind = EV_REQUEST});
                collect(&cl, id);
            }
        }
        if (cl.entries == expected && cl.in_cs == 0 && cl.qlen == 0)
            break;
    }
    ck_assert_msg(cl.entries == expected, "seed %llu: %d of %d entries (deadlock?)",
                  (unsigned long long)seed, cl.entries, expected);
    /* Exactly 3 messages per CS when the coordinator only coordinates. */
    if (!competes)
        ck_assert_int_eq(cl.sends, 3 * expected);
    else
        ck_assert_int_eq(cl.sends, 3 * (expected - requests));
    for (int i = 1; i <= n; i++)
        tnode_fini(&cl.node[i]);
    free(cl.q);
}

START_TEST(test_cluster_random_orders)
{
    for (uint64_t seed = 1; seed <= 300; seed++)
        run_cluster(2 + (int)(seed % 7), 5, seed, seed % 3 == 0);
}
END_TEST

static Suite *centralized_suite(void)
{
    Suite *s = suite_create("centralized");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_roles);
    tcase_add_test(tc, test_fifo_grants_after_release_only);
    tcase_add_test(tc, test_client_side);
    tcase_add_test(tc, test_holder_down_releases);
    tcase_add_test(tc, test_coordinator_competes);
    suite_add_tcase(s, tc);
    TCase *cl = tcase_create("cluster");
    tcase_add_test(cl, test_cluster_random_orders);
    tcase_set_timeout(cl, 60);
    suite_add_tcase(s, cl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(centralized_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
