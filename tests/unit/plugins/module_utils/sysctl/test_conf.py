# SPDX-License-Identifier: GPL-3.0-or-later
"""The sysctl.d file syntax both appliers read.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import conf


K = ("net", "ipv4", "tcp_fin_timeout")


def test_parse_comments_dash_and_non_assignments():
    text = "# c\n; c\n\n-net.ipv4.a = 1\nnet.ipv4.b=2 3\nnot an assignment\n  net/ipv4/c =\t4 \n"
    assert conf.parse_conf(text) == [
        (("net", "ipv4", "a"), "1", True, 4),
        (("net", "ipv4", "b"), "2 3", False, 5),
        (("net", "ipv4", "c"), "4", False, 7),
    ]


def test_parse_dash_key_without_value():
    assert conf.parse_conf("-net.ipv4.tcp_fin_timeout\nnet.ipv4.x\n") == [(K, None, True, 1)]
