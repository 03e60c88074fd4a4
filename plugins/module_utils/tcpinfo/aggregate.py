# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's aggregation: a stream of sockets folded into counts with bounded
memory, from Sock objects or straight from raw netlink replies.
"""

from __future__ import annotations

import heapq
import socket
import struct
import sys

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import addresses

SAMPLE_CAP = 1000  # CLOSE_WAIT tuples kept as text in the dump; holders left without one get a second pass
QUEUE_SAMPLE = 5  # tuples kept per accept queue
TOP_CAP = 2048
# inet_diag_msg's tail (expires, rqueue, wqueue, uid, inode) from the start of a netlink message.
DIAG_TAIL = netlink.NLMSG_HDRLEN + netlink.MSG_TAIL_AT
DIAG_INODE = DIAG_TAIL + 4 * netlink.TAIL_INODE
INODE = struct.Struct("=I")
# Netlink attributes after inet_diag_msg (struct nlattr: length, type). INET_DIAG_SOCKOPT (include/uapi/linux/
# inet_diag.h, Linux 5.10+) carries struct inet_diag_sockopt, put for every full socket by
# net/ipv4/inet_diag.c inet_diag_msg_attrs_fill(); bind_address_no_port is the first bit of its second byte
# (u8 bitfields: least significant bit first on little-endian, most significant on big-endian).
NLA_HDR = struct.Struct("=HH")
NLA_TYPE_MASK = 0x3FFF
INET_DIAG_SOCKOPT = 22
DIAG_ATTRS = netlink.NLMSG_HDRLEN + netlink.MSG_LEN
NO_PORT_BIT = 0x01 if sys.byteorder == "little" else 0x80


def bind_address_no_port(data, off, length):
    """IP_BIND_ADDRESS_NO_PORT of the socket in the netlink message at ``off``: True or False from
    INET_DIAG_SOCKOPT, None when the kernel sent no such attribute (before 5.10, TIME_WAIT and request sockets)."""
    p, end = off + DIAG_ATTRS, off + length
    unpack = NLA_HDR.unpack_from
    while p + NLA_HDR.size <= end:
        alen, atype = unpack(data, p)
        if alen < NLA_HDR.size:
            return None
        if atype & NLA_TYPE_MASK == INET_DIAG_SOCKOPT:
            return alen >= NLA_HDR.size + 2 and bool(data[p + NLA_HDR.size + 1] & NO_PORT_BIT)
        p += (alen + 3) & ~3
    return None


class TopCounter(object):
    """Counts with bounded memory (Misra-Gries in batches): at most 2 x cap
    keys are kept; when more come, the (cap+1)-th largest count is taken off
    every key and the keys at zero dropped. Exact while there are at most
    2 x cap distinct keys; otherwise every count is low by at most ``error``,
    and any key with more than total / cap sockets is kept."""

    __slots__ = ("cap", "data", "error")

    def __init__(self, cap=TOP_CAP):
        self.cap = cap
        self.data = {}
        self.error = 0

    def add(self, key, n=1):
        d = self.data
        d[key] = d.get(key, 0) + n
        if len(d) > 2 * self.cap:
            self.prune()

    def prune(self):
        t = heapq.nlargest(self.cap + 1, self.data.values())[-1]
        self.error += t
        self.data = dict((k, v - t) for k, v in self.data.items() if v > t)

    def items(self):
        return self.data.items()

    def get(self, key, default=0):
        return self.data.get(key, default)


class Aggregator(object):
    """Folds a stream of sockets into counts; memory is bounded by the
    TopCounter caps and the sample cap, never by the number of sockets or
    of distinct destinations."""

    def __init__(self, port_range, cap=TOP_CAP):
        self.low, self.high = port_range
        self.counts = {}
        self.listeners = set()
        self.listen_socks = {}  # (local address, port) -> inode
        self.tw_total = 0
        self.tw_inbound = 0
        self.tw_out_loopback = 0
        self.tw_remote = TopCounter(cap)
        self.tw_local = {}
        # Ports in use per (source, destination, destination port); TIME_WAIT apart.
        self.dest = TopCounter(cap)
        self.dest_tw = TopCounter(cap)
        self.cw_total = 0
        self.cw_inodes = {}  # inode -> socket uid
        self.cw_sample = {}
        self.cw_queue = {}  # (local address, port) -> [count, sample]
        # Local ports of the ephemeral range held by any socket, by a bind() the dump can see (listeners,
        # bound-but-unconnected sockets), and one socket inode per port to name who holds it.
        self.held = bytearray(max(self.high - self.low + 1, 0))
        self.bound = bytearray(len(self.held))
        self.port_inode = {}
        # Ports held by a connected socket with IP_BIND_ADDRESS_NO_PORT (INET_DIAG_SOCKOPT): connect() chose them,
        # bind() did not; only the raw netlink path reads it.
        self.no_port = bytearray(len(self.held))
        self.listen_queue = {}  # (local address, port) -> (queued, backlog) for listeners with a queue now

    def _hold(self, sport, inode, bound=False):
        i = sport - self.low
        if 0 <= i < len(self.held):
            self.held[i] = 1
            if bound:
                self.bound[i] = 1
            if inode and sport not in self.port_inode:
                self.port_inode[sport] = inode

    def _listen(self, src, sport, inode, queued=None, backlog=None):
        self.listeners.add(sport)
        self.listen_socks[(src, sport)] = inode
        self._hold(sport, inode, True)
        if queued:
            self.listen_queue[(src, sport)] = (queued, backlog)

    def _conn(self, fam, state, sport, dport, src, dst):
        """Folding shared by both paths for every state but LISTEN and CLOSE_WAIT."""
        inbound = sport in self.listeners
        if not inbound and self.low <= sport <= self.high:
            self.held[sport - self.low] = 1
        if state == st.TCP_TIME_WAIT:
            self.tw_total += 1
            self.tw_local[sport] = self.tw_local.get(sport, 0) + 1
            if inbound:
                self.tw_inbound += 1
                self.tw_remote.add((dst, None))  # clients: by address, their ports are all different
                return
            if addresses.is_loopback(dst) or addresses.is_loopback(src):
                self.tw_out_loopback += 1
            self.tw_remote.add((dst, dport))
        if not inbound and self.low <= sport <= self.high:
            key = (src, dst, dport)
            self.dest.add(key)
            if state == st.TCP_TIME_WAIT:
                self.dest_tw.add(key)

    def _close_wait(self, s, src):
        self.cw_total += 1
        if s.inode:
            self.cw_inodes[s.inode] = s.uid
            if len(self.cw_sample) < SAMPLE_CAP:
                self.cw_sample[s.inode] = s.tuple_text()
        else:
            # Not accepted yet: in a listener's accept queue, no owner fd.
            q = self.cw_queue.setdefault((src, s.sport), [0, []])
            q[0] += 1
            if len(q[1]) < QUEUE_SAMPLE:
                q[1].append(s.tuple_text())

    def __call__(self, s):
        state = s.state
        fam = s.family
        src = addresses.norm(fam, s.src)
        if state in (st.TCP_BOUND_INACTIVE, st.TCP_CLOSE):
            # Bound, never connected: not a connection, but its port is taken. The kernel dumps these (asked with
            # bit 13) with their own state, TCP_CLOSE (inet_diag_dump_icsk walks bhash2 for sk_state == TCP_CLOSE
            # with a port; no other dump has a TCP_CLOSE socket): measured on Linux 6.18.
            self._hold(s.sport, s.inode, True)
            return
        key = (state, fam)
        self.counts[key] = self.counts.get(key, 0) + 1
        if state == st.TCP_LISTEN:
            self._listen(src, s.sport, s.inode)
            return
        if s.inode and s.sport not in self.listeners:
            self._hold(s.sport, s.inode)
        if state == st.TCP_CLOSE_WAIT:
            self._close_wait(s, src)
            if s.sport in self.listeners:
                return
        self._conn(fam, state, s.sport, s.dport, src, addresses.norm(fam, s.dst))

    def _feed_listen(self, data, off, fam):
        """A LISTEN socket from a raw message: its accept queue now (rqueue) and backlog (wqueue)."""
        p_src = off + netlink.DIAG_SRC
        src = addresses.norm(fam, data[p_src:p_src + addresses.IPV6_LEN])
        sport = netlink.SOCKID_PORTS.unpack_from(data, off + netlink.DIAG_PORTS)[0]
        tail = netlink.MSG_TAIL.unpack_from(data, off + DIAG_TAIL)
        self._listen(src, sport, tail[netlink.TAIL_INODE], tail[1], tail[2])

    def feed(self, data):
        """Fast path over raw netlink replies: the same folding as __call__
        without building a Sock per socket (CLOSE_WAIT, bound sockets and errors
        go through netlink.parse_messages). Returns True at NLMSG_DONE."""
        hdr = netlink.DIAG_HEAD.unpack_from
        ports = netlink.SOCKID_PORTS.unpack_from
        head_len = netlink.DIAG_HEAD.size
        p_ports, p_src, p_dst = netlink.DIAG_PORTS, netlink.DIAG_SRC, netlink.DIAG_DST
        src4_end, dst4_end = p_src + addresses.IPV4_LEN, p_dst + addresses.IPV4_LEN
        dst6_end = p_dst + addresses.IPV6_LEN  # the source (16 bytes) ends where the destination starts
        mapped, mapped_len = addresses.MAPPED, addresses.MAPPED_LEN
        hdrlen, align = netlink.NLMSG_HDRLEN, netlink.NLMSG_ALIGNTO - 1
        by_family, done, error = netlink.SOCK_DIAG_BY_FAMILY, netlink.NLMSG_DONE, netlink.NLMSG_ERROR
        both = netlink.TCPDIAG_GETSOCK  # the answers to the one-walk request of both families
        af_inet, listen, tw = socket.AF_INET, st.TCP_LISTEN, st.TCP_TIME_WAIT
        by_sock = (st.TCP_CLOSE_WAIT, st.TCP_BOUND_INACTIVE, st.TCP_CLOSE)
        counts, low, high, port_inode, inode_at = self.counts, self.low, self.high, self.port_inode, INODE.unpack_from
        counts_get = counts.get
        conn = self._conn
        end = len(data)
        off = 0
        while off + head_len <= end:
            length, mtype, _flags, _seq, _pid, fam, state, _timer, _retrans = hdr(data, off)
            if length < hdrlen:
                raise netlink.malformed(length)
            if mtype == both or mtype == by_family:
                if state in by_sock:
                    netlink.parse_messages(data[off:off + length], self)
                elif state == listen:
                    counts[(state, fam)] = counts_get((state, fam), 0) + 1
                    self._feed_listen(data, off, fam)
                else:
                    key = (state, fam)
                    counts[key] = counts_get(key, 0) + 1
                    sport, dport = ports(data, off + p_ports)
                    if fam == af_inet:
                        src = data[off + p_src:off + src4_end]
                        dst = data[off + p_dst:off + dst4_end]
                    else:
                        src = data[off + p_src:off + p_dst]
                        dst = data[off + p_dst:off + dst6_end]
                        if src[:mapped_len] == mapped:
                            src = src[mapped_len:]
                        if dst[:mapped_len] == mapped:
                            dst = dst[mapped_len:]
                    if state != tw and low <= sport <= high:
                        if sport not in port_inode:
                            inode = inode_at(data, off + DIAG_INODE)[0]
                            if inode:
                                port_inode[sport] = inode
                        if bind_address_no_port(data, off, length):
                            self.no_port[sport - low] = 1
                    conn(fam, state, sport, dport, src, dst)
            elif mtype == done:
                return netlink.check_done(data, off, length)
            elif mtype == error:
                netlink.parse_messages(data[off:off + length], self)
            off += (length + align) & ~align  # netlink.aligned, inline on the hot path
        return False
