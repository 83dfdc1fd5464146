/* Experiment configuration: INI files (inih), --set overrides, validation.
 *
 * Every error names where the bad value came from ("conf/x.ini:12: ..." or
 * "--set workload.cs_time=...: ...") and what was expected. Nothing is
 * started on an invalid configuration. The keys are a contract (DESIGN.md
 * "Configuration"). */
#ifndef DL_SRC_CONFIG_H
#define DL_SRC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_FAULTS 64
#define CONFIG_MAX_NODES 128
#define CONFIG_ERRLEN 4096
/* The keys of [cluster] .. [centralized], and of a [fault.N] (at, action,
 * target): the sizes of the origin arrays below. */
#define CONFIG_NKEYS 46
#define CONFIG_LIST_LEN 160
/* The sections a file may have, as error messages list them. */
#define CONFIG_SECTIONS                                                                    \
    "cluster, workload, raft, network, supervisor, centralized, token_ring, "               \
    "two_level_ring, resource, ricart_agrawala, trace, fault.N"
#define CONFIG_FAULT_KEYS 9 /* at, action, target, every, count, for, loss, delay, jitter */
/* Occurrences of all faults together, repetitions and undos included. */
#define CONFIG_MAX_OCCURRENCES 100000

/* Bounds of the values (README, "Experiments"). Every time ends up added to
 * a clock (a deadline, a restart time, a derived token timeout), so none may
 * come near 2^63 microseconds: */
#define CONFIG_MAX_RUN_US       (INT64_C(24) * 3600 * 1000000) /* duration, fault at: 1 day */
#define CONFIG_MAX_TIME_US      (INT64_C(3600) * 1000000)      /* every other time: 1 hour */
#define CONFIG_MAX_REQUESTS     1000000000                     /* [workload] requests per node */
#define CONFIG_MAX_RATE         1000000                        /* [workload] rate, per second */
#define CONFIG_MAX_CLOCK        1000000000                     /* [ricart_agrawala] initial_clock */
#define CONFIG_MAX_LOCAL_ROUNDS 1000                           /* [two_level_ring] local_rounds */
/* Raft. A timeout below a few milliseconds only measures the machine's
 * scheduler (a node preempted for 5 ms on a loaded 2-core machine would
 * lose its leadership every time), and one above a minute makes a run
 * that never elects anyone within its duration. */
#define CONFIG_MIN_ELECTION_US  (INT64_C(5) * 1000)            /* election_timeout_min/max: 5ms */
#define CONFIG_MIN_HEARTBEAT_US (INT64_C(1) * 1000)            /* heartbeat: 1ms */
#define CONFIG_MAX_RAFT_TIME_US (INT64_C(60) * 1000000)        /* [raft] times, client_timeout */
#define CONFIG_MAX_INFLIGHT     1024                           /* [raft] max_inflight */
#define CONFIG_MAX_PIPELINE     64                             /* [workload] pipeline (RAFT_WINDOW_MAX) */
#define CONFIG_MAX_CLIENTS      64                             /* [workload] clients (DL_MAX_CLIENTS) */
/* A configuration file is a regular file of at most this many bytes. */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)

/* Where a value came from, as kept in the origin arrays: a value > 0 is a
 * line of the file in config.path. Cross-key errors name it ("FILE:LINE" or
 * "--set section.key=value"), so they survive copying the struct. */
enum config_origin {
    CONFIG_ORIGIN_SET = -1,    /* config_set */
    CONFIG_ORIGIN_DEFAULT = 0, /* never given */
};

enum fault_action {
    FAULT_ACTION_NONE = -1, /* not given yet */
    FAULT_KILL = 0, /* SIGKILL */
    FAULT_PAUSE,    /* SIGSTOP */
    FAULT_RESUME,   /* SIGCONT */
    FAULT_TERMINATE,/* SIGTERM */
    FAULT_RESTART,  /* SIGKILL, then start again at once */
    FAULT_PARTITION,
    FAULT_HEAL,
    FAULT_NET,      /* change loss / delay / jitter on all links or some */
    FAULT_ACTION_COUNT
};
const char *fault_action_name(int action);

enum fault_target {
    TARGET_NONE = -1,   /* not given (heal needs none) */
    TARGET_NODE = 0,    /* target_node */
    TARGET_COORDINATOR, /* whoever holds the coordinator role then; for a
                           partition (with action partition, also "ROLE+K"):
                           that node, with K others, cut off from the rest */
    TARGET_LEADER,
    TARGET_TOKEN_HOLDER,
    TARGET_RANDOM,      /* drawn from the run's seed */
    TARGET_GROUPS,      /* a partition spec: "1,2/3,4,5", "1->3" (src/netspec.h) */
    TARGET_LINKS,       /* net: a link list, "all" or "1->3,2<->4" (src/netspec.h) */
};

/* Until a key of a fault is given: at_us -1, action FAULT_ACTION_NONE,
 * target TARGET_NONE. */
struct fault_spec {
    int64_t at_us;
    int action;      /* enum fault_action */
    int target;      /* enum fault_target */
    int target_node; /* TARGET_NODE */
    /* A partition by role (target = leader, or leader+K): the holder of
     * the role then, with K more nodes (the lowest other ids), on one side
     * and every other node on the other. 0 for the holder alone. */
    int with;
    char target_text[256];
    int num;         /* the N of [fault.N] or --set fault.N.key; 0 for one
                        built by hand, which counts as fault i+1 */
    int line;        /* where the section started, for messages; 0 if none */
    int origin[CONFIG_FAULT_KEYS]; /* at, action, target, every, count, for,
                                      loss, delay, jitter: enum config_origin
                                      or a line of config.path */
    /* Repetition (a nemesis schedule): with every_us > 0 the action happens
     * at at, at + every, at + 2 every, ... count times (count 0: until the
     * run ends). count without every is an error; every alone repeats until
     * the end. */
    int64_t every_us;
    int count;
    /* for_us > 0: each occurrence is undone this long after it (pause ->
     * resume of the node it paused, partition -> those links restored, net
     * -> the links' previous settings). Only for pause, partition and net;
     * shorter than every when both are given. */
    int64_t for_us;
    /* net: what it sets (netspec.h struct net_params semantics); target is
     * TARGET_LINKS (target_text "all" when not given). */
    bool has_loss, has_delay, has_jitter;
    double loss;
    int64_t delay_us, jitter_us;
};

enum restart_policy { RESTART_NEVER = 0, RESTART_ON_CRASH };

struct config {
    char path[1024]; /* the file it was read from */
    /* [cluster] */
    char name[64];
    int nodes;
    char algorithm[32];
    int64_t duration_us;
    uint64_t seed;   /* 0..INT64_MAX, so it is itself as a signed 64-bit (JSON) */
    /* [workload] */
    int requests;     /* mutex: per node; raft: in total, shared among the clients */
    int64_t cs_time_us;
    int64_t think_time_us;
    double rate;      /* raft: commands per second per client (0: as fast as answered) */
    /* raft: client processes (ids nodes+1 .. nodes+clients). Default: 1 for
     * raft (config_validate sets it when not given); mutex algorithms have
     * none (their nodes make their own requests), and setting it above 0
     * for one is an error. */
    int clients;
    int64_t client_timeout_us; /* raft: a client gives up on a command after this (0: default) */
    /* raft, the key-value workload: keys k1..k<keys>; the op mix as
     * "get:50,put:30,append:10,cas:10" (weights, parsed by
     * config_parse_mix); each value written is "c<K>-<op>" padded with '.'
     * to value_size bytes when that is longer. */
    int keys;
    char mix[CONFIG_LIST_LEN];
    int value_size;
    /* raft: operations each client keeps in flight (1: a sequential
     * client; at most CONFIG_MAX_PIPELINE). */
    int pipeline;
    /* [raft] */
    int64_t election_timeout_min_us;
    int64_t election_timeout_max_us;
    int64_t heartbeat_us;
    bool fsync;
    bool prevote;          /* Pre-Vote (Raft thesis 9.6): off */
    bool check_quorum;     /* a leader steps down without a majority's answers: off */
    bool local_reads;      /* a leader answers gets from its own state, unchecked: off */
    int snapshot_entries;  /* compact the log after this many entries (0: the core's default) */
    int max_inflight;      /* AppendEntries in flight per follower (0: the core's default) */
    /* [network] */
    int64_t delay_us;
    int64_t jitter_us;
    double loss;
    /* [supervisor] */
    int restart; /* enum restart_policy */
    int64_t restart_delay_us;
    /* [centralized] */
    int coordinator;
    bool coordinator_competes;
    int64_t election_timeout_us; /* Bully: wait this long for an answer */
    /* [cluster] failure detector: a peer silent this long is down */
    int64_t failure_timeout_us; /* at least 5ms: checked every max(timeout/4, 1ms) */
    /* [token_ring] */
    int64_t ring_token_timeout_us; /* 0: derived */
    int64_t ring_idle_hold_us;     /* a holder that does not want the CS waits this long */
    /* [two_level_ring] */
    int groups;
    int local_rounds;
    int64_t two_level_token_timeout_us; /* 0: derived */
    int64_t two_level_idle_hold_us;
    char members[CONFIG_LIST_LEN]; /* "1,2,3/4,5,6", or "" to split by groups */
    /* [resource] the critical resource refuses stale generations */
    bool fencing;
    /* [cluster] retransmit: each mutex algorithm re-sends a request or a
     * token whose answer did not come in time, and recognises duplicates,
     * so it recovers from messages lost to a partition or to loss. */
    bool retransmit;
    /* [workload] requesters: "all" or the nodes that request ("1,3") */
    char requesters[CONFIG_LIST_LEN];
    /* [ricart_agrawala] initial_clock: "1:7, 3:11" (Lamport clocks at start) */
    char initial_clock[CONFIG_LIST_LEN];
    /* [trace] max_size: the most bytes one process's trace file holds; past
     * it the file is a ring that keeps the newest records */
    int64_t trace_max_size;
    /* [trace] record: the classes of events traced (TRACE_CLASS_ bits,
     * ipc/trace.h), "all" (the default) or a comma list of messages (send,
     * recv), cs (request, enter, exit), log (commit, apply, truncate),
     * clients (invoke, result, ok, fail, timeout). Roles, drops, faults, links,
     * peers up and down and the processes' lifecycle are always recorded.
     * What is left out cannot be judged: the report names each property
     * and figure it could not check, and a safety property that needs an
     * omitted class makes the verdict "cannot verify".
     *
     * What a trace costs (64-byte records; report.json trace_bytes_per_op).
     * Raft, 5 nodes, 4 key-value clients at rate 0, fsync off, 40,000
     * commands: all about 2,050 bytes per committed command (19 send/recv
     * records, 1,230 bytes; 5 applies, 320; 2.9 commits, 185; invoke,
     * result and ok, 192; the commands and answers in the data files,
     * 123), log,clients about 825. At the 6,500-7,500 commands a second
     * this reaches, ten minutes is about 8.5 GB with all and 3.7 GB with
     * log,clients; at 20,000 a second, 25 GB and 10 GB. Mutex, centralized
     * on 5 nodes with no CS or think time: all 576 bytes per CS entry (9
     * records), cs 192 (3); at 20,000 entries a second, ten minutes is 7 GB
     * and 2.3 GB. max_size bounds each file whatever the rate (a ring of
     * the newest records; the report names what it lost). */
    unsigned trace_record;
    /* [fault.N], in order of `at` (stable for equal times) */
    struct fault_spec faults[CONFIG_MAX_FAULTS];
    int nfaults;
    /* Where each key above came from (enum config_origin or a line of
     * path), in the order of config.c's key table. Plain data: a copy of
     * the struct keeps it. */
    int origin[CONFIG_NKEYS];
};

/* Fill in every default (see DESIGN.md); name "distlab", 5 nodes,
 * centralized, duration 30s, seed 1, requests 100, cs_time 5ms,
 * think_time 20ms, restart never, restart_delay 500ms, coordinator 1.
 * Every origin is CONFIG_ORIGIN_DEFAULT; no faults. */
void config_defaults(struct config *c);

/* The three functions below write every problem found into err
 * (CONFIG_ERRLEN bytes, or NULL), one per line, each naming where the value
 * came from ("FILE:LINE: [section] key: what was expected, got 'value'" or
 * "--set section.key=value: ..."), and "" if there is none. They return 0 on
 * success, else a negative errno-style code. */

/* Parse path over the defaults. Returns -EINVAL if the file has any error,
 * or -errno (-ENOENT, -EACCES, -EISDIR, -ENOMEM, ...) if it cannot be read
 * to the end. */
int config_load(struct config *c, const char *path, char *err);

/* Apply one "section.key=value" override (after config_load); a key may be
 * overridden any number of times. Returns -EINVAL if the assignment is
 * invalid, -ENOMEM if out of memory. */
int config_set(struct config *c, const char *assignment, char *err);

/* Cross-key checks, after loading and overrides: coordinator <= nodes, a
 * fault's node target <= nodes, a target that fits the algorithm, a fault
 * inside the duration, election_timeout_min <= max, that some node requests
 * the critical section when requests > 0, features this version does not
 * have yet (named as such). A two_level_ring whose groups was never given
 * and exceeds nodes gets groups = nodes. Returns -EINVAL if any fails; if
 * none does, sorts the faults by time (stably). */
int config_validate(struct config *c, char *err);

/* What the configuration is validated for: a real run or the simulator.
 * Both take [network] settings and network faults; the distinction stays
 * for a feature only one of them has. */
enum config_target { CONFIG_FOR_RUN = 0, CONFIG_FOR_SIM };
int config_validate_for(struct config *c, int target, char *err);

/* The whole command-line path: config_load(path), then each of sets[0..nsets)
 * as config_set, then seed (may be NULL; --seed S) as [cluster] seed, then
 * config_validate_for(target). A stage runs only if the ones before found
 * no error (every --set is tried, so all bad ones are reported). Returns 0,
 * or a negative errno-style code with err (CONFIG_ERRLEN bytes, or NULL)
 * filled as above; a bad seed reads "--seed S: [cluster] seed: ...". */
int config_load_with_sets(struct config *c, const char *path, const char *const *sets,
                          int nsets, const char *seed, int target, char *err);

/* One occurrence of a scheduled fault (see config_fault_timeline). */
struct fault_occ {
    int64_t at_us;  /* after the workload started */
    int32_t index;  /* into config.faults */
    int32_t rep;    /* 1 for the first occurrence, 2 for the second, ... */
    bool undo;      /* the automatic undo of occurrence rep (the fault's for) */
};

/* Every occurrence of c's schedule before the run's end (duration), in
 * time order; at equal times an undo comes before a do, then by fault
 * order. Writes at most cap into out (out may be NULL with cap 0); returns
 * how many there are in all (more than cap: the caller's array was too
 * small; past CONFIG_MAX_OCCURRENCES it stops counting and returns some
 * number above it), or -EINVAL for a fault with a negative at, every, for
 * or count. Validation bounds the total at
 * CONFIG_MAX_OCCURRENCES. */
int config_fault_timeline(const struct config *c, struct fault_occ *out, int cap);

/* "1,2/3,4,5" -> group_of[k] (1-based groups; nodes not listed each get a
 * group of their own). Returns 0, or -EINVAL if malformed, a node is out
 * of 1..n or listed twice, or fewer than two groups are given. */
int config_parse_groups(const char *text, int n, uint8_t *group_of);

/* "1,2,3/4,5,6" -> group_of[1..n] (1-based); with all, every node of 1..n
 * must be listed. Returns the number of groups, or -EINVAL. */
int config_parse_members(const char *text, int n, uint8_t *group_of, bool all);

/* "all" or "1,3,5" -> in[1..n]; -EINVAL if malformed or out of 1..n. */
int config_node_list(const char *text, int n, bool *in);
/* "1:7, 3:11" -> vals[1..n] (0 where not given); -EINVAL if malformed. */
int config_node_values(const char *text, int n, int64_t *vals);
/* "get:50,put:30,append:10,cas:10" (any of the four, each at most once,
 * weights 0..1000000, at least one above 0) into weights[KV_PUT..KV_CAS]
 * (weights[0] unused). 0, or -EINVAL. */
int config_parse_mix(const char *text, int weights[5]);

/* How long a mutex algorithm with [cluster] retransmit waits for an answer
 * before it sends again: the failure timeout, or more on a slow network
 * (twice [network] delay + jitter, plus 10 ms). */
int64_t config_retransmit_timeout(const struct config *c);

/* Token parameters of the configured algorithm (a ring or a two-level ring). */
int64_t config_token_timeout(const struct config *c);
int64_t config_idle_hold(const struct config *c);

/* The resolved configuration as INI text (malloc'd), as written to
 * RUNDIR/config.ini; loading it again gives the same configuration. Each
 * section once: cluster, workload, centralized, ricart_agrawala, token_ring,
 * two_level_ring, resource, raft, network, supervisor, then the faults. The
 * running ring's token_timeout of 0 carries "; derived: VALUE for this run". */
char *config_to_ini(const struct config *c);

/* Every algorithm parameter of a validated configuration into an
 * algorithm environment (env zeroed first): n, seed, the per-algorithm
 * parameters, Raft's (raft_*, clients, client_timeout_us). The driver sets
 * what is its own: id, incarnation, the node's seed, staged_start,
 * restored/stored, mem, max_inline. The one place a configuration turns
 * into an environment, for the simulator and the launcher alike. */
struct algo_env;
void config_algo_env(const struct config *c, struct algo_env *env);

/* "150ms", "2s", "1.5s", "250us", "1min", "0" -> microseconds. -1 if bad. */
int config_parse_duration(const char *s, int64_t *us);

#endif
