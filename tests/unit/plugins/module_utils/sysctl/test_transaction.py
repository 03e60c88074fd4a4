# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl's write transaction against temporary roots, at every step that can fail.

A temporary directory stands in for /proc/sys, another for the sysctl.d tree and
a third holds the state file. Each case asserts the running values, the files
and the records left behind, and the message word for word.
"""
import errno
import json
import os
import re
import stat
from pathlib import Path

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import records
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import transaction

from .sysctl_env import PATH

SETTINGS = {"net.ipv4.tcp_fin_timeout": 15, "net.ipv4.tcp_keepalive_time": 600, "net.ipv4.tcp_tw_reuse": 1}
OLD_FILE = render.HEADER + "net.ipv4.tcp_fin_timeout = 30\n"


class Run(object):
    """One run: the plan on the Env, the records, and the transaction's Job."""

    def __init__(self, env, tmp_path, settings=None, state="present", records_before=None, **kw):
        self.env = env
        self.path = env.root + PATH
        self.state_file = str(tmp_path / "state" / "tcp_sysctl.json")
        before = dict(records_before or {})
        if before:
            records.save_state(before, self.state_file)
        own = before.get(self.path, {})
        if state == "absent":
            kw.setdefault("restore", "boot")
        self.result = env.plan(settings, state=state, records=own, **kw)
        after = dict(before)
        after[self.path] = records.records_after(own, self.result) if state == "present" else {}
        self.before, self.after = before, after
        self.job = transaction.Job(self.path, state, self.result, False, False,
                                   transaction.Records(self.state_file, before, after), env.proc)

    def run(self, keep_copy=False, **hooks):
        job = self.job._replace(backup=keep_copy)
        return transaction.run(job, transaction.Hooks(**hooks))

    def fails(self, keep_copy=False, **hooks):
        with pytest.raises(transaction.TransactionError) as e:
            self.run(keep_copy, **hooks)
        return e.value

    def running(self):
        return tuple(self.env.get(k) for k in ("net/ipv4/tcp_fin_timeout", "net/ipv4/tcp_keepalive_time",
                                               "net/ipv4/tcp_tw_reuse"))

    def file(self):
        if not os.path.exists(self.path):
            return None
        with open(self.path) as f:
            return f.read()

    def leftovers(self):
        return sorted(n for n in os.listdir(os.path.dirname(self.path)) if n.startswith(".kerneltune-"))

    def records(self):
        return records.load_state(self.state_file)


def raising(err, text):
    def hook(*_args):
        raise OSError(err, text)
    return hook


BEFORE = ("60", "7200", "2")
AFTER = ("15", "600", "1")


def test_present_writes_records_file_and_running_values(env, tmp_path):
    r = Run(env, tmp_path, SETTINGS)
    assert r.run() == {"warnings": []}
    assert r.running() == AFTER
    assert r.file() == r.result["new_text"]
    assert stat.S_IMODE(os.stat(r.path).st_mode) == 0o644
    assert r.records() == {r.path: {"net.ipv4.tcp_fin_timeout": "60", "net.ipv4.tcp_keepalive_time": "7200",
                                    "net.ipv4.tcp_tw_reuse": "2"}}
    assert r.leftovers() == []


def test_records_that_cannot_be_saved_change_nothing(env, tmp_path):
    r = Run(env, tmp_path, SETTINGS)
    (tmp_path / "state").write_text("a file where the directory should be\n")
    e = r.fails()
    assert e.message == "%s: could not write the state file: Not a directory; nothing was changed" % r.state_file
    assert e.changed is False
    assert r.running() == BEFORE and r.file() is None and r.leftovers() == []
    assert (tmp_path / "state").read_text() == "a file where the directory should be\n"


def test_a_failed_backup_leaves_the_kernel_and_the_file(env, tmp_path):
    env.conf(PATH, OLD_FILE)
    r = Run(env, tmp_path, SETTINGS)
    e = r.fails(keep_copy=True, backup=raising(errno.ENOSPC, "No space left on device"))
    assert e.message == "%s: could not back up the file: No space left on device" % r.path
    assert e.changed is False
    assert r.running() == BEFORE and r.file() == OLD_FILE and r.leftovers() == []
    assert r.records() == {}  # put back: nothing recorded


def test_a_temporary_file_that_cannot_be_written_leaves_the_kernel(env, tmp_path):
    env.conf(PATH, OLD_FILE)
    r = Run(env, tmp_path, SETTINGS)
    e = r.fails(chown=raising(errno.EPERM, "Operation not permitted"))
    assert e.message == "%s: could not write the file: Operation not permitted" % r.path
    assert e.changed is False
    assert r.running() == BEFORE and r.file() == OLD_FILE and r.leftovers() == []
    assert r.records() == {}


def test_a_runtime_write_that_fails_half_way(env, tmp_path):
    r = Run(env, tmp_path, SETTINGS)
    # The third write (sorted by key) meets a directory where the kernel's file should be.
    os.unlink(os.path.join(env.proc, "net/ipv4/tcp_tw_reuse"))
    os.mkdir(os.path.join(env.proc, "net/ipv4/tcp_tw_reuse"))
    e = r.fails()
    assert e.message == ("net.ipv4.tcp_tw_reuse: the kernel refused value '1': Is a directory; restored "
                         "net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_time; the file was not changed")
    assert e.changed is False
    assert (env.get("net/ipv4/tcp_fin_timeout"), env.get("net/ipv4/tcp_keepalive_time")) == ("60", "7200")
    assert r.file() is None and r.leftovers() == []
    assert r.records() == {}


def test_a_runtime_write_refused_after_the_backup_leaves_no_copy(env, tmp_path):
    env.conf(PATH, OLD_FILE)
    r = Run(env, tmp_path, SETTINGS)
    os.unlink(os.path.join(env.proc, "net/ipv4/tcp_tw_reuse"))
    os.mkdir(os.path.join(env.proc, "net/ipv4/tcp_tw_reuse"))
    e = r.fails(keep_copy=True)
    assert e.message == ("net.ipv4.tcp_tw_reuse: the kernel refused value '1': Is a directory; restored "
                         "net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_time; the file was not changed")
    assert e.changed is False and e.backup_file is None
    assert sorted(os.listdir(os.path.dirname(r.path))) == [os.path.basename(r.path)]
    assert (env.get("net/ipv4/tcp_fin_timeout"), env.get("net/ipv4/tcp_keepalive_time")) == ("60", "7200")
    assert r.file() == OLD_FILE and r.records() == {}


def test_a_failed_rename_whose_rollback_fails_keeps_and_names_the_copy(env, tmp_path):
    env.conf(PATH, OLD_FILE)
    r = Run(env, tmp_path, SETTINGS)
    calls = []

    def writer(parts, text):
        calls.append(parts[-1])
        if len(calls) > 3 and parts[-1] == "tcp_fin_timeout":
            raise OSError(errno.EBUSY, "Device or resource busy")
        procsys.write_value(parts, text, env.proc)

    e = r.fails(keep_copy=True, writer=writer, move=raising(errno.EROFS, "Read-only file system"))
    assert e.changed is True
    assert e.message == ("%s: could not write the file: Read-only file system; restoring the running values "
                         "failed too: net.ipv4.tcp_fin_timeout: the kernel refused value '60': Device or resource "
                         "busy; restored net.ipv4.tcp_tw_reuse, net.ipv4.tcp_keepalive_time; the file was not changed" % r.path)
    assert re.match(re.escape(r.path) + r"\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$", e.backup_file)
    with open(e.backup_file) as f:
        assert f.read() == OLD_FILE


def test_a_runtime_write_refused_by_an_injected_writer(env, tmp_path):
    r = Run(env, tmp_path, SETTINGS)

    def writer(parts, text):
        if parts[-1] == "tcp_keepalive_time":
            raise OSError(errno.EINVAL, "Invalid argument")
        procsys.write_value(parts, text, env.proc)

    e = r.fails(writer=writer)
    assert e.message == ("net.ipv4.tcp_keepalive_time: the kernel refused value '600': Invalid argument; restored "
                         "net.ipv4.tcp_fin_timeout; the file was not changed")
    assert r.running() == BEFORE and r.file() is None and r.leftovers() == []


def test_a_failed_rename_puts_the_running_values_back(env, tmp_path):
    env.conf(PATH, OLD_FILE)
    r = Run(env, tmp_path, SETTINGS)
    e = r.fails(move=raising(errno.EROFS, "Read-only file system"))
    assert e.message == "%s: could not write the file: Read-only file system; running values restored" % r.path
    assert e.changed is False
    assert r.running() == BEFORE and r.file() == OLD_FILE and r.leftovers() == []
    assert r.records() == {}


def test_a_rename_onto_a_directory_puts_the_running_values_back(env, tmp_path):
    r = Run(env, tmp_path, SETTINGS)
    os.mkdir(r.path)
    with open(os.path.join(r.path, "x"), "w") as f:
        f.write("x")
    e = r.fails()
    assert e.message == "%s: could not write the file: Is a directory; running values restored" % r.path
    assert r.running() == BEFORE and r.leftovers() == [] and os.listdir(r.path) == ["x"]


def test_a_failed_rename_whose_rollback_fails_too_says_so(env, tmp_path):
    r = Run(env, tmp_path, SETTINGS)
    writes = []

    def writer(parts, text):
        writes.append(parts[-1])
        if len(writes) > 3 and parts[-1] == "tcp_keepalive_time":
            raise OSError(errno.EBUSY, "Device or resource busy")
        procsys.write_value(parts, text, env.proc)

    e = r.fails(writer=writer, move=raising(errno.EROFS, "Read-only file system"))
    assert e.message == (
        "%s: could not write the file: Read-only file system; restoring the running values failed too: "
        "net.ipv4.tcp_keepalive_time: the kernel refused value '7200': Device or resource busy; restored "
        "net.ipv4.tcp_tw_reuse; the file was not changed" % r.path)
    assert e.changed is True
    # apply_runtime undoes its own partial rollback: every running value stays at the new one.
    assert r.running() == AFTER
    assert r.file() is None and r.leftovers() == []
    assert r.records() == {}


def test_a_failed_rename_without_running_changes(env, tmp_path):
    r = Run(env, tmp_path, SETTINGS, apply=False)
    e = r.fails(move=raising(errno.EROFS, "Read-only file system"))
    assert e.message == "%s: could not write the file: Read-only file system" % r.path
    assert e.changed is False
    assert r.running() == BEFORE and r.file() is None and r.leftovers() == []


def test_backup_name_and_mode_only_change(env, tmp_path):
    env.conf(PATH, OLD_FILE)
    r = Run(env, tmp_path, SETTINGS)
    out = r.run(keep_copy=True)
    assert re.match(re.escape(r.path) + r"\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$", out["backup_file"])
    with open(out["backup_file"]) as f:
        assert f.read() == OLD_FILE
    os.chmod(r.path, 0o600)
    again = Run(env, tmp_path, SETTINGS)
    again.job = again.job._replace(perms=transaction.perms_wrong(transaction.file_stat(r.path)))
    assert again.job.perms is True and transaction.changed(again.job)
    again.run()
    assert stat.S_IMODE(os.stat(r.path).st_mode) == 0o644


def test_two_backups_in_one_second_keep_both(tmp_path, monkeypatch):
    monkeypatch.setattr(transaction.time, "strftime", lambda *_args: "2026-12-03@10:00:00")
    path = tmp_path / "90-kerneltune-tcp.conf"
    path.write_text("first\n")
    one = transaction.backup_copy(str(path))
    path.write_text("second\n")
    two = transaction.backup_copy(str(path))
    assert (one, two) == (str(path) + ".2026-12-03@10:00:00~", str(path) + ".2026-12-03@10:00:00.1~")
    assert (Path(one).read_text(), Path(two).read_text()) == ("first\n", "second\n")


def test_no_free_backup_name_fails_before_anything_changes(env, tmp_path, monkeypatch):
    monkeypatch.setattr(transaction.time, "strftime", lambda *_args: "2026-12-03@10:00:00")
    env.conf(PATH, OLD_FILE)
    r = Run(env, tmp_path, SETTINGS)
    stem = r.path + ".2026-12-03@10:00:00"
    taken = [stem + "~"] + [stem + ".%d~" % n for n in range(1, 100)]
    for name in taken:
        Path(name).write_text("an earlier copy\n")
    e = r.fails(keep_copy=True)
    assert e.message == "%s: could not back up the file: no free backup name" % r.path
    assert e.changed is False and e.backup_file is None
    assert r.running() == BEFORE and r.file() == OLD_FILE and r.leftovers() == [] and r.records() == {}
    assert all(Path(name).read_text() == "an earlier copy\n" for name in taken)


ABSENT_RECORDS = {"net.ipv4.tcp_fin_timeout": "60"}


def absent_run(env, tmp_path):
    env.conf(PATH, render.HEADER + "net.ipv4.tcp_fin_timeout = 15\n")
    env.set("net/ipv4/tcp_fin_timeout", "15")
    return Run(env, tmp_path, None, state="absent", records_before={env.root + PATH: ABSENT_RECORDS})


def test_absent_restores_removes_and_drops_the_records(env, tmp_path):
    r = absent_run(env, tmp_path)
    assert r.run() == {"warnings": []}
    assert env.get("net/ipv4/tcp_fin_timeout") == "60"
    assert r.file() is None
    assert r.records() == {}


def test_absent_whose_unlink_fails(env, tmp_path):
    r = absent_run(env, tmp_path)
    os.unlink(r.path)
    os.mkdir(r.path)
    e = r.fails()
    assert e.message == "%s: could not remove the file: Is a directory; running values restored" % r.path
    assert e.changed is False
    assert env.get("net/ipv4/tcp_fin_timeout") == "15"
    assert os.path.isdir(r.path)
    assert r.records() == {r.path: ABSENT_RECORDS}


def test_absent_whose_records_cannot_be_dropped_warns(env, tmp_path):
    r = absent_run(env, tmp_path)
    out = r.run(save=raising(errno.EROFS, "Read-only file system"))
    assert out == {"warnings": [
        "%s: could not drop the records of %s: Read-only file system; they are used again if the file comes back"
        % (r.state_file, r.path)]}
    assert env.get("net/ipv4/tcp_fin_timeout") == "60" and r.file() is None
    with open(r.state_file) as f:
        assert json.load(f)["files"][r.path]["net.ipv4.tcp_fin_timeout"]["value"] == "60"


def test_keys_adopted_on_a_run_that_changes_nothing_else_are_saved(env, tmp_path):
    # A file an earlier release wrote, already applied: nothing to change, but its keys become ours.
    env.conf(PATH, OLD_FILE)
    env.set("net/ipv4/tcp_fin_timeout", "30")
    r = Run(env, tmp_path, {"net.ipv4.tcp_fin_timeout": 30})
    assert not transaction.changed(r.job)
    r.job = r.job._replace(records=r.job.records._replace(after={r.path: records.adopt({}, OLD_FILE)}))
    assert r.run() == {"warnings": []}
    assert r.records() == {r.path: {"net.ipv4.tcp_fin_timeout": None}}
    with open(r.state_file) as f:
        assert json.load(f)["files"] == {}
    # Saving them fails like any records write: named, nothing changed.
    r.job = r.job._replace(records=r.job.records._replace(before={}))
    e = r.fails(save=raising(errno.EROFS, "Read-only file system"))
    assert e.message == "%s: could not write the state file: Read-only file system; nothing was changed" % (
        r.state_file) and e.changed is False


OTHER_OLD = render.HEADER + "# kerneltune.tcp bound: net.ipv4.tcp_fin_timeout max=30\nnet.ipv4.tcp_fin_timeout = 30\n"
OTHER_NEW = OTHER_OLD.replace("= 30", "= 15")


def with_other(env, tmp_path, mode=0o640):
    """A run that also rewrites another kerneltune file's bounded line (plan.rewrite_others), mode MODE."""
    r = Run(env, tmp_path, SETTINGS)
    other = env.root + "/etc/sysctl.d/95-kerneltune-other.conf"
    env.conf("/etc/sysctl.d/95-kerneltune-other.conf", OTHER_OLD)
    os.chmod(other, mode)
    r.job = r.job._replace(result=dict(r.result, other_files={other: (OTHER_OLD, OTHER_NEW)}))
    return r, other


def test_another_kerneltune_file_is_rewritten_atomically_keeping_its_mode(env, tmp_path):
    r, other = with_other(env, tmp_path)
    assert transaction.changed(r.job._replace(result=dict(r.result, file_changed=False, runtime_changes=[],
                                                          other_files={other: (OTHER_OLD, OTHER_NEW)})))
    assert r.run() == {"warnings": []}
    assert Path(other).read_text() == OTHER_NEW and stat.S_IMODE(os.stat(other).st_mode) == 0o640
    assert r.running() == AFTER and r.file() == r.result["new_text"] and r.leftovers() == []


def test_another_file_that_cannot_be_renamed_puts_everything_back(env, tmp_path):
    r, other = with_other(env, tmp_path)
    e = r.fails(move=raising(errno.EROFS, "Read-only file system"))
    assert e.message == "%s: could not write the file: Read-only file system; running values restored" % other
    assert e.changed is False
    assert Path(other).read_text() == OTHER_OLD and r.file() is None
    assert r.running() == BEFORE and r.leftovers() == [] and r.records() == {}


def test_our_file_that_cannot_be_renamed_puts_the_other_files_back(env, tmp_path):
    # The other kerneltune file is renamed before ours: when ours then fails (an immutable file, EPERM), the other
    # file gets its old text back, as the running values do, so "changed: false" is true.
    r, other = with_other(env, tmp_path)

    def move(tmp, path):
        if path == r.path:
            raise OSError(errno.EPERM, "Operation not permitted")
        os.replace(tmp, path)
    e = r.fails(move=move)
    assert e.message == "%s: could not write the file: Operation not permitted; running values restored" % r.path
    assert e.changed is False
    assert Path(other).read_text() == OTHER_OLD and stat.S_IMODE(os.stat(other).st_mode) == 0o640
    assert r.file() is None and r.running() == BEFORE and r.leftovers() == [] and r.records() == {}


def test_absent_whose_unlink_fails_puts_the_other_files_back(env, tmp_path):
    r = absent_run(env, tmp_path)
    other = env.root + "/etc/sysctl.d/95-kerneltune-other.conf"
    env.conf("/etc/sysctl.d/95-kerneltune-other.conf", OTHER_NEW)
    r.job = r.job._replace(result=dict(r.result, other_files={other: (OTHER_NEW, OTHER_OLD)}))
    os.unlink(r.path)
    os.mkdir(r.path)
    e = r.fails()
    assert e.message == "%s: could not remove the file: Is a directory; running values restored" % r.path
    assert e.changed is False
    assert Path(other).read_text() == OTHER_NEW and env.get("net/ipv4/tcp_fin_timeout") == "15"
    assert r.leftovers() == []
