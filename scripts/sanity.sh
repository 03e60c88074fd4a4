#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# ansible-test sanity from a temporary ansible_collections/kerneltune/tcp tree.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
pyver="${KT_SANITY_PYTHON:-3.11}"
# ansible-test downloads a pip bootstrap script from a host that may not be
# reachable; put a stand-in in its cache for the pip version it wants.
pipver="$(python - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)"
cache="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
mkdir -p "$(dirname "$cache")"
if [ ! -f "$cache" ] || ! grep -q ensurepip "$cache"; then
    if ! curl -fsS -m 10 -o "$cache.dl" "https://ci-files.testing.ansible.com/ansible-test/get-pip-${pipver}.py" 2>/dev/null; then
        cp "$here/tests/sanity/get_pip_standin.py" "$cache"
    else
        mv "$cache.dl" "$cache"
    fi
fi
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
. "$here/scripts/collection-tree.sh"
dest="$(kt_collection_tree "$tree")"
cd "$dest"
git init -q . && git add -A >/dev/null
ansible-test sanity --venv --python "$pyver" --color no "$@"
