/* Centralized mutual exclusion: one coordinator grants the critical section,
 * and when it crashes the survivors elect another (Bully) and carry on.
 *
 * Failure-free (Tanenbaum & van Steen 6.3.2; Coulouris 15.2): a process
 * that wants the CS sends REQUEST to the coordinator; the coordinator answers
 * GRANT if the CS is free and otherwise queues the request (FIFO by arrival);
 * the holder sends RELEASE when it leaves, and the coordinator grants the
 * head of its queue. Three messages per CS (request, grant, release), a
 * synchronization delay of two message times (release, then grant). By
 * default the coordinator only coordinates, as in the textbook setting, so
 * every CS costs exactly 3 messages; with coordinator_competes its own
 * entries cost none, and the average is 3(N-1)/N. Nothing below sends a
 * message or arms a timer until a failure is reported: no heartbeats (the
 * driver's failure detector, EV_PEER_DOWN/EV_PEER_UP, is the only trigger).
 *
 * Coordinator failure: the Bully algorithm (Garcia-Molina 1982; Tanenbaum &
 * van Steen 6.5.1), with the rules as the textbook gives them:
 *  - "When any process notices that the coordinator is no longer responding
 *    to requests, it initiates an election": here, EV_PEER_DOWN of the
 *    coordinator (or EV_PEER_UP of a coordinator we never saw go down: it
 *    restarted and lost its state). P "sends an ELECTION message to all
 *    processes with higher numbers" (those it believes up).
 *  - "If no one responds, P wins the election and becomes coordinator"
 *    (no OK within election_timeout, or nobody higher to ask).
 *  - "If one of the higher-ups answers, it takes over. P's job is done":
 *    on OK, P waits for COORDINATOR; if none comes within 2 election
 *    timeouts (the higher one may itself wait one timeout for its own
 *    higher-ups), P starts again.
 *  - "If a process gets an ELECTION message from a lower-numbered
 *    colleague, the receiver sends an OK back ... The receiver then holds
 *    an election, unless it is already holding one." One refinement: a
 *    coordinator that won an election in this life (epoch >= 1) and is not
 *    behind the sender re-announces itself to the sender instead of opening
 *    a new epoch (otherwise every late ELECTION after a takeover would start
 *    another one).
 *  - "The biggest guy in town always wins": a node that learns of a
 *    coordinator with a lower id than its own (typically a node that comes
 *    back and is told who coordinates) bullies: it holds an election.
 *
 * Epochs (terms). Every coordinator has an epoch: the winner takes the
 * highest epoch it has seen + 1. Every message carries one; a message from
 * an older (epoch, coordinator) pair than the one a node follows is
 * ignored. Two winners can claim the same epoch (a Bully race, e.g. a
 * paused higher node that wakes up and wins before it reads the other's
 * COORDINATOR); the higher id wins the tie, so (epoch, coordinator) is a
 * total order.
 *
 * Takeover without knowledge. A new coordinator knows nothing of who holds
 * the CS, so it grants nothing until it knows: its COORDINATOR message asks
 * every node it believes up, and each answers STATE (holding the CS under
 * generation g / waiting with seq s / idle); that answer is also how a
 * client re-sends its pending request. Only when every live node has
 * answered (or has been declared down) does it start granting, in the order
 * the answers came.
 *
 * Why mutual exclusion holds under crashes. (1) A node answers a
 * coordinator only if its (epoch, id) is the newest the node knows, and from
 * then on ignores grants from any older pair. (2) A coordinator grants only
 * after every live node answered; a node in the CS says so and is recorded
 * as the holder. So when the new coordinator makes its first grant, every
 * live node has either reported its CS or will refuse any older grant still
 * in flight; and a crashed node's CS ended with it. (3) Within one epoch the
 * textbook argument holds: one holder at a time (a holder that crashed is
 * replaced only once it is reported down, and its CS died with it).
 * (4) Nobody coordinates on lost knowledge: a restarted node grants nothing
 * before it has won an election and heard from every live node (Restarts).
 *
 * Pauses and fencing. A timeout-based failure detector cannot tell a paused
 * node from a dead one. A holder paused past failure_timeout is declared
 * down; the coordinator then grants the next node ("keep that": EV_PEER_DOWN
 * of the holder frees the CS) — and the paused holder, resumed, is still in
 * the CS. Likewise a paused coordinator, replaced, wakes up and handles what
 * waited for it before anyone can tell it about the new epoch: it may grant
 * under its old epoch to itself (no message needed) or to a node the new
 * coordinator had declared down. No message
 * protocol can prevent this; what keeps the resource safe is fencing: every
 * grant carries a generation and the resource refuses an older one. Each
 * revocation (a holder declared down) and each new epoch raises it:
 *     gen = epoch * 1,000,000 + revocations_in_epoch * 1,000 + coordinator id
 * (readable in traces: gen 2001005 = epoch 2, 1 revocation, coordinator 5;
 * the coordinator id breaks a same-epoch tie, a 1000th revocation opens a
 * new epoch instead). It is always passed to act_enter_cs: whether the
 * resource fences is its decision, not ours.
 *
 * Restarts. A node that comes back (env->incarnation > 1) has lost all it
 * knew, including whether it coordinated: "when a process that was down
 * comes back up, it holds an election" — before it grants anything, even
 * to itself. Its peers see EV_PEER_UP; the coordinator sends the newcomer
 * COORDINATOR (who coordinates, and "what is your state?"); a client whose
 * coordinator comes back without ever having been reported down knows it
 * restarted and holds an election. So a restarted coordinator never takes
 * over silently: with the highest id it takes over through a new epoch and
 * the same collection. Request sequence numbers start at now_us * 1024 at
 * EV_START, so a new incarnation's requests are always newer than its
 * previous life's (the coordinator compares them to tell a stale message
 * or answer from a fresh one; the network reorders).
 *
 * Limits. Safety under crashes rests on env->incarnation (a restarted node
 * that believed it was its first start would coordinate with an empty
 * queue). Under pauses and partitions (a cut link looks like a crash to the
 * failure detector, and each side elects its own coordinator) only fencing
 * keeps the resource safe, as above. Without env->retransmit, lost messages
 * are re-asked only during a takeover (COORDINATOR is resent until
 * answered); like the textbook algorithm, the failure-free protocol assumes
 * a reliable network, and a request, grant or release lost to a partition
 * shorter than the failure timeout (or to loss) stalls it for good.
 *
 * Retransmission (env->retransmit; off, nothing below happens and the
 * messages are exactly the textbook's). No new message type:
 *  - A client that waits re-sends its REQUEST (the same seq, its epoch) to
 *    the coordinator it follows every retransmit_us (timer T_RETX) until it
 *    enters. During an election it sends nothing: the next coordinator asks
 *    it (COORDINATOR, re-sent until answered by STATE).
 *  - The coordinator answers a copy of the holder's granted request with
 *    the same GRANT again (same seq, epoch, gen: the first was lost). A copy
 *    of a queued request changes nothing (enqueue keeps one place), a copy
 *    of an older one is not news, a copy of a RELEASE matches no holder.
 *  - A lost RELEASE: while another node holds the CS by its grant and
 *    someone waits, the coordinator re-sends the holder its GRANT every
 *    retransmit_us (timer T_PROBE). A holder still inside ignores it (the
 *    grant we hold, again); one that has left hands it back as a RELEASE,
 *    which frees the CS; one whose first GRANT was lost enters with it.
 *  - A client enters once per seq (a GRANT counts only while it waits on
 *    that seq), so no copy grants, enters or counts twice.
 *  - Elections: a coordinator that receives a COORDINATOR of an older (or
 *    equally new, lower-id) epoch answers with its own COORDINATOR. Without
 *    it, a node that missed every announcement (its ELECTION or our OK
 *    lost, our COORDINATOR to it lost) takes over an epoch nobody follows
 *    and waits forever in PH_COLLECTING; with it, it joins us, or with a
 *    higher id bullies its way in through a newer epoch.
 * Cost when nothing is lost: none while waits and CS times stay below
 * retransmit_us; a re-sent REQUEST per retransmit_us of a longer wait, a
 * re-sent GRANT per retransmit_us of a longer CS while others wait.
 *
 * Fields. REQUEST, GRANT, RELEASE, STATE: f[0] = seq (the traces' key),
 * f[1] = the sender's epoch; GRANT f[2] = gen; STATE f[2] = what the node
 * does (0 idle, 1 waiting, 2 holding), f[3] = the gen it holds. ELECTION,
 * OK, COORDINATOR: f[0] = an epoch (the highest seen; COORDINATOR: its own).
 * Timers: 0 = election (no OK / no COORDINATOR yet), 1 = re-ask the nodes
 * that have not answered a COORDINATOR (for lost messages); with
 * retransmit, 2 = re-send a waiting request, 3 = re-send the holder's grant.
 *
 * Valid ranges (anything else is counted as malformed and ignored): seq and
 * gen in 0 .. algo_counter_limit(now) (a seq is now_us * 1024 plus the
 * requests of one life, far below it); an epoch in 0 .. that limit / 2^20
 * (2^32 at the start, then one more per microsecond: an epoch gains one per
 * election), so that epoch * 10^6 + ... never overflows; a STATE's f[2] is
 * 0, 1 or 2. */
#include "nodes/algo.h"

#include <string.h>

enum {
    CENT_REQUEST = MSG_RANGE_CENTRALIZED + 1,
    CENT_GRANT,
    CENT_RELEASE,
    CENT_ELECTION,
    CENT_OK,
    CENT_COORDINATOR,
    CENT_STATE,
};

/* What a STATE answer says. */
enum { ST_IDLE = 0, ST_WAITING = 1, ST_HOLDING = 2 };

/* Where a node is in the Bully protocol. */
enum {
    PH_NORMAL = 0, /* following a coordinator (or coordinating, granting) */
    PH_ELECTING,   /* sent ELECTION to the higher ids, waiting for an OK */
    PH_WAITING,    /* got an OK, waiting for the COORDINATOR message */
    PH_COLLECTING, /* coordinator of a new epoch, waiting for STATE answers */
};

enum {
    T_ELECT = 0,   /* no OK / no COORDINATOR yet */
    T_COLLECT = 1, /* re-ask the nodes that have not answered a COORDINATOR */
    T_RETX = 2,    /* retransmit: a waiting client re-sends its REQUEST */
    T_PROBE = 3,   /* retransmit: the coordinator re-sends the holder's GRANT */
};

/* Used when env->election_timeout_us is 0: long against a message time
 * (~0.01-0.3 ms here), short against a human watching a failover. */
#define CENT_DEFAULT_ELECTION_TIMEOUT_US 100000
#define CENT_SEQ_PER_US 1024
#define CENT_GEN_EPOCH 1000000
#define CENT_GEN_REV 1000
#define CENT_MAX_REV 999

struct cent_state {
    int id, n;
    int64_t election_timeout;
    /* Who coordinates: the coordinator of `epoch` (0: none, we stepped down
     * to hold an election). */
    int coord;
    int64_t epoch;     /* the epoch we follow (or coordinate) */
    int64_t max_epoch; /* the highest epoch seen in any message */
    int phase;
    int role_sent;        /* the last act_role, so it is said once */
    int64_t role_epoch;
    bool reborn; /* a new incarnation: it has lost all it knew */
    /* Requester side. */
    bool wanting, in_cs;
    int64_t seq;    /* sequence number of the current/last request */
    int64_t cs_gen; /* the generation of the grant we hold */
    /* Coordinator side. */
    int64_t rev;        /* revocations (holders declared down) in this epoch */
    int holder;         /* node in the CS by our grant, 0 when free */
    int64_t holder_seq; /* the seq it was granted with */
    int64_t holder_gen; /* the generation it holds */
    int q[ALGO_MAX_NODES + 1];
    int64_t qseq[ALGO_MAX_NODES + 1];
    int qhead, qlen; /* FIFO of waiting requesters (each at most once) */
    bool awaiting[ALGO_MAX_NODES + 1]; /* PH_COLLECTING: no STATE from it yet */
    /* How far each node has got, as its messages of this epoch tell:
     * 2*seq for a request (waiting, holding), 2*seq+1 once it is over
     * (released, idle). The network reorders: a STATE answer may arrive
     * after the RELEASE or REQUEST the node sent next, and must not undo
     * them. */
    int64_t progress[ALGO_MAX_NODES + 1];
    bool down[ALGO_MAX_NODES + 1];
    /* env->retransmit (see "Retransmission" in the header). */
    bool retx;
    int64_t retx_us;
    bool probe_armed; /* T_PROBE is set */
};

static int cent_init(void *state, const struct algo_env *env)
{
    struct cent_state *s = state;
    memset(s, 0, sizeof *s);
    if (env->n < 1 || env->n > ALGO_MAX_NODES || env->id < 1 || env->id > env->n ||
        env->coordinator < 1 || env->coordinator > env->n || env->election_timeout_us < 0)
        return -1;
    s->id = env->id;
    s->n = env->n;
    s->coord = env->coordinator;
    s->election_timeout = env->election_timeout_us > 0 ? env->election_timeout_us
                                                        : CENT_DEFAULT_ELECTION_TIMEOUT_US;
    s->role_sent = -1;
    s->reborn = env->incarnation > 1;
    if (env->retransmit && env->retransmit_us <= 0)
        return -1;
    s->retx = env->retransmit;
    s->retx_us = env->retransmit_us;
    return 0;
}

static bool is_coord(const struct cent_state *s) { return s->coord == s->id; }

/* Coordinating and done collecting: free to grant. */
static bool granting(const struct cent_state *s)
{
    return is_coord(s) && s->phase == PH_NORMAL;
}

/* (e1, c1) is older than (e2, c2): epochs first, the coordinator id breaks
 * a tie (two winners of one epoch: the higher id wins, as in Bully). */
static bool older(int64_t e1, int c1, int64_t e2, int c2)
{
    return e1 < e2 || (e1 == e2 && c1 < c2);
}

static void see_epoch(struct cent_state *s, int64_t e)
{
    if (e > s->max_epoch)
        s->max_epoch = e;
}

static void say_role(struct cent_state *s, int role, struct algo_actions *out)
{
    if (s->role_sent == role && s->role_epoch == s->epoch)
        return;
    s->role_sent = role;
    s->role_epoch = s->epoch;
    act_role(out, role, s->epoch);
}

static int64_t cur_gen(const struct cent_state *s)
{
    return s->epoch * CENT_GEN_EPOCH + s->rev * CENT_GEN_REV + s->id;
}

/* ---- the coordinator's queue ---- */

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
    int at = queued_at(s, node);
    if (at >= 0) {
        if (seq > s->qseq[at])
            s->qseq[at] = seq; /* a newer request replaces a lost one */
        return;
    }
    at = (s->qhead + s->qlen) % qcap(s);
    s->q[at] = node;
    s->qseq[at] = seq;
    s->qlen++;
}

/* Take node out of the queue, keeping the order of the others. */
static void dequeue(struct cent_state *s, int node)
{
    int j = 0;
    for (int i = 0; i < s->qlen; i++) {
        int from = (s->qhead + i) % qcap(s);
        if (s->q[from] == node)
            continue;
        int to = (s->qhead + j) % qcap(s);
        s->q[to] = s->q[from];
        s->qseq[to] = s->qseq[from];
        j++;
    }
    s->qlen = j;
}

static void forget_coordination(struct cent_state *s)
{
    s->holder = 0;
    s->qhead = s->qlen = 0;
    s->rev = 0;
    memset(s->awaiting, 0, sizeof s->awaiting);
    memset(s->progress, 0, sizeof s->progress);
}

/* Is this message from `from` news, or older than what we already had? */
static bool news(struct cent_state *s, int from, const struct algo_msg *m)
{
    bool over = m->type == CENT_RELEASE || (m->type == CENT_STATE && m->f[2] == ST_IDLE);
    int64_t p = 2 * m->f[0] + (over ? 1 : 0);
    if (p < s->progress[from])
        return false;
    s->progress[from] = p;
    return true;
}

/* ---- granting ---- */

static void arm_probe(struct cent_state *s, struct algo_actions *out);

/* Give the CS to node: a message, or for the coordinator itself an entry. */
static void grant(struct cent_state *s, int node, int64_t seq, struct algo_actions *out)
{
    s->holder = node;
    s->holder_seq = seq;
    s->holder_gen = cur_gen(s);
    if (node == s->id) {
        s->in_cs = true;
        s->cs_gen = s->holder_gen;
        act_enter_cs(out, seq, s->holder_gen);
    } else {
        act_send(out, s->id, node, CENT_GRANT, seq, s->epoch, s->holder_gen, 0);
        if (s->retx) { /* a new holder: a full period before we ask it */
            s->probe_armed = true;
            act_set_timer(out, T_PROBE, s->retx_us);
        }
    }
}

static void grant_next(struct cent_state *s, struct algo_actions *out)
{
    if (!granting(s))
        return; /* a new coordinator grants nothing before it has heard everyone */
    while (s->holder == 0 && s->qlen > 0) {
        int node = s->q[s->qhead];
        int64_t seq = s->qseq[s->qhead];
        s->qhead = (s->qhead + 1) % qcap(s);
        s->qlen--;
        if (s->down[node])
            continue;
        if (node == s->id && !(s->wanting && !s->in_cs && seq == s->seq))
            continue; /* our own request, no longer current */
        grant(s, node, seq, out);
    }
}

/* Coordinator: a request arrived (or was made locally). */
static void on_request(struct cent_state *s, int from, int64_t seq, struct algo_actions *out)
{
    if (s->holder == from) {
        if (s->retx && seq == s->holder_seq && granting(s)) {
            /* The request again: our GRANT was lost (or is on its way, and
             * the copy is ignored). The same grant again. */
            act_send(out, s->id, from, CENT_GRANT, seq, s->epoch, s->holder_gen, 0);
            return;
        }
        if (seq <= s->holder_seq)
            return; /* the granted request again, or an older one */
        /* The holder asks again with a newer seq: it has left the CS it
         * held (its RELEASE is late) or lost it with a restart. */
        s->holder = 0;
    }
    enqueue(s, from, seq);
    grant_next(s, out);
    arm_probe(s, out);
}

/* Coordinator: the holder released. */
static void on_release(struct cent_state *s, int from, int64_t seq, struct algo_actions *out)
{
    if (s->holder != from || s->holder_seq != seq)
        return; /* not the holder: a stale or duplicate release */
    s->holder = 0;
    grant_next(s, out);
}

static void become_coordinator(struct cent_state *s, struct algo_actions *out);

/* Retransmit: while another node holds our grant and someone waits, its
 * RELEASE may have been lost: T_PROBE re-sends the holder its GRANT, which
 * it ignores while inside and answers with a RELEASE once out. */
static void arm_probe(struct cent_state *s, struct algo_actions *out)
{
    if (s->retx && !s->probe_armed && granting(s) && s->holder != 0 && s->holder != s->id &&
        s->qlen > 0) {
        s->probe_armed = true;
        act_set_timer(out, T_PROBE, s->retx_us);
    }
}

static void on_probe_timer(struct cent_state *s, struct algo_actions *out)
{
    s->probe_armed = false;
    if (!s->retx || !granting(s) || s->holder == 0 || s->holder == s->id)
        return;
    if (s->qlen > 0 && !s->down[s->holder])
        act_send(out, s->id, s->holder, CENT_GRANT, s->holder_seq, s->epoch, s->holder_gen, 0);
    s->probe_armed = true;
    act_set_timer(out, T_PROBE, s->retx_us);
}

/* Retransmit: a client still waiting re-sends its REQUEST (same seq) to the
 * coordinator it follows; during an election the next coordinator asks it
 * (COORDINATOR, re-sent until answered), so it only keeps the timer going. */
static void on_retx_timer(struct cent_state *s, struct algo_actions *out)
{
    if (!s->retx || !s->wanting || s->in_cs)
        return;
    if (!is_coord(s) && s->phase == PH_NORMAL && s->coord != 0 && !s->down[s->coord])
        act_send(out, s->id, s->coord, CENT_REQUEST, s->seq, s->epoch, 0, 0);
    act_set_timer(out, T_RETX, s->retx_us);
}

/* The holder was declared down: free the CS (it may only be paused, so the
 * next grant gets a newer generation, which a fencing resource enforces). */
static void revoke(struct cent_state *s, struct algo_actions *out)
{
    s->holder = 0;
    if (s->rev >= CENT_MAX_REV) {
        become_coordinator(s, out); /* the revocation digits are used up */
        return;
    }
    s->rev++;
}

/* PH_COLLECTING: once every live node has answered, start granting. */
static void maybe_done_collecting(struct cent_state *s, struct algo_actions *out)
{
    if (!is_coord(s) || s->phase != PH_COLLECTING)
        return;
    for (int k = 1; k <= s->n; k++)
        if (s->awaiting[k])
            return;
    s->phase = PH_NORMAL;
    act_cancel_timer(out, T_COLLECT);
    grant_next(s, out);
    arm_probe(s, out);
}

/* Coordinator: a node told us its state (the answer to COORDINATOR). */
static void on_state(struct cent_state *s, int from, int status, int64_t seq, int64_t gen,
                     struct algo_actions *out)
{
    s->awaiting[from] = false;
    switch (status) {
    case ST_HOLDING:
        dequeue(s, from);
        if (s->holder == from && seq < s->holder_seq)
            break; /* an old answer: we granted it a newer request since */
        if (s->holder == 0 || s->holder == from) {
            s->holder = from;
            s->holder_seq = seq;
            s->holder_gen = gen;
        }
        /* else two nodes claim the CS: only possible after a pause (the
         * other was declared down); the fencing generations sort it out. */
        break;
    case ST_WAITING:
        if (s->holder == from) {
            if (seq == s->holder_seq) {
                /* Our grant is in flight, or was lost with the node's
                 * previous life: sending it again is harmless either way
                 * (a duplicate is ignored, an unwanted one handed back). */
                if (granting(s))
                    act_send(out, s->id, from, CENT_GRANT, seq, s->epoch, s->holder_gen, 0);
                break;
            }
            if (seq < s->holder_seq)
                break; /* an old answer */
            s->holder = 0; /* it has left that CS and asks again */
        }
        enqueue(s, from, seq);
        break;
    case ST_IDLE: {
        /* Idle with seq s: every request up to s is over or abandoned. */
        if (s->holder == from && seq >= s->holder_seq)
            s->holder = 0;
        int at = queued_at(s, from);
        if (at >= 0 && s->qseq[at] <= seq)
            dequeue(s, from);
        break;
    }
    default:
        break;
    }
    maybe_done_collecting(s, out);
    grant_next(s, out);
    arm_probe(s, out);
}

/* ---- the election ---- */

static void send_state(struct cent_state *s, struct algo_actions *out)
{
    int status = s->in_cs ? ST_HOLDING : s->wanting ? ST_WAITING : ST_IDLE;
    act_send(out, s->id, s->coord, CENT_STATE, s->seq, s->epoch, status,
             s->in_cs ? s->cs_gen : 0);
}

/* "If no one responds, P wins the election and becomes coordinator." */
static void become_coordinator(struct cent_state *s, struct algo_actions *out)
{
    s->epoch = s->max_epoch + 1;
    s->max_epoch = s->epoch;
    s->coord = s->id;
    s->phase = PH_COLLECTING;
    forget_coordination(s);
    act_cancel_timer(out, T_ELECT);
    say_role(s, ROLE_COORDINATOR, out);
    /* Our own state needs no message. */
    if (s->in_cs) {
        s->holder = s->id;
        s->holder_seq = s->seq;
        s->holder_gen = s->cs_gen;
    } else if (s->wanting) {
        enqueue(s, s->id, s->seq);
    }
    bool any = false;
    for (int k = 1; k <= s->n; k++) {
        s->awaiting[k] = k != s->id && !s->down[k];
        if (s->awaiting[k]) {
            act_send(out, s->id, k, CENT_COORDINATOR, s->epoch, 0, 0, 0);
            any = true;
        }
    }
    if (any)
        act_set_timer(out, T_COLLECT, s->election_timeout);
    maybe_done_collecting(s, out);
}

/* "P sends an ELECTION message to all processes with higher numbers." */
static void start_election(struct cent_state *s, struct algo_actions *out)
{
    if (s->phase == PH_ELECTING || s->phase == PH_WAITING)
        return; /* "unless it is already holding one" */
    if (is_coord(s)) {
        /* A coordinator that holds an election can no longer vouch for its
         * epoch (a newer one exists, or it may have lost its state). */
        s->coord = 0;
        forget_coordination(s);
        act_cancel_timer(out, T_COLLECT);
        say_role(s, ROLE_CLIENT, out);
    }
    s->phase = PH_ELECTING;
    bool asked = false;
    for (int k = s->id + 1; k <= s->n; k++) {
        if (!s->down[k]) {
            act_send(out, s->id, k, CENT_ELECTION, s->max_epoch, 0, 0, 0);
            asked = true;
        }
    }
    if (!asked) {
        become_coordinator(s, out); /* nobody higher is up */
        return;
    }
    act_set_timer(out, T_ELECT, s->election_timeout);
}

/* Follow coordinator c of epoch e and tell it our state. */
static void join(struct cent_state *s, int64_t e, int c, struct algo_actions *out)
{
    if (is_coord(s)) {
        forget_coordination(s);
        act_cancel_timer(out, T_COLLECT);
    }
    s->epoch = e;
    s->coord = c;
    /* We just heard from it: whatever the failure detector said before (a
     * false suspicion while it was slow to start), it is up. Otherwise a
     * request made now would wait for an election nobody holds. */
    s->down[c] = false;
    s->phase = PH_NORMAL;
    act_cancel_timer(out, T_ELECT);
    say_role(s, ROLE_CLIENT, out);
    send_state(s, out);
}

static void on_election(struct cent_state *s, int from, int64_t e, struct algo_actions *out)
{
    if (from < s->id) {
        act_send(out, s->id, from, CENT_OK, s->max_epoch, 0, 0, 0);
        if (is_coord(s) && s->epoch >= 1 && e <= s->epoch &&
            (s->phase == PH_NORMAL || s->phase == PH_COLLECTING)) {
            /* We won this epoch in this life and the sender is not ahead of
             * us: tell it who coordinates rather than open another epoch. */
            act_send(out, s->id, from, CENT_COORDINATOR, s->epoch, 0, 0, 0);
            if (s->phase == PH_COLLECTING) {
                s->awaiting[from] = true;
                act_set_timer(out, T_COLLECT, s->election_timeout);
            }
            return;
        }
        start_election(s, out);
    }
    /* An ELECTION from a higher id breaks the rule that it goes upwards:
     * ignored. */
}

static void on_coordinator(struct cent_state *s, int c, int64_t e, struct algo_actions *out)
{
    if (older(e, c, s->epoch, s->coord)) {
        /* From an epoch we have left behind. With retransmit, if we
         * coordinate the newer one, we tell the sender so, as to an
         * ELECTION: a node that missed our announcement (it restarted and
         * the COORDINATOR we sent it was lost, or so were its ELECTION and
         * our OK) and took over an older or equal epoch would otherwise ask
         * forever, ignored, while its own request waits. It joins us (or,
         * with a higher id, bullies its way in through a newer epoch). */
        if (s->retx && is_coord(s) && (s->phase == PH_NORMAL || s->phase == PH_COLLECTING)) {
            act_send(out, s->id, c, CENT_COORDINATOR, s->epoch, 0, 0, 0);
            if (s->phase == PH_COLLECTING) {
                s->awaiting[c] = true;
                act_set_timer(out, T_COLLECT, s->election_timeout);
            }
        }
        return;
    }
    if (c < s->id) {
        /* "The biggest guy in town always wins": we are up and higher. */
        start_election(s, out);
        return;
    }
    if (e == s->epoch && c == s->coord && s->phase == PH_NORMAL) {
        send_state(s, out); /* asked again (a retry, or we came back up) */
        return;
    }
    join(s, e, c, out);
}

/* ---- the step ---- */

/* Are the fields m carries within their ranges (see the header)? */
static bool valid_fields(const struct algo_msg *m, int64_t now)
{
    int64_t lim = algo_counter_limit(now), elim = lim >> ALGO_COUNTER_RATE_SH;
    switch (m->type) {
    case CENT_REQUEST:
    case CENT_RELEASE:
        return algo_counter_ok(m->f[0], now) && m->f[1] >= 0 && m->f[1] <= elim;
    case CENT_GRANT:
        return algo_counter_ok(m->f[0], now) && m->f[1] >= 0 && m->f[1] <= elim &&
               algo_counter_ok(m->f[2], now);
    case CENT_STATE:
        return algo_counter_ok(m->f[0], now) && m->f[1] >= 0 && m->f[1] <= elim &&
               m->f[2] >= ST_IDLE && m->f[2] <= ST_HOLDING && algo_counter_ok(m->f[3], now);
    case CENT_ELECTION:
    case CENT_OK:
    case CENT_COORDINATOR:
        return m->f[0] >= 0 && m->f[0] <= elim;
    default:
        return false;
    }
}

static void on_message(struct cent_state *s, const struct algo_msg *m, struct algo_actions *out)
{
    int from = m->from;
    switch (m->type) {
    case CENT_REQUEST:
    case CENT_RELEASE:
    case CENT_STATE:
        see_epoch(s, m->f[1]);
        if (is_coord(s) && m->f[1] == s->epoch &&
            (s->phase == PH_NORMAL || s->phase == PH_COLLECTING)) {
            if (!news(s, from, m)) {
                if (m->type == CENT_STATE) {
                    /* Stale news, but an answer: it has joined, and what it
                     * did since has reached us already. */
                    s->awaiting[from] = false;
                    maybe_done_collecting(s, out);
                }
                break;
            }
            if (m->type == CENT_REQUEST)
                on_request(s, from, m->f[0], out);
            else if (m->type == CENT_RELEASE)
                on_release(s, from, m->f[0], out);
            else
                on_state(s, from, (int)m->f[2], m->f[0], m->f[3], out);
        } else if (m->f[1] > s->epoch) {
            /* Addressed to us as the coordinator of an epoch we do not know:
             * we were, in a previous life, and lost the state. */
            start_election(s, out);
        }
        break;
    case CENT_GRANT:
        see_epoch(s, m->f[1]);
        if (s->wanting && !s->in_cs && m->f[0] == s->seq && m->f[1] == s->epoch &&
            from == s->coord) {
            /* Also while we hold an election: the coordinator we follow is
             * alive after all, and whoever wins will hear from us that we
             * hold the CS before granting it to anyone. */
            s->in_cs = true;
            s->cs_gen = m->f[2];
            act_enter_cs(out, s->seq, s->cs_gen);
        } else if (s->in_cs && m->f[0] == s->seq) {
            /* the grant we hold, again: never hand back the CS we are in */
        } else if (!older(m->f[1], from, s->epoch, s->coord)) {
            /* A grant we cannot use (another seq: an earlier incarnation
             * asked for it; or an epoch we have not joined): hand it
             * straight back so nobody waits on us. */
            act_send(out, s->id, from, CENT_RELEASE, m->f[0], m->f[1], 0, 0);
        }
        /* else from an older epoch: ignored */
        break;
    case CENT_ELECTION:
        see_epoch(s, m->f[0]);
        on_election(s, from, m->f[0], out);
        break;
    case CENT_OK:
        see_epoch(s, m->f[0]);
        if (s->phase == PH_ELECTING && from > s->id) {
            /* "If one of the higher-ups answers, it takes over." */
            s->phase = PH_WAITING;
            act_set_timer(out, T_ELECT, 2 * s->election_timeout);
        }
        break;
    case CENT_COORDINATOR:
        see_epoch(s, m->f[0]);
        on_coordinator(s, from, m->f[0], out);
        break;
    default:
        break;
    }
}

static void cent_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct cent_state *s = state;
    switch (ev->kind) {
    case EV_START:
        /* Newer than anything a previous life of this node asked for. */
        if (ev->now_us > 0) /* within the valid range of seqs, whatever now is */
            s->seq = (ev->now_us < ALGO_COUNTER_T_MAX ? ev->now_us : ALGO_COUNTER_T_MAX) *
                     CENT_SEQ_PER_US;
        if (s->reborn) {
            /* "When a process that was down comes back up, it holds an
             * election." It knows no coordinator, not even if it was one:
             * whatever it knew about the CS died with its previous life. */
            s->coord = 0;
            say_role(s, ROLE_CLIENT, out);
            start_election(s, out);
            break;
        }
        say_role(s, is_coord(s) ? ROLE_COORDINATOR : ROLE_CLIENT, out);
        break;
    case EV_REQUEST:
        if (s->wanting || s->in_cs)
            break; /* one outstanding request at a time */
        s->wanting = true;
        s->seq++;
        if (s->retx)
            act_set_timer(out, T_RETX, s->retx_us);
        if (is_coord(s))
            on_request(s, s->id, s->seq, out);
        else if (s->phase == PH_NORMAL && s->coord != 0 && !s->down[s->coord])
            act_send(out, s->id, s->coord, CENT_REQUEST, s->seq, s->epoch, 0, 0);
        /* else an election is on: the next coordinator asks us (STATE) */
        break;
    case EV_RELEASE:
        if (!s->in_cs)
            break;
        s->in_cs = false;
        s->wanting = false;
        if (is_coord(s))
            on_release(s, s->id, s->seq, out);
        else if (s->coord != 0)
            act_send(out, s->id, s->coord, CENT_RELEASE, s->seq, s->epoch, 0, 0);
        break;
    case EV_MESSAGE:
        if (ev->msg.from < 1 || ev->msg.from > s->n || ev->msg.from == s->id ||
            !valid_fields(&ev->msg, ev->now_us)) {
            act_malformed(out);
            break;
        }
        on_message(s, &ev->msg, out);
        break;
    case EV_PEER_DOWN: {
        int p = ev->peer;
        if (p < 1 || p > s->n || p == s->id)
            break;
        s->down[p] = true;
        if (is_coord(s)) {
            s->awaiting[p] = false;
            if (s->holder == p)
                revoke(s, out);
            maybe_done_collecting(s, out);
            grant_next(s, out);
        } else if (p == s->coord) {
            start_election(s, out); /* the coordinator is gone */
        }
        break;
    }
    case EV_PEER_UP: {
        int p = ev->peer;
        if (p < 1 || p > s->n || p == s->id)
            break;
        bool was_down = s->down[p];
        s->down[p] = false;
        if (is_coord(s) && (s->phase == PH_NORMAL || s->phase == PH_COLLECTING)) {
            /* A new incarnation knows nothing; a resumed node may be stale.
             * Tell it who coordinates and ask what it is doing. */
            act_send(out, s->id, p, CENT_COORDINATOR, s->epoch, 0, 0, 0);
            if (s->phase == PH_COLLECTING) {
                s->awaiting[p] = true;
                act_set_timer(out, T_COLLECT, s->election_timeout);
            }
        } else if (p == s->coord && !was_down) {
            /* Our coordinator restarted before anyone saw it go: its queue
             * and its knowledge of the holder are gone. */
            start_election(s, out);
        } else if (p == s->coord && s->phase == PH_NORMAL && s->wanting && !s->in_cs) {
            /* It was only suspected: a request made meanwhile was held
             * back. Ask now (a repeat of a request it has is ignored). */
            act_send(out, s->id, s->coord, CENT_REQUEST, s->seq, s->epoch, 0, 0);
        }
        break;
    }
    case EV_TIMER:
        if (ev->timer_id == T_ELECT) {
            if (s->phase == PH_ELECTING) {
                become_coordinator(s, out); /* no OK in time */
            } else if (s->phase == PH_WAITING) {
                s->phase = PH_NORMAL; /* no COORDINATOR in time: again */
                start_election(s, out);
            }
        } else if (ev->timer_id == T_COLLECT && is_coord(s) && s->phase == PH_COLLECTING) {
            for (int k = 1; k <= s->n; k++)
                if (s->awaiting[k])
                    act_send(out, s->id, k, CENT_COORDINATOR, s->epoch, 0, 0, 0);
            act_set_timer(out, T_COLLECT, s->election_timeout);
        } else if (ev->timer_id == T_RETX) {
            on_retx_timer(s, out);
        } else if (ev->timer_id == T_PROBE) {
            on_probe_timer(s, out);
        }
        break;
    case EV_CLUSTER_UP:
        break; /* nothing times out on its own: elections follow EV_PEER_DOWN */
    case EV_SEND_FAILED: /* the transport counted and traced it; no retry here */
    case EV_PERSISTED:
    case EV_COMMAND:
        break;
    }
}

static const char *cent_msg_name(uint16_t type)
{
    switch (type) {
    case CENT_REQUEST: return "request";
    case CENT_GRANT: return "grant";
    case CENT_RELEASE: return "release";
    case CENT_ELECTION: return "election";
    case CENT_OK: return "ok";
    case CENT_COORDINATOR: return "coordinator";
    case CENT_STATE: return "state";
    default: return NULL;
    }
}

static bool cent_competes(const struct algo_env *env, int id)
{
    return id != env->coordinator || env->coordinator_competes;
}

/* The failure-free figure; elections and takeovers cost extra, and the
 * report shows them. */
static double cent_theory(const struct algo_env *env)
{
    if (!env->coordinator_competes || env->n <= 1)
        return 3.0;
    return 3.0 * (env->n - 1) / env->n;
}

static void cent_inspect(const void *state, struct algo_inspect *out)
{
    const struct cent_state *s = state;
    out->in_cs = s->in_cs;
    out->wanting = s->wanting;
    out->role = is_coord(s) ? ROLE_COORDINATOR : ROLE_CLIENT;
    out->term = s->epoch;
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
    .theory_note = "3 messages per CS (request, grant, release); synchronization delay 2 message "
                   "times; FIFO at the coordinator, which handles half of all messages",
    .inspect = cent_inspect,
};
