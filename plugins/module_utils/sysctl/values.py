# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sysctl values as text: what the user asked, what the kernel stores, and comparing the two.

value_to_text renders a requested value; check_value_chars refuses text that
would break the file; normalize gives the form to compare; kernel_value is the
value the kernel would store from a file, or None when it refuses it.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import portlist

parse_kint = portlist.parse_kint
# The highest printable ASCII character ('~'); the kernel reads ASCII only.
ASCII_LAST = 126
# The first printable ASCII character (' '); below it only the tab is allowed.
ASCII_FIRST = 32


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
    """ValueError naming the key when TEXT holds what the file or the kernel cannot take."""
    if "\n" in text or "\r" in text or "\0" in text or "=" in text:
        raise ValueError("%s: value %r may not contain newlines, NUL or '='" % (key, text))
    if any(ord(c) > ASCII_LAST or (ord(c) < ASCII_FIRST and c != "\t") for c in text):
        # Python's int() reads fullwidth and other Unicode digits; the kernel reads ASCII only.
        raise ValueError("%s: value %r may contain only printable ASCII characters" % (key, text))


def normalize(key, text):
    """Normalised form for comparing a requested value with the kernel's."""
    text = " ".join(str(text).split())
    kind = keys.kind(key)
    if kind == keys.STRING:
        return text
    if kind == keys.PORT_LIST:
        try:
            return portlist.compact(portlist.expand(text))
        except ValueError:
            return text
    return " ".join(str(parse_kint(t)) if parse_kint(t) is not None else t for t in text.split())


def kernel_value(key, text, runtime=None):
    """The value the kernel would store for `key = text` from a file, or None if it refuses it.

    runtime: the key's running value, to tell integer keys from string keys
    when the key is not in the table.
    """
    words = str(text).split()
    if not words:
        return None  # an empty value is EINVAL
    ints = [parse_kint(w) for w in words]
    kind = keys.kind(key)
    if kind == keys.INT:
        lo, hi = keys.kernel_range(key)
        if ints[0] is None or not lo <= ints[0] <= hi:
            return None
        return str(ints[0])  # a one-value handler stops after the first number
    if kind in (keys.TRIPLE, keys.PORTS):
        n = 3 if kind == keys.TRIPLE else 2
        if len(ints) < n or any(v is None for v in ints[:n]):
            return None
        if kind == keys.PORTS and not (1 <= ints[0] <= ints[1] <= keys.PORT_MAX):
            return None
        return " ".join(str(v) for v in ints[:n])
    if kind == keys.PORT_LIST:
        return normalize(key, text)
    if kind == keys.STRING:
        return " ".join(words)
    numeric_key = runtime is not None and all(parse_kint(w) is not None for w in str(runtime).split()) \
        and str(runtime).split() != []
    if numeric_key:
        if any(v is None for v in ints):
            return None
        return " ".join(str(v) for v in ints)
    return " ".join(words)
