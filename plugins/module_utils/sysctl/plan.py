# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The planner of kerneltune.tcp.tcp_sysctl: everything a run would do, without doing it.

plan(Request) runs the stages: parse_settings (names, values) -> read_state
(/proc/sys) -> BootModel and the kernel defaults (defaults.kernel_defaults, one
fork) -> resolve_bounds (one value per bounded key, within every kerneltune
file's bounds) -> NAT -> check_keys -> check_values -> the file's new text ->
the BootModel after it -> plan_keys (status, drift, ordered runtime writes).
plan_removal is state=absent: the file goes and, with restore=boot or
previous, the running values go back.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import collections
import os

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import bounds as bounds_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import defaults
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import rules
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import services
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.bootmodel import BootModel, sets_text
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.errors import SysctlError

# One run's request. restore (state=absent only): "boot" sets each key our file
# set (or that RECORDS, this file's records, name) to what the other files set
# at boot, else to the kernel's default, else to its recorded value; "previous"
# to its recorded value; "none" leaves the running values.
# inherited: {key: value before any of our files first changed it}, this file's
# records over those of the other managed files (records.first_records).
# nat_result: NAT detection's result, or nat_detect() to get it once the names
# and values are valid. listeners {port: inode} and owners(inodes) stand in for
# the host's sockets; applier_versions for the appliers' binaries; fresh_reader
# stands in for a fresh network namespace (defaults.kernel_defaults). writable_as_root: a check-mode
# run without root judges whether a key can be written as root would (rules.writable).
Request = collections.namedtuple("Request", (
    "settings", "path", "state", "apply", "nat", "skip_missing", "allow", "applier", "proc_root", "boot_root",
    "nat_result", "listeners", "owners", "kernel_release", "applier_versions", "nat_detect", "restore", "records",
    "inherited", "fresh_reader", "writable_as_root"), defaults=(
    None, None, "present", True, "auto", (), (), None, procsys.PROC_SYS, "",
    None, None, None, None, None, None, "none", None, None, None, False))
# The requested keys: {key: value (None for a bound until resolved)}, {key: parts}, {key: bounds}.
# merged: {key: the intersection of every kerneltune file's bound on it} (resolve_bounds).
Wanted = collections.namedtuple("Wanted", "desired parts_of bounds merged", defaults=(None,))
# The running kernel: {key: value}, {key: present | missing | unreadable}.
Running = collections.namedtuple("Running", "runtime presence")


def plan(req):
    """Everything a run would do, stage by stage. Raises SysctlError on a refusal.

    Returns a dict: entries (per key), findings, new_text, old_text,
    file_changed, runtime_changes (ordered), restore, nat, applier, kernel.
    """
    rules.validate_allow(req.allow)
    findings = rules.Findings(req.allow)
    req = req._replace(skip_missing=skip_keys(req.skip_missing))
    if req.state == "absent":
        return plan_removal(req, findings)
    return plan_present(req, findings)


def not_probed(declared, reason):
    """nat.detect's result when detection was not run because no answer depends on it: detected is None (not
    known). Here, not in nat.py: a run that does not detect NAT does not import (compile) the detection."""
    return {"detected": None, "declared": declared, "evidence": [], "hints": [], "sources": [], "counts": {},
            "not_probed": reason}


def skip_keys(skip_missing):
    """skip_missing as canonical keys; SysctlError naming a bad one."""
    skip = set()
    for k in skip_missing or ():
        try:
            skip.add(keys.parse_key(k)[0])
        except keys.KeyNameError as e:
            raise SysctlError("skip_missing: %s" % e)
    return frozenset(skip)


def plan_present(req, findings):
    """state=present: the file's new text, each key's entry and the runtime writes."""
    wanted = parse_settings(req.settings, req.state, findings)
    running = read_state(wanted.parts_of, req.proc_root)
    model = BootModel(req.path, wanted.parts_of, running.runtime, req.applier, req.applier_versions, req.boot_root)
    kdefaults = defaults.kernel_defaults(wanted.parts_of, req.fresh_reader)
    old_text = render.read_file(req.path, req.boot_root)
    resolve_bounds(req, wanted, running, (model, kdefaults, old_text), findings)
    if findings.errors():
        raise SysctlError(rules.error_summary(findings), findings.items)
    nat_result = req.nat_result
    if nat_result is None and req.nat_detect is not None:
        # Only once the names and values are valid, and only when an answer depends on it: NAT decides
        # nothing but tcp_tw_recycle's rule (rules.check_keys).
        nat_result = req.nat_detect() if keys.RECYCLE in wanted.desired else not_probed(
            None, "no requested key depends on NAT (only net.ipv4.tcp_tw_recycle does)")
    nat = rules.nat_state(req.nat, nat_result)
    skipped = rules.check_keys(req, wanted, running, nat, findings)
    # A bounded key with no running value (missing, unreadable) has no value to check or write.
    active = {k: v for k, v in wanted.desired.items() if skipped.get(k) != "unsupported" and v is not None}
    rules.check_values(active, running.runtime, findings, req.listeners, req.owners)
    if findings.errors():
        raise SysctlError(rules.error_summary(findings), findings.items, nat=nat.info)
    new_text = render.render_file(active, skipped, wanted.bounds)
    targets = dict((k, active[k]) for k in wanted.merged if k in active)
    kept = render.file_keys(new_text)
    dropped = dict((k, p) for k, p in render.file_keys(old_text).items() if k not in kept)
    records = (req.inherited if req.inherited is not None else req.records) or {}
    others = rewrite_others(req, model, targets, dropped, (kdefaults, records))
    model.finish(new_text, others[0])
    model.file_findings(req.path, req.state, findings)
    entries, runtime_changes = plan_keys(req, wanted, running, skipped, model, findings, kdefaults)
    out = {
        "entries": entries,
        "findings": findings.items,
        "old_text": old_text,
        "new_text": new_text,
        "file_changed": old_text != new_text,
        "runtime_changes": runtime_changes,
        "restore": [],
        "nat": nat.info,
        # What each bounded key's running value is judged against, for namespaces.scan.
        "bounds_merged": dict(wanted.merged),
    }
    out.update(_others_result(model, others))
    out.update(model.summary())
    return out


def resolve_bounds(req, wanted, running, known, findings):
    """Stage 2b, each bounded key's one value (bounds.bound_value), within every kerneltune file's bound on it.

    known: (the BootModel, the kernel defaults, our file's old text). It starts from the value at boot without
    any kerneltune file's bounded line, else the kernel default, else the record; the intersection of the
    bounds goes to wanted.merged (what the running value is judged against).
    """
    if not wanted.bounds:
        return
    model, kdefaults, old_text = known
    others = model.kerneltune_bounds()
    at_boot = model.base_without_bounds()
    ours = render.file_values(old_text)
    records = (req.inherited if req.inherited is not None else req.records) or {}
    for key, b in sorted(wanted.bounds.items()):
        if running.presence.get(key) != "present":
            continue  # None: check_keys reports the key missing or unreadable; no value goes anywhere
        cur = running.runtime[key]
        if bounds_lib.clamp_value(key, b, cur) is None:
            findings.add("bounds", "error", key,
                         "%s: bounds (min, max) apply only to keys that hold one integer; the running value is %r"
                         % (key, cur))
            continue
        try:
            merged = bounds_lib.merge_bounds(key, (req.path, b), others.get(key, ()))
        except ValueError as e:
            findings.add("bounds_conflict", "error", key, str(e))
            continue
        boot = at_boot.get(wanted.parts_of[key])
        starts = (boot[0] if boot else None, kdefaults.get(key, (None,))[0], records.get(key))
        value = bounds_lib.bound_value(key, merged, starts, ours.get(key), cur)
        if value is None:
            findings.add("bounds", "error", key, _no_value(key, merged, cur))
            continue
        wanted.merged[key] = merged
        wanted.desired[key] = value


def rewrite_others(req, model, targets, rederive, known):
    """The other kerneltune files' bounded lines, each set to its key's one value: ({path: new text}, rewritten).

    TARGETS: {key: value} our run gives its bounded keys (resolve_bounds). REDERIVE: {key: parts} of keys our file
    stops setting (it is removed, or the key left its settings): their value comes from the remaining kerneltune
    bounds alone, by the same rule (bounds.bound_value from the value at boot without any kerneltune file's bounded
    line, else the kernel default, else the record). known: (the kernel defaults, the records).
    Only the assignments of a key the file holds a bound comment for are rewritten (render.rewrite_bounded): a value
    another file pinned exactly stays. rewritten: [{path, key, before, after}], sorted by path and key.
    """
    files = model.kerneltune_files()
    if not files or not (targets or rederive):
        return {}, []
    kdefaults, records = known
    want = dict(targets)
    bounded = model.kerneltune_bounds()
    need = dict((k, p) for k, p in rederive.items() if k in bounded and k not in want)
    if need:
        at_boot = model.base_without_bounds()
        missing = dict((k, p) for k, p in need.items() if k not in (kdefaults or {}))
        kdefaults = dict(kdefaults or {}, **(defaults.kernel_defaults(missing, req.fresh_reader) if missing else {}))
    for key, parts in sorted(need.items()):
        cur, presence = procsys.read_runtime(parts, req.proc_root)
        if presence != "present":
            continue
        try:
            merged = bounds_lib.merge_bounds(key, bounded[key][0], bounded[key][1:])
        except ValueError:
            continue  # the remaining files disagree: the next run that sets the key says so (bounds_conflict)
        boot = at_boot.get(parts)
        starts = (boot[0] if boot else None, kdefaults.get(key, (None,))[0], records.get(key))
        value = bounds_lib.bound_value(key, merged, starts, None, cur)
        if value is not None:
            want[key] = value
    new, rewritten = {}, []
    for path, text in sorted(files.items()):
        if os.path.islink(req.boot_root + path):
            continue  # a rename would replace the link with a file: never written through one
        out = text
        for key, value in sorted(want.items()):
            cur = render.bounded_value(out, key)
            if cur is None or values.normalize(key, cur) == values.normalize(key, value):
                continue
            out = render.rewrite_bounded(out, key, value)
            rewritten.append({"path": path, "key": key, "before": cur, "after": value})
        if out != text:
            new[path] = out
    return new, rewritten


def _others_result(model, others):
    """other_files ({path: (old text, new text)}) and rewritten for a plan's result."""
    files = model.kerneltune_files()
    return {"other_files": dict((p, (files[p], t)) for p, t in others[0].items()), "rewritten": others[1]}


def _no_value(key, b, cur):
    """Why bounds B leave KEY no value the module accepts."""
    target = bounds_lib.clamp_value(key, b, cur)
    if key == keys.PORT_RANGE:
        low, high = [int(w) for w in target.split()]
        return "%s: bounds %s leave no range from the running value %s (low %d above high %d)" % (
            key, bounds_lib.describe_bounds(b), cur, low, high)
    return "%s: bounds %s leave no value the module accepts from the running value %s" % (
        key, bounds_lib.describe_bounds(b), cur)


def parse_settings(settings, state, findings):
    """Stage 1, names and values, before anything is read: Wanted({key: value}, {key: parts}, {key: bounds}).

    A dict value is a bound ({min, max}; {low_min, low_max, high_min, high_max}
    for the port range): its key's value is None until resolve_bounds.

    Values are normalised as the kernel reads them (base 0: "015" is 13), so the
    file, the running value and the next run agree. Raises SysctlError on a refusal.
    """
    wanted = Wanted({}, {}, {}, {})
    if state != "present":
        return wanted
    if not settings:
        raise SysctlError("settings: at least one key is required when state=present")
    for raw_key in settings:
        try:
            key, parts = keys.parse_key(raw_key)
        except keys.KeyNameError as e:
            findings.add(e.rule, "error", str(raw_key), str(e))
            continue
        if key in wanted.desired:
            raise SysctlError("%s: given twice (as %s and another spelling)" % (key, raw_key))
        if _parse_value(wanted, key, settings[raw_key], findings):
            wanted.parts_of[key] = parts
    if findings.errors():
        raise SysctlError(rules.error_summary(findings), findings.items)
    return wanted


def _parse_value(wanted, key, raw, findings):
    """Put KEY's value (or bound) in WANTED; False with a finding when it is refused."""
    if isinstance(raw, dict):
        try:
            wanted.bounds[key] = bounds_lib.parse_bounds(key, raw)
        except ValueError as e:
            findings.add("bounds", "error", key, str(e))
            return False
        wanted.desired[key] = None  # resolved against the running value (resolve_bounds)
        return True
    text = values.value_to_text(raw)
    try:
        values.check_value_chars(key, text)
    except ValueError as e:
        findings.add("value_chars", "error", key, str(e))
        return False
    if not text.strip():
        findings.add("range", "error", key, "%s: value is empty; the kernel refuses an empty value" % key)
        return False
    wanted.desired[key] = " ".join(text.split()) if key == keys.RESERVED else values.normalize(key, text)
    return True


def read_state(parts_of, proc_root=procsys.PROC_SYS):
    """Stage 2, the running kernel: Running({key: value}, {key: presence}) for our keys and those the rules need."""
    runtime = {}
    presence = {}
    for key, parts in parts_of.items():
        runtime[key], presence[key] = procsys.read_runtime(parts, proc_root)
    for key in (keys.UNPRIV, keys.RESERVED, keys.TIMESTAMPS, keys.PORT_RANGE):
        if key not in runtime:
            runtime[key] = procsys.read_runtime(keys.key_to_path_parts(key), proc_root)[0]
    return Running(runtime, presence)


# --------------------------------------------------------------------------
# Per key: status, drift, sources, findings
# --------------------------------------------------------------------------

def plan_keys(req, wanted, running, skipped, model, findings, kdefaults=None):
    """Stage 5, per key: the entry (status, drift, sources, kernel default) and the runtime writes, in write order."""
    entries = []
    runtime_changes = []
    for key in sorted(wanted.desired):
        parts = wanted.parts_of[key]
        entry = _entry(req, key, wanted, running.runtime, skipped.get(key), model)
        entry["kernel_default"], entry["kernel_default_source"] = (kdefaults or {}).get(key, (None, None))
        _entry_findings(req, entry, parts, model, findings)
        if req.apply and req.state == "present" and entry["status"] == "drift" and entry["runtime_drift"] \
                and entry["desired"] is not None:
            runtime_changes.append((key, parts, entry["runtime"], entry["desired"]))
        entries.append(entry)
    return entries, render.write_order(runtime_changes, wanted.desired, running.runtime)


def _meets(key, want, b):
    def meets(value):
        # A bounded key is ok anywhere within its bounds; any other key at its value.
        if b is not None:
            return bounds_lib.within(key, b, value)
        return value is not None and values.normalize(key, value) == values.normalize(key, want)
    return meets


def _entry(req, key, wanted, runtime, status, model):
    """One key's entry in the result."""
    parts, want, b = wanted.parts_of[key], wanted.desired[key], wanted.bounds.get(key)
    meets = _meets(key, want, (wanted.merged or {}).get(key) or b)
    cur = runtime.get(key)
    e_after = model.after.get(parts)
    e_before = model.before.get(parts)
    # As the kernel would show it once applied (base-0 integers, whitespace).
    # A value of None with a source: that file makes the applier leave the
    # key alone (systemd: a "-key" line or a value the kernel refuses).
    runtime_drift = not meets(cur)
    persisted_drift = e_before is None or not meets(e_before[0])
    # ufw or tuned may make the value at boot unknown (services.py): then nothing claims it is ours.
    unknown = e_after[3] if e_after and len(e_after) > 3 else None
    overridden_by = None
    # A file wins at boot only when the applier reads it after ours (or masks ours). A file read BEFORE ours that
    # the model shows winning means the kernel refuses our value (allow: [range]): no override; the running value
    # is written, so the kernel judges it (a refusal rolls the run back).
    if status != "unsupported" and req.state == "present" and e_after and not meets(e_after[0]) \
            and (model.mask or (e_after[1] != req.path and model.applied_before(req.path, e_after[1]))) \
            and unknown is None:
        overridden_by = e_after[1]
    if status is None:
        if overridden_by:
            status = "overridden"
        elif runtime_drift or persisted_drift:
            status = "drift"
        else:
            status = "ok"
    return {
        "key": key,
        "desired": want,
        "runtime": cur,
        "persisted": e_after[0] if e_after else None,
        "source": e_after[1] if e_after else None,
        "persisted_before": e_before[0] if e_before else None,
        "source_before": e_before[1] if e_before else None,
        "runtime_drift": runtime_drift,
        "persisted_drift": persisted_drift,
        "overridden_by": overridden_by,
        "persisted_unknown": unknown,
        "persisted_before_unknown": e_before[3] if e_before and len(e_before) > 3 else None,
        "status": status,
        "bounds": dict(b, text=bounds_lib.describe_bounds(b)) if b else None,
    }


def _entry_findings(req, entry, parts, model, findings):
    """overridden and applier_disagree for one key's entry."""
    key, want, overridden_by, status = entry["key"], entry["desired"], entry["overridden_by"], entry["status"]
    e_after, e_other = model.after.get(parts), model.after_other.get(parts)
    if overridden_by and e_after[0] is None:
        findings.add("overridden", "warning", key,
                     "%s: %s makes %s leave the key unset at boot after %s (%s); the running value is left "
                     "alone" % (key, overridden_by, model.which, req.path, want))
    elif overridden_by:
        findings.add("overridden", "warning", key,
                     "%s: %s sets %s after %s (%s); it wins at boot, so the running value is left alone%s"
                     % (key, overridden_by, e_after[0], req.path, entry["bounds"]["text"] if entry["bounds"] else want,
                        services.fix_text(overridden_by, req.boot_root)))
    if entry["persisted_unknown"] and status not in ("unsupported", "read_only") and req.state == "present":
        findings.add("boot_unknown", "warning", key,
                     "%s: the value at boot is unknown: %s" % (key, entry["persisted_unknown"]))
    mine = e_after[0] if e_after else None
    theirs = e_other[0] if e_other else None
    if status not in ("unsupported", "read_only") and req.state == "present" \
            and (model.in_dirs or model.in_dirs_other) and mine != theirs:
        findings.add("applier_disagree", "warning", key,
                     "%s: %s would %s but %s would %s"
                     % (key, model.name(), sets_text(e_after), model.name(model.other), sets_text(e_other)))


# --------------------------------------------------------------------------
# state=absent
# --------------------------------------------------------------------------

def plan_removal(req, findings):
    """state=absent: remove our file and, with restore=boot or previous, plan the running values back."""
    old_text = render.read_file(req.path, req.boot_root)
    parts_of = render.file_keys(old_text)
    records = req.records or {}
    recorded = dict(req.inherited or {})
    recorded.update(records)
    for key in records:  # keys this file recorded, in the file or not any more
        try:
            k, parts = keys.parse_key(key)
        except keys.KeyNameError:
            continue  # a record the state file should not hold; never written to the kernel
        parts_of.setdefault(k, parts)
    running = read_state(parts_of, req.proc_root)
    model = BootModel(req.path, parts_of, running.runtime, req.applier, req.applier_versions, req.boot_root)
    # The other kerneltune files' bounded lines on our keys, by the rule once our bounds are gone.
    others = rewrite_others(req, model, {}, render.file_keys(old_text), ({}, recorded))
    model.finish(None, others[0])
    restore, changes, targets = [], [], {}
    if req.restore in ("boot", "previous"):
        kdefaults = {}
        if req.restore == "boot":
            kdefaults = defaults.kernel_defaults(
                {k: p for k, p in parts_of.items() if running.presence[k] == "present"}, req.fresh_reader)
        for key in sorted(parts_of):
            parts = parts_of[key]
            known = (model.after.get(parts), kdefaults.get(key), recorded.get(key))
            item, write = _restore_key(req, (key, parts), running, known, findings)
            restore.append(item)
            if write:
                targets[key] = item["value"]
                changes.append((key, parts, item["runtime"], item["value"]))
    if findings.errors():
        raise SysctlError(rules.error_summary(findings), findings.items)
    out = {
        "entries": [],
        "findings": findings.items,
        "old_text": old_text,
        "new_text": None,
        "file_changed": old_text is not None,
        "runtime_changes": render.write_order(changes, targets, running.runtime),
        "restore": restore,
        "nat": None,
    }
    out.update(_others_result(model, others))
    out.update(model.summary())
    return out


def _restore_key(req, key_parts, running, known, findings):
    """One key's restore entry, and whether its running value is to change.

    known: (what the other files set at boot, the kernel default (value, source), the value recorded before
    our first change).
    """
    key, parts = key_parts
    cur = running.runtime.get(key)
    if running.presence[key] != "present":
        return {"key": key, "runtime": None, "value": None, "source": None}, False
    if req.restore == "previous":
        target, source = _previous_target(key, cur, known[2], findings)
    else:
        target, source = _boot_target(key, cur, known, findings)
    item = {"key": key, "runtime": cur, "value": target, "source": source}
    if target is None or values.normalize(key, target) == values.normalize(key, cur):
        return item, False
    if not rules.writable(req, parts):
        if os.geteuid() != 0:
            why = "%s: not writable by uid %d (running value %s, to restore %s); run as root (become: " \
                  "true)" % (key, os.geteuid(), cur, target)
        else:
            why = "%s: read-only here (running value %s, to restore %s); nothing was changed. With " \
                  "restore=none the file is removed and the running values are left" % (key, cur, target)
        findings.add("read_only", "error", key, why)
        return item, False
    return item, True


# restore_unknown's words for why the kernel default is not known (defaults.SOURCE_* and the rest).
def _default_unknown(source):
    if source == defaults.SOURCE_GLOBAL:
        return "its kernel default is unknown (a global key: a fresh network namespace does not have it)"
    if source == defaults.SOURCE_COPIED:
        return "its kernel default is unknown (a fresh network namespace copies it from the host)"
    return "its kernel default is unknown (%s)" % source


def _boot_target(key, cur, known, findings):
    """(value, source) at boot once our file is gone: another file's, the kernel default, else the record."""
    other, kdefault, record = known
    if other and other[0] is not None:
        return other[0], other[1]
    if kdefault and kdefault[0] is not None and values.kernel_value(key, kdefault[0], cur) is not None:
        return values.kernel_value(key, kdefault[0], cur), "kernel default"
    if record is not None and values.kernel_value(key, record, cur) is not None:
        return values.kernel_value(key, record, cur), "recorded"
    why = _default_unknown(kdefault[1] if kdefault else "the key is not in this kernel's /proc/sys")
    if record is not None:
        findings.add("restore_unknown", "warning", key,
                     "%s: no remaining file sets it, %s and the recorded value %r is not one the kernel takes; the "
                     "running value %s is left as it is" % (key, why, record, cur))
    else:
        findings.add("restore_unknown", "warning", key,
                     "%s: no remaining file sets it, %s and no running value was recorded before "
                     "kerneltune.tcp.tcp_sysctl first set it; the running value %s is left as it is" % (key, why, cur))
    return None, None


def _previous_target(key, cur, record, findings):
    """(value, "recorded") from before kerneltune.tcp first changed KEY; (None, None) with a finding."""
    if record is not None and values.kernel_value(key, record, cur) is not None:
        return values.kernel_value(key, record, cur), "recorded"
    if record is not None:
        findings.add("restore_unknown", "warning", key,
                     "%s: the recorded value %r is not one the kernel takes; the running value %s is left "
                     "as it is (restore: previous)" % (key, record, cur))
    else:
        findings.add("restore_unknown", "warning", key,
                     "%s: no running value was recorded before kerneltune.tcp.tcp_sysctl first set it; the running "
                     "value %s is left as it is (restore: previous)" % (key, cur))
    return None, None
