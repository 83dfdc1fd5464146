/* Append-only storage for a replicated log: framing, recovery, group commit
 * and compaction. The format and the contract are in storage.h. */
#include "ipc/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/util.h"

#define REC_MAGIC 0x4C44u
#define REC_VERSION 1u
#define HDR_LEN 12u
#define TV_LEN 12u
#define TRUNC_LEN 8u
#define FIXED_LEN 16u /* index + term of APPEND and SNAPSHOT */
/* Compaction writes the file in chunks of about this size. */
#define CHUNK (1u << 20)

struct ent {
    int64_t term;
    size_t off; /* into the arena */
    uint32_t len;
};

struct storage {
    int fd;
    char *path;
    bool fsync;
    uint64_t compact_bytes;
    uint64_t prealloc;       /* preallocation step in bytes, 0: none */
    uint64_t alloc_end;      /* file size, beyond size when preallocated */
    uint64_t size;           /* end of the last valid record: where writes go */
    uint64_t compacted_size; /* size after the last compaction, 0 before one */
    bool pending;            /* written since the last sync */
    int broken;              /* 0, or the -errno that made the storage unusable */

    int64_t term;
    int32_t vote;
    int64_t snap_index, snap_term;
    uint8_t *snap;
    size_t snap_len;

    struct ent *ents; /* entries snap_index+1 .. snap_index+n */
    size_t n, ents_cap;
    uint8_t *arena;
    size_t arena_len, arena_cap;

    uint8_t *wbuf; /* records of the mutation being written */
    size_t wlen, wcap;
};

static uint64_t fsync_count;

uint64_t storage_fsync_count(void)
{
    return fsync_count;
}

/* ---- CRC-32C (Castagnoli), table-driven ---- */

static uint32_t crc_table[256];
static bool crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = true;
}

/* Continue a CRC: start with crc = 0. */
static uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    if (!crc_ready)
        crc_init();
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- little-endian encoding ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- memory ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem)
            return -ENOMEM;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Room for n more entries with cmd_bytes more command bytes, so that the
 * view can then be updated without failing. */
static int view_reserve(struct storage *s, size_t n, size_t cmd_bytes)
{
    void *e = s->ents, *a = s->arena;
    int rc = grow(&e, &s->ents_cap, s->n + n, sizeof *s->ents);
    s->ents = e;
    if (rc == 0)
        rc = grow(&a, &s->arena_cap, s->arena_len + cmd_bytes, 1);
    s->arena = a;
    return rc;
}

/* ---- the view: applying records (after reserving) ---- */

static int64_t last_index(const struct storage *s)
{
    return s->snap_index + (int64_t)s->n;
}

static void apply_append(struct storage *s, int64_t term, const void *cmd, uint32_t len)
{
    struct ent *e = &s->ents[s->n++];
    e->term = term;
    e->off = s->arena_len;
    e->len = len;
    if (len)
        memcpy(s->arena + s->arena_len, cmd, len);
    s->arena_len += len;
}

static void apply_truncate(struct storage *s, int64_t from)
{
    size_t k = (size_t)(from - s->snap_index - 1);
    if (k < s->n) {
        s->arena_len = s->ents[k].off;
        s->n = k;
    }
}

/* Takes ownership of data (malloc'd, or NULL when len is 0). */
static void apply_snapshot(struct storage *s, int64_t index, int64_t term, uint8_t *data,
                           size_t len)
{
    /* Raft, InstallSnapshot: "If existing log entry has same index and term
     * as snapshot's last included entry, retain log entries following it";
     * otherwise discard the entire log. */
    size_t k = (size_t)(index - s->snap_index); /* entries covered: 1..k */
    if (index <= last_index(s) && s->ents[k - 1].term == term) {
        size_t cut = k < s->n ? s->ents[k].off : s->arena_len;
        memmove(s->arena, s->arena + cut, s->arena_len - cut);
        s->arena_len -= cut;
        memmove(s->ents, s->ents + k, (s->n - k) * sizeof *s->ents);
        s->n -= k;
        for (size_t i = 0; i < s->n; i++)
            s->ents[i].off -= cut;
    } else {
        s->n = 0;
        s->arena_len = 0;
    }
    free(s->snap);
    s->snap = data;
    s->snap_len = len;
    s->snap_index = index;
    s->snap_term = term;
}

/* ---- encoding and writing records ---- */

static int enc_rec(struct storage *s, unsigned type, const uint8_t *fixed, size_t flen,
                   const void *var, size_t vlen)
{
    void *b = s->wbuf;
    int rc = grow(&b, &s->wcap, s->wlen + HDR_LEN + flen + vlen, 1);
    s->wbuf = b;
    if (rc < 0)
        return rc;
    uint8_t *p = s->wbuf + s->wlen;
    put16(p, REC_MAGIC);
    p[2] = REC_VERSION;
    p[3] = (uint8_t)type;
    put32(p + 4, (uint32_t)(flen + vlen));
    memcpy(p + HDR_LEN, fixed, flen);
    if (vlen)
        memcpy(p + HDR_LEN + flen, var, vlen);
    put32(p + 8, crc32c(crc32c(0, p, 8), p + HDR_LEN, flen + vlen));
    s->wlen += HDR_LEN + flen + vlen;
    return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Write the encoded records at the end of the file. On failure the file is
 * cut back to its previous size, so that it still matches the view. */
static int flush_records(struct storage *s, const char *what, char *errbuf)
{
    size_t n = s->wlen;
    if (s->prealloc && s->size + n > s->alloc_end) {
        /* Writing inside the file's size lets fdatasync skip the metadata
         * (the size) that a growing file must flush with every sync. A
         * failure here is not one: the write then grows the file, or fails
         * and says why. */
        uint64_t end = (s->size + n + s->prealloc - 1) / s->prealloc * s->prealloc;
        if (posix_fallocate(s->fd, (off_t)s->alloc_end, (off_t)(end - s->alloc_end)) == 0)
            s->alloc_end = end;
    }
    int rc = pwrite_all(s->fd, s->wbuf, s->wlen, s->size);
    s->wlen = 0;
    if (rc < 0) {
        /* Cutting the file also drops any preallocated space, so that no
         * byte of the failed write stays beyond the last record. */
        if (ftruncate(s->fd, (off_t)s->size) < 0)
            s->broken = rc;
        s->alloc_end = s->size;
        return dl_seterr(errbuf, -rc, "%s: writing %s: %s", s->path, what, strerror(-rc));
    }
    s->size += n;
    if (s->size > s->alloc_end)
        s->alloc_end = s->size;
    s->pending = true;
    return 0;
}

static int check_usable(const struct storage *s, char *errbuf)
{
    if (s->broken)
        return dl_seterr(errbuf, -s->broken, "%s: unusable after an earlier failure: %s",
                         s->path, strerror(-s->broken));
    return 0;
}

static size_t enc_term_vote(uint8_t *b, int64_t term, int32_t vote)
{
    put64(b, (uint64_t)term);
    put32(b + 8, (uint32_t)vote);
    return TV_LEN;
}

static void enc_fixed(uint8_t *b, int64_t index, int64_t term)
{
    put64(b, (uint64_t)index);
    put64(b + 8, (uint64_t)term);
}

/* ---- mutations ---- */

int storage_save_term_vote(struct storage *s, int64_t term, int32_t voted_for, char *errbuf)
{
    int rc = check_usable(s, errbuf);
    if (rc < 0)
        return rc;
    uint8_t b[TV_LEN];
    rc = enc_rec(s, STORAGE_REC_TERM_VOTE, b, enc_term_vote(b, term, voted_for), NULL, 0);
    if (rc == 0)
        rc = flush_records(s, "term and vote", errbuf);
    else
        dl_seterr(errbuf, -rc, "%s: %s", s->path, strerror(-rc));
    if (rc < 0)
        return rc;
    s->term = term;
    s->vote = voted_for;
    return 0;
}

int storage_append(struct storage *s, int64_t first_index, const struct storage_entry *e,
                   size_t n, char *errbuf)
{
    int rc = check_usable(s, errbuf);
    if (rc < 0)
        return rc;
    if (first_index != last_index(s) + 1)
        return dl_seterr(errbuf, EINVAL, "%s: append at %lld, but the log ends at %lld",
                         s->path, (long long)first_index, (long long)last_index(s));
    if (n == 0)
        return 0;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].len > STORAGE_MAX_CMD)
            return dl_seterr(errbuf, EMSGSIZE, "%s: command of %u bytes (at most %u)", s->path,
                             e[i].len, STORAGE_MAX_CMD);
        if (e[i].len && !e[i].cmd)
            return dl_seterr(errbuf, EINVAL, "%s: command without bytes", s->path);
        bytes += e[i].len;
    }
    rc = view_reserve(s, n, bytes);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t b[FIXED_LEN];
        enc_fixed(b, first_index + (int64_t)i, e[i].term);
        rc = enc_rec(s, STORAGE_REC_APPEND, b, sizeof b, e[i].cmd, e[i].len);
    }
    if (rc < 0) {
        s->wlen = 0;
        return dl_seterr(errbuf, -rc, "%s: %s", s->path, strerror(-rc));
    }
    rc = flush_records(s, "entries", errbuf);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        apply_append(s, e[i].term, e[i].cmd, e[i].len);
    return 0;
}

int storage_truncate(struct storage *s, int64_t from, char *errbuf)
{
    int rc = check_usable(s, errbuf);
    if (rc < 0)
        return rc;
    if (from <= s->snap_index)
        return dl_seterr(errbuf, EINVAL, "%s: truncate from %lld, inside the snapshot (%lld)",
                         s->path, (long long)from, (long long)s->snap_index);
    if (from > last_index(s))
        return 0;
    uint8_t b[TRUNC_LEN];
    put64(b, (uint64_t)from);
    rc = enc_rec(s, STORAGE_REC_TRUNCATE, b, sizeof b, NULL, 0);
    if (rc < 0)
        return dl_seterr(errbuf, -rc, "%s: %s", s->path, strerror(-rc));
    rc = flush_records(s, "a truncation", errbuf);
    if (rc < 0)
        return rc;
    apply_truncate(s, from);
    return 0;
}

int storage_snapshot(struct storage *s, int64_t index, int64_t term, const void *data,
                     size_t len, char *errbuf)
{
    int rc = check_usable(s, errbuf);
    if (rc < 0)
        return rc;
    if (index <= s->snap_index)
        return dl_seterr(errbuf, EINVAL, "%s: snapshot at %lld, not after the current one (%lld)",
                         s->path, (long long)index, (long long)s->snap_index);
    if (len > STORAGE_MAX_SNAPSHOT)
        return dl_seterr(errbuf, EMSGSIZE, "%s: snapshot of %zu bytes (at most %u)", s->path,
                         len, STORAGE_MAX_SNAPSHOT);
    if (len && !data)
        return dl_seterr(errbuf, EINVAL, "%s: snapshot without bytes", s->path);
    uint8_t *copy = NULL;
    if (len && !(copy = malloc(len)))
        return dl_seterr(errbuf, ENOMEM, "%s: %s", s->path, strerror(ENOMEM));
    if (len)
        memcpy(copy, data, len);
    uint8_t b[FIXED_LEN];
    enc_fixed(b, index, term);
    rc = enc_rec(s, STORAGE_REC_SNAPSHOT, b, sizeof b, data, len);
    if (rc < 0)
        dl_seterr(errbuf, -rc, "%s: %s", s->path, strerror(-rc));
    else
        rc = flush_records(s, "a snapshot", errbuf);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    apply_snapshot(s, index, term, copy, len);
    /* A large snapshot need not stay in the write buffer. */
    if (s->wcap > 2 * CHUNK) {
        free(s->wbuf);
        s->wbuf = NULL;
        s->wcap = 0;
    }
    return 0;
}

static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int rc = fsync(dfd) < 0 ? -errno : 0;
    fsync_count++;
    close(dfd);
    return rc;
}

static bool compaction_due(const struct storage *s)
{
    return s->snap_index > 0 && s->size > s->compact_bytes && s->size >= 2 * s->compacted_size;
}

int storage_sync(struct storage *s, char *errbuf)
{
    int rc = check_usable(s, errbuf);
    if (rc < 0)
        return rc;
    /* A compaction leaves a new file that is already durable: it stands in
     * for the fdatasync. */
    if (compaction_due(s))
        return storage_compact(s, errbuf);
    if (!s->pending)
        return 0;
    if (s->fsync) {
        fsync_count++;
        if (fdatasync(s->fd) < 0) {
            /* After a failed fdatasync the kernel may have dropped the
             * dirty pages: what is on disk is unknown. */
            s->broken = -errno;
            return dl_seterr(errbuf, errno, "%s: fdatasync: %s", s->path, strerror(errno));
        }
    }
    s->pending = false;
    return 0;
}

bool storage_sync_pending(const struct storage *s)
{
    return s->pending;
}

int storage_compact(struct storage *s, char *errbuf)
{
    int rc = check_usable(s, errbuf);
    if (rc < 0)
        return rc;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", s->path) >= (int)sizeof tmp)
        return dl_seterr(errbuf, ENAMETOOLONG, "%s: path too long", s->path);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return dl_seterr(errbuf, errno, "%s: %s", tmp, strerror(errno));
    uint64_t off = 0;
    uint8_t b[FIXED_LEN];
    s->wlen = 0;
    if (s->snap_index > 0) {
        enc_fixed(b, s->snap_index, s->snap_term);
        rc = enc_rec(s, STORAGE_REC_SNAPSHOT, b, sizeof b, s->snap, s->snap_len);
    }
    if (rc == 0 && (s->term != 0 || s->vote != STORAGE_NO_VOTE))
        rc = enc_rec(s, STORAGE_REC_TERM_VOTE, b, enc_term_vote(b, s->term, s->vote), NULL, 0);
    for (size_t i = 0; rc == 0 && i <= s->n; i++) {
        if (s->wlen >= CHUNK || (i == s->n && s->wlen)) {
            rc = pwrite_all(fd, s->wbuf, s->wlen, off);
            off += s->wlen;
            s->wlen = 0;
        }
        if (rc == 0 && i < s->n) {
            const struct ent *e = &s->ents[i];
            enc_fixed(b, s->snap_index + 1 + (int64_t)i, e->term);
            rc = enc_rec(s, STORAGE_REC_APPEND, b, sizeof b, s->arena + e->off, e->len);
        }
    }
    s->wlen = 0;
    if (rc == 0 && s->fsync) {
        fsync_count++;
        if (fdatasync(fd) < 0)
            rc = -errno;
    }
    if (rc == 0 && rename(tmp, s->path) < 0)
        rc = -errno;
    if (rc < 0) {
        /* The old file is still in place and still matches the view. */
        close(fd);
        unlink(tmp);
        return dl_seterr(errbuf, -rc, "%s: compacting: %s", tmp, strerror(-rc));
    }
    close(s->fd);
    s->fd = fd;
    s->size = s->alloc_end = s->compacted_size = off;
    s->pending = false;
    if (s->fsync && (rc = sync_dir(s->path)) < 0) {
        /* The rename may not survive a crash; both files are valid, but the
         * caller cannot know which one it will find. */
        s->broken = rc;
        return dl_seterr(errbuf, -rc, "%s: syncing the directory: %s", s->path, strerror(-rc));
    }
    if (s->wcap > 2 * CHUNK) {
        free(s->wbuf);
        s->wbuf = NULL;
        s->wcap = 0;
    }
    return 0;
}

/* ---- recovery ---- */

/* Apply one record whose frame and CRC are valid. Returns NULL, a reason
 * why it does not follow from the records before it, or "" for ENOMEM. */
static const char *replay(struct storage *s, unsigned type, const uint8_t *p, uint32_t len)
{
    switch (type) {
    case STORAGE_REC_TERM_VOTE:
        s->term = (int64_t)get64(p);
        s->vote = (int32_t)get32(p + 8);
        return NULL;
    case STORAGE_REC_APPEND: {
        int64_t index = (int64_t)get64(p);
        if (index != last_index(s) + 1)
            return "an entry out of sequence";
        if (view_reserve(s, 1, len - FIXED_LEN) < 0)
            return "";
        apply_append(s, (int64_t)get64(p + 8), p + FIXED_LEN, len - FIXED_LEN);
        return NULL;
    }
    case STORAGE_REC_TRUNCATE: {
        int64_t from = (int64_t)get64(p);
        if (from <= s->snap_index || from > last_index(s) + 1)
            return "a truncation outside the log";
        apply_truncate(s, from);
        return NULL;
    }
    case STORAGE_REC_SNAPSHOT: {
        int64_t index = (int64_t)get64(p);
        if (index <= s->snap_index)
            return "a snapshot older than the one before it";
        size_t n = len - FIXED_LEN;
        uint8_t *copy = NULL;
        if (n && !(copy = malloc(n)))
            return "";
        if (n)
            memcpy(copy, p + FIXED_LEN, n);
        apply_snapshot(s, index, (int64_t)get64(p + 8), copy, n);
        return NULL;
    }
    }
    return "an unknown record type";
}

/* Check the frame at buf[off..len). Returns NULL if a whole valid record
 * is there (its payload length in *plen), or why not. */
static const char *check_frame(const uint8_t *buf, size_t off, size_t len, uint32_t *plen)
{
    if (len - off < HDR_LEN)
        return "a truncated record header";
    const uint8_t *h = buf + off;
    if (get16(h) != REC_MAGIC || h[2] != REC_VERSION)
        return "a bad magic number";
    uint32_t n = get32(h + 4);
    switch (h[3]) {
    case STORAGE_REC_TERM_VOTE:
        if (n != TV_LEN)
            return "a bad record length";
        break;
    case STORAGE_REC_TRUNCATE:
        if (n != TRUNC_LEN)
            return "a bad record length";
        break;
    case STORAGE_REC_APPEND:
        if (n < FIXED_LEN || n - FIXED_LEN > STORAGE_MAX_CMD)
            return "a bad record length";
        break;
    case STORAGE_REC_SNAPSHOT:
        if (n < FIXED_LEN || n - FIXED_LEN > STORAGE_MAX_SNAPSHOT)
            return "a bad record length";
        break;
    default:
        return "an unknown record type";
    }
    if (n > len - off - HDR_LEN)
        return "a truncated record";
    if (crc32c(crc32c(0, h, 8), h + HDR_LEN, n) != get32(h + 8))
        return "a CRC mismatch";
    *plen = n;
    return NULL;
}

static int recover(struct storage *s, struct storage_recovery *rec, char *errbuf)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return dl_seterr(errbuf, errno, "%s: %s", s->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return dl_seterr(errbuf, EINVAL, "%s: not a regular file", s->path);
    size_t len = (size_t)st.st_size;
    uint8_t *buf = len ? malloc(len) : NULL;
    if (len && !buf)
        return dl_seterr(errbuf, ENOMEM, "%s: %s", s->path, strerror(ENOMEM));
    int rc = 0;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(s->fd, buf + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = dl_seterr(errbuf, errno, "%s: %s", s->path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break; /* shrunk under us: what was read is what there is */
        got += (size_t)r;
    }
    len = got;

    size_t off = 0;
    const char *why = NULL;
    while (off < len) {
        uint32_t n;
        if ((why = check_frame(buf, off, len, &n)))
            break;
        if ((why = replay(s, buf[off + 3], buf + off + HDR_LEN, n))) {
            if (!*why) {
                rc = dl_seterr(errbuf, ENOMEM, "%s: %s", s->path, strerror(ENOMEM));
                goto out;
            }
            break;
        }
        off += HDR_LEN + n;
        rec->records++;
    }
    /* With preallocation, zeros after the last record are the space
     * reserved for the next ones: nothing to drop. Any other byte there
     * means a torn write, and the whole tail goes. */
    bool zero_tail = s->prealloc > 0 && off < len;
    for (size_t i = off; zero_tail && i < len; i++)
        zero_tail = buf[i] == 0;
    if (zero_tail) {
        why = NULL;
        s->alloc_end = (uint64_t)st.st_size;
    } else {
        s->alloc_end = off;
    }
    rec->bytes = off;
    rec->dropped_bytes = zero_tail ? 0 : (uint64_t)st.st_size - off;
    rec->reason = why;
    s->size = off;
    /* A file found big at open (a crash before its compaction) is
     * compacted at the first sync that finds it due. */
    s->compacted_size = 0;
    if (!zero_tail && (uint64_t)st.st_size > off) {
        /* Never trust what follows the first invalid record: cut it off so
         * that new records follow the valid prefix directly. */
        if (ftruncate(s->fd, (off_t)off) < 0) {
            rc = dl_seterr(errbuf, errno, "%s: truncating at %zu: %s", s->path, off,
                           strerror(errno));
            goto out;
        }
        if (s->fsync) {
            fsync_count++;
            if (fdatasync(s->fd) < 0)
                rc = dl_seterr(errbuf, errno, "%s: fdatasync: %s", s->path, strerror(errno));
        }
    }
out:
    free(buf);
    return rc;
}

int storage_open(struct storage **out, const char *path, const struct storage_opts *opts,
                 struct storage_recovery *rec, char *errbuf)
{
    struct storage_recovery dummy;
    if (!rec)
        rec = &dummy;
    memset(rec, 0, sizeof *rec);
    *out = NULL;
    struct storage *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return dl_seterr(errbuf, ENOMEM, "%s: %s", path, strerror(ENOMEM));
    }
    s->fd = -1;
    s->fsync = opts ? opts->fsync : true;
    s->compact_bytes = opts && opts->compact_bytes ? opts->compact_bytes : STORAGE_COMPACT_DEFAULT;
    s->prealloc = opts ? opts->prealloc_bytes : 0;
    s->vote = STORAGE_NO_VOTE;
    int rc;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        rc = dl_seterr(errbuf, ENAMETOOLONG, "%s: path too long", path);
        goto err;
    }
    /* A compaction that crashed before its rename: the old file is whole. */
    if (unlink(tmp) < 0 && errno != ENOENT) {
        rc = dl_seterr(errbuf, errno, "%s: %s", tmp, strerror(errno));
        goto err;
    }
    struct stat st;
    bool created = stat(path, &st) < 0 && errno == ENOENT;
    s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        rc = dl_seterr(errbuf, errno, "%s: %s", path, strerror(errno));
        goto err;
    }
    if (created && s->fsync && (rc = sync_dir(path)) < 0) {
        dl_seterr(errbuf, -rc, "%s: syncing the directory: %s", path, strerror(-rc));
        goto err;
    }
    if ((rc = recover(s, rec, errbuf)) < 0)
        goto err;
    *out = s;
    return 0;
err:
    storage_close(s);
    return rc;
}

void storage_close(struct storage *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s->snap);
    free(s->ents);
    free(s->arena);
    free(s->wbuf);
    free(s);
}

/* ---- the view ---- */

int64_t storage_term(const struct storage *s)
{
    return s->term;
}

int32_t storage_voted_for(const struct storage *s)
{
    return s->vote;
}

int64_t storage_first_index(const struct storage *s)
{
    return s->snap_index + 1;
}

int64_t storage_last_index(const struct storage *s)
{
    return last_index(s);
}

int storage_term_at(const struct storage *s, int64_t index, int64_t *term)
{
    if (index == s->snap_index) {
        *term = s->snap_term;
        return 0;
    }
    if (index < s->snap_index || index > last_index(s))
        return -ENOENT;
    *term = s->ents[index - s->snap_index - 1].term;
    return 0;
}

int storage_entry_at(const struct storage *s, int64_t index, struct storage_entry *out)
{
    if (index <= s->snap_index || index > last_index(s))
        return -ENOENT;
    const struct ent *e = &s->ents[index - s->snap_index - 1];
    out->term = e->term;
    out->cmd = s->arena + e->off;
    out->len = e->len;
    return 0;
}

void storage_snapshot_get(const struct storage *s, int64_t *index, int64_t *term,
                          const void **data, size_t *len)
{
    *index = s->snap_index;
    *term = s->snap_term;
    *data = s->snap;
    *len = s->snap_len;
}

uint64_t storage_file_size(const struct storage *s)
{
    return s->size;
}
