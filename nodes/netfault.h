/* A change of one directed link's network fault state: what the supervisor
 * writes to the shared segment and traces as TR_LINK, and what the
 * simulator applies. Plain data, shared by the supervisor (src/netstate.h),
 * the simulator (nodes/sim.h) and the report. */
#ifndef DL_NODES_NETFAULT_H
#define DL_NODES_NETFAULT_H

#include <stdint.h>

struct net_change {
    uint16_t from, to;  /* the link from -> to: what `from` sends to `to` */
    uint8_t cut;        /* 1: everything on it is lost (at the receiver) */
    uint32_t loss_ppm;  /* loss probability in millionths */
    uint32_t delay_us;  /* added delay */
    uint32_t jitter_us; /* plus uniform [0, jitter] */
};

#define NET_PPM 1000000u

#endif
