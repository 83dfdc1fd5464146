/* The clients' key-value history from trace records (kvhist.h). */
#include "src/kvhist.h"

#include <stdlib.h>
#include <string.h>

#include "nodes/kv.h"

void kvhist_init(struct kvhist *h, int n)
{
    memset(h, 0, sizeof *h);
    h->n = n;
}

void kvhist_free(struct kvhist *h)
{
    free(h->r);
    free(h->arena);
    kvhist_init(h, h->n);
}

void kvhist_add(struct kvhist *h, const struct trace_rec *r, const void *data, uint32_t len)
{
    if (h->oom || r->node <= h->n ||
        (r->ev != TR_INVOKE && r->ev != TR_RESULT && r->ev != TR_OK && r->ev != TR_FAIL &&
         r->ev != TR_TIMEOUT))
        return;
    if (h->nr == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        struct kvh_rec *p = realloc(h->r, cap * sizeof *p);
        if (!p) {
            h->oom = true;
            return;
        }
        h->r = p;
        h->cap = cap;
    }
    struct kvh_rec *x = &h->r[h->nr];
    *x = (struct kvh_rec){.node = r->node, .op = r->key, .t = r->t_us, .a = r->a, .ev = r->ev};
    if ((r->ev == TR_INVOKE || r->ev == TR_RESULT) && data) {
        if (h->used + len > h->acap) {
            size_t cap = h->acap ? 2 * h->acap : 65536;
            while (cap < h->used + len)
                cap *= 2;
            uint8_t *p = realloc(h->arena, cap);
            if (!p) {
                h->oom = true;
                return;
            }
            h->arena = p;
            h->acap = cap;
        }
        if (len)
            memcpy(h->arena + h->used, data, len);
        x->off = h->used;
        x->len = len;
        x->have = true;
        h->used += len;
    }
    h->nr++;
}

static int cmp_rec(const void *a, const void *b)
{
    const struct kvh_rec *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->op != y->op)
        return x->op < y->op ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->ev > y->ev) - (x->ev < y->ev);
}

int kvhist_ops(struct kvhist *h, struct lc_op **opsp, size_t *nops, struct kvhist_stats *st)
{
    memset(st, 0, sizeof *st);
    *opsp = NULL;
    *nops = 0;
    if (h->oom)
        return -1;
    if (h->nr > 1)
        qsort(h->r, h->nr, sizeof *h->r, cmp_rec);
    struct lc_op *ops = h->nr ? calloc(h->nr, sizeof *ops) : NULL;
    if (h->nr && !ops)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < h->nr;) {
        size_t j = i;
        while (j < h->nr && h->r[j].node == h->r[i].node && h->r[j].op == h->r[i].op)
            j++;
        const struct kvh_rec *inv = NULL, *res = NULL, *end = NULL;
        for (size_t x = i; x < j; x++) {
            const struct kvh_rec *r = &h->r[x];
            if (r->ev == TR_INVOKE && !inv)
                inv = r;
            else if (r->ev == TR_RESULT && !res)
                res = r;
            else if ((r->ev == TR_OK || r->ev == TR_FAIL || r->ev == TR_TIMEOUT) && !end)
                end = r;
        }
        i = j;
        if (!end)
            st->unknown += inv != NULL;
        else if (end->ev == TR_OK)
            st->ok++;
        else if (end->ev == TR_FAIL)
            st->fail++;
        else
            st->timeout++;
        if (!inv)
            continue; /* an outcome whose invoke is gone (a ring): counted above */
        if (!inv->have) {
            st->no_cmd++;
            continue;
        }
        struct kv_cmd kc;
        if (!kv_decode(h->arena + inv->off, inv->len, &kc)) {
            st->other++;
            continue;
        }
        st->kv++;
        struct lc_op *o = &ops[k++];
        o->client = inv->node - h->n;
        o->id = inv->op;
        o->kind = kc.op;
        o->key = kc.key;
        o->klen = kc.klen;
        o->arg = kc.a;
        o->alen = kc.alen;
        o->arg2 = kc.b;
        o->a2len = kc.blen;
        o->invoke_us = inv->t;
        o->outcome = LC_UNKNOWN;
        if (end && end->ev == TR_FAIL) {
            o->outcome = LC_FAIL;
            o->return_us = end->t;
        } else if (end && end->ev == TR_OK) {
            if (res && res->have && res->len >= 1) {
                const uint8_t *ans = h->arena + res->off;
                o->outcome = LC_OK;
                o->return_us = end->t;
                o->hint = end->a;
                o->status = ans[0];
                o->res = ans + 1;
                o->rlen = res->len - 1;
            } else {
                st->no_answer++;
            }
        }
    }
    *opsp = ops;
    *nops = k;
    return 0;
}
