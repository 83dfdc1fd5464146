/* The node runtime's typed storage: a replicated log's persistent state in
 * RUNDIR/storage/n<K>.log (ipc/storage.h), one file per server.
 *
 * At start the file is recovered and what survived goes to the core as
 * env.stored. The core's storage actions are written in order with its
 * other actions; none is durable until the end of the loop turn, where ONE
 * sync covers everything the turn's steps wrote (group commit), then the
 * sends held for it (after_sync: a vote, an acknowledgement) leave, then
 * the core hears EV_PERSISTED. A write or a sync that fails stops the node:
 * it never acknowledges what it could not write, and the next life's
 * recovery decides what survived. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/storage.h"
#include "ipc/util.h"
#include "nodes/runtime_int.h"

/* Entries given to one storage_append (one write each). */
#define APPEND_CHUNK 256
/* Bytes of sends held for one sync, at most: far more than a turn's
 * acknowledgements, a bound on a core that holds everything. */
#define HELD_MAX (16u << 20)

bool rt_storage_wanted(const struct algo_ops *ops) { return ops->range == MSG_RANGE_RAFT; }

static bool stored_entry(const void *ctx, int64_t index, struct algo_entry *e)
{
    struct storage_entry se;
    if (storage_entry_at(ctx, index, &se) < 0)
        return false;
    e->term = se.term;
    e->len = se.len;
    e->data = se.cmd;
    return true;
}

int rt_storage_open_path(struct node *nd, const char *path, bool fsync, char *err)
{
    struct storage_opts opts = {.fsync = fsync, .prealloc_bytes = RT_STORAGE_PREALLOC};
    struct storage_recovery rec;
    int rc = storage_open(&nd->st, path, &opts, &rec, err);
    if (rc < 0) {
        nd->st = NULL;
        return rc;
    }
    nd->st_fsync = fsync;
    if (rec.reason || rec.dropped_bytes)
        fprintf(stderr, "node %d: storage %s: recovered %llu records (%llu bytes); dropped the "
                        "%llu bytes after them: %s\n",
                nd->args.id, path, (unsigned long long)rec.records,
                (unsigned long long)rec.bytes, (unsigned long long)rec.dropped_bytes,
                rec.reason ? rec.reason : "not valid");
    struct storage *s = nd->st;
    int64_t snap_index, snap_term;
    const void *snap;
    size_t snap_len;
    storage_snapshot_get(s, &snap_index, &snap_term, &snap, &snap_len);
    int32_t vote = storage_voted_for(s);
    nd->stored = (struct algo_stored){
        .term = storage_term(s),
        .vote = vote == STORAGE_NO_VOTE ? 0 : vote,
        .snap_index = snap_index,
        .snap_term = snap_term,
        .snap = snap,
        .snap_len = (uint32_t)snap_len,
        .first_index = storage_first_index(s),
        .last_index = storage_last_index(s),
        .entry = stored_entry,
        .ctx = s,
    };
    if (rec.records)
        fprintf(stderr, "node %d: storage: term %lld, vote %lld, snapshot at %lld, entries "
                        "%lld..%lld\n",
                nd->args.id, (long long)nd->stored.term, (long long)nd->stored.vote,
                (long long)snap_index, (long long)nd->stored.first_index,
                (long long)nd->stored.last_index);
    return 0;
}

int rt_storage_open(struct node *nd, char *err)
{
    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/storage", nd->run->rundir);
    int rc = dl_mkdirs(dir, err);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/n%d.log", dir, nd->args.id);
    return rt_storage_open_path(nd, path, nd->run->params.fsync != 0, err);
}

const struct algo_stored *rt_storage_stored(struct node *nd)
{
    const struct algo_stored *s = &nd->stored;
    if (!nd->st || (s->term == 0 && s->vote == 0 && s->snap_index == 0 && s->last_index == 0))
        return NULL;
    return s;
}

void rt_storage_close(struct node *nd)
{
    if (nd->st)
        storage_close(nd->st);
    nd->st = NULL;
}

static int fail(struct node *nd, const char *what, int rc, const char *err)
{
    fprintf(stderr, "node %d: STORAGE FAILED: %s: %s; stopping (nothing it did not write is "
                    "acknowledged; the next start recovers what is on disk)\n",
            nd->args.id, what, err[0] ? err : strerror(-rc));
    return rc < 0 ? rc : -EIO;
}

static int apply_append(struct node *nd, const struct algo_action *a, char *err)
{
    struct storage_entry e[APPEND_CHUNK];
    const uint8_t *p = a->msg.payload, *end = p + a->msg.len;
    int64_t index = a->index;
    int n = 0, total = 0;
    struct algo_entry ae;
    while (p < end) {
        if (!algo_entries_next(&p, end, &ae))
            return dl_seterr(err, EINVAL, "BUG: an append at %lld with malformed entries",
                             (long long)a->index);
        e[n++] = (struct storage_entry){.term = ae.term, .cmd = ae.data, .len = ae.len};
        total++;
        if (n == APPEND_CHUNK) {
            int rc = storage_append(nd->st, index, e, (size_t)n, err);
            if (rc < 0)
                return rc;
            index += n;
            n = 0;
        }
    }
    if (total != a->count)
        return dl_seterr(err, EINVAL, "BUG: an append at %lld of %d entries holds %d",
                         (long long)a->index, a->count, total);
    if (n)
        return storage_append(nd->st, index, e, (size_t)n, err);
    return 0;
}

int rt_storage_apply(struct node *nd, const struct algo_action *a)
{
    char err[DL_ERRLEN] = "";
    int rc = 0;
    /* Only the writes nothing waits for may wait for their sync (algo.h;
     * rt_end_turn). */
    if (!algo_action_lazy(a))
        nd->st_urgent = true;
    switch (a->kind) {
    case ACT_STORE_TERM_VOTE:
        if (a->vote < 0 || a->vote > INT32_MAX) {
            rc = dl_seterr(err, EINVAL, "BUG: a vote for %lld", (long long)a->vote);
            break;
        }
        rc = storage_save_term_vote(nd->st, a->term,
                                    a->vote == 0 ? STORAGE_NO_VOTE : (int32_t)a->vote, err);
        return rc < 0 ? fail(nd, "saving term and vote", rc, err) : 0;
    case ACT_STORE_APPEND:
        rc = apply_append(nd, a, err);
        return rc < 0 ? fail(nd, "appending entries", rc, err) : 0;
    case ACT_STORE_TRUNCATE: {
        int64_t last = storage_last_index(nd->st), term = 0;
        if (a->index <= last && storage_term_at(nd->st, a->index, &term) == 0) {
            struct trace_rec *r = rt_trace(nd, TR_TRUNCATE, 0, 0, term, 0, a->index);
            if (r)
                r->b = last;
        }
        rc = storage_truncate(nd->st, a->index, err);
        return rc < 0 ? fail(nd, "truncating the log", rc, err) : 0;
    }
    case ACT_STORE_SNAPSHOT:
        rc = storage_snapshot(nd->st, a->index, a->term, a->msg.payload, a->msg.len, err);
        return rc < 0 ? fail(nd, "writing a snapshot", rc, err) : 0;
    default:
        return 0;
    }
    return fail(nd, "saving term and vote", rc, err);
}

int rt_storage_commit(struct node *nd)
{
    char err[DL_ERRLEN] = "";
    int rc = storage_sync(nd->st, err);
    if (rc < 0)
        return fail(nd, "syncing", rc, err);
    nd->st_syncs++;
    nd->st_urgent = false;
    nd->st_lazy_due = 0;
    /* Durable: what waited for it leaves, then the core hears it. */
    rt_held_flush(nd);
    int64_t last = storage_last_index(nd->st), term = 0;
    if (storage_term_at(nd->st, last, &term) < 0)
        term = 0;
    struct algo_event ev = {.kind = EV_PERSISTED, .now_us = rt_now(nd), .index = last,
                            .term = term};
    rt_step(nd, &ev);
    return 0;
}

/* ---- sends held for the sync ---- */

static size_t pad8(size_t n) { return (n + 7u) & ~(size_t)7u; }

bool rt_held_push(struct node *nd, const struct wire_hdr *h, const void *payload)
{
    size_t need = sizeof *h + pad8(h->len);
    if (need > HELD_MAX - nd->held_len)
        goto full;
    if (nd->held_len + need > nd->held_cap) {
        size_t cap = nd->held_cap ? nd->held_cap : 4096;
        while (cap < nd->held_len + need)
            cap *= 2;
        uint8_t *p = realloc(nd->held, cap);
        if (!p)
            goto full;
        nd->held = p;
        nd->held_cap = cap;
    }
    memcpy(nd->held + nd->held_len, h, sizeof *h);
    if (h->len)
        memcpy(nd->held + nd->held_len + sizeof *h, payload, h->len);
    nd->held_len += need;
    nd->held_n++;
    return true;
full:
    fprintf(stderr, "node %d: no room to hold a send for the sync (%zu bytes held); it fails\n",
            nd->args.id, nd->held_len);
    return false;
}

void rt_held_flush(struct node *nd)
{
    size_t at = 0, len = nd->held_len;
    /* Taken off first: a send that fails is reported, never held again. */
    nd->held_len = 0;
    nd->held_n = 0;
    while (at < len) {
        struct wire_hdr h;
        memcpy(&h, nd->held + at, sizeof h);
        const uint8_t *payload = nd->held + at + sizeof h;
        at += sizeof h + pad8(h.len);
        rt_trace_msg(nd, TR_SEND, h.to, h.type, h.f, 0);
        h.send_us = rt_now(nd);
        transport_send(&nd->tp, &h, h.len ? payload : NULL);
    }
}
