# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Report this task's host as unreachable, without contacting it: the fleet playbooks carry a host that could not
be reached during an earlier play (whose task ignored it, so that the reports could be written) into Ansible's
stats as unreachable ("dark" in ansible-runner and AWX). Options are validated from ARGUMENT_SPEC, the one spec
(plugins/modules/host_unreachable.py only documents it)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = dict(
    msg=dict(type="str", required=True),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _v, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(unreachable=True, changed=False, msg=args["msg"])
        return result
