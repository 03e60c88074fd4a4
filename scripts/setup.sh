#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Install what this checkout needs on a Debian machine, as root:
#   scripts/setup.sh demo   -> a virtualenv with ansible-core, the collection installed
#   scripts/setup.sh test   -> also podman, runc, debootstrap and the test requirements
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-demo}"
venv="${KT_VENV:-$here/.venv}"
# The controller matrix (scripts/test.sh stage "controllers") sets these three.
reqs="${KT_REQUIREMENTS:-$here/requirements.txt}"
collections="${KT_COLLECTIONS:-$here/.cache/collections}"

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "apt-get install ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

if [ "$mode" = test ]; then
    apt_install podman runc debootstrap iproute2 python3-venv chromium chromium-driver
else
    apt_install python3-venv iproute2
fi
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ "$mode" = test ]; then
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
else
    "$venv/bin/pip" install -q --disable-pip-version-check "$(grep '^ansible-core==' "$reqs")"
fi
# Install the collection from this checkout (a built tarball, as a user gets it).
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
if ! { "$venv/bin/ansible-galaxy" collection build --force --output-path "$build" "$here" &&
       "$venv/bin/ansible-galaxy" collection install --force -p "$collections" \
           "$build"/kerneltune-tcp-*.tar.gz; } >"$build/log" 2>&1; then
    cat "$build/log" >&2
    exit 1
fi
echo "collection installed in $collections" >&2
