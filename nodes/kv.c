/* The key-value service's store, commands and answers (kv.h). */
#include "nodes/kv.h"

#include <string.h>

#include "nodes/algo.h"

static const char *const op_names[] = {
    [KV_PUT] = "put", [KV_GET] = "get", [KV_APPEND] = "append", [KV_CAS] = "cas"};
static const char *const st_names[] = {[KV_OK] = "ok",
                                       [KV_NOT_FOUND] = "not_found",
                                       [KV_MISMATCH] = "mismatch",
                                       [KV_TOO_LARGE] = "too_large",
                                       [KV_FULL] = "full",
                                       [KV_BAD] = "bad_command"};

const char *kv_op_name(int op)
{
    return op >= KV_PUT && op <= KV_CAS ? op_names[op] : NULL;
}

int kv_op_parse(const char *name)
{
    for (int op = KV_PUT; op <= KV_CAS; op++)
        if (name && strcmp(name, op_names[op]) == 0)
            return op;
    return 0;
}

const char *kv_status_name(int st)
{
    return st >= 0 && st < KV_STATUS_COUNT ? st_names[st] : "unknown";
}

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static void wr16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

const char *kv_cmd_invalid(const struct kv_cmd *c)
{
    if (!kv_op_name(c->op))
        return "unknown operation (expected put, get, append or cas)";
    if (c->klen < 1)
        return "the key is empty";
    if (c->klen > KV_MAX_KEY)
        return "the key is longer than 128 bytes";
    bool has_a = c->op != KV_GET, has_b = c->op == KV_CAS;
    if ((!has_a && c->alen) || (!has_b && c->blen))
        return "too many arguments for this operation";
    if (c->alen > KV_MAX_VALUE || c->blen > KV_MAX_VALUE)
        return "a value is longer than 4096 bytes";
    if (c->tlen > KV_MAX_TAG)
        return "the tag is longer than 32 bytes";
    return NULL;
}

uint32_t kv_encode(uint8_t *buf, size_t cap, const struct kv_cmd *c)
{
    if (kv_cmd_invalid(c))
        return 0;
    size_t len = KV_CMD_HDR + c->klen + c->alen + c->blen + c->tlen;
    if (len > cap)
        return 0;
    buf[0] = (uint8_t)c->op;
    buf[1] = (uint8_t)c->klen;
    wr16(buf + 2, c->alen);
    wr16(buf + 4, c->blen);
    uint8_t *p = buf + KV_CMD_HDR;
    memcpy(p, c->key, c->klen);
    p += c->klen;
    if (c->alen)
        memcpy(p, c->a, c->alen);
    p += c->alen;
    if (c->blen)
        memcpy(p, c->b, c->blen);
    p += c->blen;
    if (c->tlen)
        memcpy(p, c->tag, c->tlen);
    return (uint32_t)len;
}

bool kv_decode(const uint8_t *p, size_t len, struct kv_cmd *c)
{
    if (!p || len < KV_CMD_HDR)
        return false;
    c->op = p[0];
    c->klen = p[1];
    c->alen = rd16(p + 2);
    c->blen = rd16(p + 4);
    size_t fixed = KV_CMD_HDR + (size_t)c->klen + c->alen + c->blen;
    if (len < fixed || len - fixed > KV_MAX_TAG)
        return false;
    c->key = p + KV_CMD_HDR;
    c->a = c->key + c->klen;
    c->b = c->a + c->alen;
    c->tag = c->b + c->blen;
    c->tlen = (uint32_t)(len - fixed);
    return kv_cmd_invalid(c) == NULL;
}

/* ---- the store ---- */

static uint64_t key_hash(const uint8_t *k, uint32_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ k[i]) * 0x100000001b3u;
    return h ? h : 1; /* 0 marks a free slot */
}

void kv_init(struct kv_store *s, const struct algo_mem *mem)
{
    memset(s, 0, sizeof *s);
    s->mem = mem;
}

void kv_free(struct kv_store *s)
{
    for (uint32_t i = 0; i < s->nslots; i++)
        if (s->slot[i].bytes)
            algo_realloc(s->mem, s->slot[i].bytes, 0);
    if (s->slot)
        algo_realloc(s->mem, s->slot, 0);
    const struct algo_mem *mem = s->mem;
    kv_init(s, mem);
}

static struct kv_entry *find(const struct kv_store *s, const uint8_t *key, uint32_t klen,
                             uint64_t h)
{
    if (!s->nslots)
        return NULL;
    for (uint32_t i = (uint32_t)h & (s->nslots - 1);; i = (i + 1) & (s->nslots - 1)) {
        struct kv_entry *e = &s->slot[i];
        if (!e->hash)
            return e; /* free: where the key would go */
        if (e->hash == h && e->klen == klen && memcmp(e->bytes, key, klen) == 0)
            return e;
    }
}

/* Room for one more key: grow at 3/4 full. */
static bool reserve(struct kv_store *s)
{
    if ((uint64_t)(s->count + 1) * 4 <= (uint64_t)s->nslots * 3)
        return true;
    uint32_t n = s->nslots ? s->nslots * 2 : 16;
    struct kv_entry *t = algo_realloc(s->mem, NULL, (size_t)n * sizeof *t);
    if (!t)
        return false;
    memset(t, 0, (size_t)n * sizeof *t);
    for (uint32_t i = 0; i < s->nslots; i++) {
        struct kv_entry *e = &s->slot[i];
        if (!e->hash)
            continue;
        uint32_t j = (uint32_t)e->hash & (n - 1);
        while (t[j].hash)
            j = (j + 1) & (n - 1);
        t[j] = *e;
    }
    if (s->slot)
        algo_realloc(s->mem, s->slot, 0);
    s->slot = t;
    s->nslots = n;
    return true;
}

const uint8_t *kv_get(const struct kv_store *s, const uint8_t *key, uint32_t klen, uint32_t *vlen)
{
    struct kv_entry *e = find(s, key, klen, key_hash(key, klen));
    if (!e || !e->hash) {
        *vlen = 0;
        return NULL;
    }
    *vlen = e->vlen;
    return e->bytes + e->klen;
}

/* Set a key's value to v (keep: to its current value ++ v). The entry e
 * is the key's slot from find (free when the key is new). false: out of
 * memory, nothing changed. */
static bool set(struct kv_store *s, struct kv_entry *e, uint64_t h, const uint8_t *key,
                uint32_t klen, bool keep, const uint8_t *v, uint32_t vlen)
{
    uint32_t old = e->hash && keep ? e->vlen : 0;
    uint32_t need = klen + old + vlen;
    if (!e->hash) {
        uint8_t *p = algo_realloc(s->mem, NULL, need ? need : 1);
        if (!p)
            return false;
        memcpy(p, key, klen);
        *e = (struct kv_entry){.hash = h, .bytes = p, .klen = klen, .vlen = 0, .cap = need};
        s->count++;
        s->bytes += klen;
    } else if (e->cap < need) {
        uint32_t cap = need < e->cap * 2 ? e->cap * 2 : need;
        if (cap > KV_MAX_KEY + KV_MAX_VALUE)
            cap = need;
        uint8_t *p = algo_realloc(s->mem, e->bytes, cap);
        if (!p)
            return false;
        e->bytes = p;
        e->cap = cap;
    }
    if (vlen)
        memcpy(e->bytes + klen + old, v, vlen);
    s->bytes = s->bytes - e->vlen + old + vlen;
    e->vlen = old + vlen;
    return true;
}

uint32_t kv_apply(struct kv_store *s, const uint8_t *cmd, uint32_t len, uint8_t *ans)
{
    struct kv_cmd c;
    if (!kv_decode(cmd, len, &c)) {
        ans[0] = KV_BAD;
        return 1;
    }
    uint64_t h = key_hash(c.key, c.klen);
    struct kv_entry *e = find(s, c.key, c.klen, h);
    bool present = e && e->hash;
    uint32_t vlen = present ? e->vlen : 0;
    const uint8_t *v = present ? e->bytes + e->klen : NULL;
    switch (c.op) {
    case KV_GET:
        if (!present) {
            ans[0] = KV_NOT_FOUND;
            return 1;
        }
        ans[0] = KV_OK;
        if (vlen)
            memcpy(ans + 1, v, vlen);
        return 1 + vlen;
    case KV_APPEND:
        if (vlen + c.alen > KV_MAX_VALUE) {
            ans[0] = KV_TOO_LARGE;
            return 1;
        }
        break;
    case KV_CAS:
        if (vlen != c.alen || (vlen && memcmp(v, c.a, vlen) != 0)) {
            ans[0] = KV_MISMATCH;
            if (vlen)
                memcpy(ans + 1, v, vlen);
            return 1 + vlen;
        }
        break;
    default: break;
    }
    uint64_t grow = (present ? 0 : c.klen) + (c.op == KV_APPEND ? c.alen
                                              : c.op == KV_CAS  ? c.blen
                                                                : c.alen);
    uint64_t shrink = c.op == KV_APPEND ? 0 : vlen;
    if (s->bytes + grow > KV_MAX_BYTES + shrink) {
        ans[0] = KV_FULL;
        return 1;
    }
    if (!present) {
        if (s->count >= KV_MAX_KEYS) {
            ans[0] = KV_FULL;
            return 1;
        }
        if (!reserve(s))
            return 0;
        e = find(s, c.key, c.klen, h); /* the table may have moved */
    }
    bool ok;
    if (c.op == KV_CAS)
        ok = set(s, e, h, c.key, c.klen, false, c.b, c.blen);
    else
        ok = set(s, e, h, c.key, c.klen, c.op == KV_APPEND, c.a, c.alen);
    if (!ok)
        return 0;
    ans[0] = KV_OK;
    return 1;
}

uint64_t kv_snap_size(const struct kv_store *s)
{
    return 4 + 3ull * s->count + s->bytes;
}

void kv_snap_write(const struct kv_store *s, uint8_t *buf)
{
    uint32_t n = s->count;
    buf[0] = (uint8_t)n;
    buf[1] = (uint8_t)(n >> 8);
    buf[2] = (uint8_t)(n >> 16);
    buf[3] = (uint8_t)(n >> 24);
    uint8_t *p = buf + 4;
    for (uint32_t i = 0; i < s->nslots; i++) {
        const struct kv_entry *e = &s->slot[i];
        if (!e->hash)
            continue;
        p[0] = (uint8_t)e->klen;
        wr16(p + 1, e->vlen);
        memcpy(p + 3, e->bytes, e->klen + e->vlen);
        p += 3 + e->klen + e->vlen;
    }
}

bool kv_snap_read(struct kv_store *s, const uint8_t *p, uint64_t len)
{
    kv_free(s);
    if (len < 4)
        return false;
    uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    uint64_t off = 4;
    if (n > KV_MAX_KEYS)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (len - off < 3)
            goto bad;
        uint32_t kl = p[off], vl = rd16(p + off + 1);
        off += 3;
        if (kl < 1 || kl > KV_MAX_KEY || vl > KV_MAX_VALUE || len - off < (uint64_t)kl + vl)
            goto bad;
        const uint8_t *k = p + off;
        uint64_t h = key_hash(k, kl);
        struct kv_entry *e = find(s, k, kl, h);
        if (e && e->hash)
            goto bad; /* a key twice */
        if (!reserve(s))
            goto bad;
        e = find(s, k, kl, h);
        if (!set(s, e, h, k, kl, false, k + kl, vl))
            goto bad;
        if (s->bytes > KV_MAX_BYTES)
            goto bad; /* more than a store ever holds */
        off += kl + vl;
    }
    if (off != len)
        goto bad;
    return true;
bad:
    kv_free(s);
    return false;
}
