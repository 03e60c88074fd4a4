# SPDX-License-Identifier: GPL-3.0-or-later
"""sockets/netns.py without namespaces: cgroup paths as runtimes write them (v1, v2, hybrid, systemd slices with the
pod uid in underscores, cgroupfs driver, nested, lxc), owner() over a /proc tree made for the test, and run_in()
on a namespace path that does not exist (gone between discovery and the diagnosis)."""
import os
import time

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns

A = "a" * 64
B = "b" * 64
UID = "5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
UID_ = UID.replace("-", "_")


@pytest.mark.parametrize("path, runtime, cid, containers, pod", [
    ("/system.slice/docker-%s.scope" % A, "docker", A, [A], None),
    ("/docker/%s" % A, "docker", A, [A], None),
    ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%s.scope" % (UID_, A),
     "containerd", A, [A], UID),
    ("/kubepods.slice/kubepods-pod%s.slice/crio-%s.scope" % (UID_, A), "cri-o", A, [A], UID),
    ("/kubepods/besteffort/pod%s/%s" % (UID, A), "kubernetes", A, [A], UID),
    ("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice" % UID_, None, None, [], UID),
    ("/machine.slice/libpod-%s.scope" % A, "podman", A, [A], None),
    ("/libpod_parent/libpod-%s" % A, "podman", A, [A], None),
    ("/system.slice/docker-%s.scope/libpod_parent/libpod-%s.scope" % (A, B), "podman", B, [A, B], None),
    ("/lxc.payload.web1", "lxc", "web1", ["web1"], None),
    ("/lxc/web1", "lxc", "web1", ["web1"], None),
    ("/user.slice/user-1000.slice/session-3.scope", None, None, [], None),
    ("/", None, None, [], None),
])
def test_parse_cgroup(path, runtime, cid, containers, pod):
    assert netns.parse_cgroup(path) == {"runtime": runtime, "container_id": cid, "containers": containers,
                                        "pod_uid": pod}


def _proc(tmp_path, pid, cgroup, comm):
    d = tmp_path / str(pid)
    d.mkdir()
    (d / "cgroup").write_text(cgroup)
    (d / "comm").write_text(comm + "\n")


def test_owner_hybrid_takes_the_innermost_placement(tmp_path):
    # v1 hierarchies still show the outer container; the unified (0::) line the pod's container inside it.
    inner = "/libpod_parent/libpod-%s/kubepods.slice/kubepods-pod%s.slice/cri-containerd-%s.scope" % (A, UID_, B)
    _proc(tmp_path, 40, "9:name=systemd:/libpod_parent/libpod-%s\n4:memory:/libpod_parent/libpod-%s\n0::%s\n"
          % (A, A, inner), "java")
    _proc(tmp_path, 41, "0::%s\n" % inner, "sidecar")
    out = netns.owner([40, 41], str(tmp_path))
    assert out == {"runtime": "containerd", "container_id": B, "containers": [A, B], "pod_uid": UID,
                   "cgroup": inner, "processes": [{"pid": 40, "command": "java"}, {"pid": 41, "command": "sidecar"}],
                   "process_count": 2}


def test_owner_of_a_namespace_with_no_container_and_a_gone_process(tmp_path):
    _proc(tmp_path, 7, "0::/user.slice/user-0.slice/session-1.scope\n", "bash")
    assert netns.owner([7, 99], str(tmp_path), limit=1) == {
        "runtime": None, "container_id": None, "containers": [], "pod_uid": None, "cgroup": None,
        "processes": [{"pid": 7, "command": "bash"}], "process_count": 2}


def test_run_in_a_namespace_path_removed_during_the_scan(tmp_path):
    ns = netns.Namespace(4026539999, str(tmp_path / "gone"))
    assert netns.run_in(ns, lambda: 1) == (
        None, "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)")


def test_run_in_own_namespace_runs_here():
    mine = netns.Namespace(netns.self_inode(), "/proc/self/ns/net", is_self=True)
    assert netns.run_in(mine, lambda: {"pid": os.getpid()}) == ({"pid": os.getpid()}, None)


def test_run_in_reports_what_fn_raised():
    if os.geteuid() != 0:
        pytest.skip("setns into its own namespace needs CAP_SYS_ADMIN")

    def boom():
        raise ValueError("no such key")
    assert netns.run_in("/proc/self/ns/net", boom) == (None, "ValueError: no such key")


def test_discover_skips_run_netns_entries_that_are_no_namespace(tmp_path):
    # An empty file (`ip netns add` whose mount failed, or umount without rm) and a FIFO (whose open would block
    # the child that enters it) are not namespaces.
    (tmp_path / "stale").write_text("")
    os.mkfifo(str(tmp_path / "fifo"))
    spaces, _unreadable = netns.discover(run_netns=str(tmp_path))
    assert [ns.names for ns in spaces if ns.names] == []


def test_run_in_child_output_stays_off_the_module_stdout(capfd):
    # A module's stdout carries its JSON result: what fn prints in the child must not land before it.
    if os.geteuid() != 0:
        pytest.skip("setns into its own namespace needs CAP_SYS_ADMIN")

    def chatty():
        print("hello", flush=True)
        os.write(1, b"raw\n")
        return 5
    assert netns.run_in("/proc/self/ns/net", chatty) == (5, None)
    assert capfd.readouterr().out == ""


def test_discover_does_not_count_a_zombie_as_unreadable(tmp_path):
    # A zombie (or a process gone during the scan) has no namespace left to read: counting it as "could not be
    # read" made tcp_reset tell root to use become: true. A /proc with only the zombie and self.
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        for _i in range(100):
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        os.symlink("/proc/%d" % pid, str(tmp_path / str(pid)))
        os.symlink("/proc/self", str(tmp_path / "self"))
        spaces, unreadable = netns.discover(str(tmp_path), str(tmp_path / "netns"))
    finally:
        os.waitpid(pid, 0)
    assert (unreadable, [ns.pids for ns in spaces]) == (0, [[]])


def test_run_in_reaps_the_child_and_closes_the_pipe_when_reading_fails(monkeypatch):
    # An exception while the parent reads the child's answer left a zombie and the pipe's read end open.
    fds = set(os.listdir("/proc/self/fd"))

    def no_fdopen(*_a, **_kw):
        raise MemoryError("no memory")
    monkeypatch.setattr(netns.os, "fdopen", no_fdopen)
    with pytest.raises(MemoryError):
        netns.run_in(netns.Namespace(4026539999, "/nonexistent"), lambda: 1)
    monkeypatch.undo()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    assert set(os.listdir("/proc/self/fd")) == fds


def test_run_in_refuses_a_path_that_now_leads_to_another_namespace():
    # /proc/PID/ns/net of a pid that exited and was reused by a process elsewhere: the child entered that other
    # namespace and its diagnosis was reported under the inode found at discovery.
    if os.geteuid() != 0:
        pytest.skip("setns into its own namespace needs CAP_SYS_ADMIN")
    ns = netns.Namespace(netns.self_inode() + 1, "/proc/self/ns/net")
    assert netns.run_in(ns, lambda: 1) == (
        None, "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)")


@pytest.mark.parametrize("end,why", [
    (lambda: os._exit(3), "the process that entered the namespace failed (it exited with status 3)"),
    (lambda: os.kill(os.getpid(), 9), "the process that entered the namespace failed (it was killed by signal 9, "
                                      "SIGKILL)"),
])
def test_run_in_says_how_the_child_ended_without_an_answer(end, why):
    if os.geteuid() != 0:
        pytest.skip("setns into its own namespace needs CAP_SYS_ADMIN")
    assert netns.run_in("/proc/self/ns/net", end) == (None, why)
