/* Traces: one fixed-size binary record per event, one file per process
 * incarnation (RUNDIR/trace/n<node>.<incarnation>.bin; node 0 is the
 * supervisor).
 *
 * The writer appends into a shared memory mapping of the file, so recording
 * an event costs a memcpy and no syscall, and a record is in the page cache
 * the moment it is written: a SIGKILL loses nothing that was recorded.
 * Callers record an event *before* the action it describes takes effect
 * (before the mq_send, before touching the critical resource). Each record
 * ends with a marker written last (and cleared first when a slot is reused),
 * so a record torn by a kill mid-copy is recognised, skipped and counted.
 *
 * Bounded size. A file starts small (TRACE_INITIAL) and grows with
 * posix_fallocate as records arrive - a syscall only when it grows, never a
 * sparse page that would SIGBUS on a full disk. It never grows past its cap
 * (trace_set_max; `[trace] max_size`, TRACE_MAX_DEFAULT): there it becomes a
 * ring and each new record overwrites the oldest. Records carry their number
 * in the file (seq, 48 bits), so the reader puts a ring back in order and
 * knows how many of the oldest were overwritten (the lowest seq it finds).
 *
 * A cut. While the file can still grow, the last slot of the mapping is
 * kept free. When the file cannot grow (disk full, a file-size limit), the
 * writer puts a TR_CUT record there and stops tracing: the file itself says
 * that it was cut, when, and why, so a reader knows the evidence after that
 * moment is missing even without the supervisor's run.json. */
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
    TR_COMMIT,     /* the node's commit index advanced: a = index, key = term
                      of that entry */
    TR_APPLY,      /* an entry applied to the state machine: a = index, key =
                      its term, b = trace_hash of its command, aux = the
                      command's length, c = its offset in the data side file
                      (-1: not kept; see trace_emit_data) */
    TR_INVOKE,     /* client operations, node = n + K for client K: key = the
                      operation id; INVOKE: b, aux, c describe the command
                      as for TR_APPLY */
    TR_OK,         /* key = op id, peer = the server that answered, a = the
                      index it committed at, b = that entry's term */
    TR_FAIL,       /* as TR_OK: definitely not applied */
    TR_TIMEOUT,    /* key = op id: no answer in time (may be applied) */
    TR_CRASH,      /* node = the node that crashed; aux = signal (0: exit), a = exit code, b = its last heartbeat (run-relative us; 0 unknown) */
    TR_RESTART,
    TR_PAUSE,      /* aux = signal */
    TR_RESUME,
    TR_FAULT,      /* aux = action, peer = target node (0 if none), a = fault number
                      (0: a command), b = occurrence (1, 2, ... of a repeated fault;
                      0 for a command), c = 1 for the automatic undo of that
                      occurrence (its `for`): then aux is what undoes it (resume,
                      heal, net) */
    TR_START,      /* a process started: aux = pid */
    TR_STOP,       /* a process stopped cleanly */
    TR_DONE,       /* a node finished its workload */
    TR_PEER_DOWN,  /* peer believed down (key: how it was learned) */
    TR_PEER_UP,
    TR_CUT,        /* the writer could not grow its file and stopped tracing here:
                      aux = errno; a = records lost after it (known only if the
                      process closed its trace); written by the writer itself */
    TR_LINK,       /* supervisor: the network state of link peer -> key changed to
                      aux = cut (0/1), a = loss in millionths, b = delay us,
                      c = jitter us; written after the TR_FAULT (or command) that
                      changed it and before the change takes effect */
    TR_TRUNCATE,   /* a node's log lost its uncommitted tail (Raft's conflict
                      truncation: a rollback): a = the first index dropped,
                      b = the last, key = the term of the entry at a;
                      written before the storage drops them */
    TR_RESULT,     /* a client operation's answer (the state machine's, e.g.
                      the value a get read), written just before its TR_OK
                      by the same client: key = the op id, b, aux, c describe
                      the answer's bytes as for TR_APPLY. `distlab trace`
                      shows it inside the ok line (status, value) */
    TR_EV_COUNT
};
const char *trace_ev_name(int ev);

/* What a run records (`[trace] record`): classes of events an experimenter
 * may leave out to make a trace smaller. Every other event - roles, drops,
 * the lifecycle (start, stop, crash, restart, pause, resume, done), faults,
 * links, peers up and down, cuts - is always recorded: they are few, and
 * they explain what the others would show. */
enum trace_class {
    TRACE_CLASS_MESSAGES = 1 << 0, /* send, recv (drops are always kept) */
    TRACE_CLASS_CS = 1 << 1,       /* request, enter, exit */
    TRACE_CLASS_LOG = 1 << 2,      /* commit, apply, truncate */
    TRACE_CLASS_CLIENTS = 1 << 3,  /* invoke, result, ok, fail, timeout */
    TRACE_CLASS_ALL = (1 << 4) - 1,
    TRACE_CLASS_COUNT = 4
};
/* The class an event belongs to (one TRACE_CLASS_ bit), or 0 for an event
 * that is always recorded. */
unsigned trace_ev_class(int ev);
/* The name of class bit i (0..TRACE_CLASS_COUNT-1): "messages", "cs", "log",
 * "clients". */
const char *trace_class_name(int i);
/* "all", or the classes as a comma list ("log,clients"; "" for none). */
void trace_classes_format(unsigned classes, char *buf, size_t cap);
/* Parse "all" or a comma list of class names (spaces around them allowed)
 * into a mask. Returns 0, or -EINVAL (empty, an unknown name). */
int trace_classes_parse(const char *text, unsigned *classes);

/* TR_SEND and TR_RECV records: aux is TRACE_MSG_F1 when b holds the
 * message's second field (f[1]: a vote's granted flag); older traces have
 * 0 there. */
#define TRACE_MSG_F1 1

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
    uint32_t seq;    /* the record's number in its file: low 32 bits */
    uint16_t seq_hi; /* ... and the high 16 (trace_rec_seq) */
    uint16_t mark;   /* TRACE_MARK, written last */
};
_Static_assert(sizeof(struct trace_rec) == 64, "trace records are 64 bytes");

static inline uint64_t trace_rec_seq(const struct trace_rec *r)
{
    return (uint64_t)r->seq | (uint64_t)r->seq_hi << 32;
}

#define TRACE_REC_SIZE ((size_t)sizeof(struct trace_rec))
#define TRACE_INITIAL ((size_t)64 << 10)      /* a new file: 1,024 records */
#define TRACE_GROW_MAX ((size_t)8 << 20)      /* grow by doubling, at most this much a time */
#define TRACE_MAX_DEFAULT ((size_t)256 << 20) /* per file: 4 M records */
#define TRACE_MAX_MIN ((size_t)64 << 10)      /* the smallest cap trace_set_max takes */
#define TRACE_MAX_MAX ((size_t)1 << 40)

struct trace_writer {
    int fd;
    uint8_t *map;
    size_t cap;     /* bytes mapped (and allocated on disk) */
    size_t max;     /* the file's size cap: it wraps there */
    uint64_t seq;   /* the next record's number */
    uint64_t slots; /* once the file is at its cap: records in the ring, else 0 */
    uint64_t lost;  /* records not written since the cut */
    struct trace_rec *cut; /* the cut record, once written */
    int node, incarnation;
    int64_t t0; /* the run's time zero on the monotonic clock */
    bool full;  /* the file could not grow: cut, tracing stopped */
    /* The data side file (trace_emit_data), created at the first data. */
    char *dpath;    /* its path (set by trace_open) */
    int dfd;        /* -1 until created */
    uint8_t *dmap;
    size_t dcap;    /* bytes mapped (and allocated on disk) */
    uint64_t dpos;  /* the next byte's offset: grows forever, the file holds
                       offset % its size once it is a ring */
    bool dring;     /* at its cap: offsets wrap */
    bool dfull;     /* could not be created or grown: data is not kept */
    /* Events not to record (bit ev; trace_set_record): zero records all. */
    uint32_t skip;
};
_Static_assert(TR_EV_COUNT <= 32, "trace_writer.skip has a bit per event");

/* Record only the given classes (TRACE_CLASS_ bits) from now on; events of
 * no class are always recorded. The check is one branch at the top of
 * trace_emit*: an event left out costs nothing else (no clock read, no
 * data copied, no sequence number taken). */
void trace_set_record(struct trace_writer *w, unsigned classes);
static inline bool trace_wanted(const struct trace_writer *w, int ev)
{
    return !((w->skip >> (ev & 31)) & 1u);
}

/* Open RUNDIR/trace/n<node>.<incarnation>.bin for writing, with the default
 * cap. */
int trace_open(struct trace_writer *w, const char *rundir, int node, int incarnation,
               int64_t t0_mono_us, char *errbuf);
/* Set the file's size cap in bytes (rounded down to whole records; 0 keeps
 * the default; below TRACE_MAX_MIN counts as TRACE_MAX_MIN). Call it before
 * the first record, or at least before the file reaches either cap. */
void trace_set_max(struct trace_writer *w, size_t max_bytes);
/* Stamp (t_us from the clock unless r->t_us is set), number and append r.
 * Returns the record in the file (valid until the next emit) so a caller can
 * fill in an outcome it learns just after acting, or NULL. */
struct trace_rec *trace_emit(struct trace_writer *w, struct trace_rec *r);
/* Append r exactly as given (its t_us too): for traces of simulated runs. */
struct trace_rec *trace_emit_at(struct trace_writer *w, struct trace_rec *r);
/* A command's identity in traces: FNV-1a 64 of its bytes. Two records
 * with the same index and a different hash applied different commands. */
static inline int64_t trace_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return (int64_t)(h & INT64_MAX);
}
/* Record r with data (a command, a reply): sets r->b = trace_hash(data),
 * r->aux = len and r->c = the data's offset in the side file
 * RUNDIR/trace/n<node>.<incarnation>.dat (-1 when it is not kept), then
 * emits r as trace_emit does (trace_emit_data_at: as trace_emit_at).
 *
 * The side file works like the record file: created at the first data, a
 * shared mapping that starts at TRACE_INITIAL and grows with
 * posix_fallocate, so keeping a command costs a memcpy and a kill loses
 * nothing that a record points to (the bytes are copied before the record
 * that names them is written). It has the same cap as the record file
 * (trace_set_max); there it becomes a ring, the oldest bytes overwritten
 * first, and a datum never straddles its end (the rest of the lap is
 * skipped). Offsets keep growing: the bytes of offset c are at c % (the
 * file's size). A reader trusts the bytes only when their hash is the
 * record's b, so data overwritten by the ring, a short or missing file
 * (it could not grow: from then on c = -1) all read as "not kept". */
struct trace_rec *trace_emit_data(struct trace_writer *w, struct trace_rec *r, const void *data,
                                  uint32_t len);
struct trace_rec *trace_emit_data_at(struct trace_writer *w, struct trace_rec *r,
                                     const void *data, uint32_t len);

/* The current run-relative time. */
int64_t trace_now(const struct trace_writer *w);
void trace_close(struct trace_writer *w);

/* The latest time a record can hold: far beyond any run (a day at most),
 * far below where a difference of two times could overflow. A record
 * outside [0, TRACE_T_MAX] is corrupt, not evidence. */
#define TRACE_T_MAX ((int64_t)1 << 48)
/* Likewise the highest incarnation a record can name (a node restarted
 * that often in a day is given up long before, see the supervisor). */
#define TRACE_INC_MAX 65535

/* What the reader found in one trace file. */
struct trace_file_info {
    int node, incarnation;   /* from the file name */
    uint64_t bytes;          /* the file's size */
    uint64_t records;        /* valid records (the cut record included) */
    uint64_t first_seq, last_seq;
    uint64_t overwritten;    /* the oldest records, overwritten by the ring */
    uint64_t missing;        /* other records that should be there and are not */
    uint64_t torn;           /* slots holding a record torn by a kill mid-write */
    uint64_t corrupt;        /* whole records with an impossible time or incarnation (skipped) */
    int64_t first_t_us, last_t_us;
    bool cut;                /* the writer could not grow the file: see cut_* */
    int cut_errno;
    int64_t cut_t_us;
    int64_t cut_lost;        /* records lost after the cut; -1: unknown (killed) */
};

struct trace_set {
    struct trace_rec *recs; /* every valid record, merged in time order */
    size_t n;
    struct trace_file_info *files; /* sorted by (node, incarnation) */
    size_t nfiles;
};

/* Reading the data side files (readers only; maps each file once, read
 * only). */
struct trace_data_file {
    int node, incarnation;
    const uint8_t *map; /* NULL: missing or empty */
    size_t size;
};
struct trace_data {
    char *dir; /* RUNDIR/trace */
    struct trace_data_file *f;
    size_t n, cap;
};
/* Prepare to read the side files of a run directory. */
int trace_data_open(struct trace_data *d, const char *rundir, char *errbuf);
/* The r->aux bytes recorded with r (a TR_APPLY, a TR_INVOKE), valid until
 * trace_data_close; NULL when they were not kept, or are no longer there
 * (overwritten by the ring, a short or missing file: their hash is not
 * r->b). An empty datum is "" (never NULL). */
const uint8_t *trace_data_get(struct trace_data *d, const struct trace_rec *r);
void trace_data_close(struct trace_data *d);

/* Read every trace file of a run directory. */
int trace_load_set(const char *rundir, struct trace_set *out, char *errbuf);
void trace_set_free(struct trace_set *s);
/* Only the merged records (caller frees *out). */
int trace_load(const char *rundir, struct trace_rec **out, size_t *n, char *errbuf);

#endif
