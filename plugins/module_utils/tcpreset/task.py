# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One tcp_reset task without AnsibleModule: its parameters in, the module's result out.

run() checks the request, the capability and the kernel, dumps the sockets through the Selector (the control
connection kept out), applies the owner filter and max_sockets, and, outside check mode, destroys what matched.
A refusal or failure raises TaskFailed with the message and the result to fail with.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import caps
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners as owners_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import control as control_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import filters
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import outcome
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import request
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import selection


class TaskFailed(Exception):
    """The task fails with MESSAGE and RESULT (the module's other return values)."""

    def __init__(self, message, result):
        super(TaskFailed, self).__init__(message)
        self.message = message
        self.result = result


def _entry(s, **extra):
    return dict({"tuple": s.tuple_text(), "state": st.state_name(s.state)}, **extra)


def _filters(p, states, out):
    """(local, remote) endpoint filters, after the request's own checks."""
    try:
        request.validate(states, p["local"], p["remote"], p["pid"], p["process"], p["all"])
        local = [filters.parse_spec("local", x) for x in p["local"]]
        remote = [filters.parse_spec("remote", x) for x in p["remote"]]
    except request.ResetError as e:
        raise TaskFailed(e.message, out)
    if p["max_sockets"] < 1:
        raise TaskFailed("max_sockets: %d must be at least 1" % p["max_sockets"], out)
    return local, remote


def _check_kernel(states, release, out):
    support = caps.probe_destroy()
    out["kernel"].update(sock_destroy=support["supported"], reason=support["reason"])
    refusal = outcome.kernel_refusal(states, support, release)
    if refusal:
        raise TaskFailed(refusal, out)


def _select(p, states, local, remote, out):
    """The dump through the Selector; the control connection kept out of it."""
    control = control_lib.Control.discover()
    sel = selection.Selector(local, remote, p["family"], control)
    try:
        netlink.dump(sel, st.state_mask(states), families=sel.families)
    except netlink.DiagError as e:
        raise TaskFailed("netlink sock_diag dump failed: %s" % e.message, out)
    sel.finish()
    out["protected"] = len(sel.protected)
    out["protected_sockets"] = [_entry(s) for s in sel.protected]
    refusal = control_lib.unprotected_refusal(states, control, p["allow_unprotected"])
    if refusal:
        raise TaskFailed(refusal, out)
    return sel.matched


def _matched(p, matched, out):
    """The sockets to destroy, after the owner filter; their sample with owners in out."""
    owners = {}
    if p["pid"] or p["process"]:
        matched, owners = selection.by_owner(matched, p["pid"], p["process"])
    elif any(s.state != st.TCP_TIME_WAIT for s in matched[:p["sample"]]):
        owners = owners_lib.owners([s.inode for s in matched[:p["sample"]]])
    out["matched"] = len(matched)
    for s in matched[:p["sample"]]:
        entry = _entry(s)
        if s.inode in owners:
            entry.update(pid=owners[s.inode][0], command=owners[s.inode][1])
        out["sample"].append(entry)
    return matched


def _destroy(matched, out):
    res = netlink.destroy(matched)
    out["destroyed"] = res.destroyed
    out["unconfirmed"] = res.unconfirmed
    out["gone"] = len(outcome.gone(res))
    out["refused"] = [_entry(s, error=text) for s, _err, text in outcome.refused(res)]
    out["changed"] = res.destroyed > 0 or res.unconfirmed > 0
    if res.error:
        raise TaskFailed(outcome.stopped_message(len(matched), res), out)
    if out["refused"]:
        raise TaskFailed("the kernel refused to destroy %d of %d sockets: %s"
                         % (len(out["refused"]), len(matched), out["refused"][0]["error"]), out)


def run(p, check_mode, release):
    """The task for the module's parameters P: the result, or TaskFailed."""
    out = dict(changed=False, matched=0, destroyed=0, gone=0, refused=[], unconfirmed=0, protected=0,
               protected_sockets=[], sample=[],
               kernel={"release": release, "sock_destroy": None, "reason": None})
    states = [s.lower() for s in p["states"]]
    local, remote = _filters(p, states, out)
    _check_kernel(states, release, out)
    matched = _matched(p, _select(p, states, local, remote, out), out)
    if len(matched) > p["max_sockets"]:
        raise TaskFailed("%d sockets match, more than max_sockets (%d); nothing was destroyed. Narrow the "
                         "filters or raise max_sockets" % (len(matched), p["max_sockets"]), out)
    out["changed"] = bool(matched)
    if check_mode or not matched:
        return out
    _destroy(matched, out)
    return out
