/* Fuzz target: the configuration loader (src/config.c) the way `distlab run`
 * and `distlab sim` use it: an INI file, then --set overrides, then --seed,
 * then validation.
 *
 * Input: leading lines that are options, then the INI file:
 *   --set section.key=value     an override (up to 32, in order)
 *   --seed S                    as the --seed option
 *   --sim                       validate for the simulator instead of a run
 * The first line that is none of these starts the file, which is written
 * byte for byte to a scratch file and loaded from there.
 *
 * Checked besides "no crash, no leak": the error contract of config.h (0 and
 * an empty message, or a negative code and a non-empty message that fits its
 * buffer), the guarantees of a valid configuration (nodes, coordinator and
 * node targets in range, election_timeout_min <= max, faults inside the
 * duration and sorted by time), and that the resolved configuration
 * (config_to_ini, what RUNDIR/config.ini holds) loads again, without
 * overrides, to the same text. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/config.h"
#include "tests/fuzz/fuzz.h"

#define MAX_SETS 32

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_keep_stderr();
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fuzz_fail("cannot create %s", path);
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fuzz_fail("cannot write %s", path);
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

static void check_error_contract(int rc, const char *err, const char *what)
{
    size_t len = strnlen(err, CONFIG_ERRLEN);
    FUZZ_CHECK(len < CONFIG_ERRLEN, "%s: the error message is not terminated", what);
    if (rc == 0)
        FUZZ_CHECK(len == 0, "%s: success with an error message: %s", what, err);
    else {
        FUZZ_CHECK(rc < 0, "%s: returned %d", what, rc);
        FUZZ_CHECK(len > 0, "%s: failed (%d) without a message", what, rc);
    }
}

static void check_valid(const struct config *c)
{
    FUZZ_CHECK(c->nodes >= 1 && c->nodes <= CONFIG_MAX_NODES, "valid with nodes = %d", c->nodes);
    FUZZ_CHECK(c->coordinator >= 1 && c->coordinator <= c->nodes,
               "valid with coordinator %d of %d nodes", c->coordinator, c->nodes);
    FUZZ_CHECK(c->election_timeout_min_us <= c->election_timeout_max_us,
               "valid with election_timeout_min > max");
    FUZZ_CHECK(c->duration_us > 0, "valid with duration %lld us", (long long)c->duration_us);
    FUZZ_CHECK(c->nfaults >= 0 && c->nfaults <= CONFIG_MAX_FAULTS, "valid with %d faults",
               c->nfaults);
    for (int i = 0; i < c->nfaults; i++) {
        const struct fault_spec *f = &c->faults[i];
        FUZZ_CHECK(f->at_us >= 0 && f->at_us < c->duration_us,
                   "valid with fault %d at %lld us of %lld", i, (long long)f->at_us,
                   (long long)c->duration_us);
        FUZZ_CHECK(i == 0 || c->faults[i - 1].at_us <= f->at_us, "faults not sorted by time");
        FUZZ_CHECK(f->action >= 0 && f->action < FAULT_ACTION_COUNT,
                   "valid with fault action %d", f->action);
        if (f->target == TARGET_NODE)
            FUZZ_CHECK(f->target_node >= 1 && f->target_node <= c->nodes,
                       "valid with fault target node %d of %d", f->target_node, c->nodes);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A NUL-terminated copy to cut the option lines from. */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    const char *sets[MAX_SETS];
    int nsets = 0;
    const char *seed = NULL;
    int target = CONFIG_FOR_RUN;
    size_t pos = 0;
    while (pos < size) {
        char *line = text + pos;
        char *nl = memchr(line, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - line) : size - pos;
        if (len >= 6 && memcmp(line, "--set ", 6) == 0 && nsets < MAX_SETS)
            sets[nsets++] = line + 6;
        else if (len >= 7 && memcmp(line, "--seed ", 7) == 0)
            seed = line + 7;
        else if (len == 5 && memcmp(line, "--sim", 5) == 0)
            target = CONFIG_FOR_SIM;
        else
            break;
        if (nl)
            *nl = '\0';
        pos += len + (nl ? 1 : 0);
    }

    char path[4200], again[4200];
    snprintf(path, sizeof path, "%s/input.ini", fuzz_tmpdir());
    snprintf(again, sizeof again, "%s/resolved.ini", fuzz_tmpdir());
    write_file(path, data + pos, size - pos);

    struct config *c = malloc(sizeof *c);
    struct config *c2 = malloc(sizeof *c2);
    char *err = malloc(CONFIG_ERRLEN);
    if (!c || !c2 || !err)
        fuzz_fail("out of memory");
    memset(err, 'x', CONFIG_ERRLEN);
    int rc = config_load_with_sets(c, path, sets, nsets, seed, target, err);
    check_error_contract(rc, err, "config_load_with_sets");

    if (rc == 0) {
        check_valid(c);
        char *ini = config_to_ini(c);
        FUZZ_CHECK(ini != NULL, "config_to_ini failed");
        write_file(again, ini, strlen(ini));
        memset(err, 'x', CONFIG_ERRLEN);
        int rc2 = config_load_with_sets(c2, again, NULL, 0, NULL, target, err);
        check_error_contract(rc2, err, "loading the resolved configuration");
        FUZZ_CHECK(rc2 == 0, "the resolved configuration does not load again: %s\n%s", err, ini);
        char *ini2 = config_to_ini(c2);
        FUZZ_CHECK(ini2 != NULL, "config_to_ini failed");
        FUZZ_CHECK(strcmp(ini, ini2) == 0,
                   "the resolved configuration changes when loaded again:\n%s\n---\n%s", ini,
                   ini2);
        free(ini2);
        free(ini);
        unlink(again);
    }
    unlink(path);
    free(err);
    free(c2);
    free(c);
    free(text);
    return 0;
}
