# SPDX-License-Identifier: GPL-3.0-or-later
"""sysctl/defaults.py: each key's value in a fresh network namespace, read on the real kernel.

The values are compared with `unshare --net cat /proc/sys/...` run on the same
kernel; the keys a fresh namespace cannot show get no value and the reason.
"""
import os
import subprocess
import time

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import defaults
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys

FRESH_KEYS = ("net.ipv4.tcp_fin_timeout", "net.core.somaxconn", "net.ipv4.tcp_tw_reuse",
              "net.ipv4.ip_local_port_range", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_keepalive_time")
OTHER_KEYS = {
    "net.ipv4.tcp_rmem": defaults.SOURCE_COPIED,
    "net.ipv4.tcp_congestion_control": defaults.SOURCE_COPIED,
    "net.ipv4.ip_forward": defaults.SOURCE_COPIED,
    "net.ipv4.conf.all.rp_filter": defaults.SOURCE_COPIED,
    "net.ipv6.conf.default.forwarding": defaults.SOURCE_COPIED,
    "net.core.netdev_max_backlog": defaults.SOURCE_GLOBAL,
    "net.ipv4.tcp_mem": defaults.SOURCE_GLOBAL,
}
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a network namespace needs CAP_SYS_ADMIN")


def parts_of(names):
    return {k: keys.parse_key(k)[1] for k in names}


def unshare_cat(key):
    path = "/proc/sys/" + "/".join(keys.parse_key(key)[1])
    out = subprocess.run(["unshare", "--net", "cat", path], stdout=subprocess.PIPE, check=True)
    return " ".join(out.stdout.decode().split())


@needs_root
def test_defaults_are_those_of_a_fresh_namespace_on_this_kernel():
    got = defaults.kernel_defaults(parts_of(FRESH_KEYS + tuple(OTHER_KEYS)))
    for key in FRESH_KEYS:
        assert got[key] == (unshare_cat(key), "fresh network namespace"), key
    for key, why in OTHER_KEYS.items():
        assert got[key] == (None, why), key


@needs_root
def test_a_fresh_namespace_differs_from_ours_where_ours_was_changed(tmp_path):
    # The child's namespace is new even when the caller's is not the host's: change fin_timeout here, in a
    # namespace of our own made by a child process, and the default read from there is still the kernel's.
    script = tmp_path / "in_ns.py"
    script.write_text(
        "import sys\nsys.path[:0] = %r\n" % [p for p in __import__("sys").path if p] +
        "from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import defaults\n"
        "open('/proc/sys/net/ipv4/tcp_fin_timeout', 'w').write('17')\n"
        "print(open('/proc/sys/net/ipv4/tcp_fin_timeout').read().strip(),\n"
        "      defaults.kernel_defaults({'k': ('net', 'ipv4', 'tcp_fin_timeout')})['k'][0])\n")
    out = subprocess.run(["unshare", "--net", __import__("sys").executable, str(script)],
                         stdout=subprocess.PIPE, check=True)
    assert out.stdout.decode().split() == ["17", unshare_cat("net.ipv4.tcp_fin_timeout")]


def test_a_key_absent_in_a_fresh_namespace_has_no_default():
    got = defaults.kernel_defaults(parts_of(["net.ipv4.conf.kt0.rp_filter"]),
                                   reader=lambda parts: ({p: None for p in parts}, None))
    assert got == {"net.ipv4.conf.kt0.rp_filter": (None, "not in a fresh network namespace")}


# A child that drops to uid 1000 (after the parent maps uids 0..1000 into a user namespace of its own, where
# LIMIT, when given, is written to user.max_user_namespaces first: 0 turns user namespaces off there only).
AS_UID_1000 = r"""
import ctypes, os, sys
sys.path[:0] = %(path)r
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import defaults
limit = %(limit)r
libc = ctypes.CDLL(None, use_errno=True)
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    if limit is not None:
        assert libc.unshare(defaults.CLONE_NEWUSER) == 0
        os.write(ready_w, b"x")
        os.read(go_r, 1)
        open("/proc/sys/user/max_user_namespaces", "w").write(limit)
    os.setgroups([])
    os.setgid(1000)
    os.setuid(1000)
    got = defaults.kernel_defaults({"net.ipv4.tcp_fin_timeout": ("net", "ipv4", "tcp_fin_timeout"),
                                    "net.core.netdev_max_backlog": ("net", "core", "netdev_max_backlog")})
    print(os.geteuid(), open("/proc/sys/net/ipv4/tcp_fin_timeout").read().strip(), sorted(got.items()))
    sys.stdout.flush()
    os._exit(0)
if limit is not None:
    os.read(ready_r, 1)
    for name in ("uid_map", "gid_map"):
        open("/proc/%%d/%%s" %% (pid, name), "w").write("0 0 1001\n")
    os.write(go_w, b"x")
os.waitpid(pid, 0)
"""


def as_uid_1000(tmp_path, limit=None):
    script = tmp_path / "as_uid_1000.py"
    script.write_text(AS_UID_1000 % {"path": [p for p in __import__("sys").path if p], "limit": limit})
    # In a network namespace of the test's own whose tcp_fin_timeout is 17: a default of 17 would be ours, not fresh.
    out = subprocess.run(["unshare", "--net", "sh", "-c", 'echo 17 > /proc/sys/net/ipv4/tcp_fin_timeout && exec "$@"',
                          "sh", __import__("sys").executable, str(script)], stdout=subprocess.PIPE, check=True)
    return out.stdout.decode().strip()


@needs_root
def test_without_root_a_user_namespace_owns_the_fresh_network_namespace(tmp_path):
    # uid 1000 has no CAP_SYS_ADMIN: unshare(CLONE_NEWNET) is EPERM, CLONE_NEWUSER | CLONE_NEWNET is not.
    assert as_uid_1000(tmp_path) == (
        "1000 17 [('net.core.netdev_max_backlog', (None, 'global key')), "
        "('net.ipv4.tcp_fin_timeout', (%r, 'fresh network namespace'))]" % unshare_cat("net.ipv4.tcp_fin_timeout"))


@needs_root
def test_without_root_or_user_namespaces_no_default_and_the_reason(tmp_path):
    # user.max_user_namespaces=0 (in a user namespace of the test's own: this machine's limit is left alone): the
    # user namespace fails too (ENOSPC), and the reason is the first error, EPERM.
    assert as_uid_1000(tmp_path, limit="0") == (
        "1000 17 [('net.core.netdev_max_backlog', (None, 'global key')), "
        "('net.ipv4.tcp_fin_timeout', (None, 'cannot create a network namespace: Operation not permitted'))]")


def test_no_fork_when_no_key_needs_one():
    def reader(parts):
        raise AssertionError("no key needs a fresh namespace")
    got = defaults.kernel_defaults(parts_of(["net.ipv4.tcp_wmem", "net.core.rmem_max"]), reader=reader)
    assert got == {"net.ipv4.tcp_wmem": (None, "copied from the host at namespace creation"),
                   "net.core.rmem_max": (None, "global key")}


@needs_root
def test_cost_of_one_read_is_small():
    names = parts_of(FRESH_KEYS)
    start = time.monotonic()
    for _attempt in range(10):
        defaults.kernel_defaults(names)
    per_run = (time.monotonic() - start) / 10
    print("kernel_defaults: %.1f ms per run" % (per_run * 1000))
    assert per_run < 0.5
