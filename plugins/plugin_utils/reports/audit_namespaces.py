# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's "Network namespaces" section (controller side): what tcp_sysctl namespaces=all found in the other
network namespaces of each host (containers, pods, ip netns), who they belong to and how to give them the values.

A host's profiles each scanned the same namespaces: they are merged by inode, each differing key once per profile.
The mode (kt_audit_namespaces) decides what the drift means: MODES[0] "off" (not scanned), "info" (reported, the
verdict does not change) or "fail" (a host with namespace drift is not compliant, reason namespace_drift). Keys of
the host alone (scope host) are never drift; a namespace that could not be read is listed with the reason. With
"fail", a host where some namespaces could not be judged (not entered, or not even seen: an audit without root) is
an error, so that such an audit cannot pass on what it did not see.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets.netns import GONE

MODES = ("off", "info", "fail")
REASON = "namespace_drift"
REASON_WORDS = "drift in another network namespace"

# Kubernetes' safe net.* sysctls, which a pod may set without the kubelet allowing them, with the release that made
# each safe (kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/, "Safe and Unsafe Sysctls"). Every other
# net.* key must be allowed on the node first (kubelet --allowed-unsafe-sysctls, allowedUnsafeSysctls in its
# configuration), or the pod is scheduled and fails to start.
K8S_SAFE = {
    "net.ipv4.ip_local_port_range": None,
    "net.ipv4.tcp_syncookies": None,
    "net.ipv4.ping_group_range": "1.18",
    "net.ipv4.ip_unprivileged_port_start": "1.22",
    "net.ipv4.ip_local_reserved_ports": "1.27",
    "net.ipv4.tcp_keepalive_time": "1.29",
    "net.ipv4.tcp_fin_timeout": "1.29",
    "net.ipv4.tcp_keepalive_intvl": "1.29",
    "net.ipv4.tcp_keepalive_probes": "1.29",
    "net.ipv4.tcp_rmem": "1.32",
    "net.ipv4.tcp_wmem": "1.32",
}
GUIDE = "docs/namespaces.md"
UNJUDGED = u"network namespaces not judged (kt_audit_namespaces=fail judges every one): %s"
UNJUDGED_FIX = (u"audit with become: true (entering another network namespace, or even seeing that of another "
                u"user's process, needs root), or set kt_audit_namespaces=info to report such namespaces without "
                u"judging them")


def _short(cid):
    return (cid or "")[:12]


def label(ns):
    """Who a namespace belongs to, in words: a pod, a container, a named netns, or its first process."""
    owner = ns.get("owner") or {}
    if owner.get("pod_uid"):
        text = u"Kubernetes pod %s" % owner["pod_uid"]
        if owner.get("container_id"):
            text += u" (%s container %s)" % (owner.get("runtime") or "unknown", _short(owner["container_id"]))
        return text
    if owner.get("container_id"):
        return u"%s container %s" % (owner.get("runtime") or "unknown", _short(owner["container_id"]))
    if ns.get("name"):
        return u"netns %s" % ns["name"]
    procs = owner.get("processes") or []
    if procs:
        more = (owner.get("process_count") or len(procs)) - 1
        return u"pid %s (%s)%s" % (procs[0].get("pid"), procs[0].get("command"),
                                   u" and %d more process%s" % (more, "" if more == 1 else "es") if more > 0 else "")
    return u"namespace net:[%s]" % ns.get("inode")


def _assign(key, value, sep="="):
    value = u"%s" % (value,)
    return u"%s%s'%s'" % (key, sep, value) if " " in value or "\t" in value else u"%s%s%s" % (key, sep, value)


def fixes(ns, rows):
    """How to give the namespace the values: the pod's spec (and the kubelet's allowed unsafe sysctls), docker or
    podman run --sysctl, lxc.sysctl, ip netns exec, else nsenter and the program that makes it. ROWS: the keys that
    differ, each with its desired value (one value per key: the first profile's)."""
    owner = ns.get("owner") or {}
    values = []
    for r in rows:
        if r["key"] not in [k for k, _v in values]:
            values.append((r["key"], r["desired"]))
    if not values:
        return []
    if owner.get("pod_uid"):
        spec = u", ".join(u'{name: %s, value: "%s"}' % (k, v) for k, v in values)
        out = [u"Kubernetes: set them in the pod's spec, securityContext.sysctls: [%s] (docs: "
               u"kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster)" % spec]
        unsafe = [k for k, _v in values if k not in K8S_SAFE]
        if unsafe:
            out.append(u"%s %s not in Kubernetes' safe set: allow %s on the node's kubelet first "
                       u"(--allowed-unsafe-sysctls=%s, or allowedUnsafeSysctls in its configuration), or the pod "
                       u"fails to start" % (", ".join(unsafe), "is" if len(unsafe) == 1 else "are",
                                            "it" if len(unsafe) == 1 else "them", ",".join(unsafe)))
        late = [u"%s since %s" % (k, K8S_SAFE[k]) for k, _v in values if K8S_SAFE.get(k)]
        if late:
            out.append(u"safe only from these Kubernetes releases on (older kubelets must allow them as unsafe): %s"
                       % ", ".join(late))
        return out
    runtime = owner.get("runtime")
    if runtime in ("docker", "podman"):
        return [u"%s: start the container with %s (it cannot be changed in a running container without "
                u"privileges)" % (runtime, " ".join(u"--sysctl %s" % _assign(k, v) for k, v in values))]
    if runtime == "lxc":
        return [u"lxc: in the container's configuration, %s" % "; ".join(
            _assign(u"lxc.sysctl.%s" % k, v, " = ") for k, v in values)]
    if owner.get("container_id"):
        return [u"%s: set them in the container's OCI spec (linux.sysctl) where it is made, for example nerdctl "
                u"run %s" % (runtime or "container", " ".join(u"--sysctl %s" % _assign(k, v) for k, v in values))]
    if ns.get("name"):
        return [u"ip netns exec %s sysctl -w %s, and in whatever makes the namespace %s at boot" % (
            ns["name"], " ".join(_assign(k, v) for k, v in values), ns["name"])]
    procs = owner.get("processes") or []
    pid = procs[0].get("pid") if procs else None
    return [u"nsenter --net=/proc/%s/ns/net sysctl -w %s, and in whatever makes the namespace%s" % (
        pid if pid is not None else "PID", " ".join(_assign(k, v) for k, v in values),
        u" (pid %s, %s)" % (pid, procs[0].get("command")) if procs else "")]


def host_section(profiles):
    """One host's namespaces from its profiles' tcp_sysctl results: {scanned, count, differ, unread, unseen}.
    scanned is false when no profile's result holds namespaces (not asked, or an older collection on the host);
    unseen is how many processes' namespaces the scan could not see (namespaces_unreadable: without root)."""
    by_inode = {}
    order = []
    scanned = False
    unseen = 0
    for prof in profiles:
        res = prof.get("result") or {}
        if "namespaces" not in res:
            continue
        scanned = True
        unseen = max(unseen, res.get("namespaces_unreadable") or 0)
        for ns in res.get("namespaces") or []:
            item = by_inode.get(ns.get("inode"))
            if item is None:
                owner = ns.get("owner") or {}
                item = by_inode[ns.get("inode")] = {
                    "inode": ns.get("inode"), "name": ns.get("name"), "label": label(ns),
                    "owner": dict((k, owner.get(k)) for k in ("runtime", "container_id", "pod_uid")),
                    "error": ns.get("error"), "keys": [], "fix": [], "_ns": ns}
                order.append(item)
            elif ns.get("error") and item["error"] in (None, GONE):
                # Another profile could not read it: its keys there are not judged, whatever the first one read.
                item["error"] = ns["error"]
            for s in ns.get("settings") or []:
                if s.get("differs"):
                    item["keys"].append({"profile": prof.get("profile"), "key": s["key"], "value": s.get("value"),
                                         "wanted": s.get("wanted"), "desired": s.get("desired"),
                                         "scope": s.get("scope"), "k8s_safe": s["key"] in K8S_SAFE})
    for item in order:
        item["fix"] = fixes(item.pop("_ns"), item["keys"])
    return {"scanned": scanned, "count": len(order), "differ": [i for i in order if i["keys"]],
            "unread": [i for i in order if i["error"]], "unseen": unseen}


def unjudged(section):
    """With fail: why some of a host's namespaces could not be judged (the host's error text), or None. A namespace
    gone during the scan has nothing left to judge; one that could not be entered, or processes whose namespace
    could not even be seen, have."""
    unread = [i for i in section["unread"] if i["error"] != GONE]
    parts = []
    if unread:
        parts.append(u"%d could not be read (%s)" % (len(unread), unread[0]["error"]))
    if section.get("unseen"):
        parts.append(u"the network namespace of %d process%s could not be seen"
                     % (section["unseen"], "" if section["unseen"] == 1 else "es"))
    return UNJUDGED % "; ".join(parts) if parts else None


def drift_count(section):
    """The (namespace, key) pairs that differ on a host, each once whatever the number of profiles asking."""
    return sum(len(set(k["key"] for k in i["keys"])) for i in section["differ"])


def summary_counts(hosts, mode):
    """The fleet's namespace counts, from the hosts' sections: every report shows these."""
    sections = [h["namespaces"] for h in hosts if h.get("namespaces")]
    return {"mode": mode,
            "hosts_scanned": sum(1 for s in sections if s["scanned"]),
            "namespaces": sum(s["count"] for s in sections),
            "differ": sum(len(s["differ"]) for s in sections),
            "drifts": sum(drift_count(s) for s in sections),
            "hosts": sum(1 for s in sections if s["differ"]),
            "unread": sum(len(s["unread"]) for s in sections),
            "unseen": sum(s.get("unseen") or 0 for s in sections)}


def counts_sentence(c):
    """The fleet's namespace counts in one sentence, or None when nothing was scanned."""
    if c["mode"] == "off" or (c["mode"] == "info" and not c["hosts_scanned"]):
        return None  # not asked, or only results without namespaces (merged from audits that did not scan)
    unseen = c.get("unseen") or 0
    return (u"Network namespaces (%s): %d scanned on %d hosts; %d differ (%d keys in all), on %d hosts; %d could not "
            u"be read%s%s." % (c["mode"], c["namespaces"], c["hosts_scanned"], c["differ"], c["drifts"], c["hosts"],
                               c["unread"], u"; the network namespace of %d process%s could not be seen" % (
                                   unseen, "" if unseen == 1 else "es") if unseen else "",
                               "" if c["mode"] == "fail" else "; information only, the verdict does not change"))


def key_text(k):
    return u"%s %s (wants %s%s)" % (k["key"], "absent" if k["value"] is None else k["value"], k["wanted"],
                                    u", %s" % k["profile"] if k.get("profile") else "")


def line(item):
    """One namespace in one line of plain text: who, which keys differ (or why it was not read), the fix."""
    if item["error"]:
        return u"%s (net:[%s]) not read: %s" % (item["label"], item["inode"], item["error"])
    return u"%s (net:[%s]) differs: %s; fix: %s" % (item["label"], item["inode"],
                                                    ", ".join(key_text(k) for k in item["keys"]),
                                                    "; ".join(item["fix"]))
