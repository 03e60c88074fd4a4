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


MAPPED = b"\0" * 10 + b"\xff\xff"
LOOP6 = b"\0" * 15 + b"\1"
SAMPLE_CAP = 1000  # CLOSE_WAIT tuples kept as text, whatever the number of sockets


def norm(fam, raw):
    """An address as 4 bytes (IPv4, including IPv4-mapped IPv6) or 16 bytes."""
    if fam == socket.AF_INET:
        return raw[:4]
    if raw[:12] == MAPPED:
        return raw[12:16]
    return raw[:16]


def is_loopback(raw):
    return raw[0] == 127 if len(raw) == 4 else raw == LOOP6


def text(raw):
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


class TopCounter(object):
    """Counts with bounded memory (Misra-Gries in batches): at most 2 x cap
    keys are kept; when more come, the (cap+1)-th largest count is taken off
    every key and the keys at zero dropped. Exact while there are at most
    2 x cap distinct keys; otherwise every count is low by at most ``error``,
    and any key with more than total / cap sockets is kept."""

    __slots__ = ("cap", "data", "error")

    def __init__(self, cap=2048):
        self.cap = cap
        self.data = {}
        self.error = 0

    def add(self, key, n=1):
        d = self.data
        d[key] = d.get(key, 0) + n
        if len(d) > 2 * self.cap:
            self.prune()

    def prune(self):
        t = heapq.nlargest(self.cap + 1, self.data.values())[-1]
        self.error += t
        self.data = dict((k, v - t) for k, v in self.data.items() if v > t)

    def items(self):
        return self.data.items()

    def get(self, key, default=0):
        return self.data.get(key, default)


class Aggregator(object):
    """Folds a stream of sockets into counts; memory is bounded by the
    TopCounter caps and the sample cap, never by the number of sockets or
    of distinct destinations."""

    def __init__(self, port_range, cap=2048):
        self.low, self.high = port_range
        self.counts = {}
        self.listeners = set()
        self.listen_socks = {}  # (local address, port) -> inode
        self.tw_total = 0
        self.tw_inbound = 0
        self.tw_out_loopback = 0
        self.tw_remote = TopCounter(cap)
        self.tw_local = {}
        # Ports in use per (source, destination, destination port); TIME_WAIT apart.
        self.dest = TopCounter(cap)
        self.dest_tw = TopCounter(cap)
        self.cw_total = 0
        self.cw_inodes = set()
        self.cw_sample = {}
        self.cw_queue = {}  # (local address, port) -> [count, sample]

    def _conn(self, fam, state, sport, dport, src, dst):
        """Folding shared by both paths for every state but LISTEN and CLOSE_WAIT."""
        inbound = sport in self.listeners
        if state == 6:
            self.tw_total += 1
            self.tw_local[sport] = self.tw_local.get(sport, 0) + 1
            if inbound:
                self.tw_inbound += 1
                self.tw_remote.add((dst, None))  # clients: by address, their ports are all different
                return
            if is_loopback(dst) or is_loopback(src):
                self.tw_out_loopback += 1
            self.tw_remote.add((dst, dport))
        if not inbound and self.low <= sport <= self.high:
            key = (src, dst, dport)
            self.dest.add(key)
            if state == 6:
                self.dest_tw.add(key)

    def __call__(self, s):
        state = s.state
        fam = s.family
        key = (state, fam)
        self.counts[key] = self.counts.get(key, 0) + 1
        src = norm(fam, s.src)
        if state == 10:
            self.listeners.add(s.sport)
            self.listen_socks[(src, s.sport)] = s.inode
            return
        if state == 8:
            self.cw_total += 1
            if s.inode:
                self.cw_inodes.add(s.inode)
                if len(self.cw_sample) < SAMPLE_CAP:
                    self.cw_sample[s.inode] = s.tuple_text()
            else:
                # Not accepted yet: in a listener's accept queue, no owner fd.
                q = self.cw_queue.setdefault((src, s.sport), [0, []])
                q[0] += 1
                if len(q[1]) < 5:
                    q[1].append(s.tuple_text())
            if s.sport in self.listeners:
                return
        self._conn(fam, state, s.sport, s.dport, src, norm(fam, s.dst))

    def feed(self, data):
        """Fast path over raw netlink replies: the same folding as __call__
        without building a Sock per socket. Returns True at NLMSG_DONE."""
        hdr = _HDR.unpack_from
        ports = _PORTS.unpack_from
        counts = self.counts
        counts_get = counts.get
        conn = self._conn
        end = len(data)
        off = 0
        while off + 20 <= end:
            length, mtype, _flags, _seq, _pid, fam, state, _timer, _retrans = hdr(data, off)
            if length < 16:
                raise sockdiag.DiagError("malformed netlink message (length %d)" % length)
            if mtype == 20:  # SOCK_DIAG_BY_FAMILY
                if state == 10 or state == 8:
                    sockdiag.parse_messages(data[off:off + length], self)
                else:
                    key = (state, fam)
                    counts[key] = counts_get(key, 0) + 1
                    sport, dport = ports(data, off + 20)
                    if fam == 2:
                        src = data[off + 24:off + 28]
                        dst = data[off + 40:off + 44]
                    else:
                        src = data[off + 24:off + 40]
                        dst = data[off + 40:off + 56]
                        if src[:12] == MAPPED:
                            src = src[12:]
                        if dst[:12] == MAPPED:
                            dst = dst[12:]
                    conn(fam, state, sport, dport, src, dst)
            elif mtype == sockdiag.NLMSG_DONE:
                return True
            elif mtype == sockdiag.NLMSG_ERROR:
                sockdiag.parse_messages(data[off:off + length], self)
            off += (length + 3) & ~3
        return False


_HDR = struct.Struct("=IHHIIBBBB")
_PORTS = struct.Struct("!HH")


def _top(counter, n, label):
    items = heapq.nsmallest(n, counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [dict(label(k), count=v) for k, v in items]


def _remote(key):
    raw, port = key
    d = {"address": text(raw)}
    if port is not None:
        d["port"] = port
    return d


def tw_reusable(sysctls, src, dst):
    """Would connect() reuse a TIME_WAIT port of this (source, destination)?
    tcp_twsk_unique() (net/ipv4/tcp_ipv4.c): tcp_tw_reuse 1, or 2 with a
    loopback address, and the old connection carried timestamps."""
    reuse = str(sysctls.get("net.ipv4.tcp_tw_reuse") or "0").strip()
    ts = str(sysctls.get("net.ipv4.tcp_timestamps") or "0").strip()
    if ts == "0":
        return False
    return reuse == "1" or (reuse == "2" and (is_loopback(src) or is_loopback(dst)))


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


def kernel_config(option, release, roots=("/boot", "/proc")):
    """'y', 'm', 'n' or None (unknown) for a kernel build option, from
    /boot/config-RELEASE or /proc/config.gz."""
    import gzip
    for path, opener in ((os.path.join(roots[0], "config-%s" % release), open),
                         (os.path.join(roots[1], "config.gz"), gzip.open)):
        try:
            with opener(path, "rt") as f:
                for line in f:
                    if line.startswith(option + "="):
                        return line.strip().split("=", 1)[1]
                    if line.startswith("# %s is not set" % option):
                        return "n"
        except (OSError, EOFError):
            continue
    return None


def kernel_support(sysctls, release=None, proc_root="/proc", boot_root="/boot"):
    """What the kernel and this process support. Sends no destroy request
    (tcp_info is read-only): CAP_NET_ADMIN comes from CapEff, and
    CONFIG_INET_DIAG_DESTROY from the kernel's config where it is readable."""
    release = release or platform.release()
    cap = sockdiag.has_cap(sockdiag.CAP_NET_ADMIN, proc_root)
    config = kernel_config("CONFIG_INET_DIAG_DESTROY", release, (boot_root, proc_root))
    if config == "n":
        ok, reason = False, "kernel built without CONFIG_INET_DIAG_DESTROY"
    elif cap is False:
        ok, reason = False, sockdiag.NO_CAP
    else:
        ok = True
        reason = None if config == "y" else "CONFIG_INET_DIAG_DESTROY not readable in /boot or /proc/config.gz: " \
            "tcp_reset tells for sure"
    return {
        "release": release,
        "tcp_tw_recycle": sysctls.get("net.ipv4.tcp_tw_recycle") is not None,
        "tcp_tw_reuse_delay": sysctls.get("net.ipv4.tcp_tw_reuse_delay") is not None,
        "cap_net_admin": cap,
        "sock_destroy": ok,
        "sock_destroy_reason": reason,
        "time_wait_destroyable": ok and sockdiag.time_wait_destroyable(release),
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

    listener_inodes = {}
    for (src, port), _q in agg.cw_queue.items():
        # The listener: on this very address, or on the wildcard of a family.
        for addr in (src, b"\0" * 4, b"\0" * 16):
            if (addr, port) in agg.listen_socks:
                listener_inodes[(src, port)] = (agg.listen_socks[(addr, port)], addr)
                break
        else:
            listener_inodes[(src, port)] = (None, src)
    owner_map = (owners or sockdiag.owners)(list(agg.cw_inodes) + [i for i, _a in listener_inodes.values() if i])
    procs = {}
    for inode in agg.cw_inodes:
        pid, comm, cmdline = owner_map.get(inode, (None, None, None))
        p = procs.setdefault(pid, {"pid": pid, "command": comm, "cmdline": cmdline, "count": 0, "sample": []})
        p["count"] += 1
        if len(p["sample"]) < 5 and inode in agg.cw_sample:
            p["sample"].append(agg.cw_sample[inode])
    cw_procs = sorted(procs.values(), key=lambda p: (-p["count"], p["pid"] or 0))
    queues = []
    for (src, port), (n, sample) in agg.cw_queue.items():
        inode, addr = listener_inodes[(src, port)]
        pid, comm, cmdline = owner_map.get(inode, (None, None, None))
        queues.append({"listener": ("[%s]:%d" if len(addr) == 16 else "%s:%d") % (text(addr), port), "count": n,
                       "pid": pid, "command": comm, "cmdline": cmdline, "sample": sample})
    queues.sort(key=lambda q: (-q["count"], q["listener"]))

    size = high - low + 1
    usable = size - len([p for p in reserved if low <= p <= high])
    busiest = None
    best = None
    for key, n in agg.dest.items():
        src, dst, port = key
        tw = agg.dest_tw.get(key)
        reusable = tw if tw_reusable(sysctls, src, dst) else 0
        rank = (n - reusable, n, str(key))
        if best is None or rank > best[0]:
            best = (rank, key, n, tw, reusable)
    if best is not None:
        _rank, (src, dst, port), n, tw, reusable = best
        taken = n - reusable
        busiest = {"source": text(src), "address": text(dst), "port": port, "local_ports_used": taken,
                   "time_wait": tw, "time_wait_reusable": reusable,
                   "share": round(float(taken) / usable, 4) if usable > 0 else 1.0}
        if agg.dest.error:
            busiest["error_bound"] = agg.dest.error

    result = {
        "source": used,
        "counts": counts,
        "total": total,
        "time_wait": {
            "total": agg.tw_total,
            "outbound": agg.tw_total - agg.tw_inbound,
            "inbound": agg.tw_inbound,
            "outbound_loopback": agg.tw_out_loopback,
            "top_remote": _top(agg.tw_remote, top, _remote),
            "top_local_ports": _top(agg.tw_local, top, lambda p: {"port": p}),
        },
        "close_wait": {"total": agg.cw_total, "processes": cw_procs, "accept_queue": queues},
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
        reuse = (" (%d more in TIME_WAIT that connect() can reuse)" % busiest["time_wait_reusable"]
                 if busiest["time_wait_reusable"] else "")
        f.append({
            "id": "port_exhaustion", "severity": sev,
            "message": "%d local ports (%d%% of the usable ephemeral range %d-%d) are taken from %s towards %s:%d%s; "
                       "connect() from that address to it fails with EADDRNOTAVAIL when none are left"
                       % (busiest["local_ports_used"], round(busiest["share"] * 100), r["ephemeral_ports"]["range"][0],
                          r["ephemeral_ports"]["range"][1], busiest["source"], busiest["address"], busiest["port"],
                          reuse),
            "remedy": "Pool and reuse connections to %s:%d; spread them over more source addresses (ports run out "
                      "per source, destination and port); apply the high_outbound_client profile (wider "
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
                "remedy": "Fix the application's close() on EOF (or restart it). The keepalive timer does run in "
                          "CLOSE_WAIT, but only for sockets with SO_KEEPALIVE: the closed peer answers the probe "
                          "with a RST after net.ipv4.tcp_keepalive_time; other sockets stay until close(). "
                          "kerneltune.tcp.tcp_reset can abort these sockets now"})
    for q in r["close_wait"].get("accept_queue", []):
        who = "%s (pid %s)" % (q["command"], q["pid"]) if q["pid"] else "an unknown process"
        overflows = c.get("TcpExtListenOverflows")
        cross = ("; TcpExtListenOverflows is %d: the queue has overflowed too" % overflows if overflows else
                 "; TcpExtListenOverflows is 0: the queue has not overflowed (yet)" if overflows is not None else "")
        f.append({
            "id": "close_wait_accept_queue", "severity": "warning",
            "message": "%d socket%s in CLOSE_WAIT wait in the accept queue of %s, owned by %s: the peers gave up "
                       "before the application called accept()%s"
                       % (q["count"], "" if q["count"] == 1 else "s", q["listener"], who, cross),
            "remedy": "The application does not accept() fast enough (stalled accept loop or too few workers): fix "
                      "that; a larger backlog only queues more. These sockets end when accepted and closed"})
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
    reuse = str(s.get("net.ipv4.tcp_tw_reuse") or "0").strip()
    timestamps = str(s.get("net.ipv4.tcp_timestamps") or "0").strip() != "0"
    # What tcp_tw_reuse=1 would add: all outbound TIME_WAIT with 0, the
    # non-loopback ones with 2, nothing with 1; and nothing without timestamps.
    gain = {"0": tw_out, "2": tw_out - r["time_wait"].get("outbound_loopback", 0)}.get(reuse, 0)
    if timestamps and gain and gain >= 0.1 * r["ephemeral_ports"]["usable"]:
        f.append({
            "id": "time_wait_outbound", "severity": "info",
            "message": "%d outbound connections sit in TIME_WAIT that connect() cannot reuse with "
                       "net.ipv4.tcp_tw_reuse = %s" % (gain, reuse),
            "remedy": "Apply the high_outbound_client profile (tcp_tw_reuse=1 lets connect() reuse them safely "
                      "with timestamps); tcp_fin_timeout does not shorten TIME_WAIT"})
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(f, key=lambda x: order[x["severity"]])
