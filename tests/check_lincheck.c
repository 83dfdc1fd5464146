/* The linearizability checker (src/lincheck.c): hand-written histories with
 * their verdicts and windows, a brute-force cross-check on small random
 * histories, and a large history. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nodes/kv.h"
#include "src/lincheck.h"

#define NOW_INF 0 /* return_us of an unknown op: ignored */

/* ---- building histories ---- */

static struct lc_op H[64];
static size_t NH;

static void reset(void)
{
    NH = 0;
    memset(H, 0, sizeof H);
}

static const uint8_t *B(const char *s)
{
    return (const uint8_t *)s;
}

static uint32_t L(const char *s)
{
    return s ? (uint32_t)strlen(s) : 0;
}

static struct lc_op *add(int client, int kind, const char *key, int64_t inv, int64_t ret)
{
    ck_assert_uint_lt(NH, 64);
    struct lc_op *o = &H[NH];
    *o = (struct lc_op){.client = client,
                        .id = (int64_t)NH,
                        .kind = kind,
                        .key = B(key),
                        .klen = L(key),
                        .outcome = LC_OK,
                        .status = KV_OK,
                        .invoke_us = inv,
                        .return_us = ret};
    NH++;
    return o;
}

static struct lc_op *put(int c, const char *key, const char *v, int64_t inv, int64_t ret)
{
    struct lc_op *o = add(c, KV_PUT, key, inv, ret);
    o->arg = B(v);
    o->alen = L(v);
    return o;
}

/* res NULL: not_found */
static struct lc_op *get(int c, const char *key, const char *res, int64_t inv, int64_t ret)
{
    struct lc_op *o = add(c, KV_GET, key, inv, ret);
    if (res) {
        o->res = B(res);
        o->rlen = L(res);
    } else {
        o->status = KV_NOT_FOUND;
    }
    return o;
}

static struct lc_op *app(int c, const char *key, const char *v, int64_t inv, int64_t ret)
{
    struct lc_op *o = add(c, KV_APPEND, key, inv, ret);
    o->arg = B(v);
    o->alen = L(v);
    return o;
}

/* mismatch NULL: ok; else mismatch with that current value */
static struct lc_op *cas(int c, const char *key, const char *old, const char *nw,
                         const char *mismatch, int64_t inv, int64_t ret)
{
    struct lc_op *o = add(c, KV_CAS, key, inv, ret);
    o->arg = B(old);
    o->alen = L(old);
    o->arg2 = B(nw);
    o->a2len = L(nw);
    if (mismatch) {
        o->status = KV_MISMATCH;
        o->res = B(mismatch);
        o->rlen = L(mismatch);
    }
    return o;
}

static struct lc_op *unknown(struct lc_op *o)
{
    o->outcome = LC_UNKNOWN;
    o->return_us = NOW_INF;
    return o;
}

static struct lc_result R;

static int run(uint32_t max_value, uint64_t budget)
{
    ck_assert_int_eq(lc_check(H, NH, max_value, budget, &R), 0);
    return R.verdict;
}

static void expect_lin(void)
{
    int v = run(KV_MAX_VALUE, 0);
    ck_assert_msg(v == LC_LINEARIZABLE, "verdict %d", v);
    for (size_t k = 0; k < R.nkeys; k++)
        ck_assert_int_eq(R.keys[k].verdict, LC_LINEARIZABLE);
    lc_result_free(&R);
}

static const char *window_str(const struct lc_key_result *kr)
{
    static char buf[256];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < kr->nwindow; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%zu", i ? " " : "", kr->window[i]);
    snprintf(buf + n, sizeof buf - n, "%s", kr->from_start ? " (from start)" : "");
    return buf;
}

/* The history is a violation on key (only), with this window. */
static void expect_violation(uint32_t max_value, const char *key, const char *want)
{
    int v = run(max_value, 0);
    ck_assert_int_eq(v, LC_VIOLATION);
    int bad = 0;
    for (size_t k = 0; k < R.nkeys; k++) {
        const struct lc_key_result *kr = &R.keys[k];
        bool is = kr->klen == strlen(key) && memcmp(kr->key, key, kr->klen) == 0;
        if (!is) {
            ck_assert_int_eq(kr->verdict, LC_LINEARIZABLE);
            ck_assert_uint_eq(kr->nwindow, 0);
            continue;
        }
        bad++;
        ck_assert_int_eq(kr->verdict, LC_VIOLATION);
        ck_assert_msg(strcmp(window_str(kr), want) == 0, "window '%s', want '%s'", window_str(kr),
                      want);
    }
    ck_assert_int_eq(bad, 1);
    lc_result_free(&R);
}

/* ---- linearizable histories ---- */

START_TEST(test_sequential)
{
    reset();
    get(1, "x", NULL, 0, 5);
    put(1, "x", "a", 10, 20);
    get(2, "x", "a", 30, 40);
    app(1, "x", "b", 50, 60);
    get(2, "x", "ab", 70, 80);
    cas(1, "x", "ab", "c", NULL, 90, 100);
    cas(2, "x", "ab", "d", "c", 110, 120);
    get(1, "x", "c", 130, 140);
    put(1, "x", "", 150, 160);
    get(2, "x", "", 170, 180);
    expect_lin();
    ck_assert_int_eq(run(KV_MAX_VALUE, 0), LC_LINEARIZABLE);
    ck_assert_uint_eq(R.nkeys, 1);
    ck_assert_uint_eq(R.ops_checked, 10);
    ck_assert_uint_ge(R.states, 10);
    lc_result_free(&R);
}
END_TEST

START_TEST(test_concurrent_either_order)
{
    /* Two overlapping puts: a later read may see either, and a read that
     * overlaps them may see the old value. */
    for (int which = 0; which < 2; which++) {
        reset();
        put(1, "x", "0", 0, 10);
        put(1, "x", "a", 20, 100);
        put(2, "x", "b", 30, 90);
        get(3, "x", "0", 25, 35);
        get(3, "x", which ? "a" : "b", 110, 120);
        get(4, "x", which ? "a" : "b", 130, 140);
        expect_lin();
    }
    /* A read overlapping a put sees the new value, a read after it too. */
    reset();
    put(1, "x", "a", 0, 100);
    get(2, "x", "a", 10, 20);
    get(2, "x", "a", 30, 40);
    expect_lin();
    /* Touching intervals: a put returning exactly when a get is invoked
     * precedes it. */
    reset();
    put(1, "x", "a", 0, 10);
    get(2, "x", "a", 10, 20);
    expect_lin();
}
END_TEST

START_TEST(test_timeout_put)
{
    /* A put that timed out may have happened ... */
    reset();
    put(1, "x", "a", 0, 10);
    unknown(put(2, "x", "b", 20, 0));
    get(3, "x", "a", 30, 40);
    get(3, "x", "b", 50, 60);
    get(1, "x", "b", 70, 80);
    expect_lin();
    /* ... or not, even much later ... */
    reset();
    put(1, "x", "a", 0, 10);
    unknown(put(2, "x", "b", 20, 0));
    get(3, "x", "a", 30, 40);
    get(3, "x", "a", 1000000, 1000010);
    expect_lin();
    /* ... but only after its invoke. */
    reset();
    get(3, "x", "b", 0, 10);
    unknown(put(2, "x", "b", 20, 0));
    expect_violation(KV_MAX_VALUE, "x", "0 (from start)");
    /* Twenty timed-out puts of values nobody read do not hide a stale
     * read, nor make it expensive to find. */
    static char vals[20][16];
    reset();
    for (int i = 0; i < 20; i++) {
        snprintf(vals[i], sizeof vals[i], "u%d", i);
        unknown(put(10 + i, "x", vals[i], i, 0));
    }
    put(1, "x", "a", 100, 110);
    put(1, "x", "b", 120, 130);
    get(2, "x", "a", 140, 150);
    ck_assert_int_eq(run(KV_MAX_VALUE, 0), LC_VIOLATION);
    ck_assert_uint_lt(R.states, 100);
    lc_result_free(&R);
    expect_violation(KV_MAX_VALUE, "x", "21 22");
    /* A timed-out get and a timed-out cas change nothing they need not. */
    reset();
    put(1, "x", "a", 0, 10);
    unknown(get(2, "x", "zzz", 20, 0));
    unknown(cas(3, "x", "q", "r", NULL, 25, 0));
    get(1, "x", "a", 30, 40);
    expect_lin();
}
END_TEST

START_TEST(test_failed_ignored)
{
    reset();
    put(1, "x", "a", 0, 10);
    struct lc_op *f = put(2, "x", "b", 20, 30);
    f->outcome = LC_FAIL;
    f = get(2, "x", "nonsense", 35, 36);
    f->outcome = LC_FAIL;
    get(3, "x", "a", 40, 50);
    ck_assert_int_eq(run(KV_MAX_VALUE, 0), LC_LINEARIZABLE);
    ck_assert_uint_eq(R.ops_checked, 2);
    lc_result_free(&R);
    /* full answers change nothing, anywhere */
    reset();
    put(1, "x", "a", 0, 10);
    put(2, "x", "b", 20, 30)->status = KV_FULL;
    app(2, "x", "b", 31, 32)->status = KV_FULL;
    get(3, "x", "a", 40, 50);
    expect_lin();
}
END_TEST

START_TEST(test_cas_lock)
{
    /* Two clients take and release a lock held in "lock" (empty: free). */
    reset();
    cas(1, "lock", "", "1", NULL, 0, 10);
    cas(2, "lock", "", "2", "1", 5, 15);
    cas(2, "lock", "", "2", "1", 16, 18);
    cas(1, "lock", "1", "", NULL, 20, 30);
    cas(2, "lock", "", "2", NULL, 25, 50);
    cas(1, "lock", "", "1", "2", 55, 60);
    get(1, "lock", "2", 61, 62);
    cas(2, "lock", "2", "", NULL, 70, 80);
    cas(1, "lock", "", "1", NULL, 75, 90);
    get(2, "lock", "1", 95, 99);
    expect_lin();
    /* A mismatch against an absent key answers the empty value. */
    reset();
    cas(1, "k", "x", "y", "", 0, 10);
    get(1, "k", NULL, 20, 30);
    expect_lin();
}
END_TEST

START_TEST(test_appends)
{
    reset();
    app(1, "x", "a", 0, 10);
    app(2, "x", "b", 5, 15);
    get(3, "x", "ba", 20, 30);
    app(1, "x", "c", 40, 50);
    app(2, "x", "d", 45, 55);
    get(3, "x", "bacd", 60, 70);
    expect_lin();
    /* too_large: len + arg > max_value, no change */
    reset();
    app(1, "x", "abc", 0, 10);
    app(1, "x", "de", 20, 30)->status = KV_TOO_LARGE;
    app(1, "x", "d", 40, 50);
    get(1, "x", "abcd", 60, 70);
    ck_assert_int_eq(run(4, 0), LC_LINEARIZABLE);
    lc_result_free(&R);
    /* an empty append creates the key */
    reset();
    app(1, "x", "", 0, 10);
    get(1, "x", "", 20, 30);
    expect_lin();
}
END_TEST

/* ---- violations ---- */

START_TEST(test_stale_read)
{
    reset();
    put(1, "x", "a", 0, 10);
    put(2, "x", "b", 20, 30);
    get(3, "x", "a", 40, 50);
    expect_violation(KV_MAX_VALUE, "x", "1 2");
}
END_TEST

START_TEST(test_lost_write)
{
    /* b is acknowledged and read, then reads see the older a again. */
    reset();
    put(1, "x", "a", 0, 10);
    put(2, "x", "b", 20, 30);
    get(3, "x", "b", 40, 50);
    get(3, "x", "a", 60, 70);
    get(1, "x", "a", 80, 90);
    expect_violation(KV_MAX_VALUE, "x", "2 3");
    /* The same with a timed-out put of b in flight all along. */
    reset();
    put(1, "x", "a", 0, 10);
    unknown(put(2, "x", "b", 20, 0));
    get(3, "x", "b", 30, 40);
    get(3, "x", "a", 50, 60);
    expect_violation(KV_MAX_VALUE, "x", "2 3");
}
END_TEST

START_TEST(test_never_written)
{
    reset();
    put(1, "x", "a", 0, 10);
    put(2, "x", "b", 20, 30);
    get(3, "x", "zz", 40, 50);
    expect_violation(KV_MAX_VALUE, "x", "1 2");
    reset();
    get(3, "x", "zz", 40, 50);
    expect_violation(KV_MAX_VALUE, "x", "0 (from start)");
}
END_TEST

START_TEST(test_cas_twice)
{
    reset();
    put(1, "x", "0", 0, 10);
    cas(2, "x", "0", "1", NULL, 20, 40);
    cas(3, "x", "0", "2", NULL, 25, 45);
    get(1, "x", "2", 50, 60);
    expect_violation(KV_MAX_VALUE, "x", "1 2");
}
END_TEST

START_TEST(test_append_order)
{
    reset();
    app(1, "x", "a", 0, 10);
    app(2, "x", "b", 20, 30);
    get(3, "x", "ba", 40, 50);
    /* b was appended last, but the value does not end with it */
    expect_violation(KV_MAX_VALUE, "x", "1 2");
    /* abc then d: too_large needs the value to be 4 bytes long already */
    reset();
    app(1, "x", "abc", 0, 10);
    app(1, "x", "d", 20, 30)->status = KV_TOO_LARGE;
    expect_violation(4, "x", "0 1 (from start)");
    /* from any value: a read of "q" cannot follow an append of "b" */
    reset();
    put(1, "x", "z", 0, 10);
    app(1, "x", "b", 20, 30);
    get(2, "x", "q", 40, 50);
    expect_violation(KV_MAX_VALUE, "x", "1 2");
    /* ... but "ab" could, from "a": the whole history is needed */
    reset();
    put(1, "x", "z", 0, 10);
    app(1, "x", "b", 20, 30);
    get(2, "x", "ab", 40, 50);
    expect_violation(KV_MAX_VALUE, "x", "0 1 2 (from start)");
    /* too_large by length: fine from a 2-byte value, not from "z" */
    reset();
    put(1, "x", "z", 0, 10);
    app(1, "x", "ab", 20, 30);
    app(2, "x", "c", 40, 50)->status = KV_TOO_LARGE;
    expect_violation(4, "x", "0 1 2 (from start)");
}
END_TEST

START_TEST(test_not_found_after_put)
{
    reset();
    put(1, "x", "a", 0, 10);
    get(2, "x", NULL, 20, 30);
    expect_violation(KV_MAX_VALUE, "x", "0 1 (from start)");
    /* put of another key does not count */
    reset();
    put(1, "y", "a", 0, 10);
    get(2, "x", NULL, 20, 30);
    expect_lin();
}
END_TEST

START_TEST(test_one_bad_key)
{
    reset();
    put(1, "x", "1", 0, 10);  /* 0 */
    put(2, "y", "1", 1, 11);  /* 1 */
    put(3, "z", "1", 2, 12);  /* 2 */
    get(1, "x", "1", 20, 30); /* 3 */
    put(2, "y", "2", 21, 31); /* 4 */
    put(3, "z", "2", 22, 32); /* 5 */
    get(1, "y", "1", 40, 50); /* 6: stale */
    get(2, "z", "2", 41, 51); /* 7 */
    put(3, "x", "3", 42, 52); /* 8 */
    get(1, "x", "3", 60, 70); /* 9 */
    expect_violation(KV_MAX_VALUE, "y", "4 6");
    ck_assert_int_eq(run(KV_MAX_VALUE, 0), LC_VIOLATION);
    ck_assert_uint_eq(R.nkeys, 3);
    /* in first-invoke order */
    ck_assert_int_eq(R.keys[0].key[0], 'x');
    ck_assert_int_eq(R.keys[1].key[0], 'y');
    ck_assert_int_eq(R.keys[2].key[0], 'z');
    lc_result_free(&R);
}
END_TEST

/* Twelve concurrent puts of distinct values, then a read of none of them:
 * every order and subset has to be ruled out. */
static void hard_history(void)
{
    static char vals[12][16];
    reset();
    for (int i = 0; i < 12; i++) {
        snprintf(vals[i], sizeof vals[i], "v%d", i);
        put(i, "h", vals[i], i, 100);
    }
    get(12, "h", "zz", 200, 210);
}

START_TEST(test_budget)
{
    hard_history();
    ck_assert_int_eq(run(KV_MAX_VALUE, 1000), LC_UNDECIDED);
    ck_assert_int_eq(R.keys[0].verdict, LC_UNDECIDED);
    ck_assert_uint_eq(R.keys[0].nwindow, 0);
    lc_result_free(&R);
    hard_history();
    ck_assert_int_eq(run(KV_MAX_VALUE, 0), LC_VIOLATION);
    ck_assert_uint_gt(R.keys[0].states, 1000);
    lc_result_free(&R);
    expect_violation(KV_MAX_VALUE, "h", "11 12");
}
END_TEST

START_TEST(test_format)
{
    char buf[256];
    reset();
    struct lc_op *o = cas(2, "x", "a", "b", "c", 1250, 3100);
    o->id = 17;
    int n = lc_op_format(buf, sizeof buf, o);
    ck_assert_str_eq(
        buf, "client 2 op 17: cas \"x\" \"a\" -> \"b\" = mismatch \"c\" [1.250 ms, 3.100 ms]");
    ck_assert_int_eq(n, (int)strlen(buf));
    o = get(1, "k\n\"\\", NULL, 0, 999);
    lc_op_format(buf, sizeof buf, o);
    ck_assert_str_eq(buf, "client 1 op 1: get \"k\\x0a\\\"\\\\\" = not_found [0.000 ms, 0.999 ms]");
    o = unknown(put(3, "k", "0123456789012345678901234567890123456789xyz", 5000, 0));
    lc_op_format(buf, sizeof buf, o);
    ck_assert_str_eq(buf,
                     "client 3 op 2: put \"k\" \"01234567890123456789012345678901\"...(43 bytes) "
                     "= unknown [5.000 ms, ?]");
    o->outcome = LC_FAIL;
    o->return_us = 6000;
    o->alen = 3;
    lc_op_format(buf, sizeof buf, o);
    ck_assert_str_eq(buf, "client 3 op 2: put \"k\" \"012\" = failed [5.000 ms, 6.000 ms]");
    /* truncation: the full length is returned, the buffer terminated */
    char small[10];
    n = lc_op_format(small, sizeof small, o);
    ck_assert_int_eq(n, (int)strlen(buf));
    ck_assert_str_eq(small, "client 3 ");
}
END_TEST

/* ---- random histories against a brute force ---- */

struct val {
    bool present;
    uint8_t len;
    char b[32];
};

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng_state >> 33) % n);
}

static const char *const VALUES[] = {"", "a", "b", "ab", "ba"};
#define NVALUES 5

static bool val_is(const struct val *v, const uint8_t *p, uint32_t n)
{
    return v->len == n && (n == 0 || memcmp(v->b, p, n) == 0);
}

/* The reference model: apply op (with its answer when definite) to v;
 * false when the answer is impossible. The answer is written into the op
 * when fill is set. */
static bool ref_step(struct val *v, struct lc_op *op, bool definite, uint32_t max_value, bool fill,
                     char *resbuf)
{
    switch (op->kind) {
    case KV_PUT:
        if (fill)
            op->status = KV_OK;
        if (definite && op->status != KV_OK)
            return false;
        v->present = true;
        v->len = (uint8_t)op->alen;
        memcpy(v->b, op->arg, op->alen);
        return true;
    case KV_GET:
        if (fill) {
            op->status = v->present ? KV_OK : KV_NOT_FOUND;
            memcpy(resbuf, v->b, v->len);
            op->res = (const uint8_t *)resbuf;
            op->rlen = v->present ? v->len : 0;
        }
        if (!definite)
            return true;
        if (!v->present)
            return op->status == KV_NOT_FOUND;
        return op->status == KV_OK && val_is(v, op->res, op->rlen);
    case KV_APPEND:
        if (v->len + op->alen > max_value) {
            if (fill)
                op->status = KV_TOO_LARGE;
            return !definite || op->status == KV_TOO_LARGE;
        }
        if (fill)
            op->status = KV_OK;
        if (definite && op->status != KV_OK)
            return false;
        memcpy(v->b + v->len, op->arg, op->alen);
        v->len = (uint8_t)(v->len + op->alen);
        v->present = true;
        return true;
    case KV_CAS:
        if (val_is(v, op->arg, op->alen)) {
            if (fill)
                op->status = KV_OK;
            if (definite && op->status != KV_OK)
                return false;
            v->present = true;
            v->len = (uint8_t)op->a2len;
            memcpy(v->b, op->arg2, op->a2len);
            return true;
        }
        if (fill) {
            op->status = KV_MISMATCH;
            memcpy(resbuf, v->b, v->len);
            op->res = (const uint8_t *)resbuf;
            op->rlen = v->len;
        }
        return !definite || (op->status == KV_MISMATCH && val_is(v, op->res, op->rlen));
    }
    return false;
}

struct bf {
    struct lc_op *ops;
    size_t n;
    uint32_t max_value;
    bool placed[8];
};

/* Can the rest be placed? All definite ops must be; unknown ones may. */
static bool bf_search(struct bf *b, struct val v)
{
    bool all = true;
    for (size_t i = 0; i < b->n; i++)
        if (!b->placed[i] && b->ops[i].outcome == LC_OK)
            all = false;
    if (all)
        return true;
    for (size_t i = 0; i < b->n; i++) {
        if (b->placed[i])
            continue;
        bool ready = true;
        for (size_t p = 0; p < b->n && ready; p++)
            if (p != i && !b->placed[p] && b->ops[p].outcome == LC_OK &&
                b->ops[p].return_us <= b->ops[i].invoke_us)
                ready = false;
        if (!ready)
            continue;
        struct val w = v;
        if (!ref_step(&w, &b->ops[i], b->ops[i].outcome == LC_OK, b->max_value, false, NULL))
            continue;
        b->placed[i] = true;
        bool ok = bf_search(b, w);
        b->placed[i] = false;
        if (ok)
            return true;
    }
    return false;
}

static bool brute_force_from(const struct lc_op *ops, size_t n, uint32_t max_value, struct val init)
{
    struct lc_op kept[8];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].outcome != LC_FAIL)
            kept[k++] = ops[i];
    struct bf b = {.ops = kept, .n = k, .max_value = max_value};
    return bf_search(&b, init);
}

static bool brute_force(const struct lc_op *ops, size_t n, uint32_t max_value)
{
    return brute_force_from(ops, n, max_value, (struct val){0});
}

/* Is there an initial value (over the bytes a, b, c, up to max_value
 * bytes; or absent) from which ops are linearizable? */
static bool brute_force_any(const struct lc_op *ops, size_t n, uint32_t max_value)
{
    if (brute_force(ops, n, max_value))
        return true;
    for (uint32_t len = 0; len <= max_value; len++) {
        uint32_t count = 1;
        for (uint32_t i = 0; i < len; i++)
            count *= 3;
        for (uint32_t x = 0; x < count; x++) {
            struct val v = {.present = true, .len = (uint8_t)len};
            for (uint32_t i = 0, y = x; i < len; i++, y /= 3)
                v.b[i] = (char)('a' + y % 3);
            if (brute_force_from(ops, n, max_value, v))
                return true;
        }
    }
    return false;
}

START_TEST(test_random_small)
{
    static char resbuf[8][32];
    int lin = 0, viol = 0, from_any = 0;
    for (int seed = 0; seed < 4000; seed++) {
        rng_state = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
        reset();
        uint32_t max_value = 2 + rnd(3);
        size_t n = 1 + rnd(7);
        struct val v = {0};
        for (size_t i = 0; i < n; i++) {
            int kind = KV_PUT + (int)rnd(4);
            struct lc_op *o = add((int)i, kind, "k", 0, 0);
            const char *a = VALUES[rnd(NVALUES)], *b2 = VALUES[rnd(NVALUES)];
            if (kind == KV_APPEND)
                a = VALUES[1 + rnd(2)];
            o->arg = B(a);
            o->alen = L(a);
            if (kind == KV_CAS) {
                o->arg2 = B(b2);
                o->a2len = L(b2);
            }
            if (kind == KV_GET)
                o->alen = 0;
            /* linearization point at 10 i + 5; the interval widened */
            int64_t pt = 10 * (int64_t)i + 5;
            o->invoke_us = pt - 1 - rnd(25);
            o->return_us = pt + 1 + rnd(25);
            uint32_t fate = rnd(10);
            if (fate == 0) {
                o->outcome = LC_FAIL; /* did not take effect */
                continue;
            }
            if (fate == 1) {
                o->outcome = LC_UNKNOWN; /* took effect or not */
                if (rnd(2))
                    continue;
                ref_step(&v, o, false, max_value, true, resbuf[i]);
                continue;
            }
            ref_step(&v, o, true, max_value, true, resbuf[i]);
        }
        int got = run(max_value, 0);
        ck_assert_msg(got == LC_LINEARIZABLE, "seed %d: real execution judged %d", seed, got);
        lc_result_free(&R);
        ck_assert(brute_force(H, NH, max_value));

        /* Mutate one answer, and compare with the brute force. */
        struct lc_op *o = &H[rnd((uint32_t)NH)];
        const char *nv = VALUES[rnd(NVALUES)];
        switch (rnd(3)) {
        case 0:
            o->res = B(nv);
            o->rlen = L(nv);
            break;
        case 1:
            o->status = (int)rnd(4);
            o->res = B(nv);
            o->rlen = L(nv);
            break;
        default:
            o->invoke_us += (int64_t)rnd(30) - 15;
            o->return_us = o->invoke_us + 1 + rnd(40);
            break;
        }
        bool want = brute_force(H, NH, max_value);
        got = run(max_value, 0);
        ck_assert_msg(got == (want ? LC_LINEARIZABLE : LC_VIOLATION),
                      "seed %d: got %d, brute force %d", seed, got, want);
        if (got == LC_VIOLATION) {
            viol++;
            /* The window alone is not linearizable from the start state. */
            const struct lc_key_result *kr = &R.keys[0];
            ck_assert_uint_ge(kr->nwindow, 1);
            struct lc_op w[8];
            for (size_t i = 0; i < kr->nwindow; i++) {
                ck_assert_uint_lt(kr->window[i], NH);
                if (i)
                    ck_assert_int_le(H[kr->window[i - 1]].invoke_us, H[kr->window[i]].invoke_us);
                w[i] = H[kr->window[i]];
            }
            /* The window alone is not linearizable, from the start state
             * or from any. */
            bool passes = kr->from_start ? brute_force(w, kr->nwindow, max_value)
                                         : brute_force_any(w, kr->nwindow, max_value);
            ck_assert_msg(!passes, "seed %d: window %s passes", seed, window_str(kr));
            from_any += !kr->from_start;
        } else {
            lin++;
        }
        lc_result_free(&R);
    }
    ck_assert_int_gt(lin, 100);
    ck_assert_int_gt(viol, 100);
    ck_assert_int_gt(from_any, 50);
    printf("lincheck: random: %d linearizable, %d violations (%d windows from any state)\n", lin,
           viol, from_any);
}
END_TEST

/* ---- a large history ---- */

START_TEST(test_large)
{
    enum { NOPS = 100000, NCLIENTS = 16, NKEYS = 10 };
    struct lc_op *ops = calloc(NOPS, sizeof *ops);
    uint8_t *pool = malloc((size_t)NOPS * 24);
    struct val *store = calloc(NKEYS, sizeof *store);
    static const char *const keys[NKEYS] = {"k0", "k1", "k2", "k3", "k4",
                                            "k5", "k6", "k7", "k8", "k9"};
    ck_assert(ops && pool && store);
    int cur[NCLIENTS], applied[NCLIENTS];
    for (int c = 0; c < NCLIENTS; c++)
        cur[c] = -1;
    rng_state = 42;
    size_t n = 0, unknowns = 0;
    int64_t t = 0;
    for (;;) {
        t += 1 + rnd(3);
        int c = (int)rnd(NCLIENTS);
        if (cur[c] < 0) {
            if (n == NOPS) {
                bool idle = true;
                for (int x = 0; x < NCLIENTS; x++)
                    idle &= cur[x] < 0;
                if (idle)
                    break;
                continue;
            }
            struct lc_op *o = &ops[n];
            uint8_t *p = pool + n * 24;
            int kind = (int)rnd(10);
            kind = kind < 4 ? KV_GET : kind < 7 ? KV_PUT : kind < 8 ? KV_APPEND : KV_CAS;
            int k = (int)rnd(NKEYS);
            *o = (struct lc_op){.client = c,
                                .id = (int64_t)n,
                                .kind = kind,
                                .key = B(keys[k]),
                                .klen = 2,
                                .outcome = LC_OK,
                                .invoke_us = t};
            int len = snprintf((char *)p, 12, "%d.%zu", c, n % 1000);
            o->arg = p;
            o->alen = (uint32_t)(kind == KV_GET ? 0 : kind == KV_APPEND ? 2 : len);
            if (kind == KV_CAS) {
                /* usually the value last seen, so that some succeed */
                struct val *v = &store[k];
                uint8_t *old = p + 12;
                uint32_t ol = rnd(4) ? (v->len < 12 ? v->len : 0) : 1;
                memcpy(old, v->b, ol);
                o->arg2 = p;
                o->a2len = (uint32_t)len;
                o->arg = old;
                o->alen = ol;
            }
            cur[c] = (int)n++;
            applied[c] = 0;
        } else if (!applied[c]) {
            struct lc_op *o = &ops[cur[c]];
            struct val *v = &store[o->key[1] - '0'];
            static char res[NOPS][32];
            ref_step(v, o, true, 30, true, res[cur[c]]);
            applied[c] = 1;
        } else {
            struct lc_op *o = &ops[cur[c]];
            o->return_us = t;
            if (rnd(1000) == 0) {
                o->outcome = LC_UNKNOWN;
                unknowns++;
            }
            cur[c] = -1;
        }
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(lc_check(ops, n, 30, 0, &R), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("lincheck: %zu ops (%zu unknown), %d clients, %zu keys: %llu states in %.3f s\n", n,
           unknowns, NCLIENTS, R.nkeys, (unsigned long long)R.states, secs);
    ck_assert_int_eq(R.verdict, LC_LINEARIZABLE);
    ck_assert_uint_eq(R.nkeys, NKEYS);
    ck_assert_uint_eq(R.ops_checked, n);
    lc_result_free(&R);
    /* One stale read in the middle is found, on its key. */
    size_t victim = n / 2;
    while (ops[victim].kind != KV_GET || ops[victim].status != KV_OK || ops[victim].rlen == 0 ||
           ops[victim].outcome != LC_OK)
        victim++;
    ops[victim].res = B("never");
    ops[victim].rlen = 5;
    ck_assert_int_eq(lc_check(ops, n, 30, 0, &R), 0);
    ck_assert_int_eq(R.verdict, LC_VIOLATION);
    for (size_t k = 0; k < R.nkeys; k++) {
        const struct lc_key_result *kr = &R.keys[k];
        bool is = kr->key[1] == ops[victim].key[1];
        ck_assert_int_eq(kr->verdict, is ? LC_VIOLATION : LC_LINEARIZABLE);
        if (is) {
            bool has = false;
            for (size_t i = 0; i < kr->nwindow; i++)
                has |= kr->window[i] == victim;
            ck_assert(has);
            printf("lincheck: the bad read's window has %zu ops\n", kr->nwindow);
        }
    }
    lc_result_free(&R);
    free(ops);
    free(pool);
    free(store);
}
END_TEST

/* A burst of pipelined commands: 60 appends and reads of one key, all in
 * flight at once, applied by the store in an order of its own that the
 * invokes do not show. The answers' log indexes (the hints) lead the
 * search straight to that order; searched in invoke order, the orders of
 * 60 concurrent appends are beyond any budget. */
START_TEST(test_pipelined_burst_hints)
{
    enum { N = 60 };
    static char vals[N][N + 1];
    uint32_t perm[N];
    for (uint32_t i = 0; i < N; i++)
        perm[i] = i;
    uint32_t seed = 12345;
    for (uint32_t i = N - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        uint32_t j = (seed >> 8) % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    reset();
    for (int i = 0; i < N; i++) {
        static const char *const ch[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
        if (i % 3 == 2)
            get(i % 4, "k", "", i, 1000 + i);
        else
            app(i % 4, "k", ch[i % 10], i, 1000 + i);
    }
    char value[N + 1] = "";
    for (uint32_t pos = 0; pos < N; pos++) {
        struct lc_op *o = &H[perm[pos]];
        o->hint = pos + 1;
        if (o->kind == KV_APPEND) {
            strcat(value, (const char *)o->arg);
        } else {
            snprintf(vals[pos], sizeof vals[pos], "%s", value);
            o->res = B(vals[pos]);
            o->rlen = L(vals[pos]);
            if (!value[0])
                o->status = KV_NOT_FOUND, o->res = NULL;
        }
    }
    ck_assert_int_eq(lc_check(H, NH, 1000, 1000000, &R), 0);
    ck_assert_int_eq(R.verdict, LC_LINEARIZABLE);
    ck_assert_uint_le(R.states, 10 * N);
    lc_result_free(&R);
    /* A read moved before the write it saw, with hints that agree: still a
     * violation (real time is what decides, not the hints). */
    reset();
    put(1, "x", "1", 0, 10)->hint = 2;
    get(2, "x", "1", 20, 30)->hint = 1;
    get(3, "x", NULL, 40, 50)->hint = 3;
    ck_assert_int_eq(lc_check(H, NH, 30, 0, &R), 0);
    ck_assert_int_eq(R.verdict, LC_VIOLATION);
    lc_result_free(&R);
}
END_TEST

static Suite *lincheck_suite(void)
{
    Suite *s = suite_create("lincheck");
    TCase *ok = tcase_create("linearizable");
    tcase_add_test(ok, test_sequential);
    tcase_add_test(ok, test_concurrent_either_order);
    tcase_add_test(ok, test_timeout_put);
    tcase_add_test(ok, test_failed_ignored);
    tcase_add_test(ok, test_cas_lock);
    tcase_add_test(ok, test_appends);
    tcase_add_test(ok, test_pipelined_burst_hints);
    suite_add_tcase(s, ok);
    TCase *bad = tcase_create("violations");
    tcase_add_test(bad, test_stale_read);
    tcase_add_test(bad, test_lost_write);
    tcase_add_test(bad, test_never_written);
    tcase_add_test(bad, test_cas_twice);
    tcase_add_test(bad, test_append_order);
    tcase_add_test(bad, test_not_found_after_put);
    tcase_add_test(bad, test_one_bad_key);
    tcase_add_test(bad, test_budget);
    suite_add_tcase(s, bad);
    TCase *fmt = tcase_create("format");
    tcase_add_test(fmt, test_format);
    suite_add_tcase(s, fmt);
    TCase *rnd_tc = tcase_create("random");
    tcase_add_test(rnd_tc, test_random_small);
    tcase_set_timeout(rnd_tc, 120);
    suite_add_tcase(s, rnd_tc);
    TCase *big = tcase_create("large");
    tcase_add_test(big, test_large);
    tcase_set_timeout(big, 300);
    suite_add_tcase(s, big);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lincheck_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
