# SPDX-License-Identifier: GPL-3.0-or-later
"""host_unreachable's documentation (plugins/modules/host_unreachable.py) says what its action plugin's
ARGUMENT_SPEC, the one spec, does. What the action does to Ansible's stats is tested through ansible-runner in
tests/unit/playbooks/test_audit_runner.py."""
import yaml

from ansible_collections.kerneltune.tcp.plugins.action import host_unreachable as action
from ansible_collections.kerneltune.tcp.plugins.modules import host_unreachable as module

DOC = yaml.safe_load(module.DOCUMENTATION)


def test_options_documented_as_the_spec_has_them():
    assert DOC["options"] == {"msg": {"description": DOC["options"]["msg"]["description"], "type": "str",
                                      "required": True}}
    assert action.ARGUMENT_SPEC == {"msg": {"type": "str", "required": True}}
