#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: host_unreachable is an action plugin (plugins/action/host_unreachable.py), which validates
# its options from its one argument spec.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_unreachable
short_description: Report this host as unreachable, without contacting it
version_added: 0.2.0
description:
  - Returns an unreachable result for the task's host with O(msg), on the controller (an action plugin; nothing
    connects to the host). Ansible then counts the host as unreachable in its stats (C(dark) in ansible-runner and
    AWX / Automation Controller) and, as for any unreachable host, removes it from the rest of the play, unless
    the task sets C(ignore_unreachable).
  - For a host found unreachable by an earlier task that ignored it (C(ignore_unreachable), so that the fleet
    reports are written for every host). The C(kerneltune.tcp.audit) playbook runs it, after the reports, on the
    hosts the audit could not reach, so that the job's host summary names them as unreachable rather than
    charging a failure to another host.
  - Use it only when the condition names hosts known to be unreachable.
author:
  - kerneltune.tcp maintainers (@kerneltune)
extends_documentation_fragment:
  - kerneltune.tcp.attributes
attributes:
  check_mode:
    support: full
    details: Reports the host unreachable in check mode too.
  diff_mode:
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: Runs on the controller (an action plugin); nothing runs on the host.
options:
  msg:
    description: Why the host is unreachable (the earlier task's message), shown as the task's result.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Name the hosts the audit could not reach as unreachable
  kerneltune.tcp.host_unreachable:
    msg: "{{ kt_audit_report.per_host[inventory_hostname].reason }}"
  when: inventory_hostname in kt_audit_report.summary.unreachable
"""

RETURN = r"""
unreachable:
  description: Always true.
  returned: always
  type: bool
  sample: true
msg:
  description: O(msg).
  returned: always
  type: str
  sample: "unreachable during the audit: Failed to connect to the host via ssh: ssh: connect to host 10.0.0.9 port 22"
"""
