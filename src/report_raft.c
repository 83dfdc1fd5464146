/* The Raft part of a report: leaders and elections, failovers, commits and
 * client operations, and the Raft safety properties, all from the traces.
 *
 * What the traces hold (ipc/trace.h): each node's role changes (TR_ROLE,
 * key = term), its commit index advancing (TR_COMMIT: index, the entry's
 * term), each entry it applied (TR_APPLY: index, term, the command's hash);
 * each client's operations (TR_INVOKE with the command's hash, then
 * TR_OK naming the index and term it committed at, TR_FAIL or TR_TIMEOUT);
 * and the supervisor's fault, crash, pause and link records. They do not
 * hold the logs themselves, so the properties of Figure 3 of the Raft paper
 * are judged from what was applied and committed:
 *
 *   election_safety       at most one node claimed leadership in each term
 *                         (its TR_ROLE leader records);
 *   log_matching          an (index, term) names one command in every apply
 *                         of it, on every node and in every incarnation;
 *   state_machine_safety  every apply of an index, anywhere, has the same
 *                         term and command, and every commit record of it
 *                         the same term;
 *   leader_completeness   an index known committed (applied somewhere) before
 *                         a leader took office is never applied or committed
 *                         later with an entry of that leader's term or a
 *                         later one: that entry could only come from a
 *                         leader that lacked the committed one. The first
 *                         apply of an index stands for its committed entry;
 *   acknowledged_not_lost every TR_OK's index was applied with the command
 *                         its client invoked (by hash), and no node applied
 *                         another command there;
 *   apply_order           each node applied indexes in increasing order,
 *                         none twice in one incarnation;
 *   applied_once          a command a client invoked (by hash; commands two
 *                         invokes share are left out) was applied at one
 *                         index at most: a retry is applied once;
 *   failed_not_applied    an operation that failed (TR_FAIL: definitely not
 *                         applied) had its command applied nowhere;
 *   committed_not_rolled_back  no rollback (TR_TRUNCATE: a log's tail
 *                         dropped for a leader's) removed an entry that some
 *                         node committed or applied: the first entry dropped,
 *                         (index, term), is in no commit or apply record.
 * A simulated run adds simulator_invariant: the simulator's own check of
 * the cores' states (the logs themselves) after every step.
 *
 * Every violation names its property, nodes, index or term and time; the
 * first of each property goes into its detail, up to RAFT_MAX_LISTED of
 * all into report.json "violation_list". */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/proc.h"
#include "ipc/util.h"
#include "nodes/algo.h"
#include "src/config.h"
#include "src/evidence.h"
#include "src/report_int.h"

#define RAFT_MAX_LISTED 100 /* violations listed in report.json */
#define RAFT_STORY_MAX  120 /* lines of the story */

enum prop {
    P_ELECTION,
    P_LOG_MATCHING,
    P_SM_SAFETY,
    P_LEADER_COMPLETENESS,
    P_ACKNOWLEDGED,
    P_APPLY_ORDER,
    P_APPLIED_ONCE,
    P_FAILED_NOT_APPLIED,
    P_KEPT_COMMITTED,
    P_COUNT
};

static const char *const prop_name[] = {
    "election_safety",       "log_matching", "state_machine_safety", "leader_completeness",
    "acknowledged_not_lost", "apply_order",  "applied_once",         "failed_not_applied",
    "committed_not_rolled_back",
};
_Static_assert(sizeof prop_name / sizeof *prop_name == P_COUNT, "a name for every property");

/* A role record of a node 1..n. */
struct role_rec {
    int64_t term, t;
    int node, inc, role;
};

/* An apply (or, with commit set, a commit record: no command). */
struct app {
    int64_t index, term, hash, t;
    int node, inc;
    bool commit;
};

/* A client operation record. */
struct oprec {
    int client, inc; /* client K (node n + K), its incarnation */
    int64_t id, t;
    int ev;       /* TR_INVOKE, TR_OK, TR_FAIL, TR_TIMEOUT */
    int64_t hash; /* INVOKE */
    int server;   /* OK, FAIL */
    int64_t index, term;
};

/* A rollback: node dropped entries from..to, the first of term. */
struct trunc {
    int64_t from, to, term, t;
    int node;
};

struct viol {
    int prop;
    int64_t t;
    int nodes[2];
    int64_t index, term; /* -1: not about one */
    char text[480];
};

struct rs {
    const struct run_info *ri;
    int n;
    struct role_rec *roles;
    size_t nroles, caproles;
    struct app *apps;
    size_t napps, capapps;
    struct oprec *ops;
    size_t nops, capops;
    struct trunc *truncs;
    size_t ntr, captr;
    struct viol *v;
    size_t nv, capv;
    long count[P_COUNT];      /* violations by property */
    bool unjudged[P_COUNT];   /* a property the evidence could not decide */
    char first[P_COUNT][480]; /* the first violation of each, in words */
    /* messages by type */
    uint16_t type[256];
    long type_count[256];
    int ntypes;
    long messages;
};

static double ms(int64_t us)
{
    return (double)us / 1000.0;
}

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t ncap_ = (cap) ? 2 * (cap) : 256;                                                \
            void *na_ = realloc((arr), ncap_ * sizeof *(arr));                                     \
            if (!na_)                                                                              \
                return -ENOMEM;                                                                    \
            (arr) = na_;                                                                           \
            (cap) = ncap_;                                                                         \
        }                                                                                          \
    } while (0)

static int violation(struct rs *s, int prop, int64_t t, int n1, int n2, int64_t index, int64_t term,
                     const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static int violation(struct rs *s, int prop, int64_t t, int n1, int n2, int64_t index, int64_t term,
                     const char *fmt, ...)
{
    char text[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (s->count[prop]++ == 0)
        snprintf(s->first[prop], sizeof s->first[prop], "%s", text);
    if (s->nv >= RAFT_MAX_LISTED)
        return 0;
    GROW(s->v, s->nv, s->capv);
    struct viol *v = &s->v[s->nv++];
    v->prop = prop;
    v->t = t;
    v->nodes[0] = n1;
    v->nodes[1] = n2;
    v->index = index;
    v->term = term;
    snprintf(v->text, sizeof v->text, "%s", text);
    return 0;
}

/* A command's hash as it is printed (`distlab trace` says cmd_hash the
 * same way). */
static const char *hexhash(int64_t h, char *buf, size_t cap)
{
    snprintf(buf, cap, "%016" PRIx64, (uint64_t)h);
    return buf;
}

/* ---- the scan ---- */

static int collect(struct rs *s, const struct trace_rec *recs, size_t nrec)
{
    int n = s->n;
    for (size_t i = 0; i < nrec; i++) {
        const struct trace_rec *r = &recs[i];
        int k = r->node;
        if (k < 1)
            continue;
        if (r->ev == TR_SEND && r->type >= MSG_RANGE_SIZE) {
            s->messages++;
            int t = 0;
            while (t < s->ntypes && s->type[t] != r->type)
                t++;
            if (t == s->ntypes && s->ntypes < 256)
                s->type[s->ntypes++] = r->type;
            if (t < s->ntypes)
                s->type_count[t]++;
            continue;
        }
        if (k <= n && r->ev == TR_ROLE) {
            GROW(s->roles, s->nroles, s->caproles);
            s->roles[s->nroles++] = (struct role_rec){
                .term = r->key, .t = r->t_us, .node = k, .inc = r->incarnation, .role = r->aux};
        } else if (k <= n && (r->ev == TR_APPLY || r->ev == TR_COMMIT)) {
            GROW(s->apps, s->napps, s->capapps);
            s->apps[s->napps++] = (struct app){.index = r->a,
                                               .term = r->key,
                                               .hash = r->ev == TR_APPLY ? r->b : 0,
                                               .t = r->t_us,
                                               .node = k,
                                               .inc = r->incarnation,
                                               .commit = r->ev == TR_COMMIT};
        } else if (k <= n && r->ev == TR_TRUNCATE) {
            GROW(s->truncs, s->ntr, s->captr);
            s->truncs[s->ntr++] =
                (struct trunc){.from = r->a, .to = r->b, .term = r->key, .t = r->t_us, .node = k};
        } else if (k > n && (r->ev == TR_INVOKE || r->ev == TR_OK || r->ev == TR_FAIL ||
                             r->ev == TR_TIMEOUT)) {
            GROW(s->ops, s->nops, s->capops);
            s->ops[s->nops++] =
                (struct oprec){.client = k - n,
                               .inc = r->incarnation,
                               .id = r->key,
                               .t = r->t_us,
                               .ev = r->ev,
                               .hash = r->ev == TR_INVOKE ? r->b : 0,
                               .server = r->peer,
                               .index = r->a,
                               .term = r->ev == TR_OK || r->ev == TR_FAIL ? r->b : 0};
        }
    }
    return 0;
}

/* ---- election safety and the terms ---- */

static int cmp_role(const void *x, const void *y)
{
    const struct role_rec *a = x, *b = y;
    if (a->term != b->term)
        return a->term < b->term ? -1 : 1;
    return (a->t > b->t) - (a->t < b->t);
}

struct terms {
    long elections;  /* terms with a candidate or a leader */
    long won;        /* terms with a leader */
    long split;      /* terms with two or more candidates and no leader */
    long leaderless; /* terms with a candidate and no leader */
    int max_leaders; /* most distinct leaders in one term */
};

static int elections(struct rs *s, struct terms *tm, json_t *leaders, json_t *split_votes,
                     bool *bad)
{
    memset(tm, 0, sizeof *tm);
    if (s->nroles > 1)
        qsort(s->roles, s->nroles, sizeof *s->roles, cmp_role);
    size_t i = 0;
    while (i < s->nroles) {
        size_t j = i;
        while (j < s->nroles && s->roles[j].term == s->roles[i].term)
            j++;
        int64_t term = s->roles[i].term;
        /* Distinct leaders and candidates of this term, in time order. */
        int lead[ALGO_MAX_NODES + 1], cand[ALGO_MAX_NODES + 1];
        int64_t lead_t[ALGO_MAX_NODES + 1], cand_t[ALGO_MAX_NODES + 1];
        int nl = 0, nc = 0;
        for (size_t k = i; k < j; k++) {
            const struct role_rec *r = &s->roles[k];
            if (r->role == ROLE_LEADER) {
                int x = 0;
                while (x < nl && lead[x] != r->node)
                    x++;
                if (x == nl && nl <= ALGO_MAX_NODES) {
                    lead[nl] = r->node;
                    lead_t[nl++] = r->t;
                }
            } else if (r->role == ROLE_CANDIDATE) {
                int x = 0;
                while (x < nc && cand[x] != r->node)
                    x++;
                if (x == nc && nc <= ALGO_MAX_NODES) {
                    cand[nc] = r->node;
                    cand_t[nc++] = r->t;
                }
            }
        }
        if (nl || nc)
            tm->elections++;
        if (nl)
            tm->won++;
        if (nl > tm->max_leaders)
            tm->max_leaders = nl;
        for (int x = 0; x < nl; x++)
            if (json_array_append_new(leaders,
                                      json_pack("{s:I, s:i, s:o}", "term", (json_int_t)term, "node",
                                                lead[x], "at_ms", us_to_ms(lead_t[x]))) < 0)
                *bad = true;
        for (int x = 1; x < nl; x++)
            if (violation(s, P_ELECTION, lead_t[x], lead[0], lead[x], -1, term,
                          "term %lld had two leaders: node %d from %.3f ms and node %d from "
                          "%.3f ms",
                          (long long)term, lead[0], ms(lead_t[0]), lead[x], ms(lead_t[x])) < 0)
                return -ENOMEM;
        if (nc && !nl) {
            tm->leaderless++;
            if (nc >= 2) {
                tm->split++;
                json_t *c = json_array();
                for (int x = 0; x < nc; x++)
                    if (json_array_append_new(c, json_integer(cand[x])) < 0)
                        *bad = true;
                if (json_array_append_new(split_votes, json_pack("{s:I, s:o, s:o}", "term",
                                                                 (json_int_t)term, "candidates", c,
                                                                 "at_ms", us_to_ms(cand_t[0]))) < 0)
                    *bad = true;
            }
        }
        i = j;
    }
    /* leaders[] in time order: nearly so already (a later term's leader is
     * elected later), so an insertion sort does little work. */
    size_t nl = json_array_size(leaders);
    for (size_t a = 1; a < nl; a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(leaders, b - 1), *y = json_array_get(leaders, b);
            if (json_number_value(json_object_get(x, "at_ms")) <=
                json_number_value(json_object_get(y, "at_ms")))
                break;
            json_incref(x);
            json_array_set(leaders, b - 1, y);
            json_array_set_new(leaders, b, x);
        }
    return 0;
}

/* The first leader claim of term, or NULL (roles sorted by term, time). */
static const struct role_rec *leader_of(const struct rs *s, int64_t term)
{
    size_t lo = 0, hi = s->nroles;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->roles[mid].term < term)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < s->nroles && s->roles[lo].term == term; lo++)
        if (s->roles[lo].role == ROLE_LEADER)
            return &s->roles[lo];
    return NULL;
}

/* ---- what was applied ---- */

static int cmp_app_life(const void *x, const void *y)
{
    const struct app *a = x, *b = y;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    if (a->inc != b->inc)
        return a->inc < b->inc ? -1 : 1;
    return (a->t > b->t) - (a->t < b->t);
}

static int cmp_app_index(const void *x, const void *y)
{
    const struct app *a = x, *b = y;
    if (a->index != b->index)
        return a->index < b->index ? -1 : 1;
    if (a->commit != b->commit)
        return a->commit ? 1 : -1; /* applies first: they carry the command */
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->node > b->node) - (a->node < b->node);
}

struct applied {
    long indexes;       /* distinct indexes applied somewhere */
    long applies;       /* apply records */
    int64_t max_index;  /* the highest index applied */
    int64_t max_commit; /* the highest commit index recorded */
    long commit_records;
};

static int apply_order(struct rs *s)
{
    if (s->napps > 1)
        qsort(s->apps, s->napps, sizeof *s->apps, cmp_app_life);
    int node = -1, inc = -1;
    int64_t last = 0;
    bool have = false;
    for (size_t i = 0; i < s->napps; i++) {
        const struct app *a = &s->apps[i];
        if (a->commit)
            continue;
        if (a->node != node || a->inc != inc) {
            node = a->node;
            inc = a->inc;
            have = false;
        }
        if (have && a->index <= last &&
            violation(s, P_APPLY_ORDER, a->t, a->node, 0, a->index, a->term,
                      "node %d (incarnation %d) applied index %lld at %.3f ms after it had "
                      "applied index %lld",
                      a->node, a->inc, (long long)a->index, ms(a->t), (long long)last) < 0)
            return -ENOMEM;
        if (!have || a->index > last)
            last = a->index;
        have = true;
    }
    return 0;
}

static const char *what(const struct app *a)
{
    return a->commit ? "committed" : "applied";
}

/* Every apply and commit of one index (apps[i..j), applies first, each in
 * time order): its first apply stands for the committed entry. */
static int one_index(struct rs *s, size_t i, size_t j)
{
    const struct app *ref = &s->apps[i];
    int64_t index = ref->index;
    char h1[20], h2[20];
    /* log matching: one command per (index, term), among the applies. */
    for (size_t x = i; x < j && !s->apps[x].commit; x++) {
        const struct app *a = &s->apps[x];
        for (size_t y = i; y < x; y++) {
            const struct app *b = &s->apps[y];
            if (b->term != a->term)
                continue;
            if (b->hash != a->hash) {
                if (violation(s, P_LOG_MATCHING, a->t, b->node, a->node, index, a->term,
                              "index %lld, term %lld holds two commands: node %d applied %s at "
                              "%.3f ms, node %d applied %s at %.3f ms",
                              (long long)index, (long long)a->term, b->node,
                              hexhash(b->hash, h1, sizeof h1), ms(b->t), a->node,
                              hexhash(a->hash, h2, sizeof h2), ms(a->t)) < 0)
                    return -ENOMEM;
            }
            break; /* compared with the first of its term */
        }
    }
    /* state machine safety: everything agrees with the first apply. */
    bool sm_reported = false;
    for (size_t x = i + 1; x < j; x++) {
        const struct app *a = &s->apps[x];
        bool differs = a->term != ref->term || (!a->commit && !ref->commit && a->hash != ref->hash);
        if (!differs)
            continue;
        if (!sm_reported) {
            sm_reported = true;
            int rc;
            if (a->commit || ref->commit)
                rc = violation(s, P_SM_SAFETY, a->t, ref->node, a->node, index, a->term,
                               "index %lld: node %d %s it in term %lld at %.3f ms, node %d %s it "
                               "in term %lld at %.3f ms",
                               (long long)index, ref->node, what(ref), (long long)ref->term,
                               ms(ref->t), a->node, what(a), (long long)a->term, ms(a->t));
            else
                rc = violation(s, P_SM_SAFETY, a->t, ref->node, a->node, index, a->term,
                               "index %lld was applied with two entries: node %d applied %s "
                               "(term %lld) at %.3f ms, node %d applied %s (term %lld) at %.3f ms",
                               (long long)index, ref->node, hexhash(ref->hash, h1, sizeof h1),
                               (long long)ref->term, ms(ref->t), a->node,
                               hexhash(a->hash, h2, sizeof h2), (long long)a->term, ms(a->t));
            if (rc < 0)
                return rc;
        }
        /* Leader completeness: an entry of a later term at an index already
         * applied (committed) can only come from a leader that lacked the
         * committed entry when it took office after that apply. */
        if (!ref->commit && a->term > ref->term) {
            const struct role_rec *l = leader_of(s, a->term);
            if (l && l->t > ref->t &&
                violation(s, P_LEADER_COMPLETENESS, a->t, l->node, a->node, index, a->term,
                          "node %d became leader of term %lld at %.3f ms without the entry at "
                          "index %lld that node %d had applied (term %lld) at %.3f ms: node %d "
                          "%s an entry of term %lld there at %.3f ms",
                          l->node, (long long)a->term, ms(l->t), (long long)index, ref->node,
                          (long long)ref->term, ms(ref->t), a->node, what(a), (long long)a->term,
                          ms(a->t)) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static int applied_scan(struct rs *s, struct applied *ap)
{
    memset(ap, 0, sizeof *ap);
    int rc = apply_order(s);
    if (rc < 0)
        return rc;
    if (s->napps > 1)
        qsort(s->apps, s->napps, sizeof *s->apps, cmp_app_index);
    size_t i = 0;
    while (i < s->napps) {
        size_t j = i;
        while (j < s->napps && s->apps[j].index == s->apps[i].index)
            j++;
        bool any_apply = !s->apps[i].commit;
        if (any_apply) {
            ap->indexes++;
            if (s->apps[i].index > ap->max_index)
                ap->max_index = s->apps[i].index;
        }
        for (size_t x = i; x < j; x++) {
            if (s->apps[x].commit) {
                ap->commit_records++;
                if (s->apps[x].index > ap->max_commit)
                    ap->max_commit = s->apps[x].index;
            } else {
                ap->applies++;
            }
        }
        if ((rc = one_index(s, i, j)) < 0)
            return rc;
        i = j;
    }
    return 0;
}

/* The applies of index (apps sorted by index, applies first): [*lo, *hi). */
static void applies_of(const struct rs *s, int64_t index, size_t *lo_out, size_t *hi_out)
{
    size_t lo = 0, hi = s->napps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->apps[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t e = lo;
    while (e < s->napps && s->apps[e].index == index && !s->apps[e].commit)
        e++;
    *lo_out = lo;
    *hi_out = e;
}

/* ---- client operations ---- */

static int cmp_op(const void *x, const void *y)
{
    const struct oprec *a = x, *b = y;
    if (a->client != b->client)
        return a->client < b->client ? -1 : 1;
    if (a->inc != b->inc)
        return a->inc < b->inc ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->ev > b->ev) - (a->ev < b->ev);
}

struct samples {
    int64_t *v;
    size_t n, cap;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank, as the mutex report computes its percentiles. */
static int64_t percentile(const struct samples *sm, int p)
{
    size_t rank = ((size_t)p * sm->n + 99) / 100;
    if (rank < 1)
        rank = 1;
    if (rank > sm->n)
        rank = sm->n;
    return sm->v[rank - 1];
}

struct opstats {
    long invoked, ok, failed, timeout, pending;
    long ok_checked, ok_unknown_invoke, ok_unapplied_incomplete;
    long ok_unlogged; /* answered without the log (index 0: a local read) */
    long lost;
    int64_t first_invoke, last_ok;
    struct samples lat;
};

static int client_ops(struct rs *s, struct opstats *st, bool complete)
{
    memset(st, 0, sizeof *st);
    st->first_invoke = st->last_ok = -1;
    if (s->nops > 1)
        qsort(s->ops, s->nops, sizeof *s->ops, cmp_op);
    char h1[20], h2[20];
    size_t i = 0;
    while (i < s->nops) {
        size_t j = i;
        while (j < s->nops && s->ops[j].client == s->ops[i].client &&
               s->ops[j].inc == s->ops[i].inc && s->ops[j].id == s->ops[i].id)
            j++;
        const struct oprec *inv = NULL, *out = NULL;
        for (size_t x = i; x < j; x++) {
            if (s->ops[x].ev == TR_INVOKE && !inv)
                inv = &s->ops[x];
            else if (s->ops[x].ev != TR_INVOKE && !out)
                out = &s->ops[x];
        }
        if (inv) {
            st->invoked++;
            if (st->first_invoke < 0 || inv->t < st->first_invoke)
                st->first_invoke = inv->t;
        }
        if (!out) {
            if (inv)
                st->pending++;
        } else if (out->ev == TR_FAIL) {
            st->failed++;
        } else if (out->ev == TR_TIMEOUT) {
            st->timeout++;
        } else {
            st->ok++;
            if (out->t > st->last_ok)
                st->last_ok = out->t;
            if (inv && out->t >= inv->t) {
                if (st->lat.n == st->lat.cap) {
                    size_t ncap = st->lat.cap ? 2 * st->lat.cap : 256;
                    int64_t *nv = realloc(st->lat.v, ncap * sizeof *nv);
                    if (!nv)
                        return -ENOMEM;
                    st->lat.v = nv;
                    st->lat.cap = ncap;
                }
                st->lat.v[st->lat.n++] = out->t - inv->t;
            }
            /* Acknowledged: the index it names must hold its command (a
             * read answered without the log names none). */
            if (out->index == 0) {
                st->ok_unlogged++;
            } else if (!inv) {
                st->ok_unknown_invoke++;
            } else {
                size_t lo, hi;
                applies_of(s, out->index, &lo, &hi);
                const struct app *same = NULL, *other = NULL;
                for (size_t x = lo; x < hi; x++) {
                    if (s->apps[x].hash == inv->hash && !same)
                        same = &s->apps[x];
                    else if (s->apps[x].hash != inv->hash && !other)
                        other = &s->apps[x];
                }
                st->ok_checked++;
                int rc = 0;
                int srv = out->server;
                if (other) {
                    st->lost++;
                    rc = violation(
                        s, P_ACKNOWLEDGED, other->t, srv, other->node, out->index, out->term,
                        "client %d's operation %lld (command %s) was acknowledged by "
                        "node %d at %.3f ms as committed at index %lld (term %lld), "
                        "but node %d applied %s (term %lld) there at %.3f ms",
                        inv->client, (long long)inv->id, hexhash(inv->hash, h1, sizeof h1), srv,
                        ms(out->t), (long long)out->index, (long long)out->term, other->node,
                        hexhash(other->hash, h2, sizeof h2), (long long)other->term, ms(other->t));
                } else if (!same && complete) {
                    st->lost++;
                    rc = violation(s, P_ACKNOWLEDGED, out->t, srv, 0, out->index, out->term,
                                   "client %d's operation %lld (command %s) was acknowledged by "
                                   "node %d at %.3f ms as committed at index %lld (term %lld), "
                                   "and no node applied index %lld",
                                   inv->client, (long long)inv->id,
                                   hexhash(inv->hash, h1, sizeof h1), srv, ms(out->t),
                                   (long long)out->index, (long long)out->term,
                                   (long long)out->index);
                } else if (!same) {
                    st->ok_unapplied_incomplete++;
                }
                if (rc < 0)
                    return rc;
            }
        }
        i = j;
    }
    if (st->lat.n > 1)
        qsort(st->lat.v, st->lat.n, sizeof *st->lat.v, cmp_i64);
    if (st->ok_unknown_invoke || st->ok_unapplied_incomplete)
        s->unjudged[P_ACKNOWLEDGED] = true;
    return 0;
}

/* Each command applied once: a client's command (by hash) applied at two
 * indexes was applied twice - a retry that was not recognised. Judged for
 * the commands no two invokes share (identical bytes submitted twice are
 * two commands that look alike). */
struct happ {
    int64_t hash, index, t;
    int node;
};

static int cmp_happ(const void *x, const void *y)
{
    const struct happ *a = x, *b = y;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    if (a->index != b->index)
        return a->index < b->index ? -1 : 1;
    return (a->t > b->t) - (a->t < b->t);
}

static int cmp_i64(const void *a, const void *b);

static int applied_once(struct rs *s, long *checked, long *failed_checked)
{
    *checked = 0;
    *failed_checked = 0;
    size_t nh = 0, ni = 0;
    struct happ *h = malloc((s->napps + 1) * sizeof *h);
    int64_t *inv = malloc((s->nops + 1) * sizeof *inv);
    if (!h || !inv) {
        free(h);
        free(inv);
        return -ENOMEM;
    }
    int64_t empty = trace_hash("", 0);
    for (size_t i = 0; i < s->napps; i++)
        if (!s->apps[i].commit && s->apps[i].hash != empty)
            h[nh++] = (struct happ){.hash = s->apps[i].hash,
                                    .index = s->apps[i].index,
                                    .t = s->apps[i].t,
                                    .node = s->apps[i].node};
    for (size_t i = 0; i < s->nops; i++)
        if (s->ops[i].ev == TR_INVOKE && s->ops[i].hash != empty)
            inv[ni++] = s->ops[i].hash;
    if (nh > 1)
        qsort(h, nh, sizeof *h, cmp_happ);
    if (ni > 1)
        qsort(inv, ni, sizeof *inv, cmp_i64);
    int rc = 0;
    char hx[20];
    for (size_t i = 0; i < ni && rc == 0; i++) {
        bool shared = (i > 0 && inv[i - 1] == inv[i]) || (i + 1 < ni && inv[i + 1] == inv[i]);
        if (shared)
            continue;
        (*checked)++;
        size_t lo = 0, hi = nh;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (h[mid].hash < inv[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo >= nh || h[lo].hash != inv[i])
            continue;
        for (size_t j = lo + 1; j < nh && h[j].hash == inv[i]; j++) {
            if (h[j].index == h[lo].index)
                continue;
            rc = violation(s, P_APPLIED_ONCE, h[j].t, h[lo].node, h[j].node, h[j].index, -1,
                           "command %s was applied at two indexes: %lld (node %d at %.3f ms) and "
                           "%lld (node %d at %.3f ms)",
                           hexhash(inv[i], hx, sizeof hx), (long long)h[lo].index, h[lo].node,
                           ms(h[lo].t), (long long)h[j].index, h[j].node, ms(h[j].t));
            break;
        }
    }
    /* A failed operation was definitely not applied (TR_FAIL): its command
     * (when no other invoke shares it) appears in no apply. */
    for (size_t i = 0; i < s->nops && rc == 0; i++) {
        const struct oprec *f = &s->ops[i];
        if (f->ev != TR_FAIL)
            continue;
        const struct oprec *v = NULL;
        for (size_t j = i; j-- > 0 && s->ops[j].client == f->client && s->ops[j].inc == f->inc &&
                           s->ops[j].id == f->id;)
            if (s->ops[j].ev == TR_INVOKE)
                v = &s->ops[j];
        if (!v || v->hash == empty)
            continue;
        size_t lo = 0, hi = ni;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (inv[mid] < v->hash)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo + 1 < ni && inv[lo + 1] == v->hash)
            continue; /* two invokes share these bytes */
        (*failed_checked)++;
        lo = 0;
        hi = nh;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (h[mid].hash < v->hash)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < nh && h[lo].hash == v->hash)
            rc = violation(s, P_FAILED_NOT_APPLIED, h[lo].t, h[lo].node, f->server, h[lo].index, -1,
                           "client %d's operation %lld (command %s) failed at %.3f ms, but node "
                           "%d applied it at index %lld at %.3f ms",
                           f->client, (long long)f->id, hexhash(v->hash, hx, sizeof hx), ms(f->t),
                           h[lo].node, (long long)h[lo].index, ms(h[lo].t));
    }
    free(h);
    free(inv);
    return rc;
}

/* Rollbacks dropped only entries nobody committed: the first entry each
 * dropped, (index, term), appears in no commit or apply record (s->apps,
 * sorted by index by applied_scan). */
static int rollbacks(struct rs *s, long *entries)
{
    int rc = 0;
    *entries = 0;
    for (size_t i = 0; i < s->ntr && rc == 0; i++) {
        const struct trunc *tr = &s->truncs[i];
        *entries += tr->to >= tr->from ? tr->to - tr->from + 1 : 0;
        size_t lo = 0, hi = s->napps;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->apps[mid].index < tr->from)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t j = lo; j < s->napps && s->apps[j].index == tr->from; j++) {
            const struct app *a = &s->apps[j];
            if (a->term != tr->term)
                continue;
            rc = violation(s, P_KEPT_COMMITTED, tr->t, tr->node, a->node, tr->from, tr->term,
                           "node %d rolled back its entry %lld (term %lld) at %.3f ms, which "
                           "node %d %s at %.3f ms",
                           tr->node, (long long)tr->from, (long long)tr->term, ms(tr->t), a->node,
                           a->commit ? "committed" : "applied", ms(a->t));
            break;
        }
    }
    return rc;
}

/* ---- leaders over time: failovers and the story ---- */

struct story {
    int64_t t;
    size_t seq; /* the order it was found in, for lines of the same time */
    char text[400];
};

struct failover {
    bool open;
    int64_t t;    /* when the leader was lost */
    int node;     /* the leader lost */
    int64_t term; /* its term */
    char cause[160];
    const char *kind;   /* kill, pause, terminate, restart, crash, partition */
    const char *source; /* schedule, command, external */
    char label[48];
};

struct timeline {
    struct story *st;
    size_t n, cap;
    long omitted;
    json_t *failovers, *failover_ms;
};

static int story_add(struct timeline *tl, int64_t t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int story_add(struct timeline *tl, int64_t t, const char *fmt, ...)
{
    GROW(tl->st, tl->n, tl->cap);
    struct story *e = &tl->st[tl->n++];
    e->t = t;
    e->seq = tl->n - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    return 0;
}

static const char *fault_label(const struct trace_rec *f, char *buf, size_t cap)
{
    if (f->a > 0 && f->b > 1)
        snprintf(buf, cap, "fault.%lld #%lld", (long long)f->a, (long long)f->b);
    else if (f->a > 0)
        snprintf(buf, cap, "fault.%lld", (long long)f->a);
    else
        snprintf(buf, cap, "a command");
    return buf;
}

/* The end of a failover: the first leader of a higher term (node, term,
 * at t), or none (node 0): ended says why ("the end of the traces", "the
 * partition healed", "it resumed"), at t. */
static int failover_close(struct timeline *tl, struct failover *fo, int node, int64_t term,
                          int64_t t, const char *ended, bool *bad)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:i, s:I, s:o, s:o, s:o, s:o, s:o}", "cause", fo->cause, "kind", fo->kind,
        "source", fo->source, "node", fo->node, "term", (json_int_t)fo->term, "at_ms",
        us_to_ms(fo->t), "new_leader", node ? json_integer(node) : json_null(), "new_term",
        node ? json_integer(term) : json_null(), "elected_at_ms", node ? us_to_ms(t) : json_null(),
        "failover_ms", node ? us_to_ms(t - fo->t) : json_null());
    if (o && fo->label[0] && json_object_set_new(o, "fault", json_string(fo->label)) < 0)
        *bad = true;
    if (o && !node &&
        (json_object_set_new(o, "ended", json_string(ended)) < 0 ||
         json_object_set_new(o, "ended_at_ms", us_to_ms(t)) < 0))
        *bad = true;
    if (!o || json_array_append_new(tl->failovers, o) < 0)
        *bad = true;
    if (node && json_array_append_new(tl->failover_ms, us_to_ms(t - fo->t)) < 0)
        *bad = true;
    fo->open = false;
    return 0;
}

/* Is node k cut off from a majority: fewer than a majority, itself
 * included, with the links both ways uncut? cut is (n+1) x (n+1). */
static bool cut_off(const bool *cut, int n, int k)
{
    int reach = 1;
    for (int j = 1; j <= n; j++)
        if (j != k && !cut[k * (n + 1) + j] && !cut[j * (n + 1) + k])
            reach++;
    return reach < n / 2 + 1;
}

static int cmp_story(const void *x, const void *y)
{
    const struct story *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Terms with candidates and no leader, for the story: a split vote gets a
 * line of its own; a run of consecutive terms in which one node alone
 * stood (cut off, or without a majority) gets one line. */
static int story_terms(struct rs *s, struct timeline *tl)
{
    size_t i = 0;
    int64_t run_first = -1, run_last = -1, run_t = 0;
    int run_node = 0;
    long run_count = 0;
    for (;;) {
        bool end = i >= s->nroles;
        size_t j = i;
        int64_t term = end ? 0 : s->roles[i].term;
        while (j < s->nroles && s->roles[j].term == term)
            j++;
        /* The candidates of this term, each once (the first 4 named). */
        int cands[4], nc = 0;
        bool seen[ALGO_MAX_NODES + 1] = {false};
        bool leader = false;
        int64_t t0 = 0;
        for (size_t k = i; k < j; k++) {
            const struct role_rec *rr = &s->roles[k];
            if (rr->role == ROLE_LEADER)
                leader = true;
            if (rr->role != ROLE_CANDIDATE || rr->node < 1 || rr->node > ALGO_MAX_NODES ||
                seen[rr->node])
                continue;
            seen[rr->node] = true;
            if (nc == 0)
                t0 = rr->t;
            if (nc < 4)
                cands[nc] = rr->node;
            nc++;
        }
        bool solo = !end && nc == 1 && !leader;
        /* A run of solo terms ends here? */
        if (run_count && (end || !solo || cands[0] != run_node || term != run_last + 1)) {
            int rc =
                run_count == 1
                    ? story_add(tl, run_t,
                                "term %lld: node %d stood for election alone and was not "
                                "elected",
                                (long long)run_first, run_node)
                    : story_add(tl, run_t,
                                "terms %lld to %lld: node %d stood for election alone in "
                                "each (%ld terms) and was never elected",
                                (long long)run_first, (long long)run_last, run_node, run_count);
            if (rc < 0)
                return rc;
            run_count = 0;
        }
        if (end)
            break;
        if (solo) {
            if (run_count == 0) {
                run_first = term;
                run_t = t0;
                run_node = cands[0];
            }
            run_last = term;
            run_count++;
        } else if (nc >= 2 && !leader) {
            char list[64];
            size_t len = 0;
            for (int x = 0; x < nc && x < 4; x++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%d",
                                        x == 0        ? ""
                                        : x == nc - 1 ? " and "
                                                      : ", ",
                                        cands[x]);
            if (nc > 4)
                snprintf(list + len, sizeof list - len, " and %d more", nc - 4);
            if (story_add(tl, t0,
                          "term %lld: a split vote: %d candidates (nodes %s), nobody "
                          "was elected",
                          (long long)term, nc, list) < 0)
                return -ENOMEM;
        }
        i = j;
    }
    return 0;
}

/* The current leader: of the nodes that are up and whose last role record
 * says leader, the one with the highest term (0: none). */
static int current_leader(const int *role, const int64_t *term, const bool *up, int n)
{
    int best = 0;
    for (int k = 1; k <= n; k++)
        if (up[k] && role[k] == ROLE_LEADER && (!best || term[k] > term[best]))
            best = k;
    return best;
}

/* The run as one pass over the trace sees it. */
struct tstate {
    int n;
    int role[ALGO_MAX_NODES + 1];
    int64_t term[ALGO_MAX_NODES + 1];
    bool up[ALGO_MAX_NODES + 1];
    bool *cut; /* [from * (n + 1) + to]: the link is cut */
    bool links_changed;
    int64_t links_t; /* the time of the last link change */
    const struct trace_rec *last_fault;
    struct failover fo;
};

static void fo_open(struct tstate *st, int64_t t, int node, const char *kind, const char *source,
                    const struct trace_rec *fault)
{
    st->fo = (struct failover){
        .open = true, .t = t, .node = node, .term = st->term[node], .kind = kind, .source = source};
    if (fault)
        fault_label(fault, st->fo.label, sizeof st->fo.label);
}

/* The links a network fault changed are all recorded (its TR_LINK records
 * come right after its fault record): did they cut the leader off from a
 * majority, or give the one cut off a majority back before another leader
 * was elected? */
static int links_settled(struct tstate *st, struct timeline *tl, int cur, int64_t t, bool stopping,
                         bool *bad)
{
    const struct trace_rec *f = st->last_fault;
    struct failover *fo = &st->fo;
    if (!fo->open && cur && !stopping && f && f->aux == FAULT_PARTITION &&
        cut_off(st->cut, st->n, cur)) {
        fo_open(st, f->t_us, cur, "partition", f->a > 0 ? "schedule" : "command", f);
        snprintf(fo->cause, sizeof fo->cause,
                 "a partition (%s) cut leader node %d off from a majority", fo->label, cur);
        return story_add(tl, f->t_us,
                         "%s: a partition cut node %d, leader of term %lld, off from a majority",
                         fo->label, cur, (long long)fo->term);
    }
    if (fo->open && strcmp(fo->kind, "partition") == 0 && !cut_off(st->cut, st->n, fo->node) &&
        st->role[fo->node] == ROLE_LEADER && st->term[fo->node] == fo->term) {
        if (story_add(tl, t,
                      "node %d, still leader of term %lld, could reach a majority again before "
                      "another leader was elected",
                      fo->node, (long long)fo->term) < 0)
            return -ENOMEM;
        failover_close(tl, fo, 0, 0, t, "healed before another leader was elected", bad);
    }
    return 0;
}

static int timeline_step(struct tstate *st, struct timeline *tl, const struct trace_rec *r,
                         const struct report_clock *clk, bool *bad)
{
    int n = st->n, k = r->node;
    int *role = st->role;
    int64_t *term = st->term;
    bool *up = st->up;
    struct failover *fo = &st->fo;
    bool stopping = clk->stop_us >= 0 && r->t_us >= clk->stop_us;
    int cur = current_leader(role, term, up, n);
    if (st->links_changed && r->ev != TR_LINK) {
        st->links_changed = false;
        if (links_settled(st, tl, cur, st->links_t, stopping, bad) < 0)
            return -ENOMEM;
        cur = current_leader(role, term, up, n);
    }
    if (r->ev == TR_FAULT) {
        st->last_fault = r;
        int a = r->aux;
        if (!fo->open && cur && r->peer == cur && !stopping &&
            (a == FAULT_KILL || a == FAULT_PAUSE || a == FAULT_TERMINATE || a == FAULT_RESTART)) {
            fo_open(st, r->t_us, cur, fault_action_name(a), r->a > 0 ? "schedule" : "command", r);
            snprintf(fo->cause, sizeof fo->cause, "%s of leader node %d (%s)", fo->kind, cur,
                     fo->label);
            return story_add(tl, r->t_us, "%s: %s node %d, leader of term %lld", fo->label,
                             fo->kind, cur, (long long)term[cur]);
        }
        return 0;
    }
    if (r->ev == TR_TRUNCATE && r->node >= 1 && r->node <= n)
        return story_add(tl, r->t_us,
                         "node %d rolled back its log entries %lld..%lld (from term %lld): "
                         "replaced by the log of the leader it now follows",
                         r->node, (long long)r->a, (long long)r->b, (long long)r->key);
    if (r->ev == TR_LINK) {
        if (r->peer >= 1 && r->peer <= n && r->key >= 1 && r->key <= n)
            st->cut[r->peer * (n + 1) + r->key] = r->aux != 0;
        st->links_changed = true;
        st->links_t = r->t_us;
        return 0;
    }
    if (k < 1 || k > n)
        return 0;
    switch (r->ev) {
    case TR_CRASH:
    case TR_PAUSE:
    case TR_STOP: {
        if (r->ev == TR_STOP && r->aux == 0) {
            /* The node's own stop record: the end of its run. */
            up[k] = false;
            role[k] = ROLE_NONE;
            break;
        }
        const char *kind = r->ev == TR_CRASH ? "crash" : r->ev == TR_PAUSE ? "pause" : "terminate";
        if (role[k] == ROLE_LEADER && up[k] && !stopping) {
            const char *how = r->ev == TR_CRASH   ? "crashed"
                              : r->ev == TR_PAUSE ? "was paused"
                                                  : "was stopped";
            char sig[48] = "";
            if (r->aux)
                snprintf(sig, sizeof sig, " (%s)", proc_signame(r->aux));
            if (story_add(tl, r->t_us, "node %d, leader of term %lld, %s%s", k, (long long)term[k],
                          how, sig) < 0)
                return -ENOMEM;
        }
        if (!fo->open && k == cur && !stopping) {
            fo_open(st, r->t_us, k, kind, "external", NULL);
            snprintf(fo->cause, sizeof fo->cause,
                     "%s of leader node %d (no fault record asked for it)", kind, k);
        }
        up[k] = false;
        if (r->ev != TR_PAUSE)
            role[k] = ROLE_NONE;
        break;
    }
    case TR_RESUME:
        up[k] = true;
        if (fo->open && fo->node == k && strcmp(fo->kind, "pause") == 0 && role[k] == ROLE_LEADER &&
            term[k] == fo->term) {
            /* Back before anyone else was elected: it may go on leading. */
            if (story_add(tl, r->t_us,
                          "node %d resumed, still leader of term %lld, before another leader "
                          "was elected",
                          k, (long long)term[k]) < 0)
                return -ENOMEM;
            failover_close(tl, fo, 0, 0, r->t_us, "resumed before another leader was elected", bad);
        }
        break;
    case TR_RESTART:
    case TR_START:
        up[k] = true;
        role[k] = ROLE_NONE;
        break;
    case TR_ROLE: {
        int was = role[k];
        int64_t was_term = term[k];
        role[k] = r->aux;
        term[k] = r->key;
        up[k] = true; /* it acts: whatever the supervisor saw, it runs */
        if (r->aux == ROLE_LEADER && was != ROLE_LEADER) {
            char why[200] = "";
            bool ends = fo->open && r->key > fo->term;
            if (ends)
                snprintf(why, sizeof why, ", %.3f ms after the %s of node %d (leader of term %lld)",
                         ms(r->t_us - fo->t), fo->kind, fo->node, (long long)fo->term);
            if (story_add(tl, r->t_us, "node %d became leader of term %lld%s", k, (long long)r->key,
                          why) < 0)
                return -ENOMEM;
            if (ends)
                failover_close(tl, fo, k, r->key, r->t_us, NULL, bad);
        } else if (was == ROLE_LEADER && r->aux != ROLE_LEADER) {
            if (story_add(tl, r->t_us, "node %d stopped leading term %lld: %s in term %lld%s", k,
                          (long long)was_term, algo_role_name(r->aux), (long long)r->key,
                          r->key > was_term ? " (it saw a higher term)" : "") < 0)
                return -ENOMEM;
        }
        break;
    }
    default: break;
    }
    return 0;
}

static int timeline(struct rs *s, const struct trace_rec *recs, size_t nrec,
                    const struct report_clock *clk, struct timeline *tl, bool *bad)
{
    struct tstate *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->n = s->n;
    for (int k = 0; k <= s->n; k++)
        st->up[k] = true;
    st->cut = calloc((size_t)(s->n + 1) * (size_t)(s->n + 1), sizeof *st->cut);
    int rc = st->cut ? 0 : -ENOMEM;
    for (size_t i = 0; i < nrec && rc == 0; i++)
        rc = timeline_step(st, tl, &recs[i], clk, bad);
    int64_t t_end = nrec ? recs[nrec - 1].t_us : 0;
    if (rc == 0 && st->links_changed)
        rc = links_settled(st, tl, current_leader(st->role, st->term, st->up, s->n), st->links_t,
                           true, bad);
    struct failover *fo = &st->fo;
    if (rc == 0 && fo->open) {
        rc = story_add(tl, t_end,
                       "no leader of a term above %lld was elected after the %s of node %d at "
                       "%.3f ms, up to the end of the traces",
                       (long long)fo->term, fo->kind, fo->node, ms(fo->t));
        failover_close(tl, fo, 0, 0, t_end, "no new leader to the end of the traces", bad);
    }
    free(st->cut);
    free(st);
    if (rc == 0)
        rc = story_terms(s, tl);
    if (rc < 0)
        return rc;
    /* Time order; lines of the same time in the order they were found. */
    if (tl->n > 1)
        qsort(tl->st, tl->n, sizeof *tl->st, cmp_story);
    return 0;
}

/* ---- JSON ---- */

static json_t *property(const char *name, bool held, bool judged, const char *detail)
{
    const char *verdict = !judged ? "cannot verify" : held ? "pass" : "fail";
    json_t *p = json_pack("{s:s, s:b, s:s, s:s}", "name", name, "held", held && judged, "verdict",
                          verdict, "detail", detail);
    if (p && !judged && held && json_object_set_new(p, "judged", json_false()) < 0) {
        json_decref(p);
        return NULL;
    }
    return p;
}

static json_t *latency_json(const struct samples *sm)
{
    if (sm->n == 0)
        return json_pack("{s:n, s:n, s:n, s:n}", "p50", "p95", "p99", "max");
    return json_pack("{s:o, s:o, s:o, s:o}", "p50", us_to_ms(percentile(sm, 50)), "p95",
                     us_to_ms(percentile(sm, 95)), "p99", us_to_ms(percentile(sm, 99)), "max",
                     us_to_ms(sm->v[sm->n - 1]));
}

/* For faults on a node, say at the head of the fault's outcome whether
 * that node was the leader then: a fault that took the leader away opened
 * a failover at its time (the fault list itself is report_faults.c's). */
static void annotate_faults(json_t *faults, const json_t *failovers, bool *bad)
{
    size_t i, j;
    json_t *f, *fo;
    json_array_foreach(faults, i, f)
    {
        const json_t *node = json_object_get(f, "node");
        const char *action = json_string_value(json_object_get(f, "action"));
        bool on_node = json_is_integer(node) && json_is_number(json_object_get(f, "at_ms")) &&
                       !json_object_get(f, "skipped") && action && strcmp(action, "resume") != 0 &&
                       strcmp(action, "restart") != 0;
        bool leader = false;
        json_array_foreach((json_t *)failovers, j, fo)
        {
            if (json_number_value(json_object_get(f, "at_ms")) !=
                    json_number_value(json_object_get(fo, "at_ms")) ||
                !json_is_integer(json_object_get(f, "node")) ||
                json_integer_value(json_object_get(f, "node")) !=
                    json_integer_value(json_object_get(fo, "node")))
                continue;
            char line[1800];
            const char *out = json_string_value(json_object_get(f, "outcome"));
            snprintf(line, sizeof line, "node %lld was the leader (term %lld)%s%s",
                     (long long)json_integer_value(json_object_get(fo, "node")),
                     (long long)json_integer_value(json_object_get(fo, "term")),
                     out && out[0] ? "; " : "", out ? out : "");
            if (json_object_set_new(f, "outcome", json_string(line)) < 0 ||
                json_object_set_new(f, "leader_lost", json_true()) < 0)
                *bad = true;
            leader = true;
            break;
        }
        if (on_node && !leader) {
            char line[1800];
            const char *out = json_string_value(json_object_get(f, "outcome"));
            snprintf(line, sizeof line, "node %lld was not the current leader%s%s",
                     (long long)json_integer_value(node), out && out[0] ? "; " : "",
                     out ? out : "");
            if (json_object_set_new(f, "outcome", json_string(line)) < 0)
                *bad = true;
        }
    }
}

static void rs_free(struct rs *s)
{
    free(s->roles);
    free(s->apps);
    free(s->ops);
    free(s->truncs);
    free(s->v);
}

int report_build_raft(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                      size_t nrec, const struct report_clock *clk, json_t *faults, char *errbuf)
{
    struct rs s = {.ri = ri, .n = ri->n};
    struct terms tm;
    struct applied ap;
    struct opstats os = {0};
    struct timeline tl = {0};
    bool bad = false;
    bool complete = ri->ev && ri->ev->traces_complete;
    /* [trace] record without log: an acknowledged index no trace shows
     * applied is not evidence of a loss (evidence.c leaves it unjudged). */
    complete = complete && evidence_recorded(ri->ev, TRACE_CLASS_LOG);
    json_t *leaders = json_array(), *split = json_array();
    tl.failovers = json_array();
    tl.failover_ms = json_array();
    int rc = collect(&s, recs, nrec);
    if (rc == 0)
        rc = elections(&s, &tm, leaders, split, &bad);
    if (rc == 0)
        rc = applied_scan(&s, &ap);
    if (rc == 0)
        rc = client_ops(&s, &os, complete);
    long once_checked = 0, failed_checked = 0;
    if (rc == 0)
        rc = applied_once(&s, &once_checked, &failed_checked);
    long rolled = 0;
    if (rc == 0)
        rc = rollbacks(&s, &rolled);
    if (rc == 0)
        rc = timeline(&s, recs, nrec, clk, &tl, &bad);
    struct kv_verdict kv;
    if (rc == 0 && report_kv_build(rep, ri, recs, nrec, &kv, errbuf) < 0)
        rc = -ENOMEM;
    if (rc < 0 || bad || !leaders || !split || !tl.failovers || !tl.failover_ms) {
        json_decref(leaders);
        json_decref(split);
        json_decref(tl.failovers);
        json_decref(tl.failover_ms);
        free(tl.st);
        free(os.lat.v);
        rs_free(&s);
        return dl_seterr(errbuf, ENOMEM, "out of memory building the report");
    }
    annotate_faults(faults, tl.failovers, &bad);

    long violations = 0;
    for (int p = 0; p < P_COUNT; p++)
        violations += s.count[p];
    put(rep, "violations", json_integer(violations), &bad);
    put(rep, "elections", json_integer(tm.elections), &bad);
    put(rep, "elections_won", json_integer(tm.won), &bad);
    put(rep, "terms_without_leader", json_integer(tm.leaderless), &bad);
    put(rep, "split_votes", split, &bad);
    put(rep, "leaders", leaders, &bad);
    put(rep, "max_leaders_per_term", json_integer(tm.max_leaders), &bad);
    put(rep, "failover_ms", tl.failover_ms, &bad);
    put(rep, "failovers", tl.failovers, &bad);
    put(rep, "rollbacks", json_integer((json_int_t)s.ntr), &bad);
    put(rep, "rolled_back_entries", json_integer(rolled), &bad);
    put(rep, "commits", json_integer(ap.indexes), &bad);
    put(rep, "last_applied_index", json_integer(ap.max_index), &bad);
    put(rep, "commit_index", json_integer(ap.max_commit), &bad);
    put(rep, "applies", json_integer(ap.applies), &bad);
    put(rep, "commit_latency_ms", latency_json(&os.lat), &bad);
    int64_t span =
        os.first_invoke >= 0 && os.last_ok > os.first_invoke ? os.last_ok - os.first_invoke : 0;
    put(rep, "throughput_ops_per_s",
        span > 0 ? json_real((double)os.ok * 1e6 / (double)span) : json_null(), &bad);
    put(rep, "throughput_window_ms", span > 0 ? us_to_ms(span) : json_null(), &bad);
    put(rep, "ops",
        json_pack("{s:i, s:i, s:i, s:i, s:i}", "invoked", (int)os.invoked, "ok", (int)os.ok,
                  "failed", (int)os.failed, "timeout", (int)os.timeout, "pending", (int)os.pending),
        &bad);
    put(rep, "acknowledged_lost", json_integer(os.lost), &bad);
    put(rep, "logs_agree", json_boolean(s.count[P_LOG_MATCHING] == 0 && s.count[P_SM_SAFETY] == 0),
        &bad);
    put(rep, "messages", json_integer(s.messages), &bad);
    put(rep, "messages_per_commit",
        ap.indexes ? json_real((double)s.messages / (double)ap.indexes) : json_null(), &bad);
    json_t *by_type = json_object();
    for (int t = 0; t < s.ntypes; t++) {
        char hex[16];
        put(by_type, report_type_name(ri->ops, s.type[t], hex, sizeof hex),
            json_pack("{s:I}", "messages", (json_int_t)s.type_count[t]), &bad);
    }
    put(rep, "messages_by_type", by_type, &bad);

    /* The story, in time order, at most RAFT_STORY_MAX lines. */
    json_t *story = json_array();
    for (size_t i = 0; i < tl.n && i < RAFT_STORY_MAX; i++) {
        char line[480];
        snprintf(line, sizeof line, "%10.3f ms  %s", ms(tl.st[i].t), tl.st[i].text);
        if (json_array_append_new(story, json_string(line)) < 0)
            bad = true;
    }
    put(rep, "story", story, &bad);
    put(rep, "story_omitted",
        json_integer(tl.n > RAFT_STORY_MAX ? (json_int_t)(tl.n - RAFT_STORY_MAX) : 0), &bad);

    /* The properties. */
    char d[P_COUNT][640];
    snprintf(d[P_ELECTION], sizeof d[0],
             "at most one leader in each of the %ld term%s that had one (from the nodes' role "
             "records)",
             tm.won, plural(tm.won));
    snprintf(d[P_LOG_MATCHING], sizeof d[0],
             "each (index, term) applied names one command (%ld apply record%s over %ld "
             "index%s)",
             ap.applies, plural(ap.applies), ap.indexes, ap.indexes == 1 ? "" : "es");
    snprintf(d[P_SM_SAFETY], sizeof d[0],
             "every node and incarnation that applied an index applied the same term and "
             "command, and every commit record of it names that term (%ld index%s, %ld commit "
             "record%s)",
             ap.indexes, ap.indexes == 1 ? "" : "es", ap.commit_records, plural(ap.commit_records));
    snprintf(d[P_LEADER_COMPLETENESS], sizeof d[0],
             "no index applied before a leader took office was later applied or committed with "
             "an entry of that leader's term or a later one (judged from apply and commit "
             "records: the traces do not hold the logs, so an entry counts as committed once "
             "some node applied it, its first apply standing for it)");
    if (os.ok_unknown_invoke || os.ok_unapplied_incomplete)
        snprintf(d[P_ACKNOWLEDGED], sizeof d[0],
                 "no loss found among %ld acknowledged command%s, but %ld acknowledgement%s "
                 "could not be checked (%ld without the client's invoke record, %ld whose index "
                 "no trace shows applied, in incomplete traces)",
                 os.ok, plural(os.ok), os.ok_unknown_invoke + os.ok_unapplied_incomplete,
                 plural(os.ok_unknown_invoke + os.ok_unapplied_incomplete), os.ok_unknown_invoke,
                 os.ok_unapplied_incomplete);
    else
        snprintf(d[P_ACKNOWLEDGED], sizeof d[0],
                 "each of the %ld acknowledged command%s was applied at the index its answer "
                 "named, with the command its client invoked, and no node applied another "
                 "command there%s",
                 os.ok - os.ok_unlogged, plural(os.ok - os.ok_unlogged),
                 os.ok_unlogged ? " (reads a leader answered from its own state, without the "
                                  "log, name no index: they are the linearizability check's)"
                                : "");
    snprintf(d[P_APPLY_ORDER], sizeof d[0],
             "each node applied indexes in increasing order, none twice in one incarnation");
    snprintf(d[P_APPLIED_ONCE], sizeof d[0],
             "each of the %ld distinct command%s clients invoked was applied at one index at "
             "most (a retried command is applied once)",
             once_checked, plural(once_checked));
    snprintf(d[P_KEPT_COMMITTED], sizeof d[0],
             "none of the %zu rollback%s (%ld log entr%s dropped for a leader's) removed an "
             "entry a node had committed or applied",
             s.ntr, s.ntr == 1 ? "" : "s", rolled, rolled == 1 ? "y" : "ies");
    snprintf(d[P_FAILED_NOT_APPLIED], sizeof d[0],
             "none of the %ld failed operation%s (definitely not applied) had its command applied",
             failed_checked, plural(failed_checked));
    json_t *props = json_array();
    for (int p = 0; p < P_COUNT; p++) {
        char detail[600];
        if (s.count[p])
            snprintf(detail, sizeof detail, "%ld violation%s; the first: %s", s.count[p],
                     plural(s.count[p]), s.first[p]);
        if (json_array_append_new(props, property(prop_name[p], s.count[p] == 0,
                                                  s.count[p] || !s.unjudged[p],
                                                  s.count[p] ? detail : d[p])) < 0)
            bad = true;
    }
    /* The clients' history, when it is a key-value one. */
    if (kv.any) {
        if (json_array_append_new(props, property("linearizable", kv.held || !kv.judged,
                                                  kv.judged, kv.detail)) < 0)
            bad = true;
        if (kv.judged && !kv.held) {
            violations += kv.violations;
            put(rep, "violations", json_integer(violations), &bad);
        }
    }
    /* A simulated run: the simulator checked the algorithm's own cluster
     * invariant after every step, on the cores' states - the logs
     * themselves, which the traces do not hold. Its verdict is part of the
     * run's (a deadlock is liveness, not safety). */
    if (json_is_true(json_object_get(ri->run, "simulated"))) {
        const char *simv = json_string_value(json_object_get(ri->run, "simulator_violation"));
        bool failed = simv && !strstr(simv, "(deadlock)");
        char sd[600];
        if (failed)
            snprintf(sd, sizeof sd,
                     "the simulator's check of the cluster's state after every step failed: %s",
                     simv);
        else
            snprintf(sd, sizeof sd,
                     "the simulator checked the algorithm's cluster invariant after every step "
                     "and found no violation");
        if (failed) {
            violations++;
            put(rep, "violations", json_integer(violations), &bad);
        }
        if (json_array_append_new(props, property("simulator_invariant", !failed, true, sd)) < 0)
            bad = true;
    }
    put(rep, "properties", props, &bad);
    json_t *vl = json_array();
    for (size_t i = 0; i < s.nv; i++) {
        const struct viol *v = &s.v[i];
        json_t *nodes = json_array();
        for (int x = 0; x < 2; x++)
            if (v->nodes[x] > 0 && (x == 0 || v->nodes[1] != v->nodes[0]))
                json_array_append_new(nodes, json_integer(v->nodes[x]));
        json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s}", "property", prop_name[v->prop],
                              "at_ms", us_to_ms(v->t), "nodes", nodes, "index",
                              v->index >= 0 ? json_integer(v->index) : json_null(), "term",
                              v->term >= 0 ? json_integer(v->term) : json_null(), "text", v->text);
        if (json_array_append_new(vl, o) < 0)
            bad = true;
    }
    put(rep, "violation_list", vl, &bad);
    put(rep, "violations_listed_max", json_integer(RAFT_MAX_LISTED), &bad);

    free(tl.st);
    free(os.lat.v);
    rs_free(&s);
    return bad ? dl_seterr(errbuf, ENOMEM, "out of memory building the report") : 0;
}
