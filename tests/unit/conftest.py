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

import pytest

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


# ansible-core 2.19 has ansible.module_utils.testing.patch_module_args; 2.17 and 2.18 do
# not: the same context manager, by hand, for the unit tests that build a real AnsibleModule.
try:
    from ansible.module_utils.testing import patch_module_args as _patch_module_args
except ImportError:
    import contextlib
    import json

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def _patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


@pytest.fixture
def module_args():
    """patch_module_args(args): the module arguments an AnsibleModule built inside the block reads."""
    return _patch_module_args
