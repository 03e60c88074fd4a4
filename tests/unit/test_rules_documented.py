# SPDX-License-Identifier: GPL-3.0-or-later
"""The rule ids in the code and in the documentation say the same thing.

Every id in rules.RULES has a row in docs/rules.md and no row names an unknown
id; every rule that can never be allowed (rules.NOT_ALLOWABLE) is named in
tcp_sysctl's `allow` documentation and in the `allow` option of every role's
argument spec that is passed to tcp_sysctl's allow.
"""
import glob
import os
import re

import pytest
import yaml

from ansible_collections.kerneltune.tcp.plugins.lookup import profile
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import rules
from ansible_collections.kerneltune.tcp.plugins.modules import tcp_sysctl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROW = re.compile(r"^\| `([a-z0-9_]+)` \|")


def documented_rules():
    with open(os.path.join(ROOT, "docs", "rules.md")) as f:
        return [m.group(1) for m in (ROW.match(line) for line in f) if m]


def text(description):
    return " ".join(description) if isinstance(description, list) else description


def named(rule, description):
    return re.search(r"(?<![\w])%s(?![\w])" % re.escape(rule), description) is not None


def test_every_rule_has_one_row_and_every_row_a_rule():
    rows = documented_rules()
    assert sorted(set(rows)) == sorted(rows), "a rule with two rows"
    assert sorted(set(rows) - rules.RULES) == [], "rows for unknown rule ids"
    assert sorted(rules.RULES - set(rows)) == [], "rule ids without a row in docs/rules.md"


def test_not_allowable_rules_are_marked_never():
    with open(os.path.join(ROOT, "docs", "rules.md")) as f:
        never = set(m.group(1) for m in (re.match(r"^\| `([a-z0-9_]+)` \| [^|]+ \| never \|", line) for line in f)
                    if m)
    assert never == set(rules.NOT_ALLOWABLE)


def test_module_allow_documentation_names_every_rule_that_cannot_be_allowed():
    doc = text(yaml.safe_load(tcp_sysctl.DOCUMENTATION)["options"]["allow"]["description"])
    assert [r for r in sorted(rules.NOT_ALLOWABLE) if not named(r, doc)] == []


def role_allow_options():
    suffix = profile.PARAMS["allow"][0]
    for spec in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        role = spec.split(os.sep)[-3]
        with open(spec) as f:
            entry_points = (yaml.safe_load(f) or {}).get("argument_specs", {})
        for entry, ep in sorted(entry_points.items()):
            for name, option in sorted((ep.get("options") or {}).items()):
                if name == "%s_%s" % (role, suffix):
                    yield "%s %s %s" % (role, entry, name), text(option.get("description", ""))


@pytest.mark.parametrize("where,description", list(role_allow_options()))
def test_role_allow_options_name_every_rule_that_cannot_be_allowed(where, description):
    assert [r for r in sorted(rules.NOT_ALLOWABLE) if not named(r, description)] == [], where


def test_every_role_with_a_profile_has_an_allow_option():
    roles = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
                   for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))
    found = sorted(set(where.split()[0] for where, _d in role_allow_options()))
    assert found and set(found) <= set(roles)
