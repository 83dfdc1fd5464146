/* Token ring mutual exclusion, with token regeneration.
 *
 * From the textbooks (Tanenbaum & van Steen 6.3.4; Coulouris 15.2): the
 * processes form a logical ring, here by id (1 -> 2 -> ... -> N -> 1). "When
 * the ring is initialized, process 0 is given a token. The token circulates
 * around the ring. ... When a process acquires the token from its neighbor,
 * it checks to see if it needs to access the shared resource. If so, the
 * process goes ahead, does all the work it needs to, and releases the
 * resources. After it has finished, it passes the token along the ring. It is
 * not permitted to immediately enter the resource again using the same
 * token. If a process is handed the token by its neighbor and is not
 * interested in the resource, it just passes the token along."
 * Cost: 1 to infinity messages per CS (idle passes when nobody wants it);
 * under full load exactly 1. A waiter sees at most N-1 other entries first.
 * Here a holder that does not want the CS keeps the token token_idle_hold
 * before passing it (and enters at once if asked meanwhile), which bounds
 * the idle traffic at N/idle_hold hops per second.
 *
 * Failures (REFERENCE.md): "lost token -> detect by timeout, regenerate one
 * token with a higher generation; skip down successors." The design:
 *
 * - Generations are unique per regenerator: gen = (epoch << 8) | id, with
 *   epoch = (highest epoch seen) + 1. Two nodes that regenerate at once make
 *   different generations and the higher one wins. The generation is the
 *   fencing token: a holder enters the CS with it, and the resource refuses
 *   a generation older than the newest it has seen.
 * - Detection: a node that has not seen the token for token_timeout (default
 *   RING_DEFAULT_TIMEOUT_US plus two idle laps) suspects it lost. Only the lowest-id node
 *   believed up regenerates; the others wait another timeout. We chose this
 *   over staggering by ring distance because a node only sees the token when
 *   it visits itself, so it does not know where the token was last seen;
 *   "the lowest live id" needs no extra knowledge, and nodes disagree on it
 *   only while the failure detector disagrees (a pause, a restart), which
 *   the unique generations make harmless for the token count.
 * - The regenerator announces the new generation to every peer (NEWGEN, N-1
 *   messages, only on a regeneration), so an old token held by a paused node
 *   or still in flight is recognised as stale at its next step instead of
 *   racing the new one around the ring.
 * - Every node remembers the highest generation it has seen. A TOKEN of a
 *   lower one is stale (a paused holder resumed, a token from before a
 *   regeneration): it is discarded, never used, never passed on, and its
 *   sender is told the newest generation (NEWGEN). A holder that learns of
 *   a higher generation drops its own token.
 * - A regenerated token makes one lap before its maker uses it, so that a
 *   maker that knew too little (a restarted node remembers no generation)
 *   cannot enter with a stale one: the first node that knows better drops
 *   it and tells the maker.
 * - The first token: node 1 makes it at EV_START of its first life
 *   (env->incarnation == 1), when no token can exist anywhere. A restarted
 *   node 1 must not: the token of its first life may still circulate, and
 *   if it does not, the lost-token timeout regenerates one.
 *
 * - Start-up: the driver starts the processes one by one, and the first
 *   token's lap waits in the queue of every node that has not started yet.
 *   64 processes take most of a second to start, more than a timeout of two
 *   busy laps, and a regeneration then would make a second token while the
 *   first is alive (one node would enter with the old generation while
 *   another is inside with the new). So with env->staged_start the lost-token
 *   clock starts at EV_CLUSTER_UP (every node has started), not before.
 *
 * Fields: TOKEN f[0] = gen, f[1] = passes in a row that nobody used (idle
 * hops: a full lap of them means the ring is idle). NEWGEN f[0] = gen.
 * Valid ranges (anything else is counted as malformed and ignored): gen in
 * 1 .. algo_counter_limit(now), f[1] in 0 .. the same limit. The limit grows faster than
 * regenerations can raise a generation (by at most 2^9 per token_timeout),
 * so a regeneration above an accepted generation is accepted too, and
 * (epoch + 1) << 8 never overflows.
 *
 * Retransmission (env->retransmit; off, none of this, and TOKEN f[2] is 0).
 * The lost-token timeout above recovers a token lost to a partition or to
 * loss, but only after token_timeout without a token (hundreds of ms, and
 * a new generation). With retransmit a lost handoff is recovered in about
 * retransmit_us after the network lets it through, with the same token:
 *  - Every TOKEN carries a hop number (f[2]), one more at each pass, so
 *    (gen, hop) names one handoff. A node remembers the highest hop of the
 *    newest generation it accepted; a TOKEN of (gen, hop) at or below it is
 *    a copy and is dropped (never used, never passed on).
 *  - The receiver of a TOKEN, any TOKEN (stale ones too: their sender
 *    stops), answers ACK(gen, hop, GOT). The sender keeps the handoff
 *    (successor, gen, idle, hop, when) until then.
 *  - No ACK within retransmit_us (timer 2): the sender sends PROBE(gen, hop,
 *    when sent, probe number), again every retransmit_us, and at once when
 *    the successor comes back up (EV_PEER_UP) if the token went out at least
 *    retransmit_us ago. The successor answers ACK with GOT if it has seen
 *    that handoff or a newer token (or a newer generation), UNKNOWN if it
 *    started after the handoff was sent (a restart forgot what it saw; the
 *    lost-token timeout decides, as without retransmit), else MISSING.
 *  - On MISSING to a probe sent at least retransmit_us after the token last
 *    went out (earlier probes' answers are void), the sender sends the same
 *    TOKEN (gen, idle, hop) again. Why this never makes two tokens: the
 *    successor had not seen the handoff when it answered, and the copy sent
 *    retransmit_us earlier had arrived or been lost by then (retransmit_us
 *    exceeds a message time: 2 (delay + jitter) + 10 ms at least); and
 *    were a copy still on its way, the successor would take one of the two
 *    and drop the other as seen. Any newer token or generation ends the
 *    handoff (its token is stale anyway).
 * Cost: one ACK per hop, so twice the messages of the ring (1 -> 2 per CS
 * under full load); probes and re-sent tokens only when something is lost.
 * A handoff whose probes are lost longer than the lost-token timeout is
 * overtaken by a regeneration, as without retransmit (fencing keeps the
 * resource safe). Messages: ACK f[0] gen, f[1] hop, f[2] 0 GOT / 1 MISSING /
 * 2 UNKNOWN, f[3] the probe answered (0: the token itself); PROBE f[0] gen,
 * f[1] hop, f[2] when the handoff was sent, f[3] the probe number; each in
 * 0 .. algo_counter_limit(now), f[2] of ACK in 0..2, else malformed. */
#include "nodes/algo.h"

#include <string.h>

enum {
    RING_TOKEN = MSG_RANGE_TOKEN_RING + 1,
    RING_NEWGEN,
    RING_ACK,   /* retransmit: f0 gen, f1 hop, f2 RING_GOT / RING_MISSING / RING_UNKNOWN,
                   f3 the probe answered (0: the token itself) */
    RING_PROBE, /* retransmit: f0 gen, f1 hop, f2 when the handoff was sent, f3 probe number */
};

/* What a RING_ACK says about the token (gen, hop). */
enum {
    RING_GOT = 0,     /* received (or superseded by a newer one): stop */
    RING_MISSING = 1, /* never arrived: send it again */
    RING_UNKNOWN = 2, /* the receiver restarted since the handoff: cannot tell */
};

enum {
    RING_TIMER_LOST = 0, /* no token seen for timeout_us */
    RING_TIMER_IDLE = 1, /* an idle holder's hold is over */
    RING_TIMER_RETX = 2, /* retransmit: a handoff not acknowledged in time */
};

#define RING_DEFAULT_TIMEOUT_US (200 * 1000)
#define RING_ID_BITS            8 /* ids fit in the low bits of a generation: n <= 128 < 256 */

_Static_assert(ALGO_MAX_NODES < (1 << RING_ID_BITS), "ids must fit in a generation");

struct ring_state {
    int id, n;
    int64_t timeout_us;   /* lost-token timeout */
    int64_t idle_hold_us; /* how long an idle holder keeps the token */
    bool wanting, in_cs;
    bool holding;
    int64_t gen;          /* the generation of the token held */
    int64_t idle;         /* f[1] of the token held */
    int64_t max_gen;      /* the highest generation seen, 0 = none yet */
    int64_t last_seen_us; /* when the token (or news of it) was last seen */
    int incarnation;
    bool starting; /* staged start, and not every node has started yet */
    bool down[ALGO_MAX_NODES + 1];
    /* Retransmit (see the header). */
    bool retx;
    int64_t retx_us;
    int64_t started_us; /* EV_START: what we know of tokens covers the time since */
    int64_t hop;        /* of the token held, or of the last one we passed */
    int64_t seen_hop;   /* the highest hop of generation max_gen accepted here */
    bool pend;          /* a handoff not acknowledged yet: */
    int pend_to;
    int64_t pend_gen, pend_idle, pend_hop, pend_at;
    int64_t pend_sent; /* when the token last went out (first or again) */
    int64_t probes;    /* probes sent for it so far */
    int64_t probe_ok;  /* a MISSING counts only from this probe on: one sent
                          retx_us after the token last went out */
};

static int ring_init(void *state, const struct algo_env *env)
{
    struct ring_state *s = state;
    memset(s, 0, sizeof *s);
    if (env->n < 1 || env->n > ALGO_MAX_NODES || env->id < 1 || env->id > env->n ||
        env->token_timeout_us < 0 || env->token_idle_hold_us < 0)
        return -1;
    if (env->retransmit && env->retransmit_us <= 0)
        return -1;
    s->id = env->id;
    s->n = env->n;
    s->incarnation = env->incarnation;
    s->retx = env->retransmit;
    s->retx_us = env->retransmit_us;
    s->starting = env->staged_start;
    /* An idle holder keeps the token a while (0: passes at once), so that an
     * idle ring does not spin at ~150k hops/s. */
    s->idle_hold_us = env->token_idle_hold_us;
    /* The timeout must exceed a lap: N x (hop + idle hold, or CS time when
     * busy). The default covers the idle lap; the CS time is the
     * configuration's to add, as the core does not know it. */
    s->timeout_us = env->token_timeout_us > 0
                        ? env->token_timeout_us
                        : RING_DEFAULT_TIMEOUT_US + 2 * (int64_t)env->n * s->idle_hold_us;
    return 0;
}

/* The next id in ring order not believed down; ourselves if nobody is up. */
static int successor(const struct ring_state *s)
{
    for (int k = 1; k < s->n; k++) {
        int c = (s->id - 1 + k) % s->n + 1;
        if (!s->down[c])
            return c;
    }
    return s->id;
}

static int lowest_up(const struct ring_state *s)
{
    int k = 1;
    while (k < s->id && s->down[k])
        k++;
    return k;
}

/* Role actions only when holding changes (or the held generation does), so
 * `distlab pid --token-holder` finds the holder: one trace record per node
 * per hop, next to the send and receive records a hop costs anyway. */
static void set_holding(struct ring_state *s, bool holding, int64_t gen, struct algo_actions *out)
{
    if (holding != s->holding || (holding && gen != s->gen))
        act_role(out, holding ? ROLE_TOKEN_HOLDER : ROLE_NONE, gen);
    s->holding = holding;
    if (holding)
        s->gen = gen;
}

/* "After it has finished, it passes the token along the ring." A node
 * alone in the ring keeps the token until a peer comes back (EV_PEER_UP). */
static void pass(struct ring_state *s, int64_t idle, int64_t now, struct algo_actions *out)
{
    int to = successor(s);
    if (to == s->id)
        return;
    if (s->retx) {
        /* Wait for the successor's RING_ACK; re-ask after retx_us. */
        s->hop++;
        s->pend = true;
        s->pend_to = to;
        s->pend_gen = s->gen;
        s->pend_idle = idle;
        s->pend_hop = s->hop;
        s->pend_at = s->pend_sent = now;
        s->probes = 0;
        s->probe_ok = 1;
        act_set_timer(out, RING_TIMER_RETX, s->retx_us);
    }
    act_send(out, s->id, to, RING_TOKEN, s->gen, idle, s->retx ? s->hop : 0, 0);
    set_holding(s, false, s->gen, out);
    s->last_seen_us = now;
}

/* A token of (gen, hop) reached us, or a newer one: a handoff of that
 * token or an older one is over. */
static void pend_done(struct ring_state *s, int64_t gen, int64_t hop)
{
    if (s->pend && (s->pend_gen < gen || (s->pend_gen == gen && s->pend_hop <= hop)))
        s->pend = false;
}

/* Has a token of (gen, hop), or a newer one, been here? */
static bool seen(const struct ring_state *s, int64_t gen, int64_t hop)
{
    return gen < s->max_gen || (gen == s->max_gen && hop <= s->seen_hop);
}

static void on_probe(struct ring_state *s, const struct algo_msg *m, struct algo_actions *out)
{
    int status = seen(s, m->f[0], m->f[1]) ? RING_GOT
                 : s->started_us > m->f[2] ? RING_UNKNOWN
                                           : RING_MISSING;
    act_send(out, s->id, m->from, RING_ACK, m->f[0], m->f[1], status, m->f[3]);
}

/* Ask the receiver of our handoff whether it arrived. */
static void probe(struct ring_state *s, struct algo_actions *out)
{
    act_send(out, s->id, s->pend_to, RING_PROBE, s->pend_gen, s->pend_hop, s->pend_at, ++s->probes);
}

static void on_ack(struct ring_state *s, const struct algo_msg *m, int64_t now,
                   struct algo_actions *out)
{
    if (!s->pend || m->from != s->pend_to || m->f[0] != s->pend_gen || m->f[1] != s->pend_hop)
        return; /* not about the handoff we wait on */
    if (m->f[2] == RING_MISSING) {
        /* Lost (a cut link, loss): the same token again, same hop. The
         * receiver had not seen it when it answered a probe we sent
         * retx_us after the token last went out, by when that copy had
         * arrived or been dropped (retx_us exceeds a message time): this
         * makes no second copy. (Had it not, the receiver would drop the
         * later copy as seen.) Answers to earlier probes are ignored. */
        if (m->f[3] < s->probe_ok)
            return;
        act_send(out, s->id, s->pend_to, RING_TOKEN, s->pend_gen, s->pend_idle, s->pend_hop, 0);
        s->pend_sent = now;
        s->probe_ok = s->probes + 1;
        act_set_timer(out, RING_TIMER_RETX, s->retx_us);
        return;
    }
    /* Arrived; or the receiver restarted and cannot tell, and the lost-
     * token timeout decides. */
    s->pend = false;
    act_cancel_timer(out, RING_TIMER_RETX);
}

static void on_retx_timer(struct ring_state *s, struct algo_actions *out)
{
    if (!s->pend)
        return;
    if (s->pend_gen < s->max_gen) {
        s->pend = false; /* a newer generation exists: ours is stale anyway */
        return;
    }
    /* Ask whether it arrived (a receiver believed down is asked when it
     * is back: EV_PEER_UP). */
    if (!s->down[s->pend_to])
        probe(s, out);
    act_set_timer(out, RING_TIMER_RETX, s->retx_us);
}

/* We hold the token: use it if the application asked, else pass it on. */
static void use_or_pass(struct ring_state *s, int64_t now, struct algo_actions *out)
{
    if (s->in_cs)
        return; /* we adopted a newer token while inside: pass it on release */
    if (s->wanting) {
        s->in_cs = true;
        s->idle = 0;
        act_enter_cs(out, s->gen, s->gen); /* the generation is the fencing token */
    } else if (s->idle_hold_us > 0) {
        act_set_timer(out, RING_TIMER_IDLE, s->idle_hold_us);
    } else {
        pass(s, s->idle + 1, now, out);
    }
}

static void regenerate(struct ring_state *s, int64_t now, struct algo_actions *out)
{
    int64_t epoch = (s->max_gen >> RING_ID_BITS) + 1;
    int64_t gen = (epoch << RING_ID_BITS) | s->id;
    /* Announce it, unless this is the first token (no older one known). */
    if (s->max_gen > 0)
        for (int k = 1; k <= s->n; k++)
            if (k != s->id && !s->down[k])
                act_send(out, s->id, k, RING_NEWGEN, gen, 0, 0, 0);
    s->max_gen = gen;
    s->hop = s->seen_hop = 0;
    s->pend = false;
    s->last_seen_us = now;
    s->idle = 0;
    set_holding(s, true, gen, out);
    /* The new token makes one lap before its maker uses it: each node on the
     * way checks it against the highest generation it has seen, so a maker
     * whose knowledge was stale (it restarted, or it slept) is told so
     * instead of entering with an old generation. */
    if (successor(s) == s->id)
        use_or_pass(s, now, out);
    else
        pass(s, 1, now, out);
}

static void on_token(struct ring_state *s, const struct algo_msg *m, int64_t now,
                     struct algo_actions *out)
{
    int64_t gen = m->f[0];
    if (s->retx) {
        /* Acknowledge every token, stale ones too (their sender stops);
         * one already seen (a copy of a handoff) is dropped. */
        act_send(out, s->id, m->from, RING_ACK, gen, m->f[2], RING_GOT, 0);
        bool copy = seen(s, gen, m->f[2]) && gen == s->max_gen;
        pend_done(s, gen, m->f[2]);
        if (copy)
            return;
    }
    /* Stale (older than one we have seen) or a duplicate of the token we
     * hold: discard it, never use it, never pass it on. Tell its sender and
     * its maker (the low bits of gen) the newest generation, so that they
     * stop passing and making old tokens. */
    if (gen <= 0 || gen < s->max_gen || (s->holding && gen == s->gen)) {
        int maker = (int)(gen & ((1 << RING_ID_BITS) - 1));
        if (gen > 0 && gen < s->max_gen) {
            act_send(out, s->id, m->from, RING_NEWGEN, s->max_gen, 0, 0, 0);
            if (maker != m->from && maker != s->id && maker >= 1 && maker <= s->n)
                act_send(out, s->id, maker, RING_NEWGEN, s->max_gen, 0, 0, 0);
        }
        return;
    }
    /* A newer generation replaces any older token we still hold. */
    s->max_gen = gen;
    s->hop = s->seen_hop = m->f[2];
    s->last_seen_us = now;
    s->idle = m->f[1] > 0 ? m->f[1] : 0;
    set_holding(s, true, gen, out);
    use_or_pass(s, now, out);
}

static void on_newgen(struct ring_state *s, int64_t gen, int64_t now, struct algo_actions *out)
{
    if (s->pend && s->pend_gen < gen)
        s->pend = false; /* the token we hand off is stale */
    if (gen <= s->max_gen)
        return;
    s->max_gen = gen;
    s->seen_hop = 0;
    s->last_seen_us = now; /* a token exists: restart the wait for it */
    if (s->holding) {
        /* Our token is stale: drop it. If we are inside, the resource will
         * refuse our write; on release there is nothing to pass. */
        set_holding(s, false, s->gen, out);
        if (s->idle_hold_us > 0)
            act_cancel_timer(out, RING_TIMER_IDLE);
    }
}

static void on_lost_timer(struct ring_state *s, int64_t now, struct algo_actions *out)
{
    int64_t quiet = now - s->last_seen_us;
    if (s->holding || s->starting || quiet < s->timeout_us) {
        /* Lazy deadline: the timer is not re-armed at every hop. */
        act_set_timer(out, RING_TIMER_LOST,
                      s->holding || s->starting ? s->timeout_us : s->timeout_us - quiet);
        return;
    }
    act_set_timer(out, RING_TIMER_LOST, s->timeout_us);
    if (lowest_up(s) == s->id)
        regenerate(s, now, out);
}

static void ring_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct ring_state *s = state;
    int64_t now = ev->now_us;
    switch (ev->kind) {
    case EV_START:
        s->last_seen_us = now;
        s->started_us = now;
        /* A restarted node may still be listed as the holder of its past life. */
        act_role(out, ROLE_NONE, 0);
        act_set_timer(out, RING_TIMER_LOST, s->timeout_us);
        if (s->id == 1 && s->incarnation == 1) {
            /* The very first start: no token exists anywhere yet. */
            s->max_gen = ((int64_t)1 << RING_ID_BITS) | s->id;
            s->hop = s->seen_hop = 0;
            s->idle = 0;
            set_holding(s, true, s->max_gen, out);
            use_or_pass(s, now, out);
        }
        break;
    case EV_REQUEST:
        if (s->wanting || s->in_cs)
            break; /* one outstanding request at a time */
        s->wanting = true;
        if (s->holding) {
            if (s->idle_hold_us > 0)
                act_cancel_timer(out, RING_TIMER_IDLE);
            use_or_pass(s, now, out);
        }
        break;
    case EV_RELEASE:
        if (!s->in_cs)
            break;
        s->in_cs = false;
        s->wanting = false;
        if (s->holding)
            pass(s, 0, now, out); /* not "immediately enter again using the same token" */
        break;
    case EV_CLUSTER_UP:
        /* The lap under way may have waited on nodes still starting: from
         * now on a lap takes a lap. */
        if (s->starting) {
            s->starting = false;
            s->last_seen_us = now;
        }
        break;
    case EV_MESSAGE:
        if (ev->msg.from < 1 || ev->msg.from > s->n || ev->msg.from == s->id || ev->msg.f[0] < 1 ||
            !algo_counter_ok(ev->msg.f[0], now) ||
            (ev->msg.type == RING_TOKEN && !algo_counter_ok(ev->msg.f[1], now)) ||
            (ev->msg.type == RING_TOKEN && s->retx && !algo_counter_ok(ev->msg.f[2], now)) ||
            ((ev->msg.type == RING_ACK || ev->msg.type == RING_PROBE) &&
             !algo_counter_ok(ev->msg.f[1], now)) ||
            (ev->msg.type == RING_ACK &&
             (ev->msg.f[2] < RING_GOT || ev->msg.f[2] > RING_UNKNOWN)) ||
            ((ev->msg.type == RING_PROBE || ev->msg.type == RING_ACK) &&
             !algo_counter_ok(ev->msg.f[3], now)) ||
            (ev->msg.type == RING_PROBE && !algo_counter_ok(ev->msg.f[2], now))) {
            act_malformed(out);
            break;
        }
        if (ev->msg.type == RING_TOKEN)
            on_token(s, &ev->msg, now, out);
        else if (ev->msg.type == RING_NEWGEN)
            on_newgen(s, ev->msg.f[0], now, out);
        else if (ev->msg.type == RING_ACK)
            on_ack(s, &ev->msg, now, out);
        else if (ev->msg.type == RING_PROBE)
            on_probe(s, &ev->msg, out);
        else
            act_malformed(out); /* not a token ring message */
        break;
    case EV_TIMER:
        if (ev->timer_id == RING_TIMER_LOST)
            on_lost_timer(s, now, out);
        else if (ev->timer_id == RING_TIMER_IDLE && s->holding && !s->in_cs && !s->wanting)
            pass(s, s->idle + 1, now, out);
        else if (ev->timer_id == RING_TIMER_RETX)
            on_retx_timer(s, out);
        break;
    case EV_PEER_DOWN:
        if (ev->peer >= 1 && ev->peer <= s->n && ev->peer != s->id)
            s->down[ev->peer] = true;
        break;
    case EV_PEER_UP:
        if (ev->peer < 1 || ev->peer > s->n || ev->peer == s->id)
            break;
        s->down[ev->peer] = false;
        /* A handoff to it may have been lost while it was cut off: ask now
         * (if the token went out long enough ago; else the timer will). */
        if (s->pend && s->pend_to == ev->peer && s->pend_gen >= s->max_gen &&
            now - s->pend_sent >= s->retx_us)
            probe(s, out);
        /* A lone idle holder has someone to pass to again. */
        if (s->holding && !s->in_cs && !s->wanting)
            pass(s, s->idle + 1, now, out);
        break;
    case EV_SEND_FAILED: /* the transport counted and traced it; no retry here */
    case EV_PERSISTED:
    case EV_COMMAND:
        break;
    }
}

static const char *ring_msg_name(uint16_t type)
{
    switch (type) {
    case RING_TOKEN: return "token";
    case RING_NEWGEN: return "newgen";
    case RING_ACK: return "token_ack";
    case RING_PROBE: return "token_probe";
    default: return NULL;
    }
}

static bool ring_competes(const struct algo_env *env, int id)
{
    (void)env;
    (void)id;
    return true;
}

/* The textbook's "1 to infinity": 1 under full load, where every hop is
 * used; lightly loaded rings add idle passes, which a report shows apart. */
static double ring_theory(const struct algo_env *env)
{
    (void)env;
    return 1.0;
}

static void ring_inspect(const void *state, struct algo_inspect *out)
{
    const struct ring_state *s = state;
    memset(out, 0, sizeof *out);
    out->in_cs = s->in_cs;
    out->wanting = s->wanting;
    out->holds_token = s->holding;
    out->token_gen = s->holding ? s->gen : 0;
    out->role = s->holding ? ROLE_TOKEN_HOLDER : ROLE_NONE;
    out->term = s->max_gen;
}

static bool ring_token_msg(const struct algo_msg *m, int64_t *gen)
{
    if (m->type != RING_TOKEN)
        return false;
    *gen = m->f[0];
    return true;
}

const struct algo_ops algo_token_ring = {
    .name = "token_ring",
    .range = MSG_RANGE_TOKEN_RING,
    .key_field = "gen",
    .state_size = sizeof(struct ring_state),
    .init = ring_init,
    .step = ring_step,
    .fini = NULL,
    .msg_name = ring_msg_name,
    .competes = ring_competes,
    .theory_messages_per_cs = ring_theory,
    .theory_note = "1 to unbounded messages per CS (1 under full load; idle passes when nobody wants "
                   "the token); synchronization delay 0 to N-1 hops; a waiter sees at most N-1 other "
                   "entries first",
    .inspect = ring_inspect,
    .token_msg = ring_token_msg,
};
