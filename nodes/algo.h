/* The algorithm interface: every algorithm is a pure state machine.
 *
 * An algorithm core includes nothing from ipc/ and calls no syscall, clock or
 * random function. Time comes in inside each event, randomness from a seed in
 * the environment, messages as events; everything the core wants done goes
 * out as actions (send, timers, CS entry, role changes). The same core runs
 * under the Check unit tests (hand-fed events), a simulator, and the real node
 * process (nodes/runtime.c). See DESIGN.md "The core interface". */
#ifndef DL_NODES_ALGO_H
#define DL_NODES_ALGO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALGO_MAX_NODES 128   /* nodes are numbered 1..n, n <= ALGO_MAX_NODES */
#define ALGO_NFIELDS 4       /* integer fields carried by every message */
/* Timer ids a core may use: 0..ALGO_MAX_TIMERS-1, in every driver. An
 * ACT_SET_TIMER or ACT_CANCEL_TIMER outside that range is a bug of the
 * core, and loud: the simulator fails the run with a violation naming the
 * id, the node runtime says it in the node's log (BUG) and counts it. 32:
 * the cores use a handful (a core with many waits keeps them in its state
 * behind one timer), the runtime scans its timers after every step, and it
 * was already the runtime's limit, so no core that runs as a process today
 * loses a timer. */
#define ALGO_MAX_TIMERS 32

/* Message types live in numbered ranges, one per algorithm, so a message for
 * another algorithm (or a foreign one) is recognised and rejected. */
enum {
    MSG_RANGE_RUNTIME = 0x0000,     /* 0x0000-0x00ff: runtime/supervisor */
    MSG_RANGE_CENTRALIZED = 0x0100, /* 0x0100-0x01ff */
    MSG_RANGE_RICART = 0x0200,
    MSG_RANGE_TOKEN_RING = 0x0300,
    MSG_RANGE_TWO_LEVEL = 0x0400,
    MSG_RANGE_RAFT = 0x0500,
    MSG_RANGE_SIZE = 0x0100,
};

/* A message as the core sees it. f[0] is the algorithm's key field (a Lamport
 * timestamp, a term, a token generation), which traces show by name. */
struct algo_msg {
    uint16_t type;
    uint16_t from, to;
    int64_t f[ALGO_NFIELDS];
    uint32_t len;           /* payload bytes (0 for most messages) */
    const uint8_t *payload; /* valid for the duration of one step */
};

enum algo_event_kind {
    EV_START = 1, /* first event after init: set up timers, etc. */
    EV_MESSAGE,   /* ev.msg arrived */
    EV_TIMER,     /* timer ev.timer_id fired */
    EV_REQUEST,   /* the application wants the critical section */
    EV_RELEASE,   /* the application left the critical section */
    EV_PEER_DOWN, /* ev.peer is believed down */
    EV_PEER_UP,   /* ev.peer is believed up again */
    EV_CLUSTER_UP, /* every node of the run has started (sent only by a
                      driver that sets env.staged_start; see there) */
};

struct algo_event {
    enum algo_event_kind kind;
    int64_t now_us; /* the time, on the node's clock */
    struct algo_msg msg;
    int timer_id;
    int peer;
};

enum algo_action_kind {
    ACT_SEND = 1,     /* send msg to msg.to */
    ACT_SET_TIMER,    /* (re)arm timer id (0..ALGO_MAX_TIMERS-1) to fire
                         after after_us */
    ACT_CANCEL_TIMER, /* disarm timer id */
    ACT_ENTER_CS,     /* the node enters the critical section now */
    ACT_ROLE,         /* the node's role changed (for status, pid, traces) */
    ACT_LOG,          /* a line for the node's log */
    ACT_PERSIST,      /* make msg.payload (msg.len bytes) the node's persistent
                         state: it survives a crash and comes back at the
                         next start as env.restored (Raft's term, vote, log).
                         Durable before any later action takes effect. */
};

/* Roles that `distlab pid --coordinator/--leader/--token-holder` look up. */
enum algo_role {
    ROLE_NONE = 0,
    ROLE_CLIENT,
    ROLE_COORDINATOR,
    ROLE_FOLLOWER,
    ROLE_CANDIDATE,
    ROLE_LEADER,
    ROLE_TOKEN_HOLDER,
};
const char *algo_role_name(int role);

struct algo_action {
    enum algo_action_kind kind;
    struct algo_msg msg; /* ACT_SEND; payload points into actions->arena */
    int timer_id;        /* ACT_SET_TIMER, ACT_CANCEL_TIMER: 0..ALGO_MAX_TIMERS-1 */
    int64_t after_us;    /* ACT_SET_TIMER */
    int role;            /* ACT_ROLE */
    int64_t term;        /* ACT_ROLE: term; ACT_ENTER_CS: the key (seq / ts / gen) */
    int64_t gen;         /* ACT_ENTER_CS: the fencing generation, -1 if none */
    char text[96];       /* ACT_LOG */
};

/* The list of actions one step produced. Allocated once per node with room
 * for a broadcast to every peer (no allocation per message). */
struct algo_actions {
    struct algo_action *a;
    int n, cap;
    int overflow; /* actions dropped because cap was reached (a bug) */
    /* Messages of this step that the core rejected as malformed: a known
     * type with a field outside its valid range (see algo_counter_limit).
     * The core ignored them; the driver counts them like the malformed
     * messages it rejects itself. Reset by algo_actions_clear. */
    int malformed;
};
int algo_actions_init(struct algo_actions *out, int nodes);
void algo_actions_free(struct algo_actions *out);
static inline void algo_actions_clear(struct algo_actions *out)
{
    out->n = 0;
    out->malformed = 0;
}
/* A core rejects the message of this step as malformed. */
static inline void act_malformed(struct algo_actions *out) { out->malformed++; }

/* The valid range of the counters messages carry (Lamport timestamps,
 * token generations, epochs, sequence numbers): 0 <= v <= algo_counter_limit
 * (now_us), with now_us the time of the step on the run's clock (one clock
 * for all nodes, starting near 0). No run comes near it: the limit starts at
 * 2^52 and grows by 2^20 per microsecond, faster than any counter can (a
 * Lamport clock gains 1 per event, a two-level global generation 2^28 per
 * regeneration, which takes at least a timeout); it stops growing at
 * 2^52 + 2^61 (after 2^41 us, 25 days). A message with a larger value is
 * malformed. Why not a constant: a value at a constant limit, once accepted,
 * makes the receiver's next value (the clock plus one, the next generation)
 * one that every peer would refuse, and the cluster stalls. The limit
 * leaves 2^62 of headroom below INT64_MAX, so arithmetic on accepted values
 * (a clock plus one, an epoch times 10^6, a generation shifted by 28 bits
 * after the limit's own shift) never overflows; each core says how. */
#define ALGO_COUNTER_BASE    (INT64_C(1) << 52)
#define ALGO_COUNTER_RATE_SH 20 /* log2 of the growth per microsecond */
#define ALGO_COUNTER_T_MAX   (INT64_C(1) << 41)
static inline int64_t algo_counter_limit(int64_t now_us)
{
    int64_t t = now_us < 0 ? 0 : now_us > ALGO_COUNTER_T_MAX ? ALGO_COUNTER_T_MAX : now_us;
    return ALGO_COUNTER_BASE + (t << ALGO_COUNTER_RATE_SH);
}
static inline bool algo_counter_ok(int64_t v, int64_t now_us)
{
    return v >= 0 && v <= algo_counter_limit(now_us);
}

/* Helpers a core uses to emit actions. */
void act_send(struct algo_actions *out, int from, int to, uint16_t type,
              int64_t f0, int64_t f1, int64_t f2, int64_t f3);
void act_set_timer(struct algo_actions *out, int id, int64_t after_us);
void act_cancel_timer(struct algo_actions *out, int id);
/* key is what traces show (a seq, a timestamp); gen is the generation the
 * critical resource fences on (a token generation, a coordinator epoch),
 * or -1 for an algorithm without one. */
void act_enter_cs(struct algo_actions *out, int64_t key, int64_t gen);
void act_role(struct algo_actions *out, int role, int64_t term);
/* data must stay valid until the step's actions are applied (point into
 * the core's state). */
void act_persist(struct algo_actions *out, const void *data, uint32_t len);

/* What a core is told when it starts. */
struct algo_env {
    int id;       /* this node, 1..n */
    int n;        /* cluster size */
    int incarnation; /* 1 at the first start, +1 per restart */
    uint64_t seed;
    /* Per-algorithm parameters from the configuration. */
    int coordinator;           /* centralized: the initial coordinator */
    bool coordinator_competes; /* centralized: the coordinator also requests */
    int64_t token_timeout_us;  /* token rings: no token seen this long -> regenerate */
    int64_t token_idle_hold_us; /* token rings: a holder that does not want the CS
                                   keeps the token this long before passing it */
    int64_t election_timeout_us; /* centralized: wait for an election answer */
    int groups;                /* two_level_ring: number of groups */
    int local_rounds;          /* two_level_ring: local passes per global visit */
    uint8_t group_of[ALGO_MAX_NODES + 1]; /* two_level_ring: 0 = derive from groups */
    int64_t initial_clock;     /* ricart_agrawala: this node's Lamport clock at start,
                                  0 .. ALGO_COUNTER_BASE */
    /* The driver starts the nodes one by one, and each core's EV_START comes
     * when its own process starts, possibly long before the last one does
     * (64 processes take most of a second, more under sanitizers): a message
     * to a node still starting waits in its queue, slow but not lost. With
     * staged_start the driver sends EV_CLUSTER_UP once every node has started
     * (to a restarted node: right after its EV_START), and until then a core
     * counts no time against a timeout that a start-up could exceed (a lost
     * token). Without it (the simulator, unit tests) all nodes start at once. */
    bool staged_start;
    /* [cluster] retransmit: re-send a request or a token whose answer did
     * not come within retransmit_us, and recognise duplicates, so that a
     * message lost to a partition or to loss does not stall the algorithm
     * after the network heals. Off: the textbook algorithm, which assumes
     * reliable channels. */
    bool retransmit;
    int64_t retransmit_us;
    /* Persistent state from before a crash (ACT_PERSIST), NULL at first. */
    const void *restored;
    size_t restored_len;
};

/* What a driver may ask a core about itself (for checks and status). */
struct algo_inspect {
    bool in_cs;
    bool wanting;
    bool holds_token;  /* a token algorithm's node holding a (local) token */
    int64_t token_gen; /* its generation */
    int role;
    int64_t term;
};

struct algo_ops {
    const char *name;        /* as in the config: "centralized" */
    uint16_t range;          /* MSG_RANGE_* */
    const char *key_field;   /* what f[0] means in traces: "ts", "term", "gen" */
    size_t state_size;
    int (*init)(void *state, const struct algo_env *env);
    void (*step)(void *state, const struct algo_event *ev, struct algo_actions *out);
    void (*fini)(void *state);            /* may be NULL */
    const char *(*msg_name)(uint16_t type); /* NULL for an unknown type */
    /* Does node id make CS requests in this configuration? */
    bool (*competes)(const struct algo_env *env, int id);
    /* Messages per CS the textbook formula predicts for this shape. */
    double (*theory_messages_per_cs)(const struct algo_env *env);
    /* Optional: the textbook's figures in words, for reports. */
    const char *theory_note;
    /* Optional (may be NULL): report internal state for checks. */
    void (*inspect)(const void *state, struct algo_inspect *out);
    /* Optional: is m a token, and of which generation? Token algorithms
     * let the simulator count live tokens (held + in flight). */
    bool (*token_msg)(const struct algo_msg *m, int64_t *gen);
    /* Optional: the algorithm's own cluster-wide safety invariant, which
     * the simulator checks after every step (as canonical/raft's test
     * fixture does; Raft's election safety and log matching will live
     * here). cores[k] is node k's state for k in 1..n, NULL for a node that
     * is down. Returns true when it holds; otherwise writes what is wrong
     * into why (cap bytes), and the run is unsafe. */
    bool (*invariant)(const void *const *cores, int n, char *why, size_t cap);
};

/* The table of algorithms. */
const struct algo_ops *algo_find(const char *name);
extern const struct algo_ops *const algo_table[];
extern const struct algo_ops algo_centralized;
extern const struct algo_ops algo_ricart_agrawala;
extern const struct algo_ops algo_token_ring;
extern const struct algo_ops algo_two_level_ring;

#endif
