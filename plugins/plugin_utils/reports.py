# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet reports for the audit, diagnose and rollout playbooks (controller side).

Pure functions: host records in, report texts out. The fleet_report action
plugin calls them; the HTML pages are Jinja2 templates (autoescaped) in
templates/ next to this file.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from xml.etree import ElementTree as ET

REPORT_KINDS = {"audit": ("json", "junit", "markdown", "html"), "diagnose": ("json", "markdown", "html"),
                "rollout": ("json", "junit", "markdown", "html")}
REPORT_FILES = {
    "audit": {"json": "audit.json", "junit": "audit-junit.xml", "markdown": "audit.md", "html": "audit.html"},
    "diagnose": {"json": "diagnose.json", "markdown": "diagnose.md", "html": "diagnose.html"},
    "rollout": {"json": "rollout.json", "junit": "rollout-junit.xml", "markdown": "rollout.md",
                "html": "rollout.html"},
}
STATUSES = ("compliant", "drift", "overridden", "error", "unreachable")
SCHEMA_VERSION = 1
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

# Characters XML 1.0 does not allow (C0 controls but tab, LF, CR; surrogates; U+FFFE, U+FFFF).
_XML_FORBIDDEN = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Markdown: characters with a meaning in inline Markdown or in a table, and HTML.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")


class ReportError(Exception):
    """A bad input file or record: the message names it."""


def xml_text(value):
    """A string XML 1.0 can carry: forbidden characters removed."""
    return _XML_FORBIDDEN.sub("", u"%s" % (value,))


_MD_BREAKS = re.compile(u"[\u0085\u2028\u2029]")


def md(value):
    """A host-derived string made inert in Markdown (and in a table cell)."""
    text = _XML_FORBIDDEN.sub("", u"%s" % (value,))
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    text = _MD_BREAKS.sub(" ", text)  # line and paragraph separators split a table row too
    return _MD_SPECIAL.sub(r"\\\1", text)


def _env():
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["clean"] = lambda v: _XML_FORBIDDEN.sub("", u"%s" % (v,))
    env.filters["tojson_compact"] = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"))
    return env


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


# --------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------

def audit_entry(item):
    """One profile's audit from a looped tcp_sysctl result (item = profile name)."""
    result = {k: v for k, v in item.items() if k not in ("item", "ansible_loop_var", "invocation")}
    entry = {"profile": item.get("item"), "result": result}
    if item.get("unreachable"):
        entry["unreachable"] = True
        entry["error"] = item.get("msg") or "unreachable"
    elif item.get("failed"):
        entry["error"] = item.get("msg") or "failed"
    return entry


# What makes one drift the same drift in a later audit: the host, profile, kind and key, the value wanted and the
# value found (a key that drifts to another value, or a profile that now wants another, is new drift).
_FOUND = {"runtime_drift": "runtime", "boot_drift": "persisted_before", "overridden": "overridden_by"}


def _drift_id(host, kind, e):
    # A bound is wanted as the bound: its desired value follows the running value.
    return json.dumps([host, e.get("profile"), kind, e.get("key"), _want(e), e.get(_FOUND[kind])])


def _want(e):
    """What an entry asks for: its value, or its bound's text (">= 8192")."""
    b = e.get("bounds")
    return b.get("text") if isinstance(b, dict) and b.get("text") else e.get("desired")


def _runtime_change(e):
    """'key: running -> wanted' with the bound, when there is one, after it."""
    b = e.get("bounds")
    bound = " (bound %s)" % b["text"] if isinstance(b, dict) and b.get("text") else ""
    return "%s: %s -> %s%s" % (e["key"], e["runtime"], e["desired"], bound)


def _previous_drift(baseline):
    """{drift id: item} from a previous audit.json's summary."""
    out = {}
    for h in (baseline or {}).get("hosts", []):
        for kind in ("runtime_drift", "boot_drift", "overridden"):
            for e in h.get(kind, []):
                out[_drift_id(h["host"], kind, e)] = dict(e, host=h["host"], kind=kind)
    return out


def audit_summary(records, hosts, baseline=None, fail_on="any"):
    """Per-host verdicts from the audit records.

    records: {host: {"profiles": [{profile, result, error?, unreachable?}], "unreachable": bool?}}
    hosts: every host the audit was meant to reach (hosts without a record are unreachable).
    baseline: a previous audit.json (dict): every drift is marked new, still or resolved.
    fail_on: "any" (every drift fails) or "new" (drift already in the baseline does not).
    """
    before = _previous_drift(baseline) if baseline is not None else None
    seen = set()
    out = []
    for host in sorted(set(hosts)):
        rec = records.get(host)
        h = {"host": host, "reachable": True, "profiles": [], "runtime_drift": [], "boot_drift": [],
             "overridden": [], "errors": [], "unsupported": [], "resolved": []}
        if rec is None or rec.get("unreachable") or any(p.get("unreachable") for p in rec.get("profiles", [])):
            h["reachable"] = False
            why = [p.get("error") for p in (rec or {}).get("profiles", []) if p.get("unreachable")]
            h["errors"].append("unreachable" + (": %s" % why[0] if why and why[0] != "unreachable" else ""))
        elif not rec.get("profiles"):
            h["errors"].append("no profile: the host is in no group mapped to a profile")
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
                            h["runtime_drift"].append(dict(item))
                        if e.get("persisted_drift"):
                            h["boot_drift"].append(dict(item))
        if before is not None:
            for kind in ("runtime_drift", "boot_drift", "overridden"):
                for e in h[kind]:
                    i = _drift_id(host, kind, e)
                    seen.add(i)
                    e["change"] = "still" if i in before else "new"
        h["compliant"] = h["reachable"] and not (h["runtime_drift"] or h["boot_drift"] or h["overridden"]
                                                 or h["errors"])
        if not h["reachable"]:
            h["status"] = "unreachable"
        elif h["errors"]:
            h["status"] = "error"
        elif h["runtime_drift"] or h["boot_drift"]:
            h["status"] = "drift"
        elif h["overridden"]:
            h["status"] = "overridden"
        else:
            h["status"] = "compliant"
        out.append(h)
    by_host = {h["host"]: h for h in out}
    resolved = []
    if before is not None:
        for i, e in sorted(before.items()):
            # Resolved only when the host and that profile were audited now, without an error, and the drift
            # is gone: an unreachable host, a failed probe or a profile no longer assigned resolves nothing.
            h = by_host.get(e["host"])
            if i not in seen and h is not None and h["status"] not in ("unreachable", "error") \
                    and e.get("profile") in h["profiles"]:
                item = {k: v for k, v in e.items() if k not in ("change", "host")}
                item["change"] = "resolved"
                h["resolved"].append(item)
                resolved.append(dict(item, host=e["host"]))
    totals = {
        "hosts": len(out),
        "compliant": sum(1 for h in out if h["compliant"]),
        "unreachable": sum(1 for h in out if not h["reachable"]),
        "runtime_drift": sum(1 for h in out if h["runtime_drift"]),
        "boot_drift": sum(1 for h in out if h["boot_drift"]),
        "overridden": sum(1 for h in out if h["overridden"]),
        "errors": sum(1 for h in out if h["errors"] and h["reachable"]),
    }
    status = dict((s, sum(1 for h in out if h["status"] == s)) for s in STATUSES)
    keys = {}
    for h in out:
        for k in set(e["key"] for kind in ("runtime_drift", "boot_drift", "overridden") for e in h[kind]):
            keys[k] = keys.get(k, 0) + 1
    drifted_keys = [{"key": k, "hosts": n} for k, n in sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))]
    changes = None
    if before is not None:
        allitems = [e for h in out for kind in ("runtime_drift", "boot_drift", "overridden") for e in h[kind]]
        changes = {"new": sum(1 for e in allitems if e["change"] == "new"),
                   "still": sum(1 for e in allitems if e["change"] == "still"),
                   "resolved": len(resolved)}
    hard = totals["unreachable"] + totals["errors"]
    if fail_on == "new" and changes is not None:
        passed = hard == 0 and changes["new"] == 0
    else:
        passed = totals["compliant"] == totals["hosts"]
    if not out:
        passed = False
    return {"hosts": out, "totals": totals, "status": status, "drifted_keys": drifted_keys, "changes": changes,
            "passed": passed, "fail_on": fail_on}


def _boot(e):
    """What the host boots with today, for a key with boot-time drift."""
    if e.get("source_before"):
        return "%s: boots with %s from %s, wants %s" % (
            e["key"], e.get("persisted_before"), e["source_before"], _want(e))
    return "%s: no file sets it (kernel default at boot), wants %s" % (e["key"], _want(e))


def _detail(e):
    return ("desired=%s runtime=%s persisted=%s source=%s persisted_before=%s source_before=%s overridden_by=%s%s"
            % (e.get("desired"), e.get("runtime"), e.get("persisted"), e.get("source"), e.get("persisted_before"),
               e.get("source_before"), e.get("overridden_by"),
               " bounds=%s" % _want(e) if e.get("bounds") else ""))


def _change(e):
    return " [%s]" % e["change"] if e.get("change") else ""


def _sub(parent, tag, **attrs):
    return ET.SubElement(parent, tag, dict((k, xml_text(v)) for k, v in attrs.items()))


def audit_junit(summary, records, timestamp=None, elapsed=None):
    """JUnit XML: a testsuites root, one testsuite per host (Jenkins/Ant schema)."""
    ts = (timestamp or _now()).strftime("%Y-%m-%dT%H:%M:%S")
    # The Jenkins/Ant schema allows no attribute on testsuites: the totals are the suites' sums.
    root = ET.Element("testsuites")
    for n, h in enumerate(summary["hosts"]):
        host = h["host"]
        suite = _sub(root, "testsuite", name=host or "-", package="kerneltune.tcp.audit", id=str(n),
                     hostname=host or "-", timestamp=ts, time="%.3f" % ((elapsed or {}).get(host, 0.0)))
        ET.SubElement(suite, "properties")
        _sub(suite.find("properties"), "property", name="status", value=h["status"])
        _sub(suite.find("properties"), "property", name="profiles", value=",".join(h["profiles"]))
        tests = failures = errors = skipped = 0

        def case(classname, name):
            return _sub(suite, "testcase", classname=classname, name=name or "-", time="0")

        if not h["reachable"]:
            tc = case(host, "reachable")
            _sub(tc, "error", message="unreachable", type="unreachable").text = xml_text(
                "%s was unreachable; it is not compliant (%s)" % (host, h["errors"][0]))
            tests += 1
            errors += 1
        elif not h["profiles"] and h["errors"]:
            tc = case(host, "profile")
            _sub(tc, "error", message="no profile", type="no_profile").text = xml_text(h["errors"][0])
            tests += 1
            errors += 1
        else:
            changes = {}
            for kind in ("runtime_drift", "boot_drift", "overridden"):
                for e in h[kind]:
                    changes[(e["profile"], e["key"])] = e.get("change")
            for prof in records[host].get("profiles", []):
                name = prof["profile"]
                cls = "%s.%s" % (host, name)
                if prof.get("error"):
                    tc = case(cls, "audit")
                    _sub(tc, "error", message="audit failed", type="error").text = xml_text(prof["error"])
                    tests += 1
                    errors += 1
                for f in (prof.get("result") or {}).get("findings", []):
                    if f.get("severity") == "error":
                        tc = case(cls, "rule %s" % f.get("rule"))
                        _sub(tc, "failure", message="refused: %s" % f.get("rule"), type="refused").text = \
                            xml_text(f.get("message"))
                        tests += 1
                        failures += 1
                for e in (prof.get("result") or {}).get("settings", []):
                    tc = case(cls, e["key"])
                    tests += 1
                    why = []
                    if e["status"] == "overridden":
                        why.append("overridden by %s" % e.get("overridden_by"))
                    elif e["status"] in ("drift", "read_only"):
                        if e.get("runtime_drift"):
                            why.append("runtime drift")
                        if e.get("persisted_drift"):
                            why.append("boot-time drift")
                    elif e["status"] == "unsupported":
                        _sub(tc, "skipped", message="not available on this kernel")
                        skipped += 1
                    if why:
                        change = changes.get((name, e["key"]))
                        _sub(tc, "failure", message=", ".join(why) + (" [%s]" % change if change else ""),
                             type="drift").text = xml_text(_detail(e))
                        failures += 1
        ET.SubElement(suite, "system-out").text = xml_text(
            "; ".join("resolved since baseline: %s %s" % (e["kind"], e["key"]) for e in h["resolved"]))
        ET.SubElement(suite, "system-err").text = xml_text("\n".join(h["errors"]))
        for k, v in (("tests", tests), ("failures", failures), ("errors", errors), ("skipped", skipped)):
            suite.set(k, str(v))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _verdict(h):
    return {"compliant": "compliant", "unreachable": "unreachable", "error": "error",
            "drift": "NOT compliant", "overridden": "NOT compliant"}[h["status"]]


def audit_markdown(summary):
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
    for h in summary["hosts"]:
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            md(h["host"]), _verdict(h), md(", ".join(h["profiles"])) or "-",
            "<br>".join(md(_runtime_change(e)) + _change(e)
                        for e in h["runtime_drift"]) or "-",
            "<br>".join(md(_boot(e)) + _change(e) for e in h["boot_drift"]) or "-",
            "<br>".join(md("%s: %s by %s" % (e["key"], e["persisted"], e["overridden_by"])) + _change(e)
                        for e in h["overridden"]) or "-",
            "<br>".join(md(x) for x in h["errors"]) or "-"))
    resolved = [(h["host"], e) for h in summary["hosts"] for e in h["resolved"]]
    if resolved:
        lines += ["", "Resolved since the baseline:", ""]
        lines += ["- %s: %s (%s)" % (md(host), md(e["key"]), e["kind"].replace("_", " ")) for host, e in resolved]
    return "\n".join(lines) + "\n"


def audit_html(summary, generated=None):
    hosts = []
    for h in summary["hosts"]:
        hosts.append(dict(h, verdict=_verdict(h),
                          runtime_text=[(_runtime_change(e), e.get("change"))
                                        for e in h["runtime_drift"]],
                          boot_text=[(_boot(e), e.get("change")) for e in h["boot_drift"]],
                          over_text=[("%s: %s by %s" % (e["key"], e["persisted"], e["overridden_by"]),
                                      e.get("change")) for e in h["overridden"]]))
    return _env().get_template("audit.html.j2").render(
        summary=summary, hosts=hosts, statuses=STATUSES, generated=(generated or _now()).isoformat())


def audit_json(summary, records, generated=None):
    data = {"schema_version": SCHEMA_VERSION, "kind": "audit", "generated": (generated or _now()).isoformat(),
            "passed": summary["passed"], "fail_on": summary["fail_on"], "totals": summary["totals"],
            "status": summary["status"], "drifted_keys": summary["drifted_keys"], "changes": summary["changes"],
            "hosts": summary["hosts"], "records": records}
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def audit_reports(records, hosts, baseline=None, fail_on="any", elapsed=None):
    summary = audit_summary(records, hosts, baseline, fail_on)
    now = _now()
    return {
        "summary": summary,
        "json": audit_json(summary, records, now),
        "junit": audit_junit(summary, records, now, elapsed),
        "markdown": audit_markdown(summary),
        "html": audit_html(summary, now),
    }


def load_audit(path):
    """A previous audit.json, checked enough to use as baseline or merge input."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, IOError) as e:
        raise ReportError("%s: cannot read: %s" % (path, e.strerror))
    except ValueError as e:
        raise ReportError("%s: not JSON: %s" % (path, e))
    if not isinstance(data, dict) or data.get("kind") != "audit" or not isinstance(data.get("hosts"), list) \
            or not isinstance(data.get("records"), dict):
        raise ReportError("%s: not an audit.json written by kerneltune.tcp.fleet_report" % path)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ReportError("%s: schema_version %r; this collection reads audit.json schema_version %r"
                          % (path, data.get("schema_version"), SCHEMA_VERSION))
    for h in data["hosts"]:
        ok = isinstance(h, dict) and isinstance(h.get("host"), str) and all(
            isinstance(h.get(kind, []), list) and all(isinstance(e, dict) and "key" in e for e in h.get(kind, []))
            for kind in ("runtime_drift", "boot_drift", "overridden"))
        if not ok:
            raise ReportError("%s: host entry %s does not have the audit.json shape (docs/schemas/audit.schema.json)"
                              % (path, json.dumps(h)[:80]))
    return data


def merge_audits(paths):
    """(records, hosts) from several audit.json files, e.g. one per job slice."""
    records, hosts, origin = {}, [], {}
    for path in paths:
        data = load_audit(path)
        for h in data["hosts"]:
            name = h["host"]
            if name in origin:
                raise ReportError("merge: host %s is in both %s and %s" % (name, origin[name], path))
            origin[name] = path
            hosts.append(name)
            if name in data["records"]:
                records[name] = data["records"][name]
            if not h.get("reachable", True):
                records[name] = dict(records.get(name) or {"profiles": []}, unreachable=True)
    return records, hosts


# --------------------------------------------------------------------------
# Diagnose
# --------------------------------------------------------------------------

def diagnose_split(records, hosts):
    """(ok results, errors by host, unreachable hosts) from raw registered tcp_info results."""
    ok, errors, unreachable = {}, {}, []
    for h in sorted(set(hosts)):
        r = records.get(h)
        if r is None or r.get("unreachable"):
            unreachable.append(h)
        elif r.get("failed") or "time_wait" not in r:
            errors[h] = r.get("msg") or "the probe failed"
        else:
            ok[h] = r
    return ok, errors, unreachable


def _score(info):
    f = info.get("findings", [])
    return (sum(1 for x in f if x["severity"] == "error"), sum(1 for x in f if x["severity"] == "warning"),
            info.get("time_wait", {}).get("total", 0) + info.get("close_wait", {}).get("total", 0))


def diagnose_order(records, hosts):
    """Hosts worst first: errors, then warnings, then TIME_WAIT + CLOSE_WAIT."""
    ok, errors, unreachable = diagnose_split(records, hosts)
    ranked = sorted(ok, key=lambda h: tuple(-x for x in _score(ok[h])) + (h,))
    return ranked, unreachable


def _busiest(r):
    b = (r.get("ephemeral_ports") or {}).get("busiest_destination")
    if not b:
        return None
    return "%s:%s, %d ports (%.1f%%)" % (b["address"], b["port"], b["local_ports_used"], b["share"] * 100)


def diagnose_markdown(records, hosts):
    ok, errors, unreachable = diagnose_split(records, hosts)
    ranked, _u = diagnose_order(records, hosts)
    lines = ["# kerneltune.tcp diagnosis", "",
             "| host | TIME_WAIT (out/in) | CLOSE_WAIT | busiest destination (port use) | findings |",
             "|---|---|---|---|---|"]
    for h in ranked:
        r = ok[h]
        lines.append("| %s | %d (%d/%d) | %d | %s | %s |" % (
            md(h), r["time_wait"]["total"], r["time_wait"]["outbound"], r["time_wait"]["inbound"],
            r["close_wait"]["total"], md(_busiest(r) or "none"),
            ", ".join("%s %s" % (f["severity"], md(f["id"])) for f in r["findings"]) or "none"))
    for h in sorted(errors):
        lines.append("| %s | error | | | %s |" % (md(h), md(errors[h])))
    for h in unreachable:
        lines.append("| %s | unreachable | | | |" % md(h))
    for h in ranked:
        r = ok[h]
        lines += ["", "## %s" % md(h), ""]
        if not r["findings"]:
            lines.append("Findings: none")
        for f in r["findings"]:
            lines.append("- **%s** `%s`: %s  \n  Remedy: %s" % (f["severity"], md(f["id"]).replace("`", ""),
                                                                md(f["message"]), md(f["remedy"])))
        procs = r["close_wait"].get("processes") or []
        lines.append("")
        held = "; ".join("held by %s (pid %s): %d, e.g. %s" % (
            md(p["command"]), md(p["pid"]), p["count"], md("; ".join(p["sample"][:3]))) for p in procs)
        lines.append("CLOSE_WAIT: %d; %s" % (r["close_wait"]["total"], held or "none"))
        lines.append("")
        lines.append("Port exhaustion: %s" % md(_busiest(r) or "none"))
    return "\n".join(lines) + "\n"


def _bars(items, width=420):
    """Rows for a horizontal SVG bar chart: label and value never cut (label column sized to the text)."""
    top = max([v for _l, v in items] or [1]) or 1
    label_w = max([len(u"%s" % l) for l, _v in items] or [4]) * 7 + 12
    value_w = max([len(str(v)) for _l, v in items] or [1]) * 8 + 12
    rows = []
    for i, (label, value) in enumerate(items):
        rows.append({"label": label, "value": value, "y": 5 + i * 22, "w": max(int(width * value / top), 1)})
    return {"rows": rows, "label_w": label_w, "width": label_w + width + value_w + 10,
            "height": 22 * len(items) + 10}


def diagnose_html(records, hosts, generated=None):
    ok, errors, unreachable = diagnose_split(records, hosts)
    ranked, _u = diagnose_order(records, hosts)
    dests = {}
    for h in ranked:
        for x in ok[h]["time_wait"].get("top_remote", []):
            if "port" in x:
                k = "%s:%d" % (x["address"], x["port"])
                dests[k] = dests.get(k, 0) + x["count"]
    top_dests = sorted(dests.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    rows = [dict(host=h, r=ok[h], busiest=_busiest(ok[h])) for h in ranked]
    return _env().get_template("diagnose.html.j2").render(
        rows=rows, errors=errors, unreachable=unreachable,
        tw=_bars([(h, ok[h]["time_wait"]["total"]) for h in ranked]),
        cw=_bars([(h, ok[h]["close_wait"]["total"]) for h in ranked]),
        dests=_bars(top_dests), generated=(generated or _now()).isoformat())


def diagnose_reports(records, hosts):
    ok, errors, unreachable = diagnose_split(records, hosts)
    ranked, _u = diagnose_order(records, hosts)
    data = {"schema_version": SCHEMA_VERSION, "kind": "diagnose",
            "hosts": [dict(ok[h], host=h) for h in ranked],
            "errors": [{"host": h, "error": errors[h]} for h in sorted(errors)], "unreachable": unreachable}
    return {
        "json": json.dumps(data, indent=1, sort_keys=True) + "\n",
        "markdown": diagnose_markdown(records, hosts),
        "html": diagnose_html(records, hosts),
        "order": ranked,
        "errors": dict(errors),
        "unreachable": unreachable,
    }


# --------------------------------------------------------------------------
# Rollout
# --------------------------------------------------------------------------

ROLLOUT_STATUSES = ("kept", "unchanged", "would_change", "restored", "batch_restored", "not_touched", "unreachable",
                    "error")
ROLLOUT_RESULTS = {
    "kept": "changed and kept",
    "unchanged": "unchanged",
    "would_change": "would change (check mode)",
    "restored": "failed a check and restored",
    "batch_restored": "restored because its batch failed",
    "not_touched": "not touched because the rollout stopped",
    "unreachable": "unreachable",
    "error": "error",
}
_ROLLOUT_OK = ("kept", "unchanged", "would_change")


def _flag(value):
    """A boolean from a record, also when a controller templated it to a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _pct(value):
    return "%g%%" % float(value or 0)


def _check(text):
    """A failed check, "name: message", as {check, message}."""
    name, sep, message = u"%s" % (text,), "", ""
    if ": " in name:
        name, sep, message = name.partition(": ")
    return {"check": name, "message": message if sep else name}


def _restore_text(r):
    if r.get("source") is None:
        return "%s: left at %s (no file sets it, no value recorded)" % (r.get("key"), r.get("runtime"))
    return "%s: %s from %s" % (r.get("key"), r.get("value"), r.get("source"))


def _restore_lines(restore):
    """What a restore did, line by line, for every report."""
    lines = list(restore["runtime_changes"]) + [_restore_text(r) for r in restore["restore"]]
    if restore["failed"]:
        lines.append("restore failed: %s" % (restore["msg"] or "failed"))
    prev = restore["previous_version"]
    if prev is not None:
        if prev["failed"]:
            lines.append("putting the earlier version of the file back failed: %s" % (prev["msg"] or "failed"))
        else:
            lines.append("earlier version of the file put back (%d keys)" % len(prev["settings"]))
            lines.extend(prev["runtime_changes"])
    return lines or ["nothing to restore"]


def rollout_host(host, rec, halted, halted_at=None):
    """One host's rollout verdict from its record (see playbooks/rollout.yml, "kt_rollout_record_now")."""
    rec = rec or {}
    h = {"host": host, "batch": _int_or_none(rec.get("batch")), "status": None, "checks": [], "errors": [],
         "runtime_changes": [], "restore": None}
    before, apply_, restore = rec.get("before") or {}, rec.get("apply") or {}, rec.get("restore")
    h["checks"] = [_check(c) for c in rec.get("checks") or []]
    h["runtime_changes"] = list(apply_.get("runtime_changes") or [])
    if restore:
        prev = restore.get("previous_version")
        h["restore"] = {"reason": restore.get("reason"), "changed": _flag(restore.get("changed")),
                        "failed": _flag(restore.get("failed")) or _flag(restore.get("unreachable")),
                        "msg": restore.get("msg") or "",
                        "restore": list(restore.get("restore") or []),
                        "runtime_changes": list(restore.get("runtime_changes") or []),
                        "previous_version": None if not prev else {
                            "settings": dict(prev.get("settings") or {}), "failed": _flag(prev.get("failed")),
                            "msg": prev.get("msg") or "", "runtime_changes": list(prev.get("runtime_changes") or [])}}
        h["restore"]["lines"] = _restore_lines(h["restore"])
    if not _flag(rec.get("started")):
        if halted and (h["batch"] is None or halted_at is None or h["batch"] > halted_at):
            h["status"] = "not_touched"
        else:
            h["status"] = "error"
            h["errors"].append("no record: the rollout play did not run on this host")
    elif rec.get("error"):
        h["status"] = "error"
        if restore:
            prev = h["restore"]["previous_version"]
            ok = not h["restore"]["failed"] and not (prev and prev["failed"])
            tail = "; it was restored" if ok else "; restoring it failed"
        elif "apply" not in rec:
            tail = ""  # the record of last resort: its error says what is known
        elif not _flag(apply_.get("changed")):
            tail = "; nothing had been changed"
        else:
            tail = "; it was changed and not restored"
        h["errors"].append("the rollout's tasks failed on this host (%s)%s" % (rec["error"], tail))
    elif _flag(before.get("unreachable")):
        h["status"] = "unreachable"
        h["errors"].append("unreachable before the change: %s" % (before.get("msg") or "unreachable"))
    elif _flag(before.get("failed")):
        h["status"] = "error"
        h["errors"].append("tcp_info: the probe before the change failed, nothing was changed: %s"
                           % (before.get("msg") or "failed"))
    elif _flag(apply_.get("unreachable")):
        h["status"] = "unreachable"
        h["errors"].append("unreachable when applying the profile: %s" % (apply_.get("msg") or "unreachable"))
    elif _flag(apply_.get("failed")):
        h["status"] = "error"
        h["errors"].append("tcp_sysctl: %s" % (apply_.get("msg") or "failed"))
    elif _flag(apply_.get("skipped")) and h["checks"]:
        h["status"] = "error"
        h["errors"].append("not changed: a health check failed before the change")
    elif not _flag(apply_.get("changed")):
        h["status"] = "unchanged"
    elif _flag(rec.get("check_mode")):
        h["status"] = "would_change"
    elif restore:
        if _flag(restore.get("unreachable")):
            h["status"] = "unreachable"
            h["errors"].append("unreachable when restoring: %s" % (restore.get("msg") or "unreachable"))
        elif _flag(restore.get("failed")):
            h["status"] = "error"
            h["errors"].append("restore failed: %s" % (restore.get("msg") or "failed"))
        elif h["restore"]["previous_version"] and h["restore"]["previous_version"]["failed"]:
            h["status"] = "error"
            h["errors"].append("putting the earlier version of the file back failed: %s"
                               % (h["restore"]["previous_version"]["msg"] or "failed"))
        else:
            h["status"] = "restored" if restore.get("reason") == "check" else "batch_restored"
    elif h["checks"]:
        h["status"] = "error"
        h["errors"].append("a check failed and no restore was made")
    else:
        h["status"] = "kept"
    h["result"] = ROLLOUT_RESULTS[h["status"]]
    return h


def rollout_summary(records, hosts, rollout):
    """The rollout's verdict. rollout: {profile, check_mode, halted, halt: {batch, hosts, failed,
    max_fail_percentage} or None, batches, max_fail_percentage}."""
    rollout = rollout or {}
    halted = _flag(rollout.get("halted"))
    halt = rollout.get("halt") or {} if halted else {}
    halted_at = _int_or_none(halt.get("batch")) if halted else None
    out = [rollout_host(h, records.get(h), halted, halted_at) for h in sorted(set(hosts))]
    # Inventory order within a batch would be nicer to read, but batch then name is stable.
    out.sort(key=lambda h: (h["batch"] if h["batch"] is not None else 1 << 30, h["host"]))
    by_host = {h["host"]: h for h in out}
    status = dict((s, sum(1 for h in out if h["status"] == s)) for s in ROLLOUT_STATUSES)
    # Batches planned: the last batch number a host was given (a host never touched still has its batch).
    batches = max([h["batch"] for h in out if h["batch"] is not None] or [0])
    reason = None
    if halted:
        failed = list(halt.get("failed") or [])
        why = []
        for name in failed:
            h = by_host.get(name)
            what = sorted(set(c["check"] for c in h["checks"])) if h else []
            if h and not what:
                what = [h["status"]]
            why.append("%s: %s" % (name, ", ".join(what) or "failed"))
        reason = "%d of %d hosts of batch %s failed (%s), more than kt_rollout_max_fail_percentage (%s)" % (
            len(failed), len(halt.get("hosts") or []), halted_at, "; ".join(why),
            _pct(halt.get("max_fail_percentage", rollout.get("max_fail_percentage"))))
    passed = bool(out) and not halted and all(h["status"] in _ROLLOUT_OK for h in out)
    return {"profile": rollout.get("profile"), "check_mode": _flag(rollout.get("check_mode")),
            "batch_sizes": list(rollout.get("batches") or []),
            "max_fail_percentage": float(rollout.get("max_fail_percentage") or 0),
            "passed": passed, "halted": halted, "halted_at_batch": halted_at, "halt_reason": reason,
            "batches": batches, "status": status, "hosts": out}


def rollout_gate(summary):
    """Why the rollout gate fails (without the report directory), or None when it passes."""
    if summary["passed"]:
        return None

    def names(*statuses):
        return ", ".join(h["host"] for h in summary["hosts"] if h["status"] in statuses)
    parts = []
    for label, statuses in (("restored", ("restored", "batch_restored")), ("unreachable", ("unreachable",)),
                            ("errors", ("error",)), ("not touched", ("not_touched",))):
        n = names(*statuses)
        if n:
            parts.append("%s: %s" % (label, n))
    if summary["halted"]:
        head = "rollout halted at batch %s: %s" % (summary["halted_at_batch"], summary["halt_reason"])
    elif not summary["hosts"]:
        head = "rollout failed: no host"
    else:
        head = "rollout failed"
    return "; ".join([head] + parts)


def _verdict_line(summary, esc=lambda v: v):
    """The verdict in one sentence; esc makes host-derived text inert (md for Markdown)."""
    if summary["passed"]:
        return "PASS: every host %s." % ("would be changed or is already set (check mode)"
                                         if summary["check_mode"] else "kept the profile or already had it")
    if summary["halted"]:
        return "FAIL: halted at batch %s of %s: %s." % (
            summary["halted_at_batch"], summary["batches"], esc(summary["halt_reason"]))
    return "FAIL: %s." % esc(rollout_gate(summary))


def _rollout_counts(summary):
    return ", ".join("%d %s" % (summary["status"][k], "with errors" if k == "error" else ROLLOUT_RESULTS[k])
                     for k in ROLLOUT_STATUSES)


def rollout_markdown(summary):
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
            md(h["host"]), h["batch"] if h["batch"] is not None else "-", h["result"],
            "<br>".join(md(x) for x in checks) or "-", "<br>".join(md(x) for x in h["runtime_changes"]) or "-",
            restore))
    return "\n".join(lines) + "\n"


def rollout_junit(summary, timestamp=None):
    """JUnit XML: one testsuite per host, a "rollout" case with the host's result and a case per failed check."""
    ts = (timestamp or _now()).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites")
    for n, h in enumerate(summary["hosts"]):
        host = h["host"]
        suite = _sub(root, "testsuite", name=host or "-", package="kerneltune.tcp.rollout", id=str(n),
                     hostname=host or "-", timestamp=ts, time="0.000")
        props = ET.SubElement(suite, "properties")
        _sub(props, "property", name="status", value=h["status"])
        _sub(props, "property", name="batch", value="-" if h["batch"] is None else str(h["batch"]))
        _sub(props, "property", name="profile", value=summary["profile"] or "-")
        cls = "%s.batch%s" % (host, "-" if h["batch"] is None else h["batch"])
        counts = {"tests": 1, "failures": 0, "errors": 0, "skipped": 0}
        tc = _sub(suite, "testcase", classname=cls, name="rollout", time="0")
        if h["status"] == "restored":
            _sub(tc, "failure", message="failed checks: %s; restored" % ", ".join(c["check"] for c in h["checks"]),
                 type="restored").text = xml_text("\n".join(h["restore"]["lines"]))
            counts["failures"] += 1
        elif h["status"] == "batch_restored":
            _sub(tc, "failure", message="restored: batch %s failed" % h["batch"], type="batch_restored").text = \
                xml_text("\n".join(h["restore"]["lines"]))
            counts["failures"] += 1
        elif h["status"] == "not_touched":
            _sub(tc, "skipped", message="not touched: the rollout halted at batch %s" % summary["halted_at_batch"])
            counts["skipped"] += 1
        elif h["status"] in ("unreachable", "error"):
            _sub(tc, "error", message=h["status"], type=h["status"]).text = xml_text("\n".join(h["errors"]))
            counts["errors"] += 1
        for c in h["checks"]:
            tc = _sub(suite, "testcase", classname=cls, name="check %s" % c["check"], time="0")
            _sub(tc, "failure", message=c["check"], type="check").text = xml_text(c["message"])
            counts["tests"] += 1
            counts["failures"] += 1
        ET.SubElement(suite, "system-out").text = xml_text("\n".join(h["runtime_changes"]))
        ET.SubElement(suite, "system-err").text = xml_text("\n".join(h["errors"]))
        for k in ("tests", "failures", "errors", "skipped"):
            suite.set(k, str(counts[k]))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def rollout_html(summary, generated=None):
    hosts = [dict(h) for h in summary["hosts"]]
    return _env().get_template("rollout.html.j2").render(
        summary=summary, hosts=hosts, statuses=ROLLOUT_STATUSES, results=ROLLOUT_RESULTS,
        verdict_text=_verdict_line(summary), counts=_rollout_counts(summary), gate=rollout_gate(summary),
        generated=(generated or _now()).isoformat())


def rollout_json(summary, records, generated=None):
    data = {"schema_version": SCHEMA_VERSION, "kind": "rollout", "generated": (generated or _now()).isoformat(),
            "records": records}
    data.update(summary)
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def rollout_reports(records, hosts, rollout):
    summary = rollout_summary(records, hosts, rollout)
    now = _now()
    return {
        "summary": summary,
        "gate": rollout_gate(summary),
        "json": rollout_json(summary, records, now),
        "junit": rollout_junit(summary, now),
        "markdown": rollout_markdown(summary),
        "html": rollout_html(summary, now),
    }
