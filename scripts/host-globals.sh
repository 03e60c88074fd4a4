#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The tests may change net.* only, and only inside containers and network namespaces they make: kernel.*, fs.*
# and vm.* are one value for the whole machine, so a real applier in a privileged container would change this
# host. scripts/test.sh snapshots them before the first stage and compares after the last one.
#   scripts/host-globals.sh snapshot FILE   write kernel.*, fs.*, vm.* (minus counters that move by themselves)
#   scripts/host-globals.sh compare FILE    exit 1 and name every key whose value differs from FILE
set -euo pipefail
# Counters and per-read values the kernel changes by itself: not settings.
volatile='^(fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr|quota\..*)|kernel\.(ns_last_pid|random\..*|pty\.nr|tainted|perf_event_max_sample_rate|perf_cpu_time_max_percent)|vm\.(stat_refresh))$'
current() {
    local f key
    for f in /proc/sys/kernel /proc/sys/fs /proc/sys/vm; do
        find "$f" -type f -perm -u+r 2>/dev/null
    done | sort | while read -r f; do
        key="${f#/proc/sys/}"; key="${key//\//.}"
        [[ "$key" =~ $volatile ]] && continue
        printf '%s = %s\n' "$key" "$(tr '\n\t' '  ' <"$f" 2>/dev/null | sed 's/ *$//')" 2>/dev/null || true
    done
}
case "${1:-}" in
snapshot) current >"$2" ;;
compare)
    now="$(mktemp)"; trap 'rm -f "$now"' EXIT
    current >"$now"
    if ! diff -u "$2" "$now" >"$now.diff"; then
        echo "host-globals: this machine's global sysctls changed during the tests:" >&2
        grep -E '^[-+][a-z]' "$now.diff" >&2; rm -f "$now.diff"; exit 1
    fi
    rm -f "$now.diff"; echo "host-globals: kernel.*, fs.*, vm.* unchanged ($(wc -l <"$now") keys)" ;;
*) echo "usage: $0 snapshot|compare FILE" >&2; exit 2 ;;
esac
