/* Fan a numbered job list out over forked worker processes, for work that
 * is independent per item and heavy enough to use every CPU (a sweep of
 * simulator seeds): results come back through pipes, in order. */
#ifndef DL_IPC_WORKERS_H
#define DL_IPC_WORKERS_H

#include <stddef.h>

/* The workers a machine-wide map should use: the CPUs online, 1..16. */
int workers_default(void);

/* Compute item i (0 <= i < count) into res (size bytes); runs in a worker. */
typedef void (*workers_fn)(long i, void *res, void *ctx);
/* Take item i's result; runs in the caller, for i = 0, 1, ... in order. */
typedef void (*workers_sink)(long i, const void *res, void *user);

/* Run fn over 0..count-1 in `jobs` workers (worker w takes items w,
 * w + jobs, ...), and give each result to sink in the order of i. With
 * jobs <= 1 everything runs here, in order, without forking. stdout and
 * stderr are flushed first; a worker ends with _exit. Returns 0, or
 * -errno when a pipe or a fork failed or a worker died (err says which;
 * the results given to sink until then stand). */
int workers_map(int jobs, long count, size_t size, workers_fn fn, void *ctx, workers_sink sink,
                void *user, char *err);

#endif
