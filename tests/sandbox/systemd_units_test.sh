#!/bin/sh
# `systemd-analyze verify` must pass on the units and `systemd-analyze security` must rate the
# service at exposure 2.0 or lower. Exit 77 (skipped) where systemd-analyze is not installed.
units="$1"
max="${2:-2.0}"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "SKIP: systemd-analyze is not installed (apt-get install systemd)"
    exit 77
fi
cd "$units" || exit 1
out=$(systemd-analyze verify ./venus-render-server.service ./venus-render-server.socket 2>&1)
rc=$?
# verify also judges the host's own units; only lines about ours count.
ours=$(printf '%s\n' "$out" | grep 'venus-render-server')
if [ $rc -ne 0 ] || [ -n "$ours" ]; then
    echo "systemd-analyze verify failed (rc=$rc):"
    printf '%s\n' "$out"
    exit 1
fi
security=$(systemd-analyze security --offline=true ./venus-render-server.service 2>&1)
score=$(printf '%s\n' "$security" | sed -n 's/.*Overall exposure level for venus-render-server.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
    echo "no exposure score in:"
    printf '%s\n' "$security"
    exit 1
fi
echo "systemd-analyze security: exposure $score (must be <= $max)"
printf '%s\n' "$security" | grep '^✗'
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s + 0 <= m + 0) }'
