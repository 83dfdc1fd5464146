/* A reference model of the key-value store (nodes/kv.h), written without
 * nodes/kv.c: the tests and the fuzz target compare the store with it.
 * The includer defines KVMODEL_OOM() (what to do when the model itself runs
 * out of memory). */
#ifndef DL_TESTS_KVMODEL_H
#define DL_TESTS_KVMODEL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/kv.h"

/* ---- the reference model: an array of (key, value) ---- */

struct mentry {
    uint8_t *k, *v;
    uint32_t kl, vl;
};

struct model {
    struct mentry *e;
    uint32_t n, cap;
    uint64_t bytes;
};

static inline struct mentry *m_find(struct model *m, const uint8_t *k, uint32_t kl)
{
    for (uint32_t i = 0; i < m->n; i++)
        if (m->e[i].kl == kl && memcmp(m->e[i].k, k, kl) == 0)
            return &m->e[i];
    return NULL;
}

static inline void m_free(struct model *m)
{
    for (uint32_t i = 0; i < m->n; i++) {
        free(m->e[i].k);
        free(m->e[i].v);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

static inline uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* The answer kv.h specifies, decoded and computed here without kv.c. */
static inline uint32_t m_apply(struct model *m, const uint8_t *p, size_t len, uint8_t *ans)
{
    ans[0] = KV_BAD;
    if (len < 6)
        return 1;
    uint32_t op = p[0], kl = p[1], al = rd16(p + 2), bl = rd16(p + 4);
    size_t fixed = 6 + (size_t)kl + al + bl;
    if (len < fixed || len - fixed > 32 || op < 1 || op > 4 || kl < 1 || kl > 128 ||
        al > 4096 || bl > 4096 || (op == KV_GET && (al || bl)) || (op != KV_CAS && bl))
        return 1;
    const uint8_t *k = p + 6, *a = k + kl, *b = a + al;
    struct mentry *e = m_find(m, k, kl);
    uint32_t cl = e ? e->vl : 0;
    const uint8_t *cur = e ? e->v : NULL;
    static uint8_t nv[2 * 4096];
    uint32_t nl = 0;
    switch (op) {
    case KV_GET:
        ans[0] = e ? KV_OK : KV_NOT_FOUND;
        if (cl)
            memcpy(ans + 1, cur, cl);
        return 1 + cl;
    case KV_PUT:
        memcpy(nv, a, al);
        nl = al;
        break;
    case KV_APPEND:
        if (cl + al > 4096) {
            ans[0] = KV_TOO_LARGE;
            return 1;
        }
        if (cl)
            memcpy(nv, cur, cl);
        memcpy(nv + cl, a, al);
        nl = cl + al;
        break;
    default: /* cas */
        if (cl != al || (cl && memcmp(cur, a, cl) != 0)) {
            ans[0] = KV_MISMATCH;
            if (cl)
                memcpy(ans + 1, cur, cl);
            return 1 + cl;
        }
        memcpy(nv, b, bl);
        nl = bl;
        break;
    }
    uint64_t after = m->bytes - cl + nl + (e ? 0 : kl);
    if ((!e && m->n >= KV_MAX_KEYS) || after > KV_MAX_BYTES) {
        ans[0] = KV_FULL;
        return 1;
    }
    if (!e) {
        if (m->n == m->cap) {
            m->cap = m->cap ? 2 * m->cap : 16;
            m->e = realloc(m->e, m->cap * sizeof *m->e);
            if (!m->e)
                KVMODEL_OOM();
        }
        e = &m->e[m->n++];
        e->k = malloc(kl);
        memcpy(e->k, k, kl);
        e->kl = kl;
        e->v = NULL;
        e->vl = 0;
    }
    free(e->v);
    e->v = malloc(nl ? nl : 1);
    memcpy(e->v, nv, nl);
    e->vl = nl;
    m->bytes = after;
    ans[0] = KV_OK;
    return 1;
}

#endif
