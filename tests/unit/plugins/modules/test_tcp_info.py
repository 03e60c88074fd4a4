# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's glue, driven through main() with real arguments: it only reads this host's /proc."""
import os

from ansible_collections.kerneltune.tcp.plugins.modules import tcp_info


def test_tcp_info_reads_this_host(run_module):
    r = run_module(tcp_info, {"_ansible_check_mode": True, "source": "proc"})
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


def test_tcp_info_top_must_be_positive(run_module):
    assert run_module(tcp_info, {"top": 0})["msg"] == "top: 0 must be at least 1"
