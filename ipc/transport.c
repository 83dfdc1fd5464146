#include "ipc/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ipc/mq.h"
#include "ipc/util.h"

static void count(struct transport *t, int c, uint64_t by)
{
    atomic_fetch_add_explicit(&t->run->node[t->self].cnt[c], by, memory_order_relaxed);
}

static void set_backlog_counters(struct transport *t)
{
    struct shm_node *me = &t->run->node[t->self];
    atomic_store_explicit(&me->cnt[CNT_BACKLOG_NOW], t->backlog_total, memory_order_relaxed);
    if (t->backlog_total > atomic_load_explicit(&me->cnt[CNT_BACKLOG_HWM], memory_order_relaxed))
        atomic_store_explicit(&me->cnt[CNT_BACKLOG_HWM], t->backlog_total,
                              memory_order_relaxed);
}

/* Try to put one encoded message into the peer's queue: 1 sent, 0 full. */
static int try_send(struct transport_peer *p, const void *msg, size_t len)
{
    for (;;) {
        if (mq_send(p->q, msg, len, 0) == 0)
            return 1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return 0;
        return -errno;
    }
}

static void bulk_release(struct transport *t, int slot, uint64_t seq);
static void delay_release(struct transport *t);
static void delay_discard(struct transport *t, int err);

/* A message that will never be sent: free the bulk slot it references. */
static void release_bulk_of(struct transport *t, const uint8_t *msg, uint32_t len)
{
    struct wire_hdr h;
    if (len < sizeof h + sizeof(struct wire_bulk))
        return;
    memcpy(&h, msg, sizeof h);
    if (!(h.flags & WIRE_F_BULK))
        return;
    struct wire_bulk d;
    memcpy(&d, msg + sizeof h, sizeof d);
    if (d.slot < SHM_BULK_SLOTS)
        bulk_release(t, (int)d.slot, d.seq);
}

/* Count a send-side drop and tell the hook (h: the message's header). */
static void drop_hdr(struct transport *t, const struct wire_hdr *h, int err)
{
    count(t, CNT_DROPPED, 1);
    count(t, CNT_SEND_DROPPED, 1);
    if (t->on_drop)
        t->on_drop(t->drop_arg, h, err);
}

/* Drop an encoded message (its bulk slot, if any, is given back). */
static void drop_encoded(struct transport *t, const uint8_t *msg, uint32_t len, int err)
{
    release_bulk_of(t, msg, len);
    struct wire_hdr h = {0};
    memcpy(&h, msg, len < sizeof h ? len : sizeof h);
    drop_hdr(t, &h, err);
}

/* ---- backlogs: one byte buffer per peer ---- */

#define FRAME 8u /* a record: uint32 length, padding, message, padded to 8 */

static uint32_t record_size(size_t len) { return FRAME + (((uint32_t)len + 7u) & ~7u); }

/* Is the peer gone for good (its messages could only reach a later life)? */
static bool peer_gone(const struct transport *t, const struct transport_peer *p)
{
    if (p->id == 0)
        return false; /* the supervisor outlives every node */
    const struct shm_node *sn = &t->run->node[p->id];
    int st = atomic_load_explicit(&sn->state, memory_order_relaxed);
    if (st == NODE_DOWN || st == NODE_STOPPED)
        return true;
    /* Restarted since its backlog began (a backlog begun before the peer's
     * first start is for its first life: transport_tick adopts it). */
    return p->len > 0 && p->inc != 0 &&
           atomic_load_explicit(&sn->incarnation, memory_order_relaxed) != p->inc;
}

/* Give a drained backlog's buffer back if it grew (keeps the budget free
 * for peers that need it). */
static void backlog_reset(struct transport *t, struct transport_peer *p)
{
    p->head = p->tail = 0;
    if (p->cap > TRANSPORT_BACKLOG_MIN) {
        free(p->buf);
        t->backlog_bytes -= p->cap;
        p->buf = NULL;
        p->cap = 0;
    }
}

/* Make room for `need` more bytes at the tail: compact, or grow by doubling
 * within the peer's and the node's budgets. */
static void backlog_compact(struct transport_peer *p)
{
    uint32_t live = p->tail - p->head;
    memmove(p->buf, p->buf + p->head, live);
    p->head = 0;
    p->tail = live;
}

/* Make room for `need` more bytes at the tail: compact when that frees
 * enough cheaply, else grow by doubling within the peer's and the node's
 * budgets, else compact if that is enough, else -ENOBUFS. */
static int backlog_room(struct transport *t, struct transport_peer *p, uint32_t need)
{
    uint64_t live = p->tail - p->head;
    if (p->tail + (uint64_t)need <= p->cap)
        return 0;
    bool fits = live + need <= p->cap;
    if (fits && live <= p->cap / 2) {
        /* Each byte is moved at most once per half buffer sent. */
        backlog_compact(p);
        return 0;
    }
    uint64_t ncap = p->cap ? (uint64_t)p->cap * 2 : TRANSPORT_BACKLOG_MIN;
    while (ncap < live + need)
        ncap *= 2;
    if (ncap > t->peer_budget)
        ncap = t->peer_budget;
    uint8_t *nbuf = NULL;
    if (ncap > p->cap && ncap >= live + need &&
        t->backlog_bytes - p->cap + ncap <= t->node_budget)
        nbuf = malloc(ncap);
    if (!nbuf) {
        if (!fits)
            return -ENOBUFS;
        backlog_compact(p);
        return 0;
    }
    if (live)
        memcpy(nbuf, p->buf + p->head, live);
    free(p->buf);
    t->backlog_bytes += ncap - p->cap;
    p->buf = nbuf;
    p->cap = (uint32_t)ncap;
    p->head = 0;
    p->tail = (uint32_t)live;
    return 0;
}

static int backlog_push(struct transport_peer *p, const void *msg, size_t len)
{
    struct transport *t = p->t;
    uint32_t need = record_size(len);
    int rc = backlog_room(t, p, need);
    if (rc < 0)
        return rc;
    uint32_t l32 = (uint32_t)len;
    memcpy(p->buf + p->tail, &l32, sizeof l32);
    memcpy(p->buf + p->tail + FRAME, msg, len);
    p->tail += need;
    if (p->len++ == 0)
        p->inc = atomic_load_explicit(&t->run->node[p->id].incarnation, memory_order_relaxed);
    t->backlog_total++;
    if (p->len > p->hwm)
        p->hwm = p->len;
    set_backlog_counters(t);
    return 0;
}

/* The oldest backlogged message. */
static const uint8_t *backlog_front(const struct transport_peer *p, uint32_t *len)
{
    memcpy(len, p->buf + p->head, sizeof *len);
    return p->buf + p->head + FRAME;
}

static void backlog_pop(struct transport *t, struct transport_peer *p, uint32_t len)
{
    p->head += record_size(len);
    p->len--;
    t->backlog_total--;
    if (p->len == 0)
        backlog_reset(t, p);
}

/* Drop everything waiting for p. */
static void backlog_discard(struct transport *t, struct transport_peer *p, int err)
{
    while (p->len > 0) {
        uint32_t len;
        const uint8_t *msg = backlog_front(p, &len);
        drop_encoded(t, msg, len, err);
        backlog_pop(t, p, len);
    }
    set_backlog_counters(t);
    if (p->w.added)
        loop_del(t->loop, &p->w);
}

/* Move as much of p's backlog into its queue as fits. */
static void backlog_move(struct transport *t, struct transport_peer *p)
{
    uint64_t sent = 0;
    while (p->len > 0) {
        uint32_t len;
        const uint8_t *msg = backlog_front(p, &len);
        int rc = try_send(p, msg, len);
        if (rc == 0)
            break;
        /* rc < 0: the queue cannot take it (a hard error): drop it. */
        if (rc < 0)
            drop_encoded(t, msg, len, rc);
        else
            sent++;
        backlog_pop(t, p, len);
    }
    if (sent)
        count(t, CNT_SENT, sent);
    set_backlog_counters(t);
}

/* EPOLLOUT on a peer queue: move as much of the backlog as fits. */
static void drain(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct transport_peer *p = w->arg;
    backlog_move(p->t, p);
    if (p->len == 0)
        loop_del(l, &p->w);
    (void)events;
}

/* Watch p's queue for room. A failed registration is retried by
 * transport_tick, which also moves messages without it: never stuck. */
static void watch(struct transport *t, struct transport_peer *p)
{
    if (!p->w.added && loop_add(t->loop, &p->w, p->q, EPOLLOUT, drain, p) < 0)
        t->watch_failures++;
}

void transport_set_drop_hook(struct transport *t, transport_drop_fn fn, void *arg)
{
    t->on_drop = fn;
    t->drop_arg = arg;
}

void transport_tick(struct transport *t)
{
    delay_release(t); /* a timer that could not be set up: never stuck */
    if (!t->backlog_total)
        return;
    for (int k = 0; k <= t->procs; k++) {
        struct transport_peer *p = &t->peer[k];
        if (p->len == 0)
            continue;
        if (p->inc == 0) /* begun before the peer first started: for that life */
            p->inc = atomic_load_explicit(&t->run->node[k].incarnation, memory_order_relaxed);
        if (peer_gone(t, p)) {
            backlog_discard(t, p, -EHOSTDOWN);
            continue;
        }
        backlog_move(t, p);
        if (p->len == 0) {
            if (p->w.added)
                loop_del(t->loop, &p->w);
        } else {
            watch(t, p);
        }
    }
}

int transport_open(struct transport *t, struct loop *loop, struct shm_run *run, int self,
                   char *errbuf)
{
    memset(t, 0, sizeof *t);
    if (self < 0 || (uint32_t)self > run->procs)
        return dl_seterr(errbuf, EINVAL, "process %d is not one of this run's (0 to %u)", self,
                         run->procs);
    t->run = run;
    t->loop = loop;
    t->run_id = run->run_id;
    t->self = self;
    t->n = (int)run->n;
    t->procs = (int)run->procs;
    t->msgsize = run->msgsize;
    t->inbox = (mqd_t)-1;
    t->delay_fd = -1;
    t->peer_budget = TRANSPORT_PEER_BUDGET;
    t->node_budget = TRANSPORT_NODE_BUDGET;
    t->delay_budget = TRANSPORT_DELAY_BUDGET;
    t->rng = transport_net_seed(run->params.seed, self,
                                atomic_load_explicit(&run->node[self].incarnation,
                                                     memory_order_relaxed));
    t->peer = calloc((size_t)t->procs + 1, sizeof *t->peer);
    t->rx = malloc(t->msgsize);
    t->tx = malloc(t->msgsize > SHM_BULK_MAX ? t->msgsize : SHM_BULK_MAX);
    t->rx_bulk = malloc(SHM_BULK_MAX);
    if (!t->peer || !t->rx || !t->tx || !t->rx_bulk) {
        transport_close(t);
        return dl_seterr(errbuf, ENOMEM, "out of memory");
    }
    for (int k = 0; k <= t->procs; k++)
        t->peer[k].q = (mqd_t)-1;
    t->inbox = mq_open_queue(t->run_id, self, O_RDONLY, errbuf);
    if (t->inbox == (mqd_t)-1 || (int)t->inbox < 0) {
        int rc = (int)t->inbox;
        t->inbox = (mqd_t)-1;
        transport_close(t);
        return rc;
    }
    for (int k = 0; k <= t->procs; k++) {
        struct transport_peer *p = &t->peer[k];
        p->t = t;
        p->id = k;
        if (k == self)
            continue;
        mqd_t q = mq_open_queue(t->run_id, k, O_WRONLY, errbuf);
        if ((int)q < 0) {
            transport_close(t);
            return (int)q;
        }
        p->q = q;
    }
    return 0;
}

uint64_t transport_flush(struct transport *t, int timeout_ms)
{
    int64_t deadline = dl_mono_us() + (int64_t)timeout_ms * 1000;
    while ((t->backlog_total > 0 || t->nheld > 0) && dl_mono_us() < deadline) {
        transport_tick(t); /* gone peers: drop now, not at the deadline; held: release */
        if ((t->backlog_total == 0 && t->nheld == 0) || loop_once(t->loop, 10) < 0)
            break;
    }
    uint64_t left = t->backlog_total + t->nheld;
    for (int k = 0; t->backlog_total && k <= t->procs; k++)
        if (t->peer[k].len)
            backlog_discard(t, &t->peer[k], -ETIMEDOUT);
    delay_discard(t, -ETIMEDOUT);
    return left;
}

void transport_close(struct transport *t)
{
    if (t->peer) {
        for (int k = 0; k <= t->procs; k++) {
            struct transport_peer *p = &t->peer[k];
            if (t->loop && p->w.added)
                loop_del(t->loop, &p->w);
            if ((int)p->q >= 0)
                mq_close(p->q);
            free(p->buf);
        }
    }
    if ((int)t->inbox >= 0)
        mq_close(t->inbox);
    if (t->delay_fd >= 0) {
        if (t->loop && t->delay_w.added)
            loop_del(t->loop, &t->delay_w);
        close(t->delay_fd);
    }
    for (uint32_t i = 0; i < t->hbufs; i++)
        free(t->hbuf[i].p);
    free(t->hbuf);
    free(t->hfree);
    free(t->heap);
    free(t->peer);
    free(t->rx);
    free(t->tx);
    free(t->rx_bulk);
    memset(t, 0, sizeof *t);
    t->inbox = (mqd_t)-1;
    t->delay_fd = -1;
}

/* Put a payload too big for one message into a free bulk slot. Returns the
 * slot index, or -ENOBUFS when the receiver already holds its share of
 * slots (TRANSPORT_BULK_PER_PEER: a paused peer cannot starve the others)
 * or every slot still waits for its receiver. */
static int bulk_put(struct transport *t, int to, const void *payload, uint32_t len, uint64_t *seq)
{
    int held = 0, candidate = -1;
    uint64_t candidate_seq = 0;
    for (int i = 0; i < SHM_BULK_SLOTS; i++) {
        int slot = (int)((t->bulk_next + (uint32_t)i) % SHM_BULK_SLOTS);
        struct shm_bulk_slot *s = shm_bulk(t->run, t->self, slot);
        uint64_t cur = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (cur != 0) {
            /* In use, unless its receiver restarted or died since. */
            int rcv = atomic_load(&s->to);
            bool stale = rcv < 0 || rcv > t->procs;
            if (!stale) {
                struct shm_node *rn = &t->run->node[rcv];
                stale = atomic_load(&rn->incarnation) != atomic_load(&s->to_incarnation) ||
                        atomic_load(&rn->state) == NODE_DOWN;
            }
            if (!stale) {
                held += rcv == to;
                continue;
            }
        }
        if (candidate < 0) {
            candidate = slot;
            candidate_seq = cur;
        }
    }
    if (candidate < 0 || held >= TRANSPORT_BULK_PER_PEER)
        return -ENOBUFS;
    struct shm_bulk_slot *s = shm_bulk(t->run, t->self, candidate);
    /* Take a reclaimed slot back first: a late reader of the old descriptor
     * then sees a seq that is not its own and rejects the slot instead of
     * copying a payload being overwritten. */
    if (candidate_seq != 0 &&
        !atomic_compare_exchange_strong(&s->seq, &candidate_seq, 0))
        return -ENOBUFS; /* its reader freed it just now: fine, but retry later */
    *seq = ++t->bulk_seq | ((uint64_t)t->self << 48);
    atomic_store(&s->to, to);
    atomic_store(&s->to_incarnation, atomic_load(&t->run->node[to].incarnation));
    s->len = len;
    memcpy((uint8_t *)(s + 1), payload, len);
    atomic_store_explicit(&s->seq, *seq, memory_order_release);
    t->bulk_next = (uint32_t)(candidate + 1) % SHM_BULK_SLOTS;
    return candidate;
}

static void bulk_release(struct transport *t, int slot, uint64_t seq)
{
    struct shm_bulk_slot *s = shm_bulk(t->run, t->self, slot);
    atomic_compare_exchange_strong(&s->seq, &seq, 0);
}

static int send_now(struct transport *t, struct transport_peer *p, const struct wire_hdr *h,
                    const void *payload);

/* ---- the simulated network: a seeded generator ---- */

/* splitmix64 - the mixer nodes/rng.c seeds its generators with - used as
 * the generator itself: one word of state, period 2^64. (ipc/ sits below
 * nodes/ and does not link against it.) */
static uint64_t net_rand(struct transport *t)
{
    uint64_t z = (t->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) for n > 0 (rejection sampling: no modulo bias). */
static uint64_t net_below(struct transport *t, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = net_rand(t);
    } while (x >= limit);
    return x % n;
}

uint64_t transport_net_seed(uint64_t run_seed, int self, int incarnation)
{
    /* Like the cores' seed (run seed, node, incarnation), salted so the
     * network's draws are independent of the core's. */
    uint64_t x = run_seed * 1000003u + (uint64_t)self * 7919u + (uint64_t)(uint32_t)incarnation;
    x ^= 0x6e6574776f726b31ULL; /* "network1" */
    x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdULL;
    return x ^ (x >> 33);
}

void transport_seed(struct transport *t, uint64_t seed) { t->rng = seed; }

/* ---- delayed messages: held by the sender, released by a timer ----
 *
 * A binary heap of entries ordered by (release time, sequence number); each
 * entry's message (its header and raw payload, not yet encoded: a bulk
 * payload takes its shared-memory slot only when it is released) lives in
 * a buffer of a pool. A released entry's buffer goes back on the pool's
 * free stack and is reused; buffers grow by doubling, and the capacity of
 * all of them together stays within delay_budget. */

static bool held_before(const struct transport_held *a, const struct transport_held *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_up(struct transport_held *hp, uint32_t i)
{
    struct transport_held e = hp[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!held_before(&e, &hp[parent]))
            break;
        hp[i] = hp[parent];
        i = parent;
    }
    hp[i] = e;
}

static void heap_down(struct transport_held *hp, uint32_t n, uint32_t i)
{
    struct transport_held e = hp[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && held_before(&hp[c + 1], &hp[c]))
            c++;
        if (!held_before(&hp[c], &e))
            break;
        hp[i] = hp[c];
        i = c;
    }
    hp[i] = e;
}

/* Remove and return the earliest entry (nheld > 0). */
static struct transport_held heap_pop(struct transport *t)
{
    struct transport_held top = t->heap[0];
    t->heap[0] = t->heap[--t->nheld];
    if (t->nheld)
        heap_down(t->heap, t->nheld, 0);
    return top;
}

/* Free idle buffers (except `keep`) until the pool's capacity is at most
 * `target` bytes. */
static void hold_trim(struct transport *t, uint32_t keep, uint64_t target, uint32_t min_cap)
{
    for (uint32_t k = 0; k < t->hfree_n && t->delay_bytes > target; k++) {
        struct transport_hbuf *b = &t->hbuf[t->hfree[k]];
        if (t->hfree[k] == keep || b->cap <= min_cap)
            continue;
        free(b->p);
        t->delay_bytes -= b->cap;
        b->p = NULL;
        b->cap = 0;
    }
}

/* A free buffer of at least `need` bytes, taken off the free stack. */
static int hold_buf(struct transport *t, uint32_t need, uint32_t *out)
{
    if (t->hfree_n == 0) {
        if (t->hbufs == t->hcap) {
            uint32_t ncap = t->hcap ? t->hcap * 2 : 16;
            struct transport_hbuf *nb = realloc(t->hbuf, ncap * sizeof *nb);
            if (nb)
                t->hbuf = nb;
            uint32_t *nf = nb ? realloc(t->hfree, ncap * sizeof *nf) : NULL;
            if (nf)
                t->hfree = nf;
            struct transport_held *nh = nf ? realloc(t->heap, ncap * sizeof *nh) : NULL;
            if (!nh)
                return -ENOBUFS;
            t->heap = nh;
            t->hcap = ncap;
        }
        t->hbuf[t->hbufs] = (struct transport_hbuf){0};
        t->hfree[t->hfree_n++] = t->hbufs++;
    }
    uint32_t i = t->hfree[t->hfree_n - 1];
    struct transport_hbuf *b = &t->hbuf[i];
    if (b->cap < need) {
        uint64_t ncap = b->cap ? b->cap : TRANSPORT_HOLD_MIN;
        while (ncap < need)
            ncap *= 2;
        uint64_t grow = ncap - b->cap;
        if (t->delay_bytes + grow > t->delay_budget && grow <= t->delay_budget)
            hold_trim(t, i, t->delay_budget - grow, 0);
        if (t->delay_bytes - b->cap + ncap > t->delay_budget)
            return -ENOBUFS;
        uint8_t *np = malloc(ncap);
        if (!np)
            return -ENOBUFS;
        free(b->p);
        t->delay_bytes += ncap - b->cap;
        b->p = np;
        b->cap = (uint32_t)ncap;
    }
    t->hfree_n--;
    *out = i;
    return 0;
}

static void on_delay_timer(struct loop *l, struct loop_watch *w, uint32_t events);

/* Arm the timer for the earliest held message (disarm it when none is). A
 * timer that cannot be set up is counted in watch_failures; transport_tick
 * then releases what is due, and the next arm tries again. */
static void delay_arm(struct transport *t)
{
    int64_t due = t->nheld ? t->heap[0].due : 0;
    if (due == t->delay_armed)
        return;
    if (t->delay_fd < 0) {
        if (!due)
            return;
        char err[DL_ERRLEN];
        int fd = loop_timerfd_create(err);
        if (fd < 0 || loop_add(t->loop, &t->delay_w, fd, EPOLLIN, on_delay_timer, t) < 0) {
            if (fd >= 0)
                close(fd);
            t->watch_failures++;
            return;
        }
        t->delay_fd = fd;
    }
    if (loop_timerfd_arm(t->delay_fd, due) == 0)
        t->delay_armed = due;
    else
        t->watch_failures++;
}

/* Send every held message whose time has come, earliest first, through the
 * normal path (its peer's queue, or its backlog). */
static void delay_release(struct transport *t)
{
    if (!t->nheld)
        return;
    int64_t now = dl_mono_us();
    while (t->nheld && t->heap[0].due <= now) {
        struct transport_held e = heap_pop(t);
        struct transport_hbuf *b = &t->hbuf[e.buf];
        struct wire_hdr h;
        memcpy(&h, b->p, sizeof h);
        struct transport_peer *p = &t->peer[h.to];
        p->held--;
        send_now(t, p, &h, b->p + sizeof h);
        t->hfree[t->hfree_n++] = e.buf;
    }
    /* Idle: give big buffers back (a burst of bulk payloads). */
    if (!t->nheld && t->delay_bytes > TRANSPORT_HOLD_KEEP)
        hold_trim(t, UINT32_MAX, 0, 4096);
    delay_arm(t);
}

static void on_delay_timer(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct transport *t = w->arg;
    loop_timerfd_ack(t->delay_fd);
    t->delay_armed = 0; /* fired: arm again for what is left */
    delay_release(t);
    (void)l;
    (void)events;
}

/* Hold h for delay + uniform [0, jitter] microseconds. Without jitter the
 * link stays FIFO: never before the last message held for it. */
static int delay_hold(struct transport *t, struct transport_peer *p, const struct wire_hdr *h,
                      const void *payload, uint32_t delay, uint32_t jitter)
{
    if (sizeof *h + h->len > t->msgsize && h->len > SHM_BULK_MAX) {
        drop_hdr(t, h, -EMSGSIZE);
        return -EMSGSIZE;
    }
    int64_t due = dl_mono_us() + (int64_t)delay;
    if (jitter)
        due += (int64_t)net_below(t, (uint64_t)jitter + 1);
    else if (due < p->last_due)
        due = p->last_due;
    uint32_t need = (uint32_t)sizeof *h + h->len, bi;
    int rc = hold_buf(t, need, &bi);
    if (rc < 0) {
        drop_hdr(t, h, rc);
        return rc;
    }
    uint8_t *buf = t->hbuf[bi].p;
    memcpy(buf, h, sizeof *h);
    if (h->len)
        memcpy(buf + sizeof *h, payload, h->len);
    if (due > p->last_due)
        p->last_due = due;
    t->heap[t->nheld] = (struct transport_held){.due = due, .seq = ++t->hold_seq, .buf = bi};
    heap_up(t->heap, t->nheld++);
    p->held++;
    delay_arm(t);
    return 0;
}

/* Drop everything held (counted, reported with err). */
static void delay_discard(struct transport *t, int err)
{
    while (t->nheld) {
        struct transport_held e = heap_pop(t);
        struct wire_hdr h;
        memcpy(&h, t->hbuf[e.buf].p, sizeof h);
        t->peer[h.to].held--;
        t->hfree[t->hfree_n++] = e.buf;
        drop_hdr(t, &h, err);
    }
    delay_arm(t);
}

/* Encode h (header fields already filled in) and put it into p's queue, or
 * its backlog when the queue is full or older messages wait there. */
static int send_now(struct transport *t, struct transport_peer *p, const struct wire_hdr *h,
                    const void *payload)
{
    int len;
    int slot = -1;
    uint64_t seq = 0;
    if (sizeof *h + h->len > t->msgsize) {
        if (h->len > SHM_BULK_MAX) {
            drop_hdr(t, h, -EMSGSIZE);
            return -EMSGSIZE;
        }
        slot = bulk_put(t, h->to, payload, h->len, &seq);
        if (slot < 0) {
            drop_hdr(t, h, slot);
            return slot;
        }
        struct wire_bulk d = {.slot = (uint32_t)slot, .len = h->len, .seq = seq};
        struct wire_hdr bh = *h;
        bh.flags = h->flags | WIRE_F_BULK;
        bh.len = sizeof d;
        len = wire_encode(t->tx, t->msgsize, &bh, &d);
    } else {
        len = wire_encode(t->tx, t->msgsize, h, payload);
    }
    if (len < 0) {
        if (slot >= 0)
            bulk_release(t, slot, seq);
        drop_hdr(t, h, len);
        return len;
    }
    if (p->len == 0) {
        int rc = try_send(p, t->tx, (size_t)len);
        if (rc > 0) {
            count(t, CNT_SENT, 1);
            return 0;
        }
        if (rc < 0) {
            drop_encoded(t, t->tx, (uint32_t)len, rc);
            return rc;
        }
    }
    /* The queue is full (or older messages wait): keep order, backlog it -
     * unless the peer is gone, whose queue only a later life would read. */
    count(t, CNT_QUEUE_FULL, 1);
    int rc = peer_gone(t, p) ? -EHOSTDOWN : backlog_push(p, t->tx, (size_t)len);
    if (rc < 0) {
        drop_encoded(t, t->tx, (uint32_t)len, rc);
        return rc;
    }
    watch(t, p);
    return 0;
}

int transport_send(struct transport *t, struct wire_hdr *h, const void *payload)
{
    if (h->to > t->procs || h->to == t->self)
        return -EINVAL;
    struct transport_peer *p = &t->peer[h->to];
    h->run_id = t->run_id;
    h->from = (uint16_t)t->self;
    h->flags = (uint32_t)(atomic_load_explicit(&t->run->node[t->self].incarnation,
                                               memory_order_relaxed) &
                          0xffff)
               << WIRE_INC_SHIFT;
    /* The simulated network's delay and jitter, between nodes only: two
     * relaxed loads when the link is clean. A link that still holds
     * messages holds the next one too (behind them: FIFO). */
    if (t->self != 0 && h->to != 0 && t->self <= t->n && h->to <= t->n) {
        const struct shm_link *lk = &t->run->link[t->self][h->to];
        uint32_t delay = atomic_load_explicit(&lk->delay_us, memory_order_relaxed);
        uint32_t jitter = atomic_load_explicit(&lk->jitter_us, memory_order_relaxed);
        if (delay | jitter | p->held)
            return delay_hold(t, p, h, payload, delay, jitter);
    }
    return send_now(t, p, h, payload);
}

static int reject(struct transport *t, int err)
{
    t->last_err = err;
    struct shm_node *me = &t->run->node[t->self];
    atomic_fetch_add_explicit(&me->cnt[CNT_MALFORMED], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&me->malformed_kind[err], 1, memory_order_relaxed);
    return 2;
}

int transport_recv(struct transport *t, struct wire_hdr *h, const uint8_t **payload)
{
    ssize_t n;
    for (;;) {
        n = mq_receive(t->inbox, (char *)t->rx, t->msgsize, NULL);
        if (n >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return 0;
        return -errno;
    }
    int err = wire_decode(t->rx, (size_t)n, t->run_id, t->self, t->procs, h, payload);
    if (err != WIRE_OK)
        return reject(t, err);
    if (h->flags & WIRE_F_BULK) {
        struct wire_bulk d;
        memcpy(&d, *payload, sizeof d);
        if (d.slot >= SHM_BULK_SLOTS || d.len > SHM_BULK_MAX)
            return reject(t, WIRE_ERR_FLAGS);
        struct shm_bulk_slot *s = shm_bulk(t->run, h->from, (int)d.slot);
        if (atomic_load_explicit(&s->seq, memory_order_acquire) != d.seq || s->len != d.len ||
            atomic_load(&s->to) != t->self)
            return reject(t, WIRE_ERR_BULK);
        memcpy(t->rx_bulk, (uint8_t *)(s + 1), d.len);
        /* Free the slot only if it still holds our payload. */
        uint64_t expect = d.seq;
        if (!atomic_compare_exchange_strong(&s->seq, &expect, 0))
            return reject(t, WIRE_ERR_BULK);
        h->len = d.len;
        h->flags &= ~WIRE_F_BULK;
        *payload = t->rx_bulk;
    }
    /* The simulated network, between nodes only (the supervisor's links,
     * and so the runtime's control messages, are never faulty): two
     * relaxed loads when the link is clean. A cut link drops at the
     * receiver, like a real network losing what was in flight; a lossy one
     * drops with its probability, drawn from the seeded generator. Clients'
     * links are never faulty: the matrix is the nodes'. */
    if (t->self != 0 && h->from != 0 && t->self <= t->n && h->from <= t->n) {
        int why = 0;
        if (atomic_load_explicit(&t->run->cut[h->from][t->self], memory_order_relaxed)) {
            why = WIRE_DROP_PARTITION;
        } else {
            uint32_t loss = atomic_load_explicit(&t->run->link[h->from][t->self].loss_ppm,
                                                 memory_order_relaxed);
            if (loss && net_below(t, 1000000) < loss)
                why = WIRE_DROP_LOSS;
        }
        if (why) {
            t->last_drop = why;
            count(t, CNT_DROPPED, 1);
            return 3;
        }
    }
    return 1;
}
