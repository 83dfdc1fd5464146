/* POSIX message queues: names, sizing against the per-user byte budget, and
 * readable errors.
 *
 * Depth is 10 (the default msg_max, which users cannot raise). Every queue is
 * charged about maxmsg * msgsize + ~1 KiB of bookkeeping against
 * RLIMIT_MSGQUEUE (819,200 bytes by default), so the message size is derived
 * from the number of queues a run needs: see mq_msgsize_for(). */
#ifndef DL_IPC_MQ_H
#define DL_IPC_MQ_H

#include <mqueue.h>
#include <stddef.h>
#include <stdint.h>

#define MQ_DEPTH 10
#define MQ_MSGSIZE_MIN 256
#define MQ_MSGSIZE_MAX 1024
/* Bytes the kernel charges per queue beyond maxmsg * msgsize (measured:
 * 231 queues of 10 x 256 B fit 819,200 B, i.e. ~986 B each). */
#define MQ_OVERHEAD 1024

/* "/distlab.<runid>.n<k>" */
void mq_queue_name(char *buf, size_t cap, uint32_t run_id, int k);

/* The message size for a run of procs processes besides the supervisor
 * (its nodes and its clients: procs + 1 queues): the largest power of two
 * from 256 to 1024 bytes such that the run takes at most a quarter of the
 * byte budget, so several runs fit at once; 256 bytes when even that does
 * not fit (from 57 processes on, a run takes more than a quarter: 233 KB
 * at 64). Bigger payloads go through shared memory. The largest run
 * (DL_MAX_PROCS processes, 193 queues of 256 bytes) needs 692 KB of the
 * default 819,200. */
size_t mq_msgsize_for(int procs);
/* Bytes the kernel will charge for q queues of msgsize. */
size_t mq_bytes_for(int q, size_t msgsize);

/* Create a queue (O_EXCL, 0600, depth MQ_DEPTH). On a budget or count limit,
 * the error names the limit and suggests `distlab clean`. */
int mq_create_queue(uint32_t run_id, int k, size_t msgsize, int nqueues, char *errbuf);
/* Open an existing queue, non-blocking: O_RDONLY for one's own inbox,
 * O_WRONLY for a peer's. Returns the descriptor or -errno. */
mqd_t mq_open_queue(uint32_t run_id, int k, int oflag, char *errbuf);
int mq_unlink_queue(uint32_t run_id, int k);
/* The owner of queue k of run_id into *uid: 0, or -errno (-ENOENT: no such
 * queue; -EACCES: another user's, unreadable). Opens it without taking
 * anything from it. */
int mq_queue_owner(uint32_t run_id, int k, uint32_t *uid);

#endif
