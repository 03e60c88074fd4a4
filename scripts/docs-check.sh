#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The collection's rendered documentation, checked as the docsite builds it:
# antsibull-docs lint-collection-docs --plugin-docs over a copy of the tracked
# files in an ansible_collections tree (module and plugin docs, role argument
# specs, semantic markup references such as O(option) and M(module)).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
. "$here/scripts/collection-tree.sh"
dest="$(kt_collection_tree "$tmp")"
cd "$dest"
ANSIBLE_COLLECTIONS_PATH="$tmp" antsibull-docs lint-collection-docs --plugin-docs .
echo "docs ok"
