# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's "settings" check (controller side): which of the profile's keys are not at their value or
within their bound after the change, running or at boot, from a check-mode re-run of tcp_sysctl with the same
parameters (its settings: runtime is the running value now, persisted_before and source_before what the host
boots with now and the file that wins, runtime_drift and persisted_drift whether each meets the value or bound).
playbooks/rollout.yml calls it through the kerneltune.tcp.rollout_unmet filter."""

from __future__ import annotations

# Keys tcp_sysctl was told to skip (skip_missing) or cannot write here: the change did not set them either.
_NOT_SET = ("unsupported", "read_only")


def _text(value):
    return "none" if value is None else u"%s" % (value,)


def _wants(s):
    bounds = s.get("bounds")
    if bounds:
        return "the bound %s" % (bounds.get("text") or bounds)
    return "the profile's value %s" % _text(s.get("desired"))


def unmet_entry(s):
    """One key whose value or bound is not met: {key, running, boot, source, wants, message}."""
    boot, source = s.get("persisted_before"), s.get("source_before")
    if source is None and s.get("kernel_default") is not None:
        boot = s["kernel_default"]
        at_boot = "%s at boot (the kernel default, read in a %s; no file sets it)" % (
            boot, s.get("kernel_default_source") or "fresh network namespace")
    elif source is None and "kernel_default" in s:
        at_boot = "the kernel default at boot, value unknown: %s (no file sets it)" % (
            s.get("kernel_default_source") or "not reported")
    elif source is None:
        at_boot = "not set at boot (no file sets it)"
    else:
        at_boot = "%s at boot (%s wins)" % (_text(boot), source)
    wants = _wants(s)
    message = "%s is %s running and %s, %s" % (
        s.get("key"), _text(s.get("runtime")), at_boot,
        "not %s" % wants if not s.get("bounds") else "outside %s" % wants)
    return {"key": s.get("key"), "running": s.get("runtime"), "boot": boot, "source": source,
            "running_met": not s.get("runtime_drift"), "boot_met": not s.get("persisted_drift"),
            "wants": wants, "message": message}


def unmet(settings):
    """The profile's keys not at their value (or within their bound) running or at boot, sorted by key."""
    out = []
    for s in sorted(settings or [], key=lambda s: u"%s" % (s.get("key"),)):
        if s.get("status") in _NOT_SET:
            continue
        if s.get("runtime_drift") or s.get("persisted_drift"):
            out.append(unmet_entry(s))
    return out
