# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's glue, driven through main() with real arguments: it only reads this host's /proc."""
import json
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.modules import tcp_info

_ARGS = {}  # "patch": the module_args fixture (tests/unit/conftest.py), set for each test


@pytest.fixture(autouse=True)
def _module_args(module_args):
    _ARGS["patch"] = module_args


def run(module, args, capsys):
    with _ARGS["patch"](args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


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
