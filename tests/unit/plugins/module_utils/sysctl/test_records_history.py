# SPDX-License-Identifier: GPL-3.0-or-later
"""A file removed and applied again keeps the value from before kerneltune.tcp (issue 22).

A rollout's restore removes a profile's file and applies its earlier version again: that second apply must not
record the running value it finds (the one the removal restored) as "before kerneltune". The whole task
(task.run: lock, records, plan, transaction) runs on the real kernel in a network namespace made for the test,
with a tmpfs over /etc/sysctl.d in its own mount namespace and the state file in a temporary directory.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from netns import run_in_netns, skip_unless_root  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import records as records_lib  # noqa: E402

SNIPPET = r'''
import tempfile
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import task
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/etc/sysctl.d"], check=True)
state_dir = tempfile.mkdtemp()
os.chmod(state_dir, 0o700)
state_file = os.path.join(state_dir, "kt", "tcp_sysctl.json")
P = "/etc/sysctl.d/80-kerneltune-history.conf"


def run(**kw):
    params = dict(settings=None, path=P, state="present", restore=None, apply=True, nat="absent", skip_missing=[],
                  allow=[], applier="systemd-sysctl", backup=False, lock_timeout=5)
    params.update(kw)
    return task.run(params, task.Options(state_file=state_file))[0]


steps = []
sysctl("net.core.somaxconn", "1000")  # v0, by hand
run(settings={"net.core.somaxconn": 8192})  # v1
steps.append(read_sysctl("net.core.somaxconn"))
removed = run(state="absent")  # restore: boot, the kernel default
steps.append(read_sysctl("net.core.somaxconn"))
state_after_removal = json.load(open(state_file))
run(settings={"net.core.somaxconn": 8192})  # applied again
steps.append(read_sysctl("net.core.somaxconn"))
previous = run(state="absent", restore="previous")
steps.append(read_sysctl("net.core.somaxconn"))
emit({"steps": steps, "previous": previous["restore"], "history": state_after_removal.get("history"),
      "files": state_after_removal["files"], "left": json.load(open(state_file))})
'''


def test_removed_then_applied_again_restores_the_value_before_kerneltune():
    skip_unless_root()
    out = run_in_netns(SNIPPET, mount=True)
    default = out["steps"][1]
    assert out["steps"] == ["8192", default, "8192", "1000"] and default != "1000"
    assert out["previous"] == [{"key": "net.core.somaxconn", "runtime": "8192", "value": "1000", "source": "recorded"}]
    # Kept after the removal as the file's history, taken back by the next state=present, and kept again.
    assert out["files"] == {}
    assert {k: v["value"] for k, v in out["history"]["/etc/sysctl.d/80-kerneltune-history.conf"].items()} == {
        "net.core.somaxconn": "1000"}
    assert out["left"]["files"] == {} and list(out["left"]["history"]) == ["/etc/sysctl.d/80-kerneltune-history.conf"]


def test_history_round_trips_and_a_run_that_keeps_the_file_drops_it(tmp_path):
    state_file = str(tmp_path / "kt" / "tcp_sysctl.json")
    state = {"/etc/sysctl.d/a.conf": {"net.core.somaxconn": "1000"}}
    removed = records_lib.with_history(state, "/etc/sysctl.d/a.conf", state["/etc/sysctl.d/a.conf"], True)
    removed["/etc/sysctl.d/a.conf"] = {}
    records_lib.save_state(removed, state_file)
    loaded = records_lib.load_state(state_file)
    assert records_lib.history_records(loaded, "/etc/sysctl.d/a.conf") == {"net.core.somaxconn": "1000"}
    # History never counts as another file's first record.
    assert records_lib.first_records(loaded, "/etc/sysctl.d/b.conf") == {}
    kept = records_lib.with_history(loaded, "/etc/sysctl.d/a.conf", {}, False)
    assert records_lib.HISTORY not in kept
