/* The key-value service: Raft's state machine, its commands and answers.
 *
 * Commands (the bytes a client submits, and an entry's command):
 *   put KEY VALUE        set KEY to VALUE                      -> ok
 *   get KEY              read KEY                              -> ok VALUE | not_found
 *   append KEY VALUE     KEY := KEY's value (empty if absent) ++ VALUE
 *                                                              -> ok | too_large
 *   cas KEY OLD NEW      if KEY's value is OLD (an absent key counts as the
 *                        empty value), set it to NEW           -> ok | mismatch CURRENT
 * Keys are 1..KV_MAX_KEY bytes, values 0..KV_MAX_VALUE bytes, any bytes
 * (binary, not only text). A command with a longer key or value is refused
 * by the client before it is sent (never truncated); an append whose result
 * would be longer is answered too_large and changes nothing; a put, append
 * or cas that would add a key beyond KV_MAX_KEYS, or grow the store beyond
 * KV_MAX_BYTES, is answered full and changes nothing. Every answer is a function of the store's
 * state and the command, so every replica gives the same one.
 *
 * Encoding, little-endian:
 *   command  u8 op | u8 key length | u16 a length | u16 b length | key | a | b
 *            | tag  (a: put/append's VALUE, cas's OLD; b: cas's NEW; tag:
 *            the rest, at most KV_MAX_TAG bytes, ignored by the store: it
 *            makes every command's bytes unique - "c3-17" is client 3's
 *            17th - so that checkers can tell two equal gets apart)
 *   answer   u8 status | the value (get: the value read; cas mismatch: the
 *            current value; nothing otherwise)
 *
 * The store (struct kv_store) is an open-addressing hash table grown through
 * the core's allocator (algo_mem); it never frees a key (there is no
 * delete). It is pure: no I/O, no clock, deterministic. */
#ifndef DL_NODES_KV_H
#define DL_NODES_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct algo_mem;

#define KV_MAX_KEY   128u
#define KV_MAX_VALUE 4096u
#define KV_MAX_KEYS  65536u
#define KV_MAX_TAG   32u
/* All the keys' and values' bytes together: a command that would grow the
 * store beyond is answered full. It keeps a snapshot (the store, encoded)
 * well under the 64 MiB a snapshot may hold. */
#define KV_MAX_BYTES  (32u << 20)
#define KV_CMD_HDR    6u
#define KV_MAX_CMD    (KV_CMD_HDR + KV_MAX_KEY + 2u * KV_MAX_VALUE + KV_MAX_TAG)
#define KV_MAX_ANSWER (1u + KV_MAX_VALUE)

enum kv_op { KV_PUT = 1, KV_GET, KV_APPEND, KV_CAS };
enum kv_status {
    KV_OK = 0,
    KV_NOT_FOUND, /* get of an absent key */
    KV_MISMATCH,  /* cas: the value was not OLD (the answer holds it) */
    KV_TOO_LARGE, /* append: the result would exceed KV_MAX_VALUE */
    KV_FULL,      /* a new key beyond KV_MAX_KEYS */
    KV_BAD,       /* not a key-value command: applied as nothing */
    KV_STATUS_COUNT
};

struct kv_cmd {
    int op;
    const uint8_t *key;
    uint32_t klen;
    const uint8_t *a; /* put/append: the value; cas: OLD */
    uint32_t alen;
    const uint8_t *b; /* cas: NEW */
    uint32_t blen;
    const uint8_t *tag; /* ignored by the store */
    uint32_t tlen;
};

const char *kv_op_name(int op);     /* "put", ..., or NULL */
int kv_op_parse(const char *name);  /* KV_PUT.. or 0 */
const char *kv_status_name(int st); /* "ok", "not_found", "mismatch", ... */
/* Why c cannot be sent (a static string), or NULL when it is valid. */
const char *kv_cmd_invalid(const struct kv_cmd *c);
/* Encode a valid command into buf; returns its length, or 0 when c is
 * invalid or cap is too small. */
uint32_t kv_encode(uint8_t *buf, size_t cap, const struct kv_cmd *c);
/* Decode; false when p is not a valid command (then *c is unspecified). */
bool kv_decode(const uint8_t *p, size_t len, struct kv_cmd *c);

struct kv_entry {
    uint64_t hash;  /* 0: a free slot */
    uint8_t *bytes; /* key then value */
    uint32_t klen, vlen, cap;
};

struct kv_store {
    const struct algo_mem *mem;
    struct kv_entry *slot;
    uint32_t nslots; /* a power of two, or 0 */
    uint32_t count;  /* keys */
    uint64_t bytes;  /* keys' and values' bytes */
};

void kv_init(struct kv_store *s, const struct algo_mem *mem);
void kv_free(struct kv_store *s);
/* Apply a command (its encoded bytes, which may be anything: what does not
 * decode is KV_BAD and changes nothing). Writes the answer (status byte and
 * value) into ans (at least KV_MAX_ANSWER bytes) and returns its length;
 * returns 0 only when memory ran out (the store is unchanged then). */
uint32_t kv_apply(struct kv_store *s, const uint8_t *cmd, uint32_t len, uint8_t *ans);
/* A key's value, or NULL (*vlen set). */
const uint8_t *kv_get(const struct kv_store *s, const uint8_t *key, uint32_t klen, uint32_t *vlen);

/* Snapshots: u32 keys, then per key u8 key length, u16 value length, key,
 * value. kv_snap_size is the encoding's length; kv_snap_write writes it
 * (buf holds kv_snap_size bytes); kv_snap_read replaces the store's
 * contents with an encoding (false, store emptied, when it is malformed or
 * memory ran out). */
uint64_t kv_snap_size(const struct kv_store *s);
void kv_snap_write(const struct kv_store *s, uint8_t *buf);
bool kv_snap_read(struct kv_store *s, const uint8_t *p, uint64_t len);

#endif
