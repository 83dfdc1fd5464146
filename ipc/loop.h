/* A small epoll event loop in the spirit of redis' ae.c: descriptors with a
 * callback each, plus helpers for a timerfd and a signalfd, so timers and
 * signals become ordinary loop events. Level-triggered. No threads. */
#ifndef DL_IPC_LOOP_H
#define DL_IPC_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_watch;
typedef void (*loop_fn)(struct loop *l, struct loop_watch *w, uint32_t events);

/* Owned by the caller; must stay at the same address while registered. */
struct loop_watch {
    int fd;
    uint32_t events;
    loop_fn fn;
    void *arg;
    bool added;
};

struct loop {
    int epfd;
    bool stop;
};

int loop_init(struct loop *l, char *errbuf);
void loop_fini(struct loop *l);
/* Register, change or remove interest in fd (events: EPOLLIN | EPOLLOUT). */
int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_fn fn, void *arg);
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);
int loop_del(struct loop *l, struct loop_watch *w);
/* Wait up to timeout_ms (-1: forever) and dispatch what is ready. Returns the
 * number of events dispatched or -errno; EINTR counts as 0. */
int loop_once(struct loop *l, int timeout_ms);
/* Dispatch until loop_stop() is called. */
int loop_run(struct loop *l);
static inline void loop_stop(struct loop *l) { l->stop = true; }

/* A CLOCK_MONOTONIC timerfd armed at absolute deadlines (microseconds on
 * dl_mono_us()'s clock); deadline <= 0 disarms it. */
int loop_timerfd_create(char *errbuf);
int loop_timerfd_arm(int fd, int64_t deadline_mono_us);
/* Read and discard the expiration count. */
void loop_timerfd_ack(int fd);

/* Block the signals in set for this process and return a signalfd for them. */
int loop_signalfd_create(const sigset_t *set, char *errbuf);

#endif
