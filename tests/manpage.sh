#!/bin/sh
# The manual page (docs/distlab.1) and the program agree, judged by what the
# program itself prints, so that a command, an option or a configuration
# key added to one and not to the other fails here:
#  - every command that `distlab --help` lists has a subsection in COMMANDS
#    (.SS naming it), and every subsection names a command the program has;
#  - every option (--long, or -x standing alone) in `distlab COMMAND --help`
#    appears in that subsection, and every option in the subsection is in
#    `distlab COMMAND --help`;
#  - the SYNOPSIS lines of each command are its usage line(s);
#  - every key of the resolved configuration (config.ini, which the program
#    writes with every key, and the fault keys of src/config.c) is a .TP tag
#    under its [section] in CONFIGURATION, and no tag there names a key the
#    program does not have;
#  - every environment variable the program reads is in ENVIRONMENT;
#  - the page renders without a warning (groff -ww; mandoc -Tlint too when
#    it is installed).
# A command that the program knows but calls "not available in this
# version" is documented ahead of it: only a note. So is an option marked
#   .\" pending: COMMAND --OPTION...
# in the page, until the program's help has it (then the mark is stale).
src="${DISTLAB_SRCDIR:-$(dirname "$0")/..}"
bin="${DISTLAB:-$src/distlab}"
page="$src/docs/distlab.1"
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/manpage.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

bad() {
    echo "FAIL: $*"
    fail=1
}
note() { echo "NOTE: $*"; }

[ -r "$page" ] || { echo "FAIL: no manual page at $page"; exit 1; }
[ -x "$bin" ] || { echo "FAIL: no program at $bin (set DISTLAB)"; exit 1; }

# The page as text: font changes dropped, escapes for characters replaced.
sed -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" \
    -e 's/\\(dq/"/g' -e 's/\\(lq/"/g' -e 's/\\(rq/"/g' -e 's/\\(e[nm]/-/g' \
    -e 's/\\(mu/x/g' -e 's/\\&//g' -e 's/\\ / /g' -e 's/\\e/\\/g' "$page" >"$tmp/page"

# Split it: the SYNOPSIS lines (without "distlab "), one file per command of
# COMMANDS (a subsection may name several: "kill, pause, resume"), the
# [section] key tags of CONFIGURATION, and the tags of ENVIRONMENT.
mkdir "$tmp/cmd"
awk -v dir="$tmp" '
function unquote(s) { gsub(/"/, "", s); return s }
/^\.SH / { sh = unquote(substr($0, 5)); ss = ""; tag = 0; next }
/^\.SS / {
    ss = unquote(substr($0, 5)); tag = 0
    if (sh == "COMMANDS") {
        n = split(ss, w, /[ ,]+/)
        for (i = 1; i <= n; i++)
            if (w[i] != "" && w[i] != "distlab") {
                print w[i] > (dir "/man-commands")
                close(dir "/cmd/" w[i])
            }
    }
    if (sh == "CONFIGURATION") {
        if (ss ~ /^\[.*\]$/) {
            sec = substr(ss, 2, length(ss) - 2)
            sub(/\.N$/, "", sec)
            print sec > (dir "/man-sections")
        } else
            sec = ""
    }
    next
}
/^\.(TP|TQ)/ { tag = 1; next }
tag && /^\./ && !/^\.(B|I|BI|IB|BR|RB|IR|RI) / { tag = 0 }
tag {
    t = $0
    sub(/^\.[A-Z]+ /, "", t)
    t = unquote(t)
    split(t, w, /[ =]+/)
    if (sh == "CONFIGURATION" && sec != "")
        print sec, w[1] > (dir "/man-keys")
    if (sh == "ENVIRONMENT")
        print w[1] > (dir "/man-env")
    tag = 0
}
sh == "SYNOPSIS" && /^distlab / {
    s = substr($0, 9); gsub(/[ \t]+/, " ", s); sub(/ $/, "", s)
    print s > (dir "/synopsis")
}
sh == "COMMANDS" && ss != "" {
    n = split(ss, w, /[ ,]+/)
    for (i = 1; i <= n; i++)
        if (w[i] != "" && w[i] != "distlab")
            print >> (dir "/cmd/" w[i])
}
' "$tmp/page"
touch "$tmp/man-commands" "$tmp/man-sections" "$tmp/man-keys" "$tmp/man-env" "$tmp/synopsis"

# Options marked as documented ahead of the program: "COMMAND --OPTION".
sed -n 's/^\.\\" pending: *//p' "$page" |
    awk '{ for (i = 2; i <= NF; i++) print $1, $i }' >"$tmp/pending"

# The options in a text: --long ones, and short ones such as -o standing alone.
options() {
    sed 's/--[a-z][a-z0-9-]*/\n&\n/g' |
        grep -oE -- '^--[a-z][a-z0-9-]*$|(^|[^-[:alnum:]])-[a-zA-Z]([^-[:alnum:]]|$)' |
        sed -E 's/^[^-]?(-[-a-zA-Z0-9]*).*/\1/' | grep -vx -e '--help' -e '-h' | sort -u
}

# ---- commands ----
"$bin" --help >"$tmp/help" 2>&1 || bad "distlab --help exited $?"
awk '/^  [a-z][a-z-]* / { print $1 }' "$tmp/help" >"$tmp/commands"
[ -s "$tmp/commands" ] || bad "distlab --help lists no commands (the test reads lines '  NAME  summary')"
ncmd=0
for c in $(cat "$tmp/commands"); do
    ncmd=$((ncmd + 1))
    if [ ! -f "$tmp/cmd/$c" ]; then
        bad "distlab --help lists '$c'; COMMANDS in $page has no subsection (.SS) for it"
        continue
    fi
    "$bin" "$c" --help >"$tmp/h.$c" 2>&1 || bad "distlab $c --help exited $?"
    options <"$tmp/h.$c" >"$tmp/ho.$c"
    options <"$tmp/cmd/$c" >"$tmp/mo.$c"
    for o in $(comm -23 "$tmp/ho.$c" "$tmp/mo.$c"); do
        bad "distlab $c --help has $o; the man page's subsection for $c does not mention it"
    done
    for o in $(comm -13 "$tmp/ho.$c" "$tmp/mo.$c"); do
        if grep -qx -- "$c $o" "$tmp/pending"; then
            note "$c $o is documented ahead of the program (marked pending)"
        else
            bad "the man page's subsection for $c names $o; distlab $c --help does not have it"
        fi
    done
    for o in $(awk -v c="$c" '$1 == c { print $2 }' "$tmp/pending"); do
        if grep -qx -- "$o" "$tmp/ho.$c"; then
            note "the pending mark for $c $o is stale: distlab $c --help has it now"
        fi
    done

    # The usage: its first line, and any "distlab COMMAND ..." line after it.
    awk -v c="$c" '
    function norm(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
    NR == 1 && index($0, "usage: distlab " c) == 1 { print norm(substr($0, 16)); next }
    NR > 1 && $0 ~ "^[ \t]*(or: )?distlab " c "( |$)" { sub(/^[ \t]*(or: )?distlab /, ""); print norm($0) }
    ' "$tmp/h.$c" | sort >"$tmp/u.$c"
    awk -v c="$c" '$1 == c' "$tmp/synopsis" >"$tmp/p.$c"
    sort "$tmp/p.$c" >"$tmp/s.$c"
    if [ ! -s "$tmp/u.$c" ]; then
        bad "distlab $c --help does not start with 'usage: distlab $c'"
    elif [ ! -s "$tmp/s.$c" ]; then
        bad "SYNOPSIS in $page has no line for $c; distlab $c --help says: distlab $(head -1 "$tmp/u.$c")"
    elif ! cmp -s "$tmp/u.$c" "$tmp/s.$c"; then
        # One usage line may join the page's lines, in their order, with " | ".
        joined=$(awk -v c="$c" '{ sub("^" c " ", ""); s = s (NR > 1 ? " | " : "") $0 }
                                END { print c " " s }' "$tmp/p.$c")
        if [ "$(wc -l <"$tmp/u.$c")" -eq 1 ] && [ "$(cat "$tmp/u.$c")" = "$joined" ]; then
            :
        elif grep -q "^$c " "$tmp/pending" && [ -z "$(comm -23 "$tmp/u.$c" "$tmp/s.$c")" ]; then
            note "SYNOPSIS has lines for $c that its usage does not print yet (pending): $(comm -13 "$tmp/u.$c" "$tmp/s.$c" | tr '\n' ';')"
        else
            bad "the SYNOPSIS of $c differs from its usage:"
            sed 's/^/      usage:    distlab /' "$tmp/u.$c"
            sed 's/^/      man page: distlab /' "$tmp/s.$c"
        fi
    fi
done

# Commands of the page (subsections and synopsis lines) the program does not list.
{ cat "$tmp/man-commands"; awk '$1 !~ /^-/ { print $1 }' "$tmp/synopsis"; } | sort -u >"$tmp/mc"
for c in $(comm -23 "$tmp/mc" "$(sort "$tmp/commands" >"$tmp/cs"; echo "$tmp/cs")"); do
    out=$("$bin" "$c" --help 2>&1)
    case "$out" in
    *"not available in this version"*)
        note "$c is documented ahead of the program (distlab $c: not available in this version)" ;;
    *"unknown command"*)
        bad "the man page documents '$c', which distlab does not have (distlab --help does not list it)" ;;
    *)
        bad "the man page documents '$c', which distlab --help does not list" ;;
    esac
done

# ---- configuration keys ----
# Every key of every named section: the resolved config.ini of a run that
# the simulator writes. One fault sets every fault key, so it lists them too.
cat >"$tmp/all.ini" <<'EOF'
[cluster]
nodes = 2
duration = 1ms
[workload]
requests = 0
[fault.1]
at = 0ms
action = net
target = all
every = 1ms
count = 1
for = 1us
loss = 0
delay = 0ms
jitter = 0ms
EOF
if "$bin" sim "$tmp/all.ini" --seed 1 --out "$tmp/run" >"$tmp/sim.out" 2>&1 &&
    [ -s "$tmp/run/config.ini" ]; then
    awk '/^\[/ { s = $0; gsub(/[][]/, "", s); sub(/\.[0-9]+$/, "", s); print s > (dir "/sections"); next }
         /^[a-z_]+ = / { print s, $1 }' dir="$tmp" "$tmp/run/config.ini" >"$tmp/keys"
else
    bad "distlab sim could not write the resolved configuration to list the keys:"
    sed 's/^/      /' "$tmp/sim.out"
fi
# And what src/config.c declares, should a key be missing from that file
# (a fault key that config.ini writes only when set).
awk '
/section_names\[\] = \{/ { names = 1 }
names { s = $0; while (match(s, /\[SEC_[A-Z_]+\] = "[a-z_]+"/)) {
            p = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
            split(p, q, /[][" ]+/); sec[q[2]] = q[4] } }
names && /\};/ { names = 0 }
/^[ \t]*X\([A-Z_]+, SEC_[A-Z_]+, "[a-z_]+"/ {
    split($0, q, /[(,"]/); s = q[3]; gsub(/ /, "", s); print (s in sec ? sec[s] : s), q[5] }
/fault_key_names\[/ { fk = 1 }
fk { s = $0; while (match(s, /"[a-z_]+"/)) { print "fault", substr(s, RSTART + 1, RLENGTH - 2);
                                              s = substr(s, RSTART + RLENGTH) } }
fk && /;/ { fk = 0 }
' "$src/src/config.c" >"$tmp/srckeys"
grep -q '^fault ' "$tmp/srckeys" || note "no fault keys found in src/config.c (fault_key_names): the test reads them from config.ini only"
sort -u "$tmp/keys" "$tmp/srckeys" >"$tmp/allkeys"
awk '{ print $1 }' "$tmp/allkeys" | sort -u >"$tmp/allsections"
sort -u "$tmp/man-keys" >"$tmp/mk"
comm -23 "$tmp/allkeys" "$tmp/mk" | while read -r s k; do
    echo "FAIL: configuration key [$s] $k is not in CONFIGURATION under [$s] (a .TP tag '$k = ...')"
done | tee "$tmp/missing"
[ -s "$tmp/missing" ] && fail=1
comm -13 "$tmp/allkeys" "$tmp/mk" | while read -r s k; do
    echo "FAIL: CONFIGURATION documents [$s] $k, which the program does not have"
done | tee "$tmp/extra"
[ -s "$tmp/extra" ] && fail=1
for s in $(comm -23 "$tmp/allsections" "$(sort -u "$tmp/man-sections" >"$tmp/ms"; echo "$tmp/ms")"); do
    bad "section [$s] has no subsection in CONFIGURATION (.SS \"[$s]\"; \"[fault.N]\" for fault)"
done
for s in $(comm -13 "$tmp/allsections" "$tmp/ms"); do
    bad "CONFIGURATION has a subsection [$s], which is not a section of the program"
done

# ---- environment ----
grep -ho 'getenv("[A-Za-z0-9_]*")' "$src"/src/*.c "$src"/ipc/*.c "$src"/nodes/*.c |
    sed 's/getenv("\(.*\)")/\1/' | sort -u >"$tmp/env"
sort -u "$tmp/man-env" >"$tmp/me"
for v in $(comm -23 "$tmp/env" "$tmp/me"); do
    bad "the program reads \$$v; ENVIRONMENT in the man page does not describe it"
done
for v in $(comm -13 "$tmp/env" "$tmp/me"); do
    bad "ENVIRONMENT describes \$$v, which the program does not read"
done

# ---- rendering ----
if command -v groff >/dev/null 2>&1; then
    LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" >"$tmp/groff" 2>&1
    if [ -s "$tmp/groff" ]; then
        bad "groff -man -ww warns about $page:"
        sed 's/^/      /' "$tmp/groff"
    fi
else
    note "groff is not installed (Debian: groff-base): rendering not checked"
fi
if command -v mandoc >/dev/null 2>&1; then
    mandoc -Tlint -W warning "$page" >"$tmp/mandoc" 2>&1
    if [ -s "$tmp/mandoc" ]; then
        bad "mandoc -Tlint warns about $page:"
        sed 's/^/      /' "$tmp/mandoc"
    fi
fi

if [ "$fail" -ne 0 ]; then
    echo "FAIL: $page and the program disagree (above)"
    exit 1
fi
echo "PASS: $ncmd commands, $(wc -l <"$tmp/allkeys") configuration keys and $(wc -l <"$tmp/env") environment variables agree with $page"
