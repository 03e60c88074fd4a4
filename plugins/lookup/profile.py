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
    host's variables the way the role resolves them. C(settings) is the profile's C(base) (the settings of the
    profiles it is composed on, in order, so a later one wins a shared key; web_frontend then high_outbound_client
    for C(reverse_proxy); empty otherwise) combined with C(<name>_settings) and then with
    C(<name>_sysctl_overrides) (C(kt_sysctl_overrides) for the plain role); a key set to null in the overrides is
    removed from the profile. The other parameters are C(<name>_path), C(<name>_nat) and so on; where the host
    does not set one, or sets it to null, the default from the profile role's C(defaults/main.yml) applies.
  - The one place where a profile becomes module parameters, for the roles and for the audit playbook alike.
  - The one list of the collection's profiles. A profile is a role whose C(defaults/main.yml) has a
    C(__<name>_profile) header (C(purpose), and C(composed_on), the profiles whose settings it starts from), plus
    the plain role C(kt_sysctl). With O(names) the lookup returns that list instead, which is where the playbooks
    take the profile names from (the audit's default group mapping, the rollout's checks and messages).
options:
  _terms:
    description:
      - Profile names, as O(names=all) returns them.
      - Not with O(names).
    type: list
    elements: str
  names:
    description:
      - Return the profile names instead of resolving profiles, in the order the playbooks' messages name them (each
        composed profile after the profiles it is composed on, the other profile roles by name, C(kt_sysctl) last).
      - V(all) every name the lookup resolves; V(roles) the profile roles only (without C(kt_sysctl)).
    type: str
    choices: [all, roles]
  audit:
    description:
      - Resolve the profiles the audit playbook (C(kerneltune.tcp.audit)) checks on this host, instead of naming
        them. They are C(kt_audit_profiles) when the host has it (a list, or a comma-separated string as C(-e)
        gives it), otherwise the profiles the host's inventory groups map to in C(kt_audit_group_profiles)
        (default, each profile role's group, named after the role), in the order of the host's groups, each once.
      - A variable that is null, or a template over an undefined variable, counts as not set.
      - Each dict also carries C(namespaces), the value the audit passes to M(kerneltune.tcp.tcp_sysctl)'s
        O(kerneltune.tcp.tcp_sysctl#module:namespaces) (V(self) when C(kt_audit_namespaces) is V(off), V(all)
        otherwise).
      - The audit resolves a host's profiles with this one call; the same logic as Jinja in the playbook
        cost each host's worker process about 20 ms (docs/benchmarks.md).
      - Not with profile names or O(names).
    type: bool
    default: false
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Show what the web_frontend profile would set on this host
  ansible.builtin.debug:
    msg: "{{ (query('kerneltune.tcp.profile', 'web_frontend') | first).settings }}"

- name: Name the collection's profiles (web_frontend, high_outbound_client, reverse_proxy, kt_sysctl)
  ansible.builtin.debug:
    msg: "{{ query('kerneltune.tcp.profile', names='all') }}"

- name: The profiles the audit playbook checks on this host, with their parameters
  ansible.builtin.debug:
    msg: "{{ query('kerneltune.tcp.profile', audit=true) | map(attribute='name') }}"
"""

RETURN = r"""
_raw:
  description: One dict per profile; with O(names), the profile names (strings) instead.
  type: list
  elements: dict
  contains:
    name: {description: The profile name., type: str}
    base: {description: Settings the profile is composed on., type: dict}
    settings: {description: "The settings to pass: base, then <name>_settings, then the overrides.", type: dict}
    path: {description: The file the profile's role owns., type: str}
    state: {description: V(present) or V(absent)., type: str}
    restore: {description: "With V(absent): V(boot), V(previous), V(none), or null for the module's default.", type: str}
    apply: {description: Whether the running values are set too., type: bool}
    nat: {description: NAT mode., type: str}
    skip_missing: {description: Keys older kernels may lack., type: list, elements: str}
    allow: {description: Allowed rule ids., type: list, elements: str}
    backup: {description: Keep a copy of the file before changing it., type: bool}
    audit_only: {description: Check mode for the role's task whatever the playbook's mode., type: bool}
    namespaces: {description: "With O(audit) only: V(self) or V(all), for the module's namespaces.", type: str}
"""

import functools
import os

import yaml

from ansible.errors import AnsibleLookupError, AnsibleUndefinedVariable
from ansible.plugins.lookup import LookupBase

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
# The plain role: its own kt_sysctl_* variables, no profile header; always a profile name, named last.
PLAIN = "kt_sysctl"
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
NAMES = ("all", "roles")


# libyaml's parser where PyYAML has it (as ansible-core's own loader does): the lookup runs in each host's
# worker process, where the cache below starts empty, and the pure-Python parser took about 20 ms a file.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=None)
def _defaults(name):
    with open(os.path.join(ROLES, name, "defaults", "main.yml")) as f:
        return yaml.load(f, Loader=_LOADER) or {}


def header(name):
    """The profile header of role NAME's defaults (__<name>_profile), or None for a role that is no profile."""
    if name == PLAIN or not os.path.isfile(os.path.join(ROLES, name, "defaults", "main.yml")):
        return None
    return _defaults(name).get("__%s_profile" % name)


@functools.lru_cache(maxsize=None)
def composed():
    """Profile role -> the profiles it is composed on (its header's composed_on), for every profile role."""
    parts = {name: tuple(header(name).get("composed_on") or ()) for name in sorted(os.listdir(ROLES))
             if isinstance(header(name), dict)}
    for name, on in parts.items():
        # A part's own settings are its whole profile only when it is composed on nothing.
        bad = [part for part in on if parts.get(part, ("?",))]
        if bad:
            raise AnsibleLookupError("profile: %s is composed on %s, which must be profile roles composed on nothing"
                                     % (name, ", ".join(map(str, bad))))
    return parts


@functools.lru_cache(maxsize=None)
def names():
    """Every profile name: each composed profile after its parts, the other profile roles by name, kt_sysctl last."""
    parts = composed()
    out = []

    def visit(name):
        if name not in out:
            for part in parts[name]:
                visit(part)
            out.append(name)
    for name in sorted(parts, key=lambda n: (not parts[n], n)):
        visit(name)
    return tuple(out) + (PLAIN,)


def _overrides_var(name):
    return "kt_sysctl_overrides" if name == PLAIN else name + "_sysctl_overrides"


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
    if name not in names():
        raise AnsibleLookupError("profile: no such profile %r (known: %s)" % (name, ", ".join(sorted(names()))))
    defaults = _defaults(name)
    prefix = name + "_"

    def var(var_name, default):
        value = lookup_var(var_name, default)
        return default if value is None else value
    base = {}
    for part in composed().get(name, ()):
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


def profile_names(which, terms=()):
    """The answer to names=WHICH: every profile name (all) or the profile roles only (roles)."""
    if which not in NAMES:
        raise AnsibleLookupError("profile: names must be one of %s, got %r" % (", ".join(NAMES), which))
    if terms:
        raise AnsibleLookupError("profile: names=%s takes no profile names, got %s"
                                 % (which, ", ".join(map(str, terms))))
    return list(names()) if which == "all" else [n for n in names() if n != PLAIN]


def audit_profiles(lookup_var):
    """The profile names the audit checks on a host (audit=true); lookup_var(name, default) reads a host variable.

    kt_audit_profiles when set (a list, or a comma-separated string), else the host's groups mapped through
    kt_audit_group_profiles (default: each profile role's own group), in group order, each profile once.
    """
    given = lookup_var("kt_audit_profiles", None)
    if given is not None:
        if isinstance(given, str):
            return [p.strip() for p in given.split(",") if p.strip()]
        return list(given) if isinstance(given, (list, tuple)) else [given]
    mapping = lookup_var("kt_audit_group_profiles", None)
    if mapping is None:
        mapping = {n: n for n in profile_names("roles")}
    elif not isinstance(mapping, dict):
        raise AnsibleLookupError("kt_audit_group_profiles: must be a dict of inventory group: profile, got %r"
                                 % (mapping,))
    out = []
    for group in lookup_var("group_names", None) or ():
        if group in mapping and mapping[group] not in out:
            out.append(mapping[group])
    return out


def audit_namespaces(lookup_var):
    """tcp_sysctl's namespaces for the audit: self when kt_audit_namespaces is off (YAML's false too), else all."""
    mode = lookup_var("kt_audit_namespaces", None)
    return "self" if mode is not None and str(mode).lower() in ("off", "false") else "all"


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if kwargs.get("names") is not None:
            if kwargs.get("audit"):
                raise AnsibleLookupError("profile: names and audit=true do not go together")
            return profile_names(str(kwargs["names"]), terms)
        variables = variables or {}

        def lookup_var(var_name, default):
            if var_name not in variables:
                return default
            return self._templar.template(variables[var_name])

        if kwargs.get("audit"):
            if terms:
                raise AnsibleLookupError("profile: audit=true takes no profile names, got %s" % ", ".join(map(str, terms)))

            def audit_var(var_name, default):
                # As the playbook's `is defined` and default() had it: a template over an undefined variable (a
                # host-specific override set only on some hosts) is not set, and so is null.
                try:
                    return lookup_var(var_name, default)
                except AnsibleUndefinedVariable:
                    return default
            namespaces = audit_namespaces(audit_var)
            return [dict(resolve(str(t), lookup_var), namespaces=namespaces) for t in audit_profiles(audit_var)]
        return [resolve(str(t), lookup_var) for t in terms]
