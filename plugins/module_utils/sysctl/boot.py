# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Model of the boot-time sysctl appliers: what each sets for a key.

Two appliers exist and they read the same files differently. What follows was
read in systemd's src/sysctl/sysctl.c (v247, v252, v257) and procps-ng's
sysctl.c (3.3.17, 4.0.2, 4.0.4) and checked against the Debian binaries of
bullseye, bookworm and trixie in fresh network namespaces
(molecule/sysctl_precedence):

* systemd-sysctl reads ``sysctl.d/*.conf`` from /etc, /run, /usr/local/lib and
  /usr/lib (and /lib when built with split-usr, before v255). Hidden files are
  skipped. A file name in an earlier directory masks the same name in later
  ones (a symlink to /dev/null disables the name). All lines go into one
  ordered table keyed by the key or glob: a later assignment replaces the entry
  and moves it to the end, an identical repeat keeps its place. ``-key`` without
  ``=`` is an entry with no value: the key is not set at all. A value the kernel
  refuses leaves the key as it was (the table holds one value per key). A glob
  writes every matching key that has no entry of its own in the table.
  /etc/sysctl.conf is read only through a 99-sysctl.conf symlink.
* procps ``sysctl --system`` reads the same directories plus /lib/sysctl.d
  (before 3.3.17 /run/sysctl.d comes before /etc/sysctl.d), hidden files
  included, keeps the first file of each name, applies them in name order, then
  /etc/sysctl.conf last. It writes line by line, so a refused value leaves the
  earlier one in place. From 4.0 a glob writes every matching key that is not
  named explicitly anywhere (``-key`` without ``=`` names a key only to keep it
  out of globs); 3.3.x ignores globs and ``-key`` lines.

Stdlib only: this runs on the managed host.
"""
from __future__ import annotations

import fnmatch
import os
import re
import subprocess

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import conf
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import paths

SYSTEMD_DIRS = paths.SYSTEMD_DIRS
PROCPS_DIRS = paths.READ_DIRS
PROCPS_CONF = paths.PROCPS_CONF
# Before procps 3.3.17, /run/sysctl.d comes before /etc/sysctl.d.
PROCPS_OLD_DIRS = (paths.READ_DIRS[1], paths.READ_DIRS[0]) + paths.READ_DIRS[2:]
PROCPS_RUN_FIRST_BEFORE = (3, 3, 17)
# systemd reads /lib/sysctl.d (split-usr builds) before v255.
SYSTEMD_SPLIT_USR_BEFORE = (255,)
# procps reads globs from 4.0.
PROCPS_GLOBS_FROM = (4,)

SYSTEMD = "systemd-sysctl"
PROCPS = "procps"
IPV4_CONF = ("net", "ipv4", "conf")
# net/ipv4/devinet.c: net.ipv4.conf.* entries a write to "default" is not copied from (see _inherit_default).
IPV4_CONF_NOT_COPIED = frozenset(("forwarding", "mc_forwarding", "disable_xfrm", "disable_policy",
                                  "promote_secondaries", "route_localnet", "drop_unicast_in_l2_multicast"))


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


def parse_version(text):
    """(major, minor, ...) from `systemd-sysctl --version` or `sysctl --version` output, or None."""
    m = re.search(r"procps-ng\)?\s+(?:version\s+)?(\d+(?:\.\d+)*)", text or "") or \
        re.search(r"systemd\s+(\d+)", text or "")
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


# What the model assumes when the applier's binary cannot be asked.
DEFAULT_VERSION = {SYSTEMD: (257,), PROCPS: (4, 0, 4)}


def version_text(applier, version):
    return "%s %s" % (applier, ".".join(str(v) for v in version)) if version else applier


def directories(applier, version=None, root=""):
    """The directories an applier reads, in priority order."""
    version = tuple(version or DEFAULT_VERSION[applier])
    if applier == SYSTEMD:
        dirs = list(SYSTEMD_DIRS)
        # split-usr builds before v255 also read /lib; on a merged /usr it is /usr/lib.
        if version < SYSTEMD_SPLIT_USR_BEFORE and os.path.isdir(root + "/lib/sysctl.d") \
                and not os.path.islink(root + "/lib"):
            dirs.append("/lib/sysctl.d")
        return tuple(dirs)
    if version < PROCPS_RUN_FIRST_BEFORE:
        return PROCPS_OLD_DIRS
    return PROCPS_DIRS


def conf_names(d, root="", overlay=None):
    """The *.conf names in directory D (under ROOT), with OVERLAY's files ({path: text or None}) added or removed."""
    names = set()
    if os.path.isdir(root + d):
        names.update(n for n in os.listdir(root + d) if n.endswith(".conf"))
    for p, text in (overlay or {}).items():
        if os.path.dirname(p) == d:
            if text is None:
                names.discard(os.path.basename(p))
            else:
                names.add(os.path.basename(p))
    return names


def list_files(applier, root="", overlay=None, version=None):
    """The files an applier reads, in the order it applies them.

    root: prefix for every directory (tests use a temporary tree).
    overlay: {path: text-or-None}; a path with text is treated as present
    with that content (even if absent on disk), None as absent. Paths in the
    overlay are real paths (without root).
    Returns a list of (path, masked_by) where masked_by is None for applied
    files; masked entries are returned too so callers can explain them.
    """
    overlay = overlay or {}
    dirs = directories(applier, version, root)
    by_name = {}
    masked = []
    for d in dirs:
        for n in sorted(conf_names(d, root, overlay)):
            if applier == SYSTEMD and n.startswith("."):
                continue  # systemd skips hidden files; procps reads them
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


def glob_matches(pattern, parts):
    """glob(3) on /proc/sys: each path component matched on its own."""
    return len(pattern) == len(parts) and all(fnmatch.fnmatchcase(k, p) for p, k in zip(pattern, parts))


def _accept(valid, parts, value):
    if value is None:
        return None
    if valid is None:
        return value if value.strip() else None
    return valid(parts, value)


def effective(applier, root="", overlay=None, version=None, keys=(), valid=None):
    """What the applier would set: {parts: (value, source_path, lineno)}.

    keys: the keys (parts) that globs are evaluated for (globs only reach keys
    that exist; the caller names the ones it cares about).
    valid(parts, value): the value as the kernel would store it, or None when
    the kernel refuses it. Without it, any non-empty value is accepted.

    value is None in the result when the last word of the applier on the key
    leaves the running value alone (systemd: a ``-key`` line or a refused value);
    the source then names the file that did it.
    """
    version = tuple(version or DEFAULT_VERSION[applier])
    entries = []  # (parts, value, ignore, path, lineno), in application order
    for path, masked_by_ in list_files(applier, root, overlay, version):
        if masked_by_ is not None:
            continue
        for parts, value, ignore, lineno in conf.parse_conf(file_text(path, root, overlay)):
            entries.append((parts, value, ignore, path, lineno))
    if applier == SYSTEMD:
        final = _systemd_final(entries, set(keys), valid)
    else:
        final = _procps_final(entries, set(keys), valid, version >= PROCPS_GLOBS_FROM)
    return _inherit_default(final, keys)


def _inherit_default(final, keys):
    """The kernel's part: a write to net.ipv4.conf.default.X is copied to every interface whose own X was never
    written (net/ipv4/devinet.c: devinet_conf_proc() marks a written entry in cnf.state, devinet_copy_dflt_conf()
    copies the default to the unmarked ones; an interface made later starts from the default as well). So
    net.ipv4.conf.lo.X, left alone by every file (procps 3.3 ignores globs; systemd's ``-key`` writes nothing),
    boots with the default's value, from the default's line. Entries with another handler are not copied:
    forwarding (devinet_sysctl_forward) and the DEVINET_SYSCTL_FLUSHING_ENTRY ones (ipv4_doint_and_flush).
    Not modelled: a refused value written to the interface itself also marks it."""
    for k in keys:
        if len(k) != 5 or k[:3] != IPV4_CONF or k[3] in ("all", "default") or k[4] in IPV4_CONF_NOT_COPIED:
            continue
        own = final.get(k)
        if own is not None and own[0] is not None:
            continue
        dflt = final.get(IPV4_CONF + ("default", k[4]))
        if dflt is not None and dflt[0] is not None:
            final[k] = dflt
    return final


def definitions(applier, root="", overlay=None, version=None, keys=(), valid=None):
    """Every explicit line that sets one of KEYS (parts) to a value the kernel accepts, in the files the applier
    reads (masked files left out), in the order it applies them: {parts: [(value, path, lineno), ...]}.

    Globs and ``-key`` lines without a value are left out: they name no value of their own for the key.
    effective() says which of these wins; the others are the key's shadowed definitions.
    """
    wanted = set(keys)
    out = {}
    for path, masked_by_ in list_files(applier, root, overlay, version):
        if masked_by_ is not None:
            continue
        for parts, value, _ignore, lineno in conf.parse_conf(file_text(path, root, overlay)):
            if parts not in wanted or conf.is_glob(parts):
                continue
            ok = _accept(valid, parts, value)
            if ok is not None:
                out.setdefault(parts, []).append((ok, path, lineno))
    return out


def _systemd_final(entries, keys, valid):
    """systemd-sysctl: one ordered table of keys and globs; a glob reaches keys without an entry of their own."""
    final = {}
    table = {}  # insertion-ordered in Python >= 3.7
    for parts, value, _ignore, path, lineno in entries:
        old = table.get(parts)
        if old is not None and old[0] == value:
            continue
        table.pop(parts, None)
        table[parts] = (value, path, lineno)
    for parts, (value, path, lineno) in table.items():
        if not conf.is_glob(parts):
            ok = _accept(valid, parts, value)
            final[parts] = (ok, path, lineno)
            continue
        if value is None:
            continue
        for k in keys:
            if k in table or not glob_matches(parts, k):
                continue
            ok = _accept(valid, k, value)
            if ok is not None:
                final[k] = (ok, path, lineno)
    return final


def _procps_final(entries, keys, valid, globs_work):
    """procps: line by line; a glob (4.0+) reaches keys no line names explicitly."""
    final = {}
    explicit = set(p for p, _v, _i, _pa, _l in entries if not conf.is_glob(p))
    for parts, value, _ignore, path, lineno in entries:
        if value is None:
            continue  # procps: "-key" only keeps the key out of globs
        if conf.is_glob(parts):
            if not globs_work:
                continue
            targets = [k for k in keys if k not in explicit and glob_matches(parts, k)]
        else:
            targets = [parts]
        for k in targets:
            ok = _accept(valid, k, value)
            if ok is not None:
                final[k] = (ok, path, lineno)
    return final


def masked_by(applier, path, root="", overlay=None, version=None):
    """The file that masks ``path`` for this applier, or None."""
    for p, m in list_files(applier, root, overlay, version):
        if p == path:
            return m
    return None


def reads_directory(applier, path, version=None, root=""):
    d = os.path.dirname(path)
    if applier == PROCPS and path == PROCPS_CONF:
        return True
    if applier == SYSTEMD and os.path.basename(path).startswith("."):
        return False
    return d in directories(applier, version, root) and path.endswith(".conf")


def detect_applier(root=""):
    """systemd-sysctl when systemd runs the host, procps otherwise."""
    if os.path.isdir(root + "/run/systemd/system"):
        return SYSTEMD
    return PROCPS


# Seconds an applier's --version may take.
VERSION_TIMEOUT = 5
APPLIER_COMMANDS = {
    SYSTEMD: (("/usr/lib/systemd/systemd-sysctl", "--version"), ("/lib/systemd/systemd-sysctl", "--version")),
    PROCPS: (("/usr/sbin/sysctl", "--version"), ("/sbin/sysctl", "--version")),
}


def detect_version(applier, root="", timeout=VERSION_TIMEOUT):
    """The version of the applier's binary on this host, or None (then DEFAULT_VERSION is modelled)."""
    if root:
        return None
    for argv in APPLIER_COMMANDS[applier]:
        if not os.path.exists(argv[0]):
            continue
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                               env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        except (OSError, subprocess.SubprocessError):
            continue
        v = parse_version(p.stdout.decode("utf-8", "replace"))
        if v:
            return v
    return None
