# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The logic of kerneltune.tcp.tcp_sysctl, free of Ansible.

plan() validates the requested settings, reads the running kernel through
/proc/sys and the boot-time configuration from disk, runs the safety rules
and returns everything a run would do, without doing it. apply_runtime()
writes the running values all or nothing. The module is glue around these.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import tempfile
import time

from ansible_collections.kerneltune.tcp.plugins.module_utils import sockdiag
from ansible_collections.kerneltune.tcp.plugins.module_utils import sysctl_boot as boot

SCOPES = (("net", "ipv4"), ("net", "ipv6"), ("net", "core"), ("net", "netfilter"))
_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:@+.-]*$")

# Rules that can never be turned into warnings with `allow`.
NOT_ALLOWABLE = frozenset(("key_name", "scope", "value_chars", "tw_recycle_nat", "bounds"))
RULES = frozenset((
    "key_name", "scope", "value_chars", "tw_recycle_nat", "tw_recycle_removed", "tw_recycle_no_nat",
    "unknown_key", "global_key", "missing_key", "read_only", "range", "port_range_listener",
    "port_range_reserved", "port_range_parity", "tw_reuse_timestamps", "fin_timeout_scope",
    "overridden", "masked", "not_persistent", "applier_disagree", "bounds", "restore_unknown",
))

INT_MAX = 2147483647
UINT_MAX = 4294967295
U8_MAX = 255
# INT_MAX / HZ for the largest CONFIG_HZ (1000): proc_dointvec_jiffies refuses
# more than INT_MAX / HZ, and HZ is not visible from user space, so this is the
# bound every kernel accepts.
JIFFIES_MAX = INT_MAX // 1000
# Inclusive ranges the module accepts for keys that hold one integer. Each is
# the kernel's own limit (its proc handler and extra1/extra2 in
# net/ipv4/sysctl_net_ipv4.c, net/core/sysctl_net_core.c; see docs/rules.md),
# narrowed only where the kernel takes values with no meaning (a zero or
# negative time or count), and checked on 6.18 in a network namespace.
INT_RANGES = {
    "net.ipv4.tcp_tw_reuse": (0, 2),
    "net.ipv4.tcp_tw_reuse_delay": (1, 60000),
    "net.ipv4.tcp_tw_recycle": (0, 1),
    "net.ipv4.tcp_timestamps": (0, 2),
    "net.ipv4.tcp_syncookies": (0, 2),
    "net.ipv4.tcp_slow_start_after_idle": (0, 1),
    "net.ipv4.tcp_rfc1337": (0, 1),
    "net.ipv4.tcp_sack": (0, 1),
    "net.ipv4.tcp_window_scaling": (0, 1),
    "net.ipv4.tcp_mtu_probing": (0, 2),
    "net.ipv4.ip_forward": (0, 1),
    "net.ipv4.tcp_fin_timeout": (1, JIFFIES_MAX),
    "net.ipv4.tcp_keepalive_time": (1, JIFFIES_MAX),
    "net.ipv4.tcp_keepalive_intvl": (1, JIFFIES_MAX),
    "net.ipv4.tcp_keepalive_probes": (1, U8_MAX),
    "net.ipv4.tcp_syn_retries": (1, 127),
    "net.ipv4.tcp_synack_retries": (0, U8_MAX),
    "net.ipv4.tcp_max_syn_backlog": (1, INT_MAX),
    "net.ipv4.tcp_max_tw_buckets": (0, INT_MAX),
    "net.ipv4.tcp_notsent_lowat": (0, UINT_MAX),
    "net.ipv4.ip_unprivileged_port_start": (0, 65535),
    "net.core.somaxconn": (1, INT_MAX),
    "net.core.netdev_max_backlog": (1, INT_MAX),
}
# What the kernel itself accepts (EINVAL outside), seen on 6.18; the boot model
# uses it to tell which foreign values an applier's write would lose.
KERNEL_LIMITS = {
    "net.ipv4.tcp_tw_reuse": (0, 2),
    "net.ipv4.tcp_tw_reuse_delay": (1, 60000),
    "net.ipv4.tcp_timestamps": (0, U8_MAX),
    "net.ipv4.tcp_syncookies": (0, U8_MAX),
    "net.ipv4.tcp_slow_start_after_idle": (0, U8_MAX),
    "net.ipv4.tcp_rfc1337": (0, U8_MAX),
    "net.ipv4.tcp_sack": (0, U8_MAX),
    "net.ipv4.tcp_window_scaling": (0, U8_MAX),
    "net.ipv4.tcp_mtu_probing": (0, U8_MAX),
    "net.ipv4.tcp_keepalive_probes": (0, U8_MAX),
    "net.ipv4.tcp_syn_retries": (1, 127),
    "net.ipv4.tcp_synack_retries": (0, U8_MAX),
    "net.ipv4.tcp_fin_timeout": (-JIFFIES_MAX, JIFFIES_MAX),
    "net.ipv4.tcp_keepalive_time": (-JIFFIES_MAX, JIFFIES_MAX),
    "net.ipv4.tcp_keepalive_intvl": (-JIFFIES_MAX, JIFFIES_MAX),
    "net.ipv4.tcp_notsent_lowat": (0, UINT_MAX),
    "net.ipv4.ip_unprivileged_port_start": (0, 65535),
    "net.core.somaxconn": (0, INT_MAX),
}
_KINT_RE = re.compile(r"^(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$")


def parse_kint(token):
    """An integer the way the kernel parses it (proc_get_long: strtoul, base 0), or None.

    '010' is 8, '0x10' is 16, '08' and '+5' are refused.
    """
    m = _KINT_RE.match(token)
    if not m:
        return None
    digits = m.group(2)
    if digits[:2] in ("0x", "0X"):
        v = int(digits[2:], 16)
    elif digits.startswith("0") and len(digits) > 1:
        v = int(digits[1:], 8)
    else:
        v = int(digits)
    return -v if m.group(1) else v


def kernel_value(key, text, runtime=None):
    """The value the kernel would store for `key = text` from a file, or None if it refuses it.

    runtime: the key's running value, to tell integer keys from string keys
    when the key is not in the tables.
    """
    words = str(text).split()
    if not words:
        return None  # an empty value is EINVAL
    ints = [parse_kint(w) for w in words]
    if key in KERNEL_LIMITS or key in INT_RANGES:
        lo, hi = KERNEL_LIMITS.get(key, (-INT_MAX - 1, INT_MAX))
        if ints[0] is None or not lo <= ints[0] <= hi:
            return None
        return str(ints[0])  # a one-value handler stops after the first number
    if key in TRIPLES or key == PORT_RANGE:
        n = 3 if key in TRIPLES else 2
        if len(ints) < n or any(v is None for v in ints[:n]):
            return None
        if key == PORT_RANGE and not (1 <= ints[0] <= ints[1] <= 65535):
            return None
        return " ".join(str(v) for v in ints[:n])
    if key == RESERVED:
        return normalize(key, text)
    if key in STRING_KEYS:
        return " ".join(words)
    numeric_key = runtime is not None and all(parse_kint(w) is not None for w in str(runtime).split()) \
        and str(runtime).split() != []
    if numeric_key:
        if any(v is None for v in ints):
            return None
        return " ".join(str(v) for v in ints)
    return " ".join(words)


# Keys that hold "min default max" in bytes.
TRIPLES = ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem")
# Keys that exist only in the initial network namespace.
GLOBAL_ONLY = frozenset((
    "net.ipv4.tcp_mem", "net.ipv4.tcp_max_orphans", "net.ipv4.udp_mem", "net.core.netdev_max_backlog",
    "net.core.netdev_budget", "net.core.netdev_budget_usecs", "net.core.dev_weight", "net.core.optmem_max",
    "net.core.rmem_default", "net.core.rmem_max", "net.core.wmem_default", "net.core.wmem_max",
    "net.core.busy_poll", "net.core.busy_read", "net.core.default_qdisc", "net.core.message_burst",
    "net.core.message_cost", "net.core.rps_sock_flow_entries", "net.core.bpf_jit_enable",
))

PORT_RANGE = "net.ipv4.ip_local_port_range"
RESERVED = "net.ipv4.ip_local_reserved_ports"
UNPRIV = "net.ipv4.ip_unprivileged_port_start"
RECYCLE = "net.ipv4.tcp_tw_recycle"
REUSE = "net.ipv4.tcp_tw_reuse"
TIMESTAMPS = "net.ipv4.tcp_timestamps"
FIN_TIMEOUT = "net.ipv4.tcp_fin_timeout"

HEADER = (
    "# Managed by Ansible (kerneltune.tcp.tcp_sysctl). Do not edit: changes here are\n"
    "# overwritten on the next run. Put local settings in a file that sorts later\n"
    "# and the audit will report it as an override.\n"
)


class SysctlError(Exception):
    """A refusal or failure; the message is shown to the user as is."""

    def __init__(self, message, findings=None, nat=None):
        super(SysctlError, self).__init__(message)
        self.message = message
        self.findings = findings or []
        # What NAT detection found, when the refusal came after it (tw_recycle_nat shows its evidence).
        self.nat = nat


# --------------------------------------------------------------------------
# Keys and values
# --------------------------------------------------------------------------

class KeyNameError(ValueError):
    """A refused key name; rule is the rule id it breaks (key_name or scope)."""

    def __init__(self, rule, message):
        super(KeyNameError, self).__init__(message)
        self.rule = rule


def parse_key(key):
    """Validate a key name and return (canonical_key, parts) or raise KeyNameError."""
    if not isinstance(key, str) or not key or key != key.strip() or any(c.isspace() for c in key):
        raise KeyNameError("key_name", "%s: not a valid sysctl key name" % _show(key))
    parts = boot.key_to_path_parts(key)
    for p in parts:
        if not p or p in (".", "..") or ".." in p or not _PART_RE.match(p):
            raise KeyNameError("key_name", "%s: not a valid sysctl key name" % _show(key))
    if len(parts) < 3 or tuple(parts[:2]) not in SCOPES:
        raise KeyNameError(
            "scope",
            "%s: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and net.netfilter.* keys are managed" % key)
    return boot.canonical_key(parts), parts


def _show(value):
    return repr(value) if not isinstance(value, str) or not value or value != value.strip() or any(
        c.isspace() for c in value) else value


def value_to_text(value):
    """Render a requested value (int, str, bool or list) as sysctl text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return " ".join(value_to_text(v) for v in value)
    if value is None:
        return ""
    return str(value)


def check_value_chars(key, text):
    if "\n" in text or "\r" in text or "\0" in text or "=" in text:
        raise ValueError("%s: value %r may not contain newlines, NUL or '='" % (key, text))
    if any(ord(c) > 126 or (ord(c) < 32 and c != "\t") for c in text):
        # Python's int() reads fullwidth and other Unicode digits; the kernel reads ASCII only.
        raise ValueError("%s: value %r may contain only printable ASCII characters" % (key, text))


def _port(token):
    # proc_do_large_bitmap reads each number with proc_get_long (base 0): "020000" is 8192.
    v = parse_kint(token)
    if v is None or not 0 <= v <= 65535:
        raise ValueError(token)
    return v


def _expand_ports(text):
    ports = set()
    for chunk in text.replace(" ", "").split(","):
        if not chunk:
            continue
        if "-" in chunk:
            lo, hi = chunk.split("-", 1)
            ports.update(range(_port(lo), _port(hi) + 1))
        else:
            ports.add(_port(chunk))
    return ports


def _compact_ports(ports):
    out = []
    for p in sorted(ports):
        if out and out[-1][1] == p - 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in out)


# Keys whose values are names or hexadecimal masks, never base-0 integers: "010" stays "010".
STRING_KEYS = frozenset((
    "net.ipv4.tcp_congestion_control", "net.ipv4.tcp_allowed_congestion_control",
    "net.ipv4.tcp_available_congestion_control", "net.ipv4.tcp_available_ulp", "net.ipv4.tcp_fastopen_key",
    "net.core.default_qdisc", "net.core.rps_default_mask", "net.core.flow_limit_cpu_bitmap",
    "net.core.netdev_rss_key",
))


def normalize(key, text):
    """Normalised form for comparing a requested value with the kernel's."""
    text = " ".join(str(text).split())
    if key in STRING_KEYS:
        return text
    if key == RESERVED:
        try:
            return _compact_ports(_expand_ports(text))
        except ValueError:
            return text
    return " ".join(str(parse_kint(t)) if parse_kint(t) is not None else t for t in text.split())


def reserved_ports(text):
    try:
        return _expand_ports(text or "")
    except ValueError:
        return set()


# --------------------------------------------------------------------------
# Bounds: {min, max} instead of a value
# --------------------------------------------------------------------------

BOUND_FIELDS = ("min", "max")
PORT_BOUND_FIELDS = ("low_min", "low_max", "high_min", "high_max")
_NOT_ONE_INTEGER = {
    "net.ipv4.tcp_rmem": "three integers (min default max)",
    "net.ipv4.tcp_wmem": "three integers (min default max)",
    RESERVED: "a list of ports",
}


def _bound_int(key, field, value):
    n = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip() and all(" " < c < "\x7f" for c in value.strip()):
        n = parse_kint(value.strip())
    if n is None:
        raise ValueError("%s: bound %s %r is not an integer" % (key, field, value))
    return n


def parse_bounds(key, raw):
    """Validate a bound for KEY: {field: int}; ValueError naming the key, the value and the reason."""
    if key == PORT_RANGE:
        fields, limits = PORT_BOUND_FIELDS, (1, 65535)
    elif key in _NOT_ONE_INTEGER or key in STRING_KEYS:
        raise ValueError("%s: bounds (min, max) apply only to keys that hold one integer (and to the fields of %s); "
                         "this key holds %s" % (key, PORT_RANGE, _NOT_ONE_INTEGER.get(key, "a name or a mask")))
    else:
        fields, limits = BOUND_FIELDS, INT_RANGES.get(key)
    unknown = sorted(str(f) for f in raw if f not in fields)
    if unknown or not raw:
        raise ValueError("%s: %s; a bound is a dict of %s" % (
            key, "unknown field %s" % ", ".join(repr(f) for f in unknown) if unknown else "empty bound",
            ", ".join(fields)))
    b = {}
    for f in fields:
        if f in raw:
            b[f] = _bound_int(key, f, raw[f])
            if limits and not limits[0] <= b[f] <= limits[1]:
                raise ValueError("%s: bound %s %d is outside the key's range %d..%d"
                                 % (key, f, b[f], limits[0], limits[1]))
    pairs = (("min", "max"),) if key != PORT_RANGE else (("low_min", "low_max"), ("high_min", "high_max"),
                                                         ("low_min", "high_max"))
    for lo, hi in pairs:
        if lo in b and hi in b and b[lo] > b[hi]:
            raise ValueError("%s: bound %s %d is above %s %d" % (key, lo, b[lo], hi, b[hi]))
    return b


def describe_bounds(b):
    """'>= 8192', '1024..65535', 'low <= 10240, high >= 60999' for reports and messages."""
    def one(lo, hi, name=""):
        if lo is not None and hi is not None:
            return "%s%d..%d" % (name + " in " if name else "", lo, hi)
        if lo is not None:
            return "%s>= %d" % (name + " " if name else "", lo)
        return "%s<= %d" % (name + " " if name else "", hi)
    if "min" in b or "max" in b:
        return one(b.get("min"), b.get("max"))
    out = []
    for name in ("low", "high"):
        if name + "_min" in b or name + "_max" in b:
            out.append(one(b.get(name + "_min"), b.get(name + "_max"), name))
    return ", ".join(out)


def _clamp(v, lo, hi):
    if lo is not None and v < lo:
        return lo
    if hi is not None and v > hi:
        return hi
    return v


def clamp_value(key, b, text):
    """TEXT moved into bounds B, as text; None when TEXT is not the key's integer(s)."""
    v = [parse_kint(w) for w in str(text or "").split()]
    if key == PORT_RANGE:
        if len(v) != 2 or None in v:
            return None
        return "%d %d" % (_clamp(v[0], b.get("low_min"), b.get("low_max")),
                          _clamp(v[1], b.get("high_min"), b.get("high_max")))
    if len(v) != 1 or v[0] is None:
        return None
    return str(_clamp(v[0], b.get("min"), b.get("max")))


def within(key, b, text):
    """Whether TEXT is within bounds B."""
    if text is None:
        return False
    return clamp_value(key, b, text) == normalize(key, text)


def resolve_bounds(desired, bounds, runtime, presence, findings):
    """Stage 2b: a bounded key's runtime target is its running value moved to the nearest bound."""
    for key, b in sorted(bounds.items()):
        if presence.get(key) != "present":
            continue  # None: check_keys reports the key missing or unreadable; no value goes anywhere
        target = clamp_value(key, b, runtime[key])
        if target is None:
            findings.add("bounds", "error", key,
                         "%s: bounds (min, max) apply only to keys that hold one integer; the running value is %r"
                         % (key, runtime[key]))
            continue
        if key == PORT_RANGE:
            low, high = [int(w) for w in target.split()]
            if low > high:
                findings.add("bounds", "error", key,
                             "%s: bounds %s leave no range from the running value %s (low %d above high %d)"
                             % (key, describe_bounds(b), runtime[key], low, high))
                continue
        desired[key] = target


def _fits(key, text):
    """Whether TEXT is a value the module itself would accept for KEY (its range table, a real port range)."""
    if text is None or kernel_value(key, text) is None:
        return False
    if key in INT_RANGES:
        lo, hi = INT_RANGES[key]
        return lo <= int(text) <= hi
    if key == PORT_RANGE:
        low, high = [int(w) for w in text.split()]
        return 1 <= low <= high <= 65535
    return True


def bounded_file_values(active, bounds, base, old_text, parts_of, records=None):
    """The value our file records for each bounded key.

    In this order, the first that is a value the module accepts: the value
    another file sets at boot, moved into the bounds (a later boot then never
    lowers what another role raised); the value recorded before any of our
    files first changed the key, moved into the bounds (what the host had, at
    the nearest bound: stable from run to run); the value our file already has,
    when it is within the bounds; the runtime target. Other keys keep their value.
    """
    out = dict(active)
    records = records or {}
    ours = {}
    for parts, value, _ignore, _lineno in boot.parse_conf(old_text or ""):
        ours[boot.canonical_key(parts)] = value
    for key, b in bounds.items():
        if out.get(key) is None:
            continue
        other = base.get(parts_of[key])
        candidates = [
            clamp_value(key, b, other[0]) if other and other[0] is not None else None,
            clamp_value(key, b, records[key]) if records.get(key) is not None else None,
            normalize(key, ours[key]) if ours.get(key) is not None and within(key, b, ours[key]) else None,
        ]
        for c in candidates:
            if _fits(key, c):
                out[key] = c
                break
    return out


# --------------------------------------------------------------------------
# The running kernel
# --------------------------------------------------------------------------

def proc_path(parts, proc_root="/proc/sys"):
    return os.path.join(proc_root, *parts)


def read_runtime(parts, proc_root="/proc/sys"):
    """Return (value or None, state) with state in present, missing, unreadable."""
    path = proc_path(parts, proc_root)
    try:
        with open(path, "r") as f:
            return " ".join(f.read().split()), "present"
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None, "missing"
        return None, "unreadable"


def writable(parts, proc_root="/proc/sys"):
    return os.access(proc_path(parts, proc_root), os.W_OK)


def known_keys(proc_root="/proc/sys"):
    """Every sysctl under /proc/sys/net, as dotted keys (for suggestions)."""
    out = []
    base = os.path.join(proc_root, "net")
    for dirpath, dirnames, filenames in os.walk(base):
        rel = os.path.relpath(dirpath, proc_root).split(os.sep)
        # Per-interface trees are large and never what a typo meant.
        if len(rel) >= 3 and rel[2] in ("conf", "neigh") and len(rel) == 3:
            dirnames[:] = [d for d in dirnames if d in ("all", "default")]
        for f in filenames:
            out.append(boot.canonical_key(tuple(rel) + (f,)))
    return out


def suggest(key, candidates):
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    return close[0] if close else None


def write_value(parts, text, proc_root="/proc/sys"):
    path = proc_path(parts, proc_root)
    with open(path, "w") as f:
        f.write(text + "\n")


def apply_runtime(changes, proc_root="/proc/sys", writer=None):
    """Write the running values all or nothing.

    changes: list of (key, parts, old_text, new_text) in write order.
    On the first write the kernel rejects, the values already written are put
    back in reverse order and SysctlError names the key, the value and the
    kernel's error. Returns the list of keys written.
    """
    write = writer or (lambda parts, text: write_value(parts, text, proc_root))
    done = []
    for key, parts, old, new in changes:
        try:
            write(parts, new)
        except OSError as e:
            restore_errors = []
            for rkey, rparts, rold, _rnew in reversed(done):
                try:
                    write(rparts, rold)
                except OSError as re_err:
                    restore_errors.append("%s: %s" % (rkey, re_err.strerror or re_err))
            msg = "%s: the kernel refused value %r: %s" % (key, new, e.strerror or str(e))
            if done:
                msg += "; restored %s" % ", ".join(k for k, _p, _o, _n in done)
            if restore_errors:
                msg += "; could not restore %s" % "; ".join(restore_errors)
            msg += "; the file was not changed"
            raise SysctlError(msg)
        done.append((key, parts, old, new))
    return [k for k, _p, _o, _n in done]


# --------------------------------------------------------------------------
# Listening sockets (for the port range rule)
# --------------------------------------------------------------------------

def listening_ports(proc_root="/proc"):
    """{port: inode} for TCP sockets in LISTEN, IPv4 and IPv6 (/proc/net/tcp*)."""
    ports = {}

    def keep(sock):
        ports.setdefault(sock.sport, sock.inode)

    sockdiag.dump_proc(keep, sockdiag.state_mask(["listen"]), proc_root)
    return ports


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

# The kernel's boot-time defaults the appliers start from.
DEFAULT_PORT_LOW = 32768


def render(values):
    """The managed file: header, then one `key = value` line per key, sorted.

    Both appliers write in file order, starting from the kernel's defaults
    (ip_unprivileged_port_start 1024, ip_local_port_range 32768 60999), and the
    kernel refuses a range whose low port is below ip_unprivileged_port_start.
    So ip_unprivileged_port_start comes before ip_local_port_range unless it
    rises above the default low port, in which case the range goes first.
    """
    keys = sorted(values)
    if PORT_RANGE in keys and UNPRIV in keys:
        keys.remove(UNPRIV)
        start = parse_kint(str(values[UNPRIV]).strip())
        at = keys.index(PORT_RANGE) + (1 if start is not None and start > DEFAULT_PORT_LOW else 0)
        keys.insert(at, UNPRIV)
    lines = [HEADER]
    for key in keys:
        lines.append("%s = %s\n" % (key, values[key]))
    return "".join(lines)


def write_order(changes, desired, runtime):
    """Order runtime writes so the kernel accepts each step.

    The port range must stay at or above ip_unprivileged_port_start: when that
    rises, write the range first; when it falls, write it last.
    """
    changes = sorted(changes, key=lambda c: c[0])
    keys = [c[0] for c in changes]
    if PORT_RANGE in keys and UNPRIV in keys:
        try:
            rising = int(desired[UNPRIV]) > int(runtime.get(UNPRIV) or 0)
        except ValueError:
            rising = True
        pr = [c for c in changes if c[0] == PORT_RANGE]
        rest = [c for c in changes if c[0] != PORT_RANGE]
        if rising:
            changes = pr + rest
        else:
            ui = [i for i, c in enumerate(rest) if c[0] == UNPRIV][0]
            changes = rest[:ui + 1] + pr + rest[ui + 1:]
    return changes


# Directories an administrator's file may go to: read by both appliers and not
# the distribution's (/usr/lib/sysctl.d, /lib/sysctl.d belong to packages).
WRITABLE_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d")
# Every directory either applier reads, in systemd-sysctl's order of precedence.
READ_DIRS = WRITABLE_DIRS + ("/usr/lib/sysctl.d", "/lib/sysctl.d")
DPKG_INFO = "/var/lib/dpkg/info"


UNKNOWN_OWNER = object()


def _dpkg_owner(path, info_dir=DPKG_INFO, budget=5.0):
    """The package whose file list names `path`, None, or UNKNOWN_OWNER when the budget ran out."""
    deadline = time.monotonic() + budget
    try:
        names = sorted(n for n in os.listdir(info_dir) if n.endswith(".list"))
    except OSError:
        return None
    want = path + "\n"
    for n in names:
        if time.monotonic() > deadline:
            return UNKNOWN_OWNER
        try:
            with open(os.path.join(info_dir, n), "r", encoding="utf-8", errors="replace") as f:
                if want in f.read():
                    return n[:-len(".list")]
        except OSError:
            continue
    return None


def check_path(path, root="", info_dir=DPKG_INFO):
    """The managed file's path, normalised; SysctlError naming the path and why when refused."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise SysctlError("path: %s must be an absolute path ending in .conf (the appliers read only *.conf)" % path)
    if ".." in path.split("/"):
        raise SysctlError("path: %s contains '..'; give the file's own path in %s" % (path, ", ".join(WRITABLE_DIRS)))
    norm = os.path.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if not norm.endswith(".conf"):
        raise SysctlError("path: %s must be an absolute path ending in .conf (the appliers read only *.conf)" % path)
    d, name = os.path.split(norm)
    if d not in WRITABLE_DIRS:
        raise SysctlError("path: %s is not in a directory both appliers read and the distribution leaves to the "
                          "administrator (%s)" % (path, ", ".join(WRITABLE_DIRS)))
    if name.startswith("."):
        raise SysctlError("path: %s is a hidden file; systemd-sysctl skips hidden files" % path)
    for p in (d, norm):
        if os.path.islink(root + p) or (p == d and os.path.exists(root + d)
                                        and os.path.realpath(root + d) != os.path.abspath(root + d)):
            raise SysctlError("path: %s is a symlink or lies behind one (%s); refusing to write through it"
                              % (path, p))
    if os.path.exists(root + norm) and not os.path.isfile(root + norm):
        raise SysctlError("path: %s exists and is not a regular file" % path)
    owner = _dpkg_owner(norm, root + info_dir)
    if owner is UNKNOWN_OWNER:
        raise SysctlError("path: %s: could not tell within 5 s whether a package owns it (%s); refusing to write "
                          "it" % (path, info_dir))
    if owner:
        raise SysctlError("path: %s belongs to the package %s; write a file of your own instead" % (path, owner))
    # The appliers read one file per name, the first in this order: ours would hide a later one.
    for other in READ_DIRS[READ_DIRS.index(d) + 1:]:
        hidden = os.path.join(other, name)
        if os.path.exists(root + hidden):
            raise SysctlError("path: %s has the name of %s, which the appliers would then skip (they read one file "
                              "per name, the first of %s); choose another name" % (path, hidden, ", ".join(READ_DIRS)))
    if os.path.isfile(root + norm):
        try:
            with open(root + norm, "r", encoding="utf-8", errors="replace") as f:
                first = f.readline()
        except (IOError, OSError) as e:
            raise SysctlError("path: %s: cannot read it: %s" % (path, e.strerror or e))
        if first and first != HEADER.splitlines(True)[0]:
            raise SysctlError("path: %s exists and was not written by kerneltune.tcp.tcp_sysctl (its first line is "
                              "not the module's header); refusing to replace or remove it. Move its settings into "
                              "settings and delete it yourself, or choose another path" % path)
    return norm


# --------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------

class Findings(object):
    def __init__(self, allow):
        self.allow = set(allow or ())
        self.items = []

    def add(self, rule, severity, key, message):
        if severity == "error" and rule in self.allow and rule not in NOT_ALLOWABLE:
            severity = "warning"
            message = message + " (allowed)"
        self.items.append({"rule": rule, "severity": severity, "key": key, "message": message})
        return severity

    def errors(self):
        return [f for f in self.items if f["severity"] == "error"]


def validate_allow(allow):
    for rule in allow or ():
        if rule in NOT_ALLOWABLE:
            raise SysctlError("allow: rule %s cannot be allowed" % rule)
        if rule not in RULES:
            raise SysctlError("allow: unknown rule %r; known rules: %s" % (rule, ", ".join(sorted(RULES))))


def _int_check(key, text, findings):
    lo, hi = INT_RANGES[key]
    v = parse_kint(text)
    if v is None:
        return findings.add("range", "error", key, "%s: value %r is not an integer" % (key, text))
    if v < lo or v > hi:
        return findings.add("range", "error", key, "%s: value %s is outside %d..%d" % (key, text, lo, hi))
    return None


def _ints(text, n):
    parts = [parse_kint(p) for p in text.split()]
    if len(parts) != n or any(p is None or p < 0 for p in parts):
        return None
    return parts


def check_ranges(desired, runtime, findings):
    """Range checks for known keys: an error finding for each value out of range."""
    bad = set()
    for key, text in desired.items():
        if key in INT_RANGES:
            if _int_check(key, text, findings) == "error":
                bad.add(key)
        elif key in TRIPLES:
            v = _ints(text, 3)
            if v is None:
                sev = findings.add("range", "error", key,
                                   "%s: value %r must be three integers: min default max" % (key, text))
            elif not (1 <= v[0] <= v[1] <= v[2] <= INT_MAX):
                sev = findings.add("range", "error", key,
                                   "%s: value %r must satisfy 1 <= min <= default <= max" % (key, text))
            else:
                sev = None
            if sev == "error":
                bad.add(key)
        elif key == RESERVED:
            try:
                ports = _expand_ports(text)
                if any(p < 1 or p > 65535 for p in ports):
                    raise ValueError
            except ValueError:
                if findings.add("range", "error", key,
                                "%s: value %r must be a comma-separated list of ports and ranges in 1..65535"
                                % (key, text)) == "error":
                    bad.add(key)
    if PORT_RANGE in desired:
        text = desired[PORT_RANGE]
        v = _ints(text, 2)
        msg = None
        unpriv_text = desired.get(UNPRIV, runtime.get(UNPRIV))
        unpriv = parse_kint(unpriv_text) if unpriv_text else None
        if v is None:
            msg = "%s: value %r must be two integers: low high" % (PORT_RANGE, text)
        elif not (1 <= v[0] <= 65535 and 1 <= v[1] <= 65535):
            msg = "%s: value %r is outside 1..65535" % (PORT_RANGE, text)
        elif v[0] > v[1]:
            msg = "%s: value %r has low %d above high %d" % (PORT_RANGE, text, v[0], v[1])
        elif unpriv is not None and v[0] < unpriv:
            msg = "%s: low port %d is below %s (%d); the kernel refuses that" % (PORT_RANGE, v[0], UNPRIV, unpriv)
        if msg and findings.add("range", "error", PORT_RANGE, msg) == "error":
            bad.add(PORT_RANGE)
    elif UNPRIV in desired and UNPRIV not in bad:
        start = parse_kint(desired[UNPRIV])
        rng = _ints(runtime.get(PORT_RANGE) or "", 2)
        if start is not None and rng and start > rng[0]:
            if findings.add("range", "error", UNPRIV,
                            "%s: value %d is above the low port %d of the running %s; the kernel refuses that "
                            "(set %s too)" % (UNPRIV, start, rng[0], PORT_RANGE, PORT_RANGE)) == "error":
                bad.add(UNPRIV)


def port_range_rules(desired, runtime, findings, listeners=None, owners=None):
    text = desired.get(PORT_RANGE)
    v = _ints(text or "", 2)
    if v is None or v[0] > v[1]:
        return
    low, high = v
    reserved = reserved_ports(desired.get(RESERVED, runtime.get(RESERVED)))
    listeners = listening_ports() if listeners is None else listeners
    inside = sorted(p for p in listeners if low <= p <= high and p not in reserved)
    # Only a change that newly exposes a listener is refused; one the running
    # range already covers is warned about (an audit of a default host passes).
    run_range = _ints(runtime.get(PORT_RANGE) or "", 2)
    run_reserved = reserved_ports(runtime.get(RESERVED))
    covered = set(p for p in inside if run_range and run_range[0] <= p <= run_range[1] and p not in run_reserved)
    new = [p for p in inside if p not in covered]
    old = [p for p in inside if p in covered]
    if not inside:
        pass
    else:
        # One /proc scan for the (at most five of each) listeners named.
        found = (owners or sockdiag.owners)([listeners[p] for p in (new[:5] + old[:5])])

        def named(ports):
            names = []
            for p in ports[:5]:
                who = found.get(listeners[p])
                names.append("%d (%s, pid %d)" % (p, who[1], who[0]) if who else "%d" % p)
            more = " and %d more" % (len(ports) - 5) if len(ports) > 5 else ""
            return ", ".join(names) + more

        if new:
            findings.add(
                "port_range_listener", "error", PORT_RANGE,
                "%s: range %d-%d contains port %s that a local service listens on; outgoing connections could take "
                "it while the service restarts. Choose a range without it or add it to %s"
                % (PORT_RANGE, low, high, named(new), RESERVED))
        if old:
            findings.add(
                "port_range_listener", "warning", PORT_RANGE,
                "%s: port %s that a local service listens on is already inside the running range; outgoing "
                "connections could take it while the service restarts. Add it to %s"
                % (PORT_RANGE, named(old), RESERVED))
    overlap = sorted(p for p in reserved if low <= p <= high)
    if overlap:
        findings.add(
            "port_range_reserved", "warning", PORT_RANGE,
            "%s: %d of the ports in %d-%d are reserved by %s (%s); they will not be used for outgoing connections"
            % (PORT_RANGE, len(overlap), low, high, RESERVED, _compact_ports(overlap)))
    if low % 2 == high % 2:
        findings.add(
            "port_range_parity", "warning", PORT_RANGE,
            "%s: %d and %d have the same parity; the kernel prefers different parity (connect() takes ports of "
            "low's parity first, bind() the other), so one half of the range is under-used"
            % (PORT_RANGE, low, high))


def parse_settings(settings, state, findings):
    """Stage 1, names and values, before anything is read: {key: value}, {key: parts}, {key: bounds}.

    A dict value is a bound ({min, max}; {low_min, low_max, high_min, high_max}
    for the port range): its key's value is None until resolve_bounds.

    Values are normalised as the kernel reads them (base 0: "015" is 13), so the
    file, the running value and the next run agree. Raises SysctlError on a refusal.
    """
    desired = {}
    parts_of = {}
    bounds = {}
    if state != "present":
        return desired, parts_of, bounds
    if not settings:
        raise SysctlError("settings: at least one key is required when state=present")
    for raw_key in settings:
        try:
            key, parts = parse_key(raw_key)
        except KeyNameError as e:
            findings.add(e.rule, "error", str(raw_key), str(e))
            continue
        if key in desired:
            raise SysctlError("%s: given twice (as %s and another spelling)" % (key, raw_key))
        raw = settings[raw_key]
        if isinstance(raw, dict):
            try:
                bounds[key] = parse_bounds(key, raw)
            except ValueError as e:
                findings.add("bounds", "error", key, str(e))
                continue
            desired[key] = None  # resolved against the running value (resolve_bounds)
            parts_of[key] = parts
            continue
        text = value_to_text(raw)
        try:
            check_value_chars(key, text)
        except ValueError as e:
            findings.add("value_chars", "error", key, str(e))
            continue
        if not text.strip():
            findings.add("range", "error", key, "%s: value is empty; the kernel refuses an empty value" % key)
            continue
        desired[key] = " ".join(text.split()) if key == RESERVED else normalize(key, text)
        parts_of[key] = parts
    if findings.errors():
        raise SysctlError(_error_summary(findings), findings.items)
    return desired, parts_of, bounds


def read_state(parts_of, proc_root="/proc/sys"):
    """Stage 2, the running kernel: ({key: value}, {key: presence}) for our keys and those the rules need."""
    runtime = {}
    presence = {}
    for key, parts in parts_of.items():
        runtime[key], presence[key] = read_runtime(parts, proc_root)
    for key in (UNPRIV, RESERVED, TIMESTAMPS, PORT_RANGE):
        if key not in runtime:
            runtime[key] = read_runtime(boot.key_to_path_parts(key), proc_root)[0]
    return runtime, presence


def nat_state(nat, nat_result):
    """What NAT detection found, with the declaration; and whether NAT counts as present."""
    nat_info = dict(nat_result or {}, declared={"present": True, "absent": False}.get(nat))
    return nat_info, bool(nat_info.get("detected")) or nat == "present"


def check_keys(desired, parts_of, runtime, presence, skip, nat, nat_info, nat_active, findings,
               proc_root="/proc/sys", kernel_release=None, bounds=None):
    """Stage 3a, per key: keys the kernel lacks, tcp_tw_recycle, read-only keys. Returns {key: skipped status}."""
    skipped = {}
    candidates = None
    bounds = bounds or {}

    def turns_on(key):
        # tcp_tw_recycle set, or kept, non-zero; a bound whose key is missing turns it on when it asks min > 0.
        if desired[key] is None:
            return (bounds.get(key, {}).get("min") or 0) > 0
        return desired[key] != "0"
    for key in sorted(desired):
        b = bounds.get(key)
        if key == RECYCLE and turns_on(key) and nat_active:
            why = "NAT is declared (nat: present)" if nat == "present" else "NAT was detected on this host"
            if nat_info.get("detected") and nat == "present":
                why = "NAT is declared (nat: present) and was detected on this host"
            findings.add("tw_recycle_nat", "error", key,
                         "%s: refused because %s: tcp_tw_recycle drops SYNs from clients that share an address "
                         "behind NAT. Use net.ipv4.tcp_tw_reuse=1 for outgoing connections instead" % (key, why))
            continue
        if presence[key] == "missing":
            if key == RECYCLE:
                findings.add(
                    "tw_recycle_removed", "error", key,
                    "%s: removed in Linux 4.12 and absent on this kernel (%s); it broke clients behind NAT. "
                    "Use net.ipv4.tcp_tw_reuse=1 for outgoing connections instead" % (key, kernel_release or "?"))
            elif key in skip:
                findings.add("missing_key", "info", key,
                             "%s: not available on this kernel (%s); skipped as listed in skip_missing"
                             % (key, kernel_release or "?"))
            elif key in GLOBAL_ONLY:
                findings.add("global_key", "error", key,
                             "%s: not available in this network namespace: it is a global key, settable only "
                             "from the host's initial network namespace" % key)
            else:
                if candidates is None:
                    candidates = known_keys(proc_root)
                hint = suggest(key, candidates)
                findings.add("unknown_key", "error", key,
                             "%s: no such key on this kernel (%s)%s" % (
                                 key, kernel_release or "?", "; did you mean %s?" % hint if hint else ""))
            skipped[key] = "unsupported"
            continue
        if presence[key] == "unreadable" or not writable(parts_of[key], proc_root):
            if b is not None:
                differs = not within(key, b, runtime[key])
            else:
                differs = normalize(key, runtime[key] or "") != normalize(key, desired[key])
            if differs:
                shown = runtime[key] if runtime[key] is not None else "unreadable"
                wanted = describe_bounds(b) if b is not None else desired[key]
                if os.geteuid() != 0:
                    why = "%s: not writable by uid %d (running value %s, wanted %s); run as root (become: true)" % (
                        key, os.geteuid(), shown, wanted)
                else:
                    why = "%s: read-only here (running value %s, wanted %s)" % (key, shown, wanted)
                findings.add("read_only", "error", key, why)
            skipped[key] = "read_only"
        if key == RECYCLE and turns_on(key) and not nat_active:
            findings.add("tw_recycle_no_nat", "warning", key,
                         "%s: no NAT found on this host, but clients behind NAT cannot be seen from here; "
                         "tcp_tw_recycle will drop their SYNs" % key)
    return skipped


def check_values(active, runtime, findings, listeners=None, owners=None):
    """Stage 3b, the values together: ranges, the port range and its listeners, reuse without timestamps."""
    check_ranges(active, runtime, findings)
    port_range_rules(active, runtime, findings, listeners, owners)
    reuse = active.get(REUSE)
    ts = active.get(TIMESTAMPS, runtime.get(TIMESTAMPS))
    if reuse == "1" and ts == "0":
        where = "in settings" if TIMESTAMPS in active else "running"
        findings.add("tw_reuse_timestamps", "warning", REUSE,
                     "%s=1 has no effect with net.ipv4.tcp_timestamps=0 (%s): reuse needs timestamps on the old "
                     "connection" % (REUSE, where))
    if FIN_TIMEOUT in active:
        findings.add("fin_timeout_scope", "info", FIN_TIMEOUT,
                     "%s bounds orphaned FIN_WAIT2 sockets only; it does not shorten TIME_WAIT, which is fixed "
                     "at 60 s in the kernel" % FIN_TIMEOUT)


def read_file(path, boot_root=""):
    """Our file's text, or None when it does not exist."""
    try:
        with open(boot_root + path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def render_file(active, skipped):
    """Stage 4a, the file's new text.

    Values are already whitespace-normalised; numbers are written as the kernel
    shows them. The reserved-ports list is kept as the user wrote it. A key
    allowed to stay read-only (allow: [read_only]) stays out of the file too.
    """
    file_values = {k: v if k == RESERVED else normalize(k, v) for k, v in active.items()
                   if skipped.get(k) != "read_only"}
    return render(file_values)


class BootModel(object):
    """Stage 4b, what each applier sets at boot for our keys, before and after our file changes."""

    def __init__(self, path, parts_of, runtime, applier=None, applier_versions=None, boot_root=""):
        self.path = path
        self.boot_root = boot_root
        self.which = applier or boot.detect_applier(boot_root)
        self.other = boot.PROCPS if self.which == boot.SYSTEMD else boot.SYSTEMD
        versions = dict(applier_versions) if applier_versions is not None else {
            a: boot.detect_version(a, boot_root) for a in (boot.SYSTEMD, boot.PROCPS)}
        self.versions = {a: tuple(versions.get(a) or boot.DEFAULT_VERSION[a]) for a in (boot.SYSTEMD, boot.PROCPS)}
        wanted = set(parts_of.values())
        key_of = {p: k for k, p in parts_of.items()}

        def valid(parts, value):
            key = key_of.get(parts) or boot.canonical_key(parts)
            return kernel_value(key, value, runtime.get(key))

        def model(app, overlay=None):
            return boot.effective(app, boot_root, overlay, self.versions[app], wanted, valid)

        self._model = model
        self._base = None
        self.before = model(self.which)

    @property
    def base(self):
        """Without our file: what the other files set (bounds start from it; restore returns to it).

        Read on first use: a run without bounds that keeps its file needs no third pass over the files.
        """
        if self._base is None:
            self._base = self._model(self.which, {self.path: None})
        return self._base

    def finish(self, new_text):
        """The models once our file has NEW_TEXT (None: removed)."""
        path, boot_root = self.path, self.boot_root
        self.after = self.base if new_text is None else self._model(self.which, {path: new_text})
        self.after_other = self._model(self.other, {path: new_text})
        self.mask = boot.masked_by(self.which, path, boot_root, {path: new_text}, self.versions[self.which])
        self.in_dirs = boot.reads_directory(self.which, path, self.versions[self.which], boot_root)
        self.in_dirs_other = boot.reads_directory(self.other, path, self.versions[self.other], boot_root)
        return self

    def file_findings(self, path, state, findings):
        if state != "present":
            return
        if not self.in_dirs:
            findings.add("not_persistent", "warning", None,
                         "%s is not read by %s at boot: these settings will not survive a reboot" % (path, self.which))
        elif self.mask:
            findings.add("masked", "warning", None,
                         "%s is masked by %s for %s: none of its settings apply at boot" % (path, self.mask, self.which))

    def name(self, applier=None):
        return version_name(applier or self.which, self.versions)


def plan_keys(desired, parts_of, runtime, skipped, boot_model, path, state, apply, findings, bounds=None):
    """Stage 5, per key: the entry (status, drift, sources) and the runtime writes, in write order."""
    m = boot_model
    bounds = bounds or {}
    entries = []
    runtime_changes = []
    for key in sorted(desired):
        parts = parts_of[key]
        want = desired[key]
        b = bounds.get(key)

        def meets(value):
            # A bounded key is ok anywhere within its bounds; any other key at its value.
            if b is not None:
                return within(key, b, value)
            return value is not None and normalize(key, value) == normalize(key, want)
        cur = runtime.get(key)
        e_after = m.after.get(parts)
        e_before = m.before.get(parts)
        e_other = m.after_other.get(parts)
        status = skipped.get(key)
        # As the kernel would show it once applied (base-0 integers, whitespace).
        # A value of None with a source: that file makes the applier leave the
        # key alone (systemd: a "-key" line or a value the kernel refuses).
        persisted = e_after[0] if e_after else None
        source = e_after[1] if e_after else None
        runtime_drift = not meets(cur)
        persisted_drift = e_before is None or not meets(e_before[0])
        overridden_by = None
        if status != "unsupported" and state == "present" and e_after and not meets(e_after[0]) \
                and (e_after[1] != path or m.mask):
            overridden_by = e_after[1]
        if status is None:
            if overridden_by:
                status = "overridden"
            elif runtime_drift or persisted_drift:
                status = "drift"
            else:
                status = "ok"
        if overridden_by and e_after[0] is None:
            findings.add("overridden", "warning", key,
                         "%s: %s makes %s leave the key unset at boot after %s (%s); the running value is left "
                         "alone" % (key, overridden_by, m.which, path, want))
        elif overridden_by:
            findings.add("overridden", "warning", key,
                         "%s: %s sets %s after %s (%s); it wins at boot, so the running value is left alone"
                         % (key, overridden_by, e_after[0], path, describe_bounds(b) if b else want))
        mine = e_after[0] if e_after else None
        theirs = e_other[0] if e_other else None
        if status not in ("unsupported", "read_only") and state == "present" and (m.in_dirs or m.in_dirs_other) \
                and mine != theirs:
            findings.add("applier_disagree", "warning", key,
                         "%s: %s would %s but %s would %s"
                         % (key, m.name(), _sets(e_after), m.name(m.other), _sets(e_other)))
        if apply and state == "present" and status == "drift" and runtime_drift and want is not None:
            runtime_changes.append((key, parts, cur, want))
        entries.append({
            "key": key,
            "desired": want,
            "runtime": cur,
            "persisted": persisted,
            "source": source,
            "persisted_before": e_before[0] if e_before else None,
            "source_before": e_before[1] if e_before else None,
            "runtime_drift": runtime_drift,
            "persisted_drift": persisted_drift,
            "overridden_by": overridden_by,
            "status": status,
            "bounds": dict(b, text=describe_bounds(b)) if b else None,
        })
    return entries, write_order(runtime_changes, desired, runtime)


def plan(settings, path, state="present", apply=True, nat="auto", skip_missing=(), allow=(),
         applier=None, proc_root="/proc/sys", boot_root="", nat_result=None, listeners=None, owners=None,
         kernel_release=None, applier_versions=None, nat_detect=None, restore="none", records=None,
         inherited=None):
    """Everything a run would do, stage by stage. Raises SysctlError on a refusal.

    restore (state=absent only): "boot" sets each key our file set (or that
    RECORDS, this file's records, name) to what the other files set at boot,
    else to its recorded value; "none" leaves the running values.
    inherited: {key: value before any of our files first changed it}, this
    file's records over those of the other managed files (first_records).

    Returns a dict: entries (per key), findings, new_text, old_text,
    file_changed, runtime_changes (ordered), restore, nat, applier, kernel.
    """
    validate_allow(allow)
    findings = Findings(allow)
    skip = set()
    for k in skip_missing or ():
        try:
            skip.add(parse_key(k)[0])
        except KeyNameError as e:
            raise SysctlError("skip_missing: %s" % e)
    if state == "absent":
        return plan_removal(path, restore, records or {}, findings, applier, proc_root, boot_root,
                            applier_versions, inherited)
    desired, parts_of, bounds = parse_settings(settings, state, findings)
    runtime, presence = read_state(parts_of, proc_root)
    resolve_bounds(desired, bounds, runtime, presence, findings)
    if findings.errors():
        raise SysctlError(_error_summary(findings), findings.items)
    if nat_result is None and nat_detect is not None:
        nat_result = nat_detect()  # only once the names and values are valid
    nat_info, nat_active = nat_state(nat, nat_result)
    skipped = check_keys(desired, parts_of, runtime, presence, skip, nat, nat_info, nat_active, findings,
                         proc_root, kernel_release, bounds)
    # A bounded key with no running value (missing, unreadable) has no value to check or write.
    active = {k: v for k, v in desired.items() if skipped.get(k) != "unsupported" and v is not None}
    check_values(active, runtime, findings, listeners, owners)
    if findings.errors():
        raise SysctlError(_error_summary(findings), findings.items, nat=nat_info)
    model = BootModel(path, parts_of, runtime, applier, applier_versions, boot_root)
    old_text = read_file(path, boot_root)
    new_text = render_file(bounded_file_values(active, bounds, model.base if bounds else {}, old_text, parts_of,
                                               inherited if inherited is not None else records), skipped)
    model.finish(new_text)
    model.file_findings(path, state, findings)
    entries, runtime_changes = plan_keys(desired, parts_of, runtime, skipped, model, path, state, apply, findings,
                                         bounds)
    return {
        "entries": entries,
        "findings": findings.items,
        "old_text": old_text,
        "new_text": new_text,
        "file_changed": old_text != new_text,
        "runtime_changes": runtime_changes,
        "restore": [],
        "nat": nat_info,
        "applier": model.name(),
        "applier_name": model.which,
        "applier_version": ".".join(str(v) for v in model.versions[model.which]),
    }


def file_keys(text):
    """{key: parts} of the plain (not glob, not "-key") assignments in a file's text."""
    out = {}
    for parts, value, _ignore, _lineno in boot.parse_conf(text or ""):
        if value is not None and not boot.is_glob(parts):
            out[boot.canonical_key(parts)] = parts
    return out


def plan_removal(path, restore, records, findings, applier=None, proc_root="/proc/sys", boot_root="",
                 applier_versions=None, inherited=None):
    """state=absent: remove our file and, with restore=boot, plan the running values back."""
    old_text = read_file(path, boot_root)
    parts_of = file_keys(old_text)
    own = list(records)  # keys this file recorded, in the file or not any more
    values = dict(inherited or {})
    values.update(records)
    records = values
    for key in own:
        try:
            k, parts = parse_key(key)
        except KeyNameError:
            continue  # a record the state file should not hold; never written to the kernel
        parts_of.setdefault(k, parts)
    runtime, presence = read_state(parts_of, proc_root)
    model = BootModel(path, parts_of, runtime, applier, applier_versions, boot_root).finish(None)
    plan_out, targets, changes = [], {}, []
    if restore == "boot":
        for key in sorted(parts_of):
            parts = parts_of[key]
            cur = runtime.get(key)
            if presence[key] != "present":
                plan_out.append({"key": key, "runtime": None, "value": None, "source": None})
                continue
            other = model.base.get(parts)
            if other and other[0] is not None:
                target, source = other[0], other[1]
            elif records.get(key) is not None and kernel_value(key, records[key], cur) is not None:
                target, source = kernel_value(key, records[key], cur), "recorded"
            elif records.get(key) is not None:
                target, source = None, None
                findings.add("restore_unknown", "warning", key,
                             "%s: the recorded value %r is not one the kernel takes; the running value %s is left "
                             "as it is" % (key, records[key], cur))
            else:
                target, source = None, None
                findings.add("restore_unknown", "warning", key,
                             "%s: no other file sets it and no running value was recorded before "
                             "kerneltune.tcp.tcp_sysctl first set it; the running value %s is left as it is"
                             % (key, cur))
            plan_out.append({"key": key, "runtime": cur, "value": target, "source": source})
            if target is None or normalize(key, target) == normalize(key, cur):
                continue
            if not writable(parts, proc_root):
                if os.geteuid() != 0:
                    why = "%s: not writable by uid %d (running value %s, to restore %s); run as root (become: " \
                          "true)" % (key, os.geteuid(), cur, target)
                else:
                    why = "%s: read-only here (running value %s, to restore %s); nothing was changed. With " \
                          "restore=none the file is removed and the running values are left" % (key, cur, target)
                findings.add("read_only", "error", key, why)
                continue
            targets[key] = target
            changes.append((key, parts, cur, target))
    if findings.errors():
        raise SysctlError(_error_summary(findings), findings.items)
    return {
        "entries": [],
        "findings": findings.items,
        "old_text": old_text,
        "new_text": None,
        "file_changed": old_text is not None,
        "runtime_changes": write_order(changes, targets, runtime),
        "restore": plan_out,
        "nat": None,
        "applier": model.name(),
        "applier_name": model.which,
        "applier_version": ".".join(str(v) for v in model.versions[model.which]),
    }


# --------------------------------------------------------------------------
# The state file: running values from before tcp_sysctl first set a key
# --------------------------------------------------------------------------

STATE_FILE = "/var/lib/kerneltune/tcp_sysctl.json"
STATE_SCHEMA = 1


def load_state(state_file=STATE_FILE):
    """{managed path: {key: value}}; {} when there is no state file. SysctlError when it cannot be trusted."""
    try:
        with open(state_file, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (IOError, OSError) as e:
        if e.errno == errno.ENOENT:
            return {}
        raise SysctlError("%s: cannot read the state file: %s" % (state_file, e.strerror or e))
    except ValueError as e:
        raise SysctlError("%s: the state file is not valid JSON (%s); move it away to start over (its recorded "
                          "values are then lost)" % (state_file, e))
    files = data.get("files") if isinstance(data, dict) else None

    def record_ok(r):
        return isinstance(r, dict) and isinstance(r.get("value"), str) and r["value"].strip() != ""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(data, dict) or isinstance(version, bool) or not isinstance(version, int) \
            or version != STATE_SCHEMA or not isinstance(files, dict) \
            or not all(isinstance(keys, dict) and all(record_ok(r) for r in keys.values()) for keys in files.values()):
        raise SysctlError("%s: the state file is not schema_version %d of kerneltune.tcp.tcp_sysctl; move it away "
                          "to start over (its recorded values are then lost)" % (state_file, STATE_SCHEMA))
    return dict((p, dict((k, r["value"]) for k, r in keys.items())) for p, keys in files.items())


def save_state(state, state_file=STATE_FILE):
    """Write {managed path: {key: value}} atomically, root-only (0600 in a 0700 directory)."""
    directory = os.path.dirname(state_file)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = {"schema_version": STATE_SCHEMA, "files": dict(
        (p, dict((k, {"value": v, "recorded": stamp}) for k, v in sorted(keys.items())))
        for p, keys in sorted(state.items()) if keys)}
    fd, tmp = tempfile.mkstemp(prefix=".tcp_sysctl-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.rename(tmp, state_file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def first_records(state, path):
    """{key: value} for PATH's plan: its own records, else those another managed file took first.

    The value a key had before any of our files changed it is the one to go
    back to: a second file that sets the key later finds our first file's value
    running, not the host's own.
    """
    out = {}
    for other, keys in sorted(state.items()):
        if other != path:
            for k, v in keys.items():
                out.setdefault(k, v)
    out.update(state.get(path, {}))
    return out


def records_after(records, result, inherited=None):
    """The records of one managed file after a run of state=present that writes.

    A key gets a record the first time this module changes its running value
    (the value before) or first puts it in the file (the running value then),
    unless another managed file recorded it first (INHERITED: that value, the
    host's own). Records stay until the file is removed (state=absent): a key
    that leaves the file keeps its running value, and its record, so a later
    state=absent, or the key coming back, still knows the value before.
    """
    inherited = inherited or {}
    old_keys = file_keys(result["old_text"])
    new_keys = file_keys(result["new_text"])
    out = dict(records)

    def take(key, value):
        if key not in out and value is not None:
            out[key] = inherited.get(key, value)
    for key, _parts, old, _new in result["runtime_changes"]:
        take(key, old)
    for e in result["entries"]:
        if e["key"] in new_keys and e["key"] not in old_keys:
            take(e["key"], e["runtime"])
    return out


def version_name(applier, versions):
    return boot.version_text(applier, versions.get(applier))


def _sets(entry):
    if not entry:
        return "not set it"
    if entry[0] is None:
        return "leave it unset (%s)" % entry[1]
    return "set %s (from %s)" % (entry[0], entry[1])


def _error_summary(findings):
    errs = findings.errors()
    if len(errs) == 1:
        return errs[0]["message"]
    return "%d settings refused: %s" % (len(errs), "; ".join(f["message"] for f in errs))
