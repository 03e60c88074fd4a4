# SPDX-License-Identifier: GPL-3.0-or-later
"""collect() end to end on the sockets of the dump captured from a real kernel."""
import os

from ..sockets.dumps import FIX, parse_all
from .streams import run


def test_counts_from_captured_dump():
    with open(os.path.join(FIX, "sockdiag_dump.bin"), "rb") as f:
        socks = parse_all(f.read())
    r = run(socks, owners=lambda inodes: {587520: [(42, "kt-leaky", "python3 leak.py")]})
    assert r["counts"] == {
        "listen": {"ipv4": 1, "ipv6": 1, "total": 2},
        "close_wait": {"ipv4": 1, "ipv6": 0, "total": 1},
        "time_wait": {"ipv4": 1, "ipv6": 0, "total": 1},
        "fin_wait2": {"ipv4": 1, "ipv6": 0, "total": 1},
    }
    assert r["total"] == 5
    assert r["listeners"] == [8080, 8443]
    assert r["time_wait"]["outbound"] == 1 and r["time_wait"]["inbound"] == 0
    holder = {"pid": 42, "command": "kt-leaky", "cmdline": "python3 leak.py"}
    assert r["close_wait"] == {"total": 1, "processes": [dict(
        holder, holders=[holder], owner="kt-leaky (pid 42)", uid=r["close_wait"]["processes"][0]["uid"], count=1,
        sample=["127.0.0.1:8080 -> 127.0.0.1:57766"])], "accept_queue": []}


def test_nat_detection_runs_only_when_a_finding_needs_it():
    from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect
    ran = []

    def detect():
        ran.append(1)
        return {"detected": True}
    assert collect.nat_result("auto", {"net.ipv4.tcp_tw_recycle": "1"}, detect) == {"detected": True}
    assert collect.nat_result("always", {"net.ipv4.tcp_tw_recycle": None}, detect) == {"detected": True}
    assert len(ran) == 2
    skipped = collect.nat_result("auto", {"net.ipv4.tcp_tw_recycle": None}, detect)
    assert skipped == {"detected": None, "declared": None, "evidence": [], "hints": [], "sources": [], "counts": {},
                       "not_probed": "nat=auto: net.ipv4.tcp_tw_recycle is absent (removed in Linux 4.12) and "
                                     "tw_recycle_on is the only finding that weighs NAT"}
    assert collect.nat_result("auto", {"net.ipv4.tcp_tw_recycle": "0"}, detect)["not_probed"] == (
        "nat=auto: net.ipv4.tcp_tw_recycle is 0 and tw_recycle_on is the only finding that weighs NAT")
    assert collect.nat_result("never", {"net.ipv4.tcp_tw_recycle": "1"}, detect)["not_probed"] == "nat=never"
    assert len(ran) == 2
