#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Source this file: kt_collection_tree ROOT copies the files git would commit
# (tracked and untracked, not ignored; files deleted in the working tree left
# out) into ROOT/ansible_collections/kerneltune/tcp and prints that path.
# Shared by sanity.sh, changelog-check.sh and docs-check.sh, which all need the
# collection at its namespace path.
kt_collection_tree() {
    local here dest
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    dest="$1/ansible_collections/kerneltune/tcp"
    mkdir -p "$dest"
    (cd "$here" && git ls-files -co --exclude-standard -z | python3 -c '
import os, sys
sys.stdout.write("".join(p + "\0" for p in sys.stdin.read().split("\0") if p and os.path.lexists(p)))' \
        | tar --null -T - -cf -) | tar -C "$dest" -xf -
    echo "$dest"
}
