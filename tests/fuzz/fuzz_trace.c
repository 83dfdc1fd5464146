/* Fuzz target: reading a run directory whose trace files are torn or
 * corrupt (ipc/trace.c trace_load), and what reads its records after it:
 * `distlab trace` (report_trace_json) and `distlab check` (report_check).
 *
 * The target knows nothing of the trace file format: it builds a run
 * directory from the input and calls the public API. So it keeps working,
 * and the seeds (real run directories packed by seedgen) keep meaning
 * something, when the format changes.
 *
 * Input: a sequence of chunks, each
 *   [sel] ([nlen] [name: nlen bytes] if sel & 0x80) [len: u16 LE] [len bytes]
 * sel & 0x80 == 0: the file trace/n<sel & 31>.<1 + (sel >> 5 & 3)>.bin
 * sel & 0x80:      a file named by the input (bytes outside [A-Za-z0-9._-]
 *                  become '_', at most 40), under trace/ or, if sel & 0x40,
 *                  in the run directory itself (config.ini, run.json, ...);
 *                  if sel & 0x20, a directory of that name instead.
 * A length past the end of the input takes what is left; a name given twice
 * is appended to. At most 16 chunks.
 *
 * Checked besides "no crash, no leak, no hang": trace_load returns 0 with
 * the records in time order, or a negative code with a message; `trace`
 * returns 0 or 2, `check` 0, 1 or 2. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/trace.h"
#include "ipc/util.h"
#include "src/report.h"
#include "tests/fuzz/fuzz.h"

#define MAX_CHUNKS 16
#define NAME_MAX_LEN 40

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_keep_stderr();
    return 0;
}

static void append_file(const char *path, const uint8_t *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return; /* e.g. a directory of that name exists: fine */
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fuzz_fail("cannot write %s: %s", path, strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

/* Build the run directory; returns its path (static). */
static const char *build_rundir(const uint8_t *data, size_t size)
{
    static char rundir[4200];
    char tdir[4300];
    snprintf(rundir, sizeof rundir, "%s/run", fuzz_tmpdir());
    snprintf(tdir, sizeof tdir, "%s/trace", rundir);
    fuzz_rm_tree(rundir);
    if (mkdir(rundir, 0700) < 0 || mkdir(tdir, 0700) < 0)
        fuzz_fail("cannot create %s: %s", tdir, strerror(errno));

    size_t pos = 0;
    for (int chunk = 0; chunk < MAX_CHUNKS && pos < size; chunk++) {
        uint8_t sel = data[pos++];
        char name[NAME_MAX_LEN + 1];
        bool top = false, dir = false;
        if (sel & 0x80) {
            size_t nl = pos < size ? data[pos++] : 0;
            if (nl > NAME_MAX_LEN)
                nl = NAME_MAX_LEN;
            if (nl > size - pos)
                nl = size - pos;
            for (size_t i = 0; i < nl; i++) {
                char ch = (char)data[pos + i];
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
                name[i] = ok ? ch : '_';
            }
            name[nl] = '\0';
            pos += nl;
            if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                snprintf(name, sizeof name, "_");
            top = sel & 0x40;
            dir = sel & 0x20;
        } else {
            snprintf(name, sizeof name, "n%d.%d.bin", sel & 31, 1 + ((sel >> 5) & 3));
        }
        size_t len = 0;
        if (pos < size)
            len = data[pos++];
        if (pos < size)
            len |= (size_t)data[pos++] << 8;
        if (len > size - pos)
            len = size - pos;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", top ? rundir : tdir, name);
        if (dir)
            mkdir(path, 0700);
        else
            append_file(path, data + pos, len);
        pos += len;
    }
    return rundir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *rundir = build_rundir(data, size);

    struct trace_rec *recs = NULL;
    size_t n = 0;
    char err[DL_ERRLEN];
    err[0] = '\0';
    int rc = trace_load(rundir, &recs, &n, err);
    if (rc < 0) {
        FUZZ_CHECK(err[0] != '\0', "trace_load failed (%d) without a message", rc);
    } else {
        FUZZ_CHECK(rc == 0, "trace_load returned %d", rc);
        FUZZ_CHECK(n == 0 || recs != NULL, "trace_load: %zu records and no array", n);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(i == 0 || recs[i - 1].t_us <= recs[i].t_us,
                       "trace_load: record %zu is out of time order", i);
            const char *name = trace_ev_name(recs[i].ev);
            FUZZ_CHECK(name && name[0], "trace_ev_name(%u) is empty", recs[i].ev);
        }
        free(recs);
    }

    /* What `distlab trace` and `distlab check` make of it. */
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (!f)
        fuzz_fail("open_memstream failed");
    int trc = report_trace_json(rundir, f);
    FUZZ_CHECK(trc == 0 || trc == 2, "report_trace_json returned %d", trc);
    int crc = report_check(rundir, f);
    FUZZ_CHECK(crc >= 0 && crc <= 2, "report_check returned %d", crc);
    fclose(f);
    free(out);

    fuzz_rm_tree(rundir);
    return 0;
}
