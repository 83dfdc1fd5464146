/* Raft's state machine, snapshots and InstallSnapshot.
 *
 * The state machine is the key-value store (kv.h), plus a count of the
 * commands applied and a hash chain over them (index and bytes; the
 * simulator's invariant compares them across servers), plus a session
 * table: per client its floor (the lowest operation it has no answer for,
 * as its commands carry it) and, for each operation of its window
 * [floor, floor + window), the operation applied, at which index and term,
 * and its answer (slot op % window). That makes a command a client retried
 * (through another server, or after a leader change) apply once and be
 * answered as the first time (thesis 6.3): an entry whose operation is
 * below its client's floor, or already in its slot, applies as an empty
 * command. A client never has an operation at or beyond floor + window in
 * flight, so the slot an operation takes holds either nothing or an
 * operation below the floor (answered, and never asked again): the table
 * is bounded (window slots per client, allocated at the start, each with
 * room for a short answer and grown once to room for any answer when an
 * operation's answer could be longer - before the store changes, so that
 * keeping the answer cannot fail) and frees an answer as soon as the
 * client says it has it. With a window of 1 (sequential clients) it is each client's
 * last operation and its answer.
 *
 * Every snap_every applied entries (env.raft_snapshot_entries, default
 * RAFT_DEF_SNAPSHOT_ENTRIES) the state machine is encoded (the snapshot),
 * stored with ACT_STORE_SNAPSHOT, and the log is compacted up to the
 * previous snapshot: the log in memory holds between one and two snapshot
 * intervals of entries, so followers a little behind still get entries,
 * and memory stays bounded however long the run.
 *
 * Snapshot encoding (little-endian): u64 commands applied, u64 hash chain,
 * u64 the log's cumulative hash at the snapshot's index, u32 clients, u32
 * window, then per client i64 floor and per slot i64 op, i64 index, i64
 * term, u16 answer length, the answer; then the store (kv_snap_write). It travels in chunks of at most
 * batch_bytes (the offset in SNAP_REQ f3, the total length ahead of each
 * chunk); one chunk is out at a time, the follower answers with the offset
 * it wants next, and a lost chunk is sent again at the next heartbeat. */
#include "nodes/raft_int.h"

#include <string.h>

#define SNAP_FIXED 32u
#define SNAP_PER_CLIENT 8u
#define SNAP_PER_SLOT 26u

static uint64_t snap_per_client(const struct raft_state *s)
{
    return SNAP_PER_CLIENT + (uint64_t)SNAP_PER_SLOT * (uint64_t)s->window;
}

static uint64_t snap_size(const struct raft_state *s)
{
    uint64_t n = SNAP_FIXED + snap_per_client(s) * (uint64_t)s->clients;
    for (int c = 0; c < s->clients; c++)
        for (int k = 0; k < s->window; k++)
            n += s->sm.cl[c].slot[k].alen;
    return n + kv_snap_size(&s->sm.kv);
}

/* The smallest valid snapshot for this cluster: no answers, no keys. */
static uint64_t snap_min(const struct raft_state *s)
{
    return SNAP_FIXED + snap_per_client(s) * (uint64_t)s->clients + 4;
}

int raft_sm_init(struct raft_state *s)
{
    s->sm.count = 0;
    s->sm.hash = 0;
    s->sm.cl = NULL;
    s->sm.slots = NULL;
    s->sm.reps = NULL;
    s->sm.touched = NULL;
    s->sm.ntouched = 0;
    kv_init(&s->sm.kv, s->mem);
    s->sm.ans = algo_realloc(s->mem, NULL, KV_MAX_ANSWER);
    if (!s->sm.ans)
        return -1;
    s->sm.ansbuf = NULL;
    if (s->clients > 0) {
        size_t nslots = (size_t)s->clients * (size_t)s->window;
        s->sm.cl = algo_realloc(s->mem, NULL, (size_t)s->clients * sizeof *s->sm.cl);
        s->sm.slots = algo_realloc(s->mem, NULL, nslots * sizeof *s->sm.slots);
        s->sm.reps = algo_realloc(s->mem, NULL, nslots * sizeof *s->sm.reps);
        s->sm.touched = algo_realloc(s->mem, NULL, (size_t)s->clients * sizeof *s->sm.touched);
        /* A window of 1 (sequential clients): room for any answer from
         * the start, as it always was. Wider: short answers in place. */
        size_t each = s->window == 1 ? KV_MAX_ANSWER : RAFT_ANSWER_SMALL;
        s->sm.ansbuf = algo_realloc(s->mem, NULL, nslots * each);
        if (!s->sm.cl || !s->sm.slots || !s->sm.reps || !s->sm.touched || !s->sm.ansbuf)
            return -1;
        memset(s->sm.cl, 0, (size_t)s->clients * sizeof *s->sm.cl);
        memset(s->sm.slots, 0, nslots * sizeof *s->sm.slots);
        for (int c = 0; c < s->clients; c++) {
            s->sm.cl[c].slot = s->sm.slots + (size_t)c * (size_t)s->window;
            s->sm.cl[c].rep = s->sm.reps + (size_t)c * (size_t)s->window;
        }
        for (size_t k = 0; k < nslots; k++) {
            s->sm.slots[k].ans = s->sm.ansbuf + k * each;
            s->sm.slots[k].acap = (uint32_t)each;
        }
    }
    return 0;
}

void raft_sm_free(struct raft_state *s)
{
    if (s->sm.cl)
        algo_realloc(s->mem, s->sm.cl, 0);
    s->sm.cl = NULL;
    if (s->sm.slots) {
        for (size_t k = 0; k < (size_t)s->clients * (size_t)s->window; k++)
            if (s->sm.slots[k].own)
                algo_realloc(s->mem, s->sm.slots[k].ans, 0);
        algo_realloc(s->mem, s->sm.slots, 0);
    }
    s->sm.slots = NULL;
    if (s->sm.reps)
        algo_realloc(s->mem, s->sm.reps, 0);
    s->sm.reps = NULL;
    if (s->sm.touched)
        algo_realloc(s->mem, s->sm.touched, 0);
    s->sm.touched = NULL;
    if (s->sm.ansbuf)
        algo_realloc(s->mem, s->sm.ansbuf, 0);
    s->sm.ansbuf = NULL;
    if (s->sm.ans)
        algo_realloc(s->mem, s->sm.ans, 0);
    s->sm.ans = NULL;
    kv_free(&s->sm.kv);
}

/* Room for an answer of need bytes in a slot. false: out of memory
 * (nothing changed). A slot grows at most once, to KV_MAX_ANSWER: memory
 * is bounded by the window and does not grow with the clients' activity,
 * and keeping an answer after the store changed cannot fail (the caller
 * reserved first). */
static bool reserve_answer(struct raft_state *s, struct raft_slot *rec, uint32_t need)
{
    if (rec->acap >= need)
        return true;
    uint8_t *p = algo_realloc(s->mem, rec->own ? rec->ans : NULL, KV_MAX_ANSWER);
    if (!p)
        return false;
    if (!rec->own && rec->alen)
        memcpy(p, rec->ans, rec->alen);
    rec->ans = p;
    rec->own = true;
    rec->acap = KV_MAX_ANSWER;
    return true;
}

/* The longest answer a command can have now: its status, and for a get
 * or a failed cas the key's current value (kv.h). */
static uint32_t answer_bound(const struct raft_state *s, const uint8_t *cmd, uint32_t len)
{
    struct kv_cmd kc;
    uint32_t vlen = 0;
    if (kv_decode(cmd, len, &kc))
        kv_get(&s->sm.kv, kc.key, kc.klen, &vlen);
    return 1 + vlen;
}

/* Keep an answer in a slot. false: out of memory. */
static bool keep_answer(struct raft_state *s, struct raft_slot *rec, const uint8_t *ans,
                        uint32_t len)
{
    if (!reserve_answer(s, rec, len))
        return false;
    if (len)
        memcpy(rec->ans, ans, len);
    rec->alen = len;
    return true;
}

int raft_snap_take(struct raft_state *s, int64_t index, int64_t term, uint64_t log_hash)
{
    uint64_t size = snap_size(s);
    if (size > ALGO_MAX_SNAPSHOT)
        return -1;
    uint32_t len = (uint32_t)size;
    if (s->snap_cap < len) {
        uint8_t *p = algo_realloc(s->mem, s->snap, len);
        if (!p)
            return -1;
        s->snap = p;
        s->snap_cap = len;
    }
    uint8_t *p = s->snap;
    raft_put(p, (uint64_t)s->sm.count, 8);
    raft_put(p + 8, s->sm.hash, 8);
    raft_put(p + 16, log_hash, 8);
    raft_put(p + 24, (uint64_t)s->clients, 4);
    raft_put(p + 28, (uint64_t)s->window, 4);
    p += SNAP_FIXED;
    for (int c = 0; c < s->clients; c++) {
        raft_put(p, (uint64_t)s->sm.cl[c].floor, 8);
        p += SNAP_PER_CLIENT;
        for (int k = 0; k < s->window; k++) {
            const struct raft_slot *rec = &s->sm.cl[c].slot[k];
            raft_put(p, (uint64_t)rec->op, 8);
            raft_put(p + 8, (uint64_t)rec->index, 8);
            raft_put(p + 16, (uint64_t)rec->term, 8);
            raft_put(p + 24, rec->alen, 2);
            if (rec->alen)
                memcpy(p + SNAP_PER_SLOT, rec->ans, rec->alen);
            p += SNAP_PER_SLOT + rec->alen;
        }
    }
    kv_snap_write(&s->sm.kv, p);
    s->snap_len = len;
    s->snap_index = index;
    s->snap_term = term;
    return 0;
}

int raft_snap_load(struct raft_state *s, const uint8_t *p, uint32_t len, uint64_t *log_hash)
{
    if (len < snap_min(s) || raft_get(p + 24, 4) != (uint64_t)s->clients ||
        raft_get(p + 28, 4) != (uint64_t)s->window || (int64_t)raft_get(p, 8) < 0)
        return -1;
    const uint8_t *q = p + SNAP_FIXED, *end = p + len;
    for (int c = 0; c < s->clients; c++) {
        if (end - q < (ptrdiff_t)SNAP_PER_CLIENT || (int64_t)raft_get(q, 8) < 0)
            return -1;
        q += SNAP_PER_CLIENT;
        for (int k = 0; k < s->window; k++) {
            if (end - q < (ptrdiff_t)SNAP_PER_SLOT)
                return -1;
            uint32_t alen = (uint32_t)raft_get(q + 24, 2);
            int64_t op = (int64_t)raft_get(q, 8);
            /* An operation sits in its own slot. */
            if (op < 0 || (op > 0 && op % s->window != k) || (int64_t)raft_get(q + 8, 8) < 0 ||
                (int64_t)raft_get(q + 16, 8) < 0 || alen > KV_MAX_ANSWER ||
                end - q - SNAP_PER_SLOT < (ptrdiff_t)alen)
                return -1;
            q += SNAP_PER_SLOT + alen;
        }
    }
    /* Nothing changes unless all of it loads (a slot grown for a longer
     * answer is no change of state). */
    q = p + SNAP_FIXED;
    for (int c = 0; c < s->clients; c++) {
        q += SNAP_PER_CLIENT;
        for (int k = 0; k < s->window; k++) {
            uint32_t alen = (uint32_t)raft_get(q + 24, 2);
            if (!reserve_answer(s, &s->sm.cl[c].slot[k], alen))
                return -1;
            q += SNAP_PER_SLOT + alen;
        }
    }
    struct kv_store kv;
    kv_init(&kv, s->mem);
    if (!kv_snap_read(&kv, q, (uint64_t)(end - q)))
        return -1;
    kv_free(&s->sm.kv);
    s->sm.kv = kv;
    s->sm.count = (int64_t)raft_get(p, 8);
    s->sm.hash = raft_get(p + 8, 8);
    *log_hash = raft_get(p + 16, 8);
    q = p + SNAP_FIXED;
    for (int c = 0; c < s->clients; c++) {
        s->sm.cl[c].floor = (int64_t)raft_get(q, 8);
        q += SNAP_PER_CLIENT;
        for (int k = 0; k < s->window; k++) {
            struct raft_slot *rec = &s->sm.cl[c].slot[k];
            uint32_t alen = (uint32_t)raft_get(q + 24, 2);
            rec->op = (int64_t)raft_get(q, 8);
            rec->index = (int64_t)raft_get(q + 8, 8);
            rec->term = (int64_t)raft_get(q + 16, 8);
            keep_answer(s, rec, q + SNAP_PER_SLOT, alen); /* reserved above */
            q += SNAP_PER_SLOT + alen;
        }
    }
    return 0;
}

/* Snapshot at the applied index, store it, and compact the log up to the
 * previous snapshot. */
static void snapshot_now(struct raft_state *s, struct algo_actions *out)
{
    int64_t prev = s->snap_index;
    int64_t idx = s->applied;
    uint64_t h = 0;
    if (!raft_log_hash(&s->log, idx, &h) ||
        raft_snap_take(s, idx, raft_log_term(&s->log, idx), h) < 0)
        return;
    s->snap_pending = true;
    if (act_store_snapshot(out, s->snap_index, s->snap_term, s->snap, s->snap_len))
        s->snap_pending = false;
    if (prev > s->log.base)
        raft_log_compact(&s->log, prev);
}

void raft_apply(struct raft_state *s, struct algo_actions *out)
{
    if (s->snap_pending &&
        act_store_snapshot(out, s->snap_index, s->snap_term, s->snap, s->snap_len))
        s->snap_pending = false;
    int done = 0;
    while (s->applied < s->commit && done < ALGO_STEP_BATCH &&
           raft_room(out, 8 + s->sm.ntouched)) {
        int64_t i = s->applied + 1;
        const struct raft_ent *e = raft_log_get(&s->log, i);
        if (!e)
            break; /* cannot happen: applied >= base, commit <= last */
        const uint8_t *d = raft_log_data(&s->log, e);
        if (e->len == 0) {
            if (!act_apply(out, i, e->term, NULL, 0))
                break;
        } else {
            int client = (int)raft_get(d, 4);
            int64_t op = (int64_t)raft_get(d + 4, 8);
            int64_t floor = raft_floor_of(op, (int64_t)raft_get(d + 12, 8));
            struct raft_client_rec *cr = &s->sm.cl[client - s->n - 1];
            /* Every operation below the floor this command carries was
             * answered to its client: their slots are free. */
            if (floor > cr->floor)
                cr->floor = floor;
            struct raft_slot *rec = &cr->slot[op % s->window];
            if (op >= cr->floor && op != rec->op) {
                uint32_t len = e->len - RAFT_CMD_HDR;
                /* Room for the apply and the client's answer first, and for
                 * the answer in the record: once the store changed, nothing
                 * may fail. */
                /* A leader's answers leave together at the end (room for
                 * one per entry of this batch). */
                if (algo_arena_room(out) < len + (uint32_t)(done + 1) * (KV_MAX_ANSWER +
                                                                      RAFT_ANSWER_REC) + 16 ||
                    !reserve_answer(s, rec, rec->acap >= KV_MAX_ANSWER
                                                ? KV_MAX_ANSWER
                                                : answer_bound(s, d + RAFT_CMD_HDR, len)))
                    break; /* the next step (or the apply timer) goes on */
                uint32_t alen = kv_apply(&s->sm.kv, d + RAFT_CMD_HDR, len, s->sm.ans);
                if (alen == 0)
                    break; /* out of memory, nothing changed: the apply timer tries again */
                keep_answer(s, rec, s->sm.ans, alen);
                act_apply(out, i, e->term, d + RAFT_CMD_HDR, len);
                s->sm.count++;
                s->sm.hash = raft_hash_bytes(raft_hash_mix(s->sm.hash, (uint64_t)i),
                                             d + RAFT_CMD_HDR, len);
                rec->op = op;
                rec->index = i;
                rec->term = e->term;
            } else if (!act_apply(out, i, e->term, NULL, 0)) {
                break; /* a retried command, applied before: nothing to do */
            }
            if (s->role == ROLE_LEADER)
                raft_client_applied(s, client, op, out);
        }
        s->applied = i;
        done++;
        if (s->applied - s->snap_index >= s->snap_every)
            snapshot_now(s, out);
    }
    raft_client_flush(s, out);
    if (s->applied < s->commit && !s->apply_armed) {
        act_set_timer(out, RAFT_T_APPLY, 0);
        s->apply_armed = true;
    }
}

void raft_send_snapshot(struct raft_state *s, int p, struct algo_actions *out)
{
    struct raft_peer *pr = &s->peer[p];
    if (s->snap_index == 0 || s->snap_len == 0) {
        /* No snapshot yet, so nothing was compacted: probe instead. */
        raft_peer_probe(pr, s->log.base + 1);
        return;
    }
    if (pr->snap_index != s->snap_index) {
        pr->snap_index = s->snap_index; /* a newer snapshot: from its start */
        pr->snap_off = 0;
    }
    if (pr->snap_off > s->snap_len)
        pr->snap_off = 0;
    uint32_t chunk = s->snap_len - pr->snap_off;
    if (chunk > s->batch_bytes - RAFT_SNAP_HDR)
        chunk = s->batch_bytes - RAFT_SNAP_HDR;
    raft_put(s->scratch, s->snap_len, 4);
    if (chunk)
        memcpy(s->scratch + RAFT_SNAP_HDR, s->snap + pr->snap_off, chunk);
    struct algo_msg m = {.type = RAFT_SNAP_REQ, .from = (uint16_t)s->id, .to = (uint16_t)p};
    m.f[0] = s->term;
    m.f[1] = s->snap_index;
    m.f[2] = s->snap_term;
    m.f[3] = pr->snap_off;
    m.len = RAFT_SNAP_HDR + chunk;
    m.payload = s->scratch;
    if (act_send_ex(out, &m, false))
        pr->snap_out = true;
}

static void snap_resp(struct raft_state *s, int to, int64_t index, uint32_t held, bool done,
                      struct algo_actions *out)
{
    struct algo_msg r = {.type = RAFT_SNAP_RESP, .from = (uint16_t)s->id, .to = (uint16_t)to};
    r.f[0] = s->term;
    r.f[1] = index;
    r.f[2] = held;
    r.f[3] = done;
    act_send_ex(out, &r, done);
}

/* A whole snapshot arrived: "If existing log entry has same index and term
 * as snapshot's last included entry, retain log entries following it and
 * reply. Discard the entire log. Reset state machine using snapshot
 * contents" (Figure 13). The entries it covers are not applied one by one
 * (there is no command to give): the state machine jumps to its index. */
static void install(struct raft_state *s, int from, struct algo_actions *out)
{
    int64_t idx = s->in_index, term = s->in_term;
    uint64_t h;
    if (raft_snap_load(s, s->in_buf, s->in_len, &h) < 0) {
        act_malformed(out);
        s->in_index = 0;
        return;
    }
    uint64_t mine;
    if (raft_log_term(&s->log, idx) == term && raft_log_hash(&s->log, idx, &mine) && mine == h &&
        idx <= raft_log_last(&s->log)) {
        raft_log_compact(&s->log, idx);
    } else {
        if (raft_log_last(&s->log) > idx)
            act_store_truncate(out, idx + 1);
        raft_log_reset(&s->log, idx, term, h);
        if (s->durable > idx)
            s->durable = idx;
    }
    raft_snap_take(s, idx, term, h);
    s->snap_pending = !act_store_snapshot(out, idx, term, s->snap, s->snap_len);
    s->commit = s->applied = idx;
    s->commit_term = s->term;
    act_commit(out, idx, term);
    s->in_index = 0;
    s->in_len = 0;
    snap_resp(s, from, idx, s->snap_len, true, out);
}

void raft_on_snap_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                      struct algo_actions *out)
{
    int64_t term = m->f[0], idx = m->f[1], sterm = m->f[2];
    uint32_t off = (uint32_t)m->f[3];
    uint32_t total = (uint32_t)raft_get(m->payload, 4);
    uint32_t chunk = m->len - RAFT_SNAP_HDR;
    if (total < snap_min(s) || total > ALGO_MAX_SNAPSHOT || off > total || chunk > total - off ||
        chunk == 0) {
        act_malformed(out);
        return;
    }
    if (term < s->term) {
        snap_resp(s, m->from, idx, 0, false, out); /* our term deposes a stale leader */
        return;
    }
    raft_become_follower(s, term, m->from, now, out);
    raft_heard_leader(s, m->from, now, out);
    if (idx <= s->commit) {
        /* Already there (a duplicate, or we caught up otherwise). */
        snap_resp(s, m->from, idx, total, true, out);
        return;
    }
    if (s->in_index != idx || s->in_term != sterm || s->in_total != total ||
        s->in_from != m->from || s->in_leader_term != term) {
        /* Another snapshot, or the same one from another leader (whose
         * encoding may differ): from its start. A chunk must never land
         * past the buffer sized for an earlier total. */
        s->in_index = idx;
        s->in_term = sterm;
        s->in_from = m->from;
        s->in_leader_term = term;
        s->in_len = 0;
        s->in_total = total;
        if (s->in_cap < total) {
            uint8_t *p = algo_realloc(s->mem, s->in_buf, total);
            if (!p) {
                s->in_index = 0;
                return;
            }
            s->in_buf = p;
            s->in_cap = total;
        }
    }
    if (off == s->in_len) {
        memcpy(s->in_buf + off, m->payload + RAFT_SNAP_HDR, chunk);
        s->in_len += chunk;
    }
    if (s->in_len < s->in_total) {
        snap_resp(s, m->from, idx, s->in_len, false, out);
        return;
    }
    install(s, m->from, out);
}

void raft_on_snap_resp(struct raft_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out)
{
    if (!raft_answer_current(s, m, now, out))
        return;
    struct raft_peer *pr = &s->peer[m->from];
    pr->last_ack_us = now;
    if (pr->mode != RAFT_PR_SNAPSHOT || m->f[1] != pr->snap_index)
        return; /* stale */
    /* The offset is checked against the snapshot it is about: once the
     * leader took a newer one, an answer about the older one (which may
     * have been longer: the store and the clients' answers vary in size)
     * only says how far that one got. */
    if (m->f[1] > raft_log_last(&s->log) ||
        (m->f[1] == s->snap_index && m->f[2] > s->snap_len)) {
        act_malformed(out);
        return;
    }
    if (m->f[1] != s->snap_index && !m->f[3]) {
        /* Half of a snapshot we no longer have: the newer one, from its
         * start. */
        pr->snap_out = false;
        raft_send_snapshot(s, m->from, out);
        return;
    }
    if (m->f[3]) {
        if (m->f[1] > pr->match)
            pr->match = m->f[1];
        raft_peer_probe(pr, pr->match + 1);
        raft_maybe_commit(s, out);
        raft_send_append(s, m->from, false, out);
        return;
    }
    pr->snap_off = (uint32_t)m->f[2];
    pr->snap_out = false;
    raft_send_snapshot(s, m->from, out);
}
