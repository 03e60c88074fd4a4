# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The managed file's text, and the order the running values are written in.

HEADER marks a file as ours (is_ours); render and render_file give the file's
text, with each bound in a comment line above its key that file_bounds reads
back (every run knows every kerneltune file's bounds); write_order orders
runtime writes so the kernel accepts each step; read_file, file_keys and
without_bounded read a file back.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import conf
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values

HEADER = (
    "# Managed by Ansible (kerneltune.tcp.tcp_sysctl). Do not edit: changes here are\n"
    "# overwritten on the next run. Put local settings in a file that sorts later\n"
    "# and the audit will report it as an override.\n"
)

# A bound's comment line: "# kerneltune.tcp bound: net.core.somaxconn min=8192" (the fields in order).
BOUND_COMMENT = "# kerneltune.tcp bound: "
_FIELD_ORDER = ("low_min", "low_max", "high_min", "high_max", "min", "max")

# The kernel's boot-time default low port the appliers start from
# (net/ipv4/af_inet.c inet_init_net: ip_local_ports.range 32768 60999).
DEFAULT_PORT_LOW = 32768


def is_ours(text):
    """Whether a file's TEXT is a kerneltune.tcp file (starts with HEADER's first line)."""
    return (text or "").startswith(HEADER.split("\n", 1)[0] + "\n")


def bound_line(key, b):
    """The comment line that records bound B of KEY in our file."""
    return "%s%s %s\n" % (BOUND_COMMENT, key, " ".join("%s=%d" % (f, b[f]) for f in sorted(b, key=_FIELD_ORDER.index)))


def file_bounds(text):
    """{key: {field: int}} from the bound comment lines of a file's TEXT; a line that is not one is skipped."""
    out = {}
    for line in (text or "").splitlines():
        if not line.startswith(BOUND_COMMENT):
            continue
        words = line[len(BOUND_COMMENT):].split()
        try:
            key = keys.parse_key(words[0])[0]
            b = dict((f, int(v, 10)) for f, v in (w.split("=", 1) for w in words[1:]))
        except (IndexError, ValueError, keys.KeyNameError):
            continue
        if b:
            out[key] = b
    return out


def without_bounded(text):
    """TEXT without its bound comments and the assignments of the keys they bound (a plain value stays)."""
    bounded = file_bounds(text)
    kept = []
    for line in (text or "").splitlines(True):
        if line.startswith(BOUND_COMMENT):
            continue
        parsed = conf.parse_conf(line)
        if parsed and keys.canonical_key(parsed[0][0]) in bounded:
            continue
        kept.append(line)
    return "".join(kept)


def _bounded_lines(lines, key):
    """Indexes of KEY's assignments in LINES when the file holds a bound comment for KEY, else [].

    Every assignment of a bounded key is its bounded line, wherever it stands (as render writes it, right below the
    comment; an operator may have put a line between them): without_bounded leaves them all out, and a rewrite
    changes them all, so the two never disagree.
    """
    if not any(line.startswith(BOUND_COMMENT) and key in file_bounds(line) for line in lines):
        return []
    out = []
    for i, line in enumerate(lines):
        parsed = None if line.startswith(BOUND_COMMENT) else conf.parse_conf(line)
        if parsed and parsed[0][1] is not None and keys.canonical_key(parsed[0][0]) == key:
            out.append(i)
    return out


def rewrite_bounded(text, key, value):
    """TEXT with KEY's bounded lines set to VALUE; TEXT as it is when it holds no bound comment for KEY.

    A value another file pinned exactly (no bound line for KEY) is never rewritten.
    """
    lines = (text or "").splitlines(True)
    for i in _bounded_lines(lines, key):
        lines[i] = "%s = %s\n" % (key, value)
    return "".join(lines)


def bounded_value(text, key):
    """KEY's value in TEXT (its last assignment, the one the file sets) when TEXT bounds KEY, or None."""
    lines = (text or "").splitlines(True)
    found = _bounded_lines(lines, key)
    return conf.parse_conf(lines[found[-1]])[0][1] if found else None


def render(file_values, bounds=None):
    """The managed file: header, then one `key = value` line per key, sorted.

    A bounded key (BOUNDS: {key: bound}) has its bound in a comment line just above it.

    Both appliers write in file order, starting from the kernel's defaults
    (ip_unprivileged_port_start 1024, ip_local_port_range 32768 60999), and the
    kernel refuses a range whose low port is below ip_unprivileged_port_start.
    So ip_unprivileged_port_start comes before ip_local_port_range unless it
    rises above the default low port, in which case the range goes first.
    """
    names = sorted(file_values)
    if keys.PORT_RANGE in names and keys.UNPRIV in names:
        names.remove(keys.UNPRIV)
        start = values.parse_kint(str(file_values[keys.UNPRIV]).strip())
        at = names.index(keys.PORT_RANGE) + (1 if start is not None and start > DEFAULT_PORT_LOW else 0)
        names.insert(at, keys.UNPRIV)
    lines = [HEADER]
    for key in names:
        if bounds and key in bounds:
            lines.append(bound_line(key, bounds[key]))
        lines.append("%s = %s\n" % (key, file_values[key]))
    return "".join(lines)


def render_file(active, skipped, bounds=None):
    """Stage 4a, the file's new text.

    Values are already whitespace-normalised; numbers are written as the kernel
    shows them. The reserved-ports list is kept as the user wrote it. A key
    allowed to stay read-only (allow: [read_only]) stays out of the file too.
    """
    file_values = {k: v if k == keys.RESERVED else values.normalize(k, v) for k, v in active.items()
                   if skipped.get(k) != "read_only"}
    return render(file_values, bounds)


def write_order(changes, desired, runtime):
    """Order runtime writes so the kernel accepts each step.

    The port range must stay at or above ip_unprivileged_port_start: when that
    rises, write the range first; when it falls, write it last.
    """
    changes = sorted(changes, key=lambda c: c[0])
    names = [c[0] for c in changes]
    if keys.PORT_RANGE in names and keys.UNPRIV in names:
        try:
            rising = int(desired[keys.UNPRIV]) > int(runtime.get(keys.UNPRIV) or 0)
        except ValueError:
            rising = True
        pr = [c for c in changes if c[0] == keys.PORT_RANGE]
        rest = [c for c in changes if c[0] != keys.PORT_RANGE]
        if rising:
            changes = pr + rest
        else:
            ui = [i for i, c in enumerate(rest) if c[0] == keys.UNPRIV][0]
            changes = rest[:ui + 1] + pr + rest[ui + 1:]
    return changes


def read_file(path, boot_root=""):
    """Our file's text, or None when it does not exist."""
    try:
        with open(boot_root + path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _assignments(text):
    """(key, parts, value) of the plain (not glob, not "-key") assignments in a file's text, in order."""
    for parts, value, _ignore, _lineno in conf.parse_conf(text or ""):
        if value is not None and not conf.is_glob(parts):
            yield keys.canonical_key(parts), parts, value


def file_values(text):
    """{key: value} of the plain assignments in a file's text (the last of a repeated key)."""
    return dict((key, value) for key, _parts, value in _assignments(text))


def file_keys(text):
    """{key: parts} of the plain (not glob, not "-key") assignments in a file's text."""
    return dict((key, parts) for key, parts, _value in _assignments(text))
