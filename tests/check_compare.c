/* `distlab report --compare`, end to end: run directories made by the
 * simulator (fast, deterministic, no IPC) for centralized, Ricart-Agrawala
 * and token ring at N = 3 and 5 and one Raft run, then the binary as a
 * child process. The table has one row per run in the order given, with the
 * algorithm, N and the figures of each run's report.json and the right
 * theory; the JSON form has the same; the SVG is well-formed XML with one
 * series per algorithm and one point per run; bad input is exit 2 and a
 * run whose report cannot be built is named. */
#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "tests/helpers.h"

#define TCASE_TIMEOUT 120
#define CMD_TIMEOUT   60.0

struct run {
    const char *algorithm;
    const char *conf;
    int nodes;
    const char *dir; /* under the test's directory, and the label the table shows */
    const char *theory;
};

/* Deliberately not in N or algorithm order: the table keeps the order given. */
static const struct run runs[] = {
    {"ricart_agrawala", "ricart-agrawala.ini", 5, "ra-5", "8"},
    {"centralized", "default.ini", 3, "central-3", "3"},
    {"token_ring", "token-ring.ini", 5, "ring-5", "1..\u221e"},
    {"centralized", "default.ini", 5, "central-5", "3"},
    {"ricart_agrawala", "ricart-agrawala.ini", 3, "ra-3", "4"},
    {"token_ring", "token-ring.ini", 3, "ring-3", "1..\u221e"},
    {"raft", "raft-5.ini", 5, "raft-5", "10"},
};
#define NRUNS  ((int)(sizeof runs / sizeof runs[0]))
#define NMUTEX (NRUNS - 1)

static void expect_exit(struct h_proc *p, int rc, int want)
{
    if (rc == want)
        return;
    char *out = h_out(p), *err = h_err(p);
    ck_abort_msg("`%s` exited %d, expected %d; stdout:\n%.3000s\nstderr:\n%.2000s", p->what, rc,
                 want, out, err);
}

/* One run directory from the simulator: a short workload, a fixed seed. */
static void make_run(const char *dir, const struct run *r)
{
    char *ini = NULL, *out = h_path(dir, r->dir), nodes[64], requests[64];
    ck_assert(asprintf(&ini, "%s/conf/%s", h_srcdir(), r->conf) > 0);
    ck_assert_msg(h_exists(ini), "%s is missing (set DISTLAB_SRCDIR)", ini);
    snprintf(nodes, sizeof nodes, "cluster.nodes=%d", r->nodes);
    /* Raft's requests are the clients' total, the others' per node. */
    snprintf(requests, sizeof requests, "workload.requests=%d",
             strcmp(r->algorithm, "raft") == 0 ? 100 : 20);
    struct h_proc p;
    expect_exit(&p,
                h_run(&p, dir, "sim", CMD_TIMEOUT, "sim", ini, "--seed", "5", "--out", out, "--set",
                      nodes, "--set", requests, NULL),
                0);
    free(ini);
    free(out);
}

/* Every run of the table in dir; argv for `report --compare` with them. */
static void make_runs(const char *dir)
{
    for (int i = 0; i < NRUNS; i++)
        make_run(dir, &runs[i]);
}

static json_t *report_of(const char *dir, const struct run *r)
{
    char *rd = h_path(dir, r->dir);
    json_t *rep = h_json_in(rd, "report.json");
    free(rd);
    return rep;
}

/* `distlab report --compare` over every run, plus extra arguments. */
static int compare_all(struct h_proc *p, const char *dir, const char *tag, const char *a1,
                       const char *a2)
{
    char *d[NRUNS];
    for (int i = 0; i < NRUNS; i++)
        d[i] = h_path(dir, runs[i].dir);
    int rc = h_run(p, dir, tag, CMD_TIMEOUT, "report", "--compare", d[0], d[1], d[2], d[3], d[4],
                   d[5], d[6], a1, a2, NULL);
    for (int i = 0; i < NRUNS; i++)
        free(d[i]);
    return rc;
}

/* ---- the table ---- */

/* The lines of a text, split in place. */
static int split_lines(char *text, char **lines, int cap)
{
    int n = 0;
    for (char *s = text; *s && n < cap;) {
        lines[n++] = s;
        char *nl = strchr(s, '\n');
        if (!nl)
            break;
        *nl = '\0';
        s = nl + 1;
    }
    return n;
}

/* The words of a line (a copy split at spaces). */
static int split_words(const char *line, char *buf, size_t cap, char **w, int wcap)
{
    snprintf(buf, cap, "%s", line);
    int n = 0;
    for (char *t = strtok(buf, " "); t && n < wcap; t = strtok(NULL, " "))
        w[n++] = t;
    return n;
}

/* The screen column where byte offset off of a UTF-8 line is. */
static int column_of(const char *line, size_t off)
{
    int col = 0;
    for (size_t i = 0; i < off; i++)
        col += ((unsigned char)line[i] & 0xC0) != 0x80;
    return col;
}

static void expect_num(const char *word, const json_t *rep, const char *path, int decimals,
                       const char *what)
{
    char want[64];
    json_t *v = h_jget(rep, path);
    if (json_is_number(v))
        snprintf(want, sizeof want, "%.*f", decimals, json_number_value(v));
    else
        snprintf(want, sizeof want, "-");
    ck_assert_msg(strcmp(word, want) == 0, "%s: the table says %s, report.json's %s is %s", what,
                  word, path, want);
}

START_TEST(test_table)
{
    char *dir = h_tmpdir();
    make_runs(dir);
    struct h_proc p;
    expect_exit(&p, compare_all(&p, dir, "table", NULL, NULL), 0);
    char *out = h_out(&p);
    char *lines[64];
    int nl = split_lines(out, lines, 64);
    ck_assert_msg(nl >= 1 + NRUNS, "too few lines:\n%s", out);
    char buf[512], *w[32];
    int nw = split_words(lines[0], buf, sizeof buf, w, 32);
    ck_assert_msg(nw >= 9 && strcmp(w[0], "run") == 0 && strcmp(w[1], "algorithm") == 0 &&
                      strcmp(w[2], "N") == 0 && strcmp(w[nw - 1], "safe") == 0,
                  "header: %s", lines[0]);
    /* The verdict column starts at one screen column in every line, and N
     * (right-aligned) ends at one: the columns are aligned, "∞" counted as
     * one column. */
    int safe_col = column_of(lines[0], (size_t)(strstr(lines[0], "safe") - lines[0]));
    int n_end = column_of(lines[0], (size_t)(strstr(lines[0], " N ") - lines[0])) + 2;
    for (int i = 0; i < NRUNS; i++) {
        const struct run *r = &runs[i];
        const char *line = lines[1 + i];
        nw = split_words(line, buf, sizeof buf, w, 32);
        /* run, algorithm, N, msgs, (theory, X), throughput, unit, p50, p99,
         * sync, safe */
        ck_assert_msg(nw == 12, "row %d has %d words: %s", i + 1, nw, line);
        ck_assert_msg(strcmp(w[0], r->dir) == 0, "row %d is %s, expected %s (order as given)",
                      i + 1, w[0], r->dir);
        ck_assert_str_eq(w[1], r->algorithm);
        ck_assert_int_eq(atoi(w[2]), r->nodes);
        json_t *rep = report_of(dir, r);
        bool raft = strcmp(r->algorithm, "raft") == 0;
        expect_num(w[3], rep, raft ? "messages_per_commit" : "messages_per_cs", 2, r->dir);
        ck_assert_str_eq(w[4], "(theory");
        char theory[32];
        snprintf(theory, sizeof theory, "%s)", r->theory);
        ck_assert_msg(strcmp(w[5], theory) == 0, "%s: theory %s, expected %s", r->dir, w[5],
                      theory);
        if (!raft) /* the table's theory is the report's */
            ck_assert_double_eq_tol(h_jnum(rep, "theory_messages_per_cs"), atof(r->theory), 1e-9);
        expect_num(w[6], rep, raft ? "throughput_ops_per_s" : "throughput_cs_per_s", 1, r->dir);
        ck_assert_str_eq(w[7], raft ? "commits/s" : "CS/s");
        expect_num(w[8], rep, raft ? "commit_latency_ms.p50" : "response_ms.p50", 3, r->dir);
        expect_num(w[9], rep, raft ? "commit_latency_ms.p99" : "response_ms.p99", 3, r->dir);
        if (raft)
            ck_assert_str_eq(w[10], "-");
        else
            expect_num(w[10], rep, "sync_delay_ms.p50", 3, r->dir);
        ck_assert_str_eq(w[11], "safe");
        ck_assert(h_jbool(rep, "safe"));
        const char *sv = strstr(line, "  safe");
        ck_assert_msg(sv && column_of(line, (size_t)(sv + 2 - line)) == safe_col,
                      "the verdict column is not aligned:\n%s\n%s", lines[0], line);
        const char *nn = strstr(line + strlen(w[0]), w[1]) + strlen(w[1]);
        while (*nn == ' ')
            nn++;
        ck_assert_msg(column_of(line, (size_t)(nn - line)) + (int)strlen(w[2]) == n_end,
                      "N is not aligned:\n%s\n%s", lines[0], line);
        json_decref(rep);
    }
    /* Measured against theory where the simulator's figure is exact. */
    ck_assert_msg(strstr(lines[1], " 8.00 (theory 8)") && strstr(lines[5], " 4.00 (theory 4)") &&
                      strstr(lines[2], " 3.00 (theory 3)"),
                  "%s\n%s\n%s", lines[1], lines[5], lines[2]);
    free(out);
    out = h_out(&p);
    ck_assert_msg(strstr(out, "commit latency"), "no note on Raft's figures:\n%s", out);
    free(out);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- JSON ---- */

static const char *const row_keys[] = {"run",
                                       "rundir",
                                       "name",
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
                                       "verdict",
                                       "safe",
                                       "error"};

static void expect_same(const json_t *row, const char *key, const json_t *rep, const char *path)
{
    json_t *a = json_object_get(row, key), *b = h_jget(rep, path);
    if (json_is_null(b) || !b) {
        ck_assert_msg(json_is_null(a), "%s: %s should be null", h_jstr(row, "run"), key);
        return;
    }
    ck_assert_msg(json_is_number(a), "%s: %s is not a number", h_jstr(row, "run"), key);
    ck_assert_msg(fabs(json_number_value(a) - json_number_value(b)) < 1e-9,
                  "%s: %s is %.17g, report.json's %s %.17g", h_jstr(row, "run"), key,
                  json_number_value(a), path, json_number_value(b));
}

START_TEST(test_json)
{
    char *dir = h_tmpdir();
    make_runs(dir);
    struct h_proc p;
    expect_exit(&p, compare_all(&p, dir, "json", "--json", NULL), 0);
    char *out = h_out(&p);
    json_error_t jerr;
    json_t *rows = json_loads(out, 0, &jerr);
    ck_assert_msg(json_is_array(rows), "not a JSON array (%s):\n%.2000s", jerr.text, out);
    ck_assert_int_eq(json_array_size(rows), NRUNS);
    for (int i = 0; i < NRUNS; i++) {
        const struct run *r = &runs[i];
        json_t *row = json_array_get(rows, (size_t)i);
        for (size_t k = 0; k < sizeof row_keys / sizeof row_keys[0]; k++)
            ck_assert_msg(json_object_get(row, row_keys[k]), "row %d has no key %s", i,
                          row_keys[k]);
        ck_assert_int_eq(json_object_size(row), sizeof row_keys / sizeof row_keys[0]);
        ck_assert_str_eq(h_jstr(row, "run"), r->dir);
        ck_assert_str_eq(h_jstr(row, "algorithm"), r->algorithm);
        ck_assert_int_eq(h_jint(row, "nodes"), r->nodes);
        ck_assert_str_eq(h_jstr(row, "theory"), r->theory);
        ck_assert_str_eq(h_jstr(row, "verdict"), "safe");
        ck_assert(h_jbool(row, "safe"));
        ck_assert(json_is_null(json_object_get(row, "error")));
        bool raft = strcmp(r->algorithm, "raft") == 0;
        bool ring = strcmp(r->algorithm, "token_ring") == 0;
        ck_assert(h_jbool(row, "theory_unbounded") == ring);
        json_t *rep = report_of(dir, r);
        ck_assert_str_eq(h_jstr(row, "name"), h_jstr(rep, "name"));
        if (raft) {
            ck_assert_str_eq(h_jstr(row, "per"), "commit");
            ck_assert_str_eq(h_jstr(row, "latency"), "commit");
            ck_assert_str_eq(h_jstr(row, "throughput_unit"), "commits/s");
            expect_same(row, "messages_per_op", rep, "messages_per_commit");
            ck_assert_double_eq_tol(h_jnum(row, "theory_messages_per_op"), 2.0 * r->nodes, 1e-9);
            expect_same(row, "throughput_per_s", rep, "throughput_ops_per_s");
            expect_same(row, "latency_p50_ms", rep, "commit_latency_ms.p50");
            expect_same(row, "latency_p99_ms", rep, "commit_latency_ms.p99");
            ck_assert(json_is_null(json_object_get(row, "sync_delay_p50_ms")));
        } else {
            ck_assert_str_eq(h_jstr(row, "per"), "cs");
            ck_assert_str_eq(h_jstr(row, "latency"), "response");
            ck_assert_str_eq(h_jstr(row, "throughput_unit"), "CS/s");
            expect_same(row, "messages_per_op", rep, "messages_per_cs");
            expect_same(row, "theory_messages_per_op", rep, "theory_messages_per_cs");
            expect_same(row, "throughput_per_s", rep, "throughput_cs_per_s");
            expect_same(row, "latency_p50_ms", rep, "response_ms.p50");
            expect_same(row, "latency_p99_ms", rep, "response_ms.p99");
            expect_same(row, "sync_delay_p50_ms", rep, "sync_delay_ms.p50");
        }
        json_decref(rep);
    }
    json_decref(rows);
    free(out);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- the chart ---- */

/* What a small XML checker saw in an SVG: its well-formedness, and the
 * panels, series and points the chart is made of. */
#define SVG_PANELS 4
#define SVG_SERIES 8
struct svg {
    char err[256];
    int panels;
    int series[SVG_PANELS];
    char alg[SVG_PANELS][SVG_SERIES][64];
    int points[SVG_PANELS][SVG_SERIES];
    int theory[SVG_PANELS];
    int notes;
};

static bool svg_fail(struct svg *s, const char *p, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s at \"%.40s\"", what, p);
    return false;
}

static bool xml_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == ':' || c == '.';
}

/* An entity at p ("&amp;", "&#38;"): its length, 0 when malformed. */
static size_t entity_len(const char *p)
{
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < 5; i++)
        if (strncmp(p, named[i], strlen(named[i])) == 0)
            return strlen(named[i]);
    if (p[1] == '#') {
        size_t k = 2;
        while (isalnum((unsigned char)p[k]))
            k++;
        return p[k] == ';' && k > 2 ? k + 1 : 0;
    }
    return 0;
}

/* Well-formed: one root element, every tag closed in order, attributes
 * quoted and unique-named per tag by construction, entities valid, no
 * control characters. Fills the chart's counts from class attributes. */
static bool svg_check(const char *text, struct svg *s)
{
    memset(s, 0, sizeof *s);
    char stack[64][32];
    int depth = 0, roots = 0, series_depth = -1;
    const char *p = text;
    if (strncmp(p, "<?xml", 5) == 0) {
        p = strstr(p, "?>");
        if (!p)
            return svg_fail(s, text, "unterminated XML declaration");
        p += 2;
    }
    while (*p) {
        if (*p != '<') {
            if (*p == '&' && !entity_len(p))
                return svg_fail(s, p, "bad entity in text");
            if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
                return svg_fail(s, p, "control character");
            if (depth == 0 && !isspace((unsigned char)*p))
                return svg_fail(s, p, "text outside the root");
            p++;
            continue;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            const char *e = strstr(p, "-->");
            if (!e)
                return svg_fail(s, p, "unterminated comment");
            p = e + 3;
            continue;
        }
        bool closing = p[1] == '/';
        const char *n = p + 1 + closing;
        size_t len = 0;
        while (xml_name_char(n[len]))
            len++;
        if (len == 0 || len >= sizeof stack[0])
            return svg_fail(s, p, "bad tag name");
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)len, n);
        const char *q = n + len;
        if (closing) {
            while (isspace((unsigned char)*q))
                q++;
            if (*q != '>')
                return svg_fail(s, p, "bad closing tag");
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return svg_fail(s, p, "closing tag does not match");
            if (--depth == series_depth)
                series_depth = -1;
            p = q + 1;
            continue;
        }
        char cls[64] = "", alg[64] = "";
        for (;;) {
            const char *ws = q;
            while (isspace((unsigned char)*q))
                q++;
            if (*q == '>' || (q[0] == '/' && q[1] == '>'))
                break;
            if (q == ws)
                return svg_fail(s, q, "no space before an attribute");
            size_t an = 0;
            while (xml_name_char(q[an]))
                an++;
            if (an == 0 || q[an] != '=' || (q[an + 1] != '"' && q[an + 1] != '\''))
                return svg_fail(s, q, "bad attribute");
            char quote = q[an + 1];
            const char *v = q + an + 2, *e = v;
            for (; *e && *e != quote; e++) {
                if (*e == '<')
                    return svg_fail(s, e, "< in an attribute");
                if (*e == '&' && !entity_len(e))
                    return svg_fail(s, e, "bad entity in an attribute");
                if ((unsigned char)*e < 0x20)
                    return svg_fail(s, e, "control character in an attribute");
            }
            if (!*e)
                return svg_fail(s, q, "unterminated attribute");
            if (an == 5 && strncmp(q, "class", 5) == 0)
                snprintf(cls, sizeof cls, "%.*s", (int)(e - v), v);
            if (an == 14 && strncmp(q, "data-algorithm", 14) == 0)
                snprintf(alg, sizeof alg, "%.*s", (int)(e - v), v);
            q = e + 1;
        }
        bool empty = *q == '/';
        if (depth == 0 && roots++)
            return svg_fail(s, p, "a second root element");
        if (depth == 0 && strcmp(name, "svg") != 0)
            return svg_fail(s, p, "the root is not svg");
        int panel = s->panels - 1;
        if (strcmp(cls, "panel") == 0 && s->panels < SVG_PANELS)
            s->panels++;
        else if (strcmp(cls, "series") == 0 && panel >= 0 && s->series[panel] < SVG_SERIES) {
            snprintf(s->alg[panel][s->series[panel]++], 64, "%s", alg);
            series_depth = depth;
        } else if (strcmp(cls, "point") == 0 && panel >= 0 && series_depth >= 0)
            s->points[panel][s->series[panel] - 1]++;
        else if (strcmp(cls, "theory") == 0 && panel >= 0)
            s->theory[panel]++;
        else if (strcmp(cls, "note") == 0)
            s->notes++;
        if (!empty) {
            if (depth == 64)
                return svg_fail(s, p, "nested too deep");
            snprintf(stack[depth++], sizeof stack[0], "%s", name);
        }
        p = q + (empty ? 2 : 1);
    }
    if (depth)
        return svg_fail(s, stack[depth - 1], "unclosed element");
    if (!roots)
        return svg_fail(s, text, "no root element");
    return true;
}

/* xmllint's opinion too, when it is installed. */
static void xmllint_ok(const char *file)
{
    if (system("command -v xmllint >/dev/null 2>&1") != 0)
        return;
    char *cmd = NULL;
    ck_assert(asprintf(&cmd, "xmllint --noout '%s'", file) > 0);
    ck_assert_msg(system(cmd) == 0, "xmllint rejects %s", file);
    free(cmd);
}

/* The checker itself: it rejects what it must. */
START_TEST(test_svg_checker)
{
    struct svg s;
    ck_assert(svg_check("<svg><g class=\"panel\"><g class=\"series\" data-algorithm=\"x\">"
                        "<circle class=\"point\"/></g></g></svg>",
                        &s));
    ck_assert_int_eq(s.panels, 1);
    ck_assert_int_eq(s.series[0], 1);
    ck_assert_int_eq(s.points[0][0], 1);
    static const char *const bad[] = {
        "<svg><g></svg>",        "<svg><text>a & b</text></svg>",
        "<svg a=\"<\"/>",        "<svg></svg><svg></svg>",
        "<svg><title>x</title>", "<svg a=b/>",
        "<svg>\x01</svg>",       "<svg></g>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!svg_check(bad[i], &s), "accepted %s", bad[i]);
}
END_TEST

static int series_of(const struct svg *s, int panel, const char *alg)
{
    for (int k = 0; k < s->series[panel]; k++)
        if (strcmp(s->alg[panel][k], alg) == 0)
            return k;
    return -1;
}

START_TEST(test_plot)
{
    char *dir = h_tmpdir();
    make_runs(dir);
    char *svgfile = h_path(dir, "compare.svg");
    struct h_proc p;
    expect_exit(&p, compare_all(&p, dir, "plot", "--plot", svgfile), 0);
    char *text = h_slurp(svgfile);
    ck_assert_msg(text && text[0], "%s was not written", svgfile);
    struct svg s;
    ck_assert_msg(svg_check(text, &s), "%s is not well-formed: %s", svgfile, s.err);
    xmllint_ok(svgfile);
    ck_assert_int_eq(s.panels, 2);
    for (int panel = 0; panel < 2; panel++) {
        ck_assert_int_eq(s.series[panel], 4); /* one per algorithm */
        int total = 0;
        for (int k = 0; k < s.series[panel]; k++)
            total += s.points[panel][k];
        ck_assert_int_eq(total, NRUNS); /* one per run */
        for (int i = 0; i < NRUNS; i++) {
            int k = series_of(&s, panel, runs[i].algorithm);
            ck_assert_msg(k >= 0, "panel %d has no series %s", panel, runs[i].algorithm);
            ck_assert_int_eq(s.points[panel][k], strcmp(runs[i].algorithm, "raft") == 0 ? 1 : 2);
        }
    }
    ck_assert_int_eq(s.theory[0], 4); /* dashed, in the messages panel */
    ck_assert_int_eq(s.theory[1], 0);
    ck_assert_int_eq(s.notes, 0); /* two sizes: nothing to say */
    ck_assert(strstr(text, "N (nodes)") && strstr(text, "stroke-dasharray"));
    /* The table is still printed. */
    char *out = h_out(&p);
    ck_assert_msg(strstr(out, "ra-5") && strstr(out, "raft-5"), "%s", out);
    free(out);
    free(text);
    free(svgfile);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Runs all of one N still draw: one point per series, and it says so. */
START_TEST(test_plot_one_size)
{
    char *dir = h_tmpdir();
    const int five[] = {0, 2, 3, 6}; /* ra-5, ring-5, central-5, raft-5 */
    char *d[4];
    for (int i = 0; i < 4; i++) {
        make_run(dir, &runs[five[i]]);
        d[i] = h_path(dir, runs[five[i]].dir);
    }
    char *svgfile = h_path(dir, "one.svg");
    struct h_proc p;
    expect_exit(&p,
                h_run(&p, dir, "one", CMD_TIMEOUT, "report", "--compare", d[0], d[1], d[2], d[3],
                      "--plot", svgfile, NULL),
                0);
    char *text = h_slurp(svgfile);
    ck_assert_msg(text && text[0], "%s was not written", svgfile);
    struct svg s;
    ck_assert_msg(svg_check(text, &s), "%s is not well-formed: %s", svgfile, s.err);
    xmllint_ok(svgfile);
    ck_assert_int_eq(s.panels, 2);
    for (int panel = 0; panel < 2; panel++) {
        ck_assert_int_eq(s.series[panel], 4);
        for (int k = 0; k < 4; k++)
            ck_assert_int_eq(s.points[panel][k], 1);
    }
    ck_assert_int_eq(s.notes, 1);
    ck_assert_msg(strstr(text, "every run has N = 5"), "the chart does not say so");
    char *err = h_err(&p);
    ck_assert_msg(strstr(err, "one point per series"), "stderr does not say so:\n%s", err);
    free(err);
    for (int i = 0; i < 4; i++)
        free(d[i]);
    free(text);
    free(svgfile);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Names repeat (two runs of one configuration): the label is the
 * directory's last component, escaped in the SVG and the table alike. */
START_TEST(test_labels_escaped)
{
    char *dir = h_tmpdir();
    struct run a = runs[1], b = runs[3];
    a.dir = "plain";
    b.dir = "x<&\"y";
    make_run(dir, &a);
    make_run(dir, &b);
    char *da = h_path(dir, a.dir), *db = h_path(dir, b.dir);
    char *svgfile = h_path(dir, "esc.svg");
    struct h_proc p;
    expect_exit(
        &p,
        h_run(&p, dir, "esc", CMD_TIMEOUT, "report", "--compare", da, db, "--plot", svgfile, NULL),
        0);
    char *out = h_out(&p);
    ck_assert_msg(strstr(out, "\nplain ") && strstr(out, "\nx<&\"y "), "%s", out);
    free(out);
    char *text = h_slurp(svgfile);
    struct svg s;
    ck_assert_msg(svg_check(text, &s), "not well-formed: %s", s.err);
    xmllint_ok(svgfile);
    ck_assert_msg(strstr(text, "x&lt;&amp;&quot;y"), "the label is not escaped");
    ck_assert_int_eq(s.series[0], 1);
    ck_assert_int_eq(s.points[0][0], 2);
    /* JSON keeps the directory as given. */
    expect_exit(
        &p, h_run(&p, dir, "escj", CMD_TIMEOUT, "report", "--compare", "--json", db, da, NULL), 0);
    out = h_out(&p);
    json_t *rows = json_loads(out, 0, NULL);
    ck_assert(json_is_array(rows));
    ck_assert_str_eq(h_jstr(json_array_get(rows, 0), "run"), "x<&\"y");
    ck_assert_str_eq(h_jstr(json_array_get(rows, 0), "rundir"), db);
    json_decref(rows);
    free(out);
    free(text);
    free(svgfile);
    free(da);
    free(db);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Bytes JSON and XML cannot hold: a directory whose name is not UTF-8
 * (its row is still shown, the bytes as \xNN), a name with U+FFFE and
 * U+FFFF (legal JSON, not XML characters: the chart stays well-formed). */
START_TEST(test_labels_not_utf8)
{
    char *dir = h_tmpdir();
    struct run a = runs[1], b = runs[3];
    a.dir = "odd\xff\xfe";
    b.dir = "nonchar";
    make_run(dir, &a);
    make_run(dir, &b);
    char *da = h_path(dir, a.dir), *db = h_path(dir, b.dir);
    char *rj = h_path(db, "run.json");
    json_t *j = h_json_file(rj);
    json_object_set_new(j, "name", json_string("n\xef\xbf\xbe\xef\xbf\xbf<"));
    ck_assert(json_dump_file(j, rj, 0) == 0);
    json_decref(j);
    char *svgfile = h_path(dir, "odd.svg");
    struct h_proc p;
    expect_exit(
        &p,
        h_run(&p, dir, "odd", CMD_TIMEOUT, "report", "--compare", da, db, "--plot", svgfile, NULL),
        0);
    char *out = h_out(&p);
    ck_assert_msg(strstr(out, "\ndefault ") && strstr(out, "centralized"), "%s", out);
    free(out);
    char *text = h_slurp(svgfile);
    struct svg s;
    ck_assert_msg(svg_check(text, &s), "not well-formed: %s", s.err);
    ck_assert_msg(!strstr(text, "\xef\xbf\xbe") && !strstr(text, "\xff"),
                  "the chart holds bytes XML does not allow");
    xmllint_ok(svgfile);
    free(text);
    expect_exit(
        &p, h_run(&p, dir, "oddj", CMD_TIMEOUT, "report", "--compare", "--json", da, db, NULL), 0);
    out = h_out(&p);
    json_t *rows = json_loads(out, 0, NULL);
    ck_assert_msg(json_array_size(rows) == 2, "%s", out);
    const char *rd = h_jstr(json_array_get(rows, 0), "rundir");
    ck_assert_msg(strstr(rd, "/odd\\xff\\xfe"), "%s", rd);
    ck_assert_str_eq(h_jstr(json_array_get(rows, 0), "verdict"), "safe");
    json_decref(rows);
    free(out);
    free(svgfile);
    free(rj);
    free(da);
    free(db);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- errors ---- */

static void expect_err(const struct h_proc *p, const char *text)
{
    char *err = h_err(p);
    ck_assert_msg(strstr(err, text), "`%s` did not say \"%s\"; stderr:\n%.2000s", p->what, text,
                  err);
    free(err);
}

static void expect_no_out(const struct h_proc *p)
{
    char *out = h_out(p);
    ck_assert_msg(out[0] == '\0', "`%s` printed:\n%.2000s", p->what, out);
    free(out);
}

START_TEST(test_errors)
{
    char *dir = h_tmpdir();
    make_run(dir, &runs[1]);
    char *good = h_path(dir, runs[1].dir);
    char *empty = h_path(dir, "empty"), *missing = h_path(dir, "missing");
    ck_assert_int_eq(mkdir(empty, 0700), 0);
    struct h_proc p;

    /* Not a run directory: named, nothing shown, exit 2. */
    expect_exit(&p, h_run(&p, dir, "e1", CMD_TIMEOUT, "report", "--compare", good, empty, NULL), 2);
    expect_err(&p, empty);
    expect_err(&p, "not a run directory");
    expect_no_out(&p);
    expect_exit(&p, h_run(&p, dir, "e2", CMD_TIMEOUT, "report", "--compare", missing, good, NULL),
                2);
    expect_err(&p, missing);
    expect_no_out(&p);
    char *cfg = h_path(good, "config.ini");
    expect_exit(&p, h_run(&p, dir, "e3", CMD_TIMEOUT, "report", "--compare", cfg, NULL), 2);
    expect_err(&p, "not a directory");
    free(cfg);

    /* Usage errors. */
    expect_exit(&p, h_run(&p, dir, "u1", CMD_TIMEOUT, "report", good, "--plot", "x.svg", NULL), 2);
    expect_err(&p, "--compare");
    expect_err(&p, "usage: distlab report");
    char *xsvg = h_path(dir, "x.svg");
    ck_assert(!h_exists(xsvg));
    free(xsvg);
    expect_exit(&p, h_run(&p, dir, "u2", CMD_TIMEOUT, "report", "--compare", NULL), 2);
    expect_err(&p, "usage: distlab report");
    expect_exit(&p, h_run(&p, dir, "u3", CMD_TIMEOUT, "report", "--compare", good, "--bogus", NULL),
                2);
    expect_err(&p, "--bogus");
    expect_exit(&p, h_run(&p, dir, "u4", CMD_TIMEOUT, "report", "--compare", good, "--plot", NULL),
                2);
    expect_err(&p, "--plot needs a file name");

    /* A plot that cannot be written. */
    char *nowhere = h_path(missing, "x.svg");
    expect_exit(
        &p, h_run(&p, dir, "w1", CMD_TIMEOUT, "report", "--compare", good, "--plot", nowhere, NULL),
        2);
    expect_err(&p, nowhere);
    free(nowhere);

    /* A run whose report cannot be built: named, shown as "no report",
     * the others shown, exit 1. */
    char *broken = h_path(dir, "broken");
    ck_assert_int_eq(mkdir(broken, 0700), 0);
    free(h_write_ini(broken, "run.json", "{ \"algorithm\": "));
    expect_exit(&p, h_run(&p, dir, "b1", CMD_TIMEOUT, "report", "--compare", good, broken, NULL),
                1);
    expect_err(&p, broken);
    char *out = h_out(&p);
    ck_assert_msg(strstr(out, "no report") && strstr(out, "centralized"), "%s", out);
    free(out);
    expect_exit(
        &p, h_run(&p, dir, "b2", CMD_TIMEOUT, "report", "--compare", "--json", broken, good, NULL),
        1);
    out = h_out(&p);
    json_t *rows = json_loads(out, 0, NULL);
    ck_assert(json_array_size(rows) == 2);
    ck_assert_str_eq(h_jstr(json_array_get(rows, 0), "verdict"), "no report");
    ck_assert(json_is_string(json_object_get(json_array_get(rows, 0), "error")));
    ck_assert(json_is_null(json_object_get(json_array_get(rows, 0), "messages_per_op")));
    ck_assert_str_eq(h_jstr(json_array_get(rows, 1), "verdict"), "safe");
    json_decref(rows);
    free(out);

    /* One run given twice: names and directories repeat, so the label is
     * the directory as given; the chart's line goes through the mean of the
     * two points at that N and says so. */
    char *dup = h_path(dir, "dup.svg");
    expect_exit(
        &p,
        h_run(&p, dir, "dup", CMD_TIMEOUT, "report", "--compare", good, good, "--plot", dup, NULL),
        0);
    out = h_out(&p);
    char *second = strstr(out, good);
    ck_assert_msg(second && strstr(second + 1, good), "%s", out);
    free(out);
    char *text = h_slurp(dup);
    struct svg s;
    ck_assert_msg(text && svg_check(text, &s), "dup.svg: %s", s.err);
    ck_assert_int_eq(s.points[0][0], 2);
    ck_assert_msg(strstr(text, "through their mean"), "the chart does not say so");
    free(text);
    free(dup);

    /* The one-run report is unchanged. */
    expect_exit(&p, h_run(&p, dir, "one", CMD_TIMEOUT, "report", good, NULL), 0);
    out = h_out(&p);
    ck_assert_msg(strstr(out, "per CS (theory 3.00)"), "%s", out);
    free(out);
    /* --help documents the keys and the exit status. */
    expect_exit(&p, h_run(&p, dir, "help", CMD_TIMEOUT, "report", "--help", NULL), 0);
    out = h_out(&p);
    for (size_t k = 0; k < sizeof row_keys / sizeof row_keys[0]; k++)
        ck_assert_msg(strstr(out, row_keys[k]), "--help does not name the key %s", row_keys[k]);
    ck_assert(strstr(out, "Exit status"));
    free(out);

    free(broken);
    free(good);
    free(empty);
    free(missing);
    h_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *compare_suite(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("compare");
    tcase_set_timeout(tc, TCASE_TIMEOUT);
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_svg_checker);
    tcase_add_test(tc, test_plot);
    tcase_add_test(tc, test_plot_one_size);
    tcase_add_test(tc, test_labels_escaped);
    tcase_add_test(tc, test_labels_not_utf8);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(compare_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
