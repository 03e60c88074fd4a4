# SPDX-License-Identifier: GPL-3.0-or-later
"""Sockets and a fake /proc for tcp_reset's tests."""
import os
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import record


def v4(a):
    return socket.inet_aton(a) + b"\0" * 12


def v6(a):
    return socket.inet_pton(socket.AF_INET6, a)


def sock(state, src, sport, dst, dport, family=socket.AF_INET):
    enc = v4 if family == socket.AF_INET else v6
    return record.Sock(family, state, sport, dport, enc(src), enc(dst), 0, 0, b"\0" * 48)


def fake_proc(tmp_path, chain):
    """chain: [(pid, ppid, comm, environ dict, socket inodes)]"""
    for pid, ppid, comm, env, inodes in chain:
        d = tmp_path / str(pid)
        (d / "fd").mkdir(parents=True)
        (d / "status").write_text("Name:\t%s\nPPid:\t%d\n" % (comm, ppid))
        (d / "comm").write_text(comm + "\n")
        (d / "environ").write_bytes(b"".join(("%s=%s\0" % kv).encode() for kv in env.items()))
        for n, inode in enumerate(inodes):
            os.symlink("socket:[%d]" % inode, str(d / "fd" / str(n + 3)))
