# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a Python snippet inside a new network namespace made for it (`unshare --net`, loopback up), with the
collection importable as ansible_collections.kerneltune.tcp, and return the JSON it prints last.

The namespace starts from the kernel's defaults for its net.* keys and ends with the snippet's process: the
host's own sockets and sysctls are never read or changed. Needs root (unshare --net).

    from netns import run_in_netns, skip_unless_root
    out = run_in_netns('''
    sysctl("net.ipv4.tcp_tw_reuse", "0")
    emit({"ports": read_sysctl("net.ipv4.ip_local_port_range")})
    ''')

Inside the snippet: ``sysctl(key, value)`` writes a net.* key of the namespace, ``read_sysctl(key)`` reads one,
``emit(obj)`` prints obj as the JSON line the caller gets back, ``COLLECTION`` is the ansible_collections
directory. Any other print goes to the caller as well, but only the last line is parsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap

PRELUDE = r'''
import json, os, socket, subprocess, sys, time
COLLECTION = sys.argv[1]
sys.path.insert(0, COLLECTION)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def sysctl(key, value):
    if not key.startswith("net."):
        raise ValueError("%s: only net.* keys are per network namespace" % key)
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)


def read_sysctl(key):
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()


def emit(obj):
    sys.stdout.write("\n" + json.dumps(obj) + "\n")
    sys.stdout.flush()
'''


class NetnsError(Exception):
    pass


def collection_path():
    """The directory holding ansible_collections/kerneltune/tcp that the running tests import from."""
    import ansible_collections.kerneltune.tcp as pkg
    path = os.path.dirname(os.path.abspath(pkg.__path__[0] if hasattr(pkg, "__path__") else pkg.__file__))
    return os.path.dirname(os.path.dirname(path))


def can_unshare():
    if os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--net", "true"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def skip_unless_root():
    """pytest.skip when this process cannot make a network namespace."""
    import pytest
    if not can_unshare():
        pytest.skip("needs root for unshare --net")


def run_in_netns(snippet, timeout=300, python=sys.executable, mount=False):
    """Run ``snippet`` (Python source, dedented) in a new network namespace; the object of its last emit().

    mount=True: in a new mount namespace too (private propagation), so the snippet may mount a tmpfs over
    /etc/sysctl.d and run the module's real paths without touching this machine's files.
    """
    code = PRELUDE + "\n" + textwrap.dedent(snippet)
    # From a file, not -c: the processes' command lines stay short (tcp_info reports them).
    with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="kt-netns-") as f:
        f.write(code)
        f.flush()
        proc = subprocess.run(["unshare", "--net"] + (["--mount"] if mount else []) + [python, f.name, collection_path()],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False)
    out = proc.stdout.decode()
    if proc.returncode != 0:
        raise NetnsError("snippet failed (exit %d): %s" % (proc.returncode, proc.stderr.decode()[-4000:]))
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        raise NetnsError("snippet printed nothing; stderr: %s" % proc.stderr.decode()[-4000:])
    return json.loads(lines[-1])
