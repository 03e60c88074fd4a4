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
Detection stops at the first source that proves NAT (legacy iptables
first, then nf_tables, then conntrack); nf_tables is read over netlink
(nftlink.py) and only when that cannot be done through iptables-nft-save and
nft; a source is parsed only until
EVIDENCE_SAMPLES of its rules are found: with thousands of DNAT rules
(kube-proxy) the answer and the evidence stay small and quick. The
evidence is a few sample rules per source; ``counts`` says how many were
seen and whether parsing stopped early.
Nothing here loads a kernel module: a netfilter back end is asked only when it
is already loaded (/proc/net/ip_tables_names, /proc/modules, /sys/module).
The parsers are pure functions so they are tested on captured outputs.
Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import json
import os
import re
import struct

NAT_TARGETS = ("MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP")
NFT_NAT_STATEMENTS = ("masquerade", "snat", "dnat", "redirect")
CONNTRACK_MAX_LINES = 100000
# Rules kept as evidence per source; parsing a source stops there (the answer is known).
EVIDENCE_SAMPLES = 5
# The source name of nf_tables read over netlink (nftlink.py) in ``sources`` and ``counts``.
NETLINK_SOURCE = "nf_tables netlink"
BRIDGE_PREFIXES = ("docker", "cni", "podman", "virbr", "br-", "lxcbr", "lxdbr", "cali", "flannel", "kube-bridge")

_TARGET_RE = re.compile(r"(?:^|\s)-j\s+(%s)(?:\s|$)" % "|".join(NAT_TARGETS))


def _lines(text):
    """The lines of TEXT, one at a time (no list of them all)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield text[start:end]
        start = end + 1


def parse_iptables_save(text, label="iptables", limit=None):
    """Rules with a NAT target in the nat table of iptables-save output; at most LIMIT (then parsing stops)."""
    evidence = []
    table = None
    for line in _lines(text):
        if limit is not None and len(evidence) >= limit:
            break
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


def parse_nft_json(text, limit=None):
    """Rules with a NAT statement in `nft -j list ruleset` output; at most LIMIT."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    evidence = []
    for item in data.get("nftables", []) if isinstance(data, dict) else []:
        if limit is not None and len(evidence) >= limit:
            break
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


def _iptables_rules(host, root, backend, tools, evidence, sources, counts):
    """NAT rules from the iptables tools of BACKEND (legacy: only where its nat table exists; nft: nf_tables is
    loaded), until one of them shows some. TOOLS: _iptables_tools(host)."""
    for tool, label, legacy_names in tools[0]:
        path = tools[1].get(tool)
        if evidence or not path or (backend == "legacy") != bool(legacy_names):
            continue
        if legacy_names and not _legacy_has_nat(root, legacy_names):
            continue
        out = host.run([path, "-t", "nat"])
        if out is None:
            continue
        sources.append(tool)
        found = parse_iptables_save(out, label, EVIDENCE_SAMPLES)
        if found:
            counts[tool] = _count(len(found))
        evidence.extend(found)


def _nf_tables_netlink(root, nft_loaded, evidence, sources, counts):
    """NAT rules straight from nf_tables over netlink (rules added through iptables-nft included), read only until
    EVIDENCE_SAMPLES are found. True when the kernel answered: then no nf_tables tool needs to be run."""
    if root or not nft_loaded:
        return False  # a captured host (tests), or a dump that would load nf_tables
    # Imported here: tcp_info imports this module on every run but detects NAT only when tcp_tw_recycle is on.
    from ansible_collections.kerneltune.tcp.plugins.module_utils import nftlink
    try:
        rules = nftlink.nat_rules(EVIDENCE_SAMPLES)
    except (OSError, ValueError, struct.error):
        return False
    sources.append(NETLINK_SOURCE)
    if rules:
        counts[NETLINK_SOURCE] = _count(len(rules))
        evidence.extend(nftlink.evidence(rules))
    return True


def _count(n):
    """What a source's count says: N rules seen; "at least" when parsing stopped at the sample limit."""
    return {"rules": n, "complete": n < EVIDENCE_SAMPLES}


def _nft_rules(host, nft_loaded, evidence, sources, counts):
    """NAT rules from the nftables ruleset, when nf_tables is loaded and no iptables back end showed any."""
    nft = host.which("nft") if nft_loaded and not evidence else None
    if nft:
        out = host.run([nft, "-j", "list", "ruleset"])
        if out is not None:
            sources.append("nft")
            found = parse_nft_json(out, EVIDENCE_SAMPLES)
            if found:
                counts["nft"] = _count(len(found))
            evidence.extend(found)


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
    Returns {detected, declared, evidence, hints, sources, counts}: evidence holds at most EVIDENCE_SAMPLES
    rules of the one source that proved NAT (sources lists every source asked, in order); counts, per source
    with evidence, {rules: how many were seen, complete: false when parsing stopped at the sample limit}.
    """
    host = _Host(module)
    evidence = []
    sources = []
    counts = {}
    nft_loaded = _loaded(root, "nf_tables")
    tools = _iptables_tools(host)
    _iptables_rules(host, root, "legacy", tools, evidence, sources, counts)
    if not evidence and not _nf_tables_netlink(root, nft_loaded, evidence, sources, counts) and nft_loaded:
        _iptables_rules(host, root, "nft", tools, evidence, sources, counts)
        _nft_rules(host, nft_loaded, evidence, sources, counts)
    _conntrack_entries(host, root, evidence, sources)
    return {
        "detected": bool(evidence),
        "declared": declared,
        "evidence": evidence,
        "hints": _hints(root),
        "sources": sources,
        "counts": counts,
    }
