/* `distlab client [RUN] put KEY VALUE | get KEY | append KEY VALUE |
 * cas KEY OLD NEW`: one command typed into a live Raft run from a shell.
 *
 * The tool becomes a client process of the run for one command: it claims
 * one of the run's interactive client slots (ipc/shm.h params.interactive;
 * a slot whose process is gone is free again), takes its next incarnation,
 * and runs the node runtime there with the client core - the same process
 * a workload client is, so the command is traced (`client: K` in `distlab
 * trace`), checked with the rest of the history, and retried, redirected
 * and answered exactly as theirs are. It prints the answer, the server
 * that answered, the index and term the command committed at, and the time
 * it took; with no leader it keeps trying until --timeout and says so.
 *
 * Exit status: 0 the command took effect (ok), 1 the cluster answered and
 * it did not (not_found, mismatch, too_large, full, refused), 2 bad input
 * or no such run, 3 no answer within the timeout (it may or may not have
 * taken effect). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc/shm.h"
#include "ipc/util.h"
#include "nodes/algo.h"
#include "nodes/kv.h"
#include "nodes/runtime.h"
#include "src/cli.h"
#include "src/config.h"
#include "src/control.h"
#include "src/kvtext.h"

#define CLIENT_DEFAULT_TIMEOUT_US (5 * 1000 * 1000)

/* Claim a free interactive slot of run r: its process id, or 0. */
static int claim_slot(struct shm_run *r)
{
    int first = (int)r->n + r->params.clients + 1;
    int last = (int)r->n + (int)r->clients;
    if (r->params.interactive < 1 || first < (int)r->n + 1 || last > (int)r->procs)
        return 0;
    int32_t me = (int32_t)getpid();
    for (int k = first; k <= last; k++) {
        struct shm_node *sn = &r->node[k];
        int32_t pid = atomic_load(&sn->pid);
        /* Free: never used, or its process is gone. */
        if (pid != 0 && pid != me && (kill(pid, 0) == 0 || errno != ESRCH))
            continue;
        if (atomic_compare_exchange_strong(&sn->pid, &pid, me))
            return k;
    }
    return 0;
}

/* Is node k's process alive (not gone, not a zombie the supervisor has
 * not reaped yet: a `kill -9` a moment ago)? */
static bool node_alive(const struct shm_run *r, uint32_t k)
{
    pid_t pid = (pid_t)atomic_load(&r->node[k].pid);
    if (pid <= 0 || atomic_load(&r->node[k].state) != NODE_UP)
        return false;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name */
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* The server to ask first: the live leader of the highest term in the
 * cluster table, else the first live node (it redirects to the leader it
 * knows), else 0 (any). Asking a node that just died would cost the
 * client's attempt interval. */
static int first_server(const struct shm_run *r)
{
    int best = 0, any = 0;
    int64_t term = -1;
    for (uint32_t k = 1; k <= r->n; k++) {
        if (!node_alive(r, k))
            continue;
        if (!any)
            any = (int)k;
        const struct shm_node *sn = &r->node[k];
        if (atomic_load(&sn->role) == ROLE_LEADER && atomic_load(&sn->term) > term) {
            best = (int)k;
            term = atomic_load(&sn->term);
        }
    }
    return best ? best : any;
}

static int detach_and(struct shm_handle *h, int rc)
{
    shm_detach(h);
    return rc;
}

static int usage_error(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));
static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "distlab client: ");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    fprintf(stderr, fmt, arg);
#pragma GCC diagnostic pop
    fputc('\n', stderr);
    cli_usage("client", stderr);
    return 2;
}

static void print_json(const struct kv_cmd *kc, const struct rt_interactive *ia, int client)
{
    json_t *o = json_object();
    kvtext_cmd_fields(o, kc);
    json_object_set_new(o, "client", json_integer(client));
    json_object_set_new(o, "id", json_integer(ia->op));
    json_object_set_new(o, "outcome",
                        json_string(ia->outcome == ALGO_OP_OK        ? "ok"
                                    : ia->outcome == ALGO_OP_FAIL    ? "fail"
                                    : ia->outcome == ALGO_OP_TIMEOUT ? "timeout"
                                                                     : "stopped"));
    if (ia->outcome == ALGO_OP_OK) {
        kvtext_answer_fields(o, kc->op, ia->answer, ia->alen);
        json_object_set_new(o, "server", json_integer(ia->server));
        json_object_set_new(o, "index", json_integer(ia->index));
        json_object_set_new(o, "term", json_integer(ia->term));
    } else if (ia->outcome == ALGO_OP_FAIL) {
        json_object_set_new(o, "server", json_integer(ia->server));
    }
    json_object_set_new(o, "ms", json_real((double)ia->elapsed_us / 1000.0));
    char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (line)
        puts(line);
    free(line);
    json_decref(o);
}

int cmd_client(int argc, char **argv)
{
    int64_t timeout_us = CLIENT_DEFAULT_TIMEOUT_US;
    bool json = false;
    const char *pos[8];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage("client", stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--timeout") == 0 || strncmp(argv[i], "--timeout=", 10) == 0) {
            const char *v = argv[i][9] == '=' ? argv[i] + 10 : i + 1 < argc ? argv[++i] : NULL;
            /* A bare number is seconds. */
            char with_unit[64];
            if (v && v[0] && strspn(v, "0123456789.") == strlen(v) && strlen(v) < 60) {
                snprintf(with_unit, sizeof with_unit, "%ss", v);
                v = with_unit;
            }
            if (!v || config_parse_duration(v, &timeout_us) < 0 || timeout_us < 1000 ||
                timeout_us > 3600LL * 1000 * 1000)
                return usage_error("--timeout: expected a duration from 1ms to 1h (5s, 500ms, 2), "
                                   "got '%s'",
                                   v ? v : "");
        } else if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc && np < 8; i++)
                pos[np++] = argv[i];
            break;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("unknown option '%s'", argv[i]);
        } else if (np < 8) {
            pos[np++] = argv[i];
        } else {
            return usage_error("too many arguments (from '%s')", argv[i]);
        }
    }
    /* RUN is there when the first word is not an operation. */
    const char *which = NULL;
    int at = 0;
    if (np > 0 && !kv_op_parse(pos[0])) {
        which = pos[0];
        at = 1;
    }
    struct shm_handle h;
    int rc = control_find_run(which, &h, true);
    if (rc < 0)
        return 2;
    struct shm_run *r = h.run;
    if (!r->params.interactive || r->params.interactive < 1) {
        fprintf(stderr,
                "distlab client: run %08x runs %.*s, which takes no commands (only raft "
                "does)\n",
                r->run_id, (int)sizeof r->algorithm, r->algorithm);
        shm_detach(&h);
        return 2;
    }
    if (atomic_load(&r->phase) != RUN_RUNNING) {
        fprintf(stderr, "distlab client: run %08x is not running (it is %s)\n", r->run_id,
                atomic_load(&r->phase) == RUN_STARTING ? "starting: try again in a moment"
                                                       : "stopping");
        shm_detach(&h);
        return 2;
    }
    if (at >= np)
        return detach_and(&h, usage_error("%s", "expected an operation: put, get, append or cas"));
    struct kv_cmd kc = {.op = kv_op_parse(pos[at])};
    if (!kc.op)
        return detach_and(
            &h, usage_error("unknown operation '%s' (expected put, get, append or cas)", pos[at]));
    int want = kc.op == KV_GET ? 1 : kc.op == KV_CAS ? 3 : 2;
    if (np - at - 1 != want) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s takes %s", kv_op_name(kc.op),
                 kc.op == KV_GET   ? "a KEY"
                 : kc.op == KV_CAS ? "KEY OLD NEW"
                                   : "KEY VALUE");
        return detach_and(&h, usage_error("%s", msg));
    }
    const char *key = pos[at + 1];
    kc.key = (const uint8_t *)key;
    kc.klen = (uint32_t)strlen(key);
    if (kc.op != KV_GET) {
        kc.a = (const uint8_t *)pos[at + 2];
        kc.alen = (uint32_t)strnlen(pos[at + 2], KV_MAX_VALUE + 1);
    }
    if (kc.op == KV_CAS) {
        kc.b = (const uint8_t *)pos[at + 3];
        kc.blen = (uint32_t)strnlen(pos[at + 3], KV_MAX_VALUE + 1);
    }
    if (strlen(key) > KV_MAX_KEY)
        kc.klen = KV_MAX_KEY + 1;
    const char *why = kv_cmd_invalid(&kc);
    if (why) {
        fprintf(stderr,
                "distlab client: %s: refused, not sent (keys are 1 to %u bytes, values "
                "at most %u)\n",
                why, KV_MAX_KEY, KV_MAX_VALUE);
        shm_detach(&h);
        return 2;
    }

    int k = claim_slot(r);
    if (!k) {
        fprintf(stderr,
                "distlab client: all %d client slots for commands from a shell are in "
                "use; try again when one of them is answered\n",
                (int)r->params.interactive);
        shm_detach(&h);
        return 2;
    }
    int client = k - (int)r->n;
    int inc = atomic_fetch_add(&r->node[k].incarnation, 1) + 1;

    /* The tag makes this command's bytes unlike any other's in the run. */
    char tag[KV_MAX_TAG + 1];
    snprintf(tag, sizeof tag, "shell%d-%d", client, inc);
    kc.tag = (const uint8_t *)tag;
    kc.tlen = (uint32_t)strlen(tag);
    static uint8_t buf[KV_MAX_CMD];
    uint32_t len = kv_encode(buf, sizeof buf, &kc);
    static struct rt_interactive ia;
    memset(&ia, 0, sizeof ia);
    ia.cmd = buf;
    ia.len = len;
    ia.timeout_us = timeout_us;
    ia.first_server = first_server(r);
    struct runtime_args args = {.id = k, .incarnation = inc, .interactive = &ia};
    snprintf(args.segment, sizeof args.segment, "%s", h.name);
    int node_rc = runtime_main(&args);
    /* The slot is free again: its state first, as the pid set free lets
     * another command claim it, and that one's state must not be
     * overwritten. */
    atomic_store(&r->node[k].state, NODE_STOPPED);
    atomic_store(&r->node[k].pid, 0);
    shm_detach(&h);

    /* The value printed whole: every byte may take 4 (\xNN), and quotes. */
    static char val[4 * KV_MAX_VALUE + 64];
    char text[1200];
    kvtext_cmd(text, sizeof text, &kc, 60);
    if (json) {
        /* Every outcome, an unknown one too, as one object on stdout (the
         * words below go to stderr as well). */
        print_json(&kc, &ia, client);
    }
    if (ia.outcome == ALGO_OP_OK) {
        if (!json) {
            int st = ia.alen ? ia.answer[0] : -1;
            const char *status = ia.alen ? kv_status_name(st) : "ok";
            if (kc.op == KV_GET && st == KV_OK)
                printf("%s\n", kvtext_quote(val, sizeof val, ia.answer + 1, ia.alen - 1, 0));
            else if (kc.op == KV_GET)
                printf("(not found)\n");
            else if (st == KV_MISMATCH)
                printf("mismatch: the value is %s\n",
                       kvtext_quote(val, sizeof val, ia.answer + 1, ia.alen - 1, 60));
            else
                printf("%s\n", status);
            fprintf(stderr, "%s: %s by node %d at index %lld, term %lld, in %.3f ms (client %d)\n",
                    text, status, ia.server, (long long)ia.index, (long long)ia.term,
                    (double)ia.elapsed_us / 1000.0, client);
        }
    } else if (ia.outcome == ALGO_OP_FAIL) {
        fprintf(stderr, "%s: refused by node %d: not applied\n", text, ia.server);
    } else if (ia.outcome == ALGO_OP_TIMEOUT) {
        fprintf(stderr,
                "%s: no answer within %.3f s (no leader, or none that could commit): the "
                "command may or may not have taken effect\n",
                text, (double)timeout_us / 1e6);
    } else {
        fprintf(stderr,
                "%s: stopped before an answer came (interrupted, or the run ended): the "
                "command may or may not have taken effect\n",
                text);
    }
    if (node_rc != 0 && !ia.outcome)
        return 3;
    if (ia.outcome == ALGO_OP_OK)
        return ia.alen && ia.answer[0] != KV_OK ? 1 : 0;
    return ia.outcome == ALGO_OP_FAIL ? 1 : 3;
}
