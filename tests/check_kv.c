/* The key-value store (nodes/kv.c), its workload generator (nodes/kvload.c)
 * and its text and JSON rendering (src/kvtext.c): the command encoding,
 * the answers against a reference model written here, the limits, running
 * out of memory, snapshots. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/algo.h"
#include "nodes/kv.h"
#include "nodes/kvload.h"
#include "nodes/rng.h"
#include "src/kvtext.h"

/* For hot loops: Check records where each passing ck_assert was (a write
 * to its channel), which costs a system call; this only reports failures. */
#define REQUIRE(cond, ...)                                                                    \
    do {                                                                                      \
        if (!(cond))                                                                          \
            ck_abort_msg(__VA_ARGS__);                                                        \
    } while (0)

/* ---- memory: counted, and failing on demand ---- */

struct fmem {
    size_t now, peak;
    long allocs;  /* successful allocations and growths */
    long budget;  /* how many more may succeed; < 0: no limit */
    long refused; /* allocations refused */
};

static void *fmem_realloc(void *ctx, void *p, size_t size)
{
    struct fmem *m = ctx;
    size_t old = 0;
    if (p) {
        p = (char *)p - 16;
        old = *(size_t *)p;
    }
    if (size == 0) {
        free(p);
        m->now -= old;
        return NULL;
    }
    if (m->budget == 0) {
        m->refused++;
        return NULL; /* like realloc: p stays valid */
    }
    void *q = realloc(p, size + 16);
    REQUIRE(q, "out of memory");
    if (m->budget > 0)
        m->budget--;
    m->allocs++;
    *(size_t *)q = size;
    m->now = m->now - old + size;
    if (m->now > m->peak)
        m->peak = m->now;
    return (char *)q + 16;
}

static struct fmem fm;
static struct algo_mem fmem_of = {fmem_realloc, &fm};

static void fmem_reset(void)
{
    memset(&fm, 0, sizeof fm);
    fm.budget = -1;
}

/* ---- encoding helpers ---- */

static uint32_t enc(uint8_t *buf, int op, const void *k, uint32_t kl, const void *a, uint32_t al,
                    const void *b, uint32_t bl, const char *tag)
{
    struct kv_cmd c = {.op = op, .key = k, .klen = kl, .a = a, .alen = al, .b = b, .blen = bl,
                       .tag = (const uint8_t *)tag, .tlen = tag ? (uint32_t)strlen(tag) : 0};
    uint32_t n = kv_encode(buf, KV_MAX_CMD, &c);
    REQUIRE(n > 0, "kv_encode refused a valid command (%s)",
            kv_cmd_invalid(&c) ? kv_cmd_invalid(&c) : "?");
    return n;
}

/* Apply and return the answer's length (which must not be 0: memory does
 * not run out here). */
static uint32_t apply(struct kv_store *s, const uint8_t *cmd, uint32_t len, uint8_t *ans)
{
    uint32_t n = kv_apply(s, cmd, len, ans);
    REQUIRE(n > 0 && n <= KV_MAX_ANSWER, "kv_apply answered %u bytes", n);
    return n;
}

static int put_s(struct kv_store *s, const char *k, const char *v)
{
    uint8_t cmd[KV_MAX_CMD], ans[KV_MAX_ANSWER];
    uint32_t n = enc(cmd, KV_PUT, k, (uint32_t)strlen(k), v, (uint32_t)strlen(v), NULL, 0, NULL);
    ck_assert_uint_eq(apply(s, cmd, n, ans), 1);
    return ans[0];
}

#define KVMODEL_OOM() ck_abort_msg("out of memory")
#include "tests/kvmodel.h"

/* The store holds exactly the model's keys and values: by kv_get, and in
 * its snapshot (whose order is the table's, so each entry is looked up). */
static void same_as_model(const struct kv_store *s, struct model *m)
{
    ck_assert_uint_eq(s->count, m->n);
    ck_assert_uint_eq(s->bytes, m->bytes);
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t vl = 12345;
        const uint8_t *v = kv_get(s, m->e[i].k, m->e[i].kl, &vl);
        REQUIRE(v && vl == m->e[i].vl && (vl == 0 || memcmp(v, m->e[i].v, vl) == 0),
                "key %u of the model: %s in the store", i, v ? "another value" : "absent");
    }
    uint64_t size = kv_snap_size(s);
    ck_assert_uint_eq(size, 4 + 3ull * m->n + m->bytes);
    uint8_t *snap = malloc(size);
    kv_snap_write(s, snap);
    ck_assert_uint_eq(snap[0] | snap[1] << 8 | snap[2] << 16 | (uint32_t)snap[3] << 24, m->n);
    uint64_t off = 4;
    for (uint32_t i = 0; i < m->n; i++) {
        REQUIRE(off + 3 <= size, "snapshot entry %u past the end", i);
        uint32_t kl = snap[off], vl = rd16(snap + off + 1);
        off += 3;
        REQUIRE(off + kl + vl <= size, "snapshot entry %u past the end", i);
        struct mentry *e = m_find(m, snap + off, kl);
        REQUIRE(e && vl == e->vl && (vl == 0 || memcmp(snap + off + kl, e->v, vl) == 0),
                "snapshot entry %u: %s in the model", i, e ? "another value" : "absent");
        off += kl + vl;
    }
    ck_assert_uint_eq(off, size);
    free(snap);
}

/* ---- names ---- */

START_TEST(test_names)
{
    ck_assert_str_eq(kv_op_name(KV_PUT), "put");
    ck_assert_str_eq(kv_op_name(KV_GET), "get");
    ck_assert_str_eq(kv_op_name(KV_APPEND), "append");
    ck_assert_str_eq(kv_op_name(KV_CAS), "cas");
    ck_assert_ptr_null(kv_op_name(0));
    ck_assert_ptr_null(kv_op_name(5));
    ck_assert_ptr_null(kv_op_name(-1));
    for (int op = KV_PUT; op <= KV_CAS; op++)
        ck_assert_int_eq(kv_op_parse(kv_op_name(op)), op);
    ck_assert_int_eq(kv_op_parse("PUT"), 0);
    ck_assert_int_eq(kv_op_parse(""), 0);
    ck_assert_int_eq(kv_op_parse(NULL), 0);
    const char *want[] = {"ok", "not_found", "mismatch", "too_large", "full", "bad_command"};
    for (int st = 0; st < KV_STATUS_COUNT; st++)
        ck_assert_str_eq(kv_status_name(st), want[st]);
    ck_assert_str_eq(kv_status_name(KV_STATUS_COUNT), "unknown");
    ck_assert_str_eq(kv_status_name(-1), "unknown");
}
END_TEST

/* ---- encoding ---- */

static void fill_bytes(uint8_t *p, uint32_t n, uint32_t salt)
{
    for (uint32_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + salt * 7 + (i % 3 == 0 ? 0 : 0x80));
    if (n > 0)
        p[0] = 0; /* a NUL */
    if (n > 1)
        p[n - 1] = 0xff;
}

static void roundtrip(int op, uint32_t kl, uint32_t al, uint32_t bl, uint32_t tl)
{
    static uint8_t k[KV_MAX_KEY], a[KV_MAX_VALUE], b[KV_MAX_VALUE], t[KV_MAX_TAG];
    static uint8_t buf[KV_MAX_CMD + 8];
    fill_bytes(k, kl, 1);
    fill_bytes(a, al, 2);
    fill_bytes(b, bl, 3);
    fill_bytes(t, tl, 4);
    struct kv_cmd c = {.op = op, .key = k, .klen = kl, .a = a, .alen = al, .b = b, .blen = bl,
                       .tag = t, .tlen = tl};
    ck_assert_ptr_null(kv_cmd_invalid(&c));
    uint32_t want = KV_CMD_HDR + kl + al + bl + tl;
    ck_assert_uint_le(want, KV_MAX_CMD);
    ck_assert_uint_eq(kv_encode(buf, want - 1, &c), 0); /* one byte short */
    memset(buf, 0xa5, sizeof buf);
    ck_assert_uint_eq(kv_encode(buf, want, &c), want);
    ck_assert_uint_eq(buf[want], 0xa5); /* nothing past the end */
    ck_assert_uint_eq(buf[0], (unsigned)op);
    ck_assert_uint_eq(buf[1], kl);
    ck_assert_uint_eq(rd16(buf + 2), al);
    ck_assert_uint_eq(rd16(buf + 4), bl);
    struct kv_cmd d;
    ck_assert(kv_decode(buf, want, &d));
    ck_assert_int_eq(d.op, op);
    ck_assert_uint_eq(d.klen, kl);
    ck_assert_uint_eq(d.alen, al);
    ck_assert_uint_eq(d.blen, bl);
    ck_assert_uint_eq(d.tlen, tl);
    ck_assert_ptr_eq(d.key, buf + KV_CMD_HDR);
    ck_assert(memcmp(d.key, k, kl) == 0);
    ck_assert(al == 0 || memcmp(d.a, a, al) == 0);
    ck_assert(bl == 0 || memcmp(d.b, b, bl) == 0);
    ck_assert(tl == 0 || memcmp(d.tag, t, tl) == 0);
    ck_assert_ptr_eq(d.tag + d.tlen, buf + want);
}

START_TEST(test_encode_roundtrip)
{
    const uint32_t vals[] = {0, 1, 2, 255, 256, KV_MAX_VALUE - 1, KV_MAX_VALUE};
    const uint32_t keys[] = {1, 2, 127, KV_MAX_KEY};
    const uint32_t tags[] = {0, 1, KV_MAX_TAG};
    for (size_t ki = 0; ki < 4; ki++)
        for (size_t ti = 0; ti < 3; ti++) {
            roundtrip(KV_GET, keys[ki], 0, 0, tags[ti]);
            for (size_t ai = 0; ai < 7; ai++) {
                roundtrip(KV_PUT, keys[ki], vals[ai], 0, tags[ti]);
                roundtrip(KV_APPEND, keys[ki], vals[ai], 0, tags[ti]);
                for (size_t bi = 0; bi < 7; bi++)
                    roundtrip(KV_CAS, keys[ki], vals[ai], vals[bi], tags[ti]);
            }
        }
    /* The largest command of all is KV_MAX_CMD bytes. */
    roundtrip(KV_CAS, KV_MAX_KEY, KV_MAX_VALUE, KV_MAX_VALUE, KV_MAX_TAG);
    /* NULL pointers with zero lengths are fine. */
    uint8_t buf[64];
    struct kv_cmd c = {.op = KV_PUT, .key = (const uint8_t *)"k", .klen = 1};
    ck_assert_uint_eq(kv_encode(buf, sizeof buf, &c), KV_CMD_HDR + 1);
    const uint8_t want[] = {KV_PUT, 1, 0, 0, 0, 0, 'k'};
    ck_assert(memcmp(buf, want, sizeof want) == 0);
}
END_TEST

START_TEST(test_invalid_messages)
{
    static uint8_t big[KV_MAX_VALUE + 2], buf[2 * KV_MAX_CMD];
    const uint8_t *k = (const uint8_t *)"key";
    struct {
        struct kv_cmd c;
        const char *why;
    } cases[] = {
        {{.op = 0, .key = k, .klen = 3}, "unknown operation (expected put, get, append or cas)"},
        {{.op = 5, .key = k, .klen = 3}, "unknown operation (expected put, get, append or cas)"},
        {{.op = -1, .key = k, .klen = 3}, "unknown operation (expected put, get, append or cas)"},
        {{.op = KV_PUT, .key = k, .klen = 0}, "the key is empty"},
        {{.op = KV_GET, .key = big, .klen = KV_MAX_KEY + 1}, "the key is longer than 128 bytes"},
        {{.op = KV_GET, .key = k, .klen = 3, .a = big, .alen = 1},
         "too many arguments for this operation"},
        {{.op = KV_GET, .key = k, .klen = 3, .b = big, .blen = 1},
         "too many arguments for this operation"},
        {{.op = KV_PUT, .key = k, .klen = 3, .b = big, .blen = 1},
         "too many arguments for this operation"},
        {{.op = KV_APPEND, .key = k, .klen = 3, .a = big, .alen = 1, .b = big, .blen = 2},
         "too many arguments for this operation"},
        {{.op = KV_PUT, .key = k, .klen = 3, .a = big, .alen = KV_MAX_VALUE + 1},
         "a value is longer than 4096 bytes"},
        {{.op = KV_APPEND, .key = k, .klen = 3, .a = big, .alen = KV_MAX_VALUE + 1},
         "a value is longer than 4096 bytes"},
        {{.op = KV_CAS, .key = k, .klen = 3, .a = big, .alen = KV_MAX_VALUE + 1},
         "a value is longer than 4096 bytes"},
        {{.op = KV_CAS, .key = k, .klen = 3, .b = big, .blen = KV_MAX_VALUE + 1},
         "a value is longer than 4096 bytes"},
        {{.op = KV_PUT, .key = k, .klen = 3, .tag = big, .tlen = KV_MAX_TAG + 1},
         "the tag is longer than 32 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = kv_cmd_invalid(&cases[i].c);
        ck_assert_msg(why && strcmp(why, cases[i].why) == 0, "case %zu: %s", i,
                      why ? why : "(valid)");
        ck_assert_uint_eq(kv_encode(buf, sizeof buf, &cases[i].c), 0);
    }
}
END_TEST

START_TEST(test_decode_rejects)
{
    uint8_t buf[KV_MAX_CMD + 64];
    struct kv_cmd c;
    uint8_t v[8] = {0, 1, 0xff, 0, 2, 3, 0xff, 0};
    /* A valid cas with a tag: every cut into its fixed part is refused,
     * every tag length up to KV_MAX_TAG is accepted, one more is not. */
    uint32_t n = enc(buf, KV_CAS, "\0k\xff", 3, v, 8, v, 5, NULL);
    ck_assert_uint_eq(n, KV_CMD_HDR + 3 + 8 + 5);
    ck_assert(!kv_decode(NULL, n, &c));
    for (uint32_t len = 0; len < n; len++)
        ck_assert_msg(!kv_decode(buf, len, &c), "decoded a command cut at %u of %u", len, n);
    memset(buf + n, 'T', 64);
    for (uint32_t t = 0; t <= KV_MAX_TAG; t++) {
        ck_assert(kv_decode(buf, n + t, &c));
        ck_assert_uint_eq(c.tlen, t);
    }
    ck_assert(!kv_decode(buf, n + KV_MAX_TAG + 1, &c));
    ck_assert(!kv_decode(buf, n + 64, &c));

    /* Short headers. */
    const uint8_t hdr[6] = {KV_GET, 0, 0, 0, 0, 0};
    for (uint32_t len = 0; len < KV_CMD_HDR; len++)
        ck_assert(!kv_decode(hdr, len, &c));

    /* Lengths that do not add up: each length one more than the bytes. */
    for (int field = 0; field < 3; field++) {
        n = enc(buf, KV_CAS, "k", 1, "ab", 2, "cde", 3, NULL);
        buf[field == 0 ? 1 : field == 1 ? 2 : 4]++;
        ck_assert_msg(!kv_decode(buf, n, &c), "field %d one byte too long", field);
        /* One byte shorter: the last byte becomes the tag. */
        buf[field == 0 ? 1 : field == 1 ? 2 : 4] -= 2;
        bool ok = kv_decode(buf, n, &c);
        ck_assert_msg(ok == (field != 0), "field %d one byte short", field); /* no empty key */
        if (ok)
            ck_assert_uint_eq(c.tlen, 1);
    }
    n = enc(buf, KV_PUT, "k", 1, "ab", 2, NULL, 0, NULL);
    buf[3] = 1; /* a length of 258 */
    ck_assert(!kv_decode(buf, n, &c));

    /* Unknown operations. */
    n = enc(buf, KV_PUT, "k", 1, "v", 1, NULL, 0, "tag");
    for (int op = 0; op < 256; op++) {
        buf[0] = (uint8_t)op;
        bool ok = kv_decode(buf, n, &c);
        ck_assert_msg(ok == (op >= KV_PUT && op <= KV_CAS && op != KV_GET), "op %d", op);
    }

    /* get with arguments; put or append with a NEW. */
    const uint8_t get_a[] = {KV_GET, 1, 1, 0, 0, 0, 'k', 'x'};
    const uint8_t get_b[] = {KV_GET, 1, 0, 0, 1, 0, 'k', 'x'};
    const uint8_t put_b[] = {KV_PUT, 1, 1, 0, 1, 0, 'k', 'x', 'y'};
    const uint8_t app_b[] = {KV_APPEND, 1, 0, 0, 1, 0, 'k', 'y'};
    ck_assert(!kv_decode(get_a, sizeof get_a, &c));
    ck_assert(!kv_decode(get_b, sizeof get_b, &c));
    ck_assert(!kv_decode(put_b, sizeof put_b, &c));
    ck_assert(!kv_decode(app_b, sizeof app_b, &c));
    /* The same bytes as a get with a 1-byte tag, and a cas, are valid. */
    const uint8_t get_t[] = {KV_GET, 1, 0, 0, 0, 0, 'k', 'x'};
    const uint8_t cas_b[] = {KV_CAS, 1, 1, 0, 1, 0, 'k', 'x', 'y'};
    ck_assert(kv_decode(get_t, sizeof get_t, &c));
    ck_assert(kv_decode(cas_b, sizeof cas_b, &c));

    /* An empty key; keys of 129..255 bytes (the length byte allows them). */
    const uint8_t nokey[] = {KV_GET, 0, 0, 0, 0, 0};
    ck_assert(!kv_decode(nokey, sizeof nokey, &c));
    const uint8_t nokey_tag[] = {KV_GET, 0, 0, 0, 0, 0, 'x'};
    ck_assert(!kv_decode(nokey_tag, sizeof nokey_tag, &c));
    memset(buf, 'k', sizeof buf);
    buf[0] = KV_GET;
    buf[2] = buf[3] = buf[4] = buf[5] = 0;
    for (uint32_t kl = 1; kl < 256; kl++) {
        buf[1] = (uint8_t)kl;
        ck_assert_msg(kv_decode(buf, KV_CMD_HDR + kl, &c) == (kl <= KV_MAX_KEY), "key %u", kl);
    }

    /* A value of 4097 bytes, present in full. */
    static uint8_t huge[KV_CMD_HDR + 1 + KV_MAX_VALUE + 1];
    memset(huge, 'v', sizeof huge);
    huge[0] = KV_PUT;
    huge[1] = 1;
    huge[2] = (KV_MAX_VALUE + 1) & 0xff;
    huge[3] = (KV_MAX_VALUE + 1) >> 8;
    huge[4] = huge[5] = 0;
    ck_assert(!kv_decode(huge, sizeof huge, &c));
    huge[2] = KV_MAX_VALUE & 0xff;
    huge[3] = KV_MAX_VALUE >> 8;
    ck_assert(kv_decode(huge, sizeof huge, &c)); /* 4096 and a 1-byte tag */
}
END_TEST

/* ---- semantics against the model ---- */

START_TEST(test_answers)
{
    struct kv_store s;
    kv_init(&s, &algo_mem_libc);
    uint8_t cmd[KV_MAX_CMD], ans[KV_MAX_ANSWER];
    uint32_t n;
    /* get of an absent key */
    n = enc(cmd, KV_GET, "a", 1, NULL, 0, NULL, 0, "t");
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_NOT_FOUND);
    /* cas with an empty OLD matches an absent key */
    n = enc(cmd, KV_CAS, "a", 1, NULL, 0, "", 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    /* ...which now exists, empty: get ok with no value */
    n = enc(cmd, KV_GET, "a", 1, NULL, 0, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    ck_assert_uint_eq(s.count, 1);
    ck_assert_uint_eq(s.bytes, 1);
    /* cas with an empty OLD matches the empty value */
    n = enc(cmd, KV_CAS, "a", 1, "", 0, "x\0y", 3, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    /* ...but not a non-empty one: mismatch with the current value */
    n = enc(cmd, KV_CAS, "a", 1, "", 0, "z", 1, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 4);
    ck_assert(memcmp(ans, "\x02x\0y", 4) == 0);
    n = enc(cmd, KV_CAS, "a", 1, "x\0z", 3, "z", 1, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 4);
    ck_assert(memcmp(ans, "\x02x\0y", 4) == 0);
    /* append to an absent key creates it */
    n = enc(cmd, KV_APPEND, "b", 1, "12", 2, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    /* append up to exactly KV_MAX_VALUE, then one byte more is too_large */
    static uint8_t big[KV_MAX_VALUE];
    memset(big, 0xff, sizeof big);
    n = enc(cmd, KV_APPEND, "b", 1, big, KV_MAX_VALUE - 3, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    n = enc(cmd, KV_APPEND, "b", 1, "3", 1, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    n = enc(cmd, KV_APPEND, "b", 1, "4", 1, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_TOO_LARGE);
    n = enc(cmd, KV_APPEND, "b", 1, "", 0, NULL, 0, NULL); /* nothing: still fits */
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    n = enc(cmd, KV_GET, "b", 1, NULL, 0, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1 + KV_MAX_VALUE);
    ck_assert(memcmp(ans, "\0" "12", 3) == 0);
    ck_assert(memcmp(ans + 3, big, KV_MAX_VALUE - 3) == 0);
    ck_assert_uint_eq(ans[KV_MAX_VALUE], '3');
    /* what is not a command: bad, and nothing changes */
    uint64_t bytes = s.bytes;
    ck_assert_uint_eq(kv_apply(&s, (const uint8_t *)"junk", 4, ans), 1);
    ck_assert_uint_eq(ans[0], KV_BAD);
    ck_assert_uint_eq(kv_apply(&s, NULL, 0, ans), 1);
    ck_assert_uint_eq(ans[0], KV_BAD);
    ck_assert_uint_eq(s.bytes, bytes);
    ck_assert_uint_eq(s.count, 2);
    kv_free(&s);
}
END_TEST

/* A random command over a few keys (binary ones among them), shaped to hit
 * the edges: empty values, appends that end exactly at the limit or one
 * byte past it, cas with the current value, the empty value or another. */
static uint32_t random_cmd(struct dl_rng *r, struct model *m, uint8_t *cmd)
{
    static const struct {
        const char *k;
        uint32_t kl;
    } keys[] = {{"a", 1}, {"\0", 1}, {"\xff\xff", 2}, {"k\0x", 3}, {"a\0", 2}};
    static uint8_t longkey[KV_MAX_KEY];
    static uint8_t val[KV_MAX_VALUE];
    memset(longkey, 0xff, sizeof longkey);
    longkey[5] = 0;
    uint32_t ki = (uint32_t)dl_rng_below(r, 6);
    const uint8_t *k = ki < 5 ? (const uint8_t *)keys[ki].k : longkey;
    uint32_t kl = ki < 5 ? keys[ki].kl : KV_MAX_KEY;
    struct mentry *e = m_find(m, k, kl);
    uint32_t cl = e ? e->vl : 0;
    uint32_t len;
    switch (dl_rng_below(r, 6)) {
    case 0: len = 0; break;
    case 1: len = (uint32_t)dl_rng_below(r, 8); break;
    case 2: len = (uint32_t)dl_rng_below(r, 600); break;
    case 3: len = KV_MAX_VALUE - (uint32_t)dl_rng_below(r, 2); break;
    default: /* to the limit, or one past it, from the current length */
        len = KV_MAX_VALUE - cl + (uint32_t)dl_rng_below(r, 3);
        len = len > 0 ? len - 1 : 0;
        if (len > KV_MAX_VALUE)
            len = KV_MAX_VALUE;
        break;
    }
    for (uint32_t i = 0; i < len; i++)
        val[i] = (uint8_t)dl_rng_below(r, 4) * 0x55; /* 0x00, 0x55, 0xaa, 0xff */
    char tag[16];
    snprintf(tag, sizeof tag, "t%u", (unsigned)dl_rng_below(r, 1000));
    int op = KV_PUT + (int)dl_rng_below(r, 4);
    if (op == KV_GET)
        return enc(cmd, op, k, kl, NULL, 0, NULL, 0, tag);
    if (op != KV_CAS)
        return enc(cmd, op, k, kl, val, len, NULL, 0, tag);
    static uint8_t old[KV_MAX_VALUE];
    uint32_t ol = 0;
    switch (dl_rng_below(r, 4)) {
    case 0:
    case 1: /* the current value */
        ol = cl;
        if (cl)
            memcpy(old, e->v, cl);
        break;
    case 2: /* empty */
        break;
    default: /* the current value, one byte changed or one byte longer */
        ol = cl;
        if (cl)
            memcpy(old, e->v, cl);
        if (cl && dl_rng_below(r, 2))
            old[dl_rng_below(r, cl)] ^= 1;
        else if (cl < KV_MAX_VALUE)
            old[ol++] = 0;
        break;
    }
    return enc(cmd, op, k, kl, old, ol, val, len > 64 ? 64 : len, tag);
}

START_TEST(test_random_vs_model)
{
    static uint8_t cmd[KV_MAX_CMD], ans[KV_MAX_ANSWER], want[KV_MAX_ANSWER];
    int seen[KV_STATUS_COUNT] = {0};
    for (uint64_t seed = 1; seed <= 12; seed++) {
        struct dl_rng r;
        dl_rng_seed(&r, seed);
        struct model m = {0};
        struct kv_store s;
        fmem_reset();
        kv_init(&s, &fmem_of);
        for (int i = 0; i < 4000; i++) {
            uint32_t n = random_cmd(&r, &m, cmd);
            if (dl_rng_below(&r, 50) == 0) /* now and then a mangled one */
                cmd[dl_rng_below(&r, n)] ^= (uint8_t)(1 + dl_rng_below(&r, 255));
            uint32_t wl = m_apply(&m, cmd, n, want);
            uint32_t al = apply(&s, cmd, n, ans);
            REQUIRE(al == wl && memcmp(ans, want, al) == 0,
                          "seed %llu op %d: answer %s (%u bytes), model %s (%u bytes)",
                          (unsigned long long)seed, i, kv_status_name(ans[0]), al,
                          kv_status_name(want[0]), wl);
            seen[ans[0]]++;
            if (i % 500 == 0)
                same_as_model(&s, &m);
        }
        same_as_model(&s, &m);
        kv_free(&s);
        ck_assert_uint_eq(fm.now, 0);
        m_free(&m);
    }
    /* The sequences reached every answer a small store can give. */
    for (int st = KV_OK; st <= KV_TOO_LARGE; st++)
        ck_assert_msg(seen[st] > 20, "%s only %d times", kv_status_name(st), seen[st]);
    ck_assert_int_gt(seen[KV_BAD], 0);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_max_keys)
{
    static uint8_t cmd[KV_MAX_CMD], ans[KV_MAX_ANSWER];
    struct kv_store s;
    fmem_reset();
    kv_init(&s, &fmem_of);
    char k[32];
    for (uint32_t i = 0; i < KV_MAX_KEYS; i++) {
        int kl = snprintf(k, sizeof k, "key%u", i);
        uint32_t n = enc(cmd, i % 3 ? KV_PUT : KV_APPEND, k, (uint32_t)kl, "v", i % 2, NULL, 0,
                         NULL);
        REQUIRE(apply(&s, cmd, n, ans) == 1 && ans[0] == KV_OK, "key %u: %s", i,
                kv_status_name(ans[0]));
    }
    ck_assert_uint_eq(s.count, KV_MAX_KEYS);
    uint64_t bytes = s.bytes, size = kv_snap_size(&s);
    /* A new key is full, whatever the operation, and changes nothing. */
    uint32_t n = enc(cmd, KV_PUT, "new", 3, NULL, 0, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL);
    n = enc(cmd, KV_APPEND, "new", 3, "x", 1, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL);
    n = enc(cmd, KV_CAS, "new", 3, NULL, 0, "x", 1, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL);
    n = enc(cmd, KV_GET, "new", 3, NULL, 0, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_NOT_FOUND);
    /* a cas that does not match answers mismatch, not full */
    n = enc(cmd, KV_CAS, "new", 3, "x", 1, "y", 1, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_MISMATCH);
    uint32_t vl;
    ck_assert_ptr_null(kv_get(&s, (const uint8_t *)"new", 3, &vl));
    ck_assert_uint_eq(s.count, KV_MAX_KEYS);
    ck_assert_uint_eq(s.bytes, bytes);
    ck_assert_uint_eq(kv_snap_size(&s), size);
    /* Existing keys still take writes. */
    ck_assert_int_eq(put_s(&s, "key7", "longer value"), KV_OK);
    ck_assert_int_eq(put_s(&s, "key65535", ""), KV_OK);
    ck_assert_ptr_nonnull(kv_get(&s, (const uint8_t *)"key0", 4, &vl));
    ck_assert_uint_eq(vl, 0);
    kv_free(&s);
    ck_assert_uint_eq(fm.now, 0);
}
END_TEST

START_TEST(test_max_bytes)
{
    static uint8_t cmd[KV_MAX_CMD], ans[KV_MAX_ANSWER], key[KV_MAX_KEY], val[KV_MAX_VALUE];
    struct kv_store s;
    fmem_reset();
    kv_init(&s, &fmem_of);
    memset(val, 'v', sizeof val);
    memset(key, 'k', sizeof key);
    const uint32_t per = KV_MAX_KEY + KV_MAX_VALUE;
    uint32_t i = 0;
    for (;; i++) {
        memcpy(key, &i, sizeof i);
        uint32_t n = enc(cmd, KV_PUT, key, KV_MAX_KEY, val, KV_MAX_VALUE, NULL, 0, NULL);
        uint64_t before = s.bytes;
        ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
        if (ans[0] == KV_FULL) {
            ck_assert_uint_gt(before + per, KV_MAX_BYTES);
            ck_assert_uint_eq(s.bytes, before);
            break;
        }
        ck_assert_uint_eq(ans[0], KV_OK);
    }
    ck_assert_uint_eq(i, KV_MAX_BYTES / per);
    ck_assert_uint_eq(s.count, i);
    /* Fill the rest exactly: a 1-byte key and the value that fits. */
    uint32_t room = (uint32_t)(KV_MAX_BYTES - s.bytes);
    ck_assert_uint_ge(room, 2);
    ck_assert_uint_le(room - 1, KV_MAX_VALUE);
    uint32_t n = enc(cmd, KV_PUT, "z", 1, val, room, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL); /* one byte too many */
    n = enc(cmd, KV_PUT, "z", 1, val, room - 1, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    ck_assert_uint_eq(s.bytes, KV_MAX_BYTES);
    uint32_t count = s.count;
    uint64_t size = kv_snap_size(&s);
    /* Full: a new key (even an empty value), one more byte anywhere. */
    n = enc(cmd, KV_PUT, "y", 1, NULL, 0, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL);
    n = enc(cmd, KV_CAS, "y", 1, NULL, 0, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL);
    n = enc(cmd, KV_APPEND, "z", 1, "+", 1, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL);
    n = enc(cmd, KV_PUT, "z", 1, val, room, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL);
    n = enc(cmd, KV_CAS, "z", 1, val, room - 1, val, room, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_FULL);
    ck_assert_uint_eq(s.bytes, KV_MAX_BYTES);
    ck_assert_uint_eq(s.count, count);
    ck_assert_uint_eq(kv_snap_size(&s), size);
    uint32_t vl;
    ck_assert_ptr_null(kv_get(&s, (const uint8_t *)"y", 1, &vl));
    /* Overwrites of the same size (or smaller) still work. */
    memset(val, 'w', sizeof val);
    memcpy(key, &(uint32_t){3}, sizeof(uint32_t));
    n = enc(cmd, KV_PUT, key, KV_MAX_KEY, val, KV_MAX_VALUE, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    const uint8_t *v = kv_get(&s, key, KV_MAX_KEY, &vl);
    ck_assert(v && vl == KV_MAX_VALUE && v[0] == 'w');
    n = enc(cmd, KV_CAS, "z", 1, val - 0, 0, NULL, 0, NULL); /* OLD wrong: mismatch */
    ck_assert_uint_eq(apply(&s, cmd, n, ans), room);
    ck_assert_uint_eq(ans[0], KV_MISMATCH);
    memset(val, 'v', sizeof val);
    n = enc(cmd, KV_CAS, "z", 1, val, room - 1, val + 1, room - 1, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    n = enc(cmd, KV_PUT, "z", 1, "small", 5, NULL, 0, NULL);
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    n = enc(cmd, KV_APPEND, "z", 1, val, room - 1 - 5, NULL, 0, NULL); /* back to full */
    ck_assert_uint_eq(apply(&s, cmd, n, ans), 1);
    ck_assert_uint_eq(ans[0], KV_OK);
    ck_assert_uint_eq(s.bytes, KV_MAX_BYTES);
    ck_assert_uint_eq(s.count, count);
    kv_free(&s);
    ck_assert_uint_eq(fm.now, 0);
}
END_TEST

/* ---- out of memory ---- */

START_TEST(test_out_of_memory)
{
    static uint8_t cmd[KV_MAX_CMD], ans[KV_MAX_ANSWER], want[KV_MAX_ANSWER];
    long zeros = 0, needed[4] = {0};
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct dl_rng r;
        dl_rng_seed(&r, seed * 77);
        struct model m = {0};
        struct kv_store s;
        fmem_reset();
        kv_init(&s, &fmem_of);
        char k[16];
        for (int i = 0; i < 1500; i++) {
            uint32_t n;
            if (dl_rng_below(&r, 3) == 0) { /* many keys: the table grows */
                int kl = snprintf(k, sizeof k, "n%d", (int)dl_rng_below(&r, 400));
                n = enc(cmd, KV_PUT, k, (uint32_t)kl, "v", 1, NULL, 0, NULL);
            } else {
                n = random_cmd(&r, &m, cmd);
            }
            /* Let the first N allocations succeed and refuse the rest, for
             * N = 0, 1, ...: either 0 and nothing changed, or the answer. */
            for (long budget = 0;; budget++) {
                ck_assert_int_le(budget, 3);
                fm.budget = budget;
                uint32_t al = kv_apply(&s, cmd, n, ans);
                fm.budget = -1;
                if (al == 0) {
                    zeros++;
                    same_as_model(&s, &m);
                    continue;
                }
                needed[budget]++;
                uint32_t wl = m_apply(&m, cmd, n, want);
                REQUIRE(al == wl && memcmp(ans, want, al) == 0,
                              "seed %llu op %d budget %ld: %s vs %s", (unsigned long long)seed,
                              i, budget, kv_status_name(ans[0]), kv_status_name(want[0]));
                break;
            }
            if (i % 100 == 0)
                same_as_model(&s, &m);
        }
        same_as_model(&s, &m);
        /* A snapshot read that runs out at every step: empty, or all of it. */
        uint64_t size = kv_snap_size(&s);
        uint8_t *snap = malloc(size);
        kv_snap_write(&s, snap);
        struct fmem fm2 = {.budget = -1};
        struct algo_mem mem2 = {fmem_realloc, &fm2};
        struct kv_store t;
        kv_init(&t, &mem2);
        for (long budget = 0;; budget++) {
            fm2.budget = budget;
            bool ok = kv_snap_read(&t, snap, size);
            fm2.budget = -1;
            if (ok) {
                same_as_model(&t, &m);
                ck_assert_int_gt(budget, 0);
                break;
            }
            ck_assert_uint_eq(t.count, 0);
            ck_assert_uint_eq(t.bytes, 0);
            ck_assert_uint_eq(fm2.now, 0); /* what it had taken, given back */
            ck_assert_int_lt(budget, 100000);
        }
        kv_free(&t);
        ck_assert_uint_eq(fm2.now, 0);
        free(snap);
        kv_free(&s);
        ck_assert_uint_eq(fm.now, 0);
        m_free(&m);
    }
    /* Some operations needed no memory, some one allocation, some two
     * (a new key when the table grows). */
    ck_assert_int_gt(zeros, 100);
    ck_assert_int_gt(needed[0], 100);
    ck_assert_int_gt(needed[1], 100);
    ck_assert_int_gt(needed[2], 0);
}
END_TEST

/* ---- snapshots ---- */

static uint8_t *snap_of(const struct kv_store *s, uint64_t *len)
{
    *len = kv_snap_size(s);
    uint8_t *p = malloc(*len + 64);
    ck_assert_ptr_nonnull(p);
    kv_snap_write(s, p);
    return p;
}

START_TEST(test_snapshot_roundtrip)
{
    static uint8_t cmd[KV_MAX_CMD], ans[KV_MAX_ANSWER];
    struct dl_rng r;
    dl_rng_seed(&r, 99);
    struct model m = {0};
    struct kv_store s, t;
    fmem_reset();
    kv_init(&s, &fmem_of);
    kv_init(&t, &fmem_of);
    /* The empty store. */
    uint64_t len;
    uint8_t *p = snap_of(&s, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert(memcmp(p, "\0\0\0\0", 4) == 0);
    ck_assert(kv_snap_read(&t, p, len));
    ck_assert_uint_eq(t.count, 0);
    free(p);
    /* Binary keys, empty and full values, many keys. */
    for (int i = 0; i < 3000; i++) {
        uint32_t n = random_cmd(&r, &m, cmd);
        m_apply(&m, cmd, n, ans);
        apply(&s, cmd, n, ans);
    }
    char k[16];
    for (int i = 0; i < 300; i++) {
        int kl = snprintf(k, sizeof k, "n%d", i);
        uint32_t n = enc(cmd, KV_PUT, k, (uint32_t)kl, k, (uint32_t)(i % 5 ? kl : 0), NULL, 0,
                         NULL);
        m_apply(&m, cmd, n, ans);
        apply(&s, cmd, n, ans);
    }
    same_as_model(&s, &m);
    p = snap_of(&s, &len);
    put_s(&t, "old", "contents"); /* replaced by the snapshot's */
    ck_assert(kv_snap_read(&t, p, len));
    same_as_model(&t, &m);
    /* The copy works as a store: the same answers from here on. */
    for (int i = 0; i < 500; i++) {
        uint8_t a2[KV_MAX_ANSWER];
        uint32_t n = random_cmd(&r, &m, cmd);
        m_apply(&m, cmd, n, ans);
        uint32_t l1 = apply(&s, cmd, n, ans), l2 = apply(&t, cmd, n, a2);
        ck_assert(l1 == l2 && memcmp(ans, a2, l1) == 0);
    }
    same_as_model(&t, &m);
    free(p);
    kv_free(&s);
    kv_free(&t);
    ck_assert_uint_eq(fm.now, 0);
    m_free(&m);
}
END_TEST

static void read_fails(struct kv_store *t, const uint8_t *p, uint64_t len, const char *what)
{
    put_s(t, "before", "x"); /* not empty before */
    ck_assert_msg(!kv_snap_read(t, p, len), "accepted %s", what);
    ck_assert_uint_eq(t->count, 0);
    ck_assert_uint_eq(t->bytes, 0);
    uint32_t vl;
    ck_assert_ptr_null(kv_get(t, (const uint8_t *)"before", 6, &vl));
    ck_assert_uint_eq(kv_snap_size(t), 4);
}

static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

START_TEST(test_snapshot_rejects)
{
    struct kv_store s, t;
    fmem_reset();
    kv_init(&s, &fmem_of);
    kv_init(&t, &fmem_of);
    put_s(&s, "a", "1");
    put_s(&s, "bb", "");
    put_s(&s, "ccc", "333");
    uint64_t len;
    uint8_t *p = snap_of(&s, &len);
    ck_assert_uint_eq(len, 4 + 9 + 6 + 4);
    for (uint64_t cut = 0; cut < len; cut++)
        read_fails(&t, p, cut, "a truncated snapshot");
    p[len] = 0;
    read_fails(&t, p, len + 1, "an extended snapshot");
    le32(p, 2);
    read_fails(&t, p, len, "more entries than counted");
    le32(p, 4);
    read_fails(&t, p, len, "fewer entries than counted");
    ck_assert(kv_snap_read(&t, p, 0) == false);
    free(p);

    uint8_t b[64];
    /* A key twice. */
    le32(b, 2);
    memcpy(b + 4, "\x01\x01\x00kv\x01\x00\x00k", 9);
    read_fails(&t, b, 13, "a duplicate key");
    memcpy(b + 4, "\x01\x01\x00kv\x01\x00\x00j", 9);
    ck_assert(kv_snap_read(&t, b, 13)); /* the same, two keys */
    ck_assert_uint_eq(t.count, 2);
    /* An empty key, a key or value too long. */
    le32(b, 1);
    memcpy(b + 4, "\x00\x00\x00", 3);
    read_fails(&t, b, 7, "an empty key");
    static uint8_t big[4 + 3 + 255 + KV_MAX_VALUE + 1];
    memset(big, 'x', sizeof big);
    le32(big, 1);
    big[4] = KV_MAX_KEY + 1;
    big[5] = big[6] = 0;
    read_fails(&t, big, 7 + KV_MAX_KEY + 1, "a 129-byte key");
    big[4] = KV_MAX_KEY;
    ck_assert(kv_snap_read(&t, big, 7 + KV_MAX_KEY));
    big[4] = 1;
    big[5] = (KV_MAX_VALUE + 1) & 0xff;
    big[6] = (KV_MAX_VALUE + 1) >> 8;
    read_fails(&t, big, 7 + 1 + KV_MAX_VALUE + 1, "a 4097-byte value");
    big[5] = KV_MAX_VALUE & 0xff;
    big[6] = KV_MAX_VALUE >> 8;
    ck_assert(kv_snap_read(&t, big, 7 + 1 + KV_MAX_VALUE));
    /* More keys than KV_MAX_KEYS. */
    le32(b, KV_MAX_KEYS + 1);
    read_fails(&t, b, 4, "too many keys");
    le32(b, UINT32_MAX);
    read_fails(&t, b, 4, "2^32-1 keys");
    kv_free(&s);
    kv_free(&t);
    ck_assert_uint_eq(fm.now, 0);
}
END_TEST

/* A snapshot a store could never write: more than KV_MAX_BYTES of keys and
 * values (each entry valid on its own). */
START_TEST(test_snapshot_too_many_bytes)
{
    const uint32_t per = 3 + KV_MAX_KEY + KV_MAX_VALUE;
    const uint32_t n = KV_MAX_BYTES / (KV_MAX_KEY + KV_MAX_VALUE) + 1;
    uint64_t len = 4 + (uint64_t)n * per;
    uint8_t *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    le32(p, n);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = p + 4 + (uint64_t)i * per;
        e[0] = KV_MAX_KEY;
        e[1] = KV_MAX_VALUE & 0xff;
        e[2] = KV_MAX_VALUE >> 8;
        memset(e + 3, 'k', KV_MAX_KEY);
        memcpy(e + 3, &i, sizeof i);
        memset(e + 3 + KV_MAX_KEY, 'v', KV_MAX_VALUE);
    }
    struct kv_store t;
    fmem_reset();
    kv_init(&t, &fmem_of);
    read_fails(&t, p, len, "more than KV_MAX_BYTES");
    /* One entry fewer fits. */
    le32(p, n - 1);
    ck_assert(kv_snap_read(&t, p, len - per));
    ck_assert_uint_eq(t.count, n - 1);
    ck_assert_uint_le(t.bytes, KV_MAX_BYTES);
    kv_free(&t);
    ck_assert_uint_eq(fm.now, 0);
    free(p);
}
END_TEST

/* ---- kvload ---- */

static void tag_of(const struct kv_cmd *c, char *out)
{
    memcpy(out, c->tag, c->tlen);
    out[c->tlen] = 0;
}

START_TEST(test_kvload_deterministic)
{
    static struct kvload a, b, c;
    static uint8_t ca[KV_MAX_CMD], cb[KV_MAX_CMD], cc[KV_MAX_CMD];
    kvload_init(&a, 42, 3, 0, NULL, 0);
    kvload_init(&b, 42, 3, 0, NULL, 0);
    kvload_init(&c, 43, 3, 0, NULL, 0);
    int differ = 0;
    for (int64_t op = 1; op <= 1000; op++) {
        uint32_t la = kvload_next(&a, op, ca), lb = kvload_next(&b, op, cb);
        uint32_t lc = kvload_next(&c, op, cc);
        ck_assert_uint_gt(la, 0);
        ck_assert(la == lb && memcmp(ca, cb, la) == 0);
        differ += la != lc || memcmp(ca, cc, la) != 0;
    }
    ck_assert_int_gt(differ, 500);
    /* Two clients with the same seed do not draw the same keys. */
    kvload_init(&a, 42, 1, 0, NULL, 0);
    kvload_init(&b, 42, 2, 0, NULL, 0);
    int same_key = 0;
    for (int64_t op = 1; op <= 1000; op++) {
        struct kv_cmd x, y;
        uint32_t la = kvload_next(&a, op, ca), lb = kvload_next(&b, op, cb);
        ck_assert(kv_decode(ca, la, &x) && kv_decode(cb, lb, &y));
        same_key += x.klen == y.klen && memcmp(x.key, y.key, x.klen) == 0;
    }
    ck_assert_int_lt(same_key, 300); /* 1 in 10 by chance */
}
END_TEST

static void mix_counts(const int32_t mix[5], int keys, int value_size, int counts[5])
{
    static struct kvload l;
    static uint8_t cmd[KV_MAX_CMD];
    memset(counts, 0, 5 * sizeof *counts);
    kvload_init(&l, 7, 2, keys, mix, value_size);
    int *keyseen = calloc((size_t)l.keys + 1, sizeof *keyseen);
    for (int64_t op = 0; op < 10000; op++) {
        uint32_t n = kvload_next(&l, op, cmd);
        struct kv_cmd c;
        ck_assert_msg(kv_decode(cmd, n, &c), "op %lld does not decode", (long long)op);
        counts[c.op]++;
        char tag[KV_MAX_TAG + 1], want[64];
        tag_of(&c, tag);
        snprintf(want, sizeof want, "c2-%lld", (long long)op);
        ck_assert_str_eq(tag, want);
        char key[16];
        ck_assert_uint_lt(c.klen, sizeof key);
        memcpy(key, c.key, c.klen);
        key[c.klen] = 0;
        int kn = 0;
        ck_assert_int_eq(sscanf(key, "k%d", &kn), 1);
        ck_assert_int_ge(kn, 1);
        ck_assert_int_le(kn, l.keys);
        keyseen[kn]++;
        char kb[16];
        snprintf(kb, sizeof kb, "k%d", kn);
        ck_assert_str_eq(key, kb);
        /* The value written: the token (and ';' for an append), then dots
         * up to value_size. */
        const uint8_t *v = c.op == KV_CAS ? c.b : c.a;
        uint32_t vl = c.op == KV_CAS ? c.blen : c.alen;
        if (c.op == KV_GET) {
            ck_assert_uint_eq(c.alen + c.blen, 0);
            continue;
        }
        uint32_t tl = c.tlen + (c.op == KV_APPEND);
        uint32_t want_len = (int)tl > value_size ? tl : (uint32_t)value_size;
        ck_assert_uint_eq(vl, want_len);
        ck_assert(memcmp(v, c.tag, c.tlen) == 0);
        if (c.op == KV_APPEND)
            ck_assert_uint_eq(v[c.tlen], ';');
        uint32_t i = tl;
        while (i < vl && v[i] == '.')
            i++;
        ck_assert_msg(i == vl, "op %lld: byte %u of the value is not padding", (long long)op, i);
    }
    if (l.keys <= 100)
        for (int k = 1; k <= l.keys; k++)
            ck_assert_msg(keyseen[k] > 0, "key k%d never drawn", k);
    free(keyseen);
}

START_TEST(test_kvload_mix)
{
    int n[5];
    const int32_t put_only[5] = {0, 1, 0, 0, 0};
    mix_counts(put_only, 5, 0, n);
    ck_assert_int_eq(n[KV_PUT], 10000);
    const int32_t cas_only[5] = {0, 0, 0, 0, 9};
    mix_counts(cas_only, 5, 100, n);
    ck_assert_int_eq(n[KV_CAS], 10000);
    /* Weights (negative ones count as 0): 10,000 draws within 3 points. */
    const int32_t mix[5] = {0, 20, 50, 25, 5};
    mix_counts(mix, 30, 8, n);
    ck_assert_int_eq(n[1] + n[2] + n[3] + n[4], 10000);
    for (int op = KV_PUT; op <= KV_CAS; op++)
        ck_assert_msg(abs(n[op] - mix[op] * 100) < 300, "%s: %d of 10000, weight %d",
                      kv_op_name(op), n[op], mix[op]);
    const int32_t neg[5] = {0, -5, 1, 0, 1};
    mix_counts(neg, 3, 4096, n);
    ck_assert_int_eq(n[KV_PUT], 0);
    ck_assert_int_eq(n[KV_APPEND], 0);
    ck_assert_msg(abs(n[KV_GET] - 5000) < 300 && abs(n[KV_CAS] - 5000) < 300, "%d %d",
                  n[KV_GET], n[KV_CAS]);
    /* No mix, or all zero: get 50, put 30, append 10, cas 10. */
    const int32_t zero[5] = {0};
    for (int i = 0; i < 2; i++) {
        mix_counts(i ? zero : NULL, 0, 0, n);
        ck_assert_msg(abs(n[KV_GET] - 5000) < 300 && abs(n[KV_PUT] - 3000) < 300 &&
                          abs(n[KV_APPEND] - 1000) < 300 && abs(n[KV_CAS] - 1000) < 300,
                      "default mix: put %d get %d append %d cas %d", n[1], n[2], n[3], n[4]);
    }
    /* Out-of-range settings. */
    static struct kvload l;
    kvload_init(&l, 1, 1, 0, NULL, KV_MAX_VALUE + 1);
    ck_assert_int_eq(l.keys, KVLOAD_DEFAULT_KEYS);
    ck_assert_int_eq(l.value_size, 0);
    kvload_init(&l, 1, 1, (int)KV_MAX_KEYS + 5, NULL, -1);
    ck_assert_int_eq(l.keys, (int)KV_MAX_KEYS);
    ck_assert_int_eq(l.value_size, 0);
    mix_counts(put_only, (int)KV_MAX_KEYS * 2, KV_MAX_VALUE, n);
    ck_assert_int_eq(n[KV_PUT], 10000);
}
END_TEST

/* A client against a store: every cas expects what the client was taught
 * of its key (by kvload_learn), and tags never repeat. */
START_TEST(test_kvload_learn)
{
    static struct kvload l;
    static uint8_t cmd[KV_MAX_CMD], ans[KV_MAX_ANSWER];
    static uint8_t known[9][KV_MAX_VALUE];
    uint32_t klen[9] = {0};
    const int32_t mix[5] = {0, 25, 25, 25, 25};
    struct kv_store s;
    kv_init(&s, &algo_mem_libc);
    kvload_init(&l, 5, 1, 8, mix, 20);
    int cas_ok = 0, cas_mismatch = 0;
    char seen_tag[KV_MAX_TAG + 1] = "";
    for (int64_t op = 1; op <= 5000; op++) {
        uint32_t n = kvload_next(&l, op, cmd);
        struct kv_cmd c;
        ck_assert(kv_decode(cmd, n, &c));
        int k = c.key[1] - '0';
        ck_assert(c.klen == 2 && k >= 1 && k <= 8);
        char tag[KV_MAX_TAG + 1];
        tag_of(&c, tag);
        ck_assert_str_ne(tag, seen_tag);
        strcpy(seen_tag, tag);
        if (c.op == KV_CAS) {
            ck_assert_msg(c.alen == klen[k] && (c.alen == 0 || memcmp(c.a, known[k], c.alen) == 0),
                          "op %lld: cas on k%d expects %u bytes, the client knew %u",
                          (long long)op, k, c.alen, klen[k]);
        }
        /* Every so often another writer changes the key behind its back. */
        if (op % 7 == 0)
            put_s(&s, (const char[]){'k', (char)('0' + k), 0}, "other");
        uint32_t al = apply(&s, cmd, n, ans);
        /* What it should learn. */
        if (c.op == KV_GET && ans[0] == KV_OK) {
            klen[k] = al - 1;
            memcpy(known[k], ans + 1, al - 1);
        } else if (c.op == KV_GET) {
            klen[k] = 0;
        } else if (c.op == KV_PUT && ans[0] == KV_OK) {
            klen[k] = c.alen;
            memcpy(known[k], c.a, c.alen);
        } else if (c.op == KV_CAS && ans[0] == KV_OK) {
            cas_ok++;
            klen[k] = c.blen;
            memcpy(known[k], c.b, c.blen);
        } else if (c.op == KV_CAS && ans[0] == KV_MISMATCH) {
            cas_mismatch++;
            klen[k] = al - 1;
            memcpy(known[k], ans + 1, al - 1);
        }
        kvload_learn(&l, cmd, n, ans, al);
    }
    ck_assert_int_gt(cas_ok, 100);
    ck_assert_int_gt(cas_mismatch, 100);
    /* Answers that teach nothing: malformed ones, other keys' names. */
    uint8_t g[64];
    uint32_t n = enc(g, KV_GET, "k1", 2, NULL, 0, NULL, 0, NULL);
    kvload_learn(&l, g, n, (const uint8_t *)"", 0);
    kvload_learn(&l, (const uint8_t *)"junk", 4, (const uint8_t *)"\0abc", 4);
    n = enc(g, KV_GET, "x1", 2, NULL, 0, NULL, 0, NULL);
    kvload_learn(&l, g, n, (const uint8_t *)"\0abc", 4);
    n = enc(g, KV_GET, "k0", 2, NULL, 0, NULL, 0, NULL);
    kvload_learn(&l, g, n, (const uint8_t *)"\0abc", 4);
    kv_free(&s);
}
END_TEST

/* ---- kvtext ---- */

static const char *cmd_text(char *out, size_t cap, int op, const void *k, uint32_t kl,
                            const void *a, uint32_t al, const void *b, uint32_t bl, size_t max)
{
    struct kv_cmd c = {.op = op, .key = k, .klen = kl, .a = a, .alen = al, .b = b, .blen = bl};
    return kvtext_cmd(out, cap, &c, max);
}

START_TEST(test_kvtext_cmd)
{
    char out[2048];
    ck_assert_str_eq(cmd_text(out, sizeof out, KV_PUT, "k1", 2, "v1", 2, NULL, 0, 0), "put k1 v1");
    ck_assert_str_eq(cmd_text(out, sizeof out, KV_GET, "k1", 2, NULL, 0, NULL, 0, 0), "get k1");
    ck_assert_str_eq(cmd_text(out, sizeof out, KV_APPEND, "k", 1, "x;", 2, NULL, 0, 0),
                     "append k x;");
    ck_assert_str_eq(cmd_text(out, sizeof out, KV_CAS, "lock", 4, "", 0, "c1", 2, 0),
                     "cas lock \"\" c1");
    ck_assert_str_eq(cmd_text(out, sizeof out, KV_PUT, "k", 1, "", 0, NULL, 0, 0), "put k \"\"");
    ck_assert_str_eq(cmd_text(out, sizeof out, KV_PUT, "a b", 3, "x y", 3, NULL, 0, 0),
                     "put \"a b\" \"x y\"");
    /* Bytes that are not printable, quotes and backslashes: \xNN. */
    ck_assert_str_eq(cmd_text(out, sizeof out, KV_PUT, "k\0\xff", 3, "\"\\\n\x7f", 4, NULL, 0, 0),
                     "put k\\x00\\xff \\x22\\x5c\\x0a\\x7f");
    ck_assert_str_eq(cmd_text(out, sizeof out, KV_CAS, "\x01", 1, "\xc3\xa9", 2, "\t", 1, 0),
                     "cas \\x01 \\xc3\\xa9 \\x09");
    /* Long values are shortened (64 bytes by default), keys never. */
    char v[300], want[600];
    memset(v, 'v', sizeof v);
    cmd_text(out, sizeof out, KV_PUT, "k", 1, v, 300, NULL, 0, 0);
    snprintf(want, sizeof want, "put k %.64s...(300 bytes)", v);
    ck_assert_str_eq(out, want);
    cmd_text(out, sizeof out, KV_CAS, "k", 1, v, 11, v, 12, 10);
    ck_assert_str_eq(out, "cas k vvvvvvvvvv...(11 bytes) vvvvvvvvvv...(12 bytes)");
    cmd_text(out, sizeof out, KV_PUT, "k", 1, v, 10, NULL, 0, 10);
    ck_assert_str_eq(out, "put k vvvvvvvvvv");
    char key[KV_MAX_KEY];
    memset(key, 'K', sizeof key);
    cmd_text(out, sizeof out, KV_GET, key, KV_MAX_KEY, NULL, 0, NULL, 0, 5);
    ck_assert_uint_eq(strlen(out), 4 + KV_MAX_KEY);
    memset(key, 0, sizeof key);
    cmd_text(out, sizeof out, KV_GET, key, KV_MAX_KEY, NULL, 0, NULL, 0, 5);
    ck_assert_uint_eq(strlen(out), 4 + 4 * KV_MAX_KEY);
    /* Binary values at the limit of the buffers: shortened, terminated. */
    uint8_t bin[KV_MAX_VALUE];
    memset(bin, 0xff, sizeof bin);
    cmd_text(out, sizeof out, KV_CAS, key, KV_MAX_KEY, bin, KV_MAX_VALUE, bin, KV_MAX_VALUE, 0);
    ck_assert_ptr_nonnull(strstr(out, "...(4096 bytes) "));
    ck_assert_uint_lt(strlen(out), sizeof out);
    /* A small output buffer: cut, still a string. */
    char small[8];
    cmd_text(small, sizeof small, KV_PUT, "key", 3, "value", 5, NULL, 0, 0);
    ck_assert_str_eq(small, "put key");
}
END_TEST

static char *dump(json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void json_is(const void *p, size_t len, const char *want, int want_escaped)
{
    int esc = -1;
    json_t *v = kvtext_json(p, len, &esc);
    ck_assert_ptr_nonnull(v);
    char *s = dump(v);
    ck_assert_msg(strcmp(s, want) == 0, "%zu bytes: %s, want %s", len, s, want);
    ck_assert_msg(esc == want_escaped, "%zu bytes (%s): escaped %d", len, want, esc);
    free(s);
    json_decref(v);
    v = kvtext_json(p, len, NULL); /* escaped may be NULL */
    ck_assert_ptr_nonnull(v);
    json_decref(v);
}

START_TEST(test_kvtext_json)
{
    json_is("", 0, "\"\"", 0);
    json_is(NULL, 0, "\"\"", 0);
    json_is("abc", 3, "\"abc\"", 0);
    json_is("a\"b\\c\n", 6, "\"a\\\"b\\\\c\\n\"", 0);
    json_is("\xc3\xa9t\xc3\xa9", 5, "\"\xc3\xa9t\xc3\xa9\"", 0);
    /* Not UTF-8: every byte that is not printable as \xNN. */
    json_is("\xff", 1, "\"\\\\xff\"", 1);
    json_is("a\xc3", 2, "\"a\\\\xc3\"", 1);
    json_is("\xed\xa0\x80", 3, "\"\\\\xed\\\\xa0\\\\x80\"", 1);
    json_is("\xc3\xa9\xfe", 3, "\"\xc3\xa9\\\\xfe\"", 1);
    /* NUL bytes: escaped too, and nothing after them lost. */
    json_is("\0", 1, "\"\\\\x00\"", 1);
    json_is("a\0b", 3, "\"a\\\\x00b\"", 1);
    json_is("\0\0\xff", 3, "\"\\\\x00\\\\x00\\\\xff\"", 1);
    json_is("x\\\0", 3, "\"x\\\\\\\\\\\\x00\"", 1);
    /* A long binary value is kept whole. */
    uint8_t bin[KV_MAX_VALUE];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)i;
    json_t *v = kvtext_json(bin, sizeof bin, NULL);
    ck_assert_ptr_nonnull(v);
    const char *s = json_string_value(v);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(s, "\\x00\\x01"));
    ck_assert_ptr_nonnull(strstr(s, "\\xfe\\xff"));
    json_decref(v);
}
END_TEST

static char *answer_json(int op, const void *ans, size_t len)
{
    json_t *o = json_object();
    kvtext_answer_fields(o, op, ans, len);
    char *s = dump(o);
    json_decref(o);
    return s;
}

START_TEST(test_kvtext_answer_fields)
{
    struct {
        int op;
        const char *ans;
        size_t len;
        const char *want;
    } cases[] = {
        {KV_GET, "\x00v1", 3, "{\"status\":\"ok\",\"value\":\"v1\"}"},
        {KV_GET, "\x00", 1, "{\"status\":\"ok\",\"value\":\"\"}"},
        {KV_GET, "\x00\xff", 2, "{\"status\":\"ok\",\"value\":\"\\\\xff\"}"},
        {KV_GET, "\x01", 1, "{\"status\":\"not_found\"}"},
        {KV_PUT, "\x00", 1, "{\"status\":\"ok\"}"},
        {KV_APPEND, "\x03", 1, "{\"status\":\"too_large\"}"},
        {KV_CAS, "\x02" "cur", 4, "{\"current\":\"cur\",\"status\":\"mismatch\"}"},
        {KV_CAS, "\x02", 1, "{\"current\":\"\",\"status\":\"mismatch\"}"},
        {KV_CAS, "\x00", 1, "{\"status\":\"ok\"}"},
        {KV_PUT, "\x04", 1, "{\"status\":\"full\"}"},
        {KV_GET, "\x05", 1, "{\"status\":\"bad_command\"}"},
        {KV_GET, "", 0, "{\"status\":\"malformed\"}"},
        {KV_GET, "\x06", 1, "{\"status\":\"malformed\"}"},
        {KV_GET, "\xff" "abc", 4, "{\"status\":\"malformed\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = answer_json(cases[i].op, cases[i].ans, cases[i].len);
        ck_assert_msg(strcmp(s, cases[i].want) == 0, "case %zu: %s, want %s", i, s,
                      cases[i].want);
        free(s);
    }
    /* The command's fields. */
    struct kv_cmd c = {.op = KV_CAS, .key = (const uint8_t *)"k\0", .klen = 2,
                       .a = (const uint8_t *)"old", .alen = 3, .b = (const uint8_t *)"new",
                       .blen = 3, .tag = (const uint8_t *)"c1-2", .tlen = 4};
    json_t *o = json_object();
    kvtext_cmd_fields(o, &c);
    char *s = dump(o);
    ck_assert_str_eq(s, "{\"expect\":\"old\",\"key\":\"k\\\\x00\",\"op\":\"cas\",\"tag\":\"c1-2\","
                        "\"value\":\"new\"}");
    free(s);
    json_decref(o);
    c = (struct kv_cmd){.op = KV_GET, .key = (const uint8_t *)"k", .klen = 1};
    o = json_object();
    kvtext_cmd_fields(o, &c);
    s = dump(o);
    ck_assert_str_eq(s, "{\"key\":\"k\",\"op\":\"get\"}");
    free(s);
    json_decref(o);
}
END_TEST

static Suite *kv_suite(void)
{
    Suite *su = suite_create("kv");
    TCase *tc = tcase_create("encoding");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_encode_roundtrip);
    tcase_add_test(tc, test_invalid_messages);
    tcase_add_test(tc, test_decode_rejects);
    suite_add_tcase(su, tc);

    tc = tcase_create("store");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_answers);
    tcase_add_test(tc, test_random_vs_model);
    tcase_add_test(tc, test_max_keys);
    tcase_add_test(tc, test_max_bytes);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(su, tc);

    tc = tcase_create("snapshot");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_snapshot_roundtrip);
    tcase_add_test(tc, test_snapshot_rejects);
    tcase_add_test(tc, test_snapshot_too_many_bytes);
    suite_add_tcase(su, tc);

    tc = tcase_create("kvload");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kvload_deterministic);
    tcase_add_test(tc, test_kvload_mix);
    tcase_add_test(tc, test_kvload_learn);
    suite_add_tcase(su, tc);

    tc = tcase_create("kvtext");
    tcase_add_test(tc, test_kvtext_cmd);
    tcase_add_test(tc, test_kvtext_json);
    tcase_add_test(tc, test_kvtext_answer_fields);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(kv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
