# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every network namespace on the host, who it belongs to, and running code inside one.

Namespaces are found from two places (discover):

* /proc/PID/ns/net of every process: the namespace each process runs in (containers, pods, `unshare --net`);
* /run/netns/NAME: the bind mounts `ip netns add` makes, which keep a namespace alive with no process in it.

They are told apart by the inode of their nsfs file (what `readlink /proc/PID/ns/net` shows as net:[INODE]).
Reading another process's ns/net link needs the right to ptrace it (root, or the same user): a process that
cannot be read is counted, never guessed.

run_in(ns, fn) forks; the child enters the namespace with setns(2) (CAP_SYS_ADMIN) and runs fn(); fn's result
comes back as JSON through a pipe. After setns a socket the child opens (netlink sock_diag), /proc/self/net/* and
/proc/sys/net/* all show the namespace entered; the parent's namespace never changes, and the child's memory goes
with it, so a scan of many namespaces holds one diagnosis at a time.

owner(pids) reads /proc/PID/cgroup (v1, v2 and hybrid) for the container runtime, container id and Kubernetes pod
uid of the processes in a namespace: systemd slice names write the pod uid with underscores
(kubepods-burstable-pod1234_5678.slice); nested containers carry several ids and the innermost owns the process.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import signal
import sys

CLONE_NEWNET = 0x40000000
RUN_NETNS = "/run/netns"

GONE = "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)"
# run_in's reason when the child ended without an answer (killed, or failed to send it), followed by how it ended.
LOST = "the process that entered the namespace failed"
NO_CAP = ("entering another network namespace needs CAP_SYS_ADMIN (setns(2) said: %s); run as root "
          "(become: true)")

# How each runtime names a container's cgroup, systemd driver and cgroupfs driver alike (podman's cgroupfs driver
# writes /libpod_parent/libpod-<id> with no .scope: seen with podman 4.3 and runc). The id is the runtime's
# 64-hex container id.
_ID = r"([0-9a-f]{64})"
_RUNTIME_PATTERNS = (
    ("docker", re.compile(r"^docker-%s(?:\.scope)?$" % _ID)),
    ("containerd", re.compile(r"^cri-containerd-%s(?:\.scope)?$" % _ID)),
    ("cri-o", re.compile(r"^crio-%s(?:\.scope)?$" % _ID)),
    ("podman", re.compile(r"^libpod-%s(?:\.scope)?$" % _ID)),
)
# cgroupfs driver: /docker/<id>, /libpod_parent/libpod-<id>, /kubepods/<qos>/pod<uid>/<id>
_PARENT_RUNTIME = {"docker": "docker", "lxc": "lxc", "libpod_parent": "podman"}
_BARE_ID = re.compile(r"^%s$" % _ID)
_POD_SLICE = re.compile(r"^kubepods(?:-[a-z]+)*-pod([0-9a-f_]{36})\.slice$")
_POD_DIR = re.compile(r"^pod([0-9a-f-]{36})$")


def inode_of(path):
    """The nsfs inode of a namespace file (/proc/PID/ns/net or a /run/netns bind mount), or None."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _dev_of(path):
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def self_inode(proc_root="/proc"):
    return inode_of(os.path.join(proc_root, "self", "ns", "net"))


class Namespace(object):
    """One network namespace: its inode, its /run/netns names, the pids seen in it and a path to enter it by."""

    def __init__(self, inode, path, is_self=False):
        self.inode = inode
        self.path = path
        self.names = []
        self.pids = []
        self.is_self = is_self

    @property
    def name(self):
        return self.names[0] if self.names else None

    def __repr__(self):
        return "Namespace(%d, %r, names=%r, pids=%d)" % (self.inode, self.path, self.names, len(self.pids))


def discover(proc_root="/proc", run_netns=RUN_NETNS):
    """([Namespace], unreadable): every network namespace found, this process's own first, then by inode; and
    the number of processes whose namespace could not be read (no right to ptrace them; zombies and processes gone
    during the scan have none and are not counted)."""
    mine = self_inode(proc_root)
    found = {}
    unreadable = 0
    for pid in sorted((p for p in os.listdir(proc_root) if p.isdigit()), key=int):
        path = os.path.join(proc_root, pid, "ns", "net")
        try:
            ino = os.stat(path).st_ino
        except OSError as e:
            # ENOENT: a zombie (its namespaces are released) or a process gone since listdir, nothing to read;
            # EACCES, EPERM: no right to ptrace it, a namespace that may be missed.
            if e.errno not in (errno.ENOENT, errno.ESRCH):
                unreadable += 1
            continue
        ns = found.get(ino)
        if ns is None:
            ns = found[ino] = Namespace(ino, path, is_self=ino == mine)
        ns.pids.append(int(pid))
    try:
        names = sorted(os.listdir(run_netns))
    except OSError:
        names = []
    nsfs_dev = _dev_of(os.path.join(proc_root, "self", "ns", "net"))
    for name in names:
        path = os.path.join(run_netns, name)
        # Only a file with nsfs mounted on it is a namespace: `ip netns add` leaves an empty file when its mount
        # fails, and so does an umount without rm; a FIFO there would block the open() that enters it.
        if nsfs_dev is None or _dev_of(path) != nsfs_dev:
            continue
        ino = inode_of(path)
        if ino is None:
            continue
        ns = found.get(ino)
        if ns is None:
            ns = found[ino] = Namespace(ino, path, is_self=ino == mine)
        elif not ns.names:
            ns.path = path  # a bind mount outlives the processes that happen to be in it
        ns.names.append(name)
    if mine is not None and mine not in found:
        found[mine] = Namespace(mine, os.path.join(proc_root, "self", "ns", "net"), is_self=True)
    order = sorted(found.values(), key=lambda n: (not n.is_self, n.inode))
    return order, unreadable


def unreadable_warning(unreadable, euid=None):
    """The warning for a scan run without root that could not read other processes' namespaces, or None: without
    it namespaces=all lists only the namespaces of the module's own user and says nothing of the rest."""
    euid = os.geteuid() if euid is None else euid
    if not unreadable or euid == 0:
        return None
    return ("namespaces=all: the network namespace of %d process%s could not be read (reading /proc/PID/ns/net "
            "needs the right to ptrace the process, and entering a namespace CAP_SYS_ADMIN): their namespaces are "
            "missing from the result; run as root (become: true)" % (unreadable, "" if unreadable == 1 else "es"))


def _setns(path):
    """Enter the network namespace of PATH in this process: 0 or the errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        return e.errno or errno.ENOENT
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            return ctypes.get_errno() or errno.EPERM
    finally:
        os.close(fd)
    return 0


def _ended(status):
    """How a child ended, in words, from its waitpid status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "unknown"
        return "it was killed by signal %d, %s" % (sig, name)
    return "it exited with status %d" % os.WEXITSTATUS(status)


def _why(err):
    if err in (errno.ENOENT, errno.ESRCH):
        return GONE
    if err == errno.EPERM:
        return NO_CAP % os.strerror(err)
    return os.strerror(err)


def run_in(ns, fn):
    """fn() run in a forked child inside namespace NS (a Namespace or a path); returns (result, None) or
    (None, why). fn's result must be JSON-serialisable. For this process's own namespace, fn runs here. With a
    Namespace, a path that now leads to another inode (a pid reused since discovery) is GONE, never entered."""
    path = ns.path if isinstance(ns, Namespace) else ns
    expected = ns.inode if isinstance(ns, Namespace) else None
    if isinstance(ns, Namespace) and ns.is_self:
        return json.loads(json.dumps(fn())), None  # the same types as from a child
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child ends with _exit; its work is seen through the pipe)
        code = 0
        try:
            os.close(read_fd)
            # The module's stdout carries its JSON result: what fn (or a library) prints goes to stderr instead.
            os.dup2(2, 1)
            sys.stdout = sys.stderr
            err = _setns(path)
            if err:
                msg = {"error": _why(err)}
            elif expected is not None and self_inode() != expected:
                # The path led elsewhere: its pid exited and was reused by a process in another namespace.
                msg = {"error": GONE}
            else:
                try:
                    msg = {"value": fn()}
                except Exception as e:  # pylint: disable=broad-except
                    msg = {"error": "%s: %s" % (type(e).__name__, e)}
            data = json.dumps(msg).encode("utf-8")
            while data:
                data = data[os.write(write_fd, data):]
        except BaseException:  # pylint: disable=broad-except
            code = 1  # never return into the module from the child
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    try:
        with os.fdopen(read_fd, "rb", closefd=False) as f:
            for chunk in iter(lambda: f.read(65536), b""):
                chunks.append(chunk)
    finally:  # whatever happened while reading: no pipe left open, no zombie left behind
        os.close(read_fd)
        status = os.waitpid(pid, 0)[1]
    try:
        msg = json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        return None, "%s (%s)" % (LOST, _ended(status))
    if "error" in msg:
        return None, msg["error"]
    return msg["value"], None


def _cgroup_paths(proc_root, pid):
    try:
        with open(os.path.join(proc_root, str(pid), "cgroup")) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [line.split(":", 2)[2] for line in lines if line.count(":") >= 2]


def parse_cgroup(path):
    """{runtime, container_id, containers, pod_uid} read from one cgroup path; containers lists every container
    id from the outermost to the innermost, container_id is the innermost (None when there is none)."""
    containers = []
    runtime = None
    pod_uid = None
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        m = _POD_SLICE.match(part)
        if m:
            pod_uid = m.group(1).replace("_", "-")
            continue
        m = _POD_DIR.match(part)
        if m:
            pod_uid = m.group(1)
            continue
        for name, pattern in _RUNTIME_PATTERNS:
            m = pattern.match(part)
            if m:
                containers.append(m.group(1))
                runtime = name
                break
        else:
            if _BARE_ID.match(part):
                containers.append(part)
                parent = parts[i - 1] if i else ""
                runtime = _PARENT_RUNTIME.get(parent, "kubernetes" if pod_uid else "unknown")
            elif i and parts[i - 1] == "lxc" or part.startswith("lxc.payload."):
                containers.append(part.replace("lxc.payload.", "", 1))
                runtime = "lxc"
    return {"runtime": runtime, "container_id": containers[-1] if containers else None, "containers": containers,
            "pod_uid": pod_uid}


def owner(pids, proc_root="/proc", limit=10):
    """Who a namespace belongs to, from the cgroups of the processes in it (PIDS, sorted): the runtime, the
    innermost container id and the pod uid of its first process that has one, every container id seen, and the
    first LIMIT processes with their commands."""
    out = {"runtime": None, "container_id": None, "containers": [], "pod_uid": None, "cgroup": None,
           "processes": [], "process_count": len(pids)}
    for pid in pids:
        best = None
        for path in _cgroup_paths(proc_root, pid):
            info = parse_cgroup(path)
            if info["container_id"] and info["container_id"] not in out["containers"]:
                out["containers"].append(info["container_id"])
            # On a hybrid v1/v2 host the hierarchies may disagree (a process moved in the unified tree only): the
            # path that carries the most containers (then a pod uid) is the innermost placement.
            rank = (len(info["containers"]), info["pod_uid"] is not None)
            if (info["container_id"] or info["pod_uid"]) and (best is None or rank > best[0]):
                best = (rank, info, path)
        if out["cgroup"] is None and best is not None:
            _rank, info, path = best
            out.update(runtime=info["runtime"], container_id=info["container_id"], pod_uid=info["pod_uid"],
                       cgroup=path)
        if len(out["processes"]) < limit:
            try:
                with open(os.path.join(proc_root, str(pid), "comm")) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            out["processes"].append({"pid": pid, "command": comm})
    return out
