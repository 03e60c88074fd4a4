# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sysctl key names, and the one table of what each known key holds.

parse_key validates a name; key_to_path_parts and canonical_key split and join
it the way both boot-time appliers do. KEYS has one row per key the module
knows: its kind (one integer, three integers, the port range, a port list, a
name or mask), the range the module accepts, the range the kernel accepts,
and whether it exists only in the initial network namespace. Every other view
(int_range, kernel_range, is_global, ...) is read from that table.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import collections
import re

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import portlist

SCOPES = (("net", "ipv4"), ("net", "ipv6"), ("net", "core"), ("net", "netfilter"))
_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:@+.-]*$")

# Kernel number limits (include/vdso/limits.h; u8 fields of proc_dou8vec_minmax).
INT_MAX = 2147483647
INT_MIN = -INT_MAX - 1
UINT_MAX = 4294967295
U8_MAX = 255
PORT_MAX = portlist.PORT_MAX
# INT_MAX / HZ for the largest CONFIG_HZ (1000): proc_dointvec_jiffies refuses
# more than INT_MAX / HZ, and HZ is not visible from user space, so this is the
# bound every kernel accepts.
JIFFIES_MAX = INT_MAX // 1000

PORT_RANGE = "net.ipv4.ip_local_port_range"
RESERVED = "net.ipv4.ip_local_reserved_ports"
UNPRIV = "net.ipv4.ip_unprivileged_port_start"
RECYCLE = "net.ipv4.tcp_tw_recycle"
REUSE = "net.ipv4.tcp_tw_reuse"
TIMESTAMPS = "net.ipv4.tcp_timestamps"
FIN_TIMEOUT = "net.ipv4.tcp_fin_timeout"

# What a key holds.
INT = "int"                # one integer
TRIPLE = "triple"          # "min default max" in bytes
PORTS = "port_range"       # "low high"
PORT_LIST = "port_list"    # comma-separated ports and ranges
STRING = "string"          # a name or a hexadecimal mask, never a base-0 integer
ANY = "any"                # not modelled: judged by its running value

# What a key that does not hold one integer holds, in messages.
HOLDS = {TRIPLE: "three integers (min default max)", PORT_LIST: "a list of ports", STRING: "a name or a mask"}

# kind; accept: the inclusive range the module accepts (INT only); kernel: what
# the kernel itself accepts (EINVAL outside; INT only); global_only: the key
# exists only in the initial network namespace; copied: a new network namespace
# starts with the initial namespace's value, not the kernel's built-in default
# (tcp_sk_init copies tcp_rmem, tcp_wmem and the congestion control; ip_forward
# follows net.core.devconf_inherit_init_net), so a fresh namespace does not show
# the default (sysctl/defaults.py).
Key = collections.namedtuple("Key", "kind accept kernel global_only copied", defaults=(False,))


def _int(accept, kernel=(INT_MIN, INT_MAX), global_only=False, copied=False):
    return Key(INT, accept, kernel, global_only, copied)


def _other(kind, global_only=False, copied=False):
    return Key(kind, None, None, global_only, copied)


# Each accepted range is the kernel's own limit (its proc handler and
# extra1/extra2 in net/ipv4/sysctl_net_ipv4.c, net/core/sysctl_net_core.c; see
# docs/rules.md), narrowed only where the kernel takes values with no meaning (a
# zero or negative time or count), and checked on 6.18 in a network namespace.
# The kernel ranges were seen on 6.18; the boot model uses them to tell which
# foreign values an applier's write would lose.
KEYS = {
    "net.ipv4.tcp_tw_reuse": _int((0, 2), (0, 2)),
    "net.ipv4.tcp_tw_reuse_delay": _int((1, 60000), (1, 60000)),
    "net.ipv4.tcp_tw_recycle": _int((0, 1)),
    "net.ipv4.tcp_timestamps": _int((0, 2), (0, U8_MAX)),
    "net.ipv4.tcp_syncookies": _int((0, 2), (0, U8_MAX)),
    "net.ipv4.tcp_slow_start_after_idle": _int((0, 1), (0, U8_MAX)),
    "net.ipv4.tcp_rfc1337": _int((0, 1), (0, U8_MAX)),
    "net.ipv4.tcp_sack": _int((0, 1), (0, U8_MAX)),
    "net.ipv4.tcp_window_scaling": _int((0, 1), (0, U8_MAX)),
    "net.ipv4.tcp_mtu_probing": _int((0, 2), (0, U8_MAX)),
    "net.ipv4.ip_forward": _int((0, 1), copied=True),
    "net.ipv4.tcp_fin_timeout": _int((1, JIFFIES_MAX), (-JIFFIES_MAX, JIFFIES_MAX)),
    "net.ipv4.tcp_keepalive_time": _int((1, JIFFIES_MAX), (-JIFFIES_MAX, JIFFIES_MAX)),
    "net.ipv4.tcp_keepalive_intvl": _int((1, JIFFIES_MAX), (-JIFFIES_MAX, JIFFIES_MAX)),
    "net.ipv4.tcp_keepalive_probes": _int((1, U8_MAX), (0, U8_MAX)),
    "net.ipv4.tcp_syn_retries": _int((1, 127), (1, 127)),
    "net.ipv4.tcp_synack_retries": _int((0, U8_MAX), (0, U8_MAX)),
    "net.ipv4.tcp_max_syn_backlog": _int((1, INT_MAX)),
    "net.ipv4.tcp_max_tw_buckets": _int((0, INT_MAX)),
    "net.ipv4.tcp_notsent_lowat": _int((0, UINT_MAX), (0, UINT_MAX)),
    UNPRIV: _int((0, PORT_MAX), (0, PORT_MAX)),
    "net.core.somaxconn": _int((1, INT_MAX), (0, INT_MAX)),
    "net.core.netdev_max_backlog": _int((1, INT_MAX), global_only=True),
    "net.ipv4.tcp_rmem": _other(TRIPLE, copied=True),
    "net.ipv4.tcp_wmem": _other(TRIPLE, copied=True),
    PORT_RANGE: _other(PORTS),
    RESERVED: _other(PORT_LIST),
    "net.ipv4.tcp_congestion_control": _other(STRING, copied=True),
    "net.ipv4.tcp_allowed_congestion_control": _other(STRING),
    "net.ipv4.tcp_available_congestion_control": _other(STRING),
    "net.ipv4.tcp_available_ulp": _other(STRING),
    "net.ipv4.tcp_fastopen_key": _other(STRING),
    "net.core.default_qdisc": _other(STRING, global_only=True),
    "net.core.rps_default_mask": _other(STRING),
    "net.core.flow_limit_cpu_bitmap": _other(STRING),
    "net.core.netdev_rss_key": _other(STRING),
    "net.ipv4.tcp_mem": _other(ANY, global_only=True),
    "net.ipv4.tcp_max_orphans": _other(ANY, global_only=True),
    "net.ipv4.udp_mem": _other(ANY, global_only=True),
    "net.core.netdev_budget": _other(ANY, global_only=True),
    "net.core.netdev_budget_usecs": _other(ANY, global_only=True),
    "net.core.dev_weight": _other(ANY, global_only=True),
    "net.core.optmem_max": _other(ANY, global_only=True),
    "net.core.rmem_default": _other(ANY, global_only=True),
    "net.core.rmem_max": _other(ANY, global_only=True),
    "net.core.wmem_default": _other(ANY, global_only=True),
    "net.core.wmem_max": _other(ANY, global_only=True),
    "net.core.busy_poll": _other(ANY, global_only=True),
    "net.core.busy_read": _other(ANY, global_only=True),
    "net.core.message_burst": _other(ANY, global_only=True),
    "net.core.message_cost": _other(ANY, global_only=True),
    "net.core.rps_sock_flow_entries": _other(ANY, global_only=True),
    "net.core.bpf_jit_enable": _other(ANY, global_only=True),
}
_UNKNOWN = _other(ANY)


def kind(key):
    """What KEY holds: INT, TRIPLE, PORTS, PORT_LIST, STRING, or ANY for a key not in the table."""
    return KEYS.get(key, _UNKNOWN).kind


def int_range(key):
    """(lo, hi) the module accepts for a key that holds one integer, else None."""
    return KEYS.get(key, _UNKNOWN).accept


def kernel_range(key):
    """(lo, hi) the kernel accepts for a key that holds one integer, else None."""
    return KEYS.get(key, _UNKNOWN).kernel


def is_global(key):
    """Whether KEY exists only in the initial network namespace."""
    return KEYS.get(key, _UNKNOWN).global_only


# net.ipv{4,6}.conf.{all,default}.*: a new namespace copies them from the initial
# one (net.core.devconf_inherit_init_net, 0 by default).
_COPIED_CONF = re.compile(r"^net[./]ipv[46][./]conf[./](all|default)[./]")


def is_copied(key):
    """Whether a new network namespace starts with KEY's value copied from the initial one."""
    return KEYS.get(key, _UNKNOWN).copied or bool(_COPIED_CONF.match(key))


class KeyNameError(ValueError):
    """A refused key name; rule is the rule id it breaks (key_name or scope)."""

    def __init__(self, rule, message):
        super(KeyNameError, self).__init__(message)
        self.rule = rule


def key_to_path_parts(key):
    """Split a sysctl key the way both appliers do.

    If the first separator is '/', slashes separate and dots are literal
    (net/ipv4/conf/eth0.100/rp_filter); otherwise dots separate and slashes
    are literal dots of an interface name (net.ipv4.conf.eth0/100.rp_filter).
    """
    key = key.strip()
    first_dot = key.find(".")
    first_slash = key.find("/")
    if first_slash != -1 and (first_dot == -1 or first_slash < first_dot):
        return tuple(key.split("/"))
    return tuple(part.replace("/", ".") for part in key.split("."))


def canonical_key(parts):
    """Dotted name when no part holds a dot, slash form otherwise."""
    if any("." in p for p in parts):
        return "/".join(parts)
    return ".".join(parts)


def parse_key(key):
    """Validate a key name and return (canonical_key, parts) or raise KeyNameError."""
    if not isinstance(key, str) or not key or key != key.strip() or any(c.isspace() for c in key):
        raise KeyNameError("key_name", "%s: not a valid sysctl key name" % _show(key))
    parts = key_to_path_parts(key)
    for p in parts:
        if not p or p in (".", "..") or ".." in p or not _PART_RE.match(p):
            raise KeyNameError("key_name", "%s: not a valid sysctl key name" % _show(key))
    if len(parts) < 3 or tuple(parts[:2]) not in SCOPES:
        raise KeyNameError(
            "scope",
            "%s: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and net.netfilter.* keys are managed" % key)
    return canonical_key(parts), parts


def _show(value):
    return repr(value) if not isinstance(value, str) or not value or value != value.strip() or any(
        c.isspace() for c in value) else value
