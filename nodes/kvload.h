/* The key-value workload of one client: what a client process (and the
 * simulator's clients) submit, operation after operation.
 *
 * Keys are "k1".."k<keys>", drawn uniformly; the operation is drawn by the
 * mix's weights. Every value written is the operation's own token,
 * "c<K>-<op>" (client K's op-th operation), padded with '.' to value_size
 * bytes when that is longer - so a value read names the write it came
 * from, which is what makes a history checkable. An append adds the token
 * and a ';'. A cas expects the value this client last knew for the key (a
 * read, its own write, or the current value a failed cas answered; the
 * empty value when it knows nothing), so that some succeed and some fail.
 * Every command carries its token as the tag (kv.h): no two commands of a
 * run are the same bytes.
 *
 * Pure and deterministic: a seeded generator, no allocation. */
#ifndef DL_NODES_KVLOAD_H
#define DL_NODES_KVLOAD_H

#include <stdint.h>

#include "nodes/kv.h"
#include "nodes/rng.h"

#define KVLOAD_KNOWN        16 /* keys whose last value a client remembers */
#define KVLOAD_DEFAULT_KEYS 10
#define KVLOAD_DEFAULT_MIX  "get:50,put:30,append:10,cas:10"

struct kvload {
    struct dl_rng rng;
    int client, keys, value_size;
    int w[5], total; /* weights of KV_PUT..KV_CAS */
    struct {
        int key; /* 0: none */
        uint32_t len;
        uint8_t v[KV_MAX_VALUE];
    } known[KVLOAD_KNOWN];
};

/* keys 0: KVLOAD_DEFAULT_KEYS; mix NULL or all 0: the default mix. */
void kvload_init(struct kvload *l, uint64_t seed, int client, int keys, const int32_t mix[5],
                 int value_size);
/* The command of operation op into buf (KV_MAX_CMD bytes); its length. */
uint32_t kvload_next(struct kvload *l, int64_t op, uint8_t *buf);
/* What an answered operation tells of its key's value. */
void kvload_learn(struct kvload *l, const uint8_t *cmd, uint32_t clen, const uint8_t *ans,
                  uint32_t alen);

#endif
