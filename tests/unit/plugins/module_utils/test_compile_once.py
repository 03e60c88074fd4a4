# SPDX-License-Identifier: GPL-3.0-or-later
"""compile_once: a module imported from a zip (as Ansible runs modules) is compiled once, and imports the same."""
import importlib
import sys
import zipfile
import zipimport

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import compile_once


@pytest.fixture
def zipped(tmp_path, monkeypatch):
    archive = tmp_path / "payload.zip"
    with zipfile.ZipFile(str(archive), "w") as z:
        z.writestr("ktzip_pkg/__init__.py", "")
        z.writestr("ktzip_pkg/mod.py", "VALUE = 42\n")
    monkeypatch.syspath_prepend(str(archive))
    compiled = []
    original = zipimport._compile_source

    def counting(pathname, source):
        compiled.append(pathname.replace(str(archive), "payload.zip"))
        return original(pathname, source)
    monkeypatch.setattr(zipimport, "_compile_source", counting)
    yield compiled
    for name in ("ktzip_pkg.mod", "ktzip_pkg"):
        sys.modules.pop(name, None)
    sys.path_importer_cache.pop(str(archive), None)


def test_each_zipped_module_is_compiled_once(zipped):
    assert getattr(zipimport._get_module_code, "_kerneltune_compile_once", False)  # installed on import
    mod = importlib.import_module("ktzip_pkg.mod")
    assert mod.VALUE == 42
    assert mod.__file__.endswith("payload.zip/ktzip_pkg/mod.py")
    assert sorted(zipped) == ["payload.zip/ktzip_pkg/__init__.py", "payload.zip/ktzip_pkg/mod.py"]


def test_installing_twice_wraps_once():
    wrapped = zipimport._get_module_code
    compile_once._install()
    assert zipimport._get_module_code is wrapped
