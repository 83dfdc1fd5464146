/* A node's view of the network: its inbound queue, a descriptor on every
 * peer's queue, and a per-peer backlog.
 *
 * Sends never block. A message goes straight into the peer's queue when its
 * backlog is empty and the queue has room; otherwise it waits, in order, in
 * that peer's backlog, and the loop watches the peer's descriptor for
 * EPOLLOUT (Linux message-queue descriptors are pollable), which fires as
 * soon as the peer takes one message. Payloads larger than one queue
 * message travel through a slot of the sender's bulk area in shared memory,
 * with a descriptor in the queue.
 *
 * Backlogs are bounded in bytes. Each peer's backlog is one buffer of
 * encoded messages (8 bytes of framing each) that grows by doubling, and
 * shrinks back when it drains, up to TRANSPORT_PEER_BUDGET bytes; all of a
 * node's backlogs together hold at most TRANSPORT_NODE_BUDGET bytes. A
 * message that does not fit is dropped (tail drop: what waits keeps its
 * order). No allocation per message.
 *
 * Every drop - over budget, a peer that is gone, a hard queue error, what
 * is still waiting when the node stops - is counted (CNT_DROPPED and
 * CNT_SEND_DROPPED in the node's slot) and reported to the drop hook, which
 * the node runtime turns into a TR_DROP trace record. Never silent.
 *
 * A peer the failure detector merely suspects keeps its backlog (within the
 * budget): the detector cannot tell a paused node from a dead one, and a
 * paused node that resumes reads what waited for it, as a socket buffer
 * would hold it. A peer known to be gone - its slot says DOWN (crashed) or
 * STOPPED, or it restarted since its backlog began - gets nothing more: its
 * backlog is dropped (transport_tick notices within one tick) and a send
 * that finds its queue full is dropped, not backlogged; what a previous
 * life was sent is lost, as a reset connection loses it.
 *
 * Receiving validates every header field (wire_decode) and counts what it
 * rejects.
 *
 * The simulated network (faults the supervisor writes into the shared
 * segment: cut[a][b] and link[a][b]) applies between nodes only: the
 * supervisor's links (row and column 0), and with them the runtime's
 * control messages, are never faulty, and neither are a client's (a client
 * reaches every node; a partition is between servers).
 *
 * Every process of a run has a transport: the supervisor (0), the nodes
 * (1..n) and the clients (n+1..procs); each can send to every other.
 *  - Cut and loss are decided at the receiver, when a message is taken
 *    from the inbox: a message from a whose link a -> self is cut is
 *    dropped (so what was in flight when the partition began is lost, as
 *    on a real network; a one-way cut drops one direction only), and one
 *    on a link with loss_ppm is dropped with probability loss_ppm / 10^6.
 *  - Delay and jitter are applied by the sender: a message on a link with
 *    delay_us or jitter_us is held in the sender's transport and released
 *    by a timer (a timerfd in the loop) at now + delay + uniform
 *    [0, jitter], then sent through the normal path (the queue, or the
 *    peer's backlog). Without jitter a link stays FIFO even when its delay
 *    is lowered (a message is never released before one held earlier for
 *    the same peer); jitter may reorder. The header's send_us stays the
 *    time the caller sent it. Held messages live in a pool of reused
 *    buffers (a binary heap orders them), bounded by TRANSPORT_DELAY_BUDGET
 *    bytes; a message that does not fit is dropped (-ENOBUFS). A bulk
 *    payload is held as bytes and takes its shared-memory slot only when
 *    it is released. Being held by the sender, a delayed message shares
 *    its sender's fate: lost if the sender crashes first (as a socket's
 *    send buffer would be), late if the sender is paused.
 * Every random draw (loss, jitter) comes from one generator per process,
 * seeded from the run's seed, the node id and its incarnation
 * (transport_net_seed): a run's seed decides the pattern for a given order
 * of sends and arrivals. With no faults set, a send and a receive each pay
 * two relaxed atomic loads for them. */
#ifndef DL_IPC_TRANSPORT_H
#define DL_IPC_TRANSPORT_H

#include <mqueue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/loop.h"
#include "ipc/shm.h"
#include "ipc/wire.h"

/* Backlog budgets, in bytes of buffer (framing included). */
#define TRANSPORT_PEER_BUDGET (1u << 20) /* per peer: 1 MiB (>= 1000 of the largest messages) */
#define TRANSPORT_NODE_BUDGET (8u << 20) /* all peers of a node together: 8 MiB */
#define TRANSPORT_BACKLOG_MIN 4096u        /* a backlog's first buffer */
/* Bulk slots one receiver may hold at once (its queue holds at most 10
 * descriptors; the rest wait in the backlog). A receiver that does not read
 * (paused) blocks only its own share; the others keep theirs. */
#define TRANSPORT_BULK_PER_PEER 16
/* Delayed messages: the capacity of all the buffers holding them (each a
 * header and its raw payload), in bytes; a buffer's first size; above
 * this, buffers over 4 KiB are freed when nothing is held. */
#define TRANSPORT_DELAY_BUDGET (8u << 20)
#define TRANSPORT_HOLD_MIN 128u
#define TRANSPORT_HOLD_KEEP (1u << 20)

struct transport;

/* Called for every message the transport drops on the send side, with its
 * header and why (-ENOBUFS: over a budget or out of bulk slots, -EHOSTDOWN:
 * the peer is gone, -ETIMEDOUT: still waiting when the node stopped,
 * -EMSGSIZE: too big even for a bulk slot, or the queue's own -errno). */
typedef void (*transport_drop_fn)(void *arg, const struct wire_hdr *h, int err);

struct transport_peer {
    struct transport *t;
    int id;
    mqd_t q;
    struct loop_watch w;
    /* Backlog: encoded messages, each framed by a 4-byte length (8 with
     * padding), in buf[head, tail); cap bytes allocated. */
    uint8_t *buf;
    uint32_t head, tail, cap;
    uint32_t len;    /* messages waiting */
    int32_t inc;     /* the peer's incarnation when its backlog began */
    uint64_t hwm;
    uint32_t held;    /* messages for this peer held for their delay */
    int64_t last_due; /* the latest release time given to one (FIFO) */
};

/* A delayed message: released at `due` (CLOCK_MONOTONIC us), ties broken
 * by `seq` (the order it was sent in); its header and payload are in
 * buffer `buf` of the pool. */
struct transport_held {
    int64_t due;
    uint64_t seq;
    uint32_t buf;
};
struct transport_hbuf {
    uint8_t *p;
    uint32_t cap;
};

struct transport {
    struct shm_run *run;
    struct loop *loop;
    uint32_t run_id;
    int self, n;
    int procs;                   /* n + clients: peers are 0..procs */
    size_t msgsize;
    mqd_t inbox;
    struct transport_peer *peer; /* [0..procs]; [self] unused */
    uint8_t *rx;                 /* one received message */
    uint8_t *rx_bulk;            /* a bulk payload copied out of shm */
    uint8_t *tx;                 /* one message being encoded */
    uint64_t backlog_total;      /* messages in all backlogs */
    uint64_t backlog_bytes;      /* buffer bytes held by all backlogs */
    uint32_t peer_budget, node_budget; /* TRANSPORT_*_BUDGET (tests may lower them) */
    uint64_t watch_failures;     /* EPOLLOUT registrations that failed (retried by tick) */
    uint64_t bulk_seq;
    uint32_t bulk_next;
    int last_err;  /* wire_err of the last rejected message */
    int last_drop; /* WIRE_DROP_PARTITION or WIRE_DROP_LOSS: why the network dropped the last */
    transport_drop_fn on_drop;
    void *drop_arg;
    /* The simulated network. */
    uint64_t rng;                 /* loss and jitter draws (transport_seed) */
    struct transport_held *heap;  /* [nheld] held messages, earliest first */
    uint32_t nheld;
    struct transport_hbuf *hbuf;  /* [hbufs] the buffer pool */
    uint32_t *hfree;              /* [hfree_n] idle buffers of the pool */
    uint32_t hbufs, hfree_n, hcap; /* hcap: room in heap, hbuf and hfree */
    uint64_t hold_seq;
    uint64_t delay_bytes;         /* capacity of all the pool's buffers */
    uint32_t delay_budget;        /* TRANSPORT_DELAY_BUDGET (tests may lower it) */
    int delay_fd;                 /* the release timer (created at the first hold) */
    struct loop_watch delay_w;
    int64_t delay_armed;          /* its deadline, 0 when disarmed */
};

/* Open process `self`'s inbox and every peer queue (0..procs) of the run. The
 * network's generator is seeded with transport_net_seed(run seed, self,
 * the incarnation in self's slot). */
int transport_open(struct transport *t, struct loop *loop, struct shm_run *run, int self,
                   char *errbuf);
void transport_close(struct transport *t);

/* Send h (from/to/type/f/len set by the caller; magic, version and run id
 * filled in here) with an optional payload of h->len bytes. Never blocks.
 * Returns 0 when sent or backlogged; otherwise the message was dropped
 * (counted, and reported to the drop hook) and the result says why:
 * -EMSGSIZE when the payload exceeds even a bulk slot, -ENOBUFS when the
 * backlog budget is spent or the peer already holds its share of bulk
 * slots (a receiver that does not read for that long loses messages, as a
 * real network would), -EHOSTDOWN when the peer is gone and its queue is
 * full, or the queue's -errno. -EINVAL (not counted) for a bad destination.
 * On a link with delay or jitter the message is held (0) and the checks
 * that depend on the peer happen when it is released: a drop then is
 * reported to the drop hook only; a hold over TRANSPORT_DELAY_BUDGET is
 * dropped at once (-ENOBUFS). */
int transport_send(struct transport *t, struct wire_hdr *h, const void *payload);

/* The seed of a node's network generator, and (re)seeding it. */
uint64_t transport_net_seed(uint64_t run_seed, int self, int incarnation);
void transport_seed(struct transport *t, uint64_t seed);

/* Report drops to fn(arg, ...) from now on (NULL: only count them). */
void transport_set_drop_hook(struct transport *t, transport_drop_fn fn, void *arg);

/* Periodic upkeep (the node runtime calls it from its failure-detector
 * tick): release held messages that are due (in case their timer could
 * not be set up), drop the backlogs of peers that are gone, move what fits
 * into the queues of the others, and retry an EPOLLOUT registration that
 * failed, so no backlog is ever stuck. */
void transport_tick(struct transport *t);

/* Take the next message from the inbox. Returns 1 with *h and *payload
 * (valid until the next call) filled, 0 when the inbox is empty, 2 when a
 * message was rejected (t->last_err says why; it is already counted), 3 when
 * the simulated network dropped it (*h is valid; counted in CNT_DROPPED;
 * t->last_drop says why: WIRE_DROP_PARTITION, the link from h->from was
 * cut, or WIRE_DROP_LOSS, lost to the link's loss probability), or -errno. */
int transport_recv(struct transport *t, struct wire_hdr *h, const uint8_t **payload);

/* Before a graceful exit: drive the loop (which should then watch only
 * the transport's own descriptors: the peers' queues and the release
 * timer) until every backlog has drained and every held message has been
 * released and drained, or timeout_ms passed. A held message whose delay
 * ends within the timeout is thus still delivered. Returns how many
 * messages were left, backlogged or held (dropped: counted and reported
 * with -ETIMEDOUT). */
uint64_t transport_flush(struct transport *t, int timeout_ms);

/* Messages waiting in all backlogs, and the buffer bytes they hold. */
static inline uint64_t transport_backlog(const struct transport *t) { return t->backlog_total; }
static inline uint64_t transport_backlog_bytes(const struct transport *t)
{
    return t->backlog_bytes;
}
/* Messages held for their delay. */
static inline uint64_t transport_held_count(const struct transport *t) { return t->nheld; }

#endif
