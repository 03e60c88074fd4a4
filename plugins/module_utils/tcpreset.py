# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The logic of kerneltune.tcp.tcp_reset: filters, selection, safety.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils import sockdiag

DESTROYABLE_STATES = ("time_wait", "close_wait", "established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",
                      "last_ack", "closing")
_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


class ResetError(Exception):
    def __init__(self, message):
        super(ResetError, self).__init__(message)
        self.message = message


class Spec(object):
    """One endpoint filter: an address or network, a port or port range, or both."""

    __slots__ = ("text", "net", "lo", "hi")

    def __init__(self, text, net, lo, hi):
        self.text = text
        self.net = net
        self.lo = lo
        self.hi = hi

    def matches(self, family, raw, port):
        if self.lo is not None and not self.lo <= port <= self.hi:
            return False
        if self.net is None:
            return True
        if family == socket.AF_INET:
            addr = ipaddress.IPv4Address(raw[:4])
        else:
            addr = ipaddress.IPv6Address(raw[:16])
            if addr.ipv4_mapped is not None and self.net.version == 4:
                addr = addr.ipv4_mapped
        return addr.version == self.net.version and addr in self.net


def parse_spec(option, text):
    """'10.0.0.0/8', '10.0.0.5', '10.0.0.5:8080', ':8000-8100', '[::1]:80', '::1'."""
    t = str(text).strip()
    bad = ResetError("%s: %r is not an address, a network (CIDR), :port, :low-high or address:port" % (option, text))
    addr, ports = t, None
    if t.startswith("["):
        m = re.match(r"^\[([^\]]+)\](?::(.+))?$", t)
        if not m:
            raise bad
        addr, ports = m.group(1), m.group(2)
    elif t.count(":") == 1:
        addr, ports = t.split(":")
    lo = hi = None
    if ports is not None:
        m = _PORTS.match(ports)
        if not m:
            raise bad
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if not (0 < lo <= hi <= 65535):
            raise ResetError("%s: %r has a port range outside 1..65535 or low above high" % (option, text))
    net = None
    if addr:
        if "%" in addr:
            raise ResetError("%s: %r names a zone (%s); a filter matches addresses on every interface, so it would "
                             "match this address on other links too. Give it without the zone if that is meant"
                             % (option, text, addr.split("%", 1)[1]))
        try:
            net = ipaddress.ip_network(addr, strict=False)
        except ValueError:
            raise bad
        mapped = net.network_address.ipv4_mapped if net.version == 6 and net.prefixlen >= 96 else None
        if mapped is not None:
            # ::ffff:a.b.c.d is the IPv4 host: match its IPv4 sockets and its IPv4-mapped IPv6 sockets alike.
            net = ipaddress.ip_network("%s/%d" % (mapped, net.prefixlen - 96))
    elif ports is None:
        raise bad
    return Spec(t, net, lo, hi)


def _ip(text):
    """An address from SSH_CONNECTION; a link-local IPv6 scope (%eth0) is dropped."""
    a = ipaddress.ip_address(text.split("%", 1)[0])
    if a.version == 6 and a.ipv4_mapped is not None:
        return a.ipv4_mapped
    return a


def ssh_tuple(env_value):
    """(local_addr, local_port, remote_addr, remote_port) from SSH_CONNECTION, or None."""
    parts = (env_value or "").split()
    if len(parts) != 4:
        return None
    try:
        client, cport, server, sport = _ip(parts[0]), int(parts[1]), _ip(parts[2]), int(parts[3])
    except ValueError:
        return None
    return (server, sport, client, cport)


def _addr(family, raw):
    if family == socket.AF_INET:
        return ipaddress.IPv4Address(raw[:4])
    a = ipaddress.IPv6Address(raw[:16])
    return a.ipv4_mapped or a


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


class Control(object):
    """What identifies the connection this module arrived on.

    Under become, sudo drops SSH_CONNECTION from the module's environment, so
    it is read from the ancestors' environments too; and the sshd session
    process, an ancestor of the module, holds the connection's socket, so
    every socket an ancestor holds is protected. The mirror of each protected
    four-tuple is protected too: with the controller on the same host (ansible
    to localhost over SSH, or a controller in the same network namespace) the
    client end is a socket here as well, held by a process we may not see.
    """

    def __init__(self, ssh=None, inodes=frozenset(), remote=False, evidence=None):
        self.tuples = set()
        if ssh is not None:
            self.add_tuple(ssh[0], ssh[1], ssh[2], ssh[3])
        self.inodes = set(inodes)
        self.remote = remote
        self.evidence = evidence or []
        self.found = []

    def add_tuple(self, laddr, lport, raddr, rport):
        self.tuples.add((laddr, lport, raddr, rport))
        self.tuples.add((raddr, rport, laddr, lport))

    @classmethod
    def discover(cls, environ=None, proc_root="/proc", pid=None):
        env = os.environ if environ is None else environ
        chain = sockdiag.ancestors(pid, proc_root)
        evidence = []
        value = env.get("SSH_CONNECTION")
        if value:
            evidence.append("SSH_CONNECTION in the module's environment")
        else:
            for apid, comm in chain:
                value = _environ(proc_root, apid).get("SSH_CONNECTION")
                if value:
                    evidence.append("SSH_CONNECTION in the environment of %s (pid %d)" % (comm, apid))
                    break
        sshd = [(apid, comm) for apid, comm in chain if comm.startswith("sshd")]
        if sshd:
            evidence.append("ancestor %s (pid %d)" % (sshd[0][1], sshd[0][0]))
        ssh = ssh_tuple(value)
        inodes = sockdiag.held_by([apid for apid, _comm in chain if apid != 1], proc_root)
        return cls(ssh, inodes, remote=bool(value) or bool(sshd), evidence=evidence)

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


def is_protected(sock, ssh):
    if ssh is None:
        return False
    return (sock.sport == ssh[1] and sock.dport == ssh[3] and _addr(sock.family, sock.src) == ssh[0]
            and _addr(sock.family, sock.dst) == ssh[2])


UNIDENTIFIED = ("this run is remote (%s) but no socket of its control connection was found in this network "
                "namespace, so it cannot be protected; refusing to touch ESTABLISHED sockets. Set "
                "allow_unprotected: true to go on anyway (the task may cut its own connection)")


def unprotected_refusal(states, control, allow):
    """The refusal when ESTABLISHED sockets are in play, the run is remote and
    its control connection was not seen, or None."""
    if allow or "established" not in states or not control.remote or control.found:
        return None
    return UNIDENTIFIED % "; ".join(control.evidence)


def validate(states, local, remote, pid, process, all_sockets):
    if not states:
        raise ResetError("states: at least one state is required")
    if "listen" in states:
        raise ResetError("states: listen is refused: destroying a listening socket stops the service")
    for s in states:
        if s not in DESTROYABLE_STATES:
            raise ResetError("states: unknown state %r; choose from %s" % (s, ", ".join(DESTROYABLE_STATES)))
    if not (local or remote or pid or process) and not all_sockets:
        raise ResetError("at least one of local, remote, pid or process is required; set all: true to match every "
                         "socket in the given states")
    if (pid or process) and states == ["time_wait"]:
        raise ResetError("pid and process match nothing in TIME_WAIT: those sockets belong to no process any more")


class Selector(object):
    """Streaming filter: keeps only the sockets to destroy."""

    def __init__(self, local, remote, family, control):
        self.local = local
        self.remote = remote
        self.families = {"ipv4": (socket.AF_INET,), "ipv6": (socket.AF_INET6,),
                         "both": (socket.AF_INET, socket.AF_INET6)}[family]
        if not isinstance(control, Control):  # an SSH four-tuple, or None
            control = Control(control)
        self.control = control
        self.matched = []

    def __call__(self, s):
        if s.state == 10:  # never LISTEN, whatever the kernel returned
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
    found = (owners or sockdiag.owners)([s.inode for s in socks])
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


def kernel_refusal(states, support, release):
    """Why this host cannot do the job, or None."""
    if not support["supported"]:
        return ("cannot destroy sockets on this host: %s. Instead: restart the application that owns them, or for "
                "TIME_WAIT wait (it ends by itself after 60 s); this module never forges packets"
                % support["reason"])
    if "time_wait" in states and not sockdiag.time_wait_destroyable(release):
        return ("TIME_WAIT sockets cannot be destroyed on Linux %s (the kernel supports it from 6.0); they end by "
                "themselves after 60 s. To stop them piling up, apply the high_outbound_client profile "
                "(tcp_tw_reuse=1) or pool connections" % release)
    return None


def stopped_message(matched, res):
    """The message when a destroy run stopped on an error, with what it did."""
    return ("destroying stopped on an error after %d of %d sockets: %s; %d destroyed, %d already gone, %d refused, "
            "%d sent without an answer (they may be gone), %d not tried"
            % (res.destroyed + len(res.failed) + res.unconfirmed, matched, res.error, res.destroyed,
               len([f for f in res.failed if f[1] == 2]), len([f for f in res.failed if f[1] != 2]), res.unconfirmed,
               matched - res.destroyed - len(res.failed) - res.unconfirmed))
