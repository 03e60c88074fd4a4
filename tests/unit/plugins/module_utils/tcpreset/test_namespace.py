# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's namespace option: the accepted forms, read without guessing; a fake /run/netns and /proc."""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import namespace as ns_lib

FORMS = "an inode (4026532281 or net:[4026532281]), pid:PID, or a name in /run/netns (NAME or name:NAME)"


@pytest.mark.parametrize("spec,parsed", [
    (4026532281, ("inode", 4026532281)),
    ("4026532281", ("inode", 4026532281)),
    (" net:[4026532281] ", ("inode", 4026532281)),
    ("pid:1234", ("pid", 1234)),
    ("1234", ("inode", 1234)),  # a bare number is an inode, never a pid
    ("blue", ("name", "blue")),
    ("name:1234", ("name", "1234")),
    ("name:a:b", ("name", "a:b")),
    ("cni-1f0e-77", ("name", "cni-1f0e-77")),
])
def test_forms(spec, parsed):
    assert ns_lib.parse(spec) == parsed


@pytest.mark.parametrize("spec", ["", "  ", "a/b", "..", ".", "pid:", "pid:-1", "pid:x", "net:[]", "net:4026532281",
                                  "name:", "name:a/b", True, None, 1.5, ["blue"],
                                  -5])  # an int is an inode or nothing, never the name "-5"
def test_malformed(spec):
    with pytest.raises(ns_lib.NamespaceError) as e:
        ns_lib.parse(spec)
    assert e.value.message == "namespace: %r is not %s" % (spec, FORMS)


def test_bare_number_hints_at_pid_and_digit_names(tmp_path):
    proc = tmp_path / "proc"
    (proc / "self" / "ns").mkdir(parents=True)
    os.symlink("/proc/self/ns/net", str(proc / "self" / "ns" / "net"))
    (proc / "42" / "ns").mkdir(parents=True)
    os.symlink("net", str(proc / "42" / "ns" / "net"))  # ELOOP: a process whose namespace cannot be read
    run_netns = tmp_path / "netns"
    run_netns.mkdir()
    (run_netns / "42").write_text("")
    with pytest.raises(ns_lib.NamespaceError) as e:
        ns_lib.resolve("42", str(proc), str(run_netns))
    assert e.value.message == (
        "namespace: 42: no network namespace has inode 42 (none of /proc/*/ns/net or %s); a bare number is an "
        "inode: write pid:42 for the namespace of process 42 or name:42 for %s/42; the namespace of 1 process could "
        "not be read (reading it needs the right to ptrace the process: root, become: true)" % (run_netns, run_netns))
    with pytest.raises(ns_lib.NamespaceError) as e:
        ns_lib.resolve("name:42", str(proc), str(run_netns))
    assert e.value.message == "namespace: %s/42 is not a network namespace (nothing of nsfs is mounted on it)" % run_netns


def test_a_fifo_in_run_netns_is_refused_not_waited_on(tmp_path):
    # open(O_RDONLY) of a FIFO waits for a writer: the module hung there until the task's timeout.
    run_netns = tmp_path / "netns"
    run_netns.mkdir()
    os.mkfifo(str(run_netns / "blue"))
    with pytest.raises(ns_lib.NamespaceError) as e:
        ns_lib.resolve("blue", run_netns=str(run_netns))
    assert e.value.message == "namespace: %s/blue is not a network namespace (nothing of nsfs is mounted on it)" % (
        run_netns)
