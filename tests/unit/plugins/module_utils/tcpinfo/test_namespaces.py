# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""diagnose_all with a fake discovery and run_in: what no fork or no pipe does to the scan."""
import errno

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import namespaces as ns_lib


def test_no_fork_skips_that_namespace_with_the_reason():
    # fork() raises EAGAIN at a pids cgroup limit, pipe() EMFILE at the fd limit: the scan goes on.
    spaces = [netns.Namespace(1, "/proc/self/ns/net", is_self=True), netns.Namespace(4026532999, "/x"),
              netns.Namespace(4026533000, "/y")]
    calls = []

    def run_in(ns, fn):
        calls.append(ns.inode)
        if ns.inode == 4026532999:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        return {"total": 0, "findings": []}, None

    done, skipped, scan = ns_lib.diagnose_all({}, discover=lambda *a: (spaces, 0), run_in=run_in,
                                              owner=lambda pids, proc_root: {}, clock=lambda: 0)
    assert calls == [4026532999, 4026533000]
    assert [d["inode"] for d in done] == [4026533000]
    assert skipped == [{"inode": 4026532999, "name": None, "names": [], "owner": {},
                        "reason": "cannot start the process that enters it: Resource temporarily unavailable"}]
    assert scan == {"found": 3, "diagnosed": 1, "skipped": 1, "unreadable_processes": 0, "seconds": 0}
