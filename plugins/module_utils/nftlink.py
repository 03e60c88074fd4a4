# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nf_tables rules with a NAT statement, read straight from the kernel (NETLINK_NETFILTER, NFT_MSG_GETRULE dump)
and only until enough are found: with 20,000 kube-proxy DNAT rules the answer comes from the first reply, where
`iptables-nft-save` or `nft -j list ruleset` would translate every rule first.

Seen as NAT: the expressions nat (snat, dnat), masq, redir, and xtables targets (rules added through iptables-nft)
named MASQUERADE, SNAT, DNAT, REDIRECT or NETMAP. Ask only when nf_tables is loaded (nat.py checks): a dump would
make the kernel load it. Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import os
import socket
import struct

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETRULE = 7
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
NFTA_RULE_TABLE = 1
NFTA_RULE_CHAIN = 2
NFTA_RULE_EXPRESSIONS = 4
NFTA_LIST_ELEM = 1
NFTA_EXPR_NAME = 1
NFTA_EXPR_DATA = 2
NFTA_NAT_TYPE = 1
NFTA_TARGET_NAME = 1
NFT_NAT_DNAT = 1
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
NAT_TARGETS = ("MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP")
NLMSG = struct.Struct("=IHHII")
NFGEN = struct.Struct("=BBH")
NLA = struct.Struct("=HH")
ERRNO = struct.Struct("=i")
U32_BE = struct.Struct(">I")
RECV = 65536


def _align(n):
    return (n + 3) & ~3


def attrs(buf, start, end):
    """{type: (offset, end)} of the netlink attributes in buf[start:end] (the last of a repeated type wins)."""
    out = {}
    for t, off, stop in attr_list(buf, start, end):
        out[t] = (off, stop)
    return out


def attr_list(buf, start, end):
    """[(type, payload offset, payload end)] of the netlink attributes in buf[start:end], in order."""
    out = []
    off = start
    while off + NLA.size <= end:
        length, t = NLA.unpack_from(buf, off)
        if length < NLA.size or off + length > end:
            break
        out.append((t & NLA_TYPE_MASK, off + NLA.size, off + length))
        off += _align(length)
    return out


def _text(buf, span):
    return bytes(buf[span[0]:span[1]]).split(b"\0", 1)[0].decode("utf-8", "replace")


def _nat_expr(buf, start, end):
    """What one expression does to addresses (dnat, snat, masquerade, redirect, xt DNAT, ...), or None."""
    a = attrs(buf, start, end)
    if NFTA_EXPR_NAME not in a:
        return None
    name = _text(buf, a[NFTA_EXPR_NAME])
    data = attrs(buf, *a[NFTA_EXPR_DATA]) if NFTA_EXPR_DATA in a else {}
    if name == "masq":
        return "masquerade"
    if name == "redir":
        return "redirect"
    if name == "nat":
        span = data.get(NFTA_NAT_TYPE)
        kind = U32_BE.unpack_from(buf, span[0])[0] if span and span[1] - span[0] >= 4 else None
        return "dnat" if kind == NFT_NAT_DNAT else "snat"
    if name == "target" and NFTA_TARGET_NAME in data:
        target = _text(buf, data[NFTA_TARGET_NAME])
        return "xt " + target if target in NAT_TARGETS else None
    return None


def parse_rule(buf, start, end):
    """(family, table, chain, [NAT statements]) of one NFT_MSG_NEWRULE message body (nfgenmsg first)."""
    family = FAMILIES.get(NFGEN.unpack_from(buf, start)[0], "?")
    a = attrs(buf, start + NFGEN.size, end)
    found = []
    if NFTA_RULE_EXPRESSIONS in a:
        for t, off, stop in attr_list(buf, *a[NFTA_RULE_EXPRESSIONS]):
            what = _nat_expr(buf, off, stop) if t == NFTA_LIST_ELEM else None
            if what and what not in found:
                found.append(what)
    table = _text(buf, a[NFTA_RULE_TABLE]) if NFTA_RULE_TABLE in a else "?"
    chain = _text(buf, a[NFTA_RULE_CHAIN]) if NFTA_RULE_CHAIN in a else "?"
    return family, table, chain, found


def parse_replies(buf, limit, out):
    """Adds the NAT rules in one recv() of replies to OUT (at most LIMIT). True when the dump is over or OUT full;
    OSError for an error reply."""
    off = 0
    while off + NLMSG.size <= len(buf):
        length, mtype, _flags, _seq, _pid = NLMSG.unpack_from(buf, off)
        if length < NLMSG.size or off + length > len(buf):
            return True
        if mtype == NLMSG_DONE:
            return True
        if mtype == NLMSG_ERROR:
            err = -ERRNO.unpack_from(buf, off + NLMSG.size)[0]
            if err:
                raise OSError(err, os.strerror(err))
            return True
        family, table, chain, found = parse_rule(buf, off + NLMSG.size, off + length)
        if found:
            out.append((family, table, chain, found))
            if len(out) >= limit:
                return True
        off += _align(length)
    return False


def nat_rules(limit, sock=None):
    """Up to LIMIT [(family, table, chain, [statements])] rules with NAT, the dump read only until they are found.
    OSError when the kernel cannot be asked (no NETLINK_NETFILTER, no permission)."""
    s = sock or socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        msg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE
        req = NLMSG.pack(NLMSG.size + NFGEN.size, msg_type, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + NFGEN.pack(
            socket.AF_UNSPEC, 0, 0)
        s.sendto(req, (0, 0))
        out = []
        while not parse_replies(s.recv(RECV), limit, out):
            pass
        return out
    finally:
        if sock is None:
            s.close()


def evidence(rules):
    """The evidence lines, in the form parse_nft_json gives them."""
    return ["nftables rule: %s %s chain %s: %s" % (family, table, chain, ", ".join(found))
            for family, table, chain, found in rules]
