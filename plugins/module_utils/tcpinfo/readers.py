# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What tcp_info reads besides the sockets: the kernel's TCP counters
(/proc/net/netstat, snmp, sockstat) and the sysctls its findings weigh.
"""

from __future__ import annotations

import os

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys

SYSCTLS = (
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_tw_reuse_delay", "net.ipv4.tcp_tw_recycle",
    "net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_timestamps", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies",
    "net.core.somaxconn",
)
COUNTERS = {
    "TcpExt": ("TW", "TWRecycled", "TWKilled", "TCPTimeWaitOverflow", "PAWSActive", "PAWSEstab", "PAWSTimewait",
               "PAWSOldAck", "ListenOverflows", "ListenDrops"),
    "Tcp": ("ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets", "CurrEstab"),
}


def _snmp_counters(proc_root, out):
    """/proc/net/netstat and snmp: pairs of lines, "Prefix: names" then "Prefix: values"."""
    for name in ("netstat", "snmp"):
        try:
            with open(os.path.join(proc_root, "net", name)) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for head, vals in zip(lines[::2], lines[1::2]):
            prefix, keys = head.split(":", 1)
            if prefix not in COUNTERS:
                continue
            values = dict(zip(keys.split(), vals.split(":", 1)[1].split()))
            for k in COUNTERS[prefix]:
                if k in values:
                    out["%s%s" % (prefix, k)] = int(values[k])


def _sockstat(proc_root, out):
    """/proc/net/sockstat's TCP line: "TCP: inuse 1 orphan 0 tw 8 ..."."""
    try:
        with open(os.path.join(proc_root, "net", "sockstat")) as f:
            for line in f:
                if line.startswith("TCP:"):
                    parts = line.split()[1:]
                    for k, v in zip(parts[::2], parts[1::2]):
                        out["sockstat_tcp_%s" % k] = int(v)
    except OSError:
        pass


def read_counters(proc_root="/proc"):
    out = {}
    _snmp_counters(proc_root, out)
    _sockstat(proc_root, out)
    return out


def read_conntrack(proc_root="/proc"):
    """{count, max} of the connection tracking table of this network namespace (nf_conntrack_count is per
    namespace, nf_conntrack_max one value for the kernel, read-only outside the host's namespace), or None when
    nf_conntrack is not loaded (no /proc/sys/net/netfilter/nf_conntrack_count)."""
    out = {}
    for key in ("count", "max"):
        try:
            with open(os.path.join(proc_root, "sys", "net", "netfilter", "nf_conntrack_%s" % key)) as f:
                out[key] = int(f.read().strip())
        except (OSError, ValueError):
            return None
    return out


def read_sysctls(proc_root="/proc"):
    sys_root = os.path.join(proc_root, "sys")
    return dict((key, procsys.read_runtime(key.split("."), sys_root)[0]) for key in SYSCTLS)
