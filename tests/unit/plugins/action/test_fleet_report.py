# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet_report action: report paths, and a real ansible-playbook run on the controller (local, no host)
with the installed collection: its one argument spec converts and refuses, word for word."""
import json
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.kerneltune.tcp.plugins.action import fleet_report
from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import common

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - kerneltune.tcp.fleet_report:
        kind: audit
        records: {web1: {profiles: []}}
        hosts: web1
        fail_on_drift: "false"
        report_dir: "{{ d }}/one"
      register: one
    - kerneltune.tcp.fleet_report:
        kind: audit
        hosts: [web1]
        fail_on_drift: "maybe"
        report_dir: "{{ d }}/two"
      register: two
      ignore_errors: true
    - kerneltune.tcp.fleet_report:
        kind: census
        hosts: [web1]
      register: three
      ignore_errors: true
    - kerneltune.tcp.fleet_report:
        kind: audit
        hosts: []
        report_dir: "{{ d }}/four"
      register: four
      ignore_errors: true
    - kerneltune.tcp.fleet_report:
        kind: audit
        hosts: [web1]
        fail_on: new
        report_dir: "{{ d }}/five"
      register: five
      ignore_errors: true
    - kerneltune.tcp.fleet_report:
        kind: audit
        hosts: [web1]
        colour: red
      register: six
      ignore_errors: true
    - kerneltune.tcp.fleet_report:
        kind: diagnose
        records: {web1: {failed: true, msg: "netlink refused"}}
        hosts: [web1, web2]
        report_dir: "{{ d }}/seven"
      register: seven
    - ansible.builtin.copy:
        dest: "{{ d }}/out.json"
        content: >-
          {{ {'one': one, 'two': two, 'three': three, 'four': four, 'five': five, 'six': six, 'seven': seven}
             | to_json }}
        mode: "0644"
"""


def run_play(d, play):
    """Run PLAY on the controller (local, the installed collection: KT_COLLECTIONS as in scripts/setup.sh, default
    .cache/collections) with d as its directory; its out.json."""
    collections = os.environ.get("KT_COLLECTIONS", os.path.join(ROOT, ".cache", "collections"))
    if not os.path.exists(os.path.join(collections, "ansible_collections", "kerneltune")):
        pytest.skip("collection not installed (scripts/setup.sh installs it)")
    (d / "play.yml").write_text(play)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections,
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    p = subprocess.run([playbook, "-i", "localhost,", "-c", "local", str(d / "play.yml"), "-e", "d=%s" % d,
                        "-e", "ansible_python_interpreter=%s" % sys.executable],
                       env=env, capture_output=True, text=True, cwd=str(d), check=False)
    assert p.returncode == 0, p.stdout[-3000:]
    return json.loads((d / "out.json").read_text())


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("action")
    return run_play(d, PLAY), d


def test_string_host_is_one_host_and_string_false_is_false(results):
    r, d = results
    one = r["one"]
    assert not one.get("failed")
    assert one["summary"]["failing"] == {"error": ["web1"], "unreachable": [], "not_compliant": []}
    assert one["summary"]["counts"]["hosts"] == 1
    assert one["gate_msg"] == ("audit failed: 1 of 1 hosts fail the audit: 0 not compliant, 1 with errors, 0 unreachable "
                               "(reports in %s/one)" % d)
    assert sorted(os.listdir(str(d / "one"))) == ["audit-junit.xml", "audit.html", "audit.json", "audit.md"]


def test_argument_errors_word_for_word(results):
    r, d = results
    # Ansible's own words: it lists the valid booleans after this, in set order (it varies from run to run), and
    # before 2.19 it names the type as a class and puts two spaces after the first sentence.
    assert re.match(r"argument 'fail_on_drift' is of type (str|<class 'ansible\.parsing\.yaml\.objects\."
                    r"AnsibleUnicode'>) and we were unable to convert to bool: The value 'maybe' is not a valid "
                    r"boolean\.  ?Valid booleans include: ", r["two"]["msg"]), r["two"]["msg"]
    assert r["three"]["msg"] == "value of kind must be one of: audit, diagnose, rollout, got: census"
    assert r["four"]["msg"] == "hosts: no host was targeted, so nothing was checked"
    assert r["five"]["msg"] == "fail_on: new needs a baseline (a previous audit.json)"
    assert r["six"]["msg"] == ("Unsupported parameters for (ansible_collections.kerneltune.tcp.plugins.action."
                               "fleet_report) module: colour. Supported parameters include: baseline, context, "
                               "fail_on, fail_on_drift, hosts, kind, merge, namespaces, paths, records, report_dir, rollout.")
    for k in ("two", "four", "five"):
        assert not (d / k).exists()


def test_built_collection_ships_templates_and_schema(tmp_path):
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    subprocess.run([galaxy, "collection", "build", "--output-path", str(tmp_path), ROOT], check=True,
                   capture_output=True)
    import tarfile
    (tarball,) = list(tmp_path.glob("kerneltune-tcp-*.tar.gz"))
    with tarfile.open(str(tarball)) as t:
        names = set(t.getnames())
    assert {"plugins/plugin_utils/reports/templates/audit.html.j2",
            "plugins/plugin_utils/reports/templates/diagnose.html.j2",
            "plugins/plugin_utils/reports/templates/_style.css.j2", "docs/schemas/audit.schema.json",
            "playbooks/merge_reports.yml", "plugins/plugin_utils/reports/templates/rollout.html.j2",
            "docs/schemas/rollout.schema.json", "playbooks/rollout.yml"} <= names


def test_diagnose_names_unreachable_hosts_without_making_the_task_unreachable(results):
    r, _d = results
    seven = r["seven"]
    assert seven["unreachable_hosts"] == ["web2"]
    assert "unreachable" not in seven and seven["changed"] is True and not seven.get("failed")


BASELINE_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - kerneltune.tcp.fleet_report:
        kind: audit
        records: {web1: {profiles: []}}
        hosts: [web1]
        report_dir: "{{ d }}/r"
        fail_on_drift: false
    - kerneltune.tcp.fleet_report:
        kind: audit
        records: {web1: {profiles: []}}
        hosts: [web1]
        report_dir: "{{ d }}/r"
        baseline: "{{ d }}/r/audit.json"
        fail_on: new
      register: same
      ignore_errors: true
    - ansible.builtin.copy:
        dest: "{{ d }}/afile"
        content: "a file where the JUnit report's directory should be"
        mode: "0644"
    - ansible.builtin.slurp:
        src: "{{ d }}/r/audit.json"
      register: first
    - kerneltune.tcp.fleet_report:
        kind: audit
        records: {web1: {profiles: []}}
        hosts: [web1]
        paths: {json: "{{ d }}/r/audit.json", junit: "{{ d }}/afile/junit.xml"}
        report_dir: "{{ d }}/r"
        fail_on_drift: false
      register: partial
      ignore_errors: true
    - ansible.builtin.copy:
        dest: "{{ d }}/out.json"
        content: "{{ {'same': same, 'partial': partial, 'first': first.content | b64decode} | to_json }}"
        mode: "0644"
"""


def test_baseline_that_is_this_runs_output_and_all_or_nothing_writes(tmp_path):
    r = run_play(tmp_path, BASELINE_PLAY)
    assert r["same"]["msg"] == (
        "baseline: %s/r/audit.json is the audit.json this run writes; it would be replaced by this run, and a "
        "rerun would compare with itself. Keep the previous audit under a path of its own" % tmp_path)
    assert r["partial"]["failed"] is True
    assert r["partial"]["msg"] == "could not write %s/afile: File exists" % tmp_path
    # The first run's reports are as they were: the failed run wrote none of its own, and left no temporary file.
    assert (tmp_path / "r" / "audit.json").read_text() == r["first"]
    assert not list((tmp_path / "r").glob(".kt-report-*"))


def test_report_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", "/nonexistent")
    p = fleet_report.report_paths("diagnose", None, {})
    assert p == {"json": str(tmp_path / "kerneltune-reports" / "diagnose.json"),
                 "markdown": str(tmp_path / "kerneltune-reports" / "diagnose.md"),
                 "html": str(tmp_path / "kerneltune-reports" / "diagnose.html")}
    assert fleet_report.report_paths("audit", "/r", {"junit": "j.xml"})["junit"] == str(tmp_path / "j.xml")
    with pytest.raises(common.ReportError) as e:
        fleet_report.report_paths("diagnose", None, {"junit": "x"})
    assert str(e.value) == "paths: unknown report junit for kind diagnose (known: json, markdown, html)"


def _hold(directory):
    """The report directory's lock, held as another run would hold it (flock: per open file, so this conflicts)."""
    import fcntl
    fd = os.open(str(directory), os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_runs_writing_into_one_directory_take_turns(tmp_path, monkeypatch):
    """While another run holds the directory's lock, a run waits; past LOCK_WAIT it fails naming the directory and
    writes nothing, and the other run's files stay whole. Once the lock is free it writes its whole set."""
    import threading
    import time
    d = tmp_path / "r"
    d.mkdir()
    (d / "audit.json").write_text("the other run's")
    (d / ".kt-report-staged").write_text("the other run's next report, being written")
    fd = _hold(d)
    monkeypatch.setattr(fleet_report, "LOCK_WAIT", 0.3)
    texts = {str(d / "audit.json"): "mine", str(d / "audit.md"): "mine too"}
    with pytest.raises(common.ReportError) as e:
        fleet_report._write_all(texts)
    assert str(e.value) == (
        "report_dir: %s: another run has been writing its reports there for 0.3 s (it holds the directory's lock); "
        "give concurrent runs their own report directory" % d)
    assert (d / "audit.json").read_text() == "the other run's" and not (d / "audit.md").exists()
    # The waiting run touched nothing: not even the other run's temporary file (only a lock holder removes those).
    assert sorted(p.name for p in d.iterdir()) == [".kt-report-staged", "audit.json"]
    os.unlink(str(d / ".kt-report-staged"))
    monkeypatch.setattr(fleet_report, "LOCK_WAIT", 10)
    threading.Timer(0.4, os.close, [fd]).start()
    t = time.monotonic()
    fleet_report._write_all(texts)
    assert time.monotonic() - t >= 0.3
    assert (d / "audit.json").read_text() == "mine" and (d / "audit.md").read_text() == "mine too"


def test_a_killed_runs_temporary_files_go_with_the_next_write(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / ".kt-report-abc123").write_text("half a report")
    (d / "notes.txt").write_text("not ours")
    fleet_report._write_all({str(d / "audit.json"): "{}"})
    assert sorted(p.name for p in d.iterdir()) == ["audit.json", "notes.txt"]


def test_another_users_temporary_file_in_a_shared_directory_does_not_stop_the_write(tmp_path, monkeypatch):
    """In a directory such as /tmp a killed run of another user can leave a temporary file this run may not remove:
    the reports are written all the same."""
    d = tmp_path / "shared"
    d.mkdir()
    (d / ".kt-report-theirs").write_text("another user's")
    real_unlink = os.unlink

    def unlink(path, *a, **kw):
        if os.path.basename(str(path)) == ".kt-report-theirs":
            raise PermissionError(1, "Operation not permitted", str(path))
        return real_unlink(path, *a, **kw)
    monkeypatch.setattr(fleet_report.os, "unlink", unlink)
    fleet_report._write_all({str(d / "b.json"): "{}"})
    assert sorted(p.name for p in d.iterdir()) == [".kt-report-theirs", "b.json"]


def test_one_directory_named_twice_is_locked_once(tmp_path, monkeypatch):
    """The JSON into the directory, the Markdown through a symbolic link to it: one lock, no wait on itself."""
    d = tmp_path / "r"
    d.mkdir()
    (tmp_path / "link").symlink_to(d)
    monkeypatch.setattr(fleet_report, "LOCK_WAIT", 0.2)
    fleet_report._write_all({str(d / "audit.json"): "{}", str(tmp_path / "link" / "audit.md"): "# md"})
    assert sorted(p.name for p in d.iterdir()) == ["audit.json", "audit.md"]


def test_a_directory_that_cannot_be_locked_is_written_as_before(tmp_path, monkeypatch):
    """No read permission on the directory (mode 0333), or a filesystem without flock on directories: the reports
    are written all the same, each file whole, without the lock."""
    import errno
    d = tmp_path / "r"
    d.mkdir()
    real_open = os.open

    def no_read(path, flags, *a):
        if str(path) == str(d):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a)
    monkeypatch.setattr(fleet_report.os, "open", no_read)
    fleet_report._write_all({str(d / "audit.json"): "{}"})
    monkeypatch.undo()

    def no_flock(fd, op):
        raise OSError(errno.EBADF, "Bad file descriptor")
    monkeypatch.setattr(fleet_report.fcntl, "flock", no_flock)
    fleet_report._write_all({str(d / "audit.md"): "# md"})
    assert sorted(p.name for p in d.iterdir()) == ["audit.json", "audit.md"]
