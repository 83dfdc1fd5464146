/* Experiment configuration: INI files (inih), --set overrides, validation.
 *
 * The file is read through our own line reader, which inih calls once per
 * physical line. That gives us line numbers (the system inih is built
 * without INI_HANDLER_LINENO), lets us report every syntax error instead of
 * only the first, and lets us see section headers, which inih reports to
 * nobody (so an empty [foo] or an empty [fault.3] would otherwise pass).
 *
 * Every value goes through one function, set_key(), whether it comes from a
 * file or from --set, so both accept and reject exactly the same things and
 * word their errors the same way. */
#include "src/config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <ini.h>

#include "ipc/trace.h"
#include "nodes/kv.h"
#include "ipc/wire.h"
#include "nodes/algo.h"
#include "src/netspec.h"

#if INI_HANDLER_LINENO
#error "config.c counts lines in its reader; build against inih without INI_HANDLER_LINENO"
#endif

#define US_PER_MS INT64_C(1000)
#define US_PER_S INT64_C(1000000)
#define US_PER_MIN INT64_C(60000000)
#define US_PER_H   INT64_C(3600000000)

/* Room kept at the end of an error buffer for the "(N more errors)" note. */
#define ERR_RESERVE 48
/* Longest target text we accept: short enough that "target = TEXT" stays
 * well inside inih's line buffer when config_to_ini writes it back. */
#define TARGET_MAX 160
#define FAULT_NUM_MAX 999999
#define DL_STR2(x) #x
#define DL_STR(x) DL_STR2(x)

/* ---- errors ---- */

struct errbuf {
    char *buf; /* CONFIG_ERRLEN bytes */
    size_t len;
    int count;   /* errors reported, shown or not */
    int dropped; /* errors that did not fit */
    int code;    /* the first system error (-errno), if any */
};

static void err_init(struct errbuf *eb, char *buf)
{
    eb->buf = buf;
    eb->len = 0;
    eb->count = 0;
    eb->dropped = 0;
    eb->code = 0;
    buf[0] = '\0';
}

/* Append one error line. Lines are separated by '\n' with none at the end,
 * so a caller can print the buffer like any single message. Once one error
 * does not fit, later ones are only counted, so what is shown stays in order. */
__attribute__((format(printf, 2, 3))) static void err_add(struct errbuf *eb, const char *fmt,
                                                          ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* A value from --set may hold a newline or an escape sequence; keep the
     * promise of one error per line and keep terminals sane. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    eb->count++;
    size_t n = strlen(line);
    size_t sep = eb->len ? 1 : 0;
    if (eb->dropped || eb->len + sep + n + ERR_RESERVE >= CONFIG_ERRLEN) {
        eb->dropped++;
        return;
    }
    if (sep)
        eb->buf[eb->len++] = '\n';
    memcpy(eb->buf + eb->len, line, n + 1);
    eb->len += n;
}

/* An error that is not the input's fault (reading, memory): the caller
 * gets -errnum rather than -EINVAL. */
static void err_sys(struct errbuf *eb, int errnum)
{
    if (!eb->code)
        eb->code = -errnum;
}

static int err_finish(struct errbuf *eb)
{
    if (eb->dropped)
        snprintf(eb->buf + eb->len, CONFIG_ERRLEN - eb->len, "\n(%d more error%s not shown)",
                 eb->dropped, eb->dropped == 1 ? "" : "s");
    if (eb->code)
        return eb->code;
    return eb->count ? -EINVAL : 0;
}

/* A value as it appears inside '...' in a message: long ones are cut so one
 * bad line cannot push every other error out of the buffer. */
static const char *quoted(const char *v, char *buf, size_t cap)
{
    if (strlen(v) < cap)
        return v;
    snprintf(buf, cap, "%.*s...", (int)(cap - 4), v);
    return buf;
}

/* ---- sections and keys ---- */

enum section_kind {
    SEC_NONE = 0, /* before the first header */
    SEC_CLUSTER,
    SEC_WORKLOAD,
    SEC_RAFT,
    SEC_NETWORK,
    SEC_SUPERVISOR,
    SEC_CENTRALIZED,
    SEC_TOKEN_RING,
    SEC_TWO_LEVEL,
    SEC_RESOURCE,
    SEC_RICART,
    SEC_TRACE,
    SEC_LAST_NAMED = SEC_TRACE,
    SEC_FAULT,
    SEC_IGNORED, /* a bad header, already reported: skip its keys quietly */
};

static const char *const section_names[] = {
    [SEC_CLUSTER] = "cluster",       [SEC_WORKLOAD] = "workload",
    [SEC_RAFT] = "raft",             [SEC_NETWORK] = "network",
    [SEC_SUPERVISOR] = "supervisor", [SEC_CENTRALIZED] = "centralized",
    [SEC_TOKEN_RING] = "token_ring", [SEC_TWO_LEVEL] = "two_level_ring",
    [SEC_RESOURCE] = "resource",     [SEC_RICART] = "ricart_agrawala",
    [SEC_TRACE] = "trace",
};

#define SECTIONS_EXPECTED "expected " CONFIG_SECTIONS

enum value_type {
    V_NAME,
    V_INT,
    V_SEED,
    V_DURATION,
    V_NUMBER,
    V_BOOL,
    V_ALGORITHM,
    V_RESTART,
    V_NODELIST, /* "all" or "1,3,5" (checked against nodes by validate) */
    V_NODEVALS, /* "1:7, 3:11" (likewise) */
    V_MEMBERS,  /* "1,2,3/4,5,6": every node in exactly one group */
    V_SIZE,     /* bytes: "65536", "64KiB", "256MiB", "1GiB" (K, M, G alone too) */
    V_MIX,      /* "get:50,put:30,append:10,cas:10" */
    V_RECORD,   /* trace classes: "all" or a comma list (ipc/trace.h) */
};

/* Every key of [cluster] .. [ricart_agrawala], named once: its section,
 * name, type, field of struct config, and the range of its value - for
 * V_INT and V_NUMBER the least and the greatest number, for V_DURATION the
 * least and the greatest number of microseconds, for V_NODEVALS the range
 * of each value. The parser, the validator, --set, the error messages and
 * config_to_ini all read this one list. Grouped by section in config_to_ini
 * (see ini_sections), in this order within a section; the order is also
 * that of struct config's origin[].
 *
 * Why the bounds: every time is added to a clock somewhere (a deadline, a
 * restart time, a derived token timeout), and a value near 2^63 would wrap
 * around into the past. No wait or timeout beyond an hour, no run beyond a
 * day, and no count beyond what a day could use keeps every such sum far
 * from overflow (config.h). */
#define CONFIG_KEYS(X)                                                                             \
    X(NAME, SEC_CLUSTER, "name", V_NAME, name, 0, 0)                                               \
    X(NODES, SEC_CLUSTER, "nodes", V_INT, nodes, 1, CONFIG_MAX_NODES)                              \
    X(ALGORITHM, SEC_CLUSTER, "algorithm", V_ALGORITHM, algorithm, 0, 0)                           \
    X(DURATION, SEC_CLUSTER, "duration", V_DURATION, duration_us, 1, CONFIG_MAX_RUN_US)            \
    X(SEED, SEC_CLUSTER, "seed", V_SEED, seed, 0, INT64_MAX)                                       \
    X(REQUESTS, SEC_WORKLOAD, "requests", V_INT, requests, 0, CONFIG_MAX_REQUESTS)                 \
    X(CS_TIME, SEC_WORKLOAD, "cs_time", V_DURATION, cs_time_us, 0, CONFIG_MAX_TIME_US)             \
    X(THINK_TIME, SEC_WORKLOAD, "think_time", V_DURATION, think_time_us, 0, CONFIG_MAX_TIME_US)    \
    X(RATE, SEC_WORKLOAD, "rate", V_NUMBER, rate, 0, CONFIG_MAX_RATE)                              \
    X(CLIENTS, SEC_WORKLOAD, "clients", V_INT, clients, 0, CONFIG_MAX_CLIENTS)                     \
    X(CLIENT_TIMEOUT, SEC_WORKLOAD, "client_timeout", V_DURATION, client_timeout_us, 0,            \
      CONFIG_MAX_RAFT_TIME_US)                                                                     \
    X(KEYS, SEC_WORKLOAD, "keys", V_INT, keys, 1, KV_MAX_KEYS)                                     \
    X(MIX, SEC_WORKLOAD, "mix", V_MIX, mix, 0, 0)                                                  \
    X(VALUE_SIZE, SEC_WORKLOAD, "value_size", V_INT, value_size, 0, KV_MAX_VALUE)                  \
    X(PIPELINE, SEC_WORKLOAD, "pipeline", V_INT, pipeline, 1, CONFIG_MAX_PIPELINE)                 \
    X(ELECTION_MIN, SEC_RAFT, "election_timeout_min", V_DURATION, election_timeout_min_us,         \
      CONFIG_MIN_ELECTION_US, CONFIG_MAX_RAFT_TIME_US)                                             \
    X(ELECTION_MAX, SEC_RAFT, "election_timeout_max", V_DURATION, election_timeout_max_us,         \
      CONFIG_MIN_ELECTION_US, CONFIG_MAX_RAFT_TIME_US)                                             \
    X(HEARTBEAT, SEC_RAFT, "heartbeat", V_DURATION, heartbeat_us, CONFIG_MIN_HEARTBEAT_US,         \
      CONFIG_MAX_RAFT_TIME_US)                                                                     \
    X(FSYNC, SEC_RAFT, "fsync", V_BOOL, fsync, 0, 0)                                               \
    X(PREVOTE, SEC_RAFT, "prevote", V_BOOL, prevote, 0, 0)                                         \
    X(CHECK_QUORUM, SEC_RAFT, "check_quorum", V_BOOL, check_quorum, 0, 0)                          \
    X(LOCAL_READS, SEC_RAFT, "local_reads", V_BOOL, local_reads, 0, 0)                             \
    X(SNAPSHOT_ENTRIES, SEC_RAFT, "snapshot_entries", V_INT, snapshot_entries, 0,                  \
      CONFIG_MAX_REQUESTS)                                                                         \
    X(MAX_INFLIGHT, SEC_RAFT, "max_inflight", V_INT, max_inflight, 0, CONFIG_MAX_INFLIGHT)         \
    X(DELAY, SEC_NETWORK, "delay", V_DURATION, delay_us, 0, CONFIG_MAX_TIME_US)                    \
    X(JITTER, SEC_NETWORK, "jitter", V_DURATION, jitter_us, 0, CONFIG_MAX_TIME_US)                 \
    X(LOSS, SEC_NETWORK, "loss", V_NUMBER, loss, 0, 1)                                             \
    X(RESTART, SEC_SUPERVISOR, "restart", V_RESTART, restart, 0, 0)                                \
    X(RESTART_DELAY, SEC_SUPERVISOR, "restart_delay", V_DURATION, restart_delay_us, 0,             \
      CONFIG_MAX_TIME_US)                                                                          \
    X(COORDINATOR, SEC_CENTRALIZED, "coordinator", V_INT, coordinator, 1, CONFIG_MAX_NODES)        \
    X(COORDINATOR_COMPETES, SEC_CENTRALIZED, "coordinator_competes", V_BOOL, coordinator_competes, \
      0, 0)                                                                                        \
    X(FAILURE_TIMEOUT, SEC_CLUSTER, "failure_timeout", V_DURATION, failure_timeout_us,             \
      FAILURE_TIMEOUT_MIN_US, CONFIG_MAX_TIME_US)                                                  \
    X(ELECTION_TIMEOUT, SEC_CENTRALIZED, "election_timeout", V_DURATION, election_timeout_us, 1,   \
      CONFIG_MAX_TIME_US)                                                                          \
    X(RING_TOKEN_TIMEOUT, SEC_TOKEN_RING, "token_timeout", V_DURATION, ring_token_timeout_us, 0,   \
      CONFIG_MAX_TIME_US)                                                                          \
    X(RING_IDLE_HOLD, SEC_TOKEN_RING, "idle_hold", V_DURATION, ring_idle_hold_us, 0,               \
      CONFIG_MAX_TIME_US)                                                                          \
    X(TWO_GROUPS, SEC_TWO_LEVEL, "groups", V_INT, groups, 1, CONFIG_MAX_NODES)                     \
    X(TWO_LOCAL_ROUNDS, SEC_TWO_LEVEL, "local_rounds", V_INT, local_rounds, 1,                     \
      CONFIG_MAX_LOCAL_ROUNDS)                                                                     \
    X(TWO_TOKEN_TIMEOUT, SEC_TWO_LEVEL, "token_timeout", V_DURATION, two_level_token_timeout_us,   \
      0, CONFIG_MAX_TIME_US)                                                                       \
    X(FENCING, SEC_RESOURCE, "fencing", V_BOOL, fencing, 0, 0)                                     \
    X(REQUESTERS, SEC_WORKLOAD, "requesters", V_NODELIST, requesters, 0, 0)                        \
    X(INITIAL_CLOCK, SEC_RICART, "initial_clock", V_NODEVALS, initial_clock, 0, CONFIG_MAX_CLOCK)  \
    X(TWO_IDLE_HOLD, SEC_TWO_LEVEL, "idle_hold", V_DURATION, two_level_idle_hold_us, 0,            \
      CONFIG_MAX_TIME_US)                                                                          \
    X(TWO_MEMBERS, SEC_TWO_LEVEL, "members", V_MEMBERS, members, 0, 0)                             \
    X(TRACE_MAX_SIZE, SEC_TRACE, "max_size", V_SIZE, trace_max_size, (long long)TRACE_MAX_MIN,     \
      (long long)TRACE_MAX_MAX)                                                                    \
    X(RETRANSMIT, SEC_CLUSTER, "retransmit", V_BOOL, retransmit, 0, 0)                             \
    X(TRACE_RECORD, SEC_TRACE, "record", V_RECORD, trace_record, 0, 0)

/* clang-format off */
enum key_index {
#define KEY_ENUM(id, sec, name, type, field, min, max) KEY_##id,
    CONFIG_KEYS(KEY_ENUM)
#undef KEY_ENUM
    KEY_COUNT
};
/* clang-format on */
_Static_assert(KEY_COUNT == CONFIG_NKEYS, "CONFIG_NKEYS (config.h) must count the keys");
_Static_assert(CONFIG_MAX_CLIENTS + DL_INTERACTIVE == DL_MAX_CLIENTS,
               "one client limit for config and ipc");

struct key_def {
    int section;
    const char *name;
    int type;
    size_t offset;
    long long min, max; /* see CONFIG_KEYS */
};

/* The failure detector checks every max(failure_timeout / 4, 1ms): below
 * this, a peer would be declared down between two of its heartbeats. */
#define FAILURE_TIMEOUT_MIN_US (5 * US_PER_MS)

static const struct key_def keys[KEY_COUNT] = {
#define KEY_DEF(id, sec, nm, type, field, lo, hi)                                                  \
    [KEY_##id] = {sec, nm, type, offsetof(struct config, field), lo, hi},
    CONFIG_KEYS(KEY_DEF)
#undef KEY_DEF
};

/* In the order of struct fault_spec's origin[] (config.h). */
enum fault_key {
    FKEY_AT,
    FKEY_ACTION,
    FKEY_TARGET,
    FKEY_EVERY,
    FKEY_REPEAT, /* count */
    FKEY_FOR,
    FKEY_LOSS,
    FKEY_DELAY,
    FKEY_JITTER,
    FKEY_COUNT
};
_Static_assert(FKEY_COUNT == CONFIG_FAULT_KEYS, "CONFIG_FAULT_KEYS (config.h) must count them");
static const char *const fault_key_names[FKEY_COUNT] = {
    "at", "action", "target", "every", "count", "for", "loss", "delay", "jitter"};
#define FAULT_KEYS_EXPECTED "at, action, target, every, count, for, loss, delay, jitter"

static const char *const action_names[FAULT_ACTION_COUNT] = {
    [FAULT_KILL] = "kill",           [FAULT_PAUSE] = "pause",
    [FAULT_RESUME] = "resume",       [FAULT_TERMINATE] = "terminate",
    [FAULT_RESTART] = "restart",     [FAULT_PARTITION] = "partition",
    [FAULT_HEAL] = "heal",           [FAULT_NET] = "net",
};
#define ACTIONS_EXPECTED "kill, pause, resume, terminate, restart, partition, heal or net"
#define TARGETS_EXPECTED                                                                 \
    "leader, coordinator, token_holder, random, a node id, a partition like 1,2/3,4,5 or "  \
    "1->3 (or by role, like leader+1), or links like all or 1<->3"

/* Every algorithm name the configuration knows, implemented or not, so a
 * planned one gets "not implemented in this version" rather than "unknown". */
static const char *const known_algorithms[] = {
    "centralized", "ricart_agrawala", "token_ring", "two_level_ring", "raft",
};
#define NKNOWN (sizeof known_algorithms / sizeof known_algorithms[0])

const char *fault_action_name(int action)
{
    if (action < 0 || action >= FAULT_ACTION_COUNT)
        return "unknown";
    return action_names[action];
}

/* The N of fault i: the one it was given, or its place for a fault built
 * by hand (num 0). --set fault.N finds it by this, even after sorting or
 * copying the struct. */
static int fault_num(const struct config *c, int i)
{
    return c->faults[i].num > 0 ? c->faults[i].num : i + 1;
}

/* ---- values ---- */

/* What duration_parse says of a value that is a duration, but one out of
 * any range a key may have: callers replace it with the key's range. */
static const char duration_negative[] = "a duration >= 0";
static const char duration_huge[] = "a duration that fits in 64-bit microseconds";

/* Parse a duration; NULL on success, else what was expected (for
 * "expected ..., got '...'"). Exact: no floating point, so "1.5s" is
 * 1500000 us and a value that is not a whole number of microseconds is
 * refused rather than rounded. */
static const char *duration_parse(const char *s, int64_t *out)
{
    static const struct {
        const char *name;
        uint64_t mant; /* the unit in us is mant * 10^exp */
        int exp;
    } units[] = {{"us", 1, 0}, {"ms", 1, 3}, {"s", 1, 6}, {"min", 6, 7}, {"h", 36, 8}};
    const char *with_unit = "a duration with a unit, like 150ms or 2s";

    if (strcmp(s, "0") == 0) {
        *out = 0;
        return NULL;
    }
    if (*s == '-')
        return duration_negative;
    const char *p = s;
    uint64_t ip = 0;
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (ip > ((uint64_t)INT64_MAX - d) / 10)
            return duration_huge;
        ip = ip * 10 + d;
    }
    const char *frac = p, *frac_end = p;
    if (*p == '.') {
        frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        frac_end = p;
        digits += (int)(frac_end - frac);
    }
    if (!digits)
        return with_unit;
    if (!*p)
        return with_unit;
    int u = -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(p, units[i].name) == 0)
            u = (int)i;
    if (u < 0)
        return "a duration with a unit (us, ms, s, min or h)";

    /* Trailing zeros of the fraction change nothing; what is left must come
     * to whole microseconds. */
    while (frac_end > frac && frac_end[-1] == '0')
        frac_end--;
    int k = (int)(frac_end - frac);
    /* num < 10^17, so num * mant (mant <= 36) fits in 64 bits. */
    if (k > 17)
        return "a duration in whole microseconds";
    uint64_t num = 0;
    for (const char *q = frac; q < frac_end; q++)
        num = num * 10 + (uint64_t)(*q - '0');
    uint64_t mant = units[u].mant;
    int e = units[u].exp;
    uint64_t frac_us;
    if (k <= e) {
        frac_us = num * mant;
        for (int i = 0; i < e - k; i++)
            frac_us *= 10; /* num < 10^k, so this stays below 3.6 * 10^9 */
    } else {
        uint64_t d = 1;
        for (int i = 0; i < k - e; i++)
            d *= 10;
        uint64_t x = num * mant; /* < 3.6 * 10^18, fits */
        if (x % d)
            return "a duration in whole microseconds";
        frac_us = x / d;
    }
    uint64_t unit_us = mant;
    for (int i = 0; i < e; i++)
        unit_us *= 10;
    if (ip > ((uint64_t)INT64_MAX - frac_us) / unit_us)
        return duration_huge;
    *out = (int64_t)(ip * unit_us + frac_us);
    return NULL;
}

int config_parse_duration(const char *s, int64_t *us)
{
    int64_t v;
    if (!s || duration_parse(s, &v))
        return -1;
    *us = v;
    return 0;
}

/* The largest unit that shows the value exactly, so the text parses back to
 * the same number of microseconds. */
static void duration_format(int64_t us, char *buf, size_t cap)
{
    if (us == 0)
        snprintf(buf, cap, "0ms");
    else if (us % US_PER_H == 0)
        snprintf(buf, cap, "%" PRId64 "h", us / US_PER_H);
    else if (us % US_PER_MIN == 0)
        snprintf(buf, cap, "%" PRId64 "min", us / US_PER_MIN);
    else if (us % US_PER_S == 0)
        snprintf(buf, cap, "%" PRId64 "s", us / US_PER_S);
    else if (us % US_PER_MS == 0)
        snprintf(buf, cap, "%" PRId64 "ms", us / US_PER_MS);
    else
        snprintf(buf, cap, "%" PRId64 "us", us);
}

/* Decimal integers only: strtoll alone would take leading blanks, '+',
 * and (strtoull) a '-' that wraps around. */
static bool is_decimal(const char *s, bool allow_minus)
{
    if (allow_minus && *s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!is_decimal(s, true))
        return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* A seed: 0..INT64_MAX, so that it shows as itself wherever it is written
 * as a signed 64-bit integer (JSON). */
static int parse_seed(const char *s, uint64_t *out)
{
    long long v;
    if (!is_decimal(s, false) || parse_int(s, 0, INT64_MAX, &v) < 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Plain decimal notation (an exponent is allowed): strtod would also take
 * "nan", "inf", hex floats and a sign. */
static int parse_number(const char *s, double max, double *out)
{
    const char *p = s;
    int digits = 0;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            digits++;
    if (!digits)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return -1;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno == ERANGE || !isfinite(v) || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Shortest form that reads back as the same double. */
static void number_format(double v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, cap, "%.17g", v);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

/* Does a target look like a network spec rather than a name or a node id? */
static bool spec_like(const char *s)
{
    return strcmp(s, "all") == 0 || strpbrk(s, "/>*,-") != NULL;
}

/* A target: a role, a node id, or a network spec (a partition or a link
 * list: which one is decided by the action, in config_validate, which also
 * knows nodes). A spec is checked here for its syntax, against the largest
 * cluster; netspec's reason, if any, goes to why (NETSPEC_ERRLEN). */
static int parse_target(const char *s, struct fault_spec *f, char *why)
{
    static const struct {
        const char *name;
        int target;
    } roles[] = {
        {"leader", TARGET_LEADER},
        {"coordinator", TARGET_COORDINATOR},
        {"token_holder", TARGET_TOKEN_HOLDER},
        {"random", TARGET_RANDOM},
    };
    why[0] = '\0';
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        size_t len = strlen(roles[i].name);
        if (strncmp(s, roles[i].name, len) != 0)
            continue;
        /* "leader+2": a partition by role, the holder and two more on one
         * side (config_validate checks the action and the count). */
        long long with = 0;
        if (s[len] == '+' && roles[i].target != TARGET_RANDOM) {
            if (!is_decimal(s + len + 1, false) ||
                parse_int(s + len + 1, 0, CONFIG_MAX_NODES - 1, &with) < 0)
                return -1;
        } else if (s[len] != '\0') {
            continue;
        }
        f->target = roles[i].target;
        f->target_node = 0;
        f->with = (int)with;
        snprintf(f->target_text, sizeof f->target_text, "%s", s);
        return 0;
    }
    f->with = 0;
    long long id;
    if (is_decimal(s, false)) {
        if (parse_int(s, 1, CONFIG_MAX_NODES, &id) < 0)
            return -1;
        f->target = TARGET_NODE;
        f->target_node = (int)id;
        snprintf(f->target_text, sizeof f->target_text, "%lld", id);
        return 0;
    }
    if (!*s || !spec_like(s))
        return -1;
    struct net_links *l = malloc(sizeof *l);
    if (!l)
        return -1;
    char why2[NETSPEC_ERRLEN];
    int rc = netspec_partition(s, CONFIG_MAX_NODES, l, why) == 0 ||
                     netspec_links(s, CONFIG_MAX_NODES, l, why2) == 0
                 ? 0
                 : -1;
    free(l);
    if (rc < 0)
        return -1;
    why[0] = '\0';
    /* Which kind it is: by the action if known yet (config_validate
     * settles it otherwise), else by its form. */
    f->target = f->action == FAULT_PARTITION ? TARGET_GROUPS
                : f->action == FAULT_NET     ? TARGET_LINKS
                : strchr(s, '/')             ? TARGET_GROUPS
                                             : TARGET_LINKS;
    f->target_node = 0;
    /* Without blanks: valid, it has none inside a token. */
    size_t n = 0;
    for (const char *p = s; *p && n + 1 < sizeof f->target_text; p++)
        if (*p != ' ' && *p != '\t')
            f->target_text[n++] = *p;
    f->target_text[n] = '\0';
    return 0;
}

/* The algorithms this build has, as "a, b". */
static void algorithms_available(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; algo_table[i] && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", algo_table[i]->name);
}

static void algorithms_planned(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NKNOWN && n < cap; i++)
        if (!algo_find(known_algorithms[i]))
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", known_algorithms[i]);
}

static bool algorithm_known(const char *s)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (strcmp(s, known_algorithms[i]) == 0)
            return true;
    return false;
}

/* ---- sizes in bytes ---- */

static const struct {
    const char *name;
    int shift;
} size_units[] = {{"", 0}, {"B", 0}, {"K", 10}, {"KiB", 10}, {"M", 20},
                  {"MiB", 20}, {"G", 30}, {"GiB", 30}, {"T", 40}, {"TiB", 40}};

/* "256MiB" -> 268435456: a whole number, then a binary unit or none. */
static int size_parse(const char *s, int64_t *out)
{
    const char *p = s;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > ((uint64_t)INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++)
        if (strcmp(p, size_units[i].name) == 0) {
            if (v > (uint64_t)INT64_MAX >> size_units[i].shift)
                return -1;
            *out = (int64_t)(v << size_units[i].shift);
            return 0;
        }
    return -1;
}

/* The largest binary unit that shows the value exactly. */
static void size_format(int64_t v, char *buf, size_t cap)
{
    static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; i++) {
        int shift = 40 - 10 * i;
        if (v > 0 && v % ((int64_t)1 << shift) == 0) {
            snprintf(buf, cap, "%" PRId64 "%s", v >> shift, names[i]);
            return;
        }
    }
    snprintf(buf, cap, "%" PRId64, v);
}

/* The value of a key as config_to_ini writes it. */
static void key_format(const struct config *c, int k, char *buf, size_t cap)
{
    const struct key_def *d = &keys[k];
    const char *p = (const char *)c + d->offset;
    switch (d->type) {
    case V_NAME:
    case V_ALGORITHM: snprintf(buf, cap, "%s", p); break;
    case V_INT: snprintf(buf, cap, "%d", *(const int *)(const void *)p); break;
    case V_SEED: snprintf(buf, cap, "%" PRIu64, *(const uint64_t *)(const void *)p); break;
    case V_DURATION: duration_format(*(const int64_t *)(const void *)p, buf, cap); break;
    case V_NUMBER: number_format(*(const double *)(const void *)p, buf, cap); break;
    case V_BOOL: snprintf(buf, cap, "%s", *(const bool *)(const void *)p ? "true" : "false"); break;
    case V_RESTART:
        snprintf(buf, cap, "%s",
                 *(const int *)(const void *)p == RESTART_ON_CRASH ? "on-crash" : "never");
        break;
    case V_NODELIST:
    case V_NODEVALS:
    case V_MIX:
    case V_MEMBERS: snprintf(buf, cap, "%s", p); break;
    case V_SIZE: size_format(*(const int64_t *)(const void *)p, buf, cap); break;
    case V_RECORD: trace_classes_format(*(const unsigned *)(const void *)p, buf, cap); break;
    default: buf[0] = '\0'; break;
    }
}

static void fault_key_format(const struct fault_spec *f, int k, char *buf, size_t cap)
{
    switch (k) {
    case FKEY_AT: duration_format(f->at_us, buf, cap); break;
    case FKEY_ACTION: snprintf(buf, cap, "%s", fault_action_name(f->action)); break;
    case FKEY_EVERY: duration_format(f->every_us, buf, cap); break;
    case FKEY_REPEAT: snprintf(buf, cap, "%d", f->count); break;
    case FKEY_FOR: duration_format(f->for_us, buf, cap); break;
    case FKEY_LOSS: number_format(f->loss, buf, cap); break;
    case FKEY_DELAY: duration_format(f->delay_us, buf, cap); break;
    case FKEY_JITTER: duration_format(f->jitter_us, buf, cap); break;
    default: snprintf(buf, cap, "%s", f->target_text); break;
    }
}

/* ---- applying one key ---- */

/* The section a key is being set in. */
struct section_ref {
    int kind;  /* enum section_kind */
    int fault; /* SEC_FAULT: index into c->faults */
};

/* "[section] key: expected WHAT, got 'VALUE'", with a hint for the one
 * mistake inih's comment rules invite: '#' is a comment only at the start
 * of a line, so "5ms # note" arrives as the value. */
static void bad_value(struct errbuf *eb, const char *loc, const char *sec, const char *key,
                      const char *what, const char *value)
{
    char q[128];
    bool hash = strstr(value, " #") || strstr(value, "\t#");
    err_add(eb, "%s: [%s] %s: expected %s, got '%s'%s", loc, sec, key, what,
            quoted(value, q, sizeof q),
            hash ? " (a comment after a value starts with ';', not '#')" : "");
}

/* A bound of a duration as the messages show it. */
static void bound_format(int64_t us, char *buf, size_t cap)
{
    if (us == 0)
        snprintf(buf, cap, "0");
    else
        duration_format(us, buf, cap);
}

/* What a numeric key accepts: "an integer from 1 to 128", "a duration from
 * 0 to 1h", "a number from 0.0 to 1.0". */
static const char *range_phrase(const struct key_def *d, char *buf, size_t cap)
{
    char lo[32], hi[32];
    switch (d->type) {
    case V_DURATION:
        bound_format(d->min, lo, sizeof lo);
        bound_format(d->max, hi, sizeof hi);
        snprintf(buf, cap, "a duration from %s to %s", lo, hi);
        break;
    case V_NUMBER:
        if (d->max == 1)
            snprintf(buf, cap, "a number from 0.0 to 1.0");
        else
            snprintf(buf, cap, "a number from %lld to %lld", d->min, d->max);
        break;
    default: snprintf(buf, cap, "an integer from %lld to %lld", d->min, d->max); break;
    }
    return buf;
}

/* Parse value for scalar key k and store it in c. */
static int set_scalar(struct config *c, int k, const char *value, const char *loc,
                      struct errbuf *eb)
{
    const struct key_def *d = &keys[k];
    const char *sec = section_names[d->section];
    char *p = (char *)c + d->offset;
    char what[320];
    switch (d->type) {
    case V_NAME:
        if (!valid_name(value)) {
            bad_value(eb, loc, sec, d->name,
                      "a name of 1 to 63 letters, digits, '.', '_' or '-'", value);
            return -1;
        }
        snprintf(c->name, sizeof c->name, "%s", value);
        return 0;
    case V_INT: {
        long long v;
        if (parse_int(value, d->min, d->max, &v) < 0) {
            range_phrase(d, what, sizeof what);
            bad_value(eb, loc, sec, d->name, what, value);
            return -1;
        }
        *(int *)(void *)p = (int)v;
        return 0;
    }
    case V_SEED:
        if (parse_seed(value, &c->seed) < 0) {
            range_phrase(d, what, sizeof what);
            bad_value(eb, loc, sec, d->name, what, value);
            return -1;
        }
        return 0;
    case V_DURATION: {
        int64_t us = 0;
        const char *why = duration_parse(value, &us);
        if (why == duration_negative || why == duration_huge ||
            (!why && (us < d->min || us > d->max)))
            why = range_phrase(d, what, sizeof what);
        if (why) {
            bad_value(eb, loc, sec, d->name, why, value);
            return -1;
        }
        *(int64_t *)(void *)p = us;
        return 0;
    }
    case V_NUMBER: {
        double v;
        if (parse_number(value, (double)d->max, &v) < 0) {
            bad_value(eb, loc, sec, d->name, range_phrase(d, what, sizeof what), value);
            return -1;
        }
        *(double *)(void *)p = v;
        return 0;
    }
    case V_SIZE: {
        int64_t v;
        if (size_parse(value, &v) < 0 || v < d->min || v > d->max) {
            char lo[32], hi[32];
            size_format(d->min, lo, sizeof lo);
            size_format(d->max, hi, sizeof hi);
            snprintf(what, sizeof what, "a size from %s to %s (bytes, or with K/KiB, M/MiB, G/GiB)",
                     lo, hi);
            bad_value(eb, loc, sec, d->name, what, value);
            return -1;
        }
        *(int64_t *)(void *)p = v;
        return 0;
    }
    case V_RECORD: {
        unsigned m;
        if (trace_classes_parse(value, &m) < 0) {
            bad_value(eb, loc, sec, d->name,
                      "all, or a comma list of messages, cs, log, clients (roles, drops, faults "
                      "and the processes' lifecycle are always recorded)",
                      value);
            return -1;
        }
        *(unsigned *)(void *)p = m;
        return 0;
    }
    case V_BOOL:
        if (parse_bool(value, (bool *)(void *)p) < 0) {
            bad_value(eb, loc, sec, d->name, "true or false (or yes/no, on/off, 1/0)", value);
            return -1;
        }
        return 0;
    case V_RESTART:
        if (strcmp(value, "never") == 0)
            c->restart = RESTART_NEVER;
        else if (strcmp(value, "on-crash") == 0)
            c->restart = RESTART_ON_CRASH;
        else {
            bad_value(eb, loc, sec, d->name, "never or on-crash", value);
            return -1;
        }
        return 0;
    case V_MIX: {
        int w[5];
        if (strlen(value) >= CONFIG_LIST_LEN || config_parse_mix(value, w) < 0) {
            bad_value(eb, loc, sec, d->name,
                      "operation:weight pairs like get:50,put:30,append:10,cas:10 (each of "
                      "get, put, append, cas at most once, weights 0 to 1000000, one above 0)",
                      value);
            return -1;
        }
        snprintf(p, CONFIG_LIST_LEN, "%s", value);
        return 0;
    }
    case V_NODELIST:
    case V_MEMBERS:
    case V_NODEVALS: {
        /* Lists: the syntax here; that they name nodes of this run is for
         * config_validate, which knows nodes. */
        bool in[CONFIG_MAX_NODES + 1];
        uint8_t g[CONFIG_MAX_NODES + 1];
        int64_t v[CONFIG_MAX_NODES + 1];
        int rc = d->type == V_NODELIST  ? config_node_list(value, CONFIG_MAX_NODES, in)
                 : d->type == V_MEMBERS ? (value[0] ? config_parse_members(value, CONFIG_MAX_NODES,
                                                                            g, false)
                                                    : 0)
                                        : config_node_values(value, CONFIG_MAX_NODES, v);
        if (strlen(value) >= CONFIG_LIST_LEN || rc < 0) {
            bad_value(eb, loc, sec, d->name,
                      d->type == V_NODELIST  ? "all, or node ids like 1,3,5"
                      : d->type == V_MEMBERS ? "groups of node ids like 1,2,3/4,5,6"
                                             : "node:value pairs like 1:7, 3:11 (values from 0 "
                                               "to " DL_STR(CONFIG_MAX_CLOCK) ")",
                      value);
            return -1;
        }
        snprintf(p, CONFIG_LIST_LEN, "%s", value);
        return 0;
    }
    case V_ALGORITHM: {
        char avail[128], planned[128];
        algorithms_available(avail, sizeof avail);
        if (strlen(value) < sizeof c->algorithm && algo_find(value)) {
            snprintf(c->algorithm, sizeof c->algorithm, "%s", value);
            return 0;
        }
        if (algorithm_known(value)) {
            err_add(eb,
                    "%s: [cluster] algorithm '%s' is not implemented in this version "
                    "(available: %s)",
                    loc, value, avail);
            return -1;
        }
        algorithms_planned(planned, sizeof planned);
        snprintf(what, sizeof what, "one of %s (planned, not yet implemented: %s)", avail,
                 planned[0] ? planned : "none");
        bad_value(eb, loc, "cluster", "algorithm", what, value);
        return -1;
    }
    }
    return -1;
}

static int set_fault_key(struct config *c, int i, int num, int k, const char *value,
                         const char *loc, struct errbuf *eb)
{
    struct fault_spec *f = &c->faults[i];
    char sec[32];
    snprintf(sec, sizeof sec, "fault.%d", num);
    if (k == FKEY_AT) {
        int64_t us = 0;
        const char *why = duration_parse(value, &us);
        char hi[32], range[64];
        if (why == duration_negative || why == duration_huge || (!why && us > CONFIG_MAX_RUN_US)) {
            bound_format(CONFIG_MAX_RUN_US, hi, sizeof hi);
            snprintf(range, sizeof range, "a duration from 0 to %s", hi);
            why = range;
        }
        if (why) {
            bad_value(eb, loc, sec, "at", why, value);
            return -1;
        }
        f->at_us = us;
        return 0;
    }
    if (k == FKEY_ACTION) {
        for (int a = 0; a < FAULT_ACTION_COUNT; a++) {
            if (strcmp(value, action_names[a]) == 0) {
                f->action = a;
                return 0;
            }
        }
        bad_value(eb, loc, sec, "action", ACTIONS_EXPECTED, value);
        return -1;
    }
    if (k == FKEY_EVERY || k == FKEY_FOR || k == FKEY_DELAY || k == FKEY_JITTER) {
        /* every and for: at least 1us (0 would mean "no repetition" and
         * "no undo", which leaving the key out says); delay and jitter as
         * netspec bounds them. */
        int64_t lo = k == FKEY_EVERY || k == FKEY_FOR ? 1 : 0;
        int64_t hi = k == FKEY_EVERY || k == FKEY_FOR ? CONFIG_MAX_RUN_US : NETSPEC_MAX_DELAY_US;
        int64_t us = 0;
        const char *why = duration_parse(value, &us);
        char lob[32], hib[32], range[96];
        if (why == duration_negative || why == duration_huge || (!why && (us < lo || us > hi))) {
            bound_format(lo, lob, sizeof lob);
            bound_format(hi, hib, sizeof hib);
            snprintf(range, sizeof range, "a duration from %s to %s", lob, hib);
            why = range;
        }
        if (why) {
            bad_value(eb, loc, sec, fault_key_names[k], why, value);
            return -1;
        }
        if (k == FKEY_EVERY)
            f->every_us = us;
        else if (k == FKEY_FOR)
            f->for_us = us;
        else if (k == FKEY_DELAY) {
            f->delay_us = us;
            f->has_delay = true;
        } else {
            f->jitter_us = us;
            f->has_jitter = true;
        }
        return 0;
    }
    if (k == FKEY_REPEAT) {
        long long v;
        if (parse_int(value, 1, CONFIG_MAX_OCCURRENCES, &v) < 0) {
            bad_value(eb, loc, sec, "count",
                      "an integer from 1 to " DL_STR(CONFIG_MAX_OCCURRENCES), value);
            return -1;
        }
        f->count = (int)v;
        return 0;
    }
    if (k == FKEY_LOSS) {
        double v;
        if (parse_number(value, 1, &v) < 0) {
            bad_value(eb, loc, sec, "loss", "a number from 0.0 to 1.0", value);
            return -1;
        }
        f->loss = v;
        f->has_loss = true;
        return 0;
    }
    char why[NETSPEC_ERRLEN] = "";
    if (strlen(value) > TARGET_MAX || parse_target(value, f, why) < 0) {
        char what[NETSPEC_ERRLEN + 160];
        if (is_decimal(value, true))
            snprintf(what, sizeof what, "a node id from 1 to " DL_STR(CONFIG_MAX_NODES));
        else if (why[0] && strlen(value) <= TARGET_MAX)
            snprintf(what, sizeof what, "a partition like 1,2/3,4,5 or 1->3, or links like all "
                                        "or 1<->3 (%s)", why);
        else
            snprintf(what, sizeof what, "%s", TARGETS_EXPECTED);
        bad_value(eb, loc, sec, "target", what, value);
        return -1;
    }
    return 0;
}

/* Resolve a section name, creating [fault.N] on first sight. origin is the
 * header's line (a file) or CONFIG_ORIGIN_SET; loc prefixes any error. */
static int section_resolve(struct config *c, const char *name, int origin, const char *loc,
                           struct errbuf *eb, struct section_ref *out)
{
    char q[80];
    out->kind = SEC_IGNORED;
    out->fault = -1;
    for (int s = SEC_CLUSTER; s <= SEC_LAST_NAMED; s++) {
        if (strcmp(name, section_names[s]) == 0) {
            out->kind = s;
            return 0;
        }
    }
    if (strncmp(name, "fault.", 6) != 0) {
        err_add(eb, "%s: unknown section [%s] (" SECTIONS_EXPECTED ")", loc,
                quoted(name, q, sizeof q));
        return -1;
    }
    /* No leading zeros: fault.01 and fault.1 would be two names for one
     * fault. */
    long long num;
    const char *digits = name + 6;
    if (digits[0] == '0' || parse_int(digits, 1, FAULT_NUM_MAX, &num) < 0) {
        err_add(eb,
                "%s: unknown section [%s] (expected fault.N with N a positive integer, "
                "like [fault.1])",
                loc, quoted(name, q, sizeof q));
        return -1;
    }
    for (int i = 0; i < c->nfaults; i++) {
        if (fault_num(c, i) == num) {
            out->kind = SEC_FAULT;
            out->fault = i;
            return 0;
        }
    }
    if (c->nfaults >= CONFIG_MAX_FAULTS) {
        err_add(eb, "%s: [%s] too many faults (at most %d)", loc, name, CONFIG_MAX_FAULTS);
        return -1;
    }
    int i = c->nfaults++;
    struct fault_spec *f = &c->faults[i];
    memset(f, 0, sizeof *f); /* every origin CONFIG_ORIGIN_DEFAULT */
    /* Not set yet: checked when the file ends (or by config_validate). */
    f->at_us = -1;
    f->action = FAULT_ACTION_NONE;
    f->target = TARGET_NONE;
    f->num = (int)num;
    f->line = origin > 0 ? origin : 0;
    out->kind = SEC_FAULT;
    out->fault = i;
    return 0;
}

static void unknown_key(struct errbuf *eb, const char *loc, const char *sec, int kind,
                        const char *key)
{
    char list[160] = "";
    size_t n = 0;
    if (kind == SEC_FAULT) {
        snprintf(list, sizeof list, FAULT_KEYS_EXPECTED);
    } else {
        for (int k = 0; k < KEY_COUNT; k++)
            if (keys[k].section == kind && n < sizeof list)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "",
                                      keys[k].name);
    }
    char q[80];
    err_add(eb, "%s: [%s] unknown key '%s' (expected %s)", loc, sec, quoted(key, q, sizeof q),
            list);
}

/* Set key in section sec from value. origin > 0 is a line of the file being
 * loaded, where setting a key twice is a mistake; --set (CONFIG_ORIGIN_SET)
 * may override anything, that being its purpose. */
static int set_key(struct config *c, const struct section_ref *sec, const char *key,
                   const char *value, int origin, const char *loc, struct errbuf *eb)
{
    char secname[32];
    int *where = NULL;
    int num = sec->kind == SEC_FAULT ? fault_num(c, sec->fault) : 0;
    if (sec->kind == SEC_FAULT)
        snprintf(secname, sizeof secname, "fault.%d", num);
    else
        snprintf(secname, sizeof secname, "%s", section_names[sec->kind]);

    int k = -1;
    if (sec->kind == SEC_FAULT) {
        for (int i = 0; i < FKEY_COUNT; i++)
            if (strcmp(key, fault_key_names[i]) == 0)
                k = i;
        if (k >= 0)
            where = &c->faults[sec->fault].origin[k];
    } else {
        for (int i = 0; i < KEY_COUNT; i++)
            if (keys[i].section == sec->kind && strcmp(key, keys[i].name) == 0)
                k = i;
        if (k >= 0)
            where = &c->origin[k];
    }
    if (k < 0) {
        if (!*key)
            err_add(eb, "%s: [%s] missing key name before '='", loc, secname);
        else
            unknown_key(eb, loc, secname, sec->kind, key);
        return -1;
    }
    if (origin > 0 && *where > 0) {
        err_add(eb, "%s: [%s] %s: duplicate key (first set on line %d)", loc, secname, key,
                *where);
        return -1;
    }
    int rc = sec->kind == SEC_FAULT ? set_fault_key(c, sec->fault, num, k, value, loc, eb)
                                    : set_scalar(c, k, value, loc, eb);
    /* A bad value still counts as set, so a second line for the same key is
     * reported as the duplicate it is. */
    if (rc == 0 || origin > 0)
        *where = origin;
    return rc;
}

/* ---- loading a file ---- */

struct load_ctx {
    struct config *c;
    const char *path; /* as given, for messages */
    FILE *f;
    char *buf; /* getline's buffer */
    size_t cap;
    int line;       /* the physical line last handed to inih */
    int read_errno; /* set if reading failed */
    size_t bytes;   /* read so far */
    bool too_big;   /* the file grew past CONFIG_MAX_FILE_BYTES while read */
    int first_handler_fail;
    int pairs; /* key = value lines taken */
    struct section_ref sec;
    struct errbuf *eb;
};

/* Like inih's own scan: the first of chars, or of an inline comment (a
 * comment prefix after whitespace), or the end. Used to classify a line
 * exactly as inih will. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    bool was_space = false;
    while (*s && (!chars || !strchr(chars, *s)) &&
           !(INI_ALLOW_INLINE_COMMENTS && was_space &&
             strchr(INI_INLINE_COMMENT_PREFIXES, *s))) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

static void section_begin(struct load_ctx *x, char *name)
{
    char loc[1100];
    /* "[ cluster ]" means [cluster]; inih would keep the blanks. */
    while (isspace((unsigned char)*name))
        name++;
    size_t n = strlen(name);
    while (n && isspace((unsigned char)name[n - 1]))
        name[--n] = '\0';
    snprintf(loc, sizeof loc, "%s:%d", x->path, x->line);
    section_resolve(x->c, name, x->line, loc, x->eb, &x->sec);
}

/* Check one line (already stripped) as inih will read it. Returns false for
 * a line inih must not see: its error is reported here, and inih gets an
 * empty line in its place so that its line count stays ours. */
static bool scan_line(struct load_ctx *x, char *s, size_t len, int num)
{
    char q[80];
    if ((int)len + 2 > num) {
        err_add(x->eb, "%s:%d: syntax error: line is too long (at most %d characters)", x->path,
                x->line, num - 2);
        return false;
    }
    if (!*s || strchr(INI_START_COMMENT_PREFIXES, *s))
        return true;
    if (*s == '[') {
        char *end = (char *)find_chars_or_comment(s + 1, "]");
        if (*end != ']') {
            err_add(x->eb, "%s:%d: syntax error: section header without a closing ']', got '%s'",
                    x->path, x->line, quoted(s, q, sizeof q));
            /* Keys that follow belong to no section we know: skip them
             * rather than report them against the previous section. */
            x->sec.kind = SEC_IGNORED;
            return false;
        }
        const char *rest = end + 1;
        while (isspace((unsigned char)*rest))
            rest++;
        /* inih ignores text after ']'; "[cluster] nodes = 5" would lose a
         * key without a word. */
        if (*rest && !strchr(INI_START_COMMENT_PREFIXES, *rest))
            err_add(x->eb, "%s:%d: syntax error: unexpected text after ']', got '%s'", x->path,
                    x->line, quoted(rest, q, sizeof q));
        /* A copy: inih still has to read the line as it is. */
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)(end - s - 1), s + 1);
        section_begin(x, name);
        return true;
    }
    const char *end = find_chars_or_comment(s, "=:");
    if (*end != '=' && *end != ':') {
        err_add(x->eb,
                "%s:%d: syntax error: expected 'key = value', a [section] header or a comment, "
                "got '%s'",
                x->path, x->line, quoted(s, q, sizeof q));
        return false;
    }
    return true;
}

/* inih's reader: one physical line per call, so inih's line numbers are
 * ours too. Leading blanks are removed: inih would take an indented line as
 * the continuation of the previous value, silently turning "  nodes = 5"
 * into part of the line above. */
static char *read_line(char *str, int num, void *stream)
{
    struct load_ctx *x = stream;
    errno = 0;
    ssize_t n = getline(&x->buf, &x->cap, x->f);
    if (n < 0) {
        /* Not feof: a getline that runs out of memory need not set the
         * error indicator, and must not pass for the end of the file. */
        if (!feof(x->f))
            x->read_errno = errno ? errno : EIO;
        return NULL;
    }
    /* The size was checked on opening; a file that grows while it is read
     * (a log, say) is cut off here. */
    x->bytes += (size_t)n;
    if (x->bytes > CONFIG_MAX_FILE_BYTES) {
        x->too_big = true;
        return NULL;
    }
    x->line++;
    char *s = x->buf;
    if (memchr(s, '\0', (size_t)n)) {
        err_add(x->eb, "%s:%d: syntax error: line contains a NUL byte", x->path, x->line);
        snprintf(str, (size_t)num, "\n");
        return str;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (x->line == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        s += 3; /* a UTF-8 byte order mark, as inih allows */
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    if (scan_line(x, s, len, num))
        snprintf(str, (size_t)num, "%s\n", s);
    else
        snprintf(str, (size_t)num, "\n");
    return str;
}

static int handle_pair(struct load_ctx *x, const char *name, const char *value)
{
    char loc[1100];
    snprintf(loc, sizeof loc, "%s:%d", x->path, x->line);
    if (x->sec.kind == SEC_IGNORED)
        return 0; /* its header was reported already */
    if (x->sec.kind == SEC_NONE) {
        char q[80];
        err_add(x->eb, "%s: key '%s' is outside any section (put it under a [section] header)",
                loc, quoted(name, q, sizeof q));
        return -1;
    }
    return set_key(x->c, &x->sec, name, value, x->line, loc, x->eb);
}

/* The one place where inih's convention (nonzero = success) meets ours. */
static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *x = user;
    (void)section; /* we track sections ourselves, see scan_line */
    if (handle_pair(x, name, value) == 0) {
        x->pairs++;
        return 1;
    }
    if (!x->first_handler_fail)
        x->first_handler_fail = x->line;
    return 0;
}

/* Where the section of fault i starts, for "missing key" errors. */
static void fault_where(const struct config *c, int i, char *buf, size_t cap)
{
    const char *src = c->path[0] ? c->path : "(default)";
    const struct fault_spec *f = &c->faults[i];
    if (f->line > 0) {
        snprintf(buf, cap, "%s:%d", src, f->line);
        return;
    }
    for (int k = 0; k < FKEY_COUNT; k++) {
        if (f->origin[k] == CONFIG_ORIGIN_SET) {
            char v[sizeof f->target_text];
            fault_key_format(f, k, v, sizeof v);
            snprintf(buf, cap, "--set fault.%d.%s=%s", fault_num(c, i), fault_key_names[k], v);
            return;
        }
    }
    snprintf(buf, cap, "%s", src);
}

/* Was key k of fault i given in the file, even with a bad value (already
 * reported, so not "missing")? */
static bool fault_key_given(const struct config *c, int i, int k)
{
    return c->faults[i].origin[k] > 0;
}

/* A fault must say when and what, and whom unless it heals everything. The
 * fields stay below 0 until given (config.h). */
static void check_fault_complete(const struct config *c, int i, struct errbuf *eb)
{
    const struct fault_spec *f = &c->faults[i];
    char loc[1100];
    fault_where(c, i, loc, sizeof loc);
    int num = fault_num(c, i);
    if (f->at_us < 0 && !fault_key_given(c, i, FKEY_AT))
        err_add(eb, "%s: [fault.%d] missing key 'at' (when, like at = 2s)", loc, num);
    if (f->action < 0 && !fault_key_given(c, i, FKEY_ACTION))
        err_add(eb, "%s: [fault.%d] missing key 'action' (%s)", loc, num, ACTIONS_EXPECTED);
    if (f->target < 0 && f->action != FAULT_HEAL && f->action != FAULT_NET &&
        !fault_key_given(c, i, FKEY_TARGET))
        err_add(eb, "%s: [fault.%d] missing key 'target' (%s)", loc, num, TARGETS_EXPECTED);
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "distlab");
    c->nodes = 5;
    snprintf(c->algorithm, sizeof c->algorithm, "centralized");
    c->duration_us = 30 * US_PER_S;
    c->seed = 1;
    c->requests = 100;
    c->cs_time_us = 5 * US_PER_MS;
    c->think_time_us = 20 * US_PER_MS;
    c->rate = 0; /* as fast as possible */
    c->election_timeout_min_us = 150 * US_PER_MS;
    c->election_timeout_max_us = 300 * US_PER_MS;
    c->heartbeat_us = 50 * US_PER_MS;
    c->fsync = true;
    c->prevote = false;
    c->check_quorum = false;
    c->local_reads = false;
    c->snapshot_entries = 0;
    c->max_inflight = 0;
    c->clients = 0; /* raft: 1 unless given (config_validate) */
    c->client_timeout_us = 0;
    c->delay_us = 0;
    c->jitter_us = 0;
    c->loss = 0.0;
    c->restart = RESTART_NEVER;
    c->restart_delay_us = 500 * US_PER_MS;
    c->coordinator = 1;
    c->coordinator_competes = false;
    c->failure_timeout_us = 200 * US_PER_MS;
    c->election_timeout_us = 100 * US_PER_MS;
    c->ring_token_timeout_us = 0; /* derived from N and cs_time: see the ring's core */
    c->ring_idle_hold_us = 1 * US_PER_MS; /* an idle ring must not spin the CPU */
    c->groups = 2;
    c->local_rounds = 1;
    c->two_level_token_timeout_us = 0;
    c->two_level_idle_hold_us = 1 * US_PER_MS;
    c->fencing = true;
    c->trace_max_size = (int64_t)TRACE_MAX_DEFAULT;
    c->trace_record = TRACE_CLASS_ALL;
    snprintf(c->requesters, sizeof c->requesters, "all");
    c->keys = 10;
    snprintf(c->mix, sizeof c->mix, "get:50,put:30,append:10,cas:10");
    c->value_size = 0;
    c->pipeline = 1;
    c->members[0] = '\0';
    c->initial_clock[0] = '\0';
    c->nfaults = 0;
    /* memset made every origin CONFIG_ORIGIN_DEFAULT. */
}

/* Open a configuration for reading: a regular file of at most
 * CONFIG_MAX_FILE_BYTES. A device (/dev/zero, /dev/urandom), a FIFO or a
 * socket could be read forever or without end in memory, so they are
 * refused before a byte is read; opening does not block on a FIFO without
 * a writer (O_NONBLOCK, cleared once the file is known to be regular).
 * Returns 0, or -1 with the error reported. */
static int open_config(struct load_ctx *x, const char *path)
{
    struct errbuf *eb = x->eb;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    int e = 0;
    if (fd < 0 || fstat(fd, &st) < 0) {
        e = errno;
        err_add(eb, "%s: cannot read: %s", path, strerror(e));
    } else if (S_ISDIR(st.st_mode)) {
        e = EISDIR;
        err_add(eb, "%s: cannot read: %s", path, strerror(e));
    } else if (!S_ISREG(st.st_mode)) {
        e = EINVAL;
        err_add(eb, "%s: not a regular file (a %s): a configuration must be a regular INI file",
                path,
                S_ISFIFO(st.st_mode)   ? "FIFO"
                : S_ISCHR(st.st_mode)  ? "character device"
                : S_ISBLK(st.st_mode)  ? "block device"
                : S_ISSOCK(st.st_mode) ? "socket"
                                       : "special file");
    } else if (st.st_size > CONFIG_MAX_FILE_BYTES) {
        e = EFBIG;
        err_add(eb, "%s: too large (%lld bytes): a configuration file may have at most %d bytes",
                path, (long long)st.st_size, CONFIG_MAX_FILE_BYTES);
    } else {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 || !(x->f = fdopen(fd, "r"))) {
            e = errno;
            err_add(eb, "%s: cannot read: %s", path, strerror(e));
        }
    }
    if (x->f)
        return 0;
    if (fd >= 0)
        close(fd);
    /* Input errors of the user's making: -EINVAL, like any bad value. */
    if (e != EINVAL)
        err_sys(eb, e);
    return -1;
}

/* config_load, into an error buffer: how many keys the file set. */
static int load_file(struct config *c, const char *path, struct errbuf *eb)
{
    config_defaults(c);
    snprintf(c->path, sizeof c->path, "%s", path);

    struct load_ctx x = {
        .c = c,
        .path = path,
        .sec = {SEC_NONE, -1},
        .eb = eb,
    };
    if (open_config(&x, path) < 0)
        return 0;
    int ret = ini_parse_stream(read_line, &x, ini_handler_cb, &x);
    free(x.buf);
    fclose(x.f);

    if (x.read_errno) {
        err_add(eb, "%s: cannot read: %s", path, strerror(x.read_errno));
        err_sys(eb, x.read_errno);
    } else if (x.too_big) {
        err_add(eb, "%s: too large: a configuration file may have at most %d bytes", path,
                CONFIG_MAX_FILE_BYTES);
        err_sys(eb, EFBIG);
    } else if (ret == -2) {
        err_add(eb, "%s: cannot read: %s", path, strerror(ENOMEM));
        err_sys(eb, ENOMEM);
    } else if (ret > 0 && ret != x.first_handler_fail)
        /* scan_line hides every bad line it knows of from inih, so this is
         * a rule of inih's that we do not mirror; still, say where. */
        err_add(eb, "%s:%d: syntax error (rejected by the INI parser)", path, ret);

    for (int i = 0; i < c->nfaults; i++)
        check_fault_complete(c, i, eb);
    return x.pairs;
}

int config_load(struct config *c, const char *path, char *err)
{
    char dummy[CONFIG_ERRLEN];
    struct errbuf eb;
    err_init(&eb, err ? err : dummy);
    load_file(c, path, &eb);
    return err_finish(&eb);
}

/* ---- --set ---- */

static void trim(char *s)
{
    char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = strlen(p);
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    memmove(s, p, n);
    s[n] = '\0';
}

/* config_set, into an error buffer. */
static void set_assignment(struct config *c, const char *assignment, struct errbuf *eb)
{
    char loc[600];
    snprintf(loc, sizeof loc, "--set %.500s", assignment);

    char *copy = strdup(assignment);
    if (!copy) {
        err_add(eb, "%s: %s", loc, strerror(ENOMEM));
        err_sys(eb, ENOMEM);
        return;
    }
    char *eq = strchr(copy, '=');
    char *dot = NULL;
    if (eq) {
        *eq = '\0';
        dot = strrchr(copy, '.');
    }
    if (!eq || !dot) {
        err_add(eb, "%s: expected section.key=value, like cluster.nodes=5", loc);
        free(copy);
        return;
    }
    *dot = '\0';
    char *section = copy, *key = dot + 1, *value = eq + 1;
    trim(section);
    trim(key);
    trim(value);

    struct section_ref sec;
    if (section_resolve(c, section, CONFIG_ORIGIN_SET, loc, eb, &sec) == 0)
        set_key(c, &sec, key, value, CONFIG_ORIGIN_SET, loc, eb);
    free(copy);
}

int config_set(struct config *c, const char *assignment, char *err)
{
    char dummy[CONFIG_ERRLEN];
    struct errbuf eb;
    err_init(&eb, err ? err : dummy);
    set_assignment(c, assignment, &eb);
    return err_finish(&eb);
}

/* --seed S: [cluster] seed, named as the option it came from. */
static void set_seed_option(struct config *c, const char *seed, struct errbuf *eb)
{
    char loc[600], value[520];
    snprintf(loc, sizeof loc, "--seed %.500s", seed);
    snprintf(value, sizeof value, "%.500s", seed);
    trim(value); /* as config_set would */
    const struct section_ref sec = {SEC_CLUSTER, -1};
    set_key(c, &sec, keys[KEY_SEED].name, value, CONFIG_ORIGIN_SET, loc, eb);
}

/* ---- validation ---- */

/* Where key k's value came from: "FILE:LINE", "--set sec.key=value", or
 * just the file for a default. */
static void key_where(const struct config *c, int k, char *buf, size_t cap)
{
    const char *src = c->path[0] ? c->path : "(default)";
    int origin = c->origin[k];
    if (origin > 0) {
        snprintf(buf, cap, "%s:%d", src, origin);
    } else if (origin == CONFIG_ORIGIN_SET) {
        char v[80];
        key_format(c, k, v, sizeof v);
        snprintf(buf, cap, "--set %s.%s=%s", section_names[keys[k].section], keys[k].name, v);
    } else {
        snprintf(buf, cap, "%s", src);
    }
}

/* The same for key k of fault i; for a key never given, where the fault
 * itself came from. */
static void fault_key_where(const struct config *c, int i, int k, char *buf, size_t cap)
{
    const char *src = c->path[0] ? c->path : "(default)";
    const struct fault_spec *f = &c->faults[i];
    int origin = f->origin[k];
    if (origin > 0) {
        snprintf(buf, cap, "%s:%d", src, origin);
    } else if (origin == CONFIG_ORIGIN_SET) {
        char v[sizeof f->target_text];
        fault_key_format(f, k, v, sizeof v);
        snprintf(buf, cap, "--set fault.%d.%s=%s", fault_num(c, i), fault_key_names[k], v);
    } else {
        fault_where(c, i, buf, cap);
    }
}

/* Of two keys in conflict, blame a, unless only b was set by the user. */
static int blame(const struct config *c, int a, int b)
{
    if (c->origin[a] == CONFIG_ORIGIN_DEFAULT && c->origin[b] != CONFIG_ORIGIN_DEFAULT)
        return b;
    return a;
}

/* Does action take key k? every and count: every action; for: pause,
 * partition, net (what has an undo); loss, delay, jitter: net. */
static bool fault_takes(int action, int k)
{
    switch (k) {
    case FKEY_FOR:
        return action == FAULT_PAUSE || action == FAULT_PARTITION || action == FAULT_NET;
    case FKEY_LOSS:
    case FKEY_DELAY:
    case FKEY_JITTER: return action == FAULT_NET;
    default: return true;
    }
}

/* Is key k of f set (given, or a nonzero value in a struct built by hand)? */
static bool fault_key_set(const struct fault_spec *f, int k)
{
    switch (k) {
    case FKEY_EVERY: return f->every_us != 0 || f->origin[k] != CONFIG_ORIGIN_DEFAULT;
    case FKEY_REPEAT: return f->count != 0 || f->origin[k] != CONFIG_ORIGIN_DEFAULT;
    case FKEY_FOR: return f->for_us != 0 || f->origin[k] != CONFIG_ORIGIN_DEFAULT;
    case FKEY_LOSS: return f->has_loss;
    case FKEY_DELAY: return f->has_delay;
    case FKEY_JITTER: return f->has_jitter;
    default: return f->origin[k] != CONFIG_ORIGIN_DEFAULT;
    }
}

static void check_fault(const struct config *c, int i, bool sim_target, struct errbuf *eb)
{
    const struct fault_spec *f = &c->faults[i];
    int num = fault_num(c, i);
    char loc[1100], at[32], dur[32], v[64];
    (void)sim_target; /* real runs and the simulator take the same faults */

    if (f->at_us >= c->duration_us) {
        fault_key_where(c, i, FKEY_AT, loc, sizeof loc);
        duration_format(f->at_us, at, sizeof at);
        duration_format(c->duration_us, dur, sizeof dur);
        err_add(eb, "%s: fault.%d at %s is not before the end of the run (duration %s)", loc,
                num, at, dur);
    }
    /* The repetition and net keys: in range (a struct built by hand), and
     * only on the actions that take them. */
    static const struct {
        int k;
        int64_t lo, hi;
    } dur_keys[] = {{FKEY_EVERY, 0, CONFIG_MAX_RUN_US},
                    {FKEY_FOR, 0, CONFIG_MAX_RUN_US},
                    {FKEY_DELAY, 0, NETSPEC_MAX_DELAY_US},
                    {FKEY_JITTER, 0, NETSPEC_MAX_DELAY_US}};
    for (size_t j = 0; j < sizeof dur_keys / sizeof dur_keys[0]; j++) {
        int k = dur_keys[j].k;
        int64_t x = k == FKEY_EVERY ? f->every_us
                    : k == FKEY_FOR ? f->for_us
                    : k == FKEY_DELAY ? f->delay_us
                                      : f->jitter_us;
        if (x >= dur_keys[j].lo && x <= dur_keys[j].hi)
            continue;
        fault_key_where(c, i, k, loc, sizeof loc);
        bound_format(dur_keys[j].hi, dur, sizeof dur);
        err_add(eb, "%s: [fault.%d] %s: expected a duration from 0 to %s, got %" PRId64 "us",
                loc, num, fault_key_names[k], dur, x);
    }
    if (f->count < 0 || f->count > CONFIG_MAX_OCCURRENCES) {
        fault_key_where(c, i, FKEY_REPEAT, loc, sizeof loc);
        err_add(eb, "%s: [fault.%d] count: expected an integer from 1 to %d, got '%d'", loc, num,
                CONFIG_MAX_OCCURRENCES, f->count);
    }
    if (f->has_loss && !(f->loss >= 0 && f->loss <= 1)) {
        fault_key_where(c, i, FKEY_LOSS, loc, sizeof loc);
        number_format(f->loss, v, sizeof v);
        err_add(eb, "%s: [fault.%d] loss: expected a number from 0.0 to 1.0, got '%s'", loc, num,
                v);
    }
    for (int k = FKEY_EVERY; k < FKEY_COUNT; k++) {
        if (!fault_key_set(f, k) || fault_takes(f->action, k))
            continue;
        fault_key_where(c, i, k, loc, sizeof loc);
        err_add(eb, "%s: [fault.%d] %s: not taken by action %s (%s)", loc, num,
                fault_key_names[k], fault_action_name(f->action),
                k == FKEY_FOR ? "for undoes a fault: only pause, partition and net take it"
                              : "loss, delay and jitter are for action net");
    }
    if (fault_key_set(f, FKEY_REPEAT) && f->every_us <= 0) {
        fault_key_where(c, i, FKEY_REPEAT, loc, sizeof loc);
        err_add(eb,
                "%s: [fault.%d] count: expected only with every (count is how many times the "
                "fault repeats, every apart)",
                loc, num);
    }
    if (f->for_us > 0 && f->every_us > 0 && f->for_us >= f->every_us) {
        fault_key_where(c, i, FKEY_FOR, loc, sizeof loc);
        duration_format(f->every_us, at, sizeof at);
        duration_format(f->for_us, dur, sizeof dur);
        err_add(eb,
                "%s: [fault.%d] for: expected less than every (%s): each occurrence is undone "
                "before the next, got '%s'",
                loc, num, at, dur);
    }
    if (f->action == FAULT_HEAL)
        return;
    /* A partition by role: the holder, and with others, on a side. */
    bool by_role = f->target == TARGET_COORDINATOR || f->target == TARGET_LEADER ||
                   f->target == TARGET_TOKEN_HOLDER;
    if (f->with > 0 && f->action != FAULT_PARTITION) {
        fault_key_where(c, i, FKEY_TARGET, loc, sizeof loc);
        err_add(eb,
                "%s: [fault.%d] target '%s': a role with other nodes is a side of a partition, "
                "only valid with action partition (action is %s)",
                loc, num, f->target_text, fault_action_name(f->action));
        return;
    }
    if (f->action == FAULT_PARTITION && by_role && (c->nodes < 2 || f->with > c->nodes - 2)) {
        fault_key_where(c, i, FKEY_TARGET, loc, sizeof loc);
        err_add(eb,
                "%s: [fault.%d] target '%s': expected at most %d other nodes with the %s (nodes "
                "%d, and the other side needs one), got %d",
                loc, num, f->target_text, c->nodes - 2 > 0 ? c->nodes - 2 : 0,
                f->target == TARGET_LEADER        ? "leader"
                : f->target == TARGET_COORDINATOR ? "coordinator"
                                                  : "token holder",
                c->nodes, f->with);
        return;
    }
    if (f->action == FAULT_NET || (f->action == FAULT_PARTITION && !by_role)) {
        bool net = f->action == FAULT_NET;
        if (net && !f->has_loss && !f->has_delay && !f->has_jitter) {
            fault_where(c, i, loc, sizeof loc);
            err_add(eb,
                    "%s: [fault.%d] action net: expected at least one of loss, delay, jitter "
                    "(like loss = 0.1)",
                    loc, num);
        }
        fault_key_where(c, i, FKEY_TARGET, loc, sizeof loc);
        char why[NETSPEC_ERRLEN];
        struct net_links *l = malloc(sizeof *l);
        if (!l) {
            err_add(eb, "%s: %s", loc, strerror(ENOMEM));
            err_sys(eb, ENOMEM);
            return;
        }
        bool spec = f->target == TARGET_GROUPS || f->target == TARGET_LINKS;
        /* Why the spec did not parse, when it looked like one of its kind. */
        bool show = net ? f->target == TARGET_LINKS : spec;
        if (!spec || (net ? netspec_links(f->target_text, c->nodes, l, why)
                          : netspec_partition(f->target_text, c->nodes, l, why)) < 0)
            err_add(eb,
                    "%s: [fault.%d] target: expected %s of nodes 1 to %d%s, like %s, got "
                    "'%s'%s%s%s",
                    loc, num, net ? "links" : "a partition", c->nodes,
                    net ? " for action net" : "",
                    net ? "all, 1->3, 1<->3 or 3->*" : "'1,2/3,4,5', '1->3', '1<->3' or '3->*'",
                    f->target_text, show ? " (" : "", show ? why : "", show ? ")" : "");
        free(l);
        return;
    }
    fault_key_where(c, i, FKEY_TARGET, loc, sizeof loc);
    const char *need = NULL;
    switch (f->target) {
    case TARGET_NODE:
        if (f->target_node > c->nodes)
            err_add(eb, "%s: [fault.%d] target: expected a node id from 1 to nodes (%d), got '%d'",
                    loc, num, c->nodes, f->target_node);
        break;
    case TARGET_COORDINATOR:
        if (strcmp(c->algorithm, "centralized") != 0)
            need = "algorithm centralized";
        break;
    case TARGET_LEADER:
        if (strcmp(c->algorithm, "raft") != 0)
            need = "algorithm raft";
        break;
    case TARGET_TOKEN_HOLDER:
        if (strcmp(c->algorithm, "token_ring") != 0 && strcmp(c->algorithm, "two_level_ring") != 0)
            need = "algorithm token_ring or two_level_ring";
        break;
    case TARGET_GROUPS:
    case TARGET_LINKS:
        err_add(eb,
                "%s: [fault.%d] target '%s' (a network spec) is only valid with action "
                "partition or net (action is %s)",
                loc, num, f->target_text, fault_action_name(f->action));
        break;
    default: break;
    }
    if (need)
        err_add(eb, "%s: [fault.%d] target '%s' is only valid with %s (algorithm is %s)", loc, num,
                f->target_text, need, c->algorithm);
}

/* The schedule as a whole: at most CONFIG_MAX_OCCURRENCES occurrences
 * (repetitions and undos included). Blames the fault with the most. */
static void check_occurrences(const struct config *c, struct errbuf *eb)
{
    int total = config_fault_timeline(c, NULL, 0);
    if (total <= CONFIG_MAX_OCCURRENCES)
        return; /* (a negative total: a bad value, reported where it is) */
    int worst = 0, most = -1;
    struct config *one = malloc(sizeof *one);
    if (!one) {
        err_sys(eb, ENOMEM);
        return;
    }
    *one = *c;
    one->nfaults = 1;
    for (int i = 0; i < c->nfaults; i++) {
        one->faults[0] = c->faults[i];
        int k = config_fault_timeline(one, NULL, 0);
        if (k > most) {
            most = k;
            worst = i;
        }
    }
    free(one);
    char loc[1100];
    fault_key_where(c, worst, c->faults[worst].every_us > 0 ? FKEY_EVERY : FKEY_AT, loc,
                    sizeof loc);
    err_add(eb,
            "%s: [fault.%d] every: the schedule has more than %d occurrences (fault.%d alone "
            "has %s%d): expected a longer every or a count",
            loc, fault_num(c, worst), CONFIG_MAX_OCCURRENCES, fault_num(c, worst),
            most > CONFIG_MAX_OCCURRENCES ? "more than " : "",
            most > CONFIG_MAX_OCCURRENCES ? CONFIG_MAX_OCCURRENCES : most);
}

/* Stable insertion sort by time. Each fault carries its num and origins,
 * so a later --set fault.N still finds fault N. */
static void sort_faults(struct config *c)
{
    for (int i = 1; i < c->nfaults; i++) {
        struct fault_spec f = c->faults[i];
        int j = i;
        for (; j > 0 && c->faults[j - 1].at_us > f.at_us; j--)
            c->faults[j] = c->faults[j - 1];
        c->faults[j] = f;
    }
}

int config_parse_members(const char *text, int n, uint8_t *group_of, bool all)
{
    memset(group_of, 0, (size_t)(n + 1));
    int g = 1, seen = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > n || group_of[v] != 0 || g > 255)
            return -EINVAL;
        group_of[v] = (uint8_t)g;
        seen++;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p == '/')
            g++, p++;
        else if (*p != '\0')
            return -EINVAL;
    }
    if (seen == 0 || (all && seen != n))
        return -EINVAL;
    return g;
}

int config_parse_groups(const char *text, int n, uint8_t *group_of)
{
    /* The syntax of [two_level_ring] members; a partition needs two sides,
     * and a node in no group is cut off from everyone. */
    int g = config_parse_members(text, n, group_of, false);
    if (g < 2)
        return -EINVAL;
    for (int k = 1; k <= n; k++)
        if (!group_of[k] && g < 255)
            group_of[k] = (uint8_t)++g;
    return 0;
}

int config_node_list(const char *text, int n, bool *in)
{
    bool all = strcmp(text, "all") == 0;
    for (int k = 0; k <= n; k++)
        in[k] = all && k > 0;
    if (all)
        return 0;
    const char *p = text;
    int count = 0;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > n)
            return -EINVAL;
        in[v] = true;
        count++;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return -EINVAL;
        while (*p == ' ')
            p++;
    }
    return count ? 0 : -EINVAL;
}

int config_parse_mix(const char *text, int weights[5])
{
    for (int i = 0; i < 5; i++)
        weights[i] = -1;
    const char *p = text;
    int total = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        char name[16];
        size_t k = 0;
        while (*p && *p != ':' && *p != ',' && *p != ' ' && k + 1 < sizeof name)
            name[k++] = *p++;
        name[k] = 0;
        int op = kv_op_parse(name);
        while (*p == ' ')
            p++;
        if (!op || *p != ':' || weights[op] >= 0)
            return -EINVAL;
        p++;
        char *end;
        errno = 0;
        long w = strtol(p, &end, 10);
        if (end == p || errno || w < 0 || w > 1000000)
            return -EINVAL;
        weights[op] = (int)w;
        total += (int)w;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return -EINVAL;
    }
    for (int i = 1; i < 5; i++)
        if (weights[i] < 0)
            weights[i] = 0;
    weights[0] = 0;
    return total > 0 ? 0 : -EINVAL;
}

int config_node_values(const char *text, int n, int64_t *vals)
{
    for (int k = 0; k <= n; k++)
        vals[k] = 0;
    const char *p = text;
    if (!*p)
        return 0;
    while (*p) {
        char *end;
        long id = strtol(p, &end, 10);
        if (end == p || id < 1 || id > n || *end != ':')
            return -EINVAL;
        p = end + 1;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > CONFIG_MAX_CLOCK)
            return -EINVAL;
        vals[id] = v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return -EINVAL;
        while (*p == ' ')
            p++;
    }
    return 0;
}

int64_t config_idle_hold(const struct config *c)
{
    return strcmp(c->algorithm, "two_level_ring") == 0 ? c->two_level_idle_hold_us
                                                        : c->ring_idle_hold_us;
}

int64_t config_token_timeout(const struct config *c)
{
    int64_t t = strcmp(c->algorithm, "two_level_ring") == 0 ? c->two_level_token_timeout_us
                                                             : c->ring_token_timeout_us;
    if (t > 0)
        return t;
    /* Derived: two laps of a busy ring (every node holding the CS and the
     * token for an idle hold, plus a millisecond a hop for scheduling on a
     * loaded machine), and never under 200 ms. A timeout shorter than a lap
     * would regenerate a token that is only slow. */
    int64_t lap = (int64_t)c->nodes * (c->cs_time_us + config_idle_hold(c) + 1000);
    return 2 * lap > 200000 ? 2 * lap : 200000;
}


void config_algo_env(const struct config *c, struct algo_env *env)
{
    memset(env, 0, sizeof *env);
    env->n = c->nodes;
    env->seed = c->seed;
    env->coordinator = c->coordinator;
    env->coordinator_competes = c->coordinator_competes;
    env->election_timeout_us = c->election_timeout_us;
    env->token_timeout_us = config_token_timeout(c);
    env->token_idle_hold_us = config_idle_hold(c);
    env->groups = c->groups;
    env->local_rounds = c->local_rounds;
    if (c->members[0] && c->nodes >= 1 && c->nodes <= CONFIG_MAX_NODES)
        config_parse_members(c->members, c->nodes, env->group_of, true);
    env->retransmit = c->retransmit;
    env->retransmit_us = config_retransmit_timeout(c);
    env->clients = c->clients;
    env->raft_election_min_us = c->election_timeout_min_us;
    env->raft_election_max_us = c->election_timeout_max_us;
    env->raft_heartbeat_us = c->heartbeat_us;
    env->raft_prevote = c->prevote;
    env->raft_check_quorum = c->check_quorum;
    env->raft_local_reads = c->local_reads;
    env->raft_snapshot_entries = c->snapshot_entries;
    env->raft_max_inflight = c->max_inflight;
    env->client_timeout_us = c->client_timeout_us;
    env->client_window = c->pipeline;
}

int config_validate(struct config *c, char *err)
{
    return config_validate_for(c, CONFIG_FOR_RUN, err);
}

/* Does any node request the critical section? If not, say why, naming
 * the key to change. Only for a configuration whose algorithm, nodes,
 * coordinator and requesters are otherwise valid. */
static void check_someone_requests(const struct config *c, const struct algo_ops *ops,
                                   const bool *in, struct errbuf *eb)
{
    struct algo_env env;
    memset(&env, 0, sizeof env);
    env.n = c->nodes;
    env.seed = c->seed;
    env.coordinator = c->coordinator;
    env.coordinator_competes = c->coordinator_competes;
    env.groups = c->groups;
    env.local_rounds = c->local_rounds;
    int listed = 0;
    for (int k = 1; k <= c->nodes; k++) {
        if (!in[k])
            continue;
        listed++;
        env.id = k;
        if (ops->competes(&env, k))
            return;
    }
    char loc[1100], why[160];
    if (strcmp(c->algorithm, "centralized") == 0 && !c->coordinator_competes && listed == 1 &&
        in[c->coordinator])
        snprintf(why, sizeof why, "node %d is the coordinator and coordinator_competes is false",
                 c->coordinator);
    else
        snprintf(why, sizeof why, "no node in requesters competes under algorithm %s",
                 c->algorithm);
    int k = c->origin[KEY_REQUESTERS] != CONFIG_ORIGIN_DEFAULT ? KEY_REQUESTERS
                                                               : blame(c, KEY_NODES, KEY_ALGORITHM);
    key_where(c, k, loc, sizeof loc);
    err_add(eb, "%s: [%s] %s: no node would request the critical section (%s)", loc,
            section_names[keys[k].section], keys[k].name, why);
}

/* config_validate_for, into an error buffer. */
static void validate_into(struct config *c, int target, struct errbuf *eb)
{
    bool sim_target = target == CONFIG_FOR_SIM;
    int errors_before = eb->count;
    char loc[1100], a[32], b[32];

    /* The parsers guarantee these for loaded values; a struct filled in by
     * hand gets the same answer. */
    const struct algo_ops *ops = algo_find(c->algorithm);
    if (!ops) {
        key_where(c, KEY_ALGORITHM, loc, sizeof loc);
        char avail[128];
        algorithms_available(avail, sizeof avail);
        err_add(eb,
                "%s: [cluster] algorithm '%s' is not implemented in this version "
                "(available: %s)",
                loc, c->algorithm, avail);
    }
    /* Every number within its key's range: the parsers guarantee it for
     * what they read, and a struct filled in by hand gets the same answer.
     * The coordinator has a tighter bound (nodes), checked below. */
    for (int k = 0; k < KEY_COUNT; k++) {
        const struct key_def *d = &keys[k];
        const char *p = (const char *)c + d->offset;
        bool in_range = true;
        switch (d->type) {
        case V_INT: {
            int v = *(const int *)(const void *)p;
            in_range = k == KEY_COORDINATOR || (v >= d->min && v <= d->max);
            break;
        }
        case V_SEED: in_range = *(const uint64_t *)(const void *)p <= (uint64_t)d->max; break;
        case V_DURATION: {
            int64_t v = *(const int64_t *)(const void *)p;
            in_range = v >= d->min && v <= d->max;
            break;
        }
        case V_NUMBER: {
            double v = *(const double *)(const void *)p;
            in_range = v >= (double)d->min && v <= (double)d->max;
            break;
        }
        default: break;
        }
        if (in_range)
            continue;
        char what[96];
        key_where(c, k, loc, sizeof loc);
        key_format(c, k, a, sizeof a);
        err_add(eb, "%s: [%s] %s: expected %s, got '%s'", loc, section_names[d->section], d->name,
                range_phrase(d, what, sizeof what), a);
    }
    bool nodes_ok = c->nodes >= 1 && c->nodes <= CONFIG_MAX_NODES;
    bool coordinator_ok = c->coordinator >= 1 && c->coordinator <= c->nodes;
    if (!coordinator_ok) {
        key_where(c, KEY_COORDINATOR, loc, sizeof loc);
        err_add(eb,
                "%s: [centralized] coordinator: expected a node id from 1 to nodes (%d), "
                "got '%d'",
                loc, c->nodes, c->coordinator);
    }

    /* Randomized timeouts need a range to draw from: with min = max every
     * follower of a dead leader times out at once, and split votes repeat. */
    if (c->election_timeout_min_us >= c->election_timeout_max_us) {
        int k = blame(c, KEY_ELECTION_MIN, KEY_ELECTION_MAX);
        key_where(c, k, loc, sizeof loc);
        if (k == KEY_ELECTION_MIN) {
            duration_format(c->election_timeout_max_us, a, sizeof a);
            duration_format(c->election_timeout_min_us, b, sizeof b);
            err_add(eb,
                    "%s: [raft] election_timeout_min: expected less than election_timeout_max "
                    "(%s): timeouts are drawn from the range between them, got '%s'",
                    loc, a, b);
        } else {
            duration_format(c->election_timeout_min_us, a, sizeof a);
            duration_format(c->election_timeout_max_us, b, sizeof b);
            err_add(eb,
                    "%s: [raft] election_timeout_max: expected more than election_timeout_min "
                    "(%s): timeouts are drawn from the range between them, got '%s'",
                    loc, a, b);
        }
    }
    /* A leader must be heard from before anyone's election timer runs out,
     * or followers depose a healthy leader. */
    if (c->heartbeat_us >= c->election_timeout_min_us) {
        int k = blame(c, KEY_HEARTBEAT, KEY_ELECTION_MIN);
        key_where(c, k, loc, sizeof loc);
        if (k == KEY_HEARTBEAT) {
            duration_format(c->election_timeout_min_us, a, sizeof a);
            duration_format(c->heartbeat_us, b, sizeof b);
            err_add(eb,
                    "%s: [raft] heartbeat: expected less than election_timeout_min (%s), got '%s'",
                    loc, a, b);
        } else {
            duration_format(c->heartbeat_us, a, sizeof a);
            duration_format(c->election_timeout_min_us, b, sizeof b);
            err_add(eb,
                    "%s: [raft] election_timeout_min: expected more than heartbeat (%s), got '%s'",
                    loc, a, b);
        }
    }

    int fault_errors = eb->count;
    for (int i = 0; i < c->nfaults; i++) {
        int before = eb->count;
        check_fault_complete(c, i, eb);
        /* A net fault's target defaults to every link; a spec is a
         * partition's or a link list by the action. */
        struct fault_spec *f = &c->faults[i];
        if (f->action == FAULT_NET && f->target == TARGET_NONE) {
            f->target = TARGET_LINKS;
            f->target_node = 0;
            snprintf(f->target_text, sizeof f->target_text, "all");
        } else if (f->action == FAULT_NET && f->target == TARGET_GROUPS) {
            f->target = TARGET_LINKS;
        } else if (f->action == FAULT_PARTITION && f->target == TARGET_LINKS) {
            f->target = TARGET_GROUPS;
        }
        if (eb->count == before)
            check_fault(c, i, sim_target, eb);
    }
    if (eb->count == fault_errors && c->nfaults > 0)
        check_occurrences(c, eb);

    /* The default of 2 groups, on fewer nodes: as many groups as nodes.
     * A number the user gave is theirs to fix. */
    if (strcmp(c->algorithm, "two_level_ring") == 0 && c->groups > c->nodes && nodes_ok &&
        c->origin[KEY_TWO_GROUPS] == CONFIG_ORIGIN_DEFAULT)
        c->groups = c->nodes;
    if (strcmp(c->algorithm, "two_level_ring") == 0 && c->groups > c->nodes) {
        key_where(c, KEY_TWO_GROUPS, loc, sizeof loc);
        err_add(eb, "%s: [two_level_ring] groups: expected at most nodes (%d) groups, got '%d'",
                loc, c->nodes, c->groups);
    }

    /* Node lists name nodes of this run (and index arrays of nodes + 1:
     * not with a node count already reported as out of range). */
    bool in[CONFIG_MAX_NODES + 1];
    bool requesters_ok = nodes_ok && config_node_list(c->requesters, c->nodes, in) == 0;
    if (nodes_ok && !requesters_ok) {
        key_where(c, KEY_REQUESTERS, loc, sizeof loc);
        err_add(eb, "%s: [workload] requesters: expected all, or node ids from 1 to %d, got '%s'",
                loc, c->nodes, c->requesters);
    }
    uint8_t members[CONFIG_MAX_NODES + 1];
    if (nodes_ok && c->members[0]) {
        int g = config_parse_members(c->members, c->nodes, members, true);
        if (g < 0) {
            key_where(c, KEY_TWO_MEMBERS, loc, sizeof loc);
            err_add(eb,
                    "%s: [two_level_ring] members: expected every node from 1 to %d in exactly "
                    "one group, like 1,2,3/4,5,6, got '%s'",
                    loc, c->nodes, c->members);
        } else {
            c->groups = g; /* explicit membership decides the number of groups */
        }
    }
    int64_t vals[CONFIG_MAX_NODES + 1];
    if (nodes_ok && config_node_values(c->initial_clock, c->nodes, vals) < 0) {
        key_where(c, KEY_INITIAL_CLOCK, loc, sizeof loc);
        err_add(eb,
                "%s: [ricart_agrawala] initial_clock: expected node:value pairs with node ids "
                "from 1 to %d and values from 0 to " DL_STR(CONFIG_MAX_CLOCK) ", got '%s'",
                loc, c->nodes, c->initial_clock);
    }

    /* Client processes are Raft's workload; a mutex algorithm's nodes make
     * their own requests. Raft has one client unless told otherwise. */
    bool raft = strcmp(c->algorithm, "raft") == 0;
    if (raft && c->origin[KEY_CLIENTS] == CONFIG_ORIGIN_DEFAULT && c->clients == 0)
        c->clients = 1;
    if (!raft && c->clients > 0) {
        key_where(c, KEY_CLIENTS, loc, sizeof loc);
        err_add(eb,
                "%s: [workload] clients: only algorithm raft has client processes (algorithm "
                "is %s, whose nodes make their own requests): expected 0, got '%d'",
                loc, c->algorithm, c->clients);
    }
    if (raft && c->clients == 0 && c->requests > 0) {
        int k = c->origin[KEY_REQUESTS] != CONFIG_ORIGIN_DEFAULT ? KEY_REQUESTS : KEY_CLIENTS;
        key_where(c, k, loc, sizeof loc);
        err_add(eb,
                "%s: [workload] %s: %d requests and no client to make them (clients = 0): "
                "expected clients of at least 1, or requests = 0 for a run without commands",
                loc, keys[k].name, c->requests);
    }

    /* A run with requests to make and nobody to make them would only wait
     * out its duration. requests = 0 is a deliberate idle run. Raft's
     * requests are its clients' (above). */
    if (c->requests > 0 && ops && !raft && requesters_ok && coordinator_ok)
        check_someone_requests(c, ops, in, eb);

    if (eb->count == errors_before)
        sort_faults(c);
}

int config_validate_for(struct config *c, int target, char *err)
{
    char dummy[CONFIG_ERRLEN];
    struct errbuf eb;
    err_init(&eb, err ? err : dummy);
    validate_into(c, target, &eb);
    return err_finish(&eb);
}

int config_load_with_sets(struct config *c, const char *path, const char *const *sets,
                          int nsets, const char *seed, int target, char *err)
{
    char dummy[CONFIG_ERRLEN];
    struct errbuf eb;
    err_init(&eb, err ? err : dummy);
    /* Each stage only on what the one before left valid: overriding a file
     * with errors, or validating a bad override, would report errors that
     * are only echoes. Every --set is tried, so all bad ones show at once. */
    int pairs = load_file(c, path, &eb);
    /* An empty file is most likely one that was cut short or not yet
     * written: running the defaults would answer a question nobody asked.
     * With --set, the options say what to run. */
    if (eb.count == 0 && pairs == 0 && nsets == 0)
        err_add(&eb,
                "%s: no settings: the file is empty or holds only comments and section names, so "
                "nothing says what to run; name at least [cluster] algorithm (conf/default.ini is "
                "the default experiment), or give --set",
                path);
    if (eb.count == 0) {
        for (int i = 0; i < nsets && !eb.code; i++)
            set_assignment(c, sets[i], &eb);
        if (seed && !eb.code)
            set_seed_option(c, seed, &eb);
    }
    if (eb.count == 0)
        validate_into(c, target, &eb);
    return err_finish(&eb);
}

/* ---- writing ---- */

/* The order of the sections in config_to_ini: the run, then each
 * algorithm's own, then the rest. Every named section exactly once. */
static const int ini_sections[] = {
    SEC_CLUSTER,  SEC_WORKLOAD, SEC_CENTRALIZED, SEC_RICART, SEC_TOKEN_RING,
    SEC_TWO_LEVEL, SEC_RESOURCE, SEC_RAFT,       SEC_NETWORK, SEC_SUPERVISOR, SEC_TRACE,
};
_Static_assert(sizeof ini_sections / sizeof ini_sections[0] == SEC_LAST_NAMED,
               "config_to_ini must write every section");

/* Is key k the token_timeout of the algorithm being run, left at 0 (derived
 * from the rest of the configuration)? */
static bool derived_token_timeout(const struct config *c, int k)
{
    if (k == KEY_RING_TOKEN_TIMEOUT)
        return strcmp(c->algorithm, "token_ring") == 0 && c->ring_token_timeout_us == 0;
    if (k == KEY_TWO_TOKEN_TIMEOUT)
        return strcmp(c->algorithm, "two_level_ring") == 0 && c->two_level_token_timeout_us == 0;
    return false;
}

char *config_to_ini(const struct config *c)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return NULL;
    char v[sizeof ((struct fault_spec *)0)->target_text];

    fprintf(f, "; distlab: the resolved configuration (every key, defaults included)\n");
    for (size_t s = 0; s < sizeof ini_sections / sizeof ini_sections[0]; s++) {
        int section = ini_sections[s];
        fprintf(f, "%s[%s]\n", s ? "\n" : "", section_names[section]);
        for (int k = 0; k < KEY_COUNT; k++) {
            if (keys[k].section != section)
                continue;
            key_format(c, k, v, sizeof v);
            fprintf(f, "%s = %s", keys[k].name, v);
            if (derived_token_timeout(c, k)) {
                char d[32];
                duration_format(config_token_timeout(c), d, sizeof d);
                fprintf(f, " ; derived: %s for this run", d);
            }
            fputc('\n', f);
        }
    }
    /* Numbered in their order here: once validated, the order of time. */
    for (int i = 0; i < c->nfaults; i++) {
        const struct fault_spec *fs = &c->faults[i];
        fprintf(f, "\n[fault.%d]\n", i + 1);
        if (fs->at_us >= 0) {
            fault_key_format(fs, FKEY_AT, v, sizeof v);
            fprintf(f, "at = %s\n", v);
        }
        if (fs->action >= 0 && fs->action < FAULT_ACTION_COUNT)
            fprintf(f, "action = %s\n", action_names[fs->action]);
        if (fs->target >= 0)
            fprintf(f, "target = %s\n", fs->target_text);
        /* The rest only when set, in the order of the key table. */
        for (int k = FKEY_EVERY; k < FKEY_COUNT; k++) {
            bool set = k == FKEY_EVERY    ? fs->every_us > 0
                       : k == FKEY_REPEAT ? fs->count > 0
                       : k == FKEY_FOR    ? fs->for_us > 0
                       : k == FKEY_LOSS   ? fs->has_loss
                       : k == FKEY_DELAY  ? fs->has_delay
                                          : fs->has_jitter;
            if (!set)
                continue;
            fault_key_format(fs, k, v, sizeof v);
            fprintf(f, "%s = %s\n", fault_key_names[k], v);
        }
    }
    if (ferror(f)) {
        fclose(f);
        free(text);
        return NULL;
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
