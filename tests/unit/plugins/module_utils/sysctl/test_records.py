# SPDX-License-Identifier: GPL-3.0-or-later
"""The state file, and runs in sequence as the module does them.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import json
import os
import pathlib
import stat

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import errors
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import records
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import task

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
        own, self.ignored = task.own_records(path, "absent", self.state.get(path, {}), self.env.root)
        r = self.env.plan(None, path=path, state="absent", restore="boot", records=own,
                          inherited=records.first_records(dict(self.state, **{path: own}), path))
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


def test_removing_the_file_restores_only_the_keys_it_sets(env):
    # somaxconn left the file: its record stays (the key coming back finds it) but removing the file leaves it.
    host = Host(env)
    host.present({SOMAXCONN: 8192, "net.ipv4.tcp_fin_timeout": 30})
    host.present({"net.ipv4.tcp_fin_timeout": 30})
    assert host.state[PATH] == {SOMAXCONN: "4096", "net.ipv4.tcp_fin_timeout": "60"}
    r = host.absent()
    assert host.ignored == {SOMAXCONN: "4096"}
    assert [(e["key"], e["value"], e["source"]) for e in r["restore"]] == [("net.ipv4.tcp_fin_timeout", "60",
                                                                            "kernel default")]
    assert (env.get("net/core/somaxconn"), env.get("net/ipv4/tcp_fin_timeout")) == ("8192", "60")


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


# ---------------------------------------------------------------- a state file another user could have written

REFUSAL = ("%s: refusing the state %s: %s (owner uid %d, mode %s); it must be owned by uid 0, not be a symbolic "
           "link and not be writable by group or others, or another user could plant records that this module then "
           "writes to the kernel; nothing was changed")


def saved(tmp_path):
    f = str(tmp_path / "kt" / "tcp_sysctl.json")
    records.save_state({PATH: {SOMAXCONN: "4096"}}, f)
    return f


@pytest.mark.parametrize("what, mode, reason", [
    ("directory", 0o777, "it is writable by group and others"),
    ("directory", 0o770, "it is writable by group"),
    ("file", 0o602, "it is writable by others"),
])
def test_a_state_directory_or_file_others_may_write_is_refused(tmp_path, what, mode, reason):
    f = saved(tmp_path)
    target = f if what == "file" else os.path.dirname(f)
    os.chmod(target, mode)
    with pytest.raises(errors.SysctlError) as e:
        records.load_state(f)
    assert e.value.message == REFUSAL % (target, what, reason, 0, "%04o" % mode)
    if what == "directory":  # a run that writes refused it on reading; saving refuses it too
        with pytest.raises(OSError) as e:
            records.save_state({}, f)
        assert e.value.strerror == REFUSAL % (target, what, reason, 0, "%04o" % mode)
    os.chmod(target, 0o700)
    assert records.load_state(f) == {PATH: {SOMAXCONN: "4096"}}  # not overwritten


def test_a_state_file_of_another_owner_or_a_symlink_is_refused(tmp_path):
    f = saved(tmp_path)
    os.chown(f, 1000, 1000)
    with pytest.raises(errors.SysctlError) as e:
        records.load_state(f)
    assert e.value.message == REFUSAL % (f, "file", "it is owned by uid 1000", 1000, "0600")
    os.chown(f, 0, 0)
    planted = str(tmp_path / "planted.json")
    os.rename(f, planted)
    os.symlink(planted, f)
    with pytest.raises(errors.SysctlError) as e:
        records.load_state(f)
    assert e.value.message == REFUSAL % (f, "file", "it is a symbolic link", 0, "0777")


def test_a_state_file_this_uid_cannot_read(tmp_path):
    # The audit without become: 0600 root in a 0700 directory (in a directory all may search), read as uid 65534.
    import shutil
    import tempfile
    top = tempfile.mkdtemp(prefix="kt-records-")
    os.chmod(top, 0o755)
    try:
        assert _read_as_nobody(saved(pathlib.Path(top))) == (
            "%s/kt/tcp_sysctl.json: cannot read the state file: Permission denied" % top)
    finally:
        shutil.rmtree(top)


def _read_as_nobody(f):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        os.setgid(65534)
        os.setuid(65534)
        try:
            records.load_state(f)
            out = "read"
        except records.StateUnreadable as e:
            out = e.message
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as fh:
        return fh.read()


# ---------------------------------------------------------------- the lock

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, b"%d\\n" % os.getpid())
print("held", flush=True)
sys.stdin.read()
"""


def test_a_held_lock_times_out_naming_the_holder(tmp_path):
    import subprocess
    import sys
    import time
    f = str(tmp_path / "kt" / "tcp_sysctl.json")
    records.state_dir(f)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, records.lock_file(f)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, universal_newlines=True)
    try:
        assert holder.stdout.readline() == "held\n"
        start = time.monotonic()
        with pytest.raises(errors.SysctlError) as e:
            with records.Lock(f, timeout=0.5):
                pass
        assert time.monotonic() - start >= 0.5
        assert e.value.message == ("%s: another tcp_sysctl run (pid %d) holds the lock on the records; waited "
                                   "lock_timeout=0.5 s for it; nothing was changed"
                                   % (records.lock_file(f), holder.pid))
    finally:
        holder.communicate("")
    with records.Lock(f, timeout=0) as lock:  # free again once the holder is gone
        with open(lock.path) as fh:
            assert fh.read() == "%d\n" % os.getpid()
    assert sorted(os.listdir(os.path.dirname(f))) == ["tcp_sysctl.lock"]
    assert stat.S_IMODE(os.stat(records.lock_file(f)).st_mode) == 0o600


def test_a_lock_that_is_a_symlink_or_others_may_write_is_refused(tmp_path):
    f = str(tmp_path / "kt" / "tcp_sysctl.json")
    lock = records.lock_file(f)
    records.state_dir(f)
    os.symlink(str(tmp_path / "elsewhere"), lock)
    with pytest.raises(errors.SysctlError) as e:
        records.Lock(f).__enter__()
    assert e.value.message == REFUSAL % (lock, "lock", "it is a symbolic link", 0, "0777")
    assert not os.path.exists(str(tmp_path / "elsewhere"))
    os.unlink(lock)
    os.close(os.open(lock, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(lock, 0o666)
    with pytest.raises(errors.SysctlError) as e:
        records.Lock(f).__enter__()
    assert e.value.message == REFUSAL % (lock, "lock", "it is writable by group and others", 0, "0666")


WRITER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import records
state_file, path, start = sys.argv[2], sys.argv[3], float(sys.argv[4])
time.sleep(max(0, start - time.time()))
with records.Lock(state_file, timeout=30):
    state = records.load_state(state_file)
    time.sleep(0.05)  # the plan and the transaction
    state[path] = {"net.core.somaxconn": "4096"}
    records.save_state(state, state_file)
"""


def test_parallel_writers_keep_every_record(tmp_path):
    # Eight processes read, change and write the records at the same moment: none is lost.
    import subprocess
    import sys
    import time
    root = os.path.abspath(os.path.join(os.path.dirname(records.__file__), *[".."] * 6))
    f = str(tmp_path / "kt" / "tcp_sysctl.json")
    start = time.time() + 1
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, root, f, "/etc/sysctl.d/8%d-x.conf" % n, str(start)])
             for n in range(8)]
    assert [p.wait() for p in procs] == [0] * 8
    assert sorted(records.load_state(f)) == ["/etc/sysctl.d/8%d-x.conf" % n for n in range(8)]


# ---------------------------------------------------------------- a file an earlier release wrote

def test_adopted_keys_round_trip_and_stay_out_of_the_values(tmp_path):
    old = render.HEADER + "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 15\n"
    state = {PATH: records.adopt({"net.ipv4.tcp_fin_timeout": "60"}, old)}
    assert state[PATH] == {SOMAXCONN: None, "net.ipv4.tcp_fin_timeout": "60"}
    f = str(tmp_path / "kt" / "tcp_sysctl.json")
    records.save_state(state, f)
    with open(f) as fh:
        data = json.load(fh)
    # Releases before adoption read "files" only; the adopted keys are a section of their own.
    assert sorted(data) == ["adopted", "files", "schema_version"]
    assert list(data["files"][PATH]) == ["net.ipv4.tcp_fin_timeout"]
    assert list(data["adopted"][PATH]) == [SOMAXCONN]
    assert records.load_state(f) == state
    assert records.known(state[PATH]) == {"net.ipv4.tcp_fin_timeout": "60"}
    # Another file taking somaxconn later inherits no value from an adopted key.
    assert records.first_records(state, "/etc/sysctl.d/95-other.conf") == {"net.ipv4.tcp_fin_timeout": "60"}


def test_a_file_deleted_by_hand_is_still_restored_from_its_records(env):
    # The operator removed the file; state=absent then restores the keys its records hold, none ignored.
    host = Host(env)
    host.present({SOMAXCONN: 8192, "net.ipv4.tcp_fin_timeout": 30})
    os.unlink(env.root + PATH)
    r = host.absent()
    assert host.ignored == {}
    assert [(e["key"], e["value"]) for e in r["restore"]] == [(SOMAXCONN, "4096"), ("net.ipv4.tcp_fin_timeout", "60")]
    assert (env.get("net/core/somaxconn"), env.get("net/ipv4/tcp_fin_timeout")) == ("4096", "60")
