/* Centralized mutual exclusion: one coordinator grants the critical section.
 *
 * From the textbooks (Tanenbaum & van Steen 6.3.2; Coulouris 15.2): a process
 * that wants the CS sends REQUEST to the coordinator; the coordinator answers
 * GRANT if the CS is free and otherwise queues the request (FIFO by arrival);
 * the holder sends RELEASE when it leaves, and the coordinator grants the
 * head of its queue. Three messages per CS (request, grant, release), a
 * synchronization delay of two message times (release, then grant).
 *
 * By default the coordinator only coordinates, as in the textbook setting,
 * so every CS costs exactly 3 messages. With coordinator_competes the
 * coordinator's own entries cost none, and the average over a balanced
 * workload is 3(N-1)/N.
 *
 * Fields: f[0] is the requester's request sequence number ("seq"), so a
 * stale GRANT or RELEASE (one for an earlier request) is recognised. */
#include "nodes/algo.h"

#include <string.h>

enum {
    CENT_REQUEST = MSG_RANGE_CENTRALIZED + 1,
    CENT_GRANT,
    CENT_RELEASE,
};

struct cent_state {
    int id, n, coordinator;
    bool competes;
    /* Requester side. */
    bool wanting, in_cs;
    int64_t seq; /* sequence number of the current/last request */
    /* Coordinator side. */
    int holder;         /* node in the CS by our grant, 0 when free */
    int64_t holder_seq; /* the seq it was granted with */
    int q[ALGO_MAX_NODES + 1];
    int64_t qseq[ALGO_MAX_NODES + 1];
    int qhead, qlen; /* FIFO of waiting requesters (each at most once) */
    bool down[ALGO_MAX_NODES + 1];
};

static int cent_init(void *state, const struct algo_env *env)
{
    struct cent_state *s = state;
    memset(s, 0, sizeof *s);
    if (env->n < 1 || env->n > ALGO_MAX_NODES || env->id < 1 || env->id > env->n ||
        env->coordinator < 1 || env->coordinator > env->n)
        return -1;
    s->id = env->id;
    s->n = env->n;
    s->coordinator = env->coordinator;
    s->competes = env->coordinator_competes;
    return 0;
}

static bool is_coord(const struct cent_state *s) { return s->id == s->coordinator; }

static int qcap(const struct cent_state *s) { return s->n + 1; }

/* Where node waits in the queue, or -1. */
static int queued_at(const struct cent_state *s, int node)
{
    for (int i = 0; i < s->qlen; i++) {
        int at = (s->qhead + i) % qcap(s);
        if (s->q[at] == node)
            return at;
    }
    return -1;
}

static void enqueue(struct cent_state *s, int node, int64_t seq)
{
    int at = (s->qhead + s->qlen) % qcap(s);
    s->q[at] = node;
    s->qseq[at] = seq;
    s->qlen++;
}

/* Give the CS to node: a message, or for the coordinator itself an entry. */
static void grant(struct cent_state *s, int node, int64_t seq, struct algo_actions *out)
{
    s->holder = node;
    s->holder_seq = seq;
    if (node == s->id) {
        s->in_cs = true;
        act_enter_cs(out, seq, -1);
    } else {
        act_send(out, s->id, node, CENT_GRANT, seq, 0, 0, 0);
    }
}

static void grant_next(struct cent_state *s, struct algo_actions *out)
{
    while (s->holder == 0 && s->qlen > 0) {
        int node = s->q[s->qhead];
        int64_t seq = s->qseq[s->qhead];
        s->qhead = (s->qhead + 1) % qcap(s);
        s->qlen--;
        if (!s->down[node])
            grant(s, node, seq, out);
    }
}

/* Coordinator: a request arrived (or was made locally). */
static void on_request(struct cent_state *s, int from, int64_t seq, struct algo_actions *out)
{
    if (s->holder == from) {
        if (s->holder_seq == seq)
            return; /* duplicate of the granted request */
        /* The holder asks again with a new seq: it lost the CS it held
         * (it crashed and restarted before we heard it was down). */
        s->holder = 0;
        enqueue(s, from, seq);
        grant_next(s, out);
        return;
    }
    if (s->holder == 0 && s->qlen == 0) {
        grant(s, from, seq, out);
        return;
    }
    int at = queued_at(s, from);
    if (at >= 0)
        s->qseq[at] = seq; /* a newer request replaces a lost one */
    else
        enqueue(s, from, seq);
}

/* Coordinator: the holder released (or was declared down). */
static void on_release(struct cent_state *s, int from, int64_t seq, struct algo_actions *out)
{
    if (s->holder != from || s->holder_seq != seq)
        return; /* not the holder: a stale or duplicate release */
    s->holder = 0;
    grant_next(s, out);
}

static void cent_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct cent_state *s = state;
    switch (ev->kind) {
    case EV_START:
        act_role(out, is_coord(s) ? ROLE_COORDINATOR : ROLE_CLIENT, 0);
        break;
    case EV_REQUEST:
        if (s->wanting || s->in_cs)
            break; /* one outstanding request at a time */
        s->wanting = true;
        s->seq++;
        if (is_coord(s))
            on_request(s, s->id, s->seq, out);
        else
            act_send(out, s->id, s->coordinator, CENT_REQUEST, s->seq, 0, 0, 0);
        break;
    case EV_RELEASE:
        if (!s->in_cs)
            break;
        s->in_cs = false;
        s->wanting = false;
        if (is_coord(s))
            on_release(s, s->id, s->seq, out);
        else
            act_send(out, s->id, s->coordinator, CENT_RELEASE, s->seq, 0, 0, 0);
        break;
    case EV_MESSAGE: {
        const struct algo_msg *m = &ev->msg;
        if (m->from < 1 || m->from > s->n)
            break;
        switch (m->type) {
        case CENT_REQUEST:
            if (is_coord(s) && m->from != s->id)
                on_request(s, m->from, m->f[0], out);
            break;
        case CENT_RELEASE:
            if (is_coord(s))
                on_release(s, m->from, m->f[0], out);
            break;
        case CENT_GRANT:
            if (s->wanting && !s->in_cs && m->f[0] == s->seq) {
                s->in_cs = true;
                act_enter_cs(out, s->seq, -1);
            } else if (!(s->in_cs && m->f[0] == s->seq)) {
                /* A grant we no longer want (an earlier incarnation asked
                 * for it): hand it straight back so nobody waits on us. */
                act_send(out, s->id, m->from, CENT_RELEASE, m->f[0], 0, 0, 0);
            }
            break;
        }
        break;
    }
    case EV_PEER_DOWN:
        if (ev->peer < 1 || ev->peer > s->n)
            break;
        s->down[ev->peer] = true;
        if (is_coord(s) && s->holder == ev->peer) {
            s->holder = 0;
            grant_next(s, out);
        }
        break;
    case EV_PEER_UP:
        if (ev->peer >= 1 && ev->peer <= s->n)
            s->down[ev->peer] = false;
        break;
    case EV_TIMER:
        break;
    }
}

static const char *cent_msg_name(uint16_t type)
{
    switch (type) {
    case CENT_REQUEST: return "request";
    case CENT_GRANT: return "grant";
    case CENT_RELEASE: return "release";
    default: return NULL;
    }
}

static bool cent_competes(const struct algo_env *env, int id)
{
    return id != env->coordinator || env->coordinator_competes;
}

static double cent_theory(const struct algo_env *env)
{
    if (!env->coordinator_competes || env->n <= 1)
        return 3.0;
    return 3.0 * (env->n - 1) / env->n;
}

const struct algo_ops algo_centralized = {
    .name = "centralized",
    .range = MSG_RANGE_CENTRALIZED,
    .key_field = "seq",
    .state_size = sizeof(struct cent_state),
    .init = cent_init,
    .step = cent_step,
    .fini = NULL,
    .msg_name = cent_msg_name,
    .competes = cent_competes,
    .theory_messages_per_cs = cent_theory,
};
