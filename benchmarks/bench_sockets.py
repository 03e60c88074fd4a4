# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info at scale, side by side with `ss -tan`: the whole module process.

  python benchmarks/bench_sockets.py [--rounds N] [--no-docs]

In one privileged container with --network none (loopback only; the host's
sysctls and sockets are never touched):
  1. 10,000 then 100,000 TIME_WAIT sockets, each towards its own destination
     address (127.1.0.1 + i), then 100,000 ESTABLISHED sockets more (50,000
     connections held open, each client towards its own destination);
  2. at each step, the tcp_info module as a whole process (its AnsiballZ
     payload, built by Ansible and kept with ANSIBLE_KEEP_REMOTE_FILES, run
     with python3: interpreter start, unpacking and imports included) against
     `ss -tan`, both run by the same measuring parent, several rounds; wall
     time and peak RSS (ru_maxrss of the finished child) each.

Writes benchmarks/results/sockets.json and the "tcp_info at 100,000 sockets"
section of docs/benchmarks.md (between its markers; the rest of the file
belongs to bench.py). Targets: within 1.5x of ss in time, peak memory within
2x of ss's, flat from 10,000 to 100,000 sockets.

Inside the container the same file measures: `bench_sockets.py measure ARGV...`
prints JSON {seconds, maxrss_kb, out_bytes}.
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
NAME = os.environ.get("KT_BENCH_SOCKETS_NAME", "kt-bench-sockets12")
TASK_BEGIN = "<!-- bench_sockets_task: begin -->"
TASK_END = "<!-- bench_sockets_task: end -->"
BEGIN = "<!-- bench_sockets: begin -->"
END = "<!-- bench_sockets: end -->"


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
    # Keep TIME_WAIT (no loopback reuse), room for 300,000 of them, a wide port range.
    inside("sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=0", "net.ipv4.tcp_max_tw_buckets=400000",
           "net.ipv4.ip_local_port_range=1024 65535")


def payload():
    """Build tcp_info's AnsiballZ payload with Ansible itself and keep it in the container."""
    fd, inv = tempfile.mkstemp(suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write("%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % NAME)
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0", ANSIBLE_REMOTE_TMP="/root/kt-tmp")
    sh(["ansible", "-i", inv, NAME, "-m", "kerneltune.tcp.tcp_info"], env=env)
    os.unlink(inv)
    path = inside("sh", "-c", "ls -t /root/kt-tmp/*/AnsiballZ_tcp_info.py | head -1").stdout.strip()
    if not path:
        raise SystemExit("no AnsiballZ_tcp_info.py kept in the container")
    inside("cp", path, "/root/AnsiballZ_tcp_info.py")
    return "/root/AnsiballZ_tcp_info.py"


def run_measure(*argv):
    out = inside("python3", "/src/benchmarks/bench_sockets.py", "measure", *argv).stdout
    return json.loads(out.strip().splitlines()[-1])


def count(state):
    return int(inside("sh", "-c", "ss -Htan state %s | wc -l" % state).stdout.strip())


def step(label, rounds, module):
    ours, theirs = [], []
    for _round in range(rounds):
        theirs.append(run_measure("ss", "-tan"))
        ours.append(run_measure("python3", module))
    res = inside("python3", module).stdout
    result = json.loads(res)

    def med(rows, k):
        return round(statistics.median(r[k] for r in rows), 3)
    row = {
        "what": label, "rounds": rounds,
        "time_wait": count("time-wait"), "established": count("established"),
        "module_seconds": med(ours, "seconds"), "ss_seconds": med(theirs, "seconds"),
        "module_maxrss_kb": int(med(ours, "maxrss_kb")), "ss_maxrss_kb": int(med(theirs, "maxrss_kb")),
        "module_counts": {k: v["total"] for k, v in result["counts"].items()},
        "module_failed": bool(result.get("failed")),
    }
    # Named by what was really there (a socket maker that falls short must not be reported as its target).
    row["what"] = "{:,} TIME_WAIT".format(row["time_wait"]) + (
        " + {:,} ESTABLISHED".format(row["established"]) if row["established"] else "")
    row["time_ratio"] = round(row["module_seconds"] / row["ss_seconds"], 2)
    row["memory_ratio"] = round(float(row["module_maxrss_kb"]) / row["ss_maxrss_kb"], 2)
    print(json.dumps(row), flush=True)
    return row


def task_step(rounds, target=100000):
    """A tcp_info task against `command: ss -tan state time-wait`, each an `ansible` run of one task on the
    container (the operator's view: controller, connection, module start included). TIME_WAIT lasts 60 s, longer
    than a round: each round makes ``target`` fresh TIME_WAIT sockets, runs the two tasks (order alternating),
    records the count each saw, and waits for them to expire. Medians."""
    fd, inv = tempfile.mkstemp(suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write("%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % NAME)
    tasks = [("tcp_info", ["-m", "kerneltune.tcp.tcp_info"]),
             ("ss", ["-m", "ansible.builtin.command", "-a", "ss -tan state time-wait"])]
    times, seen = {"tcp_info": [], "ss": []}, []
    try:
        for r in range(rounds):
            inside("python3", "/src/tests/helpers/make_sockets.py", "spread_tw", str(target), "9000")
            for name, args in (tasks if r % 2 == 0 else tasks[::-1]):
                seen.append(count("time-wait"))
                t = time.perf_counter()
                sh(["ansible", "-i", inv, NAME] + args)
                times[name].append(time.perf_counter() - t)
            for _wait in range(120):
                if count("time-wait") == 0:
                    break
                time.sleep(1)
    finally:
        os.unlink(inv)
    row = {"time_wait": min(seen), "time_wait_max": max(seen), "rounds": rounds,
           "tcp_info_task_seconds": round(statistics.median(times["tcp_info"]), 3),
           "ss_task_seconds": round(statistics.median(times["ss"]), 3), "all": times}
    row["ratio"] = round(row["tcp_info_task_seconds"] / row["ss_task_seconds"], 2)
    print(json.dumps(row), flush=True)
    return row


def task_docs(row):
    block = "\n".join([
        TASK_BEGIN, "### As Ansible tasks: tcp_info against `command: ss -tan state time-wait`", "",
        "`python benchmarks/bench_sockets.py` (or `--tasks-only`), %s: one `ansible` run of one task each on the "
        "same container, alternated, medians of %d rounds (controller, podman connection and module start "
        "included: what an operator waits for)." % (datetime.date.today().isoformat(), row["rounds"]), "",
        "| TIME_WAIT (fewest / most a task saw) | tcp_info task s | ss task s | tcp_info / ss |", "|---|---|---|---|",
        "| {:,} / {:,} | {:.3f} | {:.3f} | {:.2f}x |".format(
            row["time_wait"], row["time_wait_max"], row["tcp_info_task_seconds"], row["ss_task_seconds"],
            row["ratio"]), TASK_END])
    docsection.write_section(os.path.join(ROOT, "docs", "benchmarks.md"), TASK_BEGIN, TASK_END, block)


def docs(rows):
    lines = [BEGIN, "## tcp_info at 100,000 sockets: the whole module process against ss -tan", "",
             "`python benchmarks/bench_sockets.py` (part of `make bench`), %s, kernel %s, %s. One privileged "
             "container with `--network none`; every TIME_WAIT socket towards its own destination address, the "
             "ESTABLISHED ones held by 7 processes (50,000 connections, both ends in the namespace). Ours: the "
             "AnsiballZ payload of tcp_info as Ansible built it, run with python3 (interpreter start, unpacking "
             "and imports included). Medians of %d rounds; peak memory is ru_maxrss of each finished process."
             % (datetime.date.today().isoformat(), platform.release(), platform.node() or "this machine",
                rows[0]["rounds"]), "",
             "| sockets | tcp_info s | ss -tan s | time ratio (target <= 1.5) | tcp_info KiB | ss KiB | "
             "memory ratio (target <= 2) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %.3f | %.3f | %.2fx | %d | %d | %.2fx |" % (
            r["what"], r["module_seconds"], r["ss_seconds"], r["time_ratio"], r["module_maxrss_kb"],
            r["ss_maxrss_kb"], r["memory_ratio"]))
    lines += ["", "Reading: see the notes below the table (written by hand after each run).", END]
    block = "\n".join(lines)
    docsection.write_section(os.path.join(ROOT, "docs", "benchmarks.md"), BEGIN, END, block)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        measure(sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--tasks-only", action="store_true", help="only the tcp_info task against the ss task, "
                    "at 100,000 TIME_WAIT")
    a = ap.parse_args()
    start()
    task = None
    try:
        if a.tasks_only:
            task = task_step(a.rounds)
            rows = []
            return
        module = payload()
        inside("python3", "/src/tests/helpers/make_sockets.py", "spread_tw", "10000", "9000")
        rows = [step("10,000 TIME_WAIT", a.rounds, module)]
        inside("python3", "/src/tests/helpers/make_sockets.py", "spread_tw", "90000", "9000", "10000")
        rows.append(step("100,000 TIME_WAIT", a.rounds, module))
        inside("sh", "-c", "setsid -f python3 /src/tests/helpers/make_sockets.py spread_estab 100000 9100 "
                           "> /tmp/estab.log 2>&1; for i in $(seq 600); do grep -q spread_estab /tmp/estab.log "
                           "&& exit 0; sleep 0.1; done; exit 1")
        rows.append(step("100,000 TIME_WAIT + 100,000 ESTABLISHED", a.rounds, module))
        inside("sh", "-c", "pkill -f '[s]pread_estab'; true")
        time.sleep(61)  # the TIME_WAIT of the steps above expire: the task rounds make their own
        task = task_step(a.rounds)
    finally:
        sh(["podman", "rm", "-f", "-t", "0", NAME], check=False)
        if task is not None:
            with open(os.path.join(HERE, "results", "sockets_task.json"), "w") as f:
                json.dump(dict(task, date=datetime.datetime.now().isoformat(), kernel=platform.release()), f, indent=1)
            if not a.no_docs:
                task_docs(task)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "sockets.json"), "w") as f:
        json.dump({"date": datetime.datetime.now().isoformat(), "kernel": platform.release(), "rows": rows}, f,
                  indent=1)
    if not a.no_docs:
        docs(rows)


if __name__ == "__main__":
    main()
