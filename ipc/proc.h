/* Process helpers: start times (to tell a live pid from a reused one),
 * signal names, fork+exec of a node, and waiting on children. */
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
