# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The logic of kerneltune.tcp.tcp_reset: filters, selection, safety.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils import sockdiag

DESTROYABLE_STATES = ("time_wait", "close_wait", "established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",
                      "last_ack", "closing")
_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


class ResetError(Exception):
    def __init__(self, message):
        super(ResetError, self).__init__(message)
        self.message = message


class Spec(object):
    """One endpoint filter: an address or network, a port or port range, or both."""

    __slots__ = ("text", "net", "lo", "hi")

    def __init__(self, text, net, lo, hi):
        self.text = text
        self.net = net
        self.lo = lo
        self.hi = hi

    def matches(self, family, raw, port):
        if self.lo is not None and not self.lo <= port <= self.hi:
            return False
        if self.net is None:
            return True
        # An IPv4-mapped address matches an IPv4 filter as IPv4, and an IPv6
        # filter (::ffff:10.0.0.5) as the IPv6 address it is.
        addr = sockdiag.unmapped(family, raw) if self.net.version == 4 else ipaddress.ip_address(
            raw[:4] if family == socket.AF_INET else raw[:16])
        return addr.version == self.net.version and addr in self.net


def parse_spec(option, text):
    """'10.0.0.0/8', '10.0.0.5', '10.0.0.5:8080', ':8000-8100', '[::1]:80', '::1'."""
    t = str(text).strip()
    bad = ResetError("%s: %r is not an address, a network (CIDR), :port, :low-high or address:port" % (option, text))
    addr, ports = t, None
    if t.startswith("["):
        m = re.match(r"^\[([^\]]+)\](?::(.+))?$", t)
        if not m:
            raise bad
        addr, ports = m.group(1), m.group(2)
    elif t.count(":") == 1:
        addr, ports = t.split(":")
    lo = hi = None
    if ports is not None:
        m = _PORTS.match(ports)
        if not m:
            raise bad
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if not (0 < lo <= hi <= 65535):
            raise ResetError("%s: %r has a port range outside 1..65535 or low above high" % (option, text))
    net = None
    if addr:
        try:
            net = ipaddress.ip_network(addr, strict=False)
        except ValueError:
            raise bad
    elif ports is None:
        raise bad
    return Spec(t, net, lo, hi)


def ssh_tuple(env_value):
    """(local_addr, local_port, remote_addr, remote_port) from SSH_CONNECTION, or None."""
    parts = (env_value or "").split()
    if len(parts) != 4:
        return None
    try:
        client, cport, server, sport = ipaddress.ip_address(parts[0]), int(parts[1]), \
            ipaddress.ip_address(parts[2]), int(parts[3])
    except ValueError:
        return None
    return (server, sport, client, cport)


def is_protected(sock, ssh):
    if ssh is None:
        return False
    return (sock.sport == ssh[1] and sock.dport == ssh[3] and sockdiag.unmapped(sock.family, sock.src) == ssh[0]
            and sockdiag.unmapped(sock.family, sock.dst) == ssh[2])


def validate(states, local, remote, pid, process, all_sockets):
    if not states:
        raise ResetError("states: at least one state is required")
    if "listen" in states:
        raise ResetError("states: listen is refused: destroying a listening socket stops the service")
    for s in states:
        if s not in DESTROYABLE_STATES:
            raise ResetError("states: unknown state %r; choose from %s" % (s, ", ".join(DESTROYABLE_STATES)))
    if not (local or remote or pid or process) and not all_sockets:
        raise ResetError("at least one of local, remote, pid or process is required; set all: true to match every "
                         "socket in the given states")
    if (pid or process) and states == ["time_wait"]:
        raise ResetError("pid and process match nothing in TIME_WAIT: those sockets belong to no process any more")


class Selector(object):
    """Streaming filter: keeps only the sockets to destroy."""

    def __init__(self, local, remote, family, ssh):
        self.local = local
        self.remote = remote
        self.families = {"ipv4": (socket.AF_INET,), "ipv6": (socket.AF_INET6,),
                         "both": (socket.AF_INET, socket.AF_INET6)}[family]
        self.ssh = ssh
        self.matched = []
        self.protected = []

    def __call__(self, s):
        if s.state == 10:  # never LISTEN, whatever the kernel returned
            return
        if self.local and not any(sp.matches(s.family, s.src, s.sport) for sp in self.local):
            return
        if self.remote and not any(sp.matches(s.family, s.dst, s.dport) for sp in self.remote):
            return
        if is_protected(s, self.ssh):
            self.protected.append(s)
            return
        self.matched.append(s)


def by_owner(socks, pid, process, owners=None):
    """Keep the sockets held by the given pid or command name."""
    found = (owners or sockdiag.owners)([s.inode for s in socks])
    keep = []
    for s in socks:
        o = found.get(s.inode)
        if o is None:
            continue
        if pid and o[0] != pid:
            continue
        if process and o[1] != process:
            continue
        keep.append(s)
    return keep, found


def kernel_refusal(states, support, release):
    """Why this host cannot do the job, or None."""
    if not support["supported"]:
        return ("cannot destroy sockets on this host: %s. Instead: restart the application that owns them, or for "
                "TIME_WAIT wait (it ends by itself after 60 s); this module never forges packets"
                % support["reason"])
    if "time_wait" in states and not sockdiag.time_wait_destroyable(release):
        return ("TIME_WAIT sockets cannot be destroyed on Linux %s (the kernel supports it from 6.0); they end by "
                "themselves after 60 s. To stop them piling up, apply the high_outbound_client profile "
                "(tcp_tw_reuse=1) or pool connections" % release)
    return None
