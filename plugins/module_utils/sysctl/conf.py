# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sysctl.d file syntax both boot-time appliers read: parse_conf, is_glob.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys


def is_glob(parts):
    return any(c in p for p in parts for c in "*?[")


def parse_conf(text):
    """Parse one sysctl.d file.

    Returns a list of (parts, value, ignore_failure, lineno) in file order.
    value is None for a ``-key`` line without ``=`` (systemd: do not set the
    key; procps 4: keep it out of globs). Comments start with '#' or ';'.
    Other lines that are not assignments are skipped, as both appliers skip
    them (with a log message).
    """
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if "=" not in line:
            if line.startswith("-") and line[1:].strip():
                out.append((keys.key_to_path_parts(line[1:].strip()), None, True, lineno))
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        ignore = False
        if key.startswith("-"):
            ignore = True
            key = key[1:].strip()
        if not key:
            continue
        out.append((keys.key_to_path_parts(key), value.strip(), ignore, lineno))
    return out
