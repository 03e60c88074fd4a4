# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the fleet playbooks (the reports themselves are written by the
fleet_report action plugin)."""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit


def audit_entry(item):
    return audit.audit_entry(item)


class FilterModule(object):
    def filters(self):
        return {"audit_entry": audit_entry}
