# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's glue, driven through main() with real arguments: it only reads this host's /proc."""
import os

from ansible_collections.kerneltune.tcp.plugins.modules import tcp_info


def test_tcp_info_reads_this_host(run_module):
    r = run_module(tcp_info, {"_ansible_check_mode": True, "source": "proc", "port_probe": False,
                              "counter_interval": 0.1, "nat": "always"})
    assert r["changed"] is False and r["source"] == "proc"
    # The numbers add up and the values are this host's own.
    assert r["total"] == sum(c["total"] for c in r["counts"].values())
    for c in r["counts"].values():
        assert c["total"] == c["ipv4"] + c["ipv6"]
    assert r["time_wait"]["total"] == r["counts"].get("time_wait", {}).get("total", 0)
    assert r["time_wait"]["total"] == r["time_wait"]["inbound"] + r["time_wait"]["outbound"]
    with open("/proc/sys/net/ipv4/tcp_fin_timeout") as f:
        assert r["sysctls"]["net.ipv4.tcp_fin_timeout"] == f.read().strip()
    assert r["kernel"]["release"] == os.uname().release
    assert r["nat"]["detected"] is bool(r["nat"]["evidence"])
    assert all(f["severity"] in ("info", "warning", "error") and f["remedy"] for f in r["findings"])
    # A second reading of the counters only when an overflow counter is above 0 (no wait on a healthy host).
    seen = any(r["counters"].get(k, 0) > 0 for k in ("TcpExtListenOverflows", "TcpExtTCPTimeWaitOverflow"))
    assert (0.1 <= r["counter_seconds"] < 10) if seen else (r["counter_seconds"], r["counter_deltas"]) == (0, {})
    assert r["listen_queues"] == []  # /proc/net/tcp carries no backlog


def test_tcp_info_top_must_be_positive(run_module):
    assert run_module(tcp_info, {"top": 0})["msg"] == "top: 0 must be at least 1"


def test_tcp_info_counter_interval_bounded(run_module):
    for bad in (-1, 61):
        assert run_module(tcp_info, {"counter_interval": bad})["msg"] == (
            "counter_interval: %s must be between 0 and 60 seconds" % float(bad))


def test_tcp_info_skips_nat_detection_unless_needed(run_module):
    r = run_module(tcp_info, {"source": "proc", "port_probe": False, "counter_interval": 0})
    assert r["nat"]["detected"] is None and r["nat"]["not_probed"].startswith("nat=auto: net.ipv4.tcp_tw_recycle is ")


def test_tcp_info_self_keeps_todays_result(run_module):
    r = run_module(tcp_info, {"source": "proc", "port_probe": False, "counter_interval": 0})
    assert not set(r) & {"namespace", "namespaces", "namespaces_skipped", "namespace_scan"}
    assert "conntrack" in r


def test_tcp_info_all_lists_namespaces_and_warns_for_those_it_could_not_enter(run_module, monkeypatch):
    # The scan itself is tested on real namespaces (module_utils/tcpinfo/test_namespaces_real.py): here, the glue.
    from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import namespaces as ns_lib
    why = ("entering another network namespace needs CAP_SYS_ADMIN (setns(2) said: Operation not permitted); run "
           "as root (become: true)")
    seen = {}

    def fake(options):
        seen.update(options)
        return ([{"inode": 7, "name": None, "findings": []}], [{"inode": 9, "name": "blue", "reason": why}],
                {"found": 3, "diagnosed": 1, "skipped": 1, "unreadable_processes": 0, "seconds": 0.1})
    monkeypatch.setattr(ns_lib, "diagnose_all", fake)
    warned = []
    monkeypatch.setattr(tcp_info.AnsibleModule, "warn", lambda self, w: warned.append(w))
    r = run_module(tcp_info, {"source": "proc", "port_probe": False, "counter_interval": 0, "namespaces": "all",
                              "conntrack_share_warning": 0.5})
    assert r["namespaces"] == [{"inode": 7, "name": None, "findings": []}]
    assert r["namespaces_skipped"] == [{"inode": 9, "name": "blue", "reason": why}]
    assert r["namespace"]["inode"] == os.stat("/proc/self/ns/net").st_ino
    # What the module hands to warn(): once a test has imported a controller plugin (the action plugins' tests),
    # ansible-core 2.19 routes module warnings to the controller's display instead of the result.
    assert warned == ["could not read 1 network namespace (9 (blue)): " + why]
    assert seen["source"] == "proc" and seen["thresholds"]["conntrack_share_warning"] == 0.5


def test_tcp_info_all_without_root_says_which_namespaces_it_could_not_see(run_module, monkeypatch):
    # Without become, /proc/PID/ns/net of other users' processes cannot be read: the scan found only the module's
    # own namespace and said nothing of the pods it could not see.
    from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import namespaces as ns_lib
    monkeypatch.setattr(ns_lib, "diagnose_all", lambda options: (
        [], [], {"found": 1, "diagnosed": 0, "skipped": 0, "unreadable_processes": 91, "seconds": 0.1}))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    warned = []
    monkeypatch.setattr(tcp_info.AnsibleModule, "warn", lambda self, w: warned.append(w))
    run_module(tcp_info, {"source": "proc", "port_probe": False, "counter_interval": 0, "namespaces": "all"})
    # What the module hands to warn() (see the test above for why not the result's warnings).
    assert warned == [
        "namespaces=all: the network namespace of 91 processes could not be read (reading /proc/PID/ns/net needs "
        "the right to ptrace the process, and entering a namespace CAP_SYS_ADMIN): their namespaces are missing from "
        "the result; run as root (become: true)"]
