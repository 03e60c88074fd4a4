# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Everything kerneltune.tcp.tcp_info returns: read the host, dump the sockets
(netlink, or /proc/net/tcp as the fallback), aggregate, report, diagnose.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners as owners_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import procnet
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import portlist
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import aggregate
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import diagnose
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import readers
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import report

THRESHOLDS = {"port_share_warning": 0.5, "port_share_error": 0.8, "close_wait_min": 1}
# The kernel's default net.ipv4.ip_local_port_range (net/ipv4/af_inet.c inet_init_net).
DEFAULT_PORT_RANGE = (32768, 60999)


def _ports(text):
    try:
        lo, hi = [int(x) for x in text.split()] if text else DEFAULT_PORT_RANGE
    except ValueError:
        lo, hi = DEFAULT_PORT_RANGE
    return lo, hi


def _dump(source, port_range, proc_root, dumper):
    """(Aggregator, source used): netlink, with /proc/net/tcp as the fallback under "auto"."""
    agg = aggregate.Aggregator(port_range)
    states = st.ALL_STATES
    if dumper is not None:
        dumper(agg, states)
        return agg, source
    if source not in ("auto", "netlink"):
        procnet.dump_proc(agg, states, proc_root)
        return agg, source
    try:
        netlink.dump_raw(agg.feed, states)
        return agg, "netlink"
    except (netlink.DiagError, OSError):
        if source == "netlink":
            raise
    agg = aggregate.Aggregator(port_range)
    procnet.dump_proc(agg, states, proc_root)
    return agg, "proc"


def collect(source="auto", top=10, proc_root="/proc", sysctls=None, counters=None, nat=None, kernel=None,
            owners=None, dumper=None, thresholds=None):
    """Everything tcp_info returns. Injectable parts for tests."""
    th = dict(THRESHOLDS)
    th.update(thresholds or {})
    sysctls = readers.read_sysctls(proc_root) if sysctls is None else sysctls
    counters = readers.read_counters(proc_root) if counters is None else counters
    port_range = _ports(sysctls.get("net.ipv4.ip_local_port_range"))
    reserved = portlist.reserved_ports(sysctls.get("net.ipv4.ip_local_reserved_ports"))
    agg, used = _dump(source, port_range, proc_root, dumper)
    counts, total = report.counts(agg)
    result = {
        "source": used,
        "counts": counts,
        "total": total,
        "time_wait": report.time_wait(agg, top),
        "close_wait": report.close_wait(agg, owners or owners_lib.owners),
        "ephemeral_ports": report.ephemeral_ports(agg, sysctls, port_range, reserved),
        "listeners": sorted(agg.listeners),
        "counters": counters,
        "sysctls": sysctls,
        "kernel": kernel or {},
        "nat": nat or {},
    }
    result["findings"] = diagnose.diagnose(result, th)
    return result
