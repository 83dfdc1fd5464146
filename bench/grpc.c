/* A minimal gRPC client over h2c: see grpc.h. HTTP/2 is RFC 9113, HPACK
 * RFC 7541; gRPC's framing of a message is one flag byte and a 4-byte
 * big-endian length before it. */
#include "bench/grpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum {
    F_DATA = 0,
    F_HEADERS = 1,
    F_RST = 3,
    F_SETTINGS = 4,
    F_PING = 6,
    F_GOAWAY = 7,
    F_WINDOW = 8
};
enum {
    FL_END_STREAM = 0x1,
    FL_ACK = 0x1,
    FL_END_HEADERS = 0x4,
    FL_PADDED = 0x8,
    FL_PRIORITY = 0x20
};

#define H2_DEFAULT_WINDOW 65535
#define H2_MAX_FRAME      16384 /* the default we keep: the server sends no more */

static void put24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t frame_head(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
    put24(p, len);
    p[3] = type;
    p[4] = flags;
    put32(p + 5, sid & 0x7fffffffu);
    return 9;
}

static int send_all(struct grpc_conn *c, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* An HPACK string literal, not Huffman-coded; every string here is
 * shorter than 127 bytes, so its length is one byte. */
static size_t hstr(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (uint8_t)n;
    memcpy(p + 1, s, n);
    return 1 + n;
}

void grpc_close(struct grpc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int bench_loopback_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    struct timeval tv = {10, 0}; /* a stuck server fails a request, not the benchmark */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int grpc_open(struct grpc_conn *c, int port)
{
    c->port = port;
    c->next_stream = 1;
    c->send_window = H2_DEFAULT_WINDOW;
    c->stream_window = H2_DEFAULT_WINDOW;
    c->unacked = 0;
    c->rlen = 0;
    c->fd = bench_loopback_connect(port);
    if (c->fd < 0)
        return -1;
    /* The preface, SETTINGS (no server push; the rest the defaults), and a
     * larger window for the connection, so that it is given back rarely. */
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    uint8_t out[64];
    size_t n = sizeof preface - 1;
    memcpy(out, preface, n);
    n += frame_head(out + n, 6, F_SETTINGS, 0, 0);
    static const uint8_t no_push[6] = {0, 2, 0, 0, 0, 0}; /* SETTINGS_ENABLE_PUSH = 0 */
    memcpy(out + n, no_push, sizeof no_push);
    n += sizeof no_push;
    n += frame_head(out + n, 4, F_WINDOW, 0, 0);
    put32(out + n, (1u << 24) - H2_DEFAULT_WINDOW);
    n += 4;
    if (send_all(c, out, n) < 0) {
        grpc_close(c);
        return -1;
    }
    return 0;
}

/* The next frame into c->rbuf[0..9+len): 0, or -1. */
static int read_frame(struct grpc_conn *c, uint32_t *len)
{
    for (;;) {
        if (c->rlen >= 9) {
            uint32_t l = (uint32_t)c->rbuf[0] << 16 | (uint32_t)c->rbuf[1] << 8 | c->rbuf[2];
            if (l > H2_MAX_FRAME)
                return -1; /* the server broke the limit we set */
            if (c->rlen >= 9 + l) {
                *len = l;
                return 0;
            }
        }
        ssize_t got = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        c->rlen += (size_t)got;
    }
}

static void consume(struct grpc_conn *c, uint32_t len)
{
    size_t used = 9 + (size_t)len;
    memmove(c->rbuf, c->rbuf + used, c->rlen - used);
    c->rlen -= used;
}

/* The frames every stream shares: SETTINGS, PING, WINDOW_UPDATE, GOAWAY.
 * 1: handled; 0: not one of them; -1: the connection is done. */
static int connection_frame(struct grpc_conn *c, uint8_t type, uint8_t flags, uint32_t sid,
                            const uint8_t *p, uint32_t len)
{
    uint8_t out[32];
    switch (type) {
    case F_SETTINGS:
        if (flags & FL_ACK)
            return 1;
        for (uint32_t i = 0; i + 6 <= len; i += 6) {
            uint16_t id = (uint16_t)(p[i] << 8 | p[i + 1]);
            uint32_t v = get32(p + i + 2);
            if (id == 4) /* SETTINGS_INITIAL_WINDOW_SIZE */
                c->stream_window = v;
        }
        frame_head(out, 0, F_SETTINGS, FL_ACK, 0);
        return send_all(c, out, 9) < 0 ? -1 : 1;
    case F_PING:
        if ((flags & FL_ACK) || len != 8)
            return 1;
        frame_head(out, 8, F_PING, FL_ACK, 0);
        memcpy(out + 9, p, 8);
        return send_all(c, out, 17) < 0 ? -1 : 1;
    case F_WINDOW:
        if (sid == 0 && len == 4)
            c->send_window += get32(p) & 0x7fffffffu;
        return 1;
    case F_GOAWAY: return -1;
    default: return 0;
    }
}

/* Gives back the connection window once half of it is used. */
static int give_back(struct grpc_conn *c, uint32_t len)
{
    c->unacked += len;
    if (c->unacked < (1u << 23))
        return 0;
    uint8_t out[13];
    frame_head(out, 4, F_WINDOW, 0, 0);
    put32(out + 9, c->unacked);
    c->unacked = 0;
    return send_all(c, out, sizeof out);
}

long grpc_unary(struct grpc_conn *c, const char *method, const uint8_t *msg, size_t len)
{
    if (c->fd < 0 && grpc_open(c, c->port) < 0)
        return -1;
    if (c->next_stream > 0x7ffffff0u) { /* stream ids are spent: a new connection */
        grpc_close(c);
        if (grpc_open(c, c->port) < 0)
            return -1;
    }
    uint32_t sid = c->next_stream;
    c->next_stream += 2;
    size_t body = 5 + len;
    if (body > H2_MAX_FRAME || (int64_t)body > c->stream_window)
        return -1;
    /* A connection window too small for the message: wait for the server
     * to give some back. */
    while (c->send_window < (int64_t)body) {
        uint32_t flen;
        if (read_frame(c, &flen) < 0)
            goto broken;
        const uint8_t *h = c->rbuf;
        int rc = connection_frame(c, h[3], h[4], get32(h + 5) & 0x7fffffffu, h + 9, flen);
        if (rc == 0 && h[3] == F_DATA && give_back(c, flen) < 0)
            rc = -1;
        consume(c, flen);
        if (rc < 0)
            goto broken;
    }
    uint8_t out[512 + H2_MAX_FRAME];
    uint8_t *hb = out + 9;
    size_t hl = 0;
    char authority[32];
    snprintf(authority, sizeof authority, "127.0.0.1:%d", c->port);
    if (strlen(method) > 120)
        return -1;
    hb[hl++] = 0x83; /* :method POST (static table 3) */
    hb[hl++] = 0x86; /* :scheme http (6) */
    hb[hl++] = 0x04; /* :path (4), literal value, not indexed */
    hl += hstr(hb + hl, method);
    hb[hl++] = 0x01; /* :authority (1) */
    hl += hstr(hb + hl, authority);
    hb[hl++] = 0x00; /* new names, literal values, not indexed */
    hl += hstr(hb + hl, "content-type");
    hl += hstr(hb + hl, "application/grpc");
    hb[hl++] = 0x00;
    hl += hstr(hb + hl, "te");
    hl += hstr(hb + hl, "trailers");
    size_t n = frame_head(out, (uint32_t)hl, F_HEADERS, FL_END_HEADERS, sid) + hl;
    n += frame_head(out + n, (uint32_t)body, F_DATA, FL_END_STREAM, sid);
    out[n] = 0; /* not compressed */
    put32(out + n + 1, (uint32_t)len);
    memcpy(out + n + 5, msg, len);
    n += body;
    if (send_all(c, out, n) < 0)
        goto broken;
    c->send_window -= (int64_t)body;

    /* The response message's 5-byte prefix, which HTTP/2 may split
     * across DATA frames like any other bytes, and all its bytes. */
    uint8_t prefix[5];
    uint32_t have = 0;
    uint64_t bytes = 0;
    for (;;) {
        uint32_t flen;
        if (read_frame(c, &flen) < 0)
            goto broken;
        const uint8_t *h = c->rbuf, *p = c->rbuf + 9;
        uint8_t type = h[3], flags = h[4];
        uint32_t fsid = get32(h + 5) & 0x7fffffffu;
        int rc = connection_frame(c, type, flags, fsid, p, flen);
        if (rc < 0)
            goto broken;
        bool end = false, reset = false;
        if (rc == 0 && type == F_DATA) {
            if (give_back(c, flen) < 0)
                goto broken;
            if (fsid == sid) {
                uint32_t pad = 0, off = 0;
                if (flags & FL_PADDED) {
                    pad = flen ? p[0] : 0;
                    off = 1;
                }
                if (off + pad > flen) {
                    consume(c, flen);
                    goto broken; /* more padding than frame: a protocol error */
                }
                for (uint32_t i = off; i < flen - pad && have < sizeof prefix; i++)
                    prefix[have++] = p[i];
                bytes += flen - pad - off;
                /* gRPC ends every response with trailers: a stream ended
                 * by DATA is not a whole answer. */
                reset = flags & FL_END_STREAM;
            }
        } else if (rc == 0 && type == F_HEADERS && fsid == sid) {
            /* The trailers end the stream; they are not decoded. */
            end = flags & FL_END_STREAM;
        } else if (rc == 0 && type == F_RST && fsid == sid) {
            reset = true;
        }
        consume(c, flen);
        if (reset)
            return -1;
        if (end) {
            if (have < sizeof prefix || bytes < sizeof prefix + get32(prefix + 1))
                return -1; /* no message, or less of it than its prefix says */
            return (long)get32(prefix + 1);
        }
    }
broken:
    grpc_close(c);
    return -1;
}

static size_t varint(uint8_t *p, size_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t grpc_etcd_put(uint8_t *out, const char *key, size_t klen, const char *value, size_t vlen)
{
    size_t n = 0;
    out[n++] = 0x0a; /* field 1 (key), bytes */
    n += varint(out + n, klen);
    memcpy(out + n, key, klen);
    n += klen;
    out[n++] = 0x12; /* field 2 (value), bytes */
    n += varint(out + n, vlen);
    memcpy(out + n, value, vlen);
    return n + vlen;
}
