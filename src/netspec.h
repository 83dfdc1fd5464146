/* Network fault specifications, as the INI schedule ([fault.N] target of a
 * partition or a net fault) and the `distlab partition` / `distlab net`
 * commands write them. Pure parsing: no I/O, no shared memory.
 *
 * Links are directed: a link a->b carries the messages a sends to b. Nodes
 * are 1..n; node 0 (the supervisor) is never part of a network fault.
 *
 * Partition specs:
 *   "1,2/3,4,5"       sides: every link between two sides is cut, both ways.
 *                     A node not listed is a side of its own (cut off from
 *                     everyone). Ranges are allowed: "1-3/4-5".
 *   "1->3"            one-way: 1's messages to 3 are lost, 3's reach 1.
 *   "1<->3"           both ways between 1 and 3 only.
 *   "3->*", "*->3"    everything 3 sends / everything sent to 3.
 *   "1->3,2<->4"      a comma-separated list of link items (no '/').
 *
 * Link lists (which links a net fault changes): "all" or "" for every
 * link, else link items as above ("1->3,2<->4", "3->*").
 *
 * Net assignments: "loss=0.1" (0..1; "10%" also), "delay=5ms",
 * "jitter=2ms" (durations as in the configuration). */
#ifndef DL_SRC_NETSPEC_H
#define DL_SRC_NETSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/wire.h" /* DL_MAX_NODES */

#define NETSPEC_ERRLEN 256
#define NETSPEC_MAX_DELAY_US (INT64_C(60) * 1000000) /* delay and jitter: at most 60 s each */

/* A set of directed links of an n-node cluster: on[a][b] for a, b in 1..n,
 * a != b. About 16 KiB: keep it off small stacks in hot code. */
struct net_links {
    int n;
    uint8_t on[DL_MAX_NODES + 1][DL_MAX_NODES + 1];
};

/* What a net fault sets; a field not given (has_* false) is left as it is. */
struct net_params {
    bool has_loss, has_delay, has_jitter;
    double loss;        /* 0..1 */
    int64_t delay_us;   /* 0..NETSPEC_MAX_DELAY_US */
    int64_t jitter_us;  /* 0..NETSPEC_MAX_DELAY_US */
};

/* Parse a partition spec for n nodes into *out (every link it cuts).
 * Returns 0, or -EINVAL with a message in err (NETSPEC_ERRLEN bytes, may be
 * NULL) saying what was expected. A spec that cuts no link is an error. */
int netspec_partition(const char *text, int n, struct net_links *out, char *err);

/* Parse a link list ("all", "" or link items) for n nodes. */
int netspec_links(const char *text, int n, struct net_links *out, char *err);

/* Parse one "key=value" net assignment into *p. Returns 0, -ENOENT when
 * text is not an assignment at all (no '=': a caller may try it as a link
 * list), or -EINVAL with err. */
int netspec_assign(const char *text, struct net_params *p, char *err);

/* Number of links set. */
int netspec_count(const struct net_links *l);

/* A short description of a link set for messages and reports, such as
 * "1,2 | 3,4,5" when it is exactly a partition into sides, else "1->3,
 * 2->4" (truncated with "..." to fit cap). */
void netspec_describe(const struct net_links *l, char *buf, size_t cap);

#endif
