# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One TCP socket as read from sock_diag or /proc/net/tcp, and its text forms.

Addresses stay bytes (16 of them, IPv4 in the first 4) until text is asked for.
"""

from __future__ import annotations

import socket

IPV4_LEN = 4
IPV6_LEN = 16


class Sock(object):
    """One socket from a dump. Addresses are kept as bytes; text on demand."""

    __slots__ = ("family", "state", "sport", "dport", "src", "dst", "inode", "uid", "sockid")

    def __init__(self, family, state, sport, dport, src, dst, inode, uid, sockid):
        self.family = family
        self.state = state
        self.sport = sport
        self.dport = dport
        self.src = src
        self.dst = dst
        self.inode = inode
        self.uid = uid
        self.sockid = sockid

    def tuple_text(self):
        return "%s -> %s" % (endpoint(self.family, self.src, self.sport), endpoint(self.family, self.dst, self.dport))


def addr_text(family, raw):
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:IPV4_LEN])
    return socket.inet_ntop(socket.AF_INET6, raw[:IPV6_LEN])


def endpoint(family, raw, port):
    a = addr_text(family, raw)
    return ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % (a, port)
