/* The key-value workload of one client (kvload.h). */
#include "nodes/kvload.h"

#include <stdio.h>
#include <string.h>

void kvload_init(struct kvload *l, uint64_t seed, int client, int keys, const int32_t mix[5],
                 int value_size)
{
    memset(l, 0, sizeof *l);
    dl_rng_seed(&l->rng, seed ^ (0x9e3779b97f4a7c15u * (uint64_t)(client + 1)));
    l->client = client;
    l->keys = keys > 0 ? keys : KVLOAD_DEFAULT_KEYS;
    if (l->keys > (int)KV_MAX_KEYS)
        l->keys = (int)KV_MAX_KEYS;
    l->value_size = value_size > 0 && value_size <= (int)KV_MAX_VALUE ? value_size : 0;
    for (int op = KV_PUT; op <= KV_CAS; op++) {
        l->w[op] = mix && mix[op] > 0 ? mix[op] : 0;
        l->total += l->w[op];
    }
    if (l->total == 0) {
        /* KVLOAD_DEFAULT_MIX */
        l->w[KV_GET] = 50;
        l->w[KV_PUT] = 30;
        l->w[KV_APPEND] = 10;
        l->w[KV_CAS] = 10;
        l->total = 100;
    }
}

static int key_number(const uint8_t *k, uint32_t len)
{
    if (len < 2 || len > 11 || k[0] != 'k')
        return 0;
    long v = 0;
    for (uint32_t i = 1; i < len; i++) {
        if (k[i] < '0' || k[i] > '9')
            return 0;
        v = v * 10 + (k[i] - '0');
    }
    return v >= 1 && v <= (long)KV_MAX_KEYS ? (int)v : 0;
}

static void remember(struct kvload *l, int key, const uint8_t *v, uint32_t len)
{
    if (key < 1 || len > KV_MAX_VALUE)
        return;
    int slot = (key - 1) % KVLOAD_KNOWN;
    l->known[slot].key = key;
    l->known[slot].len = len;
    if (len)
        memcpy(l->known[slot].v, v, len);
}

uint32_t kvload_next(struct kvload *l, int64_t op, uint8_t *buf)
{
    char key[16], token[KV_MAX_TAG + 1];
    int k = 1 + (int)dl_rng_below(&l->rng, (uint64_t)l->keys);
    int klen = snprintf(key, sizeof key, "k%d", k);
    int tlen = snprintf(token, sizeof token, "c%d-%lld", l->client, (long long)op);
    uint64_t x = dl_rng_below(&l->rng, (uint64_t)l->total);
    int kind = KV_PUT;
    for (int o = KV_PUT; o <= KV_CAS; o++) {
        if (x < (uint64_t)l->w[o]) {
            kind = o;
            break;
        }
        x -= (uint64_t)l->w[o];
    }
    uint8_t val[KV_MAX_VALUE];
    uint32_t vlen = (uint32_t)tlen;
    memcpy(val, token, (size_t)tlen);
    if (kind == KV_APPEND)
        val[vlen++] = ';';
    while ((int)vlen < l->value_size)
        val[vlen++] = '.';
    struct kv_cmd c = {.op = kind,
                       .key = (const uint8_t *)key,
                       .klen = (uint32_t)klen,
                       .tag = (const uint8_t *)token,
                       .tlen = (uint32_t)tlen};
    if (kind == KV_PUT || kind == KV_APPEND) {
        c.a = val;
        c.alen = vlen;
    } else if (kind == KV_CAS) {
        int slot = (k - 1) % KVLOAD_KNOWN;
        if (l->known[slot].key == k) {
            c.a = l->known[slot].v;
            c.alen = l->known[slot].len;
        }
        c.b = val;
        c.blen = vlen;
    }
    return kv_encode(buf, KV_MAX_CMD, &c);
}

void kvload_learn(struct kvload *l, const uint8_t *cmd, uint32_t clen, const uint8_t *ans,
                  uint32_t alen)
{
    struct kv_cmd c;
    if (!kv_decode(cmd, clen, &c) || alen < 1)
        return;
    int key = key_number(c.key, c.klen);
    switch (c.op) {
    case KV_GET:
        if (ans[0] == KV_OK)
            remember(l, key, ans + 1, alen - 1);
        else if (ans[0] == KV_NOT_FOUND)
            remember(l, key, NULL, 0);
        break;
    case KV_PUT:
        if (ans[0] == KV_OK)
            remember(l, key, c.a, c.alen);
        break;
    case KV_CAS:
        if (ans[0] == KV_OK)
            remember(l, key, c.b, c.blen);
        else if (ans[0] == KV_MISMATCH)
            remember(l, key, ans + 1, alen - 1);
        break;
    default: /* an append: the value is not known without a read */ break;
    }
}
