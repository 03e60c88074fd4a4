# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: profile
version_added: 0.1.0
short_description: The kerneltune.tcp.tcp_sysctl parameters of a tuning profile, resolved for this host
description:
  - For each profile name, the parameters its role passes to M(kerneltune.tcp.tcp_sysctl), resolved from the
    host's variables the way the role resolves them. C(settings) is the profile's C(base) (the web_frontend settings
    combined with the high_outbound_client settings for C(reverse_proxy), empty otherwise) combined with
    C(<name>_settings) and then with C(<name>_sysctl_overrides) (C(kt_sysctl_overrides) for the plain role); a key
    set to null in the overrides is removed from the profile. The other parameters are C(<name>_path),
    C(<name>_nat) and so on; where the host does not set one, or sets it to null, the default from the profile
    role's C(defaults/main.yml) applies.
  - The one place where a profile becomes module parameters, for the roles and for the audit playbook alike.
options:
  _terms:
    description: Profile names (web_frontend, high_outbound_client, reverse_proxy, kt_sysctl).
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Show what the web_frontend profile would set on this host
  ansible.builtin.debug:
    msg: "{{ (query('kerneltune.tcp.profile', 'web_frontend') | first).settings }}"
"""

RETURN = r"""
_raw:
  description: One dict per profile.
  type: list
  elements: dict
  contains:
    name: {description: The profile name., type: str}
    base: {description: Settings the profile is composed on., type: dict}
    settings: {description: "The settings to pass: base, then <name>_settings, then the overrides.", type: dict}
    path: {description: The file the profile's role owns., type: str}
    state: {description: V(present) or V(absent)., type: str}
    restore: {description: "With V(absent): V(boot), V(none), or null for the module's default.", type: str}
    apply: {description: Whether the running values are set too., type: bool}
    nat: {description: NAT mode., type: str}
    skip_missing: {description: Keys older kernels may lack., type: list, elements: str}
    allow: {description: Allowed rule ids., type: list, elements: str}
    backup: {description: Keep a copy of the file before changing it., type: bool}
    audit_only: {description: Check mode for the role's task whatever the playbook's mode., type: bool}
"""

import functools
import os

import yaml

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
COMPOSED = {"reverse_proxy": ("web_frontend", "high_outbound_client")}
PROFILES = ("high_outbound_client", "kt_sysctl", "reverse_proxy", "web_frontend")
# Parameter -> (variable suffix, default when neither the host nor the role's defaults set it).
PARAMS = {
    "path": ("path", None),
    "state": ("state", "present"),
    "restore": ("restore", None),
    "apply": ("apply", True),
    "nat": ("nat", "auto"),
    "skip_missing": ("skip_missing", []),
    "allow": ("allow", []),
    "backup": ("backup", False),
    "audit_only": ("audit_only", False),
}


@functools.lru_cache(maxsize=None)
def _defaults(name):
    with open(os.path.join(ROLES, name, "defaults", "main.yml")) as f:
        return yaml.safe_load(f) or {}


def _overrides_var(name):
    return "kt_sysctl_overrides" if name == "kt_sysctl" else name + "_sysctl_overrides"


def _dict_var(var_name, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        # The plain type's name: ansible-core 2.19 wraps values in tagged subclasses (_AnsibleTaggedStr).
        kind = next((t.__name__ for t in (bool, str, int, float, list) if isinstance(value, t)), type(value).__name__)
        raise AnsibleLookupError("%s: must be a dict of sysctl key: value, got %s %r" % (var_name, kind, value))
    return value


def resolve(name, lookup_var=lambda var_name, default: default):
    """The tcp_sysctl parameters of profile NAME; lookup_var(name, default) reads a host variable.

    A variable set to null (a bare "web_frontend_nat:" in group_vars) counts as not set: the role's default
    applies. A key set to null in the overrides is removed from the profile's settings.
    """
    if name not in PROFILES:
        raise AnsibleLookupError("profile: no such profile %r (known: %s)" % (name, ", ".join(PROFILES)))
    defaults = _defaults(name)
    prefix = name + "_"

    def var(var_name, default):
        value = lookup_var(var_name, default)
        return default if value is None else value
    base = {}
    for part in COMPOSED.get(name, ()):
        base.update(_defaults(part)[part + "_settings"])
    settings = dict(base)
    settings.update(_dict_var(prefix + "settings", var(prefix + "settings", defaults.get(prefix + "settings"))))
    overrides = _dict_var(_overrides_var(name), var(_overrides_var(name), defaults.get(_overrides_var(name))))
    for key, value in overrides.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    out = {"name": name, "base": base, "settings": settings}
    for param, (suffix, fallback) in PARAMS.items():
        default = defaults.get(prefix + suffix)
        out[param] = var(prefix + suffix, fallback if default is None else default)
    return out


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}

        def lookup_var(var_name, default):
            if var_name not in variables:
                return default
            return self._templar.template(variables[var_name])

        return [resolve(str(t), lookup_var) for t in terms]
