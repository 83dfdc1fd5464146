#include "ipc/mq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "ipc/shm.h"
#include "ipc/util.h"

void mq_queue_name(char *buf, size_t cap, uint32_t run_id, int k)
{
    snprintf(buf, cap, "/" SHM_PREFIX "%08x.n%d", run_id, k);
}

size_t mq_bytes_for(int q, size_t msgsize)
{
    return (size_t)q * (MQ_DEPTH * msgsize + MQ_OVERHEAD);
}

static size_t budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return 819200;
    return (size_t)rl.rlim_cur;
}

size_t mq_msgsize_for(int procs)
{
    size_t share = budget() / 4;
    size_t size = MQ_MSGSIZE_MAX;
    while (size > MQ_MSGSIZE_MIN && mq_bytes_for(procs + 1, size) > share)
        size /= 2;
    return size;
}

int mq_create_queue(uint32_t run_id, int k, size_t msgsize, int nqueues, char *errbuf)
{
    char name[64];
    mq_queue_name(name, sizeof name, run_id, k);
    struct mq_attr attr = {.mq_maxmsg = MQ_DEPTH, .mq_msgsize = (long)msgsize};
    mqd_t q = mq_open(name, O_RDONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0600, &attr);
    if (q == (mqd_t)-1) {
        int e = errno;
        if (e == EMFILE || e == ENOSPC || e == ENOMEM)
            return dl_seterr(
                errbuf, e,
                "cannot create message queue %s: the per-user message-queue byte budget "
                "(RLIMIT_MSGQUEUE = %zu bytes) or the system queue limit "
                "(/proc/sys/fs/mqueue/queues_max) is exhausted; this run needs %d queues of "
                "%d x %zu bytes (~%zu bytes). Other runs or stale queues hold the rest: "
                "run `distlab clean` to remove stale ones",
                name, budget(), nqueues, MQ_DEPTH, msgsize, mq_bytes_for(nqueues, msgsize));
        if (e == EINVAL)
            return dl_seterr(errbuf, e,
                             "cannot create message queue %s: depth %d x %zu bytes refused "
                             "(see /proc/sys/fs/mqueue/msg_max and msgsize_max)",
                             name, MQ_DEPTH, msgsize);
        return dl_seterr(errbuf, e, "cannot create message queue %s: %s", name, strerror(e));
    }
    mq_close(q);
    return 0;
}

mqd_t mq_open_queue(uint32_t run_id, int k, int oflag, char *errbuf)
{
    char name[64];
    mq_queue_name(name, sizeof name, run_id, k);
    mqd_t q = mq_open(name, oflag | O_NONBLOCK | O_CLOEXEC);
    if (q == (mqd_t)-1)
        return (mqd_t)dl_seterr(errbuf, errno, "cannot open message queue %s: %s", name,
                                strerror(errno));
    return q;
}

int mq_unlink_queue(uint32_t run_id, int k)
{
    char name[64];
    mq_queue_name(name, sizeof name, run_id, k);
    return mq_unlink(name) < 0 ? -errno : 0;
}

int mq_queue_owner(uint32_t run_id, int k, uint32_t *uid)
{
    char name[64];
    mq_queue_name(name, sizeof name, run_id, k);
    mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (q == (mqd_t)-1)
        return -errno;
    struct stat st;
    int rc = fstat((int)q, &st) < 0 ? -errno : 0; /* a Linux mqd_t is a descriptor */
    mq_close(q);
    if (rc == 0)
        *uid = (uint32_t)st.st_uid;
    return rc;
}
