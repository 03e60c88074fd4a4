#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tcp_info
short_description: Diagnose TIME_WAIT, CLOSE_WAIT and ephemeral port exhaustion
version_added: 0.1.0
description:
  - Reads every TCP socket of the host's network namespace through netlink sock_diag (what C(ss) uses), with the
    state filter done by the kernel, and folds them into counts while streaming, so memory does not grow with the
    number of sockets. Falls back to C(/proc/net/tcp) and C(tcp6) where netlink is unavailable.
  - Reports who causes TIME_WAIT (remote endpoints, local ports, outbound or inbound), which process holds
    CLOSE_WAIT sockets, how close the busiest destination is to exhausting the ephemeral port range, the kernel
    counters that matter, and findings with a remedy each.
  - Read-only. Changes nothing (see O(port_probe) for the one connection attempt it may make over loopback).
author:
  - kerneltune.tcp maintainers (@kerneltune)
extends_documentation_fragment:
  - kerneltune.tcp.attributes
  - kerneltune.tcp.attributes.platform
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
options:
  top:
    description: How many remote endpoints and local ports to list.
    type: int
    default: 10
  source:
    description:
      - V(auto) uses netlink and falls back to /proc; V(netlink) or V(proc) force one.
    type: str
    choices: [auto, netlink, proc]
    default: auto
  port_share_warning:
    description: Share of the usable ephemeral range tied up towards one destination that raises a warning.
    type: float
    default: 0.5
  port_share_error:
    description: Share that raises an error finding.
    type: float
    default: 0.8
  range_share_warning:
    description:
      - Share of the usable ephemeral range held by sockets whose port may have come from C(bind()), whatever their
        destination, that raises the C(ports_held_range) warning (if those ports were taken by bind(), only the
        rest is left for every destination). Ports held with C(IP_BIND_ADDRESS_NO_PORT) are not counted.
    type: float
    default: 0.8
  close_wait_min:
    description: CLOSE_WAIT sockets a process must hold before it gets a finding.
    type: int
    default: 1
  counter_interval:
    description:
      - Seconds between the two readings of the kernel's counters (the socket dump runs in between, so a slow
        dump costs nothing extra). The overflow findings (C(TcpExtListenOverflows), C(TcpExtTCPTimeWaitOverflow))
        are raised only when a counter rises during this interval, not for counts left over since boot.
      - The second reading is taken only when one of the two overflow counters is already above 0; on a host
        where none ever overflowed there is nothing to tell apart, and the run does not wait.
      - V(0) reads the counters once and raises no overflow finding.
    type: float
    default: 0.5
  nat:
    description:
      - NAT detection (nft, iptables and conntrack, as tcp_sysctl does it) matters to one finding only,
        C(tw_recycle_on) (a kernel older than 4.12 with C(net.ipv4.tcp_tw_recycle=1)). V(auto) runs it only then,
        V(always) every time, V(never) not at all. When it does not run, RV(nat) says why and C(detected) is null.
      - It is what costs most on a quiet host (a few commands per run), so V(auto) keeps a fleet diagnosis near
        Ansible's own floor.
    type: str
    choices: [auto, always, never]
    default: auto
  conntrack_share_warning:
    description:
      - Share of C(net.netfilter.nf_conntrack_max) held by a network namespace's own connection tracking table
        (C(nf_conntrack_count)) that raises the C(conntrack_full) warning; a full table is an error. Without
        nf_conntrack loaded (no C(/proc/sys/net/netfilter/nf_conntrack_count)) there is nothing to weigh and no
        finding.
    type: float
    default: 0.8
  namespaces:
    description:
      - V(self) diagnoses the network namespace the module runs in (the host's, when it runs on the host).
      - V(all) also diagnoses every other network namespace of the host, found from C(/proc/*/ns/net) and the
        bind mounts in C(/run/netns) and told apart by inode (containers, pods, C(ip netns add), C(unshare --net)),
        with the same counts, owners, port exhaustion and findings, read inside each namespace by a child process that
        enters it with C(setns(2)), one namespace at a time, listed in RV(namespaces) worst first with who owns
        each. The module's own namespace stays at the top level of the result.
      - Entering a namespace needs C(CAP_SYS_ADMIN) (run as root, C(become=true)); the namespaces that could not
        be entered, or that went away during the scan, are listed in RV(namespaces_skipped) with the reason, and
        the rest are diagnosed.
    type: str
    choices: [self, all]
    default: self
  port_probe:
    description:
      - When every usable port of the ephemeral range is held by some socket, ask the kernel whether connect()
        still finds a local port for a new destination, with one non-blocking C(connect()) to 127.0.0.1 on a port
        with no listener (9, 7 or 1), closed at once. Nothing leaves the host and no TIME_WAIT is left; the
        kernel's C(ActiveOpens) and C(AttemptFails) counters go up by one.
      - A socket dump cannot tell a port taken by C(bind()) (which connect() skips for every destination) from
        one connect() took (shared by every destination), so the probe is the kernel's own answer. V(false) leaves
        C(ephemeral_ports.exhausted) null in that case.
    type: bool
    default: true
notes:
  - Counts cover the network namespace the module runs in (a container sees its own sockets); O(namespaces=all)
    adds every other network namespace of the host.
  - Owners of CLOSE_WAIT sockets are found by scanning C(/proc/*/fd); run as root to see every process.
seealso:
  - module: kerneltune.tcp.tcp_reset
  - module: kerneltune.tcp.tcp_sysctl
"""

EXAMPLES = r"""
- name: Diagnose TCP state trouble
  kerneltune.tcp.tcp_info:
  register: tcp

- name: Show the findings and their remedies
  ansible.builtin.debug:
    msg: "{{ tcp.findings | map(attribute='message') | list }}"

- name: Diagnose every container and pod on the host too
  kerneltune.tcp.tcp_info:
    namespaces: all
  become: true
  register: tcp

- name: Show the worst namespaces and who owns them
  ansible.builtin.debug:
    msg: "{{ item.inode }} {{ item.owner.runtime }} {{ item.owner.container_id }}: {{ item.findings | map(attribute='id') | list }}"
  loop: "{{ tcp.namespaces[:5] }}"
  loop_control:
    label: "{{ item.inode }}"

- name: Fail a health check when the busiest destination holds 80% of the port range
  kerneltune.tcp.tcp_info:
    port_share_error: 0.8
  register: tcp
  failed_when: tcp.findings | selectattr('severity', 'eq', 'error') | list | length > 0
"""

RETURN = r"""
source:
  description: Where the sockets were read, V(netlink) or V(proc).
  returned: always
  type: str
  sample: netlink
counts:
  description: Sockets per TCP state (lower case, as C(ss) names them), per family.
  returned: always
  type: dict
  sample: {time_wait: {ipv4: 41000, ipv6: 0, total: 41000}, listen: {ipv4: 2, ipv6: 1, total: 3}}
total:
  description: All TCP sockets counted.
  returned: always
  type: int
  sample: 41003
time_wait:
  description:
    - TIME_WAIT sockets. V(outbound) are connections this host opened (local port not a listener), V(inbound)
      connections it accepted.
    - C(top_remote) lists destinations (address and port) for outbound, client addresses for inbound.
  returned: always
  type: dict
  sample: {total: 41000, outbound: 41000, inbound: 0, top_remote: [{address: 10.0.0.5, port: 5432, count: 41000}],
           top_local_ports: [{port: 40001, count: 1}]}
close_wait:
  description:
    - CLOSE_WAIT sockets per set of holding processes, with a sample of tuples (at most 5 each, every holder
      gets one). A socket shared by a parent and its forked children is counted once, with every holder in
      C(holders) (sorted by pid); C(pid), C(command) and C(cmdline) are the first holder's.
    - C(owner) names the holders as the findings do; with no holder visible (a process outside this pid
      namespace, or gone) C(pid) is null, C(holders) empty, and C(uid) is the sockets' owner uid.
    - C(accept_queue) holds those never accepted (no owner fd), per listener, with the listener's holders.
  returned: always
  type: dict
  sample: {total: 6, processes: [{pid: 4242, command: java, cmdline: "java -jar app.jar", uid: 1000, count: 1,
           holders: [{pid: 4242, command: java, cmdline: "java -jar app.jar"}], owner: "java (pid 4242)",
           sample: ["10.0.0.2:8080 -> 10.0.0.9:51234"]}],
           accept_queue: [{listener: "0.0.0.0:8080", count: 5, pid: 4242, command: java, cmdline: "java -jar app.jar",
                           holders: [{pid: 4242, command: java, cmdline: "java -jar app.jar"}],
                           owner: "java (pid 4242)", sample: ["10.0.0.2:8080 -> 10.0.0.9:51240"]}]}
ephemeral_ports:
  description:
    - The range, its size, reserved ports, and the busiest (source, destination, port) with the local ports taken
      towards it and their share of the usable range (size minus reserved ports, minus the highest port of a range
      of an odd size, which connect() never takes). Ports run out per source address, destination and port.
    - TIME_WAIT ports that connect() can reuse (tcp_tw_reuse 1, or 2 on loopback, with timestamps on) are counted
      in C(time_wait_reusable), not in C(local_ports_used).
    - "As connect() decides (net/ipv4/inet_hashtables.c C(__inet_hash_connect)): C(held) usable ports are held by
      some socket, C(free) by none; C(bound) are held through bind() and skipped for every destination
      (listeners in the range and bound-but-unconnected sockets, or all held ports once the probe got
      EADDRNOTAVAIL); the busiest destination's C(share) counts them with the ports taken towards it."
    - C(exhausted) is true when connect() finds no port for any new destination, false when it does, null when
      every port is held and O(port_probe) is off; C(probe) is the kernel's answer (V(EADDRNOTAVAIL), V(ok)) or
      null when no probe was needed; C(holders) names the processes holding most ports of the range (when at
      least O(port_share_warning) of it is held).
    - "The range as a whole, whatever the destination: C(held_share) is C(held) over the usable ports;
      C(connect_chosen) counts held ports whose connected socket has C(IP_BIND_ADDRESS_NO_PORT) (from
      C(INET_DIAG_SOCKOPT), Linux 5.10+, netlink only), which connect() chose and bind() did not;
      C(maybe_bound_share) is the share held by the others, whose port may come from bind(); C(left_if_bound) the
      ports left for every destination if all of those came from bind()."
    - "With O(source=proc) bound-but-unconnected sockets are not seen (/proc/net/tcp lists no socket that only
      holds a port): their ports count as C(free), so the kernel is asked (O(port_probe)) whatever the count, and
      C(exhausted) is its answer (null with O(port_probe=false))."
  returned: always
  type: dict
  sample: {range: [32768, 60999], size: 28232, reserved: 0, usable: 28232, held: 20002, free: 8230, bound: 2,
           connect_chosen: 0, held_share: 0.7085, maybe_bound_share: 0.7085, left_if_bound: 8230,
           listeners_in_range: [40000, 41000], exhausted: false, probe: null,
           holders: [{pid: 311, command: app, cmdline: "app --pool 20000", holders: [{pid: 311, command: app,
                      cmdline: "app --pool 20000"}], owner: "app (pid 311)", ports: 2}],
           busiest_destination: {source: 10.0.0.2, address: 10.0.0.5, port: 5432, local_ports_used: 20000,
                                 time_wait: 20000, time_wait_reusable: 0, bound_ports: 2, share: 0.7085}}
listeners:
  description: Local TCP ports in LISTEN.
  returned: always
  type: list
  elements: int
  sample: [22, 80]
listen_queues:
  description:
    - Listeners with connections waiting for accept() at the time of the dump, fullest first - C(queued) (the
      dump's rqueue), C(backlog) (its wqueue, the listen() backlog as capped by somaxconn), C(full) (more queued
      than the backlog, the kernel's sk_acceptq_is_full) and the listener's holders. Empty with O(source=proc).
  returned: always
  type: list
  elements: dict
  sample: [{listener: "0.0.0.0:8080", queued: 129, backlog: 128, full: true, pid: 4242, command: java,
            cmdline: "java -jar app.jar", holders: [{pid: 4242, command: java, cmdline: "java -jar app.jar"}],
            owner: "java (pid 4242)"}]
counters:
  description: TCP counters from /proc/net/netstat, /proc/net/snmp and /proc/net/sockstat (the second reading).
  returned: always
  type: dict
  sample: {TcpExtTW: 120000, TcpExtTCPTimeWaitOverflow: 0, TcpExtListenOverflows: 0, sockstat_tcp_tw: 41000}
counter_deltas:
  description: How much each counter rose between the two readings (not the sockstat gauges); empty when the
    counters were read once (O(counter_interval=0), or no overflow counter above 0).
  returned: always
  type: dict
  sample: {TcpExtListenOverflows: 12, TcpExtTCPTimeWaitOverflow: 0, TcpActiveOpens: 310}
counter_seconds:
  description: Seconds between the two readings (0 when the counters were read once).
  returned: always
  type: float
  sample: 0.512
sysctls:
  description: Running values of the keys that matter here (null when absent on this kernel).
  returned: always
  type: dict
  sample: {net.ipv4.tcp_tw_reuse: "2", net.ipv4.ip_local_port_range: "32768 60999"}
kernel:
  description: The release and what it supports.
  returned: always
  type: dict
  sample: {release: 6.1.0-26-amd64, tcp_tw_recycle: false, tcp_tw_reuse_delay: false, cap_net_admin: true,
           sock_destroy: true, sock_destroy_reason: null, time_wait_destroyable: true}
nat:
  description:
    - NAT detection, shared with tcp_sysctl. When O(nat) kept it from running, C(detected) is null and
      C(not_probed) says why (the same field as tcp_sysctl's).
  returned: always
  type: dict
  sample: {detected: false, declared: null, evidence: [], hints: [], sources: [nft]}
conntrack:
  description:
    - The connection tracking table of the module's network namespace, C(count) (C(nf_conntrack_count), per
      namespace) and C(max) (C(nf_conntrack_max), one value for the kernel); null when nf_conntrack is not loaded.
  returned: always
  type: dict
  sample: {count: 1200, max: 262144}
namespace:
  description: The module's own network namespace, C(inode) and C(name) (its C(/run/netns) name, or null).
  returned: when O(namespaces=all)
  type: dict
  sample: {inode: 4026531840, name: null, names: []}
namespaces:
  description:
    - Every other network namespace of the host, worst first (errors, then warnings, then sockets), each with the
      same keys as the top level (C(counts), C(total), C(time_wait), C(close_wait), C(ephemeral_ports),
      C(listeners), C(listen_queues), C(counters), C(counter_deltas), C(counter_seconds), C(sysctls),
      C(conntrack), C(findings), C(source)) read inside it, but not C(kernel) and C(nat), which are read once.
    - C(inode) is the namespace's nsfs inode (what C(readlink /proc/PID/ns/net) shows as C(net:[INODE])), C(name)
      its first C(/run/netns) name or null, C(names) all of them.
    - C(owner) tells who it belongs to, from the cgroup paths of its processes (C(/proc/PID/cgroup), v1, v2 or
      hybrid) - C(runtime) (V(docker), V(containerd), V(cri-o), V(podman), V(lxc), V(kubernetes) or null),
      C(container_id) (the innermost, for nested containers), C(containers) (every id, outermost first),
      C(pod_uid) (with dashes, also when the systemd slice writes it with underscores), C(cgroup) (the path it
      was read from), C(processes) (the first 10, with pid and command) and C(process_count).
  returned: when O(namespaces=all)
  type: list
  elements: dict
  sample:
    - inode: 4026532451
      name: null
      names: []
      owner: {runtime: containerd, container_id: 9f2c0e4ab1d3c5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5,
              containers: [9f2c0e4ab1d3c5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5],
              pod_uid: 2c1e8f4a-6b3d-4e5f-8a9b-0c1d2e3f4a5b, process_count: 1, processes: [{pid: 4242, command: java}],
              cgroup: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c1e8f4a_6b3d_4e5f_8a9b_0c1d2e3f4a5b.slice\
                       /cri-containerd-9f2c0e4ab1d3c5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5.scope"}
      total: 1
      counts: {close_wait: {ipv4: 1, ipv6: 0, total: 1}}
      findings: [{id: close_wait_leak, severity: warning, remedy: "Fix the application's close() on EOF (or restart it).",
                  message: "java (pid 4242) holds 1 socket in CLOSE_WAIT: the peer closed and the application never called close()"}]
namespaces_skipped:
  description:
    - Namespaces found but not diagnosed, each with C(inode), C(name), C(names), C(owner) and C(reason) - gone
      during the scan (its last process exited or its bind mount was removed), or no C(CAP_SYS_ADMIN) to enter it.
  returned: when O(namespaces=all)
  type: list
  elements: dict
  sample: [{inode: 4026532601, name: null, names: [], owner: {runtime: null, container_id: null, containers: [],
            pod_uid: null, cgroup: null, processes: [], process_count: 1},
            reason: "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)"}]
namespace_scan:
  description:
    - Namespaces C(found) (the module's own included), C(diagnosed), C(skipped), the processes whose namespace
      could not be read (C(unreadable_processes), no right to read them; zombies and processes gone while listed
      are not counted) and the
      C(seconds) the scan took.
  returned: when O(namespaces=all)
  type: dict
  sample: {found: 51, diagnosed: 50, skipped: 0, unreadable_processes: 0, seconds: 1.93}
findings:
  description: What is wrong, worst first, each with a remedy.
  returned: always
  type: list
  elements: dict
  sample:
    - id: close_wait_leak
      severity: warning
      message: "java (pid 4242) holds 1 socket in CLOSE_WAIT: the peer closed and the application never called close()"
      remedy: Fix the application's close() on EOF (or restart it); no sysctl shortens CLOSE_WAIT.
"""

from ansible.module_utils.basic import AnsibleModule

# Before the collection's other imports: each of them is then compiled once (module_utils/compile_once.py).
from ansible_collections.kerneltune.tcp.plugins.module_utils import compile_once  # noqa: F401 pylint: disable=unused-import
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import kernel
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import namespaces as ns_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import readers


def main():
    module = AnsibleModule(
        argument_spec=dict(
            top=dict(type="int", default=10),
            source=dict(type="str", choices=["auto", "netlink", "proc"], default="auto"),
            port_share_warning=dict(type="float", default=0.5),
            port_share_error=dict(type="float", default=0.8),
            range_share_warning=dict(type="float", default=0.8),
            close_wait_min=dict(type="int", default=1),
            counter_interval=dict(type="float", default=0.5),
            port_probe=dict(type="bool", default=True),
            nat=dict(type="str", choices=["auto", "always", "never"], default="auto"),
            conntrack_share_warning=dict(type="float", default=0.8),
            namespaces=dict(type="str", choices=["self", "all"], default="self"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["top"] < 1:
        module.fail_json(msg="top: %d must be at least 1" % p["top"])
    if not 0 <= p["counter_interval"] <= 60:
        module.fail_json(msg="counter_interval: %s must be between 0 and 60 seconds" % p["counter_interval"])
    sysctls = readers.read_sysctls()
    options = dict(
        source=p["source"], top=p["top"], counter_interval=p["counter_interval"], port_probe=p["port_probe"],
        thresholds={"port_share_warning": p["port_share_warning"], "port_share_error": p["port_share_error"],
                    "range_share_warning": p["range_share_warning"], "close_wait_min": p["close_wait_min"],
                    "conntrack_share_warning": p["conntrack_share_warning"]})
    try:
        result = collect.collect(
            sysctls=sysctls, nat=collect.nat_result(p["nat"], sysctls, collect.nat_detector(module)),
            kernel=kernel.kernel_support(sysctls), **options)
    except netlink.DiagError as e:
        module.fail_json(msg="netlink sock_diag: %s; use source=proc to read /proc/net/tcp instead" % e.message)
    if p["namespaces"] == "all":
        # A namespace whose netlink fails is skipped with the reason (the child reports it), not fatal.
        spaces, skipped, scan = ns_lib.diagnose_all(options)
        result.update(namespace=ns_lib.self_namespace(), namespaces=spaces, namespaces_skipped=skipped,
                      namespace_scan=scan)
        for warning in (ns_lib.skipped_warning(skipped), netns.unreadable_warning(scan["unreadable_processes"])):
            if warning:
                module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
