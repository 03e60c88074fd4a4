# SPDX-License-Identifier: GPL-3.0-or-later
"""The diagnosis: hosts worst first, failed probes, unreachable hosts, the bar charts, hostile strings."""
import json

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import diagnose, registry

from .samples import HOSTILE, _Collect


def info(tw, errors=0, warnings=0, cw=0):
    f = [{"id": "e", "severity": "error", "message": "m", "remedy": "r"}] * errors
    f += [{"id": "w", "severity": "warning", "message": "m", "remedy": "r"}] * warnings
    return {"time_wait": {"total": tw, "outbound": tw, "inbound": 0,
                          "top_remote": [{"address": "10.0.0.5", "port": 5432, "count": tw}]},
            "close_wait": {"total": cw, "processes": []}, "findings": f,
            "ephemeral_ports": {"busiest_destination": None}}


def test_diagnose_worst_first_errors_and_unreachable():
    recs = {"a": info(10), "b": info(5, warnings=1), "c": info(1, errors=1), "d": info(144),
            "f": {"failed": True, "msg": "tcp_info: netlink refused"}, "u": {"unreachable": True, "msg": "x"}}
    built = registry.build("diagnose", recs, ["a", "b", "c", "d", "e", "f", "u"])
    out = built["files"]
    assert built["task_result"]["order"] == ["c", "b", "d", "a"]
    assert built["task_result"]["unreachable_hosts"] == ["e", "u"]
    assert built["task_result"]["errors"] == {"f": "tcp_info: netlink refused"}
    assert "| f | error | | | tcp\\_info: netlink refused |" in out["markdown"]
    assert "f: error: <code>tcp_info: netlink refused</code>" in out["html"]
    assert "Top TIME_WAIT destinations (fleet)" in out["html"]
    assert out["markdown"].index("| c |") < out["markdown"].index("| a |")
    assert "Findings: none" in out["markdown"] and "CLOSE_WAIT: 0; none" in out["markdown"]
    assert "Port exhaustion: none" in out["markdown"]
    # Bar values are whole: "144" is in the page, and the value sits right of the bar inside the svg width.
    assert ">144</text>" in out["html"]


def test_bars_never_cut_labels():
    chart = diagnose._bars([("a-very-long-host-name.example.internal", 144), ("b", 7)])
    assert chart["label_w"] >= len("a-very-long-host-name.example.internal") * 7
    assert chart["width"] >= chart["label_w"] + 420 + len("144") * 8
    assert [r["label"] for r in chart["rows"]] == ["a-very-long-host-name.example.internal", "b"]


def test_hostile_strings_in_diagnose():
    h = HOSTILE
    r = {"time_wait": {"total": 2, "outbound": 2, "inbound": 0,
                       "top_remote": [{"address": h, "port": 1, "count": 2}]},
         "close_wait": {"total": 1, "processes": [{"command": h, "pid": h, "count": 1, "sample": [h]}]},
         "findings": [{"id": h, "severity": "warning", "message": h, "remedy": h}],
         "ephemeral_ports": {"busiest_destination": {"address": h, "port": 1, "local_ports_used": 3,
                                                     "share": 0.5}}}
    out = registry.build("diagnose", {"x" + h: r, "f" + h: {"failed": True, "msg": h}}, ["x" + h, "f" + h])["files"]
    p = _Collect()
    p.feed(out["html"])
    assert p.scripts == 0 and "<script>alert" not in out["html"] and "\x00" not in out["html"]
    assert out["html"].count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 9
    assert "<script>" not in out["markdown"] and "\x1b" not in out["markdown"]
    assert "held by \\<script\\>alert(1)\\</script\\>\"'\\&amp;\\|\\*\\_\\`\\[x\\](y) end" in out["markdown"]
    json.loads(out["json"])


def test_busiest_column_keeps_the_source_and_remedies_are_shown():
    r = info(3, warnings=1)
    r["ephemeral_ports"] = {"busiest_destination": {"source": "10.0.0.2", "address": "10.0.0.5", "port": 5432,
                                                    "local_ports_used": 20000, "bound_ports": 2, "share": 0.75}}
    out = registry.build("diagnose", {"a": r}, ["a"])["files"]
    assert "| a | 3 (3/0) | 0 | 10.0.0.2 -\\> 10.0.0.5:5432, 20000 ports + 2 bound (75.0%) | warning w |" in out["markdown"]
    assert "<td>10.0.0.2 -&gt; 10.0.0.5:5432, 20000 ports + 2 bound (75.0%)</td>" in out["html"]
    assert '<div class="finding"><p><b>warning w</b>: m</p><p>Remedy: r</p></div>' in out["html"]
    assert "<details" not in out["html"]


def test_owner_without_a_text_or_a_pid_says_what_is_known():
    assert diagnose.owner({"pid": None, "command": None}) == "a process outside the pid namespace or gone"
    assert diagnose.owner({"pid": 7, "command": "java"}) == "java (pid 7)"
    assert diagnose.owner({"pid": 7, "command": "java", "owner": "java (pid 7) and java (pid 9)"}) == \
        "java (pid 7) and java (pid 9)"


def _ns(inode, tw, errors=0, warnings=0, name=None, owner=None):
    return dict(info(tw, errors, warnings), inode=inode, name=name,
                owner=owner or {"runtime": None, "container_id": None, "pod_uid": None, "processes": []})


def test_namespaces_grouped_by_host_then_worst_first():
    pod = {"runtime": "containerd", "container_id": "c7a1" + "2" * 60, "pod_uid": "5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
           "processes": [{"pid": 13, "command": "java"}]}
    a = dict(info(1), namespaces=[_ns(402, 5, errors=1, name="kt-ports"), _ns(401, 9, warnings=1, owner=pod),
                                  _ns(403, 0)],
             namespaces_skipped=[dict(_ns(404, 0, owner={"processes": [{"pid": 9, "command": "sleep"}]}),
                                      reason="the namespace is gone")])
    b = info(50, warnings=1)
    built = registry.build("diagnose", {"a": a, "b": b}, ["a", "b"])
    assert built["task_result"]["order"] == ["a", "b"]  # a's namespaces' error ranks it first
    md_text = built["files"]["markdown"]
    rows = [line.split(" |")[0] for line in md_text.splitlines() if line.startswith("| ")][1:]
    assert rows == ["| a", "| a: netns 402, kt-ports", "| a: netns 401, containerd c7a122222222, pod "
                    "5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", "| b"]
    assert "Other network namespaces: 2 with findings, 1 without, 1 not read" in md_text
    assert "- not read: netns 404, sleep (pid 9): the namespace is gone" in md_text
    assert md_text.index("### a: netns 402, kt-ports") < md_text.index("### a: netns 401") < md_text.index("## b")
    assert registry.text("diagnose", built["summary"], "/r").splitlines() == [
        "diagnosis of 2 hosts, worst first",
        "a: TIME_WAIT 1 (1 out, 0 in), CLOSE_WAIT 0, busiest destination none; findings: none",
        "b: TIME_WAIT 50 (50 out, 0 in), CLOSE_WAIT 0, busiest destination none; findings: warning w",
        "a: netns 402, kt-ports: TIME_WAIT 5 (5 out, 0 in), CLOSE_WAIT 0, busiest destination none; findings: error e",
        "a: netns 401, containerd c7a122222222, pod 5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b: TIME_WAIT 9 (9 out, 0 in), "
        "CLOSE_WAIT 0, busiest destination none; findings: warning w",
        "a: netns 404, sleep (pid 9): not read: the namespace is gone",
        "reports in /r"]
    html = built["files"]["html"]
    assert '<tr class="ns"><td>a: netns 402, kt-ports</td>' in html
    assert "other namespaces without findings: 1<br>not read: netns 404, sleep (pid 9): the namespace is gone" in html
    assert html.index("a: netns 401") < html.index("<tr><td>b")
    assert [h["host"] for h in json.loads(built["files"]["json"])["hosts"]] == ["a", "b"]


def test_hostile_namespace_names_are_escaped():
    a = dict(info(1), namespaces=[_ns(402, 5, errors=1, name=HOSTILE)], namespaces_skipped=[])
    out = registry.build("diagnose", {"a": a}, ["a"])["files"]
    assert "<script>" not in out["markdown"] and "<script>alert" not in out["html"]
