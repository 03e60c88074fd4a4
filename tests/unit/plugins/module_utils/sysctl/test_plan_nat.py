# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl probes NAT only when an answer depends on it: tcp_tw_recycle's rule is the only one that does."""
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan as plan_mod

from .sysctl_env import KERNEL, PATH


def _plan(env, settings, calls):
    def detect():
        calls.append(1)
        return {"detected": False, "evidence": [], "hints": [], "sources": ["nft"], "counts": {}}
    return plan_mod.plan(plan_mod.Request(settings, PATH, proc_root=env.proc, boot_root=env.root, listeners={},
                                          kernel_release=KERNEL, applier="systemd-sysctl", nat_detect=detect))


def test_audit_without_tw_recycle_probes_nothing(env):
    calls = []
    r = _plan(env, {"net.ipv4.tcp_fin_timeout": 15, "net.core.somaxconn": 8192}, calls)
    assert calls == []
    assert r["nat"] == {"detected": None, "declared": None, "evidence": [], "hints": [], "sources": [], "counts": {},
                        "not_probed": "no requested key depends on NAT (only net.ipv4.tcp_tw_recycle does)"}


def test_tw_recycle_probes_once(env):
    env.set("net/ipv4/tcp_tw_recycle", "0")
    calls = []
    r = _plan(env, {"net.ipv4.tcp_tw_recycle": 0, "net.ipv4.tcp_fin_timeout": 15}, calls)
    assert calls == [1]
    assert r["nat"]["sources"] == ["nft"] and r["nat"]["detected"] is False
