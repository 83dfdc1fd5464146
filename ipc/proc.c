#include "ipc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ipc/util.h"

uint64_t proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) may contain spaces and parentheses: parse
     * from the last ')'. Then field 3 is the state, field 22 the start. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] == '\0')
        return 0;
    p += 2;
    char state = *p;
    if (state == 'Z' || state == 'X')
        return 0;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
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
