# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The state file: the running values from before tcp_sysctl first set a key, per managed file.

load_state and save_state read and write it (JSON, root-only, atomically);
first_records gives a file's records for a plan; records_after gives them
after a run that writes.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import time

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.errors import SysctlError

STATE_FILE = "/var/lib/kerneltune/tcp_sysctl.json"
STATE_SCHEMA = 1
# Root-only: the records are root's (the directory 0700, the file 0600).
STATE_DIR_MODE = 0o700
STATE_FILE_MODE = 0o600


def load_state(state_file=STATE_FILE):
    """{managed path: {key: value}}; {} when there is no state file. SysctlError when it cannot be trusted."""
    try:
        with open(state_file, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (IOError, OSError) as e:
        if e.errno == errno.ENOENT:
            return {}
        raise SysctlError("%s: cannot read the state file: %s" % (state_file, e.strerror or e))
    except ValueError as e:
        raise SysctlError("%s: the state file is not valid JSON (%s); move it away to start over (its recorded "
                          "values are then lost)" % (state_file, e))
    files = data.get("files") if isinstance(data, dict) else None

    def record_ok(r):
        return isinstance(r, dict) and isinstance(r.get("value"), str) and r["value"].strip() != ""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(data, dict) or isinstance(version, bool) or not isinstance(version, int) \
            or version != STATE_SCHEMA or not isinstance(files, dict) \
            or not all(isinstance(keys, dict) and all(record_ok(r) for r in keys.values()) for keys in files.values()):
        raise SysctlError("%s: the state file is not schema_version %d of kerneltune.tcp.tcp_sysctl; move it away "
                          "to start over (its recorded values are then lost)" % (state_file, STATE_SCHEMA))
    return dict((p, dict((k, r["value"]) for k, r in keys.items())) for p, keys in files.items())


def save_state(state, state_file=STATE_FILE):
    """Write {managed path: {key: value}} atomically, root-only (0600 in a 0700 directory)."""
    directory = os.path.dirname(state_file)
    if not os.path.isdir(directory):
        os.makedirs(directory, STATE_DIR_MODE)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = {"schema_version": STATE_SCHEMA, "files": dict(
        (p, dict((k, {"value": v, "recorded": stamp}) for k, v in sorted(keys.items())))
        for p, keys in sorted(state.items()) if keys)}
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
        if other != path:
            for k, v in keys.items():
                out.setdefault(k, v)
    out.update(state.get(path, {}))
    return out


def records_after(records, result, inherited=None):
    """The records of one managed file after a run of state=present that writes.

    A key gets a record the first time this module changes its running value
    (the value before) or first puts it in the file (the running value then),
    unless another managed file recorded it first (INHERITED: that value, the
    host's own). Records stay until the file is removed (state=absent): a key
    that leaves the file keeps its running value, and its record, so a later
    state=absent, or the key coming back, still knows the value before.
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
