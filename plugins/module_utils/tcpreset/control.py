# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The protected control connection: the SSH connection a tcp_reset run
arrived on, found from SSH_CONNECTION, the sockets its ancestors hold and the
sshd processes of its audit session, and the refusal when a remote run (or a
run that cannot tell) cannot find it.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners as owners_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st

IPV4_LEN = 4
IPV6_LEN = 16
INIT_PID = 1
# SSH_CONNECTION: "client_address client_port server_address server_port".
SSH_CONNECTION_FIELDS = 4
# /proc/PID/sessionid when pam_loginuid never ran for the process's login: (u32)-1.
AUDIT_SESSION_UNSET = 4294967295


def _ip(text):
    """An address from SSH_CONNECTION; a link-local IPv6 scope (%eth0) is dropped."""
    a = ipaddress.ip_address(text.split("%", 1)[0])
    if a.version == 6 and a.ipv4_mapped is not None:
        return a.ipv4_mapped
    return a


def ssh_tuple(env_value):
    """(local_addr, local_port, remote_addr, remote_port) from SSH_CONNECTION, or None."""
    parts = (env_value or "").split()
    if len(parts) != SSH_CONNECTION_FIELDS:
        return None
    try:
        client, cport, server, sport = _ip(parts[0]), int(parts[1]), _ip(parts[2]), int(parts[3])
    except ValueError:
        return None
    return (server, sport, client, cport)


def _addr(family, raw):
    if family == socket.AF_INET:
        return ipaddress.IPv4Address(raw[:IPV4_LEN])
    a = ipaddress.IPv6Address(raw[:IPV6_LEN])
    return a.ipv4_mapped or a


# The address of a socket's end as an ipaddress object, IPv4-mapped IPv6 as IPv4.
address = _addr


def _environ(proc_root, pid):
    try:
        with open(os.path.join(proc_root, str(pid), "environ"), "rb") as f:
            data = f.read()
    except OSError:
        return {}
    env = {}
    for item in data.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return env


def _ssh_connection(env, chain, proc_root, evidence):
    """SSH_CONNECTION from the module's environment or the nearest ancestor's; where it was found goes to evidence."""
    value = env.get("SSH_CONNECTION")
    if value:
        evidence.append("SSH_CONNECTION in the module's environment")
        return value
    for apid, comm in chain:
        value = _environ(proc_root, apid).get("SSH_CONNECTION")
        if value:
            evidence.append("SSH_CONNECTION in the environment of %s (pid %d)" % (comm, apid))
            return value
    return value


def _proc_text(proc_root, pid, name):
    """The text of /proc/PID/NAME, or "" when the process is gone or the file unreadable."""
    try:
        with open(os.path.join(proc_root, str(pid), name), "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def audit_session(proc_root="/proc", pid="self"):
    """The kernel's audit session id of PID (inherited by fork, kept through setsid, daemonising and sudo), or
    None when unset or unreadable (no CONFIG_AUDIT)."""
    try:
        with open(os.path.join(proc_root, str(pid), "sessionid")) as f:
            sid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return None if sid == AUDIT_SESSION_UNSET else sid


def session_sshd(sid, proc_root="/proc"):
    """[(pid, comm)] of the sshd processes (sshd, sshd-session) in audit session SID: they hold the connection
    the session logged in on, whatever became of the process tree below them."""
    out = []
    for name in sorted((p for p in os.listdir(proc_root) if p.isdigit()), key=int):
        comm = _proc_text(proc_root, name, "comm").strip()
        if comm.startswith("sshd") and audit_session(proc_root, name) == sid:
            out.append((int(name), comm))
    return out


def _cmdline(proc_root, pid):
    return _proc_text(proc_root, str(pid), "cmdline").replace("\0", " ")


def async_marker(env, chain, proc_root):
    """Why this run is an Ansible async task (detached from the connection it came on), or None: ANSIBLE_ASYNC_DIR
    in its environment, or async_wrapper among its ancestors."""
    if env.get("ANSIBLE_ASYNC_DIR"):
        return "an Ansible async task (ANSIBLE_ASYNC_DIR in the module's environment)"
    for apid, _comm in chain:
        if "async_wrapper" in _cmdline(proc_root, apid):
            return "an Ansible async task (async_wrapper, pid %d, among its ancestors)" % apid
    return None


def _session_holders(proc_root, pid, evidence):
    """The sshd processes of this run's audit session, named in evidence."""
    sid = audit_session(proc_root, pid or "self")
    if sid is None:
        return []
    found = session_sshd(sid, proc_root)
    for spid, comm in found:
        evidence.append("%s (pid %d) in the same audit session (%d)" % (comm, spid, sid))
    return found


class Control(object):
    """What identifies the connection this module arrived on.

    Under become, sudo drops SSH_CONNECTION from the module's environment, so
    it is read from the ancestors' environments too; and the sshd session
    process, an ancestor of the module, holds the connection's socket, so
    every socket an ancestor holds is protected. An async task is detached
    from that tree (setsid, double fork) but keeps the kernel's audit session
    id (/proc/PID/sessionid, set by pam_loginuid at the SSH login): the
    sockets of every sshd process of the same session are protected too. The
    mirror of each protected four-tuple is protected too: with the controller
    on the same host (ansible to localhost over SSH, or a controller in the
    same network namespace) the client end is a socket here as well, held by
    a process we may not see.
    """

    def __init__(self, ssh=None, inodes=frozenset(), remote=False, evidence=None):
        self.tuples = set()
        if ssh is not None:
            self.add_tuple(ssh[0], ssh[1], ssh[2], ssh[3])
        self.inodes = set(inodes)
        self.remote = remote
        self.evidence = evidence or []
        self.found = []
        # Sockets of the control connection found in the module's own network namespace when the run acts in
        # another one (locate): the connection is identified, and lives outside the namespace acted in.
        self.outside = []

    def add_tuple(self, laddr, lport, raddr, rport):
        self.tuples.add((laddr, lport, raddr, rport))
        self.tuples.add((raddr, rport, laddr, lport))

    @classmethod
    def discover(cls, environ=None, proc_root="/proc", pid=None):
        env = os.environ if environ is None else environ
        chain = owners_lib.ancestors(pid, proc_root)
        evidence = []
        value = _ssh_connection(env, chain, proc_root, evidence)
        sshd = [(apid, comm) for apid, comm in chain if comm.startswith("sshd")]
        if sshd:
            evidence.append("ancestor %s (pid %d)" % (sshd[0][1], sshd[0][0]))
        session = _session_holders(proc_root, pid, evidence)
        detached = async_marker(env, chain, proc_root)
        if detached:
            evidence.append(detached)
        ssh = ssh_tuple(value)
        holders = set(apid for apid, _comm in chain + session if apid != INIT_PID)
        inodes = owners_lib.held_by(sorted(holders), proc_root)
        return cls(ssh, inodes, remote=bool(value or sshd or session or detached), evidence=evidence)

    def key(self, s):
        return (_addr(s.family, s.src), s.sport, _addr(s.family, s.dst), s.dport)

    def see(self, s):
        """True when ``s`` carries the control connection (by inode or four-tuple)."""
        if s.inode and s.inode in self.inodes:
            k = self.key(s)
            if k not in self.tuples:
                self.add_tuple(*k)
            return True
        if self.tuples and self.key(s) in self.tuples:
            return True
        return False

    def locate(self, dump):
        """Find the control connection in the module's own network namespace, for a run that acts in another:
        DUMP(handler, state mask) over its ESTABLISHED sockets. The four-tuples of the sockets found by inode are
        learnt (add_tuple), so their mirrors stay protected in the other namespace (a controller running there)."""
        def see(s):
            if s.state != st.TCP_LISTEN and self.see(s):
                self.outside.append(s)
        dump(see, st.state_mask(["established"]))
        return self.outside

    def settle(self, socks):
        """Sockets kept back until every ancestor-held inode was seen: their
        mirrors (the client end) are only known at the end of the dump."""
        keep = []
        for s in socks:
            if self.key(s) in self.tuples:
                self.found.append(s)
            else:
                keep.append(s)
        return keep


UNIDENTIFIED = ("this run is remote (%s) but no socket of its control connection was found in this network "
                "namespace, so it cannot be protected; refusing to touch ESTABLISHED sockets. Set "
                "allow_unprotected: true to go on anyway (the task may cut its own connection)")


UNIDENTIFIED_ELSEWHERE = ("this run is remote (%s) but no socket of its control connection was found, neither in the "
                          "module's own network namespace nor in %s, so it cannot be protected; refusing to touch "
                          "ESTABLISHED sockets. Set allow_unprotected: true to go on anyway (the task may cut its "
                          "own connection)")


def unprotected_refusal(states, control, allow, where=None):
    """The refusal when ESTABLISHED sockets are in play, the run is remote and
    its control connection was not seen, or None. WHERE names the namespace
    acted in when it is not the module's own: then a control connection found
    in the module's own namespace (control.outside, located there) is
    identified too, and lives outside the namespace acted in."""
    if allow or "established" not in states or not control.remote or control.found or control.outside:
        return None
    if where:
        return UNIDENTIFIED_ELSEWHERE % ("; ".join(control.evidence), where)
    return UNIDENTIFIED % "; ".join(control.evidence)
