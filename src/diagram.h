/* Space-time (Lamport) diagrams of a run: `distlab diagram`.
 *
 * One lane per node and per client (the supervisor, process 0, is no lane:
 * its faults are marks across the lanes), time running left to right.
 * Drawn from the run directory alone (run.json or config.ini, and the
 * traces), as a standalone SVG or as one self-contained HTML page that
 * holds the SVG, a legend, hover details and zoom along time.
 *
 * The time axis is compressed: each moment at which something is drawn
 * gets a column, and the gap to the next one is drawn with a width that
 * grows with the logarithm of its length. A message that takes 10 us and a
 * critical section that lasts 20 ms are then both visible on one screen;
 * the axis labels give the real times.
 *
 * A message belongs to the window when it was sent in it (a message
 * whose send was not traced: when it was received or dropped in it); with
 * --nodes, only messages between two shown lanes. */
#ifndef DL_SRC_DIAGRAM_H
#define DL_SRC_DIAGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* At most this many messages are drawn when the window's end is not given:
 * the default window ends before the one past the bound. */
#define DIAGRAM_MAX_MSGS 2000

enum diagram_format { DIAGRAM_SVG, DIAGRAM_HTML };

struct diagram_opts {
    int64_t from_us;   /* run-relative; -1: from the start */
    int64_t to_us;     /* -1: to the end, or to the bound */
    const char *nodes; /* "1,2,5", "1-3", "c1" (client 1); NULL: every lane */
    size_t max_msgs;   /* 0: DIAGRAM_MAX_MSGS */
};

/* What was drawn, and what was left out. */
struct diagram_stats {
    int64_t from_us, to_us; /* the window drawn */
    int64_t end_us;         /* the last record of the run */
    size_t msgs_total;      /* messages between shown lanes, in the whole run */
    size_t msgs_shown;      /* arrows drawn */
    size_t msgs_short;      /* of them, dropped or never received (stop short) */
    size_t lanes;
    size_t lanes_total;
    size_t cs_bars;
    size_t ops;   /* client operations drawn */
    bool bounded; /* the window's end was set by max_msgs */
};

/* Draw the run in rundir as fmt to out. Returns 0, or a negative errno
 * code with errbuf (DL_ERRLEN) filled: -ENOENT no such run directory or
 * trace, -EINVAL a bad option (an unknown node, --from after --to). */
int diagram_write(const char *rundir, const struct diagram_opts *o, enum diagram_format fmt,
                  FILE *out, struct diagram_stats *st, char *errbuf);

/* Parse a lane list ("1,2,5", "1-3", "c2" for client 2, "all") for a run
 * of n nodes and clients clients into in[1..n+clients]. Returns 0 or
 * -EINVAL with errbuf filled. */
int diagram_parse_lanes(const char *text, int n, int clients, bool *in, char *errbuf);

/* The `distlab diagram` command (src/main.c's table). */
int cmd_diagram(int argc, char **argv);

#endif
