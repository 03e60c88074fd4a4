# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules' glue, driven through main() with real arguments.

Only read-only paths run here (check mode, refusals, tcp_info): they read this
host's /proc without changing anything. Writes are tested in molecule, in
containers.
"""
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kerneltune.tcp.plugins.modules import tcp_info, tcp_reset, tcp_sysctl


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_tcp_sysctl_check_mode_writes_nothing(tmp_path, capsys):
    path = str(tmp_path / "90-test.conf")
    with open("/proc/sys/net/ipv4/tcp_fin_timeout") as f:
        running = f.read().strip()
    want = "17" if running != "17" else "18"
    r = run(tcp_sysctl, {"settings": {"net.ipv4.tcp_fin_timeout": want}, "path": path, "_ansible_check_mode": True,
                         "_ansible_diff": True}, capsys)
    assert r["changed"] is True
    assert r["runtime_changes"] == ["net.ipv4.tcp_fin_timeout: %s -> %s" % (running, want)]
    assert r["settings"][0]["status"] == "drift"
    assert r["diff"][0]["after"].endswith("net.ipv4.tcp_fin_timeout = %s\n" % want)
    assert [f["rule"] for f in r["findings"]] == ["fin_timeout_scope", "not_persistent"]
    assert not os.path.exists(path)
    with open("/proc/sys/net/ipv4/tcp_fin_timeout") as f:
        assert f.read().strip() == running


def test_tcp_sysctl_path_must_be_conf(capsys):
    r = run(tcp_sysctl, {"settings": {"net.ipv4.tcp_fin_timeout": 15}, "path": "/etc/sysctl.d/x.txt",
                         "_ansible_check_mode": True}, capsys)
    assert r["failed"] is True
    assert r["msg"] == ("path: /etc/sysctl.d/x.txt must be an absolute path ending in .conf "
                        "(the appliers read only *.conf)")


def test_tcp_sysctl_refusal_carries_findings(tmp_path, capsys):
    r = run(tcp_sysctl, {"settings": {"vm.swappiness": 1}, "path": str(tmp_path / "x.conf")}, capsys)
    assert r["failed"] is True
    assert r["findings"][0]["rule"] == "scope"
    assert r["changed"] is False
    assert not os.path.exists(str(tmp_path / "x.conf"))


def test_tcp_sysctl_settings_required(capsys):
    r = run(tcp_sysctl, {"state": "present"}, capsys)
    assert r["msg"] == "state is present but all of the following are missing: settings"


def test_tcp_info_reads_this_host(capsys):
    r = run(tcp_info, {"_ansible_check_mode": True, "source": "proc"}, capsys)
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


def test_tcp_info_top_must_be_positive(capsys):
    assert run(tcp_info, {"top": 0}, capsys)["msg"] == "top: 0 must be at least 1"


@pytest.mark.parametrize("args,msg", [
    ({"states": ["listen"], "all": True}, "states: listen is refused: destroying a listening socket stops the service"),
    ({"states": ["close_wait"]}, "at least one of local, remote, pid or process is required; set all: true to match "
                                 "every socket in the given states"),
    ({"states": ["close_wait"], "remote": ["bogus"]},
     "remote: 'bogus' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ({"states": ["close_wait"], "remote": [":80"], "max_sockets": 0}, "max_sockets: 0 must be at least 1"),
])
def test_tcp_reset_refusals(args, msg, capsys):
    r = run(tcp_reset, dict(args, _ansible_check_mode=True), capsys)
    assert r["failed"] is True and r["msg"] == msg and r["destroyed"] == 0
