/* Helpers for the real-process tests (tests/check_process.c): run the
 * distlab binary as a child with its output captured to files, wait for it
 * with a deadline, poll for conditions, read JSON, and check that a run left
 * nothing behind.
 *
 * The binary is $DISTLAB (an absolute path; `make check` sets it) or
 * ./distlab; the source tree is $DISTLAB_SRCDIR or ".". Every child runs
 * with its working directory in the calling test's temporary directory, so
 * nothing is ever written into the source tree.
 *
 * Failures: the helpers that can only fail because the system or the program
 * misbehaved (cannot fork, a child outlives its deadline, a JSON file does
 * not parse) fail the calling test themselves, with a message that says
 * what was being done. */
#ifndef DL_TESTS_HELPERS_H
#define DL_TESTS_HELPERS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

/* Absolute paths of the binary and of the source tree (conf/ lives there). */
const char *h_distlab(void);
const char *h_srcdir(void);

/* ---- temporary directories ---- */

/* An unchecked fixture (runs in the test runner's process, once per TCase):
 * h_root_setup makes a root directory under $TMPDIR (or /tmp) inside which
 * every test makes its own directory; h_root_teardown stops whatever
 * distlab process a failed test left behind and removes the root, so a
 * failing test leaves nothing either. */
void h_root_setup(void);
void h_root_teardown(void);

/* A fresh mkdtemp directory (malloc'd path); h_rmtree removes it (unless
 * DISTLAB_TEST_KEEP is set and not 0: then it says what it kept, for a
 * post-mortem). */
char *h_tmpdir(void);
/* "dir/name", allocated. */
char *h_path(const char *dir, const char *name);
void h_rmtree(const char *path);

/* ---- running distlab ---- */

struct h_proc {
    pid_t pid;
    bool reaped;
    int status;            /* the raw wait status once reaped */
    char out[PATH_MAX];    /* captured stdout */
    char err[PATH_MAX];    /* captured stderr */
    char what[256];        /* the command line, for messages */
};

/* Start `distlab ARGS...` (a NULL-terminated list) in the background, with
 * the working directory `dir` and stdout/stderr in dir/<tag>.out and
 * dir/<tag>.err. The child gets its own process group and default signal
 * dispositions, and receives SIGTERM if the test process dies (so a failed
 * test's launcher still stops cleanly and removes its IPC objects). Returns
 * the pid. */
pid_t h_start(struct h_proc *p, const char *dir, const char *tag, ...)
    __attribute__((sentinel));

/* Wait for a started child. On the deadline it is killed with SIGKILL and
 * the test fails. Returns the exit code, or 128 + the signal that ended it. */
int h_wait(struct h_proc *p, double timeout_s);

/* Has the child ended (reaping it if so)? */
bool h_ended(struct h_proc *p);

/* Start and wait: `distlab ARGS...`. Returns as h_wait. */
int h_run(struct h_proc *p, const char *dir, const char *tag, double timeout_s, ...)
    __attribute__((sentinel));

/* The captured output (malloc'd, "" when empty). */
char *h_out(const struct h_proc *p);
char *h_err(const struct h_proc *p);

/* ---- files and JSON ---- */

/* A whole file, malloc'd and NUL-terminated; NULL when it cannot be read. */
char *h_slurp(const char *path);
bool h_exists(const char *path);
/* Write dir/name with the given text; returns the malloc'd path. */
char *h_write_ini(const char *dir, const char *name, const char *text);

/* Parse a JSON file (the test fails when it is missing or malformed). */
json_t *h_json_file(const char *path);
/* dir/name, e.g. h_json_in(rundir, "report.json"). */
json_t *h_json_in(const char *dir, const char *name);

/* Look up a dotted path in a JSON value: "per_node.2.crashes" takes key
 * per_node, element 2, key crashes. Returns NULL when absent. The typed
 * getters fail the test when the value is absent or of another type. */
json_t *h_jget(const json_t *root, const char *path);
long long h_jint(const json_t *root, const char *path);
double h_jnum(const json_t *root, const char *path);
bool h_jbool(const json_t *root, const char *path);
const char *h_jstr(const json_t *root, const char *path);
/* The element of array `path` whose "node" member equals node. */
json_t *h_jnode(const json_t *root, const char *path, int node);

/* `distlab status RUN --json` (NULL when the run is not live). */
json_t *h_status(const char *dir, const char *run);

/* Is run `run` in its workload phase, with node `node` past min_cs critical
 * sections (from `distlab status RUN --json`)? Fills *pid and run_id (cap
 * bytes) when not NULL. */
bool h_node_busy(const char *dir, const char *run, int node, long long min_cs, int *pid,
                 char *run_id, size_t cap);

/* `distlab trace RUNDIR`, parsed: an array of the events. Fails the test
 * unless every line is one JSON object with integer t_us, node (a client
 * process's: client) and a string ev, and t_us never decreases (the trace
 * contract). */
json_t *h_trace(const char *dir, const char *rundir);
/* Is event o an `ev` (NULL: any) of node (< 0: any)? */
bool h_event_is(const json_t *o, const char *ev, int node);
/* Events of the trace matching ev (NULL: any) and node (< 0: any) whose t_us
 * is after `after_us` (inclusive when after_us < 0, i.e. all). */
int h_trace_count(const json_t *trace, const char *ev, int node, long long after_us);
/* The first event matching ev and node, or NULL. */
json_t *h_trace_find(const json_t *trace, const char *ev, int node);

/* ---- waiting ---- */

/* Call cond(arg) until it returns true or timeout_s passes, sleeping a few
 * milliseconds between calls. Returns whether the condition held. */
bool h_poll(bool (*cond)(void *arg), void *arg, double timeout_s);
/* Seconds on the monotonic clock. */
double h_now(void);

/* An exclusive lock shared by every test process on the machine
 * ($TMPDIR/distlab-check.<name>.lock), taken within timeout_s or the test
 * fails. Returns a descriptor for h_unlock. */
int h_lock(const char *name, double timeout_s);
void h_unlock(int fd);

/* ---- leftovers ---- */

/* Does the run's segment /dev/shm/distlab.<id> exist? */
bool h_shm_exists(const char *run_id);
/* Can queue /distlab.<id>.n<k> be opened? Fails the test on any error other
 * than ENOENT. */
bool h_queue_exists(const char *run_id, int k);
/* Live processes whose argv is `distlab-node K /distlab.<id> INC`. */
int h_node_procs(const char *run_id);

/* Assert the run left nothing: no segment, no queue n0..n<nodes>, no node
 * process. */
void h_assert_no_leftovers_id(const char *run_id, int nodes);
/* The same, for the run whose run.json is in rundir (run_id and nodes from
 * it). */
void h_assert_no_leftovers(const char *rundir);

#endif
