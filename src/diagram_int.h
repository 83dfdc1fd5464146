/* Internal to the diagram: the model that src/diagram.c builds from a run
 * and src/diagram_svg.c draws. Not for other modules.
 *
 * Every time is run-relative microseconds (the trace's clock); every item
 * already lies in the window and between shown lanes when the renderer
 * sees it (spans are clipped to the window). */
#ifndef DL_SRC_DIAGRAM_INT_H
#define DL_SRC_DIAGRAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ipc/wire.h"
#include "src/diagram.h"
#include "src/xml.h"

struct algo_ops;

/* A message: an arrow from its send to its receive. */
struct dg_msg {
    int64_t ts; /* sent; -1: the send was not traced (a drop stub) */
    int64_t tr; /* received, or dropped (drop >= 0); -1: neither */
    int from, to;
    uint16_t type;
    int64_t key;
    int drop;       /* -1: not dropped; else the TR_DROP reason (aux) */
    bool recv_only; /* drawn from a receive whose send was not traced */
    signed char flag; /* -1: none; 0 or 1: the yes/no the algorithm names
                       * (report_msg_flag: a vote granted or refused) */
};

enum dg_span_kind {
    DG_SPAN_CS,   /* aux: TR_ENTER's resource result; key */
    DG_SPAN_ROLE, /* aux: role; key: term */
    DG_SPAN_DOWN, /* crashed or stopped until it starts again */
    DG_SPAN_PAUSE,
    DG_SPAN_OP,  /* a client operation: aux = its end event (TR_OK...), 0 pending */
    DG_SPAN_CUT, /* some link of the network is cut (lane 0: across the diagram) */
};

struct dg_span {
    int kind;
    int lane; /* process id */
    int64_t t0, t1;
    bool open0, open1; /* it began before the window / did not end in it */
    int aux;
    int64_t key;
    int64_t a, b; /* op: index, term; CS: counter */
    int peer;     /* op: the server that answered */
    char *text;   /* op: the command, as text (owned); NULL */
};

/* A point event: a mark on a lane, or (lane 0) across the diagram. */
struct dg_mark {
    int64_t t;
    int lane;
    int ev; /* TR_* */
    int aux, peer, incarnation;
    int64_t key, a, b, c;
    char *detail; /* a fault's link changes (owned); NULL */
};

struct dg_model {
    const char *rundir;
    char name[256]; /* the run's name (run.json: anything) */
    char algorithm[64];
    const struct algo_ops *ops;
    const char *key_field; /* "ts", "term", "gen", "seq" or "key" */
    int n, clients;
    bool shown[DL_MAX_PROCS + 1]; /* [process id] */
    int64_t from_us, to_us, end_us;
    struct dg_msg *msgs;
    size_t nmsgs;
    struct dg_span *spans;
    size_t nspans;
    struct dg_mark *marks;
    size_t nmarks;
};

/* The name of message type t ("request", "append_entries", or hex). */
const char *dg_type_name(const struct dg_model *m, uint16_t type, char *buf, size_t cap);
/* "node 3" or "client 2" for process id p. */
const char *dg_lane_name(const struct dg_model *m, int p, char *buf, size_t cap);


/* Message type colours: dg_palette[dg_type_colour(type)]. */
#define DG_NPAL 11
extern const char *const dg_palette[DG_NPAL];
int dg_type_colour(uint16_t type);

/* The HTML page around the SVG (src/diagram_html.c): its legend lists the
 * message types of the window (types, sorted); svg(arg) writes the SVG
 * element in its place. */
void dg_html_page(const struct dg_model *m, FILE *f, const uint16_t *types, int ntypes,
                  void (*svg)(void *), void *arg);

/* Draw the model (src/diagram_svg.c). */
int dg_render(const struct dg_model *m, enum diagram_format fmt, FILE *out);

#endif
