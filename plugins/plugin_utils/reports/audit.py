# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's verdict (controller side): one looped tcp_sysctl result -> an audit record (audit_entry), the
records -> per-host verdicts and the one set of counts every report and set_stats use (audit_summary), drift
compared with a baseline (new, still, resolved), the gate's words, and the previous audit.json files read as
baseline or merge input.

Every host has exactly one status, the first that applies in STATUSES: error (a profile could not be checked, or
the host has no profile) > unreachable > not_compliant (a key drifts at runtime or at boot, or a later file
overrides it) > compliant. counts[status] therefore add up to counts["hosts"]; the reasons a host is not compliant
(REASONS) are counted per host apart, and a host can have several.

Drift in a host's other network namespaces (containers, pods: tcp_sysctl namespaces=all, audit_namespaces.py) is
its own section; with namespaces="fail" it makes the host not compliant too (reason namespace_drift, counted only
then), with "info" it is reported and the verdict does not change."""

from __future__ import annotations

import json
import os
import re

from ansible_collections.kerneltune.tcp.plugins.lookup import profile as profile_lookup
from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit_namespaces, common

STATUSES = ("error", "unreachable", "not_compliant", "compliant")
STATUS_WORDS = {"error": "error", "unreachable": "unreachable", "not_compliant": "not compliant",
                "compliant": "compliant"}
# The three lists of a host that hold drift, in the order the reports show them; also the reasons a host is not
# compliant.
DRIFT_KINDS = ("runtime_drift", "boot_drift", "overridden")
REASONS = DRIFT_KINDS
REASON_WORDS = {"runtime_drift": "runtime drift", "boot_drift": "boot-time drift",
                "overridden": "a key overridden by a later file"}
# What makes one drift the same drift in a later audit: the host, profile, kind and key, the value wanted and the
# value found (a key that drifts to another value, or a profile that now wants another, is new drift).
_FOUND = {"runtime_drift": "runtime", "boot_drift": "persisted_before", "overridden": "overridden_by"}
# audit.json's schema_version, and the ones a baseline or merge input may have (the drift lists, "reachable" and
# "records" mean the same in both; version 2 replaced totals and status by counts).
SCHEMA_VERSION = 2
READS = (1, 2)
NO_PROFILE = "no profile: the host is in no group mapped to a profile"


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


def value(v):
    """A value as the reports show it: "absent" for a key the kernel does not have."""
    return "absent" if v is None else u"%s" % (v,)


def boot(e):
    """(value, file, text): what the host boots with today for a key, observed before any change.

    The file is the one that sets the key (source_before); with none, the kernel's default applies at boot: its
    number when tcp_sysctl reports it (kernel_default) and where it was read (kernel_default_source, a fresh
    network namespace), else why it is unknown (kernel_default_source). Results from before kernel_default existed say only that it is the kernel's default."""
    if e.get("persisted_before_unknown"):
        return None, e.get("source_before"), u"unknown: %s" % e["persisted_before_unknown"]
    if e.get("source_before"):
        text = u"%s from %s" % (value(e.get("persisted_before")), e["source_before"])
        return e.get("persisted_before"), e["source_before"], text
    if e.get("kernel_default") is not None:
        return e["kernel_default"], None, u"%s, the kernel default (no file sets it; read in a %s)" % (
            e["kernel_default"], e.get("kernel_default_source") or "fresh network namespace")
    if "kernel_default" in e:
        return None, None, u"the kernel default, value unknown: %s (no file sets it)" % (
            e.get("kernel_default_source") or "not reported")
    return None, None, u"the kernel default (no file sets it)"


def overrides_var(profile):
    """The variable that changes one key of a profile for one host."""
    return "kt_sysctl_overrides" if profile == "kt_sysctl" else "%s_sysctl_overrides" % profile


def _same(a, b):
    """Two values the same once whitespace is normalised (tab-separated ranges read back from the kernel)."""
    return a is not None and b is not None and (u"%s" % (a,)).split() == (u"%s" % (b,)).split()


def boot_problem(e):
    """What is wrong with a key at boot: "boot-time drift", or, when no file sets it and the kernel's default is
    the value the profile would set, that nothing persists it (still drift: a later kernel may change it)."""
    if not e.get("source_before") and e.get("kernel_default") is not None \
            and _same(e["kernel_default"], e.get("desired")):
        return u"not persisted: no file sets it; the kernel default %s happens to match" % e["kernel_default"]
    return "boot-time drift"


def problems(e):
    """What is wrong with one key, in words: overridden by a file, runtime drift, boot-time drift."""
    out = []
    if e["status"] == "overridden":
        out.append(u"overridden by %s, which sets %s at boot" % (e.get("overridden_by"), value(e.get("persisted"))))
    if e.get("runtime_drift"):
        out.append("runtime drift")
    if e.get("persisted_unknown"):
        out.append(u"value at boot unknown: %s" % e["persisted_unknown"])
    elif e.get("persisted_drift") and e["status"] != "overridden":
        out.append(boot_problem(e))
    if e["status"] == "read_only":
        out.append("read-only on this host")
    return out


def _why_later(path):
    """Why PATH wins at boot, in words: ufw's and tuned's files run after the sysctl applier (services.py)."""
    if path.startswith("/etc/ufw/"):
        return ("ufw's boot script applies it after the sysctl files; or point IPT_SYSCTL in /etc/default/ufw "
                "at another file")
    if path.endswith("/tuned.conf") and path.startswith(("/etc/tuned/", "/usr/lib/tuned/")):
        return "tuned applies this profile at boot after the sysctl files; change it in a profile under /etc/tuned"
    return "a later file wins at boot"


# The files the profile roles write: /etc/sysctl.d/80-kerneltune-<profile>.conf, 85-kerneltune-sysctl.conf (kt_sysctl).
_MANAGED = re.compile(r"^\d+-kerneltune-(.+)\.conf$")


def managed_profile(path, files=None):
    """The profile whose kerneltune-managed file PATH is (from the audited results' paths, else the role's file
    name), or None for a file kerneltune does not manage."""
    if path in (files or {}):
        return files[path]
    m = _MANAGED.match(os.path.basename(u"%s" % (path,)))
    if not m:
        return None
    name = "kt_sysctl" if m.group(1) == "sysctl" else m.group(1)
    # Only a profile role writes such a name: the module's own default (90-kerneltune-tcp.conf) or a file a user
    # named after the pattern is no profile, and a fix must not tell anyone to run a role that does not exist.
    return name if name in profile_lookup.names() else None


def host_context(profiles):
    """What one host's profiles say about each other: {"files": {path: profile}, "bounds": {key: [(profile,
    bound text)]}} from their tcp_sysctl results."""
    files, bounds = {}, {}
    for prof in profiles:
        res = prof.get("result") or {}
        if res.get("path"):
            files[res["path"]] = prof.get("profile")
        for e in res.get("settings", []) or []:
            b = e.get("bounds")
            if isinstance(b, dict) and b.get("text"):
                bounds.setdefault(e["key"], []).append((prof.get("profile"), b["text"]))
    return {"files": files, "bounds": bounds}


def other_bounds(e, profile, ctx):
    """The other profiles' bounds on this key on this host, in words ("high_outbound_client's bound <= 15"): the
    value is set within all of them, so one of them may decide it."""
    if not (isinstance(e.get("bounds"), dict) and e["bounds"].get("text")):
        return []
    return [u"%s's bound %s" % (p, t) for p, t in ((ctx or {}).get("bounds") or {}).get(e["key"], []) if p != profile]


def wanted_text(e, profile, ctx=None):
    """What the profile wants, with the other profiles' bounds on the key when there are any."""
    others = other_bounds(e, profile, ctx)
    w = want(e)
    return u"%s, with %s" % (w, ", ".join(others)) if others else w


def key_fix(e, profile, ctx=None):
    """The fix for one key that is not what its profile wants. Never to edit a kerneltune-managed file by hand."""
    if e["status"] == "overridden":
        owner = managed_profile(e.get("overridden_by"), (ctx or {}).get("files"))
        if owner is not None and isinstance(e.get("bounds"), dict):
            return (u"re-run the profile whose file holds the stale line: run the role kerneltune.tcp.%s on this "
                    "host (%s sets %s at boot; a run rewrites it within every kerneltune.tcp profile's bound on %s); "
                    "do not edit a kerneltune-managed file by hand" % (
                        owner, e.get("overridden_by"), value(e.get("persisted")), e["key"]))
        if owner is not None:
            return (u"%s and %s both set %s and %s's file wins at boot with %s: give the host one value in %s or "
                    "%s (or make it a bound in both); do not edit a kerneltune-managed file by hand" % (
                        owner, profile, e["key"], owner, value(e.get("persisted")), overrides_var(owner),
                        overrides_var(profile)))
        if _MANAGED.match(os.path.basename(u"%s" % (e.get("overridden_by") or "",))):
            return (u"%s is written by a tcp_sysctl task of your own, not by a profile role: change that task's "
                    "settings for %s, or, if %s is right for this host, set it in %s; do not edit a "
                    "kerneltune-managed file by hand" % (e.get("overridden_by"), e["key"], value(e.get("persisted")),
                                                         overrides_var(profile)))
        return (u"remove %s from %s (%s), or, if %s is right for this host, set it in %s"
                % (e["key"], e.get("overridden_by"), _why_later(e.get("overridden_by") or ""),
                   value(e.get("persisted")), overrides_var(profile)))
    if e["status"] == "read_only":
        return (u"%s cannot be written on this host: set it where its network namespace is made, or drop it "
                "for this host with %s: {%s: null}" % (e["key"], overrides_var(profile), e["key"]))
    return u"apply the profile: run the role kerneltune.tcp.%s on this host" % profile


def profile_error_fix(profile):
    """The fix for a profile that could not be checked on a host."""
    return "%s could not be checked: correct the error above, then audit again" % profile


def key_row(e, profile, ctx=None):
    """One key that is not as wanted: wanted, running, at boot (and the file), what is wrong, the fix. ctx: the
    host's other profiles (host_context)."""
    b_value, b_file, b_text = boot(e)
    return {"profile": profile, "key": e["key"], "wanted": wanted_text(e, profile, ctx), "running": e.get("runtime"),
            "boot": b_value, "boot_source": b_file, "boot_text": b_text, "problems": problems(e),
            "fix": key_fix(e, profile, ctx)}


# --------------------------------------------------------------------------
# Notes: information that does not change the verdict
# --------------------------------------------------------------------------

NOTE_KINDS = ("records_missing", "shadowed")


def records_missing_note(f, profile):
    """tcp_sysctl's records_missing finding as a note: a managed file an earlier release wrote, without records."""
    return {"profile": profile, "kind": "records_missing", "key": None,
            "text": u"records missing: %s" % f.get("message"),
            "fix": u"run the role kerneltune.tcp.%s on this host once: state=present records the file's keys as "
                   "adopted (and writes the bound comment lines an earlier release did not; --check --diff shows "
                   "every change first), so that removing the profile later puts back the values the "
                   "host boots with (docs/tcp_sysctl.md, records)" % profile}


def shadowed_note(e, profile, ctx=None):
    """A key's shadowed definitions as a note: other files set it to another value and lose at boot."""
    lost = u", ".join(u"%s in %s (line %s)" % (value(d.get("value")), d.get("path"), d.get("line"))
                      for d in e["shadowed"])
    if e.get("source_before"):
        winner = u"%s from %s" % (value(e.get("persisted_before")), e["source_before"])
    else:
        winner = boot(e)[2]
    paths = [d.get("path") for d in e["shadowed"]]
    files = (ctx or {}).get("files")
    owners = [o for o in (managed_profile(x, files) for x in paths) if o]
    if owners:
        # kerneltune.tcp files disagree on the key: the runs merge every profile's bound; the winner's first.
        owners = [o for o in [managed_profile(e.get("source_before"), files)] + owners if o]
        owners = [o for i, o in enumerate(owners) if o not in owners[:i]]
        fix = (u"re-run %s (role%s %s): a run rewrites its profile's kerneltune-managed file within every "
               "profile's bound on %s; do not edit a kerneltune-managed file by hand" % (
                   " and ".join(owners), "s" if len(owners) > 1 else "",
                   ", ".join("kerneltune.tcp.%s" % o for o in owners), e["key"]))
    else:
        own = sorted(set(x for x in paths if _MANAGED.match(os.path.basename(u"%s" % (x,)))))
        foreign = sorted(set(paths) - set(own))
        steps = []
        if foreign:
            steps.append(u"remove the line from %s or make it the value that wins (a package's file in /usr/lib: "
                         "put a file of the same name without the line in /etc/sysctl.d)" % ", ".join(foreign))
        if own:
            steps.append(u"change the settings of the tcp_sysctl task of your own that writes %s (not a profile "
                         "role's file; do not edit it by hand)" % ", ".join(own))
        fix = u"nothing changes at boot today; if an auditor reads every file, or before the file that wins goes, %s" % (
            "; and ".join(steps))
    return {"profile": profile, "kind": "shadowed", "key": e["key"],
            "text": u"shadowed: %s is also set to %s, which lose%s at boot to %s" % (
                e["key"], lost, "" if len(e["shadowed"]) > 1 else "s", winner),
            "fix": fix}


def note_line(n):
    """A note in one line of plain text: what it is, then the fix."""
    return u"%s: %s; fix: %s" % (n["profile"], n["text"], n["fix"])


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

def _add_note(h, note):
    if all(n["text"] != note["text"] for n in h["notes"]):
        h["notes"].append(note)


def _add_profile(h, prof, ctx=None):
    """A profile's errors, refusals and settings into the host's lists, its keys, its fixes and its notes."""
    name = prof["profile"]
    res = prof.get("result") or {}
    h["profiles"].append(name)
    refused = [f["message"] for f in res.get("findings", []) if f.get("severity") == "error"]
    if prof.get("error"):
        # The module's message for refused settings is their findings' messages (rules.error_summary), named below
        # one by one: not twice.
        summary = "%d settings refused: %s" % (len(refused), "; ".join(refused))
        if not refused or prof["error"] not in (refused[0], summary):
            h["errors"].append("%s: %s" % (name, prof["error"]))
        h["fix"].append(profile_error_fix(name))
    for f in res.get("findings", []):
        if f.get("severity") == "error":
            h["errors"].append("%s: %s" % (name, f["message"]))
            h["fix"].append("%s: rule %s refused a value: correct it for this host in %s (or %s_settings)" % (
                name, f.get("rule"), overrides_var(name), "kt_sysctl" if name == "kt_sysctl" else name))
        elif f.get("rule") == "records_missing":
            _add_note(h, records_missing_note(f, name))
    for e in res.get("settings", []):
        if e.get("shadowed") and e["status"] != "unsupported":
            _add_note(h, shadowed_note(e, name, ctx))
        item = dict(e, profile=name)
        if e["status"] == "overridden":
            h["overridden"].append(item)
        elif e["status"] == "unsupported":
            h["unsupported"].append(item)
            continue
        elif e["status"] in ("drift", "read_only"):
            if e.get("runtime_drift"):
                h["runtime_drift"].append(dict(item))
            if e.get("persisted_drift"):
                h["boot_drift"].append(dict(item))
        if e["status"] in ("overridden", "drift", "read_only"):
            row = key_row(e, name, ctx)
            h["keys"].append(row)
            if row["fix"] not in h["fix"]:
                h["fix"].append(row["fix"])


def _status(h, mode="info"):
    """The host's one status: the first of STATUSES that applies."""
    if h["errors"] and h["reachable"]:
        return "error"
    if not h["reachable"]:
        return "unreachable"
    if h["keys"] or (mode == "fail" and h["namespaces"]["differ"]):
        return "not_compliant"
    return "compliant"


def _mark_changes(h, before, seen):
    """With a baseline, each drift marked new or still, and each key row with its drift's (new wins)."""
    rows = dict(((r["profile"], r["key"]), r) for r in h["keys"])
    for kind in DRIFT_KINDS:
        for e in h[kind]:
            i = _drift_id(h["host"], kind, e)
            seen.add(i)
            e["change"] = "still" if i in before else "new"
            row = rows.get((e["profile"], e["key"]))
            if row is not None and row.get("change") != "new":
                row["change"] = e["change"]


def _audit_host(host, rec, before, seen, mode="info"):
    """One host's verdict from its record; with a baseline (before), each drift marked new or still; MODE: what
    drift in its other network namespaces means (audit_namespaces.MODES)."""
    h = {"host": host, "reachable": True, "profiles": [], "runtime_drift": [], "boot_drift": [],
         "overridden": [], "errors": [], "unsupported": [], "resolved": [], "keys": [], "fix": [], "notes": []}
    if rec is None or rec.get("unreachable") or any(p.get("unreachable") for p in rec.get("profiles", [])):
        h["reachable"] = False
        why = [p.get("error") for p in (rec or {}).get("profiles", []) if p.get("unreachable")]
        h["errors"].append("unreachable" + (": %s" % why[0] if why and why[0] != "unreachable" else ""))
        h["fix"].append("make the host reachable (ansible -m ping %s), then audit it again" % host)
    elif not rec.get("profiles"):
        h["errors"].append(NO_PROFILE)
        h["fix"].append("put the host in a group named after a profile, map one of its groups to a profile with "
                        "kt_audit_group_profiles, or name its profiles with kt_audit_profiles")
    else:
        ctx = host_context(rec.get("profiles", []))
        for prof in rec.get("profiles", []):
            _add_profile(h, prof, ctx)
    h["namespaces"] = audit_namespaces.host_section((rec or {}).get("profiles", []) if h["reachable"] else [])
    unjudged = audit_namespaces.unjudged(h["namespaces"]) if mode == "fail" and h["reachable"] else None
    if unjudged:
        h["errors"].append(unjudged)
        h["fix"].append(audit_namespaces.UNJUDGED_FIX)
    if before is not None:
        _mark_changes(h, before, seen)
    h["status"] = _status(h, mode)
    h["compliant"] = h["status"] == "compliant"
    h["reasons"] = [k for k in REASONS if h[k]] if h["reachable"] else []
    if mode == "fail" and h["status"] == "not_compliant" and h["namespaces"]["differ"]:
        h["reasons"].append(audit_namespaces.REASON)
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

def _counts(out):
    """The one set of counts: every host once, by its status."""
    counts = {"hosts": len(out)}
    counts.update((s, sum(1 for h in out if h["status"] == s)) for s in STATUSES)
    return counts


def _reasons(out, mode="info"):
    """How many of the not compliant hosts have each reason (a host can have several); namespace_drift only when
    namespace drift fails the host (mode fail)."""
    reasons = REASONS + ((audit_namespaces.REASON,) if mode == "fail" else ())
    return dict((r, sum(1 for h in out if h["status"] == "not_compliant" and r in h["reasons"])) for r in reasons)


def _drifted_keys(out):
    """[{key, hosts}]: each key that is not as wanted, by the number of hosts it is so on, most first."""
    keys = {}
    for h in out:
        for k in set(r["key"] for r in h["keys"]):
            keys[k] = keys.get(k, 0) + 1
    return [{"key": k, "hosts": n} for k, n in sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))]


def _notes(out):
    """How many notes the hosts have (information that does not change the verdict), on how many hosts, by kind."""
    notes = [n for h in out for n in h["notes"]]
    counts = {"notes": len(notes), "hosts": sum(1 for h in out if h["notes"])}
    counts.update((k, sum(1 for n in notes if n["kind"] == k)) for k in NOTE_KINDS)
    return counts


def _changes(out, resolved):
    allitems = [e for h in out for kind in DRIFT_KINDS for e in h[kind]]
    return {"new": sum(1 for e in allitems if e["change"] == "new"),
            "still": sum(1 for e in allitems if e["change"] == "still"),
            "resolved": len(resolved)}


def _passed(out, counts, changes, fail_on):
    if not out:
        return False
    if fail_on == "new" and changes is not None:
        return counts["unreachable"] + counts["error"] == 0 and changes["new"] == 0
    return counts["compliant"] == counts["hosts"]


def _context(context, out):
    """What was audited: the collection's version, the host pattern and --limit, the profiles."""
    context = context or {}
    profiles = []
    for h in out:
        profiles += [p for p in h["profiles"] if p not in profiles]
    return {"collection_version": context.get("collection_version") or common.collection_version(),
            "pattern": context.get("pattern"), "limit": context.get("limit") or None,
            "profiles": sorted(str(p) for p in profiles if p is not None)}


def audit_summary(records, hosts, baseline=None, fail_on="any", context=None, namespaces="info"):
    """Per-host verdicts and the fleet's counts from the audit records.

    records: {host: {"profiles": [{profile, result, error?, unreachable?}], "unreachable": bool?}}
    hosts: every host the audit was meant to reach (hosts without a record are unreachable).
    baseline: a previous audit.json (dict): every drift is marked new, still or resolved.
    fail_on: "any" (every drift fails) or "new" (drift already in the baseline does not).
    context: optional {"pattern": the audit's host pattern, "limit": --limit (ansible_limit),
    "collection_version": defaults to this collection's}; the profiles come from the records.
    namespaces: what drift in the hosts' other network namespaces means, "off", "info" or "fail"
    (audit_namespaces.MODES).
    """
    before = _previous_drift(baseline) if baseline is not None else None
    seen = set()
    out = [_audit_host(host, records.get(host), before, seen, namespaces) for host in sorted(set(hosts))]
    changes = None
    if before is not None:
        changes = _changes(out, _resolve(before, seen, out))
    counts = _counts(out)
    return {"hosts": out, "counts": counts,
            "pass_percent": round(100.0 * counts["compliant"] / counts["hosts"], 1) if out else 0.0,
            "reasons": _reasons(out, namespaces), "drifted_keys": _drifted_keys(out), "changes": changes,
            "notes": _notes(out), "namespaces": audit_namespaces.summary_counts(out, namespaces),
            "passed": _passed(out, counts, changes, fail_on), "fail_on": fail_on, "context": _context(context, out)}


def failing_first(summary):
    """The hosts in the order the reports list them: by status (STATUSES), then by name."""
    return sorted(summary["hosts"], key=lambda h: (STATUSES.index(h["status"]), h["host"]))


def percent(p):
    """A pass percentage as the reports write it: 40, 99.9, 100."""
    text = "%.1f" % p
    return text[:-2] if text.endswith(".0") else text


def counts_sentence(summary):
    """The summary line every human-readable report shows, from summary["counts"] only."""
    c = summary["counts"]
    return "%d of %d hosts compliant (%s%%): %d not compliant, %d with errors, %d unreachable." % (
        c["compliant"], c["hosts"], percent(summary["pass_percent"]),
        c["not_compliant"], c["error"], c["unreachable"])


def reasons_sentence(summary):
    """Why the not compliant hosts are not (a host can have several reasons), or None when none is."""
    if not summary["counts"]["not_compliant"]:
        return None
    r = summary["reasons"]
    words = dict(REASON_WORDS, **{audit_namespaces.REASON: audit_namespaces.REASON_WORDS})
    return "Of the %d not compliant hosts: %s (a host can have more than one)." % (
        summary["counts"]["not_compliant"], ", ".join("%d with %s" % (r[k], words[k]) for k in
                                                      REASONS + (audit_namespaces.REASON,) if k in r))


def audit_gate(summary):
    """Why the audit gate fails (without the report directory), or None when it passes."""
    if summary["passed"]:
        return None
    c = summary["counts"]
    if summary["fail_on"] == "new" and summary["changes"] is not None:
        return "audit failed: %d new drift since the baseline, %d hosts with errors, %d unreachable" % (
            summary["changes"]["new"], c["error"], c["unreachable"])
    return "audit failed: %d of %d hosts fail the audit: %d not compliant, %d with errors, %d unreachable" % (
        c["hosts"] - c["compliant"], c["hosts"], c["not_compliant"], c["error"], c["unreachable"])


def audit_task_result(summary):
    """What the fleet_report task returns for an audit (and set_stats publishes): the one set of counts, the pass
    percentage, the reasons, the failing hosts by status, baseline changes, what was audited, the verdict."""
    s = summary
    return {"summary": {"counts": s["counts"], "pass_percent": s["pass_percent"], "reasons": s["reasons"],
                        "notes": s["notes"], "namespaces": s["namespaces"], "passed": s["passed"], "changes": s["changes"], "fail_on": s["fail_on"],
                        "context": s["context"],
                        "failing": dict((st, [h["host"] for h in s["hosts"] if h["status"] == st])
                                        for st in STATUSES if st != "compliant")}}


# --------------------------------------------------------------------------
# Earlier audits: baseline and merge
# --------------------------------------------------------------------------

def _host_entry_ok(h):
    return isinstance(h, dict) and isinstance(h.get("host"), str) and all(
        isinstance(h.get(kind, []), list) and all(isinstance(e, dict) and "key" in e for e in h.get(kind, []))
        for kind in DRIFT_KINDS)


def load_audit(path, option="baseline"):
    """A previous audit.json, checked enough to use as baseline or merge input. Errors name the option (baseline or
    merge), the file and the reason."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, IOError) as e:
        raise common.ReportError("%s: %s: cannot read: %s" % (option, path, e.strerror))
    except ValueError as e:  # not UTF-8 (a gzip file, UTF-16 from a PowerShell redirect)
        raise common.ReportError("%s: %s: not JSON: %s" % (option, path, e))
    if not text.strip():
        raise common.ReportError("%s: %s: the file is empty, not an audit.json" % (option, path))
    try:
        data = json.loads(text)
    except ValueError as e:
        raise common.ReportError("%s: %s: not JSON: %s" % (option, path, e))
    if not isinstance(data, dict) or data.get("kind") != "audit" or not isinstance(data.get("hosts"), list) \
            or not isinstance(data.get("records"), dict):
        raise common.ReportError("%s: %s: not an audit.json written by kerneltune.tcp.fleet_report" % (option, path))
    if data.get("schema_version") not in READS:
        raise common.ReportError("%s: %s: schema_version %r; this collection reads audit.json schema_version %s"
                                 % (option, path, data.get("schema_version"), " or ".join(str(v) for v in READS)))
    for h in data["hosts"]:
        if not _host_entry_ok(h):
            raise common.ReportError("%s: %s: host entry %s does not have the audit.json shape "
                                     "(docs/schemas/audit.schema.json)" % (option, path, json.dumps(h)[:80]))
    return data


def merge_audits(paths):
    """(records, hosts) from several audit.json files, e.g. one per job slice."""
    records, hosts, origin = {}, [], {}
    for path in paths:
        data = load_audit(path, "merge")
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
