/* bench/grpc.c, the benchmark's gRPC client over h2c, against a fake HTTP/2
 * server: a thread on an ephemeral loopback port that verifies what the
 * client sends (the preface, its SETTINGS and WINDOW_UPDATE, each request's
 * HEADERS and DATA, the ACKs it owes) and answers each request by the
 * script of the test. The server answers a request only once it has read
 * all of it, and the client's calls return only on the server's frames, so
 * the protocol itself orders the two threads. A client that waits where it
 * should not is caught by the server's receive timeout, which ends the
 * connection and records an error. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench/grpc.h"

enum {
    F_DATA = 0,
    F_HEADERS = 1,
    F_RST = 3,
    F_SETTINGS = 4,
    F_PING = 6,
    F_GOAWAY = 7,
    F_WINDOW = 8
};
enum { FL_END_STREAM = 0x1, FL_ACK = 0x1, FL_END_HEADERS = 0x4, FL_PADDED = 0x8 };

#define PREFACE        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN    24
#define MAX_REQS       8
#define BLOCK_MAX      512
#define DATA_MAX       2048
#define SERVER_TIMEOUT 3 /* seconds: a hung client fails the test, not the run */
#define PING_PAYLOAD   "\x01\x23\x45\x67\x89\xab\xcd\xef"
#define WINDOW_SETTING (1u << 20)
#define METHOD         "/etcdserverpb.KV/Put"

/* What the server does with each request. */
enum script {
    S_OK,            /* a message of 7 bytes, then of 300 */
    S_TRAILERS_ONLY, /* the first: trailers only (a gRPC failure); then 7 */
    S_RST,           /* the first: RST_STREAM; then 7 */
    S_OTHER_STREAMS, /* 7, with frames of other streams around it */
    S_GOAWAY,        /* the first: GOAWAY; then 7 */
    S_PADDED,        /* 7, in two padded DATA frames, then trailers */
    S_NO_TRAILERS,   /* the first: a message, END_STREAM on its DATA; then 7 */
    S_SHORT,         /* the first: 3 bytes of a message of 7, trailers; then 7 */
    S_SPLIT,         /* 7, its 5-byte prefix split 3 + 2 across two DATA frames */
    S_BROKEN,        /* the first: the connection is closed; then 7 */
    S_BIG_FRAME,     /* the first: a frame over 16384 bytes; then 7 */
    S_BAD_PAD        /* the first: DATA padded past its own end; then 7 */
};

/* A request as the server read it. */
struct req {
    int conn;
    uint32_t sid;
    uint8_t hflags, dflags; /* the HEADERS frame's, the last DATA frame's */
    int ndata;              /* its DATA frames */
    size_t hlen, dlen;
    uint8_t hblock[BLOCK_MAX];
    uint8_t data[DATA_MAX];
};

struct srv {
    int lfd, port;
    enum script script;
    int conns;     /* connections to serve, one after the other */
    bool greet;    /* SETTINGS, SETTINGS ACK and PING on each connection */
    bool push_off; /* the client's SETTINGS turned server push off */
    pthread_t thread;
    bool goaway; /* sent on the current connection */
    /* What it saw; read by the test after the join. */
    int accepted, nreq, settings_acks, ping_acks;
    struct req req[MAX_REQS];
    uint8_t ping_ack[8];
    uint32_t window_inc;
    char err[256]; /* the first thing that was wrong */
};

__attribute__((format(printf, 2, 3))) static void srv_fail(struct srv *s, const char *fmt, ...)
{
    if (s->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

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

/* n bytes: 1; the peer closed before the first: 0; else -1. */
static int rd(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 && got == 0)
            return 0;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 1;
}

static int wr(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int frame(int fd, uint8_t type, uint8_t flags, uint32_t sid, const void *payload, size_t len)
{
    uint8_t h[9];
    put24(h, (uint32_t)len);
    h[3] = type;
    h[4] = flags;
    put32(h + 5, sid);
    if (wr(fd, h, 9) < 0)
        return -1;
    return len ? wr(fd, payload, len) : 0;
}

/* Any bytes do as header blocks: the client does not decode them. */
static const uint8_t status_200[] = {0x88};
static const uint8_t grpc_status_0[] = {0x40, 11,  'g', 'r', 'p', 'c', '-', 's',
                                        't',  'a', 't', 'u', 's', 1,   '0'};

/* The gRPC prefix of an n-byte message at p, and the message: 5 + n. */
static size_t message(uint8_t *p, uint32_t n)
{
    p[0] = 0;
    put32(p + 1, n);
    memset(p + 5, 'm', n);
    return 5 + n;
}

/* A successful response: HEADERS, DATA with an n-byte message, trailers. */
static int send_ok(int fd, uint32_t sid, uint32_t n)
{
    uint8_t d[5 + 1000];
    size_t dl = message(d, n);
    return frame(fd, F_HEADERS, FL_END_HEADERS, sid, status_200, sizeof status_200) < 0 ||
                   frame(fd, F_DATA, 0, sid, d, dl) < 0 ||
                   frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, sid, grpc_status_0,
                         sizeof grpc_status_0) < 0
               ? -1
               : 0;
}

/* Frames of streams other than sid, then 7 for sid, with more around it:
 * among them a reset of sid + 2, the client's next stream, which it has not
 * opened yet (a server would not send it; it catches a client that looks
 * at the wrong stream id). */
static int send_with_others(int fd, uint32_t sid)
{
    uint8_t d[5 + 1000], rst[4] = {0, 0, 0, 8};
    d[0] = 0;
    put32(d + 1, 1234); /* claims 1234 bytes, carries 20 */
    memset(d + 5, 'o', 20);
    size_t big = 25;
    if (frame(fd, F_HEADERS, FL_END_HEADERS, 99, status_200, sizeof status_200) < 0 ||
        frame(fd, F_DATA, 0, 99, d, big) < 0 ||
        frame(fd, F_HEADERS, FL_END_HEADERS, sid, status_200, sizeof status_200) < 0 ||
        frame(fd, F_DATA, FL_END_STREAM, 99, d, 5) < 0 ||
        frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, 97, grpc_status_0,
              sizeof grpc_status_0) < 0 ||
        frame(fd, F_RST, 0, sid + 2, rst, 4) < 0)
        return -1;
    size_t dl = message(d, 7);
    if (frame(fd, F_DATA, 0, sid, d, dl) < 0 || frame(fd, F_RST, 0, 99, rst, 4) < 0 ||
        frame(fd, F_DATA, FL_END_STREAM, 101, d, dl) < 0)
        return -1;
    return frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, sid, grpc_status_0,
                 sizeof grpc_status_0);
}

/* 7 in two padded DATA frames: the prefix and 3 bytes behind a pad length
 * of 4, the other 4 bytes behind one of 9, END_STREAM on the second. A
 * client that ignored the padding would read 0 as the length. */
static int send_padded(int fd, uint32_t sid)
{
    uint8_t d[64] = {0}, m[16];
    message(m, 7);
    d[0] = 4;
    memcpy(d + 1, m, 8);
    if (frame(fd, F_HEADERS, FL_END_HEADERS, sid, status_200, sizeof status_200) < 0 ||
        frame(fd, F_DATA, FL_PADDED, sid, d, 1 + 8 + 4) < 0)
        return -1;
    memset(d, 0, sizeof d);
    d[0] = 9;
    memcpy(d + 1, m + 8, 4);
    if (frame(fd, F_DATA, FL_PADDED, sid, d, 1 + 4 + 9) < 0)
        return -1;
    return frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, sid, grpc_status_0,
                 sizeof grpc_status_0);
}

/* 7 with the gRPC prefix split across two DATA frames, as HTTP/2 allows:
 * a client that took a frame's first bytes for the prefix would read the
 * message's bytes as a length. */
static int send_split(int fd, uint32_t sid)
{
    uint8_t m[16];
    size_t ml = message(m, 7);
    if (frame(fd, F_HEADERS, FL_END_HEADERS, sid, status_200, sizeof status_200) < 0 ||
        frame(fd, F_DATA, 0, sid, m, 3) < 0 || frame(fd, F_DATA, 0, sid, m + 3, ml - 3) < 0)
        return -1;
    return frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, sid, grpc_status_0,
                 sizeof grpc_status_0);
}

/* The answer to request i: 0, keep reading; 1, close the connection; -1,
 * the connection broke. */
static int respond(struct srv *s, int fd, const struct req *r, int i)
{
    switch (s->script) {
    case S_OK: return send_ok(fd, r->sid, i == 0 ? 7 : 300);
    case S_TRAILERS_ONLY:
        if (i > 0)
            return send_ok(fd, r->sid, 7);
        return frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, r->sid, grpc_status_0,
                     sizeof grpc_status_0);
    case S_RST:
        if (i > 0)
            return send_ok(fd, r->sid, 7);
        return frame(fd, F_RST, 0, r->sid, "\0\0\0\x08", 4); /* CANCEL */
    case S_OTHER_STREAMS: return send_with_others(fd, r->sid);
    case S_GOAWAY:
        if (i > 0)
            return send_ok(fd, r->sid, 7);
        s->goaway = true;
        return frame(fd, F_GOAWAY, 0, 0, "\0\0\0\0\0\0\0\0", 8);
    case S_PADDED: return send_padded(fd, r->sid);
    case S_SPLIT: return send_split(fd, r->sid);
    case S_BROKEN: return i > 0 ? send_ok(fd, r->sid, 7) : 1;
    case S_NO_TRAILERS:
    case S_SHORT: {
        if (i > 0)
            return send_ok(fd, r->sid, 7);
        uint8_t m[16];
        size_t ml = message(m, 7);
        /* S_NO_TRAILERS: the whole message, the stream ended on it;
         * S_SHORT: 3 of its 7 bytes, then trailers. */
        bool short_msg = s->script == S_SHORT;
        if (frame(fd, F_HEADERS, FL_END_HEADERS, r->sid, status_200, sizeof status_200) < 0 ||
            frame(fd, F_DATA, short_msg ? 0 : FL_END_STREAM, r->sid, m, short_msg ? 5 + 3 : ml) < 0)
            return -1;
        return short_msg ? frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, r->sid,
                                 grpc_status_0, sizeof grpc_status_0)
                         : 0;
    }
    case S_BAD_PAD: {
        if (i > 0)
            return send_ok(fd, r->sid, 7);
        uint8_t d[2] = {200, 0}; /* 200 bytes of padding in a 2-byte frame */
        return frame(fd, F_DATA, FL_PADDED | FL_END_STREAM, r->sid, d, sizeof d);
    }
    case S_BIG_FRAME: {
        if (i > 0)
            return send_ok(fd, r->sid, 7);
        uint8_t h[9] = {0};
        put24(h, 16385);
        h[3] = F_DATA;
        put32(h + 5, r->sid);
        return wr(fd, h, 9); /* no payload: the header alone must do */
    }
    }
    return -1;
}

static int greet(int fd)
{
    uint8_t set[6] = {0, 4}; /* SETTINGS_INITIAL_WINDOW_SIZE */
    put32(set + 2, WINDOW_SETTING);
    return frame(fd, F_SETTINGS, 0, 0, set, 6) < 0 ||
                   frame(fd, F_SETTINGS, FL_ACK, 0, NULL, 0) < 0 ||
                   frame(fd, F_PING, 0, 0, PING_PAYLOAD, 8) < 0
               ? -1
               : 0;
}

/* One connection, until the client closes it or the script does. */
static void serve(struct srv *s, int fd, int conn)
{
    uint8_t pre[PREFACE_LEN], h[9], p[16384];
    if (rd(fd, pre, PREFACE_LEN) != 1 || memcmp(pre, PREFACE, PREFACE_LEN) != 0) {
        srv_fail(s, "conn %d: no client preface", conn);
        return;
    }
    s->goaway = false;
    bool first = true;
    uint32_t last_sid = 0;
    struct req *cur = NULL;
    for (;;) {
        int r = rd(fd, h, 9);
        if (r == 0)
            return; /* the client closed */
        if (r < 0) {
            srv_fail(s, "conn %d: no frame from the client (%s)", conn,
                     errno == EAGAIN ? "timeout" : "broken");
            return;
        }
        uint32_t len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
        uint8_t type = h[3], flags = h[4];
        uint32_t sid = get32(h + 5) & 0x7fffffffu;
        if (len > sizeof p || (len && rd(fd, p, len) != 1)) {
            srv_fail(s, "conn %d: a truncated frame, or one of %u bytes", conn, len);
            return;
        }
        if (first) {
            first = false;
            if (type != F_SETTINGS || flags != 0 || sid != 0 || len % 6 != 0)
                srv_fail(s, "conn %d: the first frame is not a SETTINGS", conn);
            /* Server push turned off: SETTINGS_ENABLE_PUSH (2) = 0. */
            for (uint32_t i = 0; type == F_SETTINGS && i + 6 <= len; i += 6)
                if (p[i] == 0 && p[i + 1] == 2 && get32(p + i + 2) == 0)
                    s->push_off = true;
            if (s->greet && greet(fd) < 0) {
                srv_fail(s, "conn %d: greeting failed", conn);
                return;
            }
            continue;
        }
        switch (type) {
        case F_SETTINGS:
            if (!(flags & FL_ACK) || len != 0 || sid != 0)
                srv_fail(s, "conn %d: a SETTINGS that is not an empty ACK", conn);
            s->settings_acks++;
            break;
        case F_PING:
            if (!(flags & FL_ACK) || len != 8 || sid != 0)
                srv_fail(s, "conn %d: a PING that is not an ACK of 8 bytes", conn);
            else
                memcpy(s->ping_ack, p, 8);
            s->ping_acks++;
            break;
        case F_WINDOW:
            if (sid != 0 || len != 4)
                srv_fail(s, "conn %d: a WINDOW_UPDATE not for the connection", conn);
            else
                s->window_inc = get32(p);
            break;
        case F_HEADERS:
            if (s->goaway)
                srv_fail(s, "conn %d: a request after GOAWAY", conn);
            if (!(sid & 1) || sid <= last_sid)
                srv_fail(s, "conn %d: stream %u after %u", conn, sid, last_sid);
            if (s->nreq == MAX_REQS || len > BLOCK_MAX) {
                srv_fail(s, "conn %d: too many requests, or too long a header block", conn);
                return;
            }
            last_sid = sid;
            cur = &s->req[s->nreq++];
            cur->conn = conn;
            cur->sid = sid;
            cur->hflags = flags;
            cur->hlen = len;
            memcpy(cur->hblock, p, len);
            break;
        case F_DATA:
            if (!cur || sid != cur->sid || cur->dlen + len > DATA_MAX) {
                srv_fail(s, "conn %d: DATA on stream %u, not the request's", conn, sid);
                return;
            }
            memcpy(cur->data + cur->dlen, p, len);
            cur->dlen += len;
            cur->dflags = flags;
            cur->ndata++;
            if (flags & FL_END_STREAM) {
                int a = respond(s, fd, cur, s->nreq - 1);
                if (a < 0)
                    srv_fail(s, "conn %d: the response could not be sent", conn);
                if (a != 0)
                    return;
            }
            break;
        default: srv_fail(s, "conn %d: a frame of type %u from the client", conn, type);
        }
    }
}

static void *server(void *arg)
{
    struct srv *s = arg;
    for (int i = 0; i < s->conns; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            srv_fail(s, "no connection %d: %s", i, strerror(errno));
            break;
        }
        s->accepted++;
        struct timeval tv = {SERVER_TIMEOUT, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        serve(s, fd, i);
        close(fd);
    }
    return NULL;
}

/* Listens (before the thread starts, so that the client's connect cannot
 * come first) and starts the server. */
static void srv_start(struct srv *s, enum script script, int conns, bool greet_each)
{
    memset(s, 0, sizeof *s);
    s->script = script;
    s->conns = conns;
    s->greet = greet_each;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s->lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(s->lfd, 4), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    struct timeval tv = {SERVER_TIMEOUT, 0}; /* for accept */
    setsockopt(s->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, server, s), 0);
}

/* Closes the client (the server reads its end), joins the server, and
 * checks that it found nothing wrong. */
static void srv_finish(struct srv *s, struct grpc_conn *c)
{
    grpc_close(c);
    ck_assert_int_eq(pthread_join(s->thread, NULL), 0);
    close(s->lfd);
    ck_assert_msg(s->err[0] == 0, "server: %s", s->err);
}

/* A put of "k" = "v1", its encoding in put: its length. */
static size_t put_msg(uint8_t *put)
{
    return grpc_etcd_put(put, "k", 1, "v1", 2);
}

static void assert_req(const struct srv *s, int i, int conn, uint32_t sid)
{
    ck_assert_int_gt(s->nreq, i);
    ck_assert_int_eq(s->req[i].conn, conn);
    ck_assert_uint_eq(s->req[i].sid, sid);
}

/* Two calls of one client against a server running script, over conns
 * connections at most: their results in r, the client's descriptor after
 * the first in *fd_after (if asked), once the server is done. */
static void two_calls(struct srv *s, enum script script, int conns, long r[2], int *fd_after)
{
    srv_start(s, script, conns, false);
    struct grpc_conn c;
    ck_assert_int_eq(grpc_open(&c, s->port), 0);
    uint8_t put[64];
    size_t pl = put_msg(put);
    r[0] = grpc_unary(&c, METHOD, put, pl);
    if (fd_after)
        *fd_after = c.fd;
    r[1] = grpc_unary(&c, METHOD, put, pl);
    srv_finish(s, &c);
}

START_TEST(test_success)
{
    struct srv s;
    srv_start(&s, S_OK, 1, true);
    struct grpc_conn c;
    ck_assert_int_eq(grpc_open(&c, s.port), 0);
    uint8_t put[64];
    size_t pl = put_msg(put);
    long r1 = grpc_unary(&c, METHOD, put, pl);
    long r2 = grpc_unary(&c, METHOD, put, pl);
    int64_t stream_window = c.stream_window;
    srv_finish(&s, &c);

    ck_assert_int_eq(r1, 7);
    ck_assert_int_eq(r2, 300);
    ck_assert_int_eq(s.accepted, 1);
    ck_assert_int_eq(s.nreq, 2);
    assert_req(&s, 0, 0, 1);
    assert_req(&s, 1, 0, 3);
    /* What the client owes the server's greeting, and its own window. */
    ck_assert(s.push_off);
    ck_assert_int_eq(s.settings_acks, 1);
    ck_assert_int_eq(s.ping_acks, 1);
    ck_assert_mem_eq(s.ping_ack, PING_PAYLOAD, 8);
    ck_assert_int_eq(stream_window, WINDOW_SETTING);
    ck_assert_uint_eq(s.window_inc, (1u << 24) - 65535);
    for (int i = 0; i < 2; i++) {
        const struct req *q = &s.req[i];
        ck_assert_uint_eq(q->hflags, FL_END_HEADERS);
        /* :path as a literal with an indexed name (4), then its length. */
        ck_assert_ptr_nonnull(memmem(q->hblock, q->hlen, "\x04\x14" METHOD, sizeof METHOD - 1 + 2));
        ck_assert_ptr_nonnull(memmem(q->hblock, q->hlen, "application/grpc", 16));
        ck_assert_int_eq(q->ndata, 1);
        ck_assert_uint_eq(q->dflags, FL_END_STREAM);
        ck_assert_uint_eq(q->dlen, 5 + pl);
        ck_assert_uint_eq(q->data[0], 0);
        ck_assert_uint_eq(get32(q->data + 1), pl);
        ck_assert_mem_eq(q->data + 5, put, pl);
    }
}
END_TEST

START_TEST(test_trailers_only)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_TRAILERS_ONLY, 1, r, NULL);
    ck_assert_int_eq(r[0], -1);
    /* A failed call, not a broken connection: the next uses it. */
    ck_assert_int_eq(r[1], 7);
    assert_req(&s, 1, 0, 3);
}
END_TEST

/* A reset ends the stream, not the connection (RFC 9113 6.4): the call
 * fails at once, and the next call is the connection's next stream. */
START_TEST(test_rst_stream)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_RST, 1, r, NULL);
    ck_assert_int_eq(r[0], -1);
    ck_assert_int_eq(r[1], 7);
    ck_assert_int_eq(s.nreq, 2);
    assert_req(&s, 0, 0, 1);
    assert_req(&s, 1, 0, 3);
}
END_TEST

START_TEST(test_other_streams_ignored)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_OTHER_STREAMS, 1, r, NULL);
    ck_assert_int_eq(r[0], 7);
    /* The RST_STREAM for stream 3 came before stream 3 was opened. */
    ck_assert_int_eq(r[1], 7);
    assert_req(&s, 1, 0, 3);
}
END_TEST

START_TEST(test_goaway)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_GOAWAY, 2, r, NULL);
    ck_assert_int_eq(r[0], -1);
    /* The client closed the connection and opened a new one. */
    ck_assert_int_eq(r[1], 7);
    ck_assert_int_eq(s.accepted, 2);
    assert_req(&s, 1, 1, 1);
}
END_TEST

START_TEST(test_padded_data)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_PADDED, 1, r, NULL);
    ck_assert_int_eq(r[0], 7);
    ck_assert_int_eq(r[1], 7);
    assert_req(&s, 1, 0, 3);
}
END_TEST

START_TEST(test_split_prefix)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_SPLIT, 1, r, NULL);
    ck_assert_int_eq(r[0], 7);
    ck_assert_int_eq(r[1], 7);
    assert_req(&s, 1, 0, 3);
}
END_TEST

START_TEST(test_connection_broken)
{
    struct srv s;
    long r[2];
    int fd_after;
    two_calls(&s, S_BROKEN, 2, r, &fd_after);
    ck_assert_int_eq(r[0], -1);
    ck_assert_int_eq(fd_after, -1);
    ck_assert_int_eq(r[1], 7);
    ck_assert_int_eq(s.accepted, 2);
    assert_req(&s, 1, 1, 1);
}
END_TEST

/* A stream that is not a whole gRPC answer fails the call, not the
 * connection: no trailers, or less of the message than its prefix says. */
START_TEST(test_no_trailers)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_NO_TRAILERS, 1, r, NULL);
    ck_assert_int_eq(r[0], -1);
    ck_assert_int_eq(r[1], 7);
    assert_req(&s, 1, 0, 3);
}
END_TEST

START_TEST(test_short_message)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_SHORT, 1, r, NULL);
    ck_assert_int_eq(r[0], -1);
    ck_assert_int_eq(r[1], 7);
    assert_req(&s, 1, 0, 3);
}
END_TEST

/* Stream ids run out after some 10^9 calls: the next call opens a new
 * connection and starts again at stream 1. */
START_TEST(test_stream_ids_spent)
{
    struct srv s;
    srv_start(&s, S_OK, 2, false);
    struct grpc_conn c;
    ck_assert_int_eq(grpc_open(&c, s.port), 0);
    c.next_stream = 0x7ffffff1u;
    uint8_t put[64];
    size_t pl = put_msg(put);
    long r = grpc_unary(&c, METHOD, put, pl);
    srv_finish(&s, &c);
    ck_assert_int_eq(r, 7);
    ck_assert_int_eq(s.accepted, 2);
    ck_assert_int_eq(s.nreq, 1);
    assert_req(&s, 0, 1, 1);
}
END_TEST

/* A protocol error from the server: the call fails and the client starts
 * over on a new connection rather than read past the frame. */
START_TEST(test_bad_padding)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_BAD_PAD, 2, r, NULL);
    ck_assert_int_eq(r[0], -1);
    ck_assert_int_eq(r[1], 7);
    ck_assert_int_eq(s.accepted, 2);
    assert_req(&s, 1, 1, 1);
}
END_TEST

START_TEST(test_frame_too_big)
{
    struct srv s;
    long r[2];
    two_calls(&s, S_BIG_FRAME, 2, r, NULL);
    ck_assert_int_eq(r[0], -1);
    ck_assert_int_eq(r[1], 7);
    ck_assert_int_eq(s.accepted, 2);
    assert_req(&s, 1, 1, 1);
}
END_TEST

START_TEST(test_put_encoding)
{
    uint8_t out[512];
    static const uint8_t small[] = {0x0a, 0x01, 0x6b, 0x12, 0x02, 0x76, 0x31};
    ck_assert_uint_eq(grpc_etcd_put(out, "k", 1, "v1", 2), sizeof small);
    ck_assert_mem_eq(out, small, sizeof small);

    char v[200];
    memset(v, 'x', sizeof v);
    memset(out, 0xee, sizeof out);
    ck_assert_uint_eq(grpc_etcd_put(out, "key", 3, v, 200), 1 + 1 + 3 + 1 + 2 + 200);
    static const uint8_t head[] = {0x0a, 0x03, 'k', 'e', 'y', 0x12, 0xc8, 0x01};
    ck_assert_mem_eq(out, head, sizeof head);
    ck_assert_mem_eq(out + sizeof head, v, 200);
    ck_assert_uint_eq(out[sizeof head + 200], 0xee); /* nothing written past it */

    /* The varint's boundary: 127 in one byte, 128 in two. */
    ck_assert_uint_eq(grpc_etcd_put(out, "k", 1, v, 127), 1 + 1 + 1 + 1 + 1 + 127);
    ck_assert_uint_eq(out[4], 0x7f);
    ck_assert_uint_eq(grpc_etcd_put(out, "k", 1, v, 128), 1 + 1 + 1 + 1 + 2 + 128);
    ck_assert_uint_eq(out[4], 0x80);
    ck_assert_uint_eq(out[5], 0x01);
}
END_TEST

static Suite *grpc_suite(void)
{
    Suite *s = suite_create("grpc");
    TCase *h2 = tcase_create("h2");
    tcase_set_timeout(h2, 30);
    tcase_add_test(h2, test_success);
    tcase_add_test(h2, test_trailers_only);
    tcase_add_test(h2, test_rst_stream);
    tcase_add_test(h2, test_other_streams_ignored);
    tcase_add_test(h2, test_goaway);
    tcase_add_test(h2, test_padded_data);
    tcase_add_test(h2, test_split_prefix);
    tcase_add_test(h2, test_bad_padding);
    tcase_add_test(h2, test_no_trailers);
    tcase_add_test(h2, test_short_message);
    tcase_add_test(h2, test_stream_ids_spent);
    tcase_add_test(h2, test_connection_broken);
    tcase_add_test(h2, test_frame_too_big);
    suite_add_tcase(s, h2);
    TCase *enc = tcase_create("encode");
    tcase_add_test(enc, test_put_encoding);
    suite_add_tcase(s, enc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(grpc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
