# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TCP socket states: the kernel's numbers, their names and state masks.

The kernel filters sock_diag dumps by a bitmask of states (bit N for state N);
/proc/net/tcp prints the state number in hex. Both are read against these.
"""

from __future__ import annotations

# TCP states as the kernel numbers them (include/net/tcp_states.h).
TCP_ESTABLISHED = 1
TCP_SYN_SENT = 2
TCP_SYN_RECV = 3
TCP_FIN_WAIT1 = 4
TCP_FIN_WAIT2 = 5
TCP_TIME_WAIT = 6
TCP_CLOSE = 7
TCP_CLOSE_WAIT = 8
TCP_LAST_ACK = 9
TCP_LISTEN = 10
TCP_CLOSING = 11
TCP_NEW_SYN_RECV = 12
# Linux 6.7: bound-but-unconnected sockets, which are no connections at all.
TCP_BOUND_INACTIVE = 13

STATES = {
    TCP_ESTABLISHED: "established", TCP_SYN_SENT: "syn_sent", TCP_SYN_RECV: "syn_recv",
    TCP_FIN_WAIT1: "fin_wait1", TCP_FIN_WAIT2: "fin_wait2", TCP_TIME_WAIT: "time_wait", TCP_CLOSE: "close",
    TCP_CLOSE_WAIT: "close_wait", TCP_LAST_ACK: "last_ack", TCP_LISTEN: "listen", TCP_CLOSING: "closing",
    TCP_NEW_SYN_RECV: "syn_recv",
}
STATE_IDS = {
    "established": (TCP_ESTABLISHED,), "syn_sent": (TCP_SYN_SENT,), "syn_recv": (TCP_SYN_RECV, TCP_NEW_SYN_RECV),
    "fin_wait1": (TCP_FIN_WAIT1,), "fin_wait2": (TCP_FIN_WAIT2,), "time_wait": (TCP_TIME_WAIT,),
    "close": (TCP_CLOSE,), "close_wait": (TCP_CLOSE_WAIT,), "last_ack": (TCP_LAST_ACK,), "listen": (TCP_LISTEN,),
    "closing": (TCP_CLOSING,),
}
# The states `ss -tan` shows: 1..12. TCP_BOUND_INACTIVE is left out.
ALL_STATES = sum(1 << i for i in range(TCP_ESTABLISHED, TCP_BOUND_INACTIVE))


def state_mask(names):
    """The sock_diag state bitmask for state names (keys of STATE_IDS)."""
    mask = 0
    for name in names:
        for sid in STATE_IDS[name]:
            mask |= 1 << sid
    return mask


def state_name(state):
    """The name of a state number; the number as text when unknown."""
    return STATES.get(state, str(state))
