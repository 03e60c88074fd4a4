# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compile each module of the payload once, not twice.

Ansible runs a module from a zip (AnsiballZ); Python's zipimport keeps no
bytecode for it, so every module the payload imports is compiled from source
on every run. zipimport (CPython 3.9 to 3.13, Lib/zipimport.py) also compiles
it a second time: find_spec() builds the spec through spec_from_loader(),
which asks get_filename(), and get_filename() compiles the source only to
learn the file's path; exec_module() then compiles it for real through
get_code(). This replaces zipimporter.get_filename with one that finds the
path in the archive's table of contents without compiling anything, for a
module the archive holds as source (every module of an AnsiballZ payload).
For anything else (bytecode in the archive, a name it does not hold) it asks
zipimport's own get_filename. Nothing is cached: the answer is what zipimport
would answer, read from the archive's table of contents as zipimport reads it.

Imported by the collection's modules before any other file of the collection,
so it covers those (on the audit's path, about a tenth of the module's whole
run on the host); what Ansible imported before the module ran is not
affected. A zipimport without the parts this relies on is left as it is.
"""

from __future__ import annotations

import zipimport

_MARK = "_kerneltune_compile_once"


def _table(importer):
    """The archive's table of contents as zipimport keeps it ({path in archive: toc entry}), or None."""
    get_files = getattr(importer, "_get_files", None)  # 3.13: read lazily, refreshed when the archive changes
    if get_files is not None:
        return get_files()
    return getattr(importer, "_files", None)  # 3.9-3.12


def _install():
    cls = zipimport.zipimporter
    original = cls.get_filename
    module_path = getattr(zipimport, "_get_module_path", None)
    order = getattr(zipimport, "_zip_searchorder", None)
    if getattr(original, _MARK, False) or module_path is None or not order:
        return

    def get_filename(self, fullname):
        """zipimporter.get_filename without compiling: the path of the first entry zipimport's get_code would
        use, when that entry is source."""
        try:
            files = _table(self)
            path = module_path(self, fullname)
            for suffix, isbytecode, _ispackage in order:
                entry = files.get(path + suffix)
                if entry is not None:
                    if not isbytecode:
                        return entry[0]
                    break  # bytecode may be refused (magic, mtime): only zipimport can tell which entry it takes
        except (AttributeError, TypeError, IndexError):
            pass
        return original(self, fullname)

    setattr(get_filename, _MARK, True)
    cls.get_filename = get_filename


_install()
