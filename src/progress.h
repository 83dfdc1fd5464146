/* The live progress line of `distlab run` on a terminal: one line on
 * stderr, rewritten in place a few times a second by the supervisor's
 * timer, with the time run of the duration, the critical sections (mutex)
 * or commits (Raft) so far and per second over about the last second, the
 * node that steers the algorithm now (coordinator, token holder, leader
 * and term) and the faults so far:
 *
 *   3.2s/20s | CS 212, 41/s | token holder 4 (gen 2) | faults 1 (kill 3)
 *
 * It is drawn only when stderr is a terminal (never into a file or a
 * pipe, so logs and --json output stay clean) and the run is in its
 * foreground (a run started with & leaves the prompt alone), cut to the terminal's width
 * (TIOCGWINSZ, 80 when unknown), and rewritten with a carriage return and
 * spaces only (no escape sequences: any terminal, even a dumb one). The
 * caller clears it (progress_clear) before it prints anything else, and
 * it comes back at the next draw. */
#ifndef DL_SRC_PROGRESS_H
#define DL_SRC_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/shm.h"

#define PROGRESS_PERIOD_US (250 * 1000LL) /* between draws */
#define PROGRESS_SAMPLES   8              /* totals kept for the rate: 2 s of draws */

struct progress {
    bool on;      /* drawing at all */
    int fd;       /* the terminal (stderr) */
    size_t shown; /* columns of the line on the terminal now; 0: none shown */
    int64_t next; /* run-relative us: the next draw is due then */
    /* The totals (CS done, or the commit index) at the last draws, a ring,
     * for the rate over about the last second. */
    int64_t at[PROGRESS_SAMPLES], total[PROGRESS_SAMPLES];
    int nsamples, head;
    uint64_t faults;     /* faults injected (automatic undos not counted) */
    char last_fault[40]; /* the last fault event, e.g. "kill 3" */
};

/* What the line shows, read by progress_draw from the segment. */
struct progress_view {
    int64_t elapsed_us;  /* since the workload started; -1: still starting */
    int64_t since_us;    /* since the run started (shown while starting) */
    int64_t duration_us; /* [cluster] duration */
    bool raft;           /* commits, not critical sections */
    int64_t total;       /* CS done, or the highest commit index */
    double rate;         /* per second over about the last second; < 0: not known yet */
    int role;            /* the key role (roles_key), ROLE_NONE: none */
    bool global_token;   /* two_level_ring: the token holder holds the global token */
    int holder;          /* the node that holds it, 0: none */
    int64_t term;        /* its term (Raft) or generation (token) */
    int occupant;        /* ricart_agrawala: the node in the critical section, 0: none */
    uint64_t faults;
    const char *last_fault;
};

/* On only when wanted (not --quiet, not --json) and fd is a terminal. */
void progress_init(struct progress *p, int fd, bool wanted);
/* Is a draw due at now (run-relative us)? Always false when off. */
bool progress_due(const struct progress *p, int64_t now);
/* Read the run's figures and rewrite the line; the next draw is due one
 * period later. t_work: when the workload started (-1: not yet). */
void progress_draw(struct progress *p, const struct shm_run *r, int64_t now, int64_t t_work,
                   int64_t duration_us);
/* Erase the line, if one is shown, leaving the cursor at the start of the
 * (now empty) line, so that the next output starts clean. */
void progress_clear(struct progress *p);
/* A fault event: action ("kill", "partition"), the node it hit (0: none
 * to name); an automatic undo (a pause's resume) is shown, not counted. */
void progress_fault(struct progress *p, const char *action, int node, bool undo);
/* The line for v, at most width - 1 characters (the last column is left
 * free: writing there makes some terminals wrap). Returns its length. */
size_t progress_format(const struct progress_view *v, int width, char *buf, size_t cap);

#endif
