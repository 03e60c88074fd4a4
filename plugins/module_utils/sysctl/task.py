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

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import boot
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import namespaces as namespaces_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import paths
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan as plan_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import records as records_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import transaction
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.errors import SysctlError

# check_mode, diff: the module's; kernel: the running release; detect_nat(): NAT detection;
# hooks: transaction.Hooks; state_file: where the records are kept (its lock beside it).
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
    """(result, warnings) of one task; TaskFailed on a refusal or a failed write.

    A run that writes holds the records' lock (records.Lock) from before it reads the records until the
    transaction is done; check mode reads only and takes no lock.
    """
    base = dict(changed=False, path=params["path"], kernel=opts.kernel, settings=[], findings=[], runtime_changes=[],
                restore=[], rewritten=[])
    restore = restore_option(params, base)
    if params.get("namespaces") == "all" and params["state"] != "present":
        raise TaskFailed(namespaces_lib.NOT_PRESENT, base)
    timeout = lock_timeout(params, base)
    try:
        base["path"] = paths.check_path(params["path"])
    except SysctlError as e:
        raise TaskFailed(e.message, base)
    if opts.check_mode:
        return _run(params, opts, base, restore)
    lock = records_lib.Lock(opts.state_file, timeout)
    try:
        lock.__enter__()
    except SysctlError as e:
        raise TaskFailed(e.message, base)
    try:
        return _run(params, opts, base, restore)
    finally:
        lock.__exit__()


def _run(params, opts, base, restore):
    """The task once the path is valid (and, outside check mode, the lock held)."""
    path = base["path"]
    try:
        state, state_unread = _load_records(opts)
    except SysctlError as e:
        raise TaskFailed(e.message, base)
    own = state.get(path) or {}
    if params["state"] == "present" and not own:
        # Removed before and applied again: the values from before kerneltune.tcp that its removal kept.
        own = records_lib.history_records(state, path)
    own, ignored = own_records(path, params["state"], own)
    inherited = records_lib.first_records(dict(state, **{path: own}), path)
    req = plan_lib.Request(
        params["settings"] or {}, path, state=params["state"], apply=params["apply"], nat=params["nat"],
        skip_missing=params["skip_missing"], allow=params["allow"],
        applier=None if params["applier"] == "auto" else params["applier"],
        nat_detect=opts.detect_nat if params["state"] == "present" else None, kernel_release=opts.kernel,
        restore=restore, records=records_lib.known(own), inherited=inherited,
        writable_as_root=opts.check_mode and os.geteuid() != 0)
    try:
        result = plan_lib.plan(req)
    except SysctlError as e:
        failed = dict(base, findings=e.findings)
        if e.nat is not None:
            failed["nat"] = e.nat
        raise TaskFailed(e.message, failed)
    add_shadowed(req, result)
    result["findings"].extend(_record_findings(req, result, (opts.state_file, state_unread), own, ignored))
    warnings = [f["message"] for f in result["findings"] if f["severity"] == "warning"]
    job = _job(req, result, params["backup"], (opts.state_file, state, own))
    out = _result(base, result, job)
    if params.get("namespaces") == "all":
        # Read only, in check mode and in a real run alike: changed, the diff and the host's entries stay as they are.
        out["namespaces"], out["namespaces_unreadable"] = namespaces_lib.scan(result["entries"],
                                                                              result.get("bounds_merged"))
        blind = namespaces_lib.netns.unreadable_warning(out["namespaces_unreadable"])
        if blind:
            warnings.append(blind)
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


def lock_timeout(params, base):
    """lock_timeout in seconds; TaskFailed when it is negative."""
    timeout = params.get("lock_timeout")
    if timeout is None:
        return records_lib.LOCK_TIMEOUT
    if timeout < 0:
        raise TaskFailed("lock_timeout: %g is not a number of seconds (0 or more) to wait for another run" % timeout,
                         base)
    return timeout


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
    """(the state file's records, the reason a check run cannot read them, else None)."""
    try:
        return records_lib.load_state(opts.state_file), None
    except records_lib.StateUnreadable as e:
        if not opts.check_mode:
            raise
        # An audit without become: it reads everything else; only the records are root's.
        return {}, e.message


def own_records(path, state, own, boot_root=""):
    """(this file's records, {key: value} of those ignored): state=absent restores only keys the file sets. A file
    that is gone already (deleted by hand) sets nothing any more: its own records are all that is left of it, and
    they are restored (the state directory is trusted only when root owns it, checked before)."""
    if state != "absent":
        return own, {}
    text = render.read_file(path, boot_root)
    if text is None:
        return own, {}
    sets = render.file_keys(text)
    return dict((k, v) for k, v in own.items() if k in sets), dict((k, v) for k, v in own.items() if k not in sets)


def _record_findings(req, result, state_file_and_unread, own, ignored):
    """The findings about the records: unreadable, ignored, or a managed file without them."""
    state_file, unread = state_file_and_unread
    if unread:
        return [{"rule": "restore_unknown", "severity": "info", "key": None,
                 "message": "%s; this check-mode run as uid %d reads the running values and the sysctl.d files but "
                            "not the values recorded before the first change%s"
                            % (unread, os.geteuid(), ", so the restore shown may differ" if req.state == "absent"
                               else "")}]
    out = []
    if ignored:
        out.append({"rule": "records_ignored", "severity": "warning", "key": None,
                    "message": "%s: records for keys the file does not set are ignored: %s; their running values "
                               "are left as they are" % (req.path, ", ".join(
                                   "%s (recorded %s)" % (k, "as adopted" if v is None else v)
                                   for k, v in sorted(ignored.items())))})
    missing = sorted(k for k in render.file_keys(result["old_text"]) if k not in own)
    if req.state == "present" and missing:
        message = "%s: a managed file with no records in %s for %s (written by an earlier release, or the state " \
                  "file was moved away): the values before it are unknown; a run with state=present records these " \
                  "keys as adopted" % (req.path, state_file, ", ".join(missing))
        out.append({"rule": "records_missing", "severity": "info", "key": None, "message": message})
    return out


def add_shadowed(req, result):
    """Each entry's C(shadowed): the other files' lines that set the key to another value and lose at boot today
    (the modelled applier, before this run's change), [{path, line, value}] in the order the applier reads them.
    Our own file is left out (a later file beating it is C(overridden))."""
    if not result["entries"]:
        return
    version = tuple(int(v) for v in result["applier_version"].split(".") if v.isdigit()) or None
    parts_of = dict((e["key"], keys.key_to_path_parts(e["key"])) for e in result["entries"])
    runtime = dict((e["key"], e.get("runtime")) for e in result["entries"])
    key_of = dict((p, k) for k, p in parts_of.items())

    def valid(parts, value):
        return values.kernel_value(key_of[parts], value, runtime.get(key_of[parts]))

    defs = boot.definitions(result["applier_name"], req.boot_root, None, version, parts_of.values(), valid)
    for e in result["entries"]:
        won = e.get("persisted_before")
        won = None if won is None else values.normalize(e["key"], won)
        e["shadowed"] = [{"path": path, "line": lineno, "value": value}
                         for value, path, lineno in defs.get(parts_of[e["key"]], [])
                         if path != req.path and values.normalize(e["key"], value) != won]


def _job(req, result, backup, state_file_and_state):
    """The transaction for RESULT; the records of this file after the run.

    Written before anything else on present (a failure then changes nothing), after everything
    on absent (the file and the values come first).
    """
    state_file, state, own = state_file_and_state
    perms = req.state == "present" and not result["file_changed"] and \
        transaction.perms_wrong(transaction.file_stat(req.path))
    after = records_lib.with_history(state, req.path, own, req.state == "absent")
    after[req.path] = records_lib.adopt(records_lib.records_after(own, result, req.inherited), result["old_text"]) \
        if req.state == "present" else {}
    return transaction.Job(req.path, req.state, result, perms, backup, transaction.Records(state_file, state, after))


def _result(base, result, job):
    out = dict(base)
    out.update(
        changed=transaction.changed(job),
        settings=result["entries"],
        findings=result["findings"],
        runtime_changes=["%s: %s -> %s" % (k, old, new) for k, _p, old, new in result["runtime_changes"]],
        restore=result["restore"],
        rewritten=result.get("rewritten", []),
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
    # Another kerneltune file whose bounded line this run rewrites: one entry per file, named by it.
    for other, (old, new) in sorted((result.get("other_files") or {}).items()):
        out.append({"before_header": other, "after_header": other, "before": old, "after": new})
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
