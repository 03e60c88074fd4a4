# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's kernel refusals and the message of a run that stopped; word for word."""
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import outcome


def test_kernel_refusals():
    assert outcome.kernel_refusal(["close_wait"], {"supported": True, "reason": None}, "5.4.0") is None
    assert outcome.kernel_refusal(["time_wait"], {"supported": True, "reason": None}, "5.15.0-91-generic") == (
        "TIME_WAIT sockets cannot be destroyed on Linux 5.15.0-91-generic (the kernel supports it from 6.0); they end "
        "by themselves after 60 s. To stop them piling up, apply the high_outbound_client profile (tcp_tw_reuse=1) "
        "or pool connections")
    assert outcome.kernel_refusal(["close_wait"], {"supported": False, "reason": "no CAP_NET_ADMIN in this network "
                                                   "namespace"}, "6.1.0") == (
        "cannot destroy sockets on this host: no CAP_NET_ADMIN in this network namespace. Instead: restart the "
        "application that owns them, or for TIME_WAIT wait (it ends by itself after 60 s); this module never forges "
        "packets")


def test_stopped_message_gives_partial_counts():
    res = netlink.DestroyResult()
    res.destroyed, res.unconfirmed, res.error = 700, 12, "No buffer space available"
    res.failed = [(None, 2, "No such file or directory"), (None, 1, "Operation not permitted")]
    assert outcome.stopped_message(1000, res) == (
        "destroying stopped on an error after 714 of 1000 sockets: No buffer space available; 700 destroyed, 1 already "
        "gone, 1 refused, 12 sent without an answer (they may be gone), 286 not tried")
