/* What each fault of a run did, read from the trace.
 *
 * A fault is one of:
 *   - scheduled: a [fault.N] of the experiment; the supervisor's fault
 *     record carries N (a), run.json lists it (with `skipped` when it could
 *     not act, or when the run ended before it was due);
 *   - commanded: a supervisor fault record without a number (`distlab
 *     restart NODE`, `distlab partition`, `heal` and `net` go through the
 *     supervisor);
 *   - external: a crash, pause, resume or graceful stop the supervisor saw
 *     (it reaps every child) with no fault record that asked for it, e.g.
 *     `kill -9 PID` from another shell, or `distlab kill/pause/resume`,
 *     which signal the node directly.
 * Each fired fault gets a one-line outcome: whether its target was inside
 * the critical section, who was elected and when (a new coordinator or
 * leader in the role records), when a token was regenerated and with which
 * generation, and how long until another node entered the critical section.
 * Network faults (partition, heal, net, and the automatic undo of a
 * fault's `for`) change links rather than nodes: the TR_LINK records that
 * follow each fault record say which, and the receivers' drops with reason
 * partition or loss say what was lost on them (report_net_scan). Each such
 * fault's outcome names its links, what it set, the messages lost to it by
 * type and how long it lasted. report_stall then explains the requests
 * still waiting at the end by the messages to or from their nodes that were
 * lost after they asked. Everything is on the trace's clock
 * (report_int.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/proc.h"
#include "ipc/shm.h"
#include "ipc/wire.h"
#include "src/config.h"
#include "nodes/netfault.h"
#include "src/netspec.h"
#include "src/report_int.h"

static bool is_net_action(int action);

struct fev {
    int64_t t;  /* on the trace's clock; -1 when unknown (never fired) */
    size_t rec; /* index of its record in the trace (fired ones) */
    bool fired;
    const char *source; /* "schedule" | "command" | "external" */
    const char *action;
    int act;      /* enum fault_action, or -1 for an external "crash" */
    int node;     /* the node it acted on, 0 if none */
    json_t *spec; /* run.json's entry (scheduled faults), borrowed */
    int number;   /* [fault.N], 0 if none */
    int occurrence; /* of a repeated fault (1, 2, ...), 0 if none */
    bool undo;    /* the automatic undo of that occurrence (its `for`) */
    int signal;   /* external: the signal seen */
};

struct fev_list {
    struct fev *v;
    size_t n, cap;
};

static struct fev *fev_add(struct fev_list *l)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 16;
        struct fev *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return NULL;
        l->v = nv;
        l->cap = ncap;
    }
    struct fev *f = &l->v[l->n++];
    memset(f, 0, sizeof *f);
    f->t = -1;
    return f;
}

static bool is_coord_role(int role)
{
    return role == ROLE_COORDINATOR || role == ROLE_LEADER;
}

/* The generation a record shows, or -1: an entry's fencing generation, or
 * the key of an algorithm message when that key is a generation (token
 * rings: tokens and announcements of a new generation). *token: the
 * message is a token. */
static int64_t rec_gen(const struct run_info *ri, const struct trace_rec *e, bool *token)
{
    *token = false;
    if (e->ev == TR_ENTER)
        return e->b;
    if (e->ev != TR_SEND || e->type < MSG_RANGE_SIZE || !ri->ops || !ri->ops->token_msg)
        return -1;
    struct algo_msg m = {.type = e->type, .f = {e->key, 0, 0, 0}};
    int64_t gen;
    *token = ri->ops->token_msg(&m, &gen);
    if (*token)
        return gen;
    return ri->ops->key_field && strcmp(ri->ops->key_field, "gen") == 0 ? e->key : -1;
}

static json_t *spec_for(const json_t *faults, int number)
{
    size_t i;
    json_t *f;
    json_array_foreach(faults, i, f)
    {
        json_int_t num;
        if (get_int(f, "number", &num) && num == number)
            return f;
    }
    return NULL;
}

/* run.json's entry for an occurrence of a fault: the one that names that
 * occurrence, else the fault's first. */
static json_t *spec_for_occ(const json_t *faults, int number, int occurrence)
{
    size_t i;
    json_t *f;
    json_array_foreach(faults, i, f)
    {
        json_int_t num, occ;
        if (get_int(f, "number", &num) && num == number && get_int(f, "occurrence", &occ) &&
            occ == occurrence)
            return f;
    }
    return spec_for(faults, number);
}

void report_clock_find(const struct run_info *ri, const struct trace_rec *r, size_t nrec,
                       struct report_clock *clk)
{
    clk->workload_start_us = -1;
    clk->stop_us = -1;
    json_int_t v;
    if (get_int(ri->run, "workload_start_us", &v) && v >= 0 && v <= TRACE_T_MAX)
        clk->workload_start_us = v;
    if (get_int(ri->run, "stop_us", &v) && v >= 0 && v <= TRACE_T_MAX)
        clk->stop_us = v;
    if (json_is_true(json_object_get(ri->run, "simulated"))) {
        /* The simulator's workload starts at its time zero. */
        clk->workload_start_us = 0;
        clk->stop_us = json_time_us(json_number_value(json_object_get(ri->run, "duration_s")), 1e6);
        return;
    }
    if (clk->workload_start_us < 0) {
        /* Older run.json: a fired fault's t_ms is counted from the workload
         * start, its trace record from the run's. */
        const json_t *faults = json_object_get(ri->run, "faults");
        for (size_t i = 0; i < nrec && clk->workload_start_us < 0; i++) {
            if (r[i].ev != TR_FAULT || r[i].a < 1)
                continue;
            const json_t *f = spec_for(faults, (int)r[i].a);
            int64_t t = json_time_us(json_number_value(json_object_get(f, "t_ms")), 1e3);
            if (t >= 0 && t <= r[i].t_us)
                clk->workload_start_us = r[i].t_us - t;
        }
    }
    if (clk->stop_us < 0 && clk->workload_start_us >= 0) {
        int64_t d = json_time_us(json_number_value(json_object_get(ri->run, "duration_s")), 1e6);
        if (d > 0)
            clk->stop_us = clk->workload_start_us + d;
    }
}

/* Walk the trace once: every fault record, and every effect no fault asked
 * for, with the state of the run when each happened. */
static int collect(struct fev_list *l, const struct run_info *ri, const struct trace_rec *r,
                   size_t nrec, const struct report_clock *clk)
{
    const json_t *faults = json_object_get(ri->run, "faults");
    int n = ri->n;
    int *expect = calloc((size_t)n + 1, sizeof *expect); /* action + 1 awaited at node */
    if (!expect)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < nrec && rc == 0; i++) {
        const struct trace_rec *e = &r[i];
        bool after_stop = clk->stop_us >= 0 && e->t_us >= clk->stop_us;
        struct fev *f = NULL;
        int k = e->node;
        if (e->ev == TR_FAULT) {
            if (!(f = fev_add(l))) {
                rc = -1;
                break;
            }
            f->number = (int)e->a;
            f->occurrence = e->b > 0 && e->b <= INT32_MAX ? (int)e->b : 0;
            f->undo = e->c == 1;
            f->spec = e->a > 0 ? spec_for_occ(faults, (int)e->a, f->occurrence) : NULL;
            f->source = e->a > 0 ? "schedule" : "command";
            f->act = e->aux;
            f->action = fault_action_name(e->aux);
            f->node = e->peer <= n ? e->peer : 0;
            if (f->node)
                expect[f->node] = e->aux + 1;
        } else if (k >= 1 && k <= n && !after_stop &&
                   (e->ev == TR_CRASH || e->ev == TR_PAUSE || e->ev == TR_RESUME ||
                    (e->ev == TR_STOP && e->aux != 0))) {
            int want = e->ev == TR_PAUSE    ? FAULT_PAUSE
                       : e->ev == TR_RESUME ? FAULT_RESUME
                       : e->ev == TR_STOP   ? FAULT_TERMINATE
                                            : FAULT_KILL;
            int asked = expect[k] - 1;
            bool explained = asked == want || (want == FAULT_KILL && asked == FAULT_RESTART);
            if (explained) {
                expect[k] = 0;
            } else {
                if (!(f = fev_add(l))) {
                    rc = -1;
                    break;
                }
                f->source = "external";
                f->node = k;
                f->signal = e->aux;
                f->act = e->ev == TR_CRASH && e->aux != SIGKILL ? -1 : want;
                f->action = f->act < 0 ? "crash" : fault_action_name(want);
            }
        }
        if (f) {
            f->t = e->t_us;
            f->rec = i;
            f->fired = true;
        }
    }
    free(expect);
    if (rc < 0)
        return rc;
    /* Scheduled faults that have no record: the run ended before they were
     * due (run.json says so). */
    size_t i;
    json_t *spec;
    json_array_foreach(faults, i, spec)
    {
        json_int_t num;
        if (!get_int(spec, "number", &num))
            continue;
        bool seen = false;
        for (size_t j = 0; j < l->n && !seen; j++)
            seen =
                l->v[j].fired && l->v[j].number == num && strcmp(l->v[j].source, "schedule") == 0;
        if (seen)
            continue;
        struct fev *f = fev_add(l);
        if (!f)
            return -1;
        f->source = "schedule";
        f->spec = spec;
        f->number = (int)num;
        f->action = json_string_value(json_object_get(spec, "action"));
        f->act = -1;
        int64_t at = json_time_us(json_number_value(json_object_get(spec, "at_ms")), 1e3);
        if (clk->workload_start_us >= 0 && at >= 0)
            f->t = clk->workload_start_us + at;
    }
    return 0;
}

static int cmp_fev(const void *x, const void *y)
{
    const struct fev *a = x, *b = y;
    /* Unfired ones with an unknown time go last. */
    int64_t ta = a->t < 0 ? INT64_MAX : a->t, tb = b->t < 0 ? INT64_MAX : b->t;
    return (ta > tb) - (ta < tb);
}

static double ms(int64_t us)
{
    return (double)us / 1000.0;
}

#define APPEND(...)                                                                                \
    do {                                                                                           \
        if (len < cap)                                                                             \
            len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__);                            \
    } while (0)

/* The run's state as one pass over the trace sees it. */
struct state {
    bool *inside;  /* [node]: in the CS with an entry the resource accepted */
    bool *waiting; /* [node]: a request not yet answered */
    bool *coord;   /* [node]: has reported a coordinator or leader role */
    int64_t coord_term, max_gen;
};

static void state_step(struct state *st, const struct run_info *ri, const struct trace_rec *e)
{
    int k = e->node;
    if (k < 1 || k > ri->n)
        return;
    switch (e->ev) {
    case TR_REQUEST: st->waiting[k] = true; break;
    case TR_ENTER:
        st->waiting[k] = false;
        st->inside[k] = e->aux == RES_OK || e->aux == RES_SUPERSEDED;
        break;
    case TR_EXIT: st->inside[k] = false; break;
    case TR_CRASH: st->inside[k] = st->waiting[k] = st->coord[k] = false; break;
    case TR_STOP:
        if (e->aux)
            st->inside[k] = st->waiting[k] = false;
        break;
    case TR_ROLE:
        if (is_coord_role(e->aux)) {
            st->coord[k] = true;
            if (e->key > st->coord_term)
                st->coord_term = e->key;
        }
        break;
    default: break;
    }
    bool token;
    int64_t g = rec_gen(ri, e, &token);
    if (g > st->max_gen)
        st->max_gen = g;
}

/* Are the others (all but node k) stalled: somebody waiting, nobody in? */
static bool stalled(const struct state *st, int n, int k)
{
    bool wait = false;
    for (int j = 1; j <= n; j++) {
        if (j == k)
            continue;
        if (st->inside[j])
            return false;
        wait = wait || st->waiting[j];
    }
    return wait;
}

/* The outcome of fault f, from passes over the trace: the state when it
 * fired, then what followed until until_t (the next fault, or -1: end_t, the
 * end of the run).
 * Fills o's structured keys and buf. */
static int outcome(const struct fev *f, const struct run_info *ri, const struct trace_rec *r,
                   size_t nrec, int64_t until_t, int64_t end_t, json_t *o, bool *bad, char *buf,
                   size_t cap)
{
    int n = ri->n, k = f->node;
    struct state st = {.inside = calloc((size_t)n + 1, sizeof(bool)),
                       .waiting = calloc((size_t)n + 1, sizeof(bool)),
                       .coord = calloc((size_t)n + 1, sizeof(bool)),
                       .coord_term = INT64_MIN,
                       .max_gen = -1};
    if (!st.inside || !st.waiting || !st.coord) {
        free(st.inside);
        free(st.waiting);
        free(st.coord);
        return -1;
    }
    size_t len = 0;
    buf[0] = '\0';
    size_t i = 0;
    for (; i < f->rec; i++)
        state_step(&st, ri, &r[i]);
    /* A replicated log has no critical section: its outcome is who was
     * elected (the Raft report adds whether the node was the leader). */
    if (k && !ri->raft)
        APPEND("node %d was %s the critical section", k, st.inside[k] ? "inside" : "not in");
    bool had_coord = st.coord_term != INT64_MIN;
    int64_t coord_term = st.coord_term, gen0 = st.max_gen;
    bool *was_coord = malloc(((size_t)n + 1) * sizeof(bool));
    if (!was_coord) {
        free(st.inside);
        free(st.waiting);
        free(st.coord);
        return -1;
    }
    memcpy(was_coord, st.coord, ((size_t)n + 1) * sizeof(bool));
    bool elected = false, regen = false, back = false, refused = false, entered = false;
    bool paused = false;
    int64_t recover = f->t; /* when the others had done what they do about it */
    for (; i < nrec; i++) {
        const struct trace_rec *e = &r[i];
        bool bounded = until_t < 0 || e->t_us < until_t;
        if (bounded && k && e->ev == TR_PEER_DOWN && e->peer == k && e->t_us > recover)
            recover = e->t_us; /* the others gave up on it */
        if (!elected && bounded && had_coord && e->ev == TR_ROLE && is_coord_role(e->aux) &&
            e->node >= 1 && e->node <= n && (!was_coord[e->node] || e->key > coord_term)) {
            elected = true;
            if (e->t_us > recover)
                recover = e->t_us;
            APPEND("%snode %d became %s (term %lld) at %.3f ms, %.3f ms later", len ? "; " : "",
                   e->node, algo_role_name(e->aux), (long long)e->key, ms(e->t_us),
                   ms(e->t_us - f->t));
            put(o, "elected",
                json_pack("{s:i, s:I, s:o}", "node", e->node, "term", (json_int_t)e->key, "at_ms",
                          us_to_ms(e->t_us)),
                bad);
        }
        bool token;
        int64_t g = rec_gen(ri, e, &token);
        if (!regen && bounded && ri->ops && ri->ops->token_msg && gen0 >= 0 && g > gen0) {
            regen = true;
            if (e->t_us > recover)
                recover = e->t_us;
            char hex[16];
            APPEND("%snode %d regenerated the token: generation %lld, first seen in its %s "
                   "at %.3f ms, %.3f ms later",
                   len ? "; " : "", e->node, (long long)g,
                   e->ev == TR_ENTER ? "entry"
                                     : report_type_name(ri->ops, e->type, hex, sizeof hex),
                   ms(e->t_us), ms(e->t_us - f->t));
            put(o, "regenerated",
                json_pack("{s:i, s:I, s:o}", "node", e->node, "gen", (json_int_t)g, "at_ms",
                          us_to_ms(e->t_us)),
                bad);
        }
        /* A paused node is back at the supervisor's resume record, or at its
         * own first record after the pause if that comes first (the
         * supervisor learns of a SIGCONT through SIGCHLD, a little later). */
        if (k && e->node == k && e->ev == TR_PAUSE)
            paused = true;
        if (!back && k && e->node == k &&
            ((f->act == FAULT_PAUSE && paused &&
              (e->ev == TR_RESUME || !(e->ev == TR_CRASH || e->ev == TR_RESTART ||
                                       e->ev == TR_PAUSE || e->ev == TR_STOP))) ||
             ((f->act == FAULT_KILL || f->act == FAULT_RESTART || f->act < 0) &&
              e->ev == TR_RESTART))) {
            back = true;
            APPEND("%s%s at %.3f ms (%.3f ms later)", len ? "; " : "",
                   f->act == FAULT_PAUSE ? "resumed" : "restarted", ms(e->t_us),
                   ms(e->t_us - f->t));
        }
        if (!refused && k && e->node == k && f->act == FAULT_RESUME &&
            ((e->ev == TR_EXIT || e->ev == TR_ENTER) && e->aux == RES_FENCED)) {
            refused = true;
            APPEND("%sfencing refused its stale %s at %.3f ms", len ? "; " : "",
                   e->ev == TR_EXIT ? "write" : "entry", ms(e->t_us));
        }
        if (e->ev == TR_ENTER && e->node != k && (e->aux == RES_OK || e->aux == RES_SUPERSEDED))
            entered = true;
    }
    /* The stall: the longest stretch, from the fault until the first entry
     * by another node after the others recovered (gave up on the node,
     * elected, regenerated), during which somebody else waited and nobody
     * else was inside. */
    int64_t window_end = -1;
    for (size_t j = f->rec + 1; j < nrec && window_end < 0; j++)
        if (r[j].ev == TR_ENTER && r[j].node != k && r[j].t_us >= recover &&
            (r[j].aux == RES_OK || r[j].aux == RES_SUPERSEDED))
            window_end = r[j].t_us;
    int64_t bound = until_t >= 0 ? until_t : end_t;
    if (window_end < 0 || window_end > bound)
        window_end = bound;
    memset(st.inside, 0, ((size_t)n + 1) * sizeof(bool));
    memset(st.waiting, 0, ((size_t)n + 1) * sizeof(bool));
    /* In the window, and (tail) a stall that lasted to the bound: the
     * others never got in again (a partition, a lost token never
     * regenerated). */
    int64_t stall_from = -1, stall_best = -1, stall_at = -1, tail_from = -1;
    for (size_t j = 0; j < nrec && r[j].t_us <= bound; j++) {
        state_step(&st, ri, &r[j]);
        if (j < f->rec)
            continue;
        bool now = stalled(&st, n, k);
        if (now && tail_from < 0)
            tail_from = r[j].t_us;
        else if (!now)
            tail_from = -1;
        if (r[j].t_us > window_end)
            continue;
        if (now && stall_from < 0)
            stall_from = r[j].t_us;
        if ((!now || r[j].t_us == window_end) && stall_from >= 0) {
            if (r[j].t_us - stall_from > stall_best) {
                stall_best = r[j].t_us - stall_from;
                stall_at = stall_from;
            }
            stall_from = -1;
        }
    }
    if (ri->raft)
        goto out;
    if (!entered)
        APPEND("%sno %snode entered the critical section after it", len ? "; " : "",
               k ? "other " : "");
    const char *others = k ? "the others" : "nodes";
    if (tail_from >= 0 && bound - tail_from > stall_best) {
        APPEND("%s%s waited with nobody inside from %.3f ms until %s at %.3f ms "
               "(%.3f ms)",
               len ? "; " : "", others, ms(tail_from),
               until_t >= 0 ? "the next fault" : "the run ended", ms(bound),
               ms(bound - tail_from));
        put(o, "stall_ms", us_to_ms(bound - tail_from), bad);
    } else if (stall_best >= 0) {
        APPEND("%s%s waited with nobody inside for up to %.3f ms (from %.3f ms)",
               len ? "; " : "", others, ms(stall_best), ms(stall_at));
        put(o, "stall_ms", us_to_ms(stall_best), bad);
    } else {
        put(o, "stall_ms", json_null(), bad);
    }
out:
    free(was_coord);
    free(st.inside);
    free(st.waiting);
    free(st.coord);
    return 0;
}

/* "(request 2, grant 1)": a fault's lost messages by type, into buf; and
 * as JSON {"messages": N, "by_type": {...}}. */
static json_t *lost_json(const struct net_fault *nf, long total, const struct run_info *ri,
                         char *buf, size_t cap, bool *bad)
{
    size_t len = 0;
    buf[0] = '\0';
    json_t *by = json_object();
    for (int i = 0; i < nf->nlost; i++) {
        char hex[16];
        const char *tn = report_type_name(ri->ops, nf->lost[i].type, hex, sizeof hex);
        put(by, tn, json_integer(nf->lost[i].n), bad);
        APPEND("%s%s %ld", i ? ", " : " (", tn, nf->lost[i].n);
    }
    if (nf->nlost)
        APPEND(")");
    return json_pack("{s:I, s:o}", "messages", (json_int_t)total, "by_type", by);
}

/* How a network fault's effect ended, for its outcome and JSON. */
static void net_ended(const struct net_fault *nf, const struct report_net *net, int64_t end_t,
                      json_t *o, bool *bad, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    char lb[64];
    if (nf->ended_t >= 0) {
        const struct net_fault *by = nf->ended_by >= 0 ? &net->f[nf->ended_by] : NULL;
        report_net_label(net, nf->ended_by, lb, sizeof lb);
        if (by && by->undo)
            APPEND("lasted %.3f ms: %s automatically at %.3f ms",
                   ms(nf->ended_t - nf->t), by->action == FAULT_HEAL ? "healed" : "restored",
                   ms(nf->ended_t));
        else
            APPEND("lasted %.3f ms: %s at %.3f ms by %s%s%s", ms(nf->ended_t - nf->t),
                   by && by->action == FAULT_HEAL ? "healed" : "replaced", ms(nf->ended_t),
                   by ? fault_action_name(by->action) : "", by ? ", " : "", lb);
        put(o, "ended_ms", us_to_ms(nf->ended_t), bad);
        put(o, "lasted_ms", us_to_ms(nf->ended_t - nf->t), bad);
        put(o, "ended_by", json_string(lb), bad);
    } else {
        int64_t d = end_t > nf->t ? end_t - nf->t : 0;
        APPEND("still in force when the run ended (%.3f ms after it)", ms(d));
        put(o, "ended_ms", json_null(), bad);
        put(o, "lasted_ms", us_to_ms(d), bad);
        put(o, "until_end", json_true(), bad);
    }
}

/* What a network fault did: the links it cut, healed or changed, what was
 * lost to it and how long it lasted. Sets o's target and network keys. */
static void net_outcome(const struct net_fault *nf, const struct report_net *net,
                        const struct run_info *ri, int64_t end_t, json_t *o, bool *bad,
                        char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    char desc[256], lost[256], ended[256];
    bool cutting = nf->action == FAULT_PARTITION && !nf->undo;
    if (!net->link_records) {
        /* A trace without link records (an older writer): which links the
         * fault changed is not known, so nothing is said about them. */
        APPEND("the trace does not record which links it changed");
        return;
    }
    report_net_describe(nf, ri->n, cutting, desc, sizeof desc);
    put(o, "target", json_string(desc), bad);
    put(o, "links", json_string(desc), bad);
    put(o, "links_changed", json_integer((json_int_t)nf->nlinks), bad);
    if (cutting) {
        put(o, "links_cut", json_integer(nf->ncut), bad);
        if (nf->ncut == 0)
            APPEND("cut no link that was not cut already");
        else
            APPEND("cut %d link%s (%s)", nf->ncut, plural(nf->ncut), desc);
        put(o, "lost", lost_json(nf, nf->lost_partition, ri, lost, sizeof lost, bad), bad);
        if (nf->lost_partition)
            APPEND("; %ld message%s lost to it%s", nf->lost_partition,
                   plural(nf->lost_partition), lost);
        else
            APPEND("; no message was lost to it");
        if (nf->ncut) {
            net_ended(nf, net, end_t, o, bad, ended, sizeof ended);
            APPEND("; %s", ended);
        }
        return;
    }
    if (nf->action == FAULT_HEAL) {
        put(o, "links_restored", json_integer(nf->nrestored), bad);
        if (nf->undo)
            APPEND("healed automatically: ");
        if (nf->nrestored)
            APPEND("%d cut link%s restored (%s)", nf->nrestored, plural(nf->nrestored), desc);
        else
            APPEND("no link was cut");
        return;
    }
    if (nf->undo) {
        APPEND("restored automatically: ");
        if (nf->nlinks)
            APPEND("%zu link%s back to their settings before it (%s)", nf->nlinks,
                   plural((long)nf->nlinks), desc);
        else
            APPEND("no link had to change");
        return;
    }
    /* A net fault: what it set, when all the links it changed agree. */
    if (nf->nlinks == 0) {
        APPEND("no link changed (they had these settings already)");
        return;
    }
    /* What it set: the settings that changed on some link, each when every
     * link it changed got the same value. */
    bool chg[3] = {false, false, false}, same[3] = {true, true, true};
    const struct net_link_change *c0 = &nf->link[0];
    for (size_t k = 0; k < nf->nlinks; k++) {
        const struct net_link_change *c = &nf->link[k];
        chg[0] = chg[0] || c->loss_ppm != c->was_loss_ppm;
        chg[1] = chg[1] || c->delay_us != c->was_delay_us;
        chg[2] = chg[2] || c->jitter_us != c->was_jitter_us;
        same[0] = same[0] && c->loss_ppm == c0->loss_ppm;
        same[1] = same[1] && c->delay_us == c0->delay_us;
        same[2] = same[2] && c->jitter_us == c0->jitter_us;
    }
    json_t *set = json_object();
    APPEND("set");
    const char *sep = " ";
    if (chg[0] && same[0]) {
        APPEND("%sloss %.3f", sep, (double)c0->loss_ppm / NET_PPM);
        put(set, "loss", json_real((double)c0->loss_ppm / NET_PPM), bad);
        sep = ", ";
    }
    if (chg[1] && same[1]) {
        APPEND("%sdelay %.3f ms", sep, ms(c0->delay_us));
        put(set, "delay_ms", json_real(ms(c0->delay_us)), bad);
        sep = ", ";
    }
    if (chg[2] && same[2]) {
        APPEND("%sjitter %.3f ms", sep, ms(c0->jitter_us));
        put(set, "jitter_ms", json_real(ms(c0->jitter_us)), bad);
        sep = ", ";
    }
    static const char *const what[3] = {"loss", "delay", "jitter"};
    for (int x = 0; x < 3; x++)
        if (chg[x] && !same[x]) {
            APPEND("%s%s (not alike on all links)", sep, what[x]);
            sep = ", ";
        }
    APPEND(" on %zu link%s (%s)", nf->nlinks, plural((long)nf->nlinks), desc);
    put(o, "set", set, bad);
    put(o, "lost", lost_json(nf, nf->lost_loss, ri, lost, sizeof lost, bad), bad);
    if (nf->lost_loss)
        APPEND("; %ld message%s lost to loss while it was in force%s", nf->lost_loss,
               plural(nf->lost_loss), lost);
    else
        APPEND("; no message was lost to loss while it was in force");
    if (nf->nparams) {
        net_ended(nf, net, end_t, o, bad, ended, sizeof ended);
        APPEND("; %s", ended);
    }
}

json_t *report_faults_json(const struct run_info *ri, const struct trace_rec *recs, size_t nrec,
                           const struct report_clock *clk, const struct report_net *net,
                           json_t *warnings)
{
    struct fev_list l = {0};
    if (collect(&l, ri, recs, nrec, clk) < 0) {
        free(l.v);
        return NULL;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, cmp_fev);
    bool bad = false;
    json_t *arr = json_array();
    int64_t end = clk->stop_us >= 0 ? clk->stop_us : (nrec ? recs[nrec - 1].t_us : 0);
    for (size_t i = 0; i < l.n && arr; i++) {
        const struct fev *f = &l.v[i];
        json_t *o = json_object();
        /* An undo did what its fault's `for` said, whatever run.json says
         * of the fault itself. */
        const char *skipped =
            f->undo ? NULL : json_string_value(json_object_get(f->spec, "skipped"));
        put(o, "at_ms", f->t >= 0 ? us_to_ms(f->t) : json_null(), &bad);
        put(o, "action", f->action ? json_string(f->action) : json_null(), &bad);
        if (f->spec)
            put(o, "target", copy_key(f->spec, "target"), &bad);
        else
            put(o, "target", f->node ? json_integer(f->node) : json_null(), &bad);
        if (f->spec && f->fired && f->act >= 0 && is_net_action(f->act))
            put(o, "target_spec", copy_key(f->spec, "target"), &bad);
        put(o, "node", f->node ? json_integer(f->node) : json_null(), &bad);
        put(o, "source", json_string(f->source), &bad);
        if (f->number > 0) {
            put(o, "number", json_integer(f->number), &bad);
            /* What the experiment said: `at`, from the workload start. */
            put(o, "scheduled_ms", copy_key(f->spec, "at_ms"), &bad);
            char lb[64];
            put(o, "label",
                json_string(report_fault_label(net, f->number, f->occurrence, lb, sizeof lb)),
                &bad);
        }
        if (f->occurrence > 0)
            put(o, "occurrence", json_integer(f->occurrence), &bad);
        if (f->undo)
            put(o, "undo", json_true(), &bad);
        if (f->signal && strcmp(f->source, "external") == 0)
            put(o, "signal", json_string(proc_signame(f->signal)), &bad);
        char line[1536];
        if (skipped || !f->fired) {
            const char *why = skipped ? skipped : "it never fired";
            put(o, "skipped", json_string(why), &bad);
            snprintf(line, sizeof line, "skipped: %s", why);
            put(o, "outcome", json_string(line), &bad);
            char w[768];
            char due[64] = "";
            if (f->t >= 0)
                snprintf(due, sizeof due, " at %.3f ms", ms(f->t));
            const char *tg = json_string_value(json_object_get(f->spec, "target"));
            if (!tg)
                tg = "";
            bool is_node = tg[0] && strspn(tg, "0123456789") == strlen(tg);
            snprintf(w, sizeof w, "fault %d (%s %s%s%s) did not act: %s", f->number,
                     f->action ? f->action : "?", is_node ? "node " : "", tg, due, why);
            json_array_append_new(warnings, json_string(w));
        } else {
            int64_t until = -1;
            for (size_t j = i + 1; j < l.n; j++)
                if (l.v[j].fired) {
                    until = l.v[j].t;
                    break;
                }
            const struct net_fault *nf =
                strcmp(f->source, "external") != 0 ? report_net_fault_at(net, f->rec) : NULL;
            char head[768] = "", rest[768] = "";
            if (nf)
                net_outcome(nf, net, ri, end, o, &bad, head, sizeof head);
            else if (f->undo && f->act == FAULT_RESUME)
                snprintf(head, sizeof head, "resumed automatically");
            /* The generic part (who was inside, stalls) says nothing about
             * a heal or an undo of the network. */
            bool generic = !nf || (!nf->undo && nf->action != FAULT_HEAL);
            if (generic &&
                outcome(f, ri, recs, nrec, until, end, o, &bad, rest, sizeof rest) < 0)
                bad = true;
            snprintf(line, sizeof line, "%s%s%s", head, head[0] && rest[0] ? "; " : "", rest);
            put(o, "outcome", json_string(line), &bad);
        }
        if (json_array_append_new(arr, o) < 0)
            bad = true;
    }
    free(l.v);
    if (bad) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* ---- the network ---- */

const char *report_drop_reason(int aux)
{
    switch (aux) {
    case 0: return "network";
    case WIRE_DROP_STALE: return "stale_incarnation";
    case WIRE_DROP_SEND: return "send_refused";
    case WIRE_DROP_PARTITION: return "partition";
    case WIRE_DROP_LOSS: return "loss";
    default: return wire_err_name(aux);
    }
}

json_t *report_drops_json(const struct trace_rec *recs, size_t nrec)
{
    bool bad = false;
    json_t *o = json_object();
    put(o, "partition", json_integer(0), &bad);
    put(o, "loss", json_integer(0), &bad);
    for (size_t i = 0; i < nrec && !bad; i++) {
        if (recs[i].ev != TR_DROP)
            continue;
        const char *why = report_drop_reason(recs[i].aux);
        json_int_t n = json_integer_value(json_object_get(o, why));
        put(o, why, json_integer(n + 1), &bad);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A link's state as the trace's TR_LINK records left it, and which
 * network fault each part of it is owed to (-1: none, or the run's
 * [network] settings). */
struct link_state {
    bool cut;
    uint32_t loss, delay, jitter;
    long cut_by, last_cut_by, set_by;
    long loss_by; /* who set its loss */
};

static struct net_fault *nf_add(struct report_net *net)
{
    if (net->n == net->cap) {
        size_t ncap = net->cap ? 2 * net->cap : 16;
        struct net_fault *nv = realloc(net->f, ncap * sizeof *nv);
        if (!nv)
            return NULL;
        net->f = nv;
        net->cap = ncap;
    }
    struct net_fault *f = &net->f[net->n++];
    memset(f, 0, sizeof *f);
    f->ended_t = -1;
    f->ended_by = -1;
    return f;
}

static int link_add(struct net_fault *f, const struct net_link_change *c)
{
    if (f->nlinks == f->caplinks) {
        size_t ncap = f->caplinks ? 2 * f->caplinks : 8;
        struct net_link_change *nv = realloc(f->link, ncap * sizeof *nv);
        if (!nv)
            return -1;
        f->link = nv;
        f->caplinks = ncap;
    }
    f->link[f->nlinks++] = *c;
    return 0;
}

static int lost_add(struct net_fault *f, uint16_t type)
{
    for (int i = 0; i < f->nlost; i++)
        if (f->lost[i].type == type) {
            f->lost[i].n++;
            return 0;
        }
    if (f->nlost == f->caplost) {
        int ncap = f->caplost ? 2 * f->caplost : 4;
        struct net_lost *nv = realloc(f->lost, (size_t)ncap * sizeof *nv);
        if (!nv)
            return -1;
        f->lost = nv;
        f->caplost = ncap;
    }
    f->lost[f->nlost++] = (struct net_lost){.type = type, .n = 1};
    return 0;
}

static int drop_add(struct report_net *net, const struct net_drop *d)
{
    if (net->nd == net->capd) {
        size_t ncap = net->capd ? 2 * net->capd : 64;
        struct net_drop *nv = realloc(net->d, ncap * sizeof *nv);
        if (!nv)
            return -1;
        net->d = nv;
        net->capd = ncap;
    }
    net->d[net->nd++] = *d;
    return 0;
}

/* One of fault `owner`'s cuts or settings is undone or replaced at t by
 * fault `by`. */
static void effect_ends(struct report_net *net, long owner, long by, int64_t t)
{
    if (owner < 0)
        return;
    struct net_fault *f = &net->f[owner];
    if (f->remaining > 0 && --f->remaining == 0) {
        f->ended_t = t;
        f->ended_by = by;
    }
}

static bool is_net_action(int action)
{
    return action == FAULT_PARTITION || action == FAULT_HEAL || action == FAULT_NET;
}

static uint32_t clamp_u32(int64_t v)
{
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The occurrence an undo record undoes: the latest earlier record of the
 * same fault and occurrence that is not an undo. */
static long undone(const struct report_net *net, long u)
{
    const struct net_fault *f = &net->f[u];
    for (long i = u - 1; i >= 0; i--)
        if (!net->f[i].undo && net->f[i].number == f->number &&
            net->f[i].occurrence == f->occurrence)
            return i;
    return -1;
}

int report_net_scan(struct report_net *net, const struct run_info *ri,
                    const struct trace_rec *r, size_t nrec)
{
    memset(net, 0, sizeof *net);
    int n = ri->n;
    size_t w = (size_t)n + 1;
    struct link_state *ls = calloc(w * w, sizeof *ls);
    if (!ls)
        return -1;
    for (size_t i = 0; i < w * w; i++)
        ls[i].cut_by = ls[i].last_cut_by = ls[i].set_by = ls[i].loss_by = -1;
    long cur = -1;     /* the network fault whose TR_LINK records come next */
    long cur_of = -1;  /* for an undo: the occurrence it undoes */
    size_t cursor = 0; /* where in cur_of's links the last one was found */
    int rc = 0;
    for (size_t i = 0; i < nrec && rc == 0; i++) {
        const struct trace_rec *e = &r[i];
        if (e->ev == TR_FAULT) {
            if (e->a > 0 && e->a < (int64_t)sizeof net->repeated && e->b > 1)
                net->repeated[e->a] = 1;
            cur = -1;
            if (!is_net_action(e->aux))
                continue;
            struct net_fault *f = nf_add(net);
            if (!f) {
                rc = -1;
                break;
            }
            net->any = true;
            f->rec = i;
            f->t = e->t_us;
            f->action = e->aux;
            f->number = e->a > 0 && e->a <= INT32_MAX ? (int)e->a : 0;
            f->occurrence = e->b > 0 && e->b <= INT32_MAX ? (int)e->b : 0;
            f->undo = e->c == 1;
            cur = (long)net->n - 1;
            cur_of = f->undo ? undone(net, cur) : -1;
            cursor = 0;
        } else if (e->ev == TR_LINK) {
            net->any = true;
            net->link_records = true;
            int a = e->peer;
            int64_t b = e->key;
            if (a < 1 || a > n || b < 1 || b > n || a == b)
                continue;
            struct link_state *L = &ls[(size_t)a * w + (size_t)b];
            struct net_link_change c = {.from = (uint16_t)a, .to = (uint16_t)b,
                                        .cut = e->aux != 0, .was_cut = L->cut,
                                        .loss_ppm = clamp_u32(e->a), .delay_us = clamp_u32(e->b),
                                        .jitter_us = clamp_u32(e->c), .was_loss_ppm = L->loss,
                                        .was_delay_us = L->delay, .was_jitter_us = L->jitter,
                                        .prev_set_by = L->set_by,
                                        .prev_loss_by = L->loss_by};
            bool params = c.loss_ppm != L->loss || c.delay_us != L->delay ||
                          c.jitter_us != L->jitter;
            if (cur >= 0) {
                struct net_fault *f = &net->f[cur];
                if (link_add(f, &c) < 0) {
                    rc = -1;
                    break;
                }
                if (c.cut && !L->cut) {
                    f->ncut++;
                    f->remaining++;
                    L->cut_by = L->last_cut_by = cur;
                } else if (!c.cut && L->cut) {
                    f->nrestored++;
                    effect_ends(net, L->cut_by, cur, e->t_us);
                    L->cut_by = -1;
                }
                if (params) {
                    f->nparams++;
                    long prev = L->set_by;
                    if (prev != cur)
                        effect_ends(net, prev, cur, e->t_us);
                    if (f->undo) {
                        /* The settings before the undone fault are back:
                         * whoever set them owns them again. */
                        long back = -1, back_loss = -1;
                        if (cur_of >= 0) {
                            const struct net_fault *o = &net->f[cur_of];
                            for (size_t k = 0; k < o->nlinks; k++) {
                                size_t j = (cursor + k) % o->nlinks;
                                if (o->link[j].from == a && o->link[j].to == b) {
                                    back = o->link[j].prev_set_by;
                                    back_loss = o->link[j].prev_loss_by;
                                    cursor = j + 1;
                                    break;
                                }
                            }
                        }
                        L->set_by = back;
                        if (c.loss_ppm != L->loss)
                            L->loss_by = back_loss;
                    } else {
                        if (prev != cur) {
                            L->set_by = cur;
                            f->remaining++;
                        }
                        if (c.loss_ppm != L->loss)
                            L->loss_by = cur;
                    }
                }
            }
            L->cut = c.cut;
            L->loss = c.loss_ppm;
            L->delay = c.delay_us;
            L->jitter = c.jitter_us;
        } else if (e->ev == TR_DROP && (e->aux == WIRE_DROP_PARTITION ||
                                        e->aux == WIRE_DROP_LOSS || e->aux == 0)) {
            net->any = true;
            int from = e->peer, to = e->node;
            if (from < 1 || from > n || to < 1 || to > n)
                continue;
            const struct link_state *L = &ls[(size_t)from * w + (size_t)to];
            struct net_drop d = {.rec = i, .partition = e->aux == WIRE_DROP_PARTITION,
                                 .network = e->aux == 0, .loss_ppm = L->loss,
                                 .loss_by = L->loss_by};
            d.fault = d.network     ? -1
                      : d.partition ? (L->cut_by >= 0 ? L->cut_by : L->last_cut_by)
                                    : L->set_by;
            if (drop_add(net, &d) < 0) {
                rc = -1;
                break;
            }
            if (d.fault >= 0) {
                struct net_fault *f = &net->f[d.fault];
                if (d.partition)
                    f->lost_partition++;
                else
                    f->lost_loss++;
                if (lost_add(f, e->type) < 0)
                    rc = -1;
            }
        }
    }
    free(ls);
    if (rc < 0)
        report_net_free(net);
    return rc;
}

void report_net_free(struct report_net *net)
{
    for (size_t i = 0; i < net->n; i++) {
        free(net->f[i].link);
        free(net->f[i].lost);
    }
    free(net->f);
    free(net->d);
    memset(net, 0, sizeof *net);
}

const struct net_fault *report_net_fault_at(const struct report_net *net, size_t rec)
{
    size_t lo = 0, hi = net->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (net->f[mid].rec < rec)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < net->n && net->f[lo].rec == rec ? &net->f[lo] : NULL;
}

const char *report_fault_label(const struct report_net *net, int number, int occurrence,
                               char *buf, size_t cap)
{
    bool repeated = number <= 0 || number >= (int)sizeof net->repeated || net->repeated[number];
    if (number <= 0)
        snprintf(buf, cap, "a command");
    else if (repeated && occurrence > 0)
        snprintf(buf, cap, "fault.%d #%d", number, occurrence);
    else
        snprintf(buf, cap, "fault.%d", number);
    return buf;
}

const char *report_net_label(const struct report_net *net, long i, char *buf, size_t cap)
{
    if (i < 0 || (size_t)i >= net->n) {
        snprintf(buf, cap, "the [network] settings");
        return buf;
    }
    return report_fault_label(net, net->f[i].number, net->f[i].occurrence, buf, cap);
}

void report_net_describe(const struct net_fault *f, int n, bool cut_only, char *buf, size_t cap)
{
    struct net_links *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(buf, cap, "?");
        return;
    }
    l->n = n;
    int count = 0;
    for (size_t k = 0; k < f->nlinks; k++) {
        const struct net_link_change *c = &f->link[k];
        if (cut_only && !(c->cut && !c->was_cut))
            continue;
        if (!l->on[c->from][c->to])
            count++;
        l->on[c->from][c->to] = 1;
    }
    if (count == 0)
        snprintf(buf, cap, "no link");
    else if (f->action == FAULT_NET && count == n * (n - 1))
        snprintf(buf, cap, "all links");
    else
        netspec_describe(l, buf, cap);
    free(l);
}

/* ---- why requests were still waiting ---- */

#define STALL_SHOWN 4   /* kinds of lost message named per waiting node; the rest counted */
#define STALL_GROUPS 64 /* kinds kept in report.json per waiting node */

/* One lost message, as the stall explanation says it: "its request to
 * node 1 was lost to the partition 1,2 | 3,4,5 (fault.2) at 4012.500 ms". */
static json_t *lost_msg(const struct net_drop *d, const struct trace_rec *e, int k,
                        const struct report_net *net, const struct run_info *ri, char *buf,
                        size_t cap, bool *bad)
{
    char hex[16], lb[64], desc[256];
    const char *tn = report_type_name(ri->ops, e->type, hex, sizeof hex);
    int from = e->peer, to = e->node;
    /* To whom it is owed: the fault that cut the link, or the one that set
     * the loss it was lost to. */
    long who = d->partition || d->network ? d->fault : d->loss_by;
    report_net_label(net, who, lb, sizeof lb);
    size_t len = 0;
    buf[0] = '\0';
    if (from == k)
        APPEND("its %s to node %d", tn, to);
    else
        APPEND("the %s from node %d", tn, from);
    json_t *o = json_pack("{s:o, s:s, s:i, s:i, s:s}", "at_ms", us_to_ms(e->t_us), "type", tn,
                          "from", from, "to", to, "reason",
                          report_drop_reason(d->network     ? 0
                                             : d->partition ? WIRE_DROP_PARTITION
                                                            : WIRE_DROP_LOSS));
    if (d->network) {
        /* An older trace: the network dropped it, cut or loss untold. */
        APPEND(" was dropped by the network at %.3f ms", ms(e->t_us));
    } else if (d->partition) {
        if (d->fault >= 0) {
            report_net_describe(&net->f[d->fault], ri->n, true, desc, sizeof desc);
            APPEND(" was lost to the %s %s (%s) at %.3f ms",
                   net->f[d->fault].action == FAULT_PARTITION ? "partition" : "cut", desc, lb,
                   ms(e->t_us));
            put(o, "cut", json_string(desc), bad);
        } else {
            APPEND(" was lost to the cut link %d->%d at %.3f ms", from, to, ms(e->t_us));
            put(o, "cut", json_null(), bad);
        }
    } else {
        APPEND(" was lost to loss (%.3f on the link %d->%d, %s%s) at %.3f ms",
               (double)d->loss_ppm / NET_PPM, from, to, who >= 0 ? "set by " : "", lb,
               ms(e->t_us));
        put(o, "loss", json_real((double)d->loss_ppm / NET_PPM), bad);
    }
    put(o, "fault", who >= 0 ? json_string(lb) : json_null(), bad);
    if (who >= 0 && net->f[who].number > 0)
        put(o, "number", json_integer(net->f[who].number), bad);
    put(o, "text", json_string(buf), bad);
    return o;
}

int report_stall(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                 const struct report_net *net, int retransmit)
{
    const json_t *waiting = json_object_get(rep, "waiting_at_end");
    if (json_array_size(waiting) == 0)
        return 0;
    bool bad = false;
    json_t *st = json_object(), *arr = json_array();
    long total_lost = 0;
    size_t wi;
    json_t *w;
    json_array_foreach(waiting, wi, w)
    {
        json_int_t k = json_integer_value(json_object_get(w, "node"));
        double since_ms = json_number_value(json_object_get(w, "since_ms"));
        int64_t since = (int64_t)(since_ms * 1000.0 + (since_ms >= 0 ? 0.5 : -0.5));
        json_t *msgs = json_array();
        char text[2048], item[512];
        size_t cap = sizeof text, len = 0;
        char *buf = text;
        buf[0] = '\0';
        APPEND("node %lld has waited since %.3f ms", (long long)k, since_ms);
        /* Messages alike (same type, sender, receiver, reason and fault)
         * are one line with a count: a heartbeat lost every few
         * milliseconds must not hide the one request that mattered. */
        struct group {
            size_t first; /* index into net->d */
            long count;
        } groups[STALL_GROUPS];
        int ngroups = 0;
        long nlost = 0, ungrouped = 0;
        for (size_t i = 0; i < net->nd; i++) {
            const struct net_drop *d = &net->d[i];
            const struct trace_rec *e = &recs[d->rec];
            if (e->t_us < since || (e->node != k && e->peer != k))
                continue;
            nlost++;
            int g = 0;
            for (; g < ngroups; g++) {
                const struct net_drop *d0 = &net->d[groups[g].first];
                const struct trace_rec *e0 = &recs[d0->rec];
                if (e0->type == e->type && e0->node == e->node && e0->peer == e->peer &&
                    d0->partition == d->partition && d0->network == d->network &&
                    d0->fault == d->fault && d0->loss_by == d->loss_by)
                    break;
            }
            if (g < ngroups)
                groups[g].count++;
            else if (ngroups < STALL_GROUPS)
                groups[ngroups++] = (struct group){.first = i, .count = 1};
            else
                ungrouped++;
        }
        for (int g = 0; g < ngroups; g++) {
            const struct net_drop *d = &net->d[groups[g].first];
            json_t *m = lost_msg(d, &recs[d->rec], (int)k, net, ri, item, sizeof item, &bad);
            put(m, "count", json_integer(groups[g].count), &bad);
            if (json_array_append_new(msgs, m) < 0)
                bad = true;
            if (g < STALL_SHOWN) {
                APPEND("%s%s", g ? "; " : ": ", item);
                if (groups[g].count > 1)
                    APPEND(" (and %ld more like it)", groups[g].count - 1);
            }
        }
        long more = ungrouped;
        for (int g = STALL_SHOWN; g < ngroups; g++)
            more += groups[g].count;
        if (more)
            APPEND("; and %ld more message%s to or from it lost after its request", more,
                   plural(more));
        if (nlost == 0)
            APPEND("; no message to or from it was lost to a cut or to loss after its request");
        total_lost += nlost;
        json_t *o = json_pack("{s:I, s:o, s:I, s:o, s:s}", "node", k, "since_ms",
                              json_real(since_ms), "lost", (json_int_t)nlost, "messages", msgs,
                              "text", text);
        if (json_array_append_new(arr, o) < 0)
            bad = true;
    }
    put(st, "waiting", arr, &bad);
    put(st, "retransmit", retransmit < 0 ? json_null() : json_boolean(retransmit), &bad);
    char note[768] = "";
    if (retransmit == 1)
        snprintf(note, sizeof note,
                 "Retransmission was on ([cluster] retransmit = true): the algorithms re-send "
                 "a request or token that is not answered in time, yet %s still waiting when "
                 "the run ended.",
                 json_array_size(waiting) == 1 ? "this request was" : "these requests were");
    else if (total_lost > 0)
        snprintf(note, sizeof note,
                 "Textbook mutual-exclusion algorithms assume reliable channels: a request, "
                 "grant, release or token that is lost is never sent again, so whoever waits "
                 "for it waits forever. With [cluster] retransmit = true each algorithm "
                 "re-sends what is not answered in time and recognises duplicates, so it "
                 "recovers once messages get through again.");
    put(st, "note", note[0] ? json_string(note) : json_null(), &bad);
    put(rep, "stall", st, &bad);
    return bad ? -1 : 0;
}
