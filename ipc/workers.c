#include "ipc/workers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/util.h"

int workers_default(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EPIPE;
        got += (size_t)r;
    }
    return 0;
}

int workers_map(int jobs, long count, size_t size, workers_fn fn, void *ctx, workers_sink sink,
                void *user, char *err)
{
    void *buf = malloc(size ? size : 1);
    if (!buf)
        return dl_seterr(err, ENOMEM, "out of memory");
    if (jobs > count)
        jobs = count > 1 ? (int)count : 1;
    if (jobs <= 1) {
        for (long i = 0; i < count; i++) {
            fn(i, buf, ctx);
            sink(i, buf, user);
        }
        free(buf);
        return 0;
    }
    int *fd = calloc((size_t)jobs, sizeof *fd);
    pid_t *pid = calloc((size_t)jobs, sizeof *pid);
    int rc = fd && pid ? 0 : dl_seterr(err, ENOMEM, "out of memory");
    int started = 0;
    fflush(stdout);
    fflush(stderr);
    for (; rc == 0 && started < jobs; started++) {
        int p[2];
        if (pipe(p) < 0) {
            rc = dl_seterr(err, errno, "pipe: %s", strerror(errno));
            break;
        }
        pid_t c = fork();
        if (c < 0) {
            rc = dl_seterr(err, errno, "fork: %s", strerror(errno));
            close(p[0]);
            close(p[1]);
            break;
        }
        if (c == 0) {
            /* The worker: its items, in order, then out. A parent that
             * stopped reading makes a write fail: it stops too. */
            signal(SIGPIPE, SIG_DFL);
            close(p[0]);
            for (int k = 0; k < started; k++)
                close(fd[k]);
            for (long i = started; i < count; i += jobs) {
                fn(i, buf, ctx);
                if (dl_write_all(p[1], buf, size) < 0)
                    _exit(1);
            }
            _exit(0);
        }
        close(p[1]);
        fd[started] = p[0];
        pid[started] = c;
    }
    for (long i = 0; rc == 0 && i < count; i++) {
        int w = (int)(i % jobs);
        int r = read_full(fd[w], buf, size);
        if (r < 0)
            rc = dl_seterr(err, -r, "worker %d (pid %d) ended before item %ld", w,
                           (int)pid[w], i);
        else
            sink(i, buf, user);
    }
    for (int k = 0; k < started; k++) {
        close(fd[k]);
        if (rc < 0)
            kill(pid[k], SIGKILL);
        int st;
        while (waitpid(pid[k], &st, 0) < 0 && errno == EINTR)
            ;
    }
    free(fd);
    free(pid);
    free(buf);
    return rc;
}
