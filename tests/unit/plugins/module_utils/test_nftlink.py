# SPDX-License-Identifier: GPL-3.0-or-later
"""nf_tables NAT rules read over netlink: the parser on replies captured from a real kernel, and where it stops."""
import errno
import os
import struct

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import nftlink

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "nft_getrule_dump.bin")


def dump():
    with open(FIXTURE, "rb") as f:
        return f.read()


def test_every_nat_rule_in_a_captured_dump():
    out = []
    assert nftlink.parse_replies(dump(), 100, out) is True  # ends with NLMSG_DONE
    assert nftlink.evidence(out) == [
        "nftables rule: ip nat chain POSTROUTING: xt MASQUERADE",
        "nftables rule: ip nat chain PREROUTING: xt DNAT",
        "nftables rule: ip6 nat chain OUTPUT: xt REDIRECT",
        "nftables rule: inet kt chain post: masquerade",
        "nftables rule: inet kt chain post: snat",
        "nftables rule: inet kt chain pre: redirect",
        "nftables rule: inet kt chain pre: dnat",
    ]


def test_parsing_stops_at_the_limit():
    out = []
    assert nftlink.parse_replies(dump(), 2, out) is True
    assert [r[3] for r in out] == [["xt MASQUERADE"], ["xt DNAT"]]


def test_an_error_reply_is_raised():
    err = struct.pack("=IHHII", 36, nftlink.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -errno.EPERM) + b"\0" * 16
    with pytest.raises(OSError) as e:
        nftlink.parse_replies(err, 5, [])
    assert e.value.errno == errno.EPERM
