# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet report rendering: verdicts, JUnit, Markdown, HTML, ordering."""
from xml.etree import ElementTree as ET

from ansible_collections.kerneltune.tcp.plugins.plugin_utils import reports


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
    }


HOSTS = ["ok", "drift", "over", "refused", "ghost"]


def test_summary_verdicts_and_totals():
    s = reports.audit_summary(records(), HOSTS)
    v = {h["host"]: h["compliant"] for h in s["hosts"]}
    assert v == {"ok": True, "drift": False, "over": False, "refused": False, "ghost": False}
    assert s["totals"] == {"hosts": 5, "compliant": 1, "unreachable": 1, "runtime_drift": 1, "boot_drift": 1,
                           "overridden": 1, "errors": 1}
    assert s["passed"] is False
    assert reports.audit_summary({"ok": records()["ok"]}, ["ok"])["passed"] is True


def test_junit_cases():
    r = records()
    xml = reports.audit_junit(reports.audit_summary(r, HOSTS), r)
    suite = ET.fromstring(xml.split("\n", 1)[1])
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "3", "2")
    cases = {(c.get("classname"), c.get("name")): c for c in suite}
    f = cases[("drift.web_frontend", "net.core.somaxconn")].find("failure")
    assert f.get("message") == "runtime drift"
    assert f.text.startswith("desired=8192 runtime=1000 persisted=1 ")
    assert cases[("drift.web_frontend", "net.ipv4.tcp_fin_timeout")].find("failure").get("message") == \
        "boot-time drift"
    assert cases[("over.web_frontend", "net.ipv4.tcp_fin_timeout")].find("failure").get("message") == \
        "overridden by /etc/sysctl.d/99-local.conf"
    assert cases[("ghost", "reachable")].find("error").get("message") == "unreachable"
    assert cases[("refused.web_frontend", "audit")].find("error").text == "net.ipv4.zz: no such key"
    assert cases[("ok.web_frontend", "net.core.somaxconn")].find("failure") is None


def test_markdown_lines():
    md = reports.audit_markdown(reports.audit_summary(records(), HOSTS))
    assert "**FAIL**: 1 of 5 hosts compliant; 1 unreachable, 1 with runtime drift, 1 with boot-time drift, " \
           "1 overridden, 1 with errors." in md
    assert "net.core.somaxconn: 1000 -> 8192" in md
    assert "net.ipv4.tcp_fin_timeout: boots with 60 from /etc/sysctl.conf, wants 30" in md
    assert "net.ipv4.tcp_fin_timeout: 45 by /etc/sysctl.d/99-local.conf" in md
    assert "| ghost | unreachable |" in md


def test_html_escapes():
    r = {"x": {"profiles": [{"profile": "p", "error": "<script>", "result": {}}]}}
    page = reports.audit_html(reports.audit_summary(r, ["x"]))
    assert "<script>" not in page and "&lt;script&gt;" in page


def info(tw, errors=0, warnings=0):
    f = [{"id": "e", "severity": "error", "message": "m", "remedy": "r"}] * errors
    f += [{"id": "w", "severity": "warning", "message": "m", "remedy": "r"}] * warnings
    return {"time_wait": {"total": tw, "outbound": tw, "inbound": 0,
                          "top_remote": [{"address": "10.0.0.5", "port": 5432, "count": tw}]},
            "close_wait": {"total": 0, "processes": []}, "findings": f,
            "ephemeral_ports": {"busiest_destination": None}}


def test_diagnose_worst_first_and_chart():
    recs = {"a": info(10), "b": info(5, warnings=1), "c": info(1, errors=1), "d": info(99)}
    out = reports.diagnose_reports(recs, ["a", "b", "c", "d", "e"])
    assert out["order"] == ["c", "b", "d", "a"]
    assert out["unreachable"] == ["e"]
    assert out["html"].count("<rect ") == 4 + 1
    assert "Top TIME_WAIT destinations (fleet)" in out["html"]
    assert out["markdown"].index("| c |") < out["markdown"].index("| a |")


def test_audit_entry():
    ok = reports.audit_entry({"item": "web_frontend", "changed": True, "settings": [], "findings": [],
                              "ansible_loop_var": "item", "invocation": {"module_args": {}}})
    assert ok == {"profile": "web_frontend", "result": {"changed": True, "settings": [], "findings": []}}
    bad = reports.audit_entry({"item": "reverse_proxy", "failed": True, "msg": "kernel.panic: out of scope"})
    assert bad["error"] == "kernel.panic: out of scope" and bad["profile"] == "reverse_proxy"


def test_profile_lookup_composes_reverse_proxy():
    from ansible_collections.kerneltune.tcp.plugins.lookup import profile
    rp = profile.profile("reverse_proxy")
    assert rp["settings"] == {} and rp["nat"] == "present"
    assert rp["base"]["net.ipv4.tcp_fin_timeout"] == 15  # the outbound value wins
    assert rp["base"]["net.core.somaxconn"] == 8192
    assert profile.profile("web_frontend")["base"] == {}


def test_fleet_report_validates_and_converts_arguments(tmp_path):
    """The action plugin's one argument spec, through a real ansible-playbook run."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "results.json"
    play = tmp_path / "play.yml"
    play.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A string for hosts is one host; a string for fail_on_drift a boolean
      kerneltune.tcp.fleet_report:
        kind: audit
        records: {}
        hosts: web1
        fail_on_drift: "false"
        paths: {json: %(d)s/a.json, junit: %(d)s/a.xml, markdown: %(d)s/a.md, html: %(d)s/a.html}
      register: r1
    - name: Unknown kind
      kerneltune.tcp.fleet_report: {kind: census, records: {}, hosts: [], paths: {}}
      register: r2
      ignore_errors: true
    - name: Missing report paths
      kerneltune.tcp.fleet_report: {kind: diagnose, records: {}, hosts: [], paths: {json: %(d)s/d.json}}
      register: r3
      ignore_errors: true
    - name: Unknown option
      kerneltune.tcp.fleet_report: {kind: audit, records: {}, hosts: [], paths: {}, colour: red}
      register: r4
      ignore_errors: true
    - name: Keep the results
      ansible.builtin.copy:
        dest: %(d)s/results.json
        content: "{{ [r1, r2, r3, r4] | to_json }}"
        mode: "0600"
""" % {"d": tmp_path})
    base = next(p for p in sys.path if os.path.isdir(os.path.join(p, "ansible_collections", "kerneltune", "tcp")))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=base, ANSIBLE_NOCOLOR="1")
    bindir = os.path.dirname(sys.executable)
    run = subprocess.run([os.path.join(bindir, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "-e", "ansible_python_interpreter=" + sys.executable, str(play)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                         check=False)
    assert run.returncode == 0, run.stdout
    r1, r2, r3, r4 = json.loads(out.read_text())
    assert not r1.get("failed") and r1["summary"]["passed"] is False
    assert r1["summary"]["totals"]["hosts"] == 1 and r1["summary"]["totals"]["unreachable"] == 1
    assert [h["host"] for h in json.loads((tmp_path / "a.json").read_text())["hosts"]] == ["web1"]
    assert r2["failed"] and r2["msg"] == "value of kind must be one of: audit, diagnose, got: census"
    assert r3["failed"] and r3["msg"] == "paths: missing markdown, html"
    assert r4["failed"] and r4["msg"] == "Invalid options for kerneltune.tcp.fleet_report: colour"


def test_fleet_report_documentation_matches_its_argument_spec():
    """The module file documents exactly the options the action validates."""
    import yaml
    from ansible_collections.kerneltune.tcp.plugins.action import fleet_report as action
    from ansible_collections.kerneltune.tcp.plugins.modules import fleet_report as doc
    options = yaml.safe_load(doc.DOCUMENTATION)["options"]
    assert sorted(options) == sorted(action.ARGUMENT_SPEC)
    for name, spec in action.ARGUMENT_SPEC.items():
        o = options[name]
        assert o["type"] == spec["type"], name
        assert o.get("required", False) == spec.get("required", False), name
        assert o.get("default") == spec.get("default"), name
        assert o.get("choices") == spec.get("choices"), name
        assert o.get("elements") == spec.get("elements"), name
        assert sorted(o.get("suboptions", {})) == sorted(spec.get("options", {})), name
        for sub, subspec in spec.get("options", {}).items():
            assert o["suboptions"][sub]["type"] == subspec["type"], (name, sub)


def test_profile_lookup_unknown_name():
    import pytest
    from ansible.errors import AnsibleLookupError
    from ansible_collections.kerneltune.tcp.plugins.lookup import profile
    with pytest.raises(AnsibleLookupError) as e:
        profile.profile("database")
    assert str(e.value) == ("profile: no such profile 'database' (known: high_outbound_client, reverse_proxy, "
                            "sysctl, web_frontend)")
