# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What tcp_reset tells about the kernel and a destroy run: the refusal when
this kernel or process cannot destroy the sockets asked for, and the message
when a run stopped midway.
"""

from __future__ import annotations

import errno

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import caps


def kernel_refusal(states, support, release):
    """Why this host cannot do the job, or None."""
    if not support["supported"]:
        return ("cannot destroy sockets on this host: %s. Instead: restart the application that owns them, or for "
                "TIME_WAIT wait (it ends by itself after 60 s); this module never forges packets"
                % support["reason"])
    if "time_wait" in states and not caps.time_wait_destroyable(release):
        return ("TIME_WAIT sockets cannot be destroyed on Linux %s (the kernel supports it from 6.0); they end by "
                "themselves after 60 s. To stop them piling up, apply the high_outbound_client profile "
                "(tcp_tw_reuse=1) or pool connections" % release)
    return None


def gone(res):
    """The failures that found no socket (ENOENT): it was gone already."""
    return [f for f in res.failed if f[1] == errno.ENOENT]


def refused(res):
    """The failures the kernel refused (anything but ENOENT)."""
    return [f for f in res.failed if f[1] != errno.ENOENT]


def stopped_message(matched, res):
    """The message when a destroy run stopped on an error, with what it did."""
    return ("destroying stopped on an error after %d of %d sockets: %s; %d destroyed, %d already gone, %d refused, "
            "%d sent without an answer (they may be gone), %d not tried"
            % (res.destroyed + len(res.failed) + res.unconfirmed, matched, res.error, res.destroyed,
               len(gone(res)), len(refused(res)), res.unconfirmed,
               matched - res.destroyed - len(res.failed) - res.unconfirmed))
