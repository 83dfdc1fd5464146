/* Reports, checks and trace export for a run directory (see report.h).
 *
 * Everything here is computed from two inputs: run.json (what the supervisor
 * saw: counters, the shared resource, the fault log) and the merged binary
 * trace. The trace is read once, in time order, by one scan per algorithm
 * family; the scan fills a plain struct, and the JSON is built from that
 * struct afterwards, so the metrics can be unit-tested on synthetic traces.
 * All JSON goes through jansson. */
#include "src/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ipc/proc.h"
#include "ipc/trace.h"
#include "ipc/util.h"
#include "ipc/wire.h"
#include "nodes/algo.h"
#include "nodes/netfault.h"
#include "nodes/runtime.h"
#include "src/config.h"
#include "src/evidence.h"
#include "src/kvtext.h"
#include "src/report_int.h"

/* The name of a message type: the algorithm's, the runtime's, or hex. */
const char *report_type_name(const struct algo_ops *ops, uint16_t type, char *buf, size_t cap)
{
    if (type < MSG_RANGE_SIZE && runtime_msg_name(type))
        return runtime_msg_name(type);
    if (type >= MSG_RANGE_SIZE && ops && ops->msg_name) {
        const char *name = ops->msg_name(type);
        if (name)
            return name;
    }
    snprintf(buf, cap, "0x%04x", (unsigned)type);
    return buf;
}

const char *report_msg_flag(const struct algo_ops *ops, const struct trace_rec *r)
{
    if ((r->ev != TR_SEND && r->ev != TR_RECV) || r->aux != TRACE_MSG_F1 ||
        r->type < MSG_RANGE_SIZE || !ops || !ops->msg_flag)
        return NULL;
    return ops->msg_flag(r->type);
}

/* ---- run.json ---- */

static void run_info_free(struct run_info *ri)
{
    json_decref(ri->run);
    ri->run = NULL;
}

/* A run.json is a file anyone may have edited: escape what a terminal
 * would act on (control characters, bidirectional overrides) in every
 * string before any of it reaches a report. */
static int sanitize_strings(json_t *v)
{
    size_t i;
    const char *key;
    json_t *x;
    if (json_is_object(v)) {
        json_object_foreach(v, key, x) if (sanitize_strings(x) < 0) return -1;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (sanitize_strings(x) < 0) return -1;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        /* Printable ASCII is left as it is (a backslash in a replay
         * command must stay one backslash). */
        size_t k = 0;
        while (k < len && s[k] >= 0x20 && s[k] < 0x7f)
            k++;
        if (k == len)
            return 0;
        char *out = malloc(DL_PRINTABLE_CAP(len));
        if (!out)
            return -1;
        dl_printable(out, DL_PRINTABLE_CAP(len), s, len);
        int rc = strcmp(out, s) != 0 ? json_string_set(v, out) : 0;
        free(out);
        return rc;
    }
    return 0;
}

/* Whether the run re-sent lost messages ([cluster] retransmit): run.json's
 * "retransmit", else the run's config.ini; -1 when neither tells. */
static int retransmit_of(const char *rundir, const json_t *run)
{
    const json_t *v = json_object_get(run, "retransmit");
    if (json_is_boolean(v))
        return json_is_true(v);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.ini", rundir);
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    struct config *c = malloc(sizeof *c);
    char *err = malloc(CONFIG_ERRLEN);
    int r = -1;
    if (c && err && config_load(c, path, err) == 0)
        r = c->retransmit;
    free(c);
    free(err);
    return r;
}

static int load_run(const char *rundir, struct run_info *ri, char *errbuf)
{
    memset(ri, 0, sizeof *ri);
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", rundir);
    struct stat st;
    if (stat(path, &st) < 0) {
        /* No supervisor's summary (the launcher was killed): what the
         * configuration and the traces tell is still worth a report. */
        int e = errno;
        char err2[DL_ERRLEN];
        if (e != ENOENT || evidence_run_from_config(rundir, &ri->run, err2) < 0)
            return dl_seterr(errbuf, e, "%s: %s (is this a finished distlab run directory?)",
                             path, strerror(e));
        snprintf(path, sizeof path, "%s/config.ini", rundir);
    } else {
        json_error_t jerr;
        char *text;
        size_t len;
        int e = dl_read_file(path, &text, &len, errbuf);
        if (e < 0)
            return e;
        ri->run = json_loadb(text, len, 0, &jerr);
        free(text);
        if (!ri->run)
            return dl_seterr(errbuf, EINVAL, "%s:%d: %s", path, jerr.line, jerr.text);
        ri->have_run_json = true;
    }
    int rc;
    if (sanitize_strings(ri->run) < 0) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory reading %s", path);
        goto err;
    }
    if (!json_is_object(ri->run)) {
        rc = dl_seterr(errbuf, EINVAL, "%s: not a JSON object", path);
        goto err;
    }
    ri->algorithm = json_string_value(json_object_get(ri->run, "algorithm"));
    if (!ri->algorithm) {
        rc = dl_seterr(errbuf, EINVAL, "%s: \"algorithm\" is missing or not a string", path);
        goto err;
    }
    json_int_t n;
    if (!get_int(ri->run, "nodes", &n) || n < 1 || n > ALGO_MAX_NODES) {
        rc = dl_seterr(errbuf, EINVAL, "%s: \"nodes\" must be an integer from 1 to %d", path,
                       ALGO_MAX_NODES);
        goto err;
    }
    ri->n = (int)n;
    ri->ops = algo_find(ri->algorithm);
    ri->raft = strcmp(ri->algorithm, "raft") == 0 || (ri->ops && ri->ops->range == MSG_RANGE_RAFT);
    ri->retransmit = retransmit_of(rundir, ri->run);
    json_int_t coord = 1, seed = 0;
    get_int(ri->run, "coordinator", &coord);
    get_int(ri->run, "seed", &seed);
    ri->env.id = 1;
    ri->env.n = ri->n;
    ri->env.seed = (uint64_t)seed;
    ri->env.coordinator = (int)coord;
    ri->env.coordinator_competes = json_is_true(json_object_get(ri->run, "coordinator_competes"));
    json_int_t groups = 0, rounds = 0;
    get_int(ri->run, "groups", &groups);
    get_int(ri->run, "local_rounds", &rounds);
    ri->env.groups = (int)groups;
    ri->env.local_rounds = (int)rounds;
    const char *members = json_string_value(json_object_get(ri->run, "members"));
    if (members && members[0])
        config_parse_members(members, ri->n, ri->env.group_of, true);
    /* Who requests: run.json's list when present, else whoever the
     * algorithm lets compete. */
    json_t *req = json_object_get(ri->run, "requesters");
    for (int k = 1; k <= ri->n; k++)
        ri->requester[k] = !json_is_array(req) && (!ri->ops || !ri->ops->competes ||
                                                   ri->ops->competes(&ri->env, k));
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v)
    {
        json_int_t k = json_integer_value(v);
        if (k >= 1 && k <= ri->n)
            ri->requester[k] = !ri->ops || !ri->ops->competes || ri->ops->competes(&ri->env, (int)k);
    }
    return 0;
err:
    run_info_free(ri);
    return rc;
}

/* The parts every report shares: one clock (the trace's), the faults,
 * warnings and drops. */
static int build_common(json_t *rep, const struct run_info *ri, const struct trace_rec *recs,
                        size_t nrec, struct report_clock *clk, struct report_net *net,
                        json_t **faults_out)
{
    bool bad = false;
    report_clock_find(ri, recs, nrec, clk);
    put(rep, "time_base", json_string("ms since the run started (the trace's t_us / 1000)"),
        &bad);
    put(rep, "workload_start_ms",
        clk->workload_start_us >= 0 ? us_to_ms(clk->workload_start_us) : json_null(), &bad);
    json_t *warnings = json_array();
    if (report_net_scan(net, ri, recs, nrec) < 0)
        bad = true;
    json_t *faults = bad ? NULL : report_faults_json(ri, recs, nrec, clk, net, warnings);
    put(rep, "faults", faults, &bad);
    put(rep, "warnings", warnings, &bad);
    put(rep, "dropped", report_drops_json(recs, nrec), &bad);
    *faults_out = faults;
    return bad ? -ENOMEM : 0;
}

int report_build(const char *rundir, json_t **out, char *errbuf)
{
    struct run_info ri;
    int rc = load_run(rundir, &ri, errbuf);
    if (rc < 0)
        return rc;
    struct trace_set ts;
    rc = trace_load_set(rundir, &ts, errbuf);
    if (rc < 0) {
        run_info_free(&ri);
        return rc;
    }
    struct evidence ev;
    bool bad = evidence_scan(&ev, &ts, ri.run, ri.have_run_json) < 0;
    evidence_trace_config(&ev, rundir);
    ri.ev = &ev;
    ri.rundir = rundir;
    const struct trace_rec *recs = ts.recs;
    size_t nrec = ts.n;
    json_t *rep = json_object();
    static const char *const common[] = {"name",         "run_id", "algorithm",    "nodes",
                                         "duration_s",   "seed",   "stop_reason",
                                         "workload_done", "fencing", "simulated"};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        put(rep, common[i], copy_key(ri.run, common[i]), &bad);
    if (bad)
        rc = dl_seterr(errbuf, ENOMEM, "out of memory building the report");
    else if (ri.raft) {
        struct report_clock clk;
        struct report_net net;
        json_t *faults = NULL;
        rc = build_common(rep, &ri, recs, nrec, &clk, &net, &faults);
        if (rc < 0)
            rc = dl_seterr(errbuf, ENOMEM, "out of memory building the report");
        else
            rc = report_build_raft(rep, &ri, recs, nrec, &clk, faults, errbuf);
        report_net_free(&net);
    } else {
        struct report_clock clk;
        struct report_net net;
        json_t *faults = NULL;
        rc = build_common(rep, &ri, recs, nrec, &clk, &net, &faults);
        put(rep, "retransmit", ri.retransmit < 0 ? json_null() : json_boolean(ri.retransmit),
            &bad);
        rc = rc < 0 || bad ? dl_seterr(errbuf, ENOMEM, "out of memory building the report")
                           : report_build_mutex(rep, &ri, recs, nrec, &clk, faults, errbuf);
        if (rc == 0 && report_stall(rep, &ri, recs, &net, ri.retransmit) < 0)
            rc = dl_seterr(errbuf, ENOMEM, "out of memory building the report");
        report_net_free(&net);
    }
    /* What was recorded, what it cost, and what it could not show: before
     * the verdict, which counts the properties this leaves unjudged. */
    if (rc == 0 && evidence_trace_scope(rep, &ev, &ts, rundir) < 0)
        rc = dl_seterr(errbuf, ENOMEM, "out of memory building the report");
    if (rc == 0 && evidence_verdict(rep, &ev) < 0)
        rc = dl_seterr(errbuf, ENOMEM, "out of memory building the report");
    evidence_free(&ev);
    trace_set_free(&ts);
    run_info_free(&ri);
    if (rc < 0) {
        json_decref(rep);
        return rc;
    }
    *out = rep;
    return 0;
}

/* ---- writing ---- */

int report_write(const char *rundir, json_t **repout, char *errbuf)
{
    json_t *rep;
    int rc = report_build(rundir, &rep, errbuf);
    if (rc < 0)
        return rc;
    char path[4200];
    /* 15 significant digits: 0.1 stays 0.1, and no measured value here has
     * more precision than that. */
    char *text = json_dumps(rep, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    char *txt = NULL;
    size_t txtlen = 0;
    FILE *mf = text ? open_memstream(&txt, &txtlen) : NULL;
    if (!mf) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory writing the report");
        goto out;
    }
    report_print_text(rep, mf);
    if (fclose(mf) != 0) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory writing the report");
        goto out;
    }
    size_t len = strlen(text);
    char *withnl = realloc(text, len + 2);
    if (!withnl) {
        rc = dl_seterr(errbuf, ENOMEM, "out of memory writing the report");
        goto out;
    }
    text = withnl;
    text[len++] = '\n';
    text[len] = '\0';
    snprintf(path, sizeof path, "%s/report.json", rundir);
    rc = dl_write_file(path, text, len, errbuf);
    if (rc < 0)
        goto out;
    snprintf(path, sizeof path, "%s/report.txt", rundir);
    rc = dl_write_file(path, txt, txtlen, errbuf);
out:
    free(text);
    free(txt);
    if (rc == 0 && repout)
        *repout = rep;
    else
        json_decref(rep);
    return rc;
}

/* ---- text ---- */

static void print_properties(const json_t *rep, FILE *f, const char *indent)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rep, "properties"), i, p)
    {
        /* verdict: pass, fail, or fenced (did not hold as the nodes
         * believed it; the resource stayed safe by fencing); a property
         * the evidence could not decide ("judged": false) cannot be
         * verified, whatever else it says. */
        const char *v = json_string_value(json_object_get(p, "verdict"));
        char word[16];
        if (json_is_false(json_object_get(p, "judged")))
            v = "cannot verify";
        else if (!v)
            v = json_is_true(json_object_get(p, "held")) ? "pass" : "fail";
        size_t k = 0;
        for (; v[k] && k + 1 < sizeof word; k++)
            word[k] = (char)(v[k] >= 'a' && v[k] <= 'z' ? v[k] - 'a' + 'A' : v[k]);
        word[k] = '\0';
        fprintf(f, "%s%s %s: %s\n", indent, word, str_or(p, "name", "?"),
                str_or(p, "detail", ""));
        /* Judged on a partial trace: on what, and why. */
        if (json_is_true(json_object_get(p, "partial")))
            fprintf(f, "%s  partial trace: %s\n", indent, str_or(p, "evidence", ""));
    }
}

void report_print_text(const json_t *rep, FILE *f)
{
    char a[64], b[64], c[64];
    fprintf(f, "%s: %s, %s nodes, %s s, seed %s\n", str_or(rep, "name", "run"),
            str_or(rep, "algorithm", "?"), fmt_key(rep, "nodes", 0, a, 64),
            fmt_key(rep, "duration_s", 3, b, 64), fmt_key(rep, "seed", 0, c, 64));
    evidence_print_verdict(rep, f);
    const json_t *done = json_object_get(rep, "workload_done");
    fprintf(f, "stopped: %s%s\n\n", str_or(rep, "stop_reason", "unknown"),
            json_is_boolean(done) ? (json_is_true(done) ? " (workload finished)"
                                                        : " (workload not finished)")
                                  : "");
    evidence_print(rep, f);
    evidence_print_trace(rep, f);
    fputc('\n', f);
    const json_t *ws = json_object_get(rep, "workload_start_ms");
    if (json_is_string(json_object_get(rep, "time_base")))
        fprintf(f, "times: %s%s%s%s\n\n", str_or(rep, "time_base", ""),
                json_is_number(ws) ? "; the workload started at " : "",
                json_is_number(ws) ? fmt_num(ws, 3, a, 64) : "", json_is_number(ws) ? " ms" : "");
    size_t wi;
    json_t *warning;
    json_array_foreach(json_object_get(rep, "warnings"), wi, warning)
        fprintf(f, "warning: %s\n%s", json_string_value(warning),
                wi + 1 == json_array_size(json_object_get(rep, "warnings")) ? "\n" : "");
    if (json_object_get(rep, "cs_entries"))
        report_print_mutex(rep, f);
    else if (json_object_get(rep, "elections"))
        report_print_raft(rep, f);
    report_print_faults(rep, f);
    report_print_stall(rep, f);
    size_t ni;
    json_t *note;
    json_array_foreach(json_object_get(rep, "notes"), ni, note)
        fprintf(f, "\nnote: %s\n", json_string_value(note));
    fprintf(f, "\nproperties:\n");
    print_properties(rep, f, "  ");
}

/* ---- check ---- */

int report_check(const char *rundir, FILE *f)
{
    char err[DL_ERRLEN];
    json_t *rep;
    if (report_build(rundir, &rep, err) < 0) {
        fprintf(stderr, "distlab check: %s\n", err);
        return 2;
    }
    print_properties(rep, f, "");
    /* Each violation found (Raft lists them: property, nodes, index or
     * term, time). */
    size_t vi;
    json_t *v;
    json_array_foreach(json_object_get(rep, "violation_list"), vi, v)
        fprintf(f, "  %s at %.3f ms: %s\n", str_or(v, "property", "?"),
                json_number_value(json_object_get(v, "at_ms")), str_or(v, "text", ""));
    int code = evidence_exit_code(rep);
    const char *verdict = json_string_value(json_object_get(rep, "verdict"));
    fprintf(f, "%s\n", code == 0 ? "safe" : code == 1 ? "UNSAFE" : verdict);
    if (code == 2)
        evidence_print(rep, f);
    else if (json_array_size(json_object_get(rep, "not_checked"))) {
        fprintf(f, "not checked (left out by [trace] record):\n");
        evidence_print_not_checked(rep, f);
    }
    json_decref(rep);
    return code;
}

/* ---- trace export ---- */

/* The algorithm and size of a run: run.json's, or for a run whose
 * supervisor never wrote one (it was killed), the `algorithm = ` and
 * `nodes = ` lines of config.ini (n is 0 when neither tells). */
static int trace_algorithm(const char *rundir, char *alg, size_t cap, int *n, char *errbuf)
{
    struct run_info ri;
    char err1[DL_ERRLEN];
    *n = 0;
    if (load_run(rundir, &ri, err1) == 0) {
        snprintf(alg, cap, "%s", ri.algorithm);
        *n = ri.n;
        run_info_free(&ri);
        return 0;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/config.ini", rundir);
    FILE *f = fopen(path, "r");
    if (!f)
        return dl_seterr(errbuf, EINVAL, "%s", err1);
    char line[512];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        char word[64];
        int nodes;
        if (!found && sscanf(line, " algorithm = %63[A-Za-z0-9_]", word) == 1) {
            snprintf(alg, cap, "%s", word);
            found = true;
        } else if (*n == 0 && sscanf(line, " nodes = %d", &nodes) == 1 && nodes >= 1 &&
                   nodes <= ALGO_MAX_NODES) {
            *n = nodes;
        }
    }
    fclose(f);
    return found ? 0 : dl_seterr(errbuf, EINVAL, "%s", err1);
}

static json_t *signal_json(int sig)
{
    if (sig == 0)
        return json_null();
    const char *name = proc_signame(sig);
    if (strcmp(name, "signal") != 0) /* proc_signame's answer for one it does not name */
        return json_string(name);
    char buf[32];
    snprintf(buf, sizeof buf, "signal %d", sig);
    return json_string(buf);
}

/* A command as text: a JSON string of its bytes when they are UTF-8
 * (jansson escapes what JSON needs), else with every byte that is not
 * printable UTF-8 as \xNN (cmd_escaped says so). */
static void put_cmd(json_t *o, const uint8_t *data, size_t len, bool *bad)
{
    struct kv_cmd kc;
    if (kv_decode(data, len, &kc)) {
        /* A key-value command: as a line of text, and its parts. */
        char text[1024];
        put(o, "cmd", json_string(kvtext_cmd(text, sizeof text, &kc, 0)), bad);
        kvtext_cmd_fields(o, &kc);
        return;
    }
    json_t *v = memchr(data, 0, len) ? NULL : json_stringn((const char *)data, len);
    if (!v) {
        char *out = malloc(DL_PRINTABLE_CAP(len));
        if (!out) {
            *bad = true;
            return;
        }
        dl_printable(out, DL_PRINTABLE_CAP(len), (const char *)data, len);
        v = json_string(out);
        free(out);
        put(o, "cmd_escaped", json_true(), bad);
    }
    put(o, "cmd", v, bad);
    /* A key-value command ("put KEY VALUE", "get KEY"): its parts too. */
    size_t w = 0;
    while (w < len && ((data[w] >= 'a' && data[w] <= 'z') || data[w] == '_'))
        w++;
    if (w == 0 || (w < len && data[w] != ' '))
        return;
    for (size_t i = 0; i < len; i++)
        if (data[i] < 0x20 || data[i] == 0x7f)
            return;
    put(o, "op", json_stringn((const char *)data, w), bad);
    if (w + 1 >= len)
        return;
    const uint8_t *k = data + w + 1;
    size_t rest = len - w - 1, kl = 0;
    while (kl < rest && k[kl] != ' ')
        kl++;
    json_t *kv = json_stringn((const char *)k, kl);
    if (kv)
        put(o, "key", kv, bad);
    if (kl + 1 < rest || (kl + 1 == rest && k[kl] == ' ')) {
        json_t *vv = json_stringn((const char *)k + kl + 1, rest - kl - 1);
        if (vv)
            put(o, "value", vv, bad);
    }
}

/* The data fields of a TR_APPLY or TR_INVOKE: the command's hash (the
 * identity checks use) always, its length, and its bytes when the side file
 * kept them (null otherwise). */
static void put_data(json_t *o, const struct trace_rec *r, struct trace_data *data, bool *bad)
{
    char h[20];
    snprintf(h, sizeof h, "%016" PRIx64, (uint64_t)r->b);
    put(o, "cmd_hash", json_string(h), bad);
    put(o, "cmd_len", json_integer(r->aux), bad);
    const uint8_t *p = data ? trace_data_get(data, r) : NULL;
    if (p)
        put_cmd(o, p, (size_t)r->aux, bad);
    else
        put(o, "cmd", json_null(), bad);
}

/* A process id: a node's number, or for a client process (ids above n)
 * "client": K beside it. */
static void put_peer(json_t *o, const char *key, int id, int n, bool *bad)
{
    put(o, key, json_integer(id), bad);
    if (n > 0 && id > n) {
        char ck[32];
        snprintf(ck, sizeof ck, "%s_client", key);
        put(o, ck, json_integer(id - n), bad);
    }
}

/* The applies of a run, by (node, incarnation, index): a commit line
 * names the command its node applied at that index. */
static int cmp_apply(const void *x, const void *y)
{
    const struct trace_rec *a = *(const struct trace_rec *const *)x,
                           *b = *(const struct trace_rec *const *)y;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    if (a->incarnation != b->incarnation)
        return a->incarnation < b->incarnation ? -1 : 1;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return (a->t_us > b->t_us) - (a->t_us < b->t_us);
}

struct applies {
    const struct trace_rec **v;
    size_t n;
};

static const struct trace_rec *apply_of(const struct applies *ap, const struct trace_rec *c)
{
    size_t lo = 0, hi = ap->n;
    struct trace_rec key = {.node = c->node, .incarnation = c->incarnation, .a = c->a,
                            .t_us = INT64_MIN};
    const struct trace_rec *kp = &key;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cmp_apply(&ap->v[mid], &kp) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ap->n && ap->v[lo]->node == c->node && ap->v[lo]->incarnation == c->incarnation &&
        ap->v[lo]->a == c->a)
        return ap->v[lo];
    return NULL;
}

/* The invokes and answers of client operations, by (client, op id, kind):
 * an ok line shows what its operation was and what it answered. */
static int cmp_cop(const void *x, const void *y)
{
    const struct trace_rec *a = *(const struct trace_rec *const *)x,
                           *b = *(const struct trace_rec *const *)y;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->ev != b->ev)
        return a->ev < b->ev ? -1 : 1;
    return (a->t_us > b->t_us) - (a->t_us < b->t_us);
}

static const struct trace_rec *cop_find(const struct applies *cops, int node, int64_t op, int ev)
{
    struct trace_rec key = {.node = (uint16_t)node, .key = op, .ev = (uint16_t)ev,
                            .t_us = INT64_MIN};
    const struct trace_rec *kp = &key;
    size_t lo = 0, hi = cops->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cmp_cop(&cops->v[mid], &kp) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < cops->n && cops->v[lo]->node == node && cops->v[lo]->key == op &&
        cops->v[lo]->ev == ev)
        return cops->v[lo];
    return NULL;
}

/* An outcome line's key-value fields: the operation (from its invoke) and,
 * for an ok, the answer (from its result record). */
static void put_kv_outcome(json_t *o, const struct trace_rec *r, struct trace_data *data,
                           const struct applies *cops)
{
    if (!data || !cops)
        return;
    const struct trace_rec *inv = cop_find(cops, r->node, r->key, TR_INVOKE);
    const uint8_t *p = inv ? trace_data_get(data, inv) : NULL;
    struct kv_cmd kc;
    if (!p || !kv_decode(p, (size_t)inv->aux, &kc))
        return;
    kvtext_cmd_fields(o, &kc);
    if (r->ev != TR_OK)
        return;
    const struct trace_rec *res = cop_find(cops, r->node, r->key, TR_RESULT);
    const uint8_t *q = res ? trace_data_get(data, res) : NULL;
    if (q)
        kvtext_answer_fields(o, kc.op, q, (size_t)res->aux);
}

static json_t *trace_rec_json(const struct trace_rec *r, const struct algo_ops *ops,
                              const json_t *faults, int n, struct trace_data *data,
                              const struct applies *ap, const struct applies *cops)
{
    const char *key = ops && ops->key_field ? ops->key_field : "key";
    char tbuf[16];
    bool bad = false;
    json_t *o = json_object();
    put(o, "t_us", json_integer(r->t_us), &bad);
    /* Clients are `client: K` (DESIGN.md's trace contract); nodes 1..n,
     * the supervisor 0. */
    if (n > 0 && r->node > n)
        put(o, "client", json_integer(r->node - n), &bad);
    else
        put(o, "node", json_integer(r->node), &bad);
    put(o, "ev", json_string(trace_ev_name(r->ev)), &bad);
    put(o, "incarnation", json_integer(r->incarnation), &bad);
    switch (r->ev) {
    case TR_SEND:
    case TR_RECV: {
        put_peer(o, r->ev == TR_SEND ? "to" : "from", r->peer, n, &bad);
        put(o, "type", json_string(report_type_name(ops, r->type, tbuf, sizeof tbuf)), &bad);
        put(o, key, json_integer(r->key), &bad);
        const char *flag = report_msg_flag(ops, r);
        if (flag)
            put(o, flag, json_boolean(r->b != 0), &bad);
        if (r->ev == TR_RECV)
            put(o, "sent_us", json_integer(r->a), &bad);
        break;
    }
    case TR_DROP:
        /* A refused send names its destination; a message dropped at the
         * receiver its sender - unknown for a malformed one (0 would read
         * as the supervisor). */
        if (r->aux == WIRE_DROP_SEND)
            put(o, "to", json_integer(r->peer), &bad);
        else
            put(o, "from",
                r->aux == 0 || r->aux == WIRE_DROP_STALE || r->aux == WIRE_DROP_PARTITION ||
                        r->aux == WIRE_DROP_LOSS
                    ? json_integer(r->peer)
                    : json_null(),
                &bad);
        put(o, "type", json_string(report_type_name(ops, r->type, tbuf, sizeof tbuf)), &bad);
        put(o, key, json_integer(r->key), &bad);
        put(o, "reason", json_string(report_drop_reason(r->aux)), &bad);
        break;
    case TR_TRUNCATE:
        put(o, "from_index", json_integer(r->a), &bad);
        put(o, "to_index", json_integer(r->b), &bad);
        put(o, "term", json_integer(r->key), &bad);
        break;
    case TR_LINK:
        /* The supervisor changed the state of the link peer -> key. */
        put(o, "from", json_integer(r->peer), &bad);
        put(o, "to", json_integer(r->key), &bad);
        put(o, "cut", json_boolean(r->aux != 0), &bad);
        put(o, "loss", json_real((double)r->a / NET_PPM), &bad);
        put(o, "delay_us", json_integer(r->b), &bad);
        put(o, "jitter_us", json_integer(r->c), &bad);
        break;
    case TR_ENTER: {
        static const char *const res[] = {"ok", "violation", "fenced", "superseded"};
        put(o, key, json_integer(r->key), &bad);
        put(o, "resource", json_string(r->aux >= 0 && r->aux <= 3 ? res[r->aux] : "unknown"),
            &bad);
        if (r->b >= 0)
            put(o, "gen", json_integer(r->b), &bad); /* the fencing generation */
        break;
    }
    case TR_EXIT:
        put(o, key, json_integer(r->key), &bad);
        put(o, "counter", json_integer(r->a), &bad);
        if (r->b >= 0)
            put(o, "gen", json_integer(r->b), &bad);
        if (r->aux == 2)
            put(o, "write", json_string("refused by fencing"), &bad);
        break;
    case TR_ROLE:
        put(o, "role", json_string(algo_role_name(r->aux)), &bad);
        put(o, "term", json_integer(r->key), &bad);
        break;
    case TR_COMMIT: {
        put(o, "index", json_integer(r->a), &bad);
        put(o, "term", json_integer(r->key), &bad);
        /* The command at that index, as this node applied it (nothing when
         * it did not live to apply it). */
        const struct trace_rec *a = ap ? apply_of(ap, r) : NULL;
        if (a)
            put_data(o, a, data, &bad);
        break;
    }
    case TR_APPLY:
        put(o, "index", json_integer(r->a), &bad);
        put(o, "term", json_integer(r->key), &bad);
        put_data(o, r, data, &bad);
        break;
    case TR_INVOKE:
        put(o, "id", json_integer(r->key), &bad);
        put_data(o, r, data, &bad);
        break;
    case TR_OK:
    case TR_FAIL:
        put(o, "id", json_integer(r->key), &bad);
        put(o, "server", r->peer ? json_integer(r->peer) : json_null(), &bad);
        if (r->ev == TR_OK || r->a > 0) {
            put(o, "index", json_integer(r->a), &bad);
            put(o, "term", json_integer(r->b), &bad);
        }
        put_kv_outcome(o, r, data, cops);
        break;
    case TR_TIMEOUT:
        put(o, "id", json_integer(r->key), &bad);
        put_kv_outcome(o, r, data, cops);
        break;
    case TR_CRASH:
        put(o, "signal", signal_json(r->aux), &bad);
        if (r->aux == 0)
            put(o, "exit_code", json_integer(r->a), &bad);
        break;
    case TR_RESTART:
        if (r->a)
            put(o, "new_incarnation", json_integer(r->a), &bad);
        break;
    case TR_PAUSE:
    case TR_RESUME:
        put(o, "signal", signal_json(r->aux), &bad);
        break;
    case TR_FAULT:
        put(o, "action", json_string(fault_action_name(r->aux)), &bad);
        put(o, "target", r->peer ? json_integer(r->peer) : json_null(), &bad);
        put(o, "fault", json_integer(r->a), &bad);
        if (r->b > 0)
            put(o, "occurrence", json_integer(r->b), &bad);
        if (r->c == 1)
            put(o, "undo", json_true(), &bad);
        /* What the experiment said ("coordinator", "random", "1,2/3"). */
        size_t fi;
        json_t *fj;
        json_array_foreach(faults, fi, fj)
        {
            json_int_t num;
            if (get_int(fj, "number", &num) && num == r->a) {
                put(o, "target_spec", copy_key(fj, "target"), &bad);
                break;
            }
        }
        break;
    case TR_START:
        put(o, "pid", json_integer(r->aux), &bad);
        break;
    case TR_DONE:
        put(o, "requests_done", json_integer(r->a), &bad);
        break;
    case TR_PEER_DOWN:
    case TR_PEER_UP:
        put_peer(o, "peer", r->peer, n, &bad);
        break;
    case TR_STOP:
        /* The supervisor's record of a graceful stop carries the signal. */
        if (r->aux)
            put(o, "signal", signal_json(r->aux), &bad);
        break;
    case TR_REQUEST:
        break;
    case TR_CUT: {
        /* The writer's own record: its file could not grow, and the
         * records after this time were lost. */
        char why[128];
        put(o, "reason", json_string(evidence_cut_reason(r->aux, why, sizeof why)), &bad);
        put(o, "errno", json_integer(r->aux), &bad);
        put(o, "records_lost", json_integer(r->a), &bad);
        break;
    }
    default:
        /* Client operations and anything newer: the raw fields, so that
         * nothing recorded is hidden until a proper decoding exists. */
        put(o, "peer", json_integer(r->peer), &bad);
        put(o, "type", json_integer(r->type), &bad);
        put(o, "aux", json_integer(r->aux), &bad);
        put(o, "key", json_integer(r->key), &bad);
        put(o, "a", json_integer(r->a), &bad);
        put(o, "b", json_integer(r->b), &bad);
        put(o, "c", json_integer(r->c), &bad);
        break;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int report_trace_json(const char *rundir, FILE *f)
{
    char err[DL_ERRLEN], alg[64];
    int n;
    if (trace_algorithm(rundir, alg, sizeof alg, &n, err) < 0) {
        fprintf(stderr, "distlab trace: %s\n", err);
        return 2;
    }
    struct trace_set ts;
    if (trace_load_set(rundir, &ts, err) < 0) {
        fprintf(stderr, "distlab trace: %s\n", err);
        return 2;
    }
    const struct trace_rec *recs = ts.recs;
    size_t nrec = ts.n;
    /* stdout stays one event per line; what is missing goes to stderr. */
    struct evidence ev;
    if (evidence_scan(&ev, &ts, NULL, true) == 0) {
        size_t gi;
        json_t *g;
        json_array_foreach(json_object_get(ev.json, "gaps"), gi, g)
            fprintf(stderr, "distlab trace: %s\n", json_string_value(g));
    }
    evidence_free(&ev);
    const struct algo_ops *ops = algo_find(alg);
    /* run.json's fault list names each fault's target as configured. */
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", rundir);
    char *text = NULL, rerr[DL_ERRLEN];
    size_t len = 0;
    json_t *run = dl_read_file(path, &text, &len, rerr) == 0 ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    const json_t *faults = json_object_get(run, "faults");
    struct trace_data data;
    bool have_data = trace_data_open(&data, rundir, err) == 0;
    struct applies ap = {0};
    size_t napply = 0;
    for (size_t i = 0; i < nrec; i++)
        napply += recs[i].ev == TR_APPLY;
    ap.v = napply ? malloc(napply * sizeof *ap.v) : NULL;
    for (size_t i = 0; ap.v && i < nrec; i++)
        if (recs[i].ev == TR_APPLY)
            ap.v[ap.n++] = &recs[i];
    if (ap.n > 1)
        qsort(ap.v, ap.n, sizeof *ap.v, cmp_apply);
    struct applies cops = {0};
    size_t ncop = 0;
    for (size_t i = 0; i < nrec; i++)
        ncop += recs[i].ev == TR_INVOKE || recs[i].ev == TR_RESULT;
    cops.v = ncop ? malloc(ncop * sizeof *cops.v) : NULL;
    for (size_t i = 0; cops.v && i < nrec; i++)
        if (recs[i].ev == TR_INVOKE || recs[i].ev == TR_RESULT)
            cops.v[cops.n++] = &recs[i];
    if (cops.n > 1)
        qsort(cops.v, cops.n, sizeof *cops.v, cmp_cop);
    int rc = 0;
    for (size_t i = 0; i < nrec; i++) {
        if (recs[i].ev == TR_RESULT)
            continue; /* shown in its ok line */
        json_t *o = trace_rec_json(&recs[i], ops, faults, n, have_data ? &data : NULL, &ap, &cops);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!line) {
            fprintf(stderr, "distlab trace: out of memory\n");
            rc = 2;
            break;
        }
        fputs(line, f);
        fputc('\n', f);
        free(line);
    }
    free(ap.v);
    free(cops.v);
    if (have_data)
        trace_data_close(&data);
    json_decref(run);
    trace_set_free(&ts);
    return rc;
}
