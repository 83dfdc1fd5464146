#!/bin/sh
# The live progress line of `distlab run`: drawn on stderr when it is a
# terminal (here a pseudo-terminal from script(1)), rewritten in place with
# carriage returns, cleared before anything else is printed; never drawn
# into a file or a pipe, with --quiet or with --json.
#
# Real runs (they need the POSIX message queues and /dev/shm of `distlab
# run`), a few seconds in all.
set -u

if ! command -v script >/dev/null 2>&1; then
    echo "SKIP: script(1) (util-linux) is not installed"
    exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
src="${DISTLAB_SRCDIR:-$here/..}"
dl="${DISTLAB:-$here/../distlab}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/progress.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
cr=$(printf '\r')
fails=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# Run a command line under a pseudo-terminal; its terminal output (stdout
# and stderr, with the terminal's \r\n line ends) goes to the file $1.
under_pty() {
    out=$1
    shift
    script -qfec "$*" /dev/null </dev/null >"$out" 2>&1
}

# What the terminal shows at the end: each line's last carriage-return
# segment (a line rewritten in place shows only what was written last).
final_screen() {
    sed "s/$cr\$//" "$1" | awk -F"$cr" '{ print $NF }'
}

# Lines rewritten in place: a carriage return that does not end a line.
rewrites() {
    sed "s/$cr\$//" "$1" | grep -c "$cr"
}

# 1. A Raft run on a terminal: the leader is killed at 800 ms.
under_pty "$tmp/raft.ts" "'$dl' run '$src/conf/raft-5.ini' --out '$tmp/raft'" \
    "--set cluster.duration=1500ms --set fault.1.at=800ms"
code=$?
[ "$code" -eq 0 ] || fail "the Raft run exited $code"
tr '\r' '\n' <"$tmp/raft.ts" >"$tmp/raft.lines"
lines=$(grep -cE '^[0-9]+\.[0-9]s/1\.5s \| commits [0-9]+' "$tmp/raft.lines")
[ "$lines" -ge 3 ] || fail "$lines progress lines with elapsed/duration and commits (at least 3)"
grep -qE '\| commits [0-9]+, [0-9]+/s \|' "$tmp/raft.lines" || fail "no commit rate shown"
grep -qE '\| leader [1-5] \(term [0-9]+\) \|' "$tmp/raft.lines" || fail "no leader shown"
grep -qE '\| faults 1 \(kill [1-5]\)$' "$tmp/raft.lines" || fail "the kill is not shown"
grep -qE '\| faults 0$' "$tmp/raft.lines" || fail "no line before the fault"
[ "$(rewrites "$tmp/raft.ts")" -ge 1 ] || fail "the line is not rewritten in place"
final_screen "$tmp/raft.ts" >"$tmp/raft.screen"
progress='\| faults [0-9]+|^starting [0-9.]+s \||[0-9]\.[0-9]s/[0-9.]+s \|'
if grep -qE "$progress" "$tmp/raft.screen"; then
    fail "a progress line was left on the screen:"
    grep -E "$progress" "$tmp/raft.screen"
fi
# The report as shown is the report of the run, line for line, after the
# supervisor's own messages (each on a line of its own).
grep -q '^distlab: run [0-9a-f]\{8\}: 5 nodes and 2 clients, raft' "$tmp/raft.screen" ||
    fail "the run's first line is not intact"
grep -q '^distlab: node [1-5] (pid [0-9]*) was killed by SIGKILL$' "$tmp/raft.screen" ||
    fail "the crash message is not intact"
"$dl" report "$tmp/raft" >"$tmp/raft.report" || fail "distlab report failed"
echo "run directory: $tmp/raft" >>"$tmp/raft.report"
sed -n '/^raft-5: raft, 5 nodes/,/^run directory:/p' "$tmp/raft.screen" >"$tmp/raft.shown"
if ! cmp -s "$tmp/raft.report" "$tmp/raft.shown"; then
    fail "the report shown differs from the run's report:"
    diff "$tmp/raft.report" "$tmp/raft.shown" | head -20
fi

# 2. stdout on the terminal, stderr into a file: no line anywhere.
ring="'$src/conf/token-ring.ini'"
under_pty "$tmp/file.ts" "'$dl' run $ring --out '$tmp/file' 2>'$tmp/file.err'"
code=$?
[ "$code" -eq 0 ] || fail "the run with stderr in a file exited $code"
grep -q '^distlab: run [0-9a-f]\{8\}: 5 nodes, token_ring' "$tmp/file.err" ||
    fail "stderr lacks the run's first line"
if grep -q "$cr" "$tmp/file.err"; then
    fail "a carriage return in stderr written to a file"
fi
if grep -qE "$progress" "$tmp/file.err" "$tmp/file.ts"; then
    fail "a progress line with stderr in a file"
fi
[ "$(rewrites "$tmp/file.ts")" -eq 0 ] || fail "a line rewritten with stderr in a file"
grep -q "^run directory: $tmp/file" "$tmp/file.ts" || fail "no report on stdout"

# 3. --quiet on the terminal: the run directory and nothing else.
under_pty "$tmp/quiet.ts" "'$dl' run $ring --out '$tmp/quiet' --quiet"
code=$?
[ "$code" -eq 0 ] || fail "the --quiet run exited $code"
[ "$(rewrites "$tmp/quiet.ts")" -eq 0 ] || fail "a line rewritten with --quiet"
if [ "$(final_screen "$tmp/quiet.ts")" != "$tmp/quiet" ]; then
    fail "--quiet printed more than the run directory:"
    cat -A "$tmp/quiet.ts" | head -5
fi

# 4. --json with stderr on the terminal: no line there, and stdout is JSON.
under_pty "$tmp/json.ts" "'$dl' run $ring --out '$tmp/json' --json >'$tmp/json.out'"
code=$?
[ "$code" -eq 0 ] || fail "the --json run exited $code"
[ "$(rewrites "$tmp/json.ts")" -eq 0 ] || fail "a line rewritten with --json"
if [ -s "$tmp/json.ts" ]; then
    fail "--json wrote to the terminal:"
    cat -A "$tmp/json.ts" | head -5
fi
if grep -q "$cr" "$tmp/json.out"; then
    fail "a carriage return in the JSON output"
fi
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/json.out" ||
        fail "stdout of --json is not valid JSON"
elif command -v jq >/dev/null 2>&1; then
    jq -e . "$tmp/json.out" >/dev/null || fail "stdout of --json is not valid JSON"
else
    echo "note: neither python3 nor jq: the JSON is not parsed"
fi
grep -q '"run_dir"' "$tmp/json.out" || fail "the JSON report has no run_dir"

if [ "$fails" -ne 0 ]; then
    echo "FAIL: $fails check(s) of the progress line failed (files in $tmp kept)"
    trap - EXIT INT TERM
    exit 1
fi
echo "PASS: the progress line is drawn on a terminal only, and cleared"
