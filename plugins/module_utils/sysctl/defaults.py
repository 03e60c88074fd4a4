# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel's default value of each key: what it is in a fresh network namespace.

Most net.* keys are per network namespace and a new namespace starts them
from the kernel's built-in defaults, whatever the host's namespace was set to.
kernel_defaults forks one child that calls unshare(CLONE_NEWNET) (through
ctypes: Python 3.9 has no os.unshare; without root, CLONE_NEWUSER | CLONE_NEWNET),
reads the keys under /proc/sys there and sends the values back over a pipe; the
parent's namespaces never change.

A fresh namespace does not show the default of every key (keys.is_global:
only in the host's namespace; keys.is_copied: copied from the host's namespace
when a namespace is made), and without CAP_SYS_ADMIN and with unprivileged user
namespaces off no namespace can be made:
those keys get no default, with the reason (SOURCE_* below).

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
# kernel_default_source in the module's result.
SOURCE_FRESH = "fresh network namespace"
SOURCE_GLOBAL = "global key"
SOURCE_COPIED = "copied from the host at namespace creation"
SOURCE_ABSENT = "not in a fresh network namespace"
SOURCE_NO_NAMESPACE = "cannot create a network namespace: %s"
SOURCE_UNREADABLE = "unreadable in a fresh network namespace"


def reason_without_namespace(key):
    """Why a fresh namespace cannot show KEY's default (a SOURCE_* text), or None when it can."""
    if keys.is_global(key):
        return SOURCE_GLOBAL
    if keys.is_copied(key):
        return SOURCE_COPIED
    return None


def kernel_defaults(parts_of, reader=None):
    """{key: (default value or None, source)} for the keys of PARTS_OF ({key: parts}).

    reader(list of parts) -> ({parts: value or None (absent), ...}, None) or
    (None, error text); by default read_fresh (one fork, only when some key
    needs it). Values are whitespace-normalised as procsys.read_runtime gives them.
    """
    out = {}
    need = {}
    for key, parts in parts_of.items():
        why = reason_without_namespace(key)
        if why:
            out[key] = (None, why)
        else:
            need[key] = parts
    if not need:
        return out
    got, error = (reader or read_fresh)(sorted(set(need.values())))
    for key, parts in need.items():
        if error is not None:
            out[key] = (None, SOURCE_NO_NAMESPACE % error)
        elif got.get(parts) is None:
            out[key] = (None, SOURCE_ABSENT)
        else:
            out[key] = (got[parts], SOURCE_FRESH)
    return out


def _read_all(parts_list, proc_root):
    """[[parts, value or None], ...] read under PROC_ROOT; None for a key that is absent or unreadable."""
    return [[list(p), procsys.read_runtime(p, proc_root)[0]] for p in parts_list]


def tree_reader(proc_root):
    """A reader (see kernel_defaults) for a tree standing in for a fresh namespace's /proc/sys (tests)."""
    def read(parts_list):
        return {tuple(p): v for p, v in _read_all(parts_list, proc_root)}, None
    return read


def _unshare_net():
    """unshare(CLONE_NEWNET) in this process; 0 or the errno.

    Without CAP_SYS_ADMIN (a run without root) it gets EPERM: then a new user namespace that owns a new network
    namespace (CLONE_NEWUSER | CLONE_NEWNET), which an unprivileged process may make where unprivileged user
    namespaces are on. No uid_map is needed: /proc/sys/net shows the network namespace of the reading process, and
    its files are readable by others. Where they are off (user.max_user_namespaces=0, Debian's
    kernel.unprivileged_userns_clone=0, a seccomp filter), the first error (EPERM) is the one reported.
    """
    libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's unshare, no library search
    if libc.unshare(CLONE_NEWNET) == 0:
        return 0
    err = ctypes.get_errno() or errno.EPERM
    if err == errno.EPERM and libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        return 0
    return err


def _child(write_fd, parts_list):
    """In the forked child: a new network namespace, the values, one JSON line down the pipe."""
    try:
        err = _unshare_net()
        if err:
            msg = {"error": os.strerror(err)}
        else:
            msg = {"values": _read_all(parts_list, procsys.PROC_SYS)}
    except Exception as e:  # pylint: disable=broad-except
        # Whatever failed, the parent reports it; the child only has to exit.
        msg = {"error": "%s: %s" % (type(e).__name__, e)}
    data = json.dumps(msg).encode("utf-8")
    while data:
        data = data[os.write(write_fd, data):]


def read_fresh(parts_list):
    """The values of PARTS_LIST in a new network namespace, read in a forked child.

    Returns ({parts: value or None}, None), or (None, the error text) when no
    namespace can be made (no CAP_SYS_ADMIN and no unprivileged user namespaces, a seccomp filter) or the child
    failed.
    """
    try:
        read_fd, write_fd = os.pipe()
    except OSError as e:
        return None, e.strerror or str(e)
    try:
        pid = os.fork()
    except OSError as e:
        os.close(read_fd)
        os.close(write_fd)
        return None, e.strerror or str(e)
    if pid == 0:  # pragma: no cover (the child ends with _exit; its work is seen through the pipe)
        code = 0
        try:
            os.close(read_fd)
            _child(write_fd, parts_list)
        except BaseException:  # pylint: disable=broad-except
            code = 1  # never return into the module from the child
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    with os.fdopen(read_fd, "rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            chunks.append(chunk)
    os.waitpid(pid, 0)
    try:
        msg = json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        return None, "the child that reads it failed"
    if "error" in msg:
        return None, msg["error"]
    return {tuple(p): v for p, v in msg["values"]}, None
