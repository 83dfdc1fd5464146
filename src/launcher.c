#include "src/launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
#include "src/evidence.h"
#include "src/netspec.h"
#include "src/netstate.h"
#include "src/progress.h"
#include "src/report.h"

#define STARTUP_TIMEOUT_US (15 * 1000000LL)
#define STOP_GRACE_US (5 * 1000000LL)

/* Crash loops (README, [supervisor]): a node that crashes again soon after
 * each start waits twice as long before each new start, from restart_delay
 * but never less than RESTART_BACKOFF_MIN_US, up to RESTART_BACKOFF_MAX_US
 * (or restart_delay if that is longer). A node that stayed up
 * RESTART_STABLE_US starts afresh (its earlier crashes are forgotten).
 * After RESTART_LIMIT crashes within RESTART_WINDOW_US, none after a life
 * that stayed up, the supervisor stops restarting it. Crashes the
 * supervisor caused itself (a kill from the fault schedule) do not count:
 * they are the experiment, not a loop. */
#define RESTART_BACKOFF_MIN_US (10 * 1000LL)
#define RESTART_BACKOFF_MAX_US (10 * 1000000LL)
#define RESTART_STABLE_US      (1000000LL)
#define RESTART_LIMIT          5
#define RESTART_WINDOW_US      (10 * 1000000LL)

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
    /* Crash loops: see RESTART_LIMIT. */
    int64_t started_us;              /* when this life was started */
    int streak;                      /* crashes in a row, each soon after its start */
    int64_t crash_us[RESTART_LIMIT]; /* the last crashes that count, a ring */
    int ncrash;                      /* crashes that count, ever */
    bool gave_up;                    /* crash loop: not restarted again */
    bool fault_signalled;            /* the schedule sent this life SIGKILL/SIGTERM */
    int quota;                       /* requests it must complete to be done */
};

struct fired {
    int64_t t_us;
    int64_t at_us; /* the occurrence's time in the schedule */
    int index;
    int rep;
    bool undo;
    int node;
    bool skipped;
    char why[96];
};

/* Fired occurrences listed in run.json: a repeated fault may fire
 * thousands of times; past this many only their number is kept. */
#define FIRED_LISTED 4096

/* A command's answer that no tool collected is freed after this long. */
#define CMD_COLLECT_US (5 * 1000000LL)

/* What a pause occurrence paused, for its automatic resume. */
struct paused_by {
    int rep, node, incarnation;
    int64_t t_us; /* when SIGSTOP was sent */
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
    int clients, procs;      /* client processes n+1 .. n+clients = procs */
    int slots;               /* procs + the interactive client slots: every process id */
    struct child child[DL_MAX_PROCS + 1];
    struct dl_rng rng;
    int queues_made;
    /* Phases and times (run-relative us). */
    int64_t t_work; /* when the workload started; faults and duration count from it */
    int64_t stop_deadline;
    /* The schedule: every occurrence of every fault (config_fault_timeline),
     * computed once, played in order. */
    struct fault_occ *occ;
    int nocc, next_occ;
    int64_t fault_retry_at; /* the due fault waits for its role's holder: look again then */
    struct fired *fired;    /* the first FIRED_LISTED occurrences played */
    int nfired, capfired;
    uint64_t fired_unlisted;
    struct fired fired_scratch;
    int fired_of[CONFIG_MAX_FAULTS]; /* occurrences played, per fault */
    struct paused_by paused_by[CONFIG_MAX_FAULTS];
    /* The network: the state the supervisor alone changes, and what it
     * last wrote to the segment. */
    struct netstate *net;
    struct net_links links; /* scratch for parsing specs */
    int64_t cmd_partitions; /* ids of partitions made by commands: -1, -2, ... */
    /* The command mailbox: the answer given last, freed if uncollected. */
    int64_t cmd_answered_at;
    uint32_t cmd_answered_seq;
    bool stopping, interrupted, failed;
    bool workload_done; /* as it was when the stop began */
    int64_t t_stop;     /* when the stop began: the end of the measured run */
    const char *stop_reason;
    /* "workload done" claims on the supervisor's queue that the cluster
     * table does not back (forged, or from a dead life): counted, logged
     * once, never acted on. */
    uint64_t false_claims;
    /* The live line on a terminal (src/progress.h): cleared before the
     * supervisor writes anything else to stderr. */
    struct progress prog;
    char err[DL_ERRLEN];
};

/* a + b for times, saturating: a deadline never wraps into the past. The
 * configuration bounds every time (config.h), so this only guards. */
static int64_t time_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* "SIGALRM", "SIGRTMIN+3", or "signal 40". */
static const char *signame(int sig, char *buf, size_t cap)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, cap, "SIG%s", abbrev);
    else if (sig == SIGRTMIN)
        snprintf(buf, cap, "SIGRTMIN");
    else if (sig > SIGRTMIN && sig <= SIGRTMAX)
        snprintf(buf, cap, "SIGRTMIN+%d", sig - SIGRTMIN);
    else
        snprintf(buf, cap, "signal %d", sig);
    return buf;
}

static int64_t now_us(const struct sup *s) { return trace_now(&s->tr); }

static void trace_sup_b(struct sup *s, int ev, int node, int peer, int aux, int64_t a, int64_t b)
{
    struct trace_rec r = {.node = (uint16_t)node,
                          .ev = (uint16_t)ev,
                          .peer = (uint16_t)peer,
                          .aux = aux,
                          .a = a,
                          .b = b};
    /* A record about node k carries k's incarnation (the one it ends). */
    if (node > 0 && node <= s->procs)
        r.incarnation = s->child[node].incarnation;
    trace_emit(&s->tr, &r);
}

static void trace_sup(struct sup *s, int ev, int node, int peer, int aux, int64_t a)
{
    trace_sup_b(s, ev, node, peer, aux, a, 0);
}

static void send_ctl(struct sup *s, int to, uint16_t type, int64_t f0)
{
    struct wire_hdr h = {.type = type, .to = (uint16_t)to, .send_us = now_us(s)};
    h.f[0] = f0;
    transport_send(&s->tp, &h, NULL);
}

static void broadcast_ctl(struct sup *s, uint16_t type, int64_t f0, int except)
{
    for (int k = 1; k <= s->procs; k++)
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
    /* --out names a directory to make or an empty one: an existing file,
     * or a path through one, is said as such (not as a full directory). */
    if (o->out_dir) {
        struct stat ost;
        int e = stat(path, &ost) == 0 ? (S_ISDIR(ost.st_mode) ? 0 : ENOTDIR) : errno;
        if (e == ENOTDIR)
            return dl_seterr(s->err, e,
                             "--out %s: not a directory (a file of that name, or one on the "
                             "way to it, exists)",
                             path);
        if (e != 0 && e != ENOENT)
            return dl_seterr(s->err, e, "--out %s: %s", path, strerror(e));
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
        rc = shm_create_clients(&s->shm, id, s->n, s->slots - s->n, s->err);
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
    r->msgsize = (uint32_t)mq_msgsize_for(s->slots);
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
        .trace_max_size = c->trace_max_size,
        .trace_record = c->trace_record,
        .retransmit = c->retransmit,
        .retransmit_us = config_retransmit_timeout(c),
        .prevote = c->prevote,
        .check_quorum = c->check_quorum,
        .local_reads = c->local_reads,
        .snapshot_entries = c->snapshot_entries,
        .max_inflight = c->max_inflight,
        .pipeline = c->pipeline,
        .clients = s->clients,
        .interactive = s->slots - s->procs,
        .client_timeout_us = c->client_timeout_us,
        .keys = c->keys,
        .value_size = c->value_size,
        .max_inline = r->msgsize - (uint32_t)sizeof(struct wire_hdr),
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
    config_parse_mix(c->mix, r->params.mix);
    r->start_real_us = dl_real_us();
    r->start_mono_us = dl_mono_us();
    for (int k = 0; k <= s->slots; k++) {
        rc = mq_create_queue(s->run_id, k, r->msgsize, s->slots + 1, s->err);
        if (rc < 0)
            return rc;
        s->queues_made = k + 1;
    }
    return 0;
}

/* ---- children ---- */

/* "node 3", or "client 1" for process n+1. */
static const char *proc_label(const struct sup *s, int k, char *buf, size_t cap)
{
    if (k > s->n)
        snprintf(buf, cap, "client %d", k - s->n);
    else
        snprintf(buf, cap, "node %d", k);
    return buf;
}

/* Start process k: a node (1..n) or a client (n+1..procs). A client runs
 * the same program; the runtime gives it the algorithm's client core
 * because its id is above n. */
static int spawn(struct sup *s, int k)
{
    struct child *c = &s->child[k];
    char id[16], inc[16], log[PATH_MAX + 32], who[32];
    snprintf(id, sizeof id, "%d", k);
    snprintf(inc, sizeof inc, "%d", c->incarnation + 1);
    snprintf(log, sizeof log, "%s/n%d.log", s->rundir, k);
    char *argv[] = {k > s->n ? "distlab-client" : "distlab-node", id, s->shm.name, inc, NULL};
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
        return dl_seterr(s->err, -pid, "cannot start %s: %s", proc_label(s, k, who, sizeof who),
                         strerror(-pid));
    c->pid = pid;
    c->incarnation++;
    c->alive = true;
    c->ready = false;
    c->restart_pending = false;
    c->restart_requested = false;
    c->fault_signalled = false;
    c->started_us = now_us(s);
    atomic_store(&sn->pid, pid);
    return 0;
}

static void begin_stop(struct sup *s, const char *reason);

/* The workload is done when every process that has one finished it: the
 * nodes of a mutex algorithm, the clients of a run with clients (whose
 * nodes only serve). */
static bool all_done(const struct sup *s)
{
    /* A replicated log without clients of its own serves commands typed
     * from a shell (`distlab client`): it runs for its duration. */
    if (s->clients == 0 && s->slots > s->procs)
        return false;
    int first = s->clients > 0 ? s->n + 1 : 1;
    for (int k = first; k <= s->procs; k++) {
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

/* Node k crashed and the policy is on-crash: how long to wait before
 * starting it again, or -1 to give up on it (see RESTART_LIMIT). */
static int64_t crash_backoff(struct sup *s, int k)
{
    struct child *c = &s->child[k];
    int64_t delay = s->cfg->restart_delay_us;
    if (c->fault_signalled)
        return delay; /* the schedule's own kill: the experiment, not a loop */
    int64_t now = now_us(s);
    if (now - c->started_us >= RESTART_STABLE_US) {
        /* It had stayed up: whatever came before is forgiven, so a node
         * killed now and then (`kill -9` from a shell) is never given up. */
        c->streak = 1;
        c->ncrash = 0;
    } else {
        c->streak++;
    }
    c->crash_us[c->ncrash % RESTART_LIMIT] = now;
    c->ncrash++;
    int recent = 0;
    for (int i = 0; i < RESTART_LIMIT && i < c->ncrash; i++)
        if (now - c->crash_us[i] < RESTART_WINDOW_US)
            recent++;
    if (recent >= RESTART_LIMIT) {
        c->gave_up = true;
        progress_clear(&s->prog);
        fprintf(stderr,
                "distlab: node %d crashed %d times within %llds: not restarting it again "
                "(crash loop; `distlab restart` starts it)\n",
                k, RESTART_LIMIT, RESTART_WINDOW_US / 1000000);
        return -1;
    }
    if (c->streak >= 2) {
        int64_t base = delay > RESTART_BACKOFF_MIN_US ? delay : RESTART_BACKOFF_MIN_US;
        int64_t cap = delay > RESTART_BACKOFF_MAX_US ? delay : RESTART_BACKOFF_MAX_US;
        delay = base;
        for (int i = 1; i < c->streak && delay < cap; i++)
            delay *= 2;
        if (delay > cap)
            delay = cap;
    }
    return delay;
}

/* A deliberate restart (a restart fault, `distlab restart`) forgives a
 * crash loop: whoever asked wants the node back. */
static void forgive(struct child *c)
{
    c->gave_up = false;
    c->streak = 0;
    c->ncrash = 0;
}

/* A child changed state: exited, was killed, stopped or continued. */
static void on_child(struct sup *s, pid_t pid, int status)
{
    char who[32];
    int k = 0;
    for (int i = 1; i <= s->procs; i++)
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
    /* Its last sign of life: the heartbeat stamp it last wrote (0 if it
     * never wrote one). The supervisor may learn of a death long after it
     * (it was stopped, or busy): a report must not let the dead node's
     * critical section run on until then. */
    int64_t last_alive = atomic_load(&sn->heartbeat_us);
    c->alive = false;
    c->pid = 0;
    atomic_store(&sn->pid, 0);
    /* A dead process holds no role and knows no leader: the table shows
     * what it believed (its term, its indexes) but never a dead leader. */
    atomic_store(&sn->role, ROLE_NONE);
    atomic_store(&sn->leader, 0);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!c->ready && s->t_work < 0 && !s->stopping) {
        /* Died before it was up: the run cannot start. Say why at once
         * rather than after the start-up timeout. */
        snprintf(s->err, sizeof s->err,
                 "%s did not start (%s %d); see %.300s/n%d.log", proc_label(s, k, who, sizeof who),
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
        trace_sup_b(s, TR_CRASH, k, 0, sig, code, last_alive > 0 ? last_alive : 0);
        c->crashes++;
        /* A crash the supervisor did not cause (a `kill -9` from a shell,
         * a failure) is a fault too; its own kills are counted as sent. */
        if (!s->stopping) {
            if (!c->fault_signalled)
                progress_fault(&s->prog, "crash", k, false);
            progress_clear(&s->prog);
            fprintf(stderr, "distlab: %s (pid %d) %s%s%s\n", proc_label(s, k, who, sizeof who),
                    (int)pid,
                    sig ? "was killed by " : "failed", sig ? proc_signame(sig) : "",
                    sig ? "" : " (see its log)");
        }
    }
    /* The critical resource is released by the death of its holder, as a
     * lease would be: otherwise every later entry looks like a violation. */
    shm_resource_drop(s->run, k);
    atomic_store(&sn->in_cs, 0);
    if (s->stopping)
        return;
    /* Peers learn of it through their own failure detectors (timeouts), as
     * on a real network: the supervisor tells them nothing. A client is
     * never restarted: it is the workload, not a server (its operations
     * left without an answer stay so in the trace). */
    if (k > s->n) {
        check_done(s);
        return;
    }
    if (c->restart_requested) {
        c->restart_pending = true;
        c->restart_at = now_us(s);
    } else if (!clean && s->cfg->restart == RESTART_ON_CRASH) {
        int64_t delay = crash_backoff(s, k);
        if (delay >= 0) {
            c->restart_pending = true;
            c->restart_at = time_add(now_us(s), delay);
        }
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

static bool net_action(int action)
{
    return action == FAULT_PARTITION || action == FAULT_HEAL || action == FAULT_NET;
}

/* A TR_FAULT record (see ipc/trace.h): fault number a (0: a command),
 * occurrence b, c = 1 for an automatic undo. */
static void trace_fault(struct sup *s, int action, int peer, int64_t a, int64_t b, int64_t c)
{
    /* A node fault names its node (0: skipped, nothing done); a network
     * change is counted where it is applied (net_apply_at). */
    if (peer > 0 && !net_action(action))
        progress_fault(&s->prog, fault_action_name(action), peer, c != 0);
    struct trace_rec r = {
        .ev = TR_FAULT, .peer = (uint16_t)peer, .aux = action, .a = a, .b = b, .c = c};
    if (peer > 0 && peer <= s->procs)
        r.incarnation = s->child[peer].incarnation;
    trace_emit(&s->tr, &r);
}

/* ---- the network ---- */

static void trace_link(struct sup *s, const struct net_change *ch, bool at_zero)
{
    struct trace_rec r = {.ev = TR_LINK,
                          .peer = ch->from,
                          .key = ch->to,
                          .aux = ch->cut,
                          .a = ch->loss_ppm,
                          .b = ch->delay_us,
                          .c = ch->jitter_us};
    if (at_zero)
        trace_emit_at(&s->tr, &r);
    else
        trace_emit(&s->tr, &r);
}

/* Make the changed links so in the segment: the link's parameters, then
 * its cut (release), then the version the nodes may watch. */
static void net_write(struct sup *s, const struct net_change *ch, int nch)
{
    struct shm_run *r = s->run;
    for (int i = 0; i < nch; i++) {
        int a = ch[i].from, b = ch[i].to;
        if (a < 1 || b < 1 || a > s->n || b > s->n)
            continue;
        struct shm_link *l = &r->link[a][b];
        atomic_store_explicit(&l->loss_ppm, ch[i].loss_ppm, memory_order_relaxed);
        atomic_store_explicit(&l->delay_us, ch[i].delay_us, memory_order_relaxed);
        atomic_store_explicit(&l->jitter_us, ch[i].jitter_us, memory_order_relaxed);
        atomic_store_explicit(&r->cut[a][b], ch[i].cut, memory_order_release);
    }
    if (nch > 0)
        atomic_fetch_add_explicit(&r->net_version, 1, memory_order_release);
}

/* A network change: its TR_FAULT (peer: the node a partition by role
 * found, else 0), one TR_LINK per changed link, then the segment (the trace
 * records what happens before it happens). */
static void net_apply_at(struct sup *s, int action, int peer, int64_t number, int64_t rep,
                         bool undo, const struct net_change *ch, int nch)
{
    trace_fault(s, action, peer, number, rep, undo);
    progress_fault(&s->prog, fault_action_name(action), peer, undo);
    for (int i = 0; i < nch; i++)
        trace_link(s, &ch[i], false);
    net_write(s, ch, nch);
}

static void net_apply(struct sup *s, int action, int64_t number, int64_t rep, bool undo,
                      const struct net_change *ch, int nch)
{
    net_apply_at(s, action, 0, number, rep, undo, ch, nch);
}

/* The [network] section: every link's initial loss, delay and jitter,
 * traced at time 0 and written before any node starts. */
static int net_init(struct sup *s)
{
    const struct config *c = s->cfg;
    s->net = netstate_new(s->n, c->loss, c->delay_us, c->jitter_us);
    if (!s->net)
        return dl_seterr(s->err, ENOMEM, "out of memory (network state)");
    const struct net_change *ch;
    int nch = netstate_all(s->net, &ch);
    if (nch < 0)
        return dl_seterr(s->err, -nch, "out of memory (network state)");
    for (int i = 0; i < nch; i++)
        trace_link(s, &ch[i], true);
    net_write(s, ch, nch);
    return 0;
}

/* "5ms", "250us", "0". */
static const char *fmt_us(int64_t us, char *buf, size_t cap)
{
    if (us == 0)
        snprintf(buf, cap, "0");
    else if (us % 1000000 == 0)
        snprintf(buf, cap, "%llds", (long long)(us / 1000000));
    else if (us % 1000 == 0)
        snprintf(buf, cap, "%lldms", (long long)(us / 1000));
    else
        snprintf(buf, cap, "%lldus", (long long)us);
    return buf;
}

/* "loss 0.1, delay 5ms" for what p sets. */
static void describe_params(const struct net_params *p, char *buf, size_t cap)
{
    char t[32];
    size_t len = 0;
    buf[0] = '\0';
    if (p->has_loss)
        len += (size_t)snprintf(buf + len, cap - len, "loss %g", p->loss);
    if (p->has_delay && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, "%sdelay %s", len ? ", " : "",
                                fmt_us(p->delay_us, t, sizeof t));
    if (p->has_jitter && len < cap)
        snprintf(buf + len, cap - len, "%sjitter %s", len ? ", " : "",
                 fmt_us(p->jitter_us, t, sizeof t));
}

/* Parse "loss=0.1 delay=5ms [LINKS]" (a net command's argument): the
 * assignments first, then the rest as a link list (all links if none). */
static int parse_net_arg(struct sup *s, const char *arg, struct net_params *p, char *err)
{
    memset(p, 0, sizeof *p);
    const char *q = arg;
    char tok[256];
    for (;;) {
        while (*q == ' ' || *q == '\t')
            q++;
        size_t len = strcspn(q, " \t");
        if (len == 0)
            break;
        if (len >= sizeof tok) {
            snprintf(err, NETSPEC_ERRLEN, "'%.40s...' is too long", q);
            return -EINVAL;
        }
        memcpy(tok, q, len);
        tok[len] = '\0';
        int rc = netspec_assign(tok, p, err);
        if (rc == -ENOENT)
            break; /* the link list starts here */
        if (rc < 0)
            return rc;
        q += len;
    }
    if (!p->has_loss && !p->has_delay && !p->has_jitter) {
        snprintf(err, NETSPEC_ERRLEN, "nothing to set: give loss=, delay= or jitter=");
        return -EINVAL;
    }
    return netspec_links(*q ? q : "all", s->n, &s->links, err);
}

/* "all links" or the links' description. */
static void describe_links(const struct sup *s, const struct net_links *l, char *buf, size_t cap)
{
    if (netspec_count(l) == s->n * (s->n - 1))
        snprintf(buf, cap, "all links");
    else
        netspec_describe(l, buf, cap);
}

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
    case TARGET_LEADER: k = shm_find_leader(s->run, ROLE_LEADER); break;
    case TARGET_TOKEN_HOLDER: k = shm_find_role(s->run, ROLE_TOKEN_HOLDER); break;
    case TARGET_RANDOM: k = (int)dl_rng_below(&s->rng, (uint64_t)s->n) + 1; break;
    default: break;
    }
    if (!k)
        snprintf(why, cap, "no node holds the %.40s role now", f->target_text);
    return k;
}

/* A role passes from node to node (a token in flight is held by nobody
 * for a few microseconds; an election takes longer): a fault aimed at a
 * role that nobody holds at its due time waits for a holder, looking every
 * millisecond, for at most this long before it is skipped (half a second:
 * on a loaded machine a token's next holder may not run for a while). */
#define ROLE_WAIT_US (500 * 1000)
#define ROLE_POLL_US 1000

static bool waits_for_role(struct sup *s, const struct fault_spec *f, int64_t due, int64_t now)
{
    if (f->action == FAULT_RESUME ||
        (f->target != TARGET_COORDINATOR && f->target != TARGET_LEADER &&
         f->target != TARGET_TOKEN_HOLDER))
        return false;
    if (now >= time_add(due, ROLE_WAIT_US))
        return false;
    char why[sizeof s->fired[0].why];
    return resolve_target(s, f, why, sizeof why) == 0;
}

static struct fired *fired_add(struct sup *s, const struct fault_occ *o)
{
    struct fired *fr = &s->fired_scratch;
    if (s->nfired < s->capfired)
        fr = &s->fired[s->nfired++];
    else
        s->fired_unlisted++;
    memset(fr, 0, sizeof *fr);
    fr->t_us = now_us(s);
    fr->at_us = o->at_us;
    fr->index = o->index;
    fr->rep = o->rep;
    fr->undo = o->undo;
    s->fired_of[o->index]++;
    return fr;
}

static void warn_skipped(struct sup *s, const struct fault_spec *f, const struct fault_occ *o,
                         const char *why)
{
    progress_clear(&s->prog);
    char rep[32] = "";
    if (f->every_us > 0)
        snprintf(rep, sizeof rep, ", occurrence %d", o->rep);
    fprintf(stderr, "distlab: warning: fault.%d (%s %s%s) was not injected: %s\n", o->index + 1,
            fault_action_name(f->action), f->target_text, rep, why);
}

static int resolve_target(struct sup *s, const struct fault_spec *f, char *why, size_t cap);

/* A partition by role (target leader, leader+K): the holder now and the K
 * lowest other ids on one side, everyone else on the other, as a spec
 * ("2,1/3,4,5"). Returns the holder, or 0 (why says so). */
static int role_partition_spec(struct sup *s, const struct fault_spec *f, char *spec, size_t cap,
                               char *why, size_t wcap)
{
    int k = resolve_target(s, f, why, wcap);
    if (!k)
        return 0;
    bool side[DL_MAX_NODES + 1] = {false};
    side[k] = true;
    for (int i = 1, more = f->with; i <= s->n && more > 0; i++)
        if (!side[i]) {
            side[i] = true;
            more--;
        }
    /* The holder first, its companions, then the other side. */
    size_t len = (size_t)snprintf(spec, cap, "%d", k);
    for (int i = 1; i <= s->n && len < cap; i++)
        if (side[i] && i != k)
            len += (size_t)snprintf(spec + len, cap - len, ",%d", i);
    const char *sep = "/";
    for (int i = 1; i <= s->n && len < cap; i++)
        if (!side[i]) {
            len += (size_t)snprintf(spec + len, cap - len, "%s%d", sep, i);
            sep = ",";
        }
    return k;
}

/* A network occurrence: partition, heal or net, or the undo of one. */
static void fire_net(struct sup *s, const struct fault_occ *o, struct fired *fr)
{
    const struct fault_spec *f = &s->cfg->faults[o->index];
    const struct net_change *ch = NULL;
    int nch = 0, action = f->action;
    int64_t id = netstate_occurrence_id(o->index, o->rep);
    char err[NETSPEC_ERRLEN] = "";
    if (f->action == FAULT_PARTITION && !o->undo && f->target != TARGET_GROUPS) {
        char spec[4 * DL_MAX_NODES + 8];
        int k = role_partition_spec(s, f, spec, sizeof spec, fr->why, sizeof fr->why);
        fr->node = k;
        if (!k) {
            trace_fault(s, FAULT_PARTITION, 0, o->index + 1, o->rep, 0);
            fr->skipped = true;
            warn_skipped(s, f, o, fr->why);
            return;
        }
        if (netspec_partition(spec, s->n, &s->links, err) < 0) {
            fr->skipped = true;
            snprintf(fr->why, sizeof fr->why, "%.95s", err);
            warn_skipped(s, f, o, fr->why);
            return;
        }
        nch = netstate_partition(s->net, id, &s->links, &ch);
        if (nch < 0) {
            fr->skipped = true;
            snprintf(fr->why, sizeof fr->why, "%s", strerror(-nch));
            warn_skipped(s, f, o, fr->why);
            return;
        }
        net_apply_at(s, FAULT_PARTITION, k, o->index + 1, o->rep, false, ch, nch);
        return;
    }
    nch = netstate_occurrence(s->net, f, s->n, id, o->undo, &s->links, &action, &ch, err);
    if (nch < 0) {
        fr->skipped = true;
        snprintf(fr->why, sizeof fr->why, "%.95s", nch == -EINVAL ? err : strerror(-nch));
        warn_skipped(s, f, o, fr->why);
        return;
    }
    net_apply(s, action, o->index + 1, o->rep, o->undo, ch, nch);
}

/* The automatic resume of what pause occurrence o->rep paused, if that
 * life of the node is still paused. */
static void fire_unpause(struct sup *s, const struct fault_occ *o, struct fired *fr)
{
    const struct paused_by *pb = &s->paused_by[o->index];
    int k = pb->rep == o->rep ? pb->node : 0;
    struct child *c = k ? &s->child[k] : NULL;
    /* Still paused: seen stopped, or not seen stopped yet at all (the
     * child's state change may still be on its way); not when it was seen
     * stopped and then resumed since. */
    bool paused = c && c->alive && c->incarnation == pb->incarnation &&
                  (atomic_load(&s->run->node[k].state) == NODE_PAUSED || c->paused_us < pb->t_us);
    if (!paused) {
        /* Nothing to undo (it was not paused, or is no longer): recorded,
         * so the schedule's every step is in the trace. */
        trace_fault(s, FAULT_RESUME, 0, o->index + 1, o->rep, 1);
        fr->skipped = true;
        snprintf(fr->why, sizeof fr->why, "nothing to resume");
        return;
    }
    fr->node = k;
    trace_fault(s, FAULT_RESUME, k, o->index + 1, o->rep, 1);
    kill(c->pid, SIGCONT);
}

static void fire_occurrence(struct sup *s, const struct fault_occ *o)
{
    int index = o->index;
    const struct fault_spec *f = &s->cfg->faults[index];
    struct fired *fr = fired_add(s, o);
    if (f->action == FAULT_PARTITION || f->action == FAULT_HEAL || f->action == FAULT_NET) {
        fire_net(s, o, fr);
        return;
    }
    if (o->undo) {
        if (f->action == FAULT_PAUSE)
            fire_unpause(s, o, fr);
        return;
    }
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
        trace_fault(s, f->action, k, index + 1, o->rep, 0);
        forgive(c);
        c->restart_pending = true;
        c->restart_at = now_us(s);
        return;
    }
    if (c && !c->alive) {
        snprintf(fr->why, sizeof fr->why, "node %d is down", k);
        k = 0;
    }
    /* Recorded before the signal is sent. */
    trace_fault(s, f->action, k, index + 1, o->rep, 0);
    if (!k) {
        fr->skipped = true;
        fr->node = 0;
        warn_skipped(s, f, o, fr->why);
        return;
    }
    if (f->action == FAULT_RESTART)
        c->restart_requested = true;
    if (sig == SIGKILL || sig == SIGTERM)
        c->fault_signalled = true;
    if (kill(c->pid, sig) < 0) {
        fr->skipped = true;
        snprintf(fr->why, sizeof fr->why, "kill: %s", strerror(errno));
    } else if (sig == SIGSTOP) {
        s->paused_by[index] = (struct paused_by){o->rep, k, c->incarnation, now_us(s)};
    }
    if (sig == SIGTERM)
        kill(c->pid, SIGCONT); /* a paused node must wake up to stop */
}

/* The schedule, computed once: refused when it would not fit the bound
 * validation sets (the array is never grown while the run plays). */
static int timeline_init(struct sup *s)
{
    struct fault_occ first;
    int total = config_fault_timeline(s->cfg, &first, 1);
    if (total < 0)
        return dl_seterr(s->err, EINVAL,
                         "the fault schedule is invalid (a negative every, "
                         "count or for)");
    if (total > CONFIG_MAX_OCCURRENCES)
        return dl_seterr(s->err, E2BIG,
                         "the fault schedule has %d occurrences before the end of the run; at "
                         "most %d are played",
                         total, CONFIG_MAX_OCCURRENCES);
    s->occ = calloc(total ? (size_t)total : 1, sizeof *s->occ);
    s->capfired = total < FIRED_LISTED ? total : FIRED_LISTED;
    s->fired = calloc(s->capfired ? (size_t)s->capfired : 1, sizeof *s->fired);
    if (!s->occ || !s->fired)
        return dl_seterr(s->err, ENOMEM, "out of memory (fault schedule)");
    s->nocc = config_fault_timeline(s->cfg, s->occ, total);
    if (s->nocc != total)
        return dl_seterr(s->err, EINVAL, "the fault schedule changed while it was read");
    return 0;
}

/* ---- commands (the mailbox in the segment, ipc/shm.h) ---- */

static const int cmd_action[CMD_OP_COUNT] = {
    [CMD_KILL] = FAULT_KILL,       [CMD_PAUSE] = FAULT_PAUSE,
    [CMD_RESUME] = FAULT_RESUME,   [CMD_TERMINATE] = FAULT_TERMINATE,
    [CMD_RESTART] = FAULT_RESTART, [CMD_PARTITION] = FAULT_PARTITION,
    [CMD_HEAL] = FAULT_HEAL,       [CMD_NET] = FAULT_NET,
};

/* A node command. Returns 0 or a positive errno, the answer in ans. */
static int cmd_node(struct sup *s, int op, int k, char *ans, size_t cap)
{
    struct child *c = &s->child[k];
    int st = atomic_load(&s->run->node[k].state);
    pid_t pid = c->pid;
    if (op == CMD_RESTART) {
        trace_fault(s, FAULT_RESTART, k, 0, 0, 0);
        if (c->alive) {
            c->restart_requested = true;
            kill(pid, SIGKILL); /* reaped, then started at once */
            kill(pid, SIGCONT);
            snprintf(ans, cap, "node %d (pid %d): killed, to be started again at once", k,
                     (int)pid);
        } else {
            forgive(c);
            c->restart_pending = true;
            c->restart_at = now_us(s);
            snprintf(ans, cap, "node %d was %s: starting it", k, shm_node_state_name(st));
        }
        return 0;
    }
    if (!c->alive) {
        snprintf(ans, cap, "node %d is not running (%s)", k, shm_node_state_name(st));
        return ESRCH;
    }
    int sig = op == CMD_KILL     ? SIGKILL
              : op == CMD_PAUSE  ? SIGSTOP
              : op == CMD_RESUME ? SIGCONT
                                 : SIGTERM;
    const char *done = op == CMD_KILL     ? "killed"
                       : op == CMD_PAUSE  ? "paused"
                       : op == CMD_RESUME ? "resumed"
                                          : "asked to stop";
    /* Recorded before the signal is sent. */
    trace_fault(s, cmd_action[op], k, 0, 0, 0);
    if (sig == SIGKILL || sig == SIGTERM)
        c->fault_signalled = true;
    if (kill(pid, sig) < 0) {
        int e = errno;
        snprintf(ans, cap, "node %d (pid %d): %s", k, (int)pid, strerror(e));
        return e;
    }
    if (sig == SIGTERM)
        kill(pid, SIGCONT); /* a paused node must wake up to stop */
    snprintf(ans, cap, "node %d (pid %d): %s (%s)", k, (int)pid, done, proc_signame(sig));
    return 0;
}

/* A network command. */
static int cmd_net(struct sup *s, int op, const char *arg, char *ans, size_t cap)
{
    const struct net_change *ch = NULL;
    char err[NETSPEC_ERRLEN] = "", what[200];
    int nch;
    if (op == CMD_PARTITION) {
        if (netspec_partition(arg, s->n, &s->links, err) < 0) {
            snprintf(ans, cap, "bad partition spec '%.200s': %s", arg, err);
            return EINVAL;
        }
        nch = netstate_partition(s->net, --s->cmd_partitions, &s->links, &ch);
        if (nch < 0)
            goto nomem;
        net_apply(s, FAULT_PARTITION, 0, 0, false, ch, nch);
        netspec_describe(&s->links, what, sizeof what);
        int count = netspec_count(&s->links);
        size_t len = (size_t)snprintf(ans, cap, "partitioned %s (%d link%s cut", what, count,
                                      count == 1 ? "" : "s");
        if (nch < count && len < cap)
            len += (size_t)snprintf(ans + len, cap - len, ", %d of them already", count - nch);
        if (len < cap)
            snprintf(ans + len, cap - len, ")");
        return 0;
    }
    if (op == CMD_HEAL) {
        nch = netstate_heal(s->net, &ch);
        if (nch < 0)
            goto nomem;
        net_apply(s, FAULT_HEAL, 0, 0, false, ch, nch);
        if (nch)
            snprintf(ans, cap, "healed: %d link%s restored", nch, nch == 1 ? "" : "s");
        else
            snprintf(ans, cap, "healed: nothing was cut");
        return 0;
    }
    struct net_params p;
    if (parse_net_arg(s, arg, &p, err) < 0) {
        snprintf(ans, cap, "bad net settings '%.200s': %s", arg, err);
        return EINVAL;
    }
    nch = netstate_net(s->net, 0, false, &s->links, &p, &ch);
    if (nch < 0)
        goto nomem;
    net_apply(s, FAULT_NET, 0, 0, false, ch, nch);
    char set[128];
    describe_params(&p, set, sizeof set);
    describe_links(s, &s->links, what, sizeof what);
    snprintf(ans, cap, "net: %s on %s (%d link%s changed)", set, what, nch, nch == 1 ? "" : "s");
    return 0;
nomem:
    snprintf(ans, cap, "the supervisor is out of memory");
    return ENOMEM;
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* SIGUSR2: a command may be posted. Every field is checked: whatever is in
 * the mailbox may have been left by anything that can write the segment. */
static void serve_command(struct sup *s)
{
    struct shm_cmd *m = &s->run->cmd;
    if (atomic_load_explicit(&m->state, memory_order_acquire) != CMD_POSTED)
        return;
    uint32_t seq = atomic_load(&m->seq);
    int op = m->op, k = m->node;
    char arg[sizeof m->arg], ans[sizeof m->answer];
    memcpy(arg, m->arg, sizeof arg);
    ans[0] = '\0';
    int res;
    if (op <= CMD_NONE || op >= CMD_OP_COUNT) {
        snprintf(ans, sizeof ans, "unknown command (op %d)", op);
        res = EINVAL;
    } else if (!memchr(arg, '\0', sizeof arg)) {
        snprintf(ans, sizeof ans, "the command's argument is not terminated");
        res = EINVAL;
    } else if (op <= CMD_RESTART && (k < 1 || k > s->n)) {
        snprintf(ans, sizeof ans, "node %d: no such node (the run has %d)", k, s->n);
        res = ENOENT;
    } else if (s->stopping) {
        snprintf(ans, sizeof ans, "the run is stopping");
        res = ESRCH;
    } else if (op <= CMD_RESTART && s->t_work < 0) {
        snprintf(ans, sizeof ans, "the run is still starting; try again in a moment");
        res = EAGAIN;
    } else if (op <= CMD_RESTART) {
        res = cmd_node(s, op, k, ans, sizeof ans);
    } else {
        res = cmd_net(s, op, arg, ans, sizeof ans);
    }
    snprintf(m->answer, sizeof m->answer, "%s", ans);
    m->result = res;
    atomic_store_explicit(&m->state, CMD_ANSWERED, memory_order_release);
    futex_wake(&m->state);
    s->cmd_answered_at = now_us(s);
    s->cmd_answered_seq = seq;
}

/* An answer nobody collected within CMD_COLLECT_US: the mailbox is freed
 * (unless a tool took it over meanwhile). */
static void free_uncollected(struct sup *s, int64_t now)
{
    if (!s->cmd_answered_at || now < time_add(s->cmd_answered_at, CMD_COLLECT_US))
        return;
    s->cmd_answered_at = 0;
    struct shm_cmd *m = &s->run->cmd;
    if (atomic_load(&m->state) != CMD_ANSWERED || atomic_load(&m->seq) != s->cmd_answered_seq)
        return;
    int32_t pid = atomic_load(&m->tool_pid);
    if (!atomic_compare_exchange_strong(&m->tool_pid, &pid, 0))
        return;
    uint32_t st = CMD_ANSWERED;
    if (atomic_compare_exchange_strong(&m->state, &st, CMD_FREE))
        futex_wake(&m->state);
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
    progress_clear(&s->prog);
    s->workload_done = s->t_work >= 0 && all_done(s) && !none_left(s);
    s->t_stop = now_us(s);
    atomic_store(&s->run->phase, RUN_STOPPING);
    s->stop_deadline = now_us(s) + STOP_GRACE_US;
    for (int k = 1; k <= s->procs; k++) {
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
    for (int k = 1; k <= s->procs; k++)
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
        CONSIDER(time_add(s->t_work, s->cfg->duration_us));
        if (s->next_occ < s->nocc)
            CONSIDER(time_add(s->t_work, s->occ[s->next_occ].at_us));
        if (s->fault_retry_at)
            CONSIDER(s->fault_retry_at);
        for (int k = 1; k <= s->n; k++)
            if (s->child[k].restart_pending)
                CONSIDER(s->child[k].restart_at);
    }
    if (s->cmd_answered_at)
        CONSIDER(time_add(s->cmd_answered_at, CMD_COLLECT_US));
    if (s->prog.on && !s->stopping)
        CONSIDER(s->prog.next > 0 ? s->prog.next : 1);
#undef CONSIDER
    loop_timerfd_arm(s->timerfd, time_add(next, s->run->start_mono_us));
}

static void on_timer(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct sup *s = w->arg;
    loop_timerfd_ack(s->timerfd);
    int64_t now = now_us(s);
    free_uncollected(s, now);
    if (s->stopping) {
        if (now >= s->stop_deadline) {
            for (int k = 1; k <= s->procs; k++)
                if (s->child[k].alive) {
                    progress_clear(&s->prog);
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
        s->fault_retry_at = 0;
        while (s->next_occ < s->nocc && now >= time_add(s->t_work, s->occ[s->next_occ].at_us)) {
            const struct fault_occ *o = &s->occ[s->next_occ];
            if (!o->undo &&
                waits_for_role(s, &s->cfg->faults[o->index], time_add(s->t_work, o->at_us), now)) {
                s->fault_retry_at = now + ROLE_POLL_US;
                break;
            }
            s->next_occ++;
            fire_occurrence(s, o);
        }
        for (int k = 1; k <= s->n; k++) {
            struct child *c = &s->child[k];
            if (c->restart_pending && !c->alive && now >= c->restart_at) {
                trace_sup(s, TR_RESTART, k, 0, 0, c->incarnation + 1);
                if (spawn(s, k) < 0) {
                    progress_clear(&s->prog);
                    fprintf(stderr, "distlab: %s\n", s->err);
                    c->restart_pending = false;
                } else {
                    c->done = false;
                }
            }
        }
        if (now >= time_add(s->t_work, s->cfg->duration_us))
            begin_stop(s, "duration");
    }
    if (!s->stopping && progress_due(&s->prog, now))
        progress_draw(&s->prog, s->run, now, s->t_work, s->cfg->duration_us);
    if (s->stopping && !any_alive(s))
        loop_stop(l);
    schedule(s);
    (void)l;
    (void)events;
}

/* SIGUSR1: what the supervisor sees, on stderr (as a node writes its own
 * state to its log). */
static void dump_status(struct sup *s)
{
    int64_t now = now_us(s);
    progress_clear(&s->prog);
    fprintf(stderr, "distlab: status of run %08x at %.3fs: %s%s\n", s->run_id, (double)now / 1e6,
            s->stopping     ? "stopping"
            : s->t_work < 0 ? "starting"
                            : "running",
            s->false_claims ? " (false workload-done claims ignored)" : "");
    for (int k = 1; k <= s->procs; k++) {
        const struct child *c = &s->child[k];
        const struct shm_node *sn = &s->run->node[k];
        char who[32];
        fprintf(stderr,
                "distlab:   %s: pid %d, %s, incarnation %d, %lld %s done, %d crash%s%s%s\n",
                proc_label(s, k, who, sizeof who), (int)c->pid,
                shm_node_state_name(atomic_load(&sn->state)), c->incarnation,
                (long long)atomic_load(&sn->requests_done),
                s->clients > 0 ? "operations" : "CS", c->crashes, c->crashes == 1 ? "" : "es",
                c->done ? ", workload done" : "", c->gave_up ? ", given up (crash loop)" : "");
    }
}

static void on_signal(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct sup *s = w->arg;
    struct signalfd_siginfo si;
    char name[32];
    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
            reap(s);
        } else if (sig == SIGUSR2) {
            serve_command(s);
        } else if (sig == SIGUSR1) {
            dump_status(s);
        } else if (sig == SIGPIPE || sig == SIGXFSZ) {
            /* Raised by our own writes (a closed pipe, RLIMIT_FSIZE): the
             * write itself fails and says so. Nothing to stop for. */
            continue;
        } else if (!s->stopping || !s->interrupted) {
            progress_clear(&s->prog);
            fprintf(stderr, "distlab: %s: stopping the run (again to stop the nodes at once)\n",
                    signame(sig, name, sizeof name));
            s->interrupted = true;
            begin_stop(s, "signal");
        } else {
            /* Asked twice: no more grace. The report is still written. */
            progress_clear(&s->prog);
            fprintf(stderr, "distlab: %s again: killing the nodes\n",
                    signame(sig, name, sizeof name));
            for (int k = 1; k <= s->procs; k++)
                if (s->child[k].alive)
                    kill(s->child[k].pid, SIGKILL);
        }
    }
    if (s->stopping && !any_alive(s))
        loop_stop(l);
    schedule(s);
    (void)events;
}

/* "Node K finished its workload", on the supervisor's queue. Anyone who
 * can open the queue can write it, and acting on a false one stops the run
 * with requests unanswered, for which the report would then blame the
 * algorithm. So the claim must agree with what the node itself wrote into
 * the cluster table: the live incarnation sent it, that life marked its
 * workload done, and the count of completed requests it carries is the
 * table's. A node stopped early (SIGTERM) finishes with fewer than its
 * quota: true, but not done - its exit decides. Anything else is a false
 * claim: counted as malformed, logged once, ignored. */
static void on_done_claim(struct sup *s, const struct wire_hdr *h)
{
    int k = h->from;
    struct child *c = &s->child[k];
    const struct shm_node *sn = &s->run->node[k];
    int64_t done = atomic_load(&sn->requests_done);
    bool backed = c->alive && WIRE_INC(h->flags) == (uint16_t)c->incarnation &&
                  atomic_load(&sn->incarnation) == c->incarnation &&
                  atomic_load(&sn->workload_done) != 0 && h->f[0] == done;
    if (backed) {
        if (done >= c->quota)
            c->done = true;
        return;
    }
    struct shm_node *sup = &s->run->node[0];
    atomic_fetch_add(&sup->cnt[CNT_MALFORMED], 1);
    atomic_fetch_add(&sup->malformed_kind[WIRE_ERR_FROM], 1);
    /* As a node traces a malformed message: the claimed sender is not
     * trusted ("from" is null in `distlab trace`). */
    struct trace_rec r = {
        .ev = TR_DROP, .peer = (uint16_t)k, .type = h->type, .aux = WIRE_ERR_FROM, .key = h->f[0]};
    trace_emit(&s->tr, &r);
    if (s->false_claims++ == 0) {
        progress_clear(&s->prog);
        fprintf(stderr,
                "distlab: ignored a 'workload done' message for node %d that the cluster table "
                "does not back (incarnation %u, %lld requests claimed, %lld done); further "
                "ones are only counted\n",
                k, (unsigned)WIRE_INC(h->flags), (long long)h->f[0], (long long)done);
    }
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
        if (rc != 1 || h.from < 1 || h.from > s->procs)
            continue;
        struct child *c = &s->child[h.from];
        if (h.type == MSG_RT_READY && h.f[0] == c->incarnation) {
            c->ready = true;
        } else if (h.type == MSG_RT_DONE) {
            on_done_claim(s, &h);
        }
    }
    if (s->t_work < 0 && !s->stopping) {
        bool ready = true;
        for (int k = 1; k <= s->procs; k++)
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
    return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:b}", "node", k, "sent",
                     (json_int_t)atomic_load(&sn->cnt[CNT_SENT]), "recv",
                     (json_int_t)atomic_load(&sn->cnt[CNT_RECV]), "malformed",
                     (json_int_t)atomic_load(&sn->cnt[CNT_MALFORMED]), "queue_full",
                     (json_int_t)atomic_load(&sn->cnt[CNT_QUEUE_FULL]), "backlog_hwm",
                     (json_int_t)atomic_load(&sn->cnt[CNT_BACKLOG_HWM]), "dropped",
                     (json_int_t)atomic_load(&sn->cnt[CNT_DROPPED]), "incarnations",
                     s->child[k].incarnation, "crashes", s->child[k].crashes, "restart_given_up",
                     s->child[k].gave_up);
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
    json_t *gave_up = json_array();
    for (int k = 1; k <= s->n; k++)
        if (s->child[k].gave_up)
            json_array_append_new(gave_up, json_integer(k));
    for (int i = 0; i < s->nfired; i++) {
        const struct fired *fr = &s->fired[i];
        const struct fault_spec *f = &c->faults[fr->index];
        json_t *o = json_pack("{s:f, s:f, s:s, s:s}", "at_ms", (double)fr->at_us / 1000.0, "t_ms",
                              (double)(fr->t_us - s->t_work) / 1000.0, "action",
                              fault_action_name(f->action), "target", f->target_text);
        json_object_set_new(o, "node", fr->node ? json_integer(fr->node) : json_null());
        json_object_set_new(o, "number", json_integer(fr->index + 1));
        if (f->every_us > 0 || f->for_us > 0)
            json_object_set_new(o, "occurrence", json_integer(fr->rep));
        if (fr->undo)
            json_object_set_new(o, "undo", json_true());
        if (fr->skipped)
            json_object_set_new(o, "skipped", json_string(fr->why));
        json_array_append_new(faults, o);
    }
    /* Scheduled but never reached: listed, so a report never hides one,
     * and said at once, since the experiment did not happen as written. */
    int unplayed[CONFIG_MAX_FAULTS] = {0};
    for (int i = s->next_occ; i < s->nocc; i++)
        if (!s->occ[i].undo)
            unplayed[s->occ[i].index]++;
    for (int i = 0; i < c->nfaults; i++) {
        const struct fault_spec *f = &c->faults[i];
        if (!unplayed[i])
            continue;
        if (s->fired_of[i]) {
            fprintf(stderr,
                    "distlab: warning: fault.%d (%s %s): %d later occurrence%s not injected: "
                    "the run ended (%s) before %s due\n",
                    i + 1, fault_action_name(f->action), f->target_text, unplayed[i],
                    unplayed[i] == 1 ? " was" : "s were",
                    s->stop_reason ? s->stop_reason : "unknown",
                    unplayed[i] == 1 ? "it was" : "they were");
            continue;
        }
        fprintf(stderr,
                "distlab: warning: fault.%d (%s %s at %.3fs) was not injected: the run ended "
                "(%s) before it was due\n",
                i + 1, fault_action_name(f->action), f->target_text, (double)f->at_us / 1e6,
                s->stop_reason ? s->stop_reason : "unknown");
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
    /* Whether the workload ever started: a start-up failure leaves nothing
     * to verify. */
    json_object_set_new(o, "started", json_boolean(s->t_work >= 0));
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
    /* Nodes the supervisor stopped restarting (crash loop), and false
     * "workload done" claims it ignored (the supervisor's malformed
     * messages; the nodes' own are in per_node). */
    json_object_set_new(o, "restarts_given_up", gave_up);
    json_object_set_new(o, "supervisor_malformed",
                        json_integer((json_int_t)atomic_load(&s->run->node[0].cnt[CNT_MALFORMED])));
    json_object_set_new(o, "false_done_claims", json_integer((json_int_t)s->false_claims));
    /* On the trace's clock: where the workload (and faults' `at`) starts
     * and where the run began to stop. */
    json_object_set_new(o, "workload_start_us",
                        s->t_work >= 0 ? json_integer(s->t_work) : json_null());
    json_object_set_new(o, "stop_us", json_integer(end));
    if (s->fired_unlisted)
        json_object_set_new(o, "faults_unlisted", json_integer((json_int_t)s->fired_unlisted));
    /* Client processes (ids nodes+1 ..): how many, and each one's counters
     * and outcomes as it published them. */
    json_object_set_new(o, "clients", json_integer(s->clients));
    json_t *per_client = json_array();
    for (int i = 1; i <= s->clients; i++) {
        int k = s->n + i;
        const struct shm_node *sn = &s->run->node[k];
        json_t *pc = node_counters(s, k);
        json_object_del(pc, "node");
        json_object_set_new(pc, "client", json_integer(i));
        json_object_set_new(pc, "id", json_integer(k));
        json_object_set_new(pc, "quota", json_integer(s->child[k].quota));
        json_object_set_new(pc, "done", json_integer((json_int_t)atomic_load(&sn->requests_done)));
        json_object_set_new(pc, "ok", json_integer((json_int_t)atomic_load(&sn->ops_ok)));
        json_object_set_new(pc, "fail", json_integer((json_int_t)atomic_load(&sn->ops_fail)));
        json_object_set_new(pc, "timeout",
                            json_integer((json_int_t)atomic_load(&sn->ops_timeout)));
        json_array_append_new(per_client, pc);
    }
    json_object_set_new(o, "per_client", per_client);
    if (s->clients > 0)
        json_object_set_new(o, "requests_total", json_integer(c->requests));
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

/* The signals the supervisor takes through its signalfd: every signal
 * whose default action would end the launcher without a report and with
 * the segment and queues left behind, and SIGCHLD. Each is then an
 * ordinary loop event (see on_signal). Not here: SIGKILL and SIGSTOP,
 * which cannot be caught, and the signals of a program error (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS): the kernel delivers
 * those even when blocked, and a blocked one would hide the error from
 * the sanitizers; `distlab clean` removes what such a crash leaves. */
static void supervisor_signals(sigset_t *set)
{
    static const int sigs[] = {
        SIGCHLD, SIGINT,    SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,
        SIGPIPE, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO,   SIGPWR,  SIGSTKFLT,
    };
    sigemptyset(set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(set, sigs[i]);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        sigaddset(set, sig);
}

/* The requests each node must complete to be done: its share of the
 * workload, as the node runtime computes it (nodes/mutex_runtime.c). */
static void set_quotas(struct sup *s)
{
    const struct shm_params *p = &s->run->params;
    struct algo_env env;
    memset(&env, 0, sizeof env);
    env.n = s->n;
    env.seed = p->seed;
    env.coordinator = p->coordinator;
    env.coordinator_competes = p->coordinator_competes != 0;
    env.groups = p->groups;
    env.local_rounds = p->local_rounds;
    memcpy(env.group_of, p->group_of, sizeof env.group_of);
    if (s->clients > 0) {
        /* The clients share the requests; the nodes only serve. */
        for (int k = 1; k <= s->n; k++)
            s->child[k].quota = 0;
        for (int i = 1; i <= s->clients; i++)
            s->child[s->n + i].quota = (int)shm_client_quota(p->requests, s->clients, i);
        return;
    }
    for (int k = 1; k <= s->n; k++) {
        env.id = k;
        s->child[k].quota = p->requester[k] && s->ops->competes(&env, k) ? p->requests : 0;
    }
}

static int setup(struct sup *s, const struct run_opts *o)
{
    /* Signals first: a ^C during set-up is then an orderly stop that still
     * removes what was created, never a death that leaves IPC objects. */
    sigset_t set;
    supervisor_signals(&set);
    if ((s->sigfd = loop_signalfd_create(&set, s->err)) < 0)
        return s->sigfd;
    int rc = 0;
    if (o->node_exe)
        snprintf(s->exe, sizeof s->exe, "%s", o->node_exe);
    else
        rc = proc_self_exe(s->exe, sizeof s->exe);
    if (rc < 0)
        return dl_seterr(s->err, -rc, "cannot find my own executable: %s", strerror(-rc));
    if ((rc = make_rundir(s, o)) < 0)
        return rc;
    if ((rc = ipc_create(s)) < 0)
        return rc;
    if ((rc = trace_open(&s->tr, s->rundir, 0, 1, s->run->start_mono_us, s->err)) < 0)
        return rc;
    trace_set_max(&s->tr, (size_t)s->cfg->trace_max_size);
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
    set_quotas(s);
    if ((rc = timeline_init(s)) < 0)
        return rc;
    /* The network as [network] sets it, before any node starts. */
    if ((rc = net_init(s)) < 0)
        return rc;
    trace_sup(s, TR_START, 0, 0, (int)getpid(), 0);
    for (int k = 1; k <= s->procs; k++)
        if ((rc = spawn(s, k)) < 0)
            return rc;
    return 0;
}

static void teardown(struct sup *s)
{
    /* Whatever happened, no node outlives the run. */
    for (int k = 1; k <= s->procs; k++)
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
    netstate_free(s->net);
    s->net = NULL;
    free(s->occ);
    s->occ = NULL;
    free(s->fired);
    s->fired = NULL;
}

/* The run is over and written: signals act normally again. One that came
 * after the loop ended (while the report was written) is consumed first:
 * the run is over, and it must not end the process with a signal status
 * now that the work is done. */
static void unblock_signals(void)
{
    sigset_t set;
    supervisor_signals(&set);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
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
    s->clients = cfg->clients;
    s->procs = s->n + s->clients;
    s->ops = algo_find(cfg->algorithm);
    /* A replicated log takes commands from a shell too (`distlab client`). */
    s->slots = s->procs + (s->ops && s->ops->client ? DL_INTERACTIVE : 0);
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
    if (!o->quiet && !o->json && s->clients > 0)
        fprintf(stderr, "distlab: run %08x: %d nodes and %d client%s, %s, in %s\n", s->run_id,
                s->n, s->clients, s->clients == 1 ? "" : "s", cfg->algorithm, s->rundir);
    else if (!o->quiet && !o->json)
        fprintf(stderr, "distlab: run %08x: %d nodes, %s, in %s\n", s->run_id, s->n,
                cfg->algorithm, s->rundir);
    progress_init(&s->prog, STDERR_FILENO, !o->quiet && !o->json);
    schedule(s);
    rc = loop_run(&s->loop);
    progress_clear(&s->prog);
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
    if (failed)
        code = 2;
    else if (evidence_exit_code(rep) != 0)
        code = evidence_exit_code(rep); /* 1 unsafe, 2 cannot verify */
    else if (interrupted)
        code = 3;
    json_decref(rep);
    return code;
}
