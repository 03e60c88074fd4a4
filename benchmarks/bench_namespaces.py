# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info namespaces=all against `ip netns exec NAME ss -tan` run once per namespace: the whole module process.

  python benchmarks/bench_namespaces.py [--rounds N] [--sockets N] [--no-docs]

In one privileged container with --network none (the host's sysctls, sockets and namespaces are never touched):
  1. 10 network namespaces (`ip netns add`), each with 2,000 sockets held open (1,000 loopback connections, both
     ends, by one process per namespace: ESTABLISHED sockets do not expire during the rounds as TIME_WAIT would
     after 60 s), made by molecule/_shared/files/make_namespaces.py; then 40 more, 50 in all;
  2. at each step, tcp_info with namespaces=all as a whole process (its AnsiballZ payload, built by Ansible and kept
     with ANSIBLE_KEEP_REMOTE_FILES, run with python3: interpreter start, unpacking, imports and every child that
     enters a namespace included) against one shell running `ip netns exec NAME ss -tan` for each namespace, both
     run by the same measuring parent, alternated, several rounds; wall time and peak RSS (ru_maxrss of the
     finished children: the largest single process, ours or one of its namespace children, or one ss).

Writes benchmarks/results/namespaces.json and the "tcp_info namespaces=all" section of docs/benchmarks.md
(between its markers). Targets: within 1.5x of the ss loop in time, peak memory flat from 10 to 50 namespaces.

Inside the container the same file measures: `bench_namespaces.py measure ARGV...` prints JSON
{seconds, maxrss_kb, out_bytes}.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import docsection  # benchmarks/docsection.py: the generated sections of docs/benchmarks.md

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGE = os.environ.get("KT_IMAGE", "localhost/kerneltune-debian:bookworm")
NAME = os.environ.get("KT_BENCH_NAMESPACES_NAME", "kt-bench-namespaces")
MAKER = "/src/molecule/_shared/files/make_namespaces.py"
STATE = "/root/kt-bench-ns.json"
BEGIN = "<!-- bench_namespaces: begin -->"
END = "<!-- bench_namespaces: end -->"
SS_LOOP = "for n in $(ip netns list | cut -d' ' -f1); do ip netns exec \"$n\" ss -tan; done"


def measure(argv):
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": dt, "maxrss_kb": rss, "out_bytes": len(p.stdout)}))


def sh(argv, check=True, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False, **kw)
    if check and p.returncode:
        raise SystemExit("%s failed (%d):\n%s\n%s"
                         % (" ".join(argv), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def inside(*argv, **kw):
    return sh(["podman", "exec", NAME] + list(argv), **kw)


def start():
    sh(["podman", "rm", "-f", "-t", "0", NAME], check=False)
    sh(["podman", "run", "-d", "--name", NAME, "--privileged", "--network", "none", "-v", "%s:/src:ro" % ROOT,
        IMAGE, "/bin/sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"])


def payload():
    """Build tcp_info's AnsiballZ payload (namespaces=all) with Ansible itself and keep it in the container."""
    fd, inv = tempfile.mkstemp(suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write("%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % NAME)
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0", ANSIBLE_REMOTE_TMP="/root/kt-tmp")
    sh(["ansible", "-i", inv, NAME, "-m", "kerneltune.tcp.tcp_info", "-a", "namespaces=all"], env=env)
    os.unlink(inv)
    path = inside("sh", "-c", "ls -t /root/kt-tmp/*/AnsiballZ_tcp_info.py | head -1").stdout.strip()
    if not path:
        raise SystemExit("no AnsiballZ_tcp_info.py kept in the container")
    inside("cp", path, "/root/AnsiballZ_tcp_info.py")
    return "/root/AnsiballZ_tcp_info.py"


def run_measure(*argv):
    out = inside("python3", "/src/benchmarks/bench_namespaces.py", "measure", *argv).stdout
    return json.loads(out.strip().splitlines()[-1])


def ss_total():
    """Sockets ss shows in every namespace made (its header lines not counted)."""
    out = inside("sh", "-c", SS_LOOP.replace("ss -tan", "ss -Htan") + " | wc -l").stdout
    return int(out.strip())


def step(rounds, module):
    ours, theirs = [], []
    for r in range(rounds):
        pair = [("ss", ("sh", "-c", SS_LOOP)), ("ours", ("python3", module))]
        for who, argv in (pair if r % 2 == 0 else pair[::-1]):
            (theirs if who == "ss" else ours).append(run_measure(*argv))
    result = json.loads(inside("python3", module).stdout)
    spaces = result.get("namespaces") or []

    def med(rows, k):
        return round(statistics.median(x[k] for x in rows), 3)
    row = {
        "namespaces": len(spaces), "skipped": len(result.get("namespaces_skipped") or []), "rounds": rounds,
        "module_sockets": sum(ns["total"] for ns in spaces), "ss_sockets": ss_total(),
        "module_seconds": med(ours, "seconds"), "ss_seconds": med(theirs, "seconds"),
        "module_maxrss_kb": int(med(ours, "maxrss_kb")), "ss_maxrss_kb": int(med(theirs, "maxrss_kb")),
        "module_out_bytes": int(med(ours, "out_bytes")), "scan_seconds": result["namespace_scan"]["seconds"],
        "all": {"ours": ours, "ss": theirs},
    }
    row["time_ratio"] = round(row["module_seconds"] / row["ss_seconds"], 2)
    print(json.dumps(dict((k, v) for k, v in row.items() if k != "all")), flush=True)
    return row


def docs(rows):
    lines = [BEGIN, "## tcp_info namespaces=all against `ip netns exec NAME ss -tan` per namespace", "",
             "`python benchmarks/bench_namespaces.py` (part of `make bench`), %s, kernel %s. One privileged "
             "container with `--network none`; %s sockets held open in each `ip netns` namespace (loopback "
             "connections, both ends, one process per namespace). Ours: the AnsiballZ payload of tcp_info with "
             "`namespaces: all` as Ansible built it, run with python3 (interpreter start, unpacking, imports and a "
             "child per namespace included). Theirs: one shell running `ip netns exec NAME ss -tan` for each "
             "namespace. Alternated, medians of %d rounds; peak memory is ru_maxrss of the finished children (the "
             "largest single process)."
             % (datetime.date.today().isoformat(), platform.release(),
                "{:,}".format(rows[0]["module_sockets"] // max(rows[0]["namespaces"], 1)), rows[0]["rounds"]), "",
             "| namespaces | sockets (tcp_info / ss) | tcp_info s | ss loop s | time ratio (target <= 1.5) | "
             "tcp_info KiB | ss KiB | result bytes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %d | {:,} / {:,} | %.3f | %.3f | %.2fx | %d | %d | {:,} |".format(
            r["module_sockets"], r["ss_sockets"], r["module_out_bytes"]) % (
            r["namespaces"], r["module_seconds"], r["ss_seconds"], r["time_ratio"], r["module_maxrss_kb"],
            r["ss_maxrss_kb"]))
    lines += ["", "Reading: see the notes below the table (written by hand after each run).", END]
    docsection.write_section(os.path.join(ROOT, "docs", "benchmarks.md"), BEGIN, END, "\n".join(lines))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        measure(sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sockets", type=int, default=2000)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    start()
    rows = []
    try:
        module = payload()
        inside("python3", MAKER, "bench", STATE, "10", str(a.sockets))
        rows.append(step(a.rounds, module))
        inside("python3", MAKER, "bench", STATE, "40", str(a.sockets), "10")
        rows.append(step(a.rounds, module))
    finally:
        sh(["podman", "rm", "-f", "-t", "0", NAME], check=False)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "namespaces.json"), "w") as f:
        json.dump({"date": datetime.datetime.now().isoformat(), "kernel": platform.release(), "rows": rows}, f,
                  indent=1)
    if not a.no_docs:
        docs(rows)


if __name__ == "__main__":
    main()
