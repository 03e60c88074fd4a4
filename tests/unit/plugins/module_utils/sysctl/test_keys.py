# SPDX-License-Identifier: GPL-3.0-or-later
"""Key names: parse_key, the two spellings, canonical names.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("key,canonical", [
    ("net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_fin_timeout"),
    ("net/ipv4/tcp_fin_timeout", "net.ipv4.tcp_fin_timeout"),
    ("net.core.somaxconn", "net.core.somaxconn"),
    ("net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_max"),
    ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.all.disable_ipv6"),
    ("net/ipv4/conf/eth0.100/rp_filter", "net/ipv4/conf/eth0.100/rp_filter"),
])
def test_parse_key_accepts(key, canonical):
    assert keys.parse_key(key)[0] == canonical


@pytest.mark.parametrize("key,message", [
    ("net.ipv4..tcp_fin_timeout", "net.ipv4..tcp_fin_timeout: not a valid sysctl key name"),
    ("net/ipv4/../../kernel/panic", "net/ipv4/../../kernel/panic: not a valid sysctl key name"),
    ("net.ipv4.tcp_fin_timeout ", "'net.ipv4.tcp_fin_timeout ': not a valid sysctl key name"),
    ("net.ipv4.tcp fin", "'net.ipv4.tcp fin': not a valid sysctl key name"),
    ("net.ipv4.tcp_*", "net.ipv4.tcp_*: not a valid sysctl key name"),
    ("/net/ipv4/x", "/net/ipv4/x: not a valid sysctl key name"),
    ("", "'': not a valid sysctl key name"),
    ("kernel.panic", "kernel.panic: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and net.netfilter.* "
                     "keys are managed"),
    ("vm.swappiness", "vm.swappiness: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and net.netfilter.* "
                      "keys are managed"),
    ("net.ipv4", "net.ipv4: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and net.netfilter.* "
                 "keys are managed"),
    ("net.unix.max_dgram_qlen", "net.unix.max_dgram_qlen: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* "
                                "and net.netfilter.* keys are managed"),
])
def test_parse_key_refuses(key, message):
    with pytest.raises(ValueError) as e:
        keys.parse_key(key)
    assert str(e.value) == message


@pytest.mark.parametrize("key,parts", [
    ("net.ipv4.tcp_fin_timeout", ("net", "ipv4", "tcp_fin_timeout")),
    ("net/ipv4/tcp_fin_timeout", ("net", "ipv4", "tcp_fin_timeout")),
    ("net/ipv4/conf/eth0.100/rp_filter", ("net", "ipv4", "conf", "eth0.100", "rp_filter")),
    ("net.ipv4.conf.eth0/100.rp_filter", ("net", "ipv4", "conf", "eth0.100", "rp_filter")),
])
def test_key_forms(key, parts):
    assert keys.key_to_path_parts(key) == parts


def test_canonical_key():
    assert keys.canonical_key(("net", "ipv4", "tcp_fin_timeout")) == "net.ipv4.tcp_fin_timeout"
    assert keys.canonical_key(("net", "ipv4", "conf", "eth0.100", "rp_filter")) == "net/ipv4/conf/eth0.100/rp_filter"


def test_the_table_accepts_only_what_the_kernel_accepts():
    for key, row in keys.KEYS.items():
        if row.kind == keys.INT:
            assert row.kernel[0] <= row.accept[0] <= row.accept[1] <= row.kernel[1], key
        else:
            assert row.accept is None and row.kernel is None, key
    assert keys.kind("net.ipv4.nope") == keys.ANY and keys.int_range("net.ipv4.nope") is None
    assert keys.is_global("net.core.netdev_max_backlog") and not keys.is_global("net.core.somaxconn")
