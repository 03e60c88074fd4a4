#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: fleet_report is an action plugin (plugins/action/fleet_report.py), which validates its
# options from its one argument spec.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Write the audit, diagnose or rollout fleet reports on the controller
version_added: 0.1.0
description:
  - Renders the records that the C(kerneltune.tcp.audit), C(kerneltune.tcp.diagnose) or C(kerneltune.tcp.rollout)
    playbook collected and writes every report in one task, on the controller (an action plugin; nothing runs on the
    hosts).
  - Audit reports are JSON (schema in C(docs/schemas/audit.schema.json)), JUnit XML, Markdown and HTML; diagnose
    reports are JSON, Markdown and HTML with charts (no JUnit).
  - JUnit XML is written for audits and rollouts, not for diagnoses; it has a C(testsuites) root and one
    C(testsuite) per host.
  - Rollout reports (for the C(kerneltune.tcp.rollout) playbook) are JSON (schema in
    C(docs/schemas/rollout.schema.json)), JUnit XML, Markdown and HTML, with per host its batch, its result,
    the checks that failed and why, the runtime changes and the restore made, and whether and where the rollout
    halted.
  - Hosts in O(hosts) without a record, or whose record says unreachable, are reported as unreachable; a host
    with no profile is an error; neither ever passes. No host at all is an error.
  - Reports are written in check mode too, since they are the output of an audit, not a change to a host.
  - A run's reports are written together or not at all (each to a temporary file first, then renamed). Runs that
    write into the same directory at the same time take turns under an flock on the directory, so each directory
    holds one run's reports; a run that waits longer than 60 s fails without writing. A directory that cannot be
    locked (no read permission on it, NFS) is written without the lock.
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
    choices: [audit, diagnose, rollout]
    required: true
  records:
    description:
      - Host name to record (audit) or to the registered C(kerneltune.tcp.tcp_info) result (diagnose).
      - An audit record is C({profiles, unreachable}); a diagnose result with C(unreachable) is an unreachable
        host, one with C(failed) an error.
    type: dict
    default: {}
  hosts:
    description: Every host that was targeted. A string is one host.
    type: list
    elements: str
    default: []
  report_dir:
    description: Directory for the reports; default C(kerneltune-reports) in the controller process's working
      directory (not C($PWD) from the environment).
    type: path
  paths:
    description:
      - Overrides of single report paths, by format, C(json), C(markdown), C(html), and for audits and rollouts
        C(junit). Directories are created.
    type: dict
    default: {}
  fail_on_drift:
    description: For audits, fail (after writing the reports) unless the gate passes. With V(false) the verdict
      is returned in RV(summary) and RV(gate_msg).
    type: bool
    default: true
  fail_on:
    description:
      - V(any) fails on any drift, error or unreachable host. V(new) needs O(baseline) and fails on drift that is
        new since the baseline, on errors and on unreachable hosts; drift still present from the baseline passes.
    type: str
    choices: [any, new]
    default: any
  baseline:
    description: A previous C(audit.json); every drift is marked new, still (present) or resolved since it.
    type: path
  merge:
    description:
      - C(audit.json) files written by earlier audits (for example one per job slice) whose hosts and records
        are merged with O(records) and O(hosts) into one set of reports. A host in two files is an error.
    type: list
    elements: path
    default: []
  rollout:
    description:
      - For rollouts, what the playbook decided, C({profile, check_mode, halted, halt, batches,
        max_fail_percentage, complete}); C(halt) is C({batch, hosts, failed, max_fail_percentage}) of the batch that
        stopped the rollout (batch 0 for the hosts an interrupted run left unverified, checked before batch 1), or null;
        C(complete) is false in the reports written after each batch (default true).
      - O(records) holds each host's rollout record (batch, before, apply, checks, unmet, restore, recovery).
    type: dict
    default: {}
  context:
    description:
      - For audits, what was audited, shown in every report, C(pattern) (the host pattern) and C(limit) (the
        run's C(--limit), C(ansible_limit)); the collection version and the profiles are added by the task.
    type: dict
    default: {}
  namespaces:
    description:
      - For audits, what drift in the hosts' other network namespaces (containers, pods), which C(kerneltune.tcp.tcp_sysctl)
        returns with C(namespaces=all), means.
      - V(info) reports it in its own section of every report, and the verdict does not change. V(fail) also makes a
        host with such drift not compliant (reason C(namespace_drift)); with O(fail_on=new) it is reported and not
        compared with the baseline. V(off) says the namespaces were not scanned.
      - Keys that exist only in the host's namespace (absent or read-only in the others) are never drift.
    type: str
    choices: ['off', info, fail]
    default: info
"""

EXAMPLES = r"""
- name: Write the audit reports in ./kerneltune-reports
  kerneltune.tcp.fleet_report:
    kind: audit
    records: "{{ records }}"
    hosts: "{{ targets }}"

- name: Merge the reports of three sliced audit jobs, failing only on new drift
  kerneltune.tcp.fleet_report:
    kind: audit
    merge: [slice0/audit.json, slice1/audit.json, slice2/audit.json]
    baseline: last-week/audit.json
    fail_on: new
    report_dir: merged
"""

RETURN = r"""
paths:
  description: The reports written, by format (absolute paths).
  returned: success
  type: dict
  sample: {json: /ci/kerneltune-reports/audit.json, markdown: /ci/kerneltune-reports/audit.md}
report_dir:
  description: The directory of the JSON report.
  returned: success
  type: str
markdown:
  description: The Markdown summary.
  returned: success
  type: str
summary:
  description:
    - "For audits, the one set of counts every report uses: C(counts) (C(hosts) and each status: C(error),
      C(unreachable), C(not_compliant), C(compliant), which add up to C(hosts)), C(pass_percent), C(reasons) (how
      many not compliant hosts have runtime drift, boot-time drift, an overridden key), the failing hosts by status
      in C(failing), C(changes) since the baseline, C(context) (collection version, host pattern, limit, profiles),
      C(notes) (how many notes, on how many hosts, by kind: C(records_missing), C(shadowed)), C(namespaces) (the
      hosts' other network namespaces, O(namespaces): C(mode), C(hosts_scanned), C(namespaces) scanned, C(differ)
      those that differ, C(drifts) their namespace and key pairs, C(hosts) with such drift, C(unread) those that could
      not be read; with O(namespaces=fail) C(reasons) also counts C(namespace_drift)), C(passed) and C(fail_on)."
    - For rollouts, C(passed), C(halted), C(halted_at_batch), C(halt_reason), C(check_mode), C(profile),
      C(complete), the count of hosts by result in C(status) and the hosts by result in C(hosts).
  returned: kind is audit or rollout
  type: dict
  sample: {passed: false, fail_on: any, changes: null, pass_percent: 33.3,
           counts: {hosts: 3, error: 0, unreachable: 1, not_compliant: 1, compliant: 1},
           reasons: {runtime_drift: 1, boot_drift: 0, overridden: 0},
           notes: {notes: 0, hosts: 0, records_missing: 0, shadowed: 0},
           failing: {error: [], unreachable: [db3], not_compliant: [web2]},
           context: {collection_version: 0.1.0, pattern: all, limit: null, profiles: [web_frontend]}}
per_host:
  description:
    - "For audits, one short entry per host, C({status, fails_gate, keys, reason, notes}), C(status) as in
      RV(summary), C(fails_gate) whether the gate fails on this host (with O(fail_on=new), drift already in the
      baseline does not), C(keys) the keys that drift or are overridden, C(reason) one line of plain text, C(notes)
      the host's notes (information that does not change the verdict: a managed file without records, a key
      another file sets to another value that loses at boot), C(profile: text) each; their fixes are in the reports.
      Where some of the host's other network namespaces differ, C(namespaces) lists them, C(who: keys) each."
    - Small enough to publish with C(ansible.builtin.set_stats) (the audit playbook does, as C(kt_audit.hosts)).
  returned: kind is audit
  type: dict
  sample: {web1: {status: compliant, fails_gate: false, keys: [], reason: compliant, notes: []},
           web2: {status: not_compliant, fails_gate: true, keys: [net.core.somaxconn], notes: [],
                  reason: "runtime drift web_frontend net.core.somaxconn: 4096 -> 8192 (bound >= 8192)"}}
text:
  description:
    - The summary in plain text (no markup), for logs; the playbooks' Summary task prints it line by line.
    - For audits, the verdict, one line per host that is not compliant (the first 50), the notes (the first 50),
      where the reports are. The modules' warnings are shown again with their host.
    - For rollouts, the verdict, the counts by result, one line per host (batch, result, failed checks, errors,
      running values changed, what a restore did; the first 50), where the reports are.
    - For diagnoses, one line per host, worst first (TIME_WAIT, CLOSE_WAIT, the busiest destination, the
      findings), then the hosts whose probe failed and those unreachable.
  returned: success
  type: str
  sample: "audit FAIL: 1 of 2 hosts compliant (50%): 1 not compliant, 0 with errors, 0 unreachable.\nOf the 1 not
    compliant hosts: 1 with runtime drift, 0 with boot-time drift, 0 with a key overridden by a later file (a host
    can have more than one).\nweb2: not compliant: runtime drift web_frontend net.core.somaxconn: 4096 -> 8192
    (bound >= 8192)\nreports in /ci/kerneltune-reports"
gate_msg:
  description: Why the audit or rollout gate failed.
  returned: kind is audit or rollout and the gate failed
  type: str
  sample: "audit failed: 2 of 3 hosts fail the audit: 1 not compliant, 0 with errors, 1 unreachable (reports in
    /ci/kerneltune-reports)"
order:
  description: Diagnosed hosts, worst first.
  returned: kind is diagnose
  type: list
  elements: str
errors:
  description: Hosts whose probe failed, with the message.
  returned: kind is diagnose
  type: dict
unreachable_hosts:
  description:
    - Targeted hosts without a result.
    - Not named C(unreachable), which Ansible would read as this task's host being unreachable.
  returned: kind is diagnose
  type: list
  elements: str
"""
