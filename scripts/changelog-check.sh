#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# antsibull-changelog lint, then a release dry run of the version in galaxy.yml
# in a throw-away copy of the tracked files. Fails if the generated changelog
# announces a module twice (a fragment repeating what the generator writes).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
version="$(awk '$1=="version:" {print $2}' "$here/galaxy.yml")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
. "$here/scripts/collection-tree.sh"
dest="$(kt_collection_tree "$tmp")"
cd "$dest"
antsibull-changelog lint
if python3 -c 'import sys, yaml; sys.exit(0 if sys.argv[1] in (yaml.safe_load(open("changelogs/changelog.yaml")).get("releases") or {}) else 1)' "$version"; then
    # Released: CHANGELOG.rst must be exactly what changelog.yaml generates.
    cp CHANGELOG.rst "$tmp/CHANGELOG.committed"
    antsibull-changelog generate
    diff -u "$tmp/CHANGELOG.committed" CHANGELOG.rst || { echo "CHANGELOG.rst differs from changelog.yaml: run antsibull-changelog generate"; exit 1; }
else
    antsibull-changelog release --version "$version"
fi
python3 - CHANGELOG.rst <<'PY'
import re, sys
text = open(sys.argv[1]).read()
names = re.findall(r"^- (kerneltune\.tcp\.\w+) - ", text, re.M)
dupes = sorted({n for n in names if names.count(n) > 1})
assert not dupes, "announced twice: %s" % dupes
for bare in re.findall(r"^- (\w+) - new (?:module|plugin|role|playbook)", text, re.M):
    raise SystemExit("a fragment announces %s by hand; the generator or an 'add object' entry does that" % bare)
for section in ("New Modules", "New Roles", "New Playbooks"):
    assert section in text, "no %s section" % section
print("changelog ok: %d plugins and modules announced once" % len(names))
PY
