# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's filters, refusals and protections; every message word for word."""
import socket

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import sockdiag
from ansible_collections.kerneltune.tcp.plugins.module_utils import tcpreset


def v4(a):
    return socket.inet_aton(a) + b"\0" * 12


def v6(a):
    return socket.inet_pton(socket.AF_INET6, a)


def sock(state, src, sport, dst, dport, family=socket.AF_INET):
    enc = v4 if family == socket.AF_INET else v6
    return sockdiag.Sock(family, state, sport, dport, enc(src), enc(dst), 0, 0, b"\0" * 48)


@pytest.mark.parametrize("text,hits,misses", [
    ("10.0.0.0/8", [("10.1.2.3", 1)], [("192.0.2.1", 1)]),
    ("10.0.0.5", [("10.0.0.5", 9)], [("10.0.0.6", 9)]),
    ("10.0.0.5:8080", [("10.0.0.5", 8080)], [("10.0.0.5", 8081), ("10.0.0.6", 8080)]),
    (":8080", [("1.2.3.4", 8080)], [("1.2.3.4", 80)]),
    (":8000-8100", [("1.2.3.4", 8000), ("1.2.3.4", 8100)], [("1.2.3.4", 8101)]),
])
def test_specs_v4(text, hits, misses):
    spec = tcpreset.parse_spec("remote", text)
    for addr, port in hits:
        assert spec.matches(socket.AF_INET, v4(addr), port), (addr, port)
    for addr, port in misses:
        assert not spec.matches(socket.AF_INET, v4(addr), port), (addr, port)


def test_specs_v6_and_mapped():
    spec = tcpreset.parse_spec("local", "[::1]:80")
    assert spec.matches(socket.AF_INET6, v6("::1"), 80)
    assert not spec.matches(socket.AF_INET, v4("127.0.0.1"), 80)
    mapped = tcpreset.parse_spec("remote", "10.0.0.0/8")
    assert mapped.matches(socket.AF_INET6, v6("::ffff:10.0.0.1"), 1)
    assert tcpreset.parse_spec("remote", "2001:db8::/32").matches(socket.AF_INET6, v6("2001:db8::5"), 1)


@pytest.mark.parametrize("text,message", [
    ("nonsense", "remote: 'nonsense' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ("10.0.0.5:http", "remote: '10.0.0.5:http' is not an address, a network (CIDR), :port, :low-high or address:port"),
    (":", "remote: ':' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ("[::1", "remote: '[::1' is not an address, a network (CIDR), :port, :low-high or address:port"),
    (":9000-8000", "remote: ':9000-8000' has a port range outside 1..65535 or low above high"),
    (":70000", "remote: ':70000' has a port range outside 1..65535 or low above high"),
])
def test_bad_specs(text, message):
    with pytest.raises(tcpreset.ResetError) as e:
        tcpreset.parse_spec("remote", text)
    assert e.value.message == message


@pytest.mark.parametrize("args,message", [
    (([], [], [], None, None, False), "states: at least one state is required"),
    ((["listen"], [":80"], [], None, None, False),
     "states: listen is refused: destroying a listening socket stops the service"),
    ((["bogus"], [":80"], [], None, None, False),
     "states: unknown state 'bogus'; choose from time_wait, close_wait, established, syn_sent, syn_recv, fin_wait1, "
     "fin_wait2, last_ack, closing"),
    ((["close_wait"], [], [], None, None, False),
     "at least one of local, remote, pid or process is required; set all: true to match every socket in the given "
     "states"),
    ((["time_wait"], [], [], None, "java", False),
     "pid and process match nothing in TIME_WAIT: those sockets belong to no process any more"),
])
def test_validate(args, message):
    with pytest.raises(tcpreset.ResetError) as e:
        tcpreset.validate(*args)
    assert e.value.message == message


def test_validate_accepts_all():
    tcpreset.validate(["close_wait"], [], [], None, None, True)


def test_selector_filters_and_protects_ssh():
    ssh = tcpreset.ssh_tuple("192.0.2.9 51000 10.0.0.2 22")
    sel = tcpreset.Selector([], [tcpreset.parse_spec("remote", "192.0.2.0/24")], "both", ssh)
    stream = [
        sock(10, "0.0.0.0", 22, "0.0.0.0", 0),             # listener: never
        sock(1, "10.0.0.2", 22, "192.0.2.9", 51000),       # our own SSH connection: protected
        sock(1, "10.0.0.2", 22, "192.0.2.9", 51001),       # another SSH session: matched
        sock(8, "10.0.0.2", 8080, "198.51.100.1", 4000),   # other remote: not matched
    ]
    for s in stream:
        sel(s)
    assert [s.tuple_text() for s in sel.matched] == ["10.0.0.2:22 -> 192.0.2.9:51001"]
    assert [s.tuple_text() for s in sel.protected] == ["10.0.0.2:22 -> 192.0.2.9:51000"]


def test_ssh_tuple_parsing():
    assert tcpreset.ssh_tuple(None) is None
    assert tcpreset.ssh_tuple("garbage") is None
    assert tcpreset.ssh_tuple("::1 5 ::1 22")[1] == 22


def test_by_owner():
    a = sock(8, "10.0.0.2", 8080, "10.0.0.9", 1)
    a.inode = 11
    b = sock(8, "10.0.0.2", 8080, "10.0.0.9", 2)
    b.inode = 12
    found = {11: (7, "java", "java"), 12: (8, "nginx", "nginx")}
    keep, _found = tcpreset.by_owner([a, b], None, "java", owners=lambda inodes: found)
    assert keep == [a]
    keep, _found = tcpreset.by_owner([a, b], 8, None, owners=lambda inodes: found)
    assert keep == [b]


def test_kernel_refusals():
    assert tcpreset.kernel_refusal(["close_wait"], {"supported": True, "reason": None}, "5.4.0") is None
    assert tcpreset.kernel_refusal(["time_wait"], {"supported": True, "reason": None}, "5.15.0-91-generic") == (
        "TIME_WAIT sockets cannot be destroyed on Linux 5.15.0-91-generic (the kernel supports it from 6.0); they end "
        "by themselves after 60 s. To stop them piling up, apply the high_outbound_client profile (tcp_tw_reuse=1) "
        "or pool connections")
    assert tcpreset.kernel_refusal(["close_wait"], {"supported": False, "reason": "no CAP_NET_ADMIN in this network "
                                                    "namespace"}, "6.1.0") == (
        "cannot destroy sockets on this host: no CAP_NET_ADMIN in this network namespace. Instead: restart the "
        "application that owns them, or for TIME_WAIT wait (it ends by itself after 60 s); this module never forges "
        "packets")


def test_mapped_addresses_match_ipv4_and_ipv6_filters():
    mapped = socket.inet_pton(socket.AF_INET6, "::ffff:10.0.0.5")
    assert tcpreset.parse_spec("remote", "10.0.0.0/8").matches(socket.AF_INET6, mapped, 80)
    assert tcpreset.parse_spec("remote", "::ffff:10.0.0.5").matches(socket.AF_INET6, mapped, 80)
    assert not tcpreset.parse_spec("remote", "::ffff:10.0.0.6").matches(socket.AF_INET6, mapped, 80)
    assert not tcpreset.parse_spec("remote", "::ffff:10.0.0.5").matches(socket.AF_INET, socket.inet_aton("10.0.0.5"), 80)
