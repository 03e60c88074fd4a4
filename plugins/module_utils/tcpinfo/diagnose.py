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


def _plural(n):
    return "" if n == 1 else "s"


def _owner(entry):
    return "%s (pid %s)" % (entry["command"], entry["pid"]) if entry["pid"] else "an unknown process"


def port_exhaustion(r, th):
    busiest = r["ephemeral_ports"]["busiest_destination"]
    if not busiest or busiest["share"] < th["port_share_warning"]:
        return []
    sev = "error" if busiest["share"] >= th["port_share_error"] else "warning"
    reuse = (" (%d more in TIME_WAIT that connect() can reuse)" % busiest["time_wait_reusable"]
             if busiest["time_wait_reusable"] else "")
    return [{
        "id": "port_exhaustion", "severity": sev,
        "message": "%d local ports (%d%% of the usable ephemeral range %d-%d) are taken from %s towards %s:%d%s; "
                   "connect() from that address to it fails with EADDRNOTAVAIL when none are left"
                   % (busiest["local_ports_used"], round(busiest["share"] * 100), r["ephemeral_ports"]["range"][0],
                      r["ephemeral_ports"]["range"][1], busiest["source"], busiest["address"], busiest["port"],
                      reuse),
        "remedy": "Pool and reuse connections to %s:%d; spread them over more source addresses (ports run out "
                  "per source, destination and port); apply the high_outbound_client profile (wider "
                  "ip_local_port_range, tcp_tw_reuse=1)" % (busiest["address"], busiest["port"])}]


def time_wait_overflow(r, th):
    c = r["counters"]
    if c.get("TcpExtTCPTimeWaitOverflow", 0) <= 0:
        return []
    return [{
        "id": "time_wait_overflow", "severity": "warning",
        "message": "TcpExtTCPTimeWaitOverflow is %d: connections closed while the TIME_WAIT table was full "
                   "skipped TIME_WAIT (net.ipv4.tcp_max_tw_buckets = %s)"
                   % (c["TcpExtTCPTimeWaitOverflow"], r["sysctls"].get("net.ipv4.tcp_max_tw_buckets")),
        "remedy": "Raise net.ipv4.tcp_max_tw_buckets or cut connection churn (keep-alive, pooling); do not "
                  "lower it to 'fix' TIME_WAIT"}]


def close_wait_leak(r, th):
    f = []
    for p in r["close_wait"]["processes"]:
        if p["count"] >= th["close_wait_min"]:
            f.append({
                "id": "close_wait_leak", "severity": "warning",
                "message": "%s holds %d socket%s in CLOSE_WAIT: the peer closed and the application never called "
                           "close(); e.g. %s" % (_owner(p), p["count"], _plural(p["count"]), p["sample"][0]),
                "remedy": "Fix the application's close() on EOF (or restart it). The keepalive timer does run in "
                          "CLOSE_WAIT, but only for sockets with SO_KEEPALIVE: the closed peer answers the probe "
                          "with a RST after net.ipv4.tcp_keepalive_time; other sockets stay until close(). "
                          "kerneltune.tcp.tcp_reset can abort these sockets now"})
    return f


def close_wait_accept_queue(r, th):
    f = []
    overflows = r["counters"].get("TcpExtListenOverflows")
    cross = ("; TcpExtListenOverflows is %d: the queue has overflowed too" % overflows if overflows else
             "; TcpExtListenOverflows is 0: the queue has not overflowed (yet)" if overflows is not None else "")
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
    overflows = r["counters"].get("TcpExtListenOverflows", 0)
    if overflows <= 0:
        return []
    somax = int(r["sysctls"].get("net.core.somaxconn") or 0)
    low = somax < SOMAXCONN_DEFAULT
    return [{
        "id": "listen_overflow", "severity": "warning" if low else "info",
        "message": "TcpExtListenOverflows is %d: accept queues overflowed%s"
                   % (overflows, " with net.core.somaxconn = %d" % somax if low else ""),
        "remedy": "Apply the web_frontend profile (somaxconn, tcp_max_syn_backlog) and raise the "
                  "application's listen() backlog" if low else
                  "Raise the application's listen() backlog or accept faster; somaxconn is already %d" % somax}]


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
    if not (timestamps and gain and gain >= TW_GAIN_SHARE * r["ephemeral_ports"]["usable"]):
        return []
    return [{
        "id": "time_wait_outbound", "severity": "info",
        "message": "%d outbound connections sit in TIME_WAIT that connect() cannot reuse with "
                   "net.ipv4.tcp_tw_reuse = %s" % (gain, reuse),
        "remedy": "Apply the high_outbound_client profile (tcp_tw_reuse=1 lets connect() reuse them safely "
                  "with timestamps); tcp_fin_timeout does not shorten TIME_WAIT"}]


RULES = (port_exhaustion, time_wait_overflow, close_wait_leak, close_wait_accept_queue, listen_overflow,
         tw_recycle_on, time_wait_outbound)


def diagnose(r, th):
    """Findings {id, severity, message, remedy}, worst first."""
    f = []
    for rule in RULES:
        f.extend(rule(r, th))
    return sorted(f, key=lambda x: SEVERITY_ORDER[x["severity"]])
