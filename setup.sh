#!/bin/sh
# Set up and build distlab on Debian: install what is missing, configure,
# build. Safe to run again: it only does what is not done yet.
#   ./setup.sh          install + build
#   ./setup.sh check    install + build + run the whole test suite
set -e
cd "$(dirname "$0")"

packages="gcc make autoconf automake pkg-config check libinih-dev libjansson-dev"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure --quiet
make -j"$(nproc)" >/dev/null

case "${1:-}" in
check)
    status=0
    make -j2 check || status=$?
    sh tests/summary.sh
    exit $status
    ;;
"") ;;
*)
    echo "usage: ./setup.sh [check]" >&2
    exit 2
    ;;
esac
