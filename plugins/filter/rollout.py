# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the rollout playbook (playbooks/rollout.yml)."""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import rollout_unmet as unmet_lib


def rollout_unmet(settings):
    return unmet_lib.unmet(settings)


def rollout_previous_settings(text):
    """The profile's file before the change (TEXT) as tcp_sysctl settings that put it back.

    Each "key = value" line is a value; a key under a `# kerneltune.tcp bound:` comment is given as that bound, so
    the file put back records it again and the other kerneltune files' lines are derived with it, as before.
    """
    out = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = (w.strip() for w in line.split("=", 1))
        out[key] = value
    for key, bound in render.file_bounds(text).items():
        if key in out:
            out[key] = bound
    return out


class FilterModule(object):
    def filters(self):
        return {"rollout_unmet": rollout_unmet, "rollout_previous_settings": rollout_previous_settings}
