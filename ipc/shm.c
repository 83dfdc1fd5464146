#include "ipc/shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/proc.h"
#include "ipc/trace.h"
#include "ipc/util.h"

const char *shm_node_state_name(int state)
{
    switch (state) {
    case NODE_STARTING: return "starting";
    case NODE_UP: return "up";
    case NODE_PAUSED: return "paused";
    case NODE_DOWN: return "down";
    case NODE_STOPPED: return "stopped";
    default: return "-";
    }
}

void shm_name(char *buf, size_t cap, uint32_t run_id)
{
    snprintf(buf, cap, "/" SHM_PREFIX "%08x", run_id);
}

/* The header, then a bulk area per process (0..procs). */
static size_t segment_size(int procs)
{
    size_t hdr = (sizeof(struct shm_run) + 4095) & ~(size_t)4095;
    return hdr + (size_t)(procs + 1) * SHM_BULK_SLOTS * SHM_BULK_SLOT;
}

int shm_create(struct shm_handle *h, uint32_t run_id, int n, char *errbuf)
{
    return shm_create_clients(h, run_id, n, 0, errbuf);
}

int shm_create_clients(struct shm_handle *h, uint32_t run_id, int n, int clients,
                       char *errbuf)
{
    memset(h, 0, sizeof *h);
    if (n < 1 || n > DL_MAX_NODES || clients < 0 || clients > DL_MAX_CLIENTS)
        return dl_seterr(errbuf, EINVAL,
                         "cannot create a run segment for %d nodes and %d clients (at most %d "
                         "and %d)",
                         n, clients, DL_MAX_NODES, DL_MAX_CLIENTS);
    shm_name(h->name, sizeof h->name, run_id);
    int fd = shm_open(h->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return dl_seterr(errbuf, errno, "cannot create shared memory %s: %s", h->name,
                         strerror(errno));
    size_t size = segment_size(n + clients);
    /* Reserve every page now. A sparse segment would start on a /dev/shm
     * too small for it and fail later, at some page fault in a node, as a
     * SIGBUS; reserved, it fails here with a message that says why. */
    int e = ftruncate(fd, (off_t)size) < 0 ? errno : posix_fallocate(fd, 0, (off_t)size);
    if (e != 0) {
        close(fd);
        shm_unlink(h->name);
        if (e == EFBIG)
            return dl_seterr(errbuf, e,
                             "cannot reserve shared memory %s in /dev/shm: its %zu bytes "
                             "(%.1f MiB, %d processes) exceed this process's file-size limit "
                             "(ulimit -f); raise the limit or run fewer nodes or clients",
                             h->name, size, (double)size / 1048576.0, n + clients);
        if (e == ENOSPC || e == ENOMEM)
            return dl_seterr(errbuf, e,
                             "cannot reserve shared memory %s: /dev/shm has not enough free "
                             "space for this run's segment, which needs %zu bytes (%.1f MiB) "
                             "for %d processes; free space in /dev/shm (stale runs: `distlab "
                             "clean`) or run fewer nodes or clients",
                             h->name, size, (double)size / 1048576.0, n + clients);
        return dl_seterr(errbuf, e, "cannot reserve %zu bytes of shared memory %s in /dev/shm: %s",
                         size, h->name, strerror(e));
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        shm_unlink(h->name);
        return dl_seterr(errbuf, e, "cannot map shared memory %s: %s", h->name, strerror(e));
    }
    h->run = p;
    h->size = size;
    struct shm_run *r = h->run;
    r->run_id = run_id;
    r->n = (uint32_t)n;
    r->clients = (uint32_t)clients;
    r->procs = (uint32_t)(n + clients);
    r->launcher_pid = getpid();
    r->launcher_start = proc_start_time(getpid());
    r->bulk_offset = (sizeof(struct shm_run) + 4095) & ~(size_t)4095;
    r->size = size;
    r->version = SHM_VERSION;
    /* The magic goes last: a reader that sees it sees a whole header. */
    atomic_thread_fence(memory_order_release);
    r->magic = SHM_MAGIC;
    return 0;
}

int shm_attach(struct shm_handle *h, const char *name, bool writable, char *errbuf)
{
    memset(h, 0, sizeof *h);
    if (name[0] == '/')
        snprintf(h->name, sizeof h->name, "%s", name);
    else
        snprintf(h->name, sizeof h->name, "/%s", name);
    int fd = shm_open(h->name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
    if (fd < 0)
        return dl_seterr(errbuf, errno, "cannot open shared memory %s: %s", h->name,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct shm_run)) {
        close(fd);
        return dl_seterr(errbuf, EPROTO, "%s is not a distlab run segment", h->name);
    }
    /* Only a segment of the calling user that nobody else can write: what
     * another user planted (its pids, its strings) is never believed. */
    if (st.st_uid != geteuid() || (st.st_mode & 07777) != 0600) {
        close(fd);
        return dl_seterr(errbuf, EPERM,
                         "%s is not yours (owner uid %u, mode %04o; yours are uid %u, 0600)",
                         h->name, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                         (unsigned)geteuid());
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | (writable ? PROT_WRITE : 0),
                   MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return dl_seterr(errbuf, errno, "cannot map %s: %s", h->name, strerror(errno));
    struct shm_run *r = p;
    if (r->magic != SHM_MAGIC || r->version != SHM_VERSION || r->n < 1 ||
        r->n > DL_MAX_NODES || r->clients > DL_MAX_CLIENTS || r->procs != r->n + r->clients ||
        r->size != (uint64_t)st.st_size || r->size != segment_size((int)r->procs) ||
        r->bulk_offset != ((sizeof(struct shm_run) + 4095) & ~(size_t)4095)) {
        munmap(p, (size_t)st.st_size);
        return dl_seterr(errbuf, EPROTO, "%s is not a distlab run segment of this version",
                         h->name);
    }
    h->run = r;
    h->size = (size_t)st.st_size;
    return 0;
}

void shm_detach(struct shm_handle *h)
{
    if (h->run)
        munmap(h->run, h->size);
    h->run = NULL;
}

int shm_unlink_run(uint32_t run_id)
{
    char name[64];
    shm_name(name, sizeof name, run_id);
    return shm_unlink(name) < 0 ? -errno : 0;
}

struct shm_bulk_slot *shm_bulk(struct shm_run *r, int from, int slot)
{
    char *base = (char *)r + r->bulk_offset;
    return (struct shm_bulk_slot *)(base + ((size_t)from * SHM_BULK_SLOTS + (size_t)slot) *
                                               SHM_BULK_SLOT);
}

int shm_list_runs(uint32_t *ids, int cap)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, SHM_PREFIX, strlen(SHM_PREFIX)) != 0)
            continue;
        const char *hex = e->d_name + strlen(SHM_PREFIX);
        char *end;
        unsigned long v = strtoul(hex, &end, 16);
        if (*end != '\0' || end - hex != 8)
            continue;
        if (n < cap)
            ids[n] = (uint32_t)v;
        n++;
    }
    closedir(d);
    return n < cap ? n : cap;
}

bool shm_run_alive(const struct shm_run *r)
{
    return proc_alive(r->launcher_pid, r->launcher_start);
}

int shm_read_prefix(uint32_t run_id, struct shm_prefix *p, int64_t *mtime, uint32_t *uid)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/" SHM_PREFIX "%08x", run_id);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (mtime)
        *mtime = (int64_t)st.st_mtime;
    if (uid)
        *uid = (uint32_t)st.st_uid;
    memset(p, 0, sizeof *p);
    ssize_t got = S_ISREG(st.st_mode) ? pread(fd, p, sizeof *p, 0) : -1;
    close(fd);
    return got == (ssize_t)sizeof *p && p->magic == SHM_MAGIC ? 1 : 0;
}

static int find_role(const struct shm_run *r, int role, bool term_first)
{
    int best = 0, best_up = 0;
    int64_t best_term = 0;
    uint32_t n = r->n <= DL_MAX_NODES ? r->n : DL_MAX_NODES;
    for (uint32_t k = 1; k <= n; k++) {
        const struct shm_node *sn = &r->node[k];
        int st = atomic_load(&sn->state);
        if ((st != NODE_UP && st != NODE_PAUSED) || atomic_load(&sn->role) != role)
            continue;
        int up = st == NODE_UP;
        int64_t term = atomic_load(&sn->term);
        /* k rises: a tie on (up, term) keeps the lower id. */
        bool better = term_first ? term > best_term || (term == best_term && up > best_up)
                                 : up > best_up || (up == best_up && term > best_term);
        if (!best || better) {
            best = (int)k;
            best_up = up;
            best_term = term;
        }
    }
    return best;
}

int shm_find_role(const struct shm_run *r, int role) { return find_role(r, role, false); }

int shm_find_leader(const struct shm_run *r, int role) { return find_role(r, role, true); }

/* ---- the critical resource: one 16-byte compare-and-swap per operation ---- */

_Static_assert(offsetof(struct shm_resource, counter) == offsetof(struct shm_resource, holder) + 8,
               "holder and counter form one 16-byte word");
_Static_assert(_Alignof(struct shm_resource) >= 16, "the 16-byte word must be aligned");

typedef unsigned __int128 res_word __attribute__((may_alias));

/* Compare *p with e and, if equal, store d; returns what *p held. */
#if defined(__x86_64__)
/* cmpxchg16b: every x86-64 CPU of the last fifteen years has it. Written
 * out, because compilers differ on whether they inline the builtin (clang
 * calls a libatomic function unless built with -mcx16). rdx:rax holds the
 * old value afterwards whether the exchange happened or not. */
static res_word res_cas16(res_word *p, res_word e, res_word d)
{
    uint64_t lo = (uint64_t)e, hi = (uint64_t)(e >> 64);
    __asm__ __volatile__("lock cmpxchg16b %0"
                         : "+m"(*p), "+a"(lo), "+d"(hi)
                         : "b"((uint64_t)d), "c"((uint64_t)(d >> 64))
                         : "memory", "cc");
    return (res_word)lo | (res_word)hi << 64;
}
#elif defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16)
static res_word res_cas16(res_word *p, res_word e, res_word d)
{
    return __sync_val_compare_and_swap(p, e, d);
}
#else
#error "the critical resource needs a lock-free 16-byte compare-and-swap"
#endif

struct res_pair {
    uint64_t holder;
    int64_t counter;
};

static res_word res_join(struct res_pair p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (res_word)p.holder | (res_word)(uint64_t)p.counter << 64;
#else
    return (res_word)(uint64_t)p.counter | (res_word)p.holder << 64;
#endif
}

static struct res_pair res_split(res_word w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (struct res_pair){(uint64_t)w, (int64_t)(uint64_t)(w >> 64)};
#else
    return (struct res_pair){(uint64_t)(w >> 64), (int64_t)(uint64_t)w};
#endif
}

/* Compare-and-swap the (holder, counter) pair; on failure *expect gets the
 * current pair. */
static bool res_cas(struct shm_resource *res, struct res_pair *expect, struct res_pair want)
{
    res_word *p = (res_word *)(void *)&res->holder;
    res_word e = res_join(*expect);
    res_word old = res_cas16(p, e, res_join(want));
    if (old == e)
        return true;
    *expect = res_split(old);
    return false;
}

/* A first guess for a CAS loop: the halves need not agree (the CAS checks). */
static struct res_pair res_guess(const struct shm_resource *res)
{
    return (struct res_pair){atomic_load(&res->holder), atomic_load(&res->counter)};
}

static uint64_t res_pack(int node, int64_t max_gen)
{
    return (uint64_t)node | (uint64_t)(max_gen + 1) << 16;
}

static int64_t gen_clamp(int64_t gen)
{
    return gen < -1 ? -1 : gen > SHM_GEN_MAX ? SHM_GEN_MAX : gen;
}

/* The outcome of an entry by node with generation g against holder word h. */
static int enter_outcome(uint64_t h, int node, int64_t g, bool fence)
{
    int64_t max = SHM_HOLDER_GEN(h);
    int who = SHM_HOLDER_NODE(h);
    if (fence && g < max)
        return RES_FENCED;
    if (who == 0)
        return RES_OK;
    (void)node;
    return fence && g > max ? RES_SUPERSEDED : RES_VIOLATION;
}

/* The outcome of an exit: the lease is intact while the holder field still
 * names the node (with fencing, a newer generation would have replaced it). */
static int exit_outcome(uint64_t h, int node, int64_t g, bool fence)
{
    if (SHM_HOLDER_NODE(h) == node)
        return RES_OK;
    if (fence && g < SHM_HOLDER_GEN(h))
        return RES_FENCED;
    return RES_VIOLATION;
}

int shm_resource_predict_enter(const struct shm_run *r, int node, int64_t gen, bool fencing)
{
    return enter_outcome(atomic_load(&r->res.holder), node, gen_clamp(gen), fencing && gen >= 0);
}

int shm_resource_predict_exit(const struct shm_run *r, int node, int64_t gen, bool fencing)
{
    return exit_outcome(atomic_load(&r->res.holder), node, gen_clamp(gen), fencing && gen >= 0);
}

int shm_resource_enter(struct shm_run *r, int node, int64_t gen, bool fencing,
                       int64_t *read_counter)
{
    struct shm_resource *res = &r->res;
    bool fence = fencing && gen >= 0;
    int64_t g = gen_clamp(gen);
    struct res_pair cur = res_guess(res);
    int rc;
    for (;;) {
        rc = enter_outcome(cur.holder, node, g, fence);
        if (rc == RES_FENCED) {
            /* The fenced generation never decreases, so a refusal read
             * from any (even torn) guess is final: nothing changes. */
            atomic_fetch_add(&res->fenced, 1);
            *read_counter = 0;
            return rc;
        }
        int64_t max = SHM_HOLDER_GEN(cur.holder);
        struct res_pair want = {res_pack(node, g > max ? g : max), cur.counter};
        if (res_cas(res, &cur, want))
            break;
    }
    if (rc == RES_SUPERSEDED)
        atomic_fetch_add(&res->superseded, 1);
    else if (rc == RES_VIOLATION)
        atomic_fetch_add(&res->violations, 1);
    atomic_fetch_add(&res->entries, 1);
    /* The slow read-modify-write starts here: the value read with the lease
     * is written back (+1) on exit, so another node inside meanwhile loses
     * an update. */
    *read_counter = cur.counter;
    return rc;
}

int shm_resource_exit(struct shm_run *r, int node, int64_t gen, bool fencing,
                      int64_t read_counter)
{
    struct shm_resource *res = &r->res;
    bool fence = fencing && gen >= 0;
    int64_t g = gen_clamp(gen);
    struct res_pair cur = res_guess(res);
    for (;;) {
        int rc = exit_outcome(cur.holder, node, g, fence);
        if (rc == RES_FENCED) {
            /* A newer generation entered since: this write is refused. */
            atomic_fetch_add(&res->fenced, 1);
            return rc;
        }
        struct res_pair want = {cur.holder, read_counter + 1};
        if (rc == RES_OK)
            want.holder = res_pack(0, SHM_HOLDER_GEN(cur.holder));
        if (res_cas(res, &cur, want))
            return rc;
    }
}

/* The last whole record of a node's trace file (RUNDIR/trace/n<K>.<inc>.bin,
 * see ipc/trace.h): records are appended, each marked last, and the file
 * is zero past the end, so the last marked record is the newest one. */
static bool last_trace_record(const struct shm_run *r, int node, struct trace_rec *out)
{
    char path[1200];
    int inc = atomic_load(&r->node[node].incarnation);
    if (snprintf(path, sizeof path, "%s/trace/n%d.%d.bin", r->rundir, node, inc) >=
            (int)sizeof path ||
        !r->rundir[0])
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool found = false;
    if (fstat(fd, &st) == 0) {
        struct trace_rec buf[256];
        off_t end = st.st_size / (off_t)sizeof *buf * (off_t)sizeof *buf;
        while (!found && end > 0) {
            off_t from = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
            ssize_t got = pread(fd, buf, (size_t)(end - from), from);
            if (got != end - from)
                break;
            for (size_t i = (size_t)got / sizeof *buf; i-- > 0;) {
                if (buf[i].mark == TRACE_MARK && buf[i].ev != TR_NONE &&
                    buf[i].ev < TR_EV_COUNT && buf[i].node == node) {
                    *out = buf[i];
                    found = true;
                    break;
                }
            }
            end = from;
        }
    }
    close(fd);
    return found;
}

void shm_resource_drop(struct shm_run *r, int node)
{
    struct shm_resource *res = &r->res;
    struct res_pair cur = res_guess(res);
    if (SHM_HOLDER_NODE(cur.holder) != node)
        return;
    /* Still the holder, so its exit write has not happened (exit writes and
     * gives the lease back in one step). Did it record the exit first? */
    struct trace_rec last;
    bool redo = last_trace_record(r, node, &last) && last.ev == TR_EXIT && last.aux == RES_OK;
    for (;;) {
        if (SHM_HOLDER_NODE(cur.holder) != node)
            return;
        struct res_pair want = {res_pack(0, SHM_HOLDER_GEN(cur.holder)),
                                redo ? last.a : cur.counter};
        if (res_cas(res, &cur, want))
            break;
    }
    if (redo)
        atomic_fetch_add(&res->recovered, 1);
}
