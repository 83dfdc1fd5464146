#!/bin/sh
# The HTML diagram in a real headless browser: it loads with no console
# error, its script runs to the end (and its zoom works: the page's
# #selftest), and it draws something (a screenshot that is not blank).
#
# Needs chromium (skipped, exit 77, without it) and python3 to decode the
# screenshot (skipped without it too). CHROMIUM names another binary.
# DISTLAB_REQUIRE_BROWSER=1 (CI sets it) turns a skip into a failure;
# DISTLAB_SKIP_BROWSER=1 skips on purpose (the sanitizer pass: the page is
# the same, only slower to make).
set -u
src="${DISTLAB_SRCDIR:-$(dirname "$0")/..}"
distlab="${DISTLAB:-./distlab}"
chromium="${CHROMIUM:-chromium}"

skip() {
    if [ "${DISTLAB_REQUIRE_BROWSER:-0}" = 1 ]; then
        echo "FAIL: $* (DISTLAB_REQUIRE_BROWSER=1)"
        exit 1
    fi
    echo "SKIP: $*"
    exit 77
}
if [ "${DISTLAB_SKIP_BROWSER:-0}" = 1 ]; then
    echo "SKIP: DISTLAB_SKIP_BROWSER=1"
    exit 77
fi
if ! command -v "$chromium" >/dev/null 2>&1; then
    skip "$chromium is not installed (apt-get install chromium)"
fi
if ! command -v python3 >/dev/null 2>&1; then
    skip "python3 is not installed (it decodes the screenshot)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/distlab-browser.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() {
    echo "FAIL: $*"
    exit 1
}

# A run with every kind of lane: Raft's split vote, 4 nodes and a client,
# a network fault, roles and terms, client operations.
"$distlab" sim "$src/conf/raft-4-split-vote.ini" --seed 1660 --out "$tmp/run" >/dev/null ||
    fail "distlab sim"
"$distlab" diagram "$tmp/run" -o "$tmp/d.html" --to 1.5s >/dev/null 2>"$tmp/diagram.err" ||
    fail "distlab diagram: $(cat "$tmp/diagram.err")"

# Headless chromium, with its own profile in $tmp and the page's console
# copied to stderr (chromium logs each message as a CONSOLE line).
browse() {
    timeout 30 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 \
        --window-size=1200,800 "$@" 2>>"$tmp/chromium.err"
}

# 1. The DOM once the page has loaded: the script's last line ran
# (data-ready), the zoom self-test passed, and neither the page's error
# hooks nor the browser's console saw an error.
: >"$tmp/chromium.err"
browse --dump-dom "file://$tmp/d.html#selftest" >"$tmp/dom.html" || fail "chromium --dump-dom"
grep -q 'data-ready="1"' "$tmp/dom.html" || fail "the page's script did not run to its end"
grep -q 'data-selftest="ok"' "$tmp/dom.html" || fail "zoom self-test: $(grep -A3 'id="errors"' "$tmp/dom.html")"
grep -q '<pre id="errors" hidden=""></pre>' "$tmp/dom.html" ||
    fail "errors on the page: $(grep -A5 'id="errors"' "$tmp/dom.html")"
if grep -q ':CONSOLE' "$tmp/chromium.err"; then
    fail "console messages: $(grep ':CONSOLE' "$tmp/chromium.err")"
fi
grep -q '<g class="msg' "$tmp/dom.html" || fail "no arrow in the DOM"

# The check above can fail: the same page with a broken script must be
# caught both by the page's hooks and by the console log.
sed 's#</body>#<script>noSuchFunction();</script></body>#' "$tmp/d.html" >"$tmp/bad.html"
: >"$tmp/chromium.err"
browse --dump-dom "file://$tmp/bad.html" >"$tmp/bad-dom.html" || fail "chromium --dump-dom (bad)"
grep -q 'noSuchFunction' "$tmp/bad-dom.html" || fail "the error hook missed a broken script"
grep -q ':CONSOLE' "$tmp/chromium.err" || fail "the console log missed a broken script"

# 2. A screenshot: decoded here (PNG, 8-bit RGB or RGBA), it must hold many
# colours and a fair number of saturated pixels (arrows, role colours): a
# blank page, or one with text alone, has neither.
browse --screenshot="$tmp/shot.png" "file://$tmp/d.html" >/dev/null || fail "chromium --screenshot"
[ -s "$tmp/shot.png" ] || fail "no screenshot written"
python3 - "$tmp/shot.png" <<'EOF' || fail "the screenshot looks blank"
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat, w = 8, b'', 0
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
        assert depth == 8 and ctype in (2, 6), 'unexpected PNG format %d/%d' % (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, saturated = set(), 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    for x in range(0, stride, bpp):
        r, g, b = line[x], line[x + 1], line[x + 2]
        colours.add((r, g, b))
        if max(r, g, b) - min(r, g, b) >= 100:
            saturated += 1
print('screenshot %dx%d: %d colours, %d saturated pixels' % (w, h, len(colours), saturated))
sys.exit(0 if len(colours) >= 16 and saturated >= 500 else 1)
EOF
echo "PASS: the diagram page loads cleanly in $chromium and draws"
