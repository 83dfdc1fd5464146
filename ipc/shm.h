/* The run's shared segment: the live cluster table, the critical resource,
 * the link matrix for network faults, and the bulk areas.
 *
 * Name (contract): "/distlab.<runid>", mode 0600; the queues of the run are
 * "/distlab.<runid>.n<K>" for K = 0 (the supervisor) .. n (the nodes) ..
 * n + clients (the client processes of a Raft run). The launcher
 * creates the segment before any queue and removes it after every queue, so
 * a queue never outlives its segment and `distlab clean` can find every
 * stale queue from the segments alone (no /dev/mqueue mount needed). */
#ifndef DL_IPC_SHM_H
#define DL_IPC_SHM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/wire.h"

#define SHM_MAGIC 0x4d48534cu /* "LSHM" */
#define SHM_VERSION 9 /* 9: params.pipeline; 8: params.trace_record; 7: the key-value workload (keys, mix, value_size) and interactive client slots in params; 6: client processes (clients, procs; n + clients slots and bulk areas), the replicated-log columns of a slot (commit, last, applied, leader, client outcomes), Raft's params; 5: per-link loss/delay/jitter, net_version, the command mailbox, params.retransmit; 2: the resource packs holder, fenced generation and counter; 3: trace_max_size in params; 4: malformed_kind counts WIRE_ERR_FIELD */
#define SHM_PREFIX "distlab."
#define SHM_BULK_SLOTS 64       /* per sender (reserved at creation) */
#define SHM_BULK_SLOT 65536     /* bytes per slot, header included */

enum shm_node_state {
    NODE_EMPTY = 0, /* never started */
    NODE_STARTING,  /* forked, not yet in its loop */
    NODE_UP,
    NODE_PAUSED,    /* stopped by SIGSTOP */
    NODE_DOWN,      /* crashed (killed by a signal or failed) */
    NODE_STOPPED,   /* exited cleanly (SIGTERM or end of run) */
};
const char *shm_node_state_name(int state);

enum shm_run_phase { RUN_STARTING = 0, RUN_RUNNING, RUN_STOPPING, RUN_DONE };

enum shm_counter {
    CNT_SENT = 0,     /* algorithm messages sent (accepted by a queue) */
    CNT_RECV,         /* algorithm messages received and accepted */
    CNT_MALFORMED,    /* received and rejected (see malformed_kind) */
    CNT_QUEUE_FULL,   /* sends that found the peer queue full (backlogged) */
    CNT_BACKLOG_HWM,  /* highest total backlog seen */
    CNT_BACKLOG_NOW,  /* messages waiting in backlogs now */
    CNT_CS_ENTRIES,
    CNT_REQUESTS,     /* CS requests made */
    CNT_DROPPED,      /* messages dropped: by the network fault model, as sent by a
                       * previous life of their sender, or by this node's own
                       * transport (CNT_SEND_DROPPED) */
    CNT_SEND_DROPPED, /* of those, dropped by this node's transport before reaching a
                       * queue: backlog budget, peer gone, queue error, left at stop */
    CNT_COUNT
};

struct shm_node {
    /* Each node writes its own slot: one cache line apart, no false sharing. */
    _Alignas(64) _Atomic int32_t pid;
    _Atomic int32_t state;
    _Atomic int32_t role;
    _Atomic int32_t incarnation; /* 1 for the first start, +1 per restart */
    _Atomic int64_t term;        /* term / clock / generation, per algorithm */
    _Atomic int32_t last_signal; /* signal of the last crash/pause, 0 if none */
    _Atomic int32_t workload_done;
    _Atomic int32_t in_cs;
    _Atomic int64_t requests_done; /* completed CS, survives restarts */
    _Atomic int64_t started_us;    /* run-relative time of the last start */
    _Atomic int64_t heartbeat_us;  /* run-relative: the node's loop was alive then */
    _Atomic int32_t restart_asked; /* `distlab restart`: the supervisor restarts it */
    _Atomic uint64_t cnt[CNT_COUNT];
    _Atomic uint64_t malformed_kind[WIRE_ERR_COUNT];
    /* A replicated log (Raft), published by the node after each step, for
     * `distlab status` and `distlab pid --leader`: its commit index, last
     * log index, last applied index, and the leader it knows of (0: none). */
    _Atomic int64_t commit_index;
    _Atomic int64_t last_index;
    _Atomic int64_t applied_index;
    _Atomic int32_t leader;
    /* A client process: its operations' outcomes so far (requests_done
     * counts every operation that has one). */
    _Atomic int64_t ops_ok, ops_fail, ops_timeout;
};

/* The critical resource (DESIGN.md): the holder is set by compare-and-swap
 * on CS entry (finding another node inside is a violation) and a counter each
 * CS updates with a deliberately slow read-modify-write (read on entry,
 * written on exit), so overlapping critical sections visibly lose updates.
 *
 * Fencing (Kleppmann's fencing tokens): an entry carries a generation (a
 * token generation, a coordinator epoch; -1 for algorithms without one).
 * With fencing on, the resource remembers the highest generation that
 * entered and refuses an entry or a write with an older one; an entry with
 * a newer generation than the current holder's supersedes it (the holder's
 * lease is void, its write will be refused), which is not a violation.
 *
 * One atomic step per operation. `holder` packs the holder's id and the
 * highest generation that entered, and `counter` sits in the same 16 bytes:
 * entry (fence check, take the lease, read the counter) and exit (fence
 * check, write the counter, give the lease back) are each ONE 16-byte
 * compare-and-swap. So a refused generation can never become the holder,
 * the fenced generation never decreases, a write is accepted only while
 * its lease is intact (a stale holder's late write cannot land after a
 * newer holder read the counter), and each overlap is counted once: at the
 * entry that finds another node inside (the displaced node's exit does not
 * count it again). */
struct shm_resource {
    _Alignas(64) _Atomic uint64_t holder; /* node | (max_gen + 1) << 16; node 0 = free */
    _Atomic int64_t counter;              /* must follow holder: one 16-byte word */
    _Atomic uint64_t entries;
    _Atomic uint64_t violations;
    _Atomic uint64_t fenced;     /* entries or writes refused for an old generation */
    _Atomic uint64_t superseded; /* holders displaced by a newer generation */
    _Atomic uint64_t recovered;  /* exits of killed holders completed by shm_resource_drop */
};
#define SHM_HOLDER_NODE(h) ((int)((h)&0xffff))
#define SHM_HOLDER_GEN(h) ((int64_t)((h) >> 16) - 1) /* highest generation entered, -1 none */
/* Generations above this are stored as this (48 bits in the holder word). */
#define SHM_GEN_MAX ((INT64_C(1) << 48) - 2)

enum shm_res_result {
    RES_OK = 0,
    RES_VIOLATION = 1,  /* another node was inside (counted) */
    RES_FENCED = 2,     /* refused: an older generation than one already seen */
    RES_SUPERSEDED = 3, /* entered over a stale holder (fencing on) */
};

struct shm_bulk_slot {
    _Atomic uint64_t seq; /* 0 = free; otherwise the descriptor's seq */
    _Atomic int32_t to;   /* receiver, and its incarnation at send time */
    _Atomic int32_t to_incarnation;
    uint32_t len;
    uint32_t pad;
    /* payload follows, SHM_BULK_SLOT - sizeof(struct shm_bulk_slot) bytes */
};
#define SHM_BULK_MAX (SHM_BULK_SLOT - sizeof(struct shm_bulk_slot))

/* What every node needs of the configuration, copied in by the launcher. */
struct shm_params {
    uint64_t seed;
    int32_t requests; /* per node (mutex) */
    int64_t cs_time_us;
    int64_t think_time_us;
    double rate;
    int32_t coordinator;
    int32_t coordinator_competes;
    int64_t election_timeout_min_us, election_timeout_max_us, heartbeat_us;
    int32_t fsync;
    int64_t delay_us, jitter_us;
    double loss;
    int64_t failure_timeout_us;
    int64_t election_timeout_us;
    int64_t token_timeout_us;
    int64_t idle_hold_us;
    int32_t groups, local_rounds;
    int32_t fencing;
    uint8_t requester[DL_MAX_NODES + 1];      /* 1: this node makes CS requests */
    int64_t initial_clock[DL_MAX_NODES + 1];  /* ricart_agrawala */
    uint8_t group_of[DL_MAX_NODES + 1];       /* two_level_ring: 0 = by groups */
    int64_t trace_max_size;                   /* [trace] max_size: bytes per trace file */
    int32_t retransmit;                       /* [cluster] retransmit */
    int64_t retransmit_us;                    /* its timeout (config_retransmit_timeout) */
    /* Raft ([raft]; algo_env's raft_* fields, same meanings). */
    int32_t prevote, check_quorum, local_reads;
    int64_t snapshot_entries; /* 0: the core's default */
    int32_t max_inflight;     /* 0: the core's default */
    /* Client processes (Raft's workload): ids n+1 .. n+clients. requests
     * is then the total: client K (1..clients, process n+K) makes
     * requests / clients operations, plus one when K <= requests % clients
     * (shm_client_quota); rate is per client (0: as fast as answered). */
    int32_t clients;
    int64_t client_timeout_us; /* 0: the client core's default */
    /* Slots after the workload's clients (ids n+clients+1 ..
     * n+clients+interactive, the segment's last client slots) that
     * `distlab client` claims to submit one command from a shell: the
     * supervisor starts no process there and does not wait for them. */
    int32_t interactive;
    /* The key-value workload ([workload] keys, mix, value_size): keys
     * k1..k<keys>, the weights of get, put, append, cas (mix[KV_PUT] ..
     * mix[KV_CAS]), values padded to value_size bytes. */
    int32_t keys, value_size;
    int32_t mix[5];
    /* The largest payload that travels inline in one queue message:
     * msgsize - sizeof(struct wire_hdr) (algo_env.max_inline). */
    uint32_t max_inline;
    /* [trace] record: the classes of events the processes trace
     * (TRACE_CLASS_ bits, ipc/trace.h; 0 counts as all). */
    uint32_t trace_record;
    /* [workload] pipeline: operations a client keeps in flight (1..64;
     * algo_env.client_window). */
    int32_t pipeline;
};

/* The operations client K (1..clients) of a run makes (see shm_params). */
static inline int64_t shm_client_quota(int64_t requests, int clients, int k)
{
    if (clients < 1 || k < 1 || k > clients || requests < 0)
        return 0;
    return requests / clients + (k <= requests % clients ? 1 : 0);
}

/* The network fault state of one directed link (a -> b: what a sends to b),
 * set by the supervisor only and read by the nodes' transports on every
 * send (delay, jitter) and receive (cut, loss). */
struct shm_link {
    _Atomic uint32_t loss_ppm;  /* loss probability in millionths (0..1000000) */
    _Atomic uint32_t delay_us;  /* added to every message on the link */
    _Atomic uint32_t jitter_us; /* plus uniform [0, jitter] (reorders) */
    uint32_t pad;
};

/* Commands from `distlab` tools to the supervisor (kill, pause, resume,
 * terminate, restart, partition, heal, net): one at a time, through this
 * mailbox. A tool claims it (state FREE -> CLAIMED by compare-and-swap,
 * writing its pid), fills it in, sets POSTED and wakes the supervisor with
 * SIGUSR2; the supervisor validates every field (the segment is the user's,
 * but a tool of another build, or a crashed one, may have left anything),
 * applies the command, writes result and answer and sets ANSWERED (and
 * FUTEX_WAKEs state); the tool reads the answer and sets FREE. A mailbox
 * held by a tool that died is taken over by the next one (tool_pid gone),
 * and the supervisor frees an answer nobody collected after a few seconds. */
enum shm_cmd_state { CMD_FREE = 0, CMD_CLAIMED, CMD_POSTED, CMD_ANSWERED };
enum shm_cmd_op {
    CMD_NONE = 0,
    CMD_KILL,      /* node */
    CMD_PAUSE,     /* node */
    CMD_RESUME,    /* node */
    CMD_TERMINATE, /* node */
    CMD_RESTART,   /* node */
    CMD_PARTITION, /* arg: a partition spec (src/netspec.h) */
    CMD_HEAL,      /* everything cut becomes whole again (net settings stay) */
    CMD_NET,       /* arg: "loss=0.1 delay=5ms jitter=2ms [LINKS]" */
    CMD_OP_COUNT
};
struct shm_cmd {
    _Atomic uint32_t state; /* enum shm_cmd_state; a futex word */
    _Atomic uint32_t seq;   /* +1 per command posted */
    _Atomic int32_t tool_pid;
    int32_t op;             /* enum shm_cmd_op */
    int32_t node;           /* 1..n for node commands */
    int32_t result;         /* 0 done, else a positive errno (answer says why) */
    int64_t posted_us;      /* run-relative, by the tool */
    char arg[256];          /* NUL-terminated within the array */
    char answer[512];       /* NUL-terminated within the array */
};

/* The layout-stable prefix: the first bytes of every run segment, of every
 * SHM_VERSION past and future. A tool of any build reads it (without
 * shm_attach, which accepts only its own version) to tell a live run from a
 * stale one: `distlab clean` must never remove a live run of another build.
 * It must NEVER change: no field added, removed, reordered, resized or
 * retyped. Grow struct shm_run after it instead (and bump SHM_VERSION). */
struct shm_prefix {
    uint32_t magic;          /* SHM_MAGIC, written last by shm_create */
    uint32_t version;        /* SHM_VERSION of the build that created it */
    uint32_t run_id;
    uint32_t n;              /* nodes (untrusted: bound it); queues n0..n<n>, then the
                                clients' queues if any (`distlab clean` looks for every
                                queue a run can have) */
    int32_t launcher_pid;
    uint32_t reserved;       /* explicit padding, 0 */
    uint64_t launcher_start; /* /proc starttime of the launcher (pid reuse) */
};
_Static_assert(sizeof(struct shm_prefix) == 32, "struct shm_prefix must never change");

struct shm_run {
    /* Starts with struct shm_prefix: as `prefix`, and field by field (r->n)
     * through the anonymous struct, which must mirror it exactly (checked
     * below). */
    union {
        struct shm_prefix prefix;
        struct {
            uint32_t magic, version;
            uint32_t run_id;
            uint32_t n;
            int32_t launcher_pid;
            uint32_t reserved;
            uint64_t launcher_start;
        };
    };
    int64_t start_mono_us;   /* the run's time zero on CLOCK_MONOTONIC */
    int64_t start_real_us;
    uint32_t msgsize, maxmsg;
    uint32_t clients; /* client processes: ids n+1 .. n+clients (0..DL_MAX_CLIENTS) */
    uint32_t procs;   /* n + clients: every process id is 0..procs */
    char name[64];
    char algorithm[32];
    char rundir[1024];
    struct shm_params params;
    _Atomic int32_t phase;
    struct shm_resource res;
    /* Network faults (set by the supervisor only): cut[a][b] != 0 drops
     * messages from a to b at b; link[a][b] has the loss, delay and jitter
     * of that link. net_version is incremented after every change. Row and
     * column 0 (the supervisor's links) are never faulty. */
    _Atomic uint8_t cut[DL_MAX_NODES + 1][DL_MAX_NODES + 1];
    struct shm_link link[DL_MAX_NODES + 1][DL_MAX_NODES + 1];
    _Atomic uint64_t net_version;
    struct shm_cmd cmd;
    /* [0] is the supervisor, [1..n] the nodes, [n+1..procs] the clients. */
    struct shm_node node[DL_MAX_PROCS + 1];
    uint64_t bulk_offset;                   /* from the segment's start */
    uint64_t size;                          /* whole segment */
};

#define SHM_PREFIX_SAME(f) \
    (offsetof(struct shm_run, f) == offsetof(struct shm_prefix, f) && \
     sizeof(((struct shm_run *)0)->f) == sizeof(((struct shm_prefix *)0)->f))
_Static_assert(offsetof(struct shm_run, prefix) == 0 && SHM_PREFIX_SAME(magic) &&
                   SHM_PREFIX_SAME(version) && SHM_PREFIX_SAME(run_id) && SHM_PREFIX_SAME(n) &&
                   SHM_PREFIX_SAME(launcher_pid) && SHM_PREFIX_SAME(reserved) &&
                   SHM_PREFIX_SAME(launcher_start),
               "struct shm_run must start with struct shm_prefix");
#undef SHM_PREFIX_SAME

struct shm_handle {
    struct shm_run *run;
    size_t size;
    char name[64]; /* "/distlab.<runid>" */
};

/* Format the segment / queue names of a run. */
void shm_name(char *buf, size_t cap, uint32_t run_id);

/* Launcher: create the segment (O_EXCL, 0600) sized for n nodes, every page
 * reserved (posix_fallocate): too little room in /dev/shm is an error here,
 * naming /dev/shm and the size needed, never a SIGBUS later. */
int shm_create(struct shm_handle *h, uint32_t run_id, int n, char *errbuf);
/* The same with client processes (0..DL_MAX_CLIENTS): their slots and bulk
 * areas follow the nodes'. */
int shm_create_clients(struct shm_handle *h, uint32_t run_id, int n, int clients,
                       char *errbuf);
/* Nodes and tools: map an existing segment by name ("/distlab.x" or "x").
 * Only a segment owned by the calling user with mode 0600 (-EPERM
 * otherwise), of this build's version and size (-EPROTO otherwise). */
int shm_attach(struct shm_handle *h, const char *name, bool writable, char *errbuf);
void shm_detach(struct shm_handle *h);
int shm_unlink_run(uint32_t run_id);

/* The bulk slot `slot` of sender `from` (0..procs). */
struct shm_bulk_slot *shm_bulk(struct shm_run *r, int from, int slot);

/* Runs present in /dev/shm. Fills ids (up to cap); returns the count. */
int shm_list_runs(uint32_t *ids, int cap);
/* Is this run's launcher still alive (same pid and start time)? */
bool shm_run_alive(const struct shm_run *r);

/* Read the layout-stable prefix of run_id's segment, whatever its version,
 * without mapping it. Returns 1 when it has SHM_MAGIC (*p filled), 0 when
 * it has not (too short, or not written yet), or -errno when it cannot be
 * opened (ENOENT: gone; EACCES: another user's). st_mtime and st_uid of the
 * segment go to *mtime and *uid when those are not NULL. */
int shm_read_prefix(uint32_t run_id, struct shm_prefix *p, int64_t *mtime, uint32_t *uid);

/* The node that holds `role` now, among nodes UP or PAUSED: an UP node
 * before a PAUSED one (a paused holder has usually been replaced), then the
 * highest term (a newer coordinator epoch or holder), then the lowest id.
 * Clients hold no role. 0 if none. */
int shm_find_role(const struct shm_run *r, int role);
/* The same for a Raft leader (role: ROLE_LEADER): the highest term first,
 * then UP before PAUSED, then the lowest id. An old leader cut off from
 * the majority, or paused, still believes it leads, but a term has at most
 * one leader and a later term's supersedes every earlier one. */
int shm_find_leader(const struct shm_run *r, int role);

/* The critical resource, called by the node runtime (see enum
 * shm_res_result). enter reads the counter into *read_counter (0 when
 * refused); exit writes read_counter + 1 back unless fencing refuses it
 * (RES_FENCED). exit returns RES_VIOLATION, without counting it, when the
 * node was displaced by an overlap (already counted at that entry): its
 * write still goes through, so the lost update shows in the counter. */
int shm_resource_enter(struct shm_run *r, int node, int64_t gen, bool fencing,
                       int64_t *read_counter);
int shm_resource_exit(struct shm_run *r, int node, int64_t gen, bool fencing,
                      int64_t read_counter);
/* What enter / exit would return if called now, without changing anything,
 * so a caller can trace the outcome before acting. RES_FENCED is certain
 * (the fenced generation never decreases); the others may change before
 * the caller acts (the caller corrects its record). */
int shm_resource_predict_enter(const struct shm_run *r, int node, int64_t gen, bool fencing);
int shm_resource_predict_exit(const struct shm_run *r, int node, int64_t gen, bool fencing);
/* The node died (called by the supervisor when it reaps it). If it still
 * holds the resource, its lease ends here. The trace is the resource's
 * write-ahead log: a node records its exit (with the value it writes)
 * before the write, so if the dead holder's last trace record is an exit
 * whose write never happened, the write is completed now (counted in
 * `recovered`). A SIGKILL at any point of entry or exit thus leaves the
 * trace and the resource in agreement. */
void shm_resource_drop(struct shm_run *r, int node);

#endif
