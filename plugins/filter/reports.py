# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the fleet playbooks (the reports themselves are written by the
fleet_report action plugin)."""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit


def _profile_name(item):
    """A looped result with its profile's name as C(item): the audit loops over the profile lookup's dicts
    (loop_var kt_profile), older callers over the names."""
    var = item.get("ansible_loop_var") or "item"
    value = item.get(var)
    if isinstance(value, dict):
        value = value.get("name")
    out = dict((k, v) for k, v in item.items() if k != var)
    out["item"] = value
    return out


def audit_entry(item):
    return audit.audit_entry(_profile_name(item))


def audit_record(raw, profiles=None):
    """One host's registered audit task (kt_audit_raw) -> its audit record {profiles: [entries]}.

    A loop that could not even be templated (the host's profile variables are wrong) leaves no per-item results:
    it becomes one error entry naming the host's profiles; no registered result at all means the host never ran
    the task (unreachable).
    """
    raw = raw or {}
    if "results" in raw:
        return {"profiles": [audit_entry(r) for r in raw["results"]]}
    if raw.get("unreachable") or not raw:
        return {"unreachable": True, "profiles": []}
    if raw.get("failed"):
        name = ", ".join(profiles or []) or "profiles"
        return {"profiles": [{"profile": name, "result": {}, "error": raw.get("msg") or "failed"}]}
    return {"profiles": []}


def audit_gate_hosts(per_host, play_hosts, limited=False):
    """[{name, groups}] for add_host: the hosts the audit's gate fails on (group kt_audit_failed), and, of those,
    the unreachable ones (kt_audit_unreachable), which a play then counts as unreachable.

    A play whose every host goes unreachable ends the run there (exit 4, before the gate), so that play also runs
    on one host that stays: a reachable audited host (group kt_audit_mark), or else the controller (the
    unreachable hosts go to kt_audit_mark_local, and the play adds localhost). Under --limit (limited) the
    controller is not in the run: with no reachable host either, the unreachable hosts only fail the gate.
    """
    down = sorted(h for h, v in per_host.items() if v["status"] == "unreachable")
    anchor = [h for h in play_hosts if h not in down][:1]
    mark = "kt_audit_mark" if anchor else (None if limited else "kt_audit_mark_local")
    out = []
    for host in sorted(h for h, v in per_host.items() if v["fails_gate"]):
        groups = ["kt_audit_failed"]
        if host in down and mark:
            groups += ["kt_audit_unreachable", mark]
        out.append({"name": host, "groups": groups})
    if down and anchor and mark:
        out.append({"name": anchor[0], "groups": ["kt_audit_mark"]})
    return out


class FilterModule(object):
    def filters(self):
        return {"audit_entry": audit_entry, "audit_record": audit_record, "audit_gate_hosts": audit_gate_hosts}
