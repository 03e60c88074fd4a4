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


def test_report_argument_errors():
    assert reports.check_report_args("audit", {"json": "a", "junit": "b", "markdown": "c", "html": "d"}) is None
    assert reports.check_report_args("census", {}) == "kind: 'census' must be audit or diagnose"
    assert reports.check_report_args("diagnose", {"json": "a"}) == "paths: missing markdown, html"


def test_profile_lookup_unknown_name():
    import pytest
    from ansible.errors import AnsibleLookupError
    from ansible_collections.kerneltune.tcp.plugins.lookup import profile
    with pytest.raises(AnsibleLookupError) as e:
        profile.profile("database")
    assert str(e.value) == ("profile: no such profile 'database' (known: high_outbound_client, reverse_proxy, "
                            "sysctl, web_frontend)")
