# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Addresses as tcp_info counts them: IPv4 (also IPv4-mapped IPv6) as 4 bytes,
IPv6 as 16, loopback tests and their text.
"""

from __future__ import annotations

import socket

IPV4_LEN = 4
IPV6_LEN = 16
# ::ffff:a.b.c.d (RFC 4291 2.5.5.2): 10 zero bytes, two 0xff, then the IPv4 address.
MAPPED = b"\0" * 10 + b"\xff\xff"
MAPPED_LEN = len(MAPPED)
LOOP6 = b"\0" * 15 + b"\1"
LOOPBACK_NET4 = 127
ANY4 = b"\0" * IPV4_LEN
ANY6 = b"\0" * IPV6_LEN


def norm(fam, raw):
    """An address as 4 bytes (IPv4, including IPv4-mapped IPv6) or 16 bytes."""
    if fam == socket.AF_INET:
        return raw[:IPV4_LEN]
    if raw[:MAPPED_LEN] == MAPPED:
        return raw[MAPPED_LEN:IPV6_LEN]
    return raw[:IPV6_LEN]


def is_loopback(raw):
    return raw[0] == LOOPBACK_NET4 if len(raw) == IPV4_LEN else raw == LOOP6


def text(raw):
    return socket.inet_ntop(socket.AF_INET if len(raw) == IPV4_LEN else socket.AF_INET6, raw)


def endpoint_text(raw, port):
    """address:port, [address]:port for IPv6."""
    return ("[%s]:%d" if len(raw) == IPV6_LEN else "%s:%d") % (text(raw), port)
