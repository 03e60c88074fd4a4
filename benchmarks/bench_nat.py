# SPDX-License-Identifier: GPL-3.0-or-later
"""NAT detection at Kubernetes scale: tcp_info and an audit-style tcp_sysctl check, with and without 20,000 DNAT
rules (kube-proxy's iptables mode), the whole module process.

  python benchmarks/bench_nat.py [--rounds N] [--rules N] [--before DIR] [--no-docs]

In one privileged container with --network none (its own network namespace: the host's firewall is never
touched): the AnsiballZ payloads of tcp_info and of tcp_sysctl in check mode (15 keys of the reverse_proxy
profile, no tcp_tw_recycle: an audit) as Ansible builds them (ANSIBLE_KEEP_REMOTE_FILES), run with python3, first
on an empty ruleset, then after `iptables-restore` loads N DNAT rules in the nat table (iptables-nft on bookworm, so
nft lists them too). Measured: CPU time of the module process and everything it runs (getrusage RUSAGE_CHILDREN of
the measuring parent: user + system), wall time, and the size of the module's output. Target: with the rules
within 1.1x of without them. --before DIR (a checkout of an earlier commit) measures that code the same way, side
by side.

Writes benchmarks/results/nat.json and the "NAT detection at 20,000 rules" section of docs/benchmarks.md (between
its markers). The container is named $KT_BENCH_NAME (default kt-bench-nat).

Inside the container the same file measures: `bench_nat.py measure ARGV...` prints JSON {cpu, seconds,
out_bytes, nat_evidence}.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import docsection  # benchmarks/docsection.py: the generated sections of docs/benchmarks.md

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGE = os.environ.get("KT_IMAGE", "localhost/kerneltune-debian:bookworm")
NAME = os.environ.get("KT_BENCH_NAME", "kt-bench-nat")
BEGIN = "<!-- bench_nat: begin -->"
END = "<!-- bench_nat: end -->"
AUDIT_KEYS = {
    "net.core.somaxconn": 8192, "net.ipv4.tcp_max_syn_backlog": 8192, "net.ipv4.tcp_fin_timeout": 15,
    "net.ipv4.tcp_tw_reuse": 1, "net.ipv4.tcp_keepalive_time": 600, "net.ipv4.tcp_keepalive_intvl": 30,
    "net.ipv4.tcp_keepalive_probes": 5, "net.ipv4.tcp_syncookies": 1, "net.ipv4.tcp_slow_start_after_idle": 0,
    "net.ipv4.tcp_notsent_lowat": 131072, "net.ipv4.tcp_mtu_probing": 1, "net.ipv4.tcp_rfc1337": 1,
    "net.ipv4.tcp_max_tw_buckets": 262144, "net.ipv4.ip_local_port_range": "10240 65535",
    "net.ipv4.tcp_timestamps": 1,
}


def measure(argv):
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    dt = time.perf_counter() - t
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        nat = json.loads(p.stdout.decode()).get("nat") or {}
    except ValueError:
        nat = {}
    print(json.dumps({"cpu": ru.ru_utime + ru.ru_stime, "seconds": dt, "out_bytes": len(p.stdout),
                      "nat_evidence": len(nat.get("evidence") or []), "nat_detected": nat.get("detected"),
                      "rc": p.returncode}))


def sh(argv, check=True, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False, **kw)
    if check and p.returncode:
        raise SystemExit("%s failed (%d):\n%s\n%s" % (" ".join(argv), p.returncode, p.stdout[-2000:],
                                                      p.stderr[-2000:]))
    return p


def inside(*argv, **kw):
    return sh(["podman", "exec", NAME] + list(argv), **kw)


def collections_dir(src):
    """An ANSIBLE_COLLECTIONS_PATH whose kerneltune.tcp is the checkout SRC."""
    base = tempfile.mkdtemp(prefix="kt-bench-nat-")
    os.makedirs(os.path.join(base, "ansible_collections", "kerneltune"))
    os.symlink(src, os.path.join(base, "ansible_collections", "kerneltune", "tcp"))
    return base


def payload(src, module, args, label, check=False):
    """Build MODULE's AnsiballZ payload from checkout SRC with Ansible itself; keep it as /root/LABEL.py."""
    fd, inv = tempfile.mkstemp(suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write("%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % NAME)
    colls = collections_dir(src)
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0", ANSIBLE_REMOTE_TMP="/root/kt-tmp",
               ANSIBLE_COLLECTIONS_PATH=colls)
    inside("rm", "-rf", "/root/kt-tmp")
    sh(["ansible", "-i", inv, NAME, "-m", "kerneltune.tcp." + module] + (["-a", json.dumps(args)] if args else [])
       + (["--check"] if check else []), env=env, check=False)
    os.unlink(inv)
    shutil.rmtree(colls)
    path = inside("sh", "-c", "ls -t /root/kt-tmp/*/AnsiballZ_%s.py | head -1" % module).stdout.strip()
    if not path:
        raise SystemExit("no AnsiballZ_%s.py kept in the container" % module)
    inside("cp", path, "/root/%s.py" % label)
    return "/root/%s.py" % label


def start():
    sh(["podman", "rm", "-f", "-t", "0", NAME], check=False)
    sh(["podman", "run", "-d", "--name", NAME, "--privileged", "--network", "none", "-v", "%s:/src:ro" % ROOT,
        IMAGE, "/bin/sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"])


def load_rules(n):
    """N DNAT rules in the nat table, kube-proxy style (one per service endpoint), through iptables-restore."""
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":KUBE-SERVICES - [0:0]",
             "-A PREROUTING -j KUBE-SERVICES", "-A OUTPUT -j KUBE-SERVICES"]
    for i in range(n):
        lines.append("-A KUBE-SERVICES -d 10.96.%d.%d/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination "
                     "10.244.%d.%d:8080" % (i // 250, i % 250, i // 250, i % 250))
    lines.append("COMMIT")
    fd, path = tempfile.mkstemp(suffix=".v4")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    sh(["podman", "cp", path, "%s:/root/rules.v4" % NAME])
    os.unlink(path)
    inside("sh", "-c", "iptables-restore < /root/rules.v4")
    got = inside("sh", "-c", "iptables-save -t nat | grep -c -- '-j DNAT'").stdout.strip()
    if int(got) != n:
        raise SystemExit("loaded %s DNAT rules, wanted %d" % (got, n))


def run_round(modules):
    out = {}
    for label, path in modules.items():
        p = inside("python3", "/src/benchmarks/bench_nat.py", "measure", "python3", path)
        out[label] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def median(xs):
    return statistics.median(xs)


def summarize(rounds_without, rounds_with, labels):
    rows = []
    for label in labels:
        a = [r[label] for r in rounds_without]
        b = [r[label] for r in rounds_with]
        row = {"what": label, "cpu_without": median([x["cpu"] for x in a]), "cpu_with": median([x["cpu"] for x in b]),
               "seconds_without": median([x["seconds"] for x in a]), "seconds_with": median([x["seconds"] for x in b]),
               "bytes_without": max(x["out_bytes"] for x in a), "bytes_with": max(x["out_bytes"] for x in b),
               "evidence_with": max(x["nat_evidence"] for x in b), "detected_with": b[-1]["nat_detected"],
               "rc": sorted(set(x["rc"] for x in a + b))}
        row["cpu_ratio"] = round(row["cpu_with"] / row["cpu_without"], 2) if row["cpu_without"] else None
        rows.append(row)
    return rows


def docs(rows, rounds, n):
    lines = [BEGIN, "## NAT detection at %s rules: tcp_info and a tcp_sysctl audit, with and without" % format(n, ","),
             "", "`python benchmarks/bench_nat.py --before <checkout>` (by hand), %s, kernel %s. One privileged "
             "container with `--network none`; %s DNAT rules loaded with iptables-restore (iptables-nft, so nft "
             "lists them too). Each module's AnsiballZ payload as Ansible built it, run with python3; CPU is user + "
             "system time of the module process and every command it runs (getrusage RUSAGE_CHILDREN). Medians of "
             "%d rounds. Target: with the rules within 1.1x of without." % (
                 datetime.date.today().isoformat(), platform.release(), format(n, ","), rounds), "",
             "| module (code) | CPU s without | CPU s with | CPU ratio | wall s without | wall s with | output bytes "
             "without / with | NAT evidence strings |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %.3f | %.3f | %.2fx | %.3f | %.3f | %d / %d | %d |" % (
            r["what"], r["cpu_without"], r["cpu_with"], r["cpu_ratio"] or 0, r["seconds_without"],
            r["seconds_with"], r["bytes_without"], r["bytes_with"], r["evidence_with"]))
    lines += ["", "Reading: see the notes below the table (written by hand after each run).", END]
    block = "\n".join(lines)
    docsection.write_section(os.path.join(ROOT, "docs", "benchmarks.md"), BEGIN, END, block)


def build(before):
    modules = {}
    for code, src in (("after", ROOT), ("before", before)):
        if not src:
            continue
        modules["tcp_info (%s)" % code] = payload(src, "tcp_info", {}, "info_" + code)
        modules["tcp_sysctl audit, check mode (%s)" % code] = payload(
            src, "tcp_sysctl", {"settings": AUDIT_KEYS, "path": "/etc/sysctl.d/80-kt-bench.conf"}, "audit_" + code,
            check=True)
    return modules


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        measure(sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rules", type=int, default=20000)
    ap.add_argument("--before", help="a checkout of an earlier commit, measured side by side")
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    start()
    try:
        modules = build(a.before and os.path.abspath(a.before))
        without = [run_round(modules) for _round in range(a.rounds)]
        load_rules(a.rules)
        with_rules = [run_round(modules) for _round in range(a.rounds)]
    finally:
        sh(["podman", "rm", "-f", "-t", "0", NAME], check=False)
    rows = summarize(without, with_rules, list(modules))
    for r in rows:
        print(json.dumps(r), flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "nat.json"), "w") as f:
        json.dump({"date": datetime.datetime.now().isoformat(), "kernel": platform.release(), "rules": a.rules,
                   "rounds": a.rounds, "rows": rows}, f, indent=1)
    if not a.no_docs:
        docs(rows, a.rounds, a.rules)


if __name__ == "__main__":
    main()
