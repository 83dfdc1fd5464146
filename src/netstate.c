#include "src/netstate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/config.h"

struct linkst {
    uint32_t cuts; /* partitions in force that cut it */
    uint32_t loss_ppm, delay_us, jitter_us;
};

/* The links one or more partitions cut, as a list of cells. A schedule
 * repeats the same few partitions (one per fault) many times, so the
 * partitions in force share their link sets: memory grows with the number
 * of partitions in force by a pointer each, not by a link set each. */
struct shape {
    uint64_t hash;
    uint32_t *cell; /* sorted */
    size_t ncell;
    size_t refs;
};

struct part {
    int64_t id;
    struct shape *shape;
};

struct undo {
    int64_t id;
    int count;
    struct net_change *prev;
};

struct netstate {
    int n;
    size_t cells; /* (n+1)^2 */
    struct linkst *l, *before;
    struct part *parts;
    int nparts, capparts;
    struct shape **shapes;
    int nshapes, capshapes;
    struct undo *undos;
    int nundos, capundos;
    struct net_change *ch;
};

static size_t at(const struct netstate *ns, int a, int b) { return (size_t)a * (size_t)(ns->n + 1) + (size_t)b; }

static uint32_t ppm(double loss)
{
    if (!(loss > 0))
        return 0;
    if (loss >= 1)
        return NET_PPM;
    return (uint32_t)llround(loss * NET_PPM);
}

static uint32_t us32(int64_t us) { return us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us; }

struct netstate *netstate_new(int n, double loss, int64_t delay_us, int64_t jitter_us)
{
    if (n < 1 || n > DL_MAX_NODES)
        return NULL;
    struct netstate *ns = calloc(1, sizeof *ns);
    if (!ns)
        return NULL;
    ns->n = n;
    ns->cells = (size_t)(n + 1) * (size_t)(n + 1);
    ns->l = calloc(ns->cells, sizeof *ns->l);
    ns->before = calloc(ns->cells, sizeof *ns->before);
    ns->ch = calloc(ns->cells, sizeof *ns->ch);
    if (!ns->l || !ns->before || !ns->ch) {
        netstate_free(ns);
        return NULL;
    }
    for (int a = 1; a <= n; a++)
        for (int b = 1; b <= n; b++)
            if (a != b)
                ns->l[at(ns, a, b)] = (struct linkst){
                    .loss_ppm = ppm(loss), .delay_us = us32(delay_us), .jitter_us = us32(jitter_us)};
    return ns;
}

void netstate_free(struct netstate *ns)
{
    if (!ns)
        return;
    for (int i = 0; i < ns->nshapes; i++) {
        free(ns->shapes[i]->cell);
        free(ns->shapes[i]);
    }
    for (int i = 0; i < ns->nundos; i++)
        free(ns->undos[i].prev);
    free(ns->shapes);
    free(ns->parts);
    free(ns->undos);
    free(ns->l);
    free(ns->before);
    free(ns->ch);
    free(ns);
}

static void fill(const struct netstate *ns, int a, int b, const struct linkst *s,
                 struct net_change *out)
{
    *out = (struct net_change){.from = (uint16_t)a,
                               .to = (uint16_t)b,
                               .cut = s->cuts > 0,
                               .loss_ppm = s->loss_ppm,
                               .delay_us = s->delay_us,
                               .jitter_us = s->jitter_us};
    (void)ns;
}

static void begin(struct netstate *ns) { memcpy(ns->before, ns->l, ns->cells * sizeof *ns->l); }

/* The links whose effective state differs from before begin(). */
static int diff(struct netstate *ns, const struct net_change **changes)
{
    int c = 0;
    for (int a = 1; a <= ns->n; a++)
        for (int b = 1; b <= ns->n; b++) {
            if (a == b)
                continue;
            const struct linkst *x = &ns->before[at(ns, a, b)], *y = &ns->l[at(ns, a, b)];
            if ((x->cuts > 0) != (y->cuts > 0) || x->loss_ppm != y->loss_ppm ||
                x->delay_us != y->delay_us || x->jitter_us != y->jitter_us)
                fill(ns, a, b, y, &ns->ch[c++]);
        }
    *changes = ns->ch;
    return c;
}

int netstate_all(struct netstate *ns, const struct net_change **changes)
{
    int c = 0;
    for (int a = 1; a <= ns->n; a++)
        for (int b = 1; b <= ns->n; b++) {
            const struct linkst *y = &ns->l[at(ns, a, b)];
            if (a != b && (y->cuts || y->loss_ppm || y->delay_us || y->jitter_us))
                fill(ns, a, b, y, &ns->ch[c++]);
        }
    *changes = ns->ch;
    return c;
}

/* The shape of cut (shared with a partition that cuts the same links), one
 * reference more; NULL if out of memory. */
static struct shape *shape_get(struct netstate *ns, const struct net_links *cut)
{
    size_t count = 0;
    uint64_t h = 1469598103934665603ULL;
    for (int a = 1; a <= ns->n && a <= cut->n; a++)
        for (int b = 1; b <= ns->n && b <= cut->n; b++)
            if (a != b && cut->on[a][b]) {
                count++;
                h = (h ^ at(ns, a, b)) * 1099511628211ULL;
            }
    uint32_t *cell = malloc((count ? count : 1) * sizeof *cell);
    if (!cell)
        return NULL;
    size_t k = 0;
    for (int a = 1; a <= ns->n && a <= cut->n; a++)
        for (int b = 1; b <= ns->n && b <= cut->n; b++)
            if (a != b && cut->on[a][b])
                cell[k++] = (uint32_t)at(ns, a, b);
    for (int i = 0; i < ns->nshapes; i++) {
        struct shape *sh = ns->shapes[i];
        if (sh->hash == h && sh->ncell == count &&
            (count == 0 || memcmp(sh->cell, cell, count * sizeof *cell) == 0)) {
            free(cell);
            sh->refs++;
            return sh;
        }
    }
    if (ns->nshapes == ns->capshapes) {
        int cap = ns->capshapes ? 2 * ns->capshapes : 8;
        struct shape **x = realloc(ns->shapes, (size_t)cap * sizeof *x);
        if (!x) {
            free(cell);
            return NULL;
        }
        ns->shapes = x;
        ns->capshapes = cap;
    }
    struct shape *sh = malloc(sizeof *sh);
    if (!sh) {
        free(cell);
        return NULL;
    }
    *sh = (struct shape){.hash = h, .cell = cell, .ncell = count, .refs = 1};
    ns->shapes[ns->nshapes++] = sh;
    return sh;
}

static void shape_put(struct netstate *ns, struct shape *sh)
{
    if (--sh->refs > 0)
        return;
    for (int i = 0; i < ns->nshapes; i++)
        if (ns->shapes[i] == sh) {
            ns->shapes[i] = ns->shapes[--ns->nshapes];
            break;
        }
    free(sh->cell);
    free(sh);
}

int netstate_partition(struct netstate *ns, int64_t id, const struct net_links *cut,
                       const struct net_change **changes)
{
    if (ns->nparts == ns->capparts) {
        int cap = ns->capparts ? 2 * ns->capparts : 8;
        struct part *p = realloc(ns->parts, (size_t)cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        ns->parts = p;
        ns->capparts = cap;
    }
    struct shape *sh = shape_get(ns, cut);
    if (!sh)
        return -ENOMEM;
    begin(ns);
    for (size_t k = 0; k < sh->ncell; k++)
        ns->l[sh->cell[k]].cuts++;
    ns->parts[ns->nparts++] = (struct part){.id = id, .shape = sh};
    return diff(ns, changes);
}

int netstate_unpartition(struct netstate *ns, int64_t id, const struct net_change **changes)
{
    begin(ns);
    /* The newest first: an undo follows its partition closely. */
    for (int i = ns->nparts - 1; i >= 0; i--) {
        if (ns->parts[i].id != id)
            continue;
        struct shape *sh = ns->parts[i].shape;
        for (size_t k = 0; k < sh->ncell; k++)
            if (ns->l[sh->cell[k]].cuts)
                ns->l[sh->cell[k]].cuts--;
        shape_put(ns, sh);
        memmove(&ns->parts[i], &ns->parts[i + 1], (size_t)(ns->nparts - i - 1) * sizeof *ns->parts);
        ns->nparts--;
        break;
    }
    return diff(ns, changes);
}

int netstate_heal(struct netstate *ns, const struct net_change **changes)
{
    begin(ns);
    for (int i = 0; i < ns->nparts; i++)
        shape_put(ns, ns->parts[i].shape);
    ns->nparts = 0;
    for (size_t k = 0; k < ns->cells; k++)
        ns->l[k].cuts = 0;
    return diff(ns, changes);
}

int netstate_net(struct netstate *ns, int64_t id, bool undoable, const struct net_links *links,
                 const struct net_params *p, const struct net_change **changes)
{
    struct undo u = {.id = id};
    if (undoable) {
        if (ns->nundos == ns->capundos) {
            int cap = ns->capundos ? 2 * ns->capundos : 8;
            struct undo *x = realloc(ns->undos, (size_t)cap * sizeof *x);
            if (!x)
                return -ENOMEM;
            ns->undos = x;
            ns->capundos = cap;
        }
        int count = netspec_count(links);
        u.prev = calloc(count ? (size_t)count : 1, sizeof *u.prev);
        if (!u.prev)
            return -ENOMEM;
    }
    begin(ns);
    for (int a = 1; a <= ns->n && a <= links->n; a++)
        for (int b = 1; b <= ns->n && b <= links->n; b++) {
            if (a == b || !links->on[a][b])
                continue;
            struct linkst *s = &ns->l[at(ns, a, b)];
            if (undoable)
                fill(ns, a, b, s, &u.prev[u.count++]);
            if (p->has_loss)
                s->loss_ppm = ppm(p->loss);
            if (p->has_delay)
                s->delay_us = us32(p->delay_us);
            if (p->has_jitter)
                s->jitter_us = us32(p->jitter_us);
        }
    if (undoable)
        ns->undos[ns->nundos++] = u;
    return diff(ns, changes);
}

int netstate_unnet(struct netstate *ns, int64_t id, const struct net_change **changes)
{
    begin(ns);
    for (int i = 0; i < ns->nundos; i++) {
        struct undo *u = &ns->undos[i];
        if (u->id != id)
            continue;
        for (int k = 0; k < u->count; k++) {
            struct linkst *s = &ns->l[at(ns, u->prev[k].from, u->prev[k].to)];
            s->loss_ppm = u->prev[k].loss_ppm;
            s->delay_us = u->prev[k].delay_us;
            s->jitter_us = u->prev[k].jitter_us;
        }
        free(u->prev);
        memmove(u, u + 1, (size_t)(ns->nundos - i - 1) * sizeof *u);
        ns->nundos--;
        break;
    }
    return diff(ns, changes);
}

void netstate_link(const struct netstate *ns, int a, int b, struct net_change *out)
{
    if (a < 1 || b < 1 || a > ns->n || b > ns->n) {
        *out = (struct net_change){.from = (uint16_t)a, .to = (uint16_t)b};
        return;
    }
    fill(ns, a, b, &ns->l[at(ns, a, b)], out);
}

int netstate_partitions(const struct netstate *ns) { return ns->nparts; }

int netstate_occurrence(struct netstate *ns, const struct fault_spec *f, int n, int64_t id,
                        bool undo, struct net_links *scratch, int *action,
                        const struct net_change **changes, char *err)
{
    *action = f->action;
    switch (f->action) {
    case FAULT_PARTITION:
        if (undo) {
            *action = FAULT_HEAL;
            return netstate_unpartition(ns, id, changes);
        }
        if (netspec_partition(f->target_text, n, scratch, err) < 0)
            return -EINVAL;
        return netstate_partition(ns, id, scratch, changes);
    case FAULT_HEAL:
        return undo ? -ENOTSUP : netstate_heal(ns, changes);
    case FAULT_NET: {
        if (undo)
            return netstate_unnet(ns, id, changes);
        if (netspec_links(f->target_text[0] ? f->target_text : "all", n, scratch, err) < 0)
            return -EINVAL;
        struct net_params p = {.has_loss = f->has_loss,
                               .has_delay = f->has_delay,
                               .has_jitter = f->has_jitter,
                               .loss = f->loss,
                               .delay_us = f->delay_us,
                               .jitter_us = f->jitter_us};
        return netstate_net(ns, id, f->for_us > 0, scratch, &p, changes);
    }
    default: return -ENOTSUP;
    }
}
