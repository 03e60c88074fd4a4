# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TCP sockets through netlink sock_diag (what `ss` uses), stdlib only.

Shared by tcp_info (dump and aggregate) and tcp_reset (dump, filter,
destroy). The kernel filters by state; messages are parsed while streaming so
memory does not grow with the number of sockets. /proc/net/tcp and tcp6 are
the fallback where netlink sock_diag is unavailable.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
SOCK_DESTROY = 21
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300

# TCP states as the kernel numbers them (include/net/tcp_states.h).
STATES = {
    1: "established", 2: "syn_sent", 3: "syn_recv", 4: "fin_wait1", 5: "fin_wait2", 6: "time_wait",
    7: "close", 8: "close_wait", 9: "last_ack", 10: "listen", 11: "closing", 12: "syn_recv",
}
STATE_IDS = {
    "established": (1,), "syn_sent": (2,), "syn_recv": (3, 12), "fin_wait1": (4,), "fin_wait2": (5,),
    "time_wait": (6,), "close": (7,), "close_wait": (8,), "last_ack": (9,), "listen": (10,), "closing": (11,),
}
# The states `ss -tan` shows: 1..12. Bit 13 (TCP_BOUND_INACTIVE, Linux 6.7) asks
# for bound-but-unconnected sockets, which are no connections at all.
ALL_STATES = sum(1 << i for i in range(1, 13))
CAP_NET_ADMIN = 12
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
# What one acknowledgement costs in the receive buffer: the kernel charges an
# skb's truesize (about 700 bytes were seen per ack), not its 36 bytes of data.
ACK_COST = 1024
MAX_BATCH = 512

NLMSGHDR = struct.Struct("=IHHII")
# inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid.
REQ_HEAD = struct.Struct("=BBBxI")
# inet_diag_msg: family, state, timer, retrans, sockid(48), expires, rqueue, wqueue, uid, inode.
MSG_HEAD = struct.Struct("=BBBB")
PORTS = struct.Struct("!HH")
MSG_TAIL = struct.Struct("=IIIII")
NLMSGERR = struct.Struct("=i")
SOCKID_LEN = 48
MSG_LEN = 4 + SOCKID_LEN + 20


class DiagError(Exception):
    def __init__(self, message, err=None):
        super(DiagError, self).__init__(message)
        self.message = message
        self.errno = err


def state_mask(names):
    mask = 0
    for name in names:
        for sid in STATE_IDS[name]:
            mask |= 1 << sid
    return mask


def build_request(family, states, seq=1, sockid=None, msg_type=SOCK_DIAG_BY_FAMILY, flags=NLM_F_REQUEST | NLM_F_DUMP):
    """One netlink message: nlmsghdr + inet_diag_req_v2."""
    body = REQ_HEAD.pack(family, socket.IPPROTO_TCP, 0, states) + (sockid or b"\0" * SOCKID_LEN)
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), msg_type, flags, seq, 0) + body


def build_destroy(family, sockid, seq):
    return build_request(family, 0xFFFFFFFF, seq, sockid, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK)


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
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return socket.inet_ntop(socket.AF_INET6, raw[:16])


def endpoint(family, raw, port):
    a = addr_text(family, raw)
    return ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % (a, port)


def parse_messages(buf, handler):
    """Parse a buffer of netlink messages; call handler(Sock) for each socket.

    Returns True when NLMSG_DONE was seen. Raises DiagError on NLMSG_ERROR.
    """
    view = memoryview(buf)
    off = 0
    end = len(buf)
    unpack_hdr = NLMSGHDR.unpack_from
    unpack_head = MSG_HEAD.unpack_from
    unpack_ports = PORTS.unpack_from
    unpack_tail = MSG_TAIL.unpack_from
    while off + 16 <= end:
        length, mtype, _flags, _seq, _pid = unpack_hdr(buf, off)
        if length < 16:
            raise DiagError("malformed netlink message (length %d)" % length)
        if mtype == NLMSG_DONE:
            return True
        if mtype == NLMSG_ERROR:
            err = -NLMSGERR.unpack_from(buf, off + 16)[0]
            if err:
                raise DiagError(os.strerror(err), err)
        elif mtype == SOCK_DIAG_BY_FAMILY and length >= 16 + MSG_LEN:
            p = off + 16
            family, state, _timer, _retrans = unpack_head(buf, p)
            sport, dport = unpack_ports(buf, p + 4)
            uid, inode = unpack_tail(buf, p + 52)[3:5]
            handler(Sock(family, state, sport, dport, bytes(view[p + 8:p + 24]), bytes(view[p + 24:p + 40]),
                         inode, uid, bytes(view[p + 4:p + 52])))
        off += (length + 3) & ~3
    return False


def open_socket(rcvbuf=4 << 20):
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError) as e:
        raise DiagError("netlink sock_diag unavailable: %s" % e)
    for opt in (33, socket.SO_RCVBUF):  # SO_RCVBUFFORCE needs CAP_NET_ADMIN
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, rcvbuf)
            break
        except OSError:
            continue
    s.bind((0, 0))
    return s


def dump(handler, states, families=(socket.AF_INET, socket.AF_INET6), sock=None):
    """Stream every TCP socket in ``states`` (bitmask) to handler(Sock)."""
    dump_raw(lambda data: parse_messages(data, handler), states, families, sock)


def dump_raw(consumer, states, families=(socket.AF_INET, socket.AF_INET6), sock=None):
    """Like dump(), but hands each received chunk (bytes) to consumer(data),
    which returns True once it has seen NLMSG_DONE. For callers that parse
    the messages themselves on a hot path (tcp_info's aggregation)."""
    own = sock is None
    s = sock or open_socket()
    buf = bytearray(1 << 20)
    try:
        for seq, family in enumerate(families, 1):
            s.send(build_request(family, states, seq))
            while True:
                n = s.recv_into(buf)
                if consumer(bytes(buf[:n])):
                    break
    finally:
        if own:
            s.close()


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
    buf = bytearray(1 << 20)
    pending = 0
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
            pending = len(chunk)
            while pending:
                n = s.recv_into(buf)
                off = 0
                while off + 20 <= n and pending:
                    length, mtype, _f, seq, _pid = NLMSGHDR.unpack_from(buf, off)
                    if length < 16:
                        raise DiagError("malformed netlink message (length %d)" % length)
                    if mtype == NLMSG_ERROR:
                        err = -NLMSGERR.unpack_from(buf, off + 16)[0]
                        pending -= 1
                        if err == 0:
                            res.destroyed += 1
                        else:
                            res.failed.append((chunk[seq - start - 1], err, os.strerror(err)))
                    off += (length + 3) & ~3
    except OSError as e:
        res.error = os.strerror(e.errno) if e.errno else str(e)
        res.unconfirmed = pending
    except DiagError as e:
        res.error = e.message
        res.unconfirmed = pending
    finally:
        if own:
            s.close()
    return res


def time_wait_destroyable(release):
    """TIME_WAIT sockets can be destroyed from Linux 6.0 on (by date)."""
    try:
        version = tuple(int(x) for x in release.split("-")[0].split(".")[:2])
    except ValueError:
        version = (0, 0)
    return version >= (6, 0)


def has_cap(bit, proc_root="/proc"):
    """Is capability ``bit`` in this process's effective set (CapEff)?
    None when /proc/self/status cannot be read."""
    try:
        with open(os.path.join(proc_root, "self", "status")) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


NO_CAP = "this process lacks CAP_NET_ADMIN (CapEff bit 12 is clear in /proc/self/status); run it as root (become: true)"


def probe_destroy(proc_root="/proc"):
    """Can this kernel and process destroy sockets? First CapEff: the kernel
    looks the socket up before it checks CAP_NET_ADMIN, so a probe alone
    answers ENOENT to an unprivileged process. Then SOCK_DESTROY for an
    all-zero socket id, which matches no socket: ENOENT means supported,
    EOPNOTSUPP no CONFIG_INET_DIAG_DESTROY, EPERM no CAP_NET_ADMIN."""
    if has_cap(CAP_NET_ADMIN, proc_root) is False:
        return {"supported": False, "reason": NO_CAP}
    try:
        s = open_socket()
    except DiagError as e:
        return {"supported": False, "reason": e.message}
    try:
        s.send(build_destroy(socket.AF_INET, b"\0" * SOCKID_LEN, 1))
        data = s.recv(65536)
    finally:
        s.close()
    err = -NLMSGERR.unpack_from(data, 16)[0] if len(data) >= 20 else 0
    if err in (errno.ENOENT, 0):
        return {"supported": True, "reason": None}
    if err == errno.EOPNOTSUPP:
        return {"supported": False, "reason": "kernel built without CONFIG_INET_DIAG_DESTROY"}
    if err == errno.EPERM:
        return {"supported": False, "reason": "no CAP_NET_ADMIN in this network namespace"}
    return {"supported": False, "reason": os.strerror(err)}


# --------------------------------------------------------------------------
# /proc/net/tcp fallback
# --------------------------------------------------------------------------

def _proc_addr(text, family, byteorder=sys.byteorder):
    """/proc/net/tcp prints each 32-bit word of the address (network order in
    memory) as a host-order integer in hex (net/ipv4/tcp_ipv4.c get_tcp4_sock,
    "%08X" of a __be32): pack each word back in host order."""
    words = [int(text[i:i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(text), 8)]
    raw = b"".join(words)
    return raw + b"\0" * 12 if family == socket.AF_INET else raw


def parse_proc_line(line, family, byteorder=sys.byteorder):
    f = line.split()
    if len(f) < 10 or ":" not in f[1]:
        return None
    la, lp = f[1].split(":")
    ra, rp = f[2].split(":")
    return Sock(family, int(f[3], 16), int(lp, 16), int(rp, 16), _proc_addr(la, family, byteorder), _proc_addr(ra, family, byteorder),
                int(f[9]), int(f[7]), None)


def dump_proc(handler, states, proc_root="/proc"):
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


# --------------------------------------------------------------------------
# Owners
# --------------------------------------------------------------------------

def owners(inodes, proc_root="/proc"):
    """{inode: (pid, comm, cmdline)} for the given socket inodes, one /proc
    scan that stops once every wanted inode is found."""
    want = set("socket:[%d]" % i for i in inodes if i)
    found = {}
    if not want:
        return found
    for pid in os.listdir(proc_root):
        if len(found) == len(want):
            break
        if not pid.isdigit():
            continue
        for link in _fd_links(proc_root, pid):
            if link in want:
                inode = int(link[8:-1])
                if inode not in found:
                    found[inode] = (int(pid), _read(proc_root, pid, "comm").strip(),
                                    _read(proc_root, pid, "cmdline").replace("\0", " ").strip())
    return found


def held_by(pids, proc_root="/proc"):
    """The socket inodes held open by the given processes."""
    out = set()
    for pid in pids:
        for link in _fd_links(proc_root, pid):
            if link.startswith("socket:["):
                out.add(int(link[8:-1]))
    return out


def _fd_links(proc_root, pid):
    """What each open file descriptor of PID points to ("socket:[123]" for a socket); nothing if it is gone."""
    fd_dir = os.path.join(proc_root, str(pid), "fd")
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return
    for fd in fds:
        try:
            yield os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue


def ancestors(pid=None, proc_root="/proc"):
    """[(pid, comm)] from the parent of ``pid`` (default: this process) up to pid 1."""
    out = []
    pid = pid or os.getpid()
    seen = set()
    while pid and pid not in seen:
        seen.add(pid)
        ppid = None
        for line in _read(proc_root, str(pid), "status").splitlines():
            if line.startswith("PPid:"):
                ppid = int(line.split()[1])
                break
        if not ppid:
            break
        out.append((ppid, _read(proc_root, str(ppid), "comm").strip()))
        pid = ppid
    return out


def _read(proc_root, pid, name):
    try:
        with open(os.path.join(proc_root, pid, name)) as f:
            return f.read()
    except OSError:
        return ""
