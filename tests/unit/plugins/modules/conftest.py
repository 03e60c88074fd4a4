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
