#include "ipc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipc/util.h"

/* Read /proc/PID/NAME (one read: these files are small) into buf as a
 * string. Returns its length, -ESRCH when the process is gone, or -errno. */
static int read_proc(pid_t pid, const char *name, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return e == ENOENT ? -ESRCH : -e;
    if (n == 0)
        return -ESRCH;
    buf[n] = '\0';
    return (int)n;
}

/* Fields of /proc/PID/stat: the command name (field 2) may contain spaces
 * and parentheses, so parse from the last ')'. Then field 3 is the state,
 * field 4 the parent, field 22 the start time. */
static int read_stat(pid_t pid, char *state, pid_t *ppid, uint64_t *start)
{
    char buf[1024];
    int n = read_proc(pid, "stat", buf, sizeof buf);
    if (n < 0)
        return n;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == '\0')
        return -EPROTO;
    p += 2;
    *state = *p;
    char *end;
    p = strchr(p, ' ');
    if (!p)
        return -EPROTO;
    *ppid = (pid_t)strtol(p + 1, &end, 10);
    for (int field = 4; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -EPROTO;
    }
    *start = strtoull(p + 1, &end, 10);
    return 0;
}

uint64_t proc_start_time(pid_t pid)
{
    char state;
    pid_t ppid;
    uint64_t start;
    if (pid <= 0 || read_stat(pid, &state, &ppid, &start) < 0)
        return 0;
    if (state == 'Z' || state == 'X')
        return 0;
    return start;
}

/* The real and effective uid from /proc/PID/status ("Uid:\tR\tE\tS\tF"). */
static int read_uids(pid_t pid, uid_t *ruid, uid_t *euid)
{
    char buf[4096];
    int n = read_proc(pid, "status", buf, sizeof buf);
    if (n < 0)
        return n;
    const char *u = strstr(buf, "\nUid:");
    unsigned long r, ef;
    if (!u || sscanf(u + 5, "%lu %lu", &r, &ef) != 2)
        return -EPROTO;
    *ruid = (uid_t)r;
    *euid = (uid_t)ef;
    return 0;
}

int proc_info(pid_t pid, struct proc_info *pi)
{
    memset(pi, 0, sizeof *pi);
    if (pid <= 0)
        return -ESRCH;
    int rc = read_stat(pid, &pi->state, &pi->ppid, &pi->start_time);
    if (rc < 0)
        return rc;
    if (pi->state == 'Z' || pi->state == 'X')
        return -ESRCH;
    return read_uids(pid, &pi->ruid, &pi->euid);
}

int proc_cmdline(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got == cap)
        return -E2BIG;
    return (int)got;
}

bool proc_maps_path(pid_t pid, const char *path)
{
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "re");
    if (!f)
        return false;
    /* "start-end perms offset dev inode   path": the path begins at the
     * first '/' after the inode, and an unlinked file ends in " (deleted)",
     * which this exact comparison refuses. */
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool found = false;
    while (!found && (n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        const char *p = strchr(line, '/');
        found = p && strcmp(p, path) == 0;
    }
    free(line);
    fclose(f);
    return found;
}

int proc_pidfd_open(pid_t pid)
{
    if (pid <= 0)
        return -ESRCH;
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int proc_pidfd_signal(int pidfd, int sig)
{
    for (;;) {
        if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

bool proc_alive(pid_t pid, uint64_t start_time)
{
    if (pid <= 0)
        return false;
    uint64_t st = proc_start_time(pid);
    if (st == 0)
        return false;
    return start_time == 0 || st == start_time;
}

const char *proc_signame(int sig)
{
    switch (sig) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGSTOP: return "SIGSTOP";
    case SIGCONT: return "SIGCONT";
    case SIGINT: return "SIGINT";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGTSTP: return "SIGTSTP";
    case SIGTTIN: return "SIGTTIN";
    case SIGTTOU: return "SIGTTOU";
    case SIGALRM: return "SIGALRM";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGXCPU: return "SIGXCPU";
    default: return "signal";
    }
}

int proc_self_exe(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

pid_t proc_spawn(const char *path, char *const argv[], char *const env[], const char *logpath)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        return pid;
    /* Child: die with the launcher, so a SIGKILLed launcher leaves no orphan.
     * If the parent already died between fork and prctl, go now. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    /* ^C and ^\ in a terminal reach the whole process group: only the
     * launcher acts on them (it stops the nodes in order). Ignored signals
     * stay ignored across exec, so a node is safe from the first moment. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    /* Past a file-size limit (RLIMIT_FSIZE) a write then fails with EFBIG,
     * which the trace writer records as a cut; left at its default, SIGXFSZ
     * would kill the node: a crash that nobody injected. */
    signal(SIGXFSZ, SIG_IGN);
    for (int i = 0; env && env[i]; i++)
        putenv(env[i]);
    if (logpath) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            if (fd > STDERR_FILENO)
                close(fd);
        }
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        if (devnull > STDIN_FILENO)
            close(devnull);
    }
    /* Nothing else the caller had open reaches the node. */
    close_range(3, ~0U, 0);
    execv(path, argv);
    fprintf(stderr, "distlab: cannot exec %s: %s\n", path, strerror(errno));
    _exit(127);
}
