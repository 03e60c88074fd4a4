# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the collection importable as ansible_collections.kerneltune.tcp.

The repository root is the collection root; the unit tests import the
module_utils through their collection path, as the modules do.
"""
import atexit
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collection_path():
    # Already inside an ansible_collections/kerneltune/tcp tree (ansible-test)?
    parts = ROOT.split(os.sep)
    if parts[-3:-1] == ["ansible_collections", "kerneltune"] and parts[-1] == "tcp":
        return os.sep.join(parts[:-3])
    base = tempfile.mkdtemp(prefix="kt-unit-")
    # Removed when the test run ends: the tree holds only a symlink to ROOT,
    # and rmtree does not follow symlinks.
    atexit.register(shutil.rmtree, base, True)
    os.makedirs(os.path.join(base, "ansible_collections", "kerneltune"))
    os.symlink(ROOT, os.path.join(base, "ansible_collections", "kerneltune", "tcp"))
    return base


sys.path.insert(0, _collection_path())
