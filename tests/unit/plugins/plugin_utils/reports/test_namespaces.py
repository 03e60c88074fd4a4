# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's Network namespaces section (issue 26), in every format, word for word: which namespaces of a host
differ from its profiles on which keys, who owns them and how to give them the values; info (the default) reports
and keeps the verdict, fail makes the host not compliant; the counts agree in JSON, set_stats, Markdown, HTML, JUnit
and the plain text. The records are tcp_sysctl namespaces=all results as the module returns them
(tests/unit/plugins/module_utils/sysctl/test_namespaces_netns.py checks those on real namespaces)."""
import json

import jsonschema
import junitparser
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import (
    audit, audit_namespaces, audit_render, common, registry)

from . import samples
from .samples import SCHEMA, entry, validate_junit

POD = "0b1e6c2f-8d4a-4c3e-9f5b-1a2b3c4d5e6f"
CID = "3f2a" + "0" * 60
DOCKER = "9c1d" + "1" * 60
GONE = "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)"


def ns(inode, settings, name=None, owner=None, error=None):
    own = {"runtime": None, "container_id": None, "containers": [], "pod_uid": None, "cgroup": None,
           "processes": [], "process_count": 0}
    own.update(owner or {})
    return {"inode": inode, "name": name, "names": [name] if name else [], "owner": own, "error": error,
            "settings": settings, "differs": [s["key"] for s in settings if s["differs"]]}


def row(key, value, wanted, desired, differs, scope="namespace", state="writable"):
    return {"key": key, "value": value, "wanted": wanted, "desired": desired, "scope": scope, "state": state,
            "differs": differs}


def result(spaces):
    """A compliant web_frontend result on the host, with these namespaces."""
    return {"settings": [entry("net.core.somaxconn", desired="8192", runtime="8192", persisted="8192"),
                         entry("net.ipv4.tcp_fin_timeout", desired="30", runtime="30", persisted="30")],
            "findings": [], "namespaces": spaces, "namespaces_unreadable": 0}


def records():
    """node: a pod (unsafe somaxconn and safe fin_timeout differ), a podman container (fin_timeout differs),
    rmem_max there read-only (host only: never drift), a namespace gone during the scan; quiet: its one namespace
    is as wanted; plain: a host whose result has no namespaces (not scanned)."""
    pod = ns(4026532001, [row("net.core.somaxconn", "4096", ">= 8192", "8192", True),
                          row("net.ipv4.tcp_fin_timeout", "60", "<= 30", "30", True),
                          row("net.core.rmem_max", "212992", "4194304", "4194304", False, "host", "read_only")],
             owner={"runtime": "containerd", "container_id": CID, "containers": [CID], "pod_uid": POD,
                    "processes": [{"pid": 4242, "command": "pause"}], "process_count": 2})
    podman = ns(4026532002, [row("net.core.somaxconn", "8192", ">= 8192", "8192", False),
                             row("net.ipv4.tcp_fin_timeout", "45", "<= 30", "30", True)],
                owner={"runtime": "podman", "container_id": DOCKER, "containers": [DOCKER]})
    gone = ns(4026532003, [], owner={"processes": [{"pid": 77, "command": "sleep"}], "process_count": 1}, error=GONE)
    quiet = ns(4026532010, [row("net.core.somaxconn", "9000", ">= 8192", "8192", False)], name="blue")
    return {
        "node": {"profiles": [{"profile": "web_frontend", "result": result([pod, podman, gone])}]},
        "quiet": {"profiles": [{"profile": "web_frontend", "result": result([quiet])}]},
        "plain": {"profiles": [{"profile": "web_frontend", "result": {
            "settings": [entry("net.core.somaxconn", desired="8192", runtime="8192", persisted="8192")],
            "findings": []}}]},
    }


HOSTS = ["node", "quiet", "plain"]
POD_LINE = (
    "Kubernetes pod %s (containerd container 3f2a00000000) (net:[4026532001]) differs: net.core.somaxconn 4096 "
    "(wants >= 8192, web_frontend), net.ipv4.tcp_fin_timeout 60 (wants <= 30, web_frontend); fix: Kubernetes: set "
    "them in the pod's spec, securityContext.sysctls: [{name: net.core.somaxconn, value: \"8192\"}, {name: "
    "net.ipv4.tcp_fin_timeout, value: \"30\"}] (docs: kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster); "
    "net.core.somaxconn is not in Kubernetes' safe set: allow it on the node's kubelet first "
    "(--allowed-unsafe-sysctls=net.core.somaxconn, or allowedUnsafeSysctls in its configuration), or the pod fails to "
    "start; safe only from these Kubernetes releases on (older kubelets must allow them as unsafe): "
    "net.ipv4.tcp_fin_timeout since 1.29" % POD)
PODMAN_LINE = (
    "podman container 9c1d11111111 (net:[4026532002]) differs: net.ipv4.tcp_fin_timeout 45 (wants <= 30, "
    "web_frontend); fix: podman: start the container with --sysctl net.ipv4.tcp_fin_timeout=30 (it cannot be changed "
    "in a running container without privileges)")
GONE_LINE = "pid 77 (sleep) (net:[4026532003]) not read: " + GONE


def build(mode):
    return registry.build("audit", records(), HOSTS, namespaces=mode)


def by_host(summary):
    return dict((h["host"], h) for h in summary["hosts"])


def test_info_reports_and_keeps_the_verdict():
    out = build("info")
    s = out["summary"]
    assert s["passed"] is True and s["counts"]["compliant"] == 3
    assert s["reasons"] == {"runtime_drift": 0, "boot_drift": 0, "overridden": 0}
    assert s["namespaces"] == {"mode": "info", "hosts_scanned": 2, "namespaces": 4, "differ": 2, "drifts": 3,
                               "hosts": 1, "unread": 1, "unseen": 0}
    node = by_host(s)["node"]
    assert [audit_namespaces.line(i) for i in node["namespaces"]["differ"] + node["namespaces"]["unread"]] == [
        POD_LINE, PODMAN_LINE, GONE_LINE]
    # Keys of the host alone are never drift; a namespace as wanted is not listed.
    pod_keys = [k["key"] for k in node["namespaces"]["differ"][0]["keys"]]
    assert pod_keys == ["net.core.somaxconn", "net.ipv4.tcp_fin_timeout"]
    assert by_host(s)["quiet"]["namespaces"] == {"scanned": True, "count": 1, "differ": [], "unread": [], "unseen": 0}
    assert by_host(s)["plain"]["namespaces"] == {"scanned": False, "count": 0, "differ": [], "unread": [],
                                                 "unseen": 0}
    assert out["gate"] is None
    assert out["task_result"]["summary"]["namespaces"] == s["namespaces"]


def test_fail_makes_the_host_not_compliant_and_every_count_agrees(tmp_path):
    out = build("fail")
    s = out["summary"]
    assert s["passed"] is False
    assert s["counts"] == {"hosts": 3, "error": 0, "unreachable": 0, "not_compliant": 1, "compliant": 2}
    assert s["reasons"] == {"runtime_drift": 0, "boot_drift": 0, "overridden": 0, "namespace_drift": 1}
    assert audit.reasons_sentence(s) == (
        "Of the 1 not compliant hosts: 0 with runtime drift, 0 with boot-time drift, 0 with a key overridden by a "
        "later file, 1 with drift in another network namespace (a host can have more than one).")
    node = by_host(s)["node"]
    assert node["status"] == "not_compliant" and node["reasons"] == ["namespace_drift"] and node["keys"] == []
    assert out["gate"] == "audit failed: 1 of 3 hosts fail the audit: 1 not compliant, 0 with errors, 0 unreachable"
    per = audit_render.audit_per_host(s)
    assert per["node"] == {
        "status": "not_compliant", "fails_gate": True, "keys": [], "notes": [],
        "reason": "namespace drift Kubernetes pod %s (containerd container 3f2a00000000): net.core.somaxconn, "
                  "net.ipv4.tcp_fin_timeout; namespace drift podman container 9c1d11111111: net.ipv4.tcp_fin_timeout"
                  % POD,
        "namespaces": ["Kubernetes pod %s (containerd container 3f2a00000000): net.core.somaxconn, "
                       "net.ipv4.tcp_fin_timeout" % POD, "podman container 9c1d11111111: net.ipv4.tcp_fin_timeout"]}
    assert "namespaces" not in per["plain"] and "namespaces" not in per["quiet"]
    # JSON: the schema, and the same counts.
    data = json.loads(out["files"]["json"])
    with open(SCHEMA) as f:
        jsonschema.validate(data, json.load(f))
    assert data["namespaces"] == s["namespaces"] and data["reasons"]["namespace_drift"] == 1
    # JUnit: one failure per namespace that differs; the one not read is information.
    validate_junit(out["files"]["junit"])
    path = tmp_path / "junit.xml"
    path.write_text(out["files"]["junit"])
    suites = dict((x.name, x) for x in junitparser.JUnitXml.fromfile(str(path)))
    cases = [(c.classname, c.name, c.result[0].message) for c in suites["node"] if c.result]
    assert cases == [
        ("node.namespaces", "Kubernetes pod %s (containerd container 3f2a00000000) net:[4026532001]" % POD,
         "namespace drift: net.core.somaxconn, net.ipv4.tcp_fin_timeout"),
        ("node.namespaces", "podman container 9c1d11111111 net:[4026532002]",
         "namespace drift: net.ipv4.tcp_fin_timeout")]
    assert suites["node"].failures == 2 and suites["quiet"].failures == 0
    failing = sum(1 for x in suites.values() if x.failures or x.errors)
    assert failing == s["counts"]["hosts"] - s["counts"]["compliant"]
    body = [c for c in suites["node"] if c.result][1].result[0].text.splitlines()
    assert body == ["podman container 9c1d11111111 net:[4026532002] on node",
                    "net.ipv4.tcp_fin_timeout: 45, wanted <= 30 (web_frontend, scope namespace)",
                    "fix: podman: start the container with --sysctl net.ipv4.tcp_fin_timeout=30 (it cannot be "
                    "changed in a running container without privileges)"]
    assert suites["node"].child(junitparser.SystemOut).text == "namespace: " + GONE_LINE


@pytest.mark.parametrize("mode,sentence", [
    ("info", "Network namespaces (info): 4 scanned on 2 hosts; 2 differ (3 keys in all), on 1 hosts; 1 could not be "
             "read; information only, the verdict does not change."),
    ("fail", "Network namespaces (fail): 4 scanned on 2 hosts; 2 differ (3 keys in all), on 1 hosts; 1 could not be "
             "read."),
])
def test_markdown_html_and_plain_text(mode, sentence):
    out = build(mode)
    md = out["files"]["markdown"].splitlines()
    at = md.index("## Network namespaces")
    assert md[at + 2:at + 8] == [
        sentence + " How to tune pods and containers: docs/namespaces.md.", "",
        "- node: " + common.md(POD_LINE), "- node: " + common.md(PODMAN_LINE), "- node: " + common.md(GONE_LINE)][:6]
    parser = samples._Collect()
    parser.feed(out["files"]["html"])
    text = "".join(parser.text)
    assert sentence in text
    assert "podman: start the container with --sysctl net.ipv4.tcp_fin_timeout=30" in text
    assert out["files"]["html"].count('<tr data-host="node">') == 3
    lines = audit_render.audit_text(out["summary"], "/r").splitlines()
    assert lines[-5:] == [sentence, "node: namespace: " + POD_LINE, "node: namespace: " + PODMAN_LINE,
                          "node: namespace: " + GONE_LINE, "reports in /r"]


def test_off_and_results_without_namespaces_say_nothing():
    """kt_audit_namespaces=off (nothing scanned), or results from hosts that did not scan: no section, and the
    reports are those of before."""
    plain = {"plain": records()["plain"]}
    for mode in ("off", "info"):
        out = registry.build("audit", plain, ["plain"], namespaces=mode)
        assert "Network namespaces" not in out["files"]["markdown"] + out["files"]["html"]
        assert "Network namespaces" not in audit_render.audit_text(out["summary"], "/r")
        assert "namespaces" not in audit_render.audit_per_host(out["summary"])["plain"]


def test_the_fixes_for_each_owner():
    rows = [{"key": "net.ipv4.tcp_rmem", "desired": "4096 131072 6291456"}, {"key": "net.ipv4.tcp_fin_timeout",
                                                                             "desired": "30"}]
    docker = {"owner": {"runtime": "docker", "container_id": DOCKER}}
    assert audit_namespaces.fixes(docker, rows) == [
        "docker: start the container with --sysctl net.ipv4.tcp_rmem='4096 131072 6291456' --sysctl "
        "net.ipv4.tcp_fin_timeout=30 (it cannot be changed in a running container without privileges)"]
    assert audit_namespaces.fixes({"owner": {"runtime": "lxc", "container_id": "web"}}, rows[1:]) == [
        "lxc: in the container's configuration, lxc.sysctl.net.ipv4.tcp_fin_timeout = 30"]
    assert audit_namespaces.fixes({"name": "blue", "owner": {}}, rows[1:]) == [
        "ip netns exec blue sysctl -w net.ipv4.tcp_fin_timeout=30, and in whatever makes the namespace blue at boot"]
    assert audit_namespaces.fixes({"owner": {"processes": [{"pid": 9, "command": "vpn"}]}}, rows[1:]) == [
        "nsenter --net=/proc/9/ns/net sysctl -w net.ipv4.tcp_fin_timeout=30, and in whatever makes the namespace "
        "(pid 9, vpn)"]
    # Safe in Kubernetes from 1.32 on (tcp_rmem) and 1.29 (tcp_fin_timeout): no kubelet change on recent releases.
    pod = audit_namespaces.fixes({"owner": {"pod_uid": POD}}, rows)
    assert len(pod) == 2 and pod[1] == ("safe only from these Kubernetes releases on (older kubelets must allow them "
                                        "as unsafe): net.ipv4.tcp_rmem since 1.32, net.ipv4.tcp_fin_timeout since 1.29")


def test_fleet_report_passes_the_mode_to_audits_only():
    from ansible_collections.kerneltune.tcp.plugins.action import fleet_report
    args = {"kind": "audit", "baseline": None, "context": {}, "fail_on": "any", "namespaces": "fail"}
    assert fleet_report._options(args, {"json": "/r/audit.json"})["namespaces"] == "fail"
    with pytest.raises(common.ReportError) as e:
        fleet_report._options(dict(args, kind="diagnose"), {})
    assert str(e.value) == "namespaces: only audits judge the hosts' other network namespaces"


NO_CAP = ("entering another network namespace needs CAP_SYS_ADMIN (setns(2) said: Operation not permitted); run as "
          "root (become: true)")


def rootless_records():
    """What tcp_sysctl namespaces=all returns to an audit without root (test_namespaces_netns.py runs it as uid
    1000): the namespaces it found listed with the reason they were not read, and the processes whose namespace
    it could not even see counted; a host that saw everything, and one whose only unread namespace went away."""
    pod = ns(4026532001, [], owner={"processes": [{"pid": 4242, "command": "pause"}], "process_count": 1},
             error=NO_CAP)
    blue = ns(4026532004, [], name="blue", error=NO_CAP)
    gone = ns(4026532003, [], owner={"processes": [{"pid": 77, "command": "sleep"}], "process_count": 1}, error=GONE)
    blind = result([pod, blue])
    blind["namespaces_unreadable"] = 12
    unseen = result([])
    unseen["namespaces_unreadable"] = 1
    return {"blind": {"profiles": [{"profile": "web_frontend", "result": blind}]},
            "unseen": {"profiles": [{"profile": "web_frontend", "result": unseen}]},
            "gone": {"profiles": [{"profile": "web_frontend", "result": result([gone])}]},
            "quiet": records()["quiet"]}


def test_fail_cannot_pass_on_namespaces_it_could_not_judge(tmp_path):
    """kt_audit_namespaces=fail without root: the host is an error (the gate fails it) naming what was not judged
    and how to fix it; a namespace gone during the scan has nothing to judge; info keeps the verdict."""
    hosts = ["blind", "unseen", "gone", "quiet"]
    out = registry.build("audit", rootless_records(), hosts, namespaces="fail")
    s = out["summary"]
    assert s["counts"] == {"hosts": 4, "error": 2, "unreachable": 0, "not_compliant": 0, "compliant": 2}
    blind, unseen = by_host(s)["blind"], by_host(s)["unseen"]
    assert blind["status"] == "error" and blind["namespaces"]["unseen"] == 12
    assert blind["errors"] == [
        "network namespaces not judged (kt_audit_namespaces=fail judges every one): 2 could not be read (%s); the "
        "network namespace of 12 processes could not be seen" % NO_CAP]
    assert unseen["errors"] == [
        "network namespaces not judged (kt_audit_namespaces=fail judges every one): the network namespace of 1 "
        "process could not be seen"]
    assert blind["fix"] == unseen["fix"] == [
        "audit with become: true (entering another network namespace, or even seeing that of another user's process, "
        "needs root), or set kt_audit_namespaces=info to report such namespaces without judging them"]
    assert by_host(s)["gone"]["status"] == "compliant" and by_host(s)["gone"]["errors"] == []
    assert out["gate"] == "audit failed: 2 of 4 hosts fail the audit: 0 not compliant, 2 with errors, 0 unreachable"
    per = audit_render.audit_per_host(s)
    assert per["unseen"]["status"] == "error" and per["unseen"]["fails_gate"] is True
    assert per["unseen"]["reason"] == unseen["errors"][0]
    data = json.loads(out["files"]["json"])
    with open(SCHEMA) as f:
        jsonschema.validate(data, json.load(f))
    assert data["counts"] == s["counts"]
    path = tmp_path / "junit.xml"
    path.write_text(out["files"]["junit"])
    suites = dict((x.name, x) for x in junitparser.JUnitXml.fromfile(str(path)))
    assert (suites["blind"].errors, suites["unseen"].errors, suites["gone"].errors) == (1, 1, 0)
    # info (the default) lists them and keeps the verdict.
    info = registry.build("audit", rootless_records(), hosts, namespaces="info")["summary"]
    assert info["counts"]["compliant"] == 4 and info["passed"] is True
    assert info["namespaces"]["unread"] == 3


def test_a_namespace_one_profile_could_not_read_is_not_judged_whatever_the_order():
    """Two profiles scan the same namespace: the first reads it, the second cannot enter it (a fork that failed).
    The second profile's keys there are not judged, so fail mode makes the host an error in either order."""
    read = ns(4026532004, [row("net.core.somaxconn", "9000", ">= 8192", "8192", False)], name="blue")
    lost = ns(4026532004, [], name="blue", error="cannot start the process that enters it: Resource temporarily "
                                                 "unavailable")
    first = {"profile": "web_frontend", "result": result([read])}
    second = {"profile": "kt_sysctl", "result": result([lost])}
    for profiles in ([first, second], [second, first]):
        out = registry.build("audit", {"h": {"profiles": profiles}}, ["h"], namespaces="fail")["summary"]
        h = by_host(out)["h"]
        assert h["status"] == "error"
        assert h["errors"] == [
            "network namespaces not judged (kt_audit_namespaces=fail judges every one): 1 could not be read (cannot "
            "start the process that enters it: Resource temporarily unavailable)"]
        assert out["namespaces"]["unread"] == 1


def test_the_fleet_sentence_counts_the_processes_not_seen():
    out = registry.build("audit", rootless_records(), ["blind", "unseen", "gone", "quiet"], namespaces="fail")
    s = out["summary"]
    assert s["namespaces"] == {"mode": "fail", "hosts_scanned": 4, "namespaces": 4, "differ": 0, "drifts": 0,
                               "hosts": 0, "unread": 3, "unseen": 13}
    sentence = ("Network namespaces (fail): 4 scanned on 4 hosts; 0 differ (0 keys in all), on 0 hosts; 3 could not "
                "be read; the network namespace of 13 processes could not be seen.")
    assert audit_namespaces.counts_sentence(s["namespaces"]) == sentence
    assert sentence in out["files"]["markdown"]
    assert json.loads(out["files"]["json"])["namespaces"] == s["namespaces"]
