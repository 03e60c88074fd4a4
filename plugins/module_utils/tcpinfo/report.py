# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's report sections, built from an Aggregator: counts per state,
TIME_WAIT, CLOSE_WAIT with their owners, and the ephemeral ports.
"""

from __future__ import annotations

import heapq
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import addresses

FAMILY = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}
PROCESS_SAMPLE = 5  # CLOSE_WAIT tuples shown per process


def counts(agg):
    """({state name: {ipv4, ipv6, total}}, total)."""
    out = {}
    for (state, fam), n in agg.counts.items():
        entry = out.setdefault(st.state_name(state), {"ipv4": 0, "ipv6": 0, "total": 0})
        entry[FAMILY.get(fam, str(fam))] += n
        entry["total"] += n
    return out, sum(e["total"] for e in out.values())


def _top(counter, n, label):
    items = heapq.nsmallest(n, counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [dict(label(k), count=v) for k, v in items]


def _remote(key):
    raw, port = key
    d = {"address": addresses.text(raw)}
    if port is not None:
        d["port"] = port
    return d


def time_wait(agg, top):
    return {
        "total": agg.tw_total,
        "outbound": agg.tw_total - agg.tw_inbound,
        "inbound": agg.tw_inbound,
        "outbound_loopback": agg.tw_out_loopback,
        "top_remote": _top(agg.tw_remote, top, _remote),
        "top_local_ports": _top(agg.tw_local, top, lambda p: {"port": p}),
    }


def _listener_inodes(agg):
    """{(address, port) of an accept queue: (listener inode or None, listener address)}."""
    out = {}
    for (src, port), _q in agg.cw_queue.items():
        # The listener: on this very address, or on the wildcard of a family.
        for addr in (src, addresses.ANY4, addresses.ANY6):
            if (addr, port) in agg.listen_socks:
                out[(src, port)] = (agg.listen_socks[(addr, port)], addr)
                break
        else:
            out[(src, port)] = (None, src)
    return out


def _processes(agg, owner_map):
    procs = {}
    for inode in agg.cw_inodes:
        pid, comm, cmdline = owner_map.get(inode, (None, None, None))
        p = procs.setdefault(pid, {"pid": pid, "command": comm, "cmdline": cmdline, "count": 0, "sample": []})
        p["count"] += 1
        if len(p["sample"]) < PROCESS_SAMPLE and inode in agg.cw_sample:
            p["sample"].append(agg.cw_sample[inode])
    return sorted(procs.values(), key=lambda p: (-p["count"], p["pid"] or 0))


def _queues(agg, listener_inodes, owner_map):
    queues = []
    for (src, port), (n, sample) in agg.cw_queue.items():
        inode, addr = listener_inodes[(src, port)]
        pid, comm, cmdline = owner_map.get(inode, (None, None, None))
        queues.append({"listener": addresses.endpoint_text(addr, port), "count": n,
                       "pid": pid, "command": comm, "cmdline": cmdline, "sample": sample})
    queues.sort(key=lambda q: (-q["count"], q["listener"]))
    return queues


def close_wait(agg, owners):
    """CLOSE_WAIT by owning process, and those still in a listener's accept queue
    (owned by the listener's process). owners(inodes) -> {inode: (pid, comm, cmdline)}."""
    listener_inodes = _listener_inodes(agg)
    owner_map = owners(list(agg.cw_inodes) + [i for i, _a in listener_inodes.values() if i])
    return {"total": agg.cw_total, "processes": _processes(agg, owner_map),
            "accept_queue": _queues(agg, listener_inodes, owner_map)}


def tw_reusable(sysctls, src, dst):
    """Would connect() reuse a TIME_WAIT port of this (source, destination)?
    tcp_twsk_unique() (net/ipv4/tcp_ipv4.c): tcp_tw_reuse 1, or 2 with a
    loopback address, and the old connection carried timestamps."""
    reuse = str(sysctls.get("net.ipv4.tcp_tw_reuse") or "0").strip()
    ts = str(sysctls.get("net.ipv4.tcp_timestamps") or "0").strip()
    if ts == "0":
        return False
    return reuse == "1" or (reuse == "2" and (addresses.is_loopback(src) or addresses.is_loopback(dst)))


def busiest_destination(agg, sysctls, usable):
    """The (source, destination, port) with the most local ports taken that
    connect() cannot reuse, or None."""
    best = None
    for key, n in agg.dest.items():
        src, dst, _port = key
        tw = agg.dest_tw.get(key)
        reusable = tw if tw_reusable(sysctls, src, dst) else 0
        rank = (n - reusable, n, str(key))
        if best is None or rank > best[0]:
            best = (rank, key, n, tw, reusable)
    if best is None:
        return None
    _rank, (src, dst, port), n, tw, reusable = best
    taken = n - reusable
    busiest = {"source": addresses.text(src), "address": addresses.text(dst), "port": port,
               "local_ports_used": taken, "time_wait": tw, "time_wait_reusable": reusable,
               "share": round(float(taken) / usable, 4) if usable > 0 else 1.0}
    if agg.dest.error:
        busiest["error_bound"] = agg.dest.error
    return busiest


def ephemeral_ports(agg, sysctls, port_range, reserved):
    low, high = port_range
    size = high - low + 1
    usable = size - len([p for p in reserved if low <= p <= high])
    return {"range": [low, high], "size": size, "reserved": len(reserved), "usable": usable,
            "busiest_destination": busiest_destination(agg, sysctls, usable)}
