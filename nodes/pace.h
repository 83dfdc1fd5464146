/* The pace of a client's commands, shared by the client processes of a
 * real run (client_runtime.c) and the simulator's clients (sim.c), so that
 * `[workload] rate` and `pipeline` offer the same load in both.
 *
 * A client keeps at most `window` operations in flight ([workload]
 * pipeline; 0 counts as 1: a sequential client): the next operation is due
 * when fewer than window operations are outstanding and the time is next_us
 * or later. A sequential client's next_us is its previous submission +
 * interval_us (1/rate); a pipelining one keeps to a schedule of one every
 * interval_us from its first (pace_submitted). Pure: no clock, no I/O. */
#ifndef DL_NODES_PACE_H
#define DL_NODES_PACE_H

#include <stdbool.h>
#include <stdint.h>

struct pace {
    int64_t next_us;
    int64_t interval_us; /* 1/rate; 0: no wait beyond the answer */
    int64_t total;       /* operations to submit */
    int64_t submitted;
    int window;
};

/* 1 when the next operation is due at now, else 0 with *next_us the time
 * it will be due (0: when an answer comes, or never: all submitted).
 * outstanding: operations from the oldest unanswered one to the last
 * submitted (answered or not: a window never reaches beyond its oldest
 * operation + window). */
int64_t pace_due(const struct pace *p, int64_t now_us, int64_t outstanding, int64_t *next_us);

/* How far behind its schedule a pipelining client may fall and still
 * catch up (pace_submitted). */
#define PACE_MAX_LAG_US 1000000

/* Record a submission made at now_us, and when the next one is due. */
void pace_submitted(struct pace *p, int64_t now_us);

/* A submission due at now_us (pace_due said so), with outstanding
 * operations before it: recorded (pace_submitted); true when the next one
 * is due at once after it too, so that a driver can tell the core another
 * follows (EV_COMMAND's "more follow") and they leave together. */
bool pace_take(struct pace *p, int64_t now_us, int64_t outstanding);

#endif
