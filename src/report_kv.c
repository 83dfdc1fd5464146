/* The key-value part of a Raft report: the clients' operations by outcome
 * and the linearizability of their history (src/lincheck.c), from the
 * clients' trace records and the command and answer bytes of the data side
 * files.
 *
 * Each client operation is (client, op id): its invoke (the command), and
 * its outcome - ok with the answer (TR_RESULT then TR_OK), fail (did not
 * take effect), timeout, or nothing at all (the run ended or the client
 * was killed while it waited). Timeouts and missing outcomes are unknown:
 * the operation may have taken effect, once, at any moment after its
 * invoke. An ok whose answer bytes are not there (a ring overwrote them)
 * is unknown too, which can hide a violation but never invent one.
 *
 * The history is judged only when the trace holds every invoke's command:
 * an operation missing from the history could be the write that explains
 * a read, so a partial history could show a violation that is not there.
 * Then `linearizable` is null and the property is "not judged", with why. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/trace.h"
#include "ipc/util.h"
#include "nodes/kv.h"
#include "src/lincheck.h"
#include "src/evidence.h"
#include "src/report_int.h"

/* The states the search may explore per key before it gives up (the
 * verdict is then "undecided", never a guess). */
#define KV_CHECK_BUDGET 20000000ull
#define KV_WINDOW_SHOWN 12

struct crec {
    const struct trace_rec *r;
};

static int cmp_crec(const void *x, const void *y)
{
    const struct trace_rec *a = ((const struct crec *)x)->r, *b = ((const struct crec *)y)->r;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->t_us != b->t_us)
        return a->t_us < b->t_us ? -1 : 1;
    return (a->ev > b->ev) - (a->ev < b->ev);
}

static const char *plural_s(long n)
{
    return n == 1 ? "" : "s";
}

int report_kv_build(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                    size_t nrec, struct kv_verdict *out, char *errbuf)
{
    memset(out, 0, sizeof *out);
    int n = ri->n;
    size_t m = 0;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].node > n &&
            (recs[i].ev == TR_INVOKE || recs[i].ev == TR_RESULT || recs[i].ev == TR_OK ||
             recs[i].ev == TR_FAIL || recs[i].ev == TR_TIMEOUT))
            m++;
    struct crec *c = m ? malloc(m * sizeof *c) : NULL;
    struct lc_op *ops = m ? calloc(m, sizeof *ops) : NULL;
    if (m && (!c || !ops)) {
        free(c);
        free(ops);
        return dl_seterr(errbuf, ENOMEM, "out of memory judging the clients' history");
    }
    m = 0;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].node > n &&
            (recs[i].ev == TR_INVOKE || recs[i].ev == TR_RESULT || recs[i].ev == TR_OK ||
             recs[i].ev == TR_FAIL || recs[i].ev == TR_TIMEOUT))
            c[m++].r = &recs[i];
    if (m > 1)
        qsort(c, m, sizeof *c, cmp_crec);

    struct trace_data data;
    char derr[DL_ERRLEN];
    bool have_data = ri->rundir && trace_data_open(&data, ri->rundir, derr) == 0;
    long ok = 0, fail = 0, timeout = 0, pending = 0, kv = 0, other = 0, no_cmd = 0, no_ans = 0;
    size_t nops = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j < m && c[j].r->node == c[i].r->node && c[j].r->key == c[i].r->key)
            j++;
        const struct trace_rec *inv = NULL, *res = NULL, *end = NULL;
        for (size_t x = i; x < j; x++) {
            const struct trace_rec *r = c[x].r;
            if (r->ev == TR_INVOKE && !inv)
                inv = r;
            else if (r->ev == TR_RESULT && !res)
                res = r;
            else if ((r->ev == TR_OK || r->ev == TR_FAIL || r->ev == TR_TIMEOUT) && !end)
                end = r;
        }
        i = j;
        if (!end)
            pending += inv != NULL;
        else if (end->ev == TR_OK)
            ok++;
        else if (end->ev == TR_FAIL)
            fail++;
        else
            timeout++;
        if (!inv)
            continue; /* an outcome whose invoke is gone (a ring): counted above */
        const uint8_t *cmd = have_data ? trace_data_get(&data, inv) : NULL;
        struct kv_cmd kc;
        if (!cmd) {
            no_cmd++;
            continue;
        }
        if (!kv_decode(cmd, (size_t)inv->aux, &kc)) {
            other++;
            continue;
        }
        kv++;
        struct lc_op *o = &ops[nops++];
        o->client = inv->node - n;
        o->id = inv->key;
        o->kind = kc.op;
        o->key = kc.key;
        o->klen = kc.klen;
        o->arg = kc.a;
        o->alen = kc.alen;
        o->arg2 = kc.b;
        o->a2len = kc.blen;
        o->invoke_us = inv->t_us;
        o->outcome = LC_UNKNOWN;
        if (end && end->ev == TR_FAIL) {
            o->outcome = LC_FAIL;
            o->return_us = end->t_us;
        } else if (end && end->ev == TR_OK) {
            const uint8_t *ans = res ? trace_data_get(&data, res) : NULL;
            if (ans && res->aux >= 1) {
                o->outcome = LC_OK;
                o->return_us = end->t_us;
                o->status = ans[0];
                o->res = ans + 1;
                o->rlen = (uint32_t)res->aux - 1;
            } else {
                no_ans++;
            }
        }
    }

    bool bad = false;
    put(rep, "client_ops",
        json_pack("{s:I, s:I, s:I, s:I}", "ok", (json_int_t)ok, "fail", (json_int_t)fail, "timeout",
                  (json_int_t)timeout, "unknown", (json_int_t)pending),
        &bad);
    out->any = kv > 0 || no_cmd > 0;
    json_t *lin = json_object();
    int rc = 0;
    if (!out->any) {
        out->judged = false;
        snprintf(out->detail, sizeof out->detail,
                 other ? "not judged: the clients' commands are not key-value commands"
                       : "not judged: no client operation in the trace");
        put(rep, "linearizable", json_null(), &bad);
    } else if (no_cmd > 0 || (!ri->ev || !ri->ev->traces_complete)) {
        out->judged = false;
        if (no_cmd)
            snprintf(out->detail, sizeof out->detail,
                     "not judged: %ld operation%s' command%s are not in the trace (its data "
                     "was overwritten or not kept), and a missing write could be what a read "
                     "saw",
                     no_cmd, plural_s(no_cmd), plural_s(no_cmd));
        else
            snprintf(out->detail, sizeof out->detail,
                     "not judged: the traces are incomplete (see evidence), and a missing "
                     "operation could be what a read saw");
        put(rep, "linearizable", json_null(), &bad);
    } else {
        struct lc_result lr;
        if (lc_check(ops, nops, KV_MAX_VALUE, KV_CHECK_BUDGET, &lr) < 0) {
            rc = dl_seterr(errbuf, ENOMEM, "out of memory checking linearizability");
        } else {
            char unk[160] = "";
            long u = timeout + pending + no_ans;
            if (u)
                snprintf(unk, sizeof unk,
                         "; %ld with an unknown outcome (timeout, no answer, or an answer not "
                         "kept) may or may not have taken effect",
                         u);
            put(lin, "ops_checked", json_integer((json_int_t)lr.ops_checked), &bad);
            put(lin, "keys", json_integer((json_int_t)lr.nkeys), &bad);
            put(lin, "states_explored", json_integer((json_int_t)lr.states), &bad);
            if (lr.verdict == LC_LINEARIZABLE) {
                out->judged = true;
                out->held = true;
                snprintf(out->detail, sizeof out->detail,
                         "the history of %zu key-value operation%s on %zu key%s is linearizable "
                         "(each key's operations can be ordered within their invoke-to-answer "
                         "intervals so that every answer is what a single copy would give)%s",
                         lr.ops_checked, plural_s((long)lr.ops_checked), lr.nkeys,
                         plural_s((long)lr.nkeys), unk);
                put(rep, "linearizable", json_true(), &bad);
            } else if (lr.verdict == LC_UNDECIDED) {
                out->judged = false;
                size_t undecided = 0;
                for (size_t k = 0; k < lr.nkeys; k++)
                    undecided += lr.keys[k].verdict == LC_UNDECIDED;
                snprintf(out->detail, sizeof out->detail,
                         "not judged: the search gave up on %zu key%s after %llu states each "
                         "(too many concurrent operations); the other keys are linearizable",
                         undecided, plural_s((long)undecided), KV_CHECK_BUDGET);
                put(rep, "linearizable", json_null(), &bad);
            } else {
                out->judged = true;
                out->held = false;
                json_t *viols = json_array();
                size_t shown = 0;
                for (size_t k = 0; k < lr.nkeys; k++) {
                    const struct lc_key_result *kr = &lr.keys[k];
                    if (kr->verdict != LC_VIOLATION)
                        continue;
                    out->violations++;
                    char key[4 * KV_MAX_KEY + 8];
                    dl_printable(key, sizeof key, (const char *)kr->key, kr->klen);
                    json_t *win = json_array();
                    char first_lines[900] = "";
                    size_t at = 0;
                    for (size_t w = 0; w < kr->nwindow && w < KV_WINDOW_SHOWN; w++) {
                        char line[400];
                        lc_op_format(line, sizeof line, &ops[kr->window[w]]);
                        json_array_append_new(win, json_string(line));
                        if (at < sizeof first_lines)
                            at += (size_t)snprintf(first_lines + at, sizeof first_lines - at,
                                                   "%s%s", w ? "; " : "", line);
                    }
                    json_array_append_new(viols,
                                          json_pack("{s:s, s:b, s:o, s:I}", "key", key,
                                                    "from_start", kr->from_start, "window", win,
                                                    "window_ops", (json_int_t)kr->nwindow));
                    if (shown++ == 0)
                        snprintf(out->detail, sizeof out->detail,
                                 "key %s: these %zu operation%s cannot be ordered %s: %s", key,
                                 kr->nwindow, plural_s((long)kr->nwindow),
                                 kr->from_start ? "from the key's start (absent)"
                                                : "whatever the key held before them",
                                 first_lines);
                }
                put(lin, "violations", viols, &bad);
                put(rep, "linearizable", json_false(), &bad);
            }
            lc_result_free(&lr);
        }
    }
    put(lin, "detail", json_string(out->detail), &bad);
    put(rep, "linearizability", lin, &bad);
    if (have_data)
        trace_data_close(&data);
    free(c);
    free(ops);
    if (rc == 0 && bad)
        rc = dl_seterr(errbuf, ENOMEM, "out of memory building the report");
    return rc;
}
