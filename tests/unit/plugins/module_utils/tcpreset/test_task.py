# SPDX-License-Identifier: GPL-3.0-or-later
"""One tcp_reset task without AnsibleModule: refusals before any socket is read, with the result to fail with."""
import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import task

BASE = {"states": ["close_wait"], "local": [], "remote": [], "family": "both", "pid": None, "process": None,
        "all": False, "max_sockets": 1000, "sample": 10, "allow_unprotected": False}


@pytest.mark.parametrize("extra,msg", [
    ({"states": ["LISTEN"], "all": True}, "states: listen is refused: destroying a listening socket stops the service"),
    ({}, "at least one of local, remote, pid or process is required; set all: true to match every socket in the "
         "given states"),
    ({"remote": ["fe80::1%eth0"]}, "remote: 'fe80::1%eth0' names a zone (eth0); a filter matches addresses on every "
                                   "interface, so it would match this address on other links too. Give it without "
                                   "the zone if that is meant"),
    ({"all": True, "max_sockets": 0}, "max_sockets: 0 must be at least 1"),
])
def test_refusals_before_anything_is_read(extra, msg):
    with pytest.raises(task.TaskFailed) as e:
        task.run(dict(BASE, **extra), True, "6.1.0")
    assert e.value.message == msg
    assert e.value.result == {
        "changed": False, "matched": 0, "destroyed": 0, "gone": 0, "refused": [], "unconfirmed": 0, "protected": 0,
        "protected_sockets": [], "sample": [], "warnings": [],
        "kernel": {"release": "6.1.0", "sock_destroy": None, "reason": None}}
