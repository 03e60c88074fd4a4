# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit filters: a looped tcp_sysctl result -> an audit record entry; a host's registered audit task -> its
record; the hosts the gate fails on -> add_host's groups."""
from ansible_collections.kerneltune.tcp.plugins.filter import reports


def test_audit_entry():
    ok = reports.audit_entry({"item": "web_frontend", "changed": True, "settings": [], "findings": [],
                              "ansible_loop_var": "item", "invocation": {"module_args": {}}})
    assert ok == {"profile": "web_frontend", "result": {"changed": True, "settings": [], "findings": []}}
    bad = reports.audit_entry({"item": "reverse_proxy", "failed": True, "msg": "kernel.panic: out of scope"})
    assert bad["error"] == "kernel.panic: out of scope" and bad["profile"] == "reverse_proxy"
    down = reports.audit_entry({"item": "web_frontend", "unreachable": True, "msg": "ssh: refused"})
    assert down["unreachable"] is True and down["error"] == "ssh: refused"


def test_audit_entry_of_a_loop_over_the_lookup_s_profiles():
    """The audit loops over the profile lookup's dicts (loop_var kt_profile): the entry names the profile and does
    not carry the resolved parameters."""
    ok = reports.audit_entry({"kt_profile": {"name": "web_frontend", "settings": {"a": 1}}, "changed": False,
                              "settings": [], "ansible_loop_var": "kt_profile"})
    assert ok == {"profile": "web_frontend", "result": {"changed": False, "settings": []}}


def test_audit_record():
    looped = {"results": [{"kt_profile": {"name": "web_frontend"}, "ansible_loop_var": "kt_profile",
                           "settings": []}]}
    assert reports.audit_record(looped) == {"profiles": [{"profile": "web_frontend", "result": {"settings": []}}]}
    # The loop could not be templated (the host's profile variables are wrong): one error, named after the profiles.
    failed = {"failed": True, "msg": "web_frontend_settings: must be a dict of sysctl key: value, got str 'x'"}
    assert reports.audit_record(failed, ["web_frontend"]) == {"profiles": [{
        "profile": "web_frontend", "result": {},
        "error": "web_frontend_settings: must be a dict of sysctl key: value, got str 'x'"}]}
    assert reports.audit_record({}) == {"unreachable": True, "profiles": []}
    assert reports.audit_record({"skipped": True, "results": []}) == {"profiles": []}


PER_HOST = {"ok": {"status": "compliant", "fails_gate": False}, "drift": {"status": "drift", "fails_gate": True},
            "down": {"status": "unreachable", "fails_gate": True}}


def test_gate_hosts_with_a_reachable_host_to_stay():
    assert reports.audit_gate_hosts(PER_HOST, ["down", "drift", "ok"]) == [
        {"name": "down", "groups": ["kt_audit_failed", "kt_audit_unreachable", "kt_audit_mark"]},
        {"name": "drift", "groups": ["kt_audit_failed"]},
        {"name": "drift", "groups": ["kt_audit_mark"]}]


def test_gate_hosts_when_every_host_is_unreachable():
    down = {"a": PER_HOST["down"], "b": PER_HOST["down"]}
    # The controller stays in the play ...
    assert reports.audit_gate_hosts(down, ["a", "b"]) == [
        {"name": "a", "groups": ["kt_audit_failed", "kt_audit_unreachable", "kt_audit_mark_local"]},
        {"name": "b", "groups": ["kt_audit_failed", "kt_audit_unreachable", "kt_audit_mark_local"]}]
    # ... unless --limit leaves it out: then the hosts only fail the gate.
    assert reports.audit_gate_hosts(down, ["a", "b"], True) == [
        {"name": "a", "groups": ["kt_audit_failed"]}, {"name": "b", "groups": ["kt_audit_failed"]}]


def test_gate_hosts_when_every_host_passes():
    assert reports.audit_gate_hosts({"ok": PER_HOST["ok"]}, ["ok"]) == []


def test_the_filters_are_registered():
    assert reports.FilterModule().filters() == {"audit_entry": reports.audit_entry,
                                                "audit_record": reports.audit_record,
                                                "audit_gate_hosts": reports.audit_gate_hosts}
