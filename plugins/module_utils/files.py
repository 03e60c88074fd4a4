# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file writes, shared by tcp_sysctl (on the host) and the fleet_report
action (on the controller). Stdlib only.

A write is two steps: prepare() makes the complete new file beside the target
(content flushed to disk, mode and owner set), commit() renames it into place.
Everything that can fail happens in prepare(), before the caller changes
anything else; commit() is one rename in the same directory."""

from __future__ import annotations

import os
import tempfile


def prepare(path, text, mode=0o644, owner=None):
    """The new file, complete, as a hidden temporary beside ``path``; returns its name.
    ``mode`` and ``owner`` (uid, gid) are set whatever the umask and the old file had."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, 0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kerneltune-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            if owner is not None:
                os.fchown(f.fileno(), owner[0], owner[1])
            os.fsync(f.fileno())
    except BaseException:
        discard(tmp)
        raise
    return tmp


def commit(tmp, path):
    """Rename the prepared file into place (atomic within one directory)."""
    try:
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def discard(tmp):
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_atomically(path, text, mode=0o644, owner=None):
    """prepare() then commit()."""
    commit(prepare(path, text, mode, owner), path)
