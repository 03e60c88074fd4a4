# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's reports: JUnit (parsed by junitparser, validated against the Jenkins/Ant XSD), JSON (validated
against the shipped schema), Markdown, HTML, hostile strings; every count they show is the summary's."""
import json
import os
import sys
from xml.etree import ElementTree as ET

import jsonschema
import junitparser
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_render, common, registry

from .samples import HOSTILE, HOSTS, ROOT, SCHEMA, _Collect, hostile_records, records, validate_junit

sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))
import fleet_records  # noqa: E402

APPLY = "fix: apply the profile: run the role kerneltune.tcp.web_frontend on this host"


def _suites(tmp_path, xml):
    path = tmp_path / "junit.xml"
    path.write_text(xml)
    return {s.name: s for s in junitparser.JUnitXml.fromfile(str(path))}


def test_junit_is_valid_and_read_by_junitparser(tmp_path):
    r = records()
    xml = audit_render.audit_junit(audit.audit_summary(r, HOSTS), r)
    validate_junit(xml)
    suites = _suites(tmp_path, xml)
    assert sorted(suites) == sorted(HOSTS)
    counts = {n: (s.tests, s.failures, s.errors, s.skipped) for n, s in suites.items()}
    assert counts == {"ok": (1, 0, 0, 0), "drift": (2, 2, 0, 0), "fresh": (2, 2, 0, 0), "over": (2, 2, 0, 0),
                      "refused": (1, 0, 1, 0), "lonely": (1, 0, 1, 0), "down": (1, 0, 1, 0), "ghost": (1, 0, 1, 0)}
    for n, s in suites.items():
        assert s.hostname == n
        assert s.timestamp and s.time == 0.0
    cases = {(c.classname, c.name): c for s in suites.values() for c in s}
    f = cases[("drift.web_frontend", "net.core.somaxconn")].result[0]
    assert isinstance(f, junitparser.Failure)
    assert f.message == "runtime drift"
    assert f.text.splitlines() == [
        "net.core.somaxconn on drift (profile web_frontend)", "running: 1000",
        "at boot: 8192 from /etc/sysctl.d/80-kerneltune-web_frontend.conf", "wanted: 8192",
        "problem: runtime drift", APPLY]
    assert cases[("drift.web_frontend", "net.ipv4.tcp_fin_timeout")].result[0].message == "boot-time drift"
    o = cases[("over.web_frontend", "net.ipv4.tcp_fin_timeout")].result[0]
    assert o.message == "overridden by /etc/sysctl.d/99-local.conf"
    assert o.text.splitlines()[2:] == [
        "at boot: 45 from /etc/sysctl.d/99-local.conf", "wanted: 30",
        "problem: overridden by /etc/sysctl.d/99-local.conf, which sets 45 at boot",
        "fix: remove net.ipv4.tcp_fin_timeout from /etc/sysctl.d/99-local.conf (a later file wins at boot), or, if "
        "45 is right for this host, set it in web_frontend_sysctl_overrides"]
    e = cases[("ghost", "reachable")].result[0]
    assert isinstance(e, junitparser.Error) and e.message == "unreachable"
    assert e.text == ("ghost was unreachable; it is not compliant (unreachable)\n"
                      "fix: make the host reachable (ansible -m ping ghost), then audit it again")
    assert cases[("lonely", "profile")].result[0].message == "no profile"
    assert cases[("refused.web_frontend", "audit")].result[0].text == (
        "net.ipv4.zz: no such key\nfix: web_frontend could not be checked: correct the error above, then audit again")
    assert cases[("ok.web_frontend", "net.core.somaxconn")].result == []
    assert [p.value for p in suites["fresh"].properties() if p.name == "status"] == ["not_compliant"]


def test_junit_tells_what_a_host_that_never_had_the_profile_has(tmp_path):
    """The issue's case: no file sets the key, check mode predicts the profile's file. The body tells the host's
    state (running value, the kernel's default at boot), what is wanted and the fix; no Python repr."""
    r = records()
    cases = {(c.classname, c.name): c for s in _suites(tmp_path, audit_render.audit_junit(
        audit.audit_summary(r, HOSTS), r)).values() for c in s}
    f = cases[("fresh.web_frontend", "net.core.somaxconn")].result[0]
    assert f.message == "runtime drift, boot-time drift"
    assert f.text == "\n".join([
        "net.core.somaxconn on fresh (profile web_frontend)", "running: 4096",
        "at boot: 4096, the kernel default (no file sets it; read in a fresh network namespace)", "wanted: 8192",
        "problem: runtime drift; boot-time drift", APPLY])
    unknown = cases[("fresh.web_frontend", "net.ipv4.tcp_tw_reuse")].result[0].text.splitlines()
    assert unknown[2] == "at boot: the kernel default, value unknown: unshare: Operation not permitted (no file sets it)"
    bodies = [c.result[0].text for c in cases.values() if c.result]
    assert not [b for b in bodies if "None" in b or "=" in b or "80-kerneltune-web_frontend.conf" in b
                and "fresh" in b.splitlines()[0]]


def test_junit_at_a_thousand_hosts_matches_the_counts(tmp_path):
    recs, hosts = fleet_records.fleet(1000)
    s = audit.audit_summary(recs, hosts)
    suites = _suites(tmp_path, audit_render.audit_junit(s, recs))
    status = [[p.value for p in x.properties() if p.name == "status"][0] for x in suites.values()]
    assert dict((st, status.count(st)) for st in audit.STATUSES) == dict(
        (st, s["counts"][st]) for st in audit.STATUSES)
    failing = sum(1 for x in suites.values() if x.failures or x.errors)
    assert failing == s["counts"]["hosts"] - s["counts"]["compliant"]
    assert not any("None" in (c.result[0].text or "") for x in suites.values() for c in x if c.result)


def test_json_matches_the_shipped_schema():
    out = registry.build("audit", records(), HOSTS)["files"]
    with open(SCHEMA) as f:
        schema = json.load(f)
    data = json.loads(out["json"])
    jsonschema.validate(data, schema)
    assert data["schema_version"] == 2
    assert sum(data["counts"][s] for s in audit.STATUSES) == data["counts"]["hosts"] == 8
    bad = dict(data, counts=dict(data["counts"], hosts=-1))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    recs, hosts = fleet_records.fleet(100)
    jsonschema.validate(json.loads(registry.build("audit", recs, hosts)["files"]["json"]), schema)


def test_markdown_lines():
    context = {"pattern": "all", "limit": "web*"}
    md = audit_render.audit_markdown(audit.audit_summary(records(), HOSTS, context=context))
    lines = md.splitlines()
    assert lines[2] == "**FAIL**: 1 of 8 hosts compliant (12.5%): 3 not compliant, 2 with errors, 2 unreachable."
    assert lines[4] == ("Of the 3 not compliant hosts: 3 with runtime drift, 2 with boot-time drift, 1 with a key "
                        "overridden by a later file (a host can have more than one).")
    assert lines[6].startswith("Audited: kerneltune.tcp %s; host pattern all; --limit web\\*; profiles: "
                               "web\\_frontend; generated " % common.collection_version())
    rows = [x.split(" | ")[0][2:] for x in lines if x.startswith("| ") and not x.startswith("| host")]
    # Failing hosts first: errors, unreachable, not compliant, compliant.
    assert rows == ["lonely", "refused", "down", "ghost", "drift", "fresh", "over", "ok"]
    assert ("| fresh | not compliant | web\\_frontend | net.core.somaxconn (web\\_frontend): wanted 8192; running "
            "4096; at boot 4096, the kernel default (no file sets it; read in a fresh network namespace); runtime drift, boot-time drift<br>"
            "net.ipv4.tcp\\_tw\\_reuse (web\\_frontend): wanted 1; running 2; at boot the kernel default, value "
            "unknown: unshare: Operation not permitted (no file sets it); runtime drift, boot-time drift | apply the "
            "profile: run the role kerneltune.tcp.web\\_frontend on this host |") in lines
    assert "| ghost | unreachable | - | unreachable | make the host reachable (ansible -m ping ghost), then audit " \
           "it again |" in lines
    assert "| ok | compliant | web\\_frontend | - | - |" in lines


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
    assert len(lines) == 1 and lines[0].count(" | ") == 4
    assert "\\<script\\>alert(1)\\</script\\>\"'\\&amp;\\|\\*\\_\\`\\[x\\](y) end" in lines[0]
    assert "<script>" not in out["markdown"]
    # JSON keeps the strings exactly.
    data = json.loads(out["json"])
    assert data["records"]["web" + HOSTILE]["profiles"][0]["error"] == HOSTILE
