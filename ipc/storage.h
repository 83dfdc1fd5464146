/* Typed, append-only storage for a replicated log (Raft's persistent state:
 * current term, vote, log entries, latest snapshot).
 *
 * One file per node. It is a sequence of records, each framed as
 *
 *     u16 magic 0x4C44 | u8 version 1 | u8 type | u32 payload length |
 *     u32 crc32c (of the first 8 header bytes, then of the payload) | payload
 *
 * all integers little-endian. Record types and payloads:
 *
 *     TERM_VOTE  i64 term, i32 voted_for (-1: none)                 12 bytes
 *     APPEND     i64 index, i64 term, command (<= STORAGE_MAX_CMD)  16 + len
 *     TRUNCATE   i64 from: entries with index >= from are gone        8 bytes
 *     SNAPSHOT   i64 last included index, i64 its term, state bytes
 *                (<= STORAGE_MAX_SNAPSHOT)                          16 + len
 *
 * Recovery (storage_open) replays the records in order into an in-memory
 * view and stops at the first record that is not valid: bad magic, version
 * or type, a length out of bounds or of the wrong size for its type, a CRC
 * mismatch, a record cut short by the end of the file, or a record whose
 * CRC is right but which does not follow from the ones before it (an APPEND
 * whose index is not last+1, a TRUNCATE outside the log, a SNAPSHOT that is
 * not newer than the current one). Everything from there on is dropped: the
 * file is truncated at that offset (and the truncation synced when fsync is
 * on), and the caller is told how many bytes were dropped and why. A torn
 * tail is therefore never trusted, and no content of the file can crash it.
 *
 * The view: current term and vote; the latest snapshot (index, term, state);
 * the entries first_index .. last_index, where first_index is always the
 * snapshot index + 1 (1 without a snapshot). Commands live in one arena
 * buffer and their offsets in one growable array: no malloc per entry.
 *
 * Snapshot rule (from the Raft paper, InstallSnapshot, step 6-7): if the log
 * holds an entry at the snapshot's index with the snapshot's term, the
 * entries after it are kept; otherwise the whole log is discarded. Entries
 * up to the snapshot index are always dropped from memory (and, at the next
 * compaction, from the disk).
 *
 * Writes: every mutation (save_term_vote, append, truncate, snapshot)
 * encodes its records into one buffer and writes them with one pwrite at the
 * end of the file; the kernel's page cache is the write buffer. Nothing is
 * durable until storage_sync, which issues ONE fdatasync for everything
 * written since the last one (group commit: the runtime calls it once per
 * loop turn, before sending acknowledgements). With fsync off (the
 * `[raft] fsync` setting) no fsync or fdatasync is ever issued.
 *
 * Preallocation (opts.prealloc_bytes > 0): the file is extended with zeros
 * (posix_fallocate) in steps of that many bytes ahead of the records, so
 * that an fdatasync of an append need not also flush a new file size. At
 * open, a tail of zeros after the last valid record is that reserved space
 * (kept, not reported as dropped); a tail with any other byte is a torn
 * write and is cut off as above. storage_file_size is the end of the last
 * record, not the size of the file. A record never starts with a zero byte.
 *
 * Failures: a mutation whose write fails (ENOSPC, EIO, EFBIG...) returns
 * -errno, cuts the file back to where it was (so the file and the view
 * still agree) and leaves the view as it was. If that cut fails too, or an
 * fdatasync fails (after which the state of the page cache is unknown), the
 * storage is marked broken and every later mutation or sync fails with the
 * first error: the caller must stop and reopen (recovery decides what
 * survived).
 *
 * Compaction: when the file holds a snapshot and its size passes the
 * threshold (and, after a compaction, twice the size it left), the
 * next storage_sync rewrites it instead of syncing it: a new file "<path>.tmp" with
 * the snapshot, term/vote and the later entries; fdatasync; rename over the
 * old file; fsync of the directory (the fsyncs only when fsync is on). A
 * crash at any point leaves the old file or the new one in place, both
 * valid; a stale "<path>.tmp" is removed at open. The new file is durable
 * when it is in place, so that sync costs two fsyncs instead of one.
 * storage_compact forces a compaction.
 *
 * Not thread-safe: one owner (the node's loop). Functions return 0 or a
 * negative errno-style code and write a message naming the file to errbuf
 * (DL_ERRLEN bytes, may be NULL). */
#ifndef DL_IPC_STORAGE_H
#define DL_IPC_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORAGE_MAX_CMD (1u << 20)       /* bytes of one command */
#define STORAGE_MAX_SNAPSHOT (64u << 20) /* bytes of one snapshot's state */
#define STORAGE_COMPACT_DEFAULT (8u << 20)
#define STORAGE_NO_VOTE (-1)

enum storage_rec_type {
    STORAGE_REC_TERM_VOTE = 1,
    STORAGE_REC_APPEND = 2,
    STORAGE_REC_TRUNCATE = 3,
    STORAGE_REC_SNAPSHOT = 4,
};

struct storage;

struct storage_opts {
    bool fsync;             /* fdatasync in storage_sync and compaction */
    uint64_t compact_bytes; /* compaction threshold; 0: STORAGE_COMPACT_DEFAULT */
    uint64_t prealloc_bytes; /* preallocation step (see above); 0: none */
};

/* What storage_open found. */
struct storage_recovery {
    uint64_t records;       /* valid records replayed */
    uint64_t bytes;         /* bytes kept (the offset recovery stopped at) */
    uint64_t dropped_bytes; /* bytes cut off the end of the file */
    const char *reason;     /* why recovery stopped early; NULL if it did not */
};

/* One log entry. In storage_append the caller owns cmd; from
 * storage_entry_at, cmd points into the storage and stays valid until the
 * next mutation (append, truncate, snapshot, compaction) or close. */
struct storage_entry {
    int64_t term;
    const void *cmd;
    uint32_t len;
};

/* Open (creating it if absent) and recover the file at path. opts may be
 * NULL (fsync on, default threshold); rec may be NULL. */
int storage_open(struct storage **out, const char *path, const struct storage_opts *opts,
                 struct storage_recovery *rec, char *errbuf);
/* Close without syncing: what was not synced may or may not survive. */
void storage_close(struct storage *s);

/* Mutations (see above for buffering and failures). */
int storage_save_term_vote(struct storage *s, int64_t term, int32_t voted_for, char *errbuf);
/* Append n entries at first_index, which must be last_index + 1 (truncate
 * first to overwrite): -EINVAL otherwise, -EMSGSIZE for a command too big. */
int storage_append(struct storage *s, int64_t first_index, const struct storage_entry *e,
                   size_t n, char *errbuf);
/* Drop entries >= from. from must be > the snapshot index (-EINVAL);
 * from > last_index is a no-op. */
int storage_truncate(struct storage *s, int64_t from, char *errbuf);
/* Install a snapshot covering entries <= index. index must be greater than
 * the current snapshot's (-EINVAL); len <= STORAGE_MAX_SNAPSHOT. */
int storage_snapshot(struct storage *s, int64_t index, int64_t term, const void *data,
                     size_t len, char *errbuf);
/* Make everything written so far durable: one fdatasync if anything is
 * pending and fsync is on, none otherwise. */
int storage_sync(struct storage *s, char *errbuf);
/* Has anything been written since the last storage_sync? */
bool storage_sync_pending(const struct storage *s);
/* Rewrite the file now (snapshot, term/vote, later entries). */
int storage_compact(struct storage *s, char *errbuf);

/* The view. */
int64_t storage_term(const struct storage *s);
int32_t storage_voted_for(const struct storage *s);
int64_t storage_first_index(const struct storage *s); /* snapshot index + 1 */
int64_t storage_last_index(const struct storage *s);  /* snapshot index if empty */
/* Term of the entry at index, or of the snapshot at its index (0 at index 0
 * without a snapshot); -ENOENT outside that range. */
int storage_term_at(const struct storage *s, int64_t index, int64_t *term);
/* Entry at index in [first_index, last_index]; -ENOENT otherwise. */
int storage_entry_at(const struct storage *s, int64_t index, struct storage_entry *out);
/* The latest snapshot (index 0, term 0, no data if none); data valid until
 * the next snapshot or close. */
void storage_snapshot_get(const struct storage *s, int64_t *index, int64_t *term,
                          const void **data, size_t *len);
uint64_t storage_file_size(const struct storage *s);

/* fsync/fdatasync calls issued by this module in this process (for tests). */
uint64_t storage_fsync_count(void);

#endif
