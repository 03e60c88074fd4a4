# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's verdict: one status per host and one set of counts, the reasons, each key not as wanted (wanted,
running, at boot and from where, with the kernel's default when no file sets it), the fix, what was audited;
baseline (new, still, resolved), fail_on, merge, the previous audit.json refused by name, bounds in the drift's
identity."""
import json
import os
import sys

import jsonschema
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_render, common, registry

from .samples import HOSTS, PATH, ROOT, SCHEMA, entry, records

sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))
import fleet_records  # noqa: E402

APPLY = "apply the profile: run the role kerneltune.tcp.web_frontend on this host"
LOCAL = ("remove net.ipv4.tcp_fin_timeout from /etc/sysctl.d/99-local.conf (a later file wins at boot), or, if 45 "
         "is right for this host, set it in web_frontend_sysctl_overrides")


def test_one_status_per_host_and_one_set_of_counts():
    s = audit.audit_summary(records(), HOSTS)
    v = {h["host"]: h["status"] for h in s["hosts"]}
    assert v == {"ok": "compliant", "drift": "not_compliant", "fresh": "not_compliant", "over": "not_compliant",
                 "refused": "error", "lonely": "error", "down": "unreachable", "ghost": "unreachable"}
    assert s["counts"] == {"hosts": 8, "error": 2, "unreachable": 2, "not_compliant": 3, "compliant": 1}
    assert sum(s["counts"][st] for st in audit.STATUSES) == s["counts"]["hosts"]
    assert s["pass_percent"] == 12.5
    # The host with runtime drift and an override counts once, as not compliant, with both reasons.
    by = {h["host"]: h for h in s["hosts"]}
    assert by["over"]["reasons"] == ["runtime_drift", "overridden"]
    assert s["reasons"] == {"runtime_drift": 3, "boot_drift": 2, "overridden": 1}
    # Each key once per host, whether it drifts at runtime, at boot or both.
    assert s["drifted_keys"] == [{"key": "net.core.somaxconn", "hosts": 3}, {"key": "net.ipv4.tcp_fin_timeout",
                                                                             "hosts": 2},
                                 {"key": "net.ipv4.tcp_tw_reuse", "hosts": 1}]
    assert [len(by[n]["keys"]) for n in ("drift", "fresh", "over")] == [2, 2, 2]
    assert by["lonely"]["errors"] == ["no profile: the host is in no group mapped to a profile"]
    assert by["down"]["errors"] == ["unreachable: ssh: timed out"]
    assert by["ghost"]["errors"] == ["unreachable"]
    assert s["passed"] is False
    assert audit.audit_summary({"ok": records()["ok"]}, ["ok"])["passed"] is True
    # No host at all never passes.
    assert audit.audit_summary({}, [])["passed"] is False


def test_an_error_wins_over_drift_and_drift_over_compliant():
    r = {"web": {"profiles": [records()["drift"]["profiles"][0],
                              {"profile": "reverse_proxy", "error": "net.ipv4.zz: no such key", "result": {}}]}}
    s = audit.audit_summary(r, ["web"])
    assert s["hosts"][0]["status"] == "error" and s["hosts"][0]["reasons"] == ["runtime_drift", "boot_drift"]
    assert s["counts"] == {"hosts": 1, "error": 1, "unreachable": 0, "not_compliant": 0, "compliant": 0}
    # The reasons count the not compliant hosts only: this one is counted as an error.
    assert s["reasons"] == {"runtime_drift": 0, "boot_drift": 0, "overridden": 0}
    assert s["hosts"][0]["fix"] == [APPLY, "reverse_proxy could not be checked: correct the error above, then "
                                           "audit again"]


def test_each_key_says_what_the_host_has_what_is_wanted_and_the_fix():
    by = {h["host"]: h for h in audit.audit_summary(records(), HOSTS)["hosts"]}
    fresh = by["fresh"]["keys"]
    assert fresh[0] == {"profile": "web_frontend", "key": "net.core.somaxconn", "wanted": "8192", "running": "4096",
                        "boot": "4096", "boot_source": None,
                        "boot_text": "4096, the kernel default (no file sets it; read in a fresh network namespace)",
                        "problems": ["runtime drift", "boot-time drift"], "fix": APPLY}
    assert fresh[1]["boot"] is None and fresh[1]["boot_text"] == \
        "the kernel default, value unknown: unshare: Operation not permitted (no file sets it)"
    over = by["over"]["keys"][1]
    assert (over["boot"], over["boot_source"], over["boot_text"]) == (
        "45", "/etc/sysctl.d/99-local.conf", "45 from /etc/sysctl.d/99-local.conf")
    assert over["problems"] == ["overridden by /etc/sysctl.d/99-local.conf, which sets 45 at boot"]
    assert by["over"]["fix"] == [APPLY, LOCAL]
    assert by["drift"]["keys"][1]["boot_text"] == "60 from /etc/sysctl.conf"
    assert by["ghost"]["fix"] == ["make the host reachable (ansible -m ping ghost), then audit it again"]
    assert by["lonely"]["fix"] == ["put the host in a group named after a profile, map one of its groups to a "
                                   "profile with kt_audit_group_profiles, or name its profiles with kt_audit_profiles"]
    assert by["ok"]["fix"] == [] and by["ok"]["keys"] == []


@pytest.mark.parametrize("fields,text", [
    ({"kernel_default": "4096", "kernel_default_source": "fresh network namespace"},
     "4096, the kernel default (no file sets it; read in a fresh network namespace)"),
    ({"kernel_default": None, "kernel_default_source": "no fresh network namespace: unshare refused"},
     "the kernel default, value unknown: no fresh network namespace: unshare refused (no file sets it)"),
    ({"kernel_default": None}, "the kernel default, value unknown: not reported (no file sets it)"),
    # A result from before tcp_sysctl reported the kernel's default.
    ({}, "the kernel default (no file sets it)"),
    ({"kernel_default": "4096", "source_before": "/etc/sysctl.conf", "persisted_before": "1024"},
     "1024 from /etc/sysctl.conf"),
])
def test_the_value_at_boot(fields, text):
    e = dict(entry("net.core.somaxconn", "drift", runtime="4096", desired="8192", rd=True, pd=True), **fields)
    assert audit.boot(e)[2] == text


def test_read_only_and_kt_sysctl_fixes():
    e = entry("net.core.somaxconn", "read_only", runtime="4096", desired="8192", rd=True, before="8192",
              src_before=PATH)
    assert audit.key_row(e, "kt_sysctl")["fix"] == (
        "net.core.somaxconn cannot be written on this host: set it where its network namespace is made, or drop "
        "it for this host with kt_sysctl_overrides: {net.core.somaxconn: null}")
    assert audit.key_row(e, "kt_sysctl")["problems"] == ["runtime drift", "read-only on this host"]


def test_what_was_audited(tmp_path):
    s = audit.audit_summary(records(), HOSTS, context={"pattern": "web:&dc1", "limit": "web0*"})
    assert s["context"] == {"collection_version": common.collection_version(), "pattern": "web:&dc1",
                            "limit": "web0*", "profiles": ["web_frontend"]}
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        assert "version: %s\n" % s["context"]["collection_version"] in f.read()
    assert audit.audit_summary(records(), HOSTS)["context"]["pattern"] is None
    # An installed collection has MANIFEST.json; a tree with neither file says so.
    (tmp_path / "galaxy.yml").write_text("namespace: kerneltune\nversion: '1.2.3'\n")
    assert common.collection_version(str(tmp_path)) == "1.2.3"
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": "2.0.0"}}))
    assert common.collection_version(str(tmp_path)) == "2.0.0"
    assert common.collection_version(str(tmp_path / "nowhere")) == "unknown"


def test_the_task_result_set_stats_publishes():
    out = registry.build("audit", records(), HOSTS, context={"pattern": "all", "limit": None})
    assert out["task_result"] == {"summary": {
        "counts": {"hosts": 8, "error": 2, "unreachable": 2, "not_compliant": 3, "compliant": 1},
        "pass_percent": 12.5, "reasons": {"runtime_drift": 3, "boot_drift": 2, "overridden": 1},
        "notes": {"notes": 0, "hosts": 0, "records_missing": 0, "shadowed": 0},
        "namespaces": {"mode": "info", "hosts_scanned": 0, "namespaces": 0, "differ": 0, "drifts": 0, "hosts": 0,
                       "unread": 0, "unseen": 0},
        "passed": False, "changes": None, "fail_on": "any",
        "context": {"collection_version": common.collection_version(), "pattern": "all", "limit": None,
                    "profiles": ["web_frontend"]},
        "failing": {"error": ["lonely", "refused"], "unreachable": ["down", "ghost"],
                    "not_compliant": ["drift", "fresh", "over"]}}}
    assert out["gate"] == "audit failed: 7 of 8 hosts fail the audit: 3 not compliant, 2 with errors, 2 unreachable"


def test_a_thousand_hosts_add_up():
    recs, hosts = fleet_records.fleet(1000)
    s = audit.audit_summary(recs, hosts)
    assert s["counts"] == {"hosts": 1000, "error": 100, "unreachable": 100, "not_compliant": 400, "compliant": 400}
    assert s["reasons"] == {"runtime_drift": 350, "boot_drift": 100, "overridden": 100}
    assert s["pass_percent"] == 40.0
    assert max(len(h["keys"]) for h in s["hosts"]) == len(fleet_records.KEYS)
    never = [h for h in s["hosts"] if h["host"].startswith("web0003.")][0]
    assert [r["boot_text"] for r in never["keys"]][:2] == ["4096, the kernel default (no file sets it; read in a fresh network namespace)",
                                                           "60, the kernel default (no file sets it; read in a fresh network namespace)"]
    assert never["keys"][-1]["boot_text"] == ("the kernel default, value unknown: no fresh network namespace "
                                              "could be made on this host (no file sets it)")
    older = [h for h in s["hosts"] if h["host"].startswith("web0013.")][0]
    assert {r["boot_text"] for r in older["keys"]} == {"the kernel default (no file sets it)"}


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
    # still: drift's boot-time drift; fresh's two keys, each at runtime and at boot; over's override and runtime.
    assert s["changes"] == {"new": 1, "still": 7, "resolved": 1}
    assert [r.get("change") for r in by["ok"]["keys"] + by["over"]["keys"]] == ["new", "still", "still"]
    out = registry.build("audit", now, HOSTS, baseline=base)["files"]
    assert "Since the baseline: 1 new, 7 still present, 1 resolved." in out["markdown"]
    assert ("net.core.somaxconn (web\\_frontend): wanted 8192; running 5; at boot the kernel default (no file sets "
            "it); runtime drift [new]") in out["markdown"]
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
    assert s["counts"] == {"hosts": 5, "compliant": 1, "not_compliant": 2, "error": 0, "unreachable": 2}
    with pytest.raises(common.ReportError) as e:
        audit.merge_audits([str(a), str(a)])
    assert str(e.value) == "merge: host drift is in both %s and %s" % (a, a)
    c = tmp_path / "c.json"
    c.write_text("{}")
    with pytest.raises(common.ReportError) as e:
        audit.merge_audits([str(c)])
    assert str(e.value) == "merge: %s: not an audit.json written by kerneltune.tcp.fleet_report" % c
    with pytest.raises(common.ReportError) as e:
        audit.merge_audits([str(tmp_path / "none.json")])
    assert str(e.value) == "merge: %s: cannot read: No such file or directory" % (tmp_path / "none.json")


@pytest.mark.parametrize("text,reason", [
    ("", "the file is empty, not an audit.json"),
    ("\n  \n", "the file is empty, not an audit.json"),
    ('{"kind": "audit", "hosts": [', "not JSON: Expecting value: line 1 column 29 (char 28)"),
    ("[]", "not an audit.json written by kerneltune.tcp.fleet_report"),
    (b"\x1f\x8b\x08\x00", "not JSON: 'utf-8' codec can't decode byte 0x8b in position 1: invalid start byte"),
])
def test_a_baseline_that_is_not_an_audit_json_is_refused_naming_the_option_file_and_reason(tmp_path, text, reason):
    p = tmp_path / "old.json"
    if isinstance(text, bytes):
        p.write_bytes(text)  # a gzip file
    else:
        p.write_text(text)
    with pytest.raises(common.ReportError) as e:
        audit.load_audit(str(p))
    assert str(e.value) == "baseline: %s: %s" % (p, reason)
    with pytest.raises(common.ReportError) as e:
        audit.merge_audits([str(p)])
    assert str(e.value) == "merge: %s: %s" % (p, reason)
    with pytest.raises(common.ReportError) as e:
        audit.load_audit(str(tmp_path / "gone.json"))
    assert str(e.value) == "baseline: %s: cannot read: No such file or directory" % (tmp_path / "gone.json")


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
     "baseline: %s: schema_version 99; this collection reads audit.json schema_version 1 or 2"),
    (lambda d: d["hosts"].append({"host": "x", "runtime_drift": "oops"}),
     'baseline: %s: host entry {"host": "x", "runtime_drift": "oops"} does not have the audit.json shape '
     "(docs/schemas/audit.schema.json)"),
    (lambda d: d["hosts"].append(["not", "a", "dict"]),
     'baseline: %s: host entry ["not", "a", "dict"] does not have the audit.json shape '
     "(docs/schemas/audit.schema.json)"),
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
    assert ("net.core.somaxconn (web\\_frontend): wanted \\>= 8192; running 1000; at boot 4096 from "
            "/etc/sysctl.d/50-vendor.conf; runtime drift, boot-time drift") in md
    html = audit_render.audit_html(summary)
    assert "<td>&gt;= 8192</td><td>1000</td><td>4096 from /etc/sysctl.d/50-vendor.conf</td>" in html
    assert audit_render.failure_text("web", recs("1000")["web"]["profiles"][0]["result"]["settings"][0],
                                     "web_frontend").splitlines()[3] == "wanted: >= 8192 (would set 8192)"
    # The boot-time drift is the same drift whatever the host runs now: the bound is what is wanted.
    again = audit.audit_summary(recs("2000"), ["web"],
                                baseline=json.loads(audit_render.audit_json(summary, recs("1000"))))
    assert [e["change"] for e in again["hosts"][0]["boot_drift"]] == ["still"]


def test_an_audit_json_of_schema_version_1_is_still_a_baseline_and_merge_input():
    """audit.json files written before counts replaced totals and status (tests/fixtures/audit-real.json)."""
    path = os.path.join(ROOT, "tests", "fixtures", "audit-real.json")
    old = audit.load_audit(path)
    assert old["schema_version"] == 1 and "totals" in old
    s = audit.audit_summary(old["records"], [h["host"] for h in old["hosts"]], baseline=old, fail_on="new")
    assert s["changes"] == {"new": 0, "still": 2, "resolved": 0} and s["passed"] is False
    recs, hosts = audit.merge_audits([path])
    counts = audit.audit_summary(recs, hosts)["counts"]
    assert counts == {"hosts": 4, "error": 0, "unreachable": 1, "not_compliant": 2, "compliant": 1}


def test_ufw_and_tuned_overrides_name_the_service_and_the_fix():
    e = entry("net.ipv4.conf.all.log_martians", "overridden", runtime="0", desired="1", persisted="0",
              by="/etc/ufw/sysctl.conf", before="0", src_before="/etc/ufw/sysctl.conf")
    row = audit.key_row(e, "web_frontend")
    assert row["problems"] == ["overridden by /etc/ufw/sysctl.conf, which sets 0 at boot"]
    assert row["fix"] == (
        "remove net.ipv4.conf.all.log_martians from /etc/ufw/sysctl.conf (ufw's boot script applies it after the "
        "sysctl files; or point IPT_SYSCTL in /etc/default/ufw at another file), or, if 0 is right for this host, "
        "set it in web_frontend_sysctl_overrides")
    e = entry("net.ipv4.tcp_keepalive_time", "overridden", runtime="300", desired="600", persisted="300",
              by="/etc/tuned/kt/tuned.conf")
    assert audit.key_row(e, "web_frontend")["fix"] == (
        "remove net.ipv4.tcp_keepalive_time from /etc/tuned/kt/tuned.conf (tuned applies this profile at boot after "
        "the sysctl files; change it in a profile under /etc/tuned), or, if 300 is right for this host, set it in "
        "web_frontend_sysctl_overrides")


def test_a_boot_value_tuned_leaves_unknown():
    why = "tuned runs in automatic mode (/etc/tuned/profile_mode): it applies the profile its recommender picks"
    e = dict(entry("net.ipv4.tcp_fin_timeout", "drift", runtime="60", desired="30", persisted=None, pd=True,
                   src_before="tuned"), persisted_unknown=why, persisted_before_unknown=why)
    row = audit.key_row(e, "web_frontend")
    assert (row["boot"], row["boot_source"], row["boot_text"]) == (None, "tuned", "unknown: " + why)
    assert row["problems"] == ["value at boot unknown: " + why]


def test_a_refused_setting_is_named_once_not_as_the_module_message_and_its_finding():
    # The module's msg is its one error finding's message (or "N settings refused: a; b" for several): the
    # host's errors name each refusal once.
    msg = ("net.ipv4.tcp_fin_timeout: no value meets every kerneltune.tcp bound: 20..30 in /a.conf and <= 15 in "
           "/b.conf; change or remove one of them")
    one = {"rule": "bounds_conflict", "severity": "error", "key": "net.ipv4.tcp_fin_timeout", "message": msg}
    two = dict(one, key="net.core.somaxconn", rule="bounds",
               message="net.core.somaxconn: bound min 'x' is not an integer")
    for error, findings in ((msg, [one]), ("2 settings refused: %s; %s" % (msg, two["message"]), [one, two])):
        r = {"web": {"profiles": [{"profile": "web_frontend", "error": error, "result": {"findings": findings}}]}}
        h = audit.audit_summary(r, ["web"])["hosts"][0]
        assert h["errors"] == ["web_frontend: %s" % f["message"] for f in findings]
    # A module error that is not its findings' (a failure of its own) is still named.
    r = {"web": {"profiles": [{"profile": "web_frontend", "error": "lock: timed out", "result": {"findings": [one]}}]}}
    assert audit.audit_summary(r, ["web"])["hosts"][0]["errors"] == ["web_frontend: lock: timed out",
                                                                     "web_frontend: %s" % msg]
