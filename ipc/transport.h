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
 * Receiving validates every header field (wire_decode), applies the
 * simulated network's cut links, and counts what it rejects. */
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
};

struct transport {
    struct shm_run *run;
    struct loop *loop;
    uint32_t run_id;
    int self, n;
    size_t msgsize;
    mqd_t inbox;
    struct transport_peer *peer; /* [0..n]; [self] unused */
    uint8_t *rx;                 /* one received message */
    uint8_t *rx_bulk;            /* a bulk payload copied out of shm */
    uint8_t *tx;                 /* one message being encoded */
    uint64_t backlog_total;      /* messages in all backlogs */
    uint64_t backlog_bytes;      /* buffer bytes held by all backlogs */
    uint32_t peer_budget, node_budget; /* TRANSPORT_*_BUDGET (tests may lower them) */
    uint64_t watch_failures;     /* EPOLLOUT registrations that failed (retried by tick) */
    uint64_t bulk_seq;
    uint32_t bulk_next;
    int last_err; /* wire_err of the last rejected message */
    transport_drop_fn on_drop;
    void *drop_arg;
};

/* Open node `self`'s inbox and every peer queue (0..n) of the run. */
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
 * full, or the queue's -errno. -EINVAL (not counted) for a bad destination. */
int transport_send(struct transport *t, struct wire_hdr *h, const void *payload);

/* Report drops to fn(arg, ...) from now on (NULL: only count them). */
void transport_set_drop_hook(struct transport *t, transport_drop_fn fn, void *arg);

/* Periodic upkeep (the node runtime calls it from its failure-detector
 * tick): drop the backlogs of peers that are gone, move what fits into the
 * queues of the others, and retry an EPOLLOUT registration that failed, so
 * no backlog is ever stuck. */
void transport_tick(struct transport *t);

/* Take the next message from the inbox. Returns 1 with *h and *payload
 * (valid until the next call) filled, 0 when the inbox is empty, 2 when a
 * message was rejected (t->last_err says why; it is already counted), 3 when
 * the simulated network dropped it (*h is valid; counted), or -errno. */
int transport_recv(struct transport *t, struct wire_hdr *h, const uint8_t **payload);

/* Before a graceful exit: drive the loop (which should then watch only
 * the peers' descriptors) until every backlog has drained or timeout_ms
 * passed. Returns how many messages were left (dropped: counted and
 * reported with -ETIMEDOUT). */
uint64_t transport_flush(struct transport *t, int timeout_ms);

/* Messages waiting in all backlogs, and the buffer bytes they hold. */
static inline uint64_t transport_backlog(const struct transport *t) { return t->backlog_total; }
static inline uint64_t transport_backlog_bytes(const struct transport *t)
{
    return t->backlog_bytes;
}

#endif
