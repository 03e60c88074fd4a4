# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's verdict: per-host statuses and totals, baseline (new, still, resolved), fail_on, merge, the
previous audit.json refused by name, bounds in the drift's identity."""
import json

import jsonschema
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_render, common, registry

from .samples import HOSTS, SCHEMA, entry, records


def test_summary_verdicts_and_totals():
    s = audit.audit_summary(records(), HOSTS)
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
    assert audit.audit_summary({"ok": records()["ok"]}, ["ok"])["passed"] is True
    # No host at all never passes.
    assert audit.audit_summary({}, [])["passed"] is False


def test_baseline_marks_new_still_resolved_and_fail_on_new():
    before = records()
    base = json.loads(registry.build("audit", before, HOSTS)["files"]["json"])
    now = records()
    # somaxconn fixed on "drift"; a new runtime drift on "ok".
    now["drift"]["profiles"][0]["result"]["settings"][0] = entry("net.core.somaxconn")
    now["ok"]["profiles"][0]["result"]["settings"][0] = entry("net.core.somaxconn", "drift", runtime="5",
                                                              desired="8192", rd=True)
    s = audit.audit_summary(now, HOSTS, baseline=base)
    by = {h["host"]: h for h in s["hosts"]}
    assert by["ok"]["runtime_drift"][0]["change"] == "new"
    assert by["drift"]["boot_drift"][0]["change"] == "still"
    assert by["over"]["overridden"][0]["change"] == "still"
    assert by["drift"]["resolved"] == [dict(base["hosts"][1]["runtime_drift"][0], kind="runtime_drift",
                                            change="resolved")]
    assert s["changes"] == {"new": 1, "still": 2, "resolved": 1}
    out = registry.build("audit", now, HOSTS, baseline=base)["files"]
    assert "Since the baseline: 1 new, 2 still present, 1 resolved." in out["markdown"]
    assert "net.core.somaxconn: 5 -\\> 8192 [new]" in out["markdown"]
    assert "- drift: net.core.somaxconn (runtime drift)" in out["markdown"]
    assert 'message="runtime drift [new]"' in out["junit"]
    assert 'message="boot-time drift [still]"' in out["junit"]
    assert '<span class="new">new</span>' in out["html"] and "resolved since baseline" in out["junit"]
    jsonschema.validate(json.loads(out["json"]), json.load(open(SCHEMA)))
    # fail_on=new: old drift passes, new drift fails, errors and unreachable hosts always fail.
    only_old = {k: v for k, v in before.items() if k in ("drift", "over")}
    b2 = json.loads(registry.build("audit", only_old, ["drift", "over"])["files"]["json"])
    assert audit.audit_summary(only_old, ["drift", "over"], b2, "new")["passed"] is True
    assert audit.audit_summary(only_old, ["drift", "over"], b2, "any")["passed"] is False
    assert audit.audit_summary(only_old, ["drift", "over", "ghost"], b2, "new")["passed"] is False
    assert audit.audit_summary(now, HOSTS, base, "new")["passed"] is False


def test_merge_slices(tmp_path):
    r = records()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(registry.build("audit", {k: r[k] for k in ("ok", "drift")}, ["ok", "drift", "ghost"])["files"][
        "json"])
    b.write_text(registry.build("audit", {k: r[k] for k in ("over", "down")}, ["over", "down"])["files"]["json"])
    recs, hosts = audit.merge_audits([str(a), str(b)])
    assert sorted(hosts) == ["down", "drift", "ghost", "ok", "over"]
    s = audit.audit_summary(recs, hosts)
    assert s["status"] == {"compliant": 1, "drift": 1, "overridden": 1, "error": 0, "unreachable": 2}
    with pytest.raises(common.ReportError) as e:
        audit.merge_audits([str(a), str(a)])
    assert str(e.value) == "merge: host drift is in both %s and %s" % (a, a)
    c = tmp_path / "c.json"
    c.write_text("{}")
    with pytest.raises(common.ReportError) as e:
        audit.merge_audits([str(c)])
    assert str(e.value) == "%s: not an audit.json written by kerneltune.tcp.fleet_report" % c
    with pytest.raises(common.ReportError) as e:
        audit.merge_audits([str(tmp_path / "none.json")])
    assert str(e.value) == "%s: cannot read: No such file or directory" % (tmp_path / "none.json")


def test_baseline_drift_to_another_value_is_new_and_unaudited_hosts_resolve_nothing():
    base = json.loads(registry.build("audit", records(), HOSTS)["files"]["json"])
    now = records()
    # somaxconn on "drift" now drifts to another wrong value: new, not still.
    now["drift"]["profiles"][0]["result"]["settings"][0] = entry("net.core.somaxconn", "drift", runtime="1",
                                                                 desired="8192", rd=True)
    # "over" fails its probe this time: its old override is not resolved, it is unknown.
    now["over"] = {"profiles": [{"profile": "web_frontend", "error": "netlink refused", "result": {}}]}
    s = audit.audit_summary(now, HOSTS, baseline=base)
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
    data = json.loads(registry.build("audit", records(), HOSTS)["files"]["json"])
    mutate(data)
    p = tmp_path / "old.json"
    p.write_text(json.dumps(data))
    with pytest.raises(common.ReportError) as e:
        audit.load_audit(str(p))
    assert str(e.value) == message % p


def test_bounds_are_shown_and_a_bounds_drift_keeps_its_identity():
    bound = {"min": 8192, "text": ">= 8192"}

    def recs(runtime):
        e = entry("net.core.somaxconn", "drift", runtime=runtime, desired="8192", rd=True, pd=True, before="4096",
                  src_before="/etc/sysctl.d/50-vendor.conf")
        e["bounds"] = bound
        return {"web": {"profiles": [{"profile": "web_frontend", "result": {"settings": [e], "findings": []}}]}}
    summary = audit.audit_summary(recs("1000"), ["web"])
    md = audit_render.audit_markdown(summary)
    assert "net.core.somaxconn: 1000 -\\> 8192 (bound \\>= 8192)" in md
    assert "net.core.somaxconn: boots with 4096 from /etc/sysctl.d/50-vendor.conf, wants \\>= 8192" in md
    html = audit_render.audit_html(summary)
    assert "net.core.somaxconn: 1000 -&gt; 8192 (bound &gt;= 8192)" in html
    # The boot-time drift is the same drift whatever the host runs now: the bound is what is wanted.
    again = audit.audit_summary(recs("2000"), ["web"],
                                baseline=json.loads(audit_render.audit_json(summary, recs("1000"))))
    assert [e["change"] for e in again["hosts"][0]["boot_drift"]] == ["still"]
