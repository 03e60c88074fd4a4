# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the managed file may go: the sysctl.d directories, check_path's confinement, dpkg ownership.

The directory lists are defined here once: the boot model (boot.py) reads the
appliers' directories from them.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import os
import time

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.errors import SysctlError

# Directories an administrator's file may go to: read by both appliers and not
# the distribution's (/usr/lib/sysctl.d, /lib/sysctl.d belong to packages).
WRITABLE_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d")
# What systemd-sysctl reads, in its order of precedence (split-usr builds before v255 add /lib/sysctl.d).
SYSTEMD_DIRS = WRITABLE_DIRS + ("/usr/lib/sysctl.d",)
# Every directory either applier reads, in systemd-sysctl's order of precedence: what procps (3.3.17+) reads.
READ_DIRS = SYSTEMD_DIRS + ("/lib/sysctl.d",)
# procps applies it last; systemd-sysctl reads it only through a 99-sysctl.conf symlink.
PROCPS_CONF = "/etc/sysctl.conf"
DPKG_INFO = "/var/lib/dpkg/info"
# Seconds the dpkg file lists may take before the path is refused.
DPKG_BUDGET = 5.0

UNKNOWN_OWNER = object()


def _dpkg_owner(path, info_dir=DPKG_INFO, budget=DPKG_BUDGET):
    """The package whose file list names `path`, None, or UNKNOWN_OWNER when the budget ran out."""
    deadline = time.monotonic() + budget
    try:
        names = sorted(n for n in os.listdir(info_dir) if n.endswith(".list"))
    except OSError:
        return None
    # Bytes: decoding every list (about a thousand on a server) costs more than reading it.
    want = (path + "\n").encode("utf-8", "surrogateescape")
    for n in names:
        if time.monotonic() > deadline:
            return UNKNOWN_OWNER
        try:
            with open(os.path.join(info_dir, n), "rb") as f:
                if want in f.read():
                    return n[:-len(".list")]
        except OSError:
            continue
    return None


def check_path(path, root="", info_dir=DPKG_INFO):
    """The managed file's path, normalised; SysctlError naming the path and why when refused."""
    norm = _normalise(path)
    d, name = os.path.split(norm)
    if d not in WRITABLE_DIRS:
        raise SysctlError("path: %s is not in a directory both appliers read and the distribution leaves to the "
                          "administrator (%s)" % (path, ", ".join(WRITABLE_DIRS)))
    if name.startswith("."):
        raise SysctlError("path: %s is a hidden file; systemd-sysctl skips hidden files" % path)
    for p in (d, norm):
        if os.path.islink(root + p) or (p == d and os.path.exists(root + d)
                                        and os.path.realpath(root + d) != os.path.abspath(root + d)):
            raise SysctlError("path: %s is a symlink or lies behind one (%s); refusing to write through it"
                              % (path, p))
    if os.path.exists(root + norm) and not os.path.isfile(root + norm):
        raise SysctlError("path: %s exists and is not a regular file" % path)
    owner = _dpkg_owner(norm, root + info_dir)
    if owner is UNKNOWN_OWNER:
        raise SysctlError("path: %s: could not tell within 5 s whether a package owns it (%s); refusing to write "
                          "it" % (path, info_dir))
    if owner:
        raise SysctlError("path: %s belongs to the package %s; write a file of your own instead" % (path, owner))
    _check_name_and_header(path, norm, root)
    return norm


def _normalise(path):
    """PATH normalised; SysctlError when it is not an absolute *.conf path without '..'."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise SysctlError("path: %s must be an absolute path ending in .conf (the appliers read only *.conf)" % path)
    if ".." in path.split("/"):
        raise SysctlError("path: %s contains '..'; give the file's own path in %s" % (path, ", ".join(WRITABLE_DIRS)))
    norm = os.path.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if not norm.endswith(".conf"):
        raise SysctlError("path: %s must be an absolute path ending in .conf (the appliers read only *.conf)" % path)
    return norm


def _check_name_and_header(path, norm, root):
    """SysctlError when NORM would hide a later file of the same name, or is a file we did not write."""
    d, name = os.path.split(norm)
    # The appliers read one file per name, the first in this order: ours would hide a later one.
    for other in READ_DIRS[READ_DIRS.index(d) + 1:]:
        hidden = os.path.join(other, name)
        if os.path.exists(root + hidden):
            raise SysctlError("path: %s has the name of %s, which the appliers would then skip (they read one file "
                              "per name, the first of %s); choose another name" % (path, hidden, ", ".join(READ_DIRS)))
    if os.path.isfile(root + norm):
        try:
            with open(root + norm, "r", encoding="utf-8", errors="replace") as f:
                first = f.readline()
        except (IOError, OSError) as e:
            raise SysctlError("path: %s: cannot read it: %s" % (path, e.strerror or e))
        if first and first != render.HEADER.splitlines(True)[0]:
            raise SysctlError("path: %s exists and was not written by kerneltune.tcp.tcp_sysctl (its first line is "
                              "not the module's header); refusing to replace or remove it. Move its settings into "
                              "settings and delete it yourself, or choose another path" % path)
