# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One tcp_sysctl task without AnsibleModule: its parameters in, the module's result out.

run() checks the options that depend on each other, reads the records, plans
(plan.plan), builds the result and the diff, and, outside check mode, carries
the plan out (transaction.run). A refusal or failure raises TaskFailed with
the message and the result to fail with.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import collections
import os

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import paths
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan as plan_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import records as records_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import transaction
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.errors import SysctlError

# check_mode, diff: the module's; kernel: the running release; detect_nat(): NAT detection;
# hooks: transaction.Hooks; state_file: where the records are kept.
Options = collections.namedtuple("Options", "check_mode diff kernel detect_nat hooks state_file", defaults=(
    False, False, None, None, None, records_lib.STATE_FILE))


class TaskFailed(Exception):
    """The task fails with MESSAGE and RESULT (the module's other return values); WARNINGS come first."""

    def __init__(self, message, result, warnings=()):
        super(TaskFailed, self).__init__(message)
        self.message = message
        self.result = result
        self.warnings = list(warnings)


def run(params, opts):
    """(result, warnings) of one task; TaskFailed on a refusal or a failed write."""
    base = dict(changed=False, path=params["path"], kernel=opts.kernel, settings=[], findings=[], runtime_changes=[],
                restore=[])
    restore = restore_option(params, base)
    try:
        path = paths.check_path(params["path"])
        state, state_unread = _load_records(opts)
    except SysctlError as e:
        raise TaskFailed(e.message, base)
    base["path"] = path
    inherited = records_lib.first_records(state, path)
    req = plan_lib.Request(
        params["settings"] or {}, path, state=params["state"], apply=params["apply"], nat=params["nat"],
        skip_missing=params["skip_missing"], allow=params["allow"],
        applier=None if params["applier"] == "auto" else params["applier"],
        nat_detect=opts.detect_nat if params["state"] == "present" else None, kernel_release=opts.kernel,
        restore=restore, records=state.get(path, {}), inherited=inherited)
    try:
        result = plan_lib.plan(req)
    except SysctlError as e:
        failed = dict(base, findings=e.findings)
        if e.nat is not None:
            failed["nat"] = e.nat
        raise TaskFailed(e.message, failed)
    if state_unread:
        result["findings"].append(_unread_finding(state_unread, params["state"]))
    warnings = [f["message"] for f in result["findings"] if f["severity"] == "warning"]
    job = _job(req, result, params["backup"], (opts.state_file, state))
    out = _result(base, result, job)
    if opts.diff:
        out["diff"] = diff(path, result)
    if opts.check_mode:
        return out, warnings
    try:
        done = transaction.run(job, opts.hooks)
    except transaction.TransactionError as e:
        failed = dict(out, changed=e.changed)
        if e.backup_file:
            failed["backup_file"] = e.backup_file
        raise TaskFailed(e.message, failed, warnings)
    if "backup_file" in done:
        out["backup_file"] = done["backup_file"]
    return out, warnings + done["warnings"]


def restore_option(params, base):
    """restore as the run uses it; TaskFailed when it contradicts state or apply."""
    restore = params["restore"]
    if restore is not None and params["state"] != "absent":
        raise TaskFailed("restore: only with state=absent (it says what removing the file does to the running "
                         "values); got restore=%s with state=%s" % (restore, params["state"]), base)
    if restore in ("boot", "previous") and not params["apply"]:
        raise TaskFailed("restore: %s sets running values, which apply=false forbids; use restore=none or "
                         "apply=true" % restore, base)
    if restore is None:
        restore = "boot" if params["apply"] else "none"
    return restore


def _load_records(opts):
    """(the state file's records, the state file when a check run cannot read it, else None)."""
    state_file = opts.state_file
    if opts.check_mode and os.path.exists(state_file) and not os.access(state_file, os.R_OK):
        # An audit without become: it reads everything else; only the records are root's.
        return {}, state_file
    return records_lib.load_state(state_file), None


def _unread_finding(state_file, state):
    return {
        "rule": "restore_unknown", "severity": "info", "key": None,
        "message": "%s is not readable by uid %d: this check-mode run does not know the values recorded before "
                   "the first change%s" % (state_file, os.geteuid(),
                                           ", so the restore shown may differ" if state == "absent" else ""),
    }


def _job(req, result, backup, state_file_and_state):
    """The transaction for RESULT; the records of this file after the run.

    Written before anything else on present (a failure then changes nothing), after everything
    on absent (the file and the values come first).
    """
    state_file, state = state_file_and_state
    perms = req.state == "present" and not result["file_changed"] and \
        transaction.perms_wrong(transaction.file_stat(req.path))
    after = dict(state)
    after[req.path] = records_lib.records_after(req.records, result, req.inherited) if req.state == "present" else {}
    return transaction.Job(req.path, req.state, result, perms, backup, transaction.Records(state_file, state, after))


def _result(base, result, job):
    out = dict(base)
    out.update(
        changed=transaction.changed(job),
        settings=result["entries"],
        findings=result["findings"],
        runtime_changes=["%s: %s -> %s" % (k, old, new) for k, _p, old, new in result["runtime_changes"]],
        restore=result["restore"],
        nat=result["nat"],
        applier=result["applier"],
        applier_name=result["applier_name"],
        applier_version=result["applier_version"],
    )
    return out


def diff(path, result):
    """The module's diff: the file, the running values, and a mode or owner that changes."""
    file_diff = {
        "before_header": path,
        "after_header": path,
        "before": result["old_text"] or "",
        "after": result["new_text"] or "",
    }
    runtime_diff = {
        "before_header": "running kernel (/proc/sys)",
        "after_header": "running kernel (/proc/sys)",
        "before": "".join("%s = %s\n" % (k, old if old is not None else "(absent)")
                          for k, _p, old, _n in result["runtime_changes"]),
        "after": "".join("%s = %s\n" % (k, new) for k, _p, _o, new in result["runtime_changes"]),
    }
    out = [file_diff, runtime_diff]
    st = transaction.file_stat(path)
    if result.get("new_text") is not None and transaction.perms_wrong(st):
        # A mode or owner that only changes is drift too: show it, not an empty diff.
        out.append({
            "before_header": "%s (mode, owner)" % path,
            "after_header": "%s (mode, owner)" % path,
            "before": "mode %04o, owner %d:%d\n" % (st.st_mode & transaction.MODE_BITS, st.st_uid, st.st_gid),
            "after": "mode 0644, owner 0:0\n",
        })
    return out
