/* The node runtime's failure detector.
 *
 * Timeout based, like heartbeats: each node stamps the time into its slot of
 * the shared cluster table every fd_period, and believes a peer down when
 * the peer's stamp has not moved for failure_timeout. Why the shared table
 * rather than heartbeat messages: heartbeats over the queues would inflate
 * every message count the report compares with theory, compete for the
 * 10-deep queues, and cost N^2 messages per period at 64 nodes; a stamp
 * carries the same information (the peer's loop ran at time t) for free.
 * It keeps the defining weakness of the real thing: a paused (SIGSTOP) or
 * starved node stops stamping and is declared down just like a dead one.
 * A cut link (simulated partition) hides the peer's stamps, as it would
 * hide its heartbeats - in the cut direction only: with cut[k][j] alone, j
 * hears nothing from k but k still hears j. Loss and delay hide nothing
 * (heartbeats are not messages here; the simulator treats them the same).
 * A new incarnation is a new peer: the old one is
 * reported down (if it was not already) and the new one up. Clients (ids
 * after the nodes) are not watched: their messages are checked against
 * their incarnation only, and no core hears of their lives. */
#include "nodes/runtime_int.h"

static void peer_event(struct node *nd, int k, bool down)
{
    nd->fd_down[k] = down;
    rt_trace(nd, down ? TR_PEER_DOWN : TR_PEER_UP, k, 0, 0, 0, 0);
    struct algo_event ev = {.kind = down ? EV_PEER_DOWN : EV_PEER_UP, .now_us = rt_now(nd),
                            .peer = k};
    rt_step(nd, &ev);
}

void rt_fd_init(struct node *nd)
{
    int64_t now = rt_now(nd);
    nd->fd_timeout = nd->run->params.failure_timeout_us;
    nd->fd_period = nd->fd_timeout / 4 > 1000 ? nd->fd_timeout / 4 : 1000;
    for (int k = 1; k <= nd->env.n; k++) {
        nd->fd_seen[k] = now; /* a grace of one timeout at start */
        nd->fd_stamp[k] = atomic_load(&nd->run->node[k].heartbeat_us);
        nd->fd_inc[k] = atomic_load(&nd->run->node[k].incarnation);
    }
    atomic_store(&nd->me->heartbeat_us, now);
    nd->deadline[RT_TIMER_FD] = runtime_deadline(now, nd->fd_period);
}

/* The slow path of rt_fd_check_incarnation: k is now incarnation inc. */
void rt_fd_new_incarnation(struct node *nd, int k, int32_t inc)
{
    if (k > nd->env.n) {
        /* A client (ids after the nodes): the detector watches nodes only,
         * and a core hears of no client's lives. */
        nd->fd_inc[k] = inc;
        return;
    }
    if (nd->fd_inc[k] != 0 && !nd->fd_down[k])
        peer_event(nd, k, true);
    nd->fd_inc[k] = inc;
    nd->fd_stamp[k] = atomic_load(&nd->run->node[k].heartbeat_us);
    nd->fd_seen[k] = rt_now(nd);
    if (nd->fd_down[k])
        peer_event(nd, k, false);
}

void rt_fd_tick(struct node *nd)
{
    int64_t now = rt_now(nd);
    atomic_store(&nd->me->heartbeat_us, now);
    nd->deadline[RT_TIMER_FD] = runtime_deadline(now, nd->fd_period);
    /* The transport's upkeep rides on the same tick: backlogs of peers that
     * are gone are dropped, a failed EPOLLOUT registration is retried. */
    transport_tick(&nd->tp);
    if (nd->args.interactive && (atomic_load(&nd->run->phase) >= RUN_STOPPING ||
                                 !shm_run_alive(nd->run))) {
        /* A command from a shell in a run that is ending, or whose
         * launcher is gone: nobody will answer it. It stops as on SIGTERM
         * rather than wait out its timeout (up to an hour). */
        nd->wl->stop(nd);
        loop_stop(&nd->loop);
        return;
    }
    if (atomic_load(&nd->run->phase) == RUN_STARTING) {
        /* Peers still starting are slow, not dead: 64 processes (or a
         * sanitizer build) can take longer than a failure timeout to come
         * up. Suspicion starts with the run, one timeout of grace later. */
        for (int k = 1; k <= nd->env.n; k++)
            nd->fd_seen[k] = now;
        return;
    }
    for (int k = 1; k <= nd->env.n; k++) {
        if (k == nd->args.id)
            continue;
        if (atomic_load_explicit(&nd->run->cut[k][nd->args.id], memory_order_relaxed))
            goto check; /* partitioned away: no news from k */
        int32_t inc = atomic_load(&nd->run->node[k].incarnation);
        int64_t stamp = atomic_load(&nd->run->node[k].heartbeat_us);
        if (inc != nd->fd_inc[k] && nd->fd_inc[k] != 0) {
            /* k restarted: its previous life is gone, even if we never
             * noticed it missing. */
            if (!nd->fd_down[k])
                peer_event(nd, k, true);
            nd->fd_stamp[k] = -1;
        }
        nd->fd_inc[k] = inc;
        if (stamp != nd->fd_stamp[k] && stamp > 0) {
            nd->fd_stamp[k] = stamp;
            nd->fd_seen[k] = now;
            if (nd->fd_down[k])
                peer_event(nd, k, false);
            continue;
        }
    check:
        if (!nd->fd_down[k] && now - nd->fd_seen[k] > nd->fd_timeout)
            peer_event(nd, k, true);
    }
}
