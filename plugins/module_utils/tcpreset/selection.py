# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which sockets a tcp_reset run destroys: the streaming filter over a dump
(endpoint filters, never LISTEN, never the control connection) and the
selection by owning process, where every process that holds a socket counts
(a parent and its forked children) and a connection still in a listener's
accept queue (inode 0) is held by the listener's holders.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners as owners_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import record
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import control as control_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset.control import Control

FAMILIES = {"ipv4": (socket.AF_INET,), "ipv6": (socket.AF_INET6,), "both": (socket.AF_INET, socket.AF_INET6)}
# The kernel keeps 15 characters of a command name in /proc/PID/comm (TASK_COMM_LEN 16 with the NUL).
COMM_LEN = 15
# Distinct local ports and remote ends kept to name in a warning when the endpoint filters match nothing.
SEEN_SAMPLE = 5
# A connection with no inode in one of these states was never accept()ed: it sits in a listener's queue.
QUEUED_STATES = frozenset((st.TCP_ESTABLISHED, st.TCP_SYN_RECV, st.TCP_NEW_SYN_RECV, st.TCP_CLOSE_WAIT))
ANY4 = ipaddress.IPv4Address("0.0.0.0")
ANY6 = ipaddress.IPv6Address("::")


class Selector(object):
    """Streaming filter: keeps only the sockets to destroy."""

    def __init__(self, local, remote, family, control):
        self.local = local
        self.remote = remote
        self.families = FAMILIES[family]
        if not isinstance(control, Control):  # an SSH four-tuple, or None
            control = Control(control)
        self.control = control
        self.matched = []
        self.seen = 0
        self.seen_local = []
        self.seen_remote = []

    def _saw(self, s):
        self.seen += 1
        if len(self.seen_local) < SEEN_SAMPLE and s.sport not in self.seen_local:
            self.seen_local.append(s.sport)
        remote = record.endpoint(s.family, s.dst, s.dport)
        if len(self.seen_remote) < SEEN_SAMPLE and remote not in self.seen_remote:
            self.seen_remote.append(remote)

    def __call__(self, s):
        if s.state == st.TCP_LISTEN:  # never LISTEN, whatever the kernel returned
            return
        if self.control.see(s):
            self.control.found.append(s)
            return
        self._saw(s)
        if self.local and not any(sp.matches(s.family, s.src, s.sport) for sp in self.local):
            return
        if self.remote and not any(sp.matches(s.family, s.dst, s.dport) for sp in self.remote):
            return
        self.matched.append(s)

    def finish(self):
        """After the dump: the mirrors of sockets found by inode leave the matches."""
        self.matched = self.control.settle(self.matched)
        return self

    @property
    def protected(self):
        return self.control.found


def queued(s):
    """True for a connection not yet accept()ed: no inode (no fd), in a state a listener's queue holds."""
    return not s.inode and s.state in QUEUED_STATES


def listeners(families, dump):
    """{(address, port): inode} of the LISTEN sockets, from dump(handler, state mask, families=...)."""
    out = {}

    def keep(s):
        out[(control_lib.address(s.family, s.src), s.sport)] = s.inode
    dump(keep, st.state_mask(["listen"]), families=families)
    return out


class Holders(object):
    """Who holds each socket: {inode: [(pid, comm, cmdline), ...]} from sockets/owners.all_owners, every holder
    sorted by pid. A connection still in an accept queue has no fd of its own: it is credited to the holders of
    the listener on its local address (or the wildcard) and port, as tcp_info does."""

    def __init__(self, socks, listener_map=None, lookup=None):
        self.listeners = listener_map or {}
        inodes = set(self.inode_of(s) for s in socks)
        inodes.discard(0)
        self.map = (lookup or owners_lib.all_owners)(sorted(inodes))

    def inode_of(self, s):
        """The socket's inode, or its listener's for a queued connection; 0 when nobody holds it."""
        if s.inode or not queued(s):
            return s.inode
        a = control_lib.address(s.family, s.src)
        for addr in (a, ANY4, ANY6) if a.version == 4 else (a, ANY6):
            inode = self.listeners.get((addr, s.sport))
            if inode:
                return inode
        return 0

    def of(self, s):
        return self.map.get(self.inode_of(s), [])


def name_matches(process, comm, cmdline):
    """Does a holder (comm, cmdline) match ``process``? A name of up to 15 characters is compared with comm. A
    longer one can never equal comm (the kernel keeps 15 characters): it matches a process whose comm is its first
    15 characters and whose argv[0] has it as its base name (/usr/bin/NAME)."""
    if len(process) <= COMM_LEN:
        return comm == process
    argv0 = (cmdline or "").split(" ", 1)[0]
    return comm == process[:COMM_LEN] and os.path.basename(argv0) == process


def holder_matches(holder, pid, process):
    if pid and holder[0] != pid:
        return False
    return not process or name_matches(process, holder[1], holder[2])


def by_owner(socks, pid, process, holders):
    """Keep the sockets any of whose holders (Holders) is the given pid and matches the given process name."""
    return [s for s in socks if any(holder_matches(h, pid, process) for h in holders.of(s))]
