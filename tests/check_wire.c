/* The wire format: encoding, and the validation of every header field. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/wire.h"

#define RUN 0x1234abcdu

static struct wire_hdr hdr(void)
{
    struct wire_hdr h = {.type = 0x0101, .run_id = RUN, .from = 1, .to = 2, .len = 0,
                         .send_us = 77};
    h.f[0] = 5;
    h.f[3] = -9;
    return h;
}

static int decode(const void *buf, size_t size, struct wire_hdr *out)
{
    const uint8_t *payload;
    return wire_decode(buf, size, RUN, 2, 5, out, &payload);
}

START_TEST(test_roundtrip)
{
    uint8_t buf[256];
    struct wire_hdr h = hdr(), out;
    const char payload[] = "hello";
    h.len = sizeof payload;
    int len = wire_encode(buf, sizeof buf, &h, payload);
    ck_assert_int_eq(len, (int)(sizeof h + sizeof payload));
    const uint8_t *p;
    ck_assert_int_eq(wire_decode(buf, (size_t)len, RUN, 2, 5, &out, &p), WIRE_OK);
    ck_assert_uint_eq(out.magic, WIRE_MAGIC);
    ck_assert_uint_eq(out.version, WIRE_VERSION);
    ck_assert_uint_eq(out.type, 0x0101);
    ck_assert_uint_eq(out.from, 1);
    ck_assert_int_eq(out.f[0], 5);
    ck_assert_int_eq(out.f[3], -9);
    ck_assert_int_eq(out.send_us, 77);
    ck_assert_uint_eq(out.len, sizeof payload);
    ck_assert_str_eq((const char *)p, "hello");
}
END_TEST

START_TEST(test_encode_too_big)
{
    uint8_t buf[80];
    struct wire_hdr h = hdr();
    h.len = 17;
    char payload[17] = {0};
    ck_assert_int_eq(wire_encode(buf, sizeof buf, &h, payload), -EMSGSIZE);
    h.len = 16;
    ck_assert_int_eq(wire_encode(buf, sizeof buf, &h, payload), 80);
}
END_TEST

/* Encode a valid header, corrupt one field with fn, expect err. */
static void expect(void (*fn)(struct wire_hdr *), size_t size_delta, int err)
{
    uint8_t buf[256];
    struct wire_hdr h = hdr(), out;
    int len = wire_encode(buf, sizeof buf, &h, NULL);
    ck_assert_int_gt(len, 0);
    struct wire_hdr raw;
    memcpy(&raw, buf, sizeof raw);
    if (fn)
        fn(&raw);
    memcpy(buf, &raw, sizeof raw);
    ck_assert_int_eq(decode(buf, (size_t)len + size_delta, &out), err);
}

static void bad_magic(struct wire_hdr *h) { h->magic ^= 1; }
static void bad_version(struct wire_hdr *h) { h->version = WIRE_VERSION + 1; }
static void bad_run(struct wire_hdr *h) { h->run_id = RUN + 1; }
static void bad_from(struct wire_hdr *h) { h->from = 6; }
static void from_self(struct wire_hdr *h) { h->from = 2; }
static void bad_to(struct wire_hdr *h) { h->to = 3; }
static void bad_len(struct wire_hdr *h) { h->len = 4; }
static void bad_flags(struct wire_hdr *h) { h->flags = 0x80; }
static void bulk_no_desc(struct wire_hdr *h) { h->flags = WIRE_F_BULK; }
static void from_supervisor(struct wire_hdr *h) { h->from = 0; }

START_TEST(test_reject_each_field)
{
    expect(bad_magic, 0, WIRE_ERR_MAGIC);
    expect(bad_version, 0, WIRE_ERR_VERSION);
    expect(bad_run, 0, WIRE_ERR_RUN);
    expect(bad_from, 0, WIRE_ERR_FROM);
    expect(from_self, 0, WIRE_ERR_FROM);
    expect(bad_to, 0, WIRE_ERR_TO);
    expect(bad_len, 0, WIRE_ERR_LEN);
    expect(bad_flags, 0, WIRE_ERR_FLAGS);
    expect(bulk_no_desc, 0, WIRE_ERR_FLAGS);
    expect(from_supervisor, 0, WIRE_OK);
}
END_TEST

START_TEST(test_truncated)
{
    uint8_t buf[256];
    struct wire_hdr h = hdr(), out;
    int len = wire_encode(buf, sizeof buf, &h, NULL);
    for (int cut = 0; cut < len; cut++)
        ck_assert_int_eq(decode(buf, (size_t)cut, &out), WIRE_ERR_SHORT);
    /* One byte more than the header says: a length mismatch. */
    ck_assert_int_eq(decode(buf, (size_t)len + 1, &out), WIRE_ERR_LEN);
}
END_TEST

START_TEST(test_random_junk_never_accepted)
{
    /* Random bytes are rejected (by the magic, almost always), never crash. */
    uint8_t buf[512];
    unsigned seed = 12345;
    for (int i = 0; i < 20000; i++) {
        size_t size = (size_t)(rand_r(&seed) % (int)sizeof buf);
        for (size_t j = 0; j < size; j++)
            buf[j] = (uint8_t)rand_r(&seed);
        struct wire_hdr out;
        ck_assert_int_ne(decode(buf, size, &out), WIRE_OK);
    }
}
END_TEST

START_TEST(test_err_names)
{
    ck_assert_str_eq(wire_err_name(WIRE_ERR_MAGIC), "magic");
    ck_assert_str_eq(wire_err_name(WIRE_ERR_RUN), "run");
    ck_assert_str_eq(wire_err_name(-1), "unknown");
    ck_assert_str_eq(wire_err_name(WIRE_ERR_COUNT), "unknown");
}
END_TEST


/* A run with clients: its processes are 0 .. n + clients. A client (an id
 * above n) is a valid sender and receiver; one above n + clients is not,
 * and every other check stays. */
START_TEST(test_client_ids)
{
    const int n = 5, procs = 5 + 3; /* clients 6, 7, 8 */
    uint8_t buf[256];
    const uint8_t *p;
    struct wire_hdr out;
    for (int from = 0; from <= procs + 2; from++) {
        struct wire_hdr h = hdr();
        h.from = (uint16_t)from;
        h.to = 2;
        int len = wire_encode(buf, sizeof buf, &h, NULL);
        int want = from == 2 || from > procs ? WIRE_ERR_FROM : WIRE_OK;
        ck_assert_msg(wire_decode(buf, (size_t)len, RUN, 2, procs, &out, &p) == want,
                      "from %d", from);
        /* With the nodes alone, the clients are strangers. */
        want = from == 2 || from > n ? WIRE_ERR_FROM : WIRE_OK;
        ck_assert_msg(wire_decode(buf, (size_t)len, RUN, 2, n, &out, &p) == want, "from %d", from);
    }
    /* A client receives from a node, not what is addressed to another. */
    struct wire_hdr h = hdr();
    h.from = 3;
    h.to = 7;
    int len = wire_encode(buf, sizeof buf, &h, NULL);
    ck_assert_int_eq(wire_decode(buf, (size_t)len, RUN, 7, procs, &out, &p), WIRE_OK);
    ck_assert_int_eq(wire_decode(buf, (size_t)len, RUN, 8, procs, &out, &p), WIRE_ERR_TO);
    ck_assert_int_eq(wire_decode(buf, (size_t)len, RUN + 1, 7, procs, &out, &p), WIRE_ERR_RUN);
    ck_assert_int_eq(wire_decode(buf, (size_t)len + 1, RUN, 7, procs, &out, &p), WIRE_ERR_LEN);
    /* The largest run: DL_MAX_PROCS processes. */
    h.from = DL_MAX_PROCS;
    h.to = 1;
    len = wire_encode(buf, sizeof buf, &h, NULL);
    ck_assert_int_eq(wire_decode(buf, (size_t)len, RUN, 1, DL_MAX_PROCS, &out, &p), WIRE_OK);
    h.from = DL_MAX_PROCS + 1;
    len = wire_encode(buf, sizeof buf, &h, NULL);
    ck_assert_int_eq(wire_decode(buf, (size_t)len, RUN, 1, DL_MAX_PROCS, &out, &p), WIRE_ERR_FROM);
}
END_TEST
static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *enc = tcase_create("encode");
    tcase_add_test(enc, test_roundtrip);
    tcase_add_test(enc, test_encode_too_big);
    suite_add_tcase(s, enc);
    TCase *val = tcase_create("validate");
    tcase_add_test(val, test_reject_each_field);
    tcase_add_test(val, test_truncated);
    tcase_add_test(val, test_random_junk_never_accepted);
    tcase_add_test(val, test_err_names);
    tcase_add_test(val, test_client_ids);
    suite_add_tcase(s, val);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
