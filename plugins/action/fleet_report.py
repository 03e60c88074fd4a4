# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render and write the audit or diagnose fleet reports on the controller,
in one task: no module run, no copy per file."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.kerneltune.tcp.plugins.module_utils import files
from ansible_collections.kerneltune.tcp.plugins.plugin_utils import reports

KINDS = reports.REPORT_KINDS

# The one argument spec (plugins/modules/fleet_report.py documents it; a unit
# test keeps the two in step). Validation converts types as modules do:
# hosts: "web1" is ["web1"], fail_on_drift: "false" is False.
ARGUMENT_SPEC = dict(
    kind=dict(type="str", choices=sorted(KINDS), required=True),
    records=dict(type="dict", required=True),
    hosts=dict(type="list", elements="str", required=True),
    paths=dict(type="dict", required=True, options=dict(
        json=dict(type="path"), junit=dict(type="path"), markdown=dict(type="path"), html=dict(type="path"))),
    fail_on_drift=dict(type="bool", default=True),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        try:
            args = self.validate_argument_spec(ARGUMENT_SPEC)[1]
        except AnsibleActionFail as e:
            return dict(result, failed=True, msg=e.message)
        kind, records, hosts, paths = args["kind"], args["records"], args["hosts"], args["paths"]
        paths = dict((k, v) for k, v in paths.items() if v)
        missing = [k for k in KINDS[kind] if k not in paths]
        if missing:
            return dict(result, failed=True, msg="paths: missing %s" % ", ".join(missing))
        out = reports.audit_reports(records, hosts) if kind == "audit" else reports.diagnose_reports(records, hosts)
        try:
            for k in KINDS[kind]:
                files.write_atomically(paths[k], out[k])
        except OSError as e:
            return dict(result, failed=True, msg="could not write %s: %s" % (e.filename, e.strerror))
        result.update(changed=True, paths=dict((k, paths[k]) for k in KINDS[kind]), markdown=out["markdown"])
        if kind == "audit":
            s = out["summary"]
            result["summary"] = {"totals": s["totals"], "passed": s["passed"]}
            if args["fail_on_drift"] and not s["passed"]:
                t = s["totals"]
                result.update(failed=True, msg="audit failed: %d of %d hosts are not compliant (reports in %s)" % (
                    t["hosts"] - t["compliant"], t["hosts"], os.path.dirname(os.path.abspath(paths["json"]))))
        else:
            result.update(order=out["order"], unreachable=out["unreachable"])
        return result
