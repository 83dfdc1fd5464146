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
 * On the wire an operation is (incarnation << 32) | op: the servers apply a
 * client's operation only if it is newer than the last one applied, and a
 * client process that restarts numbers its operations from 1 again, which
 * must not look old. (op < 2^32, incarnations < 2^20: within the counter
 * limit.) ACT_CLIENT reports the op as EV_COMMAND gave it. */
#include "nodes/raft_int.h"

#include <string.h>

enum {
    CLI_T_ATTEMPT = 0, /* try (again), maybe another server */
    CLI_T_DEADLINE = 1, /* give up on the operation */
};

/* The longest wait for one server's answer before asking another. */
#define CLI_ATTEMPT_MAX_US (1000 * 1000)

struct cli_state {
    int id, n;
    const struct algo_mem *mem;
    struct dl_rng rng;
    int64_t timeout_us, attempt_us, backoff_us;
    int leader; /* the server we believe leads */
    bool busy;
    int64_t op;
    int64_t op_base; /* this incarnation << 32: see the header */
    uint8_t *cmd;
    uint32_t len, cap;
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

static int cli_init(void *state, const struct algo_env *env)
{
    struct cli_state *s = state;
    memset(s, 0, sizeof *s);
    if (env->n < 1 || env->n > ALGO_MAX_NODES || env->id <= env->n ||
        env->id > env->n + env->clients || env->id > UINT16_MAX || !env->mem ||
        env->client_timeout_us < 0 || env->raft_heartbeat_us < 0)
        return -1;
    s->id = env->id;
    s->n = env->n;
    s->mem = env->mem;
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
    return 0;
}

static void cli_fini(void *state)
{
    struct cli_state *s = state;
    if (s->cmd)
        algo_realloc(s->mem, s->cmd, 0);
    s->cmd = NULL;
}

static void send_req(struct cli_state *s, struct algo_actions *out)
{
    struct algo_msg m = {.type = RAFT_CLIENT_REQ, .from = (uint16_t)s->id, .to = (uint16_t)s->leader};
    m.f[1] = s->op_base | s->op;
    m.len = s->len;
    m.payload = s->cmd;
    act_send_ex(out, &m, false);
}

static void finish(struct cli_state *s, struct algo_actions *out)
{
    s->busy = false;
    act_cancel_timer(out, CLI_T_ATTEMPT);
    act_cancel_timer(out, CLI_T_DEADLINE);
}

static void on_command(struct cli_state *s, const struct algo_msg *m, struct algo_actions *out)
{
    int64_t op = m->f[0];
    act_client(out, ALGO_OP_INVOKE, op, 0, 0, 0, m->payload, m->len);
    if (s->busy || op < 1 || op > UINT32_MAX || m->len > RAFT_MAX_COMMAND) {
        /* One operation at a time; a command no entry can hold. */
        act_client(out, ALGO_OP_FAIL, op, 0, 0, 0, NULL, 0);
        return;
    }
    if (m->len > s->cap) {
        uint8_t *p = algo_realloc(s->mem, s->cmd, m->len);
        if (!p) {
            act_client(out, ALGO_OP_FAIL, op, 0, 0, 0, NULL, 0);
            return;
        }
        s->cmd = p;
        s->cap = m->len;
    }
    if (m->len)
        memcpy(s->cmd, m->payload, m->len);
    s->len = m->len;
    s->op = op;
    s->busy = true;
    s->redirects = 0;
    s->backoff = false;
    s->pause_us = s->backoff_us;
    send_req(s, out);
    act_set_timer(out, CLI_T_ATTEMPT, s->attempt_us);
    act_set_timer(out, CLI_T_DEADLINE, s->timeout_us);
}

static void on_resp(struct cli_state *s, const struct algo_msg *m, int64_t now,
                    struct algo_actions *out)
{
    if (m->type != RAFT_CLIENT_RESP || m->from < 1 || m->from > s->n ||
        !algo_counter_ok(m->f[0], now) || m->f[1] < 1 || !algo_counter_ok(m->f[1], now) ||
        m->f[2] < RAFT_ST_OK || m->f[2] > RAFT_ST_BUSY || !algo_counter_ok(m->f[3], now) ||
        (m->f[2] == RAFT_ST_REDIRECT && m->f[3] > s->n) ||
        (m->f[2] == RAFT_ST_OK && (m->f[3] < 0 || (m->f[3] == 0 && m->len == 0) || m->f[0] < 1)) ||
        (m->len != 0 && m->f[2] != RAFT_ST_OK) || m->len > KV_MAX_ANSWER) {
        act_malformed(out);
        return;
    }
    if (!s->busy || m->f[1] != (s->op_base | s->op))
        return; /* an answer to an earlier attempt */
    if (m->f[2] == RAFT_ST_OK) {
        s->leader = m->from;
        act_client(out, ALGO_OP_OK, s->op, m->from, m->f[3], m->f[0], m->payload, m->len);
        finish(s, out);
    } else if (m->f[2] == RAFT_ST_FAIL) {
        act_client(out, ALGO_OP_FAIL, s->op, m->from, 0, m->f[0], NULL, 0);
        finish(s, out);
    } else if (m->f[2] == RAFT_ST_BUSY) {
        /* The leader holds all it can: the same server, after a pause. */
        s->leader = m->from;
        s->redirects = 0;
        s->backoff = true;
        act_set_timer(out, CLI_T_ATTEMPT, next_pause(s));
    } else if (m->f[3] != 0 && m->f[3] != m->from && s->redirects < s->n && !s->down[m->f[3]]) {
        s->redirects++;
        s->leader = (int)m->f[3];
        s->backoff = false;
        send_req(s, out);
        act_set_timer(out, CLI_T_ATTEMPT, s->attempt_us);
    } else {
        /* Nobody known to lead: ask the next server a little later. */
        s->leader = next_server(s);
        s->redirects = 0;
        s->backoff = true;
        act_set_timer(out, CLI_T_ATTEMPT, s->backoff_us);
    }
}

static void cli_step(void *state, const struct algo_event *ev, struct algo_actions *out)
{
    struct cli_state *s = state;
    switch (ev->kind) {
    case EV_START:
        act_role(out, ROLE_CLIENT, 0);
        break;
    case EV_COMMAND:
        on_command(s, &ev->msg, out);
        break;
    case EV_MESSAGE:
        on_resp(s, &ev->msg, ev->now_us, out);
        break;
    case EV_TIMER:
        if (!s->busy)
            break;
        if (ev->timer_id == CLI_T_DEADLINE) {
            act_client(out, ALGO_OP_TIMEOUT, s->op, 0, 0, 0, NULL, 0);
            finish(s, out);
        } else if (ev->timer_id == CLI_T_ATTEMPT) {
            /* No answer in time (or a backoff after a redirect without
             * a hint): this server may be down or cut off; try another. */
            if (!s->backoff)
                s->leader = next_server(s);
            s->backoff = false;
            s->redirects = 0;
            send_req(s, out);
            act_set_timer(out, CLI_T_ATTEMPT, s->attempt_us);
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
        if (s->busy && ev->peer == s->leader && !s->backoff) {
            s->leader = next_server(s);
            s->redirects = 0;
            send_req(s, out);
            act_set_timer(out, CLI_T_ATTEMPT, s->attempt_us);
        }
        break;
    case EV_SEND_FAILED:
        /* The request did not go: the next attempt tries another server
         * soon. */
        if (s->busy && ev->msg.type == RAFT_CLIENT_REQ)
            act_set_timer(out, CLI_T_ATTEMPT, s->backoff_us);
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
    out->wanting = s->busy;
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
