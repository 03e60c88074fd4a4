# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every fleet report in one table, and build(), which makes every report of a kind in one result shape.

A new format is a renderer, renderer(summary, records, generated) -> text, and its row in REPORTS; the
fleet_report action takes the formats and their default file names from there. A new kind is its summary,
gate and task result in KINDS and its formats in REPORTS."""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import (
    audit, audit_render, common, diagnose, rollout, rollout_render)

# {kind: {format: (default file name, renderer)}}
REPORTS = {
    "audit": {
        "json": ("audit.json", audit_render.audit_json),
        "junit": ("audit-junit.xml", audit_render.audit_junit),
        "markdown": ("audit.md", audit_render.audit_markdown),
        "html": ("audit.html", audit_render.audit_html),
    },
    "diagnose": {
        "json": ("diagnose.json", diagnose.diagnose_json),
        "markdown": ("diagnose.md", diagnose.diagnose_markdown),
        "html": ("diagnose.html", diagnose.diagnose_html),
    },
    "rollout": {
        "json": ("rollout.json", rollout_render.rollout_json),
        "junit": ("rollout-junit.xml", rollout_render.rollout_junit),
        "markdown": ("rollout.md", rollout_render.rollout_markdown),
        "html": ("rollout.html", rollout_render.rollout_html),
    },
}

# {kind: (summary(records, hosts, **options), gate(summary) -> why it fails or None,
#         task_result(summary) -> what the fleet_report task returns besides the paths and the Markdown)}
KINDS = {
    "audit": (audit.audit_summary, audit.audit_gate, audit.audit_task_result),
    "diagnose": (diagnose.diagnose_summary, diagnose.diagnose_gate, diagnose.diagnose_task_result),
    "rollout": (rollout.rollout_summary, rollout.rollout_gate, rollout.rollout_task_result),
}


# {kind: text(summary, report_dir) -> the summary in plain text, which the playbook's Summary task prints}
TEXTS = {
    "audit": audit_render.audit_text,
    "diagnose": diagnose.diagnose_text,
    "rollout": rollout_render.rollout_text,
}


def text(kind, summary, report_dir):
    """The kind's summary in plain text (no markup), or None for a kind without one."""
    return TEXTS[kind](summary, report_dir) if kind in TEXTS else None


def formats(kind):
    """The formats of a kind, in the table's order."""
    return list(REPORTS[kind])


def file_name(kind, fmt):
    """A report's default file name."""
    return REPORTS[kind][fmt][0]


def build(kind, records, hosts, **options):
    """Every report of a kind.

    options: for audits baseline (a previous audit.json, dict) and fail_on ("any", "new"); for rollouts rollout
    (what the playbook decided). Returns {"summary": the kind's summary, "files": {format: text},
    "gate": why the gate fails (None when it passes; a diagnosis has none), "task_result": {...}}.
    """
    summarize, gate, task_result = KINDS[kind]
    summary = summarize(records, hosts, **options)
    generated = common.now()
    return {"summary": summary,
            "files": dict((fmt, render(summary, records, generated)) for fmt, (_name, render) in REPORTS[kind].items()),
            "gate": gate(summary),
            "task_result": task_result(summary)}
