/* The node runtime's insides, shared by its files (not part of its API):
 *
 *   runtime.c          set-up, the loop, the core's actions, timers,
 *                      control messages, the log and the SIGUSR1 dump
 *   fd_runtime.c       the failure detector (heartbeat stamps)
 *   mutex_runtime.c    the mutex workload and the critical resource
 *   persist_runtime.c  persistent state (ACT_PERSIST)
 */
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

#define RT_CORE_TIMERS 32 /* timer ids a core may use: 0..31 */
#define RT_TIMER_CS_END RT_CORE_TIMERS
#define RT_TIMER_THINK (RT_CORE_TIMERS + 1)
#define RT_TIMER_FD (RT_CORE_TIMERS + 2) /* failure detector tick */
#define RT_NTIMERS (RT_CORE_TIMERS + 3)

enum wl_state { WL_IDLE = 0, WL_THINKING, WL_WAITING, WL_IN_CS, WL_DONE };

/* Kill points of the entry and the exit of a critical section (see
 * kill_point), numbered in the order the steps run. */
enum kp_phase { KP_NONE = 0, KP_ENTER, KP_EXIT };

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
    /* Workload. */
    bool competes, started, stop_requested;
    enum wl_state wl;
    int64_t requests_left;
    int64_t cs_counter; /* the value read from the resource on entry */
    int64_t cs_key;
    int64_t cs_gen;     /* the fencing generation of this entry, -1 if none */
    bool cs_fenced;     /* the resource refused the entry */
    bool fencing;
    /* Failure detector: what we last saw of each peer's heartbeat stamp. */
    int64_t fd_period, fd_timeout;
    int64_t fd_stamp[DL_MAX_NODES + 1];
    int64_t fd_seen[DL_MAX_NODES + 1];
    int32_t fd_inc[DL_MAX_NODES + 1];
    bool fd_down[DL_MAX_NODES + 1];
    bool release_now, request_now;
    bool malformed_logged[WIRE_ERR_COUNT];
    bool fatal; /* persistence failed: stop */
    bool drop_logged[8]; /* send-side drop reasons already said in the log */
    int64_t cs_seq;      /* critical sections entered by this incarnation */
    struct {
        int phase, step;
        int64_t cs;
    } kill_at; /* DISTLAB_TEST_KILL, phase KP_NONE when unset */
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

/* mutex_runtime.c: the mutex workload. */
void rt_kill_points_init(struct node *nd);
/* The run begins (every node up, or this node restarted into it). */
void rt_workload_start(struct node *nd);
/* The core's ACT_ENTER_CS. */
void rt_enter_cs(struct node *nd, int64_t key, int64_t gen);
/* Leave the critical section. */
void rt_do_release(struct node *nd);
/* The workload's deferred work (release_now, request_now), bounded. */
void rt_workload_settle(struct node *nd);

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
