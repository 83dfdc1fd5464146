/* The wire format of every queue message.
 *
 * A fixed 64-byte header (magic, version, run id, type, from, to, payload
 * length, flags, send time, four algorithm fields) followed by an inline
 * payload, or, when the payload does not fit in one queue message, by a
 * descriptor of a slot in the sender's shared-memory bulk area. Every field
 * is validated by wire_decode before anything else looks at it. */
#ifndef DL_IPC_WIRE_H
#define DL_IPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DL_MAX_NODES 128
/* Client processes (Raft's workload): ids n+1 .. n+clients, after the
 * nodes; a run has at most DL_MAX_CLIENTS of them. Ids of every process
 * of a run: 0 (the supervisor) .. n+clients <= DL_MAX_PROCS. */
/* Client processes: up to 64 of a run's workload, plus DL_INTERACTIVE
 * slots of a Raft run for `distlab client` from a shell. */
#define DL_INTERACTIVE 2
#define DL_MAX_CLIENTS (64 + DL_INTERACTIVE)
#define DL_MAX_PROCS (DL_MAX_NODES + DL_MAX_CLIENTS)
#define WIRE_MAGIC 0x42414c44u /* "DLAB" little-endian */
#define WIRE_VERSION 1
#define WIRE_NFIELDS 4
#define WIRE_F_BULK 0x1u /* payload is a struct wire_bulk descriptor */
#define WIRE_F_ALL WIRE_F_BULK
/* The high 16 bits of flags carry the sender's incarnation (mod 2^16), so a
 * receiver can drop what a previous life of the sender left in flight. */
#define WIRE_INC_SHIFT 16
#define WIRE_INC(flags) ((uint16_t)((flags) >> WIRE_INC_SHIFT))
/* trace drop reason (aux) for a message from a sender's previous life */
#define WIRE_DROP_STALE 100
/* trace drop reason (aux) for a send the transport refused (backlog limit,
 * bulk slots, payload too big) */
#define WIRE_DROP_SEND 101
/* trace drop reasons (aux) of the network fault model: the link from the
 * sender was cut when the message arrived, or the message was lost to the
 * link's loss probability (both decided at the receiver, peer = from) */
#define WIRE_DROP_PARTITION 102
#define WIRE_DROP_LOSS 103

struct wire_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t run_id;
    uint16_t from, to; /* 0 is the supervisor, 1..n the nodes, n+1.. the clients */
    uint32_t len;      /* bytes after the header */
    uint32_t flags;
    int64_t send_us;   /* sender's clock (run-relative microseconds) */
    int64_t f[WIRE_NFIELDS];
};
_Static_assert(sizeof(struct wire_hdr) == 64, "wire header is 64 bytes");

struct wire_bulk {
    uint32_t slot;    /* slot index in the sender's bulk area */
    uint32_t len;     /* payload bytes in the slot */
    uint64_t seq;     /* must match the slot's sequence number */
};

/* Why a message was rejected; counted per kind. */
enum wire_err {
    WIRE_OK = 0,
    WIRE_ERR_SHORT,   /* shorter than a header */
    WIRE_ERR_MAGIC,   /* not a distlab message */
    WIRE_ERR_VERSION, /* another wire version */
    WIRE_ERR_RUN,     /* another run's message */
    WIRE_ERR_FROM,    /* sender out of range */
    WIRE_ERR_TO,      /* not addressed to this node */
    WIRE_ERR_LEN,     /* length field disagrees with the size received */
    WIRE_ERR_FLAGS,   /* unknown flags or a bad bulk descriptor */
    WIRE_ERR_TYPE,    /* type unknown to this node's algorithm */
    WIRE_ERR_BULK,    /* bulk slot missing or overwritten */
    WIRE_ERR_FIELD,   /* a field outside the range the algorithm allows */
    WIRE_ERR_COUNT
};
const char *wire_err_name(int err);

/* Encode a header and an inline payload into buf (size cap). Returns the
 * total length or -EMSGSIZE. */
int wire_encode(void *buf, size_t cap, const struct wire_hdr *h, const void *payload);

/* Validate a received message of size bytes for process `self` of run
 * `run_id`, whose processes are 0 .. procs (the supervisor, the nodes, then
 * the clients: procs = n + clients). On WIRE_OK, *h is a copy of the header
 * and *payload points to the payload inside buf. */
int wire_decode(const void *buf, size_t size, uint32_t run_id, int self, int procs,
                struct wire_hdr *h, const uint8_t **payload);

#endif
