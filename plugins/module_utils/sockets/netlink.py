# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The netlink sock_diag protocol (what `ss` uses): message layouts, request
builders, the dump of TCP sockets and their destruction (SOCK_DESTROY).

The kernel filters by state; messages are parsed while streaming so memory
does not grow with the number of sockets.
"""

from __future__ import annotations

import os
import socket
import struct

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import record

# Protocol and message types (include/uapi/linux/netlink.h, include/uapi/linux/sock_diag.h).
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
# The older request (struct inet_diag_req, include/uapi/linux/inet_diag.h), still served by every kernel with
# sock_diag (net/ipv4/inet_diag.c, inet_diag_dump_compat): it asks with sdiag_family AF_UNSPEC, so one walk of the
# kernel's socket hash answers for IPv4 and IPv6 together. The hash is shared by every network namespace, so each
# dump walks all of the host's sockets: one walk instead of two halves the kernel's time per dump. Its answers
# carry this type and the same inet_diag_msg as SOCK_DIAG_BY_FAMILY's.
TCPDIAG_GETSOCK = 18
SOCK_DESTROY = 21
NLMSG_ERROR = 2
NLMSG_DONE = 3
# Request flags (include/uapi/linux/netlink.h).
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
# Socket options (include/linux/socket.h, include/uapi/linux/netlink.h, include/uapi/asm-generic/socket.h).
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
SO_RCVBUFFORCE = 33  # needs CAP_NET_ADMIN; SO_RCVBUF is the fallback
# inet_diag_req_v2.idiag_states for "every state" (include/uapi/linux/inet_diag.h).
ANY_STATE = 0xFFFFFFFF
# What one acknowledgement costs in the receive buffer: the kernel charges an
# skb's truesize (about 700 bytes were seen per ack), not its 36 bytes of data.
ACK_COST = 1024
MAX_BATCH = 512
RCVBUF = 4 << 20
RECV_BUF = 1 << 20
PROBE_RECV = 65536

# struct nlmsghdr (include/uapi/linux/netlink.h): len, type, flags, seq, pid.
NLMSGHDR = struct.Struct("=IHHII")
NLMSG_HDRLEN = NLMSGHDR.size
NLMSG_ALIGNTO = 4
# struct nlmsgerr: the negative errno (0 for an acknowledgement), then the request's header.
NLMSGERR = struct.Struct("=i")
NLMSGERR_LEN = NLMSG_HDRLEN + NLMSGERR.size
# struct inet_diag_sockid (include/uapi/linux/inet_diag.h): sport, dport (network order), src[4], dst[4]
# (__be32 each: 16 bytes, IPv4 in the first 4), if, cookie[2].
SOCKID_LEN = 48
SOCKID_PORTS = struct.Struct("!HH")
SOCKID_SRC = SOCKID_PORTS.size
SOCKID_DST = SOCKID_SRC + record.IPV6_LEN
SOCKID_END = SOCKID_DST + record.IPV6_LEN
# struct inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid.
REQ_HEAD = struct.Struct("=BBBxI")
# struct inet_diag_req: family, src_len, dst_len, ext; then inet_diag_sockid; then states and dbs.
REQ_COMPAT_HEAD = struct.Struct("=BBBB")
REQ_COMPAT_TAIL = struct.Struct("=II")
BOTH_FAMILIES = (socket.AF_INET, socket.AF_INET6)
# struct inet_diag_msg: family, state, timer, retrans, sockid (48 bytes), then expires, rqueue, wqueue, uid, inode.
MSG_HEAD = struct.Struct("=BBBB")
MSG_TAIL = struct.Struct("=IIIII")
MSG_SOCKID = MSG_HEAD.size
MSG_SRC = MSG_SOCKID + SOCKID_SRC
MSG_DST = MSG_SOCKID + SOCKID_DST
MSG_TAIL_AT = MSG_SOCKID + SOCKID_LEN
MSG_LEN = MSG_TAIL_AT + MSG_TAIL.size
TAIL_UID = 3
TAIL_INODE = 4
# For parsers that skip the Sock (tcp_info's hot path): nlmsghdr and inet_diag_msg's
# first four fields in one unpack, and where the ports and addresses sit from the
# start of the netlink message.
DIAG_HEAD = struct.Struct("=IHHIIBBBB")
DIAG_PORTS = NLMSG_HDRLEN + MSG_SOCKID
DIAG_SRC = NLMSG_HDRLEN + MSG_SRC
DIAG_DST = NLMSG_HDRLEN + MSG_DST


class DiagError(Exception):
    def __init__(self, message, err=None):
        super(DiagError, self).__init__(message)
        self.message = message
        self.errno = err


def malformed(length):
    """The error for a netlink message shorter than its own header."""
    return DiagError("malformed netlink message (length %d)" % length)


def aligned(length):
    """NLMSG_ALIGN: where the next message starts."""
    return (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1)


def message_errno(buf, off):
    """The positive errno an NLMSG_ERROR message at ``off`` carries (0: an acknowledgement)."""
    return -NLMSGERR.unpack_from(buf, off + NLMSG_HDRLEN)[0]


def check_done(buf, off, length):
    """At an NLMSG_DONE: raise DiagError when it carries a negative errno (a dump the kernel failed after it had
    started ends this way, net/netlink/af_netlink.c netlink_dump_done); True otherwise."""
    if length >= NLMSGERR_LEN:
        err = message_errno(buf, off)
        if err > 0:
            raise DiagError(os.strerror(err), err)
    return True


def build_request(family, states, seq=1, sockid=None, msg_type=SOCK_DIAG_BY_FAMILY, flags=NLM_F_REQUEST | NLM_F_DUMP):
    """One netlink message: nlmsghdr + inet_diag_req_v2."""
    body = REQ_HEAD.pack(family, socket.IPPROTO_TCP, 0, states) + (sockid or b"\0" * SOCKID_LEN)
    return NLMSGHDR.pack(NLMSG_HDRLEN + len(body), msg_type, flags, seq, 0) + body


def build_request_both(states, seq=1):
    """One netlink message: nlmsghdr + inet_diag_req (TCPDIAG_GETSOCK), a dump of both families in one walk."""
    body = REQ_COMPAT_HEAD.pack(socket.AF_UNSPEC, 0, 0, 0) + b"\0" * SOCKID_LEN + REQ_COMPAT_TAIL.pack(states, 0)
    return NLMSGHDR.pack(NLMSG_HDRLEN + len(body), TCPDIAG_GETSOCK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def build_destroy(family, sockid, seq):
    return build_request(family, ANY_STATE, seq, sockid, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK)


def parse_messages(buf, handler):
    """Parse a buffer of netlink messages; call handler(Sock) for each socket.

    Returns True when NLMSG_DONE was seen. Raises DiagError on NLMSG_ERROR.
    """
    view = memoryview(buf)
    off = 0
    end = len(buf)
    unpack_hdr = NLMSGHDR.unpack_from
    unpack_head = MSG_HEAD.unpack_from
    unpack_ports = SOCKID_PORTS.unpack_from
    unpack_tail = MSG_TAIL.unpack_from
    while off + NLMSG_HDRLEN <= end:
        length, mtype, _flags, _seq, _pid = unpack_hdr(buf, off)
        if length < NLMSG_HDRLEN:
            raise malformed(length)
        if mtype == NLMSG_DONE:
            return check_done(buf, off, length)
        if mtype == NLMSG_ERROR:
            err = message_errno(buf, off)
            if err:
                raise DiagError(os.strerror(err), err)
        elif (mtype == TCPDIAG_GETSOCK or mtype == SOCK_DIAG_BY_FAMILY) and length >= NLMSG_HDRLEN + MSG_LEN:
            p = off + NLMSG_HDRLEN
            family, state, _timer, _retrans = unpack_head(buf, p)
            sport, dport = unpack_ports(buf, p + MSG_SOCKID)
            tail = unpack_tail(buf, p + MSG_TAIL_AT)
            handler(record.Sock(family, state, sport, dport, bytes(view[p + MSG_SRC:p + MSG_DST]),
                                bytes(view[p + MSG_DST:p + MSG_SOCKID + SOCKID_END]), tail[TAIL_INODE],
                                tail[TAIL_UID], bytes(view[p + MSG_SOCKID:p + MSG_TAIL_AT])))
        off += aligned(length)
    return False


def open_socket(rcvbuf=RCVBUF):
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError) as e:
        raise DiagError("netlink sock_diag unavailable: %s" % e)
    for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, rcvbuf)
            break
        except OSError:
            continue
    s.bind((0, 0))
    return s


def dump(handler, states, families=BOTH_FAMILIES, sock=None):
    """Stream every TCP socket in ``states`` (bitmask) to handler(Sock)."""
    dump_raw(lambda data: parse_messages(data, handler), states, families, sock)


def dump_raw(consumer, states, families=BOTH_FAMILIES, sock=None):
    """Like dump(), but hands each received chunk (bytes) to consumer(data),
    which returns True once it has seen NLMSG_DONE. For callers that parse
    the messages themselves on a hot path (tcp_info's aggregation).

    Both families are asked for with one TCPDIAG_GETSOCK request (one walk of
    the kernel's socket hash); a kernel that refuses it is asked family by
    family with SOCK_DIAG_BY_FAMILY, before anything reached the consumer."""
    families = tuple(families)
    own = sock is None
    s = sock or open_socket()
    buf = bytearray(RECV_BUF)
    try:
        if set(families) == set(BOTH_FAMILIES) and _dump_both(s, buf, consumer, states):
            return
        for seq, family in enumerate(families, 1):
            s.send(build_request(family, states, seq))
            _stream(s, buf, consumer, s.recv_into(buf))
    finally:
        if own:
            s.close()


def _dump_both(s, buf, consumer, states):
    """The one-walk dump of both families; False (nothing consumed) when the kernel refuses the request."""
    s.send(build_request_both(states))
    n = s.recv_into(buf)
    if n >= NLMSGERR_LEN and NLMSGHDR.unpack_from(buf, 0)[1] == NLMSG_ERROR and message_errno(buf, 0):
        return False
    _stream(s, buf, consumer, n)
    return True


def _stream(s, buf, consumer, n):
    """Hand the N bytes already received, then each further chunk, to consumer until it has seen NLMSG_DONE."""
    while not consumer(bytes(buf[:n])):
        n = s.recv_into(buf)


def probe(family, sockid):
    """Send one SOCK_DESTROY on a fresh socket; the errno of the answer (0 for none or an acknowledgement)."""
    s = open_socket()
    try:
        s.send(build_destroy(family, sockid, 1))
        data = s.recv(PROBE_RECV)
    finally:
        s.close()
    return message_errno(data, 0) if len(data) >= NLMSGERR_LEN else 0


def batch_size(sock):
    """How many destroy requests fit in one batch: every acknowledgement must
    fit in the receive buffer at once, or the kernel drops them (ENOBUFS)
    after it destroyed the sockets. SO_RCVBUF reads back the doubled value the
    kernel accounts against; half of it is kept free."""
    rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return max(1, min(MAX_BATCH, rcvbuf // 2 // ACK_COST))


class DestroyResult(object):
    """What a destroy run did: counts are exact up to ``error``, when the run
    stopped; ``unconfirmed`` requests were sent but their answer was lost."""

    __slots__ = ("destroyed", "failed", "unconfirmed", "error", "batch")

    def __init__(self):
        self.destroyed = 0
        self.failed = []
        self.unconfirmed = 0
        self.error = None
        self.batch = 0


def _read_acks(s, buf, chunk, start, res):
    """One read of acknowledgements for ``chunk`` (sequence numbers from
    start + 1), counted into ``res``: res.unconfirmed is what is still
    pending, so an error midway leaves it exact."""
    n = s.recv_into(buf)
    off = 0
    while off + NLMSGERR_LEN <= n and res.unconfirmed:
        length, mtype, _f, seq, _pid = NLMSGHDR.unpack_from(buf, off)
        if length < NLMSG_HDRLEN:
            raise malformed(length)
        if mtype == NLMSG_ERROR:
            err = message_errno(buf, off)
            res.unconfirmed -= 1
            if err == 0:
                res.destroyed += 1
            else:
                res.failed.append((chunk[seq - start - 1], err, os.strerror(err)))
        off += aligned(length)


def destroy(socks, sock=None, batch=None):
    """SOCK_DESTROY each socket; returns a DestroyResult (failed: a list of
    (Sock, errno, text)). Requests go in batches sized from the receive
    buffer, with NETLINK_CAP_ACK so acknowledgements do not carry the request
    back; any error stops the run and leaves the counts of what was done."""
    own = sock is None
    res = DestroyResult()
    try:
        s = sock or open_socket()
    except DiagError as e:
        res.error = e.message
        return res
    buf = bytearray(RECV_BUF)
    try:
        try:
            s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except OSError:
            pass
        res.batch = batch = batch or batch_size(s)
        for start in range(0, len(socks), batch):
            chunk = socks[start:start + batch]
            msgs = b"".join(build_destroy(k.family, k.sockid, start + i + 1) for i, k in enumerate(chunk))
            s.send(msgs)
            res.unconfirmed = len(chunk)  # sent, not answered yet
            while res.unconfirmed:
                _read_acks(s, buf, chunk, start, res)
    except OSError as e:
        res.error = os.strerror(e.errno) if e.errno else str(e)
    except DiagError as e:
        res.error = e.message
    finally:
        if own:
            s.close()
    return res
