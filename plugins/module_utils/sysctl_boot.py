# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Model of the boot-time sysctl appliers: which file wins for a key.

Two appliers exist and they read the same files differently:

* systemd-sysctl reads ``sysctl.d/*.conf`` from /etc, /run, /usr/local/lib and
  /usr/lib. A file name in an earlier directory masks the same name in later
  ones; a mask that is empty or a symlink to /dev/null disables the name. The
  remaining files are applied in file-name order and, for a repeated key, the
  last assignment wins. It does not read /etc/sysctl.conf (Debian ships the
  symlink /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf for that).
* procps ``sysctl --system`` reads the same directories plus /lib/sysctl.d,
  keeps the first file of each name, applies them in name order, then applies
  /etc/sysctl.conf last, over everything.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import os

SYSTEMD_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d")
PROCPS_DIRS = SYSTEMD_DIRS + ("/lib/sysctl.d",)
PROCPS_CONF = "/etc/sysctl.conf"

SYSTEMD = "systemd-sysctl"
PROCPS = "procps"


def key_to_path_parts(key):
    """Split a sysctl key the way both appliers do.

    If the first separator is '/', slashes separate and dots are literal
    (net/ipv4/conf/eth0.100/rp_filter); otherwise dots separate and slashes
    are literal dots of an interface name (net.ipv4.conf.eth0/100.rp_filter).
    """
    key = key.strip()
    first_dot = key.find(".")
    first_slash = key.find("/")
    if first_slash != -1 and (first_dot == -1 or first_slash < first_dot):
        return tuple(key.split("/"))
    return tuple(part.replace("/", ".") for part in key.split("."))


def canonical_key(parts):
    """Dotted name when no part holds a dot, slash form otherwise."""
    if any("." in p for p in parts):
        return "/".join(parts)
    return ".".join(parts)


def parse_conf(text):
    """Parse one sysctl.d file.

    Returns a list of (parts, value, ignore_failure, lineno) in file order.
    Comments start with '#' or ';'; a leading '-' on the key means failures to
    set it are ignored. Lines that are not assignments are skipped, as both
    appliers skip them (with a log message).
    """
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        ignore = False
        if key.startswith("-"):
            ignore = True
            key = key[1:].strip()
        if not key:
            continue
        out.append((key_to_path_parts(key), value.strip(), ignore, lineno))
    return out


def _read(path):
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        return f.read()


def _is_null_or_empty(path):
    try:
        if os.path.realpath(path) == "/dev/null":
            return True
        st = os.stat(path)
    except OSError:
        return True
    return os.path.isfile(path) and st.st_size == 0


def list_files(applier, root="", overlay=None):
    """The files an applier reads, in the order it applies them.

    root: prefix for every directory (tests use a temporary tree).
    overlay: {path: text-or-None}; a path with text is treated as present
    with that content (even if absent on disk), None as absent. Paths in the
    overlay are real paths (without root).
    Returns a list of (path, masked_by) where masked_by is None for applied
    files; masked entries are returned too so callers can explain them.
    """
    overlay = overlay or {}
    dirs = SYSTEMD_DIRS if applier == SYSTEMD else PROCPS_DIRS
    by_name = {}
    masked = []
    for d in dirs:
        names = set()
        real_dir = root + d
        if os.path.isdir(real_dir):
            names.update(n for n in os.listdir(real_dir) if n.endswith(".conf"))
        for p, text in overlay.items():
            if os.path.dirname(p) == d:
                if text is None:
                    names.discard(os.path.basename(p))
                else:
                    names.add(os.path.basename(p))
        for n in sorted(names):
            path = d + "/" + n
            if path in overlay and overlay[path] is None:
                continue
            if n in by_name:
                masked.append((path, by_name[n]))
                continue
            by_name[n] = path
    ordered = []
    for n in sorted(by_name, key=lambda s: s.encode("utf-8")):
        path = by_name[n]
        if path not in overlay and _is_null_or_empty(root + path):
            # A mask: disables this name everywhere.
            for i, (p, m) in enumerate(masked):
                if os.path.basename(p) == n:
                    masked[i] = (p, path)
            continue
        ordered.append((path, None))
    if applier == PROCPS:
        conf = PROCPS_CONF
        if conf in overlay:
            if overlay[conf] is not None:
                ordered.append((conf, None))
        elif os.path.isfile(root + conf):
            ordered.append((conf, None))
    return ordered + masked


def file_text(path, root="", overlay=None):
    overlay = overlay or {}
    if path in overlay:
        return overlay[path] or ""
    try:
        return _read(root + path)
    except OSError:
        return ""


def effective(applier, root="", overlay=None):
    """What the applier would set: {parts: (value, source_path, lineno)}."""
    final = {}
    for path, masked_by in list_files(applier, root, overlay):
        if masked_by is not None:
            continue
        for parts, value, _ignore, lineno in parse_conf(file_text(path, root, overlay)):
            if any(c in "".join(parts) for c in "*?["):
                continue  # globs never apply to keys assigned explicitly
            final[parts] = (value, path, lineno)
    return final


def masked_by(applier, path, root="", overlay=None):
    """The file that masks ``path`` for this applier, or None."""
    for p, m in list_files(applier, root, overlay):
        if p == path:
            return m
    return None


def reads_directory(applier, path):
    d = os.path.dirname(path)
    if applier == PROCPS and path == PROCPS_CONF:
        return True
    dirs = SYSTEMD_DIRS if applier == SYSTEMD else PROCPS_DIRS
    return d in dirs and path.endswith(".conf")


def detect_applier(root=""):
    """systemd-sysctl when systemd runs the host, procps otherwise."""
    if os.path.isdir(root + "/run/systemd/system"):
        return SYSTEMD
    return PROCPS
