# SPDX-License-Identifier: GPL-3.0-or-later
"""Netlink sock_diag messages: built and parsed byte for byte, against a
dump captured from a real kernel (fixtures/README.md)."""
import errno
import os
import socket
import struct

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import sockdiag

FIX = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "fixtures")
V4 = socket.inet_aton("127.0.0.1") + b"\0" * 12


def dump_fixture():
    with open(os.path.join(FIX, "sockdiag_dump.bin"), "rb") as f:
        return f.read()


def parse_all(data):
    out = []
    off = 0
    while off < len(data):
        length = struct.unpack_from("=I", data, off)[0]
        sockdiag.parse_messages(data[off:off + length], out.append)
        off += (length + 3) & ~3
    return out


def test_build_dump_request():
    msg = sockdiag.build_request(socket.AF_INET, sockdiag.state_mask(["time_wait"]), seq=7)
    assert len(msg) == 16 + 56
    assert struct.unpack_from("=IHHII", msg) == (72, 20, 0x301, 7, 0)
    assert struct.unpack_from("=BBBxI", msg, 16) == (socket.AF_INET, socket.IPPROTO_TCP, 0, 1 << 6)
    assert msg[24:] == b"\0" * 48


def test_build_destroy_request():
    sockid = bytes(range(48))
    msg = sockdiag.build_destroy(socket.AF_INET6, sockid, 3)
    assert struct.unpack_from("=IHHII", msg) == (72, 21, 0x5, 3, 0)
    assert struct.unpack_from("=BBBxI", msg, 16) == (socket.AF_INET6, socket.IPPROTO_TCP, 0, 0xFFFFFFFF)
    assert msg[24:] == sockid


@pytest.mark.parametrize("names,mask", [
    (["time_wait"], 1 << 6),
    (["syn_recv"], (1 << 3) | (1 << 12)),
    (["close_wait", "established"], (1 << 8) | (1 << 1)),
])
def test_state_mask(names, mask):
    assert sockdiag.state_mask(names) == mask


def test_parse_captured_dump():
    socks = parse_all(dump_fixture())
    got = [(sockdiag.STATES[s.state], s.tuple_text(), s.inode > 0) for s in socks]
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
    assert sockdiag.parse_messages(done, lambda s: None) is True


def test_parse_error_message():
    err = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", -errno.EPERM) + b"\0" * 16
    with pytest.raises(sockdiag.DiagError) as e:
        sockdiag.parse_messages(err, lambda s: None)
    assert e.value.message == "Operation not permitted" and e.value.errno == errno.EPERM


def test_parse_rejects_malformed_length():
    with pytest.raises(sockdiag.DiagError) as e:
        sockdiag.parse_messages(struct.pack("=IHHII", 8, 20, 0, 1, 0), lambda s: None)
    assert e.value.message == "malformed netlink message (length 8)"


def test_proc_fallback_matches_netlink():
    via_proc = []
    sockdiag.dump_proc(via_proc.append, sockdiag.ALL_STATES, os.path.join(FIX, "proc"))
    via_netlink = parse_all(dump_fixture())

    def key(s):
        return (s.state, s.tuple_text(), s.inode)
    assert sorted(map(key, via_proc)) == sorted(map(key, via_netlink))


def test_proc_state_filter():
    got = []
    sockdiag.dump_proc(got.append, sockdiag.state_mask(["close_wait"]), os.path.join(FIX, "proc"))
    assert [s.tuple_text() for s in got] == ["127.0.0.1:8080 -> 127.0.0.1:57766"]


def test_proc_ipv6_address():
    line = ("   0: 00000000000000000000000001000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 "
            "00:00000000 00000000     0        0 587516 1 00000000453cfff8 100 0 0 10 0")
    s = sockdiag.parse_proc_line(line, socket.AF_INET6)
    assert s.tuple_text() == "[::1]:8443 -> [::]:0" and s.state == 10


def test_endpoint_text():
    assert sockdiag.endpoint(socket.AF_INET, V4, 80) == "127.0.0.1:80"


def test_owners_scan(tmp_path):
    (tmp_path / "42" / "fd").mkdir(parents=True)
    (tmp_path / "42" / "comm").write_text("java\n")
    (tmp_path / "42" / "cmdline").write_text("java\0-jar\0app.jar\0")
    os.symlink("socket:[587520]", str(tmp_path / "42" / "fd" / "7"))
    os.symlink("/dev/null", str(tmp_path / "42" / "fd" / "0"))
    (tmp_path / "self").mkdir()
    assert sockdiag.owners([587520, 0, 99], str(tmp_path)) == {587520: (42, "java", "java -jar app.jar")}


def test_proc_addresses_in_either_byte_order():
    # What a big-endian host prints for 10.0.0.2:8080 -> 192.0.2.9:51000: the u32 as it sits in memory.
    line = ("   0: 0A000002:1F90 C0000209:C738 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 "
            "20 4 30 10 -1")
    assert sockdiag.parse_proc_line(line, socket.AF_INET, "big").tuple_text() == "10.0.0.2:8080 -> 192.0.2.9:51000"
    le = line.replace("0A000002", "0200000A").replace("C0000209", "090200C0")
    assert sockdiag.parse_proc_line(le, socket.AF_INET, "little").tuple_text() == "10.0.0.2:8080 -> 192.0.2.9:51000"
    v6 = ("   0: 20010DB8000000000000000000000001:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 "
          "00:00000000 00000000     0        0 1 1 0 100 0 0 10 0")
    assert sockdiag.parse_proc_line(v6, socket.AF_INET6, "big").tuple_text() == "[2001:db8::1]:80 -> [::]:0"


def test_has_cap(tmp_path):
    (tmp_path / "self").mkdir()
    (tmp_path / "self/status").write_text("CapEff:\t0000000000001000\n")
    assert sockdiag.has_cap(12, str(tmp_path)) is True
    (tmp_path / "self/status").write_text("CapEff:\t000001ffffffefff\n")
    assert sockdiag.has_cap(12, str(tmp_path)) is False
    assert sockdiag.probe_destroy(str(tmp_path)) == {
        "supported": False, "reason": "this process lacks CAP_NET_ADMIN (CapEff bit 12 is clear in /proc/self/status); "
                                      "run it as root (become: true)"}
    assert sockdiag.has_cap(12, str(tmp_path / "nowhere")) is None


def test_owner_scan_stops_when_all_found(tmp_path):
    for pid in ("1", "2"):
        (tmp_path / pid / "fd").mkdir(parents=True)
        (tmp_path / pid / "comm").write_text("p%s\n" % pid)
        (tmp_path / pid / "cmdline").write_text("p\0")
    os.symlink("socket:[10]", str(tmp_path / "1" / "fd" / "3"))
    os.symlink("socket:[10]", str(tmp_path / "2" / "fd" / "3"))
    seen = []
    real = os.listdir

    def spy(path):
        seen.append(path)
        return real(path)
    import unittest.mock
    with unittest.mock.patch.object(sockdiag.os, "listdir", spy):
        found = sockdiag.owners([10], str(tmp_path))
    assert list(found) == [10]
    assert len([p for p in seen if p.endswith("fd")]) == 1


def test_batch_size_from_rcvbuf():
    class S(object):
        def __init__(self, v):
            self.v = v

        def getsockopt(self, *a):
            return self.v
    assert sockdiag.batch_size(S(4608)) == 2
    assert sockdiag.batch_size(S(100)) == 1
    assert sockdiag.batch_size(S(8 << 20)) == 512
