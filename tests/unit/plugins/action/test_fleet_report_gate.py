# SPDX-License-Identifier: GPL-3.0-or-later
"""What the audit's report task returns for the gate: the per-host entries (set_stats, the per-host gate), the
plain-text summary (CI logs) and the modules' warnings with their host, from real audit summaries."""
from ansible_collections.kerneltune.tcp.plugins.action import fleet_report
from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_render, common

BOUND = {"key": "net.core.somaxconn", "status": "drift", "desired": "8192", "runtime": "4096", "runtime_drift": True,
         "bounds": {"min": 8192, "text": ">= 8192"}}
OVERRIDE = {"key": "net.ipv4.tcp_fin_timeout", "status": "overridden", "desired": "15", "persisted": "45",
            "overridden_by": "/etc/sysctl.d/99-local.conf"}
WARN = {"severity": "warning", "rule": "x", "message": "net.ipv4.tcp_fin_timeout: set again by a later file"}
RECORDS = {
    "web1": {"profiles": [{"profile": "web_frontend", "result": {"settings": [], "findings": []}}]},
    "web2": {"profiles": [{"profile": "web_frontend", "result": {"settings": [BOUND], "findings": []}}]},
    "web3": {"profiles": [{"profile": "web_frontend", "result": {"settings": [OVERRIDE], "findings": [WARN]}}]},
    "web4": {"unreachable": True, "profiles": []},
    "db1": {"profiles": []},
}


def summary(**kw):
    return audit.audit_summary(RECORDS, sorted(RECORDS), **kw)


def test_per_host_entries():
    per = audit_render.audit_per_host(summary())
    assert per["web1"] == {"status": "compliant", "fails_gate": False, "keys": [], "reason": "compliant",
                           "notes": []}
    assert per["web2"] == {"status": "not_compliant", "fails_gate": True, "keys": ["net.core.somaxconn"],
                           "reason": "runtime drift web_frontend net.core.somaxconn: 4096 -> 8192 (bound >= 8192)",
                           "notes": []}
    assert per["web3"]["reason"] == ("overridden web_frontend net.ipv4.tcp_fin_timeout: 45 by "
                                     "/etc/sysctl.d/99-local.conf")
    assert per["web4"] == {"status": "unreachable", "fails_gate": True, "keys": [], "reason": "unreachable",
                           "notes": []}
    assert per["db1"]["reason"] == "no profile: the host is in no group mapped to a profile"


def test_with_fail_on_new_drift_already_in_the_baseline_does_not_fail_its_host():
    base = {"hosts": summary()["hosts"]}
    per = audit_render.audit_per_host(summary(baseline=base, fail_on="new"))
    assert per["web2"]["fails_gate"] is False and per["web2"]["reason"].endswith("(bound >= 8192) [still]")
    assert per["web4"]["fails_gate"] is True and per["db1"]["fails_gate"] is True


def test_plain_text_summary():
    assert audit_render.audit_text(summary(), "/ci/kerneltune-reports").splitlines() == [
        "audit FAIL: 1 of 5 hosts compliant (20%): 2 not compliant, 1 with errors, 1 unreachable.",
        "Of the 2 not compliant hosts: 1 with runtime drift, 0 with boot-time drift, 1 with a key overridden by a "
        "later file (a host can have more than one).",
        "db1: error: no profile: the host is in no group mapped to a profile",
        "web2: not compliant: runtime drift web_frontend net.core.somaxconn: 4096 -> 8192 (bound >= 8192)",
        "web3: not compliant: overridden web_frontend net.ipv4.tcp_fin_timeout: 45 by /etc/sysctl.d/99-local.conf",
        "web4: unreachable",
        "reports in /ci/kerneltune-reports",
    ]


def test_plain_text_summary_names_the_first_hosts_and_counts_the_rest(monkeypatch):
    monkeypatch.setattr(common, "TEXT_HOSTS", 2)
    lines = audit_render.audit_text(summary(), "/r").splitlines()
    assert lines[2:] == ["db1: error: no profile: the host is in no group mapped to a profile",
                         "web2: not compliant: runtime drift web_frontend net.core.somaxconn: 4096 -> 8192 (bound >= 8192)",
                         "... and 2 more hosts not compliant (every host is in the reports)", "reports in /r"]


def test_warnings_carry_the_host():
    assert fleet_report.audit_warnings(RECORDS) == [
        "web3: web_frontend: net.ipv4.tcp_fin_timeout: set again by a later file"]


def test_rollout_warnings_carry_the_host():
    """playbooks/vars/rollout.yml records tcp_sysctl's warnings (a registered result keeps them) under apply."""
    records = {"web2": {"apply": {"warnings": ["net.ipv4.tcp_fin_timeout: set again by a later file"]}},
               "web1": {"apply": {"warnings": []}}, "web3": {}, "web4": {"batch": 3, "started": False}}
    assert fleet_report.rollout_warnings(records) == [
        "web2: net.ipv4.tcp_fin_timeout: set again by a later file"]
