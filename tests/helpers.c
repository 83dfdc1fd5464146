/* Helpers for the real-process tests: see helpers.h. */
#include "tests/helpers.h"

#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mqueue.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define H_MAX_ARGS 64
#define H_POLL_NS (10 * 1000 * 1000L) /* between two looks at a condition */

/* ---- paths ---- */

static const char *resolve(const char *env, const char *fallback, char *buf)
{
    if (buf[0])
        return buf;
    const char *v = getenv(env);
    if (!v || !*v)
        v = fallback;
    ck_assert_msg(realpath(v, buf) != NULL,
                  "%s: %s (set %s, or run from the build directory)", v, strerror(errno), env);
    return buf;
}

const char *h_distlab(void)
{
    static char buf[PATH_MAX];
    return resolve("DISTLAB", "./distlab", buf);
}

const char *h_srcdir(void)
{
    static char buf[PATH_MAX];
    return resolve("DISTLAB_SRCDIR", ".", buf);
}

double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(long ns)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- temporary directories ---- */

/* Set in the runner's process by h_root_setup; the forked tests inherit it. */
static char root[PATH_MAX];

/* /proc/<pid>/stat start time, 0 when the process is gone or a zombie. */
static unsigned long long start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || !p[1] || !p[2] || p[2] == 'Z' || p[2] == 'X')
        return 0;
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

void h_root_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/distlab-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        fprintf(stderr, "check_process: mkdtemp %s: %s\n", root, strerror(errno));
        root[0] = '\0';
    }
}

void h_root_teardown(void)
{
    if (!root[0])
        return;
    /* A failed test may have left a launcher running (in its own process
     * group, so Check's kill of the test's group missed it). It got SIGTERM
     * when the test died; give it time to stop cleanly, then insist. */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/pids", root);
    FILE *f = fopen(path, "r");
    if (f) {
        int pid;
        unsigned long long st;
        pid_t pids[256];
        unsigned long long sts[256];
        int n = 0;
        while (n < 256 && fscanf(f, "%d %llu", &pid, &st) == 2) {
            pids[n] = pid;
            sts[n++] = st;
        }
        fclose(f);
        double deadline = h_now() + 10;
        for (;;) {
            int alive = 0;
            for (int i = 0; i < n; i++)
                if (sts[i] && start_time(pids[i]) == sts[i]) {
                    alive++;
                    kill(pids[i], h_now() < deadline ? SIGTERM : SIGKILL);
                }
            if (!alive || h_now() > deadline + 2)
                break;
            nap(50 * 1000 * 1000L);
        }
    }
    h_rmtree(root);
    root[0] = '\0';
}

char *h_tmpdir(void)
{
    char buf[PATH_MAX + 32];
    const char *tmp = getenv("TMPDIR");
    if (root[0])
        snprintf(buf, sizeof buf, "%s/t.XXXXXX", root);
    else
        snprintf(buf, sizeof buf, "%s/distlab-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
    char *out = strdup(buf);
    ck_assert(out != NULL);
    return out;
}

char *h_path(const char *dir, const char *name)
{
    char *p = NULL;
    ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void h_rmtree(const char *path)
{
    if (!path || !*path)
        return;
    const char *keep = getenv("DISTLAB_TEST_KEEP");
    if (keep && *keep && strcmp(keep, "0") != 0) {
        fprintf(stderr, "check_process: kept %s (DISTLAB_TEST_KEEP)\n", path);
        return;
    }
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- running distlab ---- */

static void remember_pid(pid_t pid)
{
    if (!root[0])
        return;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/pids", root);
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%d %llu\n", (int)pid, start_time(pid));
        fclose(f);
    }
}

static pid_t start_v(struct h_proc *p, const char *dir, const char *tag, va_list ap)
{
    const char *exe = h_distlab();
    const char *argv[H_MAX_ARGS + 2];
    int n = 0;
    argv[n++] = exe;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(n <= H_MAX_ARGS, "too many arguments for h_start");
        argv[n++] = a;
    }
    argv[n] = NULL;

    memset(p, 0, sizeof *p);
    size_t len = (size_t)snprintf(p->what, sizeof p->what, "distlab");
    for (int i = 1; i < n && len < sizeof p->what; i++)
        len += (size_t)snprintf(p->what + len, sizeof p->what - len, " %s", argv[i]);
    snprintf(p->out, sizeof p->out, "%s/%s.out", dir, tag);
    snprintf(p->err, sizeof p->err, "%s/%s.err", dir, tag);

    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Our own process group: Check kills the test's group when the test
         * ends, which would SIGKILL a launcher before it could clean up.
         * Instead the launcher is told to stop (SIGTERM) if the test dies. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        /* Whatever the test runner inherited (e.g. SIGINT ignored in a
         * background job), distlab starts with default dispositions. */
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (chdir(dir) < 0)
            _exit(126);
        int in = open("/dev/null", O_RDONLY);
        int out = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        if (in > STDERR_FILENO)
            close(in);
        if (out > STDERR_FILENO)
            close(out);
        if (err > STDERR_FILENO)
            close(err);
        execv(exe, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    remember_pid(pid);
    return pid;
}

pid_t h_start(struct h_proc *p, const char *dir, const char *tag, ...)
{
    va_list ap;
    va_start(ap, tag);
    pid_t pid = start_v(p, dir, tag, ap);
    va_end(ap);
    return pid;
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

bool h_ended(struct h_proc *p)
{
    if (p->reaped)
        return true;
    int status;
    pid_t r;
    do
        r = waitpid(p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    ck_assert_msg(r >= 0, "waitpid %d (%s): %s", (int)p->pid, p->what, strerror(errno));
    if (r == 0)
        return false;
    p->reaped = true;
    p->status = status;
    return true;
}

static char *head_of(const char *path, size_t max)
{
    char *s = h_slurp(path);
    if (!s)
        return strdup("");
    if (strlen(s) > max)
        strcpy(s + max - 4, "...");
    return s;
}

int h_wait(struct h_proc *p, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    while (!h_ended(p)) {
        if (h_now() > deadline) {
            kill(p->pid, SIGKILL);
            int status;
            while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
                ;
            p->reaped = true;
            p->status = status;
            char *err = head_of(p->err, 1500);
            ck_abort_msg("`%s` still ran after %.0f s; killed it. stderr:\n%s", p->what,
                         timeout_s, err);
        }
        nap(5 * 1000 * 1000L);
    }
    return decode_status(p->status);
}

int h_run(struct h_proc *p, const char *dir, const char *tag, double timeout_s, ...)
{
    va_list ap;
    va_start(ap, timeout_s);
    start_v(p, dir, tag, ap);
    va_end(ap);
    return h_wait(p, timeout_s);
}

char *h_out(const struct h_proc *p)
{
    char *s = h_slurp(p->out);
    return s ? s : strdup("");
}

char *h_err(const struct h_proc *p)
{
    char *s = h_slurp(p->err);
    return s ? s : strdup("");
}

/* ---- files and JSON ---- */

char *h_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return NULL;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
        if (cap - len - 1 == 0) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

bool h_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

char *h_write_ini(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_msg(fputs(text, f) >= 0 && fclose(f) == 0, "%s: cannot write", path);
    char *out = strdup(path);
    ck_assert(out != NULL);
    return out;
}

json_t *h_json_file(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(j != NULL, "%s: %s (line %d)", path, e.text, e.line);
    return j;
}

json_t *h_json_in(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return h_json_file(path);
}

json_t *h_jget(const json_t *rootv, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = (json_t *)rootv;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur) && isdigit((unsigned char)tok[0])) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            cur = *end ? NULL : json_array_get(cur, i);
        } else {
            cur = NULL;
        }
    }
    return cur;
}

long long h_jint(const json_t *r, const char *path)
{
    json_t *v = h_jget(r, path);
    ck_assert_msg(json_is_integer(v), "JSON %s: missing or not an integer", path);
    return (long long)json_integer_value(v);
}

double h_jnum(const json_t *r, const char *path)
{
    json_t *v = h_jget(r, path);
    ck_assert_msg(json_is_number(v), "JSON %s: missing or not a number", path);
    return json_number_value(v);
}

bool h_jbool(const json_t *r, const char *path)
{
    json_t *v = h_jget(r, path);
    ck_assert_msg(json_is_boolean(v), "JSON %s: missing or not a boolean", path);
    return json_is_true(v);
}

const char *h_jstr(const json_t *r, const char *path)
{
    json_t *v = h_jget(r, path);
    ck_assert_msg(json_is_string(v), "JSON %s: missing or not a string", path);
    return json_string_value(v);
}

json_t *h_jnode(const json_t *r, const char *path, int node)
{
    json_t *arr = h_jget(r, path);
    ck_assert_msg(json_is_array(arr), "JSON %s: missing or not an array", path);
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        json_t *k = json_object_get(el, "node");
        if (json_is_integer(k) && json_integer_value(k) == node)
            return el;
    }
    return NULL;
}

json_t *h_status(const char *dir, const char *run)
{
    struct h_proc p;
    if (h_run(&p, dir, "status", 30, "status", run, "--json", NULL) != 0)
        return NULL;
    json_error_t e;
    json_t *j = json_load_file(p.out, 0, &e);
    ck_assert_msg(j != NULL, "`%s` printed bad JSON: %s", p.what, e.text);
    return j;
}

bool h_node_busy(const char *dir, const char *run, int node, long long min_cs, int *pid,
                 char *run_id, size_t cap)
{
    json_t *st = h_status(dir, run);
    if (!st)
        return false;
    if (run_id)
        snprintf(run_id, cap, "%s", h_jstr(st, "run_id"));
    json_t *n = h_jnode(st, "nodes_table", node);
    bool ok = strcmp(h_jstr(st, "phase"), "running") == 0 && n && h_jint(n, "cs_done") > min_cs;
    if (ok && pid)
        *pid = (int)h_jint(n, "pid");
    json_decref(st);
    return ok;
}

json_t *h_trace(const char *dir, const char *rundir)
{
    struct h_proc p;
    int rc = h_run(&p, dir, "trace", 60, "trace", rundir, NULL);
    char *err = h_err(&p);
    ck_assert_msg(rc == 0, "`%s` exited %d: %s", p.what, rc, err);
    free(err);
    FILE *f = fopen(p.out, "r");
    ck_assert_msg(f != NULL, "%s: %s", p.out, strerror(errno));
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    long long last = -1;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t e;
        json_t *o = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &e);
        ck_assert_msg(json_is_object(o), "trace line %ld is not one JSON object (%s): %s",
                      lineno, o ? "not an object" : e.text, line);
        json_t *t = json_object_get(o, "t_us"), *nd = json_object_get(o, "node"),
               *ev = json_object_get(o, "ev");
        if (!nd) /* a client process: `client: K` */
            nd = json_object_get(o, "client");
        ck_assert_msg(json_is_integer(t) && json_is_integer(nd) && json_is_string(ev),
                      "trace line %ld lacks an integer t_us, node (or client) or a string ev: %s",
                      lineno, line);
        long long tv = (long long)json_integer_value(t);
        ck_assert_msg(tv >= last, "trace line %ld goes back in time (%lld after %lld): %s",
                      lineno, tv, last, line);
        last = tv;
        json_array_append_new(all, o);
    }
    free(line);
    fclose(f);
    return all;
}

bool h_event_is(const json_t *o, const char *ev, int node)
{
    if (ev && strcmp(json_string_value(json_object_get(o, "ev")), ev) != 0)
        return false;
    return node < 0 || json_integer_value(json_object_get(o, "node")) == node;
}

int h_trace_count(const json_t *trace, const char *ev, int node, long long after_us)
{
    int count = 0;
    size_t i;
    json_t *o;
    json_array_foreach(trace, i, o)
    {
        if (!h_event_is(o, ev, node))
            continue;
        if (after_us >= 0 && json_integer_value(json_object_get(o, "t_us")) <= after_us)
            continue;
        count++;
    }
    return count;
}

json_t *h_trace_find(const json_t *trace, const char *ev, int node)
{
    size_t i;
    json_t *o;
    json_array_foreach(trace, i, o)
    {
        if (h_event_is(o, ev, node))
            return o;
    }
    return NULL;
}

/* ---- waiting ---- */

bool h_poll(bool (*cond)(void *arg), void *arg, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    for (;;) {
        if (cond(arg))
            return true;
        if (h_now() > deadline)
            return false;
        nap(H_POLL_NS);
    }
}

int h_lock(const char *name, double timeout_s)
{
    char path[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/distlab-check.%s.lock", tmp && *tmp ? tmp : "/tmp", name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    double deadline = h_now() + timeout_s;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        ck_assert_msg(errno == EWOULDBLOCK || errno == EINTR, "flock %s: %s", path,
                      strerror(errno));
        ck_assert_msg(h_now() < deadline, "%s stayed locked for %.0f s", path, timeout_s);
        nap(H_POLL_NS);
    }
    return fd;
}

void h_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* ---- leftovers ---- */

bool h_shm_exists(const char *run_id)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/distlab.%s", run_id);
    struct stat st;
    if (stat(path, &st) == 0)
        return true;
    ck_assert_msg(errno == ENOENT, "stat %s: %s", path, strerror(errno));
    return false;
}

bool h_queue_exists(const char *run_id, int k)
{
    char name[128];
    snprintf(name, sizeof name, "/distlab.%s.n%d", run_id, k);
    mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK);
    if (q != (mqd_t)-1) {
        mq_close(q);
        return true;
    }
    ck_assert_msg(errno == ENOENT, "mq_open %s: %s (expected ENOENT)", name, strerror(errno));
    return false;
}

int h_node_procs(const char *run_id)
{
    char seg[128];
    snprintf(seg, sizeof seg, "/distlab.%s", run_id);
    DIR *d = opendir("/proc");
    ck_assert_msg(d != NULL, "/proc: %s", strerror(errno));
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue; /* gone meanwhile */
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue; /* a zombie or a kernel thread */
        buf[n] = '\0';
        /* argv is NUL-separated: distlab-node K /distlab.<id> INC */
        bool node = false, ours = false;
        for (char *a = buf; a < buf + n; a += strlen(a) + 1) {
            if (a == buf && strstr(a, "distlab-node"))
                node = true;
            else if (strcmp(a, seg) == 0)
                ours = true;
        }
        if (node && ours)
            count++;
    }
    closedir(d);
    return count;
}

static bool is_run_id(const char *s)
{
    if (strlen(s) != 8)
        return false;
    for (int i = 0; i < 8; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

void h_assert_no_leftovers_id(const char *run_id, int nodes)
{
    ck_assert_msg(is_run_id(run_id), "run id '%s' is not 8 hex digits", run_id);
    ck_assert_msg(!h_shm_exists(run_id), "run %s left its segment /dev/shm/distlab.%s", run_id,
                  run_id);
    for (int k = 0; k <= nodes; k++)
        ck_assert_msg(!h_queue_exists(run_id, k), "run %s left queue /distlab.%s.n%d", run_id,
                      run_id, k);
    int procs = h_node_procs(run_id);
    ck_assert_msg(procs == 0, "run %s left %d distlab-node process(es)", run_id, procs);
}

void h_assert_no_leftovers(const char *rundir)
{
    json_t *run = h_json_in(rundir, "run.json");
    h_assert_no_leftovers_id(h_jstr(run, "run_id"), (int)h_jint(run, "nodes"));
    json_decref(run);
}
