# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's filters, refusals and protections; every message word for word."""
import os
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
    # An IPv4-mapped filter is the IPv4 host: it matches both socket families, as the plain IPv4 form does.
    for text in ("::ffff:10.0.0.5", "[::ffff:10.0.0.5]:80", "::ffff:10.0.0.0/120"):
        spec = tcpreset.parse_spec("remote", text)
        assert spec.matches(socket.AF_INET, v4("10.0.0.5"), 80), text
        assert spec.matches(socket.AF_INET6, v6("::ffff:10.0.0.5"), 80), text
        assert not spec.matches(socket.AF_INET, v4("10.1.0.5"), 80), text


@pytest.mark.parametrize("text,message", [
    ("nonsense", "remote: 'nonsense' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ("10.0.0.5:http", "remote: '10.0.0.5:http' is not an address, a network (CIDR), :port, :low-high or address:port"),
    (":", "remote: ':' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ("[::1", "remote: '[::1' is not an address, a network (CIDR), :port, :low-high or address:port"),
    (":9000-8000", "remote: ':9000-8000' has a port range outside 1..65535 or low above high"),
    (":70000", "remote: ':70000' has a port range outside 1..65535 or low above high"),
    ("fe80::1%eth0", "remote: 'fe80::1%eth0' names a zone (eth0); a filter matches addresses on every interface, so "
                     "it would match this address on other links too. Give it without the zone if that is meant"),
    ("[fe80::1%2]:22", "remote: '[fe80::1%2]:22' names a zone (2); a filter matches addresses on every interface, "
                       "so it would match this address on other links too. Give it without the zone if that is "
                       "meant"),
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


def test_ssh_tuple_strips_scope_and_maps_v4():
    t = tcpreset.ssh_tuple("fe80::1%eth0 51000 fe80::2%eth0 22")
    assert (str(t[0]), t[1], str(t[2]), t[3]) == ("fe80::2", 22, "fe80::1", 51000)
    t = tcpreset.ssh_tuple("::ffff:192.0.2.9 51000 ::ffff:10.0.0.2 22")
    assert (str(t[0]), str(t[2])) == ("10.0.0.2", "192.0.2.9")


def test_link_local_control_connection_is_protected():
    sel = tcpreset.Selector([], [], "both", tcpreset.ssh_tuple("fe80::1%eth0 51000 fe80::2%eth0 22"))
    sel(sock(1, "fe80::2", 22, "fe80::1", 51000, socket.AF_INET6))
    sel(sock(1, "fe80::2", 22, "fe80::1", 51001, socket.AF_INET6))
    sel.finish()
    assert [s.tuple_text() for s in sel.protected] == ["[fe80::2]:22 -> [fe80::1]:51000"]
    assert len(sel.matched) == 1


def fake_proc(tmp_path, chain):
    """chain: [(pid, ppid, comm, environ dict, socket inodes)]"""
    for pid, ppid, comm, env, inodes in chain:
        d = tmp_path / str(pid)
        (d / "fd").mkdir(parents=True)
        (d / "status").write_text("Name:\t%s\nPPid:\t%d\n" % (comm, ppid))
        (d / "comm").write_text(comm + "\n")
        (d / "environ").write_bytes(b"".join(("%s=%s\0" % kv).encode() for kv in env.items()))
        for n, inode in enumerate(inodes):
            os.symlink("socket:[%d]" % inode, str(d / "fd" / str(n + 3)))


def test_control_found_by_ancestor_inode_and_mirror_under_become(tmp_path):
    # python3 (module, sudo dropped SSH_CONNECTION) <- sudo <- sshd: kt@notty (holds the socket)
    fake_proc(tmp_path, [(300, 200, "python3", {"PATH": "/usr/bin"}, []),
                         (200, 100, "sudo", {}, []),
                         (100, 1, "sshd", {"SSH_CONNECTION": "127.0.0.1 40112 127.0.0.1 22"}, [555])])
    control = tcpreset.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    assert control.remote and control.inodes == {555}
    assert control.evidence == ["SSH_CONNECTION in the environment of sshd (pid 100)", "ancestor sshd (pid 100)"]
    sel = tcpreset.Selector([], [], "both", control)
    client = sock(1, "127.0.0.1", 40112, "127.0.0.1", 22)   # the controller's end, held by no process we see
    server = sock(1, "127.0.0.1", 22, "127.0.0.1", 40112)
    server.inode = 555
    other = sock(1, "127.0.0.1", 9000, "127.0.0.1", 40200)
    for s in (client, other, server):
        sel(s)
    sel.finish()
    assert sorted(s.tuple_text() for s in sel.protected) == ["127.0.0.1:22 -> 127.0.0.1:40112",
                                                             "127.0.0.1:40112 -> 127.0.0.1:22"]
    assert sel.matched == [other]
    assert tcpreset.unprotected_refusal(["established"], control, False) is None


def test_control_by_inode_alone_protects_the_mirror(tmp_path):
    # No SSH_CONNECTION anywhere: the inode finds the server end, its mirror the client end.
    fake_proc(tmp_path, [(300, 100, "python3", {}, []), (100, 1, "sshd-session", {}, [555])])
    control = tcpreset.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    sel = tcpreset.Selector([], [], "both", control)
    client = sock(1, "127.0.0.1", 40112, "127.0.0.1", 22)
    server = sock(1, "127.0.0.1", 22, "127.0.0.1", 40112)
    server.inode = 555
    sel(client)
    sel(server)
    sel.finish()
    assert len(sel.protected) == 2 and sel.matched == []


def test_remote_run_without_control_socket_is_refused(tmp_path):
    fake_proc(tmp_path, [(300, 100, "python3", {}, []),
                         (100, 1, "sshd", {"SSH_CONNECTION": "192.0.2.9 51000 10.0.0.2 22"}, [])])
    control = tcpreset.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    sel = tcpreset.Selector([], [], "both", control)
    sel(sock(1, "10.0.0.2", 8080, "10.0.0.9", 1))
    sel.finish()
    assert tcpreset.unprotected_refusal(["established"], control, False) == (
        "this run is remote (SSH_CONNECTION in the environment of sshd (pid 100); ancestor sshd (pid 100)) but no "
        "socket of its control connection was found in this network namespace, so it cannot be protected; refusing "
        "to touch ESTABLISHED sockets. Set allow_unprotected: true to go on anyway (the task may cut its own "
        "connection)")
    assert tcpreset.unprotected_refusal(["established"], control, True) is None
    assert tcpreset.unprotected_refusal(["close_wait"], control, False) is None
    local = tcpreset.Control.discover(environ={}, proc_root=str(tmp_path), pid=100)
    assert not local.remote and tcpreset.unprotected_refusal(["established"], local, False) is None


def test_stopped_message_gives_partial_counts():
    res = sockdiag.DestroyResult()
    res.destroyed, res.unconfirmed, res.error = 700, 12, "No buffer space available"
    res.failed = [(None, 2, "No such file or directory"), (None, 1, "Operation not permitted")]
    assert tcpreset.stopped_message(1000, res) == (
        "destroying stopped on an error after 714 of 1000 sockets: No buffer space available; 700 destroyed, 1 already "
        "gone, 1 refused, 12 sent without an answer (they may be gone), 286 not tried")
