/* The fault schedule as a timeline: every occurrence of every [fault.N],
 * repetitions (every, count) and automatic undos (for) included. The
 * supervisor and the simulator both play it, so a schedule means the same
 * on real processes and on the simulator. */
#include <errno.h>
#include <stdlib.h>

#include "src/config.h"

static int occ_cmp(const void *pa, const void *pb)
{
    const struct fault_occ *a = pa, *b = pb;
    if (a->at_us != b->at_us)
        return a->at_us < b->at_us ? -1 : 1;
    if (a->undo != b->undo)
        return a->undo ? -1 : 1; /* restore before a new fault at the same time */
    if (a->index != b->index)
        return a->index < b->index ? -1 : 1;
    return a->rep < b->rep ? -1 : a->rep > b->rep;
}

int config_fault_timeline(const struct config *c, struct fault_occ *out, int cap)
{
    int total = 0;
    for (int i = 0; i < c->nfaults; i++) {
        const struct fault_spec *f = &c->faults[i];
        if (f->every_us < 0 || f->for_us < 0 || f->count < 0 || f->at_us < 0)
            return -EINVAL;
        int64_t at = f->at_us;
        for (int rep = 1;; rep++) {
            if (at >= c->duration_us)
                break;
            if (total < cap)
                out[total] = (struct fault_occ){.at_us = at, .index = i, .rep = rep};
            total++;
            /* Compared as differences: no sum can overflow, whatever a
             * struct built by hand holds. */
            if (f->for_us > 0 && f->for_us < c->duration_us - at) {
                if (total < cap)
                    out[total] = (struct fault_occ){
                        .at_us = at + f->for_us, .index = i, .rep = rep, .undo = true};
                total++;
            }
            if (f->every_us <= 0 || (f->count > 0 && rep >= f->count) ||
                total > CONFIG_MAX_OCCURRENCES || f->every_us >= c->duration_us - at)
                break;
            at += f->every_us;
        }
        if (total > CONFIG_MAX_OCCURRENCES)
            break; /* the caller learns it is too many; no need to count on */
    }
    int sorted = total < cap ? total : cap;
    if (out && sorted > 0)
        qsort(out, (size_t)sorted, sizeof *out, occ_cmp);
    return total;
}

int64_t config_retransmit_timeout(const struct config *c)
{
    int64_t net = 2 * (c->delay_us + c->jitter_us) + 10000;
    return c->failure_timeout_us > net ? c->failure_timeout_us : net;
}
