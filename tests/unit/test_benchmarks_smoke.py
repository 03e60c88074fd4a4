# SPDX-License-Identifier: GPL-3.0-or-later
"""Keeps the benchmark code working (benchmarks are not tests: no timing here).

The runner's read-only path runs for real on this host (it only reads
sockets); the report rendering runs on a sample of results.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(name):
    """A benchmark script as a module; benchmarks/ is on the path while it loads (the scripts import bench.py)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks", name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.pop(0)
    return mod


# Runs in a network namespace of its own (unshare --net, as root): one
# listener and three connections on that namespace's loopback, nothing else,
# so the runner's count is known exactly and the host's sockets are not read.
IN_NETNS = r"""
import json, socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
clients = [socket.create_connection(srv.getsockname()) for _ in range(3)]
accepted = [srv.accept()[0] for _ in range(3)]
for source in ("netlink", "proc"):
    out = subprocess.run([sys.executable, sys.argv[1], "info", source], stdout=subprocess.PIPE, check=True).stdout
    print(out.decode().strip().splitlines()[-1])
"""


def test_runner_counts_the_sockets_of_its_namespace():
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare --net")
    out = subprocess.run(["unshare", "--net", sys.executable, "-c", IN_NETNS,
                          os.path.join(ROOT, "benchmarks", "runner.py")],
                         env=dict(os.environ, KT_SRC=ROOT), stdout=subprocess.PIPE, check=True).stdout
    results = [json.loads(line) for line in out.decode().splitlines()]
    assert len(results) == 2
    for r in results:
        assert r["sockets"] == 7  # 1 LISTEN + 3 client + 3 accepted ESTABLISHED
        assert r["time_wait"] == 0
        assert r["maxrss_kb"] > 0 and r["seconds"] >= r["inner_seconds"] > 0


def test_render_and_reading():
    bench = load("bench")
    rows = [
        {"what": "15 keys, 1 host, apply", "ours": 1.5, "theirs": 15.0, "ratio": 10.0, "unit": "s",
         "ours_label": "tcp_sysctl (1 task)", "theirs_label": "ansible.posix.sysctl loop (15 tasks)"},
        {"what": "audit, reverse_proxy profile (12 keys), 10 hosts", "hosts": 10, "ours": 6.0, "theirs": 60.0,
         "ratio": 10.0, "unit": "s", "ours_label": "kerneltune.tcp.audit", "theirs_label": "loop"},
        {"what": "count 100000 TIME_WAIT: tcp_info (netlink) vs ss -tan state time-wait", "ours": 0.3,
         "theirs": 0.2, "ratio": 0.67, "unit": "s", "ours_label": "a", "theirs_label": "b", "ours_maxrss_kb": 20000,
         "theirs_maxrss_kb": 4000, "inner_seconds": 0.2},
    ]
    results = {"date": "2026-11-22", "machine": {"cpu": "cpu", "cores": 2, "kernel": "6.18", "python": "3.11",
                                                 "ansible": "core 2.19", "podman": "podman 4.3.1"},
               "rounds": 3, "fleet_rounds": 2, "command": "make bench", "rows": rows,
               "reading": bench.reading(rows)}
    text = bench.render(results)
    assert "| 15 keys, 1 host, apply | tcp_sysctl (1 task) | ansible.posix.sysctl loop (15 tasks) | 1.500 | 15.000 | 10.0x |" in text
    assert "10 hosts 6.0s vs 60.0s (10.0x)" in text
    assert "| count 100000 TIME_WAIT: tcp_info (netlink) vs ss -tan state time-wait | 20000 | 4000 |" in text


def test_fleet_bench_drives_podman_through_bench_helpers(monkeypatch):
    fleet = load("bench_fleet")
    calls = []

    class Done(object):
        stdout = "kt-fleet-00\nother\n"

    def fake_sh(argv, check=True, **_kw):
        calls.append(argv)
        return Done()
    monkeypatch.setattr(fleet.common, "sh", fake_sh)
    assert fleet.start(2) == ["kt-fleet-00", "kt-fleet-01"]
    assert calls[1] == ["podman", "rm", "-f", "-t", "0", "kt-fleet-00"]  # only our own containers go
    assert [c[:5] for c in calls[2:]] == [["podman", "run", "-d", "--name", "kt-fleet-00"],
                                          ["podman", "run", "-d", "--name", "kt-fleet-01"]]
