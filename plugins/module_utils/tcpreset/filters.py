# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's endpoint filters (local, remote): an address or network, a port
or port range, or both, parsed from text and matched against a socket's end.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset.request import ResetError

_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
_BRACKETED = re.compile(r"^\[([^\]]+)\](?::(.+))?$")
PORT_MAX = 65535
IPV4_LEN = 4
IPV6_LEN = 16
# An IPv4-mapped IPv6 network (::ffff:0:0/96) keeps the IPv4 prefix in its last 32 bits.
MAPPED_PREFIX = 96


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
        if family == socket.AF_INET:
            addr = ipaddress.IPv4Address(raw[:IPV4_LEN])
        else:
            addr = ipaddress.IPv6Address(raw[:IPV6_LEN])
            if addr.ipv4_mapped is not None and self.net.version == 4:
                addr = addr.ipv4_mapped
        return addr.version == self.net.version and addr in self.net


def _split(t, bad):
    """(address text, port text or None) of '[addr]:port', 'addr:port', ':port' or 'addr'."""
    if t.startswith("["):
        m = _BRACKETED.match(t)
        if not m:
            raise bad
        return m.group(1), m.group(2)
    if t.count(":") == 1:
        addr, ports = t.split(":")
        return addr, ports
    return t, None


def _port_range(option, text, ports, bad):
    m = _PORTS.match(ports)
    if not m:
        raise bad
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if not (0 < lo <= hi <= PORT_MAX):
        raise ResetError("%s: %r has a port range outside 1..65535 or low above high" % (option, text))
    return lo, hi


def _network(option, text, addr, bad):
    if "%" in addr:
        raise ResetError("%s: %r names a zone (%s); a filter matches addresses on every interface, so it would "
                         "match this address on other links too. Give it without the zone if that is meant"
                         % (option, text, addr.split("%", 1)[1]))
    try:
        net = ipaddress.ip_network(addr, strict=False)
    except ValueError:
        raise bad
    mapped = net.network_address.ipv4_mapped if net.version == 6 and net.prefixlen >= MAPPED_PREFIX else None
    if mapped is not None:
        # ::ffff:a.b.c.d is the IPv4 host: match its IPv4 sockets and its IPv4-mapped IPv6 sockets alike.
        net = ipaddress.ip_network("%s/%d" % (mapped, net.prefixlen - MAPPED_PREFIX))
    return net


def parse_spec(option, text):
    """'10.0.0.0/8', '10.0.0.5', '10.0.0.5:8080', ':8000-8100', '[::1]:80', '::1'."""
    t = str(text).strip()
    bad = ResetError("%s: %r is not an address, a network (CIDR), :port, :low-high or address:port" % (option, text))
    addr, ports = _split(t, bad)
    lo = hi = None
    if ports is not None:
        lo, hi = _port_range(option, text, ports, bad)
    net = None
    if addr:
        net = _network(option, text, addr, bad)
    elif ports is None:
        raise bad
    return Spec(t, net, lo, hi)
