/* The replicated-log storage: round trips, truncation and snapshot rules,
 * recovery from torn tails and corruption, group commit, compaction, write
 * failures, and a throughput measurement. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/storage.h"
#include "ipc/util.h"

static char dir[PATH_MAX];
static char path[PATH_MAX + 16];
static char errbuf[DL_ERRLEN];

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/check_storage.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/n0.log", dir);
}

static void teardown(void)
{
    char p[PATH_MAX + 32];
    unlink(path);
    snprintf(p, sizeof p, "%s.tmp", path);
    unlink(p);
    ck_assert_int_eq(rmdir(dir), 0);
}

/* ---- helpers ---- */

static const struct storage_opts NOSYNC = {.fsync = false};
static const struct storage_opts SYNC = {.fsync = true};

/* The deterministic content of entry i (term generation tg). */
static int64_t term_of(int64_t i)
{
    return 1 + i / 10;
}

static uint32_t cmd_of(int64_t i, int tg, uint8_t *buf)
{
    uint32_t len = (uint32_t)((i * 7 + tg) % 50);
    for (uint32_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 31 + j + (uint32_t)tg * 101);
    return len;
}

static struct storage *open_ok(const struct storage_opts *o, struct storage_recovery *rec)
{
    struct storage *s;
    struct storage_recovery r;
    int rc = storage_open(&s, path, o, rec ? rec : &r, errbuf);
    ck_assert_msg(rc == 0, "storage_open: %d %s", rc, errbuf);
    return s;
}

/* Append entries from..to (one call each), content of generation tg. */
static void fill(struct storage *s, int64_t from, int64_t to, int tg)
{
    uint8_t buf[64];
    for (int64_t i = from; i <= to; i++) {
        struct storage_entry e = {.term = term_of(i) + tg, .cmd = buf};
        e.len = cmd_of(i, tg, buf);
        int rc = storage_append(s, i, &e, 1, errbuf);
        ck_assert_msg(rc == 0, "append %lld: %s", (long long)i, errbuf);
    }
}

static void check_entries(const struct storage *s, int64_t from, int64_t to, int tg)
{
    uint8_t buf[64];
    for (int64_t i = from; i <= to; i++) {
        struct storage_entry e;
        ck_assert_int_eq(storage_entry_at(s, i, &e), 0);
        ck_assert_int_eq(e.term, term_of(i) + tg);
        uint32_t len = cmd_of(i, tg, buf);
        ck_assert_uint_eq(e.len, len);
        ck_assert(len == 0 || memcmp(e.cmd, buf, len) == 0);
        int64_t t;
        ck_assert_int_eq(storage_term_at(s, i, &t), 0);
        ck_assert_int_eq(t, term_of(i) + tg);
    }
}

static uint8_t *read_bytes(size_t *len)
{
    char *buf;
    ck_assert_int_eq(dl_read_file(path, &buf, len, errbuf), 0);
    return (uint8_t *)buf;
}

static void write_bytes(const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dl_write_all(fd, buf, len), 0);
    close(fd);
}

static off_t disk_size(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return st.st_size;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- round trips ---- */

START_TEST(test_empty)
{
    struct storage_recovery rec;
    struct storage *s = open_ok(&NOSYNC, &rec);
    ck_assert_uint_eq(rec.records, 0);
    ck_assert_ptr_null(rec.reason);
    ck_assert_int_eq(storage_term(s), 0);
    ck_assert_int_eq(storage_voted_for(s), STORAGE_NO_VOTE);
    ck_assert_int_eq(storage_first_index(s), 1);
    ck_assert_int_eq(storage_last_index(s), 0);
    int64_t t = 99;
    ck_assert_int_eq(storage_term_at(s, 0, &t), 0);
    ck_assert_int_eq(t, 0);
    ck_assert_int_eq(storage_term_at(s, 1, &t), -ENOENT);
    struct storage_entry e;
    ck_assert_int_eq(storage_entry_at(s, 1, &e), -ENOENT);
    ck_assert_int_eq(storage_entry_at(s, 0, &e), -ENOENT);
    ck_assert(!storage_sync_pending(s));
    storage_close(s);
}
END_TEST

START_TEST(test_roundtrip_all_types)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    ck_assert_int_eq(storage_save_term_vote(s, 3, 2, errbuf), 0);
    fill(s, 1, 20, 0);
    ck_assert_int_eq(storage_truncate(s, 16, errbuf), 0);
    fill(s, 16, 18, 1);
    ck_assert_int_eq(storage_snapshot(s, 10, term_of(10), "state-10", 8, errbuf), 0);
    ck_assert_int_eq(storage_save_term_vote(s, 4, STORAGE_NO_VOTE, errbuf), 0);
    /* A batch of three in one call. */
    uint8_t b[3][64];
    struct storage_entry e[3];
    for (int i = 0; i < 3; i++)
        e[i] = (struct storage_entry){.term = term_of(19 + i) + 1, .cmd = b[i],
                                      .len = cmd_of(19 + i, 1, b[i])};
    ck_assert_int_eq(storage_append(s, 19, e, 3, errbuf), 0);
    uint64_t size = storage_file_size(s);
    ck_assert_int_eq(disk_size(path), (off_t)size);
    storage_close(s);

    struct storage_recovery rec;
    s = open_ok(&NOSYNC, &rec);
    ck_assert_ptr_null(rec.reason);
    ck_assert_uint_eq(rec.dropped_bytes, 0);
    ck_assert_uint_eq(rec.bytes, size);
    /* 1 + 20 + 1 + 3 + 1 + 1 + 3 records. */
    ck_assert_uint_eq(rec.records, 30);
    ck_assert_int_eq(storage_term(s), 4);
    ck_assert_int_eq(storage_voted_for(s), STORAGE_NO_VOTE);
    ck_assert_int_eq(storage_first_index(s), 11);
    ck_assert_int_eq(storage_last_index(s), 21);
    check_entries(s, 11, 15, 0);
    check_entries(s, 16, 21, 1);
    int64_t idx, term;
    const void *data;
    size_t len;
    storage_snapshot_get(s, &idx, &term, &data, &len);
    ck_assert_int_eq(idx, 10);
    ck_assert_int_eq(term, term_of(10));
    ck_assert_uint_eq(len, 8);
    ck_assert(memcmp(data, "state-10", 8) == 0);
    ck_assert_int_eq(storage_term_at(s, 10, &term), 0);
    ck_assert_int_eq(term, term_of(10));
    ck_assert_int_eq(storage_term_at(s, 9, &term), -ENOENT);
    ck_assert_int_eq(storage_term_at(s, 22, &term), -ENOENT);
    struct storage_entry x;
    ck_assert_int_eq(storage_entry_at(s, 10, &x), -ENOENT);
    ck_assert_int_eq(storage_entry_at(s, 22, &x), -ENOENT);
    storage_close(s);
}
END_TEST

START_TEST(test_large_command)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    uint8_t *big = malloc(STORAGE_MAX_CMD + 1);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i <= STORAGE_MAX_CMD; i++)
        big[i] = (uint8_t)(i * 13);
    struct storage_entry e = {.term = 1, .cmd = big, .len = STORAGE_MAX_CMD + 1};
    ck_assert_int_eq(storage_append(s, 1, &e, 1, errbuf), -EMSGSIZE);
    ck_assert_int_eq(storage_last_index(s), 0);
    ck_assert_uint_eq(storage_file_size(s), 0);
    e.len = STORAGE_MAX_CMD;
    ck_assert_int_eq(storage_append(s, 1, &e, 1, errbuf), 0);
    storage_close(s);
    s = open_ok(&NOSYNC, NULL);
    struct storage_entry out;
    ck_assert_int_eq(storage_entry_at(s, 1, &out), 0);
    ck_assert_uint_eq(out.len, STORAGE_MAX_CMD);
    ck_assert(memcmp(out.cmd, big, STORAGE_MAX_CMD) == 0);
    storage_close(s);
    free(big);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    fill(s, 1, 5, 0);
    uint64_t size = storage_file_size(s);
    struct storage_entry e = {.term = 1, .cmd = "x", .len = 1};
    ck_assert_int_eq(storage_append(s, 7, &e, 1, errbuf), -EINVAL);
    ck_assert_ptr_nonnull(strstr(errbuf, path));
    ck_assert_int_eq(storage_append(s, 5, &e, 1, errbuf), -EINVAL);
    ck_assert_int_eq(storage_truncate(s, 0, errbuf), -EINVAL);
    ck_assert_int_eq(storage_snapshot(s, 0, 1, NULL, 0, errbuf), -EINVAL);
    ck_assert_int_eq(storage_snapshot(s, 3, 1, "x", (size_t)STORAGE_MAX_SNAPSHOT + 1, errbuf),
                     -EMSGSIZE);
    /* Truncating past the end writes nothing. */
    ck_assert_int_eq(storage_truncate(s, 6, errbuf), 0);
    ck_assert_uint_eq(storage_file_size(s), size);
    ck_assert_int_eq(storage_snapshot(s, 3, term_of(3), NULL, 0, errbuf), 0);
    ck_assert_int_eq(storage_snapshot(s, 3, term_of(3), NULL, 0, errbuf), -EINVAL);
    ck_assert_int_eq(storage_truncate(s, 3, errbuf), -EINVAL);
    ck_assert_int_eq(storage_last_index(s), 5);
    storage_close(s);

    /* Opening something that is not a file, or in no directory. */
    struct storage_recovery rec;
    ck_assert_int_eq(storage_open(&s, dir, &NOSYNC, &rec, errbuf), -EISDIR);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(errbuf, dir));
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/none/n1.log", dir);
    ck_assert_int_eq(storage_open(&s, p, &NOSYNC, &rec, errbuf), -ENOENT);
    ck_assert_ptr_nonnull(strstr(errbuf, p));
}
END_TEST

/* ---- truncation and snapshots ---- */

START_TEST(test_truncate_then_append)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    fill(s, 1, 10, 0);
    ck_assert_int_eq(storage_truncate(s, 6, errbuf), 0);
    ck_assert_int_eq(storage_last_index(s), 5);
    struct storage_entry e;
    ck_assert_int_eq(storage_entry_at(s, 6, &e), -ENOENT);
    fill(s, 6, 8, 2);
    check_entries(s, 1, 5, 0);
    check_entries(s, 6, 8, 2);
    /* Truncate everything, then again from the middle of the new tail. */
    storage_close(s);
    s = open_ok(&NOSYNC, NULL);
    check_entries(s, 1, 5, 0);
    check_entries(s, 6, 8, 2);
    ck_assert_int_eq(storage_truncate(s, 1, errbuf), 0);
    ck_assert_int_eq(storage_last_index(s), 0);
    fill(s, 1, 4, 3);
    ck_assert_int_eq(storage_truncate(s, 4, errbuf), 0);
    storage_close(s);
    s = open_ok(&NOSYNC, NULL);
    ck_assert_int_eq(storage_first_index(s), 1);
    ck_assert_int_eq(storage_last_index(s), 3);
    check_entries(s, 1, 3, 3);
    storage_close(s);
}
END_TEST

START_TEST(test_snapshot_rules)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    fill(s, 1, 30, 0);
    /* Matching term: the entries after the snapshot stay. */
    ck_assert_int_eq(storage_snapshot(s, 20, term_of(20), "a", 1, errbuf), 0);
    ck_assert_int_eq(storage_first_index(s), 21);
    ck_assert_int_eq(storage_last_index(s), 30);
    check_entries(s, 21, 30, 0);
    storage_close(s);
    s = open_ok(&NOSYNC, NULL);
    ck_assert_int_eq(storage_first_index(s), 21);
    ck_assert_int_eq(storage_last_index(s), 30);
    check_entries(s, 21, 30, 0);
    struct storage_entry e;
    ck_assert_int_eq(storage_entry_at(s, 20, &e), -ENOENT);
    /* Snapshot at the last entry: nothing left, and appends go on. */
    ck_assert_int_eq(storage_snapshot(s, 30, term_of(30), "b", 1, errbuf), 0);
    ck_assert_int_eq(storage_first_index(s), 31);
    ck_assert_int_eq(storage_last_index(s), 30);
    fill(s, 31, 35, 0);
    /* A different term at the snapshot's index: the whole log goes. */
    ck_assert_int_eq(storage_snapshot(s, 33, 99, "c", 1, errbuf), 0);
    ck_assert_int_eq(storage_first_index(s), 34);
    ck_assert_int_eq(storage_last_index(s), 33);
    fill(s, 34, 36, 4);
    /* Beyond the end: the log restarts after it. */
    ck_assert_int_eq(storage_snapshot(s, 100, 50, "dd", 2, errbuf), 0);
    ck_assert_int_eq(storage_first_index(s), 101);
    ck_assert_int_eq(storage_last_index(s), 100);
    fill(s, 101, 103, 5);
    storage_close(s);
    struct storage_recovery rec;
    s = open_ok(&NOSYNC, &rec);
    ck_assert_ptr_null(rec.reason);
    ck_assert_int_eq(storage_first_index(s), 101);
    ck_assert_int_eq(storage_last_index(s), 103);
    check_entries(s, 101, 103, 5);
    int64_t idx, term;
    const void *data;
    size_t len;
    storage_snapshot_get(s, &idx, &term, &data, &len);
    ck_assert_int_eq(idx, 100);
    ck_assert_int_eq(term, 50);
    ck_assert_uint_eq(len, 2);
    ck_assert(memcmp(data, "dd", 2) == 0);
    storage_close(s);
}
END_TEST

/* ---- recovery ---- */

/* Build a log whose last record is of the given kind; returns the file
 * size before that last record. */
static uint64_t build_log(int last_kind)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    ck_assert_int_eq(storage_save_term_vote(s, 2, 1, errbuf), 0);
    fill(s, 1, 12, 0);
    ck_assert_int_eq(storage_snapshot(s, 5, term_of(5), "snap", 4, errbuf), 0);
    uint64_t before = storage_file_size(s);
    switch (last_kind) {
    case 0: {
        uint8_t cmd[40];
        memset(cmd, 'z', sizeof cmd);
        struct storage_entry e = {.term = 7, .cmd = cmd, .len = sizeof cmd};
        ck_assert_int_eq(storage_append(s, 13, &e, 1, errbuf), 0);
        break;
    }
    case 1:
        ck_assert_int_eq(storage_save_term_vote(s, 3, 2, errbuf), 0);
        break;
    case 2:
        ck_assert_int_eq(storage_snapshot(s, 9, term_of(9), "a-longer-snapshot", 17, errbuf),
                         0);
        break;
    case 3:
        ck_assert_int_eq(storage_truncate(s, 10, errbuf), 0);
        break;
    }
    storage_close(s);
    return before;
}

/* The view of build_log without its last record. */
static void check_prefix_view(const struct storage *s)
{
    ck_assert_int_eq(storage_term(s), 2);
    ck_assert_int_eq(storage_voted_for(s), 1);
    ck_assert_int_eq(storage_first_index(s), 6);
    ck_assert_int_eq(storage_last_index(s), 12);
    check_entries(s, 6, 12, 0);
}

START_TEST(test_torn_tail_every_offset)
{
    for (int kind = 0; kind < 4; kind++) {
        uint64_t before = build_log(kind);
        size_t full;
        uint8_t *bytes = read_bytes(&full);
        ck_assert_uint_gt(full, before);
        for (size_t cut = before; cut < full; cut++) {
            write_bytes(bytes, cut);
            struct storage_recovery rec;
            struct storage *s = open_ok(&NOSYNC, &rec);
            ck_assert_uint_eq(rec.bytes, before);
            ck_assert_uint_eq(rec.dropped_bytes, cut - before);
            ck_assert_uint_eq(rec.records, 14);
            if (cut > before)
                ck_assert_ptr_nonnull(rec.reason);
            else
                ck_assert_ptr_null(rec.reason);
            ck_assert_int_eq(disk_size(path), (off_t)before);
            check_prefix_view(s);
            storage_close(s);
            /* Reopening again finds the same, and nothing to drop. */
            s = open_ok(&NOSYNC, &rec);
            ck_assert_uint_eq(rec.dropped_bytes, 0);
            ck_assert_ptr_null(rec.reason);
            ck_assert_uint_eq(rec.records, 14);
            check_prefix_view(s);
            /* And new records follow the valid prefix. */
            fill(s, 13, 13, 1);
            storage_close(s);
            s = open_ok(&NOSYNC, &rec);
            ck_assert_uint_eq(rec.dropped_bytes, 0);
            check_entries(s, 13, 13, 1);
            storage_close(s);
        }
        /* The whole file is kept whole. */
        write_bytes(bytes, full);
        struct storage_recovery rec;
        struct storage *s = open_ok(&NOSYNC, &rec);
        ck_assert_uint_eq(rec.records, 15);
        ck_assert_uint_eq(rec.dropped_bytes, 0);
        storage_close(s);
        free(bytes);
        unlink(path);
    }
}
END_TEST

START_TEST(test_garbage_tail)
{
    build_log(0);
    size_t full;
    uint8_t *bytes = read_bytes(&full);
    uint8_t *buf = malloc(full + 4096);
    ck_assert_ptr_nonnull(buf);
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 200; round++) {
        size_t extra = 1 + rnd() % 4000;
        memcpy(buf, bytes, full);
        for (size_t i = 0; i < extra; i++)
            buf[full + i] = (uint8_t)rnd();
        /* Some rounds start the garbage with a plausible header. */
        if (round % 3 == 0 && extra >= 4) {
            buf[full] = 0x44;
            buf[full + 1] = 0x4C;
            buf[full + 2] = 1;
            buf[full + 3] = (uint8_t)(1 + round % 4);
        }
        write_bytes(buf, full + extra);
        struct storage_recovery rec;
        struct storage *s = open_ok(&NOSYNC, &rec);
        ck_assert_uint_eq(rec.bytes, full);
        ck_assert_uint_eq(rec.dropped_bytes, extra);
        ck_assert_ptr_nonnull(rec.reason);
        ck_assert_uint_eq(rec.records, 15);
        check_entries(s, 6, 12, 0);
        ck_assert_int_eq(storage_last_index(s), 13);
        ck_assert_int_eq(disk_size(path), (off_t)full);
        storage_close(s);
    }
    free(buf);
    free(bytes);
}
END_TEST

/* Arbitrary files: never a crash, always a self-consistent view, and a
 * second open finds nothing more to drop. */
START_TEST(test_random_files)
{
    build_log(2);
    size_t full;
    uint8_t *valid = read_bytes(&full);
    uint8_t buf[1024];
    rng_state = 0x1234567887654321ull;
    for (int round = 0; round < 600; round++) {
        size_t len;
        if (round % 2 == 0) {
            len = rnd() % sizeof buf;
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rnd();
        } else {
            /* A valid file with a few bytes changed and perhaps cut. */
            len = full <= sizeof buf ? full : sizeof buf;
            memcpy(buf, valid, len);
            for (int k = 0; k < 1 + (int)(rnd() % 3); k++)
                buf[rnd() % len] ^= (uint8_t)(1 + rnd() % 255);
            if (rnd() % 2)
                len = rnd() % (len + 1);
        }
        write_bytes(buf, len);
        struct storage_recovery rec;
        struct storage *s = open_ok(&NOSYNC, &rec);
        ck_assert_uint_eq(rec.bytes + rec.dropped_bytes, len);
        int64_t first = storage_first_index(s), last = storage_last_index(s);
        ck_assert_int_le(first, last + 1);
        for (int64_t i = first; i <= last; i++) {
            struct storage_entry e;
            ck_assert_int_eq(storage_entry_at(s, i, &e), 0);
            ck_assert_uint_le(e.len, STORAGE_MAX_CMD);
        }
        uint64_t records = rec.records;
        storage_close(s);
        s = open_ok(&NOSYNC, &rec);
        ck_assert_uint_eq(rec.dropped_bytes, 0);
        ck_assert_uint_eq(rec.records, records);
        ck_assert_int_eq(storage_last_index(s), last);
        storage_close(s);
    }
    free(valid);
}
END_TEST

START_TEST(test_flipped_byte_stops_recovery)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    uint64_t offs[21];
    for (int i = 1; i <= 20; i++) {
        offs[i - 1] = storage_file_size(s);
        fill(s, i, i, 0);
    }
    offs[20] = storage_file_size(s);
    storage_close(s);
    size_t full;
    uint8_t *bytes = read_bytes(&full);
    ck_assert_uint_eq(full, offs[20]);
    /* byte offset within record 10 (index 11), expected reason */
    struct {
        size_t at;
        const char *reason;
    } cases[] = {
        {0, "a bad magic number"},   {2, "a bad magic number"}, {3, "an unknown record type"},
        {5, "a truncated record"},   {7, "a bad record length"},  {9, "a CRC mismatch"},     {12, "a CRC mismatch"},
        {20, "a CRC mismatch"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t *copy = malloc(full);
        memcpy(copy, bytes, full);
        copy[offs[10] + cases[c].at] ^= 0x40;
        write_bytes(copy, full);
        free(copy);
        struct storage_recovery rec;
        s = open_ok(&NOSYNC, &rec);
        ck_assert_uint_eq(rec.records, 10);
        ck_assert_uint_eq(rec.bytes, offs[10]);
        ck_assert_uint_eq(rec.dropped_bytes, full - offs[10]);
        ck_assert_ptr_nonnull(rec.reason);
        ck_assert_str_eq(rec.reason, cases[c].reason);
        ck_assert_int_eq(storage_last_index(s), 10);
        check_entries(s, 1, 10, 0);
        storage_close(s);
    }
    free(bytes);
}
END_TEST

/* A record with a right CRC that does not follow (an entry out of
 * sequence) also stops recovery. */
START_TEST(test_inconsistent_record)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    uint64_t offs[6];
    for (int i = 1; i <= 5; i++) {
        offs[i - 1] = storage_file_size(s);
        fill(s, i, i, 0);
    }
    offs[5] = storage_file_size(s);
    storage_close(s);
    size_t full;
    uint8_t *bytes = read_bytes(&full);
    /* Entries 1..3, then 5: the record of 4 is left out. */
    memmove(bytes + offs[3], bytes + offs[4], full - offs[4]);
    size_t len = full - (offs[4] - offs[3]);
    write_bytes(bytes, len);
    free(bytes);
    struct storage_recovery rec;
    s = open_ok(&NOSYNC, &rec);
    ck_assert_uint_eq(rec.records, 3);
    ck_assert_str_eq(rec.reason, "an entry out of sequence");
    ck_assert_uint_eq(rec.bytes, offs[3]);
    ck_assert_uint_eq(rec.dropped_bytes, len - offs[3]);
    ck_assert_int_eq(storage_last_index(s), 3);
    check_entries(s, 1, 3, 0);
    storage_close(s);
}
END_TEST

/* ---- group commit ---- */

START_TEST(test_group_commit)
{
    struct storage *s = open_ok(&SYNC, NULL);
    uint64_t c0 = storage_fsync_count();
    ck_assert(!storage_sync_pending(s));
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    ck_assert_uint_eq(storage_fsync_count(), c0);
    fill(s, 1, 50, 0);
    ck_assert_int_eq(storage_save_term_vote(s, 5, 1, errbuf), 0);
    ck_assert_int_eq(storage_truncate(s, 45, errbuf), 0);
    ck_assert(storage_sync_pending(s));
    ck_assert_uint_eq(storage_fsync_count(), c0);
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    ck_assert_uint_eq(storage_fsync_count(), c0 + 1);
    ck_assert(!storage_sync_pending(s));
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    ck_assert_uint_eq(storage_fsync_count(), c0 + 1);
    fill(s, 45, 47, 1);
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    ck_assert_uint_eq(storage_fsync_count(), c0 + 2);
    storage_close(s);
    /* Reopening a clean file syncs nothing. */
    c0 = storage_fsync_count();
    struct storage_recovery rec;
    s = open_ok(&SYNC, &rec);
    ck_assert_uint_eq(storage_fsync_count(), c0);
    ck_assert_int_eq(storage_last_index(s), 47);
    storage_close(s);
}
END_TEST

START_TEST(test_fsync_off)
{
    uint64_t c0 = storage_fsync_count();
    struct storage *s = open_ok(&(struct storage_opts){.fsync = false, .compact_bytes = 512},
                                NULL);
    fill(s, 1, 50, 0);
    ck_assert_int_eq(storage_save_term_vote(s, 5, 1, errbuf), 0);
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    ck_assert_int_eq(storage_snapshot(s, 30, term_of(30), "s", 1, errbuf), 0);
    ck_assert_int_eq(storage_sync(s, errbuf), 0); /* compacts */
    ck_assert_int_eq(storage_compact(s, errbuf), 0);
    ck_assert(!storage_sync_pending(s));
    fill(s, 51, 52, 0);
    ck_assert(storage_sync_pending(s));
    storage_close(s);
    /* A torn tail is cut without a sync too. */
    size_t len;
    uint8_t *bytes = read_bytes(&len);
    write_bytes(bytes, len - 3);
    free(bytes);
    struct storage_recovery rec;
    s = open_ok(&NOSYNC, &rec);
    ck_assert_uint_gt(rec.dropped_bytes, 0);
    ck_assert_int_eq(storage_last_index(s), 51);
    storage_close(s);
    ck_assert_uint_eq(storage_fsync_count(), c0);
}
END_TEST

/* ---- compaction ---- */

struct view {
    int64_t term, first, last, snap_index, snap_term;
    int32_t vote;
    size_t snap_len;
};

static struct view view_of(const struct storage *s)
{
    struct view v;
    const void *data;
    v.term = storage_term(s);
    v.vote = storage_voted_for(s);
    v.first = storage_first_index(s);
    v.last = storage_last_index(s);
    storage_snapshot_get(s, &v.snap_index, &v.snap_term, &data, &v.snap_len);
    return v;
}

static void check_view(const struct storage *s, struct view v, int tg)
{
    struct view w = view_of(s);
    ck_assert_int_eq(w.term, v.term);
    ck_assert_int_eq(w.vote, v.vote);
    ck_assert_int_eq(w.first, v.first);
    ck_assert_int_eq(w.last, v.last);
    ck_assert_int_eq(w.snap_index, v.snap_index);
    ck_assert_int_eq(w.snap_term, v.snap_term);
    ck_assert_uint_eq(w.snap_len, v.snap_len);
    check_entries(s, v.first, v.last, tg);
}

START_TEST(test_compaction)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct storage_opts o = {.fsync = true, .compact_bytes = 4096};
    struct storage *s = open_ok(&o, NULL);
    ck_assert_int_eq(storage_save_term_vote(s, 7, 2, errbuf), 0);
    fill(s, 1, 200, 0);
    ck_assert_int_eq(storage_truncate(s, 190, errbuf), 0);
    /* No snapshot yet: a sync does not compact. */
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    uint64_t big = storage_file_size(s);
    ck_assert_uint_gt(big, 4096);
    char state[300];
    memset(state, 's', sizeof state);
    ck_assert_int_eq(storage_snapshot(s, 150, term_of(150), state, sizeof state, errbuf), 0);
    struct view v = view_of(s);
    ck_assert_int_eq(v.first, 151);
    ck_assert_int_eq(v.last, 189);
    uint64_t c0 = storage_fsync_count();
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    /* The new file's fdatasync and the directory's fsync. */
    ck_assert_uint_eq(storage_fsync_count(), c0 + 2);
    ck_assert(!storage_sync_pending(s));
    uint64_t small = storage_file_size(s);
    ck_assert_uint_lt(small, big / 2);
    ck_assert_int_eq(disk_size(path), (off_t)small);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    check_view(s, v, 0);
    /* Appends go on in the new file. */
    fill(s, 190, 195, 0);
    v.last = 195;
    storage_close(s);

    struct storage_recovery rec;
    s = open_ok(&o, &rec);
    ck_assert_ptr_null(rec.reason);
    ck_assert_uint_eq(rec.records, 2 + (189 - 150) + 6);
    check_view(s, v, 0);
    /* Not due again until the file doubles. */
    c0 = storage_fsync_count();
    fill(s, 196, 197, 0);
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    ck_assert_uint_eq(storage_fsync_count(), c0 + 1);
    v.last = 197;
    storage_close(s);

    /* A compaction that crashed before its rename left a partial file:
     * it is removed and the old file is used. */
    int fd = open(tmp, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "junk", 4), 4);
    close(fd);
    s = open_ok(&o, &rec);
    ck_assert_ptr_null(rec.reason);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    check_view(s, v, 0);
    /* Forced compaction without pending growth keeps the view too. */
    ck_assert_int_eq(storage_compact(s, errbuf), 0);
    check_view(s, v, 0);
    storage_close(s);
    s = open_ok(&o, &rec);
    check_view(s, v, 0);
    const void *data;
    size_t len;
    int64_t i, t;
    storage_snapshot_get(s, &i, &t, &data, &len);
    ck_assert(memcmp(data, state, sizeof state) == 0);
    storage_close(s);
}
END_TEST

/* A file that was due for compaction when the process stopped is
 * compacted at the first sync after it is opened again. */
START_TEST(test_compaction_after_reopen)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    fill(s, 1, 100, 0);
    ck_assert_int_eq(storage_snapshot(s, 90, term_of(90), "x", 1, errbuf), 0);
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    uint64_t big = storage_file_size(s);
    storage_close(s);
    struct storage_opts o = {.fsync = false, .compact_bytes = 1024};
    s = open_ok(&o, NULL);
    struct view v = view_of(s);
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    ck_assert_uint_lt(storage_file_size(s), big / 4);
    check_view(s, v, 0);
    storage_close(s);
    s = open_ok(&o, NULL);
    check_view(s, v, 0);
    storage_close(s);
}
END_TEST

START_TEST(test_compaction_without_snapshot)
{
    struct storage *s = open_ok(&NOSYNC, NULL);
    fill(s, 1, 40, 0);
    ck_assert_int_eq(storage_truncate(s, 10, errbuf), 0);
    uint64_t before = storage_file_size(s);
    ck_assert_int_eq(storage_compact(s, errbuf), 0);
    ck_assert_uint_lt(storage_file_size(s), before);
    storage_close(s);
    s = open_ok(&NOSYNC, NULL);
    ck_assert_int_eq(storage_term(s), 0);
    ck_assert_int_eq(storage_voted_for(s), STORAGE_NO_VOTE);
    ck_assert_int_eq(storage_last_index(s), 9);
    check_entries(s, 1, 9, 0);
    storage_close(s);
}
END_TEST

/* ---- preallocation ---- */

static const struct storage_opts PREALLOC = {.fsync = false, .prealloc_bytes = 64 << 10};

START_TEST(test_prealloc)
{
    struct storage *s = open_ok(&PREALLOC, NULL);
    fill(s, 1, 50, 0);
    uint64_t size = storage_file_size(s);
    ck_assert_uint_lt(size, 64 << 10);
    ck_assert_int_eq(disk_size(path), 64 << 10);
    storage_close(s);
    struct storage_recovery rec;
    s = open_ok(&PREALLOC, &rec);
    ck_assert_ptr_null(rec.reason);
    ck_assert_uint_eq(rec.dropped_bytes, 0);
    ck_assert_uint_eq(rec.bytes, size);
    ck_assert_uint_eq(rec.records, 50);
    ck_assert_int_eq(disk_size(path), 64 << 10);
    fill(s, 51, 60, 0);
    check_entries(s, 1, 60, 0);
    size = storage_file_size(s);
    storage_close(s);

    /* A torn write in the reserved space: the whole tail is cut. */
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "\x44\x4c\x01\x02junk", 8, (off_t)size), 8);
    close(fd);
    s = open_ok(&PREALLOC, &rec);
    ck_assert_ptr_nonnull(rec.reason);
    ck_assert_uint_eq(rec.bytes, size);
    ck_assert_uint_eq(rec.dropped_bytes, (64 << 10) - size);
    ck_assert_int_eq(disk_size(path), (off_t)size);
    check_entries(s, 1, 60, 0);
    /* Growing past the reserved space reserves another step. */
    uint8_t big[40000];
    memset(big, 'b', sizeof big);
    struct storage_entry e[2] = {{.term = 9, .cmd = big, .len = sizeof big},
                                 {.term = 9, .cmd = big, .len = sizeof big}};
    ck_assert_int_eq(storage_append(s, 61, e, 2, errbuf), 0);
    ck_assert_int_eq(disk_size(path), 128 << 10);
    size = storage_file_size(s);
    storage_close(s);
    s = open_ok(&PREALLOC, &rec);
    ck_assert_ptr_null(rec.reason);
    ck_assert_uint_eq(rec.bytes, size);
    ck_assert_int_eq(storage_last_index(s), 62);
    storage_close(s);
    /* Opened without preallocation, the reserved zeros are cut like any
     * other tail. */
    s = open_ok(&NOSYNC, &rec);
    ck_assert_uint_eq(rec.dropped_bytes, (128 << 10) - size);
    ck_assert_int_eq(disk_size(path), (off_t)size);
    ck_assert_int_eq(storage_last_index(s), 62);
    storage_close(s);
}
END_TEST

/* A write that reached the disk only in part, inside the reserved space:
 * the record's bytes up to some offset, zeros after it. */
START_TEST(test_prealloc_torn_every_offset)
{
    struct storage *s = open_ok(&PREALLOC, NULL);
    ck_assert_int_eq(storage_save_term_vote(s, 2, 1, errbuf), 0);
    fill(s, 1, 12, 0);
    uint64_t before = storage_file_size(s);
    fill(s, 13, 13, 0);
    uint64_t after = storage_file_size(s);
    storage_close(s);
    size_t full;
    uint8_t *bytes = read_bytes(&full);
    ck_assert_uint_eq(full, 64 << 10);
    for (uint64_t cut = before; cut <= after; cut++) {
        uint8_t *copy = calloc(1, full);
        memcpy(copy, bytes, cut);
        write_bytes(copy, full);
        free(copy);
        struct storage_recovery rec;
        s = open_ok(&PREALLOC, &rec);
        if (cut == before || cut == after) {
            ck_assert_ptr_null(rec.reason);
            ck_assert_uint_eq(rec.dropped_bytes, 0);
            ck_assert_int_eq(disk_size(path), 64 << 10);
        } else {
            ck_assert_ptr_nonnull(rec.reason);
            ck_assert_uint_eq(rec.dropped_bytes, full - before);
            ck_assert_int_eq(disk_size(path), (off_t)before);
        }
        ck_assert_uint_eq(rec.bytes, cut == after ? after : before);
        ck_assert_int_eq(storage_last_index(s), cut == after ? 13 : 12);
        check_entries(s, 1, 12, 0);
        fill(s, storage_last_index(s) + 1, 14, 1 + (cut == after));
        storage_close(s);
        s = open_ok(&PREALLOC, &rec);
        ck_assert_ptr_null(rec.reason);
        ck_assert_int_eq(storage_last_index(s), 14);
        check_entries(s, 14, 14, 1 + (cut == after));
        storage_close(s);
    }
    free(bytes);
}
END_TEST

START_TEST(test_prealloc_group_commit)
{
    struct storage *s = open_ok(&(struct storage_opts){.fsync = true, .prealloc_bytes = 4096},
                                NULL);
    uint64_t c0 = storage_fsync_count();
    fill(s, 1, 200, 0);
    ck_assert_int_eq(storage_sync(s, errbuf), 0);
    ck_assert_uint_eq(storage_fsync_count(), c0 + 1);
    ck_assert_int_eq(disk_size(path) % 4096, 0);
    storage_close(s);
}
END_TEST

/* ---- write failures ---- */

/* In a child with a small file size limit: appends fail with EFBIG once
 * the limit is reached (some writes partly), the view stays what the file
 * holds, and later mutations fail cleanly. Exits with the last index. */
static int fsize_child(void)
{
    char eb[DL_ERRLEN];
    struct storage *s;
    struct storage_recovery rec;
    if (storage_open(&s, path, &SYNC, &rec, eb) < 0)
        return 200;
    uint8_t cmd[100];
    memset(cmd, 'c', sizeof cmd);
    struct storage_entry e[3];
    for (int i = 0; i < 3; i++)
        e[i] = (struct storage_entry){.term = 1, .cmd = cmd, .len = sizeof cmd};
    if (storage_append(s, 1, e, 3, eb) < 0 || storage_sync(s, eb) < 0)
        return 201;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = storage_file_size(s) + 1000,
                        .rlim_max = storage_file_size(s) + 1000};
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        return 202;
    int rc = 0;
    for (int k = 0; k < 100 && rc == 0; k++)
        rc = storage_append(s, storage_last_index(s) + 1, e, 3, eb);
    if (rc != -EFBIG || !strstr(eb, path))
        return 203;
    int64_t last = storage_last_index(s);
    struct stat st;
    if (stat(path, &st) < 0 || (uint64_t)st.st_size != storage_file_size(s))
        return 204;
    /* A single smaller entry may still fit; a term change too. */
    rc = storage_append(s, last + 1, e, 1, eb);
    if (rc == 0)
        last++;
    else if (rc != -EFBIG)
        return 205;
    if (storage_last_index(s) != last)
        return 206;
    /* A snapshot too big for what is left fails and changes nothing. */
    static uint8_t state[2000];
    uint64_t size = storage_file_size(s);
    if (storage_snapshot(s, 2, 1, state, sizeof state, eb) != -EFBIG)
        return 209;
    int64_t si, st_term;
    const void *sd;
    size_t sl;
    storage_snapshot_get(s, &si, &st_term, &sd, &sl);
    if (si != 0 || storage_first_index(s) != 1 || storage_last_index(s) != last ||
        storage_file_size(s) != size)
        return 210;
    if (storage_sync(s, eb) < 0)
        return 207;
    storage_close(s);
    return last < 100 ? (int)last : 208;
}

START_TEST(test_write_failure)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fsize_child());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    int last = WEXITSTATUS(status);
    ck_assert_msg(last < 100, "child failed with %d", last);
    ck_assert_int_gt(last, 3);
    struct storage_recovery rec;
    struct storage *s = open_ok(&NOSYNC, &rec);
    ck_assert_ptr_null(rec.reason);
    ck_assert_uint_eq(rec.dropped_bytes, 0);
    ck_assert_int_eq(storage_last_index(s), last);
    for (int i = 1; i <= last; i++) {
        struct storage_entry e;
        ck_assert_int_eq(storage_entry_at(s, i, &e), 0);
        ck_assert_uint_eq(e.len, 100);
    }
    storage_close(s);
}
END_TEST

/* ---- measurement (prints, asserts nothing about speed) ---- */

START_TEST(test_measure_append_sync)
{
    uint8_t cmd[100];
    memset(cmd, 'm', sizeof cmd);
    const int batches[] = {1, 10, 100};
    const int totals[] = {1000, 5000, 30000};
    for (int b = 0; b < 6; b++) {
        unlink(path);
        struct storage_opts o = {.fsync = true, .prealloc_bytes = b < 3 ? 0 : 4u << 20};
        struct storage *s = open_ok(&o, NULL);
        uint64_t c0 = storage_fsync_count();
        int64_t t0 = dl_mono_us();
        int64_t idx = 1;
        int rc = 0;
        for (int done = 0; done < totals[b % 3]; done += batches[b % 3]) {
            /* No Check assertion inside the timed loop: each one costs a
             * write to the test's pipe. */
            for (int k = 0; k < batches[b % 3]; k++) {
                struct storage_entry e = {.term = 1, .cmd = cmd, .len = sizeof cmd};
                rc |= storage_append(s, idx++, &e, 1, errbuf);
            }
            rc |= storage_sync(s, errbuf);
        }
        double secs = (double)(dl_mono_us() - t0) / 1e6;
        ck_assert_msg(rc == 0, "append or sync: %s", errbuf);
        ck_assert_int_eq(storage_last_index(s), totals[b % 3]);
        uint64_t syncs = storage_fsync_count() - c0;
        ck_assert_uint_eq(syncs, (uint64_t)(totals[b % 3] / batches[b % 3]));
        printf("storage measure: prealloc=%s batch=%d appends=%d fdatasyncs=%llu appends_per_s=%.0f "
               "syncs_per_s=%.0f\n",
               b < 3 ? "no" : "4MiB", batches[b % 3], totals[b % 3], (unsigned long long)syncs, totals[b % 3] / secs,
               (double)syncs / secs);
        storage_close(s);
    }
}
END_TEST

static Suite *storage_suite(void)
{
    Suite *su = suite_create("storage");
    TCase *tc = tcase_create("roundtrip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_roundtrip_all_types);
    tcase_add_test(tc, test_large_command);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(su, tc);

    tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_truncate_then_append);
    tcase_add_test(tc, test_snapshot_rules);
    suite_add_tcase(su, tc);

    tc = tcase_create("recovery");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_torn_tail_every_offset);
    tcase_add_test(tc, test_garbage_tail);
    tcase_add_test(tc, test_random_files);
    tcase_add_test(tc, test_flipped_byte_stops_recovery);
    tcase_add_test(tc, test_inconsistent_record);
    suite_add_tcase(su, tc);

    tc = tcase_create("durability");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_fsync_off);
    tcase_add_test(tc, test_compaction);
    tcase_add_test(tc, test_compaction_after_reopen);
    tcase_add_test(tc, test_compaction_without_snapshot);
    tcase_add_test(tc, test_write_failure);
    tcase_add_test(tc, test_prealloc);
    tcase_add_test(tc, test_prealloc_torn_every_offset);
    tcase_add_test(tc, test_prealloc_group_commit);
    suite_add_tcase(su, tc);

    tc = tcase_create("measure");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_measure_append_sync);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(storage_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
