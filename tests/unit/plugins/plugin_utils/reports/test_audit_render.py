# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's reports: JUnit (parsed by junitparser, validated against the Jenkins/Ant XSD), JSON (validated
against the shipped schema), Markdown, HTML, hostile strings."""
import json
from xml.etree import ElementTree as ET

import jsonschema
import junitparser
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_render, registry

from .samples import HOSTILE, HOSTS, SCHEMA, _Collect, hostile_records, records, validate_junit


def test_junit_is_valid_and_read_by_junitparser(tmp_path):
    r = records()
    xml = audit_render.audit_junit(audit.audit_summary(r, HOSTS), r)
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
    out = registry.build("audit", records(), HOSTS)["files"]
    with open(SCHEMA) as f:
        schema = json.load(f)
    data = json.loads(out["json"])
    jsonschema.validate(data, schema)
    assert sum(data["status"].values()) == data["totals"]["hosts"] == 7
    bad = dict(data, totals=dict(data["totals"], hosts=-1))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_markdown_lines():
    md = audit_render.audit_markdown(audit.audit_summary(records(), HOSTS))
    assert "**FAIL**: 1 of 7 hosts compliant; 2 unreachable, 1 with runtime drift, 1 with boot-time drift, " \
           "1 overridden, 2 with errors." in md
    assert "net.core.somaxconn: 1000 -\\> 8192" in md
    assert "net.ipv4.tcp\\_fin\\_timeout: boots with 60 from /etc/sysctl.conf, wants 30" in md
    assert "| ghost | unreachable |" in md
    assert "| lonely | error | - | - | - | - | no profile: the host is in no group mapped to a profile |" in md


def test_hostile_strings_everywhere(tmp_path):
    recs = hostile_records()
    hosts = list(recs) + ["ghost" + HOSTILE]
    baseline = json.loads(registry.build("audit", recs, hosts)["files"]["json"])
    out = registry.build("audit", recs, hosts, baseline=baseline)["files"]
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
