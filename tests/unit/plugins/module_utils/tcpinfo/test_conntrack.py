# SPDX-License-Identifier: GPL-3.0-or-later
"""The conntrack_full finding (nf_conntrack_count of a namespace against nf_conntrack_max), its reader, and the
pieces of namespaces=all that need no namespace: holders looked up among a namespace's processes first, the order
worst first, the warning for namespaces that could not be entered."""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import diagnose
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import namespaces as ns_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import readers

TH = {"conntrack_share_warning": 0.8}
REMEDY = (
    "Raise net.netfilter.nf_conntrack_max from the host's network namespace: it is one value for the whole kernel, "
    "writable only there, and every namespace's own count is held against it (the host's count does not include "
    "what containers and pods track in theirs); or track fewer connections here (shorter "
    "net.netfilter.nf_conntrack_tcp_timeout_* in this namespace, no conntrack rules for traffic that needs no state)")


@pytest.mark.parametrize("conntrack, expected", [
    (None, []),
    ({"count": 10, "max": 0}, []),
    ({"count": 79, "max": 100}, []),
    ({"count": 80, "max": 100}, [{
        "id": "conntrack_full", "severity": "warning", "remedy": REMEDY,
        "message": "80 connections tracked in this network namespace, 80% of nf_conntrack_max 100: at the limit the "
                   "kernel logs \"nf_conntrack: table full, dropping packet\" and drops new connections"}]),
    ({"count": 100, "max": 100}, [{
        "id": "conntrack_full", "severity": "error", "remedy": REMEDY,
        "message": "nf_conntrack: table full, dropping packet: 100 connections tracked in this network namespace, "
                   "nf_conntrack_max is 100"}]),
])
def test_conntrack_full(conntrack, expected):
    assert diagnose.conntrack_full({"conntrack": conntrack}, TH) == expected


def test_read_conntrack(tmp_path):
    d = tmp_path / "sys" / "net" / "netfilter"
    assert readers.read_conntrack(str(tmp_path)) is None  # nf_conntrack not loaded
    d.mkdir(parents=True)
    (d / "nf_conntrack_count").write_text("1200\n")
    (d / "nf_conntrack_max").write_text("262144\n")
    assert readers.read_conntrack(str(tmp_path)) == {"count": 1200, "max": 262144}


def _proc(tmp_path, pid, comm, inodes):
    d = tmp_path / str(pid) / "fd"
    d.mkdir(parents=True)
    (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    (tmp_path / str(pid) / "cmdline").write_text(comm + "\0--serve\0")
    for i, inode in enumerate(inodes):
        os.symlink("socket:[%d]" % inode, str(d / str(i)))


def test_namespace_owners_reads_the_namespace_first_and_the_rest_only_for_what_is_missing(tmp_path):
    _proc(tmp_path, 10, "app", [501, 502])
    _proc(tmp_path, 11, "worker", [501])
    _proc(tmp_path, 300, "elsewhere", [503, 502])
    assert ns_lib.namespace_owners([501, 502], [11, 10], str(tmp_path)) == {
        501: [(10, "app", "app --serve"), (11, "worker", "worker --serve")], 502: [(10, "app", "app --serve")]}
    # 501 is found in the namespace: its holders elsewhere (11 here) are not looked for.
    assert ns_lib.namespace_owners([501, 503, 0], [10], str(tmp_path)) == {
        501: [(10, "app", "app --serve")],
        503: [(300, "elsewhere", "elsewhere --serve")]}


def test_score_orders_errors_then_warnings_then_sockets():
    entries = [{"inode": 1, "total": 900, "findings": []},
               {"inode": 2, "total": 1, "findings": [{"severity": "warning"}]},
               {"inode": 3, "total": 1, "findings": [{"severity": "error"}]},
               {"inode": 4, "total": 5, "findings": [{"severity": "warning"}]}]
    assert [e["inode"] for e in sorted(entries, key=ns_lib.score)] == [3, 4, 2, 1]


def test_skipped_warning_names_only_the_namespaces_it_could_not_enter():
    gone = {"inode": 5, "name": None, "reason": "the namespace is gone (its last process exited, or its bind mount "
                                                "was removed, during the scan)"}
    assert ns_lib.skipped_warning([gone]) is None
    denied = "entering another network namespace needs CAP_SYS_ADMIN (setns(2) said: Operation not permitted); run " \
             "as root (become: true)"
    assert ns_lib.skipped_warning([gone, {"inode": 6, "name": "blue", "reason": denied}]) == (
        "could not read 1 network namespace (6 (blue)): " + denied)


def test_a_namespace_whose_first_process_exited_is_entered_through_another():
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
    ns = netns.Namespace(netns.self_inode(), "/proc/999999999/ns/net")
    ns.pids = [999999999, os.getpid()]
    tried = []

    def run_in(target, fn):
        tried.append(target if isinstance(target, str) else target.path)
        return (None, netns.GONE) if len(tried) == 1 else ({"total": 0, "findings": []}, None)
    spaces, skipped, scan = ns_lib.diagnose_all({}, discover=lambda *a: ([ns], 0), run_in=run_in,
                                                owner=lambda pids, root: {"processes": []})
    assert tried == ["/proc/999999999/ns/net", "/proc/%d/ns/net" % os.getpid()]
    assert (len(spaces), skipped, scan["diagnosed"]) == (1, [], 1)
