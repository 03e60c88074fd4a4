# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's selection: the streaming filter and the owner filter."""
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import control as control_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import filters
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import selection

from .socks import sock


def test_selector_filters_and_protects_ssh():
    ssh = control_lib.ssh_tuple("192.0.2.9 51000 10.0.0.2 22")
    sel = selection.Selector([], [filters.parse_spec("remote", "192.0.2.0/24")], "both", ssh)
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


def test_by_owner():
    a = sock(8, "10.0.0.2", 8080, "10.0.0.9", 1)
    a.inode = 11
    b = sock(8, "10.0.0.2", 8080, "10.0.0.9", 2)
    b.inode = 12
    found = {11: [(7, "java", "java")], 12: [(8, "nginx", "nginx"), (9, "nginx", "nginx")]}
    holders = selection.Holders([a, b], lookup=lambda inodes: found)
    assert selection.by_owner([a, b], None, "java", holders) == [a]
    assert selection.by_owner([a, b], 8, None, holders) == [b]
    assert selection.by_owner([a, b], 9, "nginx", holders) == [b]  # the child that shares the socket counts too
    assert selection.by_owner([a, b], 7, "nginx", holders) == []


def test_long_process_names():
    name = "kerneltune-worker-daemon"  # 24 characters: comm keeps "kerneltune-work"
    assert selection.name_matches(name, "kerneltune-work", "/usr/local/bin/kerneltune-worker-daemon --x")
    assert not selection.name_matches(name, "kerneltune-work", "/usr/local/bin/kerneltune-worker-other")
    assert not selection.name_matches(name, "python3", "/usr/local/bin/kerneltune-worker-daemon")
    assert not selection.name_matches("kerneltune-work", "kerneltune-wor", "kerneltune-work")
    assert selection.name_matches("java", "java", "")
