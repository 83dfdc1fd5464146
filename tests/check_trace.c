/* Tests of ipc/trace.c: a trace file starts small and grows, is capped as a
 * ring that keeps the newest records, says in itself when it was cut
 * because it could not grow (a file-size limit, a full filesystem), and a
 * reader that finds a record torn by a kill skips and counts it.
 *
 * A process killed mid-run never calls trace_close: the tests that stand
 * for one write in a forked child that leaves with _exit. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/trace.h"
#include "ipc/util.h"
#include "tests/helpers.h"

static char base[64];

static void base_setup(void)
{
    char *d = h_tmpdir();
    ck_assert_uint_lt(strlen(d), sizeof base);
    strcpy(base, d);
    free(d);
}

static void base_teardown(void) { h_rmtree(base); }

static off_t file_size(const char *dir, int node, int inc)
{
    char path[256];
    snprintf(path, sizeof path, "%s/trace/n%d.%d.bin", dir, node, inc);
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return st.st_size;
}

static void open_w(struct trace_writer *w, const char *dir, int node, int inc)
{
    char err[DL_ERRLEN];
    ck_assert_msg(trace_open(w, dir, node, inc, 0, err) == 0, "%s", err);
}

/* Record i of a test: its time and key say which it was. */
static struct trace_rec *emit_nth(struct trace_writer *w, int node, int64_t i)
{
    struct trace_rec r = {.t_us = 1000 + i, .node = (uint16_t)node, .ev = TR_SEND, .key = i};
    return trace_emit(w, &r);
}

static void load(const char *dir, struct trace_set *s)
{
    char err[DL_ERRLEN];
    ck_assert_msg(trace_load_set(dir, s, err) == 0, "%s", err);
}

/* ---- growth ---- */

START_TEST(test_starts_small_and_grows)
{
    struct trace_writer w;
    open_w(&w, base, 1, 1);
    /* A process that records a few events leaves a small file, not a
     * megabyte per incarnation. */
    ck_assert_int_le(file_size(base, 1, 1), 64 << 10);
    for (int i = 0; i < 5000; i++)
        ck_assert_ptr_nonnull(emit_nth(&w, 1, i));
    off_t grown = file_size(base, 1, 1);
    ck_assert_int_ge(grown, 5000 * 64);
    ck_assert_int_le(grown, 2 * 5001 * 64);
    trace_close(&w);
    ck_assert_int_eq(file_size(base, 1, 1), 5000 * 64);

    struct trace_set s;
    load(base, &s);
    ck_assert_uint_eq(s.n, 5000);
    ck_assert_uint_eq(s.nfiles, 1);
    ck_assert_uint_eq(s.files[0].records, 5000);
    ck_assert_uint_eq(s.files[0].overwritten, 0);
    ck_assert_uint_eq(s.files[0].missing, 0);
    ck_assert_uint_eq(s.files[0].torn, 0);
    ck_assert(!s.files[0].cut);
    for (size_t i = 0; i < s.n; i++) {
        ck_assert_int_eq(s.recs[i].key, (int64_t)i);
        ck_assert_uint_eq(trace_rec_seq(&s.recs[i]), i);
    }
    trace_set_free(&s);
}
END_TEST

START_TEST(test_killed_process_leaves_small_file)
{
    /* 67 crashed incarnations used to leave 67 MiB of preallocated trace. */
    for (int inc = 1; inc <= 20; inc++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            struct trace_writer w;
            char err[DL_ERRLEN];
            if (trace_open(&w, base, 2, inc, 0, err) < 0)
                _exit(1);
            for (int i = 0; i < 10; i++)
                emit_nth(&w, 2, i);
            raise(SIGKILL);
            _exit(2);
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    }
    off_t total = 0;
    for (int inc = 1; inc <= 20; inc++)
        total += file_size(base, 2, inc);
    ck_assert_int_le(total, 20 * (64 << 10));
    struct trace_set s;
    load(base, &s);
    ck_assert_uint_eq(s.n, 200);
    ck_assert_uint_eq(s.nfiles, 20);
    for (size_t f = 0; f < s.nfiles; f++) {
        ck_assert_int_eq(s.files[f].incarnation, (int)f + 1);
        ck_assert_uint_eq(s.files[f].torn, 0);
    }
    trace_set_free(&s);
}
END_TEST

/* ---- the cap: a ring that keeps the newest ---- */

static void check_ring(const char *dir, int64_t written, uint64_t slots)
{
    struct trace_set s;
    load(dir, &s);
    ck_assert_uint_eq(s.nfiles, 1);
    const struct trace_file_info *fi = &s.files[0];
    ck_assert_uint_eq(s.n, slots);
    ck_assert_uint_eq(fi->records, slots);
    ck_assert_uint_eq(fi->overwritten, (uint64_t)written - slots);
    ck_assert_uint_eq(fi->first_seq, (uint64_t)written - slots);
    ck_assert_uint_eq(fi->last_seq, (uint64_t)written - 1);
    ck_assert_uint_eq(fi->missing, 0);
    ck_assert_uint_eq(fi->torn, 0);
    ck_assert(!fi->cut);
    /* The newest records, in order. */
    for (size_t i = 0; i < s.n; i++)
        ck_assert_int_eq(s.recs[i].key, written - (int64_t)slots + (int64_t)i);
    trace_set_free(&s);
}

START_TEST(test_cap_keeps_newest)
{
    struct trace_writer w;
    open_w(&w, base, 3, 1);
    trace_set_max(&w, 256 << 10); /* 4096 records */
    for (int i = 0; i < 10000; i++)
        ck_assert_ptr_nonnull(emit_nth(&w, 3, i));
    ck_assert_int_eq(file_size(base, 3, 1), 256 << 10);
    /* Read while the writer is live, as after a kill... */
    check_ring(base, 10000, 4096);
    trace_close(&w);
    /* ... and after a clean close. */
    ck_assert_int_eq(file_size(base, 3, 1), 256 << 10);
    check_ring(base, 10000, 4096);
}
END_TEST

START_TEST(test_cap_bounds)
{
    struct trace_writer w;
    open_w(&w, base, 1, 1);
    ck_assert_uint_eq(w.max, TRACE_MAX_DEFAULT);
    trace_set_max(&w, 1000); /* below the minimum */
    ck_assert_uint_eq(w.max, TRACE_MAX_MIN);
    trace_set_max(&w, (1 << 20) + 10); /* whole records only */
    ck_assert_uint_eq(w.max, 1 << 20);
    trace_set_max(&w, 0);
    ck_assert_uint_eq(w.max, TRACE_MAX_DEFAULT);
    trace_close(&w);
}
END_TEST

/* ---- a cut: the file could not grow ---- */

/* In a child: write n records under a file-size limit of limit bytes, then
 * die as a killed node would (no trace_close). */
static void write_under_fsize(const char *dir, rlim_t limit, int n)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Past the limit the kernel refuses the allocation with EFBIG and
         * would also send SIGXFSZ, whose default kills. */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {limit, limit};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(10);
        struct trace_writer w;
        char err[DL_ERRLEN];
        if (trace_open(&w, dir, 4, 1, 0, err) < 0)
            _exit(11);
        int written = 0;
        for (int i = 0; i < n; i++)
            if (emit_nth(&w, 4, i))
                written++;
        if (!w.full || written >= n)
            _exit(12);
        raise(SIGKILL);
        _exit(13);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    /* Not a SIGBUS, not SIGXFSZ: it ran to its own end. */
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
}

START_TEST(test_cut_by_file_size_limit)
{
    write_under_fsize(base, 200 << 10, 10000);
    ck_assert_int_le(file_size(base, 4, 1), 200 << 10);
    struct trace_set s;
    load(base, &s);
    ck_assert_uint_eq(s.nfiles, 1);
    const struct trace_file_info *fi = &s.files[0];
    ck_assert(fi->cut);
    ck_assert_int_eq(fi->cut_errno, EFBIG);
    ck_assert_uint_eq(fi->overwritten, 0);
    ck_assert_uint_eq(fi->missing, 0);
    ck_assert_uint_eq(fi->torn, 0);
    /* Every record up to the cut, then the cut record, which counts what
     * was lost after it. */
    uint64_t kept = fi->records - 1;
    ck_assert_uint_gt(kept, 1000);
    ck_assert_int_eq(fi->cut_lost, 10000 - (int64_t)kept);
    ck_assert_uint_eq(s.n, fi->records);
    for (size_t i = 0; i < kept; i++)
        ck_assert_int_eq(s.recs[i].key, (int64_t)i);
    const struct trace_rec *c = &s.recs[s.n - 1];
    ck_assert_int_eq(c->ev, TR_CUT);
    ck_assert_str_eq(trace_ev_name(c->ev), "trace_cut");
    ck_assert_int_eq(c->node, 4);
    ck_assert_int_eq(c->incarnation, 1);
    ck_assert_int_eq(c->t_us, 1000 + (int64_t)kept); /* when the first lost one happened */
    trace_set_free(&s);
}
END_TEST

/* The same on a really full filesystem: a 128 KiB tmpfs, mounted in a
 * private mount namespace where the system allows one (otherwise the test
 * says so and passes on the file-size test above). */
START_TEST(test_cut_by_full_filesystem)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        uid_t uid = getuid();
        gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
            _exit(77);
        char buf[64];
        int fd = open("/proc/self/setgroups", O_WRONLY);
        if (fd >= 0) {
            if (write(fd, "deny", 4) < 0) { /* best effort */
            }
            close(fd);
        }
        snprintf(buf, sizeof buf, "0 %u 1", (unsigned)uid);
        fd = open("/proc/self/uid_map", O_WRONLY);
        if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
            _exit(77);
        close(fd);
        snprintf(buf, sizeof buf, "0 %u 1", (unsigned)gid);
        fd = open("/proc/self/gid_map", O_WRONLY);
        if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
            _exit(77);
        close(fd);
        char dir[128];
        snprintf(dir, sizeof dir, "%s/fs", base);
        if (mkdir(dir, 0700) < 0 || mount("none", dir, "tmpfs", 0, "size=128k") < 0)
            _exit(77);
        struct trace_writer w;
        char err[DL_ERRLEN];
        if (trace_open(&w, dir, 5, 1, 0, err) < 0)
            _exit(20);
        int written = 0;
        for (int i = 0; i < 10000; i++)
            if (emit_nth(&w, 5, i))
                written++;
        struct trace_set s;
        if (trace_load_set(dir, &s, err) < 0)
            _exit(21);
        int rc = 0;
        if (s.nfiles != 1 || !s.files[0].cut)
            rc = 22;
        else if (s.files[0].cut_errno != ENOSPC)
            rc = 23;
        else if (s.files[0].records != (uint64_t)written + 1 ||
                 s.files[0].cut_lost != 10000 - written)
            rc = 24;
        else if (written < 100)
            rc = 25;
        trace_set_free(&s);
        umount(dir);
        _exit(rc);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "child status %#x", st);
    if (WEXITSTATUS(st) == 77) {
        fprintf(stderr, "check_trace: no private tmpfs here; the full-filesystem case is "
                        "covered by the file-size limit test only\n");
        return;
    }
    ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

/* ---- a record torn by a kill ---- */

START_TEST(test_torn_record_skipped_and_counted)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct trace_writer w;
        char err[DL_ERRLEN];
        if (trace_open(&w, base, 6, 1, 0, err) < 0)
            _exit(1);
        for (int i = 0; i < 10; i++)
            emit_nth(&w, 6, i);
        /* What a kill in the middle of the memcpy of record 10 leaves: part
         * of the record, and no marker. */
        struct trace_rec r = {.t_us = 1010, .node = 6, .ev = TR_SEND, .key = 10};
        memcpy(w.map + 10 * sizeof r, &r, 24);
        raise(SIGKILL);
        _exit(2);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    struct trace_set s;
    load(base, &s);
    ck_assert_uint_eq(s.n, 10);
    ck_assert_uint_eq(s.files[0].records, 10);
    ck_assert_uint_eq(s.files[0].torn, 1);
    ck_assert_uint_eq(s.files[0].missing, 0);
    trace_set_free(&s);
}
END_TEST

START_TEST(test_torn_in_ring_slot)
{
    /* A ring slot being overwritten: the marker is cleared before the copy,
     * so the old record there is gone (overwritten) and the new one is
     * torn - never a mix of the two that looks whole. */
    struct trace_writer w;
    open_w(&w, base, 7, 1);
    trace_set_max(&w, TRACE_MAX_MIN);
    uint64_t slots = TRACE_MAX_MIN / sizeof(struct trace_rec);
    for (uint64_t i = 0; i < slots + 5; i++)
        emit_nth(&w, 7, (int64_t)i);
    /* The next record goes into slot 5: clear its marker and copy half, as
     * put_rec would before a kill. */
    struct trace_rec *slot = (struct trace_rec *)(w.map + 5 * sizeof *slot);
    slot->mark = 0;
    slot->key = 12345;
    struct trace_set s;
    load(base, &s);
    ck_assert_uint_eq(s.n, slots - 1);
    ck_assert_uint_eq(s.files[0].torn, 1);
    ck_assert_uint_eq(s.files[0].overwritten, 6);
    ck_assert_uint_eq(s.files[0].missing, 0);
    ck_assert_int_eq(s.recs[0].key, 6);
    trace_set_free(&s);
    trace_close(&w);
}
END_TEST

START_TEST(test_crafted_duplicate_seq)
{
    /* A file no writer makes: three valid records with one number. The
     * reader keeps them and counts the excess as damaged, and never wraps
     * its count of missing records around. */
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/trace", base);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/n1.1.bin", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 3; i++) {
        struct trace_rec r = {.t_us = 5 + i, .node = 1, .ev = TR_SEND, .seq = 7,
                              .mark = TRACE_MARK};
        ck_assert_int_eq(fwrite(&r, sizeof r, 1, f), 1);
    }
    fclose(f);
    struct trace_set s;
    load(base, &s);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_uint_eq(s.files[0].missing, 0);
    ck_assert_uint_eq(s.files[0].torn, 2);
    ck_assert_uint_eq(s.files[0].overwritten, 7);
    trace_set_free(&s);
}
END_TEST

/* ---- the data side file ---- */

static bool dat_exists(const char *dir, int node, int inc, off_t *size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/trace/n%d.%d.dat", dir, node, inc);
    struct stat st;
    if (stat(path, &st) < 0)
        return false;
    if (size)
        *size = st.st_size;
    return true;
}

/* Command i of a test: its text says which it was, and lengths vary (from
 * cmd_pad up). */
static int cmd_pad;

static int command(char *buf, size_t cap, int64_t i)
{
    int len = snprintf(buf, cap, "put key%lld %0*lld", (long long)i, (int)(i % 50) + cmd_pad,
                       (long long)i);
    ck_assert_int_lt(len, (int)cap);
    return len;
}

static struct trace_rec *emit_cmd(struct trace_writer *w, int node, int64_t i)
{
    char cmd[256];
    int len = command(cmd, sizeof cmd, i);
    struct trace_rec r = {.t_us = 1000 + i, .node = (uint16_t)node, .ev = TR_APPLY, .a = i,
                          .key = 1};
    return trace_emit_data(w, &r, cmd, (uint32_t)len);
}

/* The command of record r, as the reader finds it (NULL: not kept). */
static bool read_back(struct trace_data *d, const struct trace_rec *r)
{
    char cmd[256];
    int len = command(cmd, sizeof cmd, r->a);
    ck_assert_int_eq(r->aux, len);
    ck_assert(r->b == trace_hash(cmd, (size_t)len));
    const uint8_t *p = trace_data_get(d, r);
    if (p)
        ck_assert_msg(memcmp(p, cmd, (size_t)len) == 0, "record %lld: wrong bytes",
                      (long long)r->a);
    return p != NULL;
}

START_TEST(test_data_round_trip)
{
    struct trace_writer w;
    open_w(&w, base, 1, 1);
    struct trace_writer quiet;
    open_w(&quiet, base, 2, 1);
    struct trace_rec plain = {.t_us = 5, .node = 2, .ev = TR_ROLE};
    trace_emit(&quiet, &plain);
    /* 20,000 commands (about 1.2 MB): the side file grows past its first
     * allocation. */
    for (int i = 0; i < 20000; i++) {
        struct trace_rec *r = emit_cmd(&w, 1, i);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_ge(r->c, 0);
    }
    /* An empty command is kept as one (no bytes needed). */
    struct trace_rec e = {.t_us = 50000, .node = 1, .ev = TR_INVOKE, .key = 7};
    ck_assert_ptr_nonnull(trace_emit_data(&w, &e, "", 0));
    trace_close(&w);
    trace_close(&quiet);
    off_t size;
    ck_assert(dat_exists(base, 1, 1, &size));
    ck_assert_int_gt(size, 64 << 10);
    /* A process that kept no data has no side file. */
    ck_assert(!dat_exists(base, 2, 1, NULL));

    struct trace_set s;
    load(base, &s);
    struct trace_data d;
    char err[DL_ERRLEN];
    ck_assert_int_eq(trace_data_open(&d, base, err), 0);
    int found = 0;
    for (size_t i = 0; i < s.n; i++) {
        const struct trace_rec *r = &s.recs[i];
        if (r->ev == TR_APPLY)
            found += read_back(&d, r);
        else if (r->ev == TR_INVOKE)
            ck_assert_str_eq((const char *)trace_data_get(&d, r), "");
        else
            ck_assert_ptr_null(trace_data_get(&d, r)); /* no data: b is not a datum's hash */
    }
    ck_assert_int_eq(found, 20000);
    /* The cleanly closed file holds exactly the bytes written. */
    size_t total = 0;
    for (int i = 0; i < 20000; i++) {
        char cmd[128];
        total += (size_t)command(cmd, sizeof cmd, i);
    }
    ck_assert_int_eq(size, (off_t)total);
    trace_data_close(&d);
    trace_set_free(&s);
}
END_TEST

START_TEST(test_data_survives_kill)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct trace_writer w;
        char err[DL_ERRLEN];
        if (trace_open(&w, base, 3, 2, 0, err) < 0)
            _exit(1);
        for (int i = 0; i < 3000; i++)
            if (!emit_cmd(&w, 3, i))
                _exit(2);
        raise(SIGKILL);
        _exit(3);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    struct trace_set s;
    load(base, &s);
    ck_assert_uint_eq(s.n, 3000);
    struct trace_data d;
    char err[DL_ERRLEN];
    ck_assert_int_eq(trace_data_open(&d, base, err), 0);
    for (size_t i = 0; i < s.n; i++)
        ck_assert_msg(read_back(&d, &s.recs[i]), "command %zu lost by the kill", i);
    trace_data_close(&d);
    trace_set_free(&s);
}
END_TEST

START_TEST(test_data_ring_keeps_newest)
{
    struct trace_writer w;
    open_w(&w, base, 1, 1);
    trace_set_max(&w, 1 << 20);
    /* About 7.6 MB of commands (about 190 bytes each) into a 1 MiB side
     * file: it keeps the newest 5,500 or so; the records (64 bytes each,
     * 2.5 MB) wrap too and keep the newest 16,384. */
    cmd_pad = 150;
    const int total = 40000;
    for (int i = 0; i < total; i++)
        ck_assert_ptr_nonnull(emit_cmd(&w, 1, i));
    off_t size;
    ck_assert(dat_exists(base, 1, 1, &size));
    ck_assert_int_eq(size, 1 << 20);
    for (int pass = 0; pass < 2; pass++) {
        /* Read while the writer is live (as after a kill), then closed. */
        if (pass == 1) {
            trace_close(&w);
            ck_assert(dat_exists(base, 1, 1, &size));
            ck_assert_int_eq(size, 1 << 20);
        }
        struct trace_set s;
        load(base, &s);
        ck_assert_uint_eq(s.n, (1 << 20) / 64);
        struct trace_data d;
        char err[DL_ERRLEN];
        ck_assert_int_eq(trace_data_open(&d, base, err), 0);
        /* The newest commands are all there; the oldest records left point
         * at bytes the ring has overwritten and read as not kept - never as
         * another command's bytes (read_back checks every one it gets). */
        int kept = 0, newest_missing = 0;
        for (size_t i = 0; i < s.n; i++) {
            bool ok = read_back(&d, &s.recs[i]);
            kept += ok;
            if (!ok && s.recs[i].a >= total - 4000)
                newest_missing++;
        }
        ck_assert_int_eq(newest_missing, 0);
        ck_assert_int_lt(kept, 6000);
        ck_assert_int_gt(kept, 4000);
        trace_data_close(&d);
        trace_set_free(&s);
    }
}
END_TEST

static void dat_path(char *buf, size_t cap, int node, int inc)
{
    snprintf(buf, cap, "%s/trace/n%d.%d.dat", base, node, inc);
}

START_TEST(test_data_short_missing_or_damaged)
{
    struct trace_writer w;
    open_w(&w, base, 1, 1);
    for (int i = 0; i < 100; i++)
        emit_cmd(&w, 1, i);
    trace_close(&w);
    struct trace_set s;
    load(base, &s);
    char path[256];
    dat_path(path, sizeof path, 1, 1);
    off_t size;
    ck_assert(dat_exists(base, 1, 1, &size));
    /* One byte changed: that command reads as not kept. */
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "#", 1, (off_t)s.recs[10].c + 2), 1);
    /* Cut short: the last commands are gone. */
    ck_assert_int_eq(ftruncate(fd, size - 10), 0);
    close(fd);
    struct trace_data d;
    char err[DL_ERRLEN];
    ck_assert_int_eq(trace_data_open(&d, base, err), 0);
    for (size_t i = 0; i < s.n; i++)
        ck_assert_int_eq(read_back(&d, &s.recs[i]), i != 10 && i != 99);
    trace_data_close(&d);
    /* Missing: nothing is kept, nothing fails. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(trace_data_open(&d, base, err), 0);
    for (size_t i = 0; i < s.n; i++)
        ck_assert(!read_back(&d, &s.recs[i]));
    trace_data_close(&d);
    trace_set_free(&s);
}
END_TEST

START_TEST(test_data_stops_when_it_cannot_grow)
{
    /* Under a file-size limit the side file stops at its last allocation:
     * later records say c = -1 and still carry the hash; the records file
     * (small) is not affected. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {200 << 10, 200 << 10};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(10);
        struct trace_writer w;
        char err[DL_ERRLEN];
        if (trace_open(&w, base, 5, 1, 0, err) < 0)
            _exit(11);
        int unkept = 0;
        for (int i = 0; i < 1000; i++) {
            char cmd[1000];
            memset(cmd, 'a' + i % 26, sizeof cmd);
            struct trace_rec r = {.t_us = 1 + i, .node = 5, .ev = TR_APPLY, .a = i};
            struct trace_rec *got = trace_emit_data(&w, &r, cmd, sizeof cmd);
            if (!got)
                _exit(12);
            unkept += got->c < 0;
        }
        if (!w.dfull || unkept == 0 || w.full)
            _exit(13);
        trace_close(&w);
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    struct trace_set s;
    load(base, &s);
    ck_assert_uint_eq(s.n, 1000);
    struct trace_data d;
    char err[DL_ERRLEN];
    ck_assert_int_eq(trace_data_open(&d, base, err), 0);
    int kept = 0;
    for (size_t i = 0; i < s.n; i++) {
        const uint8_t *p = trace_data_get(&d, &s.recs[i]);
        ck_assert_int_eq(s.recs[i].aux, 1000);
        if (s.recs[i].c < 0) {
            ck_assert_ptr_null(p);
            continue;
        }
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(p[999], 'a' + (int)(s.recs[i].a % 26));
        kept++;
    }
    ck_assert_int_ge(kept, 64);
    ck_assert_int_le(kept, 200);
    trace_data_close(&d);
    trace_set_free(&s);
}
END_TEST

static Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("growth");
    tcase_add_checked_fixture(tc, base_setup, base_teardown);
    tcase_add_test(tc, test_starts_small_and_grows);
    tcase_add_test(tc, test_killed_process_leaves_small_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("cap");
    tcase_add_checked_fixture(tc, base_setup, base_teardown);
    tcase_add_test(tc, test_cap_keeps_newest);
    tcase_add_test(tc, test_cap_bounds);
    suite_add_tcase(s, tc);
    tc = tcase_create("cut");
    tcase_add_checked_fixture(tc, base_setup, base_teardown);
    tcase_add_test(tc, test_cut_by_file_size_limit);
    tcase_add_test(tc, test_cut_by_full_filesystem);
    suite_add_tcase(s, tc);
    tc = tcase_create("torn");
    tcase_add_checked_fixture(tc, base_setup, base_teardown);
    tcase_add_test(tc, test_torn_record_skipped_and_counted);
    tcase_add_test(tc, test_torn_in_ring_slot);
    tcase_add_test(tc, test_crafted_duplicate_seq);
    suite_add_tcase(s, tc);
    tc = tcase_create("data");
    tcase_add_checked_fixture(tc, base_setup, base_teardown);
    tcase_add_test(tc, test_data_round_trip);
    tcase_add_test(tc, test_data_survives_kill);
    tcase_add_test(tc, test_data_ring_keeps_newest);
    tcase_add_test(tc, test_data_short_missing_or_damaged);
    tcase_add_test(tc, test_data_stops_when_it_cannot_grow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(trace_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
