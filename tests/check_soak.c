/* The soak: every algorithm on real processes under a random nemesis -
 * kills, pauses, restarts, partitions, one-way cuts and loss, repeated
 * through the run - then the same nemesis on the simulator over many more
 * seeds.
 *
 * After each real run: `distlab check` passes (every safety property held
 * and the evidence is complete), no queue, segment or node process is left,
 * and every trace reads to its end: a node killed mid-write leaves at most
 * one torn record (the last), which the reader skips and counts; nothing is
 * missing, overwritten or corrupt. The nemesis really happened: the report
 * lists scheduled faults of every kind, and messages were lost to the cuts.
 *
 * Ricart-Agrawala has no generations, so nothing can fence a node that the
 * failure detector wrongly declared down: a pause or a partition longer
 * than the failure timeout makes it unsafe by design (that is the lesson of
 * conf/ricart-agrawala-pause.ini). Its nemesis keeps every pause and cut
 * below its failure timeout (1.5 s here): messages are lost, nodes crash
 * and restart, but nobody is wrongly declared down. The others get cuts
 * and pauses far longer than their failure timeout (200 ms): their fencing
 * must keep the resource safe.
 *
 * The nemesis is drawn from a seed that the test prints. By default the
 * seed is fixed (a `make check` is reproducible) and each run lasts a few
 * seconds, about a minute in all; for a longer soak:
 *   DISTLAB_SOAK_SEED=N|random   another nemesis (random: from the clock)
 *   DISTLAB_SOAK_SECONDS=S       each real run lasts S seconds (default 6)
 *   DISTLAB_SOAK_SIM_SEEDS=K     schedules per algorithm on the simulator
 *                                (default 200)
 * A failure prints the seed and keeps nothing but what the message says;
 * DISTLAB_TEST_KEEP=1 keeps the run directories for a post-mortem. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/helpers.h"

#define TCASE_TIMEOUT 600

static const char *const algorithms[] = {"centralized", "ricart_agrawala", "token_ring",
                                         "two_level_ring"};
#define NALGOS (int)(sizeof algorithms / sizeof algorithms[0])

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    if (strcmp(v, "random") == 0)
        return ((uint64_t)time(NULL) * 2654435761u) ^ (uint64_t)getpid();
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end) {
        fprintf(stderr, "%s=%s: expected a number%s\n", name, v,
                strcmp(name, "DISTLAB_SOAK_SEED") == 0 ? " or 'random'" : "");
        exit(2);
    }
    return x;
}

/* splitmix64: the nemesis's own generator (independent of the program's). */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static int below(uint64_t *s, int n) { return (int)(next(s) % (uint64_t)n); }
static int between(uint64_t *s, int lo, int hi) { return lo + below(s, hi - lo + 1); }

#define NODES 5

/* Two to three sides of the five nodes, like "1,4/2,3,5". */
static void random_sides(uint64_t *s, char *buf, size_t cap)
{
    int side[NODES + 1];
    int sides = between(s, 2, 3);
    for (;;) {
        bool used[4] = {false};
        for (int k = 1; k <= NODES; k++) {
            side[k] = below(s, sides);
            used[side[k]] = true;
        }
        bool all = true;
        for (int g = 0; g < sides; g++)
            all = all && used[g];
        if (all)
            break;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (int g = 0; g < sides; g++) {
        bool first = true;
        for (int k = 1; k <= NODES; k++) {
            if (side[k] != g)
                continue;
            len += (size_t)snprintf(buf + len, cap - len, "%s%d", first ? (g ? "/" : "") : ",", k);
            first = false;
        }
    }
}

/* The nemesis as [fault.N] sections: each kind of fault once, repeating
 * (every) through the run, pauses and cuts undone after a while (for),
 * at times and on targets drawn from the seed. `seconds` is the run's
 * length. */
static void nemesis(uint64_t *s, const char *algorithm, int seconds, char *buf, size_t cap)
{
    size_t len = 0;
    int f = 0;
    /* The longest pause or cut (see the top of the file). */
    int longest = strcmp(algorithm, "ricart_agrawala") == 0 ? 600 : 1000;
#define ADD(...) (len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__))
    /* A period between 1.2 and 2.4 s per kind, starting in the first 1.5 s. */
#define WHEN() ADD("\n[fault.%d]\nat = %dms\nevery = %dms\n", ++f, between(s, 300, 1500), \
                   between(s, 1200, 2400))
    /* kill a random node (the supervisor restarts it) */
    WHEN();
    ADD("action = kill\ntarget = %s\n",
        below(s, 2) ? "random"
        : strcmp(algorithm, "centralized") == 0 ? "coordinator"
        : strstr(algorithm, "ring") ? "token_holder"
                                    : "random");
    /* pause one, resume it automatically */
    WHEN();
    ADD("action = pause\ntarget = random\nfor = %dms\n", between(s, 50, longest));
    /* restart one */
    WHEN();
    ADD("action = restart\ntarget = %d\n", between(s, 1, NODES));
    /* split the cluster into sides for a while */
    char sides[64];
    random_sides(s, sides, sizeof sides);
    WHEN();
    ADD("action = partition\ntarget = %s\nfor = %dms\n", sides, between(s, 100, longest));
    /* cut one direction of one link */
    int a = between(s, 1, NODES), b = between(s, 1, NODES - 1);
    if (b >= a)
        b++;
    WHEN();
    ADD("action = partition\ntarget = %d->%d\nfor = %dms\n", a, b, between(s, 100, longest));
    /* lose messages on every link */
    WHEN();
    ADD("action = net\nloss = 0.%02d\nfor = %dms\n", between(s, 2, 20), between(s, 100, 1000));
    (void)seconds;
#undef WHEN
#undef ADD
}

static char *soak_ini(const char *dir, const char *algorithm, uint64_t seed, int seconds,
                      int requests)
{
    uint64_t s = seed;
    char faults[4096];
    nemesis(&s, algorithm, seconds, faults, sizeof faults);
    char text[8192], name[64];
    snprintf(text, sizeof text,
             "; written by tests/check_soak.c: nemesis seed %llu\n"
             "[cluster]\n"
             "name = soak\n"
             "nodes = %d\n"
             "algorithm = %s\n"
             "duration = %ds\n"
             "seed = %llu\n"
             "retransmit = true\n"
             "failure_timeout = %s\n"
             "\n"
             "[workload]\n"
             "requests = %d\n"
             "cs_time = 1ms\n"
             "think_time = 2ms\n"
             "\n"
             "[supervisor]\n"
             "restart = on-crash\n"
             "restart_delay = 200ms\n"
             "%s",
             (unsigned long long)seed, NODES, algorithm, seconds,
             (unsigned long long)(seed % 1000000007u),
             strcmp(algorithm, "ricart_agrawala") == 0 ? "1500ms" : "200ms", requests, faults);
    snprintf(name, sizeof name, "soak-%s.ini", algorithm);
    return h_write_ini(dir, name, text);
}

static uint64_t soak_seed(void)
{
    static uint64_t seed;
    static bool told;
    if (!told) {
        seed = env_u64("DISTLAB_SOAK_SEED", 20261202);
        fprintf(stderr, "soak: nemesis seed %llu (DISTLAB_SOAK_SEED=%llu replays it)\n",
                (unsigned long long)seed, (unsigned long long)seed);
        told = true;
    }
    return seed;
}

/* How many faults of this action the report lists as scheduled. */
static int scheduled(const json_t *rep, const char *action)
{
    int c = 0;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(rep, "faults"), i, f)
    {
        const char *a = json_string_value(json_object_get(f, "action"));
        const char *src = json_string_value(json_object_get(f, "source"));
        c += a && src && strcmp(a, action) == 0 && strcmp(src, "schedule") == 0;
    }
    return c;
}

START_TEST(test_soak_real)
{
    const char *algorithm = algorithms[_i];
    uint64_t seed = soak_seed() + (uint64_t)_i * 7919;
    int seconds = (int)env_u64("DISTLAB_SOAK_SECONDS", 6);
    if (seconds < 3)
        seconds = 3;
    char *dir = h_tmpdir();
    /* So many requests that the run lasts its whole duration. */
    char *ini = soak_ini(dir, algorithm, seed, seconds, 1000000);
    char *rundir = h_path(dir, "run");
    fprintf(stderr, "soak: %s on real processes, %d s, nemesis seed %llu\n", algorithm, seconds,
            (unsigned long long)seed);
    struct h_proc p;
    int rc = h_run(&p, dir, "run", seconds + 60.0, "run", ini, "--out", rundir, "--quiet", NULL);
    char *out = h_out(&p), *err = h_err(&p);
    ck_assert_msg(rc == 0, "soak %s (nemesis seed %llu): `distlab run` exited %d\n%.3000s\n%.3000s",
                  algorithm, (unsigned long long)seed, rc, out, err);
    free(out);
    free(err);

    struct h_proc c;
    rc = h_run(&c, dir, "check", 60.0, "check", rundir, NULL);
    out = h_out(&c);
    ck_assert_msg(rc == 0, "soak %s (nemesis seed %llu): `distlab check` exited %d\n%.4000s",
                  algorithm, (unsigned long long)seed, rc, out);
    free(out);
    h_assert_no_leftovers(rundir);

    json_t *rep = h_json_in(rundir, "report.json");
    /* Every trace read to its end. */
    ck_assert_msg(h_jbool(rep, "evidence.complete"), "soak %s (seed %llu): evidence incomplete",
                  algorithm, (unsigned long long)seed);
    static const char *const lost[] = {"evidence.cut", "evidence.overwritten", "evidence.missing",
                                       "evidence.gaps"};
    for (size_t i = 0; i < sizeof lost / sizeof lost[0]; i++)
        ck_assert_msg(json_array_size(h_jget(rep, lost[i])) == 0, "soak %s (seed %llu): %s not empty",
                      algorithm, (unsigned long long)seed, lost[i]);
    size_t i;
    json_t *t;
    json_array_foreach(h_jget(rep, "evidence.torn"), i, t)
    {
        json_t *n = json_object_get(t, "records");
        ck_assert_msg(n && json_integer_value(n) <= 1,
                      "soak %s (seed %llu): a trace file has more than one torn record",
                      algorithm, (unsigned long long)seed);
    }
    /* The nemesis happened. */
    static const char *const kinds[] = {"kill", "pause", "restart", "partition", "net"};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        ck_assert_msg(scheduled(rep, kinds[k]) >= 1,
                      "soak %s (seed %llu): no scheduled %s in the report's faults", algorithm,
                      (unsigned long long)seed, kinds[k]);
    json_t *trace = h_trace(dir, rundir);
    int drops = 0, links = h_trace_count(trace, "link", 0, -1);
    json_array_foreach(trace, i, t)
    {
        const char *why = json_string_value(json_object_get(t, "reason"));
        drops += h_event_is(t, "drop", -1) && why &&
                 (strcmp(why, "partition") == 0 || strcmp(why, "loss") == 0);
    }
    ck_assert_msg(links > 0, "soak %s (seed %llu): no link records", algorithm,
                  (unsigned long long)seed);
    fprintf(stderr, "soak: %s: %lld CS, %d faults, %d messages lost to cuts and loss: safe\n",
            algorithm, h_jint(rep, "cs_entries"), (int)json_array_size(h_jget(rep, "faults")),
            drops);
    json_decref(trace);
    json_decref(rep);
    free(rundir);
    free(ini);
    h_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_soak_sim)
{
    const char *algorithm = algorithms[_i];
    uint64_t seed = soak_seed() + (uint64_t)_i * 7919;
    long seeds = (long)env_u64("DISTLAB_SOAK_SIM_SEEDS", 200);
    char *dir = h_tmpdir();
    /* A workload that ends: the simulator judges liveness too. */
    char *ini = soak_ini(dir, algorithm, seed, 10, 40);
    char nseeds[32];
    snprintf(nseeds, sizeof nseeds, "%ld", seeds);
    struct h_proc p;
    int rc = h_run(&p, dir, "sim", 300.0, "sim", ini, "--seeds", nseeds, NULL);
    char *out = h_out(&p), *err = h_err(&p);
    /* Safety in every schedule; liveness is printed (a schedule can cut a
     * node off until the end). */
    ck_assert_msg(rc == 0 || rc == 1, "soak sim %s (seed %llu): exited %d\n%.3000s\n%.2000s",
                  algorithm, (unsigned long long)seed, rc, out, err);
    ck_assert_msg(strstr(out, ": 0 of ") && !strstr(out, "UNSAFE"),
                  "soak sim %s (nemesis seed %llu): unsafe schedules:\n%.3000s", algorithm,
                  (unsigned long long)seed, out);
    const char *live = strstr(out, "liveness");
    fprintf(stderr, "soak: %s on the simulator, %ld schedules: safe; %.*s\n", algorithm, seeds,
            live ? (int)strcspn(live, "\n") : 0, live ? live : "");
    free(out);
    free(err);
    free(ini);
    h_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *soak_suite(void)
{
    Suite *s = suite_create("soak");
    TCase *tc = tcase_create("real");
    tcase_set_timeout(tc, TCASE_TIMEOUT);
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_add_loop_test(tc, test_soak_real, 0, NALGOS);
    suite_add_tcase(s, tc);
    tc = tcase_create("sim");
    tcase_set_timeout(tc, TCASE_TIMEOUT);
    tcase_add_unchecked_fixture(tc, h_root_setup, h_root_teardown);
    tcase_add_loop_test(tc, test_soak_sim, 0, NALGOS);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    soak_seed(); /* said once, before the tests fork */
    SRunner *sr = srunner_create(soak_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
