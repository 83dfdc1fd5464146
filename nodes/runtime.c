/* The node process: one algorithm core, one event loop, one trace.
 *
 * Order within a turn (STYLE rule 6): the event is traced, the core steps,
 * then each action is traced *before* it takes effect (a SIGKILL between the
 * two leaves a trace that says what was about to happen, never a side effect
 * the trace does not show), then timers are re-armed once. */
#include "nodes/runtime.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ipc/loop.h"
#include "ipc/shm.h"
#include "ipc/trace.h"
#include "ipc/transport.h"
#include "ipc/util.h"
#include "nodes/algo.h"

_Static_assert(ALGO_MAX_NODES == DL_MAX_NODES, "one node limit for cores and ipc");
_Static_assert(ALGO_NFIELDS == WIRE_NFIELDS, "message fields match the wire");

#define RT_CORE_TIMERS 32 /* timer ids a core may use: 0..31 */
#define RT_TIMER_CS_END RT_CORE_TIMERS
#define RT_TIMER_THINK (RT_CORE_TIMERS + 1)
#define RT_TIMER_FD (RT_CORE_TIMERS + 2) /* failure detector tick */
#define RT_NTIMERS (RT_CORE_TIMERS + 3)
/* One message per wake-up: a lightly loaded node then pays epoll_wait +
 * mq_receive per message and no extra EAGAIN probe (measured ~15% more CS/s
 * than draining in a loop); level-triggered epoll returns at once when more
 * wait, and timers and signals get their turn between messages. */
#define RT_RECV_BATCH 1

const char *runtime_msg_name(uint16_t type)
{
    switch (type) {
    case MSG_RT_DONE: return "done";
    case MSG_RT_START: return "start";
    case MSG_RT_READY: return "ready";
    default: return NULL;
    }
}

enum wl_state { WL_IDLE = 0, WL_THINKING, WL_WAITING, WL_IN_CS, WL_DONE };

/* Kill points of the entry and the exit of a critical section (see
 * kill_point), numbered in the order the steps run. */
enum kp_phase { KP_NONE = 0, KP_ENTER, KP_EXIT };

struct node {
    struct runtime_args args;
    struct shm_handle shm;
    struct shm_run *run;
    struct shm_node *me;
    const struct algo_ops *ops;
    void *core;
    struct algo_env env;
    struct algo_actions acts;
    struct loop loop;
    struct transport tp;
    struct trace_writer tr;
    int timerfd, sigfd;
    struct loop_watch w_inbox, w_timer, w_sig;
    int64_t deadline[RT_NTIMERS]; /* run-relative us; 0 = disarmed */
    int64_t armed_at;             /* what the timerfd is armed for */
    /* Workload. */
    bool competes, started, stop_requested;
    enum wl_state wl;
    int64_t requests_left;
    int64_t cs_counter; /* the value read from the resource on entry */
    int64_t cs_key;
    int64_t cs_gen;     /* the fencing generation of this entry, -1 if none */
    bool cs_fenced;     /* the resource refused the entry */
    bool fencing;
    /* Failure detector: what we last saw of each peer's heartbeat stamp. */
    int64_t fd_period, fd_timeout;
    int64_t fd_stamp[DL_MAX_NODES + 1];
    int64_t fd_seen[DL_MAX_NODES + 1];
    int32_t fd_inc[DL_MAX_NODES + 1];
    bool fd_down[DL_MAX_NODES + 1];
    bool release_now, request_now;
    bool malformed_logged[WIRE_ERR_COUNT];
    bool fatal; /* persistence failed: stop */
    bool drop_logged[8]; /* send-side drop reasons already said in the log */
    int64_t cs_seq;      /* critical sections entered by this incarnation */
    struct {
        int phase, step;
        int64_t cs;
    } kill_at; /* DISTLAB_TEST_KILL, phase KP_NONE when unset */
    char *restored; /* persistent state read at start (env.restored) */
    size_t restored_len;
};

int runtime_parse_args(int argc, char **argv, struct runtime_args *out)
{
    memset(out, 0, sizeof *out);
    if (argc != 4)
        return -EINVAL;
    char *end;
    long id = strtol(argv[1], &end, 10);
    if (*end || id < 1 || id > DL_MAX_NODES)
        return -EINVAL;
    long inc = strtol(argv[3], &end, 10);
    if (*end || inc < 1 || inc > 1000000)
        return -EINVAL;
    if (strncmp(argv[2], "/" SHM_PREFIX, strlen(SHM_PREFIX) + 1) != 0 ||
        strlen(argv[2]) >= sizeof out->segment)
        return -EINVAL;
    out->id = (int)id;
    out->incarnation = (int)inc;
    snprintf(out->segment, sizeof out->segment, "%s", argv[2]);
    return 0;
}

static int64_t now_us(const struct node *nd) { return trace_now(&nd->tr); }

int64_t runtime_deadline(int64_t now, int64_t after)
{
    if (after <= 0)
        return now;
    return now > INT64_MAX - after ? INT64_MAX : now + after;
}

/* ---- kill points (tests only) ----
 *
 * DISTLAB_TEST_KILL="NODE:PHASE:STEP:CS" makes the first life of node NODE
 * SIGKILL itself at step STEP of the entry (PHASE "enter") or exit ("exit")
 * of its CS-th critical section, so a test can crash a node between any
 * two writes of those sequences and check that the verdict stays true. One
 * predictable branch when unset. */
static void kill_points_init(struct node *nd)
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

static struct trace_rec *trace(struct node *nd, int ev, int peer, int type, int64_t key,
                               int aux, int64_t a)
{
    struct trace_rec r = {.node = (uint16_t)nd->args.id,
                          .ev = (uint16_t)ev,
                          .peer = (uint16_t)peer,
                          .type = (uint16_t)type,
                          .key = key,
                          .aux = aux,
                          .a = a};
    return trace_emit(&nd->tr, &r);
}

static void send_runtime(struct node *nd, int to, uint16_t type, int64_t f0)
{
    struct wire_hdr h = {.type = type, .to = (uint16_t)to, .send_us = now_us(nd)};
    h.f[0] = f0;
    transport_send(&nd->tp, &h, NULL);
}

static void step(struct node *nd, const struct algo_event *ev);

/* The transport dropped a message this node sent (already counted): trace
 * it (reason "send_refused", a = -errno saying why) and say it in the log
 * once per kind. */
static void on_send_drop(void *arg, const struct wire_hdr *h, int err)
{
    struct node *nd = arg;
    trace(nd, TR_DROP, h->to, h->type, h->f[0], WIRE_DROP_SEND, err);
    int kind = err == -ENOBUFS ? 0 : err == -EHOSTDOWN ? 1 : err == -ETIMEDOUT ? 2
                                   : err == -EMSGSIZE ? 3 : 4;
    if (nd->drop_logged[kind])
        return;
    nd->drop_logged[kind] = true;
    fprintf(stderr, "node %d: dropped a message to %d (%s); further drops of this kind are only "
                    "counted and traced\n",
            nd->args.id, h->to,
            kind == 0   ? "backlog or delay budget spent, or no bulk slot free"
            : kind == 1 ? "the peer is gone"
            : kind == 2 ? "still waiting (backlogged or delayed) when this node stopped"
                        : strerror(-err));
}

/* Persistent state: RUNDIR/n<K>.persist, replaced atomically (write a temp
 * file, fsync it when [raft] fsync asks, rename), so a crash at any moment
 * leaves either the old state or the new, never a torn one. */
static void persist_path(const struct node *nd, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/n%d.persist", nd->run->rundir, nd->args.id);
}

static int persist(struct node *nd, const void *data, uint32_t len)
{
    char path[1200], err[DL_ERRLEN];
    persist_path(nd, path, sizeof path);
    int rc = dl_write_file_sync(path, data, len, nd->run->params.fsync != 0, err);
    if (rc < 0)
        fprintf(stderr, "node %d: cannot persist its state: %s: stopping\n", nd->args.id, err);
    return rc;
}

/* Arm the timerfd for the earliest deadline, if it changed. */
static void rearm(struct node *nd)
{
    int64_t next = 0;
    for (int i = 0; i < RT_NTIMERS; i++)
        if (nd->deadline[i] && (!next || nd->deadline[i] < next))
            next = nd->deadline[i];
    if (next == nd->armed_at)
        return;
    nd->armed_at = next;
    /* Run-relative to monotonic (saturated: a deadline past the end of
     * time never fires); a deadline in the past fires at once. */
    loop_timerfd_arm(nd->timerfd, next ? runtime_deadline(nd->run->start_mono_us, next) : 0);
}

/* ---- the workload: request -> hold cs_time -> think -> ... ---- */

static void workload_finish(struct node *nd)
{
    nd->wl = WL_DONE;
    atomic_store(&nd->me->workload_done, 1);
    trace(nd, TR_DONE, 0, 0, 0, 0, atomic_load(&nd->me->requests_done));
    send_runtime(nd, 0, MSG_RT_DONE, atomic_load(&nd->me->requests_done));
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
        nd->deadline[RT_TIMER_THINK] = runtime_deadline(now_us(nd), think);
    }
}

static void workload_start(struct node *nd)
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
    trace(nd, TR_REQUEST, 0, 0, 0, 0, 0);
    struct algo_event ev = {.kind = EV_REQUEST, .now_us = now_us(nd)};
    step(nd, &ev);
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
    kill_point(nd, KP_EXIT, 0);
    int expect = nd->cs_fenced ? RES_FENCED
                               : shm_resource_predict_exit(nd->run, nd->args.id, nd->cs_gen,
                                                           nd->fencing);
    bool refused = expect == RES_FENCED;
    struct trace_rec *rec = trace(nd, TR_EXIT, 0, 0, nd->cs_key, refused ? RES_FENCED : 0,
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
    struct algo_event ev = {.kind = EV_RELEASE, .now_us = now_us(nd)};
    nd->wl = WL_IDLE;
    step(nd, &ev);
    kill_point(nd, KP_EXIT, 4);
    workload_next(nd);
}

/* Enter: traced first with the outcome the resource predicts (a refusal is
 * certain; the rest is corrected in place if the entry turns out otherwise),
 * then the resource is taken. A node killed between the two never held the
 * resource; one killed after it is released by the supervisor. */
static void enter_cs(struct node *nd, int64_t key, int64_t gen)
{
    if (nd->wl != WL_WAITING)
        return; /* the core granted what the application did not ask for */
    nd->cs_seq++;
    kill_point(nd, KP_ENTER, 0);
    int expect = shm_resource_predict_enter(nd->run, nd->args.id, gen, nd->fencing);
    struct trace_rec *rec = trace(nd, TR_ENTER, 0, 0, key, expect, 0);
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
        nd->deadline[RT_TIMER_CS_END] = runtime_deadline(now_us(nd), hold);
}

/* ---- the core ---- */

static void apply(struct node *nd)
{
    struct algo_actions *out = &nd->acts;
    /* Persist first (STYLE rule 6): state is durable before any message
     * that depends on it leaves. A node that cannot persist stops: it must
     * not act on state it could lose. */
    for (int i = 0; i < out->n; i++) {
        struct algo_action *a = &out->a[i];
        if (a->kind == ACT_PERSIST && persist(nd, a->msg.payload, a->msg.len) < 0) {
            nd->fatal = true;
            loop_stop(&nd->loop);
            out->n = 0;
            return;
        }
    }
    for (int i = 0; i < out->n; i++) {
        struct algo_action *a = &out->a[i];
        switch (a->kind) {
        case ACT_SEND: {
            struct algo_msg *m = &a->msg;
            trace(nd, TR_SEND, m->to, m->type, m->f[0], 0, 0);
            struct wire_hdr h = {.type = m->type, .to = m->to, .len = m->len,
                                 .send_us = now_us(nd)};
            memcpy(h.f, m->f, sizeof h.f);
            /* Traced as sent (before the attempt); a drop is traced by
             * on_send_drop. */
            transport_send(&nd->tp, &h, m->payload);
            break;
        }
        case ACT_SET_TIMER:
            if (a->timer_id >= 0 && a->timer_id < RT_CORE_TIMERS)
                nd->deadline[a->timer_id] =
                    runtime_deadline(now_us(nd), a->after_us > 0 ? a->after_us : 1);
            break;
        case ACT_CANCEL_TIMER:
            if (a->timer_id >= 0 && a->timer_id < RT_CORE_TIMERS)
                nd->deadline[a->timer_id] = 0;
            break;
        case ACT_ENTER_CS:
            enter_cs(nd, a->term, a->gen);
            break;
        case ACT_ROLE:
            trace(nd, TR_ROLE, 0, 0, a->term, a->role, 0);
            atomic_store(&nd->me->role, a->role);
            atomic_store(&nd->me->term, a->term);
            break;
        case ACT_LOG:
            fprintf(stderr, "node %d: %s\n", nd->args.id, a->text);
            break;
        case ACT_PERSIST:
            break; /* done above */
        }
    }
    if (out->overflow) {
        fprintf(stderr, "node %d: BUG: %d actions dropped (capacity %d)\n", nd->args.id,
                out->overflow, out->cap);
        out->overflow = 0;
    }
}

static void step(struct node *nd, const struct algo_event *ev)
{
    algo_actions_clear(&nd->acts);
    nd->ops->step(nd->core, ev, &nd->acts);
    if (nd->acts.malformed) /* a field out of the core's range */
        atomic_fetch_add(&nd->me->cnt[CNT_MALFORMED], (uint64_t)nd->acts.malformed);
    apply(nd);
}

/* Every node has started (the run's workload begins): see env.staged_start. */
static void cluster_up(struct node *nd)
{
    struct algo_event ev = {.kind = EV_CLUSTER_UP, .now_us = now_us(nd)};
    step(nd, &ev);
}

/* Work deferred so that a step never runs inside another step's actions.
 * Bounded: a node that grants itself (a lone token holder, a competing
 * coordinator) with cs_time and think_time 0 would otherwise request, enter
 * and leave forever without returning to its loop - no heartbeats, no
 * signals, no messages. After SETTLE_MAX rounds the rest becomes a timer
 * due at once, which the loop serves after everything else that is ready. */
#define SETTLE_MAX 64

static void settle(struct node *nd)
{
    for (int round = 0; nd->release_now || nd->request_now; round++) {
        if (round == SETTLE_MAX) {
            int64_t now = now_us(nd);
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
                do_release(nd);
        } else {
            nd->request_now = false;
            if (nd->wl == WL_THINKING && !nd->stop_requested)
                do_request(nd);
            else if (nd->stop_requested && nd->wl != WL_DONE && nd->wl != WL_IN_CS &&
                     nd->wl != WL_WAITING)
                workload_finish(nd);
        }
    }
    rearm(nd);
}

/* ---- the failure detector ----
 *
 * Timeout based, like heartbeats: each node stamps the time into its slot of
 * the shared cluster table every fd_period, and believes a peer down when
 * the peer's stamp has not moved for failure_timeout. Why the shared table
 * rather than heartbeat messages: heartbeats over the queues would inflate
 * every message count the report compares with theory, compete for the
 * 10-deep queues, and cost N^2 messages per period at 64 nodes; a stamp
 * carries the same information (the peer's loop ran at time t) for free.
 * It keeps the defining weakness of the real thing: a paused (SIGSTOP) or
 * starved node stops stamping and is declared down just like a dead one.
 * A cut link (simulated partition) hides the peer's stamps, as it would
 * hide its heartbeats - in the cut direction only: with cut[k][j] alone, j
 * hears nothing from k but k still hears j. Loss and delay hide nothing
 * (heartbeats are not messages here; the simulator treats them the same).
 * A new incarnation is a new peer: the old one is
 * reported down (if it was not already) and the new one up. */

static void peer_event(struct node *nd, int k, bool down)
{
    nd->fd_down[k] = down;
    trace(nd, down ? TR_PEER_DOWN : TR_PEER_UP, k, 0, 0, 0, 0);
    struct algo_event ev = {.kind = down ? EV_PEER_DOWN : EV_PEER_UP, .now_us = now_us(nd),
                            .peer = k};
    step(nd, &ev);
}

static void fd_init(struct node *nd)
{
    int64_t now = now_us(nd);
    nd->fd_timeout = nd->run->params.failure_timeout_us;
    nd->fd_period = nd->fd_timeout / 4 > 1000 ? nd->fd_timeout / 4 : 1000;
    for (int k = 1; k <= nd->env.n; k++) {
        nd->fd_seen[k] = now; /* a grace of one timeout at start */
        nd->fd_stamp[k] = atomic_load(&nd->run->node[k].heartbeat_us);
        nd->fd_inc[k] = atomic_load(&nd->run->node[k].incarnation);
    }
    atomic_store(&nd->me->heartbeat_us, now);
    nd->deadline[RT_TIMER_FD] = runtime_deadline(now, nd->fd_period);
}

/* A message from k: if k is a new incarnation we have not noticed yet, its
 * previous life is reported down and the new one up *before* the message
 * is handled, so the core never confuses the two lives (a grant to the new
 * one revoked by a late "down" of the old one). One atomic load per
 * message. */
static void fd_check_incarnation(struct node *nd, int k)
{
    int32_t inc = atomic_load_explicit(&nd->run->node[k].incarnation, memory_order_relaxed);
    if (inc == nd->fd_inc[k])
        return;
    if (nd->fd_inc[k] != 0 && !nd->fd_down[k])
        peer_event(nd, k, true);
    nd->fd_inc[k] = inc;
    nd->fd_stamp[k] = atomic_load(&nd->run->node[k].heartbeat_us);
    nd->fd_seen[k] = now_us(nd);
    if (nd->fd_down[k])
        peer_event(nd, k, false);
}

static void fd_tick(struct node *nd)
{
    int64_t now = now_us(nd);
    atomic_store(&nd->me->heartbeat_us, now);
    nd->deadline[RT_TIMER_FD] = runtime_deadline(now, nd->fd_period);
    /* The transport's upkeep rides on the same tick: backlogs of peers that
     * are gone are dropped, a failed EPOLLOUT registration is retried. */
    transport_tick(&nd->tp);
    if (atomic_load(&nd->run->phase) == RUN_STARTING) {
        /* Peers still starting are slow, not dead: 64 processes (or a
         * sanitizer build) can take longer than a failure timeout to come
         * up. Suspicion starts with the run, one timeout of grace later. */
        for (int k = 1; k <= nd->env.n; k++)
            nd->fd_seen[k] = now;
        return;
    }
    for (int k = 1; k <= nd->env.n; k++) {
        if (k == nd->args.id)
            continue;
        if (atomic_load_explicit(&nd->run->cut[k][nd->args.id], memory_order_relaxed))
            goto check; /* partitioned away: no news from k */
        int32_t inc = atomic_load(&nd->run->node[k].incarnation);
        int64_t stamp = atomic_load(&nd->run->node[k].heartbeat_us);
        if (inc != nd->fd_inc[k] && nd->fd_inc[k] != 0) {
            /* k restarted: its previous life is gone, even if we never
             * noticed it missing. */
            if (!nd->fd_down[k])
                peer_event(nd, k, true);
            nd->fd_stamp[k] = -1;
        }
        nd->fd_inc[k] = inc;
        if (stamp != nd->fd_stamp[k] && stamp > 0) {
            nd->fd_stamp[k] = stamp;
            nd->fd_seen[k] = now;
            if (nd->fd_down[k])
                peer_event(nd, k, false);
            continue;
        }
    check:
        if (!nd->fd_down[k] && now - nd->fd_seen[k] > nd->fd_timeout)
            peer_event(nd, k, true);
    }
}

/* ---- loop callbacks ---- */

static void on_control(struct node *nd, const struct wire_hdr *h)
{
    switch (h->type) {
    case MSG_RT_START:
        cluster_up(nd);
        workload_start(nd);
        break;
    }
}

static void log_malformed(struct node *nd, int err, const struct wire_hdr *h)
{
    if (err < 0 || err >= WIRE_ERR_COUNT || nd->malformed_logged[err])
        return;
    nd->malformed_logged[err] = true;
    fprintf(stderr, "node %d: dropped a malformed message (%s); further ones of this kind "
                    "are only counted\n", nd->args.id, wire_err_name(err));
    (void)h;
}

static void on_inbox(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct node *nd = w->arg;
    for (int i = 0; i < RT_RECV_BATCH; i++) {
        struct wire_hdr h;
        const uint8_t *payload;
        int rc = transport_recv(&nd->tp, &h, &payload);
        if (rc == 0)
            break;
        if (rc < 0) {
            fprintf(stderr, "node %d: receive failed: %s\n", nd->args.id, strerror(-rc));
            break;
        }
        if (rc == 2) {
            trace(nd, TR_DROP, 0, 0, 0, nd->tp.last_err, 0);
            log_malformed(nd, nd->tp.last_err, &h);
            continue;
        }
        if (rc == 3) {
            /* The simulated network dropped it (counted): a cut link or
             * the link's loss, as the transport says. */
            trace(nd, TR_DROP, h.from, h.type, h.f[0], nd->tp.last_drop, 0);
            continue;
        }
        /* Runtime messages come from the supervisor only; algorithm
         * messages from nodes, in this algorithm's range, of a known type. */
        bool runtime = h.type < MSG_RANGE_SIZE;
        bool known = runtime ? h.from == 0 && runtime_msg_name(h.type)
                             : h.from != 0 && h.type >= nd->ops->range &&
                                   h.type < nd->ops->range + MSG_RANGE_SIZE &&
                                   nd->ops->msg_name(h.type);
        if (!known) {
            atomic_fetch_add(&nd->me->cnt[CNT_MALFORMED], 1);
            atomic_fetch_add(&nd->me->malformed_kind[WIRE_ERR_TYPE], 1);
            trace(nd, TR_DROP, h.from, h.type, 0, WIRE_ERR_TYPE, 0);
            log_malformed(nd, WIRE_ERR_TYPE, &h);
            continue;
        }
        if (runtime) {
            on_control(nd, &h);
            continue;
        }
        fd_check_incarnation(nd, h.from);
        if (WIRE_INC(h.flags) != (uint16_t)nd->fd_inc[h.from]) {
            /* Sent by a previous life of the sender, which has since
             * crashed: lost, as a reset connection would lose it. */
            atomic_fetch_add(&nd->me->cnt[CNT_DROPPED], 1);
            trace(nd, TR_DROP, h.from, h.type, h.f[0], WIRE_DROP_STALE, 0);
            continue;
        }
        atomic_fetch_add_explicit(&nd->me->cnt[CNT_RECV], 1, memory_order_relaxed);
        trace(nd, TR_RECV, h.from, h.type, h.f[0], 0, h.send_us);
        struct algo_event ev = {.kind = EV_MESSAGE, .now_us = now_us(nd)};
        ev.msg.type = h.type;
        ev.msg.from = h.from;
        ev.msg.to = h.to;
        memcpy(ev.msg.f, h.f, sizeof ev.msg.f);
        ev.msg.len = h.len;
        ev.msg.payload = h.len ? payload : NULL;
        step(nd, &ev);
        if (nd->acts.malformed) {
            /* The core refused a field out of its range: the message it
             * received was dropped as malformed, and the trace says so
             * right after its receipt. */
            atomic_fetch_add(&nd->me->malformed_kind[WIRE_ERR_FIELD], 1);
            trace(nd, TR_DROP, h.from, h.type, h.f[0], WIRE_ERR_FIELD, 0);
            log_malformed(nd, WIRE_ERR_FIELD, &h);
        }
        settle(nd);
    }
    settle(nd);
    (void)l;
    (void)events;
}

static void on_timer(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct node *nd = w->arg;
    loop_timerfd_ack(nd->timerfd);
    nd->armed_at = -1; /* force a re-arm */
    int64_t now = now_us(nd);
    /* The failure detector first: after a pause the core should act on a
     * fresh view of its peers, not on the one it had before it slept. */
    if (nd->deadline[RT_TIMER_FD] && nd->deadline[RT_TIMER_FD] <= now) {
        nd->deadline[RT_TIMER_FD] = 0;
        fd_tick(nd);
        settle(nd);
    }
    for (int i = 0; i < RT_NTIMERS; i++) {
        if (!nd->deadline[i] || nd->deadline[i] > now)
            continue;
        nd->deadline[i] = 0;
        if (i == RT_TIMER_CS_END) {
            nd->release_now = true;
        } else if (i == RT_TIMER_FD) {
            fd_tick(nd);
        } else if (i == RT_TIMER_THINK) {
            nd->request_now = true;
        } else {
            struct algo_event ev = {.kind = EV_TIMER, .now_us = now, .timer_id = i};
            step(nd, &ev);
        }
        settle(nd);
    }
    settle(nd);
    (void)l;
    (void)events;
}

static void dump_state(struct node *nd)
{
    struct shm_node *me = nd->me;
    fprintf(stderr,
            "node %d (incarnation %d): workload %d, requests left %lld, done %lld; sent %llu, "
            "received %llu, malformed %llu, backlog %llu (high %llu, %llu bytes), queue full "
            "%llu, dropped by the transport %llu, held for delay %llu\n",
            nd->args.id, nd->args.incarnation, (int)nd->wl, (long long)nd->requests_left,
            (long long)atomic_load(&me->requests_done),
            (unsigned long long)atomic_load(&me->cnt[CNT_SENT]),
            (unsigned long long)atomic_load(&me->cnt[CNT_RECV]),
            (unsigned long long)atomic_load(&me->cnt[CNT_MALFORMED]),
            (unsigned long long)transport_backlog(&nd->tp),
            (unsigned long long)atomic_load(&me->cnt[CNT_BACKLOG_HWM]),
            (unsigned long long)transport_backlog_bytes(&nd->tp),
            (unsigned long long)atomic_load(&me->cnt[CNT_QUEUE_FULL]),
            (unsigned long long)atomic_load(&me->cnt[CNT_SEND_DROPPED]),
            (unsigned long long)transport_held_count(&nd->tp));
}

static void on_signal(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct node *nd = w->arg;
    struct signalfd_siginfo si;
    while (read(nd->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM) {
            /* A graceful stop leaves the critical section first. */
            if (nd->wl == WL_IN_CS) {
                nd->deadline[RT_TIMER_CS_END] = 0;
                nd->stop_requested = true;
                do_release(nd);
            }
            loop_stop(l);
        } else if (si.ssi_signo == SIGUSR1) {
            dump_state(nd);
        }
    }
    (void)events;
}

/* ---- set-up and tear-down ---- */

static void node_fini(struct node *nd)
{
    if (nd->core) {
        if (nd->ops && nd->ops->fini)
            nd->ops->fini(nd->core);
        free(nd->core);
    }
    algo_actions_free(&nd->acts);
    free(nd->restored);
    transport_close(&nd->tp);
    if (nd->timerfd >= 0)
        close(nd->timerfd);
    if (nd->sigfd >= 0)
        close(nd->sigfd);
    loop_fini(&nd->loop);
    trace_close(&nd->tr);
    shm_detach(&nd->shm);
}

static int node_init(struct node *nd, char *err)
{
    int rc = shm_attach(&nd->shm, nd->args.segment, true, err);
    if (rc < 0)
        return rc;
    nd->run = nd->shm.run;
    if (nd->args.id > (int)nd->run->n)
        return dl_seterr(err, EINVAL, "node %d is not in this %u-node run", nd->args.id,
                         nd->run->n);
    nd->me = &nd->run->node[nd->args.id];
    nd->ops = algo_find(nd->run->algorithm);
    if (!nd->ops)
        return dl_seterr(err, EINVAL, "unknown algorithm '%s'", nd->run->algorithm);
    rc = trace_open(&nd->tr, nd->run->rundir, nd->args.id, nd->args.incarnation,
                    nd->run->start_mono_us, err);
    if (rc < 0)
        return rc;
    trace_set_max(&nd->tr, (size_t)nd->run->params.trace_max_size);
    if ((rc = loop_init(&nd->loop, err)) < 0)
        return rc;
    if ((rc = transport_open(&nd->tp, &nd->loop, nd->run, nd->args.id, err)) < 0)
        return rc;
    transport_set_drop_hook(&nd->tp, on_send_drop, nd);
    /* Loss and jitter draws: decided by the run's seed, this node and
     * this life. */
    transport_seed(&nd->tp, transport_net_seed(nd->run->params.seed, nd->args.id,
                                               nd->args.incarnation));
    kill_points_init(nd);
    if ((nd->timerfd = loop_timerfd_create(err)) < 0)
        return nd->timerfd;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    if ((nd->sigfd = loop_signalfd_create(&set, err)) < 0)
        return nd->sigfd;
    /* ^C in a terminal goes to the whole process group: only the launcher
     * should act on it (it stops the nodes in order). */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (algo_actions_init(&nd->acts, (int)nd->run->n) < 0)
        return dl_seterr(err, ENOMEM, "out of memory");
    nd->core = calloc(1, nd->ops->state_size);
    if (!nd->core)
        return dl_seterr(err, ENOMEM, "out of memory");
    /* What an earlier life persisted, if anything. */
    char ppath[1200];
    persist_path(nd, ppath, sizeof ppath);
    if (access(ppath, F_OK) == 0 && dl_read_file(ppath, &nd->restored, &nd->restored_len, err) < 0)
        return -EIO;
    nd->env = (struct algo_env){
        .id = nd->args.id,
        .n = (int)nd->run->n,
        .incarnation = nd->args.incarnation,
        .seed = nd->run->params.seed * 1000003u + (uint64_t)nd->args.id * 7919u +
                (uint64_t)nd->args.incarnation,
        .coordinator = nd->run->params.coordinator,
        .coordinator_competes = nd->run->params.coordinator_competes != 0,
        .token_timeout_us = nd->run->params.token_timeout_us,
        .token_idle_hold_us = nd->run->params.idle_hold_us,
        .election_timeout_us = nd->run->params.election_timeout_us,
        .groups = nd->run->params.groups,
        .local_rounds = nd->run->params.local_rounds,
        .initial_clock = nd->run->params.initial_clock[nd->args.id],
        .staged_start = true,
        .retransmit = nd->run->params.retransmit != 0,
        .retransmit_us = nd->run->params.retransmit_us,
        .restored = nd->restored,
        .restored_len = nd->restored_len,
    };
    memcpy(nd->env.group_of, nd->run->params.group_of, sizeof nd->env.group_of);
    nd->fencing = nd->run->params.fencing != 0;
    if (nd->ops->init(nd->core, &nd->env) < 0)
        return dl_seterr(err, EINVAL, "%s: bad parameters for node %d", nd->ops->name,
                         nd->args.id);
    nd->competes = nd->ops->competes(&nd->env, nd->args.id) &&
                   nd->run->params.requester[nd->args.id];
    rc = loop_add(&nd->loop, &nd->w_inbox, nd->tp.inbox, EPOLLIN, on_inbox, nd);
    if (rc == 0)
        rc = loop_add(&nd->loop, &nd->w_timer, nd->timerfd, EPOLLIN, on_timer, nd);
    if (rc == 0)
        rc = loop_add(&nd->loop, &nd->w_sig, nd->sigfd, EPOLLIN, on_signal, nd);
    if (rc < 0)
        return dl_seterr(err, -rc, "epoll_ctl: %s", strerror(-rc));
    return 0;
}

int runtime_main(const struct runtime_args *args)
{
    struct node *nd = calloc(1, sizeof *nd);
    if (!nd) {
        fprintf(stderr, "distlab-node: out of memory\n");
        return 1;
    }
    nd->args = *args;
    nd->timerfd = nd->sigfd = -1;
    nd->tr.fd = -1;
    nd->tp.inbox = (mqd_t)-1;
    nd->loop.epfd = -1;
    char err[DL_ERRLEN] = "";
    int rc = node_init(nd, err);
    if (rc < 0) {
        fprintf(stderr, "distlab-node %d: %s\n", args->id, err);
        node_fini(nd);
        free(nd);
        return 1;
    }
    atomic_store(&nd->me->pid, (int32_t)getpid());
    atomic_store(&nd->me->started_us, now_us(nd));
    trace(nd, TR_START, 0, 0, 0, (int)getpid(), 0);
    struct algo_event ev = {.kind = EV_START, .now_us = now_us(nd)};
    step(nd, &ev);
    fd_init(nd);
    atomic_store(&nd->me->state, NODE_UP);
    send_runtime(nd, 0, MSG_RT_READY, args->incarnation);
    /* A restarted node joins a run already under way. */
    if (atomic_load(&nd->run->phase) == RUN_RUNNING && args->incarnation > 1) {
        cluster_up(nd);
        workload_start(nd);
    }
    settle(nd);
    rc = loop_run(&nd->loop);
    if (rc < 0)
        fprintf(stderr, "distlab-node %d: event loop failed: %s\n", args->id, strerror(-rc));
    if (!nd->fatal && rc == 0) {
        /* A graceful stop hands over what it still owes (a token passed on
         * release, a reply) if the peers take it within a moment: the loop
         * now serves only the peers' queues. */
        loop_del(&nd->loop, &nd->w_inbox);
        loop_del(&nd->loop, &nd->w_timer);
        loop_del(&nd->loop, &nd->w_sig);
        transport_flush(&nd->tp, 200); /* what is left is dropped, traced */
    }
    trace(nd, TR_STOP, 0, 0, 0, 0, 0);
    atomic_store(&nd->me->in_cs, 0);
    bool fatal = nd->fatal;
    node_fini(nd);
    free(nd);
    return rc < 0 || fatal ? 1 : 0;
}
