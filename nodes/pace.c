/* The pace of a client's commands (pace.h). */
#include "nodes/pace.h"

#include "nodes/runtime.h" /* runtime_deadline */

int64_t pace_due(const struct pace *p, int64_t now_us, int64_t outstanding, int64_t *next_us)
{
    *next_us = 0;
    if (p->submitted >= p->total || outstanding >= (p->window > 1 ? p->window : 1))
        return 0; /* all done, or an answer comes first */
    if (now_us >= p->next_us)
        return 1;
    *next_us = p->next_us;
    return 0;
}

/* A sequential client: the next one no sooner than interval_us later. A
 * pipelining one keeps to its schedule (one every interval_us from the
 * first), as an open-loop load does: a submission made late - the client
 * was busy, waited for a CPU, or had its window full - lets the next ones
 * follow at once, together in one message, until the client is back on
 * schedule; offered load is what the rate says, not what the load
 * generator managed. Up to PACE_MAX_LAG_US behind (or a window's worth, if
 * more): what fell further behind - a cluster without a leader for
 * seconds, say - is dropped from the schedule, not sent as a burst of
 * commands long overdue. */
void pace_submitted(struct pace *p, int64_t now_us)
{
    p->submitted++;
    if (p->window <= 1 || p->interval_us == 0) {
        p->next_us = runtime_deadline(now_us, p->interval_us);
        return;
    }
    int64_t lag = (int64_t)(p->window - 1) * p->interval_us;
    if (lag < PACE_MAX_LAG_US)
        lag = PACE_MAX_LAG_US;
    int64_t floor = now_us - lag;
    p->next_us = runtime_deadline(p->next_us > floor ? p->next_us : floor, p->interval_us);
}

bool pace_take(struct pace *p, int64_t now_us, int64_t outstanding)
{
    pace_submitted(p, now_us);
    return p->next_us <= now_us && outstanding + 1 < p->window && p->submitted < p->total;
}
