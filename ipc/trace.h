/* Traces: one fixed-size binary record per event, one file per process
 * incarnation (RUNDIR/trace/n<node>.<incarnation>.bin; node 0 is the
 * supervisor).
 *
 * The writer appends into a shared memory mapping of the file, so recording
 * an event costs a memcpy and no syscall, and a record is in the page cache
 * the moment it is written: a SIGKILL loses nothing that was recorded.
 * Callers record an event *before* the action it describes takes effect
 * (before the mq_send, before touching the critical resource). Each record
 * ends with a marker written last, so a record torn by a kill mid-copy is
 * recognised and skipped. */
#ifndef DL_IPC_TRACE_H
#define DL_IPC_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_MARK 0x5452u /* "RT" */

/* Event kinds; names (trace_ev_name) are the `ev` values of `distlab trace`. */
enum trace_ev {
    TR_NONE = 0,
    TR_SEND,       /* peer = to, type, key */
    TR_RECV,       /* peer = from, type, key, a = send time */
    TR_DROP,       /* peer = from, type, key; aux = reason (wire_err or 0 = network) */
    TR_REQUEST,    /* CS requested */
    TR_ENTER,      /* CS entered; key; aux = resource result (0 ok, 1 violation, 2 fenced) */
    TR_EXIT,       /* CS left; a = counter value written */
    TR_ROLE,       /* aux = role, key = term */
    TR_COMMIT,     /* a = index, key = term, b = cmd */
    TR_APPLY,
    TR_INVOKE,     /* client operations */
    TR_OK,
    TR_FAIL,
    TR_TIMEOUT,
    TR_CRASH,      /* node = the node that crashed; aux = signal (0: exit), a = exit code, b = its last heartbeat (run-relative us; 0 unknown) */
    TR_RESTART,
    TR_PAUSE,      /* aux = signal */
    TR_RESUME,
    TR_FAULT,      /* aux = action, peer = target node (0 if none), a = fault number */
    TR_START,      /* a process started: aux = pid */
    TR_STOP,       /* a process stopped cleanly */
    TR_DONE,       /* a node finished its workload */
    TR_PEER_DOWN,  /* peer believed down (key: how it was learned) */
    TR_PEER_UP,
    TR_EV_COUNT
};
const char *trace_ev_name(int ev);

struct trace_rec {
    int64_t t_us; /* run-relative microseconds (CLOCK_MONOTONIC) */
    uint16_t node;
    uint16_t ev;
    uint16_t peer;
    uint16_t type; /* message type */
    int32_t incarnation;
    int32_t aux;
    int64_t key;
    int64_t a, b, c;
    uint32_t seq;  /* position in its file */
    uint16_t pad;
    uint16_t mark; /* TRACE_MARK, written last */
};
_Static_assert(sizeof(struct trace_rec) == 64, "trace records are 64 bytes");

struct trace_writer {
    int fd;
    uint8_t *map;
    size_t cap;  /* bytes mapped */
    size_t used; /* bytes written */
    uint32_t seq;
    int node, incarnation;
    int64_t t0;  /* the run's time zero on the monotonic clock */
    bool full;   /* the file could not grow: tracing stopped */
};

/* Open RUNDIR/trace/n<node>.<incarnation>.bin for writing. */
int trace_open(struct trace_writer *w, const char *rundir, int node, int incarnation,
               int64_t t0_mono_us, char *errbuf);
/* Stamp (t_us from the clock unless r->t_us is set), number and append r.
 * Returns the record in the file (valid until the next emit) so a caller can
 * fill in an outcome it learns just after acting, or NULL. */
struct trace_rec *trace_emit(struct trace_writer *w, struct trace_rec *r);
/* Append r exactly as given (its t_us too): for traces of simulated runs. */
struct trace_rec *trace_emit_at(struct trace_writer *w, struct trace_rec *r);
/* The current run-relative time. */
int64_t trace_now(const struct trace_writer *w);
void trace_close(struct trace_writer *w);

/* Read every record of a run directory, merged in time order. */
int trace_load(const char *rundir, struct trace_rec **out, size_t *n, char *errbuf);

#endif
