/* Process helpers: start times (to tell a live pid from a reused one),
 * what /proc says of a process (to check that a pid is what a run's table
 * claims before signalling it), pidfds (so a recycled pid is never
 * signalled), signal names, and fork+exec of a node. */
#ifndef DL_IPC_PROC_H
#define DL_IPC_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The start time of pid in clock ticks since boot (field 22 of
 * /proc/PID/stat), or 0 if the process does not exist. */
uint64_t proc_start_time(pid_t pid);
/* Is pid alive and started at start_time (0 = any)? A zombie counts as gone. */
bool proc_alive(pid_t pid, uint64_t start_time);

/* What /proc/PID/stat and /proc/PID/status say of a live process. */
struct proc_info {
    char state;          /* R, S, D, T, t, ... */
    pid_t ppid;
    uint64_t start_time; /* as proc_start_time */
    uid_t ruid, euid;
};
/* 0, or -ESRCH when pid is gone or a zombie, or another -errno. */
int proc_info(pid_t pid, struct proc_info *pi);

/* /proc/PID/cmdline into buf: the arguments, each followed by a NUL.
 * Returns its length (0 for a zombie or a kernel thread), -ESRCH when pid
 * is gone, -E2BIG when it does not fit in cap bytes. */
int proc_cmdline(pid_t pid, char *buf, size_t cap);

/* Does pid have the file now at `path` (absolute, e.g.
 * "/dev/shm/distlab.0a1b2c3d") mapped? False when the mapping is of an
 * unlinked file, or when /proc/PID/maps cannot be read (another user's
 * process). */
bool proc_maps_path(pid_t pid, const char *path);

/* pidfd_open(2) (Linux 5.3): a descriptor that names this process and no
 * other, even once its pid is reused. Returns it, or -errno (-ESRCH: gone). */
int proc_pidfd_open(pid_t pid);
/* pidfd_send_signal(2): sig to the process behind pidfd (0: only check that
 * it is still alive). 0, or -errno (-ESRCH: it has ended). */
int proc_pidfd_signal(int pidfd, int sig);

/* "SIGKILL" for 9, etc. */
const char *proc_signame(int sig);

/* The absolute path of the running executable. */
int proc_self_exe(char *buf, size_t cap);

/* fork + exec path with argv in a child that dies with its parent
 * (PR_SET_PDEATHSIG), has the signal mask reset, has the "NAME=value"
 * strings of env (NULL-terminated, may be NULL) added to its environment,
 * and has stdout and stderr appended to logpath (if not NULL). Returns the
 * pid or -errno. */
pid_t proc_spawn(const char *path, char *const argv[], char *const env[], const char *logpath);

#endif
