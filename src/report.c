/* Reports, checks and trace export for a run directory (see report.h).
 *
 * Everything here is computed from two inputs: run.json (what the supervisor
 * saw: counters, the shared resource, the fault log) and the merged binary
 * trace. The trace is read once, in time order, by one scan per algorithm
 * family; the scan fills a plain struct, and the JSON is built from that
 * struct afterwards, so the metrics can be unit-tested on synthetic traces.
 * All JSON goes through jansson. */
#include "src/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ipc/proc.h"
#include "ipc/trace.h"
#include "ipc/util.h"
#include "ipc/wire.h"
#include "nodes/algo.h"
#include "nodes/runtime.h"
#include "src/config.h"

/* ---- small helpers ---- */

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

/* later - earlier, saturated: a corrupt trace record can hold any time. */
static int64_t us_between(int64_t later, int64_t earlier)
{
    int64_t d;
    if (__builtin_sub_overflow(later, earlier, &d))
        return later > earlier ? INT64_MAX : INT64_MIN;
    return d;
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

static json_t *us_to_ms(int64_t us) { return json_real((double)us / 1000.0); }

/* Set a key, remembering a failure (a NULL value is an allocation failure). */
static void put(json_t *o, const char *key, json_t *v, bool *bad)
{
    if (!o || json_object_set_new(o, key, v) < 0)
        *bad = true;
}

static json_t *copy_key(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v ? json_deep_copy(v) : json_null();
}

static bool get_int(const json_t *o, const char *key, json_int_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

/* The name of a message type: the algorithm's, the runtime's, or hex. */
static const char *type_name(const struct algo_ops *ops, uint16_t type, char *buf, size_t cap)
{
    if (type < MSG_RANGE_SIZE && runtime_msg_name(type))
        return runtime_msg_name(type);
    if (type >= MSG_RANGE_SIZE && ops && ops->msg_name) {
        const char *name = ops->msg_name(type);
        if (name)
            return name;
    }
    snprintf(buf, cap, "0x%04x", (unsigned)type);
    return buf;
}

static const char *plural(long n) { return n == 1 ? "" : "s"; }

/* ---- run.json ---- */

struct run_info {
    json_t *run;               /* run.json (owned) */
    const char *algorithm;     /* points into run */
    int n;                     /* nodes 1..n */
    const struct algo_ops *ops; /* NULL for an algorithm this build does not know */
    struct algo_env env;       /* n, coordinator, coordinator_competes, groups... */
    bool requester[ALGO_MAX_NODES + 1]; /* nodes the workload made request */
};

static void run_info_free(struct run_info *ri)
{
    json_decref(ri->run);
    ri->run = NULL;
}

static int load_run(const char *rundir, struct run_info *ri, char *errbuf)
{
    memset(ri, 0, sizeof *ri);
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", rundir);
    struct stat st;
    if (stat(path, &st) < 0)
        return dl_seterr(errbuf, errno, "%s: %s (is this a finished distlab run directory?)",
                         path, strerror(errno));
    json_error_t jerr;
    ri->run = json_load_file(path, 0, &jerr);
    if (!ri->run)
        return dl_seterr(errbuf, EINVAL, "%s:%d: %s", path, jerr.line, jerr.text);
    int rc;
    if (!json_is_object(ri->run)) {
        rc = dl_seterr(errbuf, EINVAL, "%s: not a JSON object", path);
        goto err;
    }
    ri->algorithm = json_string_value(json_object_get(ri->run, "algorithm"));
    if (!ri->algorithm) {
        rc = dl_seterr(errbuf, EINVAL, "%s: \"algorithm\" is missing or not a string", path);
        goto err;
    }
    json_int_t n;
    if (!get_int(ri->run, "nodes", &n) || n < 1 || n > ALGO_MAX_NODES) {
        rc = dl_seterr(errbuf, EINVAL, "%s: \"nodes\" must be an integer from 1 to %d", path,
                       ALGO_MAX_NODES);
        goto err;
    }
    ri->n = (int)n;
    ri->ops = algo_find(ri->algorithm);
    json_int_t coord = 1, seed = 0;
    get_int(ri->run, "coordinator", &coord);
    get_int(ri->run, "seed", &seed);
    ri->env.id = 1;
    ri->env.n = ri->n;
    ri->env.seed = (uint64_t)seed;
    ri->env.coordinator = (int)coord;
    ri->env.coordinator_competes = json_is_true(json_object_get(ri->run, "coordinator_competes"));
    json_int_t groups = 0, rounds = 0;
    get_int(ri->run, "groups", &groups);
    get_int(ri->run, "local_rounds", &rounds);
    ri->env.groups = (int)groups;
    ri->env.local_rounds = (int)rounds;
    const char *members = json_string_value(json_object_get(ri->run, "members"));
    if (members && members[0])
        config_parse_members(members, ri->n, ri->env.group_of, true);
    /* Who requests: run.json's list when present, else whoever the
     * algorithm lets compete. */
    json_t *req = json_object_get(ri->run, "requesters");
    for (int k = 1; k <= ri->n; k++)
        ri->requester[k] = !json_is_array(req) && (!ri->ops || !ri->ops->competes ||
                                                   ri->ops->competes(&ri->env, k));
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v)
    {
        json_int_t k = json_integer_value(v);
        if (k >= 1 && k <= ri->n)
            ri->requester[k] = !ri->ops || !ri->ops->competes || ri->ops->competes(&ri->env, (int)k);
    }
    return 0;
err:
    run_info_free(ri);
    return rc;
}

static bool is_raft(const struct run_info *ri)
{
    return strcmp(ri->algorithm, "raft") == 0 || (ri->ops && ri->ops->range == MSG_RANGE_RAFT);
}

/* ---- mutual exclusion: one scan over the trace ---- */

struct node_scan {
    long entries, fenced, requests, sent, recv;
    /* The open request, if any. */
    bool req_open;
    int32_t req_inc;
    int64_t req_t;
    /* The open CS interval, if any. */
    bool in_cs;
    int32_t cs_inc;
    /* An entry the resource refused (fencing), waiting for its exit record. */
    bool fenced_open;
    int32_t fenced_inc;
    /* Token algorithms: holding a token received, and whether it was used. */
    bool token_held, token_used;
    /* Ricart-Agrawala: the timestamp of the open request (from its sends). */
    bool ts_known;
    int64_t req_ts;
};

#define MAX_TYPES 32

struct mutex_scan {
    struct node_scan *node; /* [0..n]; [0] unused */
    long cs_entries, fenced, superseded, requests, messages, exits, crashes, overlaps, pending;
    /* Algorithm messages sent, by type (e.g. the two levels of a ring). */
    uint16_t type[MAX_TYPES];
    long type_count[MAX_TYPES];
    int ntypes;
    long idle_passes;  /* token passes by a holder that did not use it */
    int64_t *paused_at; /* [node]: when it was paused, -1 if running */
    long long_pauses;   /* pauses that outlasted the failure timeout */
    int64_t longest_pause;
    long order_checked, order_violations;
    int order_first_in, order_first_other;
    int64_t order_first_t;
    bool *believes_down; /* [i * (n + 1) + j]: node i thinks j is down */
    int first_in, first_other; /* the first overlap: who entered, who was inside */
    int64_t first_t;
    struct samples resp, sync;
};

static void mutex_scan_free(struct mutex_scan *ms)
{
    free(ms->believes_down);
    free(ms->paused_at);
    free(ms->node);
    free(ms->resp.v);
    free(ms->sync.v);
    memset(ms, 0, sizeof *ms);
}

/* Does node `who` leave its interval (exit of incarnation inc, or crash) at
 * the same microsecond as record i? Records are written *before* the action
 * they describe, so an exit and another node's entry stamped with the same
 * microsecond cannot be ordered; we give the benefit of the doubt rather than
 * report an overlap of zero length (the shared occupant field, counted in
 * resource_violations, still catches a real one). */
static bool leaves_at_same_time(const struct trace_rec *r, size_t nrec, size_t i, int who,
                                int32_t inc)
{
    for (size_t j = i + 1; j < nrec && r[j].t_us == r[i].t_us; j++)
        if (r[j].node == who &&
            (r[j].ev == TR_CRASH || (r[j].ev == TR_EXIT && r[j].incarnation == inc)))
            return true;
    return false;
}

/* An open request of an earlier incarnation died with it. */
static void drop_stale(struct node_scan *ns, int32_t inc)
{
    if (ns->req_open && ns->req_inc != inc)
        ns->req_open = false;
    if (ns->in_cs && ns->cs_inc != inc)
        ns->in_cs = false;
    if (ns->fenced_open && ns->fenced_inc != inc)
        ns->fenced_open = false;
}

static const char *alg_type_name(const struct run_info *ri, uint16_t type)
{
    return type >= MSG_RANGE_SIZE && ri->ops && ri->ops->msg_name ? ri->ops->msg_name(type) : NULL;
}

static bool is_token_type(const struct run_info *ri, uint16_t type)
{
    const char *name = alg_type_name(ri, type);
    return name && strstr(name, "token");
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
 * first, and should have held back its reply. */
static void check_order(struct mutex_scan *ms, const struct run_info *ri, const struct trace_rec *e)
{
    int i = e->node;
    ms->order_checked++;
    for (int j = 1; j <= ri->n; j++) {
        const struct node_scan *nj = &ms->node[j];
        if (j == i || !nj->req_open || !nj->ts_known || ms->believes_down[i * (ri->n + 1) + j])
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

static int on_enter(struct mutex_scan *ms, const struct run_info *ri, const struct trace_rec *r,
                    size_t nrec, size_t i, bool *have_exit, int64_t last_exit)
{
    const struct trace_rec *e = &r[i];
    struct node_scan *ns = &ms->node[e->node];
    drop_stale(ns, e->incarnation);
    if (e->aux == 2) {
        /* Refused by fencing: the node never held the resource. Its request
         * was answered (by the algorithm), so it is not pending, but the
         * wait is not a response time either. */
        ms->fenced++;
        ns->fenced++;
        ns->fenced_open = true;
        ns->fenced_inc = e->incarnation;
        ns->req_open = false;
        return 0;
    }
    ms->cs_entries++;
    ns->entries++;
    ns->fenced_open = false;
    ns->token_used = true;
    if (checks_grant_order(ri) && ns->req_open)
        check_order(ms, ri, e);
    ns->ts_known = false;
    int rc = 0;
    if (ns->req_open) {
        rc |= samples_add(&ms->resp, us_between(e->t_us, ns->req_t));
        /* Synchronization delay: only for a node that was already waiting
         * when the last holder left, and only for the first entry after
         * that exit (an exit is consumed by the next entry, so a crash
         * between them does not turn failover time into a sync delay). */
        if (*have_exit && ns->req_t <= last_exit)
            rc |= samples_add(&ms->sync, us_between(e->t_us, last_exit));
        ns->req_open = false;
    }
    *have_exit = false;
    bool overlap = false;
    for (int k = 1; k <= ri->n; k++) {
        if (k == e->node || !ms->node[k].in_cs)
            continue;
        if (leaves_at_same_time(r, nrec, i, k, ms->node[k].cs_inc))
            continue;
        if (e->aux == 3) {
            /* Fencing: this entry's newer generation superseded k, whose
             * lease is void and whose write the resource will refuse. The
             * resource stayed consistent: counted, not a violation. */
            ms->superseded++;
            ms->node[k].in_cs = false;
            continue;
        }
        if (!overlap && ms->overlaps == 0) {
            ms->first_in = e->node;
            ms->first_other = k;
            ms->first_t = e->t_us;
        }
        overlap = true;
    }
    if (overlap)
        ms->overlaps++;
    ns->in_cs = true;
    ns->cs_inc = e->incarnation;
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

static int mutex_scan_run(struct mutex_scan *ms, const struct run_info *ri,
                          const struct trace_rec *r, size_t nrec)
{
    memset(ms, 0, sizeof *ms);
    ms->node = calloc((size_t)ri->n + 1, sizeof *ms->node);
    ms->believes_down = calloc((size_t)(ri->n + 1) * (size_t)(ri->n + 1), sizeof(bool));
    ms->paused_at = calloc((size_t)ri->n + 1, sizeof *ms->paused_at);
    if (!ms->node || !ms->believes_down || !ms->paused_at)
        return -ENOMEM;
    for (int k = 0; k <= ri->n; k++)
        ms->paused_at[k] = -1;
    double ft_ms = json_number_value(json_object_get(ri->run, "failure_timeout_ms"));
    /* Out of range (a corrupt run.json) counts as not given. */
    int64_t failure_timeout = ft_ms > 0 && ft_ms < 1e12 ? (int64_t)(ft_ms * 1000.0) : 0;
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
                if (is_token_type(ri, e->type)) {
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
        case TR_PAUSE:
            ms->paused_at[e->node] = e->t_us;
            break;
        case TR_RESUME:
            if (ms->paused_at[e->node] >= 0) {
                int64_t d = us_between(e->t_us, ms->paused_at[e->node]);
                if (failure_timeout > 0 && d > failure_timeout)
                    ms->long_pauses++;
                if (d > ms->longest_pause)
                    ms->longest_pause = d;
                ms->paused_at[e->node] = -1;
            }
            break;
        case TR_PEER_DOWN:
        case TR_PEER_UP:
            if (e->peer >= 1 && e->peer <= ri->n)
                ms->believes_down[e->node * (ri->n + 1) + e->peer] = e->ev == TR_PEER_DOWN;
            break;
        case TR_RECV:
            if (e->type >= MSG_RANGE_SIZE && is_token_type(ri, e->type)) {
                ns->token_held = true;
                ns->token_used = false;
            }
            if (e->type >= MSG_RANGE_SIZE)
                ns->recv++;
            break;
        case TR_REQUEST:
            ms->requests++;
            ns->requests++;
            drop_stale(ns, e->incarnation);
            /* One outstanding request per node: a repeat keeps the first
             * time, so the response time covers the whole wait. */
            if (!ns->req_open) {
                ns->req_open = true;
                ns->req_inc = e->incarnation;
                ns->req_t = e->t_us;
            }
            break;
        case TR_ENTER:
            rc = on_enter(ms, ri, r, nrec, i, &have_exit, last_exit);
            break;
        case TR_EXIT:
            drop_stale(ns, e->incarnation);
            if (ns->fenced_open) {
                /* Leaving a refused entry writes nothing to the counter. */
                ns->fenced_open = false;
                break;
            }
            ns->in_cs = false;
            have_exit = true;
            last_exit = e->t_us;
            /* aux 2: fencing refused the write (a superseded holder). */
            if (e->aux != 2)
                ms->exits++;
            break;
        case TR_CRASH:
            /* Written by the supervisor with node = the crashed node: the
             * node's CS (if it was inside) ends, and its open request can
             * no longer be granted, so it does not count against liveness. */
            ms->crashes++;
            ms->paused_at[e->node] = -1; /* killed while paused: a crash, not a pause */
            ns->in_cs = false;
            ns->fenced_open = false;
            ns->req_open = false;
            ns->ts_known = false;
            ns->token_held = false;
            break;
        case TR_STOP:
            /* aux != 0: the supervisor saw the node stop gracefully during
             * the run (SIGTERM); like a crash, its open request ends. The
             * node's own stop record (aux 0) at the end of a run does not
             * excuse a request still pending. */
            if (e->aux != 0) {
                ns->in_cs = false;
                ns->fenced_open = false;
                ns->req_open = false;
            }
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    for (int k = 1; k <= ri->n; k++)
        if (ms->node[k].req_open)
            ms->pending++;
    if (ms->resp.n > 1)
        qsort(ms->resp.v, ms->resp.n, sizeof *ms->resp.v, cmp_i64);
    if (ms->sync.n > 1)
        qsort(ms->sync.v, ms->sync.n, sizeof *ms->sync.v, cmp_i64);
    return 0;
}

static json_t *property(const char *name, bool held, const char *detail)
{
    return json_pack("{s:s, s:b, s:s}", "name", name, "held", held, "detail", detail);
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

/* The mutual-exclusion part of the report. */
static int build_mutex(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                       size_t nrec, char *errbuf)
{
    struct mutex_scan ms;
    int rc = mutex_scan_run(&ms, ri, recs, nrec);
    if (rc < 0) {
        mutex_scan_free(&ms);
        return dl_seterr(errbuf, -rc, "out of memory computing the report");
    }
    const json_t *run = ri->run;
    bool bad = false;
    json_int_t counter_final = 0, res_viol = 0;
    bool have_counter = get_int(run, "counter_final", &counter_final);
    bool have_res = get_int(run, "resource_violations", &res_viol);
    double duration = json_number_value(json_object_get(run, "duration_s"));
    bool workload_done = json_is_true(json_object_get(run, "workload_done"));
    const char *stop = json_string_value(json_object_get(run, "stop_reason"));

    /* The verdicts. A value run.json did not record cannot be verified, and
     * what cannot be verified does not pass. */
    bool me_ok = ms.overlaps == 0;
    bool res_ok = have_res && res_viol == 0;
    bool counter_ok = have_counter && counter_final == ms.exits;
    bool order_ok = ms.order_violations == 0;
    long violations = ms.overlaps + (have_res ? (long)res_viol : 1) + (counter_ok ? 0 : 1) +
                      ms.order_violations;
    /* `safe` covers mutual exclusion, the resource and the counter only.
     * Liveness is reported next to them but is not part of `safe`: a run
     * stopped at its duration (or by a signal) legitimately leaves requests
     * waiting, and a safety verdict must not depend on when the run was
     * cut off. */
    bool safe = violations == 0;

    char me_detail[256], res_detail[256], counter_detail[256], live_detail[256];
    if (me_ok)
        snprintf(me_detail, sizeof me_detail,
                 "no two nodes were in the critical section at once (%ld entr%s)",
                 ms.cs_entries, ms.cs_entries == 1 ? "y" : "ies");
    else
        snprintf(me_detail, sizeof me_detail,
                 "nodes %d and %d were both in the critical section at %.3f ms "
                 "(%ld overlapping entr%s)",
                 ms.first_other, ms.first_in, (double)ms.first_t / 1000.0, ms.overlaps,
                 ms.overlaps == 1 ? "y" : "ies");
    if (!have_res)
        snprintf(res_detail, sizeof res_detail, "resource_violations not recorded in run.json");
    else if (res_ok)
        snprintf(res_detail, sizeof res_detail,
                 "the shared resource never found another node inside");
    else
        snprintf(res_detail, sizeof res_detail,
                 "the shared resource found another node inside %lld time%s",
                 (long long)res_viol, plural((long)res_viol));
    if (!have_counter)
        snprintf(counter_detail, sizeof counter_detail, "counter_final not recorded in run.json");
    else if (counter_ok)
        snprintf(counter_detail, sizeof counter_detail,
                 "final counter %lld equals the %ld completed critical section%s",
                 (long long)counter_final, ms.exits, plural(ms.exits));
    else
        snprintf(counter_detail, sizeof counter_detail,
                 "final counter %lld but %ld critical section%s completed (%s)",
                 (long long)counter_final, ms.exits, plural(ms.exits),
                 counter_final < ms.exits ? "updates were lost" : "extra updates");
    bool live_ok = true;
    if (ms.pending == 0)
        snprintf(live_detail, sizeof live_detail,
                 "every request was granted or ended by its node's crash (%ld request%s)",
                 ms.requests, plural(ms.requests));
    else if (workload_done) {
        live_ok = false;
        snprintf(live_detail, sizeof live_detail,
                 "%ld request%s never granted although the workload finished", ms.pending,
                 ms.pending == 1 ? " was" : "s were");
    } else if (stop && strcmp(stop, "duration") == 0)
        snprintf(live_detail, sizeof live_detail,
                 "%ld request%s still pending when the run stopped at its duration", ms.pending,
                 plural(ms.pending));
    else
        snprintf(live_detail, sizeof live_detail,
                 "%ld request%s still pending when the run stopped (%s)", ms.pending,
                 plural(ms.pending), stop ? stop : "reason unknown");

    put(rep, "safe", json_boolean(safe), &bad);
    put(rep, "violations", json_integer(violations), &bad);
    put(rep, "cs_entries", json_integer(ms.cs_entries), &bad);
    put(rep, "cs_fenced", json_integer(ms.fenced), &bad);
    put(rep, "cs_superseded", json_integer(ms.superseded), &bad);
    put(rep, "requests", json_integer(ms.requests), &bad);
    put(rep, "messages", json_integer(ms.messages), &bad);
    put(rep, "messages_per_cs",
        ms.cs_entries ? json_real((double)ms.messages / (double)ms.cs_entries) : json_null(),
        &bad);
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
    json_t *by_type = json_object();
    for (int t = 0; t < ms.ntypes; t++) {
        char hex[16];
        const char *tn = type_name(ri->ops, ms.type[t], hex, sizeof hex);
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
    /* Say plainly what the verdict rests on. */
    json_t *notes = json_array();
    if (ms.long_pauses > 0) {
        char note[512];
        bool fencing = json_is_true(json_object_get(ri->run, "fencing"));
        snprintf(note, sizeof note,
                 "%ld pause%s outlasted the failure timeout (longest %.0f ms): a timeout-based "
                 "failure detector cannot tell a paused node from a dead one, so the others "
                 "went on without it and it woke up believing what it believed before. %s",
                 ms.long_pauses, plural(ms.long_pauses), (double)ms.longest_pause / 1000.0,
                 fencing ? "Safety then rests on fencing: the resource refuses generations older "
                           "than the newest (cs_fenced, cs_superseded)."
                         : "Fencing was off: nothing stopped a woken node from acting on a stale "
                           "grant or token.");
        json_array_append_new(notes, json_string(note));
    }
    put(rep, "notes", notes, &bad);
    put(rep, "per_node", per_node_json(&ms, ri, &bad), &bad);
    put(rep, "safety",
        json_pack("{s:b, s:I, s:I, s:o, s:b, s:I, s:I}", "safe", safe, "violations",
                  (json_int_t)violations, "overlaps", (json_int_t)ms.overlaps,
                  "resource_violations", have_res ? json_integer(res_viol) : json_null(),
                  "counter_ok", counter_ok, "requests_pending_at_end", (json_int_t)ms.pending,
                  "crashes", (json_int_t)ms.crashes),
        &bad);
    put(rep, "faults", copy_key(run, "faults"), &bad);
    json_t *props =
        json_pack("[o, o, o]", property("mutual_exclusion", me_ok, me_detail),
                  property("resource", res_ok, res_detail),
                  property("counter", counter_ok, counter_detail));
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
                     ms.order_first_in, (double)ms.order_first_t / 1000.0,
                     ms.order_first_other, ms.order_violations,
                     ms.order_violations == 1 ? "y" : "ies");
        json_array_append_new(props, property("grant_order", order_ok, order_detail));
    }
    json_array_append_new(props, property("liveness", live_ok, live_detail));
    put(rep, "properties", props, &bad);
    mutex_scan_free(&ms);
    return bad ? dl_seterr(errbuf, ENOMEM, "out of memory building the report") : 0;
}

/* Raft reports (elections, leaders per term, commit latency, lost
 * acknowledged commands) come with the Raft core; until then a Raft run
 * directory is refused rather than checked against mutex properties. */
static int build_raft(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                      size_t nrec, char *errbuf)
{
    (void)rep;
    (void)recs;
    (void)nrec;
    return dl_seterr(errbuf, ENOTSUP, "reports for %s runs are not implemented yet",
                     ri->algorithm);
}

int report_build(const char *rundir, json_t **out, char *errbuf)
{
    struct run_info ri;
    int rc = load_run(rundir, &ri, errbuf);
    if (rc < 0)
        return rc;
    struct trace_rec *recs = NULL;
    size_t nrec = 0;
    rc = trace_load(rundir, &recs, &nrec, errbuf);
    if (rc < 0) {
        run_info_free(&ri);
        return rc;
    }
    bool bad = false;
    json_t *rep = json_object();
    static const char *const common[] = {"name",         "run_id", "algorithm",    "nodes",
                                         "duration_s",   "seed",   "stop_reason",
                                         "workload_done", "fencing", "simulated"};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        put(rep, common[i], copy_key(ri.run, common[i]), &bad);
    if (bad)
        rc = dl_seterr(errbuf, ENOMEM, "out of memory building the report");
    else if (is_raft(&ri))
        rc = build_raft(rep, &ri, recs, nrec, errbuf);
    else
        rc = build_mutex(rep, &ri, recs, nrec, errbuf);
    free(recs);
    run_info_free(&ri);
    if (rc < 0) {
        json_decref(rep);
        return rc;
    }
    *out = rep;
    return 0;
}

/* ---- writing ---- */

int report_write(const char *rundir, json_t **repout, char *errbuf)
{
    json_t *rep;
    int rc = report_build(rundir, &rep, errbuf);
    if (rc < 0)
        return rc;
    char path[4200];
    /* 15 significant digits: 0.1 stays 0.1, and no measured value here has
     * more precision than that. */
    char *text = json_dumps(rep, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    char *txt = NULL;
    size_t txtlen = 0;
    FILE *mf = text ? open_memstream(&txt, &txtlen) : NULL;
    if (!mf) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory writing the report");
        goto out;
    }
    report_print_text(rep, mf);
    if (fclose(mf) != 0) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory writing the report");
        goto out;
    }
    size_t len = strlen(text);
    char *withnl = realloc(text, len + 2);
    if (!withnl) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory writing the report");
        goto out;
    }
    text = withnl;
    text[len++] = '\n';
    text[len] = '\0';
    snprintf(path, sizeof path, "%s/report.json", rundir);
    rc = dl_write_file(path, text, len, errbuf);
    if (rc < 0)
        goto out;
    snprintf(path, sizeof path, "%s/report.txt", rundir);
    rc = dl_write_file(path, txt, txtlen, errbuf);
out:
    free(text);
    free(txt);
    if (rc == 0 && repout)
        *repout = rep;
    else
        json_decref(rep);
    return rc;
}

/* ---- text ---- */

static const char *fmt_num(const json_t *v, int decimals, char *buf, size_t cap)
{
    if (json_is_integer(v))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, cap, "%.*f", decimals, json_real_value(v));
    else
        snprintf(buf, cap, "-");
    return buf;
}

static const char *fmt_key(const json_t *o, const char *key, int decimals, char *buf,
                           size_t cap)
{
    return fmt_num(json_object_get(o, key), decimals, buf, cap);
}

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static void print_properties(const json_t *rep, FILE *f, const char *indent)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rep, "properties"), i, p)
    {
        fprintf(f, "%s%s %s: %s\n", indent,
                json_is_true(json_object_get(p, "held")) ? "PASS" : "FAIL",
                str_or(p, "name", "?"), str_or(p, "detail", ""));
    }
}

static void print_mutex(const json_t *rep, FILE *f)
{
    char a[64], b[64], c[64], d[64];
    const json_t *safety = json_object_get(rep, "safety");
    fprintf(f, "critical sections  %s entries, %s per s", fmt_key(rep, "cs_entries", 0, a, 64),
            fmt_key(rep, "throughput_cs_per_s", 1, b, 64));
    json_int_t fenced = json_integer_value(json_object_get(rep, "cs_fenced"));
    if (fenced)
        fprintf(f, ", %lld refused by fencing", (long long)fenced);
    fprintf(f, "; %s request(s) pending at the end\n",
            fmt_key(safety, "requests_pending_at_end", 0, c, 64));
    fprintf(f, "messages           %s algorithm messages: %s per CS (theory %s)\n",
            fmt_key(rep, "messages", 0, a, 64), fmt_key(rep, "messages_per_cs", 2, b, 64),
            fmt_key(rep, "theory_messages_per_cs", 2, c, 64));
    const json_t *bt = json_object_get(rep, "messages_by_type");
    if (json_object_size(bt) > 1) {
        fprintf(f, "  by type         ");
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)bt, key, v)
            fprintf(f, " %s %s/CS", key, fmt_key(v, "per_cs", 2, a, 64));
        fputc('\n', f);
    }
    const json_t *tn = json_object_get(rep, "theory_note");
    if (json_is_string(tn))
        fprintf(f, "  theory           %s\n", json_string_value(tn));
    const json_t *idle = json_object_get(rep, "token_passes_unused");
    if (json_is_integer(idle))
        fprintf(f, "idle token passes  %lld (token hops to a node that did not want the CS)\n",
                (long long)json_integer_value(idle));
    json_int_t sup = json_integer_value(json_object_get(rep, "cs_superseded"));
    const json_t *fencing = json_object_get(rep, "fencing");
    if (json_is_boolean(fencing))
        fprintf(f, "fencing            %s%s\n", json_is_true(fencing) ? "on" : "off",
                sup ? " (a newer generation superseded a stale holder; its write was refused)"
                    : "");
    const json_t *r = json_object_get(rep, "response_ms");
    fprintf(f, "response time      p50 %s  p95 %s  p99 %s  max %s ms (request -> entry)\n",
            fmt_key(r, "p50", 3, a, 64), fmt_key(r, "p95", 3, b, 64), fmt_key(r, "p99", 3, c, 64),
            fmt_key(r, "max", 3, d, 64));
    const json_t *s = json_object_get(rep, "sync_delay_ms");
    fprintf(f, "sync delay         p50 %s  mean %s ms (one node leaves -> the next waiting one "
               "enters)\n",
            fmt_key(s, "p50", 3, a, 64), fmt_key(s, "mean", 3, b, 64));
    fprintf(f, "fairness (Jain)    %s (1.000 = every requesting node got the same share)\n",
            fmt_key(rep, "fairness_jain", 3, a, 64));
    fprintf(f, "counter            final %s, expected %s (one per completed CS)\n",
            fmt_key(rep, "counter_final", 0, a, 64), fmt_key(rep, "counter_expected", 0, b, 64));
    fprintf(f, "crashes            %s\n\n", fmt_key(safety, "crashes", 0, a, 64));

    fprintf(f, "%4s %6s %8s %8s %6s %10s %11s %7s\n", "node", "CS", "sent", "recv", "share",
            "queue_full", "backlog_hwm", "crashes");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(rep, "per_node"), i, n)
    {
        char e[64], g[64], h[64], k[64];
        const json_t *share = json_object_get(n, "share_of_messages");
        if (json_is_number(share))
            snprintf(d, sizeof d, "%.1f%%", 100.0 * json_number_value(share));
        else
            snprintf(d, sizeof d, "-");
        fprintf(f, "%4s %6s %8s %8s %6s %10s %11s %7s\n", fmt_key(n, "node", 0, a, 64),
                fmt_key(n, "cs_entries", 0, b, 64), fmt_key(n, "messages_sent", 0, c, 64),
                fmt_key(n, "messages_received", 0, e, 64), d, fmt_key(n, "queue_full", 0, g, 64),
                fmt_key(n, "backlog_hwm", 0, h, 64), fmt_key(n, "crashes", 0, k, 64));
    }
}

static void print_faults(const json_t *rep, FILE *f)
{
    const json_t *faults = json_object_get(rep, "faults");
    fprintf(f, "\nfaults:%s\n", json_array_size(faults) ? "" : " none");
    size_t i;
    json_t *o;
    json_array_foreach(faults, i, o)
    {
        char a[64], b[64];
        const json_t *target = json_object_get(o, "target");
        const char *skipped = json_string_value(json_object_get(o, "skipped"));
        fprintf(f, "  at %s ms: %s %s", fmt_key(o, "at_ms", 0, a, 64), str_or(o, "action", "?"),
                json_is_string(target) ? json_string_value(target) : fmt_num(target, 0, b, 64));
        if (json_is_integer(json_object_get(o, "node")))
            fprintf(f, " (node %s)", fmt_key(o, "node", 0, b, 64));
        if (skipped)
            fprintf(f, " - skipped: %s", skipped);
        fputc('\n', f);
    }
}

void report_print_text(const json_t *rep, FILE *f)
{
    char a[64], b[64], c[64];
    fprintf(f, "%s: %s, %s nodes, %s s, seed %s\n", str_or(rep, "name", "run"),
            str_or(rep, "algorithm", "?"), fmt_key(rep, "nodes", 0, a, 64),
            fmt_key(rep, "duration_s", 3, b, 64), fmt_key(rep, "seed", 0, c, 64));
    json_int_t viol = json_integer_value(json_object_get(rep, "violations"));
    if (json_is_true(json_object_get(rep, "safe")))
        fprintf(f, "SAFE\n");
    else
        fprintf(f, "UNSAFE (%lld violation%s)\n", (long long)viol, plural((long)viol));
    const json_t *done = json_object_get(rep, "workload_done");
    fprintf(f, "stopped: %s%s\n\n", str_or(rep, "stop_reason", "unknown"),
            json_is_boolean(done) ? (json_is_true(done) ? " (workload finished)"
                                                        : " (workload not finished)")
                                  : "");
    if (json_object_get(rep, "cs_entries"))
        print_mutex(rep, f);
    print_faults(rep, f);
    size_t ni;
    json_t *note;
    json_array_foreach(json_object_get(rep, "notes"), ni, note)
        fprintf(f, "\nnote: %s\n", json_string_value(note));
    fprintf(f, "\nproperties:\n");
    print_properties(rep, f, "  ");
}

/* ---- check ---- */

int report_check(const char *rundir, FILE *f)
{
    char err[DL_ERRLEN];
    json_t *rep;
    if (report_build(rundir, &rep, err) < 0) {
        fprintf(stderr, "distlab check: %s\n", err);
        return 2;
    }
    print_properties(rep, f, "");
    bool safe = json_is_true(json_object_get(rep, "safe"));
    fprintf(f, "%s\n", safe ? "safe" : "UNSAFE");
    json_decref(rep);
    return safe ? 0 : 1;
}

/* ---- trace export ---- */

/* The algorithm of a run: run.json's, or for a run whose supervisor never
 * wrote one (it was killed), the `algorithm = ` line of config.ini. */
static int trace_algorithm(const char *rundir, char *alg, size_t cap, char *errbuf)
{
    struct run_info ri;
    char err1[DL_ERRLEN];
    if (load_run(rundir, &ri, err1) == 0) {
        snprintf(alg, cap, "%s", ri.algorithm);
        run_info_free(&ri);
        return 0;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/config.ini", rundir);
    FILE *f = fopen(path, "r");
    if (!f)
        return dl_seterr(errbuf, EINVAL, "%s", err1);
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char word[64];
        if (sscanf(line, " algorithm = %63[A-Za-z0-9_]", word) == 1) {
            snprintf(alg, cap, "%s", word);
            found = true;
        }
    }
    fclose(f);
    return found ? 0 : dl_seterr(errbuf, EINVAL, "%s", err1);
}

static json_t *signal_json(int sig)
{
    if (sig == 0)
        return json_null();
    const char *name = proc_signame(sig);
    if (strcmp(name, "signal") != 0) /* proc_signame's answer for one it does not name */
        return json_string(name);
    char buf[32];
    snprintf(buf, sizeof buf, "signal %d", sig);
    return json_string(buf);
}

static json_t *trace_rec_json(const struct trace_rec *r, const struct algo_ops *ops,
                              const json_t *faults)
{
    const char *key = ops && ops->key_field ? ops->key_field : "key";
    char tbuf[16];
    bool bad = false;
    json_t *o = json_object();
    put(o, "t_us", json_integer(r->t_us), &bad);
    put(o, "node", json_integer(r->node), &bad);
    put(o, "ev", json_string(trace_ev_name(r->ev)), &bad);
    put(o, "incarnation", json_integer(r->incarnation), &bad);
    switch (r->ev) {
    case TR_SEND:
        put(o, "to", json_integer(r->peer), &bad);
        put(o, "type", json_string(type_name(ops, r->type, tbuf, sizeof tbuf)), &bad);
        put(o, key, json_integer(r->key), &bad);
        break;
    case TR_RECV:
        put(o, "from", json_integer(r->peer), &bad);
        put(o, "type", json_string(type_name(ops, r->type, tbuf, sizeof tbuf)), &bad);
        put(o, key, json_integer(r->key), &bad);
        put(o, "sent_us", json_integer(r->a), &bad);
        break;
    case TR_DROP:
        /* A malformed message's sender is unknown (0 would read as the
         * supervisor). */
        put(o, "from",
            r->aux == 0 || r->aux == WIRE_DROP_STALE || r->aux == WIRE_DROP_SEND
                ? json_integer(r->peer)
                : json_null(),
            &bad);
        put(o, "type", json_string(type_name(ops, r->type, tbuf, sizeof tbuf)), &bad);
        put(o, key, json_integer(r->key), &bad);
        put(o, "reason",
            json_string(r->aux == 0                 ? "network"
                        : r->aux == WIRE_DROP_STALE ? "stale_incarnation"
                        : r->aux == WIRE_DROP_SEND  ? "send_refused"
                                                    : wire_err_name(r->aux)),
            &bad);
        break;
    case TR_ENTER: {
        static const char *const res[] = {"ok", "violation", "fenced", "superseded"};
        put(o, key, json_integer(r->key), &bad);
        put(o, "resource", json_string(r->aux >= 0 && r->aux <= 3 ? res[r->aux] : "unknown"),
            &bad);
        if (r->b >= 0)
            put(o, "gen", json_integer(r->b), &bad); /* the fencing generation */
        break;
    }
    case TR_EXIT:
        put(o, key, json_integer(r->key), &bad);
        put(o, "counter", json_integer(r->a), &bad);
        if (r->b >= 0)
            put(o, "gen", json_integer(r->b), &bad);
        if (r->aux == 2)
            put(o, "write", json_string("refused by fencing"), &bad);
        break;
    case TR_ROLE:
        put(o, "role", json_string(algo_role_name(r->aux)), &bad);
        put(o, "term", json_integer(r->key), &bad);
        break;
    case TR_COMMIT:
    case TR_APPLY:
        put(o, "index", json_integer(r->a), &bad);
        put(o, "term", json_integer(r->key), &bad);
        put(o, "cmd", json_integer(r->b), &bad);
        break;
    case TR_CRASH:
        put(o, "signal", signal_json(r->aux), &bad);
        if (r->aux == 0)
            put(o, "exit_code", json_integer(r->a), &bad);
        break;
    case TR_RESTART:
        if (r->a)
            put(o, "new_incarnation", json_integer(r->a), &bad);
        break;
    case TR_PAUSE:
    case TR_RESUME:
        put(o, "signal", signal_json(r->aux), &bad);
        break;
    case TR_FAULT:
        put(o, "action", json_string(fault_action_name(r->aux)), &bad);
        put(o, "target", r->peer ? json_integer(r->peer) : json_null(), &bad);
        put(o, "fault", json_integer(r->a), &bad);
        /* What the experiment said ("coordinator", "random", "1,2/3"). */
        size_t fi;
        json_t *fj;
        json_array_foreach(faults, fi, fj)
        {
            json_int_t num;
            if (get_int(fj, "number", &num) && num == r->a) {
                put(o, "target_spec", copy_key(fj, "target"), &bad);
                break;
            }
        }
        break;
    case TR_START:
        put(o, "pid", json_integer(r->aux), &bad);
        break;
    case TR_DONE:
        put(o, "requests_done", json_integer(r->a), &bad);
        break;
    case TR_PEER_DOWN:
    case TR_PEER_UP:
        put(o, "peer", json_integer(r->peer), &bad);
        break;
    case TR_STOP:
        /* The supervisor's record of a graceful stop carries the signal. */
        if (r->aux)
            put(o, "signal", signal_json(r->aux), &bad);
        break;
    case TR_REQUEST:
        break;
    default:
        /* Client operations and anything newer: the raw fields, so that
         * nothing recorded is hidden until a proper decoding exists. */
        put(o, "peer", json_integer(r->peer), &bad);
        put(o, "type", json_integer(r->type), &bad);
        put(o, "aux", json_integer(r->aux), &bad);
        put(o, "key", json_integer(r->key), &bad);
        put(o, "a", json_integer(r->a), &bad);
        put(o, "b", json_integer(r->b), &bad);
        put(o, "c", json_integer(r->c), &bad);
        break;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int report_trace_json(const char *rundir, FILE *f)
{
    char err[DL_ERRLEN], alg[64];
    if (trace_algorithm(rundir, alg, sizeof alg, err) < 0) {
        fprintf(stderr, "distlab trace: %s\n", err);
        return 2;
    }
    struct trace_rec *recs = NULL;
    size_t nrec = 0;
    if (trace_load(rundir, &recs, &nrec, err) < 0) {
        fprintf(stderr, "distlab trace: %s\n", err);
        return 2;
    }
    const struct algo_ops *ops = algo_find(alg);
    /* run.json's fault list names each fault's target as configured. */
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", rundir);
    json_t *run = json_load_file(path, 0, NULL);
    const json_t *faults = json_object_get(run, "faults");
    int rc = 0;
    for (size_t i = 0; i < nrec; i++) {
        json_t *o = trace_rec_json(&recs[i], ops, faults);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!line) {
            fprintf(stderr, "distlab trace: out of memory\n");
            rc = 2;
            break;
        }
        fputs(line, f);
        fputc('\n', f);
        free(line);
    }
    json_decref(run);
    free(recs);
    return rc;
}
