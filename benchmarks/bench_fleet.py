# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet benchmark: the audit on 10 and 50 container hosts against Ansible's
own floor, side by side in one run.

  python benchmarks/bench_fleet.py [--hosts 10,50] [--forks 25] [--rounds 1] [--warmup 0] [--no-mitogen]
                                   [--only audit,floor,diagnose]

For each host count, with the same inventory and forks:
  audit    ansible-playbook kerneltune.tcp.audit (fresh hosts drift: exit 2 expected, the gate
           fails every host)
  floor    benchmarks/playbooks/fleet_floor.yml: the audit's play, ansible.builtin.ping
           in place of the audit task
  floor (gate)
           benchmarks/playbooks/fleet_floor_gate.yml: the ping, then one failing task on each host:
           Ansible's own floor for the outcome the audit of a drifting fleet has (exit 2, every host
           failed, as ansible-runner and AWX must see it)
  audit (compliant)
           the audit of a second fleet of as many hosts, configured by the web_frontend role before
           the rounds (benchmarks/playbooks/fleet_apply.yml): no drift, exit 0, no gate; its floor
           is the ping floor
  posix    ansible.posix.sysctl check-mode loop over the same profile keys
  diagnose ansible-playbook kerneltune.tcp.diagnose
and, with Mitogen installed, the audit and the floor again under the
mitogen_linear strategy (Mitogen's podman connection).

Writes benchmarks/results/fleet.json and the fleet section of
docs/benchmarks.md (between the "fleet:begin" and "fleet:end" markers).
Containers: privileged, --network none, named kt-fleet-NN (KT_FLEET_PREFIX overrides the prefix).
--before COLLECTIONS_PATH adds "audit (before)" and "diagnose (before)": the same playbooks from the collection
installed there (an earlier commit's), in the same rounds.
--host-cpus LIST (with --controller-cpus LIST) gives the hosts CPUs of their own: the containers run with
--cpuset-cpus LIST and every ansible-playbook under taskset -c on the controller's. On a fleet the modules run on
the hosts' CPUs, not the controller's; on one machine the shared layout (the default) charges each module's CPU
to the controller's wall time as well.
--only measures the named figures only (for example the audit against its floor, round after round);
a name also selects its variants: "audit" selects "audit (compliant)" and "audit (before)", "floor"
selects "floor (gate)".

Each round runs every figure once, the order rotated by one from round to round (round 1: audit, floor,
diagnose; round 2: floor, diagnose, audit; ...), so that no figure always runs first or right after the
same one. A ratio is the median of the per-round ratios (each round's figures ran minutes apart, under the
same load), beside the ratio of the medians. --warmup runs each figure that many times first, unmeasured.
CPU: user + system time of each ansible-playbook and everything it waited for (the controller's workers,
the podman clients; not the modules, which run in the containers), from getrusage(RUSAGE_CHILDREN).
"""
import argparse
import datetime
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

import bench as common  # benchmarks/bench.py: sh() and the container helpers
import docsection
sh = common.sh

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGE = os.environ.get("KT_IMAGE", "localhost/kerneltune-debian:bookworm")
PREFIX = os.environ.get("KT_FLEET_PREFIX", "kt-fleet-")  # a name of one's own when others run it too
OK_PREFIX = PREFIX + "ok-"  # the compliant fleet (stop_all removes it with the rest)
# Each ratio: a figure over the floor with the same outcome (the ping floor for a run that fails no host, the
# floor with the gate for the audit of fresh hosts, which fails every one); "audit" over "floor" is kept beside.
PAIRS = [("audit", "floor (gate)"), ("audit (compliant)", "floor"), ("audit", "floor"), ("diagnose", "floor"),
         ("audit (before)", "floor"), ("diagnose (before)", "floor")]
VARIANTS = (" (compliant)", " (before)", " (gate)")
BEGIN, END = "<!-- fleet:begin -->", "<!-- fleet:end -->"


HOST_CPUS = []  # podman run options for the hosts (--host-cpus)
CONTROLLER = []  # the prefix of every ansible-playbook (--controller-cpus)


def start(n, prefix=PREFIX):
    return common.start(n, prefix, HOST_CPUS)


def stop_all():
    common.stop_all(PREFIX)


def inventory(names, connection):
    fd, path = tempfile.mkstemp(prefix="kt-fleet-", suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write("[web_frontend]\n" + "".join(n + "\n" for n in names))
        f.write("[web_frontend:vars]\nansible_connection=%s\nansible_python_interpreter=/usr/bin/python3\n" % connection)
    return path


def mitogen_env():
    try:
        import ansible_mitogen  # noqa: F401  (only to find its strategy directory)
    except ImportError:
        return None
    env = dict(os.environ)
    env["ANSIBLE_STRATEGY_PLUGINS"] = os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy")
    env["ANSIBLE_STRATEGY"] = "mitogen_linear"
    return env


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(argv, env=None):
    """(wall seconds, exit code, output, CPU seconds of the run's process tree)."""
    c, t = _children_cpu(), time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, env=env)
    return time.perf_counter() - t, p.returncode, p.stdout, _children_cpu() - c


def recap_ok(out, names, gate=False):
    """Every host in the recap, none unreachable; none failed, or with gate (the audit of fresh hosts, which all
    drift) every host failed once: the audit's gate fails each host that is not compliant."""
    want = set(names)
    seen = {h: (int(u), int(f)) for h, u, f in
            re.findall(r"^(\S+)\s+:.*?unreachable=(\d+)\s+failed=(\d+)", out, re.M) if h in want}
    return (sorted(seen) == sorted(names) and all(u == 0 for u, _f in seen.values())
            and all(f == (1 if gate else 0) for _u, f in seen.values()))


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def selects(only, name):
    """Whether --only (a set of names, or None for all) selects the figure NAME: by its name, or a variant by
    the name it varies ("audit" selects "audit (compliant)" and "audit (before)", "floor" "floor (gate)")."""
    return not only or name in only or any(name.endswith(v) and name[:-len(v)] in only for v in VARIANTS)


def ratio_key(a, b):
    """audit_over_floor, audit_over_floor (gate), audit (compliant)_over_floor, ..."""
    return "%s_over_%s" % (a, b)


def round_ratios(figures, a, b):
    """A / B in each round where both were measured."""
    return [round(x / y, 3) for x, y in zip(figures.get(a) or [], figures.get(b) or [])]


def summarize(row):
    """Medians and ratios of one host count, from the figures measured so far. X_over_floor is the median of
    the per-round ratios (X_over_floor_rounds); X_over_floor_of_medians the ratio of the medians."""
    n, figures = row["hosts"], row["rounds"]
    med = {k: round(median(v), 3) for k, v in figures.items() if v}
    out = {"hosts": n, "forks": row["forks"], "keys": row["keys"], "seconds": med, "rounds": figures,
           "per_host": {k: round(v / n, 3) for k, v in med.items()}}
    cpu = row.get("cpu") or {}
    if any(cpu.values()):
        out["cpu_rounds"] = cpu
        out["cpu_seconds"] = {k: round(median(v), 2) for k, v in cpu.items() if v}
        order = row.get("order")
        if order:
            out["order"] = order
    for x, base in PAIRS:
        key = ratio_key(x, base)
        per_round = round_ratios(figures, x, base)
        if per_round:
            out[key + "_rounds"] = per_round
            out[key + "_of_medians"] = round(med[x] / med[base], 2)
            out[key] = round(median(per_round), 2)
        cpu_round = round_ratios(cpu, x, base)
        if cpu_round:
            out[key + "_cpu"] = round(median(cpu_round), 2)
    if "audit" in med and "floor" in med:
        if "audit (mitogen)" in med:
            out["mitogen_audit_over_stock_floor"] = round(med["audit (mitogen)"] / med["floor"], 2)
    if "audit (mitogen)" in med and "floor (mitogen)" in med:
        out["mitogen_audit_over_mitogen_floor"] = round(med["audit (mitogen)"] / med["floor (mitogen)"], 2)
    if "posix" in med and "audit" in med:
        out["posix_over_audit"] = round(med["posix"] / med["audit"], 2)
    return out


def bench(host_counts, forks, rounds, use_mitogen, progress=None, only=None, warmup=0, before=None):
    with open(os.path.join(ROOT, "roles", "web_frontend", "defaults", "main.yml")) as f:
        keys = yaml.safe_load(f)["web_frontend_settings"]
    temps = []  # every temporary file, removed however the run ends
    reports = tempfile.mkdtemp(prefix="kt-fleet-reports-")
    try:
        return _bench(host_counts, forks, rounds, use_mitogen, progress, only, warmup, before, keys, temps, reports)
    finally:
        for f in temps:
            if os.path.exists(f):
                os.unlink(f)
        shutil.rmtree(reports, ignore_errors=True)


def _bench(host_counts, forks, rounds, use_mitogen, progress, only, warmup, before, keys, temps, reports):
    fd, keyfile = tempfile.mkstemp(suffix=".json")
    temps.append(keyfile)
    with os.fdopen(fd, "w") as f:
        json.dump({"bench_keys": keys}, f)
    floor_book = os.path.join(HERE, "playbooks", "fleet_floor.yml")
    gate_book = os.path.join(HERE, "playbooks", "fleet_floor_gate.yml")
    posix_book = os.path.join(HERE, "playbooks", "posix_sysctl.yml")
    menv = mitogen_env() if use_mitogen else None
    # --before: the same playbooks from another installed collection (an older commit's), side by side.
    benv = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=before) if before else None
    rows = []

    def selected(name):
        return selects(only, name)
    for n in host_counts:
        names = start(n)
        inv = inventory(names, "containers.podman.podman")
        minv = inventory(names, "podman")  # mitogen_podman under mitogen_linear
        temps += [inv, minv]
        base = CONTROLLER + ["ansible-playbook", "--forks", str(forks)]
        ok_names, ok_inv = [], None
        if selected("audit (compliant)"):
            # The compliant fleet: as many hosts, the profile applied once before the rounds.
            ok_names = start(n, OK_PREFIX)
            ok_inv = inventory(ok_names, "containers.podman.podman")
            temps.append(ok_inv)
            dt, rc, out, _used = run(base + ["-i", ok_inv, os.path.join(HERE, "playbooks", "fleet_apply.yml")])
            if rc != 0 or not recap_ok(out, ok_names):
                raise SystemExit("applying web_frontend to the compliant fleet of %d hosts: exit %d:\n%s" % (
                    n, rc, out[-4000:]))
        figures = {"audit": [], "floor": [], "posix": [], "diagnose": []}
        if ok_inv:
            figures["audit (compliant)"] = []
        if selected("floor (gate)"):
            figures["floor (gate)"] = []
        if benv:
            figures.update({"audit (before)": [], "diagnose (before)": []})
        if menv:
            figures.update({"audit (mitogen)": [], "floor (mitogen)": []})
        cpu = dict((k, []) for k in figures)
        row = {"hosts": n, "forks": forks, "keys": len(keys), "rounds": figures, "cpu": cpu, "order": []}
        rows.append(row)
        for _round in range(-warmup, rounds):
            plan = [
                ("audit", base + ["-i", inv, "kerneltune.tcp.audit", "-e", "kt_audit_report_dir=" + reports], None, 2),
                ("floor", base + ["-i", inv, floor_book], None, 0),
                ("floor (gate)", base + ["-i", inv, gate_book], None, 2),
            ]
            if ok_inv:
                plan.append(("audit (compliant)", base + ["-i", ok_inv, "kerneltune.tcp.audit", "-e",
                                                          "kt_audit_report_dir=" + reports], None, 0))
            if menv:
                plan += [
                    ("audit (mitogen)", base + ["-i", minv, "kerneltune.tcp.audit", "-e",
                                                "kt_audit_report_dir=" + reports], menv, 2),
                    ("floor (mitogen)", base + ["-i", minv, floor_book], menv, 0),
                ]
            plan += [
                ("diagnose", base + ["-i", inv, "kerneltune.tcp.diagnose", "-e", "kt_diagnose_report_dir=" + reports],
                 None, 0),
                ("posix", base + ["-i", inv, posix_book, "--check", "-e", "@" + keyfile], None, 0),
            ]
            if benv:
                plan += [
                    ("audit (before)", base + ["-i", inv, "kerneltune.tcp.audit", "-e",
                                               "kt_audit_report_dir=" + reports], benv, 2),
                    ("diagnose (before)", base + ["-i", inv, "kerneltune.tcp.diagnose", "-e",
                                                  "kt_diagnose_report_dir=" + reports], benv, 0),
                ]
            # --only audit also runs "audit (before)" when --before is given, and "audit (compliant)".
            todo = [x for x in plan if selected(x[0])]
            if not todo:
                raise SystemExit("--only %s selects no figure of this run" % ",".join(sorted(only)))
            # Rotated by one each round: no figure always runs first, or always after the same one.
            k = _round % len(todo)
            todo = todo[k:] + todo[:k]
            if _round >= 0:
                row["order"].append([x[0] for x in todo])
            for name, argv, env, want in todo:
                dt, rc, out, used = run(argv, env)
                hosts = ok_names if name == "audit (compliant)" else names
                if rc != want or not recap_ok(out, hosts, gate=want == 2):
                    raise SystemExit("%s on %d hosts: exit %d, wanted %d:\n%s" % (name, n, rc, want, out[-4000:]))
                if name == "audit (compliant)":
                    if "audit PASS: %d of %d hosts compliant (100%%)" % (n, n) not in out:
                        raise SystemExit("%s on %d hosts: not every host compliant:\n%s" % (name, n, out[-4000:]))
                elif name.startswith("audit") and "%d of %d hosts fail the audit: %d not compliant" % (n, n, n) not in out:
                    raise SystemExit("%s on %d hosts: not every fresh host drifted:\n%s" % (name, n, out[-4000:]))
                print("%3d hosts  %-18s %7.2f s  cpu %6.2f s%s" % (n, name, dt, used, "  (warm-up)" if _round < 0 else ""),
                      flush=True)
                if _round < 0:
                    continue
                figures[name].append(round(dt, 3))
                cpu[name].append(round(used, 2))
                if progress:
                    progress(rows)
    stop_all()
    return rows


# Issues 23 and 24: the audit and the diagnosis within 1.1x of Ansible's floor. Each audit is judged against the
# floor with its outcome (PAIRS): a drifting fleet's against the ping and a failing task on each host, a compliant
# fleet's against the ping alone; the drifting audit against the ping alone is shown beside it.
TARGET = 1.1
COLS = ["audit", "floor (gate)", "audit (compliant)", "floor", "audit (mitogen)", "floor (mitogen)", "diagnose",
        "posix", "audit (before)", "diagnose (before)"]


def fmt(v, pattern):
    return "-" if v is None else pattern % v


def render(res):
    rows = res["rows"]
    cols = [c for c in COLS if any(c in r["seconds"] for r in rows)]
    pairs = [pair for pair in PAIRS[:4] if any(ratio_key(*pair) in r for r in rows)]
    out = [BEGIN, "## Fleet: the audit against Ansible's floor", "",
           "Measured %s with `%s` (%s, %s cores; %s; forks %d; %d round(s), the order rotated each round, medians; "
           "ratios are the median of the per-round ratios; podman connection; "
           "ANSIBLE_TIMEOUT=%s for every figure; %s; fresh hosts, so every audit of them finds drift and exits 2 by "
           "design%s)%s." % (
               res["date"], res["command"], res["ansible"], res.get("cores", os.cpu_count()),
               res["mitogen"] or "Mitogen not installed", rows[0]["forks"], res["rounds"], res.get("timeout", "-"),
               "the controller on CPU %s and the hosts on CPU %s" % (res["controller_cpus"], res["host_cpus"])
               if res.get("host_cpus") else "the controller and the hosts on the same CPUs",
               "; the compliant fleet's audit exits 0" if "audit (compliant)" in cols else "",
               "; PARTIAL: the run was stopped before every figure was measured" if res.get("partial") else ""),
           "",
           "Figures: **audit** `ansible-playbook kerneltune.tcp.audit` on fresh hosts (every host drifts, so the "
           "gate fails every host: exit 2); **floor (gate)** Ansible's floor for that outcome: the ping, then one "
           "`ansible.builtin.fail` task on each host (`benchmarks/playbooks/fleet_floor_gate.yml`); **audit "
           "(compliant)** the audit of as many hosts that the web_frontend role configured before the rounds (no "
           "drift, exit 0, no gate); **floor** the audit's play with `ansible.builtin.ping` in place of the audit "
           "task (`benchmarks/playbooks/fleet_floor.yml`), the floor for a run that fails no host; the audit and "
           "the floor under Mitogen's `mitogen_linear`; **diagnose** `kerneltune.tcp.diagnose`; **posix** the "
           "`ansible.posix.sysctl` check-mode loop over the same %s keys. Each audit is held against the floor "
           "with its own outcome; the drifting audit against the ping floor alone is kept beside." % rows[0]["keys"],
           "",
           "| hosts | " + " | ".join("%s (s)" % c for c in cols) + "".join(
               " | %s / %s" % pair for pair in pairs) + " | posix / audit |",
           "|---|" + "---|" * len(cols) + "---|" * (len(pairs) + 1)]
    for r in rows:
        out.append("| %d | " % r["hosts"] + " | ".join(fmt(r["seconds"].get(c), "%.2f") for c in cols) + "".join(
            " | " + fmt(r.get(ratio_key(*pair)), "%.2fx") for pair in pairs) +
            " | %s |" % fmt(r.get("posix_over_audit"), "%.2fx"))
    out += ["", "Seconds per host:", "", "| hosts | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for r in rows:
        out.append("| %d | " % r["hosts"] + " | ".join(fmt(r["per_host"].get(c), "%.3f") for c in cols) + " |")
    out += rounds_table(rows)
    out += ["", "### Reading", ""] + reading(rows) + res.get("notes", []) + ["", "### Settings that matter", ""] + SETTINGS
    out.append(END)
    return "\n".join(out) + "\n"


def rounds_table(rows):
    """Each round's figures, in the order they ran, with its ratios and the controller's CPU seconds."""
    out = []
    for r in rows:
        figures, cpu = r["rounds"], r.get("cpu_rounds") or {}
        names = [c for c in COLS if figures.get(c)]
        if max(len(figures[c]) for c in names) < 2 and not cpu:
            continue
        ratios = [pair for pair in PAIRS if r.get(ratio_key(*pair) + "_rounds")]
        out += ["", "Rounds, %d hosts (s; controller CPU s in brackets):" % r["hosts"], "",
                "| round | order | " + " | ".join(names) + "".join(" | %s / %s" % x for x in ratios) + " |",
                "|---|---|" + "---|" * (len(names) + len(ratios))]
        for i in range(max(len(figures[c]) for c in names)):
            order = r.get("order") or []
            cells = []
            for c in names:
                v = figures[c][i] if i < len(figures[c]) else None
                u = cpu.get(c, [])[i] if i < len(cpu.get(c, [])) else None
                cells.append(fmt(v, "%.2f") + ("" if u is None else " (%.1f)" % u))
            out.append("| %d | %s | " % (i + 1, ", ".join(order[i]) if i < len(order) else "-") + " | ".join(cells) +
                       "".join(" | " + fmt((r[ratio_key(*x) + "_rounds"][i:i + 1] or [None])[0], "%.2fx")
                               for x in ratios) + " |")
        out.append("| median | | " + " | ".join(
            fmt(r["seconds"].get(c), "%.2f") + ("" if c not in r.get("cpu_seconds", {}) else
                                                " (%.1f)" % r["cpu_seconds"][c]) for c in names) +
            "".join(" | " + fmt(r.get(ratio_key(*x)), "%.2fx") for x in ratios) + " |")
    return out


def reading(rows):
    out = []

    def verdict(v):
        return "within" if v <= TARGET else "NOT within"
    for r in rows:
        gate, ok = r.get(ratio_key("audit", "floor (gate)")), r.get(ratio_key("audit (compliant)", "floor"))
        if gate is not None:
            out.append("- %d hosts, a fleet that drifts (every host fails the gate): the audit took %.2fx Ansible's "
                       "floor for the same outcome, the ping and a failing task on each host (%s the %.1fx target)%s."
                       % (r["hosts"], gate, verdict(gate), TARGET,
                          "; against the ping floor alone, %.2fx" % r["audit_over_floor"]
                          if "audit_over_floor" in r else ""))
        if ok is not None:
            out.append("- %d hosts, a compliant fleet (no host fails, no gate): the audit took %.2fx the ping floor "
                       "(%s the %.1fx target)." % (r["hosts"], ok, verdict(ok), TARGET))
        if "audit_over_floor" in r and gate is None:
            out.append("- %d hosts: the audit took %.2fx the ping floor (%s the %.1fx target)." % (
                r["hosts"], r["audit_over_floor"], verdict(r["audit_over_floor"]), TARGET))
        if "diagnose_over_floor" in r:
            out.append("- %d hosts: the diagnosis took %.2fx the ping floor (%s the %.1fx target)." % (
                r["hosts"], r["diagnose_over_floor"], verdict(r["diagnose_over_floor"]), TARGET))
        if "posix_over_audit" in r:
            out.append("- %d hosts: the ansible.posix.sysctl check-mode loop took %.2fx the audit." % (
                r["hosts"], r["posix_over_audit"]))
    full = [r for r in rows if "audit" in r["per_host"] and "floor" in r["per_host"]]
    if len(full) > 1:
        a, b = full[0], full[-1]
        growth = b["per_host"]["audit"] / a["per_host"]["audit"]
        fgrowth = b["per_host"]["floor"] / a["per_host"]["floor"]
        out.append("- Time per host from %d to %d hosts: audit %.3f -> %.3f s (x%.2f), floor %.3f -> %.3f s (x%.2f). "
                   "%s" % (a["hosts"], b["hosts"], a["per_host"]["audit"], b["per_host"]["audit"], growth,
                           a["per_host"]["floor"], b["per_host"]["floor"], fgrowth,
                           "The audit's time per host does not grow with the host count." if growth <= 1.05 else
                           "Both move together: what changes is Ansible's own cost per host at this "
                           "concurrency on this machine (the floor moves the same way), not the audit's."
                           if abs(growth - fgrowth) <= 0.1 * fgrowth else
                           "The audit's time per host grows faster than the floor's."))
    for r in rows:
        if "mitogen_audit_over_stock_floor" in r:
            beats = r["mitogen_audit_over_stock_floor"] < 1
            out.append("- Mitogen, %d hosts: the audit under mitogen_linear took %.2fx stock Ansible's ping floor "
                       "(%s)%s." % (
                           r["hosts"], r["mitogen_audit_over_stock_floor"],
                           "it beats the stock floor" if beats else "it does not beat the stock floor",
                           " and %.2fx Mitogen's own ping floor" % r["mitogen_audit_over_mitogen_floor"]
                           if "mitogen_audit_over_mitogen_floor" in r else ""))
    return out


SETTINGS = [
    "- **Forks**: hosts in flight at once. Each in-flight host costs a controller worker process and, on the "
    "podman connection, a `podman exec` and a Python start in the container; on this 2-core machine all of that "
    "is CPU on the same two cores, so forks 25 is past the point where more forks help, and the floor itself "
    "is the machine's CPU. On a real controller, forks up to about the number of hosts one task can keep busy "
    "(network-bound SSH) pay off; measure with the floor playbook (`benchmarks/playbooks/fleet_floor.yml`).",
    "- **Strategy**: `linear` (the default) waits for every host at each task; the audit has one module task per "
    "host (each host's profiles resolved once, by the loop), so `free` gains little. The report play runs once on "
    "the controller and is a fixed cost (a fraction of a second for 50 hosts); then each host the gate fails on "
    "runs one `fail` task (here every host: fresh hosts drift) and a compliant host nothing.",
    "- **Pipelining** (`ansible_ssh_pipelining: true` / `pipelining = True`): on SSH it sends the module over "
    "the open connection's stdin instead of copying a file first, one SSH operation per task instead of about "
    "three; it needs sudo without `requiretty` (Debian's default). The podman connection runs `podman exec` per "
    "operation and is what these figures use; the SSH scenario runs with pipelining on.",
    "- **Mitogen** (`ANSIBLE_STRATEGY=mitogen_linear`, `ANSIBLE_STRATEGY_PLUGINS` pointing at "
    "`ansible_mitogen/plugins/strategy`): one persistent Python per host, modules run inside it, so every task "
    "after the first on a host skips the interpreter start and the module transfer. The audit is one module "
    "task per host, so it pays Mitogen's per-host bootstrap once and gains little on a single run; playbooks "
    "with many tasks per host (the profile roles, the posix loop) gain more. Mitogen takes over the "
    "connection names it knows (`ssh`, `podman`, `docker`, ...): these figures and `molecule/mitogen` use "
    "`ansible_connection=podman`, which it runs as its mitogen_podman (the scenario checks that a task's parent "
    "process is Mitogen's interpreter).",
]


def write_doc(path, section):
    docsection.write_section(path, BEGIN, END, section.rstrip("\n"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", default="10,50")
    ap.add_argument("--forks", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--before", metavar="COLLECTIONS_PATH",
                    help="also run the audit and the diagnosis from the collection installed there")
    ap.add_argument("--warmup", type=int, default=0, help="unmeasured runs of each figure before the rounds")
    ap.add_argument("--no-mitogen", action="store_true")
    ap.add_argument("--host-cpus", help="CPUs of the hosts' containers (podman --cpuset-cpus), e.g. 1")
    ap.add_argument("--controller-cpus", help="CPUs of ansible-playbook (taskset -c), e.g. 0")
    ap.add_argument("--only", help="comma-separated figures to run, e.g. floor,diagnose (default: all)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "fleet.json"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--render", metavar="JSON", help="only rewrite the doc section from a results file")
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            write_doc(a.doc, render(json.load(f)))
        return
    if bool(a.host_cpus) != bool(a.controller_cpus):
        ap.error("--host-cpus and --controller-cpus go together")
    if a.host_cpus:
        HOST_CPUS[:] = ["--cpuset-cpus", a.host_cpus]
        CONTROLLER[:] = ["taskset", "-c", a.controller_cpus]
    os.environ.setdefault("ANSIBLE_TIMEOUT", "60")
    try:
        import mitogen
        mver = "mitogen %s" % ".".join(str(x) for x in mitogen.__version__)
    except ImportError:
        mver = ""
    res = {"date": datetime.date.today().isoformat(), "command": "python benchmarks/bench_fleet.py " + " ".join(
        sys.argv[1:]), "ansible": sh(["ansible", "--version"]).stdout.splitlines()[0], "mitogen": mver,
        "cores": os.cpu_count(), "timeout": os.environ["ANSIBLE_TIMEOUT"], "rounds": a.rounds, "rows": [],
        "host_cpus": a.host_cpus, "controller_cpus": a.controller_cpus}

    def save(raw, partial):
        res["rows"] = [summarize(r) for r in raw if any(r["rounds"].values())]
        res["partial"] = partial
        if not res["rows"]:
            return
        with open(a.out, "w") as f:
            json.dump(res, f, indent=2)
        write_doc(a.doc, render(res))

    try:
        rows = bench([int(x) for x in a.hosts.split(",")], a.forks, a.rounds, not a.no_mitogen,
                     progress=lambda raw: save(raw, True), only=set(a.only.split(",")) if a.only else None,
                     warmup=a.warmup, before=a.before)
    finally:
        stop_all()
    save(rows, False)
    print(render(res))


if __name__ == "__main__":
    main()
