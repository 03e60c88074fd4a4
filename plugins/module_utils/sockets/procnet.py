# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TCP sockets from /proc/net/tcp and tcp6: the fallback where netlink
sock_diag is unavailable, and the listening ports tcp_sysctl's port range
rule checks.
"""

from __future__ import annotations

import os
import socket
import sys

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import record
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st

# Columns of a /proc/net/tcp line (net/ipv4/tcp_ipv4.c get_tcp4_sock):
# sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
COL_LOCAL = 1
COL_REMOTE = 2
COL_STATE = 3
COL_UID = 7
COL_INODE = 9
MIN_COLUMNS = COL_INODE + 1
# Hex digits of one 32-bit address word.
WORD_DIGITS = 8
WORD_BYTES = 4
IPV6_PAD = record.IPV6_LEN - record.IPV4_LEN


def _proc_addr(text, family, byteorder=sys.byteorder):
    """/proc/net/tcp prints each 32-bit word of the address (network order in
    memory) as a host-order integer in hex (net/ipv4/tcp_ipv4.c get_tcp4_sock,
    "%08X" of a __be32): pack each word back in host order."""
    words = [int(text[i:i + WORD_DIGITS], 16).to_bytes(WORD_BYTES, byteorder)
             for i in range(0, len(text), WORD_DIGITS)]
    raw = b"".join(words)
    return raw + b"\0" * IPV6_PAD if family == socket.AF_INET else raw


def parse_proc_line(line, family, byteorder=sys.byteorder):
    f = line.split()
    if len(f) < MIN_COLUMNS or ":" not in f[COL_LOCAL]:
        return None
    la, lp = f[COL_LOCAL].split(":")
    ra, rp = f[COL_REMOTE].split(":")
    return record.Sock(family, int(f[COL_STATE], 16), int(lp, 16), int(rp, 16), _proc_addr(la, family, byteorder),
                       _proc_addr(ra, family, byteorder), int(f[COL_INODE]), int(f[COL_UID]), None)


def dump_proc(handler, states, proc_root="/proc"):
    """Hand every socket in ``states`` (bitmask) to handler(Sock), IPv4 then IPv6."""
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            f = open(os.path.join(proc_root, "net", name))
        except OSError:
            continue
        with f:
            next(f, None)
            for line in f:
                s = parse_proc_line(line, family)
                if s is not None and states & (1 << s.state):
                    handler(s)


def listening_ports(proc_root="/proc"):
    """{port: inode} for TCP sockets in LISTEN, IPv4 and IPv6 (/proc/net/tcp*)."""
    ports = {}

    def keep(sock):
        ports.setdefault(sock.sport, sock.inode)

    dump_proc(keep, st.state_mask(["listen"]), proc_root)
    return ports
