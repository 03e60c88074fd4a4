# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's reports after a batch (incomplete, hosts not reached yet pending), the hosts an interrupted run
left changed and unverified (recovered: verified now / recovered: restored, a halt before batch 1), and the
settings check's unmet keys, in every format."""
import json

import jsonschema
import junitparser

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import registry, rollout

from .rollout_samples import SCHEMA, restored, started
from .samples import validate_junit

WEB = "/etc/sysctl.d/80-kerneltune-web_frontend.conf"
UNMET_MSG = "net.ipv4.tcp_fin_timeout is 30 running and 30 at boot (%s wins), outside the bound <= 15" % WEB
UNMET = {"key": "net.ipv4.tcp_fin_timeout", "running": "30", "boot": "30", "source": WEB, "running_met": False,
         "boot_met": False, "wants": "the bound <= 15", "message": UNMET_MSG}
JOURNAL = {"profile": "high_outbound_client", "applied": "2026-12-03T12:00:00Z", "collection_version": "0.1.0"}
ROLLOUT = {"profile": "high_outbound_client", "check_mode": False, "halted": False, "halt": None,
           "batches": [1, 2], "max_fail_percentage": 100.0}


def recovered(checks=(), restore=None, **kw):
    rec = started(0, changed=False, checks=list(checks), restore=restore)
    rec.update(recovery=JOURNAL, **kw)
    return rec


def interrupted_records():
    return {"h4": dict(started(1, checks=["settings: " + UNMET_MSG], restore=restored("check")), unmet=[UNMET]),
            "h5": {"batch": 2, "started": False}, "h6": {"batch": 2, "started": False}}


def test_a_report_after_a_batch_is_incomplete_with_the_hosts_not_reached_pending():
    out = registry.build("rollout", interrupted_records(), ["h4", "h5", "h6"], rollout=dict(ROLLOUT, complete=False))
    s = out["summary"]
    assert s["complete"] is False and s["passed"] is False
    assert [h["status"] for h in s["hosts"]] == ["restored", "pending", "pending"]
    assert s["hosts"][1]["result"] == "not reached yet: the run has not finished" and s["hosts"][1]["errors"] == []
    assert s["hosts"][0]["unmet"] == [UNMET]
    assert s["hosts"][0]["checks"] == [{"check": "settings", "message": UNMET_MSG}]
    assert out["gate"] == ("rollout incomplete: these reports were written after a batch, the run has not finished; "
                           "restored: h4; pending: h5, h6")
    md = out["files"]["markdown"].splitlines()
    assert md[2] == ("**INCOMPLETE**: the run has not finished (it was interrupted, or is still going): these reports "
                     "show the batches done so far; 2 hosts not reached yet.")
    assert md[4] == ("0 changed and kept, 0 unchanged, 0 would change (check mode), 1 failed a check and restored, "
                     "0 restored because its batch failed, 0 not touched because the rollout stopped, 2 not reached "
                     "yet: the run has not finished, 0 unreachable, 0 with errors.")
    assert md[8].startswith(
        "| h4 | 1 | failed a check and restored | settings: net.ipv4.tcp\\_fin\\_timeout is 30 running and 30 at boot "
        "(/etc/sysctl.d/80-kerneltune-web\\_frontend.conf wins), outside the bound \\<= 15 |")
    assert md[9] == "| h5 | 2 | not reached yet: the run has not finished | - | - | - |"
    html = out["files"]["html"]
    assert '<span id="verdict">INCOMPLETE</span>' in html
    assert UNMET_MSG.replace("<", "&lt;") in html
    data = json.loads(out["files"]["json"])
    jsonschema.validate(data, json.load(open(SCHEMA)))
    assert data["complete"] is False and data["hosts"][0]["unmet"] == [UNMET]


def test_the_junit_of_an_incomplete_run(tmp_path):
    xml = registry.build("rollout", interrupted_records(), ["h4", "h5", "h6"],
                         rollout=dict(ROLLOUT, complete=False))["files"]["junit"]
    validate_junit(xml)
    (tmp_path / "j.xml").write_text(xml)
    suites = {s.name: s for s in junitparser.JUnitXml.fromfile(str(tmp_path / "j.xml"))}
    cases = {s: {c.name: (c.result[0].message if c.result else "pass") for c in suites[s]} for s in suites}
    assert cases["h4"] == {"rollout": "failed checks: settings; restored", "check settings": "settings"}
    assert cases["h5"] == {"rollout": "pending: the run has not finished, this host was not reached yet"}
    check = [c for c in suites["h4"] if c.name == "check settings"][0]
    assert check.result[0].text == UNMET_MSG


def test_recovered_hosts_verified_now_or_restored():
    recs = {"h5": recovered(), "h6": recovered(["health_command: kt-health exited with rc 1"], restored("check")),
            "h4": started(1, changed=False)}
    out = registry.build("rollout", recs, ["h4", "h5", "h6"], rollout=ROLLOUT)
    s = out["summary"]
    assert [(h["host"], h["status"], h["result"]) for h in s["hosts"]] == [
        ("h5", "recovered_verified", "recovered: verified now"), ("h6", "recovered_restored", "recovered: restored"),
        ("h4", "unchanged", "unchanged")]
    assert s["hosts"][0]["recovery"] == JOURNAL and s["hosts"][2]["recovery"] is None
    assert s["complete"] is True and s["passed"] is False
    assert out["gate"] == "rollout failed; recovered and restored: h6"
    md = out["files"]["markdown"]
    assert "| h5 | recovery | recovered: verified now | - | - | - |" in md
    assert "| h6 | recovery | recovered: restored | health\\_command: kt-health exited with rc 1 |" in md
    assert "1 recovered: verified now, " in md and "1 recovered: restored, " in md
    jsonschema.validate(json.loads(out["files"]["json"]), json.load(open(SCHEMA)))
    xml = out["files"]["junit"]
    validate_junit(xml)
    assert 'classname="h6.recovery" name="rollout"' in xml
    assert 'message="recovered: failed checks: health_command; restored" type="recovered_restored"' in xml
    # Only verified hosts: the run passes.
    ok = registry.build("rollout", {"h5": recovered()}, ["h5"], rollout=ROLLOUT)
    assert ok["summary"]["passed"] is True and ok["gate"] is None
    # The report after the recovery, before batch 1: one host not reached yet.
    recs.pop("h4")
    after = registry.build("rollout", recs, ["h4", "h5", "h6"], rollout=dict(ROLLOUT, complete=False))
    assert after["files"]["markdown"].splitlines()[2] == (
        "**INCOMPLETE**: the run has not finished (it was interrupted, or is still going): these reports show the "
        "batches done so far; 1 host not reached yet.")


def test_recovered_hosts_that_fail_beyond_the_threshold_halt_before_batch_1():
    halt = {"batch": 0, "hosts": ["h5", "h6"], "failed": ["h6"], "max_fail_percentage": 0.0}
    recs = {"h5": recovered(restore=restored("batch")),
            "h6": recovered(["health_command: kt-health exited with rc 1"], restored("check")),
            "h4": {"batch": 1, "started": False}}
    out = registry.build("rollout", recs, ["h4", "h5", "h6"],
                         rollout=dict(ROLLOUT, halted=True, halt=halt, max_fail_percentage=0))
    s = out["summary"]
    reason = ("1 of 2 hosts an interrupted run left changed and unverified failed (h6: health_command), more than "
              "kt_rollout_max_fail_percentage (0%)")
    assert s["halted_at_batch"] == 0 and s["halt_reason"] == reason
    assert [h["status"] for h in s["hosts"]] == ["recovered_restored", "recovered_restored", "not_touched"]
    assert out["gate"] == ("rollout halted before batch 1, recovering an interrupted run: " + reason
                           + "; recovered and restored: h5, h6; not touched: h4")
    assert out["files"]["markdown"].splitlines()[2] == (
        "**FAIL**: halted before batch 1, recovering an interrupted run: 1 of 2 hosts an interrupted run left "
        "changed and unverified failed (h6: health\\_command), more than kt\\_rollout\\_max\\_fail\\_percentage (0%).")
    assert "(halted before batch 1, recovering an interrupted run)" in out["files"]["html"]
    jsonschema.validate(json.loads(out["files"]["json"]), json.load(open(SCHEMA)))


def test_recovery_errors_say_what_is_known():
    journal = ("journal: /var/lib/kerneltune/rollout.json is not a rollout journal (Expecting value); the host was "
               "left alone: check it and remove the file to roll out to it again")
    h = rollout.rollout_host("h", {"batch": 0, "started": True, "journal_error": journal,
                                   "recovery": {"profile": None, "applied": None, "collection_version": None}}, False)
    assert (h["status"], h["errors"]) == ("error", [journal])
    h = rollout.rollout_host("h", dict(recovered(), error="Check the host: profile 'gone' is not a profile"), False)
    assert h["errors"] == ["recovering a change an interrupted run left unverified failed (Check the host: profile "
                           "'gone' is not a profile); it was changed and not restored"]
    failed = dict(restored("check"), failed=True, msg="tcp_sysctl: /etc/sysctl.d is read-only")
    h = rollout.rollout_host("h", recovered(["health_command: kt-health exited with rc 1"], failed), False)
    assert (h["status"], h["errors"]) == ("error", ["restore failed: tcp_sysctl: /etc/sysctl.d is read-only"])
