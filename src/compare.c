/* `distlab report --compare`: the classic trade-off table, measured. See
 * compare.h for the rows and their keys; everything printed or drawn here
 * comes from those rows, so the table, the JSON and the chart never
 * disagree. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ipc/util.h"
#include "nodes/algo.h"
#include "src/cli.h"
#include "src/compare.h"
#include "src/evidence.h"
#include "src/report.h"
#include "src/xml.h"

bool compare_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--compare") == 0 || strcmp(argv[i], "--plot") == 0 ||
            strncmp(argv[i], "--plot=", 7) == 0)
            return true;
    return false;
}

/* ---- one row ---- */

static json_t *num_or_null(const json_t *v)
{
    return json_is_number(v) ? json_real(json_number_value(v)) : json_null();
}

static const json_t *get2(const json_t *o, const char *key, const char *sub)
{
    return json_object_get(json_object_get(o, key), sub);
}

/* The theory as the table prints it: a whole number without decimals, a
 * token algorithm's lower bound with "..∞" after it. */
static void theory_text(double t, bool unbounded, char *buf, size_t cap)
{
    if (fabs(t - round(t)) < 1e-9)
        snprintf(buf, cap, "%.0f%s", t, unbounded ? "..\u221e" : "");
    else
        snprintf(buf, cap, "%.2f%s", t, unbounded ? "..\u221e" : "");
}

/* A string that may not be UTF-8 (a directory as typed, an error naming
 * it), which JSON cannot hold as it is: such bytes become \xNN. */
static json_t *any_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t len = strlen(s), cap = DL_PRINTABLE_CAP(len);
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    j = json_string(dl_printable(buf, cap, s, len));
    free(buf);
    return j;
}

json_t *compare_row(const char *rundir, const json_t *rep, const char *err)
{
    json_t *row = json_object();
    if (!row)
        return NULL;
    bool bad = false;
#define SET(k, v) bad |= json_object_set_new(row, (k), (v)) < 0
    SET("run", any_string(rundir));
    SET("rundir", any_string(rundir));
    if (!rep) {
        static const char *const nulls[] = {"name",
                                            "algorithm",
                                            "nodes",
                                            "simulated",
                                            "per",
                                            "messages_per_op",
                                            "theory_messages_per_op",
                                            "theory_unbounded",
                                            "theory",
                                            "throughput_per_s",
                                            "throughput_unit",
                                            "latency",
                                            "latency_p50_ms",
                                            "latency_p99_ms",
                                            "sync_delay_p50_ms",
                                            "safe"};
        for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
            SET(nulls[i], json_null());
        SET("verdict", json_string("no report"));
        SET("error", any_string(err ? err : "the report could not be built"));
        goto out;
    }
    const char *alg = json_string_value(json_object_get(rep, "algorithm"));
    const struct algo_ops *ops = alg ? algo_find(alg) : NULL;
    json_int_t n = json_integer_value(json_object_get(rep, "nodes"));
    /* A replicated log's report has commits and no critical sections. */
    bool log = json_object_get(rep, "commits") && !json_object_get(rep, "cs_entries");
    SET("name",
        json_deep_copy(json_object_get(rep, "name") ? json_object_get(rep, "name") : json_null()));
    SET("algorithm", alg ? json_string(alg) : json_null());
    SET("nodes", n > 0 ? json_integer(n) : json_null());
    SET("simulated", json_boolean(json_is_true(json_object_get(rep, "simulated"))));
    SET("per", json_string(log ? "commit" : "cs"));

    double theory = NAN;
    if (!log && json_is_number(json_object_get(rep, "theory_messages_per_cs"))) {
        theory = json_number_value(json_object_get(rep, "theory_messages_per_cs"));
    } else if (log && ops && ops->theory_messages_per_cs && n > 0) {
        /* The report counts every message of the run, the clients' too:
         * per commit, the cluster's share (2(N-1): an AppendEntries and its
         * answer per follower) plus a client's request and its answer. */
        struct algo_env env;
        memset(&env, 0, sizeof env);
        env.n = (int)n;
        theory = ops->theory_messages_per_cs(&env) + (ops->client ? 2.0 : 0.0);
    }
    /* A token keeps travelling when nobody wants it: no upper bound. */
    bool unbounded = ops && ops->token_msg && !log;
    SET("messages_per_op",
        num_or_null(json_object_get(rep, log ? "messages_per_commit" : "messages_per_cs")));
    SET("theory_messages_per_op", isnan(theory) ? json_null() : json_real(theory));
    SET("theory_unbounded", json_boolean(unbounded));
    if (isnan(theory)) {
        SET("theory", json_null());
    } else {
        char t[64];
        theory_text(theory, unbounded, t, sizeof t);
        SET("theory", json_string(t));
    }
    const json_t *tp = json_object_get(rep, log ? "throughput_ops_per_s" : "throughput_cs_per_s");
    SET("throughput_per_s", num_or_null(tp));
    SET("throughput_unit", json_string(log ? "commits/s" : "CS/s"));
    const char *lat = log ? "commit_latency_ms" : "response_ms";
    SET("latency", json_string(log ? "commit" : "response"));
    SET("latency_p50_ms", num_or_null(get2(rep, lat, "p50")));
    SET("latency_p99_ms", num_or_null(get2(rep, lat, "p99")));
    SET("sync_delay_p50_ms", log ? json_null() : num_or_null(get2(rep, "sync_delay_ms", "p50")));
    int code = evidence_exit_code(rep);
    SET("verdict", json_string(code == 0 ? "safe" : code == 1 ? "UNSAFE" : "cannot verify"));
    SET("safe", code == 2 ? json_null() : json_boolean(code == 0));
    SET("error", json_null());
out:
#undef SET
    if (bad) {
        json_decref(row);
        return NULL;
    }
    return row;
}

/* ---- labels ---- */

static const char *base_of(const char *path, char *buf, size_t cap)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    snprintf(buf, cap, "%.*s", (int)(len - start), path + start);
    return buf;
}

/* Is key's string the same in two rows (a NULL is never the same)? */
static bool repeats(const json_t *rows, size_t i, const char *key, bool base)
{
    char a[4096], b[4096];
    const char *s = json_string_value(json_object_get(json_array_get(rows, i), key));
    if (!s)
        return true;
    if (base)
        s = base_of(s, a, sizeof a);
    for (size_t j = 0; j < json_array_size(rows); j++) {
        const char *t = json_string_value(json_object_get(json_array_get(rows, j), key));
        if (j == i || !t)
            continue;
        if (strcmp(s, base ? base_of(t, b, sizeof b) : t) == 0)
            return true;
    }
    return false;
}

int compare_label(json_t *rows)
{
    size_t count = json_array_size(rows);
    bool names = true, bases = true;
    for (size_t i = 0; i < count; i++) {
        names &= !repeats(rows, i, "name", false);
        bases &= !repeats(rows, i, "rundir", true);
    }
    for (size_t i = 0; i < count; i++) {
        json_t *row = json_array_get(rows, i);
        const char *dir = json_string_value(json_object_get(row, "rundir"));
        char b[4096];
        json_t *label = names   ? json_deep_copy(json_object_get(row, "name"))
                        : bases ? json_string(base_of(dir, b, sizeof b))
                                : json_string(dir);
        if (!label || json_object_set_new(row, "run", label) < 0)
            return -1;
    }
    return 0;
}

/* ---- the table ---- */

enum { COL_RUN, COL_ALG, COL_N, COL_MSG, COL_TPUT, COL_P50, COL_P99, COL_SYNC, COL_SAFE, NCOL };

static const char *const col_head[NCOL] = {
    "run", "algorithm", "N", "messages/CS", "throughput", "p50 ms", "p99 ms", "sync ms", "safe"};
/* Numbers are right-aligned, words left. */
static const bool col_right[NCOL] = {false, false, true, false, true, true, true, true, false};

#define CELL 256

/* Columns as the eye sees them: UTF-8 continuation bytes take none. */
static size_t width_of(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* A string from a run (its name, the directory typed) with control
 * characters escaped (\xNN), so that it cannot move the cursor. */
static void cell_str(char *cell, const char *s)
{
    size_t k = 0;
    for (; s && *s && k + 5 < CELL; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            k += (size_t)snprintf(cell + k, CELL - k, "\\x%02x", c);
        else
            cell[k++] = (char)c;
    }
    cell[k] = '\0';
    if (!s || k == 0)
        snprintf(cell, CELL, "-");
}

static void cell_num(char *cell, const json_t *row, const char *key, int decimals, const char *unit)
{
    const json_t *v = json_object_get(row, key);
    if (json_is_number(v))
        snprintf(cell, CELL, "%.*f%s%s", decimals, json_number_value(v), unit ? " " : "",
                 unit ? unit : "");
    else
        snprintf(cell, CELL, "-");
}

static void row_cells(const json_t *row, char cells[NCOL][CELL])
{
    cell_str(cells[COL_RUN], json_string_value(json_object_get(row, "run")));
    cell_str(cells[COL_ALG], json_string_value(json_object_get(row, "algorithm")));
    cell_num(cells[COL_N], row, "nodes", 0, NULL);
    const json_t *m = json_object_get(row, "messages_per_op");
    const char *theory = json_string_value(json_object_get(row, "theory"));
    if (json_is_number(m) && theory)
        snprintf(cells[COL_MSG], CELL, "%.2f (theory %s)", json_number_value(m), theory);
    else if (json_is_number(m))
        snprintf(cells[COL_MSG], CELL, "%.2f", json_number_value(m));
    else if (theory)
        snprintf(cells[COL_MSG], CELL, "- (theory %s)", theory);
    else
        snprintf(cells[COL_MSG], CELL, "-");
    cell_num(cells[COL_TPUT], row, "throughput_per_s", 1,
             json_string_value(json_object_get(row, "throughput_unit")));
    cell_num(cells[COL_P50], row, "latency_p50_ms", 3, NULL);
    cell_num(cells[COL_P99], row, "latency_p99_ms", 3, NULL);
    cell_num(cells[COL_SYNC], row, "sync_delay_p50_ms", 3, NULL);
    cell_str(cells[COL_SAFE], json_string_value(json_object_get(row, "verdict")));
}

static void print_line(FILE *f, const char *const *cells, const size_t *width)
{
    for (int c = 0; c < NCOL; c++) {
        size_t pad = width[c] - width_of(cells[c]);
        if (col_right[c])
            fprintf(f, "%*s", (int)pad, "");
        fputs(cells[c], f);
        if (c + 1 < NCOL)
            fprintf(f, "%*s", (int)(col_right[c] ? 2 : pad + 2), "");
    }
    fputc('\n', f);
}

void compare_print_table(const json_t *rows, FILE *f)
{
    size_t count = json_array_size(rows);
    char(*cells)[NCOL][CELL] = calloc(count ? count : 1, sizeof *cells);
    if (!cells) {
        fprintf(f, "out of memory\n");
        return;
    }
    size_t width[NCOL];
    for (int c = 0; c < NCOL; c++)
        width[c] = width_of(col_head[c]);
    bool log = false, mutex = false;
    for (size_t i = 0; i < count; i++) {
        const json_t *row = json_array_get(rows, i);
        row_cells(row, cells[i]);
        for (int c = 0; c < NCOL; c++)
            if (width_of(cells[i][c]) > width[c])
                width[c] = width_of(cells[i][c]);
        const char *per = json_string_value(json_object_get(row, "per"));
        log |= per && strcmp(per, "commit") == 0;
        mutex |= per && strcmp(per, "cs") == 0;
    }
    print_line(f, col_head, width);
    for (size_t i = 0; i < count; i++) {
        const char *line[NCOL];
        for (int c = 0; c < NCOL; c++)
            line[c] = cells[i][c];
        print_line(f, line, width);
    }
    free(cells);
    if (mutex)
        fprintf(f, "\nmessages/CS: algorithm messages per critical section; p50/p99: response "
                   "time (request -> entry);\nsync: synchronization delay p50 (one node leaves "
                   "-> the next waiting one enters).\n");
    if (log)
        fprintf(f,
                "%sraft: messages per commit (the clients' requests and answers counted); "
                "p50/p99:\ncommit latency (a client's invoke -> its ok).\n",
                mutex ? "" : "\n");
    for (size_t i = 0; i < count; i++) {
        const json_t *row = json_array_get(rows, i);
        const char *err = json_string_value(json_object_get(row, "error"));
        if (err) {
            char label[CELL];
            cell_str(label, json_string_value(json_object_get(row, "run")));
            fprintf(f, "%s: no report: %s\n", label, err);
        }
    }
}

/* ---- the chart ---- */

#define SVG_W      1000
#define SVG_H      500
#define PANEL_W    470
#define PLOT_L     70 /* the plot area inside a panel */
#define PLOT_R     20
#define PLOT_T     60
#define PLOT_B     70
#define PANEL_H    400
#define MAX_SERIES 16

static const char *const palette[MAX_SERIES] = {
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"};

struct axis {
    double lo, hi, step;
};

/* A tick step of 1, 2 or 5 times a power of ten that gives about five
 * ticks over span. */
static double nice_step(double span)
{
    if (span <= 0)
        return 1;
    double raw = span / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* The y axis from 0 to a little over the largest value. */
static struct axis y_axis(double max)
{
    struct axis a = {0, max > 0 ? max * 1.1 : 1, 0};
    a.step = nice_step(a.hi);
    a.hi = ceil(a.hi / a.step - 1e-9) * a.step;
    return a;
}

static struct axis x_axis(double nmin, double nmax)
{
    struct axis a = {nmin - 1, nmax + 1, 0};
    a.step = fmax(1, round(nice_step(a.hi - a.lo)));
    return a;
}

static double px(const struct axis *a, double v, double from, double len)
{
    return from + (v - a->lo) / (a->hi - a->lo) * len;
}

struct series {
    const char *algorithm;
    size_t rows[256];
    size_t n;
};

struct panel {
    const char *title, *ylabel, *key;
    bool theory;
};

static void tick_label(char *buf, size_t cap, double v, double step)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, cap, "%.*f", dec, v);
}

static int cmp_by_n(const void *a, const void *b, void *rows)
{
    json_int_t na = json_integer_value(
        json_object_get(json_array_get((json_t *)rows, *(const size_t *)a), "nodes"));
    json_int_t nb = json_integer_value(
        json_object_get(json_array_get((json_t *)rows, *(const size_t *)b), "nodes"));
    return na < nb   ? -1
           : na > nb ? 1
                     : (*(const size_t *)a > *(const size_t *)b) -
                           (*(const size_t *)a < *(const size_t *)b);
}

/* The theory, dashed. Figures on one straight line in N (3; 2(N-1); the
 * lower bound 1) are drawn across the whole axis; others (a formula with
 * more parameters than N) through each run's figure; a series of one N as
 * a short dash at its point, since one figure tells no slope. */
static void draw_theory(FILE *f, const json_t *rows, const struct series *se, const struct axis *xa,
                        const struct axis *ya, double L, double T, double W, double H)
{
    double n0 = NAN, t0 = NAN, n1 = NAN, t1 = NAN;
    size_t any = 0;
    for (size_t k = 0; k < se->n; k++) {
        const json_t *row = json_array_get(rows, se->rows[k]);
        const json_t *v = json_object_get(row, "theory_messages_per_op");
        if (!json_is_number(v))
            continue;
        double n = (double)json_integer_value(json_object_get(row, "nodes"));
        if (!any++) {
            n0 = n;
            t0 = json_number_value(v);
        }
        n1 = n; /* the rows are in N order: the last has the largest */
        t1 = json_number_value(v);
    }
    if (!any)
        return;
    const char *dash = "stroke-dasharray=\"6,4\" stroke-width=\"1.5\"";
    if (n1 == n0) {
        double x = px(xa, n0, L, W), y = px(ya, t0, T + H, -H), half = 0.4 * W / (xa->hi - xa->lo);
        fprintf(f, "<line class=\"theory\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" %s/>\n",
                x - half, y, x + half, y, dash);
        return;
    }
    double slope = (t1 - t0) / (n1 - n0);
    bool straight = true;
    for (size_t k = 0; k < se->n; k++) {
        const json_t *row = json_array_get(rows, se->rows[k]);
        const json_t *v = json_object_get(row, "theory_messages_per_op");
        double n = (double)json_integer_value(json_object_get(row, "nodes"));
        if (json_is_number(v) && fabs(t0 + slope * (n - n0) - json_number_value(v)) > 1e-6)
            straight = false;
    }
    if (straight) {
        /* Clipped to the plot: a line that leaves it stops at its edge. */
        double xa0 = xa->lo, xa1 = xa->hi;
        double ya0 = t0 + slope * (xa0 - n0), ya1 = t0 + slope * (xa1 - n0);
        if (ya0 < 0 || ya0 > ya->hi) {
            ya0 = ya0 < 0 ? 0 : ya->hi;
            xa0 = n0 + (ya0 - t0) / slope;
        }
        if (ya1 < 0 || ya1 > ya->hi) {
            ya1 = ya1 < 0 ? 0 : ya->hi;
            xa1 = n0 + (ya1 - t0) / slope;
        }
        fprintf(f, "<line class=\"theory\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" %s/>\n",
                px(xa, xa0, L, W), px(ya, ya0, T + H, -H), px(xa, xa1, L, W),
                px(ya, ya1, T + H, -H), dash);
        return;
    }
    fprintf(f, "<polyline class=\"theory\" fill=\"none\" %s points=\"", dash);
    for (size_t k = 0; k < se->n; k++) {
        const json_t *row = json_array_get(rows, se->rows[k]);
        const json_t *v = json_object_get(row, "theory_messages_per_op");
        if (json_is_number(v))
            fprintf(f, "%.1f,%.1f ",
                    px(xa, (double)json_integer_value(json_object_get(row, "nodes")), L, W),
                    px(ya, json_number_value(v), T + H, -H));
    }
    fprintf(f, "\"/>\n");
}

/* The measured line of a series: through the mean of its runs at each N
 * (two runs of one size would otherwise draw a vertical zigzag), when it
 * has more than one N. Returns whether some N had more than one run. */
static bool draw_measured(FILE *f, const json_t *rows, const struct series *se, const char *key,
                          const struct axis *xa, const struct axis *ya, double L, double T,
                          double W, double H)
{
    double xs[256], ys[256];
    size_t np = 0;
    bool shared = false;
    for (size_t k = 0; k < se->n;) {
        json_int_t n =
            json_integer_value(json_object_get(json_array_get(rows, se->rows[k]), "nodes"));
        double sum = 0;
        int count = 0;
        for (; k < se->n; k++) {
            const json_t *row = json_array_get(rows, se->rows[k]);
            if (json_integer_value(json_object_get(row, "nodes")) != n)
                break;
            const json_t *v = json_object_get(row, key);
            if (json_is_number(v)) {
                sum += json_number_value(v);
                count++;
            }
        }
        if (count) {
            shared |= count > 1;
            xs[np] = px(xa, (double)n, L, W);
            ys[np++] = px(ya, sum / count, T + H, -H);
        }
    }
    if (np < 2)
        return shared;
    fprintf(f, "<polyline class=\"measured\" fill=\"none\" stroke-width=\"2\" points=\"");
    for (size_t i = 0; i < np; i++)
        fprintf(f, "%.1f,%.1f ", xs[i], ys[i]);
    fprintf(f, "\"/>\n");
    return shared;
}

static bool draw_panel(FILE *f, const json_t *rows, const struct series *ser, int nser,
                       const struct panel *p, int x0, double nmin, double nmax)
{
    double ymax = 0;
    for (int s = 0; s < nser; s++)
        for (size_t k = 0; k < ser[s].n; k++) {
            const json_t *row = json_array_get(rows, ser[s].rows[k]);
            const json_t *v = json_object_get(row, p->key);
            if (json_is_number(v))
                ymax = fmax(ymax, json_number_value(v));
            v = json_object_get(row, "theory_messages_per_op");
            if (p->theory && json_is_number(v))
                ymax = fmax(ymax, json_number_value(v));
        }
    struct axis xa = x_axis(nmin, nmax), ya = y_axis(ymax);
    double L = x0 + PLOT_L, T = PLOT_T, W = PANEL_W - PLOT_L - PLOT_R,
           H = PANEL_H - PLOT_T - PLOT_B;
    bool shared = false;
    fprintf(f, "<g class=\"panel\" data-key=\"%s\">\n", p->key);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"15\">", L + W / 2,
            PLOT_T - 25);
    xml_escape(f, p->title);
    fprintf(f, "</text>\n");
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#000\"/>\n",
            L, T, W, H);
    /* Ticks, labels and light grid lines. */
    char lab[64];
    for (double v = ceil(xa.lo / xa.step) * xa.step; v <= xa.hi + 1e-9; v += xa.step) {
        double x = px(&xa, v, L, W);
        tick_label(lab, sizeof lab, v, xa.step);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
                x, T + H, x, T + H + 5, x, T + H + 19, lab);
    }
    for (double v = ya.lo; v <= ya.hi + ya.step * 1e-6; v += ya.step) {
        double y = px(&ya, v, T + H, -H);
        tick_label(lab, sizeof lab, v, ya.step);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\">%s</text>\n",
                L, y, L + W, y, L - 5, y, L, y, L - 8, y + 4, lab);
    }
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">N "
            "(nodes)</text>\n",
            L + W / 2, T + H + 40);
    fprintf(f,
            "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
            "font-size=\"13\">",
            L - 50, T + H / 2);
    xml_escape(f, p->ylabel);
    fprintf(f, "</text>\n");

    for (int s = 0; s < nser; s++) {
        const char *color = palette[s % MAX_SERIES];
        fprintf(f, "<g class=\"series\" data-algorithm=\"");
        xml_escape(f, ser[s].algorithm);
        fprintf(f, "\" stroke=\"%s\" fill=\"%s\">\n", color, color);
        if (p->theory)
            draw_theory(f, rows, &ser[s], &xa, &ya, L, T, W, H);
        /* The measured line, then one point per run. */
        shared |= draw_measured(f, rows, &ser[s], p->key, &xa, &ya, L, T, W, H);
        for (size_t k = 0; k < ser[s].n; k++) {
            const json_t *row = json_array_get(rows, ser[s].rows[k]);
            const json_t *v = json_object_get(row, p->key);
            if (!json_is_number(v))
                continue;
            json_int_t n = json_integer_value(json_object_get(row, "nodes"));
            fprintf(f, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"><title>",
                    px(&xa, (double)n, L, W), px(&ya, json_number_value(v), T + H, -H));
            xml_escape(f, json_string_value(json_object_get(row, "run")));
            fprintf(f, ": N=%lld, %.3f</title></circle>\n", (long long)n, json_number_value(v));
        }
        fprintf(f, "</g>\n");
    }
    fprintf(f, "</g>\n");
    return shared;
}

int compare_plot_svg(const json_t *rows, FILE *f)
{
    struct series *ser = calloc(MAX_SERIES, sizeof *ser);
    if (!ser)
        return -1;
    int nser = 0;
    double nmin = INFINITY, nmax = -INFINITY;
    bool log = false, dropped = false;
    size_t count = json_array_size(rows);
    for (size_t i = 0; i < count; i++) {
        const json_t *row = json_array_get(rows, i);
        const char *alg = json_string_value(json_object_get(row, "algorithm"));
        json_int_t n = json_integer_value(json_object_get(row, "nodes"));
        if (!alg || n <= 0)
            continue; /* no report: nothing to draw */
        int s = 0;
        while (s < nser && strcmp(ser[s].algorithm, alg) != 0)
            s++;
        if (s == nser) {
            if (nser == MAX_SERIES) {
                dropped = true;
                continue;
            }
            ser[nser++].algorithm = alg;
        }
        if (ser[s].n == sizeof ser[s].rows / sizeof ser[s].rows[0]) {
            dropped = true;
            continue;
        }
        ser[s].rows[ser[s].n++] = i;
        nmin = fmin(nmin, (double)n);
        nmax = fmax(nmax, (double)n);
        const char *per = json_string_value(json_object_get(row, "per"));
        log |= per && strcmp(per, "commit") == 0;
    }
    for (int s = 0; s < nser; s++)
        qsort_r(ser[s].rows, ser[s].n, sizeof ser[s].rows[0], cmp_by_n, (void *)rows);
    if (nser == 0)
        nmin = nmax = 1;

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<title>distlab: runs compared</title>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
            SVG_W, SVG_H, SVG_W, SVG_H);
    struct panel panels[2] = {
        {log ? "messages per CS (raft: per commit)" : "messages per CS", "messages per operation",
         "messages_per_op", true},
        {log ? "response time p50 (raft: commit latency)" : "response time p50", "milliseconds",
         "latency_p50_ms", false},
    };
    bool shared = false;
    for (int i = 0; i < 2; i++)
        shared |= draw_panel(f, rows, ser, nser, &panels[i], 20 + i * (PANEL_W + 20), nmin, nmax);

    /* The legend, one entry per algorithm, then what the dashes mean. */
    fprintf(f, "<g class=\"legend\" font-size=\"13\">\n");
    double x = 90, y = PANEL_H + 25;
    for (int s = 0; s < nser; s++) {
        const char *color = palette[s % MAX_SERIES];
        double w = 40 + 8.0 * (double)strlen(ser[s].algorithm);
        if (x + w > SVG_W - 20) {
            x = 90;
            y += 20;
        }
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>"
                "<text x=\"%.1f\" y=\"%.1f\">",
                x, y, x + 24, y, color, x + 12, y, color, x + 30, y + 4);
        xml_escape(f, ser[s].algorithm);
        fprintf(f, "</text>\n");
        x += w + 20;
    }
    y += 22;
    fprintf(f,
            "<line x1=\"90\" y1=\"%.1f\" x2=\"114\" y2=\"%.1f\" stroke=\"#000\" "
            "stroke-dasharray=\"6,4\"/><text x=\"120\" y=\"%.1f\">theory (token "
            "algorithms: the lower bound, under full load)</text>\n",
            y, y, y + 4);
    if (shared) {
        y += 20;
        fprintf(f,
                "<text class=\"note\" x=\"90\" y=\"%.1f\">several runs of one algorithm "
                "and N: the line goes through their mean</text>\n",
                y);
    }
    if (nser > 0 && nmin == nmax) {
        y += 20;
        fprintf(f,
                "<text class=\"note\" x=\"90\" y=\"%.1f\">every run has N = %.0f: one point "
                "per series; runs of other sizes draw the lines</text>\n",
                y, nmin);
    }
    if (dropped) {
        y += 20;
        fprintf(f,
                "<text class=\"note\" x=\"90\" y=\"%.1f\">too many runs or algorithms: not "
                "all are drawn</text>\n",
                y);
    }
    fprintf(f, "</g>\n</svg>\n");
    free(ser);
    return ferror(f) ? -1 : 0;
}

/* ---- the command ---- */

/* A directory with run.json or config.ini in it (report_build rebuilds a
 * run whose launcher was killed from config.ini and the traces). */
static bool is_run_dir(const char *dir, char *why, size_t cap)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        snprintf(why, cap, "%s", strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, cap, "not a directory");
        return false;
    }
    char path[4200];
    /* A directory that cannot be searched (another user's) says so. */
    static const char *const files[] = {"run.json", "config.ini"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (stat(path, &st) == 0)
            return true;
        if (errno != ENOENT) {
            snprintf(why, cap, "%s: %s", files[i], strerror(errno));
            return false;
        }
    }
    snprintf(why, cap, "not a run directory (no run.json or config.ini in it)");
    return false;
}

static int write_plot(const json_t *rows, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "distlab report: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = compare_plot_svg(rows, f);
    int e = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0) {
        fprintf(stderr, "distlab report: cannot write %s: %s\n", path, strerror(e));
        return -1;
    }
    return 0;
}

int compare_cmd(int argc, char **argv)
{
    bool compare = false, json = false;
    const char *plot = NULL;
    char **dirs = calloc((size_t)argc, sizeof *dirs);
    int ndirs = 0, code = 2;
    json_t *rows = NULL;
    if (!dirs) {
        fprintf(stderr, "distlab report: out of memory\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage("report", stdout);
            code = 0;
            goto out;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--compare") == 0) {
            compare = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--plot") == 0 || strncmp(argv[i], "--plot=", 7) == 0) {
            plot = argv[i][6] == '=' ? argv[i] + 7 : i + 1 < argc ? argv[++i] : NULL;
            if (!plot || !plot[0]) {
                fprintf(stderr, "distlab report: --plot needs a file name\n");
                goto usage;
            }
        } else if (strcmp(argv[i], "--") == 0) {
            while (++i < argc)
                dirs[ndirs++] = argv[i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "distlab report: unknown option %s\n", argv[i]);
            goto usage;
        } else {
            dirs[ndirs++] = argv[i];
        }
    }
    if (ndirs == 0) {
        fprintf(stderr, "distlab report: %s\n",
                compare ? "--compare needs at least one RUNDIR"
                        : "--plot draws a comparison: give --compare RUNDIR...");
        goto usage;
    }
    /* Every directory is checked before anything is built (and, as other
     * commands check their operands, before the options' combination): a
     * typo shows nothing rather than a table without the run it meant. */
    bool bad = false;
    for (int i = 0; i < ndirs; i++) {
        char why[256];
        if (!is_run_dir(dirs[i], why, sizeof why)) {
            fprintf(stderr, "distlab report: %s: %s\n", dirs[i], why);
            bad = true;
        }
    }
    if (bad)
        goto out;
    if (!compare) {
        fprintf(stderr, "distlab report: --plot draws a comparison: give --compare\n");
        goto usage;
    }
    rows = json_array();
    if (!rows)
        goto oom;
    code = 0;
    for (int i = 0; i < ndirs; i++) {
        json_t *rep = NULL;
        char err[DL_ERRLEN];
        if (report_build(dirs[i], &rep, err) < 0) {
            fprintf(stderr, "distlab report: %s: no report: %s\n", dirs[i], err);
            rep = NULL;
            code = 1;
        }
        json_t *row = compare_row(dirs[i], rep, rep ? NULL : err);
        json_decref(rep);
        if (!row || json_array_append_new(rows, row) < 0)
            goto oom;
    }
    if (compare_label(rows) < 0)
        goto oom;
    if (json) {
        json_dumpf(rows, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
    } else {
        compare_print_table(rows, stdout);
    }
    if (plot) {
        if (write_plot(rows, plot) < 0) {
            code = 2;
            goto out;
        }
        size_t points = 0;
        json_int_t n0 = -1;
        bool one_n = true;
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *nodes = json_object_get(json_array_get(rows, i), "nodes");
            if (!json_is_integer(nodes))
                continue;
            points++;
            one_n &= n0 < 0 || json_integer_value(nodes) == n0;
            n0 = json_integer_value(nodes);
        }
        fprintf(stderr, "distlab report: wrote %s (%zu run%s drawn)\n", plot, points,
                points == 1 ? "" : "s");
        if (points && one_n)
            fprintf(stderr, "distlab report: every run has N = %lld: one point per series\n",
                    (long long)n0);
    }
    goto out;
oom:
    fprintf(stderr, "distlab report: out of memory\n");
    code = 2;
    goto out;
usage:
    cli_usage("report", stderr);
    code = 2;
out:
    json_decref(rows);
    free(dirs);
    return code;
}
