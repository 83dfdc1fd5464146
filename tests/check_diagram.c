/* `distlab diagram`: space-time diagrams drawn from run directories that the
 * simulator writes (deterministic, no IPC) and from one real run.
 *
 * What is checked against the trace itself (read with trace_load_set): the
 * SVG is well-formed XML (a small checker here, and xmllint when it is
 * installed), one lane per shown process, one arrow per message sent in
 * the window between shown lanes, dropped and lost messages drawn short,
 * one bar per critical section, the window and --nodes filters, the bound
 * on messages, the escaping of a hostile run name, and the command's
 * errors. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/trace.h"
#include "ipc/util.h"
#include "ipc/wire.h"
#include "src/diagram.h"
#include "tests/helpers.h"

#define TCASE_TIMEOUT 120
#define CMD_TIMEOUT   60.0

/* diagram.c's command line prints usage through main.c, which a test does
 * not link; the command itself is tested through the binary. */
#include "src/cli.h"
void cli_usage(const char *name, FILE *f)
{
    fprintf(f, "usage: distlab %s\n", name);
}

/* ---- a small XML well-formedness checker ---- */

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == ':' || c == '.';
}

/* An entity reference at s (after '&'): returns its length up to ';' or 0. */
static size_t entity_len(const char *s)
{
    static const char *const named[] = {"lt;", "gt;", "amp;", "quot;", "apos;"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strncmp(s, named[i], strlen(named[i])) == 0)
            return strlen(named[i]);
    if (s[0] == '#') {
        size_t k = 1;
        bool hex = s[1] == 'x';
        k += hex;
        size_t d = k;
        while (hex ? strchr("0123456789abcdefABCDEF", s[k]) && s[k] : s[k] >= '0' && s[k] <= '9')
            k++;
        return k > d && s[k] == ';' ? k + 1 : 0;
    }
    return 0;
}

/* NULL when doc is well-formed XML (one root, tags nested and matched,
 * attributes quoted, every & an entity, no stray < or control character);
 * else a static message naming the offset. */
static const char *xml_check(const char *doc)
{
    static char why[200];
    const char *stack[512];
    size_t depth = 0, roots = 0;
    const char *s = doc;
#define BAD(...) (snprintf(why, sizeof why, __VA_ARGS__), why)
    while (*s) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
            return BAD("control character 0x%02x at %td", c, s - doc);
        if (c == '&') {
            size_t k = entity_len(s + 1);
            if (!k)
                return BAD("bare & at %td: %.20s", s - doc, s);
            s += 1 + k;
            continue;
        }
        if (c == '>' && depth == 0 && roots == 0)
            return BAD("stray > at %td", s - doc);
        if (c != '<') {
            if (depth == 0 && roots > 0 && c != ' ' && c != '\n' && c != '\t' && c != '\r')
                return BAD("text after the root at %td", s - doc);
            s++;
            continue;
        }
        if (strncmp(s, "<?", 2) == 0) {
            const char *e = strstr(s, "?>");
            if (!e || s != doc)
                return BAD("bad processing instruction at %td", s - doc);
            s = e + 2;
            continue;
        }
        if (strncmp(s, "<!--", 4) == 0) {
            const char *e = strstr(s + 4, "-->");
            if (!e)
                return BAD("unterminated comment at %td", s - doc);
            s = e + 3;
            continue;
        }
        bool close = s[1] == '/';
        const char *n = s + 1 + close;
        size_t nl = 0;
        while (name_char(n[nl]))
            nl++;
        if (!nl)
            return BAD("bad tag at %td: %.20s", s - doc, s);
        const char *p = n + nl;
        if (close) {
            while (*p == ' ' || *p == '\n')
                p++;
            if (*p != '>')
                return BAD("bad end tag at %td", s - doc);
            if (!depth || strncmp(stack[depth - 1], n, nl) != 0 || name_char(stack[depth - 1][nl]))
                return BAD("mismatched </%.*s> at %td", (int)nl, n, s - doc);
            depth--;
            s = p + 1;
            continue;
        }
        /* Attributes: name="value" or name='value', value without '<'. */
        for (;;) {
            bool space = false;
            while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
                p++, space = true;
            if (*p == '>' || (p[0] == '/' && p[1] == '>'))
                break;
            if (!space)
                return BAD("no space before an attribute at %td", p - doc);
            size_t an = 0;
            while (name_char(p[an]))
                an++;
            if (!an || p[an] != '=' || (p[an + 1] != '"' && p[an + 1] != '\''))
                return BAD("bad attribute at %td: %.30s", p - doc, p);
            char q = p[an + 1];
            p += an + 2;
            while (*p && *p != q) {
                if (*p == '<')
                    return BAD("< in an attribute at %td", p - doc);
                if (*p == '&') {
                    size_t k = entity_len(p + 1);
                    if (!k)
                        return BAD("bare & in an attribute at %td", p - doc);
                    p += k;
                }
                p++;
            }
            if (!*p)
                return BAD("unterminated attribute");
            p++;
        }
        if (depth == 0) {
            if (roots++)
                return BAD("a second root element at %td", s - doc);
        }
        if (*p == '/') {
            s = p + 2;
            continue;
        }
        if (depth == sizeof stack / sizeof stack[0])
            return BAD("too deep");
        stack[depth++] = n;
        s = p + 1;
    }
    if (depth)
        return BAD("%zu unclosed elements, the innermost <%.20s", depth, stack[depth - 1]);
    if (roots != 1)
        return BAD("no root element");
    return NULL;
#undef BAD
}

/* ---- helpers ---- */

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* A sim run directory in dir/name: `distlab sim CONF --seed S --out ...`. */
static char *sim_run(const char *dir, const char *conf, const char *seed, const char *name)
{
    char *ini = NULL, *out = NULL;
    ck_assert(asprintf(&ini, "%s/conf/%s", h_srcdir(), conf) > 0);
    ck_assert(asprintf(&out, "%s/%s", dir, name) > 0);
    struct h_proc p;
    int rc = h_run(&p, dir, name, CMD_TIMEOUT, "sim", ini, "--seed", seed, "--out", out, NULL);
    ck_assert_msg(rc == 0 || rc == 1, "`%s` exited %d", p.what, rc);
    ck_assert(h_exists(out));
    free(ini);
    return out;
}

/* Draw rundir into a string; returns 0 or diagram_write's error. */
static int draw(const char *rundir, const struct diagram_opts *o, enum diagram_format fmt,
                char **text, struct diagram_stats *st)
{
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    ck_assert(f != NULL);
    char err[DL_ERRLEN] = "";
    int rc = diagram_write(rundir, o, fmt, f, st, err);
    ck_assert(fclose(f) == 0);
    if (rc == 0)
        ck_assert_msg(len > 0, "empty diagram");
    return rc;
}

static const struct diagram_opts all_opts = {.from_us = -1, .to_us = -1};

/* Well-formed, by the checker here and by xmllint when it is there. */
static void assert_xml(const char *dir, const char *svg)
{
    const char *why = xml_check(svg);
    ck_assert_msg(why == NULL, "not well-formed XML: %s", why);
    if (system("command -v xmllint >/dev/null 2>&1") != 0)
        return;
    char *path = NULL, *cmd = NULL;
    ck_assert(asprintf(&path, "%s/check.svg", dir) > 0);
    FILE *f = fopen(path, "w");
    ck_assert(f && fputs(svg, f) >= 0 && fclose(f) == 0);
    ck_assert(asprintf(&cmd, "xmllint --noout '%s'", path) > 0);
    ck_assert_msg(system(cmd) == 0, "xmllint rejects %s", path);
    unlink(path);
    free(path);
    free(cmd);
}

/* What the trace holds, for the window [from, to] and lanes in[]. */
struct expect {
    size_t sends, recvs, enters, lanes;
    int n, procs;
};

static void expect_of(const char *rundir, int64_t from, int64_t to, const bool *in, int n,
                      struct expect *e)
{
    struct trace_set ts;
    char err[DL_ERRLEN];
    ck_assert_msg(trace_load_set(rundir, &ts, err) == 0, "%s", err);
    memset(e, 0, sizeof *e);
    e->n = n;
    for (size_t i = 0; i < ts.n; i++)
        if (ts.recs[i].node > e->procs)
            e->procs = ts.recs[i].node;
    for (size_t i = 0; i < ts.n; i++) {
        const struct trace_rec *r = &ts.recs[i];
        bool ends = r->node >= 1 && r->peer >= 1 && (!in || (in[r->node] && in[r->peer]));
        if (r->ev == TR_SEND && ends && r->t_us >= from && r->t_us <= to)
            e->sends++;
        if (r->ev == TR_RECV && ends && r->a >= from && r->a <= to)
            e->recvs++;
        if (r->ev == TR_ENTER && (!in || in[r->node]) && r->t_us >= from && r->t_us <= to)
            e->enters++;
    }
    for (int p = 1; p <= e->procs; p++)
        e->lanes += !in || in[p];
    trace_set_free(&ts);
}

/* ---- tests ---- */

/* Ricart-Agrawala's 8/12 example: three lanes, every message an arrow,
 * two critical sections. */
START_TEST(test_mutex_svg)
{
    char *dir = h_tmpdir();
    char *run = sim_run(dir, "ricart-agrawala-8-12.ini", "1", "ra");
    char *svg = NULL;
    struct diagram_stats st;
    ck_assert_int_eq(draw(run, &all_opts, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    struct expect e;
    expect_of(run, 0, INT64_MAX, NULL, 3, &e);
    ck_assert_uint_eq(e.sends, 8);
    ck_assert(strncmp(svg, "<?xml", 5) == 0);
    ck_assert(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert(strstr(svg, "viewBox=\"0 0 "));
    ck_assert_uint_eq(count(svg, "<rect class=\"lane\""), 3);
    ck_assert(strstr(svg, ">node 1<") && strstr(svg, ">node 3<") && !strstr(svg, ">node 4<"));
    ck_assert_uint_eq(count(svg, "<g class=\"msg"), e.sends);
    ck_assert_uint_eq(count(svg, "<g class=\"msg short"), 0);
    ck_assert_uint_eq(count(svg, "<g class=\"cs"), e.enters);
    ck_assert_uint_eq(e.enters, 2);
    /* Every arrow and bar carries its hover text; the arrows name their
     * type and key. */
    ck_assert_uint_eq(count(svg, "<g class=\"msg\" data-type=\"0\"><title>request: "), 4);
    ck_assert_uint_eq(count(svg, "<title>reply: "), 4);
    ck_assert(strstr(svg, "ts 12\n"));
    ck_assert_uint_eq(st.msgs_shown, 8);
    ck_assert_uint_eq(st.msgs_total, 8);
    ck_assert_uint_eq(st.cs_bars, 2);
    ck_assert_uint_eq(st.lanes, 3);
    ck_assert(!st.bounded);
    free(svg);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* A partition: every message it took is an arrow that stops short, with
 * the reason in its hover text. */
START_TEST(test_drops_short)
{
    char *dir = h_tmpdir();
    char *run = sim_run(dir, "ricart-agrawala-partition.ini", "1", "rp");
    char *svg = NULL;
    struct diagram_stats st;
    ck_assert_int_eq(draw(run, &all_opts, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    struct expect e;
    expect_of(run, 0, INT64_MAX, NULL, 5, &e);
    ck_assert_uint_gt(e.sends, e.recvs); /* the partition took some */
    ck_assert_uint_eq(count(svg, "<g class=\"msg"), e.sends);
    ck_assert_uint_eq(count(svg, "<g class=\"msg short"), e.sends - e.recvs);
    ck_assert_uint_eq(st.msgs_short, e.sends - e.recvs);
    ck_assert_uint_eq(count(svg, ": partition</title>"), e.sends - e.recvs);
    /* A short arrow ends in a cross, not an arrowhead. */
    const char *g = strstr(svg, "<g class=\"msg short");
    const char *end = strstr(g, "</g>");
    ck_assert(g && end);
    const char *mk = strstr(g, "#mk-drop"), *head = strstr(g, "marker-end");
    ck_assert(mk && mk < end);
    ck_assert(!head || head > end);
    /* The fault that cut the links is a mark across the lanes. */
    ck_assert_uint_ge(count(svg, "<g class=\"mark fault\">"), 2);
    ck_assert(strstr(svg, "fault.1: partition at 500.000 ms"));
    ck_assert(strstr(svg, "<g class=\"netcut\">"));
    ck_assert_uint_eq(count(svg, "<g class=\"cs"), e.enters);
    free(svg);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* --from/--to and --nodes: the arrows are the messages sent in the window
 * between the lanes shown; spans are clipped. */
START_TEST(test_window_and_lanes)
{
    char *dir = h_tmpdir();
    char *run = sim_run(dir, "raft-4-split-vote.ini", "1660", "rv");
    char *svg = NULL;
    struct diagram_stats st;
    struct diagram_opts o = {.from_us = 250000, .to_us = 1200000};
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    struct expect e;
    expect_of(run, o.from_us, o.to_us, NULL, 4, &e);
    ck_assert_int_eq(e.procs, 5); /* 4 nodes and a client */
    ck_assert_uint_eq(count(svg, "<rect class=\"lane\""), 5);
    ck_assert(strstr(svg, ">client 1 <"));
    ck_assert_uint_gt(e.sends, 0);
    ck_assert_uint_eq(count(svg, "<g class=\"msg"), e.sends);
    ck_assert_int_eq(st.from_us, 250000);
    ck_assert_int_eq(st.to_us, 1200000);
    /* The split vote: two candidates in term 1 and no leader in the
     * window, each lane coloured by its role with the term. */
    ck_assert_uint_ge(count(svg, ">candidate t1<"), 2);
    ck_assert(!strstr(svg, ">leader t1<"));
    free(svg);

    bool in[DL_MAX_PROCS + 1] = {false};
    in[1] = in[2] = in[4] = true;
    o.nodes = "1-2,4";
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    expect_of(run, o.from_us, o.to_us, in, 4, &e);
    ck_assert_uint_eq(count(svg, "<rect class=\"lane\""), 3);
    ck_assert(!strstr(svg, ">node 3<") && !strstr(svg, ">client 1"));
    ck_assert_uint_eq(count(svg, "<g class=\"msg"), e.sends);
    ck_assert_uint_eq(st.lanes, 3);
    ck_assert_uint_eq(st.lanes_total, 5);
    free(svg);

    /* Clients by name: c1 is process 5. */
    o.nodes = "1,c1";
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &svg, &st), 0);
    ck_assert_uint_eq(count(svg, "<rect class=\"lane\""), 2);
    ck_assert(strstr(svg, ">client 1 <"));
    free(svg);

    /* Unknown lanes and an inverted window are refused. */
    char *t = NULL;
    o.nodes = "6";
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &t, &st), -EINVAL);
    free(t);
    o.nodes = "c2";
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &t, &st), -EINVAL);
    free(t);
    o.nodes = "1,x";
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &t, &st), -EINVAL);
    free(t);
    o.nodes = NULL;
    o.from_us = 2000000;
    o.to_us = 1000000;
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &t, &st), -EINVAL);
    free(t);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* More messages than the bound: the default window is the start of the
 * run up to the bound, and says so. */
START_TEST(test_bound)
{
    char *dir = h_tmpdir();
    char *run = sim_run(dir, "raft-4-split-vote.ini", "1660", "rv");
    char *svg = NULL;
    struct diagram_stats st;
    struct diagram_opts o = {.from_us = -1, .to_us = -1, .max_msgs = 50};
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    ck_assert(st.bounded);
    ck_assert_uint_le(st.msgs_shown, 50);
    ck_assert_uint_ge(st.msgs_shown, 40);
    ck_assert_uint_gt(st.msgs_total, 500);
    ck_assert_int_eq(st.from_us, 0);
    ck_assert_int_lt(st.to_us, st.end_us);
    struct expect e;
    expect_of(run, 0, st.to_us, NULL, 4, &e);
    ck_assert_uint_eq(count(svg, "<g class=\"msg"), e.sends);
    ck_assert_uint_eq(e.sends, st.msgs_shown);
    free(svg);
    /* An explicit end is taken as it is. */
    o.to_us = 3000000;
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &svg, &st), 0);
    ck_assert(!st.bounded);
    ck_assert_uint_gt(st.msgs_shown, 50);
    free(svg);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Raft's split brain around the heal: roles with terms, the roll-back of
 * the uncommitted entries, client operations that timed out. */
START_TEST(test_raft_rollback)
{
    char *dir = h_tmpdir();
    char *run = sim_run(dir, "raft-split-brain.ini", "706", "sb");
    char *svg = NULL;
    struct diagram_stats st;
    struct diagram_opts o = {.from_us = 4950000, .to_us = 5060000};
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    struct expect e;
    expect_of(run, o.from_us, o.to_us, NULL, 5, &e);
    ck_assert_uint_eq(count(svg, "<rect class=\"lane\""), 8); /* 5 nodes, 3 clients */
    ck_assert_uint_eq(count(svg, "<g class=\"msg"), e.sends);
    ck_assert(strstr(svg, ">leader t1<") && strstr(svg, ">leader t2<"));
    ck_assert_uint_ge(count(svg, "rolled back its log"), 1);
    ck_assert(strstr(svg, "fault.1: heal (its automatic undo) at 5000.000 ms"));
    ck_assert_uint_gt(st.ops, 0);
    ck_assert(strstr(svg, "timed out"));
    ck_assert(strstr(svg, "operation "));
    free(svg);
    /* The page: one file, nothing fetched, the SVG inside well-formed. */
    char *html = NULL;
    ck_assert_int_eq(draw(run, &o, DIAGRAM_HTML, &html, &st), 0);
    ck_assert(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    ck_assert(!strstr(html, "src=") && !strstr(html, "href=\"http") && !strstr(html, "@import"));
    ck_assert(!strstr(html, "url(http") && !strstr(html, "https:") && !strstr(html, "<link"));
    ck_assert(strstr(html, "data-ready"));
    ck_assert(strstr(html, "log roll-back"));
    const char *a = strstr(html, "<svg xmlns="), *b = strstr(html, "</svg>\n</div>");
    ck_assert(a && b && a < b);
    char *inner = strndup(a, (size_t)(b - a) + 6);
    assert_xml(dir, inner);
    free(inner);
    free(html);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* A vote's answer shows whether it granted the vote: in the label (a check
 * or a cross after the term) and in the hover text, as the trace has it. */
START_TEST(test_vote_granted)
{
    char *dir = h_tmpdir();
    char *run = sim_run(dir, "raft-4-split-vote.ini", "1660", "sv");
    char *svg = NULL;
    struct diagram_stats st;
    struct diagram_opts o = {.from_us = 0, .to_us = 700000};
    ck_assert_int_eq(draw(run, &o, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    size_t yes = count(svg, "granted: yes"), no = count(svg, "granted: no");
    /* Term 1 splits 2-2: each candidate is granted one vote and refused. */
    ck_assert_uint_ge(yes, 2);
    ck_assert_uint_ge(no, 2);
    ck_assert_uint_eq(count(svg, " \xe2\x9c\x93</text>"), yes);
    ck_assert_uint_eq(count(svg, " \xe2\x9c\x97</text>"), no);
    /* Every answer says which, and nothing else carries a mark. */
    ck_assert_uint_eq(yes + no, count(svg, "request_vote_resp: "));
    free(svg);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* A run name is anything run.json says: it is escaped everywhere. */
START_TEST(test_hostile_strings)
{
    char *dir = h_tmpdir();
    char *run = sim_run(dir, "ricart-agrawala-8-12.ini", "1", "ra");
    char *path = NULL;
    ck_assert(asprintf(&path, "%s/run.json", run) > 0);
    json_t *j = h_json_file(path);
    /* U+FFFE and U+FFFF are UTF-8 (and JSON), but no XML character. */
    const char *evil =
        "<script>alert(\"x\")</script> & ' ]]> <!-- \x01 </svg> \xef\xbf\xbe\xef\xbf\xbf";
    json_object_set_new(j, "name", json_string(evil));
    ck_assert(json_dump_file(j, path, 0) == 0);
    json_decref(j);
    char *svg = NULL, *html = NULL;
    struct diagram_stats st;
    ck_assert_int_eq(draw(run, &all_opts, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    ck_assert(!strstr(svg, "<script"));
    ck_assert(strstr(svg, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39; ]]&gt;"));
    ck_assert_uint_eq(count(svg, "</svg>"), 1);
    ck_assert(!strchr(svg, '\x01'));
    ck_assert(!strstr(svg, "\xef\xbf\xbe") && !strstr(svg, "\xef\xbf\xbf"));
    ck_assert(strstr(svg, "\\xef\\xbf\\xbe\\xef\\xbf\\xbf"));
    ck_assert_int_eq(draw(run, &all_opts, DIAGRAM_HTML, &html, &st), 0);
    ck_assert_uint_eq(count(html, "<script"), 2); /* the page's own two */
    ck_assert(!strstr(html, "alert(\""));
    ck_assert(strstr(html, "<h1>&lt;script&gt;alert(&quot;x&quot;)"));
    ck_assert(!strstr(html, "<!-- "));
    free(svg);
    free(html);
    free(path);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

static void expect_exit(struct h_proc *p, int rc, int want, const char *err_has)
{
    char *err = h_err(p);
    if (rc != want || (err_has && !strstr(err, err_has)))
        ck_abort_msg("`%s` exited %d (expected %d); stderr:\n%.2000s", p->what, rc, want, err);
    free(err);
}

/* The command: default output, -o, --help, what it says it left out, and
 * exit 2 with a clear message on bad input. */
START_TEST(test_cli)
{
    char *dir = h_tmpdir();
    char *run = sim_run(dir, "raft-split-brain.ini", "706", "sb");
    struct h_proc p;
    int rc = h_run(&p, dir, "d1", CMD_TIMEOUT, "diagram", run, NULL);
    expect_exit(&p, rc, 0, "messages; use --from/--to for the rest");
    char *out = h_out(&p), *want = NULL;
    ck_assert(asprintf(&want, "%s/diagram.html\n", run) > 0);
    ck_assert_str_eq(out, want);
    char *err = h_err(&p);
    /* At most the bound (fewer when messages share the cut's moment). */
    ck_assert_msg(strstr(err, "showing 0.000-") && strstr(err, " messages; use --from/--to"), "%s",
                  err);
    free(err);
    free(out);
    want[strlen(want) - 1] = '\0';
    char *html = h_slurp(want);
    ck_assert(html && strstr(html, "</html>"));
    free(html);
    free(want);

    char *svgpath = NULL;
    ck_assert(asprintf(&svgpath, "%s/x.svg", dir) > 0);
    rc = h_run(&p, dir, "d2", CMD_TIMEOUT, "diagram", run, "-o", svgpath, "--from", "4.9s", "--to",
               "5100ms", "--nodes", "1-3,c1", NULL);
    expect_exit(&p, rc, 0, "4 of 8 lanes");
    char *svg = h_slurp(svgpath);
    ck_assert(svg);
    assert_xml(dir, svg);
    ck_assert_uint_eq(count(svg, "<rect class=\"lane\""), 4);
    free(svg);

    rc = h_run(&p, dir, "h", CMD_TIMEOUT, "diagram", "--help", NULL);
    expect_exit(&p, rc, 0, NULL);
    out = h_out(&p);
    ck_assert(strstr(out, "usage: distlab diagram RUNDIR") && strstr(out, "--nodes"));
    free(out);
    rc = h_run(&p, dir, "h2", CMD_TIMEOUT, "--help", NULL);
    out = h_out(&p);
    ck_assert(strstr(out, "  diagram ") && !strstr(out, "Not in this version"));
    free(out);

    char *nodir = NULL;
    ck_assert(asprintf(&nodir, "%s/nope", dir) > 0);
    rc = h_run(&p, dir, "e1", CMD_TIMEOUT, "diagram", nodir, NULL);
    expect_exit(&p, rc, 2, "no such run directory");
    rc = h_run(&p, dir, "e2", CMD_TIMEOUT, "diagram", run, "--from", "soon", NULL);
    expect_exit(&p, rc, 2, "--from soon: not a time");
    rc = h_run(&p, dir, "e3", CMD_TIMEOUT, "diagram", run, "--from", "2s", "--to", "1s", NULL);
    expect_exit(&p, rc, 2, "--from is after --to");
    rc = h_run(&p, dir, "e3b", CMD_TIMEOUT, "diagram", run, "--from", "1min", NULL);
    expect_exit(&p, rc, 2, "after the end of the run");
    rc = h_run(&p, dir, "e3c", CMD_TIMEOUT, "diagram", dir, NULL);
    expect_exit(&p, rc, 2, "not a run directory");
    char *fake = NULL, *fakejson = NULL;
    ck_assert(asprintf(&fake, "%s/fake", dir) > 0 && asprintf(&fakejson, "%s/run.json", fake) > 0);
    ck_assert(mkdir(fake, 0755) == 0 && mkdir(fakejson, 0755) == 0);
    rc = h_run(&p, dir, "e3d", CMD_TIMEOUT, "diagram", fake, NULL);
    expect_exit(&p, rc, 2, "run.json: not a regular file");
    free(fake);
    free(fakejson);
    rc = h_run(&p, dir, "e4", CMD_TIMEOUT, "diagram", run, "--nodes", "1,9", NULL);
    expect_exit(&p, rc, 2, "no node 9 in this run");
    rc = h_run(&p, dir, "e5", CMD_TIMEOUT, "diagram", run, "-o", "x.png", NULL);
    expect_exit(&p, rc, 2, "must end in .svg or .html");
    rc = h_run(&p, dir, "e6", CMD_TIMEOUT, "diagram", NULL);
    expect_exit(&p, rc, 2, "usage: distlab diagram");
    rc = h_run(&p, dir, "e7", CMD_TIMEOUT, "diagram", run, "--bogus", NULL);
    expect_exit(&p, rc, 2, "usage: distlab diagram");
    free(nodir);
    free(svgpath);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* A real run (processes, queues, shared memory): the 8/12 example. */
START_TEST(test_real_run)
{
    char *dir = h_tmpdir();
    char *ini = NULL, *run = NULL;
    ck_assert(asprintf(&ini, "%s/conf/ricart-agrawala-8-12.ini", h_srcdir()) > 0);
    ck_assert(asprintf(&run, "%s/real", dir) > 0);
    struct h_proc p;
    int rc = h_run(&p, dir, "run", CMD_TIMEOUT, "run", ini, "--set", "cluster.duration=3s", "--out",
                   run, "--quiet", NULL);
    expect_exit(&p, rc, 0, NULL);
    char *svg = NULL;
    struct diagram_stats st;
    ck_assert_int_eq(draw(run, &all_opts, DIAGRAM_SVG, &svg, &st), 0);
    assert_xml(dir, svg);
    struct expect e;
    expect_of(run, 0, INT64_MAX, NULL, 3, &e);
    ck_assert_uint_eq(e.sends, 8); /* 2(N-1) per entry */
    ck_assert_uint_eq(count(svg, "<rect class=\"lane\""), 3);
    ck_assert_uint_eq(count(svg, "<g class=\"msg"), e.sends);
    /* Every send found its receive, though a message header's send time
     * may be a microsecond past the trace record of the send. */
    ck_assert_uint_eq(count(svg, "<g class=\"msg short"), 0);
    ck_assert_uint_eq(count(svg, "not traced"), 0);
    ck_assert_uint_eq(count(svg, "<g class=\"cs\">"), 2);
    free(svg);
    free(ini);
    free(run);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* The lane list parser on its own. */
START_TEST(test_parse_lanes)
{
    bool in[DL_MAX_PROCS + 1];
    char err[DL_ERRLEN];
    ck_assert_int_eq(diagram_parse_lanes("1,3-4,c2", 5, 2, in, err), 0);
    ck_assert(in[1] && !in[2] && in[3] && in[4] && !in[5] && !in[6] && in[7]);
    ck_assert_int_eq(diagram_parse_lanes("all", 3, 0, in, err), 0);
    ck_assert(in[1] && in[2] && in[3]);
    ck_assert_int_eq(diagram_parse_lanes("c1-c2", 3, 2, in, err), 0);
    ck_assert(!in[3] && in[4] && in[5]);
    ck_assert_int_eq(diagram_parse_lanes("0", 3, 0, in, err), -EINVAL);
    ck_assert_int_eq(diagram_parse_lanes("3-1", 3, 0, in, err), -EINVAL);
    ck_assert_int_eq(diagram_parse_lanes("", 3, 0, in, err), -EINVAL);
    ck_assert_int_eq(diagram_parse_lanes("1,,2", 3, 0, in, err), -EINVAL);
    ck_assert_int_eq(diagram_parse_lanes("4", 3, 0, in, err), -EINVAL);
    ck_assert_msg(strcmp(err, "--nodes 4: no node 4 in this run (nodes 1..3)") == 0, "%s", err);
    ck_assert_int_eq(diagram_parse_lanes("0", 5, 0, in, err), -EINVAL);
    ck_assert_msg(strcmp(err, "--nodes 0: no node 0 in this run (nodes 1..5)") == 0, "%s", err);
    ck_assert_int_eq(diagram_parse_lanes("c3", 5, 2, in, err), -EINVAL);
    ck_assert_msg(strstr(err, "no client 3 in this run (nodes 1..5, clients c1..c2)"), "%s", err);
}
END_TEST

/* The checker itself rejects what it must. */
START_TEST(test_xml_checker)
{
    ck_assert(xml_check("<a x=\"1\"><b/>t &amp; &#60;</a>") == NULL);
    ck_assert(xml_check("<a><b></a></b>") != NULL);
    ck_assert(xml_check("<a>&</a>") != NULL);
    ck_assert(xml_check("<a x=1/>") != NULL);
    ck_assert(xml_check("<a x=\"<\"/>") != NULL);
    ck_assert(xml_check("<a/><b/>") != NULL);
    ck_assert(xml_check("<a>\x01</a>") != NULL);
    ck_assert(xml_check("<a>") != NULL);
}
END_TEST

static Suite *diagram_suite(void)
{
    Suite *s = suite_create("diagram");
    TCase *tc = tcase_create("sim");
    tcase_set_timeout(tc, TCASE_TIMEOUT);
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_add_test(tc, test_xml_checker);
    tcase_add_test(tc, test_parse_lanes);
    tcase_add_test(tc, test_mutex_svg);
    tcase_add_test(tc, test_drops_short);
    tcase_add_test(tc, test_window_and_lanes);
    tcase_add_test(tc, test_bound);
    tcase_add_test(tc, test_raft_rollback);
    tcase_add_test(tc, test_vote_granted);
    tcase_add_test(tc, test_hostile_strings);
    tcase_add_test(tc, test_cli);
    suite_add_tcase(s, tc);
    TCase *real = tcase_create("real");
    tcase_set_timeout(real, TCASE_TIMEOUT);
    tcase_add_unchecked_fixture(real, h_root_setup, h_root_teardown);
    tcase_add_test(real, test_real_run);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(diagram_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
