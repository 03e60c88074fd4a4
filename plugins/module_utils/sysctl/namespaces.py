# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl's namespaces=all: the settings' keys in every other network namespace on the host, read only.

net.ipv4.* and net.core.* keys are per network namespace and a new namespace starts most of them from the
kernel's defaults, not from the host's values: a host tuned by its sysctl.d files leaves its containers and pods
on the defaults. scan() enters each other namespace (sockets/netns.py: discover, run_in, owner), reads the
settings' keys there and judges each against what the task asks, the way the planner judges the host's running
value (a bound is met anywhere within the intersection of every kerneltune.tcp file's bounds on the key). It never
writes: a namespace belongs to its container or pod, whose runtime sets its values (the reports say how).

What a key is in a namespace is seen there, not assumed from its name: a key absent from the namespace's
/proc/sys, or present but read-only (net.core.rmem_max on 6.18 shows the host's value, mode 0444), is the host's
alone (SCOPE_HOST) and never drift; a writable key is the namespace's own (SCOPE_NAMESPACE), or, for the keys a
new namespace copies from the host when it is made (keys.is_copied: tcp_rmem, tcp_wmem, tcp_congestion_control,
ip_forward), SCOPE_COPIED.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import bounds as bounds_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values

# A key's scope in a namespace (the result's namespaces[].settings[].scope).
SCOPE_NAMESPACE = "namespace"
SCOPE_COPIED = "copied"
SCOPE_HOST = "host"
SCOPE_UNKNOWN = "unknown"
# What was seen of a key in a namespace (namespaces[].settings[].state).
WRITABLE = "writable"
READ_ONLY = "read_only"
MISSING = "missing"
UNREADABLE = "unreadable"

NOT_PRESENT = "namespaces: all compares the other network namespaces with the settings, so it needs " \
              "state=present; got state=absent"


def read_keys(parts_list, proc_root=procsys.PROC_SYS):
    """[[parts, value or None, state]] for PARTS_LIST under PROC_ROOT, state one of WRITABLE, READ_ONLY, MISSING,
    UNREADABLE. Writable means the file's mode lets its owner write it (what the kernel's table says), not that
    this process may: run in a namespace entered with setns, a read-only /proc/sys mount does not apply."""
    out = []
    for parts in parts_list:
        value, presence = procsys.read_runtime(parts, proc_root)
        if presence == "missing":
            state = MISSING
        elif presence != "present":
            state = UNREADABLE
        else:
            try:
                mode = os.stat(procsys.proc_path(parts, proc_root)).st_mode
            except OSError:
                mode = 0
            state = WRITABLE if mode & stat.S_IWUSR else READ_ONLY
        out.append([list(parts), value, state])
    return out


def scope_of(key, state):
    """A key's scope in a namespace from what was seen there (STATE) and whether a new namespace copies it."""
    if state in (MISSING, READ_ONLY):
        return SCOPE_HOST
    if state != WRITABLE:
        return SCOPE_UNKNOWN
    return SCOPE_COPIED if keys.is_copied(key) else SCOPE_NAMESPACE


def meets(key, desired, bound, value):
    """Whether VALUE is what the task asks of KEY: within BOUND (the merged bounds) when there is one, else equal
    to DESIRED once normalised (plan._entry judges the host's running value the same way)."""
    if value is None:
        return False
    if bound:
        return bounds_lib.within(key, bound, value)
    return values.normalize(key, value) == values.normalize(key, desired)


def wanted(entries, merged):
    """[(key, parts, desired, bound, text)] for the host's settings entries that ask for a value: TEXT is what the
    reports show as wanted (the bound's text, else the value). Keys the host lacks (unsupported) are left out."""
    out = []
    for e in entries:
        if e.get("desired") is None or e.get("status") == "unsupported":
            continue
        bound = (merged or {}).get(e["key"]) or None
        if bound is None and isinstance(e.get("bounds"), dict):
            bound = dict((k, v) for k, v in e["bounds"].items() if k != "text")
        text = bounds_lib.describe_bounds(bound) if bound else e["desired"]
        out.append((e["key"], keys.key_to_path_parts(e["key"]), e["desired"], bound, text))
    return out


def judge(asked, seen):
    """One namespace's settings from what was read there: SEEN, [[parts, value, state]] in ASKED's order."""
    out = []
    for (key, _parts, desired, bound, text), (_p, value, state) in zip(asked, seen):
        scope = scope_of(key, state)
        differs = None
        if scope in (SCOPE_NAMESPACE, SCOPE_COPIED):
            differs = not meets(key, desired, bound, value)
        elif scope == SCOPE_HOST:
            differs = False
        out.append({"key": key, "value": value, "wanted": text, "desired": desired, "scope": scope,
                    "state": state, "differs": differs})
    return out


def _entry(ns, proc_root):
    return {"inode": ns.inode, "name": ns.name, "names": list(ns.names),
            "owner": netns.owner(ns.pids, proc_root), "error": None, "settings": [], "differs": []}


def scan(entries, merged=None, proc_root="/proc", run_netns=netns.RUN_NETNS, spaces=None):
    """(namespaces, unreadable): every network namespace but this process's own, each with what the settings'
    keys are there, and the number of processes whose namespace could not be read.

    entries: the host's settings entries (task result); merged: {key: the merged bound} (plan's bounds_merged).
    spaces: the namespaces to scan (netns.discover's list), found here when None. A namespace that cannot be
    entered (gone during the scan, no CAP_SYS_ADMIN) gets its reason in error and no settings.
    """
    asked = wanted(entries, merged)
    unreadable = 0
    if spaces is None:
        spaces, unreadable = netns.discover(proc_root, run_netns)
    parts_list = [p for _k, p, _d, _b, _t in asked]
    out = []
    for ns in spaces:
        if ns.is_self:
            continue
        item = _entry(ns, proc_root)
        try:
            seen, why = netns.run_in(ns, lambda: read_keys(parts_list))
        except OSError as e:  # no pipe or no fork (EAGAIN, ENOMEM): this namespace is not read, the rest are
            seen, why = None, "cannot start the process that enters it: %s" % (e.strerror or e)
        if why is not None:
            item["error"] = why
        else:
            item["settings"] = judge(asked, seen)
            item["differs"] = [s["key"] for s in item["settings"] if s["differs"]]
        out.append(item)
    return out, unreadable
