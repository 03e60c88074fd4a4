# SPDX-License-Identifier: GPL-3.0-or-later
"""Bounds ({min, max}) and restore (state=absent, restore=boot) in tcp_sysctl's library.

The same temporary /proc/sys and sysctl.d tree as test_sysctl_core; molecule
runs the same cases on real kernels (molecule/tcp_sysctl, restore and bounds).
Messages are asserted word for word.
"""
import json
import os
import stat

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import sysctl_core as core

from .test_sysctl_core import PATH, Env, by_key, refused

SOMAXCONN = "net.core.somaxconn"
RANGE = "net.ipv4.ip_local_port_range"


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


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
    assert r["new_text"] == core.HEADER + "net.core.somaxconn = 8192\n"


def test_above_the_bound_is_left_alone(env):
    env.set("net/core/somaxconn", "65535")
    r = env.plan({SOMAXCONN: {"min": 8192}})
    e = by_key(r)[SOMAXCONN]
    assert e["desired"] == "65535" and e["runtime_drift"] is False and r["runtime_changes"] == []
    # Nothing set it at boot yet: drift until the file records the running value.
    assert e["status"] == "drift" and r["new_text"] == core.HEADER + "net.core.somaxconn = 65535\n"
    env.conf(PATH, r["new_text"])
    again = by_key(env.plan({SOMAXCONN: {"min": 8192}}))[SOMAXCONN]
    assert (again["status"], again["persisted"]) == ("ok", "65535")


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
    assert [(k, old, new) for k, _p, old, new in r["runtime_changes"]] == [(SOMAXCONN, "128", "8192")]
    # Our file (90) sorts after theirs (60): it records their 65535, never lowers it at boot.
    assert r["new_text"] == core.HEADER + "net.core.somaxconn = 65535\n"
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


# ---------------------------------------------------------------- restore: state=absent, restore=boot

def test_restore_to_another_file_then_to_the_record(env):
    env.conf(PATH, core.HEADER + "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 15\n")
    env.conf("/etc/sysctl.d/50-vendor.conf", "net.ipv4.tcp_fin_timeout = 45\n")
    env.set("net/core/somaxconn", "8192")
    env.set("net/ipv4/tcp_fin_timeout", "15")
    r = env.plan(None, state="absent", restore="boot", records={SOMAXCONN: "4096"})
    assert r["file_changed"] is True and r["new_text"] is None
    assert r["restore"] == [
        {"key": SOMAXCONN, "runtime": "8192", "value": "4096", "source": "recorded"},
        {"key": "net.ipv4.tcp_fin_timeout", "runtime": "15", "value": "45", "source": "/etc/sysctl.d/50-vendor.conf"}]
    assert [(k, old, new) for k, _p, old, new in r["runtime_changes"]] == [
        (SOMAXCONN, "8192", "4096"), ("net.ipv4.tcp_fin_timeout", "15", "45")]


def test_restore_without_a_record_leaves_the_key_and_says_so(env):
    env.conf(PATH, core.HEADER + "net.core.somaxconn = 8192\n")
    env.set("net/core/somaxconn", "8192")
    r = env.plan(None, state="absent", restore="boot", records={})
    assert r["runtime_changes"] == []
    assert r["restore"] == [{"key": SOMAXCONN, "runtime": "8192", "value": None, "source": None}]
    assert [(f["rule"], f["severity"], f["message"]) for f in r["findings"]] == [
        ("restore_unknown", "warning", "net.core.somaxconn: no other file sets it and no running value was recorded "
         "before kerneltune.tcp.tcp_sysctl first set it; the running value 8192 is left as it is")]


def test_restore_none_and_a_record_without_the_file(env):
    env.set("net/core/somaxconn", "8192")
    r = env.plan(None, state="absent", restore="none", records={SOMAXCONN: "4096"})
    assert r["runtime_changes"] == [] and r["restore"] == [] and r["file_changed"] is False
    # The file is gone already (removed by hand), the record still brings the value back.
    r = env.plan(None, state="absent", restore="boot", records={SOMAXCONN: "4096"})
    assert [(k, new) for k, _p, _o, new in r["runtime_changes"]] == [(SOMAXCONN, "4096")]


def test_restore_writes_the_port_range_in_an_order_the_kernel_takes(env):
    env.conf(PATH, core.HEADER + "net.ipv4.ip_unprivileged_port_start = 500\nnet.ipv4.ip_local_port_range = 600 "
             "65000\n")
    env.set("net/ipv4/ip_unprivileged_port_start", "500")
    env.set("net/ipv4/ip_local_port_range", "600\t65000")
    r = env.plan(None, state="absent", restore="boot", records={
        "net.ipv4.ip_unprivileged_port_start": "1024", RANGE: "32768 60999"})
    # The start rises back to 1024: the range must move above it first.
    assert [k for k, _p, _o, _n in r["runtime_changes"]] == [RANGE, "net.ipv4.ip_unprivileged_port_start"]


# ---------------------------------------------------------------- the state file

def test_state_file_round_trip_is_root_only(tmp_path):
    f = str(tmp_path / "kt" / "tcp_sysctl.json")
    assert core.load_state(f) == {}
    core.save_state({PATH: {SOMAXCONN: "4096"}, "/etc/sysctl.d/80-x.conf": {}}, f)
    assert core.load_state(f) == {PATH: {SOMAXCONN: "4096"}}
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(f)).st_mode) == 0o700
    assert os.listdir(os.path.dirname(f)) == ["tcp_sysctl.json"]


@pytest.mark.parametrize("text, message", [
    ("{not json", "%s: the state file is not valid JSON (Expecting property name enclosed in double quotes: line 1 "
                  "column 2 (char 1)); move it away to start over (its recorded values are then lost)"),
    (json.dumps({"schema_version": 9, "files": {}}),
     "%s: the state file is not schema_version 1 of kerneltune.tcp.tcp_sysctl; move it away to start over (its "
     "recorded values are then lost)"),
])
def test_state_file_that_cannot_be_trusted(tmp_path, text, message):
    f = str(tmp_path / "tcp_sysctl.json")
    with open(f, "w") as fh:
        fh.write(text)
    with pytest.raises(core.SysctlError) as e:
        core.load_state(f)
    assert e.value.message == message % f


def test_records_first_change_first_write_and_drop(env):
    # First run: somaxconn changes (4096 recorded), fin_timeout already right (its running value recorded).
    env.set("net/ipv4/tcp_fin_timeout", "15")
    r = env.plan({SOMAXCONN: 8192, "net.ipv4.tcp_fin_timeout": 15})
    rec = core.records_after({}, r)
    assert rec == {SOMAXCONN: "4096", "net.ipv4.tcp_fin_timeout": "15"}
    env.conf(PATH, r["new_text"])
    env.set("net/core/somaxconn", "8192")
    # Second run with another value: the first record stays; fin_timeout leaves the file but keeps its running
    # value, and its record (state=absent, or the key coming back, still knows the value before).
    r = env.plan({SOMAXCONN: 16384})
    assert core.records_after(rec, r) == rec
    # Another managed file that takes the key later inherits the first file's record, not our value running.
    r = env.plan({SOMAXCONN: 16384}, path="/etc/sysctl.d/95-other.conf")
    assert core.records_after({}, r, core.first_records({PATH: rec}, "/etc/sysctl.d/95-other.conf")) == {
        SOMAXCONN: "4096"}
    # A key already in our file (an older release wrote it) and already right gets no record: the value before is
    # unknown.
    env.conf(PATH, core.HEADER + "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 15\n")
    r = env.plan({SOMAXCONN: 8192, "net.ipv4.tcp_fin_timeout": 15})
    assert core.records_after({}, r) == {}


# ---------------------------------------------------------------- runs in sequence, as the module does them

class Host(object):
    """The module's flow on the Env: plan with this file's records and those inherited, records, writes."""

    def __init__(self, env):
        self.env = env
        self.state = {}

    def present(self, settings, path=PATH):
        own, inherited = self.state.get(path, {}), core.first_records(self.state, path)
        r = self.env.plan(settings, path=path, records=own, inherited=inherited)
        self.state[path] = core.records_after(own, r, inherited)
        core.apply_runtime(r["runtime_changes"], proc_root=self.env.proc)
        self.env.conf(path, r["new_text"])
        return r

    def absent(self, path=PATH):
        r = self.env.plan(None, path=path, state="absent", restore="boot", records=self.state.get(path, {}),
                          inherited=core.first_records(self.state, path))
        core.apply_runtime(r["runtime_changes"], proc_root=self.env.proc)
        if os.path.exists(self.env.root + path):
            os.unlink(self.env.root + path)
        self.state.pop(path, None)
        return r


A = "/etc/sysctl.d/80-a.conf"
B = "/etc/sysctl.d/85-b.conf"


@pytest.mark.parametrize("order", [(A, B), (B, A)])
def test_two_files_on_one_key_restore_the_hosts_own_value(env, order):
    host = Host(env)
    host.present({SOMAXCONN: 8192}, path=A)
    host.present({SOMAXCONN: 16384}, path=B)
    # B found A's 8192 running, but records what the host had before either: 4096.
    assert host.state[B] == {SOMAXCONN: "4096"}
    host.absent(order[0])
    assert env.get("net/core/somaxconn") == ("16384" if order[0] == A else "8192")
    host.absent(order[1])
    assert env.get("net/core/somaxconn") == "4096"


def test_a_key_that_leaves_the_file_keeps_its_record(env):
    host = Host(env)
    host.present({SOMAXCONN: 8192, "net.ipv4.tcp_fin_timeout": 30})
    host.present({"net.ipv4.tcp_fin_timeout": 30})
    assert env.get("net/core/somaxconn") == "8192"  # left as it is, record kept
    host.present({SOMAXCONN: 16384, "net.ipv4.tcp_fin_timeout": 30})
    r = host.absent()
    assert [(e["key"], e["value"], e["source"]) for e in r["restore"]] == [
        (SOMAXCONN, "4096", "recorded"), ("net.ipv4.tcp_fin_timeout", "60", "recorded")]
    assert env.get("net/core/somaxconn") == "4096"


def test_two_profiles_with_bounds_then_both_removed(env):
    host = Host(env)
    high = "/etc/sysctl.d/80-kerneltune-high_outbound_client.conf"
    web = "/etc/sysctl.d/80-kerneltune-web_frontend.conf"
    host.present({"net.ipv4.tcp_fin_timeout": {"max": 15}, SOMAXCONN: 65535}, path=high)
    r = host.present({"net.ipv4.tcp_fin_timeout": {"max": 30}, SOMAXCONN: {"min": 8192}}, path=web)
    # web_frontend keeps what high_outbound_client set, at runtime and in its file.
    assert r["runtime_changes"] == []
    assert r["new_text"] == core.HEADER + "net.core.somaxconn = 65535\nnet.ipv4.tcp_fin_timeout = 15\n"
    host.absent(high)
    # Its own bounds from the host's values: 60 -> 30, 4096 -> 8192 in the file; the running values are within.
    r = host.present({"net.ipv4.tcp_fin_timeout": {"max": 30}, SOMAXCONN: {"min": 8192}}, path=web)
    assert r["new_text"] == core.HEADER + "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 30\n"
    assert [e["status"] for e in r["entries"]] == ["ok", "ok"]
    host.absent(web)
    assert (env.get("net/core/somaxconn"), env.get("net/ipv4/tcp_fin_timeout")) == ("4096", "60")


def test_another_files_value_that_the_module_would_refuse_is_not_copied(env):
    env.conf("/etc/sysctl.d/60-other.conf", "net.ipv4.ip_local_port_range = 40000 45000\n"
             "net.core.somaxconn = 0\nnet.ipv4.tcp_fin_timeout = -5\n")
    r = env.plan({RANGE: {"low_min": 50000}, SOMAXCONN: {"max": 65535}, "net.ipv4.tcp_fin_timeout": {"max": 30}})
    # 50000 45000 (low above high), 0 and -5 are not values the module writes: the runtime targets are.
    assert r["new_text"] == core.HEADER + ("net.core.somaxconn = 4096\nnet.ipv4.ip_local_port_range = 50000 60999\n"
                                           "net.ipv4.tcp_fin_timeout = 30\n")


@pytest.mark.parametrize("value", ["", "abc", "-"])
def test_a_recorded_value_the_kernel_refuses_is_named(env, value):
    env.conf(PATH, core.HEADER + "net.core.somaxconn = 8192\n")
    env.set("net/core/somaxconn", "8192")
    r = env.plan(None, state="absent", restore="boot", records={SOMAXCONN: value})
    assert r["runtime_changes"] == []
    assert [f["message"] for f in r["findings"]] == [
        "net.core.somaxconn: the recorded value %r is not one the kernel takes; the running value 8192 is left as "
        "it is" % value]


@pytest.mark.parametrize("files", [
    {PATH: {SOMAXCONN: {"value": ["4096"]}}}, {PATH: {SOMAXCONN: {"value": True}}}, {PATH: {SOMAXCONN: 4096}},
    {PATH: {SOMAXCONN: {"value": ""}}}, {PATH: ["x"]}])
def test_state_file_records_of_another_shape_are_refused(tmp_path, files):
    f = str(tmp_path / "tcp_sysctl.json")
    with open(f, "w") as fh:
        json.dump({"schema_version": 1, "files": files}, fh)
    with pytest.raises(core.SysctlError) as e:
        core.load_state(f)
    assert e.value.message == ("%s: the state file is not schema_version 1 of kerneltune.tcp.tcp_sysctl; move it "
                               "away to start over (its recorded values are then lost)" % f)


def test_tw_recycle_bound_on_a_kernel_without_it(env):
    # "recycle off" as a bound behaves as the value 0: the key is gone, nothing to refuse but its absence.
    e = refused(env, {"net.ipv4.tcp_tw_recycle": {"max": 0}}, nat="present")
    assert [f["rule"] for f in e.findings] == ["tw_recycle_removed"]
    e = refused(env, {"net.ipv4.tcp_tw_recycle": {"min": 1}}, nat="present")
    assert [f["rule"] for f in e.findings] == ["tw_recycle_nat"]


def test_bounded_key_that_cannot_be_read(env, monkeypatch):
    real = core.read_runtime
    monkeypatch.setattr(core, "read_runtime", lambda parts, proc_root="/proc/sys": (None, "unreadable") if parts[
        -1] == "somaxconn" else real(parts, proc_root))
    monkeypatch.setattr(core.os, "geteuid", lambda: 0)
    e = refused(env, {SOMAXCONN: {"min": 8192}})
    assert e.message == "net.core.somaxconn: read-only here (running value unreadable, wanted >= 8192)"
    r = env.plan({SOMAXCONN: {"min": 8192}}, allow=["read_only"])
    assert r["runtime_changes"] == [] and r["new_text"] == core.HEADER
    assert by_key(r)[SOMAXCONN]["status"] == "read_only"
