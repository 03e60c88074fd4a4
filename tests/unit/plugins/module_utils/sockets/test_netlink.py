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
