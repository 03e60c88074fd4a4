# SPDX-License-Identifier: GPL-3.0-or-later
"""The /proc/net/tcp fallback: the same sockets as the netlink dump, in either byte order."""
import os
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import procnet
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states

from .dumps import FIX, dump_fixture, parse_all


def test_proc_fallback_matches_netlink():
    via_proc = []
    procnet.dump_proc(via_proc.append, states.ALL_STATES, os.path.join(FIX, "proc"))
    via_netlink = parse_all(dump_fixture())

    def key(s):
        return (s.state, s.tuple_text(), s.inode)
    assert sorted(map(key, via_proc)) == sorted(map(key, via_netlink))


def test_proc_state_filter():
    got = []
    procnet.dump_proc(got.append, states.state_mask(["close_wait"]), os.path.join(FIX, "proc"))
    assert [s.tuple_text() for s in got] == ["127.0.0.1:8080 -> 127.0.0.1:57766"]


def test_proc_ipv6_address():
    line = ("   0: 00000000000000000000000001000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 "
            "00:00000000 00000000     0        0 587516 1 00000000453cfff8 100 0 0 10 0")
    s = procnet.parse_proc_line(line, socket.AF_INET6)
    assert s.tuple_text() == "[::1]:8443 -> [::]:0" and s.state == 10


def test_proc_addresses_in_either_byte_order():
    # What a big-endian host prints for 10.0.0.2:8080 -> 192.0.2.9:51000: the u32 as it sits in memory.
    line = ("   0: 0A000002:1F90 C0000209:C738 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 "
            "20 4 30 10 -1")
    assert procnet.parse_proc_line(line, socket.AF_INET, "big").tuple_text() == "10.0.0.2:8080 -> 192.0.2.9:51000"
    le = line.replace("0A000002", "0200000A").replace("C0000209", "090200C0")
    assert procnet.parse_proc_line(le, socket.AF_INET, "little").tuple_text() == "10.0.0.2:8080 -> 192.0.2.9:51000"
    v6 = ("   0: 20010DB8000000000000000000000001:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 "
          "00:00000000 00000000     0        0 1 1 0 100 0 0 10 0")
    assert procnet.parse_proc_line(v6, socket.AF_INET6, "big").tuple_text() == "[2001:db8::1]:80 -> [::]:0"


def test_listening_ports_from_the_fixture():
    assert procnet.listening_ports(os.path.join(FIX, "proc")) == {8080: 587515, 8443: 587516}
