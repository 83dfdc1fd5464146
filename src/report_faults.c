/* What each fault of a run did, read from the trace.
 *
 * A fault is one of:
 *   - scheduled: a [fault.N] of the experiment; the supervisor's fault
 *     record carries N (a), run.json lists it (with `skipped` when it could
 *     not act, or when the run ended before it was due);
 *   - commanded: a supervisor fault record without a number (`distlab
 *     restart NODE` goes through the supervisor);
 *   - external: a crash, pause, resume or graceful stop the supervisor saw
 *     (it reaps every child) with no fault record that asked for it, e.g.
 *     `kill -9 PID` from another shell, or `distlab kill/pause/resume`,
 *     which signal the node directly.
 * Each fired fault gets a one-line outcome: whether its target was inside
 * the critical section, who was elected and when (a new coordinator or
 * leader in the role records), when a token was regenerated and with which
 * generation, and how long until another node entered the critical section.
 * Everything is on the trace's clock (report_int.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/proc.h"
#include "ipc/shm.h"
#include "src/config.h"
#include "src/report_int.h"

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
            f->spec = e->a > 0 ? spec_for(faults, (int)e->a) : NULL;
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
    if (k)
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
    if (!entered)
        APPEND("%sno other node entered the critical section after it", len ? "; " : "");
    if (tail_from >= 0 && bound - tail_from > stall_best) {
        APPEND("%sthe others waited with nobody inside from %.3f ms until %s at %.3f ms "
               "(%.3f ms)",
               len ? "; " : "", ms(tail_from), until_t >= 0 ? "the next fault" : "the run ended",
               ms(bound), ms(bound - tail_from));
        put(o, "stall_ms", us_to_ms(bound - tail_from), bad);
    } else if (stall_best >= 0) {
        APPEND("%sthe others waited with nobody inside for up to %.3f ms (from %.3f ms)",
               len ? "; " : "", ms(stall_best), ms(stall_at));
        put(o, "stall_ms", us_to_ms(stall_best), bad);
    } else {
        put(o, "stall_ms", json_null(), bad);
    }
    free(was_coord);
    free(st.inside);
    free(st.waiting);
    free(st.coord);
    return 0;
}

json_t *report_faults_json(const struct run_info *ri, const struct trace_rec *recs, size_t nrec,
                           const struct report_clock *clk, json_t *warnings)
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
    for (size_t i = 0; i < l.n && arr; i++) {
        const struct fev *f = &l.v[i];
        json_t *o = json_object();
        const char *skipped = json_string_value(json_object_get(f->spec, "skipped"));
        put(o, "at_ms", f->t >= 0 ? us_to_ms(f->t) : json_null(), &bad);
        put(o, "action", f->action ? json_string(f->action) : json_null(), &bad);
        if (f->spec)
            put(o, "target", copy_key(f->spec, "target"), &bad);
        else
            put(o, "target", f->node ? json_integer(f->node) : json_null(), &bad);
        put(o, "node", f->node ? json_integer(f->node) : json_null(), &bad);
        put(o, "source", json_string(f->source), &bad);
        if (f->number > 0) {
            put(o, "number", json_integer(f->number), &bad);
            /* What the experiment said: `at`, from the workload start. */
            put(o, "scheduled_ms", copy_key(f->spec, "at_ms"), &bad);
        }
        if (f->signal && strcmp(f->source, "external") == 0)
            put(o, "signal", json_string(proc_signame(f->signal)), &bad);
        char line[768];
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
            int64_t end = clk->stop_us >= 0 ? clk->stop_us : (nrec ? recs[nrec - 1].t_us : 0);
            if (outcome(f, ri, recs, nrec, until, end, o, &bad, line, sizeof line) < 0)
                bad = true;
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
