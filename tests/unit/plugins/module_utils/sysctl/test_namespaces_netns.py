# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl namespaces=all on real network namespaces (issue 26).

Each case runs in a sandbox of its own: new mount, pid and network namespaces (`unshare --mount --pid --fork
--mount-proc --net`), a tmpfs on /run (so `ip netns add` binds its namespaces there and nobody else's show) and on
/etc/sysctl.d and the state directory. netns.discover reads the sandbox's /proc and /run/netns, so the machine's
other namespaces (containers that other tests run) are never seen, and only the sandbox's namespaces are changed.

In the sandbox: `ip netns add blue` with tcp_fin_timeout 45 and somaxconn 1024; `ip netns add green` left at the
defaults but tcp_rmem changed after it was made; a process in an `unshare --net` namespace with tcp_fin_timeout 20.
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from netns import PRELUDE, can_unshare, collection_path  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns  # noqa: E402
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import namespaces  # noqa: E402
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import task  # noqa: E402

SANDBOX = r'''
for d in ("/run", "/etc/sysctl.d", "/var/lib"):
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", d], check=True)
os.makedirs("/run/netns")
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import namespaces, task


def ns_sysctl(ns, key, value):
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "%s=%s" % (key, value)], check=True)


def ns_read(ns, key):
    return subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-n", key], check=True,
                          stdout=subprocess.PIPE).stdout.decode().strip()


subprocess.run(["ip", "netns", "add", "blue"], check=True)
ns_sysctl("blue", "net.ipv4.tcp_fin_timeout", "45")
ns_sysctl("blue", "net.core.somaxconn", "1024")
subprocess.run(["ip", "netns", "add", "green"], check=True)
ns_sysctl("green", "net.ipv4.tcp_rmem", "4096 65536 1048576")
proc = subprocess.Popen(["unshare", "--net", "sh", "-c",
                         "echo 20 > /proc/sys/net/ipv4/tcp_fin_timeout && echo ready && exec sleep 300 >/dev/null"],
                        stdout=subprocess.PIPE)
proc.stdout.readline()
SETTINGS = {"net.ipv4.tcp_fin_timeout": {"max": 30}, "net.core.somaxconn": 4096,
            "net.ipv4.tcp_rmem": read_sysctl("net.ipv4.tcp_rmem")}


def params(**kw):
    p = dict(settings=SETTINGS, path="/etc/sysctl.d/90-kerneltune-tcp.conf", state="present", restore=None,
             apply=True, nat="absent", skip_missing=[], allow=[], applier="systemd-sysctl", backup=False,
             lock_timeout=5, namespaces="all")
    p.update(kw)
    return p


def opts(check):
    return task.Options(check_mode=check, kernel=os.uname().release, state_file="/var/lib/kt/tcp_sysctl.json")
'''


def sandbox(snippet, net=True, timeout=120):
    """The object the snippet emits last, run as root in the sandbox described above; with net=False the sandbox
    keeps the machine's network namespace as its own (check mode only: it must never be written)."""
    code = PRELUDE + SANDBOX + textwrap.dedent(snippet)
    with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="kt-nssysctl-") as f:
        f.write(code)
        f.flush()
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc"]
                              + (["--net"] if net else []) + [sys.executable, f.name, collection_path()],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError("sandbox failed (exit %d): %s" % (proc.returncode, proc.stderr.decode()[-4000:]))
    return json.loads([line for line in proc.stdout.decode().splitlines() if line.strip()][-1])


needs_root = pytest.mark.skipif(not can_unshare(), reason="needs root for unshare --net")


def by_name(out):
    """{name or "pid:<command>": namespace} of a result's namespaces."""
    return dict((n["name"] or "pid:%s" % n["owner"]["processes"][0]["command"], n) for n in out["namespaces"])


def rows(ns):
    return [(s["key"], s["value"], s["scope"], s["state"], s["differs"]) for s in ns["settings"]]


@needs_root
def test_check_and_apply_report_every_namespace_the_same_and_write_none_of_them():
    out = sandbox(r'''
    check = task.run(params(), opts(True))[0]
    self_check = task.run(params(namespaces="self"), opts(True))[0]
    applied = task.run(params(), opts(False))[0]
    emit({"check": check, "self": self_check, "applied": applied,
          "after": {"blue": [ns_read("blue", "net.ipv4.tcp_fin_timeout"), ns_read("blue", "net.core.somaxconn")],
                    "green": ns_read("green", "net.ipv4.tcp_rmem")},
          "host_rmem": read_sysctl("net.ipv4.tcp_rmem"), "host_fin": read_sysctl("net.ipv4.tcp_fin_timeout")})
    ''')
    check, applied = out["check"], out["applied"]
    # The task's own verdict is namespaces=self's: changed, the entries and the findings are the same.
    assert "namespaces" not in out["self"]
    for k in ("changed", "settings", "findings", "runtime_changes"):
        assert check[k] == out["self"][k], k
    assert check["changed"] is True and applied["changed"] is True
    assert out["host_fin"] == "30"  # the task's own namespace (the sandbox's) was applied ...
    # ... and no other namespace was written to.
    assert out["after"] == {"blue": ["45", "1024"], "green": "4096\t65536\t1048576"}
    # The same report in check mode and in a real run.
    assert check["namespaces"] == applied["namespaces"]
    assert check["namespaces_unreadable"] == 0
    spaces = by_name(check)
    assert sorted(spaces) == ["blue", "green", "pid:sleep"]
    rmem = out["host_rmem"].replace("\t", " ")
    assert rows(spaces["blue"]) == [
        ("net.core.somaxconn", "1024", "namespace", "writable", True),
        ("net.ipv4.tcp_fin_timeout", "45", "namespace", "writable", True),
        ("net.ipv4.tcp_rmem", rmem, "copied", "writable", False)]
    assert spaces["blue"]["differs"] == ["net.core.somaxconn", "net.ipv4.tcp_fin_timeout"]
    assert [s["wanted"] for s in spaces["blue"]["settings"]] == ["4096", "<= 30", rmem]
    assert rows(spaces["green"]) == [
        ("net.core.somaxconn", "4096", "namespace", "writable", False),
        ("net.ipv4.tcp_fin_timeout", "60", "namespace", "writable", True),
        ("net.ipv4.tcp_rmem", "4096 65536 1048576", "copied", "writable", True)]
    assert spaces["green"]["differs"] == ["net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_rmem"]
    # A bound is met anywhere within it, as on the host: 20 is within <= 30.
    assert rows(spaces["pid:sleep"])[1] == ("net.ipv4.tcp_fin_timeout", "20", "namespace", "writable", False)
    assert spaces["pid:sleep"]["differs"] == []
    assert spaces["blue"]["names"] == ["blue"] and spaces["blue"]["owner"]["process_count"] == 0
    assert spaces["pid:sleep"]["name"] is None and spaces["pid:sleep"]["owner"]["process_count"] == 1
    assert spaces["pid:sleep"]["owner"]["processes"][0]["command"] == "sleep"
    assert all(n["error"] is None for n in check["namespaces"])


@needs_root
def test_keys_of_the_host_alone_are_named_so_never_drift():
    """In the machine's own network namespace (check mode, nothing written): net.core.netdev_max_backlog is absent
    from every other namespace, net.core.rmem_max is there read-only (mode 0444, the host's value): both scope
    host, whatever their value. tcp_wmem and tcp_congestion_control are copied at creation."""
    out = sandbox(r'''
    keys = ["net.core.netdev_max_backlog", "net.core.rmem_max", "net.ipv4.tcp_wmem", "net.ipv4.tcp_congestion_control"]
    settings = dict((k, read_sysctl(k)) for k in keys)
    res = task.run(params(settings=settings), opts(True))[0]
    emit({"res": res})
    ''', net=False)
    res = out["res"]
    # Check mode: the file would be written (changed), the running values are already these.
    assert [e["runtime_drift"] for e in res["settings"]] == [False] * 4 and res["runtime_changes"] == []
    spaces = by_name(res)
    assert sorted(spaces) == ["blue", "green", "pid:sleep"]
    for ns in spaces.values():
        assert [(s["key"], s["scope"], s["state"], s["differs"]) for s in ns["settings"]] == [
            ("net.core.netdev_max_backlog", "host", "missing", False),
            ("net.core.rmem_max", "host", "read_only", False),
            ("net.ipv4.tcp_congestion_control", "copied", "writable", False),
            ("net.ipv4.tcp_wmem", "copied", "writable", False)]
        assert ns["settings"][0]["value"] is None
        assert ns["differs"] == []


@needs_root
def test_without_cap_sys_admin_each_namespace_says_why_and_the_scan_goes_on():
    out = sandbox(r'''
    entries = [{"key": "net.ipv4.tcp_fin_timeout", "desired": "30", "status": "drift", "bounds": None}]
    code = ("import json, sys; sys.path.insert(0, %r); from ansible_collections.kerneltune.tcp.plugins.module_utils"
            ".sysctl import namespaces; print(json.dumps(namespaces.scan(%r)))" % (COLLECTION, entries))
    res = subprocess.run(["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", sys.executable, "-c",
                          code], stdout=subprocess.PIPE, check=True)
    emit(json.loads(res.stdout.decode()))
    ''')
    spaces, unreadable = out
    assert unreadable == 0
    assert sorted(n["name"] or "pid" for n in spaces) == ["blue", "green", "pid"]
    assert [n["error"] for n in spaces] == [
        "entering another network namespace needs CAP_SYS_ADMIN (setns(2) said: Operation not permitted); run as "
        "root (become: true)"] * 3
    assert all(n["settings"] == [] and n["differs"] == [] for n in spaces)


@needs_root
def test_a_process_namespace_that_ends_between_discovery_and_reading_is_listed_gone():
    out = sandbox(r'''
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
    spaces, _unreadable = netns.discover()
    proc.kill()
    proc.wait()
    entries = [{"key": "net.ipv4.tcp_fin_timeout", "desired": "30", "status": "drift", "bounds": None}]
    emit(namespaces.scan(entries, {}, spaces=spaces)[0])
    ''')
    named = dict((n["name"] or "-", n) for n in out)
    assert sorted((k, n["error"]) for k, n in named.items()) == [
        ("-", "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)"),
        ("blue", None), ("green", None)]
    assert [s["value"] for s in named["blue"]["settings"]] == ["45"] and named["-"]["settings"] == []


def test_a_namespace_gone_during_the_scan_is_listed_with_the_reason():
    gone = netns.Namespace(4026599999, "/proc/999999999/ns/net")
    gone.pids.append(999999999)
    entries = [{"key": "net.core.somaxconn", "desired": "8192", "status": "drift", "bounds": None}]
    spaces, unreadable = namespaces.scan(entries, {}, spaces=[netns.Namespace(1, "/proc/self/ns/net", True), gone])
    assert unreadable == 0
    assert spaces == [{"inode": 4026599999, "name": None, "names": [], "error": (
        "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)"),
        "settings": [], "differs": [], "owner": {
            "runtime": None, "container_id": None, "containers": [], "pod_uid": None, "cgroup": None,
            "processes": [], "process_count": 1}}]


def test_only_with_state_present():
    with pytest.raises(task.TaskFailed) as e:
        task.run({"state": "absent", "restore": None, "apply": True, "path": "/etc/sysctl.d/90-kerneltune-tcp.conf",
                  "namespaces": "all"}, task.Options(check_mode=True))
    assert e.value.message == ("namespaces: all compares the other network namespaces with the settings, so it "
                               "needs state=present; got state=absent")


@pytest.mark.parametrize("key,bound,desired,value,differs", [
    ("net.ipv4.tcp_fin_timeout", {"max": 30}, "30", "20", False),
    ("net.ipv4.tcp_fin_timeout", {"max": 30}, "30", "60", True),
    ("net.core.somaxconn", None, "8192", "8192", False),
    ("net.core.somaxconn", None, "8192", "010", True),
    ("net.ipv4.ip_local_port_range", {"low_max": 10240, "high_min": 60999}, "10240 60999", "1024\t65000", False),
    ("net.ipv4.ip_local_port_range", None, "10240 65535", "10240\t65535", False),
])
def test_judged_as_the_host_running_value(key, bound, desired, value, differs):
    assert namespaces.meets(key, desired, bound, value) is not differs


def test_scope_comes_from_what_is_seen():
    assert namespaces.scope_of("net.core.rmem_max", "read_only") == "host"
    assert namespaces.scope_of("net.core.netdev_max_backlog", "missing") == "host"
    assert namespaces.scope_of("net.ipv4.tcp_wmem", "writable") == "copied"
    assert namespaces.scope_of("net.ipv4.conf.all.forwarding", "writable") == "copied"
    # A key the table calls global but that a namespace can write is the namespace's: what is seen wins.
    assert namespaces.scope_of("net.core.rmem_default", "writable") == "namespace"
    assert namespaces.scope_of("net.core.somaxconn", "unreadable") == "unknown"


def test_a_fork_that_fails_is_that_namespace_s_reason(monkeypatch):
    def no_fork(_ns, _fn):
        raise OSError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(netns, "run_in", no_fork)
    spaces, _unreadable = namespaces.scan([], {}, spaces=[netns.Namespace(7, "/proc/1/ns/net")])
    assert [n["error"] for n in spaces] == [
        "cannot start the process that enters it: Resource temporarily unavailable"]


def test_a_scan_without_root_warns_of_the_namespaces_it_could_not_see(monkeypatch, tmp_path):
    # Without become every other user's /proc/PID/ns/net is unreadable: namespaces came back empty, with no word.
    monkeypatch.setattr(namespaces, "scan", lambda entries, merged=None: ([], 91))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = f.read().strip()
    out, warnings = task.run({
        "settings": {"net.core.somaxconn": somaxconn}, "path": "/run/sysctl.d/90-kerneltune-unit-test.conf",
        "state": "present", "restore": None, "apply": True, "nat": "absent", "skip_missing": [], "allow": [],
        "applier": "systemd-sysctl", "backup": False, "lock_timeout": 5, "namespaces": "all"},
        task.Options(check_mode=True, kernel=os.uname().release, state_file=str(tmp_path / "state.json")))
    assert out["namespaces_unreadable"] == 91
    assert warnings[-1:] == [
        "namespaces=all: the network namespace of 91 processes could not be read (reading /proc/PID/ns/net needs "
        "the right to ptrace the process, and entering a namespace CAP_SYS_ADMIN): their namespaces are missing from "
        "the result; run as root (become: true)"]
