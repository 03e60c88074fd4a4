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
The parsers are pure functions so they are tested on captured outputs.
Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

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


def _find_bin(name, paths=("/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin")):
    for d in paths:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def _run(argv, timeout=5):
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode != 0:
        return None
    return p.stdout.decode("utf-8", "replace")


def _read(path, max_lines=None):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            if max_lines is None:
                return f.read()
            return "".join(line for _i, line in zip(range(max_lines), f))
    except OSError:
        return None


def _head(argv, max_lines=None, timeout=10):
    """The first lines a command prints; the command is stopped after them."""
    max_lines = max_lines or CONNTRACK_MAX_LINES
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    except OSError:
        return None
    lines = []
    try:
        for raw in p.stdout:
            lines.append(raw.decode("utf-8", "replace"))
            if len(lines) >= max_lines:
                break
    finally:
        p.kill()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        p.stdout.close()
    return "".join(lines)


def legacy_nat_loaded(root="", ipv6=False):
    """Whether the legacy (x_tables) nat table already exists: /proc/net/ip{,6}_tables_names lists it."""
    text = _read(root + ("/proc/net/ip6_tables_names" if ipv6 else "/proc/net/ip_tables_names"))
    return bool(text) and "nat" in text.split()


def detect(declared=None, root="", runner=None):
    """Look for NAT on this host.

    declared: True (nat: present), False (nat: absent) or None (auto).
    runner: callable(argv) -> stdout or None, for tests.
    Returns {detected, declared, evidence, hints, sources}.
    """
    run = runner or _run
    evidence = []
    hints = []
    sources = []
    seen_rules = set()
    skipped = []
    tools = [("iptables-legacy-save", "iptables-legacy"), ("iptables-nft-save", "iptables-nft"),
             ("ip6tables-legacy-save", "ip6tables-legacy"), ("ip6tables-nft-save", "ip6tables-nft")]
    if runner is None and not any(_find_bin(t) for t, _l in tools):
        # Older distributions ship one back end under the plain name.
        tools = [("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")]
    for tool, label in tools:
        path = _find_bin(tool) if runner is None else tool
        if not path:
            continue
        if "nft" not in tool and not legacy_nat_loaded(root, ipv6=tool.startswith("ip6")):
            # Listing a legacy table loads its kernel modules (iptable_nat, nf_nat):
            # a read-only check must not change the kernel. No table, no rules.
            skipped.append(tool)
            continue
        out = run([path, "-t", "nat"])
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
    nft = _find_bin("nft") if runner is None else "nft"
    if nft:
        out = run([nft, "-j", "list", "ruleset"])
        if out is not None:
            sources.append("nft")
            evidence.extend(parse_nft_json(out))
    # Conntrack tables can hold millions of entries: read them only when no
    # rule was found, and at most CONNTRACK_MAX_LINES lines.
    if not evidence:
        ct_text = None
        conntrack = _find_bin("conntrack") if runner is None else "conntrack"
        if conntrack:
            ct_text = run([conntrack, "-L"]) if runner is not None else _head([conntrack, "-L"])
            if ct_text is not None:
                sources.append("conntrack")
        if ct_text is None:
            ct_text = _read(root + "/proc/net/nf_conntrack", CONNTRACK_MAX_LINES)
            if ct_text is not None:
                sources.append("/proc/net/nf_conntrack")
        if ct_text:
            samples, count = parse_conntrack(ct_text)
            if count:
                evidence.append("%d conntrack entries with translated addresses" % count)
                evidence.extend(samples)
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
    return {
        "detected": bool(evidence),
        "declared": declared,
        "evidence": evidence,
        "hints": hints,
        "sources": sources,
    }
