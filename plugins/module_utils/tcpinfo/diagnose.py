# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's findings: what the collected numbers mean, each with a remedy.

Every finding is {id, severity, message, remedy}; diagnose() returns them
worst first.
"""

from __future__ import annotations

# The kernel's default net.core.somaxconn since Linux 5.4 (include/linux/socket.h SOMAXCONN).
SOMAXCONN_DEFAULT = 4096
# Outbound TIME_WAIT worth a tcp_tw_reuse finding: this share of the usable ephemeral ports.
TW_GAIN_SHARE = 0.1
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
BOUND_REMEDY = (
    "set IP_BIND_ADDRESS_NO_PORT on sockets that bind(address, 0) before connect() (Linux 4.2+: the port is then "
    "chosen by connect(), per destination); move listeners out of net.ipv4.ip_local_port_range or list their "
    "ports in net.ipv4.ip_local_reserved_ports; widen net.ipv4.ip_local_port_range (high_outbound_client "
    "profile). tcp_tw_reuse cannot help: the kernel skips these ports before it looks at TIME_WAIT")


def _plural(n):
    return "" if n == 1 else "s"


def _owner(entry):
    return entry.get("owner") or ("%s (pid %s)" % (entry["command"], entry["pid"]) if entry.get("pid")
                                  else "an unknown process")


def _rise(r, counter):
    """How much a counter rose over the probe, and the text saying so; (0, None) when it did not or was not
    read twice."""
    d = r.get("counter_deltas") or {}
    n = d.get(counter, 0)
    if n <= 0:
        return 0, None
    return n, "%s rose by %d in %.1f s (%d since the namespace started)" % (
        counter, n, r.get("counter_seconds") or 0, r["counters"].get(counter, 0))


def _holders_text(holders):
    return "; ".join("%s: %d port%s" % (h["owner"], h["ports"], _plural(h["ports"])) for h in holders)


def ports_bound(r, th):
    """Every usable port held and the kernel's own connect() found none: ports taken by bind()."""
    e = r["ephemeral_ports"]
    if e.get("exhausted") is None and e.get("free") == 0 and e.get("usable"):
        return [{
            "id": "ports_all_held", "severity": "warning",
            "message": "all %d usable ephemeral ports (%d-%d) are held by sockets; connect() fails with "
                       "EADDRNOTAVAIL towards a new destination if they were taken by bind() (%d listeners in "
                       "the range); not probed" % (e["usable"], e["range"][0], e["range"][1],
                                                   len(e["listeners_in_range"])),
            "remedy": "Run tcp_info with port_probe=true to let the kernel tell; " + BOUND_REMEDY}]
    if not e.get("exhausted"):
        return []
    held = _holders_text(e["holders"])
    return [{
        "id": "ports_bound", "severity": "error",
        "message": "connect() fails with EADDRNOTAVAIL towards every destination: all %d usable ephemeral ports "
                   "(%d-%d, %d reserved) are held by ports taken with bind(), which the kernel's automatic port "
                   "choice skips whatever the destination (%d of them by listeners in the range%s)%s"
                   % (e["usable"], e["range"][0], e["range"][1], e["reserved"], len(e["listeners_in_range"]),
                      (": " + ", ".join(str(p) for p in e["listeners_in_range"][:10]))
                      if e["listeners_in_range"] else "", "; held by " + held if held else ""),
        "remedy": BOUND_REMEDY}]


def ports_held_range(r, th):
    """Most of the range held, whatever the destination, while ports are still free: if bind() took them, few
    are left for every destination. The dump cannot tell (no bind bucket owner is exported), so it says if."""
    e = r["ephemeral_ports"]
    share = e.get("maybe_bound_share")
    if share is None or e.get("exhausted") or not e.get("free") or share < th["range_share_warning"]:
        return []
    held = e["held"] - e["connect_chosen"]
    chosen = (", not counting %d held with IP_BIND_ADDRESS_NO_PORT (ports connect() chose)" % e["connect_chosen"]
              if e["connect_chosen"] else "")
    names = _holders_text(e["holders"])
    return [{
        "id": "ports_held_range", "severity": "warning",
        "message": "%d of the %d usable ephemeral ports (%d-%d) are held by sockets whatever their destination "
                   "(%d%%)%s; if these ports were taken by bind() (clients that bind a source address before "
                   "connect(), %d listener%s in the range) only %d port%s remain for every destination%s"
                   % (held, e["usable"], e["range"][0], e["range"][1], round(share * 100), chosen,
                      len(e["listeners_in_range"]), _plural(len(e["listeners_in_range"])), e["left_if_bound"],
                      _plural(e["left_if_bound"]), "; held by " + names if names else ""),
        "remedy": "Confirm with a test connect() to a destination these sockets do not use: it still succeeds, "
                  "and fails with EADDRNOTAVAIL once the remaining ports are gone (a dump cannot tell a port "
                  "bind() took from one connect() took). Where clients bind(address, 0) before connect(), set "
                  "IP_BIND_ADDRESS_NO_PORT before bind() (Linux 4.2+: the port is then chosen by connect(), per "
                  "destination); move listeners out of net.ipv4.ip_local_port_range or list their ports in "
                  "net.ipv4.ip_local_reserved_ports; widen net.ipv4.ip_local_port_range (high_outbound_client "
                  "profile). tcp_tw_reuse cannot help: the kernel skips ports bind() took before it looks at "
                  "TIME_WAIT"}]


def _destination_remedy(busiest):
    """What frees ports towards one destination, by the state of the sockets holding them."""
    where = "%s:%d" % (busiest["address"], busiest["port"])
    opened = busiest["local_ports_used"] + busiest["time_wait_reusable"] - busiest["time_wait"]
    stuck_tw = busiest["time_wait"] - busiest["time_wait_reusable"]
    parts = []
    if opened > 0:
        parts.append("Pool and reuse connections to %s with keep-alive: %d of these ports are held by open "
                     "connections (ESTABLISHED or closing, not TIME_WAIT), which tcp_tw_reuse cannot free"
                     % (where, opened))
    if stuck_tw > 0:
        parts.append("%s%d of these ports sit in TIME_WAIT: net.ipv4.tcp_tw_reuse=1 (high_outbound_client profile, "
                     "TCP timestamps on) lets connect() reuse them"
                     % ("" if opened > 0 else "pool connections to %s to open fewer; " % where, stuck_tw))
    parts.append("spread connections over more source addresses (ports run out per source, destination and "
                 "port); widen net.ipv4.ip_local_port_range")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def port_exhaustion(r, th):
    busiest = r["ephemeral_ports"]["busiest_destination"]
    if not busiest or busiest["share"] < th["port_share_warning"] or r["ephemeral_ports"].get("exhausted"):
        return []
    sev = "error" if busiest["share"] >= th["port_share_error"] else "warning"
    reuse = (" (%d more in TIME_WAIT that connect() can reuse)" % busiest["time_wait_reusable"]
             if busiest["time_wait_reusable"] else "")
    bound = busiest.get("bound_ports", 0)
    bound = (" and %d more held through bind() for every destination" % bound) if bound else ""
    return [{
        "id": "port_exhaustion", "severity": sev,
        "message": "%d local ports%s (%d%% of the usable ephemeral range %d-%d) are taken from %s towards %s:%d%s; "
                   "connect() from that address to it fails with EADDRNOTAVAIL when none are left"
                   % (busiest["local_ports_used"], bound, round(busiest["share"] * 100),
                      r["ephemeral_ports"]["range"][0], r["ephemeral_ports"]["range"][1], busiest["source"],
                      busiest["address"], busiest["port"], reuse),
        "remedy": _destination_remedy(busiest)}]


def time_wait_overflow(r, th):
    n, rise = _rise(r, "TcpExtTCPTimeWaitOverflow")
    if not n:
        return []
    return [{
        "id": "time_wait_overflow", "severity": "warning",
        "message": "%s: connections closing now skip TIME_WAIT because the TIME_WAIT table is full "
                   "(net.ipv4.tcp_max_tw_buckets = %s)" % (rise, r["sysctls"].get("net.ipv4.tcp_max_tw_buckets")),
        "remedy": "Raise net.ipv4.tcp_max_tw_buckets or cut connection churn (keep-alive, pooling); do not "
                  "lower it to 'fix' TIME_WAIT"}]


def close_wait_leak(r, th):
    f = []
    for p in r["close_wait"]["processes"]:
        if p["count"] >= th["close_wait_min"]:
            f.append({
                "id": "close_wait_leak", "severity": "warning",
                "message": "%s %s %d socket%s in CLOSE_WAIT: the peer closed and the application never called "
                           "close()%s" % (_owner(p), "hold" if len(p.get("holders") or []) > 1 else "holds",
                                          p["count"], _plural(p["count"]),
                                          "; e.g. %s" % p["sample"][0] if p["sample"] else ""),
                "remedy": "Fix the application's close() on EOF (or restart it). The keepalive timer does run in "
                          "CLOSE_WAIT, but only for sockets with SO_KEEPALIVE: the closed peer answers the probe "
                          "with a RST after net.ipv4.tcp_keepalive_time; other sockets stay until close(). "
                          "kerneltune.tcp.tcp_reset can abort these sockets now"})
    return f


def close_wait_accept_queue(r, th):
    f = []
    n, rise = _rise(r, "TcpExtListenOverflows")
    probed = "TcpExtListenOverflows" in (r.get("counter_deltas") or {})
    never = r["counters"].get("TcpExtListenOverflows") == 0
    cross = ("; %s: accept queues are overflowing now" % rise if n else
             "; TcpExtListenOverflows did not rise during the probe" if probed else
             "; TcpExtListenOverflows is 0: no accept queue has overflowed" if never else "")
    for q in r["close_wait"].get("accept_queue", []):
        f.append({
            "id": "close_wait_accept_queue", "severity": "warning",
            "message": "%d socket%s in CLOSE_WAIT wait in the accept queue of %s, owned by %s: the peers gave up "
                       "before the application called accept()%s"
                       % (q["count"], _plural(q["count"]), q["listener"], _owner(q), cross),
            "remedy": "The application does not accept() fast enough (stalled accept loop or too few workers): fix "
                      "that; a larger backlog only queues more. These sockets end when accepted and closed"})
    return f


def listen_overflow(r, th):
    n, rise = _rise(r, "TcpExtListenOverflows")
    if not n:
        return []
    somax = int(r["sysctls"].get("net.core.somaxconn") or 0)
    low = somax < SOMAXCONN_DEFAULT
    return [{
        "id": "listen_overflow", "severity": "warning",
        "message": "%s: accept queues are overflowing now%s"
                   % (rise, " with net.core.somaxconn = %d" % somax if low else ""),
        "remedy": "Apply the web_frontend profile (somaxconn, tcp_max_syn_backlog) and raise the "
                  "application's listen() backlog" if low else
                  "Raise the application's listen() backlog or accept faster; somaxconn is already %d" % somax}]


def listen_queue_full(r, th):
    """A listener whose accept queue is full at the time of the dump, named with its holders."""
    f = []
    for q in r.get("listen_queues") or []:
        if q["full"]:
            f.append({
                "id": "listen_queue_full", "severity": "warning",
                "message": "the accept queue of %s is full now (%d connections wait for accept(), backlog %d), "
                           "held by %s: new connections are dropped or get SYN cookies"
                           % (q["listener"], q["queued"], q["backlog"], _owner(q)),
                "remedy": "Make the application accept() faster (more workers, no stalled accept loop) and raise its "
                          "listen() backlog; net.core.somaxconn caps that backlog"})
    return f


def tw_recycle_on(r, th):
    if r["sysctls"].get("net.ipv4.tcp_tw_recycle") != "1":
        return []
    nat = r["nat"] or {}
    return [{
        "id": "tw_recycle_on", "severity": "error" if nat.get("detected") else "warning",
        "message": "net.ipv4.tcp_tw_recycle is 1%s: SYNs from clients sharing an address behind NAT are "
                   "dropped" % (" and NAT was detected on this host" if nat.get("detected") else ""),
        "remedy": "Set net.ipv4.tcp_tw_recycle to 0 (removed in Linux 4.12); use tcp_tw_reuse=1 for outgoing "
                  "connections"}]


def time_wait_outbound(r, th):
    s = r["sysctls"]
    tw_out = r["time_wait"]["outbound"]
    reuse = str(s.get("net.ipv4.tcp_tw_reuse") or "0").strip()
    timestamps = str(s.get("net.ipv4.tcp_timestamps") or "0").strip() != "0"
    # What tcp_tw_reuse=1 would add: all outbound TIME_WAIT with 0, the
    # non-loopback ones with 2, nothing with 1; and nothing without timestamps.
    gain = {"0": tw_out, "2": tw_out - r["time_wait"].get("outbound_loopback", 0)}.get(reuse, 0)
    if r["ephemeral_ports"].get("exhausted") or not (
            timestamps and gain and gain >= TW_GAIN_SHARE * r["ephemeral_ports"]["usable"]):
        return []
    return [{
        "id": "time_wait_outbound", "severity": "info",
        "message": "%d outbound connections sit in TIME_WAIT that connect() cannot reuse with "
                   "net.ipv4.tcp_tw_reuse = %s" % (gain, reuse),
        "remedy": "Apply the high_outbound_client profile (tcp_tw_reuse=1 lets connect() reuse them safely "
                  "with timestamps); tcp_fin_timeout does not shorten TIME_WAIT"}]


CONNTRACK_REMEDY = (
    "Raise net.netfilter.nf_conntrack_max from the host's network namespace: it is one value for the whole kernel, "
    "writable only there, and every namespace's own count is held against it (the host's count does not include "
    "what containers and pods track in theirs); or track fewer connections here (shorter "
    "net.netfilter.nf_conntrack_tcp_timeout_* in this namespace, no conntrack rules for traffic that needs no state)")


def conntrack_full(r, th):
    """This namespace's connection tracking table near or at nf_conntrack_max (net/netfilter/nf_conntrack_core.c
    __nf_conntrack_alloc: the namespace's own count against the one global limit; 0 means no limit)."""
    ct = r.get("conntrack") or {}
    count, limit = ct.get("count"), ct.get("max")
    if not limit or count is None:
        return []
    share = float(count) / limit
    if count >= limit:
        return [{
            "id": "conntrack_full", "severity": "error",
            "message": "nf_conntrack: table full, dropping packet: %d connections tracked in this network namespace, "
                       "nf_conntrack_max is %d" % (count, limit),
            "remedy": CONNTRACK_REMEDY}]
    if share < th.get("conntrack_share_warning", 0.8):
        return []
    return [{
        "id": "conntrack_full", "severity": "warning",
        "message": "%d connections tracked in this network namespace, %d%% of nf_conntrack_max %d: at the limit the "
                   "kernel logs \"nf_conntrack: table full, dropping packet\" and drops new connections"
                   % (count, int(share * 100), limit),
        "remedy": CONNTRACK_REMEDY}]


RULES = (ports_bound, ports_held_range, port_exhaustion, time_wait_overflow, close_wait_leak, close_wait_accept_queue,
         listen_overflow, listen_queue_full, tw_recycle_on, time_wait_outbound, conntrack_full)


def diagnose(r, th):
    """Findings {id, severity, message, remedy}, worst first."""
    f = []
    for rule in RULES:
        f.extend(rule(r, th))
    return sorted(f, key=lambda x: SEVERITY_ORDER[x["severity"]])
