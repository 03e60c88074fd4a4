# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render and write the audit, diagnose or rollout fleet reports on the controller,
in one task: no module run, no copy per file. The options are validated here,
from ARGUMENT_SPEC, the one spec (plugins/modules/fleet_report.py only
documents them)."""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_render, common, registry

ARGUMENT_SPEC = dict(
    kind=dict(type="str", choices=list(registry.REPORTS), required=True),
    records=dict(type="dict", default={}),
    hosts=dict(type="list", elements="str", default=[]),
    report_dir=dict(type="path"),
    paths=dict(type="dict", default={}),
    fail_on_drift=dict(type="bool", default=True),
    fail_on=dict(type="str", choices=["any", "new"], default="any"),
    baseline=dict(type="path"),
    merge=dict(type="list", elements="path", default=[]),
    rollout=dict(type="dict", default={}),
    context=dict(type="dict", default={}),
    namespaces=dict(type="str", choices=["off", "info", "fail"], default="info"),
)


# Runs that write into one report directory at once take turns under an flock on the directory itself (no lock
# file to travel with the reports, e.g. in AWX's artifacts; an flock ends with its holder, so a killed run leaves
# no stale lock), so each directory holds the reports of one run. Where the directory cannot be locked (no read
# permission on it, a filesystem without flock on directories, such as NFS) the run writes as it did before
# there was a lock: each file still whole, the set no longer guarded against a concurrent run.
TEMP_PREFIX = ".kt-report-"
LOCK_WAIT = 60


def _lock(directory, deadline):
    """An exclusive flock on DIRECTORY (its fd), waiting until DEADLINE (time.monotonic()) for another run to finish
    writing; None when the directory cannot be locked at all."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                return None
            if time.monotonic() >= deadline:
                os.close(fd)
                raise common.ReportError(
                    "report_dir: %s: another run has been writing its reports there for %g s (it holds the "
                    "directory's lock); give concurrent runs their own report directory" % (directory, LOCK_WAIT))
            time.sleep(0.05)


def _remove_stale(directory):
    """The temporary files a killed run left in DIRECTORY (called with the directory's lock held), best effort."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(TEMP_PREFIX):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass  # another user's, in a shared directory such as /tmp: theirs to remove


def _write_all(texts):
    """Write {path: text} all or nothing: every report goes to a temporary file beside its
    target first; only when all are written do they take their names, so a failure never
    leaves the last run's reports (a PASS) beside this run's (a FAIL). Under each directory's
    lock: two runs never mix their files, and the temporary files a killed run left are removed."""
    staged, locks = [], []
    directories = sorted(set(os.path.dirname(os.path.abspath(p)) for p in texts))
    try:
        for directory in directories:
            os.makedirs(directory, exist_ok=True)
        # Each directory once, however it is reached (a symbolic link, a bind mount): a second flock on the same
        # directory would wait on the first. In the order of their identity, whatever their names, so that two runs
        # never wait on each other; one deadline for them all.
        by_id = {}
        for directory in directories:
            st = os.stat(directory)
            by_id.setdefault((st.st_dev, st.st_ino), directory)
        deadline = time.monotonic() + LOCK_WAIT
        for _id, directory in sorted(by_id.items()):
            fd = _lock(directory, deadline)
            if fd is not None:
                locks.append(fd)
                _remove_stale(directory)
        for path, text in texts.items():
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=os.path.dirname(os.path.abspath(path)))
            staged.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _path in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for fd in locks:
            os.close(fd)


def report_paths(kind, report_dir, paths):
    """Every report's path: paths[k] if given, else report_dir (default: the
    controller process's working directory + /kerneltune-reports) + file name."""
    known = registry.formats(kind)
    unknown = sorted(set(paths) - set(known))
    if unknown:
        raise common.ReportError("paths: unknown report %s for kind %s (known: %s)" % (
            ", ".join(unknown), kind, ", ".join(known)))
    base = report_dir or os.path.join(os.getcwd(), "kerneltune-reports")
    return dict((k, os.path.abspath(os.path.expanduser(paths.get(k) or os.path.join(
        base, registry.file_name(kind, k))))) for k in known)


def _merged(args):
    """(records, hosts): the task's, with those of the audit.json files in merge."""
    records = dict(args["records"])
    hosts = list(args["hosts"])
    if args["merge"]:
        if args["kind"] != "audit":
            raise common.ReportError("merge: only audit reports can be merged")
        m_records, m_hosts = audit.merge_audits(args["merge"])
        twice = sorted(set(hosts) & set(m_hosts))
        if twice:
            raise common.ReportError("merge: host %s is both in hosts and in a merged file" % twice[0])
        records.update(m_records)
        hosts += m_hosts
    return records, hosts


def _options(args, paths):
    """registry.build's options for the task's kind, checked."""
    if args["kind"] != "audit":
        if args["baseline"]:
            raise common.ReportError("baseline: only audits compare with a baseline")
        if args["context"]:
            raise common.ReportError("context: only audits report what was audited")
        if args["namespaces"] == "fail":
            raise common.ReportError("namespaces: only audits judge the hosts' other network namespaces")
        return {"rollout": args["rollout"]} if args["kind"] == "rollout" else {}
    if args["baseline"] and os.path.abspath(os.path.expanduser(args["baseline"])) == paths["json"]:
        raise common.ReportError(
            "baseline: %s is the audit.json this run writes; it would be replaced by this run, and a "
            "rerun would compare with itself. Keep the previous audit under a path of its own" % args["baseline"])
    baseline = audit.load_audit(args["baseline"]) if args["baseline"] else None
    if args["fail_on"] == "new" and baseline is None:
        raise common.ReportError("fail_on: new needs a baseline (a previous audit.json)")
    return {"baseline": baseline, "fail_on": args["fail_on"], "context": args["context"],
            "namespaces": args["namespaces"]}


# --------------------------------------------------------------------------
# The modules' warnings
# --------------------------------------------------------------------------

def audit_warnings(records):
    """The modules' warnings (their findings of severity warning), each with its host and profile: Ansible prints
    a module's warnings without the host's name."""
    out = []
    for host in sorted(records):
        for entry in (records[host] or {}).get("profiles", []):
            for f in (entry.get("result") or {}).get("findings", []) or []:
                if isinstance(f, dict) and f.get("severity") == "warning":
                    out.append("%s: %s: %s" % (host, entry.get("profile"), f.get("message")))
    return out


def rollout_warnings(records):
    """The warnings tcp_sysctl gave when it applied the profile (a key a later file overrides, ...), each with its
    host: Ansible prints them without the host's name."""
    out = []
    for host in sorted(records):
        apply = (records[host] or {}).get("apply") or {}
        for w in apply.get("warnings") or []:
            out.append("%s: %s" % (host, w))
    return out


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _v, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        kind = args["kind"]
        try:
            paths = report_paths(kind, args["report_dir"], args["paths"])
            records, hosts = _merged(args)
            if not hosts:
                raise common.ReportError("hosts: no host was targeted, so nothing was checked")
            out = registry.build(kind, records, hosts, **_options(args, paths))
        except common.ReportError as e:
            return dict(result, failed=True, msg=str(e))
        try:
            _write_all(dict((paths[k], out["files"][k]) for k in registry.formats(kind)))
        except common.ReportError as e:
            return dict(result, failed=True, msg=str(e))
        except OSError as e:
            return dict(result, failed=True, msg="could not write %s: %s" % (e.filename, e.strerror))
        result.update(changed=True, paths=paths, report_dir=os.path.dirname(paths["json"]),
                      markdown=out["files"]["markdown"])
        result.update(out["task_result"])
        text = registry.text(kind, out["summary"], result["report_dir"])
        if text is not None:
            result["text"] = text
        if kind == "audit":
            result["per_host"] = audit_render.audit_per_host(out["summary"])
        for w in {"audit": audit_warnings, "rollout": rollout_warnings}.get(kind, lambda r: [])(records):
            Display().warning(w)
        if out["gate"]:
            # The audit fails here with fail_on_drift; the rollout playbook fails on it after the summary is shown.
            result["gate_msg"] = "%s (reports in %s)" % (out["gate"], result["report_dir"])
            if kind == "audit" and args["fail_on_drift"]:
                result.update(failed=True, msg=result["gate_msg"])
        return result
