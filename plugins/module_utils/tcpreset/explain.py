# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The warning when tcp_reset's filters match nothing: which filter, and what
was there instead (the local ports and remote ends of the sockets in the
selected states, or the processes holding them).
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import selection

# Processes named in the warning, and pids per process.
NAMED_PROCESSES = 10
NAMED_PIDS = 5


def describe(p, keys):
    """'local: :8080, :9090; process: nginx' for the filters among KEYS that P sets."""
    parts = []
    for k in keys:
        v = p.get(k)
        if v:
            parts.append("%s: %s" % (k, ", ".join(str(x) for x in v) if isinstance(v, list) else v))
    return "; ".join(parts)


def _plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def processes_seen(socks, holders):
    """'java (pid 12), python3 (pids 40, 41)' for the holders of SOCKS; and how many have no holder."""
    by_name = {}
    nobody = 0
    for s in socks:
        hs = holders.of(s)
        if not hs:
            nobody += 1
        for pid, comm, _cmdline in hs:
            by_name.setdefault(comm, set()).add(pid)
    names = []
    for comm in sorted(by_name)[:NAMED_PROCESSES]:
        pids = sorted(by_name[comm])
        more = ", ..." if len(pids) > NAMED_PIDS else ""
        names.append("%s (pid%s %s%s)" % (comm, "s" if len(pids) > 1 else "", ", ".join(
            str(x) for x in pids[:NAMED_PIDS]), more))
    if len(by_name) > NAMED_PROCESSES:
        names.append("%d more" % (len(by_name) - NAMED_PROCESSES))
    return names, nobody


def nothing_seen(p, states, protected, where=None):
    """No socket in the selected states at all (besides the protected ones), in WHERE (a namespace's label)."""
    return ("%s matched nothing: no socket is in %s in %s%s"
            % (describe(p, ("local", "remote", "pid", "process")), ", ".join(states),
               where or "this network namespace",
               " (besides %s of the control connection, protected)" % _plural(protected, "socket")
               if protected else ""))


def endpoints_missed(p, states, sel):
    """The endpoint filters matched none of the sockets seen."""
    return ("%s matched none of the %s in %s; their local ports include %s; their remote ends include %s"
            % (describe(p, ("local", "remote")), _plural(sel.seen, "socket"), ", ".join(states),
               ", ".join(str(x) for x in sorted(sel.seen_local)), ", ".join(sorted(sel.seen_remote))))


def owners_missed(p, states, socks, holders):
    """The pid/process filter matched none of the sockets the endpoint filters kept."""
    names, nobody = processes_seen(socks, holders)
    after = describe(p, ("local", "remote"))
    text = ("%s matched none of the %s in %s%s; " % (
        describe(p, ("pid", "process")), _plural(len(socks), "socket"), ", ".join(states),
        " that %s matched" % after if after else ""))
    text += "the processes holding them: %s" % (", ".join(names) if names else "none")
    if nobody:
        text += "; %d held by no process (TIME_WAIT, or closed by their owner)" % nobody
    process = p.get("process") or ""
    if len(process) > selection.COMM_LEN:
        text += ("; a process name longer than %d characters matches a process whose comm is its first %d "
                 "characters (%s) and whose argv[0] has the whole name as its base name"
                 % (selection.COMM_LEN, selection.COMM_LEN, process[:selection.COMM_LEN]))
    return text
