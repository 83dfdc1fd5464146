/* Fuzz target: recovery of a node's log file (ipc/storage.c), which after
 * a crash, a torn write or a bad disk may hold anything.
 *
 * Input: the file's bytes. storage_open must recover it without crashing,
 * and what it recovers must be a valid view (storage.h): the kept prefix is
 * no longer than the file, first_index is the snapshot's index + 1, every
 * entry from first to last reads back, with terms that never decrease and
 * none above the current term's record... (not a rule of the format: only
 * what the format promises is checked). Then the storage must still work:
 * an entry appended and synced after recovery is there, with the view, at
 * the next open, and a second recovery drops nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/storage.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_keep_stderr();
    return 0;
}

static void check_view(struct storage *s, const char *when)
{
    int64_t first = storage_first_index(s), last = storage_last_index(s);
    int64_t si, st;
    const void *sd;
    size_t sl;
    storage_snapshot_get(s, &si, &st, &sd, &sl);
    FUZZ_CHECK(first == si + 1, "%s: first index %lld with a snapshot at %lld", when,
               (long long)first, (long long)si);
    FUZZ_CHECK(last >= si, "%s: last index %lld below the snapshot's %lld", when, (long long)last,
               (long long)si);
    FUZZ_CHECK(sl <= STORAGE_MAX_SNAPSHOT, "%s: snapshot of %zu bytes", when, sl);
    for (int64_t i = first; i <= last; i++) {
        struct storage_entry e;
        FUZZ_CHECK(storage_entry_at(s, i, &e) == 0, "%s: entry %lld of %lld..%lld unreadable",
                   when, (long long)i, (long long)first, (long long)last);
        FUZZ_CHECK(e.len <= STORAGE_MAX_CMD, "%s: entry %lld of %u bytes", when, (long long)i,
                   e.len);
        /* touch every byte: ASan sees a bad pointer */
        unsigned sum = 0;
        for (uint32_t k = 0; k < e.len; k++)
            sum += ((const uint8_t *)e.cmd)[k];
        (void)sum;
        int64_t t;
        FUZZ_CHECK(storage_term_at(s, i, &t) == 0 && t == e.term, "%s: term_at(%lld)", when,
                   (long long)i);
    }
    struct storage_entry e;
    FUZZ_CHECK(storage_entry_at(s, last + 1, &e) == -ENOENT, "%s: an entry past the end", when);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/n1.log", fuzz_tmpdir());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        fuzz_fail("cannot create %s", path);
    if (size && write(fd, data, size) != (ssize_t)size)
        fuzz_fail("cannot write %s", path);
    close(fd);

    struct storage_opts opts = {.fsync = false, .compact_bytes = 1u << 20};
    struct storage *s = NULL;
    struct storage_recovery rec;
    int r = storage_open(&s, path, &opts, &rec, NULL);
    FUZZ_CHECK(r == 0, "storage_open failed (%d) on %zu bytes: recovery must keep a prefix", r,
               size);
    FUZZ_CHECK(rec.bytes <= size && rec.bytes + rec.dropped_bytes <= size,
               "kept %llu + dropped %llu of %zu bytes", (unsigned long long)rec.bytes,
               (unsigned long long)rec.dropped_bytes, size);
    FUZZ_CHECK(storage_file_size(s) == rec.bytes, "file size %llu, kept %llu",
               (unsigned long long)storage_file_size(s), (unsigned long long)rec.bytes);
    check_view(s, "recovered");

    /* It still works: one more entry and a new vote survive a reopen. */
    int64_t last = storage_last_index(s), term = storage_term(s);
    int64_t lt = 0;
    storage_term_at(s, last, &lt);
    int64_t nt = (term > lt ? term : lt);
    if (nt < INT64_MAX - 1)
        nt++;
    struct storage_entry e = {.term = nt, .cmd = "fuzz", .len = 4};
    int ra = storage_save_term_vote(s, nt, 1, NULL);
    if (ra == 0)
        ra = storage_append(s, last + 1, &e, 1, NULL);
    FUZZ_CHECK(ra == 0, "append after recovery failed (%d)", ra);
    FUZZ_CHECK(storage_sync(s, NULL) == 0, "sync failed");
    storage_close(s);

    s = NULL;
    r = storage_open(&s, path, &opts, &rec, NULL);
    FUZZ_CHECK(r == 0, "second open failed (%d)", r);
    FUZZ_CHECK(rec.dropped_bytes == 0, "second recovery dropped %llu bytes (%s)",
               (unsigned long long)rec.dropped_bytes, rec.reason ? rec.reason : "?");
    check_view(s, "reopened");
    FUZZ_CHECK(storage_last_index(s) == last + 1, "last index %lld, want %lld",
               (long long)storage_last_index(s), (long long)(last + 1));
    FUZZ_CHECK(storage_term(s) == nt && storage_voted_for(s) == 1, "term/vote not kept");
    struct storage_entry got;
    FUZZ_CHECK(storage_entry_at(s, last + 1, &got) == 0 && got.len == 4 &&
                   memcmp(got.cmd, "fuzz", 4) == 0 && got.term == nt,
               "the appended entry did not survive");
    storage_close(s);
    unlink(path);
    return 0;
}
