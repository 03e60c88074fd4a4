# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit_entry filter: one looped tcp_sysctl result -> an audit record entry."""
from ansible_collections.kerneltune.tcp.plugins.filter import reports


def test_audit_entry():
    ok = reports.audit_entry({"item": "web_frontend", "changed": True, "settings": [], "findings": [],
                              "ansible_loop_var": "item", "invocation": {"module_args": {}}})
    assert ok == {"profile": "web_frontend", "result": {"changed": True, "settings": [], "findings": []}}
    bad = reports.audit_entry({"item": "reverse_proxy", "failed": True, "msg": "kernel.panic: out of scope"})
    assert bad["error"] == "kernel.panic: out of scope" and bad["profile"] == "reverse_proxy"
    down = reports.audit_entry({"item": "web_frontend", "unreachable": True, "msg": "ssh: refused"})
    assert down["unreachable"] is True and down["error"] == "ssh: refused"


def test_the_filter_is_registered():
    assert reports.FilterModule().filters() == {"audit_entry": reports.audit_entry}
