#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The collection's rendered documentation, checked as the docsite builds it:
# antsibull-docs lint-collection-docs --plugin-docs over a copy of the tracked
# files in an ansible_collections tree (module and plugin docs, role argument
# specs, semantic markup references such as O(option) and M(module)).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
dest="$tmp/ansible_collections/kerneltune/tcp"
mkdir -p "$dest"
git -C "$here" ls-files -z --cached --others --exclude-standard | (cd "$here" && xargs -0 tar -c 2>/dev/null) | tar -x -C "$dest"
cd "$dest"
ANSIBLE_COLLECTIONS_PATH="$tmp" antsibull-docs lint-collection-docs --plugin-docs .
echo "docs ok"
