# SPDX-License-Identifier: GPL-3.0-or-later
"""The managed file's text and the order of the runtime writes.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render

from .sysctl_env import PATH


# ---------------------------------------------------------------- file, drift, precedence

def test_render_is_sorted_with_header(env):
    r = env.plan({"net.ipv4.tcp_tw_reuse": 1, "net.core.somaxconn": 8192, "net.ipv4.ip_local_port_range": [10240, 65535]})
    assert r["new_text"] == render.HEADER + (
        "net.core.somaxconn = 8192\n"
        "net.ipv4.ip_local_port_range = 10240 65535\n"
        "net.ipv4.tcp_tw_reuse = 1\n")


# ---------------------------------------------------------------- issue 11: numbers and order

@pytest.mark.parametrize("start,first", [(800, "net.ipv4.ip_unprivileged_port_start"),
                                         (40000, "net.ipv4.ip_local_port_range")])
def test_render_orders_unprivileged_start_for_boot(start, first):
    # At boot both appliers write in file order from the kernel defaults (1024, 32768 60999).
    text = render.render({"net.ipv4.ip_local_port_range": "40000 65001", "net.ipv4.ip_unprivileged_port_start": start,
                          "net.ipv4.tcp_fin_timeout": "15"})
    keys = [line.split(" = ")[0] for line in text.splitlines() if " = " in line and not line.startswith("#")]
    assert keys[keys.index(first) + 1] in ("net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_port_range")
    assert keys.index(first) < keys.index(({"net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_port_range"}
                                           - {first}).pop())


def test_lower_unprivileged_start_allows_lower_range(env):
    r = env.plan({"net.ipv4.ip_local_port_range": "900 65001", "net.ipv4.ip_unprivileged_port_start": 800})
    # Lowering: the unprivileged start goes first, then the range.
    assert [c[0] for c in r["runtime_changes"]] == [
        "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_port_range"]


def test_raising_unprivileged_start_writes_range_first(env):
    r = env.plan({"net.ipv4.ip_local_port_range": "5001 65000", "net.ipv4.ip_unprivileged_port_start": 5000})
    assert [c[0] for c in r["runtime_changes"]] == [
        "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start"]


def test_stage_render_file_and_the_old_text(env):
    env.conf(PATH, "old\n")
    assert render.read_file(PATH, env.root) == "old\n"
    assert render.read_file("/etc/sysctl.d/none.conf", env.root) is None
    assert render.render_file({"net.ipv4.tcp_fin_timeout": "0x10"}, {}) == \
        render.HEADER + "net.ipv4.tcp_fin_timeout = 16\n"
    assert render.render_file({"net.ipv4.tcp_fin_timeout": "15"}, {"net.ipv4.tcp_fin_timeout": "read_only"}) == \
        render.HEADER
