# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compile each module of the payload once, not twice.

Ansible runs a module from a zip (AnsiballZ); Python's zipimport keeps no
bytecode for it, so every module the payload imports is compiled from source
on every run. zipimport (CPython 3.9 to 3.13, Lib/zipimport.py) also compiles
it a second time: find_spec() builds the spec through spec_from_loader(),
which asks get_filename(), which compiles the source only to learn the path;
exec_module() then compiles it again through get_code(). Both calls go
through zipimport._get_module_code(importer, fullname); this keeps the first
answer until the second call takes it. On the audit's path that is about a
quarter of the module's whole run on the host.

Imported by the collection's modules before any other module of the
collection, so it covers those; what Ansible imported before the module ran
(ansible.module_utils.basic) is not affected. Anything unexpected (another
Python, another zipimport) leaves zipimport as it is.
"""

from __future__ import annotations

import zipimport

_MARK = "_kerneltune_compile_once"


def _install():
    original = getattr(zipimport, "_get_module_code", None)
    code = getattr(original, "__code__", None)
    if original is None or getattr(original, _MARK, False) or code is None or code.co_argcount != 2:
        return
    kept = {}

    def get_module_code(importer, fullname):
        key = (importer, fullname)
        answer = kept.pop(key, None)
        if answer is None:
            answer = original(importer, fullname)
            kept[key] = answer
        return answer

    setattr(get_module_code, _MARK, True)
    zipimport._get_module_code = get_module_code


_install()
