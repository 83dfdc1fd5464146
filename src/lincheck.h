/* Linearizability of a key-value history (the Wing & Gong search with
 * Lowe's memoisation, as Knossos and Porcupine do it), checked key by key
 * (a key-value store is linearizable iff each key is: P-compositionality).
 *
 * The model, per key (nodes/kv.h says the same of the real store): a key is
 * absent or holds bytes; it starts absent.
 *   put v          the key holds v                        ok
 *   get            ok with the value | not_found when absent
 *   append v       absent counts as empty; ok, value ++ v | too_large (the
 *                  result would exceed max_value; no change)
 *   cas old new    the value (absent counts as empty) equals old: ok, holds
 *                  new | mismatch with the current value (no change)
 *   full           (a new key beyond the store's key limit) is treated as
 *                  "no change" whatever the state, since the checker sees
 *                  one key at a time.
 * An operation's outcome is LC_OK (it took effect once, between its invoke
 * and return, with the result given), LC_FAIL (it definitely did not take
 * effect: dropped from the history) or LC_UNKNOWN (a timeout, or a client
 * killed while waiting: it may have taken effect at any moment after its
 * invoke, or never; its result is unknown).
 * Real-time order: an op precedes another when it returned at or before the
 * other's invoke (return_us <= invoke_us); two ops are concurrent only when
 * their intervals overlap strictly.
 *
 * The search is bounded by a budget of states explored; past it the
 * verdict is LC_UNDECIDED, never a guess. */
#ifndef DL_SRC_LINCHECK_H
#define DL_SRC_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lc_outcome { LC_OK, LC_FAIL, LC_UNKNOWN };

struct lc_op {
    int client;     /* for the report only */
    int64_t id;     /* the client's operation id, for the report only */
    int kind;       /* KV_PUT, KV_GET, KV_APPEND, KV_CAS (nodes/kv.h) */
    const uint8_t *key;
    uint32_t klen;
    const uint8_t *arg; /* put/append: the value; cas: old */
    uint32_t alen;
    const uint8_t *arg2; /* cas: new */
    uint32_t a2len;
    int outcome;        /* enum lc_outcome */
    int status;         /* LC_OK: the answer's kv_status (KV_OK, KV_NOT_FOUND, ...) */
    const uint8_t *res; /* LC_OK: the value answered (get ok, cas mismatch) */
    uint32_t rlen;
    int64_t invoke_us;
    int64_t return_us;  /* LC_OK/LC_FAIL; ignored for LC_UNKNOWN */
    int64_t hint;       /* LC_OK: where the store says it took effect (the log
                         * index of its answer), 0 when not known. Only the
                         * order of the search follows it, never a verdict:
                         * a wrong hint costs time, not soundness. */
};

enum lc_verdict { LC_LINEARIZABLE, LC_VIOLATION, LC_UNDECIDED };

struct lc_key_result {
    const uint8_t *key; /* points into the ops given */
    uint32_t klen;
    int verdict;
    uint64_t states;    /* explored for this key */
    /* LC_VIOLATION: the smallest window found that shows it - indices into
     * the ops array given to lc_check, in invoke order - and whether it is
     * judged from the key's known start (absent; from_start) or holds for
     * any value the key might have had before the window. A window is a run
     * of the key's ops in invoke order (ops of unknown outcome included,
     * but never one that cannot matter: a get of unknown outcome, an answer
     * of full, a timed-out write of a value no op saw in a key without
     * appends) that is not
     * linearizable by itself, even with the ops overlapping it counted as
     * of unknown outcome: the shortest failing run from the key's first op,
     * then started as late as possible. Allocated; NULL otherwise. */
    size_t *window;
    size_t nwindow;
    bool from_start;
};

struct lc_result {
    int verdict;        /* the worst over the keys: VIOLATION > UNDECIDED > LINEARIZABLE */
    size_t nkeys;
    struct lc_key_result *keys; /* one per key with an op of outcome OK or
                                 * UNKNOWN, in first-invoke order */
    uint64_t states;    /* explored in all (the windows' searches not counted) */
    size_t ops_checked; /* ops with outcome OK or UNKNOWN */
};

/* Check ops[0..n) (any order). max_value: the store's value limit (append
 * too_large); budget: the most states to explore per key (0: a default of
 * 10 million). Returns 0, or -1 when memory ran out. Free with
 * lc_result_free. */
int lc_check(const struct lc_op *ops, size_t n, uint32_t max_value, uint64_t budget,
             struct lc_result *out);
void lc_result_free(struct lc_result *r);

/* One operation as a line of text for a report, e.g.
 * "client 2 op 17: cas \"x\" \"a\" -> \"b\" = mismatch \"c\" [1.250 ms, 3.100 ms]"
 * (bytes that are not printable shown as \xNN, a quote or backslash escaped
 * with a backslash; a value longer than 40 bytes shown as its first 32
 * then ...(N bytes); "= failed [..]" and "= unknown [t, ?]" for those
 * outcomes). Always NUL-terminated when cap > 0.
 * Returns the length snprintf would have written. */
int lc_op_format(char *buf, size_t cap, const struct lc_op *op);

#endif
