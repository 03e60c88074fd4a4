# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's reports (controller side): JSON, JUnit XML, Markdown and the HTML page (templates/audit.html.j2),
each rendered from audit.audit_summary's summary, whose counts are the only counts they show. Every renderer is
renderer(summary, records, generated)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_namespaces, common


def _change(row):
    return " [%s]" % row["change"] if row.get("change") else ""


def _wanted(e, row):
    """The value wanted (with the other profiles' bounds on the key), and what tcp_sysctl would set for a bound."""
    b = e.get("bounds")
    if isinstance(b, dict) and b.get("text"):
        return "%s (would set %s)" % (row["wanted"], audit.value(e.get("desired")))
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
            "drifted_keys": summary["drifted_keys"], "changes": summary["changes"], "notes": summary["notes"],
            "namespaces": summary["namespaces"], "hosts": summary["hosts"], "records": records}
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


def failure_text(host, e, profile, row=None):
    """A failing key's body: what the host has (running, at boot and from where), what is wanted, the fix. row:
    the key's row in the host's summary (audit.key_row, with the host's other profiles)."""
    row = row or audit.key_row(e, profile)
    return "\n".join([
        u"%s on %s (profile %s)" % (e["key"], host, profile),
        u"running: %s" % audit.value(e.get("runtime")),
        u"at boot: %s" % row["boot_text"],
        u"wanted: %s" % _wanted(e, row),
        u"problem: %s" % "; ".join(row["problems"]),
        u"fix: %s" % row["fix"]])


def namespace_failure_text(host, item):
    """A namespace's failure body: who it belongs to, each key that differs, the fix."""
    return "\n".join([u"%s net:[%s] on %s" % (item["label"], item["inode"], host)]
                     + [u"%s: %s, wanted %s (%s, scope %s)" % (k["key"], audit.value(k["value"]), k["wanted"],
                                                               k["profile"], k["scope"]) for k in item["keys"]]
                     + [u"fix: %s" % f for f in item["fix"]])


def _setting_case(suite, cls, host, e, change, row=None):
    """A setting's testcase: a failure for drift or an override, skipped where the kernel lacks the key."""
    why = []
    if e["status"] == "overridden":
        why.append("overridden by %s" % e.get("overridden_by"))
    elif e["status"] in ("drift", "read_only"):
        if e.get("runtime_drift"):
            why.append("runtime drift")
        if e.get("persisted_drift"):
            why.append(audit.boot_problem(e))
    elif e["status"] == "unsupported":
        suite.case(cls, e["key"], "skipped", message="not available on this kernel")
        return
    if why:
        suite.case(cls, e["key"], "failure", message=", ".join(why) + (" [%s]" % change if change else ""),
                   type="drift").text = common.xml_text(failure_text(host, e, cls.split(".", 1)[1], row))
    else:
        suite.case(cls, e["key"])


def _profile_cases(suite, host, prof, changes, rows=None):
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
        _setting_case(suite, cls, host, e, changes.get((name, e["key"])), (rows or {}).get((name, e["key"])))


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
        rows = dict(((r["profile"], r["key"]), r) for r in h["keys"])
        for prof in records[host].get("profiles", []):
            _profile_cases(suite, host, prof, changes, rows)


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
        common.xml_sub(props, "property", name="notes", value=str(len(h.get("notes", []))))
        _host_cases(suite, h, records)
        fail = summary["namespaces"]["mode"] == "fail"
        section = h.get("namespaces") or {"differ": [], "unread": []}
        for item in section["differ"] if fail else []:
            keys = sorted(set(k["key"] for k in item["keys"]))
            suite.case("%s.namespaces" % host, "%s net:[%s]" % (item["label"], item["inode"]), "failure",
                       message="namespace drift: %s" % ", ".join(keys), type="namespace_drift").text = \
                common.xml_text(namespace_failure_text(host, item))
        unjudged = audit_namespaces.unjudged(section) if fail and h["reachable"] and section.get("scanned") else None
        if unjudged:
            suite.case("%s.namespaces" % host, "not judged", "error", message="network namespaces not judged",
                       type="namespaces_not_judged").text = common.xml_text(
                "%s\nfix: %s" % (unjudged, audit_namespaces.UNJUDGED_FIX))
        # Notes are information, not failures: the verdict does not change.
        out = ["note: %s" % audit.note_line(n) for n in h.get("notes", [])]
        out += ["namespace: %s" % audit_namespaces.line(i) for i in (section["unread"] + ([] if fail else section["differ"]))]
        if h["resolved"]:
            out.insert(0, "; ".join("resolved since baseline: %s %s" % (e["kind"], e["key"]) for e in h["resolved"]))
        ET.SubElement(suite.element, "system-out").text = common.xml_text("\n".join(out))
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
    notes = [(h["host"], n) for h in audit.failing_first(summary) for n in h.get("notes", [])]
    if notes:
        lines += ["", "Notes (information only: they do not change the verdict):", ""]
        lines += ["- %s: %s" % (common.md(host), common.md(audit.note_line(n))) for host, n in notes]
    lines += namespaces_markdown(summary)
    resolved = [(h["host"], e) for h in summary["hosts"] for e in h["resolved"]]
    if resolved:
        lines += ["", "Resolved since the baseline:", ""]
        lines += ["- %s: %s (%s)" % (common.md(host), common.md(e["key"]), e["kind"].replace("_", " "))
                  for host, e in resolved]
    return "\n".join(lines) + "\n"


def namespaces_markdown(summary):
    """The "Network namespaces" section: the counts, then each namespace that differs or could not be read, by host
    (failing hosts first), with how to give it the values. Nothing when the audit did not scan them."""
    sentence = audit_namespaces.counts_sentence(summary["namespaces"])
    if sentence is None:
        return []
    lines = ["", "## Network namespaces", "", sentence + " How to tune pods and containers: %s." % (
        audit_namespaces.GUIDE)]
    items = [(h["host"], i) for h in audit.failing_first(summary)
             for i in (h.get("namespaces") or {}).get("differ", []) + (h.get("namespaces") or {}).get("unread", [])]
    if items:
        lines += [""] + ["- %s: %s" % (common.md(host), common.md(audit_namespaces.line(i))) for host, i in items]
    return lines


def _search_text(h):
    """What the page's text search looks in: host, profiles, keys, files, errors (not the status words)."""
    parts = [h["host"]] + h["profiles"] + h["errors"]
    for r in h["keys"]:
        parts += [r["key"], r["boot_source"] or ""] + r["problems"]
    for n in h.get("notes", []):
        parts += ["note", n["text"]]
    for i in (h.get("namespaces") or {}).get("differ", []):
        parts += ["namespace", i["label"]] + [k["key"] for k in i["keys"]]
    return " ".join(common.XML_FORBIDDEN.sub("", u"%s" % (p,)) for p in parts if p).lower()


def audit_html(summary, _records=None, generated=None):
    hosts = [dict(h, word=audit.STATUS_WORDS[h["status"]], rank=audit.STATUSES.index(h["status"]),
                  search=_search_text(h), running_texts=[audit.value(r["running"]) for r in h["keys"]],
                  notes=h.get("notes", []), ns_lines=[audit_namespaces.line(i) for i in (h.get("namespaces") or {}).get(
                      "differ", []) + (h.get("namespaces") or {}).get("unread", [])])
             for h in audit.failing_first(summary)]
    ns_rows = [{"host": h["host"], "item": i, "keys": [audit_namespaces.key_text(k) for k in i["keys"]]}
               for h in audit.failing_first(summary)
               for i in (h.get("namespaces") or {}).get("differ", []) + (h.get("namespaces") or {}).get("unread", [])]
    when = common.iso_time(generated)
    return common.env().get_template("audit.html.j2").render(
        summary=summary, hosts=hosts, statuses=audit.STATUSES, words=audit.STATUS_WORDS,
        counts_sentence=audit.counts_sentence(summary), reasons_sentence=audit.reasons_sentence(summary),
        context=summary["context"], percent=audit.percent(summary["pass_percent"]), generated=when,
        ns_sentence=audit_namespaces.counts_sentence(summary["namespaces"]), ns_rows=ns_rows,
        ns_guide=audit_namespaces.GUIDE)


# --------------------------------------------------------------------------
# Plain text (CI logs, AWX job events) and the per-host entries of set_stats
# --------------------------------------------------------------------------

def host_findings(h):
    """The host's findings, one short plain-text phrase each: what drifts, what overrides, what failed."""
    rows = dict(((r["profile"], r["key"]), r) for r in h["keys"])

    def tag(e):
        return " [%s]" % e["change"] if e.get("change") else ""

    def row(e):
        return rows.get((e.get("profile"), e["key"])) or audit.key_row(e, e.get("profile"))

    def bound(e):
        b = e.get("bounds")
        return " (bound %s)" % row(e)["wanted"] if isinstance(b, dict) and b.get("text") else ""

    def at_boot(e):
        problem = audit.boot_problem(e)
        if problem.startswith("not persisted: "):
            return "not persisted %s %s: %s%s" % (e.get("profile"), e["key"], problem[len("not persisted: "):], tag(e))
        return "boot-time drift %s %s: at boot %s, wants %s%s" % (
            e.get("profile"), e["key"], row(e)["boot_text"], row(e)["wanted"], tag(e))
    out = ["runtime drift %s %s: %s -> %s%s%s" % (
        e.get("profile"), e["key"], e.get("runtime"), e.get("desired"), bound(e), tag(e)) for e in h["runtime_drift"]]
    out += [at_boot(e) for e in h["boot_drift"]]
    out += ["overridden %s %s: %s by %s%s" % (
        e.get("profile"), e["key"], e.get("persisted"), e.get("overridden_by"), tag(e)) for e in h["overridden"]]
    if audit_namespaces.REASON in h.get("reasons", []):
        out += ["namespace drift %s: %s" % (i["label"], ", ".join(sorted(set(k["key"] for k in i["keys"]))))
                for i in h["namespaces"]["differ"]]
    return list(h["errors"]) + out


def fails_gate(h, summary):
    """Whether this host is one the gate fails on (with fail_on=new, drift already in the baseline passes)."""
    if summary["fail_on"] == "new" and summary["changes"] is not None:
        return h["status"] in ("unreachable", "error") or any(
            e.get("change") == "new" for kind in audit.DRIFT_KINDS for e in h[kind])
    return not h["compliant"]


def audit_per_host(summary):
    """{host: {status, fails_gate, keys, reason, notes, namespaces}}: compact enough for set_stats (AWX artifacts) and the
    per-host gate; keys are the keys that drift or are overridden, reason one line of plain text, notes the
    information that does not change the verdict, "profile: text" each (the fix is in the reports, so that
    set_stats stays small on a large fleet)."""
    out = {}
    for h in summary["hosts"]:
        keys = sorted(set(e["key"] for kind in audit.DRIFT_KINDS for e in h[kind]))
        out[h["host"]] = {"status": h["status"], "fails_gate": fails_gate(h, summary), "keys": keys,
                          "reason": "; ".join(host_findings(h)) or h["status"],
                          "notes": ["%s: %s" % (n["profile"], n["text"]) for n in h.get("notes", [])]}
        if (h.get("namespaces") or {}).get("differ"):
            # The other network namespaces that differ, "who: keys" each (only where some do: set_stats stays small).
            out[h["host"]]["namespaces"] = ["%s: %s" % (i["label"], ", ".join(sorted(set(k["key"] for k in i["keys"]))))
                                            for i in h["namespaces"]["differ"]]
    return out


def audit_text(summary, report_dir):
    """The plain-text summary the playbook prints: the verdict and the counts every report shows, why the hosts
    that are not compliant are not, one line per failing host, the notes, then where the reports are."""
    head = ["audit %s: %s" % ("PASS" if summary["passed"] else "FAIL", audit.counts_sentence(summary))]
    why = audit.reasons_sentence(summary)
    if why:
        head.append(why)
    if summary.get("changes") is not None:
        c = summary["changes"]
        head.append("since the baseline: %d new, %d still present, %d resolved" % (c["new"], c["still"], c["resolved"]))
    bad = []
    for h in summary["hosts"]:
        if h["compliant"]:
            continue
        findings = "; ".join(host_findings(h))
        word = audit.STATUS_WORDS.get(h["status"], h["status"])
        # "web4: unreachable: ...", not "web4: unreachable: unreachable: ...".
        bad.append("%s: %s" % (h["host"], findings if findings.startswith(word) else "%s: %s" % (word, findings)))
    notes = ["%s: note: %s" % (h["host"], audit.note_line(n)) for h in summary["hosts"] for n in h.get("notes", [])]
    spaces = ["%s: namespace: %s" % (h["host"], audit_namespaces.line(i)) for h in summary["hosts"]
              for i in (h.get("namespaces") or {}).get("differ", []) + (h.get("namespaces") or {}).get("unread", [])]
    sentence = audit_namespaces.counts_sentence(summary["namespaces"])
    if sentence and (spaces or summary["namespaces"]["mode"] == "fail"):
        # After the hosts and the notes: the lines a CI log greps for first stay where they were.
        spaces.insert(0, sentence)
    return common.plain_text(head, [(bad, "hosts not compliant"), (notes, "notes"), (spaces, "namespaces")],
                             report_dir)
