# SPDX-License-Identifier: GPL-3.0-or-later
"""One tcp_sysctl task without AnsibleModule: options that depend on each other, the diff.

The whole task runs through the module in tests/unit/plugins/modules/test_tcp_sysctl.py
(check mode and refusals) and in molecule; messages are asserted word for word.
"""
import collections
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import task

from .sysctl_env import PATH


def params(**kw):
    p = {"state": "present", "apply": True, "restore": None}
    p.update(kw)
    return p


@pytest.mark.parametrize("kw,message", [
    ({"restore": "boot"}, "restore: only with state=absent (it says what removing the file does to the running "
                          "values); got restore=boot with state=present"),
    ({"state": "absent", "restore": "boot", "apply": False},
     "restore: boot sets running values, which apply=false forbids; use restore=none or apply=true"),
    ({"state": "absent", "restore": "previous", "apply": False},
     "restore: previous sets running values, which apply=false forbids; use restore=none or apply=true"),
])
def test_restore_refusals(kw, message):
    base = {"changed": False}
    with pytest.raises(task.TaskFailed) as e:
        task.restore_option(params(**kw), base)
    assert e.value.message == message and e.value.result is base


@pytest.mark.parametrize("kw,restore", [
    ({"state": "absent"}, "boot"), ({"state": "absent", "apply": False}, "none"),
    ({"state": "absent", "restore": "none"}, "none"), ({}, "boot"),
    ({"state": "absent", "restore": "previous"}, "previous"),
])
def test_restore_defaults(kw, restore):
    assert task.restore_option(params(**kw), {}) == restore


def test_diff_shows_the_file_the_running_values_and_the_mode(tmp_path):
    path = str(tmp_path / "90-x.conf")
    with open(path, "w") as f:
        f.write("old\n")
    os.chmod(path, 0o600)
    result = {"old_text": "old\n", "new_text": "new\n",
              "runtime_changes": [("net.core.somaxconn", ("net", "core", "somaxconn"), "4096", "8192"),
                                  ("net.ipv4.tcp_fin_timeout", (), None, "15")]}
    d = task.diff(path, result)
    assert d[0] == {"before_header": path, "after_header": path, "before": "old\n", "after": "new\n"}
    assert d[1]["before"] == "net.core.somaxconn = 4096\nnet.ipv4.tcp_fin_timeout = (absent)\n"
    assert d[1]["after"] == "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 15\n"
    st = os.stat(path)
    assert d[2] == {"before_header": "%s (mode, owner)" % path, "after_header": "%s (mode, owner)" % path,
                    "before": "mode 0600, owner %d:%d\n" % (st.st_uid, st.st_gid), "after": "mode 0644, owner 0:0\n"}
    assert len(task.diff(PATH + ".none", result)) == 2
    # Another kerneltune file whose bounded line the run rewrites: its own entry, named by its path.
    other = "/etc/sysctl.d/95-kerneltune-other.conf"
    result["other_files"] = {other: ("a = 30\n", "a = 15\n")}
    assert task.diff(PATH + ".none", result)[2] == {"before_header": other, "after_header": other,
                                                    "before": "a = 30\n", "after": "a = 15\n"}


def test_lock_timeout():
    assert task.lock_timeout(params(), {}) == 60
    assert task.lock_timeout(params(lock_timeout=0), {}) == 0
    base = {"changed": False}
    with pytest.raises(task.TaskFailed) as e:
        task.lock_timeout(params(lock_timeout=-1.5), base)
    assert e.value.message == "lock_timeout: -1.5 is not a number of seconds (0 or more) to wait for another run"
    assert e.value.result is base


SHADOW_LAYOUT = {"/usr/lib/sysctl.d/50-x.conf": "net.ipv4.tcp_fin_timeout = 20\n",
                 "/etc/sysctl.d/90-y.conf": "net.ipv4.tcp_fin_timeout = 40\nnet.core.somaxconn = 4096\n",
                 "/etc/sysctl.d/95-z.conf": "net.ipv4.tcp_fin_timeout = 040\nnet.ipv4.tcp_fin_timeout = abc\n"
                                            "net.ipv4.tcp_* = 7\n-net.ipv4.tcp_fin_timeout\n"}


@pytest.mark.parametrize("applier", ["procps", "systemd-sysctl"])
def test_shadowed_names_the_files_that_set_another_value_and_lose(env, applier):
    """50-x.conf sets 20 and loses to 95-z.conf's 0x28 (40): it is shadowed. 90-y.conf's 40 is the winning value,
    10-bad.conf's value is refused, a glob names no value of its own for the key: none is shadowed. Our own file is
    left out (a later file beating it is `overridden`)."""
    env.conf("/usr/lib/sysctl.d/50-x.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    env.conf("/etc/sysctl.d/10-bad.conf", "net.ipv4.tcp_fin_timeout = abc\n")
    env.conf("/etc/sysctl.d/90-y.conf", "net.ipv4.tcp_fin_timeout = 40\nnet.core.somaxconn = 4096\n")
    env.conf("/etc/sysctl.d/95-z.conf", "net.ipv4.tcp_fin_timeout = 0x28\nnet.ipv4.tcp_* = 7\n")
    env.conf(PATH, "net.ipv4.tcp_fin_timeout = 15\n")
    req_kw = {"applier": applier}
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15, "net.core.somaxconn": 4096}, **req_kw)
    req = collections.namedtuple("Req", "path boot_root")(PATH, env.root)
    task.add_shadowed(req, r)
    fin = [e for e in r["entries"] if e["key"] == "net.ipv4.tcp_fin_timeout"][0]
    assert (fin["persisted_before"], fin["source_before"]) == ("40", "/etc/sysctl.d/95-z.conf")
    assert fin["shadowed"] == [{"path": "/usr/lib/sysctl.d/50-x.conf", "line": 1, "value": "20"}]
    assert [e["shadowed"] for e in r["entries"] if e["key"] == "net.core.somaxconn"] == [[]]


def test_shadowed_with_a_dash_line_last(env):
    """systemd: a later `-key` line leaves the key unset at boot: every value set before it loses."""
    for path, text in SHADOW_LAYOUT.items():
        env.conf(path, text)
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15})
    task.add_shadowed(collections.namedtuple("Req", "path boot_root")(PATH, env.root), r)
    assert (r["entries"][0]["persisted_before"], r["entries"][0]["source_before"]) == (
        None, "/etc/sysctl.d/95-z.conf")
    assert r["entries"][0]["shadowed"] == [
        {"path": "/usr/lib/sysctl.d/50-x.conf", "line": 1, "value": "20"},
        {"path": "/etc/sysctl.d/90-y.conf", "line": 1, "value": "40"},
        {"path": "/etc/sysctl.d/95-z.conf", "line": 1, "value": "32"}]
