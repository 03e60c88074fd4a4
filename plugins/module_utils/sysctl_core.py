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
import os
import re

from ansible_collections.kerneltune.tcp.plugins.module_utils import sockdiag
from ansible_collections.kerneltune.tcp.plugins.module_utils import sysctl_boot as boot

SCOPES = (("net", "ipv4"), ("net", "ipv6"), ("net", "core"), ("net", "netfilter"))
_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:@+.-]*$")

# Rules that can never be turned into warnings with `allow`.
NOT_ALLOWABLE = frozenset(("key_name", "scope", "value_chars", "tw_recycle_nat"))
RULES = frozenset((
    "key_name", "scope", "value_chars", "tw_recycle_nat", "tw_recycle_removed", "tw_recycle_no_nat",
    "unknown_key", "global_key", "missing_key", "read_only", "range", "port_range_listener",
    "port_range_reserved", "port_range_parity", "tw_reuse_timestamps", "fin_timeout_scope",
    "overridden", "masked", "not_persistent", "applier_disagree",
))

INT_MAX = 2147483647
# Inclusive ranges for keys that hold one integer. Sources: the kernel's
# sysctl tables (extra1/extra2 bounds) and, for keepalive, the limits the
# kernel applies to the same values set with setsockopt().
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
    "net.ipv4.tcp_fin_timeout": (1, INT_MAX),
    "net.ipv4.tcp_keepalive_time": (1, 32767),
    "net.ipv4.tcp_keepalive_intvl": (1, 32767),
    "net.ipv4.tcp_keepalive_probes": (1, 127),
    "net.ipv4.tcp_syn_retries": (1, 127),
    "net.ipv4.tcp_synack_retries": (0, 255),
    "net.ipv4.tcp_max_syn_backlog": (1, INT_MAX),
    "net.ipv4.tcp_max_tw_buckets": (0, INT_MAX),
    "net.ipv4.tcp_notsent_lowat": (1, 4294967295),
    "net.ipv4.ip_unprivileged_port_start": (0, 65535),
    "net.core.somaxconn": (1, INT_MAX),
    "net.core.netdev_max_backlog": (1, INT_MAX),
}
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

    def __init__(self, message, findings=None):
        super(SysctlError, self).__init__(message)
        self.message = message
        self.findings = findings or []


class KeyNameError(ValueError):
    """A key that cannot be managed; ``rule`` says which rule refused it."""

    def __init__(self, rule, message):
        super(KeyNameError, self).__init__(message)
        self.rule = rule


# --------------------------------------------------------------------------
# Keys and values
# --------------------------------------------------------------------------

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


def _expand_ports(text):
    ports = set()
    for chunk in text.replace(" ", "").split(","):
        if not chunk:
            continue
        if "-" in chunk:
            lo, hi = chunk.split("-", 1)
            ports.update(range(int(lo), int(hi) + 1))
        else:
            ports.add(int(chunk))
    return ports


def _compact_ports(ports):
    out = []
    for p in sorted(ports):
        if out and out[-1][1] == p - 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in out)


def normalize(key, text):
    """Normalised form for comparing a requested value with the kernel's."""
    text = " ".join(str(text).split())
    if key == RESERVED:
        try:
            return _compact_ports(_expand_ports(text))
        except ValueError:
            return text
    return " ".join(str(int(t)) if re.match(r"^-?\d+$", t) else t for t in text.split())


def reserved_ports(text):
    try:
        return _expand_ports(text or "")
    except ValueError:
        return set()


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

def render(values):
    """The managed file: header, then one `key = value` line per key, sorted."""
    lines = [HEADER]
    for key in sorted(values):
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
    if not re.match(r"^-?\d+$", text):
        return findings.add("range", "error", key, "%s: value %r is not an integer" % (key, text))
    v = int(text)
    if v < lo or v > hi:
        return findings.add("range", "error", key, "%s: value %s is outside %d..%d" % (key, text, lo, hi))
    return None


def _ints(text, n):
    parts = text.split()
    if len(parts) != n or not all(re.match(r"^\d+$", p) for p in parts):
        return None
    return [int(p) for p in parts]


def check_ranges(desired, runtime, findings):
    """Range checks for known keys; each refusal is a `range` finding."""
    for key, text in desired.items():
        if key in INT_RANGES:
            _int_check(key, text, findings)
        elif key in TRIPLES:
            v = _ints(text, 3)
            if v is None:
                findings.add("range", "error", key, "%s: value %r must be three integers: min default max" % (key, text))
            elif not (1 <= v[0] <= v[1] <= v[2] <= INT_MAX):
                findings.add("range", "error", key, "%s: value %r must satisfy 1 <= min <= default <= max" % (key, text))
        elif key == RESERVED:
            try:
                ports = _expand_ports(text)
                if any(p < 1 or p > 65535 for p in ports):
                    raise ValueError
            except ValueError:
                findings.add("range", "error", key,
                             "%s: value %r must be a comma-separated list of ports and ranges in 1..65535" % (key, text))
    if PORT_RANGE in desired:
        text = desired[PORT_RANGE]
        v = _ints(text, 2)
        msg = None
        unpriv_text = desired.get(UNPRIV, runtime.get(UNPRIV))
        unpriv = int(unpriv_text) if unpriv_text and re.match(r"^\d+$", unpriv_text) else None
        if v is None:
            msg = "%s: value %r must be two integers: low high" % (PORT_RANGE, text)
        elif not (1 <= v[0] <= 65535 and 1 <= v[1] <= 65535):
            msg = "%s: value %r is outside 1..65535" % (PORT_RANGE, text)
        elif v[0] > v[1]:
            msg = "%s: value %r has low %d above high %d" % (PORT_RANGE, text, v[0], v[1])
        elif unpriv is not None and v[0] < unpriv:
            msg = "%s: low port %d is below %s (%d); the kernel refuses that" % (PORT_RANGE, v[0], UNPRIV, unpriv)
        if msg:
            findings.add("range", "error", PORT_RANGE, msg)


def port_range_rules(desired, runtime, findings, listeners=None, owners=None):
    text = desired.get(PORT_RANGE)
    v = _ints(text or "", 2)
    if v is None or v[0] > v[1]:
        return
    low, high = v
    reserved = reserved_ports(desired.get(RESERVED, runtime.get(RESERVED)))
    listeners = listening_ports() if listeners is None else listeners
    inside = sorted(p for p in listeners if low <= p <= high and p not in reserved)
    if inside:
        # One /proc scan for the (at most five) listeners named.
        found = (owners or sockdiag.owners)([listeners[p] for p in inside[:5]])
        names = []
        for p in inside[:5]:
            who = found.get(listeners[p])
            names.append("%d (%s, pid %d)" % (p, who[1], who[0]) if who else "%d" % p)
        more = " and %d more" % (len(inside) - 5) if len(inside) > 5 else ""
        findings.add(
            "port_range_listener", "error", PORT_RANGE,
            "%s: range %d-%d contains port %s%s that a local service listens on; outgoing connections could take "
            "it while the service restarts. Choose a range without it or add it to %s"
            % (PORT_RANGE, low, high, ", ".join(names), more, RESERVED))
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


def parse_settings(settings, state, skip_missing, findings):
    """Stage 1, names and values: refuse bad input before reading anything.

    Returns (desired, parts_of, skip): canonical key -> value text (whitespace
    folded), canonical key -> /proc/sys path parts, and the canonical keys of
    skip_missing. Raises SysctlError on any refusal.
    """
    skip = set()
    for k in skip_missing or ():
        try:
            skip.add(parse_key(k)[0])
        except KeyNameError as e:
            raise SysctlError("skip_missing: %s" % e)
    desired = {}
    parts_of = {}
    if state != "present":
        return desired, parts_of, skip
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
        text = value_to_text(settings[raw_key])
        try:
            check_value_chars(key, text)
        except ValueError as e:
            findings.add("value_chars", "error", key, str(e))
            continue
        desired[key] = " ".join(text.split())
        parts_of[key] = parts
    if findings.errors():
        raise SysctlError(_error_summary(findings), findings.items)
    return desired, parts_of, skip


def read_state(parts_of, proc_root="/proc/sys"):
    """Stage 2, the running kernel: (runtime, presence) for the managed keys
    and for the keys the rules consult (unprivileged port start, reserved
    ports, timestamps)."""
    runtime = {}
    presence = {}
    for key, parts in parts_of.items():
        runtime[key], presence[key] = read_runtime(parts, proc_root)
    for key in (UNPRIV, RESERVED, TIMESTAMPS):
        if key not in runtime:
            runtime[key] = read_runtime(boot.key_to_path_parts(key), proc_root)[0]
    return runtime, presence


def check_rules(desired, parts_of, runtime, presence, skip, nat, nat_info, findings, proc_root="/proc/sys",
                kernel_release=None, listeners=None, owners=None):
    """Stage 3, the safety rules: keys the kernel lacks, tcp_tw_recycle and
    NAT, read-only keys, ranges, the port range. Returns (active, skipped):
    the keys that go to the file, and why others do not. Raises SysctlError
    when a rule refuses."""
    nat_active = bool(nat_info.get("detected")) or nat == "present"
    skipped = {}
    candidates = None
    for key in sorted(desired):
        if key == RECYCLE and desired[key] != "0" and nat_active:
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
            if normalize(key, runtime[key] or "") != normalize(key, desired[key]):
                findings.add("read_only", "error", key,
                             "%s: read-only here (running value %s, wanted %s)" % (
                                 key, runtime[key] if runtime[key] is not None else "unreadable", desired[key]))
            skipped[key] = "read_only"
        if key == RECYCLE and desired[key] != "0" and not nat_active:
            findings.add("tw_recycle_no_nat", "warning", key,
                         "%s: no NAT found on this host, but clients behind NAT cannot be seen from here; "
                         "tcp_tw_recycle will drop their SYNs" % key)

    active = {k: v for k, v in desired.items() if skipped.get(k) != "unsupported"}
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
    if findings.errors():
        raise SysctlError(_error_summary(findings), findings.items)
    return active, skipped


def render_file(active, path, state, boot_root=""):
    """Stage 4, the file: (old_text, new_text). Values are already
    whitespace-normalised; numbers are written as the kernel shows them; the
    reserved-ports list is kept as the user wrote it."""
    file_values = {k: v if k == RESERVED else normalize(k, v) for k, v in active.items()}
    try:
        with open(boot_root + path, "r", encoding="utf-8", errors="replace") as f:
            old_text = f.read()
    except OSError:
        old_text = None
    return old_text, render(file_values) if state == "present" else None


def model_boot(path, new_text, state, findings, applier=None, boot_root=""):
    """Stage 5, the boot-time model: what the host's applier (and the other
    one) sets from the files before and after this run, and whether our file
    is read at all."""
    which = applier or boot.detect_applier(boot_root)
    other = boot.PROCPS if which == boot.SYSTEMD else boot.SYSTEMD
    model = {
        "which": which,
        "other": other,
        "before": boot.effective(which, boot_root),
        "after": boot.effective(which, boot_root, {path: new_text}),
        "after_other": boot.effective(other, boot_root, {path: new_text}),
        "mask": boot.masked_by(which, path, boot_root, {path: new_text}),
        "in_dirs": boot.reads_directory(which, path),
    }
    if state == "present":
        if not model["in_dirs"]:
            findings.add("not_persistent", "warning", None,
                         "%s is not read by %s at boot: these settings will not survive a reboot" % (path, which))
        elif model["mask"]:
            findings.add("masked", "warning", None,
                         "%s is masked by %s for %s: none of its settings apply at boot" % (path, model["mask"], which))
    return model


def plan_keys(desired, parts_of, runtime, skipped, model, path, state, apply, findings):
    """Stage 6, per key: status, drift, overrides; and the runtime writes, in
    the order the kernel accepts them. Returns (entries, runtime_changes)."""
    which, other, mask, in_dirs = model["which"], model["other"], model["mask"], model["in_dirs"]
    entries = []
    runtime_changes = []
    for key in sorted(desired):
        parts = parts_of[key]
        want = desired[key]
        cur = runtime.get(key)
        e_after = model["after"].get(parts)
        e_before = model["before"].get(parts)
        e_other = model["after_other"].get(parts)
        status = skipped.get(key)
        runtime_drift = cur is None or normalize(key, cur) != normalize(key, want)
        persisted_drift = e_before is None or normalize(key, e_before[0]) != normalize(key, want)
        overridden_by = None
        if status != "unsupported" and state == "present" and e_after and (e_after[1] != path or mask) \
                and normalize(key, e_after[0]) != normalize(key, want):
            overridden_by = e_after[1]
        if status is None:
            if overridden_by:
                status = "overridden"
            elif runtime_drift or persisted_drift:
                status = "drift"
            else:
                status = "ok"
        if overridden_by:
            findings.add("overridden", "warning", key,
                         "%s: %s sets %s after %s (%s); it wins at boot, so the running value is left alone"
                         % (key, overridden_by, e_after[0], path, want))
        if status not in ("unsupported", "read_only") and e_after and e_other and in_dirs \
                and normalize(key, e_after[0]) != normalize(key, e_other[0]):
            findings.add("applier_disagree", "warning", key,
                         "%s: %s would set %s (from %s) but %s would set %s (from %s)"
                         % (key, which, e_after[0], e_after[1], other, e_other[0], e_other[1]))
        if apply and state == "present" and status == "drift" and runtime_drift:
            runtime_changes.append((key, parts, cur, want))
        entries.append({
            "key": key,
            "desired": want,
            "runtime": cur,
            # As the kernel would show it once applied (whitespace, leading zeros).
            "persisted": normalize(key, e_after[0]) if e_after else None,
            "source": e_after[1] if e_after else None,
            "persisted_before": normalize(key, e_before[0]) if e_before else None,
            "source_before": e_before[1] if e_before else None,
            "runtime_drift": runtime_drift,
            "persisted_drift": persisted_drift,
            "overridden_by": overridden_by,
            "status": status,
        })
    return entries, write_order(runtime_changes, desired, runtime)


def plan(settings, path, state="present", apply=True, nat="auto", skip_missing=(), allow=(),
         applier=None, proc_root="/proc/sys", boot_root="", nat_result=None, listeners=None, owners=None,
         kernel_release=None):
    """Everything a run would do, stage by stage. Raises SysctlError on a refusal.

    Returns a dict: entries (per key), findings, old_text, new_text,
    file_changed, runtime_changes (ordered), nat, applier.
    """
    validate_allow(allow)
    findings = Findings(allow)
    desired, parts_of, skip = parse_settings(settings, state, skip_missing, findings)
    runtime, presence = read_state(parts_of, proc_root)
    nat_info = dict(nat_result or {}, declared={"present": True, "absent": False}.get(nat))
    active, skipped = check_rules(desired, parts_of, runtime, presence, skip, nat, nat_info, findings, proc_root,
                                  kernel_release, listeners, owners)
    old_text, new_text = render_file(active, path, state, boot_root)
    model = model_boot(path, new_text, state, findings, applier, boot_root)
    entries, runtime_changes = plan_keys(desired, parts_of, runtime, skipped, model, path, state, apply, findings)
    return {
        "entries": entries,
        "findings": findings.items,
        "old_text": old_text,
        "new_text": new_text,
        "file_changed": old_text != new_text,
        "runtime_changes": runtime_changes,
        "nat": nat_info,
        "applier": model["which"],
    }


def _error_summary(findings):
    errs = findings.errors()
    if len(errs) == 1:
        return errs[0]["message"]
    return "%d settings refused: %s" % (len(errs), "; ".join(f["message"] for f in errs))
