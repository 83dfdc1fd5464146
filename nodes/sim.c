/* The simulator: see sim.h. Everything here is deterministic given the
 * seed: two PRNGs seeded from it (one for the network and random faults,
 * one for the machine timing model), one event heap ordered by (time,
 * insertion number). */
#include "nodes/sim.h"
#include "nodes/kvload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/wire.h" /* the drop reasons */
#include "nodes/pace.h"
#include "nodes/rng.h"

enum evk {
    EVK_DELIVER = 1, /* msg to node */
    EVK_TIMER,       /* core timer (id, gen) */
    EVK_REQUEST,     /* the workload asks for the CS */
    EVK_RELEASE,     /* the workload leaves the CS */
    EVK_FAULT,       /* scheduled fault #index */
    EVK_PEER_DOWN,   /* node learns that peer is down */
    EVK_PEER_UP,
    EVK_RESTART,     /* a randomly crashed node comes back */
    EVK_LINK_DOWN,   /* node stops hearing peer across a cut (index = the cut's epoch) */
    EVK_COMMAND,     /* a client submits its next command */
    EVK_SYNC,        /* node's sync is done (timer_gen: the writes it covers) */
    EVK_SYNC_LAZY,   /* node's lazy writes are due for their sync */
    EVK_SEND_FAILED, /* node's send of msg could not be made */
};

struct ev {
    int64_t t;
    uint64_t seq;
    int kind;
    int node;
    int incarnation; /* events for an earlier life of a node are void */
    int timer_id;
    uint64_t timer_gen;
    int index;
    int peer;
    struct algo_msg msg;
    uint8_t *payload; /* owned copy, or NULL */
    int64_t sent_us;  /* DELIVER: when it was sent (TR_RECV's a) */
    uint64_t silence; /* PEER_DOWN: which silence of the peer it reports */
};

/* ---- the machine timing model (sim.h) ----
 *
 * Each distribution is a quantile table: the time at cumulative
 * probability p, linear in between. Fitted to the measurements quoted in
 * sim.h; the tails are capped so that one draw cannot stall a schedule. */
struct quantile {
    double p;     /* where the segment starts (cumulative probability) */
    double us;    /* the time there */
    double slope; /* us per unit of p, to the next point */
};

/* One segment from (p0, us0) to (p1, us1); the last point has p = 1. */
/* clang-format off */
#define SEG(p0, u0, p1, u1) {(p0), (u0), ((double)(u1) - (double)(u0)) / ((p1) - (p0))}

static const struct quantile Q_PROC[] = {SEG(0, 1, 0.5, 2),       SEG(0.5, 2, 0.9, 4),
                                         SEG(0.9, 4, 0.99, 15),   SEG(0.99, 15, 0.999, 60),
                                         SEG(0.999, 60, 1, 200)};
static const struct quantile Q_HOP[] = {SEG(0, 2, 0.5, 5),        SEG(0.5, 5, 0.9, 9),
                                        SEG(0.9, 9, 0.99, 30),    SEG(0.99, 30, 0.999, 120),
                                        SEG(0.999, 120, 1, 400)};
static const struct quantile Q_WAKE[] = {SEG(0, 6, 0.5, 18),      SEG(0.5, 18, 0.9, 50),
                                         SEG(0.9, 50, 0.99, 300), SEG(0.99, 300, 0.999, 1000),
                                         SEG(0.999, 1000, 1, 2000)};
static const struct quantile Q_LATE[] = {SEG(0, 2, 0.5, 11),      SEG(0.5, 11, 0.9, 25),
                                         SEG(0.9, 25, 0.99, 200), SEG(0.99, 200, 0.999, 300),
                                         SEG(0.999, 300, 1, 1000)};
/* fdatasync of a small append on a shared machine's disk. */
static const struct quantile Q_SYNC[] = {SEG(0, 150, 0.5, 500),     SEG(0.5, 500, 0.9, 1000),
                                         SEG(0.9, 1000, 0.99, 3000), SEG(0.99, 3000, 1, SIM_SYNC_MAX_US)};
/* clang-format on */
#define QN(q) ((int)(sizeof(q) / sizeof((q)[0])))

static int64_t draw(struct dl_rng *r, const struct quantile *q, int n)
{
    double u = dl_rng_unit(r);
    int i = 0;
    while (i < n - 1 && u >= q[i + 1].p)
        i++;
    return (int64_t)(q[i].us + (u - q[i].p) * q[i].slope);
}

#define DRAW(s, q) draw(&(s)->trng, (q), QN(q))

struct hkey {
    int64_t t;
    uint64_t seq;
    uint32_t slot; /* in the pool */
};

enum nstate { N_UP = 0, N_PAUSED, N_DOWN };

/* Typed storage: an image of a node's persistent state. The durable image
 * keeps the entries' bytes (a restart gets them back); the written one,
 * which checks each storage action as it comes, only their terms and
 * hashes. */
struct sentry {
    int64_t term;
    int64_t hash; /* trace_hash of the command */
    uint32_t len;
    uint8_t *data; /* durable image only */
};

struct simg {
    int64_t term, vote, snap_index, snap_term;
    uint8_t *snap;
    uint32_t snap_len;
    struct sentry *e; /* entries snap_index + 1 .. snap_index + ne */
    int64_t ne, cape;
    bool data; /* keeps the bytes */
};

/* A storage action written and not yet durable (its own copy of the
 * payload). */
struct sop {
    int kind;
    int64_t index, term, vote;
    int count;
    uint8_t *data;
    uint32_t len;
};

/* An after_sync send held until the writes before it are durable. */
struct held {
    struct algo_msg msg;
    uint8_t *payload;
    uint64_t need; /* durable must reach this many writes */
};

struct sim;

/* The counting allocator a core gets as env.mem. Its blocks are linked,
 * so that what a core forgot is given back when it ends (as a process's
 * memory is at its exit). */
struct mblk {
    size_t size;
    struct mblk *prev, *next;
    size_t pad; /* 32 bytes: the block after it stays aligned */
};

struct memctx {
    struct sim *s;
    int id;
    size_t bytes;
    struct mblk *blocks;
};

/* A client operation. */
enum { OP_NONE = 0, OP_SUBMITTED, OP_OK, OP_FAIL, OP_TIMEOUT };
struct cop {
    int64_t invoked_us;
    int64_t index, term;
    int64_t hash;
    int answered_by;
    int state;
};

/* What the simulator knows of one log index. */
struct lidx {
    int64_t term;   /* from a commit or an apply (0: unknown) */
    int64_t hash;   /* the command applied */
    int applied_by; /* the first node that applied it (0: none) */
};

struct slink {
    uint8_t cut;
    uint32_t epoch; /* cuts begun on it: a LINK_DOWN is for one of them */
    int64_t since;  /* when the cut in force began */
    uint32_t loss_ppm, delay_us, jitter_us;
};

struct snode {
    void *core;
    int state;
    int incarnation;
    int64_t busy_until; /* machine model: the end of its last step's processing */
    uint64_t timer_gen[ALGO_MAX_TIMERS];
    /* Workload. */
    bool competes, wanting, in_cs, done;
    int left;
    int64_t key, gen;
    bool superseded; /* a newer generation took the resource from it */
    int64_t requested_at;
    bool fenced;     /* its entry was refused */
    int64_t read_counter;
    /* Persistent state (ACT_PERSIST): survives crashes. */
    uint8_t *persist;
    uint32_t persist_len;
    /* Events that arrived while paused, in order. */
    struct ev *deferred;
    int ndeferred, capdeferred;
    bool reported_down; /* peers were told it is down */
    uint64_t silence;   /* counts crashes and pauses: a PEER_DOWN is for one of them */
    /* Typed storage. */
    struct simg dur, wr;      /* durable; written (durable + unsynced) */
    struct sop *ops;          /* written, not yet durable, in order */
    int nops, capops;
    uint64_t written, durable; /* storage actions of this life: written, durable */
    bool syncing;             /* a sync is in flight */
    bool urgent;              /* written since the last sync began: not lazy */
    bool lazy_armed;          /* an EVK_SYNC_LAZY is scheduled */
    struct held *held;
    int nheld, capheld;
    struct algo_stored stored;
    int64_t max_commit; /* the highest commit index it announced, any life */
    /* Memory. */
    struct memctx memc;
    struct algo_mem mem;
    /* A client process. */
    bool client;
    struct cop *cops; /* [capcops]: the operations submitted */
    int nops_c, issued, ended, capcops;
    struct kvload *load; /* its key-value workload, and its last command */
    uint8_t *cmd;
    uint32_t cmd_len;
    struct pace pace;     /* when its next operation is due (pace.h) */
    int low;              /* the oldest operation not ended (1..) */
    bool cmd_pending;     /* an EVK_COMMAND is scheduled */
};

struct sim {
    const struct sim_config *cfg;
    struct sim_result *res;
    struct dl_rng rng;
    struct dl_rng trng; /* the machine timing model's draws */
    bool machine;       /* cfg->timing == SIM_TIMING_MACHINE */
    int n;
    int nproc;          /* servers and clients: n + env.clients */
    struct snode *node; /* [0..nproc] */
    struct hkey *heap;  /* [nheap] */
    struct ev *pool;    /* [capheap] event slots */
    uint32_t *freeslot; /* [nfree] unused slots */
    size_t nheap, capheap, nfree;
    uint64_t seq;
    int64_t now;
    struct algo_actions acts;
    int64_t *q_last;    /* [0..n] machine model: last arrival in each queue */
    int64_t *link_last; /* fifo: last arrival per link [from * (n+1) + to] */
    /* The network, per directed link [from * (n+1) + to]. A cut from -> to
     * hides from's heartbeats from to (as in the runtime, where a cut link
     * hides the peer's heartbeat stamps): to reports from down after
     * failure_timeout, and up again when the cut ends. */
    struct slink *link;
    bool *link_down;                      /* [node * (n+1) + peer]: reported down across a cut */
    int *hit;                             /* [nfaults]: the node each fault acted on */
    int paused_order[ALGO_MAX_NODES + 1]; /* paused nodes, most recent last */
    int npaused;
    int holder;
    int64_t holder_gen;
    int64_t max_gen;
    int64_t counter;
    int64_t max_token_gen;
    bool failed; /* out of memory */
    bool run_to_end; /* an algorithm with clients, run without any */
    struct slink client_link; /* every link to or from a client */
    struct lidx *idx;   /* [capidx]: what each log index was committed / applied as */
    int64_t capidx;
    struct {
        int64_t term;
        int node;
    } * leaders;        /* every (term, leader) seen */
    int nleaders, capleaders;
    bool applying;      /* inside apply(): no core may be stepped */
    bool changed;       /* a core stepped, or a node went down or came up, since
                           the invariants were last checked */
    bool any_competes;  /* a node has a mutex workload */
    long ops_left;      /* client operations not ended yet, all clients */
};

/* ---- the heap ----
 *
 * The heap orders small keys (time, seq, slot); the events themselves stay
 * in a pool of slots, so sifting moves 24 bytes, not a whole event. */

static bool key_before(const struct hkey *a, const struct hkey *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

/* Insert with the event's own seq (push() gives it a new one). */
static void heap_insert(struct sim *s, const struct ev *e)
{
    if (s->nfree == 0) {
        /* Grow the pool and the heap together: every slot may be queued. */
        size_t ncap = s->capheap ? s->capheap * 2 : 256;
        struct ev *np = realloc(s->pool, ncap * sizeof *np);
        if (np)
            s->pool = np;
        struct hkey *nh = np ? realloc(s->heap, ncap * sizeof *nh) : NULL;
        if (nh)
            s->heap = nh;
        uint32_t *nf = nh ? realloc(s->freeslot, ncap * sizeof *nf) : NULL;
        if (!nf) {
            s->failed = true;
            free(e->payload);
            return;
        }
        s->freeslot = nf;
        for (size_t k = ncap; k > s->capheap; k--)
            s->freeslot[s->nfree++] = (uint32_t)(k - 1);
        s->capheap = ncap;
    }
    uint32_t slot = s->freeslot[--s->nfree];
    s->pool[slot] = *e;
    struct hkey key = {.t = e->t, .seq = e->seq, .slot = slot};
    size_t i = s->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!key_before(&key, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = key;
}

/* Takes ownership of e->payload. */
static void push(struct sim *s, struct ev *e)
{
    e->seq = s->seq++;
    heap_insert(s, e);
}

static struct ev pop(struct sim *s)
{
    uint32_t slot = s->heap[0].slot;
    struct hkey last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && key_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!key_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap)
        s->heap[i] = last;
    s->freeslot[s->nfree++] = slot;
    return s->pool[slot];
}

/* The queued event at heap position i. */
static const struct ev *queued(const struct sim *s, size_t i)
{
    return &s->pool[s->heap[i].slot];
}

/* ---- records ---- */

static void record_c(struct sim *s, int ev, int node, int peer, int type, int64_t key, int aux,
                     int64_t a, int64_t b, int64_t c)
{
    if (!s->cfg->on_record)
        return;
    struct trace_rec r;
    memset(&r, 0, sizeof r);
    r.t_us = s->now;
    r.node = (uint16_t)node;
    r.ev = (uint16_t)ev;
    r.peer = (uint16_t)peer;
    r.type = (uint16_t)type;
    r.key = key;
    r.aux = aux;
    r.a = a;
    r.b = b;
    r.c = c;
    r.incarnation = node >= 1 && node <= s->nproc ? s->node[node].incarnation : 1;
    r.mark = TRACE_MARK;
    s->cfg->on_record(s->cfg->user, &r);
}

/* A record describing data (TR_INVOKE, TR_APPLY): b = its hash, aux = its
 * length, c = -1; on_record_data gets the data too. */
static void record_data(struct sim *s, int ev, int node, int64_t key, int64_t a, const void *data,
                        uint32_t len)
{
    if (!s->cfg->on_record && !s->cfg->on_record_data)
        return;
    struct trace_rec r;
    memset(&r, 0, sizeof r);
    r.t_us = s->now;
    r.node = (uint16_t)node;
    r.ev = (uint16_t)ev;
    r.key = key;
    r.a = a;
    r.b = trace_hash(data, len);
    r.aux = (int32_t)len;
    r.c = -1;
    r.incarnation = node >= 1 && node <= s->nproc ? s->node[node].incarnation : 1;
    r.mark = TRACE_MARK;
    if (s->cfg->on_record_data)
        s->cfg->on_record_data(s->cfg->user, &r, data, len);
    else
        s->cfg->on_record(s->cfg->user, &r);
}

static void record(struct sim *s, int ev, int node, int peer, int type, int64_t key, int aux,
                   int64_t a, int64_t b)
{
    record_c(s, ev, node, peer, type, key, aux, a, b, 0);
}

static void violate(struct sim *s, bool safety, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violate(struct sim *s, bool safety, const char *fmt, ...)
{
    if (safety)
        s->res->safe = false;
    else
        s->res->live = false;
    if (s->res->violation[0])
        return;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(s->res->violation, sizeof s->res->violation, "t=%.3fms seed=%llu: %s",
             (double)s->now / 1000.0, (unsigned long long)s->cfg->seed, what);
}

/* ---- nodes and their actions ---- */

static void step(struct sim *s, int id, const struct algo_event *ev);

/* What link l adds to a message sent now: delay + uniform[0, jitter]. */
static int64_t link_delay(struct sim *s, const struct slink *l)
{
    int64_t d = l->delay_us;
    if (l->jitter_us > 0)
        d += (int64_t)dl_rng_below(&s->rng, (uint64_t)l->jitter_us + 1);
    return d;
}

/* A timer of `after` us set now fires at this time (after 0: no timer). */
static int64_t timer_at(struct sim *s, int64_t after)
{
    if (after <= 0)
        return s->now;
    return s->now + after + (s->machine ? DRAW(s, Q_LATE) : 0);
}

/* When a node learns of a peer's silence that began now. Exact in both
 * models (sim.h): tests and experiments place pauses relative to it. */
static int64_t fd_down_after(struct sim *s)
{
    return s->cfg->failure_timeout_us;
}

/* `leave`: when the message leaves its sender (the end of the step's
 * processing in the machine model). */
static void send_msg(struct sim *s, int from, const struct algo_msg *m, int64_t leave)
{
    int to = m->to;
    s->res->messages++;
    record(s, TR_SEND, from, to, m->type, m->f[0], TRACE_MSG_F1, 0, m->f[1]);
    if (to < 1 || to > s->nproc || to == from)
        return;
    /* Clients' links are never cut and lose nothing (sim.h). */
    const struct slink *l =
        from <= s->n && to <= s->n ? &s->link[from * (s->n + 1) + to] : &s->client_link;
    struct ev e = {.kind = EVK_DELIVER, .node = to, .msg = *m};
    e.msg.from = (uint16_t)from;
    e.sent_us = s->now;
    if (s->machine) {
        /* The queue hop, or a wake-up if the receiver has been quiet; the
         * queue is FIFO per receiver, so never before what entered it
         * earlier (equal times keep insertion order). */
        int64_t quiet =
            s->node[to].busy_until > s->q_last[to] ? s->node[to].busy_until : s->q_last[to];
        int64_t arrive = leave + (leave - quiet > SIM_IDLE_US ? DRAW(s, Q_WAKE) : DRAW(s, Q_HOP));
        if (arrive < s->q_last[to])
            arrive = s->q_last[to];
        s->q_last[to] = arrive;
        e.t = arrive + link_delay(s, l);
    } else {
        int64_t d = link_delay(s, l);
        e.t = s->now + (d > 0 ? d : 1);
    }
    if (s->link_last) {
        /* FIFO per link: never earlier than the last message on it. */
        int64_t *last = &s->link_last[from * (s->nproc + 1) + to];
        if (e.t < *last)
            e.t = *last;
        *last = e.t;
    }
    if (m->len && m->payload) {
        e.payload = malloc(m->len);
        if (!e.payload) {
            s->failed = true;
            return;
        }
        memcpy(e.payload, m->payload, m->len);
        e.msg.payload = e.payload;
    }
    push(s, &e);
}

/* The critical resource, as in shm: fencing by generation. */
static void enter_cs(struct sim *s, int id, int64_t key, int64_t gen)
{
    struct snode *nd = &s->node[id];
    if (!nd->wanting || nd->in_cs) {
        violate(s, true, "node %d entered the CS without a pending request", id);
        return;
    }
    nd->in_cs = true;
    nd->key = key;
    nd->gen = gen;
    nd->superseded = false;
    nd->fenced = false;
    int aux = 0;
    bool fence = s->cfg->fencing && gen >= 0;
    if (fence && gen < s->max_gen) {
        /* A stale generation: refused, the node leaves at once. */
        nd->fenced = true;
        s->res->fenced++;
        aux = 2;
    } else {
        if (fence && gen > s->max_gen)
            s->max_gen = gen;
        if (s->holder) {
            struct snode *h = &s->node[s->holder];
            if (fence && s->holder_gen < gen) {
                /* The old holder's lease is void: its writes will be refused. */
                h->superseded = true;
                aux = 3;
            } else {
                violate(s, true, "nodes %d and %d are in the critical section at once", s->holder,
                        id);
                s->res->resource_violations++;
                aux = 1;
            }
        }
        s->holder = id;
        s->holder_gen = gen;
        nd->read_counter = s->counter;
        s->res->cs_entries++;
        s->res->entry_order = (s->res->entry_order ^ (uint64_t)id) * 1099511628211ULL;
    }
    record(s, TR_ENTER, id, 0, 0, key, aux, 0, gen);
    int64_t hold = nd->fenced ? 0 : s->cfg->cs_time_us;
    push(s, &(struct ev){.kind = EVK_RELEASE,
                         .node = id,
                         .incarnation = nd->incarnation,
                         .t = timer_at(s, hold)});
}

/* A timer id outside 0..ALGO_MAX_TIMERS-1 is a bug of the core: the run
 * fails, naming it (the action is not taken). */
static bool timer_id_ok(struct sim *s, int id, const struct algo_action *a)
{
    if (a->timer_id >= 0 && a->timer_id < ALGO_MAX_TIMERS)
        return true;
    violate(s, true, "node %d: %s timer id %d, outside 0..%d", id,
            a->kind == ACT_SET_TIMER ? "set" : "cancelled", a->timer_id, ALGO_MAX_TIMERS - 1);
    return false;
}


/* ---- memory (env.mem) ---- */

#define MEM_HDR sizeof(struct mblk)

static void mem_note(struct memctx *m)
{
    struct sim *s = m->s;
    if (m->bytes > s->res->peak_mem) {
        s->res->peak_mem = m->bytes;
        s->res->peak_mem_node = m->id;
    }
    if (s->cfg->mem_cap > 0 && m->bytes > s->cfg->mem_cap && !s->res->mem_over) {
        s->res->mem_over = true;
        violate(s, true, "node %d's core holds %zu bytes, over the cap of %zu", m->id, m->bytes,
                s->cfg->mem_cap);
    }
}

static void mblk_unlink(struct memctx *m, struct mblk *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        m->blocks = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

static void mblk_link(struct memctx *m, struct mblk *b)
{
    b->prev = NULL;
    b->next = m->blocks;
    if (m->blocks)
        m->blocks->prev = b;
    m->blocks = b;
}

static void *mem_realloc(void *ctx, void *p, size_t size)
{
    struct memctx *m = ctx;
    struct mblk *b = p ? (struct mblk *)((uint8_t *)p - MEM_HDR) : NULL;
    size_t old = b ? b->size : 0;
    if (size > SIZE_MAX - MEM_HDR)
        return NULL;
    if (b)
        mblk_unlink(m, b);
    if (size == 0) {
        free(b);
        m->bytes -= old;
        return NULL;
    }
    struct mblk *nb = realloc(b, size + MEM_HDR);
    if (!nb) {
        if (b)
            mblk_link(m, b);
        return NULL;
    }
    nb->size = size;
    mblk_link(m, nb);
    m->bytes = m->bytes - old + size;
    mem_note(m);
    return (uint8_t *)nb + MEM_HDR;
}

/* Give back what a core still holds; returns how many bytes that was. */
static size_t mem_reclaim(struct memctx *m)
{
    size_t held = m->bytes;
    while (m->blocks) {
        struct mblk *b = m->blocks;
        m->blocks = b->next;
        free(b);
    }
    m->bytes = 0;
    return held;
}

/* ---- typed storage ---- */

static void img_free(struct simg *g)
{
    for (int64_t i = 0; i < g->ne; i++)
        free(g->e[i].data);
    free(g->e);
    free(g->snap);
    bool data = g->data;
    memset(g, 0, sizeof *g);
    g->data = data;
}

static int64_t img_last(const struct simg *g)
{
    return g->snap_index + g->ne;
}

/* Term at index (the snapshot's at its index, 0 at 0), -1 outside. */
static int64_t img_term_at(const struct simg *g, int64_t i)
{
    if (i == g->snap_index)
        return g->snap_term;
    if (i > g->snap_index && i <= img_last(g))
        return g->e[i - g->snap_index - 1].term;
    return -1;
}

/* Drop the entries from position k (0-based) on. */
static void img_cut(struct simg *g, int64_t k)
{
    for (int64_t i = k; i < g->ne; i++)
        free(g->e[i].data);
    if (k < g->ne)
        g->ne = k;
}

/* Apply one storage action as ipc/storage.c does (storage.h); for an
 * append, only its first max_entries entries (-1: all). Returns 0, -EINVAL
 * (why says what the action got wrong) or -ENOMEM. */
static int img_apply(struct simg *g, const struct sop *op, int max_entries, char *why, size_t cap)
{
    switch (op->kind) {
    case ACT_STORE_TERM_VOTE:
        g->term = op->term;
        g->vote = op->vote;
        return 0;
    case ACT_STORE_APPEND: {
        if (op->index != img_last(g) + 1) {
            snprintf(why, cap, "append at %lld, the log ends at %lld", (long long)op->index,
                     (long long)img_last(g));
            return -EINVAL;
        }
        const uint8_t *p = op->data, *end = op->len ? op->data + op->len : op->data;
        struct algo_entry e;
        int k = 0;
        while (p < end && (max_entries < 0 || k < max_entries)) {
            if (!algo_entries_next(&p, end, &e)) {
                snprintf(why, cap, "append at %lld: entry %d is malformed", (long long)op->index,
                         k + 1);
                return -EINVAL;
            }
            if (g->ne == g->cape) {
                int64_t ncap = g->cape ? 2 * g->cape : 64;
                struct sentry *ne = realloc(g->e, (size_t)ncap * sizeof *ne);
                if (!ne)
                    return -ENOMEM;
                g->e = ne;
                g->cape = ncap;
            }
            struct sentry *x = &g->e[g->ne];
            x->term = e.term;
            x->len = e.len;
            x->hash = trace_hash(e.data, e.len);
            x->data = NULL;
            if (g->data && e.len) {
                x->data = malloc(e.len);
                if (!x->data)
                    return -ENOMEM;
                memcpy(x->data, e.data, e.len);
            }
            g->ne++;
            k++;
        }
        if (max_entries < 0 && (k != op->count || p != end)) {
            snprintf(why, cap, "append at %lld: %d entries said, %d found", (long long)op->index,
                     op->count, k);
            return -EINVAL;
        }
        return 0;
    }
    case ACT_STORE_TRUNCATE:
        if (op->index <= g->snap_index) {
            snprintf(why, cap, "truncate from %lld, inside the snapshot (up to %lld)",
                     (long long)op->index, (long long)g->snap_index);
            return -EINVAL;
        }
        img_cut(g, op->index - g->snap_index - 1);
        return 0;
    case ACT_STORE_SNAPSHOT: {
        if (op->index <= g->snap_index) {
            snprintf(why, cap, "snapshot at %lld, not newer than the one at %lld",
                     (long long)op->index, (long long)g->snap_index);
            return -EINVAL;
        }
        uint8_t *copy = NULL;
        if (g->data && op->len) {
            copy = malloc(op->len);
            if (!copy)
                return -ENOMEM;
            memcpy(copy, op->data, op->len);
        }
        /* InstallSnapshot, steps 6-7: keep what follows a matching entry,
         * else discard the whole log. */
        int64_t keep_from = op->index <= img_last(g) && img_term_at(g, op->index) == op->term
                                ? op->index - g->snap_index
                                : g->ne;
        for (int64_t i = 0; i < keep_from; i++)
            free(g->e[i].data);
        memmove(g->e, g->e + keep_from, (size_t)(g->ne - keep_from) * sizeof *g->e);
        g->ne -= keep_from;
        free(g->snap);
        g->snap = copy;
        g->snap_len = g->data ? op->len : 0;
        g->snap_index = op->index;
        g->snap_term = op->term;
        return 0;
    }
    default:
        return 0;
    }
}

/* The written image again equal to the durable one (after a crash). */
static int img_reset_to(struct simg *w, const struct simg *d)
{
    img_free(w);
    w->term = d->term;
    w->vote = d->vote;
    w->snap_index = d->snap_index;
    w->snap_term = d->snap_term;
    if (d->ne) {
        w->e = malloc((size_t)d->ne * sizeof *w->e);
        if (!w->e)
            return -ENOMEM;
        w->cape = d->ne;
        for (int64_t i = 0; i < d->ne; i++)
            w->e[i] = (struct sentry){.term = d->e[i].term, .hash = d->e[i].hash,
                                      .len = d->e[i].len};
        w->ne = d->ne;
    }
    return 0;
}

static bool stored_entry(const void *ctx, int64_t index, struct algo_entry *e)
{
    const struct simg *g = ctx;
    if (index <= g->snap_index || index > img_last(g))
        return false;
    const struct sentry *x = &g->e[index - g->snap_index - 1];
    e->term = x->term;
    e->len = x->len;
    e->data = x->data;
    return true;
}

static void ops_free(struct snode *nd)
{
    for (int i = 0; i < nd->nops; i++)
        free(nd->ops[i].data);
    nd->nops = 0;
}

static void held_free(struct snode *nd)
{
    for (int i = 0; i < nd->nheld; i++)
        free(nd->held[i].payload);
    nd->nheld = 0;
}

static void crash(struct sim *s, int id);
static void crash_as(struct sim *s, int id, int sig, int code);
static void step(struct sim *s, int id, const struct algo_event *ev);

/* A storage action of node id: written now (durable at once without
 * fsync). false: the write failed (store_fail) and the node stopped. */
static bool store_action(struct sim *s, int id, const struct algo_action *a)
{
    struct snode *nd = &s->node[id];
    if (s->cfg->store_fail > 0 && dl_rng_unit(&s->rng) < s->cfg->store_fail) {
        /* The runtime stops a node whose storage failed; it comes back
         * from what was durable. */
        s->res->log.store_failures++;
        crash_as(s, id, 0, 1);
        if (s->cfg->restart_after_us > 0)
            push(s, &(struct ev){.kind = EVK_RESTART,
                                 .node = id,
                                 .t = s->now + s->cfg->restart_after_us});
        return false;
    }
    struct sop op = {.kind = (int)a->kind,
                     .index = a->index,
                     .term = a->term,
                     .vote = a->vote,
                     .count = a->count,
                     .len = a->msg.len};
    if (a->msg.len) {
        op.data = malloc(a->msg.len);
        if (!op.data) {
            s->failed = true;
            return true;
        }
        memcpy(op.data, a->msg.payload, a->msg.len);
    }
    char why[128] = "";
    int rc = img_apply(&nd->wr, &op, -1, why, sizeof why);
    if (rc == 0 && !s->cfg->fsync)
        rc = img_apply(&nd->dur, &op, -1, why, sizeof why);
    if (rc < 0) {
        if (rc == -EINVAL)
            violate(s, true, "node %d: storage: %s", id, why);
        else
            s->failed = true;
        free(op.data);
        return true;
    }
    nd->written++;
    if (!algo_action_lazy(a))
        nd->urgent = true;
    if (!s->cfg->fsync) {
        nd->durable = nd->written;
        free(op.data);
        return true;
    }
    if (nd->nops == nd->capops) {
        int ncap = nd->capops ? 2 * nd->capops : 16;
        struct sop *no = realloc(nd->ops, (size_t)ncap * sizeof *no);
        if (!no) {
            free(op.data);
            s->failed = true;
            return true;
        }
        nd->ops = no;
        nd->capops = ncap;
    }
    nd->ops[nd->nops++] = op;
    return true;
}

/* Node id wrote something: a sync, unless one is in flight (group commit),
 * starting at `at` (the end of its step). Without fsync the writes are
 * durable already and the sync only reports it. Lazy writes alone (algo.h)
 * wait, as the runtime lets them: until ALGO_LAZY_SYNC_US after the step
 * that left them (EVK_SYNC_LAZY, force), or a write or a held send that
 * needs a sync. */
static void sync_start(struct sim *s, int id, int64_t at, bool wrote, bool force)
{
    struct snode *nd = &s->node[id];
    int64_t d = 0;
    if (s->cfg->fsync) {
        if (nd->syncing || nd->written == nd->durable)
            return;
        if (!force && !nd->urgent && nd->nheld == 0) {
            if (!nd->lazy_armed) {
                nd->lazy_armed = true;
                push(s, &(struct ev){.kind = EVK_SYNC_LAZY,
                                     .node = id,
                                     .incarnation = nd->incarnation,
                                     .t = at + ALGO_LAZY_SYNC_US});
            }
            return;
        }
        nd->syncing = true;
        nd->urgent = false;
        d = s->machine ? DRAW(s, Q_SYNC) : SIM_SYNC_EXACT_US;
    } else if (!wrote) {
        return;
    }
    push(s, &(struct ev){.kind = EVK_SYNC,
                         .node = id,
                         .incarnation = nd->incarnation,
                         .timer_gen = nd->written,
                         .t = at + d});
}

static bool hold(struct sim *s, struct snode *nd, const struct algo_msg *m)
{
    if (nd->nheld == nd->capheld) {
        int ncap = nd->capheld ? 2 * nd->capheld : 16;
        struct held *nh = realloc(nd->held, (size_t)ncap * sizeof *nh);
        if (!nh)
            return false;
        nd->held = nh;
        nd->capheld = ncap;
    }
    struct held *h = &nd->held[nd->nheld];
    h->msg = *m;
    h->payload = NULL;
    if (m->len) {
        h->payload = malloc(m->len);
        if (!h->payload)
            return false;
        memcpy(h->payload, m->payload, m->len);
    }
    h->msg.payload = h->payload;
    h->need = nd->written;
    nd->nheld++;
    return true;
}

/* A send of node id leaving at `leave`; between servers it may fail
 * (send_fail), which the sender hears as EV_SEND_FAILED. */
static void send_or_fail(struct sim *s, int id, const struct algo_msg *m, int64_t leave)
{
    if (s->cfg->send_fail > 0 && id <= s->n && m->to >= 1 && m->to <= s->n &&
        dl_rng_unit(&s->rng) < s->cfg->send_fail) {
        s->res->log.send_failed++;
        struct ev e = {.kind = EVK_SEND_FAILED,
                       .node = id,
                       .incarnation = s->node[id].incarnation,
                       .msg = *m,
                       .t = leave};
        e.msg.from = (uint16_t)id;
        e.msg.len = 0;
        e.msg.payload = NULL;
        push(s, &e);
        return;
    }
    send_msg(s, id, m, leave);
}

/* A sync of node id is done: what it covered is durable, the sends held
 * for it leave, and the node hears EV_PERSISTED. */
static void sync_done(struct sim *s, int id, uint64_t upto)
{
    struct snode *nd = &s->node[id];
    if (s->cfg->fsync) {
        int k = 0;
        char why[128];
        for (; k < nd->nops && nd->durable < upto; k++, nd->durable++) {
            if (img_apply(&nd->dur, &nd->ops[k], -1, why, sizeof why) < 0)
                s->failed = true; /* checked when written: only memory */
            free(nd->ops[k].data);
        }
        memmove(nd->ops, nd->ops + k, (size_t)(nd->nops - k) * sizeof *nd->ops);
        nd->nops -= k;
        nd->syncing = false;
    }
    s->res->log.syncs++;
    int64_t leave = s->now > nd->busy_until ? s->now : nd->busy_until;
    int kept = 0;
    for (int i = 0; i < nd->nheld; i++) {
        struct held *h = &nd->held[i];
        if (h->need > nd->durable) {
            nd->held[kept++] = *h;
            continue;
        }
        if (s->machine)
            leave++;
        send_or_fail(s, id, &h->msg, leave);
        free(h->payload);
    }
    nd->nheld = kept;
    nd->busy_until = leave;
    int64_t last = img_last(&nd->dur);
    struct algo_event ev = {.kind = EV_PERSISTED,
                            .now_us = s->now,
                            .index = last,
                            .term = last > 0 ? img_term_at(&nd->dur, last) : 0};
    step(s, id, &ev);
    if (nd->state == N_UP)
        sync_start(s, id, nd->busy_until, false, false); /* what was written meanwhile */
}

/* A crash: the unsynced writes are lost (torn_writes: a random prefix of
 * them survives), and so are the sends held for them. */
static void storage_crash(struct sim *s, struct snode *nd)
{
    if (nd->nops && s->cfg->torn_writes) {
        int k = (int)dl_rng_below(&s->rng, (uint64_t)nd->nops + 1);
        int part = -1; /* entries of op k that made it, if it is an append */
        if (k < nd->nops && nd->ops[k].kind == ACT_STORE_APPEND && nd->ops[k].count > 1)
            part = (int)dl_rng_below(&s->rng, (uint64_t)nd->ops[k].count);
        char why[128];
        for (int i = 0; i < k; i++)
            if (img_apply(&nd->dur, &nd->ops[i], -1, why, sizeof why) < 0)
                s->failed = true;
        if (part > 0 && img_apply(&nd->dur, &nd->ops[k], part, why, sizeof why) < 0)
            s->failed = true;
        if (k > 0 || part > 0)
            s->res->log.torn++;
    }
    ops_free(nd);
    held_free(nd);
    nd->written = nd->durable = 0;
    nd->syncing = nd->urgent = nd->lazy_armed = false;
    if (img_reset_to(&nd->wr, &nd->dur) < 0)
        s->failed = true;
}

/* ---- the replicated log's checks ---- */

static struct lidx *lidx_at(struct sim *s, int id, int64_t index)
{
    if (index < 1 || index > SIM_MAX_INDEX) {
        violate(s, true, "node %d: log index %lld out of range (1..%d)", id, (long long)index,
                SIM_MAX_INDEX);
        return NULL;
    }
    if (index >= s->capidx) {
        int64_t ncap = s->capidx ? s->capidx : 1024;
        while (ncap <= index)
            ncap *= 2;
        struct lidx *ni = realloc(s->idx, (size_t)ncap * sizeof *ni);
        if (!ni) {
            s->failed = true;
            return NULL;
        }
        memset(ni + s->capidx, 0, (size_t)(ncap - s->capidx) * sizeof *ni);
        s->idx = ni;
        s->capidx = ncap;
    }
    return &s->idx[index];
}

/* Entries a truncate or a snapshot of node id drops from its written
 * log (a leader's uncommitted tail rolled back, a log compacted). */
static void log_store_note(struct sim *s, int id, const struct algo_action *a)
{
    const struct simg *w = &s->node[id].wr;
    struct sim_log *lg = &s->res->log;
    if (a->kind == ACT_STORE_SNAPSHOT) {
        lg->snapshots++;
        if (a->index > img_last(w))
            lg->snap_installs++; /* beyond its log: one it was sent */
    } else if (a->kind == ACT_STORE_TRUNCATE && a->index <= img_last(w) &&
               a->index > w->snap_index) {
        int64_t k = img_last(w) - a->index + 1;
        record(s, TR_TRUNCATE, id, 0, 0, img_term_at(w, a->index), 0, a->index, img_last(w));
        lg->truncated += (uint64_t)k;
        if (k > lg->max_truncate)
            lg->max_truncate = k;
    }
}

static void log_commit(struct sim *s, int id, const struct algo_action *a)
{
    record(s, TR_COMMIT, id, 0, 0, a->term, 0, a->index, 0);
    struct snode *nd = &s->node[id];
    if (a->index > nd->max_commit)
        nd->max_commit = a->index;
    if (a->index > s->res->log.commit_index)
        s->res->log.commit_index = a->index;
    if (a->index == 0)
        return;
    struct lidx *x = lidx_at(s, id, a->index);
    if (!x)
        return;
    if (x->term && x->term != a->term)
        violate(s, true, "node %d committed index %lld in term %lld, known as term %lld", id,
                (long long)a->index, (long long)a->term, (long long)x->term);
    else
        x->term = a->term;
}

static void log_apply(struct sim *s, int id, const struct algo_action *a)
{
    s->res->log.applies++;
    record_data(s, TR_APPLY, id, a->term, a->index, a->msg.payload, a->msg.len);
    struct lidx *x = lidx_at(s, id, a->index);
    if (!x)
        return;
    int64_t h = trace_hash(a->msg.payload, a->msg.len);
    if (x->applied_by == 0) {
        if (x->term && x->term != a->term)
            violate(s, true, "node %d applied index %lld of term %lld, committed as term %lld",
                    id, (long long)a->index, (long long)a->term, (long long)x->term);
        x->term = a->term;
        x->hash = h;
        x->applied_by = id;
    } else if (x->hash != h || x->term != a->term) {
        violate(s, true,
                "state machine safety: node %d applied index %lld (term %lld) unlike node %d "
                "(term %lld)",
                id, (long long)a->index, (long long)a->term, x->applied_by, (long long)x->term);
    }
}

static void log_role(struct sim *s, int id, int role, int64_t term)
{
    struct sim_log *lg = &s->res->log;
    if (term > lg->max_term)
        lg->max_term = term;
    if (role != ROLE_LEADER)
        return;
    int same = 0;
    for (int i = 0; i < s->nleaders; i++)
        if (s->leaders[i].term == term) {
            if (s->leaders[i].node == id)
                return; /* said again */
            same++;
        }
    if (s->nleaders == s->capleaders) {
        int ncap = s->capleaders ? 2 * s->capleaders : 16;
        void *nl = realloc(s->leaders, (size_t)ncap * sizeof *s->leaders);
        if (!nl) {
            s->failed = true;
            return;
        }
        s->leaders = nl;
        s->capleaders = ncap;
    }
    s->leaders[s->nleaders].term = term;
    s->leaders[s->nleaders].node = id;
    s->nleaders++;
    lg->elections++;
    if (lg->first_leader_us < 0)
        lg->first_leader_us = s->now;
    if (same + 1 > lg->max_leaders_per_term)
        lg->max_leaders_per_term = same + 1;
    if (same > 0)
        violate(s, true, "election safety: node %d is a second leader of term %lld", id,
                (long long)term);
}

/* ---- clients ---- */

static int64_t client_every(const struct sim *s)
{
    if (s->cfg->rate <= 0)
        return 0;
    double every = 1e6 / s->cfg->rate;
    return every < 1 ? 1 : every > 1e15 ? (int64_t)1e15 : (int64_t)every;
}

static void client_submit_one(struct sim *s, int id, bool more);

/* Operations from the oldest not ended to the last submitted. */
static int64_t client_span(const struct snode *nd) { return nd->issued + 1 - nd->low; }

/* An EVK_COMMAND for client id at t, unless one is scheduled. */
static void client_wake(struct sim *s, int id, int64_t t)
{
    struct snode *nd = &s->node[id];
    if (nd->cmd_pending)
        return;
    nd->cmd_pending = true;
    push(s, &(struct ev){.kind = EVK_COMMAND, .node = id, .incarnation = nd->incarnation, .t = t});
}

/* EVK_COMMAND: every operation that is due, as the client processes of a
 * real run submit them (pace.h: the window, the rate, a pipelining
 * client's schedule and its catching up); those due together are sent
 * together (EV_COMMAND's "more follow"). The next one due later gets a
 * timer (which fires late, as timers do). */
static void client_submit(struct sim *s, int id)
{
    struct snode *nd = &s->node[id];
    nd->cmd_pending = false;
    if (nd->low == 0) {
        nd->low = 1;
        nd->pace = (struct pace){.interval_us = client_every(s),
                                 .total = nd->nops_c,
                                 .window = s->cfg->env.client_window > 1 ? s->cfg->env.client_window
                                                                         : 1};
    }
    int64_t next = 0;
    while (!s->failed && pace_due(&nd->pace, s->now, client_span(nd), &next)) {
        client_submit_one(s, id, pace_take(&nd->pace, s->now, client_span(nd)));
    }
    if (next && !s->failed)
        client_wake(s, id, timer_at(s, next - s->now));
}

static void client_submit_one(struct sim *s, int id, bool more)
{
    struct snode *nd = &s->node[id];
    if (nd->issued >= nd->nops_c)
        return;
    if (nd->issued == nd->capcops) {
        /* Grown as operations are submitted: a workload sized to outlast
         * the run (a huge quota) costs only what it submits. */
        int ncap = nd->capcops ? 2 * nd->capcops : 64;
        struct cop *nc = realloc(nd->cops, (size_t)ncap * sizeof *nc);
        if (!nc) {
            s->failed = true;
            return;
        }
        nd->cops = nc;
        nd->capcops = ncap;
    }
    if (!nd->load) {
        nd->load = malloc(sizeof *nd->load);
        nd->cmd = malloc(KV_MAX_CMD);
        if (!nd->load || !nd->cmd) {
            s->failed = true;
            return;
        }
        kvload_init(nd->load, s->cfg->seed, id - s->n, s->cfg->kv_keys, s->cfg->kv_mix,
                    s->cfg->kv_value_size);
    }
    int op = ++nd->issued;
    const uint8_t *cmd = nd->cmd;
    uint32_t len = nd->cmd_len = kvload_next(nd->load, op, nd->cmd);
    struct cop *c = &nd->cops[op - 1];
    memset(c, 0, sizeof *c);
    c->state = OP_SUBMITTED;
    c->invoked_us = s->now;
    c->hash = trace_hash(cmd, (size_t)len);
    struct algo_event ev = {.kind = EV_COMMAND, .now_us = s->now};
    ev.msg.from = ev.msg.to = (uint16_t)id;
    ev.msg.f[0] = op;
    ev.msg.f[1] = more;
    ev.msg.len = (uint32_t)len;
    ev.msg.payload = (const uint8_t *)cmd;
    step(s, id, &ev);
}

static void client_outcome(struct sim *s, int id, const struct algo_action *a, int64_t busy)
{
    struct snode *nd = &s->node[id];
    if (!nd->client) {
        violate(s, true, "node %d reported a client operation's outcome", id);
        return;
    }
    int k = id - s->n;
    if (a->key < 1 || a->key > nd->issued) {
        violate(s, true, "client %d: an outcome for operation %lld, never submitted", k,
                (long long)a->key);
        return;
    }
    struct cop *c = &nd->cops[a->key - 1];
    struct sim_log *lg = &s->res->log;
    int state = 0;
    switch (a->outcome) {
    case ALGO_OP_INVOKE:
        lg->invoked++;
        record_data(s, TR_INVOKE, id, a->key, 0, a->msg.payload, a->msg.len);
        return;
    case ALGO_OP_OK:
        lg->ok++;
        state = OP_OK;
        if (nd->load && a->key == nd->issued)
            kvload_learn(nd->load, nd->cmd, nd->cmd_len, a->msg.payload, a->msg.len);
        if (a->msg.len)
            record_data(s, TR_RESULT, id, a->key, 0, a->msg.payload, a->msg.len);
        record(s, TR_OK, id, a->msg.from, 0, a->key, 0, a->index, a->term);
        break;
    case ALGO_OP_FAIL:
        lg->failed++;
        state = OP_FAIL;
        record(s, TR_FAIL, id, a->msg.from, 0, a->key, 0, a->index, a->term);
        break;
    case ALGO_OP_TIMEOUT:
        lg->timed_out++;
        state = OP_TIMEOUT;
        record(s, TR_TIMEOUT, id, 0, 0, a->key, 0, 0, 0);
        break;
    default:
        violate(s, true, "client %d: unknown outcome %d", k, a->outcome);
        return;
    }
    if (c->state != OP_SUBMITTED) {
        violate(s, true, "client %d: operation %lld ended twice", k, (long long)a->key);
        return;
    }
    c->state = state;
    c->index = a->index;
    c->term = a->term;
    c->answered_by = a->msg.from;
    nd->ended++;
    s->ops_left--;
    while (nd->low <= nd->issued && nd->cops[nd->low - 1].state != OP_SUBMITTED)
        nd->low++;
    if (state == OP_OK) {
        struct lidx *x = a->index >= 1 && a->index < s->capidx ? &s->idx[a->index] : NULL;
        if (x && x->applied_by && (x->hash != c->hash || x->term != a->term))
            violate(s, true,
                    "client %d: operation %lld acknowledged at index %lld (term %lld), which "
                    "holds another command",
                    k, (long long)a->key, (long long)a->index, (long long)a->term);
    }
    int64_t next;
    if (!nd->cmd_pending && (pace_due(&nd->pace, busy, client_span(nd), &next) || next)) {
        /* The next one once the client is free, or when it is due (a
         * timer: it fires late). */
        client_wake(s, id, next > busy ? timer_at(s, next - s->now) : busy);
    }
}

static void apply(struct sim *s, int id)
{
    struct snode *nd = &s->node[id];
    /* Nothing below steps a core (timers and releases become events), so
     * the list stays valid while it is applied. */
    int n = s->acts.n;
    struct algo_action *local = s->acts.a;
    if (s->acts.overflow)
        violate(s, true, "node %d: action buffer overflow (%d)", id, s->acts.overflow);
    /* Every message here was sent by a correct core: one that a core
     * refuses as out of range means a sender or a receiver is wrong. */
    if (s->acts.malformed)
        violate(s, true, "node %d refused a message of a correct peer as malformed", id);
    /* Machine model: the step takes its processing time, after the end of
     * any step before it at this node, and each send one microsecond more;
     * a message leaves when its send is done. */
    int64_t busy = s->now;
    if (s->machine) {
        if (nd->busy_until > busy)
            busy = nd->busy_until;
        busy += DRAW(s, Q_PROC);
    }
    /* Payloads point into the step's arena: every use below copies them
     * (a message, a held send, a write) before the next step. */
    s->applying = true;
    bool wrote = false;
    for (int i = 0; i < n; i++) {
        struct algo_action *a = &local[i];
        switch (a->kind) {
        case ACT_SEND:
            if (a->after_sync && nd->durable < nd->written) {
                /* Held until the writes before it are durable. */
                if (!hold(s, nd, &a->msg))
                    s->failed = true;
                break;
            }
            if (s->machine)
                busy++;
            send_or_fail(s, id, &a->msg, busy);
            break;
        case ACT_SET_TIMER:
            if (!timer_id_ok(s, id, a))
                break;
            nd->timer_gen[a->timer_id]++;
            push(s, &(struct ev){.kind = EVK_TIMER,
                                 .node = id,
                                 .incarnation = nd->incarnation,
                                 .timer_id = a->timer_id,
                                 .timer_gen = nd->timer_gen[a->timer_id],
                                 .t = timer_at(s, a->after_us > 0 ? a->after_us : 1)});
            break;
        case ACT_CANCEL_TIMER:
            if (timer_id_ok(s, id, a))
                nd->timer_gen[a->timer_id]++;
            break;
        case ACT_ENTER_CS:
            enter_cs(s, id, a->term, a->gen);
            break;
        case ACT_ROLE:
            record(s, TR_ROLE, id, 0, 0, a->term, a->role, 0, 0);
            if (id <= s->n)
                log_role(s, id, a->role, a->term);
            break;
        case ACT_LOG:
            break;
        case ACT_PERSIST: {
            uint8_t *copy = a->msg.len ? malloc(a->msg.len) : NULL;
            if (a->msg.len && !copy) {
                s->failed = true;
                break;
            }
            if (a->msg.len)
                memcpy(copy, a->msg.payload, a->msg.len);
            free(nd->persist);
            nd->persist = copy;
            nd->persist_len = a->msg.len;
            break;
        }
        case ACT_STORE_TERM_VOTE:
        case ACT_STORE_APPEND:
        case ACT_STORE_TRUNCATE:
        case ACT_STORE_SNAPSHOT:
            if (id > s->n) {
                violate(s, true, "client %d wrote to storage", id - s->n);
                break;
            }
            wrote = true;
            log_store_note(s, id, a);
            if (!store_action(s, id, a)) {
                /* The node stopped at the failed write: the rest of the
                 * step never happened. */
                s->applying = false;
                return;
            }
            break;
        case ACT_COMMIT:
            log_commit(s, id, a);
            break;
        case ACT_APPLY:
            log_apply(s, id, a);
            break;
        case ACT_CLIENT:
            client_outcome(s, id, a, busy);
            break;
        default:
            break;
        }
    }
    s->applying = false;
    nd->busy_until = busy;
    if (wrote || nd->nheld)
        sync_start(s, id, busy, wrote, false);
}

static const struct algo_ops *node_ops(const struct sim *s, int id)
{
    return id > s->n ? s->cfg->ops->client : s->cfg->ops;
}

static void step(struct sim *s, int id, const struct algo_event *ev)
{
    /* The actions being applied point into the one arena. */
    if (s->applying) {
        violate(s, true, "the simulator stepped node %d inside another step", id);
        return;
    }
    algo_actions_clear(&s->acts);
    node_ops(s, id)->step(s->node[id].core, ev, &s->acts);
    if (id <= s->n)
        s->changed = true; /* (the invariants are about the servers) */
    apply(s, id);
}

/* A core's end: fini, and what it still holds is a leak (a core frees
 * everything it took from env.mem). */
static void core_fini(struct sim *s, int id)
{
    struct snode *nd = &s->node[id];
    const struct algo_ops *ops = node_ops(s, id);
    if (!nd->core)
        return;
    if (ops->fini)
        ops->fini(nd->core);
    size_t kept = mem_reclaim(&nd->memc);
    if (kept)
        violate(s, true, "node %d: %s's core still held %zu bytes after fini", id, ops->name,
                kept);
}

static int start_node(struct sim *s, int id)
{
    struct snode *nd = &s->node[id];
    const struct algo_ops *ops = node_ops(s, id);
    if (!nd->core) {
        nd->core = calloc(1, ops->state_size);
        if (!nd->core)
            return -ENOMEM;
        nd->memc = (struct memctx){.s = s, .id = id};
        nd->mem = (struct algo_mem){.realloc = mem_realloc, .ctx = &nd->memc};
        nd->dur.data = true;
    } else {
        core_fini(s, id);
        memset(nd->core, 0, ops->state_size);
    }
    struct algo_env env = s->cfg->env;
    env.id = id;
    env.n = s->n;
    env.incarnation = nd->incarnation;
    env.seed = s->cfg->seed * 1000003u + (uint64_t)id * 7919u + (uint64_t)nd->incarnation;
    env.initial_clock = s->cfg->initial_clock && id <= s->n ? s->cfg->initial_clock[id] : 0;
    env.restored = nd->persist;
    env.restored_len = nd->persist_len;
    env.mem = &nd->mem;
    env.stored = NULL;
    if (nd->incarnation > 1) {
        /* What survived in typed storage. */
        const struct simg *d = &nd->dur;
        nd->stored = (struct algo_stored){.term = d->term,
                                          .vote = d->vote,
                                          .snap_index = d->snap_index,
                                          .snap_term = d->snap_term,
                                          .snap = d->snap,
                                          .snap_len = d->snap_len,
                                          .first_index = d->snap_index + 1,
                                          .last_index = img_last(d),
                                          .entry = stored_entry,
                                          .ctx = d};
        env.stored = &nd->stored;
    }
    if (ops->init(nd->core, &env) < 0)
        return -EINVAL;
    nd->state = N_UP;
    nd->wanting = nd->in_cs = false;
    record(s, TR_START, id, 0, 0, 0, 0, 0, 0);
    struct algo_event ev = {.kind = EV_START, .now_us = s->now};
    step(s, id, &ev);
    if (nd->client)
        return 0;
    /* Peers it should already know to be down: silent ones, and those
     * across a cut that it had already stopped hearing, or would have by
     * now (a cut that began while it was down: its detector finds the
     * peer's heartbeat stale); a cut younger than the timeout is noticed
     * when the timeout has passed since it began. */
    for (int k = 1; k <= s->n; k++) {
        if (k == id)
            continue;
        const struct slink *l = &s->link[k * (s->n + 1) + id];
        bool *known = &s->link_down[id * (s->n + 1) + k];
        if (!*known && l->cut && s->cfg->failure_timeout_us > 0 && s->node[id].incarnation > 1) {
            if (s->now - l->since >= fd_down_after(s))
                *known = true;
            else
                push(s, &(struct ev){.kind = EVK_LINK_DOWN,
                                     .node = id,
                                     .peer = k,
                                     .index = (int)(l->epoch & INT32_MAX),
                                     .t = l->since + fd_down_after(s)});
        }
        if ((s->node[k].state != N_UP && s->node[k].reported_down) || *known) {
            struct algo_event pd = {.kind = EV_PEER_DOWN, .now_us = s->now, .peer = k};
            step(s, id, &pd);
        }
    }
    return 0;
}

/* The next request, `at` (think time is a timer: see timer_at). */
static void schedule_request(struct sim *s, int id, int64_t at)
{
    struct snode *nd = &s->node[id];
    if (nd->left > 0)
        push(s, &(struct ev){
                    .kind = EVK_REQUEST, .node = id, .incarnation = nd->incarnation, .t = at});
    else if (!nd->done) {
        nd->done = true;
        record(s, TR_DONE, id, 0, 0, 0, 0, 0, 0);
    }
}

/* PEER_DOWN after the failure detector's timeout, PEER_UP 1 us later. */
static void tell_peers(struct sim *s, int who, int kind)
{
    for (int k = 1; k <= s->n; k++)
        if (k != who)
            push(s, &(struct ev){.kind = kind,
                                 .node = k,
                                 .peer = who,
                                 .incarnation = s->node[who].incarnation,
                                 .silence = s->node[who].silence,
                                 .t = s->now + (kind == EVK_PEER_DOWN ? fd_down_after(s) : 1)});
}

static void unpause_order(struct sim *s, int id)
{
    for (int i = 0; i < s->npaused; i++)
        if (s->paused_order[i] == id) {
            memmove(&s->paused_order[i], &s->paused_order[i + 1],
                    (size_t)(s->npaused - i - 1) * sizeof(int));
            s->npaused--;
            return;
        }
}

static void crash(struct sim *s, int id)
{
    crash_as(s, id, 9, 0);
}

/* A crash by signal sig (9: SIGKILL), or an exit with code (sig 0). */
static void crash_as(struct sim *s, int id, int sig, int code)
{
    struct snode *nd = &s->node[id];
    if (nd->state == N_DOWN)
        return;
    record(s, TR_CRASH, id, 0, 0, 0, sig, code, 0);
    s->changed = true;
    storage_crash(s, nd);
    s->res->crashes++;
    if (nd->state == N_PAUSED)
        unpause_order(s, id);
    /* What waited for it is lost with it, like a message to a dead node. */
    for (int i = 0; i < nd->ndeferred; i++) {
        struct ev *d = &nd->deferred[i];
        if (d->kind == EVK_DELIVER) {
            s->res->dropped++;
            record(s, TR_DROP, id, d->msg.from, d->msg.type, d->msg.f[0], 0, 0, 0);
        }
        free(d->payload);
    }
    nd->silence++;
    nd->state = N_DOWN;
    nd->in_cs = nd->wanting = false;
    nd->ndeferred = 0;
    for (int i = 0; i < ALGO_MAX_TIMERS; i++)
        nd->timer_gen[i]++;
    if (s->holder == id)
        s->holder = 0; /* released by its holder's death, as in the runtime */
    if (s->cfg->failure_timeout_us > 0)
        tell_peers(s, id, EVK_PEER_DOWN);
}

static void restart(struct sim *s, int id)
{
    struct snode *nd = &s->node[id];
    if (nd->state != N_DOWN)
        return;
    record(s, TR_RESTART, id, 0, 0, 0, 0, nd->incarnation + 1, 0);
    nd->incarnation++;
    s->res->restarts++;
    if (start_node(s, id) < 0) {
        s->failed = true;
        return;
    }
    tell_peers(s, id, EVK_PEER_UP);
    nd->reported_down = false;
    nd->done = false;
    schedule_request(s, id, s->now);
}

static int find_role(struct sim *s, int role)
{
    if (!s->cfg->ops->inspect)
        return 0;
    for (int k = 1; k <= s->n; k++) {
        if (s->node[k].state == N_DOWN)
            continue;
        struct algo_inspect in;
        memset(&in, 0, sizeof in);
        s->cfg->ops->inspect(s->node[k].core, &in);
        if (in.role == role || (role == ROLE_TOKEN_HOLDER && in.holds_token))
            return k;
    }
    return 0;
}

/* Set link a -> b to the given state, traced as TR_LINK when it changed
 * (trace_all: even if not). A cut's beginning and end reach b's failure
 * detector. */
static void set_link(struct sim *s, int a, int b, const struct net_change *st, bool trace_all)
{
    if (a < 1 || b < 1 || a > s->n || b > s->n || a == b)
        return;
    struct slink *l = &s->link[a * (s->n + 1) + b];
    bool cut = st->cut != 0;
    bool changed = (l->cut != 0) != cut || l->loss_ppm != st->loss_ppm ||
                   l->delay_us != st->delay_us || l->jitter_us != st->jitter_us;
    if (changed || trace_all)
        record_c(s, TR_LINK, 0, a, 0, b, cut, st->loss_ppm, st->delay_us, st->jitter_us);
    l->loss_ppm = st->loss_ppm > NET_PPM ? NET_PPM : st->loss_ppm;
    l->delay_us = st->delay_us;
    l->jitter_us = st->jitter_us;
    if (cut && !l->cut) {
        l->cut = 1;
        l->epoch++;
        l->since = s->now;
        if (s->cfg->failure_timeout_us > 0 && !s->link_down[b * (s->n + 1) + a])
            push(s, &(struct ev){.kind = EVK_LINK_DOWN,
                                 .node = b,
                                 .peer = a,
                                 .index = (int)(l->epoch & INT32_MAX),
                                 .t = s->now + fd_down_after(s)});
    } else if (!cut && l->cut) {
        l->cut = 0;
        if (s->link_down[b * (s->n + 1) + a]) {
            /* Reachable again: heard from at once. */
            s->link_down[b * (s->n + 1) + a] = false;
            push(s, &(struct ev){.kind = EVK_PEER_UP, .node = b, .peer = a, .t = s->now + 1});
        }
    }
}

/* Link a -> b as it is, with its cut replaced. */
static void set_cut(struct sim *s, int a, int b, bool cut)
{
    const struct slink *l = &s->link[a * (s->n + 1) + b];
    struct net_change st = {.from = (uint16_t)a,
                            .to = (uint16_t)b,
                            .cut = cut,
                            .loss_ppm = l->loss_ppm,
                            .delay_us = l->delay_us,
                            .jitter_us = l->jitter_us};
    set_link(s, a, b, &st, false);
}

static void fault(struct sim *s, int index)
{
    const struct sim_fault *f = &s->cfg->faults[index];
    int id = f->node;
    if (f->of > 0)
        id = f->of <= s->cfg->nfaults ? s->hit[f->of - 1] : 0;
    else if (id == 0 && f->kind == SIM_RESUME && s->npaused > 0)
        id = s->paused_order[s->npaused - 1]; /* wake what a role-targeted pause stopped */
    else if (id == 0 && f->role > 0)
        id = find_role(s, f->role);
    s->hit[index] = id;
    if (!f->silent)
        record_c(s, TR_FAULT, 0, id, 0, 0, f->label, f->number, f->occurrence, f->undo);
    if (f->kind == SIM_PARTITION || f->kind == SIM_HEAL) {
        /* isolate: the target (a node, by role, or of) and `with` more
         * (the lowest other ids) on one side, everyone else on the other,
         * as the supervisor cuts a partition by role; no target: nothing. */
        bool iso = f->kind == SIM_PARTITION && f->isolate;
        uint8_t side[ALGO_MAX_NODES + 1];
        if (iso) {
            if (id < 1 || id > s->n)
                return;
            memset(side, 0, sizeof side);
            side[id] = 1;
            for (int k = 1, more = f->with; k <= s->n && more > 0; k++)
                if (!side[k]) {
                    side[k] = 1;
                    more--;
                }
        }
        const uint8_t *g = iso ? side : f->group;
        for (int a = 1; a <= s->n; a++)
            for (int b = 1; b <= s->n; b++)
                if (a != b)
                    set_cut(s, a, b, f->kind == SIM_PARTITION && g[a] != g[b]);
        return;
    }
    if (f->kind == SIM_NET) {
        for (int i = 0; i < f->nnet && f->net; i++)
            set_link(s, f->net[i].from, f->net[i].to, &f->net[i], true);
        return;
    }
    if (id < 1 || id > s->n)
        return;
    struct snode *nd = &s->node[id];
    switch (f->kind) {
    case SIM_CRASH:
        crash(s, id);
        break;
    case SIM_RESTART:
        restart(s, id);
        break;
    case SIM_PAUSE:
        if (nd->state != N_UP)
            break;
        nd->state = N_PAUSED;
        nd->silence++;
        s->paused_order[s->npaused++] = id;
        record(s, TR_PAUSE, id, 0, 0, 0, 19, 0, 0);
        if (s->cfg->failure_timeout_us > 0)
            tell_peers(s, id, EVK_PEER_DOWN);
        break;
    case SIM_RESUME:
        if (nd->state != N_PAUSED)
            break;
        nd->state = N_UP;
        unpause_order(s, id);
        record(s, TR_RESUME, id, 0, 0, 0, 18, 0, 0);
        /* What waited is handled now, in the order it arrived. */
        for (int i = 0; i < nd->ndeferred; i++) {
            struct ev e = nd->deferred[i];
            e.t = s->now;
            push(s, &e);
        }
        nd->ndeferred = 0;
        if (nd->reported_down)
            tell_peers(s, id, EVK_PEER_UP);
        nd->reported_down = false;
        break;
    }
}

static void defer(struct sim *s, struct snode *nd, struct ev *e)
{
    if (nd->ndeferred == nd->capdeferred) {
        int ncap = nd->capdeferred ? nd->capdeferred * 2 : 32;
        struct ev *nd2 = realloc(nd->deferred, (size_t)ncap * sizeof *nd2);
        if (!nd2) {
            s->failed = true;
            free(e->payload);
            return;
        }
        nd->deferred = nd2;
        nd->capdeferred = ncap;
    }
    nd->deferred[nd->ndeferred++] = *e;
    e->payload = NULL; /* ownership moved */
}

static void release(struct sim *s, int id)
{
    struct snode *nd = &s->node[id];
    int64_t written = 0;
    int aux = 0;
    if (nd->fenced) {
        aux = 2;
    } else if (nd->superseded || (s->cfg->fencing && nd->gen >= 0 && nd->gen < s->max_gen)) {
        s->res->fenced++; /* its write is refused: the counter stays intact */
        aux = 2;
    } else {
        s->counter = nd->read_counter + 1;
        written = s->counter;
        s->res->exits++;
    }
    if (s->holder == id)
        s->holder = 0;
    record(s, TR_EXIT, id, 0, 0, nd->key, aux, written, nd->gen);
    nd->in_cs = false;
    nd->wanting = false;
    nd->left--;
    struct algo_event ev = {.kind = EV_RELEASE, .now_us = s->now};
    step(s, id, &ev);
    schedule_request(s, id, timer_at(s, s->cfg->think_time_us));
}

static void handle(struct sim *s, struct ev *e)
{
    int id = e->node;
    struct snode *nd = id >= 1 && id <= s->nproc ? &s->node[id] : NULL;
    switch (e->kind) {
    case EVK_FAULT:
        fault(s, e->index);
        return;
    case EVK_RESTART:
        restart(s, id);
        return;
    default:
        break;
    }
    if (!nd)
        return;
    if (nd->state == N_DOWN) {
        if (e->kind == EVK_DELIVER) {
            s->res->dropped++;
            record(s, TR_DROP, id, e->msg.from, e->msg.type, e->msg.f[0], 0, 0, 0);
        }
        return;
    }
    if (e->kind != EVK_DELIVER && e->kind != EVK_PEER_DOWN && e->kind != EVK_PEER_UP &&
        e->kind != EVK_LINK_DOWN && e->incarnation != nd->incarnation)
        return; /* meant for an earlier life (peer and link events are about the peer, and
                   checked below; a link event once dropped here, so partitions never
                   reached the failure detector) */
    if (nd->state == N_PAUSED) {
        defer(s, nd, e);
        return;
    }
    if (e->t < nd->busy_until) {
        /* Still processing an earlier step: the event waits, keeping its
         * place among the others that wait (its seq). */
        e->t = nd->busy_until;
        heap_insert(s, e);
        e->payload = NULL; /* ownership moved */
        s->res->steps--;   /* not handled yet: counted when it is */
        return;
    }
    switch (e->kind) {
    case EVK_DELIVER: {
        int from = e->msg.from;
        /* The link as it is now, at the receiver (sim.h). */
        const struct slink *l = from >= 1 && from <= s->n && id <= s->n
                                    ? &s->link[from * (s->n + 1) + id]
                                    : NULL;
        int why = 0;
        if (l && l->cut)
            why = WIRE_DROP_PARTITION;
        else if (l && l->loss_ppm &&
                 (l->loss_ppm >= NET_PPM || dl_rng_below(&s->rng, NET_PPM) < l->loss_ppm))
            why = WIRE_DROP_LOSS;
        if (why) {
            s->res->dropped++;
            if (why == WIRE_DROP_PARTITION)
                s->res->dropped_cut++;
            else
                s->res->dropped_loss++;
            record(s, TR_DROP, id, from, e->msg.type, e->msg.f[0], why, 0, 0);
            return;
        }
        record(s, TR_RECV, id, from, e->msg.type, e->msg.f[0], TRACE_MSG_F1, e->sent_us,
               e->msg.f[1]);
        struct algo_event ev = {.kind = EV_MESSAGE, .now_us = s->now, .msg = e->msg};
        step(s, id, &ev);
        break;
    }
    case EVK_TIMER: {
        if (e->timer_gen != nd->timer_gen[e->timer_id])
            return; /* cancelled or re-armed */
        struct algo_event ev = {.kind = EV_TIMER, .now_us = s->now, .timer_id = e->timer_id};
        step(s, id, &ev);
        break;
    }
    case EVK_REQUEST: {
        if (nd->wanting || nd->in_cs || nd->left <= 0)
            return;
        nd->wanting = true;
        nd->requested_at = s->now;
        s->res->requests++;
        record(s, TR_REQUEST, id, 0, 0, 0, 0, 0, 0);
        struct algo_event ev = {.kind = EV_REQUEST, .now_us = s->now};
        step(s, id, &ev);
        if (s->cfg->crash_prob > 0 && dl_rng_unit(&s->rng) < s->cfg->crash_prob) {
            int victim = 1 + (int)dl_rng_below(&s->rng, (uint64_t)s->n);
            crash(s, victim);
            if (s->cfg->restart_after_us > 0)
                push(s, &(struct ev){.kind = EVK_RESTART,
                                     .node = victim,
                                     .t = s->now + s->cfg->restart_after_us});
        }
        break;
    }
    case EVK_RELEASE:
        if (nd->in_cs)
            release(s, id);
        break;
    case EVK_COMMAND:
        if (nd->client)
            client_submit(s, id);
        break;
    case EVK_SYNC:
        sync_done(s, id, e->timer_gen);
        break;
    case EVK_SYNC_LAZY:
        nd->lazy_armed = false;
        if (nd->state == N_UP)
            sync_start(s, id, s->now > nd->busy_until ? s->now : nd->busy_until, false, true);
        break;
    case EVK_SEND_FAILED: {
        struct algo_event ev = {.kind = EV_SEND_FAILED, .now_us = s->now, .msg = e->msg};
        step(s, id, &ev);
        break;
    }
    case EVK_PEER_DOWN: {
        struct snode *p = &s->node[e->peer];
        /* Only if the peer is still silent: crashed or paused since then. */
        if (p->state == N_UP || p->incarnation != e->incarnation || p->silence != e->silence)
            return;
        p->reported_down = true;
        record(s, TR_PEER_DOWN, id, e->peer, 0, 0, 0, 0, 0);
        struct algo_event ev = {.kind = EV_PEER_DOWN, .now_us = s->now, .peer = e->peer};
        step(s, id, &ev);
        break;
    }
    case EVK_LINK_DOWN: {
        /* Still cut off since this cut began, and still believed up? */
        const struct slink *l = &s->link[e->peer * (s->n + 1) + id];
        if (!l->cut || e->index != (int)(l->epoch & INT32_MAX) ||
            s->link_down[id * (s->n + 1) + e->peer])
            return;
        s->link_down[id * (s->n + 1) + e->peer] = true;
        record(s, TR_PEER_DOWN, id, e->peer, 0, 0, 0, 0, 0);
        struct algo_event ev = {.kind = EV_PEER_DOWN, .now_us = s->now, .peer = e->peer};
        step(s, id, &ev);
        break;
    }
    case EVK_PEER_UP: {
        struct snode *p = &s->node[e->peer];
        if (p->state != N_UP || s->link_down[id * (s->n + 1) + e->peer])
            return; /* down, or still unreachable across a partition */
        record(s, TR_PEER_UP, id, e->peer, 0, 0, 0, 0, 0);
        struct algo_event ev = {.kind = EV_PEER_UP, .now_us = s->now, .peer = e->peer};
        step(s, id, &ev);
        break;
    }
    default:
        break;
    }
}

/* Tokens of the newest generation, held or in flight: at most one. */
static void count_tokens(struct sim *s)
{
    const struct algo_ops *ops = s->cfg->ops;
    if (!ops->inspect || !ops->token_msg)
        return;
    int64_t maxg = s->max_token_gen;
    int held[ALGO_MAX_NODES + 1];
    int count = 0;
    for (int k = 1; k <= s->n; k++) {
        held[k] = 0;
        if (s->node[k].state == N_DOWN)
            continue;
        struct algo_inspect in;
        memset(&in, 0, sizeof in);
        ops->inspect(s->node[k].core, &in);
        if (!in.holds_token)
            continue;
        if (in.token_gen > maxg) {
            maxg = in.token_gen;
            count = 0;
        }
        if (in.token_gen == maxg) {
            count++;
            held[k] = 1;
        }
    }
    for (size_t i = 0; i < s->nheap; i++) {
        const struct ev *e = queued(s, i);
        int64_t g;
        if (e->kind != EVK_DELIVER || !ops->token_msg(&e->msg, &g))
            continue;
        if (s->node[e->node].state == N_DOWN)
            continue; /* it will be lost */
        if (g > maxg) {
            maxg = g;
            count = 0;
        }
        if (g == maxg)
            count++;
    }
    s->max_token_gen = maxg;
    if (count > s->res->max_valid_tokens)
        s->res->max_valid_tokens = count;
    if (count > 1)
        violate(s, true, "%d live tokens of the newest generation", count);
    (void)held;
}

/* The algorithm's own invariant (algo_ops.invariant), after every step. */
static void check_invariant(struct sim *s)
{
    const struct algo_ops *ops = s->cfg->ops;
    if (!ops->invariant || !s->res->safe)
        return;
    /* Only what the core reads is filled in: this runs after every step. */
    const void *cores[ALGO_MAX_NODES + 1];
    cores[0] = NULL;
    for (int k = 1; k <= s->n; k++)
        cores[k] = s->node[k].state == N_DOWN ? NULL : s->node[k].core;
    char why[128];
    why[0] = '\0';
    if (!ops->invariant(cores, s->n, why, sizeof why))
        violate(s, true, "%s invariant: %s", ops->name, why[0] ? why : "does not hold");
}

static bool mutex_over(const struct sim *s)
{
    for (int k = 1; k <= s->n && s->any_competes; k++) {
        const struct snode *nd = &s->node[k];
        if (nd->competes && nd->state != N_DOWN && (nd->left > 0 || nd->in_cs))
            return false;
    }
    return true;
}

static bool clients_over(const struct sim *s)
{
    return s->ops_left <= 0;
}

static bool workload_over(const struct sim *s)
{
    return mutex_over(s) && clients_over(s);
}

/* Is a fault in force at the end that a workload cannot be expected to
 * get past: a server down or paused, a link between servers cut or losing
 * everything? */
static bool permanent_fault(const struct sim *s)
{
    for (int a = 1; a <= s->n; a++) {
        if (s->node[a].state != N_UP)
            return true;
        for (int b = 1; b <= s->n; b++) {
            const struct slink *l = &s->link[a * (s->n + 1) + b];
            if (a != b && (l->cut || l->loss_ppm >= NET_PPM))
                return true;
        }
    }
    return false;
}

/* The end of a run with a replicated log: acknowledged commands, the
 * logs' agreement, unanswered operations. */
static void log_final(struct sim *s)
{
    struct sim_log *lg = &s->res->log;
    lg->permanent_fault = permanent_fault(s);
    lg->logs_agree = true;
    /* Every live node's log agrees, up to its commit index, with the
     * other live nodes' (the entries' bytes) and with the term each index
     * was committed or applied in. (An entry's bytes are the core's: a
     * command may be wrapped, so they are not compared with the command
     * applied.) */
    const struct algo_ops *ops = s->cfg->ops;
    int64_t *ref = NULL; /* [capidx * 2]: term, hash of the first holder */
    if (ops->inspect && s->capidx > 0)
        ref = calloc((size_t)s->capidx * 2, sizeof *ref);
    for (int k = 1; k <= s->n && ref; k++) {
        struct snode *nd = &s->node[k];
        if (nd->state == N_DOWN)
            continue;
        struct algo_inspect in;
        memset(&in, 0, sizeof in);
        ops->inspect(nd->core, &in);
        if (in.role == ROLE_LEADER && nd->state == N_UP && in.term >= lg->leader_term_at_end) {
            lg->leader_at_end = k;
            lg->leader_term_at_end = in.term;
        }
        const struct simg *w = &nd->wr;
        int64_t top = in.commit_index < img_last(w) ? in.commit_index : img_last(w);
        if (top >= s->capidx)
            top = s->capidx - 1;
        for (int64_t i = w->snap_index + 1; i <= top; i++) {
            const struct sentry *x = &w->e[i - w->snap_index - 1];
            const struct lidx *l = &s->idx[i];
            bool bad = l->term && x->term != l->term;
            if (ref[2 * i])
                bad = bad || x->term != ref[2 * i] || x->hash != ref[2 * i + 1];
            else {
                ref[2 * i] = x->term;
                ref[2 * i + 1] = x->hash;
            }
            if (bad && lg->logs_agree) {
                lg->logs_agree = false;
                violate(s, true, "node %d's log differs at committed index %lld (term %lld)", k,
                        (long long)i, (long long)x->term);
            }
        }
    }
    free(ref);
    /* Acknowledged commands: applied at their index, and an entry of their
     * term durable there on a majority (or inside their snapshots). */
    int majority = s->n / 2 + 1;
    int64_t oldest = -1;
    /* A client workload runs until it is answered or cut off: an operation
     * submitted less than the patience (or the client's own timeout, if
     * shorter) before the end was merely in flight. */
    int64_t young = s->cfg->patience_us;
    if (young > 0 && s->cfg->env.client_timeout_us > 0 && s->cfg->env.client_timeout_us < young)
        young = s->cfg->env.client_timeout_us;
    uint64_t old = 0;
    for (int c = s->n + 1; c <= s->nproc; c++) {
        struct snode *cl = &s->node[c];
        for (int op = 0; op < cl->issued; op++) {
            const struct cop *o = &cl->cops[op];
            if (o->state == OP_SUBMITTED) {
                lg->unanswered++;
                if (young > 0 && s->now - o->invoked_us < young)
                    continue;
                old++;
                if (oldest < 0 || o->invoked_us < oldest)
                    oldest = o->invoked_us;
                continue;
            }
            if (o->state != OP_OK || o->index == 0)
                continue; /* index 0: a read answered without the log (local reads) */
            const struct lidx *l = o->index >= 1 && o->index < s->capidx ? &s->idx[o->index] : NULL;
            bool lost = !l || !l->applied_by || l->hash != o->hash || l->term != o->term;
            int holders = 0;
            for (int k = 1; k <= s->n && !lost; k++) {
                const struct simg *d = &s->node[k].dur;
                if (o->index <= d->snap_index)
                    holders++;
                else if (o->index <= img_last(d)) {
                    const struct sentry *x = &d->e[o->index - d->snap_index - 1];
                    holders += x->term == o->term;
                }
            }
            if (lost || holders < majority) {
                lg->acked_lost++;
                violate(s, true,
                        "client %d: operation %d, acknowledged at index %lld (term %lld), is "
                        "lost (%s)",
                        c - s->n, op + 1, (long long)o->index, (long long)o->term,
                        lost ? "not applied there" : "not durable on a majority");
            }
        }
    }
    /* Older ones: a liveness failure, unless a fault in force at the end
     * excuses them (then undecided: pending). */
    if (old == 0)
        return;
    if (lg->permanent_fault) {
        s->res->pending += old;
        return;
    }
    int64_t waited = s->now - oldest;
    violate(s, false,
            "%llu client operation%s unanswered at the end, the oldest for %.1f ms, with no "
            "fault in force (%s)",
            (unsigned long long)old, old == 1 ? "" : "s", (double)waited / 1000.0,
            sim_end_name(s->res->end));
}

const char *sim_end_name(int end)
{
    switch (end) {
    case SIM_END_DONE: return "workload done";
    case SIM_END_DEADLOCK: return "deadlock";
    case SIM_END_DURATION: return "duration";
    case SIM_END_STEPS: return "step limit";
    case SIM_END_ERROR: return "error";
    default: return "unknown";
    }
}

void sim_config_defaults(struct sim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_time_us = 60 * 1000000LL;
    cfg->max_steps = 10 * 1000 * 1000;
}

int sim_run(const struct sim_config *cfg, struct sim_result *res)
{
    memset(res, 0, sizeof *res);
    res->safe = res->live = true;
    int n = cfg->env.n;
    int clients = cfg->ops && cfg->ops->client && cfg->env.clients > 0 ? cfg->env.clients : 0;
    if (!cfg->ops || n < 1 || n > ALGO_MAX_NODES || n + clients > ALGO_MAX_NODES) {
        snprintf(res->violation, sizeof res->violation,
                 "bad configuration (n = %d, clients = %d: at most %d processes)", n, clients,
                 ALGO_MAX_NODES);
        return -EINVAL;
    }
    res->log.first_leader_us = -1;
    res->log.logs_agree = true;
    struct sim *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cfg = cfg;
    s->res = res;
    s->n = n;
    s->nproc = n + clients;
    s->run_to_end = cfg->ops->client && clients == 0;
    s->client_link.delay_us = (uint32_t)(cfg->delay_us > 0 ? cfg->delay_us : 0);
    s->client_link.jitter_us = (uint32_t)(cfg->jitter_us > 0 ? cfg->jitter_us : 0);
    s->machine = cfg->timing == SIM_TIMING_MACHINE;
    res->entry_order = res->schedule = 1469598103934665603ULL;
    for (int k = 0; k <= ALGO_MAX_NODES; k++)
        res->pending_since[k] = -1;
    dl_rng_seed(&s->rng, cfg->seed);
    dl_rng_seed(&s->trng, cfg->seed ^ 0x7469d1a9c0ffee11ULL);
    /* Sized for n: a schedule of a small cluster stays small (and fast). */
    s->node = calloc((size_t)s->nproc + 1, sizeof *s->node);
    s->q_last = calloc((size_t)s->nproc + 1, sizeof *s->q_last);
    s->link_down = calloc((size_t)(n + 1) * (size_t)(n + 1), sizeof *s->link_down);
    s->link = calloc((size_t)(n + 1) * (size_t)(n + 1), sizeof *s->link);
    s->hit = calloc(cfg->nfaults > 0 ? (size_t)cfg->nfaults : 1, sizeof *s->hit);
    int rc = s->node && s->q_last && s->link_down && s->link && s->hit
                 ? algo_actions_init(&s->acts, s->nproc)
                 : -ENOMEM;
    if (rc == 0) {
        /* Every link starts with [network]'s settings, then initial_net. */
        uint32_t ppm = cfg->loss >= 1   ? NET_PPM
                       : cfg->loss > 0 ? (uint32_t)(cfg->loss * NET_PPM + 0.5)
                                       : 0;
        for (int a = 1; a <= n; a++)
            for (int b = 1; b <= n; b++)
                s->link[a * (n + 1) + b] = (struct slink){
                    .loss_ppm = ppm,
                    .delay_us = (uint32_t)(cfg->delay_us > 0 ? cfg->delay_us : 0),
                    .jitter_us = (uint32_t)(cfg->jitter_us > 0 ? cfg->jitter_us : 0)};
        for (int i = 0; i < cfg->ninitial_net && cfg->initial_net; i++)
            set_link(s, cfg->initial_net[i].from, cfg->initial_net[i].to, &cfg->initial_net[i],
                     true);
    }
    if (rc == 0 && cfg->fifo) {
        s->link_last = calloc((size_t)(s->nproc + 1) * (size_t)(s->nproc + 1),
                              sizeof *s->link_last);
        if (!s->link_last)
            rc = -ENOMEM;
    }
    for (int k = 1; k <= n && rc == 0; k++) {
        struct snode *nd = &s->node[k];
        nd->incarnation = 1;
        struct algo_env env = cfg->env;
        env.id = k;
        nd->competes = cfg->ops->competes(&env, k) && (!cfg->requesters || cfg->requesters[k]);
        nd->left = nd->competes ? cfg->requests : 0;
        s->any_competes = s->any_competes || nd->competes;
        rc = start_node(s, k);
    }
    for (int c = 1; c <= clients && rc == 0; c++) {
        /* Client c's share of the requests. */
        struct snode *nd = &s->node[n + c];
        nd->incarnation = 1;
        nd->client = true;
        int total = cfg->requests > 0 ? cfg->requests : 0;
        nd->nops_c = total / clients + (c <= total % clients);
        s->ops_left += nd->nops_c;
        rc = start_node(s, n + c);
    }
    if (rc < 0) {
        snprintf(res->violation, sizeof res->violation, "%s",
                 rc == -EINVAL ? "a core refused its parameters" : "out of memory");
        rc = rc == -EINVAL ? rc : -ENOMEM;
        goto out;
    }
    for (int i = 0; i < cfg->nfaults; i++)
        push(s, &(struct ev){.kind = EVK_FAULT, .index = i, .t = cfg->faults[i].at_us});
    /* The first requests: the start of the run reaches the nodes within
     * 100 us (both models). */
    for (int k = 1; k <= n; k++)
        schedule_request(s, k, 1 + (int64_t)dl_rng_below(&s->rng, 100));
    for (int k = n + 1; k <= s->nproc; k++) {
        if (s->node[k].nops_c == 0)
            continue;
        s->node[k].cmd_pending = true;
        push(s, &(struct ev){.kind = EVK_COMMAND,
                             .node = k,
                             .incarnation = 1,
                             .t = 1 + (int64_t)dl_rng_below(&s->rng, 100)});
    }
    res->end = 0;
    while (!s->failed) {
        if (workload_over(s) && s->now > 0 && !s->run_to_end) {
            res->end = SIM_END_DONE;
            break;
        }
        if (s->nheap == 0) {
            res->end = workload_over(s) && !s->run_to_end ? SIM_END_DONE : SIM_END_DEADLOCK;
            break;
        }
        if (res->steps >= cfg->max_steps) {
            res->end = SIM_END_STEPS;
            break;
        }
        if (s->heap[0].t > cfg->max_time_us) {
            /* The run stops at its duration, as a real run does. */
            res->end = SIM_END_DURATION;
            if (s->now < cfg->max_time_us)
                s->now = cfg->max_time_us;
            break;
        }
        struct ev e = pop(s);
        s->now = e.t;
        res->steps++;
        /* The interleaving: which event happened where, in what order (not
         * when: a shifted start would make every schedule look new). */
        res->schedule = (res->schedule ^
                         ((uint64_t)e.kind << 16 ^ (uint64_t)e.node << 8 ^ (uint64_t)e.msg.from)) *
                        1099511628211ULL;
        handle(s, &e);
        free(e.payload);
        /* The checks look at the cores and the messages in flight: only
         * what changed them can change their verdict (an event that was
         * void, a message dropped, a pause, changes neither). */
        if (s->changed || s->cfg->ops->token_msg) {
            count_tokens(s);
            check_invariant(s);
            s->changed = false;
        }
    }
    if (s->failed)
        res->end = SIM_END_ERROR;
    res->end_us = s->now;
    res->completed = workload_over(s);
    res->counter = s->counter;
    /* Liveness: requests of nodes that are up at the end and never granted. */
    int starved = 0;
    int64_t longest = 0;
    for (int k = 1; k <= n; k++) {
        struct snode *nd = &s->node[k];
        if (nd->state == N_UP && nd->wanting && !nd->in_cs) {
            res->pending++;
            res->pending_since[k] = nd->requested_at;
            int64_t waited = s->now - nd->requested_at;
            if (waited > longest) {
                longest = waited;
                starved = k;
            }
        }
        /* Every node not down ends its trace as a node process does. */
        if (nd->state != N_DOWN)
            record(s, TR_STOP, k, 0, 0, 0, 0, 0, 0);
    }
    for (int k = n + 1; k <= s->nproc; k++)
        record(s, TR_STOP, k, 0, 0, 0, 0, 0, 0);
    if (cfg->patience_us <= 0 && !mutex_over(s))
        violate(s, false, "the workload did not finish (%d requests pending at live nodes; %s)",
                (int)res->pending, sim_end_name(res->end));
    else if (cfg->patience_us > 0 && res->end == SIM_END_DEADLOCK && res->pending > 0)
        violate(s, false, "nothing left to happen with %d requests pending at live nodes (deadlock)",
                (int)res->pending);
    else if (cfg->patience_us > 0 && starved && longest > cfg->patience_us)
        violate(s, false, "node %d waited %.1f ms for the critical section and never got it",
                starved, (double)longest / 1000.0);
    if (cfg->ops->client)
        log_final(s);
    if ((uint64_t)s->counter != res->exits)
        violate(s, true, "the counter is %lld but %llu critical sections completed",
                (long long)s->counter, (unsigned long long)res->exits);
    if (s->failed) {
        rc = -ENOMEM;
        snprintf(res->violation, sizeof res->violation, "out of memory");
    }
out:
    for (int k = 1; k <= s->nproc && s->node; k++) {
        struct snode *nd = &s->node[k];
        core_fini(s, k);
        free(nd->core);
        free(nd->persist);
        img_free(&nd->dur);
        img_free(&nd->wr);
        ops_free(nd);
        free(nd->ops);
        held_free(nd);
        free(nd->held);
        free(nd->cops);
        free(nd->load);
        free(nd->cmd);
        for (int i = 0; i < nd->ndeferred; i++)
            free(nd->deferred[i].payload);
        free(nd->deferred);
    }
    while (s->nheap) {
        struct ev e = pop(s);
        free(e.payload);
    }
    free(s->heap);
    free(s->pool);
    free(s->freeslot);
    free(s->link_last);
    free(s->link_down);
    free(s->link);
    free(s->hit);
    free(s->q_last);
    free(s->node);
    free(s->idx);
    free(s->leaders);
    algo_actions_free(&s->acts);
    free(s);
    return rc;
}
