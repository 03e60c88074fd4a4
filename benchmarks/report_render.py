# SPDX-License-Identifier: GPL-3.0-or-later
"""Rendering the audit reports of a synthetic 1,000-host fleet (tests/helpers/fleet_records.py).

Targets: the HTML page in at most 1 s, at most 3 MB. Measured side by side with writing the same fleet's JSON
(the ratio says what the page costs over the data), best of 5 runs. Not a test: run it and record the figures
in docs/benchmarks.md.

    .venv/bin/python benchmarks/report_render.py [hosts]
"""
import json
import os
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))


def _collection():
    base = tempfile.mkdtemp(prefix="kt-bench-")
    os.makedirs(os.path.join(base, "ansible_collections", "kerneltune"))
    os.symlink(ROOT, os.path.join(base, "ansible_collections", "kerneltune", "tcp"))
    sys.path.insert(0, base)


def best(fn, runs=5):
    times = []
    for _run in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    _collection()
    from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, audit_render, registry
    import fleet_records
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    records, hosts = fleet_records.fleet(n)
    summary = audit.audit_summary(records, hosts)
    t_json, js = best(lambda: audit_render.audit_json(summary, records))
    t_html, page = best(lambda: audit_render.audit_html(summary))
    t_junit, _j = best(lambda: audit_render.audit_junit(summary, records))
    t_all, _a = best(lambda: registry.build("audit", records, hosts))
    size = len(page.encode("utf-8"))
    result = {"hosts": n, "html_s": round(t_html, 3), "html_bytes": size, "json_s": round(t_json, 3),
              "json_bytes": len(js.encode("utf-8")), "junit_s": round(t_junit, 3),
              "all_reports_s": round(t_all, 3), "html_over_json": round(t_html / t_json, 2),
              "html_ok": t_html <= 1.0 and size <= 3 * 1024 * 1024}
    print(json.dumps(result, indent=1))
    return 0 if result["html_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
