#include "ipc/loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "ipc/util.h"

#define LOOP_BATCH 64

int loop_init(struct loop *l, char *errbuf)
{
    l->stop = false;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return dl_seterr(errbuf, errno, "epoll_create1: %s", strerror(errno));
    return 0;
}

void loop_fini(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
}

int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_fn fn, void *arg)
{
    w->fd = fd;
    w->events = events;
    w->fn = fn;
    w->arg = arg;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    w->added = true;
    return 0;
}

int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
    if (w->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

int loop_del(struct loop *l, struct loop_watch *w)
{
    if (!w->added)
        return 0;
    w->added = false;
    if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0)
        return -errno;
    return 0;
}

int loop_once(struct loop *l, int timeout_ms)
{
    struct epoll_event evs[LOOP_BATCH];
    int n = epoll_wait(l->epfd, evs, LOOP_BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        struct loop_watch *w = evs[i].data.ptr;
        /* A callback earlier in this batch may have removed this watch. */
        if (w->added)
            w->fn(l, w, evs[i].events);
    }
    return n;
}

int loop_run(struct loop *l)
{
    while (!l->stop) {
        int rc = loop_once(l, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int loop_timerfd_create(char *errbuf)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return dl_seterr(errbuf, errno, "timerfd_create: %s", strerror(errno));
    return fd;
}

int loop_timerfd_arm(int fd, int64_t deadline_mono_us)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (deadline_mono_us > 0) {
        its.it_value.tv_sec = deadline_mono_us / 1000000;
        its.it_value.tv_nsec = (deadline_mono_us % 1000000) * 1000;
    }
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return -errno;
    return 0;
}

void loop_timerfd_ack(int fd)
{
    uint64_t expirations;
    ssize_t r;
    do {
        r = read(fd, &expirations, sizeof expirations);
    } while (r < 0 && errno == EINTR);
}

int loop_signalfd_create(const sigset_t *set, char *errbuf)
{
    if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
        return dl_seterr(errbuf, errno, "sigprocmask: %s", strerror(errno));
    int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return dl_seterr(errbuf, errno, "signalfd: %s", strerror(errno));
    return fd;
}
