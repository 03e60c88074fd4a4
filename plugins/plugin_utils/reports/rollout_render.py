# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's reports (controller side): JSON, JUnit XML, Markdown and the HTML page
(templates/rollout.html.j2), each rendered from rollout.rollout_summary's summary. Every renderer is
renderer(summary, records, generated)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import common, rollout


def _verdict_line(summary, esc=lambda v: v):
    """The verdict in one sentence; esc makes host-derived text inert (md for Markdown)."""
    if summary["passed"]:
        return "PASS: every host %s." % ("would be changed or is already set (check mode)"
                                         if summary["check_mode"] else "kept the profile or already had it")
    if not summary.get("complete", True):
        return ("INCOMPLETE: the run has not finished (it was interrupted, or is still going): these reports show "
                "the batches done so far; %d host%s not reached yet%s." % (
                    summary["status"]["pending"], "" if summary["status"]["pending"] == 1 else "s",
                    ("; halted %s: %s" % (rollout.halt_place(summary), esc(summary["halt_reason"])))
                    if summary["halted"] else ""))
    if summary["halted"]:
        if summary["halted_at_batch"] == 0:
            return "FAIL: halted %s: %s." % (rollout.halt_place(summary), esc(summary["halt_reason"]))
        return "FAIL: halted at batch %s of %s: %s." % (
            summary["halted_at_batch"], summary["batches"], esc(summary["halt_reason"]))
    return "FAIL: %s." % esc(rollout.rollout_gate(summary))


def verdict_word(summary):
    """PASS, FAIL or INCOMPLETE (reports written after a batch of a run that has not finished)."""
    if not summary.get("complete", True):
        return "INCOMPLETE"
    return "PASS" if summary["passed"] else "FAIL"


def batch_text(h):
    """The batch column: the number, "recovery" for a host an interrupted run left unverified, "-" for none."""
    if h.get("recovery") is not None:
        return "recovery"
    return "-" if h["batch"] is None else str(h["batch"])


# Shown only when a host has them: the recovery of an interrupted run, and the hosts a report after a batch has not reached.
_RARE = ("recovered_verified", "recovered_restored", "pending")


def _rollout_counts(summary):
    return ", ".join("%d %s" % (summary["status"][k], "with errors" if k == "error" else rollout.ROLLOUT_RESULTS[k])
                     for k in rollout.ROLLOUT_STATUSES if k not in _RARE or summary["status"][k])


def rollout_json(summary, records, generated=None):
    data = {"schema_version": common.SCHEMA_VERSION, "kind": "rollout", "generated": common.iso_time(generated),
            "records": records}
    data.update(summary)
    return common.json_text(data)


def rollout_markdown(summary, _records=None, _generated=None):
    md = common.md
    lines = [
        "# kerneltune.tcp rollout: %s%s" % (md(summary["profile"]), " (check mode)" if summary["check_mode"] else ""),
        "",
        "**%s**:%s" % tuple(_verdict_line(summary, md).split(":", 1)),
        "",
        _rollout_counts(summary) + ".",
        "",
        "| host | batch | result | failed checks | runtime changes | restore |",
        "|---|---|---|---|---|---|",
    ]
    for h in summary["hosts"]:
        checks = ["%s: %s" % (c["check"], c["message"]) for c in h["checks"]] + h["errors"]
        restore = "-"
        if h["restore"] is not None:
            restore = "<br>".join(md(x) for x in h["restore"]["lines"])
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            md(h["host"]), batch_text(h), h["result"],
            "<br>".join(md(x) for x in checks) or "-", "<br>".join(md(x) for x in h["runtime_changes"]) or "-",
            restore))
    return "\n".join(lines) + "\n"


def _rollout_case(suite, cls, h, summary):
    """The host's "rollout" testcase with its result; the counts it adds."""
    counts = {"tests": 1, "failures": 0, "errors": 0, "skipped": 0}
    tc = common.xml_sub(suite, "testcase", classname=cls, name="rollout", time="0")
    if h["status"] == "recovered_restored":
        common.xml_sub(tc, "failure", message="recovered: failed checks: %s; restored" % ", ".join(
            c["check"] for c in h["checks"]), type="recovered_restored").text = common.xml_text(
                "\n".join(h["restore"]["lines"]))
        counts["failures"] += 1
    elif h["status"] == "pending":
        common.xml_sub(tc, "skipped", message="pending: the run has not finished, this host was not reached yet")
        counts["skipped"] += 1
    elif h["status"] == "restored":
        common.xml_sub(tc, "failure", message="failed checks: %s; restored" % ", ".join(
            c["check"] for c in h["checks"]), type="restored").text = common.xml_text("\n".join(h["restore"]["lines"]))
        counts["failures"] += 1
    elif h["status"] == "batch_restored":
        common.xml_sub(tc, "failure", message="restored: batch %s failed" % h["batch"],
                       type="batch_restored").text = common.xml_text("\n".join(h["restore"]["lines"]))
        counts["failures"] += 1
    elif h["status"] == "not_touched":
        common.xml_sub(tc, "skipped",
                       message="not touched: the rollout halted at batch %s" % summary["halted_at_batch"])
        counts["skipped"] += 1
    elif h["status"] in ("unreachable", "error"):
        common.xml_sub(tc, "error", message=h["status"], type=h["status"]).text = common.xml_text(
            "\n".join(h["errors"]))
        counts["errors"] += 1
    return counts


def rollout_junit(summary, _records=None, timestamp=None):
    """JUnit XML: one testsuite per host, a "rollout" case with the host's result and a case per failed check."""
    ts = common.junit_time(timestamp)
    root = ET.Element("testsuites")
    for n, h in enumerate(summary["hosts"]):
        host = h["host"]
        suite = common.xml_sub(root, "testsuite", name=host or "-", package="kerneltune.tcp.rollout", id=str(n),
                               hostname=host or "-", timestamp=ts, time="0.000")
        props = ET.SubElement(suite, "properties")
        common.xml_sub(props, "property", name="status", value=h["status"])
        common.xml_sub(props, "property", name="batch", value=batch_text(h))
        common.xml_sub(props, "property", name="profile", value=summary["profile"] or "-")
        common.xml_sub(props, "property", name="complete", value=str(summary.get("complete", True)).lower())
        cls = "%s.%s" % (host, "recovery" if h.get("recovery") is not None else "batch" + batch_text(h))
        counts = _rollout_case(suite, cls, h, summary)
        for c in h["checks"]:
            tc = common.xml_sub(suite, "testcase", classname=cls, name="check %s" % c["check"], time="0")
            common.xml_sub(tc, "failure", message=c["check"], type="check").text = common.xml_text(c["message"])
            counts["tests"] += 1
            counts["failures"] += 1
        ET.SubElement(suite, "system-out").text = common.xml_text("\n".join(h["runtime_changes"]))
        ET.SubElement(suite, "system-err").text = common.xml_text("\n".join(h["errors"]))
        for k in ("tests", "failures", "errors", "skipped"):
            suite.set(k, str(counts[k]))
    return common.xml_document(root)


def rollout_html(summary, _records=None, generated=None):
    hosts = [dict(h, batch_text=batch_text(h)) for h in summary["hosts"]]
    return common.env().get_template("rollout.html.j2").render(
        summary=summary, hosts=hosts, verdict=verdict_word(summary), halt_place=rollout.halt_place(summary)
        if summary["halted"] else "", statuses=rollout.ROLLOUT_STATUSES, results=rollout.ROLLOUT_RESULTS,
        verdict_text=_verdict_line(summary), counts=_rollout_counts(summary), gate=rollout.rollout_gate(summary),
        generated=common.iso_time(generated))


# --------------------------------------------------------------------------
# Plain text (CI logs, AWX job events)
# --------------------------------------------------------------------------

def host_line(h):
    """One host in plain text: its batch and result, then its failed checks, errors, changes and restore."""
    parts = ["%s (batch %s): %s" % (h["host"], batch_text(h), h["result"])]
    checks = ["%s: %s" % (c["check"], c["message"]) for c in h["checks"]]
    if checks:
        parts.append("failed checks: " + "; ".join(checks))
    parts += h["errors"]
    if h["runtime_changes"]:
        parts.append("changed: " + ", ".join(h["runtime_changes"]))
    if h["restore"] is not None:
        parts.append("restore: " + ", ".join(h["restore"]["lines"]))
    return " | ".join(parts)


def rollout_text(summary, report_dir):
    """The plain-text summary the playbook prints, as the audit's (common.plain_text): the verdict, the counts,
    one line per host, where the reports are."""
    head = ["rollout %s%s: %s" % (summary["profile"], " (check mode)" if summary["check_mode"] else "",
                                  _verdict_line(summary)),
            _rollout_counts(summary) + "."]
    return common.plain_text(head, [([host_line(h) for h in summary["hosts"]], "hosts")], report_dir)
