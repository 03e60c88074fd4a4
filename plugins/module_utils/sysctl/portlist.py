# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Port-list text (net.ipv4.ip_local_reserved_ports) and the kernel's integer text under it.

The kernel reads a port list with proc_do_large_bitmap, each number with
proc_get_long (strtoul, base 0): "020000" is port 8192. parse_kint is that
reading, for one number; expand and compact turn "8080,8081, 9000" into a set
of ports and back ("8080-8081,9000").

Imports nothing from the collection: tcp_info uses it without the planner.
Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import re

# The largest port number (a u16, include/uapi/linux/in.h sockaddr_in.sin_port).
PORT_MAX = 65535
_KINT_RE = re.compile(r"^(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$")


def parse_kint(token):
    """An integer the way the kernel parses it (proc_get_long: strtoul, base 0), or None.

    '010' is 8, '0x10' is 16, '08' and '+5' are refused.
    """
    m = _KINT_RE.match(token)
    if not m:
        return None
    digits = m.group(2)
    if digits[:2] in ("0x", "0X"):
        v = int(digits[2:], 16)
    elif digits.startswith("0") and len(digits) > 1:
        v = int(digits[1:], 8)
    else:
        v = int(digits)
    return -v if m.group(1) else v


def _port(token):
    # proc_do_large_bitmap reads each number with proc_get_long (base 0): "020000" is 8192.
    v = parse_kint(token)
    if v is None or not 0 <= v <= PORT_MAX:
        raise ValueError(token)
    return v


def expand(text):
    """The set of ports a port list names; ValueError on a word that is not a port."""
    ports = set()
    for chunk in text.replace(" ", "").split(","):
        if not chunk:
            continue
        if "-" in chunk:
            lo, hi = chunk.split("-", 1)
            ports.update(range(_port(lo), _port(hi) + 1))
        else:
            ports.add(_port(chunk))
    return ports


def compact(ports):
    """Ports as the shortest port list: "8080-8081,9000"."""
    out = []
    for p in sorted(ports):
        if out and out[-1][1] == p - 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in out)


def reserved_ports(text):
    """The ports a port list names; an empty set when it is empty or not a port list."""
    try:
        return expand(text or "")
    except ValueError:
        return set()
