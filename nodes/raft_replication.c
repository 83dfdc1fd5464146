/* Raft's log replication: AppendEntries at the leader (batching,
 * pipelining, probing) and at a follower (the consistency check, conflict
 * truncation, fast back-up), and the commit rule.
 *
 * The leader keeps a "progress" per follower, as etcd does:
 *  - PROBE: where the follower's log matches is not known. One append at
 *    a time (from next), then wait for its answer or the next heartbeat.
 *    A rejection carries the follower's conflict term and the first index
 *    it holds of that term (or its log's end), and the leader skips a whole
 *    term per round trip (the thesis' 5.3 optimisation): a follower far
 *    behind or with a long divergent suffix is found in a few round trips.
 *  - REPLICATE: the follower matched. Appends go out optimistically (next
 *    moves on at send) in batches of up to batch_bytes of entries, at most
 *    max_inflight of them unanswered; an answer frees the slots up to its
 *    match index. A follower that stops answering costs the leader nothing
 *    but its log (bounded by snapshots): nothing is queued per follower.
 *  - SNAPSHOT: the entries it needs were compacted; it gets the snapshot
 *    (raft_snapshot.c), then probing resumes after it.
 * A heartbeat is an append too (prev = next - 1, entries if any can go):
 * a follower that lost appends rejects it, and the leader probes again.
 * EV_SEND_FAILED for an append also falls back to probing. */
#include "nodes/raft_int.h"

#include <string.h>

void raft_peer_probe(struct raft_peer *pr, int64_t next)
{
    pr->mode = RAFT_PR_PROBE;
    pr->next = next;
    pr->paused = false;
    pr->inflight = 0;
    pr->infl_head = 0;
    pr->snap_out = false;
}

bool raft_entry_ok(const struct raft_state *s, const struct algo_entry *e)
{
    if (e->len == 0)
        return true; /* a leader's no-op */
    if (e->len < RAFT_CMD_HDR || e->len > RAFT_CMD_HDR + RAFT_MAX_COMMAND)
        return false;
    uint32_t client = (uint32_t)raft_get(e->data, 4);
    int64_t op = (int64_t)raft_get(e->data + 4, 8);
    int64_t floor = (int64_t)raft_get(e->data + 12, 8);
    return client > (uint32_t)s->n && client <= (uint32_t)(s->n + s->clients) && op >= 1 &&
           raft_floor_ok(s->window, op, floor);
}

void raft_store_entries(struct raft_state *s, int64_t first, bool lazy, struct algo_actions *out)
{
    struct algo_entry batch[32];
    int64_t last = raft_log_last(&s->log);
    while (first <= last) {
        int k = 0;
        for (; k < 32 && first + k <= last; k++) {
            const struct raft_ent *e = raft_log_get(&s->log, first + k);
            batch[k].term = e->term;
            batch[k].len = e->len;
            batch[k].data = raft_log_data(&s->log, e);
        }
        if (!act_store_append(out, first, batch, k)) {
            /* The step's arena is full (cannot happen for one message's
             * entries, which is all a step appends): the entries stay
             * unstored, and since they are not durable they are not
             * acknowledged; the driver's sync never covers them. */
            return;
        }
        out->a[out->n - 1].lazy = lazy;
        first += k;
    }
}

/* May a leader's write of its new entries wait for a later sync? When the
 * followers that answered lately (in the last two heartbeat intervals, in
 * replicate mode) make a majority by themselves: the entries then commit
 * on their copies alone - raft_maybe_commit counts the leader by what is
 * durable, and "the leader may even commit an entry before it has been
 * written to its own disk, if a majority of followers have written it"
 * (the thesis' 10.2.1) - so the leader's own sync is off the path of every
 * commit, and its disk is not one more writer beside theirs. Otherwise a
 * commit may need the leader's copy: it is synced at once. */
bool raft_may_defer_sync(const struct raft_state *s, int64_t now)
{
    if (s->role != ROLE_LEADER)
        return false;
    int live = 0;
    for (int p = 1; p <= s->n; p++)
        if (p != s->id && s->peer[p].mode == RAFT_PR_REPLICATE &&
            now - s->peer[p].last_ack_us <= 2 * s->hb)
            live++;
    return live >= raft_majority(s);
}

/* Encode entries from..(at least one) into the scratch buffer; returns
 * their count and the bytes in *len. What fits inline (batch_bytes) goes
 * as one message; more than that - a follower catching up, or the
 * entries of many clients gathered while an append was out - goes as one
 * larger append of up to RAFT_CATCHUP_BYTES (a bulk slot): one message,
 * one wake-up and one sync for the follower instead of one per
 * batch_bytes, so that a follower a little behind catches up rather than
 * falling further behind until it needs a snapshot. */
static int encode_batch(struct raft_state *s, int64_t from, uint32_t *len)
{
    int64_t last = raft_log_last(&s->log);
    uint32_t used = 0, limit = s->batch_bytes;
    int k = 0;
    for (int64_t i = from; i <= last; i++) {
        const struct raft_ent *e = raft_log_get(&s->log, i);
        uint32_t need = ALGO_ENTRY_HDR + e->len;
        if (k > 0 && used + need > limit) {
            if (limit >= RAFT_CATCHUP_BYTES)
                break;
            limit = RAFT_CATCHUP_BYTES;
            if (used + need > limit)
                break;
        }
        if (used + need > ALGO_MAX_PAYLOAD)
            break;
        struct algo_entry ae = {e->term, e->len, raft_log_data(&s->log, e)};
        algo_entries_encode(s->scratch + used, ALGO_MAX_PAYLOAD - used, &ae, 1);
        used += need;
        k++;
    }
    *len = used;
    return k;
}

static bool send_one(struct raft_state *s, int p, bool entries, struct algo_actions *out)
{
    struct raft_peer *pr = &s->peer[p];
    if (!raft_room(out, RAFT_SEND_RESERVE))
        return false;
    int64_t prev = pr->next - 1;
    struct algo_msg m = {.type = RAFT_APPEND_REQ, .from = (uint16_t)s->id, .to = (uint16_t)p};
    m.f[0] = s->term;
    m.f[1] = prev;
    m.f[2] = raft_log_term(&s->log, prev);
    m.f[3] = s->commit;
    int k = 0;
    if (entries) {
        k = encode_batch(s, pr->next, &m.len);
        m.payload = s->scratch;
    }
    if (!act_send_ex(out, &m, false))
        return false; /* the step is full: the heartbeat resends */
    if (pr->mode == RAFT_PR_REPLICATE && k > 0) {
        pr->next = prev + k + 1;
        pr->infl[(pr->infl_head + pr->inflight) % RAFT_INFLIGHT_CAP] = prev + k;
        pr->inflight++;
    } else if (pr->mode == RAFT_PR_PROBE) {
        pr->paused = true;
    }
    return true;
}

void raft_send_append(struct raft_state *s, int p, bool heartbeat, struct algo_actions *out)
{
    struct raft_peer *pr = &s->peer[p];
    if (pr->mode == RAFT_PR_SNAPSHOT) {
        if (heartbeat || !pr->snap_out)
            raft_send_snapshot(s, p, out);
        return;
    }
    if (pr->next <= s->log.base) {
        /* "the leader must occasionally send snapshots to followers that
         * lag behind" (7): what it needs is compacted. */
        pr->mode = RAFT_PR_SNAPSHOT;
        pr->snap_index = 0;
        pr->snap_out = false;
        raft_send_snapshot(s, p, out);
        return;
    }
    int64_t last = raft_log_last(&s->log);
    if (pr->mode == RAFT_PR_PROBE) {
        if (pr->paused && !heartbeat)
            return;
        send_one(s, p, pr->next <= last, out);
        return;
    }
    bool sent = false;
    while (pr->inflight < s->max_inflight && pr->next <= last) {
        if (!send_one(s, p, true, out))
            return;
        sent = true;
    }
    if (heartbeat && !sent)
        send_one(s, p, false, out);
}

/* New entries at the leader (clients' commands): a follower with no
 * append in flight gets them at once; one with appends in flight gets
 * them, with whatever else arrives meanwhile, in one append when the next
 * answer comes (raft_on_append_ok). Under load the entries of many
 * commands then travel in one AppendEntries and cost the follower one
 * wake-up and one sync; a lone command goes out at once, as before. */
void raft_replicate_new(struct raft_state *s, struct algo_actions *out)
{
    for (int p = 1; p <= s->n; p++) {
        if (p == s->id)
            continue;
        const struct raft_peer *pr = &s->peer[p];
        if (pr->mode == RAFT_PR_REPLICATE && pr->inflight > 0)
            continue;
        raft_send_append(s, p, false, out);
    }
}

void raft_broadcast_append(struct raft_state *s, bool heartbeat, struct algo_actions *out)
{
    for (int p = 1; p <= s->n; p++)
        if (p != s->id)
            raft_send_append(s, p, heartbeat, out);
}

void raft_set_commit(struct raft_state *s, int64_t index, struct algo_actions *out)
{
    if (index <= s->commit)
        return;
    s->commit = index;
    s->commit_term = s->term;
    act_commit(out, index, raft_log_term(&s->log, index));
    raft_apply(s, out);
}

void raft_maybe_commit(struct raft_state *s, struct algo_actions *out)
{
    if (s->role != ROLE_LEADER)
        return;
    /* "If there exists an N such that N > commitIndex, a majority of
     * matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex =
     * N" (Figure 2). The leader's own match is what is durable here. Only
     * an entry of the leader's own term is committed by counting replicas
     * (Figure 8); earlier ones commit with it. */
    int64_t m[ALGO_MAX_NODES];
    for (int p = 1; p <= s->n; p++)
        m[p - 1] = p == s->id ? s->durable : s->peer[p].match;
    for (int i = 1; i < s->n; i++) /* insertion sort, descending; n <= 128 */
        for (int j = i; j > 0 && m[j] > m[j - 1]; j--) {
            int64_t t = m[j];
            m[j] = m[j - 1];
            m[j - 1] = t;
        }
    int64_t cand = m[raft_majority(s) - 1];
    if (cand > s->commit && raft_log_term(&s->log, cand) == s->term)
        raft_set_commit(s, cand, out);
}

static void reply_reject(struct raft_state *s, const struct algo_msg *m, int64_t ci, int64_t ct,
                         struct algo_actions *out)
{
    act_send(out, s->id, m->from, RAFT_APPEND_REJECT, s->term, m->f[1], ci, ct);
}

void raft_on_append_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                        struct algo_actions *out)
{
    int64_t term = m->f[0], prev = m->f[1], prev_term = m->f[2], lc = m->f[3];
    if (term < s->term) {
        /* "Reply false if term < currentTerm": our term tells a stale
         * leader to step down. */
        reply_reject(s, m, 0, 0, out);
        return;
    }
    /* Every entry decodes, in order of term, each a no-op or a command of
     * a known client; anything else is malformed. */
    const uint8_t *p = m->payload, *end = m->len ? m->payload + m->len : m->payload;
    struct algo_entry e;
    int64_t count = 0, t = prev_term;
    while (m->len && p < end) {
        if (!algo_entries_next(&p, end, &e) || e.term < t || e.term < 1 || e.term > term ||
            !raft_entry_ok(s, &e)) {
            act_malformed(out);
            return;
        }
        t = e.term;
        count++;
    }
    raft_become_follower(s, term, m->from, now, out);
    raft_heard_leader(s, m->from, now, out);

    p = m->payload;
    int64_t skip = 0;
    if (prev < s->log.base) {
        /* Entries up to our base are committed, so they are the leader's
         * too: skip them. */
        skip = s->log.base - prev;
        if (skip >= count) {
            act_send(out, s->id, m->from, RAFT_APPEND_OK, s->term, prev + count, 0, 0);
            return;
        }
        prev = s->log.base;
        prev_term = s->log.base_term;
    }
    int64_t last = raft_log_last(&s->log);
    if (prev > last) {
        reply_reject(s, m, last + 1, 0, out);
        return;
    }
    if (raft_log_term(&s->log, prev) != prev_term) {
        /* "Reply false if log doesn't contain an entry at prevLogIndex
         * whose term matches prevLogTerm", with the conflicting term and
         * the first index we hold of it. */
        int64_t ct = raft_log_term(&s->log, prev);
        reply_reject(s, m, raft_log_term_start(&s->log, prev), ct, out);
        return;
    }
    int64_t i = prev + 1, first_new = 0;
    /* count is every entry of the message, the skipped ones included: a
     * loop to skip + count read past the last entry and appended a copy of
     * it (found by the seeded fault runs: an acknowledgement beyond the
     * leader's log). */
    for (int64_t k = 0; k < count; k++) {
        if (!algo_entries_next(&p, end, &e))
            break; /* cannot happen: every entry decoded above */
        if (k < skip)
            continue;
        if (!first_new && i <= raft_log_last(&s->log)) {
            if (raft_log_term(&s->log, i) == e.term) {
                i++;
                continue; /* already held (a duplicate or a reordered append) */
            }
            /* "If an existing entry conflicts with a new one (same index
             * but different terms), delete the existing entry and all that
             * follow it." A committed entry never conflicts (Leader
             * Completeness); a leader claiming otherwise is wrong. */
            if (i <= s->commit) {
                act_malformed(out);
                return;
            }
            raft_log_truncate(&s->log, i);
            act_store_truncate(out, i);
            if (s->durable >= i)
                s->durable = i - 1;
        }
        if (!first_new)
            first_new = i;
        if (raft_log_append(&s->log, e.term, e.data, e.len) < 0)
            break; /* out of memory: acknowledge what we hold */
        i++;
    }
    if (first_new)
        raft_store_entries(s, first_new, false, out);
    int64_t match = i - 1;
    /* "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit,
     * index of last new entry)". */
    int64_t c = lc < match ? lc : match;
    if (c > s->commit)
        raft_set_commit(s, c, out);
    struct algo_msg r = {.type = RAFT_APPEND_OK, .from = (uint16_t)s->id, .to = m->from};
    r.f[0] = s->term;
    r.f[1] = match;
    act_send_ex(out, &r, true); /* after our log is durable */
}

bool raft_answer_current(struct raft_state *s, const struct algo_msg *m, int64_t now,
                         struct algo_actions *out)
{
    if (m->f[0] > s->term) {
        raft_become_follower(s, m->f[0], 0, now, out);
        return false;
    }
    return s->role == ROLE_LEADER && m->f[0] == s->term; /* else from an earlier term */
}

void raft_on_append_ok(struct raft_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out)
{
    if (!raft_answer_current(s, m, now, out))
        return;
    struct raft_peer *pr = &s->peer[m->from];
    int64_t idx = m->f[1];
    if (idx > raft_log_last(&s->log)) {
        act_malformed(out); /* acknowledges entries we never had */
        return;
    }
    pr->last_ack_us = now;
    if (idx > pr->match)
        pr->match = idx;
    while (pr->inflight > 0 && pr->infl[pr->infl_head] <= idx) {
        pr->infl_head = (pr->infl_head + 1) % RAFT_INFLIGHT_CAP;
        pr->inflight--;
    }
    if (pr->mode == RAFT_PR_PROBE) {
        pr->mode = RAFT_PR_REPLICATE;
        pr->next = pr->match + 1;
        pr->inflight = 0;
        pr->infl_head = 0;
        pr->paused = false;
    } else if (pr->mode == RAFT_PR_SNAPSHOT) {
        if (pr->match < pr->snap_index)
            return; /* an old answer: the snapshot goes on */
        raft_peer_probe(pr, pr->match + 1);
    }
    if (pr->next <= pr->match)
        pr->next = pr->match + 1;
    raft_maybe_commit(s, out);
    if (s->role == ROLE_LEADER)
        raft_send_append(s, m->from, false, out);
}

void raft_on_append_reject(struct raft_state *s, const struct algo_msg *m, int64_t now,
                           struct algo_actions *out)
{
    if (!raft_answer_current(s, m, now, out))
        return;
    struct raft_peer *pr = &s->peer[m->from];
    int64_t rejected = m->f[1], ci = m->f[2], ct = m->f[3];
    pr->last_ack_us = now;
    /* A rejection of an append we have since moved past is stale. */
    if (pr->mode == RAFT_PR_SNAPSHOT || rejected <= pr->match ||
        (pr->mode == RAFT_PR_PROBE && rejected != pr->next - 1))
        return;
    /* Fast back-up: skip the follower's conflicting term at once. If we
     * hold entries of that term, the follower may match up to our last one
     * of it; otherwise none of its entries of that term are ours. */
    int64_t next = ci;
    if (ct > 0) {
        int64_t li = raft_log_last_of_term(&s->log, ct);
        if (li > 0)
            next = li + 1;
    }
    if (next > rejected)
        next = rejected;
    if (next < pr->match + 1)
        next = pr->match + 1;
    if (next < 1)
        next = 1;
    raft_peer_probe(pr, next);
    raft_send_append(s, m->from, false, out);
}
