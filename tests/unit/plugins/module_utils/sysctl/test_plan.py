# SPDX-License-Identifier: GPL-3.0-or-later
"""The planner: stages, drift, state=absent and restore.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import bootmodel
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import errors
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan as plan_mod
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import rules as rules_mod

from .sysctl_env import PATH, refused, by_key, rules, SOMAXCONN, RANGE


def test_same_key_twice(env):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": 1, "net/ipv4/tcp_fin_timeout": 2})
    assert e.message == "net.ipv4.tcp_fin_timeout: given twice (as net/ipv4/tcp_fin_timeout and another spelling)"


def test_settings_required(env):
    assert refused(env, {}).message == "settings: at least one key is required when state=present"


def test_skip_missing_names_are_validated(env):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": 15}, skip_missing=["kernel.panic"])
    assert e.message == ("skip_missing: kernel.panic: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and "
                         "net.netfilter.* keys are managed")


def test_fresh_host_reports_drift(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15, "net.core.somaxconn": 4096})
    assert r["file_changed"] is True and r["old_text"] is None
    e = by_key(r)
    assert e["net.ipv4.tcp_fin_timeout"] == {
        "key": "net.ipv4.tcp_fin_timeout", "desired": "15", "runtime": "60", "persisted": "15", "source": PATH,
        "persisted_before": None, "source_before": None, "runtime_drift": True, "persisted_drift": True,
        "overridden_by": None, "persisted_unknown": None, "persisted_before_unknown": None, "status": "drift",
        "bounds": None, "kernel_default": "60", "kernel_default_source": "fresh network namespace"}
    # Running value already right but not persisted: boot-time drift only.
    assert e["net.core.somaxconn"]["runtime_drift"] is False
    assert e["net.core.somaxconn"]["persisted_drift"] is True
    assert e["net.core.somaxconn"]["status"] == "drift"
    assert [c[0] for c in r["runtime_changes"]] == ["net.ipv4.tcp_fin_timeout"]


def test_compliant_host(env):
    env.set("net/ipv4/ip_local_port_range", "10240\t65535")
    first = env.plan({"net.ipv4.ip_local_port_range": "10240 65535"})
    env.conf(PATH, first["new_text"])
    r = env.plan({"net.ipv4.ip_local_port_range": [10240, 65535]})
    assert r["file_changed"] is False and r["runtime_changes"] == []
    assert by_key(r)["net.ipv4.ip_local_port_range"]["status"] == "ok"


def test_apply_false_changes_file_only(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15}, apply=False)
    assert r["file_changed"] is True and r["runtime_changes"] == []
    assert by_key(r)["net.ipv4.tcp_fin_timeout"]["runtime_drift"] is True


def test_state_absent(env):
    env.conf(PATH, "net.ipv4.tcp_fin_timeout = 15\n")
    r = env.plan({}, state="absent")
    assert r["file_changed"] is True and r["new_text"] is None
    env2 = env.plan({}, state="absent", path="/etc/sysctl.d/91-none.conf")
    assert env2["file_changed"] is False


# ---------------------------------------------------------------- plan's stages, each on its own

def test_stage_parse_settings_normalises_and_carries_rule_ids():
    findings = rules_mod.Findings(())
    desired, parts_of, bounds, _merged = plan_mod.parse_settings(
        {"net.ipv4.tcp_fin_timeout": "015", "net/ipv4/tcp_tw_reuse": 1,
         "net.ipv4.ip_local_port_range": [10240, 65535]}, "present", findings)
    assert bounds == {}
    assert desired == {"net.ipv4.tcp_fin_timeout": "13", "net.ipv4.tcp_tw_reuse": "1",
                       "net.ipv4.ip_local_port_range": "10240 65535"}
    assert parts_of["net.ipv4.tcp_tw_reuse"] == ("net", "ipv4", "tcp_tw_reuse")
    assert plan_mod.parse_settings({}, "absent", findings) == ({}, {}, {}, {})
    with pytest.raises(errors.SysctlError):
        plan_mod.parse_settings({"kernel.panic": 1, "net.ipv4.bad key": 1}, "present", findings)
    assert [(f["rule"], f["key"]) for f in findings.items] == [
        ("scope", "kernel.panic"), ("key_name", "net.ipv4.bad key")]


def test_stage_read_state_reads_the_keys_the_rules_need(env):
    runtime, presence = plan_mod.read_state({"net.ipv4.tcp_fin_timeout": ("net", "ipv4", "tcp_fin_timeout"),
                                             "net.ipv4.nope": ("net", "ipv4", "nope")}, env.proc)
    assert (runtime["net.ipv4.tcp_fin_timeout"], presence["net.ipv4.tcp_fin_timeout"]) == ("60", "present")
    assert presence["net.ipv4.nope"] == "missing"
    assert runtime["net.ipv4.ip_local_port_range"] == "32768 60999" and "net.ipv4.ip_local_port_range" not in presence


def test_stage_boot_model_and_plan_keys(env):
    env.conf("/etc/sysctl.d/99-local.conf", "net.ipv4.tcp_fin_timeout = 30\n")
    desired = {"net.ipv4.tcp_fin_timeout": "15", "net.ipv4.tcp_tw_reuse": "1"}
    parts_of = {k: keys.parse_key(k)[1] for k in desired}
    runtime, presence = plan_mod.read_state(parts_of, env.proc)
    new = render.render_file(desired, {})
    model = bootmodel.BootModel(PATH, parts_of, runtime, "systemd-sysctl", {"systemd-sysctl": (252,),
                                                                            "procps": (4, 0, 2)}, env.root).finish(new)
    assert model.name() == "systemd-sysctl 252"
    assert model.after[("net", "ipv4", "tcp_fin_timeout")][:2] == ("30", "/etc/sysctl.d/99-local.conf")
    findings = rules_mod.Findings(())
    entries, changes = plan_mod.plan_keys(plan_mod.Request(path=PATH), plan_mod.Wanted(desired, parts_of, {}),
                                          plan_mod.Running(runtime, presence), {}, model, findings)
    assert [(e["key"], e["status"]) for e in entries] == [("net.ipv4.tcp_fin_timeout", "overridden"),
                                                          ("net.ipv4.tcp_tw_reuse", "drift")]
    assert [c[0] for c in changes] == ["net.ipv4.tcp_tw_reuse"]
    assert rules(findings.items) == [("overridden", "warning")]


# ---------------------------------------------------------------- restore: state=absent, restore=boot

NO_NAMESPACE = "Operation not permitted"


def no_namespace(parts):
    """A fresh_reader without CAP_SYS_ADMIN: no namespace, so no kernel default."""
    return None, NO_NAMESPACE


def test_restore_to_another_file_then_to_the_kernel_default(env):
    env.conf(PATH, render.HEADER + "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 15\n")
    env.conf("/etc/sysctl.d/50-vendor.conf", "net.ipv4.tcp_fin_timeout = 45\n")
    env.set("net/core/somaxconn", "8192")
    env.set("net/ipv4/tcp_fin_timeout", "15")
    # A value set by hand before the first run is not what the host boots with: the kernel default is.
    r = env.plan(None, state="absent", restore="boot", records={SOMAXCONN: "1000"})
    assert r["file_changed"] is True and r["new_text"] is None
    assert r["restore"] == [
        {"key": SOMAXCONN, "runtime": "8192", "value": "4096", "source": "kernel default"},
        {"key": "net.ipv4.tcp_fin_timeout", "runtime": "15", "value": "45", "source": "/etc/sysctl.d/50-vendor.conf"}]
    assert [(k, old, new) for k, _p, old, new in r["runtime_changes"]] == [
        (SOMAXCONN, "8192", "4096"), ("net.ipv4.tcp_fin_timeout", "15", "45")]


def test_restore_boot_falls_back_to_the_record_when_the_default_is_unknown(env):
    env.conf(PATH, render.HEADER + "net.core.somaxconn = 8192\nnet.ipv4.tcp_rmem = 4096 262144 16777216\n")
    env.set("net/core/somaxconn", "8192")
    env.set("net/ipv4/tcp_rmem", "4096\t262144\t16777216")
    records = {SOMAXCONN: "1000", "net.ipv4.tcp_rmem": "4096 131072 6291456"}
    # tcp_rmem is copied from the host into a new namespace: its default is never known; somaxconn's is not
    # known here because no namespace can be made.
    r = env.plan(None, state="absent", restore="boot", records=records, fresh_reader=no_namespace)
    assert r["restore"] == [
        {"key": SOMAXCONN, "runtime": "8192", "value": "1000", "source": "recorded"},
        {"key": "net.ipv4.tcp_rmem", "runtime": "4096 262144 16777216", "value": "4096 131072 6291456",
         "source": "recorded"}]


def test_restore_previous_is_the_record_and_names_the_keys_without_one(env):
    env.conf(PATH, render.HEADER + "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 15\n")
    env.conf("/etc/sysctl.d/50-vendor.conf", "net.ipv4.tcp_fin_timeout = 45\n")
    env.set("net/core/somaxconn", "8192")
    env.set("net/ipv4/tcp_fin_timeout", "15")

    def reader(parts):
        raise AssertionError("restore: previous needs no kernel default")
    r = env.plan(None, state="absent", restore="previous", records={SOMAXCONN: "1000"}, fresh_reader=reader)
    assert r["restore"] == [
        {"key": SOMAXCONN, "runtime": "8192", "value": "1000", "source": "recorded"},
        {"key": "net.ipv4.tcp_fin_timeout", "runtime": "15", "value": None, "source": None}]
    assert [(k, new) for k, _p, _o, new in r["runtime_changes"]] == [(SOMAXCONN, "1000")]
    assert [(f["rule"], f["severity"], f["message"]) for f in r["findings"]] == [
        ("restore_unknown", "warning", "net.ipv4.tcp_fin_timeout: no running value was recorded before "
         "kerneltune.tcp.tcp_sysctl first set it; the running value 15 is left as it is (restore: previous)")]


@pytest.mark.parametrize("reader,why", [
    (no_namespace, "its kernel default is unknown (cannot create a network namespace: Operation not permitted)"),
    (lambda parts: ({p: None for p in parts}, None),
     "its kernel default is unknown (not in a fresh network namespace)"),
])
def test_restore_without_a_record_leaves_the_key_and_says_so(env, reader, why):
    env.conf(PATH, render.HEADER + "net.core.somaxconn = 8192\n")
    env.set("net/core/somaxconn", "8192")
    r = env.plan(None, state="absent", restore="boot", records={}, fresh_reader=reader)
    assert r["runtime_changes"] == []
    assert r["restore"] == [{"key": SOMAXCONN, "runtime": "8192", "value": None, "source": None}]
    assert [(f["rule"], f["severity"], f["message"]) for f in r["findings"]] == [
        ("restore_unknown", "warning", "net.core.somaxconn: no remaining file sets it, %s and no running value was "
         "recorded before kerneltune.tcp.tcp_sysctl first set it; the running value 8192 is left as it is" % why)]


def test_restore_of_a_global_or_copied_key_without_a_record_says_why(env):
    env.conf(PATH, render.HEADER + "net.core.netdev_max_backlog = 5000\nnet.ipv4.tcp_wmem = 4096 65536 8388608\n")
    env.set("net/core/netdev_max_backlog", "5000")
    env.set("net/ipv4/tcp_wmem", "4096\t65536\t8388608")
    r = env.plan(None, state="absent", restore="boot", records={})
    assert r["runtime_changes"] == []
    assert [f["message"] for f in r["findings"]] == [
        "net.core.netdev_max_backlog: no remaining file sets it, its kernel default is unknown (a global key: a "
        "fresh network namespace does not have it) and no running value was recorded before "
        "kerneltune.tcp.tcp_sysctl first set it; the running value 5000 is left as it is",
        "net.ipv4.tcp_wmem: no remaining file sets it, its kernel default is unknown (a fresh network namespace "
        "copies it from the host) and no running value was recorded before kerneltune.tcp.tcp_sysctl first set "
        "it; the running value 4096 65536 8388608 is left as it is"]


def test_restore_none_and_a_record_without_the_file(env):
    env.set("net/core/somaxconn", "8192")
    r = env.plan(None, state="absent", restore="none", records={SOMAXCONN: "4096"})
    assert r["runtime_changes"] == [] and r["restore"] == [] and r["file_changed"] is False
    # The file is gone already (removed by hand), the record still brings the value back.
    r = env.plan(None, state="absent", restore="boot", records={SOMAXCONN: "4096"})
    assert [(k, new) for k, _p, _o, new in r["runtime_changes"]] == [(SOMAXCONN, "4096")]


def test_restore_writes_the_port_range_in_an_order_the_kernel_takes(env):
    env.conf(PATH, render.HEADER + "net.ipv4.ip_unprivileged_port_start = 500\nnet.ipv4.ip_local_port_range = 600 "
             "65000\n")
    env.set("net/ipv4/ip_unprivileged_port_start", "500")
    env.set("net/ipv4/ip_local_port_range", "600\t65000")
    r = env.plan(None, state="absent", restore="boot", records={
        "net.ipv4.ip_unprivileged_port_start": "1024", RANGE: "32768 60999"})
    # The start rises back to 1024: the range must move above it first.
    assert [k for k, _p, _o, _n in r["runtime_changes"]] == [RANGE, "net.ipv4.ip_unprivileged_port_start"]


@pytest.mark.parametrize("value", ["", "abc", "-"])
def test_a_recorded_value_the_kernel_refuses_is_named(env, value):
    env.conf(PATH, render.HEADER + "net.core.somaxconn = 8192\n")
    env.set("net/core/somaxconn", "8192")
    r = env.plan(None, state="absent", restore="boot", records={SOMAXCONN: value}, fresh_reader=no_namespace)
    assert r["runtime_changes"] == []
    assert [f["message"] for f in r["findings"]] == [
        "net.core.somaxconn: no remaining file sets it, its kernel default is unknown (cannot create a network "
        "namespace: Operation not permitted) and the recorded value %r is not one the kernel takes; the running "
        "value 8192 is left as it is" % value]
    r = env.plan(None, state="absent", restore="previous", records={SOMAXCONN: value})
    assert [f["message"] for f in r["findings"]] == [
        "net.core.somaxconn: the recorded value %r is not one the kernel takes; the running value 8192 is left as "
        "it is (restore: previous)" % value]
