# SPDX-License-Identifier: GPL-3.0-or-later
"""Keeps benchmarks/bench_namespaces.py's docs section working (no timing, no container)."""
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load():
    path = os.path.join(ROOT, "benchmarks", "bench_namespaces.py")
    spec = importlib.util.spec_from_file_location("bench_namespaces", path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.pop(0)
    return mod


def test_docs_section_has_one_row_per_step(monkeypatch):
    bench = _load()
    written = {}
    monkeypatch.setattr(bench.docsection, "write_section",
                        lambda path, begin, end, block: written.update(path=path, block=block))
    row = {"namespaces": 10, "rounds": 3, "module_sockets": 20010, "ss_sockets": 20010, "module_seconds": 2.5,
           "ss_seconds": 2.0, "time_ratio": 1.25, "module_maxrss_kb": 27552, "ss_maxrss_kb": 13376,
           "module_out_bytes": 26007}
    bench.docs([row, dict(row, namespaces=50, module_sockets=100050, ss_sockets=100050, module_out_bytes=120019)])
    lines = written["block"].splitlines()
    assert written["path"].endswith(os.path.join("docs", "benchmarks.md"))
    assert lines[0] == bench.BEGIN and lines[-1] == bench.END
    assert "| 10 | 20,010 / 20,010 | 2.500 | 2.000 | 1.25x | 27552 | 13376 | 26,007 |" in lines
    assert "| 50 | 100,050 / 100,050 | 2.500 | 2.000 | 1.25x | 27552 | 13376 | 120,019 |" in lines
    assert "2,001 sockets held open" in written["block"]
