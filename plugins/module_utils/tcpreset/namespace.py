# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network namespace a tcp_reset run acts in (option ``namespace``).

Accepted forms, and nothing is guessed between them:

* ``4026532281`` or ``net:[4026532281]``: the inode of the namespace (``readlink /proc/PID/ns/net``, ``lsns -t
  net``, tcp_info's ``namespaces``). A bare number is always an inode: nsfs inodes start at 0xEFFFFFF9
  (4026531833) while pids stay below 2**22, but a number that is no namespace's inode is refused, never read as a
  pid; the message says ``pid:N`` when a process N exists.
* ``pid:1234``: the namespace process 1234 runs in (``docker inspect -f '{{.State.Pid}}'``, ``crictl inspect``).
* ``blue`` or ``name:blue``: the bind mount /run/netns/blue (``ip netns add``, ``ip netns list``); ``name:`` is
  needed only for a name made of digits.

resolve() opens the namespace's nsfs file and keeps it open until close(): the namespace cannot disappear, or a
reused pid point elsewhere, between the lookup and entering it (the forked child enters /proc/self/fd/N, its
inherited copy). A namespace that is gone before the lookup is refused with the reason.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns

# ioctl(2) NS_GET_NSTYPE (include/uapi/linux/nsfs.h: _IO(0xb7, 0x3)), Linux 4.11: the CLONE_NEW* type of an nsfs fd.
NS_GET_NSTYPE = 0xB703
FORMS = "an inode (4026532281 or net:[4026532281]), pid:PID, or a name in /run/netns (NAME or name:NAME)"
_INODE = re.compile(r"^(?:net:\[(\d+)\]|(\d+))$")
_PID = re.compile(r"^pid:(\d+)$")


class NamespaceError(Exception):
    def __init__(self, message):
        super(NamespaceError, self).__init__(message)
        self.message = message


def parse(spec):
    """(kind, value) for the option's value: ("inode", int), ("pid", int) or ("name", str)."""
    if isinstance(spec, bool) or not isinstance(spec, (int, str)) or isinstance(spec, int) and spec < 0:
        raise NamespaceError("namespace: %r is not %s" % (spec, FORMS))
    text = str(spec).strip()
    m = _INODE.match(text)
    if m:
        return "inode", int(m.group(1) or m.group(2))
    m = _PID.match(text)
    if m:
        return "pid", int(m.group(1))
    prefixed = text.startswith("name:")
    name = text[len("name:"):] if prefixed else text
    # A colon without name: is a mistyped form (pid:x, net:x), not a name.
    if not name or "/" in name or name in (".", "..") or "\0" in name or ":" in name and not prefixed:
        raise NamespaceError("namespace: %r is not %s" % (spec, FORMS))
    return "name", name


def _open(path):
    """An O_RDONLY fd of PATH, or the OSError. O_NONBLOCK: a FIFO put where a namespace was expected is refused by
    _is_net instead of waiting for a writer (nsfs files ignore the flag)."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))


def _is_net(fd, nsfs_dev):
    """Is FD a network namespace (nsfs, and of type CLONE_NEWNET where the kernel can tell)?"""
    if os.fstat(fd).st_dev != nsfs_dev:
        return False
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == netns.CLONE_NEWNET
    except OSError:  # before 4.11: an nsfs file; setns(CLONE_NEWNET) refuses another type
        return True


class Target(object):
    """A network namespace held open: its inode, /run/netns names and processes, how it was named."""

    def __init__(self, fd, inode, is_self, names, pids, by_pid=None):
        self.fd = fd
        self.inode = inode
        self.is_self = is_self
        self.names = names
        self.pids = pids
        self.by_pid = by_pid

    @property
    def label(self):
        """'network namespace blue (inode N)', '... of pid P (inode N)' or '... inode N', for messages."""
        if self.names:
            return "network namespace %s (inode %d)" % (self.names[0], self.inode)
        if self.by_pid:
            return "network namespace of pid %d (inode %d)" % (self.by_pid, self.inode)
        return "network namespace inode %d" % self.inode

    def namespace(self):
        """A sockets/netns Namespace to run_in(): the child enters its inherited copy of the held fd."""
        return netns.Namespace(self.inode, "/proc/self/fd/%d" % self.fd, is_self=self.is_self)

    def describe(self, proc_root="/proc"):
        """The result's ``namespace``: inode, names, whether it is the module's own, and who it belongs to."""
        return {"inode": self.inode, "name": self.names[0] if self.names else None, "names": list(self.names),
                "self": self.is_self, "owner": netns.owner(self.pids, proc_root)}

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _hint(number, proc_root, run_netns):
    """What a bare number that is no namespace's inode may have meant."""
    hints = []
    if os.path.exists(os.path.join(proc_root, str(number))):
        hints.append("write pid:%d for the namespace of process %d" % (number, number))
    if os.path.exists(os.path.join(run_netns, str(number))):
        hints.append("name:%d for %s" % (number, os.path.join(run_netns, str(number))))
    return "; a bare number is an inode: %s" % " or ".join(hints) if hints else ""


def _open_pid(pid, proc_root):
    path = os.path.join(proc_root, str(pid), "ns", "net")
    try:
        return _open(path)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ESRCH):
            raise NamespaceError("namespace: pid:%d: no process %d (it is not running, or has exited)" % (pid, pid))
        raise NamespaceError("namespace: pid:%d: cannot open %s: %s (reading a process's namespace needs the right "
                             "to ptrace it: root, become: true)" % (pid, path, os.strerror(e.errno)))


def _open_name(name, run_netns):
    path = os.path.join(run_netns, name)
    try:
        return _open(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise NamespaceError("namespace: no network namespace named %s: %s does not exist (ip netns list names "
                                 "them)" % (name, path))
        raise NamespaceError("namespace: cannot open %s: %s" % (path, os.strerror(e.errno)))


def _open_inode(inode, spaces, unreadable, proc_root, run_netns):
    for ns in spaces:
        if ns.inode == inode:
            try:
                return _open(ns.path)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ESRCH):
                    raise NamespaceError("namespace: %d: %s" % (inode, netns.GONE))
                raise NamespaceError("namespace: %d: cannot open %s: %s" % (inode, ns.path, os.strerror(e.errno)))
    unread = ("; the namespace of %d process%s could not be read (reading it needs the right to ptrace the process: "
              "root, become: true)" % (unreadable, "" if unreadable == 1 else "es")) if unreadable else ""
    raise NamespaceError("namespace: %d: no network namespace has inode %d (none of /proc/*/ns/net or %s)%s%s"
                         % (inode, inode, run_netns, _hint(inode, proc_root, run_netns), unread))


def resolve(spec, proc_root="/proc", run_netns=netns.RUN_NETNS):
    """The Target the option names, held open; NamespaceError with the reason when there is none."""
    kind, value = parse(spec)
    own = os.stat(os.path.join(proc_root, "self", "ns", "net"))
    spaces, unreadable = netns.discover(proc_root, run_netns)
    if kind == "pid":
        fd = _open_pid(value, proc_root)
    elif kind == "name":
        fd = _open_name(value, run_netns)
    else:
        fd = _open_inode(value, spaces, unreadable, proc_root, run_netns)
    try:
        if not _is_net(fd, own.st_dev):
            where = "pid:%d" % value if kind == "pid" else os.path.join(run_netns, value) if kind == "name" else value
            raise NamespaceError("namespace: %s is not a network namespace (nothing of nsfs is mounted on it)" % where)
        inode = os.fstat(fd).st_ino
        if kind == "inode" and inode != value:  # the path found by discover() now shows another namespace
            raise NamespaceError("namespace: %d: %s" % (value, netns.GONE))
    except BaseException:
        os.close(fd)
        raise
    found = [ns for ns in spaces if ns.inode == inode]
    names = list(found[0].names) if found else ([value] if kind == "name" else [])
    if kind == "name" and value in names:  # the name asked for first
        names = [value] + [n for n in names if n != value]
    pids = list(found[0].pids) if found else ([value] if kind == "pid" else [])
    return Target(fd, inode, inode == own.st_ino, names, pids, by_pid=value if kind == "pid" else None)
