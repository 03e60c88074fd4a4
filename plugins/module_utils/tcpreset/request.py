# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a tcp_reset request may ask for: the states it may name and the
refusals of a request that would do harm or match nothing.
"""

from __future__ import annotations

DESTROYABLE_STATES = ("time_wait", "close_wait", "established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",
                      "last_ack", "closing")


class ResetError(Exception):
    def __init__(self, message):
        super(ResetError, self).__init__(message)
        self.message = message


def validate(states, local, remote, pid, process, all_sockets):
    if not states:
        raise ResetError("states: at least one state is required")
    if "listen" in states:
        raise ResetError("states: listen is refused: destroying a listening socket stops the service")
    for s in states:
        if s not in DESTROYABLE_STATES:
            raise ResetError("states: unknown state %r; choose from %s" % (s, ", ".join(DESTROYABLE_STATES)))
    if not (local or remote or pid or process) and not all_sockets:
        raise ResetError("at least one of local, remote, pid or process is required; set all: true to match every "
                         "socket in the given states")
    if (pid or process) and states == ["time_wait"]:
        raise ResetError("pid and process match nothing in TIME_WAIT: those sockets belong to no process any more")
