# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Everything kerneltune.tcp.tcp_info returns: read the host, dump the sockets
(netlink, or /proc/net/tcp as the fallback), aggregate, report, diagnose.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import time

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners as owners_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import procnet
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import portlist
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import aggregate
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import diagnose
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import readers
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import report

# range_share_warning: share of the usable range held by sockets that may have taken their port with bind()
# (any destination) that raises ports_held_range; at 0.8 a fifth of the range is left for every destination.
# conntrack_share_warning: share of nf_conntrack_max this namespace's table holds that raises conntrack_full.
THRESHOLDS = {"port_share_warning": 0.5, "port_share_error": 0.8, "range_share_warning": 0.8, "close_wait_min": 1,
              "conntrack_share_warning": 0.8}
# The kernel's default net.ipv4.ip_local_port_range (net/ipv4/af_inet.c inet_init_net).
DEFAULT_PORT_RANGE = (32768, 60999)
# Seconds between the two readings of the counters (the socket dump runs in between).
COUNTER_INTERVAL = 0.5
# The counters whose findings need a rise, not a total since boot.
OVERFLOWS = ("TcpExtListenOverflows", "TcpExtTCPTimeWaitOverflow")
# Every state `ss -tan` shows, and the bound-but-unconnected sockets (Linux 6.7+; older kernels ignore the bit):
# their ports are taken from connect() for every destination.
DUMP_STATES = st.ALL_STATES | (1 << st.TCP_BOUND_INACTIVE)


def _ports(text):
    try:
        lo, hi = [int(x) for x in text.split()] if text else DEFAULT_PORT_RANGE
    except ValueError:
        lo, hi = DEFAULT_PORT_RANGE
    return lo, hi


def nat_result(mode, sysctls, detect):
    """NAT detection when it is asked for, or when a finding needs it (auto: tcp_tw_recycle is 1, the only finding
    that weighs NAT); otherwise why it did not run. detect() runs it."""
    recycle = str(sysctls.get("net.ipv4.tcp_tw_recycle") or "").strip()
    if mode == "always" or (mode == "auto" and recycle == "1"):
        return detect()
    why = "nat=never" if mode == "never" else (
        "nat=auto: net.ipv4.tcp_tw_recycle is %s and tw_recycle_on is the only finding that weighs NAT"
        % (recycle or "absent (removed in Linux 4.12)"))
    return {"detected": None, "declared": None, "evidence": [], "hints": [], "sources": [], "counts": {},
            "not_probed": why}


def _dump(source, port_range, proc_root, dumper):
    """(Aggregator, source used): netlink, with /proc/net/tcp as the fallback under "auto"."""
    agg = aggregate.Aggregator(port_range)
    states = DUMP_STATES
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


def _resampler(used, proc_root, dumper):
    """resample(handler): the CLOSE_WAIT sockets again, from the source the dump used."""
    mask = 1 << st.TCP_CLOSE_WAIT

    def resample(handler):
        if dumper is not None:
            dumper(handler, mask)
        elif used == "netlink":
            netlink.dump(handler, mask)
        else:
            procnet.dump_proc(handler, mask, proc_root)
    return resample


def _rates(before, read_after, started, interval, clock, sleep):
    """(counters, {counter: rise over the probe}, seconds): the counters read again once ``interval`` seconds
    have passed since ``started`` (the socket dump counts towards it). No second reading when interval is 0, or
    when no overflow counter is above 0 yet: with no overflow ever there is nothing to tell apart, and a healthy
    host pays no wait."""
    if not interval or read_after is None or not any(before.get(k, 0) > 0 for k in OVERFLOWS):
        return before, {}, 0.0
    left = interval - (clock() - started)
    if left > 0:
        sleep(left)
    after = read_after()
    seconds = round(clock() - started, 3)
    deltas = dict((k, after[k] - before[k]) for k in after if k in before and not k.startswith("sockstat_"))
    return after, deltas, seconds


def nat_detector(module):
    """detect() for nat_result: NAT detection, imported only when called (only tcp_tw_recycle's finding weighs NAT,
    and each module_utils imported is compiled on every run)."""
    def detect():
        from ansible_collections.kerneltune.tcp.plugins.module_utils import nat as nat_lib
        return nat_lib.detect(None, module)
    return detect


def collect(source="auto", top=10, proc_root="/proc", sysctls=None, counters=None, nat=None, kernel=None,
            owners=None, dumper=None, thresholds=None, counter_interval=COUNTER_INTERVAL, counters_after=None,
            port_probe=True, clock=time.monotonic, sleep=time.sleep, conntrack=False):
    """Everything tcp_info returns. Injectable parts for tests: counters and counters_after (a callable) stand
    for the two readings of the counters; owners(inodes) -> {inode: [(pid, comm, cmdline), ...]}; conntrack is
    {count, max} or None, False to read it from proc_root."""
    th = dict(THRESHOLDS)
    th.update(thresholds or {})
    started = clock()
    sysctls = readers.read_sysctls(proc_root) if sysctls is None else sysctls
    if counters is None:
        counters = readers.read_counters(proc_root)
        counters_after = counters_after or (lambda: readers.read_counters(proc_root))
    port_range = _ports(sysctls.get("net.ipv4.ip_local_port_range"))
    reserved = portlist.reserved_ports(sysctls.get("net.ipv4.ip_local_reserved_ports"))
    owners = owners or (lambda inodes: owners_lib.all_owners(inodes, proc_root))
    agg, used = _dump(source, port_range, proc_root, dumper)
    counters, deltas, seconds = _rates(counters, counters_after, started, counter_interval, clock, sleep)
    counts, total = report.counts(agg)
    result = {
        "source": used,
        "counts": counts,
        "total": total,
        "time_wait": report.time_wait(agg, top),
        "close_wait": report.close_wait(agg, owners, _resampler(used, proc_root, dumper)),
        # /proc/net/tcp lists no socket that only holds a port (bind() without connect()): under it the range
        # state cannot see bound ports, so the kernel is asked whatever the count says.
        "ephemeral_ports": report.ephemeral_ports(agg, sysctls, port_range, reserved, owners, port_probe,
                                                  th["port_share_warning"], bound_visible=used != "proc"),
        "listeners": sorted(agg.listeners),
        "listen_queues": report.listen_queues(agg, owners),
        "counters": counters,
        "counter_deltas": deltas,
        "counter_seconds": seconds,
        "sysctls": sysctls,
        "kernel": kernel or {},
        "nat": nat or {},
        "conntrack": readers.read_conntrack(proc_root) if conntrack is False else conntrack,
    }
    result["findings"] = diagnose.diagnose(result, th)
    return result
