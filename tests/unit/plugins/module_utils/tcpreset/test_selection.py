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
    found = {11: (7, "java", "java"), 12: (8, "nginx", "nginx")}
    keep, _found = selection.by_owner([a, b], None, "java", owners=lambda inodes: found)
    assert keep == [a]
    keep, _found = selection.by_owner([a, b], 8, None, owners=lambda inodes: found)
    assert keep == [b]
