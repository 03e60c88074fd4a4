# SPDX-License-Identifier: GPL-3.0-or-later
"""Netlink sock_diag messages: built and parsed byte for byte, against a
dump captured from a real kernel (fixtures/README.md)."""
import errno
import socket
import struct

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states

from .dumps import dump_fixture, parse_all


def test_build_dump_request():
    msg = netlink.build_request(socket.AF_INET, states.state_mask(["time_wait"]), seq=7)
    assert len(msg) == 16 + 56
    assert struct.unpack_from("=IHHII", msg) == (72, 20, 0x301, 7, 0)
    assert struct.unpack_from("=BBBxI", msg, 16) == (socket.AF_INET, socket.IPPROTO_TCP, 0, 1 << 6)
    assert msg[24:] == b"\0" * 48


def test_build_destroy_request():
    sockid = bytes(range(48))
    msg = netlink.build_destroy(socket.AF_INET6, sockid, 3)
    assert struct.unpack_from("=IHHII", msg) == (72, 21, 0x5, 3, 0)
    assert struct.unpack_from("=BBBxI", msg, 16) == (socket.AF_INET6, socket.IPPROTO_TCP, 0, 0xFFFFFFFF)
    assert msg[24:] == sockid


def test_parse_captured_dump():
    socks = parse_all(dump_fixture())
    got = [(states.STATES[s.state], s.tuple_text(), s.inode > 0) for s in socks]
    assert got == [
        ("listen", "127.0.0.1:8080 -> 0.0.0.0:0", True),
        ("close_wait", "127.0.0.1:8080 -> 127.0.0.1:57766", True),
        ("time_wait", "127.0.0.1:57760 -> 127.0.0.1:8080", False),
        ("fin_wait2", "127.0.0.1:57766 -> 127.0.0.1:8080", False),
        ("listen", "[::1]:8443 -> [::]:0", True),
    ]
    assert socks[1].inode == 587520
    assert len(socks[2].sockid) == 48 and socks[2].sockid[:4] == struct.pack("!HH", 57760, 8080)


def test_parse_reports_done():
    done = struct.pack("=IHHII", 20, 3, 2, 1, 0) + b"\0\0\0\0"
    assert netlink.parse_messages(done, lambda s: None) is True


def test_parse_error_message():
    err = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", -errno.EPERM) + b"\0" * 16
    with pytest.raises(netlink.DiagError) as e:
        netlink.parse_messages(err, lambda s: None)
    assert e.value.message == "Operation not permitted" and e.value.errno == errno.EPERM


def test_parse_rejects_malformed_length():
    with pytest.raises(netlink.DiagError) as e:
        netlink.parse_messages(struct.pack("=IHHII", 8, 20, 0, 1, 0), lambda s: None)
    assert e.value.message == "malformed netlink message (length 8)"


def test_batch_size_from_rcvbuf():
    class S(object):
        def __init__(self, v):
            self.v = v

        def getsockopt(self, *a):
            return self.v
    assert netlink.batch_size(S(4608)) == 2
    assert netlink.batch_size(S(100)) == 1
    assert netlink.batch_size(S(8 << 20)) == 512


def test_build_request_of_both_families():
    """TCPDIAG_GETSOCK with struct inet_diag_req: family AF_UNSPEC, the state mask after the 48-byte sockid."""
    msg = netlink.build_request_both(states.state_mask(["time_wait", "close_wait"]), seq=4)
    assert len(msg) == 16 + 60
    assert struct.unpack_from("=IHHII", msg) == (76, 18, 0x301, 4, 0)
    assert struct.unpack_from("=BBBB", msg, 16) == (socket.AF_UNSPEC, 0, 0, 0)
    assert msg[20:68] == b"\0" * 48
    assert struct.unpack_from("=II", msg, 68) == ((1 << 6) | (1 << 8), 0)


class FakeDiagSocket(object):
    """Answers requests from a script of replies; records what was sent."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.sent = []

    def send(self, data):
        self.sent.append(struct.unpack_from("=IHHII", data)[1])

    def recv_into(self, buf):
        data = self.replies.pop(0)
        buf[:len(data)] = data
        return len(data)


DONE = struct.pack("=IHHII", 20, 3, 2, 1, 0) + b"\0\0\0\0"


def test_dump_falls_back_per_family_when_the_kernel_refuses_the_one_walk_request():
    refused = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", -errno.EOPNOTSUPP) + b"\0" * 16
    sock = FakeDiagSocket([refused, DONE, DONE])
    chunks = []
    netlink.dump_raw(lambda d: chunks.append(d) or netlink.parse_messages(d, lambda s: None), 0xFFF, sock=sock)
    assert sock.sent == [18, 20, 20]
    assert chunks == [DONE, DONE]  # the refusal never reached the consumer


def test_dump_of_both_families_is_one_request():
    sock = FakeDiagSocket([DONE])
    netlink.dump_raw(lambda d: netlink.parse_messages(d, lambda s: None), 0xFFF, sock=sock)
    assert sock.sent == [18]
    sock = FakeDiagSocket([DONE])
    netlink.dump_raw(lambda d: netlink.parse_messages(d, lambda s: None), 0xFFF, families=(socket.AF_INET6,),
                     sock=sock)
    assert sock.sent == [20]


def test_one_walk_dump_equals_the_per_family_dumps_on_this_kernel():
    """Real sockets (an IPv4 and an IPv6 connection on loopback, with their listeners): the answers to the one-walk
    request are the per-family answers, socket for socket (only this test's sockets are compared: others come and
    go on a shared machine)."""
    held = []
    try:
        for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            lst = socket.socket(fam)
            lst.bind((addr, 0))
            lst.listen(4)
            cli = socket.socket(fam)
            cli.connect(lst.getsockname()[:2])
            held += [lst, cli, lst.accept()[0]]
        ports = set(s.getsockname()[1] for s in held)

        def collect(families):
            got = []
            netlink.dump(lambda s: got.append((s.family, s.state, s.sport, s.dport, s.src, s.dst, s.inode)),
                         netlink.ANY_STATE, families=families)
            return sorted(x for x in got if x[2] in ports or x[3] in ports)
        both = collect(netlink.BOTH_FAMILIES)
        assert both == sorted(collect((socket.AF_INET,)) + collect((socket.AF_INET6,)))
        assert sorted((f, st) for f, st, *_rest in both) == sorted(
            [(socket.AF_INET, states.TCP_LISTEN)] + [(socket.AF_INET, states.TCP_ESTABLISHED)] * 2
            + [(socket.AF_INET6, states.TCP_LISTEN)] + [(socket.AF_INET6, states.TCP_ESTABLISHED)] * 2)
    finally:
        for s in held:
            s.close()


def test_a_dump_the_kernel_failed_after_it_started_is_an_error():
    """NLMSG_DONE carries the dump's errno (net/netlink/af_netlink.c, netlink_dump_done): negative is a failure."""
    failed = struct.pack("=IHHII", 20, 3, 2, 1, 0) + struct.pack("=i", -errno.ENOENT)
    with pytest.raises(netlink.DiagError) as e:
        netlink.parse_messages(failed, lambda s: None)
    assert e.value.message == "No such file or directory" and e.value.errno == errno.ENOENT
    from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import aggregate
    with pytest.raises(netlink.DiagError) as e:
        aggregate.Aggregator((32768, 60999)).feed(failed)
    assert e.value.message == "No such file or directory"


def test_families_may_be_any_iterable():
    sock = FakeDiagSocket([DONE])
    netlink.dump_raw(lambda d: netlink.parse_messages(d, lambda s: None), 0xFFF, families=iter((socket.AF_INET,)),
                     sock=sock)
    assert sock.sent == [20]
