# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn audit and diagnose results into fleet reports."""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.plugin_utils import reports


def audit_reports(records, hosts):
    return reports.audit_reports(records, hosts)


def diagnose_reports(records, hosts):
    return reports.diagnose_reports(records, hosts)


def audit_entry(item):
    return reports.audit_entry(item)


class FilterModule(object):
    def filters(self):
        return {"audit_reports": audit_reports, "diagnose_reports": diagnose_reports, "audit_entry": audit_entry}
