# SPDX-License-Identifier: GPL-3.0-or-later
"""What the audit reports say beyond the verdict (issues 22, 24, 25), in every format, word for word: notes that do
not change the verdict (a managed file without records, shadowed definitions), a key no file persists whose kernel
default happens to match, two profiles' bounds on one key, and the plain-text summaries of the rollout and the
diagnosis (no Markdown escapes)."""
import json
import os

import jsonschema
import junitparser

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_render, common, registry

from . import samples
from .notes_samples import HIGH, HOSTS, MISSING, records
from .rollout_samples import HOSTS as R_HOSTS, ROLLOUT, halted_records
from .samples import PATH, SCHEMA, validate_junit

MISSING_NOTE = (
    "web_frontend: records missing: %s; fix: run the role kerneltune.tcp.web_frontend on this host once: "
    "state=present records the file's keys as adopted (and writes the bound comment lines an earlier release did "
    "not; --check --diff shows every change first), so that removing the profile later puts back the values the "
    "host boots with (docs/tcp_sysctl.md, records)" % MISSING)
SHADOWED_NOTE = (
    "web_frontend: shadowed: net.ipv4.tcp_fin_timeout is also set to 20 in /usr/lib/sysctl.d/50-x.conf (line 1), "
    "which loses at boot to 30 from %s; fix: nothing changes at boot today; if an auditor reads every file, or "
    "before the file that wins goes, remove the line from /usr/lib/sysctl.d/50-x.conf or make it the value that "
    "wins (a package's file in /usr/lib: put a file of the same name without the line in /etc/sysctl.d)" % PATH)
TWO_NOTE = (
    "web_frontend: shadowed: net.ipv4.tcp_fin_timeout is also set to 15 in %s (line 4), which loses at boot to 30 "
    "from %s; fix: re-run web_frontend and high_outbound_client (roles kerneltune.tcp.web_frontend, "
    "kerneltune.tcp.high_outbound_client): a run rewrites its profile's kerneltune-managed file within every "
    "profile's bound on net.ipv4.tcp_fin_timeout; do not edit a kerneltune-managed file by hand" % (HIGH, PATH))
NOT_PERSISTED = "not persisted: no file sets it; the kernel default 1 happens to match"
RERUN_WEB = (
    "re-run the profile whose file holds the stale line: run the role kerneltune.tcp.web_frontend on this host "
    "(%s sets 30 at boot; a run rewrites it within every kerneltune.tcp profile's bound on "
    "net.ipv4.tcp_fin_timeout); do not edit a kerneltune-managed file by hand" % PATH)


def build():
    return registry.build("audit", records(), HOSTS, context={"pattern": "all", "limit": None})


def _by_host(summary):
    return dict((h["host"], h) for h in summary["hosts"])


def test_notes_do_not_change_the_verdict():
    """A compliant host with a file from an earlier release and a shadowed definition stays compliant; the audit
    of it alone passes; the counts say how many notes there are."""
    alone = audit.audit_summary({"noted": records()["noted"]}, ["noted"])
    assert alone["passed"] is True and alone["counts"]["compliant"] == 1 and alone["reasons"] == {
        "runtime_drift": 0, "boot_drift": 0, "overridden": 0}
    s = build()["summary"]
    assert s["notes"] == {"notes": 3, "hosts": 2, "records_missing": 1, "shadowed": 2}
    assert [audit.note_line(n) for n in _by_host(s)["noted"]["notes"]] == [MISSING_NOTE, SHADOWED_NOTE]
    assert [audit.note_line(n) for n in _by_host(s)["two"]["notes"]] == [TWO_NOTE]
    assert _by_host(s)["noted"]["status"] == "compliant" and _by_host(s)["noted"]["fix"] == []


def test_notes_in_json_and_set_stats():
    out = build()
    data = json.loads(out["files"]["json"])
    with open(SCHEMA) as f:
        jsonschema.validate(data, json.load(f))
    assert data["notes"] == out["task_result"]["summary"]["notes"] == {
        "notes": 3, "hosts": 2, "records_missing": 1, "shadowed": 2}
    noted = [h for h in data["hosts"] if h["host"] == "noted"][0]
    assert [n["kind"] for n in noted["notes"]] == ["records_missing", "shadowed"]
    assert noted["notes"][1]["key"] == "net.ipv4.tcp_fin_timeout"
    per = audit_render.audit_per_host(out["summary"])
    assert per["noted"] == {"status": "compliant", "fails_gate": False, "keys": [], "reason": "compliant",
                            "notes": [x.split("; fix: ", maxsplit=1)[0] for x in (MISSING_NOTE, SHADOWED_NOTE)]}
    assert per["noted"]["notes"][0] == "web_frontend: records missing: " + MISSING


def test_notes_in_junit_are_not_failures(tmp_path):
    out = build()
    validate_junit(out["files"]["junit"])
    path = tmp_path / "junit.xml"
    path.write_text(out["files"]["junit"])
    suites = dict((s.name, s) for s in junitparser.JUnitXml.fromfile(str(path)))
    noted = suites["noted"]
    assert (noted.tests, noted.failures, noted.errors, noted.skipped) == (2, 0, 0, 0)
    assert [p.value for p in noted.properties() if p.name == "notes"] == ["2"]
    assert noted.child(junitparser.SystemOut).text == "note: %s\nnote: %s" % (MISSING_NOTE, SHADOWED_NOTE)
    assert suites["two"].child(junitparser.SystemOut).text == "note: " + TWO_NOTE
    assert [p.value for p in suites["cookie"].properties() if p.name == "notes"] == ["0"]


def test_notes_in_markdown_html_and_the_plain_text():
    out = build()
    md = out["files"]["markdown"].splitlines()
    at = md.index("Notes (information only: they do not change the verdict):")
    assert md[at + 2:at + 5] == ["- two: " + common.md(TWO_NOTE), "- noted: " + common.md(MISSING_NOTE),
                                 "- noted: " + common.md(SHADOWED_NOTE)]
    assert "| noted | compliant | web\\_frontend | - | - |" in md
    parser = samples._Collect()
    parser.feed(out["files"]["html"])
    text = "".join(parser.text)
    assert ("3 notes on 2 hosts (1 records missing, 2 shadowed): information only, the verdict does not change "
            "(search \"note\").") in text
    assert "note (web_frontend): records missing: %s; fix: run the role" % MISSING in text
    lines = audit_render.audit_text(out["summary"], "/r").splitlines()
    assert lines[-4:] == ["noted: note: " + MISSING_NOTE, "noted: note: " + SHADOWED_NOTE, "two: note: " + TWO_NOTE,
                          "reports in /r"]


def test_a_key_no_file_sets_whose_kernel_default_matches(tmp_path):
    """tcp_syncookies 1 wanted, 1 running, no file sets it and the kernel's default is 1: still drift (nothing
    persists it), and every report says what is wrong, not "boot-time drift"."""
    out = build()
    cookie = _by_host(out["summary"])["cookie"]
    assert cookie["status"] == "not_compliant" and cookie["reasons"] == ["boot_drift"]
    row = cookie["keys"][0]
    assert row["problems"] == [NOT_PERSISTED]
    assert row["boot_text"] == "1, the kernel default (no file sets it; read in a fresh network namespace)"
    assert ("| cookie | not compliant | web\\_frontend | net.ipv4.tcp\\_syncookies (web\\_frontend): wanted 1; running "
            "1; at boot 1, the kernel default (no file sets it; read in a fresh network namespace); not persisted: no "
            "file sets it; the kernel default 1 happens to match | apply the profile: run the role "
            "kerneltune.tcp.web\\_frontend on this host |") in out["files"]["markdown"].splitlines()
    path = tmp_path / "junit.xml"
    path.write_text(out["files"]["junit"])
    case = [c for s in junitparser.JUnitXml.fromfile(str(path)) for c in s if c.classname == "cookie.web_frontend"][0]
    assert case.result[0].message == NOT_PERSISTED
    assert case.result[0].text.splitlines()[2:5] == [
        "at boot: 1, the kernel default (no file sets it; read in a fresh network namespace)", "wanted: 1",
        "problem: " + NOT_PERSISTED]
    assert "<td>%s</td>" % NOT_PERSISTED in out["files"]["html"]
    assert audit_render.audit_per_host(out["summary"])["cookie"]["reason"] == (
        "not persisted web_frontend net.ipv4.tcp_syncookies: no file sets it; the kernel default 1 happens to match")
    # A default that does not match is boot-time drift, with the number and where it was read.
    fresh = audit.audit_summary(samples.records(), samples.HOSTS)
    assert audit_render.audit_per_host(fresh)["fresh"]["reason"].split("; ")[2] == (
        "boot-time drift web_frontend net.core.somaxconn: at boot 4096, the kernel default (no file sets it")


def test_two_profiles_bound_one_key():
    """web_frontend {max: 30} and high_outbound_client {max: 15}, web_frontend's later file still holding 30: each
    line names the other profile's bound, and the fix re-runs the profile whose file holds the stale line; no fix
    says to edit a kerneltune-managed file."""
    out = build()
    two = _by_host(out["summary"])["two"]
    assert [(r["profile"], r["wanted"], r["problems"], r["fix"]) for r in two["keys"]] == [
        ("web_frontend", "<= 30, with high_outbound_client's bound <= 15", ["runtime drift", "boot-time drift"],
         "apply the profile: run the role kerneltune.tcp.web_frontend on this host"),
        ("high_outbound_client", "<= 15, with web_frontend's bound <= 30",
         ["overridden by %s, which sets 30 at boot" % PATH, "runtime drift"], RERUN_WEB)]
    assert audit_render.audit_per_host(out["summary"])["two"]["reason"] == (
        "runtime drift web_frontend net.ipv4.tcp_fin_timeout: 30 -> 15 (bound <= 30, with high_outbound_client's "
        "bound <= 15); boot-time drift web_frontend net.ipv4.tcp_fin_timeout: at boot 30 from %s, wants <= 30, with "
        "high_outbound_client's bound <= 15; overridden high_outbound_client net.ipv4.tcp_fin_timeout: 30 by %s"
        % (PATH, PATH))
    junit = out["files"]["junit"]
    assert "wanted: &lt;= 30, with high_outbound_client's bound &lt;= 15 (would set 15)" in junit
    assert "fix: " + RERUN_WEB in junit
    for text in (out["files"]["markdown"], junit, out["files"]["html"], out["files"]["json"]):
        assert "remove net.ipv4.tcp_fin_timeout from /etc/sysctl.d/80-kerneltune" not in text
        assert "remove net.ipv4.tcp\\_fin\\_timeout from /etc/sysctl.d/80-kerneltune" not in text


def test_a_plain_value_overridden_by_another_profiles_file():
    """Two profiles with plain values on one key: re-running either writes the same again; give the host one
    value."""
    e = samples.entry("net.ipv4.tcp_fin_timeout", "overridden", runtime="30", desired="15", persisted="30", by=PATH)
    assert audit.key_fix(e, "high_outbound_client", {"files": {PATH: "web_frontend"}}) == (
        "web_frontend and high_outbound_client both set net.ipv4.tcp_fin_timeout and web_frontend's file wins at "
        "boot with 30: give the host one value in web_frontend_sysctl_overrides or "
        "high_outbound_client_sysctl_overrides (or make it a bound in both); do not edit a kerneltune-managed file "
        "by hand")
    # Known by the role's file name too when that profile was not audited on the host; kt_sysctl's file.
    assert audit.managed_profile("/etc/sysctl.d/85-kerneltune-sysctl.conf") == "kt_sysctl"
    assert audit.managed_profile(HIGH) == "high_outbound_client"
    assert audit.managed_profile("/etc/sysctl.d/99-local.conf") is None
    # tcp_sysctl's own default file and a look-alike name are no profile: no fix may name a role for them.
    assert audit.managed_profile("/etc/sysctl.d/90-kerneltune-tcp.conf") is None
    assert audit.managed_profile("/etc/sysctl.d/70-kerneltune-my_tuning.conf") is None
    mine = "/etc/sysctl.d/90-kerneltune-tcp.conf"
    e = samples.entry("net.ipv4.tcp_fin_timeout", "overridden", runtime="30", desired="15", persisted="30", by=mine)
    assert audit.key_fix(e, "high_outbound_client", {"files": {}}) == (
        "/etc/sysctl.d/90-kerneltune-tcp.conf is written by a tcp_sysctl task of your own, not by a profile role: "
        "change that task's settings for net.ipv4.tcp_fin_timeout, or, if 30 is right for this host, set it in "
        "high_outbound_client_sysctl_overrides; do not edit a kerneltune-managed file by hand")


def test_rollout_and_diagnose_summaries_are_plain_text():
    """The Summary tasks print these: no Markdown escapes, no <br>."""
    built = registry.build("rollout", halted_records(), R_HOSTS, rollout=ROLLOUT)
    text = registry.text("rollout", built["summary"], "/r")
    assert text.splitlines() == [
        "rollout web_frontend: FAIL: halted at batch 2 of 3: 1 of 2 hosts of batch 2 failed (web3: accept_queue, "
        "health_command), more than kt_rollout_max_fail_percentage (0%).",
        "1 changed and kept, 0 unchanged, 0 would change (check mode), 1 failed a check and restored, 1 restored "
        "because its batch failed, 3 not touched because the rollout stopped, 0 unreachable, 0 with errors.",
        "web1 (batch 1): changed and kept | changed: net.core.somaxconn: 4096 -> 8192",
        "web2 (batch 2): restored because its batch failed | changed: net.core.somaxconn: 4096 -> 8192 | restore: "
        "net.core.somaxconn: 8192 -> 4096, net.ipv4.tcp_fin_timeout: 30 -> 45, net.core.somaxconn: 4096 from "
        "recorded, net.ipv4.tcp_fin_timeout: 45 from /etc/sysctl.d/99-local.conf, net.ipv4.tcp_tw_reuse: left at 2 "
        "(no file sets it, no value recorded)",
        "web3 (batch 2): failed a check and restored | failed checks: health_command: curl -fsS localhost exited "
        "with rc 7: connection refused; accept_queue: TcpExtListenOverflows grew from 3 to 9: listen queues "
        "overflowed after the change | changed: net.core.somaxconn: 4096 -> 8192 | restore: net.core.somaxconn: "
        "8192 -> 4096, net.ipv4.tcp_fin_timeout: 30 -> 45, net.core.somaxconn: 4096 from recorded, "
        "net.ipv4.tcp_fin_timeout: 45 from /etc/sysctl.d/99-local.conf, net.ipv4.tcp_tw_reuse: left at 2 (no file "
        "sets it, no value recorded)",
        "web4 (batch 3): not touched because the rollout stopped",
        "web5 (batch 3): not touched because the rollout stopped",
        "web6 (batch -): not touched because the rollout stopped",
        "reports in /r"]
    from .test_diagnose import info
    d = registry.build("diagnose", {"a": info(10), "c": info(1, errors=1), "f": {"failed": True, "msg": "x_y"}},
                       ["a", "c", "f", "u"])
    assert registry.text("diagnose", d["summary"], "/r").splitlines() == [
        "diagnosis of 4 hosts, worst first",
        "c: TIME_WAIT 1 (1 out, 0 in), CLOSE_WAIT 0, busiest destination none; findings: error e",
        "a: TIME_WAIT 10 (10 out, 0 in), CLOSE_WAIT 0, busiest destination none; findings: none",
        "f: error: x_y", "u: unreachable", "reports in /r"]


def test_plain_text_names_the_first_lines_of_each_section_and_counts_the_rest(monkeypatch):
    monkeypatch.setattr(common, "TEXT_HOSTS", 1)
    assert common.plain_text(["head"], [(["a", "b", "c"], "hosts"), (["n"], "notes")], "/r").splitlines() == [
        "head", "a", "... and 2 more hosts (every host is in the reports)", "n", "reports in /r"]


def test_the_shipped_playbooks_print_the_plain_text():
    for name, var in (("audit", "kt_audit_report"), ("rollout", "kt_rollout_report"),
                      ("diagnose", "kt_diagnose_report")):
        with open(os.path.join(samples.ROOT, "playbooks", name + ".yml")) as f:
            text = f.read()
        assert 'msg: "{{ %s.text.splitlines() }}"' % var in text
        assert "%s.markdown.splitlines()" % var not in text


def test_shadowed_by_a_tcp_sysctl_task_of_ones_own():
    """A file tcp_sysctl wrote for a task of the user's own (its default name) is no profile's: the fix names the
    task, never a role, and never says to edit the file."""
    mine = "/etc/sysctl.d/90-kerneltune-tcp.conf"
    e = samples.entry("net.ipv4.tcp_fin_timeout", runtime="30", desired="30", persisted="30", before="30",
                      src_before=PATH)
    e["shadowed"] = [{"path": mine, "line": 2, "value": "20"},
                     {"path": "/usr/lib/sysctl.d/50-x.conf", "line": 1, "value": "25"}]
    assert audit.shadowed_note(e, "web_frontend", {"files": {}})["fix"] == (
        "nothing changes at boot today; if an auditor reads every file, or before the file that wins goes, remove "
        "the line from /usr/lib/sysctl.d/50-x.conf or make it the value that wins (a package's file in /usr/lib: put "
        "a file of the same name without the line in /etc/sysctl.d); and change the settings of the tcp_sysctl task "
        "of your own that writes /etc/sysctl.d/90-kerneltune-tcp.conf (not a profile role's file; do not edit it by "
        "hand)")
