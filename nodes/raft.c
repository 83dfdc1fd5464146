/* Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus
 * Algorithm", and Ongaro's thesis), as a pure core: the ops table, init and
 * restore from typed storage, the step's dispatch, message names, inspect
 * and the cluster-wide invariant. The rules themselves live in
 * raft_election.c, raft_replication.c, raft_snapshot.c and raft_client.c;
 * the messages and their fields are listed in raft_int.h.
 *
 * Persistence goes through the typed storage actions only: the term and
 * vote (ACT_STORE_TERM_VOTE) before a vote is granted or a new term is
 * acted on, the log (ACT_STORE_TRUNCATE / ACT_STORE_APPEND) before an
 * append is acknowledged, snapshots (ACT_STORE_SNAPSHOT). A message that
 * promises something durable (a vote granted, an append acknowledged, a
 * candidate's vote request, which carries its own vote) is sent with
 * after_sync. A leader writes its own log in parallel with replicating it
 * and counts itself towards a majority only for what EV_PERSISTED covers. */
#include "nodes/raft_int.h"

#include <stdio.h>
#include <string.h>

int raft_majority(const struct raft_state *s) { return s->n / 2 + 1; }

void raft_store_term_vote(struct raft_state *s, struct algo_actions *out)
{
    act_store_term_vote(out, s->term, s->vote);
}

static void raft_free_all(struct raft_state *s)
{
    raft_log_free(&s->log);
    raft_sm_free(s);
    if (s->snap)
        algo_realloc(s->mem, s->snap, 0);
    if (s->in_buf)
        algo_realloc(s->mem, s->in_buf, 0);
    if (s->scratch)
        algo_realloc(s->mem, s->scratch, 0);
    s->snap = s->in_buf = s->scratch = NULL;
}

/* Rebuild the state from what storage kept: term, vote, the snapshot
 * (the state machine at its index, which is then committed and applied)
 * and the entries after it. All of it was durable, so the log is. */
static int restore(struct raft_state *s, const struct algo_stored *st)
{
    /* The highest counter any message could have carried (algo.h): a
     * stored term or index above it was never written by this core, and
     * arithmetic on it (a term + 1) could overflow. */
    const int64_t top = algo_counter_limit(ALGO_COUNTER_T_MAX);
    if (st->term < 0 || st->term > top || st->vote < 0 || st->vote > s->n ||
        st->snap_index < 0 || st->snap_index > top || st->last_index > top ||
        st->snap_term < 0 || (st->snap_index > 0) != (st->snap_term > 0) ||
        st->snap_term > st->term)
        return -1;
    s->term = st->term;
    s->vote = st->vote;
    if (st->snap_index > 0) {
        uint64_t h;
        if (!st->snap || raft_snap_load(s, st->snap, st->snap_len, &h) < 0)
            return -1;
        if (raft_snap_take(s, st->snap_index, st->snap_term, h) < 0)
            return -1;
        raft_log_reset(&s->log, st->snap_index, st->snap_term, h);
        s->commit = s->applied = st->snap_index;
        /* Committed in some term up to the one stored: a bound is enough
         * for the invariant (see raft_invariant). */
        s->commit_term = st->term;
    }
    if (st->last_index >= st->first_index) {
        if (st->first_index != st->snap_index + 1 || !st->entry)
            return -1;
        for (int64_t i = st->first_index; i <= st->last_index; i++) {
            struct algo_entry e;
            if (!st->entry(st->ctx, i, &e) || e.term < 1 || e.term > s->term ||
                e.term < raft_log_term(&s->log, i - 1) || !raft_entry_ok(s, &e))
                return -1;
            if (raft_log_append(&s->log, e.term, e.data, e.len) < 0)
                return -1;
        }
    }
    s->durable = raft_log_last(&s->log);
    return 0;
}

static int raft_init(void *state, const struct algo_env *env)
{
    struct raft_state *s = state;
    memset(s, 0, sizeof *s);
    if (env->n < 1 || env->n > ALGO_MAX_NODES || env->id < 1 || env->id > env->n ||
        env->clients < 0 || env->n + env->clients > UINT16_MAX || !env->mem ||
        env->raft_election_min_us < 0 || env->raft_election_max_us < 0 ||
        env->raft_heartbeat_us < 0 || env->raft_snapshot_entries < 0 ||
        env->raft_max_inflight < 0 || env->client_window < 0 ||
        env->client_window > RAFT_WINDOW_MAX)
        return -1;
    s->window = env->client_window ? env->client_window : 1;
    s->id = env->id;
    s->n = env->n;
    s->clients = env->clients;
    s->incarnation = env->incarnation;
    s->mem = env->mem;
    dl_rng_seed(&s->rng, env->seed ^ (0x9e3779b97f4a7c15u * (uint64_t)env->id) ^
                             ((uint64_t)env->incarnation << 40));
    s->el_min = env->raft_election_min_us ? env->raft_election_min_us : RAFT_DEF_ELECTION_MIN_US;
    s->el_max = env->raft_election_max_us ? env->raft_election_max_us : RAFT_DEF_ELECTION_MAX_US;
    if (s->el_max < s->el_min)
        return -1;
    s->hb = env->raft_heartbeat_us ? env->raft_heartbeat_us : RAFT_DEF_HEARTBEAT_US;
    s->snap_every =
        env->raft_snapshot_entries ? env->raft_snapshot_entries : RAFT_DEF_SNAPSHOT_ENTRIES;
    s->max_inflight = env->raft_max_inflight ? env->raft_max_inflight : RAFT_DEF_MAX_INFLIGHT;
    if (s->max_inflight > RAFT_INFLIGHT_CAP)
        s->max_inflight = RAFT_INFLIGHT_CAP;
    /* Batches aim at what travels inline; at least 1 KiB so that a tiny
     * inline size (or none given) does not make one message per entry. */
    s->batch_bytes = env->max_inline;
    if (s->batch_bytes < 1024)
        s->batch_bytes = 1024;
    if (s->batch_bytes > ALGO_MAX_PAYLOAD)
        s->batch_bytes = ALGO_MAX_PAYLOAD;
    s->prevote = env->raft_prevote;
    s->check_quorum = env->raft_check_quorum;
    s->local_reads = env->raft_local_reads;
    s->role = ROLE_FOLLOWER;
    s->heard_us = INT64_MIN / 2;
    raft_log_init(&s->log, s->mem);
    s->scratch = algo_realloc(s->mem, NULL, ALGO_MAX_PAYLOAD);
    if (!s->scratch || raft_sm_init(s) < 0)
        goto err;
    if (env->stored && restore(s, env->stored) < 0)
        goto err;
    return 0;
err:
    raft_free_all(s);
    return -1;
}

static void raft_fini(void *state) { raft_free_all(state); }

static bool from_server(const struct raft_state *s, const struct algo_msg *m)
{
    return m->from >= 1 && m->from <= s->n && m->from != s->id;
}

/* Field checks common to the server-to-server messages; the handlers check
 * what depends on the state (a payload's entries, a match index). */
static bool msg_ok(const struct raft_state *s, const struct algo_msg *m, int64_t now)
{
    for (int i = 0; i < ALGO_NFIELDS; i++)
        if (!algo_counter_ok(m->f[i], now))
            return false;
    switch (m->type) {
    case RAFT_VOTE_REQ:
        return from_server(s, m) && m->f[0] >= 1 && m->f[3] <= 1 && m->len == 0 &&
               (m->f[1] == 0) == (m->f[2] == 0) && m->f[2] <= m->f[0];
    case RAFT_VOTE_RESP:
        return from_server(s, m) && m->f[0] >= 1 && m->f[1] <= 1 && m->f[2] <= 1 &&
               m->f[3] == 0 && m->len == 0;
    case RAFT_APPEND_REQ:
        return from_server(s, m) && m->f[0] >= 1 && m->f[2] <= m->f[0] &&
               (m->f[1] == 0) == (m->f[2] == 0);
    case RAFT_APPEND_OK:
        return from_server(s, m) && m->f[0] >= 1 && m->f[2] == 0 && m->f[3] == 0 &&
               m->len == 0;
    case RAFT_APPEND_REJECT:
        return from_server(s, m) && m->f[0] >= 1 && m->f[3] <= m->f[0] && m->len == 0;
    case RAFT_SNAP_REQ:
        return from_server(s, m) && m->f[0] >= 1 && m->f[1] >= 1 && m->f[2] >= 1 &&
               m->f[2] <= m->f[0] && m->len > RAFT_SNAP_HDR && m->f[3] <= UINT32_MAX;
    case RAFT_SNAP_RESP:
        return from_server(s, m) && m->f[0] >= 1 && m->f[1] >= 1 && m->f[2] <= UINT32_MAX &&
               m->f[3] <= 1 && m->len == 0;
    case RAFT_CLIENT_REQ:
        return m->from > s->n && m->from <= s->n + s->clients && m->f[0] == 0 &&
               m->f[1] >= 1 && raft_floor_ok(s->window, m->f[1], m->f[2]) && m->f[3] == 0;
    case RAFT_CLIENT_BATCH:
        /* Each command's operation is checked against the floor by the
         * handler. */
        return m->from > s->n && m->from <= s->n + s->clients && m->f[0] == 0 &&
               m->f[1] >= 1 && m->f[1] <= s->window && m->f[2] >= 1 && m->f[3] == 0 &&
               m->len >= RAFT_BATCH_REC;
    default:
        return false; /* CLIENT_RESP goes to clients; anything else is foreign */
    }
}

static void on_message(struct raft_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out)
{
    if (!msg_ok(s, m, now)) {
        act_malformed(out);
        return;
    }
    switch (m->type) {
    case RAFT_VOTE_REQ: raft_on_vote_req(s, m, now, out); return;
    case RAFT_VOTE_RESP: raft_on_vote_resp(s, m, now, out); return;
    case RAFT_APPEND_REQ: raft_on_append_req(s, m, now, out); return;
    case RAFT_APPEND_OK: raft_on_append_ok(s, m, now, out); return;
    case RAFT_APPEND_REJECT: raft_on_append_reject(s, m, now, out); return;
    case RAFT_SNAP_REQ: raft_on_snap_req(s, m, now, out); return;
    case RAFT_SNAP_RESP: raft_on_snap_resp(s, m, now, out); return;
    case RAFT_CLIENT_REQ:
    case RAFT_CLIENT_BATCH: raft_on_client_req(s, m, now, out); return;
    }
}

/* A send of ours failed (EV_SEND_FAILED; never silent). An append or a
 * snapshot chunk to a follower: fall back to probing it, which the next
 * heartbeat resends from what it is known to hold. Votes are retried by
 * the election timer, client answers by the client's retry. */
static void on_send_failed(struct raft_state *s, const struct algo_msg *m)
{
    if (s->role != ROLE_LEADER || m->to < 1 || m->to > s->n || m->to == s->id ||
        m->f[0] != s->term)
        return;
    struct raft_peer *pr = &s->peer[m->to];
    if (m->type == RAFT_APPEND_REQ && pr->mode != RAFT_PR_SNAPSHOT) {
        raft_peer_probe(pr, pr->match + 1);
        pr->paused = true; /* until the heartbeat */
    } else if (m->type == RAFT_SNAP_REQ && pr->mode == RAFT_PR_SNAPSHOT) {
        pr->snap_out = true; /* the heartbeat sends the chunk again */
    }
}

/* The driver's sync covered our log up to ev->index (term ev->term): our
 * own entries count towards a majority from now, if the log there is still
 * the one that was synced (a truncation since makes the report stale). */
static void on_persisted(struct raft_state *s, const struct algo_event *ev,
                         struct algo_actions *out)
{
    if (ev->index < 0 || ev->index > raft_log_last(&s->log) ||
        raft_log_term(&s->log, ev->index) != ev->term)
        return;
    if (ev->index > s->durable)
        s->durable = ev->index;
    if (s->role == ROLE_LEADER)
        raft_maybe_commit(s, out);
}

static void raft_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct raft_state *s = state;
    int64_t now = ev->now_us;
    switch (ev->kind) {
    case EV_START:
        act_role(out, ROLE_FOLLOWER, s->term);
        raft_reset_deadline(s, now);
        act_set_timer(out, RAFT_T_ELECTION, s->elect_deadline - now);
        s->elect_timer_at = s->elect_deadline;
        /* A single server needs nobody's vote. */
        if (s->n == 1)
            raft_election_start(s, now, out);
        break;
    case EV_MESSAGE:
        on_message(s, &ev->msg, now, out);
        break;
    case EV_TIMER:
        if (ev->timer_id == RAFT_T_ELECTION)
            raft_on_election_timer(s, now, out);
        else if (ev->timer_id == RAFT_T_HEARTBEAT)
            raft_on_heartbeat_timer(s, now, out);
        else if (ev->timer_id == RAFT_T_APPLY) {
            s->apply_armed = false;
            raft_apply(s, out);
        }
        break;
    case EV_SEND_FAILED:
        on_send_failed(s, &ev->msg);
        break;
    case EV_PERSISTED:
        on_persisted(s, ev, out);
        break;
    case EV_PEER_UP:
        /* A follower back from a crash or a partition: probe it now rather
         * than at the next heartbeat. */
        if (s->role == ROLE_LEADER && ev->peer >= 1 && ev->peer <= s->n && ev->peer != s->id &&
            s->peer[ev->peer].mode == RAFT_PR_PROBE) {
            s->peer[ev->peer].paused = false;
            raft_send_append(s, ev->peer, false, out);
        }
        break;
    default:
        break; /* no critical section, no failure detector needed */
    }
}

static const char *raft_msg_name(uint16_t type)
{
    switch (type) {
    case RAFT_VOTE_REQ: return "request_vote";
    case RAFT_VOTE_RESP: return "request_vote_resp";
    case RAFT_APPEND_REQ: return "append_entries";
    case RAFT_APPEND_OK: return "append_ok";
    case RAFT_APPEND_REJECT: return "append_reject";
    case RAFT_SNAP_REQ: return "install_snapshot";
    case RAFT_SNAP_RESP: return "install_snapshot_resp";
    case RAFT_CLIENT_REQ: return "client_request";
    case RAFT_CLIENT_RESP: return "client_response";
    case RAFT_CLIENT_BATCH: return "client_batch";
    case RAFT_CLIENT_ANSWERS: return "client_answers";
    default: return NULL;
    }
}

/* A vote's answer: f1 is 1 when the vote (or pre-vote) was granted. */
static const char *raft_msg_flag(uint16_t type)
{
    return type == RAFT_VOTE_RESP ? "granted" : NULL;
}

static bool raft_competes(const struct algo_env *env, int id)
{
    (void)env;
    (void)id;
    return false; /* a replicated log, not a mutex: no CS workload */
}

/* Per committed command, failure-free and idle otherwise: the leader sends
 * an AppendEntries to each of the N-1 followers and each answers, 2(N-1)
 * (commit indexes ride on the next append; batching under load makes it
 * fewer per command). A client adds its request and the answer. */
static double raft_theory(const struct algo_env *env) { return 2.0 * (env->n - 1); }

static void raft_inspect(const void *state, struct algo_inspect *out)
{
    const struct raft_state *s = state;
    memset(out, 0, sizeof *out);
    out->role = s->role;
    out->term = s->term;
    out->commit_index = s->commit;
    out->last_index = raft_log_last(&s->log);
    out->applied_index = s->applied;
    out->leader = s->leader;
}

/* The term and hash a node's log has at index, if it knows them: in its
 * log, or at its log's base (the last compacted entry). */
static bool term_hash(const struct raft_state *s, int64_t index, int64_t *t, uint64_t *h)
{
    if (!raft_log_hash(&s->log, index, h))
        return false;
    *t = raft_log_term(&s->log, index);
    return true;
}

/* Raft's safety properties (Figure 3), checked over the live nodes after
 * every step. For every pair of live nodes a, b (O(n^2) pairs, O(1) or
 * O(log) work each):
 *  - Election safety: a and b are not both leaders of the same term.
 *  - Log matching: at index i = min(last_a, last_b), and at each node's
 *    commit index (when both hold it), if both logs have an entry of the
 *    same term there, their cumulative hashes agree (so the logs agree on
 *    every entry up to i). A log's compacted base counts as held.
 *  - State machine safety: at i = min(applied_a, applied_b), when both
 *    still hold i (in the log or as its base), the hashes agree: the same
 *    entries, so the same commands, were applied up to i. Both have
 *    committed i, so they must agree whatever its term. And when both
 *    applied exactly as far, their state machines (the count of commands
 *    and the hash chain over them) are equal: this holds across snapshots,
 *    installed or restored, where the entries are gone.
 *  - Leader completeness: if a is a leader of term T and b has committed
 *    index c, learnt in a term <= T (commit_term: the term b was in when
 *    its commit index last advanced, which bounds the term the entry was
 *    committed in), a's log reaches c and holds the same entry there
 *    (equal hashes), or c is below a's compacted base (committed there
 *    too; at the base itself the base's hash is compared). An entry
 *    committed in a term after T (possible for an old entry that a later
 *    leader commits) says nothing about a stale leader of T. */
static bool raft_invariant(const void *const *cores, int n, char *why, size_t cap)
{
    for (int a = 1; a <= n; a++) {
        const struct raft_state *x = cores[a];
        if (!x)
            continue;
        if (x->commit > raft_log_last(&x->log) || x->applied > x->commit) {
            snprintf(why, cap, "raft: node %d: commit %lld / applied %lld beyond its log (%lld)",
                     a, (long long)x->commit, (long long)x->applied,
                     (long long)raft_log_last(&x->log));
            return false;
        }
        for (int b = 1; b <= n; b++) {
            const struct raft_state *y = cores[b];
            if (!y || b == a)
                continue;
            if (b > a && x->role == ROLE_LEADER && y->role == ROLE_LEADER && x->term == y->term) {
                snprintf(why, cap, "raft: election safety: nodes %d and %d both lead term %lld",
                         a, b, (long long)x->term);
                return false;
            }
            int64_t at[3] = {raft_log_last(&x->log) < raft_log_last(&y->log)
                                 ? raft_log_last(&x->log)
                                 : raft_log_last(&y->log),
                             x->commit, y->commit};
            for (int k = 0; b > a && k < 3; k++) {
                int64_t tx, ty;
                uint64_t hx, hy;
                if (at[k] > 0 && term_hash(x, at[k], &tx, &hx) && term_hash(y, at[k], &ty, &hy) &&
                    tx == ty && hx != hy) {
                    snprintf(why, cap,
                             "raft: log matching: nodes %d and %d have term %lld at index %lld "
                             "but different entries up to it",
                             a, b, (long long)tx, (long long)at[k]);
                    return false;
                }
            }
            int64_t ap = x->applied < y->applied ? x->applied : y->applied;
            int64_t tx, ty;
            uint64_t hx, hy;
            if (b > a && ap > 0 && term_hash(x, ap, &tx, &hx) && term_hash(y, ap, &ty, &hy) &&
                (tx != ty || hx != hy)) {
                snprintf(why, cap,
                         "raft: state machine safety: nodes %d and %d applied different entries "
                         "up to index %lld",
                         a, b, (long long)ap);
                return false;
            }
            if (b > a && x->applied == y->applied &&
                (x->sm.count != y->sm.count || x->sm.hash != y->sm.hash)) {
                snprintf(why, cap,
                         "raft: state machine safety: nodes %d and %d applied up to index %lld "
                         "but their state machines differ (%lld / %lld commands)",
                         a, b, (long long)x->applied, (long long)x->sm.count,
                         (long long)y->sm.count);
                return false;
            }
            if (x->role == ROLE_LEADER && y->commit > 0 && y->commit_term <= x->term &&
                term_hash(y, y->commit, &ty, &hy) && y->commit >= x->log.base) {
                if (!term_hash(x, y->commit, &tx, &hx) || tx != ty || hx != hy) {
                    snprintf(why, cap,
                             "raft: leader completeness: leader %d (term %lld) lacks entry %lld "
                             "(term %lld) that node %d committed",
                             a, (long long)x->term, (long long)y->commit, (long long)ty, b);
                    return false;
                }
            }
        }
    }
    return true;
}

const struct algo_ops algo_raft = {
    .name = "raft",
    .range = MSG_RANGE_RAFT,
    .key_field = "term",
    .state_size = sizeof(struct raft_state),
    .init = raft_init,
    .step = raft_step,
    .fini = raft_fini,
    .msg_name = raft_msg_name,
    .msg_flag = raft_msg_flag,
    .competes = raft_competes,
    .theory_messages_per_cs = raft_theory,
    .theory_note = "per committed command 2(N-1) messages (an AppendEntries and its answer per "
                   "follower) plus the client's request and answer; an election costs 2(N-1) "
                   "(RequestVote and answers) and the leader's no-op another 2(N-1)",
    .inspect = raft_inspect,
    .token_msg = NULL,
    .invariant = raft_invariant,
    .client = &algo_raft_client,
};
