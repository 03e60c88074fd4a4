# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's verdict (controller side): each host's result from the record playbooks/rollout.yml keeps
(rollout_host), the fleet's verdict with where and why the rollout halted (rollout_summary), and the gate's
words (rollout_gate)."""

from __future__ import annotations

ROLLOUT_STATUSES = ("kept", "unchanged", "would_change", "recovered_verified", "restored", "batch_restored",
                    "recovered_restored", "not_touched", "pending", "unreachable", "error")
ROLLOUT_RESULTS = {
    "kept": "changed and kept",
    "recovered_verified": "recovered: verified now",
    "recovered_restored": "recovered: restored",
    "pending": "not reached yet: the run has not finished",
    "unchanged": "unchanged",
    "would_change": "would change (check mode)",
    "restored": "failed a check and restored",
    "batch_restored": "restored because its batch failed",
    "not_touched": "not touched because the rollout stopped",
    "unreachable": "unreachable",
    "error": "error",
}
_ROLLOUT_OK = ("kept", "unchanged", "would_change", "recovered_verified")
# Sorts hosts without a batch number after every batch.
_NO_BATCH = 1 << 30


def _flag(value):
    """A boolean from a record, also when a controller templated it to a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _pct(value):
    return "%g%%" % float(value or 0)


def _check(text):
    """A failed check, "name: message", as {check, message}."""
    name, sep, message = u"%s" % (text,), "", ""
    if ": " in name:
        name, sep, message = name.partition(": ")
    return {"check": name, "message": message if sep else name}


# --------------------------------------------------------------------------
# What a restore did
# --------------------------------------------------------------------------

def _restore_text(r):
    if r.get("source") is None:
        return "%s: left at %s (no file sets it, no value recorded)" % (r.get("key"), r.get("runtime"))
    return "%s: %s from %s" % (r.get("key"), r.get("value"), r.get("source"))


def _restore_lines(restore):
    """What a restore did, line by line, for every report."""
    lines = list(restore["runtime_changes"]) + [_restore_text(r) for r in restore["restore"]]
    if restore["failed"]:
        lines.append("restore failed: %s" % (restore["msg"] or "failed"))
    prev = restore["previous_version"]
    if prev is not None:
        if prev["failed"]:
            lines.append("putting the earlier version of the file back failed: %s" % (prev["msg"] or "failed"))
        else:
            lines.append("earlier version of the file put back (%d keys)" % len(prev["settings"]))
            lines.extend(prev["runtime_changes"])
    return lines or ["nothing to restore"]


def _restore_view(restore):
    """A record's restore as the reports show it, with its lines."""
    prev = restore.get("previous_version")
    view = {"reason": restore.get("reason"), "changed": _flag(restore.get("changed")),
            "failed": _flag(restore.get("failed")) or _flag(restore.get("unreachable")),
            "msg": restore.get("msg") or "",
            "restore": list(restore.get("restore") or []),
            "runtime_changes": list(restore.get("runtime_changes") or []),
            "previous_version": None if not prev else {
                "settings": dict(prev.get("settings") or {}), "failed": _flag(prev.get("failed")),
                "msg": prev.get("msg") or "", "runtime_changes": list(prev.get("runtime_changes") or [])}}
    view["lines"] = _restore_lines(view)
    return view


# --------------------------------------------------------------------------
# One host: (status, error or None), in the order the play ran
# --------------------------------------------------------------------------

def _error_tail(h, rec):
    """After a failed task: what happened to the host's values."""
    if rec.get("restore"):
        prev = h["restore"]["previous_version"]
        ok = not h["restore"]["failed"] and not (prev and prev["failed"])
        return "; it was restored" if ok else "; restoring it failed"
    if "apply" not in rec:
        return ""  # the record of last resort: its error says what is known
    if not _flag((rec.get("apply") or {}).get("changed")):
        return "; nothing had been changed"
    return "; it was changed and not restored"


def _before_and_apply(h, rec):
    """The probe before the change and the change itself; None when the host was changed for real."""
    before, apply_ = rec.get("before") or {}, rec.get("apply") or {}
    if _flag(before.get("unreachable")):
        return "unreachable", "unreachable before the change: %s" % (before.get("msg") or "unreachable")
    if _flag(before.get("failed")):
        return "error", ("tcp_info: the probe before the change failed, nothing was changed: %s"
                         % (before.get("msg") or "failed"))
    if _flag(apply_.get("unreachable")):
        return "unreachable", "unreachable when applying the profile: %s" % (apply_.get("msg") or "unreachable")
    if _flag(apply_.get("failed")):
        return "error", "tcp_sysctl: %s" % (apply_.get("msg") or "failed")
    if _flag(apply_.get("skipped")) and h["checks"]:
        return "error", "not changed: a health check failed before the change"
    if not _flag(apply_.get("changed")):
        return "unchanged", None
    if _flag(rec.get("check_mode")):
        return "would_change", None
    return None


def _restore_outcome(h, restore):
    if _flag(restore.get("unreachable")):
        return "unreachable", "unreachable when restoring: %s" % (restore.get("msg") or "unreachable")
    if _flag(restore.get("failed")):
        return "error", "restore failed: %s" % (restore.get("msg") or "failed")
    prev = h["restore"]["previous_version"]
    if prev and prev["failed"]:
        return "error", "putting the earlier version of the file back failed: %s" % (prev["msg"] or "failed")
    return ("restored" if restore.get("reason") == "check" else "batch_restored"), None


def _recovery_outcome(h, rec):
    """A host an interrupted run left changed and unverified, checked again (and restored) by this run."""
    if rec.get("journal_error"):
        return "error", rec["journal_error"]
    if rec.get("error"):
        return "error", "recovering a change an interrupted run left unverified failed (%s)%s" % (
            rec["error"], _error_tail(h, dict(rec, apply={"changed": True})))
    if rec.get("restore"):
        status, error = _restore_outcome(h, rec["restore"])
        return ("recovered_restored", None) if error is None else (status, error)
    if h["checks"]:
        return "error", "a check failed and no restore was made"
    return "recovered_verified", None


def _outcome(h, rec, halted, halted_at, complete=True):
    if not _flag(rec.get("started")):
        if halted and (h["batch"] is None or halted_at is None or h["batch"] > halted_at):
            return "not_touched", None
        if not complete:
            return "pending", None
        return "error", "no record: the rollout play did not run on this host"
    if rec.get("recovery"):
        return _recovery_outcome(h, rec)
    if rec.get("error"):
        return "error", "the rollout's tasks failed on this host (%s)%s" % (rec["error"], _error_tail(h, rec))
    outcome = _before_and_apply(h, rec)
    if outcome is not None:
        return outcome
    if rec.get("restore"):
        return _restore_outcome(h, rec["restore"])
    if h["checks"]:
        return "error", "a check failed and no restore was made"
    return "kept", None


def _recovery_view(recovery):
    """What the journal of an interrupted run said: {profile, applied, collection_version}."""
    return {"profile": recovery.get("profile"), "applied": recovery.get("applied"),
            "collection_version": recovery.get("collection_version")}


def rollout_host(host, rec, halted, halted_at=None, complete=True):
    """One host's rollout verdict from its record (see playbooks/vars/rollout.yml, "kt_rollout_record_now")."""
    rec = rec or {}
    h = {"host": host, "batch": _int_or_none(rec.get("batch")), "status": None, "checks": [], "errors": [],
         "runtime_changes": [], "restore": None, "unmet": [], "recovery": None}
    h["checks"] = [_check(c) for c in rec.get("checks") or []]
    h["unmet"] = [dict(u) for u in rec.get("unmet") or []]
    h["runtime_changes"] = list((rec.get("apply") or {}).get("runtime_changes") or [])
    if rec.get("restore"):
        h["restore"] = _restore_view(rec["restore"])
    if rec.get("recovery"):
        h["recovery"] = _recovery_view(rec["recovery"])
    h["status"], error = _outcome(h, rec, halted, halted_at, complete)
    if error is not None:
        h["errors"].append(error)
    h["result"] = ROLLOUT_RESULTS[h["status"]]
    return h


# --------------------------------------------------------------------------
# The fleet
# --------------------------------------------------------------------------

def _halt_reason(rollout, halt, halted_at, by_host):
    failed = list(halt.get("failed") or [])
    why = []
    for name in failed:
        h = by_host.get(name)
        what = sorted(set(c["check"] for c in h["checks"])) if h else []
        if h and not what:
            what = [h["status"]]
        why.append("%s: %s" % (name, ", ".join(what) or "failed"))
    where = ("hosts an interrupted run left changed and unverified" if halted_at == 0
             else "hosts of batch %s" % halted_at)
    return "%d of %d %s failed (%s), more than kt_rollout_max_fail_percentage (%s)" % (
        len(failed), len(halt.get("hosts") or []), where, "; ".join(why),
        _pct(halt.get("max_fail_percentage", rollout.get("max_fail_percentage"))))


def rollout_summary(records, hosts, rollout):
    """The rollout's verdict. rollout: {profile, check_mode, halted, halt: {batch, hosts, failed,
    max_fail_percentage} or None, batches, max_fail_percentage, complete}. Batch 0 is the recovery of the hosts an
    interrupted run left changed and unverified; complete is false in the reports written after each batch."""
    rollout = rollout or {}
    halted = _flag(rollout.get("halted"))
    complete = _flag(rollout.get("complete", True))
    halt = rollout.get("halt") or {} if halted else {}
    halted_at = _int_or_none(halt.get("batch")) if halted else None
    out = [rollout_host(h, records.get(h), halted, halted_at, complete) for h in sorted(set(hosts))]
    # Inventory order within a batch would be nicer to read, but batch then name is stable.
    out.sort(key=lambda h: (h["batch"] if h["batch"] is not None else _NO_BATCH, h["host"]))
    status = dict((s, sum(1 for h in out if h["status"] == s)) for s in ROLLOUT_STATUSES)
    # Batches planned: the last batch number a host was given (a host never touched still has its batch).
    batches = max([h["batch"] for h in out if h["batch"] is not None] or [0])
    reason = _halt_reason(rollout, halt, halted_at, {h["host"]: h for h in out}) if halted else None
    passed = complete and bool(out) and not halted and all(h["status"] in _ROLLOUT_OK for h in out)
    return {"profile": rollout.get("profile"), "check_mode": _flag(rollout.get("check_mode")), "complete": complete,
            "batch_sizes": list(rollout.get("batches") or []),
            "max_fail_percentage": float(rollout.get("max_fail_percentage") or 0),
            "passed": passed, "halted": halted, "halted_at_batch": halted_at, "halt_reason": reason,
            "batches": batches, "status": status, "hosts": out}


def halt_place(summary):
    """Where the rollout halted, in words."""
    if summary["halted_at_batch"] == 0:
        return "before batch 1, recovering an interrupted run"
    return "at batch %s" % summary["halted_at_batch"]


def rollout_gate(summary):
    """Why the rollout gate fails (without the report directory), or None when it passes."""
    if summary["passed"]:
        return None

    def names(*statuses):
        return ", ".join(h["host"] for h in summary["hosts"] if h["status"] in statuses)
    parts = []
    for label, statuses in (("restored", ("restored", "batch_restored")),
                            ("recovered and restored", ("recovered_restored",)), ("unreachable", ("unreachable",)),
                            ("errors", ("error",)), ("not touched", ("not_touched",)), ("pending", ("pending",))):
        n = names(*statuses)
        if n:
            parts.append("%s: %s" % (label, n))
    if summary["halted"]:
        head = "rollout halted %s: %s" % (halt_place(summary), summary["halt_reason"])
    elif not summary.get("complete", True):
        head = "rollout incomplete: these reports were written after a batch, the run has not finished"
    elif not summary["hosts"]:
        head = "rollout failed: no host"
    else:
        head = "rollout failed"
    return "; ".join([head] + parts)


def rollout_task_result(summary):
    """What the fleet_report task returns for a rollout: the verdict, the halt, the hosts by result."""
    s = summary
    return {"summary": {
        "passed": s["passed"], "halted": s["halted"], "halted_at_batch": s["halted_at_batch"],
        "halt_reason": s["halt_reason"], "check_mode": s["check_mode"], "profile": s["profile"],
        "complete": s["complete"],
        "status": s["status"],
        "hosts": dict((st, [h["host"] for h in s["hosts"] if h["status"] == st]) for st in ROLLOUT_STATUSES)}}
