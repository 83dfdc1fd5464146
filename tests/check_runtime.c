/* The node runtime's timers, in process: a node built by hand around a
 * tiny core (no queues, no shared segment, no timerfd: the runtime's
 * bookkeeping only), stepped and served its timers directly.
 *
 * The last core timer id works; one out of range is never taken, touches
 * no timer of the workload or of the failure detector, and is loud: a BUG
 * line in the node's log and a counter. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/util.h"
#include "nodes/algo.h"
#include "nodes/runtime_int.h"

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

int main(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("timers");
    tcase_add_test(tc, test_last_timer_id_fires);
    tcase_add_test(tc, test_workload_timers_are_not_the_cores);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
