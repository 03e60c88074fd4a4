# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl's safety rules: their ids, the findings they add, and `allow`.

RULES and NOT_ALLOWABLE name every rule (docs/rules.md has a row for each).
check_keys judges each key (missing, global, read-only, tcp_tw_recycle and
NAT); check_values judges the values together (ranges, the port range and its
listeners, reuse without timestamps, fin_timeout's scope).

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import collections
import os

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import bounds as bounds_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import portlist
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.errors import SysctlError

# Rules that can never be turned into warnings with `allow`.
NOT_ALLOWABLE = frozenset(("key_name", "scope", "value_chars", "tw_recycle_nat", "bounds", "bounds_conflict"))
RULES = frozenset((
    "key_name", "scope", "value_chars", "tw_recycle_nat", "tw_recycle_removed", "tw_recycle_no_nat",
    "unknown_key", "global_key", "missing_key", "read_only", "range", "port_range_listener",
    "port_range_reserved", "port_range_parity", "tw_reuse_timestamps", "fin_timeout_scope",
    "overridden", "masked", "not_persistent", "applier_disagree", "boot_unknown", "bounds", "restore_unknown",
    "bounds_conflict",
    "records_ignored", "records_missing",
))

PROC = "/proc"
# Listeners named in a port range message, of each kind (new, already covered).
NAMED_LISTENERS = 5

# What NAT detection found, with the declaration; active: NAT counts as present.
NatState = collections.namedtuple("NatState", "info active")


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


def error_summary(findings):
    errs = findings.errors()
    if len(errs) == 1:
        return errs[0]["message"]
    return "%d settings refused: %s" % (len(errs), "; ".join(f["message"] for f in errs))


def nat_state(nat, nat_result):
    """What NAT detection found, with the declaration; and whether NAT counts as present."""
    nat_info = dict(nat_result or {}, declared={"present": True, "absent": False}.get(nat))
    return NatState(nat_info, bool(nat_info.get("detected")) or nat == "present")


# --------------------------------------------------------------------------
# Per key
# --------------------------------------------------------------------------

def check_keys(req, wanted, running, nat, findings):
    """Stage 3a, per key: keys the kernel lacks, tcp_tw_recycle, read-only keys. Returns {key: skipped status}.

    req: the request (skip_missing as canonical keys, nat, proc_root, kernel_release); wanted: (desired,
    parts_of, bounds); running: (runtime, presence); nat: NatState.
    """
    desired, bounds = wanted.desired, wanted.bounds
    _runtime, presence = running
    skipped = {}
    suggestions = {}
    for key in sorted(desired):
        turns_on = key == keys.RECYCLE and _turns_on(desired[key], bounds.get(key))
        if turns_on and nat.active:
            _recycle_nat(key, req.nat, nat.info, findings)
            continue
        if presence[key] == "missing":
            _missing(req, key, findings, suggestions)
            skipped[key] = "unsupported"
            continue
        if _read_only(req, key, wanted, running, findings):
            skipped[key] = "read_only"
        if turns_on:
            findings.add("tw_recycle_no_nat", "warning", key,
                         "%s: no NAT found on this host, but clients behind NAT cannot be seen from here; "
                         "tcp_tw_recycle will drop their SYNs" % key)
    return skipped


def _turns_on(value, bound):
    # tcp_tw_recycle set, or kept, non-zero; a bound whose key is missing turns it on when it asks min > 0.
    if value is None:
        return ((bound or {}).get("min") or 0) > 0
    return value != "0"


def _recycle_nat(key, nat, nat_info, findings):
    why = "NAT is declared (nat: present)" if nat == "present" else "NAT was detected on this host"
    if nat_info.get("detected") and nat == "present":
        why = "NAT is declared (nat: present) and was detected on this host"
    findings.add("tw_recycle_nat", "error", key,
                 "%s: refused because %s: tcp_tw_recycle drops SYNs from clients that share an address "
                 "behind NAT. Use net.ipv4.tcp_tw_reuse=1 for outgoing connections instead" % (key, why))


def _missing(req, key, findings, suggestions):
    """The finding for a key this kernel (or namespace) lacks."""
    release = req.kernel_release or "?"
    if key == keys.RECYCLE:
        findings.add("tw_recycle_removed", "error", key,
                     "%s: removed in Linux 4.12 and absent on this kernel (%s); it broke clients behind NAT. "
                     "Use net.ipv4.tcp_tw_reuse=1 for outgoing connections instead" % (key, release))
    elif key in req.skip_missing:
        findings.add("missing_key", "info", key,
                     "%s: not available on this kernel (%s); skipped as listed in skip_missing" % (key, release))
    elif keys.is_global(key):
        findings.add("global_key", "error", key,
                     "%s: not available in this network namespace: it is a global key, settable only "
                     "from the host's initial network namespace" % key)
    else:
        if "known" not in suggestions:
            suggestions["known"] = [keys.canonical_key(p) for p in procsys.known_keys(req.proc_root)]
        hint = procsys.suggest(key, suggestions["known"])
        findings.add("unknown_key", "error", key,
                     "%s: no such key on this kernel (%s)%s" % (
                         key, release, "; did you mean %s?" % hint if hint else ""))


def writable(req, parts):
    """Whether the running value can be written; a check-mode run without root judges as root would."""
    if getattr(req, "writable_as_root", False):
        return procsys.writable_by_root(parts, req.proc_root)
    return procsys.writable(parts, req.proc_root)


def _read_only(req, key, wanted, running, findings):
    """Whether KEY cannot be written here; an error finding when its value would have to change."""
    desired, parts_of, bounds = wanted.desired, wanted.parts_of, wanted.bounds
    runtime, presence = running
    if presence[key] != "unreadable" and writable(req, parts_of[key]):
        return False
    if presence[key] == "unreadable" and getattr(req, "writable_as_root", False):
        findings.add("read_only", "info", key, "%s: not readable by uid %d; this check-mode run cannot judge it"
                     % (key, os.geteuid()))
        return True
    b = bounds.get(key)
    if b is not None:
        differs = not bounds_lib.within(key, b, runtime[key])
    else:
        differs = values.normalize(key, runtime[key] or "") != values.normalize(key, desired[key])
    if differs:
        shown = runtime[key] if runtime[key] is not None else "unreadable"
        wanted_text = bounds_lib.describe_bounds(b) if b is not None else desired[key]
        if os.geteuid() != 0:
            why = "%s: not writable by uid %d (running value %s, wanted %s); run as root (become: true)" % (
                key, os.geteuid(), shown, wanted_text)
        else:
            why = "%s: read-only here (running value %s, wanted %s)" % (key, shown, wanted_text)
        findings.add("read_only", "error", key, why)
    return True


# --------------------------------------------------------------------------
# The values together
# --------------------------------------------------------------------------

def check_values(active, runtime, findings, listeners=None, owner_lookup=None):
    """Stage 3b, the values together: ranges, the port range and its listeners, reuse without timestamps."""
    check_ranges(active, runtime, findings)
    port_range_rules(active, runtime, findings, listeners, owner_lookup)
    reuse = active.get(keys.REUSE)
    ts = active.get(keys.TIMESTAMPS, runtime.get(keys.TIMESTAMPS))
    if reuse == "1" and ts == "0":
        where = "in settings" if keys.TIMESTAMPS in active else "running"
        findings.add("tw_reuse_timestamps", "warning", keys.REUSE,
                     "%s=1 has no effect with net.ipv4.tcp_timestamps=0 (%s): reuse needs timestamps on the old "
                     "connection" % (keys.REUSE, where))
    if keys.FIN_TIMEOUT in active:
        findings.add("fin_timeout_scope", "info", keys.FIN_TIMEOUT,
                     "%s bounds orphaned FIN_WAIT2 sockets only; it does not shorten TIME_WAIT, which is fixed "
                     "at 60 s in the kernel" % keys.FIN_TIMEOUT)


def _int_check(key, text, findings):
    lo, hi = keys.int_range(key)
    v = values.parse_kint(text)
    if v is None:
        return findings.add("range", "error", key, "%s: value %r is not an integer" % (key, text))
    if v < lo or v > hi:
        return findings.add("range", "error", key, "%s: value %s is outside %d..%d" % (key, text, lo, hi))
    return None


def _ints(text, n):
    parts = [values.parse_kint(p) for p in text.split()]
    if len(parts) != n or any(p is None or p < 0 for p in parts):
        return None
    return parts


def _triple_check(key, text, findings):
    v = _ints(text, 3)
    if v is None:
        return findings.add("range", "error", key, "%s: value %r must be three integers: min default max" % (key, text))
    if not (1 <= v[0] <= v[1] <= v[2] <= keys.INT_MAX):
        return findings.add("range", "error", key,
                            "%s: value %r must satisfy 1 <= min <= default <= max" % (key, text))
    return None


def _port_list_check(key, text, findings):
    try:
        ports = portlist.expand(text)
        if any(p < 1 or p > keys.PORT_MAX for p in ports):
            raise ValueError
    except ValueError:
        return findings.add("range", "error", key,
                            "%s: value %r must be a comma-separated list of ports and ranges in 1..65535" % (key, text))
    return None


_CHECKS = {keys.INT: _int_check, keys.TRIPLE: _triple_check, keys.PORT_LIST: _port_list_check}


def check_ranges(desired, runtime, findings):
    """Range checks for known keys: an error finding for each value out of range."""
    bad = set()
    for key, text in desired.items():
        check = _CHECKS.get(keys.kind(key))
        if check and check(key, text, findings) == "error":
            bad.add(key)
    if keys.PORT_RANGE in desired:
        _check_port_range(desired, runtime, findings)
    elif keys.UNPRIV in desired and keys.UNPRIV not in bad:
        start = values.parse_kint(desired[keys.UNPRIV])
        rng = _ints(runtime.get(keys.PORT_RANGE) or "", 2)
        if start is not None and rng and start > rng[0]:
            findings.add("range", "error", keys.UNPRIV,
                         "%s: value %d is above the low port %d of the running %s; the kernel refuses that "
                         "(set %s too)" % (keys.UNPRIV, start, rng[0], keys.PORT_RANGE, keys.PORT_RANGE))


def _check_port_range(desired, runtime, findings):
    text = desired[keys.PORT_RANGE]
    v = _ints(text, 2)
    msg = None
    unpriv_text = desired.get(keys.UNPRIV, runtime.get(keys.UNPRIV))
    unpriv = values.parse_kint(unpriv_text) if unpriv_text else None
    if v is None:
        msg = "%s: value %r must be two integers: low high" % (keys.PORT_RANGE, text)
    elif not (1 <= v[0] <= keys.PORT_MAX and 1 <= v[1] <= keys.PORT_MAX):
        msg = "%s: value %r is outside 1..65535" % (keys.PORT_RANGE, text)
    elif v[0] > v[1]:
        msg = "%s: value %r has low %d above high %d" % (keys.PORT_RANGE, text, v[0], v[1])
    elif unpriv is not None and v[0] < unpriv:
        msg = "%s: low port %d is below %s (%d); the kernel refuses that" % (
            keys.PORT_RANGE, v[0], keys.UNPRIV, unpriv)
    if msg:
        findings.add("range", "error", keys.PORT_RANGE, msg)


def port_range_rules(desired, runtime, findings, listeners=None, owner_lookup=None):
    """Listeners the new range would expose, reserved ports inside it, and the parity of its ends."""
    v = _ints(desired.get(keys.PORT_RANGE) or "", 2)
    if v is None or v[0] > v[1]:
        return
    low, high = v
    reserved = portlist.reserved_ports(desired.get(keys.RESERVED, runtime.get(keys.RESERVED)))
    if listeners is None:
        # Imported here: only a run that sets the port range reads the sockets (module_utils are compiled on each run).
        from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import procnet
        listeners = procnet.listening_ports(PROC)
    inside = sorted(p for p in listeners if low <= p <= high and p not in reserved)
    if inside:
        new, old = _newly_covered(inside, runtime)
        # One /proc scan for the (at most five of each) listeners named.
        found = (owner_lookup or _owners)([listeners[p] for p in (new[:NAMED_LISTENERS] + old[:NAMED_LISTENERS])])
        if new:
            findings.add(
                "port_range_listener", "error", keys.PORT_RANGE,
                "%s: range %d-%d contains port %s that a local service listens on; outgoing connections could take "
                "it while the service restarts. Choose a range without it or add it to %s"
                % (keys.PORT_RANGE, low, high, _named(new, listeners, found), keys.RESERVED))
        if old:
            findings.add(
                "port_range_listener", "warning", keys.PORT_RANGE,
                "%s: port %s that a local service listens on is already inside the running range; outgoing "
                "connections could take it while the service restarts. Add it to %s"
                % (keys.PORT_RANGE, _named(old, listeners, found), keys.RESERVED))
    overlap = sorted(p for p in reserved if low <= p <= high)
    if overlap:
        findings.add(
            "port_range_reserved", "warning", keys.PORT_RANGE,
            "%s: %d of the ports in %d-%d are reserved by %s (%s); they will not be used for outgoing connections"
            % (keys.PORT_RANGE, len(overlap), low, high, keys.RESERVED, portlist.compact(overlap)))
    if low % 2 == high % 2:
        findings.add(
            "port_range_parity", "warning", keys.PORT_RANGE,
            "%s: %d and %d have the same parity; the kernel prefers different parity (connect() takes ports of "
            "low's parity first, bind() the other), so one half of the range is under-used"
            % (keys.PORT_RANGE, low, high))


def _owners(inodes):
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners
    return owners.owners(inodes, PROC)


def _newly_covered(inside, runtime):
    """(listeners the running range does not cover yet, those it covers already).

    Only a change that newly exposes a listener is refused; one the running
    range already covers is warned about (an audit of a default host passes).
    """
    run_range = _ints(runtime.get(keys.PORT_RANGE) or "", 2)
    run_reserved = portlist.reserved_ports(runtime.get(keys.RESERVED))
    covered = set(p for p in inside if run_range and run_range[0] <= p <= run_range[1] and p not in run_reserved)
    return [p for p in inside if p not in covered], [p for p in inside if p in covered]


def _named(ports, listeners, found):
    names = []
    for p in ports[:NAMED_LISTENERS]:
        who = found.get(listeners[p])
        names.append("%d (%s, pid %d)" % (p, who[1], who[0]) if who else "%d" % p)
    more = " and %d more" % (len(ports) - NAMED_LISTENERS) if len(ports) > NAMED_LISTENERS else ""
    return ", ".join(names) + more
