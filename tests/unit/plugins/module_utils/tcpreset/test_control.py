# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's protected control connection, found under become, by inode and by its mirror."""
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import control as control_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import selection

from .socks import fake_proc, sock


def test_ssh_tuple_parsing():
    assert control_lib.ssh_tuple(None) is None
    assert control_lib.ssh_tuple("garbage") is None
    assert control_lib.ssh_tuple("::1 5 ::1 22")[1] == 22


def test_ssh_tuple_strips_scope_and_maps_v4():
    t = control_lib.ssh_tuple("fe80::1%eth0 51000 fe80::2%eth0 22")
    assert (str(t[0]), t[1], str(t[2]), t[3]) == ("fe80::2", 22, "fe80::1", 51000)
    t = control_lib.ssh_tuple("::ffff:192.0.2.9 51000 ::ffff:10.0.0.2 22")
    assert (str(t[0]), str(t[2])) == ("10.0.0.2", "192.0.2.9")


def test_link_local_control_connection_is_protected():
    sel = selection.Selector([], [], "both", control_lib.ssh_tuple("fe80::1%eth0 51000 fe80::2%eth0 22"))
    sel(sock(1, "fe80::2", 22, "fe80::1", 51000, socket.AF_INET6))
    sel(sock(1, "fe80::2", 22, "fe80::1", 51001, socket.AF_INET6))
    sel.finish()
    assert [s.tuple_text() for s in sel.protected] == ["[fe80::2]:22 -> [fe80::1]:51000"]
    assert len(sel.matched) == 1


def test_control_found_by_ancestor_inode_and_mirror_under_become(tmp_path):
    # python3 (module, sudo dropped SSH_CONNECTION) <- sudo <- sshd: kt@notty (holds the socket)
    fake_proc(tmp_path, [(300, 200, "python3", {"PATH": "/usr/bin"}, []),
                         (200, 100, "sudo", {}, []),
                         (100, 1, "sshd", {"SSH_CONNECTION": "127.0.0.1 40112 127.0.0.1 22"}, [555])])
    control = control_lib.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    assert control.remote and control.inodes == {555}
    assert control.evidence == ["SSH_CONNECTION in the environment of sshd (pid 100)", "ancestor sshd (pid 100)"]
    sel = selection.Selector([], [], "both", control)
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
    assert control_lib.unprotected_refusal(["established"], control, False) is None


def test_control_by_inode_alone_protects_the_mirror(tmp_path):
    # No SSH_CONNECTION anywhere: the inode finds the server end, its mirror the client end.
    fake_proc(tmp_path, [(300, 100, "python3", {}, []), (100, 1, "sshd-session", {}, [555])])
    control = control_lib.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    sel = selection.Selector([], [], "both", control)
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
    control = control_lib.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    sel = selection.Selector([], [], "both", control)
    sel(sock(1, "10.0.0.2", 8080, "10.0.0.9", 1))
    sel.finish()
    assert control_lib.unprotected_refusal(["established"], control, False) == (
        "this run is remote (SSH_CONNECTION in the environment of sshd (pid 100); ancestor sshd (pid 100)) but no "
        "socket of its control connection was found in this network namespace, so it cannot be protected; refusing "
        "to touch ESTABLISHED sockets. Set allow_unprotected: true to go on anyway (the task may cut its own "
        "connection)")
    assert control_lib.unprotected_refusal(["established"], control, True) is None
    assert control_lib.unprotected_refusal(["close_wait"], control, False) is None
    local = control_lib.Control.discover(environ={}, proc_root=str(tmp_path), pid=100)
    assert not local.remote and control_lib.unprotected_refusal(["established"], local, False) is None


def test_async_wrapper_ancestor_makes_the_run_remote(tmp_path):
    # python3 (the module, detached: no SSH_CONNECTION, no sshd, no audit session) <- async_wrapper <- init
    fake_proc(tmp_path, [(300, 200, "python3", {}, []), (200, 1, "python3", {}, [])])
    (tmp_path / "200" / "cmdline").write_bytes(b"/usr/bin/python3\0/home/kt/.ansible/tmp/AnsiballZ_async_wrapper.py\0")
    control = control_lib.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    assert control.remote and control.evidence == ["an Ansible async task (async_wrapper, pid 200, among its ancestors)"]
    assert control_lib.unprotected_refusal(["established"], control, False) == (
        "this run is remote (an Ansible async task (async_wrapper, pid 200, among its ancestors)) but no socket of "
        "its control connection was found in this network namespace, so it cannot be protected; refusing to touch "
        "ESTABLISHED sockets. Set allow_unprotected: true to go on anyway (the task may cut its own connection)")


def test_control_located_in_the_own_namespace_protects_its_mirror_in_the_target(tmp_path):
    # The run acts in another namespace: the sshd's socket is found in the module's own namespace (locate), so the
    # connection is identified and the refusal does not fire; its mirror (a controller inside the target) stays.
    fake_proc(tmp_path, [(300, 100, "python3", {}, []), (100, 1, "sshd-session", {}, [555])])
    control = control_lib.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    server = sock(1, "10.0.0.1", 22, "10.244.0.5", 40112)
    server.inode = 555
    seen = []

    def dump(handler, states):
        seen.append(states)
        for s in (sock(1, "10.0.0.1", 22, "10.0.0.9", 50000), sock(10, "0.0.0.0", 22, "0.0.0.0", 0), server):
            handler(s)
    assert [s.tuple_text() for s in control.locate(dump)] == ["10.0.0.1:22 -> 10.244.0.5:40112"]
    assert seen == [1 << 1]  # ESTABLISHED only
    where = "network namespace blue (inode 4026532281)"
    assert control_lib.unprotected_refusal(["established"], control, False, where) is None
    sel = selection.Selector([], [], "both", control)
    mirror = sock(1, "10.244.0.5", 40112, "10.0.0.1", 22)
    other = sock(1, "10.244.0.5", 40113, "10.0.0.1", 22)
    for s in (mirror, other):
        sel(s)
    sel.finish()
    assert [s.tuple_text() for s in sel.protected] == ["10.244.0.5:40112 -> 10.0.0.1:22"]
    assert sel.matched == [other]


def test_control_found_nowhere_is_refused_naming_the_target(tmp_path):
    fake_proc(tmp_path, [(300, 100, "python3", {}, []), (100, 1, "sshd-session", {}, [555])])
    control = control_lib.Control.discover(environ={}, proc_root=str(tmp_path), pid=300)
    assert control.locate(lambda handler, states: None) == []
    assert control_lib.unprotected_refusal(["established"], control, False, "network namespace inode 4026532281") == (
        "this run is remote (ancestor sshd-session (pid 100)) but no socket of its control connection was found, "
        "neither in the module's own network namespace nor in network namespace inode 4026532281, so it cannot be "
        "protected; refusing to touch ESTABLISHED sockets. Set allow_unprotected: true to go on anyway (the task may "
        "cut its own connection)")
    assert control_lib.unprotected_refusal(["established"], control, True, "network namespace inode 1") is None
