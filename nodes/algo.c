#include "nodes/algo.h"

#include <stdlib.h>
#include <string.h>

const struct algo_ops *const algo_table[] = {
    &algo_centralized,
    &algo_ricart_agrawala,
    &algo_token_ring,
    &algo_two_level_ring,
    &algo_raft,
    NULL,
};

const struct algo_ops *algo_find(const char *name)
{
    for (int i = 0; algo_table[i]; i++)
        if (strcmp(algo_table[i]->name, name) == 0)
            return algo_table[i];
    return NULL;
}

const char *algo_role_name(int role)
{
    switch (role) {
    case ROLE_CLIENT: return "client";
    case ROLE_COORDINATOR: return "coordinator";
    case ROLE_FOLLOWER: return "follower";
    case ROLE_CANDIDATE: return "candidate";
    case ROLE_LEADER: return "leader";
    case ROLE_TOKEN_HOLDER: return "token_holder";
    default: return "none";
    }
}

int algo_actions_init(struct algo_actions *out, int nodes)
{
    /* Room for a broadcast (and a reply to each peer) plus timers and the
     * odd role/log action, and a batch of applies, client replies and
     * storage actions: a step never needs more. */
    out->cap = 4 * nodes + 32 + 4 * ALGO_STEP_BATCH;
    out->n = 0;
    out->overflow = 0;
    out->malformed = 0;
    out->arena_used = 0;
    out->arena_cap = ALGO_ARENA_BYTES;
    out->big = NULL;
    out->big_cap = 0;
    out->big_used = false;
    out->a = calloc((size_t)out->cap, sizeof *out->a);
    out->arena = malloc(out->arena_cap);
    if (!out->a || !out->arena) {
        algo_actions_free(out);
        return -1;
    }
    return 0;
}

void algo_actions_free(struct algo_actions *out)
{
    free(out->a);
    free(out->arena);
    free(out->big);
    out->a = NULL;
    out->arena = NULL;
    out->big = NULL;
    out->big_cap = 0;
    out->cap = out->n = 0;
    out->arena_cap = out->arena_used = 0;
}

static void *mem_libc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    if (size == 0) {
        free(p);
        return NULL;
    }
    return realloc(p, size);
}

const struct algo_mem algo_mem_libc = {mem_libc, NULL};

static struct algo_action *push(struct algo_actions *out, enum algo_action_kind kind)
{
    if (out->n >= out->cap) {
        out->overflow++;
        return NULL;
    }
    struct algo_action *a = &out->a[out->n++];
    a->kind = kind;
    a->lazy = false;
    return a;
}

void act_send(struct algo_actions *out, int from, int to, uint16_t type,
              int64_t f0, int64_t f1, int64_t f2, int64_t f3)
{
    struct algo_action *a = push(out, ACT_SEND);
    if (!a)
        return;
    a->msg.type = type;
    a->msg.from = (uint16_t)from;
    a->msg.to = (uint16_t)to;
    a->msg.f[0] = f0;
    a->msg.f[1] = f1;
    a->msg.f[2] = f2;
    a->msg.f[3] = f3;
    a->msg.len = 0;
    a->msg.payload = NULL;
}

void act_set_timer(struct algo_actions *out, int id, int64_t after_us)
{
    struct algo_action *a = push(out, ACT_SET_TIMER);
    if (a) {
        a->timer_id = id;
        a->after_us = after_us;
    }
}

void act_cancel_timer(struct algo_actions *out, int id)
{
    struct algo_action *a = push(out, ACT_CANCEL_TIMER);
    if (a)
        a->timer_id = id;
}

void act_enter_cs(struct algo_actions *out, int64_t key, int64_t gen)
{
    struct algo_action *a = push(out, ACT_ENTER_CS);
    if (a) {
        a->term = key;
        a->gen = gen;
    }
}

void act_role(struct algo_actions *out, int role, int64_t term)
{
    struct algo_action *a = push(out, ACT_ROLE);
    if (a) {
        a->role = role;
        a->term = term;
    }
}

void act_persist(struct algo_actions *out, const void *data, uint32_t len)
{
    struct algo_action *a = push(out, ACT_PERSIST);
    if (a) {
        memset(&a->msg, 0, sizeof a->msg);
        a->msg.payload = data;
        a->msg.len = len;
    }
}

/* Room for len payload bytes in the step's arena (8-byte aligned), or NULL. */
static uint8_t *arena_take(struct algo_actions *out, uint32_t len)
{
    uint32_t at = (out->arena_used + 7u) & ~7u;
    if (at > out->arena_cap || len > out->arena_cap - at)
        return NULL;
    out->arena_used = at + len;
    return out->arena + at;
}

/* An action with a payload of at most max bytes copied into the arena,
 * or NULL (nothing emitted). */
static struct algo_action *push_payload_max(struct algo_actions *out, enum algo_action_kind kind,
                                            const void *data, uint32_t len, uint32_t max)
{
    if (len > max || out->n >= out->cap) {
        out->overflow += out->n >= out->cap;
        return NULL;
    }
    uint8_t *p = NULL;
    if (len) {
        uint32_t used = out->arena_used;
        p = arena_take(out, len);
        if (!p) {
            out->arena_used = used;
            return NULL;
        }
        memcpy(p, data, len);
    }
    struct algo_action *a = push(out, kind);
    if (!a)
        return NULL;
    memset(&a->msg, 0, sizeof a->msg);
    a->msg.payload = p;
    a->msg.len = len;
    a->after_sync = false;
    return a;
}

/* The same for a payload a message may carry. */
static struct algo_action *push_payload(struct algo_actions *out, enum algo_action_kind kind,
                                        const void *data, uint32_t len)
{
    return push_payload_max(out, kind, data, len, ALGO_MAX_PAYLOAD);
}

bool act_send_ex(struct algo_actions *out, const struct algo_msg *m, bool after_sync)
{
    struct algo_action *a = push_payload(out, ACT_SEND, m->payload, m->len);
    if (!a)
        return false;
    a->msg.type = m->type;
    a->msg.from = m->from;
    a->msg.to = m->to;
    memcpy(a->msg.f, m->f, sizeof a->msg.f);
    a->after_sync = after_sync;
    return true;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint32_t algo_entries_encode(uint8_t *buf, uint32_t cap, const struct algo_entry *e, int n)
{
    uint32_t at = 0;
    for (int i = 0; i < n; i++) {
        if (cap - at < ALGO_ENTRY_HDR || cap - at - ALGO_ENTRY_HDR < e[i].len)
            return 0;
        put_le(buf + at, (uint64_t)e[i].term, 8);
        put_le(buf + at + 8, e[i].len, 4);
        if (e[i].len)
            memcpy(buf + at + ALGO_ENTRY_HDR, e[i].data, e[i].len);
        at += ALGO_ENTRY_HDR + e[i].len;
    }
    return at;
}

bool algo_entries_next(const uint8_t **p, const uint8_t *end, struct algo_entry *e)
{
    const uint8_t *q = *p;
    if (q >= end || (size_t)(end - q) < ALGO_ENTRY_HDR)
        return false;
    e->term = (int64_t)get_le(q, 8);
    e->len = (uint32_t)get_le(q + 8, 4);
    if ((size_t)(end - q - ALGO_ENTRY_HDR) < e->len)
        return false;
    e->data = q + ALGO_ENTRY_HDR;
    *p = q + ALGO_ENTRY_HDR + e->len;
    return true;
}

void act_store_term_vote(struct algo_actions *out, int64_t term, int64_t vote)
{
    struct algo_action *a = push_payload(out, ACT_STORE_TERM_VOTE, NULL, 0);
    if (a) {
        a->term = term;
        a->vote = vote;
    }
}

bool act_store_append(struct algo_actions *out, int64_t first_index, const struct algo_entry *e,
                      int n)
{
    if (out->n >= out->cap) {
        out->overflow++;
        return false;
    }
    uint64_t len = 0;
    for (int i = 0; i < n; i++)
        len += ALGO_ENTRY_HDR + e[i].len;
    uint32_t used = out->arena_used;
    uint8_t *p = len <= out->arena_cap ? arena_take(out, (uint32_t)len) : NULL;
    if (!p) {
        out->arena_used = used;
        return false;
    }
    algo_entries_encode(p, (uint32_t)len, e, n);
    struct algo_action *a = push(out, ACT_STORE_APPEND);
    if (!a)
        return false;
    memset(&a->msg, 0, sizeof a->msg);
    a->msg.payload = p;
    a->msg.len = (uint32_t)len;
    a->index = first_index;
    a->count = n;
    a->after_sync = false;
    return true;
}

void act_store_truncate(struct algo_actions *out, int64_t from)
{
    struct algo_action *a = push_payload(out, ACT_STORE_TRUNCATE, NULL, 0);
    if (a)
        a->index = from;
}

bool act_store_snapshot(struct algo_actions *out, int64_t index, int64_t term, const void *state,
                        uint32_t len)
{
    /* A snapshot may be larger than a message: in the arena when it has
     * room, else in the step's snapshot buffer (one per step). */
    struct algo_action *a = push_payload_max(out, ACT_STORE_SNAPSHOT, state, len, UINT32_MAX);
    if (!a) {
        if (len > ALGO_MAX_SNAPSHOT || out->big_used || out->n >= out->cap)
            return false;
        if (out->big_cap < len) {
            uint8_t *p = realloc(out->big, len);
            if (!p)
                return false;
            out->big = p;
            out->big_cap = len;
        }
        memcpy(out->big, state, len);
        out->big_used = true;
        a = push(out, ACT_STORE_SNAPSHOT);
        if (!a)
            return false;
        memset(&a->msg, 0, sizeof a->msg);
        a->msg.payload = out->big;
        a->msg.len = len;
        a->after_sync = false;
    }
    a->index = index;
    a->term = term;
    return true;
}

void act_commit(struct algo_actions *out, int64_t index, int64_t term)
{
    struct algo_action *a = push_payload(out, ACT_COMMIT, NULL, 0);
    if (a) {
        a->index = index;
        a->term = term;
    }
}

bool act_apply(struct algo_actions *out, int64_t index, int64_t term, const void *cmd,
               uint32_t len)
{
    struct algo_action *a = push_payload(out, ACT_APPLY, cmd, len);
    if (!a)
        return false;
    a->index = index;
    a->term = term;
    return true;
}

bool act_client(struct algo_actions *out, int outcome, int64_t op, int answered_by, int64_t index,
                int64_t term, const void *data, uint32_t len)
{
    struct algo_action *a = push_payload(out, ACT_CLIENT, data, len);
    if (!a)
        return false;
    a->outcome = outcome;
    a->key = op;
    a->msg.from = (uint16_t)answered_by;
    a->index = index;
    a->term = term;
    return true;
}
