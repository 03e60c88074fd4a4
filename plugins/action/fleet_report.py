# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render and write the audit, diagnose or rollout fleet reports on the controller,
in one task: no module run, no copy per file. The options are validated here,
from ARGUMENT_SPEC, the one spec (plugins/modules/fleet_report.py only
documents them)."""

from __future__ import annotations

import os
import tempfile

from ansible.plugins.action import ActionBase

from ansible_collections.kerneltune.tcp.plugins.plugin_utils import reports

ARGUMENT_SPEC = dict(
    kind=dict(type="str", choices=["audit", "diagnose", "rollout"], required=True),
    records=dict(type="dict", default={}),
    hosts=dict(type="list", elements="str", default=[]),
    report_dir=dict(type="path"),
    paths=dict(type="dict", default={}),
    fail_on_drift=dict(type="bool", default=True),
    fail_on=dict(type="str", choices=["any", "new"], default="any"),
    baseline=dict(type="path"),
    merge=dict(type="list", elements="path", default=[]),
    rollout=dict(type="dict", default={}),
)


def _write_all(texts):
    """Write {path: text} all or nothing: every report goes to a temporary file beside its
    target first; only when all are written do they take their names, so a failure never
    leaves the last run's reports (a PASS) beside this run's (a FAIL)."""
    staged = []
    try:
        for path, text in texts.items():
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".kt-report-", dir=directory)
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


def report_paths(kind, report_dir, paths):
    """Every report's path: paths[k] if given, else report_dir (default: the
    controller process's working directory + /kerneltune-reports) + file name."""
    unknown = sorted(set(paths) - set(reports.REPORT_KINDS[kind]))
    if unknown:
        raise reports.ReportError("paths: unknown report %s for kind %s (known: %s)" % (
            ", ".join(unknown), kind, ", ".join(reports.REPORT_KINDS[kind])))
    base = report_dir or os.path.join(os.getcwd(), "kerneltune-reports")
    return dict((k, os.path.abspath(os.path.expanduser(paths.get(k) or os.path.join(
        base, reports.REPORT_FILES[kind][k])))) for k in reports.REPORT_KINDS[kind])


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _v, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        kind = args["kind"]
        records = dict(args["records"])
        hosts = list(args["hosts"])
        try:
            paths = report_paths(kind, args["report_dir"], args["paths"])
            if args["merge"]:
                if kind != "audit":
                    raise reports.ReportError("merge: only audit reports can be merged")
                m_records, m_hosts = reports.merge_audits(args["merge"])
                twice = sorted(set(hosts) & set(m_hosts))
                if twice:
                    raise reports.ReportError("merge: host %s is both in hosts and in a merged file" % twice[0])
                records.update(m_records)
                hosts += m_hosts
            if not hosts:
                raise reports.ReportError("hosts: no host was targeted, so nothing was checked")
            if kind == "audit":
                if args["baseline"] and os.path.abspath(os.path.expanduser(args["baseline"])) == paths["json"]:
                    raise reports.ReportError(
                        "baseline: %s is the audit.json this run writes; it would be replaced by this run, and a "
                        "rerun would compare with itself. Keep the previous audit under a path of its own"
                        % args["baseline"])
                baseline = reports.load_audit(args["baseline"]) if args["baseline"] else None
                if args["fail_on"] == "new" and baseline is None:
                    raise reports.ReportError("fail_on: new needs a baseline (a previous audit.json)")
                out = reports.audit_reports(records, hosts, baseline, args["fail_on"])
            elif kind == "rollout":
                if args["baseline"]:
                    raise reports.ReportError("baseline: only audits compare with a baseline")
                out = reports.rollout_reports(records, hosts, args["rollout"])
            else:
                if args["baseline"]:
                    raise reports.ReportError("baseline: only audits compare with a baseline")
                out = reports.diagnose_reports(records, hosts)
        except reports.ReportError as e:
            return dict(result, failed=True, msg=str(e))
        try:
            _write_all(dict((paths[k], out[k]) for k in reports.REPORT_KINDS[kind]))
        except OSError as e:
            return dict(result, failed=True, msg="could not write %s: %s" % (e.filename, e.strerror))
        result.update(changed=True, paths=paths, report_dir=os.path.dirname(paths["json"]),
                      markdown=out["markdown"])
        if kind == "audit":
            s = out["summary"]
            t = s["totals"]
            result["summary"] = {"totals": t, "status": s["status"], "passed": s["passed"], "changes": s["changes"],
                                 "fail_on": s["fail_on"],
                                 "unreachable": [h["host"] for h in s["hosts"] if h["status"] == "unreachable"],
                                 "errors": [h["host"] for h in s["hosts"] if h["status"] == "error"],
                                 "drift": [h["host"] for h in s["hosts"] if h["status"] in ("drift", "overridden")]}
            if not s["passed"]:
                if s["fail_on"] == "new" and s["changes"] is not None:
                    msg = ("audit failed: %d new drift since the baseline, %d hosts with errors, %d unreachable "
                           "(reports in %s)" % (s["changes"]["new"], t["errors"], t["unreachable"],
                                                result["report_dir"]))
                else:
                    msg = "audit failed: %d of %d hosts are not compliant (reports in %s)" % (
                        t["hosts"] - t["compliant"], t["hosts"], result["report_dir"])
                result["gate_msg"] = msg
                if args["fail_on_drift"]:
                    result.update(failed=True, msg=msg)
        elif kind == "rollout":
            s = out["summary"]
            result["summary"] = {
                "passed": s["passed"], "halted": s["halted"], "halted_at_batch": s["halted_at_batch"],
                "halt_reason": s["halt_reason"], "check_mode": s["check_mode"], "profile": s["profile"],
                "status": s["status"],
                "hosts": dict((st, [h["host"] for h in s["hosts"] if h["status"] == st])
                              for st in reports.ROLLOUT_STATUSES)}
            if out["gate"]:
                # The playbook fails on it after the summary is shown (fail_on_drift does not apply).
                result["gate_msg"] = "%s (reports in %s)" % (out["gate"], result["report_dir"])
        else:
            # Not "unreachable": Ansible reads a truthy "unreachable" key in a result as the host being unreachable.
            result.update(order=out["order"], errors=out["errors"], unreachable_hosts=out["unreachable"])
        return result
