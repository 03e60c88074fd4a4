# SPDX-License-Identifier: GPL-3.0-or-later
"""fleet_report's documentation (plugins/modules/fleet_report.py) says what its action plugin's ARGUMENT_SPEC,
the one spec, does: the same options with the same type, choices, default, required and elements."""
import re

import pytest
import yaml

from ansible_collections.kerneltune.tcp.plugins.action import fleet_report as action
from ansible_collections.kerneltune.tcp.plugins.modules import fleet_report as module
from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import registry

FIELDS = ("type", "choices", "default", "required", "elements")


def _fields(option):
    """The fields the spec and the documentation share, with Ansible's defaults filled in."""
    out = dict((f, option.get(f)) for f in FIELDS)
    out["type"] = out["type"] or "str"
    out["required"] = bool(out["required"])
    return out


DOC = yaml.safe_load(module.DOCUMENTATION)


def test_same_option_names():
    assert sorted(DOC["options"]) == sorted(action.ARGUMENT_SPEC)


@pytest.mark.parametrize("name", sorted(action.ARGUMENT_SPEC))
def test_each_option_documented_as_the_spec_has_it(name):
    assert _fields(DOC["options"][name]) == _fields(action.ARGUMENT_SPEC[name])


def test_kinds_and_paths_are_the_registry_s():
    assert DOC["options"]["kind"]["choices"] == list(registry.REPORTS)
    # Every format a kind writes is named in the paths option, JUnit for exactly the kinds that write it.
    text = " ".join(DOC["options"]["paths"]["description"])
    for fmt in set(f for formats in registry.REPORTS.values() for f in formats):
        assert "C(%s)" % fmt in text
    assert sorted(k for k, formats in registry.REPORTS.items() if "junit" in formats) == ["audit", "rollout"]
    assert re.search(r"for audits and rollouts\s+C\(junit\)", text)


def _descriptions(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "description":
                yield v
            else:
                yield from _descriptions(v)


def test_every_description_is_text():
    """A ": " in a plain YAML list item makes it a mapping, which ansible-doc cannot show."""
    for d in _descriptions(DOC):
        for line in d if isinstance(d, list) else [d]:
            assert isinstance(line, str), line
