# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: profile
version_added: 0.1.0
short_description: The defaults of a kerneltune.tcp tuning profile, read from its role
description:
  - Returns, for each profile name, the defaults its role ships (C(roles/<name>/defaults/main.yml) in this
    collection) as C(settings), C(path), C(nat), C(skip_missing), C(allow), plus C(base), the settings the profile
    is composed on before its own C(<name>_settings) (empty for C(web_frontend) and C(high_outbound_client); the
    web_frontend settings combined with the high_outbound_client settings for C(reverse_proxy)).
  - The single source of the profiles' values for the roles and for the audit playbook.
options:
  _terms:
    description: Profile names (web_frontend, high_outbound_client, reverse_proxy, sysctl).
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Show what the web_frontend profile sets
  ansible.builtin.debug:
    msg: "{{ (query('kerneltune.tcp.profile', 'web_frontend') | first).settings }}"
"""

RETURN = r"""
_raw:
  description: One dict per profile.
  type: list
  elements: dict
  contains:
    base: {description: Settings the profile is composed on., type: dict}
    settings: {description: The profile's own settings (its role's <name>_settings default)., type: dict}
    path: {description: The file the profile's role owns., type: str}
    nat: {description: NAT mode., type: str}
    skip_missing: {description: Keys older kernels may lack., type: list, elements: str}
    allow: {description: Allowed rule ids., type: list, elements: str}
"""

import os

import yaml

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
COMPOSED = {"reverse_proxy": ("web_frontend", "high_outbound_client")}
PREFIX = {"sysctl": "sysctl_", "web_frontend": "web_frontend_", "high_outbound_client": "high_outbound_client_",
          "reverse_proxy": "reverse_proxy_"}


def _defaults(name):
    path = os.path.join(ROLES, name, "defaults", "main.yml")
    try:
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except OSError:
        raise AnsibleLookupError("profile: no such profile %r (known: %s)" % (name, ", ".join(sorted(PREFIX))))


def profile(name):
    if name not in PREFIX:
        raise AnsibleLookupError("profile: no such profile %r (known: %s)" % (name, ", ".join(sorted(PREFIX))))
    d = _defaults(name)
    p = PREFIX[name]
    base = {}
    for part in COMPOSED.get(name, ()):
        base.update(_defaults(part)[PREFIX[part] + "settings"])
    return {
        "name": name,
        "base": base,
        "settings": d.get(p + "settings", {}),
        "path": d.get(p + "path"),
        "nat": d.get(p + "nat", "auto"),
        "skip_missing": d.get(p + "skip_missing", []),
        "allow": d.get(p + "allow", []),
    }


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [profile(str(t)) for t in terms]
