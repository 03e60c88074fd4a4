# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's reports (controller side): JSON, JUnit XML, Markdown and the HTML page (templates/audit.html.j2),
each rendered from audit.audit_summary's summary, whose counts are the only counts they show. Every renderer is
renderer(summary, records, generated)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, common


def _change(row):
    return " [%s]" % row["change"] if row.get("change") else ""


def _wanted(e):
    """The value wanted, with what tcp_sysctl would set for a bound."""
    b = e.get("bounds")
    if isinstance(b, dict) and b.get("text"):
        return "%s (would set %s)" % (b["text"], audit.value(e.get("desired")))
    return audit.value(e.get("desired"))


def key_line(row):
    """One key that is not as wanted, on one line: what the host has and what the profile wants."""
    return u"%s (%s): wanted %s; running %s; at boot %s; %s" % (
        row["key"], row["profile"], row["wanted"], audit.value(row["running"]), row["boot_text"],
        ", ".join(row["problems"]))


def context_line(summary, generated):
    """What was audited: version, host pattern, --limit, profiles and time."""
    c = summary["context"]
    return u"kerneltune.tcp %s; host pattern %s; %s; profiles: %s; generated %s." % (
        c["collection_version"], c["pattern"] or "(not given)",
        "--limit %s" % c["limit"] if c["limit"] else "no --limit", ", ".join(c["profiles"]) or "none", generated)


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------

def audit_json(summary, records, generated=None):
    data = {"schema_version": audit.SCHEMA_VERSION, "kind": "audit", "generated": common.iso_time(generated),
            "passed": summary["passed"], "fail_on": summary["fail_on"], "counts": summary["counts"],
            "pass_percent": summary["pass_percent"], "reasons": summary["reasons"], "context": summary["context"],
            "drifted_keys": summary["drifted_keys"], "changes": summary["changes"],
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


def failure_text(host, e, profile):
    """A failing key's body: what the host has (running, at boot and from where), what is wanted, the fix."""
    row = audit.key_row(e, profile)
    return "\n".join([
        u"%s on %s (profile %s)" % (e["key"], host, profile),
        u"running: %s" % audit.value(e.get("runtime")),
        u"at boot: %s" % row["boot_text"],
        u"wanted: %s" % _wanted(e),
        u"problem: %s" % "; ".join(row["problems"]),
        u"fix: %s" % row["fix"]])


def _setting_case(suite, cls, host, e, change):
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
                   type="drift").text = common.xml_text(failure_text(host, e, cls.split(".", 1)[1]))
    else:
        suite.case(cls, e["key"])


def _profile_cases(suite, host, prof, changes):
    """A profile's testcases: its failure, its refusals, its settings."""
    name = prof["profile"]
    cls = "%s.%s" % (host, name)
    if prof.get("error"):
        suite.case(cls, "audit", "error", message="audit failed", type="error").text = common.xml_text(
            "%s\nfix: %s" % (prof["error"], audit.profile_error_fix(name)))
    for f in (prof.get("result") or {}).get("findings", []):
        if f.get("severity") == "error":
            suite.case(cls, "rule %s" % f.get("rule"), "failure", message="refused: %s" % f.get("rule"),
                       type="refused").text = common.xml_text(f.get("message"))
    for e in (prof.get("result") or {}).get("settings", []):
        _setting_case(suite, cls, host, e, changes.get((name, e["key"])))


def _host_cases(suite, h, records):
    host = h["host"]
    if not h["reachable"]:
        suite.case(host, "reachable", "error", message="unreachable", type="unreachable").text = common.xml_text(
            "%s was unreachable; it is not compliant (%s)\nfix: %s" % (host, h["errors"][0], h["fix"][0]))
    elif not h["profiles"] and h["errors"]:
        suite.case(host, "profile", "error", message="no profile", type="no_profile").text = common.xml_text(
            "%s\nfix: %s" % (h["errors"][0], h["fix"][0]))
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
        common.xml_sub(props, "property", name="collection_version",
                       value=summary["context"]["collection_version"])
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
    wrong = [md(x) for x in h["errors"]] + [md(key_line(r)) + _change(r) for r in h["keys"]]
    return "| %s | %s | %s | %s | %s |" % (
        md(h["host"]), audit.STATUS_WORDS[h["status"]], md(", ".join(h["profiles"])) or "-",
        "<br>".join(wrong) or "-", "<br>".join(md(f) for f in h["fix"]) or "-")


def audit_markdown(summary, _records=None, generated=None):
    lines = ["# kerneltune.tcp audit", "",
             "**%s**: %s" % ("PASS" if summary["passed"] else "FAIL", audit.counts_sentence(summary))]
    if audit.reasons_sentence(summary):
        lines += ["", audit.reasons_sentence(summary)]
    lines += ["", "Audited: %s" % common.md(context_line(summary, common.iso_time(generated)))]
    if summary.get("changes") is not None:
        c = summary["changes"]
        lines += ["", "Since the baseline: %d new, %d still present, %d resolved." % (
            c["new"], c["still"], c["resolved"])]
    lines += ["", "| host | status | profiles | what is not as wanted | fix |", "|---|---|---|---|---|"]
    lines += [_markdown_row(h) for h in audit.failing_first(summary)]
    resolved = [(h["host"], e) for h in summary["hosts"] for e in h["resolved"]]
    if resolved:
        lines += ["", "Resolved since the baseline:", ""]
        lines += ["- %s: %s (%s)" % (common.md(host), common.md(e["key"]), e["kind"].replace("_", " "))
                  for host, e in resolved]
    return "\n".join(lines) + "\n"


def _search_text(h):
    """What the page's text search looks in: host, profiles, keys, files, errors (not the status words)."""
    parts = [h["host"]] + h["profiles"] + h["errors"]
    for r in h["keys"]:
        parts += [r["key"], r["boot_source"] or ""] + r["problems"]
    return " ".join(common.XML_FORBIDDEN.sub("", u"%s" % (p,)) for p in parts if p).lower()


def audit_html(summary, _records=None, generated=None):
    hosts = [dict(h, word=audit.STATUS_WORDS[h["status"]], rank=audit.STATUSES.index(h["status"]),
                  search=_search_text(h), running_texts=[audit.value(r["running"]) for r in h["keys"]])
             for h in audit.failing_first(summary)]
    when = common.iso_time(generated)
    return common.env().get_template("audit.html.j2").render(
        summary=summary, hosts=hosts, statuses=audit.STATUSES, words=audit.STATUS_WORDS,
        counts_sentence=audit.counts_sentence(summary), reasons_sentence=audit.reasons_sentence(summary),
        context=summary["context"], percent=audit.percent(summary["pass_percent"]), generated=when)
