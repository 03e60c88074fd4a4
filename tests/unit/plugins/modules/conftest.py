# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive a module's main() with real arguments and read its result."""
import json

import pytest


@pytest.fixture
def run_module(module_args, capsys):
    """run_module(module, args): main() under these arguments; the JSON result it printed (exit or fail)."""
    def run(module, args):
        with module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(capsys.readouterr().out)
    return run


@pytest.fixture(autouse=True)
def state_file(tmp_path, monkeypatch):
    """tcp_sysctl's records and lock in a temporary directory, not this host's /var/lib/kerneltune."""
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import task
    path = str(tmp_path / "kerneltune" / "tcp_sysctl.json")
    defaults = list(task.Options.__new__.__defaults__)
    defaults[task.Options._fields.index("state_file") - (len(task.Options._fields) - len(defaults))] = path
    monkeypatch.setattr(task.Options.__new__, "__defaults__", tuple(defaults))
    return path
