/* How many seeds a sweep of simulated schedules runs. A sanitizer build's
 * simulator is several times slower, and CI runs the whole suite twice:
 * there a sweep runs a quarter of its seeds (at least 10); the normal
 * build runs them all, and its figures are the ones the tests state. */
#ifndef DISTLAB_TESTS_SWEEP_H
#define DISTLAB_TESTS_SWEEP_H

#if defined(__SANITIZE_ADDRESS__)
#define SWEEP(n) ((n) / 4 > 10 ? (n) / 4 : 10)
#else
#define SWEEP(n) (n)
#endif

#endif
