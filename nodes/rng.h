/* Seedable PRNG for cores and the supervisor: no global state, no rand(). */
#ifndef DL_NODES_RNG_H
#define DL_NODES_RNG_H

#include <stdint.h>

/* A small, fast, seedable PRNG (splitmix64 seeding xoshiro256**). Used by the
 * supervisor and by algorithm cores, which keep one in their state. */
struct dl_rng {
    uint64_t s[4];
};
void dl_rng_seed(struct dl_rng *r, uint64_t seed);
uint64_t dl_rng_next(struct dl_rng *r);
/* Uniform in [0, n) for n > 0. */
uint64_t dl_rng_below(struct dl_rng *r, uint64_t n);
/* Uniform in [0, 1). */
double dl_rng_unit(struct dl_rng *r);

#endif
