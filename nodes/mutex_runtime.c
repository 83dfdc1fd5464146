/* The mutex workload: request -> hold cs_time -> think -> ... and the
 * critical resource the node touches while it holds the critical section
 * (TR_ENTER / TR_EXIT, written ahead of the resource: see do_release).
 *
 * Deferred work: a grant, a release or the next request is not served
 * inside the step that caused it but flagged (release_now, request_now)
 * and served by settle, between steps. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/util.h"
#include "nodes/runtime_int.h"

enum wl_state { WL_IDLE = 0, WL_THINKING, WL_WAITING, WL_IN_CS, WL_DONE };

/* Kill points of the entry and the exit of a critical section (see
 * kill_point), numbered in the order the steps run. */
enum kp_phase { KP_NONE = 0, KP_ENTER, KP_EXIT };

/* The workload's timers. */
#define MX_TIMER_CS_END (RT_TIMER_WL + 0)
#define MX_TIMER_THINK (RT_TIMER_WL + 1)

struct mutex_work {
    bool competes, started, stop_requested;
    enum wl_state wl;
    int64_t requests_left;
    int64_t cs_counter; /* the value read from the resource on entry */
    int64_t cs_key;
    int64_t cs_gen;     /* the fencing generation of this entry, -1 if none */
    bool cs_fenced;     /* the resource refused the entry */
    bool fencing;
    bool release_now, request_now;
    int64_t cs_seq;     /* critical sections entered by this incarnation */
    struct {
        int phase, step;
        int64_t cs;
    } kill_at; /* DISTLAB_TEST_KILL, phase KP_NONE when unset */
};

static struct mutex_work *work(const struct node *nd) { return nd->work; }

/* ---- kill points (tests only) ----
 *
 * DISTLAB_TEST_KILL="NODE:PHASE:STEP:CS" makes the first life of node NODE
 * SIGKILL itself at step STEP of the entry (PHASE "enter") or exit ("exit")
 * of its CS-th critical section, so a test can crash a node between any
 * two writes of those sequences and check that the verdict stays true. One
 * predictable branch when unset. */
static void kill_points_init(struct node *nd)
{
    struct mutex_work *m = work(nd);
    const char *v = getenv("DISTLAB_TEST_KILL");
    int node, step;
    long long cs;
    char phase[8];
    if (!v || sscanf(v, "%d:%7[a-z]:%d:%lld", &node, phase, &step, &cs) != 4 ||
        node != nd->args.id || nd->args.incarnation != 1)
        return;
    m->kill_at.phase = strcmp(phase, "enter") == 0 ? KP_ENTER
                       : strcmp(phase, "exit") == 0 ? KP_EXIT
                                                    : KP_NONE;
    m->kill_at.step = step;
    m->kill_at.cs = cs;
}

static void kill_point(const struct mutex_work *m, int phase, int step)
{
    if (__builtin_expect(m->kill_at.phase == phase, 0) && m->kill_at.step == step &&
        m->kill_at.cs == m->cs_seq)
        raise(SIGKILL);
}

/* ---- the workload: request -> hold cs_time -> think -> ... ---- */

static void workload_finish(struct node *nd)
{
    work(nd)->wl = WL_DONE;
    atomic_store(&nd->me->workload_done, 1);
    rt_trace(nd, TR_DONE, 0, 0, 0, 0, atomic_load(&nd->me->requests_done));
    rt_send_runtime(nd, 0, MSG_RT_DONE, atomic_load(&nd->me->requests_done));
}

static void workload_next(struct node *nd)
{
    struct mutex_work *m = work(nd);
    if (m->requests_left <= 0 || m->stop_requested) {
        if (m->wl != WL_DONE)
            workload_finish(nd);
        return;
    }
    int64_t think = nd->run->params.think_time_us;
    if (think <= 0) {
        m->request_now = true;
        m->wl = WL_THINKING;
    } else {
        m->wl = WL_THINKING;
        nd->deadline[MX_TIMER_THINK] = runtime_deadline(rt_now(nd), think);
    }
}

static void workload_start(struct node *nd)
{
    struct mutex_work *m = work(nd);
    if (m->started)
        return;
    m->started = true;
    int64_t done = atomic_load(&nd->me->requests_done);
    m->requests_left = m->competes ? nd->run->params.requests - done : 0;
    if (m->requests_left <= 0) {
        workload_finish(nd);
        return;
    }
    /* The first request goes out at once; think time separates the rest. */
    m->wl = WL_THINKING;
    m->request_now = true;
}

static void do_request(struct node *nd)
{
    work(nd)->wl = WL_WAITING;
    atomic_fetch_add_explicit(&nd->me->cnt[CNT_REQUESTS], 1, memory_order_relaxed);
    rt_trace(nd, TR_REQUEST, 0, 0, 0, 0, 0);
    struct algo_event ev = {.kind = EV_REQUEST, .now_us = rt_now(nd)};
    rt_step(nd, &ev);
}

/* Leave the critical section: finish the slow read-modify-write, then tell
 * the algorithm. The exit record is the resource's write-ahead log entry:
 * it is traced first, carrying the value about to be written and the
 * outcome the resource predicts, then the write is made. A node killed
 * between the two still holds the resource, and the supervisor's
 * shm_resource_drop completes the write its last record announced; a node
 * killed before the record wrote nothing. So the trace and the counter agree
 * at every kill point. The prediction is certain for a refusal (fencing);
 * if the write turns out refused after all (superseded meanwhile), the
 * record is corrected in place (aux 2, nothing written). The one window
 * left: a newer generation supersedes the node between the prediction and
 * the write, and the node is killed before the correction; the record then
 * claims a write the resource refused. It needs a concurrent entry within
 * those few instructions and a kill right after them. */
static void do_release(struct node *nd)
{
    struct mutex_work *m = work(nd);
    kill_point(m, KP_EXIT, 0);
    int expect = m->cs_fenced ? RES_FENCED
                              : shm_resource_predict_exit(nd->run, nd->args.id, m->cs_gen,
                                                          m->fencing);
    bool refused = expect == RES_FENCED;
    struct trace_rec *rec = rt_trace(nd, TR_EXIT, 0, 0, m->cs_key, refused ? RES_FENCED : 0,
                                     refused ? 0 : m->cs_counter + 1);
    if (rec)
        rec->b = m->cs_gen;
    kill_point(m, KP_EXIT, 1);
    atomic_store(&nd->me->in_cs, 0);
    int rc = m->cs_fenced ? RES_FENCED
                          : shm_resource_exit(nd->run, nd->args.id, m->cs_gen, m->fencing,
                                              m->cs_counter);
    kill_point(m, KP_EXIT, 2);
    if (rec && (rc == RES_FENCED) != refused) {
        rec->aux = rc == RES_FENCED ? RES_FENCED : 0;
        rec->a = rc == RES_FENCED ? 0 : m->cs_counter + 1;
    }
    kill_point(m, KP_EXIT, 3);
    atomic_fetch_add(&nd->me->requests_done, 1);
    atomic_fetch_add_explicit(&nd->me->cnt[CNT_CS_ENTRIES], 1, memory_order_relaxed);
    m->requests_left--;
    struct algo_event ev = {.kind = EV_RELEASE, .now_us = rt_now(nd)};
    m->wl = WL_IDLE;
    rt_step(nd, &ev);
    kill_point(m, KP_EXIT, 4);
    workload_next(nd);
}

/* Enter: traced first with the outcome the resource predicts (a refusal is
 * certain; the rest is corrected in place if the entry turns out otherwise),
 * then the resource is taken. A node killed between the two never held the
 * resource; one killed after it is released by the supervisor. */
static void mutex_enter_cs(struct node *nd, int64_t key, int64_t gen)
{
    struct mutex_work *m = work(nd);
    if (m->wl != WL_WAITING)
        return; /* the core granted what the application did not ask for */
    m->cs_seq++;
    kill_point(m, KP_ENTER, 0);
    int expect = shm_resource_predict_enter(nd->run, nd->args.id, gen, m->fencing);
    struct trace_rec *rec = rt_trace(nd, TR_ENTER, 0, 0, key, expect, 0);
    if (rec)
        rec->b = gen;
    kill_point(m, KP_ENTER, 1);
    int64_t counter;
    int rc = shm_resource_enter(nd->run, nd->args.id, gen, m->fencing, &counter);
    kill_point(m, KP_ENTER, 2);
    if (rec && rc != expect)
        rec->aux = rc;
    if (rc == RES_VIOLATION)
        fprintf(stderr, "node %d: VIOLATION: entered the critical section while another "
                        "node was in it\n", nd->args.id);
    atomic_store(&nd->me->in_cs, 1);
    m->cs_counter = counter;
    m->cs_key = key;
    m->cs_gen = gen;
    m->cs_fenced = rc == RES_FENCED;
    m->wl = WL_IN_CS;
    kill_point(m, KP_ENTER, 3);
    /* A refused entry does no work: the node leaves at once. */
    int64_t hold = m->cs_fenced ? 0 : nd->run->params.cs_time_us;
    if (hold <= 0)
        m->release_now = true;
    else
        nd->deadline[MX_TIMER_CS_END] = runtime_deadline(rt_now(nd), hold);
}

/* ---- the hooks ---- */

static int mutex_init(struct node *nd, char *err)
{
    struct mutex_work *m = calloc(1, sizeof *m);
    if (!m)
        return dl_seterr(err, ENOMEM, "out of memory");
    nd->work = m;
    kill_points_init(nd);
    m->fencing = nd->run->params.fencing != 0;
    m->competes = nd->ops->competes(&nd->env, nd->args.id) &&
                  nd->run->params.requester[nd->args.id];
    return 0;
}

static void mutex_fini(struct node *nd)
{
    free(nd->work);
    nd->work = NULL;
}

static void mutex_timer(struct node *nd, int slot)
{
    if (RT_TIMER_WL + slot == MX_TIMER_CS_END)
        work(nd)->release_now = true;
    else if (RT_TIMER_WL + slot == MX_TIMER_THINK)
        work(nd)->request_now = true;
}

/* Work deferred so that a step never runs inside another step's actions.
 * Bounded: a node that grants itself (a lone token holder, a competing
 * coordinator) with cs_time and think_time 0 would otherwise request, enter
 * and leave forever without returning to its loop - no heartbeats, no
 * signals, no messages. After SETTLE_MAX rounds the rest becomes a timer
 * due at once, which the loop serves after everything else that is ready. */
#define SETTLE_MAX 64

static void mutex_settle(struct node *nd)
{
    struct mutex_work *m = work(nd);
    for (int round = 0; m->release_now || m->request_now; round++) {
        if (round == SETTLE_MAX) {
            int64_t now = rt_now(nd);
            if (m->release_now)
                nd->deadline[MX_TIMER_CS_END] = now;
            if (m->request_now)
                nd->deadline[MX_TIMER_THINK] = now;
            m->release_now = m->request_now = false;
            break;
        }
        if (m->release_now) {
            m->release_now = false;
            if (m->wl == WL_IN_CS)
                do_release(nd);
        } else {
            m->request_now = false;
            if (m->wl == WL_THINKING && !m->stop_requested)
                do_request(nd);
            else if (m->stop_requested && m->wl != WL_DONE && m->wl != WL_IN_CS &&
                     m->wl != WL_WAITING)
                workload_finish(nd);
        }
    }
}

/* A graceful stop leaves the critical section first. */
static void mutex_stop(struct node *nd)
{
    struct mutex_work *m = work(nd);
    if (m->wl == WL_IN_CS) {
        nd->deadline[MX_TIMER_CS_END] = 0;
        m->stop_requested = true;
        do_release(nd);
    }
}

static void mutex_describe(const struct node *nd, char *buf, size_t cap)
{
    const struct mutex_work *m = work(nd);
    snprintf(buf, cap, "workload %d, requests left %lld, done %lld", (int)m->wl,
             (long long)m->requests_left, (long long)atomic_load(&nd->me->requests_done));
}

const struct rt_workload rt_workload_mutex = {
    .name = "mutex",
    .init = mutex_init,
    .fini = mutex_fini,
    .cluster_up = workload_start,
    .timer = mutex_timer,
    .enter_cs = mutex_enter_cs,
    .settle = mutex_settle,
    .stop = mutex_stop,
    .describe = mutex_describe,
};
