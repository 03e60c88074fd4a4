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


FORMS = "an inode (4026532281 or net:[4026532281]), pid:PID, or a name in /run/netns (NAME or name:NAME)"


@pytest.mark.parametrize("namespace,msg", [
    ("../x", "namespace: '../x' is not " + FORMS),
    ("net:[x]", "namespace: 'net:[x]' is not " + FORMS),
    (["blue"], "namespace: ['blue'] is not " + FORMS),
    # An integer from YAML is an inode, as the same digits in a string (the option is raw: no conversion warning).
    # This host's /proc: the message may go on to count processes whose namespace root could not read (word for word
    # in test_task_namespace_real, in a pid namespace of the test's own).
    (4026531000, "namespace: 4026531000: no network namespace has inode 4026531000 (none of /proc/*/ns/net or "
                 "/run/netns)"),
])
def test_tcp_reset_namespace_refusals(namespace, msg, run_module):
    r = run_module(tcp_reset, {"states": ["close_wait"], "all": True, "namespace": namespace,
                               "_ansible_check_mode": True})
    assert r["failed"] is True and r["destroyed"] == 0 and "namespace" not in r
    assert r["msg"] == msg or isinstance(namespace, int) and r["msg"].startswith(msg + "; the namespace of ")
    assert "warnings" not in r
