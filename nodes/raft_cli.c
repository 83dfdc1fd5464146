/* Raft's client core: the process that submits commands (ids n+1 ..
 * n+clients), run as ops->client of algo_raft.
 *
 * One operation at a time. On EV_COMMAND it reports ALGO_OP_INVOKE and
 * sends the command (CLIENT_REQ, f1 the operation id) to the server it
 * believes leads. A redirect with a hint goes to the hint at once (at most
 * n times in a row, so that stale hints pointing at each other cannot make
 * it spin); one without a hint tries the next server after a heartbeat
 * interval (an election is probably under way). No answer within a
 * quarter of the client timeout (at most a second), or the server believed
 * down (EV_PEER_DOWN):
 * the next server. No answer at all within
 * env.client_timeout_us (default RAFT_DEF_CLIENT_TIMEOUT_US): the outcome
 * is ALGO_OP_TIMEOUT, as the command may or may not have been applied. An
 * OK answer (index, term, the answering server, and the state machine's
 * answer as the payload) is ALGO_OP_OK, a refusal ALGO_OP_FAIL. A leader
 * that is full answers BUSY: the same server again after a pause, which
 * starts at a heartbeat interval and doubles, with jitter, up to the
 * attempt interval (a redirect that names no leader waits one heartbeat
 * interval: an election is under way, and will be over soon). A retried
 * command is applied once (raft_client.c).
 *
 * With env.client_window K > 1 (a pipelining client, [workload] pipeline)
 * up to K operations are in flight at once: operation ids are submitted
 * in increasing order, and one is refused (ALGO_OP_FAIL) when K are in
 * flight or it lies at or beyond floor + K, the floor being the lowest
 * operation not answered yet. Commands submitted together (EV_COMMAND with
 * f[1], "more follow") leave in one CLIENT_BATCH, which carries the floor:
 * the servers then drop the answers below it (raft_snapshot.c). Answers
 * come batched too (CLIENT_ANSWERS). Each operation has its own deadline
 * (the deadline timer is armed for the oldest); the attempt timer is the
 * window's: when it fires, or on a redirect or after a BUSY pause, every
 * operation not answered yet goes (again) in one batch, to the next server
 * or the hint. It is re-armed when an answer shows progress, never by a
 * new submission, so a silent leader is left however busy the client. A
 * window of 1 is the sequential client above, message for message.
 *
 * On the wire an operation is (incarnation << 32) | op: the servers apply a
 * client's operation only if it is newer than the last one applied, and a
 * client process that restarts numbers its operations from 1 again, which
 * must not look old. (op < 2^32, incarnations < 2^20: within the counter
 * limit.) ACT_CLIENT reports the op as EV_COMMAND gave it. */
#include "nodes/raft_int.h"

#include <string.h>

enum {
    CLI_T_ATTEMPT = 0, /* try (again), maybe another server */
    CLI_T_DEADLINE = 1, /* give up on the oldest operation */
};

/* The longest wait for one server's answer before asking another. */
#define CLI_ATTEMPT_MAX_US (1000 * 1000)

/* One operation in flight, in the slot op % window. */
struct cli_op {
    int64_t op; /* 0: the slot is free */
    int64_t deadline;
    bool sent; /* sent since it was submitted (retries resend every live op) */
    uint8_t *cmd;
    uint32_t len, cap;
};

struct cli_state {
    int id, n, window;
    const struct algo_mem *mem;
    struct dl_rng rng;
    int64_t timeout_us, attempt_us, backoff_us;
    int leader; /* the server we believe leads */
    int live;   /* operations in flight */
    bool attempt_armed;
    int64_t deadline_for; /* the operation the deadline timer is armed for (0: none) */
    int64_t op_base; /* this incarnation << 32: see the header */
    struct cli_op *w; /* window of them */
    uint8_t *buf;     /* ALGO_MAX_PAYLOAD: a batch being encoded */
    int redirects; /* hinted redirects followed in a row */
    bool backoff;  /* the attempt timer is a pause before the next server */
    int64_t pause_us; /* the next pause (doubles per pause, up to attempt_us) */
    bool down[ALGO_MAX_NODES + 1]; /* servers believed down (EV_PEER_DOWN/UP) */
};

/* The server after the current one, skipping those believed down (all
 * of them down: simply the next). */
static int next_server(const struct cli_state *s)
{
    int k = s->leader;
    for (int i = 0; i < s->n; i++) {
        k = k % s->n + 1;
        if (!s->down[k])
            return k;
    }
    return s->leader % s->n + 1;
}

/* The next pause before asking again: exponential, with jitter (half of
 * it drawn), so that clients turned away together do not come back
 * together. */
static int64_t next_pause(struct cli_state *s)
{
    int64_t d = s->pause_us;
    s->pause_us = d * 2 < s->attempt_us ? d * 2 : s->attempt_us;
    return d / 2 + (int64_t)dl_rng_below(&s->rng, (uint64_t)(d / 2 + 1));
}

static void cli_fini(void *state)
{
    struct cli_state *s = state;
    if (s->w) {
        for (int k = 0; k < s->window; k++)
            if (s->w[k].cmd)
                algo_realloc(s->mem, s->w[k].cmd, 0);
        algo_realloc(s->mem, s->w, 0);
    }
    if (s->buf)
        algo_realloc(s->mem, s->buf, 0);
    s->w = NULL;
    s->buf = NULL;
}

static int cli_init(void *state, const struct algo_env *env)
{
    struct cli_state *s = state;
    memset(s, 0, sizeof *s);
    if (env->n < 1 || env->n > ALGO_MAX_NODES || env->id <= env->n ||
        env->id > env->n + env->clients || env->id > UINT16_MAX || !env->mem ||
        env->client_timeout_us < 0 || env->raft_heartbeat_us < 0 || env->client_window < 0 ||
        env->client_window > RAFT_WINDOW_MAX)
        return -1;
    s->id = env->id;
    s->n = env->n;
    s->mem = env->mem;
    s->window = env->client_window ? env->client_window : 1;
    dl_rng_seed(&s->rng, env->seed ^ (0x7f4a7c159e3779b9u * (uint64_t)env->id));
    s->timeout_us = env->client_timeout_us ? env->client_timeout_us : RAFT_DEF_CLIENT_TIMEOUT_US;
    s->attempt_us = s->timeout_us / 4 > 0 ? s->timeout_us / 4 : 1;
    /* However long the client may wait in all, a server that does not
     * answer (a deposed leader cut off from the others still believes it
     * leads, and is not believed down) is left within CLI_ATTEMPT_MAX_US:
     * with an hour's timeout, a quarter of it would be 15 minutes. */
    if (s->attempt_us > CLI_ATTEMPT_MAX_US)
        s->attempt_us = CLI_ATTEMPT_MAX_US;
    s->backoff_us = env->raft_heartbeat_us ? env->raft_heartbeat_us : RAFT_DEF_HEARTBEAT_US;
    if (s->backoff_us > s->attempt_us)
        s->backoff_us = s->attempt_us;
    s->leader = 1 + (int)dl_rng_below(&s->rng, (uint64_t)s->n);
    if (env->coordinator >= 1 && env->coordinator <= env->n)
        s->leader = env->coordinator; /* told who leads (a shell's command) */
    s->op_base = (int64_t)(env->incarnation > 0 ? env->incarnation : 1) << 32;
    s->w = algo_realloc(s->mem, NULL, (size_t)s->window * sizeof *s->w);
    if (!s->w)
        return -1;
    memset(s->w, 0, (size_t)s->window * sizeof *s->w);
    if (s->window > 1) {
        s->buf = algo_realloc(s->mem, NULL, ALGO_MAX_PAYLOAD);
        if (!s->buf) {
            cli_fini(s);
            return -1;
        }
    }
    return 0;
}

/* The lowest operation in flight (0: none). */
static int64_t lowest(const struct cli_state *s)
{
    int64_t lo = 0;
    for (int k = 0; k < s->window; k++)
        if (s->w[k].op && (!lo || s->w[k].op < lo))
            lo = s->w[k].op;
    return lo;
}

static struct cli_op *find(struct cli_state *s, int64_t op)
{
    struct cli_op *o = &s->w[op % s->window];
    return o->op == op ? o : NULL;
}

/* Send the operations in flight (all of them, or those not sent yet) to
 * the server we believe leads: a sequential client's one as CLIENT_REQ,
 * a pipelining client's as CLIENT_BATCH, in order of operation, as many
 * per message as fit. */
static void send_ops(struct cli_state *s, bool all, struct algo_actions *out)
{
    int64_t lo = lowest(s);
    if (!lo)
        return;
    if (s->window == 1) {
        struct cli_op *o = &s->w[0];
        struct algo_msg m = {.type = RAFT_CLIENT_REQ, .from = (uint16_t)s->id,
                             .to = (uint16_t)s->leader};
        m.f[1] = s->op_base | o->op;
        m.len = o->len;
        m.payload = o->cmd;
        act_send_ex(out, &m, false);
        o->sent = true;
        return;
    }
    struct algo_msg m = {.type = RAFT_CLIENT_BATCH, .from = (uint16_t)s->id,
                         .to = (uint16_t)s->leader};
    m.f[2] = s->op_base | lo;
    m.payload = s->buf;
    uint32_t len = 0;
    int count = 0;
    for (int64_t op = lo; op < lo + s->window; op++) {
        struct cli_op *o = find(s, op);
        if (!o || (o->sent && !all))
            continue;
        if (len + RAFT_BATCH_REC + o->len > ALGO_MAX_PAYLOAD) {
            m.f[1] = count;
            m.len = len;
            act_send_ex(out, &m, false);
            len = 0;
            count = 0;
        }
        raft_put(s->buf + len, (uint64_t)(s->op_base | op), 8);
        raft_put(s->buf + len + 8, o->len, 4);
        if (o->len)
            memcpy(s->buf + len + RAFT_BATCH_REC, o->cmd, o->len);
        len += RAFT_BATCH_REC + o->len;
        count++;
        o->sent = true;
    }
    if (count) {
        m.f[1] = count;
        m.len = len;
        act_send_ex(out, &m, false);
    }
}

/* Send everything in flight again (to a new server, after a pause) and
 * wait an attempt for an answer. */
static void resend(struct cli_state *s, struct algo_actions *out)
{
    send_ops(s, true, out);
    act_set_timer(out, CLI_T_ATTEMPT, s->attempt_us);
    s->attempt_armed = true;
}

/* The deadline timer follows the oldest operation in flight. */
static void arm_deadline(struct cli_state *s, int64_t now, struct algo_actions *out)
{
    int64_t lo = lowest(s);
    if (lo == s->deadline_for)
        return;
    s->deadline_for = lo;
    if (!lo) {
        act_cancel_timer(out, CLI_T_DEADLINE);
        return;
    }
    int64_t d = find(s, lo)->deadline - now;
    act_set_timer(out, CLI_T_DEADLINE, d > 0 ? d : 0);
}

/* Operation o is over (answered, refused, timed out). */
static void done(struct cli_state *s, struct cli_op *o, int64_t now, struct algo_actions *out)
{
    o->op = 0;
    o->sent = false;
    s->live--;
    if (s->live == 0) {
        act_cancel_timer(out, CLI_T_ATTEMPT);
        s->attempt_armed = false;
        s->backoff = false;
    }
    arm_deadline(s, now, out);
}

static void on_command(struct cli_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out)
{
    int64_t op = m->f[0];
    bool more = m->f[1] != 0 && s->window > 1;
    act_client(out, ALGO_OP_INVOKE, op, 0, 0, 0, m->payload, m->len);
    int64_t lo = lowest(s);
    if (s->live == s->window || op < 1 || op > UINT32_MAX || m->len > RAFT_MAX_COMMAND ||
        (lo && (op <= lo || op - lo >= s->window || find(s, op)))) {
        /* The window is full, or the operation is not after the ones in
         * flight within it; a command no entry can hold. */
        act_client(out, ALGO_OP_FAIL, op, 0, 0, 0, NULL, 0);
        goto flush;
    }
    struct cli_op *o = &s->w[op % s->window];
    if (m->len > o->cap) {
        uint8_t *p = algo_realloc(s->mem, o->cmd, m->len);
        if (!p) {
            act_client(out, ALGO_OP_FAIL, op, 0, 0, 0, NULL, 0);
            goto flush;
        }
        o->cmd = p;
        o->cap = m->len;
    }
    if (m->len)
        memcpy(o->cmd, m->payload, m->len);
    o->len = m->len;
    o->op = op;
    o->sent = false;
    o->deadline = now + s->timeout_us;
    if (s->live++ == 0) {
        s->redirects = 0;
        s->backoff = false;
        s->pause_us = s->backoff_us;
    }
    arm_deadline(s, now, out);
flush:
    if (more || s->live == 0)
        return; /* sent with the next one */
    if (s->backoff)
        return; /* a pause is under way: it ends by sending all of them */
    send_ops(s, false, out);
    if (!s->attempt_armed) {
        act_set_timer(out, CLI_T_ATTEMPT, s->attempt_us);
        s->attempt_armed = true;
    }
}

/* An answer came for operation op (wire form) from a server: OK with the
 * entry's index, term and the state machine's answer. */
static void answered(struct cli_state *s, int from, int64_t wop, int64_t index, int64_t term,
                     const uint8_t *ans, uint32_t alen, int64_t now, struct algo_actions *out)
{
    if ((wop & ~(int64_t)UINT32_MAX) != s->op_base)
        return; /* another incarnation's */
    struct cli_op *o = find(s, wop & UINT32_MAX);
    if (!o || !(wop & UINT32_MAX))
        return; /* an answer to an earlier attempt */
    s->leader = from;
    act_client(out, ALGO_OP_OK, o->op, from, index, term, ans, alen);
    done(s, o, now, out);
    if (s->live && !s->backoff) {
        /* Progress: the server answers; give the rest a full attempt. */
        s->redirects = 0;
        act_set_timer(out, CLI_T_ATTEMPT, s->attempt_us);
        s->attempt_armed = true;
    }
}

static void on_answers(struct cli_state *s, const struct algo_msg *m, int64_t now,
                       struct algo_actions *out)
{
    /* Every record checked before any is acted on. */
    const uint8_t *p = m->payload, *end = m->payload + m->len;
    int64_t count = 0;
    while (m->len && p < end) {
        if (end - p < (ptrdiff_t)RAFT_ANSWER_REC)
            goto bad;
        int64_t op = (int64_t)raft_get(p, 8), index = (int64_t)raft_get(p + 8, 8),
                term = (int64_t)raft_get(p + 16, 8);
        uint32_t alen = (uint32_t)raft_get(p + 24, 2);
        if (op < 1 || !algo_counter_ok(op, now) || index < 1 || !algo_counter_ok(index, now) ||
            term < 1 || !algo_counter_ok(term, now) || alen < 1 || alen > KV_MAX_ANSWER ||
            (uint64_t)(end - p - RAFT_ANSWER_REC) < alen)
            goto bad;
        p += RAFT_ANSWER_REC + alen;
        count++;
    }
    if (count != m->f[1] || count < 1)
        goto bad;
    for (p = m->payload; p < end;) {
        uint32_t alen = (uint32_t)raft_get(p + 24, 2);
        answered(s, m->from, (int64_t)raft_get(p, 8), (int64_t)raft_get(p + 8, 8),
                 (int64_t)raft_get(p + 16, 8), p + RAFT_ANSWER_REC, alen, now, out);
        p += RAFT_ANSWER_REC + alen;
    }
    return;
bad:
    act_malformed(out);
}

static void on_resp(struct cli_state *s, const struct algo_msg *m, int64_t now,
                    struct algo_actions *out)
{
    if (m->type == RAFT_CLIENT_ANSWERS && m->from >= 1 && m->from <= s->n &&
        m->f[0] >= 1 && algo_counter_ok(m->f[0], now) && m->f[1] >= 1 &&
        m->f[1] <= RAFT_WINDOW_MAX && m->f[2] == RAFT_ST_OK && m->f[3] == 0) {
        on_answers(s, m, now, out);
        return;
    }
    if (m->type != RAFT_CLIENT_RESP || m->from < 1 || m->from > s->n ||
        !algo_counter_ok(m->f[0], now) || m->f[1] < 1 || !algo_counter_ok(m->f[1], now) ||
        m->f[2] < RAFT_ST_OK || m->f[2] > RAFT_ST_BUSY || !algo_counter_ok(m->f[3], now) ||
        (m->f[2] == RAFT_ST_REDIRECT && m->f[3] > s->n) ||
        (m->f[2] == RAFT_ST_OK && (m->f[3] < 0 || (m->f[3] == 0 && m->len == 0) || m->f[0] < 1)) ||
        (m->len != 0 && m->f[2] != RAFT_ST_OK) || m->len > KV_MAX_ANSWER) {
        act_malformed(out);
        return;
    }
    if ((m->f[1] & ~(int64_t)UINT32_MAX) != s->op_base || !find(s, m->f[1] & UINT32_MAX) ||
        !(m->f[1] & UINT32_MAX))
        return; /* an answer to an earlier attempt */
    if (m->f[2] == RAFT_ST_OK) {
        answered(s, m->from, m->f[1], m->f[3], m->f[0], m->payload, m->len, now, out);
    } else if (m->f[2] == RAFT_ST_FAIL) {
        struct cli_op *o = find(s, m->f[1] & UINT32_MAX);
        act_client(out, ALGO_OP_FAIL, o->op, m->from, 0, m->f[0], NULL, 0);
        done(s, o, now, out);
    } else if (m->f[2] == RAFT_ST_BUSY) {
        /* The leader holds all it can: the same server, after a pause. */
        if (s->window > 1 && s->backoff)
            return; /* already pausing (another part of a batch) */
        s->leader = m->from;
        s->redirects = 0;
        s->backoff = true;
        act_set_timer(out, CLI_T_ATTEMPT, next_pause(s));
        s->attempt_armed = true;
    } else if (m->f[3] != 0 && m->f[3] != m->from && s->redirects < s->n && !s->down[m->f[3]]) {
        if (m->from != s->leader && s->window > 1)
            return; /* from a server asked before: what we sent since is on its way */
        s->redirects++;
        s->leader = (int)m->f[3];
        s->backoff = false;
        resend(s, out);
    } else {
        /* Nobody known to lead: ask the next server a little later. */
        if (s->window > 1 && (s->backoff || m->from != s->leader))
            return;
        s->leader = next_server(s);
        s->redirects = 0;
        s->backoff = true;
        act_set_timer(out, CLI_T_ATTEMPT, s->backoff_us);
        s->attempt_armed = true;
    }
}

static void cli_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct cli_state *s = state;
    int64_t now = ev->now_us;
    switch (ev->kind) {
    case EV_START:
        act_role(out, ROLE_CLIENT, 0);
        break;
    case EV_COMMAND:
        on_command(s, &ev->msg, now, out);
        break;
    case EV_MESSAGE:
        on_resp(s, &ev->msg, now, out);
        break;
    case EV_TIMER:
        if (!s->live)
            break;
        if (ev->timer_id == CLI_T_DEADLINE) {
            /* The oldest operation's deadline (and any other one's that
             * has passed): may or may not have been applied. */
            s->deadline_for = 0;
            int64_t lo = lowest(s);
            for (int k = 0; k < s->window; k++) {
                struct cli_op *o = &s->w[k];
                if (o->op && (o->op == lo || o->deadline <= now)) {
                    act_client(out, ALGO_OP_TIMEOUT, o->op, 0, 0, 0, NULL, 0);
                    done(s, o, now, out);
                }
            }
            arm_deadline(s, now, out);
        } else if (ev->timer_id == CLI_T_ATTEMPT) {
            /* No answer in time (or a backoff after a redirect without
             * a hint): this server may be down or cut off; try another. */
            if (!s->backoff)
                s->leader = next_server(s);
            s->backoff = false;
            s->redirects = 0;
            resend(s, out);
        }
        break;
    case EV_PEER_UP:
        if (ev->peer >= 1 && ev->peer <= s->n)
            s->down[ev->peer] = false;
        break;
    case EV_PEER_DOWN:
        /* The server we wait on is believed down (the runtime's failure
         * detector): ask the next one now rather than at the attempt
         * timer. A redirect to a server believed down is not followed. */
        if (ev->peer >= 1 && ev->peer <= s->n)
            s->down[ev->peer] = true;
        if (s->live && ev->peer == s->leader && !s->backoff) {
            s->leader = next_server(s);
            s->redirects = 0;
            resend(s, out);
        }
        break;
    case EV_SEND_FAILED:
        /* The request did not go: the next attempt tries another server
         * soon. */
        if (s->live && (ev->msg.type == RAFT_CLIENT_REQ || ev->msg.type == RAFT_CLIENT_BATCH)) {
            act_set_timer(out, CLI_T_ATTEMPT, s->backoff_us);
            s->attempt_armed = true;
        }
        s->backoff = false;
        break;
    default:
        break;
    }
}

static const char *cli_msg_name(uint16_t type)
{
    return algo_raft.msg_name(type);
}

static bool cli_competes(const struct algo_env *env, int id)
{
    (void)env;
    (void)id;
    return false;
}

static double cli_theory(const struct algo_env *env)
{
    (void)env;
    return 2.0; /* a request and its answer per operation, without failures */
}

static void cli_inspect(const void *state, struct algo_inspect *out)
{
    const struct cli_state *s = state;
    memset(out, 0, sizeof *out);
    out->role = ROLE_CLIENT;
    out->wanting = s->live > 0;
    out->leader = s->leader;
}

const struct algo_ops algo_raft_client = {
    .name = "raft_client",
    .range = MSG_RANGE_RAFT,
    .key_field = "term",
    .state_size = sizeof(struct cli_state),
    .init = cli_init,
    .step = cli_step,
    .fini = cli_fini,
    .msg_name = cli_msg_name,
    .competes = cli_competes,
    .theory_messages_per_cs = cli_theory,
    .theory_note = "a request and its answer per operation; a redirect or a retry adds a pair",
    .inspect = cli_inspect,
    .token_msg = NULL,
    .invariant = NULL,
    .client = NULL,
};
