# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file writes, shared by tcp_sysctl (on the host, through the module's
atomic_move) and the fleet_report action (on the controller). Stdlib only."""

from __future__ import annotations

import os
import tempfile


def write_atomically(path, text, move=os.replace, mode=0o644, owner=None):
    """Write ``text`` to ``path`` through a hidden temporary file in the same
    directory, flushed to disk, then moved into place: a reader sees the old
    file or the new one, never half of it. The result has ``mode`` and, when
    given, ``owner`` (uid, gid) whatever the umask and the old file had
    (``move`` may copy the old file's attributes, as atomic_move does)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix=".kerneltune-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        move(tmp, path)
        os.chmod(path, mode)
        if owner is not None:
            os.chown(path, owner[0], owner[1])
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
