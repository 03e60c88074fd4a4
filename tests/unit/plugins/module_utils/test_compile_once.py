# SPDX-License-Identifier: GPL-3.0-or-later
"""compile_once: a module imported from a zip (as Ansible runs modules) is compiled once, and imports the same."""
import importlib
import importlib.util
import sys
import zipfile
import zipimport

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import compile_once

PACKAGE = ("ktzip_pkg", "ktzip_pkg.mod")


def write(archive, value):
    with zipfile.ZipFile(str(archive), "w") as z:
        z.writestr("ktzip_pkg/__init__.py", "")
        z.writestr("ktzip_pkg/mod.py", "VALUE = %d\n" % value)


def forget(archive):
    for name in PACKAGE:
        sys.modules.pop(name, None)
    sys.path_importer_cache.pop(str(archive), None)
    zipimport._zip_directory_cache.pop(str(archive), None)
    importlib.invalidate_caches()


@pytest.fixture
def zipped(tmp_path, monkeypatch):
    archive = tmp_path / "payload.zip"
    write(archive, 42)
    monkeypatch.syspath_prepend(str(archive))
    compiled = []
    original = zipimport._compile_source

    def counting(pathname, *args):
        compiled.append(pathname.replace(str(archive), "payload.zip"))
        return original(pathname, *args)
    monkeypatch.setattr(zipimport, "_compile_source", counting)
    yield archive, compiled
    forget(archive)


def test_each_zipped_module_is_compiled_once(zipped):
    _archive, compiled = zipped
    assert getattr(zipimport.zipimporter.get_filename, "_kerneltune_compile_once", False)  # installed on import
    mod = importlib.import_module("ktzip_pkg.mod")
    assert mod.VALUE == 42
    assert mod.__file__.endswith("payload.zip/ktzip_pkg/mod.py")
    assert mod.__spec__.origin == mod.__file__
    assert sorted(compiled) == ["payload.zip/ktzip_pkg/__init__.py", "payload.zip/ktzip_pkg/mod.py"]


def test_find_spec_then_import_compiles_once(zipped):
    # ansible.module_utils._internal._json does this: importlib.util.find_spec, then import_module.
    _archive, compiled = zipped
    importlib.import_module("ktzip_pkg")
    spec = importlib.util.find_spec("ktzip_pkg.mod")
    assert spec.origin.endswith("payload.zip/ktzip_pkg/mod.py")
    assert importlib.import_module("ktzip_pkg.mod").VALUE == 42
    assert sorted(compiled) == ["payload.zip/ktzip_pkg/__init__.py", "payload.zip/ktzip_pkg/mod.py"]


def test_a_rewritten_archive_gives_its_new_code(zipped):
    archive, _compiled = zipped
    importlib.util.find_spec("ktzip_pkg")
    forget(archive)
    write(archive, 43)
    assert importlib.import_module("ktzip_pkg.mod").VALUE == 43


def test_names_the_archive_does_not_hold_are_zipimports_answer(zipped):
    archive, _compiled = zipped
    importer = zipimport.zipimporter(str(archive) + "/ktzip_pkg")
    with pytest.raises(zipimport.ZipImportError) as e:
        importer.get_filename("ktzip_pkg.absent")
    assert str(e.value) == "can't find module 'ktzip_pkg.absent'"


def test_installing_twice_wraps_once():
    wrapped = zipimport.zipimporter.get_filename
    compile_once._install()
    assert zipimport.zipimporter.get_filename is wrapped
