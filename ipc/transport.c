#include "ipc/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

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

static int backlog_push(struct transport_peer *p, const void *msg, size_t len)
{
    struct transport *t = p->t;
    if (p->len == p->cap) {
        if (p->cap >= TRANSPORT_BACKLOG_MAX)
            return -ENOBUFS;
        uint32_t ncap = p->cap ? p->cap * 2 : 16;
        uint8_t *nbuf = malloc((size_t)ncap * t->msgsize);
        uint32_t *nlens = malloc((size_t)ncap * sizeof *nlens);
        if (!nbuf || !nlens) {
            free(nbuf);
            free(nlens);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < p->len; i++) {
            uint32_t at = (p->head + i) % p->cap;
            memcpy(nbuf + (size_t)i * t->msgsize, p->buf + (size_t)at * t->msgsize, p->lens[at]);
            nlens[i] = p->lens[at];
        }
        free(p->buf);
        free(p->lens);
        p->buf = nbuf;
        p->lens = nlens;
        p->cap = ncap;
        p->head = 0;
    }
    uint32_t at = (p->head + p->len) % p->cap;
    memcpy(p->buf + (size_t)at * t->msgsize, msg, len);
    p->lens[at] = (uint32_t)len;
    p->len++;
    t->backlog_total++;
    if (p->len > p->hwm)
        p->hwm = p->len;
    set_backlog_counters(t);
    return 0;
}

static void bulk_release(struct transport *t, int slot, uint64_t seq);

/* A backlogged message that will never be sent: free its bulk slot. */
static void release_backlogged_bulk(struct transport *t, const uint8_t *msg, uint32_t len)
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

/* EPOLLOUT on a peer queue: move as much of the backlog as fits. */
static void drain(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct transport_peer *p = w->arg;
    struct transport *t = p->t;
    uint64_t sent = 0;
    while (p->len > 0) {
        int rc = try_send(p, p->buf + (size_t)p->head * t->msgsize, p->lens[p->head]);
        if (rc == 0)
            break;
        /* rc < 0: the queue cannot take it (a hard error): drop, counted,
         * and give back a bulk slot it referenced. */
        if (rc < 0)
            release_backlogged_bulk(t, p->buf + (size_t)p->head * t->msgsize, p->lens[p->head]);
        p->head = (p->head + 1) % p->cap;
        p->len--;
        t->backlog_total--;
        if (rc > 0)
            sent++;
        else
            count(t, CNT_DROPPED, 1);
    }
    if (sent)
        count(t, CNT_SENT, sent);
    set_backlog_counters(t);
    if (p->len == 0)
        loop_del(l, &p->w);
    (void)events;
}

int transport_open(struct transport *t, struct loop *loop, struct shm_run *run, int self,
                   char *errbuf)
{
    memset(t, 0, sizeof *t);
    t->run = run;
    t->loop = loop;
    t->run_id = run->run_id;
    t->self = self;
    t->n = (int)run->n;
    t->msgsize = run->msgsize;
    t->inbox = (mqd_t)-1;
    t->peer = calloc((size_t)t->n + 1, sizeof *t->peer);
    t->rx = malloc(t->msgsize);
    t->tx = malloc(t->msgsize > SHM_BULK_MAX ? t->msgsize : SHM_BULK_MAX);
    t->rx_bulk = malloc(SHM_BULK_MAX);
    if (!t->peer || !t->rx || !t->tx || !t->rx_bulk) {
        transport_close(t);
        return dl_seterr(errbuf, ENOMEM, "out of memory");
    }
    for (int k = 0; k <= t->n; k++)
        t->peer[k].q = (mqd_t)-1;
    t->inbox = mq_open_queue(t->run_id, self, O_RDONLY, errbuf);
    if (t->inbox == (mqd_t)-1 || (int)t->inbox < 0) {
        int rc = (int)t->inbox;
        t->inbox = (mqd_t)-1;
        transport_close(t);
        return rc;
    }
    for (int k = 0; k <= t->n; k++) {
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
    while (t->backlog_total > 0 && dl_mono_us() < deadline)
        if (loop_once(t->loop, 10) < 0)
            break;
    uint64_t left = t->backlog_total;
    if (left)
        count(t, CNT_DROPPED, left);
    return left;
}

void transport_close(struct transport *t)
{
    if (t->peer) {
        for (int k = 0; k <= t->n; k++) {
            struct transport_peer *p = &t->peer[k];
            if (t->loop && p->w.added)
                loop_del(t->loop, &p->w);
            if ((int)p->q >= 0)
                mq_close(p->q);
            free(p->buf);
            free(p->lens);
        }
    }
    if ((int)t->inbox >= 0)
        mq_close(t->inbox);
    free(t->peer);
    free(t->rx);
    free(t->tx);
    free(t->rx_bulk);
    memset(t, 0, sizeof *t);
    t->inbox = (mqd_t)-1;
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
            bool stale = rcv < 0 || rcv > t->n;
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

int transport_send(struct transport *t, struct wire_hdr *h, const void *payload)
{
    if (h->to > t->n || h->to == t->self)
        return -EINVAL;
    struct transport_peer *p = &t->peer[h->to];
    h->run_id = t->run_id;
    h->from = (uint16_t)t->self;
    h->flags = (uint32_t)(atomic_load_explicit(&t->run->node[t->self].incarnation,
                                               memory_order_relaxed) &
                          0xffff)
               << WIRE_INC_SHIFT;
    int len;
    int slot = -1;
    uint64_t seq = 0;
    if (sizeof *h + h->len > t->msgsize) {
        if (h->len > SHM_BULK_MAX)
            return -EMSGSIZE;
        slot = bulk_put(t, h->to, payload, h->len, &seq);
        if (slot < 0) {
            count(t, CNT_DROPPED, 1);
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
    if (len < 0)
        return len;
    if (p->len == 0) {
        int rc = try_send(p, t->tx, (size_t)len);
        if (rc > 0) {
            count(t, CNT_SENT, 1);
            return 0;
        }
        if (rc < 0) {
            if (slot >= 0)
                bulk_release(t, slot, seq);
            count(t, CNT_DROPPED, 1);
            return rc;
        }
    }
    /* The queue is full (or older messages wait): keep order, backlog it. */
    count(t, CNT_QUEUE_FULL, 1);
    int rc = backlog_push(p, t->tx, (size_t)len);
    if (rc < 0) {
        if (slot >= 0)
            bulk_release(t, slot, seq);
        count(t, CNT_DROPPED, 1);
        return rc;
    }
    if (!p->w.added)
        loop_add(t->loop, &p->w, p->q, EPOLLOUT, drain, p);
    return 0;
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
    int err = wire_decode(t->rx, (size_t)n, t->run_id, t->self, t->n, h, payload);
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
    /* Simulated network: a cut link drops at the receiver, like a real
     * network losing what was in flight. */
    if (atomic_load_explicit(&t->run->cut[h->from][t->self], memory_order_relaxed)) {
        count(t, CNT_DROPPED, 1);
        return 3;
    }
    return 1;
}
