/* Fuzz target: the wire decoder (ipc/wire.c), which sees every byte another
 * process put into a node's queue before anything else does.
 *
 * Input: [n-1] [self] [the message as mq_receive returned it]. The cluster
 * size is 1 + byte0 % 128 and the receiving node byte1 % (n + 1) (0 is the
 * supervisor), so the fuzzer also explores the range checks. The run id is
 * FUZZ_RUN_ID, as in the seed messages (seedgen.c). The message is copied
 * into a buffer of exactly its size, so reading past it is an ASan report.
 *
 * Checked besides "no crash": wire_decode's contract (wire.h). A message it
 * accepts has this run's id, a sender in 0..n other than self, self as its
 * recipient, a length that matches the size received, only known flags, a
 * bulk descriptor of the right size, and its payload inside the buffer; and
 * encoding the decoded header and payload again gives the same bytes. A
 * message it rejects gets a named reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/wire.h"
#include "nodes/algo.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_RUN_ID 0x5eed0001u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_keep_stderr();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int n = 1 + data[0] % DL_MAX_NODES;
    int self = data[1] % (n + 1);
    size_t len = size - 2;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 2, len);

    struct wire_hdr h;
    const uint8_t *payload = NULL;
    int err = wire_decode(buf, len, FUZZ_RUN_ID, self, n, &h, &payload);
    if (err != WIRE_OK) {
        FUZZ_CHECK(err > WIRE_OK && err < WIRE_ERR_COUNT, "wire_decode returned %d", err);
        FUZZ_CHECK(strcmp(wire_err_name(err), "unknown") != 0, "error %d has no name", err);
        free(buf);
        return 0;
    }
    FUZZ_CHECK(len >= sizeof h, "accepted %zu bytes, shorter than a header", len);
    FUZZ_CHECK(h.magic == WIRE_MAGIC && h.version == WIRE_VERSION, "accepted a bad magic/version");
    FUZZ_CHECK(h.run_id == FUZZ_RUN_ID, "accepted run id %#x", h.run_id);
    FUZZ_CHECK(h.from <= n && h.from != self, "accepted sender %u (n = %d, self = %d)", h.from,
               n, self);
    FUZZ_CHECK(h.to == self, "accepted a message for %u at node %d", h.to, self);
    FUZZ_CHECK(sizeof h + (size_t)h.len == len, "accepted len %u for %zu bytes", h.len, len);
    FUZZ_CHECK((h.flags & ~(WIRE_F_ALL | 0xffff0000u)) == 0, "accepted flags %#x", h.flags);
    FUZZ_CHECK(!(h.flags & WIRE_F_BULK) || h.len == sizeof(struct wire_bulk),
               "accepted a bulk descriptor of %u bytes", h.len);
    FUZZ_CHECK(payload == buf + sizeof h, "payload does not follow the header");
    /* Touch every payload byte: an out-of-bounds one is an ASan report. */
    unsigned sum = 0;
    for (uint32_t i = 0; i < h.len; i++)
        sum += payload[i];
    (void)sum;

    /* Encoding what was decoded gives the message back. */
    uint8_t *again = malloc(len);
    if (again) {
        int r = wire_encode(again, len, &h, payload);
        FUZZ_CHECK(r == (int)len, "wire_encode gave %d bytes for %zu", r, len);
        FUZZ_CHECK(memcmp(again, buf, len) == 0, "decode/encode does not round-trip");
        free(again);
    }

    /* The receiver's type check (nodes/runtime.c) asks the algorithm's
     * table for a name; every type must be answerable. */
    for (int a = 0; algo_table[a]; a++) {
        const struct algo_ops *ops = algo_table[a];
        const char *name = ops->msg_name ? ops->msg_name(h.type) : NULL;
        if (name)
            FUZZ_CHECK(name[0] != '\0', "%s names type %#x \"\"", ops->name, h.type);
    }
    free(buf);
    return 0;
}
