# SPDX-License-Identifier: GPL-3.0-or-later
"""The running kernel through a temporary /proc/sys: writes all or nothing.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import errno
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys


# ---------------------------------------------------------------- runtime writes

def test_apply_runtime_writes(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15, "net.ipv4.ip_local_port_range": "10240 65535"})
    procsys.apply_runtime(r["runtime_changes"], proc_root=env.proc)
    assert env.get("net/ipv4/tcp_fin_timeout") == "15"
    assert env.get("net/ipv4/ip_local_port_range") == "10240 65535"


def test_apply_runtime_rolls_back(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15, "net.ipv4.tcp_keepalive_time": 600,
                  "net.ipv4.tcp_tw_reuse": 1})

    def writer(parts, text):
        if parts[-1] == "tcp_tw_reuse":
            raise OSError(errno.EINVAL, "Invalid argument")
        procsys.write_value(parts, text, env.proc)

    with pytest.raises(procsys.RuntimeWriteError) as e:
        procsys.apply_runtime(r["runtime_changes"], writer=writer)
    assert e.value.message == (
        "net.ipv4.tcp_tw_reuse: the kernel refused value '1': Invalid argument; restored "
        "net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_time; the file was not changed")
    assert env.get("net/ipv4/tcp_fin_timeout") == "60"
    assert env.get("net/ipv4/tcp_keepalive_time") == "7200"


def test_writable_by_root_is_judged_from_the_mode(env):
    # A check-mode run without root cannot try a write: it asks whether root could (owner write bit, not read-only).
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import errors
    parts = ("net", "ipv4", "tcp_fin_timeout")
    os.chmod(procsys.proc_path(parts, env.proc), 0o644)
    assert procsys.writable_by_root(parts, env.proc) is True
    assert env.plan({"net.ipv4.tcp_fin_timeout": 15}, writable_as_root=True)["runtime_changes"] == [
        ("net.ipv4.tcp_fin_timeout", parts, "60", "15")]
    os.chmod(procsys.proc_path(parts, env.proc), 0o444)
    assert procsys.writable_by_root(parts, env.proc) is False
    assert procsys.writable_by_root(("net", "ipv4", "no_such_key"), env.proc) is False
    with pytest.raises(errors.SysctlError) as e:
        env.plan({"net.ipv4.tcp_fin_timeout": 15}, writable_as_root=True)
    assert e.value.message == "net.ipv4.tcp_fin_timeout: read-only here (running value 60, wanted 15)"
