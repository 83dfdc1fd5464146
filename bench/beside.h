/* Shared by the benchmarks: the distlab program built beside them. */
#ifndef DL_BENCH_BESIDE_H
#define DL_BENCH_BESIDE_H

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The distlab in the directory above this program's (bench/..) into exe
 * (cap bytes). -1 if this program's own path is unknown. */
static int bench_distlab_beside(char *exe, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(exe, cap, "%.4000s/distlab", self);
    return 0;
}

#endif
