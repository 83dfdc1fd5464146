/* Shared by the fuzz targets (tests/fuzz/run.sh builds them with clang and
 * libFuzzer; they are not part of `make check`).
 *
 * - fuzz_fail: a broken contract is a finding like a crash. The message goes
 *   to the stderr the process started with, which a target keeps (dup'd in
 *   LLVMFuzzerInitialize) so that it still shows when libFuzzer is told to
 *   close stderr (-close_fd_mask=2) to silence the code under test.
 * - fuzz_tmpdir: one private directory per process, under $TMPDIR, removed
 *   at exit; run.sh points TMPDIR at its own temporary directory and removes
 *   that too, so nothing is left behind even after a crash. */
#ifndef DL_TESTS_FUZZ_FUZZ_H
#define DL_TESTS_FUZZ_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fuzz_report_fd = 2;
static char fuzz_dir[4096];

static void fuzz_keep_stderr(void)
{
    int fd = dup(2);
    if (fd >= 0)
        fuzz_report_fd = fd;
}

__attribute__((noreturn, format(printf, 1, 2))) static void fuzz_fail(const char *fmt, ...)
{
    char msg[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(fuzz_report_fd, "fuzz: contract broken: %s\n", msg);
    abort();
}

#define FUZZ_CHECK(cond, ...)                                                                 \
    do {                                                                                      \
        if (!(cond))                                                                          \
            fuzz_fail(__VA_ARGS__);                                                           \
    } while (0)

static int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* rm -r path (no symbolic links are followed). */
static void fuzz_rm_tree(const char *path)
{
    nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fuzz_rm_dir_at_exit(void)
{
    if (fuzz_dir[0])
        fuzz_rm_tree(fuzz_dir);
}

/* This process's scratch directory (created on first use), or abort. */
static const char *fuzz_tmpdir(void)
{
    if (fuzz_dir[0])
        return fuzz_dir;
    const char *t = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/distlab-fuzz-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(fuzz_dir))
        fuzz_fail("cannot create a scratch directory in %s", t && *t ? t : "/tmp");
    atexit(fuzz_rm_dir_at_exit);
    return fuzz_dir;
}

#endif
