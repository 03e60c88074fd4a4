#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Write the audit or diagnose fleet reports on the controller
version_added: 0.1.0
description:
  - Renders the records that the C(kerneltune.tcp.audit) or C(kerneltune.tcp.diagnose) playbook collected and
    writes every report in one task, on the controller (an action plugin; nothing runs on the hosts).
  - Audit reports are JSON, JUnit XML, Markdown and HTML; diagnose reports are JSON, Markdown and HTML with charts.
  - Hosts in O(hosts) without a record are reported as unreachable, never as passing.
  - Reports are written in check mode too, since they are the output of an audit, not a change to a host.
  - This file holds the documentation only; the action plugin of the same name runs the task and validates its
    arguments (with type conversion) against these options.
author:
  - kerneltune.tcp maintainers (@kerneltune)
extends_documentation_fragment:
  - kerneltune.tcp.attributes
attributes:
  check_mode:
    support: full
    details: Writes the reports in check mode too.
  diff_mode:
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: Runs on the controller (an action plugin); nothing runs on the hosts.
options:
  kind:
    description: Which reports.
    type: str
    choices: [audit, diagnose]
    required: true
  records:
    description: Host name to record (audit) or to C(kerneltune.tcp.tcp_info) result (diagnose).
    type: dict
    required: true
  hosts:
    description: Every host that was targeted.
    type: list
    elements: str
    required: true
  paths:
    description:
      - Where to write each report, by kind. Directories are created.
    type: dict
    required: true
    suboptions:
      json:
        description: The JSON report.
        type: path
      junit:
        description: The JUnit XML report (audits only, required for them).
        type: path
      markdown:
        description: The Markdown report.
        type: path
      html:
        description: The HTML report.
        type: path
  fail_on_drift:
    description: For audits, fail (after writing the reports) unless every host complies.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Write the audit reports
  kerneltune.tcp.fleet_report:
    kind: audit
    records: "{{ records }}"
    hosts: "{{ targets }}"
    paths:
      json: reports/audit.json
      junit: reports/audit-junit.xml
      markdown: reports/audit.md
      html: reports/audit.html
"""

RETURN = r"""
paths:
  description: The reports written, by kind.
  returned: success
  type: dict
  sample: {json: reports/audit.json, markdown: reports/audit.md}
markdown:
  description: The Markdown summary.
  returned: success
  type: str
summary:
  description: Audit totals and verdict.
  returned: kind is audit
  type: dict
  sample: {passed: false, totals: {hosts: 4, compliant: 1, unreachable: 1}}
order:
  description: Diagnosed hosts, worst first.
  returned: kind is diagnose
  type: list
  elements: str
unreachable:
  description: Targeted hosts without a result.
  returned: kind is diagnose
  type: list
  elements: str
"""
