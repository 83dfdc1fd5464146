/* The mutual-exclusion part of a report: one scan over the merged trace
 * fills a plain struct (counts, waits, CS intervals), then the verdicts and
 * the JSON are built from it, so every figure can be unit-tested on a
 * synthetic trace (tests/check_report.c).
 *
 * Mutual exclusion is judged at two levels (DESIGN.md "Safety properties"):
 *   - as the nodes believed it: the [enter, exit] intervals of the trace. A
 *     node that dies inside ends its interval at its last sign of life (its
 *     last trace record of that incarnation, or the heartbeat stamp that the
 *     supervisor's crash record carries in b, whichever is later), never at
 *     the time the supervisor reaped it;
 *   - at the resource: the occupant field and, when fencing is on, the
 *     generations it refused. An overlap of two intervals where the resource
 *     refused one side (a fenced entry, a refused write, or an entry that
 *     superseded a stale holder) did not reach the resource: the verdict
 *     then rests on fencing, and the report says so. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/shm.h"
#include "ipc/util.h"
#include "nodes/runtime.h"
#include "src/evidence.h"
#include "src/report_int.h"

/* ---- samples ---- */

/* A growable array of microsecond samples. */
struct samples {
    int64_t *v;
    size_t n, cap;
};

static int samples_add(struct samples *s, int64_t x)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 64;
        int64_t *nv = realloc(s->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = x;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values: the smallest value such that at
 * least p percent of the samples are <= it. */
static int64_t percentile(const struct samples *s, int p)
{
    size_t rank = ((size_t)p * s->n + 99) / 100; /* ceil(p/100 * n), exactly */
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->v[rank - 1];
}

/* ---- the scan ---- */

/* One interval a node believed it was in the critical section. */
struct cs_iv {
    int node;
    int32_t inc;
    int64_t start, end;
    int64_t gen;   /* the fencing generation it entered with (-1: none) */
    int enter_res; /* the resource's answer at entry (RES_*) */
    int exit_res;  /* and at exit (RES_FENCED: the write was refused) */
};

struct node_scan {
    long entries, fenced, refused_writes, requests, sent, recv;
    /* The open request, if any. */
    bool req_open;
    int32_t req_inc;
    int64_t req_t;
    long req_overtaken; /* entries of later requesters while it waited */
    /* The open CS interval (index into mutex_scan.iv), or -1. */
    long iv;
    /* Token algorithms: holding a token received, and whether it was used. */
    bool token_held, token_used;
    /* Ricart-Agrawala: the timestamp of the open request (from its sends). */
    bool ts_known;
    int64_t req_ts;
    int64_t life_start; /* when its current incarnation started (TR_START) */
    /* Waits of granted requests (request -> entry). */
    long waits;
    int64_t wait_sum, wait_max;
    long overtaken;
};

/* Per node, the time of the last record it wrote itself, per incarnation. */
struct lives {
    int64_t *t; /* [inc], -1 when none */
    int32_t cap;
};

#define MAX_TYPES 32

struct mutex_scan {
    struct node_scan *node; /* [0..n]; [0] unused */
    struct lives *life;     /* [0..n] */
    struct cs_iv *iv;
    size_t niv, capiv;
    long cs_entries, fenced, superseded, refused_writes, requests, messages, exits, crashes;
    long pending;
    /* Algorithm messages sent, by type (e.g. the two levels of a ring). */
    uint16_t type[MAX_TYPES];
    long type_count[MAX_TYPES];
    int ntypes;
    long idle_passes;      /* token passes by a holder that did not use it */
    int64_t *paused_at;    /* [node]: when it was paused, -1 if running */
    long long_pauses;      /* pauses that outlasted the failure timeout */
    long long_pauses_seen; /* ... in which another node declared it down */
    bool *down_in_pause;   /* [node]: declared down by someone while paused */
    int64_t longest_pause;
    long order_checked, order_violations;
    int order_first_in, order_first_other;
    int64_t order_first_t;
    bool *believes_down; /* [i * (n + 1) + j]: node i thinks j is down */
    bool any_gen;        /* some entry carried a fencing generation */
    /* Believed overlaps (pairs of intervals), from overlaps_find(). */
    long overlaps, overlaps_fenced;
    /* Overlaps that begin after the supervisor's trace was cut: a crash
     * that ended the other interval may be what was lost, so they are
     * neither counted nor passed (evidence.h). */
    long overlaps_unjudged;
    int64_t unjudged_from; /* INT64_MAX: the supervisor's trace is whole */
    int64_t overlap_us;                  /* time during which two or more nodes believed so */
    long first_a, first_b, bad_a, bad_b; /* intervals of the first (uncontained) pair */
    int64_t first_len, bad_len;
    /* Fairness. */
    long overtakes, overtaken_max;
    int overtaken_max_node;
    int64_t longest_wait, longest_wait_req;
    int longest_wait_node;
    bool longest_wait_granted;
    int64_t t_end; /* the end of the run on the trace's clock */
    int pend_node; /* the request pending longest at the end */
    int64_t pend_req;
    struct samples resp, sync;
};

static void mutex_scan_free(struct mutex_scan *ms, int n)
{
    if (ms->life)
        for (int k = 0; k <= n; k++)
            free(ms->life[k].t);
    free(ms->life);
    free(ms->iv);
    free(ms->believes_down);
    free(ms->down_in_pause);
    free(ms->paused_at);
    free(ms->node);
    free(ms->resp.v);
    free(ms->sync.v);
    memset(ms, 0, sizeof *ms);
}

/* Records the supervisor writes about a node (in its own file, with node =
 * the node): they are not signs of the node's life. */
static bool written_by_supervisor(const struct trace_rec *e)
{
    return e->ev == TR_CRASH || e->ev == TR_RESTART || e->ev == TR_PAUSE || e->ev == TR_RESUME ||
           (e->ev == TR_STOP && e->aux != 0);
}

static int lives_fill(struct mutex_scan *ms, const struct run_info *ri, const struct trace_rec *r,
                      size_t nrec)
{
    ms->life = calloc((size_t)ri->n + 1, sizeof *ms->life);
    if (!ms->life)
        return -ENOMEM;
    for (size_t i = 0; i < nrec; i++) {
        const struct trace_rec *e = &r[i];
        if (e->node < 1 || e->node > ri->n || written_by_supervisor(e) || e->incarnation < 0)
            continue;
        struct lives *l = &ms->life[e->node];
        if (e->incarnation >= l->cap) {
            int32_t ncap = e->incarnation + 8;
            int64_t *nt = realloc(l->t, (size_t)ncap * sizeof *nt);
            if (!nt)
                return -ENOMEM;
            for (int32_t k = l->cap; k < ncap; k++)
                nt[k] = -1;
            l->t = nt;
            l->cap = ncap;
        }
        l->t[e->incarnation] = e->t_us;
    }
    return 0;
}

static int64_t last_sign(const struct mutex_scan *ms, int node, int32_t inc)
{
    const struct lives *l = &ms->life[node];
    return inc >= 0 && inc < l->cap ? l->t[inc] : -1;
}

/* Close node's open interval: at `t` for an exit, or at the node's last
 * sign of life (stamp: the heartbeat a crash record carries, 0 if none). */
static void iv_close(struct mutex_scan *ms, struct node_scan *ns, int64_t t, int exit_res)
{
    if (ns->iv < 0)
        return;
    struct cs_iv *v = &ms->iv[ns->iv];
    v->end = t < v->start ? v->start : t;
    v->exit_res = exit_res;
    ns->iv = -1;
}

static void iv_die(struct mutex_scan *ms, struct node_scan *ns, int64_t stamp, int64_t t_max)
{
    if (ns->iv < 0)
        return;
    const struct cs_iv *v = &ms->iv[ns->iv];
    int64_t end = last_sign(ms, v->node, v->inc);
    if (stamp > end && stamp <= t_max)
        end = stamp;
    iv_close(ms, ns, end, RES_OK);
}

/* A life ended (a crash, or the end of its trace): its interval closes at
 * its last sign of life, and its request, timestamp and token go with it. */
static void life_ends(struct mutex_scan *ms, struct node_scan *ns, int64_t stamp, int64_t t_max)
{
    iv_die(ms, ns, stamp, t_max);
    ns->req_open = false;
    ns->ts_known = false;
    ns->token_held = false;
}

/* An open request or interval of an earlier incarnation died with it. */
static void drop_stale(struct mutex_scan *ms, struct node_scan *ns, int32_t inc)
{
    if (ns->req_open && ns->req_inc != inc)
        ns->req_open = false;
    if (ns->iv >= 0 && ms->iv[ns->iv].inc != inc)
        iv_die(ms, ns, 0, 0);
}

static const char *alg_type_name(const struct run_info *ri, uint16_t type)
{
    return type >= MSG_RANGE_SIZE && ri->ops && ri->ops->msg_name ? ri->ops->msg_name(type) : NULL;
}

/* Is a sent or received message a token (the algorithm's own answer)? */
static bool is_token(const struct run_info *ri, const struct trace_rec *e)
{
    if (e->type < MSG_RANGE_SIZE || !ri->ops || !ri->ops->token_msg)
        return false;
    struct algo_msg m = {.type = e->type, .from = 0, .to = 0, .f = {e->key, 0, 0, 0}};
    int64_t gen;
    return ri->ops->token_msg(&m, &gen);
}

static bool checks_grant_order(const struct run_info *ri)
{
    return strcmp(ri->algorithm, "ricart_agrawala") == 0;
}

/* Ricart-Agrawala grants concurrent requests in (timestamp, id) order: when
 * node i enters with its request's timestamp, no other node j may have an
 * open request with a smaller (timestamp, id) - unless i believed j down
 * (the failure-detector improvement lets i stop waiting for j). A smaller
 * timestamp cannot belong to a request made after j answered i, because
 * j's clock had then passed i's timestamp: so such a j was requesting
 * first, and should have held back its reply. Except across a restart: a
 * node that crashed and started again after i requested lost its clock
 * (and i may hold a reply from its previous life), so the timestamps of its
 * new life say nothing about i's request. */
static void check_order(struct mutex_scan *ms, const struct run_info *ri, const struct trace_rec *e)
{
    int i = e->node;
    ms->order_checked++;
    for (int j = 1; j <= ri->n; j++) {
        const struct node_scan *nj = &ms->node[j];
        if (j == i || !nj->req_open || !nj->ts_known || ms->believes_down[i * (ri->n + 1) + j])
            continue;
        if (nj->req_inc > 1 && nj->life_start > ms->node[i].req_t)
            continue;
        if (nj->req_ts < e->key || (nj->req_ts == e->key && j < i)) {
            if (ms->order_violations++ == 0) {
                ms->order_first_in = i;
                ms->order_first_other = j;
                ms->order_first_t = e->t_us;
            }
            return;
        }
    }
}

/* Entries granted to a later requester while an earlier request waited. */
static void count_overtakes(struct mutex_scan *ms, const struct run_info *ri, int who)
{
    const struct node_scan *ns = &ms->node[who];
    for (int j = 1; j <= ri->n; j++) {
        struct node_scan *nj = &ms->node[j];
        if (j == who || !nj->req_open || nj->req_t >= ns->req_t)
            continue;
        ms->overtakes++;
        nj->overtaken++;
        if (++nj->req_overtaken > ms->overtaken_max) {
            ms->overtaken_max = nj->req_overtaken;
            ms->overtaken_max_node = j;
        }
    }
}

static void note_wait(struct mutex_scan *ms, int node, int64_t req_t, int64_t wait, bool granted)
{
    if (wait > ms->longest_wait || ms->longest_wait_node == 0) {
        ms->longest_wait = wait;
        ms->longest_wait_req = req_t;
        ms->longest_wait_node = node;
        ms->longest_wait_granted = granted;
    }
}

static int on_enter(struct mutex_scan *ms, const struct run_info *ri, const struct trace_rec *e,
                    bool *have_exit, int64_t last_exit)
{
    struct node_scan *ns = &ms->node[e->node];
    drop_stale(ms, ns, e->incarnation);
    if (ns->iv >= 0) /* an entry without an exit before it: the node forgot */
        iv_close(ms, ns, e->t_us, RES_OK);
    if (e->b >= 0)
        ms->any_gen = true;
    if (ms->niv == ms->capiv) {
        size_t ncap = ms->capiv ? 2 * ms->capiv : 256;
        struct cs_iv *nv = realloc(ms->iv, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        ms->iv = nv;
        ms->capiv = ncap;
    }
    ms->iv[ms->niv] = (struct cs_iv){.node = e->node,
                                     .inc = e->incarnation,
                                     .start = e->t_us,
                                     .end = e->t_us,
                                     .gen = e->b,
                                     .enter_res = e->aux,
                                     .exit_res = RES_OK};
    ns->iv = (long)ms->niv++;
    if (ns->req_open)
        count_overtakes(ms, ri, e->node);
    if (e->aux == RES_FENCED) {
        /* Refused by fencing: the node believed it was inside, but never
         * held the resource. Its request was answered (by the algorithm),
         * so it is not pending, but the wait is not a response time. */
        ms->fenced++;
        ns->fenced++;
        ns->req_open = false;
        return 0;
    }
    if (e->aux == RES_SUPERSEDED)
        ms->superseded++;
    ms->cs_entries++;
    ns->entries++;
    ns->token_used = true;
    if (checks_grant_order(ri) && ns->req_open)
        check_order(ms, ri, e);
    ns->ts_known = false;
    int rc = 0;
    if (ns->req_open) {
        int64_t wait = e->t_us - ns->req_t;
        rc |= samples_add(&ms->resp, wait);
        ns->waits++;
        ns->wait_sum += wait;
        if (wait > ns->wait_max)
            ns->wait_max = wait;
        note_wait(ms, e->node, ns->req_t, wait, true);
        /* Synchronization delay: only for a node that was already waiting
         * when the last holder left, and only for the first entry after
         * that exit (an exit is consumed by the next entry, so a crash
         * between them does not turn failover time into a sync delay). */
        if (*have_exit && ns->req_t <= last_exit)
            rc |= samples_add(&ms->sync, e->t_us - last_exit);
        ns->req_open = false;
    }
    *have_exit = false;
    return rc;
}

static void count_type(struct mutex_scan *ms, uint16_t type)
{
    for (int i = 0; i < ms->ntypes; i++)
        if (ms->type[i] == type) {
            ms->type_count[i]++;
            return;
        }
    if (ms->ntypes < MAX_TYPES) {
        ms->type[ms->ntypes] = type;
        ms->type_count[ms->ntypes++] = 1;
    }
}

/* Could fencing have kept the resource from seeing both a and b? Yes when
 * it refused one side: an entry refused, a write refused, or the later
 * entry superseding a stale holder (whose write is then refused). */
static bool fencing_contained(const struct cs_iv *a, const struct cs_iv *b)
{
    return a->enter_res == RES_FENCED || b->enter_res == RES_FENCED || a->exit_res == RES_FENCED ||
           b->exit_res == RES_FENCED || b->enter_res == RES_SUPERSEDED;
}

static int cmp_seg(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    return (a[0] > b[0]) - (a[0] < b[0]);
}

/* Every pair of intervals of different nodes that overlap for a positive
 * time. Records are written before the action they describe, so an exit
 * and another node's entry stamped with the same microsecond are not an
 * overlap (end == start). */
static int overlaps_find(struct mutex_scan *ms)
{
    int64_t *seg = NULL; /* [start, end) pairs */
    size_t nseg = 0, capseg = 0;
    for (size_t i = 0; i < ms->niv; i++) {
        const struct cs_iv *a = &ms->iv[i];
        for (size_t j = i + 1; j < ms->niv && ms->iv[j].start < a->end; j++) {
            const struct cs_iv *b = &ms->iv[j];
            int64_t end = b->end < a->end ? b->end : a->end;
            if (b->node == a->node || end <= b->start)
                continue;
            if (b->start >= ms->unjudged_from) {
                ms->overlaps_unjudged++;
                continue;
            }
            int64_t len = end - b->start;
            bool contained = fencing_contained(a, b);
            if (ms->overlaps++ == 0) {
                ms->first_a = (long)i;
                ms->first_b = (long)j;
                ms->first_len = len;
            }
            if (contained)
                ms->overlaps_fenced++;
            else if (ms->overlaps - ms->overlaps_fenced == 1) {
                ms->bad_a = (long)i;
                ms->bad_b = (long)j;
                ms->bad_len = len;
            }
            if (nseg == capseg) {
                size_t ncap = capseg ? 2 * capseg : 32;
                int64_t *ns = realloc(seg, 2 * ncap * sizeof *ns);
                if (!ns) {
                    free(seg);
                    return -ENOMEM;
                }
                seg = ns;
                capseg = ncap;
            }
            seg[2 * nseg] = b->start;
            seg[2 * nseg + 1] = end;
            nseg++;
        }
    }
    /* The union of the overlapping stretches. */
    if (nseg > 1)
        qsort(seg, nseg, 2 * sizeof *seg, cmp_seg);
    int64_t cur_s = 0, cur_e = -1;
    for (size_t k = 0; k < nseg; k++) {
        if (seg[2 * k] > cur_e) {
            if (cur_e > cur_s)
                ms->overlap_us += cur_e - cur_s;
            cur_s = seg[2 * k];
            cur_e = seg[2 * k + 1];
        } else if (seg[2 * k + 1] > cur_e) {
            cur_e = seg[2 * k + 1];
        }
    }
    if (cur_e > cur_s)
        ms->overlap_us += cur_e - cur_s;
    free(seg);
    return 0;
}

static int mutex_scan_run(struct mutex_scan *ms, const struct run_info *ri,
                          const struct trace_rec *r, size_t nrec, const struct report_clock *clk)
{
    memset(ms, 0, sizeof *ms);
    ms->node = calloc((size_t)ri->n + 1, sizeof *ms->node);
    ms->believes_down = calloc((size_t)(ri->n + 1) * (size_t)(ri->n + 1), sizeof(bool));
    ms->paused_at = calloc((size_t)ri->n + 1, sizeof *ms->paused_at);
    ms->down_in_pause = calloc((size_t)ri->n + 1, sizeof *ms->down_in_pause);
    if (!ms->node || !ms->believes_down || !ms->paused_at || !ms->down_in_pause)
        return -ENOMEM;
    ms->unjudged_from = ri->ev && ri->ev->sup_cut ? ri->ev->sup_cut_t_us : INT64_MAX;
    if (lives_fill(ms, ri, r, nrec) < 0)
        return -ENOMEM;
    for (int k = 0; k <= ri->n; k++) {
        ms->paused_at[k] = -1;
        ms->node[k].iv = -1;
    }
    double ft_ms = json_number_value(json_object_get(ri->run, "failure_timeout_ms"));
    int64_t failure_timeout = json_time_us(ft_ms, 1e3); /* -1: not known */
    bool have_exit = false;
    int64_t last_exit = 0;
    int rc = 0;
    for (size_t i = 0; i < nrec && rc == 0; i++) {
        const struct trace_rec *e = &r[i];
        if (e->node < 1 || e->node > ri->n)
            continue; /* the supervisor's own events, or garbage */
        struct node_scan *ns = &ms->node[e->node];
        switch (e->ev) {
        case TR_SEND:
            if (e->type >= MSG_RANGE_SIZE) {
                ms->messages++;
                ns->sent++;
                count_type(ms, e->type);
                if (is_token(ri, e)) {
                    /* A token passed on without an entry since it came. */
                    if (ns->token_held && !ns->token_used)
                        ms->idle_passes++;
                    ns->token_held = false;
                }
                const char *tn = alg_type_name(ri, e->type);
                if (tn && strcmp(tn, "request") == 0 && ns->req_open) {
                    ns->ts_known = true;
                    ns->req_ts = e->key;
                }
            }
            break;
        case TR_START:
            ns->life_start = e->t_us;
            break;
        case TR_PAUSE:
            ms->paused_at[e->node] = e->t_us;
            ms->down_in_pause[e->node] = false;
            break;
        case TR_RESUME:
            if (ms->paused_at[e->node] >= 0) {
                int64_t d = e->t_us - ms->paused_at[e->node];
                if (failure_timeout > 0 && d > failure_timeout) {
                    ms->long_pauses++;
                    ms->long_pauses_seen += ms->down_in_pause[e->node];
                }
                if (d > ms->longest_pause)
                    ms->longest_pause = d;
                ms->paused_at[e->node] = -1;
            }
            break;
        case TR_PEER_DOWN:
        case TR_PEER_UP:
            if (e->peer >= 1 && e->peer <= ri->n) {
                ms->believes_down[e->node * (ri->n + 1) + e->peer] = e->ev == TR_PEER_DOWN;
                if (e->ev == TR_PEER_DOWN && ms->paused_at[e->peer] >= 0)
                    ms->down_in_pause[e->peer] = true;
            }
            break;
        case TR_RECV:
            if (is_token(ri, e)) {
                ns->token_held = true;
                ns->token_used = false;
            }
            if (e->type >= MSG_RANGE_SIZE)
                ns->recv++;
            break;
        case TR_REQUEST:
            ms->requests++;
            ns->requests++;
            drop_stale(ms, ns, e->incarnation);
            /* One outstanding request per node: a repeat keeps the first
             * time, so the response time covers the whole wait. */
            if (!ns->req_open) {
                ns->req_open = true;
                ns->req_inc = e->incarnation;
                ns->req_t = e->t_us;
                ns->req_overtaken = 0;
            }
            break;
        case TR_ENTER: rc = on_enter(ms, ri, e, &have_exit, last_exit); break;
        case TR_EXIT: {
            drop_stale(ms, ns, e->incarnation);
            if (ns->iv < 0)
                break; /* an exit without an entry (a cut trace) */
            bool refused_entry = ms->iv[ns->iv].enter_res == RES_FENCED;
            iv_close(ms, ns, e->t_us, e->aux == RES_FENCED ? RES_FENCED : RES_OK);
            if (refused_entry)
                break; /* leaving a refused entry writes nothing */
            have_exit = true;
            last_exit = e->t_us;
            if (e->aux == RES_FENCED) {
                /* Fencing refused the write: a superseded holder. */
                ms->refused_writes++;
                ns->refused_writes++;
            } else {
                ms->exits++;
            }
            break;
        }
        case TR_CRASH:
            /* Written by the supervisor with node = the crashed node: the
             * node's CS (if it was inside) ended at its last sign of life,
             * and its open request can no longer be granted, so it does not
             * count against liveness. b: its last heartbeat stamp, 0 if
             * unknown. */
            ms->crashes++;
            ms->paused_at[e->node] = -1; /* killed while paused: a crash, not a pause */
            life_ends(ms, ns, e->b, e->t_us);
            break;
        case TR_CUT:
            /* This node's trace stops here (its file could not grow): what
             * it did afterwards is unknown, so its open interval and request
             * end at this last sign, as a dead node's do. The verdict then
             * says the evidence is incomplete (evidence.c). */
            life_ends(ms, ns, e->t_us, e->t_us);
            break;
        case TR_STOP:
            /* aux != 0: the supervisor saw the node stop gracefully during
             * the run (SIGTERM); like a crash, its open request ends. The
             * node's own stop record (aux 0) at the end of a run does not
             * excuse a request still pending. */
            if (e->aux != 0) {
                iv_die(ms, ns, 0, e->t_us);
                ns->req_open = false;
            }
            break;
        default: break;
        }
    }
    if (rc < 0)
        return rc;
    ms->t_end = clk->stop_us >= 0 ? clk->stop_us : (nrec ? r[nrec - 1].t_us : 0);
    /* Intervals still open at the end: the node believed it was inside
     * until its last record. When the supervisor's trace was cut, the
     * record of a crash that ended such an interval may be what was lost:
     * the node may have stayed inside to the end, so the interval reaches
     * the end and what overlaps it after the cut is left unjudged. */
    for (int k = 1; k <= ri->n; k++) {
        struct node_scan *ns = &ms->node[k];
        if (ns->iv >= 0 && ms->unjudged_from != INT64_MAX && ms->t_end > ms->unjudged_from)
            iv_close(ms, ns, ms->t_end, RES_OK);
        else
            iv_die(ms, ns, 0, 0);
    }
    for (int k = 1; k <= ri->n; k++) {
        const struct node_scan *ns = &ms->node[k];
        if (!ns->req_open)
            continue;
        if (ms->pending++ == 0 || ns->req_t < ms->pend_req) {
            ms->pend_node = k;
            ms->pend_req = ns->req_t;
        }
        note_wait(ms, k, ns->req_t, ms->t_end > ns->req_t ? ms->t_end - ns->req_t : 0, false);
    }
    rc = overlaps_find(ms);
    if (rc < 0)
        return rc;
    if (ms->resp.n > 1)
        qsort(ms->resp.v, ms->resp.n, sizeof *ms->resp.v, cmp_i64);
    if (ms->sync.n > 1)
        qsort(ms->sync.v, ms->sync.n, sizeof *ms->sync.v, cmp_i64);
    return 0;
}

/* ---- JSON ---- */

/* A property line: verdict "pass", "fail", or "fenced" (it did not hold as
 * the nodes believed it, and fencing kept the resource safe: the run's
 * verdict rests on fencing). held is true only for "pass". */
static json_t *property(const char *name, const char *verdict, const char *detail)
{
    return json_pack("{s:s, s:b, s:s, s:s}", "name", name, "held", strcmp(verdict, "pass") == 0,
                     "verdict", verdict, "detail", detail);
}

/* A property the evidence at hand cannot decide either way: no violation
 * of it was found, and it did not hold as far as anyone can tell. */
static json_t *property_judged(const char *name, const char *verdict, bool judged,
                               const char *detail)
{
    if (!judged)
        verdict = "cannot verify";
    json_t *p = property(name, verdict, detail);
    if (p && !judged && json_object_set_new(p, "judged", json_false()) < 0) {
        json_decref(p);
        return NULL;
    }
    return p;
}

static json_t *response_json(const struct samples *s)
{
    if (s->n == 0)
        return json_pack("{s:n, s:n, s:n, s:n}", "p50", "p95", "p99", "max");
    return json_pack("{s:o, s:o, s:o, s:o}", "p50", us_to_ms(percentile(s, 50)), "p95",
                     us_to_ms(percentile(s, 95)), "p99", us_to_ms(percentile(s, 99)), "max",
                     us_to_ms(s->v[s->n - 1]));
}

static json_t *sync_json(const struct samples *s)
{
    if (s->n == 0)
        return json_pack("{s:n, s:n}", "p50", "mean");
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += (double)s->v[i];
    return json_pack("{s:o, s:f}", "p50", us_to_ms(percentile(s, 50)), "mean",
                     sum / (double)s->n / 1000.0);
}

/* Jain's fairness index over the nodes that make requests:
 * (sum x)^2 / (k * sum x^2); 1 when every one got the same number. */
static json_t *fairness_json(const struct mutex_scan *ms, const struct run_info *ri)
{
    double sum = 0, sq = 0;
    int k = 0;
    for (int id = 1; id <= ri->n; id++) {
        if (!ri->requester[id])
            continue;
        double x = (double)ms->node[id].entries;
        sum += x;
        sq += x * x;
        k++;
    }
    if (k == 0 || sum == 0)
        return json_null();
    return json_real(sum * sum / ((double)k * sq));
}

/* Waiting: over all granted requests, per node, and the longest wait of
 * the run (a request still open at the end counts with its wait so far). */
static json_t *waiting_json(const struct mutex_scan *ms, const struct run_info *ri, bool *bad)
{
    long n = 0;
    int64_t sum = 0, max = 0;
    double node_min = -1, node_max = -1;
    for (int k = 1; k <= ri->n; k++) {
        const struct node_scan *ns = &ms->node[k];
        n += ns->waits;
        sum += ns->wait_sum;
        if (ns->wait_max > max)
            max = ns->wait_max;
        if (ns->waits) {
            double mean = (double)ns->wait_sum / (double)ns->waits;
            if (node_min < 0 || mean < node_min)
                node_min = mean;
            if (mean > node_max)
                node_max = mean;
        }
    }
    json_t *o = json_object();
    put(o, "granted", json_integer(n), bad);
    put(o, "mean", n ? json_real((double)sum / (double)n / 1000.0) : json_null(), bad);
    put(o, "max", n ? us_to_ms(max) : json_null(), bad);
    put(o, "node_mean_min", node_min >= 0 ? json_real(node_min / 1000.0) : json_null(), bad);
    put(o, "node_mean_max", node_max >= 0 ? json_real(node_max / 1000.0) : json_null(), bad);
    if (ms->longest_wait_node) {
        put(o, "longest",
            json_pack("{s:i, s:o, s:o, s:b}", "node", ms->longest_wait_node, "ms",
                      us_to_ms(ms->longest_wait), "requested_at_ms", us_to_ms(ms->longest_wait_req),
                      "granted", ms->longest_wait_granted),
            bad);
    } else {
        put(o, "longest", json_null(), bad);
    }
    return o;
}

/* run.json's per-node counters worth showing next to the trace's. */
static const char *const node_counters[] = {"queue_full", "backlog_hwm", "malformed",
                                            "dropped",    "crashes",     "incarnations"};

static json_t *per_node_json(const struct mutex_scan *ms, const struct run_info *ri, bool *bad)
{
    json_t *arr = json_array();
    json_t *run_nodes = json_object_get(ri->run, "per_node");
    long total = 0;
    for (int k = 1; k <= ri->n; k++)
        total += ms->node[k].sent + ms->node[k].recv;
    for (int k = 1; k <= ri->n; k++) {
        const struct node_scan *ns = &ms->node[k];
        json_t *o = json_object();
        put(o, "node", json_integer(k), bad);
        put(o, "cs_entries", json_integer(ns->entries), bad);
        put(o, "requests", json_integer(ns->requests), bad);
        put(o, "messages_sent", json_integer(ns->sent), bad);
        put(o, "messages_received", json_integer(ns->recv), bad);
        put(o, "share_of_messages",
            total ? json_real((double)(ns->sent + ns->recv) / (double)total) : json_null(), bad);
        put(o, "wait_ms",
            ns->waits
                ? json_pack("{s:f, s:o}", "mean", (double)ns->wait_sum / (double)ns->waits / 1000.0,
                            "max", us_to_ms(ns->wait_max))
                : json_pack("{s:n, s:n}", "mean", "max"),
            bad);
        put(o, "overtaken", json_integer(ns->overtaken), bad);
        size_t i;
        json_t *rn;
        json_array_foreach(run_nodes, i, rn)
        {
            json_int_t id;
            if (!get_int(rn, "node", &id) || id != k)
                continue;
            for (size_t c = 0; c < sizeof node_counters / sizeof *node_counters; c++) {
                json_t *v = json_object_get(rn, node_counters[c]);
                if (v)
                    put(o, node_counters[c], json_deep_copy(v), bad);
            }
        }
        if (!arr || json_array_append_new(arr, o) < 0)
            *bad = true;
    }
    return arr;
}

static double ms_of(int64_t us)
{
    return (double)us / 1000.0;
}

/* "node 3 (generation 258)" or "node 3". */
static const char *who(const struct cs_iv *v, char *buf, size_t cap)
{
    if (v->gen >= 0)
        snprintf(buf, cap, "node %d (generation %" PRId64 ")", v->node, v->gen);
    else
        snprintf(buf, cap, "node %d", v->node);
    return buf;
}

/* When the faults array shows a fault (fired, of any source) at or before
 * t (ms), false otherwise. */
static bool fault_before(const json_t *faults, double t_ms)
{
    size_t i;
    json_t *f;
    json_array_foreach(faults, i, f)
    {
        if (json_is_string(json_object_get(f, "skipped")))
            continue;
        json_t *at = json_object_get(f, "at_ms");
        if (json_is_number(at) && json_number_value(at) <= t_ms)
            return true;
    }
    return false;
}

/* The mutual_exclusion property (as the nodes believed it). */
static const char *me_verdict(const struct mutex_scan *ms, char *d, size_t cap)
{
    char wa[64], wb[64];
    if (ms->overlaps == 0) {
        snprintf(d, cap,
                 "no two nodes believed they were in the critical section at once "
                 "(%ld entr%s; a crashed node's stay ends at its last sign of life)",
                 ms->cs_entries + ms->fenced, ms->cs_entries + ms->fenced == 1 ? "y" : "ies");
        return "pass";
    }
    if (ms->overlaps_fenced < ms->overlaps) {
        const struct cs_iv *a = &ms->iv[ms->bad_a], *b = &ms->iv[ms->bad_b];
        int len =
            snprintf(d, cap,
                     "%s entered at %.3f ms while %s was inside: both in the critical "
                     "section for %.3f ms (%ld overlapping pair%s; %.3f ms with two or "
                     "more inside)",
                     who(b, wb, sizeof wb), ms_of(b->start), who(a, wa, sizeof wa),
                     ms_of(ms->bad_len), ms->overlaps, plural(ms->overlaps), ms_of(ms->overlap_us));
        if (ms->overlaps_fenced && len > 0 && (size_t)len < cap)
            snprintf(d + len, cap - (size_t)len, "; fencing refused one side of %ld of them",
                     ms->overlaps_fenced);
        return "fail";
    }
    const struct cs_iv *a = &ms->iv[ms->first_a], *b = &ms->iv[ms->first_b];
    snprintf(d, cap,
             "two nodes believed they were in the critical section at once: %s entered at "
             "%.3f ms while %s was still inside (%.3f ms; %ld overlapping pair%s, %.3f ms in "
             "all). Fencing kept the resource safe: the verdict rests on fencing",
             who(b, wb, sizeof wb), ms_of(b->start), who(a, wa, sizeof wa), ms_of(ms->first_len),
             ms->overlaps, plural(ms->overlaps), ms_of(ms->overlap_us));
    return "fenced";
}

static void liveness_verdict(const struct mutex_scan *ms, const char *stop, bool *ok, char *d,
                             size_t cap)
{
    *ok = ms->pending == 0 && ms->fenced == 0 && ms->refused_writes == 0;
    if (*ok) {
        snprintf(d, cap,
                 "every request of a live node was granted and counted (%ld request%s; a "
                 "request of a node that crashed or stopped is excused)",
                 ms->requests, plural(ms->requests));
        return;
    }
    size_t len = 0;
    d[0] = '\0';
    if (ms->pending) {
        const char *why = !stop                                ? "when the run stopped"
                          : strcmp(stop, "deadlock") == 0      ? "when nothing was left to happen "
                                                                 "(deadlock)"
                          : strcmp(stop, "duration") == 0      ? "when the run stopped at its "
                                                                 "duration"
                          : strcmp(stop, "workload done") == 0 ? "although the workload "
                                                                 "finished"
                                                               : "when the run stopped";
        len += (size_t)snprintf(d + len, cap - len,
                                "%ld request%s of live nodes %s never granted, still waiting %s "
                                "(the longest: node %d, since %.3f ms, %.3f ms)",
                                ms->pending, plural(ms->pending), ms->pending == 1 ? "was" : "were",
                                why, ms->pend_node, ms_of(ms->pend_req),
                                ms_of(ms->t_end - ms->pend_req));
    }
    if (ms->fenced && len < cap)
        len += (size_t)snprintf(d + len, cap - len,
                                "%s%ld entr%s refused by fencing (granted by the algorithm "
                                "to a stale generation, not counted)",
                                len ? "; " : "", ms->fenced, ms->fenced == 1 ? "y" : "ies");
    if (ms->refused_writes && len < cap)
        snprintf(d + len, cap - len,
                 "%s%ld critical section%s whose write fencing refused (a newer generation "
                 "had entered meanwhile; not counted)",
                 len ? "; " : "", ms->refused_writes, plural(ms->refused_writes));
}

/* Notes that say what a verdict rests on; each is built from what this
 * run's trace shows, for this algorithm. */
static void add_notes(json_t *notes, const struct mutex_scan *ms, const struct run_info *ri,
                      const json_t *faults)
{
    bool fencing = json_is_true(json_object_get(ri->run, "fencing"));
    char note[1024];
    if (ms->overlaps > 0) {
        const struct cs_iv *a = &ms->iv[ms->first_a], *b = &ms->iv[ms->first_b];
        if (!fault_before(faults, ms_of(b->start))) {
            char wa[64], wb[64];
            snprintf(note, sizeof note,
                     "Two nodes believed they were in the critical section at once with no "
                     "fault before it: %s entered at %.3f ms while %s was still inside. %s",
                     who(b, wb, sizeof wb), ms_of(b->start), who(a, wa, sizeof wa),
                     ms->overlaps_fenced == ms->overlaps
                         ? "Fencing refused the stale side, so the resource stayed safe; the "
                           "algorithm itself did not keep mutual exclusion."
                         : "Fencing did not refuse either side.");
            json_array_append_new(notes, json_string(note));
        }
    }
    if (ms->long_pauses > 0) {
        const char *then;
        if (ms->overlaps == 0)
            then = "This time no two nodes believed they were in the critical section at once.";
        else if (ms->overlaps_fenced == ms->overlaps)
            then = "Two nodes then believed they were in the critical section at once, and "
                   "safety rested on fencing: the resource refused the older generation "
                   "(cs_fenced, cs_superseded).";
        else if (fencing && !ms->any_gen)
            then = "Fencing was on, but this algorithm's entries carry no generation, so the "
                   "resource could not tell the woken node's stale entry from a current one: "
                   "nothing stopped it.";
        else if (fencing)
            then = "Fencing was on but did not refuse the overlapping entries.";
        else
            then = "Fencing was off: nothing stopped a woken node from acting on a stale grant "
                   "or token.";
        char seen[160];
        if (ms->long_pauses_seen == ms->long_pauses)
            snprintf(seen, sizeof seen,
                     "the others declared the paused node down and went on "
                     "without it");
        else if (ms->long_pauses_seen == 0)
            snprintf(seen, sizeof seen, "yet no other node declared the paused node down");
        else
            snprintf(seen, sizeof seen,
                     "in %ld of them the others declared the paused node down and went on "
                     "without it",
                     ms->long_pauses_seen);
        snprintf(note, sizeof note,
                 "%ld pause%s outlasted the failure timeout (longest %.0f ms): a timeout-based "
                 "failure detector cannot tell a paused node from a dead one; %s, and a paused "
                 "node wakes up believing what it believed before. %s",
                 ms->long_pauses, plural(ms->long_pauses), ms_of(ms->longest_pause), seen, then);
        json_array_append_new(notes, json_string(note));
    }
}

int report_build_mutex(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                       size_t nrec, const struct report_clock *clk, const json_t *faults,
                       char *errbuf)
{
    struct mutex_scan ms;
    int rc = mutex_scan_run(&ms, ri, recs, nrec, clk);
    if (rc < 0) {
        mutex_scan_free(&ms, ri->n);
        return dl_seterr(errbuf, -rc, "out of memory computing the report");
    }
    const json_t *run = ri->run;
    bool bad = false;
    json_int_t counter_final = 0, res_viol = 0;
    /* A negative count is no record at all (a damaged run.json). */
    bool have_counter = get_int(run, "counter_final", &counter_final) && counter_final >= 0;
    bool have_res = get_int(run, "resource_violations", &res_viol) && res_viol >= 0;
    bool fencing = json_is_true(json_object_get(run, "fencing"));
    double duration = json_number_value(json_object_get(run, "duration_s"));
    const char *stop = json_string_value(json_object_get(run, "stop_reason"));
    /* A simulated run that ended because nothing was left to happen did not
     * stop at its duration, whatever its run.json says. */
    const char *simv = json_string_value(json_object_get(run, "simulator_violation"));
    if (simv && strstr(simv, "(deadlock)")) {
        stop = "deadlock";
        put(rep, "stop_reason", json_string(stop), &bad);
    }

    /* The verdicts. A value run.json did not record cannot be verified, and
     * what cannot be verified does not pass. */
    long me_bad = ms.overlaps - ms.overlaps_fenced;
    /* Judged when a violation was found, or when no overlap escaped the
     * evidence (none began after the supervisor's trace was cut). */
    bool me_judged = me_bad > 0 || ms.overlaps_unjudged == 0;
    bool res_ok = have_res && res_viol == 0;
    /* Incomplete traces can only undercount completed sections, so a final
     * counter below the count is lost updates even then; above it, the
     * missing records may hold the difference. */
    bool traces_complete = !ri->ev || ri->ev->traces_complete;
    /* [trace] record without cs: no exit was recorded, the counter is
     * not judged (evidence.c says so). */
    traces_complete = traces_complete && evidence_recorded(ri->ev, TRACE_CLASS_CS);
    bool counter_judged = have_counter && (traces_complete || counter_final < ms.exits);
    bool counter_ok = have_counter && counter_final == ms.exits;
    bool order_ok = ms.order_violations == 0;
    /* A value run.json did not record is not judged (the verdict then says
     * "cannot verify", evidence.c), never passed. */
    long violations = me_bad + (have_res ? (long)res_viol : 0) +
                      (counter_judged && !counter_ok ? 1 : 0) + ms.order_violations;
    /* `safe` covers mutual exclusion (at the resource when fencing
     * refused the stale side of every overlap), the resource and the
     * counter. Liveness is reported next to them but is not part of
     * `safe`: a safety verdict must not depend on when the run was cut
     * off. */
    bool safe = violations == 0;
    bool rests_on_fencing = safe && ms.overlaps > 0;

    char me_detail[512], res_detail[512], counter_detail[256], live_detail[512];
    const char *me = me_verdict(&ms, me_detail, sizeof me_detail);
    if (!me_judged)
        snprintf(me_detail, sizeof me_detail,
                 "%ld overlap%s began after the supervisor's trace was cut (a crash that ended "
                 "one side may not be recorded)",
                 ms.overlaps_unjudged, plural(ms.overlaps_unjudged));
    if (!have_res)
        snprintf(res_detail, sizeof res_detail, "resource_violations missing or invalid in run.json");
    else if (res_ok && (ms.fenced || ms.refused_writes || ms.superseded))
        snprintf(res_detail, sizeof res_detail,
                 "the shared resource never accepted two holders at once: fencing refused %ld "
                 "stale entr%s and %ld stale write%s, and %ld entr%s superseded a stale holder",
                 ms.fenced, ms.fenced == 1 ? "y" : "ies", ms.refused_writes,
                 plural(ms.refused_writes), ms.superseded, ms.superseded == 1 ? "y" : "ies");
    else if (res_ok)
        snprintf(res_detail, sizeof res_detail,
                 "the shared resource never found another node inside");
    else
        snprintf(res_detail, sizeof res_detail,
                 "the shared resource found another node inside %lld time%s%s", (long long)res_viol,
                 plural((long)res_viol),
                 fencing && !ms.any_gen
                     ? " (fencing was on, but this algorithm's entries carry no generation)"
                 : !fencing ? " (fencing was off)"
                            : "");
    if (!have_counter)
        snprintf(counter_detail, sizeof counter_detail, "counter_final missing or invalid in run.json");
    else if (!counter_judged && !counter_ok)
        snprintf(counter_detail, sizeof counter_detail,
                 "final counter %lld, and %ld critical section%s completed in the traces, "
                 "which are incomplete",
                 (long long)counter_final, ms.exits, plural(ms.exits));
    else if (counter_ok)
        snprintf(counter_detail, sizeof counter_detail,
                 "final counter %lld equals the %ld completed critical section%s",
                 (long long)counter_final, ms.exits, plural(ms.exits));
    else
        snprintf(counter_detail, sizeof counter_detail,
                 "final counter %lld but %ld critical section%s completed (%s)",
                 (long long)counter_final, ms.exits, plural(ms.exits),
                 counter_final < ms.exits ? "updates were lost" : "extra updates");
    bool live_ok;
    liveness_verdict(&ms, stop, &live_ok, live_detail, sizeof live_detail);

    put(rep, "safe", json_boolean(safe), &bad);
    put(rep, "rests_on_fencing", json_boolean(rests_on_fencing), &bad);
    put(rep, "violations", json_integer(violations), &bad);
    put(rep, "cs_entries", json_integer(ms.cs_entries), &bad);
    put(rep, "cs_fenced", json_integer(ms.fenced), &bad);
    put(rep, "cs_superseded", json_integer(ms.superseded), &bad);
    put(rep, "cs_writes_refused", json_integer(ms.refused_writes), &bad);
    put(rep, "requests", json_integer(ms.requests), &bad);
    put(rep, "messages", json_integer(ms.messages), &bad);
    put(rep, "messages_per_cs",
        ms.cs_entries ? json_real((double)ms.messages / (double)ms.cs_entries) : json_null(), &bad);
    put(rep, "theory_messages_per_cs",
        ri->ops && ri->ops->theory_messages_per_cs
            ? json_real(ri->ops->theory_messages_per_cs(&ri->env))
            : json_null(),
        &bad);
    put(rep, "counter_expected", json_integer(ms.exits), &bad);
    put(rep, "counter_final", have_counter ? json_integer(counter_final) : json_null(), &bad);
    put(rep, "throughput_cs_per_s",
        duration > 0 ? json_real((double)ms.cs_entries / duration) : json_null(), &bad);
    put(rep, "response_ms", response_json(&ms.resp), &bad);
    put(rep, "sync_delay_ms", sync_json(&ms.sync), &bad);
    put(rep, "fairness_jain", fairness_json(&ms, ri), &bad);
    put(rep, "waiting_ms", waiting_json(&ms, ri, &bad), &bad);
    put(rep, "overtakes", json_integer(ms.overtakes), &bad);
    put(rep, "overtakes_max_per_request", json_integer(ms.overtaken_max), &bad);
    json_t *by_type = json_object();
    for (int t = 0; t < ms.ntypes; t++) {
        char hex[16];
        const char *tn = report_type_name(ri->ops, ms.type[t], hex, sizeof hex);
        put(by_type, tn,
            json_pack("{s:I, s:o}", "messages", (json_int_t)ms.type_count[t], "per_cs",
                      ms.cs_entries ? json_real((double)ms.type_count[t] / (double)ms.cs_entries)
                                    : json_null()),
            &bad);
    }
    put(rep, "messages_by_type", by_type, &bad);
    if (ri->ops && ri->ops->token_msg)
        put(rep, "token_passes_unused", json_integer(ms.idle_passes), &bad);
    if (ri->ops && ri->ops->theory_note)
        put(rep, "theory_note", json_string(ri->ops->theory_note), &bad);
    json_t *notes = json_array();
    add_notes(notes, &ms, ri, faults);
    put(rep, "notes", notes, &bad);
    put(rep, "per_node", per_node_json(&ms, ri, &bad), &bad);
    /* The requests still open at the end, for the stall explanation. */
    json_t *waiting = json_array();
    for (int k = 1; k <= ri->n; k++)
        if (ms.node[k].req_open &&
            json_array_append_new(waiting, json_pack("{s:i, s:o}", "node", k, "since_ms",
                                                     us_to_ms(ms.node[k].req_t))) < 0)
            bad = true;
    put(rep, "waiting_at_end", waiting, &bad);
    json_t *safety =
        json_pack("{s:b, s:I, s:I, s:I, s:o, s:o, s:b, s:I, s:I}", "safe", safe, "violations",
                  (json_int_t)violations, "overlaps", (json_int_t)ms.overlaps, "overlaps_fenced",
                  (json_int_t)ms.overlaps_fenced, "overlap_ms", us_to_ms(ms.overlap_us),
                  "resource_violations", have_res ? json_integer(res_viol) : json_null(),
                  "counter_ok", counter_ok, "requests_pending_at_end", (json_int_t)ms.pending,
                  "crashes", (json_int_t)ms.crashes);
    put(rep, "safety", safety, &bad);
    json_t *props = json_pack(
        "[o, o, o]", property_judged("mutual_exclusion", me, me_judged, me_detail),
        property_judged("resource", res_ok ? "pass" : "fail", have_res, res_detail),
        property_judged("counter", counter_ok ? "pass" : "fail", counter_judged, counter_detail));
    if (checks_grant_order(ri)) {
        char order_detail[256];
        if (order_ok)
            snprintf(order_detail, sizeof order_detail,
                     "every entry came in (timestamp, id) order among the open requests "
                     "(%ld entries checked)",
                     ms.order_checked);
        else
            snprintf(order_detail, sizeof order_detail,
                     "node %d entered at %.3f ms while node %d had an earlier (timestamp, id) "
                     "request open (%ld out-of-order entr%s)",
                     ms.order_first_in, ms_of(ms.order_first_t), ms.order_first_other,
                     ms.order_violations, ms.order_violations == 1 ? "y" : "ies");
        json_array_append_new(props,
                              property("grant_order", order_ok ? "pass" : "fail", order_detail));
    }
    json_array_append_new(props, property("liveness", live_ok ? "pass" : "fail", live_detail));
    put(rep, "properties", props, &bad);
    mutex_scan_free(&ms, ri->n);
    return bad ? dl_seterr(errbuf, ENOMEM, "out of memory building the report") : 0;
}
