/* The node runtime: binds one algorithm core to the ipc layer in a node
 * process (`distlab-node K`) or a client process (`distlab-client K`, a
 * replicated log's client core), and runs its workload: the mutex
 * workload, or a client's commands.
 *
 * One loop per node: epoll over its queue, one timerfd (the earliest of the
 * core's timers and the workload's), and a signalfd (SIGTERM: graceful stop,
 * SIGUSR1: dump state to the log, SIGINT ignored so a terminal's ^C reaches
 * only the launcher). Each turn builds an event, calls the core, and applies
 * the actions in a fixed order: trace, then touch the resource / send, then
 * re-arm timers. A replicated log's storage writes of a turn share one sync
 * at its end, before the acknowledgements that wait for it. */
#ifndef DL_NODES_RUNTIME_H
#define DL_NODES_RUNTIME_H

#include <stdint.h>

/* Runtime control messages (range 0x0000-0x00ff), between the supervisor
 * (node 0) and the nodes. */
enum {
    MSG_RT_DONE = 0x0001,      /* node -> supervisor: workload finished (f0: CS done) */
    /* 0x0002-0x0004: retired (the supervisor told nodes of crashes before
     * nodes had a failure detector of their own). */
    MSG_RT_START = 0x0005,     /* supervisor -> node: every node is up, begin */
    MSG_RT_READY = 0x0006,     /* node -> supervisor: in its loop, f0 = incarnation */
};
const char *runtime_msg_name(uint16_t type);

/* One command submitted from a shell (`distlab client`): the process
 * joins the running cluster in an interactive client slot, submits it,
 * and returns when it has its outcome or timed out. */
struct rt_interactive {
    const uint8_t *cmd; /* the command's bytes (kv.h) */
    uint32_t len;
    int64_t timeout_us; /* the client core's timeout */
    int first_server;   /* the server to ask first (the leader the table shows; 0: any) */
    /* The outcome (ALGO_OP_OK, _FAIL, _TIMEOUT; 0: none, the process was
     * stopped), the server that answered, the entry's index and term, the
     * answer, and the time from submission to outcome. */
    int outcome;
    int server;
    int64_t index, term;
    uint8_t answer[4097]; /* KV_MAX_ANSWER */
    uint32_t alen;
    int64_t op;
    int64_t elapsed_us;
};

/* Parameters a node is started with (argv of distlab-node). */
struct runtime_args {
    int id;
    char segment[64]; /* "/distlab.<runid>" */
    int incarnation;
    struct rt_interactive *interactive; /* NULL but for `distlab client` */
};

/* Entry point of a node process: returns the process exit code. */
int runtime_main(const struct runtime_args *args);

/* now + after, saturated at INT64_MAX (a duration near 2^63 means "never",
 * not a deadline in the past); after <= 0 gives now. Every deadline the
 * runtime computes goes through it. */
int64_t runtime_deadline(int64_t now, int64_t after);

/* Parse "distlab-node K SEGMENT INCARNATION" argv. */
int runtime_parse_args(int argc, char **argv, struct runtime_args *out);

#endif
