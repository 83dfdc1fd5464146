/* Raft's internals, shared by the files of the core (nodes/raft*.c).
 *
 * The core is split by concern as canonical/raft is: raft.c (the ops table,
 * init and restore, the step dispatch, inspect and the invariant),
 * raft_election.c (roles, RequestVote, pre-vote, check-quorum, timers),
 * raft_replication.c (AppendEntries both ways, commit), raft_log.c (the
 * in-memory log), raft_snapshot.c (the state machine, snapshots,
 * InstallSnapshot), raft_client.c (clients' commands at a server) and
 * raft_cli.c (the client core). Nothing here touches the OS.
 *
 * Messages (f[0] is always the term, the key field traces show; a client's
 * request has no term and carries 0). Every field is validated on receipt;
 * a message with a field out of range is counted malformed and ignored.
 *
 *   VOTE_REQ      f1 last log index, f2 last log term, f3 1 pre-vote / 0 vote
 *                 (a pre-vote carries the term the candidate would take)
 *   VOTE_RESP     f1 1 granted / 0 refused, f2 1 pre-vote / 0 vote
 *                 (a granted pre-vote carries the term asked about)
 *   APPEND_REQ    f1 prev index, f2 prev term, f3 leader commit;
 *                 payload: the entries after prev (algo_entries_encode)
 *   APPEND_OK     f1 match index (prev + entries)
 *   APPEND_REJECT f1 the prev index refused, f2 conflict index, f3 conflict
 *                 term (0: the log is shorter; f2 is then its last index + 1)
 *   SNAP_REQ      f1 snapshot index, f2 snapshot term, f3 chunk offset;
 *                 payload: u32 total length, then the chunk's bytes
 *   SNAP_RESP     f1 snapshot index, f2 bytes held (the next offset wanted),
 *                 f3 1 installed / 0 not yet
 *   CLIENT_REQ    client -> server: f1 operation id, f2 the client's floor
 *                 (the lowest operation id it has no answer for; 0: f1);
 *                 payload: the command
 *   CLIENT_RESP   f0 the entry's term (OK), f1 operation id, f2 status
 *                 (RAFT_ST_*), f3 the entry's index (OK; 0 for a read
 *                 answered without the log, raft_local_reads) or a leader hint
 *                 (REDIRECT; 0 unknown); payload (OK): the state
 *                 machine's answer (kv.h). To a batch (CLIENT_BATCH), a
 *                 REDIRECT or BUSY names the batch's first operation and
 *                 stands for all of them.
 *   CLIENT_BATCH  client -> server, a pipelining client (env.client_window
 *                 > 1): f1 the number of commands (1..window), f2 the
 *                 floor; payload: per command i64 operation id, u32
 *                 length, the command
 *   CLIENT_ANSWERS server -> a pipelining client: f0 the leader's term, f1
 *                 the number of answers, f2 RAFT_ST_OK; payload: per
 *                 answer i64 operation id, i64 index, i64 term, u16
 *                 length, the state machine's answer
 *
 * The floor is what makes retries safe with several operations in flight
 * (thesis 6.3): a client never has an operation at or beyond floor +
 * window in flight, so the session table keeps, per client, the answers of
 * the window [floor, floor + window) only, in the slot op % window.
 *
 * Log entries' data: empty for a leader's no-op; otherwise u32 client id,
 * i64 operation id, i64 the client's floor when it sent it (0: the
 * operation id) (little-endian), then the client's command bytes. */
#ifndef DL_NODES_RAFT_INT_H
#define DL_NODES_RAFT_INT_H

#include "nodes/algo.h"
#include "nodes/kv.h"
#include "nodes/rng.h"

enum {
    RAFT_VOTE_REQ = MSG_RANGE_RAFT + 1,
    RAFT_VOTE_RESP,
    RAFT_APPEND_REQ,
    RAFT_APPEND_OK,
    RAFT_APPEND_REJECT,
    RAFT_SNAP_REQ,
    RAFT_SNAP_RESP,
    RAFT_CLIENT_REQ,
    RAFT_CLIENT_RESP,
    RAFT_CLIENT_BATCH,
    RAFT_CLIENT_ANSWERS,
    RAFT_MSG_LAST = RAFT_CLIENT_ANSWERS,
};

/* CLIENT_RESP f2. */
enum {
    RAFT_ST_OK = 0,       /* applied at index f3 in term f0 */
    RAFT_ST_REDIRECT = 1, /* not the leader: try f3 (0: unknown) */
    RAFT_ST_FAIL = 2,     /* refused (a command too large): never applied */
    RAFT_ST_BUSY = 3,     /* the leader holds RAFT_MAX_PENDING commands not
                             applied yet: back off and ask again (not applied) */
};

/* Server timers. */
enum {
    RAFT_T_ELECTION = 0, /* follower/candidate: the election deadline (lazy) */
    RAFT_T_HEARTBEAT = 1, /* leader: heartbeats, probes, check-quorum */
    RAFT_T_APPLY = 2,     /* more committed entries to apply than one step does */
};

/* Defaults (a parameter of 0 in the environment takes these). */
#define RAFT_DEF_ELECTION_MIN_US (150 * 1000)
#define RAFT_DEF_ELECTION_MAX_US (300 * 1000)
#define RAFT_DEF_HEARTBEAT_US    (50 * 1000)
/* A snapshot every 1000 applied entries: the log in memory then holds at
 * most about 2000 entries (the leader keeps the entries since the previous
 * snapshot for followers a little behind), and the state machine here is a
 * few bytes per client, so a snapshot costs little. */
#define RAFT_DEF_SNAPSHOT_ENTRIES 1000
#define RAFT_DEF_MAX_INFLIGHT     4
#define RAFT_INFLIGHT_CAP         16 /* raft_max_inflight is clamped to this */
/* Client cores: an operation gives up after 2 s (several elections), and
 * tries another server after a quarter of that without an answer. */
#define RAFT_DEF_CLIENT_TIMEOUT_US (2 * 1000 * 1000)

#define RAFT_CMD_HDR 20u /* u32 client id + i64 op id + i64 floor before the command */
/* A client's window (env.client_window, [workload] pipeline): operations
 * it may have in flight at once; 1 is a sequential client. */
#define RAFT_WINDOW_MAX 64
#define RAFT_BATCH_REC 12u  /* CLIENT_BATCH: i64 op + u32 length per command */
#define RAFT_ANSWER_REC 26u /* CLIENT_ANSWERS: i64 op, index, term + u16 length */
/* A pipelining client's slots start with room for an answer this long
 * (a status and a short value) and grow, once, to KV_MAX_ANSWER when an
 * operation's answer could be longer (raft_snapshot.c). */
#define RAFT_ANSWER_SMALL 64u
/* The largest command a client may send: its entry must fit one message. */
#define RAFT_MAX_COMMAND (ALGO_MAX_PAYLOAD - ALGO_ENTRY_HDR - RAFT_CMD_HDR)
/* Backpressure: a leader holds at most this many entries it has not
 * applied; a command beyond is answered RAFT_ST_BUSY (and not appended), so
 * offered load beyond what the cluster commits costs neither memory nor
 * throughput. */
#define RAFT_MAX_PENDING 1024
#define RAFT_SNAP_HDR 4u /* u32 total length before a snapshot chunk */
/* An append carries what fits inline (batch_bytes) or, when more is
 * waiting, up to this many bytes of entries (raft_replication.c). */
#define RAFT_CATCHUP_BYTES (32u << 10)

/* One entry of the in-memory log. hash is cumulative: it covers this
 * entry's term and data and the hash of the entry before, so two logs with
 * the same hash at an index hold the same entries up to it. */
struct raft_ent {
    int64_t term;
    uint64_t hash;
    size_t off; /* its data: log->data + off */
    uint32_t len;
};

/* Entries base+1 .. base+count; everything up to base was compacted (its
 * last entry's term and hash are kept). */
struct raft_log {
    const struct algo_mem *mem;
    struct raft_ent *e;
    int64_t count, cap;
    uint8_t *data;
    size_t data_len, data_cap;
    int64_t base, base_term;
    uint64_t base_hash;
};

enum { RAFT_PR_PROBE = 0, RAFT_PR_REPLICATE, RAFT_PR_SNAPSHOT };

/* What a leader knows of one follower (etcd's "progress"). */
struct raft_peer {
    int64_t next, match;
    int mode;          /* RAFT_PR_* */
    bool paused;       /* probe: one append is out; wait for its answer or a heartbeat */
    int inflight;      /* replicate: appends out, their last indexes in infl[] (a FIFO) */
    int infl_head;
    int64_t infl[RAFT_INFLIGHT_CAP];
    int64_t last_ack_us; /* the last answer in this term (check-quorum) */
    bool granted;        /* the current campaign has its vote */
    /* snapshot mode: the snapshot being sent and the offset it asked for */
    int64_t snap_index;
    uint32_t snap_off;
    bool snap_out; /* a chunk is out: wait for its answer or a heartbeat */
};

/* One operation of a client's window: the state machine's record (the
 * operation applied in this slot, at which entry, its answer) and, at a
 * leader, the operation appended for this slot. */
struct raft_slot {
    int64_t op, index, term;   /* applied (op 0: none) */
    uint8_t *ans;              /* the applied operation's answer (kv.h) */
    uint32_t alen, acap;
    bool own;                  /* ans is its own block (grown), not in sm.ansbuf */
    int64_t pend_op, pend_index; /* appended here (leader) */
};

/* Per client: its floor (every operation below it was answered to the
 * client, which will not ask again) and its window's slots (op % window).
 * A leader collects the answers of one step per client (rep[], nrep) and
 * sends them in one message. */
struct raft_client_rec {
    int64_t floor;
    struct raft_slot *slot; /* window of them */
    int64_t *rep;           /* window of them: operations to answer */
    int nrep;
};

/* The state machine: the key-value store (kv.h), a count of applied
 * commands and a hash chain over them, plus the clients' records (a session
 * table: each client's last operation and its answer) that make a retried
 * command apply once and be answered as the first time. */
struct raft_sm {
    int64_t count;
    uint64_t hash;
    struct raft_client_rec *cl; /* env.clients of them */
    struct raft_slot *slots;    /* clients * window */
    int64_t *reps;              /* clients * window */
    int *touched, ntouched;     /* clients with answers to send (index into cl) */
    struct kv_store kv;
    uint8_t *ans; /* KV_MAX_ANSWER bytes: the answer being made */
    uint8_t *ansbuf; /* the slots' answers: KV_MAX_ANSWER each for a window of
                        1, RAFT_ANSWER_SMALL each for a larger one */
};

struct raft_state {
    int id, n, clients, incarnation;
    const struct algo_mem *mem;
    struct dl_rng rng;
    int64_t el_min, el_max, hb, snap_every;
    int max_inflight;
    int window; /* env.client_window: a client's operations in flight */
    uint32_t batch_bytes; /* an append's payload aims at this (max_inline) */
    bool prevote, check_quorum, local_reads;

    int role; /* ROLE_FOLLOWER, ROLE_CANDIDATE, ROLE_LEADER */
    int64_t term, vote;
    int leader; /* known leader of this term, 0 none */
    bool precampaign; /* pre-vote phase under way (role stays follower) */
    int64_t elect_deadline;
    int64_t elect_timer_at; /* when the armed election timer fires, 0 unarmed */
    int64_t heard_us; /* last contact from the leader of the term (-inf: never) */

    struct raft_log log;
    int64_t commit, applied;
    int64_t commit_term; /* our term when commit last advanced (the invariant) */
    int64_t durable; /* our log is durable up to here (EV_PERSISTED) */
    struct raft_peer peer[ALGO_MAX_NODES + 1];

    struct raft_sm sm;
    /* The latest snapshot: the state machine at snap_index, encoded. */
    int64_t snap_index, snap_term;
    uint8_t *snap;
    uint32_t snap_len, snap_cap;
    bool snap_pending; /* taken but its storage action did not fit: again */
    /* A snapshot arriving in chunks, from leader in_from of term
     * in_leader_term: the chunks of one transfer come from one sender
     * (another server's encoding of the same state may order the keys
     * differently, so halves of two must not be joined). */
    int64_t in_index, in_term, in_leader_term;
    int in_from;
    uint8_t *in_buf;
    uint32_t in_len, in_total, in_cap;

    uint8_t *scratch; /* ALGO_MAX_PAYLOAD bytes: an append's payload */
    bool apply_armed;
};

/* raft_log.c */
void raft_log_init(struct raft_log *l, const struct algo_mem *mem);
void raft_log_free(struct raft_log *l);
static inline int64_t raft_log_last(const struct raft_log *l) { return l->base + l->count; }
/* Inline: the simulator's invariant check calls these for every pair of
 * nodes after every step. */
static inline const struct raft_ent *raft_log_get(const struct raft_log *l, int64_t index)
{
    if (index <= l->base || index > l->base + l->count)
        return NULL;
    return &l->e[index - l->base - 1];
}
/* The term at index: 0 for index 0 or out of [base, last], base_term at base. */
static inline int64_t raft_log_term(const struct raft_log *l, int64_t index)
{
    if (index == l->base)
        return l->base_term;
    const struct raft_ent *e = raft_log_get(l, index);
    return e ? e->term : 0;
}
/* The cumulative hash at index (base_hash at base); false if not held. */
static inline bool raft_log_hash(const struct raft_log *l, int64_t index, uint64_t *h)
{
    if (index == l->base) {
        *h = l->base_hash;
        return true;
    }
    const struct raft_ent *e = raft_log_get(l, index);
    if (!e)
        return false;
    *h = e->hash;
    return true;
}
static inline const uint8_t *raft_log_data(const struct raft_log *l, const struct raft_ent *e)
{
    /* No data held yet (only no-ops): no pointer arithmetic on NULL. */
    return l->data ? l->data + e->off : NULL;
}
/* Append one entry at last+1; -1 when memory runs out. */
int raft_log_append(struct raft_log *l, int64_t term, const void *data, uint32_t len);
/* Drop entries >= from (from > base). */
void raft_log_truncate(struct raft_log *l, int64_t from);
/* Drop entries <= upto (base < upto <= last): they are in a snapshot. */
void raft_log_compact(struct raft_log *l, int64_t upto);
/* Empty the log and restart it after a snapshot at index (term, hash). */
void raft_log_reset(struct raft_log *l, int64_t index, int64_t term, uint64_t hash);
/* The first index of the run of entries of term at index (>= base + 1). */
int64_t raft_log_term_start(const struct raft_log *l, int64_t index);
/* The last index whose entry has term t, 0 if none held. */
int64_t raft_log_last_of_term(const struct raft_log *l, int64_t t);
uint64_t raft_hash_bytes(uint64_t h, const void *data, size_t len);
uint64_t raft_hash_mix(uint64_t h, uint64_t v);

/* raft.c */
int raft_majority(const struct raft_state *s);
void raft_store_term_vote(struct raft_state *s, struct algo_actions *out);

/* raft_election.c */
void raft_election_start(struct raft_state *s, int64_t now, struct algo_actions *out);
void raft_become_follower(struct raft_state *s, int64_t term, int leader, int64_t now,
                          struct algo_actions *out);
void raft_reset_deadline(struct raft_state *s, int64_t now);
void raft_on_election_timer(struct raft_state *s, int64_t now, struct algo_actions *out);
void raft_on_heartbeat_timer(struct raft_state *s, int64_t now, struct algo_actions *out);
void raft_on_vote_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                      struct algo_actions *out);
void raft_on_vote_resp(struct raft_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out);
/* A message of the current term (or higher) from the leader: remember it. */
void raft_heard_leader(struct raft_state *s, int from, int64_t now, struct algo_actions *out);

/* raft_replication.c */
/* An answer to the leader (append, snapshot): a higher term makes us step
 * down; true only when we still lead the term it answers. */
bool raft_answer_current(struct raft_state *s, const struct algo_msg *m, int64_t now,
                         struct algo_actions *out);
void raft_send_append(struct raft_state *s, int p, bool heartbeat, struct algo_actions *out);
void raft_broadcast_append(struct raft_state *s, bool heartbeat, struct algo_actions *out);
void raft_on_append_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                        struct algo_actions *out);
void raft_on_append_ok(struct raft_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out);
void raft_on_append_reject(struct raft_state *s, const struct algo_msg *m, int64_t now,
                           struct algo_actions *out);
void raft_maybe_commit(struct raft_state *s, struct algo_actions *out);
void raft_set_commit(struct raft_state *s, int64_t index, struct algo_actions *out);
void raft_peer_probe(struct raft_peer *pr, int64_t next);
/* Store entries first.. of our log (first..last) and keep the durable mark. */
/* lazy: nothing waits for these entries to be durable here (algo.h). */
void raft_store_entries(struct raft_state *s, int64_t first, bool lazy, struct algo_actions *out);
bool raft_may_defer_sync(const struct raft_state *s, int64_t now);
/* Validate an entry's data (a no-op, or a client command of a known client). */
bool raft_entry_ok(const struct raft_state *s, const struct algo_entry *e);

/* raft_snapshot.c */
int raft_sm_init(struct raft_state *s);
void raft_sm_free(struct raft_state *s);
/* Apply committed entries (a batch; more later from a 0 timer). */
void raft_apply(struct raft_state *s, struct algo_actions *out);
/* Encode the state machine (and the log hash at index) into s->snap. */
int raft_snap_take(struct raft_state *s, int64_t index, int64_t term, uint64_t log_hash);
/* Load the state machine from an encoded snapshot; the log hash at its
 * index into *log_hash. -1 when it does not decode. */
int raft_snap_load(struct raft_state *s, const uint8_t *p, uint32_t len, uint64_t *log_hash);
void raft_send_snapshot(struct raft_state *s, int p, struct algo_actions *out);
void raft_on_snap_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                      struct algo_actions *out);
void raft_on_snap_resp(struct raft_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out);

/* raft_client.c */
void raft_on_client_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                        struct algo_actions *out);
/* After applying an entry at the leader: its client's answer is due
 * (collected; raft_client_flush sends the step's answers, one message per
 * client). */
void raft_client_applied(struct raft_state *s, int client, int64_t op, struct algo_actions *out);
void raft_client_flush(struct raft_state *s, struct algo_actions *out);
/* A command's floor as its entry or request gives it (0: op itself). */
static inline int64_t raft_floor_of(int64_t op, int64_t floor) { return floor ? floor : op; }
/* Is (op, floor) a command a client with this window may send? */
static inline bool raft_floor_ok(int window, int64_t op, int64_t floor)
{
    return floor == 0 || (floor >= 1 && floor <= op && op - floor < window);
}
/* Replicate new entries: at once to a follower with nothing in flight;
 * to the others with the next answer (ack-clocked batching). */
void raft_replicate_new(struct raft_state *s, struct algo_actions *out);

/* Room left in the step's action list: sends stop short of the end so
 * that a batch of applies and client answers always fits (the pipeline
 * goes on at the next answer or heartbeat). */
static inline bool raft_room(const struct algo_actions *out, int k)
{
    return out->cap - out->n > k;
}
#define RAFT_SEND_RESERVE (2 * ALGO_STEP_BATCH + 16)

/* Little-endian helpers. */
static inline void raft_put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t raft_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
