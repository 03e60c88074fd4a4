# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit as AWX runs it, through ansible-runner, against real hosts: two privileged podman containers reached with
the containers.podman connection, both converged with web_frontend, then r-drift's net.core.somaxconn set to 1000;
r-ghost names a container that does not exist (unreachable).

What is checked is what AWX reads: runner's stats (the job's host summary: failed and dark hosts), the set_stats
artifacts, the job events, the exit status; and, through `ansible-runner transmit | worker | process` with private
data dirs of their own (AWX's remote execution path), which reports come back from the worker and which stay.

Containers are named KT_TEST_CONTAINER_PREFIX (default kt-runner-) + ok/drift, and removed at the end.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
BIN = os.path.dirname(sys.executable)
IMAGE = os.environ.get("KT_IMAGE", "localhost/kerneltune-debian:bookworm")
PREFIX = os.environ.get("KT_TEST_CONTAINER_PREFIX", "kt-runner-")
CONN = "ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3"
INVENTORY = """[web_frontend]
r-ok ansible_host={p}ok {c}
r-drift ansible_host={p}drift {c}
r-ghost ansible_host={p}ghost {c}
""".format(p=PREFIX, c=CONN)
DRIFT = "runtime drift web_frontend net.core.somaxconn: 1000 -> 8192 (bound >= 8192)"


def _env():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, PATH=BIN + os.pathsep + os.environ["PATH"],
               ANSIBLE_LOCALHOST_WARNING="false", NO_COLOR="1")
    conf = os.path.expanduser("~/.cache/kerneltune/containers.conf")
    if "CONTAINERS_CONF" not in env and os.path.exists(conf):
        env["CONTAINERS_CONF"] = conf  # written by scripts/podman-env.sh where podman's defaults fail
    return env


def _sh(argv, **kw):
    return subprocess.run(argv, env=_env(), capture_output=True, text=True, check=False, timeout=600, **kw)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if not os.path.exists(os.path.join(COLLECTIONS, "ansible_collections", "kerneltune")):
        pytest.skip("collection not installed (scripts/setup.sh installs it)")
    if shutil.which("podman") is None or _sh(["podman", "image", "exists", IMAGE]).returncode != 0:
        pytest.skip("podman or the test image %s is missing (scripts/build-image.sh builds it)" % IMAGE)
    names = [PREFIX + "ok", PREFIX + "drift"]
    _sh(["podman", "rm", "-f", "-t", "0"] + names)
    try:
        for name in names:
            p = _sh(["podman", "run", "-d", "--name", name, "--privileged", "--network", "none", IMAGE,
                     "/bin/sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"])
            assert p.returncode == 0, p.stderr
        d = tmp_path_factory.mktemp("fleet")
        (d / "inv.ini").write_text(INVENTORY)
        (d / "converge.yml").write_text("- hosts: r-ok,r-drift\n  gather_facts: false\n  roles:\n"
                                        "    - kerneltune.tcp.web_frontend\n")
        p = _sh([os.path.join(BIN, "ansible-playbook"), "-i", str(d / "inv.ini"), str(d / "converge.yml")])
        assert p.returncode == 0, p.stdout[-3000:]
        p = _sh(["podman", "exec", PREFIX + "drift", "sysctl", "-w", "net.core.somaxconn=1000"])
        assert p.returncode == 0, p.stderr
        yield d
    finally:
        _sh(["podman", "rm", "-f", "-t", "0"] + names)


def _events(artifacts):
    d = os.path.join(artifacts, "job_events")
    out = [json.load(open(os.path.join(d, f))) for f in os.listdir(d)]
    return sorted(out, key=lambda e: e["counter"])


def _stats(events):
    [stats] = [e["event_data"] for e in events if e["event"] == "playbook_on_stats"]
    return stats


def _run(pdd, reports, **kw):
    """ansible_runner.run of the audit, as an AWX job runs it (private data dir, inventory, extra variables)."""
    import ansible_runner
    pdd.mkdir()
    return ansible_runner.run(private_data_dir=str(pdd), playbook="kerneltune.tcp.audit", inventory=INVENTORY,
                              envvars={"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "PATH": _env()["PATH"]},
                              extravars={"kt_audit_report_dir": str(reports)}, quiet=True, **kw)


def test_runner_names_the_failed_and_the_unreachable_hosts(fleet, tmp_path):
    reports = tmp_path / "reports"
    r = _run(tmp_path / "job", reports)
    assert (r.rc, r.status) == (2, "failed")
    # The job's host summary: each non-compliant host failed (once), the unreachable one also dark; r-ok is neither,
    # so AWX's "relaunch on failed hosts" (--limit r-drift,r-ghost) audits the hosts that are not compliant.
    assert r.stats["failures"] == {"r-drift": 1, "r-ghost": 1}
    assert r.stats["dark"] == {"r-ghost": 1}
    events = _events(os.path.join(str(tmp_path / "job"), "artifacts", r.config.ident))
    gate = ("audit failed: 2 of 3 hosts fail the audit: 1 not compliant, 0 with errors, 1 unreachable (reports in %s)"
            % reports)
    failed = {e["event_data"]["host"]: e["event_data"]["res"]["msg"] for e in events if e["event"] == "runner_on_failed"
              and not e["event_data"].get("ignore_errors")}
    assert failed == {"r-drift": "%s; r-drift: %s" % (gate, DRIFT),
                      "r-ghost": "%s; r-ghost: unreachable: %s" % (gate, failed["r-ghost"].split("unreachable: ", 1)[1])}
    # The reports are written before any host fails.
    written = [e["counter"] for e in events if e["event"] == "runner_on_ok"
               and e["event_data"]["task"] == "Write the reports"]
    assert written and written[0] < min(e["counter"] for e in events if e["event"] == "runner_on_failed"
                                        and not e["event_data"].get("ignore_errors"))
    assert sorted(os.listdir(str(reports))) == ["audit-junit.xml", "audit.html", "audit.json", "audit.md"]
    # What AWX keeps of the verdict: the set_stats artifact, with one short entry per host.
    art = _stats(events)["artifact_data"]["kt_audit"]
    assert art["passed"] is False and art["report_dir"] == str(reports)
    assert art["counts"] == {"hosts": 3, "error": 0, "unreachable": 1, "not_compliant": 1, "compliant": 1}
    assert art["context"]["pattern"] == "all" and art["context"]["profiles"] == ["web_frontend"]
    assert art["hosts"]["r-ok"] == {"status": "compliant", "fails_gate": False, "keys": [], "reason": "compliant",
                                    "notes": []}
    assert art["hosts"]["r-drift"] == {"status": "not_compliant", "fails_gate": True, "keys": ["net.core.somaxconn"],
                                       "reason": DRIFT, "notes": []}
    assert art["hosts"]["r-ghost"]["status"] == "unreachable"
    # The CI log: plain text, no Markdown escapes.
    [summary] = [e["event_data"]["res"]["msg"] for e in events if e["event"] == "runner_on_ok"
                 and e["event_data"]["task"] == "Summary"]
    assert summary[0] == "audit FAIL: 1 of 3 hosts compliant (33.3%): 1 not compliant, 0 with errors, 1 unreachable."
    assert summary[1] == ("Of the 1 not compliant hosts: 1 with runtime drift, 0 with boot-time drift, 0 with a key "
                          "overridden by a later file (a host can have more than one).")
    assert summary[2] == "r-drift: not compliant: " + DRIFT
    assert summary[-1] == "reports in %s" % reports
    assert "\\" not in "".join(summary) and "<br>" not in "".join(summary)


def test_what_comes_back_through_transmit_worker_process(fleet, tmp_path):
    """AWX's remote path: the job is transmitted to a worker (its own private data dir, as an execution node's), and
    what the worker streams back is processed in a third. The worker's artifact directory of the job
    (AWX_ISOLATED_DATA_DIR) comes back; anything else on the worker, such as <private data dir>/artifacts/x, stays."""
    job, worker, back = tmp_path / "job", tmp_path / "worker", tmp_path / "back"
    for d in (job / "inventory", job / "env", worker, back):
        d.mkdir(parents=True)
    (job / "inventory" / "hosts").write_text(INVENTORY)
    (job / "env" / "envvars").write_text(json.dumps({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "PATH": _env()["PATH"]}))
    (job / "env" / "extravars").write_text(json.dumps({
        "kt_audit_report_dir": "{{ lookup('ansible.builtin.env', 'AWX_ISOLATED_DATA_DIR') }}/kerneltune-reports",
        "kt_audit_json": "{{ lookup('ansible.builtin.env', 'AWX_ISOLATED_DATA_DIR') }}/../kerneltune-reports/audit.json"}))
    runner = os.path.join(BIN, "ansible-runner")
    p = _sh(["bash", "-c", "set -o pipefail; %s transmit %s -p kerneltune.tcp.audit --ident job1 | "
             "%s worker --private-data-dir %s | %s process %s --ident job1" % (
                 runner, job, runner, worker, runner, back)])
    # ansible-runner process exits with the job's status.
    assert p.returncode == 2, p.stderr[-3000:] + p.stdout[-3000:]
    arts = back / "artifacts" / "job1"
    assert (arts / "rc").read_text() == "2" and (arts / "status").read_text() == "failed"
    events = _events(str(arts))
    stats = _stats(events)
    assert stats["failures"] == {"r-drift": 1, "r-ghost": 1} and stats["dark"] == {"r-ghost": 1}
    assert stats["artifact_data"]["kt_audit"]["hosts"]["r-drift"]["reason"] == DRIFT
    # The reports written into the job's artifact directory came back; the one written beside it did not.
    assert sorted(os.listdir(str(arts / "kerneltune-reports"))) == ["audit-junit.xml", "audit.html", "audit.md"]
    assert not (back / "artifacts" / "kerneltune-reports").exists()
    assert (worker / "artifacts" / "kerneltune-reports" / "audit.json").is_file()
