#include "src/launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/loop.h"
#include "ipc/mq.h"
#include "ipc/proc.h"
#include "ipc/shm.h"
#include "ipc/trace.h"
#include "ipc/transport.h"
#include "ipc/util.h"
#include "nodes/algo.h"
#include "nodes/rng.h"
#include "nodes/runtime.h"
#include "src/report.h"

#define STARTUP_TIMEOUT_US (15 * 1000000LL)
#define STOP_GRACE_US (5 * 1000000LL)

struct child {
    pid_t pid;
    int incarnation;
    bool alive;
    bool ready;
    bool done;               /* finished its workload (this or an earlier life) */
    bool restart_pending;    /* start again at restart_at */
    bool restart_requested;  /* a `restart` fault: start again whatever the policy */
    int64_t restart_at;      /* run-relative us */
    int64_t paused_us;       /* when it was last seen stopped */
    int crashes;
};

struct fired {
    int64_t t_us;
    int index;
    int node;
    bool skipped;
    char why[96];
};

struct sup {
    const struct config *cfg;
    const struct algo_ops *ops;
    struct algo_env env;
    struct shm_handle shm;
    struct shm_run *run;
    uint32_t run_id;
    int n;
    char rundir[PATH_MAX];
    char exe[PATH_MAX];
    struct loop loop;
    struct transport tp;
    struct trace_writer tr;
    int timerfd, sigfd;
    struct loop_watch w_inbox, w_timer, w_sig;
    struct child child[DL_MAX_NODES + 1];
    struct dl_rng rng;
    int queues_made;
    /* Phases and times (run-relative us). */
    int64_t t_work; /* when the workload started; faults and duration count from it */
    int64_t stop_deadline;
    int next_fault;
    struct fired fired[CONFIG_MAX_FAULTS];
    int nfired;
    bool stopping, interrupted, failed;
    bool workload_done; /* as it was when the stop began */
    int64_t t_stop;     /* when the stop began: the end of the measured run */
    const char *stop_reason;
    char err[DL_ERRLEN];
};

static int64_t now_us(const struct sup *s) { return trace_now(&s->tr); }

static void trace_sup(struct sup *s, int ev, int node, int peer, int aux, int64_t a)
{
    struct trace_rec r = {.node = (uint16_t)node, .ev = (uint16_t)ev, .peer = (uint16_t)peer,
                          .aux = aux, .a = a};
    /* A record about node k carries k's incarnation (the one it ends). */
    if (node > 0 && node <= s->n)
        r.incarnation = s->child[node].incarnation;
    trace_emit(&s->tr, &r);
}

static void send_ctl(struct sup *s, int to, uint16_t type, int64_t f0)
{
    struct wire_hdr h = {.type = type, .to = (uint16_t)to, .send_us = now_us(s)};
    h.f[0] = f0;
    transport_send(&s->tp, &h, NULL);
}

static void broadcast_ctl(struct sup *s, uint16_t type, int64_t f0, int except)
{
    for (int k = 1; k <= s->n; k++)
        if (k != except && s->child[k].alive)
            send_ctl(s, k, type, f0);
}

/* ---- run directory ---- */


static int make_rundir(struct sup *s, const struct run_opts *o)
{
    char path[PATH_MAX];
    if (o->out_dir) {
        snprintf(path, sizeof path, "%s", o->out_dir);
    } else {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(path, sizeof path, "runs/%s-%s", s->cfg->name, stamp);
        /* Two runs in the same second get -2, -3, ... */
        struct stat st;
        for (int i = 2; stat(path, &st) == 0 && i < 1000; i++)
            snprintf(path, sizeof path, "runs/%s-%s-%d", s->cfg->name, stamp, i);
    }
    /* A run directory holds one run: an old run's traces, logs or persisted
     * state mixed into a new one would corrupt its report. */
    if (o->out_dir && !dl_dir_is_empty(path))
        return dl_seterr(s->err, EEXIST,
                         "--out %s: the directory is not empty (it may hold another run); "
                         "choose a new one",
                         path);
    int rc = dl_mkdirs(path, s->err);
    if (rc < 0)
        return rc;
    if (!realpath(path, s->rundir))
        return dl_seterr(s->err, errno, "%s: %s", path, strerror(errno));
    if (strlen(s->rundir) >= sizeof s->run->rundir)
        return dl_seterr(s->err, ENAMETOOLONG, "run directory path too long: %s", s->rundir);
    if (!o->out_dir) {
        /* runs/latest -> the newest run (relative, so the tree can move). */
        const char *base = strrchr(s->rundir, '/') + 1;
        unlink("runs/latest.tmp");
        if (symlink(base, "runs/latest.tmp") == 0 && rename("runs/latest.tmp", "runs/latest") < 0)
            unlink("runs/latest.tmp");
    }
    char *ini = config_to_ini(s->cfg);
    if (!ini)
        return dl_seterr(s->err, ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/config.ini", s->rundir);
    rc = dl_write_file(path, ini, strlen(ini), s->err);
    free(ini);
    return rc;
}

/* ---- IPC objects ---- */

static void ipc_remove(struct sup *s)
{
    /* Queues first, then the segment: a queue never outlives its segment,
     * which is what lets `distlab clean` find every stale queue. */
    for (int k = 0; k < s->queues_made; k++)
        mq_unlink_queue(s->run_id, k);
    s->queues_made = 0;
    if (s->run) {
        shm_detach(&s->shm);
        shm_unlink_run(s->run_id);
        s->run = NULL;
    }
}

static int ipc_create(struct sup *s)
{
    int rc;
    for (int tries = 0;; tries++) {
        uint32_t id;
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
            id = (uint32_t)(getpid() * 2654435761u) ^ (uint32_t)dl_mono_us();
        s->run_id = id;
        rc = shm_create(&s->shm, id, s->n, s->err);
        if (rc == 0)
            break;
        if (rc != -EEXIST || tries > 10)
            return rc;
    }
    struct shm_run *r = s->run = s->shm.run;
    const struct config *c = s->cfg;
    snprintf(r->name, sizeof r->name, "%s", c->name);
    snprintf(r->algorithm, sizeof r->algorithm, "%s", c->algorithm);
    snprintf(r->rundir, sizeof r->rundir, "%.1023s", s->rundir);
    r->msgsize = (uint32_t)mq_msgsize_for(s->n);
    r->maxmsg = MQ_DEPTH;
    r->params = (struct shm_params){
        .seed = c->seed,
        .requests = c->requests,
        .cs_time_us = c->cs_time_us,
        .think_time_us = c->think_time_us,
        .rate = c->rate,
        .coordinator = c->coordinator,
        .coordinator_competes = c->coordinator_competes,
        .election_timeout_min_us = c->election_timeout_min_us,
        .election_timeout_max_us = c->election_timeout_max_us,
        .heartbeat_us = c->heartbeat_us,
        .fsync = c->fsync,
        .delay_us = c->delay_us,
        .jitter_us = c->jitter_us,
        .loss = c->loss,
        .failure_timeout_us = c->failure_timeout_us,
        .election_timeout_us = c->election_timeout_us,
        .token_timeout_us = config_token_timeout(c),
        .idle_hold_us = config_idle_hold(c),
        .groups = c->groups,
        .local_rounds = c->local_rounds,
        .fencing = c->fencing,
    };
    bool in[DL_MAX_NODES + 1];
    int64_t clocks[DL_MAX_NODES + 1];
    config_node_list(c->requesters, s->n, in);
    config_node_values(c->initial_clock, s->n, clocks);
    for (int k = 1; k <= s->n; k++) {
        r->params.requester[k] = in[k];
        r->params.initial_clock[k] = clocks[k];
    }
    if (c->members[0])
        config_parse_members(c->members, s->n, r->params.group_of, true);
    r->start_real_us = dl_real_us();
    r->start_mono_us = dl_mono_us();
    for (int k = 0; k <= s->n; k++) {
        rc = mq_create_queue(s->run_id, k, r->msgsize, s->n + 1, s->err);
        if (rc < 0)
            return rc;
        s->queues_made = k + 1;
    }
    return 0;
}

/* ---- children ---- */

static int spawn(struct sup *s, int k)
{
    struct child *c = &s->child[k];
    char id[16], inc[16], log[PATH_MAX + 32];
    snprintf(id, sizeof id, "%d", k);
    snprintf(inc, sizeof inc, "%d", c->incarnation + 1);
    snprintf(log, sizeof log, "%s/n%d.log", s->rundir, k);
    char *argv[] = {"distlab-node", id, s->shm.name, inc, NULL};
    struct shm_node *sn = &s->run->node[k];
    atomic_store(&sn->state, NODE_STARTING);
    /* The last life's heartbeat must not vouch for this one. */
    atomic_store(&sn->heartbeat_us, 0);
    atomic_store(&sn->incarnation, c->incarnation + 1);
    atomic_store(&sn->workload_done, 0);
    /* argv[0] is what ps shows; the environment is what main() trusts,
     * since tools such as valgrind replace argv[0]. */
    char *env[] = {"DISTLAB_NODE=1", NULL};
    pid_t pid = proc_spawn(s->exe, argv, env, log);
    if (pid < 0)
        return dl_seterr(s->err, -pid, "cannot start node %d: %s", k, strerror(-pid));
    c->pid = pid;
    c->incarnation++;
    c->alive = true;
    c->ready = false;
    c->restart_pending = false;
    c->restart_requested = false;
    atomic_store(&sn->pid, pid);
    return 0;
}

static void begin_stop(struct sup *s, const char *reason);

static bool all_done(const struct sup *s)
{
    for (int k = 1; k <= s->n; k++) {
        const struct child *c = &s->child[k];
        if (c->done)
            continue;
        if (!c->alive && !c->restart_pending)
            continue; /* crashed for good: its remaining requests are abandoned */
        return false;
    }
    return true;
}

static bool any_alive(const struct sup *s);

/* Is every node gone for good (crashed, not to be restarted)? */
static bool none_left(const struct sup *s)
{
    for (int k = 1; k <= s->n; k++)
        if (s->child[k].alive || s->child[k].restart_pending)
            return false;
    return true;
}

static void check_done(struct sup *s)
{
    if (s->stopping || s->t_work < 0)
        return;
    if (none_left(s))
        begin_stop(s, "no live node");
    else if (all_done(s))
        begin_stop(s, "workload done");
}

/* A child changed state: exited, was killed, stopped or continued. */
static void on_child(struct sup *s, pid_t pid, int status)
{
    int k = 0;
    for (int i = 1; i <= s->n; i++)
        if (s->child[i].pid == pid)
            k = i;
    if (!k)
        return;
    struct child *c = &s->child[k];
    struct shm_node *sn = &s->run->node[k];
    if (WIFSTOPPED(status)) {
        c->paused_us = now_us(s);
        trace_sup(s, TR_PAUSE, k, 0, WSTOPSIG(status), 0);
        atomic_store(&sn->state, NODE_PAUSED);
        atomic_store(&sn->last_signal, WSTOPSIG(status));
        return;
    }
    if (WIFCONTINUED(status)) {
        trace_sup(s, TR_RESUME, k, 0, SIGCONT, 0);
        atomic_store(&sn->state, NODE_UP);
        return;
    }
    c->alive = false;
    c->pid = 0;
    atomic_store(&sn->pid, 0);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!c->ready && s->t_work < 0 && !s->stopping) {
        /* Died before it was up: the run cannot start. Say why at once
         * rather than after the start-up timeout. */
        snprintf(s->err, sizeof s->err,
                 "node %d did not start (%s %d); see %.300s/n%d.log", k,
                 WIFSIGNALED(status) ? "killed by signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), s->rundir, k);
        s->failed = true;
        atomic_store(&sn->state, NODE_DOWN);
        begin_stop(s, "start-up failed");
        return;
    }
    if (s->stopping && clean) {
        atomic_store(&sn->state, NODE_STOPPED);
        return;
    }
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (clean) {
        /* Stopped gracefully (a terminate fault or a SIGTERM from outside). */
        atomic_store(&sn->state, NODE_STOPPED);
        trace_sup(s, TR_STOP, k, 0, SIGTERM, 0);
    } else {
        atomic_store(&sn->state, NODE_DOWN);
        atomic_store(&sn->last_signal, sig);
        trace_sup(s, TR_CRASH, k, 0, sig, code);
        c->crashes++;
        if (!s->stopping)
            fprintf(stderr, "distlab: node %d (pid %d) %s%s%s\n", k, (int)pid,
                    sig ? "was killed by " : "failed", sig ? proc_signame(sig) : "",
                    sig ? "" : " (see its log)");
    }
    /* The critical resource is released by the death of its holder, as a
     * lease would be: otherwise every later entry looks like a violation. */
    shm_resource_drop(s->run, k);
    atomic_store(&sn->in_cs, 0);
    if (s->stopping)
        return;
    /* Peers learn of it through their own failure detectors (timeouts), as
     * on a real network: the supervisor tells them nothing. */
    if (c->restart_requested || (!clean && s->cfg->restart == RESTART_ON_CRASH)) {
        c->restart_pending = true;
        c->restart_at = now_us(s) + (c->restart_requested ? 0 : s->cfg->restart_delay_us);
    }
    check_done(s);
}

static void reap(struct sup *s)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED);
        if (pid <= 0)
            break;
        on_child(s, pid, status);
    }
}

/* ---- faults ---- */


static int resolve_target(struct sup *s, const struct fault_spec *f, char *why, size_t cap)
{
    int k = 0;
    /* "resume coordinator" wakes the node that "pause coordinator" stopped
     * (the role has usually moved on meanwhile): the most recently paused
     * node that is still paused. */
    if (f->action == FAULT_RESUME && f->target != TARGET_NODE) {
        int64_t latest = -1;
        for (int i = 1; i <= s->n; i++)
            if (s->child[i].alive && atomic_load(&s->run->node[i].state) == NODE_PAUSED &&
                s->child[i].paused_us > latest) {
                latest = s->child[i].paused_us;
                k = i;
            }
        if (!k)
            snprintf(why, cap, "no node is paused");
        return k;
    }
    switch (f->target) {
    case TARGET_NODE: k = f->target_node; break;
    case TARGET_COORDINATOR: k = shm_find_role(s->run, ROLE_COORDINATOR); break;
    case TARGET_LEADER: k = shm_find_role(s->run, ROLE_LEADER); break;
    case TARGET_TOKEN_HOLDER: k = shm_find_role(s->run, ROLE_TOKEN_HOLDER); break;
    case TARGET_RANDOM: k = (int)dl_rng_below(&s->rng, (uint64_t)s->n) + 1; break;
    default: break;
    }
    if (!k)
        snprintf(why, cap, "no node holds the %s role now", f->target_text);
    return k;
}

static void fire_fault(struct sup *s, int index)
{
    const struct fault_spec *f = &s->cfg->faults[index];
    struct fired *fr = &s->fired[s->nfired++];
    memset(fr, 0, sizeof *fr);
    fr->t_us = now_us(s);
    fr->index = index;
    int k = resolve_target(s, f, fr->why, sizeof fr->why);
    fr->node = k;
    struct child *c = k ? &s->child[k] : NULL;
    int sig = 0;
    switch (f->action) {
    case FAULT_KILL: sig = SIGKILL; break;
    case FAULT_PAUSE: sig = SIGSTOP; break;
    case FAULT_RESUME: sig = SIGCONT; break;
    case FAULT_TERMINATE: sig = SIGTERM; break;
    case FAULT_RESTART: sig = SIGKILL; break;
    default: break;
    }
    if (c && f->action == FAULT_RESTART && !c->alive) {
        /* Restarting a node that is down just starts it. */
        trace_sup(s, TR_FAULT, 0, k, f->action, index + 1);
        c->restart_pending = true;
        c->restart_at = now_us(s);
        return;
    }
    if (c && !c->alive) {
        snprintf(fr->why, sizeof fr->why, "node %d is down", k);
        k = 0;
    }
    /* Recorded before the signal is sent. */
    trace_sup(s, TR_FAULT, 0, k, f->action, index + 1);
    if (!k) {
        fr->skipped = true;
        fr->node = 0;
        return;
    }
    if (f->action == FAULT_RESTART)
        c->restart_requested = true;
    if (kill(c->pid, sig) < 0) {
        fr->skipped = true;
        snprintf(fr->why, sizeof fr->why, "kill: %s", strerror(errno));
    }
    if (sig == SIGTERM)
        kill(c->pid, SIGCONT); /* a paused node must wake up to stop */
}

/* ---- the supervisor's loop ---- */

static void begin_work(struct sup *s)
{
    s->t_work = now_us(s);
    atomic_store(&s->run->phase, RUN_RUNNING);
    broadcast_ctl(s, MSG_RT_START, 0, 0);
}

static void begin_stop(struct sup *s, const char *reason)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->stop_reason = reason;
    s->workload_done = s->t_work >= 0 && all_done(s) && !none_left(s);
    s->t_stop = now_us(s);
    atomic_store(&s->run->phase, RUN_STOPPING);
    s->stop_deadline = now_us(s) + STOP_GRACE_US;
    for (int k = 1; k <= s->n; k++) {
        struct child *c = &s->child[k];
        c->restart_pending = false;
        if (c->alive) {
            kill(c->pid, SIGTERM);
            kill(c->pid, SIGCONT); /* a paused node must wake to stop */
        }
    }
}

static bool any_alive(const struct sup *s)
{
    for (int k = 1; k <= s->n; k++)
        if (s->child[k].alive)
            return true;
    return false;
}

static void schedule(struct sup *s)
{
    int64_t next = 0;
#define CONSIDER(t)                                                                            \
    do {                                                                                       \
        int64_t t_ = (t);                                                                      \
        if (!next || t_ < next)                                                                \
            next = t_;                                                                         \
    } while (0)
    if (s->stopping) {
        CONSIDER(s->stop_deadline);
    } else if (s->t_work < 0) {
        CONSIDER(STARTUP_TIMEOUT_US);
    } else {
        CONSIDER(s->t_work + s->cfg->duration_us);
        if (s->next_fault < s->cfg->nfaults)
            CONSIDER(s->t_work + s->cfg->faults[s->next_fault].at_us);
        for (int k = 1; k <= s->n; k++)
            if (s->child[k].restart_pending)
                CONSIDER(s->child[k].restart_at);
    }
#undef CONSIDER
    loop_timerfd_arm(s->timerfd, next + s->run->start_mono_us);
}

static void on_timer(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct sup *s = w->arg;
    loop_timerfd_ack(s->timerfd);
    int64_t now = now_us(s);
    if (s->stopping) {
        if (now >= s->stop_deadline) {
            for (int k = 1; k <= s->n; k++)
                if (s->child[k].alive) {
                    fprintf(stderr, "distlab: node %d did not stop in time; killing it\n", k);
                    kill(s->child[k].pid, SIGKILL);
                }
            s->stop_deadline = now + STOP_GRACE_US;
        }
    } else if (s->t_work < 0) {
        if (now >= STARTUP_TIMEOUT_US) {
            snprintf(s->err, sizeof s->err, "the nodes did not all start within %llds (see "
                     "the n*.log files in %.300s)", STARTUP_TIMEOUT_US / 1000000, s->rundir);
            s->failed = true;
            begin_stop(s, "start-up failed");
        }
    } else {
        while (s->next_fault < s->cfg->nfaults &&
               now >= s->t_work + s->cfg->faults[s->next_fault].at_us)
            fire_fault(s, s->next_fault++);
        for (int k = 1; k <= s->n; k++) {
            struct child *c = &s->child[k];
            if (c->restart_pending && !c->alive && now >= c->restart_at) {
                trace_sup(s, TR_RESTART, k, 0, 0, c->incarnation + 1);
                if (spawn(s, k) < 0) {
                    fprintf(stderr, "distlab: %s\n", s->err);
                    c->restart_pending = false;
                } else {
                    c->done = false;
                }
            }
        }
        if (now >= s->t_work + s->cfg->duration_us)
            begin_stop(s, "duration");
    }
    if (s->stopping && !any_alive(s))
        loop_stop(l);
    schedule(s);
    (void)l;
    (void)events;
}

/* `distlab restart NODE` flagged nodes in the cluster table. */
static void restarts_asked(struct sup *s)
{
    if (s->stopping || s->t_work < 0)
        return;
    for (int k = 1; k <= s->n; k++) {
        struct shm_node *sn = &s->run->node[k];
        if (!atomic_exchange(&sn->restart_asked, 0))
            continue;
        struct child *c = &s->child[k];
        trace_sup(s, TR_FAULT, 0, k, FAULT_RESTART, 0);
        if (c->alive) {
            c->restart_requested = true;
            kill(c->pid, SIGKILL); /* reaped, then started at once */
            kill(c->pid, SIGCONT);
        } else {
            c->restart_pending = true;
            c->restart_at = now_us(s);
        }
    }
}

static void on_signal(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct sup *s = w->arg;
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            reap(s);
        } else if (si.ssi_signo == SIGUSR2) {
            restarts_asked(s);
        } else if (!s->stopping || !s->interrupted) {
            fprintf(stderr, "distlab: %s: stopping the run (again to stop the nodes at once)\n",
                    proc_signame((int)si.ssi_signo));
            s->interrupted = true;
            begin_stop(s, "signal");
        } else {
            /* Asked twice: no more grace. The report is still written. */
            fprintf(stderr, "distlab: %s again: killing the nodes\n",
                    proc_signame((int)si.ssi_signo));
            for (int k = 1; k <= s->n; k++)
                if (s->child[k].alive)
                    kill(s->child[k].pid, SIGKILL);
        }
    }
    if (s->stopping && !any_alive(s))
        loop_stop(l);
    schedule(s);
    (void)events;
}

static void on_inbox(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct sup *s = w->arg;
    for (;;) {
        struct wire_hdr h;
        const uint8_t *payload;
        int rc = transport_recv(&s->tp, &h, &payload);
        if (rc == 0 || rc < 0)
            break;
        if (rc != 1 || h.from < 1 || h.from > s->n)
            continue;
        struct child *c = &s->child[h.from];
        if (h.type == MSG_RT_READY && h.f[0] == c->incarnation) {
            c->ready = true;
        } else if (h.type == MSG_RT_DONE) {
            c->done = true;
        }
    }
    if (s->t_work < 0 && !s->stopping) {
        bool ready = true;
        for (int k = 1; k <= s->n; k++)
            ready = ready && s->child[k].ready;
        if (ready)
            begin_work(s);
    }
    check_done(s);
    if (s->stopping && !any_alive(s))
        loop_stop(l);
    schedule(s);
    (void)events;
}

/* ---- run.json ---- */

static json_t *node_counters(const struct sup *s, int k)
{
    const struct shm_node *sn = &s->run->node[k];
    return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i}", "node", k,
                     "sent", (json_int_t)atomic_load(&sn->cnt[CNT_SENT]),
                     "recv", (json_int_t)atomic_load(&sn->cnt[CNT_RECV]),
                     "malformed", (json_int_t)atomic_load(&sn->cnt[CNT_MALFORMED]),
                     "queue_full", (json_int_t)atomic_load(&sn->cnt[CNT_QUEUE_FULL]),
                     "backlog_hwm", (json_int_t)atomic_load(&sn->cnt[CNT_BACKLOG_HWM]),
                     "dropped", (json_int_t)atomic_load(&sn->cnt[CNT_DROPPED]),
                     "incarnations", s->child[k].incarnation, "crashes", s->child[k].crashes);
}

static int write_run_json(struct sup *s, int64_t t_end)
{
    const struct config *c = s->cfg;
    char id[16];
    snprintf(id, sizeof id, "%08x", s->run_id);
    /* The measured run ends when the stop begins (not when the last node
     * has exited). */
    int64_t end = s->t_stop > 0 ? s->t_stop : t_end;
    double dur = s->t_work >= 0 ? (double)(end - s->t_work) / 1e6 : 0.0;
    json_t *per = json_array();
    for (int k = 1; k <= s->n; k++)
        json_array_append_new(per, node_counters(s, k));
    json_t *faults = json_array();
    for (int i = 0; i < s->nfired; i++) {
        const struct fired *fr = &s->fired[i];
        const struct fault_spec *f = &c->faults[fr->index];
        json_t *o = json_pack("{s:f, s:f, s:s, s:s}", "at_ms", (double)f->at_us / 1000.0,
                              "t_ms", (double)(fr->t_us - s->t_work) / 1000.0, "action",
                              fault_action_name(f->action), "target", f->target_text);
        json_object_set_new(o, "node", fr->node ? json_integer(fr->node) : json_null());
        json_object_set_new(o, "number", json_integer(fr->index + 1));
        if (fr->skipped)
            json_object_set_new(o, "skipped", json_string(fr->why));
        json_array_append_new(faults, o);
    }
    /* Scheduled but never reached: listed, so a report never hides one. */
    for (int i = s->next_fault; i < c->nfaults; i++) {
        const struct fault_spec *f = &c->faults[i];
        json_t *o = json_pack("{s:f, s:n, s:s, s:s, s:n, s:i, s:s}", "at_ms",
                              (double)f->at_us / 1000.0, "t_ms", "action",
                              fault_action_name(f->action), "target", f->target_text, "node",
                              "number", i + 1, "skipped", "the run ended before it was due");
        json_array_append_new(faults, o);
    }
    const struct shm_resource *res = &s->run->res;
    json_t *o = json_pack(
        "{s:s, s:i, s:I, s:s, s:s, s:f, s:b, s:s, s:i, s:b, s:i, s:f, s:i, s:I, s:I, s:I, s:I,"
        " s:o, s:o}",
        "algorithm", c->algorithm, "nodes", s->n, "seed", (json_int_t)c->seed, "name", c->name,
        "run_id", id, "duration_s", dur, "workload_done", s->workload_done,
        "stop_reason", s->stop_reason ? s->stop_reason : "unknown", "coordinator",
        c->coordinator, "coordinator_competes", c->coordinator_competes, "requests_per_node",
        c->requests, "cs_time_ms", (double)c->cs_time_us / 1000.0, "msgsize",
        (int)s->run->msgsize, "counter_final", (json_int_t)atomic_load(&res->counter),
        "resource_entries", (json_int_t)atomic_load(&res->entries), "resource_violations",
        (json_int_t)atomic_load(&res->violations), "resource_fenced",
        (json_int_t)atomic_load(&res->fenced), "per_node", per, "faults", faults);
    if (!o)
        return dl_seterr(s->err, ENOMEM, "cannot build run.json");
    json_object_set_new(o, "fencing", json_boolean(c->fencing));
    json_object_set_new(o, "simulated", json_false());
    json_object_set_new(o, "groups", json_integer(c->groups));
    json_object_set_new(o, "local_rounds", json_integer(c->local_rounds));
    json_object_set_new(o, "members", json_string(c->members));
    json_t *req = json_array();
    for (int k = 1; k <= s->n; k++)
        if (s->run->params.requester[k])
            json_array_append_new(req, json_integer(k));
    json_object_set_new(o, "requesters", req);
    json_object_set_new(o, "resource_superseded",
                        json_integer((json_int_t)atomic_load(&res->superseded)));
    json_object_set_new(o, "failure_timeout_ms", json_real((double)c->failure_timeout_us / 1e3));
    /* On the trace's clock: where the workload (and faults' `at`) starts
     * and where the run began to stop. */
    json_object_set_new(o, "workload_start_us",
                        s->t_work >= 0 ? json_integer(s->t_work) : json_null());
    json_object_set_new(o, "stop_us", json_integer(end));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/run.json", s->rundir);
    char *text = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    if (!text)
        return dl_seterr(s->err, ENOMEM, "cannot build run.json");
    int rc = dl_write_file(path, text, strlen(text), s->err);
    free(text);
    return rc;
}

/* ---- the whole run ---- */

/* The signals the supervisor takes through its signalfd. */
static void supervisor_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGUSR2); /* `distlab restart` asks */
}

static int setup(struct sup *s, const struct run_opts *o)
{
    /* Signals first: a ^C during set-up is then an orderly stop that still
     * removes what was created, never a death that leaves IPC objects. */
    sigset_t set;
    supervisor_signals(&set);
    if ((s->sigfd = loop_signalfd_create(&set, s->err)) < 0)
        return s->sigfd;
    int rc = proc_self_exe(s->exe, sizeof s->exe);
    if (rc < 0)
        return dl_seterr(s->err, -rc, "cannot find my own executable: %s", strerror(-rc));
    if ((rc = make_rundir(s, o)) < 0)
        return rc;
    if ((rc = ipc_create(s)) < 0)
        return rc;
    if ((rc = trace_open(&s->tr, s->rundir, 0, 1, s->run->start_mono_us, s->err)) < 0)
        return rc;
    if ((rc = loop_init(&s->loop, s->err)) < 0)
        return rc;
    if ((rc = transport_open(&s->tp, &s->loop, s->run, 0, s->err)) < 0)
        return rc;
    if ((s->timerfd = loop_timerfd_create(s->err)) < 0)
        return s->timerfd;
    signal(SIGPIPE, SIG_IGN);
    rc = loop_add(&s->loop, &s->w_inbox, s->tp.inbox, EPOLLIN, on_inbox, s);
    if (rc == 0)
        rc = loop_add(&s->loop, &s->w_timer, s->timerfd, EPOLLIN, on_timer, s);
    if (rc == 0)
        rc = loop_add(&s->loop, &s->w_sig, s->sigfd, EPOLLIN, on_signal, s);
    if (rc < 0)
        return dl_seterr(s->err, -rc, "epoll_ctl: %s", strerror(-rc));
    trace_sup(s, TR_START, 0, 0, (int)getpid(), 0);
    for (int k = 1; k <= s->n; k++)
        if ((rc = spawn(s, k)) < 0)
            return rc;
    return 0;
}

static void teardown(struct sup *s)
{
    /* Whatever happened, no node outlives the run. */
    for (int k = 1; k <= s->n; k++)
        if (s->child[k].alive) {
            kill(s->child[k].pid, SIGKILL);
            waitpid(s->child[k].pid, NULL, 0);
            s->child[k].alive = false;
        }
    transport_close(&s->tp);
    if (s->timerfd >= 0)
        close(s->timerfd);
    if (s->sigfd >= 0)
        close(s->sigfd);
    loop_fini(&s->loop);
    trace_close(&s->tr);
    ipc_remove(s);
}

/* The run is over and written: signals act normally again. */
static void unblock_signals(void)
{
    sigset_t set;
    supervisor_signals(&set);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int launcher_run(const struct config *cfg, const struct run_opts *o)
{
    struct sup *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "distlab: out of memory\n");
        return 2;
    }
    s->cfg = cfg;
    s->n = cfg->nodes;
    s->ops = algo_find(cfg->algorithm);
    s->timerfd = s->sigfd = -1;
    s->loop.epfd = -1;
    s->tr.fd = -1;
    s->tp.inbox = (mqd_t)-1;
    s->t_work = -1;
    dl_rng_seed(&s->rng, cfg->seed ^ 0x5eed5eedULL);
    int code = 0;
    int rc = setup(s, o);
    if (rc < 0) {
        fprintf(stderr, "distlab: %s\n", s->err);
        if (s->rundir[0] && s->run)
            begin_stop(s, "start-up failed");
        teardown(s);
        free(s);
        unblock_signals();
        return 2;
    }
    if (!o->quiet && !o->json)
        fprintf(stderr, "distlab: run %08x: %d nodes, %s, in %s\n", s->run_id, s->n,
                cfg->algorithm, s->rundir);
    schedule(s);
    rc = loop_run(&s->loop);
    int64_t t_end = now_us(s);
    trace_sup(s, TR_STOP, 0, 0, 0, 0);
    if (rc < 0)
        fprintf(stderr, "distlab: supervisor loop failed: %s\n", strerror(-rc));
    if (write_run_json(s, t_end) < 0)
        fprintf(stderr, "distlab: %s\n", s->err);
    bool failed = s->failed || rc < 0;
    bool interrupted = s->interrupted;
    if (failed)
        fprintf(stderr, "distlab: %s\n", s->err);
    char rundir[PATH_MAX];
    snprintf(rundir, sizeof rundir, "%s", s->rundir);
    teardown(s);
    free(s);

    json_t *rep = NULL;
    char err[DL_ERRLEN];
    /* Signals stay blocked while the report is written: a ^C now would
     * only lose it. (`distlab report DIR` rebuilds it in any case.) */
    int rrc = report_write(rundir, &rep, err);
    unblock_signals();
    if (rrc < 0) {
        fprintf(stderr, "distlab: cannot write the report: %s\n", err);
        return 2;
    }
    if (o->json) {
        json_object_set_new(rep, "run_dir", json_string(rundir));
        json_dumpf(rep, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
    } else {
        if (!o->quiet)
            report_print_text(rep, stdout);
        printf("%s%s\n", o->quiet ? "" : "run directory: ", rundir);
    }
    json_t *safe = json_object_get(rep, "safe");
    if (failed)
        code = 2;
    else if (!json_is_true(safe))
        code = 1;
    else if (interrupted)
        code = 3;
    json_decref(rep);
    return code;
}
