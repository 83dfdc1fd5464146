/* The human-readable parts of a report (report.txt): the mutual-exclusion
 * figures and the faults. Everything printed here comes from the report
 * object, so report.txt never says what report.json does not. */
#include <stdio.h>
#include <string.h>

#include "src/report_int.h"

static json_int_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void print_waiting(const json_t *rep, FILE *f)
{
    char a[64], b[64], c[64], d[64];
    const json_t *w = json_object_get(rep, "waiting_ms");
    if (!w)
        return;
    fprintf(f,
            "waiting            mean %s ms, max %s ms over granted requests; per-node mean "
            "%s to %s ms\n",
            fmt_key(w, "mean", 3, a, 64), fmt_key(w, "max", 3, b, 64),
            fmt_key(w, "node_mean_min", 3, c, 64), fmt_key(w, "node_mean_max", 3, d, 64));
    const json_t *lw = json_object_get(w, "longest");
    if (json_is_object(lw))
        fprintf(f, "longest wait       %s ms: node %s, requested at %s ms (%s)\n",
                fmt_key(lw, "ms", 3, a, 64), fmt_key(lw, "node", 0, b, 64),
                fmt_key(lw, "requested_at_ms", 3, c, 64),
                json_is_true(json_object_get(lw, "granted")) ? "granted"
                                                             : "still waiting at the end");
    json_int_t ot = int_of(rep, "overtakes");
    fprintf(f,
            "overtakes          %lld (an entry went to a later requester while an earlier "
            "request waited; at most %lld for one request)\n",
            (long long)ot, (long long)int_of(rep, "overtakes_max_per_request"));
}

void report_print_mutex(const json_t *rep, FILE *f)
{
    char a[64], b[64], c[64], d[64];
    const json_t *safety = json_object_get(rep, "safety");
    fprintf(f, "critical sections  %s entries", fmt_key(rep, "cs_entries", 0, a, 64));
    json_int_t refused = int_of(rep, "cs_writes_refused");
    if (refused)
        fprintf(f, " (%lld of them with the write refused by fencing)", (long long)refused);
    fprintf(f, ", %s per s", fmt_key(rep, "throughput_cs_per_s", 1, b, 64));
    json_int_t fenced = int_of(rep, "cs_fenced");
    if (fenced)
        fprintf(f, ", %lld more refused by fencing", (long long)fenced);
    fprintf(f, "; %s request(s) pending at the end\n",
            fmt_key(safety, "requests_pending_at_end", 0, c, 64));
    fprintf(f, "messages           %s algorithm messages: %s per CS (theory %s)\n",
            fmt_key(rep, "messages", 0, a, 64), fmt_key(rep, "messages_per_cs", 2, b, 64),
            fmt_key(rep, "theory_messages_per_cs", 2, c, 64));
    const json_t *bt = json_object_get(rep, "messages_by_type");
    if (json_object_size(bt) > 1) {
        fprintf(f, "  by type         ");
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)bt, key, v)
            fprintf(f, " %s %s/CS", key, fmt_key(v, "per_cs", 2, a, 64));
        fputc('\n', f);
    }
    const json_t *tn = json_object_get(rep, "theory_note");
    if (json_is_string(tn))
        fprintf(f, "  theory           %s\n", json_string_value(tn));
    /* Drops by reason: partition and loss always, the others when any. */
    const json_t *dropped = json_object_get(rep, "dropped");
    if (json_is_object(dropped)) {
        json_int_t total = 0;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)dropped, key, v)
            total += json_integer_value(v);
        fprintf(f, "dropped            %lld message%s%s", (long long)total, plural((long)total),
                total ? ":" : "");
        bool first = true;
        json_object_foreach((json_t *)dropped, key, v)
        {
            json_int_t k = json_integer_value(v);
            if (total == 0 ||
                (k == 0 && strcmp(key, "partition") != 0 && strcmp(key, "loss") != 0))
                continue;
            fprintf(f, "%s %s %lld", first ? "" : ",", key, (long long)k);
            first = false;
        }
        fputc('\n', f);
    }
    if (json_is_true(json_object_get(rep, "retransmit")))
        fprintf(f, "retransmit         on ([cluster] retransmit: unanswered requests and tokens "
                   "are sent again)\n");
    const json_t *idle = json_object_get(rep, "token_passes_unused");
    if (json_is_integer(idle))
        fprintf(f, "idle token passes  %lld (token hops to a node that did not want the CS)\n",
                (long long)json_integer_value(idle));
    json_int_t sup = int_of(rep, "cs_superseded");
    const json_t *fencing = json_object_get(rep, "fencing");
    if (json_is_boolean(fencing)) {
        fprintf(f, "fencing            %s", json_is_true(fencing) ? "on" : "off");
        if (sup || fenced || refused)
            fprintf(f,
                    ": %lld entr%s superseded a stale holder, %lld stale entr%s and %lld "
                    "stale write%s refused",
                    (long long)sup, sup == 1 ? "y" : "ies", (long long)fenced,
                    fenced == 1 ? "y" : "ies", (long long)refused, plural((long)refused));
        fputc('\n', f);
    }
    const json_t *r = json_object_get(rep, "response_ms");
    fprintf(f, "response time      p50 %s  p95 %s  p99 %s  max %s ms (request -> entry)\n",
            fmt_key(r, "p50", 3, a, 64), fmt_key(r, "p95", 3, b, 64), fmt_key(r, "p99", 3, c, 64),
            fmt_key(r, "max", 3, d, 64));
    const json_t *s = json_object_get(rep, "sync_delay_ms");
    fprintf(f,
            "sync delay         p50 %s  mean %s ms (one node leaves -> the next waiting one "
            "enters)\n",
            fmt_key(s, "p50", 3, a, 64), fmt_key(s, "mean", 3, b, 64));
    print_waiting(rep, f);
    fprintf(f,
            "fairness (Jain)    %s (of entries per requesting node: 1.000 whenever each did "
            "the same number)\n",
            fmt_key(rep, "fairness_jain", 3, a, 64));
    fprintf(f, "counter            final %s, expected %s (one per completed CS)\n",
            fmt_key(rep, "counter_final", 0, a, 64), fmt_key(rep, "counter_expected", 0, b, 64));
    const json_t *ov = json_object_get(safety, "overlaps");
    if (json_is_integer(ov) && json_integer_value(ov) > 0)
        fprintf(f,
                "believed overlaps  %lld pair%s of nodes inside at once, %s ms in all (%s "
                "refused by fencing)\n",
                (long long)json_integer_value(ov), plural((long)json_integer_value(ov)),
                fmt_key(safety, "overlap_ms", 3, a, 64),
                fmt_key(safety, "overlaps_fenced", 0, b, 64));
    fprintf(f, "crashes            %s\n\n", fmt_key(safety, "crashes", 0, a, 64));

    fprintf(f, "%4s %6s %8s %8s %6s %9s %9s %9s %10s %11s %7s\n", "node", "CS", "sent", "recv",
            "share", "wait_mean", "wait_max", "overtaken", "queue_full", "backlog_hwm", "crashes");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(rep, "per_node"), i, n)
    {
        char e[64], g[64], h[64], k[64], wm[64], wx[64], o[64];
        const json_t *share = json_object_get(n, "share_of_messages");
        if (json_is_number(share))
            snprintf(d, sizeof d, "%.1f%%", 100.0 * json_number_value(share));
        else
            snprintf(d, sizeof d, "-");
        const json_t *w = json_object_get(n, "wait_ms");
        fprintf(f, "%4s %6s %8s %8s %6s %9s %9s %9s %10s %11s %7s\n", fmt_key(n, "node", 0, a, 64),
                fmt_key(n, "cs_entries", 0, b, 64), fmt_key(n, "messages_sent", 0, c, 64),
                fmt_key(n, "messages_received", 0, e, 64), d, fmt_key(w, "mean", 3, wm, 64),
                fmt_key(w, "max", 3, wx, 64), fmt_key(n, "overtaken", 0, o, 64),
                fmt_key(n, "queue_full", 0, g, 64), fmt_key(n, "backlog_hwm", 0, h, 64),
                fmt_key(n, "crashes", 0, k, 64));
    }
}

void report_print_faults(const json_t *rep, FILE *f)
{
    const json_t *faults = json_object_get(rep, "faults");
    fprintf(f, "\nfaults:%s\n", json_array_size(faults) ? "" : " none");
    size_t i;
    json_t *o;
    json_array_foreach(faults, i, o)
    {
        char a[64], b[64];
        const json_t *target = json_object_get(o, "target");
        const json_t *at = json_object_get(o, "at_ms");
        if (json_is_number(at))
            fprintf(f, "  at %s ms: ", fmt_num(at, 3, a, 64));
        else
            fprintf(f, "  never: ");
        fprintf(f, "%s", str_or(o, "action", "?"));
        const json_t *node = json_object_get(o, "node");
        char nb[64];
        fmt_num(node, 0, nb, sizeof nb);
        /* "kill coordinator (node 1)", but "kill node 4", not "kill 4 (node 4)". */
        bool same = json_is_integer(node) &&
                    ((json_is_string(target) && strcmp(json_string_value(target), nb) == 0) ||
                     json_is_integer(target));
        const char *ts = json_string_value(target);
        if (ts && ts[0] && !same)
            fprintf(f, ts[0] && strspn(ts, "0123456789") == strlen(ts) ? " node %s" : " %s", ts);
        if (json_is_integer(node))
            fprintf(f, same ? " node %s" : " (node %s)", nb);
        else if (json_is_integer(target))
            fprintf(f, " node %s", fmt_num(target, 0, b, 64));
        const char *src = str_or(o, "source", "?");
        const char *label = str_or(o, "label", "");
        bool repeated = strchr(label, '#') != NULL;
        json_int_t occ = int_of(o, "occurrence");
        const char *action = str_or(o, "action", "");
        const char *undone = strcmp(action, "heal") == 0     ? "healed"
                             : strcmp(action, "resume") == 0 ? "resumed"
                                                             : "restored";
        if (strcmp(src, "schedule") == 0 && json_is_true(json_object_get(o, "undo")))
            fprintf(f, ", %s %s automatically (the end of its `for`)", label, undone);
        else if (strcmp(src, "schedule") == 0 && repeated && occ > 1)
            fprintf(f, ", %s (a repetition of fault %s, first scheduled %s ms after the "
                       "workload start)",
                    label, fmt_key(o, "number", 0, a, 64), fmt_key(o, "scheduled_ms", 0, b, 64));
        else if (strcmp(src, "schedule") == 0 && repeated)
            fprintf(f, ", %s scheduled %s ms after the workload start", label,
                    fmt_key(o, "scheduled_ms", 0, b, 64));
        else if (strcmp(src, "schedule") == 0)
            fprintf(f, ", fault %s scheduled %s ms after the workload start",
                    fmt_key(o, "number", 0, a, 64), fmt_key(o, "scheduled_ms", 0, b, 64));
        else if (strcmp(src, "external") == 0)
            fprintf(f, ", from outside (%s, no fault record asked for it)",
                    str_or(o, "signal", "no signal"));
        else
            fprintf(f, ", commanded");
        fputc('\n', f);
        const char *out = json_string_value(json_object_get(o, "outcome"));
        if (out && out[0])
            fprintf(f, "      %s\n", out);
    }
}

void report_print_stall(const json_t *rep, FILE *f)
{
    const json_t *st = json_object_get(rep, "stall");
    if (!json_is_object(st))
        return;
    fprintf(f, "\nstill waiting at the end:\n");
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(st, "waiting"), i, w)
        fprintf(f, "  %s\n", str_or(w, "text", "?"));
    const char *note = json_string_value(json_object_get(st, "note"));
    if (note)
        fprintf(f, "  %s\n", note);
}

/* ---- Raft ---- */

void report_print_raft(const json_t *rep, FILE *f)
{
    char a[64], b[64], c[64], d[64], e[64];
    const json_t *leaders = json_object_get(rep, "leaders");
    json_int_t won = int_of(rep, "elections_won");
    json_int_t splits = (json_int_t)json_array_size(json_object_get(rep, "split_votes"));
    fprintf(f,
            "elections          %lld term%s with a candidate or a leader: %lld with a leader, "
            "%lld without (%lld split vote%s); at most %lld leader%s in one term\n",
            (long long)int_of(rep, "elections"), plural((long)int_of(rep, "elections")),
            (long long)won, (long long)int_of(rep, "terms_without_leader"), (long long)splits,
            plural((long)splits), (long long)int_of(rep, "max_leaders_per_term"),
            plural((long)int_of(rep, "max_leaders_per_term")));
    size_t i;
    json_t *l;
    size_t nl = json_array_size(leaders);
    if (nl) {
        fprintf(f, "leaders           ");
        json_array_foreach(leaders, i, l)
        {
            if (i == 12 && nl > 13) {
                fprintf(f, " ... and %zu more", nl - 12);
                break;
            }
            fprintf(f, "%s term %s: node %s at %s ms", i ? "," : "", fmt_key(l, "term", 0, a, 64),
                    fmt_key(l, "node", 0, b, 64), fmt_key(l, "at_ms", 3, c, 64));
        }
        fputc('\n', f);
    }
    const json_t *fos = json_object_get(rep, "failovers");
    json_t *fo;
    json_array_foreach(fos, i, fo)
    {
        if (json_is_number(json_object_get(fo, "failover_ms")))
            fprintf(f, "failover           %s at %s ms: node %s leader of term %s at %s ms, %s ms "
                       "later\n",
                    str_or(fo, "cause", "?"), fmt_key(fo, "at_ms", 3, a, 64),
                    fmt_key(fo, "new_leader", 0, b, 64), fmt_key(fo, "new_term", 0, c, 64),
                    fmt_key(fo, "elected_at_ms", 3, d, 64),
                    fmt_key(fo, "failover_ms", 3, e, 64));
        else
            fprintf(f, "failover           %s at %s ms: %s (at %s ms)\n",
                    str_or(fo, "cause", "?"), fmt_key(fo, "at_ms", 3, a, 64),
                    str_or(fo, "ended", "no new leader"), fmt_key(fo, "ended_at_ms", 3, b, 64));
    }
    const json_t *ops = json_object_get(rep, "ops");
    fprintf(f,
            "commits            %s index%s applied (highest %s); %s apply records\n",
            fmt_key(rep, "commits", 0, a, 64), int_of(rep, "commits") == 1 ? "" : "es",
            fmt_key(rep, "last_applied_index", 0, b, 64), fmt_key(rep, "applies", 0, c, 64));
    fprintf(f,
            "client operations  %s invoked: %s ok, %s failed, %s timed out, %s unanswered\n",
            fmt_key(ops, "invoked", 0, a, 64), fmt_key(ops, "ok", 0, b, 64),
            fmt_key(ops, "failed", 0, c, 64), fmt_key(ops, "timeout", 0, d, 64),
            fmt_key(ops, "pending", 0, e, 64));
    const json_t *lat = json_object_get(rep, "commit_latency_ms");
    if (json_is_number(json_object_get(lat, "p50")))
        fprintf(f, "commit latency     p50 %s ms, p99 %s ms, max %s ms (invoke to ok)\n",
                fmt_key(lat, "p50", 3, a, 64), fmt_key(lat, "p99", 3, b, 64),
                fmt_key(lat, "max", 3, c, 64));
    if (json_is_number(json_object_get(rep, "throughput_ops_per_s")))
        fprintf(f, "throughput         %s ok operations per s (over %s ms, first invoke to "
                   "last ok)\n",
                fmt_key(rep, "throughput_ops_per_s", 1, a, 64),
                fmt_key(rep, "throughput_window_ms", 3, b, 64));
    fprintf(f, "messages           %s algorithm messages", fmt_key(rep, "messages", 0, a, 64));
    if (json_is_number(json_object_get(rep, "messages_per_commit")))
        fprintf(f, ", %s per applied index", fmt_key(rep, "messages_per_commit", 2, b, 64));
    fputc('\n', f);
    const json_t *bt = json_object_get(rep, "messages_by_type");
    if (json_object_size(bt)) {
        fprintf(f, "  by type         ");
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)bt, key, v)
            fprintf(f, " %s %s", key, fmt_key(v, "messages", 0, a, 64));
        fputc('\n', f);
    }
    fprintf(f, "acknowledged lost  %s; logs agree: %s\n",
            fmt_key(rep, "acknowledged_lost", 0, a, 64),
            json_is_true(json_object_get(rep, "logs_agree")) ? "yes" : "no");
    const json_t *lin = json_object_get(rep, "linearizability");
    if (lin) {
        const json_t *lv = json_object_get(rep, "linearizable");
        if (json_is_true(lv))
            fprintf(f, "linearizable       yes: %s operations on %s keys (%s states searched)\n",
                    fmt_key(lin, "ops_checked", 0, a, 64), fmt_key(lin, "keys", 0, b, 64),
                    fmt_key(lin, "states_explored", 0, c, 64));
        else
            fprintf(f, "linearizable       %s: %s\n", json_is_false(lv) ? "NO" : "not judged",
                    json_string_value(json_object_get(lin, "detail")));
        const json_t *vs = json_object_get(lin, "violations");
        size_t vi;
        json_t *v;
        json_array_foreach((json_t *)vs, vi, v)
        {
            fprintf(f, "  key %s: %s operations that cannot be ordered (%s):\n",
                    json_string_value(json_object_get(v, "key")),
                    fmt_key(v, "window_ops", 0, a, 64),
                    json_is_true(json_object_get(v, "from_start")) ? "from the key's start"
                                                                   : "whatever it held before");
            size_t wi;
            json_t *w;
            json_array_foreach(json_object_get(v, "window"), wi, w)
                fprintf(f, "    %s\n", json_string_value(w));
        }
    }
    const json_t *story = json_object_get(rep, "story");
    if (json_array_size(story)) {
        fprintf(f, "\nwhat happened (from the traces):\n");
        json_t *line;
        json_array_foreach(story, i, line)
            fprintf(f, "  %s\n", json_string_value(line));
        json_int_t more = int_of(rep, "story_omitted");
        if (more)
            fprintf(f, "  ... and %lld later event%s (leaders and failovers in report.json)\n",
                    (long long)more, plural((long)more));
    }
    const json_t *vl = json_object_get(rep, "violation_list");
    if (json_array_size(vl)) {
        fprintf(f, "\nviolations:\n");
        json_t *v;
        json_array_foreach(vl, i, v)
            fprintf(f, "  %s at %s ms: %s\n", str_or(v, "property", "?"),
                    fmt_key(v, "at_ms", 3, a, 64), str_or(v, "text", ""));
        if ((json_int_t)json_array_size(vl) < int_of(rep, "violations"))
            fprintf(f, "  ... %lld in all (the first %zu listed)\n",
                    (long long)int_of(rep, "violations"), json_array_size(vl));
    }
}
