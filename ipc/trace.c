#include "ipc/trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/util.h"

#define TRACE_CHUNK (1u << 20) /* grow the mapping a MiB at a time */

const char *trace_ev_name(int ev)
{
    static const char *const names[TR_EV_COUNT] = {
        [TR_NONE] = "none",       [TR_SEND] = "send",       [TR_RECV] = "recv",
        [TR_DROP] = "drop",       [TR_REQUEST] = "request", [TR_ENTER] = "enter",
        [TR_EXIT] = "exit",       [TR_ROLE] = "role",       [TR_COMMIT] = "commit",
        [TR_APPLY] = "apply",     [TR_INVOKE] = "invoke",   [TR_OK] = "ok",
        [TR_FAIL] = "fail",       [TR_TIMEOUT] = "timeout", [TR_CRASH] = "crash",
        [TR_RESTART] = "restart", [TR_PAUSE] = "pause",     [TR_RESUME] = "resume",
        [TR_FAULT] = "fault",     [TR_START] = "start",     [TR_STOP] = "stop",
        [TR_DONE] = "done",       [TR_PEER_DOWN] = "peer_down", [TR_PEER_UP] = "peer_up",
    };
    return ev > 0 && ev < TR_EV_COUNT ? names[ev] : "unknown";
}

int trace_open(struct trace_writer *w, const char *rundir, int node, int incarnation,
               int64_t t0_mono_us, char *errbuf)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/trace", rundir);
    int rc = dl_mkdirs(dir, errbuf);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/n%d.%d.bin", dir, node, incarnation);
    w->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return dl_seterr(errbuf, errno, "%s: %s", path, strerror(errno));
    /* Allocate the blocks now: a sparse file would turn a full disk into a
     * SIGBUS at some later memcpy. */
    int e = posix_fallocate(w->fd, 0, TRACE_CHUNK);
    if (e != 0) {
        rc = dl_seterr(errbuf, e, "%s: %s", path, strerror(e));
        close(w->fd);
        w->fd = -1;
        return rc;
    }
    w->map = mmap(NULL, TRACE_CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0);
    if (w->map == MAP_FAILED) {
        rc = dl_seterr(errbuf, errno, "%s: mmap: %s", path, strerror(errno));
        close(w->fd);
        w->fd = -1;
        w->map = NULL;
        return rc;
    }
    w->cap = TRACE_CHUNK;
    w->node = node;
    w->incarnation = incarnation;
    w->t0 = t0_mono_us;
    return 0;
}

int64_t trace_now(const struct trace_writer *w)
{
    return dl_mono_us() - w->t0;
}

static int grow(struct trace_writer *w)
{
    size_t ncap = w->cap + TRACE_CHUNK;
    int e = posix_fallocate(w->fd, (off_t)w->cap, TRACE_CHUNK);
    if (e != 0)
        return -e;
    void *p = mremap(w->map, w->cap, ncap, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return -errno;
    w->map = p;
    w->cap = ncap;
    return 0;
}

struct trace_rec *trace_emit(struct trace_writer *w, struct trace_rec *r)
{
    if (r->t_us == 0)
        r->t_us = trace_now(w);
    return trace_emit_at(w, r);
}

struct trace_rec *trace_emit_at(struct trace_writer *w, struct trace_rec *r)
{
    if (!w->map)
        return NULL;
    if (w->used + sizeof *r > w->cap && grow(w) < 0) {
        /* Disk full: the trace ends here (said once in the log), the run
         * goes on. The blocks were allocated before use, so no SIGBUS. */
        if (!w->full)
            fprintf(stderr, "trace n%d.%d: cannot grow (disk full?): tracing stops here\n",
                    w->node, w->incarnation);
        w->full = true;
        return NULL;
    }
    r->seq = w->seq++;
    if (r->incarnation == 0)
        r->incarnation = w->incarnation; /* supervisor records name their subject's */
    r->mark = 0;
    struct trace_rec *dst = (struct trace_rec *)(w->map + w->used);
    memcpy(dst, r, sizeof *r);
    /* The marker last: a record torn by SIGKILL has none. */
    __atomic_store_n(&dst->mark, TRACE_MARK, __ATOMIC_RELEASE);
    w->used += sizeof *r;
    return dst;
}

void trace_close(struct trace_writer *w)
{
    if (w->map)
        munmap(w->map, w->cap);
    if (w->fd >= 0) {
        if (ftruncate(w->fd, (off_t)w->used) < 0) {
            /* Nothing to do: readers skip the unmarked tail. */
        }
        close(w->fd);
    }
    w->map = NULL;
    w->fd = -1;
}

static int cmp_rec(const void *a, const void *b)
{
    const struct trace_rec *x = a, *y = b;
    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->incarnation != y->incarnation)
        return x->incarnation < y->incarnation ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

int trace_load(const char *rundir, struct trace_rec **out, size_t *n, char *errbuf)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/trace", rundir);
    DIR *d = opendir(dir);
    if (!d)
        return dl_seterr(errbuf, errno, "%s: %s (is this a distlab run directory?)", dir,
                         strerror(errno));
    struct trace_rec *all = NULL;
    size_t len = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] != 'n' || nl < 5 || strcmp(e->d_name + nl - 4, ".bin") != 0)
            continue;
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *data;
        size_t size;
        rc = dl_read_file(path, &data, &size, errbuf);
        if (rc < 0)
            break;
        size_t cnt = size / sizeof(struct trace_rec);
        if (len + cnt > cap) {
            size_t ncap = (len + cnt) * 2;
            struct trace_rec *na = realloc(all, ncap * sizeof *na);
            if (!na) {
                free(data);
                rc = dl_seterr(errbuf, ENOMEM, "out of memory reading traces");
                break;
            }
            all = na;
            cap = ncap;
        }
        for (size_t i = 0; i < cnt; i++) {
            struct trace_rec r;
            memcpy(&r, data + i * sizeof r, sizeof r);
            if (r.mark != TRACE_MARK || r.ev == TR_NONE || r.ev >= TR_EV_COUNT)
                continue;
            all[len++] = r;
        }
        free(data);
    }
    closedir(d);
    if (rc < 0) {
        free(all);
        return rc;
    }
    if (len)
        qsort(all, len, sizeof *all, cmp_rec);
    *out = all;
    *n = len;
    return 0;
}
