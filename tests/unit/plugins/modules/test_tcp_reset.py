# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's glue, driven through main() with real arguments: refusals in check mode, nothing destroyed."""
import json

import pytest

from ansible_collections.kerneltune.tcp.plugins.modules import tcp_reset

_ARGS = {}  # "patch": the module_args fixture (tests/unit/conftest.py), set for each test


@pytest.fixture(autouse=True)
def _module_args(module_args):
    _ARGS["patch"] = module_args


def run(module, args, capsys):
    with _ARGS["patch"](args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args,msg", [
    ({"states": ["listen"], "all": True}, "states: listen is refused: destroying a listening socket stops the service"),
    ({"states": ["close_wait"]}, "at least one of local, remote, pid or process is required; set all: true to match "
                                 "every socket in the given states"),
    ({"states": ["close_wait"], "remote": ["bogus"]},
     "remote: 'bogus' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ({"states": ["close_wait"], "remote": [":80"], "max_sockets": 0}, "max_sockets: 0 must be at least 1"),
])
def test_tcp_reset_refusals(args, msg, capsys):
    r = run(tcp_reset, dict(args, _ansible_check_mode=True), capsys)
    assert r["failed"] is True and r["msg"] == msg and r["destroyed"] == 0
