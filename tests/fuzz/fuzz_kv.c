/* Fuzz target: the key-value store (nodes/kv.c) against a reference model.
 *
 * Input: one byte F, then commands, each a u16 little-endian length and
 * that many bytes (the last one cut short by the end of the input). Every
 * command is applied to a store and to a model written here from kv.h
 * (an array of keys and values): the answers must be the same bytes. When
 * F >> 1 is not 0, every (F >> 1)-th allocation fails: kv_apply must then
 * return 0 and leave the store as it was (it is retried with memory). At
 * the end the store must hold exactly the model's keys and values, and
 * survive a snapshot round trip. The raw input is also given to kv_decode
 * and kv_snap_read, which must not crash; a snapshot accepted must be
 * exactly the encoding of what was read. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/algo.h"
#include "nodes/kv.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_keep_stderr();
    return 0;
}

/* ---- memory: counted, failing every period-th allocation ---- */

struct fmem {
    size_t now;
    unsigned long calls, period;
};

static void *fmem_realloc(void *ctx, void *p, size_t size)
{
    struct fmem *m = ctx;
    size_t old = 0;
    if (p) {
        p = (char *)p - 16;
        old = *(size_t *)p;
    }
    if (size == 0) {
        free(p);
        m->now -= old;
        return NULL;
    }
    if (m->period && ++m->calls % m->period == 0)
        return NULL;
    void *q = realloc(p, size + 16);
    if (!q)
        fuzz_fail("out of memory");
    *(size_t *)q = size;
    m->now = m->now - old + size;
    return (char *)q + 16;
}

#define KVMODEL_OOM() fuzz_fail("out of memory")
#include "tests/kvmodel.h"

static void same_as_model(const struct kv_store *s, struct model *m, const char *when)
{
    FUZZ_CHECK(s->count == m->n && s->bytes == m->bytes, "%s: %u keys, %llu bytes; model %u, %llu",
               when, s->count, (unsigned long long)s->bytes, m->n,
               (unsigned long long)m->bytes);
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t vl;
        const uint8_t *v = kv_get(s, m->e[i].k, m->e[i].kl, &vl);
        FUZZ_CHECK(v && vl == m->e[i].vl && (vl == 0 || memcmp(v, m->e[i].v, vl) == 0),
                   "%s: key %u of the model %s", when, i, v ? "has another value" : "absent");
    }
}

/* The raw bytes as a snapshot: refused (store empty) or exactly re-encoded
 * in size, and read back the same. */
static void raw_snapshot(const uint8_t *data, size_t size, const struct algo_mem *mem)
{
    struct kv_store s, t;
    kv_init(&s, mem);
    kv_init(&t, mem);
    if (!kv_snap_read(&s, data, size)) {
        FUZZ_CHECK(s.count == 0 && s.bytes == 0, "a refused snapshot left %u keys", s.count);
        kv_free(&s);
        return;
    }
    FUZZ_CHECK(kv_snap_size(&s) == size, "snapshot of %zu bytes read as %llu", size,
               (unsigned long long)kv_snap_size(&s));
    FUZZ_CHECK(s.bytes <= KV_MAX_BYTES && s.count <= KV_MAX_KEYS, "an oversized store");
    uint8_t *p = malloc(size);
    kv_snap_write(&s, p);
    FUZZ_CHECK(kv_snap_read(&t, p, size), "a snapshot written cannot be read");
    FUZZ_CHECK(t.count == s.count && t.bytes == s.bytes, "snapshot round trip changed the store");
    for (uint32_t i = 0; i < s.nslots; i++) {
        const struct kv_entry *e = &s.slot[i];
        if (!e->hash)
            continue;
        uint32_t vl;
        const uint8_t *v = kv_get(&t, e->bytes, e->klen, &vl);
        FUZZ_CHECK(v && vl == e->vlen && (vl == 0 || memcmp(v, e->bytes + e->klen, vl) == 0),
                   "snapshot round trip lost a key");
    }
    free(p);
    kv_free(&s);
    kv_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kv_cmd c;
    if (kv_decode(data, size, &c)) {
        uint8_t buf[KV_MAX_CMD];
        FUZZ_CHECK(kv_encode(buf, sizeof buf, &c) == size && memcmp(buf, data, size) == 0,
                   "a decoded command does not encode to the same bytes");
    }
    struct fmem fm = {0};
    struct algo_mem mem = {fmem_realloc, &fm};
    raw_snapshot(data, size, &mem);
    FUZZ_CHECK(fm.now == 0, "%zu bytes held after kv_free", fm.now);
    if (size < 1)
        return 0;

    fm.period = data[0] >> 1;
    struct kv_store s;
    struct model m = {0};
    kv_init(&s, &mem);
    static uint8_t ans[KV_MAX_ANSWER], want[KV_MAX_ANSWER];
    size_t off = 1;
    int n = 0;
    while (off < size) {
        size_t len = size - off < 2 ? 0 : rd16(data + off);
        off += size - off < 2 ? size - off : 2;
        if (len > size - off)
            len = size - off;
        const uint8_t *cmd = data + off;
        off += len;
        n++;
        uint32_t wl = m_apply(&m, cmd, len, want);
        uint32_t al;
        unsigned long saved = fm.period;
        for (;;) {
            uint64_t bytes = s.bytes;
            uint32_t count = s.count;
            al = kv_apply(&s, cmd, (uint32_t)len, ans);
            if (al)
                break;
            FUZZ_CHECK(fm.period, "command %d: kv_apply returned 0 with memory", n);
            FUZZ_CHECK(s.bytes == bytes && s.count == count,
                       "command %d: out of memory, and the store changed", n);
            fm.period = 0; /* again, with memory */
        }
        fm.period = saved;
        FUZZ_CHECK(al == wl && memcmp(ans, want, al) == 0,
                   "command %d: answer %s (%u bytes), model %s (%u bytes)", n,
                   kv_status_name(ans[0]), al, kv_status_name(want[0]), wl);
    }
    fm.period = 0;
    same_as_model(&s, &m, "at the end");
    uint64_t sl = kv_snap_size(&s);
    uint8_t *p = malloc(sl);
    kv_snap_write(&s, p);
    struct kv_store t;
    kv_init(&t, &mem);
    FUZZ_CHECK(kv_snap_read(&t, p, sl), "the store's snapshot cannot be read");
    same_as_model(&t, &m, "after a snapshot");
    free(p);
    kv_free(&t);
    kv_free(&s);
    m_free(&m);
    FUZZ_CHECK(fm.now == 0, "%zu bytes held after kv_free", fm.now);
    return 0;
}
