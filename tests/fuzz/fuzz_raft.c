/* Fuzz target: the Raft core (nodes/raft*.c) against junk on the wire, at
 * any moment of a live cluster, and against any restored storage image.
 *
 * Three servers and one client core (keeping up to 4 operations in
 * flight) run in memory. The input is a script:
 * each record either delivers the next honest message the cores sent each
 * other (so the cluster elects a leader, replicates and commits, and the
 * junk lands in every state), fires a timer, submits a client command,
 * reports a sync (EV_PERSISTED) or a failed send, or hands a node a forged
 * message: any type of the Raft range (or just outside it), any sender,
 * fields from a table of edge values or raw, and any payload. Record 0 may
 * instead restart node 1 from a forged storage image (term, vote, snapshot
 * bytes, entries).
 *
 * Checked besides "no crash, no sanitizer report, no leak": what the core
 * emits is well formed whatever it was fed. Every timer id is in
 * 0..ALGO_MAX_TIMERS-1, every send goes to another process of the run with
 * a payload of at most ALGO_MAX_PAYLOAD bytes and fields a receiver would
 * accept (non-negative terms and indexes), no step overflows its action
 * list, and a storage append carries exactly the entries it counts. (Safety
 * across nodes is not: forged messages may lie as a Byzantine node would,
 * which Raft does not claim to survive. The simulator checks safety.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/algo.h"
#include "tests/fuzz/fuzz.h"

#define N 3
#define C 1
#define P (N + C)
#define QCAP 256

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_keep_stderr();
    return 0;
}

struct qmsg {
    struct algo_msg m;
    uint8_t *payload;
};

static struct {
    void *core[P + 1];
    const struct algo_ops *ops[P + 1];
    struct algo_env env[P + 1];
    struct algo_actions out;
    struct qmsg q[QCAP];
    int qhead, qlen;
    int64_t now;
    bool timer[P + 1][ALGO_MAX_TIMERS];
} w;

/* The input, read as a stream; past its end every read gives 0. */
struct in {
    const uint8_t *p;
    size_t n, at;
};
static uint8_t byte(struct in *in) { return in->at < in->n ? in->p[in->at++] : 0; }
static uint64_t raw(struct in *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)byte(in) << (8 * i);
    return v;
}
static int64_t field(struct in *in)
{
    static const int64_t edge[] = {0, 1, 2, 3, -1, 5, 100, INT64_MAX, INT64_MIN,
                                   INT64_C(1) << 52, (INT64_C(1) << 52) + 1, 1000000};
    uint8_t b = byte(in);
    if (b < 200)
        return b < 12 * 16 ? edge[b % 12] : (int64_t)(b % 8);
    return (int64_t)raw(in, 8);
}

static void check_actions(int id)
{
    const struct algo_actions *o = &w.out;
    FUZZ_CHECK(o->overflow == 0, "node %d: %d actions overflowed the list", id, o->overflow);
    for (int i = 0; i < o->n; i++) {
        const struct algo_action *a = &o->a[i];
        switch (a->kind) {
        case ACT_SET_TIMER:
        case ACT_CANCEL_TIMER:
            FUZZ_CHECK(a->timer_id >= 0 && a->timer_id < ALGO_MAX_TIMERS,
                       "node %d: timer id %d", id, a->timer_id);
            FUZZ_CHECK(a->kind == ACT_CANCEL_TIMER || a->after_us >= 0,
                       "node %d: timer after %lld us", id, (long long)a->after_us);
            break;
        case ACT_SEND:
            FUZZ_CHECK(a->msg.to >= 1 && a->msg.to <= P && a->msg.to != id,
                       "node %d: send to %u", id, a->msg.to);
            FUZZ_CHECK(a->msg.from == id, "node %d: send from %u", id, a->msg.from);
            FUZZ_CHECK(a->msg.len <= ALGO_MAX_PAYLOAD, "node %d: payload %u", id, a->msg.len);
            FUZZ_CHECK(a->msg.type >= MSG_RANGE_RAFT && a->msg.type < MSG_RANGE_RAFT + MSG_RANGE_SIZE,
                       "node %d: type %#x", id, a->msg.type);
            for (int k = 0; k < ALGO_NFIELDS; k++)
                FUZZ_CHECK(a->msg.f[k] >= 0, "node %d: %s field %d = %lld", id,
                           w.ops[id]->msg_name(a->msg.type) ? w.ops[id]->msg_name(a->msg.type) : "?",
                           k, (long long)a->msg.f[k]);
            break;
        case ACT_STORE_APPEND: {
            const uint8_t *p = a->msg.payload, *end = p + a->msg.len;
            struct algo_entry e;
            int k = 0;
            while (p < end && algo_entries_next(&p, end, &e))
                k++;
            FUZZ_CHECK(p == end && k == a->count, "node %d: append of %d entries holds %d", id,
                       a->count, k);
            FUZZ_CHECK(a->index >= 1, "node %d: append at %lld", id, (long long)a->index);
            break;
        }
        case ACT_STORE_TERM_VOTE:
            FUZZ_CHECK(a->term >= 0 && a->vote >= 0 && a->vote <= N, "node %d: term %lld vote %lld",
                       id, (long long)a->term, (long long)a->vote);
            break;
        default:
            break;
        }
    }
}

static void step(int id, const struct algo_event *ev)
{
    if (!w.core[id])
        return;
    algo_actions_clear(&w.out);
    w.ops[id]->step(w.core[id], ev, &w.out);
    check_actions(id);
    for (int i = 0; i < w.out.n; i++) {
        const struct algo_action *a = &w.out.a[i];
        if (a->kind == ACT_SET_TIMER)
            w.timer[id][a->timer_id] = true;
        else if (a->kind == ACT_CANCEL_TIMER)
            w.timer[id][a->timer_id] = false;
        else if (a->kind == ACT_SEND && w.qlen < QCAP) {
            struct qmsg *q = &w.q[(w.qhead + w.qlen++) % QCAP];
            q->m = a->msg;
            q->payload = NULL;
            if (a->msg.len) {
                q->payload = malloc(a->msg.len);
                if (q->payload)
                    memcpy(q->payload, a->msg.payload, a->msg.len);
                else
                    q->m.len = 0;
            }
            q->m.payload = q->payload;
        }
    }
}

/* Entries of the forged storage image: the input's bytes. */
struct image {
    struct algo_stored st;
    struct algo_entry e[16];
    int ne;
};
static bool image_entry(const void *ctx, int64_t index, struct algo_entry *e)
{
    const struct image *im = ctx;
    if (index < im->st.first_index || index > im->st.last_index)
        return false;
    *e = im->e[index - im->st.first_index];
    return true;
}

static void start(int id, const struct algo_stored *stored, int inc)
{
    const struct algo_ops *raft = algo_find("raft");
    w.ops[id] = id <= N ? raft : raft->client;
    struct algo_env *e = &w.env[id];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->n = N;
    e->clients = C;
    e->seed = 1000 + (uint64_t)id;
    e->incarnation = inc;
    e->mem = &algo_mem_libc;
    e->max_inline = 1024;
    e->stored = stored;
    e->raft_election_min_us = 150000;
    e->raft_election_max_us = 300000;
    e->raft_heartbeat_us = 50000;
    e->raft_snapshot_entries = 8; /* reach snapshots in short scripts */
    e->client_window = 4; /* a pipelining client: batches, windowed sessions */
    w.core[id] = calloc(1, w.ops[id]->state_size);
    if (!w.core[id] || w.ops[id]->init(w.core[id], e) != 0) {
        /* refusing a bad image is allowed; it must not leak */
        if (w.core[id] && w.ops[id]->fini)
            w.ops[id]->fini(w.core[id]);
        free(w.core[id]);
        w.core[id] = NULL;
        return;
    }
    memset(w.timer[id], 0, sizeof w.timer[id]);
    step(id, &(struct algo_event){.kind = EV_START, .now_us = w.now});
}

static void stop(int id)
{
    if (!w.core[id])
        return;
    if (w.ops[id]->fini)
        w.ops[id]->fini(w.core[id]);
    free(w.core[id]);
    w.core[id] = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct algo_actions out; /* once: a 1 MiB arena per input is slow */
    if (!out.a && algo_actions_init(&out, P) != 0)
        return 0;
    memset(&w, 0, sizeof w);
    w.out = out;
    struct in in = {data, size, 0};
    struct image im;
    memset(&im, 0, sizeof im);
    uint8_t cmd[64];
    for (int id = 1; id <= P; id++)
        start(id, NULL, 1);

    for (int rec = 0; rec < 400 && in.at < in.n; rec++) {
        uint8_t op = byte(&in);
        int id = 1 + byte(&in) % P;
        w.now += 1 + (int64_t)(byte(&in)) * 1000;
        switch (op % 8) {
        case 0: case 1: case 2: /* the next honest message */
            if (w.qlen) {
                struct qmsg q = w.q[w.qhead];
                w.qhead = (w.qhead + 1) % QCAP;
                w.qlen--;
                step(q.m.to, &(struct algo_event){.kind = EV_MESSAGE, .now_us = w.now, .msg = q.m});
                free(q.payload);
            }
            break;
        case 3: { /* a timer of node id */
            int t = byte(&in) % ALGO_MAX_TIMERS;
            if (w.timer[id][t]) {
                w.timer[id][t] = false;
                step(id, &(struct algo_event){.kind = EV_TIMER, .now_us = w.now, .timer_id = t});
            }
            break;
        }
        case 4: { /* a forged message */
            struct algo_msg m = {0};
            uint8_t t = byte(&in);
            m.type = (uint16_t)(MSG_RANGE_RAFT + (t % 12) - (t & 0x80 ? 1 : 0));
            m.from = (uint16_t)(byte(&in) % (P + 2));
            m.to = (uint16_t)id;
            for (int k = 0; k < ALGO_NFIELDS; k++)
                m.f[k] = field(&in);
            uint32_t len = (uint32_t)raw(&in, 2) % 2048;
            uint8_t *pl = malloc(len ? len : 1);
            if (!pl)
                break;
            for (uint32_t i = 0; i < len; i++)
                pl[i] = byte(&in);
            m.len = len;
            m.payload = pl;
            step(id, &(struct algo_event){.kind = EV_MESSAGE, .now_us = w.now, .msg = m});
            free(pl);
            break;
        }
        case 5: { /* a client command */
            uint32_t len = byte(&in) % sizeof cmd;
            for (uint32_t i = 0; i < len; i++)
                cmd[i] = byte(&in);
            struct algo_event ev = {.kind = EV_COMMAND, .now_us = w.now};
            ev.msg.f[0] = field(&in);
            ev.msg.f[1] = byte(&in) & 1; /* more follow (or not, whatever it says) */
            ev.msg.len = len;
            ev.msg.payload = cmd;
            step(N + 1, &ev);
            break;
        }
        case 6: { /* a sync, true or not */
            struct algo_event ev = {.kind = EV_PERSISTED, .now_us = w.now};
            ev.index = field(&in);
            ev.term = field(&in);
            step(id, &ev);
            break;
        }
        case 7: { /* a failed send, or a crash and restart from a forged image */
            if (byte(&in) & 1) {
                struct algo_event ev = {.kind = EV_SEND_FAILED, .now_us = w.now};
                ev.msg.type = (uint16_t)(MSG_RANGE_RAFT + byte(&in) % 12);
                ev.msg.from = (uint16_t)id;
                ev.msg.to = (uint16_t)(1 + byte(&in) % P);
                for (int k = 0; k < ALGO_NFIELDS; k++)
                    ev.msg.f[k] = field(&in);
                step(id, &ev);
                break;
            }
            if (id > N)
                break;
            stop(id);
            im.st.term = field(&in);
            im.st.vote = field(&in);
            im.st.snap_index = byte(&in) % 4 ? 0 : field(&in);
            if (im.st.snap_index < 0 || im.st.snap_index > (INT64_C(1) << 52))
                im.st.snap_index = 0; /* storage never recovers a log that long */
            im.st.snap_term = im.st.snap_index ? field(&in) : 0;
            static uint8_t snap[256];
            im.st.snap_len = im.st.snap_index ? byte(&in) : 0;
            for (uint32_t i = 0; i < im.st.snap_len; i++)
                snap[i] = byte(&in);
            im.st.snap = im.st.snap_len ? snap : NULL;
            im.ne = byte(&in) % 16;
            static uint8_t edata[16][32];
            for (int k = 0; k < im.ne; k++) {
                im.e[k].term = field(&in);
                im.e[k].len = byte(&in) % 32;
                for (uint32_t i = 0; i < im.e[k].len; i++)
                    edata[k][i] = byte(&in);
                im.e[k].data = edata[k];
            }
            im.st.first_index = im.st.snap_index + 1;
            im.st.last_index = im.st.snap_index + im.ne;
            im.st.entry = image_entry;
            im.st.ctx = &im;
            start(id, &im.st, 2);
            break;
        }
        }
    }
    for (int id = 1; id <= P; id++)
        stop(id);
    while (w.qlen) {
        free(w.q[w.qhead].payload);
        w.qhead = (w.qhead + 1) % QCAP;
        w.qlen--;
    }
    return 0;
}
