# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset with namespace set when the child that enters it cannot be started."""
import errno
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import task

BASE = {"states": ["close_wait"], "local": [], "remote": [], "family": "both", "pid": None, "process": None,
        "all": True, "max_sockets": 1000, "sample": 10, "allow_unprotected": False}


def test_no_fork_fails_with_the_reason_and_nothing_destroyed(monkeypatch):
    def run_in(ns, fn):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
    monkeypatch.setattr(netns, "run_in", run_in)
    monkeypatch.setattr(task.control_lib.Control, "discover", classmethod(lambda cls: cls()))
    pid = os.getpid()
    with pytest.raises(task.TaskFailed) as e:
        task.run(dict(BASE, namespace="pid:%d" % pid), True, os.uname().release)
    assert e.value.message == (
        "namespace: cannot enter network namespace of pid %d (inode %d): cannot start the process that enters it: "
        "Resource temporarily unavailable; nothing was destroyed" % (pid, netns.self_inode()))


def test_a_child_killed_in_the_namespace_says_how(monkeypatch):
    monkeypatch.setattr(netns, "run_in", lambda ns, fn: (
        None, "the process that entered the namespace failed (it was killed by signal 9, SIGKILL)"))
    monkeypatch.setattr(task.control_lib.Control, "discover", classmethod(lambda cls: cls()))
    pid = os.getpid()
    with pytest.raises(task.TaskFailed) as e:
        task.run(dict(BASE, namespace="pid:%d" % pid), True, os.uname().release)
    assert e.value.message == (
        "the run in network namespace of pid %d (inode %d) ended without a result (the process that entered the "
        "namespace failed (it was killed by signal 9, SIGKILL)): some sockets may have been destroyed"
        % (pid, netns.self_inode()))
