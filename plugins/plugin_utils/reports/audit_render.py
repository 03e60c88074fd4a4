# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's reports (controller side): JSON, JUnit XML, Markdown and the HTML page (templates/audit.html.j2),
each rendered from audit.audit_summary's summary. Every renderer is renderer(summary, records, generated)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, common

_VERDICTS = {"compliant": "compliant", "unreachable": "unreachable", "error": "error",
             "drift": "NOT compliant", "overridden": "NOT compliant"}


def _runtime_change(e):
    """'key: running -> wanted' with the bound, when there is one, after it."""
    b = e.get("bounds")
    bound = " (bound %s)" % b["text"] if isinstance(b, dict) and b.get("text") else ""
    return "%s: %s -> %s%s" % (e["key"], e["runtime"], e["desired"], bound)


def _boot(e):
    """What the host boots with today, for a key with boot-time drift."""
    if e.get("source_before"):
        return "%s: boots with %s from %s, wants %s" % (
            e["key"], e.get("persisted_before"), e["source_before"], audit.want(e))
    return "%s: no file sets it (kernel default at boot), wants %s" % (e["key"], audit.want(e))


def _overridden(e):
    return "%s: %s by %s" % (e["key"], e["persisted"], e["overridden_by"])


def _detail(e):
    return ("desired=%s runtime=%s persisted=%s source=%s persisted_before=%s source_before=%s overridden_by=%s%s"
            % (e.get("desired"), e.get("runtime"), e.get("persisted"), e.get("source"), e.get("persisted_before"),
               e.get("source_before"), e.get("overridden_by"),
               " bounds=%s" % audit.want(e) if e.get("bounds") else ""))


def _change(e):
    return " [%s]" % e["change"] if e.get("change") else ""


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------

def audit_json(summary, records, generated=None):
    data = {"schema_version": common.SCHEMA_VERSION, "kind": "audit", "generated": common.iso_time(generated),
            "passed": summary["passed"], "fail_on": summary["fail_on"], "totals": summary["totals"],
            "status": summary["status"], "drifted_keys": summary["drifted_keys"], "changes": summary["changes"],
            "hosts": summary["hosts"], "records": records}
    return common.json_text(data)


# --------------------------------------------------------------------------
# JUnit
# --------------------------------------------------------------------------

class _Suite(object):
    """One host's testsuite while its cases are added, with its counts."""

    def __init__(self, element):
        self.element = element
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(self, classname, name, result=None, **attrs):
        """A testcase; with result ("failure", "error", "skipped") and its attributes, counted as such."""
        tc = common.xml_sub(self.element, "testcase", classname=classname, name=name or "-", time="0")
        self.counts["tests"] += 1
        if result is None:
            return None
        self.counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[result]] += 1
        return common.xml_sub(tc, result, **attrs)


def _setting_case(suite, cls, e, change):
    """A setting's testcase: a failure for drift or an override, skipped where the kernel lacks the key."""
    why = []
    if e["status"] == "overridden":
        why.append("overridden by %s" % e.get("overridden_by"))
    elif e["status"] in ("drift", "read_only"):
        if e.get("runtime_drift"):
            why.append("runtime drift")
        if e.get("persisted_drift"):
            why.append("boot-time drift")
    elif e["status"] == "unsupported":
        suite.case(cls, e["key"], "skipped", message="not available on this kernel")
        return
    if why:
        suite.case(cls, e["key"], "failure", message=", ".join(why) + (" [%s]" % change if change else ""),
                   type="drift").text = common.xml_text(_detail(e))
    else:
        suite.case(cls, e["key"])


def _profile_cases(suite, host, prof, changes):
    """A profile's testcases: its failure, its refusals, its settings."""
    name = prof["profile"]
    cls = "%s.%s" % (host, name)
    if prof.get("error"):
        suite.case(cls, "audit", "error", message="audit failed", type="error").text = common.xml_text(prof["error"])
    for f in (prof.get("result") or {}).get("findings", []):
        if f.get("severity") == "error":
            suite.case(cls, "rule %s" % f.get("rule"), "failure", message="refused: %s" % f.get("rule"),
                       type="refused").text = common.xml_text(f.get("message"))
    for e in (prof.get("result") or {}).get("settings", []):
        _setting_case(suite, cls, e, changes.get((name, e["key"])))


def _host_cases(suite, h, records):
    host = h["host"]
    if not h["reachable"]:
        suite.case(host, "reachable", "error", message="unreachable", type="unreachable").text = common.xml_text(
            "%s was unreachable; it is not compliant (%s)" % (host, h["errors"][0]))
    elif not h["profiles"] and h["errors"]:
        suite.case(host, "profile", "error", message="no profile", type="no_profile").text = common.xml_text(
            h["errors"][0])
    else:
        changes = {}
        for kind in audit.DRIFT_KINDS:
            for e in h[kind]:
                changes[(e["profile"], e["key"])] = e.get("change")
        for prof in records[host].get("profiles", []):
            _profile_cases(suite, host, prof, changes)


def audit_junit(summary, records, timestamp=None, elapsed=None):
    """JUnit XML: a testsuites root, one testsuite per host (Jenkins/Ant schema)."""
    ts = common.junit_time(timestamp)
    # The Jenkins/Ant schema allows no attribute on testsuites: the totals are the suites' sums.
    root = ET.Element("testsuites")
    for n, h in enumerate(summary["hosts"]):
        host = h["host"]
        suite = _Suite(common.xml_sub(root, "testsuite", name=host or "-", package="kerneltune.tcp.audit", id=str(n),
                                      hostname=host or "-", timestamp=ts,
                                      time="%.3f" % ((elapsed or {}).get(host, 0.0))))
        props = ET.SubElement(suite.element, "properties")
        common.xml_sub(props, "property", name="status", value=h["status"])
        common.xml_sub(props, "property", name="profiles", value=",".join(h["profiles"]))
        _host_cases(suite, h, records)
        ET.SubElement(suite.element, "system-out").text = common.xml_text(
            "; ".join("resolved since baseline: %s %s" % (e["kind"], e["key"]) for e in h["resolved"]))
        ET.SubElement(suite.element, "system-err").text = common.xml_text("\n".join(h["errors"]))
        for k in ("tests", "failures", "errors", "skipped"):
            suite.element.set(k, str(suite.counts[k]))
    return common.xml_document(root)


# --------------------------------------------------------------------------
# Markdown and HTML
# --------------------------------------------------------------------------

def _markdown_row(h):
    md = common.md
    return "| %s | %s | %s | %s | %s | %s | %s |" % (
        md(h["host"]), _VERDICTS[h["status"]], md(", ".join(h["profiles"])) or "-",
        "<br>".join(md(_runtime_change(e)) + _change(e) for e in h["runtime_drift"]) or "-",
        "<br>".join(md(_boot(e)) + _change(e) for e in h["boot_drift"]) or "-",
        "<br>".join(md(_overridden(e)) + _change(e) for e in h["overridden"]) or "-",
        "<br>".join(md(x) for x in h["errors"]) or "-")


def audit_markdown(summary, _records=None, _generated=None):
    t = summary["totals"]
    lines = [
        "# kerneltune.tcp audit",
        "",
        "**%s**: %d of %d hosts compliant; %d unreachable, %d with runtime drift, %d with boot-time drift, "
        "%d overridden, %d with errors." % ("PASS" if summary["passed"] else "FAIL", t["compliant"], t["hosts"],
                                            t["unreachable"], t["runtime_drift"], t["boot_drift"], t["overridden"],
                                            t["errors"]),
    ]
    if summary.get("changes") is not None:
        c = summary["changes"]
        lines += ["", "Since the baseline: %d new, %d still present, %d resolved." % (
            c["new"], c["still"], c["resolved"])]
    lines += [
        "",
        "| host | verdict | profiles | runtime drift | boot-time drift | overridden | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_markdown_row(h) for h in summary["hosts"]]
    resolved = [(h["host"], e) for h in summary["hosts"] for e in h["resolved"]]
    if resolved:
        lines += ["", "Resolved since the baseline:", ""]
        lines += ["- %s: %s (%s)" % (common.md(host), common.md(e["key"]), e["kind"].replace("_", " "))
                  for host, e in resolved]
    return "\n".join(lines) + "\n"


def audit_html(summary, _records=None, generated=None):
    hosts = []
    for h in summary["hosts"]:
        hosts.append(dict(h, verdict=_VERDICTS[h["status"]],
                          runtime_text=[(_runtime_change(e), e.get("change")) for e in h["runtime_drift"]],
                          boot_text=[(_boot(e), e.get("change")) for e in h["boot_drift"]],
                          over_text=[(_overridden(e), e.get("change")) for e in h["overridden"]]))
    return common.env().get_template("audit.html.j2").render(
        summary=summary, hosts=hosts, statuses=audit.STATUSES, generated=common.iso_time(generated))
