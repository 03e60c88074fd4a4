# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet report rendering: verdicts, JUnit (parsed by junitparser, validated against the Jenkins/Ant XSD),
JSON (validated against the shipped schema), Markdown, HTML, baseline, merge, hostile strings."""
import json
import os
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import jsonschema
import junitparser
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils import reports

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCHEMA = os.path.join(ROOT, "docs", "schemas", "audit.schema.json")
# The Apache Ant / Jenkins JUnit schema (windyroad/JUnit-Schema, JUnit.xsd, Apache License 2.0); see
# tests/fixtures/junit/README.md for where to put it.
XSD = os.environ.get("KT_JUNIT_XSD", os.path.join(ROOT, "tests", "fixtures", "junit", "JUnit.xsd"))


def entry(key, status="ok", runtime="1", desired="1", rd=False, pd=False, by=None, persisted="1", before=None,
          src_before=None):
    return {"key": key, "desired": desired, "runtime": runtime, "persisted": persisted,
            "source": "/etc/sysctl.d/80-kerneltune-web_frontend.conf", "persisted_before": before,
            "source_before": src_before, "runtime_drift": rd, "persisted_drift": pd, "overridden_by": by,
            "status": status}


def records():
    return {
        "ok": {"profiles": [{"profile": "web_frontend",
                             "result": {"settings": [entry("net.core.somaxconn")], "findings": []}}]},
        "drift": {"profiles": [{"profile": "web_frontend", "result": {"settings": [
            entry("net.core.somaxconn", "drift", runtime="1000", desired="8192", rd=True),
            entry("net.ipv4.tcp_fin_timeout", "drift", runtime="30", desired="30", pd=True, before="60",
                  src_before="/etc/sysctl.conf")], "findings": []}}]},
        "over": {"profiles": [{"profile": "web_frontend", "result": {"settings": [
            entry("net.ipv4.tcp_fin_timeout", "overridden", desired="30", persisted="45",
                  by="/etc/sysctl.d/99-local.conf")], "findings": []}}]},
        "refused": {"profiles": [{"profile": "web_frontend", "error": "net.ipv4.zz: no such key", "result": {}}]},
        "lonely": {"profiles": []},
        "down": {"profiles": [{"profile": "web_frontend", "unreachable": True, "error": "ssh: timed out",
                               "result": {}}]},
    }


HOSTS = ["ok", "drift", "over", "refused", "lonely", "down", "ghost"]


def validate_junit(xml):
    import xmlschema  # pylint: disable=import-outside-toplevel
    assert os.path.exists(XSD), "JUnit.xsd not at %s (see tests/fixtures/junit/README.md)" % XSD
    xmlschema.XMLSchema(XSD).validate(xml)


def test_summary_verdicts_and_totals():
    s = reports.audit_summary(records(), HOSTS)
    v = {h["host"]: h["status"] for h in s["hosts"]}
    assert v == {"ok": "compliant", "drift": "drift", "over": "overridden", "refused": "error", "lonely": "error",
                 "down": "unreachable", "ghost": "unreachable"}
    assert s["totals"] == {"hosts": 7, "compliant": 1, "unreachable": 2, "runtime_drift": 1, "boot_drift": 1,
                           "overridden": 1, "errors": 2}
    assert s["status"] == {"compliant": 1, "drift": 1, "overridden": 1, "error": 2, "unreachable": 2}
    assert s["drifted_keys"] == [{"key": "net.ipv4.tcp_fin_timeout", "hosts": 2},
                                 {"key": "net.core.somaxconn", "hosts": 1}]
    by = {h["host"]: h for h in s["hosts"]}
    assert by["lonely"]["errors"] == ["no profile: the host is in no group mapped to a profile"]
    assert by["down"]["errors"] == ["unreachable: ssh: timed out"]
    assert by["ghost"]["errors"] == ["unreachable"]
    assert s["passed"] is False
    assert reports.audit_summary({"ok": records()["ok"]}, ["ok"])["passed"] is True
    # No host at all never passes.
    assert reports.audit_summary({}, [])["passed"] is False


def test_junit_is_valid_and_read_by_junitparser(tmp_path):
    r = records()
    xml = reports.audit_junit(reports.audit_summary(r, HOSTS), r)
    validate_junit(xml)
    path = tmp_path / "junit.xml"
    path.write_text(xml)
    suites = {s.name: s for s in junitparser.JUnitXml.fromfile(str(path))}
    assert sorted(suites) == sorted(HOSTS)
    counts = {n: (s.tests, s.failures, s.errors, s.skipped) for n, s in suites.items()}
    assert counts == {"ok": (1, 0, 0, 0), "drift": (2, 2, 0, 0), "over": (1, 1, 0, 0), "refused": (1, 0, 1, 0),
                      "lonely": (1, 0, 1, 0), "down": (1, 0, 1, 0), "ghost": (1, 0, 1, 0)}
    for n, s in suites.items():
        assert s.hostname == n
        assert s.timestamp and s.time == 0.0
    cases = {(c.classname, c.name): c for s in suites.values() for c in s}
    f = cases[("drift.web_frontend", "net.core.somaxconn")].result[0]
    assert isinstance(f, junitparser.Failure)
    assert f.message == "runtime drift"
    assert f.text.startswith("desired=8192 runtime=1000 persisted=1 ")
    assert cases[("drift.web_frontend", "net.ipv4.tcp_fin_timeout")].result[0].message == "boot-time drift"
    assert cases[("over.web_frontend", "net.ipv4.tcp_fin_timeout")].result[0].message == \
        "overridden by /etc/sysctl.d/99-local.conf"
    e = cases[("ghost", "reachable")].result[0]
    assert isinstance(e, junitparser.Error) and e.message == "unreachable"
    assert cases[("lonely", "profile")].result[0].message == "no profile"
    assert cases[("refused.web_frontend", "audit")].result[0].text == "net.ipv4.zz: no such key"
    assert cases[("ok.web_frontend", "net.core.somaxconn")].result == []


def test_json_matches_the_shipped_schema():
    out = reports.audit_reports(records(), HOSTS)
    with open(SCHEMA) as f:
        schema = json.load(f)
    data = json.loads(out["json"])
    jsonschema.validate(data, schema)
    assert sum(data["status"].values()) == data["totals"]["hosts"] == 7
    bad = dict(data, totals=dict(data["totals"], hosts=-1))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_markdown_lines():
    md = reports.audit_markdown(reports.audit_summary(records(), HOSTS))
    assert "**FAIL**: 1 of 7 hosts compliant; 2 unreachable, 1 with runtime drift, 1 with boot-time drift, " \
           "1 overridden, 2 with errors." in md
    assert "net.core.somaxconn: 1000 -\\> 8192" in md
    assert "net.ipv4.tcp\\_fin\\_timeout: boots with 60 from /etc/sysctl.conf, wants 30" in md
    assert "| ghost | unreachable |" in md
    assert "| lonely | error | - | - | - | - | no profile: the host is in no group mapped to a profile |" in md


HOSTILE = "<script>alert(1)</script>\"'&amp;|*_`[x](y)\x00\x07\x1b\ufffe\nend"


def hostile_records():
    h = HOSTILE
    e = entry("net.core." + h, "drift", runtime=h, desired=h, rd=True, pd=True, before=h, src_before=h)
    o = entry("net.ipv4." + h, "overridden", persisted=h, by=h)
    return {"web" + h: {"profiles": [{"profile": "p" + h, "error": h, "result": {
        "settings": [e, o], "findings": [{"severity": "error", "rule": h, "message": h}]}}]},
        "lonely" + h: {"profiles": []}}


class _Collect(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags, self.text, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.scripts += tag == "script"

    def handle_data(self, data):
        self.text.append(data)


def test_hostile_strings_everywhere(tmp_path):
    recs = hostile_records()
    hosts = list(recs) + ["ghost" + HOSTILE]
    baseline = json.loads(reports.audit_reports(recs, hosts)["json"])
    out = reports.audit_reports(recs, hosts, baseline=baseline)
    # XML: well-formed, XSD-valid, forbidden characters gone, text intact otherwise.
    root = ET.fromstring(out["junit"].split("\n", 1)[1])
    assert all("\x00" not in (s.get("name") or "") for s in root)
    assert {s.get("hostname") for s in root} == {
        "web<script>alert(1)</script>\"'&amp;|*_`[x](y)\nend", "lonely<script>alert(1)</script>\"'&amp;|*_`[x](y)\nend",
        "ghost<script>alert(1)</script>\"'&amp;|*_`[x](y)\nend"}
    path = tmp_path / "j.xml"
    path.write_text(out["junit"])
    assert len(list(junitparser.JUnitXml.fromfile(str(path)))) == 3
    # HTML: the only script element is ours; the hostile text shows as text.
    p = _Collect()
    p.feed(out["html"])
    assert p.scripts == 1
    assert "alert" not in "".join(p.tags)
    assert out["html"].count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8
    assert "<script>alert" not in out["html"]
    assert "\x00" not in out["html"] and "\x1b" not in out["html"]
    assert "&amp;amp;" in out["html"]
    # Markdown: nothing from the host starts markup or breaks the table.
    lines = [x for x in out["markdown"].splitlines() if x.startswith("| web")]
    assert len(lines) == 1 and lines[0].count(" | ") == 6
    assert "\\<script\\>alert(1)\\</script\\>\"'\\&amp;\\|\\*\\_\\`\\[x\\](y) end" in lines[0]
    assert "<script>" not in out["markdown"]
    # JSON keeps the strings exactly.
    data = json.loads(out["json"])
    assert data["records"]["web" + HOSTILE]["profiles"][0]["error"] == HOSTILE


def test_baseline_marks_new_still_resolved_and_fail_on_new():
    before = records()
    base = json.loads(reports.audit_reports(before, HOSTS)["json"])
    now = records()
    # somaxconn fixed on "drift"; a new runtime drift on "ok".
    now["drift"]["profiles"][0]["result"]["settings"][0] = entry("net.core.somaxconn")
    now["ok"]["profiles"][0]["result"]["settings"][0] = entry("net.core.somaxconn", "drift", runtime="5",
                                                              desired="8192", rd=True)
    s = reports.audit_summary(now, HOSTS, baseline=base)
    by = {h["host"]: h for h in s["hosts"]}
    assert by["ok"]["runtime_drift"][0]["change"] == "new"
    assert by["drift"]["boot_drift"][0]["change"] == "still"
    assert by["over"]["overridden"][0]["change"] == "still"
    assert by["drift"]["resolved"] == [dict(base["hosts"][1]["runtime_drift"][0], kind="runtime_drift",
                                            change="resolved")]
    assert s["changes"] == {"new": 1, "still": 2, "resolved": 1}
    out = reports.audit_reports(now, HOSTS, baseline=base)
    assert "Since the baseline: 1 new, 2 still present, 1 resolved." in out["markdown"]
    assert "net.core.somaxconn: 5 -\\> 8192 [new]" in out["markdown"]
    assert "- drift: net.core.somaxconn (runtime drift)" in out["markdown"]
    assert 'message="runtime drift [new]"' in out["junit"]
    assert 'message="boot-time drift [still]"' in out["junit"]
    assert '<span class="new">new</span>' in out["html"] and "resolved since baseline" in out["junit"]
    jsonschema.validate(json.loads(out["json"]), json.load(open(SCHEMA)))
    # fail_on=new: old drift passes, new drift fails, errors and unreachable hosts always fail.
    only_old = {k: v for k, v in before.items() if k in ("drift", "over")}
    b2 = json.loads(reports.audit_reports(only_old, ["drift", "over"])["json"])
    assert reports.audit_summary(only_old, ["drift", "over"], b2, "new")["passed"] is True
    assert reports.audit_summary(only_old, ["drift", "over"], b2, "any")["passed"] is False
    assert reports.audit_summary(only_old, ["drift", "over", "ghost"], b2, "new")["passed"] is False
    assert reports.audit_summary(now, HOSTS, base, "new")["passed"] is False


def test_merge_slices(tmp_path):
    r = records()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(reports.audit_reports({k: r[k] for k in ("ok", "drift")}, ["ok", "drift", "ghost"])["json"])
    b.write_text(reports.audit_reports({k: r[k] for k in ("over", "down")}, ["over", "down"])["json"])
    recs, hosts = reports.merge_audits([str(a), str(b)])
    assert sorted(hosts) == ["down", "drift", "ghost", "ok", "over"]
    s = reports.audit_summary(recs, hosts)
    assert s["status"] == {"compliant": 1, "drift": 1, "overridden": 1, "error": 0, "unreachable": 2}
    with pytest.raises(reports.ReportError) as e:
        reports.merge_audits([str(a), str(a)])
    assert str(e.value) == "merge: host drift is in both %s and %s" % (a, a)
    c = tmp_path / "c.json"
    c.write_text("{}")
    with pytest.raises(reports.ReportError) as e:
        reports.merge_audits([str(c)])
    assert str(e.value) == "%s: not an audit.json written by kerneltune.tcp.fleet_report" % c
    with pytest.raises(reports.ReportError) as e:
        reports.merge_audits([str(tmp_path / "none.json")])
    assert str(e.value) == "%s: cannot read: No such file or directory" % (tmp_path / "none.json")


def info(tw, errors=0, warnings=0, cw=0):
    f = [{"id": "e", "severity": "error", "message": "m", "remedy": "r"}] * errors
    f += [{"id": "w", "severity": "warning", "message": "m", "remedy": "r"}] * warnings
    return {"time_wait": {"total": tw, "outbound": tw, "inbound": 0,
                          "top_remote": [{"address": "10.0.0.5", "port": 5432, "count": tw}]},
            "close_wait": {"total": cw, "processes": []}, "findings": f,
            "ephemeral_ports": {"busiest_destination": None}}


def test_diagnose_worst_first_errors_and_unreachable():
    recs = {"a": info(10), "b": info(5, warnings=1), "c": info(1, errors=1), "d": info(144),
            "f": {"failed": True, "msg": "tcp_info: netlink refused"}, "u": {"unreachable": True, "msg": "x"}}
    out = reports.diagnose_reports(recs, ["a", "b", "c", "d", "e", "f", "u"])
    assert out["order"] == ["c", "b", "d", "a"]
    assert out["unreachable"] == ["e", "u"]
    assert out["errors"] == {"f": "tcp_info: netlink refused"}
    assert "| f | error | | | tcp\\_info: netlink refused |" in out["markdown"]
    assert "f: error: <code>tcp_info: netlink refused</code>" in out["html"]
    assert "Top TIME_WAIT destinations (fleet)" in out["html"]
    assert out["markdown"].index("| c |") < out["markdown"].index("| a |")
    assert "Findings: none" in out["markdown"] and "CLOSE_WAIT: 0; none" in out["markdown"]
    assert "Port exhaustion: none" in out["markdown"]
    # Bar values are whole: "144" is in the page, and the value sits right of the bar inside the svg width.
    assert ">144</text>" in out["html"]


def test_bars_never_cut_labels():
    chart = reports._bars([("a-very-long-host-name.example.internal", 144), ("b", 7)])
    assert chart["label_w"] >= len("a-very-long-host-name.example.internal") * 7
    assert chart["width"] >= chart["label_w"] + 420 + len("144") * 8
    assert [r["label"] for r in chart["rows"]] == ["a-very-long-host-name.example.internal", "b"]


def test_audit_entry():
    ok = reports.audit_entry({"item": "web_frontend", "changed": True, "settings": [], "findings": [],
                              "ansible_loop_var": "item", "invocation": {"module_args": {}}})
    assert ok == {"profile": "web_frontend", "result": {"changed": True, "settings": [], "findings": []}}
    bad = reports.audit_entry({"item": "reverse_proxy", "failed": True, "msg": "kernel.panic: out of scope"})
    assert bad["error"] == "kernel.panic: out of scope" and bad["profile"] == "reverse_proxy"
    down = reports.audit_entry({"item": "web_frontend", "unreachable": True, "msg": "ssh: refused"})
    assert down["unreachable"] is True and down["error"] == "ssh: refused"


def test_report_paths(tmp_path, monkeypatch):
    from ansible_collections.kerneltune.tcp.plugins.action import fleet_report
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", "/nonexistent")
    p = fleet_report.report_paths("diagnose", None, {})
    assert p == {"json": str(tmp_path / "kerneltune-reports" / "diagnose.json"),
                 "markdown": str(tmp_path / "kerneltune-reports" / "diagnose.md"),
                 "html": str(tmp_path / "kerneltune-reports" / "diagnose.html")}
    assert fleet_report.report_paths("audit", "/r", {"junit": "j.xml"})["junit"] == str(tmp_path / "j.xml")
    with pytest.raises(reports.ReportError) as e:
        fleet_report.report_paths("diagnose", None, {"junit": "x"})
    assert str(e.value) == "paths: unknown report junit for kind diagnose (known: json, markdown, html)"


def test_hostile_strings_in_diagnose():
    h = HOSTILE
    r = {"time_wait": {"total": 2, "outbound": 2, "inbound": 0,
                       "top_remote": [{"address": h, "port": 1, "count": 2}]},
         "close_wait": {"total": 1, "processes": [{"command": h, "pid": h, "count": 1, "sample": [h]}]},
         "findings": [{"id": h, "severity": "warning", "message": h, "remedy": h}],
         "ephemeral_ports": {"busiest_destination": {"address": h, "port": 1, "local_ports_used": 3,
                                                     "share": 0.5}}}
    out = reports.diagnose_reports({"x" + h: r, "f" + h: {"failed": True, "msg": h}}, ["x" + h, "f" + h])
    p = _Collect()
    p.feed(out["html"])
    assert p.scripts == 0 and "<script>alert" not in out["html"] and "\x00" not in out["html"]
    assert out["html"].count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 9
    assert "<script>" not in out["markdown"] and "\x1b" not in out["markdown"]
    assert "held by \\<script\\>alert(1)\\</script\\>\"'\\&amp;\\|\\*\\_\\`\\[x\\](y) end" in out["markdown"]
    json.loads(out["json"])


def test_baseline_drift_to_another_value_is_new_and_unaudited_hosts_resolve_nothing():
    base = json.loads(reports.audit_reports(records(), HOSTS)["json"])
    now = records()
    # somaxconn on "drift" now drifts to another wrong value: new, not still.
    now["drift"]["profiles"][0]["result"]["settings"][0] = entry("net.core.somaxconn", "drift", runtime="1",
                                                                 desired="8192", rd=True)
    # "over" fails its probe this time: its old override is not resolved, it is unknown.
    now["over"] = {"profiles": [{"profile": "web_frontend", "error": "netlink refused", "result": {}}]}
    s = reports.audit_summary(now, HOSTS, baseline=base)
    by = {h["host"]: h for h in s["hosts"]}
    assert by["drift"]["runtime_drift"][0]["change"] == "new"
    assert by["over"]["resolved"] == [] and by["over"]["status"] == "error"
    assert [e["key"] for e in by["drift"]["resolved"]] == ["net.core.somaxconn"]  # the old value's drift is gone


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(schema_version=99),
     "%s: schema_version 99; this collection reads audit.json schema_version 1"),
    (lambda d: d["hosts"].append({"host": "x", "runtime_drift": "oops"}),
     '%s: host entry {"host": "x", "runtime_drift": "oops"} does not have the audit.json shape '
     "(docs/schemas/audit.schema.json)"),
    (lambda d: d["hosts"].append(["not", "a", "dict"]),
     '%s: host entry ["not", "a", "dict"] does not have the audit.json shape (docs/schemas/audit.schema.json)'),
])
def test_baseline_of_another_shape_is_refused_by_name(tmp_path, mutate, message):
    data = json.loads(reports.audit_reports(records(), HOSTS)["json"])
    mutate(data)
    p = tmp_path / "old.json"
    p.write_text(json.dumps(data))
    with pytest.raises(reports.ReportError) as e:
        reports.load_audit(str(p))
    assert str(e.value) == message % p


def test_markdown_line_separators_do_not_split_a_row():
    assert reports.md(u"a\u2028b\u2029c\u0085d") == "a b c d"


def test_bounds_are_shown_and_a_bounds_drift_keeps_its_identity():
    bound = {"min": 8192, "text": ">= 8192"}

    def recs(runtime):
        e = entry("net.core.somaxconn", "drift", runtime=runtime, desired="8192", rd=True, pd=True, before="4096",
                  src_before="/etc/sysctl.d/50-vendor.conf")
        e["bounds"] = bound
        return {"web": {"profiles": [{"profile": "web_frontend", "result": {"settings": [e], "findings": []}}]}}
    summary = reports.audit_summary(recs("1000"), ["web"])
    md = reports.audit_markdown(summary)
    assert "net.core.somaxconn: 1000 -\\> 8192 (bound \\>= 8192)" in md
    assert "net.core.somaxconn: boots with 4096 from /etc/sysctl.d/50-vendor.conf, wants \\>= 8192" in md
    html = reports.audit_html(summary)
    assert "net.core.somaxconn: 1000 -&gt; 8192 (bound &gt;= 8192)" in html
    # The boot-time drift is the same drift whatever the host runs now: the bound is what is wanted.
    again = reports.audit_summary(recs("2000"), ["web"], baseline=json.loads(reports.audit_json(summary, recs("1000"))))
    assert [e["change"] for e in again["hosts"][0]["boot_drift"]] == ["still"]
