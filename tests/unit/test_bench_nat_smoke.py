# SPDX-License-Identifier: GPL-3.0-or-later
"""Keeps benchmarks/bench_nat.py working (no timing here): its in-container measurement, run for real on a stand-in
module, and the summary of rounds."""
import json
import subprocess
import sys

from .test_benchmarks_smoke import ROOT, load


def test_measure_reads_the_modules_nat_result():
    module = "import json; print(json.dumps({'nat': {'detected': True, 'evidence': ['a', 'b']}}))"
    out = subprocess.run([sys.executable, ROOT + "/benchmarks/bench_nat.py", "measure", sys.executable, "-c", module],
                         stdout=subprocess.PIPE, check=True).stdout
    r = json.loads(out.decode())
    assert (r["nat_evidence"], r["nat_detected"], r["rc"]) == (2, True, 0)
    assert r["cpu"] > 0 and r["out_bytes"] > 0


def test_summary_ratio():
    bench = load("bench_nat")
    run = {"cpu": 0.5, "seconds": 1.0, "out_bytes": 10, "nat_evidence": 0, "nat_detected": None, "rc": 0}
    slow = dict(run, cpu=1.0, nat_evidence=5, nat_detected=True)
    [row] = bench.summarize([{"m": run}] * 3, [{"m": slow}] * 3, ["m"])
    assert (row["cpu_ratio"], row["evidence_with"], row["detected_with"], row["rc"]) == (2.0, 5, True, [0])
