# SPDX-License-Identifier: GPL-3.0-or-later
"""Port-list text, read in base 0 as the kernel reads it.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import portlist


# ---------------------------------------------------------------- operator attacks (review of 2026-12-01)

@pytest.mark.parametrize("text,ports", [
    ("020000", {8192}),            # base 0, as proc_get_long reads it: octal
    ("0x1F90", {8080}),
    ("8080, 010-012", {8080, 8, 9, 10}),
])
def test_reserved_ports_are_read_in_base_0(text, ports):
    assert portlist.reserved_ports(text) == ports
