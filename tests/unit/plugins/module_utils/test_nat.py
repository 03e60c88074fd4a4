# SPDX-License-Identifier: GPL-3.0-or-later
"""NAT detection from outputs captured in a test container (see fixtures/)."""
import json
import os

import pytest
from ansible.module_utils.basic import AnsibleModule

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


class Module(AnsibleModule):
    """A real AnsibleModule (run_command, timeout prefix, C locale) whose binary
    lookup sees only the test's bin directory, never the host's iptables."""

    bindir = None

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        if arg == "timeout":
            return AnsibleModule.get_bin_path(self, arg)
        p = os.path.join(self.bindir, arg)
        return p if os.path.exists(p) else None


@pytest.fixture
def host(tmp_path, module_args):
    """A fake root (proc, sys) and bin directory; tools print captured outputs."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls"

    def tool(name, output, version=None):
        (tmp_path / (name + ".out")).write_text(output)
        script = "#!/bin/sh\necho \"$0 $*\" >> %s\n" % calls
        if version:
            script += 'if [ "$1" = --version ]; then echo "%s"; exit 0; fi\n' % version
        script += "cat %s\n" % (tmp_path / (name + ".out"))
        (bindir / name).write_text(script)
        (bindir / name).chmod(0o755)

    def write(rel, text):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    def ran():
        if not calls.exists():
            return []
        return [line.split(" ", 1)[0].rsplit("/", 1)[1] + " " + line.split(" ", 1)[1]
                for line in calls.read_text().splitlines()]

    with module_args({}):
        module = Module(argument_spec={})
    module.bindir = str(bindir)
    return type("Host", (), {"root": str(tmp_path), "tool": staticmethod(tool), "write": staticmethod(write),
                             "ran": staticmethod(ran), "module": module})


def test_detect_with_captured_outputs(host):
    host.tool("iptables-nft-save", fixture("ipt-nft"))
    host.tool("iptables-legacy-save", fixture("ipt-legacy"))
    host.tool("nft", fixture("nft.json"))
    host.tool("conntrack", fixture("ct"))
    host.write("proc/sys/net/ipv4/ip_forward", "1\n")
    host.write("proc/net/ip_tables_names", "filter\nnat\n")
    host.write("proc/modules", "nf_nat 61440 3 nft_chain_nat, Live 0x0\nnf_tables 1 2 - Live 0x0\n")
    host.write("proc/sys/net/netfilter/nf_conntrack_count", "12\n")
    os.makedirs(os.path.join(host.root, "sys/class/net/docker0"))
    os.makedirs(os.path.join(host.root, "sys/class/net/lo"))
    r = nat.detect(True, host.module, root=host.root)
    assert r["detected"] is True
    assert r["declared"] is True
    # The first back end with a NAT rule answers: neither the other back ends nor the conntrack table are read.
    assert r["evidence"] == [
        "iptables-legacy nat rule: -A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:8081"]
    assert r["counts"] == {"iptables-legacy-save": {"rules": 1, "complete": True}}
    assert r["hints"] == [
        "net.ipv4.ip_forward=1: this host may route for others",
        "bridge interface docker0 (containers or VMs are often NATed behind it)",
        "kernel module nf_nat is loaded",
    ]
    assert r["sources"] == ["iptables-legacy-save"]
    assert host.ran() == ["iptables-legacy-save -t nat"]


def test_nft_asked_only_when_iptables_shows_no_rule(host):
    host.tool("iptables-nft-save", "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n")
    host.tool("nft", fixture("nft.json"))
    host.write("proc/modules", "nf_tables 1 2 - Live 0x0\n")
    r = nat.detect(None, host.module, root=host.root)
    assert host.ran() == ["iptables-nft-save -t nat", "nft -j list ruleset"]
    assert r["sources"] == ["iptables-nft-save", "nft"]
    assert r["evidence"] == ["nftables rule: ip nat chain POSTROUTING: xt MASQUERADE",
                             "nftables rule: ip nat chain OUTPUT: xt REDIRECT", "nftables rule: inet kt chain post: snat"]
    assert r["counts"] == {"nft": {"rules": 3, "complete": True}}


def test_evidence_is_bounded_and_parsing_stops(host):
    """20,000 DNAT rules (kube-proxy): five are kept, and parsing stops there."""
    rules = "".join("-A KUBE-SEP-%d -p tcp -m tcp -j DNAT --to-destination 10.1.%d.%d:80\n" % (i, i // 250, i % 250)
                    for i in range(20000))
    host.tool("iptables-nft-save", "*nat\n" + rules + "COMMIT\n")
    host.tool("nft", fixture("nft.json"))
    host.write("proc/modules", "nf_tables 1 2 - Live 0x0\n")
    r = nat.detect(None, host.module, root=host.root)
    assert host.ran() == ["iptables-nft-save -t nat"]
    assert len(r["evidence"]) == nat.EVIDENCE_SAMPLES == 5
    assert r["evidence"][4] == "iptables-nft nat rule: -A KUBE-SEP-4 -p tcp -m tcp -j DNAT --to-destination 10.1.0.4:80"
    assert r["counts"] == {"iptables-nft-save": {"rules": 5, "complete": False}}
    assert nat.parse_nft_json(fixture("nft.json"), limit=1) == ["nftables rule: ip nat chain POSTROUTING: xt MASQUERADE"]


def test_nothing_is_asked_that_would_load_a_module(host):
    """No legacy nat table, nf_tables not loaded, no conntrack_netlink: the
    tools are present but none is run (each would make the kernel load a module)."""
    for t in ("iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save", "nft",
              "conntrack"):
        host.tool(t, "")
    host.write("proc/net/ip_tables_names", "filter\n")
    host.write("proc/modules", "nf_conntrack 1 0 - Live 0x0\n")
    host.write("proc/sys/net/netfilter/nf_conntrack_count", "3\n")
    r = nat.detect(None, host.module, root=host.root)
    assert host.ran() == []
    assert r["detected"] is False and r["sources"] == []


def test_conntrack_read_when_no_rule_found(host):
    host.tool("conntrack", fixture("ct"))
    host.tool("nft", '{"nftables": []}')
    host.write("proc/modules", "nf_tables 1 0 - Live 0x0\nnf_conntrack_netlink 1 0 - Live 0x0\n")
    host.write("proc/sys/net/netfilter/nf_conntrack_count", "1\n")
    r = nat.detect(None, host.module, root=host.root)
    assert r["detected"] is True
    assert r["evidence"] == [
        "1 conntrack entries with translated addresses",
        "conntrack NAT entry: src=127.0.0.1 dst=127.0.0.1 sport=39948 dport=8080 "
        "src=127.0.0.1 dst=127.0.0.2 sport=9090 dport=39948"]
    assert r["sources"] == ["nft", "conntrack"]


def test_conntrack_without_netlink_module_reads_proc(host):
    host.tool("conntrack", fixture("ct"))
    host.write("proc/modules", "nf_conntrack 1 0 - Live 0x0\n")
    host.write("proc/sys/net/netfilter/nf_conntrack_count", "1\n")
    host.write("proc/net/nf_conntrack", fixture("ct"))
    r = nat.detect(None, host.module, root=host.root)
    assert host.ran() == []
    assert r["sources"] == ["/proc/net/nf_conntrack"] and r["detected"] is True


def test_plain_iptables_save_asked_for_its_back_end(host):
    """Older layouts: one iptables-save; a legacy one without a nat table is not asked for it."""
    host.tool("iptables-save", fixture("ipt-legacy"), version="iptables-save v1.8.7 (legacy)")
    host.tool("ip6tables-save", "", version="ip6tables-save v1.8.7 (nf_tables)")
    host.write("proc/net/ip_tables_names", "filter\n")
    host.write("proc/modules", "nf_tables 1 0 - Live 0x0\n")
    r = nat.detect(None, host.module, root=host.root)
    assert host.ran() == ["iptables-save --version", "ip6tables-save --version", "ip6tables-save -t nat"]
    assert r["sources"] == ["ip6tables-save"] and r["detected"] is False
    host.write("proc/net/ip_tables_names", "filter\nnat\n")
    r = nat.detect(None, host.module, root=host.root)
    # iptables-save answered: ip6tables-save is not asked.
    assert r["sources"] == ["iptables-save"] and r["detected"] is True


def test_kernel_without_loadable_modules_is_asked(host):
    """No /proc/modules (CONFIG_MODULES=n, built-in netfilter): nothing can be loaded, so every tool is asked."""
    host.tool("iptables-nft-save", "*nat\nCOMMIT\n")
    host.tool("nft", fixture("nft.json"))
    r = nat.detect(None, host.module, root=host.root)
    assert host.ran() == ["iptables-nft-save -t nat", "nft -j list ruleset"]
    assert r["detected"] is True


def test_builtin_nf_tables_is_asked(host):
    """nf_tables built in (modules.builtin), no /sys/module entry, /proc/modules present: asking loads nothing."""
    host.tool("nft", fixture("nft.json"))
    host.write("proc/modules", "nf_conntrack 1 0 - Live 0x0\n")
    host.write("lib/modules/%s/modules.builtin" % os.uname().release, "kernel/net/netfilter/nf_tables.ko\n")
    r = nat.detect(None, host.module, root=host.root)
    assert host.ran() == ["nft -j list ruleset"] and r["detected"] is True


def test_old_iptables_save_without_version_is_legacy(host):
    """iptables-save before 1.8 ignores --version and dumps its rules: treated as legacy, even if a comment says nf_tables."""
    host.tool("iptables-save", "# Generated by iptables-save v1.4.21\n*filter\n-A INPUT -m comment --comment "
                               "\"(nf_tables)\" -j ACCEPT\nCOMMIT\n", version=None)
    host.write("proc/net/ip_tables_names", "filter\n")
    host.write("proc/modules", "nf_tables 1 0 - Live 0x0\n")
    r = nat.detect(None, host.module, root=host.root)
    assert host.ran() == ["iptables-save --version"] and r["sources"] == []


def test_hints_alone_are_not_detection(host):
    host.write("proc/sys/net/ipv4/ip_forward", "1\n")
    r = nat.detect(None, host.module, root=host.root)
    assert r["detected"] is False
    assert r["evidence"] == []
    assert r["hints"] == ["net.ipv4.ip_forward=1: this host may route for others"]
