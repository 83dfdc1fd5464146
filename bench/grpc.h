/* A minimal gRPC client over cleartext HTTP/2 (h2c), enough for unary calls
 * to etcd's KV service from the benchmark: etcd's own clients speak it, so
 * this measures etcd as they see it, without its JSON gateway's extra hop.
 *
 * One connection, one call at a time. Requests are encoded with HPACK
 * literals that never enter the dynamic table; responses are not decoded:
 * a unary call succeeded if its stream carried a whole message and ended
 * with trailers, without a reset. Their grpc-status is taken to be OK then:
 * a gRPC server answers a failed unary call with trailers only (grpc-go,
 * etcd's, always does). No stream-level window is given back, so a
 * response may hold at most 65,535 bytes: etcd's answers to puts are some
 * 30. */
#ifndef DISTLAB_BENCH_GRPC_H
#define DISTLAB_BENCH_GRPC_H

#include <stddef.h>
#include <stdint.h>

struct grpc_conn {
    int fd, port;
    uint32_t next_stream;
    int64_t send_window;   /* the connection's, for our DATA */
    int64_t stream_window; /* a new stream's, from the server's SETTINGS */
    uint32_t unacked;      /* DATA bytes received and not yet given back */
    size_t rlen;
    uint8_t rbuf[16384 + 9 + 4096];
};

/* A TCP connection to 127.0.0.1:port, without Nagle's delay, whose reads
 * and writes give up after 10 s: its descriptor, or -1. The benchmark's
 * HTTP/1.1 client uses it too. */
int bench_loopback_connect(int port);

/* Connects to 127.0.0.1:port: 0, or -1 (errno says why). */
int grpc_open(struct grpc_conn *c, int port);
void grpc_close(struct grpc_conn *c);

/* One unary call of method (e.g. "/etcdserverpb.KV/Put") with the encoded
 * message: the response message's length (>= 0), or -1 when the call
 * failed or the connection broke (it is then closed; the next call
 * reconnects). */
long grpc_unary(struct grpc_conn *c, const char *method, const uint8_t *msg, size_t len);

/* etcd's PutRequest{key, value}, encoded into out (at least klen + vlen +
 * 12 bytes): its length. */
size_t grpc_etcd_put(uint8_t *out, const char *key, size_t klen, const char *value, size_t vlen);

#endif
