/* The control commands against fake runs: segments this test process makes
 * in /dev/shm (with shm_create, or byte by byte for another build's
 * version), whose "launcher" is the test process itself (alive) or a child
 * that has already exited (dead). The distlab binary is run as a child on
 * them: clean, pid, status.
 *
 * Every fake segment has an id of the form <base><k> (base: 24 random bits
 * chosen in main, k: one byte per use), so the runner removes them all, and
 * their queues, whatever a failed test left: in each TCase's unchecked
 * teardown and at exit. `distlab clean` is run under the "clean" lock that
 * tests/check_process.c takes, so neither removes the other's stale run
 * under its feet. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/mq.h"
#include "ipc/proc.h"
#include "ipc/shm.h"
#include "ipc/util.h"
#include "nodes/algo.h"
#include "tests/helpers.h"

#define TCASE_TIMEOUT 120
#define CMD_TIMEOUT 30.0
#define LOCK_TIMEOUT 60.0

#define FAKE_IDS 16   /* k = 0 .. FAKE_IDS - 1 */
#define FAKE_QUEUES 9 /* queues n0 .. n8 removed by the cleanup */

static uint32_t fake_base; /* set in main, inherited by the forked tests */
static pid_t runner_pid;

static uint32_t fake_id(int k)
{
    return fake_base | (uint32_t)k;
}

static void fake_hex(char *buf, size_t cap, uint32_t id)
{
    snprintf(buf, cap, "%08x", id);
}

static void fake_cleanup(void)
{
    for (int k = 0; k < FAKE_IDS; k++) {
        for (int q = 0; q < FAKE_QUEUES; q++)
            mq_unlink_queue(fake_id(k), q);
        shm_unlink_run(fake_id(k));
    }
}

static void fake_cleanup_at_exit(void)
{
    if (getpid() == runner_pid) /* not in the forked tests */
        fake_cleanup();
}

static void setup(void)
{
    h_root_setup();
}

static void teardown(void)
{
    fake_cleanup();
    h_root_teardown();
}

/* ---- fake segments ---- */

static void path_of(char *buf, size_t cap, uint32_t id)
{
    snprintf(buf, cap, "/dev/shm/" SHM_PREFIX "%08x", id);
}

/* Write raw bytes as segment id (created, or overwritten from offset 0),
 * `size` bytes long. */
static void raw_segment(uint32_t id, const void *bytes, size_t len, size_t size)
{
    char path[64];
    path_of(path, sizeof path, id);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    if (len)
        ck_assert_int_eq(pwrite(fd, bytes, len, 0), (ssize_t)len);
    close(fd);
}

/* Set the segment's modification time age_s seconds back. */
static void age_segment(uint32_t id, int age_s)
{
    char path[64];
    path_of(path, sizeof path, id);
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= age_s;
    t[1] = t[0];
    ck_assert_msg(utimensat(AT_FDCWD, path, t, 0) == 0, "utimensat %s: %s", path,
                  strerror(errno));
}

static void make_queue(uint32_t id, int k)
{
    char name[64];
    mq_queue_name(name, sizeof name, id, k);
    struct mq_attr a = {.mq_maxmsg = 1, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_CREAT | O_RDWR | O_CLOEXEC, 0600, &a);
    ck_assert_msg(q != (mqd_t)-1, "mq_open %s: %s", name, strerror(errno));
    mq_close(q);
}

/* A pid that has just ended (reaped). */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        _exit(0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return pid;
}

/* A live run of this version made by shm_create: this process is its
 * launcher. start_offset_s moves its start (newest = largest). */
static void fake_run(struct shm_handle *h, uint32_t id, int n, const char *name,
                     double start_offset_s)
{
    char err[DL_ERRLEN];
    ck_assert_msg(shm_create(h, id, n, err) == 0, "shm_create: %s", err);
    struct shm_run *r = h->run;
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->algorithm, sizeof r->algorithm, "centralized");
    snprintf(r->rundir, sizeof r->rundir, "/nonexistent/%s-%08x", name, id);
    r->start_mono_us = dl_mono_us();
    r->start_real_us = dl_real_us() + (int64_t)(start_offset_s * 1e6);
    atomic_store(&r->phase, RUN_RUNNING);
}

static void set_node(struct shm_run *r, int k, int state, int role, int64_t term, int pid)
{
    atomic_store(&r->node[k].state, state);
    atomic_store(&r->node[k].role, role);
    atomic_store(&r->node[k].term, term);
    atomic_store(&r->node[k].pid, pid);
}

static int run_clean(const char *dir, char **out, char **err)
{
    struct h_proc p;
    int rc = h_run(&p, dir, "clean", CMD_TIMEOUT, "clean", NULL);
    *out = h_out(&p);
    *err = h_err(&p);
    return rc;
}

/* ---- TCase clean ---- */

START_TEST(test_clean_live_other_version)
{
    char *dir = h_tmpdir();
    uint32_t id = fake_id(1);
    char hex[16], removed[64];
    fake_hex(hex, sizeof hex, id);
    snprintf(removed, sizeof removed, "removed stale run %s", hex);

    /* Another build's segment (version 999, a size shm_attach rejects),
     * whose launcher (this process) is alive, with one of its queues; old
     * enough that the previous rule took it for stale. */
    struct shm_prefix p = {.magic = SHM_MAGIC,
                           .version = 999,
                           .run_id = id,
                           .n = 3,
                           .launcher_pid = getpid(),
                           .launcher_start = proc_start_time(getpid())};
    ck_assert(p.launcher_start != 0);
    raw_segment(id, &p, sizeof p, 4096);
    age_segment(id, 60);
    make_queue(id, 2);

    int lock = h_lock("clean", LOCK_TIMEOUT);
    char *out, *err;
    int rc = run_clean(dir, &out, &err);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(strstr(out, hex) == NULL, "clean named the live run %s:\n%s", hex, out);
    ck_assert_msg(h_shm_exists(hex), "clean removed the live run %s of another version", hex);
    ck_assert_msg(h_queue_exists(hex, 2), "clean removed a queue of the live run %s", hex);
    free(out);
    free(err);

    /* The launcher is gone: now it is stale, whatever its version. */
    p.launcher_pid = dead_pid();
    raw_segment(id, &p, sizeof p, 4096);
    rc = run_clean(dir, &out, &err);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(strstr(out, removed) != NULL, "clean did not say '%s':\n%s", removed, out);
    ck_assert_msg(!h_shm_exists(hex), "clean left the stale run %s", hex);
    ck_assert_msg(!h_queue_exists(hex, 2), "clean left the queue of the stale run %s", hex);
    free(out);
    free(err);
    h_unlock(lock);

    h_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_clean_no_magic)
{
    char *dir = h_tmpdir();
    uint32_t id = fake_id(2);
    char hex[16], removed[64];
    fake_hex(hex, sizeof hex, id);
    snprintf(removed, sizeof removed, "removed stale run %s", hex);

    /* Empty: a segment being created right now looks like this. */
    raw_segment(id, NULL, 0, 0);
    int lock = h_lock("clean", LOCK_TIMEOUT);
    char *out, *err;
    int rc = run_clean(dir, &out, &err);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(h_shm_exists(hex), "clean removed %s, without a header but 0 s old", hex);
    ck_assert_msg(strstr(out, hex) == NULL, "clean named %s:\n%s", hex, out);
    free(out);
    free(err);

    /* Older than 10 s: stale. */
    age_segment(id, 30);
    rc = run_clean(dir, &out, &err);
    ck_assert_msg(rc == 0, "`distlab clean` exited %d: %s", rc, err);
    ck_assert_msg(strstr(out, removed) != NULL, "clean did not say '%s':\n%s", removed, out);
    ck_assert_msg(!h_shm_exists(hex), "clean left %s, without a header and 30 s old", hex);
    free(out);
    free(err);
    h_unlock(lock);

    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- TCase roles ---- */

static char *pid_of(const char *dir, const char *hex, const char *flag, int *rc)
{
    struct h_proc p;
    *rc = h_run(&p, dir, "pid", CMD_TIMEOUT, "pid", hex, flag, NULL);
    return h_out(&p);
}

static void expect_pid(const char *dir, const char *hex, const char *flag, int want,
                       const char *why)
{
    int rc;
    char *out = pid_of(dir, hex, flag, &rc);
    ck_assert_msg(rc == 0, "`distlab pid %s %s` exited %d (%s)", hex, flag, rc, why);
    ck_assert_msg(atoi(out) == want, "`distlab pid %s %s` printed '%s', expected %d (%s)", hex,
                  flag, out, want, why);
    free(out);
}

START_TEST(test_pid_role)
{
    char *dir = h_tmpdir();
    struct shm_handle h;
    uint32_t id = fake_id(3);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    fake_run(&h, id, 4, "ctl-role", 0);
    struct shm_run *r = h.run;

    /* The old coordinator 1 is paused (with the highest term it saw); 2, 3
     * and 4 claim the role after it, 3 and 4 in a newer epoch. */
    set_node(r, 1, NODE_PAUSED, ROLE_COORDINATOR, 9, 1001);
    set_node(r, 2, NODE_UP, ROLE_COORDINATOR, 1, 1002);
    set_node(r, 3, NODE_UP, ROLE_COORDINATOR, 4, 1003);
    set_node(r, 4, NODE_UP, ROLE_COORDINATOR, 4, 1004);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 3);
    expect_pid(dir, hex, "--coordinator", 1003, "UP, highest term, lowest id");

    atomic_store(&r->node[3].state, NODE_DOWN);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 4);
    expect_pid(dir, hex, "--coordinator", 1004, "3 is down");

    atomic_store(&r->node[4].state, NODE_STOPPED);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 2);
    expect_pid(dir, hex, "--coordinator", 1002, "UP before PAUSED, whatever the term");

    atomic_store(&r->node[2].state, NODE_DOWN);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 1);
    expect_pid(dir, hex, "--coordinator", 1001, "only the paused one is left");

    /* Nobody. */
    atomic_store(&r->node[1].role, ROLE_CLIENT);
    ck_assert_int_eq(shm_find_role(r, ROLE_COORDINATOR), 0);
    int rc;
    char *out = pid_of(dir, hex, "--coordinator", &rc);
    ck_assert_msg(rc == 1, "`distlab pid --coordinator` exited %d without a coordinator", rc);
    free(out);

    /* Another role, the same rule. */
    set_node(r, 2, NODE_PAUSED, ROLE_TOKEN_HOLDER, 7, 1002);
    set_node(r, 4, NODE_UP, ROLE_TOKEN_HOLDER, 3, 1004);
    expect_pid(dir, hex, "--token-holder", 1004, "UP token holder before a paused one");

    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- TCase status ---- */

START_TEST(test_status_text)
{
    char *dir = h_tmpdir();
    struct shm_handle h;
    uint32_t id = fake_id(4);
    char hex[16];
    fake_hex(hex, sizeof hex, id);
    fake_run(&h, id, 3, "ctl-text", 0);
    set_node(h.run, 1, NODE_UP, ROLE_COORDINATOR, 1, 2001);

    struct h_proc p;
    int rc = h_run(&p, dir, "status", CMD_TIMEOUT, "status", hex, NULL);
    char *out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d", hex, rc);
    ck_assert_msg(strstr(out, "critical section: free ") != NULL && !strstr(out, "free0"),
                  "a free critical section:\n%s", out);
    ck_assert_msg(strstr(out, "running") != NULL, "no phase:\n%s", out);
    free(out);

    atomic_store(&h.run->res.holder, 2u | (1u << 16));
    rc = h_run(&p, dir, "status", CMD_TIMEOUT, "status", hex, NULL);
    out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d", hex, rc);
    ck_assert_msg(strstr(out, "critical section: node 2 ") != NULL,
                  "node 2 in the critical section:\n%s", out);
    free(out);

    shm_detach(&h);
    shm_unlink_run(id);
    h_rmtree(dir);
    free(dir);
}
END_TEST

/* Where runs a and b are in a `status --all --json` array (-1: absent). */
static void ids_of(const json_t *arr, const char *a, const char *b, int *ia, int *ib)
{
    *ia = *ib = -1;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *id = h_jstr(v, "run_id");
        if (strcmp(id, a) == 0)
            *ia = (int)i;
        if (strcmp(id, b) == 0)
            *ib = (int)i;
    }
}

START_TEST(test_several_runs)
{
    char *dir = h_tmpdir();
    char name[64];
    snprintf(name, sizeof name, "ctl-multi-%d", (int)getpid());
    /* Both started "in the future", so they are the newest live runs on the
     * machine even while other tests run; b is the newer. */
    struct shm_handle ha, hb;
    uint32_t a = fake_id(5), b = fake_id(6);
    char ahex[16], bhex[16];
    fake_hex(ahex, sizeof ahex, a);
    fake_hex(bhex, sizeof bhex, b);
    fake_run(&ha, a, 2, name, 3600);
    fake_run(&hb, b, 3, name, 7200);

    /* No RUN: the newest, and a note. */
    struct h_proc p;
    int rc = h_run(&p, dir, "status", CMD_TIMEOUT, "status", NULL);
    char *out = h_out(&p), *err = h_err(&p);
    char want[256];
    ck_assert_msg(rc == 0, "`distlab status` exited %d: %s", rc, err);
    snprintf(want, sizeof want, "run %s", bhex);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "not the newest run %s:\n%s", bhex, out);
    snprintf(want, sizeof want, "live runs; using the newest, %s (%s); name one: distlab status RUN",
             bhex, name);
    ck_assert_msg(strstr(err, want) != NULL, "stderr does not say '%s':\n%s", want, err);
    free(out);
    free(err);

    /* A name both runs have: the newest, and a note. */
    rc = h_run(&p, dir, "named", CMD_TIMEOUT, "status", name, NULL);
    out = h_out(&p);
    err = h_err(&p);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d: %s", name, rc, err);
    snprintf(want, sizeof want, "run %s", bhex);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "not the newest run %s:\n%s", bhex, out);
    snprintf(want, sizeof want, "2 live runs match '%s'; using the newest, %s", name, bhex);
    ck_assert_msg(strstr(err, want) != NULL, "stderr does not say '%s':\n%s", want, err);
    free(out);
    free(err);

    /* By id: no note. */
    rc = h_run(&p, dir, "byid", CMD_TIMEOUT, "status", ahex, NULL);
    err = h_err(&p);
    ck_assert_msg(rc == 0, "`distlab status %s` exited %d: %s", ahex, rc, err);
    ck_assert_msg(err[0] == '\0', "a note for a run named by id:\n%s", err);
    free(err);

    /* --all: one line each. */
    rc = h_run(&p, dir, "all", CMD_TIMEOUT, "status", "--all", NULL);
    out = h_out(&p);
    ck_assert_msg(rc == 0, "`distlab status --all` exited %d", rc);
    char la[160], lb[160];
    snprintf(la, sizeof la, "run %s  %s  centralized, 2 nodes, running", ahex, name);
    snprintf(lb, sizeof lb, "run %s  %s  centralized, 3 nodes, running", bhex, name);
    ck_assert_msg(strstr(out, la) && strstr(out, lb), "`status --all` lacks '%s' or '%s':\n%s",
                  la, lb, out);
    ck_assert_msg(strstr(out, lb) < strstr(out, la), "not newest first:\n%s", out);
    ck_assert_msg(!strstr(out, "critical section"), "not one line per run:\n%s", out);
    free(out);

    /* --all --json: an array. */
    rc = h_run(&p, dir, "alljson", CMD_TIMEOUT, "status", "--all", "--json", NULL);
    ck_assert_msg(rc == 0, "`distlab status --all --json` exited %d", rc);
    json_t *arr = h_json_file(p.out);
    ck_assert_msg(json_is_array(arr), "`status --all --json` is not an array");
    int ia, ib;
    ids_of(arr, ahex, bhex, &ia, &ib);
    ck_assert_msg(ia >= 0 && ib >= 0 && ib < ia, "runs %s (at %d) and %s (at %d) in the array",
                  bhex, ib, ahex, ia);
    json_t *ea = json_array_get(arr, (size_t)ia);
    ck_assert_str_eq(h_jstr(ea, "name"), name);
    ck_assert_str_eq(h_jstr(ea, "algorithm"), "centralized");
    ck_assert_int_eq(h_jint(ea, "nodes"), 2);
    ck_assert_str_eq(h_jstr(ea, "phase"), "running");
    ck_assert(h_jnum(ea, "elapsed_s") >= 0);
    ck_assert_msg(strstr(h_jstr(ea, "run_dir"), ahex) != NULL, "run_dir");
    json_decref(arr);

    /* --all RUN: only those. */
    rc = h_run(&p, dir, "allname", CMD_TIMEOUT, "status", "--all", "--json", name, NULL);
    ck_assert_msg(rc == 0, "`distlab status --all --json %s` exited %d", name, rc);
    arr = h_json_file(p.out);
    ck_assert_int_eq(json_array_size(arr), 2);
    ck_assert_str_eq(h_jstr(json_array_get(arr, 0), "run_id"), bhex);
    ck_assert_str_eq(h_jstr(json_array_get(arr, 1), "run_id"), ahex);
    json_decref(arr);

    shm_detach(&ha);
    shm_detach(&hb);
    shm_unlink_run(a);
    shm_unlink_run(b);
    h_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *control_suite(void)
{
    Suite *s = suite_create("control");
    struct {
        const char *name;
        const TTest *tests[4];
    } cases[] = {
        {"clean", {test_clean_live_other_version, test_clean_no_magic}},
        {"roles", {test_pid_role}},
        {"status", {test_status_text, test_several_runs}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, TCASE_TIMEOUT);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        for (int k = 0; k < 4 && cases[i].tests[k]; k++)
            tcase_add_test(tc, cases[i].tests[k]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    /* 24 random bits for the fake run ids; none may be in use already. */
    runner_pid = getpid();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint32_t seed = (uint32_t)now.tv_nsec ^ ((uint32_t)getpid() << 12);
    for (int tries = 0;; tries++) {
        seed = seed * 1664525u + 1013904223u;
        fake_base = (seed >> 8) << 8;
        bool free_ = true;
        for (int k = 0; k < FAKE_IDS && free_; k++) {
            char path[64];
            path_of(path, sizeof path, fake_id(k));
            free_ = access(path, F_OK) != 0;
        }
        if (free_)
            break;
        if (tries > 100) {
            fprintf(stderr, "check_control: no free fake run ids\n");
            return EXIT_FAILURE;
        }
    }
    atexit(fake_cleanup_at_exit);

    SRunner *sr = srunner_create(control_suite());
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, default normal */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
