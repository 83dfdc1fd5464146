/* The node runtime's insides, shared by its files (not part of its API):
 *
 *   runtime.c          set-up, the loop, the core's actions, timers,
 *                      control messages, the log and the SIGUSR1 dump
 *   fd_runtime.c       the failure detector (heartbeat stamps)
 *   mutex_runtime.c    the mutex workload and the critical resource
 *   persist_runtime.c  persistent state (ACT_PERSIST)
 *   storage_runtime.c  typed storage (a replicated log): recovery, the
 *                      storage actions, group commit at the end of a turn
 *   client_runtime.c   the client workload (Raft's clients) and the
 *                      servers' workload, which has nothing to do
 *
 * A workload (what the node does for its application: request the CS,
 * later submit Raft commands) sits behind struct rt_workload, so another
 * one is added beside the mutex one without touching it. */
#ifndef DL_NODES_RUNTIME_INT_H
#define DL_NODES_RUNTIME_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/loop.h"
#include "ipc/shm.h"
#include "ipc/trace.h"
#include "ipc/transport.h"
#include "ipc/wire.h"
#include "nodes/algo.h"
#include "nodes/runtime.h"

/* Timer slots, in the order a turn serves those that are due: the core's
 * (ids 0..ALGO_MAX_TIMERS-1), the workload's, the failure detector's. */
#define RT_WL_TIMERS 4 /* timers a workload may use */
#define RT_TIMER_WL ALGO_MAX_TIMERS
#define RT_TIMER_FD (RT_TIMER_WL + RT_WL_TIMERS) /* failure detector tick */
/* The runtime's own deferred work: send failures the transport reported
 * outside a step, storage actions written by a turn's last step. */
#define RT_TIMER_RT (RT_TIMER_FD + 1)
#define RT_NTIMERS (RT_TIMER_RT + 1)

/* Send failures waiting to reach the core (EV_SEND_FAILED). A step's sends
 * fail at most once each, so this holds a broadcast's worth many times
 * over; what does not fit is counted and said in the log. */
#define RT_FAILQ 256
/* Send failures delivered in one go after a step; the rest wait for the
 * runtime's timer (due at once), so a core that retries at once and fails
 * again cannot keep the node from its loop. */
#define RT_FAIL_BATCH 64
/* Messages a node with storage takes from its queue in one turn: the
 * steps of one turn share one sync (group commit). */
#define RT_STORAGE_RECV_BATCH 16
/* Storage preallocation step (see ipc/storage.h). */
#define RT_STORAGE_PREALLOC (1u << 20)

struct node;
struct storage;

/* A workload. Every hook is called between core steps, never inside one;
 * a hook may step the core (rt_step). */
struct rt_workload {
    const char *name;
    /* After the core's init: read its parameters, allocate nd->work. */
    int (*init)(struct node *nd, char *err);
    void (*fini)(struct node *nd); /* frees nd->work; may run after a failed init */
    /* Every node of the run is up (or this node restarted into a run
     * under way): begin. Called once per life. */
    void (*cluster_up)(struct node *nd);
    /* Workload timer `slot` (0..RT_WL_TIMERS-1, deadline[RT_TIMER_WL + slot])
     * is due. */
    void (*timer)(struct node *nd, int slot);
    /* The core's ACT_ENTER_CS (NULL: a workload without a critical
     * section, for which the action is a bug). */
    void (*enter_cs)(struct node *nd, int64_t key, int64_t gen);
    /* Deferred work, run after each step's actions and before the timers
     * are re-armed (a step never runs inside another's actions). Bounded. */
    void (*settle)(struct node *nd);
    /* SIGTERM: wind down before the loop stops (leave the CS). */
    void (*stop)(struct node *nd);
    /* The core's ACT_CLIENT (already traced); NULL: not a client. */
    void (*client_outcome)(struct node *nd, const struct algo_action *a);
    /* For the SIGUSR1 dump: the workload's state in a few words. */
    void (*describe)(const struct node *nd, char *buf, size_t cap);
};

extern const struct rt_workload rt_workload_mutex;
extern const struct rt_workload rt_workload_client; /* a client process */
extern const struct rt_workload rt_workload_server; /* a replicated log's server */
extern const struct rt_workload rt_workload_interactive; /* `distlab client` */

struct node {
    struct runtime_args args;
    struct shm_handle shm;
    struct shm_run *run;
    struct shm_node *me;
    const struct algo_ops *ops;
    void *core;
    struct algo_env env;
    struct algo_actions acts;
    struct loop loop;
    struct transport tp;
    struct trace_writer tr;
    int timerfd, sigfd;
    struct loop_watch w_inbox, w_timer, w_sig;
    int64_t deadline[RT_NTIMERS]; /* run-relative us; 0 = disarmed */
    int64_t armed_at;             /* what the timerfd is armed for */
    /* The workload and its state (owned by the workload). */
    const struct rt_workload *wl;
    void *work;
    /* Failure detector: what we last saw of each peer's heartbeat stamp. */
    int64_t fd_period, fd_timeout;
    int64_t fd_stamp[DL_MAX_PROCS + 1];
    int64_t fd_seen[DL_MAX_PROCS + 1];
    int32_t fd_inc[DL_MAX_PROCS + 1];
    bool fd_down[DL_MAX_PROCS + 1];
    bool malformed_logged[WIRE_ERR_COUNT];
    bool fatal; /* persistence failed: stop */
    bool drop_logged[8]; /* send-side drop reasons already said in the log */
    bool no_storage_logged; /* a storage action without storage (a bug) */
    uint64_t bad_timers; /* core timer actions with an id out of range (a bug) */
    char *restored; /* persistent state read at start (env.restored) */
    size_t restored_len;
    bool in_step; /* inside rt_step: a send failure waits for its end */
    bool delivering; /* rt_step is delivering send failures */
    /* Send failures not yet delivered to the core (a ring). */
    struct algo_msg failq[RT_FAILQ];
    int failq_head, failq_n;
    uint64_t failq_lost;
    /* Typed storage (NULL for an algorithm without it). */
    struct storage *st;
    bool st_fsync;
    bool st_urgent;      /* written since the last sync: something not lazy */
    int64_t st_lazy_due; /* lazy writes only: synced by then (0: none pending) */
    struct algo_stored stored; /* env.stored at a restart */
    uint64_t st_syncs;         /* group commits made */
    /* Sends held for the end of the turn's sync (after_sync): encoded
     * wire headers, each followed by its payload padded to 8 bytes. A
     * buffer reused turn after turn (it grows, never per message). */
    uint8_t *held;
    size_t held_len, held_cap;
    uint32_t held_n;
};

/* Client processes of the run (ids n+1 .. n+clients). */
static inline int rt_run_clients(const struct shm_run *r)
{
    return r->clients <= DL_MAX_CLIENTS ? (int)r->clients : 0;
}

/* runtime.c */
static inline int64_t rt_now(const struct node *nd) { return trace_now(&nd->tr); }
struct trace_rec *rt_trace(struct node *nd, int ev, int peer, int type, int64_t key, int aux,
                           int64_t a);
/* A message's send or receive: its key field f[0] and f[1] (in b), a the
 * send time of a receive. */
struct trace_rec *rt_trace_msg(struct node *nd, int ev, int peer, int type, const int64_t *f,
                               int64_t a);
void rt_send_runtime(struct node *nd, int to, uint16_t type, int64_t f0);
/* Step the core with ev and apply its actions. */
void rt_step(struct node *nd, const struct algo_event *ev);
/* The core's EV_CLUSTER_UP. */
void rt_cluster_up(struct node *nd);
/* Serve every timer due at now (the failure detector's first), then
 * re-arm. */
void rt_fire_timers(struct node *nd, int64_t now);
/* The end of a loop turn: the storage's group commit (one sync, then the
 * held sends, then EV_PERSISTED), then send failures left over. */
void rt_end_turn(struct node *nd);
/* Send a message (traced first); after_sync holds it while storage writes
 * are waiting for their sync. */
void rt_send(struct node *nd, const struct algo_msg *m, bool after_sync);
/* The transport could not make this node's send of h: queue it for the
 * core (EV_SEND_FAILED, after the current step). */
void rt_send_failed(struct node *nd, const struct wire_hdr *h);

/* fd_runtime.c: the failure detector. */
void rt_fd_init(struct node *nd);
void rt_fd_tick(struct node *nd);
void rt_fd_new_incarnation(struct node *nd, int k, int32_t inc);
/* A message from k: if k is a new incarnation we have not noticed yet, its
 * previous life is reported down and the new one up *before* the message
 * is handled, so the core never confuses the two lives (a grant to the new
 * one revoked by a late "down" of the old one). One atomic load per
 * message. */
static inline void rt_fd_check_incarnation(struct node *nd, int k)
{
    int32_t inc = atomic_load_explicit(&nd->run->node[k].incarnation, memory_order_relaxed);
    if (inc != nd->fd_inc[k])
        rt_fd_new_incarnation(nd, k, inc);
}

/* persist_runtime.c: persistent state. */
/* Read what an earlier life persisted, if anything, into nd->restored. */
int rt_persist_load(struct node *nd, char *err);
/* Make data the node's persistent state; < 0 (said in the log) if not. */
int rt_persist(struct node *nd, const void *data, uint32_t len);

/* storage_runtime.c: typed storage. */
/* Does this algorithm keep typed storage? */
bool rt_storage_wanted(const struct algo_ops *ops);
/* Open RUNDIR/storage/n<K>.log and recover it (what recovery dropped is
 * said in the log); nd->env.stored is set when anything survived. */
int rt_storage_open(struct node *nd, char *err);
/* What survived in storage for the core (env.stored), NULL when nothing
 * did (a first start) or the node keeps no storage. */
const struct algo_stored *rt_storage_stored(struct node *nd);
/* Open an explicit path (for tests). */
int rt_storage_open_path(struct node *nd, const char *path, bool fsync, char *err);
void rt_storage_close(struct node *nd);
/* Apply one storage action; < 0 (said in the log) when it failed, and the
 * node must stop. */
int rt_storage_apply(struct node *nd, const struct algo_action *a);
/* Group commit: if anything was written since the last one, one sync,
 * then the held sends, then EV_PERSISTED. < 0 when the sync failed (said in
 * the log; the node must stop). */
int rt_storage_commit(struct node *nd);
/* Hold a send for the next group commit. false: no room (said in the
 * log; the caller fails the send). */
bool rt_held_push(struct node *nd, const struct wire_hdr *h, const void *payload);
/* Send every held message, in order. */
void rt_held_flush(struct node *nd);

/* This client's share of `requests` commands over `clients` clients
 * (client k of 1..clients). */
int64_t rt_client_share(int64_t requests, int clients, int k);
#endif
