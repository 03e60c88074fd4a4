# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's and the diagnosis's guard through real ansible-playbook runs on the controller: a host pattern
that matches nothing within --limit fails the run before any host is contacted (the hosts here could not be
reached anyway), and --tags cannot skip the guard."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

INVENTORY = """
[web_frontend]
web1 ansible_host=127.0.0.254 ansible_port=1 ansible_connection=ssh
[db]
db1 ansible_host=127.0.0.254 ansible_port=1 ansible_connection=ssh
"""


def play(tmp_path, *args):
    if not os.path.exists(os.path.join(ROOT, ".cache", "collections", "ansible_collections", "kerneltune")):
        pytest.skip("collection not installed (scripts/setup.sh installs it)")
    (tmp_path / "inv.ini").write_text(INVENTORY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"), NO_COLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="false")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return subprocess.run([playbook, "-i", str(tmp_path / "inv.ini")] + list(args)
                          + ["-e", "ansible_python_interpreter=%s" % sys.executable],
                          env=env, capture_output=True, text=True, cwd=str(tmp_path), check=False, timeout=300)


@pytest.mark.parametrize("book,var,verb", [("kerneltune.tcp.audit", "kt_audit_hosts", "audited"),
                                           ("kerneltune.tcp.diagnose", "kt_diagnose_hosts", "diagnosed")])
@pytest.mark.parametrize("extra", [[], ["--tags", "unrelated"]])
def test_pattern_outside_the_limit_fails(tmp_path, book, var, verb, extra):
    p = play(tmp_path, book, "-e", "%s=web_frontend" % var, "-l", "db1", *extra)
    assert p.returncode == 2, p.stdout[-2000:]
    assert ("%s: the host pattern 'web_frontend' matches no host in the inventory within --limit db1, so nothing "
            "would be %s" % (var, verb)) in p.stdout + p.stderr
    assert not (tmp_path / "kerneltune-reports").exists()


def test_tags_do_not_skip_the_report_or_the_gate(tmp_path):
    p = play(tmp_path, "kerneltune.tcp.audit", "--tags", "unrelated", "-e", "kt_audit_hosts=web_frontend")
    assert p.returncode == 2, p.stdout[-2000:]
    assert ("audit failed: 1 of 1 hosts are not compliant (reports in %s/kerneltune-reports)" % tmp_path
            in p.stdout + p.stderr)
    assert sorted(os.listdir(str(tmp_path / "kerneltune-reports"))) == [
        "audit-junit.xml", "audit.html", "audit.json", "audit.md"]
