#!/bin/sh
# Runs a Vulkan program on Mesa's Venus driver through venus-vtest and our render server, then
# checks its output. Mesa is not part of this project: these tests exist only when the build is
# told where its Venus ICD is (-DVN_MESA_VENUS_ICD=.../virtio_icd.<arch>.json).
# usage: mesa_venus_test.sh VTEST SERVER ICD OUT PATTERN... -- PROGRAM [ARGS...]
#   every PATTERN (grep -E) must match PROGRAM's stdout, saved to OUT; PROGRAM must exit 0 and the
#   worker must not have died.
set -u
vtest=$1 server=$2 icd=$3 out=$4
shift 4
patterns=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    patterns="$patterns
$1"
    shift
done
[ $# -gt 0 ] && shift
sock=$(mktemp -u /tmp/vn-mesa-test-XXXXXX.sock)
"$vtest" --socket-path "$sock" --server "$server" 2>"$out.vtest.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$sock"' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
VTEST_SOCKET_NAME=$sock VN_DEBUG=vtest VK_DRIVER_FILES=$icd "$@" >"$out" 2>"$out.err"
rc=$?
status=0
if [ $rc -ne 0 ]; then
    echo "$1 exited with status $rc"
    status=1
fi
if grep -q "worker is gone" "$out.vtest.log"; then
    echo "the worker died or turned fatal:"
    status=1
fi
echo "$patterns" | while IFS= read -r p; do
    [ -z "$p" ] && continue
    grep -Eq -- "$p" "$out" || { echo "missing in the output: $p"; exit 1; }
done || status=1
if [ $status -ne 0 ]; then
    tail -20 "$out.err"
    tail -20 "$out.vtest.log"
fi
exit $status
