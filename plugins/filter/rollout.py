# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the rollout playbook (playbooks/rollout.yml)."""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import rollout_unmet as unmet_lib


def rollout_unmet(settings):
    return unmet_lib.unmet(settings)


class FilterModule(object):
    def filters(self):
        return {"rollout_unmet": rollout_unmet}
