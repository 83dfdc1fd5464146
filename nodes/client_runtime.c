/* The client workload of a replicated log, and its servers' workload.
 *
 * A client process (id n + K for client K) submits its share of
 * `[workload] requests` (the total over all clients) to its client core as
 * EV_COMMAND, one operation at a time by default, as a sequential client
 * does (the concurrency of a run comes from its number of clients): the
 * next when the previous is answered, and with a `rate` no sooner than
 * 1/rate s after the previous submission (rate 0: at once). With
 * `[workload] pipeline = K` up to K operations are in flight, never one
 * at or beyond the oldest unanswered + K (what the client core and the
 * servers' session table rely on); those due together are submitted
 * together (EV_COMMAND's "more follow"), so that they leave in one
 * message. Why not an open loop: the client core, too, has at most K
 * operations in flight, and one submitted beyond is refused, so commands
 * paced blindly would turn every slow commit into a refusal that says
 * nothing of the cluster.
 * Commands are the key-value workload (kvload.h: [workload] keys, mix,
 * value_size), each with its unique token "c<K>-<op>". The core reports each
 * operation's outcome with ACT_CLIENT (traced by the runtime); the client
 * is done (TR_DONE, MSG_RT_DONE) when every operation it submitted was
 * answered (ok, fail) or timed out. requests_done in its slot counts
 * those, as a mutex node counts its critical sections, so the supervisor's
 * quota for a client is its share.
 *
 * Submissions are deferred work (settle), never made inside a step. A
 * restarted client goes on after the operations its earlier lives
 * submitted (CNT_REQUESTS in its slot): an operation id is never reused,
 * and what an earlier life left unanswered is not waited for.
 *
 * A server has no workload of its own: it is done as soon as it starts
 * (its work is to serve the clients), like a mutex node that makes no
 * requests. */
#include <errno.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/util.h"
#include "nodes/kvload.h"
#include "nodes/pace.h"
#include "nodes/runtime_int.h"

/* The client's timer: the next paced submission. */
#define CL_TIMER_NEXT (RT_TIMER_WL + 0)
/* Submissions in one settle, beyond a pipelining client's window; the
 * rest (an open loop that fell behind) come from the timer, due at once,
 * after whatever else is ready. */
#define CL_SUBMIT_BATCH 16
/* A client process's nice value (see client_init). */
#define CL_NICE 10

int64_t rt_client_share(int64_t requests, int clients, int k)
{
    return shm_client_quota(requests, clients, k);
}

struct client_work {
    int k;            /* client number, 1..clients */
    struct pace pace;
    int64_t first_op; /* the id of this life's first operation */
    int64_t outstanding, finished;
    uint8_t *answered; /* [pace.total]: operation first_op + i has its outcome */
    int64_t low;       /* the oldest operation without its outcome: first_op + low */
    bool started, done, stopping;
    bool submit_now, finish_now;
    struct kvload load;
    uint8_t cmd[KV_MAX_CMD]; /* the last command submitted */
    uint32_t cmd_len;
    int64_t cmd_op;
};

static struct client_work *cwork(const struct node *nd) { return nd->work; }

static int client_init(struct node *nd, char *err)
{
    struct client_work *c = calloc(1, sizeof *c);
    if (!c)
        return dl_seterr(err, ENOMEM, "out of memory");
    nd->work = c;
    c->k = nd->args.id - nd->env.n;
    /* The clients stand for machines of their own; on this one they
     * share the CPUs with the servers, and 64 of them would take 64
     * shares to the leader's one. Below the servers' priority they still
     * get every CPU the servers leave idle, but an overloaded machine
     * serves the leader first, so offered load beyond what the cluster
     * commits slows the load generator, not the cluster. (Lowering its
     * own priority needs no privilege; a failure changes nothing but the
     * figures.) */
    (void)setpriority(PRIO_PROCESS, 0, CL_NICE);
    const struct shm_params *pr = &nd->run->params;
    kvload_init(&c->load, pr->seed ^ (uint64_t)nd->args.incarnation << 40, c->k, pr->keys, pr->mix,
                pr->value_size);
    double rate = nd->run->params.rate;
    c->pace.interval_us = rate > 0 ? (int64_t)(1e6 / rate) : 0;
    c->pace.window = nd->run->params.pipeline > 1 ? nd->run->params.pipeline : 1;
    if (rate > 0 && c->pace.interval_us < 1)
        c->pace.interval_us = 1;
    return 0;
}

static void client_fini(struct node *nd)
{
    struct client_work *c = cwork(nd);
    if (c)
        free(c->answered);
    free(c);
    nd->work = NULL;
}

static void client_finish(struct node *nd)
{
    struct client_work *c = cwork(nd);
    c->done = true;
    nd->deadline[CL_TIMER_NEXT] = 0;
    int64_t done = atomic_load(&nd->me->requests_done);
    atomic_store(&nd->me->workload_done, 1);
    rt_trace(nd, TR_DONE, 0, 0, 0, 0, done);
    rt_send_runtime(nd, 0, MSG_RT_DONE, done);
}

static void client_start(struct node *nd)
{
    struct client_work *c = cwork(nd);
    if (c->started)
        return;
    c->started = true;
    int64_t share = rt_client_share(nd->run->params.requests, nd->run->params.clients, c->k);
    int64_t before = (int64_t)atomic_load(&nd->me->cnt[CNT_REQUESTS]);
    c->first_op = before + 1;
    c->pace.total = share > before ? share - before : 0;
    c->pace.next_us = rt_now(nd);
    if (c->pace.total > 0) {
        c->answered = calloc((size_t)c->pace.total, 1);
        if (!c->answered) {
            fprintf(stderr, "node %d: out of memory for %lld operations; submitting none\n",
                    nd->args.id, (long long)c->pace.total);
            c->pace.total = 0;
        }
    }
    if (c->pace.total == 0)
        c->finish_now = true;
    else
        c->submit_now = true;
}

/* Operation op, its submission recorded by the pace (pace_take); more:
 * another submission follows at once (EV_COMMAND f[1]). */
static void submit(struct node *nd, int64_t op, bool more)
{
    struct client_work *c = cwork(nd);
    c->cmd_len = kvload_next(&c->load, op, c->cmd);
    c->cmd_op = op;
    c->outstanding++;
    atomic_fetch_add_explicit(&nd->me->cnt[CNT_REQUESTS], 1, memory_order_relaxed);
    struct algo_event ev = {.kind = EV_COMMAND, .now_us = rt_now(nd)};
    ev.msg.from = ev.msg.to = (uint16_t)nd->args.id;
    ev.msg.f[0] = op;
    ev.msg.f[1] = more;
    ev.msg.payload = c->cmd;
    ev.msg.len = c->cmd_len;
    rt_step(nd, &ev);
}

/* Submit the next operation if it is due, or arm the timer for when it
 * will be. A core may answer within the step that submitted (a refusal,
 * say), which makes the next one due at once: this goes round, at most
 * CL_SUBMIT_BATCH times; the rest comes from the timer, due at once,
 * after whatever else is ready. */
static void client_settle(struct node *nd)
{
    struct client_work *c = cwork(nd);
    int limit = CL_SUBMIT_BATCH + c->pace.window - 1;
    for (int round = 0; c->submit_now && !c->done && !c->stopping && !nd->fatal; round++) {
        int64_t now = rt_now(nd), next;
        if (round == limit) {
            nd->deadline[CL_TIMER_NEXT] = now;
            break;
        }
        c->submit_now = false;
        int64_t span = c->pace.submitted - c->low;
        if (pace_due(&c->pace, now, span, &next)) {
            /* Another is due at once after this one (no rate to wait
             * for, room in the window, more to submit, and this loop
             * goes on): the core sends them together. */
            int64_t op = c->first_op + c->pace.submitted;
            bool more = pace_take(&c->pace, now, span) && round + 1 < limit;
            submit(nd, op, more);
            c->submit_now = true; /* the next one, if it is due (or answered at once) */
        } else if (next) {
            nd->deadline[CL_TIMER_NEXT] = next;
        }
    }
    c->submit_now = false;
    if (c->finish_now) {
        c->finish_now = false;
        if (!c->done)
            client_finish(nd);
    }
}

static void client_timer(struct node *nd, int slot)
{
    if (RT_TIMER_WL + slot == CL_TIMER_NEXT)
        cwork(nd)->submit_now = true;
}

/* An operation's outcome in the client's slot (`distlab status`). */
static void count_outcome(struct shm_node *me, int outcome)
{
    atomic_fetch_add(outcome == ALGO_OP_OK     ? &me->ops_ok
                     : outcome == ALGO_OP_FAIL ? &me->ops_fail
                                               : &me->ops_timeout,
                     1);
    atomic_fetch_add(&me->requests_done, 1);
}

static void client_outcome(struct node *nd, const struct algo_action *a)
{
    struct client_work *c = cwork(nd);
    if (a->outcome == ALGO_OP_INVOKE)
        return;
    int64_t i = a->key - c->first_op;
    if (i < 0 || i >= c->pace.submitted || c->answered[i])
        return; /* not this life's, or already answered */
    c->answered[i] = 1;
    while (c->low < c->pace.submitted && c->answered[c->low])
        c->low++;
    if (a->outcome == ALGO_OP_OK && a->key == c->cmd_op)
        kvload_learn(&c->load, c->cmd, c->cmd_len, a->msg.payload, a->msg.len);
    c->outstanding--;
    c->finished++;
    count_outcome(nd->me, a->outcome);
    if (c->finished == c->pace.total)
        c->finish_now = true;
    else
        c->submit_now = true; /* the next one, now or when its time comes */
}

static void client_stop(struct node *nd)
{
    cwork(nd)->stopping = true;
    nd->deadline[CL_TIMER_NEXT] = 0;
}

static void client_describe(const struct node *nd, char *buf, size_t cap)
{
    const struct client_work *c = cwork(nd);
    snprintf(buf, cap, "client %d: submitted %lld of %lld, answered %lld, outstanding %lld%s",
             c->k, (long long)c->pace.submitted, (long long)c->pace.total,
             (long long)c->finished, (long long)c->outstanding, c->done ? ", done" : "");
}

const struct rt_workload rt_workload_client = {
    .name = "client",
    .init = client_init,
    .fini = client_fini,
    .cluster_up = client_start,
    .timer = client_timer,
    .settle = client_settle,
    .stop = client_stop,
    .describe = client_describe,
    .client_outcome = client_outcome,
};

/* ---- a server: nothing of its own to do ---- */

static int server_init(struct node *nd, char *err)
{
    (void)nd;
    (void)err;
    return 0;
}

static void server_fini(struct node *nd) { (void)nd; }

static void server_up(struct node *nd)
{
    int64_t done = atomic_load(&nd->me->requests_done);
    atomic_store(&nd->me->workload_done, 1);
    rt_trace(nd, TR_DONE, 0, 0, 0, 0, done);
    rt_send_runtime(nd, 0, MSG_RT_DONE, done);
}

static void server_timer(struct node *nd, int slot)
{
    (void)nd;
    (void)slot;
}

static void server_settle(struct node *nd) { (void)nd; }
static void server_stop(struct node *nd) { (void)nd; }

static void server_describe(const struct node *nd, char *buf, size_t cap)
{
    struct algo_inspect in = {0};
    if (nd->ops->inspect)
        nd->ops->inspect(nd->core, &in);
    snprintf(buf, cap, "server, %s in term %lld, leader %d, log to %lld, commit %lld, applied "
                       "%lld, %llu syncs",
             algo_role_name(in.role), (long long)in.term, in.leader, (long long)in.last_index,
             (long long)in.commit_index, (long long)in.applied_index,
             (unsigned long long)nd->st_syncs);
}

const struct rt_workload rt_workload_server = {
    .name = "server",
    .init = server_init,
    .fini = server_fini,
    .cluster_up = server_up,
    .timer = server_timer,
    .settle = server_settle,
    .stop = server_stop,
    .describe = server_describe,
};

/* ---- a command from a shell (`distlab client`) ----
 *
 * One operation: submitted as soon as the process joined the run, its
 * outcome copied into args.interactive, then the loop stops. Its id
 * continues the slot's count (CNT_REQUESTS), so that every operation ever
 * made through a slot has its own id in the traces; the servers tell its
 * lives apart by their incarnation (raft_cli.c). */

struct inter_work {
    int64_t op, t0;
    bool submitted;
};

static int inter_init(struct node *nd, char *err)
{
    struct inter_work *w = calloc(1, sizeof *w);
    if (!w)
        return dl_seterr(err, ENOMEM, "out of memory");
    nd->work = w;
    return 0;
}

static void inter_fini(struct node *nd)
{
    free(nd->work);
    nd->work = NULL;
}

static void inter_up(struct node *nd)
{
    struct inter_work *w = nd->work;
    if (w->submitted)
        return;
    w->submitted = true;
    struct rt_interactive *ia = nd->args.interactive;
    w->op = (int64_t)atomic_fetch_add(&nd->me->cnt[CNT_REQUESTS], 1) + 1;
    ia->op = w->op;
    w->t0 = rt_now(nd);
    struct algo_event ev = {.kind = EV_COMMAND, .now_us = w->t0};
    ev.msg.from = ev.msg.to = (uint16_t)nd->args.id;
    ev.msg.f[0] = w->op;
    ev.msg.payload = ia->cmd;
    ev.msg.len = ia->len;
    rt_step(nd, &ev);
}

static void inter_outcome(struct node *nd, const struct algo_action *a)
{
    struct inter_work *w = nd->work;
    struct rt_interactive *ia = nd->args.interactive;
    if (a->outcome == ALGO_OP_INVOKE || a->key != w->op || ia->outcome)
        return;
    ia->outcome = a->outcome;
    ia->server = a->msg.from;
    ia->index = a->index;
    ia->term = a->term;
    ia->alen = a->msg.len <= sizeof ia->answer ? a->msg.len : 0;
    if (ia->alen)
        memcpy(ia->answer, a->msg.payload, ia->alen);
    ia->elapsed_us = rt_now(nd) - w->t0;
    count_outcome(nd->me, a->outcome);
    nd->loop.stop = true;
}

static void inter_describe(const struct node *nd, char *buf, size_t cap)
{
    const struct inter_work *w = nd->work;
    snprintf(buf, cap, "a command from a shell: operation %lld%s", (long long)w->op,
             nd->args.interactive->outcome ? ", answered" : "");
}

const struct rt_workload rt_workload_interactive = {
    .name = "interactive",
    .init = inter_init,
    .fini = inter_fini,
    .cluster_up = inter_up,
    .timer = server_timer,
    .settle = server_settle,
    .stop = server_stop,
    .describe = inter_describe,
    .client_outcome = inter_outcome,
};
