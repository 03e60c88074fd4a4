# SPDX-License-Identifier: GPL-3.0-or-later
"""A host in a temporary directory for tcp_sysctl's library tests.

Env stands a temporary directory in for /proc/sys (one file per key), another
for /proc/sys in a fresh network namespace (the kernel defaults: DEFAULTS) and
another for the root of the sysctl.d tree; Env.plan runs the planner against
them. The same behaviour runs against real kernels in molecule.
"""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import defaults
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import errors
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan as plan_mod

PATH = "/etc/sysctl.d/90-kerneltune-tcp.conf"
KERNEL = "6.18.0-test"
SOMAXCONN = "net.core.somaxconn"
RANGE = "net.ipv4.ip_local_port_range"

DEFAULTS = {
    "net/ipv4/tcp_fin_timeout": "60",
    "net/ipv4/tcp_tw_reuse": "2",
    "net/ipv4/tcp_tw_reuse_delay": "1000",
    "net/ipv4/tcp_timestamps": "1",
    "net/ipv4/tcp_syncookies": "1",
    "net/ipv4/tcp_keepalive_time": "7200",
    "net/ipv4/tcp_keepalive_probes": "9",
    "net/ipv4/tcp_max_syn_backlog": "512",
    "net/ipv4/tcp_rmem": "4096\t131072\t6291456",
    "net/ipv4/ip_local_port_range": "32768\t60999",
    "net/ipv4/ip_local_reserved_ports": "",
    "net/ipv4/ip_unprivileged_port_start": "1024",
    "net/core/somaxconn": "4096",
}


class Env(object):
    def __init__(self, tmp_path):
        self.proc = str(tmp_path / "proc_sys")
        self.fresh = str(tmp_path / "fresh_proc_sys")
        self.root = str(tmp_path / "root")
        os.makedirs(self.root + "/etc/sysctl.d")
        for k, v in DEFAULTS.items():
            self.set(k, v)
            self.set(k, v, self.fresh)

    def set(self, key, value, proc=None):
        p = os.path.join(proc or self.proc, key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(value + "\n")

    def get(self, key):
        with open(os.path.join(self.proc, key)) as f:
            return f.read().strip()

    def conf(self, path, text):
        full = self.root + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)

    def plan(self, settings, **kw):
        kw.setdefault("proc_root", self.proc)
        kw.setdefault("boot_root", self.root)
        kw.setdefault("nat_result", {"detected": False, "evidence": [], "hints": [], "sources": []})
        kw.setdefault("listeners", {})
        kw.setdefault("kernel_release", KERNEL)
        kw.setdefault("applier", "systemd-sysctl")
        kw.setdefault("fresh_reader", defaults.tree_reader(self.fresh))
        return plan_mod.plan(plan_mod.Request(settings, kw.pop("path", PATH), **kw))


def refused(env, settings, **kw):
    with pytest.raises(errors.SysctlError) as e:
        env.plan(settings, **kw)
    return e.value


def by_key(result):
    return {e["key"]: e for e in result["entries"]}


def rules(result_or_findings):
    items = result_or_findings["findings"] if isinstance(result_or_findings, dict) else result_or_findings
    return [(f["rule"], f["severity"]) for f in items]
