# SPDX-License-Identifier: GPL-3.0-or-later
"""bench_fleet.py accepts a run only when its play recap is what the audit's gate makes of fresh hosts: every host
failed once (each host the gate fails on fails its own task), none unreachable; the floor fails no host."""
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))  # bench_fleet imports bench


def _bench_fleet():
    spec = importlib.util.spec_from_file_location("bench_fleet", os.path.join(ROOT, "benchmarks", "bench_fleet.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def recap(**hosts):
    return "PLAY RECAP ***\n" + "".join(
        "%s : ok=3    changed=1    unreachable=%d    failed=%d    skipped=0\n" % (h, u, f)
        for h, (u, f) in hosts.items())


def test_recap_ok():
    bf = _bench_fleet()
    a, b = bf.PREFIX + "00", bf.PREFIX + "01"
    assert bf.recap_ok(recap(**{a: (0, 1), b: (0, 1)}), [a, b], gate=True)
    # The old gate: one failure, charged to the first host.
    assert not bf.recap_ok(recap(**{a: (0, 1), b: (0, 0)}), [a, b], gate=True)
    assert not bf.recap_ok(recap(**{a: (1, 1), b: (0, 1)}), [a, b], gate=True)
    assert bf.recap_ok(recap(**{a: (0, 0), b: (0, 0)}), [a, b])
    assert not bf.recap_ok(recap(**{a: (0, 0)}), [a, b])


def test_ratios_are_the_median_of_each_rounds_ratio():
    bf = _bench_fleet()
    row = {"hosts": 50, "forks": 25, "keys": 8,
           "rounds": {"audit": [30.0, 36.0, 33.0], "floor": [30.0, 30.0, 22.0], "diagnose": [], "posix": []},
           "cpu": {"audit": [40.0, 44.0, 42.0], "floor": [40.0, 40.0, 40.0], "diagnose": [], "posix": []}}
    out = bf.summarize(row)
    assert out["audit_over_floor_rounds"] == [1.0, 1.2, 1.5]
    assert out["audit_over_floor"] == 1.2  # the middle round's, not 33 / 30
    assert out["audit_over_floor_of_medians"] == 1.1
    assert out["audit_over_floor_cpu"] == 1.05
    assert "diagnose_over_floor" not in out
    assert "| median | | 33.00 (42.0) | 30.00 (40.0) | 1.20x |" in "\n".join(bf.rounds_table([out]))
