# SPDX-License-Identifier: GPL-3.0-or-later
"""allow: [range] with a value the kernel refuses, in a file that sorts after another kerneltune.tcp file (issue 22).

procps applies the files in name order and a value the kernel refuses leaves the earlier one in place: the model
shows the earlier file's value winning at boot. That is not an override (the winner is read before ours), so the
run writes the running value and the kernel judges it: the real kernel refuses 300 for tcp_keepalive_probes (u8)
and the run changes nothing. Before, the run called it "overridden" by the earlier file ("70-... sets 9 after
80-..."), left the running value alone and wrote 300 into the file unjudged.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from netns import run_in_netns, skip_unless_root  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render  # noqa: E402

from .sysctl_env import by_key  # noqa: E402

KEY = "net.ipv4.tcp_keepalive_probes"
EARLY = "/etc/sysctl.d/70-kerneltune-a.conf"
OURS = "/etc/sysctl.d/80-kerneltune-b.conf"

SNIPPET = r'''
import tempfile
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render, task
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/etc/sysctl.d"], check=True)
open("/etc/sysctl.d/70-kerneltune-a.conf", "w").write(render.HEADER + "net.ipv4.tcp_keepalive_probes = 9\n")
state_dir = tempfile.mkdtemp()
params = dict(settings={"net.ipv4.tcp_keepalive_probes": 300}, path="/etc/sysctl.d/80-kerneltune-b.conf",
              state="present", restore=None, apply=True, nat="absent", skip_missing=[], allow=["range"],
              applier="procps", backup=False, lock_timeout=5)
before = read_sysctl("net.ipv4.tcp_keepalive_probes")
try:
    task.run(params, task.Options(state_file=os.path.join(state_dir, "kt", "tcp_sysctl.json")))
    out = {"failed": None}
except task.TaskFailed as e:
    out = {"failed": e.message, "warnings": e.warnings}
out.update(before=before, after=read_sysctl("net.ipv4.tcp_keepalive_probes"),
           file=os.path.exists("/etc/sysctl.d/80-kerneltune-b.conf"))
emit(out)
'''


def test_the_kernel_judges_an_allowed_value_the_earlier_file_seems_to_override(env):
    env.conf(EARLY, render.HEADER + "%s = 9\n" % KEY)
    env.set("net/ipv4/tcp_keepalive_probes", "9")
    r = env.plan({KEY: 300}, path=OURS, allow=["range"], applier="procps")
    e = by_key(r)[KEY]
    assert (e["status"], e["overridden_by"], e["persisted"], e["source"]) == ("drift", None, "9", EARLY)
    assert [f["message"] for f in r["findings"]] == [
        "net.ipv4.tcp_keepalive_probes: value 300 is outside 1..255 (allowed)",
        "net.ipv4.tcp_keepalive_probes: procps 4.0.4 would set 9 (from /etc/sysctl.d/70-kerneltune-a.conf) but "
        "systemd-sysctl 257 would leave it unset (/etc/sysctl.d/80-kerneltune-b.conf)"]
    assert r["runtime_changes"] == [(KEY, ("net", "ipv4", "tcp_keepalive_probes"), "9", "300")]
    # A file that sorts after ours does win at boot: named after ours, in that order.
    env.conf("/etc/sysctl.d/90-kerneltune-c.conf", render.HEADER + "%s = 7\n" % KEY)
    r = env.plan({KEY: 300}, path=OURS, allow=["range"], applier="procps")
    assert [f["message"] for f in r["findings"] if f["rule"] == "overridden"] == [
        "net.ipv4.tcp_keepalive_probes: /etc/sysctl.d/90-kerneltune-c.conf sets 7 after "
        "/etc/sysctl.d/80-kerneltune-b.conf (300); it wins at boot, so the running value is left alone"]


def test_the_real_kernel_refuses_it_and_nothing_changes():
    skip_unless_root()
    out = run_in_netns(SNIPPET, mount=True)
    assert (out["failed"], out["before"], out["after"], out["file"]) == (
        "net.ipv4.tcp_keepalive_probes: the kernel refused value '300': Invalid argument; the file was not changed",
        "9", "9", False)
    assert out["warnings"][0] == "net.ipv4.tcp_keepalive_probes: value 300 is outside 1..255 (allowed)"
