#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Source this file: it makes podman usable on this machine and exports
# CONTAINERS_CONF only where the defaults fail.
#
# Two failures are known on some machines (see docs/development.md):
#  - crun cannot run under a hybrid cgroup v1/v2 layout: use runc;
#  - podman raises RLIMIT_NOFILE/NPROC above the hard limit and root lacks
#    CAP_SYS_RESOURCE: keep the limits at or below the current hard limits.
# A normal machine with cgroup v2 and default limits needs neither, so we try
# the defaults first and fall back only when a trial container fails.
KT_IMAGE="${KT_IMAGE:-localhost/kerneltune-debian:bookworm}"
KT_CACHE="${KT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kerneltune}"
export KT_IMAGE KT_CACHE

kt_podman_works() {
    podman run --rm --network none "$KT_IMAGE" true >/dev/null 2>&1
}

kt_podman_configure() {
    if [ -n "${CONTAINERS_CONF:-}" ] && kt_podman_works; then
        return 0
    fi
    unset CONTAINERS_CONF
    if kt_podman_works; then
        echo "podman: defaults work" >&2
        return 0
    fi
    mkdir -p "$KT_CACHE"
    local nofile nproc runtime conf
    nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
    [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nproc" = unlimited ] && nproc=4096
    [ "$nproc" -gt 4096 ] && nproc=4096
    runtime=""
    if command -v runc >/dev/null 2>&1; then runtime='runtime = "runc"'; fi
    conf="$KT_CACHE/containers.conf"
    cat >"$conf" <<CONF
# Written by scripts/podman-env.sh: podman's defaults failed on this machine.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
${runtime}
CONF
    export CONTAINERS_CONF="$conf"
    if kt_podman_works; then
        echo "podman: using $conf (runc, limits nofile=$nofile nproc=$nproc)" >&2
        return 0
    fi
    echo "podman: cannot start a container even with $conf:" >&2
    podman run --rm --network none "$KT_IMAGE" true >&2 || true
    return 1
}
