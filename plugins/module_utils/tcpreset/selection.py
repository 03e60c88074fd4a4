# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which sockets a tcp_reset run destroys: the streaming filter over a dump
(endpoint filters, never LISTEN, never the control connection) and the
selection by owning process.
"""

from __future__ import annotations

import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners as owners_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset.control import Control

FAMILIES = {"ipv4": (socket.AF_INET,), "ipv6": (socket.AF_INET6,), "both": (socket.AF_INET, socket.AF_INET6)}


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

    def __call__(self, s):
        if s.state == st.TCP_LISTEN:  # never LISTEN, whatever the kernel returned
            return
        if self.control.see(s):
            self.control.found.append(s)
            return
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


def by_owner(socks, pid, process, owners=None):
    """Keep the sockets held by the given pid or command name."""
    found = (owners or owners_lib.owners)([s.inode for s in socks])
    keep = []
    for s in socks:
        o = found.get(s.inode)
        if o is None:
            continue
        if pid and o[0] != pid:
            continue
        if process and o[1] != process:
            continue
        keep.append(s)
    return keep, found
