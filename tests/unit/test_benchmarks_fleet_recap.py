# SPDX-License-Identifier: GPL-3.0-or-later
"""bench_fleet.py accepts a run only when its play recap is what the audit's gate makes of fresh hosts: every host
failed once (each host the gate fails on fails its own task), none unreachable; the floor fails no host."""
import importlib.util
import os
import sys

import pytest

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
    out = recap(**{a: (0, 0), b: (0, 0), "localhost": (0, 0), bf.PREFIX + "00": (0, 1)})
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


def test_each_figure_runs_its_playbook_on_its_fleet(monkeypatch, tmp_path):
    """bench() end to end with ansible-playbook scripted from what it is asked: each figure runs its own playbook
    on its own fleet under the controller's prefix (taskset), the compliant fleet is configured first, and a run
    that stops on a wrong exit code still removes its temporary files."""
    bf = _bench_fleet()
    monkeypatch.setattr(bf, "start", lambda n, prefix=bf.PREFIX: ["%s%02d" % (prefix, i) for i in range(n)])
    monkeypatch.setattr(bf, "stop_all", lambda: None)
    monkeypatch.setattr(bf, "CONTROLLER", ["taskset", "-c", "0"])
    monkeypatch.setattr(bf.tempfile, "tempdir", str(tmp_path))
    ran = []

    def fake_run(argv, env=None):
        assert argv[:4] == ["taskset", "-c", "0", "ansible-playbook"]
        with open(argv[argv.index("-i") + 1]) as f:
            hosts = [h.strip() for h in f if h.startswith(bf.PREFIX)]
        book = os.path.basename(argv[argv.index("-i") + 2])
        ran.append((book, hosts))
        fail = book in ("kerneltune.tcp.audit", "fleet_floor_gate.yml") and not hosts[0].startswith(bf.OK_PREFIX)
        text = ""
        if book == "kerneltune.tcp.audit":
            text = ("%d of %d hosts fail the audit: %d not compliant" % ((len(hosts),) * 3) if fail else
                    "audit PASS: %d of %d hosts compliant (100%%)" % (len(hosts), len(hosts)))
        return 1.0, 2 if fail else 0, text + "\n" + recap(**{h: (0, 1 if fail else 0) for h in hosts}), 0.5
    monkeypatch.setattr(bf, "run", fake_run)
    rows = bf.bench([2], 2, 1, False, only={"audit", "floor"})
    fresh, ok = [bf.PREFIX + "00", bf.PREFIX + "01"], [bf.OK_PREFIX + "00", bf.OK_PREFIX + "01"]
    assert ran[0] == ("fleet_apply.yml", ok)
    assert sorted(ran[1:]) == [("fleet_floor.yml", fresh), ("fleet_floor_gate.yml", fresh),
                               ("kerneltune.tcp.audit", fresh), ("kerneltune.tcp.audit", ok)]
    assert sorted(k for k, v in rows[0]["rounds"].items() if v) == ["audit", "audit (compliant)", "floor",
                                                                    "floor (gate)"]
    assert os.listdir(str(tmp_path)) == []

    # The floor with the gate must fail every host: a floor that exits 0 stops the run, and nothing is left behind.
    def wrong_gate(argv, env=None):
        out = fake_run(argv, env)
        return (out[0], 0, out[2], out[3]) if "fleet_floor_gate.yml" in argv[-1] else out
    monkeypatch.setattr(bf, "run", wrong_gate)
    with pytest.raises(SystemExit, match=r"^floor \(gate\) on 2 hosts: exit 0, wanted 2:"):
        bf.bench([2], 2, 1, False, only={"floor (gate)"})
    assert os.listdir(str(tmp_path)) == []
    with pytest.raises(SystemExit, match=r"^--only audit \(before\) selects no figure of this run$"):
        bf.bench([2], 2, 1, False, only={"audit (before)"})
