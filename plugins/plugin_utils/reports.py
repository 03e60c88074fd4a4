# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet reports for the audit and diagnose playbooks (controller side).

Pure functions: host records in, report texts out. The fleet_report action
(plugins/action/fleet_report.py) writes what audit_reports() and
diagnose_reports() return; the audit_entry filter (plugins/filter/reports.py)
turns one looped tcp_sysctl result into an audit record.
"""

from __future__ import annotations

import html
import json
from xml.etree import ElementTree as ET


# --------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------

REPORT_KINDS = {"audit": ("json", "junit", "markdown", "html"), "diagnose": ("json", "markdown", "html")}


def audit_entry(item):
    """One profile's audit from a looped tcp_sysctl result (item = profile name)."""
    result = {k: v for k, v in item.items() if k not in ("item", "ansible_loop_var", "invocation")}
    entry = {"profile": item.get("item"), "result": result}
    if item.get("failed"):
        entry["error"] = item.get("msg") or "failed"
    return entry


def audit_summary(records, hosts):
    """Per-host verdicts from the audit records.

    records: {host: {"status": "ok"|"error", "profiles": [{profile, result}], "error": msg}}
    hosts: every host the audit was meant to reach (unreachable ones have no record).
    """
    out = []
    for host in sorted(hosts):
        rec = records.get(host)
        h = {"host": host, "reachable": rec is not None, "profiles": [], "runtime_drift": [], "boot_drift": [],
             "overridden": [], "errors": [], "unsupported": []}
        if rec is None:
            h["errors"].append("unreachable")
        else:
            for prof in rec.get("profiles", []):
                name = prof["profile"]
                res = prof.get("result") or {}
                h["profiles"].append(name)
                if prof.get("error"):
                    h["errors"].append("%s: %s" % (name, prof["error"]))
                for f in res.get("findings", []):
                    if f.get("severity") == "error":
                        h["errors"].append("%s: %s" % (name, f["message"]))
                for e in res.get("settings", []):
                    item = dict(e, profile=name)
                    if e["status"] == "overridden":
                        h["overridden"].append(item)
                    elif e["status"] == "unsupported":
                        h["unsupported"].append(item)
                    elif e["status"] in ("drift", "read_only"):
                        if e.get("runtime_drift"):
                            h["runtime_drift"].append(item)
                        if e.get("persisted_drift"):
                            h["boot_drift"].append(item)
        h["compliant"] = h["reachable"] and not (h["runtime_drift"] or h["boot_drift"] or h["overridden"]
                                                 or h["errors"])
        out.append(h)
    totals = {
        "hosts": len(out),
        "compliant": sum(1 for h in out if h["compliant"]),
        "unreachable": sum(1 for h in out if not h["reachable"]),
        "runtime_drift": sum(1 for h in out if h["runtime_drift"]),
        "boot_drift": sum(1 for h in out if h["boot_drift"]),
        "overridden": sum(1 for h in out if h["overridden"]),
        "errors": sum(1 for h in out if h["errors"] and h["reachable"]),
    }
    return {"hosts": out, "totals": totals, "passed": totals["compliant"] == totals["hosts"]}


def _boot(e):
    """What the host boots with today, for a key with boot-time drift."""
    if e.get("source_before"):
        return "%s: boots with %s from %s, wants %s" % (
            e["key"], e["persisted_before"], e["source_before"], e["desired"])
    return "%s: no file sets it (kernel default at boot), wants %s" % (e["key"], e["desired"])


def _detail(e):
    return ("desired=%s runtime=%s persisted=%s source=%s persisted_before=%s source_before=%s overridden_by=%s"
            % (e["desired"], e["runtime"], e["persisted"], e["source"], e.get("persisted_before"),
               e.get("source_before"), e["overridden_by"]))


def audit_junit(summary, records):
    suite = ET.Element("testsuite", name="kerneltune.tcp audit")
    tests = failures = errors = 0
    for h in summary["hosts"]:
        host = h["host"]
        if not h["reachable"]:
            tc = ET.SubElement(suite, "testcase", classname=host, name="reachable")
            ET.SubElement(tc, "error", message="unreachable").text = "%s was unreachable; it is not compliant" % host
            tests += 1
            errors += 1
            continue
        rec = records[host]
        for prof in rec.get("profiles", []):
            name = prof["profile"]
            if prof.get("error"):
                tc = ET.SubElement(suite, "testcase", classname="%s.%s" % (host, name), name="audit")
                ET.SubElement(tc, "error", message="audit failed").text = prof["error"]
                tests += 1
                errors += 1
            for f in (prof.get("result") or {}).get("findings", []):
                if f.get("severity") == "error":
                    tc = ET.SubElement(suite, "testcase", classname="%s.%s" % (host, name),
                                       name="rule %s" % f["rule"])
                    ET.SubElement(tc, "failure", message="refused: %s" % f["rule"]).text = f["message"]
                    tests += 1
                    failures += 1
            for e in (prof.get("result") or {}).get("settings", []):
                tc = ET.SubElement(suite, "testcase", classname="%s.%s" % (host, name), name=e["key"])
                tests += 1
                why = []
                if e["status"] == "overridden":
                    why.append("overridden by %s" % e["overridden_by"])
                elif e["status"] in ("drift", "read_only"):
                    if e.get("runtime_drift"):
                        why.append("runtime drift")
                    if e.get("persisted_drift"):
                        why.append("boot-time drift")
                elif e["status"] == "unsupported":
                    ET.SubElement(tc, "skipped", message="not available on this kernel")
                if why:
                    ET.SubElement(tc, "failure", message=", ".join(why)).text = _detail(e)
                    failures += 1
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def audit_markdown(summary):
    t = summary["totals"]
    lines = [
        "# kerneltune.tcp audit",
        "",
        "**%s**: %d of %d hosts compliant; %d unreachable, %d with runtime drift, %d with boot-time drift, "
        "%d overridden, %d with errors." % ("PASS" if summary["passed"] else "FAIL", t["compliant"], t["hosts"],
                                            t["unreachable"], t["runtime_drift"], t["boot_drift"], t["overridden"],
                                            t["errors"]),
        "",
        "| host | verdict | profiles | runtime drift | boot-time drift | overridden | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for h in summary["hosts"]:
        verdict = "compliant" if h["compliant"] else ("unreachable" if not h["reachable"] else "NOT compliant")
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            h["host"], verdict, ", ".join(h["profiles"]) or "-",
            "<br>".join("%s: %s -> %s" % (e["key"], e["runtime"], e["desired"]) for e in h["runtime_drift"]) or "-",
            "<br>".join(_boot(e) for e in h["boot_drift"]) or "-",
            "<br>".join("%s: %s by %s" % (e["key"], e["persisted"], e["overridden_by"]) for e in h["overridden"])
            or "-",
            "<br>".join(x.replace("|", "\\|") for x in h["errors"]) or "-"))
    return "\n".join(lines) + "\n"


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}"
        ".ok{background:#e6f4ea}.bad{background:#fce8e6}.unr{background:#eee}h1{font-size:1.4em}")


def audit_html(summary):
    t = summary["totals"]
    rows = []
    for h in summary["hosts"]:
        cls = "ok" if h["compliant"] else ("unr" if not h["reachable"] else "bad")
        verdict = "compliant" if h["compliant"] else ("unreachable" if not h["reachable"] else "NOT compliant")
        cells = [
            h["host"], verdict, ", ".join(h["profiles"]),
            "<br>".join(html.escape("%s: %s -> %s" % (e["key"], e["runtime"], e["desired"])) for e in h["runtime_drift"]),
            "<br>".join(html.escape(_boot(e)) for e in h["boot_drift"]),
            "<br>".join(html.escape("%s: %s by %s" % (e["key"], e["persisted"], e["overridden_by"]))
                        for e in h["overridden"]),
            "<br>".join(html.escape(x) for x in h["errors"]),
        ]
        rows.append('<tr class="%s">%s</tr>' % (cls, "".join(
            "<td>%s</td>" % (c if i >= 3 else html.escape(c)) for i, c in enumerate(cells))))
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>kerneltune.tcp audit</title><style>%s</style>"
            "</head><body><h1>kerneltune.tcp audit: %s</h1><p>%d of %d hosts compliant; %d unreachable.</p>"
            "<table><tr><th>host</th><th>verdict</th><th>profiles</th><th>runtime drift</th><th>boot-time drift</th>"
            "<th>overridden</th><th>errors</th></tr>%s</table></body></html>\n"
            % (_CSS, "PASS" if summary["passed"] else "FAIL", t["compliant"], t["hosts"], t["unreachable"],
               "".join(rows)))


def audit_reports(records, hosts):
    summary = audit_summary(records, hosts)
    return {
        "summary": summary,
        "json": json.dumps(dict(summary, records=records), indent=2, sort_keys=True) + "\n",
        "junit": audit_junit(summary, records),
        "markdown": audit_markdown(summary),
        "html": audit_html(summary),
    }


# --------------------------------------------------------------------------
# Diagnose
# --------------------------------------------------------------------------

_SEV = {"error": 0, "warning": 1, "info": 2}


def _score(info):
    f = info.get("findings", [])
    return (sum(1 for x in f if x["severity"] == "error"), sum(1 for x in f if x["severity"] == "warning"),
            info.get("time_wait", {}).get("total", 0) + info.get("close_wait", {}).get("total", 0))


def diagnose_order(records, hosts):
    """Hosts worst first: errors, then warnings, then TIME_WAIT + CLOSE_WAIT."""
    reachable = [h for h in hosts if h in records]
    ranked = sorted(reachable, key=lambda h: tuple(-x for x in _score(records[h])) + (h,))
    return ranked, sorted(h for h in hosts if h not in records)


def diagnose_markdown(records, hosts):
    ranked, unreachable = diagnose_order(records, hosts)
    lines = ["# kerneltune.tcp diagnosis", "",
             "| host | TIME_WAIT (out/in) | CLOSE_WAIT | busiest destination | findings |", "|---|---|---|---|---|"]
    for h in ranked:
        r = records[h]
        b = r["ephemeral_ports"]["busiest_destination"]
        lines.append("| %s | %d (%d/%d) | %d | %s | %s |" % (
            h, r["time_wait"]["total"], r["time_wait"]["outbound"], r["time_wait"]["inbound"],
            r["close_wait"]["total"],
            "%s:%s, %d ports (%.1f%%)" % (b["address"], b["port"], b["local_ports_used"], b["share"] * 100) if b
            else "-",
            ", ".join("%s %s" % (f["severity"], f["id"]) for f in r["findings"]) or "none"))
    for h in unreachable:
        lines.append("| %s | unreachable | | | |" % h)
    for h in ranked:
        r = records[h]
        if not r["findings"]:
            continue
        lines += ["", "## %s" % h, ""]
        for f in r["findings"]:
            lines.append("- **%s** `%s`: %s  \n  Remedy: %s" % (f["severity"], f["id"], f["message"], f["remedy"]))
        if r["time_wait"]["top_remote"]:
            lines.append("")
            lines.append("Top TIME_WAIT remotes: " + ", ".join(
                "%s%s (%d)" % (x["address"], ":%d" % x["port"] if "port" in x else "", x["count"])
                for x in r["time_wait"]["top_remote"]))
        for p in r["close_wait"]["processes"]:
            lines.append("")
            lines.append("CLOSE_WAIT held by %s (pid %s): %d, e.g. %s" % (p["command"], p["pid"], p["count"],
                                                                          "; ".join(p["sample"][:3])))
    return "\n".join(lines) + "\n"


def _bars(title, items, width=520):
    """A horizontal bar chart as inline SVG: [(label, value)]."""
    if not items:
        return "<p>%s: nothing to show.</p>" % html.escape(title)
    top = max(v for _l, v in items) or 1
    row = 22
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">'
           % (width + 260, row * len(items) + 10, html.escape(title))]
    for i, (label, value) in enumerate(items):
        w = int(width * value / top)
        y = 5 + i * row
        svg.append('<text x="0" y="%d" font-size="12">%s</text>' % (y + 14, html.escape(str(label))[:36]))
        svg.append('<rect x="240" y="%d" width="%d" height="16" fill="#4a7bd0"/>' % (y, max(w, 1)))
        svg.append('<text x="%d" y="%d" font-size="12">%d</text>' % (246 + w, y + 13, value))
    svg.append("</svg>")
    return "<h2>%s</h2>%s" % (html.escape(title), "".join(svg))


def diagnose_html(records, hosts):
    ranked, unreachable = diagnose_order(records, hosts)
    tw = [(h, records[h]["time_wait"]["total"]) for h in ranked]
    dests = {}
    for h in ranked:
        for x in records[h]["time_wait"]["top_remote"]:
            if "port" in x:
                k = "%s:%d" % (x["address"], x["port"])
                dests[k] = dests.get(k, 0) + x["count"]
    top_dests = sorted(dests.items(), key=lambda kv: -kv[1])[:10]
    findings = []
    for h in ranked:
        for f in records[h]["findings"]:
            findings.append("<tr class=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                "bad" if f["severity"] != "info" else "ok", html.escape(h), html.escape(f["severity"]),
                html.escape(f["message"]), html.escape(f["remedy"])))
    unr = "<p>Unreachable: %s</p>" % html.escape(", ".join(unreachable)) if unreachable else ""
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>kerneltune.tcp diagnosis</title>"
            "<style>%s</style></head><body><h1>kerneltune.tcp diagnosis</h1>%s%s%s<h2>Findings, worst host first</h2>"
            "<table><tr><th>host</th><th>severity</th><th>finding</th><th>remedy</th></tr>%s</table></body></html>\n"
            % (_CSS, unr, _bars("TIME_WAIT per host", tw), _bars("Top TIME_WAIT destinations (fleet)", top_dests),
               "".join(findings)))


def diagnose_reports(records, hosts):
    ranked, unreachable = diagnose_order(records, hosts)
    data = {"hosts": [dict(records[h], host=h) for h in ranked], "unreachable": unreachable}
    return {
        "json": json.dumps(data, indent=2, sort_keys=True) + "\n",
        "markdown": diagnose_markdown(records, hosts),
        "html": diagnose_html(records, hosts),
        "order": ranked,
        "unreachable": unreachable,
    }
