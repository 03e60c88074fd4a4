# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The running kernel through /proc/sys: read a key, list the keys, write values all or nothing.

Imports nothing from the collection: tcp_info reads its sysctls with
read_runtime without the planner.
Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import difflib
import errno
import os
import stat

PROC_SYS = "/proc/sys"
# How close a real key must be to a mistyped one to be suggested (difflib ratio).
SUGGEST_CUTOFF = 0.75


class RuntimeWriteError(Exception):
    """The kernel refused a write; the message names the key, the value, the error and what was put back."""

    def __init__(self, message):
        super(RuntimeWriteError, self).__init__(message)
        self.message = message


def proc_path(parts, proc_root=PROC_SYS):
    return os.path.join(proc_root, *parts)


def read_runtime(parts, proc_root=PROC_SYS):
    """Return (value or None, state) with state in present, missing, unreadable."""
    path = proc_path(parts, proc_root)
    try:
        with open(path, "r") as f:
            return " ".join(f.read().split()), "present"
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None, "missing"
        return None, "unreadable"


def writable(parts, proc_root=PROC_SYS):
    return os.access(proc_path(parts, proc_root), os.W_OK)


def writable_by_root(parts, proc_root=PROC_SYS):
    """Whether root could write the key: its owner may write it and /proc/sys is not mounted read-only here.

    For a check-mode run without root, which cannot try; a write can still be refused by the kernel.
    """
    path = proc_path(parts, proc_root)
    try:
        return bool(os.stat(path).st_mode & stat.S_IWUSR) and not os.statvfs(path).f_flag & os.ST_RDONLY
    except OSError:
        return False


def known_keys(proc_root=PROC_SYS):
    """Every sysctl under /proc/sys/net, as path parts (for suggestions)."""
    out = []
    base = os.path.join(proc_root, "net")
    for dirpath, dirnames, filenames in os.walk(base):
        rel = os.path.relpath(dirpath, proc_root).split(os.sep)
        # Per-interface trees are large and never what a typo meant.
        if len(rel) >= 3 and rel[2] in ("conf", "neigh") and len(rel) == 3:
            dirnames[:] = [d for d in dirnames if d in ("all", "default")]
        for f in filenames:
            out.append(tuple(rel) + (f,))
    return out


def suggest(key, candidates):
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=SUGGEST_CUTOFF)
    return close[0] if close else None


def write_value(parts, text, proc_root=PROC_SYS):
    path = proc_path(parts, proc_root)
    with open(path, "w") as f:
        f.write(text + "\n")


def apply_runtime(changes, proc_root=PROC_SYS, writer=None):
    """Write the running values all or nothing.

    changes: list of (key, parts, old_text, new_text) in write order.
    On the first write the kernel rejects, the values already written are put
    back in reverse order and RuntimeWriteError names the key, the value and
    the kernel's error. Returns the list of keys written.
    """
    write = writer or (lambda parts, text: write_value(parts, text, proc_root))
    done = []
    for key, parts, old, new in changes:
        try:
            write(parts, new)
        except OSError as e:
            raise RuntimeWriteError(_refused(key, new, e, done, _put_back(done, write)))
        done.append((key, parts, old, new))
    return [k for k, _p, _o, _n in done]


def _put_back(done, write):
    """Write the old values of DONE in reverse order; the errors, as text."""
    errors = []
    for rkey, rparts, rold, _rnew in reversed(done):
        try:
            write(rparts, rold)
        except OSError as re_err:
            errors.append("%s: %s" % (rkey, re_err.strerror or re_err))
    return errors


def _refused(key, new, err, done, restore_errors):
    msg = "%s: the kernel refused value %r: %s" % (key, new, err.strerror or str(err))
    if done:
        msg += "; restored %s" % ", ".join(k for k, _p, _o, _n in done)
    if restore_errors:
        msg += "; could not restore %s" % "; ".join(restore_errors)
    return msg + "; the file was not changed"
