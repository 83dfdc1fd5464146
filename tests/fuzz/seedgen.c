/* Seeds for the fuzz targets (run by tests/fuzz/run.sh; not a test).
 *
 *   seedgen wire OUTDIR         one file per message type each algorithm
 *                               sent in a small cluster driven here, in
 *                               fuzz_wire's input format
 *   seedgen pack OUT RUNDIR     a run directory (run.json, config.ini and
 *                               the trace files) in fuzz_trace's input
 *                               format; the zero-filled tail of a trace file
 *                               left by a killed process is cut to one record
 *   seedgen tear OUT RUNDIR     the same, with every trace file cut in the
 *                               middle of its last record (a torn write)
 *
 * The wire messages are real: each core is driven through start, requests,
 * deliveries, releases, a peer going down and its timers, and what it sends
 * is encoded by wire_encode as the transport would. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/storage.h"
#include "ipc/wire.h"
#include "nodes/algo.h"
#include "nodes/runtime.h"

#define FUZZ_RUN_ID 0x5eed0001u
#define N 6
#define QCAP 4096
#define PER_TYPE 2

static int write_seed(const char *dir, const char *name, const void *a, size_t alen,
                      const void *b, size_t blen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "seedgen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fwrite(a, 1, alen, f);
    if (blen)
        fwrite(b, 1, blen, f);
    if (fclose(f) != 0) {
        fprintf(stderr, "seedgen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* One message as fuzz_wire reads it: [n-1][self][wire bytes]. */
static int wire_seed(const char *dir, const char *name, int n, const struct wire_hdr *h,
                     const void *payload)
{
    uint8_t buf[sizeof(struct wire_hdr) + 256];
    uint8_t pre[2] = {(uint8_t)(n - 1), (uint8_t)h->to};
    int len = wire_encode(buf, sizeof buf, h, payload);
    if (len < 0)
        return -1;
    return write_seed(dir, name, pre, 2, buf, (size_t)len);
}

struct queued {
    struct algo_msg m;
};

static int gen_algo(const struct algo_ops *ops, const char *dir)
{
    void *st[N + 1];
    struct algo_actions acts;
    static struct queued q[QCAP];
    int qhead = 0, qtail = 0, count[MSG_RANGE_SIZE] = {0}, written = 0;
    if (algo_actions_init(&acts, N) < 0)
        return -1;
    for (int k = 1; k <= N; k++) {
        struct algo_env env = {0};
        env.id = k;
        env.n = N;
        env.incarnation = 1;
        env.seed = 42 + (uint64_t)k;
        env.coordinator = 1;
        env.token_timeout_us = 300000;
        env.token_idle_hold_us = 1000;
        env.election_timeout_us = 100000;
        env.groups = 2;
        env.local_rounds = 1;
        env.initial_clock = k == 3 ? 7 : 0;
        env.mem = &algo_mem_libc;
        env.max_inline = 1024;
        st[k] = calloc(1, ops->state_size);
        if (!st[k] || ops->init(st[k], &env) < 0) {
            fprintf(stderr, "seedgen: %s: init failed\n", ops->name);
            free(st[k]);
            for (int j = 1; j < k; j++) {
                if (ops->fini)
                    ops->fini(st[j]);
                free(st[j]);
            }
            algo_actions_free(&acts);
            return -1;
        }
    }
    int64_t now = 0;
    /* Events, in order: start everyone, everyone requests, then deliver
     * until quiet (releasing each CS at once); then node 1 is believed down
     * by the others, and timers 0..7 fire on them one after another, a
     * second apart, each followed by delivery. */
    for (int phase = 0; phase < 11; phase++) {
        for (int k = 1; k <= N; k++) {
            struct algo_event ev = {.now_us = now};
            if (phase == 0)
                ev.kind = EV_START;
            else if (phase == 1)
                ev.kind = EV_REQUEST;
            else if (phase == 2) {
                if (k == 1)
                    continue;
                ev.kind = EV_PEER_DOWN;
                ev.peer = 1;
            } else {
                if (k == 1)
                    continue;
                ev.kind = EV_TIMER;
                ev.timer_id = phase - 3;
                ev.now_us = now += 1000000;
            }
            int pending_events = 1;
            while (pending_events-- > 0) {
                algo_actions_clear(&acts);
                ops->step(st[k], &ev, &acts);
                bool entered = false;
                for (int i = 0; i < acts.n; i++) {
                    const struct algo_action *a = &acts.a[i];
                    if (a->kind == ACT_SEND && qtail < QCAP)
                        q[qtail++].m = a->msg;
                    if (a->kind == ACT_ENTER_CS)
                        entered = true;
                }
                if (entered) {
                    ev = (struct algo_event){.kind = EV_RELEASE, .now_us = now};
                    pending_events++;
                }
            }
            now += 1000;
            /* Deliver what is in flight, replies included. */
            for (int steps = 0; qhead < qtail && steps < 2000; steps++) {
                struct algo_msg m = q[qhead++].m;
                unsigned t = m.type - ops->range;
                if (t < MSG_RANGE_SIZE && count[t] < PER_TYPE) {
                    struct wire_hdr h = {0};
                    h.type = m.type;
                    h.run_id = FUZZ_RUN_ID;
                    h.from = m.from;
                    h.to = m.to;
                    h.len = 0;
                    h.flags = (uint32_t)1 << WIRE_INC_SHIFT;
                    h.send_us = now;
                    memcpy(h.f, m.f, sizeof h.f);
                    char name[96];
                    const char *tn = ops->msg_name(m.type);
                    snprintf(name, sizeof name, "%s-%s-%d", ops->name, tn ? tn : "unknown",
                             count[t]);
                    for (char *p = name; *p; p++)
                        if (*p == ' ' || *p == '/')
                            *p = '_';
                    if (wire_seed(dir, name, N, &h, NULL) < 0)
                        return -1;
                    count[t]++;
                    written++;
                }
                if (m.to < 1 || m.to > N || (phase >= 2 && m.to == 1))
                    continue;
                struct algo_event ev2 = {.kind = EV_MESSAGE, .now_us = now};
                ev2.msg = m;
                ev2.msg.payload = NULL;
                ev2.msg.len = 0;
                int pending = 1;
                while (pending-- > 0) {
                    algo_actions_clear(&acts);
                    ops->step(st[m.to], &ev2, &acts);
                    bool entered = false;
                    for (int i = 0; i < acts.n; i++) {
                        const struct algo_action *a = &acts.a[i];
                        if (a->kind == ACT_SEND && qtail < QCAP)
                            q[qtail++].m = a->msg;
                        if (a->kind == ACT_ENTER_CS)
                            entered = true;
                    }
                    if (entered) {
                        ev2 = (struct algo_event){.kind = EV_RELEASE, .now_us = now};
                        pending++;
                    }
                }
                now += 100;
            }
        }
    }
    for (int k = 1; k <= N; k++) {
        if (ops->fini)
            ops->fini(st[k]);
        free(st[k]);
    }
    algo_actions_free(&acts);
    printf("seedgen: %s: %d messages\n", ops->name, written);
    return written > 0 ? 0 : -1;
}

static int gen_wire(const char *dir)
{
    for (int a = 0; algo_table[a]; a++)
        if (gen_algo(algo_table[a], dir) < 0)
            return -1;
    /* The runtime's own messages: supervisor -> node and node -> supervisor. */
    struct wire_hdr h = {.run_id = FUZZ_RUN_ID, .type = MSG_RT_START, .from = 0, .to = 3};
    if (wire_seed(dir, "runtime-start", 5, &h, NULL) < 0)
        return -1;
    h = (struct wire_hdr){.run_id = FUZZ_RUN_ID, .type = MSG_RT_READY, .from = 2, .to = 0,
                          .flags = 2u << WIRE_INC_SHIFT};
    h.f[0] = 2;
    if (wire_seed(dir, "runtime-ready", 5, &h, NULL) < 0)
        return -1;
    /* A payload inline, and a bulk descriptor. */
    const char payload[] = "a payload that travels inline";
    h = (struct wire_hdr){.run_id = FUZZ_RUN_ID, .type = MSG_RANGE_RAFT + 1, .from = 1, .to = 2,
                          .len = sizeof payload, .flags = 1u << WIRE_INC_SHIFT};
    if (wire_seed(dir, "payload-inline", 3, &h, payload) < 0)
        return -1;
    struct wire_bulk d = {.slot = 3, .len = 5000, .seq = 77};
    h = (struct wire_hdr){.run_id = FUZZ_RUN_ID, .type = MSG_RANGE_RAFT + 1, .from = 1, .to = 2,
                          .len = sizeof d, .flags = WIRE_F_BULK | 1u << WIRE_INC_SHIFT};
    return wire_seed(dir, "payload-bulk", 3, &h, &d);
}

/* ---- run directories ---- */

static FILE *pack_out;

static void put_chunk(unsigned sel, const char *name, const uint8_t *data, size_t len)
{
    do {
        size_t part = len > 0xffff ? 0xffff : len;
        fputc((int)sel, pack_out);
        if (sel & 0x80) {
            size_t nl = strlen(name);
            fputc((int)nl, pack_out);
            fwrite(name, 1, nl, pack_out);
        }
        fputc((int)(part & 0xff), pack_out);
        fputc((int)(part >> 8), pack_out);
        fwrite(data, 1, part, pack_out);
        data += part;
        len -= part;
    } while (len);
}

static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return -1;
    *out = buf;
    *len = n;
    return 0;
}

static int pack(const char *out, const char *rundir, bool tear)
{
    pack_out = fopen(out, "wb");
    if (!pack_out) {
        fprintf(stderr, "seedgen: %s: %s\n", out, strerror(errno));
        return -1;
    }
    static const char *const top[] = {"run.json", "config.ini"};
    for (size_t i = 0; i < 2; i++) {
        char path[4200];
        uint8_t *data;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", rundir, top[i]);
        if (read_all(path, &data, &len) == 0) {
            put_chunk(0x80 | 0x40, top[i], data, len);
            free(data);
        }
    }
    char tdir[4200];
    snprintf(tdir, sizeof tdir, "%s/trace", rundir);
    DIR *d = opendir(tdir);
    if (!d) {
        fprintf(stderr, "seedgen: %s: %s\n", tdir, strerror(errno));
        fclose(pack_out);
        return -1;
    }
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", tdir, e->d_name);
        uint8_t *data;
        size_t len;
        if (read_all(path, &data, &len) < 0)
            continue;
        /* A killed writer leaves its preallocated, zero-filled tail: keep
         * one empty record of it. */
        size_t used = len;
        while (used >= 64) {
            size_t i = used - 64;
            bool zero = true;
            for (size_t j = i; j < used && zero; j++)
                zero = data[j] == 0;
            if (!zero)
                break;
            used = i;
        }
        if (used + 64 <= len)
            used += 64;
        if (tear && used > 40)
            used -= 40;
        int node, inc;
        char rest;
        unsigned sel;
        if (sscanf(e->d_name, "n%d.%d.bi%c", &node, &inc, &rest) == 3 && node >= 0 &&
            node < 32 && inc >= 1 && inc <= 4 &&
            strcmp(e->d_name + strlen(e->d_name) - 4, ".bin") == 0)
            sel = (unsigned)node | (unsigned)(inc - 1) << 5;
        else
            sel = 0x80;
        put_chunk(sel, e->d_name, data, used);
        free(data);
        files++;
    }
    closedir(d);
    if (fclose(pack_out) != 0)
        return -1;
    printf("seedgen: %s: %d trace files\n", out, files);
    return 0;
}

/* Valid log files for the storage target: every record type, a
 * truncation, a snapshot, and a compacted file. */
static int gen_storage(const char *dir)
{
    static const char *const names[] = {"plain", "truncated", "snapshot", "compacted"};
    for (int k = 0; k < 4; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        struct storage_opts o = {.fsync = false};
        struct storage *s;
        if (storage_open(&s, path, &o, NULL, NULL) < 0)
            return -1;
        storage_save_term_vote(s, 1, 1, NULL);
        for (int i = 1; i <= 6; i++) {
            char cmd[16];
            int len = snprintf(cmd, sizeof cmd, "c1-%d", i);
            struct storage_entry e = {.term = 1 + i / 3, .cmd = cmd, .len = (uint32_t)len};
            storage_append(s, i, &e, 1, NULL);
        }
        storage_save_term_vote(s, 3, 2, NULL);
        if (k >= 1)
            storage_truncate(s, 5, NULL);
        if (k >= 2)
            storage_snapshot(s, 3, 2, "state", 5, NULL);
        if (k >= 3)
            storage_compact(s, NULL);
        storage_sync(s, NULL);
        storage_close(s);
    }
    printf("seedgen: storage: 4 files\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "storage") == 0)
        return gen_storage(argv[2]) < 0;
    if (argc == 3 && strcmp(argv[1], "wire") == 0)
        return gen_wire(argv[2]) < 0;
    if (argc == 4 && strcmp(argv[1], "pack") == 0)
        return pack(argv[2], argv[3], false) < 0;
    if (argc == 4 && strcmp(argv[1], "tear") == 0)
        return pack(argv[2], argv[3], true) < 0;
    fprintf(stderr, "usage: seedgen wire OUTDIR | pack OUT RUNDIR | tear OUT RUNDIR\n");
    return 2;
}
