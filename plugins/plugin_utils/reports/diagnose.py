# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The diagnosis (controller side): registered tcp_info results -> hosts worst first, failed probes and
unreachable hosts (diagnose_summary), and its reports: JSON, Markdown and the HTML page with its bar charts
(templates/diagnose.html.j2). Every renderer is renderer(summary, records, generated).

A host diagnosed with namespaces=all carries its other network namespaces (containers, pods) in "namespaces",
worst first: a host is ranked by its own findings and theirs, and the reports show each host, then its namespaces
that have findings, worst first; the others are counted, and those the module could not read are named."""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import common


def diagnose_split(records, hosts):
    """(ok results, errors by host, unreachable hosts) from raw registered tcp_info results."""
    ok, errors, unreachable = {}, {}, []
    for h in sorted(set(hosts)):
        r = records.get(h)
        if r is None or r.get("unreachable"):
            unreachable.append(h)
        elif r.get("failed") or "time_wait" not in r:
            errors[h] = r.get("msg") or "the probe failed"
        else:
            ok[h] = r
    return ok, errors, unreachable


def _own_score(info):
    f = info.get("findings", [])
    return (sum(1 for x in f if x["severity"] == "error"), sum(1 for x in f if x["severity"] == "warning"),
            info.get("time_wait", {}).get("total", 0) + info.get("close_wait", {}).get("total", 0))


def _score(info):
    """A host's rank: errors, warnings, then TIME_WAIT + CLOSE_WAIT, its own and its namespaces' together."""
    total = [0, 0, 0]
    for part in [info] + list(info.get("namespaces") or []):
        for i, n in enumerate(_own_score(part)):
            total[i] += n
    return tuple(total)


def ns_label(ns):
    """A namespace as the reports name it: its inode, its /run/netns name, the runtime and container id (12
    characters, as docker ps shows it), the pod uid, or its first process when no container owns it."""
    o = ns.get("owner") or {}
    parts = ["netns %s" % ns.get("inode")]
    if ns.get("name"):
        parts.append(ns["name"])
    if o.get("container_id"):
        parts.append("%s %s" % (o.get("runtime") or "container", o["container_id"][:12]))
    if o.get("pod_uid"):
        parts.append("pod %s" % o["pod_uid"])
    if not o.get("container_id") and not o.get("pod_uid") and o.get("processes"):
        p = o["processes"][0]
        parts.append("%s (pid %s)" % (p.get("command"), p.get("pid")))
    return ", ".join(parts)


def namespaces_shown(r):
    """(namespaces with findings, worst first; how many others; those skipped) of a host's result."""
    spaces = list(r.get("namespaces") or [])
    shown = [ns for ns in spaces if ns.get("findings")]
    return shown, len(spaces) - len(shown), list(r.get("namespaces_skipped") or [])


def diagnose_summary(records, hosts):
    """{results: {host: tcp_info result}, order: hosts worst first (errors, then warnings, then TIME_WAIT +
    CLOSE_WAIT), errors: {host: message}, unreachable: [host]}."""
    ok, errors, unreachable = diagnose_split(records, hosts)
    order = sorted(ok, key=lambda h: tuple(-x for x in _score(ok[h])) + (h,))
    return {"results": ok, "order": order, "errors": errors, "unreachable": unreachable}


def diagnose_gate(_summary):
    """A diagnosis has no gate: the playbook checks that every host was diagnosed."""
    return None


def diagnose_task_result(summary):
    """What the fleet_report task returns for a diagnosis. Not "unreachable": Ansible reads a truthy
    "unreachable" key in a result as the host being unreachable."""
    return {"order": summary["order"], "errors": dict(summary["errors"]), "unreachable_hosts": summary["unreachable"]}


def _busiest(r):
    """The busiest (source, destination, port) with its share of the usable range; or, when ports taken by
    bind() leave connect() nothing for any destination, that."""
    e = r.get("ephemeral_ports") or {}
    if e.get("exhausted"):
        return "every destination: all %s usable ports held through bind()" % e.get("usable")
    b = e.get("busiest_destination")
    if not b:
        return None
    src = ("%s -> " % b["source"]) if b.get("source") else ""
    bound = (" + %d bound" % b["bound_ports"]) if b.get("bound_ports") else ""
    return "%s%s:%s, %d ports%s (%.1f%%)" % (src, b["address"], b["port"], b["local_ports_used"], bound,
                                             b["share"] * 100)


def owner(entry):
    """Who holds a socket: the module's own text when it carries one, what is known otherwise (never None)."""
    if entry.get("owner"):
        return entry["owner"]
    if entry.get("pid") is not None:
        return "%s (pid %s)" % (entry.get("command"), entry["pid"])
    return "a process outside the pid namespace or gone"


def close_wait_lines(r):
    """[(who, count, sample)]: the holders, then each listener's accept queue (its sockets have no holder yet),
    so that the counts add up to the CLOSE_WAIT total."""
    cw = r.get("close_wait") or {}
    out = [(owner(p), p["count"], p.get("sample") or []) for p in cw.get("processes") or []]
    out += [("accept queue of %s (%s)" % (q["listener"], owner(q)), q["count"], q.get("sample") or [])
            for q in cw.get("accept_queue") or []]
    return out


def diagnose_json(summary, _records=None, _generated=None):
    ok, errors = summary["results"], summary["errors"]
    data = {"schema_version": common.SCHEMA_VERSION, "kind": "diagnose",
            "hosts": [dict(ok[h], host=h) for h in summary["order"]],
            "errors": [{"host": h, "error": errors[h]} for h in sorted(errors)], "unreachable": summary["unreachable"]}
    return common.json_text(data)


def _host_section(h, r, title=None, level="##"):
    """A diagnosed host's (or namespace's) Markdown section: findings with remedies, CLOSE_WAIT owners, port
    exhaustion; then the host's namespaces with findings, worst first, each its own section."""
    md = common.md
    lines = ["", "%s %s" % (level, md(title or h)), ""]
    if not r["findings"]:
        lines.append("Findings: none")
    for f in r["findings"]:
        lines.append("- **%s** `%s`: %s  \n  Remedy: %s" % (f["severity"], md(f["id"]).replace("`", ""),
                                                            md(f["message"]), md(f["remedy"])))
    lines.append("")
    held = "; ".join("held by %s: %d%s" % (md(who), n, (", e.g. %s" % md("; ".join(sample[:3]))) if sample else "")
                     for who, n, sample in close_wait_lines(r))
    lines.append("CLOSE_WAIT: %d; %s" % (r["close_wait"]["total"], held or "none"))
    lines.append("")
    lines.append("Port exhaustion: %s" % md(_busiest(r) or "none"))
    if r.get("conntrack"):
        lines += ["", "conntrack: %d of nf_conntrack_max %d" % (r["conntrack"]["count"], r["conntrack"]["max"])]
    if "namespaces" not in r:
        return lines
    shown, quiet, skipped = namespaces_shown(r)
    lines += ["", "Other network namespaces: %d with findings, %d without, %d not read"
              % (len(shown), quiet, len(skipped))]
    for ns in skipped:
        lines.append("- not read: %s: %s" % (md(ns_label(ns)), md(ns.get("reason"))))
    for ns in shown:
        lines += _host_section(h, ns, "%s: %s" % (h, ns_label(ns)), "###")
    return lines


def diagnose_markdown(summary, _records=None, _generated=None):
    md = common.md
    ok, errors = summary["results"], summary["errors"]
    lines = ["# kerneltune.tcp diagnosis", "",
             "| host | TIME_WAIT (out/in) | CLOSE_WAIT | busiest destination (port use) | findings |",
             "|---|---|---|---|---|"]
    for h in summary["order"]:
        for label, r in [(h, ok[h])] + [("%s: %s" % (h, ns_label(ns)), ns) for ns in namespaces_shown(ok[h])[0]]:
            lines.append("| %s | %d (%d/%d) | %d | %s | %s |" % (
                md(label), r["time_wait"]["total"], r["time_wait"]["outbound"], r["time_wait"]["inbound"],
                r["close_wait"]["total"], md(_busiest(r) or "none"),
                ", ".join("%s %s" % (f["severity"], md(f["id"])) for f in r["findings"]) or "none"))
    for h in sorted(errors):
        lines.append("| %s | error | | | %s |" % (md(h), md(errors[h])))
    for h in summary["unreachable"]:
        lines.append("| %s | unreachable | | | |" % md(h))
    for h in summary["order"]:
        lines += _host_section(h, ok[h])
    return "\n".join(lines) + "\n"


def diagnose_text(summary, report_dir):
    """The plain-text summary the playbook prints, as the audit's (common.plain_text): worst host first, then the
    hosts whose probe failed and those unreachable, where the reports are."""
    ok, errors = summary["results"], summary["errors"]

    def line(label, r):
        return "%s: TIME_WAIT %d (%d out, %d in), CLOSE_WAIT %d, busiest destination %s; findings: %s" % (
            label, r["time_wait"]["total"], r["time_wait"]["outbound"], r["time_wait"]["inbound"],
            r["close_wait"]["total"], _busiest(r) or "none",
            ", ".join("%s %s" % (f["severity"], f["id"]) for f in r["findings"]) or "none")
    lines = [line(h, ok[h]) for h in summary["order"]]
    lines += ["%s: error: %s" % (h, errors[h]) for h in sorted(errors)]
    lines += ["%s: unreachable" % h for h in summary["unreachable"]]
    sections = [(lines, "hosts")]
    spaces = []
    for h in summary["order"]:
        shown, _quiet, skipped = namespaces_shown(ok[h])
        spaces += [line("%s: %s" % (h, ns_label(ns)), ns) for ns in shown]
        spaces += ["%s: %s: not read: %s" % (h, ns_label(ns), ns.get("reason")) for ns in skipped]
    if spaces:
        sections.append((spaces, "namespaces"))
    return common.plain_text(["diagnosis of %d hosts, worst first" % len(lines)], sections, report_dir)


def _bars(items, width=420):
    """Rows for a horizontal SVG bar chart: label and value never cut (label column sized to the text)."""
    top = max([v for _l, v in items] or [1]) or 1
    label_w = max([len(u"%s" % label) for label, _v in items] or [4]) * 7 + 12
    value_w = max([len(str(v)) for _l, v in items] or [1]) * 8 + 12
    rows = []
    for i, (label, value) in enumerate(items):
        rows.append({"label": label, "value": value, "y": 5 + i * 22, "w": max(int(width * value / top), 1)})
    return {"rows": rows, "label_w": label_w, "width": label_w + width + value_w + 10,
            "height": 22 * len(items) + 10}


def diagnose_html(summary, _records=None, generated=None):
    ok, ranked = summary["results"], summary["order"]
    dests = {}
    for h in ranked:
        for x in ok[h]["time_wait"].get("top_remote", []):  # the host's own namespace
            if "port" in x:
                k = "%s:%d" % (x["address"], x["port"])
                dests[k] = dests.get(k, 0) + x["count"]
    top_dests = sorted(dests.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    rows = []
    for h in ranked:
        shown, quiet, skipped = namespaces_shown(ok[h])
        rows.append(dict(host=h, r=ok[h], busiest=_busiest(ok[h]), close_wait=close_wait_lines(ok[h]), ns=None,
                         quiet=quiet if "namespaces" in ok[h] else None,
                         skipped=[(ns_label(ns), ns.get("reason")) for ns in skipped]))
        rows += [dict(host=h, r=ns, busiest=_busiest(ns), close_wait=close_wait_lines(ns), ns=ns_label(ns))
                 for ns in shown]
    return common.env().get_template("diagnose.html.j2").render(
        rows=rows, errors=summary["errors"], unreachable=summary["unreachable"],
        tw=_bars([(h, ok[h]["time_wait"]["total"]) for h in ranked]),
        cw=_bars([(h, ok[h]["close_wait"]["total"]) for h in ranked]),
        dests=_bars(top_dests), generated=common.iso_time(generated))
