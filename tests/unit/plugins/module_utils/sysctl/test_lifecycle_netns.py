# SPDX-License-Identifier: GPL-3.0-or-later
"""A reboot between apply and removal, on the real kernel, in network namespaces made for the test.

Apply in one namespace (a value set by hand first), boot a fresh namespace with the real applier
(systemd-sysctl, net.* only, our file only), remove there: the key goes back to what the host boots with
(the kernel default), not to the value set by hand. The sysctl.d tree is a temporary directory.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

SYSTEMD_SYSCTL = next((p for p in ("/usr/lib/systemd/systemd-sysctl", "/lib/systemd/systemd-sysctl")
                       if os.path.exists(p)), None)
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(SYSTEMD_SYSCTL is None or shutil.which("unshare") is None,
                       reason="needs systemd-sysctl and unshare"),
]

SCRIPT = """
import json, os, sys
sys.path[:0] = %(path)r
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan, procsys
root, step, records = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
P = "/etc/sysctl.d/90-kerneltune-tcp.conf"
def somaxconn():
    return open("/proc/sys/net/core/somaxconn").read().strip()
if step == "apply":
    open("/proc/sys/net/core/somaxconn", "w").write("1000")  # by hand, in no file
    r = plan.plan(plan.Request({"net.core.somaxconn": 8192}, P, boot_root=root, applier="systemd-sysctl",
                               nat="absent", nat_result={}, listeners={}, records={}))
    procsys.apply_runtime(r["runtime_changes"])
    os.makedirs(root + "/etc/sysctl.d", exist_ok=True)
    open(root + P, "w").write(r["new_text"])
    print(json.dumps({"running": somaxconn(), "entry": r["entries"][0]}))
else:
    booted = somaxconn()
    r = plan.plan(plan.Request(None, P, state="absent", restore=step, boot_root=root, applier="systemd-sysctl",
                               records=records))
    procsys.apply_runtime(r["runtime_changes"])
    print(json.dumps({"booted": booted, "running": somaxconn(), "restore": r["restore"]}))
"""


def in_new_netns(tmp_path, *args, boot=False):
    script = tmp_path / "step.py"
    script.write_text(SCRIPT % {"path": [p for p in sys.path if p]})
    cmd = [sys.executable, str(script)] + list(args)
    if boot:  # the real applier over our file only, then the step, in the same fresh namespace
        conf = args[0] + "/etc/sysctl.d/90-kerneltune-tcp.conf"
        cmd = ["sh", "-c", '"$0" --prefix=net "$1" && shift && exec "$@"', SYSTEMD_SYSCTL, conf] + cmd
    out = subprocess.run(["unshare", "--net"] + cmd, stdout=subprocess.PIPE, check=True)
    return json.loads(out.stdout.decode())


def kernel_default():
    out = subprocess.run(["unshare", "--net", "cat", "/proc/sys/net/core/somaxconn"], stdout=subprocess.PIPE,
                         check=True)
    return out.stdout.decode().strip()


@pytest.mark.parametrize("restore,back", [("boot", "default"), ("previous", "1000")])
def test_removal_after_a_reboot(tmp_path, restore, back):
    root = str(tmp_path / "root")
    applied = in_new_netns(tmp_path, root, "apply", "{}")
    assert applied["running"] == "8192"
    assert (applied["entry"]["kernel_default"], applied["entry"]["kernel_default_source"]) == (
        kernel_default(), "fresh network namespace")
    # The record the module keeps: the running value before its first change, the one set by hand.
    removed = in_new_netns(tmp_path, root, restore, json.dumps({"net.core.somaxconn": "1000"}), boot=True)
    assert removed["booted"] == "8192"
    expected = kernel_default() if back == "default" else back
    source = "kernel default" if back == "default" else "recorded"
    assert removed["restore"] == [{"key": "net.core.somaxconn", "runtime": "8192", "value": expected,
                                   "source": source}]
    assert removed["running"] == expected
