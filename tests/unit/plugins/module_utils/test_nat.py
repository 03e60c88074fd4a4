# SPDX-License-Identifier: GPL-3.0-or-later
"""NAT detection from outputs captured in a test container (see fixtures/)."""
import json
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import nat

FIX = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "fixtures")


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


def test_iptables_nft_save_rules():
    assert nat.parse_iptables_save(fixture("ipt-nft"), "iptables-nft") == [
        "iptables-nft nat rule: -A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 9090",
        "iptables-nft nat rule: -A POSTROUTING -s 10.0.0.0/8 -o lo -j MASQUERADE",
    ]


def test_iptables_legacy_save_rules():
    assert nat.parse_iptables_save(fixture("ipt-legacy"), "iptables-legacy") == [
        "iptables-legacy nat rule: -A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:8081",
    ]


def test_iptables_rules_outside_nat_table_are_ignored():
    text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j MASQUERADE\nCOMMIT\n*nat\n-A OUTPUT -j ACCEPT\nCOMMIT\n"
    assert nat.parse_iptables_save(text) == []


def test_iptables_target_must_be_a_whole_word():
    text = "*nat\n-A POSTROUTING -m comment --comment MASQUERADE_LATER -j ACCEPT\nCOMMIT\n"
    assert nat.parse_iptables_save(text) == []


def test_nft_json_rules():
    assert nat.parse_nft_json(fixture("nft.json")) == [
        "nftables rule: ip nat chain POSTROUTING: xt MASQUERADE",
        "nftables rule: ip nat chain OUTPUT: xt REDIRECT",
        "nftables rule: inet kt chain post: snat",
    ]


@pytest.mark.parametrize("text", ["", "not json", "[]", json.dumps({"nftables": [{"table": {"name": "x"}}]})])
def test_nft_json_without_nat(text):
    assert nat.parse_nft_json(text) == []


def test_conntrack_translated_entry():
    samples, count = nat.parse_conntrack(fixture("ct"))
    assert count == 1
    assert samples == [
        "conntrack NAT entry: src=127.0.0.1 dst=127.0.0.1 sport=39948 dport=8080 "
        "src=127.0.0.1 dst=127.0.0.2 sport=9090 dport=39948"
    ]


def test_conntrack_mirror_entry_is_not_nat():
    line = ("ipv4     2 tcp      6 117 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=80 "
            "src=10.0.0.2 dst=10.0.0.1 sport=80 dport=5000 [ASSURED] mark=0 zone=0 use=2\n")
    assert nat.parse_conntrack(line) == ([], 0)


def test_detect_with_captured_outputs(tmp_path):
    outputs = {
        "iptables-nft-save": fixture("ipt-nft"),
        "iptables-legacy-save": fixture("ipt-legacy"),
        "nft": fixture("nft.json"),
        "conntrack": fixture("ct"),
    }

    def runner(argv):
        return outputs.get(argv[0])

    (tmp_path / "proc/sys/net/ipv4").mkdir(parents=True)
    (tmp_path / "proc/sys/net/ipv4/ip_forward").write_text("1\n")
    (tmp_path / "sys/class/net/docker0").mkdir(parents=True)
    (tmp_path / "sys/class/net/lo").mkdir(parents=True)
    (tmp_path / "proc/modules").write_text("nf_nat 61440 3 nft_chain_nat, Live 0x0\n")
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/ip_tables_names").write_text("filter\nnat\n")
    r = nat.detect(True, root=str(tmp_path), runner=runner)
    assert r["detected"] is True
    assert r["declared"] is True
    # Rules were found, so the conntrack table (possibly huge) is not read.
    assert len(r["evidence"]) == 3 + 3

    assert r["hints"] == [
        "net.ipv4.ip_forward=1: this host may route for others",
        "bridge interface docker0 (containers or VMs are often NATed behind it)",
        "kernel module nf_nat is loaded",
    ]
    assert r["sources"] == ["iptables-legacy-save", "iptables-nft-save", "nft"]


def test_conntrack_read_when_no_rule_found(tmp_path):
    outputs = {"conntrack": fixture("ct"), "nft": '{"nftables": []}'}
    r = nat.detect(None, root=str(tmp_path), runner=lambda argv: outputs.get(argv[0]))
    assert r["detected"] is True
    assert r["evidence"] == [
        "1 conntrack entries with translated addresses",
        "conntrack NAT entry: src=127.0.0.1 dst=127.0.0.1 sport=39948 dport=8080 "
        "src=127.0.0.1 dst=127.0.0.2 sport=9090 dport=39948"]
    assert r["sources"] == ["nft", "conntrack"]


def test_head_stops_a_long_command():
    text = nat._head(["seq", "1", "1000000"], max_lines=3)
    assert text == "1\n2\n3\n"


def test_hints_alone_are_not_detection(tmp_path):
    (tmp_path / "proc/sys/net/ipv4").mkdir(parents=True)
    (tmp_path / "proc/sys/net/ipv4/ip_forward").write_text("1\n")
    r = nat.detect(None, root=str(tmp_path), runner=lambda argv: None)
    assert r["detected"] is False
    assert r["evidence"] == []
    assert r["hints"] == ["net.ipv4.ip_forward=1: this host may route for others"]


def test_legacy_tables_are_not_listed_unless_their_nat_table_is_loaded(tmp_path):
    # Listing a legacy table loads iptable_nat and nf_nat: never from a check.
    calls = []

    def runner(argv):
        calls.append(argv[0])
        return None

    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/ip_tables_names").write_text("filter\n")
    r = nat.detect(None, root=str(tmp_path), runner=runner)
    assert "iptables-legacy-save" not in calls and "ip6tables-legacy-save" not in calls
    assert calls == ["iptables-nft-save", "ip6tables-nft-save", "nft", "conntrack"]
    assert r["detected"] is False
