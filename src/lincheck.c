/* Linearizability of a key-value history: per key, the Wing & Gong search
 * with Lowe's memoisation, in the shape Porcupine gives it (a doubly linked
 * list of call and return entries in time order, a stack of the calls
 * linearized so far, and a cache of (set of linearized ops, model state)).
 *
 * Representation choices, all to keep the search free of per-state
 * allocation:
 *  - A key's values are interned: each distinct byte string gets a small id
 *    (0 is "absent"), so a model state is a u32 and comparing values is
 *    comparing ids. The constants of the ops (put values, cas old and new,
 *    answered values) are interned before the search; only append results
 *    are interned during it.
 *  - The set of linearized ops is a bitset over the ops in invoke order; its
 *    hash is kept up to date incrementally (Zobrist: the xor of a fixed
 *    random word per definite op; see cache_visit). A cache entry stores
 *    it canonically as the first op not linearized (every op before it
 *    is) and the words from there to the last linearized op: a few words,
 *    since the ops linearized always form a prefix plus the few in flight.
 *  - Cache entries, their words and the interned values live in arrays that
 *    grow by doubling and are reused from one key to the next.
 *
 * Real-time order: op a precedes op b when a returned at or before b's
 * invoke (a.return_us <= b.invoke_us); they are concurrent only when their
 * intervals overlap strictly. An op with outcome LC_UNKNOWN returns at +inf
 * and accepts any result; an op that can never change anything (a get of
 * unknown outcome, an answer of full) is left out of the search, since it
 * can be linearized anywhere.
 *
 * Windows (for a violation): see find_window. */
#include "src/lincheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/kv.h"

#define LC_DEFAULT_BUDGET 10000000ull
/* A window judged from any initial state tries each candidate state; past
 * this many candidates the window is not tried (a larger one is reported). */
#define LC_MAX_CANDIDATES 256u
#define LC_INF            INT64_MAX

/* ---- growable arrays ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}
#define GROW(arr, capv, need) grow((void **)&(arr), &(capv), (need), sizeof *(arr))

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(const uint8_t *p, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return mix64(h);
}

/* ---- interned values ---- */

struct vent {
    uint64_t hash;
    size_t off;
    uint32_t len;
};

struct vtab {
    uint8_t *bytes;
    size_t nbytes, bytes_cap;
    struct vent *v; /* id i is v[i - 1] */
    size_t n, v_cap;
    uint32_t *slot; /* id, or 0 when free */
    size_t nslots;
};

static void vtab_reset(struct vtab *t)
{
    t->nbytes = 0;
    t->n = 0;
    if (t->slot)
        memset(t->slot, 0, t->nslots * sizeof *t->slot);
}

static void vtab_free(struct vtab *t)
{
    free(t->bytes);
    free(t->v);
    free(t->slot);
}

static const uint8_t *vtab_bytes(const struct vtab *t, uint32_t id, uint32_t *len)
{
    *len = t->v[id - 1].len;
    return t->bytes + t->v[id - 1].off;
}

/* The id of p[0..n), or 0 when it is not interned. */
static uint32_t vtab_find(const struct vtab *t, const uint8_t *p, uint32_t n, uint64_t h)
{
    if (!t->nslots)
        return 0;
    for (size_t i = h & (t->nslots - 1);; i = (i + 1) & (t->nslots - 1)) {
        uint32_t id = t->slot[i];
        if (!id)
            return 0;
        const struct vent *e = &t->v[id - 1];
        if (e->hash == h && e->len == n && (n == 0 || memcmp(t->bytes + e->off, p, n) == 0))
            return id;
    }
}

static void vtab_place(struct vtab *t, uint32_t id)
{
    for (size_t i = t->v[id - 1].hash & (t->nslots - 1);; i = (i + 1) & (t->nslots - 1))
        if (!t->slot[i]) {
            t->slot[i] = id;
            return;
        }
}

/* Intern p[0..n); returns its id (>= 1), or 0 when memory ran out. */
static uint32_t vtab_intern(struct vtab *t, const uint8_t *p, uint32_t n)
{
    uint64_t h = hash_bytes(p, n);
    uint32_t id = vtab_find(t, p, n, h);
    if (id)
        return id;
    if ((t->n + 1) * 2 > t->nslots) {
        size_t ns = t->nslots ? t->nslots * 2 : 64;
        uint32_t *s = calloc(ns, sizeof *s);
        if (!s)
            return 0;
        free(t->slot);
        t->slot = s;
        t->nslots = ns;
        for (uint32_t i = 1; i <= t->n; i++)
            vtab_place(t, i);
    }
    if (GROW(t->v, t->v_cap, t->n + 1) || GROW(t->bytes, t->bytes_cap, t->nbytes + n + 1))
        return 0;
    if (n)
        memcpy(t->bytes + t->nbytes, p, n);
    t->v[t->n] = (struct vent){.hash = h, .off = t->nbytes, .len = n};
    t->nbytes += n;
    id = (uint32_t)++t->n;
    vtab_place(t, id);
    return id;
}

/* ---- a key's ops ---- */

struct kop {
    const struct lc_op *op;
    size_t idx;       /* in the caller's array */
    uint32_t a, b;    /* interned arg, arg2 */
    uint32_t r;       /* interned result (get ok, cas mismatch), else 0 */
    int64_t inv, ret; /* ret: LC_INF when unknown */
    bool unknown;
};

/* An item's place in the order its call is tried: by hint, then item. */
struct hint_ix {
    int64_t hint;
    uint32_t item;
};

/* One op of a search: a key op, possibly weakened to unknown. */
struct item {
    uint32_t kop;
    bool unknown;
};

struct node {
    int32_t prev, next, match;
    uint32_t item;
    bool call;
};

struct ev {
    int64_t t;
    int cls; /* 0 return of a proper interval, 1 a zero-length op, 2 a call */
    uint32_t item;
    int sub; /* 0 call, 1 return */
};

struct centry {
    uint64_t hash;
    size_t woff, uoff;
    uint32_t state, fw, nw, nu;
};

struct frame {
    int32_t node;
    uint32_t state;
    uint32_t maxp1; /* the highest linearized item + 1, 0 when none */
};

struct kctx {
    uint32_t max_value;
    struct vtab vt;
    uint32_t empty; /* the id of the empty value */
    int fresh_byte; /* a byte no constant of the key starts with, or -1 */
    struct kop *kops;
    size_t nkops, kops_cap;
    /* one search's buffers */
    struct item *items, *items2;
    size_t items_cap, items2_cap;
    struct ev *evs;
    size_t evs_cap;
    struct node *nodes;
    size_t nodes_cap;
    uint64_t *bits, *umask; /* the set; the unknown ops */
    size_t bits_cap, umask_cap;
    struct frame *stack;
    size_t stack_cap;
    struct centry *ce;
    size_t nce, ce_cap;
    uint64_t *words;
    size_t nwords, words_cap;
    uint32_t *cslot;
    size_t ncslots;
    uint8_t *scratch;
    size_t scratch_cap;
    uint32_t *cand;
    size_t cand_cap;
    uint8_t *seen; /* by value id */
    size_t seen_cap;
    uint32_t *ulin, *utmp, *uarena; /* unknown ops linearized: in order, sorted, cached */
    size_t ulin_cap, utmp_cap, nuarena, uarena_cap;
    uint32_t *ord; /* by item: its rank in the order the calls are tried */
    size_t ord_cap;
    struct hint_ix *hx;
    size_t hx_cap;
};

static void kctx_free(struct kctx *k)
{
    vtab_free(&k->vt);
    free(k->kops);
    free(k->items);
    free(k->items2);
    free(k->evs);
    free(k->nodes);
    free(k->bits);
    free(k->umask);
    free(k->stack);
    free(k->ce);
    free(k->words);
    free(k->cslot);
    free(k->scratch);
    free(k->cand);
    free(k->seen);
    free(k->ulin);
    free(k->utmp);
    free(k->uarena);
    free(k->ord);
    free(k->hx);
}

/* The model's step. Returns 1 (*ns set) when the op, with its answer (or
 * any answer when unknown), can take effect in state s; 0 when not; -1
 * when memory ran out. */
static int step(struct kctx *k, const struct kop *o, bool unknown, uint32_t s, uint32_t *ns)
{
    const struct lc_op *op = o->op;
    int st = op->status;
    uint32_t cur = s ? s : k->empty; /* absent counts as empty */
    *ns = s;
    if (!unknown && st == KV_FULL)
        return 1;
    switch (op->kind) {
    case KV_PUT:
        if (!unknown && st != KV_OK)
            return 0;
        *ns = o->a;
        return 1;
    case KV_GET:
        if (unknown)
            return 1;
        if (st == KV_NOT_FOUND)
            return s == 0;
        return st == KV_OK && s != 0 && s == o->r;
    case KV_APPEND: {
        uint32_t clen;
        const uint8_t *cv = vtab_bytes(&k->vt, cur, &clen);
        if ((uint64_t)clen + op->alen > k->max_value)
            return unknown || st == KV_TOO_LARGE;
        if (!unknown && st != KV_OK)
            return 0;
        if (op->alen == 0) {
            *ns = cur;
            return 1;
        }
        if (GROW(k->scratch, k->scratch_cap, (size_t)clen + op->alen))
            return -1;
        memcpy(k->scratch, cv, clen); /* cv may move when interning: copy first */
        memcpy(k->scratch + clen, op->arg, op->alen);
        uint32_t id = vtab_intern(&k->vt, k->scratch, clen + op->alen);
        if (!id)
            return -1;
        *ns = id;
        return 1;
    }
    case KV_CAS:
        if (cur == o->a) {
            if (!unknown && st != KV_OK)
                return 0;
            *ns = o->b;
            return 1;
        }
        return unknown || (st == KV_MISMATCH && o->r == cur);
    default: return 0;
    }
}

static int ev_cmp(const void *pa, const void *pb)
{
    const struct ev *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    if (a->cls != b->cls)
        return a->cls - b->cls;
    if (a->item != b->item)
        return a->item < b->item ? -1 : 1;
    return a->sub - b->sub;
}

static int cache_grow(struct kctx *k)
{
    size_t ns = k->ncslots ? k->ncslots * 2 : 1024;
    uint32_t *s = calloc(ns, sizeof *s);
    if (!s)
        return -1;
    free(k->cslot);
    k->cslot = s;
    k->ncslots = ns;
    for (size_t c = 0; c < k->nce; c++)
        for (size_t i = k->ce[c].hash & (ns - 1);; i = (i + 1) & (ns - 1))
            if (!s[i]) {
                s[i] = (uint32_t)c + 1;
                break;
            }
    return 0;
}

/* Is the cached configuration e the one given: the same definite ops
 * (k->bits' words fw..fw+nw-1; every definite op below is in, none above)
 * and the unknown ops u[0..nu) (sorted) but u[skip]? */
static bool same(const struct kctx *k, const struct centry *e, uint32_t fw, uint32_t nw,
                 const uint32_t *u, uint32_t nu, uint32_t skip)
{
    uint32_t want = skip < nu ? nu - 1 : nu;
    if (e->fw != fw || e->nw != nw || e->nu != want ||
        (nw && memcmp(k->words + e->woff, k->bits + fw, nw * sizeof *k->bits) != 0))
        return false;
    if (want == 0)
        return true;
    const uint32_t *eu = k->uarena + e->uoff;
    for (uint32_t a = 0, b = 0; b < nu; b++) {
        if (b == skip)
            continue;
        if (eu[a++] != u[b])
            return false;
    }
    return true;
}

static uint64_t unknown_hash(uint32_t it)
{
    return mix64(it ^ 0xa5a5a5a500000000ull);
}

static bool cached(const struct kctx *k, uint64_t h, uint32_t state, uint32_t fw, uint32_t nw,
                   const uint32_t *u, uint32_t nu, uint32_t skip)
{
    if (!k->ncslots)
        return false;
    for (size_t i = h & (k->ncslots - 1);; i = (i + 1) & (k->ncslots - 1)) {
        uint32_t c = k->cslot[i];
        if (!c)
            return false;
        const struct centry *e = &k->ce[c - 1];
        if (e->hash == h && e->state == state && same(k, e, fw, nw, u, nu, skip))
            return true;
    }
}

/* At most this many unknown ops linearized for the covering lookups with
 * one of them left out. */
#define LC_COVER_MAX 16u

/* Look the configuration (definite ops as in same, unknown ops u, state;
 * h hashes the definite ops and the state) up in the cache; insert it when
 * no entry covers it. Returns 1 when one did, 0 when inserted, -1 when
 * memory ran out.
 *
 * Covering, rather than equality, is Lowe's memoisation strengthened for
 * ops of unknown outcome: a configuration with fewer of them linearized
 * and the same definite ops and state can do everything the other can (an
 * unknown op precedes nothing in real time, and linearizing it at the very
 * end is the same as it never happening). Entries were all visited, and
 * the search fails only when every one of them failed; so when a covering
 * configuration failed, this one fails too. The coverings looked up are
 * the configuration itself, the one without any unknown op, and those
 * with one unknown op fewer: exact lookups, each a short probe. */
static int cache_visit(struct kctx *k, uint64_t h, uint32_t state, uint32_t fw, uint32_t nw,
                       const uint32_t *u, uint32_t nu)
{
    uint64_t hu = 0;
    for (uint32_t x = 0; x < nu; x++)
        hu ^= unknown_hash(u[x]);
    if (cached(k, h ^ hu, state, fw, nw, u, nu, UINT32_MAX))
        return 1;
    if (nu && cached(k, h, state, fw, nw, u, 0, UINT32_MAX))
        return 1;
    if (nu > 1 && nu <= LC_COVER_MAX)
        for (uint32_t x = 0; x < nu; x++)
            if (cached(k, h ^ hu ^ unknown_hash(u[x]), state, fw, nw, u, nu, x))
                return 1;
    h ^= hu;
    if ((k->nce + 1) * 2 > k->ncslots && cache_grow(k))
        return -1;
    if (k->nce >= UINT32_MAX - 1 || GROW(k->ce, k->ce_cap, k->nce + 1) ||
        GROW(k->words, k->words_cap, k->nwords + nw) ||
        GROW(k->uarena, k->uarena_cap, k->nuarena + nu))
        return -1;
    if (nw)
        memcpy(k->words + k->nwords, k->bits + fw, nw * sizeof *k->bits);
    if (nu)
        memcpy(k->uarena + k->nuarena, u, nu * sizeof *u);
    k->ce[k->nce] = (struct centry){.hash = h,
                                    .woff = k->nwords,
                                    .uoff = k->nuarena,
                                    .state = state,
                                    .fw = fw,
                                    .nw = nw,
                                    .nu = nu};
    k->nwords += nw;
    k->nuarena += nu;
    for (size_t i = h & (k->ncslots - 1);; i = (i + 1) & (k->ncslots - 1))
        if (!k->cslot[i]) {
            k->cslot[i] = (uint32_t)++k->nce;
            break;
        }
    return 0;
}

static int hint_cmp(const void *pa, const void *pb)
{
    const struct hint_ix *a = pa, *b = pb;
    if (a->hint != b->hint)
        return a->hint < b->hint ? -1 : 1;
    return (a->item > b->item) - (a->item < b->item);
}

/* The next call to try: of the calls before the first return in the list
 * (the ops that may take effect next), those of the phase (0 definite, 1
 * unknown), the one of the lowest rank above after (-1: the lowest of
 * all); the first return when none is left. Any order of these calls is a
 * correct search; trying them in the order of their hints (the log index
 * a replicated store answered with) finds the linearization the store
 * itself made at once, where the order of invokes may wander among the
 * many orders of a burst of pipelined commands. */
static int32_t next_call(const struct kctx *k, const struct item *items, int32_t head, int phase,
                         int64_t after)
{
    const struct node *nd = k->nodes;
    int32_t best = -1, e = nd[head].next;
    for (; e >= 0 && nd[e].call; e = nd[e].next) {
        uint32_t it = nd[e].item;
        if ((int)items[it].unknown != phase || (int64_t)k->ord[it] <= after)
            continue;
        if (best < 0 || k->ord[it] < k->ord[nd[best].item])
            best = e;
    }
    return best >= 0 ? best : e;
}

/* Is items[0..n) (in invoke order) linearizable from state init? Returns
 * LC_LINEARIZABLE, LC_VIOLATION, LC_UNDECIDED (more than budget states), or
 * -1 when memory ran out. *states counts the states explored. */
static int search(struct kctx *k, const struct item *items, uint32_t n, uint32_t init,
                  uint64_t budget, uint64_t *states)
{
    *states = 0;
    uint32_t ndef = 0;
    for (uint32_t i = 0; i < n; i++)
        ndef += !items[i].unknown;
    if (ndef == 0)
        return LC_LINEARIZABLE;
    size_t nw_all = n / 64 + 2;
    if (GROW(k->evs, k->evs_cap, 2 * (size_t)n) ||
        GROW(k->nodes, k->nodes_cap, 2 * (size_t)n + 1) || GROW(k->bits, k->bits_cap, nw_all) ||
        GROW(k->umask, k->umask_cap, nw_all) || GROW(k->stack, k->stack_cap, n + 1) ||
        GROW(k->ulin, k->ulin_cap, n + 1) || GROW(k->utmp, k->utmp_cap, n + 1) ||
        GROW(k->ord, k->ord_cap, n + 1) || GROW(k->hx, k->hx_cap, n + 1))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const struct lc_op *op = k->kops[items[i].kop].op;
        k->hx[i] = (struct hint_ix){.hint = op->hint > 0 ? op->hint : 0, .item = i};
    }
    qsort(k->hx, n, sizeof *k->hx, hint_cmp);
    for (uint32_t i = 0; i < n; i++)
        k->ord[k->hx[i].item] = i;
    memset(k->umask, 0, nw_all * sizeof *k->umask);
    for (uint32_t i = 0; i < n; i++)
        if (items[i].unknown)
            k->umask[i / 64] |= 1ull << (i % 64);
    bool has_unknown = ndef < n;
    for (uint32_t i = 0; i < n; i++) {
        const struct kop *o = &k->kops[items[i].kop];
        int64_t ret = items[i].unknown ? LC_INF : o->ret;
        bool zero = ret == o->inv;
        k->evs[2 * i] = (struct ev){.t = o->inv, .cls = zero ? 1 : 2, .item = i, .sub = 0};
        k->evs[2 * i + 1] = (struct ev){.t = ret, .cls = zero ? 1 : 0, .item = i, .sub = 1};
    }
    qsort(k->evs, 2 * (size_t)n, sizeof *k->evs, ev_cmp);
    int32_t head = (int32_t)(2 * n);
    struct node *nd = k->nodes;
    /* call and return node of each item: reuse stack[] as scratch for the
     * call node's position until the search starts */
    for (uint32_t p = 0; p < 2 * n; p++) {
        const struct ev *e = &k->evs[p];
        nd[p] = (struct node){.prev = p ? (int32_t)p - 1 : head,
                              .next = p + 1 < 2 * n ? (int32_t)p + 1 : -1,
                              .match = -1,
                              .item = e->item,
                              .call = e->sub == 0};
        if (e->sub == 0) {
            k->stack[e->item].node = (int32_t)p;
        } else {
            int32_t c = k->stack[e->item].node;
            nd[c].match = (int32_t)p;
            nd[p].match = c;
        }
    }
    nd[head] = (struct node){.prev = -1, .next = 0, .match = -1, .item = 0, .call = false};
    memset(k->bits, 0, nw_all * sizeof *k->bits);
    /* Empty the cache. Clearing only the slots in use keeps the many small
     * searches of a window's shrinking from paying for the table of the
     * key's big one: each entry is found along its probe sequence. */
    for (size_t c = 0; c < k->nce; c++)
        for (size_t i = k->ce[c].hash & (k->ncslots - 1);; i = (i + 1) & (k->ncslots - 1))
            if (k->cslot[i] == c + 1) {
                k->cslot[i] = 0;
                break;
            }
    k->nce = 0;
    k->nwords = 0;
    k->nuarena = 0;

    /* The configuration: the definite ops linearized (bits; first_zero the
     * first definite op not in, maxp1 the last one in + 1), the unknown ops
     * linearized (ulin[0..nu), in the order of the stack), the state. */
    uint32_t state = init, first_zero = 0, maxp1 = 0, done = 0, nu = 0;
    size_t sp = 0;
    uint64_t zob = 0;
    /* The calls that may come next are those before the first return in
     * the list. The definite ones are tried first (phase 0), then the
     * unknown ones (phase 1): an unknown op is linearized only when no
     * definite one can go on without it, which keeps the configurations
     * with few unknown ops linearized first in the cache, where they cover
     * the others. */
    int phase = 0;
    int32_t e = next_call(k, items, head, phase, -1);
    while (done < ndef) {
        struct node *x = &nd[e];
        if (!x->call && phase == 0 && has_unknown) {
            phase = 1;
            e = next_call(k, items, head, phase, -1);
            continue;
        }
        if (!x->call) {
            /* A return before its call was linearized: undo the last call. */
            if (sp == 0)
                return LC_VIOLATION;
            struct frame *f = &k->stack[--sp];
            e = f->node;
            x = &nd[e];
            state = f->state;
            maxp1 = sp ? k->stack[sp - 1].maxp1 : 0;
            uint32_t it = x->item;
            phase = items[it].unknown;
            if (items[it].unknown) {
                nu--;
            } else {
                k->bits[it / 64] &= ~(1ull << (it % 64));
                zob ^= mix64(it);
                if (it < first_zero)
                    first_zero = it;
                done--;
            }
            struct node *r = &nd[x->match];
            nd[r->prev].next = x->match;
            if (r->next >= 0)
                nd[r->next].prev = x->match;
            nd[x->prev].next = e;
            nd[x->next].prev = e;
            e = next_call(k, items, head, phase, k->ord[it]);
            continue;
        }
        uint32_t it = x->item, ns;
        bool unk = items[it].unknown;
        if (unk != phase) {
            e = next_call(k, items, head, phase, k->ord[it]);
            continue;
        }
        int ok = step(k, &k->kops[items[it].kop], unk, state, &ns);
        if (ok < 0)
            return -1;
        if (!ok) {
            e = next_call(k, items, head, phase, k->ord[it]);
            continue;
        }
        /* Tentatively add it, and see whether a cached configuration
         * covers the new one. */
        uint32_t fz = first_zero, mp1 = maxp1;
        uint64_t zn = zob;
        uint32_t nut = nu;
        memcpy(k->utmp, k->ulin, nu * sizeof *k->ulin);
        if (unk) {
            k->utmp[nut++] = it;
        } else {
            k->bits[it / 64] |= 1ull << (it % 64);
            zn ^= mix64(it);
            if (it == fz) {
                /* the next definite op not in; unknown ones count as in */
                size_t w = fz / 64;
                uint64_t word = k->bits[w] | k->umask[w] | ((1ull << (fz % 64)) - 1);
                while (word == ~0ull) {
                    w++;
                    word = k->bits[w] | k->umask[w];
                }
                fz = (uint32_t)(w * 64 + (uint32_t)__builtin_ctzll(~word));
            }
            if (it + 1 > mp1)
                mp1 = it + 1;
        }
        for (uint32_t y = 1; y < nut; y++) /* insertion sort: they are few */
            for (uint32_t z = y; z > 0 && k->utmp[z - 1] > k->utmp[z]; z--) {
                uint32_t t = k->utmp[z];
                k->utmp[z] = k->utmp[z - 1];
                k->utmp[z - 1] = t;
            }
        uint32_t fw = fz / 64, lw = mp1 ? (mp1 - 1) / 64 : 0;
        uint32_t nw = mp1 && lw >= fw ? lw - fw + 1 : 0;
        uint64_t h = zn ^ mix64(((uint64_t)ns << 32) ^ 0x5bd1e995u);
        int seen = cache_visit(k, h, ns, fw, nw, k->utmp, nut);
        if (seen < 0)
            return -1;
        if (seen) {
            if (!unk)
                k->bits[it / 64] &= ~(1ull << (it % 64));
            e = next_call(k, items, head, phase, k->ord[it]);
            continue;
        }
        if (++*states > budget)
            return LC_UNDECIDED;
        k->stack[sp++] = (struct frame){.node = e, .state = state, .maxp1 = mp1};
        state = ns;
        first_zero = fz;
        maxp1 = mp1;
        zob = zn;
        phase = 0;
        if (unk)
            k->ulin[nu++] = it;
        else
            done++;
        struct node *r = &nd[x->match];
        nd[x->prev].next = x->next;
        nd[x->next].prev = x->prev;
        nd[r->prev].next = r->next;
        if (r->next >= 0)
            nd[r->next].prev = r->prev;
        e = next_call(k, items, head, phase, -1);
    }
    return LC_LINEARIZABLE;
}

/* ---- windows ----
 *
 * A window is a run kops[i..j] of the key's ops in invoke order. It is
 * judged together with its edges, weakened to unknown outcome (may or may
 * not have taken effect, any result): the ops invoked before the window's
 * last definite return (they could take effect before a window op), and,
 * unless the window starts at the key's first op, the ops before it still
 * running when it starts. Weakening makes the check sound: if the whole
 * history were linearizable, its linearization restricted to the window
 * and its edges would linearize the window from the state the key had
 * just before the window's first op. And since unknown ops only add
 * possibilities, the window's ops alone are not linearizable either: the
 * window is what the report shows.
 *
 * From the start, the initial state is absent. Otherwise the window must
 * fail from every state the key could have had, and a finite set of
 * candidates covers them. The model compares a state only with a few
 * values of the ops (get and mismatch answers, cas old; "compared values"
 * below) and looks at its length only for too_large. So without appends,
 * every value that is none of the compared values behaves alike, and the
 * candidates are absent, empty, the compared values and one value that is
 * none of them. With appends a state s may grow into a compared value, so
 * every prefix of each compared value is a candidate; a value that is no
 * such prefix can never become equal to one (before a put or a successful
 * cas replaces it), so only its length matters, and every length up to
 * max_value - (the bytes all the appends add) behaves alike: the
 * candidates add one such value of length 1 and one of each longer length
 * up to max_value. (Such values start with a byte no value of the key
 * starts with; when every byte is taken, or past LC_MAX_CANDIDATES
 * candidates, the window is not tried and a longer one is reported.)
 *
 * Which window: first the shortest failing prefix kops[0..j] (the failing
 * prefixes are upward closed, so a galloping then binary search finds it),
 * then the latest start i for which kops[i..j] fails from every state
 * (galloping down from j, then binary search; the last window that failed
 * is kept). All these searches together explore at most the budget; past
 * it, the last window that failed is reported. */

struct wctx {
    uint64_t budget; /* per search */
    uint64_t left;   /* in all */
};

static int add_candidate(struct kctx *k, size_t *nc, const uint8_t *p, uint32_t len)
{
    uint32_t id = vtab_intern(&k->vt, p, len);
    if (!id)
        return -1;
    for (size_t z = 0; z < *nc; z++)
        if (k->cand[z] == id)
            return 0;
    if (*nc >= LC_MAX_CANDIDATES)
        return 1;
    if (GROW(k->cand, k->cand_cap, *nc + 1))
        return -1;
    k->cand[(*nc)++] = id;
    return 0;
}

/* The candidate initial states of a window not judged from the start, after
 * absent (k->cand[0]); see above. Returns 1, 0 when there are too many, -1
 * when memory ran out. */
static int candidates(struct kctx *k, const struct item *it, size_t n, size_t *nc)
{
    uint64_t appended = 0;
    for (size_t x = 0; x < n; x++)
        if (k->kops[it[x].kop].op->kind == KV_APPEND)
            appended += k->kops[it[x].kop].op->alen;
    bool appends = false;
    for (size_t x = 0; x < n && !appends; x++)
        appends = k->kops[it[x].kop].op->kind == KV_APPEND;
    int r = add_candidate(k, nc, NULL, 0);
    for (size_t x = 0; x < n && r == 0; x++) {
        const struct kop *o = &k->kops[it[x].kop];
        const struct lc_op *op = o->op;
        /* The values a state is compared with: a get's or a mismatch's
         * answer, a cas's old value. */
        const uint8_t *cv[2] = {NULL, NULL};
        uint32_t cl[2] = {0, 0};
        if (o->r) {
            cv[0] = op->res;
            cl[0] = op->rlen;
        }
        if (op->kind == KV_CAS) {
            cv[1] = op->arg;
            cl[1] = op->alen;
        }
        for (int y = 0; y < 2 && r == 0; y++) {
            if (!cv[y])
                continue;
            /* With appends, every prefix of it: the state may grow into it. */
            for (uint32_t len = appends ? 0 : cl[y]; len <= cl[y] && r == 0; len++)
                r = add_candidate(k, nc, cv[y], len);
        }
    }
    /* A value that is no prefix of any of them (it starts with a byte none
     * of them starts with): only its length can matter, through too_large,
     * and lengths up to max_value - appended behave alike. */
    if (r == 0 && k->max_value > 0) {
        if (k->fresh_byte < 0)
            return 0;
        uint32_t lo = appended + 1 <= k->max_value ? 1 : 0;
        uint32_t from = appended >= k->max_value ? 1 : k->max_value - (uint32_t)appended + 1;
        if (GROW(k->scratch, k->scratch_cap, k->max_value))
            return -1;
        memset(k->scratch, 0, k->max_value);
        k->scratch[0] = (uint8_t)k->fresh_byte;
        if (lo)
            r = add_candidate(k, nc, k->scratch, 1);
        if (appends)
            for (uint32_t len = from; len <= k->max_value && r == 0; len++)
                r = add_candidate(k, nc, k->scratch, len);
    }
    return r < 0 ? -1 : r == 0;
}

/* 1 when kops[i..j] fails (as above), 0 when not shown, -1 on no memory.
 * skip (may be NULL): ops of i..j left out. */
static int window_fails_skip(struct kctx *k, size_t i, size_t j, bool from_start,
                             struct wctx *w, const uint8_t *skip)
{
    if (w->left == 0)
        return 0;
    size_t n = 0, cap = k->nkops;
    if (GROW(k->items2, k->items2_cap, cap))
        return -1;
    struct item *it = k->items2;
    if (!from_start)
        for (size_t x = 0; x < i; x++)
            if (k->kops[x].ret > k->kops[i].inv)
                it[n++] = (struct item){.kop = (uint32_t)x, .unknown = true};
    int64_t maxret = INT64_MIN;
    for (size_t x = i; x <= j; x++) {
        if (skip && skip[x - i])
            continue;
        it[n++] = (struct item){.kop = (uint32_t)x, .unknown = k->kops[x].unknown};
        if (!k->kops[x].unknown && k->kops[x].ret > maxret)
            maxret = k->kops[x].ret;
    }
    for (size_t x = j + 1; x < k->nkops && k->kops[x].inv < maxret; x++)
        it[n++] = (struct item){.kop = (uint32_t)x, .unknown = true};

    size_t nc = 0;
    if (GROW(k->cand, k->cand_cap, 1))
        return -1;
    k->cand[nc++] = 0;
    if (!from_start) {
        int r = candidates(k, it, n, &nc);
        if (r <= 0)
            return r;
    }
    for (size_t c = 0; c < nc; c++) {
        uint64_t used;
        int v = search(k, it, (uint32_t)n, k->cand[c], w->budget < w->left ? w->budget : w->left,
                       &used);
        w->left -= used < w->left ? used : w->left;
        if (v < 0)
            return -1;
        if (v != LC_VIOLATION)
            return 0;
    }
    return 1;
}

static int window_fails(struct kctx *k, size_t i, size_t j, bool from_start, struct wctx *w)
{
    return window_fails_skip(k, i, j, from_start, w, NULL);
}

/* An op that changed nothing when it answered: a get, or a put, append or
 * cas refused (mismatch, too_large, full). Leaving one out of a history
 * that cannot be ordered leaves one that cannot be ordered either, only
 * with less to read (a history with extra reads of it would order if it
 * did) - so such ops can be dropped from a window that still fails. */
static bool read_only(const struct kop *o)
{
    return !o->unknown &&
           (o->op->kind == KV_GET ||
            (o->op->outcome == LC_OK && o->op->status != KV_OK && o->op->status != KV_NOT_FOUND));
}

static int find_window(struct kctx *k, uint64_t budget, struct lc_key_result *kr)
{
    struct wctx w = {.budget = budget, .left = budget};
    /* Prefix lengths: pass_len is known to pass, fail_len to fail (the
     * whole key's history failed). */
    size_t m = k->nkops, pass_len = 0, fail_len = m;
    for (size_t len = 1; len < m; len *= 2) {
        int r = window_fails(k, 0, len - 1, true, &w);
        if (r < 0)
            return -1;
        if (r) {
            fail_len = len;
            break;
        }
        pass_len = len;
    }
    while (fail_len - pass_len > 1) {
        size_t mid = pass_len + (fail_len - pass_len) / 2;
        int r = window_fails(k, 0, mid - 1, true, &w);
        if (r < 0)
            return -1;
        if (r)
            fail_len = mid;
        else
            pass_len = mid;
    }
    size_t j = fail_len - 1, start = 0;
    /* The latest start: gallop down from j, then binary search. */
    size_t pass = j + 1, fail = 0; /* starts known to pass / fail (0: from the start) */
    for (size_t d = 0; d < j; d = d ? d * 2 : 1) {
        size_t i = j - d;
        int r = window_fails(k, i, j, false, &w);
        if (r < 0)
            return -1;
        if (r) {
            fail = i;
            break;
        }
        pass = i;
    }
    while (pass - fail > 1) {
        size_t mid = fail + (pass - fail) / 2;
        int r = window_fails(k, mid, j, false, &w);
        if (r < 0)
            return -1;
        if (r)
            fail = mid;
        else
            pass = mid;
    }
    start = fail;
    /* Then the reads the window does not need, one at a time. */
    uint8_t *skip = calloc(j - start + 1, 1);
    if (!skip)
        return -1;
    for (size_t x = start; x <= j; x++) {
        if (!read_only(&k->kops[x]))
            continue;
        skip[x - start] = 1;
        int r = window_fails_skip(k, start, j, start == 0, &w, skip);
        if (r < 0) {
            free(skip);
            return -1;
        }
        if (!r)
            skip[x - start] = 0;
    }
    size_t kept = 0;
    for (size_t x = start; x <= j; x++)
        kept += !skip[x - start];
    kr->nwindow = kept;
    kr->window = malloc(kept * sizeof *kr->window);
    if (!kr->window) {
        free(skip);
        return -1;
    }
    kept = 0;
    for (size_t x = start; x <= j; x++)
        if (!skip[x - start])
            kr->window[kept++] = k->kops[x].idx;
    free(skip);
    kr->from_start = start == 0;
    return 0;
}

/* ---- the check ---- */

struct ref {
    const struct lc_op *op;
    size_t idx;
};

static int key_cmp(const struct lc_op *a, const struct lc_op *b)
{
    uint32_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = n ? memcmp(a->key, b->key, n) : 0;
    if (c)
        return c;
    return a->klen < b->klen ? -1 : a->klen > b->klen;
}

static int ref_cmp(const void *pa, const void *pb)
{
    const struct ref *a = pa, *b = pb;
    int c = key_cmp(a->op, b->op);
    if (c)
        return c;
    if (a->op->invoke_us != b->op->invoke_us)
        return a->op->invoke_us < b->op->invoke_us ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

struct group {
    size_t from, to; /* in refs */
    int64_t first_inv;
    size_t first_idx;
};

static int group_cmp(const void *pa, const void *pb)
{
    const struct group *a = pa, *b = pb;
    if (a->first_inv != b->first_inv)
        return a->first_inv < b->first_inv ? -1 : 1;
    return a->first_idx < b->first_idx ? -1 : a->first_idx > b->first_idx;
}

/* Can the op be left out (it can never change the state, whatever its
 * place)? */
static bool droppable(const struct lc_op *op)
{
    if (op->outcome == LC_UNKNOWN)
        return op->kind == KV_GET;
    return op->status == KV_FULL;
}

/* Leave out the writes of unknown outcome whose value no op could see: in
 * a key without appends, an unknown put (or cas) of a value that no get or
 * mismatch answered and no cas expected. Should it take effect, the key
 * holds a value that no definite op accepts until a put replaces it (a get
 * or a cas answered would have to name it), so every linearization with it
 * is one without it once it is moved to the end; the unknown ops between
 * it and the put answer nothing, and the put erases what they did. This
 * keeps the timeouts of a long history from multiplying the search. */
static int drop_blind_writes(struct kctx *k)
{
    for (size_t x = 0; x < k->nkops; x++)
        if (k->kops[x].op->kind == KV_APPEND)
            return 0;
    if (GROW(k->seen, k->seen_cap, k->vt.n + 1))
        return -1;
    memset(k->seen, 0, k->vt.n + 1);
    for (size_t x = 0; x < k->nkops; x++) {
        const struct kop *o = &k->kops[x];
        k->seen[o->r] = 1;
        if (o->op->kind == KV_CAS)
            k->seen[o->a] = 1;
    }
    size_t kept = 0;
    for (size_t x = 0; x < k->nkops; x++) {
        const struct kop *o = &k->kops[x];
        bool blind = o->unknown && ((o->op->kind == KV_PUT && !k->seen[o->a]) ||
                                    (o->op->kind == KV_CAS && !k->seen[o->b]));
        if (!blind)
            k->kops[kept++] = *o;
    }
    k->nkops = kept;
    return 0;
}

static int check_key(struct kctx *k, const struct ref *r, size_t n, uint64_t budget,
                     struct lc_key_result *kr)
{
    vtab_reset(&k->vt);
    k->nkops = 0;
    if (!(k->empty = vtab_intern(&k->vt, NULL, 0)) || GROW(k->kops, k->kops_cap, n))
        return -1;
    for (size_t x = 0; x < n; x++) {
        const struct lc_op *op = r[x].op;
        if (droppable(op))
            continue;
        struct kop *o = &k->kops[k->nkops++];
        *o = (struct kop){
            .op = op, .idx = r[x].idx, .inv = op->invoke_us, .unknown = op->outcome == LC_UNKNOWN};
        o->ret = o->unknown                      ? LC_INF
                 : op->return_us < op->invoke_us ? op->invoke_us
                                                 : op->return_us;
        if (op->kind != KV_GET && !(o->a = vtab_intern(&k->vt, op->arg, op->alen)))
            return -1;
        if (op->kind == KV_CAS && !(o->b = vtab_intern(&k->vt, op->arg2, op->a2len)))
            return -1;
        bool has_res = !o->unknown && ((op->kind == KV_GET && op->status == KV_OK) ||
                                       (op->kind == KV_CAS && op->status == KV_MISMATCH));
        if (has_res && !(o->r = vtab_intern(&k->vt, op->res, op->rlen)))
            return -1;
    }
    if (drop_blind_writes(k) < 0)
        return -1;
    bool used[256] = {false};
    for (size_t x = 0; x < k->nkops; x++) {
        const struct kop *o = &k->kops[x];
        uint32_t ids[3] = {o->a, o->b, o->r};
        for (int y = 0; y < 3; y++) {
            uint32_t len;
            const uint8_t *p = ids[y] ? vtab_bytes(&k->vt, ids[y], &len) : NULL;
            if (p && len)
                used[p[0]] = true;
        }
    }
    k->fresh_byte = -1;
    for (int b = 255; b >= 0 && k->fresh_byte < 0; b--)
        if (!used[b])
            k->fresh_byte = b;
    if (GROW(k->items, k->items_cap, k->nkops + 1))
        return -1;
    for (size_t x = 0; x < k->nkops; x++)
        k->items[x] = (struct item){.kop = (uint32_t)x, .unknown = k->kops[x].unknown};
    if (k->nkops > UINT32_MAX / 4)
        return -1;
    int v = search(k, k->items, (uint32_t)k->nkops, 0, budget, &kr->states);
    if (v < 0)
        return -1;
    kr->verdict = v;
    if (v == LC_VIOLATION)
        return find_window(k, budget, kr);
    return 0;
}

static int verdict_rank(int v)
{
    return v == LC_VIOLATION ? 2 : v == LC_UNDECIDED ? 1 : 0;
}

int lc_check(const struct lc_op *ops, size_t n, uint32_t max_value, uint64_t budget,
             struct lc_result *out)
{
    memset(out, 0, sizeof *out);
    if (!budget)
        budget = LC_DEFAULT_BUDGET;
    struct ref *refs = malloc((n ? n : 1) * sizeof *refs);
    struct group *groups = NULL;
    struct kctx k = {.max_value = max_value};
    if (!refs)
        return -1;
    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].outcome == LC_OK || ops[i].outcome == LC_UNKNOWN)
            refs[nr++] = (struct ref){.op = &ops[i], .idx = i};
    out->ops_checked = nr;
    qsort(refs, nr, sizeof *refs, ref_cmp);
    size_t ng = 0;
    groups = malloc((nr ? nr : 1) * sizeof *groups);
    if (!groups)
        goto err;
    for (size_t i = 0; i < nr; i++) {
        if (i == 0 || key_cmp(refs[i - 1].op, refs[i].op) != 0)
            groups[ng++] = (struct group){
                .from = i, .to = i, .first_inv = refs[i].op->invoke_us, .first_idx = refs[i].idx};
        groups[ng - 1].to = i + 1;
    }
    qsort(groups, ng, sizeof *groups, group_cmp);
    out->keys = calloc(ng ? ng : 1, sizeof *out->keys);
    if (!out->keys)
        goto err;
    out->nkeys = ng;
    for (size_t g = 0; g < ng; g++) {
        struct lc_key_result *kr = &out->keys[g];
        kr->key = refs[groups[g].from].op->key;
        kr->klen = refs[groups[g].from].op->klen;
        if (check_key(&k, refs + groups[g].from, groups[g].to - groups[g].from, budget, kr))
            goto err;
        out->states += kr->states;
        if (verdict_rank(kr->verdict) > verdict_rank(out->verdict))
            out->verdict = kr->verdict;
    }
    free(refs);
    free(groups);
    kctx_free(&k);
    return 0;
err:
    free(refs);
    free(groups);
    kctx_free(&k);
    lc_result_free(out);
    return -1;
}

void lc_result_free(struct lc_result *r)
{
    for (size_t i = 0; r->keys && i < r->nkeys; i++)
        free(r->keys[i].window);
    free(r->keys);
    memset(r, 0, sizeof *r);
}

/* ---- formatting ---- */

struct out {
    char *buf;
    size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL,
                      o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

#define LC_SHOW_MAX  40u
#define LC_SHOW_HEAD 32u

static void put_bytes(struct out *o, const uint8_t *p, uint32_t n)
{
    uint32_t show = n > LC_SHOW_MAX ? LC_SHOW_HEAD : n;
    put(o, "\"");
    for (uint32_t i = 0; i < show; i++) {
        if (p[i] == '"' || p[i] == '\\')
            put(o, "\\%c", p[i]);
        else if (p[i] >= 0x20 && p[i] < 0x7f)
            put(o, "%c", p[i]);
        else
            put(o, "\\x%02x", p[i]);
    }
    put(o, "\"");
    if (show < n)
        put(o, "...(%u bytes)", n);
}

static void put_time(struct out *o, int64_t us)
{
    uint64_t a = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
    put(o, "%s%llu.%03llu ms", us < 0 ? "-" : "", (unsigned long long)(a / 1000),
        (unsigned long long)(a % 1000));
}

int lc_op_format(char *buf, size_t cap, const struct lc_op *op)
{
    struct out o = {.buf = buf, .cap = cap, .len = 0};
    if (cap)
        buf[0] = '\0';
    const char *name = kv_op_name(op->kind);
    put(&o, "client %d op %lld: %s ", op->client, (long long)op->id, name ? name : "op?");
    put_bytes(&o, op->key, op->klen);
    if (op->kind == KV_PUT || op->kind == KV_APPEND || op->kind == KV_CAS) {
        put(&o, " ");
        put_bytes(&o, op->arg, op->alen);
    }
    if (op->kind == KV_CAS) {
        put(&o, " -> ");
        put_bytes(&o, op->arg2, op->a2len);
    }
    if (op->outcome == LC_FAIL) {
        put(&o, " = failed [");
    } else if (op->outcome == LC_UNKNOWN) {
        put(&o, " = unknown [");
    } else {
        const char *st = kv_status_name(op->status);
        if (st)
            put(&o, " = %s", st);
        else
            put(&o, " = status %d", op->status);
        if ((op->kind == KV_GET && op->status == KV_OK) ||
            (op->kind == KV_CAS && op->status == KV_MISMATCH)) {
            put(&o, " ");
            put_bytes(&o, op->res, op->rlen);
        }
        put(&o, " [");
    }
    put_time(&o, op->invoke_us);
    put(&o, ", ");
    if (op->outcome == LC_UNKNOWN)
        put(&o, "?");
    else
        put_time(&o, op->return_us);
    put(&o, "]");
    return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}
