/* A deterministic in-process cluster: the simulator.
 *
 * N algorithm cores, a virtual clock and an in-memory network that delays,
 * jitters (so reorders), drops and partitions messages, and crashes,
 * restarts, pauses and resumes nodes. One event per step, in (time, seq)
 * order from a heap; every random choice comes from one seeded PRNG, so a
 * seed replays the same schedule exactly. After every step the safety
 * invariant is checked: at most one node in the critical section, counting
 * only entries the resource accepted (with fencing, a stale generation is
 * refused or superseded; see sim_resource). At the end, liveness: every
 * request of a node that stayed up was granted.
 *
 * The simulator emits the same trace records as a real run (ipc/trace.h),
 * so `distlab sim --seed S --out DIR` writes a run directory that report,
 * check and trace read like any other.
 *
 * It is shaped for Raft too: nodes can be given restored persistent state
 * at restart (algo_env.restored, from ACT_PERSIST), and client commands
 * are events like CS requests. */
#ifndef DL_NODES_SIM_H
#define DL_NODES_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/trace.h" /* the record format only: no I/O here */
#include "nodes/algo.h"

#define SIM_MAX_FAULTS 256

enum sim_fault_kind {
    SIM_CRASH = 1, /* volatile state lost; messages to it are lost while down */
    SIM_RESTART,   /* a crashed node starts again (incarnation + 1) */
    SIM_PAUSE,     /* stops processing; its events wait (SIGSTOP) */
    SIM_RESUME,    /* processes what waited, in order (SIGCONT) */
    SIM_PARTITION, /* group[] gives each node a side; cross-side messages drop */
    SIM_HEAL,      /* one side again */
};

struct sim_fault {
    int64_t at_us;
    int kind;
    int node;                          /* CRASH..RESUME; 0: by role */
    int role;                          /* node 0: whoever holds this role then
                                          (ops->inspect), e.g. ROLE_COORDINATOR */
    uint8_t group[ALGO_MAX_NODES + 1]; /* PARTITION: side of each node */
    int label;                         /* recorded as the fault record's aux */
    int number;                        /* recorded as the fault record's a */
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
    /* Network: a message takes delay + uniform[0, jitter] and is lost with
     * probability loss. Without fifo, jitter reorders messages. */
    int64_t delay_us, jitter_us;
    double loss;
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
};

struct sim_result {
    bool safe;            /* never two accepted holders of the CS at once */
    bool live;            /* every request of a node that stayed up was granted */
    bool completed;       /* the workload finished before max_time */
    char violation[256];  /* the first safety or liveness problem, or "" */
    int64_t end_us;
    uint64_t steps;
    uint64_t cs_entries;  /* accepted entries */
    uint64_t fenced;      /* entries or writes refused for an old generation */
    uint64_t messages;    /* algorithm messages sent */
    uint64_t dropped;     /* lost to loss, partitions or crashed receivers */
    uint64_t requests;
    uint64_t pending;     /* requests never granted (of nodes that stayed up) */
    uint64_t crashes, restarts;
    int64_t counter;      /* the resource's counter: must equal accepted exits */
    uint64_t exits;
    int max_valid_tokens; /* for token algorithms (ops->inspect): must be <= 1 */
};

/* Run one schedule. Returns 0, or a negative code for a bad configuration
 * (the result's violation says what). */
int sim_run(const struct sim_config *cfg, struct sim_result *res);

/* Copy in every default: fifo off, no faults, max_time 60 s, max_steps 10M. */
void sim_config_defaults(struct sim_config *cfg);

#endif
