# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The state file: the running values from before tcp_sysctl first set a key, per managed file.

load_state and save_state read and write it (JSON, root-only, atomically),
refusing a state directory or file that another user could have written;
Lock serialises the runs that write (the records, the managed file and the
running values); first_records gives a file's records for a plan;
records_after gives them after a run that writes; adopt marks the keys of a
file written by an earlier release (no records) as ours, value before
unknown (None).

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import tempfile
import time

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.errors import SysctlError

STATE_FILE = "/var/lib/kerneltune/tcp_sysctl.json"
STATE_SCHEMA = 1
# Root-only: the records are root's (the directory 0700, the file 0600).
STATE_DIR_MODE = 0o700
STATE_FILE_MODE = 0o600
# The lock beside the state file (tcp_sysctl.lock); how long a run waits for it by default, and between tries.
LOCK_TIMEOUT = 60
LOCK_POLL = 0.1
# Permission bits that let someone other than the owner write.
GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH


# The state's entry (never an absolute path) for the records of files that were removed: {path: {key: value}}. A
# later state=present of the same path takes them back (history_records), so a file removed and applied again (a
# rollout's restore of an earlier version) still knows the value from before kerneltune.tcp.
HISTORY = "history"


class StateUnreadable(SysctlError):
    """The state file exists but this uid cannot read it (an audit without become)."""


def lock_file(state_file=STATE_FILE):
    return os.path.splitext(state_file)[0] + ".lock"


def trusted_owners():
    """The uids a state directory or file may belong to: root, and the running uid."""
    return sorted({0, os.geteuid()})


def untrusted(path, st, what):
    """The refusal for PATH (its os.lstat) as the state WHAT, or None when it is trusted."""
    owners = trusted_owners()
    if stat.S_ISLNK(st.st_mode):
        reason = "it is a symbolic link"
    elif st.st_uid not in owners:
        reason = "it is owned by uid %d" % st.st_uid
    elif st.st_mode & GROUP_OTHER_WRITE:
        reason = "it is writable by %s" % (
            "group and others" if st.st_mode & GROUP_OTHER_WRITE == GROUP_OTHER_WRITE
            else "group" if st.st_mode & stat.S_IWGRP else "others")
    else:
        return None
    return ("%s: refusing the state %s: %s (owner uid %d, mode %04o); it must be owned by uid %s, not be a symbolic "
            "link and not be writable by group or others, or another user could plant records that this module "
            "then writes to the kernel; nothing was changed" % (
                path, what, reason, st.st_uid, stat.S_IMODE(st.st_mode), " or ".join(str(u) for u in owners)))


def check_trusted(path, what):
    """SysctlError when PATH exists and another user could have written it; whether it exists."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return False
        if e.errno == errno.EACCES:
            raise StateUnreadable("%s: cannot read the state %s: %s" % (path, what, e.strerror))
        raise SysctlError("%s: cannot read the state %s: %s" % (path, what, e.strerror or e))
    message = untrusted(path, st, what)
    if message:
        raise SysctlError(message)
    return True


def load_state(state_file=STATE_FILE):
    """{managed path: {key: value, or None for a key adopted with its value before unknown}}.

    {} when there is no state file. SysctlError when it cannot be trusted (StateUnreadable: this uid
    cannot read it).
    """
    if not check_trusted(os.path.dirname(state_file), "directory") or not check_trusted(state_file, "file"):
        return {}
    try:
        fd = os.open(state_file, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (IOError, OSError) as e:
        if e.errno == errno.ENOENT:
            return {}
        cls = StateUnreadable if e.errno == errno.EACCES else SysctlError
        raise cls("%s: cannot read the state file: %s" % (state_file, e.strerror or e))
    except ValueError as e:
        raise SysctlError("%s: the state file is not valid JSON (%s); move it away to start over (its recorded "
                          "values are then lost)" % (state_file, e))
    return _parse_state(state_file, data)


def _parse_state(state_file, data):
    """The records in DATA (the state file's JSON); SysctlError when they are of another shape."""
    files = data.get("files") if isinstance(data, dict) else None
    adopted = data.get("adopted", {}) if isinstance(data, dict) else None

    def record_ok(r):
        return isinstance(r, dict) and isinstance(r.get("value"), str) and r["value"].strip() != ""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(data, dict) or isinstance(version, bool) or not isinstance(version, int) \
            or version != STATE_SCHEMA or not isinstance(files, dict) or not isinstance(adopted, dict) \
            or not all(isinstance(keys, dict) and all(record_ok(r) for r in keys.values()) for keys in files.values()) \
            or not all(isinstance(keys, dict) for keys in adopted.values()):
        raise SysctlError("%s: the state file is not schema_version %d of kerneltune.tcp.tcp_sysctl; move it away "
                          "to start over (its recorded values are then lost)" % (state_file, STATE_SCHEMA))
    history = data.get(HISTORY, {})
    if not isinstance(history, dict) or not all(
            isinstance(keys, dict) and all(record_ok(r) for r in keys.values()) for keys in history.values()):
        raise SysctlError("%s: the state file is not schema_version %d of kerneltune.tcp.tcp_sysctl; move it away "
                          "to start over (its recorded values are then lost)" % (state_file, STATE_SCHEMA))
    out = dict((p, dict.fromkeys(keys)) for p, keys in adopted.items())
    for p, keys in files.items():
        out.setdefault(p, {}).update((k, r["value"]) for k, r in keys.items())
    if history:
        out[HISTORY] = dict((p, dict((k, r["value"]) for k, r in keys.items())) for p, keys in history.items())
    return out


def state_dir(state_file=STATE_FILE):
    """The state file's directory, made root-only when missing; SysctlError when it cannot be trusted."""
    directory = os.path.dirname(state_file)
    if not check_trusted(directory, "directory"):
        os.makedirs(directory, STATE_DIR_MODE, exist_ok=True)
        check_trusted(directory, "directory")
    return directory


def save_state(state, state_file=STATE_FILE):
    """Write {managed path: {key: value or None}} atomically, root-only (0600 in a 0700 directory).

    Recorded values go under "files" (as every release reads them); adopted keys (None) under "adopted",
    which releases before it ignore.
    """
    try:
        directory = state_dir(state_file)
    except SysctlError as e:
        raise OSError(errno.EPERM, e.message)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def section(adopted):
        return dict((p, dict((k, {"recorded": stamp} if adopted else {"value": v, "recorded": stamp})
                             for k, v in sorted(keys.items()) if (v is None) == adopted))
                    for p, keys in sorted(state.items())
                    if p != HISTORY and any((v is None) == adopted for v in keys.values()))
    data = {"schema_version": STATE_SCHEMA, "files": section(False)}
    if section(True):
        data["adopted"] = section(True)
    history = dict((p, dict((k, {"value": v, "recorded": stamp}) for k, v in sorted(keys.items())))
                   for p, keys in sorted(state.get(HISTORY, {}).items()) if keys)
    if history:
        data[HISTORY] = history
    fd, tmp = tempfile.mkstemp(prefix=".tcp_sysctl-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, STATE_FILE_MODE)
        os.rename(tmp, state_file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def first_records(state, path):
    """{key: value} for PATH's plan: its own records, else those another managed file took first.

    The value a key had before any of our files changed it is the one to go
    back to: a second file that sets the key later finds our first file's value
    running, not the host's own.
    """
    out = {}
    for other, keys in sorted(state.items()):
        if other not in (path, HISTORY):
            for k, v in keys.items():
                if v is not None:
                    out.setdefault(k, v)
    out.update(known(state.get(path, {})))
    return out


def history_records(state, path):
    """{key: value} PATH's records kept when it was removed (state=absent), for a state=present that finds none."""
    return dict(state.get(HISTORY, {}).get(path, {}))


def with_history(state, path, records, removed):
    """STATE's history after a run on PATH: REMOVED (state=absent) keeps RECORDS' known values (over what the
    history held); a run that keeps the file drops PATH from it (its records are the file's again)."""
    history = dict(state.get(HISTORY, {}))
    if removed:
        kept = dict(history.get(path, {}))
        kept.update(known(records))
        history[path] = kept
    else:
        history.pop(path, None)
    out = dict(state)
    out.pop(HISTORY, None)
    if any(history.values()):
        out[HISTORY] = dict((p, k) for p, k in history.items() if k)
    return out


def known(records):
    """RECORDS without the adopted keys (whose value before is unknown)."""
    return dict((k, v) for k, v in records.items() if v is not None)


def adopt(records, old_text):
    """RECORDS with every key our file already set (OLD_TEXT) and no record marked adopted (None).

    A file an earlier release wrote has no records: its keys become ours, the value before them unknown, so
    later runs (and the audit) know the file is ours and restore says what it cannot know.
    """
    out = dict(records)
    for key in render.file_keys(old_text):
        out.setdefault(key, None)
    return out


class Lock(object):
    """The lock beside the state file, held by a run that writes: the records, the file, the running values.

    flock on tcp_sysctl.lock (0600, in the root-only state directory), which holds the holder's pid. A run
    waits up to TIMEOUT seconds, then SysctlError names the holder; the lock goes with the process, so a run
    that dies never leaves it held.
    """

    def __init__(self, state_file=STATE_FILE, timeout=LOCK_TIMEOUT):
        self.path = lock_file(state_file)
        self.state_file = state_file
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        flags = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            state_dir(self.state_file)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | flags, STATE_FILE_MODE)
            except OSError as e:
                if e.errno != errno.EROFS:
                    raise
                # A read-only state directory: still one run at a time (flock needs no write access); saving the
                # records then fails and says so, changing nothing.
                fd = os.open(self.path, os.O_RDONLY | flags)
        except OSError as e:
            if e.errno == errno.ELOOP:
                check_trusted(self.path, "lock")  # a symbolic link: says so
            raise SysctlError("%s: cannot open the lock: %s; %snothing was changed" % (
                self.path, e.strerror or e, "run as root (become: true); " if os.geteuid() != 0 else ""))
        try:
            message = untrusted(self.path, os.fstat(fd), "lock")
            if message:
                raise SysctlError(message)
            self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self._pid(("%d\n" % os.getpid()).encode())
        return self

    def _pid(self, data):
        """Write the holder's pid (DATA), or b"" when done; a read-only lock file keeps the last one."""
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)
        except OSError:
            pass

    def _wait(self, fd):
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        raise SysctlError("%s: cannot lock: %s; nothing was changed" % (self.path, e.strerror))
                    raise SysctlError(
                        "%s: another tcp_sysctl run (pid %s) holds the lock on the records; waited lock_timeout=%g "
                        "s for it; nothing was changed" % (self.path, _holder(fd), self.timeout))
            time.sleep(LOCK_POLL)

    def __exit__(self, *_exc):
        if self.fd is not None:
            self._pid(b"")
            os.close(self.fd)  # releases the flock
            self.fd = None
        return False


def _holder(fd):
    """The pid the lock file names, or "unknown"."""
    data = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return data if data.isdigit() else "unknown"


def records_after(records, result, inherited=None):
    """The records of one managed file after a run of state=present that writes.

    A key gets a record the first time this module changes its running value
    (the value before) or first puts it in the file (the running value then),
    unless another managed file recorded it first (INHERITED: that value, the
    host's own). Records stay until the file is removed (state=absent): a key
    that leaves the file keeps its running value, and its record, so the key
    coming back still knows the value before; state=absent restores only the
    keys the file sets (task: the other records are ignored with a warning).
    """
    inherited = inherited or {}
    old_keys = render.file_keys(result["old_text"])
    new_keys = render.file_keys(result["new_text"])
    out = dict(records)

    def take(key, value):
        if key not in out and value is not None:
            out[key] = inherited.get(key, value)
    for key, _parts, old, _new in result["runtime_changes"]:
        take(key, old)
    for e in result["entries"]:
        if e["key"] in new_keys and e["key"] not in old_keys:
            take(e["key"], e["runtime"])
    return out
