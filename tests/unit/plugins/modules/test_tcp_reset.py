# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's glue, driven through main() with real arguments: refusals in check mode, nothing destroyed."""

import pytest

from ansible_collections.kerneltune.tcp.plugins.modules import tcp_reset


@pytest.mark.parametrize("args,msg", [
    ({"states": ["listen"], "all": True}, "states: listen is refused: destroying a listening socket stops the service"),
    ({"states": ["close_wait"]}, "at least one of local, remote, pid or process is required; set all: true to match "
                                 "every socket in the given states"),
    ({"states": ["close_wait"], "remote": ["bogus"]},
     "remote: 'bogus' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ({"states": ["close_wait"], "remote": [":80"], "max_sockets": 0}, "max_sockets: 0 must be at least 1"),
])
def test_tcp_reset_refusals(args, msg, run_module):
    r = run_module(tcp_reset, dict(args, _ansible_check_mode=True))
    assert r["failed"] is True and r["msg"] == msg and r["destroyed"] == 0
