# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's settings check: the keys whose value or bound is not met after the change, running or at boot,
from the settings of a check-mode tcp_sysctl run (the fields as plugins/modules/tcp_sysctl.py RETURN has them)."""
from ansible_collections.kerneltune.tcp.plugins.filter.rollout import FilterModule
from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import rollout_unmet

WEB = "/etc/sysctl.d/80-kerneltune-web_frontend.conf"
OURS = "/etc/sysctl.d/80-kerneltune-high_outbound_client.conf"


def entry(key, desired, runtime, boot, source, bounds=None, status="ok", runtime_drift=False, persisted_drift=False):
    return {"key": key, "desired": desired, "runtime": runtime, "persisted": boot, "source": source,
            "persisted_before": boot, "source_before": source, "runtime_drift": runtime_drift,
            "persisted_drift": persisted_drift, "overridden_by": None, "status": status, "bounds": bounds}


FIN = {"max": 15, "text": "<= 15"}


def test_a_bound_another_profile_overrides_at_boot():
    # The case: web_frontend's {max: 30} file sorts after high_outbound_client's and wins at boot.
    s = [entry("net.ipv4.tcp_fin_timeout", "15", "15", "30", WEB, FIN, "overridden", persisted_drift=True),
         entry("net.ipv4.tcp_tw_reuse", "1", "1", "1", OURS)]
    assert rollout_unmet.unmet(s) == [{
        "key": "net.ipv4.tcp_fin_timeout", "running": "15", "boot": "30", "source": WEB, "running_met": True,
        "boot_met": False, "wants": "the bound <= 15",
        "message": "net.ipv4.tcp_fin_timeout is 15 running and 30 at boot (%s wins), outside the bound <= 15" % WEB}]


def test_a_plain_value_changed_at_runtime_after_the_change_and_a_key_no_file_sets():
    s = [entry("net.ipv4.tcp_tw_reuse", "1", "2", "1", OURS, runtime_drift=True, status="drift"),
         entry("net.core.somaxconn", "8192", "8192", None, None, persisted_drift=True, status="drift")]
    assert [u["message"] for u in rollout_unmet.unmet(s)] == [
        "net.core.somaxconn is 8192 running and not set at boot (no file sets it), not the profile's value 8192",
        "net.ipv4.tcp_tw_reuse is 2 running and 1 at boot (%s wins), not the profile's value 1" % OURS]
    assert [(u["running_met"], u["boot_met"]) for u in rollout_unmet.unmet(s)] == [(True, False), (False, True)]


def test_a_key_no_file_sets_boots_with_the_kernel_default_when_it_is_known():
    s = [dict(entry("net.core.somaxconn", "8192", "8192", None, None, persisted_drift=True, status="drift"),
              kernel_default="4096", kernel_default_source="fresh network namespace")]
    assert rollout_unmet.unmet(s)[0]["message"] == (
        "net.core.somaxconn is 8192 running and 4096 at boot (the kernel default, read in a fresh network "
        "namespace; no file sets it), not the profile's value 8192")
    assert rollout_unmet.unmet(s)[0]["boot"] == "4096"
    # Unknown: why (the kernel_default_source text); a result from before kernel_default existed says less.
    s[0].update(kernel_default=None, kernel_default_source="global key")
    assert rollout_unmet.unmet(s)[0]["message"] == (
        "net.core.somaxconn is 8192 running and the kernel default at boot, value unknown: global key (no file sets "
        "it), not the profile's value 8192")


def test_met_skipped_and_read_only_keys_are_not_reported():
    s = [entry("net.ipv4.tcp_fin_timeout", "10", "10", "10", OURS, FIN),
         entry("net.ipv4.tcp_tw_reuse_delay", "100", None, None, None, status="unsupported", runtime_drift=True),
         entry("net.core.rmem_max", "4194304", "212992", "4194304", OURS, status="read_only", runtime_drift=True)]
    assert rollout_unmet.unmet(s) == []
    assert rollout_unmet.unmet(None) == []


def test_the_filter_is_the_function():
    s = [entry("net.ipv4.tcp_fin_timeout", "15", "60", "15", OURS, FIN, "drift", runtime_drift=True)]
    assert FilterModule().filters()["rollout_unmet"](s) == rollout_unmet.unmet(s)
    assert FilterModule().filters()["rollout_unmet"](s)[0]["message"] == (
        "net.ipv4.tcp_fin_timeout is 60 running and 15 at boot (%s wins), outside the bound <= 15" % OURS)
