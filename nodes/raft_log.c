/* Raft's in-memory log: entries base+1 .. base+count in growable memory
 * from the driver (algo_realloc), their data bytes in one buffer. Each entry
 * keeps a cumulative hash (over its term, its data and the hash before it),
 * which makes "the logs agree up to i" one comparison (the invariant's log
 * matching and state machine safety). Compaction drops a prefix once a
 * snapshot covers it, keeping the last dropped entry's term and hash. */
#include "nodes/raft_int.h"

#include <string.h>

uint64_t raft_hash_mix(uint64_t h, uint64_t v)
{
    /* splitmix64's finaliser over h and v. */
    uint64_t z = h ^ (v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t raft_hash_bytes(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t f = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        f = (f ^ p[i]) * 0x100000001b3u;
    return raft_hash_mix(h, f ^ len);
}

void raft_log_init(struct raft_log *l, const struct algo_mem *mem)
{
    memset(l, 0, sizeof *l);
    l->mem = mem;
}

void raft_log_free(struct raft_log *l)
{
    if (l->e)
        algo_realloc(l->mem, l->e, 0);
    if (l->data)
        algo_realloc(l->mem, l->data, 0);
    l->e = NULL;
    l->data = NULL;
    l->count = l->cap = 0;
    l->data_len = l->data_cap = 0;
}

int raft_log_append(struct raft_log *l, int64_t term, const void *data, uint32_t len)
{
    if (l->count == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        void *p = algo_realloc(l->mem, l->e, (size_t)cap * sizeof *l->e);
        if (!p)
            return -1;
        l->e = p;
        l->cap = cap;
    }
    if (l->data_cap - l->data_len < len) {
        size_t cap = l->data_cap ? l->data_cap : 4096;
        while (cap - l->data_len < len)
            cap *= 2;
        void *p = algo_realloc(l->mem, l->data, cap);
        if (!p)
            return -1;
        l->data = p;
        l->data_cap = cap;
    }
    uint64_t prev = l->count ? l->e[l->count - 1].hash : l->base_hash;
    struct raft_ent *e = &l->e[l->count++];
    e->term = term;
    e->off = l->data_len;
    e->len = len;
    if (len)
        memcpy(l->data + l->data_len, data, len);
    l->data_len += len;
    e->hash = raft_hash_bytes(raft_hash_mix(prev, (uint64_t)term), data, len);
    return 0;
}

void raft_log_truncate(struct raft_log *l, int64_t from)
{
    if (from <= l->base)
        from = l->base + 1;
    if (from > l->base + l->count)
        return;
    l->count = from - l->base - 1;
    l->data_len = l->count ? l->e[l->count - 1].off + l->e[l->count - 1].len : 0;
}

/* Give memory back when the log has shrunk to a quarter of what it holds:
 * a long run's log stays at about twice the snapshot interval. */
static void shrink(struct raft_log *l)
{
    if (l->cap > 256 && l->count < l->cap / 4) {
        int64_t cap = l->cap / 2;
        void *p = algo_realloc(l->mem, l->e, (size_t)cap * sizeof *l->e);
        if (p) {
            l->e = p;
            l->cap = cap;
        }
    }
    if (l->data_cap > 65536 && l->data_len < l->data_cap / 4) {
        size_t cap = l->data_cap / 2;
        void *p = algo_realloc(l->mem, l->data, cap);
        if (p) {
            l->data = p;
            l->data_cap = cap;
        }
    }
}

void raft_log_compact(struct raft_log *l, int64_t upto)
{
    if (upto <= l->base)
        return;
    if (upto > l->base + l->count)
        upto = l->base + l->count;
    int64_t drop = upto - l->base;
    const struct raft_ent *last = &l->e[drop - 1];
    l->base_term = last->term;
    l->base_hash = last->hash;
    size_t dbytes = last->off + last->len;
    l->base = upto;
    l->count -= drop;
    memmove(l->e, l->e + drop, (size_t)l->count * sizeof *l->e);
    for (int64_t i = 0; i < l->count; i++)
        l->e[i].off -= dbytes;
    if (dbytes) /* (no arithmetic on a NULL data buffer: only no-ops held) */
        memmove(l->data, l->data + dbytes, l->data_len - dbytes);
    l->data_len -= dbytes;
    shrink(l);
}

void raft_log_reset(struct raft_log *l, int64_t index, int64_t term, uint64_t hash)
{
    l->count = 0;
    l->data_len = 0;
    l->base = index;
    l->base_term = term;
    l->base_hash = hash;
    shrink(l);
}

int64_t raft_log_term_start(const struct raft_log *l, int64_t index)
{
    /* Terms never decrease along a log: the first index in (base, index]
     * whose term is at least index's. */
    int64_t t = raft_log_term(l, index);
    int64_t lo = l->base + 1, hi = index;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (raft_log_term(l, mid) < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int64_t raft_log_last_of_term(const struct raft_log *l, int64_t t)
{
    /* Terms never decrease along a log: a binary search finds the last
     * entry whose term is <= t, which holds t if any does. */
    int64_t lo = l->base + 1, hi = l->base + l->count, found = 0;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (raft_log_term(l, mid) <= t) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (found && raft_log_term(l, found) == t)
        return found;
    if (!found && l->base > 0 && l->base_term == t)
        return l->base;
    return 0;
}
