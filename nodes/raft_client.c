/* Clients' commands at a server (thesis 6.3, "Implementing linearizable
 * semantics", in its simplest form).
 *
 * A leader appends a client's command as an entry carrying the client's
 * id and operation id, replicates it, and answers (index and term) once it
 * has applied it. A follower or candidate answers with a redirect and the
 * leader it knows of (0: none). A command retried after a timeout, through
 * the same or another server, may be appended twice: the state machine
 * keeps each client's last operation applied and applies a repeat as an
 * empty command, and a repeat of an applied operation is answered at once
 * from that record. A command in the log and not applied yet is not
 * appended again at the same leader. The answer of an applied command
 * (kv.h) travels with its OK, and is kept in the client's record, so a
 * repeat is answered as the first time.
 *
 * With env.raft_local_reads (off by default), a leader answers a get from
 * its own store at once, with index 0: no log, no check that it still
 * leads - the shortcut that makes an old leader cut off from the majority
 * serve stale values, there to show what the checker says of it.
 *
 * Backpressure: a leader with RAFT_MAX_PENDING entries not applied answers
 * RAFT_ST_BUSY instead of appending, and the client backs off: offered
 * load beyond what the cluster can commit grows neither the log in memory
 * nor the time to commit what is already in it. */
#include "nodes/raft_int.h"

#include <string.h>

static void reply(struct raft_state *s, int client, int64_t op, int status, int64_t index,
                  int64_t term, struct algo_actions *out)
{
    act_send(out, s->id, client, RAFT_CLIENT_RESP, term, op, status, index);
}

/* An applied operation's answer, from its client's record. */
static void reply_ok(struct raft_state *s, int client, const struct raft_client_rec *rec,
                     struct algo_actions *out)
{
    struct algo_msg m = {.type = RAFT_CLIENT_RESP, .from = (uint16_t)s->id, .to = (uint16_t)client};
    m.f[0] = rec->term;
    m.f[1] = rec->op;
    m.f[2] = RAFT_ST_OK;
    m.f[3] = rec->index;
    m.payload = rec->ans;
    m.len = rec->alen;
    act_send_ex(out, &m, false);
}

void raft_client_applied(struct raft_state *s, int client, int64_t op, struct algo_actions *out)
{
    const struct raft_client_rec *rec = &s->sm.cl[client - s->n - 1];
    if (rec->op == op)
        reply_ok(s, client, rec, out);
}

void raft_on_client_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                        struct algo_actions *out)
{
    (void)now;
    int client = m->from;
    int64_t op = m->f[1];
    if (s->role != ROLE_LEADER) {
        reply(s, client, op, RAFT_ST_REDIRECT, s->leader, s->term, out);
        return;
    }
    if (m->len > RAFT_MAX_COMMAND) {
        reply(s, client, op, RAFT_ST_FAIL, 0, s->term, out);
        return;
    }
    struct kv_cmd kc;
    if (s->local_reads && kv_decode(m->payload, m->len, &kc) && kc.op == KV_GET) {
        /* The unsafe shortcut (env.raft_local_reads): answered from this
         * leader's own store, now - index 0 says no entry holds it. */
        uint32_t vlen = 0;
        const uint8_t *v = kv_get(&s->sm.kv, kc.key, kc.klen, &vlen);
        s->sm.ans[0] = v ? KV_OK : KV_NOT_FOUND;
        if (vlen)
            memcpy(s->sm.ans + 1, v, vlen);
        struct algo_msg r = {.type = RAFT_CLIENT_RESP, .from = (uint16_t)s->id,
                             .to = (uint16_t)client};
        r.f[0] = s->term;
        r.f[1] = op;
        r.f[2] = RAFT_ST_OK;
        r.f[3] = 0;
        r.payload = s->sm.ans;
        r.len = 1 + vlen;
        act_send_ex(out, &r, false);
        return;
    }
    struct raft_client_rec *rec = &s->sm.cl[client - s->n - 1];
    if (op <= rec->op) {
        if (op == rec->op) /* applied already: the answer was lost */
            reply_ok(s, client, rec, out);
        return;
    }
    if (rec->pend_op == op) {
        const struct raft_ent *e = raft_log_get(&s->log, rec->pend_index);
        if (e && e->len >= RAFT_CMD_HDR) {
            const uint8_t *d = raft_log_data(&s->log, e);
            if ((int)raft_get(d, 4) == client && (int64_t)raft_get(d + 4, 8) == op)
                return; /* in the log: the answer comes after it is applied */
        }
    }
    if (raft_log_last(&s->log) - s->applied >= RAFT_MAX_PENDING) {
        reply(s, client, op, RAFT_ST_BUSY, 0, s->term, out);
        return;
    }
    raft_put(s->scratch, (uint64_t)client, 4);
    raft_put(s->scratch + 4, (uint64_t)op, 8);
    if (m->len)
        memcpy(s->scratch + RAFT_CMD_HDR, m->payload, m->len);
    if (raft_log_append(&s->log, s->term, s->scratch, RAFT_CMD_HDR + m->len) < 0) {
        reply(s, client, op, RAFT_ST_FAIL, 0, s->term, out); /* out of memory */
        return;
    }
    int64_t idx = raft_log_last(&s->log);
    raft_store_entries(s, idx, out);
    rec->pend_op = op;
    rec->pend_index = idx;
    raft_broadcast_append(s, false, out);
    raft_maybe_commit(s, out);
}
