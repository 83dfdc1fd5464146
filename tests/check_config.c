/* Tests for src/config.c: durations, whole files, every error message, --set,
 * cross-key validation, and the resolved INI round trip.
 *
 * Error texts are asserted exactly: they are what a user reads, and the
 * "FILE:LINE: [section] key" prefix is a promise (config.h). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/trace.h"
#include "nodes/algo.h"
#include "nodes/kv.h"
#include "src/config.h"

/* What a bad target is told to be (config.c's TARGETS_EXPECTED). */
#define TARGETS_TEXT                                                                              \
    "leader, coordinator, token_holder, random, a node id, a partition like 1,2/3,4,5 or 1->3 "   \
    "(or by role, like leader+1), or links like all or 1<->3"

/* The temporary file of the current test, removed by the fixture. */
static char tmp_path[64];

static void tmp_teardown(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
    tmp_path[0] = '\0';
}

/* Write text to a fresh temporary file; its name is in tmp_path. */
static void write_tmp(const char *text)
{
    tmp_teardown();
    snprintf(tmp_path, sizeof tmp_path, "/tmp/check_config.XXXXXX");
    int fd = mkstemp(tmp_path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    ck_assert_int_eq(close(fd), 0);
}

static int load_text(struct config *c, const char *text, char *err)
{
    write_tmp(text);
    return config_load(c, tmp_path, err);
}

/* "PATH:LINE: what", for exact comparisons. */
static const char *at_tmp(int line, const char *what)
{
    static char buf[CONFIG_ERRLEN + 128];
    snprintf(buf, sizeof buf, "%s:%d: %s", tmp_path, line, what);
    return buf;
}

/* Load text, expect failure with exactly one error line: PATH:LINE: what */
static void expect_load_error(const char *text, int line, const char *what)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, text, err), -EINVAL);
    char want[CONFIG_ERRLEN];
    snprintf(want, sizeof want, "%s:%d: %s", tmp_path, line, what);
    ck_assert_str_eq(err, want);
}

/* Load text (which must load), then validate; expect exactly one error. */
static void expect_validate_error(const char *text, int line, const char *what)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_msg(load_text(&c, text, err) == 0, "load failed: %s", err);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    char want[CONFIG_ERRLEN];
    snprintf(want, sizeof want, "%s:%d: %s", tmp_path, line, what);
    ck_assert_str_eq(err, want);
}

static void assert_same_config(const struct config *a, const struct config *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_int_eq(a->nodes, b->nodes);
    ck_assert_str_eq(a->algorithm, b->algorithm);
    ck_assert_int_eq(a->duration_us, b->duration_us);
    ck_assert_uint_eq(a->seed, b->seed);
    ck_assert_int_eq(a->requests, b->requests);
    ck_assert_int_eq(a->cs_time_us, b->cs_time_us);
    ck_assert_int_eq(a->think_time_us, b->think_time_us);
    ck_assert(a->rate == b->rate);
    ck_assert_int_eq(a->election_timeout_min_us, b->election_timeout_min_us);
    ck_assert_int_eq(a->election_timeout_max_us, b->election_timeout_max_us);
    ck_assert_int_eq(a->heartbeat_us, b->heartbeat_us);
    ck_assert_int_eq(a->fsync, b->fsync);
    ck_assert_int_eq(a->delay_us, b->delay_us);
    ck_assert_int_eq(a->jitter_us, b->jitter_us);
    ck_assert(a->loss == b->loss);
    ck_assert_int_eq(a->restart, b->restart);
    ck_assert_int_eq(a->restart_delay_us, b->restart_delay_us);
    ck_assert_int_eq(a->coordinator, b->coordinator);
    ck_assert_int_eq(a->coordinator_competes, b->coordinator_competes);
    ck_assert_int_eq(a->election_timeout_us, b->election_timeout_us);
    ck_assert_int_eq(a->failure_timeout_us, b->failure_timeout_us);
    ck_assert_int_eq(a->ring_token_timeout_us, b->ring_token_timeout_us);
    ck_assert_int_eq(a->ring_idle_hold_us, b->ring_idle_hold_us);
    ck_assert_int_eq(a->groups, b->groups);
    ck_assert_int_eq(a->local_rounds, b->local_rounds);
    ck_assert_int_eq(a->two_level_token_timeout_us, b->two_level_token_timeout_us);
    ck_assert_int_eq(a->two_level_idle_hold_us, b->two_level_idle_hold_us);
    ck_assert_int_eq(a->fencing, b->fencing);
    ck_assert_str_eq(a->requesters, b->requesters);
    ck_assert_str_eq(a->initial_clock, b->initial_clock);
    ck_assert_int_eq(a->trace_max_size, b->trace_max_size);
    ck_assert_uint_eq(a->trace_record, b->trace_record);
    ck_assert_int_eq(a->nfaults, b->nfaults);
    for (int i = 0; i < a->nfaults; i++) {
        ck_assert_int_eq(a->faults[i].at_us, b->faults[i].at_us);
        ck_assert_int_eq(a->faults[i].action, b->faults[i].action);
        ck_assert_int_eq(a->faults[i].target, b->faults[i].target);
        ck_assert_int_eq(a->faults[i].target_node, b->faults[i].target_node);
        ck_assert_str_eq(a->faults[i].target_text, b->faults[i].target_text);
        ck_assert_int_eq(a->faults[i].every_us, b->faults[i].every_us);
        ck_assert_int_eq(a->faults[i].count, b->faults[i].count);
        ck_assert_int_eq(a->faults[i].for_us, b->faults[i].for_us);
        ck_assert_int_eq(a->faults[i].has_loss, b->faults[i].has_loss);
        ck_assert_int_eq(a->faults[i].has_delay, b->faults[i].has_delay);
        ck_assert_int_eq(a->faults[i].has_jitter, b->faults[i].has_jitter);
        ck_assert(a->faults[i].loss == b->faults[i].loss);
        ck_assert_int_eq(a->faults[i].delay_us, b->faults[i].delay_us);
        ck_assert_int_eq(a->faults[i].jitter_us, b->faults[i].jitter_us);
    }
}

/* An algorithm the configuration knows but this build does not implement,
 * or NULL once they all are. */
static const char *unimplemented_algorithm(void)
{
    static const char *const planned[] = {"ricart_agrawala", "token_ring", "two_level_ring",
                                          "raft"};
    for (size_t i = 0; i < sizeof planned / sizeof planned[0]; i++)
        if (!algo_find(planned[i]))
            return planned[i];
    return NULL;
}

static void available_algorithms(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; algo_table[i] && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", algo_table[i]->name);
}

/* ---- durations ---- */

START_TEST(test_duration_good)
{
    static const struct {
        const char *text;
        int64_t us;
    } cases[] = {
        {"0", 0},
        {"0ms", 0},
        {"150ms", 150000},
        {"2s", 2000000},
        {"1.5s", 1500000},
        {"250us", 250},
        {"1min", 60000000},
        {"1.5min", 90000000},
        {"0.5ms", 500},
        {".25s", 250000},
        {"0.000001s", 1},
        {"0.00000005min", 3},
        {"9223372036854775807us", INT64_MAX},
        {"1h", 3600000000},
        {"1.5h", 5400000000},
        {"24h", 86400000000},
        {"0.0000000025h", 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t us = -42;
        ck_assert_msg(config_parse_duration(cases[i].text, &us) == 0, "rejected '%s'",
                      cases[i].text);
        ck_assert_msg(us == cases[i].us, "'%s' gave %lld", cases[i].text, (long long)us);
    }
}
END_TEST

START_TEST(test_duration_bad)
{
    static const char *const bad[] = {
        "",         "150",       "1.5",   "-5ms", "-0",     "5sec", "5 ms",  "ms",
        ".ms",      "1e3ms",     "abc",   "2s ",  " 2s",    "2S",   "1d",    "1.5us",
        "0.0000001s", "9223372036854775808us", "99999999999999999999s", "153722867280913min",
        "1m",       "+5ms",      "5ms5",  "0x10ms", "0.000000001h", "2562047788.1h",
        "0.000000000000000001h",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = -42;
        ck_assert_msg(config_parse_duration(bad[i], &us) == -1, "accepted '%s'", bad[i]);
        ck_assert_msg(us == -42, "'%s' wrote the output", bad[i]);
    }
}
END_TEST

/* ---- good files ---- */

START_TEST(test_defaults)
{
    struct config c;
    config_defaults(&c);
    ck_assert_str_eq(c.name, "distlab");
    ck_assert_int_eq(c.nodes, 5);
    ck_assert_str_eq(c.algorithm, "centralized");
    ck_assert_int_eq(c.duration_us, 30000000);
    ck_assert_uint_eq(c.seed, 1);
    ck_assert_int_eq(c.requests, 100);
    ck_assert_int_eq(c.cs_time_us, 5000);
    ck_assert_int_eq(c.think_time_us, 20000);
    ck_assert_int_eq(c.restart, RESTART_NEVER);
    ck_assert_int_eq(c.restart_delay_us, 500000);
    ck_assert_int_eq(c.coordinator, 1);
    ck_assert(!c.coordinator_competes);
    ck_assert_int_eq(c.election_timeout_min_us, 150000);
    ck_assert_int_eq(c.election_timeout_max_us, 300000);
    ck_assert_int_eq(c.heartbeat_us, 50000);
    ck_assert(c.fsync);
    ck_assert_int_eq(c.nfaults, 0);
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(config_validate(&c, err), 0);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_empty_file_gives_defaults)
{
    struct config c, d;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, "; nothing here\n\n# nor here\n", err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(c.path, tmp_path);
    config_defaults(&d);
    assert_same_config(&c, &d);
}
END_TEST

START_TEST(test_full_file)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    const char *text =
        "; an experiment\n"
        "[cluster]\n"
        "name = cent-3\n"
        "nodes = 3          ; inline comment\n"
        "algorithm = centralized\n"
        "duration = 10s\n"
        "seed = 9223372036854775807\n"
        "\n"
        "[workload]\n"
        "requests = 0\n"
        "cs_time = 250us\n"
        "think_time = 1.5ms\n"
        "rate = 12.5\n"
        "# hash comment at the start of a line\n"
        "[raft]\n"
        "election_timeout_min = 200ms\n"
        "election_timeout_max = 400ms\n"
        "heartbeat = 20ms\n"
        "fsync = off\n"
        "[network]\n"
        "delay = 0ms\n"
        "jitter = 0\n"
        "loss = 0.0\n"
        "[supervisor]\n"
        "restart = on-crash\n"
        "restart_delay = 1min\n"
        "[centralized]\n"
        "coordinator: 2\n"
        "coordinator_competes = Yes\n"
        "[fault.1]\n"
        "at = 2s\n"
        "action = kill\n"
        "target = coordinator\n"
        "[ fault.7 ]\n"
        "at = 1s\n"
        "action = pause\n"
        "target = 3\n"
        "[fault.2]\n"
        "at = 5s\n"
        "action = resume\n"
        "target = random\n";
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    ck_assert_str_eq(c.name, "cent-3");
    ck_assert_int_eq(c.nodes, 3);
    ck_assert_int_eq(c.duration_us, 10000000);
    ck_assert_uint_eq(c.seed, (uint64_t)INT64_MAX);
    ck_assert_int_eq(c.requests, 0);
    ck_assert_int_eq(c.cs_time_us, 250);
    ck_assert_int_eq(c.think_time_us, 1500);
    ck_assert(c.rate == 12.5);
    ck_assert_int_eq(c.election_timeout_min_us, 200000);
    ck_assert_int_eq(c.election_timeout_max_us, 400000);
    ck_assert_int_eq(c.heartbeat_us, 20000);
    ck_assert(!c.fsync);
    ck_assert(c.loss == 0.0);
    ck_assert_int_eq(c.restart, RESTART_ON_CRASH);
    ck_assert_int_eq(c.restart_delay_us, 60000000);
    ck_assert_int_eq(c.coordinator, 2);
    ck_assert(c.coordinator_competes);
    ck_assert_int_eq(c.nfaults, 3);
    /* In file order until validated. */
    ck_assert_int_eq(c.faults[0].at_us, 2000000);
    ck_assert_int_eq(c.faults[0].action, FAULT_KILL);
    ck_assert_int_eq(c.faults[0].target, TARGET_COORDINATOR);
    ck_assert_str_eq(c.faults[0].target_text, "coordinator");
    ck_assert_int_eq(c.faults[0].line, 30);
    ck_assert_int_eq(c.faults[1].target, TARGET_NODE);
    ck_assert_int_eq(c.faults[1].target_node, 3);
    ck_assert_int_eq(c.faults[1].line, 34);

    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(c.faults[0].at_us, 1000000);
    ck_assert_int_eq(c.faults[0].action, FAULT_PAUSE);
    ck_assert_int_eq(c.faults[1].at_us, 2000000);
    ck_assert_int_eq(c.faults[2].at_us, 5000000);
    ck_assert_int_eq(c.faults[2].target, TARGET_RANDOM);
}
END_TEST

START_TEST(test_indent_crlf_bom)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    /* An indented key is a key (not a continuation of the line above), CRLF
     * line ends and a UTF-8 BOM are accepted. */
    const char *text = "\xEF\xBB\xBF[cluster]\r\n"
                       "name = x\r\n"
                       "    nodes = 7\r\n"
                       "\tduration = 3s\r\n";
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    ck_assert_str_eq(c.name, "x");
    ck_assert_int_eq(c.nodes, 7);
    ck_assert_int_eq(c.duration_us, 3000000);
}
END_TEST

START_TEST(test_faults_sorted_stably)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    const char *text = "[fault.1]\nat = 3s\naction = kill\ntarget = 1\n"
                       "[fault.2]\nat = 1s\naction = pause\ntarget = 2\n"
                       "[fault.3]\nat = 3s\naction = resume\ntarget = 3\n"
                       "[fault.4]\nat = 0\naction = terminate\ntarget = 4\n"
                       "[fault.5]\nat = 1s\naction = restart\ntarget = 5\n";
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    static const int order[] = {4, 2, 5, 1, 3};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(c.faults[i].target_node, order[i]);
}
END_TEST

START_TEST(test_heal_needs_no_target)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_msg(load_text(&c, "[fault.1]\nat = 1s\naction = heal\n", err) == 0, "%s", err);
    ck_assert_int_eq(c.faults[0].action, FAULT_HEAL);
}
END_TEST

START_TEST(test_action_names)
{
    ck_assert_str_eq(fault_action_name(FAULT_KILL), "kill");
    ck_assert_str_eq(fault_action_name(FAULT_PAUSE), "pause");
    ck_assert_str_eq(fault_action_name(FAULT_RESUME), "resume");
    ck_assert_str_eq(fault_action_name(FAULT_TERMINATE), "terminate");
    ck_assert_str_eq(fault_action_name(FAULT_RESTART), "restart");
    ck_assert_str_eq(fault_action_name(FAULT_PARTITION), "partition");
    ck_assert_str_eq(fault_action_name(FAULT_HEAL), "heal");
    ck_assert_str_eq(fault_action_name(FAULT_ACTION_COUNT), "unknown");
    ck_assert_str_eq(fault_action_name(-1), "unknown");
}
END_TEST

/* ---- error messages from config_load ---- */

START_TEST(test_err_unknown_section)
{
    expect_load_error("[cluster]\nnodes = 3\n[foo]\nbar = 1\n", 3,
                      "unknown section [foo] (expected " CONFIG_SECTIONS ")");
}
END_TEST

START_TEST(test_err_unknown_empty_section)
{
    /* inih says nothing about a section without keys; we do. */
    expect_load_error("[clutser]\n", 1,
                      "unknown section [clutser] (expected " CONFIG_SECTIONS ")");
}
END_TEST

START_TEST(test_err_bad_fault_section)
{
    expect_load_error("[fault.x]\nat = 1s\n", 1,
                      "unknown section [fault.x] (expected fault.N with N a positive integer, "
                      "like [fault.1])");
    expect_load_error("[fault.]\n", 1,
                      "unknown section [fault.] (expected fault.N with N a positive integer, "
                      "like [fault.1])");
    expect_load_error("[fault.0]\n", 1,
                      "unknown section [fault.0] (expected fault.N with N a positive integer, "
                      "like [fault.1])");
}
END_TEST

START_TEST(test_workload_mix)
{
    /* The op mix: weights by name, any order, some left out. */
    int w[5];
    ck_assert_int_eq(config_parse_mix("get:50,put:30,append:10,cas:10", w), 0);
    ck_assert_int_eq(w[KV_GET], 50);
    ck_assert_int_eq(w[KV_PUT], 30);
    ck_assert_int_eq(w[KV_APPEND], 10);
    ck_assert_int_eq(w[KV_CAS], 10);
    ck_assert_int_eq(config_parse_mix(" cas : 1 , put:0", w), 0);
    ck_assert_int_eq(w[KV_CAS], 1);
    ck_assert_int_eq(w[KV_PUT], 0);
    ck_assert_int_eq(w[KV_GET], 0);
    static const char *const bad[] = {"", "get:0", "get:1,get:2", "del:1", "get", "get:-1",
                                      "get:1000001", "get:1;put:2", "get:1,,", "get:x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(config_parse_mix(bad[i], w) == -EINVAL, "'%s' was accepted", bad[i]);
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, "[workload]\nmix = put:1\nkeys = 3\nvalue_size = 100\n", err),
                     0);
    ck_assert_str_eq(c.mix, "put:1");
    ck_assert_int_eq(c.keys, 3);
    ck_assert_int_eq(c.value_size, 100);
    expect_load_error("[workload]\nmix = get:50,del:50\n", 2,
                      "[workload] mix: expected operation:weight pairs like "
                      "get:50,put:30,append:10,cas:10 (each of get, put, append, cas at most "
                      "once, weights 0 to 1000000, one above 0), got 'get:50,del:50'");
}
END_TEST

START_TEST(test_err_unknown_key)
{
    expect_load_error("[workload]\nfoo = 1\n", 2,
                      "[workload] unknown key 'foo' (expected requests, cs_time, think_time, "
                      "rate, clients, client_timeout, keys, mix, value_size, pipeline, requesters)");
    expect_load_error("[fault.1]\nat = 1s\naction = kill\ntarget = 1\nwhen = 2s\n", 5,
                      "[fault.1] unknown key 'when' (expected at, action, target, every, count, for, "
                      "loss, delay, jitter)");
}
END_TEST

START_TEST(test_err_key_outside_section)
{
    expect_load_error("nodes = 3\n[cluster]\n", 1,
                      "key 'nodes' is outside any section (put it under a [section] header)");
}
END_TEST

START_TEST(test_err_duration_unit)
{
    expect_load_error("[workload]\ncs_time = 5sec\n", 2,
                      "[workload] cs_time: expected a duration with a unit (us, ms, s, min or h), "
                      "got '5sec'");
    expect_load_error("[workload]\nthink_time = 20\n", 2,
                      "[workload] think_time: expected a duration with a unit, like 150ms or 2s, "
                      "got '20'");
    expect_load_error("[cluster]\nduration = 0\n", 2,
                      "[cluster] duration: expected a duration from 1us to 24h, got '0'");
    expect_load_error("[raft]\nheartbeat = -5ms\n", 2,
                      "[raft] heartbeat: expected a duration from 1ms to 1min, got '-5ms'");
    expect_load_error("[workload]\ncs_time = 99999999999999999999s\n", 2,
                      "[workload] cs_time: expected a duration from 0 to 1h, "
                      "got '99999999999999999999s'");
    expect_load_error("[network]\ndelay = 1.5us\n", 2,
                      "[network] delay: expected a duration in whole microseconds, got '1.5us'");
}
END_TEST

START_TEST(test_err_hash_comment_hint)
{
    expect_load_error("[workload]\ncs_time = 5ms # short\n", 2,
                      "[workload] cs_time: expected a duration with a unit (us, ms, s, min or h), "
                      "got '5ms # short' (a comment after a value starts with ';', not '#')");
}
END_TEST

START_TEST(test_err_negative_number)
{
    expect_load_error("[workload]\nrequests = -3\n", 2,
                      "[workload] requests: expected an integer from 0 to 1000000000, got '-3'");
    expect_load_error("[workload]\nrate = -1\n", 2,
                      "[workload] rate: expected a number from 0 to 1000000, got '-1'");
    expect_load_error("[cluster]\nseed = -1\n", 2,
                      "[cluster] seed: expected an integer from 0 to 9223372036854775807, "
                      "got '-1'");
}
END_TEST

START_TEST(test_err_nodes_range)
{
    expect_load_error("[cluster]\nnodes = 129\n", 2,
                      "[cluster] nodes: expected an integer from 1 to 128, got '129'");
    expect_load_error("[cluster]\nnodes = 0\n", 2,
                      "[cluster] nodes: expected an integer from 1 to 128, got '0'");
    expect_load_error("[cluster]\nnodes = 5x\n", 2,
                      "[cluster] nodes: expected an integer from 1 to 128, got '5x'");
    expect_load_error("[cluster]\nnodes = 99999999999999999999\n", 2,
                      "[cluster] nodes: expected an integer from 1 to 128, "
                      "got '99999999999999999999'");
}
END_TEST

START_TEST(test_err_other_values)
{
    expect_load_error("[cluster]\nname = a b\n", 2,
                      "[cluster] name: expected a name of 1 to 63 letters, digits, '.', '_' or "
                      "'-', got 'a b'");
    expect_load_error("[network]\nloss = 1.5\n", 2,
                      "[network] loss: expected a number from 0.0 to 1.0, got '1.5'");
    expect_load_error("[network]\nloss = nan\n", 2,
                      "[network] loss: expected a number from 0.0 to 1.0, got 'nan'");
    expect_load_error("[supervisor]\nrestart = always\n", 2,
                      "[supervisor] restart: expected never or on-crash, got 'always'");
    expect_load_error("[fault.1]\nat = 1s\naction = stop\ntarget = 1\n", 3,
                      "[fault.1] action: expected kill, pause, resume, terminate, restart, "
                      "partition, heal or net, got 'stop'");
    expect_load_error("[fault.1]\nat = 1s\naction = kill\ntarget = king\n", 4,
                      "[fault.1] target: expected leader, coordinator, token_holder, random, a "
                      "node id, a partition like 1,2/3,4,5 or 1->3 (or by role, like leader+1), or links like all or "
                      "1<->3, "
                      "got 'king'");
    expect_load_error("[fault.1]\nat = 1s\naction = kill\ntarget = 0\n", 4,
                      "[fault.1] target: expected a node id from 1 to 128, got '0'");
    expect_load_error("[fault.1]\nat = 1s\naction = partition\ntarget = 1,2/2,3\n", 4,
                      "[fault.1] target: expected a partition like 1,2/3,4,5 or 1->3, or links "
                      "like all or 1<->3 (node 2 is listed twice in '1,2/2,3'), got '1,2/2,3'");
}
END_TEST

START_TEST(test_err_bad_algorithm)
{
    char avail[256], want[512];
    available_algorithms(avail, sizeof avail);
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, "[cluster]\nalgorithm = paxos\n", err), -EINVAL);
    snprintf(want, sizeof want, "%s:2: [cluster] algorithm: expected one of %s (planned, ",
             tmp_path, avail);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got: %s", err);
    ck_assert_msg(strstr(err, "), got 'paxos'") && !strchr(err, '\n'), "got: %s", err);
}
END_TEST

START_TEST(test_err_unimplemented_algorithm)
{
    const char *name = unimplemented_algorithm();
    if (!name)
        return; /* every algorithm is implemented: nothing to refuse */
    char avail[256], text[128], what[512];
    available_algorithms(avail, sizeof avail);
    snprintf(text, sizeof text, "[cluster]\nnodes = 3\nalgorithm = %s\n", name);
    snprintf(what, sizeof what,
             "[cluster] algorithm '%s' is not implemented in this version (available: %s)", name,
             avail);
    expect_load_error(text, 3, what);
}
END_TEST

START_TEST(test_err_fault_missing_action)
{
    expect_load_error("[cluster]\nnodes = 3\n\n[fault.2]\nat = 1s\ntarget = 1\n", 4,
                      "[fault.2] missing key 'action' (kill, pause, resume, terminate, restart, "
                      "partition, heal or net)");
    expect_load_error("[fault.4]\naction = kill\ntarget = 1\n", 1,
                      "[fault.4] missing key 'at' (when, like at = 2s)");
    expect_load_error("[fault.4]\nat = 1s\naction = kill\n", 1,
                      "[fault.4] missing key 'target' (leader, coordinator, token_holder, random, "
                      "a node id, a partition like 1,2/3,4,5 or 1->3 (or by role, like leader+1), or links like all or "
                      "1<->3)");
}
END_TEST

START_TEST(test_err_bad_value_is_not_also_missing)
{
    expect_load_error("[fault.1]\nat = soon\naction = kill\ntarget = 1\n", 2,
                      "[fault.1] at: expected a duration with a unit, like 150ms or 2s, got "
                      "'soon'");
}
END_TEST

START_TEST(test_err_bad_bool)
{
    expect_load_error("[cluster]\n[raft]\nfsync = maybe\n", 3,
                      "[raft] fsync: expected true or false (or yes/no, on/off, 1/0), got 'maybe'");
}
END_TEST

START_TEST(test_err_duplicate_key)
{
    expect_load_error("[cluster]\nnodes = 3\nname = a\nnodes = 4\n", 4,
                      "[cluster] nodes: duplicate key (first set on line 2)");
    /* Also across two headers of the same section, and within a fault. */
    expect_load_error("[cluster]\nnodes = 3\n[workload]\n[cluster]\nnodes = 3\n", 5,
                      "[cluster] nodes: duplicate key (first set on line 2)");
    expect_load_error("[fault.1]\nat = 1s\naction = kill\ntarget = 1\nat = 2s\n", 5,
                      "[fault.1] at: duplicate key (first set on line 2)");
}
END_TEST

START_TEST(test_err_syntax)
{
    expect_load_error("[cluster]\nnodes = 3\nnodes 5\n", 3,
                      "syntax error: expected 'key = value', a [section] header or a comment, "
                      "got 'nodes 5'");
    expect_load_error("[cluster]\nnodes = 3\n[workload\nrequests = 5\n", 3,
                      "syntax error: section header without a closing ']', got '[workload'");
    expect_load_error("[cluster] nodes = 3\n", 1,
                      "syntax error: unexpected text after ']', got 'nodes = 3'");
}
END_TEST

START_TEST(test_err_line_too_long)
{
    char text[400];
    snprintf(text, sizeof text, "[cluster]\nname = %0300d\n", 0);
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, text, err), -EINVAL);
    ck_assert_str_eq(err, at_tmp(2, "syntax error: line is too long (at most 198 characters)"));
}
END_TEST

START_TEST(test_err_all_collected)
{
    struct config c;
    char err[CONFIG_ERRLEN], want[CONFIG_ERRLEN];
    const char *text = "[cluster]\n"
                       "nodes = 0\n"
                       "oops\n"
                       "[workload]\n"
                       "cs_time = 5\n"
                       "[fault.1]\n"
                       "at = 1s\n";
    ck_assert_int_eq(load_text(&c, text, err), -EINVAL);
    snprintf(want, sizeof want,
             "%s:2: [cluster] nodes: expected an integer from 1 to 128, got '0'\n"
             "%s:3: syntax error: expected 'key = value', a [section] header or a comment, got "
             "'oops'\n"
             "%s:5: [workload] cs_time: expected a duration with a unit, like 150ms or 2s, got "
             "'5'\n"
             "%s:6: [fault.1] missing key 'action' (kill, pause, resume, terminate, restart, "
             "partition, heal or net)\n"
             "%s:6: [fault.1] missing key 'target' (leader, coordinator, token_holder, random, a "
             "node id, a partition like 1,2/3,4,5 or 1->3 (or by role, like leader+1), or links like all or 1<->3)",
             tmp_path, tmp_path, tmp_path, tmp_path, tmp_path);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_err_truncated_safely)
{
    /* 400 bad lines: far more than CONFIG_ERRLEN holds. */
    size_t cap = 400 * 16 + 16;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t n = (size_t)snprintf(text, cap, "[cluster]\n");
    for (int i = 0; i < 400; i++)
        n += (size_t)snprintf(text + n, cap - n, "nodes = x%d\n", i);
    struct config c;
    char err[CONFIG_ERRLEN];
    memset(err, 'Z', sizeof err);
    ck_assert_int_eq(load_text(&c, text, err), -EINVAL);
    free(text);
    size_t len = strnlen(err, sizeof err);
    ck_assert_uint_lt(len, sizeof err);
    ck_assert_msg(strstr(err, "more errors not shown)") != NULL, "no truncation note");
    const char *first = at_tmp(2, "[cluster] nodes: expected an integer from 1 to 128, got 'x0'\n");
    ck_assert(strncmp(err, first, strlen(first)) == 0);
}
END_TEST

START_TEST(test_err_cannot_read)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(config_load(&c, "/nonexistent/distlab.ini", err), -ENOENT);
    ck_assert_str_eq(err, "/nonexistent/distlab.ini: cannot read: No such file or directory");
    ck_assert_int_eq(config_load(&c, "/tmp", err), -EISDIR);
    ck_assert_str_eq(err, "/tmp: cannot read: Is a directory");
}
END_TEST

/* ---- --set ---- */

START_TEST(test_set_values)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 3\n", err), 0);
    ck_assert_int_eq(config_set(&c, "cluster.nodes=7", err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(c.nodes, 7);
    ck_assert_int_eq(config_set(&c, " workload.cs_time = 1.5s ", err), 0);
    ck_assert_int_eq(c.cs_time_us, 1500000);
    ck_assert_int_eq(config_set(&c, "cluster.seed=42", err), 0);
    ck_assert_uint_eq(c.seed, 42);
    /* Overriding twice is what --set is for, not a duplicate. */
    ck_assert_int_eq(config_set(&c, "cluster.seed=43", err), 0);
    ck_assert_uint_eq(c.seed, 43);
}
END_TEST

START_TEST(test_set_faults)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(
        load_text(&c, "[cluster]\nduration = 10s\n[fault.2]\nat = 5s\naction = kill\ntarget = 1\n",
                  err),
        0);
    /* The section is everything before the last '.': fault.2, key at. */
    ck_assert_int_eq(config_set(&c, "fault.2.at=3s", err), 0);
    ck_assert_int_eq(c.nfaults, 1);
    ck_assert_int_eq(c.faults[0].at_us, 3000000);
    /* A new fault, built from several overrides. */
    ck_assert_int_eq(config_set(&c, "fault.9.at=1s", err), 0);
    ck_assert_int_eq(config_set(&c, "fault.9.action=pause", err), 0);
    ck_assert_int_eq(config_set(&c, "fault.9.target=2", err), 0);
    ck_assert_int_eq(c.nfaults, 2);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(c.faults[0].action, FAULT_PAUSE);
    ck_assert_int_eq(c.faults[1].action, FAULT_KILL);
    /* After sorting, fault.2 is still fault.2. */
    ck_assert_int_eq(config_set(&c, "fault.2.target=3", err), 0);
    ck_assert_int_eq(c.faults[1].target_node, 3);
    ck_assert_int_eq(c.faults[0].target_node, 2);
}
END_TEST

START_TEST(test_set_errors)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "cluster.nodes=0", err), -EINVAL);
    ck_assert_str_eq(err, "--set cluster.nodes=0: [cluster] nodes: expected an integer from 1 "
                          "to 128, got '0'");
    ck_assert_int_eq(c.nodes, 5);
    ck_assert_int_eq(config_set(&c, "cluster.nodes", err), -EINVAL);
    ck_assert_str_eq(err, "--set cluster.nodes: expected section.key=value, like cluster.nodes=5");
    ck_assert_int_eq(config_set(&c, "nodes=5", err), -EINVAL);
    ck_assert_str_eq(err, "--set nodes=5: expected section.key=value, like cluster.nodes=5");
    ck_assert_int_eq(config_set(&c, "nodes=5.0", err), -EINVAL);
    ck_assert_str_eq(err, "--set nodes=5.0: expected section.key=value, like cluster.nodes=5");
    ck_assert_int_eq(config_set(&c, "clutser.nodes=5", err), -EINVAL);
    ck_assert_str_eq(err, "--set clutser.nodes=5: unknown section [clutser] (expected " CONFIG_SECTIONS ")");
    ck_assert_int_eq(config_set(&c, "workload.foo=1", err), -EINVAL);
    ck_assert_str_eq(err, "--set workload.foo=1: [workload] unknown key 'foo' (expected "
                          "requests, cs_time, think_time, rate, clients, client_timeout, "
                          "keys, mix, value_size, pipeline, requesters)");
    ck_assert_int_eq(config_set(&c, "fault.x.at=1s", err), -EINVAL);
    ck_assert_str_eq(err, "--set fault.x.at=1s: unknown section [fault.x] (expected fault.N "
                          "with N a positive integer, like [fault.1])");
    ck_assert_int_eq(config_set(&c, "raft.fsync=sometimes\n", err), -EINVAL);
    ck_assert_str_eq(err, "--set raft.fsync=sometimes?: [raft] fsync: expected true or false (or "
                          "yes/no, on/off, 1/0), got 'sometimes'");
    ck_assert_int_eq(c.nfaults, 0);
}
END_TEST

START_TEST(test_set_too_many_faults)
{
    struct config c;
    char err[CONFIG_ERRLEN], a[64];
    config_defaults(&c);
    for (int i = 1; i <= CONFIG_MAX_FAULTS; i++) {
        snprintf(a, sizeof a, "fault.%d.at=1s", i);
        ck_assert_int_eq(config_set(&c, a, err), 0);
    }
    ck_assert_int_eq(config_set(&c, "fault.65.at=1s", err), -EINVAL);
    ck_assert_str_eq(err, "--set fault.65.at=1s: [fault.65] too many faults (at most 64)");
}
END_TEST

/* ---- config_validate ---- */

START_TEST(test_validate_coordinator)
{
    expect_validate_error("[cluster]\nnodes = 3\n\n[centralized]\ncoordinator = 4\n", 5,
                          "[centralized] coordinator: expected a node id from 1 to nodes (3), "
                          "got '4'");
}
END_TEST

START_TEST(test_validate_target_node)
{
    expect_validate_error("[cluster]\nnodes = 3\n[fault.1]\nat = 1s\naction = kill\ntarget = 7\n",
                          6, "[fault.1] target: expected a node id from 1 to nodes (3), got '7'");
}
END_TEST

START_TEST(test_validate_fault_after_end)
{
    expect_validate_error("[cluster]\nduration = 10s\n[fault.3]\nat = 12s\naction = kill\n"
                          "target = random\n",
                          4, "fault.3 at 12s is not before the end of the run (duration 10s)");
    expect_validate_error("[cluster]\nduration = 10s\n[fault.3]\nat = 10s\naction = kill\n"
                          "target = random\n",
                          4, "fault.3 at 10s is not before the end of the run (duration 10s)");
}
END_TEST

START_TEST(test_validate_target_fits_algorithm)
{
    expect_validate_error("[fault.1]\nat = 1s\naction = kill\ntarget = leader\n", 4,
                          "[fault.1] target 'leader' is only valid with algorithm raft "
                          "(algorithm is centralized)");
    expect_validate_error("[fault.1]\nat = 1s\naction = kill\ntarget = token_holder\n", 4,
                          "[fault.1] target 'token_holder' is only valid with algorithm "
                          "token_ring or two_level_ring (algorithm is centralized)");
    expect_validate_error("[fault.1]\nat = 1s\naction = kill\ntarget = 1,2/3\n", 4,
                          "[fault.1] target '1,2/3' (a network spec) is only valid with action "
                          "partition or net (action is kill)");
    expect_validate_error("[fault.1]\nat = 1s\naction = pause\ntarget = 1->3\n", 4,
                          "[fault.1] target '1->3' (a network spec) is only valid with action "
                          "partition or net (action is pause)");
}
END_TEST

START_TEST(test_validate_network_faults)
{
    /* Real runs take [network] settings and network faults now. */
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_msg(load_text(&c,
                            "[network]\ndelay = 1ms\njitter = 2ms\nloss = 0.25\n"
                            "[fault.1]\nat = 1s\naction = partition\ntarget = 1, 2 / 3\n"
                            "[fault.2]\nat = 2s\naction = heal\n",
                            err) == 0,
                  "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_str_eq(c.faults[0].target_text, "1,2/3");
    ck_assert_int_eq(c.faults[0].target, TARGET_GROUPS);
    ck_assert_msg(config_validate_for(&c, CONFIG_FOR_SIM, err) == 0, "%s", err);
}
END_TEST

/* ---- repetitions, undos and net faults ---- */

static void round_trip(struct config *a);

START_TEST(test_fault_repeat_keys)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_msg(load_text(&c,
                            "[cluster]\nduration = 10s\n"
                            "[fault.1]\nat = 1s\naction = partition\ntarget = 1 -> 3\n"
                            "every = 2s\ncount = 3\nfor = 500ms\n"
                            "[fault.2]\nat = 2s\naction = net\nloss = 0.1\ndelay = 5ms\n"
                            "jitter = 2ms\nfor = 1s\n"
                            "[fault.3]\nat = 3s\naction = pause\ntarget = random\nevery = 1s\n"
                            "for = 100ms\n"
                            "[fault.4]\nat = 4s\naction = net\ntarget = 1<->2, 3->*\n"
                            "delay = 0\n",
                            err) == 0,
                  "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    const struct fault_spec *f = &c.faults[0];
    ck_assert_int_eq(f->every_us, 2000000);
    ck_assert_int_eq(f->count, 3);
    ck_assert_int_eq(f->for_us, 500000);
    ck_assert_int_eq(f->target, TARGET_GROUPS);
    ck_assert_str_eq(f->target_text, "1->3");
    f = &c.faults[1];
    ck_assert_int_eq(f->action, FAULT_NET);
    ck_assert_int_eq(f->target, TARGET_LINKS);
    ck_assert_str_eq(f->target_text, "all"); /* the default */
    ck_assert(f->has_loss && f->has_delay && f->has_jitter);
    ck_assert(f->loss == 0.1);
    ck_assert_int_eq(f->delay_us, 5000);
    ck_assert_int_eq(f->jitter_us, 2000);
    f = &c.faults[3];
    ck_assert_int_eq(f->target, TARGET_LINKS);
    ck_assert_str_eq(f->target_text, "1<->2,3->*");
    ck_assert(!f->has_loss && f->has_delay && !f->has_jitter);
    ck_assert_int_eq(f->delay_us, 0);

    /* Written back only when set, in a fixed order, and read back the same. */
    char *text = config_to_ini(&c);
    ck_assert_ptr_nonnull(strstr(text, "[fault.1]\nat = 1s\naction = partition\ntarget = 1->3\n"
                                       "every = 2s\ncount = 3\nfor = 500ms\n\n"));
    ck_assert_ptr_nonnull(strstr(text, "[fault.2]\nat = 2s\naction = net\ntarget = all\n"
                                       "for = 1s\nloss = 0.1\ndelay = 5ms\njitter = 2ms\n"));
    ck_assert_ptr_nonnull(strstr(text, "[fault.3]\nat = 3s\naction = pause\ntarget = random\n"
                                       "every = 1s\nfor = 100ms\n"));
    ck_assert_ptr_nonnull(strstr(text, "[fault.4]\nat = 4s\naction = net\ntarget = 1<->2,3->*\n"
                                       "delay = 0ms\n"));
    free(text);
    round_trip(&c);
    /* And the round trip validates to the same. */
    text = config_to_ini(&c);
    struct config d;
    ck_assert_msg(load_text(&d, text, err) == 0, "%s", err);
    ck_assert_msg(config_validate(&d, err) == 0, "%s", err);
    assert_same_config(&c, &d);
    free(text);

    /* --set takes every new key, and a later --set overrides. */
    config_defaults(&c);
    static const char *const sets[] = {"fault.7.at=1s",     "fault.7.action=net",
                                       "fault.7.target=2->*", "fault.7.every=3s",
                                       "fault.7.count=4",   "fault.7.for=1s",
                                       "fault.7.loss=0.5",  "fault.7.delay=1ms",
                                       "fault.7.jitter=3ms", "fault.7.loss=0.25"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        ck_assert_msg(config_set(&c, sets[i], err) == 0, "%s: %s", sets[i], err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    f = &c.faults[0];
    ck_assert_int_eq(f->every_us, 3000000);
    ck_assert_int_eq(f->count, 4);
    ck_assert_int_eq(f->for_us, 1000000);
    ck_assert(f->loss == 0.25);
    ck_assert_int_eq(f->delay_us, 1000);
    ck_assert_int_eq(f->jitter_us, 3000);
    ck_assert_str_eq(f->target_text, "2->*");
    round_trip(&c);
    /* A cross-key error names the --set it came from. */
    ck_assert_int_eq(config_set(&c, "fault.7.for=3s", err), 0);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "--set fault.7.for=3s: [fault.7] for: expected less than every (3s): "
                          "each occurrence is undone before the next, got '3s'");
}
END_TEST

START_TEST(test_fault_repeat_bad_values)
{
    expect_load_error("[fault.1]\nat = 1s\naction = kill\ntarget = 1\nevery = 0\n", 5,
                      "[fault.1] every: expected a duration from 1us to 24h, got '0'");
    expect_load_error("[fault.1]\nat = 1s\naction = kill\ntarget = 1\nevery = 2d\n", 5,
                      "[fault.1] every: expected a duration with a unit (us, ms, s, min or h), "
                      "got '2d'");
    expect_load_error("[fault.1]\nat = 1s\naction = kill\ntarget = 1\ncount = 0\n", 5,
                      "[fault.1] count: expected an integer from 1 to 100000, got '0'");
    expect_load_error("[fault.1]\nat = 1s\naction = pause\ntarget = 1\nfor = -1s\n", 5,
                      "[fault.1] for: expected a duration from 1us to 24h, got '-1s'");
    expect_load_error("[fault.1]\nat = 1s\naction = net\nloss = 1.5\n", 4,
                      "[fault.1] loss: expected a number from 0.0 to 1.0, got '1.5'");
    expect_load_error("[fault.1]\nat = 1s\naction = net\ndelay = 61s\n", 4,
                      "[fault.1] delay: expected a duration from 0 to 1min, got '61s'");
    expect_load_error("[fault.1]\nat = 1s\naction = net\njitter = 5\n", 4,
                      "[fault.1] jitter: expected a duration with a unit, like 150ms or 2s, "
                      "got '5'");
    expect_load_error("[fault.1]\nat = 1s\naction = net\nloss = 0.1\nloss = 0.2\n", 5,
                      "[fault.1] loss: duplicate key (first set on line 4)");
    /* A spec that cannot be one, whatever the action and the nodes. */
    expect_load_error("[fault.1]\nat = 1s\naction = partition\ntarget = 1->200\n", 4,
                      "[fault.1] target: expected a partition like 1,2/3,4,5 or 1->3, or links "
                      "like all or 1<->3 (node 200 is not in 1..128 (in '1->200')), got "
                      "'1->200'");
    expect_load_error("[fault.1]\nat = 1s\naction = partition\ntarget = 1,2\n", 4,
                      "[fault.1] target: expected a partition like 1,2/3,4,5 or 1->3, or links "
                      "like all or 1<->3 ('1,2' has one side: a partition needs two or more "
                      "separated by '/' (like 1,2/3,4,5), or links like 1->3), got '1,2'");
}
END_TEST

START_TEST(test_fault_repeat_rules)
{
    expect_validate_error("[fault.1]\nat = 1s\naction = kill\ntarget = 1\ncount = 3\n", 5,
                          "[fault.1] count: expected only with every (count is how many times "
                          "the fault repeats, every apart)");
    expect_validate_error("[fault.1]\nat = 1s\naction = kill\ntarget = 1\nfor = 1s\n", 5,
                          "[fault.1] for: not taken by action kill (for undoes a fault: only "
                          "pause, partition and net take it)");
    expect_validate_error("[fault.1]\nat = 1s\naction = heal\nfor = 1s\n", 4,
                          "[fault.1] for: not taken by action heal (for undoes a fault: only "
                          "pause, partition and net take it)");
    expect_validate_error("[fault.1]\nat = 1s\naction = pause\ntarget = 2\nloss = 0.5\n", 5,
                          "[fault.1] loss: not taken by action pause (loss, delay and jitter are "
                          "for action net)");
    expect_validate_error("[fault.1]\nat = 1s\naction = partition\ntarget = 1/2\ndelay = 1ms\n",
                          5,
                          "[fault.1] delay: not taken by action partition (loss, delay and "
                          "jitter are for action net)");
    expect_validate_error("[fault.1]\nat = 1s\naction = pause\ntarget = 2\nevery = 1s\n"
                          "for = 1s\n",
                          6,
                          "[fault.1] for: expected less than every (1s): each occurrence is "
                          "undone before the next, got '1s'");
    expect_validate_error("[fault.1]\nat = 1s\naction = net\ntarget = all\n", 1,
                          "[fault.1] action net: expected at least one of loss, delay, jitter "
                          "(like loss = 0.1)");
    expect_validate_error("[fault.1]\nat = 1s\naction = net\ntarget = 1->9\nloss = 1\n", 4,
                          "[fault.1] target: expected links of nodes 1 to 5 for action net, like "
                          "all, 1->3, 1<->3 or 3->*, got '1->9' (node 9 is not in 1..5 (in "
                          "'1->9'))");
    expect_validate_error("[fault.1]\nat = 1s\naction = net\ntarget = 1/2\nloss = 1\n", 4,
                          "[fault.1] target: expected links of nodes 1 to 5 for action net, like "
                          "all, 1->3, 1<->3 or 3->*, got '1/2' (expected 'all' or links like "
                          "'1->3,2<->4' or '3->*', got '1/2')");
    expect_validate_error("[fault.1]\nat = 1s\naction = partition\ntarget = all\n", 4,
                          "[fault.1] target: expected a partition of nodes 1 to 5, like "
                          "'1,2/3,4,5', '1->3', '1<->3' or '3->*', got 'all' (expected a node "
                          "id at 'all' in 'all')");
    /* Too many occurrences in all: 30 s every 100 us. */
    expect_validate_error("[fault.1]\nat = 0\naction = pause\ntarget = 1\nevery = 100us\n", 5,
                          "[fault.1] every: the schedule has more than 100000 occurrences "
                          "(fault.1 alone has more than 100000): expected a longer every or a "
                          "count");
    /* With a count it fits. */
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, "[fault.1]\nat = 0\naction = pause\ntarget = 1\n"
                                   "every = 100us\ncount = 1000\nfor = 50us\n",
                               err),
                     0);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(config_fault_timeline(&c, NULL, 0), 2000);
    /* Many faults that fit alone, not together: the one with the most is named. */
    ck_assert_int_eq(load_text(&c, "[fault.1]\nat = 0\naction = kill\ntarget = 1\n"
                                   "every = 600us\n[fault.2]\nat = 0\naction = pause\ntarget = 2\n"
                                   "every = 1ms\nfor = 500us\n",
                               err),
                     0);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, at_tmp(10, "[fault.2] every: the schedule has more than 100000 "
                                    "occurrences (fault.2 alone has 60000): expected a longer "
                                    "every or a count"));
}
END_TEST

START_TEST(test_two_level_members)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "cluster.algorithm=two_level_ring", err), 0);
    ck_assert_int_eq(config_set(&c, "cluster.nodes=6", err), 0);
    ck_assert_int_eq(config_set(&c, "two_level_ring.members=1,3,5/2,4/6", err), 0);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(c.groups, 3); /* explicit membership decides */
    uint8_t g[CONFIG_MAX_NODES + 1];
    ck_assert_int_eq(config_parse_members(c.members, 6, g, true), 3);
    ck_assert_int_eq(g[1], 1);
    ck_assert_int_eq(g[4], 2);
    ck_assert_int_eq(g[6], 3);
    /* Every node exactly once. */
    ck_assert_int_eq(config_set(&c, "two_level_ring.members=1,2/3", err), 0);
    ck_assert_int_lt(config_validate(&c, err), 0);
    ck_assert_str_eq(err, "--set two_level_ring.members=1,2/3: [two_level_ring] members: "
                          "expected every node from 1 to 6 in exactly one group, like "
                          "1,2,3/4,5,6, got '1,2/3'");
    ck_assert_int_lt(config_set(&c, "two_level_ring.members=1,,2", err), 0);
    ck_assert_int_eq(config_parse_members("1,2/2,3", 3, g, false), -EINVAL);
    /* Round trip. */
    ck_assert_int_eq(config_set(&c, "two_level_ring.members=1,3,5/2,4,6", err), 0);
    char *text = config_to_ini(&c);
    ck_assert_ptr_nonnull(strstr(text, "members = 1,3,5/2,4,6\n"));
    free(text);
}
END_TEST

START_TEST(test_parse_groups)
{
    uint8_t g[CONFIG_MAX_NODES + 1];
    ck_assert_int_eq(config_parse_groups("1,2/3,4,5", 5, g), 0);
    ck_assert_int_eq(g[1], 1);
    ck_assert_int_eq(g[2], 1);
    ck_assert_int_eq(g[3], 2);
    ck_assert_int_eq(g[5], 2);
    ck_assert_int_eq(config_parse_groups("1 / 2", 3, g), 0);
    ck_assert_int_eq(g[3], 3); /* not listed: alone */
    ck_assert_int_eq(config_parse_groups("1,2,3", 3, g), -EINVAL); /* one group */
    ck_assert_int_eq(config_parse_groups("1,2/2,3", 3, g), -EINVAL); /* twice */
    ck_assert_int_eq(config_parse_groups("1/4", 3, g), -EINVAL);     /* out of range */
    ck_assert_int_eq(config_parse_groups("1/x", 3, g), -EINVAL);
    ck_assert_int_eq(config_parse_groups("", 3, g), -EINVAL);
}
END_TEST

START_TEST(test_validate_for_sim)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    c.jitter_us = 2000;
    c.loss = 0.1;
    ck_assert_int_eq(config_validate(&c, err), 0);
    ck_assert_int_eq(config_validate_for(&c, CONFIG_FOR_SIM, err), 0);
    ck_assert_int_eq(config_set(&c, "fault.1.at=1s", err), 0);
    ck_assert_int_eq(config_set(&c, "fault.1.action=partition", err), 0);
    ck_assert_int_eq(config_set(&c, "fault.1.target=1,2/9", err), 0);
    ck_assert_int_lt(config_validate_for(&c, CONFIG_FOR_SIM, err), 0);
    ck_assert_str_eq(err, "--set fault.1.target=1,2/9: [fault.1] target: expected a partition of "
                          "nodes 1 to 5, like '1,2/3,4,5', '1->3', '1<->3' or '3->*', got "
                          "'1,2/9' (node 9 is not in 1..5 (in '1,2/9'))");
    ck_assert_int_eq(config_set(&c, "fault.1.target=1,2/3,4,5", err), 0);
    ck_assert_int_eq(config_validate_for(&c, CONFIG_FOR_SIM, err), 0);
}
END_TEST

START_TEST(test_validate_raft_timeouts)
{
    expect_validate_error("[raft]\nelection_timeout_min = 400ms\n", 2,
                          "[raft] election_timeout_min: expected less than election_timeout_max "
                          "(300ms): timeouts are drawn from the range between them, got '400ms'");
    expect_validate_error("[raft]\nelection_timeout_max = 100ms\n", 2,
                          "[raft] election_timeout_max: expected more than election_timeout_min "
                          "(150ms): timeouts are drawn from the range between them, got '100ms'");
    expect_validate_error("[raft]\nheartbeat = 150ms\n", 2,
                          "[raft] heartbeat: expected less than election_timeout_min (150ms), got "
                          "'150ms'");
}
END_TEST


/* ---- Raft's keys and its client processes ---- */

START_TEST(test_raft_keys_parse)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    const char *text = "[raft]\nprevote = yes\ncheck_quorum = on\nsnapshot_entries = 500\n"
                       "max_inflight = 8\nelection_timeout_min = 100ms\n"
                       "election_timeout_max = 200ms\nheartbeat = 20ms\nfsync = no\n"
                       "[workload]\nclient_timeout = 2s\n";
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    ck_assert(c.prevote);
    ck_assert(c.check_quorum);
    ck_assert_int_eq(c.snapshot_entries, 500);
    ck_assert_int_eq(c.max_inflight, 8);
    ck_assert_int_eq(c.client_timeout_us, 2000000);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);

    /* The defaults: off, off, the core's, the core's. */
    config_defaults(&c);
    ck_assert(!c.prevote);
    ck_assert(!c.check_quorum);
    ck_assert_int_eq(c.snapshot_entries, 0);
    ck_assert_int_eq(c.max_inflight, 0);
    ck_assert_int_eq(c.clients, 0);
    ck_assert_int_eq(c.client_timeout_us, 0);

    expect_load_error("[raft]\nprevote = perhaps\n", 2,
                      "[raft] prevote: expected true or false (or yes/no, on/off, 1/0), got "
                      "'perhaps'");
    expect_load_error("[raft]\nmax_inflight = -1\n", 2,
                      "[raft] max_inflight: expected an integer from 0 to 1024, got '-1'");
    /* Absurd timeouts are refused with their range. */
    expect_load_error("[raft]\nelection_timeout_min = 1ms\n", 2,
                      "[raft] election_timeout_min: expected a duration from 5ms to 1min, got "
                      "'1ms'");
    expect_load_error("[raft]\nheartbeat = 500us\n", 2,
                      "[raft] heartbeat: expected a duration from 1ms to 1min, got '500us'");
    expect_load_error("[raft]\nelection_timeout_max = 2h\n", 2,
                      "[raft] election_timeout_max: expected a duration from 5ms to 1min, got "
                      "'2h'");
}
END_TEST

START_TEST(test_raft_timeouts_need_a_range)
{
    /* min = max: no range to draw from. Blamed on the key that was given. */
    expect_validate_error("[raft]\nelection_timeout_max = 150ms\n", 2,
                          "[raft] election_timeout_max: expected more than election_timeout_min "
                          "(150ms): timeouts are drawn from the range between them, got "
                          "'150ms'");
    expect_validate_error("[raft]\nelection_timeout_min = 300ms\n", 2,
                          "[raft] election_timeout_min: expected less than election_timeout_max "
                          "(300ms): timeouts are drawn from the range between them, got "
                          "'300ms'");
    /* Both given: the first named. */
    expect_validate_error("[raft]\nelection_timeout_min = 200ms\nelection_timeout_max = 200ms\n",
                          2,
                          "[raft] election_timeout_min: expected less than election_timeout_max "
                          "(200ms): timeouts are drawn from the range between them, got "
                          "'200ms'");
    /* The heartbeat must come well within the smallest timeout. */
    expect_validate_error("[raft]\nheartbeat = 200ms\n", 2,
                          "[raft] heartbeat: expected less than election_timeout_min (150ms), got "
                          "'200ms'");
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "raft.election_timeout_min=100ms", err), 0);
    ck_assert_int_eq(config_set(&c, "raft.heartbeat=100ms", err), 0);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "--set raft.heartbeat=100ms: [raft] heartbeat: expected less than "
                          "election_timeout_min (100ms), got '100ms'");
}
END_TEST

START_TEST(test_clients_only_for_raft)
{
    /* A mutex algorithm's nodes make their own requests. */
    expect_validate_error("[cluster]\nalgorithm = ricart_agrawala\n[workload]\nclients = 2\n", 4,
                          "[workload] clients: only algorithm raft has client processes "
                          "(algorithm is ricart_agrawala, whose nodes make their own requests): "
                          "expected 0, got '2'");
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_msg(load_text(&c, "[workload]\nclients = 0\n", err) == 0, "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(c.clients, 0); /* a mutex run gets none by default */
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "workload.clients=65", err), -EINVAL);
    ck_assert_str_eq(err, "--set workload.clients=65: [workload] clients: expected an integer "
                          "from 0 to 64, got '65'");
}
END_TEST

START_TEST(test_algo_env_from_config)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    const char *text = "[cluster]\nnodes = 7\nseed = 99\n"
                       "[raft]\nprevote = yes\ncheck_quorum = yes\nsnapshot_entries = 64\n"
                       "max_inflight = 4\nelection_timeout_min = 100ms\n"
                       "election_timeout_max = 250ms\nheartbeat = 25ms\n"
                       "[workload]\nclient_timeout = 750ms\n"
                       "[centralized]\ncoordinator = 3\n";
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    struct algo_env env;
    memset(&env, 0x5a, sizeof env); /* config_algo_env clears what it does not set */
    config_algo_env(&c, &env);
    ck_assert_int_eq(env.n, 7);
    ck_assert_uint_eq(env.seed, 99);
    ck_assert_int_eq(env.coordinator, 3);
    ck_assert_int_eq(env.raft_election_min_us, 100000);
    ck_assert_int_eq(env.raft_election_max_us, 250000);
    ck_assert_int_eq(env.raft_heartbeat_us, 25000);
    ck_assert(env.raft_prevote);
    ck_assert(env.raft_check_quorum);
    ck_assert_int_eq(env.raft_snapshot_entries, 64);
    ck_assert_int_eq(env.raft_max_inflight, 4);
    ck_assert_int_eq(env.client_timeout_us, 750000);
    ck_assert_int_eq(env.clients, 0);
    ck_assert_int_eq(env.max_inline, 0); /* the driver's */
    ck_assert_ptr_null(env.stored);
    ck_assert_ptr_null(env.mem);
}
END_TEST

/* A partition by role: the holder (and K more, the lowest ids) on one side
 * when it fires. Only for a partition, with room for the other side. */
START_TEST(test_partition_by_role)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    const char *text = "[fault.1]\nat = 1s\naction = partition\ntarget = coordinator+1\nfor = 2s\n"
                       "[fault.2]\nat = 5s\naction = partition\ntarget = coordinator\n";
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(c.faults[0].target, TARGET_COORDINATOR);
    ck_assert_int_eq(c.faults[0].with, 1);
    ck_assert_str_eq(c.faults[0].target_text, "coordinator+1");
    ck_assert_int_eq(c.faults[1].target, TARGET_COORDINATOR);
    ck_assert_int_eq(c.faults[1].with, 0);
    round_trip(&c);

    expect_validate_error("[fault.1]\nat = 1s\naction = kill\ntarget = coordinator+1\n", 4,
                          "[fault.1] target 'coordinator+1': a role with other nodes is a side of "
                          "a partition, only valid with action partition (action is kill)");
    expect_validate_error("[fault.1]\nat = 1s\naction = partition\ntarget = coordinator+4\n", 4,
                          "[fault.1] target 'coordinator+4': expected at most 3 other nodes with "
                          "the coordinator (nodes 5, and the other side needs one), got 4");
    expect_validate_error("[fault.1]\nat = 1s\naction = partition\ntarget = leader+1\n", 4,
                          "[fault.1] target 'leader+1' is only valid with algorithm raft "
                          "(algorithm is centralized)");
    expect_load_error("[fault.1]\nat = 1s\naction = partition\ntarget = leader+x\n", 4,
                      "[fault.1] target: expected " TARGETS_TEXT ", got 'leader+x'");
    expect_load_error("[fault.1]\nat = 1s\naction = partition\ntarget = random+1\n", 4,
                      "[fault.1] target: expected " TARGETS_TEXT ", got 'random+1'");
}
END_TEST

/* algorithm = raft: one client unless told otherwise; the requests are the
 * clients' (no requester check); no client and requests to make is an
 * error; leader targets, partitions by role included, are raft's. */
START_TEST(test_raft_algorithm)
{
    ck_assert_ptr_nonnull(algo_find("raft"));
    struct config c;
    char err[CONFIG_ERRLEN];
    const char *text = "[cluster]\nalgorithm = raft\nnodes = 5\n"
                       "[workload]\nrequests = 10\nrequesters = 3\n"
                       "[fault.1]\nat = 1s\naction = kill\ntarget = leader\n"
                       "[fault.2]\nat = 2s\naction = partition\ntarget = leader+1\nfor = 1s\n";
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    ck_assert_int_eq(c.clients, 0);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(c.clients, 1);
    ck_assert_int_eq(c.faults[1].target, TARGET_LEADER);
    ck_assert_int_eq(c.faults[1].with, 1);
    round_trip(&c);
    struct algo_env env;
    config_algo_env(&c, &env);
    ck_assert_int_eq(env.clients, 1);
    ck_assert_int_eq(env.raft_election_min_us, 150000);
    ck_assert_int_eq(env.raft_election_max_us, 300000);
    ck_assert_int_eq(env.raft_heartbeat_us, 50000);

    /* Given: as given. */
    ck_assert_msg(load_text(&c, "[cluster]\nalgorithm = raft\n[workload]\nclients = 16\n",
                            err) == 0,
                  "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(c.clients, 16);

    /* No client: fine for a run without commands (elections only)... */
    ck_assert_msg(load_text(&c, "[cluster]\nalgorithm = raft\n[workload]\nclients = 0\n"
                                "requests = 0\n",
                            err) == 0,
                  "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(c.clients, 0);
    /* ...not with commands to make. */
    expect_validate_error("[cluster]\nalgorithm = raft\n[workload]\nclients = 0\n", 4,
                          "[workload] clients: 100 requests and no client to make them "
                          "(clients = 0): expected clients of at least 1, or requests = 0 for "
                          "a run without commands");
    expect_validate_error("[cluster]\nalgorithm = raft\n[workload]\nclients = 0\n"
                          "requests = 7\n",
                          5,
                          "[workload] requests: 7 requests and no client to make them "
                          "(clients = 0): expected clients of at least 1, or requests = 0 for "
                          "a run without commands");
    /* A role the algorithm has not. */
    expect_validate_error("[cluster]\nalgorithm = raft\n[fault.1]\nat = 1s\naction = kill\n"
                          "target = coordinator\n",
                          6,
                          "[fault.1] target 'coordinator' is only valid with algorithm "
                          "centralized (algorithm is raft)");
    /* With 3 nodes, the leader takes at most one more: the other side needs one. */
    expect_validate_error("[cluster]\nalgorithm = raft\nnodes = 3\n[fault.1]\nat = 1s\n"
                          "action = partition\ntarget = leader+2\n",
                          7,
                          "[fault.1] target 'leader+2': expected at most 1 other nodes with the "
                          "leader (nodes 3, and the other side needs one), got 2");
}
END_TEST

START_TEST(test_validate_names_set_origin)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 3\n", err), 0);
    ck_assert_int_eq(config_set(&c, "centralized.coordinator=9", err), 0);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "--set centralized.coordinator=9: [centralized] coordinator: expected "
                          "a node id from 1 to nodes (3), got '9'");
}
END_TEST

START_TEST(test_validate_incomplete_set_fault)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "fault.4.at=2s", err), 0);
    ck_assert_int_eq(config_set(&c, "fault.4.target=1", err), 0);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "--set fault.4.at=2s: [fault.4] missing key 'action' (kill, pause, "
                          "resume, terminate, restart, partition, heal or net)");
}
END_TEST

START_TEST(test_validate_collects_all)
{
    struct config c;
    char err[CONFIG_ERRLEN], want[CONFIG_ERRLEN];
    const char *text = "[cluster]\nnodes = 2\nduration = 5s\n"
                       "[centralized]\ncoordinator = 3\n"
                       "[fault.1]\nat = 9s\naction = kill\ntarget = 4\n";
    ck_assert_int_eq(load_text(&c, text, err), 0);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    snprintf(want, sizeof want,
             "%s:5: [centralized] coordinator: expected a node id from 1 to nodes (2), got '3'\n"
             "%s:7: fault.1 at 9s is not before the end of the run (duration 5s)\n"
             "%s:9: [fault.1] target: expected a node id from 1 to nodes (2), got '4'",
             tmp_path, tmp_path, tmp_path);
    ck_assert_str_eq(err, want);
}
END_TEST

/* ---- origins live in the struct ---- */

/* A copy (struct assignment) carries every origin and fault number, so
 * validating or overriding the copy behaves exactly as on the original,
 * wherever the copy lives and whatever becomes of the original. */
START_TEST(test_copy_keeps_origins)
{
    struct config a, b;
    char err[CONFIG_ERRLEN], want[CONFIG_ERRLEN];
    const char *text = "[cluster]\nnodes = 3\nduration = 10s\n"
                       "[centralized]\ncoordinator = 4\n"
                       "[fault.2]\nat = 5s\naction = kill\ntarget = 7\n"
                       "[fault.1]\nat = 6s\naction = pause\ntarget = 2\n";
    ck_assert_msg(load_text(&a, text, err) == 0, "%s", err);
    ck_assert_int_eq(a.faults[0].num, 2);
    ck_assert_int_eq(a.faults[1].num, 1);
    ck_assert_int_eq(a.faults[0].origin[2], 9); /* target */
    b = a;
    config_defaults(&a); /* nothing may depend on the original any more */

    /* Cross-key errors name FILE:LINE, for plain keys and fault keys. */
    ck_assert_int_eq(config_validate(&b, err), -EINVAL);
    snprintf(want, sizeof want,
             "%s:5: [centralized] coordinator: expected a node id from 1 to nodes (3), got '4'\n"
             "%s:9: [fault.2] target: expected a node id from 1 to nodes (3), got '7'",
             tmp_path, tmp_path);
    ck_assert_str_eq(err, want);

    /* --set on the copy finds fault 2 (first in the file) and overrides it. */
    ck_assert_int_eq(config_set(&b, "centralized.coordinator=2", err), 0);
    ck_assert_int_eq(config_set(&b, "fault.2.target=3", err), 0);
    ck_assert_int_eq(config_set(&b, "fault.2.at=7s", err), 0);
    ck_assert_int_eq(b.nfaults, 2);
    ck_assert_int_eq(b.faults[0].at_us, 7000000);
    ck_assert_int_eq(b.faults[0].target_node, 3);
    ck_assert_msg(config_validate(&b, err) == 0, "%s", err);
    ck_assert_int_eq(b.faults[0].num, 1); /* 6s */
    ck_assert_int_eq(b.faults[1].num, 2); /* 7s */

    /* Sorted, then copied again: fault.2 is still fault 2, now second. */
    struct config *c = malloc(sizeof *c);
    ck_assert_ptr_nonnull(c);
    *c = b;
    ck_assert_int_eq(config_set(c, "fault.2.at=9s", err), 0);
    ck_assert_int_eq(c->nfaults, 2);
    ck_assert_int_eq(c->faults[1].at_us, 9000000);
    ck_assert_int_eq(c->faults[0].at_us, 6000000);
    /* And a --set value that breaks a cross-key rule is named as such. */
    ck_assert_int_eq(config_set(c, "fault.2.at=12s", err), 0);
    struct config d = *c;
    free(c);
    ck_assert_int_eq(config_validate(&d, err), -EINVAL);
    ck_assert_str_eq(err, "--set fault.2.at=12s: fault.2 at 12s is not before the end of the run "
                          "(duration 10s)");
}
END_TEST

/* A fault built only by --set, copied before validation: its "missing key"
 * error still names the --set it came from. */
START_TEST(test_copy_keeps_set_fault)
{
    struct config a, b;
    char err[CONFIG_ERRLEN];
    config_defaults(&a);
    ck_assert_int_eq(config_set(&a, "fault.4.at=2s", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.4.target=1", err), 0);
    b = a;
    memset(&a, 0, sizeof a);
    ck_assert_int_eq(config_validate(&b, err), -EINVAL);
    ck_assert_str_eq(err, "--set fault.4.at=2s: [fault.4] missing key 'action' (kill, pause, "
                          "resume, terminate, restart, partition, heal or net)");
    ck_assert_int_eq(config_set(&b, "fault.4.action=kill", err), 0);
    ck_assert_int_eq(b.nfaults, 1);
    ck_assert_msg(config_validate(&b, err) == 0, "%s", err);
}
END_TEST

/* Defaults and an unset fault key read as "not given". */
START_TEST(test_origin_markers)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    for (int k = 0; k < CONFIG_NKEYS; k++)
        ck_assert_int_eq(c.origin[k], CONFIG_ORIGIN_DEFAULT);
    ck_assert_int_eq(config_set(&c, "fault.3.action=heal", err), 0);
    ck_assert_int_eq(c.faults[0].num, 3);
    ck_assert_int_eq(c.faults[0].line, 0);
    ck_assert_int_eq(c.faults[0].at_us, -1);
    ck_assert_int_eq(c.faults[0].target, TARGET_NONE);
    ck_assert_int_eq(c.faults[0].origin[0], CONFIG_ORIGIN_DEFAULT);
    ck_assert_int_eq(c.faults[0].origin[1], CONFIG_ORIGIN_SET);
    ck_assert_int_eq(config_set(&c, "cluster.nodes=4", err), 0);
    int set = 0;
    for (int k = 0; k < CONFIG_NKEYS; k++)
        set += c.origin[k] == CONFIG_ORIGIN_SET;
    ck_assert_int_eq(set, 1);
}
END_TEST


/* ---- seeds, ranges, minimums ---- */

START_TEST(test_seed_range)
{
    /* JSON carries a seed as a signed 64-bit integer: INT64_MAX is the most. */
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_msg(load_text(&c, "[cluster]\nseed = 9223372036854775807\n", err) == 0, "%s", err);
    ck_assert_uint_eq(c.seed, (uint64_t)INT64_MAX);
    ck_assert_msg(load_text(&c, "[cluster]\nseed = 0\n", err) == 0, "%s", err);
    ck_assert_uint_eq(c.seed, 0);
    expect_load_error("[cluster]\nseed = 9223372036854775808\n", 2,
                      "[cluster] seed: expected an integer from 0 to 9223372036854775807, "
                      "got '9223372036854775808'");
    expect_load_error("[cluster]\nseed = 18446744073709551615\n", 2,
                      "[cluster] seed: expected an integer from 0 to 9223372036854775807, "
                      "got '18446744073709551615'");
    expect_load_error("[cluster]\nseed = -0\n", 2,
                      "[cluster] seed: expected an integer from 0 to 9223372036854775807, "
                      "got '-0'");
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "cluster.seed=9223372036854775808", err), -EINVAL);
    ck_assert_str_eq(err, "--set cluster.seed=9223372036854775808: [cluster] seed: expected an "
                          "integer from 0 to 9223372036854775807, got '9223372036854775808'");
    ck_assert_uint_eq(c.seed, 1);
    /* A struct filled in by hand gets the same answer from validation. */
    c.seed = (uint64_t)INT64_MAX + 1;
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "(default): [cluster] seed: expected an integer from 0 to "
                          "9223372036854775807, got '9223372036854775808'");
}
END_TEST

START_TEST(test_int_max_range_message)
{
    expect_load_error("[workload]\nrequests = 9999999999999\n", 2,
                      "[workload] requests: expected an integer from 0 to 1000000000, "
                      "got '9999999999999'");
    expect_load_error("[workload]\nrequests = 2147483648\n", 2,
                      "[workload] requests: expected an integer from 0 to 1000000000, "
                      "got '2147483648'");
}
END_TEST

START_TEST(test_failure_timeout_minimum)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_msg(load_text(&c, "[cluster]\nfailure_timeout = 5ms\n", err) == 0, "%s", err);
    ck_assert_int_eq(c.failure_timeout_us, 5000);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    expect_load_error("[cluster]\nfailure_timeout = 4ms\n", 2,
                      "[cluster] failure_timeout: expected a duration from 5ms to 1h, "
                      "got '4ms'");
    expect_load_error("[cluster]\nfailure_timeout = 4999us\n", 2,
                      "[cluster] failure_timeout: expected a duration from 5ms to 1h, "
                      "got '4999us'");
    expect_load_error("[cluster]\nfailure_timeout = 0\n", 2,
                      "[cluster] failure_timeout: expected a duration from 5ms to 1h, got '0'");
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "cluster.failure_timeout=1ms", err), -EINVAL);
    ck_assert_str_eq(err, "--set cluster.failure_timeout=1ms: [cluster] failure_timeout: "
                          "expected a duration from 5ms to 1h, got '1ms'");
    ck_assert_int_eq(c.failure_timeout_us, 200000);
    /* Other timeouts start at 1us. */
    expect_load_error("[centralized]\nelection_timeout = 0\n", 2,
                      "[centralized] election_timeout: expected a duration from 1us to 1h, "
                      "got '0'");
    /* By hand. */
    config_defaults(&c);
    c.failure_timeout_us = 4000;
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "(default): [cluster] failure_timeout: expected a duration from 5ms "
                          "to 1h, got '4ms'");
}
END_TEST

/* ---- two_level_ring groups ---- */

START_TEST(test_groups_default_fits_nodes)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    if (!algo_find("two_level_ring"))
        return;
    /* Not given: as many groups as nodes, silently. */
    ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 1\nalgorithm = two_level_ring\n", err), 0);
    ck_assert_int_eq(c.groups, 2);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(c.groups, 1);
    /* Enough nodes: the default stays. */
    ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 3\nalgorithm = two_level_ring\n", err), 0);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(c.groups, 2);
    /* Given: the user's number, the same error as before. */
    expect_validate_error("[cluster]\nnodes = 1\nalgorithm = two_level_ring\n"
                          "[two_level_ring]\ngroups = 2\n",
                          5, "[two_level_ring] groups: expected at most nodes (1) groups, got '2'");
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "cluster.algorithm=two_level_ring", err), 0);
    ck_assert_int_eq(config_set(&c, "cluster.nodes=2", err), 0);
    ck_assert_int_eq(config_set(&c, "two_level_ring.groups=3", err), 0);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "--set two_level_ring.groups=3: [two_level_ring] groups: expected at "
                          "most nodes (2) groups, got '3'");
}
END_TEST

/* ---- somebody must request ---- */

START_TEST(test_validate_nobody_requests)
{
    /* Centralized on one node: the only node is the coordinator. */
    expect_validate_error("[cluster]\nnodes = 1\n", 2,
                          "[cluster] nodes: no node would request the critical section (node 1 "
                          "is the coordinator and coordinator_competes is false)");
    /* Only the coordinator listed: requesters is what to change. */
    expect_validate_error("[cluster]\nnodes = 5\n[workload]\nrequesters = 1\n"
                          "[centralized]\ncoordinator_competes = false\n",
                          4,
                          "[workload] requesters: no node would request the critical section "
                          "(node 1 is the coordinator and coordinator_competes is false)");
    expect_validate_error("[centralized]\ncoordinator = 3\n[workload]\nrequesters = 3\n", 4,
                          "[workload] requesters: no node would request the critical section "
                          "(node 3 is the coordinator and coordinator_competes is false)");
    /* Only the algorithm given (nodes from --set): the one the user set. */
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(load_text(&c, "[cluster]\nalgorithm = centralized\n", err), 0);
    ck_assert_int_eq(config_set(&c, "cluster.nodes=1", err), 0);
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "--set cluster.nodes=1: [cluster] nodes: no node would request the "
                          "critical section (node 1 is the coordinator and coordinator_competes "
                          "is false)");
    ck_assert_int_eq(load_text(&c, "[workload]\nrequests = 5\n[cluster]\nalgorithm = centralized\n",
                               err),
                     0);
    c.nodes = 1; /* by hand: the algorithm is the key the user gave */
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, at_tmp(4, "[cluster] algorithm: no node would request the critical "
                                    "section (node 1 is the coordinator and "
                                    "coordinator_competes is false)"));

    /* Fine: the coordinator competes, someone else requests, or nothing is
     * to be requested at all (an idle run). */
    ck_assert_int_eq(
        load_text(&c, "[cluster]\nnodes = 1\n[centralized]\ncoordinator_competes = true\n", err),
        0);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(load_text(&c, "[workload]\nrequesters = 1,2\n", err), 0);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 1\n[workload]\nrequests = 0\n", err), 0);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    if (algo_find("ricart_agrawala")) {
        ck_assert_int_eq(
            load_text(&c, "[cluster]\nnodes = 1\nalgorithm = ricart_agrawala\n", err), 0);
        ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    }
    if (algo_find("token_ring")) {
        ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 1\nalgorithm = token_ring\n", err), 0);
        ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    }
    /* The same check for the simulator. */
    ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 1\n", err), 0);
    ck_assert_int_eq(config_validate_for(&c, CONFIG_FOR_SIM, err), -EINVAL);
    ck_assert_str_eq(err, at_tmp(2, "[cluster] nodes: no node would request the critical section "
                                    "(node 1 is the coordinator and coordinator_competes is "
                                    "false)"));
}
END_TEST

/* ---- config_load_with_sets ---- */

START_TEST(test_load_no_settings)
{
    /* A file that sets nothing (empty, cut short before its first key, or
     * comments and section names only) is refused by run and sim: nothing
     * says what to run. With --set it is the base the options go on. */
    static const char *const empties[] = {"", "\n\n", "; an experiment\n# to come\n",
                                          "[cluster]\n[workload]\n"};
    struct config c;
    char err[CONFIG_ERRLEN];
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        write_tmp(empties[i]);
        ck_assert_int_eq(config_load_with_sets(&c, tmp_path, NULL, 0, NULL, CONFIG_FOR_RUN, err),
                         -EINVAL);
        ck_assert_msg(strncmp(err, tmp_path, strlen(tmp_path)) == 0 &&
                          strstr(err, ": no settings: ") && strstr(err, "[cluster] algorithm"),
                      "%s", err);
        ck_assert_int_eq(config_load_with_sets(&c, tmp_path, NULL, 0, "3", CONFIG_FOR_SIM, err),
                         -EINVAL);
        const char *const sets[] = {"cluster.algorithm=raft"};
        ck_assert_msg(config_load_with_sets(&c, tmp_path, sets, 1, NULL, CONFIG_FOR_RUN, err) == 0,
                      "%s", err);
        ck_assert_str_eq(c.algorithm, "raft");
        /* config_load itself (a run directory's config.ini) is not judged. */
        ck_assert_int_eq(config_load(&c, tmp_path, err), 0);
    }
    /* One key is a setting. */
    write_tmp("[cluster]\nnodes = 3\n");
    ck_assert_msg(config_load_with_sets(&c, tmp_path, NULL, 0, NULL, CONFIG_FOR_RUN, err) == 0,
                  "%s", err);
}
END_TEST

START_TEST(test_load_with_sets)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    write_tmp("[cluster]\nnodes = 3\nseed = 5\n[network]\njitter = 2ms\n");
    const char *const sets[] = {"cluster.nodes=4", "workload.requests=7", "cluster.seed=6"};

    /* The file, then each --set in order, then --seed over both. */
    ck_assert_msg(config_load_with_sets(&c, tmp_path, sets, 3, "99", CONFIG_FOR_SIM, err) == 0,
                  "%s", err);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(c.path, tmp_path);
    ck_assert_int_eq(c.nodes, 4);
    ck_assert_int_eq(c.requests, 7);
    ck_assert_uint_eq(c.seed, 99);
    ck_assert_int_eq(c.jitter_us, 2000);
    /* No --seed: the file's, or the last --set's. */
    ck_assert_int_eq(config_load_with_sets(&c, tmp_path, sets, 2, NULL, CONFIG_FOR_SIM, err), 0);
    ck_assert_uint_eq(c.seed, 5);
    ck_assert_int_eq(config_load_with_sets(&c, tmp_path, sets, 3, NULL, CONFIG_FOR_SIM, NULL), 0);
    ck_assert_uint_eq(c.seed, 6);
    ck_assert_int_eq(config_load_with_sets(&c, tmp_path, NULL, 0, " 7 ", CONFIG_FOR_SIM, err), 0);
    ck_assert_uint_eq(c.seed, 7);

    /* Real runs take [network] settings too. */
    ck_assert_msg(config_load_with_sets(&c, tmp_path, sets, 3, NULL, CONFIG_FOR_RUN, err) == 0,
                  "%s", err);
    ck_assert_int_eq(c.jitter_us, 2000);

    /* A bad --seed names itself; every bad --set is reported, in order. */
    ck_assert_int_eq(config_load_with_sets(&c, tmp_path, NULL, 0, "-1", CONFIG_FOR_SIM, err),
                     -EINVAL);
    ck_assert_str_eq(err, "--seed -1: [cluster] seed: expected an integer from 0 to "
                          "9223372036854775807, got '-1'");
    const char *const bad[] = {"cluster.nodes=0", "workload.requests=5", "raft.fsync=maybe"};
    ck_assert_int_eq(config_load_with_sets(&c, tmp_path, bad, 3, "9223372036854775808",
                                           CONFIG_FOR_SIM, err),
                     -EINVAL);
    ck_assert_str_eq(err, "--set cluster.nodes=0: [cluster] nodes: expected an integer from 1 to "
                          "128, got '0'\n"
                          "--set raft.fsync=maybe: [raft] fsync: expected true or false (or "
                          "yes/no, on/off, 1/0), got 'maybe'\n"
                          "--seed 9223372036854775808: [cluster] seed: expected an integer from "
                          "0 to 9223372036854775807, got '9223372036854775808'");

    /* A cross-key error from a --set names the --set. */
    const char *const coord[] = {"centralized.coordinator=9"};
    ck_assert_int_eq(config_load_with_sets(&c, tmp_path, coord, 1, NULL, CONFIG_FOR_SIM, err),
                     -EINVAL);
    ck_assert_str_eq(err, "--set centralized.coordinator=9: [centralized] coordinator: expected "
                          "a node id from 1 to nodes (3), got '9'");

    /* Errors in the file stop there: nothing is applied over them. */
    write_tmp("[cluster]\nnodes = x\n");
    ck_assert_int_eq(config_load_with_sets(&c, tmp_path, bad, 3, "-1", CONFIG_FOR_SIM, err),
                     -EINVAL);
    ck_assert_str_eq(err, at_tmp(2, "[cluster] nodes: expected an integer from 1 to 128, got 'x'"));
    ck_assert_int_eq(config_load_with_sets(&c, "/nonexistent/distlab.ini", sets, 3, "1",
                                           CONFIG_FOR_RUN, err),
                     -ENOENT);
    ck_assert_str_eq(err, "/nonexistent/distlab.ini: cannot read: No such file or directory");
}
END_TEST

/* ---- config_to_ini ---- */

static void round_trip(struct config *a)
{
    char err[CONFIG_ERRLEN];
    char *text = config_to_ini(a);
    ck_assert_ptr_nonnull(text);
    struct config b;
    int rc = load_text(&b, text, err);
    ck_assert_msg(rc == 0, "%s\n--- from ---\n%s", err, text);
    assert_same_config(a, &b);
    free(text);
}

START_TEST(test_round_trip_defaults)
{
    struct config a;
    config_defaults(&a);
    char *text = config_to_ini(&a);
    ck_assert_ptr_nonnull(text);
    /* Every key, defaults included, with units. */
    static const char *const lines[] = {
        "[cluster]\n",    "name = distlab\n", "nodes = 5\n",       "algorithm = centralized\n",
        "duration = 30s\n", "seed = 1\n",      "cs_time = 5ms\n",  "think_time = 20ms\n",
        "rate = 0\n",     "fsync = true\n",   "delay = 0ms\n",    "loss = 0\n",
        "restart = never\n", "restart_delay = 500ms\n", "coordinator = 1\n",
        "coordinator_competes = false\n", "election_timeout_max = 300ms\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(strstr(text, lines[i]) != NULL, "no '%s' in:\n%s", lines[i], text);
    free(text);
    round_trip(&a);
}
END_TEST

START_TEST(test_round_trip_full)
{
    struct config a;
    char err[CONFIG_ERRLEN];
    const char *text = "[cluster]\nname = rt.test_1\nnodes = 128\nduration = 1.5min\n"
                       "seed = 9223372036854775807\n"
                       "[workload]\nrequests = 1000000000\ncs_time = 250us\nthink_time = 1.001s\n"
                       "rate = 0.1\n"
                       "[raft]\nelection_timeout_min = 1s\nelection_timeout_max = 1.000001s\n"
                       "heartbeat = 999999us\nfsync = no\nprevote = yes\ncheck_quorum = on\n"
                       "snapshot_entries = 1000000000\nmax_inflight = 1024\n"
                       "[supervisor]\nrestart = on-crash\nrestart_delay = 0\n"
                       "[centralized]\ncoordinator = 128\ncoordinator_competes = on\n"
                       "[fault.10]\nat = 80s\naction = restart\ntarget = 128\n"
                       "[fault.3]\nat = 0\naction = kill\ntarget = coordinator\n"
                       "[fault.5]\nat = 80s\naction = terminate\ntarget = random\n";
    ck_assert_msg(load_text(&a, text, err) == 0, "%s", err);
    ck_assert_msg(config_validate(&a, err) == 0, "%s", err);
    round_trip(&a);

    /* Values validation would refuse still round-trip (config.ini is also
     * written for inspection). */
    ck_assert_int_eq(config_set(&a, "network.loss=0.30000000000000004", err), 0);
    ck_assert_int_eq(config_set(&a, "network.delay=1us", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.7.at=2s", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.7.action=partition", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.7.target=1,2/3 ,4", err), 0);
    ck_assert_str_eq(a.faults[3].target_text, "1,2/3,4");
    ck_assert_int_eq(config_set(&a, "fault.8.at=3s", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.8.action=heal", err), 0);
    round_trip(&a);
}
END_TEST


/* Each section once, in a fixed order, whatever the order of the key table. */
START_TEST(test_ini_sections_once)
{
    struct config a;
    char err[CONFIG_ERRLEN];
    config_defaults(&a);
    ck_assert_int_eq(config_set(&a, "fault.2.at=1s", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.2.action=kill", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.2.target=2", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.1.at=2s", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.1.action=pause", err), 0);
    ck_assert_int_eq(config_set(&a, "fault.1.target=3", err), 0);
    ck_assert_msg(config_validate(&a, err) == 0, "%s", err);
    char *text = config_to_ini(&a);
    ck_assert_ptr_nonnull(text);
    static const char *const order[] = {
        "[cluster]",     "[workload]", "[centralized]", "[ricart_agrawala]", "[token_ring]",
        "[two_level_ring]", "[resource]", "[raft]",     "[network]",         "[supervisor]",
        "[trace]",       "[fault.1]",     "[fault.2]",
    };
    const size_t n = sizeof order / sizeof order[0];
    size_t seen = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (line[0] == '[') {
            ck_assert_msg(seen < n, "extra header '%.*s' in:\n%s", (int)len, line, text);
            ck_assert_msg(strlen(order[seen]) == len && strncmp(line, order[seen], len) == 0,
                          "header %zu is '%.*s', expected %s, in:\n%s", seen, (int)len, line,
                          order[seen], text);
            seen++;
        }
        line += len + (end ? 1 : 0);
    }
    ck_assert_msg(seen == n, "%zu headers in:\n%s", seen, text);
    /* The keys of a section stay together, in their usual order. */
    ck_assert_ptr_nonnull(strstr(text, "[cluster]\nname = distlab\nnodes = 5\n"
                                       "algorithm = centralized\nduration = 30s\nseed = 1\n"
                                       "failure_timeout = 200ms\nretransmit = false\n\n[workload]\n"
                                       "requests = 100\ncs_time = 5ms\nthink_time = 20ms\n"
                                       "rate = 0\nclients = 0\nclient_timeout = 0ms\n"
                                       "keys = 10\nmix = get:50,put:30,append:10,cas:10\n"
                                       "value_size = 0\npipeline = 1\nrequesters = all\n\n[centralized]\n"));
    ck_assert_ptr_nonnull(strstr(text, "[two_level_ring]\ngroups = 2\nlocal_rounds = 1\n"
                                       "token_timeout = 0ms\nidle_hold = 1ms\nmembers = \n\n"
                                       "[resource]\n"));
    /* Not a ring run: no derived timeout to show. */
    ck_assert_ptr_null(strstr(text, "derived"));
    /* The faults, numbered in time order. */
    ck_assert_ptr_nonnull(strstr(text, "\n[fault.1]\nat = 1s\naction = kill\ntarget = 2\n"
                                       "\n[fault.2]\nat = 2s\naction = pause\ntarget = 3\n"));
    free(text);
    round_trip(&a);
}
END_TEST

/* token_timeout = 0 means derived: config.ini shows the value in a ';'
 * comment, which inih strips, so the file still reads back as 0. */
START_TEST(test_ini_derived_token_timeout)
{
    static const char *const algos[] = {"token_ring", "two_level_ring"};
    for (size_t i = 0; i < 2; i++) {
        if (!algo_find(algos[i]))
            continue;
        struct config a;
        char err[CONFIG_ERRLEN], set[64], want[160], d[32];
        config_defaults(&a);
        snprintf(set, sizeof set, "cluster.algorithm=%s", algos[i]);
        ck_assert_int_eq(config_set(&a, set, err), 0);
        ck_assert_int_eq(config_set(&a, "cluster.nodes=40", err), 0);
        ck_assert_msg(config_validate(&a, err) == 0, "%s", err);
        int64_t t = config_token_timeout(&a);
        /* two laps of (cs_time 5ms + idle_hold 1ms + 1ms a hop), over the 200ms floor */
        ck_assert_int_eq(t, 2 * 40 * (5000 + 1000 + 1000));
        snprintf(d, sizeof d, "%lldms", (long long)(t / 1000));
        char *text = config_to_ini(&a);
        ck_assert_ptr_nonnull(text);
        snprintf(want, sizeof want, "[%s]\n", algos[i]);
        const char *sec = strstr(text, want);
        ck_assert_ptr_nonnull(sec);
        snprintf(want, sizeof want, "\ntoken_timeout = 0ms ; derived: %s for this run\n", d);
        const char *line = strstr(text, want);
        ck_assert_msg(line != NULL, "no '%s' in:\n%s", want, text);
        ck_assert_msg(line > sec, "derived comment outside [%s]:\n%s", algos[i], text);
        for (const char *p = sec + 1; p < line; p++)
            ck_assert_msg(p[0] != '\n' || p[1] != '[', "derived comment outside [%s]:\n%s",
                          algos[i], text);
        ck_assert_msg(strstr(line + strlen(want), "derived") == NULL, "two derived comments:\n%s",
                      text);
        /* The other ring's timeout is not this run's: plain. */
        ck_assert_ptr_nonnull(strstr(text, "\ntoken_timeout = 0ms\n"));
        free(text);
        round_trip(&a);

        /* A given timeout is written as it is. */
        snprintf(set, sizeof set, "%s.token_timeout=750ms", algos[i]);
        ck_assert_int_eq(config_set(&a, set, err), 0);
        text = config_to_ini(&a);
        ck_assert_ptr_nonnull(text);
        ck_assert_ptr_nonnull(strstr(text, "\ntoken_timeout = 750ms\n"));
        ck_assert_ptr_null(strstr(text, "derived"));
        free(text);
        round_trip(&a);
    }
}
END_TEST

/* ---- bounds: every number has a range; its largest value is accepted
 * and the next one refused, naming the file, the line and the range ---- */

static const struct {
    const char *section, *key;
    const char *max;   /* the largest value accepted */
    const char *over;  /* the next value, refused */
    const char *range; /* as the error states it */
} bounds[] = {
    {"cluster", "nodes", "128", "129", "an integer from 1 to 128"},
    {"cluster", "duration", "24h", "86400000001us", "a duration from 1us to 24h"},
    {"cluster", "seed", "9223372036854775807", "9223372036854775808",
     "an integer from 0 to 9223372036854775807"},
    {"cluster", "failure_timeout", "1h", "3600000001us", "a duration from 5ms to 1h"},
    {"workload", "requests", "1000000000", "1000000001", "an integer from 0 to 1000000000"},
    {"workload", "cs_time", "1h", "3600000001us", "a duration from 0 to 1h"},
    {"workload", "think_time", "60min", "3600.000001s", "a duration from 0 to 1h"},
    {"workload", "rate", "1000000", "1000000.000001", "a number from 0 to 1000000"},
    {"workload", "clients", "64", "65", "an integer from 0 to 64"},
    {"workload", "client_timeout", "1min", "60000001us", "a duration from 0 to 1min"},
    {"workload", "keys", "65536", "65537", "an integer from 1 to 65536"},
    {"workload", "value_size", "4096", "4097", "an integer from 0 to 4096"},
    {"workload", "pipeline", "64", "65", "an integer from 1 to 64"},
    {"raft", "election_timeout_min", "1min", "60000001us", "a duration from 5ms to 1min"},
    {"raft", "election_timeout_max", "1min", "60.000001s", "a duration from 5ms to 1min"},
    {"raft", "heartbeat", "1min", "60000001us", "a duration from 1ms to 1min"},
    {"raft", "snapshot_entries", "1000000000", "1000000001", "an integer from 0 to 1000000000"},
    {"raft", "max_inflight", "1024", "1025", "an integer from 0 to 1024"},
    {"network", "delay", "1h", "3600000001us", "a duration from 0 to 1h"},
    {"network", "jitter", "1h", "3600000001us", "a duration from 0 to 1h"},
    {"network", "loss", "1", "1.000000001", "a number from 0.0 to 1.0"},
    {"supervisor", "restart_delay", "1h", "3600000001us", "a duration from 0 to 1h"},
    {"centralized", "coordinator", "128", "129", "an integer from 1 to 128"},
    {"centralized", "election_timeout", "1h", "3600000001us", "a duration from 1us to 1h"},
    {"token_ring", "token_timeout", "1h", "3600000001us", "a duration from 0 to 1h"},
    {"token_ring", "idle_hold", "1h", "3600000001us", "a duration from 0 to 1h"},
    {"two_level_ring", "groups", "128", "129", "an integer from 1 to 128"},
    {"two_level_ring", "local_rounds", "1000", "1001", "an integer from 1 to 1000"},
    {"two_level_ring", "token_timeout", "1h", "3600000001us", "a duration from 0 to 1h"},
    {"two_level_ring", "idle_hold", "1h", "3600000001us", "a duration from 0 to 1h"},
    {"trace", "max_size", "1TiB", "1099511627777", "a size from 64KiB to 1TiB (bytes, or with K/KiB, M/MiB, G/GiB)"},
};
#define NBOUNDS ((int)(sizeof bounds / sizeof bounds[0]))

START_TEST(test_bound_of_key)
{
    char text[256], what[512];
    struct config c;
    char err[CONFIG_ERRLEN];
    snprintf(text, sizeof text, "[%s]\n%s = %s\n", bounds[_i].section, bounds[_i].key,
             bounds[_i].max);
    ck_assert_msg(load_text(&c, text, err) == 0, "%s = %s: %s", bounds[_i].key, bounds[_i].max,
                  err);

    snprintf(text, sizeof text, "; a comment\n[%s]\n%s = %s\n", bounds[_i].section, bounds[_i].key,
             bounds[_i].over);
    snprintf(what, sizeof what, "[%s] %s: expected %s, got '%s'", bounds[_i].section,
             bounds[_i].key, bounds[_i].range, bounds[_i].over);
    expect_load_error(text, 3, what);

    /* --set: the same range, the same words. */
    char set[128], want[1024];
    config_defaults(&c);
    snprintf(set, sizeof set, "%s.%s=%s", bounds[_i].section, bounds[_i].key, bounds[_i].max);
    ck_assert_msg(config_set(&c, set, err) == 0, "--set %s: %s", set, err);
    snprintf(set, sizeof set, "%s.%s=%s", bounds[_i].section, bounds[_i].key, bounds[_i].over);
    ck_assert_int_eq(config_set(&c, set, err), -EINVAL);
    snprintf(want, sizeof want, "--set %s: %s", set, what);
    ck_assert_str_eq(err, want);
}
END_TEST

/* The keys with a numeric range are exactly those listed above: every key
 * config_to_ini writes whose value is a number or a duration. */
START_TEST(test_bounds_cover_every_number)
{
    struct config c;
    config_defaults(&c);
    char *ini = config_to_ini(&c);
    ck_assert(ini != NULL);
    char section[64] = "";
    int numeric = 0;
    for (char *line = strtok(ini, "\n"); line; line = strtok(NULL, "\n")) {
        char key[64], value[128];
        if (sscanf(line, "[%63[^]]]", section) == 1)
            continue;
        if (sscanf(line, "%63s = %127s", key, value) != 2 || !strchr("0123456789", value[0]))
            continue;
        if (strcmp(section, "ricart_agrawala") == 0)
            continue; /* initial_clock: a list, below */
        bool listed = false;
        for (int i = 0; i < NBOUNDS; i++)
            listed = listed ||
                     (strcmp(bounds[i].section, section) == 0 && strcmp(bounds[i].key, key) == 0);
        ck_assert_msg(listed, "[%s] %s has no bound test", section, key);
        numeric++;
    }
    free(ini);
    ck_assert_int_eq(numeric, NBOUNDS);
}
END_TEST

START_TEST(test_bound_fault_at_and_clock)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_msg(load_text(&c,
                            "[cluster]\nduration = 24h\n[fault.1]\nat = 86399999999us\n"
                            "action = kill\ntarget = 2\n"
                            "[ricart_agrawala]\ninitial_clock = 1:1000000000\n",
                            err) == 0,
                  "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    expect_load_error("[fault.1]\nat = 86400000001us\naction = kill\ntarget = 2\n", 2,
                      "[fault.1] at: expected a duration from 0 to 24h, got '86400000001us'");
    expect_load_error("[fault.1]\nat = 9223372036854775808us\naction = kill\ntarget = 2\n", 2,
                      "[fault.1] at: expected a duration from 0 to 24h, "
                      "got '9223372036854775808us'");
    expect_load_error("[ricart_agrawala]\ninitial_clock = 1:1000000001\n", 2,
                      "[ricart_agrawala] initial_clock: expected node:value pairs like 1:7, 3:11 "
                      "(values from 0 to 1000000000), got '1:1000000001'");
    expect_load_error("[ricart_agrawala]\ninitial_clock = 1:9223372036854775807\n", 2,
                      "[ricart_agrawala] initial_clock: expected node:value pairs like 1:7, 3:11 "
                      "(values from 0 to 1000000000), got '1:9223372036854775807'");
}
END_TEST

/* Every key at its largest value at once is a valid configuration, and
 * what is derived from it (the token timeout of a 128-node ring holding
 * the CS an hour) stays a positive time. */
START_TEST(test_bounds_all_at_maximum)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    const char *text = "[cluster]\nnodes = 128\nalgorithm = token_ring\nduration = 24h\n"
                       "failure_timeout = 1h\nseed = 9223372036854775807\n"
                       "[workload]\nrequests = 1000000000\ncs_time = 1h\nthink_time = 1h\n"
                       "rate = 1000000\n"
                       "[supervisor]\nrestart = on-crash\nrestart_delay = 1h\n"
                       "[token_ring]\nidle_hold = 1h\n"
                       "[fault.1]\nat = 86399999999us\naction = kill\ntarget = 128\n";
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    ck_assert_msg(config_validate(&c, err) == 0, "%s", err);
    ck_assert_int_eq(config_token_timeout(&c), 2 * 128 * (INT64_C(7200000000) + 1000));
    ck_assert_int_eq(c.duration_us, CONFIG_MAX_RUN_US);
    /* No sum a run makes of these comes near overflow. */
    ck_assert(c.duration_us + c.restart_delay_us < INT64_MAX / 1024);
    ck_assert(config_token_timeout(&c) < INT64_MAX / 1024);
}
END_TEST

/* A struct filled in by hand gets the ranges from config_validate. */
START_TEST(test_bounds_by_hand)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    c.cs_time_us = INT64_MAX;
    c.restart_delay_us = -1;
    c.rate = NAN;
    c.requests = INT_MAX;
    ck_assert_int_eq(config_validate(&c, err), -EINVAL);
    ck_assert_str_eq(err, "(default): [workload] requests: expected an integer from 0 to "
                          "1000000000, got '2147483647'\n"
                          "(default): [workload] cs_time: expected a duration from 0 to 1h, "
                          "got '9223372036854775807us'\n"
                          "(default): [workload] rate: expected a number from 0 to 1000000, "
                          "got 'nan'\n"
                          "(default): [supervisor] restart_delay: expected a duration from 0 to "
                          "1h, got '-1us'");
}
END_TEST

/* ---- files that are not configurations ---- */

/* Guard against the old behaviour (reading /dev/zero until memory runs
 * out): without sanitizers, which reserve a large address space, cap it. */
static void cap_memory(void)
{
#ifndef __SANITIZE_ADDRESS__
    struct rlimit rl = {1UL << 30, 1UL << 30};
    setrlimit(RLIMIT_AS, &rl);
#endif
}

START_TEST(test_file_device)
{
    cap_memory();
    struct config c;
    char err[CONFIG_ERRLEN];
    ck_assert_int_eq(config_load(&c, "/dev/zero", err), -EINVAL);
    ck_assert_str_eq(err, "/dev/zero: not a regular file (a character device): a configuration "
                          "must be a regular INI file");
    ck_assert_int_eq(config_load(&c, "/dev/urandom", err), -EINVAL);
    ck_assert_str_eq(err, "/dev/urandom: not a regular file (a character device): a "
                          "configuration must be a regular INI file");
    ck_assert_int_eq(config_load_with_sets(&c, "/dev/zero", NULL, 0, NULL, CONFIG_FOR_RUN, err),
                     -EINVAL);
}
END_TEST

START_TEST(test_file_fifo)
{
    char dir[] = "/tmp/check_config.fifo.XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/exp.ini", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    struct config c;
    char err[CONFIG_ERRLEN], want[256];
    /* No writer: opening must not wait for one. */
    int rc = config_load(&c, path, err);
    unlink(path);
    rmdir(dir);
    ck_assert_int_eq(rc, -EINVAL);
    snprintf(want, sizeof want,
             "%s: not a regular file (a FIFO): a configuration must be a regular INI file", path);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_file_symlink_loop)
{
    char dir[] = "/tmp/check_config.loop.XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    char a[64], b[64], want[256];
    snprintf(a, sizeof a, "%s/a.ini", dir);
    snprintf(b, sizeof b, "%s/b.ini", dir);
    ck_assert_int_eq(symlink(b, a), 0);
    ck_assert_int_eq(symlink(a, b), 0);
    struct config c;
    char err[CONFIG_ERRLEN];
    int rc = config_load(&c, a, err);
    unlink(a);
    unlink(b);
    rmdir(dir);
    ck_assert_int_eq(rc, -ELOOP);
    snprintf(want, sizeof want, "%s: cannot read: %s", a, strerror(ELOOP));
    ck_assert_str_eq(err, want);
}
END_TEST

/* Comment lines up to `size` bytes in all. */
static char *comments(size_t size)
{
    char *text = malloc(size + 1);
    ck_assert(text != NULL);
    memset(text, 'x', size);
    for (size_t i = 0; i < size; i += 100) {
        text[i] = ';';
        if (i + 99 < size)
            text[i + 99] = '\n';
    }
    text[size] = '\0';
    return text;
}

START_TEST(test_file_size_cap)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    char *text = comments(CONFIG_MAX_FILE_BYTES);
    ck_assert_msg(load_text(&c, text, err) == 0, "%s", err);
    free(text);
    text = comments(CONFIG_MAX_FILE_BYTES + 1);
    ck_assert_int_eq(load_text(&c, text, err), -EFBIG);
    free(text);
    char want[256];
    snprintf(want, sizeof want,
             "%s: too large (1048577 bytes): a configuration file may have at most 1048576 bytes",
             tmp_path);
    ck_assert_str_eq(err, want);
}
END_TEST

/* Hostile contents: a NUL byte, a 500 kB line, thousands of fault
 * sections, a section given twice. Each is an error naming its line; none
 * crashes or hides the others. */
START_TEST(test_file_hostile)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    write_tmp("[cluster]\nnodes = 3\n");
    FILE *f = fopen(tmp_path, "a");
    ck_assert(f != NULL);
    fwrite("name = a\0b\n", 1, 11, f);
    fclose(f);
    ck_assert_int_eq(config_load(&c, tmp_path, err), -EINVAL);
    ck_assert_str_eq(err, at_tmp(3, "syntax error: line contains a NUL byte"));

    size_t big = 500000;
    char *text = malloc(big + 64);
    ck_assert(text != NULL);
    strcpy(text, "[cluster]\nname = ");
    memset(text + strlen(text), 'n', big);
    strcpy(text + 17 + big, "\nnodes = 0\n");
    ck_assert_int_eq(load_text(&c, text, err), -EINVAL);
    const char *want = at_tmp(2, "syntax error: line is too long (at most 198 characters)\n");
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0 &&
                      strstr(err, ":3: [cluster] nodes: expected an integer from 1 to 128") != NULL,
                  "%s", err);
    free(text);

    /* 5000 fault sections: the first 64 are kept, the rest each refused. */
    size_t cap = 5000 * 64;
    text = malloc(cap);
    ck_assert(text != NULL);
    size_t n = 0;
    for (int i = 1; i <= 5000; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "[fault.%d]\nat = 1s\naction = kill\n"
                              "target = 1\n",
                              i);
    ck_assert_int_eq(load_text(&c, text, err), -EINVAL);
    free(text);
    ck_assert_int_eq(c.nfaults, CONFIG_MAX_FAULTS);
    want = at_tmp(4 * 64 + 1, "[fault.65] too many faults (at most 64)\n");
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    ck_assert_msg(strstr(err, "more errors not shown)") != NULL, "%s", err);

    /* A section given twice adds to the first; a key given twice is an
     * error naming both lines, whichever section header it is under. */
    expect_load_error("[cluster]\nnodes = 3\n[workload]\nrequests = 1\n[cluster]\nnodes = 4\n", 6,
                      "[cluster] nodes: duplicate key (first set on line 2)");
    expect_load_error("[fault.1]\nat = 1s\naction = kill\ntarget = 2\n[fault.1]\nat = 2s\n", 6,
                      "[fault.1] at: duplicate key (first set on line 2)");
    ck_assert_msg(load_text(&c,
                            "[cluster]\nnodes = 3\n[workload]\nrequests = 1\n[cluster]\n"
                            "name = twice\n",
                            err) == 0,
                  "%s", err);
    ck_assert_int_eq(c.nodes, 3);
    ck_assert_str_eq(c.name, "twice");
}
END_TEST

/* [trace] max_size: the cap of one trace file, in bytes with binary units. */
START_TEST(test_trace_max_size)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(c.trace_max_size, 256LL << 20);
    static const struct {
        const char *text;
        long long bytes;
    } good[] = {{"65536", 65536},           {"64KiB", 64 << 10},    {"64K", 64 << 10},
                {"1MiB", 1 << 20},          {"100M", 100LL << 20},  {"2GiB", 2LL << 30},
                {"1TiB", 1LL << 40}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[trace]\nmax_size = %s\n", good[i].text);
        ck_assert_msg(load_text(&c, text, err) == 0, "%s: %s", good[i].text, err);
        ck_assert_int_eq(c.trace_max_size, good[i].bytes);
        round_trip(&c);
    }
    const char *what = "[trace] max_size: expected a size from 64KiB to 1TiB (bytes, or with "
                       "K/KiB, M/MiB, G/GiB), got ";
    static const char *const bad[] = {"65535", "0", "-1M", "1.5M", "2TiB", "10MB", "M", "",
                                      "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], want[512];
        snprintf(text, sizeof text, "[cluster]\nnodes = 3\n[trace]\nmax_size = %s\n", bad[i]);
        snprintf(want, sizeof want, "%s'%s'", what, bad[i]);
        expect_load_error(text, 4, want);
    }
    ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 3\n", err), 0);
    ck_assert_int_eq(config_set(&c, "trace.max_size=512KiB", err), 0);
    ck_assert_int_eq(c.trace_max_size, 512 << 10);
    ck_assert_int_eq(config_set(&c, "trace.max_size=1", err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "max_size"));
    char *ini = config_to_ini(&c);
    ck_assert_ptr_nonnull(ini);
    ck_assert_ptr_nonnull(strstr(ini, "[trace]\nmax_size = 512KiB\n"));
    free(ini);
}
END_TEST

/* [trace] record: all, or a comma list of event classes; what is always
 * recorded is not a class. */
START_TEST(test_trace_record)
{
    struct config c;
    char err[CONFIG_ERRLEN];
    config_defaults(&c);
    ck_assert_uint_eq(c.trace_record, TRACE_CLASS_ALL);
    static const struct {
        const char *text;
        unsigned classes;
        const char *ini; /* as config_to_ini writes it back */
    } good[] = {
        {"all", TRACE_CLASS_ALL, "all"},
        {"log,clients", TRACE_CLASS_LOG | TRACE_CLASS_CLIENTS, "log,clients"},
        {"clients, log", TRACE_CLASS_LOG | TRACE_CLASS_CLIENTS, "log,clients"},
        {"cs", TRACE_CLASS_CS, "cs"},
        {"messages,cs,log,clients", TRACE_CLASS_ALL, "all"},
        {"messages , messages", TRACE_CLASS_MESSAGES, "messages"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[128], want[128];
        snprintf(text, sizeof text, "[trace]\nrecord = %s\n", good[i].text);
        ck_assert_msg(load_text(&c, text, err) == 0, "%s: %s", good[i].text, err);
        ck_assert_uint_eq(c.trace_record, good[i].classes);
        round_trip(&c);
        char *ini = config_to_ini(&c);
        ck_assert_ptr_nonnull(ini);
        snprintf(want, sizeof want, "record = %s\n", good[i].ini);
        ck_assert_msg(strstr(ini, want), "%s: %s", good[i].text, ini);
        free(ini);
    }
    const char *what = "[trace] record: expected all, or a comma list of messages, cs, log, "
                       "clients (roles, drops, faults and the processes' lifecycle are always "
                       "recorded), got ";
    static const char *const bad[] = {"",      "none", "log,", ",log",        "log clients",
                                      "roles", "send", "LOG",  "log,,clients"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], want[512];
        snprintf(text, sizeof text, "[cluster]\nnodes = 3\n[trace]\nrecord = %s\n", bad[i]);
        snprintf(want, sizeof want, "%s'%s'", what, bad[i]);
        expect_load_error(text, 4, want);
    }
    ck_assert_int_eq(load_text(&c, "[cluster]\nnodes = 3\n", err), 0);
    ck_assert_int_eq(config_set(&c, "trace.record=log,clients", err), 0);
    ck_assert_uint_eq(c.trace_record, TRACE_CLASS_LOG | TRACE_CLASS_CLIENTS);
    ck_assert_int_eq(config_set(&c, "trace.record=sends", err), -EINVAL);
    ck_assert_msg(strstr(err, "--set trace.record=sends: [trace] record: expected all, or a "
                              "comma list of messages, cs, log, clients"),
                  "%s", err);
    /* The writer: a class left out is not written, the rest is. */
    struct trace_writer w = {0};
    trace_set_record(&w, TRACE_CLASS_LOG | TRACE_CLASS_CLIENTS);
    for (int ev = 1; ev < TR_EV_COUNT; ev++) {
        bool kept =
            ev != TR_SEND && ev != TR_RECV && ev != TR_REQUEST && ev != TR_ENTER && ev != TR_EXIT;
        ck_assert_msg(trace_wanted(&w, ev) == kept, "%s", trace_ev_name(ev));
    }
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("durations");
    tcase_add_test(tc, test_duration_good);
    tcase_add_test(tc, test_duration_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("good files");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_empty_file_gives_defaults);
    tcase_add_test(tc, test_full_file);
    tcase_add_test(tc, test_indent_crlf_bom);
    tcase_add_test(tc, test_faults_sorted_stably);
    tcase_add_test(tc, test_heal_needs_no_target);
    tcase_add_test(tc, test_action_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("error messages");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_err_unknown_section);
    tcase_add_test(tc, test_err_unknown_empty_section);
    tcase_add_test(tc, test_err_bad_fault_section);
    tcase_add_test(tc, test_err_unknown_key);
    tcase_add_test(tc, test_workload_mix);
    tcase_add_test(tc, test_err_key_outside_section);
    tcase_add_test(tc, test_err_duration_unit);
    tcase_add_test(tc, test_err_hash_comment_hint);
    tcase_add_test(tc, test_err_negative_number);
    tcase_add_test(tc, test_err_nodes_range);
    tcase_add_test(tc, test_err_other_values);
    tcase_add_test(tc, test_err_bad_algorithm);
    tcase_add_test(tc, test_err_unimplemented_algorithm);
    tcase_add_test(tc, test_err_fault_missing_action);
    tcase_add_test(tc, test_err_bad_value_is_not_also_missing);
    tcase_add_test(tc, test_err_bad_bool);
    tcase_add_test(tc, test_err_duplicate_key);
    tcase_add_test(tc, test_err_syntax);
    tcase_add_test(tc, test_err_line_too_long);
    tcase_add_test(tc, test_err_all_collected);
    tcase_add_test(tc, test_err_truncated_safely);
    tcase_add_test(tc, test_err_cannot_read);
    suite_add_tcase(s, tc);

    tc = tcase_create("--set");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_set_values);
    tcase_add_test(tc, test_set_faults);
    tcase_add_test(tc, test_set_errors);
    tcase_add_test(tc, test_set_too_many_faults);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_validate_coordinator);
    tcase_add_test(tc, test_validate_target_node);
    tcase_add_test(tc, test_validate_fault_after_end);
    tcase_add_test(tc, test_validate_target_fits_algorithm);
    tcase_add_test(tc, test_validate_network_faults);
    tcase_add_test(tc, test_fault_repeat_keys);
    tcase_add_test(tc, test_fault_repeat_bad_values);
    tcase_add_test(tc, test_fault_repeat_rules);
    tcase_add_test(tc, test_parse_groups);
    tcase_add_test(tc, test_two_level_members);
    tcase_add_test(tc, test_validate_for_sim);
    tcase_add_test(tc, test_validate_raft_timeouts);
    tcase_add_test(tc, test_validate_names_set_origin);
    tcase_add_test(tc, test_validate_incomplete_set_fault);
    tcase_add_test(tc, test_validate_collects_all);
    tcase_add_test(tc, test_groups_default_fits_nodes);
    tcase_add_test(tc, test_validate_nobody_requests);
    suite_add_tcase(s, tc);

    tc = tcase_create("raft");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_raft_keys_parse);
    tcase_add_test(tc, test_raft_timeouts_need_a_range);
    tcase_add_test(tc, test_clients_only_for_raft);
    tcase_add_test(tc, test_algo_env_from_config);
    tcase_add_test(tc, test_partition_by_role);
    tcase_add_test(tc, test_raft_algorithm);
    suite_add_tcase(s, tc);

    tc = tcase_create("ranges");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_seed_range);
    tcase_add_test(tc, test_int_max_range_message);
    tcase_add_test(tc, test_failure_timeout_minimum);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_loop_test(tc, test_bound_of_key, 0, NBOUNDS);
    tcase_add_test(tc, test_bounds_cover_every_number);
    tcase_add_test(tc, test_bound_fault_at_and_clock);
    tcase_add_test(tc, test_bounds_all_at_maximum);
    tcase_add_test(tc, test_bounds_by_hand);
    suite_add_tcase(s, tc);

    /* A file that is not a configuration is refused at once: reading one
     * (a FIFO without a writer, /dev/urandom) would never end. */
    tc = tcase_create("files");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_file_device);
    tcase_add_test(tc, test_file_fifo);
    tcase_add_test(tc, test_file_symlink_loop);
    tcase_add_test(tc, test_file_size_cap);
    tcase_add_test(tc, test_file_hostile);
    suite_add_tcase(s, tc);

    tc = tcase_create("load with sets");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_load_with_sets);
    tcase_add_test(tc, test_load_no_settings);
    suite_add_tcase(s, tc);

    tc = tcase_create("origins");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_copy_keeps_origins);
    tcase_add_test(tc, test_copy_keeps_set_fault);
    tcase_add_test(tc, test_origin_markers);
    suite_add_tcase(s, tc);

    tc = tcase_create("round trip");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_round_trip_defaults);
    tcase_add_test(tc, test_round_trip_full);
    tcase_add_test(tc, test_ini_sections_once);
    tcase_add_test(tc, test_ini_derived_token_timeout);
    suite_add_tcase(s, tc);

    tc = tcase_create("trace");
    tcase_add_checked_fixture(tc, NULL, tmp_teardown);
    tcase_add_test(tc, test_trace_max_size);
    tcase_add_test(tc, test_trace_record);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
