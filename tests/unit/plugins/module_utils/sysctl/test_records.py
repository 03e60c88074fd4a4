# SPDX-License-Identifier: GPL-3.0-or-later
"""The state file, and runs in sequence as the module does them.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import json
import os
import stat

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import errors
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import records
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render

from .sysctl_env import PATH, SOMAXCONN


# ---------------------------------------------------------------- the state file

def test_state_file_round_trip_is_root_only(tmp_path):
    f = str(tmp_path / "kt" / "tcp_sysctl.json")
    assert records.load_state(f) == {}
    records.save_state({PATH: {SOMAXCONN: "4096"}, "/etc/sysctl.d/80-x.conf": {}}, f)
    assert records.load_state(f) == {PATH: {SOMAXCONN: "4096"}}
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
    with pytest.raises(errors.SysctlError) as e:
        records.load_state(f)
    assert e.value.message == message % f


@pytest.mark.parametrize("files", [
    {PATH: {SOMAXCONN: {"value": ["4096"]}}}, {PATH: {SOMAXCONN: {"value": True}}}, {PATH: {SOMAXCONN: 4096}},
    {PATH: {SOMAXCONN: {"value": ""}}}, {PATH: ["x"]}])
def test_state_file_records_of_another_shape_are_refused(tmp_path, files):
    f = str(tmp_path / "tcp_sysctl.json")
    with open(f, "w") as fh:
        json.dump({"schema_version": 1, "files": files}, fh)
    with pytest.raises(errors.SysctlError) as e:
        records.load_state(f)
    assert e.value.message == ("%s: the state file is not schema_version 1 of kerneltune.tcp.tcp_sysctl; move it "
                               "away to start over (its recorded values are then lost)" % f)


def test_records_first_change_first_write_and_drop(env):
    # First run: somaxconn changes (4096 recorded), fin_timeout already right (its running value recorded).
    env.set("net/ipv4/tcp_fin_timeout", "15")
    r = env.plan({SOMAXCONN: 8192, "net.ipv4.tcp_fin_timeout": 15})
    rec = records.records_after({}, r)
    assert rec == {SOMAXCONN: "4096", "net.ipv4.tcp_fin_timeout": "15"}
    env.conf(PATH, r["new_text"])
    env.set("net/core/somaxconn", "8192")
    # Second run with another value: the first record stays; fin_timeout leaves the file but keeps its running
    # value, and its record (state=absent, or the key coming back, still knows the value before).
    r = env.plan({SOMAXCONN: 16384})
    assert records.records_after(rec, r) == rec
    # Another managed file that takes the key later inherits the first file's record, not our value running.
    r = env.plan({SOMAXCONN: 16384}, path="/etc/sysctl.d/95-other.conf")
    assert records.records_after({}, r, records.first_records({PATH: rec}, "/etc/sysctl.d/95-other.conf")) == {
        SOMAXCONN: "4096"}
    # A key already in our file (an older release wrote it) and already right gets no record: the value before is
    # unknown.
    env.conf(PATH, render.HEADER + "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 15\n")
    r = env.plan({SOMAXCONN: 8192, "net.ipv4.tcp_fin_timeout": 15})
    assert records.records_after({}, r) == {}


# ---------------------------------------------------------------- runs in sequence, as the module does them

class Host(object):
    """The module's flow on the Env: plan with this file's records and those inherited, records, writes."""

    def __init__(self, env):
        self.env = env
        self.state = {}

    def present(self, settings, path=PATH):
        own, inherited = self.state.get(path, {}), records.first_records(self.state, path)
        r = self.env.plan(settings, path=path, records=own, inherited=inherited)
        self.state[path] = records.records_after(own, r, inherited)
        procsys.apply_runtime(r["runtime_changes"], proc_root=self.env.proc)
        self.env.conf(path, r["new_text"])
        return r

    def absent(self, path=PATH):
        r = self.env.plan(None, path=path, state="absent", restore="boot", records=self.state.get(path, {}),
                          inherited=records.first_records(self.state, path))
        procsys.apply_runtime(r["runtime_changes"], proc_root=self.env.proc)
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
        (SOMAXCONN, "4096", "kernel default"), ("net.ipv4.tcp_fin_timeout", "60", "kernel default")]
    assert env.get("net/core/somaxconn") == "4096"


def test_two_profiles_with_bounds_then_both_removed(env):
    host = Host(env)
    high = "/etc/sysctl.d/80-kerneltune-high_outbound_client.conf"
    web = "/etc/sysctl.d/80-kerneltune-web_frontend.conf"
    host.present({"net.ipv4.tcp_fin_timeout": {"max": 15}, SOMAXCONN: 65535}, path=high)
    r = host.present({"net.ipv4.tcp_fin_timeout": {"max": 30}, SOMAXCONN: {"min": 8192}}, path=web)
    # web_frontend keeps what high_outbound_client set, at runtime and in its file.
    assert r["runtime_changes"] == []
    assert r["new_text"] == render.HEADER + (
        "# kerneltune.tcp bound: net.core.somaxconn min=8192\nnet.core.somaxconn = 65535\n"
        "# kerneltune.tcp bound: net.ipv4.tcp_fin_timeout max=30\nnet.ipv4.tcp_fin_timeout = 15\n")
    host.absent(high)
    # Its own bounds from the host's values: 60 -> 30, 4096 -> 8192 in the file; the running values are within.
    r = host.present({"net.ipv4.tcp_fin_timeout": {"max": 30}, SOMAXCONN: {"min": 8192}}, path=web)
    assert r["new_text"] == render.HEADER + (
        "# kerneltune.tcp bound: net.core.somaxconn min=8192\nnet.core.somaxconn = 8192\n"
        "# kerneltune.tcp bound: net.ipv4.tcp_fin_timeout max=30\nnet.ipv4.tcp_fin_timeout = 30\n")
    assert [e["status"] for e in r["entries"]] == ["ok", "ok"]
    host.absent(web)
    assert (env.get("net/core/somaxconn"), env.get("net/ipv4/tcp_fin_timeout")) == ("4096", "60")
