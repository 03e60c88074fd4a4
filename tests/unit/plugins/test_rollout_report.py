# SPDX-License-Identifier: GPL-3.0-or-later
"""Rollout reports (kind: rollout): each host's result from its record, the halt, the gate's words, JSON valid
against docs/schemas/rollout.schema.json, JUnit valid against the Jenkins/Ant XSD and read by junitparser,
Markdown and HTML with hostile strings made inert."""
import json
import os

import jsonschema
import junitparser
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils import reports

from .test_reports import HOSTILE, ROOT, _Collect, validate_junit

SCHEMA = os.path.join(ROOT, "docs", "schemas", "rollout.schema.json")


def started(batch, changed=True, runtime_changes=None, checks=None, restore=None, check_mode=False, **kw):
    """A record as playbooks/rollout.yml writes it ("Record this host's rollout")."""
    rec = {"batch": batch, "started": True, "check_mode": check_mode,
           "before": {"failed": False, "unreachable": False, "msg": "", "listen_overflows": 0, "close_wait": 0,
                      "error_findings": []},
           "apply": {"skipped": False, "changed": changed, "failed": False, "unreachable": False, "msg": "",
                     "runtime_changes": runtime_changes if runtime_changes is not None else (
                         ["net.core.somaxconn: 4096 -> 8192"] if changed else [])},
           "after": {"listen_overflows": 0, "close_wait": 0},
           "checks": checks or [], "restore": restore}
    for part, values in kw.items():
        rec[part].update(values)
    return rec


def restored(reason):
    return {"reason": reason, "changed": True, "failed": False, "unreachable": False, "msg": "",
            "restore": [{"key": "net.core.somaxconn", "runtime": "8192", "value": "4096", "source": "recorded"},
                        {"key": "net.ipv4.tcp_fin_timeout", "runtime": "30", "value": "45",
                         "source": "/etc/sysctl.d/99-local.conf"},
                        {"key": "net.ipv4.tcp_tw_reuse", "runtime": "2", "value": None, "source": None}],
            "runtime_changes": ["net.core.somaxconn: 8192 -> 4096", "net.ipv4.tcp_fin_timeout: 30 -> 45"]}


HALT = {"batch": 2, "hosts": ["web2", "web3"], "failed": ["web3"], "max_fail_percentage": 0.0}
ROLLOUT = {"profile": "web_frontend", "check_mode": False, "halted": True, "halt": HALT,
           "batches": [1, 2, 3], "max_fail_percentage": 0.0}


def halted_records():
    return {
        "web1": started(1),
        "web2": started(2, restore=restored("batch")),
        "web3": started(2, checks=["health_command: curl -fsS localhost exited with rc 7: connection refused",
                                   "accept_queue: TcpExtListenOverflows grew from 3 to 9: listen queues overflowed "
                                   "after the change"], restore=restored("check")),
        "web4": {"batch": 3, "started": False},
        "web5": {"batch": 3, "started": False},
        "web6": {},
    }


HOSTS = ["web1", "web2", "web3", "web4", "web5", "web6"]
REASON = ("1 of 2 hosts of batch 2 failed (web3: accept_queue, health_command), more than "
          "kt_rollout_max_fail_percentage (0%)")


def test_each_host_result_and_the_halt():
    s = reports.rollout_summary(halted_records(), HOSTS, ROLLOUT)
    by = {h["host"]: h for h in s["hosts"]}
    assert [(h["host"], h["batch"], h["status"]) for h in s["hosts"]] == [
        ("web1", 1, "kept"), ("web2", 2, "batch_restored"), ("web3", 2, "restored"), ("web4", 3, "not_touched"),
        ("web5", 3, "not_touched"), ("web6", None, "not_touched")]
    assert by["web1"]["result"] == "changed and kept"
    assert by["web2"]["result"] == "restored because its batch failed"
    assert by["web3"]["result"] == "failed a check and restored"
    assert by["web4"]["result"] == "not touched because the rollout stopped"
    assert by["web3"]["checks"] == [
        {"check": "health_command", "message": "curl -fsS localhost exited with rc 7: connection refused"},
        {"check": "accept_queue",
         "message": "TcpExtListenOverflows grew from 3 to 9: listen queues overflowed after the change"}]
    assert by["web1"]["runtime_changes"] == ["net.core.somaxconn: 4096 -> 8192"]
    assert by["web3"]["restore"]["runtime_changes"] == [
        "net.core.somaxconn: 8192 -> 4096", "net.ipv4.tcp_fin_timeout: 30 -> 45"]
    assert by["web1"]["restore"] is None
    assert s["halted"] is True and s["halted_at_batch"] == 2 and s["batches"] == 3 and s["passed"] is False
    assert s["halt_reason"] == REASON
    assert s["status"] == {"kept": 1, "unchanged": 0, "would_change": 0, "restored": 1, "batch_restored": 1,
                           "not_touched": 3, "unreachable": 0, "error": 0}
    assert reports.rollout_gate(s) == ("rollout halted at batch 2: " + REASON + "; restored: web2, web3; "
                                       "not touched: web4, web5, web6")


@pytest.mark.parametrize("rec,status,errors", [
    ({"before": {"unreachable": True, "msg": "ssh: timed out"}}, "unreachable",
     ["unreachable before the change: ssh: timed out"]),
    ({"before": {"failed": True, "msg": "netlink sock_diag: refused"}}, "error",
     ["tcp_info: the probe before the change failed, nothing was changed: netlink sock_diag: refused"]),
    ({"apply": {"failed": True, "changed": False, "msg": "net.ipv4.tcp_tw_recycle: refused behind NAT"}}, "error",
     ["tcp_sysctl: net.ipv4.tcp_tw_recycle: refused behind NAT"]),
    ({"apply": {"unreachable": True, "changed": False, "msg": "gone"}}, "unreachable",
     ["unreachable when applying the profile: gone"]),
    ({"restore": dict(restored("check"), failed=True, msg="Unsupported parameters for (tcp_sysctl) module: restore"),
      "checks": ["reachable: no"]}, "error",
     ["restore failed: Unsupported parameters for (tcp_sysctl) module: restore"]),
    ({"restore": dict(restored("check"), unreachable=True, msg="gone"), "checks": ["reachable: no"]}, "unreachable",
     ["unreachable when restoring: gone"]),
    ({"checks": ["close_wait: CLOSE_WAIT grew from 0 to 500, more than kt_rollout_close_wait_growth (100)"]},
     "error", ["a check failed and no restore was made"]),
    ({"apply": {"changed": False, "runtime_changes": []}}, "unchanged", []),
    ({"check_mode": True}, "would_change", []),
    ({"check_mode": "False"}, "kept", []),
])
def test_host_results_from_records(rec, status, errors):
    r = started(1)
    for k, v in rec.items():
        if isinstance(v, dict) and k in ("before", "apply"):
            r[k].update(v)
        else:
            r[k] = v
    h = reports.rollout_host("web1", r, halted=False)
    assert (h["status"], h["errors"]) == (status, errors)


def test_a_rollout_that_went_through_passes_and_one_with_a_restored_host_fails():
    ok = {"profile": "kt_sysctl", "check_mode": False, "halted": False, "halt": None, "batches": [1, "50%"],
          "max_fail_percentage": 50}
    s = reports.rollout_summary({"a": started(1), "b": started(2, changed=False)}, ["a", "b"], ok)
    assert s["passed"] and reports.rollout_gate(s) is None
    assert s["halted_at_batch"] is None and s["halt_reason"] is None
    s = reports.rollout_summary({"a": started(1), "b": started(2, checks=["health_url: x"], restore=restored("check")),
                                 "c": started(2)}, ["a", "b", "c"], ok)
    assert not s["passed"] and not s["halted"]
    assert reports.rollout_gate(s) == "rollout failed; restored: b"
    assert "**FAIL**: rollout failed; restored: b." in reports.rollout_markdown(s)
    # A host the play never recorded, without a halt, is an error, never a pass.
    s = reports.rollout_summary({}, ["ghost"], ok)
    assert [(h["status"], h["errors"]) for h in s["hosts"]] == [
        ("error", ["no record: the rollout play did not run on this host"])]
    assert reports.rollout_gate(s) == "rollout failed; errors: ghost"
    assert reports.rollout_summary({}, [], ok)["passed"] is False


def test_json_is_valid_against_the_schema():
    schema = json.load(open(SCHEMA))
    jsonschema.Draft202012Validator.check_schema(schema)
    for recs, hosts, rollout in ((halted_records(), HOSTS, ROLLOUT),
                                 ({"a": started(1, check_mode=True)}, ["a"], dict(ROLLOUT, halted=False, halt=None,
                                                                                  check_mode=True)),
                                 ({}, ["ghost"], {})):
        data = json.loads(reports.rollout_reports(recs, hosts, rollout)["json"])
        jsonschema.validate(data, schema)
        assert data["kind"] == "rollout" and data["schema_version"] == 1
    data = json.loads(reports.rollout_reports(halted_records(), HOSTS, ROLLOUT)["json"])
    assert data["records"]["web3"]["checks"][0].startswith("health_command: ")
    bad = dict(data, hosts=[dict(data["hosts"][0], status="fine")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_junit_is_valid_and_read_by_junitparser(tmp_path):
    xml = reports.rollout_reports(halted_records(), HOSTS, ROLLOUT)["junit"]
    validate_junit(xml)
    path = tmp_path / "rollout-junit.xml"
    path.write_text(xml)
    suites = {s.name: s for s in junitparser.JUnitXml.fromfile(str(path))}
    assert sorted(suites) == HOSTS
    cases = {s: {c.name: (c.result[0].message if c.result else "pass") for c in suites[s]} for s in suites}
    assert cases["web1"] == {"rollout": "pass"}
    assert cases["web2"] == {"rollout": "restored: batch 2 failed"}
    assert cases["web3"] == {"rollout": "failed checks: health_command, accept_queue; restored",
                             "check health_command": "health_command", "check accept_queue": "accept_queue"}
    assert cases["web4"] == {"rollout": "not touched: the rollout halted at batch 2"}
    assert (suites["web3"].tests, suites["web3"].failures, suites["web4"].skipped) == (3, 3, 1)


def test_markdown_says_where_it_stopped_and_what_was_restored():
    text = reports.rollout_reports(halted_records(), HOSTS, ROLLOUT)["markdown"]
    lines = text.splitlines()
    assert lines[0] == "# kerneltune.tcp rollout: web\\_frontend"
    assert lines[2] == ("**FAIL**: halted at batch 2 of 3: 1 of 2 hosts of batch 2 failed (web3: accept\\_queue, "
                        "health\\_command), more than kt\\_rollout\\_max\\_fail\\_percentage (0%).")
    assert lines[4] == ("1 changed and kept, 0 unchanged, 0 would change (check mode), 1 failed a check and restored, "
                        "1 restored because its batch failed, 3 not touched because the rollout stopped, "
                        "0 unreachable, 0 with errors.")
    assert ("| web3 | 2 | failed a check and restored | health\\_command: curl -fsS localhost exited with rc 7: "
            "connection refused<br>accept\\_queue: TcpExtListenOverflows grew from 3 to 9: listen queues overflowed "
            "after the change | net.core.somaxconn: 4096 -\\> 8192 | net.core.somaxconn: 8192 -\\> 4096<br>"
            "net.ipv4.tcp\\_fin\\_timeout: 30 -\\> 45<br>net.core.somaxconn: 4096 from recorded<br>"
            "net.ipv4.tcp\\_fin\\_timeout: 45 from /etc/sysctl.d/99-local.conf<br>net.ipv4.tcp\\_tw\\_reuse: left at 2 "
            "(no file sets it, no value recorded) |") in lines
    assert "| web5 | 3 | not touched because the rollout stopped | - | - | - |" in lines
    assert "| web6 | - | not touched because the rollout stopped | - | - | - |" in lines


def test_hostile_strings_are_inert():
    recs = {"web" + HOSTILE: started(1, checks=["health_command: " + HOSTILE], restore=restored("check"),
                                     runtime_changes=[HOSTILE])}
    out = reports.rollout_reports(recs, list(recs), dict(ROLLOUT, profile=HOSTILE, halted=True,
                                                         halt=dict(HALT, batch=1, failed=["web" + HOSTILE])))
    validate_junit(out["junit"])
    p = _Collect()
    p.feed(out["html"])
    assert p.scripts == 0
    assert "<script>alert" not in out["html"] and "\x00" not in out["html"]
    assert out["html"].count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    assert "<script>" not in out["markdown"] and "\x00" not in out["markdown"]
    assert len(out["markdown"].splitlines()) == 9


def test_the_page_is_one_file_with_the_verdict():
    html = reports.rollout_reports(halted_records(), HOSTS, ROLLOUT)["html"]
    assert "<title>kerneltune.tcp rollout: FAIL</title>" in html
    assert "FAIL: halted at batch 2 of 3: " + REASON + "." in html
    assert "default-src 'none'" in html and "http" not in html.replace("http-equiv", "")
    assert html.count('data-status="not_touched"') == 3


def test_error_records_previous_version_and_health_before_the_change():
    prev_restore = dict(restored("check"), previous_version={
        "settings": {"net.core.somaxconn": "4096"}, "failed": False, "msg": "",
        "runtime_changes": ["net.core.somaxconn: 2048 -> 4096"]})
    failed_restore = dict(restored("batch"), failed=True, msg="net.core.somaxconn: read-only here")
    records = {
        "a": started(1, checks=["health_command: probe failed before the change (rc 1), so the profile was not "
                                "applied"], apply={"skipped": True, "changed": False, "runtime_changes": []}),
        "b": dict(started(1, restore=dict(restored("error"), previous_version=None)),
                  error="Compare with the host's own state before the change: boom"),
        "c": started(1, checks=["health_command: probe exited with rc 1"], restore=prev_restore),
        "d": started(1, restore=failed_restore),
        "e": {"batch": 1, "started": False},
    }
    s = reports.rollout_summary(records, sorted(records), dict(ROLLOUT, halt=dict(HALT, batch=1)))
    by = {h["host"]: h for h in s["hosts"]}
    assert (by["a"]["status"], by["a"]["errors"]) == ("error", ["not changed: a health check failed before the change"])
    assert (by["b"]["status"], by["b"]["errors"]) == ("error", [
        "the rollout's tasks failed on this host (Compare with the host's own state before the change: boom); it was "
        "restored"])
    assert by["c"]["status"] == "restored"
    assert by["c"]["restore"]["lines"][-2:] == ["earlier version of the file put back (1 keys)",
                                                "net.core.somaxconn: 2048 -> 4096"]
    assert (by["d"]["status"], by["d"]["errors"]) == ("error", ["restore failed: net.core.somaxconn: read-only here"])
    assert by["d"]["restore"]["lines"][-1] == "restore failed: net.core.somaxconn: read-only here"
    # A host of the halting batch without a record was not "not touched": something went wrong there.
    assert (by["e"]["status"], by["e"]["errors"]) == ("error", ["no record: the rollout play did not run on this host"])
    summary_json = json.loads(reports.rollout_json(s, records))
    with open(SCHEMA) as f:
        jsonschema.validate(summary_json, json.load(f))
    md = reports.rollout_markdown(s)
    assert "earlier version of the file put back (1 keys)<br>net.core.somaxconn: 2048 -\\> 4096 |" in md
    assert "restore failed: net.core.somaxconn: read-only here |" in md


def test_error_tails_say_what_is_known():
    prev = {"settings": {"net.core.somaxconn": "2048"}, "failed": True, "msg": "refused", "runtime_changes": []}
    prev_failed = dict(restored("error"), previous_version=prev)
    records = {
        "a": dict(started(1, restore=prev_failed), error="Record this host's rollout: boom"),
        "b": {"batch": 1, "started": True, "error": "restoring or recording this host failed (x: y); it may still "
                                                    "have the change"},
        "c": dict(started(1, changed=False), error="Apply the profile: template error"),
    }
    s = reports.rollout_summary(records, sorted(records), dict(ROLLOUT, halted=False, halt=None))
    assert [h["errors"] for h in s["hosts"]] == [
        ["the rollout's tasks failed on this host (Record this host's rollout: boom); restoring it failed"],
        ["the rollout's tasks failed on this host (restoring or recording this host failed (x: y); it may still have "
         "the change)"],
        ["the rollout's tasks failed on this host (Apply the profile: template error); nothing had been changed"]]
