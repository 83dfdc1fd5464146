/* Raft's roles and elections: follower, (pre-)candidate, leader; the
 * RequestVote rules of Figure 2, pre-vote and check-quorum (thesis 9.6),
 * and the election and heartbeat timers.
 *
 * The election timer is lazy: hearing from the leader moves a deadline
 * (elect_deadline) instead of re-arming the timer at every message; when
 * the timer fires early it is re-armed for what is left. A deadline that
 * moves earlier than the armed timer re-arms it, so every timeout is drawn
 * uniformly from [el_min, el_max] as the paper says. */
#include "nodes/raft_int.h"

#include <string.h>

static void arm_election(struct raft_state *s, int64_t now, struct algo_actions *out)
{
    act_set_timer(out, RAFT_T_ELECTION, s->elect_deadline > now ? s->elect_deadline - now : 0);
    s->elect_timer_at = s->elect_deadline;
}

void raft_reset_deadline(struct raft_state *s, int64_t now)
{
    uint64_t span = (uint64_t)(s->el_max - s->el_min) + 1;
    s->elect_deadline = now + s->el_min + (int64_t)dl_rng_below(&s->rng, span);
}

static void reset_election(struct raft_state *s, int64_t now, struct algo_actions *out)
{
    raft_reset_deadline(s, now);
    if (s->role != ROLE_LEADER && (s->elect_timer_at == 0 || s->elect_deadline < s->elect_timer_at))
        arm_election(s, now, out);
}

void raft_heard_leader(struct raft_state *s, int from, int64_t now, struct algo_actions *out)
{
    s->leader = from;
    s->heard_us = now;
    reset_election(s, now, out);
}

void raft_become_follower(struct raft_state *s, int64_t term, int leader, int64_t now,
                          struct algo_actions *out)
{
    bool changed = s->role != ROLE_FOLLOWER || term != s->term;
    if (term > s->term) {
        /* "If RPC request or response contains term T > currentTerm: set
         * currentTerm = T, convert to follower" (Figure 2); the new term
         * is stored before anything is sent in it. */
        s->term = term;
        s->vote = 0;
        raft_store_term_vote(s, out);
        s->leader = 0;
    }
    if (s->role == ROLE_LEADER) {
        act_cancel_timer(out, RAFT_T_HEARTBEAT);
        s->elect_timer_at = 0;
    }
    s->role = ROLE_FOLLOWER;
    s->precampaign = false;
    if (leader)
        s->leader = leader;
    if (changed) {
        act_role(out, ROLE_FOLLOWER, s->term);
        /* Figure 2 resets the election timer only on hearing from the
         * leader or granting a vote, not on learning a higher term: a
         * server cut off with a stale log, back with an inflated term,
         * must not hold back the timers of servers that could win. A
         * server without an armed timer (a leader stepping down) gets a
         * fresh timeout. */
        if (s->elect_timer_at == 0) {
            raft_reset_deadline(s, now);
            arm_election(s, now, out);
        }
    }
}

static bool up_to_date(const struct raft_state *s, int64_t last_index, int64_t last_term)
{
    /* "Raft determines which of two logs is more up-to-date by comparing
     * the index and term of the last entries in the logs. If the logs have
     * last entries with different terms, then the log with the later term
     * is more up-to-date. If the logs end with the same term, then
     * whichever log is longer is more up-to-date." (5.4.1) */
    int64_t my_index = raft_log_last(&s->log), my_term = raft_log_term(&s->log, my_index);
    return last_term > my_term || (last_term == my_term && last_index >= my_index);
}

static int granted_count(const struct raft_state *s)
{
    int c = 0;
    for (int p = 1; p <= s->n; p++)
        c += s->peer[p].granted;
    return c;
}

static void send_vote(struct raft_state *s, int to, int64_t term, bool pre, bool sync,
                      struct algo_actions *out)
{
    int64_t li = raft_log_last(&s->log);
    struct algo_msg m = {.type = RAFT_VOTE_REQ, .from = (uint16_t)s->id, .to = (uint16_t)to};
    m.f[0] = term;
    m.f[1] = li;
    m.f[2] = raft_log_term(&s->log, li);
    m.f[3] = pre;
    act_send_ex(out, &m, sync);
}

static void become_leader(struct raft_state *s, int64_t now, struct algo_actions *out)
{
    s->role = ROLE_LEADER;
    s->leader = s->id;
    s->heard_us = now;
    s->precampaign = false;
    act_role(out, ROLE_LEADER, s->term);
    act_cancel_timer(out, RAFT_T_ELECTION);
    s->elect_timer_at = 0;
    int64_t last = raft_log_last(&s->log);
    for (int p = 1; p <= s->n; p++) {
        struct raft_peer *pr = &s->peer[p];
        raft_peer_probe(pr, last + 1);
        pr->match = 0;
        pr->last_ack_us = now;
    }
    /* A no-op of the new term: entries of earlier terms commit with it
     * (5.4.2), and a new leader learns what is committed (thesis 6.4). */
    if (raft_log_append(&s->log, s->term, NULL, 0) == 0)
        raft_store_entries(s, last + 1, false, out);
    raft_broadcast_append(s, false, out);
    act_set_timer(out, RAFT_T_HEARTBEAT, s->hb);
    raft_maybe_commit(s, out); /* a single server */
}

/* Start a campaign: a pre-vote round (which changes nothing durable and
 * asks whether a real election could be won) or the real one. */
static void campaign(struct raft_state *s, bool pre, int64_t now, struct algo_actions *out)
{
    for (int p = 1; p <= s->n; p++)
        s->peer[p].granted = p == s->id;
    if (pre) {
        s->precampaign = true;
    } else {
        /* "Increment currentTerm, vote for self" - stored before the
         * requests leave (they are sent after the sync): a crash cannot
         * make this server vote twice in the term. */
        s->precampaign = false;
        s->term++;
        s->vote = s->id;
        s->leader = 0;
        s->role = ROLE_CANDIDATE;
        raft_store_term_vote(s, out);
        act_role(out, ROLE_CANDIDATE, s->term);
    }
    reset_election(s, now, out);
    if (granted_count(s) >= raft_majority(s)) {
        if (pre)
            campaign(s, false, now, out);
        else
            become_leader(s, now, out);
        return;
    }
    for (int p = 1; p <= s->n; p++)
        if (p != s->id)
            send_vote(s, p, s->term + pre, pre, !pre, out);
}

void raft_election_start(struct raft_state *s, int64_t now, struct algo_actions *out)
{
    campaign(s, s->prevote, now, out);
}

void raft_on_election_timer(struct raft_state *s, int64_t now, struct algo_actions *out)
{
    s->elect_timer_at = 0;
    if (s->role == ROLE_LEADER)
        return;
    if (now < s->elect_deadline) {
        arm_election(s, now, out);
        return;
    }
    /* "If election timeout elapses without receiving AppendEntries RPC
     * from current leader or granting vote to candidate: convert to
     * candidate" - or, with pre-vote, ask first. */
    s->leader = 0;
    raft_election_start(s, now, out);
}

void raft_on_heartbeat_timer(struct raft_state *s, int64_t now, struct algo_actions *out)
{
    if (s->role != ROLE_LEADER)
        return;
    if (s->check_quorum) {
        /* A leader that has not heard from a majority within an election
         * timeout (the longest, to spare a slow but live majority) steps
         * down, so that a leader cut off from the cluster stops taking
         * commands it can never commit and a new leader can be elected
         * by followers that honour leases (thesis 6.2, 9.6). */
        int heard = 1;
        for (int p = 1; p <= s->n; p++)
            if (p != s->id && now - s->peer[p].last_ack_us < s->el_max)
                heard++;
        if (heard < raft_majority(s)) {
            raft_become_follower(s, s->term, 0, now, out);
            s->leader = 0;
            return;
        }
    }
    raft_broadcast_append(s, true, out);
    act_set_timer(out, RAFT_T_HEARTBEAT, s->hb);
}

/* Thesis 9.6: with pre-vote or check-quorum, a server that heard from a
 * current leader less than the minimum election timeout ago neither grants
 * a vote nor takes the candidate's term: a server cut off and back, whose
 * term ran ahead, cannot depose a working leader. A leader with
 * check-quorum is its own lease (it steps down when it loses it). */
static bool in_lease(const struct raft_state *s, int64_t now)
{
    if (!s->prevote && !s->check_quorum)
        return false;
    if (s->role == ROLE_LEADER)
        return s->check_quorum;
    return s->role == ROLE_FOLLOWER && s->leader != 0 && now - s->heard_us < s->el_min;
}

void raft_on_vote_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                      struct algo_actions *out)
{
    bool pre = m->f[3] == 1;
    int64_t term = m->f[0];
    struct algo_msg r = {.type = RAFT_VOTE_RESP, .from = (uint16_t)s->id, .to = m->from};
    r.f[2] = pre;
    if (term > s->term && in_lease(s, now)) {
        r.f[0] = s->term;
        act_send_ex(out, &r, false);
        return;
    }
    if (pre) {
        /* Granted if a real election in that term could be won here:
         * the term is ahead of ours and the log is up to date. Nothing
         * changes (no term taken, no vote recorded). */
        bool ok = term > s->term && up_to_date(s, m->f[1], m->f[2]);
        r.f[0] = ok ? term : s->term;
        r.f[1] = ok;
        act_send_ex(out, &r, false);
        return;
    }
    if (term > s->term)
        raft_become_follower(s, term, 0, now, out);
    bool ok = term == s->term && s->role == ROLE_FOLLOWER &&
              (s->vote == 0 || s->vote == m->from) && up_to_date(s, m->f[1], m->f[2]);
    r.f[0] = s->term;
    r.f[1] = ok;
    if (ok) {
        /* Stored before the answer leaves (after_sync). */
        if (s->vote != m->from) {
            s->vote = m->from;
            raft_store_term_vote(s, out);
        }
        reset_election(s, now, out);
    }
    act_send_ex(out, &r, ok);
}

void raft_on_vote_resp(struct raft_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out)
{
    bool pre = m->f[2] == 1;
    if (m->f[0] > s->term && !(pre && m->f[1])) {
        raft_become_follower(s, m->f[0], 0, now, out);
        return;
    }
    if (pre) {
        if (!s->precampaign || s->role == ROLE_LEADER || !m->f[1] || m->f[0] != s->term + 1)
            return;
        s->peer[m->from].granted = true;
        if (granted_count(s) >= raft_majority(s))
            campaign(s, false, now, out);
        return;
    }
    if (s->role != ROLE_CANDIDATE || m->f[0] != s->term || !m->f[1])
        return;
    s->peer[m->from].granted = true;
    if (granted_count(s) >= raft_majority(s))
        become_leader(s, now, out);
}
