/* The node runtime's insides, shared by its files (not part of its API):
 *
 *   runtime.c          set-up, the loop, the core's actions, timers,
 *                      control messages, the log and the SIGUSR1 dump
 *   fd_runtime.c       the failure detector (heartbeat stamps)
 *   mutex_runtime.c    the mutex workload and the critical resource
 *   persist_runtime.c  persistent state (ACT_PERSIST)
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
#define RT_NTIMERS (RT_TIMER_FD + 1)

struct node;

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
    /* For the SIGUSR1 dump: the workload's state in a few words. */
    void (*describe)(const struct node *nd, char *buf, size_t cap);
};

extern const struct rt_workload rt_workload_mutex;

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
    int64_t fd_stamp[DL_MAX_NODES + 1];
    int64_t fd_seen[DL_MAX_NODES + 1];
    int32_t fd_inc[DL_MAX_NODES + 1];
    bool fd_down[DL_MAX_NODES + 1];
    bool malformed_logged[WIRE_ERR_COUNT];
    bool fatal; /* persistence failed: stop */
    bool drop_logged[8]; /* send-side drop reasons already said in the log */
    uint64_t bad_timers; /* core timer actions with an id out of range (a bug) */
    char *restored; /* persistent state read at start (env.restored) */
    size_t restored_len;
};

/* runtime.c */
static inline int64_t rt_now(const struct node *nd) { return trace_now(&nd->tr); }
struct trace_rec *rt_trace(struct node *nd, int ev, int peer, int type, int64_t key, int aux,
                           int64_t a);
void rt_send_runtime(struct node *nd, int to, uint16_t type, int64_t f0);
/* Step the core with ev and apply its actions. */
void rt_step(struct node *nd, const struct algo_event *ev);
/* The core's EV_CLUSTER_UP. */
void rt_cluster_up(struct node *nd);
/* Serve every timer due at now (the failure detector's first), then
 * re-arm. */
void rt_fire_timers(struct node *nd, int64_t now);

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

#endif
