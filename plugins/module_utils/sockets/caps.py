# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What this kernel and process may do to sockets: CAP_NET_ADMIN from
/proc/self/status, SOCK_DESTROY support, and whether TIME_WAIT sockets can be
destroyed at all.
"""

from __future__ import annotations

import errno
import os
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink

# Capability bit (include/uapi/linux/capability.h).
CAP_NET_ADMIN = 12
# TIME_WAIT sockets can be destroyed from this kernel version on.
TIME_WAIT_DESTROY_SINCE = (6, 0)

NO_CAP = "this process lacks CAP_NET_ADMIN (CapEff bit 12 is clear in /proc/self/status); run it as root (become: true)"


def time_wait_destroyable(release):
    """TIME_WAIT sockets can be destroyed from Linux 6.0 on (by date)."""
    try:
        version = tuple(int(x) for x in release.split("-")[0].split(".")[:2])
    except ValueError:
        version = (0, 0)
    return version >= TIME_WAIT_DESTROY_SINCE


def has_cap(bit, proc_root="/proc"):
    """Is capability ``bit`` in this process's effective set (CapEff)?
    None when /proc/self/status cannot be read."""
    try:
        with open(os.path.join(proc_root, "self", "status")) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def probe_destroy(proc_root="/proc"):
    """Can this kernel and process destroy sockets? First CapEff: the kernel
    looks the socket up before it checks CAP_NET_ADMIN, so a probe alone
    answers ENOENT to an unprivileged process. Then SOCK_DESTROY for an
    all-zero socket id, which matches no socket: ENOENT means supported,
    EOPNOTSUPP no CONFIG_INET_DIAG_DESTROY, EPERM no CAP_NET_ADMIN."""
    if has_cap(CAP_NET_ADMIN, proc_root) is False:
        return {"supported": False, "reason": NO_CAP}
    try:
        err = netlink.probe(socket.AF_INET, b"\0" * netlink.SOCKID_LEN)
    except netlink.DiagError as e:
        return {"supported": False, "reason": e.message}
    if err in (errno.ENOENT, 0):
        return {"supported": True, "reason": None}
    if err == errno.EOPNOTSUPP:
        return {"supported": False, "reason": "kernel built without CONFIG_INET_DIAG_DESTROY"}
    if err == errno.EPERM:
        return {"supported": False, "reason": "no CAP_NET_ADMIN in this network namespace"}
    return {"supported": False, "reason": os.strerror(err)}
