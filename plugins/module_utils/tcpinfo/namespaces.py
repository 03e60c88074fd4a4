# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info with namespaces=all: the same diagnosis as the host's, in every other network namespace.

Each namespace is diagnosed in a child forked for it (sockets/netns.run_in: setns, then collect()), one at a time:
the child's netlink socket, /proc/self/net/* and /proc/sys/net/* all show the namespace entered, so the sockets,
counters, sysctls and the conntrack table are the namespace's own. What belongs to the kernel or the host is read
once, in the module's own namespace, and stays at the top level of the result: the kernel's support (release,
CAP_NET_ADMIN, SOCK_DESTROY) and NAT detection. The mount namespace is not changed, so /proc/PID/fd still shows
every process of the host: the holders of a namespace's sockets are looked for among the namespace's own
processes first, and in the rest of /proc only for the sockets not found there.

A namespace whose last process exits (or whose /run/netns bind mount goes) between discovery and the diagnosis is
listed in namespaces_skipped with the reason, as is one that cannot be entered (no CAP_SYS_ADMIN); the others are
diagnosed all the same.
"""

from __future__ import annotations

import os
import time

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners as owners_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect

# What a namespace's diagnosis says about NAT: detection runs once, in the module's own namespace.
NAT_HOST_ONLY = {"detected": None, "declared": None, "evidence": [], "hints": [], "sources": [], "counts": {},
                 "not_probed": "NAT detection runs once, in the network namespace the module runs in"}
# Read once for the kernel, at the top level of the result: not repeated per namespace.
HOST_ONLY = ("kernel", "nat")


def namespace_owners(inodes, pids, proc_root="/proc"):
    """{inode: [(pid, comm, cmdline), ...]} as owners.all_owners, looked for among PIDS (the namespace's own
    processes) first; the rest of /proc is read only for the inodes none of them holds (so an inode found there
    lists its holders in the namespace, not those a process elsewhere may share)."""
    want = set(owners_lib.SOCKET_LINK % i for i in inodes if i)
    found = {}
    if not want:
        return found
    first = sorted(set(pids))

    def scan(pid_list):
        for pid in pid_list:
            held = set(link for link in owners_lib._fd_links(proc_root, pid) if link in want)
            if not held:
                continue
            who = (int(pid), owners_lib._read(proc_root, str(pid), "comm").strip(),
                   owners_lib._read(proc_root, str(pid), "cmdline").replace("\0", " ").strip())
            for link in held:
                found.setdefault(owners_lib._link_inode(link), []).append(who)

    scan(first)
    if len(found) < len(want):
        seen = set(first)
        try:
            rest = sorted((int(p) for p in os.listdir(proc_root) if p.isdigit() and int(p) not in seen))
        except OSError:
            rest = []
        have = set(found)
        want = set(link for link in want if owners_lib._link_inode(link) not in have)
        scan(rest)
        for holders in found.values():
            holders.sort()
    return found


def score(entry):
    """Worst first: errors, then warnings, then sockets."""
    f = entry.get("findings") or []
    return (-sum(1 for x in f if x["severity"] == "error"), -sum(1 for x in f if x["severity"] == "warning"),
            -(entry.get("total") or 0), entry.get("inode") or 0)


def _diagnosis(ns, options, proc_root):
    """fn() for run_in: collect() inside the namespace, without what is read once for the host."""
    pids = list(ns.pids)

    def fn():
        r = collect.collect(proc_root=proc_root, nat=NAT_HOST_ONLY,
                            owners=lambda inodes: namespace_owners(inodes, pids, proc_root), **options)
        for key in HOST_ONLY:
            r.pop(key, None)
        return r
    return fn


def _other_paths(ns, proc_root, run_netns):
    """Paths other than ns.path that still lead to namespace NS (checked by inode just before use)."""
    candidates = [os.path.join(run_netns, name) for name in ns.names]
    candidates += [os.path.join(proc_root, str(pid), "ns", "net") for pid in ns.pids]
    for path in candidates:
        if path != ns.path and netns.inode_of(path) == ns.inode:
            yield path


def diagnose_all(options, proc_root="/proc", run_netns=netns.RUN_NETNS, discover=None, run_in=None, owner=None,
                 clock=time.monotonic):
    """(namespaces, skipped, scan): every network namespace but the module's own, each with inode, name (its
    /run/netns name or None), names, owner (netns.owner) and the diagnosis collect() gives with OPTIONS (source,
    top, thresholds, counter_interval, port_probe), worst first; those that could not be diagnosed as
    {inode, name, names, owner, reason}; and {found, diagnosed, skipped, unreadable_processes, seconds}."""
    discover = discover or netns.discover
    run_in = run_in or netns.run_in
    owner = owner or netns.owner
    started = clock()
    spaces, unreadable = discover(proc_root, run_netns)
    done, skipped = [], []
    for ns in spaces:
        if ns.is_self:
            continue
        entry = {"inode": ns.inode, "name": ns.name, "names": list(ns.names), "owner": owner(ns.pids, proc_root)}
        fn = _diagnosis(ns, options, proc_root)
        try:
            result, why = run_in(ns, fn)
            if why == netns.GONE:
                # The path it was found by is gone (that process exited): any other way in that still leads to the
                # same inode (another of its processes, a /run/netns name) is tried before the namespace is called
                # gone.
                for path in _other_paths(ns, proc_root, run_netns):
                    result, why = run_in(netns.Namespace(ns.inode, path), fn)  # entered only if still NS
                    if why != netns.GONE:
                        break
        except OSError as e:  # no pipe or no fork (EMFILE, EAGAIN, ENOMEM): this namespace is skipped, not the rest
            result, why = None, "cannot start the process that enters it: %s" % (e.strerror or e)
        if why is not None:
            entry["reason"] = why
            skipped.append(entry)
            continue
        entry.update(result)
        done.append(entry)
    done.sort(key=score)
    scan = {"found": len(spaces), "diagnosed": len(done), "skipped": len(skipped),
            "unreadable_processes": unreadable, "seconds": round(clock() - started, 3)}
    return done, skipped, scan


def self_namespace(proc_root="/proc", run_netns=netns.RUN_NETNS):
    """{inode, name, names} of the module's own network namespace."""
    inode = netns.self_inode(proc_root)
    names = []
    try:
        for name in sorted(os.listdir(run_netns)):
            if inode is not None and netns.inode_of(os.path.join(run_netns, name)) == inode:
                names.append(name)
    except OSError:
        pass
    return {"inode": inode, "name": names[0] if names else None, "names": names}


def skipped_warning(skipped):
    """One warning naming the namespaces that could not be entered for lack of CAP_SYS_ADMIN, or None."""
    denied = [s for s in skipped if s["reason"].startswith("entering another network namespace needs")]
    if not denied:
        return None
    names = ", ".join("%d%s" % (s["inode"], " (%s)" % s["name"] if s["name"] else "") for s in denied)
    return "could not read %d network namespace%s (%s): %s" % (
        len(denied), "" if len(denied) == 1 else "s", names, denied[0]["reason"])
