/* The core interface's helpers (nodes/algo.c): payload sends copied into
 * the step's arena, the log-entry encoding that AppendEntries payloads and
 * storage actions share, and the storage/state-machine actions. Pure
 * functions: no processes. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/algo.h"

static struct algo_actions acts;

static void setup(void) { ck_assert_int_eq(algo_actions_init(&acts, 5), 0); }
static void teardown(void) { algo_actions_free(&acts); }

/* A payload is copied: the core may reuse its buffer right after. */
START_TEST(test_send_ex_copies)
{
    uint8_t buf[100];
    memset(buf, 'a', sizeof buf);
    struct algo_msg m = {.type = MSG_RANGE_RAFT + 1, .from = 1, .to = 2, .f = {7, 8, 9, 10},
                         .len = sizeof buf, .payload = buf};
    ck_assert(act_send_ex(&acts, &m, true));
    memset(buf, 'b', sizeof buf);
    ck_assert_int_eq(acts.n, 1);
    const struct algo_action *a = &acts.a[0];
    ck_assert_int_eq(a->kind, ACT_SEND);
    ck_assert(a->after_sync);
    ck_assert_int_eq(a->msg.len, 100);
    ck_assert_int_eq(a->msg.to, 2);
    ck_assert_int_eq(a->msg.f[3], 10);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(a->msg.payload[i], 'a');
    /* a plain send after it has no payload and no hold */
    act_send(&acts, 1, 3, MSG_RANGE_RAFT + 1, 0, 0, 0, 0);
    ck_assert_int_eq(acts.a[1].msg.len, 0);
    ck_assert(!acts.a[1].after_sync);
}
END_TEST

/* Over ALGO_MAX_PAYLOAD, or past the arena: refused, nothing emitted, and
 * the arena is untouched; a new step starts with an empty arena. */
START_TEST(test_send_ex_limits)
{
    static uint8_t big[ALGO_MAX_PAYLOAD + 1];
    struct algo_msg m = {.type = 1, .from = 1, .to = 2, .len = ALGO_MAX_PAYLOAD + 1,
                         .payload = big};
    ck_assert(!act_send_ex(&acts, &m, false));
    ck_assert_int_eq(acts.n, 0);
    ck_assert_uint_eq(acts.arena_used, 0);
    m.len = ALGO_MAX_PAYLOAD;
    int sent = 0;
    while (act_send_ex(&acts, &m, false))
        sent++;
    ck_assert_int_eq(sent, (int)(ALGO_ARENA_BYTES / ALGO_MAX_PAYLOAD));
    ck_assert_int_eq(acts.n, sent);
    ck_assert_uint_le(acts.arena_used, ALGO_ARENA_BYTES);
    ck_assert_int_eq(acts.overflow, 0); /* a full arena is not a lost action */
    algo_actions_clear(&acts);
    ck_assert_uint_eq(acts.arena_used, 0);
    ck_assert(act_send_ex(&acts, &m, false));
}
END_TEST

/* More actions than the list holds: the payload send says so. */
START_TEST(test_send_ex_full_list)
{
    uint8_t b = 1;
    struct algo_msg m = {.type = 1, .from = 1, .to = 2, .len = 1, .payload = &b};
    int ok = 0;
    for (int i = 0; i < acts.cap + 5; i++)
        ok += act_send_ex(&acts, &m, false);
    ck_assert_int_eq(ok, acts.cap);
    ck_assert_int_eq(acts.n, acts.cap);
}
END_TEST

START_TEST(test_entries_roundtrip)
{
    const char *cmds[] = {"", "x", "hello world", "a longer command with some bytes"};
    struct algo_entry e[4];
    for (int i = 0; i < 4; i++)
        e[i] = (struct algo_entry){.term = 1000 + i * (INT64_C(1) << 40), .len = (uint32_t)strlen(cmds[i]),
                                   .data = (const uint8_t *)cmds[i]};
    uint8_t buf[256];
    uint32_t len = algo_entries_encode(buf, sizeof buf, e, 4);
    uint32_t want = 0;
    for (int i = 0; i < 4; i++)
        want += ALGO_ENTRY_HDR + e[i].len;
    ck_assert_uint_eq(len, want);
    const uint8_t *p = buf, *end = buf + len;
    for (int i = 0; i < 4; i++) {
        struct algo_entry d;
        ck_assert(algo_entries_next(&p, end, &d));
        ck_assert_int_eq(d.term, e[i].term);
        ck_assert_uint_eq(d.len, e[i].len);
        ck_assert(memcmp(d.data, cmds[i], d.len) == 0);
    }
    struct algo_entry d;
    ck_assert(!algo_entries_next(&p, end, &d));
    ck_assert_ptr_eq(p, end);
    /* too small a buffer: 0, not a partial encoding */
    ck_assert_uint_eq(algo_entries_encode(buf, want - 1, e, 4), 0);
}
END_TEST

/* Junk never reads past the end: every truncation and every length field
 * claiming more than is there is refused. */
START_TEST(test_entries_junk)
{
    struct algo_entry e = {.term = 5, .len = 10, .data = (const uint8_t *)"0123456789"};
    uint8_t buf[64];
    uint32_t len = algo_entries_encode(buf, sizeof buf, &e, 1);
    ck_assert_uint_eq(len, ALGO_ENTRY_HDR + 10);
    for (uint32_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        memcpy(copy, buf, cut);
        const uint8_t *p = copy;
        struct algo_entry d;
        ck_assert_msg(!algo_entries_next(&p, copy + cut, &d), "cut at %u decoded", cut);
        ck_assert_ptr_eq(p, copy);
        free(copy);
    }
    buf[8] = 0xff, buf[9] = 0xff, buf[10] = 0xff, buf[11] = 0xff; /* len 4 GiB */
    const uint8_t *p = buf;
    struct algo_entry d;
    ck_assert(!algo_entries_next(&p, buf + len, &d));
}
END_TEST

START_TEST(test_storage_actions)
{
    struct algo_entry e[2] = {{.term = 3, .len = 2, .data = (const uint8_t *)"ab"},
                              {.term = 4, .len = 0, .data = NULL}};
    act_store_term_vote(&acts, 4, 2);
    ck_assert(act_store_append(&acts, 17, e, 2));
    act_store_truncate(&acts, 18);
    ck_assert(act_store_snapshot(&acts, 16, 3, "state", 5));
    act_commit(&acts, 17, 3);
    ck_assert(act_apply(&acts, 17, 3, "ab", 2));
    ck_assert(act_client(&acts, ALGO_OP_OK, 9, 2, 17, 3, "ok", 2));
    ck_assert_int_eq(acts.n, 7);
    ck_assert_int_eq(acts.a[0].kind, ACT_STORE_TERM_VOTE);
    ck_assert_int_eq(acts.a[0].term, 4);
    ck_assert_int_eq(acts.a[0].vote, 2);
    const struct algo_action *ap = &acts.a[1];
    ck_assert_int_eq(ap->kind, ACT_STORE_APPEND);
    ck_assert_int_eq(ap->index, 17);
    ck_assert_int_eq(ap->count, 2);
    const uint8_t *p = ap->msg.payload, *end = p + ap->msg.len;
    struct algo_entry d;
    ck_assert(algo_entries_next(&p, end, &d) && d.term == 3 && d.len == 2);
    ck_assert(algo_entries_next(&p, end, &d) && d.term == 4 && d.len == 0);
    ck_assert_ptr_eq(p, end);
    ck_assert_int_eq(acts.a[2].kind, ACT_STORE_TRUNCATE);
    ck_assert_int_eq(acts.a[2].index, 18);
    ck_assert_int_eq(acts.a[3].kind, ACT_STORE_SNAPSHOT);
    ck_assert(acts.a[3].index == 16 && acts.a[3].term == 3 && acts.a[3].msg.len == 5);
    ck_assert(memcmp(acts.a[3].msg.payload, "state", 5) == 0);
    ck_assert(acts.a[4].kind == ACT_COMMIT && acts.a[4].index == 17);
    ck_assert(acts.a[5].kind == ACT_APPLY && acts.a[5].msg.len == 2);
    ck_assert(acts.a[6].kind == ACT_CLIENT && acts.a[6].outcome == ALGO_OP_OK &&
              acts.a[6].key == 9 && acts.a[6].msg.from == 2);
}
END_TEST

/* The driver's allocator: realloc semantics, size 0 frees. */
START_TEST(test_mem_libc)
{
    const struct algo_mem *m = &algo_mem_libc;
    char *p = algo_realloc(m, NULL, 16);
    ck_assert_ptr_nonnull(p);
    memcpy(p, "0123456789abcde", 16);
    p = algo_realloc(m, p, 1 << 20);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "0123456789abcde");
    ck_assert_ptr_null(algo_realloc(m, p, 0));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("algo_api");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_send_ex_copies);
    tcase_add_test(tc, test_send_ex_limits);
    tcase_add_test(tc, test_send_ex_full_list);
    tcase_add_test(tc, test_entries_roundtrip);
    tcase_add_test(tc, test_entries_junk);
    tcase_add_test(tc, test_storage_actions);
    tcase_add_test(tc, test_mem_libc);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
