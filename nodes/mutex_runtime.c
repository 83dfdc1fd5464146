/* The mutex workload: request -> hold cs_time -> think -> ... and the
 * critical resource the node touches while it holds the critical section
 * (TR_ENTER / TR_EXIT, written ahead of the resource: see rt_do_release).
 *
 * Deferred work: a grant, a release or the next request is not served
 * inside the step that caused it but flagged (release_now, request_now)
 * and served by settle, between steps. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/runtime_int.h"

/* ---- kill points (tests only) ----
 *
 * DISTLAB_TEST_KILL="NODE:PHASE:STEP:CS" makes the first life of node NODE
 * SIGKILL itself at step STEP of the entry (PHASE "enter") or exit ("exit")
 * of its CS-th critical section, so a test can crash a node between any
 * two writes of those sequences and check that the verdict stays true. One
 * predictable branch when unset. */
void rt_kill_points_init(struct node *nd)
{
    const char *v = getenv("DISTLAB_TEST_KILL");
    int node, step;
    long long cs;
    char phase[8];
    if (!v || sscanf(v, "%d:%7[a-z]:%d:%lld", &node, phase, &step, &cs) != 4 ||
        node != nd->args.id || nd->args.incarnation != 1)
        return;
    nd->kill_at.phase = strcmp(phase, "enter") == 0 ? KP_ENTER
                       : strcmp(phase, "exit") == 0 ? KP_EXIT
                                                    : KP_NONE;
    nd->kill_at.step = step;
    nd->kill_at.cs = cs;
}

static void kill_point(const struct node *nd, int phase, int step)
{
    if (__builtin_expect(nd->kill_at.phase == phase, 0) && nd->kill_at.step == step &&
        nd->kill_at.cs == nd->cs_seq)
        raise(SIGKILL);
}

/* ---- the workload: request -> hold cs_time -> think -> ... ---- */

static void workload_finish(struct node *nd)
{
    nd->wl = WL_DONE;
    atomic_store(&nd->me->workload_done, 1);
    rt_trace(nd, TR_DONE, 0, 0, 0, 0, atomic_load(&nd->me->requests_done));
    rt_send_runtime(nd, 0, MSG_RT_DONE, atomic_load(&nd->me->requests_done));
}

static void workload_next(struct node *nd)
{
    if (nd->requests_left <= 0 || nd->stop_requested) {
        if (nd->wl != WL_DONE)
            workload_finish(nd);
        return;
    }
    int64_t think = nd->run->params.think_time_us;
    if (think <= 0) {
        nd->request_now = true;
        nd->wl = WL_THINKING;
    } else {
        nd->wl = WL_THINKING;
        nd->deadline[RT_TIMER_THINK] = runtime_deadline(rt_now(nd), think);
    }
}

void rt_workload_start(struct node *nd)
{
    if (nd->started)
        return;
    nd->started = true;
    int64_t done = atomic_load(&nd->me->requests_done);
    nd->requests_left = nd->competes ? nd->run->params.requests - done : 0;
    if (nd->requests_left <= 0) {
        workload_finish(nd);
        return;
    }
    /* The first request goes out at once; think time separates the rest. */
    nd->wl = WL_THINKING;
    nd->request_now = true;
}

static void do_request(struct node *nd)
{
    nd->wl = WL_WAITING;
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
void rt_do_release(struct node *nd)
{
    kill_point(nd, KP_EXIT, 0);
    int expect = nd->cs_fenced ? RES_FENCED
                              : shm_resource_predict_exit(nd->run, nd->args.id, nd->cs_gen,
                                                          nd->fencing);
    bool refused = expect == RES_FENCED;
    struct trace_rec *rec = rt_trace(nd, TR_EXIT, 0, 0, nd->cs_key, refused ? RES_FENCED : 0,
                                     refused ? 0 : nd->cs_counter + 1);
    if (rec)
        rec->b = nd->cs_gen;
    kill_point(nd, KP_EXIT, 1);
    atomic_store(&nd->me->in_cs, 0);
    int rc = nd->cs_fenced ? RES_FENCED
                          : shm_resource_exit(nd->run, nd->args.id, nd->cs_gen, nd->fencing,
                                              nd->cs_counter);
    kill_point(nd, KP_EXIT, 2);
    if (rec && (rc == RES_FENCED) != refused) {
        rec->aux = rc == RES_FENCED ? RES_FENCED : 0;
        rec->a = rc == RES_FENCED ? 0 : nd->cs_counter + 1;
    }
    kill_point(nd, KP_EXIT, 3);
    atomic_fetch_add(&nd->me->requests_done, 1);
    atomic_fetch_add_explicit(&nd->me->cnt[CNT_CS_ENTRIES], 1, memory_order_relaxed);
    nd->requests_left--;
    struct algo_event ev = {.kind = EV_RELEASE, .now_us = rt_now(nd)};
    nd->wl = WL_IDLE;
    rt_step(nd, &ev);
    kill_point(nd, KP_EXIT, 4);
    workload_next(nd);
}

/* Enter: traced first with the outcome the resource predicts (a refusal is
 * certain; the rest is corrected in place if the entry turns out otherwise),
 * then the resource is taken. A node killed between the two never held the
 * resource; one killed after it is released by the supervisor. */
void rt_enter_cs(struct node *nd, int64_t key, int64_t gen)
{
    if (nd->wl != WL_WAITING)
        return; /* the core granted what the application did not ask for */
    nd->cs_seq++;
    kill_point(nd, KP_ENTER, 0);
    int expect = shm_resource_predict_enter(nd->run, nd->args.id, gen, nd->fencing);
    struct trace_rec *rec = rt_trace(nd, TR_ENTER, 0, 0, key, expect, 0);
    if (rec)
        rec->b = gen;
    kill_point(nd, KP_ENTER, 1);
    int64_t counter;
    int rc = shm_resource_enter(nd->run, nd->args.id, gen, nd->fencing, &counter);
    kill_point(nd, KP_ENTER, 2);
    if (rec && rc != expect)
        rec->aux = rc;
    if (rc == RES_VIOLATION)
        fprintf(stderr, "node %d: VIOLATION: entered the critical section while another "
                        "node was in it\n", nd->args.id);
    atomic_store(&nd->me->in_cs, 1);
    nd->cs_counter = counter;
    nd->cs_key = key;
    nd->cs_gen = gen;
    nd->cs_fenced = rc == RES_FENCED;
    nd->wl = WL_IN_CS;
    kill_point(nd, KP_ENTER, 3);
    /* A refused entry does no work: the node leaves at once. */
    int64_t hold = nd->cs_fenced ? 0 : nd->run->params.cs_time_us;
    if (hold <= 0)
        nd->release_now = true;
    else
        nd->deadline[RT_TIMER_CS_END] = runtime_deadline(rt_now(nd), hold);
}

/* Work deferred so that a step never runs inside another step's actions.
 * Bounded: a node that grants itself (a lone token holder, a competing
 * coordinator) with cs_time and think_time 0 would otherwise request, enter
 * and leave forever without returning to its loop - no heartbeats, no
 * signals, no messages. After SETTLE_MAX rounds the rest becomes a timer
 * due at once, which the loop serves after everything else that is ready. */
#define SETTLE_MAX 64

void rt_workload_settle(struct node *nd)
{
    for (int round = 0; nd->release_now || nd->request_now; round++) {
        if (round == SETTLE_MAX) {
            int64_t now = rt_now(nd);
            if (nd->release_now)
                nd->deadline[RT_TIMER_CS_END] = now;
            if (nd->request_now)
                nd->deadline[RT_TIMER_THINK] = now;
            nd->release_now = nd->request_now = false;
            break;
        }
        if (nd->release_now) {
            nd->release_now = false;
            if (nd->wl == WL_IN_CS)
                rt_do_release(nd);
        } else {
            nd->request_now = false;
            if (nd->wl == WL_THINKING && !nd->stop_requested)
                do_request(nd);
            else if (nd->stop_requested && nd->wl != WL_DONE && nd->wl != WL_IN_CS &&
                     nd->wl != WL_WAITING)
                workload_finish(nd);
        }
    }
}
