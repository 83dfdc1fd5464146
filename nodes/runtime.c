/* The node process: one algorithm core, one event loop, one trace.
 * This file: set-up, the loop's callbacks, the core's actions and timers;
 * the failure detector, the workloads, persistence and typed storage have
 * files of their own (see nodes/runtime_int.h).
 *
 * Order within a step (STYLE rule 6): the event is traced, the core steps,
 * then each action is traced *before* it takes effect (a SIGKILL between the
 * two leaves a trace that says what was about to happen, never a side effect
 * the trace does not show), then timers are re-armed once. A send the
 * transport refuses reaches the core as EV_SEND_FAILED after the step,
 * never inside it.
 *
 * The end of a turn (what one epoll_wait returned, served): if the turn's
 * steps wrote to storage, ONE sync, then the sends held for it
 * (after_sync), then EV_PERSISTED to the core (rt_end_turn). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ipc/storage.h"
#include "ipc/util.h"
#include "nodes/runtime_int.h"

_Static_assert(ALGO_MAX_NODES == DL_MAX_NODES, "one node limit for cores and ipc");
_Static_assert(ALGO_NFIELDS == WIRE_NFIELDS, "message fields match the wire");

static void rearm(struct node *nd);

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

int runtime_parse_args(int argc, char **argv, struct runtime_args *out)
{
    memset(out, 0, sizeof *out);
    if (argc != 4)
        return -EINVAL;
    char *end;
    long id = strtol(argv[1], &end, 10);
    if (*end || id < 1 || id > DL_MAX_PROCS)
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

int64_t runtime_deadline(int64_t now, int64_t after)
{
    if (after <= 0)
        return now;
    return now > INT64_MAX - after ? INT64_MAX : now + after;
}

struct trace_rec *rt_trace(struct node *nd, int ev, int peer, int type, int64_t key, int aux,
                           int64_t a)
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

struct trace_rec *rt_trace_msg(struct node *nd, int ev, int peer, int type, const int64_t *f,
                               int64_t a)
{
    struct trace_rec r = {.node = (uint16_t)nd->args.id,
                          .ev = (uint16_t)ev,
                          .peer = (uint16_t)peer,
                          .type = (uint16_t)type,
                          .key = f[0],
                          .aux = TRACE_MSG_F1,
                          .a = a,
                          .b = f[1]};
    return trace_emit(&nd->tr, &r);
}

void rt_send_runtime(struct node *nd, int to, uint16_t type, int64_t f0)
{
    struct wire_hdr h = {.type = type, .to = (uint16_t)to, .send_us = rt_now(nd)};
    h.f[0] = f0;
    transport_send(&nd->tp, &h, NULL);
}

/* The transport dropped a message this node sent (already counted): trace
 * it (reason "send_refused", a = -errno saying why), say it in the log
 * once per kind (not for `distlab client`, see below), and tell the core (EV_SEND_FAILED) - unless the node is
 * stopping (-ETIMEDOUT: left over when it stopped) or the message was the
 * runtime's own. */
static void on_send_drop(void *arg, const struct wire_hdr *h, int err)
{
    struct node *nd = arg;
    rt_trace(nd, TR_DROP, h->to, h->type, h->f[0], WIRE_DROP_SEND, err);
    if (err != -ETIMEDOUT && h->type >= MSG_RANGE_SIZE)
        rt_send_failed(nd, h);
    int kind = err == -ENOBUFS ? 0 : err == -EHOSTDOWN ? 1 : err == -ETIMEDOUT ? 2
                                   : err == -EMSGSIZE ? 3 : 4;
    /* `distlab client` has no log of its own: stderr is the user's
     * terminal, where its answer (or its timeout) already says what
     * happened. A drop there is traced and counted, not printed. */
    if (nd->drop_logged[kind] || nd->args.interactive)
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

void rt_send_failed(struct node *nd, const struct wire_hdr *h)
{
    if (nd->failq_n == RT_FAILQ) {
        if (nd->failq_lost++ == 0)
            fprintf(stderr, "node %d: more than %d send failures waiting for the core; further "
                            "ones are traced as drops but not reported to it\n",
                    nd->args.id, RT_FAILQ);
        return;
    }
    struct algo_msg *m = &nd->failq[(nd->failq_head + nd->failq_n++) % RT_FAILQ];
    *m = (struct algo_msg){.type = h->type, .from = (uint16_t)nd->args.id, .to = h->to};
    memcpy(m->f, h->f, sizeof m->f);
    /* Outside a step and outside the runtime's own turn (a backlog drained
     * on EPOLLOUT, a delayed message released by the transport's timer):
     * the runtime's timer, due at once, delivers it. */
    if (!nd->in_step) {
        nd->deadline[RT_TIMER_RT] = rt_now(nd);
        nd->armed_at = -1;
        rearm(nd);
    }
}

/* Arm the timerfd for the earliest deadline, if it changed. */
static void rearm(struct node *nd)
{
    if (nd->timerfd < 0)
        return; /* a node built by hand (tests) */
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

/* ---- the core ---- */

/* A timer id outside 0..ALGO_MAX_TIMERS-1: a bug of the core. The action
 * is not taken (the id would name a timer of the workload or of the failure
 * detector, or none); the first is said in the log, every one is counted
 * (the SIGUSR1 dump and the node's last log line give the count). */
static void bad_timer(struct node *nd, const struct algo_action *a)
{
    if (nd->bad_timers++ == 0)
        fprintf(stderr, "node %d: BUG: %s %s timer id %d, outside 0..%d; ignored (further ones "
                        "are only counted)\n", nd->args.id, nd->ops->name,
                a->kind == ACT_SET_TIMER ? "set" : "cancelled", a->timer_id, ALGO_MAX_TIMERS - 1);
}

void rt_send(struct node *nd, const struct algo_msg *m, bool after_sync)
{
    struct wire_hdr h = {.type = m->type, .to = m->to, .len = m->len};
    memcpy(h.f, m->f, sizeof h.f);
    /* An acknowledgement waits for the storage writes before it; any send
     * after it waits behind it, so that sends leave in the order the core
     * made them. Traced when it leaves. */
    if (nd->held_n || (after_sync && nd->st && storage_sync_pending(nd->st))) {
        if (rt_held_push(nd, &h, m->payload))
            return;
        /* No room to hold it: it fails like a send the transport refused. */
        rt_trace(nd, TR_DROP, h.to, h.type, h.f[0], WIRE_DROP_SEND, -ENOBUFS);
        rt_send_failed(nd, &h);
        return;
    }
    rt_trace_msg(nd, TR_SEND, m->to, m->type, m->f, 0);
    h.send_us = rt_now(nd);
    /* Traced as sent (before the attempt); a drop is traced by
     * on_send_drop. The transport sends the payload inline when it fits
     * one queue message and through a bulk slot otherwise. */
    transport_send(&nd->tp, &h, m->payload);
}

/* The first storage action a core emits without storage is a bug, said
 * once. */
static void no_storage(struct node *nd)
{
    if (!nd->no_storage_logged)
        fprintf(stderr, "node %d: BUG: %s emitted a storage action, but this node keeps no "
                        "typed storage; ignored\n", nd->args.id, nd->ops->name);
    nd->no_storage_logged = true;
}

/* A replicated state machine's commit, apply and client outcomes: traced
 * (before anything acts on them). */
static void trace_state_machine(struct node *nd, const struct algo_action *a)
{
    struct trace_rec r = {.node = (uint16_t)nd->args.id, .key = a->term, .a = a->index};
    switch (a->kind) {
    case ACT_COMMIT:
        r.ev = TR_COMMIT;
        trace_emit(&nd->tr, &r);
        break;
    case ACT_APPLY:
        r.ev = TR_APPLY;
        trace_emit_data(&nd->tr, &r, a->msg.payload, a->msg.len);
        break;
    case ACT_CLIENT:
        r.key = a->key;
        r.a = a->index;
        r.b = a->term;
        r.peer = a->msg.from;
        switch (a->outcome) {
        case ALGO_OP_INVOKE:
            r.ev = TR_INVOKE;
            r.a = 0;
            r.peer = 0;
            trace_emit_data(&nd->tr, &r, a->msg.payload, a->msg.len);
            return;
        case ALGO_OP_OK:
            if (a->msg.len) {
                /* The answer first, so that an ok always has it. */
                struct trace_rec ans = r;
                ans.ev = TR_RESULT;
                ans.a = ans.b = 0;
                ans.peer = 0;
                trace_emit_data(&nd->tr, &ans, a->msg.payload, a->msg.len);
            }
            r.ev = TR_OK;
            break;
        case ALGO_OP_FAIL: r.ev = TR_FAIL; break;
        default:
            r.ev = TR_TIMEOUT;
            r.peer = 0;
            break;
        }
        trace_emit(&nd->tr, &r);
        break;
    default:
        break;
    }
}

/* The cluster table: role and term (ACT_ROLE), and for a replicated log
 * what the core reports of it. */
static void publish(struct node *nd)
{
    if (!nd->ops->inspect || !nd->st)
        return;
    struct algo_inspect in = {0};
    nd->ops->inspect(nd->core, &in);
    struct shm_node *me = nd->me;
    atomic_store_explicit(&me->commit_index, in.commit_index, memory_order_relaxed);
    atomic_store_explicit(&me->last_index, in.last_index, memory_order_relaxed);
    atomic_store_explicit(&me->applied_index, in.applied_index, memory_order_relaxed);
    atomic_store_explicit(&me->leader, in.leader, memory_order_relaxed);
}

/* The storage failed: the node stops at once, acting on nothing more (what
 * it holds back - acknowledgements - is never sent). */
static void storage_fatal(struct node *nd)
{
    nd->fatal = true;
    nd->held_len = 0;
    nd->held_n = 0;
    loop_stop(&nd->loop);
}

static void apply(struct node *nd)
{
    struct algo_actions *out = &nd->acts;
    /* Persist first (STYLE rule 6): state is durable before any message
     * that depends on it leaves. A node that cannot persist stops: it must
     * not act on state it could lose. */
    for (int i = 0; i < out->n; i++) {
        struct algo_action *a = &out->a[i];
        if (a->kind == ACT_PERSIST && rt_persist(nd, a->msg.payload, a->msg.len) < 0) {
            nd->fatal = true;
            loop_stop(&nd->loop);
            out->n = 0;
            return;
        }
    }
    for (int i = 0; i < out->n && !nd->fatal; i++) {
        struct algo_action *a = &out->a[i];
        switch (a->kind) {
        case ACT_SEND:
            rt_send(nd, &a->msg, a->after_sync);
            break;
        case ACT_SET_TIMER:
            if (a->timer_id >= 0 && a->timer_id < ALGO_MAX_TIMERS)
                nd->deadline[a->timer_id] =
                    runtime_deadline(rt_now(nd), a->after_us > 0 ? a->after_us : 1);
            else
                bad_timer(nd, a);
            break;
        case ACT_CANCEL_TIMER:
            if (a->timer_id >= 0 && a->timer_id < ALGO_MAX_TIMERS)
                nd->deadline[a->timer_id] = 0;
            else
                bad_timer(nd, a);
            break;
        case ACT_ENTER_CS:
            if (nd->wl->enter_cs)
                nd->wl->enter_cs(nd, a->term, a->gen);
            else
                fprintf(stderr, "node %d: BUG: the core entered a critical section, which "
                                "the %s workload does not have\n", nd->args.id, nd->wl->name);
            break;
        case ACT_ROLE:
            rt_trace(nd, TR_ROLE, 0, 0, a->term, a->role, 0);
            atomic_store(&nd->me->role, a->role);
            atomic_store(&nd->me->term, a->term);
            break;
        case ACT_LOG:
            fprintf(stderr, "node %d: %s\n", nd->args.id, a->text);
            break;
        case ACT_PERSIST:
            break; /* done above */
        case ACT_STORE_TERM_VOTE:
        case ACT_STORE_APPEND:
        case ACT_STORE_TRUNCATE:
        case ACT_STORE_SNAPSHOT:
            if (!nd->st)
                no_storage(nd);
            else if (rt_storage_apply(nd, a) < 0)
                storage_fatal(nd);
            break;
        case ACT_COMMIT:
        case ACT_APPLY:
            trace_state_machine(nd, a);
            break;
        case ACT_CLIENT:
            trace_state_machine(nd, a);
            if (nd->wl->client_outcome)
                nd->wl->client_outcome(nd, a);
            break;
        }
    }
    if (out->overflow) {
        fprintf(stderr, "node %d: BUG: %d actions dropped (capacity %d)\n", nd->args.id,
                out->overflow, out->cap);
        out->overflow = 0;
    }
    if (!nd->fatal)
        publish(nd);
}

static void step_once(struct node *nd, const struct algo_event *ev)
{
    algo_actions_clear(&nd->acts);
    nd->in_step = true;
    nd->ops->step(nd->core, ev, &nd->acts);
    if (nd->acts.malformed) /* a field out of the core's range */
        atomic_fetch_add(&nd->me->cnt[CNT_MALFORMED], (uint64_t)nd->acts.malformed);
    apply(nd);
    nd->in_step = false;
}

/* Send failures queued so far, each its own step (at most max of them;
 * the rest wait for the runtime's timer, due at once). */
static int deliver_failures(struct node *nd, int max)
{
    if (nd->delivering)
        return 0;
    nd->delivering = true;
    int malformed = nd->acts.malformed, k;
    for (k = 0; k < max && nd->failq_n && !nd->fatal; k++) {
        struct algo_event ev = {.kind = EV_SEND_FAILED, .now_us = rt_now(nd)};
        ev.msg = nd->failq[nd->failq_head];
        nd->failq_head = (nd->failq_head + 1) % RT_FAILQ;
        nd->failq_n--;
        step_once(nd, &ev);
    }
    /* The caller looks at the malformed count of its own step. */
    nd->acts.malformed = malformed;
    if (nd->failq_n && !nd->fatal)
        nd->deadline[RT_TIMER_RT] = rt_now(nd);
    nd->delivering = false;
    return k;
}

void rt_step(struct node *nd, const struct algo_event *ev)
{
    step_once(nd, ev);
    if (nd->failq_n)
        deliver_failures(nd, RT_FAIL_BATCH);
}

/* Every node has started (the run's workload begins): see env.staged_start. */
void rt_cluster_up(struct node *nd)
{
    struct algo_event ev = {.kind = EV_CLUSTER_UP, .now_us = rt_now(nd)};
    rt_step(nd, &ev);
}

/* Deferred work of the workload, then the timers are re-armed once. */
static void settle(struct node *nd)
{
    nd->wl->settle(nd);
    rearm(nd);
}

/* Rounds of end-of-turn work before the rest is left to the runtime's
 * timer (a step under EV_PERSISTED that writes again, send failures that
 * cause more). */
#define RT_END_ROUNDS 4

/* Is a sync due? When something was written that is not lazy, or a send
 * is held for it, or without fsync (a sync is then free); lazy writes
 * alone (algo.h: a Raft leader's new entries while its followers make a
 * majority) wait up to ALGO_LAZY_SYNC_US from the first turn that left
 * them, so that the leader's disk is not one more writer beside its
 * followers' on the path of every commit. */
static bool sync_due(struct node *nd, int64_t now)
{
    if (!nd->st || !storage_sync_pending(nd->st))
        return false;
    if (nd->st_urgent || nd->held_n || !nd->st_fsync)
        return true;
    if (!nd->st_lazy_due)
        nd->st_lazy_due = runtime_deadline(now, ALGO_LAZY_SYNC_US);
    return now >= nd->st_lazy_due;
}

void rt_end_turn(struct node *nd)
{
    bool did = false;
    int budget = RT_FAIL_BATCH; /* send failures this turn */
    for (int round = 0; round < RT_END_ROUNDS && !nd->fatal; round++) {
        bool sync = sync_due(nd, rt_now(nd));
        if (!nd->failq_n && !nd->held_n && !sync)
            break;
        did = true;
        if (sync) {
            if (rt_storage_commit(nd) < 0) {
                storage_fatal(nd);
                break;
            }
        } else if (nd->held_n) {
            rt_held_flush(nd);
        }
        if (nd->failq_n && budget > 0)
            budget -= deliver_failures(nd, budget);
        else if (nd->failq_n && !sync_due(nd, rt_now(nd)) && !nd->held_n)
            break; /* the rest next turn */
    }
    if (!nd->fatal && (nd->failq_n || nd->held_n || sync_due(nd, rt_now(nd)))) {
        nd->deadline[RT_TIMER_RT] = rt_now(nd);
    } else if (!nd->fatal && nd->st_lazy_due && nd->st && storage_sync_pending(nd->st) &&
               (!nd->deadline[RT_TIMER_RT] || nd->deadline[RT_TIMER_RT] > nd->st_lazy_due)) {
        /* Lazy writes: the runtime's timer syncs them when they are due. */
        nd->deadline[RT_TIMER_RT] = nd->st_lazy_due;
        rearm(nd);
    }
    if (did)
        settle(nd);
}

/* ---- loop callbacks ---- */

static void on_control(struct node *nd, const struct wire_hdr *h)
{
    switch (h->type) {
    case MSG_RT_START:
        rt_cluster_up(nd);
        nd->wl->cluster_up(nd);
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
    /* A node with storage drains more per turn: the steps of one turn
     * share one sync. */
    int batch = nd->st ? RT_STORAGE_RECV_BATCH : RT_RECV_BATCH;
    for (int i = 0; i < batch && !nd->fatal; i++) {
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
            rt_trace(nd, TR_DROP, 0, 0, 0, nd->tp.last_err, 0);
            log_malformed(nd, nd->tp.last_err, &h);
            continue;
        }
        if (rc == 3) {
            /* The simulated network dropped it (counted): a cut link or
             * the link's loss, as the transport says. */
            rt_trace(nd, TR_DROP, h.from, h.type, h.f[0], nd->tp.last_drop, 0);
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
            rt_trace(nd, TR_DROP, h.from, h.type, 0, WIRE_ERR_TYPE, 0);
            log_malformed(nd, WIRE_ERR_TYPE, &h);
            continue;
        }
        if (runtime) {
            on_control(nd, &h);
            continue;
        }
        rt_fd_check_incarnation(nd, h.from);
        if (WIRE_INC(h.flags) != (uint16_t)nd->fd_inc[h.from]) {
            /* Sent by a previous life of the sender, which has since
             * crashed: lost, as a reset connection would lose it. */
            atomic_fetch_add(&nd->me->cnt[CNT_DROPPED], 1);
            rt_trace(nd, TR_DROP, h.from, h.type, h.f[0], WIRE_DROP_STALE, 0);
            continue;
        }
        atomic_fetch_add_explicit(&nd->me->cnt[CNT_RECV], 1, memory_order_relaxed);
        rt_trace_msg(nd, TR_RECV, h.from, h.type, h.f, h.send_us);
        struct algo_event ev = {.kind = EV_MESSAGE, .now_us = rt_now(nd)};
        ev.msg.type = h.type;
        ev.msg.from = h.from;
        ev.msg.to = h.to;
        memcpy(ev.msg.f, h.f, sizeof ev.msg.f);
        ev.msg.len = h.len;
        ev.msg.payload = h.len ? payload : NULL;
        rt_step(nd, &ev);
        if (nd->acts.malformed) {
            /* The core refused a field out of its range: the message it
             * received was dropped as malformed, and the trace says so
             * right after its receipt. */
            atomic_fetch_add(&nd->me->malformed_kind[WIRE_ERR_FIELD], 1);
            rt_trace(nd, TR_DROP, h.from, h.type, h.f[0], WIRE_ERR_FIELD, 0);
            log_malformed(nd, WIRE_ERR_FIELD, &h);
        }
        settle(nd);
    }
    settle(nd);
    (void)l;
    (void)events;
}

void rt_fire_timers(struct node *nd, int64_t now)
{
    /* The failure detector first: after a pause the core should act on a
     * fresh view of its peers, not on the one it had before it slept. */
    if (nd->deadline[RT_TIMER_FD] && nd->deadline[RT_TIMER_FD] <= now) {
        nd->deadline[RT_TIMER_FD] = 0;
        rt_fd_tick(nd);
        settle(nd);
    }
    for (int i = 0; i < RT_NTIMERS; i++) {
        if (!nd->deadline[i] || nd->deadline[i] > now)
            continue;
        nd->deadline[i] = 0;
        if (i == RT_TIMER_FD) {
            rt_fd_tick(nd);
        } else if (i == RT_TIMER_RT) {
            rt_end_turn(nd);
        } else if (i >= RT_TIMER_WL) {
            nd->wl->timer(nd, i - RT_TIMER_WL);
        } else {
            struct algo_event ev = {.kind = EV_TIMER, .now_us = now, .timer_id = i};
            rt_step(nd, &ev);
        }
        settle(nd);
    }
    settle(nd);
}

static void on_timer(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct node *nd = w->arg;
    loop_timerfd_ack(nd->timerfd);
    nd->armed_at = -1; /* force a re-arm */
    rt_fire_timers(nd, rt_now(nd));
    (void)l;
    (void)events;
}

static void dump_state(struct node *nd)
{
    struct shm_node *me = nd->me;
    char wl[160];
    nd->wl->describe(nd, wl, sizeof wl);
    fprintf(stderr,
            "node %d (incarnation %d): %s; sent %llu, "
            "received %llu, malformed %llu, backlog %llu (high %llu, %llu bytes), queue full "
            "%llu, dropped by the transport %llu, held for delay %llu\n",
            nd->args.id, nd->args.incarnation, wl,
            (unsigned long long)atomic_load(&me->cnt[CNT_SENT]),
            (unsigned long long)atomic_load(&me->cnt[CNT_RECV]),
            (unsigned long long)atomic_load(&me->cnt[CNT_MALFORMED]),
            (unsigned long long)transport_backlog(&nd->tp),
            (unsigned long long)atomic_load(&me->cnt[CNT_BACKLOG_HWM]),
            (unsigned long long)transport_backlog_bytes(&nd->tp),
            (unsigned long long)atomic_load(&me->cnt[CNT_QUEUE_FULL]),
            (unsigned long long)atomic_load(&me->cnt[CNT_SEND_DROPPED]),
            (unsigned long long)transport_held_count(&nd->tp));
    if (nd->bad_timers)
        fprintf(stderr, "node %d: BUG: %llu timer actions with an id out of range so far\n",
                nd->args.id, (unsigned long long)nd->bad_timers);
}

static void on_signal(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct node *nd = w->arg;
    struct signalfd_siginfo si;
    while (read(nd->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            /* A graceful stop: the workload winds down first. */
            nd->wl->stop(nd);
            loop_stop(l);
        } else if (si.ssi_signo == SIGUSR1) {
            dump_state(nd);
        }
    }
    (void)events;
}

/* ---- set-up and tear-down ---- */

/* The workload of a process, by its algorithm's family: the mutex
 * workload for the mutual-exclusion algorithms; for a replicated log, the
 * clients submit commands and the servers have nothing of their own to
 * do. */
static const struct rt_workload *workload_for(const struct algo_ops *ops, bool client,
                                              bool interactive)
{
    if (client && interactive)
        return &rt_workload_interactive;
    if (client)
        return &rt_workload_client;
    switch (ops->range) {
    case MSG_RANGE_CENTRALIZED:
    case MSG_RANGE_RICART:
    case MSG_RANGE_TOKEN_RING:
    case MSG_RANGE_TWO_LEVEL:
        return &rt_workload_mutex;
    case MSG_RANGE_RAFT:
        return &rt_workload_server;
    default:
        return NULL;
    }
}

static void node_fini(struct node *nd)
{
    if (nd->core) {
        if (nd->ops && nd->ops->fini)
            nd->ops->fini(nd->core);
        free(nd->core);
    }
    if (nd->wl)
        nd->wl->fini(nd);
    algo_actions_free(&nd->acts);
    rt_storage_close(nd);
    free(nd->held);
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
    int clients = rt_run_clients(nd->run);
    if (nd->args.id > (int)nd->run->n + clients)
        return dl_seterr(err, EINVAL, "process %d is not in this run of %u nodes and %d clients",
                         nd->args.id, nd->run->n, clients);
    bool client = nd->args.id > (int)nd->run->n;
    nd->me = &nd->run->node[nd->args.id];
    nd->ops = algo_find(nd->run->algorithm);
    if (!nd->ops)
        return dl_seterr(err, EINVAL, "unknown algorithm '%s'", nd->run->algorithm);
    if (client) {
        /* Clients run the algorithm's client core. */
        if (!nd->ops->client)
            return dl_seterr(err, EINVAL, "%s has no clients (process %d)", nd->ops->name,
                             nd->args.id);
        nd->ops = nd->ops->client;
    }
    rc = trace_open(&nd->tr, nd->run->rundir, nd->args.id, nd->args.incarnation,
                    nd->run->start_mono_us, err);
    if (rc < 0)
        return rc;
    trace_set_max(&nd->tr, (size_t)nd->run->params.trace_max_size);
    /* [trace] record: every event the node and its runtimes trace passes
     * through trace_emit*, where the classes left out are one branch. */
    if (nd->run->params.trace_record)
        trace_set_record(&nd->tr, nd->run->params.trace_record);
    if ((rc = loop_init(&nd->loop, err)) < 0)
        return rc;
    if ((rc = transport_open(&nd->tp, &nd->loop, nd->run, nd->args.id, err)) < 0)
        return rc;
    transport_set_drop_hook(&nd->tp, on_send_drop, nd);
    /* Loss and jitter draws: decided by the run's seed, this node and
     * this life. */
    transport_seed(&nd->tp, transport_net_seed(nd->run->params.seed, nd->args.id,
                                               nd->args.incarnation));
    if ((nd->timerfd = loop_timerfd_create(err)) < 0)
        return nd->timerfd;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    /* A command typed in a shell stops on ^C as on SIGTERM: its trace
     * ends with a stop record and its slot is given back at once (unless
     * the shell ignores SIGINT for it, as for a job in the background). */
    struct sigaction old_int;
    if (nd->args.interactive && sigaction(SIGINT, NULL, &old_int) == 0 &&
        old_int.sa_handler != SIG_IGN)
        sigaddset(&set, SIGINT);
    if ((nd->sigfd = loop_signalfd_create(&set, err)) < 0)
        return nd->sigfd;
    /* ^C in a terminal goes to the whole process group: only the launcher
     * should act on it (it stops the nodes in order). A command typed in
     * a shell (`distlab client`) is that shell's to interrupt. */
    if (!nd->args.interactive)
        signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (algo_actions_init(&nd->acts, (int)nd->run->n + clients) < 0)
        return dl_seterr(err, ENOMEM, "out of memory");
    nd->core = calloc(1, nd->ops->state_size);
    if (!nd->core)
        return dl_seterr(err, ENOMEM, "out of memory");
    /* What an earlier life persisted, if anything. */
    if ((rc = rt_persist_load(nd, err)) < 0)
        return rc;
    /* A replicated log's server: its typed storage, recovered. */
    if (!client && rt_storage_wanted(nd->ops) && (rc = rt_storage_open(nd, err)) < 0)
        return rc;
    nd->env = (struct algo_env){
        .id = nd->args.id,
        .n = (int)nd->run->n,
        .incarnation = nd->args.incarnation,
        .seed = nd->run->params.seed * 1000003u + (uint64_t)nd->args.id * 7919u +
                (uint64_t)nd->args.incarnation,
        .coordinator = nd->args.interactive ? nd->args.interactive->first_server
                                            : nd->run->params.coordinator,
        .coordinator_competes = nd->run->params.coordinator_competes != 0,
        .token_timeout_us = nd->run->params.token_timeout_us,
        .token_idle_hold_us = nd->run->params.idle_hold_us,
        .election_timeout_us = nd->run->params.election_timeout_us,
        .groups = nd->run->params.groups,
        .local_rounds = nd->run->params.local_rounds,
        .initial_clock = client ? 0 : nd->run->params.initial_clock[nd->args.id],
        .staged_start = true,
        .retransmit = nd->run->params.retransmit != 0,
        .retransmit_us = nd->run->params.retransmit_us,
        .restored = nd->restored,
        .restored_len = nd->restored_len,
        .mem = &algo_mem_libc,
        .max_inline = nd->run->params.max_inline,
        .clients = clients,
        .raft_election_min_us = nd->run->params.election_timeout_min_us,
        .raft_election_max_us = nd->run->params.election_timeout_max_us,
        .raft_heartbeat_us = nd->run->params.heartbeat_us,
        .raft_prevote = nd->run->params.prevote != 0,
        .raft_check_quorum = nd->run->params.check_quorum != 0,
        .raft_local_reads = nd->run->params.local_reads != 0,
        .raft_snapshot_entries = nd->run->params.snapshot_entries,
        .raft_max_inflight = nd->run->params.max_inflight,
        .client_window = nd->run->params.pipeline,
        .client_timeout_us = nd->args.interactive ? nd->args.interactive->timeout_us
                                                  : nd->run->params.client_timeout_us,
    };
    memcpy(nd->env.group_of, nd->run->params.group_of, sizeof nd->env.group_of);
    nd->env.stored = rt_storage_stored(nd);
    if (nd->ops->init(nd->core, &nd->env) < 0)
        return dl_seterr(err, EINVAL, "%s: bad parameters for node %d", nd->ops->name,
                         nd->args.id);
    nd->wl = workload_for(nd->ops, client, nd->args.interactive != NULL);
    if (!nd->wl)
        return dl_seterr(err, EINVAL, "%s: no workload for this algorithm", nd->ops->name);
    if ((rc = nd->wl->init(nd, err)) < 0)
        return rc;
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
    atomic_store(&nd->me->started_us, rt_now(nd));
    rt_trace(nd, TR_START, 0, 0, 0, (int)getpid(), 0);
    struct algo_event ev = {.kind = EV_START, .now_us = rt_now(nd)};
    rt_step(nd, &ev);
    rt_fd_init(nd);
    atomic_store(&nd->me->state, NODE_UP);
    rt_send_runtime(nd, 0, MSG_RT_READY, args->incarnation);
    /* A restarted node joins a run already under way, as does a command
     * from a shell. */
    if (atomic_load(&nd->run->phase) == RUN_RUNNING &&
        (args->incarnation > 1 || args->interactive)) {
        rt_cluster_up(nd);
        nd->wl->cluster_up(nd);
    }
    rt_end_turn(nd);
    settle(nd);
    /* The loop, with the end of each turn (group commit) after what one
     * epoll_wait returned was served. */
    rc = 0;
    while (!nd->loop.stop) {
        rc = loop_once(&nd->loop, -1);
        if (rc < 0)
            break;
        rt_end_turn(nd);
        rc = 0;
    }
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
    if (nd->bad_timers)
        fprintf(stderr, "node %d: BUG: %llu timer actions with an id out of range in all\n",
                nd->args.id, (unsigned long long)nd->bad_timers);
    rt_trace(nd, TR_STOP, 0, 0, 0, 0, 0);
    atomic_store(&nd->me->in_cs, 0);
    bool fatal = nd->fatal;
    node_fini(nd);
    free(nd);
    return rc < 0 || fatal ? 1 : 0;
}
