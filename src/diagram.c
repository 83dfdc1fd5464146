/* `distlab diagram`: the model of a run's space-time diagram (see
 * diagram.h), built from its trace; src/diagram_svg.c draws it.
 *
 * One pass over the merged trace matches every receive and drop to its
 * send, and turns the lifecycle of each process into spans (critical
 * sections, roles, down and paused periods, client operations); then the
 * window is chosen and everything outside it is left out. */
#include "src/diagram.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/trace.h"
#include "ipc/util.h"
#include "ipc/wire.h"
#include "nodes/algo.h"
#include "nodes/kv.h"
#include "nodes/netfault.h"
#include "nodes/runtime.h"
#include "src/cli.h"
#include "src/config.h"
#include "src/diagram_int.h"
#include "src/report_int.h"
#include "src/evidence.h"
#include "src/kvtext.h"

/* ---- names ---- */

const char *dg_type_name(const struct dg_model *m, uint16_t type, char *buf, size_t cap)
{
    if (type < MSG_RANGE_SIZE && runtime_msg_name(type))
        return runtime_msg_name(type);
    if (type >= MSG_RANGE_SIZE && m->ops && m->ops->msg_name) {
        const char *name = m->ops->msg_name(type);
        if (name)
            return name;
    }
    snprintf(buf, cap, "0x%04x", (unsigned)type);
    return buf;
}

const char *dg_lane_name(const struct dg_model *m, int p, char *buf, size_t cap)
{
    if (p > m->n)
        snprintf(buf, cap, "client %d", p - m->n);
    else
        snprintf(buf, cap, "node %d", p);
    return buf;
}

/* ---- the run ---- */

static int load_run_json(struct dg_model *m, char *errbuf)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", m->rundir);
    json_t *run = NULL;
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return dl_seterr(errbuf, EINVAL, "%s: not a regular file", path);
        json_error_t jerr;
        run = json_load_file(path, 0, &jerr);
        if (!run && jerr.line < 1) /* not read: the text names the file */
            return dl_seterr(errbuf, EINVAL, "%s", jerr.text);
        if (!run)
            return dl_seterr(errbuf, EINVAL, "%s: line %d: %s", path, jerr.line, jerr.text);
    } else {
        /* A run whose supervisor was killed has no run.json: its
         * config.ini says what the lanes are. */
        char ini[4200];
        int e = errno;
        snprintf(ini, sizeof ini, "%s/config.ini", m->rundir);
        if (e != ENOENT)
            return dl_seterr(errbuf, e, "%s: %s", path, strerror(e));
        if (stat(ini, &st) < 0 && errno != ENOENT)
            return dl_seterr(errbuf, errno, "%s: %s", ini, strerror(errno));
        if (stat(ini, &st) < 0)
            return dl_seterr(errbuf, ENOENT,
                             "%s: not a run directory (neither run.json nor config.ini)",
                             m->rundir);
        if (evidence_run_from_config(m->rundir, &run, errbuf) < 0)
            return -EINVAL;
    }
    int rc = 0;
    const char *alg = json_string_value(json_object_get(run, "algorithm"));
    json_int_t n = json_integer_value(json_object_get(run, "nodes"));
    if (!alg || n < 1 || n > DL_MAX_NODES) {
        rc = dl_seterr(errbuf, EINVAL, "%s: no algorithm or node count", path);
        goto out;
    }
    snprintf(m->algorithm, sizeof m->algorithm, "%s", alg);
    const char *name = json_string_value(json_object_get(run, "name"));
    snprintf(m->name, sizeof m->name, "%s", name ? name : "");
    m->n = (int)n;
    json_int_t k = json_integer_value(json_object_get(run, "clients"));
    m->clients = k > 0 && k <= DL_MAX_CLIENTS ? (int)k : 0;
    m->ops = algo_find(m->algorithm);
    m->key_field = m->ops && m->ops->key_field ? m->ops->key_field : "key";
out:
    json_decref(run);
    return rc;
}

int diagram_parse_lanes(const char *text, int n, int clients, bool *in, char *errbuf)
{
    int procs = n + clients;
    memset(in, 0, (size_t)(procs + 1) * sizeof *in);
    if (strcmp(text, "all") == 0) {
        for (int p = 1; p <= procs; p++)
            in[p] = true;
        return 0;
    }
    const char *s = text;
    bool any = false;
    while (*s) {
        long lo, hi;
        char *end;
        bool client = *s == 'c';
        const char *item = s;
        s += client;
        lo = strtol(s, &end, 10);
        if (end == s || lo < 0)
            return dl_seterr(errbuf, EINVAL, "--nodes %s: expected a node number at '%s'", text,
                             item);
        hi = lo;
        s = end;
        if (*s == '-') {
            s++;
            if (client && *s == 'c')
                s++;
            hi = strtol(s, &end, 10);
            if (end == s || hi < lo)
                return dl_seterr(errbuf, EINVAL, "--nodes %s: bad range at '%s'", text, item);
            s = end;
        }
        if (*s && *s != ',')
            return dl_seterr(errbuf, EINVAL, "--nodes %s: unexpected '%c'", text, *s);
        if (*s == ',')
            s++;
        for (long p = lo; p <= hi; p++) {
            long id = client ? n + p : p;
            if (p < 1 || (client ? p > clients : p > procs)) {
                char has[64] = "";
                if (clients)
                    snprintf(has, sizeof has, ", clients c1..c%d", clients);
                return dl_seterr(errbuf, EINVAL,
                                 "--nodes %s: no %s %ld in this run (nodes 1..%d%s)", text,
                                 client ? "client" : "node", p, n, has);
            }
            in[id] = true;
            any = true;
        }
    }
    if (!any)
        return dl_seterr(errbuf, EINVAL, "--nodes: empty list");
    return 0;
}

/* ---- matching receives and drops to sends ---- */

/* How far a receive's send time (the message header's) may be from the
 * trace record of its send. */
#define RECV_SLACK_US 20000

struct send_ix {
    const struct trace_rec *r;
    size_t msg; /* its message */
    bool matched;
};

static int cmp_send(const struct trace_rec *a, int bfrom, int bto, int btype, int64_t bkey,
                    int64_t bt)
{
    if (a->node != bfrom)
        return a->node < bfrom ? -1 : 1;
    if (a->peer != bto)
        return a->peer < bto ? -1 : 1;
    if (a->type != btype)
        return a->type < btype ? -1 : 1;
    if (a->key != bkey)
        return a->key < bkey ? -1 : 1;
    if (a->t_us != bt)
        return a->t_us < bt ? -1 : 1;
    return 0;
}

static int cmp_send_ix(const void *x, const void *y)
{
    const struct send_ix *a = x, *b = y;
    int c = cmp_send(a->r, b->r->node, b->r->peer, b->r->type, b->r->key, b->r->t_us);
    if (c)
        return c;
    return a->r < b->r ? -1 : a->r > b->r;
}

/* The first send not below (from, to, type, key, t). */
static size_t send_lower(const struct send_ix *s, size_t ns, int from, int to, int type,
                         int64_t key, int64_t t)
{
    size_t lo = 0, hi = ns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_send(s[mid].r, from, to, type, key, t) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool same_link(const struct trace_rec *r, int from, int to, int type, int64_t key)
{
    return r->node == from && r->peer == to && r->type == type && r->key == key;
}

/* Is the sender of a TR_DROP known (peer)? A malformed message's is not. */
static bool drop_has_sender(int aux)
{
    return aux == 0 || aux == WIRE_DROP_STALE || aux == WIRE_DROP_PARTITION ||
           aux == WIRE_DROP_LOSS || aux == WIRE_DROP_SEND;
}

/* ---- growing arrays ---- */

#define PUSH(arr, n, cap, v)                                                                       \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t nc_ = (cap) ? 2 * (cap) : 64;                                                   \
            void *np_ = realloc((arr), nc_ * sizeof *(arr));                                       \
            if (!np_)                                                                              \
                goto nomem;                                                                        \
            (arr) = np_;                                                                           \
            (cap) = nc_;                                                                           \
        }                                                                                          \
        (arr)[(n)++] = (v);                                                                        \
    } while (0)

static bool lane_ok(const struct dg_model *m, int p)
{
    return p >= 1 && p <= m->n + m->clients && m->shown[p];
}

/* A send's or receive's yes/no (a vote granted: 1, refused: 0), -1 none. */
static signed char msg_flag(const struct dg_model *m, const struct trace_rec *r)
{
    return report_msg_flag(m->ops, r) ? (signed char)(r->b != 0) : -1;
}

static int64_t msg_time(const struct dg_msg *g)
{
    return g->ts >= 0 ? g->ts : g->tr;
}

static int cmp_msg(const void *x, const void *y)
{
    int64_t a = msg_time(x), b = msg_time(y);
    return a < b ? -1 : a > b;
}

/* Every message of the run between shown lanes, in time order. */
static int build_msgs(struct dg_model *m, const struct trace_set *ts, struct dg_msg **out,
                      size_t *nout, char *errbuf)
{
    struct send_ix *s = NULL;
    struct dg_msg *g = NULL;
    bool *done = NULL;
    size_t ns = 0, caps = 0, ng = 0, capg = 0;
    for (size_t i = 0; i < ts->n; i++) {
        const struct trace_rec *r = &ts->recs[i];
        if (r->ev != TR_SEND || !lane_ok(m, r->node) || !lane_ok(m, r->peer))
            continue;
        struct dg_msg v = {.ts = r->t_us,
                           .tr = -1,
                           .from = r->node,
                           .to = r->peer,
                           .type = r->type,
                           .key = r->key,
                           .drop = -1,
                           .flag = msg_flag(m, r)};
        struct send_ix x = {.r = r, .msg = ng};
        PUSH(g, ng, capg, v);
        PUSH(s, ns, caps, x);
    }
    if (ns > 1)
        qsort(s, ns, sizeof *s, cmp_send_ix);
    /* Receives first: each names its send (a = the send time). The
     * message header's send time is stamped just after the trace record
     * of the send, so it may be a little later: exact matches first, then
     * the nearest unmatched send on that link within RECV_SLACK_US. */
    done = calloc(ts->n ? ts->n : 1, sizeof *done);
    if (!done)
        goto nomem;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ts->n; i++) {
            const struct trace_rec *r = &ts->recs[i];
            if (r->ev != TR_RECV || done[i] || !lane_ok(m, r->node) || !lane_ok(m, r->peer))
                continue;
            int from = r->peer, to = r->node;
            long best = -1;
            int64_t lo = pass == 0 ? r->a : r->a - RECV_SLACK_US;
            int64_t hi = pass == 0 ? r->a : r->a + RECV_SLACK_US;
            for (size_t k = send_lower(s, ns, from, to, r->type, r->key, lo);
                 k < ns && same_link(s[k].r, from, to, r->type, r->key) && s[k].r->t_us <= hi;
                 k++) {
                if (s[k].matched)
                    continue;
                int64_t d = s[k].r->t_us - r->a, bd = best >= 0 ? s[best].r->t_us - r->a : 0;
                if (best < 0 || llabs(d) < llabs(bd))
                    best = (long)k;
            }
            if (best < 0)
                continue;
            s[best].matched = true;
            g[s[best].msg].tr = r->t_us;
            done[i] = true;
        }
    }
    /* A receive whose send is not in the trace (left out, overwritten by
     * the ring, lost by a kill) still says who sent it when. */
    for (size_t i = 0; i < ts->n; i++) {
        const struct trace_rec *r = &ts->recs[i];
        if (r->ev != TR_RECV || done[i] || !lane_ok(m, r->node) || !lane_ok(m, r->peer))
            continue;
        struct dg_msg v = {.ts = r->a >= 0 && r->a <= r->t_us ? r->a : r->t_us,
                           .tr = r->t_us,
                           .from = r->peer,
                           .to = r->node,
                           .type = r->type,
                           .key = r->key,
                           .drop = -1,
                           .recv_only = true,
                           .flag = msg_flag(m, r)};
        PUSH(g, ng, capg, v);
    }
    free(done);
    done = NULL;
    /* Then drops: at the receiver, the oldest send on that link not yet
     * accounted for; a send the transport refused, the latest one. */
    for (size_t i = 0; i < ts->n; i++) {
        const struct trace_rec *r = &ts->recs[i];
        if (r->ev != TR_DROP || !drop_has_sender(r->aux))
            continue;
        bool refused = r->aux == WIRE_DROP_SEND;
        int from = refused ? r->node : r->peer, to = refused ? r->peer : r->node;
        if (!lane_ok(m, from) || !lane_ok(m, to))
            continue;
        long found = -1;
        if (refused) {
            size_t k = send_lower(s, ns, from, to, r->type, r->key, r->t_us + 1);
            while (k > 0 && same_link(s[k - 1].r, from, to, r->type, r->key)) {
                k--;
                if (!s[k].matched) {
                    found = (long)k;
                    break;
                }
            }
        } else {
            size_t k = send_lower(s, ns, from, to, r->type, r->key, INT64_MIN);
            for (;
                 k < ns && same_link(s[k].r, from, to, r->type, r->key) && s[k].r->t_us <= r->t_us;
                 k++)
                if (!s[k].matched) {
                    found = (long)k;
                    break;
                }
        }
        if (found >= 0) {
            s[found].matched = true;
            g[s[found].msg].tr = r->t_us;
            g[s[found].msg].drop = r->aux;
            continue;
        }
        struct dg_msg v = {.ts = -1,
                           .tr = r->t_us,
                           .from = from,
                           .to = to,
                           .type = r->type,
                           .key = r->key,
                           .drop = r->aux,
                           .flag = -1};
        PUSH(g, ng, capg, v);
    }
    free(s);
    if (ng > 1)
        qsort(g, ng, sizeof *g, cmp_msg);
    *out = g;
    *nout = ng;
    return 0;
nomem:
    free(done);
    free(s);
    free(g);
    return dl_seterr(errbuf, ENOMEM, "out of memory");
}

/* ---- spans and marks ---- */

struct span_state {
    long role, cs, down, pause; /* open span index, -1 */
};

static void close_span(struct dg_model *m, long *ix, int64_t t)
{
    if (*ix >= 0) {
        m->spans[*ix].t1 = t;
        *ix = -1;
    }
}

static char *op_text(struct trace_data *data, bool have_data, const struct trace_rec *r)
{
    if (!have_data)
        return NULL;
    const uint8_t *p = trace_data_get(data, r);
    struct kv_cmd kc;
    if (!p || !kv_decode(p, (size_t)r->aux, &kc))
        return NULL;
    char buf[320];
    kvtext_cmd(buf, sizeof buf, &kc, 96);
    return strdup(buf);
}

static void link_text(char *buf, size_t cap, const struct trace_rec *r)
{
    int len = snprintf(buf, cap, "%d->%" PRId64 ": %s", r->peer, r->key, r->aux ? "cut" : "open");
    if (len > 0 && (size_t)len < cap && (r->a || r->b || r->c))
        snprintf(buf + len, cap - (size_t)len, ", loss %.3g%%, delay %.3g ms, jitter %.3g ms",
                 (double)r->a / NET_PPM * 100, (double)r->b / 1e3, (double)r->c / 1e3);
}

/* Append a line to a fault mark's detail (at most a few dozen lines). */
static int detail_add(struct dg_mark *mk, const char *line)
{
    size_t old = mk->detail ? strlen(mk->detail) : 0;
    if (old > 2000)
        return 0;
    const char *more = old > 1900 ? "..." : line;
    char *d = realloc(mk->detail, old + strlen(more) + 2);
    if (!d)
        return -ENOMEM;
    if (!old)
        d[0] = '\0';
    strcat(d, "\n");
    strcat(d, more);
    mk->detail = d;
    return 0;
}

static bool marked_ev(int ev)
{
    switch (ev) {
    case TR_CRASH:
    case TR_PAUSE:
    case TR_RESUME:
    case TR_RESTART:
    case TR_START:
    case TR_STOP:
    case TR_FAULT:
    case TR_TRUNCATE:
    case TR_CUT:
    case TR_DROP: return true;
    default: return false;
    }
}

static int build_spans(struct dg_model *m, const struct trace_set *ts, char *errbuf)
{
    int procs = m->n + m->clients;
    struct span_state *st = malloc((size_t)(procs + 1) * sizeof *st);
    uint8_t *cut = calloc((size_t)(procs + 1) * (size_t)(procs + 1), 1);
    size_t capspans = 0, capmarks = 0;
    struct trace_data data;
    bool have_data = trace_data_open(&data, m->rundir, errbuf) == 0;
    long ncut = 0, cutspan = -1, lastfault = -1;
    if (!st || !cut)
        goto nomem;
    for (int p = 0; p <= procs; p++)
        st[p] = (struct span_state){-1, -1, -1, -1};
    for (size_t i = 0; i < ts->n; i++) {
        const struct trace_rec *r = &ts->recs[i];
        int p = r->node;
        if (p > procs)
            continue;
        struct span_state *ps = &st[p];
        struct dg_span sp = {.lane = p, .t0 = r->t_us, .t1 = -1, .aux = r->aux, .key = r->key};
        switch (r->ev) {
        case TR_ROLE:
            close_span(m, &ps->role, r->t_us);
            if (r->aux != ROLE_NONE && r->aux != ROLE_CLIENT) {
                sp.kind = DG_SPAN_ROLE;
                ps->role = (long)m->nspans;
                PUSH(m->spans, m->nspans, capspans, sp);
            }
            break;
        case TR_ENTER:
            close_span(m, &ps->cs, r->t_us);
            sp.kind = DG_SPAN_CS;
            ps->cs = (long)m->nspans;
            PUSH(m->spans, m->nspans, capspans, sp);
            break;
        case TR_EXIT:
            if (ps->cs >= 0) {
                m->spans[ps->cs].a = r->a;
                /* Its write refused by fencing: a stale holder's section,
                 * drawn fenced from its entry on. */
                if (r->aux == 2 && m->spans[ps->cs].aux == 0)
                    m->spans[ps->cs].aux = 2;
            }
            close_span(m, &ps->cs, r->t_us);
            break;
        case TR_CRASH:
        case TR_STOP:
            if (p == 0)
                break;
            close_span(m, &ps->cs, r->t_us);
            close_span(m, &ps->role, r->t_us);
            close_span(m, &ps->pause, r->t_us);
            if (ps->down < 0) {
                sp.kind = DG_SPAN_DOWN;
                sp.aux = r->ev;
                ps->down = (long)m->nspans;
                PUSH(m->spans, m->nspans, capspans, sp);
            }
            break;
        case TR_START:
        case TR_RESTART:
            close_span(m, &ps->down, r->t_us);
            close_span(m, &ps->pause, r->t_us);
            break;
        case TR_PAUSE:
            if (p != 0 && ps->pause < 0) {
                sp.kind = DG_SPAN_PAUSE;
                ps->pause = (long)m->nspans;
                PUSH(m->spans, m->nspans, capspans, sp);
            }
            break;
        case TR_RESUME: close_span(m, &ps->pause, r->t_us); break;
        case TR_INVOKE:
            sp.kind = DG_SPAN_OP;
            sp.aux = 0;
            sp.text = op_text(&data, have_data, r);
            PUSH(m->spans, m->nspans, capspans, sp);
            break;
        case TR_OK:
        case TR_FAIL:
        case TR_TIMEOUT:
            /* A client has few operations outstanding: look back a little. */
            for (size_t k = m->nspans, seen = 0; k > 0 && seen < 4096; k--, seen++) {
                struct dg_span *o = &m->spans[k - 1];
                if (o->kind == DG_SPAN_OP && o->lane == p && o->key == r->key && o->t1 < 0) {
                    o->t1 = r->t_us;
                    o->aux = r->ev;
                    o->peer = r->peer;
                    o->a = r->a;
                    o->b = r->b;
                    break;
                }
            }
            break;
        case TR_LINK:
            if (r->peer <= procs && r->key >= 0 && r->key <= procs) {
                uint8_t *c = &cut[(size_t)r->peer * (size_t)(procs + 1) + (size_t)r->key];
                long before = ncut;
                ncut += (r->aux != 0) - *c;
                *c = r->aux != 0;
                if (!before && ncut) {
                    struct dg_span cs = {.kind = DG_SPAN_CUT, .t0 = r->t_us, .t1 = -1};
                    cutspan = (long)m->nspans;
                    PUSH(m->spans, m->nspans, capspans, cs);
                } else if (before && !ncut) {
                    close_span(m, &cutspan, r->t_us);
                }
            }
            if (lastfault >= 0) {
                char line[160];
                link_text(line, sizeof line, r);
                if (detail_add(&m->marks[lastfault], line) < 0)
                    goto nomem;
            }
            break;
        default: break;
        }
        if (!marked_ev(r->ev))
            continue;
        /* Lifecycle marks belong to a lane; a fault to the whole diagram;
         * a drop is a mark only when it names no sender (a malformed
         * message): the others are arrows. A first start is no news. */
        if (r->ev == TR_DROP && drop_has_sender(r->aux))
            continue;
        if (r->ev == TR_START && r->incarnation <= 1)
            continue;
        int lane = r->ev == TR_FAULT ? 0 : p;
        if (lane == 0 && r->ev != TR_FAULT)
            continue;
        struct dg_mark mk = {.t = r->t_us,
                             .lane = lane,
                             .ev = r->ev,
                             .aux = r->aux,
                             .peer = r->peer,
                             .incarnation = r->incarnation,
                             .key = r->key,
                             .a = r->a,
                             .b = r->b,
                             .c = r->c};
        if (r->ev == TR_FAULT)
            lastfault = (long)m->nmarks;
        PUSH(m->marks, m->nmarks, capmarks, mk);
    }
    if (have_data)
        trace_data_close(&data);
    free(st);
    free(cut);
    return 0;
nomem:
    if (have_data)
        trace_data_close(&data);
    free(st);
    free(cut);
    return dl_seterr(errbuf, ENOMEM, "out of memory");
}

/* Keep what lies in the window, between shown lanes; clip spans to it. */
static void clip_to_window(struct dg_model *m)
{
    size_t k = 0;
    for (size_t i = 0; i < m->nspans; i++) {
        struct dg_span sp = m->spans[i];
        if (sp.t1 < 0) {
            sp.t1 = m->end_us;
            sp.open1 = true;
        }
        bool keep = sp.t0 <= m->to_us && sp.t1 >= m->from_us &&
                    (sp.kind == DG_SPAN_CUT || lane_ok(m, sp.lane));
        if (!keep) {
            free(sp.text);
            continue;
        }
        if (sp.t0 < m->from_us) {
            sp.t0 = m->from_us;
            sp.open0 = true;
        }
        if (sp.t1 > m->to_us) {
            sp.t1 = m->to_us;
            sp.open1 = true;
        }
        m->spans[k++] = sp;
    }
    m->nspans = k;
    k = 0;
    for (size_t i = 0; i < m->nmarks; i++) {
        struct dg_mark mk = m->marks[i];
        if (mk.t < m->from_us || mk.t > m->to_us || (mk.lane != 0 && !lane_ok(m, mk.lane))) {
            free(mk.detail);
            continue;
        }
        m->marks[k++] = mk;
    }
    m->nmarks = k;
}

static void model_free(struct dg_model *m)
{
    for (size_t i = 0; i < m->nspans; i++)
        free(m->spans[i].text);
    for (size_t i = 0; i < m->nmarks; i++)
        free(m->marks[i].detail);
    free(m->spans);
    free(m->marks);
    free(m->msgs);
}

int diagram_write(const char *rundir, const struct diagram_opts *o, enum diagram_format fmt,
                  FILE *out, struct diagram_stats *st, char *errbuf)
{
    struct stat sb;
    if (stat(rundir, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return dl_seterr(errbuf, ENOENT, "%s: no such run directory", rundir);
    if (o->from_us >= 0 && o->to_us >= 0 && o->from_us > o->to_us)
        return dl_seterr(errbuf, EINVAL, "--from is after --to");
    struct dg_model *m = calloc(1, sizeof *m);
    if (!m)
        return dl_seterr(errbuf, ENOMEM, "out of memory");
    m->rundir = rundir;
    struct trace_set ts = {0};
    struct dg_msg *all = NULL;
    size_t nall = 0;
    int rc = load_run_json(m, errbuf);
    if (rc < 0)
        goto out;
    if ((rc = trace_load_set(rundir, &ts, errbuf)) < 0)
        goto out;
    if (ts.n == 0) {
        rc = dl_seterr(errbuf, ENOENT, "%s: the trace is empty", rundir);
        goto out;
    }
    /* Clients: run.json says how many; a trace may name more (a shell's
     * `distlab client`). */
    for (size_t i = 0; i < ts.n; i++)
        if (ts.recs[i].node > m->n + m->clients && ts.recs[i].node <= DL_MAX_PROCS)
            m->clients = ts.recs[i].node - m->n;
    if (o->nodes) {
        rc = diagram_parse_lanes(o->nodes, m->n, m->clients, m->shown, errbuf);
        if (rc < 0)
            goto out;
    } else {
        for (int p = 1; p <= m->n + m->clients; p++)
            m->shown[p] = true;
    }
    m->end_us = ts.recs[ts.n - 1].t_us;
    if ((rc = build_msgs(m, &ts, &all, &nall, errbuf)) < 0)
        goto out;
    /* The window: as asked, else up to the bound. */
    size_t max = o->max_msgs ? o->max_msgs : DIAGRAM_MAX_MSGS;
    m->from_us = o->from_us >= 0 ? o->from_us : 0;
    m->to_us = o->to_us >= 0 && o->to_us < m->end_us ? o->to_us : m->end_us;
    if (m->from_us > m->to_us) {
        rc = dl_seterr(errbuf, EINVAL, "--from %.3f ms is after the end of the run (%.3f ms)",
                       (double)m->from_us / 1e3, (double)m->end_us / 1e3);
        goto out;
    }
    bool bounded = false;
    if (o->to_us < 0) {
        size_t k = 0;
        while (k < nall && msg_time(&all[k]) < m->from_us)
            k++;
        if (nall - k > max) {
            int64_t t = msg_time(&all[k + max]);
            m->to_us = t > m->from_us ? t - 1 : t;
            bounded = true;
        }
    }
    m->msgs = malloc((nall ? nall : 1) * sizeof *m->msgs);
    if (!m->msgs) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nall; i++) {
        int64_t t = msg_time(&all[i]);
        if (t >= m->from_us && t <= m->to_us)
            m->msgs[m->nmsgs++] = all[i];
    }
    if ((rc = build_spans(m, &ts, errbuf)) < 0)
        goto out;
    clip_to_window(m);
    if (st) {
        memset(st, 0, sizeof *st);
        st->from_us = m->from_us;
        st->to_us = m->to_us;
        st->end_us = m->end_us;
        st->msgs_total = nall;
        st->msgs_shown = m->nmsgs;
        for (size_t i = 0; i < m->nmsgs; i++)
            st->msgs_short += m->msgs[i].drop >= 0 || m->msgs[i].tr < 0;
        for (int p = 1; p <= m->n + m->clients; p++)
            st->lanes += m->shown[p];
        st->lanes_total = (size_t)(m->n + m->clients);
        for (size_t i = 0; i < m->nspans; i++) {
            st->cs_bars += m->spans[i].kind == DG_SPAN_CS;
            st->ops += m->spans[i].kind == DG_SPAN_OP;
        }
        st->bounded = bounded;
    }
    if (dg_render(m, fmt, out) < 0 || ferror(out))
        rc = dl_seterr(errbuf, EIO, "could not write the diagram");
out:
    free(all);
    trace_set_free(&ts);
    model_free(m);
    free(m);
    return rc;
}

/* ---- the command ---- */

static int has_ext(const char *path, const char *ext)
{
    size_t lp = strlen(path), le = strlen(ext);
    return lp > le && strcasecmp(path + lp - le, ext) == 0;
}

static void fmt_count(char *buf, size_t cap, size_t v)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%zu", v);
    size_t k = 0;
    for (int i = 0; i < len && k + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = tmp[i];
    }
    buf[k] = '\0';
}

int cmd_diagram(int argc, char **argv)
{
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"nodes", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct diagram_opts o = {.from_us = -1, .to_us = -1};
    const char *outpath = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outpath = optarg; break;
        case 'f':
        case 't': {
            int64_t us;
            if (config_parse_duration(optarg, &us) < 0 || us < 0) {
                fprintf(stderr, "distlab diagram: --%s %s: not a time (e.g. 250ms, 1.5s)\n",
                        c == 'f' ? "from" : "to", optarg);
                return 2;
            }
            *(c == 'f' ? &o.from_us : &o.to_us) = us;
            break;
        }
        case 'n': o.nodes = optarg; break;
        case 'h': cli_usage("diagram", stdout); return 0;
        default: cli_usage("diagram", stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        cli_usage("diagram", stderr);
        return 2;
    }
    const char *rundir = argv[optind];
    char defpath[4200];
    if (!outpath) {
        snprintf(defpath, sizeof defpath, "%s/diagram.html", rundir);
        outpath = defpath;
    }
    enum diagram_format fmt;
    if (has_ext(outpath, ".svg"))
        fmt = DIAGRAM_SVG;
    else if (has_ext(outpath, ".html") || has_ext(outpath, ".htm"))
        fmt = DIAGRAM_HTML;
    else {
        fprintf(stderr, "distlab diagram: -o %s: the name must end in .svg or .html\n", outpath);
        return 2;
    }
    struct stat sb;
    if (stat(rundir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "distlab diagram: %s: no such run directory\n", rundir);
        return 2;
    }
    /* Written to a temporary name and renamed: a failed diagram leaves no
     * half file behind, and an old one stays whole. */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", outpath);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "distlab diagram: %s: %s\n", tmp, strerror(errno));
        return 2;
    }
    char err[DL_ERRLEN];
    struct diagram_stats st;
    int rc = diagram_write(rundir, &o, fmt, f, &st, err);
    if (fclose(f) != 0 && rc == 0)
        rc = dl_seterr(err, errno, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, outpath) < 0)
        rc = dl_seterr(err, errno, "%s: %s", outpath, strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        fprintf(stderr, "distlab diagram: %s\n", err);
        return 2;
    }
    if (st.bounded || st.msgs_shown < st.msgs_total || st.lanes < st.lanes_total) {
        char shown[32], total[32];
        fmt_count(shown, sizeof shown, st.msgs_shown);
        fmt_count(total, sizeof total, st.msgs_total);
        fprintf(stderr, "distlab diagram: showing %.3f-%.3f ms of %.3f ms: %s of %s messages",
                (double)st.from_us / 1e3, (double)st.to_us / 1e3, (double)st.end_us / 1e3, shown,
                total);
        if (st.lanes < st.lanes_total)
            fprintf(stderr, ", %zu of %zu lanes", st.lanes, st.lanes_total);
        fprintf(stderr, "%s\n", st.bounded ? "; use --from/--to for the rest" : "");
    }
    printf("%s\n", outpath);
    return 0;
}
