/* Drawing a diagram model (diagram_int.h) as SVG, alone or inside one
 * self-contained HTML page (src/diagram_html.c adds the page around it).
 *
 * Layout: the lane names on the left (a group of their own, which the
 * page keeps in view while the diagram scrolls), then the plot, whose
 * horizontal positions are all plain x, x1, x2 and width attributes, so
 * that the page can zoom along time by scaling those numbers: marks are
 * <use> of symbols, arrowheads are markers, nothing else carries an x. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/proc.h"
#include "ipc/trace.h"
#include "nodes/algo.h"
#include "src/config.h"
#include "src/diagram_int.h"
#include "src/report_int.h"

#define LABEL_W      118 /* the lane names */
#define AXIS_H       62  /* fault labels, time labels, the partition band */
#define LANE_H       46
#define PAD_L        40    /* before the first moment */
#define MIN_W        1100  /* a short run is stretched to this width at least */
#define PAD_R        90    /* after the last */
#define GAP_LABEL_US 10000 /* a quiet gap this long is labelled with its length */

/* Message type colours (Tableau 10 without its grey, which is the
 * runtime's): by the type's number within its algorithm's range, so a type
 * keeps its colour from one window, and one run, to the next. */
const char *const dg_palette[DG_NPAL] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                         "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                                         "#bcbd22", "#393b79", "#7f7f7f"};

int dg_type_colour(uint16_t type)
{
    if (type < MSG_RANGE_SIZE)
        return DG_NPAL - 1;
    return ((type & 0xff) + DG_NPAL - 2) % (DG_NPAL - 1);
}

/* ---- the compressed time axis ---- */

struct axis {
    int64_t *t; /* every moment drawn, sorted, distinct */
    double *x;  /* its position */
    size_t n;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The width of a gap of g us: a few pixels for the next event, growing with
 * the logarithm of the gap (20 ms: about 60 px, 1 s: about 90). */
static double gap_px(int64_t g)
{
    return g <= 0 ? 0 : 4.0 + 18.0 * log10(1.0 + (double)g / 10.0);
}

static int axis_build(struct axis *ax, const struct dg_model *m)
{
    size_t cap = 2 + 2 * m->nmsgs + 2 * m->nspans + m->nmarks, n = 0;
    ax->t = malloc(cap * sizeof *ax->t);
    ax->x = malloc(cap * sizeof *ax->x);
    if (!ax->t || !ax->x)
        return -1;
    ax->t[n++] = m->from_us;
    ax->t[n++] = m->to_us;
    for (size_t i = 0; i < m->nmsgs; i++) {
        if (m->msgs[i].ts >= 0)
            ax->t[n++] = m->msgs[i].ts;
        if (m->msgs[i].tr >= 0)
            ax->t[n++] = m->msgs[i].tr;
    }
    for (size_t i = 0; i < m->nspans; i++) {
        ax->t[n++] = m->spans[i].t0;
        ax->t[n++] = m->spans[i].t1;
    }
    for (size_t i = 0; i < m->nmarks; i++)
        ax->t[n++] = m->marks[i].t;
    qsort(ax->t, n, sizeof *ax->t, cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ax->t[i] != ax->t[k - 1])
            ax->t[k++] = ax->t[i];
    ax->n = k;
    double x = 0;
    for (size_t i = 0; i < k; i++) {
        if (i > 0)
            x += gap_px(ax->t[i] - ax->t[i - 1]);
        ax->x[i] = x;
    }
    /* A run of a few messages (the textbook examples) would be a thumbnail:
     * spread it over a screen, a few times wider at most. */
    double scale = x > 0 && x < MIN_W ? MIN_W / x : 1;
    if (scale > 8)
        scale = 8;
    for (size_t i = 0; i < k; i++)
        ax->x[i] = PAD_L + ax->x[i] * scale;
    return 0;
}

static double ax_x(const struct axis *ax, int64_t t)
{
    size_t lo = 0, hi = ax->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ax->t[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ax->n && ax->t[lo] == t)
        return ax->x[lo];
    if (lo == 0)
        return ax->x[0];
    if (lo == ax->n)
        return ax->x[ax->n - 1];
    double f = (double)(t - ax->t[lo - 1]) / (double)(ax->t[lo] - ax->t[lo - 1]);
    return ax->x[lo - 1] + f * (ax->x[lo] - ax->x[lo - 1]);
}

static double ax_width(const struct axis *ax)
{
    return ax->x[ax->n - 1] + PAD_R;
}

/* ---- helpers ---- */

struct render {
    const struct dg_model *m;
    FILE *f;
    struct axis ax;
    int row[DL_MAX_PROCS + 1]; /* lane row of a process; -1 not shown */
    int nrows;
    uint16_t types[256]; /* message types in the window, sorted */
    int ntypes;
};

static double lane_top(const struct render *r, int p)
{
    return AXIS_H + r->row[p] * LANE_H;
}

static double lane_mid(const struct render *r, int p)
{
    return lane_top(r, p) + LANE_H / 2.0 + 4;
}

static void ms(char *buf, size_t cap, int64_t us)
{
    snprintf(buf, cap, "%.3f ms", (double)us / 1e3);
}

/* printf into the escaped output: every text of a diagram passes here. */
__attribute__((format(printf, 2, 3))) static void esc(FILE *f, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    xml_escape(f, buf);
}

static const char *signal_text(int sig, char *buf, size_t cap)
{
    if (sig == 0)
        return "no signal";
    snprintf(buf, cap, "%s", proc_signame(sig));
    return buf;
}

/* ---- the parts ---- */

static void put_defs(struct render *r)
{
    FILE *f = r->f;
    fputs("<defs>\n", f);
    for (int i = 0; i < DG_NPAL; i++)
        fprintf(f,
                "<marker id=\"ah%d\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
                "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">"
                "<path d=\"M0,1 L10,5 L0,9 z\" fill=\"%s\"/></marker>\n",
                i, dg_palette[i]);
    fputs("<pattern id=\"hatch-red\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
          "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fdd\"/>"
          "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#d00\" stroke-width=\"3\"/>"
          "</pattern>\n"
          "<pattern id=\"hatch-grey\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
          "patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" "
          "stroke=\"#999\" stroke-width=\"2\"/></pattern>\n"
          "<pattern id=\"hatch-blue\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
          "patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" "
          "stroke=\"#7aa6d8\" stroke-width=\"2\"/></pattern>\n"
          /* Marks, drawn around (0, 0). */
          "<g id=\"mk-crash\"><path d=\"M-6,-6 L6,6 M6,-6 L-6,6\" stroke=\"#c00\" "
          "stroke-width=\"3\" fill=\"none\"/></g>\n"
          "<g id=\"mk-pause\"><rect x=\"-5\" y=\"-6\" width=\"3.5\" height=\"12\" fill=\"#36c\"/>"
          "<rect x=\"1.5\" y=\"-6\" width=\"3.5\" height=\"12\" fill=\"#36c\"/></g>\n"
          "<g id=\"mk-resume\"><path d=\"M-4,-6 L6,0 L-4,6 z\" fill=\"#36c\"/></g>\n"
          "<g id=\"mk-restart\"><circle r=\"6\" fill=\"#2a2\" stroke=\"#060\"/>"
          "<path d=\"M-2,-3.5 L3.5,0 L-2,3.5 z\" fill=\"#fff\"/></g>\n"
          "<g id=\"mk-start\"><circle r=\"5.5\" fill=\"#fff\" stroke=\"#2a2\" "
          "stroke-width=\"2\"/></g>\n"
          "<g id=\"mk-stop\"><rect x=\"-5\" y=\"-5\" width=\"10\" height=\"10\" fill=\"#333\"/>"
          "</g>\n"
          "<g id=\"mk-rollback\"><path d=\"M0,-7 L7,0 L0,7 L-7,0 z\" fill=\"#a0f\" "
          "stroke=\"#508\"/><path d=\"M-3,0 L3,0\" stroke=\"#fff\" stroke-width=\"2\"/></g>\n"
          "<g id=\"mk-cut\"><path d=\"M0,-7 L7,6 L-7,6 z\" fill=\"#f90\" stroke=\"#a50\"/>"
          "</g>\n"
          "<g id=\"mk-drop\"><path d=\"M-4,-4 L4,4 M4,-4 L-4,4\" stroke=\"#900\" "
          "stroke-width=\"2\" fill=\"none\"/></g>\n"
          "<g id=\"mk-fault\"><path d=\"M1,-8 L-4,1 L0,1 L-1,8 L4,-1 L0,-1 z\" fill=\"#e60\" "
          "stroke=\"#930\" stroke-width=\"0.5\"/></g>\n"
          "</defs>\n",
          f);
}

static void put_style(FILE *f)
{
    fputs("<style>\n"
          "text{font-family:sans-serif;}\n"
          ".lbl{font-size:12px;fill:#222;}\n"
          ".key{font-size:9px;}\n"
          ".tick text{font-size:10px;fill:#555;}\n"
          ".role text,.spanlbl{font-size:9px;fill:#333;}\n"
          ".ftxt{font-size:10px;fill:#930;}\n"
          ".hit{stroke:transparent;stroke-width:8;}\n"
          ".msg:hover line.v,.msg.hl line.v{stroke-width:3;}\n"
          ".cs:hover rect,.op:hover rect{stroke:#000;stroke-width:1.5;}\n"
          "</style>\n",
          f);
}

static void put_lanes(struct render *r, double w)
{
    const struct dg_model *m = r->m;
    FILE *f = r->f;
    for (int p = 1; p <= m->n + m->clients; p++) {
        if (r->row[p] < 0)
            continue;
        fprintf(f,
                "<rect class=\"lane\" x=\"0\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" "
                "fill=\"%s\"/>\n",
                lane_top(r, p), w, LANE_H,
                p > m->n ? "#f4f1ea" : (r->row[p] % 2 ? "#f7f7f7" : "#ffffff"));
        fprintf(f,
                "<line class=\"lane\" x1=\"0\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#888\" stroke-width=\"1\"/>\n",
                lane_mid(r, p), w, lane_mid(r, p));
    }
}

static void put_ticks(struct render *r)
{
    FILE *f = r->f;
    double last = -1e9, bottom = AXIS_H + r->nrows * LANE_H;
    for (size_t i = 0; i < r->ax.n; i++) {
        double x = r->ax.x[i];
        if (x - last < 90 && i + 1 < r->ax.n)
            continue;
        if (x - last < 60)
            continue;
        last = x;
        char t[64];
        ms(t, sizeof t, r->ax.t[i]);
        fprintf(f,
                "<g class=\"tick\" data-x=\"%.1f\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
                "y2=\"%.1f\" stroke=\"#ddd\" stroke-width=\"1\"/><text x=\"%.1f\" y=\"%d\" "
                "text-anchor=\"middle\">%s</text></g>\n",
                x, x, AXIS_H - 14, x, bottom, x, AXIS_H - 18, t);
    }
    /* The axis is compressed: a long quiet gap says how long it was, above
     * the time labels, so that it is not read as a few milliseconds. */
    for (size_t i = 1; i < r->ax.n; i++) {
        int64_t g = r->ax.t[i] - r->ax.t[i - 1];
        if (g < GAP_LABEL_US)
            continue;
        double x = (r->ax.x[i - 1] + r->ax.x[i]) / 2;
        fprintf(f,
                "<g class=\"gap\"><title>%.3f ms without an event, drawn short (the time "
                "axis is compressed)</title><text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                "font-size=\"9\" fill=\"#777\">&#8776;%.0f ms</text></g>\n",
                (double)g / 1e3, x, AXIS_H - 28, (double)g / 1e3);
    }
}

static const char *role_fill(int role)
{
    switch (role) {
    case ROLE_LEADER: return "#9be39b";
    case ROLE_CANDIDATE: return "#ffd966";
    case ROLE_FOLLOWER: return "#dce8f7";
    case ROLE_COORDINATOR: return "#c9b8f0";
    case ROLE_TOKEN_HOLDER: return "#f5c6e0";
    default: return "#eee";
    }
}

static void put_span(struct render *r, const struct dg_span *s)
{
    const struct dg_model *m = r->m;
    FILE *f = r->f;
    char lane[32], t0[32], t1[32];
    double x0 = ax_x(&r->ax, s->t0), x1 = ax_x(&r->ax, s->t1);
    double w = x1 - x0 < 1 ? 1 : x1 - x0;
    ms(t0, sizeof t0, s->t0);
    ms(t1, sizeof t1, s->t1);
    if (s->kind != DG_SPAN_CUT)
        dg_lane_name(m, s->lane, lane, sizeof lane);
    double top = s->kind == DG_SPAN_CUT ? 0 : lane_top(r, s->lane),
           mid = s->kind == DG_SPAN_CUT ? 0 : lane_mid(r, s->lane);
    const char *from = s->open0 ? "before " : "", *to = s->open1 ? " or later" : "";
    switch (s->kind) {
    case DG_SPAN_ROLE: {
        const char *role = algo_role_name(s->aux);
        fprintf(f, "<g class=\"role\"><title>");
        esc(f, "%s: %s, term %" PRId64 "\nfrom %s%s to %s%s", lane, role, s->key, from, t0, t1, to);
        fprintf(f,
                "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
                "opacity=\"0.75\"/>",
                x0, top + 1, w, LANE_H - 2, role_fill(s->aux));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x0 + 2, top + 10);
        if (m->ops && strcmp(m->key_field, "term") == 0)
            esc(f, "%s t%" PRId64, role, s->key);
        else
            esc(f, "%s", role);
        fputs("</text></g>\n", f);
        break;
    }
    case DG_SPAN_DOWN:
    case DG_SPAN_PAUSE: {
        bool down = s->kind == DG_SPAN_DOWN;
        fprintf(f, "<g class=\"%s\"><title>", down ? "down" : "pause");
        esc(f, "%s %s\nfrom %s%s to %s%s", lane,
            down ? (s->aux == TR_STOP ? "stopped" : "down (crashed)") : "paused (SIGSTOP)", from,
            t0, t1, to);
        fprintf(f,
                "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" "
                "fill=\"url(#%s)\" opacity=\"0.8\"/></g>\n",
                x0, mid - 9, w, 18, down ? "hatch-grey" : "hatch-blue");
        break;
    }
    case DG_SPAN_CS: {
        static const char *const res[] = {"ok", "violation", "fenced (refused: a stale holder)",
                                          "ok, superseded a stale holder"};
        const char *rs = s->aux >= 0 && s->aux <= 3 ? res[s->aux] : "unknown";
        /* Superseded: this entry, of the newer generation, took the
         * resource over from a stale holder (that one is the fenced one). */
        bool bad = s->aux == 1, fenced = s->aux == 2;
        fprintf(f, "<g class=\"cs%s\"><title>", bad ? " bad" : fenced ? " fenced" : "");
        esc(f,
            "%s in the critical section\n%s %" PRId64 "\nentered %s%s, left %s%s (%.3f ms)\n"
            "resource: %s",
            lane, m->key_field, s->key, from, t0, t1, to, (double)(s->t1 - s->t0) / 1e3, rs);
        if (!s->open1 && s->a)
            esc(f, "\ncounter written: %" PRId64, s->a);
        if (bad)
            esc(f, "\nMUTUAL EXCLUSION VIOLATED: another node held the resource");
        fputs("</title>", f);
        if (bad)
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" "
                    "fill=\"url(#hatch-red)\" stroke=\"#d00\" stroke-width=\"1.5\"/>",
                    x0, mid - 8, w);
        else if (fenced)
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" fill=\"#fff4e0\" fill-opacity=\"0.5\" "
                    "stroke=\"#e67e00\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>",
                    x0, mid - 8, w);
        else
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"14\" fill=\"#3a6fc4\" "
                    "fill-opacity=\"0.55\" stroke=\"#2a4f8c\"/>",
                    x0, mid - 7, w);
        fprintf(f, "<text class=\"spanlbl\" x=\"%.1f\" y=\"%.1f\">CS %s</text></g>\n", x0 + 2,
                mid + 16,
                bad           ? "VIOLATION"
                : fenced      ? "fenced"
                : s->aux == 3 ? "(superseded a stale holder)"
                              : "");
        break;
    }
    case DG_SPAN_OP: {
        const char *out = s->aux == TR_OK        ? "ok"
                          : s->aux == TR_FAIL    ? "failed"
                          : s->aux == TR_TIMEOUT ? "timed out"
                                                 : "pending";
        const char *fill = s->aux == TR_OK        ? "#7fc97f"
                           : s->aux == TR_FAIL    ? "#f0027f"
                           : s->aux == TR_TIMEOUT ? "#fdc086"
                                                  : "#bbb";
        fprintf(f, "<g class=\"op\"><title>");
        esc(f, "%s operation %" PRId64 ": %s\ninvoked %s%s, %s %s%s (%.3f ms)", lane, s->key,
            s->text ? s->text : "(command not kept)", from, t0, out, t1, to,
            (double)(s->t1 - s->t0) / 1e3);
        if (s->peer)
            esc(f, "\nanswered by node %d", s->peer);
        if (s->aux == TR_OK || s->a > 0)
            esc(f, ", index %" PRId64 ", term %" PRId64, s->a, s->b);
        fprintf(f,
                "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"12\" "
                "fill=\"%s\" stroke=\"#555\" stroke-width=\"0.5\"/></g>\n",
                x0, mid - 6, w, fill);
        break;
    }
    case DG_SPAN_CUT: {
        double bottom = AXIS_H + r->nrows * LANE_H;
        fprintf(f, "<g class=\"netcut\"><title>");
        esc(f, "network partitioned: some links cut\nfrom %s%s to %s%s", from, t0, t1, to);
        fprintf(f,
                "</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"8\" fill=\"#e33\"/>"
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"#e33\" "
                "opacity=\"0.06\"/></g>\n",
                x0, AXIS_H - 10, w, x0, AXIS_H, w, bottom - AXIS_H);
        break;
    }
    }
}

/* The name of a message's yes/no ("granted"), for a message that has one. */
static const char *msg_flag_name(const struct dg_model *m, const struct dg_msg *g)
{
    const char *name = m->ops && m->ops->msg_flag ? m->ops->msg_flag(g->type) : NULL;
    return name ? name : "flag";
}

static void put_msg(struct render *r, const struct dg_msg *g)
{
    const struct dg_model *m = r->m;
    FILE *f = r->f;
    char tb[16], from[32], to[32], ts[32], tr[32];
    int ci = dg_type_colour(g->type);
    const char *col = dg_palette[ci];
    const char *tn = dg_type_name(m, g->type, tb, sizeof tb);
    dg_lane_name(m, g->from, from, sizeof from);
    dg_lane_name(m, g->to, to, sizeof to);
    double ys = lane_mid(r, g->from), yd = lane_mid(r, g->to);
    double xs, xe, ye;
    bool dropped = g->drop >= 0, lost = !dropped && g->tr < 0;
    if (g->ts >= 0)
        xs = ax_x(&r->ax, g->ts);
    else
        xs = ax_x(&r->ax, g->tr) - 24; /* the send is unknown: a stub */
    /* A short arrow stops just before the receiver's lane: stopping at a
     * fraction of the way would, two lanes away, end on the lane between
     * and seem to be addressed to it. */
    double short_y = yd - (yd > ys ? 1 : -1) * 0.3 * LANE_H;
    if (dropped) {
        xe = ax_x(&r->ax, g->tr);
        ye = short_y;
    } else if (lost) {
        xe = xs + 36;
        ye = short_y;
    } else {
        xe = ax_x(&r->ax, g->tr);
        ye = yd;
    }
    fprintf(f, "<g class=\"msg%s\" data-type=\"%d\"><title>", dropped || lost ? " short" : "", ci);
    esc(f, "%s: %s \xe2\x86\x92 %s\n%s %" PRId64, tn, from, to, m->key_field, g->key);
    if (g->flag >= 0)
        esc(f, "\n%s: %s", msg_flag_name(m, g), g->flag ? "yes" : "no");
    if (g->ts >= 0) {
        ms(ts, sizeof ts, g->ts);
        esc(f, "\nsent %s%s", ts,
            g->recv_only ? " (from the receive; the send is not traced)" : "");
    } else {
        esc(f, "\nsent: not traced");
    }
    if (g->tr >= 0)
        ms(tr, sizeof tr, g->tr);
    if (dropped)
        esc(f, "\nDROPPED at %s by %s: %s", tr, g->drop == WIRE_DROP_SEND ? from : to,
            report_drop_reason(g->drop));
    else if (lost)
        esc(f, "\nNEVER RECEIVED (the receiver was down, or the trace ended first)");
    else
        esc(f, "\nreceived %s (after %.3f ms)", tr, (double)(g->tr - g->ts) / 1e3);
    fputs("</title>", f);
    fprintf(f, "<line class=\"hit\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", xs, ys, xe,
            ye);
    if (dropped || lost)
        fprintf(f,
                "<line class=\"v\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>"
                "<use xlink:href=\"#mk-drop\" x=\"%.1f\" y=\"%.1f\"/>",
                xs, ys, xe, ye, col, xe, ye);
    else
        fprintf(f,
                "<line class=\"v\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"%s\" stroke-width=\"1.5\" marker-end=\"url(#ah%d)\"/>",
                xs, ys, xe, ye, col, ci);
    /* The key near the sender, a little above the arrow. */
    double lx = xs + 0.25 * (xe - xs), ly = ys + 0.25 * (ye - ys) - 2;
    /* A yes/no after the key: a vote granted (a check) or refused (a cross). */
    fprintf(f, "<text class=\"key\" x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%" PRId64 "%s</text></g>\n",
            lx + 2, ly, col, g->key,
            g->flag < 0 ? "" : g->flag ? " \xe2\x9c\x93" : " \xe2\x9c\x97");
}

static void put_mark(struct render *r, const struct dg_mark *k)
{
    const struct dg_model *m = r->m;
    FILE *f = r->f;
    char lane[32], t[32], sb[32];
    double x = ax_x(&r->ax, k->t);
    ms(t, sizeof t, k->t);
    if (k->lane)
        dg_lane_name(m, k->lane, lane, sizeof lane);
    if (k->ev == TR_FAULT) {
        double bottom = AXIS_H + r->nrows * LANE_H;
        char what[64];
        if (k->a > 0 && k->b > 1)
            snprintf(what, sizeof what, "fault.%" PRId64 " #%" PRId64, k->a, k->b);
        else if (k->a > 0)
            snprintf(what, sizeof what, "fault.%" PRId64, k->a);
        else
            snprintf(what, sizeof what, "command");
        const char *act = fault_action_name(k->aux);
        fprintf(f, "<g class=\"mark fault\"><title>");
        esc(f, "%s: %s%s at %s", what, act, k->c == 1 ? " (its automatic undo)" : "", t);
        if (k->peer)
            esc(f, "\ntarget: %s", dg_lane_name(m, k->peer, lane, sizeof lane));
        if (k->detail)
            esc(f, "\nlinks changed:%s", k->detail);
        fprintf(f,
                "</title><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e60\" "
                "stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>"
                "<use xlink:href=\"#mk-fault\" x=\"%.1f\" y=\"%d\"/>"
                "<text class=\"ftxt\" x=\"%.1f\" y=\"%d\">",
                x, AXIS_H - 10, x, bottom, x, AXIS_H - 42, x + 6, AXIS_H - 38);
        esc(f, "%s %s", act, k->peer ? lane : "");
        fputs("</text></g>\n", f);
        return;
    }
    const char *sym = "mk-cut", *label = NULL;
    char text[300], lbl[64];
    switch (k->ev) {
    case TR_CRASH:
        sym = "mk-crash";
        label = "crash";
        if (k->aux)
            snprintf(text, sizeof text, "%s crashed (%s) at %s", lane,
                     signal_text(k->aux, sb, sizeof sb), t);
        else
            snprintf(text, sizeof text, "%s exited with code %" PRId64 " at %s", lane, k->a, t);
        break;
    case TR_PAUSE:
        sym = "mk-pause";
        label = "pause";
        snprintf(text, sizeof text, "%s paused (%s) at %s", lane,
                 signal_text(k->aux, sb, sizeof sb), t);
        break;
    case TR_RESUME:
        sym = "mk-resume";
        label = "resume";
        snprintf(text, sizeof text, "%s resumed at %s", lane, t);
        break;
    case TR_RESTART:
        sym = "mk-restart";
        label = "restart";
        snprintf(text, sizeof text, "%s restarted at %s (incarnation %" PRId64 ")", lane, t, k->a);
        break;
    case TR_START:
        sym = "mk-start";
        snprintf(text, sizeof text, "%s started at %s: incarnation %d, pid %d", lane, t,
                 k->incarnation, k->aux);
        break;
    case TR_STOP:
        sym = "mk-stop";
        snprintf(text, sizeof text, "%s stopped at %s%s%s", lane, t, k->aux ? " by " : "",
                 k->aux ? signal_text(k->aux, sb, sizeof sb) : "");
        break;
    case TR_TRUNCATE:
        sym = "mk-rollback";
        snprintf(lbl, sizeof lbl, "rollback %" PRId64 "-%" PRId64, k->a, k->b);
        label = lbl;
        snprintf(text, sizeof text,
                 "%s rolled back its log at %s: entries %" PRId64 "..%" PRId64 " (term %" PRId64
                 " at %" PRId64 ") were never committed and are replaced",
                 lane, t, k->a, k->b, k->key, k->a);
        break;
    case TR_CUT:
        snprintf(text, sizeof text, "%s: its trace was cut at %s (errno %d): later events lost",
                 lane, t, k->aux);
        label = "trace cut";
        break;
    case TR_DROP:
        sym = "mk-drop";
        snprintf(text, sizeof text, "%s dropped a malformed message at %s: %s", lane, t,
                 report_drop_reason(k->aux));
        break;
    default: snprintf(text, sizeof text, "%s: %s at %s", lane, trace_ev_name(k->ev), t); break;
    }
    double y = lane_mid(r, k->lane);
    fprintf(f, "<g class=\"mark\"><title>");
    xml_escape(f, text);
    fprintf(f, "</title><use xlink:href=\"#%s\" x=\"%.1f\" y=\"%.1f\"/>", sym, x, y);
    if (label) {
        fprintf(f, "<text class=\"spanlbl\" x=\"%.1f\" y=\"%.1f\" fill=\"#600\">", x + 8, y - 8);
        xml_escape(f, label);
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* The standalone form's legend, under the lanes: what the page's legend
 * says, in two lines (the message types and their label; the bars, lane
 * colours and marks this window shows), so that an SVG read alone, as an
 * image, explains itself. */
#define LEGEND_H 44

struct legend {
    FILE *f;
    double x, y;
};

static void legend_text(struct legend *l, const char *text)
{
    fprintf(l->f, "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", l->x, l->y + 4);
    xml_escape(l->f, text);
    fputs("</text>\n", l->f);
    l->x += 5.8 * (double)strlen(text) + 18;
}

static void legend_swatch(struct legend *l, const char *fill, const char *stroke, const char *text)
{
    fprintf(l->f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"22\" height=\"10\" fill=\"%s\" stroke=\"%s\"/>\n",
            l->x, l->y - 5, fill, stroke);
    l->x += 26;
    legend_text(l, text);
}

static void legend_sym(struct legend *l, const char *sym, const char *text)
{
    fprintf(l->f, "<use xlink:href=\"#%s\" x=\"%.1f\" y=\"%.1f\"/>\n", sym, l->x + 7, l->y);
    l->x += 18;
    legend_text(l, text);
}

static void put_legend(struct render *r, double y)
{
    const struct dg_model *m = r->m;
    struct legend l = {r->f, 8, y};
    fputs("<g class=\"legend\">\n", r->f);
    char head[64];
    snprintf(head, sizeof head, "messages (label: %s):", m->key_field);
    legend_text(&l, head);
    for (int i = 0; i < r->ntypes; i++) {
        char tb[16];
        int ci = dg_type_colour(r->types[i]);
        fprintf(r->f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\" marker-end=\"url(#ah%d)\"/>\n",
                l.x, l.y, l.x + 24, l.y, dg_palette[ci], ci);
        l.x += 30;
        legend_text(&l, dg_type_name(m, r->types[i], tb, sizeof tb));
    }
    if (r->ntypes == 0)
        legend_text(&l, "(no message in this window)");
    bool has_short = false, has_role[8] = {false}, has_cs[3] = {false}, has_down = false,
         has_pause = false, has_cut = false, has_ev[TR_EV_COUNT] = {false};
    for (size_t i = 0; i < m->nmsgs; i++)
        has_short |= m->msgs[i].drop >= 0 || m->msgs[i].tr < 0;
    if (has_short)
        legend_text(&l, "dashed, stops short: dropped or never received");
    for (size_t i = 0; i < m->nmarks; i++)
        if (m->marks[i].ev >= 0 && m->marks[i].ev < TR_EV_COUNT)
            has_ev[m->marks[i].ev] = true;
    for (size_t i = 0; i < m->nspans; i++) {
        const struct dg_span *sp = &m->spans[i];
        if (sp->kind == DG_SPAN_ROLE)
            has_role[sp->aux & 7] = true;
        else if (sp->kind == DG_SPAN_CS)
            has_cs[sp->aux == 1 ? 1 : sp->aux == 2 ? 2 : 0] = true;
        else if (sp->kind == DG_SPAN_DOWN && sp->aux != TR_STOP)
            has_down = true; /* after a stop: the end of the run, not drawn as down */
        else if (sp->kind == DG_SPAN_PAUSE)
            has_pause = true;
        else if (sp->kind == DG_SPAN_CUT)
            has_cut = true;
    }
    l.x = 8;
    l.y += 20;
    if (has_cs[0])
        legend_swatch(&l, "#9db7e1", "#2a4f8c", "critical section");
    if (has_cs[2])
        legend_swatch(&l, "#fff4e0", "#e67e00",
                      "critical section, fenced: a stale holder (dashed)");
    if (has_cs[1])
        legend_swatch(&l, "url(#hatch-red)", "#d00", "critical section, violation");
    static const int roles[] = {ROLE_LEADER, ROLE_CANDIDATE, ROLE_FOLLOWER, ROLE_COORDINATOR,
                                ROLE_TOKEN_HOLDER};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (has_role[roles[i] & 7])
            legend_swatch(&l, role_fill(roles[i]), "none", algo_role_name(roles[i]));
    if (has_pause)
        legend_swatch(&l, "url(#hatch-blue)", "none", "paused");
    if (has_down)
        legend_swatch(&l, "url(#hatch-grey)", "none", "down (crashed)");
    if (has_cut)
        legend_swatch(&l, "#e33", "none", "network partitioned (the band on top)");
    if (has_ev[TR_CRASH])
        legend_sym(&l, "mk-crash", "crash");
    if (has_ev[TR_RESTART])
        legend_sym(&l, "mk-restart", "restart");
    if (has_ev[TR_TRUNCATE])
        legend_sym(&l, "mk-rollback", "log roll-back");
    if (has_ev[TR_STOP])
        legend_sym(&l, "mk-stop", "node stopped (end of run)");
    bool has_fault = false;
    for (size_t i = 0; i < m->nmarks; i++)
        has_fault |= m->marks[i].ev == TR_FAULT;
    if (has_fault)
        legend_sym(&l, "mk-fault", "fault injected (dashed line)");
    fputs("</g>\n", r->f);
}

/* The SVG element, with its lanes, for either form. */
static void put_svg(struct render *r, bool standalone)
{
    const struct dg_model *m = r->m;
    FILE *f = r->f;
    double w = ax_width(&r->ax);
    double h = AXIS_H + r->nrows * LANE_H + 12 + (standalone ? LEGEND_H : 0);
    if (standalone)
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fprintf(
        f,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
        "id=\"diagram\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
        "data-w=\"%.1f\" data-lw=\"%d\">\n",
        LABEL_W + w, h, LABEL_W + w, h, w, LABEL_W);
    fputs("<title>", f);
    esc(f, "distlab diagram: %s (%s, %d nodes%s), %.3f-%.3f ms", m->name, m->algorithm, m->n,
        m->clients ? ", clients" : "", (double)m->from_us / 1e3, (double)m->to_us / 1e3);
    fputs("</title>\n", f);
    put_style(f);
    put_defs(r);
    fprintf(f, "<g id=\"plot\" transform=\"translate(%d,0)\">\n", LABEL_W);
    put_lanes(r, w);
    put_ticks(r);
    /* Back to front: the partition band and roles, then down and paused
     * periods, bars, faults, arrows, marks. */
    static const int order[] = {DG_SPAN_CUT,   DG_SPAN_ROLE, DG_SPAN_DOWN,
                                DG_SPAN_PAUSE, DG_SPAN_CS,   DG_SPAN_OP};
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
        for (size_t i = 0; i < m->nspans; i++)
            if (m->spans[i].kind == order[o])
                put_span(r, &m->spans[i]);
    for (size_t i = 0; i < m->nmarks; i++)
        if (m->marks[i].ev == TR_FAULT)
            put_mark(r, &m->marks[i]);
    for (size_t i = 0; i < m->nmsgs; i++)
        put_msg(r, &m->msgs[i]);
    for (size_t i = 0; i < m->nmarks; i++)
        if (m->marks[i].ev != TR_FAULT)
            put_mark(r, &m->marks[i]);
    fputs("</g>\n", f);
    /* The lane names, on top (the page keeps them in view). */
    fprintf(f,
            "<g id=\"labels\"><rect x=\"0\" y=\"0\" width=\"%d\" height=\"%.0f\" "
            "fill=\"#fff\" opacity=\"0.92\"/>\n",
            LABEL_W, h);
    fprintf(f,
            "<text class=\"lbl\" x=\"6\" y=\"%d\" font-size=\"10\" fill=\"#555\">time (ms)"
            "</text>\n",
            AXIS_H - 18);
    for (int p = 1; p <= m->n + m->clients; p++) {
        if (r->row[p] < 0)
            continue;
        char lane[32];
        fprintf(f, "<text class=\"lbl\" x=\"8\" y=\"%.1f\">", lane_mid(r, p) + 4);
        xml_escape(f, dg_lane_name(m, p, lane, sizeof lane));
        if (p > m->n)
            fprintf(f, " <tspan font-size=\"9\" fill=\"#777\">(id %d)</tspan>", p);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    if (standalone)
        put_legend(r, AXIS_H + r->nrows * LANE_H + 24);
    fputs("</svg>\n", f);
}

static void put_svg_inline(void *arg)
{
    put_svg(arg, false);
}

int dg_render(const struct dg_model *m, enum diagram_format fmt, FILE *out)
{
    struct render *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->m = m;
    r->f = out;
    if (axis_build(&r->ax, m) < 0) {
        free(r->ax.t);
        free(r->ax.x);
        free(r);
        return -1;
    }
    for (int p = 0; p <= DL_MAX_PROCS; p++)
        r->row[p] = -1;
    for (int p = 1; p <= m->n + m->clients; p++)
        if (m->shown[p])
            r->row[p] = r->nrows++;
    for (size_t i = 0; i < m->nmsgs; i++) {
        bool seen = false;
        for (int k = 0; k < r->ntypes && !seen; k++)
            seen = r->types[k] == m->msgs[i].type;
        if (!seen && r->ntypes < 256)
            r->types[r->ntypes++] = m->msgs[i].type;
    }
    qsort(r->types, (size_t)r->ntypes, sizeof r->types[0], cmp_u16);
    if (fmt == DIAGRAM_SVG)
        put_svg(r, true);
    else
        dg_html_page(m, out, r->types, r->ntypes, put_svg_inline, r);
    free(r->ax.t);
    free(r->ax.x);
    free(r);
    return 0;
}
