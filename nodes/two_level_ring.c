/* Two-level token ring: local rings inside groups (LANs), a global ring of
 * group coordinators (the WAN). REFERENCE.md: messages per CS = local hops +
 * global hops; biased to the local group unless capped; per-level token loss;
 * a group coordinator is a single point of failure for its group.
 *
 * Groups: nodes 1..n in G groups (env->groups, 2 if 0) of consecutive ids,
 * the first n % G groups one member larger (n = 6, G = 2: {1,2,3} {4,5,6};
 * n = 7, G = 3: {1,2,3} {4,5} {6,7}), unless env->group_of[k] is nonzero for
 * every node (then G = env->groups, or the largest group number if 0). A
 * group's coordinator is its lowest-id member believed up.
 *
 * Rules. The global token visits the coordinators in group order, skipping
 * groups with nobody up. Its holder runs a visit: at most local_rounds (1 if
 * 0) laps of the local token. In a lap the coordinator may enter the CS, then
 * the local token walks the group in id order, wrapping, each member entering
 * if it wants, back to the coordinator: the lap's coordinator rides in the
 * token (f[1]) and the walk stops there, which is how a member knows whom to
 * give it back to. The token counts the lap's entries (f[2]); a lap with none
 * ends the visit early (nobody wanted), and after local_rounds laps the global
 * token moves on, the cap that keeps a busy group from starving the others.
 * A local token whose lap ends at a node without the global token is dropped,
 * so there is one privilege in the whole system: the local token of the group
 * being visited, or the global token between two coordinators.
 *
 * Generations (fencing): gen = global_gen << 20 | local_gen, global_gen =
 * epoch << 8 | id of its minter. local_gen travels with the global token (it
 * is not reset per visit), so gen never decreases along the token's path. A
 * lost local token is regenerated as gen + 1, only by the holder of the global
 * token, so nobody else can mint that number; a lost global token gets an
 * epoch above every one its minter saw, so its gen exceeds any gen with an
 * older global part whatever the local part. Each regeneration is thus above
 * every gen an earlier entry could have used. Every node keeps the highest
 * gen it has seen and drops tokens below it (stale).
 *
 * A holder that does not want the CS keeps the local token
 * env->token_idle_hold_us before passing it (it enters at once if asked
 * meanwhile), so an idle cluster does not spin; after its CS it passes at once.
 *
 * Failures. The lap's coordinator arms T_LOCAL when the local token leaves;
 * no token back within token_timeout (if 0: 200 ms + 2 n idle_hold, to cover
 * a lap of idle holds) means it was lost (a member crashed with it): gen + 1,
 * and the lap counts as done. T_GLOBAL = (local_rounds + 1) * G *
 * token_timeout without accepting a token of either level: the lowest-id node
 * believed up (the lowest-id coordinator), unless it holds the global token,
 * mints a new one. A visit is at most local_rounds laps, each ending when the
 * token returns or after token_timeout, so T_GLOBAL exceeds a whole round as
 * long as token_timeout exceeds a lap plus local_rounds CS times. A down
 * coordinator's next member up takes over; a global token sent to it before
 * the failure detector said so is lost.
 *
 * Start and restart. Node 1 mints the first token at EV_START of its first
 * life (env->incarnation == 1), when no token can exist anywhere; a restart
 * waits for the live token or T_GLOBAL. A restarted node has forgotten the
 * epochs it saw, so an epoch is also at least now / T_GLOBAL + 1. Any epoch
 * minted at t is at most t / T_GLOBAL + 1 (a node mints only T_GLOBAL after
 * the last token it accepted), and a restarted node mints T_GLOBAL after its
 * start at the earliest: its epoch is above every epoch minted before its
 * restart, so it neither repeats one of its previous life nor creeps up one
 * epoch per T_GLOBAL under tokens everyone drops as stale. This needs one
 * clock for all nodes, which distlab has.
 *
 * Start-up. The driver starts the processes one by one; the first token's
 * first laps wait in the queues of members that have not started yet, and
 * 64 processes take most of a second to start, more than token_timeout. A
 * T_LOCAL firing then would mint gen + 1 while the first local token is
 * alive in a member's queue: once the workload starts, that member would
 * enter with the old generation while another group is inside with the
 * new one. So with env->staged_start neither timeout counts until
 * EV_CLUSTER_UP (every node has started), when both start afresh.
 *
 * Valid ranges (anything else is counted as malformed and ignored): gen in
 * 1 .. algo_counter_limit(now); LOCAL f[1] a member of the sender's and our
 * group, f[2] in 0 .. the same limit. The limit grows by 2^20 a
 * microsecond, faster than minting raises a generation (2^28, at most once
 * per T_GLOBAL: 256 us of growth), so a token minted above an accepted one
 * is accepted too, and the epoch arithmetic stays far from overflow.
 *
 * Retransmission (env->retransmit; off, none of this, and f[3] of both
 * tokens is 0). T_LOCAL and T_GLOBAL recover a token lost to a partition or
 * to loss only after token_timeout, or (R + 1) G token_timeout for the
 * global one, and with a new generation. With retransmit every handoff of
 * either token is acknowledged and a lost one sent again, as in the token
 * ring (see token_ring.c for the argument that this never makes a second
 * token): both tokens carry a hop number (f[3]) that grows by one at every
 * pass of either level, so along the privilege's path (gen, hop) only
 * grows and names one handoff; a token at or below the highest (gen, hop)
 * a node has seen (or sent) is a copy and is dropped. The receiver answers
 * every token with ACK(gen, hop, GOT); without one within retransmit_us
 * (timer T_RETX = 3), the sender sends PROBE(gen, hop, when sent, probe
 * number) every retransmit_us (and at once when the receiver comes back
 * up, if the token went out long enough ago); the answer is GOT (seen that
 * or newer), UNKNOWN (started since: T_LOCAL / T_GLOBAL decide) or MISSING,
 * and only a MISSING to a probe sent retransmit_us after the token last went
 * out makes the sender send the same token (type, fields, hop) again. One
 * handoff is outstanding per node: a newer one (or any newer token or
 * generation reaching it) ends the older. Cost: one ACK per hop, twice the
 * messages when nothing is lost. Fields as in the token ring: ACK f[0] gen,
 * f[1] hop, f[2] 0 GOT / 1 MISSING / 2 UNKNOWN, f[3] the probe answered;
 * PROBE f[0] gen, f[1] hop, f[2] the handoff's time, f[3] probe number;
 * out of range: malformed. */
#include "nodes/algo.h"

#include <string.h>

enum {
    TL_LOCAL = MSG_RANGE_TWO_LEVEL + 1, /* f0 gen, f1 lap coordinator, f2 entries, f3 hop */
    TL_GLOBAL,                          /* f0 gen, f3 hop */
    TL_ACK,   /* retransmit: f0 gen, f1 hop, f2 TL_GOT / TL_MISSING / TL_UNKNOWN,
                 f3 the probe answered (0: the token itself) */
    TL_PROBE, /* retransmit: f0 gen, f1 hop, f2 when the handoff was sent, f3 probe number */
};

/* What a TL_ACK says about the token (gen, hop). */
enum { TL_GOT = 0, TL_MISSING = 1, TL_UNKNOWN = 2 };

enum { T_LOCAL = 0, T_GLOBAL = 1, T_IDLE = 2, T_RETX = 3 };

#define TL_LOCAL_BITS         20
#define TL_LOCAL_MASK         ((INT64_C(1) << TL_LOCAL_BITS) - 1)
#define TL_DEFAULT_TIMEOUT_US 200000

struct tl_state {
    int id, n, ngroups, rounds;
    bool first_life; /* env->incarnation == 1 */
    bool starting;   /* staged start, and not every node has started yet */
    int64_t timeout, global_timeout, idle_hold;
    uint8_t group[ALGO_MAX_NODES + 1];
    bool down[ALGO_MAX_NODES + 1];
    bool wanting, in_cs;
    int64_t gen;         /* the highest seen: that of any token held here */
    int64_t last_seen;   /* when we last accepted (or minted) a token */
    bool has_local;      /* the local token is here */
    bool idling;         /* keeping it idle_hold before passing it on */
    int lap_coord;       /* the coordinator of its lap */
    int64_t lap_entries; /* entries in the lap so far */
    bool has_global;     /* a visit of ours is running */
    int laps;            /* laps of the visit done */
    bool parked;         /* holding both tokens, alone in the cluster */
    int role;            /* as reported at the end of the last step */
    /* Retransmit (see the header). */
    bool retx;
    int64_t retx_us;
    int64_t started_us; /* EV_START: what we know of tokens covers the time since */
    int64_t hop;        /* the highest hop of generation gen seen (or sent) here */
    bool pend;          /* a handoff not acknowledged yet: the message */
    int pend_to;
    uint16_t pend_type;
    int64_t pend_f[ALGO_NFIELDS];
    int64_t pend_at;
    int64_t pend_sent; /* when the token last went out (first or again) */
    int64_t probes;    /* probes sent for it so far */
    int64_t probe_ok;  /* a MISSING counts only from this probe on */
    int64_t now;       /* the time of the step under way */
};

/* Fills group[1..n] and returns G, or -1 for a bad configuration. Shared by
 * init and the theory formula. */
static int split_groups(const struct algo_env *env, uint8_t *group)
{
    int n = env->n, g = env->groups ? env->groups : (n < 2 ? n : 2);
    int given = 0, maxg = 0;
    if (n < 1 || n > ALGO_MAX_NODES)
        return -1;
    for (int k = 1; k <= n; k++) {
        given += env->group_of[k] != 0;
        if (env->group_of[k] > maxg)
            maxg = env->group_of[k];
    }
    if (given == n) {
        g = env->groups ? env->groups : maxg;
        for (int k = 1; k <= n; k++)
            if ((group[k] = env->group_of[k]) > g)
                return -1;
        return g;
    }
    if (g < 1 || g > n)
        return -1;
    int q = n / g, r = n % g, big = r * (q + 1); /* ids in the larger groups */
    for (int i = 0; i < n; i++)
        group[i + 1] = (uint8_t)(i < big ? i / (q + 1) + 1 : r + (i - big) / q + 1);
    return g;
}

static int tl_init(void *state, const struct algo_env *env)
{
    struct tl_state *s = state;
    memset(s, 0, sizeof *s);
    if (env->id < 1 || env->id > env->n || env->local_rounds < 0 || env->token_timeout_us < 0 ||
        env->token_idle_hold_us < 0)
        return -1;
    if (env->retransmit && env->retransmit_us <= 0)
        return -1;
    s->id = env->id;
    s->n = env->n;
    s->first_life = env->incarnation == 1;
    s->retx = env->retransmit;
    s->retx_us = env->retransmit_us;
    s->starting = env->staged_start;
    s->ngroups = split_groups(env, s->group);
    if (s->ngroups < 1)
        return -1;
    s->rounds = env->local_rounds ? env->local_rounds : 1;
    s->idle_hold = env->token_idle_hold_us;
    /* The default covers a lap of idle holds (a group has at most n members). */
    s->timeout = env->token_timeout_us ? env->token_timeout_us
                                       : TL_DEFAULT_TIMEOUT_US + 2 * env->n * s->idle_hold;
    s->global_timeout = (int64_t)(s->rounds + 1) * s->ngroups * s->timeout;
    return 0;
}

static bool up(const struct tl_state *s, int k)
{
    return k == s->id || !s->down[k];
}
static bool same_group(const struct tl_state *s, int k)
{
    return s->group[k] == s->group[s->id];
}

/* The coordinator of group g: its lowest-id member believed up, 0 if none. */
static int coord_of(const struct tl_state *s, int g)
{
    for (int k = 1; k <= s->n; k++)
        if (s->group[k] == g && up(s, k))
            return k;
    return 0;
}

/* The local token's next stop: the next member up in id order (wrapping),
 * or the lap's coordinator, whichever comes first; ourselves if alone. */
static int next_member(const struct tl_state *s, int coord)
{
    for (int i = 1; i < s->n; i++) {
        int k = (s->id - 1 + i) % s->n + 1;
        if (same_group(s, k) && (k == coord || up(s, k)))
            return k;
    }
    return s->id;
}

static void start_lap(struct tl_state *s, struct algo_actions *out);
static void pass_global(struct tl_state *s, struct algo_actions *out);

/* Hand a token to `to`; with retransmit, one hop further, and kept until
 * `to` acknowledges it. */
static void send_token(struct tl_state *s, int to, uint16_t type, int64_t f1, int64_t f2,
                       struct algo_actions *out)
{
    int64_t hop = 0;
    if (s->retx) {
        hop = ++s->hop;
        s->pend = true;
        s->pend_to = to;
        s->pend_type = type;
        s->pend_f[0] = s->gen;
        s->pend_f[1] = f1;
        s->pend_f[2] = f2;
        s->pend_f[3] = hop;
        s->pend_at = s->pend_sent = s->now;
        s->probes = 0;
        s->probe_ok = 1;
        act_set_timer(out, T_RETX, s->retx_us);
    }
    act_send(out, s->id, to, type, s->gen, f1, f2, hop);
}

/* Has a token of (gen, hop), or a newer one, been here? */
static bool seen(const struct tl_state *s, int64_t gen, int64_t hop)
{
    return gen < s->gen || (gen == s->gen && hop <= s->hop);
}

static void on_probe(struct tl_state *s, const struct algo_msg *m, struct algo_actions *out)
{
    int status = seen(s, m->f[0], m->f[1]) ? TL_GOT
                 : s->started_us > m->f[2] ? TL_UNKNOWN
                                           : TL_MISSING;
    act_send(out, s->id, m->from, TL_ACK, m->f[0], m->f[1], status, m->f[3]);
}

/* Ask the receiver of our handoff whether it arrived. */
static void probe(struct tl_state *s, struct algo_actions *out)
{
    act_send(out, s->id, s->pend_to, TL_PROBE, s->pend_f[0], s->pend_f[3], s->pend_at, ++s->probes);
}

static void on_ack(struct tl_state *s, const struct algo_msg *m, struct algo_actions *out)
{
    if (!s->pend || m->from != s->pend_to || m->f[0] != s->pend_f[0] || m->f[1] != s->pend_f[3])
        return; /* not about the handoff we wait on */
    if (m->f[2] == TL_MISSING) {
        /* Lost: the same token again (see the header: no second copy).
         * Only the answer to a probe sent retx_us after the token last
         * went out counts. */
        if (m->f[3] < s->probe_ok)
            return;
        s->pend_sent = s->now;
        s->probe_ok = s->probes + 1;
        act_send(out, s->id, s->pend_to, s->pend_type, s->pend_f[0], s->pend_f[1], s->pend_f[2],
                 s->pend_f[3]);
        act_set_timer(out, T_RETX, s->retx_us);
        return;
    }
    s->pend = false; /* arrived, or the receiver restarted: T_LOCAL / T_GLOBAL decide */
    act_cancel_timer(out, T_RETX);
}

static void enter(struct tl_state *s, struct algo_actions *out)
{
    s->in_cs = true;
    s->lap_entries++;
    act_enter_cs(out, s->gen, s->gen);
}

/* At the coordinator: a lap is over (entries of it, as counted by the token). */
static void end_lap(struct tl_state *s, int64_t entries, struct algo_actions *out)
{
    s->has_local = true;
    if (++s->laps < s->rounds && entries > 0)
        start_lap(s, out);
    else
        pass_global(s, out);
}

/* Our turn is over: hand the local token on along the ring. */
static void pass_local(struct tl_state *s, struct algo_actions *out)
{
    int next = next_member(s, s->lap_coord);
    if (next == s->id) { /* a coordinator alone in its group */
        end_lap(s, s->lap_entries, out);
        return;
    }
    s->has_local = false;
    if (!up(s, next))
        return; /* the lap's coordinator is down, and its visit with it */
    send_token(s, next, TL_LOCAL, s->lap_coord, s->lap_entries, out);
    if (s->has_global)
        act_set_timer(out, T_LOCAL, s->timeout);
}

/* Our turn with the local token: enter if asked, else pass it on, after
 * keeping it idle_hold (enter at once if asked meanwhile), so that an idle
 * ring does not spin, as in the token ring. */
static void use_or_pass(struct tl_state *s, struct algo_actions *out)
{
    if (s->in_cs)
        return; /* kept until we leave */
    if (s->wanting) {
        enter(s, out);
    } else if (s->idle_hold > 0) {
        s->idling = true;
        act_set_timer(out, T_IDLE, s->idle_hold);
    } else {
        pass_local(s, out);
    }
}

static void start_lap(struct tl_state *s, struct algo_actions *out)
{
    s->has_local = true;
    s->lap_coord = s->id;
    s->lap_entries = 0;
    use_or_pass(s, out);
}

static void start_visit(struct tl_state *s, struct algo_actions *out)
{
    s->has_global = true;
    s->parked = false;
    s->laps = 0;
    start_lap(s, out);
}

/* The visit is over: the global token goes to the next group's coordinator. */
static void pass_global(struct tl_state *s, struct algo_actions *out)
{
    int mine = s->group[s->id];
    for (int i = 1; i < s->ngroups; i++) {
        int c = coord_of(s, (mine - 1 + i) % s->ngroups + 1);
        if (c) {
            s->has_global = s->has_local = false;
            send_token(s, c, TL_GLOBAL, 0, 0, out);
            return;
        }
    }
    /* Nobody up elsewhere: our group is next again; alone, wait for work
     * (a request or a peer coming up) rather than spin. */
    if (next_member(s, s->id) != s->id)
        start_visit(s, out);
    else
        s->parked = true;
}

/* Mint a new global generation (see the header for the epoch rule). */
static void mint_global(struct tl_state *s, int64_t now, struct algo_actions *out)
{
    int64_t epoch = (s->gen >> (TL_LOCAL_BITS + 8)) + 1;
    /* The time floor, kept within the valid range of generations (and so
     * far from overflow) whatever now and global_timeout are. */
    int64_t t = now < 0 ? 0 : now > ALGO_COUNTER_T_MAX ? ALGO_COUNTER_T_MAX : now;
    int64_t floor = t / s->global_timeout + 1, cap = algo_counter_limit(now) >> (TL_LOCAL_BITS + 8);
    if (floor > cap)
        floor = cap;
    if (floor > epoch)
        epoch = floor;
    s->gen = (epoch << 8 | s->id) << TL_LOCAL_BITS;
    s->last_seen = now;
    start_visit(s, out);
}

/* A token arrived: false if it is stale (or a duplicate of one held). A
 * newer one makes whatever we hold stale; either way a token is alive (noted
 * for T_GLOBAL, which is not re-armed at every hop: see on_timer). */
static bool accept(struct tl_state *s, const struct algo_event *ev, bool have,
                   struct algo_actions *out)
{
    int64_t gen = ev->msg.f[0], hop = ev->msg.f[3];
    if (s->retx) {
        /* Acknowledge every token, stale ones too (their sender stops). A
         * handoff of (gen, hop) or older is over once a token at least as
         * new reaches us. One already seen (a copy) is dropped. */
        act_send(out, s->id, ev->msg.from, TL_ACK, gen, hop, TL_GOT, 0);
        if (s->pend && (s->pend_f[0] < gen || (s->pend_f[0] == gen && s->pend_f[3] <= hop)))
            s->pend = false;
        if (gen == s->gen && hop <= s->hop)
            return false;
    }
    if (gen < s->gen || (gen == s->gen && have))
        return false;
    if (s->retx)
        s->hop = hop;
    if (gen > s->gen) {
        s->gen = gen;
        s->has_local = s->has_global = s->parked = s->idling = false;
        act_cancel_timer(out, T_LOCAL);
    }
    s->last_seen = ev->now_us;
    return true;
}

static void on_local(struct tl_state *s, const struct algo_event *ev, struct algo_actions *out)
{
    const struct algo_msg *m = &ev->msg;
    int coord = (int)m->f[1];
    if (coord < 1 || coord > s->n || !same_group(s, coord) || !same_group(s, m->from) ||
        !accept(s, ev, s->has_local, out))
        return;
    if (coord == s->id) {
        if (!s->has_global)
            return; /* an orphan: the visit it belonged to is over */
        act_cancel_timer(out, T_LOCAL);
        end_lap(s, m->f[2], out);
        return;
    }
    s->has_local = true;
    s->lap_coord = coord;
    s->lap_entries = m->f[2];
    use_or_pass(s, out); /* in the CS (a regenerated token): kept until we leave */
}

static void on_timer(struct tl_state *s, int id, int64_t now, struct algo_actions *out)
{
    if (s->starting && (id == T_LOCAL || id == T_GLOBAL)) {
        /* Nodes still starting are slow, not lost: wait (see the header). */
        act_set_timer(out, id, id == T_LOCAL ? s->timeout : s->global_timeout);
        return;
    }
    if (id == T_LOCAL && s->has_global && !s->has_local) {
        /* The local token was lost: regenerate it one generation up. A full
         * local counter drops the visit and leaves it to T_GLOBAL. */
        if ((s->gen & TL_LOCAL_MASK) == TL_LOCAL_MASK) {
            s->has_global = false;
            return;
        }
        s->gen++;
        end_lap(s, 1, out); /* the lost lap counts; assume it was wanted */
    } else if (id == T_RETX && s->pend) {
        if (s->pend_f[0] < s->gen) {
            s->pend = false; /* a newer generation exists: ours is stale anyway */
            return;
        }
        /* Ask whether it arrived (one believed down: when it is back). */
        if (!s->down[s->pend_to])
            probe(s, out);
        act_set_timer(out, T_RETX, s->retx_us);
    } else if (id == T_IDLE && s->idling) {
        s->idling = false;
        pass_local(s, out);
    } else if (id == T_GLOBAL) {
        /* Armed once and pushed back here: cheaper than re-arming per hop. */
        int64_t quiet = now - s->last_seen;
        act_set_timer(out, T_GLOBAL, s->global_timeout - (quiet < s->global_timeout ? quiet : 0));
        if (quiet < s->global_timeout)
            return;
        int lowest = 1;
        while (!up(s, lowest))
            lowest++;
        if (!s->has_global && lowest == s->id)
            mint_global(s, now, out);
    }
}

static int role_now(const struct tl_state *s)
{
    if (s->has_global)
        return ROLE_TOKEN_HOLDER;
    return coord_of(s, s->group[s->id]) == s->id ? ROLE_COORDINATOR : ROLE_CLIENT;
}

static void tl_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct tl_state *s = state;
    s->now = ev->now_us;
    switch (ev->kind) {
    case EV_START:
        s->last_seen = ev->now_us;
        s->started_us = ev->now_us;
        act_set_timer(out, T_GLOBAL, s->global_timeout);
        if (s->id == 1 && s->first_life)
            mint_global(s, ev->now_us, out);
        break;
    case EV_REQUEST:
        if (s->wanting || s->in_cs)
            break; /* one outstanding request at a time */
        s->wanting = true;
        if (s->idling) {
            s->idling = false;
            act_cancel_timer(out, T_IDLE);
            enter(s, out);
        } else if (s->parked) {
            start_visit(s, out);
        }
        break;
    case EV_RELEASE:
        if (!s->in_cs)
            break;
        s->in_cs = s->wanting = false;
        if (s->has_local)
            pass_local(s, out);
        break;
    case EV_CLUSTER_UP:
        if (!s->starting)
            break;
        s->starting = false;
        s->last_seen = ev->now_us;
        if (s->has_global && !s->has_local)
            act_set_timer(out, T_LOCAL, s->timeout); /* a lap from now on */
        break;
    case EV_MESSAGE:
        if (ev->msg.from < 1 || ev->msg.from > s->n || ev->msg.from == s->id || ev->msg.f[0] < 1 ||
            !algo_counter_ok(ev->msg.f[0], ev->now_us) ||
            (ev->msg.type == TL_LOCAL &&
             (ev->msg.f[1] < 1 || ev->msg.f[1] > s->n || !same_group(s, (int)ev->msg.f[1]) ||
              !same_group(s, ev->msg.from) || !algo_counter_ok(ev->msg.f[2], ev->now_us))) ||
            (s->retx && (ev->msg.type == TL_LOCAL || ev->msg.type == TL_GLOBAL) &&
             !algo_counter_ok(ev->msg.f[3], ev->now_us)) ||
            ((ev->msg.type == TL_ACK || ev->msg.type == TL_PROBE) &&
             !algo_counter_ok(ev->msg.f[1], ev->now_us)) ||
            (ev->msg.type == TL_ACK && (ev->msg.f[2] < TL_GOT || ev->msg.f[2] > TL_UNKNOWN)) ||
            ((ev->msg.type == TL_ACK || ev->msg.type == TL_PROBE) &&
             !algo_counter_ok(ev->msg.f[3], ev->now_us)) ||
            (ev->msg.type == TL_PROBE && !algo_counter_ok(ev->msg.f[2], ev->now_us))) {
            act_malformed(out);
            break;
        }
        if (ev->msg.type == TL_ACK)
            on_ack(s, &ev->msg, out);
        else if (ev->msg.type == TL_PROBE)
            on_probe(s, &ev->msg, out);
        else if (ev->msg.type == TL_LOCAL)
            on_local(s, ev, out);
        else if (ev->msg.type != TL_GLOBAL)
            act_malformed(out); /* not a two-level ring message */
        else if (accept(s, ev, s->has_global, out))
            start_visit(s, out);
        break;
    case EV_TIMER: on_timer(s, ev->timer_id, ev->now_us, out); break;
    case EV_PEER_DOWN:
    case EV_PEER_UP:
        if (ev->peer < 1 || ev->peer > s->n || ev->peer == s->id)
            break;
        s->down[ev->peer] = ev->kind == EV_PEER_DOWN;
        /* A handoff to it may have been lost while it was cut off: ask now
         * (if the token went out long enough ago; else the timer will). */
        if (ev->kind == EV_PEER_UP && s->pend && s->pend_to == ev->peer && s->pend_f[0] >= s->gen &&
            s->now - s->pend_sent >= s->retx_us)
            probe(s, out);
        if (s->parked && ev->kind == EV_PEER_UP)
            pass_global(s, out); /* someone to visit again */
        break;
    case EV_SEND_FAILED: /* the transport counted and traced it; no retry here */
    case EV_PERSISTED:
    case EV_COMMAND:
        break;
    }
    if (role_now(s) != s->role) {
        s->role = role_now(s);
        act_role(out, s->role, s->gen >> TL_LOCAL_BITS);
    }
}

/* holds_token/token_gen: the local token (the privilege); role
 * ROLE_TOKEN_HOLDER and term: the global token and its global generation. */
static void tl_inspect(const void *state, struct algo_inspect *out)
{
    const struct tl_state *s = state;
    *out = (struct algo_inspect){.in_cs = s->in_cs,
                                 .wanting = s->wanting,
                                 .holds_token = s->has_local,
                                 .token_gen = s->gen,
                                 .role = s->role,
                                 .term = s->gen >> TL_LOCAL_BITS};
}

static bool tl_token_msg(const struct algo_msg *m, int64_t *gen)
{
    if (m->type != TL_LOCAL && m->type != TL_GLOBAL)
        return false;
    *gen = m->f[0];
    return true;
}

static const char *tl_msg_name(uint16_t type)
{
    switch (type) {
    case TL_LOCAL: return "local_token";
    case TL_GLOBAL: return "global_token";
    case TL_ACK: return "token_ack";
    case TL_PROBE: return "token_probe";
    default: return NULL;
    }
}

static bool tl_competes(const struct algo_env *env, int id)
{
    (void)env, (void)id;
    return true; /* every node, coordinators included */
}

/* Under full load (every node asks again as soon as it leaves), a group of
 * m >= 2 members gets local_rounds laps of m entries and m local hops each,
 * then 1 global hop: R*m + 1 messages for R*m entries. A lone member's next
 * request comes just after its CS: without an idle hold the token has moved
 * on by then (1 entry a visit), with one it is still there (R entries). Over
 * one round of the global token: sum(R*m + 1) / sum(R*m), i.e. 1 + G/(R*N)
 * when no group is a singleton. Empty groups are skipped, and with one
 * group there is no global hop. */
static double tl_theory(const struct algo_env *env)
{
    uint8_t group[ALGO_MAX_NODES + 1];
    int g = split_groups(env, group), rounds = env->local_rounds ? env->local_rounds : 1;
    double local = 0, entries = 0, visited = 0;
    for (int j = 1; j <= g; j++) {
        int m = 0;
        for (int k = 1; k <= env->n; k++)
            m += group[k] == j;
        visited += m > 0;
        local += m > 1 ? rounds * m : 0;
        entries += m > 1 || env->token_idle_hold_us > 0 ? rounds * m : m;
    }
    return entries > 0 ? (local + (visited > 1 ? visited : 0)) / entries : 0;
}

const struct algo_ops algo_two_level_ring = {
    .name = "two_level_ring",
    .range = MSG_RANGE_TWO_LEVEL,
    .key_field = "gen",
    .state_size = sizeof(struct tl_state),
    .init = tl_init,
    .step = tl_step,
    .fini = NULL,
    .msg_name = tl_msg_name,
    .competes = tl_competes,
    .theory_messages_per_cs = tl_theory,
    .theory_note = "under full load 1 + G/(R N) messages per CS: R laps of local hops per global "
                   "visit, one global hop per group; synchronization delay one local hop, or a "
                   "global hop between groups; a group coordinator is a single point of failure for "
                   "its group until the failure detector notices; a global token lost with it stops "
                   "every group until (R + 1) G token_timeout pass without a token, when the lowest "
                   "live node mints a new one",
    .inspect = tl_inspect,
    .token_msg = tl_token_msg,
};
