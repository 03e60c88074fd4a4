# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's verdict: each host's result from its record, the halt, the gate's words, error records."""
import json

import jsonschema
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import rollout, rollout_render

from .rollout_samples import HALT, HOSTS, REASON, ROLLOUT, SCHEMA, halted_records, restored, started


def test_each_host_result_and_the_halt():
    s = rollout.rollout_summary(halted_records(), HOSTS, ROLLOUT)
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
                           "not_touched": 3, "unreachable": 0, "error": 0, "recovered_verified": 0,
                           "recovered_restored": 0, "pending": 0}
    assert rollout.rollout_gate(s) == ("rollout halted at batch 2: " + REASON + "; restored: web2, web3; "
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
    h = rollout.rollout_host("web1", r, halted=False)
    assert (h["status"], h["errors"]) == (status, errors)


def test_a_rollout_that_went_through_passes_and_one_with_a_restored_host_fails():
    ok = {"profile": "kt_sysctl", "check_mode": False, "halted": False, "halt": None, "batches": [1, "50%"],
          "max_fail_percentage": 50}
    s = rollout.rollout_summary({"a": started(1), "b": started(2, changed=False)}, ["a", "b"], ok)
    assert s["passed"] and rollout.rollout_gate(s) is None
    assert s["halted_at_batch"] is None and s["halt_reason"] is None
    s = rollout.rollout_summary({"a": started(1), "b": started(2, checks=["health_url: x"], restore=restored("check")),
                                 "c": started(2)}, ["a", "b", "c"], ok)
    assert not s["passed"] and not s["halted"]
    assert rollout.rollout_gate(s) == "rollout failed; restored: b"
    assert "**FAIL**: rollout failed; restored: b." in rollout_render.rollout_markdown(s)
    # A host the play never recorded, without a halt, is an error, never a pass.
    s = rollout.rollout_summary({}, ["ghost"], ok)
    assert [(h["status"], h["errors"]) for h in s["hosts"]] == [
        ("error", ["no record: the rollout play did not run on this host"])]
    assert rollout.rollout_gate(s) == "rollout failed; errors: ghost"
    assert rollout.rollout_summary({}, [], ok)["passed"] is False


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
    s = rollout.rollout_summary(records, sorted(records), dict(ROLLOUT, halt=dict(HALT, batch=1)))
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
    summary_json = json.loads(rollout_render.rollout_json(s, records))
    with open(SCHEMA) as f:
        jsonschema.validate(summary_json, json.load(f))
    md = rollout_render.rollout_markdown(s)
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
    s = rollout.rollout_summary(records, sorted(records), dict(ROLLOUT, halted=False, halt=None))
    assert [h["errors"] for h in s["hosts"]] == [
        ["the rollout's tasks failed on this host (Record this host's rollout: boom); restoring it failed"],
        ["the rollout's tasks failed on this host (restoring or recording this host failed (x: y); it may still have "
         "the change)"],
        ["the rollout's tasks failed on this host (Apply the profile: template error); nothing had been changed"]]
