# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl's glue, driven through main() with real arguments.

Only read-only paths run here (check mode, refusals): they read this host's
/proc without changing anything. The write transaction is tested on temporary
roots in tests/unit/plugins/module_utils/sysctl/test_transaction.py, and for
real in molecule, in containers.
"""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.modules import tcp_sysctl


def test_tcp_sysctl_check_mode_writes_nothing(run_module):
    path = "/run/sysctl.d/90-kerneltune-unit-test.conf"
    assert not os.path.exists(path)
    with open("/proc/sys/net/ipv4/tcp_fin_timeout") as f:
        running = f.read().strip()
    want = "17" if running != "17" else "18"
    r = run_module(tcp_sysctl, {"settings": {"net.ipv4.tcp_fin_timeout": want}, "path": path, "_ansible_check_mode": True,
                                "_ansible_diff": True})
    assert r["changed"] is True
    assert r["runtime_changes"] == ["net.ipv4.tcp_fin_timeout: %s -> %s" % (running, want)]
    assert r["settings"][0]["status"] == "drift"
    assert r["diff"][0]["after"].endswith("net.ipv4.tcp_fin_timeout = %s\n" % want)
    assert [f["rule"] for f in r["findings"]] == ["fin_timeout_scope"]
    assert not os.path.exists(path)
    with open("/proc/sys/net/ipv4/tcp_fin_timeout") as f:
        assert f.read().strip() == running


def test_tcp_sysctl_path_must_be_conf(run_module):
    r = run_module(tcp_sysctl, {"settings": {"net.ipv4.tcp_fin_timeout": 15}, "path": "/etc/sysctl.d/x.txt",
                                "_ansible_check_mode": True})
    assert r["failed"] is True
    assert r["msg"] == ("path: /etc/sysctl.d/x.txt must be an absolute path ending in .conf "
                        "(the appliers read only *.conf)")


def test_tcp_sysctl_refusal_carries_findings(run_module):
    path = "/run/sysctl.d/90-kerneltune-unit-test.conf"
    r = run_module(tcp_sysctl, {"settings": {"vm.swappiness": 1}, "path": path})
    assert r["failed"] is True
    assert r["findings"][0]["rule"] == "scope"
    assert r["changed"] is False
    assert not os.path.exists(path)


@pytest.mark.parametrize("path,msg", [
    ("/etc/resolv.conf", "path: /etc/resolv.conf is not in a directory both appliers read and the distribution "
                         "leaves to the administrator (/etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d)"),
    ("/etc/sysctl.conf", "path: /etc/sysctl.conf is not in a directory both appliers read and the distribution "
                         "leaves to the administrator (/etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d)"),
    ("/usr/lib/sysctl.d/50-pid-max.conf",
     "path: /usr/lib/sysctl.d/50-pid-max.conf is not in a directory both appliers read and the distribution "
     "leaves to the administrator (/etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d)"),
    ("/etc/sysctl.d/../ld.so.conf", "path: /etc/sysctl.d/../ld.so.conf contains '..'; give the file's own path in "
                                    "/etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d"),
    ("/etc/sysctl.d/.hidden.conf", "path: /etc/sysctl.d/.hidden.conf is a hidden file; systemd-sysctl skips hidden "
                                   "files"),
])
@pytest.mark.parametrize("state", ["present", "absent"])
def test_tcp_sysctl_path_confined(path, msg, state, run_module):
    before = os.path.exists(path) and open(path, "rb").read()
    r = run_module(tcp_sysctl, {"settings": {"net.ipv4.tcp_fin_timeout": 15}, "path": path, "state": state})
    assert r["failed"] is True and r["changed"] is False
    assert r["msg"] == msg
    assert (os.path.exists(path) and open(path, "rb").read()) == before


def test_tcp_sysctl_settings_required(run_module):
    r = run_module(tcp_sysctl, {"state": "present"})
    assert r["msg"] == "state is present but all of the following are missing: settings"


def test_tcp_sysctl_namespaces_all_needs_state_present(run_module):
    r = run_module(tcp_sysctl, {"state": "absent", "namespaces": "all", "path": "/run/sysctl.d/90-kerneltune-unit-test.conf",
                                "_ansible_check_mode": True})
    assert r["failed"] is True
    assert r["msg"] == ("namespaces: all compares the other network namespaces with the settings, so it needs "
                        "state=present; got state=absent")
    assert "namespaces" not in r
