/* The clients' key-value history, gathered from trace records (a run's
 * traces, or the simulator's records as they are made) for the
 * linearizability check (src/lincheck.h).
 *
 * An operation is (client process, op id): its invoke (the command's
 * bytes), its answer (a TR_RESULT's bytes) and its outcome (TR_OK, TR_FAIL,
 * TR_TIMEOUT, or none). Bytes are copied: the caller's may go away. */
#ifndef DL_SRC_KVHIST_H
#define DL_SRC_KVHIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/trace.h"
#include "src/lincheck.h"

struct kvh_rec {
    int node;
    int64_t op, t;
    int64_t a; /* TR_OK: the log index of the answer */
    int ev;
    size_t off;   /* its bytes in the arena (INVOKE, RESULT) */
    uint32_t len;
    bool have;    /* the bytes were there */
};

struct kvhist {
    int n; /* servers 1..n; clients above */
    struct kvh_rec *r;
    size_t nr, cap;
    uint8_t *arena;
    size_t used, acap;
    bool oom;
};

/* What kvhist_ops found. */
struct kvhist_stats {
    long ok, fail, timeout, unknown; /* outcomes; unknown: invoked, no outcome */
    long kv;        /* operations with a key-value command */
    long other;     /* with a command that is not one */
    long no_cmd;    /* invoked, the command's bytes not kept */
    long no_answer; /* ok, its answer's bytes not kept (checked as unknown) */
};

void kvhist_init(struct kvhist *h, int n);
void kvhist_free(struct kvhist *h);
/* Take a record if it is a client's invoke, result or outcome (data: the
 * bytes of an invoke or result, NULL when not kept). */
void kvhist_add(struct kvhist *h, const struct trace_rec *r, const void *data, uint32_t len);
/* The operations with key-value commands, for lc_check (*ops points into
 * h: valid until kvhist_free; the caller frees the array). -1: out of
 * memory. */
int kvhist_ops(struct kvhist *h, struct lc_op **ops, size_t *nops, struct kvhist_stats *st);

#endif
