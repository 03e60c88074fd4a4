# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's verdict (controller side): one looped tcp_sysctl result -> an audit record (audit_entry), the
records -> per-host verdicts and totals (audit_summary), drift compared with a baseline (new, still, resolved),
the gate's words, and the previous audit.json files read as baseline or merge input."""

from __future__ import annotations

import json

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import common

STATUSES = ("compliant", "drift", "overridden", "error", "unreachable")
# The three lists of a host that hold drift, in the order the reports show them.
DRIFT_KINDS = ("runtime_drift", "boot_drift", "overridden")
# What makes one drift the same drift in a later audit: the host, profile, kind and key, the value wanted and the
# value found (a key that drifts to another value, or a profile that now wants another, is new drift).
_FOUND = {"runtime_drift": "runtime", "boot_drift": "persisted_before", "overridden": "overridden_by"}


def audit_entry(item):
    """One profile's audit from a looped tcp_sysctl result (item = profile name)."""
    result = {k: v for k, v in item.items() if k not in ("item", "ansible_loop_var", "invocation")}
    entry = {"profile": item.get("item"), "result": result}
    if item.get("unreachable"):
        entry["unreachable"] = True
        entry["error"] = item.get("msg") or "unreachable"
    elif item.get("failed"):
        entry["error"] = item.get("msg") or "failed"
    return entry


def want(e):
    """What an entry asks for: its value, or its bound's text (">= 8192")."""
    b = e.get("bounds")
    return b.get("text") if isinstance(b, dict) and b.get("text") else e.get("desired")


def _drift_id(host, kind, e):
    # A bound is wanted as the bound: its desired value follows the running value.
    return json.dumps([host, e.get("profile"), kind, e.get("key"), want(e), e.get(_FOUND[kind])])


def _previous_drift(baseline):
    """{drift id: item} from a previous audit.json's summary."""
    out = {}
    for h in (baseline or {}).get("hosts", []):
        for kind in DRIFT_KINDS:
            for e in h.get(kind, []):
                out[_drift_id(h["host"], kind, e)] = dict(e, host=h["host"], kind=kind)
    return out


# --------------------------------------------------------------------------
# One host
# --------------------------------------------------------------------------

def _add_profile(h, prof):
    """A profile's errors, refusals and settings into the host's lists."""
    name = prof["profile"]
    res = prof.get("result") or {}
    h["profiles"].append(name)
    if prof.get("error"):
        h["errors"].append("%s: %s" % (name, prof["error"]))
    for f in res.get("findings", []):
        if f.get("severity") == "error":
            h["errors"].append("%s: %s" % (name, f["message"]))
    for e in res.get("settings", []):
        item = dict(e, profile=name)
        if e["status"] == "overridden":
            h["overridden"].append(item)
        elif e["status"] == "unsupported":
            h["unsupported"].append(item)
        elif e["status"] in ("drift", "read_only"):
            if e.get("runtime_drift"):
                h["runtime_drift"].append(dict(item))
            if e.get("persisted_drift"):
                h["boot_drift"].append(dict(item))


def _status(h):
    """The host's one status (STATUSES), worst first."""
    if not h["reachable"]:
        return "unreachable"
    if h["errors"]:
        return "error"
    if h["runtime_drift"] or h["boot_drift"]:
        return "drift"
    if h["overridden"]:
        return "overridden"
    return "compliant"


def _audit_host(host, rec, before, seen):
    """One host's verdict from its record; with a baseline (before), each drift marked new or still."""
    h = {"host": host, "reachable": True, "profiles": [], "runtime_drift": [], "boot_drift": [],
         "overridden": [], "errors": [], "unsupported": [], "resolved": []}
    if rec is None or rec.get("unreachable") or any(p.get("unreachable") for p in rec.get("profiles", [])):
        h["reachable"] = False
        why = [p.get("error") for p in (rec or {}).get("profiles", []) if p.get("unreachable")]
        h["errors"].append("unreachable" + (": %s" % why[0] if why and why[0] != "unreachable" else ""))
    elif not rec.get("profiles"):
        h["errors"].append("no profile: the host is in no group mapped to a profile")
    else:
        for prof in rec.get("profiles", []):
            _add_profile(h, prof)
    if before is not None:
        for kind in DRIFT_KINDS:
            for e in h[kind]:
                i = _drift_id(host, kind, e)
                seen.add(i)
                e["change"] = "still" if i in before else "new"
    h["compliant"] = h["reachable"] and not (h["runtime_drift"] or h["boot_drift"] or h["overridden"]
                                             or h["errors"])
    h["status"] = _status(h)
    return h


def _resolve(before, seen, out):
    """The baseline's drift that is gone, put on its host's "resolved" list; all of it, with the host."""
    by_host = {h["host"]: h for h in out}
    resolved = []
    for i, e in sorted(before.items()):
        # Resolved only when the host and that profile were audited now, without an error, and the drift
        # is gone: an unreachable host, a failed probe or a profile no longer assigned resolves nothing.
        h = by_host.get(e["host"])
        if i not in seen and h is not None and h["status"] not in ("unreachable", "error") \
                and e.get("profile") in h["profiles"]:
            item = {k: v for k, v in e.items() if k not in ("change", "host")}
            item["change"] = "resolved"
            h["resolved"].append(item)
            resolved.append(dict(item, host=e["host"]))
    return resolved


# --------------------------------------------------------------------------
# The fleet
# --------------------------------------------------------------------------

def _totals(out):
    return {
        "hosts": len(out),
        "compliant": sum(1 for h in out if h["compliant"]),
        "unreachable": sum(1 for h in out if not h["reachable"]),
        "runtime_drift": sum(1 for h in out if h["runtime_drift"]),
        "boot_drift": sum(1 for h in out if h["boot_drift"]),
        "overridden": sum(1 for h in out if h["overridden"]),
        "errors": sum(1 for h in out if h["errors"] and h["reachable"]),
    }


def _drifted_keys(out):
    """[{key, hosts}]: each key with drift, by the number of hosts it drifts on, most first."""
    keys = {}
    for h in out:
        for k in set(e["key"] for kind in DRIFT_KINDS for e in h[kind]):
            keys[k] = keys.get(k, 0) + 1
    return [{"key": k, "hosts": n} for k, n in sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))]


def _changes(out, resolved):
    allitems = [e for h in out for kind in DRIFT_KINDS for e in h[kind]]
    return {"new": sum(1 for e in allitems if e["change"] == "new"),
            "still": sum(1 for e in allitems if e["change"] == "still"),
            "resolved": len(resolved)}


def _passed(out, totals, changes, fail_on):
    if not out:
        return False
    if fail_on == "new" and changes is not None:
        return totals["unreachable"] + totals["errors"] == 0 and changes["new"] == 0
    return totals["compliant"] == totals["hosts"]


def audit_summary(records, hosts, baseline=None, fail_on="any"):
    """Per-host verdicts from the audit records.

    records: {host: {"profiles": [{profile, result, error?, unreachable?}], "unreachable": bool?}}
    hosts: every host the audit was meant to reach (hosts without a record are unreachable).
    baseline: a previous audit.json (dict): every drift is marked new, still or resolved.
    fail_on: "any" (every drift fails) or "new" (drift already in the baseline does not).
    """
    before = _previous_drift(baseline) if baseline is not None else None
    seen = set()
    out = [_audit_host(host, records.get(host), before, seen) for host in sorted(set(hosts))]
    changes = None
    if before is not None:
        changes = _changes(out, _resolve(before, seen, out))
    totals = _totals(out)
    status = dict((s, sum(1 for h in out if h["status"] == s)) for s in STATUSES)
    return {"hosts": out, "totals": totals, "status": status, "drifted_keys": _drifted_keys(out), "changes": changes,
            "passed": _passed(out, totals, changes, fail_on), "fail_on": fail_on}


def audit_gate(summary):
    """Why the audit gate fails (without the report directory), or None when it passes."""
    if summary["passed"]:
        return None
    t = summary["totals"]
    if summary["fail_on"] == "new" and summary["changes"] is not None:
        return "audit failed: %d new drift since the baseline, %d hosts with errors, %d unreachable" % (
            summary["changes"]["new"], t["errors"], t["unreachable"])
    return "audit failed: %d of %d hosts are not compliant" % (t["hosts"] - t["compliant"], t["hosts"])


def audit_task_result(summary):
    """What the fleet_report task returns for an audit: totals, hosts by status, baseline changes, verdict."""
    s = summary
    return {"summary": {"totals": s["totals"], "status": s["status"], "passed": s["passed"], "changes": s["changes"],
                        "fail_on": s["fail_on"],
                        "unreachable": [h["host"] for h in s["hosts"] if h["status"] == "unreachable"],
                        "errors": [h["host"] for h in s["hosts"] if h["status"] == "error"],
                        "drift": [h["host"] for h in s["hosts"] if h["status"] in ("drift", "overridden")]}}


# --------------------------------------------------------------------------
# Earlier audits: baseline and merge
# --------------------------------------------------------------------------

def _host_entry_ok(h):
    return isinstance(h, dict) and isinstance(h.get("host"), str) and all(
        isinstance(h.get(kind, []), list) and all(isinstance(e, dict) and "key" in e for e in h.get(kind, []))
        for kind in DRIFT_KINDS)


def load_audit(path):
    """A previous audit.json, checked enough to use as baseline or merge input."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, IOError) as e:
        raise common.ReportError("%s: cannot read: %s" % (path, e.strerror))
    except ValueError as e:
        raise common.ReportError("%s: not JSON: %s" % (path, e))
    if not isinstance(data, dict) or data.get("kind") != "audit" or not isinstance(data.get("hosts"), list) \
            or not isinstance(data.get("records"), dict):
        raise common.ReportError("%s: not an audit.json written by kerneltune.tcp.fleet_report" % path)
    if data.get("schema_version") != common.SCHEMA_VERSION:
        raise common.ReportError("%s: schema_version %r; this collection reads audit.json schema_version %r"
                                 % (path, data.get("schema_version"), common.SCHEMA_VERSION))
    for h in data["hosts"]:
        if not _host_entry_ok(h):
            raise common.ReportError("%s: host entry %s does not have the audit.json shape "
                                     "(docs/schemas/audit.schema.json)" % (path, json.dumps(h)[:80]))
    return data


def merge_audits(paths):
    """(records, hosts) from several audit.json files, e.g. one per job slice."""
    records, hosts, origin = {}, [], {}
    for path in paths:
        data = load_audit(path)
        for h in data["hosts"]:
            name = h["host"]
            if name in origin:
                raise common.ReportError("merge: host %s is in both %s and %s" % (name, origin[name], path))
            origin[name] = path
            hosts.append(name)
            if name in data["records"]:
                records[name] = data["records"][name]
            if not h.get("reachable", True):
                records[name] = dict(records.get(name) or {"profiles": []}, unreachable=True)
    return records, hosts
