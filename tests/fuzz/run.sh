#!/bin/sh
# Fuzz the input parsers with libFuzzer (clang), each target for a bounded
# time, and fail on any finding: a crash, a sanitizer report (ASan, UBSan),
# a leak, an input that runs longer than 10 s, more than 2 GiB of memory, or
# a broken contract (see each target's header comment).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]   default: 60 s each of wire config trace storage raft
#   tests/fuzz/run.sh --update-seeds [RUNDIR...]
#        regenerate the committed seed corpora under tests/fuzz/corpus from
#        the code and conf/ (and pack each RUNDIR, a real run directory, into
#        the trace corpus); review the result with git status
#
# Targets (tests/fuzz/fuzz_*.c):
#   wire    the wire decoder (ipc/wire.c)
#   config  the INI loader with --set and --seed (src/config.c)
#   trace   trace_load on a torn or corrupt run directory, then `distlab
#           trace` and `distlab check` on it (ipc/trace.c, src/report.c)
#   storage recovery of a node's log file from any bytes, then appending
#           to it and recovering again (ipc/storage.c)
#   raft    the Raft core fed junk messages, syncs, failed sends and forged
#           storage images amid a live cluster's own traffic (nodes/raft*.c)
#   kv      the key-value store's commands against a reference model, with
#           failing allocations, and its snapshot reader (nodes/kv.c)
#
# Everything is built and run in one temporary directory, and the targets'
# scratch files go to another (TMPDIR, on /dev/shm if possible); both are
# removed at the end whatever happens. Each target starts from
# its committed corpus (tests/fuzz/corpus/TARGET, regression inputs
# included) plus seeds made fresh from this tree (messages of every
# algorithm, conf/*.ini, simulated runs), so the seeds follow format changes.
# On a finding the crashing input is printed in base64, and copied into
# $FUZZ_ARTIFACTS if that is set. FUZZ_KEEP=1 keeps the temporary directory
# (builds, logs, the grown corpora) for a closer look. Needs clang and libFuzzer (Debian: clang,
# libclang-rt-dev), pkg-config, inih and jansson.
set -eu
cd "$(dirname "$0")/../.."
src=$(pwd)

update=0
if [ "${1:-}" = "--update-seeds" ]; then
    update=1
    shift
else
    secs=${1:-60}
    [ $# -gt 0 ] && shift
    case "$secs" in
    '' | *[!0-9]*)
        echo "usage: tests/fuzz/run.sh [SECONDS] [wire|config|trace|storage|raft|kv]... | --update-seeds [RUNDIR...]" >&2
        exit 2
        ;;
    esac
fi
if [ "$update" = 1 ]; then
    targets="wire config trace"
else
    targets=${*:-wire config trace storage raft kv}
fi

CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz: $CC not found (Debian: apt-get install clang libclang-rt-dev)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/distlab-fuzz.XXXXXX")
if [ -n "${FUZZ_KEEP:-}" ]; then
    trap 'echo "fuzz: kept $work ${scratch:-} (FUZZ_KEEP)"' EXIT
else
    trap 'rm -rf "$work" "${scratch:-}"' EXIT
fi
trap 'exit 130' INT TERM HUP
mkdir -p "$work/obj" "$work/bin" "$work/include" "$work/seeds"
# The targets' scratch files (run directories, INI files) are written and
# removed on every input: on tmpfs when there is one, they cost no disk I/O.
scratch=$work/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ] && s=$(mktemp -d /dev/shm/dlfuzz.XXXXXX 2>/dev/null); then
    scratch=$s
fi
mkdir -p "$scratch"

# ---- build ----
echo "fuzz: building with $($CC --version | head -n 1)"
printf '#define PACKAGE_VERSION "fuzz"\n' >"$work/include/autoconfig.h"
# Static: run.sh's word splitting is what we want for these flag lists.
deps_cflags=$(pkg-config --cflags inih jansson)
deps_libs="$(pkg-config --libs inih jansson) -lrt -lm"
CFLAGS="-std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined"
CFLAGS="$CFLAGS -fno-sanitize-recover=undefined -D_GNU_SOURCE -I$work/include -I$src $deps_cflags"
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' >"$work/probe.c" ||
    ! $CC -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>"$work/probe.log"; then
    cat "$work/probe.log" >&2
    echo "fuzz: $CC cannot link libFuzzer (Debian: apt-get install libclang-rt-dev)" >&2
    exit 2
fi
export CC CFLAGS work
# Every library source (all but main), instrumented for coverage.
find ipc nodes src -name '*.c' ! -path src/main.c | sort |
    xargs -P 2 -n 1 sh -c 'o="$work/obj/$(echo "$1" | tr / _).o"
        $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$1" -o "$o" 2>>"$work/build.log" || {
            cat "$work/build.log" >&2; echo "fuzz: cannot compile $1" >&2; exit 255; }' sh
ar cr "$work/libdistlab.a" "$work"/obj/*.o
for t in $targets; do
    case "$t" in wire | config | trace | storage | raft | kv) ;; *)
        echo "fuzz: unknown target '$t' (wire, config, trace, storage, raft, kv)" >&2
        exit 2
        ;;
    esac
    $CC $CFLAGS -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" "$work/libdistlab.a" $deps_libs \
        -o "$work/bin/fuzz_$t"
done
$CC $CFLAGS tests/fuzz/seedgen.c "$work/libdistlab.a" $deps_libs -o "$work/bin/seedgen"
$CC $CFLAGS -fsanitize=fuzzer-no-link src/main.c "$work/libdistlab.a" $deps_libs \
    -o "$work/bin/distlab"

# ---- seeds made from this tree ----
export TMPDIR="$scratch"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
seeds() {
    mkdir -p "$work/seeds/wire" "$work/seeds/config" "$work/seeds/trace" "$work/seeds/storage"
    "$work/bin/seedgen" wire "$work/seeds/wire" >/dev/null
    "$work/bin/seedgen" storage "$work/seeds/storage" >/dev/null
    for f in conf/*.ini; do
        cp "$f" "$work/seeds/config/$(basename "$f")"
    done
    # Simulated runs (no processes, no queues): every algorithm, with its
    # faults, small (a large input makes every execution slow).
    for f in conf/*-crash.ini conf/default.ini; do
        b=$(basename "$f" .ini)
        fault=""
        case "$b" in *-crash) fault="--set fault.1.at=10ms" ;; esac
        if "$work/bin/distlab" sim "$f" --seed 7 --out "$work/sim-$b" --set workload.requests=2 \
            --set cluster.nodes=4 $fault >"$work/sim.log" 2>&1 &&
            [ -d "$work/sim-$b/trace" ]; then
            "$work/bin/seedgen" pack "$work/seeds/trace/sim-$b" "$work/sim-$b" >/dev/null
        else
            echo "fuzz: note: no simulated trace from $f" >&2
        fi
    done
}
seeds

if [ "$update" = 1 ]; then
    c=tests/fuzz/corpus
    mkdir -p "$c/wire" "$c/config" "$c/trace"
    cp "$work/seeds/wire"/* "$c/wire/"
    cp "$work/seeds/trace"/* "$c/trace/"
    # conf/*.ini with the overrides an experimenter would add in front.
    for f in conf/*.ini; do
        b=$(basename "$f" .ini)
        { printf '%s\n' '--set workload.requests=7' '--set cluster.nodes=4' '--seed 9'; cat "$f"; } \
            >"$c/config/$b-set"
    done
    for d in "$@"; do
        b=$(basename "$d")
        "$work/bin/seedgen" pack "$c/trace/run-$b" "$d"
        "$work/bin/seedgen" tear "$c/trace/torn-$b" "$d"
    done
    echo "fuzz: seeds written under $c"
    exit 0
fi

# ---- fuzz ----
passed=0
failed=0
for t in $targets; do
    case "$t" in
    wire) maxlen=8258 extra="" ;;
    config) maxlen=16384 extra="-dict=tests/fuzz/config.dict" ;;
    # The code under test writes its complaints to stderr: keep them out of
    # the log (sanitizer reports and broken contracts still show).
    trace) maxlen=32768 extra="-close_fd_mask=2" ;;
    storage) maxlen=16384 extra="" ;;
    raft) maxlen=16384 extra="" ;;
    kv) maxlen=16384 extra="" ;;
    esac
    mkdir -p "$work/corpus-$t" "$work/art-$t"
    status=0
    # The outer timeout catches a hang that libFuzzer's own -timeout cannot.
    timeout -k 10 $((secs + 180)) "$work/bin/fuzz_$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -max_len="$maxlen" -detect_leaks=1 -print_final_stats=1 \
        -artifact_prefix="$work/art-$t/" $extra \
        "$work/corpus-$t" $(ls -d "tests/fuzz/corpus/$t" "$work/seeds/$t" 2>/dev/null) \
        >"$work/log-$t" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log-$t" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$work/log-$t" | tail -n 1 |
        sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/')
    arts=$(ls "$work/art-$t")
    if [ "$status" -eq 0 ] && [ -z "$arts" ]; then
        echo "fuzz $t: ${secs}s, ${runs:-?} runs, $last: no finding"
        passed=$((passed + 1))
        continue
    fi
    failed=$((failed + 1))
    echo "fuzz $t: FAILED (exit $status) after ${runs:-?} runs, $last"
    echo "---- log of fuzz_$t (the end) ----"
    grep -v -E '^#[0-9]+' "$work/log-$t" | tail -n 120
    for a in $arts; do
        echo "---- $a (base64) ----"
        base64 "$work/art-$t/$a"
        if [ -n "${FUZZ_ARTIFACTS:-}" ]; then
            mkdir -p "$FUZZ_ARTIFACTS" && cp "$work/art-$t/$a" "$FUZZ_ARTIFACTS/$t-$a"
        fi
    done
    [ "$status" -eq 124 ] && echo "fuzz $t: killed by the outer timeout (a hang)"
done
echo "fuzz: $((passed + failed)) targets, $passed clean, $failed with findings"
[ "$failed" -eq 0 ]
