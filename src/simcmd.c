#include "src/simcmd.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ipc/trace.h"
#include "ipc/util.h"
#include "ipc/workers.h"
#include "nodes/rng.h"
#include "src/cli.h"
#include "src/netstate.h"
#include "src/report.h"

void simcmd_bufs_free(struct simcmd_bufs *b)
{
    if (!b)
        return;
    free(b->faults);
    free(b->netoff);
    free(b->net);
    free(b->occ);
    b->faults = NULL;
    b->netoff = NULL;
    b->net = NULL;
    b->occ = NULL;
    b->nfaults = b->capfaults = b->capocc = 0;
    b->nnet = b->capnet = 0;
}

/* A new simulator fault at the end of the schedule, zeroed; NULL if out of
 * memory. */
static struct sim_fault *add_fault(struct simcmd_bufs *b)
{
    if (b->nfaults == b->capfaults) {
        int cap = b->capfaults ? 2 * b->capfaults : 64;
        struct sim_fault *f = realloc(b->faults, (size_t)cap * sizeof *f);
        if (!f)
            return NULL;
        b->faults = f;
        size_t *o = realloc(b->netoff, (size_t)cap * sizeof *o);
        if (!o)
            return NULL;
        b->netoff = o;
        b->capfaults = cap;
    }
    struct sim_fault *f = &b->faults[b->nfaults];
    memset(f, 0, sizeof *f);
    b->netoff[b->nfaults] = 0;
    b->nfaults++;
    return f;
}

/* Append k link changes; the caller then points a fault at them. */
static int add_changes(struct simcmd_bufs *b, const struct net_change *ch, int k, char *err)
{
    if (k <= 0)
        return 0;
    if (b->nnet + (size_t)k > SIMCMD_MAX_LINK_CHANGES)
        return dl_seterr(err, EINVAL,
                         "the schedule changes links more than %d times, more than the "
                         "simulator keeps: fewer nodes or fewer repetitions of network faults",
                         SIMCMD_MAX_LINK_CHANGES);
    if (b->nnet + (size_t)k > b->capnet) {
        size_t cap = b->capnet ? b->capnet : 1024;
        while (cap < b->nnet + (size_t)k)
            cap *= 2;
        struct net_change *n = realloc(b->net, cap * sizeof *n);
        if (!n)
            return dl_seterr(err, ENOMEM, "out of memory");
        b->net = n;
        b->capnet = cap;
    }
    memcpy(b->net + b->nnet, ch, (size_t)k * sizeof *ch);
    b->nnet += (size_t)k;
    return 0;
}

/* A SIM_NET fault for the k changes netstate just returned. */
static int net_fault(struct simcmd_bufs *b, const struct sim_fault *base, const struct net_change *ch,
                     int k, char *err)
{
    if (k < 0)
        return dl_seterr(err, ENOMEM, "out of memory");
    size_t off = b->nnet;
    int rc = add_changes(b, ch, k, err);
    if (rc < 0)
        return rc;
    struct sim_fault *f = add_fault(b);
    if (!f)
        return dl_seterr(err, ENOMEM, "out of memory");
    *f = *base;
    f->kind = SIM_NET;
    f->nnet = k;
    b->netoff[b->nfaults - 1] = off;
    return 0;
}

/* The schedule of c for one seed into b (see simcmd.h). */
static int build_schedule(const struct config *c, uint64_t seed, struct simcmd_bufs *b,
                          struct netstate *ns, struct net_links *links, int *last_do, char *err)
{
    bool by_target_any = false, *by_target = &by_target_any;
    const struct net_change *ch;
    int k = netstate_all(ns, &ch);
    int rc = k < 0 ? dl_seterr(err, ENOMEM, "out of memory") : add_changes(b, ch, k, err);
    if (rc < 0)
        return rc;
    b->ninitial = k;
    int total = config_fault_timeline(c, b->occ, b->capocc);
    if (total < 0)
        return dl_seterr(err, EINVAL, "a fault has a negative at, every, for or count");
    if (total > CONFIG_MAX_OCCURRENCES)
        return dl_seterr(err, EINVAL, "the schedule has more than %d occurrences",
                         CONFIG_MAX_OCCURRENCES);
    if (total > b->capocc) {
        struct fault_occ *o = realloc(b->occ, (size_t)total * sizeof *o);
        if (!o)
            return dl_seterr(err, ENOMEM, "out of memory");
        b->occ = o;
        b->capocc = total;
        total = config_fault_timeline(c, b->occ, b->capocc);
    }
    /* Random targets are drawn from the seed, one per occurrence in time
     * order, so a seed replays. */
    struct dl_rng rng;
    dl_rng_seed(&rng, seed ^ 0x5eed5eedULL);
    for (int i = 0; i < total; i++) {
        const struct fault_occ *o = &b->occ[i];
        const struct fault_spec *f = &c->faults[o->index];
        int64_t id = netstate_occurrence_id(o->index, o->rep);
        char why[NETSPEC_ERRLEN];
        struct sim_fault base = {.at_us = o->at_us,
                                 .label = f->action,
                                 .number = o->index + 1,
                                 .occurrence = o->rep,
                                 .undo = o->undo};
        if (o->undo) {
            switch (f->action) {
            case FAULT_PAUSE: {
                struct sim_fault *sf = add_fault(b);
                if (!sf)
                    return dl_seterr(err, ENOMEM, "out of memory");
                *sf = base;
                sf->kind = SIM_RESUME;
                sf->label = FAULT_RESUME;
                sf->of = last_do[o->index] + 1; /* the node that pause stopped */
                break;
            }
            case FAULT_PARTITION:
                if (f->target != TARGET_GROUPS) {
                    /* A partition by target ends with every cut healed. */
                    struct sim_fault *sf = add_fault(b);
                    if (!sf)
                        return dl_seterr(err, ENOMEM, "out of memory");
                    *sf = base;
                    sf->kind = SIM_HEAL;
                    sf->label = FAULT_HEAL;
                    break;
                }
                /* fall through */
            case FAULT_NET:
                k = netstate_occurrence(ns, f, c->nodes, id, true, links, &base.label, &ch, why);
                if ((rc = net_fault(b, &base, ch, k, err)) < 0)
                    return rc;
                break;
            default:
                return dl_seterr(err, EINVAL, "fault.%d: action %s has no undo", o->index + 1,
                                 fault_action_name(f->action));
            }
            continue;
        }
        switch (f->target) {
        case TARGET_NODE: base.node = f->target_node; break;
        case TARGET_RANDOM: base.node = 1 + (int)dl_rng_below(&rng, (uint64_t)c->nodes); break;
        case TARGET_COORDINATOR: base.role = ROLE_COORDINATOR; break;
        case TARGET_LEADER: base.role = ROLE_LEADER; break;
        case TARGET_TOKEN_HOLDER: base.role = ROLE_TOKEN_HOLDER; break;
        default: break;
        }
        switch (f->action) {
        case FAULT_KILL:
        case FAULT_TERMINATE:
        case FAULT_RESTART:
        case FAULT_PAUSE:
        case FAULT_RESUME: {
            struct sim_fault *sf = add_fault(b);
            if (!sf)
                return dl_seterr(err, ENOMEM, "out of memory");
            *sf = base;
            sf->kind = f->action == FAULT_PAUSE    ? SIM_PAUSE
                       : f->action == FAULT_RESUME ? SIM_RESUME
                                                   : SIM_CRASH;
            int at = b->nfaults - 1;
            last_do[o->index] = at;
            /* A restart: the crash, then a start at once. A kill under
             * restart on-crash: a start restart_delay later, as the
             * supervisor does. (A terminate is a graceful stop: as in real
             * runs, it is not restarted.) */
            int64_t after = f->action == FAULT_RESTART ? 1
                            : f->action == FAULT_KILL && c->restart == RESTART_ON_CRASH
                                ? (c->restart_delay_us > 0 ? c->restart_delay_us : 1)
                                : 0;
            if (after > 0) {
                struct sim_fault *rf = add_fault(b);
                if (!rf)
                    return dl_seterr(err, ENOMEM, "out of memory");
                *rf = base;
                rf->kind = SIM_RESTART;
                rf->at_us = o->at_us + after;
                rf->of = at + 1;
                rf->silent = true;
            }
            break;
        }
        case FAULT_PARTITION:
            if (f->target != TARGET_GROUPS) {
                /* By role (leader, leader+K) or a node: whoever it is
                 * then, with K more (the lowest other ids), cut off from
                 * the rest, as the supervisor does (sim.h: isolate). */
                struct sim_fault *sf = add_fault(b);
                if (!sf)
                    return dl_seterr(err, ENOMEM, "out of memory");
                *sf = base;
                sf->kind = SIM_PARTITION;
                sf->isolate = true;
                sf->with = f->with;
                *by_target = true;
                break;
            }
            /* fall through */
        case FAULT_HEAL:
            if (f->action == FAULT_HEAL && *by_target) {
                /* The cuts of a partition by target are not in the
                 * network state: heal them too. */
                struct sim_fault *sf = add_fault(b);
                if (!sf)
                    return dl_seterr(err, ENOMEM, "out of memory");
                *sf = base;
                sf->kind = SIM_HEAL;
                sf->silent = true;
            }
            /* fall through */
        case FAULT_NET:
            k = netstate_occurrence(ns, f, c->nodes, id, false, links, &base.label, &ch, why);
            if (k == -EINVAL)
                return dl_seterr(err, EINVAL, "fault.%d: target '%s': %s", o->index + 1,
                                 f->target_text, why);
            if ((rc = net_fault(b, &base, ch, k, err)) < 0)
                return rc;
            break;
        default: return dl_seterr(err, EINVAL, "fault.%d: unknown action", o->index + 1);
        }
    }
    return 0;
}

int simcmd_build(const struct config *c, uint64_t seed, struct sim_config *sc,
                 struct simcmd_bufs *b, char *err)
{
    sim_config_defaults(sc);
    config_node_list(c->requesters, c->nodes, b->requesters);
    config_node_values(c->initial_clock, c->nodes, b->initial_clock);
    sc->requesters = b->requesters;
    sc->initial_clock = b->initial_clock;
    sc->ops = algo_find(c->algorithm);
    if (!sc->ops)
        return dl_seterr(err, EINVAL, "unknown algorithm '%s'", c->algorithm);
    config_algo_env(c, &sc->env);
    sc->seed = seed;
    /* Mutex: per node; a replicated log: in total, shared by the clients. */
    sc->requests = c->requests;
    sc->rate = c->rate;
    sc->kv_keys = c->keys;
    sc->kv_value_size = c->value_size;
    config_parse_mix(c->mix, sc->kv_mix);
    sc->fsync = c->fsync;
    sc->cs_time_us = c->cs_time_us;
    sc->think_time_us = c->think_time_us;
    /* The simulated network: at least one microsecond per message, so
     * causality holds, plus what each link adds. Links start perfect; the
     * [network] settings come as the initial state (netstate_all), so
     * every link's state is one the schedule can change. */
    sc->delay_us = 0;
    sc->jitter_us = 0;
    sc->loss = 0;
    sc->failure_timeout_us = c->failure_timeout_us;
    sc->fencing = c->fencing;
    sc->max_time_us = c->duration_us;
    /* A run cut off by its duration is not a liveness failure (as for real
     * runs); a request that waited half the run is. */
    sc->patience_us = c->duration_us / 2 > 1000000 ? c->duration_us / 2 : 1000000;
    if (c->restart == RESTART_ON_CRASH)
        sc->restart_after_us = c->restart_delay_us > 0 ? c->restart_delay_us : 1;

    b->nfaults = 0;
    b->nnet = 0;
    struct netstate *ns = netstate_new(c->nodes, c->loss, c->delay_us, c->jitter_us);
    struct net_links *links = malloc(sizeof *links);
    int *last_do = calloc(c->nfaults > 0 ? (size_t)c->nfaults : 1, sizeof *last_do);
    int rc = ns && links && last_do ? build_schedule(c, seed, b, ns, links, last_do, err)
                                    : dl_seterr(err, ENOMEM, "out of memory");
    netstate_free(ns);
    free(links);
    free(last_do);
    if (rc < 0)
        return rc;
    /* The changes are in place now: point each fault at its own. */
    for (int i = 0; i < b->nfaults; i++)
        if (b->faults[i].kind == SIM_NET)
            b->faults[i].net = b->net + b->netoff[i];
    sc->initial_net = b->net;
    sc->ninitial_net = b->ninitial;
    sc->faults = b->faults;
    sc->nfaults = b->nfaults;
    return 0;
}

/* ---- verdicts ---- */

/* What one schedule showed about liveness. */
enum liveness {
    LIVE = 0,  /* every request of a live node was granted */
    NOT_LIVE,  /* deadlock, starvation, or an unfinished workload in strict mode */
    UNDECIDED, /* cut off (duration, step limit) with younger requests pending */
};

static int liveness_of(const struct sim_result *r)
{
    if (!r->live)
        return NOT_LIVE;
    return r->pending > 0 ? UNDECIDED : LIVE;
}

static const char *liveness_name(int l)
{
    return l == LIVE ? "live" : l == NOT_LIVE ? "not live" : "undecided";
}

/* Append text to buf as one shell word. */
static void shell_word(char *buf, size_t size, const char *text)
{
    size_t len = strlen(buf);
    bool plain = text[0] != '\0';
    for (const char *p = text; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+-@%",
                       *p) != NULL;
    if (plain) {
        snprintf(buf + len, size - len, " %s", text);
        return;
    }
    if (len + 2 < size) {
        buf[len++] = ' ';
        buf[len++] = '\'';
    }
    for (const char *p = text; *p && len + 5 < size; p++) {
        if (*p == '\'') {
            memcpy(buf + len, "'\\''", 4);
            len += 4;
        } else {
            buf[len++] = *p;
        }
    }
    if (len + 1 < size)
        buf[len++] = '\'';
    buf[len < size ? len : size - 1] = '\0';
}

/* The command that replays one seed: the same file, every --set in its
 * order, the seed. The run directory is left to the user (DIR) unless
 * given. */
static void replay_command(char *buf, size_t size, const struct config *c,
                           const struct simcmd_args *a, uint64_t seed, const char *outdir)
{
    snprintf(buf, size, "distlab sim");
    shell_word(buf, size, c->path);
    for (int i = 0; i < a->nsets; i++) {
        shell_word(buf, size, "--set");
        shell_word(buf, size, a->sets[i]);
    }
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, " --seed %llu --out", (unsigned long long)seed);
    if (outdir)
        shell_word(buf, size, outdir);
    else {
        len = strlen(buf);
        snprintf(buf + len, size - len, " DIR");
    }
}

/* ---- recording one schedule ---- */

struct recording {
    struct trace_rec *r;
    int64_t *dat; /* [cap]: where record i's data starts in data, -1: none */
    size_t n, cap;
    uint8_t *data; /* commands of TR_INVOKE and TR_APPLY records */
    size_t ndata, capdata;
    bool failed;
};

static void on_record(void *user, const struct trace_rec *r)
{
    struct recording *rec = user;
    if (rec->n == rec->cap) {
        size_t ncap = rec->cap ? rec->cap * 2 : 4096;
        struct trace_rec *nr = realloc(rec->r, ncap * sizeof *nr);
        if (nr)
            rec->r = nr;
        int64_t *nd = nr ? realloc(rec->dat, ncap * sizeof *nd) : NULL;
        if (!nd) {
            rec->failed = true;
            return;
        }
        rec->dat = nd;
        rec->cap = ncap;
    }
    rec->dat[rec->n] = -1;
    rec->r[rec->n++] = *r;
}

static void on_record_data(void *user, const struct trace_rec *r, const void *data, uint32_t len)
{
    struct recording *rec = user;
    if (rec->ndata + len > rec->capdata) {
        size_t ncap = rec->capdata ? rec->capdata : 65536;
        while (ncap < rec->ndata + len)
            ncap *= 2;
        uint8_t *nd = realloc(rec->data, ncap);
        if (!nd) {
            rec->failed = true;
            return;
        }
        rec->data = nd;
        rec->capdata = ncap;
    }
    size_t at = rec->ndata;
    if (len)
        memcpy(rec->data + at, data, len);
    rec->ndata += len;
    on_record(user, r);
    if (!rec->failed)
        rec->dat[rec->n - 1] = (int64_t)at;
}

static void recording_free(struct recording *rec)
{
    free(rec->r);
    free(rec->dat);
    free(rec->data);
}

static int write_traces(const struct recording *rec, const char *dir, int n, const struct config *c,
                        char *err)
{
    /* One file per (node, incarnation), as a real run writes them; n
     * counts the clients too. Commands go to the data side file. The
     * [trace] settings apply as in a real run: the classes left out are
     * not written (the recording keeps them, for run.json's counters), and
     * a file past max_size keeps its newest records. */
    for (int node = 0; node <= n; node++) {
        int maxinc = 0;
        for (size_t i = 0; i < rec->n; i++)
            if (rec->r[i].node == node && rec->r[i].incarnation > maxinc)
                maxinc = rec->r[i].incarnation;
        for (int inc = 1; inc <= maxinc; inc++) {
            struct trace_writer w;
            int rc = trace_open(&w, dir, node, inc, 0, err);
            if (rc < 0)
                return rc;
            trace_set_max(&w, (size_t)c->trace_max_size);
            trace_set_record(&w, c->trace_record ? c->trace_record : TRACE_CLASS_ALL);
            for (size_t i = 0; i < rec->n; i++) {
                if (rec->r[i].node != node || rec->r[i].incarnation != inc)
                    continue;
                struct trace_rec r = rec->r[i];
                if (rec->dat[i] >= 0)
                    trace_emit_data_at(&w, &r, rec->data + rec->dat[i], (uint32_t)r.aux);
                else
                    trace_emit_at(&w, &r);
            }
            trace_close(&w);
        }
    }
    return 0;
}

static json_t *sim_run_json(const struct config *c, uint64_t seed, const struct sim_result *res,
                            const struct recording *rec, const bool *requesters, const char *replay)
{
    json_t *per = json_array();
    for (int k = 1; k <= c->nodes; k++) {
        json_int_t sent = 0, recv = 0, crashes = 0, inc = 1, dropped = 0;
        for (size_t i = 0; i < rec->n; i++) {
            const struct trace_rec *r = &rec->r[i];
            if (r->node != k)
                continue;
            sent += r->ev == TR_SEND;
            recv += r->ev == TR_RECV;
            dropped += r->ev == TR_DROP; /* at the receiver: a cut, loss, or it was down */
            crashes += r->ev == TR_CRASH;
            if (r->incarnation > inc)
                inc = r->incarnation;
        }
        json_array_append_new(per, json_pack("{s:i, s:I, s:I, s:i, s:i, s:i, s:I, s:I, s:I}",
                                             "node", k, "sent", sent, "recv", recv, "malformed",
                                             0, "queue_full", 0, "backlog_hwm", 0, "dropped", dropped,
                                             "incarnations", inc, "crashes", crashes));
    }
    json_t *faults = json_array();
    for (size_t i = 0; i < rec->n; i++) {
        const struct trace_rec *r = &rec->r[i];
        if (r->ev != TR_FAULT || r->a < 1 || r->a > c->nfaults)
            continue;
        const struct fault_spec *f = &c->faults[r->a - 1];
        /* One entry per occurrence; an undo names what undid it. */
        json_t *o = json_pack("{s:f, s:f, s:s, s:s}", "at_ms", (double)f->at_us / 1e3, "t_ms",
                              (double)r->t_us / 1e3, "action", fault_action_name(r->aux),
                              "target", f->target_text);
        json_object_set_new(o, "node", r->peer ? json_integer(r->peer) : json_null());
        json_object_set_new(o, "number", json_integer(r->a));
        json_object_set_new(o, "occurrence", json_integer(r->b));
        json_object_set_new(o, "undo", json_boolean(r->c != 0));
        json_array_append_new(faults, o);
    }
    json_t *o = json_pack(
        "{s:s, s:i, s:I, s:s, s:s, s:b, s:f, s:b, s:s, s:i, s:b, s:i, s:f, s:i, s:I, s:I, s:i,"
        " s:I, s:b, s:o, s:o}",
        "algorithm", c->algorithm, "nodes", c->nodes, "seed", (json_int_t)seed, "name", c->name,
        "run_id", "sim", "simulated", 1, "duration_s", (double)res->end_us / 1e6, "workload_done",
        res->completed, "stop_reason", sim_end_name(res->end), "coordinator", c->coordinator,
        "coordinator_competes", c->coordinator_competes, "requests_per_node", c->requests,
        "cs_time_ms", (double)c->cs_time_us / 1e3, "msgsize", 0, "counter_final",
        (json_int_t)res->counter, "resource_entries", (json_int_t)res->cs_entries,
        "resource_violations", (json_int_t)res->resource_violations, "resource_fenced", (json_int_t)res->fenced, "fencing", c->fencing,
        "per_node", per, "faults", faults);
    json_t *req = json_array();
    for (int k = 1; k <= c->nodes; k++)
        if (requesters[k])
            json_array_append_new(req, json_integer(k));
    json_object_set_new(o, "requesters", req);
    json_object_set_new(o, "groups", json_integer(c->groups));
    json_object_set_new(o, "failure_timeout_ms", json_real((double)c->failure_timeout_us / 1e3));
    json_object_set_new(o, "local_rounds", json_integer(c->local_rounds));
    json_object_set_new(o, "members", json_string(c->members));
    if (o && res->violation[0])
        json_object_set_new(o, "simulator_violation", json_string(res->violation));
    /* Requests of nodes up at the end that were never granted: each node's
     * trace has its request and no enter after it, then its stop record. */
    json_t *pending = json_array();
    for (int k = 1; k <= c->nodes; k++)
        if (res->pending_since[k] >= 0)
            json_array_append_new(pending,
                                  json_pack("{s:i, s:f, s:f}", "node", k, "since_ms",
                                            (double)res->pending_since[k] / 1e3, "waited_ms",
                                            (double)(res->end_us - res->pending_since[k]) / 1e3));
    json_object_set_new(o, "pending_requests", pending);
    json_object_set_new(o, "simulator_safe", json_boolean(res->safe));
    json_object_set_new(o, "simulator_liveness", json_string(liveness_name(liveness_of(res))));
    json_object_set_new(o, "timing_model", json_string("machine"));
    json_object_set_new(o, "replay", json_string(replay));
    /* Client processes, as a real run lists them. */
    int clients = c->clients > 0 && algo_find(c->algorithm) && algo_find(c->algorithm)->client
                      ? c->clients
                      : 0;
    json_object_set_new(o, "clients", json_integer(clients));
    json_t *per_client = json_array();
    for (int i = 1; i <= clients; i++) {
        int k = c->nodes + i;
        json_int_t sent = 0, recv = 0, ok = 0, fail = 0, timeout = 0;
        for (size_t j = 0; j < rec->n; j++) {
            const struct trace_rec *r = &rec->r[j];
            if (r->node != k)
                continue;
            sent += r->ev == TR_SEND;
            recv += r->ev == TR_RECV;
            ok += r->ev == TR_OK;
            fail += r->ev == TR_FAIL;
            timeout += r->ev == TR_TIMEOUT;
        }
        int quota = c->requests / clients + (i <= c->requests % clients);
        json_array_append_new(
            per_client,
            json_pack("{s:i, s:i, s:I, s:I, s:i, s:i, s:i, s:I, s:i, s:i, s:b, s:i, s:I, s:I, "
                      "s:I, s:I}",
                      "client", i, "id", k, "sent", sent, "recv", recv, "malformed", 0,
                      "queue_full", 0, "backlog_hwm", 0, "dropped", (json_int_t)0, "incarnations",
                      1, "crashes", 0, "restart_given_up", 0, "quota", quota, "done",
                      ok + fail + timeout, "ok", ok, "fail", fail, "timeout", timeout));
    }
    json_object_set_new(o, "per_client", per_client);
    if (clients > 0) {
        json_object_set_new(o, "requests_total", json_integer(c->requests));
        const struct sim_log *lg = &res->log;
        json_object_set_new(
            o, "simulator_log",
            json_pack("{s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I}", "elections",
                      (json_int_t)lg->elections, "max_leaders_per_term", lg->max_leaders_per_term,
                      "commit_index", (json_int_t)lg->commit_index, "invoked",
                      (json_int_t)lg->invoked, "ok", (json_int_t)lg->ok, "failed",
                      (json_int_t)lg->failed, "timed_out", (json_int_t)lg->timed_out,
                      "unanswered", (json_int_t)lg->unanswered, "acknowledged_lost",
                      (json_int_t)lg->acked_lost, "logs_agree", lg->logs_agree, "peak_mem_bytes",
                      (json_int_t)res->peak_mem));
    }
    return o;
}

int simcmd_record(const struct config *c, uint64_t seed, const char *outdir, int print_json,
                  const struct simcmd_args *args)
{
    char err[DL_ERRLEN];
    struct simcmd_bufs *faults = calloc(1, sizeof *faults);
    struct sim_config sc;
    struct recording rec = {0};
    int code = 2;
    if (!faults || simcmd_build(c, seed, &sc, faults, err) < 0) {
        fprintf(stderr, "distlab sim: %s\n", faults ? err : "out of memory");
        simcmd_bufs_free(faults);
        free(faults);
        return 2;
    }
    sc.on_record = on_record;
    sc.on_record_data = on_record_data;
    sc.user = &rec;
    struct sim_result res;
    if (sim_run(&sc, &res) < 0 || rec.failed) {
        fprintf(stderr, "distlab sim: %s\n", res.violation[0] ? res.violation : "out of memory");
        goto out;
    }
    char dir[PATH_MAX];
    if (!dl_dir_is_empty(outdir)) {
        fprintf(stderr, "distlab sim: --out %s: the directory is not empty (it may hold "
                        "another run); choose a new one\n",
                outdir);
        goto out;
    }
    if (dl_mkdirs(outdir, err) < 0 || !realpath(outdir, dir)) {
        fprintf(stderr, "distlab sim: %s\n", err);
        goto out;
    }
    char path[PATH_MAX + 32];
    char *ini = config_to_ini(c);
    snprintf(path, sizeof path, "%s/config.ini", dir);
    if (!ini || dl_write_file(path, ini, strlen(ini), err) < 0) {
        free(ini);
        fprintf(stderr, "distlab sim: %s\n", err);
        goto out;
    }
    free(ini);
    if (write_traces(&rec, dir, c->nodes + sc.env.clients, c, err) < 0) {
        fprintf(stderr, "distlab sim: %s\n", err);
        goto out;
    }
    char replay[4096];
    replay_command(replay, sizeof replay, c, args, seed, NULL);
    json_t *rj = sim_run_json(c, seed, &res, &rec, faults->requesters, replay);
    snprintf(path, sizeof path, "%s/run.json", dir);
    char *text = rj ? json_dumps(rj, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(rj);
    if (!text || dl_write_file(path, text, strlen(text), err) < 0) {
        free(text);
        fprintf(stderr, "distlab sim: cannot write run.json\n");
        goto out;
    }
    free(text);
    json_t *rep = NULL;
    bool log = sc.ops->client != NULL;
    if (report_write(dir, &rep, err) < 0) {
        fprintf(stderr, "distlab sim: cannot write the report: %s\n", err);
        /* A replicated log's run still has the simulator's own figures. */
        if (!log)
            goto out;
        json_decref(rep);
        rep = NULL;
    }
    if (print_json && !rep) {
        json_t *o = json_pack("{s:s, s:b, s:s}", "run_dir", dir, "simulator_safe", res.safe,
                              "simulator_liveness", liveness_name(liveness_of(&res)));
        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
    } else if (print_json) {
        json_object_set_new(rep, "run_dir", json_string(dir));
        json_dumpf(rep, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
    } else {
        if (rep)
            report_print_text(rep, stdout);
        if (log) {
            const struct sim_log *lg = &res.log;
            printf("simulator: %llu leaders elected (at most %d in one term); %llu operations "
                   "invoked, %llu ok, %llu failed, %llu timed out, %llu unanswered; commit "
                   "index %lld; %llu acknowledged lost; logs %s; peak core memory %.1f KiB\n",
                   (unsigned long long)lg->elections, lg->max_leaders_per_term,
                   (unsigned long long)lg->invoked, (unsigned long long)lg->ok,
                   (unsigned long long)lg->failed, (unsigned long long)lg->timed_out,
                   (unsigned long long)lg->unanswered, (long long)lg->commit_index,
                   (unsigned long long)lg->acked_lost, lg->logs_agree ? "agree" : "DIFFER",
                   (double)res.peak_mem / 1024.0);
        }
        if (res.violation[0])
            printf("simulator: %s\n", res.violation);
        printf("simulator: %s, %s; stopped: %s", res.safe ? "safe" : "UNSAFE",
               liveness_name(liveness_of(&res)), sim_end_name(res.end));
        if (res.pending)
            printf(" with %llu request%s of live nodes pending", (unsigned long long)res.pending,
                   res.pending == 1 ? "" : "s");
        printf("\nreplay: %s\n", replay);
        printf("run directory: %s\n", dir);
    }
    json_decref(rep);
    code = res.safe && liveness_of(&res) == LIVE ? 0 : 1;
out:
    recording_free(&rec);
    simcmd_bufs_free(faults);
    free(faults);
    return code;
}

/* ---- many seeds ---- */

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

#define ORDERS_MAX 1000000 /* distinct orders and interleavings: counted up to this many seeds */

struct first {
    long count;
    uint64_t seed;
    char what[256];
};

static void note(struct first *f, uint64_t seed, const char *what)
{
    if (f->count++ == 0) {
        f->seed = seed;
        snprintf(f->what, sizeof f->what, "%s", what);
    }
}

/* One seed of a sweep, computed in a worker (ipc/workers.h). */
struct seed_out {
    int rc; /* 0, or what failed: err */
    char err[DL_ERRLEN];
    int64_t patience;
    struct sim_result res;
};

struct sweep_in {
    const struct config *c;
    uint64_t base;
    struct simcmd_bufs *faults;
};

static void sweep_one(long i, void *out, void *ctx)
{
    const struct sweep_in *in = ctx;
    struct seed_out *o = out;
    o->rc = 0;
    o->err[0] = '\0';
    struct sim_config sc;
    if (simcmd_build(in->c, in->base + (uint64_t)i, &sc, in->faults, o->err) < 0) {
        o->rc = -1;
        memset(&o->res, 0, sizeof o->res);
        return;
    }
    o->patience = sc.patience_us;
    if (sim_run(&sc, &o->res) < 0) {
        o->rc = -1;
        snprintf(o->err, sizeof o->err, "%s", o->res.violation);
    }
}

/* What a sweep adds up, seed by seed in order. */
struct sweep_acc {
    const struct config *c;
    uint64_t base;
    long seeds;
    bool log;
    bool failed;
    uint64_t *hashes; /* [2 * seeds]: entry orders, then schedules (NULL: too many) */
    struct first unsafe, notlive, undecided;
    long ends[SIM_END_ERROR + 1];
    uint64_t steps, entries, messages;
    struct sim_log sum; /* a replicated log's figures */
    int max_leaders;
    long agree, elected;
    int64_t max_commit, first_leader_max;
    double first_leader_sum;
    size_t peak_mem;
    int64_t patience;
};

static void sweep_take(long i, const void *out, void *user)
{
    struct sweep_acc *a = user;
    const struct seed_out *o = out;
    uint64_t seed = a->base + (uint64_t)i;
    if (o->rc < 0) {
        if (!a->failed)
            fprintf(stderr, "distlab sim: seed %llu: %s\n", (unsigned long long)seed, o->err);
        a->failed = true;
        return;
    }
    const struct sim_result *res = &o->res;
    a->patience = o->patience;
    a->steps += res->steps;
    a->entries += res->cs_entries;
    a->messages += res->messages;
    if (a->log) {
        const struct sim_log *lg = &res->log;
        struct sim_log *sum = &a->sum;
        sum->elections += lg->elections;
        sum->invoked += lg->invoked;
        sum->ok += lg->ok;
        sum->failed += lg->failed;
        sum->timed_out += lg->timed_out;
        sum->unanswered += lg->unanswered;
        sum->acked_lost += lg->acked_lost;
        sum->truncated += lg->truncated;
        sum->snapshots += lg->snapshots;
        sum->commit_index += lg->commit_index;
        if (lg->max_leaders_per_term > a->max_leaders)
            a->max_leaders = lg->max_leaders_per_term;
        if (lg->commit_index > a->max_commit)
            a->max_commit = lg->commit_index;
        a->agree += lg->logs_agree;
        if (lg->first_leader_us >= 0) {
            a->elected++;
            a->first_leader_sum += (double)lg->first_leader_us;
            if (lg->first_leader_us > a->first_leader_max)
                a->first_leader_max = lg->first_leader_us;
        }
        if (res->peak_mem > a->peak_mem)
            a->peak_mem = res->peak_mem;
    }
    if (a->hashes) {
        a->hashes[i] = res->entry_order;
        a->hashes[a->seeds + i] = res->schedule;
    }
    if (res->end >= 0 && res->end <= SIM_END_ERROR)
        a->ends[res->end]++;
    if (!res->safe)
        note(&a->unsafe, seed, res->violation);
    switch (liveness_of(res)) {
    case NOT_LIVE: note(&a->notlive, seed, res->violation); break;
    case UNDECIDED: {
        char what[256];
        snprintf(what, sizeof what, "%llu %s%s pending when it stopped (%s) at %.3f ms",
                 (unsigned long long)res->pending, a->log ? "operation" : "request",
                 res->pending == 1 ? "" : "s", sim_end_name(res->end),
                 (double)res->end_us / 1e3);
        note(&a->undecided, seed, what);
        break;
    }
    default: break;
    }
}

/* Seeds base .. base + seeds - 1, spread over the machine's CPUs (each
 * seed's schedule is the same wherever it runs; the sums are taken in
 * seed order). */
static int sweep(const struct config *c, uint64_t base, long seeds, const struct simcmd_args *args)
{
    struct simcmd_bufs *faults = calloc(1, sizeof *faults);
    struct sweep_acc a;
    memset(&a, 0, sizeof a);
    a.c = c;
    a.base = base;
    a.seeds = seeds;
    const struct algo_ops *ops = algo_find(c->algorithm);
    a.log = ops && ops->client;
    bool log = a.log;
    /* Distinct schedules (event sequences) and hashes of CS entries. */
    a.hashes = seeds <= ORDERS_MAX ? calloc(2 * (size_t)seeds, sizeof *a.hashes) : NULL;
    if (!faults || (seeds <= ORDERS_MAX && !a.hashes)) {
        simcmd_bufs_free(faults);
        free(faults);
        free(a.hashes);
        fprintf(stderr, "distlab sim: out of memory\n");
        return 2;
    }
    int64_t t0 = dl_mono_us();
    char err[DL_ERRLEN];
    struct sweep_in in = {.c = c, .base = base, .faults = faults};
    /* A few seeds are not worth a fork. DISTLAB_SIM_JOBS overrides the
     * count of workers (1: none). */
    int jobs = seeds >= 64 ? workers_default() : 1;
    const char *env = getenv("DISTLAB_SIM_JOBS");
    if (env && atoi(env) >= 1 && atoi(env) <= 64)
        jobs = atoi(env);
    struct seed_out *one = malloc(sizeof *one);
    int rc = one ? workers_map(jobs, seeds, sizeof *one, sweep_one, &in, sweep_take, &a, err)
                 : dl_seterr(err, ENOMEM, "out of memory");
    free(one);
    if (rc < 0 || a.failed) {
        if (rc < 0)
            fprintf(stderr, "distlab sim: %s\n", err);
        simcmd_bufs_free(faults);
        free(faults);
        free(a.hashes);
        return 2;
    }    simcmd_bufs_free(faults);
    free(faults);
    double secs = (double)(dl_mono_us() - t0) / 1e6;
    long distinct = 0, schedules = 0; /* entry orders, interleavings */
    if (a.hashes) {
        qsort(a.hashes, (size_t)seeds, sizeof *a.hashes, cmp_u64);
        qsort(a.hashes + seeds, (size_t)seeds, sizeof *a.hashes, cmp_u64);
        for (long i = 0; i < seeds; i++) {
            distinct += i == 0 || a.hashes[i] != a.hashes[i - 1];
            schedules += i == 0 || a.hashes[seeds + i] != a.hashes[seeds + i - 1];
        }
        free(a.hashes);
    }
    long live = seeds - a.notlive.count - a.undecided.count;
    printf("%s: %s, %d nodes", c->name, c->algorithm, c->nodes);
    if (log)
        printf(", %d client%s", c->clients, c->clients == 1 ? "" : "s");
    printf(", %ld schedules (seeds %llu..%llu) in %.2f s (%.0f schedules/s)\n", seeds,
           (unsigned long long)base, (unsigned long long)(base + (uint64_t)seeds - 1), secs,
           secs > 0 ? (double)seeds / secs : 0.0);
    if (log) {
        printf("  %llu steps, %llu messages", (unsigned long long)a.steps,
               (unsigned long long)a.messages);
        if (distinct)
            printf(", %ld distinct interleaving%s of events", schedules,
                   schedules == 1 ? "" : "s");
        printf("\n  elections: %llu leaders elected (%.2f per schedule), at most %d in one term; "
               "a first leader in %ld of %ld schedules",
               (unsigned long long)a.sum.elections, (double)a.sum.elections / (double)seeds,
               a.max_leaders, a.elected, seeds);
        if (a.elected)
            printf(", after %.1f ms on average (at most %.1f)",
                   a.first_leader_sum / (double)a.elected / 1e3, (double)a.first_leader_max / 1e3);
        printf("\n  client operations: %llu invoked, %llu ok, %llu failed, %llu timed out, %llu "
               "unanswered at the end\n",
               (unsigned long long)a.sum.invoked, (unsigned long long)a.sum.ok,
               (unsigned long long)a.sum.failed, (unsigned long long)a.sum.timed_out,
               (unsigned long long)a.sum.unanswered);
        printf("  commit index: %.1f per schedule on average, at most %lld; %llu uncommitted "
               "entries rolled back, %llu snapshots\n",
               (double)a.sum.commit_index / (double)seeds, (long long)a.max_commit,
               (unsigned long long)a.sum.truncated, (unsigned long long)a.sum.snapshots);
        printf("  acknowledged commands lost: %llu; logs agree in %ld of %ld schedules; peak "
               "memory of one node's core: %.1f KiB\n",
               (unsigned long long)a.sum.acked_lost, a.agree, seeds, (double)a.peak_mem / 1024.0);
        printf("  safety (one leader per term, state machine safety, no acknowledged command "
               "lost, logs agree, the algorithm's invariant): %ld of %ld schedules violated\n",
               a.unsafe.count, seeds);
    } else {
        printf("  %llu steps, %llu CS entries, %.2f messages per CS", (unsigned long long)a.steps,
               (unsigned long long)a.entries, a.entries ? (double)a.messages / (double)a.entries : 0.0);
        if (distinct)
            printf("\n  %ld distinct interleaving%s of events, %ld distinct order%s of CS entries",
                   schedules, schedules == 1 ? "" : "s", distinct, distinct == 1 ? "" : "s");
        printf("\n  safety (mutual exclusion, counter, tokens): %ld of %ld schedules violated\n",
               a.unsafe.count, seeds);
    }
    if (a.unsafe.count)
        printf("    first: seed %llu: %s\n", (unsigned long long)a.unsafe.seed, a.unsafe.what);
    if (log)
        printf("  liveness (every client operation answered, unless a fault lasted to the "
               "end): %ld live, %ld not live, %ld undecided\n",
               live, a.notlive.count, a.undecided.count);
    else
        printf("  liveness (every request of a live node granted): %ld live, %ld not live, %ld "
               "undecided\n",
               live, a.notlive.count, a.undecided.count);
    if (a.notlive.count)
        printf("    first: seed %llu: %s\n", (unsigned long long)a.notlive.seed, a.notlive.what);
    if (a.undecided.count)
        printf("    undecided: cut off with requests pending that had waited less than %.0f ms "
               "(first: seed %llu: %s)\n",
               (double)a.patience / 1e3, (unsigned long long)a.undecided.seed, a.undecided.what);
    printf("  ended: %ld finished the workload, %ld deadlocked (no event left), %ld cut off by "
           "the duration, %ld at the step limit\n",
           a.ends[SIM_END_DONE], a.ends[SIM_END_DEADLOCK], a.ends[SIM_END_DURATION], a.ends[SIM_END_STEPS]);
    const struct first *bad = a.unsafe.count      ? &a.unsafe
                              : a.notlive.count   ? &a.notlive
                              : a.undecided.count ? &a.undecided
                                                : NULL;
    if (bad) {
        char cmd[4096];
        replay_command(cmd, sizeof cmd, c, args, bad->seed, NULL);
        printf("replay the first %s seed with: %s\n",
               bad == &a.unsafe    ? "unsafe"
               : bad == &a.notlive ? "not live"
                                 : "undecided",
               cmd);
    }
    if (a.unsafe.count)
        printf("UNSAFE\n");
    else if (a.notlive.count)
        printf("safe, but not live\n");
    else if (a.undecided.count)
        printf("safe; liveness undecided in %ld of %ld schedules (cut off before their requests "
               "were granted: lengthen [cluster] duration or lower [workload] requests)\n",
               a.undecided.count, seeds);
    else
        printf("safe and live\n");
    return a.unsafe.count || a.notlive.count || a.undecided.count ? 1 : 0;
}

#define MAX_SETS 256

int cmd_sim(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seeds", required_argument, NULL, 'n'}, {"seed", required_argument, NULL, 'S'},
        {"out", required_argument, NULL, 'o'},   {"set", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *sets[MAX_SETS], *out = NULL;
    int nsets = 0, json = 0;
    long seeds = -1;
    bool have_seed = false;
    unsigned long long seed = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'n':
            seeds = strtol(optarg, &end, 10);
            if (*end || seeds < 1 || seeds > 100000000) {
                fprintf(stderr, "distlab sim: --seeds: expected a count from 1 to 100000000\n");
                return 2;
            }
            break;
        case 'S':
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (*end || errno || optarg[0] == '-' || seed > INT64_MAX) {
                fprintf(stderr, "distlab sim: --seed: expected an integer from 0 to "
                                "9223372036854775807\n");
                return 2;
            }
            have_seed = true;
            break;
        case 'o': out = optarg; break;
        case 's':
            if (nsets == MAX_SETS) {
                fprintf(stderr, "distlab sim: at most %d --set options\n", MAX_SETS);
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'j': json = 1; break;
        case 'h': cli_usage("sim", stdout); return 0;
        default: cli_usage("sim", stderr); return 2;
        }
    }
    if (argc - optind != 1 || (out && seeds > 0)) {
        cli_usage("sim", stderr);
        return 2;
    }
    if (json && !out) {
        fprintf(stderr, "distlab sim: --json goes with --out DIR (one recorded schedule)\n");
        return 2;
    }
    struct config *c = malloc(sizeof *c);
    char *err = malloc(CONFIG_ERRLEN);
    int code = 2;
    if (!c || !err)
        goto out;
    err[0] = '\0';
    if (config_load_with_sets(c, argv[optind], sets, nsets, NULL, CONFIG_FOR_SIM, err) < 0)
        goto bad;
    uint64_t base = have_seed ? seed : c->seed;
    long nsweep = seeds > 0 ? seeds : have_seed ? 1 : 1000;
    /* Every seed swept must be one --seed takes again, for its replay. */
    if (!out && base > (uint64_t)INT64_MAX - (uint64_t)(nsweep - 1)) {
        fprintf(stderr,
                "distlab sim: seeds %llu..%llu go past the largest seed, %lld; start lower\n",
                (unsigned long long)base, (unsigned long long)(base + (uint64_t)nsweep - 1),
                (long long)INT64_MAX);
        goto out;
    }
    struct simcmd_args args = {.sets = sets, .nsets = nsets};
    if (out || (have_seed && seeds < 0))
        code = out ? simcmd_record(c, base, out, json, &args) : sweep(c, base, 1, &args);
    else
        code = sweep(c, base, nsweep, &args);
    goto out;
bad:
    fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
    fprintf(stderr, "distlab sim: invalid configuration\n");
out:
    free(c);
    free(err);
    return code;
}
