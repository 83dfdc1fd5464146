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
/* Payloads. A message may carry up to ALGO_MAX_PAYLOAD bytes, whatever N:
 * the driver sends what fits in one queue message inline (env.max_inline
 * bytes for this run's N) and anything larger through a shared-memory bulk
 * slot (a bulk slot holds 64 KiB). Payload bytes are copied into the step's
 * arena by act_send_ex / the storage helpers, so a core may change its
 * state right after; one step may emit at most ALGO_ARENA_BYTES of them. */
#define ALGO_MAX_PAYLOAD (60u << 10)
#define ALGO_ARENA_BYTES (1u << 20)
/* The largest state a core may store as a snapshot (ACT_STORE_SNAPSHOT). */
#define ALGO_MAX_SNAPSHOT (64u << 20)
/* Actions one step may emit on top of a broadcast and a reply to every
 * peer: applies, client replies, storage actions. A core that has more to
 * do (a long run of committed entries to apply) does ALGO_STEP_BATCH of
 * them and continues in a later step (a timer of 0). */
#define ALGO_STEP_BATCH 64

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
    EV_SEND_FAILED, /* a send of this node's could not be made (a full bulk
                       area, a backlog over its budget, a payload too big):
                       ev.msg is its header (type, to, f[]; no payload).
                       Never silent: the core decides whether to retry. */
    EV_PERSISTED,  /* every storage action emitted before is durable (synced,
                      or written when fsync is off): the log up to ev.index,
                      whose entry has term ev.term (0/0 for an empty log),
                      and the term and vote. Sent by the driver after each
                      sync that covered storage actions. */
    EV_COMMAND,    /* client cores: the application submits a command:
                      ev.msg.payload (ev.msg.len bytes), operation id
                      ev.msg.f[0] (1, 2, ... per client); ev.msg.f[1]
                      nonzero: another EV_COMMAND follows at once (a
                      pipelining client core may send them together) */
};

struct algo_event {
    enum algo_event_kind kind;
    int64_t now_us; /* the time, on the node's clock */
    struct algo_msg msg;
    int timer_id;
    int peer;
    int64_t index, term; /* EV_PERSISTED */
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
                         next start as env.restored. Durable before any
                         later action takes effect. (Whole-state, two
                         fsyncs: for small states. A log uses the typed
                         storage actions below.) */
    /* Typed storage (a replicated log's persistent state). Each is written
     * in order with the other actions; none is durable before the driver's
     * next sync, which it reports with EV_PERSISTED. A send with
     * after_sync waits for that sync (a vote granted, an append
     * acknowledged). What was not synced may be lost in a crash. At the
     * next start the driver gives back what survived as env.stored. */
    ACT_STORE_TERM_VOTE, /* term, vote (0: none) */
                         /* (see also algo_action.lazy) */
    ACT_STORE_APPEND,    /* entries from index: msg.payload holds count
                            encoded entries (algo_entries_next) */
    ACT_STORE_TRUNCATE,  /* drop entries >= index */
    ACT_STORE_SNAPSHOT,  /* a snapshot covering entries <= index (whose term
                            is term): msg.payload is the state machine's state */
    /* Replicated state machines. */
    ACT_COMMIT,       /* the commit index advanced to index (entry term: term) */
    ACT_APPLY,        /* the entry index (term) was applied: msg.payload is its
                         command (traces record it) */
    ACT_CLIENT,       /* client cores: operation key's outcome (outcome: enum
                         algo_outcome) - invoked, or answered by node msg.from
                         after committing at index in term; msg.payload
                         the command (invoke) or the reply (ok) */
};

enum algo_outcome {
    ALGO_OP_INVOKE = 1, /* the command was submitted */
    ALGO_OP_OK,         /* committed and applied: the answer came */
    ALGO_OP_FAIL,       /* definitely not applied (refused) */
    ALGO_OP_TIMEOUT,    /* no answer in time: may or may not be applied */
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

/* How long a driver may put off the sync of lazy storage actions
 * (algo_action.lazy). */
#define ALGO_LAZY_SYNC_US 5000

struct algo_action {
    enum algo_action_kind kind;
    struct algo_msg msg; /* ACT_SEND; payload points into actions->arena */
    int timer_id;        /* ACT_SET_TIMER, ACT_CANCEL_TIMER: 0..ALGO_MAX_TIMERS-1 */
    int64_t after_us;    /* ACT_SET_TIMER */
    int role;            /* ACT_ROLE */
    int64_t term;        /* ACT_ROLE: term; ACT_ENTER_CS: the key (seq / ts / gen) */
    int64_t gen;         /* ACT_ENTER_CS: the fencing generation, -1 if none */
    int64_t index;       /* storage, COMMIT, APPLY, CLIENT: a log index */
    int64_t vote;        /* ACT_STORE_TERM_VOTE: the vote (0 none) */
    int64_t key;         /* ACT_CLIENT: the operation id */
    int count;           /* ACT_STORE_APPEND: entries in msg.payload */
    int outcome;         /* ACT_CLIENT: enum algo_outcome */
    bool after_sync;     /* ACT_SEND: hold until the storage actions before it
                            are durable (then EV_PERSISTED comes too) */
    bool lazy;           /* ACT_STORE_APPEND: nothing waits for these entries
                            to be durable here (a leader whose followers alone
                            make a majority): the driver may put its sync off,
                            up to ALGO_LAZY_SYNC_US, while no send is held
                            for it and no other storage action is pending */
    char text[96];       /* ACT_LOG */
};

/* A storage action whose sync may be put off (algo_action.lazy). */
static inline bool algo_action_lazy(const struct algo_action *a)
{
    return a->kind == ACT_STORE_APPEND && a->lazy;
}

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
    /* Payload bytes of this step's actions (ALGO_ARENA_BYTES). */
    uint8_t *arena;
    uint32_t arena_used, arena_cap;
    /* A snapshot larger than the arena has room for: one per step, in a
     * buffer of its own that grows to ALGO_MAX_SNAPSHOT. */
    uint8_t *big;
    uint32_t big_cap;
    bool big_used;
};
/* nodes: every process id a step may address (nodes and clients). */
int algo_actions_init(struct algo_actions *out, int nodes);
void algo_actions_free(struct algo_actions *out);
static inline void algo_actions_clear(struct algo_actions *out)
{
    out->n = 0;
    out->malformed = 0;
    out->arena_used = 0;
    out->big_used = false;
}
/* Payload bytes this step can still take (an action's payload in the
 * arena costs its length rounded up to 8). */
static inline uint32_t algo_arena_room(const struct algo_actions *out)
{
    uint32_t at = (out->arena_used + 7u) & ~7u;
    return at < out->arena_cap ? out->arena_cap - at : 0;
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

/* A send with a payload (m->len bytes at m->payload, copied; from, to, type
 * and f[] from m). false, and nothing emitted, when the payload is over
 * ALGO_MAX_PAYLOAD or the step's arena or action list is full: the core
 * sends it later (a timer) or in pieces. */
bool act_send_ex(struct algo_actions *out, const struct algo_msg *m, bool after_sync);

/* Log entries, as storage actions and restored state carry them. */
struct algo_entry {
    int64_t term;
    uint32_t len;
    const uint8_t *data;
};
/* Encoded size of an entry with len command bytes: i64 term, u32 len,
 * bytes (little-endian, unaligned). */
#define ALGO_ENTRY_HDR 12u
/* Encode e[0..n) into one buffer (an AppendEntries payload, a storage
 * action): returns bytes written, or 0 if cap is too small. */
uint32_t algo_entries_encode(uint8_t *buf, uint32_t cap, const struct algo_entry *e, int n);
/* Decode the next entry at *p (< end): false when malformed or at end
 * (the caller checks it consumed everything). e->data points into the
 * buffer. */
bool algo_entries_next(const uint8_t **p, const uint8_t *end, struct algo_entry *e);
/* Storage actions (see enum algo_action_kind); false when the arena or the
 * action list is full (append, snapshot). */
void act_store_term_vote(struct algo_actions *out, int64_t term, int64_t vote);
bool act_store_append(struct algo_actions *out, int64_t first_index, const struct algo_entry *e,
                      int n);
void act_store_truncate(struct algo_actions *out, int64_t from);
bool act_store_snapshot(struct algo_actions *out, int64_t index, int64_t term, const void *state,
                        uint32_t len);
void act_commit(struct algo_actions *out, int64_t index, int64_t term);
bool act_apply(struct algo_actions *out, int64_t index, int64_t term, const void *cmd,
               uint32_t len);
/* A client core's operation outcome (answered_by 0 unless OK/FAIL). */
bool act_client(struct algo_actions *out, int outcome, int64_t op, int answered_by, int64_t index,
                int64_t term, const void *data, uint32_t len);

/* Growable memory for cores, given by the driver (a core calls no
 * allocator of its own: tests/purity.sh). realloc semantics: p NULL
 * allocates, size 0 frees and returns NULL; NULL on failure with p
 * unchanged. A driver may cap what a core holds (the simulator does, to
 * show memory stays bounded). */
struct algo_mem {
    void *(*realloc)(void *ctx, void *p, size_t size);
    void *ctx;
};
extern const struct algo_mem algo_mem_libc;
static inline void *algo_realloc(const struct algo_mem *m, void *p, size_t size)
{
    return m->realloc(m->ctx, p, size);
}

/* What survived in typed storage, given to a core at a restart. */
struct algo_stored {
    int64_t term;
    int64_t vote; /* 0: none */
    int64_t snap_index, snap_term; /* 0, 0: no snapshot */
    const uint8_t *snap;
    uint32_t snap_len;
    int64_t first_index, last_index; /* entries first..last; first = snap_index + 1 */
    /* Entry index in [first_index, last_index]; false otherwise. e->data
     * stays valid until init returns. */
    bool (*entry)(const void *ctx, int64_t index, struct algo_entry *e);
    const void *ctx;
};

/* What a core is told when it starts. */
struct algo_env {
    int id;       /* this node, 1..n */
    int n;        /* cluster size */
    int incarnation; /* 1 at the first start, +1 per restart */
    uint64_t seed;
    /* Per-algorithm parameters from the configuration. */
    int coordinator;           /* centralized: the initial coordinator; a replicated
                                  log's client core: the server to ask first (0: drawn) */
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
    /* Typed storage from before a crash, NULL at the first start. */
    const struct algo_stored *stored;
    /* Growable memory (never NULL when a core needs it: algo_mem_libc). */
    const struct algo_mem *mem;
    /* The largest payload that travels inline in one queue message for
     * this run (larger ones, up to ALGO_MAX_PAYLOAD, take a bulk slot, of
     * which a sender has few: batch up to this size when you can). */
    uint32_t max_inline;
    /* Client processes: ids n+1 .. n+clients, run by ops->client. */
    int clients;
    /* Raft ([raft] section). */
    int64_t raft_election_min_us, raft_election_max_us; /* 150 ms, 300 ms */
    int64_t raft_heartbeat_us;                          /* 50 ms */
    bool raft_prevote, raft_check_quorum;               /* off, off */
    /* A leader answers a read (a get) from its own state machine at once,
     * without the log or any check that it still leads: fast, and NOT
     * linearizable - a leader cut off from the majority serves stale
     * reads. Off; there to show why reads go through the log. */
    bool raft_local_reads;
    int64_t raft_snapshot_entries;                      /* 0: the core's default */
    int raft_max_inflight;                              /* 0: the core's default */
    /* Client cores: give up on an operation after this long (0: default). */
    int64_t client_timeout_us;
    /* Operations a client may have in flight at once ([workload] pipeline,
     * 1..64; 0 counts as 1): the clients and the servers' session table
     * must agree on it. */
    int client_window;
};

/* What a driver may ask a core about itself (for checks and status). */
struct algo_inspect {
    bool in_cs;
    bool wanting;
    bool holds_token;  /* a token algorithm's node holding a (local) token */
    int64_t token_gen; /* its generation */
    int role;
    int64_t term;
    /* Replicated logs. */
    int64_t commit_index, last_index, applied_index;
    int leader; /* the leader this node knows of, 0 if none */
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
    /* May be NULL: for a message type whose f[1] is a yes/no the traces
     * show (a vote's "granted"), its name; NULL for other types. */
    const char *(*msg_flag)(uint16_t type);
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
    /* Optional: the core that client processes (ids n+1 .. n+env.clients)
     * run: it turns EV_COMMAND into messages to the servers and reports
     * outcomes with ACT_CLIENT. Its messages share this algorithm's range. */
    const struct algo_ops *client;
};

/* The table of algorithms. */
const struct algo_ops *algo_find(const char *name);
extern const struct algo_ops *const algo_table[];
extern const struct algo_ops algo_centralized;
extern const struct algo_ops algo_ricart_agrawala;
extern const struct algo_ops algo_token_ring;
extern const struct algo_ops algo_two_level_ring;
extern const struct algo_ops algo_raft;
extern const struct algo_ops algo_raft_client;

#endif
