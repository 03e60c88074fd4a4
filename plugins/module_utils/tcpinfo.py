# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The logic of kerneltune.tcp.tcp_info: count, aggregate, diagnose.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import heapq
import os
import platform
import socket
import struct

from ansible_collections.kerneltune.tcp.plugins.module_utils import sockdiag
from ansible_collections.kerneltune.tcp.plugins.module_utils import sysctl_core

FAMILY = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}
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


class Aggregator(object):
    """Folds a stream of sockets into counts; memory grows with distinct
    destinations and listeners, never with the number of sockets."""

    def __init__(self, port_range):
        self.low, self.high = port_range
        self.counts = {}
        self.listeners = set()
        self.tw_total = 0
        self.tw_inbound = 0
        self.tw_remote = {}
        self.tw_local = {}
        self.dest = {}
        self.close_wait = {}

    def __call__(self, s):
        """Fold one socket (a sockdiag.Sock)."""
        state = s.state
        fam = s.family
        if state == 6:
            self.time_wait(fam, s.sport, s.dport, s.dst)
            return
        key = (state, fam)
        self.counts[key] = self.counts.get(key, 0) + 1
        if state == 10:
            self.listeners.add(s.sport)
            return
        if state == 8:
            self.close_wait[s.inode] = s.tuple_text()
        if s.sport not in self.listeners and self.low <= s.sport <= self.high:
            dkey = (fam, s.dst, s.dport)
            self.dest[dkey] = self.dest.get(dkey, 0) + 1

    def time_wait(self, fam, sport, dport, dst):
        """Fold one TIME_WAIT socket: the only place that does, for both paths."""
        key = (6, fam)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.tw_total += 1
        self.tw_local[sport] = self.tw_local.get(sport, 0) + 1
        if sport in self.listeners:
            self.tw_inbound += 1
            rkey = (fam, dst, None)  # clients: by address, their ports are all different
        else:
            rkey = (fam, dst, dport)
            if self.low <= sport <= self.high:
                self.dest[rkey] = self.dest.get(rkey, 0) + 1
        self.tw_remote[rkey] = self.tw_remote.get(rkey, 0) + 1

    def feed(self, data):
        """A chunk of raw netlink replies (sockdiag.dump_raw's consumer).
        TIME_WAIT sockets, the bulk on a busy host, are folded straight from
        the bytes without building a Sock; other messages go through
        sockdiag.parse_messages and __call__. Returns True at NLMSG_DONE."""
        hdr = _HDR.unpack_from
        ports = sockdiag.PORTS.unpack_from
        time_wait = self.time_wait
        end = len(data)
        off = 0
        while off + 20 <= end:
            length, mtype, _flags, _seq, _pid, fam, state = hdr(data, off)
            if length < 16:
                raise sockdiag.DiagError("malformed netlink message (length %d)" % length)
            if mtype == sockdiag.SOCK_DIAG_BY_FAMILY and state == 6:
                sport, dport = ports(data, off + 20)
                time_wait(fam, sport, dport, data[off + 40:off + 56])
            elif mtype == sockdiag.NLMSG_DONE:
                return True
            else:
                sockdiag.parse_messages(data[off:off + length], self)
            off += (length + 3) & ~3
        return False


_HDR = struct.Struct("=IHHIIBB")


def _top(counter, n, label):
    items = heapq.nsmallest(n, counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [dict(label(k), count=v) for k, v in items]


def _remote(key):
    fam, raw, port = key
    d = {"address": sockdiag.addr_text(fam, raw)}
    if port is not None:
        d["port"] = port
    return d


def read_counters(proc_root="/proc"):
    out = {}
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
    try:
        with open(os.path.join(proc_root, "net", "sockstat")) as f:
            for line in f:
                if line.startswith("TCP:"):
                    parts = line.split()[1:]
                    for k, v in zip(parts[::2], parts[1::2]):
                        out["sockstat_tcp_%s" % k] = int(v)
    except OSError:
        pass
    return out


def read_sysctls(proc_root="/proc"):
    sys_root = os.path.join(proc_root, "sys")
    return dict((key, sysctl_core.read_runtime(key.split("."), sys_root)[0]) for key in SYSCTLS)


def kernel_support(sysctls, release=None, probe=None):
    release = release or platform.release()
    destroy = (probe or sockdiag.probe_destroy)()
    return {
        "release": release,
        "tcp_tw_recycle": sysctls.get("net.ipv4.tcp_tw_recycle") is not None,
        "tcp_tw_reuse_delay": sysctls.get("net.ipv4.tcp_tw_reuse_delay") is not None,
        "sock_destroy": destroy["supported"],
        "sock_destroy_reason": destroy["reason"],
        "time_wait_destroyable": destroy["supported"] and sockdiag.time_wait_destroyable(release),
    }


def _ports(text):
    try:
        lo, hi = [int(x) for x in (text or "32768 60999").split()]
    except ValueError:
        lo, hi = 32768, 60999
    return lo, hi


def collect(source="auto", top=10, proc_root="/proc", sysctls=None, counters=None, nat=None, kernel=None,
            owners=None, dumper=None, thresholds=None):
    """Everything tcp_info returns. Injectable parts for tests."""
    th = {"port_share_warning": 0.5, "port_share_error": 0.8, "close_wait_min": 1}
    th.update(thresholds or {})
    sysctls = read_sysctls(proc_root) if sysctls is None else sysctls
    counters = read_counters(proc_root) if counters is None else counters
    low, high = _ports(sysctls.get("net.ipv4.ip_local_port_range"))
    reserved = sysctl_core.reserved_ports(sysctls.get("net.ipv4.ip_local_reserved_ports"))
    agg = Aggregator((low, high))
    states = sockdiag.ALL_STATES
    used = source
    if dumper is not None:
        dumper(agg, states)
    elif source in ("auto", "netlink"):
        try:
            sockdiag.dump_raw(agg.feed, states)
            used = "netlink"
        except (sockdiag.DiagError, OSError):
            if source == "netlink":
                raise
            agg = Aggregator((low, high))
            sockdiag.dump_proc(agg, states, proc_root)
            used = "proc"
    else:
        sockdiag.dump_proc(agg, states, proc_root)

    counts = {}
    for (state, fam), n in agg.counts.items():
        name = sockdiag.STATES.get(state, str(state))
        entry = counts.setdefault(name, {"ipv4": 0, "ipv6": 0, "total": 0})
        entry[FAMILY.get(fam, str(fam))] += n
        entry["total"] += n
    total = sum(e["total"] for e in counts.values())

    owner_map = (owners or sockdiag.owners)(list(agg.close_wait))
    procs = {}
    for inode, tup in agg.close_wait.items():
        pid, comm, cmdline = owner_map.get(inode, (None, None, None))
        p = procs.setdefault(pid, {"pid": pid, "command": comm, "cmdline": cmdline, "count": 0, "sample": []})
        p["count"] += 1
        if len(p["sample"]) < 5:
            p["sample"].append(tup)
    cw_procs = sorted(procs.values(), key=lambda p: (-p["count"], p["pid"] or 0))

    size = high - low + 1
    usable = size - len([p for p in reserved if low <= p <= high])
    busiest = None
    if agg.dest:
        (fam, raw, port), n = max(agg.dest.items(), key=lambda kv: (kv[1], str(kv[0])))
        busiest = {"address": sockdiag.addr_text(fam, raw), "port": port, "local_ports_used": n,
                   "share": round(float(n) / usable, 4) if usable > 0 else 1.0}

    result = {
        "source": used,
        "counts": counts,
        "total": total,
        "time_wait": {
            "total": agg.tw_total,
            "outbound": agg.tw_total - agg.tw_inbound,
            "inbound": agg.tw_inbound,
            "top_remote": _top(agg.tw_remote, top, _remote),
            "top_local_ports": _top(agg.tw_local, top, lambda p: {"port": p}),
        },
        "close_wait": {"total": len(agg.close_wait), "processes": cw_procs},
        "ephemeral_ports": {"range": [low, high], "size": size, "reserved": len(reserved), "usable": usable,
                            "busiest_destination": busiest},
        "listeners": sorted(agg.listeners),
        "counters": counters,
        "sysctls": sysctls,
        "kernel": kernel or {},
        "nat": nat or {},
    }
    result["findings"] = diagnose(result, th)
    return result


def diagnose(r, th):
    """Findings {id, severity, message, remedy}, worst first."""
    f = []
    s = r["sysctls"]
    c = r["counters"]
    busiest = r["ephemeral_ports"]["busiest_destination"]
    if busiest and busiest["share"] >= th["port_share_warning"]:
        sev = "error" if busiest["share"] >= th["port_share_error"] else "warning"
        f.append({
            "id": "port_exhaustion", "severity": sev,
            "message": "%d local ports (%d%% of the usable ephemeral range %d-%d) are tied up towards %s:%d; "
                       "connect() to it fails with EADDRNOTAVAIL when none are left"
                       % (busiest["local_ports_used"], round(busiest["share"] * 100), r["ephemeral_ports"]["range"][0],
                          r["ephemeral_ports"]["range"][1], busiest["address"], busiest["port"]),
            "remedy": "Pool and reuse connections to %s:%d; apply the high_outbound_client profile (wider "
                      "ip_local_port_range, tcp_tw_reuse=1)" % (busiest["address"], busiest["port"])})
    if c.get("TcpExtTCPTimeWaitOverflow", 0) > 0:
        f.append({
            "id": "time_wait_overflow", "severity": "warning",
            "message": "TcpExtTCPTimeWaitOverflow is %d: connections closed while the TIME_WAIT table was full "
                       "skipped TIME_WAIT (net.ipv4.tcp_max_tw_buckets = %s)"
                       % (c["TcpExtTCPTimeWaitOverflow"], s.get("net.ipv4.tcp_max_tw_buckets")),
            "remedy": "Raise net.ipv4.tcp_max_tw_buckets or cut connection churn (keep-alive, pooling); do not "
                      "lower it to 'fix' TIME_WAIT"})
    for p in r["close_wait"]["processes"]:
        if p["count"] >= th["close_wait_min"]:
            who = "%s (pid %s)" % (p["command"], p["pid"]) if p["pid"] else "an unknown process"
            f.append({
                "id": "close_wait_leak", "severity": "warning",
                "message": "%s holds %d socket%s in CLOSE_WAIT: the peer closed and the application never called "
                           "close(); e.g. %s" % (who, p["count"], "" if p["count"] == 1 else "s", p["sample"][0]),
                "remedy": "Fix the application's close() on EOF (or restart it); no sysctl shortens CLOSE_WAIT. "
                          "kerneltune.tcp.tcp_reset can abort these sockets now"})
    overflows = c.get("TcpExtListenOverflows", 0)
    if overflows > 0:
        somax = int(s.get("net.core.somaxconn") or 0)
        low = somax < 4096
        f.append({
            "id": "listen_overflow", "severity": "warning" if low else "info",
            "message": "TcpExtListenOverflows is %d: accept queues overflowed%s"
                       % (overflows, " with net.core.somaxconn = %d" % somax if low else ""),
            "remedy": "Apply the web_frontend profile (somaxconn, tcp_max_syn_backlog) and raise the "
                      "application's listen() backlog" if low else
                      "Raise the application's listen() backlog or accept faster; somaxconn is already %d" % somax})
    if s.get("net.ipv4.tcp_tw_recycle") == "1":
        nat = r["nat"] or {}
        f.append({
            "id": "tw_recycle_on", "severity": "error" if nat.get("detected") else "warning",
            "message": "net.ipv4.tcp_tw_recycle is 1%s: SYNs from clients sharing an address behind NAT are "
                       "dropped" % (" and NAT was detected on this host" if nat.get("detected") else ""),
            "remedy": "Set net.ipv4.tcp_tw_recycle to 0 (removed in Linux 4.12); use tcp_tw_reuse=1 for outgoing "
                      "connections"})
    tw_out = r["time_wait"]["outbound"]
    if tw_out and s.get("net.ipv4.tcp_tw_reuse") not in ("1",) and \
            tw_out >= 0.1 * r["ephemeral_ports"]["usable"]:
        f.append({
            "id": "time_wait_outbound", "severity": "info",
            "message": "%d outbound connections sit in TIME_WAIT with net.ipv4.tcp_tw_reuse = %s"
                       % (tw_out, s.get("net.ipv4.tcp_tw_reuse")),
            "remedy": "Apply the high_outbound_client profile (tcp_tw_reuse=1 lets connect() reuse them safely "
                      "with timestamps); tcp_fin_timeout does not shorten TIME_WAIT"})
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(f, key=lambda x: order[x["severity"]])
