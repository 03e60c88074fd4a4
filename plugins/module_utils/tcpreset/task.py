# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One tcp_reset task without AnsibleModule: its parameters in, the module's result out.

run() checks the request, the capability and the kernel, dumps the sockets through the Selector (the control
connection kept out), applies the owner filter and max_sockets, and, outside check mode, destroys what matched.

With ``namespace`` set, all of that after the request's own checks runs in a child forked into that network
namespace (sockets/netns.run_in): the capability probe, the dumps and SOCK_DESTROY open their netlink sockets
after setns, and the result comes back as JSON. The control connection is found in the parent first (from /proc,
the same in every network namespace) and looked for in both namespaces: socket inodes are global, so a protected
inode is protected wherever it lives, and a control connection found in the module's own namespace is identified
(it is not in the one acted in), so the refusal of ESTABLISHED for a remote run whose control connection is not
seen fires only when it is found in neither.

A refusal or failure raises TaskFailed with the message and the result to fail with. Warnings (filters that
matched nothing, with what was there) are in the result's ``warnings``: the module passes them to module.warn.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import caps
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners as owners_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import control as control_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import explain
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import filters
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import namespace as ns_lib
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


def _select(p, states, local, remote, out, control, where=None):
    """The dump through the Selector; the control connection kept out of it."""
    sel = selection.Selector(local, remote, p["family"], control)
    try:
        netlink.dump(sel, st.state_mask(states), families=sel.families)
    except netlink.DiagError as e:
        raise TaskFailed("netlink sock_diag dump failed: %s" % e.message, out)
    sel.finish()
    out["protected"] = len(sel.protected)
    out["protected_sockets"] = [_entry(s) for s in sel.protected]
    refusal = control_lib.unprotected_refusal(states, control, p["allow_unprotected"], where)
    if refusal:
        raise TaskFailed(refusal, out)
    return sel


def _holders(socks, families):
    """Holders of SOCKS; the listeners are dumped only when one of them waits in an accept queue."""
    listener_map = None
    if any(selection.queued(s) for s in socks):
        try:
            listener_map = selection.listeners(families, netlink.dump)
        except netlink.DiagError:
            listener_map = None
    return selection.Holders(socks, listener_map, owners_lib.all_owners)


def _sample_entry(s, holders, p):
    entry = _entry(s)
    hs = holders.of(s)
    if hs:
        # The holder the filter matched (else the lowest pid), then every holder.
        first = [h for h in hs if selection.holder_matches(h, p["pid"], p["process"])] or hs
        entry.update(pid=first[0][0], command=first[0][1],
                     holders=[{"pid": pid, "command": comm} for pid, comm, _cmd in hs])
    if selection.queued(s):
        entry["accept_queue"] = True
    return entry


def _matched(p, states, sel, out, where=None):
    """The sockets to destroy, after the owner filter; their sample with holders in out, and a warning when a
    filter matched nothing."""
    matched = sel.matched
    owner_filter = bool(p["pid"] or p["process"])
    holders = None
    if owner_filter:
        holders = _holders(matched, sel.families)
        kept = selection.by_owner(matched, p["pid"], p["process"], holders)
    else:
        kept = matched
    sample = kept[:p["sample"]]
    if not owner_filter and any(s.state != st.TCP_TIME_WAIT for s in sample):
        holders = _holders(sample, sel.families)
    out["matched"] = len(kept)
    out["sample"] = [_sample_entry(s, holders, p) if holders else _entry(s) for s in sample]
    if not kept and (owner_filter or p["local"] or p["remote"]):
        if not sel.seen:
            out["warnings"].append(explain.nothing_seen(p, states, out["protected"], where))
        elif not matched:
            out["warnings"].append(explain.endpoints_missed(p, states, sel))
        else:
            out["warnings"].append(explain.owners_missed(p, states, matched, holders))
    return kept


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
               protected_sockets=[], sample=[], warnings=[],
               kernel={"release": release, "sock_destroy": None, "reason": None})
    states = [s.lower() for s in p["states"]]
    local, remote = _filters(p, states, out)
    if p.get("namespace") is None:
        return _act(p, states, (local, remote), check_mode, release, out, control_lib.Control.discover())
    return _in_namespace(p, states, (local, remote), check_mode, release, out)


def _act(p, states, endpoints, check_mode, release, out, control, where=None):
    """Check the kernel, select, destroy: in the namespace this process is in. WHERE labels it in messages when
    it is not the module's own."""
    local, remote = endpoints
    _check_kernel(states, release, out)
    matched = _matched(p, states, _select(p, states, local, remote, out, control, where), out, where)
    if len(matched) > p["max_sockets"]:
        raise TaskFailed("%d sockets match, more than max_sockets (%d); nothing was destroyed. Narrow the "
                         "filters or raise max_sockets" % (len(matched), p["max_sockets"]), out)
    out["changed"] = bool(matched)
    if check_mode or not matched:
        return out
    _destroy(matched, out)
    return out


# run_in's answer when the child that entered the namespace ended without a result (killed): what it did is unknown.
CHILD_LOST = netns.LOST


def _locate(control, out):
    """The control connection's sockets in the module's own network namespace (result entries)."""
    try:
        found = control.locate(netlink.dump)
    except netlink.DiagError as e:
        raise TaskFailed("netlink sock_diag dump failed: %s" % e.message, out)
    return [_entry(s) for s in found]


def _in_namespace(p, states, endpoints, check_mode, release, out):
    """The task in the network namespace P["namespace"] names, through a child forked into it."""
    try:
        target = ns_lib.resolve(p["namespace"])
    except ns_lib.NamespaceError as e:
        raise TaskFailed(e.message, out)
    try:
        out["namespace"] = target.describe()
        control = control_lib.Control.discover()
        where = None
        out["namespace"]["control_outside"] = []
        if not target.is_self:
            where = target.label
            if "established" in states and (control.inodes or control.tuples):
                out["namespace"]["control_outside"] = _locate(control, out)

        def inside():
            if not target.is_self and netns.self_inode() != target.inode:
                return {"failed": "namespace: entered inode %s instead of %s; nothing was destroyed"
                                  % (netns.self_inode(), target.inode), "result": out}
            try:
                return {"ok": _act(p, states, endpoints, check_mode, release, out, control, where)}
            except TaskFailed as e:
                return {"failed": e.message, "result": e.result}
            except Exception as e:  # pylint: disable=broad-except
                return {"failed": "the run in %s failed: %s: %s" % (target.label, type(e).__name__, e),
                        "result": out}
        try:
            value, why = netns.run_in(target.namespace(), inside)
        except OSError as e:  # no pipe or no fork (EMFILE, EAGAIN, ENOMEM): nothing ran in the namespace
            value, why = None, "cannot start the process that enters it: %s" % (e.strerror or e)
    finally:
        target.close()
    if why and why.startswith(CHILD_LOST):
        raise TaskFailed("the run in %s ended without a result (%s): some sockets may have been destroyed"
                         % (target.label, why), out)
    if why:
        raise TaskFailed("namespace: cannot enter %s: %s; nothing was destroyed" % (target.label, why), out)
    if "failed" in value:
        raise TaskFailed(value["failed"], value["result"])
    return value["ok"]
