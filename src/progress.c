#include "src/progress.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ipc/util.h"
#include "nodes/algo.h"
#include "src/roles.h"

#define LINE_MAX_COLS  240 /* a wider terminal gets this much */
#define RATE_WINDOW_US (1000 * 1000LL)

void progress_init(struct progress *p, int fd, bool wanted)
{
    memset(p, 0, sizeof *p);
    p->fd = fd;
    p->on = wanted && isatty(fd);
}

bool progress_due(const struct progress *p, int64_t now)
{
    return p->on && now >= p->next;
}

/* The terminal's width, 80 when it cannot be asked (read at every draw,
 * so a resized window is followed). */
static int term_width(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* A run started in the background (`distlab run ... &`) must not write
 * over the shell's prompt: draw only while in the terminal's foreground
 * process group (or when that cannot be told: not our controlling
 * terminal). */
static bool in_foreground(int fd)
{
    pid_t fg = tcgetpgrp(fd);
    return fg < 0 || fg == getpgrp();
}

static void put(struct progress *p, const char *buf, size_t len)
{
    /* A terminal that is gone (hung up) or refuses: no more lines. */
    if (dl_write_all(p->fd, buf, len) < 0)
        p->on = false;
}

void progress_clear(struct progress *p)
{
    if (!p->shown)
        return;
    char buf[LINE_MAX_COLS + 2];
    size_t len = 0, cols = p->shown;
    /* Never past the last column now (the window may have shrunk). */
    int width = term_width(p->fd);
    if (cols > (size_t)width - 1)
        cols = (size_t)width - 1;
    buf[len++] = '\r';
    memset(buf + len, ' ', cols);
    len += cols;
    buf[len++] = '\r';
    p->shown = 0;
    put(p, buf, len);
}

void progress_fault(struct progress *p, const char *action, int node, bool undo)
{
    if (!undo)
        p->faults++;
    if (node > 0)
        snprintf(p->last_fault, sizeof p->last_fault, "%s %d", action, node);
    else
        snprintf(p->last_fault, sizeof p->last_fault, "%s", action);
}

/* "20s", "1.5s". */
static void fmt_secs(int64_t us, char *buf, size_t cap)
{
    if (us % 1000000 == 0)
        snprintf(buf, cap, "%llds", (long long)(us / 1000000));
    else
        snprintf(buf, cap, "%.1fs", (double)us / 1e6);
}

/* The holder of the key role, in words. */
static void fmt_role(const struct progress_view *v, char *buf, size_t cap)
{
    const char *what = NULL, *term = NULL;
    switch (v->role) {
    case ROLE_LEADER: what = "leader", term = "term"; break;
    case ROLE_COORDINATOR: what = "coordinator"; break;
    case ROLE_TOKEN_HOLDER:
        what = v->global_token ? "global token" : "token holder", term = "gen";
        break;
    default: break;
    }
    if (!what) {
        /* No role steers it (ricart_agrawala): who is inside instead. */
        if (v->occupant)
            snprintf(buf, cap, "in CS %d", v->occupant);
        else
            snprintf(buf, cap, "CS free");
    } else if (!v->holder) {
        snprintf(buf, cap, "no %s", what);
    } else if (term && v->term >= 0) {
        snprintf(buf, cap, "%s %d (%s %lld)", what, v->holder, term, (long long)v->term);
    } else {
        snprintf(buf, cap, "%s %d", what, v->holder);
    }
}

size_t progress_format(const struct progress_view *v, int width, char *buf, size_t cap)
{
    char field[4][64], dur[24];
    fmt_secs(v->duration_us, dur, sizeof dur);
    if (v->elapsed_us < 0)
        snprintf(field[0], sizeof field[0], "starting %.1fs", (double)v->since_us / 1e6);
    else
        snprintf(field[0], sizeof field[0], "%.1fs/%s", (double)v->elapsed_us / 1e6, dur);
    const char *what = v->raft ? "commits" : "CS";
    if (v->rate >= 0)
        snprintf(field[1], sizeof field[1], "%s %lld, %.0f/s", what, (long long)v->total, v->rate);
    else
        snprintf(field[1], sizeof field[1], "%s %lld", what, (long long)v->total);
    fmt_role(v, field[2], sizeof field[2]);
    if (v->last_fault && v->last_fault[0])
        snprintf(field[3], sizeof field[3], "faults %llu (%s)", (unsigned long long)v->faults,
                 v->last_fault);
    else
        snprintf(field[3], sizeof field[3], "faults %llu", (unsigned long long)v->faults);
    /* Whole fields while they fit in width - 1 columns; the first one cut
     * if even it does not. */
    size_t room = width > 1 ? (size_t)width - 1 : 0;
    if (cap == 0)
        return 0;
    if (room > cap - 1)
        room = cap - 1;
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < 4; i++) {
        const char *sep = i ? " | " : "";
        size_t need = strlen(sep) + strlen(field[i]);
        if (len + need > room) {
            if (i == 0) {
                memcpy(buf, field[0], room);
                len = room;
                buf[len] = '\0';
            }
            break;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", sep, field[i]);
    }
    return len;
}

/* The total the rate is taken of: every node's completed critical
 * sections (a count that survives restarts), or the highest commit index
 * any node published. */
static int64_t run_total(const struct shm_run *r, bool raft)
{
    int64_t total = 0;
    uint32_t n = r->n <= DL_MAX_NODES ? r->n : DL_MAX_NODES;
    for (uint32_t k = 1; k <= n; k++) {
        const struct shm_node *sn = &r->node[k];
        if (!raft)
            total += atomic_load(&sn->requests_done);
        else if (atomic_load(&sn->commit_index) > total)
            total = atomic_load(&sn->commit_index);
    }
    return total;
}

/* The rate over about the last second: against the newest sample at least
 * RATE_WINDOW_US old, else the oldest there is; -1 with none older than
 * a period. The new sample is then kept. */
static double sample_rate(struct progress *p, int64_t now, int64_t total)
{
    int base = -1;
    for (int i = 0; i < p->nsamples; i++) {
        int j = (p->head - 1 - i + PROGRESS_SAMPLES) % PROGRESS_SAMPLES;
        base = j;
        if (now - p->at[j] >= RATE_WINDOW_US)
            break;
    }
    double rate = -1;
    if (base >= 0 && now - p->at[base] >= PROGRESS_PERIOD_US / 2) {
        int64_t d = total - p->total[base];
        rate = d > 0 ? (double)d * 1e6 / (double)(now - p->at[base]) : 0;
    }
    p->at[p->head] = now;
    p->total[p->head] = total;
    p->head = (p->head + 1) % PROGRESS_SAMPLES;
    if (p->nsamples < PROGRESS_SAMPLES)
        p->nsamples++;
    return rate;
}

void progress_draw(struct progress *p, const struct shm_run *r, int64_t now, int64_t t_work,
                   int64_t duration_us)
{
    if (!p->on)
        return;
    p->next = now + PROGRESS_PERIOD_US;
    if (!in_foreground(p->fd))
        return;
    struct progress_view v = {
        .elapsed_us = t_work >= 0 ? now - t_work : -1,
        .since_us = now,
        .duration_us = duration_us,
        .raft = roles_key(r) == ROLE_LEADER,
        .role = roles_key(r),
        .global_token = strncmp(r->algorithm, "two_level_ring", sizeof r->algorithm) == 0,
        .term = -1,
        .faults = p->faults,
        .last_fault = p->last_fault,
    };
    v.total = run_total(r, v.raft);
    /* Before the workload starts there is nothing to take a rate of. */
    v.rate = t_work >= 0 ? sample_rate(p, now, v.total) : -1;
    if (v.role != ROLE_NONE) {
        v.holder = roles_holder(r, v.role);
        if (v.holder)
            v.term = atomic_load(&r->node[v.holder].term);
    } else {
        v.occupant = SHM_HOLDER_NODE(atomic_load(&r->res.holder));
    }
    char line[LINE_MAX_COLS + 1];
    int width = term_width(p->fd);
    size_t len =
        progress_format(&v, width < LINE_MAX_COLS ? width : LINE_MAX_COLS, line, sizeof line);
    /* "\r", the line, then spaces over what is left of a longer one - but
     * never into the last column of a window that has shrunk since: the
     * spaces would wrap, and every draw until the width settles would
     * leave a line behind. */
    char buf[LINE_MAX_COLS + 2];
    size_t out = 0, room = width > 1 ? (size_t)width - 1 : 0;
    buf[out++] = '\r';
    memcpy(buf + out, line, len);
    out += len;
    if (p->shown > len) {
        size_t pad = p->shown - len;
        if (len + pad > room)
            pad = room > len ? room - len : 0;
        memset(buf + out, ' ', pad);
        out += pad;
    }
    p->shown = len;
    put(p, buf, out);
}
