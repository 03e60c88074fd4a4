# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic socket streams run through tcp_info's collect() with fixed sysctls and no host reads."""
import itertools
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import record
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect

SYSCTLS = {"net.ipv4.ip_local_port_range": "32768 60999", "net.ipv4.ip_local_reserved_ports": "",
           "net.ipv4.tcp_tw_reuse": "2", "net.ipv4.tcp_max_tw_buckets": "8192", "net.core.somaxconn": "128",
           "net.ipv4.tcp_tw_recycle": None}


def sock(state, sport, dport, dst="10.0.0.5", src="10.0.0.2", inode=0):
    return record.Sock(socket.AF_INET, state, sport, dport, socket.inet_aton(src) + b"\0" * 12,
                       socket.inet_aton(dst) + b"\0" * 12, inode, 0, None)


def run(stream, sysctls=None, counters=None, owners=None, after=None, **kw):
    """collect() over ``stream``; ``after`` is the second reading of the counters (none by default); the port
    probe stays off (it would ask this machine's kernel)."""
    def dumper(agg, states):
        for s in stream:
            agg(s)
    kw.setdefault("port_probe", False)
    return collect.collect(dumper=dumper, sysctls=dict(SYSCTLS, **(sysctls or {})), counters=counters or {},
                           counters_after=(lambda: after) if after is not None else None,
                           owners=owners or (lambda inodes: {}), nat={"detected": False}, kernel={},
                           clock=itertools.count(0, 0.5).__next__, sleep=lambda s: None, **kw)
