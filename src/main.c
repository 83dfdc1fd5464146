/* distlab: the command line. One table of commands (tmux's cmd_entry
 * style); the node processes are this same program started as
 * `distlab-node K SEGMENT INCARNATION`, and a run's client processes as
 * `distlab-client K SEGMENT INCARNATION` (K above the nodes). */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"
#include "ipc/util.h"
#include "nodes/runtime.h"
#include "src/cli.h"
#include "src/compare.h"
#include "src/config.h"
#include "src/control.h"
#include "src/diagram.h"
#include "src/launcher.h"
#include "src/report.h"
#include "src/simcmd.h"

static int cmd_run(int argc, char **argv);
static int cmd_report(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_trace(int argc, char **argv);

/* What every command that takes [RUN] says of it. */
#define RUN_HELP                                                                               \
    "RUN is a run id, a run name or a run directory. Leave it out only when exactly one\n"    \
    "run of yours is live: with several, the command lists them and exits 2. A name that\n"   \
    "several live runs share is refused the same way: give the run id.\n"                     \
    "Only runs of the calling user count (shared memory owned by you, mode 0600).\n"

/* ... and every command that names a node. */
#define NODE_ROLES_HELP                                                                            \
    RUN_HELP                                                                                       \
    "NODE is a node number (1..N). --coordinator names the node that coordinates now\n"            \
    "(centralized; a group coordinator in two_level_ring), --leader the leader of the\n"           \
    "highest term (raft), --token-holder the node that holds the token now (token_ring;\n"         \
    "the global token in two_level_ring); with no live node in that role, exit 1.\n"

#define PID_HELP                                                                                   \
    NODE_ROLES_HELP                                                                                \
    "The pid is checked to be that run's node (its command line, its parent, its start)\n"         \
    "before it is printed.\n"                                                                      \
    "Exit status: 0 done, 1 no such live run or node not running, 2 usage error or RUN\n"          \
    "needed.\n"

/* What the supervisor is asked to do, through the run's command mailbox. */
#define ASK_HELP                                                                                   \
    "The run's supervisor does it, asked through the run's command mailbox once its pid\n"         \
    "is checked to be the run's launcher; it records the command in its trace (a fault\n"          \
    "with source \"command\") and answers within 5 s.\n"                                           \
    "Exit status: 0 done, 1 no such live run, node not running or no answer from the\n"            \
    "supervisor, 2 usage error, bad spec, no such node, or RUN needed.\n"

#define NODE_HELP NODE_ROLES_HELP ASK_HELP

#define NODE_USAGE "[RUN] {NODE | " CONTROL_ROLE_OPTIONS "}"

static const struct cmd_entry commands[] = {
    {"run", "CONFIG.ini [--set section.key=value]... [--out DIR] [--seed N] [--json] [--quiet]",
     "run an experiment; exits 0 when it completed and was safe",
     "  --set S.K=V  override one key of the file (repeatable)\n"
     "  --out DIR    write the run directory there, new or empty (default runs/<name>-<time>)\n"
     "  --seed N     override [cluster] seed\n"
     "  --json       print report.json instead of the text report (and no progress line)\n"
     "  --quiet      print only the run directory (and no live progress line)\n"
     "While it runs, when stderr is a terminal, one line there is rewritten a few times a\n"
     "second: time of duration, CS entries or commits (total, per second), the coordinator,\n"
     "token holder or leader (and term), faults so far; it is cleared before any output.\n"
     "Exit status: 0 completed and safe, 1 unsafe, 2 bad configuration, set-up error or\n"
     "incomplete evidence (the report says \"cannot verify\" and what is missing),\n"
     "3 interrupted (the report is still written).\n",
     cmd_run},
    {"status", "[RUN] [--all] [--watch] [--json]", "the live cluster table from shared memory",
     "  --all    one line per live run of yours (RUN: only those it names), newest first\n"
     "  --watch  refresh every 0.5 s until the run ends (with --all: until interrupted)\n"
     "  --json   the same as JSON (--watch: one compact object per line)\n" RUN_HELP
     "Strings read from shared memory are printed with control characters escaped (\\xNN).\n"
     "Exit status: 0 shown, 1 no such live run, 2 usage error or RUN needed.\n",
     cmd_status},
    {"pid", NODE_USAGE, "print a node's pid, e.g. kill -9 $(distlab pid --coordinator)", PID_HELP,
     cmd_pid},
    {"kill", NODE_USAGE, "crash a node with SIGKILL", NODE_HELP, cmd_kill},
    {"pause", NODE_USAGE, "pause a node with SIGSTOP", NODE_HELP, cmd_pause},
    {"resume", NODE_USAGE, "resume a paused node with SIGCONT", NODE_HELP, cmd_resume},
    {"terminate", NODE_USAGE, "stop a node gracefully with SIGTERM (it is not restarted)",
     NODE_HELP, cmd_terminate},
    {"restart", NODE_USAGE, "crash a node and start it again, whatever the restart policy",
     "A node that is down is started.\n" NODE_HELP, cmd_restart},
    {"partition", "[RUN] SPEC", "cut links of a live run's network (until `distlab heal`)",
     "SPEC: sides '1,2/3,4,5' (every link between two sides is cut, both ways; a node\n"
     "not listed is a side of its own; ranges '1-3/4-5'), or links: '1->3' (one way),\n"
     "'1<->3' (both ways), '3->*' (all 3 sends), '*->3' (all sent to 3), or a list\n"
     "'1->3,2<->4'. Partitions add up: heal ends them all. Messages on a cut link are\n"
     "lost at the receiver.\n" RUN_HELP ASK_HELP,
     cmd_partition},
    {"heal", "[RUN]", "end every partition of a live run (loss, delay and jitter stay)",
     RUN_HELP ASK_HELP, cmd_heal},
    {"net", "[RUN] [loss=P] [delay=D] [jitter=D] [LINKS]",
     "set loss, delay and jitter on a live run's links",
     "  loss=P     the probability a message is lost (0..1, or 10%)\n"
     "  delay=D    added to every message (5ms, 1s; at most 60s)\n"
     "  jitter=D   plus a uniform random 0..D (reorders messages)\n"
     "At least one is given; what is not given stays as it is. LINKS: 'all' (the\n"
     "default) or links as for `distlab partition` ('1->3', '1<->3', '3->*', '1->3,2<->4').\n"
     "RUN is taken when the first argument is not an assignment.\n" RUN_HELP ASK_HELP,
     cmd_net},
    {"report", "RUNDIR [--json] | --compare RUNDIR... [--json] [--plot FILE.svg]",
     "rebuild and print a run's report, or compare runs side by side",
     "  --json       print report.json instead of the text report\n"
     "  --compare    one table across the runs, in the order given: run (its name; the\n"
     "               directory when names repeat), algorithm, N, messages per CS against\n"
     "               the theory (raft: per commit, the clients' requests and answers\n"
     "               counted; token algorithms: 1..\u221e, idle passes are unbounded),\n"
     "               throughput (CS/s; raft: commits/s), response time p50 and p99 in\n"
     "               ms (raft: commit latency), synchronization delay p50 in ms, and the\n"
     "               verdict (safe, UNSAFE, cannot verify). A figure a run does not have\n"
     "               prints \"-\".\n"
     "  --compare --json  the same as a JSON array, one object per run, with the keys\n"
     "               run, rundir, name, algorithm, nodes, simulated, per (\"cs\" or\n"
     "               \"commit\"), messages_per_op, theory_messages_per_op (token\n"
     "               algorithms: the lower bound), theory_unbounded, theory (as printed),\n"
     "               throughput_per_s, throughput_unit, latency (\"response\" or\n"
     "               \"commit\"), latency_p50_ms, latency_p99_ms, sync_delay_p50_ms,\n"
     "               verdict, safe (null: not judged), error (null, or why the run's\n"
     "               report could not be built); a figure it does not have is null\n"
     "  --plot FILE.svg  with --compare: also draw messages per CS (theory dashed) and\n"
     "               response time p50 against N, one series per algorithm, one point\n"
     "               per run (runs of one N: one point per series, and it says so)\n"
     "Every RUNDIR is checked first: one that is not a run directory is named and\n"
     "nothing is shown. A run whose report cannot be built is named on stderr and shown\n"
     "as a row of \"-\" with the verdict \"no report\"; the others are shown.\n"
     "Exit status: 0 shown (whatever the runs' verdicts: `distlab check` judges one),\n"
     "1 (--compare) shown, but a run's report could not be built, 2 usage error, a bad\n"
     "RUNDIR, a report that cannot be built (without --compare), or a plot that could\n"
     "not be written.\n",
     cmd_report},
    {"check", "RUNDIR", "check a run's safety properties; exits 0 when they held",
     "Exit status: 0 safe, 1 unsafe (the property is named), 2 bad input or cannot verify\n"
     "(a trace cut by a full disk or by its size cap, run.json missing).\n",
     cmd_check},
    {"trace", "RUNDIR", "print every event of a run as JSON lines, in time order",
     "Each line has t_us (since the run started), node (0: the supervisor) and ev.\n"
     "Exit status: 0 printed, 2 bad input (not a run directory, or unreadable).\n",
     cmd_trace},
    {"diagram", "RUNDIR [-o FILE.svg|FILE.html] [--from T] [--to T] [--nodes LIST]",
     "draw a run as a space-time diagram (messages, critical sections, roles, faults)",
     "  -o FILE       .svg: a standalone SVG with a legend; .html: a page with the\n"
     "                SVG, a legend, hover details and zoom (default\n"
     "                RUNDIR/diagram.html). The path written is printed.\n"
     "  --from T      start the window at T into the run (250ms, 1.5s)\n"
     "  --to T        end it at T (default: the end of the run, or just before\n"
     "                message 2,001 when the run has more; it says what it left out)\n"
     "  --nodes LIST  only these lanes and the messages between them: 1,2,5 or 1-3;\n"
     "                clients are c1, c2... (or their ids, n+1...)\n"
     "One lane per node and per client, time left to right; the axis is compressed\n"
     "(quiet gaps are drawn short) and labelled with run-relative milliseconds.\n"
     "Arrows are messages (coloured by type, labelled with the algorithm's key: the\n"
     "Lamport timestamp, the term, the token generation); a dropped message or one\n"
     "never received stops short. Bars are critical sections (red hatched: a\n"
     "violation, dashed: fenced) and client operations; lane colours are roles\n"
     "(Raft: leader, candidate, follower, with the term); marks are crashes, pauses,\n"
     "restarts, log roll-backs and the supervisor's faults.\n"
     "Exit status: 0 written, 2 bad input (no such run directory, a bad time, --from\n"
     "after --to or after the end of the run, an unknown node) or the file could not\n"
     "be written.\n",
     cmd_diagram},
    {"sim", "CONFIG.ini [--seeds N] [--seed S [--out DIR]] [--set section.key=value]... [--json]",
     "run the experiment on the deterministic simulator across many seeds",
     "  --seeds N    how many schedules (default 1000), seeds S, S+1, ... from --seed or\n"
     "               [cluster] seed; prints how many violated which property and the\n"
     "               first violating seed\n"
     "  --seed S     one schedule; with --out DIR, write its run directory (trace,\n"
     "               report) for distlab report, check and trace\n"
     "  --set S.K=V  override one key of the file (repeatable)\n"
     "  --json       with --out: print report.json instead of the text report\n"
     "A sweep of 64 seeds or more runs in one worker process per CPU (at most 16);\n"
     "DISTLAB_SIM_JOBS=N sets how many (1: none).\n"
     "Exit status: 0 every schedule safe and live, 1 otherwise (unsafe, not live, or\n"
     "cut off by the duration before its requests were granted), 2 bad input.\n",
     cmd_sim},
    {"client", "[RUN] put KEY VALUE | get KEY | append KEY VALUE | cas KEY OLD NEW "
               "[--timeout D] [--json]",
     "type one command into a live Raft run's key-value store",
     "The command goes to the leader (found by redirect, retried on timeout) as a\n"
     "client of the run: it is traced, checked and applied once like the workload's.\n"
     "Prints the answer on stdout (get: the value) and, on stderr, the node that\n"
     "answered, the index and term it committed at and the time it took.\n"
     "  cas KEY OLD NEW   set KEY to NEW if it holds OLD (\"\" matches an absent key)\n"
     "  --timeout D       give up after D (default 5s): with no leader, it waits that\n"
     "                    long and says so\n"
     "  --json            the outcome as one JSON object on stdout\n"
     "Keys are 1 to 128 bytes, values at most 4096: a longer one is refused, not cut.\n"
     "A key or value that starts with - goes after --: `distlab client put n -- -5`.\n"
     "Exit status: 0 it took effect, 1 the cluster answered and it did not (not_found,\n"
     "mismatch, too_large, full), 2 bad input or no such run, 3 no answer in time (it\n"
     "may or may not have taken effect).\n" RUN_HELP,
     cmd_client},
    {"clean", "", "remove message queues and shared memory that your dead runs left",
     "Only your own objects are removed, and only those whose launcher is gone.\n", cmd_clean},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct cmd_entry *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_usage(const char *name, FILE *f)
{
    const struct cmd_entry *c = find_cmd(name);
    if (!c)
        return;
    if (!c->usage) {
        fprintf(f, "distlab %s: not available in this version (%s)\n", c->name,
                PACKAGE_VERSION);
        return;
    }
    fprintf(f, "usage: distlab %s%s%s\n%s.\n", c->name, *c->usage ? " " : "", c->usage, c->summary);
    if (c->help)
        fputs(c->help, f);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: distlab COMMAND [ARGS]\n"
               "distlab runs distributed algorithms as real processes on one machine.\n\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].usage)
            fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`distlab COMMAND --help` describes a command; --version prints the version.\n");
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

#define MAX_SETS 256

static int cmd_run(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        cli_usage("run", stdout);
        return 0;
    }
    static const struct option opts[] = {
        {"set", required_argument, NULL, 's'}, {"out", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 'S'}, {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},      {NULL, 0, NULL, 0}};
    const char *sets[MAX_SETS];
    int nsets = 0;
    const char *seed = NULL;
    struct run_opts ro = {0};
    int c;
    optind = 1;
    /* Long options only: the help lists no short ones. */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (nsets == MAX_SETS) {
                fprintf(stderr, "distlab run: too many --set options\n");
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'o': ro.out_dir = optarg; break;
        case 'S': seed = optarg; break;
        case 'j': ro.json = true; break;
        case 'q': ro.quiet = true; break;
        default: cli_usage("run", stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        cli_usage("run", stderr);
        return 2;
    }
    struct config *cfg = malloc(sizeof *cfg);
    char *err = malloc(CONFIG_ERRLEN);
    if (!cfg || !err) {
        free(cfg);
        free(err);
        fprintf(stderr, "distlab: out of memory\n");
        return 2;
    }
    int code = 2;
    err[0] = '\0';
    if (config_load_with_sets(cfg, argv[optind], sets, nsets, seed, CONFIG_FOR_RUN, err) < 0)
        goto bad;
    code = launcher_run(cfg, &ro);
    free(cfg);
    free(err);
    return code;
bad:
    fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
    fprintf(stderr, "distlab run: invalid configuration; nothing was started\n");
    free(cfg);
    free(err);
    return code;
}

static int one_rundir(const char *cmd, int argc, char **argv, bool *json)
{
    if (wants_help(argc, argv)) {
        cli_usage(cmd, stdout);
        exit(0);
    }
    int dir = 0;
    for (int i = 1; i < argc; i++) {
        if (json && strcmp(argv[i], "--json") == 0)
            *json = true;
        else if (argv[i][0] == '-' || dir)
            return -1;
        else
            dir = i;
    }
    return dir ? dir : -1;
}

static int cmd_report(int argc, char **argv)
{
    if (compare_wanted(argc, argv))
        return compare_cmd(argc, argv);
    bool json = false;
    int d = one_rundir("report", argc, argv, &json);
    if (d < 0) {
        cli_usage("report", stderr);
        return 2;
    }
    json_t *rep;
    char err[DL_ERRLEN];
    if (report_build(argv[d], &rep, err) < 0) {
        fprintf(stderr, "distlab report: %s\n", err);
        return 2;
    }
    if (json) {
        json_dumpf(rep, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
    } else {
        report_print_text(rep, stdout);
    }
    json_decref(rep);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    int d = one_rundir("check", argc, argv, NULL);
    if (d < 0) {
        cli_usage("check", stderr);
        return 2;
    }
    return report_check(argv[d], stdout);
}

static int cmd_trace(int argc, char **argv)
{
    int d = one_rundir("trace", argc, argv, NULL);
    if (d < 0) {
        cli_usage("trace", stderr);
        return 2;
    }
    return report_trace_json(argv[d], stdout);
}

int main(int argc, char **argv)
{
    const char *self = argv[0] ? argv[0] : "distlab";
    const char *base = strrchr(self, '/');
    base = base ? base + 1 : self;
    const char *node_env = getenv("DISTLAB_NODE");
    /* A client process (Raft's workload) is the same program under another
     * name, with an id above the nodes'. */
    if (strcmp(base, "distlab-node") == 0 || strcmp(base, "distlab-client") == 0 ||
        (node_env && strcmp(node_env, "1") == 0)) {
        struct runtime_args ra;
        if (runtime_parse_args(argc, argv, &ra) < 0) {
            fprintf(stderr, "usage: %s ID SEGMENT INCARNATION (started by distlab run)\n",
                    strcmp(base, "distlab-client") == 0 ? "distlab-client" : "distlab-node");
            return 2;
        }
        return runtime_main(&ra);
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2 && find_cmd(argv[2]))
            cli_usage(argv[2], stdout);
        else
            usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("distlab %s\n", PACKAGE_VERSION);
        return 0;
    }
    const struct cmd_entry *c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "distlab: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    return c->exec(argc - 1, argv + 1);
}
