# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's, the diagnosis's and the rollout's guards through real ansible-playbook runs on the controller: a host pattern
that matches nothing within --limit fails the run before any host is contacted (the hosts here could not be
reached anyway), and --tags cannot skip the guard."""
import json
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
    assert ("audit failed: 1 of 1 hosts fail the audit: 0 not compliant, 0 with errors, 1 unreachable "
            "(reports in %s/kerneltune-reports)" % tmp_path
            in p.stdout + p.stderr)
    assert sorted(os.listdir(str(tmp_path / "kerneltune-reports"))) == [
        "audit-junit.xml", "audit.html", "audit.json", "audit.md"]


@pytest.mark.parametrize("extra", [[], ["--tags", "unrelated"]])
def test_rollout_without_a_profile_fails_before_anything_runs(tmp_path, extra):
    p = play(tmp_path, "kerneltune.tcp.rollout", *extra)
    assert p.returncode == 2, p.stdout[-2000:]
    assert ("kt_rollout_profile: required: name the one profile to roll out (web_frontend, high_outbound_client, "
            "reverse_proxy or kt_sysctl)") in p.stdout + p.stderr
    assert "Roll out the profile, batch by batch" not in p.stdout
    assert not (tmp_path / "kerneltune-reports").exists()


def test_rollout_of_an_unknown_profile_fails(tmp_path):
    p = play(tmp_path, "kerneltune.tcp.rollout", "-e", "kt_rollout_profile=web_frontent")
    assert p.returncode == 2, p.stdout[-2000:]
    assert ("kt_rollout_profile: 'web_frontent' is not a profile; name one of web_frontend, high_outbound_client, "
            "reverse_proxy or kt_sysctl") in p.stdout + p.stderr
    assert not (tmp_path / "kerneltune-reports").exists()


@pytest.mark.parametrize("limit,within", [([], ""), (["-l", "db1"], " within --limit db1")])
def test_rollout_to_an_empty_pattern_fails(tmp_path, limit, within):
    p = play(tmp_path, "kerneltune.tcp.rollout", "-e", "kt_rollout_profile=web_frontend",
             "-e", "kt_rollout_hosts=%s" % ("typo_group" if not limit else "web_frontend"), *limit)
    assert p.returncode == 2, p.stdout[-2000:]
    assert ("kt_rollout_hosts: the host pattern '%s' matches no host in the inventory%s, so nothing would be "
            "rolled out" % ("typo_group" if not limit else "web_frontend", within)) in p.stdout + p.stderr
    assert not (tmp_path / "kerneltune-reports").exists()


def test_rollout_with_a_bad_threshold_fails(tmp_path):
    p = play(tmp_path, "kerneltune.tcp.rollout", "-e", "kt_rollout_profile=web_frontend",
             "-e", "kt_rollout_max_fail_percentage=half")
    assert p.returncode == 2, p.stdout[-2000:]
    assert "kt_rollout_max_fail_percentage: 'half' is not a number from 0 to 100" in p.stdout + p.stderr


def test_rollout_to_unreachable_hosts_stops_at_the_canary_and_reports(tmp_path):
    """The canary (web1) cannot be reached: the rollout halts at batch 1, db1 is contacted only to read its journal
    (before batch 1, read only), the reports are written and the gate fails."""
    p = play(tmp_path, "kerneltune.tcp.rollout", "-e", "kt_rollout_profile=kt_sysctl", "-e", "kt_rollout_settle_seconds=0",
             "--tags", "unrelated")
    assert p.returncode == 2, p.stdout[-3000:]
    d = tmp_path / "kerneltune-reports"
    assert sorted(os.listdir(str(d))) == ["rollout-junit.xml", "rollout.html", "rollout.json", "rollout.md"]
    data = json.loads((d / "rollout.json").read_text())
    by = {h["host"]: h for h in data["hosts"]}
    assert by["web1"]["status"] == "unreachable" and by["web1"]["batch"] == 1
    assert by["db1"]["status"] == "not_touched" and by["db1"]["batch"] == 2
    assert data["halted"] is True and data["halted_at_batch"] == 1
    assert data["halt_reason"] == ("1 of 1 hosts of batch 1 failed (web1: unreachable), more than "
                                   "kt_rollout_max_fail_percentage (0%)")
    assert ("rollout halted at batch 1: 1 of 1 hosts of batch 1 failed (web1: unreachable), more than "
            "kt_rollout_max_fail_percentage (0%%); unreachable: web1; not touched: db1 (reports in %s)" % d
            in p.stdout + p.stderr)
    # db1's only trace in the run: the journal read before batch 1 (recovering an interrupted run); no task of the
    # batches connected to it.
    task, reached = None, []
    for line in p.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):line.index("]")]
        elif "[db1]" in line and "UNREACHABLE" in line:
            reached.append(task)
    assert reached == ["Read the host's rollout journal"]


@pytest.mark.parametrize("limit", [["--limit", "web1"], ["--limit", "@LIMITFILE"]])
def test_rollout_under_a_limit_still_reports_and_fails(tmp_path, limit):
    """--limit leaves localhost out (and an @retry file is no pattern the inventory lookup reads): the report play
    and the gate must still run."""
    (tmp_path / "limit.txt").write_text("web1\n")
    limit = [a.replace("@LIMITFILE", "@" + str(tmp_path / "limit.txt")) for a in limit]
    p = play(tmp_path, "kerneltune.tcp.rollout", "-e", "kt_rollout_profile=kt_sysctl", "-e", "kt_rollout_settle_seconds=0",
             *limit)
    assert p.returncode == 2, p.stdout[-3000:]
    data = json.loads((tmp_path / "kerneltune-reports" / "rollout.json").read_text())
    assert [(h["host"], h["status"]) for h in data["hosts"]] == [("web1", "unreachable")]
    assert "rollout halted at batch 1: 1 of 1 hosts of batch 1 failed (web1: unreachable)" in p.stdout + p.stderr


@pytest.mark.parametrize("extra, message", [
    (["-e", "kt_rollout_batches=[2,4]"],
     "kt_rollout_batches: \"[2,4]\" is not a batch size or a list of them (positive numbers of hosts, or whole "
     "percentages such as \"10%\"); give a list as JSON, for example -e '{\"kt_rollout_batches\": [1, \"10%\", "
     "\"100%\"]}'"),
    (["-e", '{"kt_rollout_batches": [1, 0]}'],
     "kt_rollout_batches: [1, 0] is not a batch size or a list of them (positive numbers of hosts, or whole "
     "percentages such as \"10%\"); give a list as JSON, for example -e '{\"kt_rollout_batches\": [1, \"10%\", "
     "\"100%\"]}'"),
    (["-e", '{"kt_rollout_batches": [1, "25.5%"]}'],
     "kt_rollout_batches: [1, \"25.5%\"] is not a batch size or a list of them (positive numbers of hosts, or whole "
     "percentages such as \"10%\"); give a list as JSON, for example -e '{\"kt_rollout_batches\": [1, \"10%\", "
     "\"100%\"]}'"),
    (["-e", '{"kt_rollout_health_status": []}'],
     "kt_rollout_health_status: [] is not a list of HTTP status codes (100-599), one code, or codes separated by "
     "commas"),
    (["-e", '{"kt_rollout_health_status": [200, "ok"]}'],
     "kt_rollout_health_status: [200, \"ok\"] is not a list of HTTP status codes (100-599), one code, or codes "
     "separated by commas"),
    (["-e", "kt_rollout_health_command='test -f /etc/hostname && echo ok'"],
     "kt_rollout_health_command: 'test -f /etc/hostname && echo ok' has shell syntax (| & ; < > $ ` or a "
     "redirection), but the command runs without a shell, so it would not mean what it says; give a script, or an "
     "argv list such as [\"sh\", \"-c\", \"...\"]"),
])
def test_rollout_bad_batches_status_or_command_fail_before_anything_runs(tmp_path, extra, message):
    p = play(tmp_path, "kerneltune.tcp.rollout", "-e", "kt_rollout_profile=kt_sysctl", *extra)
    assert p.returncode == 2, p.stdout[-3000:]
    # ansible-core 2.17 and 2.18 print the result as JSON (quotes escaped), 2.19 as text.
    assert message in " ".join((p.stdout + p.stderr).replace('\\"', '"').split())
    assert "UNREACHABLE" not in p.stdout and not (tmp_path / "kerneltune-reports").exists()


@pytest.mark.parametrize("extra", [{"kt_rollout_health_status": "200"}, {"kt_rollout_health_status": "200,204"},
                                   {"kt_rollout_health_status": 200}, {"kt_rollout_health_status": [200, 301]},
                                   {"kt_rollout_batches": "100%"}, {"kt_rollout_batches": 5}])
def test_rollout_health_status_and_batch_forms_are_accepted(tmp_path, extra):
    p = play(tmp_path, "kerneltune.tcp.rollout", "-e", "kt_rollout_profile=kt_sysctl", "-e", "kt_rollout_settle_seconds=0",
             "-e", json.dumps(extra), "--limit", "web1")
    assert p.returncode == 2 and "is not a" not in p.stdout, p.stdout[-3000:]
    assert (tmp_path / "kerneltune-reports" / "rollout.json").exists()


def test_rollout_error_on_the_canary_halts_and_is_reported(tmp_path):
    """A task of the rollout fails on the canary (here the profile's settings are not a dict, so the change cannot
    even be templated): the host is rescued and reported as an error, and the error halts the rollout, so the next
    batch is not touched. Check mode on this machine (local connection) reads only."""
    (tmp_path / "local.ini").write_text("[fleet]\ncanary ansible_connection=local\nweb2 ansible_host=127.0.0.254 "
                                        "ansible_port=1 ansible_connection=ssh\n")
    p = play(tmp_path, "-i", str(tmp_path / "local.ini"), "kerneltune.tcp.rollout", "--check",
             "-e", "kt_rollout_profile=kt_sysctl", "-e", "kt_sysctl_settings=notadict",
             "-e", '{"kt_rollout_batches": [1, 1], "kt_rollout_hosts": "fleet"}')
    assert p.returncode == 2, p.stdout[-3000:]
    data = json.loads((tmp_path / "kerneltune-reports" / "rollout.json").read_text())
    by = {h["host"]: h for h in data["hosts"]}
    assert (by["canary"]["status"], by["web2"]["status"]) == ("error", "not_touched")
    # The first task that templates the profile fails; ansible-core words the wrapping differently by release.
    [err] = by["canary"]["errors"]
    assert err.startswith("the rollout's tasks failed on this host (Keep the profile's file as it is before the "
                          "change (an earlier version is put back on restore): ")
    assert "kt_sysctl_settings: must be a dict of sysctl key: value, got str 'notadict'" in err
    assert err.endswith("); nothing had been changed")
    assert data["halted"] is True and data["halted_at_batch"] == 1


KNOWN = "web_frontend, high_outbound_client, reverse_proxy and kt_sysctl"


@pytest.mark.parametrize("extra, message", [
    (["-e", "kt_audit_profiles=web_frontnd"],
     "kt_audit_profiles: 'web_frontnd' is not a profile; name profiles from " + KNOWN),
    (["-e", "kt_audit_profiles=web_frontend,revers_proxy,x", "--tags", "unrelated"],
     "kt_audit_profiles: 'revers_proxy', 'x' are not profiles; name profiles from " + KNOWN),
    (["-e", '{"kt_audit_profiles": ["kt_sysctl", "Web_Frontend"]}'],
     "kt_audit_profiles: 'Web_Frontend' is not a profile; name profiles from " + KNOWN),
])
def test_audit_refuses_an_unknown_profile_once_before_any_host(tmp_path, extra, message):
    """A typo in kt_audit_profiles is refused once, on the controller, before the audit plays: no host is contacted
    (here none could be), no report is written."""
    p = play(tmp_path, "kerneltune.tcp.audit", *extra)
    assert p.returncode == 2, p.stdout[-3000:]
    out = " ".join((p.stdout + p.stderr).replace('\\"', '"').split())
    assert message in out
    assert p.stdout.count("FAILED!") == 1
    assert "Audit each profile in check mode" not in p.stdout and "UNREACHABLE" not in p.stdout
    assert not (tmp_path / "kerneltune-reports").exists()


def test_audit_of_known_profiles_given_on_the_command_line_runs(tmp_path):
    p = play(tmp_path, "kerneltune.tcp.audit", "-e", "kt_audit_profiles=web_frontend,kt_sysctl", "-l", "db1")
    assert p.returncode == 2, p.stdout[-3000:]
    data = json.loads((tmp_path / "kerneltune-reports" / "audit.json").read_text())
    assert [(h["host"], h["status"]) for h in data["hosts"]] == [("db1", "unreachable")]


def test_audit_a_null_kt_audit_profiles_means_the_groups(tmp_path):
    """Null counts as not set, on the command line as on any host (the profile lookup's audit=true): the groups
    decide, nothing is refused."""
    p = play(tmp_path, "kerneltune.tcp.audit", "-e", '{"kt_audit_profiles": null}', "-l", "db1")
    assert p.returncode == 2, p.stdout[-3000:]
    assert "is not a profile" not in p.stdout + p.stderr
    data = json.loads((tmp_path / "kerneltune-reports" / "audit.json").read_text())
    # db1 is in no profile group: no profile, as without kt_audit_profiles.
    assert [(h["host"], h["status"], h["errors"]) for h in data["hosts"]] == [
        ("db1", "error", ["no profile: the host is in no group mapped to a profile"])]
