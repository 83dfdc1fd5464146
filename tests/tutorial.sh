#!/bin/sh
# Runs every command of docs/tutorial.md and checks what its text claims.
#
# The convention in the markdown (HTML comments are invisible when rendered):
#   ## TITLE            starts a section; each section's commands run in one
#                       shell, in a scratch directory of its own, in order, so
#                       variables (run=$(distlab run ... --quiet)) carry over.
#   ```console          a block: lines starting with "$ " are commands, the
#                       other lines the output a reader sees (not compared;
#                       "[...]" marks output left out).
#   <!-- expect: ERE -->  after a block: a line of the block's output (stdout
#                       and stderr of all its commands) matches the extended
#                       regular expression, and so does a line of the output
#                       the tutorial shows: every claim is visible.
#   <!-- reject: ERE -->  no line of the block's output matches.
#   <!-- exit: N -->    the block's last command exits N (default 0); the
#                       other commands of a block must exit 0.
#   <!-- background; ready: CMD -->  before a block of one command: the first
#                       terminal. The command runs in the background, and CMD
#                       (default `distlab status`) is tried every 0.1 s, for
#                       20 s at most, until it succeeds. The blocks that follow
#                       are the second terminal.
#                       While it is live, the commands that act on a live
#                       run (status, pid, client, kill, ...) are given its
#                       id, as if it were the only live run of the user.
#   <!-- wait -->       before a block: back in the first terminal. If the
#                       block starts with a "^C" line the background command
#                       gets SIGINT; then it is waited for (60 s at most), and
#                       the block's checks apply to its output and exit status.
#   ![ALT](img/NAME.svg)  a picture: docs/img/NAME.svg must exist and be
#                       well-formed XML (made with distlab diagram -o).
# `distlab diagram ... -o FILE` must exit 0 and write FILE; while
# `distlab diagram --help` says it is not available, those commands are
# skipped with a note.
#
# TUTORIAL_KEEP=1 keeps the scratch directory: each block's real output is
# there (bN.out), to paste when the tutorial is brought up to date.
#
# Real runs create POSIX message queues: run it alone (make check runs the
# tests one at a time).

# DISTLAB_SKIP_TUTORIAL=1 skips it (the sanitizer pass: the text is checked
# once, by the normal build).
if [ "${DISTLAB_SKIP_TUTORIAL:-0}" = 1 ]; then
    echo "SKIP: DISTLAB_SKIP_TUTORIAL=1"
    exit 77
fi

src="${DISTLAB_SRCDIR:-$(dirname "$0")/..}"
src=$(cd "$src" && pwd)
bin="${DISTLAB:-$src/distlab}"
case $bin in /*) ;; *) bin="$(pwd)/$bin" ;; esac
doc="$src/docs/tutorial.md"
section_timeout=${TUTORIAL_SECTION_TIMEOUT:-120}

if [ ! -x "$bin" ]; then
    echo "FAIL: no distlab program at $bin (build it first)"
    exit 1
fi
if [ ! -f "$doc" ]; then
    echo "FAIL: $doc is missing"
    exit 1
fi

# Every picture the page shows, ](img/NAME.svg), is in docs/img and is
# well-formed: checked with xmllint when it is installed, or else at least
# an XML declaration first and the closing </svg>.
images=$(grep -o '](img/[^)]*\.svg)' "$doc" | sed 's/^](//; s/)$//' | sort -u)
for img in $images; do
    f="$src/docs/$img"
    if [ ! -s "$f" ]; then
        echo "FAIL: docs/tutorial.md shows docs/$img, which is missing"
        exit 1
    fi
    if command -v xmllint >/dev/null 2>&1; then
        if ! xmllint --noout "$f" 2>/dev/null; then
            echo "FAIL: docs/$img is not well-formed XML (xmllint --noout docs/$img)"
            exit 1
        fi
    elif ! head -c 5 "$f" | grep -q '^<?xml' || ! grep -q '</svg>' "$f"; then
        echo "FAIL: docs/$img is not a complete SVG (no <?xml first, or no </svg>)"
        exit 1
    fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/distlab-tutorial.XXXXXX") || exit 1
cleanup() {
    if [ -f "$T/bgpids" ]; then
        while read -r p; do kill -KILL "$p" 2>/dev/null; done < "$T/bgpids"
    fi
    if [ -n "$TUTORIAL_KEEP" ]; then
        echo "kept: $T (bN.out: the output of block N; secN.sh: section N as run)"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir "$T/bin"
ln -s "$bin" "$T/bin/distlab"
PATH="$T/bin:$PATH"
export PATH

if distlab diagram --help 2>&1 | grep -q 'not available'; then
    diagram=no
else
    diagram=yes
fi

# The helpers every generated section script uses.
cat > "$T/lib.sh" <<'EOF'
_n=0
_fail() {
    echo "FAIL: docs/tutorial.md, section \"$(cat "$_T/sec$_S.title")\":"
    if [ -n "$_B" ]; then
        sed 's/^/    $ /' "$_T/b$_B.cmds"
    fi
    echo "  $*"
    if [ -n "$_out" ] && [ -s "$_out" ]; then
        echo "  its output (first 60 lines):"
        head -n 60 "$_out" | sed 's/^/    | /'
    fi
    exit 1
}
_block() {
    _B=$1
    _out="$_T/b$1.out"
    : > "$_out"
    _status=0
}
_rc() {
    # _rc BLOCK CMD STATUS LAST
    _n=$((_n + 1))
    if [ "$4" = last ]; then
        _status=$3
    elif [ "$3" -ne 0 ]; then
        _fail "command $2 of the block exited $3 (only a block's last command may fail)"
    fi
}
_exists() {
    [ -s "$1" ] || _fail "it did not write $1"
}
_skip() {
    _status=0
    echo "note: skipped (distlab diagram is not available in this version): \$ $(sed -n "${2}p" "$_T/b$1.cmds")" >> "$_T/notes"
}
_checks() {
    _want=0
    if [ -f "$_T/b$1.checks" ]; then
        while read -r _kind _arg; do
            case $_kind in
            exit) _want=$_arg ;;
            expect)
                grep -Eq -f "$_arg" "$_out" ||
                    _fail "no line of its output matches the claim /$(cat "$_arg")/"
                grep -Eq -f "$_arg" "$_T/b$1.shown" ||
                    _fail "the claim /$(cat "$_arg")/ is not in the output the tutorial shows"
                _c=$((_c + 1)) ;;
            reject)
                if grep -Eq -f "$_arg" "$_out"; then
                    _fail "a line of its output matches /$(cat "$_arg")/, which it must not"
                fi
                _c=$((_c + 1)) ;;
            esac
        done < "$_T/b$1.checks"
    fi
    [ "$_status" -eq "$_want" ] || _fail "exit status $_status, the tutorial says $_want"
}
_bgstart() {
    [ -z "$_bgpid" ] || _fail "a background command is already running"
    _block "$1"
    _bgout=$_out
    _tries=0
    _runid=
}
_bgrun() {
    # The run's id, from the line a run prints first on stderr.
    _runid=$(sed -n 's/^distlab: run \([0-9a-f]\{8\}\): .*/\1/p' "$_bgout" | head -n 1)
    [ -n "$_runid" ] || return 1
    # Until it ends, the commands that act on a live run are given its id:
    # another run of the same user (a test beside this one) would otherwise
    # make a bare `distlab client ...` ambiguous, and it would refuse. (Not
    # defined before: the background command itself must be the program, so
    # that it gets the signal that ^C stands for.)
    distlab() {
        case $1 in
        status | pid | kill | pause | resume | terminate | restart | partition | heal | net | client)
            _dl=$1
            shift
            command distlab "$_dl" "$_runid" "$@"
            ;;
        *) command distlab "$@" ;;
        esac
    }
}
_tick() {
    kill -0 "$_bgpid" 2>/dev/null ||
        _fail "the background command ended before it was ready"
    _tries=$((_tries + 1))
    [ "$_tries" -le 200 ] ||
        _fail "not ready after 20 s: \`$(cat "$_T/b$_B.ready")\` kept failing"
    sleep 0.1
}
_bgwait() {
    [ -n "$_bgpid" ] || _fail "no background command to wait for"
    _B=$1
    _out=$_bgout
    [ "$2" = int ] && kill -INT "$_bgpid" 2>/dev/null
    _tries=0
    while kill -0 "$_bgpid" 2>/dev/null; do
        _tries=$((_tries + 1))
        if [ "$_tries" -gt 600 ]; then
            kill -KILL "$_bgpid" 2>/dev/null
            _fail "the background command did not end within 60 s"
        fi
        sleep 0.1
    done
    wait "$_bgpid"
    _status=$?
    _bgpid=
    _runid=
    unset -f distlab
}
_end() {
    if [ -n "$_bgpid" ]; then
        kill -KILL "$_bgpid" 2>/dev/null
        _B=
        _fail "a background command was still running at the end of the section (no <!-- wait --> block)"
    fi
    echo "$_n $_c" > "$_T/sec$_S.counts"
}
EOF

# Split the tutorial into one shell script per section.
if ! awk -v T="$T" -v diagram="$diagram" '
function err(msg) {
    printf "FAIL: docs/tutorial.md line %d: %s\n", NR, msg > "/dev/stderr"
    bad = 1
    exit 1
}
function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
/^## / && !inblock {
    s++
    title[s] = substr($0, 4)
    print title[s] > (T "/sec" s ".title"); close(T "/sec" s ".title")
    next
}
/^```console[ \t]*$/ && !inblock {
    if (s == 0) err("a console block before the first section")
    inblock = 1
    b++
    bsec[b] = s
    bmode[b] = pend
    bready[b] = pready
    pend = ""
    nb[s]++
    blocks[s, nb[s]] = b
    printf "" > (T "/b" b ".shown")
    printf "" > (T "/b" b ".cmds")
    next
}
inblock && /^```[ \t]*$/ {
    inblock = 0
    close(T "/b" b ".shown"); close(T "/b" b ".cmds")
    if (bmode[b] == "bg" && nc[b] != 1) err("a background block holds exactly one command")
    if (bmode[b] != "wait" && nc[b] == 0) err("a console block without a command")
    if (bmode[b] == "wait" && nc[b] != 0) err("a <!-- wait --> block shows output only (and ^C)")
    next
}
inblock {
    if (substr($0, 1, 2) == "$ ") {
        nc[b]++
        cmd[b, nc[b]] = substr($0, 3)
        print substr($0, 3) > (T "/b" b ".cmds")
    } else {
        print > (T "/b" b ".shown")
        if (bmode[b] == "wait" && $0 == "^C" && nshown[b] == 0) intr[b] = 1
        nshown[b]++
    }
    next
}
/^<!-- background(; ready: .*)? -->[ \t]*$/ {
    pend = "bg"
    pready = "distlab status"
    if (match($0, /ready: .* -->/)) {
        pready = substr($0, RSTART + 7, RLENGTH - 11)
        sub(/[ \t]+$/, "", pready)
    }
    next
}
/^<!-- wait -->[ \t]*$/ { pend = "wait"; next }
/^<!-- (expect|reject): .* -->[ \t]*$/ {
    if (b == 0 || bsec[b] != s) err("a claim before any console block of its section")
    kind = ($0 ~ /^<!-- expect/) ? "expect" : "reject"
    re = $0
    sub(/^<!-- (expect|reject): /, "", re)
    sub(/ -->[ \t]*$/, "", re)
    nk[b]++
    f = T "/b" b ".re" nk[b]
    print re > f; close(f)
    print kind, f > (T "/b" b ".checks")
    next
}
/^<!-- exit: [0-9]+ -->[ \t]*$/ {
    if (b == 0 || bsec[b] != s) err("an exit claim before any console block of its section")
    n = $0
    gsub(/[^0-9]/, "", n)
    print "exit", n > (T "/b" b ".checks")
    next
}
/^<!-- *(expect|reject|exit|background|wait)/ { err("a test comment the test does not understand: " $0) }
END {
    if (bad) exit 1
    if (inblock) err("an unterminated console block")
    if (pend != "") err("a <!-- background --> or <!-- wait --> comment without its block")
    for (i = 1; i <= s; i++) {
        f = T "/sec" i ".sh"
        print "_T=" q(T) "; _S=" i "; _c=0; _bgpid=" > f
        print ". \"$_T/lib.sh\"" > f
        print "mkdir \"$_T/s" i "\" && cd \"$_T/s" i "\" && ln -s \"$DISTLAB_SRC/conf\" conf || exit 1" > f
        for (j = 1; j <= nb[i]; j++) {
            k = blocks[i, j]
            close(T "/b" k ".checks")
            if (bmode[k] == "bg") {
                print bready[k] > (T "/b" k ".ready"); close(T "/b" k ".ready")
                print "_bgstart " k > f
                print cmd[k, 1] " >\"$_bgout\" 2>&1 &" > f
                print "_bgpid=$!; echo \"$_bgpid\" >> \"$_T/bgpids\"" > f
                print "until _bgrun; do _tick; done" > f
                print "until { " bready[k] > f
                print "} >/dev/null 2>&1; do _tick; done" > f
                continue
            }
            if (bmode[k] == "wait") {
                print "_bgwait " k (intr[k] ? " int" : "") > f
                print "_checks " k > f
                continue
            }
            print "_block " k > f
            for (c = 1; c <= nc[k]; c++) {
                last = (c == nc[k]) ? "last" : "more"
                if (cmd[k, c] ~ /^distlab diagram /) {
                    out = ""
                    if (match(cmd[k, c], /-o [^ ]+/))
                        out = substr(cmd[k, c], RSTART + 3, RLENGTH - 3)
                    if (diagram == "no") {
                        print "_skip " k " " c > f
                        continue
                    }
                    print "{ " cmd[k, c] > f
                    print "} >>\"$_out\" 2>&1; _rc " k " " c " $? " last > f
                    if (out != "") print "_exists " out > f
                    continue
                }
                print "{ " cmd[k, c] > f
                print "} >>\"$_out\" 2>&1; _rc " k " " c " $? " last > f
            }
            print "_checks " k > f
        }
        print "_end" > f
        close(f)
    }
    print s > (T "/nsections")
}
' "$doc"; then
    exit 1
fi

DISTLAB_SRC=$src
export DISTLAB_SRC
nsec=$(cat "$T/nsections")
failed=0
commands=0
claims=0
start=$(date +%s)
i=1
while [ "$i" -le "$nsec" ]; do
    t0=$(date +%s)
    timeout -k 5 "$section_timeout" sh "$T/sec$i.sh"
    rc=$?
    t1=$(date +%s)
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "FAIL: docs/tutorial.md, section \"$(cat "$T/sec$i.title")\": timed out after ${section_timeout} s"
    fi
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + 1))
    else
        read -r n c < "$T/sec$i.counts"
        commands=$((commands + n))
        claims=$((claims + c))
        echo "ok: $(cat "$T/sec$i.title") ($n commands, $c claims, $((t1 - t0)) s)"
    fi
    i=$((i + 1))
done
[ -f "$T/notes" ] && cat "$T/notes"
if [ "$failed" -ne 0 ]; then
    echo "FAIL: $failed of $nsec tutorial sections"
    exit 1
fi
echo "PASS: $nsec tutorial sections, $commands commands, $claims claims checked, $(echo $images | wc -w) images, in $(($(date +%s) - start)) s"
