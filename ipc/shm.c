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

static size_t segment_size(int n)
{
    size_t hdr = (sizeof(struct shm_run) + 4095) & ~(size_t)4095;
    return hdr + (size_t)(n + 1) * SHM_BULK_SLOTS * SHM_BULK_SLOT;
}

int shm_create(struct shm_handle *h, uint32_t run_id, int n, char *errbuf)
{
    memset(h, 0, sizeof *h);
    shm_name(h->name, sizeof h->name, run_id);
    int fd = shm_open(h->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return dl_seterr(errbuf, errno, "cannot create shared memory %s: %s", h->name,
                         strerror(errno));
    size_t size = segment_size(n);
    /* The bulk areas are sparse: tmpfs allocates a page only when touched. */
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        close(fd);
        shm_unlink(h->name);
        return dl_seterr(errbuf, e, "cannot size shared memory %s: %s", h->name, strerror(e));
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        int e = errno;
        shm_unlink(h->name);
        return dl_seterr(errbuf, e, "cannot map shared memory %s: %s", h->name, strerror(e));
    }
    h->run = p;
    h->size = size;
    struct shm_run *r = h->run;
    r->run_id = run_id;
    r->n = (uint32_t)n;
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
        r->n > DL_MAX_NODES || r->size != (uint64_t)st.st_size) {
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

int shm_find_role(const struct shm_run *r, int role)
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
        if (!best || up > best_up || (up == best_up && term > best_term)) {
            best = (int)k;
            best_up = up;
            best_term = term;
        }
    }
    return best;
}

static uint64_t pack(int node, int64_t gen)
{
    return (uint64_t)node | ((uint64_t)(gen + 1) << 16);
}

static int64_t holder_gen(uint64_t h)
{
    return (int64_t)(h >> 16) - 1;
}

int shm_resource_enter(struct shm_run *r, int node, int64_t gen, bool fencing,
                       int64_t *read_counter)
{
    struct shm_resource *res = &r->res;
    bool fence = fencing && gen >= 0;
    *read_counter = 0;
    if (fence) {
        int64_t max = atomic_load(&res->max_gen);
        while (gen > max && !atomic_compare_exchange_weak(&res->max_gen, &max, gen))
            ;
        if (gen < max) {
            atomic_fetch_add(&res->fenced, 1);
            return RES_FENCED;
        }
    }
    uint64_t mine = pack(node, gen), cur = 0;
    int rc = RES_OK;
    if (!atomic_compare_exchange_strong(&res->holder, &cur, mine)) {
        if (fence && holder_gen(cur) < gen) {
            atomic_fetch_add(&res->superseded, 1);
            rc = RES_SUPERSEDED;
        } else {
            atomic_fetch_add(&res->violations, 1);
            rc = RES_VIOLATION;
        }
        atomic_store(&res->holder, mine);
    }
    atomic_fetch_add(&res->entries, 1);
    /* The slow read-modify-write starts here: the value read now is written
     * back (+1) on exit, so another node inside meanwhile loses an update. */
    *read_counter = atomic_load(&res->counter);
    return rc;
}

int shm_resource_exit(struct shm_run *r, int node, int64_t gen, bool fencing,
                      int64_t read_counter)
{
    struct shm_resource *res = &r->res;
    uint64_t mine = pack(node, gen);
    if (fencing && gen >= 0 && gen < atomic_load(&res->max_gen)) {
        /* A newer generation entered since: this write is refused. */
        atomic_fetch_add(&res->fenced, 1);
        atomic_compare_exchange_strong(&res->holder, &mine, 0);
        return RES_FENCED;
    }
    atomic_store(&res->counter, read_counter + 1);
    if (!atomic_compare_exchange_strong(&res->holder, &mine, 0)) {
        atomic_fetch_add(&res->violations, 1);
        return RES_VIOLATION;
    }
    return RES_OK;
}

void shm_resource_drop(struct shm_run *r, int node)
{
    uint64_t cur = atomic_load(&r->res.holder);
    if (cur && SHM_HOLDER_NODE(cur) == node)
        atomic_compare_exchange_strong(&r->res.holder, &cur, 0);
}
