/* A node's view of the network: its inbound queue, a descriptor on every
 * peer's queue, and a per-peer backlog.
 *
 * Sends never block. A message goes straight into the peer's queue when its
 * backlog is empty and the queue has room; otherwise it waits, in order, in
 * that peer's backlog, and the loop watches the peer's descriptor for
 * EPOLLOUT (Linux message-queue descriptors are pollable), which fires as
 * soon as the peer takes one message. So a full queue costs memory, never a
 * deadlock and never a silent loss. Backlogs grow by doubling: no allocation
 * per message. Payloads larger than one queue message travel through a slot
 * of the sender's bulk area in shared memory, with a descriptor in the queue.
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

#define TRANSPORT_BACKLOG_MAX (1 << 20) /* messages per peer, then counted drops */
/* Bulk slots one receiver may hold at once (its queue holds at most 10
 * descriptors; the rest wait in the backlog). A receiver that does not read
 * (paused) blocks only its own share; the others keep theirs. */
#define TRANSPORT_BULK_PER_PEER 16

struct transport;

struct transport_peer {
    struct transport *t;
    int id;
    mqd_t q;
    struct loop_watch w;
    /* Backlog ring of encoded messages, each in a msgsize slot. */
    uint8_t *buf;
    uint32_t *lens;
    uint32_t head, len, cap;
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
    uint64_t backlog_total;
    uint64_t bulk_seq;
    uint32_t bulk_next;
    int last_err; /* wire_err of the last rejected message */
};

/* Open node `self`'s inbox and every peer queue (0..n) of the run. */
int transport_open(struct transport *t, struct loop *loop, struct shm_run *run, int self,
                   char *errbuf);
void transport_close(struct transport *t);

/* Send h (from/to/type/f/len set by the caller; magic, version and run id
 * filled in here) with an optional payload of h->len bytes. Never blocks.
 * Returns 0 when sent or backlogged, -EMSGSIZE when the payload exceeds even
 * a bulk slot, -ENOBUFS when the peer's backlog is at its limit or the
 * peer already holds its share of bulk slots (both counted as a drop: a
 * receiver that does not read for that long loses big messages, as a real
 * network would), -EINVAL for a bad destination. */
int transport_send(struct transport *t, struct wire_hdr *h, const void *payload);

/* Take the next message from the inbox. Returns 1 with *h and *payload
 * (valid until the next call) filled, 0 when the inbox is empty, 2 when a
 * message was rejected (t->last_err says why; it is already counted), 3 when
 * the simulated network dropped it (*h is valid; counted), or -errno. */
int transport_recv(struct transport *t, struct wire_hdr *h, const uint8_t **payload);

/* Before a graceful exit: drive the loop (which should then watch only
 * the peers' descriptors) until every backlog has drained or timeout_ms
 * passed. Returns how many messages were left (counted as dropped). */
uint64_t transport_flush(struct transport *t, int timeout_ms);

/* Messages waiting in all backlogs. */
static inline uint64_t transport_backlog(const struct transport *t) { return t->backlog_total; }

#endif
