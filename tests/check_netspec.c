/* Network fault specs (netspec), the network state (netstate) and the
 * fault timeline (config_fault_timeline). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/config.h"
#include "src/netspec.h"
#include "src/netstate.h"

/* A net_links big enough to keep off the test's stack. */
static struct net_links *L(void)
{
    static struct net_links l;
    return &l;
}

/* The set as "a>b a>b ..." in order, for exact comparisons. */
static const char *links_str(const struct net_links *l)
{
    static char buf[4096];
    size_t n = 0;
    buf[0] = '\0';
    for (int a = 1; a <= l->n; a++)
        for (int b = 1; b <= l->n; b++)
            if (l->on[a][b])
                n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%d>%d", n ? " " : "", a, b);
    return buf;
}

static void expect_partition(const char *text, int n, const char *want)
{
    char err[NETSPEC_ERRLEN] = "";
    int rc = netspec_partition(text, n, L(), err);
    ck_assert_msg(rc == 0, "'%s': %s", text, err);
    ck_assert_msg(strcmp(links_str(L()), want) == 0, "'%s' on %d nodes: got '%s', want '%s'", text,
                  n, links_str(L()), want);
}

static void expect_partition_error(const char *text, int n, const char *want)
{
    char err[NETSPEC_ERRLEN] = "";
    ck_assert_int_eq(netspec_partition(text, n, L(), err), -EINVAL);
    ck_assert_msg(strcmp(err, want) == 0, "'%s': got error '%s', want '%s'", text, err, want);
}

static void expect_links(const char *text, int n, const char *want)
{
    char err[NETSPEC_ERRLEN] = "";
    int rc = netspec_links(text, n, L(), err);
    ck_assert_msg(rc == 0, "'%s': %s", text, err);
    ck_assert_msg(strcmp(links_str(L()), want) == 0, "'%s' on %d nodes: got '%s', want '%s'", text,
                  n, links_str(L()), want);
}

static void expect_links_error(const char *text, int n, const char *want)
{
    char err[NETSPEC_ERRLEN] = "";
    ck_assert_int_eq(netspec_links(text, n, L(), err), -EINVAL);
    ck_assert_msg(strcmp(err, want) == 0, "'%s': got error '%s', want '%s'", text, err, want);
}

/* ---- netspec_partition ---- */

START_TEST(test_partition_sides)
{
    expect_partition("1,2/3", 3, "1>3 2>3 3>1 3>2");
    expect_partition(" 1 , 2 / 3 ", 3, "1>3 2>3 3>1 3>2");
    /* Ranges, and a node not listed is a side of its own. */
    expect_partition("1-2/3", 4, "1>3 1>4 2>3 2>4 3>1 3>2 3>4 4>1 4>2 4>3");
    expect_partition("1/2", 2, "1>2 2>1");
    expect_partition("1-3/4-5", 5, "1>4 1>5 2>4 2>5 3>4 3>5 4>1 4>2 4>3 5>1 5>2 5>3");
    /* Three sides. */
    expect_partition("1/2/3", 3, "1>2 1>3 2>1 2>3 3>1 3>2");
    /* Every side is symmetric: b is cut from a exactly when a is from b. */
    ck_assert_int_eq(netspec_partition("1,3/2,5", 6, L(), NULL), 0);
    for (int a = 1; a <= 6; a++)
        for (int b = 1; b <= 6; b++)
            ck_assert_int_eq(L()->on[a][b], L()->on[b][a]);
    ck_assert_int_eq(L()->on[1][3], 0);
    ck_assert_int_eq(L()->on[2][5], 0);
    ck_assert_int_eq(L()->on[4][6], 1); /* both alone */
    ck_assert_int_eq(netspec_count(L()), 30 - 4);
    ck_assert_int_eq(L()->n, 6);
}
END_TEST

START_TEST(test_partition_links)
{
    expect_partition("1->3", 3, "1>3");
    expect_partition("1<->3", 3, "1>3 3>1");
    expect_partition("3->*", 3, "3>1 3>2");
    expect_partition("*->3", 3, "1>3 2>3");
    expect_partition("3<->*", 3, "1>3 2>3 3>1 3>2");
    expect_partition("1->3, 2<->4", 4, "1>3 2>4 4>2");
    expect_partition("1 -> 2,1->2", 2, "1>2"); /* twice is once */
    expect_partition("*->*", 2, "1>2 2>1");
}
END_TEST

START_TEST(test_partition_errors)
{
    expect_partition_error("", 5,
                           "expected sides like '1,2/3,4,5' or links like '1->3', got nothing");
    expect_partition_error("1,2,3", 5,
                           "'1,2,3' has one side: a partition needs two or more separated by '/' "
                           "(like 1,2/3,4,5), or links like 1->3");
    expect_partition_error("1,2/6", 5, "node 6 is not in 1..5 (in '1,2/6')");
    expect_partition_error("0/1", 5, "node 0 is not in 1..5 (in '0/1')");
    expect_partition_error("1,2/2", 5, "node 2 is listed twice in '1,2/2'");
    expect_partition_error("1-3/3", 5, "node 3 is listed twice in '1-3/3'");
    expect_partition_error("3-1/4", 5, "expected a range like 1-3 within 1..5 in '3-1/4'");
    expect_partition_error("1-9/4", 5, "expected a range like 1-3 within 1..5 in '1-9/4'");
    expect_partition_error("1,2/", 5, "expected a node id at '' in '1,2/'");
    expect_partition_error("1;2/3", 5, "expected ',', '/' or the end at ';2/3' in '1;2/3'");
    expect_partition_error("a/b", 5, "expected a node id at 'a/b' in 'a/b'");
    expect_partition_error("1->3/4", 5, "'1->3/4' mixes sides ('/') and links ('->'): use one form");
    expect_partition_error("1->", 5, "expected a node id or '*' at '' in '1->'");
    expect_partition_error("1>3", 5, "expected '->' or '<->' after a node at '>3' in '1>3'");
    expect_partition_error("1->3;", 5, "expected ',' or the end at ';' in '1->3;'");
    expect_partition_error("1->9", 5, "node 9 is not in 1..5 (in '1->9')");
    expect_partition_error("99999999999999999999->1", 5,
                           "a node id in '99999999999999999999->1' is not in 1..5");
    expect_partition_error("1->1", 5, "'1->1' cuts no link");
    expect_partition_error("1/2", 1, "a partition needs 2 to 128 nodes (the run has 1)");
    expect_partition_error("1/2", 129, "a partition needs 2 to 128 nodes (the run has 129)");
    /* NULL err is allowed. */
    ck_assert_int_eq(netspec_partition("x", 5, L(), NULL), -EINVAL);
}
END_TEST

/* ---- netspec_links ---- */

START_TEST(test_links)
{
    expect_links("all", 3, "1>2 1>3 2>1 2>3 3>1 3>2");
    expect_links("", 2, "1>2 2>1");
    expect_links("  all  ", 2, "1>2 2>1");
    expect_links("*", 2, "1>2 2>1");
    expect_links("1->3", 3, "1>3");
    expect_links("1<->3,2->*", 3, "1>3 2>1 2>3 3>1");
    expect_links("*->2", 3, "1>2 3>2");
    expect_links("1->2", 1 + 1, "1>2");
    expect_links_error("1,2/3", 5,
                       "expected 'all' or links like '1->3,2<->4' or '3->*', got '1,2/3'");
    expect_links_error("3", 5, "expected 'all' or links like '1->3,2<->4' or '3->*', got '3'");
    expect_links_error("1->6", 5, "node 6 is not in 1..5 (in '1->6')");
    expect_links_error("1->2,", 5, "expected a node id or '*' at '' in '1->2,'");
    expect_links_error("1->1", 5,
                       "'1->1' names no link (a node's messages to itself are never lost)");
    expect_links_error("all", 0, "a link list needs 1 to 128 nodes (the run has 0)");
    /* One node: "all" is no link, and that is fine. */
    expect_links("all", 1, "");
}
END_TEST

/* ---- netspec_assign ---- */

START_TEST(test_assign)
{
    struct net_params p;
    char err[NETSPEC_ERRLEN];
    memset(&p, 0, sizeof p);
    ck_assert_int_eq(netspec_assign("loss=0.1", &p, err), 0);
    ck_assert(p.has_loss && !p.has_delay && !p.has_jitter);
    ck_assert(p.loss == 0.1);
    ck_assert_int_eq(netspec_assign("loss=25%", &p, err), 0);
    ck_assert(p.loss == 0.25);
    ck_assert_int_eq(netspec_assign("loss=1", &p, err), 0);
    ck_assert(p.loss == 1.0);
    ck_assert_int_eq(netspec_assign(" loss = 0 ", &p, err), 0);
    ck_assert(p.loss == 0.0);
    ck_assert_int_eq(netspec_assign("delay=5ms", &p, err), 0);
    ck_assert(p.has_delay);
    ck_assert_int_eq(p.delay_us, 5000);
    ck_assert_int_eq(netspec_assign("jitter=2ms", &p, err), 0);
    ck_assert(p.has_jitter);
    ck_assert_int_eq(p.jitter_us, 2000);
    ck_assert_int_eq(netspec_assign("delay=0", &p, err), 0);
    ck_assert_int_eq(p.delay_us, 0);
    ck_assert_int_eq(netspec_assign("delay=60s", &p, err), 0);
    ck_assert_int_eq(p.delay_us, 60000000);

    /* Not an assignment: the caller may try it as links. */
    ck_assert_int_eq(netspec_assign("1->3", &p, err), -ENOENT);
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"loss=1.5", "loss: expected a probability from 0 to 1 (or 0% to 100%), got '1.5'"},
        {"loss=101%", "loss: expected a probability from 0 to 1 (or 0% to 100%), got '101%'"},
        {"loss=-0.1", "loss: expected a probability from 0 to 1 (or 0% to 100%), got '-0.1'"},
        {"loss=nan", "loss: expected a probability from 0 to 1 (or 0% to 100%), got 'nan'"},
        {"loss=inf", "loss: expected a probability from 0 to 1 (or 0% to 100%), got 'inf'"},
        {"loss=", "loss: expected a probability from 0 to 1 (or 0% to 100%), got ''"},
        {"loss=0.1x", "loss: expected a probability from 0 to 1 (or 0% to 100%), got '0.1x'"},
        {"delay=61s", "delay: expected a duration from 0 to 60s (like 5ms), got '61s'"},
        {"delay=5", "delay: expected a duration from 0 to 60s (like 5ms), got '5'"},
        {"jitter=-1ms", "jitter: expected a duration from 0 to 60s (like 5ms), got '-1ms'"},
        {"speed=5", "expected loss=, delay= or jitter=, got 'speed=5'"},
        {"=5", "expected loss=, delay= or jitter=, got '=5'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct net_params q = {0};
        err[0] = '\0';
        ck_assert_msg(netspec_assign(bad[i].text, &q, err) == -EINVAL, "'%s' accepted",
                      bad[i].text);
        ck_assert_msg(strcmp(err, bad[i].err) == 0, "'%s': '%s'", bad[i].text, err);
        ck_assert(!q.has_loss && !q.has_delay && !q.has_jitter); /* untouched */
    }
}
END_TEST

/* ---- netspec_describe ---- */

static const char *describe(const char *spec, int n, size_t cap)
{
    static char buf[512];
    char err[NETSPEC_ERRLEN];
    if (strcmp(spec, "none") == 0) {
        memset(L(), 0, sizeof *L());
        L()->n = n;
    } else {
        ck_assert_msg(netspec_partition(spec, n, L(), err) == 0, "%s", err);
    }
    ck_assert(cap <= sizeof buf);
    memset(buf, 'x', sizeof buf);
    netspec_describe(L(), buf, cap);
    ck_assert_msg(memchr(buf, '\0', cap) != NULL, "not terminated");
    return buf;
}

START_TEST(test_describe)
{
    ck_assert_str_eq(describe("1,2/3,4,5", 5, 512), "1,2 | 3-5");
    ck_assert_str_eq(describe("1-3/4-5", 5, 512), "1-3 | 4,5");
    ck_assert_str_eq(describe("1,3/2", 3, 512), "1,3 | 2");
    /* Nodes not listed are sides of their own. */
    ck_assert_str_eq(describe("1/2", 4, 512), "1 | 2 | 3 | 4");
    ck_assert_str_eq(describe("1->3", 3, 512), "1->3");
    ck_assert_str_eq(describe("1<->3,2->1", 3, 512), "1<->3,2->1");
    /* "3<->*" is exactly the sides 3 | 1,2 ... */
    ck_assert_str_eq(describe("3<->*", 3, 512), "1,2 | 3");
    /* ... and "3->*" is not. */
    ck_assert_str_eq(describe("3->*", 3, 512), "3->1,3->2");
    ck_assert_str_eq(describe("none", 3, 512), "none");
    /* Cut to fit, with "...". */
    ck_assert_str_eq(describe("1->2,1->3,1->4,1->5", 5, 12), "1->2..."); /* whole items */
    ck_assert_str_eq(describe("1->2,1->3,1->4,1->5", 5, 13), "1->2,1->3...");
    ck_assert_str_eq(describe("1->2,1->3", 5, 3), "");
    ck_assert_str_eq(describe("1->2,1->3", 5, 4), "...");
    /* Round trip: what describe writes for links parses back the same. */
    char err[NETSPEC_ERRLEN], text[512];
    ck_assert_int_eq(netspec_partition("1->3,2<->4,5->*", 6, L(), err), 0);
    struct net_links *copy = malloc(sizeof *copy);
    *copy = *L();
    netspec_describe(copy, text, sizeof text);
    ck_assert_msg(netspec_partition(text, 6, L(), err) == 0, "'%s': %s", text, err);
    ck_assert_int_eq(memcmp(copy, L(), sizeof *copy), 0);
    free(copy);
}
END_TEST

/* ---- netstate ---- */

/* Link a -> b as "cut/loss/delay/jitter". */
static const char *link_of(const struct netstate *ns, int a, int b)
{
    static char buf[64];
    struct net_change c;
    netstate_link(ns, a, b, &c);
    snprintf(buf, sizeof buf, "%u/%u/%u/%u", c.cut, c.loss_ppm, c.delay_us, c.jitter_us);
    return buf;
}

static bool has_change(const struct net_change *ch, int k, int a, int b)
{
    for (int i = 0; i < k; i++)
        if (ch[i].from == a && ch[i].to == b)
            return true;
    return false;
}

START_TEST(test_netstate_initial)
{
    const struct net_change *ch;
    struct netstate *ns = netstate_new(3, 0, 0, 0);
    ck_assert_ptr_nonnull(ns);
    ck_assert_int_eq(netstate_all(ns, &ch), 0); /* perfect: nothing to say */
    netstate_free(ns);

    ns = netstate_new(3, 0.25, 5000, 1000);
    int k = netstate_all(ns, &ch);
    ck_assert_int_eq(k, 6); /* every link, uniform */
    for (int i = 0; i < k; i++) {
        ck_assert_int_ne(ch[i].from, ch[i].to);
        ck_assert_int_eq(ch[i].cut, 0);
        ck_assert_uint_eq(ch[i].loss_ppm, 250000);
        ck_assert_uint_eq(ch[i].delay_us, 5000);
        ck_assert_uint_eq(ch[i].jitter_us, 1000);
    }
    ck_assert_str_eq(link_of(ns, 2, 3), "0/250000/5000/1000");
    ck_assert_int_eq(netstate_partitions(ns), 0);
    netstate_free(ns);
    ck_assert_ptr_null(netstate_new(0, 0, 0, 0));
    ck_assert_ptr_null(netstate_new(DL_MAX_NODES + 1, 0, 0, 0));
    netstate_free(NULL);
}
END_TEST

START_TEST(test_netstate_overlapping_partitions)
{
    const struct net_change *ch;
    struct netstate *ns = netstate_new(4, 0, 0, 0);
    struct net_links *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    ck_assert_int_eq(netspec_partition("1,2/3,4", 4, a, NULL), 0); /* 8 links */
    ck_assert_int_eq(netspec_partition("1->3", 4, b, NULL), 0);    /* one of them */

    int k = netstate_partition(ns, 10, a, &ch);
    ck_assert_int_eq(k, 8);
    for (int i = 0; i < k; i++)
        ck_assert_int_eq(ch[i].cut, 1);
    ck_assert_int_eq(netstate_partitions(ns), 1);
    /* The second cuts nothing new. */
    ck_assert_int_eq(netstate_partition(ns, 11, b, &ch), 0);
    ck_assert_int_eq(netstate_partitions(ns), 2);
    /* Undoing the first keeps what the second also cuts. */
    k = netstate_unpartition(ns, 10, &ch);
    ck_assert_int_eq(k, 7);
    ck_assert(!has_change(ch, k, 1, 3));
    for (int i = 0; i < k; i++)
        ck_assert_int_eq(ch[i].cut, 0);
    ck_assert_str_eq(link_of(ns, 1, 3), "1/0/0/0");
    ck_assert_str_eq(link_of(ns, 3, 1), "0/0/0/0");
    ck_assert_int_eq(netstate_partitions(ns), 1);
    /* An id no longer in force: no change. */
    ck_assert_int_eq(netstate_unpartition(ns, 10, &ch), 0);
    ck_assert_int_eq(netstate_unpartition(ns, 99, &ch), 0);
    k = netstate_unpartition(ns, 11, &ch);
    ck_assert_int_eq(k, 1);
    ck_assert_int_eq(ch[0].from, 1);
    ck_assert_int_eq(ch[0].to, 3);
    ck_assert_int_eq(ch[0].cut, 0);

    /* The same partition twice (a repeated fault): undoing one keeps the
     * other's cuts; heal ends both. */
    ck_assert_int_eq(netstate_partition(ns, 1, a, &ch), 8);
    ck_assert_int_eq(netstate_partition(ns, 2, a, &ch), 0);
    ck_assert_int_eq(netstate_unpartition(ns, 1, &ch), 0);
    ck_assert_str_eq(link_of(ns, 4, 1), "1/0/0/0");
    ck_assert_int_eq(netstate_partition(ns, 3, b, &ch), 0);
    k = netstate_heal(ns, &ch);
    ck_assert_int_eq(k, 8);
    ck_assert_int_eq(netstate_partitions(ns), 0);
    ck_assert_int_eq(netstate_heal(ns, &ch), 0); /* nothing left to heal */
    ck_assert_int_eq(netstate_unpartition(ns, 2, &ch), 0);
    for (int x = 1; x <= 4; x++)
        for (int y = 1; y <= 4; y++)
            ck_assert_str_eq(link_of(ns, x, y), "0/0/0/0");
    free(a);
    free(b);
    netstate_free(ns);
}
END_TEST

START_TEST(test_netstate_net_undo)
{
    const struct net_change *ch;
    struct netstate *ns = netstate_new(3, 0.5, 1000, 0);
    struct net_links *all = malloc(sizeof *all), *one = malloc(sizeof *one);
    ck_assert_int_eq(netspec_links("all", 3, all, NULL), 0);
    ck_assert_int_eq(netspec_links("1->2", 3, one, NULL), 0);

    /* Only the fields given change. */
    struct net_params p = {.has_delay = true, .delay_us = 7000};
    int k = netstate_net(ns, 1, true, one, &p, &ch);
    ck_assert_int_eq(k, 1);
    ck_assert_int_eq(ch[0].from, 1);
    ck_assert_int_eq(ch[0].to, 2);
    ck_assert_uint_eq(ch[0].delay_us, 7000);
    ck_assert_uint_eq(ch[0].loss_ppm, 500000);
    ck_assert_str_eq(link_of(ns, 2, 1), "0/500000/1000/0");
    /* Setting what is there already changes nothing. */
    ck_assert_int_eq(netstate_net(ns, 2, false, one, &p, &ch), 0);
    /* A partition in between: a net fault leaves cuts alone, and its
     * undo too. */
    ck_assert_int_eq(netstate_partition(ns, 50, one, &ch), 1);
    struct net_params q = {.has_loss = true, .loss = 0.1, .has_jitter = true, .jitter_us = 300};
    k = netstate_net(ns, 3, true, all, &q, &ch);
    ck_assert_int_eq(k, 6);
    ck_assert_str_eq(link_of(ns, 1, 2), "1/100000/7000/300");
    ck_assert_str_eq(link_of(ns, 3, 1), "0/100000/1000/300");
    /* Undo 3: every link back to what it had before 3. */
    k = netstate_unnet(ns, 3, &ch);
    ck_assert_int_eq(k, 6);
    ck_assert_str_eq(link_of(ns, 1, 2), "1/500000/7000/0");
    ck_assert_str_eq(link_of(ns, 3, 1), "0/500000/1000/0");
    /* Undo 1: back to the [network] settings. */
    k = netstate_unnet(ns, 1, &ch);
    ck_assert_int_eq(k, 1);
    ck_assert_str_eq(link_of(ns, 1, 2), "1/500000/1000/0");
    /* Undone already, or never undoable: no change. */
    ck_assert_int_eq(netstate_unnet(ns, 1, &ch), 0);
    ck_assert_int_eq(netstate_unnet(ns, 2, &ch), 0);
    ck_assert_int_eq(netstate_heal(ns, &ch), 1);
    ck_assert_str_eq(link_of(ns, 1, 2), "0/500000/1000/0");
    /* netstate_all: every link not perfect. */
    ck_assert_int_eq(netstate_all(ns, &ch), 6);
    struct net_params zero = {.has_loss = true, .has_delay = true, .loss = 0, .delay_us = 0};
    ck_assert_int_eq(netstate_net(ns, 4, false, all, &zero, &ch), 6);
    ck_assert_int_eq(netstate_all(ns, &ch), 0);
    /* loss 1 is every message; a tiny one rounds to millionths. */
    struct net_params full = {.has_loss = true, .loss = 1};
    ck_assert_int_eq(netstate_net(ns, 5, false, one, &full, &ch), 1);
    ck_assert_uint_eq(ch[0].loss_ppm, NET_PPM);
    free(all);
    free(one);
    netstate_free(ns);
}
END_TEST

/* Many partitions in force at once (a repeated fault without `for`):
 * still cheap, and each undo exact. */
START_TEST(test_netstate_many_partitions)
{
    const struct net_change *ch;
    struct netstate *ns = netstate_new(DL_MAX_NODES, 0, 0, 0);
    struct net_links *a = malloc(sizeof *a);
    ck_assert_int_eq(netspec_partition("1-64/65-128", DL_MAX_NODES, a, NULL), 0);
    ck_assert_int_eq(netstate_partition(ns, 0, a, &ch), 2 * 64 * 64);
    for (int i = 1; i < 20000; i++)
        ck_assert_int_eq(netstate_partition(ns, i, a, &ch), 0);
    ck_assert_int_eq(netstate_partitions(ns), 20000);
    for (int i = 19999; i >= 1; i--)
        ck_assert_int_eq(netstate_unpartition(ns, i, &ch), 0);
    ck_assert_int_eq(netstate_unpartition(ns, 0, &ch), 2 * 64 * 64);
    free(a);
    netstate_free(ns);
}
END_TEST

/* ---- config_fault_timeline ---- */

static struct config *timeline_config(void)
{
    static struct config c;
    config_defaults(&c);
    c.duration_us = 10000000;
    return &c;
}

static struct fault_spec *add_fault(struct config *c, int64_t at, int action)
{
    struct fault_spec *f = &c->faults[c->nfaults++];
    memset(f, 0, sizeof *f);
    f->at_us = at;
    f->action = action;
    f->target = TARGET_NODE;
    f->target_node = 1;
    return f;
}

/* The timeline as "t:index.rep[u] ..." (t in ms). */
static const char *timeline_str(const struct config *c)
{
    static struct fault_occ occ[256];
    static char buf[4096];
    int k = config_fault_timeline(c, occ, 256);
    ck_assert_int_ge(k, 0);
    ck_assert_int_le(k, 256);
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < k; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld:%d.%d%s", i ? " " : "",
                              (long long)(occ[i].at_us / 1000), occ[i].index, occ[i].rep,
                              occ[i].undo ? "u" : "");
    return buf;
}

START_TEST(test_timeline)
{
    struct config *c = timeline_config();
    ck_assert_str_eq(timeline_str(c), "");
    add_fault(c, 3000000, FAULT_KILL);
    struct fault_spec *p = add_fault(c, 1000000, FAULT_PARTITION);
    p->every_us = 2000000;
    p->count = 3;
    p->for_us = 500000;
    /* Time order, the undos of each occurrence in place. */
    ck_assert_str_eq(timeline_str(c), "1000:1.1 1500:1.1u 3000:0.1 3000:1.2 3500:1.2u 5000:1.3 "
                                      "5500:1.3u");
    /* every without count: until the end; occurrences (and undos) at or
     * past the duration are left out. */
    p->count = 0;
    p->for_us = 1000000;
    ck_assert_str_eq(timeline_str(c), "1000:1.1 2000:1.1u 3000:0.1 3000:1.2 4000:1.2u 5000:1.3 "
                                      "6000:1.3u 7000:1.4 8000:1.4u 9000:1.5");
    /* At equal times an undo comes first, then by fault order. */
    c->nfaults = 0;
    struct fault_spec *a = add_fault(c, 2000000, FAULT_PAUSE);
    a->for_us = 1000000;
    add_fault(c, 3000000, FAULT_KILL);
    add_fault(c, 3000000, FAULT_PAUSE);
    ck_assert_str_eq(timeline_str(c), "2000:0.1 3000:0.1u 3000:1.1 3000:2.1");
    /* A fault at or after the end: none. */
    add_fault(c, 10000000, FAULT_KILL);
    ck_assert_str_eq(timeline_str(c), "2000:0.1 3000:0.1u 3000:1.1 3000:2.1");

    /* cap: the count of all, the first cap written. */
    struct fault_occ occ[2];
    ck_assert_int_eq(config_fault_timeline(c, occ, 2), 4);
    ck_assert_int_eq(config_fault_timeline(c, NULL, 0), 4);
    /* Bad values. */
    a->every_us = -1;
    ck_assert_int_eq(config_fault_timeline(c, occ, 2), -EINVAL);
    a->every_us = 0;
    a->at_us = -1;
    ck_assert_int_eq(config_fault_timeline(c, occ, 2), -EINVAL);
    /* Huge values do not overflow. */
    a->at_us = 0;
    a->every_us = INT64_MAX;
    a->for_us = INT64_MAX;
    ck_assert_str_eq(timeline_str(c), "0:0.1 3000:1.1 3000:2.1");
    /* A runaway repetition stops past the bound. */
    c->nfaults = 0;
    struct fault_spec *r = add_fault(c, 0, FAULT_KILL);
    r->every_us = 1;
    ck_assert_int_gt(config_fault_timeline(c, NULL, 0), CONFIG_MAX_OCCURRENCES);
}
END_TEST

static Suite *netspec_suite(void)
{
    Suite *s = suite_create("netspec");
    TCase *tc = tcase_create("netspec");
    tcase_add_test(tc, test_partition_sides);
    tcase_add_test(tc, test_partition_links);
    tcase_add_test(tc, test_partition_errors);
    tcase_add_test(tc, test_links);
    tcase_add_test(tc, test_assign);
    tcase_add_test(tc, test_describe);
    suite_add_tcase(s, tc);
    TCase *st = tcase_create("netstate");
    tcase_add_test(st, test_netstate_initial);
    tcase_add_test(st, test_netstate_overlapping_partitions);
    tcase_add_test(st, test_netstate_net_undo);
    tcase_add_test(st, test_netstate_many_partitions);
    tcase_set_timeout(st, 60);
    suite_add_tcase(s, st);
    TCase *tl = tcase_create("timeline");
    tcase_add_test(tl, test_timeline);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(netspec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
