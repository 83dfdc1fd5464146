#include "tests/rx_sweep.h"

#include <check.h>
#include <string.h>

void rx_retransmit(struct sim_config *cfg, uint64_t seed, bool retx)
{
    cfg->failure_timeout_us = seed % 2 ? 0 : 50000;
    cfg->env.retransmit = retx;
    int64_t net = 2 * (cfg->delay_us + cfg->jitter_us) + 10000;
    cfg->env.retransmit_us = cfg->failure_timeout_us > net ? cfg->failure_timeout_us : net;
}

void rx_partition(struct sim_fault f[2], struct dl_rng *pick, int n)
{
    memset(f, 0, 2 * sizeof *f);
    f[0].at_us = 500 + (int64_t)dl_rng_below(pick, 2500);
    f[0].kind = SIM_PARTITION;
    int first = 1 + (int)dl_rng_below(pick, (uint64_t)n);
    for (int k = 1; k <= n; k++)
        f[0].group[k] = k == first ? 1 : (uint8_t)(1 + dl_rng_below(pick, 2));
    f[0].group[first % n + 1] = 2;
    f[1].at_us = f[0].at_us + 2000 + (int64_t)dl_rng_below(pick, 6000);
    f[1].kind = SIM_HEAL;
}

void rx_expect_done(const struct sim_config *cfg, const struct sim_result *res, uint64_t seed,
                    const char *what, rx_requests_fn requests)
{
    ck_assert_msg(res->safe && res->live && res->completed && res->pending == 0,
                  "%s, seed %llu (n %d): %s", what, (unsigned long long)seed, cfg->env.n,
                  res->violation);
    ck_assert_int_eq(res->counter, (int64_t)res->exits);
    ck_assert_uint_eq(res->cs_entries, res->requests);
    ck_assert_uint_eq(res->exits, res->requests);
    ck_assert_uint_eq(res->requests, requests(cfg));
}

int rx_sweep_partition(rx_shape_fn shape, rx_requests_fn requests, uint64_t seeds)
{
    int stalled = 0;
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        for (int retx = 0; retx <= 1; retx++) {
            struct dl_rng pick;
            dl_rng_seed(&pick, seed ^ 0x9a27ULL);
            struct sim_config cfg;
            struct sim_fault f[2];
            shape(&cfg, &pick, seed, retx);
            rx_partition(f, &pick, cfg.env.n);
            cfg.faults = f;
            cfg.nfaults = 2;
            struct sim_result res;
            ck_assert_int_eq(sim_run(&cfg, &res), 0);
            if (retx) {
                rx_expect_done(&cfg, &res, seed, "partition, retransmit", requests);
            } else {
                ck_assert_msg(res.safe, "seed %llu: %s", (unsigned long long)seed, res.violation);
                if (!res.completed) {
                    stalled++;
                    ck_assert(!res.live && res.end == SIM_END_DEADLOCK && res.pending > 0);
                }
            }
        }
    }
    return stalled;
}

int rx_sweep_loss(rx_shape_fn shape, rx_requests_fn requests, uint64_t seeds)
{
    int done_without = 0;
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        for (int retx = 0; retx <= 1; retx++) {
            struct dl_rng pick;
            dl_rng_seed(&pick, seed ^ 0x1055ULL);
            struct sim_config cfg;
            shape(&cfg, &pick, seed, retx);
            cfg.loss = 0.1;
            struct sim_result res;
            ck_assert_int_eq(sim_run(&cfg, &res), 0);
            ck_assert_msg(res.safe, "seed %llu: %s", (unsigned long long)seed, res.violation);
            if (retx)
                rx_expect_done(&cfg, &res, seed, "10% loss, retransmit", requests);
            else
                done_without += res.completed;
        }
    }
    return done_without;
}

void rx_sweep_loss_and_crashes(rx_shape_fn shape, uint64_t seeds)
{
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        struct dl_rng pick;
        dl_rng_seed(&pick, seed ^ 0xc4a5ULL);
        struct sim_config cfg;
        shape(&cfg, &pick, seed, true);
        cfg.failure_timeout_us =
            cfg.delay_us + cfg.jitter_us + 1 + (int64_t)dl_rng_below(&pick, 3000);
        cfg.loss = 0.05;
        cfg.crash_prob = 0.05;
        cfg.restart_after_us = 1 + (int64_t)dl_rng_below(&pick, 8000);
        struct sim_result res;
        ck_assert_int_eq(sim_run(&cfg, &res), 0);
        ck_assert_msg(res.safe && res.live && res.completed, "seed %llu (n %d): %s",
                      (unsigned long long)seed, cfg.env.n, res.violation);
        ck_assert_int_eq(res.counter, (int64_t)res.exits);
    }
}
