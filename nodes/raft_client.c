/* Clients' commands at a server (thesis 6.3, "Implementing linearizable
 * semantics", in its simplest form).
 *
 * A leader appends a client's command as an entry carrying the client's
 * id, operation id and floor, replicates it, and answers (index and term)
 * once it has applied it. A follower or candidate answers with a redirect and the
 * leader it knows of (0: none). A command retried after a timeout, through
 * the same or another server, may be appended twice: the state machine
 * keeps each client's window of operations applied (raft_snapshot.c) and
 * applies a repeat as an empty command, and a repeat of an applied
 * operation is answered at once from that record. A command in the log and
 * not applied yet is not appended again at the same leader. The answer of
 * an applied command (kv.h) travels with its OK, and is kept in the
 * client's record, so a repeat is answered as the first time.
 *
 * A pipelining client (env.client_window > 1) sends its commands in
 * batches (CLIENT_BATCH): the leader appends all of them in one step, so
 * they are stored and replicated together, and the answers of one step
 * go to each client in one message (CLIENT_ANSWERS). A sequential client's
 * commands and answers are single messages (CLIENT_REQ, CLIENT_RESP).
 *
 * With env.raft_local_reads (off by default), a leader answers a get from
 * its own store at once, with index 0: no log, no check that it still
 * leads - the shortcut that makes an old leader cut off from the majority
 * serve stale values, there to show what the checker says of it. (For
 * sequential clients only: a batch's reads go through the log.)
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
static void reply_ok(struct raft_state *s, int client, const struct raft_slot *rec,
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

/* Client c's (index into sm.cl) answer to op is due in this step's
 * message to it. */
static void collect(struct raft_state *s, int c, int64_t op)
{
    struct raft_client_rec *cr = &s->sm.cl[c];
    for (int i = 0; i < cr->nrep; i++)
        if (cr->rep[i] == op)
            return;
    if (cr->nrep == s->window)
        return; /* cannot happen: one per slot; the client asks again */
    if (cr->nrep == 0)
        s->sm.touched[s->sm.ntouched++] = c;
    cr->rep[cr->nrep++] = op;
}

void raft_client_applied(struct raft_state *s, int client, int64_t op, struct algo_actions *out)
{
    (void)out;
    int c = client - s->n - 1;
    if (s->sm.cl[c].slot[op % s->window].op == op)
        collect(s, c, op);
}

/* One CLIENT_ANSWERS message of the answers encoded in scratch. */
static void send_answers(struct raft_state *s, int client, int count, uint32_t len,
                         struct algo_actions *out)
{
    struct algo_msg m = {.type = RAFT_CLIENT_ANSWERS, .from = (uint16_t)s->id,
                         .to = (uint16_t)client};
    m.f[0] = s->term;
    m.f[1] = count;
    m.f[2] = RAFT_ST_OK;
    m.payload = s->scratch;
    m.len = len;
    act_send_ex(out, &m, false); /* no room: the client asks again */
}

void raft_client_flush(struct raft_state *s, struct algo_actions *out)
{
    for (int t = 0; t < s->sm.ntouched; t++) {
        int c = s->sm.touched[t];
        struct raft_client_rec *cr = &s->sm.cl[c];
        int client = c + s->n + 1;
        uint32_t len = 0;
        int count = 0;
        for (int i = 0; i < cr->nrep; i++) {
            const struct raft_slot *rec = &cr->slot[cr->rep[i] % s->window];
            if (rec->op != cr->rep[i])
                continue; /* overwritten since (cannot happen within a step) */
            if (s->window == 1) {
                reply_ok(s, client, rec, out);
                continue;
            }
            if (len + RAFT_ANSWER_REC + rec->alen > ALGO_MAX_PAYLOAD) {
                send_answers(s, client, count, len, out);
                len = 0;
                count = 0;
            }
            uint8_t *p = s->scratch + len;
            raft_put(p, (uint64_t)rec->op, 8);
            raft_put(p + 8, (uint64_t)rec->index, 8);
            raft_put(p + 16, (uint64_t)rec->term, 8);
            raft_put(p + 24, rec->alen, 2);
            if (rec->alen)
                memcpy(p + RAFT_ANSWER_REC, rec->ans, rec->alen);
            len += RAFT_ANSWER_REC + rec->alen;
            count++;
        }
        if (count)
            send_answers(s, client, count, len, out);
        cr->nrep = 0;
    }
    s->sm.ntouched = 0;
}

/* The unsafe shortcut (env.raft_local_reads): a get answered from this
 * leader's own store, now - index 0 says no entry holds it. */
static bool local_read(struct raft_state *s, int client, int64_t op, const struct algo_msg *m,
                       struct algo_actions *out)
{
    struct kv_cmd kc;
    if (!kv_decode(m->payload, m->len, &kc) || kc.op != KV_GET)
        return false;
    uint32_t vlen = 0;
    const uint8_t *v = kv_get(&s->sm.kv, kc.key, kc.klen, &vlen);
    s->sm.ans[0] = v ? KV_OK : KV_NOT_FOUND;
    if (vlen)
        memcpy(s->sm.ans + 1, v, vlen);
    struct algo_msg r = {.type = RAFT_CLIENT_RESP, .from = (uint16_t)s->id, .to = (uint16_t)client};
    r.f[0] = s->term;
    r.f[1] = op;
    r.f[2] = RAFT_ST_OK;
    r.f[3] = 0;
    r.payload = s->sm.ans;
    r.len = 1 + vlen;
    act_send_ex(out, &r, false);
    return true;
}

enum { CMD_NOTHING = 0, CMD_APPENDED, CMD_BUSY };

/* One command (op, floor as the client sent it) at the leader: answered
 * from the session table, left to the entry already in the log, or
 * appended. */
static int one_command(struct raft_state *s, int client, int64_t op, int64_t floor,
                       const uint8_t *cmd, uint32_t len, struct algo_actions *out)
{
    if (len > RAFT_MAX_COMMAND) {
        reply(s, client, op, RAFT_ST_FAIL, 0, s->term, out);
        return CMD_NOTHING;
    }
    int c = client - s->n - 1;
    struct raft_client_rec *cr = &s->sm.cl[c];
    if (op < cr->floor)
        return CMD_NOTHING; /* answered, and the client knows it: a stale copy */
    struct raft_slot *rec = &cr->slot[op % s->window];
    if (op == rec->op) {
        collect(s, c, op); /* applied already: the answer was lost */
        return CMD_NOTHING;
    }
    if (rec->pend_op == op) {
        const struct raft_ent *e = raft_log_get(&s->log, rec->pend_index);
        if (e && e->len >= RAFT_CMD_HDR) {
            const uint8_t *d = raft_log_data(&s->log, e);
            if ((int)raft_get(d, 4) == client && (int64_t)raft_get(d + 4, 8) == op)
                return CMD_NOTHING; /* in the log: the answer comes after it is applied */
        }
    }
    if (raft_log_last(&s->log) - s->applied >= RAFT_MAX_PENDING)
        return CMD_BUSY;
    raft_put(s->scratch, (uint64_t)client, 4);
    raft_put(s->scratch + 4, (uint64_t)op, 8);
    raft_put(s->scratch + 12, (uint64_t)floor, 8);
    if (len)
        memcpy(s->scratch + RAFT_CMD_HDR, cmd, len);
    if (raft_log_append(&s->log, s->term, s->scratch, RAFT_CMD_HDR + len) < 0) {
        reply(s, client, op, RAFT_ST_FAIL, 0, s->term, out); /* out of memory */
        return CMD_NOTHING;
    }
    rec->pend_op = op;
    rec->pend_index = raft_log_last(&s->log);
    return CMD_APPENDED;
}

/* A batch's records, each checked (the operation within the window of
 * the batch's floor, the length within the payload): false when any is
 * not. */
static bool batch_ok(const struct raft_state *s, const struct algo_msg *m, int64_t now)
{
    const uint8_t *p = m->payload, *end = m->payload + m->len;
    int64_t count = 0;
    while (p < end) {
        if (end - p < (ptrdiff_t)RAFT_BATCH_REC)
            return false;
        int64_t op = (int64_t)raft_get(p, 8);
        uint32_t len = (uint32_t)raft_get(p + 8, 4);
        if (op < 1 || !algo_counter_ok(op, now) || !raft_floor_ok(s->window, op, m->f[2]) ||
            (uint64_t)(end - p - RAFT_BATCH_REC) < len)
            return false;
        p += RAFT_BATCH_REC + len;
        count++;
    }
    return count == m->f[1];
}

void raft_on_client_req(struct raft_state *s, const struct algo_msg *m, int64_t now,
                        struct algo_actions *out)
{
    int client = m->from;
    bool batch = m->type == RAFT_CLIENT_BATCH;
    if (batch && !batch_ok(s, m, now)) {
        act_malformed(out);
        return;
    }
    /* What a refusal of the whole message names: its first operation. */
    int64_t op = batch ? (int64_t)raft_get(m->payload, 8) : m->f[1];
    if (s->role != ROLE_LEADER) {
        reply(s, client, op, RAFT_ST_REDIRECT, s->leader, s->term, out);
        return;
    }
    if (!batch && s->local_reads && m->len <= RAFT_MAX_COMMAND && local_read(s, client, op, m, out))
        return;
    int64_t first = 0;
    int rc = CMD_NOTHING;
    if (!batch) {
        rc = one_command(s, client, op, m->f[2], m->payload, m->len, out);
        if (rc == CMD_APPENDED)
            first = raft_log_last(&s->log);
    } else {
        const uint8_t *p = m->payload, *end = m->payload + m->len;
        while (p < end) {
            op = (int64_t)raft_get(p, 8);
            uint32_t len = (uint32_t)raft_get(p + 8, 4);
            rc = one_command(s, client, op, m->f[2], p + RAFT_BATCH_REC, len, out);
            if (rc == CMD_BUSY)
                break;
            if (rc == CMD_APPENDED && !first)
                first = raft_log_last(&s->log);
            p += RAFT_BATCH_REC + len;
        }
    }
    if (rc == CMD_BUSY) /* the rest of the message is not appended: asked again later */
        reply(s, client, op, RAFT_ST_BUSY, 0, s->term, out);
    if (first) {
        /* One round of appends and one storage action for all of them:
         * the appends first, so that the followers write while the leader
         * does (the thesis' 10.2.1); the leader counts itself towards a
         * majority only once its own write is durable. */
        raft_replicate_new(s, out);
        raft_store_entries(s, first, raft_may_defer_sync(s, now), out);
        raft_maybe_commit(s, out);
    }
    raft_client_flush(s, out);
}
