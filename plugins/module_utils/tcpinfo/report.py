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
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import ports

FAMILY = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}
PROCESS_SAMPLE = 5  # CLOSE_WAIT tuples shown per process
HOLDERS_NAMED = 3  # holders named in a text before "and N more"


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


def owner_text(holders, uid=None):
    """Who holds a socket, as findings and reports say it: every holder, or what is known without one."""
    if not holders:
        known = "" if uid is None else " (socket uid %d)" % uid
        return "a process outside this pid namespace or already gone%s" % known
    names = ["%s (pid %d)" % (h["command"], h["pid"]) for h in holders[:HOLDERS_NAMED]]
    more = len(holders) - len(names)
    if more:
        return "%s and %d more" % (", ".join(names), more)
    return names[0] if len(names) == 1 else "%s and %s" % (", ".join(names[:-1]), names[-1])


def holder_entry(holders, uid=None):
    """pid, command and cmdline of the first holder (lowest pid), every holder, and the text naming them."""
    hs = [{"pid": pid, "command": comm, "cmdline": cmd} for pid, comm, cmd in holders or ()]
    first = hs[0] if hs else {"pid": None, "command": None, "cmdline": None}
    return dict(first, holders=hs, owner=owner_text(hs, uid))


def _processes(agg, owner_map, resample):
    """CLOSE_WAIT sockets per set of holders (a socket shared by a parent and its child is counted once, under
    both), each with a sample of tuples; holders whose sockets all came after the dump's sample get theirs from
    a second dump of CLOSE_WAIT sockets only."""
    procs, by_inode = {}, {}
    for inode, uid in agg.cw_inodes.items():
        holders = owner_map.get(inode) or ()
        key = tuple(h[0] for h in holders) or ("uid", uid)
        p = procs.get(key)
        if p is None:
            p = procs[key] = dict(holder_entry(holders, uid), uid=uid, count=0, sample=[])
        p["count"] += 1
        by_inode[inode] = p
        if len(p["sample"]) < PROCESS_SAMPLE and inode in agg.cw_sample:
            p["sample"].append(agg.cw_sample[inode])
    short = dict((i, p) for i, p in by_inode.items() if len(p["sample"]) < min(p["count"], PROCESS_SAMPLE))
    if short and resample is not None:
        def fill(s):
            p = short.get(s.inode) if s.state == st.TCP_CLOSE_WAIT else None
            if p is not None and len(p["sample"]) < PROCESS_SAMPLE:
                text = s.tuple_text()
                if text not in p["sample"]:
                    p["sample"].append(text)
        resample(fill)
    return sorted(procs.values(), key=lambda p: (-p["count"], p["pid"] or 0, p["uid"] or 0))


def _queues(agg, listener_inodes, owner_map):
    queues = []
    for (src, port), (n, sample) in agg.cw_queue.items():
        inode, addr = listener_inodes[(src, port)]
        entry = holder_entry(owner_map.get(inode))
        entry.update(listener=addresses.endpoint_text(addr, port), count=n, sample=sample)
        queues.append(entry)
    queues.sort(key=lambda q: (-q["count"], q["listener"]))
    return queues


def close_wait(agg, owners, resample=None):
    """CLOSE_WAIT by holding processes, and those still in a listener's accept queue (held by the listener's
    processes). owners(inodes) -> {inode: [(pid, comm, cmdline), ...]}; resample(handler) dumps the CLOSE_WAIT
    sockets again to handler(Sock) for holders left without a sample."""
    listener_inodes = _listener_inodes(agg)
    owner_map = owners(list(agg.cw_inodes) + [i for i, _a in listener_inodes.values() if i])
    return {"total": agg.cw_total, "processes": _processes(agg, owner_map, resample),
            "accept_queue": _queues(agg, listener_inodes, owner_map)}


def listen_queues(agg, owners):
    """Listeners with connections waiting to be accepted now: queued (rqueue), backlog (wqueue), whether the
    queue is full (the kernel's sk_acceptq_is_full: more queued than the backlog), and who holds the listener."""
    out = []
    owner_map = owners([agg.listen_socks.get(k) for k in agg.listen_queue]) if agg.listen_queue else {}
    for (src, port), (queued, backlog) in agg.listen_queue.items():
        entry = holder_entry(owner_map.get(agg.listen_socks.get((src, port))))
        entry.update(listener=addresses.endpoint_text(src, port), queued=queued, backlog=backlog,
                     full=backlog is not None and queued > backlog)
        out.append(entry)
    out.sort(key=lambda q: (not q["full"], -q["queued"], q["listener"]))
    return out


def tw_reusable(sysctls, src, dst):
    """Would connect() reuse a TIME_WAIT port of this (source, destination)?
    tcp_twsk_unique() (net/ipv4/tcp_ipv4.c): tcp_tw_reuse 1, or 2 with a
    loopback address, and the old connection carried timestamps."""
    reuse = str(sysctls.get("net.ipv4.tcp_tw_reuse") or "0").strip()
    ts = str(sysctls.get("net.ipv4.tcp_timestamps") or "0").strip()
    if ts == "0":
        return False
    return reuse == "1" or (reuse == "2" and (addresses.is_loopback(src) or addresses.is_loopback(dst)))


def busiest_destination(agg, sysctls, usable, bound=0, exhausted=False):
    """The (source, destination, port) with the most local ports taken that connect() cannot reuse, or None.
    Its share counts the ports held through bind() too: connect() skips those for every destination."""
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
    unusable = usable if exhausted else min(taken + bound, usable)
    busiest = {"source": addresses.text(src), "address": addresses.text(dst), "port": port,
               "local_ports_used": taken, "time_wait": tw, "time_wait_reusable": reusable, "bound_ports": bound,
               "share": round(float(unusable) / usable, 4) if usable > 0 else 1.0}
    if agg.dest.error:
        busiest["error_bound"] = agg.dest.error
    return busiest


def ephemeral_ports(agg, sysctls, port_range, reserved, owners=None, port_probe=True, name_share=0.5,
                    bound_visible=True):
    low, high = port_range
    size = high - low + 1
    reserved = set(reserved)
    skipped = set(reserved)
    if size > 1 and size % 2:
        # __inet_hash_connect scans `remaining = high - low` ports rounded down to even (Linux 4.6+): in a range of
        # an odd number of ports connect() never takes the highest one (measured: 40000-40002 with 40000 and 40001
        # bound, connect() fails with EADDRNOTAVAIL).
        skipped.add(high)
    usable = size - len([p for p in skipped if low <= p <= high])
    state = ports.range_state(agg, skipped, usable, owners or (lambda inodes: {}), holder_entry, port_probe,
                              name_share, bound_visible)
    out = {"range": [low, high], "size": size, "reserved": len(reserved), "usable": usable,
           "busiest_destination": busiest_destination(agg, sysctls, usable, state["bound"], state["exhausted"])}
    out.update(state)
    return out
