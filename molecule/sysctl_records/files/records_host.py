# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl's records on a real host (a privileged container): parallel runs, untrusted state, an earlier
release's file, an audit without root.

Runs the real module (plugins/modules/tcp_sysctl.py with ansible's module_utils, as AnsiballZ would) as whole
processes: python3 records_host.py TOP, where TOP holds ansible/module_utils and
ansible_collections/kerneltune/tcp/plugins. Prints one JSON object: checks, failures (empty when all pass),
timings.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

TOP = sys.argv[1]
STATE_DIR = "/var/lib/kerneltune"
STATE = STATE_DIR + "/tcp_sysctl.json"
LOCK = STATE_DIR + "/tcp_sysctl.lock"
HEADER = ("# Managed by Ansible (kerneltune.tcp.tcp_sysctl). Do not edit: changes here are\n"
          "# overwritten on the next run. Put local settings in a file that sorts later\n"
          "# and the audit will report it as an override.\n")
SHARED = "net.ipv4.tcp_keepalive_time"
# One key of its own per file, and SHARED in all eight (each file a value of its own).
OWN = ["net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_keepalive_intvl",
       "net.ipv4.tcp_max_syn_backlog", "net.core.somaxconn", "net.ipv4.tcp_notsent_lowat",
       "net.ipv4.tcp_syn_retries", "net.ipv4.tcp_synack_retries"]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

checks = []
failures = []
timings = {}


def check(name, ok, detail=None):
    checks.append(name)
    if not ok:
        failures.append({"check": name, "detail": detail})


def get(key):
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return " ".join(f.read().split())


def put(key, value):
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)


def start(args, prefix=()):
    """The module as its own process, as AnsiballZ runs it: its arguments in a file."""
    fd, name = tempfile.mkstemp(prefix="kt-args-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_remote_tmp="/tmp", _ansible_tmpdir=None)}, f)
    os.chmod(name, 0o644)
    env = dict(os.environ, PYTHONPATH=TOP, HOME="/tmp")
    return subprocess.Popen(list(prefix) + [sys.executable, "-m", "ansible_collections.kerneltune.tcp.plugins."
                                            "modules.tcp_sysctl", name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd="/tmp", universal_newlines=True)


def result(proc):
    out, err = proc.communicate()
    try:
        return json.loads(out)
    except ValueError:
        return {"failed": True, "msg": "no JSON: %s %s" % (out[-500:], err[-1500:])}


def module(args, prefix=()):
    return result(start(args, prefix))


def warnings(r):
    """The warnings' texts (ansible-core 2.19 returns them as structured events)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in r.get("warnings", [])]


def state():
    with open(STATE) as f:
        return json.load(f)


def parallel():
    """Eight files at once, twice: every record kept, and removing all eight gives back every value."""
    before = dict((k, get(k)) for k in OWN + [SHARED])
    paths = ["/etc/sysctl.d/8%d-kt-parallel.conf" % n for n in range(8)]
    for trial in range(2):
        t0 = time.monotonic()
        procs = [start({"path": p, "nat": "absent", "settings": {SHARED: 600 + 10 * n, OWN[n]: want(OWN[n], n)}})
                 for n, p in enumerate(paths)]
        res = [result(p) for p in procs]
        timings["parallel_present_%d" % trial] = round(time.monotonic() - t0, 2)
        check("parallel %d: eight runs succeed" % trial, all(not r.get("failed") for r in res),
              [r.get("msg") for r in res if r.get("failed")])
        files = state()["files"]
        check("parallel %d: eight files recorded" % trial, sorted(files) == paths, sorted(files))
        check("parallel %d: every file records the host's own values" % trial,
              all(files.get(p, {}).get(SHARED, {}).get("value") == before[SHARED]
                  and files.get(p, {}).get(OWN[n], {}).get("value") == before[OWN[n]] for n, p in enumerate(paths)),
              files)
        t0 = time.monotonic()
        res = [result(p) for p in [start({"path": p, "state": "absent"}) for p in paths]]
        timings["parallel_absent_%d" % trial] = round(time.monotonic() - t0, 2)
        check("parallel %d: eight removals succeed" % trial, all(not r.get("failed") for r in res),
              [r.get("msg") for r in res if r.get("failed")])
        after = dict((k, get(k)) for k in before)
        check("parallel %d: every key back to its value before kerneltune" % trial, after == before,
              {"before": before, "after": after})
        check("parallel %d: no file left, no record left" % trial,
              not any(os.path.exists(p) for p in paths) and state()["files"] == {}, state())


def want(key, n):
    return {"net.core.somaxconn": 8192, "net.ipv4.tcp_notsent_lowat": 131072,
            "net.ipv4.tcp_max_syn_backlog": 2048}.get(key, 3 + n)


HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, b"%d\\n" % os.getpid())
print("held", flush=True)
sys.stdin.read()
"""


def lock_timeout():
    """A run that finds the lock held waits lock_timeout, fails naming the holder and changes nothing."""
    path = "/etc/sysctl.d/70-kt-lock.conf"
    fin = get("net.ipv4.tcp_fin_timeout")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, LOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              universal_newlines=True)
    holder.stdout.readline()
    t0 = time.monotonic()
    r = module({"path": path, "nat": "absent", "lock_timeout": 2, "settings": {"net.ipv4.tcp_fin_timeout": 21}})
    waited = time.monotonic() - t0
    holder.communicate("")
    timings["lock_timeout_2"] = round(waited, 2)
    check("lock: the message names the holder", r.get("failed") and r.get("msg") == (
        "%s: another tcp_sysctl run (pid %d) holds the lock on the records; waited lock_timeout=2 s for it; nothing "
        "was changed" % (LOCK, holder.pid)), r.get("msg"))
    # At least lock_timeout; the upper bound leaves room for a loaded machine (load 70 seen: 7.8 s in all).
    check("lock: waited lock_timeout, not much longer", 2 <= waited < 30, waited)
    check("lock: nothing changed", r.get("changed") is False and not os.path.exists(path)
          and get("net.ipv4.tcp_fin_timeout") == fin)


def untrusted():
    """Records planted in a state directory others may write: refused; records for keys the file never set."""
    path = "/etc/sysctl.d/70-kt-trust.conf"
    redirects = "net.ipv4.conf.all.accept_redirects"
    fin = get("net.ipv4.tcp_fin_timeout")
    put(redirects, "0")
    r = module({"path": path, "nat": "absent", "settings": {"net.ipv4.tcp_fin_timeout": 25}})
    check("trust: the file is written", not r.get("failed") and get("net.ipv4.tcp_fin_timeout") == "25", r.get("msg"))
    data = state()
    data["files"][path][redirects] = {"value": "1", "recorded": "2026-12-01T00:00:00Z"}
    with open(STATE, "w") as f:
        json.dump(data, f)
    os.chmod(STATE_DIR, 0o777)
    r = module({"path": path, "state": "absent"})
    check("trust: a state directory others may write is refused", r.get("failed") and r.get("msg") == (
        "/var/lib/kerneltune: refusing the state directory: it is writable by group and others (owner uid 0, mode "
        "0777); it must be owned by uid 0, not be a symbolic link and not be writable by group or others, or "
        "another user could plant records that this module then writes to the kernel; nothing was changed"),
        r.get("msg"))
    check("trust: nothing changed", os.path.exists(path) and get(redirects) == "0"
          and get("net.ipv4.tcp_fin_timeout") == "25")
    os.chmod(STATE_DIR, 0o700)
    r = module({"path": path, "state": "absent"})
    check("trust: records for keys the file does not set are ignored, with a warning naming them",
          not r.get("failed") and warnings(r) == [
              "%s: records for keys the file does not set are ignored: %s (recorded 1); their running values are "
              "left as they are" % (path, redirects)], r)
    check("trust: accept_redirects left alone, the file's key restored",
          get(redirects) == "0" and get("net.ipv4.tcp_fin_timeout") == fin, (get(redirects), fin))
    put(redirects, "1")


def earlier_release():
    """A file an earlier release wrote (no records): the audit says so; state=present adopts its keys."""
    path = "/etc/sysctl.d/75-kt-earlier.conf"
    with open(path, "w") as f:
        f.write(HEADER + "net.ipv4.tcp_fin_timeout = 33\n")
    put("net.ipv4.tcp_fin_timeout", "33")
    args = {"path": path, "nat": "absent", "settings": {"net.ipv4.tcp_fin_timeout": 33}}
    r = module(dict(args, _ansible_check_mode=True))
    missing = [f for f in r.get("findings", []) if f["rule"] == "records_missing"]
    check("earlier: the audit names the file without records", missing == [{
        "rule": "records_missing", "severity": "info", "key": None, "message":
        "%s: a managed file with no records in %s for net.ipv4.tcp_fin_timeout (written by an earlier release, or "
        "the state file was moved away): the values before it are unknown; a run with state=present records these "
        "keys as adopted" % (path, STATE)}] and r.get("changed") is False, r)
    r = module(args)
    check("earlier: state=present adopts the keys (no other change)", r.get("changed") is False
          and state().get("adopted", {}).get(path, {}).get("net.ipv4.tcp_fin_timeout", {}).get("recorded")
          and path not in state()["files"], state())
    r = module(dict(args, _ansible_check_mode=True))
    check("earlier: the next audit has no such finding",
          [f for f in r.get("findings", []) if f["rule"] == "records_missing"] == [], r.get("findings"))


def without_root():
    """An audit as uid 65534: drift from what it reads, the state file marked once; a real run still fails."""
    path = "/etc/sysctl.d/80-kt-audit.conf"
    settings = {"net.ipv4.tcp_fin_timeout": 14, "net.core.somaxconn": 8190, "net.ipv4.tcp_keepalive_time": 601}
    r = module({"path": path, "nat": "absent", "settings": settings, "_ansible_check_mode": True}, NOBODY)
    check("nobody: check mode is not an error", not r.get("failed") and r.get("changed") is True, r.get("msg"))
    check("nobody: drift from what it can read", [e["status"] for e in r.get("settings", [])] == ["drift"] * 3,
          r.get("settings"))
    check("nobody: the state file marked once, with the path and the reason",
          [f for f in r.get("findings", []) if f["severity"] != "info" or f["rule"] != "fin_timeout_scope"] == [{
              "rule": "restore_unknown", "severity": "info", "key": None, "message":
              "%s: cannot read the state file: Permission denied; this check-mode run as uid 65534 reads the running "
              "values and the sysctl.d files but not the values recorded before the first change" % STATE}],
          r.get("findings"))
    r = module({"path": "/etc/sysctl.d/75-kt-earlier.conf", "nat": "absent", "_ansible_check_mode": True,
                "settings": {"net.ipv4.tcp_fin_timeout": 33}}, NOBODY)
    check("nobody: a profile in place is ok", not r.get("failed") and r.get("changed") is False
          and [e["status"] for e in r.get("settings", [])] == ["ok"], r)
    r = module({"path": path, "nat": "absent", "settings": settings}, NOBODY)
    check("nobody: a real run fails as before, changing nothing", r.get("failed") and r.get("msg") == (
        "%s: cannot open the lock: Permission denied; run as root (become: true); nothing was changed" % LOCK)
        and not os.path.exists(path), r.get("msg"))


def main():
    t0 = time.monotonic()
    os.makedirs(STATE_DIR, 0o700, exist_ok=True)
    for case in (parallel, lock_timeout, untrusted, earlier_release, without_root):
        try:
            case()
        except Exception as e:  # a crash is a failure with its cause, not a traceback only
            failures.append({"check": case.__name__, "detail": "%s: %s" % (type(e).__name__, e)})
    timings["total"] = round(time.monotonic() - t0, 2)
    print(json.dumps({"checks": len(checks), "failures": failures, "timings": timings}))


if __name__ == "__main__":
    main()
