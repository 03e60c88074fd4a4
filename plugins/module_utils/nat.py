# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""NAT detection on the managed host, shared by tcp_sysctl and tcp_info.

Evidence (proof that this host translates addresses):
  * nat-table rules in iptables (legacy and nft back ends): MASQUERADE, SNAT,
    DNAT, REDIRECT, NETMAP targets;
  * nftables rules with masquerade, snat, dnat or redirect statements;
  * conntrack entries whose reply tuple is not the mirror of the original.
Hints (reported, never proof): ip_forward=1, container or VM bridges, the
nf_nat module loaded.

Every source is optional: a missing binary is skipped, never installed.
Nothing here loads a kernel module: a netfilter back end is asked only when it
is already loaded (/proc/net/ip_tables_names, /proc/modules, /sys/module).
The parsers are pure functions so they are tested on captured outputs.
Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import json
import os
import re

NAT_TARGETS = ("MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP")
NFT_NAT_STATEMENTS = ("masquerade", "snat", "dnat", "redirect")
CONNTRACK_MAX_LINES = 100000
BRIDGE_PREFIXES = ("docker", "cni", "podman", "virbr", "br-", "lxcbr", "lxdbr", "cali", "flannel", "kube-bridge")

_TARGET_RE = re.compile(r"(?:^|\s)-j\s+(%s)(?:\s|$)" % "|".join(NAT_TARGETS))


def parse_iptables_save(text, label="iptables"):
    """Rules with a NAT target in the nat table of iptables-save output."""
    evidence = []
    table = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        if table != "nat" or not line.startswith("-A "):
            continue
        if _TARGET_RE.search(line):
            evidence.append("%s nat rule: %s" % (label, line))
    return evidence


def _nft_walk(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _nft_walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _nft_walk(v)


def parse_nft_json(text):
    """Rules with a NAT statement in `nft -j list ruleset` output."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    evidence = []
    for item in data.get("nftables", []) if isinstance(data, dict) else []:
        rule = item.get("rule") if isinstance(item, dict) else None
        if not rule:
            continue
        exprs = rule.get("expr", [])
        found = set(k for k in _nft_walk(exprs) if k in NFT_NAT_STATEMENTS)
        # Rules added through iptables-nft show as xtables targets.
        for e in exprs if isinstance(exprs, list) else []:
            xt = e.get("xt") if isinstance(e, dict) else None
            if isinstance(xt, dict) and xt.get("type") == "target" and xt.get("name") in NAT_TARGETS:
                found.add("xt " + xt["name"])
        found = sorted(found)
        if found:
            evidence.append("nftables rule: %s %s chain %s: %s" % (
                rule.get("family", "?"), rule.get("table", "?"), rule.get("chain", "?"), ", ".join(found)))
    return evidence


_CT_FIELD = re.compile(r"(src|dst|sport|dport)=(\S+)")


def parse_conntrack(text, limit=5):
    """Conntrack entries whose reply tuple is not the mirror of the original.

    Accepts `conntrack -L` output and /proc/net/nf_conntrack lines.
    Returns (evidence, count) with at most ``limit`` sample lines.
    """
    samples = []
    count = 0
    for line in text.splitlines():
        fields = _CT_FIELD.findall(line)
        if len(fields) < 8:
            continue
        orig = dict(fields[:4])
        reply = dict(fields[4:8])
        if (reply.get("src") != orig.get("dst") or reply.get("dst") != orig.get("src")
                or reply.get("sport") != orig.get("dport") or reply.get("dport") != orig.get("sport")):
            count += 1
            if len(samples) < limit:
                samples.append("conntrack NAT entry: %s" % " ".join("%s=%s" % f for f in fields[:8]))
    return samples, count


def _read(path, max_lines=None):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            if max_lines is None:
                return f.read()
            return "".join(line for _i, line in zip(range(max_lines), f))
    except OSError:
        return None


SBIN_DIRS = ["/usr/sbin", "/sbin", "/usr/local/sbin"]
COMMAND_TIMEOUT = 10


def _loaded(root, name):
    """Is kernel module NAME loaded (or built in, or can no module be loaded)? Asking a
    netlink subsystem whose module is absent makes the kernel load it: check
    first, so detection never changes the host."""
    if os.path.isdir(root + "/sys/module/" + name):
        return True
    # Built-in code has a /sys/module entry only when it has parameters:
    # modules.builtin lists the rest.
    builtin = _read("%s/lib/modules/%s/modules.builtin" % (root, os.uname().release)) or ""
    if re.search(r"(^|/)%s\.ko$" % re.escape(name), builtin, re.M):
        return True
    modules = _read(root + "/proc/modules")
    if modules is None or (_read(root + "/proc/sys/kernel/modules_disabled") or "").strip() == "1":
        # A kernel without loadable modules (or with loading disabled): asking
        # cannot load anything, and built-in code has no /proc/modules line.
        return True
    return re.search(r"^%s\s" % re.escape(name), modules, re.M) is not None


def _legacy_has_nat(root, family_file):
    """Legacy iptables: the nat table exists only if /proc/net/ip(6)_tables_names
    lists it; asking for it otherwise loads iptable_nat and nf_nat."""
    return "nat" in (_read(root + "/proc/net/" + family_file) or "").split()


class _Host(object):
    """Runs the probes through the module: its get_bin_path and run_command,
    each command bounded by coreutils timeout and run in the C locale."""

    def __init__(self, module):
        self.module = module
        self.timeout = module.get_bin_path("timeout")

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=SBIN_DIRS)

    def run(self, argv):
        if self.timeout:
            argv = [self.timeout, str(COMMAND_TIMEOUT)] + list(argv)
        rc, out, _err = self.module.run_command(argv, environ_update={"LC_ALL": "C", "LANG": "C"})
        return out if rc == 0 else None


_LEGACY_TOOLS = (("iptables-legacy-save", "iptables-legacy", "ip_tables_names"),
                 ("iptables-nft-save", "iptables-nft", None),
                 ("ip6tables-legacy-save", "ip6tables-legacy", "ip6_tables_names"),
                 ("ip6tables-nft-save", "ip6tables-nft", None))
_PLAIN_TOOLS = (("iptables-save", "iptables", "ip_tables_names"),
                ("ip6tables-save", "ip6tables", "ip6_tables_names"))


def _iptables_tools(host):
    """[(tool, label, legacy table-names file or None for nf_tables)] and {tool: path}."""
    tools = list(_LEGACY_TOOLS)
    paths = dict((t, host.which(t)) for t, _l, _f in tools)
    if any(paths.values()):
        return tools, paths
    # Older distributions ship one back end under the plain name: ask it which.
    tools = []
    for tool, label, names in _PLAIN_TOOLS:
        paths[tool] = host.which(tool)
        version = host.run([paths[tool], "--version"]) if paths[tool] else None
        if version is not None:
            # "iptables-save v1.8.7 (nf_tables)"; releases before 1.8 print
            # no version (they dump the rules): legacy.
            first = (version.splitlines() or [""])[0]
            nft_backend = re.match(r"^\S+ v[\d.]+ \(nf_tables\)\s*$", first) is not None
            tools.append((tool, label, None if nft_backend else names))
    return tools, paths


def _iptables_rules(host, root, nft_loaded, evidence, sources):
    """NAT rules from every iptables back end that is loaded (never loads one)."""
    tools, paths = _iptables_tools(host)
    seen_rules = set()
    for tool, label, legacy_names in tools:
        path = paths.get(tool)
        if not path:
            continue
        if legacy_names and not _legacy_has_nat(root, legacy_names):
            continue
        if not legacy_names and not nft_loaded:
            continue
        out = host.run([path, "-t", "nat"])
        if out is None:
            continue
        sources.append(tool)
        for e in parse_iptables_save(out, label):
            rule = e.split(": ", 1)[1]
            # iptables-nft rules also show in the nftables ruleset; keep both
            # labels but do not count one rule twice per back end.
            if (label, rule) not in seen_rules:
                seen_rules.add((label, rule))
                evidence.append(e)


def _nft_rules(host, nft_loaded, evidence, sources):
    """NAT rules from the nftables ruleset, when nf_tables is loaded."""
    nft = host.which("nft") if nft_loaded else None
    if nft:
        out = host.run([nft, "-j", "list", "ruleset"])
        if out is not None:
            sources.append("nft")
            evidence.extend(parse_nft_json(out))


def _conntrack_entries(host, root, evidence, sources):
    """Translated conntrack entries, only when no rule was found.

    Conntrack tables can hold millions of entries: read them only when conntrack is loaded, and at most
    CONNTRACK_MAX_LINES entries. The conntrack tool needs nf_conntrack_netlink: without it, read
    /proc/net/nf_conntrack if built.
    """
    count = (_read(root + "/proc/sys/net/netfilter/nf_conntrack_count") or "").strip()
    if evidence or not count.isdigit() or int(count) <= 0:
        return
    ct_text = None
    conntrack = host.which("conntrack")
    if conntrack and _loaded(root, "nf_conntrack_netlink") and int(count) <= CONNTRACK_MAX_LINES:
        ct_text = host.run([conntrack, "-L"])
        if ct_text is not None:
            sources.append("conntrack")
    if ct_text is None:
        ct_text = _read(root + "/proc/net/nf_conntrack", CONNTRACK_MAX_LINES)
        if ct_text is not None:
            sources.append("/proc/net/nf_conntrack")
    if ct_text:
        samples, n = parse_conntrack(ct_text)
        if n:
            evidence.append("%d conntrack entries with translated addresses" % n)
            evidence.extend(samples)


def _hints(root):
    """What suggests NAT without proving it: forwarding, bridges, nf_nat loaded."""
    hints = []
    if (_read(root + "/proc/sys/net/ipv4/ip_forward") or "").strip() == "1":
        hints.append("net.ipv4.ip_forward=1: this host may route for others")
    try:
        ifaces = sorted(os.listdir(root + "/sys/class/net"))
    except OSError:
        ifaces = []
    for name in ifaces:
        if name.startswith(BRIDGE_PREFIXES):
            hints.append("bridge interface %s (containers or VMs are often NATed behind it)" % name)
    modules = _read(root + "/proc/modules") or ""
    if re.search(r"^nf_nat\s", modules, re.M):
        hints.append("kernel module nf_nat is loaded")
    return hints


def detect(declared, module, root=""):
    """Look for NAT on this host without changing it (no module is loaded).

    declared: True (nat: present), False (nat: absent) or None (auto).
    module: the AnsibleModule (its get_bin_path and run_command run the probes).
    Returns {detected, declared, evidence, hints, sources}.
    """
    host = _Host(module)
    evidence = []
    sources = []
    nft_loaded = _loaded(root, "nf_tables")
    _iptables_rules(host, root, nft_loaded, evidence, sources)
    _nft_rules(host, nft_loaded, evidence, sources)
    _conntrack_entries(host, root, evidence, sources)
    return {
        "detected": bool(evidence),
        "declared": declared,
        "evidence": evidence,
        "hints": _hints(root),
        "sources": sources,
    }
