# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's request refusals; every message word for word."""
import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import request


@pytest.mark.parametrize("args,message", [
    (([], [], [], None, None, False), "states: at least one state is required"),
    ((["listen"], [":80"], [], None, None, False),
     "states: listen is refused: destroying a listening socket stops the service"),
    ((["bogus"], [":80"], [], None, None, False),
     "states: unknown state 'bogus'; choose from time_wait, close_wait, established, syn_sent, syn_recv, fin_wait1, "
     "fin_wait2, last_ack, closing"),
    ((["close_wait"], [], [], None, None, False),
     "at least one of local, remote, pid or process is required; set all: true to match every socket in the given "
     "states"),
    ((["time_wait"], [], [], None, "java", False),
     "pid and process match nothing in TIME_WAIT: those sockets belong to no process any more"),
])
def test_validate(args, message):
    with pytest.raises(request.ResetError) as e:
        request.validate(*args)
    assert e.value.message == message


def test_validate_accepts_all():
    request.validate(["close_wait"], [], [], None, None, True)
