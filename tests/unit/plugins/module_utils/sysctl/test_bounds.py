# SPDX-License-Identifier: GPL-3.0-or-later
"""Bounds ({min, max}) instead of a value.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render

from .sysctl_env import PATH, refused, by_key, SOMAXCONN, RANGE


# ---------------------------------------------------------------- bad bounds: refused, nothing read or written

@pytest.mark.parametrize("settings, message", [
    ({"net.ipv4.tcp_rmem": {"min": 4096}},
     "net.ipv4.tcp_rmem: bounds (min, max) apply only to keys that hold one integer (and to the fields of "
     "net.ipv4.ip_local_port_range); this key holds three integers (min default max)"),
    ({"net.ipv4.tcp_congestion_control": {"min": 1}},
     "net.ipv4.tcp_congestion_control: bounds (min, max) apply only to keys that hold one integer (and to the "
     "fields of net.ipv4.ip_local_port_range); this key holds a name or a mask"),
    ({SOMAXCONN: {"min": 9000, "max": 100}}, "net.core.somaxconn: bound min 9000 is above max 100"),
    ({SOMAXCONN: {"min": 0}}, "net.core.somaxconn: bound min 0 is outside the key's range 1..2147483647"),
    ({"net.ipv4.tcp_tw_reuse": {"max": 3}}, "net.ipv4.tcp_tw_reuse: bound max 3 is outside the key's range 0..2"),
    ({SOMAXCONN: {"minimum": 1}}, "net.core.somaxconn: unknown field 'minimum'; a bound is a dict of min, max"),
    ({SOMAXCONN: {}}, "net.core.somaxconn: empty bound; a bound is a dict of min, max"),
    ({SOMAXCONN: {"min": "lots"}}, "net.core.somaxconn: bound min 'lots' is not an integer"),
    ({SOMAXCONN: {"min": True}}, "net.core.somaxconn: bound min True is not an integer"),
    ({RANGE: {"min": 1024}},
     "net.ipv4.ip_local_port_range: unknown field 'min'; a bound is a dict of low_min, low_max, high_min, high_max"),
    ({RANGE: {"low_min": 40000, "high_max": 30000}},
     "net.ipv4.ip_local_port_range: bound low_min 40000 is above high_max 30000"),
    ({RANGE: {"high_min": 70000}},
     "net.ipv4.ip_local_port_range: bound high_min 70000 is outside the key's range 1..65535"),
])
def test_bad_bounds_are_refused_by_name(env, settings, message):
    e = refused(env, settings)
    assert e.message == message
    assert [f["rule"] for f in e.findings] == ["bounds"]
    assert not os.path.exists(env.root + PATH)


def test_bounds_cannot_be_allowed(env):
    e = refused(env, {SOMAXCONN: 1}, allow=["bounds"])
    assert e.message == "allow: rule bounds cannot be allowed"


def test_bounds_on_a_key_whose_running_value_is_not_one_integer(env):
    env.set("net/ipv4/udp_mem", "1\t2\t3")
    e = refused(env, {"net.ipv4.udp_mem": {"min": 2}})
    assert e.message == ("net.ipv4.udp_mem: bounds (min, max) apply only to keys that hold one integer; the running "
                         "value is '1 2 3'")


def test_bounds_leaving_no_range_are_refused(env):
    e = refused(env, {RANGE: {"low_min": 61000}})
    assert e.message == ("net.ipv4.ip_local_port_range: bounds low >= 61000 leave no range from the running value "
                         "32768 60999 (low 61000 above high 60999)")


# ---------------------------------------------------------------- bounds: raise or lower only what is out of them

def test_below_the_bound_is_raised_to_it(env):
    r = env.plan({SOMAXCONN: {"min": 8192}})
    e = by_key(r)[SOMAXCONN]
    assert (e["desired"], e["status"], e["bounds"]) == ("8192", "drift", {"min": 8192, "text": ">= 8192"})
    assert [(k, old, new) for k, _p, old, new in r["runtime_changes"]] == [(SOMAXCONN, "4096", "8192")]
    assert r["new_text"] == render.HEADER + "# kerneltune.tcp bound: net.core.somaxconn min=8192\n" \
                                            "net.core.somaxconn = 8192\n"


def test_above_the_bound_the_running_value_stays_and_the_file_holds_the_boot_value(env):
    env.set("net/core/somaxconn", "65535")
    r = env.plan({SOMAXCONN: {"min": 8192}})
    e = by_key(r)[SOMAXCONN]
    # Within the bound: the running value is left. At boot the key would get the kernel default (4096, as in a
    # fresh network namespace), moved into the bound: that is what the file holds.
    assert e["desired"] == "8192" and e["runtime_drift"] is False and r["runtime_changes"] == []
    assert (e["kernel_default"], e["kernel_default_source"]) == ("4096", "fresh network namespace")
    assert e["status"] == "drift" and r["new_text"] == render.HEADER + (
        "# kerneltune.tcp bound: net.core.somaxconn min=8192\nnet.core.somaxconn = 8192\n")
    env.conf(PATH, r["new_text"])
    again = by_key(env.plan({SOMAXCONN: {"min": 8192}}))[SOMAXCONN]
    assert (again["status"], again["persisted"]) == ("ok", "8192")


def test_max_lowers_and_both_bounds(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": {"min": 10, "max": 30}, "net.ipv4.tcp_keepalive_time": {"max": 600}})
    assert [(k, old, new) for k, _p, old, new in r["runtime_changes"]] == [
        ("net.ipv4.tcp_fin_timeout", "60", "30"), ("net.ipv4.tcp_keepalive_time", "7200", "600")]
    assert by_key(r)["net.ipv4.tcp_fin_timeout"]["bounds"]["text"] == "10..30"


def test_port_range_fields(env):
    r = env.plan({RANGE: {"low_max": 10240, "high_min": 65000}})
    assert [(k, old, new) for k, _p, old, new in r["runtime_changes"]] == [(RANGE, "32768 60999", "10240 65000")]
    assert by_key(r)[RANGE]["bounds"]["text"] == "low <= 10240, high >= 65000"
    env.set("net/ipv4/ip_local_port_range", "1024\t65535")
    r = env.plan({RANGE: {"low_max": 10240, "high_min": 65000}})
    assert r["runtime_changes"] == [] and by_key(r)[RANGE]["runtime_drift"] is False


def test_another_files_higher_value_is_kept_in_ours(env):
    # Another role's file raised the key; the running value is out of date.
    env.conf("/etc/sysctl.d/60-other-role.conf", "net.core.somaxconn = 65535\n")
    env.set("net/core/somaxconn", "128")
    r = env.plan({SOMAXCONN: {"min": 8192}})
    # One value for the file and the kernel: the boot value without our file (65535), within the bound.
    assert [(k, old, new) for k, _p, old, new in r["runtime_changes"]] == [(SOMAXCONN, "128", "65535")]
    # Our file (90) sorts after theirs (60): it records their 65535, never lowers it at boot.
    assert r["new_text"] == render.HEADER + "# kerneltune.tcp bound: net.core.somaxconn min=8192\n" \
                                            "net.core.somaxconn = 65535\n"
    assert by_key(r)[SOMAXCONN]["persisted"] == "65535"


def test_a_later_file_out_of_bounds_overrides(env):
    env.conf("/etc/sysctl.d/99-local.conf", "net.core.somaxconn = 100\n")
    r = env.plan({SOMAXCONN: {"min": 8192}})
    e = by_key(r)[SOMAXCONN]
    assert (e["status"], e["overridden_by"]) == ("overridden", "/etc/sysctl.d/99-local.conf")
    assert [f["message"] for f in r["findings"] if f["rule"] == "overridden"] == [
        "net.core.somaxconn: /etc/sysctl.d/99-local.conf sets 100 after %s (>= 8192); it wins at boot, so the "
        "running value is left alone" % PATH]
    # A later file within the bounds is fine.
    env.conf("/etc/sysctl.d/99-local.conf", "net.core.somaxconn = 16384\n")
    assert by_key(env.plan({SOMAXCONN: {"min": 8192}}))[SOMAXCONN]["overridden_by"] is None


def test_another_files_value_that_the_module_would_refuse_is_not_copied(env):
    env.conf("/etc/sysctl.d/60-other.conf", "net.ipv4.ip_local_port_range = 40000 45000\n"
             "net.core.somaxconn = 0\nnet.ipv4.tcp_fin_timeout = -5\n")
    r = env.plan({RANGE: {"low_min": 50000}, SOMAXCONN: {"max": 65535}, "net.ipv4.tcp_fin_timeout": {"max": 30}})
    # 50000 45000 (low above high), 0 and -5 are not values the module writes: the runtime targets are.
    assert r["new_text"] == render.HEADER + (
        "# kerneltune.tcp bound: net.core.somaxconn max=65535\nnet.core.somaxconn = 4096\n"
        "# kerneltune.tcp bound: net.ipv4.ip_local_port_range low_min=50000\n"
        "net.ipv4.ip_local_port_range = 50000 60999\n"
        "# kerneltune.tcp bound: net.ipv4.tcp_fin_timeout max=30\nnet.ipv4.tcp_fin_timeout = 30\n")


def test_bounded_key_that_cannot_be_read(env, monkeypatch):
    real = procsys.read_runtime
    monkeypatch.setattr(procsys, "read_runtime", lambda parts, proc_root="/proc/sys": (None, "unreadable") if parts[
        -1] == "somaxconn" else real(parts, proc_root))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    e = refused(env, {SOMAXCONN: {"min": 8192}})
    assert e.message == "net.core.somaxconn: read-only here (running value unreadable, wanted >= 8192)"
    r = env.plan({SOMAXCONN: {"min": 8192}}, allow=["read_only"])
    assert r["runtime_changes"] == [] and r["new_text"] == render.HEADER
    assert by_key(r)[SOMAXCONN]["status"] == "read_only"
