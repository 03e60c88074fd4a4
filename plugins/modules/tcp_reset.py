#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tcp_reset
short_description: Clear stuck TCP connections without a reboot, filtered and auditable
version_added: 0.1.0
description:
  - Destroys the TCP sockets that match the filters through netlink SOCK_DESTROY, what C(ss -K) does. Connected
    sockets are aborted (the owner sees C(ECONNABORTED), the peer gets a RST); TIME_WAIT sockets are removed
    (Linux 6.0 and later).
  - Never destroys a LISTEN socket, nor the connection Ansible itself arrives on. That connection is found by the
    sockets the module's ancestor processes hold (the sshd session), by the sockets of every sshd process in the
    module's kernel audit session (C(/proc/PID/sessionid), kept through C(async), setsid and sudo, so a detached
    C(async) task still finds its login), and by C(SSH_CONNECTION) read from the module's
    environment or, under C(become) where sudo drops it, from its ancestors' environments; the mirror
    four-tuple (the client end, when the controller shares the host or network namespace) is protected too.
  - When the run is remote (C(SSH_CONNECTION), an sshd ancestor or an sshd process in its audit session) or cannot
    tell (an Ansible C(async) task, with C(ANSIBLE_ASYNC_DIR) set or async_wrapper among its ancestors) but no
    socket of the control connection is found, refuses to touch ESTABLISHED sockets unless
    O(allow_unprotected=true).
  - When the filters match nothing, warns with the filter and what was there (the processes holding sockets in
    O(states), or their local ports and remote ends).
  - Checks CAP_NET_ADMIN in C(CapEff) of C(/proc/self/status) before anything else.
  - Refuses, destroying nothing, when more sockets match than O(max_sockets).
  - Never forges packets. Where the kernel cannot destroy sockets it fails and says what to do instead.
author:
  - kerneltune.tcp maintainers (@kerneltune)
extends_documentation_fragment:
  - kerneltune.tcp.attributes
  - kerneltune.tcp.attributes.platform
attributes:
  check_mode:
    support: full
    details: Counts and samples what would be destroyed; destroys nothing.
  diff_mode:
    support: none
  platform:
    details: Linux with CONFIG_INET_DIAG_DESTROY and CAP_NET_ADMIN; Python 3 standard library only.
options:
  states:
    description:
      - TCP states to match. V(listen) is refused.
    type: list
    elements: str
    required: true
  local:
    description:
      - Local endpoints; a socket matches if it matches any entry. Each entry is an address (V(10.0.0.5)), a network
        (V(10.0.0.0/8)), a port (V(:8080)), a port range (V(:8000-8100)) or both (V(10.0.0.5:8080), V([::1]:80)).
      - An IPv4-mapped address (V(::ffff:10.0.0.5)) is the IPv4 host and matches its IPv4 and IPv4-mapped sockets.
      - An address with a zone (V(fe80::1%eth0)) is refused, since a filter cannot tell interfaces apart and would
        match that link-local address on every link.
    type: list
    elements: str
    default: []
  remote:
    description: Remote endpoints, in the same forms as O(local).
    type: list
    elements: str
    default: []
  family:
    description: Address family.
    type: str
    choices: [ipv4, ipv6, both]
    default: both
  pid:
    description:
      - Only sockets held by this process (for CLOSE_WAIT leaks). Any holder counts, a forked child that shares a
        parent's socket too.
      - A connection still in a listener's accept queue (not yet accepted, no descriptor of its own) is held by the
        listener's holders.
    type: int
  process:
    description:
      - Only sockets held by processes with this command name (as in C(/proc/PID/comm)); any holder counts, and
        accept queues as for O(pid).
      - The kernel keeps 15 characters of a name; a longer name matches a process whose comm is its first 15
        characters and whose C(argv[0]) has the whole name as its base name (C(/usr/bin/NAME)).
    type: str
  all:
    description: Match every socket in O(states). Required when no other filter is given.
    type: bool
    default: false
  max_sockets:
    description: Refuse, destroying nothing, when more sockets than this match.
    type: int
    default: 1000
  sample:
    description: How many matched sockets to list in the result.
    type: int
    default: 10
  allow_unprotected:
    description:
      - Go on with O(states) including V(established) on a remote run whose control connection could not be
        identified. The task may then cut the connection it runs on.
    type: bool
    default: false
  namespace:
    description:
      - The network namespace to act in (a container's, a pod's, an C(ip netns) one) instead of the module's own.
        The dump, the matching and the destroying all happen in that namespace only, from a child process that
        enters it with C(setns(2)); other namespaces are never touched.
      - V(4026532281) or V(net:[4026532281]) is the namespace's inode (C(readlink /proc/PID/ns/net), C(lsns -t net),
        the C(inode) of M(kerneltune.tcp.tcp_info)'s C(namespaces)). A bare number is always an inode, never a pid.
      - V(pid:1234) is the namespace process 1234 runs in (for example C(docker inspect -f '{{.State.Pid}}' NAME)).
      - Any other value is a name in C(/run/netns) (C(ip netns list)); write V(name:1234) for a name made of digits.
      - Needs CAP_SYS_ADMIN (run as root, C(become=true)). A namespace that cannot be found or entered fails the task, naming it
        and the reason, with nothing destroyed. The namespace is held open from the lookup on, so it cannot change
        under the task.
      - The control connection is protected as without this option, and looked for in both namespaces (socket
        inodes are the same in every namespace). With O(states) including V(established) on a remote run, the
        task refuses (unless O(allow_unprotected=true)) only when the control connection is found in neither. Found
        in the module's own namespace, it is not in the one acted in (listed in RV(namespace.control_outside)), and
        the four-tuples of its sockets stay protected there too (their mirror, for a controller inside the
        namespace).
    type: raw
    version_added: 0.2.0
notes:
  - Acts on the network namespace the module runs in, or the one O(namespace) names.
seealso:
  - module: kerneltune.tcp.tcp_info
  - name: ss(8)
    description: C(ss -K) uses the same kernel interface.
    link: https://man7.org/linux/man-pages/man8/ss.8.html
"""

EXAMPLES = r"""
- name: See what would be cleared (check mode)
  kerneltune.tcp.tcp_reset:
    states: [close_wait]
    process: java
  check_mode: true
  register: preview

- name: Abort the CLOSE_WAIT sockets a leaking service holds
  kerneltune.tcp.tcp_reset:
    states: [close_wait]
    process: java

- name: Clear TIME_WAIT towards one database, at most 50,000 sockets
  kerneltune.tcp.tcp_reset:
    states: [time_wait]
    remote: ["10.0.0.5:5432"]
    max_sockets: 50000

- name: Abort the CLOSE_WAIT sockets a container's java holds, in the container's network namespace
  kerneltune.tcp.tcp_reset:
    namespace: "pid:{{ app_pid }}"
    states: [close_wait]
    process: java
  become: true

- name: The same in a namespace tcp_info reported, by its inode
  kerneltune.tcp.tcp_reset:
    namespace: 4026532281
    states: [close_wait]
    all: true
  become: true
"""

RETURN = r"""
matched:
  description: Sockets that matched the filters (after excluding protected ones).
  returned: always
  type: int
  sample: 120
destroyed:
  description: Sockets the kernel destroyed (0 in check mode).
  returned: always
  type: int
  sample: 118
gone:
  description: Matched sockets that had already closed when their turn came (not an error).
  returned: always
  type: int
  sample: 2
refused:
  description: Sockets the kernel refused to destroy, with its error text (called C(failed) before 0.2.0, a name
    Ansible's own C(failed) overwrote).
  returned: always
  type: list
  elements: dict
  sample: [{tuple: "10.0.0.2:8080 -> 10.0.0.9:51234", state: close_wait, error: Operation not permitted}]
protected:
  description: Sockets left alone because they carry this Ansible connection (both ends when both are local).
  returned: always
  type: int
  sample: 2
protected_sockets:
  description: The protected sockets, as C(local -> remote) with their state.
  returned: always
  type: list
  elements: dict
  sample: [{tuple: "127.0.0.1:22 -> 127.0.0.1:40112", state: established}]
unconfirmed:
  description: Destroy requests sent whose answer was lost when the run stopped on an error (their sockets may or
    may not be gone).
  returned: always
  type: int
  sample: 0
sample:
  description: Some matched sockets, as C(local -> remote) with their state.
  returned: always
  type: list
  elements: dict
  sample: [{tuple: "10.0.0.2:8080 -> 10.0.0.9:51234", state: close_wait, pid: 4242, command: java,
            holders: [{pid: 4242, command: java}]}]
  contains:
    pid:
      description: The holder that matched O(pid) or O(process), else the lowest pid (absent when nobody holds it).
      type: int
    command:
      description: That holder's command name (C(/proc/PID/comm)).
      type: str
    holders:
      description: Every process that holds the socket, by pid (the listener's holders for an accept queue).
      type: list
      elements: dict
    accept_queue:
      description: True for a connection not yet accepted, credited to its listener's holders.
      type: bool
kernel:
  description: The release and whether it can destroy sockets.
  returned: always
  type: dict
  sample: {release: 6.1.0-26-amd64, sock_destroy: true, reason: null}
namespace:
  description: The network namespace acted in, when O(namespace) is set.
  returned: when O(namespace) is set and found
  type: dict
  sample: {inode: 4026532281, name: null, names: [], self: false, control_outside: [],
           owner: {runtime: docker, container_id: 3f4e0c1d2b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0,
                   containers: [3f4e0c1d2b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0], pod_uid: null,
                   cgroup: /system.slice/docker-3f4e0c1d2b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0.scope,
                   processes: [{pid: 4242, command: java}], process_count: 1}}
  contains:
    inode:
      description: Its inode (as in C(net:[INODE])).
      type: int
    name:
      description: Its first name in C(/run/netns), the one given if it was given by name, or null.
      type: str
    names:
      description: Every name it has in C(/run/netns).
      type: list
      elements: str
    self:
      description: True when it is the module's own namespace.
      type: bool
    owner:
      description: Who it belongs to, from the cgroups of its processes (container runtime and id, Kubernetes pod
        uid, the processes in it), as M(kerneltune.tcp.tcp_info) reports it.
      type: dict
    control_outside:
      description: Sockets of the control connection found in the module's own namespace, outside the one acted in
        (looked for when O(states) includes V(established)).
      type: list
      elements: dict
"""

import platform

from ansible.module_utils.basic import AnsibleModule

# Before the collection's other imports: each of them is then compiled once (module_utils/compile_once.py).
from ansible_collections.kerneltune.tcp.plugins.module_utils import compile_once  # noqa: F401 pylint: disable=unused-import
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import task

ARGUMENT_SPEC = dict(
    states=dict(type="list", elements="str", required=True),
    local=dict(type="list", elements="str", default=[]),
    remote=dict(type="list", elements="str", default=[]),
    family=dict(type="str", choices=["ipv4", "ipv6", "both"], default="both"),
    pid=dict(type="int"),
    process=dict(type="str"),
    all=dict(type="bool", default=False),
    max_sockets=dict(type="int", default=1000),
    sample=dict(type="int", default=10),
    allow_unprotected=dict(type="bool", default=False),
    namespace=dict(type="raw"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        out = task.run(module.params, module.check_mode, platform.release())
    except task.TaskFailed as e:
        for warning in e.result.pop("warnings", []):
            module.warn(warning)
        module.fail_json(msg=e.message, **e.result)
    for warning in out.pop("warnings"):
        module.warn(warning)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
