#include "nodes/algo.h"

#include <stdlib.h>
#include <string.h>

const struct algo_ops *const algo_table[] = {
    &algo_centralized,
    &algo_ricart_agrawala,
    &algo_token_ring,
    &algo_two_level_ring,
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
     * odd role/log action: a step never needs more. */
    out->cap = 4 * nodes + 32;
    out->n = 0;
    out->overflow = 0;
    out->malformed = 0;
    out->a = calloc((size_t)out->cap, sizeof *out->a);
    return out->a ? 0 : -1;
}

void algo_actions_free(struct algo_actions *out)
{
    free(out->a);
    out->a = NULL;
    out->cap = out->n = 0;
}

static struct algo_action *push(struct algo_actions *out, enum algo_action_kind kind)
{
    if (out->n >= out->cap) {
        out->overflow++;
        return NULL;
    }
    struct algo_action *a = &out->a[out->n++];
    a->kind = kind;
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
