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


def test_recap_of_the_compliant_fleet():
    """The compliant fleet's hosts carry their own prefix; the recap check reads them by name, and a host the
    audit of the other fleet lists (or localhost) does not count."""
    bf = _bench_fleet()
    a, b = bf.OK_PREFIX + "00", bf.OK_PREFIX + "01"
    out = recap(**{a: (0, 0), b: (0, 0), "localhost": (0, 0)})
    assert bf.recap_ok(out, [a, b])
    assert not bf.recap_ok(out, [a, b], gate=True)
    assert not bf.recap_ok(recap(**{a: (0, 0), b: (0, 1)}), [a, b])


def test_each_audit_is_held_against_the_floor_with_its_outcome():
    """The drifting fleet's audit over the floor with the gate, the compliant fleet's over the ping floor; the
    drifting audit over the ping floor stays beside them. The reading judges the first two against the target."""
    bf = _bench_fleet()
    row = {"hosts": 50, "forks": 25, "keys": 8,
           "rounds": {"audit": [33.0, 30.0, 36.0], "floor (gate)": [30.0, 30.0, 30.0],
                      "audit (compliant)": [27.0, 26.0, 33.0], "floor": [25.0, 26.0, 30.0], "diagnose": [],
                      "posix": []},
           "cpu": {"audit": [], "floor (gate)": [], "audit (compliant)": [], "floor": [], "diagnose": [], "posix": []}}
    out = bf.summarize(row)
    assert out["audit_over_floor (gate)_rounds"] == [1.1, 1.0, 1.2]
    assert out["audit_over_floor (gate)"] == 1.1
    assert out["audit (compliant)_over_floor_rounds"] == [1.08, 1.0, 1.1]
    assert out["audit (compliant)_over_floor"] == 1.08
    assert out["audit_over_floor"] == 1.2
    assert bf.reading([out])[:2] == [
        "- 50 hosts, a fleet that drifts (every host fails the gate): the audit took 1.10x Ansible's floor for the "
        "same outcome, the ping and a failing task on each host (within the 1.1x target); against the ping floor "
        "alone, 1.20x.",
        "- 50 hosts, a compliant fleet (no host fails, no gate): the audit took 1.08x the ping floor (within the "
        "1.1x target).",
    ]
    table = "\n".join(bf.rounds_table([out]))
    assert "| round | order | audit | floor (gate) | audit (compliant) | floor | audit / floor (gate) | " \
           "audit (compliant) / floor | audit / floor |" in table
    assert "| 2 | - | 30.00 | 30.00 | 26.00 | 26.00 | 1.00x | 1.00x | 1.15x |" in table


def test_only_selects_a_figure_with_its_variants():
    """--only audit,floor measures the audit of both fleets and both floors (and "audit (before)"), not Mitogen's
    figures nor the diagnosis; no --only measures everything."""
    bf = _bench_fleet()
    names = ["audit", "audit (compliant)", "audit (before)", "floor", "floor (gate)", "audit (mitogen)",
             "floor (mitogen)", "diagnose", "diagnose (before)", "posix"]
    assert [n for n in names if bf.selects({"audit", "floor"}, n)] == [
        "audit", "audit (compliant)", "audit (before)", "floor", "floor (gate)"]
    assert [n for n in names if bf.selects({"diagnose"}, n)] == ["diagnose", "diagnose (before)"]
    assert [n for n in names if bf.selects({"floor (gate)"}, n)] == ["floor (gate)"]
    assert all(bf.selects(None, n) for n in names)


def test_hosts_on_cpus_of_their_own(monkeypatch):
    """--host-cpus/--controller-cpus: each container runs with --cpuset-cpus, and the header says where each ran."""
    bf = _bench_fleet()
    calls = []

    class Done(object):
        stdout = ""

    def fake_sh(argv, check=True, **_kw):
        calls.append(argv)
        return Done()
    monkeypatch.setattr(bf.common, "sh", fake_sh)
    monkeypatch.setattr(bf, "HOST_CPUS", ["--cpuset-cpus", "1"])
    assert bf.start(1) == [bf.PREFIX + "00"]
    assert calls[-1][:7] == ["podman", "run", "-d", "--name", bf.PREFIX + "00", "--cpuset-cpus", "1"]
    row = bf.summarize({"hosts": 2, "forks": 2, "keys": 8, "rounds": {"audit": [3.0], "floor": [2.5]},
                        "cpu": {"audit": [], "floor": []}})
    res = {"date": "2026-12-04", "command": "c", "ansible": "ansible [core 2.19.14]", "mitogen": "", "cores": 2,
           "timeout": "60", "rounds": 1, "rows": [row], "host_cpus": "1", "controller_cpus": "0"}
    assert "; the controller on CPU 0 and the hosts on CPU 1; fresh hosts" in bf.render(res)
    res["host_cpus"] = res["controller_cpus"] = None
    assert "; the controller and the hosts on the same CPUs; fresh hosts" in bf.render(res)
