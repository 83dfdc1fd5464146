#include "ipc/trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/util.h"

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
        [TR_CUT] = "trace_cut",   [TR_LINK] = "link", [TR_TRUNCATE] = "truncate",
        [TR_RESULT] = "result",
    };
    return ev > 0 && ev < TR_EV_COUNT ? names[ev] : "unknown";
}

unsigned trace_ev_class(int ev)
{
    switch (ev) {
    case TR_SEND:
    case TR_RECV: return TRACE_CLASS_MESSAGES;
    case TR_REQUEST:
    case TR_ENTER:
    case TR_EXIT: return TRACE_CLASS_CS;
    case TR_COMMIT:
    case TR_APPLY:
    case TR_TRUNCATE: return TRACE_CLASS_LOG;
    case TR_INVOKE:
    case TR_RESULT:
    case TR_OK:
    case TR_FAIL:
    case TR_TIMEOUT: return TRACE_CLASS_CLIENTS;
    default: return 0;
    }
}

static const char *const class_names[TRACE_CLASS_COUNT] = {"messages", "cs", "log", "clients"};

const char *trace_class_name(int i)
{
    return i >= 0 && i < TRACE_CLASS_COUNT ? class_names[i] : "unknown";
}

void trace_classes_format(unsigned classes, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    buf[0] = '\0';
    if ((classes & TRACE_CLASS_ALL) == TRACE_CLASS_ALL) {
        snprintf(buf, cap, "all");
        return;
    }
    size_t len = 0;
    for (int i = 0; i < TRACE_CLASS_COUNT; i++) {
        if (!(classes & (1u << i)))
            continue;
        int k = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", class_names[i]);
        if (k < 0 || (size_t)k >= cap - len)
            return;
        len += (size_t)k;
    }
}

int trace_classes_parse(const char *text, unsigned *classes)
{
    unsigned m = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t)(p - start);
        while (*p == ' ' || *p == '\t')
            p++;
        if (len == 0 || (*p && *p != ','))
            return -EINVAL;
        if (len == 3 && strncmp(start, "all", 3) == 0) {
            m |= TRACE_CLASS_ALL;
        } else {
            int i = 0;
            while (i < TRACE_CLASS_COUNT &&
                   !(strlen(class_names[i]) == len && strncmp(start, class_names[i], len) == 0))
                i++;
            if (i == TRACE_CLASS_COUNT)
                return -EINVAL;
            m |= 1u << i;
        }
        if (!*p)
            break;
        p++; /* the comma */
    }
    *classes = m;
    return 0;
}

void trace_set_record(struct trace_writer *w, unsigned classes)
{
    uint32_t skip = 0;
    for (int ev = 0; ev < TR_EV_COUNT; ev++) {
        unsigned c = trace_ev_class(ev);
        if (c && !(classes & c))
            skip |= 1u << ev;
    }
    w->skip = skip;
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
    int e = posix_fallocate(w->fd, 0, (off_t)TRACE_INITIAL);
    if (e != 0) {
        rc = dl_seterr(errbuf, e, "%s: %s", path, strerror(e));
        close(w->fd);
        w->fd = -1;
        return rc;
    }
    w->map = mmap(NULL, TRACE_INITIAL, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0);
    if (w->map == MAP_FAILED) {
        rc = dl_seterr(errbuf, errno, "%s: mmap: %s", path, strerror(errno));
        close(w->fd);
        w->fd = -1;
        w->map = NULL;
        return rc;
    }
    w->cap = TRACE_INITIAL;
    w->max = TRACE_MAX_DEFAULT;
    /* The side file is created only by a process that has data to keep. */
    w->dfd = -1;
    size_t plen = strlen(path);
    w->dpath = malloc(plen + 1);
    if (w->dpath) {
        memcpy(w->dpath, path, plen + 1);
        memcpy(w->dpath + plen - 3, "dat", 3);
    } else {
        w->dfull = true; /* without its name, data is not kept */
    }
    w->node = node;
    w->incarnation = incarnation;
    w->t0 = t0_mono_us;
    return 0;
}

void trace_set_max(struct trace_writer *w, size_t max_bytes)
{
    if (max_bytes == 0)
        max_bytes = TRACE_MAX_DEFAULT;
    if (max_bytes < TRACE_MAX_MIN)
        max_bytes = TRACE_MAX_MIN;
    if (max_bytes > TRACE_MAX_MAX)
        max_bytes = TRACE_MAX_MAX;
    max_bytes -= max_bytes % TRACE_REC_SIZE;
    /* What is mapped stays: a cap below it takes effect as the mapping's
     * size. */
    w->max = max_bytes > w->cap ? max_bytes : w->cap;
}

int64_t trace_now(const struct trace_writer *w)
{
    return dl_mono_us() - w->t0;
}

/* Allocate and map more of the file: doubling (at most TRACE_GROW_MAX at a
 * time), never past the cap. */
static int grow(struct trace_writer *w)
{
    size_t step = w->cap < TRACE_GROW_MAX ? w->cap : TRACE_GROW_MAX;
    size_t ncap = w->max - w->cap < step ? w->max : w->cap + step;
    int e = posix_fallocate(w->fd, (off_t)w->cap, (off_t)(ncap - w->cap));
    if (e != 0)
        return -e;
    void *p = mremap(w->map, w->cap, ncap, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return -errno;
    w->map = p;
    w->cap = ncap;
    return 0;
}

/* Copy r into a slot: the marker is cleared first (the slot may hold an
 * older record of the ring) and set last, so a kill at any point leaves
 * either a whole record or one without its marker. */
static struct trace_rec *put_rec(uint8_t *slot, const struct trace_rec *r)
{
    struct trace_rec *dst = (struct trace_rec *)slot;
    __atomic_store_n(&dst->mark, 0, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memcpy(dst, r, offsetof(struct trace_rec, mark));
    __atomic_store_n(&dst->mark, TRACE_MARK, __ATOMIC_RELEASE);
    return dst;
}

static void number(struct trace_writer *w, struct trace_rec *r)
{
    r->seq = (uint32_t)w->seq;
    r->seq_hi = (uint16_t)(w->seq >> 32);
    w->seq++;
}

/* The file cannot grow: write the cut record into the slot kept free for
 * it and stop. r is the first record lost. */
static void cut(struct trace_writer *w, const struct trace_rec *r, int err)
{
    struct trace_rec c = {.t_us = r->t_us,
                          .node = (uint16_t)w->node,
                          .ev = TR_CUT,
                          .incarnation = w->incarnation,
                          .aux = err,
                          .a = 1};
    number(w, &c);
    w->cut = put_rec(w->map + (size_t)trace_rec_seq(&c) * TRACE_REC_SIZE, &c);
    w->full = true;
    w->lost = 1;
    fprintf(stderr, "trace n%d.%d: cannot grow the trace file (%s): tracing stops here\n",
            w->node, w->incarnation, strerror(err));
}

static struct trace_rec *append(struct trace_writer *w, struct trace_rec *r);

struct trace_rec *trace_emit(struct trace_writer *w, struct trace_rec *r)
{
    if (!trace_wanted(w, r->ev))
        return NULL;
    if (r->t_us == 0)
        r->t_us = trace_now(w);
    return append(w, r);
}

struct trace_rec *trace_emit_at(struct trace_writer *w, struct trace_rec *r)
{
    if (!trace_wanted(w, r->ev))
        return NULL;
    return append(w, r);
}

/* Number r and write it in the next slot (trace_emit_at without the class
 * check). */
static struct trace_rec *append(struct trace_writer *w, struct trace_rec *r)
{
    if (!w->map)
        return NULL;
    if (w->full) {
        /* Counted in the file too, so the count survives a kill. */
        w->cut->a = (int64_t)++w->lost;
        return NULL;
    }
    if (r->incarnation == 0)
        r->incarnation = w->incarnation; /* supervisor records name their subject's */
    size_t off;
    if (w->slots) {
        off = (size_t)(w->seq % w->slots) * TRACE_REC_SIZE;
    } else {
        off = (size_t)w->seq * TRACE_REC_SIZE;
        /* While the file can grow, its last slot is kept for a cut record. */
        size_t room = w->cap < w->max ? w->cap - TRACE_REC_SIZE : w->cap;
        if (off + TRACE_REC_SIZE > room) {
            if (w->cap >= w->max) {
                /* At the cap: from now on a ring over the whole file. */
                w->slots = w->cap / TRACE_REC_SIZE;
                off = (size_t)(w->seq % w->slots) * TRACE_REC_SIZE;
            } else {
                int rc = grow(w);
                if (rc < 0) {
                    cut(w, r, -rc);
                    return NULL;
                }
            }
        }
    }
    number(w, r);
    return put_rec(w->map + off, r);
}

/* Give back the side file's unused tail (a ring is all used). */
static void data_close(struct trace_writer *w)
{
    if (w->dmap)
        munmap(w->dmap, w->dcap);
    if (w->dfd >= 0) {
        if (!w->dring && ftruncate(w->dfd, (off_t)w->dpos) < 0) {
            /* Nothing to do: a reader checks each datum's hash. */
        }
        close(w->dfd);
    }
    free(w->dpath);
    w->dpath = NULL;
    w->dmap = NULL;
    w->dfd = -1;
}

void trace_close(struct trace_writer *w)
{
    if (w->dpath)
        data_close(w);
    if (w->map)
        munmap(w->map, w->cap);
    if (w->fd >= 0) {
        /* Give back what was allocated and not used (a ring is all used). */
        uint64_t nrec = w->slots ? w->slots : w->seq;
        if (ftruncate(w->fd, (off_t)(nrec * TRACE_REC_SIZE)) < 0) {
            /* Nothing to do: readers skip the unused tail. */
        }
        close(w->fd);
    }
    w->map = NULL;
    w->cut = NULL;
    w->fd = -1;
}

/* ---- reading ---- */

static int cmp_rec(const void *a, const void *b)
{
    const struct trace_rec *x = a, *y = b;
    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->incarnation != y->incarnation)
        return x->incarnation < y->incarnation ? -1 : 1;
    uint64_t sx = trace_rec_seq(x), sy = trace_rec_seq(y);
    return sx < sy ? -1 : (sx > sy);
}

static int cmp_file(const void *a, const void *b)
{
    const struct trace_file_info *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return (x->incarnation > y->incarnation) - (x->incarnation < y->incarnation);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Append the valid records of one file to s->recs and describe it. */
static int read_one(const char *path, struct trace_file_info *fi, struct trace_set *s,
                    size_t *cap, char *errbuf)
{
    char *data;
    size_t size;
    int rc = dl_read_file(path, &data, &size, errbuf);
    if (rc < 0)
        return rc;
    fi->bytes = size;
    size_t cnt = size / TRACE_REC_SIZE;
    if (s->n + cnt > *cap) {
        size_t ncap = (s->n + cnt) * 2;
        struct trace_rec *na = realloc(s->recs, ncap * sizeof *na);
        if (!na) {
            free(data);
            return dl_seterr(errbuf, ENOMEM, "out of memory reading traces");
        }
        s->recs = na;
        *cap = ncap;
    }
    for (size_t i = 0; i < cnt; i++) {
        struct trace_rec r;
        memcpy(&r, data + i * sizeof r, sizeof r);
        if (r.mark != TRACE_MARK || r.ev == TR_NONE || r.ev >= TR_EV_COUNT) {
            /* Never written (the file's unused tail), or torn by a kill. */
            if (!all_zero((const uint8_t *)&r, sizeof r))
                fi->torn++;
            continue;
        }
        if (r.t_us < 0 || r.t_us > TRACE_T_MAX || r.incarnation < 0 ||
            r.incarnation > TRACE_INC_MAX) {
            /* Whole but impossible: damaged or forged, and no time
             * arithmetic may rest on it. */
            fi->corrupt++;
            continue;
        }
        uint64_t seq = trace_rec_seq(&r);
        if (fi->records == 0 || seq < fi->first_seq) {
            fi->first_seq = seq;
            fi->first_t_us = r.t_us;
        }
        if (fi->records == 0 || seq > fi->last_seq) {
            fi->last_seq = seq;
            fi->last_t_us = r.t_us;
        }
        fi->records++;
        if (r.ev == TR_CUT) {
            fi->cut = true;
            fi->cut_errno = r.aux;
            fi->cut_t_us = r.t_us;
            fi->cut_lost = r.a;
        }
        s->recs[s->n++] = r;
    }
    free(data);
    if (fi->records) {
        fi->overwritten = fi->first_seq;
        uint64_t span = fi->last_seq - fi->first_seq + 1;
        /* More records than numbers: some share a seq, which no writer
         * does - count the excess as damaged rather than wrap around. */
        if (fi->records > span)
            fi->torn += fi->records - span;
        else
            fi->missing = span - fi->records;
    }
    return 0;
}

int trace_load_set(const char *rundir, struct trace_set *out, char *errbuf)
{
    memset(out, 0, sizeof *out);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/trace", rundir);
    DIR *d = opendir(dir);
    if (!d)
        return dl_seterr(errbuf, errno, "%s: %s (is this a distlab run directory?)", dir,
                         strerror(errno));
    struct trace_set s = {0};
    size_t cap = 0, fcap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        int node, inc, end = 0;
        if (sscanf(e->d_name, "n%d.%d.bin%n", &node, &inc, &end) != 2 ||
            e->d_name[end] != '\0')
            continue;
        if (s.nfiles == fcap) {
            size_t ncap = fcap ? 2 * fcap : 16;
            struct trace_file_info *nf = realloc(s.files, ncap * sizeof *nf);
            if (!nf) {
                rc = dl_seterr(errbuf, ENOMEM, "out of memory reading traces");
                break;
            }
            s.files = nf;
            fcap = ncap;
        }
        struct trace_file_info *fi = &s.files[s.nfiles++];
        memset(fi, 0, sizeof *fi);
        fi->node = node;
        fi->incarnation = inc;
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if ((rc = read_one(path, fi, &s, &cap, errbuf)) < 0)
            break;
    }
    closedir(d);
    if (rc < 0) {
        trace_set_free(&s);
        return rc;
    }
    if (s.n)
        qsort(s.recs, s.n, sizeof *s.recs, cmp_rec);
    if (s.nfiles)
        qsort(s.files, s.nfiles, sizeof *s.files, cmp_file);
    *out = s;
    return 0;
}

void trace_set_free(struct trace_set *s)
{
    free(s->recs);
    free(s->files);
    memset(s, 0, sizeof *s);
}

int trace_load(const char *rundir, struct trace_rec **out, size_t *n, char *errbuf)
{
    struct trace_set s;
    int rc = trace_load_set(rundir, &s, errbuf);
    if (rc < 0)
        return rc;
    free(s.files);
    *out = s.recs;
    *n = s.n;
    return 0;
}

/* ---- the data side file ---- */

/* The side file can no longer keep data: say so once (the records still
 * carry each datum's hash and length). */
static void data_stop(struct trace_writer *w, int err)
{
    w->dfull = true;
    fprintf(stderr,
            "trace n%d.%d: cannot grow the data side file (%s): commands are recorded by "
            "their hash only from here on\n",
            w->node, w->incarnation, strerror(err));
}

static int data_create(struct trace_writer *w)
{
    w->dfd = open(w->dpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->dfd < 0)
        return -errno;
    int e = posix_fallocate(w->dfd, 0, (off_t)TRACE_INITIAL);
    if (e != 0)
        return -e;
    void *p = mmap(NULL, TRACE_INITIAL, PROT_READ | PROT_WRITE, MAP_SHARED, w->dfd, 0);
    if (p == MAP_FAILED)
        return -errno;
    w->dmap = p;
    w->dcap = TRACE_INITIAL;
    return 0;
}

/* As grow() does for the records: doubling, at most TRACE_GROW_MAX at a
 * time, never past the cap (the record file's). */
static int data_grow(struct trace_writer *w)
{
    size_t step = w->dcap < TRACE_GROW_MAX ? w->dcap : TRACE_GROW_MAX;
    size_t ncap = w->max - w->dcap < step ? w->max : w->dcap + step;
    int e = posix_fallocate(w->dfd, (off_t)w->dcap, (off_t)(ncap - w->dcap));
    if (e != 0)
        return -e;
    void *p = mremap(w->dmap, w->dcap, ncap, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return -errno;
    w->dmap = p;
    w->dcap = ncap;
    return 0;
}

/* Copy len bytes into the side file: their offset, or -1 when not kept. */
static int64_t data_put(struct trace_writer *w, const void *data, uint32_t len)
{
    if (!w->map || w->dfull)
        return -1;
    if (len == 0)
        return (int64_t)w->dpos;
    int rc = 0;
    if (!w->dmap && (rc = data_create(w)) < 0) {
        data_stop(w, -rc);
        return -1;
    }
    if (!w->dring) {
        while (rc == 0 && w->dpos + len > w->dcap && w->dcap < w->max)
            rc = data_grow(w);
        if (rc < 0) {
            data_stop(w, -rc);
            return -1;
        }
        if (w->dpos + len > w->dcap) {
            /* At the cap: a ring over the whole file from here on. */
            if (len > w->dcap)
                return -1;
            w->dring = true;
        }
    }
    if (w->dring) {
        if (len > w->dcap)
            return -1;
        /* Never across the end: skip the rest of this lap. */
        if (w->dpos % w->dcap + len > w->dcap)
            w->dpos += w->dcap - w->dpos % w->dcap;
    }
    int64_t off = (int64_t)w->dpos;
    memcpy(w->dmap + w->dpos % w->dcap, data, len);
    w->dpos += len;
    return off;
}

struct trace_rec *trace_emit_data(struct trace_writer *w, struct trace_rec *r, const void *data,
                                  uint32_t len)
{
    if (!trace_wanted(w, r->ev))
        return NULL;
    r->b = trace_hash(data, len);
    r->aux = (int32_t)len;
    r->c = data_put(w, data, len);
    if (r->t_us == 0)
        r->t_us = trace_now(w);
    return append(w, r);
}

struct trace_rec *trace_emit_data_at(struct trace_writer *w, struct trace_rec *r,
                                     const void *data, uint32_t len)
{
    if (!trace_wanted(w, r->ev))
        return NULL;
    r->b = trace_hash(data, len);
    r->aux = (int32_t)len;
    r->c = data_put(w, data, len);
    return append(w, r);
}

/* ---- reading the side files ---- */

int trace_data_open(struct trace_data *d, const char *rundir, char *errbuf)
{
    memset(d, 0, sizeof *d);
    size_t len = strlen(rundir);
    d->dir = malloc(len + sizeof "/trace");
    if (!d->dir)
        return dl_seterr(errbuf, ENOMEM, "out of memory");
    memcpy(d->dir, rundir, len);
    memcpy(d->dir + len, "/trace", sizeof "/trace");
    return 0;
}

static struct trace_data_file *data_file(struct trace_data *d, int node, int inc)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->f[i].node == node && d->f[i].incarnation == inc)
            return &d->f[i];
    if (d->n == d->cap) {
        size_t ncap = d->cap ? 2 * d->cap : 16;
        struct trace_data_file *nf = realloc(d->f, ncap * sizeof *nf);
        if (!nf)
            return NULL;
        d->f = nf;
        d->cap = ncap;
    }
    struct trace_data_file *f = &d->f[d->n++];
    memset(f, 0, sizeof *f);
    f->node = node;
    f->incarnation = inc;
    char path[4200];
    snprintf(path, sizeof path, "%s/n%d.%d.dat", d->dir, node, inc);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            f->map = p;
            f->size = (size_t)st.st_size;
        }
    }
    if (fd >= 0)
        close(fd);
    return f;
}

const uint8_t *trace_data_get(struct trace_data *d, const struct trace_rec *r)
{
    if (r->c < 0 || r->aux < 0)
        return NULL;
    size_t len = (size_t)r->aux;
    if (len == 0)
        return r->b == trace_hash("", 0) ? (const uint8_t *)"" : NULL;
    struct trace_data_file *f = data_file(d, r->node, r->incarnation);
    if (!f || !f->map)
        return NULL;
    /* The bytes of offset c are at c % size (a ring wraps there; a file
     * that never wrapped is at least c + len long). */
    size_t off = (size_t)((uint64_t)r->c % f->size);
    if (len > f->size - off)
        return NULL;
    const uint8_t *p = f->map + off;
    return trace_hash(p, len) == r->b ? p : NULL;
}

void trace_data_close(struct trace_data *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->f[i].map)
            munmap((void *)d->f[i].map, d->f[i].size);
    free(d->f);
    free(d->dir);
    memset(d, 0, sizeof *d);
}
