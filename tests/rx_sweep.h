/* Seed sweeps of the mutex cores with [cluster] retransmit on the
 * simulator, shared by the per-algorithm tests: a random shape gets
 * retransmit on or off, a short partition or message loss, and the runs
 * with retransmit must finish, safe, every request granted once. */
#ifndef DL_TESTS_RX_SWEEP_H
#define DL_TESTS_RX_SWEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "nodes/rng.h"
#include "nodes/sim.h"

#ifndef RX_SEEDS
#define RX_SEEDS 200 /* per sweep; -DRX_SEEDS=N for a longer hunt */
#endif

/* Retransmit on or off, its timeout as the configuration computes it
 * (max(failure_timeout, 2 (delay + jitter) + 10 ms)). Half the runs (odd
 * seeds) have no failure detector, the others one slower than any
 * partition of rx_partition: a cut loses messages but never looks like a
 * crash. */
void rx_retransmit(struct sim_config *cfg, uint64_t seed, bool retx);

/* A partition of 2..8 ms early in the run, two random non-empty sides, then
 * the heal. */
void rx_partition(struct sim_fault f[2], struct dl_rng *pick, int n);

/* The algorithm's random shape for a seed, with retransmit on or off
 * (rx_retransmit applied), and how many requests it makes in all. */
typedef void (*rx_shape_fn)(struct sim_config *cfg, struct dl_rng *pick, uint64_t seed, bool retx);
typedef uint64_t (*rx_requests_fn)(const struct sim_config *cfg);

/* Everything granted, once each, safely. */
void rx_expect_done(const struct sim_config *cfg, const struct sim_result *res, uint64_t seed,
                    const char *what, rx_requests_fn requests);

/* The sweeps, over seeds 1..seeds. rx_sweep_partition runs each seed with
 * and without retransmit: with it, rx_expect_done; without, safe, and a run
 * that did not finish must be a deadlock with requests pending. Returns the
 * runs without retransmit that stalled. rx_sweep_loss likewise with 10% of
 * the messages lost; returns the runs without retransmit that finished.
 * rx_sweep_loss_and_crashes: retransmit on, 5% loss, random crashes and
 * restarts: safe, live, finished. */
int rx_sweep_partition(rx_shape_fn shape, rx_requests_fn requests, uint64_t seeds);
int rx_sweep_loss(rx_shape_fn shape, rx_requests_fn requests, uint64_t seeds);
void rx_sweep_loss_and_crashes(rx_shape_fn shape, uint64_t seeds);

#endif
