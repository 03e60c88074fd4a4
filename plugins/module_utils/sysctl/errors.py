# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SysctlError, the one refusal the planner raises; its message is shown to the user as is.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations


class SysctlError(Exception):
    """A refusal or failure; the message is shown to the user as is."""

    def __init__(self, message, findings=None, nat=None):
        super(SysctlError, self).__init__(message)
        self.message = message
        self.findings = findings or []
        # What NAT detection found, when the refusal came after it (tw_recycle_nat shows its evidence).
        self.nat = nat
