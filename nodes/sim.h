/* A deterministic in-process cluster: the simulator.
 *
 * N algorithm cores, a virtual clock and an in-memory network that delays,
 * jitters (so reorders), drops and partitions messages, and crashes,
 * restarts, pauses and resumes nodes. One event per step, in (time, seq)
 * order from a heap; every random choice comes from the seed, so a seed
 * replays the same schedule exactly. After every step the safety
 * invariant is checked: at most one node in the critical section, counting
 * only entries the resource accepted (with fencing, a stale generation is
 * refused or superseded; see sim_resource), at most one live token of the
 * newest generation, and the algorithm's own invariant (algo_ops.invariant)
 * when it has one. At the end, liveness: every
 * request of a node that stayed up was granted.
 *
 * The timing model (SIM_TIMING_MACHINE, the default). A seed must choose
 * among the interleavings a real machine could produce, so the times that
 * a real run gets from the machine are drawn from the seed, from quantile
 * tables fitted to what was measured on a 2-vCPU Linux machine (POSIX queue
 * round trip ~12 us; waking a process idle for a while ~18 us median,
 * ~300 us p99; a 1 ms timerfd fires ~11 us late median, 0.1-0.3 ms p99):
 *   - processing: a step keeps its node busy for a drawn time (median 2 us,
 *     p99 15 us, at most 200 us: preemption on a shared machine) plus 1 us
 *     per message it sends (one mq_send each). Its messages leave at the end
 *     of that time, and the node handles nothing else before then (events
 *     wait, in their order).
 *   - queue hop: a message reaches its receiver after a drawn hop (median
 *     5 us, p99 30 us, at most 400 us) if the receiver was active in the
 *     last SIM_IDLE_US, else after a wake-up (median 18 us, p99 300 us, at
 *     most 2 ms). A POSIX queue is FIFO per receiver, so a message never
 *     arrives before one that entered the same queue earlier: per-receiver
 *     (hence per-link) FIFO holds for every seed.
 *   - timers: core timers and the workload's cs_time and think_time fire
 *     late by a drawn lateness (median 11 us, p99 200 us, at most 1 ms); a
 *     time of 0 is no timer and has no lateness (as in the runtime).
 *   - start: each node asks for the first time 1..100 us into the run
 *     (uniform), in both models.
 *   - failure detector: exact, as in the other model: a peer is reported
 *     down failure_timeout after it went silent (crash, pause, or a cut
 *     link) and up 1 us after it is back. (The runtime checks every
 *     max(failure_timeout / 4, 1 ms), so a real detection may come up to
 *     one period later; schedules place pauses relative to the timeout.)
 * The [network] delay and jitter come on top (jitter reorders unless fifo);
 * faults happen at their exact times. SIM_TIMING_EXACT is the degenerate
 * model for tests that compute a schedule to the microsecond: no processing
 * time, a message takes max(delay + jitter, 1) us, timers and the failure
 * detector are exact.
 *
 * The simulator emits the same trace records as a real run (ipc/trace.h),
 * so `distlab sim --seed S --out DIR` writes a run directory that report,
 * check and trace read like any other. Like a node process, every node
 * that is not down at the end writes a TR_STOP (aux 0) at the end time, so a
 * request with no enter after it was still pending at the end.
 *
 * Replicated logs (an algorithm with typed storage and a client core):
 *   - payloads: every message carries its own copy of its payload, made
 *     when it is sent (nothing points into a step's arena afterwards);
 *   - memory: each core gets a counting allocator (env.mem); the result
 *     reports the most bytes one node's core held, and an optional cap
 *     (mem_cap) fails the run when a core goes over it;
 *   - storage: per node, a durable image (term, vote, snapshot, entries)
 *     and the writes made since the last sync. A step that emitted storage
 *     actions starts a sync unless one is in flight (group commit: what is
 *     written meanwhile joins the next). With fsync, a sync takes a drawn
 *     fdatasync time (machine model: median 0.5 ms, p99 3 ms, at most
 *     8 ms; exact model: SIM_SYNC_EXACT_US); without, every write is
 *     durable at once (a process crash does not lose the page cache) and
 *     the sync only reports it. When a sync completes, what it covered
 *     becomes durable, the after_sync sends held for it leave, and the
 *     node gets EV_PERSISTED. A crash loses the unsynced writes (with
 *     torn_writes, a random prefix of them survives, an append possibly
 *     cut between two entries) and the held sends. A restarted node gets
 *     the durable image as env.stored. With store_fail, each storage
 *     action fails with that probability: the node stops there, as the
 *     runtime stops a node whose storage failed, and restarts from its
 *     durable image after restart_after_us (0: it stays down);
 *   - clients: with env.clients > 0, processes n+1 .. n+clients run
 *     ops->client. They share `requests` (the total: client K takes
 *     requests / clients, the first requests % clients one more), each
 *     command "c<K>-<op>" (unique), submitted as EV_COMMAND one at a
 *     time, as the runtime's client workload does: the next when the
 *     previous one ended (ok, fail or timeout), and with a `rate` no
 *     sooner than 1/rate after the previous submission. Their links
 *     have the [network] delay and jitter but are never cut, never lose a
 *     message, and clients never crash;
 *   - records: TR_INVOKE, TR_OK, TR_FAIL, TR_TIMEOUT from ACT_CLIENT (node
 *     n+K), TR_COMMIT from ACT_COMMIT, TR_APPLY from ACT_APPLY, with
 *     trace_hash of the command; records with data go to on_record_data
 *     when it is set (the data beside them), else to on_record;
 *   - checks: the simulator keeps what each index was applied and
 *     committed as; two nodes applying different commands at one index is
 *     a safety violation, as is an acknowledged command (TR_OK) that was
 *     not applied at its index or whose entry (that index, its term) is
 *     not in the durable log (or a snapshot) of a majority at the end, or
 *     live nodes' logs that differ below their commit indexes (the
 *     entries' bytes are the core's own encoding, compared among nodes;
 *     the command applied is compared with the client's). Leaders per term are counted
 *     from ACT_ROLE. A client workload is done when every operation ended;
 *     a run of such an algorithm without clients runs to max_time. An
 *     operation left unanswered at the end is a liveness failure unless a
 *     fault was permanent (a server down or paused, or a link between
 *     servers cut or losing everything, at the end: then it is pending,
 *     undecided), or, with patience, it was submitted less than the
 *     patience (or env.client_timeout_us if shorter) before the end: then
 *     it was merely in flight when the run was cut off.
 *   - EV_SEND_FAILED: never, unless send_fail asks for it (each send
 *     between servers fails with that probability). */
#ifndef DL_NODES_SIM_H
#define DL_NODES_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/trace.h" /* the record format only: no I/O here */
#include "nodes/algo.h"
#include "nodes/netfault.h"

#define SIM_MAX_FAULTS 256
#define SIM_IDLE_US    200 /* a node quiet for longer needs a wake-up */
/* The most the machine model adds to a message after the step that sent
 * it began (that step's processing and sends, the wake-up tail); a step
 * queued behind others at the same node starts after them. A test whose
 * failure timeout exceeds this plus [network] delay + jitter hears all a
 * lone step sent before its node fell silent. */
#define SIM_MACHINE_MAX_US 2500
#define SIM_SYNC_EXACT_US  100 /* a sync in the exact timing model */
#define SIM_SYNC_MAX_US    8000 /* the longest sync the machine model draws */
#define SIM_MAX_INDEX      (1 << 24) /* log indexes the simulator follows */

enum sim_timing {
    SIM_TIMING_MACHINE = 0, /* drawn from the seed (see above): the default */
    SIM_TIMING_EXACT,       /* no machine noise: exact schedules for tests */
};

/* Why a run stopped. */
enum sim_end {
    SIM_END_DONE = 1, /* every competing node that is up finished its workload,
                         and every client operation ended */
    SIM_END_DEADLOCK, /* no event left, the workload unfinished */
    SIM_END_DURATION, /* the next event lay beyond max_time */
    SIM_END_STEPS,    /* max_steps reached */
    SIM_END_ERROR,    /* out of memory */
};

/* "workload done", "deadlock", "duration", "step limit", "error". */
const char *sim_end_name(int end);

enum sim_fault_kind {
    SIM_CRASH = 1, /* volatile state lost; messages to it are lost while down */
    SIM_RESTART,   /* a crashed node starts again (incarnation + 1) */
    SIM_PAUSE,     /* stops processing; its events wait (SIGSTOP) */
    SIM_RESUME,    /* processes what waited, in order (SIGCONT) */
    SIM_PARTITION, /* group[] gives each node a side: every link between two sides
                      is cut (and only those: it replaces the cuts in force); with
                      isolate, the target (node, role or of) and `with` more
                      nodes (the lowest other ids) are one side, the rest the
                      other (no target then: no change) */
    SIM_HEAL,      /* no link cut */
    SIM_NET,       /* net[0..nnet) set links' state (cut, loss, delay, jitter) */
};

struct sim_fault {
    int64_t at_us;
    int kind;
    int node;                          /* CRASH..RESUME; 0: by role */
    int role;                          /* node 0: whoever holds this role then
                                          (ops->inspect), e.g. ROLE_COORDINATOR */
    int of;                            /* > 0: act on the node that fault of - 1 (an
                                          index into faults) acted on, whoever that
                                          was: the resume of a pause, the restart of
                                          a crash; node and role are then unused */
    uint8_t group[ALGO_MAX_NODES + 1]; /* PARTITION: side of each node */
    bool isolate;                      /* PARTITION: by target instead (above) */
    int with;                          /* ... with this many more nodes */
    const struct net_change *net;      /* NET: the links that change (the caller's,
                                          valid for the whole run) */
    int nnet;
    int label;                         /* recorded as the fault record's aux */
    int number;                        /* recorded as the fault record's a */
    int occurrence;                    /* ... b (1, 2, ... of a repeated fault) */
    int undo;                          /* ... c (1: the automatic undo of one) */
    bool silent;                       /* no fault record (the second half of a
                                          restart, a supervisor's restart policy) */
};

struct sim_config {
    const struct algo_ops *ops;
    struct algo_env env; /* n and the algorithm parameters; id/seed set per node */
    uint64_t seed;
    /* Workload: each node that competes loops request -> cs_time -> think. */
    int requests;
    int64_t cs_time_us, think_time_us;
    const bool *requesters;       /* [1..n]: who requests (NULL: every node that competes) */
    const int64_t *initial_clock; /* [1..n]: env.initial_clock per node (NULL: 0) */
    /* Machine timing (see above); 0 = SIM_TIMING_MACHINE. */
    int timing;
    /* Network: a message takes delay + uniform[0, jitter] on top of the
     * machine's hop and is lost with probability loss. Without fifo,
     * jitter reorders messages. These are every link's state at the start;
     * initial_net (may be NULL) changes links on top of them at time 0, with
     * a TR_LINK record for each, and SIM_NET faults change them later.
     *
     * Links are directed: the state of a -> b is what a sends to b. Delay
     * and jitter are those of the link when the message is sent. A cut and
     * loss act at the receiver, when the message would be handled (as in
     * the runtime): a message on a link cut then is dropped (TR_DROP at the
     * receiver, peer = sender, aux WIRE_DROP_PARTITION), else it is lost
     * with the link's loss then (aux WIRE_DROP_LOSS). A cut a -> b also
     * hides a from b's failure detector (b only): b reports a down
     * failure_timeout after the cut began, and up 1 us after it ends. */
    int64_t delay_us, jitter_us;
    double loss;
    const struct net_change *initial_net;
    int ninitial_net;
    bool fifo;
    /* Failure detector: peers learn a node is down failure_timeout after it
     * crashed or paused (0: never), and up again when it restarts or
     * resumes. Timeout based: a pause looks exactly like a crash. */
    int64_t failure_timeout_us;
    /* The critical resource refuses generations older than the newest. */
    bool fencing;
    /* Scheduled faults, in any order. */
    const struct sim_fault *faults;
    int nfaults;
    /* Random faults: with probability crash_prob per request a random
     * node crashes, restarting after restart_after_us (0: stays down). */
    double crash_prob;
    int64_t restart_after_us;
    /* Liveness: a request still waiting at the end violates it if it waited
     * longer than patience_us; 0: any request still waiting does, and so
     * does a workload not finished by max_time (the strict form tests use).
     * With patience, a run merely cut off by max_time is only incomplete. */
    int64_t patience_us;
    /* Limits. */
    int64_t max_time_us;
    uint64_t max_steps;
    /* Every event as a trace record, in time order (may be NULL). */
    void (*on_record)(void *user, const struct trace_rec *r);
    void *user;
    /* Records that describe data (TR_INVOKE, TR_APPLY), with the data, in
     * place of on_record when set: r->b and r->aux already hold its hash
     * and length, r->c is -1 (trace_emit_data_at fills in the offset). */
    void (*on_record_data)(void *user, const struct trace_rec *r, const void *data,
                           uint32_t len);
    /* Replicated logs (see above). */
    double rate;        /* client commands per second per client at most; 0: no pause */
    /* Clients' key-value workload (kvload.h): 0 / all 0 for its defaults. */
    int kv_keys, kv_value_size;
    int32_t kv_mix[5];
    bool fsync;         /* syncs take time; off: written is durable */
    bool torn_writes;   /* a crash keeps a random prefix of the unsynced writes */
    double store_fail;  /* probability that a storage action fails */
    double send_fail;   /* probability that a send between servers fails */
    size_t mem_cap;     /* the most bytes one node's core may hold (0: no cap) */
};

/* What a replicated log did in one run. */
struct sim_log {
    uint64_t elections;       /* a node became leader (ACT_ROLE) */
    int max_leaders_per_term; /* distinct leaders of one term: must be <= 1 */
    int64_t max_term;         /* the highest term a role change named */
    int64_t first_leader_us;  /* when the first leader came (-1: never) */
    int64_t commit_index;     /* the highest commit index a node reached */
    uint64_t applies;         /* ACT_APPLY, all nodes */
    uint64_t invoked, ok, failed, timed_out;
    uint64_t unanswered;      /* operations submitted that never ended */
    uint64_t acked_lost;      /* OK operations whose command was not applied
                                 at their index, or whose entry (index, term)
                                 is not durable on a majority at the end */
    bool logs_agree;          /* the live nodes' logs agree up to each one's
                                 commit index (entries' bytes and terms),
                                 and with the terms applied and committed */
    uint64_t syncs;           /* syncs completed */
    uint64_t store_failures;  /* storage actions that failed (store_fail) */
    uint64_t torn;            /* crashes that kept part of the unsynced writes */
    uint64_t send_failed;     /* EV_SEND_FAILED given (send_fail) */
    uint64_t truncated;       /* entries dropped by truncates, all nodes */
    int64_t max_truncate;     /* the most one truncate dropped */
    uint64_t snapshots;       /* snapshots written, all nodes */
    uint64_t snap_installs;   /* of which beyond the node's log (sent to it) */
    int leader_at_end;        /* an up node that is leader at the end, of the
                                 highest term (ops->inspect; 0: none) */
    int64_t leader_term_at_end;
    bool permanent_fault;     /* a server down or paused, or a link between
                                 servers cut, at the end */
};

struct sim_result {
    bool safe;            /* never two accepted holders of the CS at once */
    bool live;            /* false: shown not live (deadlock, starvation, or with
                             patience 0 an unfinished workload). A run cut off
                             with requests pending that had not waited past
                             patience stays true: undecided (pending > 0). */
    bool completed;       /* the workload finished before max_time */
    int end;              /* enum sim_end */
    char violation[256];  /* the first safety or liveness problem, or "" */
    int64_t end_us;
    uint64_t steps;
    uint64_t cs_entries;  /* accepted entries */
    uint64_t fenced;      /* entries or writes refused for an old generation */
    uint64_t resource_violations; /* entries that found another accepted holder inside */
    uint64_t messages;    /* algorithm messages sent */
    uint64_t dropped;     /* lost to loss, partitions or crashed receivers */
    uint64_t dropped_cut, dropped_loss; /* of which: a cut link, loss */
    uint64_t requests;
    uint64_t pending;     /* requests never granted (of nodes that stayed up) */
    uint64_t crashes, restarts;
    int64_t counter;      /* the resource's counter: must equal accepted exits */
    uint64_t exits;
    int max_valid_tokens; /* for token algorithms (ops->inspect): must be <= 1 */
    uint64_t entry_order; /* hash of the sequence of accepted entries (node ids) */
    uint64_t schedule;    /* hash of the interleaving: the sequence of events
                             (kind, node, sender), without their times */
    /* The pending requests counted in `pending`: since when each waited
     * (-1: none). Unanswered client operations count in `pending` too. */
    int64_t pending_since[ALGO_MAX_NODES + 1];
    size_t peak_mem;      /* the most bytes one node's core held (env.mem) */
    int peak_mem_node;
    bool mem_over;        /* a core went over mem_cap (also a violation) */
    struct sim_log log;
};

/* Run one schedule. Returns 0, or a negative code for a bad configuration
 * (the result's violation says what). */
int sim_run(const struct sim_config *cfg, struct sim_result *res);

/* Copy in every default: the machine timing model, fifo off, no faults,
 * max_time 60 s, max_steps 10M. */
void sim_config_defaults(struct sim_config *cfg);

#endif
