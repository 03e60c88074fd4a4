# SPDX-License-Identifier: GPL-3.0-or-later
"""Every tracked source file says its licence (SPDX) in its first lines, and the
licence text the galaxy.yml names is in the repository."""
import os
import re
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPDX = "SPDX-License-Identifier: GPL-3.0-or-later"
SOURCE = re.compile(r"\.(py|sh|yml|yaml|j2)$|(^|/)Makefile$|^\.ci/run$")


def tracked():
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files"], stdout=subprocess.PIPE, check=True,
                             universal_newlines=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [f for f in out.split() if SOURCE.search(f) and f != "changelogs/changelog.yaml"
            and not f.startswith("tests/unit/fixtures/")]


def test_every_source_file_has_an_spdx_line():
    files = tracked()
    assert len(files) > 50
    missing = []
    for f in files:
        if os.path.getsize(os.path.join(ROOT, f)) == 0:
            continue  # empty __init__.py files (ansible-test requires them empty)
        with open(os.path.join(ROOT, f), encoding="utf-8") as fh:
            head = [fh.readline() for _line in range(6)]
        if not any(SPDX in line for line in head):
            missing.append(f)
    assert missing == []


def test_licence_file_matches_galaxy():
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        assert yaml.safe_load(f)["license"] == ["GPL-3.0-or-later"]
    with open(os.path.join(ROOT, "LICENSE")) as f:
        text = f.read()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE") and "Version 3, 29 June 2007" in text[:200]
