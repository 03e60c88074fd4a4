# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which processes hold which sockets, read from /proc/<pid>/fd links, and
the chain of parent processes.
"""

from __future__ import annotations

import os

# An open socket's fd link reads "socket:[<inode>]".
SOCKET_LINK = "socket:[%d]"
SOCKET_PREFIX = "socket:["


def _link_inode(link):
    return int(link[len(SOCKET_PREFIX):-1])


def owners(inodes, proc_root="/proc"):
    """{inode: (pid, comm, cmdline)} for the given socket inodes, one /proc
    scan that stops once every wanted inode is found."""
    want = set(SOCKET_LINK % i for i in inodes if i)
    found = {}
    if not want:
        return found
    for pid in os.listdir(proc_root):
        if len(found) == len(want):
            break
        if not pid.isdigit():
            continue
        for link in _fd_links(proc_root, pid):
            if link in want:
                inode = _link_inode(link)
                if inode not in found:
                    found[inode] = (int(pid), _read(proc_root, pid, "comm").strip(),
                                    _read(proc_root, pid, "cmdline").replace("\0", " ").strip())
    return found


def all_owners(inodes, proc_root="/proc"):
    """{inode: [(pid, comm, cmdline), ...]} for the given socket inodes: every process that holds each one (a
    parent and the children that inherited the descriptor), sorted by pid. Unlike owners(), it reads every
    process: a socket has as many holders as share its file."""
    want = set(SOCKET_LINK % i for i in inodes if i)
    found = {}
    if not want:
        return found
    for pid in sorted((p for p in os.listdir(proc_root) if p.isdigit()), key=int):
        held = set(link for link in _fd_links(proc_root, pid) if link in want)
        if not held:
            continue
        who = (int(pid), _read(proc_root, pid, "comm").strip(),
               _read(proc_root, pid, "cmdline").replace("\0", " ").strip())
        for link in held:
            found.setdefault(_link_inode(link), []).append(who)
    return found


def held_by(pids, proc_root="/proc"):
    """The socket inodes held open by the given processes."""
    out = set()
    for pid in pids:
        for link in _fd_links(proc_root, pid):
            if link.startswith(SOCKET_PREFIX):
                out.add(_link_inode(link))
    return out


def _fd_links(proc_root, pid):
    """What each open file descriptor of PID points to ("socket:[123]" for a socket); nothing if it is gone."""
    fd_dir = os.path.join(proc_root, str(pid), "fd")
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return
    for fd in fds:
        try:
            yield os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue


def ancestors(pid=None, proc_root="/proc"):
    """[(pid, comm)] from the parent of ``pid`` (default: this process) up to pid 1."""
    out = []
    pid = pid or os.getpid()
    seen = set()
    while pid and pid not in seen:
        seen.add(pid)
        ppid = None
        for line in _read(proc_root, str(pid), "status").splitlines():
            if line.startswith("PPid:"):
                ppid = int(line.split()[1])
                break
        if not ppid:
            break
        out.append((ppid, _read(proc_root, str(ppid), "comm").strip()))
        pid = ppid
    return out


def _read(proc_root, pid, name):
    try:
        with open(os.path.join(proc_root, pid, name)) as f:
            return f.read()
    except OSError:
        return ""
