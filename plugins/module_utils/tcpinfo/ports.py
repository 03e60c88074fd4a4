# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ephemeral range as connect() sees it (net/ipv4/inet_hashtables.c, __inet_hash_connect): a port in
ip_local_reserved_ports is skipped; a port whose bind bucket was made by bind() (explicit, port 0 before
connect(), a listener) is skipped for every destination; a port connect() itself took is shared by every
destination whose four-tuple stays unique (check_established); a port nobody holds is free.

A dump shows which ports are held, and which of them are bound for sure (listeners, bound-but-unconnected
sockets), but not whether a connected socket's port came from bind() or from connect(): the kernel does not
export a bind bucket's owner. One hint it does export: INET_DIAG_SOCKOPT (Linux 5.10+) carries the socket's
IP_BIND_ADDRESS_NO_PORT bit, and a connected socket with that bit got its port from connect() (inet_bind()
defers the port choice when it is set and the port asked is 0), so its port is no bind() port. A socket without
the bit may have either. When no usable port is free, one non-blocking connect() over loopback asks the kernel
itself (probe()).
"""

from __future__ import annotations

import errno
import socket

PROBE_ADDRESS = "127.0.0.1"
# Destination ports tried for the probe, the first with no listener is used (discard, echo, tcpmux).
PROBE_PORTS = (9, 7, 1)
HOLDERS_SHOWN = 5


def probe(listeners, address=PROBE_ADDRESS):
    """Ask the kernel whether connect() still finds a local port for a new destination: one non-blocking
    connect() to a loopback port with no listener, closed at once (the SYN meets a RST on loopback; nothing
    leaves the host, no TIME_WAIT is left). "EADDRNOTAVAIL" when automatic port choice failed, "ok" when
    it found a port, None when no probe port is free of listeners."""
    port = next((p for p in PROBE_PORTS if p not in listeners), None)
    if port is None:
        return None
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setblocking(False)
        s.connect((address, port))
    except OSError as e:
        if e.errno == errno.EADDRNOTAVAIL:
            return "EADDRNOTAVAIL"
    finally:
        s.close()
    return "ok"


def usable_held(agg, reserved):
    """(held, bound, connect_chosen): usable ports of the range held by any socket, those held through bind()
    for sure, and those connect() chose for sure (held with IP_BIND_ADDRESS_NO_PORT, by no bound socket)."""
    held = bound = chosen = 0
    low = agg.low
    for i, h in enumerate(agg.held):
        if h and (low + i) not in reserved:
            held += 1
            if agg.bound[i]:
                bound += 1
            elif agg.no_port[i]:
                chosen += 1
    return held, bound, chosen


def holders(agg, owners, entry):
    """Who holds the ports of the range: [{owner, pid, command, holders, ports}] with most ports first.
    entry(holders) -> the holder fields (report.holder_entry)."""
    by_inode = {}
    for port, inode in agg.port_inode.items():
        by_inode.setdefault(inode, []).append(port)
    owner_map = owners(list(by_inode))
    groups = {}
    for inode, ports in by_inode.items():
        hs = owner_map.get(inode) or ()
        key = tuple(h[0] for h in hs)
        g = groups.get(key)
        if g is None:
            g = groups[key] = dict(entry(hs), ports=0)
        g["ports"] += len(ports)
    out = sorted(groups.values(), key=lambda g: (-g["ports"], g["pid"] or 0))
    return out[:HOLDERS_SHOWN]


def range_state(agg, reserved, usable, owners, entry, port_probe=True, name_share=0.5, bound_visible=True):
    """What connect() can still take from the range, for any new destination.

    Without BOUND_VISIBLE (the /proc/net/tcp source, which lists no bound-but-unconnected socket) a port that looks
    free may be held through bind(): the kernel is asked (with port_probe) whatever the count says.
    """
    held, bound, chosen = usable_held(agg, reserved)
    free = max(usable - held, 0)
    listeners = sorted(p for p in agg.listeners if agg.low <= p <= agg.high and p not in reserved)
    verdict = None
    if port_probe and (free == 0 or not bound_visible):
        verdict = probe(agg.listeners)
    exhausted = True if verdict == "EADDRNOTAVAIL" else (False if (free and bound_visible) or verdict == "ok"
                                                         else None)
    if exhausted:
        bound = held  # no port connect() took is left to share: every held port came from bind()
        chosen = 0
    # The worst case for a new destination: every held port but those connect() surely chose came from bind().
    maybe_bound = held - chosen
    out = {"held": held, "free": free, "bound": bound, "connect_chosen": chosen,
           "held_share": round(float(held) / usable, 4) if usable > 0 else 1.0,
           "maybe_bound_share": round(float(maybe_bound) / usable, 4) if usable > 0 else 1.0,
           "left_if_bound": usable - maybe_bound, "listeners_in_range": listeners,
           "exhausted": exhausted, "probe": verdict, "holders": []}
    if usable > 0 and (free == 0 or float(held) / usable >= name_share):
        out["holders"] = holders(agg, owners, entry)
    return out
