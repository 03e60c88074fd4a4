# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render and write the audit or diagnose fleet reports on the controller,
in one task: no module run, no copy per file."""

from __future__ import annotations

import os
import tempfile

from ansible.plugins.action import ActionBase

from ansible_collections.kerneltune.tcp.plugins.plugin_utils import reports

KINDS = reports.REPORT_KINDS


def _write(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kt-report-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("kind", "records", "hosts", "paths", "fail_on_drift"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        kind = args.get("kind")
        records = args.get("records") or {}
        hosts = list(args.get("hosts") or [])
        paths = args.get("paths") or {}
        error = reports.check_report_args(kind, paths)
        if error:
            return dict(result, failed=True, msg=error)
        out = reports.audit_reports(records, hosts) if kind == "audit" else reports.diagnose_reports(records, hosts)
        try:
            for k in KINDS[kind]:
                _write(paths[k], out[k])
        except OSError as e:
            return dict(result, failed=True, msg="could not write %s: %s" % (e.filename, e.strerror))
        result.update(changed=True, paths=dict((k, paths[k]) for k in KINDS[kind]), markdown=out["markdown"])
        if kind == "audit":
            s = out["summary"]
            result["summary"] = {"totals": s["totals"], "passed": s["passed"]}
            if args.get("fail_on_drift", True) and not s["passed"]:
                t = s["totals"]
                result.update(failed=True, msg="audit failed: %d of %d hosts are not compliant (reports in %s)" % (
                    t["hosts"] - t["compliant"], t["hosts"], os.path.dirname(os.path.abspath(paths["json"]))))
        else:
            result.update(order=out["order"], unreachable=out["unreachable"])
        return result
