/* Ricart–Agrawala mutual exclusion: permission from every peer.
 *
 * From Ricart & Agrawala (1981) and Kshemkalyani & Singhal 9.4: a node keeps
 * a Lamport clock. To request the CS it stamps the request (ts, id) and sends
 * REQUEST(ts) to every other node; it enters once every one of them has sent
 * a REPLY. A node receiving REQUEST(ts_j) from j "sends a REPLY message to
 * site S_j if it is neither requesting nor executing the CS, or if it is
 * requesting and S_j's request's timestamp is smaller than its own request's
 * timestamp. Otherwise, the reply is deferred" until it leaves the CS. Ties
 * on the timestamp go to the smaller id, so requests are granted in (ts, id)
 * order. 2(N-1) messages per CS, no FIFO channels needed.
 *
 * Failures: a silent node would starve everyone, so the driver's failure
 * detector is used (EV_PEER_DOWN / EV_PEER_UP): a node believed down is not
 * asked and not waited for. A node that comes back is a new incarnation with
 * no memory: a requester asks it again and waits for its answer again. A
 * timeout detector cannot tell a paused node from a dead one, and Ricart-
 * Agrawala has no generation to fence on, so a long pause inside the CS
 * breaks mutual exclusion (tests/check_ricart.c shows it). A request from
 * a peer believed down proves it is back; this assumes the failure timeout
 * outlasts message delays, or a dead node's late request would have us
 * wait for it again.
 *
 * Fields. REQUEST: f[0] = ts, f[1] = tag. REPLY: f[0] = the replier's clock,
 * f[1] = the ts of the request it answers, f[2] = that request's tag. A tag
 * is fresh for every REQUEST sent (a counter from a random start drawn per
 * incarnation), and a REPLY counts only if it echoes the ts and the tag of
 * the request we are waiting on. That makes stale replies harmless: one
 * meant for an earlier request or an earlier incarnation of ours, and one
 * from an earlier incarnation of the peer that arrives after we asked the
 * new incarnation again. The timestamp alone can not tell these apart: a
 * restarted node's clock starts again from 0. (Drivers give each
 * incarnation its own env.seed.) inspect() reports the Lamport clock as
 * the term.
 *
 * Valid ranges: a timestamp or a clock (REQUEST f[0], REPLY f[0]) is in
 * 0 .. algo_counter_limit(now); a message with one outside is counted
 * as malformed and ignored. That limit grows with the run's clock far faster
 * than a Lamport clock can (one per event), so a node that accepted a stamp
 * at the limit stamps its next request with a value its peers accept a
 * moment later: nothing stalls, and clock + 1 never overflows. A tag and a
 * REPLY's echoed stamp are any value (they are only compared for equality
 * with what we sent).
 *
 * Retransmission (env->retransmit; off, the textbook algorithm, which
 * assumes reliable channels: a REQUEST or REPLY lost to a partition shorter
 * than the failure timeout, or to loss, leaves its requester waiting for
 * good). No new message type. A requester re-sends its REQUEST, the same ts
 * and the same tag, to every peer up whose REPLY is missing, every
 * retransmit_us (timer 0) until it enters; a REPLY to any copy counts, and
 * only once (replied is a flag). A peer that gets a copy answers it as it
 * answered the first: it replies again if it replied (the reply was lost),
 * keeps one deferred reply if it deferred (defer() stores a (ts, tag)
 * once). A copy of the last request a peer sent us (same ts and tag) is
 * not taken for the request of a restarted peer (on_request's re-ask), so
 * it costs one REPLY and nothing else. Safety is the textbook argument:
 * whichever copy a reply answers, the replier was then neither in the CS
 * nor ahead of the request. Cost when nothing is lost: none while a
 * request is answered within retransmit_us; a re-sent REQUEST per
 * retransmit_us to each peer that defers it longer. A partition longer
 * than the failure timeout is another matter: each side then believes the
 * other down and goes on without it (unsafe, as under a long pause). */
#include "nodes/algo.h"

#include <string.h>

#include "nodes/rng.h"

enum {
    RA_REQUEST = MSG_RANGE_RICART + 1,
    RA_REPLY,
};

enum { RA_T_RETX = 0 }; /* retransmit: re-send the request to whoever has not replied */

/* Requests of one peer we owe a reply. One per incarnation of the peer in
 * the normal case; a few slots so that a stale request of an earlier
 * incarnation, arriving late, cannot push out the current one. */
#define RA_SLOTS 4

struct ra_peer {
    bool down;    /* believed down: neither asked nor waited for */
    bool replied; /* its REPLY to our current request arrived */
    int64_t tag;  /* the tag our current request carried to it */
    int ndef;
    int64_t def_ts[RA_SLOTS], def_tag[RA_SLOTS];
    /* Retransmit: the last request received from it, to know a copy. */
    bool got_req;
    int64_t last_ts, last_tag;
};

struct ra_state {
    int id, n;
    int64_t clock; /* Lamport clock */
    bool wanting, in_cs;
    int64_t req_ts; /* the timestamp of the current/last request */
    int64_t next_tag;
    bool retx; /* env->retransmit */
    int64_t retx_us;
    struct ra_peer p[ALGO_MAX_NODES + 1];
};

static int ra_init(void *state, const struct algo_env *env)
{
    struct ra_state *s = state;
    memset(s, 0, sizeof *s);
    if (env->n < 1 || env->n > ALGO_MAX_NODES || env->id < 1 || env->id > env->n ||
        env->initial_clock < 0 || env->initial_clock > ALGO_COUNTER_BASE)
        return -1;
    if (env->retransmit && env->retransmit_us <= 0)
        return -1;
    s->id = env->id;
    s->n = env->n;
    s->retx = env->retransmit;
    s->retx_us = env->retransmit_us;
    /* A configured starting clock (the textbook example starts nodes at
     * different times), so the first request is stamped initial_clock + 1. */
    s->clock = env->initial_clock;
    /* Each incarnation gets its own seed, so its tags start far from those
     * of any earlier one. */
    struct dl_rng rng;
    dl_rng_seed(&rng, env->seed);
    s->next_tag = (int64_t)(dl_rng_next(&rng) >> 2);
    return 0;
}

/* (ts_a, a) < (ts_b, b): the total order on requests. */
static bool precedes(int64_t ts_a, int a, int64_t ts_b, int b)
{
    return ts_a < ts_b || (ts_a == ts_b && a < b);
}

/* Send our current request to k and wait for k's reply to it. */
static void ask(struct ra_state *s, int k, struct algo_actions *out)
{
    struct ra_peer *p = &s->p[k];
    p->replied = false;
    p->tag = ++s->next_tag;
    act_send(out, s->id, k, RA_REQUEST, s->req_ts, p->tag, 0, 0);
}

/* Enter once every peer believed up has replied. */
static void try_enter(struct ra_state *s, struct algo_actions *out)
{
    if (!s->wanting || s->in_cs)
        return;
    for (int k = 1; k <= s->n; k++)
        if (k != s->id && !s->p[k].replied && !s->p[k].down)
            return;
    s->in_cs = true;
    act_enter_cs(out, s->req_ts, -1);
}

/* k is (back) up: a new incarnation that knows nothing of our request. */
static void peer_up(struct ra_state *s, int k, struct algo_actions *out)
{
    s->p[k].down = false;
    if (s->wanting && !s->in_cs)
        ask(s, k, out);
}

static void defer(struct ra_peer *p, int64_t ts, int64_t tag)
{
    for (int i = 0; i < p->ndef; i++)
        if (p->def_ts[i] == ts && p->def_tag[i] == tag)
            return; /* a copy of one we already owe */
    if (p->ndef == RA_SLOTS) { /* forget the oldest: it is stale */
        memmove(p->def_ts, p->def_ts + 1, (RA_SLOTS - 1) * sizeof p->def_ts[0]);
        memmove(p->def_tag, p->def_tag + 1, (RA_SLOTS - 1) * sizeof p->def_tag[0]);
        p->ndef--;
    }
    p->def_ts[p->ndef] = ts;
    p->def_tag[p->ndef] = tag;
    p->ndef++;
}

static void on_request(struct ra_state *s, int j, int64_t ts, int64_t tag,
                       struct algo_actions *out)
{
    struct ra_peer *p = &s->p[j];
    /* Retransmit: the same (ts, tag) again is a copy of the request we
     * last had from j (j re-sends while our reply is missing): answered as
     * the first was, a reply or (still) deferred, and nothing else. */
    bool copy = s->retx && p->got_req && p->last_ts == ts && p->last_tag == tag;
    if (s->retx) {
        p->got_req = true;
        p->last_ts = ts;
        p->last_tag = tag;
    }
    if (p->down)
        peer_up(s, j, out); /* a request proves it is up, and new */
    /* Lamport's rule on receipt: the clock moves past the message's. */
    s->clock = (ts > s->clock ? ts : s->clock) + 1;
    if (s->in_cs || (s->wanting && precedes(s->req_ts, s->id, ts, j))) {
        defer(p, ts, tag);
        return;
    }
    /* We reply at once. If we are waiting and already hold j's reply, j
     * cannot be the node that gave it: a reply to our request moved j's
     * clock past our ts, so j's later requests follow ours and would be
     * deferred. j restarted and our PEER_UP is late; its old permission is
     * void, ask again (never happens without failures). */
    if (s->wanting && p->replied && !copy)
        ask(s, j, out);
    act_send(out, s->id, j, RA_REPLY, s->clock, ts, tag, 0);
}

static void on_reply(struct ra_state *s, int j, const struct algo_msg *m,
                     struct algo_actions *out)
{
    struct ra_peer *p = &s->p[j];
    s->clock = (m->f[0] > s->clock ? m->f[0] : s->clock) + 1;
    /* Only the answer to the request we are waiting on counts. */
    if (!s->wanting || s->in_cs || m->f[1] != s->req_ts || m->f[2] != p->tag)
        return;
    p->replied = true;
    try_enter(s, out);
}

static void ra_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct ra_state *s = state;
    switch (ev->kind) {
    case EV_REQUEST:
        if (s->wanting || s->in_cs)
            break; /* one outstanding request at a time */
        s->wanting = true;
        s->req_ts = ++s->clock;
        for (int k = 1; k <= s->n; k++) {
            s->p[k].replied = false;
            if (k != s->id && !s->p[k].down)
                ask(s, k, out);
        }
        try_enter(s, out); /* alone, or every peer is down */
        if (s->retx && !s->in_cs)
            act_set_timer(out, RA_T_RETX, s->retx_us);
        break;
    case EV_RELEASE:
        if (!s->in_cs)
            break;
        s->in_cs = s->wanting = false;
        /* "Upon exiting the CS, send all deferred REPLY messages." Also to
         * peers believed down: a reply is harmless (its tag only matches
         * the request it answers) and a paused peer still waits for it. */
        for (int k = 1; k <= s->n; k++) {
            struct ra_peer *p = &s->p[k];
            for (int i = 0; i < p->ndef; i++)
                act_send(out, s->id, k, RA_REPLY, s->clock, p->def_ts[i], p->def_tag[i], 0);
            p->ndef = 0;
        }
        break;
    case EV_MESSAGE: {
        const struct algo_msg *m = &ev->msg;
        if (m->from < 1 || m->from > s->n || m->from == s->id ||
            !algo_counter_ok(m->f[0], ev->now_us)) {
            act_malformed(out); /* not from a peer, or a stamp out of range */
            break;
        }
        if (m->type == RA_REQUEST)
            on_request(s, m->from, m->f[0], m->f[1], out);
        else if (m->type == RA_REPLY)
            on_reply(s, m->from, m, out);
        else
            act_malformed(out); /* not a Ricart-Agrawala message */
        break;
    }
    case EV_PEER_DOWN:
        if (ev->peer < 1 || ev->peer > s->n || ev->peer == s->id)
            break;
        /* Stop waiting for it: if its reply was the last one missing, we
         * enter now. What we owe it stays owed (see EV_RELEASE). */
        s->p[ev->peer].down = true;
        try_enter(s, out);
        break;
    case EV_PEER_UP:
        if (ev->peer >= 1 && ev->peer <= s->n && ev->peer != s->id)
            peer_up(s, ev->peer, out);
        break;
    case EV_TIMER:
        if (ev->timer_id == RA_T_RETX && s->retx && s->wanting && !s->in_cs) {
            /* Re-send our request, the same ts and tag, to every peer up
             * whose reply is missing: the request or the reply was lost. */
            for (int k = 1; k <= s->n; k++)
                if (k != s->id && !s->p[k].replied && !s->p[k].down)
                    act_send(out, s->id, k, RA_REQUEST, s->req_ts, s->p[k].tag, 0, 0);
            act_set_timer(out, RA_T_RETX, s->retx_us);
        }
        break;
    case EV_START:
    case EV_CLUSTER_UP: break; /* no timeouts of its own but retransmission's */
    case EV_SEND_FAILED: /* the transport counted and traced it; no retry here */
    case EV_PERSISTED:
    case EV_COMMAND:
        break;
    }
}

static const char *ra_msg_name(uint16_t type)
{
    switch (type) {
    case RA_REQUEST: return "request";
    case RA_REPLY: return "reply";
    default: return NULL;
    }
}

static bool ra_competes(const struct algo_env *env, int id)
{
    (void)env;
    (void)id;
    return true; /* every node competes: there is no coordinator */
}

static double ra_theory(const struct algo_env *env)
{
    return 2.0 * (env->n - 1); /* N-1 requests and N-1 replies */
}

static void ra_inspect(const void *state, struct algo_inspect *out)
{
    const struct ra_state *s = state;
    memset(out, 0, sizeof *out);
    out->in_cs = s->in_cs;
    out->wanting = s->wanting;
    out->role = ROLE_NONE;
    out->term = s->clock;
}

const struct algo_ops algo_ricart_agrawala = {
    .name = "ricart_agrawala",
    .range = MSG_RANGE_RICART,
    .key_field = "ts",
    .state_size = sizeof(struct ra_state),
    .init = ra_init,
    .step = ra_step,
    .fini = NULL,
    .msg_name = ra_msg_name,
    .competes = ra_competes,
    .theory_messages_per_cs = ra_theory,
    .theory_note = "2(N-1) messages per CS; synchronization delay 1 message time; grants in "
                   "(timestamp, id) order; every node takes part in every entry",
    .inspect = ra_inspect,
    .token_msg = NULL,
};
