# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bounds: {min, max} (or the port range's four fields) asked for instead of a value.

parse_bounds validates one; describe_bounds shows it; clamp_value and within
place a value against it; merge_bounds intersects the bounds every kerneltune
file holds on a key; bound_value is the one rule for the value a bounded key
gets (in our file and in the running kernel).

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values

BOUND_FIELDS = ("min", "max")
PORT_BOUND_FIELDS = ("low_min", "low_max", "high_min", "high_max")
# The port range's fields hold ports 1..65535 (ipv4_local_port_range, net/ipv4/sysctl_net_ipv4.c).
PORT_LIMITS = (1, keys.PORT_MAX)


def _bound_int(key, field, value):
    n = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip() and all(" " < c < "\x7f" for c in value.strip()):
        n = values.parse_kint(value.strip())
    if n is None:
        raise ValueError("%s: bound %s %r is not an integer" % (key, field, value))
    return n


def parse_bounds(key, raw):
    """Validate a bound for KEY: {field: int}; ValueError naming the key, the value and the reason."""
    kind = keys.kind(key)
    if kind == keys.PORTS:
        fields, limits = PORT_BOUND_FIELDS, PORT_LIMITS
    elif kind in keys.HOLDS:
        raise ValueError("%s: bounds (min, max) apply only to keys that hold one integer (and to the fields of %s); "
                         "this key holds %s" % (key, keys.PORT_RANGE, keys.HOLDS[kind]))
    else:
        fields, limits = BOUND_FIELDS, keys.int_range(key)
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
    pairs = (("min", "max"),) if kind != keys.PORTS else (("low_min", "low_max"), ("high_min", "high_max"),
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


def clamp(v, lo, hi):
    """V moved into lo..hi (either may be None: no limit that side)."""
    if lo is not None and v < lo:
        return lo
    if hi is not None and v > hi:
        return hi
    return v


def clamp_value(key, b, text):
    """TEXT moved into bounds B, as text; None when TEXT is not the key's integer(s)."""
    v = [values.parse_kint(w) for w in str(text or "").split()]
    if key == keys.PORT_RANGE:
        if len(v) != 2 or None in v:
            return None
        return "%d %d" % (clamp(v[0], b.get("low_min"), b.get("low_max")),
                          clamp(v[1], b.get("high_min"), b.get("high_max")))
    if len(v) != 1 or v[0] is None:
        return None
    return str(clamp(v[0], b.get("min"), b.get("max")))


def within(key, b, text):
    """Whether TEXT is within bounds B."""
    if text is None:
        return False
    return clamp_value(key, b, text) == values.normalize(key, text)


def _pairs(key):
    """The (lower, upper) fields that must not cross."""
    if key == keys.PORT_RANGE:
        return (("low_min", "low_max"), ("high_min", "high_max"), ("low_min", "high_max"))
    return (("min", "max"),)


def merge_bounds(key, ours, others=()):
    """The intersection of every kerneltune bound on KEY: OURS (path, bound) and OTHERS [(path, bound), ...].

    ValueError naming the key, the two files and their bounds when it is empty.
    """
    merged, src = {}, {}
    for path, b in [ours] + sorted(others):
        for f, v in b.items():
            if f not in merged or (v > merged[f] if f.endswith("min") else v < merged[f]):
                merged[f], src[f] = v, (path, b)
    for lo, hi in _pairs(key):
        if lo in merged and hi in merged and merged[lo] > merged[hi]:
            (p_lo, b_lo), (p_hi, b_hi) = src[lo], src[hi]
            raise ValueError("%s: no value meets every kerneltune.tcp bound: %s in %s and %s in %s; change or "
                             "remove one of them" % (key, describe_bounds(b_lo), p_lo, describe_bounds(b_hi), p_hi))
    return merged


def _fits(key, text):
    """Whether TEXT is a value the module itself would accept for KEY (its range table, a real port range)."""
    if text is None or values.kernel_value(key, text) is None:
        return False
    accept = keys.int_range(key)
    if accept:
        return accept[0] <= int(text) <= accept[1]
    if key == keys.PORT_RANGE:
        low, high = [int(w) for w in text.split()]
        return 1 <= low <= high <= keys.PORT_MAX
    return True


def bound_value(key, b, starts, ours=None, running=None):
    """The one value of a bounded KEY, for our file and the running kernel.

    STARTS, in order (None where unknown): the value at boot without any
    kerneltune file, the kernel's default, the value recorded before the first
    change. The first that is a value the module accepts, moved into the bounds
    B (the intersection of every kerneltune bound, merge_bounds); else our
    file's value OURS when it is within B; else the RUNNING value moved into B.
    None when none of them is.
    """
    for start in starts:
        if start is not None and _fits(key, clamp_value(key, b, start)):
            return clamp_value(key, b, start)
    if ours is not None and within(key, b, ours) and _fits(key, values.normalize(key, ours)):
        return values.normalize(key, ours)
    target = clamp_value(key, b, running) if running is not None else None
    return target if _fits(key, target) else None
